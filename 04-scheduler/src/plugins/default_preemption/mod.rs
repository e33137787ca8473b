//! `DefaultPreemption`: when no node fits a pod, evict pods of lower
//! priority to make room (Kubernetes' PostFilter plugin of that name).
//!
//! Priorities come from PriorityClasses: the API server writes a class's
//! value into `spec.priority` when the pod is created. A pod may evict
//! only pods of *lower* priority, and never when its `preemptionPolicy`
//! is `Never`. The plugin decides, purely:
//!
//! 1. whether the pod may preempt at all ([`eligible`]);
//! 2. on every node refused for a reason evictions could fix (a
//!    `Unschedulable` verdict such as `Insufficient cpu`, not an
//!    unresolvable one such as a taint), which pods would have to go
//!    (`victims.rs`), sparing those a PodDisruptionBudget protects where
//!    it can (`budgets.rs`);
//! 3. which of those nodes costs least, fewest broken budgets first
//!    (`pick.rs`).
//!
//! The budgets are read from the informer cache the plugin is given
//! ([`DefaultPreemption::with_budgets`]; kube-scheduler's plugin reads
//! its `pdbLister` the same way). Victims are deleted, not evicted: a
//! budget steers the choice, it cannot stop a preemption.
//!
//! The answer is a [`Nomination`]: the scheduler's shell deletes the
//! victims gracefully, writes the node into the pod's
//! `status.nominatedNodeName`, and tries the pod again once the victims
//! are gone. When no node can be helped, the message says why, node by
//! node, after `preemption:` in the pod's `FailedScheduling` event.

pub mod budgets;
pub mod pick;
pub mod victims;

use std::collections::HashMap;
use std::sync::Arc;

use orc_client::informer::Cache;

use crate::framework::decision::fit_error_message;
use crate::framework::{
    Code, Cycle, Filters, NodeName, Nomination, Plugin, PostFilterResult, Status,
};

pub use victims::NO_VICTIMS;

/// The plugin, with the PodDisruptionBudgets it weighs: an informer's
/// cache of them (empty by default: no budget protects anything).
#[derive(Default)]
pub struct DefaultPreemption {
    budgets: Arc<Cache>,
}

impl DefaultPreemption {
    /// The plugin reading budgets from `budgets`, an informer's cache.
    pub fn with_budgets(budgets: Arc<Cache>) -> DefaultPreemption {
        DefaultPreemption { budgets }
    }
}

/// Kubernetes' reason for a node where evictions cannot help.
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// Kubernetes' answer for a pod that may not preempt.
pub const NEVER: &str = "not eligible due to preemptionPolicy=Never.";
/// Kubernetes' answer while the victims of an earlier preemption are
/// still terminating on the pod's nominated node.
pub const TERMINATING: &str = "not eligible due to a terminating pod on the nominated node.";

/// Kubernetes tries at least this many candidate nodes, or this share of
/// the nodes that could be helped, whichever is more
/// (`minCandidateNodesAbsolute`, `minCandidateNodesPercentage`).
const MIN_CANDIDATES: usize = 100;
const MIN_CANDIDATES_PERCENT: usize = 10;

/// Whether the pod may preempt now; the reason when not.
pub fn eligible(cycle: Cycle) -> Result<(), &'static str> {
    let pod = cycle.pod;
    if pod.never_preempts {
        return Err(NEVER);
    }
    // It already made room somewhere: wait for those victims to go rather
    // than evict more elsewhere.
    let nominated = cycle
        .snapshot
        .nodes
        .iter()
        .find(|n| !pod.nominated_node.is_empty() && n.name() == pod.nominated_node);
    if let Some(node) = nominated
        && node
            .pods
            .iter()
            .any(|p| p.terminating && p.priority < pod.priority)
    {
        return Err(TERMINATING);
    }
    Ok(())
}

// ANCHOR: preempt
/// Finds where to preempt, or says why nowhere; `budgets` are the
/// PodDisruptionBudgets to spare.
pub fn preempt(
    cycle: Cycle,
    rejections: &[(NodeName, Status)],
    filters: &dyn Filters,
    budgets: &[budgets::Budget],
) -> PostFilterResult {
    if let Err(reason) = eligible(cycle) {
        return refused(format!("preemption: {reason}"));
    }
    let nodes: HashMap<&str, _> = cycle.snapshot.nodes.iter().map(|n| (n.name(), n)).collect();
    // Nodes evictions could help; the others are answered at once.
    let mut verdicts = Vec::new();
    let mut helpable = Vec::new();
    for (name, status) in rejections {
        match (status.code, nodes.get(&**name)) {
            (Code::Unschedulable, Some(node)) => helpable.push(*node),
            _ => verdicts.push((name.clone(), Status::unresolvable(NOT_HELPFUL))),
        }
    }
    let wanted = (helpable.len() * MIN_CANDIDATES_PERCENT / 100).max(MIN_CANDIDATES);
    let mut candidates = Vec::new();
    for node in helpable {
        if candidates.len() >= wanted {
            break;
        }
        match victims::select_victims(cycle, node, filters, budgets) {
            Ok(victims::Victims {
                victims,
                budget_violations,
            }) => {
                let top = victims.iter().map(|v| v.priority).max();
                let earliest_top_start = node
                    .pods
                    .iter()
                    .filter(|p| Some(p.priority) == top && victims.iter().any(|v| v.uid == p.uid))
                    .filter_map(|p| p.start_time.clone())
                    .min();
                candidates.push(pick::Candidate {
                    budget_violations,
                    nomination: Nomination {
                        node: node.name().to_string(),
                        victims,
                    },
                    earliest_top_start,
                });
            }
            Err(status) => verdicts.push((node.shared_name.clone(), status)),
        }
    }
    match pick::pick(candidates) {
        Some(chosen) => PostFilterResult {
            status: Status::success(),
            nomination: Some(chosen.nomination),
        },
        None => refused(message(cycle.snapshot.nodes.len(), &verdicts)),
    }
}
// ANCHOR_END: preempt

fn refused(message: String) -> PostFilterResult {
    PostFilterResult {
        status: Status::unschedulable(vec![message]),
        nomination: None,
    }
}

// ANCHOR: preemption_message
/// The PostFilter message when no node can be helped: each node's reason
/// counted as in the filters' message, after `preemption:`.
pub fn message<N>(nodes_total: usize, verdicts: &[(N, Status)]) -> String {
    format!(
        "preemption: {}",
        fit_error_message(nodes_total, None, verdicts, None)
    )
}
// ANCHOR_END: preemption_message

impl Plugin for DefaultPreemption {
    fn name(&self) -> &'static str {
        "DefaultPreemption"
    }

    fn post_filter(
        &self,
        cycle: Cycle,
        rejections: &[(NodeName, Status)],
        filters: &dyn Filters,
    ) -> Option<PostFilterResult> {
        let budgets = budgets::Budget::all(&self.budgets.list());
        Some(preempt(cycle, rejections, filters, &budgets))
    }
}

#[cfg(test)]
mod tests;
