//! One CronJob's reconcile as a pure function (Kubernetes' `syncCronJob`):
//! from the CronJob, the Jobs it owns and the time, the [`Decision`].
//!
//! 1. Jobs that finished leave `status.active` (`SawCompletedJob`), and a
//!    success moves `lastSuccessfulTime`;
//! 2. unless suspended, the most recent fire time since the last one
//!    (or since `now - startingDeadlineSeconds`) is found; more than 100
//!    missed ones is a `TooManyMissedTimes` warning and no start; a time
//!    older than the deadline is a `MissSchedule`;
//! 3. `concurrencyPolicy`: Forbid skips while a Job runs, Replace deletes
//!    the running ones, Allow lets them overlap;
//! 4. the Job `<cronjob>-<minutes since the epoch>` is created, and the
//!    finished Jobs beyond the history limits deleted, oldest first.

use std::time::Duration;

use jiff::Timestamp;
use orc_client::events::Note;
use orc_client::time;
use serde_json::{Value, json};

use super::schedule::{MAX_MISSED, ZonedSchedule, missed};
use crate::claims::controller_reference;
use crate::object::{namespace_and_name, uid};

/// The annotation a scheduled Job carries: when it was due, in the
/// CronJob's zone.
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// What one reconcile does.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Decision {
    /// A Job to create.
    pub create: Option<Value>,
    /// Jobs to delete (names): replaced, or beyond the history limits.
    pub delete: Vec<String>,
    /// `status.active`, `lastScheduleTime`, `lastSuccessfulTime` (the
    /// shell adds the created Job to `active`).
    pub status: Value,
    pub events: Vec<Note>,
    /// The next fire time, as a delay from now.
    pub requeue_after: Option<Duration>,
}

fn text<'a>(obj: &'a Value, pointer: &str) -> Option<&'a str> {
    obj.pointer(pointer).and_then(Value::as_str)
}

/// The Job's terminal condition type, if it has one.
pub fn finished(job: &Value) -> Option<&str> {
    job.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| {
            matches!(c["type"].as_str(), Some("Complete" | "Failed")) && c["status"] == "True"
        })?["type"]
        .as_str()
}

/// An `ObjectReference` to `job`, as `status.active` lists it.
pub fn reference(job: &Value) -> Value {
    let (ns, name) = namespace_and_name(job);
    json!({"apiVersion": "batch/v1", "kind": "Job", "namespace": ns, "name": name,
        "uid": uid(job), "resourceVersion": job["metadata"]["resourceVersion"]})
}

// ANCHOR: decide
/// The decision for `cronjob`, owning `jobs`, at `now`.
pub fn decide(cronjob: &Value, jobs: &[Value], now: Timestamp) -> Decision {
    let mut d = Decision::default();
    let mut status = json!({
        "lastScheduleTime": cronjob.pointer("/status/lastScheduleTime").cloned().unwrap_or(Value::Null),
        "lastSuccessfulTime": cronjob.pointer("/status/lastSuccessfulTime").cloned().unwrap_or(Value::Null),
    });
    let mut active = follow_jobs(cronjob, jobs, &mut status, &mut d);
    d.delete = over_history(cronjob, jobs);
    let spec = |p: &str| cronjob.pointer(&format!("/spec/{p}"));
    let schedule = ZonedSchedule::new(
        text(cronjob, "/spec/schedule").unwrap_or(""),
        text(cronjob, "/spec/timeZone"),
    );
    match schedule {
        Err(why) => d.events.push(Note::warning("UnparseableSchedule", why)),
        Ok(_) if spec("suspend") == Some(&Value::Bool(true)) => {}
        Ok(schedule) => {
            start(
                cronjob,
                &schedule,
                jobs,
                now,
                (&mut active, &mut status),
                &mut d,
            );
            let next = schedule.next_after(now);
            d.requeue_after =
                next.map(|t| Duration::try_from(t.duration_since(now)).unwrap_or_default());
        }
    }
    status["active"] = if active.is_empty() {
        Value::Null
    } else {
        json!(active)
    };
    d.status = status;
    d
}
// ANCHOR_END: decide

/// The running Jobs (as references); events for those that finished, and
/// the latest success.
fn follow_jobs(
    cronjob: &Value,
    jobs: &[Value],
    status: &mut Value,
    d: &mut Decision,
) -> Vec<Value> {
    let was_active: Vec<&str> = cronjob
        .pointer("/status/active")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r["uid"].as_str())
        .collect();
    let mut active = Vec::new();
    for job in jobs {
        match finished(job) {
            None => active.push(reference(job)),
            Some(condition) => {
                let name = namespace_and_name(job).1;
                if was_active.contains(&uid(job)) {
                    let message = format!("Saw completed job: {name}, condition: {condition}");
                    d.events.push(Note::normal("SawCompletedJob", message));
                }
                let done = time::at(job, "/status/completionTime");
                let last = time::at(status, "/lastSuccessfulTime");
                if condition == "Complete" && done.is_some() && (last.is_none() || done > last) {
                    status["lastSuccessfulTime"] = job["status"]["completionTime"].clone();
                }
            }
        }
    }
    active
}

// ANCHOR: start
/// Starts the Job due now, if one is, as `concurrencyPolicy` allows.
fn start(
    cronjob: &Value,
    schedule: &ZonedSchedule,
    jobs: &[Value],
    now: Timestamp,
    (active, status): (&mut Vec<Value>, &mut Value),
    d: &mut Decision,
) {
    let deadline = cronjob
        .pointer("/spec/startingDeadlineSeconds")
        .and_then(Value::as_i64);
    let mut earliest = time::at(cronjob, "/status/lastScheduleTime")
        .or_else(|| time::at(cronjob, "/metadata/creationTimestamp"))
        .unwrap_or(now);
    if let Some(secs) = deadline {
        earliest = earliest.max(time::add_seconds(now, -secs));
    }
    let missed = missed(schedule, earliest, now);
    if missed.count > MAX_MISSED {
        let message = format!(
            "Cannot determine if job needs to be started. Too many missed start time (> {MAX_MISSED}). Set or decrease .spec.startingDeadlineSeconds or check clock skew."
        );
        d.events.push(Note::warning("TooManyMissedTimes", message));
        return;
    }
    let Some(due) = missed.most_recent else {
        return;
    };
    let name = job_name(cronjob, due);
    if jobs.iter().any(|j| namespace_and_name(j).1 == name) {
        return; // already started
    }
    match text(cronjob, "/spec/concurrencyPolicy") {
        Some("Forbid") if !active.is_empty() => {
            let message = "Not starting job because prior execution is running and concurrency policy is Forbid";
            d.events
                .push(Note::normal("JobAlreadyActive", message.into()));
            return;
        }
        Some("Replace") => {
            d.delete.extend(
                active
                    .drain(..)
                    .filter_map(|r| r["name"].as_str().map(String::from)),
            );
        }
        _ => {}
    }
    d.create = Some(job_from_template(cronjob, &name, due, schedule));
    status["lastScheduleTime"] = json!(time::format(due));
}
// ANCHOR_END: start

/// `<cronjob>-<minutes since the epoch>`: the same fire time always gives
/// the same name, so a Job is never started twice for it.
pub fn job_name(cronjob: &Value, due: Timestamp) -> String {
    format!("{}-{}", namespace_and_name(cronjob).1, due.as_second() / 60)
}

fn job_from_template(
    cronjob: &Value,
    name: &str,
    due: Timestamp,
    schedule: &ZonedSchedule,
) -> Value {
    let template = cronjob.pointer("/spec/jobTemplate").unwrap_or(&Value::Null);
    let mut annotations = template
        .pointer("/metadata/annotations")
        .cloned()
        .unwrap_or(json!({}));
    annotations[SCHEDULED_TIMESTAMP] = json!(schedule.format(due));
    json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": namespace_and_name(cronjob).0,
            "labels": template.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
            "annotations": annotations,
            "ownerReferences": [controller_reference(cronjob, "CronJob", "batch/v1")]},
        "spec": template.get("spec").cloned().unwrap_or(json!({}))})
}

// ANCHOR: history
/// Finished Jobs beyond `successfulJobsHistoryLimit` and
/// `failedJobsHistoryLimit`, oldest first.
fn over_history(cronjob: &Value, jobs: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for (condition, limit, default) in [
        ("Complete", "successfulJobsHistoryLimit", 3),
        ("Failed", "failedJobsHistoryLimit", 1),
    ] {
        let limit = cronjob
            .pointer(&format!("/spec/{limit}"))
            .and_then(Value::as_i64)
            .unwrap_or(default);
        let mut done: Vec<&Value> = jobs
            .iter()
            .filter(|j| finished(j) == Some(condition))
            .collect();
        let started = |j: &Value| {
            time::at(j, "/status/startTime").or_else(|| time::at(j, "/metadata/creationTimestamp"))
        };
        done.sort_by_key(|j| (started(j), namespace_and_name(j).1.to_string()));
        let extra = done.len().saturating_sub(limit.max(0) as usize);
        out.extend(
            done[..extra]
                .iter()
                .map(|j| namespace_and_name(j).1.to_string()),
        );
    }
    out
}
// ANCHOR_END: history

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
