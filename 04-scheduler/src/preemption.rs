//! Preemption's effects: what the scheduler writes once
//! `DefaultPreemption` has nominated a node (Kubernetes'
//! `prepareCandidate` and the nomination in `handleSchedulingFailure`).
//!
//! For each victim: a `DisruptionTarget` condition saying why it is
//! going, a `Preempted` event, and a graceful DELETE: its node agent stops
//! it within its `terminationGracePeriodSeconds`, as for any deletion.
//! Then the preemptor's `status.nominatedNodeName` names the node. The
//! pod itself waits in the queue; the victims' deletions wake it, and the
//! next cycle places it.

use jiff::Timestamp;
use orc_client::events::{Note, Recorder};
use orc_client::resources::by_kind;
use orc_client::{Client, Method, path, time};
use serde_json::json;

use crate::framework::{Nomination, Victim};
use crate::objects::PodInfo;
use crate::report::{COMPONENT, patch_status};

// ANCHOR: evict
/// Evicts the nomination's victims, then nominates the node for `pod`.
pub async fn carry_out(
    client: &Client,
    recorder: &Recorder,
    pod: &PodInfo,
    nomination: &Nomination,
) {
    for victim in &nomination.victims {
        evict(client, recorder, pod, victim, &nomination.node).await;
    }
    let patch = json!({"status": {"nominatedNodeName": nomination.node}});
    if let Err(error) = patch_status(client, &pod.namespace, &pod.name, &patch).await
        && !error.is_not_found()
    {
        tracing::warn!(pod = %pod.key(), %error, "writing nominatedNodeName");
    }
}

/// One victim: why, then the delete.
async fn evict(client: &Client, recorder: &Recorder, pod: &PodInfo, victim: &Victim, node: &str) {
    let condition = json!({
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "PreemptionByScheduler",
        "message": format!("{COMPONENT}: preempting to accommodate a higher priority pod"),
        "lastTransitionTime": time::format(Timestamp::now()),
    });
    let patch = json!({"status": {"conditions": [condition]}});
    // A victim already gone needs neither the condition nor the delete.
    if let Err(error) = patch_status(client, &victim.namespace, &victim.name, &patch).await {
        if !error.is_not_found() {
            tracing::warn!(victim = %victim.name, %error, "writing DisruptionTarget");
        }
        return;
    }
    let object = json!({"metadata": {"namespace": victim.namespace, "name": victim.name,
        "uid": victim.uid}});
    let message = format!("Preempted by pod {} on node {node}", pod.uid);
    recorder
        .record(&object, ("v1", "Pod"), Note::normal("Preempted", message))
        .await;
    let Some(pods) = by_kind("v1", "Pod") else {
        return;
    };
    // Only this pod: if the name now belongs to a new pod, leave it.
    let options = json!({"kind": "DeleteOptions", "apiVersion": "v1",
        "preconditions": {"uid": victim.uid}});
    let url = path(pods, Some(&victim.namespace), Some(&victim.name));
    let body = Some(("application/json", options.to_string()));
    if let Err(error) = client.send_path(Method::DELETE, &url, None, body).await
        && !error.is_not_found()
    {
        tracing::warn!(victim = %victim.name, %error, "deleting a preemption victim");
    }
}
// ANCHOR_END: evict
