//! Letting pod traffic through the node's `FORWARD` chain.
//!
//! A node routes packets between its pods and other nodes, and with
//! `net.bridge.bridge-nf-call-iptables=1` even frames between two pods on one
//! bridge pass through iptables' `FORWARD` chain. Docker sets that chain's
//! policy to `DROP`, which silently cuts every pod off on a node that also
//! runs Docker. So, like kube-proxy's `KUBE-FORWARD` and flannel's
//! `FLANNEL-FWD`, orc accepts traffic from and to the cluster CIDR explicitly:
//!
//! ```text
//! -t filter -A ORC-FORWARD -s 10.244.0.0/16 -j ACCEPT
//! -t filter -A ORC-FORWARD -d 10.244.0.0/16 -j ACCEPT
//! ```

use std::path::Path;

use crate::chains::{self, Chain};
use crate::cidr::Ipv4Cidr;
use crate::error::NetError;

/// orc's chain in the `filter` table, jumped to from `FORWARD`.
pub const CHAIN: Chain = Chain {
    table: "filter",
    hook: "FORWARD",
    name: "ORC-FORWARD",
    comment: "orc: forward pod traffic",
};

/// The rules that accept forwarded pod traffic, in `iptables` syntax.
pub fn forward_rules(cluster_cidr: Ipv4Cidr) -> [String; 2] {
    [
        format!("-s {cluster_cidr} -j ACCEPT"),
        format!("-d {cluster_cidr} -j ACCEPT"),
    ]
}

/// Makes [`CHAIN`] hold exactly the node's forward rules.
pub fn ensure_forward(node_netns: &Path, cluster_cidr: Ipv4Cidr) -> Result<(), NetError> {
    chains::sync_chain(node_netns, CHAIN, &forward_rules(cluster_cidr))
}

/// Removes [`CHAIN`] and the jump to it.
pub fn remove_forward(node_netns: &Path) -> Result<(), NetError> {
    chains::remove_chain(node_netns, CHAIN)
}
