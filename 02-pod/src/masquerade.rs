//! Masquerade: the one place the pod network uses NAT.
//!
//! Pod addresses mean something only inside the cluster. A packet from a pod
//! to anywhere else (the internet, another network the node is on) must leave
//! with the node's address as source, or the answer would never find its way
//! back. So each node rewrites the source of packets that come *from* its pod
//! CIDR and go *outside* the cluster CIDR:
//!
//! ```text
//! -t nat -A ORC-POSTROUTING -s 10.244.1.0/24 ! -d 10.244.0.0/16 -j MASQUERADE
//! ```
//!
//! Traffic between pods stays un-NATed, as the Kubernetes network model
//! requires. `MASQUERADE` rather than `SNAT --to-source` because it picks the
//! address of whichever interface the packet leaves by, so a node with
//! several networks (or a changing address) needs no other rule.

use std::path::Path;

use crate::chains::{self, Chain};
use crate::cidr::Ipv4Cidr;
use crate::error::NetError;

/// orc's chain in the `nat` table, jumped to from `POSTROUTING`.
pub const CHAIN: Chain = Chain {
    table: "nat",
    hook: "POSTROUTING",
    name: "ORC-POSTROUTING",
    comment: "orc: masquerade pod traffic leaving the cluster",
};

// ANCHOR: masquerade_rule
/// The masquerade rule for a node, in `iptables` syntax (without the chain).
pub fn masquerade_rule(pod_cidr: Ipv4Cidr, cluster_cidr: Ipv4Cidr) -> String {
    format!("-s {pod_cidr} ! -d {cluster_cidr} -j MASQUERADE")
}
// ANCHOR_END: masquerade_rule

/// Makes [`CHAIN`] hold exactly the node's masquerade rule.
pub fn ensure_masquerade(
    node_netns: &Path,
    pod_cidr: Ipv4Cidr,
    cluster_cidr: Ipv4Cidr,
) -> Result<(), NetError> {
    chains::sync_chain(
        node_netns,
        CHAIN,
        &[masquerade_rule(pod_cidr, cluster_cidr)],
    )
}

/// Removes [`CHAIN`] and the jump to it.
pub fn remove_masquerade(node_netns: &Path) -> Result<(), NetError> {
    chains::remove_chain(node_netns, CHAIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_spares_traffic_inside_the_cluster() {
        let rule = masquerade_rule(
            "10.244.1.0/24".parse().unwrap(),
            "10.244.0.0/16".parse().unwrap(),
        );
        assert_eq!(rule, "-s 10.244.1.0/24 ! -d 10.244.0.0/16 -j MASQUERADE");
    }
}
