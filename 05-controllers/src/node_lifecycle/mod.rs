//! The node lifecycle controller: notices a node that stopped reporting
//! and taints it, so that the scheduler sends no new pods there and taint
//! eviction ([`crate::taint_eviction`]) moves the old ones.
//!
//! Informers on Nodes and on the Leases in `kube-node-lease` feed
//! [`heartbeats::Heartbeats`] (when each node was last heard from, on the
//! injected clock) and queue the node; a monitor loop queues every node
//! each `monitor_period` (Kubernetes' `--node-monitor-period`, 5 s), since
//! silence is what no event announces. A worker [`decide::decide`]s, then
//! this shell writes the conditions (the `status` subresource), the taints
//! (the Node's `spec`) and a `NodeNotReady` event.
//!
//! Layout: `heartbeats.rs` (probe times), `decide.rs` (the verdict, pure).
//!
//! Not built: Kubernetes' per-zone disruption modes (it slows tainting to
//! `--node-eviction-rate` and stops it when a whole zone goes dark, taking
//! that for the control plane's own network trouble) and its marking of a
//! silent node's pods not ready.

pub mod decide;
pub mod heartbeats;

use std::sync::Arc;
use std::time::Duration;

use orc_client::events::{Note, Recorder};
use orc_client::informer::{Cache, Notification};
use orc_client::resources::{Resource, lookup};
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::clock::SharedClock;
use crate::object::namespace_and_name;
use crate::worker::{self, Action};
use heartbeats::{Beat, Heartbeats};
use orc_client::informer as informers;

/// Where node Leases live.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// The controller's two periods.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long a node may be silent before its conditions go `Unknown`
    /// (`--node-monitor-grace-period`; 50 s in Kubernetes 1.32).
    pub grace_period: Duration,
    /// How often every node is looked at (`--node-monitor-period`, 5 s).
    pub monitor_period: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            grace_period: Duration::from_secs(50),
            monitor_period: Duration::from_secs(5),
        }
    }
}

/// The controller. [`NodeLifecycleController::run`] starts it.
pub struct NodeLifecycleController {
    client: Client,
    nodes: Arc<Cache>,
    heartbeats: Heartbeats,
    queue: Arc<WorkQueue>,
    clock: SharedClock,
    timing: Timing,
    recorder: Recorder,
}

fn nodes() -> &'static Resource {
    lookup("", "v1", "nodes").expect("the resource table serves nodes")
}

fn leases() -> &'static Resource {
    lookup("coordination.k8s.io", "v1", "leases").expect("the resource table serves leases")
}

impl NodeLifecycleController {
    /// Follows Nodes and node Leases through `client`, and once both are
    /// listed, watches over every node on `clock` until dropped.
    pub async fn run(client: Client, clock: SharedClock, timing: Timing) {
        let node_informer = informers::everything(&client, nodes());
        let lease_informer =
            informers::Informer::new(client.clone(), leases(), Some(LEASE_NAMESPACE), "");
        let controller = Arc::new(NodeLifecycleController {
            nodes: node_informer.cache(),
            heartbeats: Heartbeats::default(),
            recorder: Recorder::new(client.clone(), "node-controller"),
            queue: Arc::new(WorkQueue::new()),
            client,
            clock,
            timing,
        });
        let mut tasks = JoinSet::new();
        let c = controller.clone();
        let nodes_synced =
            informers::follow(&mut tasks, node_informer, move |n| c.heard(n, Beat::Status));
        let c = controller.clone();
        let leases_synced =
            informers::follow(&mut tasks, lease_informer, move |n| c.heard(n, Beat::Lease));
        tasks.spawn(controller.clone().monitor());
        let c = controller.clone();
        let reconcile = move |key: String| {
            let c = c.clone();
            async move { c.reconcile(&key).await }
        };
        let queue = ("node-lifecycle", controller.queue.clone());
        worker::run_after_sync(
            tasks,
            vec![nodes_synced, leases_synced],
            queue,
            1,
            reconcile,
        )
        .await;
    }

    /// Takes note of a heartbeat (a Node's status, or a Lease named after
    /// its node) and queues the node.
    fn heard(&self, notification: Notification, beat: Beat) {
        let now = self.clock.now();
        match notification {
            Notification::Added(obj) | Notification::Updated { new: obj, .. } => {
                let name = namespace_and_name(&obj).1;
                let value = match beat {
                    Beat::Lease => heartbeats::lease_renewal(&obj),
                    Beat::Status => heartbeats::status_heartbeat(&obj),
                };
                self.heartbeats.observe(name, beat, value, now);
                self.queue.add(name);
            }
            Notification::Deleted(obj) if beat == Beat::Status => {
                self.heartbeats.forget(namespace_and_name(&obj).1);
            }
            Notification::Deleted(_) | Notification::Synced => {}
        }
    }

    /// Queues every node each monitor period, on the injected clock (a
    /// test that moves it wakes this loop at once).
    async fn monitor(self: Arc<Self>) {
        loop {
            self.clock.sleep(self.timing.monitor_period).await;
            for node in self.nodes.list() {
                self.queue.add(namespace_and_name(&node).1);
            }
        }
    }

    // ANCHOR: reconcile
    /// Writes what [`decide::decide`] says for the node `name`.
    pub async fn reconcile(&self, name: &str) -> Result<Action, ClientError> {
        let Some(node) = self.nodes.get(name) else {
            return Ok(Action::await_change());
        };
        let now = self.clock.now();
        let last_seen = self.heartbeats.last_seen(name).unwrap_or(now);
        let verdict = decide::decide(&node, last_seen, now, self.timing.grace_period);
        let mut stored = node.clone();
        if let Some(conditions) = &verdict.conditions {
            tracing::info!(
                node = name,
                "node stopped posting status; marking it Unknown"
            );
            let patch = json!({"metadata": {"resourceVersion": node["metadata"]["resourceVersion"]},
                "status": {"conditions": conditions}});
            stored = self.patch(name, Some("status"), &patch).await?;
        }
        if let Some(taints) = &verdict.taints {
            let patch = json!({"metadata": {"resourceVersion": stored["metadata"]["resourceVersion"]},
                "spec": {"taints": taints}});
            stored = self.patch(name, None, &patch).await?;
        }
        if verdict.became_not_ready {
            let note = Note::normal(
                "NodeNotReady",
                format!("Node {name} status is now: NodeNotReady"),
            );
            self.recorder.record(&stored, ("v1", "Node"), note).await;
        }
        Ok(Action::await_change())
    }
    // ANCHOR_END: reconcile

    /// A merge patch of the node, pinned to the version decided on (a
    /// conflict retries with the node read afresh).
    async fn patch(
        &self,
        name: &str,
        sub: Option<&str>,
        patch: &Value,
    ) -> Result<Value, ClientError> {
        self.client
            .merge_patch(nodes(), None, name, sub, patch)
            .await
    }
}
