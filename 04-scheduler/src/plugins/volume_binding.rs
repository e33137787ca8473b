//! `VolumeBinding`: a pod goes only where its claimed volumes can be used.
//!
//! Kubernetes' plugin also finds and reserves static volumes for unbound
//! claims during scheduling; orc leaves pairing to the PersistentVolume
//! controller (chapter 05) and keeps the two rules placement needs:
//!
//! - PreFilter: every claim must exist, and an unbound claim must be one
//!   that waits for its first consumer (the provisioner will make its
//!   volume on the chosen node); any other unbound claim keeps the pod
//!   pending until the controller binds it.
//! - Filter: a bound volume's node affinity must admit the node (a local
//!   directory lives on one node only).
//!
//! The scheduler's shell then writes the chosen node on each waiting claim
//! (`volume.kubernetes.io/selected-node`) before it binds the pod.

use crate::cache::NodeInfo;
use crate::framework::{Cycle, CycleState, Events, Plugin, PreFilterResult, Status};
use crate::objects::node_selector::NodeSelectorTerm;
use crate::objects::volumes::ClaimState;

/// Kubernetes' reasons.
pub const UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";
pub const AFFINITY_CONFLICT: &str = "node(s) had volume node affinity conflict";

/// The plugin.
pub struct VolumeBinding;

const NAME: &str = "VolumeBinding";

/// The node affinities of the pod's bound volumes, for Filter.
struct BoundAffinities(Vec<Vec<NodeSelectorTerm>>);

impl Plugin for VolumeBinding {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> Events {
        Events::VOLUMES
            .or(Events::NODE_ADDED)
            .or(Events::NODE_LABELS)
    }

    fn pre_filter(&self, cycle: Cycle, state: &mut CycleState) -> Result<PreFilterResult, Status> {
        let pod = cycle.pod;
        if pod.claims.is_empty() {
            return Ok(PreFilterResult::Skip);
        }
        let mut affinities = Vec::new();
        for name in &pod.claims {
            match cycle.snapshot.volumes.claim(&pod.namespace, name) {
                Err(problem) => return Err(Status::unresolvable(problem)),
                Ok(ClaimState::Missing) => {
                    return Err(Status::unresolvable(format!(
                        "persistentvolumeclaim \"{name}\" not found"
                    )));
                }
                Ok(ClaimState::Unbound) => return Err(Status::unresolvable(UNBOUND_IMMEDIATE)),
                Ok(ClaimState::Bound(Some(terms))) => affinities.push(terms),
                Ok(ClaimState::Bound(None) | ClaimState::WaitsForConsumer) => {}
            }
        }
        state.write(NAME, BoundAffinities(affinities));
        Ok(PreFilterResult::AllNodes)
    }

    fn filter(&self, _cycle: Cycle, state: &CycleState, node: &NodeInfo) -> Status {
        let Some(BoundAffinities(affinities)) = state.read(NAME) else {
            return Status::success();
        };
        let labels = &node.node.labels;
        let admitted = affinities
            .iter()
            .all(|terms| terms.iter().any(|t| t.matches(node.name(), labels)));
        if admitted {
            Status::success()
        } else {
            Status::unresolvable(AFFINITY_CONFLICT)
        }
    }
}
