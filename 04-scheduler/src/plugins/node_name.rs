//! `NodeName`: a pod that names its node runs there and nowhere else.
//!
//! Pods that already name a node never reach the queue (they are placed);
//! the filter matters for callers that judge such a pod against nodes,
//! such as an explanation, and keeps the profile Kubernetes' own.

use crate::cache::NodeInfo;
use crate::framework::{Cycle, CycleState, Events, Plugin, Status};

/// Kubernetes' reason.
pub const REASON: &str = "node(s) didn't match the requested node name";

/// The plugin.
pub struct NodeName;

/// Whether a pod naming `wanted` (empty: none) may run on `node`.
pub fn fits(wanted: &str, node: &str) -> bool {
    wanted.is_empty() || wanted == node
}

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        "NodeName"
    }

    fn events(&self) -> Events {
        Events::NODE_ADDED
    }

    fn filter(&self, cycle: Cycle, _state: &CycleState, node: &NodeInfo) -> Status {
        if fits(&cycle.pod.node_name, node.name()) {
            Status::success()
        } else {
            Status::unresolvable(REASON)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_node() {
        assert!(fits("", "a"));
        assert!(fits("a", "a"));
        assert!(!fits("a", "b"));
    }
}
