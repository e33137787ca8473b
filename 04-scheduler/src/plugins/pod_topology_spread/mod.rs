//! `PodTopologySpread`: keep pods that belong together spread over
//! topology domains (hosts, zones). `DoNotSchedule` constraints are a
//! filter (the skew a node would cause must stay within `maxSkew`);
//! `ScheduleAnyway` constraints, and Kubernetes' system defaults for pods
//! that declare none, a score (weight 2).
//!
//! - `filter.rs`: matching pods per domain (PreFilter) and the skew check;
//! - `score.rs`: the soft constraints' counts, score and normalization.

pub mod filter;
pub mod score;

use std::sync::Arc;

use crate::cache::NodeInfo;
use crate::cache::domain_counts::soft_constraints;
use crate::framework::{Cycle, CycleState, Events, Plugin, PreFilterResult, Status};
use crate::objects::PodInfo;
use crate::objects::pod::Part;
use crate::objects::spread::{self, InclusionPolicy, SpreadConstraint, WhenUnsatisfiable};
use crate::objects::taints::{Effect, untolerated};

/// The plugin.
pub struct PodTopologySpread;

const NAME: &str = "PodTopologySpread";

/// The pod's hard (`DoNotSchedule`) constraints: its own only, since
/// the system defaults are all `ScheduleAnyway` (the soft ones are
/// `cache::domain_counts::soft_constraints`).
pub fn hard_constraints(pod: &PodInfo) -> Vec<SpreadConstraint> {
    pod.spread
        .iter()
        .filter(|c| c.when_unsatisfiable == WhenUnsatisfiable::DoNotSchedule)
        .cloned()
        .collect()
}

/// Whether `node` counts as a domain for `constraint`, by its node
/// affinity and taint policies (Kubernetes' `matchNodeInclusionPolicies`).
pub fn node_included(constraint: &SpreadConstraint, pod: &PodInfo, node: &NodeInfo) -> bool {
    if constraint.node_affinity_policy == InclusionPolicy::Honor
        && !pod
            .node_preferences
            .required_match(node.name(), &node.node.labels)
    {
        return false;
    }
    if constraint.node_taints_policy == InclusionPolicy::Honor {
        let hard = |e: Effect| matches!(e, Effect::NoSchedule | Effect::NoExecute);
        if untolerated(&node.node.taints, &pod.tolerations, hard).is_some() {
            return false;
        }
    }
    true
}

/// How many pods on `node` the constraint counts: pods in the incoming
/// pod's namespace, matching the selector, not being deleted.
pub fn matching_pods(constraint: &SpreadConstraint, ns: &str, node: &NodeInfo) -> i64 {
    let selector = constraint.selector.as_ref();
    node.pods
        .iter()
        .filter(|p| spread::counted(selector, ns, p))
        .count() as i64
}

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> Events {
        Events::POD_ADDED
            .or(Events::POD_LABELS)
            .or(Events::POD_DELETED)
            .or(Events::NODE_ADDED)
            .or(Events::NODE_DELETED)
            .or(Events::NODE_LABELS)
            .or(Events::NODE_TAINTS)
            .or(Events::WORKLOADS)
    }

    fn pre_filter(&self, cycle: Cycle, state: &mut CycleState) -> Result<PreFilterResult, Status> {
        if let Some(problem) = cycle.pod.problem(Part::TopologySpread) {
            return Err(Status::unresolvable(problem));
        }
        let hard = hard_constraints(cycle.pod);
        if hard.is_empty() {
            return Ok(PreFilterResult::Skip);
        }
        state.write(NAME, filter::pre_filter(cycle, hard));
        Ok(PreFilterResult::AllNodes)
    }

    fn filter(&self, _cycle: Cycle, state: &CycleState, node: &NodeInfo) -> Status {
        match state.read::<filter::Domains>(NAME) {
            Some(domains) => filter::filter(domains, node),
            None => Status::success(),
        }
    }

    fn pre_score(&self, cycle: Cycle, state: &mut CycleState, nodes: &[Arc<NodeInfo>]) -> Status {
        // The same constraints a placed pod declares its questions by.
        let (soft, require_all) = soft_constraints(cycle.pod, &cycle.snapshot.workloads);
        if soft.is_empty() {
            return Status::skip();
        }
        state.write(
            score::STATE,
            score::pre_score(cycle, soft, nodes, require_all),
        );
        Status::success()
    }

    fn score(&self, cycle: Cycle, state: &CycleState, node: &NodeInfo) -> i64 {
        state
            .read::<score::SoftCounts>(score::STATE)
            .map(|counts| score::score(cycle, counts, node))
            .unwrap_or(0)
    }

    fn normalize_score(
        &self,
        _: Cycle,
        state: &CycleState,
        nodes: &[Arc<NodeInfo>],
        scores: &mut [i64],
    ) {
        if let Some(counts) = state.read::<score::SoftCounts>(score::STATE) {
            score::normalize(counts, nodes, scores);
        }
    }
}
