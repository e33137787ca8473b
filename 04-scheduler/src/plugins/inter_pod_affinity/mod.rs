//! `InterPodAffinity`: run near pods you name (affinity), away from pods
//! you name (anti-affinity), and never where a pod already there forbids
//! you by its own anti-affinity. Required terms are a filter; preferred
//! terms, of the incoming pod and of the pods already placed, a score
//! (weight 2).
//!
//! - `filter.rs`: the counts per topology domain (PreFilter) and the three
//!   checks (Filter);
//! - `score.rs`: the weights per topology domain (PreScore), and the
//!   min-max normalization.

pub mod filter;
pub mod score;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::cache::NodeInfo;
use crate::framework::{Cycle, CycleState, Events, Plugin, PreFilterResult, Status};
use crate::objects::PodInfo;
use crate::objects::pod::Part;
use crate::objects::pod_affinity::AffinityTerm;

/// The plugin.
pub struct InterPodAffinity;

const NAME: &str = "InterPodAffinity";

/// How many matching pods each topology domain holds: topology key (a
/// node label) → its value → count. Two levels rather than one keyed by
/// the pair, so that a node's domain is looked up with the node's own
/// label strings, without building a key for every node filtered.
pub type DomainCounts = HashMap<String, HashMap<String, i64>>;

/// Whether `pod` is named by `term` (the namespace labels come from the
/// snapshot, looked up only for a term with a namespace selector).
fn term_matches(cycle: Cycle, term: &AffinityTerm, pod: &PodInfo) -> bool {
    let no_labels = BTreeMap::new();
    let ns_labels = match term.namespace_selector {
        Some(_) => cycle.snapshot.namespace_labels(&pod.namespace),
        None => &no_labels,
    };
    term.matches(&pod.namespace, &pod.labels, ns_labels)
}

/// Counts `delta` for the domain `node` is in for `key`, if it has the label.
fn count(counts: &mut DomainCounts, node: &NodeInfo, key: &str, delta: i64) {
    let Some(value) = node.node.labels.get(key) else {
        return;
    };
    if !counts.contains_key(key) {
        counts.insert(key.to_string(), HashMap::new());
    }
    let values = counts.get_mut(key).expect("inserted above");
    match values.get_mut(value) {
        Some(n) => *n += delta,
        None => {
            values.insert(value.clone(), delta);
        }
    }
}

/// Whether the domain a node with `labels` is in for `key` holds any of
/// the counted pods (not when the node lacks the label).
fn holds(counts: &DomainCounts, labels: &BTreeMap<String, String>, key: &str) -> bool {
    labels
        .get(key)
        .and_then(|value| counts.get(key)?.get(value))
        .is_some_and(|n| *n > 0)
}

impl Plugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> Events {
        Events::POD_ADDED
            .or(Events::POD_LABELS)
            .or(Events::POD_DELETED)
            .or(Events::NODE_ADDED)
            .or(Events::NODE_LABELS)
            .or(Events::NAMESPACE_LABELS)
    }

    fn pre_filter(&self, cycle: Cycle, state: &mut CycleState) -> Result<PreFilterResult, Status> {
        if let Some(problem) = cycle.pod.problem(Part::PodAffinity) {
            return Err(Status::unresolvable(problem));
        }
        let counts = filter::pre_filter(cycle);
        if counts.is_none() {
            return Ok(PreFilterResult::Skip);
        }
        state.write(NAME, counts);
        Ok(PreFilterResult::AllNodes)
    }

    fn filter(&self, cycle: Cycle, state: &CycleState, node: &NodeInfo) -> Status {
        match state.read::<Option<filter::Counts>>(NAME) {
            Some(Some(counts)) => filter::filter(cycle, counts, node),
            _ => Status::success(),
        }
    }

    fn pre_score(&self, cycle: Cycle, state: &mut CycleState, _nodes: &[Arc<NodeInfo>]) -> Status {
        match score::pre_score(cycle) {
            Some(weights) => {
                state.write(score::STATE, weights);
                Status::success()
            }
            None => Status::skip(),
        }
    }

    fn score(&self, _cycle: Cycle, state: &CycleState, node: &NodeInfo) -> i64 {
        state
            .read::<score::Weights>(score::STATE)
            .map(|w| score::score(w, node))
            .unwrap_or(0)
    }

    fn normalize_score(&self, _: Cycle, _: &CycleState, _: &[Arc<NodeInfo>], scores: &mut [i64]) {
        score::min_max_normalize(scores);
    }
}
