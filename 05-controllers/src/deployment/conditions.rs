//! The two conditions of a Deployment's status, decided as pure functions
//! of what one reconcile observed and the time `now`, which the caller
//! passes in (so the tests move a clock instead of sleeping).
//!
//! - `Available`: at least `replicas - maxUnavailable` pods are available
//!   (`MinimumReplicasAvailable`), or not (`MinimumReplicasUnavailable`).
//! - `Progressing`: a new ReplicaSet was created (`NewReplicaSetCreated`)
//!   or found (`FoundNewReplicaSet`), the rollout moves
//!   (`ReplicaSetUpdated`), has finished (`NewReplicaSetAvailable`), or has
//!   not moved for `progressDeadlineSeconds` (`ProgressDeadlineExceeded`,
//!   status False), which `kubectl rollout status` reports as a failure. A
//!   pause (`kubectl rollout pause`) sets `DeploymentPaused` and a resume
//!   `DeploymentResumed` (status Unknown): the deadline does not run while
//!   a Deployment is paused, and counts again from its resume.
//!
//! Kubernetes decides these in `syncRolloutStatus`, `getNewReplicaSet` and
//! `checkPausedConditions` (`pkg/controller/deployment/progress.go` and
//! `sync.go`); the reasons are its own, so `kubectl describe` reads the
//! same.

use std::time::Duration;

use jiff::Timestamp;
use orc_client::time;
use serde_json::{Value, json};

/// Kubernetes' condition reasons (`deploymentutil.*Reason`).
pub mod reason {
    /// Available: enough pods are available.
    pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
    /// Available, False: too few are.
    pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
    /// Progressing: this reconcile created the new ReplicaSet.
    pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
    /// Progressing: the new ReplicaSet exists, and no condition said so yet.
    pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
    /// Progressing: pods moved since the last status.
    pub const RS_UPDATED: &str = "ReplicaSetUpdated";
    /// Progressing: the rollout is complete.
    pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
    /// Progressing, False: no progress within the deadline.
    pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
    /// Progressing, Unknown: paused, so progress is not judged.
    pub const PAUSED: &str = "DeploymentPaused";
    /// Progressing, Unknown: resumed; the deadline counts from now.
    pub const RESUMED: &str = "DeploymentResumed";
}

/// When setting a condition moves its `lastUpdateTime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Only when its status, reason or message changes.
    OnChange,
    /// Now, even if nothing else changed: the rollout made progress, and
    /// the progress deadline counts from the `Progressing` condition's
    /// `lastUpdateTime` (Kubernetes special-cases `ReplicaSetUpdated` so).
    Progress,
}

/// One condition to set: type, status, reason, message, and whether it
/// counts as progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `Available` or `Progressing`.
    pub kind: &'static str,
    /// `True`, `False` or `Unknown`.
    pub status: &'static str,
    /// A CamelCase reason from [`reason`].
    pub reason: &'static str,
    /// What a person reads.
    pub message: String,
    /// When `lastUpdateTime` moves.
    pub refresh: Refresh,
}

// ANCHOR: set_condition
/// Sets `condition` in `conditions` at time `now`. The transition time
/// changes only when the status does; the update time when the reason or
/// message does, or always when the condition records progress
/// ([`Refresh::Progress`]: that resets the progress deadline).
pub fn set_condition(conditions: &mut Vec<Value>, condition: Condition, now: Timestamp) {
    let now = time::format(now);
    let existing = conditions.iter_mut().find(|c| c["type"] == condition.kind);
    let fresh = json!({
        "type": condition.kind,
        "status": condition.status,
        "reason": condition.reason,
        "message": condition.message,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
    });
    match existing {
        None => conditions.push(fresh),
        Some(current) => {
            let same_status = current["status"] == condition.status;
            let same_text = current["reason"] == condition.reason
                && current["message"] == condition.message.as_str();
            if same_status && same_text && condition.refresh == Refresh::OnChange {
                return;
            }
            let transition = if same_status {
                current["lastTransitionTime"].clone()
            } else {
                json!(now)
            };
            *current = fresh;
            current["lastTransitionTime"] = transition;
        }
    }
}
// ANCHOR_END: set_condition

/// When the `Progressing` condition last saw progress (for the progress
/// deadline).
pub fn last_progress(conditions: &[Value]) -> Option<Timestamp> {
    progressing_condition(conditions).and_then(|c| time::at(c, "/lastUpdateTime"))
}

/// The reason of the `Progressing` condition; empty without one.
fn progressing_reason(conditions: &[Value]) -> &str {
    let reason = progressing_condition(conditions).and_then(|c| c["reason"].as_str());
    reason.unwrap_or("")
}

fn progressing_condition(conditions: &[Value]) -> Option<&Value> {
    conditions.iter().find(|c| c["type"] == "Progressing")
}

/// What the conditions are decided from: the facts one reconcile observed.
#[derive(Debug, Clone, Default)]
pub struct Rollout<'a> {
    /// The Deployment's name, for messages when there is no current
    /// ReplicaSet to name.
    pub deployment: &'a str,
    /// The current ReplicaSet's name, when there is one.
    pub new_replicaset: Option<&'a str>,
    /// This reconcile created it.
    pub created: bool,
    /// At least `replicas - maxUnavailable` pods are available.
    pub minimum_available: bool,
    /// The current ReplicaSet holds every wanted pod, all available, and no
    /// old pod is left (Kubernetes' `DeploymentComplete`).
    pub complete: bool,
    /// Pods moved since the last status (Kubernetes'
    /// `DeploymentProgressing`).
    pub progressed: bool,
    /// `spec.progressDeadlineSeconds`; `None`: no deadline.
    pub progress_deadline_seconds: Option<i64>,
    /// `spec.paused`: sizes are followed, progress is not judged.
    pub paused: bool,
}

impl Rollout<'_> {
    /// What messages name: the current ReplicaSet, else the Deployment,
    /// as Kubernetes words them.
    fn subject(&self) -> String {
        match self.new_replicaset {
            Some(name) => format!("ReplicaSet \"{name}\""),
            None => format!("Deployment \"{}\"", self.deployment),
        }
    }
}

/// The `Available` condition.
pub fn available(rollout: &Rollout) -> Condition {
    let (status, reason, message) = if rollout.minimum_available {
        let message = "Deployment has minimum availability.";
        ("True", reason::MINIMUM_REPLICAS_AVAILABLE, message)
    } else {
        let message = "Deployment does not have minimum availability.";
        ("False", reason::MINIMUM_REPLICAS_UNAVAILABLE, message)
    };
    Condition {
        kind: "Available",
        status,
        reason,
        message: message.into(),
        refresh: Refresh::OnChange,
    }
}

// ANCHOR: progressing
/// The `Progressing` condition this reconcile sets, given the conditions
/// written so far and the time `now`; `None` leaves it as it is. The first
/// case that holds wins, as in Kubernetes' `syncRolloutStatus`: a new
/// ReplicaSet, a finished rollout, progress, and only then a timeout.
pub fn progressing(rollout: &Rollout, current: &[Value], now: Timestamp) -> Option<Condition> {
    let (name, subject) = (rollout.new_replicaset.unwrap_or(""), rollout.subject());
    let (status, reason, refresh, message) = if rollout.created {
        let message = format!("Created new replica set \"{name}\"");
        ("True", reason::NEW_RS_CREATED, Refresh::Progress, message)
    } else if rollout.complete {
        let message = format!("{subject} has successfully progressed.");
        ("True", reason::NEW_RS_AVAILABLE, Refresh::OnChange, message)
    } else if rollout.progressed {
        let message = format!("{subject} is progressing.");
        ("True", reason::RS_UPDATED, Refresh::Progress, message)
    } else if deadline_passed(rollout, current, now) {
        let message = format!("{subject} has timed out progressing.");
        ("False", reason::TIMED_OUT, Refresh::OnChange, message)
    } else {
        return None;
    };
    let kind = "Progressing";
    Some(Condition {
        kind,
        status,
        reason,
        message,
        refresh,
    })
}

/// Whether the rollout has gone `progressDeadlineSeconds` without progress
/// by `now`, counted from the `Progressing` condition's last update
/// (Kubernetes' `DeploymentTimedOut`). Strictly after: a rollout that
/// progressed exactly that long ago still has this instant.
fn deadline_passed(rollout: &Rollout, current: &[Value], now: Timestamp) -> bool {
    match (rollout.progress_deadline_seconds, last_progress(current)) {
        (Some(deadline), Some(since)) => time::add_seconds(since, deadline) < now,
        _ => false,
    }
}
// ANCHOR_END: progressing

// ANCHOR: pause
/// The `Progressing` condition a pause or a resume sets, given the
/// conditions so far (Kubernetes' `checkPausedConditions`). Paused,
/// progress is not judged; resumed, the deadline counts from the resume,
/// so a rollout paused for longer than its deadline is not reported stuck
/// the moment it resumes. A timeout already reported stays, and without a
/// deadline there is nothing to protect.
pub fn pause(rollout: &Rollout, current: &[Value]) -> Option<Condition> {
    let reason = progressing_reason(current);
    if rollout.progress_deadline_seconds.is_none() || reason == reason::TIMED_OUT {
        return None;
    }
    let (reason, message) = match (rollout.paused, reason == reason::PAUSED) {
        (true, false) => (reason::PAUSED, "Deployment is paused"),
        (false, true) => (reason::RESUMED, "Deployment is resumed"),
        _ => return None,
    };
    Some(Condition {
        kind: "Progressing",
        status: "Unknown",
        reason,
        message: message.into(),
        refresh: Refresh::OnChange,
    })
}
// ANCHOR_END: pause

/// The conditions after this reconcile: `current` with `Available` set as
/// [`available`] decides, a pause or resume recorded ([`pause`]), and,
/// unless paused, `Progressing` set as [`progressing`] decides, and a
/// current ReplicaSet that no `Progressing` condition mentions yet found
/// (Kubernetes sets `FoundNewReplicaSet` in `getNewReplicaSet`).
pub fn conditions(rollout: &Rollout, current: &[Value], now: Timestamp) -> Vec<Value> {
    let mut conditions = current.to_vec();
    set_condition(&mut conditions, available(rollout), now);
    if let Some(pause) = pause(rollout, &conditions) {
        set_condition(&mut conditions, pause, now);
    }
    // Kubernetes runs a paused Deployment through `sync`, which leaves
    // `Progressing` alone, never through `syncRolloutStatus`.
    if rollout.paused {
        return conditions;
    }
    if let Some(progressing) = progressing(rollout, &conditions, now) {
        set_condition(&mut conditions, progressing, now);
    }
    let has_progressing = conditions.iter().any(|c| c["type"] == "Progressing");
    if let (Some(name), false) = (rollout.new_replicaset, has_progressing) {
        let found = Condition {
            kind: "Progressing",
            status: "True",
            reason: reason::FOUND_NEW_RS,
            message: format!("Found new replica set \"{name}\""),
            refresh: Refresh::Progress,
        };
        set_condition(&mut conditions, found, now);
    }
    conditions
}

// ANCHOR: progress_recheck
/// How long until the progress deadline of an unfinished rollout passes,
/// counted from the last progress in `conditions` (now when unknown), plus
/// a second so the look comes after it (Kubernetes'
/// `requeueStuckDeployment` adds the same second against clock skew). No
/// watch event announces a deadline passing: without this, a stuck rollout
/// would never be reported stuck. `None` with no deadline, or when there is
/// nothing to judge: a finished rollout, a paused one, or one already
/// reported stuck (the next change will queue it).
pub fn progress_recheck(
    rollout: &Rollout,
    conditions: &[Value],
    now: Timestamp,
) -> Option<Duration> {
    let deadline = rollout.progress_deadline_seconds?;
    let timed_out = progressing_reason(conditions) == reason::TIMED_OUT;
    if rollout.complete || rollout.paused || timed_out {
        return None;
    }
    let since = last_progress(conditions).unwrap_or(now);
    let left = time::seconds_between(now, time::add_seconds(since, deadline)).max(0) + 1;
    Some(Duration::from_secs(left as u64))
}
// ANCHOR_END: progress_recheck

#[cfg(test)]
mod tests {
    use super::*;

    /// `secs` seconds after a fixed instant.
    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn progressing_condition(status: &str, reason: &str, updated: i64) -> Value {
        json!({"type": "Progressing", "status": status, "reason": reason,
            "message": "", "lastUpdateTime": time::format(at(updated)),
            "lastTransitionTime": time::format(at(0))})
    }

    /// A rollout of `web-1` under way, with a 600 s deadline.
    fn under_way() -> Rollout<'static> {
        Rollout {
            deployment: "web",
            new_replicaset: Some("web-1"),
            progress_deadline_seconds: Some(600),
            ..Rollout::default()
        }
    }

    fn reason_of(conditions: &[Value], kind: &str) -> String {
        let condition = conditions.iter().find(|c| c["type"] == kind);
        condition.map_or(String::new(), |c| c["reason"].as_str().unwrap().into())
    }

    #[test]
    fn conditions_keep_their_transition_time_while_the_status_holds() {
        let mut conditions = Vec::new();
        let progressing = |reason: &'static str, refresh| Condition {
            kind: "Progressing",
            status: "True",
            reason,
            message: format!("{reason}!"),
            refresh,
        };
        let updated = progressing(reason::RS_UPDATED, Refresh::OnChange);
        set_condition(&mut conditions, updated.clone(), at(1));
        set_condition(&mut conditions, updated, at(2));
        assert_eq!(
            conditions[0]["lastUpdateTime"],
            time::format(at(1)),
            "nothing new"
        );
        let progress = progressing(reason::RS_UPDATED, Refresh::Progress);
        set_condition(&mut conditions, progress, at(3));
        assert_eq!(
            conditions[0]["lastUpdateTime"],
            time::format(at(3)),
            "progress"
        );
        let done = progressing(reason::NEW_RS_AVAILABLE, Refresh::OnChange);
        set_condition(&mut conditions, done, at(4));
        assert_eq!(conditions[0]["lastTransitionTime"], time::format(at(1)));
        let stuck = Condition {
            status: "False",
            ..progressing(reason::TIMED_OUT, Refresh::OnChange)
        };
        set_condition(&mut conditions, stuck, at(5));
        assert_eq!(conditions[0]["lastTransitionTime"], time::format(at(5)));
        assert_eq!(conditions.len(), 1);
    }

    #[test]
    fn available_follows_the_minimum_availability() {
        let short = available(&under_way());
        assert_eq!(
            (short.status, short.reason),
            ("False", "MinimumReplicasUnavailable")
        );
        let enough = Rollout {
            minimum_available: true,
            ..under_way()
        };
        let enough = available(&enough);
        assert_eq!(
            (enough.status, enough.reason),
            ("True", "MinimumReplicasAvailable")
        );
    }

    #[test]
    fn a_created_replicaset_comes_first_then_completion_then_progress() {
        let everything = Rollout {
            created: true,
            complete: true,
            progressed: true,
            ..under_way()
        };
        let reason = |r: &Rollout| progressing(r, &[], at(0)).map(|c| c.reason);
        assert_eq!(reason(&everything), Some("NewReplicaSetCreated"));
        let finished = Rollout {
            created: false,
            ..everything.clone()
        };
        assert_eq!(reason(&finished), Some("NewReplicaSetAvailable"));
        let moving = Rollout {
            complete: false,
            ..finished
        };
        let condition = progressing(&moving, &[], at(0)).unwrap();
        assert_eq!(condition.reason, "ReplicaSetUpdated");
        assert_eq!(condition.message, "ReplicaSet \"web-1\" is progressing.");
        assert_eq!(condition.refresh, Refresh::Progress, "moves the deadline");
        assert_eq!(reason(&under_way()), None, "no progress, no deadline known");
    }

    #[test]
    fn the_deadline_passes_only_strictly_after_the_last_progress_plus_its_length() {
        let current = [progressing_condition("True", "ReplicaSetUpdated", 0)];
        assert_eq!(progressing(&under_way(), &current, at(600)), None);
        let stuck = progressing(&under_way(), &current, at(601)).unwrap();
        assert_eq!(
            (stuck.status, stuck.reason),
            ("False", "ProgressDeadlineExceeded")
        );
        let endless = Rollout {
            progress_deadline_seconds: None,
            ..under_way()
        };
        assert_eq!(progressing(&endless, &current, at(10_000)), None);
    }

    #[test]
    fn a_new_replicaset_is_found_when_no_progressing_condition_names_one() {
        let found = conditions(&under_way(), &[], at(0));
        assert_eq!(reason_of(&found, "Progressing"), "FoundNewReplicaSet");
        assert_eq!(reason_of(&found, "Available"), "MinimumReplicasUnavailable");
        let current = [progressing_condition("True", "ReplicaSetUpdated", 0)];
        let kept = conditions(&under_way(), &current, at(10));
        assert_eq!(reason_of(&kept, "Progressing"), "ReplicaSetUpdated");
        assert_eq!(kept[0]["lastUpdateTime"], time::format(at(0)), "untouched");
        let without = Rollout {
            new_replicaset: None,
            ..under_way()
        };
        assert_eq!(
            reason_of(&conditions(&without, &[], at(0)), "Progressing"),
            ""
        );
    }

    #[test]
    fn a_stuck_rollout_is_looked_at_again_just_after_its_deadline() {
        let rollout = under_way();
        let updated = [progressing_condition("True", "ReplicaSetUpdated", 0)];
        let recheck = |conditions: &[Value], now| progress_recheck(&rollout, conditions, now);
        let secs = |n| Some(Duration::from_secs(n));
        assert_eq!(recheck(&updated, at(0)), secs(601));
        assert_eq!(recheck(&updated, at(450)), secs(151));
        assert_eq!(recheck(&updated, at(900)), secs(1), "overdue");
        assert_eq!(recheck(&[], at(7)), secs(601), "from now");
        let stuck = [progressing_condition(
            "False",
            "ProgressDeadlineExceeded",
            0,
        )];
        assert_eq!(recheck(&stuck, at(900)), None, "reported already");
        let finished = Rollout {
            complete: true,
            ..under_way()
        };
        assert_eq!(progress_recheck(&finished, &updated, at(0)), None);
        let endless = Rollout {
            progress_deadline_seconds: None,
            ..under_way()
        };
        assert_eq!(progress_recheck(&endless, &updated, at(0)), None);
        let paused = Rollout {
            paused: true,
            ..under_way()
        };
        assert_eq!(progress_recheck(&paused, &updated, at(0)), None);
    }

    #[test]
    fn without_a_current_replicaset_messages_name_the_deployment() {
        let waiting = Rollout {
            new_replicaset: None,
            progressed: true,
            ..under_way()
        };
        let condition = progressing(&waiting, &[], at(0)).unwrap();
        assert_eq!(condition.message, "Deployment \"web\" is progressing.");
    }

    #[test]
    fn a_pause_stops_the_deadline_and_a_resume_restarts_it() {
        let paused = Rollout {
            paused: true,
            progressed: true,
            ..under_way()
        };
        let updated = [progressing_condition("True", "ReplicaSetUpdated", 0)];
        let pausing = conditions(&paused, &updated, at(10));
        assert_eq!(reason_of(&pausing, "Progressing"), "DeploymentPaused");
        assert_eq!(
            reason_of(&pausing, "Available"),
            "MinimumReplicasUnavailable"
        );
        let progressing_now = pausing.iter().find(|c| c["type"] == "Progressing").unwrap();
        assert_eq!(progressing_now["status"], "Unknown");
        // Paused for ten times the deadline: nothing is judged meanwhile.
        let later = conditions(&paused, &pausing, at(6_000));
        assert_eq!(later, pausing);
        let resumed = Rollout {
            paused: false,
            progressed: false,
            ..under_way()
        };
        let resuming = conditions(&resumed, &later, at(6_000));
        assert_eq!(reason_of(&resuming, "Progressing"), "DeploymentResumed");
        assert_eq!(
            last_progress(&resuming),
            Some(at(6_000)),
            "the deadline restarts"
        );
        let recheck = progress_recheck(&resumed, &resuming, at(6_000));
        assert_eq!(recheck, Some(Duration::from_secs(601)));
    }

    #[test]
    fn a_reported_timeout_outlives_a_pause_and_no_deadline_means_no_pause() {
        let paused = Rollout {
            paused: true,
            ..under_way()
        };
        let stuck = [progressing_condition(
            "False",
            "ProgressDeadlineExceeded",
            0,
        )];
        assert_eq!(pause(&paused, &stuck), None);
        let endless = Rollout {
            progress_deadline_seconds: None,
            ..paused
        };
        assert_eq!(pause(&endless, &[]), None);
        assert_eq!(pause(&under_way(), &[]), None, "not paused, never was");
    }
}
