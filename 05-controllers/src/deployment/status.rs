//! A Deployment's status, as pure functions: counts summed over its
//! ReplicaSets (Kubernetes' `calculateStatus`), the facts of the rollout
//! its conditions are decided from ([`super::conditions`]), and the patch
//! that writes them. `kubectl rollout status` waits on this status.

use serde_json::{Value, json};

use super::conditions::Rollout;
use super::object::Deployment;
use crate::object::{ReplicaSet, Workload, generation, namespace_and_name};

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

/// What one reconcile observed: the counts for the status, and the facts
/// the conditions are decided from ([`conditions`](super::conditions)).
/// `created`: this reconcile created `new`.
pub fn observe<'a>(
    d: Deployment<'a>,
    new: Option<&'a Value>,
    old: &[Value],
    created: bool,
) -> (Counts, Rollout<'a>) {
    let all: Vec<&Value> = old.iter().chain(new).collect();
    let counts = Counts::of(new, &all);
    let before = Counts::recorded(d.status());
    let desired = d.replicas();
    let rollout = Rollout {
        deployment: namespace_and_name(d.object()).1,
        new_replicaset: new.map(|rs| namespace_and_name(rs).1),
        created,
        minimum_available: counts.available >= desired - d.max_unavailable(),
        complete: counts.complete(desired) && new.is_some(),
        progressed: counts.progressed_since(&before),
        progress_deadline_seconds: d.progress_deadline_seconds(),
        paused: d.paused(),
    };
    (counts, rollout)
}

// ANCHOR: status
/// The status to write: the generation it describes, the counts, and
/// `conditions`. Counts that are zero are left out, as Kubernetes' JSON
/// leaves them out.
pub fn status(d: Deployment, counts: &Counts, conditions: Vec<Value>) -> Value {
    let optional = |n: i64| if n == 0 { Value::Null } else { json!(n) };
    json!({
        "observedGeneration": optional(generation(d.object())),
        "replicas": optional(counts.replicas),
        "updatedReplicas": optional(counts.updated),
        "readyReplicas": optional(counts.ready),
        "availableReplicas": optional(counts.available),
        "unavailableReplicas": optional((d.replicas() - counts.available).max(0)),
        "conditions": conditions,
    })
}
// ANCHOR_END: status

/// The merge patch that turns `current` status into `wanted`, when any of
/// `wanted`'s fields differs (a missing field reads as `null`); `None`
/// when the write would change nothing, which saves a request and an event
/// to every watcher on each reconcile.
pub fn patch(current: Option<&Value>, wanted: &Value) -> Option<Value> {
    let unchanged = wanted.as_object().is_some_and(|w| {
        w.iter().all(|(k, v)| {
            let now = current.and_then(|c| c.get(k)).unwrap_or(&Value::Null);
            now == v
        })
    });
    (!unchanged).then(|| json!({"status": wanted}))
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
    fn the_status_leaves_out_zero_counts_and_is_written_only_when_it_changes() {
        let d = json!({"metadata": {"generation": 2}, "spec": {"replicas": 3}});
        let counts = Counts {
            replicas: 3,
            updated: 3,
            ready: 3,
            available: 1,
        };
        let wanted = status(Deployment(&d), &counts, vec![]);
        assert_eq!(
            wanted,
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3,
                "readyReplicas": 3, "availableReplicas": 1, "unavailableReplicas": 2,
                "conditions": []})
        );
        assert_eq!(patch(None, &wanted), Some(json!({"status": wanted})));
        assert_eq!(patch(Some(&wanted), &wanted), None);
        let scaled_to_zero = json!({"spec": {"replicas": 0}});
        let none = status(Deployment(&scaled_to_zero), &Counts::default(), vec![]);
        assert_eq!(none["replicas"], Value::Null);
        assert_eq!(patch(Some(&json!({"conditions": []})), &none), None);
    }

    #[test]
    fn an_observation_states_the_facts_the_conditions_need() {
        let d = json!({"spec": {"replicas": 2, "progressDeadlineSeconds": 600},
            "status": {"replicas": 3, "updatedReplicas": 1, "availableReplicas": 2}});
        let rs = |name: &str, replicas: i64| {
            json!({"metadata": {"name": name},
                "status": {"replicas": replicas, "availableReplicas": replicas}})
        };
        let (new, old) = (rs("web-2", 2), [rs("web-1", 1)]);
        let (counts, rollout) = observe(Deployment(&d), Some(&new), &old, false);
        assert_eq!(
            (counts.replicas, counts.updated, counts.available),
            (3, 2, 3)
        );
        assert_eq!(rollout.new_replicaset, Some("web-2"));
        assert!(rollout.minimum_available && rollout.progressed);
        assert!(!rollout.complete, "an old pod is left");
        assert_eq!(rollout.progress_deadline_seconds, Some(600));
        let (_, done) = observe(Deployment(&d), Some(&new), &[], false);
        assert!(done.complete);
        let (_, missing) = observe(Deployment(&d), None, &[new], false);
        assert!(!missing.complete, "no current ReplicaSet: not complete");
    }
}
