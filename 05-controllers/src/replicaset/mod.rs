//! The ReplicaSet controller: keeps `spec.replicas` pods running for each
//! ReplicaSet.
//!
//! Kubernetes' `ReplicaSetController`, step by step:
//!
//! 1. informers on ReplicaSets and Pods keep caches current; every change
//!    queues the key (`namespace/name`) of the ReplicaSets it concerns: a
//!    pod's controller, or, for a pod without one, every ReplicaSet whose
//!    selector matches it (it may be adopted);
//! 2. a worker reconciles one ReplicaSet: it *claims* the active pods of
//!    its namespace ([`crate::claims`]: owned, adopted, released), then,
//!    if its [`Expectations`] are met, creates pods from the template or
//!    deletes the cheapest ones to lose ([`pods::deletion_order`]), and
//!    writes the status it observed;
//! 3. created pods are made in batches of 1, 2, 4, ... ("slow start"), so
//!    a template the API refuses costs one failed request, not a hundred.
//!
//! Deleting a ReplicaSet is the garbage collector's business: its pods
//! name it as their owner.

pub mod expectations;
pub mod pods;
pub mod status;

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use orc_client::informer::{Cache, Notification};
use orc_client::resources::{Resource, by_kind};
use orc_client::selectors::labels_of;
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError};
use serde_json::{Value, json};
use tokio::task::JoinSet;

pub use expectations::Expectations;

use crate::claims::{self, is_deleting};
use crate::object::{ReplicaSet, Workload, key_of, namespace_and_name, uid};
use crate::worker::{self, Action};
use orc_client::events;
use orc_client::informer as informers;

/// The most pods one reconcile creates or deletes, as Kubernetes'
/// `BurstReplicas`: a ReplicaSet scaled to 10 000 gets there in steps.
pub const BURST: i64 = 500;

/// The controller. [`ReplicaSetController::run`] starts it.
pub struct ReplicaSetController {
    client: Client,
    replicasets: Arc<Cache>,
    pods: Arc<Cache>,
    queue: Arc<WorkQueue>,
    expectations: Expectations,
}

fn replicasets() -> &'static Resource {
    by_kind("apps/v1", "ReplicaSet").expect("the resource table serves ReplicaSets")
}

fn pods_resource() -> &'static Resource {
    by_kind("v1", "Pod").expect("the resource table serves Pods")
}

impl ReplicaSetController {
    // ANCHOR: run
    /// Follows ReplicaSets and Pods through `client`, and once both are
    /// listed, reconciles with `workers` workers until dropped.
    pub async fn run(client: Client, workers: usize) {
        let rs_informer = informers::everything(&client, replicasets());
        let pod_informer = informers::everything(&client, pods_resource());
        let controller = Arc::new(ReplicaSetController {
            replicasets: rs_informer.cache(),
            pods: pod_informer.cache(),
            client,
            queue: Arc::new(WorkQueue::new()),
            expectations: Expectations::default(),
        });
        let mut tasks = JoinSet::new();
        let c = controller.clone();
        let rs_synced =
            informers::follow(&mut tasks, rs_informer, move |n| c.replicaset_changed(n));
        let c = controller.clone();
        let pods_synced = informers::follow(&mut tasks, pod_informer, move |n| c.pod_changed(n));
        let c = controller.clone();
        let reconcile = move |key: String| {
            let c = c.clone();
            async move { c.reconcile(&key).await }
        };
        let queue = ("replicaset", controller.queue.clone());
        let synced = vec![rs_synced, pods_synced];
        worker::run_after_sync(tasks, synced, queue, workers, reconcile).await;
    }
    // ANCHOR_END: run

    fn replicaset_changed(&self, notification: Notification) {
        match notification {
            Notification::Added(rs) | Notification::Updated { new: rs, .. } => {
                self.queue.add(&key_of(&rs))
            }
            Notification::Deleted(rs) => {
                let key = key_of(&rs);
                self.expectations.forget(&key);
                self.queue.add(&key);
            }
            Notification::Synced => {}
        }
    }

    // ANCHOR: pod_changed
    /// Queues the ReplicaSets a pod change concerns, and counts it against
    /// their expectations.
    fn pod_changed(&self, notification: Notification) {
        match notification {
            Notification::Added(pod) => match self.controller_key(&pod) {
                Some(key) => {
                    self.expectations.creation_observed(&key);
                    self.queue.add(&key);
                }
                None => self.queue_matching(&pod),
            },
            Notification::Updated { old, new } => {
                let (was, is) = (self.controller_key(&old), self.controller_key(&new));
                if let Some(key) = &is {
                    if is_deleting(&new) && !is_deleting(&old) {
                        self.expectations.deletion_observed(key, uid(&new));
                    }
                    self.queue.add(key);
                }
                if let Some(key) = was.filter(|w| Some(w) != is.as_ref()) {
                    self.queue.add(&key);
                }
                if is.is_none() && labels_of(&old) != labels_of(&new) {
                    self.queue_matching(&new);
                }
            }
            Notification::Deleted(pod) => {
                if let Some(key) = self.controller_key(&pod) {
                    self.expectations.deletion_observed(&key, uid(&pod));
                    self.queue.add(&key);
                }
            }
            Notification::Synced => {}
        }
    }
    // ANCHOR_END: pod_changed

    /// The key of the ReplicaSet controlling `pod`.
    fn controller_key(&self, pod: &Value) -> Option<String> {
        claims::controller_key(&self.replicasets, pod, "ReplicaSet")
    }

    /// Queues every ReplicaSet that selects `pod` (one may adopt it).
    fn queue_matching(&self, pod: &Value) {
        for key in claims::selecting(&self.replicasets, pod) {
            self.queue.add(&key);
        }
    }

    // ANCHOR: reconcile
    /// Brings the ReplicaSet `key` towards its `spec.replicas`, and writes
    /// what it observed to its status.
    pub async fn reconcile(&self, key: &str) -> Result<Action, ClientError> {
        let Some(rs) = self.replicasets.get(key) else {
            self.expectations.forget(key);
            return Ok(Action::await_change()); // deleted: its pods are the garbage collector's
        };
        let (may_act, owned) = self.claim_pods(key, &rs).await?;
        if may_act && !is_deleting(&rs) {
            self.scale(key, &rs, &owned).await?;
        }
        let refs: Vec<&Value> = owned.iter().collect();
        let wanted = status::status(&rs, &refs, Timestamp::now());
        if let Some(patch) = status::patch(rs.get("status"), &wanted) {
            let (ns, name) = namespace_and_name(&rs);
            match self
                .client
                .merge_patch(replicasets(), Some(ns), name, Some("status"), &patch)
                .await
            {
                Err(e) if !e.is_not_found() => return Err(e),
                _ => {}
            }
        }
        Ok(availability_check(&rs, &refs))
    }
    // ANCHOR_END: reconcile

    /// Whether the ReplicaSet `key` may scale (its expectations, read
    /// first: see `satisfied_before`), and the active pods `rs` owns after
    /// adopting and releasing.
    async fn claim_pods(&self, key: &str, rs: &Value) -> Result<(bool, Vec<Value>), ClientError> {
        let (ns, _) = namespace_and_name(rs);
        let (may_act, candidates) = self
            .expectations
            .satisfied_before(key, Instant::now(), || self.pods.in_namespace(ns));
        let active: Vec<Value> = candidates.into_iter().filter(pods::is_active).collect();
        let owned =
            claims::claim_all(&self.client, pods_resource(), (rs, "ReplicaSet"), active).await?;
        Ok((may_act, owned))
    }

    // ANCHOR: scale
    /// Creates or deletes pods so that `owned` becomes `spec.replicas`.
    async fn scale(&self, key: &str, rs: &Value, owned: &[Value]) -> Result<(), ClientError> {
        let diff = owned.len() as i64 - ReplicaSet(rs).replicas();
        let (ns, name) = namespace_and_name(rs);
        if diff < 0 {
            let count = (-diff).min(BURST);
            self.expectations.expect(key, count, &[], Instant::now());
            let pod = pods::from_template(rs);
            let mut created = 0;
            let mut batch = 1;
            while created < count {
                let size = batch.min(count - created);
                let creates =
                    (0..size).map(|_| self.client.create(pods_resource(), Some(ns), &pod));
                let results = futures::future::join_all(creates).await;
                created += size;
                for pod in results.iter().flatten() {
                    let message = format!("Created pod: {}", namespace_and_name(pod).1);
                    self.record(rs, "SuccessfulCreate", message).await;
                }
                let failed = results.iter().filter(|r| r.is_err()).count() as i64;
                if let Some(Err(error)) = results.into_iter().find(Result::is_err) {
                    // Failed creates, and those never tried, will not arrive.
                    for _ in 0..failed + (count - created) {
                        self.expectations.creation_observed(key);
                    }
                    tracing::warn!(replicaset = name, %error, "creating pods");
                    return Err(error);
                }
                batch *= 2;
            }
            tracing::info!(replicaset = %key, count, "created pods");
        } else if diff > 0 {
            let mut victims: Vec<&Value> = owned.iter().collect();
            victims.sort_by(|a, b| pods::deletion_order(a, b));
            victims.truncate(diff.min(BURST) as usize);
            let uids: Vec<String> = victims.iter().map(|p| uid(p).to_string()).collect();
            self.expectations.expect(key, 0, &uids, Instant::now());
            for victim in victims {
                let (_, pod_name) = namespace_and_name(victim);
                let options = json!({"preconditions": {"uid": uid(victim)}});
                let result = self
                    .client
                    .delete_with(pods_resource(), Some(ns), pod_name, &options)
                    .await;
                match result {
                    Ok(_) => {
                        let message = format!("Deleted pod: {pod_name}");
                        self.record(rs, "SuccessfulDelete", message).await;
                    }
                    Err(error) => {
                        // No event will say it went: count it now.
                        self.expectations.deletion_observed(key, uid(victim));
                        if !(error.is_not_found() || error.is_conflict()) {
                            return Err(error);
                        }
                    }
                }
            }
            tracing::info!(replicaset = %key, count = diff.min(BURST), "deleted pods");
        }
        Ok(())
    }
    // ANCHOR_END: scale

    async fn record(&self, rs: &Value, reason: &str, message: String) {
        let kind = ("apps/v1", "ReplicaSet");
        events::record(
            &self.client,
            "replicaset-controller",
            rs,
            kind,
            reason,
            message,
        )
        .await;
    }
}

/// When a ready pod will become available (`minReadySeconds` after it
/// became ready), look again then: no event will say so.
fn availability_check(rs: &Value, owned: &[&Value]) -> Action {
    let min_ready = ReplicaSet(rs).min_ready_seconds();
    let now = Timestamp::now();
    let waiting = owned
        .iter()
        .any(|p| orc_client::conditions::is_ready(p) && !pods::is_available(p, min_ready, now));
    if min_ready > 0 && waiting {
        Action::requeue(Duration::from_secs(min_ready as u64))
    } else {
        Action::await_change()
    }
}
