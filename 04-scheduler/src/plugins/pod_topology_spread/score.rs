//! The score half of `PodTopologySpread`: fewer matching pods in a
//! node's domains is better.
//!
//! kube-scheduler's PreScore counts the matching pods of every node for
//! each pod it scores. orc reads the counts the snapshot keeps for the
//! questions placed pods declared (`cache/domain_counts.rs`): replicas of
//! one workload ask the same, so from the second on PreScore is one
//! lookup per constraint and a pass over the feasible nodes' labels.

use std::collections::HashSet;
use std::sync::Arc;

use super::{matching_pods, node_included};
use crate::cache::{CountKey, DomainCounts, NodeInfo};
use crate::framework::Cycle;
use crate::framework::normalize::MAX_NODE_SCORE;
use crate::objects::spread::{self, SpreadConstraint};

/// Where the counts are kept in the cycle state.
pub const STATE: &str = "PodTopologySpread/score";

/// The hostname label: its domains are single nodes, counted at Score.
const HOSTNAME: &str = "kubernetes.io/hostname";

/// What the score reads, computed once per pod.
#[derive(Debug, Clone)]
pub struct SoftCounts {
    pub constraints: Vec<SpreadConstraint>,
    /// Per constraint: matching pods per domain, over every node that
    /// counts. For the hostname `None` unless kept: each node's own pods
    /// are counted at Score, as Kubernetes does.
    pub counts: Vec<Option<Arc<DomainCounts>>>,
    /// Per constraint: `ln(domains + 2)`, so a constraint over many
    /// domains weighs more than one over few.
    pub weights: Vec<f64>,
    /// Feasible nodes lacking a topology label of the pod's own
    /// constraints: scored 0.
    pub ignored: HashSet<String>,
}

// ANCHOR: spread_score
/// A constraint's contribution to a node's raw score: the matching pods
/// of its domain, weighted, plus `maxSkew − 1` (so a larger tolerance
/// flattens the differences).
pub fn score_for_count(count: i64, max_skew: i64, weight: f64) -> f64 {
    count as f64 * weight + (max_skew - 1) as f64
}
// ANCHOR_END: spread_score

// ANCHOR: spread_pre_score
/// Matching pods per domain, and each constraint's weight from the number
/// of domains the feasible `nodes` are in. `require_all`: the pod's own
/// constraints need every topology label on a node (the system defaults
/// do not; a node without the label is then in the domain "", which is
/// counted in the weight but never read). The counts are the snapshot's
/// when a placed pod asked the same question, else counted here over
/// every node, for this pod alone.
pub fn pre_score(
    cycle: Cycle,
    constraints: Vec<SpreadConstraint>,
    nodes: &[Arc<NodeInfo>],
    require_all: bool,
) -> SoftCounts {
    let pod = cycle.pod;
    let has_all = |node: &NodeInfo| {
        constraints
            .iter()
            .all(|c| node.node.labels.contains_key(&c.topology_key))
    };
    let mut domains: Vec<HashSet<&str>> = vec![HashSet::new(); constraints.len()];
    let mut ignored = HashSet::new();
    for node in nodes {
        if require_all && !has_all(node) {
            ignored.insert(node.name().to_string());
            continue;
        }
        for (i, c) in constraints.iter().enumerate() {
            if c.topology_key != HOSTNAME {
                let value = node.node.labels.get(&c.topology_key);
                domains[i].insert(value.map_or("", String::as_str));
            }
        }
    }
    let weights = constraints
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let size = if c.topology_key == HOSTNAME {
                nodes.len() - ignored.len()
            } else {
                domains[i].len()
            };
            ((size + 2) as f64).ln()
        })
        .collect();
    let counts = constraints
        .iter()
        .map(|c| {
            let key = CountKey::soft_spread(&pod.namespace, c, &constraints, require_all);
            if c.includes_every_node(pod) {
                if let Some(kept) = cycle.snapshot.counts.get(&key) {
                    return Some(kept.clone());
                }
            }
            if c.topology_key == HOSTNAME {
                return None;
            }
            let selector = c.selector.as_ref();
            Some(Arc::new(DomainCounts::count(
                &key,
                &cycle.snapshot.nodes,
                |node| node_included(c, pod, node),
                |p| i64::from(spread::counted(selector, &pod.namespace, p)),
            )))
        })
        .collect();
    SoftCounts {
        constraints,
        counts,
        weights,
        ignored,
    }
}
// ANCHOR_END: spread_pre_score

/// A node's raw score (lower is better; normalization reverses it).
pub fn score(cycle: Cycle, soft: &SoftCounts, node: &NodeInfo) -> i64 {
    if soft.ignored.contains(node.name()) {
        return 0;
    }
    let mut total = 0.0;
    for (i, c) in soft.constraints.iter().enumerate() {
        let Some(value) = node.node.labels.get(&c.topology_key) else {
            continue;
        };
        let count = match &soft.counts[i] {
            // A hostname domain is one node, unless two nodes share the
            // label's value: then this node's own pods are counted.
            Some(kept) if c.topology_key == HOSTNAME && kept.nodes_in(value) != 1 => {
                matching_pods(c, &cycle.pod.namespace, node)
            }
            Some(counts) => counts.pods_in(value),
            None => matching_pods(c, &cycle.pod.namespace, node),
        };
        total += score_for_count(count, c.max_skew, soft.weights[i]);
    }
    total.round() as i64
}

// ANCHOR: spread_normalize
/// Reverses and scales raw scores: the node with the fewest matching pods
/// gets 100 (`100 × (max + min − score) / max`); ignored nodes get 0.
pub fn normalize(soft: &SoftCounts, nodes: &[Arc<NodeInfo>], scores: &mut [i64]) {
    let counted = |i: &usize| !soft.ignored.contains(nodes[*i].name());
    let indices: Vec<usize> = (0..scores.len()).filter(counted).collect();
    let min = indices.iter().map(|i| scores[*i]).min().unwrap_or(0);
    let max = indices.iter().map(|i| scores[*i]).max().unwrap_or(0);
    for (i, s) in scores.iter_mut().enumerate() {
        *s = if !counted(&i) {
            0
        } else if max == 0 {
            MAX_NODE_SCORE
        } else {
            MAX_NODE_SCORE * (max + min - *s) / max
        };
    }
}
// ANCHOR_END: spread_normalize

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_weigh_by_domains_and_tolerance() {
        let w = (4.0f64).ln();
        assert!((score_for_count(3, 1, w) - 3.0 * w).abs() < 1e-9);
        assert!((score_for_count(0, 3, w) - 2.0).abs() < 1e-9);
    }
}
