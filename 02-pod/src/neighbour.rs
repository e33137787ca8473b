//! The node's neighbour (ARP) entries for its own pods, written once.
//!
//! When the node itself sends a packet to a pod (after chapter 06's DNAT
//! turned a cluster IP into the pod's address, or when a packet for the pod
//! comes in from another node), it needs the pod's MAC address, and by
//! default it learns it with ARP. A learnt entry is trusted for half a
//! minute or so (`base_reachable_time`), then goes `STALE`. Traffic the node
//! only *forwards* never confirms it again (only the node's own TCP
//! connections do), so every half minute the entry passes through `DELAY`
//! and `PROBE` for about five seconds. During those seconds each forwarded
//! packet takes the kernel's slow path: the neighbour layer builds its
//! Ethernet header and sends it through the bridge device once more before
//! the bridge forwards it. Measured on a copy of chapter 06's
//! `benches/data_path.rs` set-up (12 alternating rounds of wrk, medians):
//! requests through a cluster IP ran at 0.90 of the direct rate while the
//! entry was in `DELAY`, and at 0.97 with a permanent entry.
//!
//! The node needs no ARP to know its pods: it made their `eth0` and can read
//! its address. So, as Calico's Felix does for its workloads, orc writes a
//! permanent entry for each pod (`ip neigh replace 10.244.1.2 lladdr
//! 2a:..:7f dev orc0 nud permanent`) when the pod is plugged in, and deletes
//! it when the pod is unplugged. A permanent entry is also one ARP reply a
//! pod can no longer forge: another pod claiming the address is ignored.
//! (A pod allowed to change its own MAC address, with `NET_ADMIN`, would
//! have to be plugged in again.)
//!
//! The kernel forgets every neighbour entry on a device whose MAC address
//! changes, permanent ones included. A bridge left to itself takes the
//! lowest MAC address among its ports, so plugging in a pod whose veth end
//! had a lower one used to wipe the other pods' entries; the bridge now
//! has a fixed address of its own (`bridge.rs`), and the entries stay.

use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use nix::libc::ENOENT;
use rtnetlink::Handle;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};

use crate::error::{Context, NetError, is_errno};

// ANCHOR: pin
/// Writes the permanent neighbour entry `address lladdr mac` on the bridge
/// with link index `bridge` (`ip neigh replace ... nud permanent`).
/// Replacing makes a second run harmless, and fixes an entry an earlier
/// pod with the same address left behind.
pub async fn pin(
    node: &Handle,
    bridge: u32,
    address: Ipv4Addr,
    mac: &[u8],
) -> Result<(), NetError> {
    node.neighbours()
        .add(bridge, IpAddr::V4(address))
        .link_layer_address(mac)
        .state(NeighbourState::Permanent)
        .replace()
        .execute()
        .await
        .context(|| format!("writing the neighbour entry of pod {address}"))
}
// ANCHOR_END: pin

/// Deletes the neighbour entry of `address` on the bridge with link index
/// `bridge`; succeeds when there is none.
pub async fn unpin(node: &Handle, bridge: u32, address: Ipv4Addr) -> Result<(), NetError> {
    let mut entry = NeighbourMessage::default();
    entry.header.family = AddressFamily::Inet;
    entry.header.ifindex = bridge;
    entry
        .attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
            address,
        )));
    match node.neighbours().del(entry).execute().await {
        Ok(()) => Ok(()),
        Err(e) if is_errno(&e, ENOENT) => Ok(()),
        Err(source) => Err(NetError::Netlink {
            what: format!("deleting the neighbour entry of pod {address}"),
            source,
        }),
    }
}

/// The permanent entries on the bridge with link index `bridge`, as
/// (address, MAC) pairs (`ip neigh show dev orc0 nud permanent`): what
/// [`pin`] wrote, read back before a change of the bridge's MAC address
/// makes the kernel forget them.
pub async fn pinned(node: &Handle, bridge: u32) -> Result<Vec<(Ipv4Addr, Vec<u8>)>, NetError> {
    let mut dump = node
        .neighbours()
        .get()
        .set_address_family(AddressFamily::Inet)
        .execute();
    let mut entries = Vec::new();
    while let Some(entry) = dump
        .try_next()
        .await
        .context(|| "listing the node's neighbour entries".to_string())?
    {
        if entry.header.ifindex != bridge || entry.header.state != NeighbourState::Permanent {
            continue;
        }
        let (mut address, mut mac) = (None, None);
        for attribute in entry.attributes {
            match attribute {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => address = Some(a),
                NeighbourAttribute::LinkLayerAddress(m) => mac = Some(m),
                _ => {}
            }
        }
        if let (Some(address), Some(mac)) = (address, mac) {
            entries.push((address, mac));
        }
    }
    Ok(entries)
}
