//! The filter half of `InterPodAffinity`.
//!
//! Once per pod, the pods per topology domain that can refuse it are
//! looked up (Kubernetes' `preFilterState` counts them afresh): the
//! snapshot keeps them for every required anti-affinity term of a placed
//! pod, and for the terms of pods like this one already placed
//! (`cache/domain_counts.rs`); only a term no placed pod has is counted
//! over every node. Each node is then judged by looking up its own
//! domains, so the cost per node does not grow with the number of pods.

use std::sync::Arc;

use super::term_matches;
use crate::cache::domain_counts::keepable;
use crate::cache::{CountKey, DomainCounts, NodeInfo};
use crate::framework::{Cycle, Status};
use crate::objects::pod_affinity::AffinityTerm;

/// Kubernetes' reasons.
pub const AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
pub const EXISTING_ANTI_AFFINITY: &str = "node(s) didn't satisfy existing pods anti-affinity rules";

/// The counts the filter reads.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    /// For each required anti-affinity term of placed pods that forbids
    /// the incoming pod: its topology key, and the pods carrying it per
    /// domain.
    pub existing_anti_affinity: Vec<(String, Arc<DomainCounts>)>,
    /// For each of the incoming pod's required affinity terms, in order:
    /// the pods matching *all* its terms, per domain of this term's key.
    pub affinity: Vec<Arc<DomainCounts>>,
    /// For each of its required anti-affinity terms: the pods it names.
    pub anti_affinity: Vec<Arc<DomainCounts>>,
    /// The first of a group of pods with affinity for each other: no pod
    /// anywhere matches its affinity terms, and it matches them itself.
    pub first_of_its_group: bool,
}

// ANCHOR: affinity_pre_filter
/// The counts, or `None` when nothing can refuse the pod: it has no
/// required terms and no placed pod has required anti-affinity.
pub fn pre_filter(cycle: Cycle) -> Option<Counts> {
    let pod = cycle.pod;
    // Every placed pod with required anti-affinity has its terms' pods
    // counted per domain in the snapshot: the terms that name the
    // incoming pod are the ones that can refuse it.
    let mut carrying = cycle.snapshot.counts.carrying().peekable();
    let has_terms = !pod.affinity.required_affinity.is_empty()
        || !pod.affinity.required_anti_affinity.is_empty();
    if !has_terms && carrying.peek().is_none() {
        return None;
    }
    let existing_anti_affinity = carrying
        .filter(|(term, _)| term_matches(cycle, term, pod))
        .map(|(term, counts)| (term.topology_key.clone(), counts.clone()))
        .collect();
    // The pod's own terms: pods matching all its affinity terms, counted
    // under each term's key, and the pods each anti-affinity term names.
    let affinity = &pod.affinity.required_affinity;
    let anti_affinity = &pod.affinity.required_anti_affinity;
    let affinity_counts: Vec<Arc<DomainCounts>> = affinity
        .iter()
        .map(|t| named_by(cycle, affinity, &t.topology_key))
        .collect();
    let first_of_its_group = affinity_counts.iter().all(|c| c.total() == 0)
        && affinity.iter().all(|t| term_matches(cycle, t, pod));
    Some(Counts {
        existing_anti_affinity,
        first_of_its_group,
        affinity: affinity_counts,
        anti_affinity: anti_affinity
            .iter()
            .map(|t| named_by(cycle, std::slice::from_ref(t), &t.topology_key))
            .collect(),
    })
}

/// The pods all of `terms` name, per domain of `topology_key`: kept by
/// the snapshot when a placed pod has the same terms, else counted here.
fn named_by(cycle: Cycle, terms: &[AffinityTerm], topology_key: &str) -> Arc<DomainCounts> {
    let key = CountKey::named_by(terms, topology_key);
    if keepable(terms) {
        if let Some(kept) = cycle.snapshot.counts.get(&key) {
            return kept.clone();
        }
    }
    let named = |p: &_| i64::from(terms.iter().all(|t| term_matches(cycle, t, p)));
    Arc::new(DomainCounts::count(
        &key,
        &cycle.snapshot.nodes,
        |_| true,
        named,
    ))
}
// ANCHOR_END: affinity_pre_filter

// ANCHOR: affinity_filter
/// Judges one node, in Kubernetes' order.
pub fn filter(cycle: Cycle, counts: &Counts, node: &NodeInfo) -> Status {
    let labels = &node.node.labels;
    let affinity = &cycle.pod.affinity.required_affinity;
    // Affinity: every term's domain must hold a matching pod, and the node
    // must have every term's topology label.
    let mut satisfied = true;
    for (term, matching) in affinity.iter().zip(&counts.affinity) {
        if !labels.contains_key(&term.topology_key) {
            return Status::unresolvable(AFFINITY);
        }
        satisfied &= matching.holds(labels, &term.topology_key);
    }
    // The first of a group of pods with affinity for each other has no one
    // to be near: if no pod anywhere matches, and the pod matches its own
    // terms, it may go anywhere that has the labels (decided at
    // PreFilter, once).
    if !satisfied && !counts.first_of_its_group {
        return Status::unresolvable(AFFINITY);
    }
    let anti_affinity = &cycle.pod.affinity.required_anti_affinity;
    for (term, named) in anti_affinity.iter().zip(&counts.anti_affinity) {
        if named.holds(labels, &term.topology_key) {
            return Status::unschedulable(vec![ANTI_AFFINITY.into()]);
        }
    }
    // A placed pod forbids it by its own terms, in a domain of this node.
    let forbidden = counts
        .existing_anti_affinity
        .iter()
        .any(|(key, carrying)| carrying.holds(labels, key));
    if forbidden {
        return Status::unschedulable(vec![EXISTING_ANTI_AFFINITY.into()]);
    }
    Status::success()
}
// ANCHOR_END: affinity_filter
