//! Which pods must go for the pod to fit one node (Kubernetes'
//! `SelectVictimsOnNode`), pure.
//!
//! 1. Every pod of lower priority is a *potential* victim; with none, the
//!    node cannot be helped.
//! 2. Remove them all from a copy of the node. If the pod still does not
//!    fit, evicting cannot help here either.
//! 3. Put them back one at a time, keeping each one the pod still fits
//!    beside: first those whose eviction would break a
//!    PodDisruptionBudget (`budgets.rs`), then the others, each group
//!    most important first (higher priority, then longer running). Those
//!    that cannot come back are the victims: the fewest and least
//!    important pods that make room, sparing budgets where they can. How
//!    many victims still break a budget is counted for `pick.rs`.

use std::cmp::Ordering;
use std::sync::Arc;

use super::budgets::{Budget, split_by_budgets};
use crate::cache::NodeInfo;
use crate::framework::{Cycle, Filters, Status, Victim};
use crate::objects::PodInfo;

/// A node's victims, most important first within each group, and how
/// many of them break a PodDisruptionBudget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Victims {
    pub victims: Vec<Victim>,
    pub budget_violations: usize,
}

/// Kubernetes' reason for a node without a pod of lower priority.
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// Whether `a` matters more than `b`: higher priority, or equal priority
/// and started earlier (a pod not started yet counts as started now, the
/// latest of all). Kubernetes' `MoreImportantPod`.
pub fn more_important(a: &PodInfo, b: &PodInfo) -> Ordering {
    b.priority
        .cmp(&a.priority)
        .then_with(|| match (&a.start_time, &b.start_time) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        })
}

// ANCHOR: select_victims
/// The victims on `node` that let the cycle's pod fit, sparing the pods
/// `budgets` protect where possible; or why there are none.
pub fn select_victims(
    cycle: Cycle,
    node: &NodeInfo,
    filters: &dyn Filters,
    budgets: &[Budget],
) -> Result<Victims, Status> {
    let preemptor = cycle.pod.priority;
    let mut potential: Vec<Arc<PodInfo>> = node
        .pods
        .iter()
        .filter(|p| p.priority < preemptor)
        .cloned()
        .collect();
    if potential.is_empty() {
        return Err(Status::unresolvable(NO_VICTIMS));
    }
    // Step 2: without every lower-priority pod, does the pod fit at all?
    let mut trial = node.clone();
    for pod in &potential {
        trial.remove_pod(&pod.uid);
    }
    let status = filters.fits(cycle, &trial);
    if !status.is_success() {
        return Err(status);
    }
    // Step 3: give back the pods a budget protects, then the others,
    // the most important first; what cannot stay goes.
    potential.sort_by(|a, b| more_important(a, b));
    let (violating, others) = split_by_budgets(potential, budgets);
    let mut chosen = Victims {
        victims: Vec::new(),
        budget_violations: 0,
    };
    for (breaks_budget, pod) in violating
        .into_iter()
        .map(|p| (true, p))
        .chain(others.into_iter().map(|p| (false, p)))
    {
        trial.add_pod(pod.clone());
        if !filters.fits(cycle, &trial).is_success() {
            trial.remove_pod(&pod.uid);
            chosen.budget_violations += usize::from(breaks_budget);
            chosen.victims.push(Victim {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
                uid: pod.uid.clone(),
                priority: pod.priority,
            });
        }
    }
    Ok(chosen)
}
// ANCHOR_END: select_victims
