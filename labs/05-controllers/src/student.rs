//! Your code for lab 05. Replace each `todo!()`; `cargo lab 05` tells you
//! which tasks pass. The doc comments say what orc's version does; chapter 05
//! explains why.

// The parameters, and the imports you will need, are unused until you
// write the bodies.
#![allow(unused_variables, unused_imports)]

use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use serde_json::Value;

use crate::taints::{Effect, parse_taints, parse_tolerations, untolerated};
use crate::{
    CalculationError, FOREGROUND, Node, ORPHAN, OwnerState, OwnerVerdict, Placement, PodSample,
    PodState, Propagation, Proposal, Replicas, Schedule, Share, Target, Verdict, node_selector,
};

/// Task 1. The object's finalizers once a DELETE asking for `policy` is
/// recorded. `None` (the client chose nothing) keeps them as they are.
/// Otherwise the collector's two finalizers, [`FOREGROUND`] and
/// [`ORPHAN`], are removed, every other finalizer is kept in its order, and
/// Foreground appends [`FOREGROUND`], Orphan appends [`ORPHAN`],
/// Background appends nothing.
pub fn finalizers(current: &[String], policy: Option<Propagation>) -> Vec<String> {
    todo!()
}

/// Task 2. The verdict on a dependent that is not being deleted itself,
/// given its own finalizers and, for each owner reference, the owner's uid
/// and state:
///
/// - no owner references: [`Verdict::Keep`];
/// - some owner is `Solid` or `Unresolvable` (it holds the dependent): keep
///   it, but drop the references to `Dangling` and then `Waiting` owners
///   ([`Verdict::RemoveReferences`] with their uids in that order), or
///   [`Verdict::Keep`] if there are none;
/// - otherwise, if some owner is `Waiting` (deleted in the foreground):
///   `Delete(Foreground)`;
/// - otherwise (every owner is gone): delete, passing on the dependent's
///   own choice: Orphan if it has the [`ORPHAN`] finalizer, else
///   Foreground if it has [`FOREGROUND`], else Background.
pub fn dependent(finalizers: &[String], owners: &[(String, OwnerState)]) -> Verdict {
    todo!()
}

/// Task 3. The verdict on `owner`, being deleted, given the objects that
/// still reference it:
///
/// - with the [`ORPHAN`] finalizer: [`OwnerVerdict::Orphan`] with the uids
///   of all its dependents (in the order given), or, when there are none,
///   `RemoveFinalizer(ORPHAN)`;
/// - otherwise (foreground): [`OwnerVerdict::Wait`] while any dependent's
///   reference to this owner has `block_owner_deletion` set, else
///   `RemoveFinalizer(FOREGROUND)`. Use [`Node::reference_to`].
pub fn deleting_owner(owner: &Node, dependents: &[&Node]) -> OwnerVerdict {
    todo!()
}

/// Task 4. How many replicas the new ReplicaSet of a rolling update should
/// have now. `desired` is the Deployment's `spec.replicas`, `max_surge` how
/// many pods above it may exist at once, `all` the `spec.replicas` of every
/// ReplicaSet (the new one included), `current` the new one's.
///
/// At or above `desired`, the answer is `desired`. Otherwise grow by the
/// room the surge leaves (`desired + max_surge - all`), never past
/// `desired`; with no room, stay at `current`.
pub fn new_replicas(desired: i64, max_surge: i64, all: i64, current: i64) -> i64 {
    todo!()
}

/// Task 5. The new `spec.replicas` of each old ReplicaSet (`old`, oldest
/// first), so that at least `desired - max_unavailable` pods stay
/// available. `new` is the new ReplicaSet.
///
/// 1. With no old replicas, change nothing. Otherwise let `all` be every
///    ReplicaSet's `wanted` and `max_scaled_down = all - (desired -
///    max_unavailable) - (new.wanted - new.available, at least 0)`; if that
///    is not positive, change nothing.
/// 2. First remove old pods that are not available (`wanted - available`,
///    per ReplicaSet, oldest first), `max_scaled_down` of them at most.
/// 3. Then, with `budget = (available pods of new and old) - (desired -
///    max_unavailable)`, take available pods away, oldest ReplicaSet first,
///    while the budget lasts.
pub fn scale_down_old(
    desired: i64,
    max_unavailable: i64,
    new: Replicas,
    old: &[Replicas],
) -> Vec<i64> {
    todo!()
}

/// Task 6. The new `spec.replicas` of each active ReplicaSet (`sets`,
/// oldest first) when their Deployment is resized to `desired` in the
/// middle of a rollout (`max_surge` is the surge at the new size).
///
/// 1. `allowed` is `desired + max_surge` (0 when `desired` is 0) and
///    `to_add = allowed - (sum of the sets' replicas)`; with 0 to add,
///    change nothing.
/// 2. Visit the sets biggest first; between equals, the newest first when
///    growing and the oldest first when shrinking.
/// 3. Each set's share: all of its replicas, negative, when `allowed` is 0;
///    else `replicas * allowed / before` rounded half away from zero,
///    minus `replicas`, where `before` is its `max_before` (or `fallback`
///    when that is missing or 0); with `before` still 0, a share of 0.
/// 4. A set gains `min(share, to_add - added so far)` when growing, `max(...)`
///    when shrinking (nothing when it has 0 replicas or nothing is left).
/// 5. The first set visited takes what is left (`to_add - added`), and
///    never goes below 0.
pub fn proportional(desired: i64, max_surge: i64, sets: &[Share], fallback: i64) -> Vec<i64> {
    todo!()
}

/// Task 7. How long a Job waits, after `failures` pod failures in a row
/// (since its last success), before it creates the next pod: nothing
/// after none, 10 s after the first, then twice as long after each one
/// more, but never more than 6 minutes. Mind the overflow: `failures` may
/// be large.
pub fn backoff_delay(failures: u32) -> Duration {
    todo!()
}

/// Task 8. The first time strictly after `after` at which `schedule` (five
/// fields, or a macro such as `@hourly`) fires, read in the time zone
/// `zone` (an IANA name such as `Asia/Tokyo`; `None`: the system's zone);
/// `None` when the schedule or the zone does not parse, or it never fires.
/// `Schedule::parse` and `Schedule::next_after` do the cron part; the
/// zone is yours: `Timestamp::to_zoned`, `TimeZone::get`, `Zoned::timestamp`.
pub fn next_fire(schedule: &str, zone: Option<&str>, after: Timestamp) -> Option<Timestamp> {
    todo!()
}

/// Task 9. What `node` (a Node object) means for a DaemonSet whose pods
/// have the spec `spec` (the DaemonSet tolerations already added), as
/// Kubernetes' `NodeShouldRunDaemonPod`:
///
/// - a `spec.nodeName` that names another node: neither run nor stay;
/// - the node must pass `nodeSelector` and the required node affinity
///   (`node_selector::parse(spec)?` reads both, `required_match` judges;
///   the node's labels are `orc_client::selectors::labels_of(node)`),
///   else neither run nor stay;
/// - then its `spec.taints`: none untolerated among `NoSchedule` and
///   `NoExecute` → run and stay; otherwise do not run, but stay unless an
///   untolerated taint is `NoExecute`.
///
/// An error is the parser's (a malformed affinity or toleration).
pub fn daemon_placement(spec: &Value, node: &Value) -> Result<Placement, String> {
    todo!()
}

/// Task 10. How many replicas one metric asks for (Kubernetes' replica
/// calculator), from the `current` replica count and the target's pods.
///
/// 1. No pods: `Err(CalculationError::NoPods)`.
/// 2. The signal is the `Ready` pods that have a `usage`: sum their usage
///    and their requests. None: `Err(NoMetrics)`. The ratio to the target:
///    for `Utilization(p)`, `utilization = usage * 100 / requests` (whole
///    percent, rounded down; `Err(NoRequests)` when requests sum to 0) and
///    `ratio = utilization / p`; for `AverageValue(v)`, `average = usage /
///    pods` and `ratio = average / v`. The `Proposal` always reports that
///    `utilization` (0 for an average) and `average = usage / pods`.
/// 3. With no `Ready` pod missing its usage, and no `NotReady` pod while
///    `ratio > 1`: `current` if `|1 - ratio| <= 0.1`, else
///    `ceil(ratio * pods)`.
/// 4. Otherwise assume what damps the change: a missing pod uses nothing
///    when `ratio > 1`, and when `ratio < 1` its whole request (times
///    `max(p, 100) / 100`) or `v`; when `ratio > 1` each `NotReady` pod
///    joins, using nothing. Take the new ratio over all those pods: keep
///    `current` when it is within 0.1 of 1 or on the other side of 1 than
///    `ratio`; else `ceil(new ratio * pods)`, unless that moves against
///    the new ratio's direction (then `current`). `Ignored` pods never count.
pub fn hpa_desired_replicas(
    current: i64,
    pods: &[PodSample],
    target: Target,
) -> Result<Proposal, CalculationError> {
    todo!()
}
