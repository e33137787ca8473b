//! What the Job controller reads from its pods, as pure functions: how a
//! pod ended and when, its index, its tracking finalizer; and what a new
//! pod looks like.

use jiff::Timestamp;
use orc_client::time;
use serde_json::{Value, json};

use super::object::{COMPLETION_INDEX, INDEX_ENV, Job, TRACKING_FINALIZER};
use crate::claims::{controller_reference, is_deleting};
use crate::object::{annotation, namespace_and_name};

/// How a pod of a Job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Still running (or about to).
    Active,
    /// Exited 0 (`Succeeded`).
    Succeeded,
    /// `Failed`, or deleted before it succeeded: Kubernetes counts a pod
    /// deleted mid-run as a failure (it never gets to say otherwise).
    Failed,
}

fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// How `pod` stands.
pub fn outcome(pod: &Value) -> Outcome {
    match phase(pod) {
        "Succeeded" => Outcome::Succeeded,
        "Failed" => Outcome::Failed,
        _ if is_deleting(pod) => Outcome::Failed,
        _ => Outcome::Active,
    }
}

/// Whether the pod still carries the Job's tracking finalizer: it ended
/// but has not been counted yet.
pub fn is_tracked(pod: &Value) -> bool {
    pod.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|f| f == TRACKING_FINALIZER))
}

/// When the pod ended: the last container's `finishedAt`, else when its
/// deletion began, else its creation (Kubernetes' `getFinishedTime`).
pub fn finished_at(pod: &Value) -> Timestamp {
    let finished = container_statuses(pod)
        .filter_map(|s| time::at(s, "/state/terminated/finishedAt"))
        .max();
    finished
        .or_else(|| time::at(pod, "/metadata/deletionTimestamp"))
        .or_else(|| time::at(pod, "/metadata/creationTimestamp"))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Init and app container statuses, in that order.
pub fn container_statuses(pod: &Value) -> impl Iterator<Item = &Value> {
    ["initContainerStatuses", "containerStatuses"]
        .into_iter()
        .filter_map(|list| pod.pointer(&format!("/status/{list}"))?.as_array())
        .flatten()
}

/// Restarts of the pod's containers (`restartCount`, summed).
pub fn restarts(pod: &Value) -> i64 {
    container_statuses(pod)
        .filter_map(|s| s["restartCount"].as_i64())
        .sum()
}

/// An Indexed Job pod's index, from its annotation.
pub fn index(pod: &Value) -> Option<i64> {
    annotation(pod, COMPLETION_INDEX)?.parse().ok()
}

// ANCHOR: from_template
/// A new pod of `job` (with `index` for an Indexed Job): the template,
/// owned by the Job, held by the tracking finalizer.
pub fn from_template(job: &Value, index: Option<i64>) -> Value {
    let (ns, name) = namespace_and_name(job);
    let template = Job(job).template();
    let prefix = match index {
        Some(i) => format!("{name}-{i}-"),
        None => format!("{name}-"),
    };
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            // Names are at most 63 characters; the server adds 5.
            "generateName": prefix.chars().take(58).collect::<String>(),
            "namespace": ns,
            "labels": template.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
            "annotations": template.pointer("/metadata/annotations").cloned().unwrap_or(json!({})),
            "ownerReferences": [controller_reference(job, "Job", "batch/v1")],
            "finalizers": [TRACKING_FINALIZER],
        },
        "spec": template.get("spec").cloned().unwrap_or(json!({})),
    });
    if let Some(i) = index {
        add_index(&mut pod, name, i);
    }
    pod
}
// ANCHOR_END: from_template

/// An Indexed Job pod's identity: the index as annotation and label, the
/// `JOB_COMPLETION_INDEX` variable read from that annotation through the
/// downward API, and the hostname `<job>-<index>`.
fn add_index(pod: &mut Value, job_name: &str, index: i64) {
    pod["metadata"]["annotations"][COMPLETION_INDEX] = json!(index.to_string());
    pod["metadata"]["labels"][COMPLETION_INDEX] = json!(index.to_string());
    if pod["spec"].get("hostname").is_none() {
        pod["spec"]["hostname"] = json!(format!("{job_name}-{index}"));
    }
    let variable = json!({"name": INDEX_ENV, "valueFrom": {"fieldRef": {
        "fieldPath": format!("metadata.annotations['{COMPLETION_INDEX}']")}}});
    for list in ["initContainers", "containers"] {
        let Some(containers) = pod["spec"].get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for container in containers {
            let env = container
                .as_object_mut()
                .map(|c| c.entry("env").or_insert(json!([])));
            if let Some(Value::Array(env)) = env {
                if !env.iter().any(|e| e["name"] == INDEX_ENV) {
                    env.push(variable.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_indexed_pod_knows_its_index_three_ways() {
        let job = json!({"metadata": {"name": "sum", "namespace": "default", "uid": "u"},
            "spec": {"template": {"metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}});
        let pod = from_template(&job, Some(2));
        assert_eq!(pod["metadata"]["generateName"], "sum-2-");
        assert_eq!(pod["metadata"]["annotations"][COMPLETION_INDEX], "2");
        assert_eq!(pod["metadata"]["labels"][COMPLETION_INDEX], "2");
        assert_eq!(pod["spec"]["hostname"], "sum-2");
        let env = &pod["spec"]["containers"][0]["env"][0];
        assert_eq!(env["name"], INDEX_ENV);
        assert_eq!(index(&pod), Some(2));
        assert!(is_tracked(&pod));
        assert_eq!(
            pod["metadata"]["ownerReferences"][0]["apiVersion"],
            "batch/v1"
        );
    }

    #[test]
    fn a_pod_deleted_mid_run_has_failed() {
        let running = json!({"status": {"phase": "Running"}});
        assert_eq!(outcome(&running), Outcome::Active);
        let deleted = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"phase": "Running"}});
        assert_eq!(outcome(&deleted), Outcome::Failed);
        assert_eq!(finished_at(&deleted).to_string(), "2026-01-01T00:00:00Z");
    }
}
