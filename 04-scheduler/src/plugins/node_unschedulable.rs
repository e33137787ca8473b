//! `NodeUnschedulable`: a cordoned node (`spec.unschedulable`, what
//! `kubectl cordon` sets) takes no new pods, except those that tolerate
//! the `node.kubernetes.io/unschedulable:NoSchedule` taint (DaemonSet
//! pods carry that toleration, so they still land on cordoned nodes).

use crate::cache::NodeInfo;
use crate::framework::{Cycle, CycleState, Events, Plugin, Status};
use crate::objects::taints::{Effect, Taint, Toleration, tolerates};

/// Kubernetes' reason.
pub const REASON: &str = "node(s) were unschedulable";
/// The taint a cordon stands for.
pub const TAINT_KEY: &str = "node.kubernetes.io/unschedulable";

/// The plugin.
pub struct NodeUnschedulable;

/// Whether a pod with `tolerations` may go to a node that is (or is not)
/// `cordoned`.
pub fn fits(cordoned: bool, tolerations: &[Toleration]) -> bool {
    let taint = Taint {
        key: TAINT_KEY.into(),
        value: String::new(),
        effect: Effect::NoSchedule,
    };
    !cordoned || tolerations.iter().any(|t| tolerates(t, &taint))
}

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        "NodeUnschedulable"
    }

    fn events(&self) -> Events {
        Events::NODE_ADDED.or(Events::NODE_TAINTS)
    }

    fn filter(&self, cycle: Cycle, _state: &CycleState, node: &NodeInfo) -> Status {
        if fits(node.node.unschedulable, &cycle.pod.tolerations) {
            Status::success()
        } else {
            Status::unresolvable(REASON)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::taints::Operator;

    #[test]
    fn cordoned_nodes_take_only_pods_that_tolerate_it() {
        assert!(fits(false, &[]));
        assert!(!fits(true, &[]));
        let tolerate = Toleration {
            key: TAINT_KEY.into(),
            operator: Operator::Exists,
            value: String::new(),
            effect: Some(Effect::NoSchedule),
        };
        assert!(fits(true, &[tolerate]));
    }
}
