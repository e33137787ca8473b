//! What a ReplicaSet controller needs to know about pods, as pure
//! functions: which count, which are ready and available, which go first
//! when there are too many, and what a new one looks like.

use std::cmp::Ordering;

use jiff::Timestamp;
use orc_client::conditions::{self, is_ready};
use orc_client::time;
use serde_json::{Value, json};

use crate::claims::{controller_reference, is_deleting};
use crate::object::{ReplicaSet, Workload, namespace_and_name};

/// Whether a pod counts towards its ReplicaSet: not finished (`Succeeded`
/// or `Failed` pods are replaced, as Kubernetes' `IsPodActive` says) and
/// not being deleted.
pub fn is_active(pod: &Value) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && !is_deleting(pod)
}

fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// When the pod's `Ready` condition last became true; `None` when it is
/// not ready.
pub fn ready_since(pod: &Value) -> Option<Timestamp> {
    let ready = conditions::find(pod, "Ready")?;
    if ready["status"] != "True" {
        return None;
    }
    Some(time::at(ready, "/lastTransitionTime").unwrap_or(Timestamp::UNIX_EPOCH))
}

/// Whether the pod has been ready for at least `min_ready_seconds` at
/// `now`: *available*, in Kubernetes' words.
pub fn is_available(pod: &Value, min_ready_seconds: i64, now: Timestamp) -> bool {
    ready_since(pod).is_some_and(|since| {
        min_ready_seconds <= 0 || time::add_seconds(since, min_ready_seconds) <= now
    })
}

// ANCHOR: deletion_order
/// Which of two pods to delete first when scaling down, as Kubernetes'
/// `ActivePods` orders them: the one that costs least to lose goes first.
/// Not yet on a node before on a node; Pending before Unknown before
/// Running; not ready before ready; ready for less time before longer; more
/// container restarts before fewer; newer before older.
pub fn deletion_order(a: &Value, b: &Value) -> Ordering {
    let assigned = |p: &Value| {
        p.pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty())
    };
    let phase_rank = |p: &Value| match phase(p) {
        "Pending" | "" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 3,
    };
    let restarts = |p: &Value| -> i64 {
        p.pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c["restartCount"].as_i64())
            .max()
            .unwrap_or(0)
    };
    let created = |p: &Value| time::at(p, "/metadata/creationTimestamp");
    assigned(a)
        .cmp(&assigned(b))
        .then(phase_rank(a).cmp(&phase_rank(b)))
        .then(is_ready(a).cmp(&is_ready(b)))
        // Both ready: the one ready since later goes first.
        .then(ready_since(b).cmp(&ready_since(a)))
        .then(restarts(b).cmp(&restarts(a)))
        .then(created(b).cmp(&created(a)))
}
// ANCHOR_END: deletion_order

/// A new pod for the ReplicaSet `rs`: its template's metadata and spec, a
/// generated name starting with the ReplicaSet's, and the ReplicaSet as
/// controller.
pub fn from_template(rs: &Value) -> Value {
    let template = ReplicaSet(rs).template();
    let (_, name) = namespace_and_name(rs);
    // Names are at most 63 characters, and the server adds 5 random ones.
    let prefix: String = format!("{name}-").chars().take(58).collect();
    let mut metadata = json!({
        "generateName": prefix,
        "namespace": rs.pointer("/metadata/namespace").cloned().unwrap_or(Value::Null),
        "ownerReferences": [controller_reference(rs, "ReplicaSet", "apps/v1")],
    });
    for field in ["labels", "annotations"] {
        if let Some(value) = template.pointer(&format!("/metadata/{field}")) {
            metadata[field] = value.clone();
        }
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": template.get("spec").cloned().unwrap_or(json!({})),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(node: &str, phase: &str, ready_at: Option<&str>, restarts: i64, created: &str) -> Value {
        let conditions: Vec<Value> = ready_at
            .iter()
            .map(|t| json!({"type": "Ready", "status": "True", "lastTransitionTime": t}))
            .collect();
        json!({"metadata": {"creationTimestamp": created},
            "spec": {"nodeName": node},
            "status": {"phase": phase, "conditions": conditions,
                "containerStatuses": [{"restartCount": restarts}]}})
    }

    #[test]
    fn the_cheapest_pod_to_lose_goes_first() {
        let t0 = "2026-01-01T00:00:00Z";
        let t1 = "2026-01-01T00:01:00Z";
        let unscheduled = pod("", "Pending", None, 0, t0);
        let pending = pod("n", "Pending", None, 0, t0);
        let running = pod("n", "Running", None, 0, t0);
        let ready_late = pod("n", "Running", Some(t1), 0, t0);
        let ready_early = pod("n", "Running", Some(t0), 0, t0);
        let mut pods = vec![&ready_early, &running, &unscheduled, &ready_late, &pending];
        pods.sort_by(|a, b| deletion_order(a, b));
        assert_eq!(
            pods,
            vec![&unscheduled, &pending, &running, &ready_late, &ready_early]
        );
        let crashing = pod("n", "Running", None, 5, t0);
        let newer = pod("n", "Running", None, 0, t1);
        let mut pods = vec![&running, &newer, &crashing];
        pods.sort_by(|a, b| deletion_order(a, b));
        assert_eq!(pods, vec![&crashing, &newer, &running]);
    }

    #[test]
    fn availability_needs_readiness_for_min_ready_seconds() {
        let p = pod(
            "n",
            "Running",
            Some("2026-01-01T00:00:00Z"),
            0,
            "2026-01-01T00:00:00Z",
        );
        let ready_at = time::parse("2026-01-01T00:00:00Z").unwrap();
        assert!(is_available(&p, 0, ready_at));
        assert!(!is_available(&p, 10, time::add_seconds(ready_at, 9)));
        assert!(is_available(&p, 10, time::add_seconds(ready_at, 10)));
        let finished = json!({"status": {"phase": "Succeeded"}});
        assert!(!is_active(&finished) && !is_ready(&finished));
    }

    #[test]
    fn a_new_pod_carries_the_template_and_its_controller() {
        let rs = json!({"metadata": {"name": "web-5d8f", "namespace": "shop", "uid": "u1"},
            "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}});
        let pod = from_template(&rs);
        assert_eq!(pod["metadata"]["generateName"], "web-5d8f-");
        assert_eq!(pod["metadata"]["namespace"], "shop");
        assert_eq!(pod["metadata"]["labels"]["app"], "web");
        let owner = &pod["metadata"]["ownerReferences"][0];
        assert_eq!(
            (owner["kind"].as_str(), owner["uid"].as_str()),
            (Some("ReplicaSet"), Some("u1"))
        );
        assert_eq!(owner["controller"], true);
        assert_eq!(pod["spec"]["containers"][0]["image"], "busybox");
    }
}
