//! The StatefulSet controller's decisions, as pure functions (Kubernetes'
//! `StatefulSetControl.updateStatefulSet`): which pod to create, which to
//! delete, or to wait; the controller (`mod.rs`) carries them out.
//!
//! Three passes over the pods, in this order, each of which may stop the
//! reconcile:
//!
//! 1. **replicas**, lowest ordinal first: a missing pod is created, a
//!    finished one (`Succeeded`/`Failed`) deleted to be made again. Under
//!    `OrderedReady` the pass stops at the first pod it acted on, or that
//!    is terminating or not yet Running and available: `web-1` is not
//!    created before `web-0` is ready;
//! 2. **condemned** pods (ordinals past the wanted ones), highest first:
//!    deleted, under `OrderedReady` one at a time and only once every
//!    replica is healthy;
//! 3. **rolling update**, highest ordinal first, down to the partition:
//!    the first pod of an old revision is deleted (pass 1 makes it again
//!    from the new template on a later reconcile), and the pass stops at
//!    any pod not yet healthy: one pod at a time, under both policies.

use jiff::Timestamp;
use orc_client::conditions::is_ready;
use serde_json::Value;

use super::identity::{ordinal_of, revision_of};
use super::object::{PodManagement, StatefulSet, UpdateStrategy};
use crate::claims::is_deleting;
use crate::object::{Workload, namespace_and_name};
use crate::replicaset::pods::is_available;

/// Which revision's template a new pod is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revision {
    /// `status.currentRevision`: below a rolling update's partition.
    Current,
    /// The revision of the set's template now.
    Update,
}

/// One step for the controller to take.
#[derive(Debug, Clone, PartialEq)]
pub enum Step<'a> {
    /// Create the pod with this ordinal from that revision's template.
    Create(i64, Revision),
    /// Delete this pod.
    Delete(&'a Value),
}

fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Running, and Ready for `min_ready` seconds at `now`: what Kubernetes
/// calls `isRunningAndAvailable`, the condition to move on.
pub fn is_healthy(pod: &Value, min_ready: i64, now: Timestamp) -> bool {
    phase(pod) == "Running" && is_available(pod, min_ready, now) && !is_deleting(pod)
}

fn is_finished(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// The pods of `sts` split by ordinal: the wanted ones (a slot per ordinal,
/// empty when missing) and the condemned, lowest ordinal first.
pub struct Members<'a> {
    /// `(ordinal, pod)` for each ordinal in `spec.ordinals`.
    pub replicas: Vec<(i64, Option<&'a Value>)>,
    /// `(ordinal, pod)` for the pods outside them.
    pub condemned: Vec<(i64, &'a Value)>,
}

/// Sorts `pods` (the set's own) into [`Members`].
pub fn members<'a>(sts: &Value, pods: &'a [Value]) -> Members<'a> {
    let (_, set) = namespace_and_name(sts);
    let wanted = StatefulSet(sts).ordinals();
    let mut replicas: Vec<(i64, Option<&Value>)> = wanted.clone().map(|o| (o, None)).collect();
    let mut condemned = Vec::new();
    for pod in pods {
        let Some(ordinal) = ordinal_of(set, pod) else {
            continue;
        };
        if wanted.contains(&ordinal) {
            replicas[(ordinal - wanted.start) as usize].1 = Some(pod);
        } else {
            condemned.push((ordinal, pod));
        }
    }
    condemned.sort_by_key(|(ordinal, _)| *ordinal);
    Members {
        replicas,
        condemned,
    }
}

// ANCHOR: decide
/// The steps for `sts` given its `pods` and the name of its update
/// revision, at `now`. Under `OrderedReady` at most one step.
pub fn decide<'a>(sts: &Value, pods: &'a [Value], update: &str, now: Timestamp) -> Vec<Step<'a>> {
    let set = StatefulSet(sts);
    let ordered = set.pod_management() == PodManagement::OrderedReady;
    let min_ready = set.min_ready_seconds();
    let healthy = |pod: &Value| is_healthy(pod, min_ready, now);
    let members = members(sts, pods);
    let mut steps = Vec::new();
    if is_deleting(sts) {
        return steps; // its pods are the garbage collector's now
    }
    // Pass 1: every wanted ordinal has a live pod.
    for (ordinal, pod) in &members.replicas {
        let blocked = match pod {
            None => {
                steps.push(Step::Create(*ordinal, revision_for(set, *ordinal)));
                true
            }
            Some(pod) if is_finished(pod) && !is_deleting(pod) => {
                steps.push(Step::Delete(pod));
                true
            }
            Some(pod) => !healthy(pod),
        };
        if blocked && ordered {
            return steps;
        }
    }
    // Pass 2: condemned pods go, highest ordinal first.
    let first_unhealthy = members
        .condemned
        .iter()
        .find(|(_, p)| !(phase(p) == "Running" && is_ready(p)))
        .map(|(o, _)| *o);
    for (ordinal, pod) in members.condemned.iter().rev() {
        if is_deleting(pod) {
            if ordered {
                return steps;
            }
            continue;
        }
        // An unhealthy pod waits for the lowest unhealthy one (which may
        // be it) under OrderedReady: the order is kept even when broken.
        let ready = phase(pod) == "Running" && is_ready(pod);
        if ordered && !ready && Some(*ordinal) != first_unhealthy {
            return steps;
        }
        steps.push(Step::Delete(pod));
        if ordered {
            return steps;
        }
    }
    // Pass 3: the rolling update, one pod at a time from the top.
    if let UpdateStrategy::RollingUpdate { partition } = set.update_strategy() {
        let from = set.start_ordinal() + partition;
        for (ordinal, pod) in members.replicas.iter().rev() {
            if *ordinal < from {
                break;
            }
            let Some(pod) = pod else {
                break; // being created (Parallel): wait for it
            };
            if revision_of(pod) != update && !is_deleting(pod) {
                steps.push(Step::Delete(pod));
                break;
            }
            if !healthy(pod) {
                break;
            }
        }
    }
    steps
}
// ANCHOR_END: decide

/// Which revision the pod with `ordinal` is made from: below a rolling
/// update's partition the current one (those pods are not to change yet),
/// else the update revision (under OnDelete too: a deleted pod comes back
/// new).
pub fn revision_for(set: StatefulSet, ordinal: i64) -> Revision {
    match set.update_strategy() {
        UpdateStrategy::RollingUpdate { partition }
            if ordinal < set.start_ordinal() + partition =>
        {
            Revision::Current
        }
        _ => Revision::Update,
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
