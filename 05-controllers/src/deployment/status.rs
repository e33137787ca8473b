//! A Deployment's status: counts summed over its ReplicaSets, and the two
//! conditions `kubectl rollout status` and `kubectl describe` read.
//!
//! - `Available`: at least `replicas - maxUnavailable` pods are available.
//! - `Progressing`: the rollout moves (`ReplicaSetUpdated`), has finished
//!   (`NewReplicaSetAvailable`), or has not moved for
//!   `progressDeadlineSeconds` (`ProgressDeadlineExceeded`, status False),
//!   which `kubectl rollout status` reports as a failure.

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::object::ReplicaSet;

/// The counts of a Deployment's status, from its ReplicaSets' statuses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Pods of every ReplicaSet.
    pub replicas: i64,
    /// Pods of the new ReplicaSet.
    pub updated: i64,
    /// Ready pods of every ReplicaSet.
    pub ready: i64,
    /// Available pods of every ReplicaSet.
    pub available: i64,
}

impl Counts {
    /// Sums the statuses of `all` ReplicaSets; `new` is the current one.
    pub fn of(new: Option<&Value>, all: &[&Value]) -> Counts {
        let sum =
            |count: &dyn Fn(ReplicaSet) -> i64| all.iter().map(|rs| count(ReplicaSet(rs))).sum();
        Counts {
            replicas: sum(&|rs| rs.status_replicas()),
            updated: new.map_or(0, |rs| ReplicaSet(rs).status_replicas()),
            ready: sum(&|rs| rs.ready_replicas()),
            available: sum(&|rs| rs.available_replicas()),
        }
    }

    /// The counts as the old status recorded them.
    pub fn recorded(status: Option<&Value>) -> Counts {
        let count = |field: &str| {
            status
                .and_then(|s| s.get(field))
                .and_then(Value::as_i64)
                .unwrap_or(0)
        };
        Counts {
            replicas: count("replicas"),
            updated: count("updatedReplicas"),
            ready: count("readyReplicas"),
            available: count("availableReplicas"),
        }
    }

    /// Whether the rollout is done: every wanted pod is new and
    /// available, and no old one is left (Kubernetes' `DeploymentComplete`).
    pub fn complete(&self, desired: i64) -> bool {
        self.updated == desired && self.replicas == desired && self.available == desired
    }

    /// Whether anything moved since `before` (Kubernetes'
    /// `DeploymentProgressing`): more new, ready or available pods, or
    /// fewer old ones.
    pub fn progressed_since(&self, before: &Counts) -> bool {
        self.updated > before.updated
            || (self.replicas - self.updated) < (before.replicas - before.updated)
            || self.ready > before.ready
            || self.available > before.available
    }
}

/// One condition to set: type, status, reason, message.
pub struct Condition<'a> {
    /// `Available` or `Progressing`.
    pub kind: &'a str,
    /// `True` or `False`.
    pub status: &'a str,
    /// A CamelCase reason (`NewReplicaSetAvailable`).
    pub reason: &'a str,
    /// What a person reads.
    pub message: String,
}

// ANCHOR: set_condition
/// Sets `condition` in `conditions` at time `now`. The transition time
/// changes only when the status does; the update time when the reason or
/// message does, or always when `touch` (the rollout made progress: that
/// resets the progress deadline).
pub fn set_condition(
    conditions: &mut Vec<Value>,
    condition: Condition<'_>,
    now: &str,
    touch: bool,
) {
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
            if same_status && same_text && !touch {
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
    conditions
        .iter()
        .find(|c| c["type"] == "Progressing")
        .and_then(|c| orc_client::time::at(c, "/lastUpdateTime"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sum_the_replicasets_and_judge_completion() {
        let new = json!({"status": {"replicas": 3, "readyReplicas": 3, "availableReplicas": 3}});
        let old = json!({"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}});
        let counts = Counts::of(Some(&new), &[&new, &old]);
        assert_eq!(
            counts,
            Counts {
                replicas: 4,
                updated: 3,
                ready: 4,
                available: 4
            }
        );
        assert!(!counts.complete(3), "an old pod is left");
        assert!(Counts::of(Some(&new), &[&new]).complete(3));
        let before = Counts {
            replicas: 4,
            updated: 2,
            ready: 4,
            available: 4,
        };
        assert!(counts.progressed_since(&before));
        assert!(!counts.progressed_since(&counts));
    }

    #[test]
    fn conditions_keep_their_transition_time_while_the_status_holds() {
        let mut conditions = Vec::new();
        let progressing = |reason: &'static str| Condition {
            kind: "Progressing",
            status: "True",
            reason,
            message: format!("{reason}!"),
        };
        set_condition(
            &mut conditions,
            progressing("ReplicaSetUpdated"),
            "t1",
            false,
        );
        set_condition(
            &mut conditions,
            progressing("ReplicaSetUpdated"),
            "t2",
            false,
        );
        assert_eq!(conditions[0]["lastUpdateTime"], "t1", "nothing new");
        set_condition(
            &mut conditions,
            progressing("ReplicaSetUpdated"),
            "t3",
            true,
        );
        assert_eq!(conditions[0]["lastUpdateTime"], "t3", "progress");
        set_condition(
            &mut conditions,
            progressing("NewReplicaSetAvailable"),
            "t4",
            false,
        );
        assert_eq!(conditions[0]["lastTransitionTime"], "t1");
        let stuck = Condition {
            kind: "Progressing",
            status: "False",
            reason: "ProgressDeadlineExceeded",
            message: String::new(),
        };
        set_condition(&mut conditions, stuck, "t5", false);
        assert_eq!(conditions[0]["lastTransitionTime"], "t5");
        assert_eq!(conditions.len(), 1);
    }
}
