//! The filter half of `InterPodAffinity`.
//!
//! Once per pod, three counts per topology domain are taken (Kubernetes'
//! `preFilterState`): over the nodes the snapshot lists as holding pods
//! with required anti-affinity, and over every node only when the pod has
//! required terms of its own. Each node is then judged by looking up its
//! own domains, so the cost per node does not grow with the number of pods.

use super::{DomainCounts, count, holds, term_matches};
use crate::cache::NodeInfo;
use crate::framework::{Cycle, Status};

/// Kubernetes' reasons.
pub const AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
pub const EXISTING_ANTI_AFFINITY: &str = "node(s) didn't satisfy existing pods anti-affinity rules";

/// The counts the filter reads.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    /// Domains holding a pod whose required anti-affinity forbids the
    /// incoming pod.
    pub existing_anti_affinity: DomainCounts,
    /// Domains holding pods that match *all* the incoming pod's required
    /// affinity terms, counted under each term's key.
    pub affinity: DomainCounts,
    /// Domains holding pods matching one of its anti-affinity terms.
    pub anti_affinity: DomainCounts,
}

// ANCHOR: affinity_pre_filter
/// The counts, or `None` when nothing can refuse the pod: it has no
/// required terms and no placed pod has required anti-affinity.
pub fn pre_filter(cycle: Cycle) -> Option<Counts> {
    let pod = cycle.pod;
    // Only the nodes the snapshot lists as holding pods with required
    // anti-affinity can refuse the pod by those pods' terms; on most
    // clusters that is few nodes or none.
    let refusing = &cycle.snapshot.have_pods_with_required_anti_affinity;
    let has_terms = !pod.affinity.required_affinity.is_empty()
        || !pod.affinity.required_anti_affinity.is_empty();
    if !has_terms && refusing.is_empty() {
        return None;
    }
    let mut counts = Counts::default();
    for node in refusing.iter() {
        // Placed pods whose own anti-affinity names the incoming pod.
        for existing in &node.pods_with_required_anti_affinity {
            for term in &existing.affinity.required_anti_affinity {
                if term_matches(cycle, term, pod) {
                    count(
                        &mut counts.existing_anti_affinity,
                        node,
                        &term.topology_key,
                        1,
                    );
                }
            }
        }
    }
    if !has_terms {
        return Some(counts);
    }
    // The pod's own terms may name any placed pod: every node is visited.
    for node in cycle.snapshot.nodes.iter() {
        for existing in &node.pods {
            let affinity = &pod.affinity.required_affinity;
            if !affinity.is_empty() && affinity.iter().all(|t| term_matches(cycle, t, existing)) {
                for term in affinity {
                    count(&mut counts.affinity, node, &term.topology_key, 1);
                }
            }
            for term in &pod.affinity.required_anti_affinity {
                if term_matches(cycle, term, existing) {
                    count(&mut counts.anti_affinity, node, &term.topology_key, 1);
                }
            }
        }
    }
    Some(counts)
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
    for term in affinity {
        if !labels.contains_key(&term.topology_key) {
            return Status::unresolvable(AFFINITY);
        }
        satisfied &= holds(&counts.affinity, labels, &term.topology_key);
    }
    // The first of a group of pods with affinity for each other has no one
    // to be near: if no pod anywhere matches, and the pod matches its own
    // terms, it may go anywhere that has the labels.
    let first_of_its_group =
        counts.affinity.is_empty() && affinity.iter().all(|t| term_matches(cycle, t, cycle.pod));
    if !satisfied && !first_of_its_group {
        return Status::unresolvable(AFFINITY);
    }
    for term in &cycle.pod.affinity.required_anti_affinity {
        if holds(&counts.anti_affinity, labels, &term.topology_key) {
            return Status::unschedulable(vec![ANTI_AFFINITY.into()]);
        }
    }
    // A placed pod forbids it by its own terms, in a domain of this node.
    let forbidden = counts
        .existing_anti_affinity
        .keys()
        .any(|key| holds(&counts.existing_anti_affinity, labels, key));
    if forbidden {
        return Status::unschedulable(vec![EXISTING_ANTI_AFFINITY.into()]);
    }
    Status::success()
}
// ANCHOR_END: affinity_filter
