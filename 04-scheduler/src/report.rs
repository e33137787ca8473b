//! What users see of a decision, exactly as on Kubernetes:
//!
//! - a placed pod gets a `Scheduled` event, "Successfully assigned
//!   default/web-1 to node-2" (its `PodScheduled: True` condition is the
//!   binding's, written by the API server);
//! - a pod that cannot be placed gets `PodScheduled: False` with reason
//!   `Unschedulable` (or `SchedulerError`) and the message, and a
//!   `FailedScheduling` warning event with the same message, which
//!   `kubectl describe pod` and `kubectl get events` show.
//!
//! Events go through the [`EventQueue`] and are written in the
//! background, one at a time, as kube-scheduler's event broadcaster does;
//! the condition is written at once, by the caller's task.

use jiff::Timestamp;
use orc_client::events::Note;
use orc_client::resources::by_kind;
use orc_client::{Client, ClientError, Method, path, time};
use serde_json::{Value, json};

use crate::events::EventQueue;
use crate::objects::PodInfo;

/// The component events are written as: kube-scheduler's profile name.
pub const COMPONENT: &str = "default-scheduler";

/// Why a pod has no node: the `PodScheduled` reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No node fits (Kubernetes' `PodReasonUnschedulable`).
    Unschedulable,
    /// Something else went wrong (`PodReasonSchedulerError`).
    SchedulerError,
}

impl Failure {
    pub fn reason(self) -> &'static str {
        match self {
            Failure::Unschedulable => "Unschedulable",
            Failure::SchedulerError => "SchedulerError",
        }
    }
}

// ANCHOR: condition
/// The `PodScheduled: False` condition to write for `failure`, or `None`
/// when the pod already says exactly that (no write for nothing). The
/// transition time stays the one written when the status last changed.
pub fn unscheduled_condition(
    pod: &PodInfo,
    failure: Failure,
    message: &str,
    now: Timestamp,
) -> Option<Value> {
    let reason = failure.reason();
    let previous = pod.scheduled.as_ref();
    if previous.is_some_and(|c| c.status == "False" && c.reason == reason && c.message == message) {
        return None;
    }
    let since = previous
        .filter(|c| c.status == "False")
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| time::format(now));
    Some(json!({
        "type": "PodScheduled",
        "status": "False",
        "reason": reason,
        "message": message,
        "lastProbeTime": null,
        "lastTransitionTime": since,
    }))
}
// ANCHOR_END: condition

/// The pod as an event's `involvedObject` needs it.
fn object(pod: &PodInfo) -> Value {
    json!({"metadata": {"namespace": pod.namespace, "name": pod.name, "uid": pod.uid}})
}

/// Reports a pod that was not placed: condition, then event (queued).
pub async fn failed(
    client: &Client,
    events: &EventQueue,
    pod: &PodInfo,
    failure: Failure,
    message: String,
) {
    if let Some(condition) = unscheduled_condition(pod, failure, &message, Timestamp::now()) {
        // A strategic merge patch merges `conditions` by `type`, so the
        // pod's other conditions are left alone.
        let patch = json!({"status": {"conditions": [condition]}});
        if let Err(error) = patch_status(client, &pod.namespace, &pod.name, &patch).await
            && !error.is_not_found()
        {
            tracing::warn!(pod = %pod.key(), %error, "writing the PodScheduled condition");
        }
    }
    events.record(
        object(pod),
        ("v1", "Pod"),
        Note::warning("FailedScheduling", message),
    );
}

/// Patches a pod's `status` subresource (strategic merge).
pub async fn patch_status(
    client: &Client,
    namespace: &str,
    name: &str,
    patch: &Value,
) -> Result<Value, ClientError> {
    let pods = by_kind("v1", "Pod")
        .ok_or_else(|| ClientError::Decode("pods are not in the resource table".into()))?;
    let url = format!("{}/status", path(pods, Some(namespace), Some(name)));
    let body = ("application/strategic-merge-patch+json", patch.to_string());
    client
        .send_path(Method::PATCH, &url, None, Some(body))
        .await
}

/// Reports a pod bound to `node` (queues its event).
pub fn scheduled(events: &EventQueue, pod: &PodInfo, node: &str) {
    let message = format!(
        "Successfully assigned {}/{} to {node}",
        pod.namespace, pod.name
    );
    events.record(
        object(pod),
        ("v1", "Pod"),
        Note::normal("Scheduled", message),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::pod::ScheduledCondition;

    #[test]
    fn the_condition_is_written_only_when_it_changes() {
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let mut pod = PodInfo::default();
        let first = unscheduled_condition(&pod, Failure::Unschedulable, "0/1 nodes", now).unwrap();
        assert_eq!(first["reason"], "Unschedulable");
        assert_eq!(first["lastTransitionTime"], "2023-11-14T22:13:20Z");
        pod.scheduled = Some(ScheduledCondition {
            status: "False".into(),
            reason: "Unschedulable".into(),
            message: "0/1 nodes".into(),
            last_transition_time: Some("2020-01-01T00:00:00Z".into()),
        });
        assert_eq!(
            unscheduled_condition(&pod, Failure::Unschedulable, "0/1 nodes", now),
            None
        );
        let changed =
            unscheduled_condition(&pod, Failure::Unschedulable, "0/2 nodes", now).unwrap();
        assert_eq!(
            changed["lastTransitionTime"], "2020-01-01T00:00:00Z",
            "still False since then"
        );
    }
}
