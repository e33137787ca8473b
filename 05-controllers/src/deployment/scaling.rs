//! Following a new size without rolling, as pure functions: which
//! ReplicaSets get how many replicas when a Deployment is paused or was
//! resized (`kubectl scale`) since its ReplicaSets were last sized.
//!
//! This is Kubernetes' `sync` path (`pkg/controller/deployment/sync.go`):
//! `isScalingEvent` notices the resize, `scale` shares it out, and
//! `scaleReplicaSet` writes one ReplicaSet's new size with the
//! Deployment's size recorded beside it, so the next reconcile sees the
//! resize as done. The proportional arithmetic itself is
//! [`rolling::proportional`] (lab 05).

use serde_json::{Map, Value, json};

use super::object::{DESIRED_REPLICAS, Deployment, MAX_REPLICAS, Strategy};
use super::rolling::{self, Share};
use crate::object::{ReplicaSet, Workload, by_age};

/// Whether `d` was resized since its ReplicaSets with replicas were last
/// sized: one of them records another `spec.replicas` (Kubernetes'
/// `isScalingEvent`).
pub fn is_scaling_event(d: Deployment, new: Option<&Value>, old: &[Value]) -> bool {
    new.into_iter()
        .chain(old)
        .map(ReplicaSet)
        .filter(|rs| rs.replicas() > 0)
        .filter_map(|rs| rs.desired_replicas_annotation())
        .any(|recorded| recorded != d.replicas())
}

/// Whether the current ReplicaSet alone holds the Deployment's size, all
/// of it available (Kubernetes' `IsSaturated`): the rollout is over, and
/// old ReplicaSets only wait to be emptied.
pub fn is_saturated(rs: ReplicaSet, desired: i64) -> bool {
    rs.desired_replicas_annotation() == Some(desired)
        && rs.replicas() == desired
        && rs.available_replicas() == desired
}

/// Whether giving `rs` `count` replicas needs a write: the count differs,
/// or `rs` does not record `d`'s current size (Kubernetes'
/// `ReplicasAnnotationsNeedUpdate`).
pub fn needs_scaling(d: Deployment, rs: ReplicaSet, count: i64) -> bool {
    let recorded = rs.desired_replicas_annotation() == Some(d.replicas())
        && rs.max_replicas_annotation() == Some(d.max_replicas());
    count != rs.replicas() || !recorded
}

/// The Deployment's size as a ReplicaSet records it when sized:
/// `desired-replicas` and `max-replicas` (Kubernetes'
/// `SetReplicasAnnotations`).
pub fn size_annotations(d: Deployment) -> Map<String, Value> {
    let mut annotations = Map::new();
    annotations.insert(DESIRED_REPLICAS.into(), json!(d.replicas().to_string()));
    annotations.insert(MAX_REPLICAS.into(), json!(d.max_replicas().to_string()));
    annotations
}

// ANCHOR: sizes_after_resize
/// The `spec.replicas` to give each ReplicaSet so `d` follows its new size
/// without rolling (Kubernetes' `scale`). `new` is the current ReplicaSet,
/// `old` the others, oldest first.
pub fn sizes_after_resize<'a>(
    d: Deployment,
    new: Option<&'a Value>,
    old: &'a [Value],
) -> Vec<(&'a Value, i64)> {
    let desired = d.replicas();
    let has_replicas = |rs: &&Value| ReplicaSet(rs).replicas() > 0;
    let mut active: Vec<&Value> = new.into_iter().chain(old).filter(has_replicas).collect();
    match active.as_slice() {
        // Nothing runs: the current ReplicaSet, else the newest, takes all.
        [] => new
            .or(old.last())
            .map(|rs| (rs, desired))
            .into_iter()
            .collect(),
        // One runs: no mix of versions to keep, it takes all.
        [one] => vec![(*one, desired)],
        // The rollout is over: old ones only wait to be emptied.
        _ if new.is_some_and(|rs| is_saturated(ReplicaSet(rs), desired)) => {
            old.iter().filter(has_replicas).map(|rs| (rs, 0)).collect()
        }
        // Recreate shares nothing: each keeps its size until the rollout
        // empties the old ones, but records the new size, or every
        // reconcile would take this path again.
        _ if d.strategy() == Strategy::Recreate => active
            .iter()
            .map(|rs| (*rs, ReplicaSet(rs).replicas()))
            .collect(),
        // Mid-rollout: keep the mix of old and new, in proportion.
        _ => {
            active.sort_by(|a, b| by_age(a, b));
            let share = |rs: &&Value| Share {
                replicas: ReplicaSet(rs).replicas(),
                max_before: ReplicaSet(rs).max_replicas_annotation(),
            };
            let shares: Vec<Share> = active.iter().map(share).collect();
            let fallback = d.status_replicas();
            let sizes = rolling::proportional(desired, d.max_surge(), &shares, fallback);
            active.into_iter().zip(sizes).collect()
        }
    }
}
// ANCHOR_END: sizes_after_resize

#[cfg(test)]
mod tests {
    use super::*;

    /// A Deployment of `replicas` with a 25% surge and no unavailability.
    fn deployment(replicas: i64) -> Value {
        json!({"spec": {"replicas": replicas,
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}}})
    }

    /// A ReplicaSet `name`, created at second `age`, with `replicas` (all
    /// available), sized for a Deployment of `desired` (max `max`).
    fn rs(name: &str, age: u32, replicas: i64, (desired, max): (i64, i64)) -> Value {
        json!({"metadata": {"name": name,
                "creationTimestamp": format!("2026-01-01T00:00:{age:02}Z"),
                "annotations": {DESIRED_REPLICAS: desired.to_string(),
                    MAX_REPLICAS: max.to_string()}},
            "spec": {"replicas": replicas},
            "status": {"replicas": replicas, "availableReplicas": replicas}})
    }

    /// The sizes as (name, replicas).
    fn named(sizes: Vec<(&Value, i64)>) -> Vec<(String, i64)> {
        let name = |rs: &Value| rs["metadata"]["name"].as_str().unwrap().to_string();
        sizes.into_iter().map(|(rs, n)| (name(rs), n)).collect()
    }

    #[test]
    fn a_resize_is_a_replicaset_with_replicas_recording_another_size() {
        let d = deployment(5);
        let sized = rs("web-1", 0, 4, (4, 5));
        assert!(is_scaling_event(Deployment(&d), Some(&sized), &[]));
        let current = rs("web-1", 0, 5, (5, 7));
        assert!(!is_scaling_event(Deployment(&d), Some(&current), &[]));
        let empty = rs("web-0", 0, 0, (4, 5));
        assert!(
            !is_scaling_event(Deployment(&d), None, &[empty]),
            "no replicas"
        );
    }

    #[test]
    fn one_replicaset_with_replicas_or_none_takes_the_whole_size() {
        let d = deployment(6);
        let (old, new) = (rs("web-1", 0, 0, (4, 5)), rs("web-2", 1, 4, (4, 5)));
        let sizes = sizes_after_resize(Deployment(&d), Some(&new), std::slice::from_ref(&old));
        assert_eq!(named(sizes), [("web-2".into(), 6)]);
        let (idle, newest) = (rs("web-1", 0, 0, (4, 5)), rs("web-2", 1, 0, (4, 5)));
        let old = [idle, newest];
        assert_eq!(
            named(sizes_after_resize(Deployment(&d), None, &old)),
            [("web-2".into(), 6)]
        );
        assert!(sizes_after_resize(Deployment(&d), None, &[]).is_empty());
    }

    #[test]
    fn a_saturated_replicaset_sends_the_old_ones_to_zero() {
        let d = deployment(4);
        let (old, new) = (rs("web-1", 0, 2, (4, 5)), rs("web-2", 1, 4, (4, 5)));
        let sizes = sizes_after_resize(Deployment(&d), Some(&new), std::slice::from_ref(&old));
        assert_eq!(named(sizes), [("web-1".into(), 0)]);
    }

    #[test]
    fn mid_rollout_the_sizes_keep_their_proportion_oldest_first() {
        // 10 replicas with 3 surge: 8 old and 5 new, resized to 20 (5 surge).
        let d = deployment(20);
        let (old, new) = (rs("web-1", 0, 8, (10, 13)), rs("web-2", 1, 5, (10, 13)));
        let sizes = sizes_after_resize(Deployment(&d), Some(&new), std::slice::from_ref(&old));
        assert_eq!(named(sizes), [("web-1".into(), 15), ("web-2".into(), 10)]);
    }

    #[test]
    fn recreate_keeps_each_size_and_records_the_new_one() {
        let d = json!({"spec": {"replicas": 6, "strategy": {"type": "Recreate"}}});
        let (old, new) = (rs("web-1", 0, 3, (4, 4)), rs("web-2", 1, 1, (4, 4)));
        let sizes = sizes_after_resize(Deployment(&d), Some(&new), std::slice::from_ref(&old));
        assert_eq!(named(sizes), [("web-2".into(), 1), ("web-1".into(), 3)]);
        assert!(
            needs_scaling(Deployment(&d), ReplicaSet(&old), 3),
            "records 6"
        );
        let recorded = rs("web-1", 0, 3, (6, 6));
        assert!(!needs_scaling(Deployment(&d), ReplicaSet(&recorded), 3));
        assert!(needs_scaling(Deployment(&d), ReplicaSet(&recorded), 2));
    }
}
