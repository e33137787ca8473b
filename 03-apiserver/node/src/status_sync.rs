//! Pod statuses to the API server, and the last step of a graceful delete.
//!
//! Chapter 02's agent hands each pod's status to a
//! [`StatusSink`] when it changes. [`ApiStatusSink`] is the kubelet's
//! *status manager*: it never talks to the server from the sync loop (a
//! slow server must not slow the pods down). It keeps the newest status of
//! each pod and puts the pod's uid on a [`WorkQueue`]; a worker sends it
//! as a merge patch of the pod's `status` subresource, and a failure comes
//! back after the queue's back-off. Ten changes while the server is away
//! are one request once it is back: the queue de-duplicates, and the
//! worker always sends the newest status.
//!
//! It also finishes graceful deletion: when the agent reports that a
//! terminating pod has nothing left on the node, the worker deletes the
//! API object with `gracePeriodSeconds: 0` and a uid precondition (the pod
//! of that name may meanwhile be a new one, which must not be deleted).
//!
//! It also puts back what someone else overwrote, as the kubelet's status
//! manager does (`needsReconcile`): when the pod in the API no longer says
//! what the agent last sent for the fields the agent owns (the phase and
//! the kubelet's conditions), say because the node lifecycle controller
//! marked the pods of a silent node `Ready=False`, the worker sends the
//! agent's status again ([`needs_reconcile`]).
//!
//! Only pods that came from the API are sent. A static pod would need a
//! *mirror pod* (an API object the kubelet creates to show it), which orc
//! does not build yet.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use orc_pod::agent::StatusSink;
use orc_pod::pod_spec::Pod;
use orc_pod::status::PodStatus;
use serde_json::{Value, json};

use orc_client::informer::Cache;
use orc_client::resources::{Resource, lookup};
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError, Method, path};

/// What the worker has to do for one pod.
#[derive(Debug, Clone, PartialEq)]
enum Work {
    /// Send this status (the `status` object) to `namespace/name`.
    Status {
        namespace: String,
        name: String,
        status: Value,
    },
    /// Delete the object, which has this uid, for good.
    Delete { namespace: String, name: String },
}

/// The `status.reason` of a pod the agent refuses (orc's own word; a
/// kubelet names the admission check that failed, e.g. `OutOfcpu`).
pub const REJECTED_REASON: &str = "Unsupported";

/// The status manager: statuses queued by uid, sent by [`Self::run`].
pub struct ApiStatusSink {
    /// The node's address, reported as every pod's `hostIP`.
    host_ip: Ipv4Addr,
    /// The informer's cache of this node's pods: which uids came from the API.
    cache: Arc<Cache>,
    queue: Arc<WorkQueue>,
    /// The newest work per pod uid. A std Mutex: held for a map operation,
    /// never across an `.await`.
    pending: Mutex<HashMap<String, Work>>,
    /// The status last sent for each pod uid, to notice when the API's
    /// copy has been changed by someone else.
    sent: Mutex<HashMap<String, Value>>,
    /// Uids of the pods already reported `Failed` because the agent cannot
    /// run them: the source finds them again at every sync.
    rejected: Mutex<HashSet<String>>,
}

impl ApiStatusSink {
    pub fn new(host_ip: Ipv4Addr, cache: Arc<Cache>) -> ApiStatusSink {
        ApiStatusSink {
            host_ip,
            cache,
            queue: Arc::new(WorkQueue::new()),
            pending: Mutex::new(HashMap::new()),
            sent: Mutex::new(HashMap::new()),
            rejected: Mutex::new(HashSet::new()),
        }
    }

    // ANCHOR: reject
    /// Marks API pod `object` `Failed`, once: the agent cannot run it
    /// (`message` says why, with field paths). A kubelet does the same when
    /// its admission refuses a pod, so the pod's owner (a ReplicaSet, a
    /// user) sees the refusal instead of a pod forever `Pending`.
    pub fn reject(&self, object: &Value, message: &str) {
        let text = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or("");
        let uid = text("/metadata/uid");
        let first = self
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uid.to_string());
        if !first || text("/status/phase") == "Failed" {
            return;
        }
        let work = Work::Status {
            namespace: text("/metadata/namespace").into(),
            name: text("/metadata/name").into(),
            status: json!({
                "phase": "Failed",
                "reason": REJECTED_REASON,
                "message": format!("orc cannot run this pod: {message}"),
                "hostIP": self.host_ip.to_string(),
            }),
        };
        self.enqueue(uid, work);
    }
    // ANCHOR_END: reject

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Work>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached API pod with this uid: `(namespace, name)`.
    fn api_pod(&self, namespace: &str, name: &str, uid: &str) -> Option<Value> {
        self.cache
            .get(&format!("{namespace}/{name}"))
            .filter(|o| o.pointer("/metadata/uid").and_then(Value::as_str) == Some(uid))
    }

    fn sent(&self) -> std::sync::MutexGuard<'_, HashMap<String, Value>> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ANCHOR: reconcile
    /// Looks at `api_pod` as the informer now has it: if nothing is on its
    /// way for it and it no longer says what the agent last sent, sends
    /// that again.
    pub fn reconcile(&self, api_pod: &Value) {
        let text = |p: &str| api_pod.pointer(p).and_then(Value::as_str).unwrap_or("");
        let uid = text("/metadata/uid");
        if self.pending().contains_key(uid) {
            return;
        }
        let Some(sent) = self.sent().get(uid).cloned() else {
            return;
        };
        if needs_reconcile(&api_pod["status"], &sent) {
            tracing::info!(pod = %text("/metadata/name"), "pod status changed by another; sending ours again");
            let work = Work::Status {
                namespace: text("/metadata/namespace").into(),
                name: text("/metadata/name").into(),
                status: keeping_others(sent, &api_pod["status"]),
            };
            self.enqueue(uid, work);
        }
    }
    // ANCHOR_END: reconcile

    fn enqueue(&self, uid: &str, work: Work) {
        self.pending().insert(uid.to_string(), work);
        self.queue.add(uid);
    }

    // ANCHOR: run
    /// Sends queued work until the queue is shut down. One worker: the
    /// queue never hands one uid to two workers anyway, and one node's pods
    /// are few.
    pub async fn run(self: Arc<Self>, client: Client) {
        let pods = pods();
        while let Some(uid) = self.queue.next().await {
            let work = self.pending().get(&uid).cloned();
            let result = match &work {
                None => Ok(()),
                Some(work) => send(&client, pods, &uid, work).await,
            };
            // Gone (404), or the name is another pod's now (409 on the uid
            // precondition): nothing is left to do for this uid either.
            let finished = match &result {
                Ok(()) => true,
                Err(e) => e.is_not_found() || e.is_conflict(),
            };
            match (&work, &result) {
                (Some(Work::Status { status, .. }), Ok(())) => {
                    self.sent().insert(uid.clone(), status.clone());
                }
                (Some(Work::Delete { .. }), _) if finished => {
                    self.sent().remove(&uid);
                }
                _ => {}
            }
            if finished {
                let mut pending = self.pending();
                if pending.get(&uid) == work.as_ref() {
                    pending.remove(&uid);
                }
                drop(pending);
                self.queue.forget(&uid);
            } else if let Err(error) = result {
                tracing::warn!(%uid, %error, "pod update failed; retrying");
                self.queue.add_rate_limited(&uid);
            }
            self.queue.done(&uid);
        }
    }
    // ANCHOR_END: run

    /// Stops [`Self::run`] once the queued work is sent.
    pub fn shut_down(&self) {
        self.queue.shut_down();
    }

    /// The `status` object sent for `pod`: chapter 02's status plus what
    /// only the node knows about itself (`hostIP`) and the list forms
    /// Kubernetes added for dual-stack (`podIPs`, `hostIPs`). Fields the
    /// agent no longer reports are sent as `null`, which a merge patch
    /// reads as "remove".
    pub fn api_status(&self, status: &PodStatus) -> Value {
        let mut value = serde_json::to_value(status).unwrap_or_default();
        let host = self.host_ip.to_string();
        value["hostIP"] = json!(host);
        value["hostIPs"] = json!([{"ip": host}]);
        match &status.pod_ip {
            Some(ip) => value["podIPs"] = json!([{"ip": ip}]),
            None => {
                value["podIP"] = Value::Null;
                value["podIPs"] = Value::Null;
            }
        }
        if status.start_time.is_none() {
            value["startTime"] = Value::Null;
        }
        value
    }
}

/// The pod conditions the kubelet owns (Kubernetes'
/// `PodConditionByKubelet`); others (`DisruptionTarget`, readiness gates)
/// belong to someone else.
const KUBELET_CONDITIONS: [&str; 5] = [
    "PodScheduled",
    "Ready",
    "Initialized",
    "ContainersReady",
    "PodReadyToStartContainers",
];

// ANCHOR: needs_reconcile
/// Whether the API's `status` of a pod has drifted from `sent`, the status
/// the agent last sent, in what the agent owns: the phase, and the status
/// of each kubelet condition it sent.
pub fn needs_reconcile(api: &Value, sent: &Value) -> bool {
    if api.get("phase") != sent.get("phase") {
        return true;
    }
    let conditions = |status: &Value| -> Vec<Value> {
        status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| KUBELET_CONDITIONS.iter().any(|k| c["type"] == *k))
            .cloned()
            .collect()
    };
    let in_api = conditions(api);
    conditions(sent).iter().any(|ours| {
        let theirs = in_api.iter().find(|c| c["type"] == ours["type"]);
        theirs.is_none_or(|c| c["status"] != ours["status"])
    })
}
// ANCHOR_END: needs_reconcile

/// `ours` with the conditions of `api` that other components own (a
/// `DisruptionTarget`) added back: a merge patch replaces the whole list.
fn keeping_others(mut ours: Value, api: &Value) -> Value {
    let others = api["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| !KUBELET_CONDITIONS.iter().any(|k| c["type"] == *k))
        .cloned();
    if let Some(list) = ours["conditions"].as_array_mut() {
        list.extend(others);
    }
    ours
}

/// Sends one piece of work for pod `uid`: its status as a merge patch of
/// the `status` subresource, or its final delete (grace period 0, only if
/// the name still belongs to this uid).
async fn send(client: &Client, pods: &Resource, uid: &str, work: &Work) -> Result<(), ClientError> {
    match work {
        Work::Status {
            namespace,
            name,
            status,
        } => client
            .merge_patch(
                pods,
                Some(namespace),
                name,
                Some("status"),
                &json!({"status": status}),
            )
            .await
            .map(|_| ()),
        Work::Delete { namespace, name } => {
            let options = json!({
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": uid},
            });
            client
                .send_path(
                    Method::DELETE,
                    &path(pods, Some(namespace), Some(name)),
                    None,
                    Some(("application/json", options.to_string())),
                )
                .await
                .map(|_| ())
        }
    }
}

impl StatusSink for ApiStatusSink {
    fn status_changed(&self, pod: &Pod, status: &PodStatus) {
        let (namespace, name) = (&pod.metadata.namespace, &pod.metadata.name);
        // Static pods are not in the API (no mirror pods yet).
        if self.api_pod(namespace, name, &pod.metadata.uid).is_none() {
            return;
        }
        let work = Work::Status {
            namespace: namespace.clone(),
            name: name.clone(),
            status: self.api_status(status),
        };
        self.enqueue(&pod.metadata.uid, work);
    }

    fn pod_terminated(&self, uid: &str) {
        let found = self
            .cache
            .list()
            .into_iter()
            .find(|o| o.pointer("/metadata/uid").and_then(Value::as_str) == Some(uid));
        let Some(object) = found else { return };
        let text = |p: &str| {
            object
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let work = Work::Delete {
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name"),
        };
        // Called at every sync until the deletion shows in the cache:
        // queue it once, not once per sync.
        if self.pending().get(uid) != Some(&work) {
            self.enqueue(uid, work);
        }
    }
}

/// The `pods` row of the resource table.
fn pods() -> &'static Resource {
    lookup("", "v1", "pods").expect("pods are in the resource table")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kubelet_condition_overwritten_is_sent_again_and_others_are_not_ours() {
        let sent = json!({"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"}]});
        assert!(!needs_reconcile(&sent, &sent));
        let marked = json!({"phase": "Running", "conditions": [
            {"type": "Ready", "status": "False", "lastTransitionTime": "later"},
            {"type": "ContainersReady", "status": "True"}]});
        assert!(needs_reconcile(&marked, &sent));
        let with_others = json!({"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"},
            {"type": "DisruptionTarget", "status": "True"}]});
        assert!(
            !needs_reconcile(&with_others, &sent),
            "a condition another component owns is left alone"
        );
        let failed = json!({"phase": "Failed", "conditions": sent["conditions"]});
        assert!(needs_reconcile(&failed, &sent));
        let again = keeping_others(sent.clone(), &with_others);
        assert_eq!(again["conditions"].as_array().unwrap().len(), 3);
        assert_eq!(again["conditions"][2]["type"], "DisruptionTarget");
    }
}
