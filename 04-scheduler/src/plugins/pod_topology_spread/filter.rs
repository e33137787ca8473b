//! The filter half of `PodTopologySpread`.

use std::sync::Arc;

use super::node_included;
use crate::cache::{CountKey, DomainCounts, NodeInfo};
use crate::framework::{Cycle, Status};
use crate::objects::spread::{self, SpreadConstraint};

/// Kubernetes' reasons.
pub const SKEW: &str = "node(s) didn't match pod topology spread constraints";
pub const MISSING_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

/// For each hard constraint, matching pods per domain (label value), with
/// the fewest in any domain kept beside them (with the hostname as
/// topology there are as many domains as nodes; Kubernetes keeps the two
/// smallest, its `criticalPaths`).
#[derive(Debug, Clone)]
pub struct Domains {
    pub constraints: Vec<SpreadConstraint>,
    pub counts: Vec<Arc<DomainCounts>>,
    /// Per constraint: whether it counts the pod itself (its selector
    /// matches the pod's labels), decided once rather than at each node.
    pub self_match: Vec<bool>,
}

// ANCHOR: spread_pre_filter
/// Matching pods per domain, over the nodes that have every constraint's
/// topology label and that each constraint's inclusion policies admit.
/// The snapshot keeps them for the constraints placed pods have (the
/// replicas before this one): then this is one lookup per constraint.
/// Otherwise they are counted over every node, for this pod alone.
pub fn pre_filter(cycle: Cycle, constraints: Vec<SpreadConstraint>) -> Domains {
    let (pod, snapshot) = (cycle.pod, cycle.snapshot);
    let counts = constraints
        .iter()
        .map(|c| {
            let key = CountKey::spread(pod, c, &constraints);
            if c.includes_every_node(pod) {
                if let Some(kept) = snapshot.counts.get(&key) {
                    return kept.clone();
                }
            }
            let selector = c.selector.as_ref();
            Arc::new(DomainCounts::count(
                &key,
                &snapshot.nodes,
                |node| node_included(c, pod, node),
                |p| i64::from(spread::counted(selector, &pod.namespace, p)),
            ))
        })
        .collect();
    let self_match = constraints
        .iter()
        .map(|c| c.selector.as_ref().is_some_and(|s| s.matches(&pod.labels)))
        .collect();
    Domains {
        constraints,
        counts,
        self_match,
    }
}
// ANCHOR_END: spread_pre_filter

// ANCHOR: skew
/// The skew placing the pod in a domain holding `matching` pods would
/// cause: those pods, plus the pod itself if the constraint counts it,
/// minus the global minimum (taken as 0 while there are fewer eligible
/// domains than `minDomains`, so new domains are filled first).
pub fn skew(
    matching: i64,
    self_match: bool,
    min_in_domains: i64,
    domains: usize,
    min_domains: i64,
) -> i64 {
    let min = if (domains as i64) < min_domains {
        0
    } else {
        min_in_domains
    };
    matching + i64::from(self_match) - min
}
// ANCHOR_END: skew

/// Judges one node against every hard constraint.
pub fn filter(domains: &Domains, node: &NodeInfo) -> Status {
    for (i, c) in domains.constraints.iter().enumerate() {
        let Some(value) = node.node.labels.get(&c.topology_key) else {
            return Status::unresolvable(MISSING_LABEL);
        };
        let counts = &domains.counts[i];
        // With no eligible domain at all there is no minimum to exceed.
        let Some(min) = counts.min() else {
            continue;
        };
        let matching = counts.pods_in(value);
        let self_match = domains.self_match[i];
        if skew(matching, self_match, min, counts.domains(), c.min_domains) > c.max_skew {
            return Status::unschedulable(vec![SKEW.into()]);
        }
    }
    Status::success()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_counts_the_pod_itself_and_min_domains() {
        // Zones with 2 and 1 pods: a third in the first is a skew of 2.
        assert_eq!(skew(2, true, 1, 2, 1), 2);
        assert_eq!(skew(1, true, 1, 2, 1), 1);
        // With minDomains 3 and only two domains, the minimum is 0.
        assert_eq!(skew(1, true, 1, 2, 3), 2);
        assert_eq!(skew(1, false, 1, 2, 1), 0);
    }
}
