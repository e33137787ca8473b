//! Veth pairs: the virtual cable from a pod to its node's bridge.
//!
//! A veth pair is two network interfaces joined back to back: a frame sent
//! into one comes out of the other. One end goes into the pod's network
//! namespace and is called `eth0` there; the other stays on the node and is
//! plugged into the bridge. The pod then sees an ordinary Ethernet card with
//! one address and a default route through the bridge.
//!
//! orc creates the pair with a single netlink request that already places the
//! pod's end in the pod's namespace, names it `eth0`, and attaches the node's
//! end to the bridge: `ip link add vethXXXX master orc0 up type veth peer
//! name eth0 netns POD` in one step.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use futures::StreamExt;
use rtnetlink::packet_core::{NLM_F_ACK, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth};
use rtnetlink::{
    Handle, LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

use crate::error::{Context, NetError};
use crate::link;

/// The name of a pod's interface inside its namespace, as in Kubernetes.
pub const POD_INTERFACE: &str = "eth0";

// ANCHOR: host_veth_name
/// The name of the node's end of pod `pod_id`'s veth pair.
///
/// Derived from the pod id, so tear-down finds the link again after an agent
/// restart without storing its name. Interface names have at most 15 bytes,
/// so the id is hashed: `veth` and the 32-bit FNV-1a hash in hex. (Calico
/// names its ends `cali` plus part of a SHA-1 hash, for the same reason.)
pub fn host_veth_name(pod_id: &str) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in pod_id.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("veth{hash:08x}")
}
// ANCHOR_END: host_veth_name

// ANCHOR: create_pair
/// Creates the veth pair for one pod: `host_name` on the node, attached to the
/// bridge with index `bridge` and up; [`POD_INTERFACE`] inside the namespace
/// at `pod_netns`.
pub async fn create_pair(
    node: &Handle,
    host_name: &str,
    bridge: u32,
    pod_netns: &Path,
) -> Result<(), NetError> {
    let pod_ns = File::open(pod_netns).map_err(|source| NetError::Netns {
        path: pod_netns.to_path_buf(),
        source,
    })?;
    // The peer's attributes: its name, and the namespace it is created in
    // (given as an open file descriptor of that namespace).
    let peer = LinkUnspec::new_with_name(POD_INTERFACE)
        .setns_by_fd(pod_ns.as_raw_fd())
        .build();
    let pair = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
        .name(host_name.to_string())
        .controller(bridge)
        .up()
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .build();
    node.link()
        .add(pair)
        .execute()
        .await
        .context(|| format!("creating veth pair {host_name} <-> {pod_netns:?}/{POD_INTERFACE}"))
    // `pod_ns` is closed here, after the kernel has used the descriptor.
}
// ANCHOR_END: create_pair

// ANCHOR: enable_hairpin
/// Turns on hairpin mode on the bridge port `host_name` (`ip link set
/// NAME type bridge_slave hairpin on`): the bridge may then send a frame
/// back out of the port it came in on.
///
/// A bridge never does that by default, and it is exactly what a pod
/// calling its own Service needs: the packet leaves the pod for the
/// Service's address, the node's rules rewrite its destination to the pod
/// itself (chapter 06), and the bridge must hand it back through the same
/// veth. The kubelet does the same (`--hairpin-mode=hairpin-veth`).
/// Setting it again changes nothing.
pub async fn enable_hairpin(node: &Handle, host_name: &str) -> Result<(), NetError> {
    let index = link::index_of(node, host_name).await?.ok_or_else(|| {
        NetError::Unexpected(format!(
            "bridge port {host_name} is gone just after it was made"
        ))
    })?;
    // A bridge port's settings travel as "port data" in a link message.
    // The kernel reads port data only in RTM_NEWLINK (RTM_SETLINK ignores
    // it), so this is a NEWLINK for an existing link: without CREATE,
    // EXCL or REPLACE it changes the link instead of making one, which is
    // what `ip link set ... type bridge_slave` sends.
    let port = LinkBridgePort::new(index).hairpin(true).build();
    let mut request = NetlinkMessage::from(RouteNetlinkMessage::NewLink(port));
    request.header.flags = NLM_F_REQUEST | NLM_F_ACK;
    let what = || format!("turning hairpin mode on for bridge port {host_name}");
    let mut answers = node.clone().request(request).context(what)?;
    while let Some(answer) = answers.next().await {
        if let NetlinkPayload::Error(e) = answer.payload {
            return Err(rtnetlink::Error::NetlinkError(e)).context(what);
        }
    }
    Ok(())
}
// ANCHOR_END: enable_hairpin

// ANCHOR: configure_pod
/// Configures the inside of a pod's namespace, through a netlink connection
/// opened there: loopback up, `address/prefix` on `eth0`, `eth0` up, and a
/// default route via `gateway`, the node's bridge.
///
/// Every step is a "replace" or an "up", so running it twice is harmless.
pub async fn configure_pod(
    pod: &Handle,
    address: Ipv4Addr,
    prefix: u8,
    gateway: Ipv4Addr,
) -> Result<(), NetError> {
    let lo = link::index_of(pod, "lo")
        .await?
        .ok_or_else(|| NetError::Unexpected("the pod's namespace has no lo".into()))?;
    link::set_up(pod, lo, "lo").await?;
    let eth0 = link::index_of(pod, POD_INTERFACE).await?.ok_or_else(|| {
        NetError::Unexpected(format!("{POD_INTERFACE} is missing in the pod's namespace"))
    })?;
    pod.address()
        .add(eth0, IpAddr::V4(address), prefix)
        .replace()
        .execute()
        .await
        .context(|| format!("adding {address}/{prefix} to the pod's {POD_INTERFACE}"))?;
    link::set_up(pod, eth0, POD_INTERFACE).await?;
    // `ip route replace default via 10.244.1.1 dev eth0`
    let default = RouteMessageBuilder::<Ipv4Addr>::new()
        .gateway(gateway)
        .output_interface(eth0)
        .build();
    pod.route()
        .add(default)
        .replace()
        .execute()
        .await
        .context(|| format!("adding the pod's default route via {gateway}"))
}
// ANCHOR_END: configure_pod

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_stable_short_and_distinct() {
        let a = host_veth_name("default/web-0");
        assert_eq!(a, host_veth_name("default/web-0"));
        assert_eq!(a.len(), 12);
        assert!(a.len() <= 15, "Linux interface names have at most 15 bytes");
        assert_ne!(a, host_veth_name("default/web-1"));
        // FNV-1a of the empty string is its offset basis.
        assert_eq!(host_veth_name(""), "veth811c9dc5");
    }
}
