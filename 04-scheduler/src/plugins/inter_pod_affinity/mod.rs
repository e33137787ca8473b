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

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::cache::NodeInfo;
use crate::framework::{Cycle, CycleState, Events, Plugin, PreFilterResult, Status};
use crate::objects::PodInfo;
use crate::objects::pod::Part;
use crate::objects::pod_affinity::AffinityTerm;

/// The plugin.
pub struct InterPodAffinity;

const NAME: &str = "InterPodAffinity";

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
