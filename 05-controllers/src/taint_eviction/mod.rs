//! Taint eviction: deletes the pods of a node tainted `NoExecute` once
//! their tolerations run out (Kubernetes' `taint-eviction-controller`,
//! once the node lifecycle controller's `NoExecuteTaintManager`).
//!
//! Informers on Pods and Nodes queue a pod when it changes and every pod
//! of a node when the node's taints change. A worker [`decide::decide`]s,
//! then this shell either waits for the pod's time on the injected clock,
//! or marks the pod with a `DisruptionTarget` condition, records the
//! `TaintManagerEviction` event `kubectl describe pod` shows, and deletes
//! it (gracefully: on a node that is alive the agent stops it; on a dead
//! one it stays `Terminating`, and its owner replaces it meanwhile, since
//! a terminating pod no longer counts as one of its replicas).
//!
//! Layout: `decide.rs` (the verdict, pure).

pub mod decide;

use std::sync::Arc;

use orc_client::events::{Note, Recorder};
use orc_client::informer::{Cache, Notification};
use orc_client::resources::{Resource, lookup};
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::claims::is_deleting;
use crate::clock::{self, SharedClock};
use crate::object::{key_of, namespace_and_name, uid};
use crate::worker::{self, Action};
use decide::Eviction;
use orc_client::informer as informers;

/// The controller. [`TaintEvictionController::run`] starts it.
pub struct TaintEvictionController {
    client: Client,
    pods: Arc<Cache>,
    nodes: Arc<Cache>,
    queue: Arc<WorkQueue>,
    clock: SharedClock,
    recorder: Recorder,
}

fn pods() -> &'static Resource {
    lookup("", "v1", "pods").expect("the resource table serves pods")
}

fn nodes() -> &'static Resource {
    lookup("", "v1", "nodes").expect("the resource table serves nodes")
}

/// `spec.nodeName`; empty for a pod not yet scheduled.
fn node_name(pod: &Value) -> &str {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("")
}

impl TaintEvictionController {
    /// Follows Pods and Nodes through `client`, and once both are listed,
    /// evicts with `workers` workers on `clock` until dropped.
    pub async fn run(client: Client, workers: usize, clock: SharedClock) {
        let pod_informer = informers::everything(&client, pods());
        let node_informer = informers::everything(&client, nodes());
        let controller = Arc::new(TaintEvictionController {
            pods: pod_informer.cache(),
            nodes: node_informer.cache(),
            recorder: Recorder::new(client.clone(), "taint-eviction-controller"),
            queue: Arc::new(WorkQueue::new()),
            client,
            clock,
        });
        let mut tasks = JoinSet::new();
        let c = controller.clone();
        let pods_synced = informers::follow(&mut tasks, pod_informer, move |n| c.pod_changed(n));
        let c = controller.clone();
        let nodes_synced = informers::follow(&mut tasks, node_informer, move |n| c.node_changed(n));
        let c = controller.clone();
        let reconcile = move |key: String| {
            let c = c.clone();
            async move { c.reconcile(&key).await }
        };
        let queue = ("noexec_taint_pod", controller.queue.clone());
        worker::run_after_sync(
            tasks,
            vec![pods_synced, nodes_synced],
            queue,
            workers,
            reconcile,
        )
        .await;
    }

    fn pod_changed(&self, notification: Notification) {
        if let Notification::Added(pod) | Notification::Updated { new: pod, .. } = notification {
            if !node_name(&pod).is_empty() {
                self.queue.add(&key_of(&pod));
            }
        }
    }

    /// A node whose taints changed: every pod on it is judged again.
    fn node_changed(&self, notification: Notification) {
        let node = match notification {
            Notification::Added(node) => node,
            Notification::Updated { old, new }
                if old["spec"]["taints"] != new["spec"]["taints"] =>
            {
                new
            }
            _ => return,
        };
        let name = namespace_and_name(&node).1;
        for pod in self.pods.list().iter().filter(|p| node_name(p) == name) {
            self.queue.add(&key_of(pod));
        }
    }

    // ANCHOR: reconcile
    /// Evicts the pod `key` if its time on a `NoExecute`-tainted node is
    /// up, or comes back when it will be.
    pub async fn reconcile(&self, key: &str) -> Result<Action, ClientError> {
        let Some(pod) = self.pods.get(key).filter(|p| !is_deleting(p)) else {
            return Ok(Action::await_change());
        };
        let Some(node) = self.nodes.get(node_name(&pod)) else {
            return Ok(Action::await_change()); // no node: nothing taints it
        };
        let now = self.clock.now();
        match decide::decide(&pod, node.pointer("/spec/taints"), now) {
            Eviction::Keep => Ok(Action::await_change()),
            Eviction::At(deadline) => {
                let after = deadline.duration_since(now).unsigned_abs();
                clock::requeue_after(&self.clock, &self.queue, key, after);
                Ok(Action::await_change())
            }
            Eviction::Now => self.evict(&pod).await.map(|_| Action::await_change()),
        }
    }
    // ANCHOR_END: reconcile

    /// Marks `pod` as a disruption's target, says so in an event, and
    /// deletes it (the uid precondition spares a new pod of the same name).
    async fn evict(&self, pod: &Value) -> Result<(), ClientError> {
        let (ns, name) = namespace_and_name(pod);
        tracing::info!(
            namespace = ns,
            pod = name,
            node = node_name(pod),
            "evicting"
        );
        let mut conditions = pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        conditions.retain(|c| c["type"] != "DisruptionTarget");
        conditions.push(json!({
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "DeletionByTaintManager",
            "message": "Taint manager: deleting due to NoExecute taint",
            "lastTransitionTime": orc_client::time::format(self.clock.now()),
        }));
        let patch = json!({"metadata": {"resourceVersion": pod["metadata"]["resourceVersion"]},
            "status": {"conditions": conditions}});
        match self
            .client
            .merge_patch(pods(), Some(ns), name, Some("status"), &patch)
            .await
        {
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        let note = Note::normal(
            "TaintManagerEviction",
            format!("Marking for deletion Pod {ns}/{name}"),
        );
        self.recorder.record(pod, ("v1", "Pod"), note).await;
        let options = json!({"preconditions": {"uid": uid(pod)}});
        match self
            .client
            .delete_with(pods(), Some(ns), name, &options)
            .await
        {
            Err(e) if !e.is_not_found() => Err(e),
            _ => Ok(()),
        }
    }
}
