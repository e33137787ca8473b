//! The node's bridge: the virtual switch every pod on the node plugs into.
//!
//! A Linux bridge forwards Ethernet frames between its ports like a hardware
//! switch. Each pod's veth pair has one end on the bridge, so pods on one node
//! reach each other at layer 2, without any route. The bridge also gets the
//! first address of the node's pod CIDR (`10.244.1.1/24`): that makes it the
//! pods' default gateway, and makes the kernel add the route
//! `10.244.1.0/24 dev orc0` through which the node reaches its pods.
//!
//! Docker calls its bridge `docker0`, the CNI bridge plugin `cni0`; orc's is
//! [`BRIDGE`].

use std::net::IpAddr;

use rtnetlink::{Handle, LinkBridge};

use crate::cidr::Ipv4Cidr;
use crate::error::{Context, NetError, is_errno};
use crate::link;

/// The default name of the node's bridge.
pub const BRIDGE: &str = "orc0";

// ANCHOR: ensure_bridge
/// Makes sure bridge `name` exists, holds `pod_cidr`'s gateway address and is
/// up; returns its link index. Safe to run again at every agent start.
pub async fn ensure_bridge(
    handle: &Handle,
    name: &str,
    pod_cidr: Ipv4Cidr,
) -> Result<u32, NetError> {
    if link::index_of(handle, name).await?.is_none() {
        // `ip link add orc0 type bridge`
        match handle
            .link()
            .add(LinkBridge::new(name).build())
            .execute()
            .await
        {
            Ok(()) => {}
            // Created meanwhile by someone else: fine, it is there now.
            Err(e) if is_errno(&e, nix::libc::EEXIST) => {}
            Err(source) => {
                return Err(NetError::Netlink {
                    what: format!("creating bridge {name}"),
                    source,
                });
            }
        }
    }
    let index = link::index_of(handle, name)
        .await?
        .ok_or_else(|| NetError::Unexpected(format!("bridge {name} vanished after creation")))?;
    // `ip addr replace 10.244.1.1/24 dev orc0`: "replace" rather than "add"
    // makes a second run succeed instead of failing with EEXIST.
    handle
        .address()
        .add(index, IpAddr::V4(pod_cidr.gateway()), pod_cidr.prefix())
        .replace()
        .execute()
        .await
        .context(|| format!("adding {} to bridge {name}", pod_cidr.gateway()))?;
    link::set_up(handle, index, name).await?;
    Ok(index)
}
// ANCHOR_END: ensure_bridge
