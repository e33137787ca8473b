//! A stand-in node for tests with no node agent: it marks every new pod
//! Running and Ready, as an agent would once the pod's containers passed
//! their readiness probes. Shared by this crate's tests and lab 05's
//! walkthrough (`#[path]`-included there), so both see the same node.

use std::time::Duration;

use serde_json::{Value, json};

const PODS: &str = "/api/v1/namespaces/default/pods";

/// Marks the pods of `default` Running and Ready, over and over, until the
/// task is aborted; `base` is the API server's URL.
pub fn ready_every_pod(http: reqwest::Client, base: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let list: Value = match http.get(format!("{base}{PODS}")).send().await {
                Ok(r) => r.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            for pod in list["items"].as_array().into_iter().flatten() {
                let ready = pod["status"]["conditions"]
                    .as_array()
                    .is_some_and(|c| !c.is_empty());
                if ready || pod["metadata"]["deletionTimestamp"].is_string() {
                    continue;
                }
                let name = pod["metadata"]["name"].as_str().unwrap_or("");
                // `startTime` as an agent sets it: the HPA's CPU rule reads it.
                let status = json!({"status": {"phase": "Running", "startTime": "2026-01-01T00:00:00Z", "conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
                let _ = http
                    .patch(format!("{base}{PODS}/{name}/status"))
                    .header("content-type", "application/merge-patch+json")
                    .body(status.to_string())
                    .send()
                    .await;
            }
            // A node's status loop, not a wait: tests wait on what they
            // assert (rollout status, conditions), never on this period.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}
