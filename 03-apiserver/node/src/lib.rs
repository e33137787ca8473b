//! # orc-node: chapter 03, the node agent on the API
//!
//! What turns chapter 02's agent into a kubelet.
//!
//! Chapter 02's agent runs the pods of a manifest directory and writes
//! their status to files. On the API, a node agent does four more things,
//! each in its own file:
//!
//! - [`registration`]: create (or update) the Node object, with the
//!   machine's capacity ([`machine`]), addresses, pod CIDR, versions and
//!   conditions, and post its status again periodically and on change;
//! - [`lease`]: renew the node's Lease in `kube-node-lease` every 10 s,
//!   the cheap heartbeat the control plane watches;
//! - [`pod_source`]: a second `PodSource`, the pods bound to this node
//!   (an informer with `fieldSelector=spec.nodeName=<node>`);
//! - [`status_sync`]: a `StatusSink` that sends each pod's status to its
//!   `status` subresource from a work queue, and deletes a gracefully
//!   deleted pod once the agent has stopped it;
//! - [`local_volumes`]: the directory a `persistentVolumeClaim` volume
//!   mounts (the claim and its bound volume, got by name), and removing
//!   the directories of this node's deleted local-path volumes.
//! - [`objects`]: an `ObjectSource` over one watch per ConfigMap and
//!   Secret a pod of the node names ([`object_watches`]), where the agent
//!   reads what `env[].valueFrom`, `envFrom` and ConfigMap and Secret
//!   volumes name;
//! - [`tokens`]: the pods' ServiceAccount tokens, asked of TokenRequest
//!   bound to each pod and renewed at 80 % of their life, for the
//!   `serviceAccountToken` source of their projected volumes;
//! - [`events`]: an `EventSink` writing the agent's pod events (`Pulled`,
//!   `Started`, `BackOff`, `FailedMount`, ...) as Event objects from
//!   component `kubelet`, for `kubectl describe pod`.
//! - [`port_auth`]: who may use the agent's port, asked of the API server
//!   (TokenReview, SubjectAccessReview) and cached, as the kubelet's
//!   webhook authentication and authorization;
//! - [`peer_routes`]: a route to every other node's pods, from the Node
//!   objects (`spec.podCIDR` via the `InternalIP`), added when a node
//!   joins and removed when its Node goes.
//!
//! [`NodeAgent`] starts them all; the `orc agent` command (the `final`
//! crate) gives its source and sink to chapter 02's [`Agent`] and runs it.
//! Nothing here forks or touches a container: the agent does, exactly as
//! for static pods.
//!
//! ## Why a crate of its own
//!
//! It needs chapter 02 (the agent's `PodSource` and `StatusSink` seams and
//! its pod types) and chapter 03's client, and nothing of the API server:
//! in a cluster, the node agent is a client of the API server like any
//! other component. Keeping it out of `orc-apiserver` keeps the server free
//! of node code (it runs no pods), and keeping it out of `final/` lets its
//! tests run against a real API server without the whole `orc` binary.
//!
//! [`Agent`]: orc_pod::agent::Agent

pub mod events;
pub mod lease;
pub mod local_volumes;
pub mod machine;
pub mod object_watches;
pub mod objects;
pub mod peer_routes;
pub mod pod_source;
pub mod port_auth;
pub mod registration;
pub mod status_sync;
pub mod tokens;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use orc_pod::agent::StatusSink;
use orc_pod::agent::wake::SyncWaker;
use orc_pod::env::ObjectSource;
use orc_pod::source::PodSource;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use lease::NodeLease;
pub use object_watches::ObjectWatches;
pub use objects::ApiObjects;
use orc_client::informer::{Cache, Informer, Notification};
use orc_client::resources::lookup;
use orc_client::{Client, ClientError};
pub use pod_source::ApiPodSource;
pub use registration::{NodeIdentity, Registration};
pub use status_sync::ApiStatusSink;

/// Everything [`NodeAgent::start`] needs.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub identity: NodeIdentity,
    /// How often the Lease is renewed (the kubelet's 10 s); also how often
    /// the Node's facts are checked for a change.
    pub lease_period: Duration,
    /// How often the Node status is posted even when nothing changed, which
    /// refreshes the conditions' `lastHeartbeatTime` (the kubelet's
    /// `nodeStatusReportFrequency`, 5 minutes; 1 minute here).
    pub status_period: Duration,
}

/// Why the node could not join the cluster.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("registering node {node} with the API server: {source}")]
    Register { node: String, source: ClientError },
}

/// A running node: registration, lease and the pod informer, plus the
/// source and sink to give chapter 02's agent. Dropping it stops them.
pub struct NodeAgent {
    /// The Node object as registered.
    pub node: Value,
    cache: Arc<Cache>,
    objects: Arc<ApiObjects>,
    events: Arc<events::KubeletEvents>,
    sink: Arc<ApiStatusSink>,
    sink_worker: Option<JoinHandle<()>>,
    /// The agent's sync loop, woken at each change of this node's pods
    /// once [`Self::wake_on_pod_changes`] has set it: a pod bound here is
    /// started at once, not at the agent's next tick.
    waker: Arc<OnceLock<SyncWaker>>,
    /// Heartbeat, informer and its notification drain.
    tasks: Vec<JoinHandle<()>>,
}

impl NodeAgent {
    // ANCHOR: start
    /// Registers the node (retrying while the server cannot be reached, as
    /// the kubelet does), starts the heartbeat, and waits until the pod
    /// informer has listed once: before that the agent would see no pods
    /// and stop every pod it adopted after a restart.
    pub async fn start(client: Client, config: NodeConfig) -> Result<NodeAgent, NodeError> {
        let name = config.identity.name.clone();
        let mut registration = Registration::new(config.identity.clone());
        let node = register_retrying(&client, &mut registration, &name).await?;
        tracing::info!(node = %name, "registered");
        let uid = node["metadata"]["uid"].as_str().unwrap_or("");
        let lease = NodeLease::new(&name, uid);
        let heartbeat = tokio::spawn(heartbeat(
            client.clone(),
            registration,
            lease,
            config.clone(),
        ));

        let pods = lookup("", "v1", "pods").expect("pods are in the resource table");
        let informer = Informer::new(client.clone(), pods, None, "")
            .with_field_selector(&format!("spec.nodeName={name}"));
        let cache = informer.cache();
        let objects = follow_objects(&client, cache.clone());
        let sink = Arc::new(ApiStatusSink::new(config.identity.ip, cache.clone()));
        let waker = Arc::new(OnceLock::new());
        let (informer, drain) =
            follow_pods(informer, objects.clone(), sink.clone(), waker.clone()).await;

        let events = Arc::new(events::KubeletEvents::new(client.clone(), &name));
        let mut tasks = vec![heartbeat, informer, drain];
        if let Some(dir) = &config.identity.state_dir {
            let cleanup = local_volumes::clean_up(client.clone(), dir.into());
            tasks.push(tokio::spawn(cleanup));
        }
        let sink_worker = tokio::spawn(sink.clone().run(client));
        Ok(NodeAgent {
            node,
            cache,
            objects,
            events,
            sink,
            sink_worker: Some(sink_worker),
            waker,
            tasks,
        })
    }
    // ANCHOR_END: start

    /// The pods bound to this node, for the agent.
    pub fn pod_source(&self) -> Box<dyn PodSource> {
        let name = self.node["metadata"]["name"].as_str().unwrap_or("");
        Box::new(ApiPodSource::new(name, self.cache.clone()).rejecting_through(self.sink.clone()))
    }

    /// Wakes the agent's sync loop (its [`Agent::waker`]) at every change
    /// of this node's pods, as the kubelet's sync loop wakes on its config
    /// channel. Only the first call counts.
    ///
    /// [`Agent::waker`]: orc_pod::agent::Agent::waker
    pub fn wake_on_pod_changes(&self, waker: SyncWaker) {
        let _ = self.waker.set(waker);
    }

    /// Where the agent reads the ConfigMaps and Secrets pods name.
    pub fn object_source(&self) -> Arc<dyn ObjectSource> {
        self.objects.clone()
    }

    /// Where the agent's pod events go: Event objects, from `kubelet`.
    pub fn event_sink(&self) -> Arc<dyn orc_pod::agent::events::EventSink> {
        self.events.clone()
    }

    /// Also keeps the routes to every other node's pods in the network
    /// namespace `netns` (this node's own pod CIDR is `own`), from the Node
    /// objects, until the agent stops: see [`peer_routes`]. Call it once
    /// the node's network is set up, so the next hops are reachable.
    pub fn route_to_peers(&mut self, client: Client, netns: PathBuf, own: orc_pod::Ipv4Cidr) {
        self.tasks
            .push(tokio::spawn(peer_routes::follow_peers(client, netns, own)));
    }

    /// Where the agent hands pod statuses.
    pub fn status_sink(&self) -> Arc<dyn StatusSink> {
        self.sink.clone()
    }

    /// Stops the heartbeat and the informer, and gives queued statuses up
    /// to `flush` to reach the server.
    pub async fn stop(mut self, flush: Duration) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        self.sink.shut_down();
        if let Some(worker) = self.sink_worker.take() {
            let _ = tokio::time::timeout(flush, worker).await;
        }
    }
}

/// Creates or updates the Node object, retrying while the server cannot be
/// reached or answers 5xx, as the kubelet does; any other refusal is final.
async fn register_retrying(
    client: &Client,
    registration: &mut Registration,
    name: &str,
) -> Result<Value, NodeError> {
    loop {
        match registration.register(client).await {
            Ok(node) => return Ok(node),
            Err(e) if e.code().is_none_or(|code| code >= 500) => {
                tracing::warn!(node = %name, error = %e, "cannot register yet; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(source) => {
                return Err(NodeError::Register {
                    node: name.to_string(),
                    source,
                });
            }
        }
    }
}

// ANCHOR: follow_pods
/// Runs `informer`, on the pods bound to this node, until its first list
/// is in; answers its task and the task that follows its notifications:
/// at each change, `objects` follows what the pods name, and only that,
/// `sink` puts back a status someone else overwrote, and the agent's sync
/// loop is woken (once `waker` is set).
async fn follow_pods(
    informer: Informer,
    objects: Arc<ApiObjects>,
    sink: Arc<ApiStatusSink>,
    waker: Arc<OnceLock<SyncWaker>>,
) -> (JoinHandle<()>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel(64);
    let informer = tokio::spawn(informer.run(tx));
    while let Some(n) = rx.recv().await {
        if n == Notification::Synced {
            break;
        }
    }
    let follow = tokio::spawn(async move {
        objects.follow_referenced();
        while let Some(notification) = rx.recv().await {
            objects.follow_referenced();
            if let Notification::Updated { new, .. } = &notification {
                sink.reconcile(new);
            }
            if let Some(waker) = waker.get() {
                waker.wake();
            }
        }
    });
    (informer, follow)
}
// ANCHOR_END: follow_pods

/// The agent's view of what pods name: the watches of Secrets and
/// ConfigMaps, started pod by pod, and the claims and volumes got by
/// name before each container start.
fn follow_objects(client: &Client, pods: Arc<Cache>) -> Arc<ApiObjects> {
    let watches = |plural| {
        let resource = lookup("", "v1", plural).expect("served kinds are in the resource table");
        ObjectWatches::new(client.clone(), resource)
    };
    let objects = ApiObjects {
        pods,
        config_maps: watches("configmaps"),
        secrets: watches("secrets"),
        claims: local_volumes::ClaimedVolumes::new(client.clone()),
        tokens: tokens::ServiceAccountTokens::new(client.clone()),
    };
    Arc::new(objects)
}

impl Drop for NodeAgent {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some(worker) = &self.sink_worker {
            worker.abort();
        }
    }
}

// ANCHOR: heartbeat
/// Renews the Lease every `lease_period`, and posts the Node status when a
/// fact changed, when someone else overwrote its Ready condition, or when
/// `status_period` has passed since the last post.
async fn heartbeat(
    client: Client,
    mut registration: Registration,
    mut lease: NodeLease,
    config: NodeConfig,
) {
    let mut tick = tokio::time::interval(config.lease_period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_status = Instant::now();
    let mut last_renewal = Instant::now();
    loop {
        tick.tick().await;
        // A gap of two periods without a renewal (the server away, the
        // agent stopped): the node lifecycle controller may have marked
        // the node Unknown meanwhile, and only a status post says Ready
        // again, so it is due at once.
        let gap = last_renewal.elapsed() >= 2 * config.lease_period;
        match lease.renew(&client).await {
            Ok(_) => last_renewal = Instant::now(),
            Err(error) => tracing::warn!(%error, "renewing the node lease failed"),
        }
        let due = gap || last_status.elapsed() >= config.status_period;
        match registration.refresh(&client, due).await {
            Ok(registered_again) => {
                if due {
                    last_status = Instant::now();
                }
                if let Some(node) = registered_again {
                    let uid = node["metadata"]["uid"].as_str().unwrap_or("");
                    lease = NodeLease::new(&config.identity.name, uid);
                }
            }
            Err(error) => tracing::warn!(%error, "posting the node status failed"),
        }
    }
}
// ANCHOR_END: heartbeat
