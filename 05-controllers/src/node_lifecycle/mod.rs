//! The node lifecycle controller: notices a node that stopped reporting,
//! marks its pods not ready and taints it, so that Services stop sending
//! them traffic, the scheduler sends no new pods there and taint eviction
//! ([`crate::taint_eviction`]) moves the old ones.
//!
//! Informers on Nodes, on the Leases in `kube-node-lease` and on Pods feed
//! [`heartbeats::Heartbeats`] (when each node was last heard from, on the
//! injected clock) and queue the node; a monitor loop queues every node
//! each `monitor_period` (Kubernetes' `--node-monitor-period`, 5 s), since
//! silence is what no event announces. A worker first judges every zone
//! ([`zones`], kept in [`evictions::Evictions`]), then [`decide::decide`]s
//! for the node, and this shell writes the conditions (the `status`
//! subresource), the taints (the Node's `spec`), a `NodeNotReady` event,
//! and the `Ready=False` of a silent node's pods ([`pods`]).
//!
//! Layout: `heartbeats.rs` (probe times), `decide.rs` (a node's verdict,
//! pure), `zones.rs` (zone states and rates, pure), `rate_limit.rs` (a
//! zone's token bucket), `evictions.rs` (the zones remembered), `pods.rs`
//! (a pod marked not ready, pure).

pub mod decide;
pub mod evictions;
pub mod flags;
pub mod heartbeats;
pub mod pods;
pub mod rate_limit;
pub mod zones;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use orc_client::events::{Note, Recorder};
use orc_client::informer::{Cache, Notification};
use orc_client::resources::{Resource, lookup};
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::clock::{self, SharedClock};
use crate::metrics::ControllerMetrics;
use crate::object::namespace_and_name;
use crate::worker::{self, Action};
use decide::Gate;
use evictions::Evictions;
use heartbeats::{Beat, Heartbeats};
use orc_client::informer as informers;
use rate_limit::Refused;
use zones::{EvictionRates, Transition};

/// Where node Leases live.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// How fast the controller notices a silent node, and how fast it lets
/// evictions start.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long a node may be silent before its conditions go `Unknown`
    /// (`--node-monitor-grace-period`; 50 s in Kubernetes 1.32).
    pub grace_period: Duration,
    /// How often every node is looked at (`--node-monitor-period`, 5 s).
    pub monitor_period: Duration,
    /// The zones' eviction rates and thresholds (`--node-eviction-rate`
    /// and friends).
    pub eviction: EvictionRates,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            grace_period: Duration::from_secs(50),
            monitor_period: Duration::from_secs(5),
            eviction: EvictionRates::default(),
        }
    }
}

/// The warning every node gets when the controller enters master
/// disruption mode (orc's own event: Kubernetes only logs it).
pub const MASTER_DISRUPTION: &str = "Every node is not Ready: the node controller takes it for a \
    failure of the control plane's own network (master disruption mode), and taints no node \
    NoExecute, so evicts no pod, until a node is Ready again";

/// The controller. [`NodeLifecycleController::run`] starts it.
pub struct NodeLifecycleController {
    client: Client,
    nodes: Arc<Cache>,
    /// Every pod, to find a silent node's.
    pods: Arc<Cache>,
    heartbeats: Heartbeats,
    /// Each zone's state and eviction rate limit.
    evictions: Evictions,
    /// Where the zones' `node_collector_*` numbers go: the manager's, or
    /// a private one when the controller runs alone.
    metrics: Arc<ControllerMetrics>,
    queue: Arc<WorkQueue>,
    clock: SharedClock,
    timing: Timing,
    recorder: Recorder,
}

fn nodes() -> &'static Resource {
    lookup("", "v1", "nodes").expect("the resource table serves nodes")
}

fn pods() -> &'static Resource {
    lookup("", "v1", "pods").expect("the resource table serves pods")
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
        let pod_informer = informers::everything(&client, pods());
        let controller = Arc::new(NodeLifecycleController {
            nodes: node_informer.cache(),
            pods: pod_informer.cache(),
            heartbeats: Heartbeats::default(),
            evictions: Evictions::new(timing.eviction),
            metrics: ControllerMetrics::current().unwrap_or_default(),
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
        let c = controller.clone();
        let pods_synced = informers::follow(&mut tasks, pod_informer, move |n| c.pod_changed(n));
        tasks.spawn(controller.clone().monitor());
        let c = controller.clone();
        let reconcile = move |key: String| {
            let c = c.clone();
            async move { c.reconcile(&key).await }
        };
        let queue = ("node_lifecycle_controller", controller.queue.clone());
        worker::run_after_sync(
            tasks,
            vec![nodes_synced, leases_synced, pods_synced],
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

    /// A pod bound to a node that reads Ready, new or changed: its node is
    /// judged again (on a silent node, the pod is marked not ready). Pods
    /// already not ready change nothing here.
    fn pod_changed(&self, notification: Notification) {
        if let Notification::Added(pod) | Notification::Updated { new: pod, .. } = notification {
            let node = pod.pointer("/spec/nodeName").and_then(Value::as_str);
            let reads_ready = pods::not_ready_conditions(&pod, self.clock.now()).is_some();
            if let (Some(node), true) = (node, reads_ready) {
                self.queue.add(node);
            }
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
    /// Writes what [`decide::decide`] says for the node `name`, once the
    /// zones are judged.
    pub async fn reconcile(&self, name: &str) -> Result<Action, ClientError> {
        self.judge_zones().await;
        let Some(node) = self.nodes.get(name) else {
            return Ok(Action::await_change());
        };
        let now = self.clock.now();
        let last_seen = self.heartbeats.last_seen(name).unwrap_or(now);
        let grace = self.timing.grace_period;
        let verdict = match self.gate(&node, last_seen, now) {
            Ok(gate) => decide::decide(&node, last_seen, now, grace, gate),
            Err(wait) => {
                // The zone's rate limit holds a new NoExecute taint back:
                // the rest now, the taint when its turn comes.
                if let Some(wait) = wait {
                    clock::requeue_after(&self.clock, &self.queue, name, wait);
                }
                decide::decide(&node, last_seen, now, grace, Gate::Closed)
            }
        };
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
            if verdict.adds_no_execute {
                // Kubernetes counts an eviction when the taint lands.
                self.metrics.evicted(&zones::zone_key(&node));
            }
        }
        if verdict.became_not_ready {
            let note = Note::normal(
                "NodeNotReady",
                format!("Node {name} status is now: NodeNotReady"),
            );
            self.recorder.record(&stored, ("v1", "Node"), note).await;
        }
        if now > verdict.silent_at {
            self.mark_pods_not_ready(name, now).await?;
        }
        Ok(Action::await_change())
    }
    // ANCHOR_END: reconcile

    /// The gate for `node`'s `NoExecute` taint: stopped in master
    /// disruption mode; open if the verdict adds none, or if the zone's
    /// rate limit lets one more through; else the wait for the next turn
    /// (`None`: a rate of 0, which only the next zone change lifts, and
    /// that queues every node).
    fn gate(
        &self,
        node: &Value,
        last_seen: jiff::Timestamp,
        now: jiff::Timestamp,
    ) -> Result<Gate, Option<Duration>> {
        if self.evictions.master_disruption() {
            return Ok(Gate::Stopped);
        }
        let open = decide::decide(node, last_seen, now, self.timing.grace_period, Gate::Open);
        if !open.adds_no_execute {
            return Ok(Gate::Open);
        }
        let zone = zones::zone_key(node);
        match self.evictions.try_take(&zone, now) {
            Ok(()) => Ok(Gate::Open),
            Err(Refused::For(wait)) => Err(Some(wait)),
            Err(Refused::Stopped) => Err(None),
        }
    }

    // ANCHOR: judge_zones
    /// Judges every zone from its nodes' `Ready` as it stands now (silent
    /// nodes counted `Unknown` before the write lands), and acts on what
    /// changed: entering master disruption mode lifts every `NoExecute`
    /// taint of the controller's, leaving it gives every node a fresh
    /// grace period; any change queues every node.
    async fn judge_zones(&self) {
        let now = self.clock.now();
        let nodes = self.nodes.list();
        let mut ready: BTreeMap<String, Vec<Option<&str>>> = BTreeMap::new();
        for node in nodes.iter().filter(|n| zones::counted(n)) {
            let name = namespace_and_name(node).1;
            let last_seen = self.heartbeats.last_seen(name).unwrap_or(now);
            let status = decide::ready_now(node, last_seen, now, self.timing.grace_period);
            ready.entry(zones::zone_key(node)).or_default().push(status);
        }
        for (zone, statuses) in &ready {
            let threshold = self.timing.eviction.unhealthy_zone_threshold;
            let (unhealthy, _) = zones::zone_state(statuses, threshold);
            self.metrics.zone_judged(zone, statuses.len(), unhealthy);
        }
        let transition = self.evictions.observe(&ready, now);
        match &transition {
            Transition::Same => return,
            Transition::EnterMasterDisruption => {
                tracing::warn!(
                    "every node is not Ready: taking it for the control plane's own network \
                     trouble (master disruption mode); no NoExecute taints, no evictions"
                );
                for node in &nodes {
                    let note = Note::warning("EvictionsStopped", MASTER_DISRUPTION.to_string());
                    self.recorder.record(node, ("v1", "Node"), note).await;
                }
            }
            Transition::ExitMasterDisruption(_) => {
                tracing::info!("a node is Ready again: leaving master disruption mode");
                self.heartbeats.reset_all(now);
            }
            Transition::Zones(changed) => {
                for (zone, state, rate) in changed {
                    tracing::info!(zone = %zones::display(zone), ?state, rate, "zone state changed");
                }
            }
        }
        for node in &nodes {
            self.queue.add(namespace_and_name(node).1);
        }
    }
    // ANCHOR_END: judge_zones

    /// Sets `Ready=False` on every pod of the silent node `name` that still
    /// reads Ready, with Kubernetes' `NodeNotReady` warning on each.
    async fn mark_pods_not_ready(
        &self,
        name: &str,
        now: jiff::Timestamp,
    ) -> Result<(), ClientError> {
        let on_node = |p: &Value| p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(name);
        for pod in self.pods.list().iter().filter(|p| on_node(p)) {
            let Some(conditions) = pods::not_ready_conditions(pod, now) else {
                continue;
            };
            let (ns, pod_name) = namespace_and_name(pod);
            tracing::info!(
                node = name,
                namespace = ns,
                pod = pod_name,
                "marking pod not ready"
            );
            let patch = json!({"metadata": {"resourceVersion": pod["metadata"]["resourceVersion"]},
                "status": {"conditions": conditions}});
            match self
                .client
                .merge_patch(pods(), Some(ns), pod_name, Some("status"), &patch)
                .await
            {
                Err(e) if e.is_not_found() => continue, // deleted meanwhile
                Err(e) => return Err(e),
                Ok(_) => {}
            }
            let note = Note::warning("NodeNotReady", "Node is not ready".to_string());
            self.recorder.record(pod, ("v1", "Pod"), note).await;
        }
        Ok(())
    }

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
