//! The score half of `InterPodAffinity`.
//!
//! Every (incoming pod, placed pod) pair can add weight to the domain the
//! placed pod is in: the incoming pod's preferred affinity (+weight) and
//! anti-affinity (−weight) for the placed pod, and the placed pod's
//! required affinity (+1, Kubernetes' `hardPodAffinityWeight`), preferred
//! affinity (+weight) and anti-affinity (−weight) for the incoming pod. A
//! node scores the sum over the domains it is in; scores are then brought
//! to 0..=100 between the lowest and the highest.
//!
//! kube-scheduler visits the pairs for each pod it scores (every placed
//! pod when the incoming one has preferences). orc reads the sums per
//! domain that the snapshot keeps (`cache/domain_counts.rs`): the pods
//! each of the incoming pod's preferred terms names, and the weight the
//! pods carrying each term give. Only a preferred term with a namespace
//! selector no placed pod shares is counted over every node.

use std::sync::Arc;

use super::term_matches;
use crate::cache::domain_counts::keepable;
use crate::cache::{CountKey, DomainCounts, NodeInfo};
use crate::framework::Cycle;
use crate::framework::normalize::MAX_NODE_SCORE;
use crate::objects::pod_affinity::AffinityTerm;

pub use crate::cache::domain_counts::HARD_POD_AFFINITY_WEIGHT;

/// Where the weights are kept in the cycle state.
pub const STATE: &str = "InterPodAffinity/score";

/// What a node's raw score adds up: per topology key, a sum per domain
/// times a multiplier (a preferred term's signed weight, or 1 for sums
/// that are weights already).
#[derive(Debug, Clone, Default)]
pub struct Weights {
    pub sums: Vec<(String, Arc<DomainCounts>, i64)>,
}

// ANCHOR: affinity_pre_score
/// The sums per domain; `None` when no pair weighs (the scores are then
/// skipped for this pod, as Kubernetes' PreScore `Skip`).
pub fn pre_score(cycle: Cycle) -> Option<Weights> {
    let pod = cycle.pod;
    let mut weights = Weights::default();
    let mut weighed = false;
    // The pods the incoming pod's preferred terms name, per domain.
    let own = pod.affinity.preferred_affinity.iter().map(|w| (w, 1));
    let against = pod.affinity.preferred_anti_affinity.iter().map(|w| (w, -1));
    for (w, sign) in own.chain(against) {
        let named = named_by(cycle, &w.term);
        weighed |= named.total() > 0;
        weights
            .sums
            .push((w.term.topology_key.clone(), named, sign * w.weight));
    }
    // The weight placed pods give it by the terms that name it.
    for (term, sum) in cycle.snapshot.counts.weights() {
        if !term_matches(cycle, term, pod) {
            continue;
        }
        // Weights that cancel out still weigh; a sum that is not 0 has
        // carriers without asking.
        weighed |= sum.total() != 0
            || (cycle.snapshot.counts)
                .get(&CountKey::weight(term, true))
                .is_some_and(|carriers| carriers.total() > 0);
        weights
            .sums
            .push((term.topology_key.clone(), sum.clone(), 1));
    }
    weighed.then_some(weights)
}

/// The pods `term` names per domain: kept by the snapshot when a placed
/// pod has the same preferred term, else counted here over every node.
fn named_by(cycle: Cycle, term: &AffinityTerm) -> Arc<DomainCounts> {
    let terms = std::slice::from_ref(term);
    let key = CountKey::named_by(terms, &term.topology_key);
    if keepable(terms) {
        if let Some(kept) = cycle.snapshot.counts.get(&key) {
            return kept.clone();
        }
    }
    let named = |p: &_| i64::from(term_matches(cycle, term, p));
    Arc::new(DomainCounts::count(
        &key,
        &cycle.snapshot.nodes,
        |_| true,
        named,
    ))
}
// ANCHOR_END: affinity_pre_score

/// A node's raw score: the weights of the domains it is in.
pub fn score(weights: &Weights, node: &NodeInfo) -> i64 {
    weights
        .sums
        .iter()
        .filter_map(|(key, sums, times)| Some(times * sums.pods_in(node.node.labels.get(key)?)))
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
