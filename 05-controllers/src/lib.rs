//! # orc-controllers: chapter 05, controllers
//!
//! A controller is a loop that compares what the API says should be with
//! what is, and acts through the API to close the gap, one object at a
//! time. Kubernetes runs dozens of them in `kube-controller-manager`; this
//! crate is orc's controller manager. Every controller here is built from
//! chapter 03's client parts: informers for the state, a work queue of
//! keys, and a reconcile function that is level-triggered (it looks at the
//! whole current state, never at "what just changed") and idempotent (the
//! same state twice gives the same actions, so a retry is always safe).
//!
//! Architecture invariant: controllers meet other components only at the
//! API. This crate links orc-client, never orc-apiserver (its tests start a
//! real API server as a dev-dependency).
//!
//! ## Layout
//!
//! - [`garbage_collector`]: the first controller of the chapter. It follows
//!   `metadata.ownerReferences`, deletes dependents whose owners are gone,
//!   and carries out a DELETE's `propagationPolicy` (Background, Foreground,
//!   Orphan), which the API server only records as a finalizer.
//!   - `graph.rs`: every object by uid, and its dependents;
//!   - `decide.rs`: the verdicts, pure functions (lab 05);
//!   - `mod.rs`: informers, the work queue and the API calls.
//! - [`replicaset`]: keeps `spec.replicas` pods per ReplicaSet.
//!   - `pods.rs`: active, ready, available pods; which go first; a new pod
//!     from the template;
//!   - `expectations.rs`: creates and deletes not yet seen in the cache;
//!   - `status.rs`: the status observed;
//!   - `mod.rs`: the controller.
//! - [`deployment`]: rolls a Deployment from one template to the next
//!   through ReplicaSets. Like the collector, it decides in pure
//!   functions and acts in a thin shell:
//!   - `object.rs`: the Deployment's fields (`Deployment`, `Strategy`) and
//!     the annotations it writes on its ReplicaSets;
//!   - `template.rs`: the pod-template hash, template comparison, and the
//!     new ReplicaSet;
//!   - `rolling.rs`: the rolling update's arithmetic (lab 05);
//!   - `scaling.rs`: who gets what when a Deployment is resized or paused;
//!   - `revisions.rs`: revisions, copied annotations, and the history kept;
//!   - `status.rs`: the counts and the status written;
//!   - `conditions.rs`: the `Available`/`Progressing` conditions and when
//!     a stuck rollout is looked at again;
//!   - `mod.rs`: the controller: RollingUpdate and Recreate steps, and the
//!     API calls.
//! - [`statefulset`]: pods with stable names and identities (`web-0`,
//!   `web-1`, ...), made and removed in order, updated from the top down:
//!   - `object.rs`: the StatefulSet's fields (`PodManagement`,
//!     `UpdateStrategy`);
//!   - `identity.rs`: pod names, ordinals, identity labels, a new pod;
//!   - `revisions.rs`: the ControllerRevisions that record each template;
//!   - `decide.rs`: create, delete or wait (pure; `decide_tests.rs`);
//!   - `status.rs`: the counts and revisions written;
//!   - `mod.rs`: the controller.
//! - [`daemonset`]: one pod on every eligible node, pinned there by node
//!   affinity and bound by the scheduler; rolls a new template with
//!   `RollingUpdate` (`maxUnavailable`, `maxSurge`) or `OnDelete`, and
//!   keeps its history in ControllerRevisions:
//!   - `placement.rs`: which nodes, the DaemonSet tolerations, the pin
//!     (lab 05);
//!   - `revisions.rs`: the current revision, renumbering, history;
//!   - `decide.rs`: per-node actions, the rolling update, the status;
//!   - `backoff.rs`: the delay, per node, before a failed daemon pod is
//!     replaced (1 s doubling to 15 min);
//!   - `object.rs`, `pods.rs`, `mod.rs`: the fields, a new pod, the
//!     controller.
//! - [`hpa`]: the HorizontalPodAutoscaler controller: every 15 s, sets a
//!   target's replicas from its pods' CPU or memory against a target
//!   (Kubernetes' algorithm, behaviour policies, conditions, events):
//!   - `replicas.rs`: the replica calculator (pure; lab 05);
//!   - `pods.rs`: which pods count and their requests (pure);
//!   - `behavior.rs`: the stabilization window and scaling policies (pure);
//!   - `metrics.rs`: the metrics API behind a trait, and a fixed table
//!     for tests;
//!   - `decide.rs`: the reconcile (pure; `decide_tests.rs`);
//!   - `flags.rs`: kube-controller-manager's `--horizontal-pod-autoscaler-*`
//!     flags, which make the controller's `Tuning`;
//!   - `mod.rs`: the controller.
//! - [`clusterrole_aggregation`]: fills `admin`, `edit` and `view` (any
//!   ClusterRole with an `aggregationRule`) with the rules of the
//!   ClusterRoles labelled to join them.
//!   - `aggregate.rs`: the rules a role should have (pure);
//!   - `mod.rs`: the controller.
//! - [`namespace`]: empties a namespace being deleted (every namespaced
//!   resource the API serves), then removes its `kubernetes` finalizer:
//!   - `decide.rs`: ours or not, what to delete, the verdict and the
//!     `NamespaceContentRemaining`-style conditions (pure);
//!   - `mod.rs`: the informer and the API calls.
//! - [`serviceaccounts`]: gives every namespace its `default`
//!   ServiceAccount, and gives it back when deleted;
//! - [`root_ca_publisher`]: gives every namespace the ConfigMap
//!   `kube-root-ca.crt` with the cluster's CA, which pods' token volumes
//!   mount (runs when the controllers are given the CA);
//!   - `decide.rs`: which namespaces need one (pure);
//!   - `mod.rs`: the two informers and the create.
//! - [`tokens`]: the tokens controller: fills a
//!   `kubernetes.io/service-account-token` Secret a user creates with a
//!   long-lived token of the ServiceAccount it names (through a
//!   TokenRequest bound to the Secret), the CA and the namespace, and
//!   deletes it when the account goes;
//!   - `decide.rs`: fill, delete or leave (pure);
//!   - `mod.rs`: the two informers, the TokenRequest and the writes.
//! - [`job`]: runs a Job's pods to completion (completions, parallelism,
//!   the failure back-off, Indexed Jobs, suspend, pod failure policy,
//!   deadline, TTL); `decide.rs` is the pure reconcile, `mod.rs` acts.
//! - [`cronjob`]: creates a Job at each time a CronJob's schedule names;
//!   `schedule.rs` (fire times, missed times), `decide.rs`, `mod.rs`.
//! - [`node_lifecycle`]: notices a node that stopped heartbeating (its
//!   Lease in `kube-node-lease`, its status), sets its conditions
//!   `Unknown` and taints it `unreachable` (or `not-ready` when its agent
//!   says so); `heartbeats.rs` (when each node was last heard from),
//!   `decide.rs` (conditions and taints, pure), `mod.rs`.
//! - [`taint_eviction`]: deletes the pods of a `NoExecute`-tainted node
//!   once their tolerations run out; `decide.rs` (now, later or never,
//!   pure), `mod.rs`.
//! - [`disruption`]: keeps each PodDisruptionBudget's status (pods
//!   expected, healthy, wanted healthy; the disruptions allowed now)
//!   for the API server's eviction subresource to spend, and forgets an
//!   eviction whose pod was not deleted within 2 minutes (injected
//!   clock); `decide.rs` (the counts, pure), `mod.rs`.
//! - [`persistentvolume`]: binds PersistentVolumeClaims to volumes that
//!   fit (class, access modes, size), provisions `local-path` volumes on
//!   the node the scheduler chose, and reclaims a volume whose claim is
//!   gone (`Retain`: Released; `Delete`: deleted); `decide.rs` (pure),
//!   `local_path.rs` (the built-in provisioner), `mod.rs`.
//! - [`storage_protection`]: the pvc-protection and pv-protection
//!   controllers: a deleted claim stays `Terminating` while a pod uses it,
//!   a deleted volume while it is bound; `decide.rs` (pure), `pvc.rs`,
//!   `pv.rs`.
//! - [`clock`]: the time the Job, CronJob, StatefulSet, DaemonSet, node
//!   lifecycle, taint eviction, disruption and HPA controllers run on, injectable so tests jump over
//!   back-offs, minutes and grace periods.
//! - [`claims`]: which objects a controller owns, adopts or releases.
//! - [`object`]: the metadata every controller reads, and typed views:
//!   `Workload` (what Deployments and ReplicaSets share) and `ReplicaSet`.
//! - [`owners`]: owner references, the controller reference, and where an
//!   owner lives.
//! - Events that `kubectl describe` shows are written through chapter
//!   03's `orc_client::events` (the scheduler writes them too).
//! - informers that feed a controller's handler and say when their first
//!   list is in (no judging before that) are chapter 03's
//!   (`orc_client::informer::follow`): the scheduler needs them too.
//! - [`worker`]: the loop that takes keys off a work queue and
//!   reconciles them, retrying with back-off, and the [`worker::Action`] a
//!   reconcile answers (wait for a change, or look again after a while).
//! - [`metrics`], [`http`]: the manager's `/metrics` (every queue's
//!   `workqueue_*`, `leader_election_master_status`, the node lifecycle
//!   controller's `node_collector_*`) and `/healthz`.
//! - [`run`]: the controller manager: every controller against one API
//!   server, until dropped. `orc server` runs it beside the API server; the
//!   `orc-controllers` binary runs it alone.
//!
//! ## What it leaves out (for now)
//!
//! The HPA controller reads only resource metrics (CPU, memory: the API
//! server refuses `Pods`, `Object`, `External` and `ContainerResource`
//! metrics), and an HPA without `behavior` gets the default policies
//! (Kubernetes keeps an older rule for that case: at most double, or 4,
//! per reconcile). Several controller
//! managers may run side by side only with leader election
//! ([`Config::leader_election`], `orc-controllers --leader-elect`): without
//! it two would both create a ReplicaSet's missing pods. The garbage
//! collector's only event is `OwnerRefInvalidNamespace` (as Kubernetes'),
//! it does not break cycles of `blockOwnerDeletion` references
//! (Kubernetes unblocks them), and follows only the resources orc serves.
//! `/metrics` has the work queues, leadership and zones, nothing else,
//! over plain HTTP without authentication.
//!
//! The book's chapter is `chapters/src/05-controllers.md`.

pub mod claims;
pub mod clock;
pub mod clusterrole_aggregation;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod garbage_collector;
pub mod hpa;
pub mod http;
pub mod job;
pub mod metrics;
pub mod namespace;
pub mod node_lifecycle;
pub mod object;
pub mod owners;
pub mod persistentvolume;
pub mod replicaset;
pub mod root_ca_publisher;
pub mod serviceaccounts;
pub mod statefulset;
pub mod storage_protection;
pub mod taint_eviction;
pub mod tokens;
pub mod worker;

use std::sync::Arc;

use clock::{SharedClock, SystemClock};
use metrics::ControllerMetrics;
use orc_client::Client;
use orc_client::leader::LeaderElection;
pub use orc_client::leader::Timings;

pub use clusterrole_aggregation::ClusterRoleAggregationController;
pub use cronjob::CronJobController;
pub use daemonset::DaemonSetController;
pub use deployment::DeploymentController;
pub use disruption::DisruptionController;
pub use garbage_collector::GarbageCollector;
pub use hpa::HorizontalPodAutoscalerController;
pub use job::JobController;
pub use namespace::NamespaceController;
pub use node_lifecycle::NodeLifecycleController;
pub use persistentvolume::PersistentVolumeController;
pub use replicaset::ReplicaSetController;
pub use root_ca_publisher::RootCaPublisher;
pub use serviceaccounts::ServiceAccountsController;
pub use statefulset::StatefulSetController;
pub use storage_protection::{PvProtectionController, PvcProtectionController};
pub use taint_eviction::TaintEvictionController;
pub use tokens::TokensController;

/// Where the controllers find the API server.
#[derive(Debug, Clone)]
pub struct Config {
    /// The API server's URL (`http://127.0.0.1:6443`).
    pub server: String,
    /// A bearer token, when the API server asks for one.
    pub token: Option<String>,
    /// The CA to trust and the client certificate to present, for an
    /// `https://` server (`orc_client::kubeconfig::Connection::tls`).
    pub tls: Option<orc_client::tls::ClientTls>,
    /// How many objects the garbage collector judges at once.
    pub gc_workers: usize,
    /// How many objects each of the other controllers reconciles at once
    /// (Kubernetes' `--concurrent-replicaset-syncs` and friends).
    pub workers: usize,
    /// The node lifecycle controller's grace and monitor periods.
    pub node_monitor: node_lifecycle::Timing,
    /// The cluster's CA bundle (PEM), published in every namespace as
    /// `kube-root-ca.crt` (kube-controller-manager's `--root-ca-file`).
    /// `None`: the root CA publisher does not run (a plain-HTTP cluster
    /// has no CA to publish).
    pub root_ca: Option<String>,
    /// Take part in leader election on the `kube-system/kube-controller-manager`
    /// Lease and act only while leading (kube-controller-manager's
    /// `--leader-elect`); `None`: act at once, alone.
    pub leader_election: Option<Timings>,
    /// Where the HPA controller reads pod usage. `None`: the resource
    /// metrics API (`metrics.k8s.io`) through the API server; tests give
    /// an [`hpa::metrics::FixedMetrics`] table instead.
    pub pod_metrics: Option<hpa::metrics::SharedMetrics>,
    /// The HPA controller's loop period, tolerance and windows
    /// (kube-controller-manager's `--horizontal-pod-autoscaler-*` flags).
    pub hpa: hpa::Tuning,
    /// What this manager reports on `/metrics` ([`http::serve`] it): its
    /// queues, its leadership, its zones. Each manager needs its own.
    pub metrics: Arc<ControllerMetrics>,
}

impl Config {
    /// Controllers for the API server at `server`, without a token.
    pub fn new(server: impl Into<String>) -> Config {
        Config {
            server: server.into(),
            token: None,
            tls: None,
            gc_workers: 4,
            workers: 4,
            node_monitor: node_lifecycle::Timing::default(),
            root_ca: None,
            leader_election: None,
            pod_metrics: None,
            hpa: hpa::Tuning::default(),
            metrics: Arc::new(ControllerMetrics::default()),
        }
    }

    /// The client every controller shares.
    pub fn client(&self) -> Client {
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

// ANCHOR: run
/// Runs every controller until the returned future is dropped.
pub async fn run(config: Config) {
    run_with_clock(config, Arc::new(SystemClock)).await
}

/// [`run`], with the controllers that keep time on `clock` (a test's
/// [`clock::ManualClock`] jumps over back-offs, to the next schedule, past
/// a node's grace period). With `config.leader_election`, first waits to
/// lead, and returns when leadership is lost.
pub async fn run_with_clock(config: Config, clock: SharedClock) {
    match config.leader_election {
        None => run_controllers(&config, clock).await,
        Some(timings) => {
            let election =
                LeaderElection::new(config.client(), LEASE_NAMESPACE, LEASE_NAME, timings);
            run_elected(config, clock, &election).await
        }
    }
}

/// The Lease controller managers elect their leader on, as
/// kube-controller-manager's: `kube-system/kube-controller-manager`.
pub const LEASE_NAMESPACE: &str = "kube-system";
pub const LEASE_NAME: &str = "kube-controller-manager";

// ANCHOR: elected
/// Every controller, once `election` leads; they stop together when it
/// loses the Lease, so two managers never act at once. A standby starts
/// no informer until it leads (kube-controller-manager starts its
/// controllers only then, too).
pub async fn run_elected(config: Config, clock: SharedClock, election: &LeaderElection) {
    config.metrics.follow_election(election.leading.clone());
    election.lead(run_controllers(&config, clock)).await
}
// ANCHOR_END: elected

/// Every controller, their queues reported in `config.metrics`.
async fn run_controllers(config: &Config, clock: SharedClock) {
    ControllerMetrics::scope(config.metrics.clone(), every_controller(config, clock)).await
}

async fn every_controller(config: &Config, clock: SharedClock) {
    let gc = GarbageCollector::new(config.client());
    tokio::join!(
        gc.run(config.gc_workers),
        ReplicaSetController::run(config.client(), config.workers),
        DeploymentController::run(config.client(), config.workers),
        DaemonSetController::run(config.client(), config.workers, clock.clone()),
        ClusterRoleAggregationController::run(config.client()),
        NamespaceController::run(config.client(), config.workers),
        JobController::run(config.client(), config.workers, clock.clone()),
        CronJobController::run(config.client(), config.workers, clock.clone()),
        NodeLifecycleController::run(config.client(), clock.clone(), config.node_monitor),
        TaintEvictionController::run(config.client(), config.workers, clock.clone()),
        DisruptionController::run(config.client(), config.workers, clock.clone()),
        ServiceAccountsController::run(config.client(), config.workers),
        TokensController::run(config.client(), config.root_ca.clone(), config.workers),
        StatefulSetController::run(config.client(), config.workers, clock.clone()),
        PersistentVolumeController::run(config.client(), config.workers),
        PvcProtectionController::run(config.client()),
        PvProtectionController::run(config.client()),
        HorizontalPodAutoscalerController::run(
            config.client(),
            config.workers,
            clock.clone(),
            pod_metrics(config),
            config.hpa,
        ),
        publish_root_ca(config),
    );
}
// ANCHOR_END: run

/// The HPA controller's metrics: the configured source, or the metrics API.
fn pod_metrics(config: &Config) -> hpa::metrics::SharedMetrics {
    config.pod_metrics.clone().unwrap_or_else(|| {
        Arc::new(hpa::metrics::MetricsApi {
            client: config.client(),
        })
    })
}

/// The root CA publisher, when there is a CA to publish; else nothing.
async fn publish_root_ca(config: &Config) {
    if let Some(ca) = &config.root_ca {
        RootCaPublisher::run(config.client(), ca.clone(), config.workers).await;
    }
}
