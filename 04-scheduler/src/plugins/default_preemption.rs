//! `DefaultPreemption`'s PostFilter, without preemption yet.
//!
//! When no node fits, Kubernetes asks whether evicting lower-priority pods
//! would make room, and says what it found after the filters' reasons
//! (`preemption: 0/3 nodes are available: ...`). orc has no PriorityClass
//! yet: every pod has priority 0, and a pod can only preempt pods of lower
//! priority, so there are never victims. This plugin says exactly what
//! Kubernetes says in that situation: for a node refused for a reason
//! evictions cannot fix, `Preemption is not helpful for scheduling`; for
//! the others, `No preemption victims found for incoming pod`.
//!
//! Preemption proper (choosing victims, `status.nominatedNodeName`,
//! graceful eviction) replaces the body of `post_filter`; the seam is this
//! plugin's place in the profile's `post_filters`.

use crate::framework::decision::fit_error_message;
use crate::framework::{Code, Cycle, Plugin, Status};

/// The plugin.
pub struct DefaultPreemption;

/// Kubernetes' reason for a node where evictions cannot help.
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// Kubernetes' reason for a node with no pod of lower priority to evict.
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";
/// Kubernetes' answer for a pod that may not preempt.
pub const NEVER: &str = "not eligible due to preemptionPolicy=Never.";

// ANCHOR: preemption_message
/// The PostFilter message for the nodes that refused the pod.
pub fn message(nodes_total: usize, rejections: &[(String, Status)]) -> String {
    let verdicts: Vec<(String, Status)> = rejections
        .iter()
        .map(|(node, status)| {
            let reason = match status.code {
                Code::UnschedulableAndUnresolvable => NOT_HELPFUL,
                _ => NO_VICTIMS,
            };
            (node.clone(), Status::unschedulable(vec![reason.into()]))
        })
        .collect();
    format!(
        "preemption: {}",
        fit_error_message(nodes_total, None, &verdicts, None)
    )
}
// ANCHOR_END: preemption_message

impl Plugin for DefaultPreemption {
    fn name(&self) -> &'static str {
        "DefaultPreemption"
    }

    fn post_filter(&self, cycle: Cycle, rejections: &[(String, Status)]) -> Option<Status> {
        let message = if cycle.pod.never_preempts {
            NEVER.to_string()
        } else {
            message(cycle.snapshot.nodes.len(), rejections)
        };
        Some(Status::unschedulable(vec![message]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_what_kubernetes_says_without_victims() {
        let rejections = vec![
            (
                "a".to_string(),
                Status::unschedulable(vec!["Insufficient cpu".into()]),
            ),
            (
                "b".to_string(),
                Status::unresolvable("node(s) were unschedulable"),
            ),
        ];
        assert_eq!(
            message(2, &rejections),
            "preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, \
             1 Preemption is not helpful for scheduling."
        );
    }
}
