//! The filter half of `PodTopologySpread`.

use std::collections::HashMap;

use super::{matching_pods, node_included};
use crate::cache::NodeInfo;
use crate::framework::{Cycle, Status};
use crate::objects::spread::SpreadConstraint;

/// Kubernetes' reasons.
pub const SKEW: &str = "node(s) didn't match pod topology spread constraints";
pub const MISSING_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

/// For each hard constraint, matching pods per domain (label value).
#[derive(Debug, Clone)]
pub struct Domains {
    pub constraints: Vec<SpreadConstraint>,
    pub counts: Vec<HashMap<String, i64>>,
    /// For each constraint, the fewest matching pods in any domain (`None`
    /// with no eligible domain): taken once per pod, since with the
    /// hostname as topology there are as many domains as nodes
    /// (Kubernetes keeps the two smallest, its `criticalPaths`).
    pub min: Vec<Option<i64>>,
}

/// Counts matching pods per domain, over the nodes that have every
/// constraint's topology label and that each constraint's inclusion
/// policies admit.
pub fn pre_filter(cycle: Cycle, constraints: Vec<SpreadConstraint>) -> Domains {
    let mut counts = vec![HashMap::new(); constraints.len()];
    for node in cycle.snapshot.nodes.iter() {
        let labels = &node.node.labels;
        if !constraints
            .iter()
            .all(|c| labels.contains_key(&c.topology_key))
        {
            continue;
        }
        for (i, c) in constraints.iter().enumerate() {
            if !node_included(c, cycle.pod, node) {
                continue;
            }
            let n = matching_pods(c, &cycle.pod.namespace, node);
            let value = &labels[&c.topology_key];
            // Look up before inserting: no new key for a known domain.
            match counts[i].get_mut(value) {
                Some(count) => *count += n,
                None => {
                    counts[i].insert(value.clone(), n);
                }
            }
        }
    }
    let min = counts.iter().map(|c| c.values().min().copied()).collect();
    Domains {
        constraints,
        counts,
        min,
    }
}

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
pub fn filter(cycle: Cycle, domains: &Domains, node: &NodeInfo) -> Status {
    for (i, c) in domains.constraints.iter().enumerate() {
        let Some(value) = node.node.labels.get(&c.topology_key) else {
            return Status::unresolvable(MISSING_LABEL);
        };
        let counts = &domains.counts[i];
        // With no eligible domain at all there is no minimum to exceed.
        let Some(min) = domains.min[i] else {
            continue;
        };
        let self_match = c
            .selector
            .as_ref()
            .is_some_and(|s| s.matches(&cycle.pod.labels));
        let matching = counts.get(value).copied().unwrap_or(0);
        if skew(matching, self_match, min, counts.len(), c.min_domains) > c.max_skew {
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
