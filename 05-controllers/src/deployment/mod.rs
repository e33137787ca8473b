//! The Deployment controller: rolls a Deployment's pods from one template
//! to the next through ReplicaSets.
//!
//! A Deployment does not own pods. It owns one ReplicaSet per version of
//! its pod template, named after the template's hash ([`template`]), and
//! moves replicas from the old ones to the new one:
//!
//! - **RollingUpdate** (the default): grow the new ReplicaSet within
//!   `maxSurge`, shrink old ones within `maxUnavailable`, and let the
//!   ReplicaSets' status changes queue the Deployment again, until only
//!   the new one has pods ([`rolling`]);
//! - **Recreate**: scale every old ReplicaSet to zero, wait until their
//!   pods are gone, then scale the new one up.
//!
//! Each ReplicaSet carries a revision (`deployment.kubernetes.io/revision`):
//! a new template gets the next number, and a template seen before (a
//! `kubectl rollout undo`) makes its old ReplicaSet current again under
//! the next number. `kubectl rollout history` lists these revisions and
//! `kubectl rollout undo` copies an old ReplicaSet's template back into the
//! Deployment; both are client-side, and work because of this bookkeeping
//! ([`revisions`]). A resize (`kubectl scale`) or a pause is followed
//! without rolling ([`scaling`]). The status ([`status`], [`conditions`])
//! is what `kubectl rollout status` waits on.
//!
//! As in the garbage collector, the decisions are pure functions in those
//! modules, unit-tested; this file reads the caches and writes what they
//! decide. Kubernetes' controller is `pkg/controller/deployment/`:
//! `syncDeployment` is [`DeploymentController::reconcile`],
//! `getReplicaSetsForDeployment` is `claim_replicasets`, `rolloutRolling`
//! and `rolloutRecreate` are `roll` and `recreate`, `scaleReplicaSet` is
//! `scale`, and `syncRolloutStatus` is `sync_status`.

pub mod conditions;
pub mod object;
pub mod revisions;
pub mod rolling;
pub mod scaling;
pub mod status;
pub mod template;

use std::sync::Arc;

use jiff::Timestamp;
use orc_client::informer::{Cache, Notification};
use orc_client::resources::{Resource, by_kind};
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::claims::{self, is_deleting};
use crate::object::{ReplicaSet, Workload, by_age, key_of, namespace_and_name, uid};
use crate::worker::{self, Action};
pub use object::{Deployment, REVISION, Strategy};
use orc_client::events;
use orc_client::informer as informers;
use rolling::Replicas;
use scaling::{is_scaling_event, sizes_after_resize};
use status::Counts;
use template::{equal_ignoring_hash, pod_template_hash};

/// The name events are recorded under, as Kubernetes'.
const COMPONENT: &str = "deployment-controller";

fn deployments() -> &'static Resource {
    by_kind("apps/v1", "Deployment").expect("the resource table serves Deployments")
}

fn replicasets() -> &'static Resource {
    by_kind("apps/v1", "ReplicaSet").expect("the resource table serves ReplicaSets")
}

/// The controller. [`DeploymentController::run`] starts it.
pub struct DeploymentController {
    client: Client,
    deployments: Arc<Cache>,
    replicasets: Arc<Cache>,
    queue: Arc<WorkQueue>,
}

impl DeploymentController {
    /// Follows Deployments and ReplicaSets through `client`, and once both
    /// are listed, reconciles with `workers` workers until dropped.
    pub async fn run(client: Client, workers: usize) {
        let d_informer = informers::everything(&client, deployments());
        let rs_informer = informers::everything(&client, replicasets());
        let controller = Arc::new(DeploymentController {
            deployments: d_informer.cache(),
            replicasets: rs_informer.cache(),
            client,
            queue: Arc::new(WorkQueue::new()),
        });
        let mut tasks = JoinSet::new();
        let c = controller.clone();
        let d_synced = informers::follow(&mut tasks, d_informer, move |n| c.deployment_changed(n));
        let c = controller.clone();
        let rs_synced =
            informers::follow(&mut tasks, rs_informer, move |n| c.replicaset_changed(n));
        let c = controller.clone();
        let reconcile = move |key: String| {
            let c = c.clone();
            async move { c.reconcile(&key).await }
        };
        let queue = ("deployment", controller.queue.clone());
        let synced = vec![d_synced, rs_synced];
        worker::run_after_sync(tasks, synced, queue, workers, reconcile).await;
    }

    fn deployment_changed(&self, notification: Notification) {
        match notification {
            Notification::Added(d)
            | Notification::Updated { new: d, .. }
            | Notification::Deleted(d) => self.queue.add(&key_of(&d)),
            Notification::Synced => {}
        }
    }

    /// Queues the Deployment controlling a changed ReplicaSet, or, for one
    /// without a controller, every Deployment that might adopt it.
    fn replicaset_changed(&self, notification: Notification) {
        let (old, new) = match notification {
            Notification::Added(rs) => (None, rs),
            Notification::Updated { old, new } => (Some(old), new),
            Notification::Deleted(rs) => (None, rs),
            Notification::Synced => return,
        };
        let was = old.as_ref().and_then(|o| self.controller_key(o));
        match self.controller_key(&new) {
            Some(key) => self.queue.add(&key),
            None => self.queue_matching(&new),
        }
        if let Some(key) = was {
            self.queue.add(&key);
        }
    }

    fn controller_key(&self, rs: &Value) -> Option<String> {
        claims::controller_key(&self.deployments, rs, "Deployment")
    }

    fn queue_matching(&self, rs: &Value) {
        for key in claims::selecting(&self.deployments, rs) {
            self.queue.add(&key);
        }
    }

    // ANCHOR: reconcile
    /// One step of the Deployment `key`'s rollout, then its status.
    pub async fn reconcile(&self, key: &str) -> Result<Action, ClientError> {
        let Some(d) = self.deployments.get(key) else {
            return Ok(Action::await_change()); // deleted: its ReplicaSets are the collector's
        };
        let mut owned = self.claim_replicasets(&d).await?;
        // Oldest first: the order old ReplicaSets shrink in, and the first
        // of several with the current template is the current one.
        owned.sort_by(by_age);
        let deployment = Deployment(&d);
        let current = owned
            .iter()
            .position(|rs| equal_ignoring_hash(ReplicaSet(rs).template(), deployment.template()));
        let new = current.map(|i| owned.remove(i));
        let old = owned;
        if is_deleting(&d) {
            return self.sync_status(&d, &old, &Step::holding(new)).await;
        }
        // Paused, or resized (`kubectl scale`) since its ReplicaSets were
        // last sized: follow the new size before rolling any further.
        if deployment.paused() || is_scaling_event(deployment, new.as_ref(), &old) {
            for (rs, count) in sizes_after_resize(deployment, new.as_ref(), &old) {
                self.scale(&d, rs, count).await?;
            }
            return self.sync_status(&d, &old, &Step::holding(new)).await;
        }
        let step = if deployment.strategy() == Strategy::Recreate {
            self.recreate(&d, new, &old).await?
        } else {
            self.roll(&d, new, &old).await?
        };
        let action = self.sync_status(&d, &old, &step).await?;
        if step.done {
            self.clean_up(&d, &old).await?;
        }
        Ok(action)
    }
    // ANCHOR_END: reconcile

    /// The ReplicaSets `d` controls after adopting and releasing
    /// (Kubernetes' `getReplicaSetsForDeployment`).
    async fn claim_replicasets(&self, d: &Value) -> Result<Vec<Value>, ClientError> {
        let (ns, _) = namespace_and_name(d);
        let candidates = self.replicasets.in_namespace(ns);
        claims::claim_all(&self.client, replicasets(), (d, "Deployment"), candidates).await
    }

    // ANCHOR: roll
    /// One step of a rolling update: grow the new ReplicaSet (creating it
    /// first if needed) within the surge; if it did not grow, shrink old
    /// ones within availability (Kubernetes' `rolloutRolling`).
    async fn roll(
        &self,
        d: &Value,
        new: Option<Value>,
        old: &[Value],
    ) -> Result<Step, ClientError> {
        let deployment = Deployment(d);
        let (desired, surge) = (deployment.replicas(), deployment.max_surge());
        let old_total: i64 = old.iter().map(|rs| ReplicaSet(rs).replicas()).sum();
        let (new, created) = match new {
            Some(rs) => (self.keep_current(d, rs, old).await?, false),
            None => {
                let count = rolling::new_replicas(desired, surge, old_total, 0);
                (self.create_new(d, old, count).await?, true)
            }
        };
        let current = ReplicaSet(&new).replicas();
        let target = rolling::new_replicas(desired, surge, old_total + current, current);
        // One move per reconcile: old ones shrink on a later one, which
        // sees how many of the new pods became available.
        if target != current {
            let new = self.scale(d, &new, target).await?;
            return Ok(Step {
                new: Some(new),
                created,
                done: false,
            });
        }
        let views: Vec<Replicas> = old.iter().map(view).collect();
        let unavailable = deployment.max_unavailable();
        let next = rolling::scale_down_old(desired, unavailable, view(&new), &views);
        let mut scaled = false;
        for (rs, wanted) in old.iter().zip(next) {
            if wanted != ReplicaSet(rs).replicas() {
                self.scale(d, rs, wanted).await?;
                scaled = true;
            }
        }
        // Complete only when this step changed nothing: counts read from
        // statuses written before a change would not show it yet.
        let done = !scaled && !created && Counts::of(Some(&new), &all(&new, old)).complete(desired);
        Ok(Step {
            new: Some(new),
            created,
            done,
        })
    }
    // ANCHOR_END: roll

    /// One step of a Recreate rollout: old ReplicaSets to zero, wait until
    /// their pods are gone, then the new one to `spec.replicas`
    /// (Kubernetes' `rolloutRecreate`).
    async fn recreate(
        &self,
        d: &Value,
        new: Option<Value>,
        old: &[Value],
    ) -> Result<Step, ClientError> {
        let desired = Deployment(d).replicas();
        let mut scaled = false;
        for rs in old.iter().filter(|rs| ReplicaSet(rs).replicas() > 0) {
            self.scale(d, rs, 0).await?;
            scaled = true;
        }
        let old_pods: i64 = old.iter().map(|rs| ReplicaSet(rs).status_replicas()).sum();
        if scaled || old_pods > 0 {
            // Their status changes queue this Deployment again.
            return Ok(Step::holding(new));
        }
        let (mut new, created) = match new {
            Some(rs) => (self.keep_current(d, rs, old).await?, false),
            None => (self.create_new(d, old, desired).await?, true),
        };
        if ReplicaSet(&new).replicas() != desired {
            new = self.scale(d, &new, desired).await?;
        }
        let done = Counts::of(Some(&new), &all(&new, old)).complete(desired);
        Ok(Step {
            new: Some(new),
            created,
            done,
        })
    }

    // ANCHOR: create_new
    /// Creates the ReplicaSet for `d`'s current template with `count`
    /// replicas, under the next revision. A name taken by another template
    /// (a hash collision) bumps `status.collisionCount` and fails, so the
    /// next try hashes differently (Kubernetes' `getNewReplicaSet`).
    async fn create_new(&self, d: &Value, old: &[Value], count: i64) -> Result<Value, ClientError> {
        let (ns, name) = namespace_and_name(d);
        let collisions = Deployment(d).collision_count();
        let hash = pod_template_hash(Deployment(d).template(), collisions);
        let annotations = revisions::new_annotations(Deployment(d), old);
        let rs = template::new_replicaset(d, &hash, count, annotations);
        let rs_name = namespace_and_name(&rs).1;
        match self.client.create(replicasets(), Some(ns), &rs).await {
            Ok(created) => {
                let message = format!("Scaled up replica set {rs_name} to {count}");
                self.record_scaling(d, message).await;
                Ok(created)
            }
            // The name is taken: by this template's ReplicaSet from an
            // earlier try whose answer was lost, or by another template's.
            Err(e) if e.code() == Some(409) => {
                let existing = self.client.get(replicasets(), Some(ns), rs_name).await?;
                if template::is_current(d, &existing) {
                    return Ok(existing);
                }
                let patch = json!({"status": {"collisionCount": collisions + 1}});
                self.client
                    .merge_patch(deployments(), Some(ns), name, Some("status"), &patch)
                    .await?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
    // ANCHOR_END: create_new

    /// Keeps the current ReplicaSet's annotations in step with `d`: the
    /// Deployment's own annotations, and the next revision if its template
    /// came back from an older one (`kubectl rollout undo`).
    async fn keep_current(
        &self,
        d: &Value,
        rs: Value,
        old: &[Value],
    ) -> Result<Value, ClientError> {
        let Some(wanted) = revisions::current_annotations(Deployment(d), ReplicaSet(&rs), old)
        else {
            return Ok(rs);
        };
        let (ns, name) = namespace_and_name(&rs);
        let patch = json!({"metadata": {"annotations": wanted,
            "resourceVersion": rs["metadata"]["resourceVersion"]}});
        self.client
            .merge_patch(replicasets(), Some(ns), name, None, &patch)
            .await
    }

    /// Gives `rs` `count` replicas and records the Deployment's size on
    /// it, when either differs ([`scaling::needs_scaling`]), with an event
    /// when the count changes (Kubernetes' `scaleReplicaSet`). Answers the
    /// ReplicaSet as written.
    async fn scale(&self, d: &Value, rs: &Value, count: i64) -> Result<Value, ClientError> {
        let before = ReplicaSet(rs).replicas();
        if !scaling::needs_scaling(Deployment(d), ReplicaSet(rs), count) {
            return Ok(rs.clone());
        }
        let (ns, name) = namespace_and_name(rs);
        // Pinned to the version read: a ReplicaSet changed since is judged
        // again, never overwritten.
        let patch = json!({
            "metadata": {
                "annotations": scaling::size_annotations(Deployment(d)),
                "resourceVersion": rs["metadata"]["resourceVersion"],
            },
            "spec": {"replicas": count},
        });
        let scaled = self
            .client
            .merge_patch(replicasets(), Some(ns), name, None, &patch)
            .await?;
        if count != before {
            let direction = if count > before { "up" } else { "down" };
            let message = format!("Scaled {direction} replica set {name} to {count}");
            self.record_scaling(d, message).await;
        }
        Ok(scaled)
    }

    /// Records a `ScalingReplicaSet` event on `d`, for `kubectl describe`.
    async fn record_scaling(&self, d: &Value, message: String) {
        let kind = ("apps/v1", "Deployment");
        events::record(
            &self.client,
            COMPONENT,
            d,
            kind,
            "ScalingReplicaSet",
            message,
        )
        .await;
    }

    // ANCHOR: sync_status
    /// Writes the status observed now, and the current revision on the
    /// Deployment (Kubernetes' `syncRolloutStatus`): the decisions are
    /// [`status`]'s and [`conditions`]' pure functions, this only writes
    /// them. Asks to be queued again when the progress deadline would pass
    /// before anything else queues it.
    async fn sync_status(
        &self,
        d: &Value,
        old: &[Value],
        step: &Step,
    ) -> Result<Action, ClientError> {
        let now = Timestamp::now();
        let new = step.new.as_ref();
        let (counts, rollout) = status::observe(Deployment(d), new, old, step.created);
        let conditions = conditions::conditions(&rollout, Deployment(d).conditions(), now);
        let recheck = conditions::progress_recheck(&rollout, &conditions, now);
        let wanted = status::status(Deployment(d), &counts, conditions);
        if let Some(patch) = status::patch(Deployment(d).status(), &wanted) {
            let (ns, name) = namespace_and_name(d);
            match self
                .client
                .merge_patch(deployments(), Some(ns), name, Some("status"), &patch)
                .await
            {
                Err(e) if !e.is_not_found() => return Err(e),
                _ => {}
            }
        }
        if let Some(rs) = new {
            self.record_revision(d, rs).await?;
        }
        // Nothing queues a stuck rollout: look again when its deadline passes.
        Ok(match recheck {
            Some(after) => Action::requeue(after),
            None => Action::await_change(),
        })
    }
    // ANCHOR_END: sync_status

    /// Puts the current ReplicaSet's revision on the Deployment itself
    /// ([`revisions::revision_to_record`]).
    async fn record_revision(&self, d: &Value, current: &Value) -> Result<(), ClientError> {
        let Some(text) = revisions::revision_to_record(Deployment(d), ReplicaSet(current)) else {
            return Ok(());
        };
        let (ns, name) = namespace_and_name(d);
        let patch = json!({"metadata": {"annotations": {REVISION: text}}});
        match self
            .client
            .merge_patch(deployments(), Some(ns), name, None, &patch)
            .await
        {
            Err(e) if !e.is_not_found() => Err(e),
            _ => Ok(()),
        }
    }

    /// Deletes the old ReplicaSets beyond the history `kubectl rollout
    /// undo` can go back to ([`revisions::history_to_delete`], Kubernetes'
    /// `cleanupDeployment`).
    async fn clean_up(&self, d: &Value, old: &[Value]) -> Result<(), ClientError> {
        for rs in revisions::history_to_delete(Deployment(d), old) {
            let (ns, name) = namespace_and_name(rs);
            let options = json!({"preconditions": {"uid": uid(rs)}});
            match self
                .client
                .delete_with(replicasets(), Some(ns), name, &options)
                .await
            {
                Err(e) if !(e.is_not_found() || e.is_conflict()) => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

/// What one rollout step left.
struct Step {
    /// The current ReplicaSet, as last written.
    new: Option<Value>,
    /// This step created it (the `NewReplicaSetCreated` condition).
    created: bool,
    /// The rollout is complete: time to trim the history.
    done: bool,
}

impl Step {
    /// A reconcile that rolled nothing (deleting, paused, or resizing):
    /// `new` stays current, and nothing is complete.
    fn holding(new: Option<Value>) -> Step {
        Step {
            new,
            created: false,
            done: false,
        }
    }
}

/// A ReplicaSet as the rolling arithmetic sees it.
fn view(rs: &Value) -> Replicas {
    Replicas {
        wanted: ReplicaSet(rs).replicas(),
        available: ReplicaSet(rs).available_replicas(),
    }
}

/// Every ReplicaSet, old ones first.
fn all<'a>(new: &'a Value, old: &'a [Value]) -> Vec<&'a Value> {
    old.iter().chain([new]).collect()
}
