//! # orc-scheduler: chapter 04, the scheduler
//!
//! A pod created without a node waits until a scheduler chooses one. This
//! crate is orc's `kube-scheduler`: it watches for pods whose
//! `spec.nodeName` is empty and whose `spec.schedulerName` is
//! `default-scheduler`, finds the best node for each through Kubernetes'
//! default plugins (filters say which nodes *can* take the pod, scores
//! which one *should*), and binds the pod there with
//! `POST .../pods/{name}/binding`. Like every component, it meets the
//! rest of the cluster only through the API server (`orc-client`).
//!
//! Every decision is a pure function of a pod and a frozen snapshot of
//! the cluster; the effects (binding, conditions, events) live in a thin
//! shell around it, so the plugins are unit-tested without a cluster and
//! each decision can be kept whole and explained.
//!
//! ## Layout
//!
//! - [`objects`]: pods and nodes as the scheduler reads them, parsed once
//!   per watch event (`pod.rs`, `node.rs`, `resources.rs`, `taints.rs`,
//!   `node_selector.rs`, `pod_affinity.rs`, `spread.rs`, `volumes.rs`).
//! - [`cache`]: every node and the pods on it, with their sums kept up to
//!   date; pods *assumed* on a node as soon as they are chosen; snapshots
//!   for decisions (`node_info.rs`, `snapshot.rs`).
//! - [`framework`]: the extension points (PreFilter, Filter, PostFilter,
//!   PreScore, Score, NormalizeScore, Reserve) behind one [`Plugin`] trait,
//!   the profile, and [`framework::schedule`], one cycle, pure, returning
//!   a [`framework::Decision`] with every node's verdict and every score.
//! - [`plugins`]: kube-scheduler's default plugins, one per file, and
//!   [`plugins::default_profile`] with Kubernetes' order and weights.
//! - [`queue`]: the activeQ, per-pod back-off, and parked pods moved back
//!   by the events that may let them fit.
//! - [`feed`]: informers → cache and queue.
//! - [`scheduler`]: the loop: pop, decide, assume, bind in the background.
//! - [`preemption`]: preemption's writes: victims deleted gracefully,
//!   `status.nominatedNodeName` (the choice is
//!   `plugins/default_preemption/`, which spares the pods
//!   PodDisruptionBudgets protect where it can: the budgets come from an
//!   informer [`start`] runs).
//! - [`binding`], [`report`]: the writes: the binding, `PodScheduled`
//!   conditions and `Scheduled`/`FailedScheduling` events.
//! - [`events`]: the queue those events wait on, written in the
//!   background, several at once (client-go's event broadcaster).
//! - [`explain`]: a decision laid out node by node, and the smallest
//!   change that would let a pending pod fit, for `orc explain pod`.
//! - [`metrics`], [`http`]: kube-scheduler's metrics on `/metrics`,
//!   `/healthz`, and `/explain/pods/{namespace}/{name}`.
//! - [`run`] and [`Config`]: the whole scheduler against one API server,
//!   optionally only while it leads (leader election on the
//!   `kube-system/kube-scheduler` Lease, `orc_client::leader`).
//!   `orc server` runs it beside the controllers; the `orc-scheduler`
//!   binary runs it alone.
//!
//! ## What it leaves out (for now)
//!
//! - Preemption's finer points: a nominated pod's node is not tried first on its next attempt
//!   (Kubernetes' `evaluateNominatedNode`); it holds its room there
//!   against pods of lower or equal priority (`cache::Cache::nominate`),
//!   as Kubernetes' nominator does.
//! - Volumes beyond `VolumeBinding`'s two rules (claims exist and are
//!   bound or wait for a consumer; bound volumes' node affinity): no
//!   volume limits, zones or restrictions; extended resources, DRA, scheduling gates, extenders, more
//!   than one profile.
//!
//! The book's chapter is `chapters/src/04-scheduler.md`.

pub mod binding;
pub mod cache;
pub mod events;
pub mod explain;
pub mod feed;
pub mod framework;
pub mod http;
pub mod metrics;
pub mod objects;
pub mod plugins;
pub mod preemption;
pub mod queue;
pub mod report;
pub mod scheduler;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orc_client::Client;
use orc_client::events::Recorder;
use orc_client::informer::wait_for_sync;
use orc_client::leader::LeaderElection;
pub use orc_client::leader::Timings;
use tokio::task::JoinSet;

pub use framework::Plugin;
pub use plugins::ScoringStrategy;
pub use scheduler::Decisions;

use cache::Cache;
use feed::Feed;
use metrics::Metrics;
use plugins::default_preemption::DefaultPreemption;
use queue::{Backoff, SchedulingQueue};

/// The Lease schedulers elect their leader on, as kube-scheduler's.
pub const LEASE_NAMESPACE: &str = "kube-system";
pub const LEASE_NAME: &str = "kube-scheduler";

/// How to run the scheduler.
#[derive(Debug, Clone)]
pub struct Config {
    /// The API server's URL (`http://127.0.0.1:6443`).
    pub server: String,
    /// A bearer token, when the API server asks for one.
    pub token: Option<String>,
    /// The CA to trust and the client certificate to present, for an
    /// `https://` server (`orc_client::kubeconfig::Connection::tls`).
    pub tls: Option<orc_client::tls::ClientTls>,
    /// How the fit score ranks nodes: spread (`LeastAllocated`, the
    /// default) or pack (`MostAllocated`).
    pub scoring_strategy: ScoringStrategy,
    /// Kubernetes' `percentageOfNodesToScore`; 0 for its adaptive default.
    pub percentage_of_nodes_to_score: usize,
    /// Per-pod back-off after a failed attempt.
    pub backoff: Backoff,
    /// How long a pod that fits nowhere waits for an event before it is
    /// tried anyway.
    pub max_parked: Duration,
    /// Where to serve `/healthz` and `/metrics`; `None`: not served.
    pub listen: Option<SocketAddr>,
    /// Schedule only while holding the `kube-system/kube-scheduler` Lease,
    /// so several schedulers can run and one acts; `None`: always act
    /// (run one scheduler per cluster).
    pub leader_election: Option<Timings>,
}

impl Config {
    /// Kubernetes' defaults, for the API server at `server`.
    pub fn new(server: impl Into<String>) -> Config {
        Config {
            server: server.into(),
            token: None,
            tls: None,
            scoring_strategy: ScoringStrategy::LeastAllocated,
            percentage_of_nodes_to_score: 0,
            backoff: Backoff::default(),
            max_parked: Duration::from_secs(300),
            listen: None,
            leader_election: None,
        }
    }

    fn client(&self) -> Client {
        let mut client = Client::new(self.server.clone());
        if let Some(tls) = &self.tls {
            client = client.with_tls(tls);
        }
        match &self.token {
            Some(token) => client.with_token(token.clone()),
            None => client,
        }
    }
}

/// A started scheduler; everything stops when it is dropped.
pub struct Running {
    /// Where `/healthz` and `/metrics` are served, if they are.
    pub metrics_addr: Option<SocketAddr>,
    /// The last decision about each pod.
    pub decisions: Arc<Decisions>,
    /// This scheduler's identity in leader election, when it takes part.
    pub identity: Option<String>,
    cache: Arc<Mutex<Cache>>,
    /// The PodDisruptionBudgets preemption reads (their informer's cache).
    budgets: Arc<orc_client::informer::Cache>,
    tasks: JoinSet<()>,
}

impl Running {
    /// Whether the scheduler has seen the node `name` (tests wait for
    /// this before creating pods that must see it: watches of nodes and
    /// pods are separate, and either may arrive first).
    pub fn has_node(&self, name: &str) -> bool {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .has_node(name)
    }

    /// The PodDisruptionBudget `namespace/name` as preemption sees it now
    /// (tests wait for its status before making a pod preempt).
    pub fn budget(&self, key: &str) -> Option<serde_json::Value> {
        self.budgets.get(key)
    }

    /// Whether the scheduler counts the pod `uid` on a node.
    pub fn counts_pod(&self, uid: &str) -> bool {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_placed(uid)
    }

    /// The node the pod `uid` is nominated to, if the scheduler holds
    /// room for it anywhere.
    pub fn nominated_node(&self, uid: &str) -> Option<String> {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .nominated_node(uid)
            .map(str::to_string)
    }

    /// Stops every task now, as if the process were killed: no more
    /// decisions, no more lease renewals (tests kill a leader this way).
    pub fn stop(&mut self) {
        self.tasks.abort_all();
    }

    /// Runs until every task ends (they do not, short of a panic).
    pub async fn wait(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

// ANCHOR: start
/// Starts the scheduler: its HTTP port (if any), its informers, and, once
/// their first lists are in, the scheduling loop.
pub async fn start(config: Config) -> std::io::Result<Running> {
    let client = config.client();
    // Preemption weighs PodDisruptionBudgets, read from their informer.
    let budgets = orc_client::resources::by_kind("policy/v1", "PodDisruptionBudget")
        .map(|resource| orc_client::informer::everything(&client, resource));
    let budget_cache = budgets
        .as_ref()
        .map(|informer| informer.cache())
        .unwrap_or_default();
    let preemption = DefaultPreemption::with_budgets(budget_cache.clone());
    let profile = plugins::profile_with_preemption(
        config.scoring_strategy,
        config.percentage_of_nodes_to_score,
        preemption,
    );
    let metrics = Arc::new(Metrics::new(&profile.name));
    let queue = Arc::new(SchedulingQueue::new(config.backoff, config.max_parked));
    let mut tasks = JoinSet::new();
    let decisions = Arc::new(Decisions::default());
    let feed = Feed {
        cache: Arc::new(Mutex::new(Cache::new())),
        queue: queue.clone(),
        decisions: decisions.clone(),
    };
    let metrics_addr = match config.listen {
        Some(addr) => {
            let listener = http::bind(addr).await?;
            let bound = listener.local_addr()?;
            let served = http::Served {
                metrics: metrics.clone(),
                queue: queue.clone(),
                decisions: decisions.clone(),
                cache: feed.cache.clone(),
                profile: profile.clone(),
            };
            tasks.spawn(http::serve(listener, served));
            Some(bound)
        }
        None => None,
    };
    let mut following = feed.follow(&client, &mut tasks);
    if let Some(informer) = budgets {
        let synced = orc_client::informer::follow(&mut tasks, informer, |_| {});
        following.synced.push(synced);
    }
    let cache = feed.cache.clone();
    let recorder = Arc::new(Recorder::new(client.clone(), report::COMPONENT));
    let events = events::EventQueue::start(
        recorder.clone(),
        metrics.clone(),
        events::MAX_QUEUED_EVENTS,
        events::MAX_WRITES_IN_FLIGHT,
        &mut tasks,
    );
    let scheduler = scheduler::Scheduler {
        recorder,
        events: Arc::new(events),
        bindings: Arc::new(tokio::sync::Semaphore::new(binding::MAX_IN_FLIGHT)),
        client,
        profile,
        cache,
        queue,
        pods: following.pods,
        metrics,
        decisions: decisions.clone(),
        next_start: framework::NextStart::default(),
        snapshot: cache::Snapshot::default(),
    };
    let election = config
        .leader_election
        .map(|timings| LeaderElection::new(config.client(), LEASE_NAMESPACE, LEASE_NAME, timings));
    let identity = election.as_ref().map(|e| e.identity.clone());
    // No decision before the caches hold every node and every placed pod:
    // an empty cache would see empty nodes and over-commit them. A
    // standby keeps its caches warm, ready to lead at once.
    tasks.spawn(async move {
        if wait_for_sync(following.synced).await {
            match election {
                Some(election) => election.lead(scheduler.run()).await,
                None => scheduler.run().await,
            }
        }
    });
    Ok(Running {
        metrics_addr,
        decisions,
        identity,
        cache: feed.cache,
        budgets: budget_cache,
        tasks,
    })
}
// ANCHOR_END: start

/// Runs the scheduler until the returned future is dropped.
pub async fn run(config: Config) -> std::io::Result<()> {
    start(config).await?.wait().await;
    Ok(())
}
