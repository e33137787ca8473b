//! The status a StatefulSet controller writes (Kubernetes'
//! `computeReplicaStatus` and `completeRollingUpdate`): counts of its
//! pods, and the revisions. `kubectl rollout status sts/x` reads these.

use jiff::Timestamp;
use orc_client::conditions::is_ready;
use serde_json::{Map, Value, json};

use super::decide::is_healthy;
use super::identity::revision_of;
use super::object::{StatefulSet, UpdateStrategy};
use crate::claims::is_deleting;
use crate::object::{Workload, generation};

/// The revisions the status names.
pub struct Revisions<'a> {
    pub current: &'a str,
    pub update: &'a str,
    pub collision_count: i64,
}

// ANCHOR: status
/// The status of `sts` with `pods` (its own) at `now`.
pub fn status(sts: &Value, pods: &[Value], revisions: &Revisions, now: Timestamp) -> Value {
    let set = StatefulSet(sts);
    let (mut replicas, mut ready, mut available, mut current, mut updated) = (0, 0, 0, 0, 0);
    for pod in pods {
        // A pod counts once the API server gave it a phase (`isCreated`).
        if pod
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .is_none()
        {
            continue;
        }
        replicas += 1;
        let running = pod.pointer("/status/phase") == Some(&json!("Running"));
        if running && is_ready(pod) {
            ready += 1;
        }
        if is_healthy(pod, set.min_ready_seconds(), now) {
            available += 1;
        }
        if !is_deleting(pod) {
            if revision_of(pod) == revisions.current {
                current += 1;
            }
            if revision_of(pod) == revisions.update {
                updated += 1;
            }
        }
    }
    let mut current_revision = revisions.current;
    // A rolling update is complete when every pod is new and ready: the
    // update revision becomes the current one.
    let rolling = matches!(set.update_strategy(), UpdateStrategy::RollingUpdate { .. });
    if rolling && updated == replicas && ready == replicas {
        current_revision = revisions.update;
        current = updated;
    }
    json!({
        "observedGeneration": generation(sts),
        "replicas": replicas,
        "readyReplicas": ready,
        "currentReplicas": current,
        "updatedReplicas": updated,
        "availableReplicas": available,
        "currentRevision": current_revision,
        "updateRevision": revisions.update,
        "collisionCount": revisions.collision_count,
    })
}
// ANCHOR_END: status

/// The merge patch from `old` (the stored status) to `wanted`, if they
/// differ in any field `wanted` names.
pub fn patch(old: Option<&Value>, wanted: &Value) -> Option<Value> {
    let mut changed = Map::new();
    for (key, value) in wanted.as_object()? {
        if old.and_then(|o| o.get(key)) != Some(value) {
            changed.insert(key.clone(), value.clone());
        }
    }
    (!changed.is_empty()).then(|| json!({"status": changed}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statefulset::identity::REVISION_LABEL;

    fn pod(revision: &str, phase: &str, ready: bool) -> Value {
        json!({"metadata": {"labels": {REVISION_LABEL: revision}},
            "status": {"phase": phase, "conditions": [{"type": "Ready",
                "status": if ready { "True" } else { "False" },
                "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})
    }

    #[test]
    fn counts_and_a_completed_rollout() {
        let sts =
            json!({"metadata": {"generation": 4}, "spec": {"replicas": 3, "minReadySeconds": 10}});
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let pods = vec![
            pod("a", "Running", true),
            pod("b", "Running", true),
            pod("b", "Pending", false),
        ];
        let revs = Revisions {
            current: "a",
            update: "b",
            collision_count: 0,
        };
        let s = status(&sts, &pods, &revs, at("2026-01-01T00:00:05Z"));
        assert_eq!(
            s,
            json!({"observedGeneration": 4, "replicas": 3, "readyReplicas": 2,
                "currentReplicas": 1, "updatedReplicas": 2, "availableReplicas": 0,
                "currentRevision": "a", "updateRevision": "b", "collisionCount": 0})
        );
        let done = vec![pod("b", "Running", true), pod("b", "Running", true)];
        let s = status(&sts, &done, &revs, at("2026-01-01T00:00:10Z"));
        assert_eq!(
            (&s["currentRevision"], &s["currentReplicas"]),
            (&json!("b"), &json!(2))
        );
        assert_eq!(s["availableReplicas"], 2);
        assert!(patch(Some(&s), &s).is_none());
        let p = patch(None, &s).unwrap();
        assert_eq!(p["status"]["updateRevision"], "b");
    }
}
