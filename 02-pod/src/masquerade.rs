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
//! requires. The rule lives in a chain of orc's own, [`CHAIN`], jumped to from
//! `POSTROUTING`, so that tear-down removes exactly orc's rules, and
//! `iptables-save` shows at a glance which rules are orc's.
//!
//! iptables is run as a program (through the `iptables` crate) on a thread
//! inside the node's network namespace, since every namespace has its own
//! rules.

use std::path::Path;

use crate::cidr::Ipv4Cidr;
use crate::error::NetError;
use crate::netns;

/// orc's chain in the `nat` table.
pub const CHAIN: &str = "ORC-POSTROUTING";

/// The rule in `POSTROUTING` that sends packets through [`CHAIN`].
const JUMP: &str = "-m comment --comment \"orc: pod network masquerade\" -j ORC-POSTROUTING";

// ANCHOR: masquerade_rule
/// The masquerade rule for a node, in `iptables` syntax (without the chain).
pub fn masquerade_rule(pod_cidr: Ipv4Cidr, cluster_cidr: Ipv4Cidr) -> String {
    format!("-s {pod_cidr} ! -d {cluster_cidr} -j MASQUERADE")
}
// ANCHOR_END: masquerade_rule

/// Adds orc's chain, its rule and the jump to it in the namespace at
/// `node_netns`, each only if it is missing.
pub fn ensure_masquerade(
    node_netns: &Path,
    pod_cidr: Ipv4Cidr,
    cluster_cidr: Ipv4Cidr,
) -> Result<(), NetError> {
    let rule = masquerade_rule(pod_cidr, cluster_cidr);
    in_iptables(node_netns, move |ipt| {
        if !ipt.chain_exists("nat", CHAIN)? {
            ipt.new_chain("nat", CHAIN)?;
        }
        if !ipt.exists("nat", CHAIN, &rule)? {
            ipt.append("nat", CHAIN, &rule)?;
        }
        if !ipt.exists("nat", "POSTROUTING", JUMP)? {
            ipt.append("nat", "POSTROUTING", JUMP)?;
        }
        Ok(())
    })
}

/// Removes the jump and orc's chain from the namespace at `node_netns`;
/// succeeds when they are already gone.
pub fn remove_masquerade(node_netns: &Path) -> Result<(), NetError> {
    in_iptables(node_netns, |ipt| {
        while ipt.exists("nat", "POSTROUTING", JUMP)? {
            ipt.delete("nat", "POSTROUTING", JUMP)?;
        }
        if ipt.chain_exists("nat", CHAIN)? {
            ipt.flush_chain("nat", CHAIN)?;
            ipt.delete_chain("nat", CHAIN)?;
        }
        Ok(())
    })
}

/// The `iptables` crate's error type.
type IptablesError = Box<dyn std::error::Error>;

/// Runs `f` with an `iptables` handle inside `netns`, turning the crate's
/// error (which cannot leave the thread: it is not `Send`) into text.
fn in_iptables<F>(netns: &Path, f: F) -> Result<(), NetError>
where
    F: FnOnce(&iptables::IPTables) -> Result<(), IptablesError> + Send,
{
    netns::run_in(netns, move || {
        iptables::new(false)
            .and_then(|ipt| f(&ipt))
            .map_err(|e| e.to_string())
    })?
    .map_err(|message| NetError::Iptables {
        netns: netns.to_path_buf(),
        message,
    })
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
