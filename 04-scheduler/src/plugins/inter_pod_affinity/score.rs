//! The score half of `InterPodAffinity`.
//!
//! Every (incoming pod, placed pod) pair can add weight to the domain the
//! placed pod is in: the incoming pod's preferred affinity (+weight) and
//! anti-affinity (−weight) for the placed pod, and the placed pod's
//! required affinity (+1, Kubernetes' `hardPodAffinityWeight`), preferred
//! affinity (+weight) and anti-affinity (−weight) for the incoming pod. A
//! node scores the sum over the domains it is in; scores are then brought
//! to 0..=100 between the lowest and the highest.

use std::collections::HashMap;

use super::term_matches;
use crate::cache::NodeInfo;
use crate::framework::Cycle;
use crate::framework::normalize::MAX_NODE_SCORE;
use crate::objects::PodInfo;
use crate::objects::pod_affinity::WeightedTerm;

/// Where the weights are kept in the cycle state.
pub const STATE: &str = "InterPodAffinity/score";

/// Kubernetes' default `hardPodAffinityWeight`.
pub const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

/// Topology key → value → weight.
pub type Weights = HashMap<String, HashMap<String, i64>>;

fn add(weights: &mut Weights, node: &NodeInfo, key: &str, weight: i64) {
    if let Some(value) = node.node.labels.get(key) {
        *weights
            .entry(key.to_string())
            .or_default()
            .entry(value.clone())
            .or_default() += weight;
    }
}

/// The weights per domain; `None` when nothing weighs (the scores are
/// then skipped for this pod).
pub fn pre_score(cycle: Cycle) -> Option<Weights> {
    let pod = cycle.pod;
    let has_preferences = !pod.affinity.preferred_affinity.is_empty()
        || !pod.affinity.preferred_anti_affinity.is_empty();
    // Without preferences of its own, only pods with terms can weigh: the
    // nodes the snapshot lists as holding some, and those pods alone.
    let nodes = if has_preferences {
        &cycle.snapshot.nodes
    } else {
        &cycle.snapshot.have_pods_with_affinity
    };
    let mut weights = Weights::new();
    for node in nodes.iter() {
        if node.node.labels.is_empty() {
            continue;
        }
        let pods = if has_preferences {
            &node.pods
        } else {
            &node.pods_with_affinity
        };
        for existing in pods {
            weigh_pair(cycle, existing, node, &mut weights);
        }
    }
    (!weights.is_empty()).then_some(weights)
}

fn weigh_pair(cycle: Cycle, existing: &PodInfo, node: &NodeInfo, weights: &mut Weights) {
    let pod = cycle.pod;
    let mut terms = |list: &[WeightedTerm], named: &PodInfo, sign: i64| {
        for w in list {
            if term_matches(cycle, &w.term, named) {
                add(weights, node, &w.term.topology_key, sign * w.weight);
            }
        }
    };
    terms(&pod.affinity.preferred_affinity, existing, 1);
    terms(&pod.affinity.preferred_anti_affinity, existing, -1);
    terms(&existing.affinity.preferred_affinity, pod, 1);
    terms(&existing.affinity.preferred_anti_affinity, pod, -1);
    for term in &existing.affinity.required_affinity {
        if term_matches(cycle, term, pod) {
            add(weights, node, &term.topology_key, HARD_POD_AFFINITY_WEIGHT);
        }
    }
}

/// A node's raw score: the weights of the domains it is in.
pub fn score(weights: &Weights, node: &NodeInfo) -> i64 {
    weights
        .iter()
        .filter_map(|(key, values)| values.get(node.node.labels.get(key)?))
        .sum()
}

// ANCHOR: min_max
/// Brings raw scores (possibly negative) to 0..=100: the lowest becomes
/// 0, the highest 100; all equal become 0.
pub fn min_max_normalize(scores: &mut [i64]) {
    let (Some(min), Some(max)) = (scores.iter().min().copied(), scores.iter().max().copied())
    else {
        return;
    };
    for s in scores.iter_mut() {
        *s = if max > min {
            (MAX_NODE_SCORE as f64 * ((*s - min) as f64 / (max - min) as f64)) as i64
        } else {
            0
        };
    }
}
// ANCHOR_END: min_max

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_max() {
        let mut s = [-10, 0, 10];
        min_max_normalize(&mut s);
        assert_eq!(s, [0, 50, 100]);
        let mut same = [4, 4];
        min_max_normalize(&mut same);
        assert_eq!(same, [0, 0]);
    }
}
