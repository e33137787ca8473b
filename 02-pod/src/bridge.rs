//! The node's bridge: the virtual switch every pod on the node plugs into.
//!
//! A Linux bridge forwards Ethernet frames between its ports like a hardware
//! switch. Each pod's veth pair has one end on the bridge, so pods on one node
//! reach each other at layer 2, without any route. The bridge also gets the
//! first address of the node's pod CIDR (`10.244.1.1/24`): that makes it the
//! pods' default gateway, and makes the kernel add the route
//! `10.244.1.0/24 dev orc0` through which the node reaches its pods.
//!
//! The bridge also gets a MAC address of its own, set when it is created
//! ([`bridge_mac`]). A bridge left to itself takes the lowest MAC address
//! among its ports, and changes it whenever a port with a lower one joins:
//! every pod's veth end has a random address, so any new pod may change it.
//! When a device's MAC address changes, the kernel forgets every neighbour
//! entry on it, the node's permanent entries for its pods included
//! (`neighbour.rs`), and the pods keep sending frames for their gateway to
//! the old address. An address that was set explicitly is the
//! administrator's choice, and the kernel never changes it (sysfs shows
//! `addr_assign_type` 3, `NET_ADDR_SET`). Docker sets a random one on
//! `docker0` for the same reason; orc derives it from the node's gateway
//! address, so it is the same after every agent restart.
//!
//! Docker calls its bridge `docker0`, the CNI bridge plugin `cni0`; orc's is
//! [`BRIDGE`].

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use rtnetlink::{Handle, LinkBridge};

use crate::cidr::Ipv4Cidr;
use crate::error::{Context, NetError, is_errno};
use crate::{link, neighbour, netns};

/// The default name of the node's bridge.
pub const BRIDGE: &str = "orc0";

// ANCHOR: bridge_mac
/// The bridge's own MAC address on the node whose pods' gateway is
/// `gateway`: `0a:58` and the address's four bytes (`0a:58:0a:f4:01:01`
/// for `10.244.1.1`), as the CNI plugins' `hwaddr` package derives a MAC
/// address from an IPv4 address. `0a` has the "locally administered" bit
/// set and the multicast bit clear: a unicast address no network card's
/// vendor hands out. Each node's gateway differs, and a node's stays the
/// same for as long as its pod CIDR does.
pub fn bridge_mac(gateway: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = gateway.octets();
    [0x0a, 0x58, a, b, c, d]
}
// ANCHOR_END: bridge_mac

// ANCHOR: ensure_bridge
/// Makes sure bridge `name` exists in the node's namespace `node_netns`,
/// holds `pod_cidr`'s gateway address, has its fixed MAC address
/// ([`bridge_mac`]) and is up; returns its link index. Safe to run again at
/// every agent start.
pub async fn ensure_bridge(
    handle: &Handle,
    node_netns: &Path,
    name: &str,
    pod_cidr: Ipv4Cidr,
) -> Result<u32, NetError> {
    let mac = bridge_mac(pod_cidr.gateway());
    if link::index_of(handle, name).await?.is_none() {
        create(handle, name, &mac).await?;
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
    // A bridge an older agent made chose its own address: give it the
    // fixed one now, while it holds the gateway address to announce it.
    if link::mac_address(handle, name).await? != mac {
        adopt(handle, node_netns, index, name, &mac).await?;
    }
    Ok(index)
}
// ANCHOR_END: ensure_bridge

/// `ip link add orc0 address 0a:58:0a:f4:01:01 type bridge`: the address
/// comes with the bridge, before any port could lend it theirs.
async fn create(handle: &Handle, name: &str, mac: &[u8; 6]) -> Result<(), NetError> {
    let bridge = LinkBridge::new(name).address(mac.to_vec()).build();
    match handle.link().add(bridge).execute().await {
        Ok(()) => Ok(()),
        // Created meanwhile by someone else: fine, it is there now (and
        // gets its address below, as any bridge made elsewhere).
        Err(e) if is_errno(&e, nix::libc::EEXIST) => Ok(()),
        Err(source) => Err(NetError::Netlink {
            what: format!("creating bridge {name}"),
            source,
        }),
    }
}

// ANCHOR: adopt
/// Gives the existing bridge `name` (link index `index`) the fixed MAC
/// address `mac` without losing its pods.
async fn adopt(
    handle: &Handle,
    node_netns: &Path,
    index: u32,
    name: &str,
    mac: &[u8; 6],
) -> Result<(), NetError> {
    // The change makes the kernel forget the node's neighbour entries on
    // the bridge: the pods' permanent ones are read first, to be written
    // again after.
    let pinned = neighbour::pinned(handle, index).await?;
    // The pods' own entries for their gateway hold the old address. With
    // `arp_notify` the kernel announces the new one (a gratuitous ARP:
    // "10.244.1.1 is at 0a:58:..."), and every pod's entry takes it.
    announce_address_changes(node_netns, name)?;
    link::set_mac_address(handle, index, name, mac).await?;
    for (address, pod_mac) in pinned {
        neighbour::pin(handle, index, address, &pod_mac).await?;
    }
    Ok(())
}
// ANCHOR_END: adopt

/// `sysctl net.ipv4.conf.<bridge>.arp_notify=1`: the kernel sends a
/// gratuitous ARP for each of the device's addresses when its MAC address
/// changes (off by default). Written inside the node's namespace, whose
/// `/proc/sys/net` it is.
fn announce_address_changes(node_netns: &Path, name: &str) -> Result<(), NetError> {
    let path = format!("/proc/sys/net/ipv4/conf/{name}/arp_notify");
    netns::run_in(node_netns, || std::fs::write(&path, "1"))?.map_err(|source| NetError::Sysctl {
        what: format!("net.ipv4.conf.{name}.arp_notify"),
        netns: node_netns.to_path_buf(),
        source,
    })
}
