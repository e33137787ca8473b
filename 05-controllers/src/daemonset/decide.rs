//! What a DaemonSet's controller does on one reconcile, as pure
//! functions of the nodes, the pods on each, and the current revision:
//! which nodes get a pod, which pods go, and the status to report.
//!
//! Two passes, as in Kubernetes' `syncDaemonSet`:
//!
//! 1. [`manage`]: one pod per node that should run one, none where no pod
//!    may stay (Kubernetes' `podsShouldBeOnNode`). Finished pods are
//!    replaced (failed ones within the back-off of `backoff.rs`); a node with two pods keeps the oldest (or, while a surge
//!    is under way, one old and one new);
//! 2. [`rolling_update`], only when pass 1 has nothing to do: for
//!    `RollingUpdate`, old pods are deleted (and, with `maxSurge`, new pods
//!    created beside them) within the strategy's bounds; the next `manage`
//!    fills each emptied node with a new pod.

use jiff::Timestamp;
use orc_client::conditions::is_ready;
use orc_client::time;
use serde_json::{Map, Value, json};

use super::object::DaemonSet as DaemonSetView;
use super::placement::Placement;
use super::revisions::is_updated;
use crate::claims::is_deleting;
use crate::object::generation;
use crate::replicaset::pods::is_available;

/// One node and the DaemonSet's pods meant for it.
#[derive(Debug, Clone)]
pub struct NodePods<'a> {
    /// The node's name.
    pub node: String,
    /// What the node means for the DaemonSet; `None` when the node no
    /// longer exists (its pods are orphans).
    pub placement: Option<Placement>,
    /// The pods whose target is this node, being deleted ones included.
    pub pods: Vec<&'a Value>,
}

/// Why a pod is deleted; it decides the event and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// It succeeded: a daemon should not finish. Replaced at once.
    Finished,
    /// It failed: replaced, but no faster than the failed-pod back-off
    /// of its node allows (`backoff.rs`), with a `FailedDaemonPod` event.
    Failed,
    /// A second pod on a node that needs one.
    Excess,
    /// The node no longer accepts it (selector, affinity, a `NoExecute`
    /// taint).
    NotEligible,
    /// Its node is gone: deleted at once, grace 0, as Kubernetes' pod
    /// garbage collector deletes the pods of a vanished node (no agent is
    /// left to stop them gracefully).
    NodeGone,
    /// An old pod replaced by the rolling update.
    Replaced,
}

/// What one reconcile does.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Plan<'a> {
    /// Nodes that get a new pod of the current revision.
    pub create_on: Vec<String>,
    /// Pods to delete, and why.
    pub delete: Vec<(&'a Value, Why)>,
}

fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn is_terminal(pod: &Value) -> bool {
    matches!(phase(pod), "Failed" | "Succeeded")
}

fn is_bound(pod: &Value) -> bool {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty())
}

/// Bound pods first, then oldest first, then by name (Kubernetes'
/// `podByCreationTimestampAndPhase`): the first is the one a node keeps.
fn oldest_first(pods: &mut [&Value]) {
    pods.sort_by(|a, b| {
        is_bound(b)
            .cmp(&is_bound(a))
            .then_with(|| crate::object::by_age(a, b))
    });
}

// ANCHOR: manage
/// Pass 1: the pods each node should have. `hash` names the current
/// revision; `surge`: the strategy allows a second pod per node.
pub fn manage<'a>(
    nodes: &[NodePods<'a>],
    ds: &Value,
    hash: &str,
    surge: bool,
    now: Timestamp,
) -> Plan<'a> {
    let mut plan = Plan::default();
    let min_ready = DaemonSetView(ds).min_ready_seconds();
    for node in nodes {
        // Pods that finished and are already being deleted are no longer
        // this node's business.
        let pods: Vec<&Value> = node
            .pods
            .iter()
            .copied()
            .filter(|p| !(is_terminal(p) && is_deleting(p)))
            .collect();
        let Some(placement) = node.placement else {
            for pod in pods.iter().filter(|p| !is_deleting(p)) {
                plan.delete.push((pod, Why::NodeGone));
            }
            continue;
        };
        if placement.should_run && pods.is_empty() {
            plan.create_on.push(node.node.clone());
        } else if placement.should_continue_running {
            let mut running: Vec<&Value> = Vec::new();
            for pod in pods.iter().copied().filter(|p| !is_deleting(p)) {
                if phase(pod) == "Failed" {
                    plan.delete.push((pod, Why::Failed));
                } else if is_terminal(pod) {
                    plan.delete.push((pod, Why::Finished));
                } else {
                    running.push(pod);
                }
            }
            oldest_first(&mut running);
            for pod in keep_one_or_a_surge(&running, ds, hash, surge, min_ready, now) {
                plan.delete.push((pod, Why::Excess));
            }
        } else {
            for pod in pods.iter().filter(|p| !is_deleting(p)) {
                plan.delete.push((pod, Why::NotEligible));
            }
        }
    }
    plan
}
// ANCHOR_END: manage

/// Of a node's `running` pods (oldest first), the ones to delete: all but
/// the oldest; or, with `surge`, all but the oldest new and the oldest
/// old pod, and the old one too once it is not ready or the new one is
/// available (its surge is over).
fn keep_one_or_a_surge<'a>(
    running: &[&'a Value],
    ds: &Value,
    hash: &str,
    surge: bool,
    min_ready: i64,
    now: Timestamp,
) -> Vec<&'a Value> {
    if running.len() <= 1 {
        return Vec::new();
    }
    if !surge {
        return running[1..].to_vec();
    }
    let (mut oldest_new, mut oldest_old) = (None, None);
    let mut extra = Vec::new();
    for pod in running {
        let slot = if is_updated(pod, ds, hash) {
            &mut oldest_new
        } else {
            &mut oldest_old
        };
        match slot {
            None => *slot = Some(*pod),
            Some(_) => extra.push(*pod),
        }
    }
    if let (Some(new), Some(old)) = (oldest_new, oldest_old) {
        if !is_ready(old) || is_available(new, min_ready, now) {
            extra.push(old);
        }
    }
    extra
}

/// The updated and the old pod of a node, not counting pods being
/// deleted; `None` when it has two of either (pass 1 cleans that up).
fn new_and_old<'a>(
    pods: &[&'a Value],
    ds: &Value,
    hash: &str,
) -> Option<(Option<&'a Value>, Option<&'a Value>)> {
    let (mut new, mut old) = (None, None);
    for pod in pods.iter().copied().filter(|p| !is_deleting(p)) {
        let slot = if is_updated(pod, ds, hash) {
            &mut new
        } else {
            &mut old
        };
        if slot.replace(pod).is_some() {
            return None;
        }
    }
    Some((new, old))
}

// ANCHOR: rolling_update
/// Pass 2 for `RollingUpdate`, without surge: delete old pods, the
/// unavailable ones always (they serve nothing), available ones only while
/// fewer than `max_unavailable` nodes lack an available pod (Kubernetes'
/// `rollingUpdate`). Each deleted pod is replaced by pass 1 next time.
pub fn rolling_update<'a>(
    nodes: &[NodePods<'a>],
    ds: &Value,
    hash: &str,
    (max_unavailable, max_surge): (i64, i64),
    now: Timestamp,
) -> Plan<'a> {
    if max_surge > 0 {
        return surging_update(nodes, ds, hash, max_surge, now);
    }
    let min_ready = DaemonSetView(ds).min_ready_seconds();
    let mut unavailable = 0;
    let mut plan = Plan::default();
    let mut candidates = Vec::new();
    for node in nodes.iter().filter(|n| !n.pods.is_empty()) {
        match new_and_old(&node.pods, ds, hash) {
            // Pass 1 is still creating or cleaning up here.
            None | Some((None, None)) | Some((Some(_), Some(_))) => unavailable += 1,
            Some((Some(new), None)) => {
                if !is_available(new, min_ready, now) {
                    unavailable += 1;
                }
            }
            Some((None, Some(old))) => {
                if !is_available(old, min_ready, now) {
                    plan.delete.push((old, Why::Replaced));
                } else if unavailable < max_unavailable {
                    candidates.push(old);
                }
            }
        }
    }
    let room = (max_unavailable - unavailable).max(0) as usize;
    for old in candidates.into_iter().take(room) {
        plan.delete.push((old, Why::Replaced));
    }
    plan
}
// ANCHOR_END: rolling_update

// ANCHOR: surging_update
/// Pass 2 with `maxSurge`: start a new pod beside an old one (always
/// beside an unavailable old one, else on up to `max_surge` nodes at
/// once), and delete the old pod once the new one is available, so a
/// node is never without an available daemon.
fn surging_update<'a>(
    nodes: &[NodePods<'a>],
    ds: &Value,
    hash: &str,
    max_surge: i64,
    now: Timestamp,
) -> Plan<'a> {
    let min_ready = DaemonSetView(ds).min_ready_seconds();
    let mut surging = 0;
    let mut plan = Plan::default();
    let mut candidates = Vec::new();
    for node in nodes.iter().filter(|n| !n.pods.is_empty()) {
        let Some((new, old)) = new_and_old(&node.pods, ds, hash) else {
            surging += 1;
            continue;
        };
        match (new, old) {
            (_, None) => {}
            (None, Some(old)) => {
                if !is_available(old, min_ready, now) {
                    plan.create_on.push(node.node.clone());
                } else if surging < max_surge {
                    candidates.push(node.node.clone());
                }
            }
            (Some(new), Some(old)) => {
                if is_available(new, min_ready, now) {
                    plan.delete.push((old, Why::Replaced));
                } else {
                    surging += 1;
                }
            }
        }
    }
    let room = (max_surge - surging).max(0) as usize;
    plan.create_on.extend(candidates.into_iter().take(room));
    plan
}
// ANCHOR_END: surging_update

/// The counts of a DaemonSet's status.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Nodes that should run a pod.
    pub desired: i64,
    /// Of those, nodes that have one.
    pub current: i64,
    /// Nodes that have one but should not.
    pub misscheduled: i64,
    /// Nodes whose (oldest) pod is ready.
    pub ready: i64,
    /// ... and has been for `minReadySeconds`.
    pub available: i64,
    /// Nodes whose (oldest) pod runs the current revision.
    pub updated: i64,
}

// ANCHOR: counts
/// What Kubernetes' `updateDaemonSetStatus` counts, node by node; a node
/// with two pods (mid-surge) is judged by its oldest.
pub fn count(nodes: &[NodePods], ds: &Value, hash: &str, now: Timestamp) -> Counts {
    let min_ready = DaemonSetView(ds).min_ready_seconds();
    let mut counts = Counts::default();
    for node in nodes {
        let Some(placement) = node.placement else {
            continue;
        };
        let mut pods: Vec<&Value> = node
            .pods
            .iter()
            .copied()
            .filter(|p| !(is_terminal(p) && is_deleting(p)))
            .collect();
        if !placement.should_run {
            counts.misscheduled += i64::from(!pods.is_empty());
            continue;
        }
        counts.desired += 1;
        oldest_first(&mut pods);
        let Some(pod) = pods.first() else { continue };
        counts.current += 1;
        counts.ready += i64::from(is_ready(pod));
        counts.available += i64::from(is_available(pod, min_ready, now));
        counts.updated += i64::from(is_updated(pod, ds, hash));
    }
    counts
}
// ANCHOR_END: counts

/// The status of `ds` for `counts`: the four counts Kubernetes always
/// writes, the three it leaves out at zero, and the generation observed.
pub fn status(ds: &Value, counts: &Counts) -> Value {
    let mut status = Map::new();
    status.insert("desiredNumberScheduled".into(), json!(counts.desired));
    status.insert("currentNumberScheduled".into(), json!(counts.current));
    status.insert("numberMisscheduled".into(), json!(counts.misscheduled));
    status.insert("numberReady".into(), json!(counts.ready));
    let optional = [
        ("updatedNumberScheduled", counts.updated),
        ("numberAvailable", counts.available),
        ("numberUnavailable", counts.desired - counts.available),
        ("observedGeneration", generation(ds)),
    ];
    for (field, value) in optional {
        if value != 0 {
            status.insert(field.into(), json!(value));
        }
    }
    Value::Object(status)
}

/// The merge patch from the `current` status to `wanted`; `None` when
/// nothing changed. `collisionCount` and conditions are left as they are.
pub fn status_patch(current: Option<&Value>, wanted: &Value) -> Option<Value> {
    let mut patch = Map::new();
    for field in [
        "desiredNumberScheduled",
        "currentNumberScheduled",
        "numberMisscheduled",
        "numberReady",
        "updatedNumberScheduled",
        "numberAvailable",
        "numberUnavailable",
        "observedGeneration",
    ] {
        let now = current.and_then(|c| c.get(field)).filter(|v| !v.is_null());
        let next = wanted.get(field);
        if now != next {
            patch.insert(field.into(), next.cloned().unwrap_or(Value::Null));
        }
    }
    (!patch.is_empty()).then(|| json!({"status": patch}))
}

/// When a ready pod becomes available (`minReadySeconds` after it became
/// ready), no event says so: the seconds until the first such moment.
pub fn next_availability(nodes: &[NodePods], ds: &Value, now: Timestamp) -> Option<i64> {
    let min_ready = DaemonSetView(ds).min_ready_seconds();
    if min_ready <= 0 {
        return None;
    }
    nodes
        .iter()
        .flat_map(|n| n.pods.iter())
        .filter_map(|p| crate::replicaset::pods::ready_since(p))
        .map(|since| time::add_seconds(since, min_ready))
        .filter(|at| *at > now)
        .map(|at| (at.as_second() - now.as_second()).max(1))
        .min()
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
