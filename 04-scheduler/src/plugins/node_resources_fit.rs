//! `NodeResourcesFit`: a pod fits where its requests fit in what the
//! node's allocatable leaves after the pods already there (a filter), and
//! the scheduling strategy ranks the nodes that fit (a score, weight 1):
//! `LeastAllocated` (the default) spreads pods to the emptiest nodes,
//! `MostAllocated` packs them onto the fullest.

use crate::cache::NodeInfo;
use crate::framework::normalize::MAX_NODE_SCORE;
use crate::framework::{Code, Cycle, CycleState, Events, Plugin, PreFilterResult, Status};
use crate::objects::pod::Part;
use crate::objects::{ResourceName, Resources};

/// How the score ranks nodes that fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScoringStrategy {
    /// Prefer nodes with more left free (spreading).
    #[default]
    LeastAllocated,
    /// Prefer nodes with less left free (bin packing).
    MostAllocated,
}

/// The plugin.
pub struct NodeResourcesFit {
    pub strategy: ScoringStrategy,
}

/// The resources the score weighs, and their weights (Kubernetes'
/// default: CPU and memory, 1 each).
pub const SCORED: [(ResourceName, i64); 2] = [(ResourceName::Cpu, 1), (ResourceName::Memory, 1)];

/// One resource a node lacks for a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insufficient {
    pub resource: ResourceName,
    /// Even an empty node would lack it: removing pods cannot help.
    pub unresolvable: bool,
}

impl Insufficient {
    /// Kubernetes' reason: `Insufficient cpu`, or `Too many pods`.
    pub fn reason(&self) -> String {
        match self.resource {
            ResourceName::Pods => "Too many pods".into(),
            r => format!("Insufficient {}", r.as_str()),
        }
    }
}

// ANCHOR: fits
/// What a node with `allocatable`, already holding pods that request
/// `requested` in all (`requested.pods` of them), lacks for a pod that
/// requests `pod`: empty when it fits. A resource the pod does not ask
/// for is never lacking, however full the node.
pub fn insufficient(
    pod: &Resources,
    requested: &Resources,
    allocatable: &Resources,
) -> Vec<Insufficient> {
    let mut lacking = Vec::new();
    if requested.pods + 1 > allocatable.pods {
        lacking.push(Insufficient {
            resource: ResourceName::Pods,
            unresolvable: false,
        });
    }
    for resource in [
        ResourceName::Cpu,
        ResourceName::Memory,
        ResourceName::EphemeralStorage,
    ] {
        let (want, free) = (
            pod.get(resource),
            allocatable.get(resource) - requested.get(resource),
        );
        if want > 0 && want > free {
            lacking.push(Insufficient {
                resource,
                unresolvable: want > allocatable.get(resource),
            });
        }
    }
    lacking
}
// ANCHOR_END: fits

// ANCHOR: least_allocated
/// `LeastAllocated` for one resource: the share left free once the pod is
/// placed, 0..=100 (0 when it would not fit or the node has none).
pub fn least_allocated(requested: i64, allocatable: i64) -> i64 {
    if allocatable == 0 || requested > allocatable {
        return 0;
    }
    (allocatable - requested) * MAX_NODE_SCORE / allocatable
}

/// `MostAllocated` for one resource: the share in use once the pod is
/// placed, 0..=100 (a node counted as over-full scores as full).
pub fn most_allocated(requested: i64, allocatable: i64) -> i64 {
    if allocatable == 0 {
        return 0;
    }
    requested.min(allocatable) * MAX_NODE_SCORE / allocatable
}

/// The weighted average of a per-resource score over `SCORED`, skipping
/// resources the node has none of. `requested` already includes the pod.
pub fn weighted_score(
    per_resource: fn(i64, i64) -> i64,
    requested: &Resources,
    allocatable: &Resources,
) -> i64 {
    let (mut sum, mut weights) = (0, 0);
    for (resource, weight) in SCORED {
        let alloc = allocatable.get(resource);
        if alloc == 0 {
            continue;
        }
        sum += per_resource(requested.get(resource), alloc) * weight;
        weights += weight;
    }
    if weights == 0 { 0 } else { sum / weights }
}
// ANCHOR_END: least_allocated

impl Plugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }

    fn events(&self) -> Events {
        Events::POD_DELETED
            .or(Events::NODE_ADDED)
            .or(Events::NODE_ALLOCATABLE)
    }

    fn pre_filter(&self, cycle: Cycle, _state: &mut CycleState) -> Result<PreFilterResult, Status> {
        match cycle.pod.problem(Part::Resources) {
            Some(problem) => Err(Status::unresolvable(problem)),
            None => Ok(PreFilterResult::AllNodes),
        }
    }

    fn filter(&self, cycle: Cycle, _state: &CycleState, node: &NodeInfo) -> Status {
        let lacking = insufficient(&cycle.pod.requests, &node.requested, &node.node.allocatable);
        if lacking.is_empty() {
            return Status::success();
        }
        let mut status = Status::unschedulable(lacking.iter().map(Insufficient::reason).collect());
        if lacking.iter().any(|l| l.unresolvable) {
            status.code = Code::UnschedulableAndUnresolvable;
        }
        status
    }

    /// Scores count pods without requests as the defaults (100m, 200 MiB),
    /// so best-effort pods still spread.
    fn score(&self, cycle: Cycle, _state: &CycleState, node: &NodeInfo) -> i64 {
        let mut requested = node.non_zero_requested;
        requested.add(&cycle.pod.non_zero_requests);
        let per_resource = match self.strategy {
            ScoringStrategy::LeastAllocated => least_allocated,
            ScoringStrategy::MostAllocated => most_allocated,
        };
        weighted_score(per_resource, &requested, &node.node.allocatable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(milli_cpu: i64, memory: i64, pods: i64) -> Resources {
        Resources {
            milli_cpu,
            memory,
            pods,
            ..Resources::default()
        }
    }

    #[test]
    fn a_pod_fits_in_what_is_left() {
        let node = res(1000, 1000, 10);
        assert!(insufficient(&res(500, 500, 0), &res(500, 500, 2), &node).is_empty());
        let lacking = insufficient(&res(600, 600, 0), &res(500, 500, 2), &node);
        let reasons: Vec<String> = lacking.iter().map(Insufficient::reason).collect();
        assert_eq!(reasons, ["Insufficient cpu", "Insufficient memory"]);
        assert!(!lacking[0].unresolvable);
        assert!(insufficient(&res(2000, 0, 0), &res(0, 0, 0), &node)[0].unresolvable);
        let full = insufficient(&res(0, 0, 0), &res(0, 0, 10), &node);
        assert_eq!(full[0].reason(), "Too many pods");
    }

    #[test]
    fn a_pod_without_requests_fits_a_full_node() {
        assert!(insufficient(&res(0, 0, 0), &res(1000, 1000, 2), &res(1000, 1000, 10)).is_empty());
    }

    #[test]
    fn least_and_most_allocated() {
        assert_eq!(least_allocated(250, 1000), 75);
        assert_eq!(least_allocated(1500, 1000), 0);
        assert_eq!(most_allocated(250, 1000), 25);
        assert_eq!(most_allocated(1500, 1000), 100);
        // CPU 75 free, memory 50 free: (75 + 50) / 2.
        let score = weighted_score(least_allocated, &res(250, 500, 0), &res(1000, 1000, 0));
        assert_eq!(score, 62);
        assert_eq!(
            weighted_score(least_allocated, &res(1, 1, 0), &res(0, 0, 0)),
            0
        );
    }
}
