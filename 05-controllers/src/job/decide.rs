//! One Job's reconcile as a pure function: from the Job, its pods and the
//! time, the [`Decision`]: pods to count, create and delete, the status
//! to write, the events, and when to look again. `mod.rs` carries it out.
//!
//! The order is Kubernetes' `syncJob`:
//!
//! 1. ended pods still holding the tracking finalizer are counted
//!    (succeeded, or failed unless the pod failure policy says `Ignore`);
//! 2. a Job already judged (`FailureTarget` or `SuccessCriteriaMet`)
//!    finishes once its pods are gone; otherwise it is judged now: a
//!    `FailJob` rule, `backoffLimit` exceeded, `activeDeadlineSeconds`
//!    past, or enough successes. Since Kubernetes 1.31 the verdict is
//!    first an interim condition, and `Failed`/`Complete` come only when
//!    no pod of the Job runs any more;
//! 3. a suspended Job deletes its pods; a running one creates pods up to
//!    `parallelism` (after the failure back-off) or deletes the extra.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::Timestamp;
use orc_client::conditions::is_ready;
use orc_client::events::Note;
use orc_client::time;
use serde_json::{Value, json};

use super::backoff;
use super::failure_policy::{Verdict, judge};
use super::indexes;
use super::object::Job;
use super::pods::{self, Outcome};
use crate::object::{namespace_and_name, uid};

/// Everything one reconcile does to a Job and its pods.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Decision {
    /// Ended pods to count: their uids go to
    /// `status.uncountedTerminatedPods` before their finalizers go.
    pub to_count: Vec<Counted>,
    /// Pods to create: one entry each, with its index for an Indexed Job.
    pub create: Vec<Option<i64>>,
    /// Running pods to delete (names).
    pub delete: Vec<String>,
    /// The status to write once the counted pods have lost their finalizer.
    pub status: Value,
    pub events: Vec<Note>,
    /// When to look again even if nothing changes (a back-off or a
    /// deadline ends), measured on the controller's clock.
    pub requeue_after: Option<Duration>,
    /// `ttlSecondsAfterFinished` ran out: delete the Job.
    pub expired: bool,
}

/// An ended pod, being counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub name: String,
    pub uid: String,
    /// Where its uid is parked while its finalizer goes: `succeeded` or
    /// `failed`; None for a pod that counts as neither (deleted because
    /// its Job was suspended).
    pub as_succeeded: Option<bool>,
}

/// The condition types Kubernetes 1.32 writes, and what each leads to.
const FAILURE_TARGET: &str = "FailureTarget";
const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";

/// A judgement on a Job: the condition, its reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Judgement {
    kind: &'static str,
    reason: String,
    message: String,
}

// ANCHOR: decide
/// The decision for `job`, whose pods are `pods`, at `now`.
pub fn decide(job: &Value, pods: &[Value], now: Timestamp) -> Decision {
    let j = Job(job);
    if let Some(finished) = j.finished_at() {
        return after_finish(j, finished, now);
    }
    let mut d = Decision::default();
    let tally = Tally::of(j, pods, &mut d);
    let verdict = judge_job(j, &tally, now);
    let mut status = tally.status(j, now);
    let mut conditions = j.conditions().to_vec();
    match verdict {
        Some(verdict) => {
            set_condition(
                &mut conditions,
                verdict.kind,
                &verdict.reason,
                &verdict.message,
                now,
            );
            d.delete = [tally.active.clone(), tally.redundant.clone()].concat();
            if d.delete.is_empty() && tally.terminating == 0 {
                finish(&mut d, &mut status, &mut conditions, &verdict, now);
            }
        }
        None if j.suspended() => {
            d.delete = [tally.active.clone(), tally.redundant.clone()].concat();
            status["startTime"] = Value::Null;
            if set_condition(
                &mut conditions,
                "Suspended",
                "JobSuspended",
                "Job suspended",
                now,
            ) {
                d.events
                    .push(Note::normal("Suspended", "Job suspended".into()));
            }
        }
        None => {
            if resume(&mut conditions, now) {
                d.events.push(Note::normal("Resumed", "Job resumed".into()));
            }
            if status["startTime"].is_null() {
                status["startTime"] = json!(time::format(now));
            }
            manage(j, &tally, now, &mut d);
            d.requeue_after = earliest(d.requeue_after, deadline_left(j, &status, now));
        }
    }
    status["conditions"] = json!(conditions);
    d.status = status;
    d
}
// ANCHOR_END: decide

/// What the pods add up to.
#[derive(Debug, Default)]
struct Tally {
    /// Names of running pods.
    active: Vec<String>,
    /// Running pods of an Indexed Job whose index another pod already
    /// runs or finished, or that have none: they go first (Kubernetes'
    /// `appendDuplicatedIndexPodsForRemoval`). The controller's
    /// expectations keep it from starting an index twice itself
    /// (`replicaset/expectations.rs`); this cleans up after anyone else.
    redundant: Vec<String>,
    ready: i64,
    /// Pods being deleted whose end is already counted.
    terminating: i64,
    succeeded: i64,
    failed: i64,
    /// Container restarts of running pods (`OnFailure` counts them).
    restarts: i64,
    /// A `FailJob` rule matched: its message.
    fail_job: Option<String>,
    /// (finish time, succeeded) of every ended pod, for the back-off.
    ended: Vec<(Timestamp, bool)>,
    /// Indexes done, and running.
    done: BTreeSet<i64>,
    running: BTreeSet<i64>,
}

impl Tally {
    // ANCHOR: tally
    fn of(j: Job, pods: &[Value], d: &mut Decision) -> Tally {
        let (succeeded, failed) = j.counted();
        let mut t = Tally {
            succeeded,
            failed,
            done: indexes::parse(j.completed_indexes()),
            ..Tally::default()
        };
        // Parked uids count now; their pods lose their finalizer below.
        let parked: Vec<&str> = j.uncounted("succeeded");
        let parked_failed: Vec<&str> = j.uncounted("failed");
        let mut running: Vec<(String, Option<i64>)> = Vec::new();
        t.succeeded += parked.len() as i64;
        t.failed += parked_failed.len() as i64;
        for pod in pods {
            let outcome = pods::outcome(pod);
            if outcome == Outcome::Active {
                t.ready += is_ready(pod) as i64;
                t.restarts += pods::restarts(pod);
                running.push((namespace_and_name(pod).1.to_string(), pods::index(pod)));
                continue;
            }
            let succeeded = outcome == Outcome::Succeeded;
            let phase = &pod["status"]["phase"];
            let stopped =
                crate::claims::is_deleting(pod) && phase != "Failed" && phase != "Succeeded";
            // Suspending stops pods; that is no failure (nor back-off).
            let suspended = stopped && j.suspended();
            if !suspended {
                t.ended.push((pods::finished_at(pod), succeeded));
            }
            if succeeded {
                t.done.extend(pods::index(pod));
            }
            if stopped {
                t.terminating += 1;
            }
            if !pods::is_tracked(pod) {
                continue;
            }
            let already = parked.contains(&uid(pod)) || parked_failed.contains(&uid(pod));
            d.to_count.push(Counted {
                name: namespace_and_name(pod).1.to_string(),
                uid: uid(pod).to_string(),
                as_succeeded: (!suspended).then_some(succeeded),
            });
            if already || suspended {
                continue;
            }
            match (succeeded, judge(j.failure_rules(), pod)) {
                (true, _) => t.succeeded += 1,
                (false, Verdict::Ignore) => {}
                (false, Verdict::Count) => t.failed += 1,
                (false, Verdict::FailJob(why)) => {
                    t.failed += 1;
                    t.fail_job.get_or_insert(why);
                }
            }
        }
        t.sort_running(j, running);
        t
    }
    // ANCHOR_END: tally

    /// Splits the running pods into active and, for an Indexed Job,
    /// redundant ones (oldest name of an index kept).
    fn sort_running(&mut self, j: Job, mut running: Vec<(String, Option<i64>)>) {
        running.sort();
        for (name, index) in running {
            if !j.indexed() {
                self.active.push(name);
                continue;
            }
            match index {
                Some(i) if !self.done.contains(&i) && self.running.insert(i) => {
                    self.active.push(name)
                }
                _ => self.redundant.push(name),
            }
        }
    }

    /// The counters of the status (conditions are added by the caller).
    fn status(&self, j: Job, _now: Timestamp) -> Value {
        let omit_zero = |n: i64| if n == 0 { Value::Null } else { json!(n) };
        // An Indexed Job's successes are its completed indexes, as
        // Kubernetes counts them: a success whose pod lost its finalizer
        // before it was counted still left its index in `completedIndexes`.
        let succeeded = match j.indexed() {
            true => self.done.len() as i64,
            false => self.succeeded,
        };
        let mut status = json!({
            "active": omit_zero(self.active.len() as i64),
            "ready": self.ready,
            "terminating": self.terminating,
            "succeeded": omit_zero(succeeded),
            "failed": omit_zero(self.failed),
            "startTime": j.0.pointer("/status/startTime").cloned().unwrap_or(Value::Null),
            // Null members: a merge patch removes what was parked.
            "uncountedTerminatedPods": {"succeeded": null, "failed": null},
        });
        if j.indexed() {
            status["completedIndexes"] = json!(indexes::format(&self.done));
        }
        status
    }

    /// Whether the Job did what it was for.
    fn complete(&self, j: Job) -> bool {
        match j.completions() {
            Some(n) if j.indexed() => self.done.len() as i64 >= n,
            Some(n) => self.succeeded >= n,
            // A work queue: one success, and the others have stopped.
            None => self.succeeded > 0 && self.active.is_empty(),
        }
    }
}

// ANCHOR: judge_job
/// The Job's verdict, if it has one: an interim condition already written,
/// or one it earns now (in Kubernetes' order of precedence).
fn judge_job(j: Job, t: &Tally, now: Timestamp) -> Option<Judgement> {
    for kind in [FAILURE_TARGET, SUCCESS_CRITERIA_MET] {
        if let Some(c) = j.condition(kind) {
            let text = |f: &str| c[f].as_str().unwrap_or("").to_string();
            return Some(Judgement {
                kind,
                reason: text("reason"),
                message: text("message"),
            });
        }
    }
    let failure = |reason: &str, message: &str| {
        Some(Judgement {
            kind: FAILURE_TARGET,
            reason: reason.into(),
            message: message.into(),
        })
    };
    if let Some(why) = &t.fail_job {
        return failure("PodFailurePolicy", why);
    }
    let restarts = if j.restarts_in_place() { t.restarts } else { 0 };
    if t.failed + restarts > j.backoff_limit() {
        return failure(
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        );
    }
    let started = j.start_time().filter(|_| !j.suspended());
    if let (Some(start), Some(limit)) = (started, j.active_deadline()) {
        if now.duration_since(start).as_secs() >= limit {
            return failure(
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            );
        }
    }
    if t.complete(j) {
        let message = "Reached expected number of succeeded pods";
        return Some(Judgement {
            kind: SUCCESS_CRITERIA_MET,
            reason: "CompletionsReached".into(),
            message: message.into(),
        });
    }
    None
}
// ANCHOR_END: judge_job

/// The terminal condition, once no pod runs: `Failed` after a failure
/// target, `Complete` (with `completionTime`) after success.
fn finish(
    d: &mut Decision,
    status: &mut Value,
    conditions: &mut Vec<Value>,
    verdict: &Judgement,
    now: Timestamp,
) {
    if verdict.kind == SUCCESS_CRITERIA_MET {
        set_condition(
            conditions,
            "Complete",
            &verdict.reason,
            &verdict.message,
            now,
        );
        status["completionTime"] = json!(time::format(now));
        d.events
            .push(Note::normal("Completed", "Job completed".into()));
    } else {
        set_condition(conditions, "Failed", &verdict.reason, &verdict.message, now);
        d.events
            .push(Note::warning(&verdict.reason, verdict.message.clone()));
    }
}

// ANCHOR: manage
/// Creates pods up to `parallelism` (after the back-off), or deletes the
/// extra ones (Kubernetes' `manageJob`).
fn manage(j: Job, t: &Tally, now: Timestamp, d: &mut Decision) {
    let active = t.active.len() as i64;
    let wanted = match j.completions() {
        Some(n) if j.indexed() => j.parallelism().min(n - t.done.len() as i64),
        Some(n) => j.parallelism().min(n - t.succeeded),
        // A work queue stops starting pods after its first success.
        None if t.succeeded > 0 => active,
        None => j.parallelism(),
    }
    .max(0);
    d.delete = t.redundant.clone();
    if active > wanted {
        // The newest go first: they have done the least work.
        let extra = (active - wanted) as usize;
        d.delete.extend(t.active.iter().rev().take(extra).cloned());
        return;
    }
    let wait = backoff::remaining(&t.ended, now);
    if active == wanted {
        return;
    }
    if !wait.is_zero() {
        d.requeue_after = Some(wait);
        return;
    }
    let missing = (wanted - active) as usize;
    d.create = match j.completions() {
        Some(n) if j.indexed() => indexes::pending(n, &t.done, &t.running)
            .into_iter()
            .take(missing)
            .map(Some)
            .collect(),
        _ => vec![None; missing],
    };
}
// ANCHOR_END: manage

/// How long until `activeDeadlineSeconds` runs out.
fn deadline_left(j: Job, status: &Value, now: Timestamp) -> Option<Duration> {
    let start = time::at(status, "/startTime")?;
    let end = time::add_seconds(start, j.active_deadline()?);
    Some(Duration::try_from(end.duration_since(now)).unwrap_or(Duration::ZERO))
}

fn earliest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A finished Job waits out `ttlSecondsAfterFinished`, then goes.
fn after_finish(j: Job, finished: Timestamp, now: Timestamp) -> Decision {
    let mut d = Decision::default();
    if let Some(ttl) = j.ttl_after_finished() {
        let expires = time::add_seconds(finished, ttl);
        let left = expires.duration_since(now);
        if left.is_positive() {
            d.requeue_after = Duration::try_from(left).ok();
        } else {
            d.expired = true;
        }
    }
    d
}

/// Sets the condition `kind` to True with `reason` and `message`; answers
/// whether it changed.
fn set_condition(
    conditions: &mut Vec<Value>,
    kind: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    let at = time::format(now);
    let wanted = json!({"type": kind, "status": "True", "reason": reason, "message": message,
        "lastProbeTime": at, "lastTransitionTime": at});
    match conditions.iter_mut().find(|c| c["type"] == kind) {
        Some(c) if c["status"] == "True" && c["reason"] == reason => false,
        Some(c) => {
            *c = wanted;
            true
        }
        None => {
            conditions.push(wanted);
            true
        }
    }
}

/// A resumed Job's `Suspended` condition turns False; answers whether it
/// was True.
fn resume(conditions: &mut [Value], now: Timestamp) -> bool {
    let Some(c) = conditions
        .iter_mut()
        .find(|c| c["type"] == "Suspended" && c["status"] == "True")
    else {
        return false;
    };
    let at = time::format(now);
    *c = json!({"type": "Suspended", "status": "False", "reason": "JobResumed",
        "message": "Job resumed", "lastProbeTime": at, "lastTransitionTime": at});
    true
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
