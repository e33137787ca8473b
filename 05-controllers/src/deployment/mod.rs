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
//! Deployment; both are client-side, and work because of this bookkeeping.
//! The status ([`status`]) is what `kubectl rollout status` waits on.

pub mod rolling;
pub mod status;
pub mod template;

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use orc_client::informer::{Cache, Notification};
use orc_client::resources::{Resource, by_kind};
use orc_client::time;
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError};
use serde_json::{Map, Value, json};
use tokio::task::JoinSet;

use crate::claims::{self, is_deleting};
use crate::object::{key_of, namespace_and_name, replicas, uid};
use crate::owners::controller_of;
use crate::worker::{self, Requeue};
use orc_client::events;
use orc_client::informer as informers;
use rolling::{Replicas, Share};
use status::{Condition, Counts};
use template::{HASH_LABEL, equal_ignoring_hash, pod_template_hash};

/// The annotation holding a ReplicaSet's (and its Deployment's) revision.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
const DESIRED: &str = "deployment.kubernetes.io/desired-replicas";
const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// Annotations of a Deployment that are not copied to its ReplicaSets
/// (Kubernetes' `annotationsToSkip`): they describe the Deployment itself.
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    DESIRED,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];
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
    pub async fn reconcile(&self, key: &str) -> Result<Requeue, ClientError> {
        let Some(d) = self.deployments.get(key) else {
            return Ok(None); // deleted: its ReplicaSets are the collector's
        };
        let mut owned = self.claim_replicasets(&d).await?;
        // Oldest first: the order old ReplicaSets shrink in, and the first
        // of several with the current template is the current one.
        owned.sort_by(by_age);
        let current = owned
            .iter()
            .position(|rs| equal_ignoring_hash(&rs["spec"]["template"], &d["spec"]["template"]));
        let new = current.map(|i| owned.remove(i));
        let old = owned;
        if is_deleting(&d) {
            return self.sync_status(&d, new.as_ref(), &old, false).await;
        }
        // Paused, or resized (`kubectl scale`) since its ReplicaSets were
        // last sized: follow the new size before rolling any further.
        if flag(&d, "/spec/paused") || is_scaling_event(&d, new.as_ref(), &old) {
            self.resize(&d, new.as_ref(), &old).await?;
            return self.sync_status(&d, new.as_ref(), &old, false).await;
        }
        let step = if is_recreate(&d) {
            self.recreate(&d, new, &old).await?
        } else {
            self.roll(&d, new, &old).await?
        };
        let Step { new, created, done } = step;
        let requeue = self.sync_status(&d, new.as_ref(), &old, created).await?;
        if done {
            self.clean_up(&d, &old).await?;
        }
        Ok(requeue)
    }
    // ANCHOR_END: reconcile

    /// The ReplicaSets `d` controls after adopting and releasing.
    async fn claim_replicasets(&self, d: &Value) -> Result<Vec<Value>, ClientError> {
        let (ns, _) = namespace_and_name(d);
        let candidates = self.replicasets.in_namespace(ns);
        claims::claim_all(&self.client, replicasets(), (d, "Deployment"), candidates).await
    }

    // ANCHOR: roll
    /// One step of a rolling update: grow the new ReplicaSet (creating it
    /// first if needed) within the surge; if it did not grow, shrink old
    /// ones within availability.
    async fn roll(
        &self,
        d: &Value,
        new: Option<Value>,
        old: &[Value],
    ) -> Result<Step, ClientError> {
        let desired = replicas(d);
        let (surge, unavailable) =
            rolling::fenceposts(d.pointer("/spec/strategy/rollingUpdate"), desired);
        let old_total: i64 = old.iter().map(replicas).sum();
        let (new, created) = match new {
            Some(rs) => (self.keep_current(d, rs, old).await?, false),
            None => {
                let count = rolling::new_replicas(desired, surge, old_total, 0);
                (self.create_new(d, old, count).await?, true)
            }
        };
        let target =
            rolling::new_replicas(desired, surge, old_total + replicas(&new), replicas(&new));
        if target != replicas(&new) {
            let new = self.scale(d, new, target).await?;
            return Ok(Step {
                new: Some(new),
                created,
                done: false,
            });
        }
        let views: Vec<Replicas> = old.iter().map(view).collect();
        let next = rolling::scale_down_old(desired, unavailable, view(&new), &views);
        let mut scaled = false;
        for (rs, wanted) in old.iter().zip(next) {
            if wanted != replicas(rs) {
                self.scale(d, rs.clone(), wanted).await?;
                scaled = true;
            }
        }
        let done = !scaled && !created && Counts::of(Some(&new), &all(&new, old)).complete(desired);
        Ok(Step {
            new: Some(new),
            created,
            done,
        })
    }
    // ANCHOR_END: roll

    /// One step of a Recreate rollout: old ReplicaSets to zero, wait until
    /// their pods are gone, then the new one to `spec.replicas`.
    async fn recreate(
        &self,
        d: &Value,
        new: Option<Value>,
        old: &[Value],
    ) -> Result<Step, ClientError> {
        let desired = replicas(d);
        let mut scaled = false;
        for rs in old.iter().filter(|rs| replicas(rs) > 0) {
            self.scale(d, rs.clone(), 0).await?;
            scaled = true;
        }
        let old_pods: i64 = old
            .iter()
            .map(|rs| {
                rs.pointer("/status/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
            })
            .sum();
        if scaled || old_pods > 0 {
            // Their status changes queue this Deployment again.
            return Ok(Step {
                new,
                created: false,
                done: false,
            });
        }
        let (mut new, created) = match new {
            Some(rs) => (self.keep_current(d, rs, old).await?, false),
            None => (self.create_new(d, old, desired).await?, true),
        };
        if replicas(&new) != desired {
            new = self.scale(d, new, desired).await?;
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
    /// next try hashes differently.
    async fn create_new(&self, d: &Value, old: &[Value], count: i64) -> Result<Value, ClientError> {
        let (ns, name) = namespace_and_name(d);
        let collisions = d
            .pointer("/status/collisionCount")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let hash = pod_template_hash(&d["spec"]["template"], collisions);
        let mut template = d["spec"]["template"].clone();
        template["metadata"]["labels"][HASH_LABEL] = json!(hash);
        let mut selector = d["spec"]["selector"].clone();
        selector["matchLabels"][HASH_LABEL] = json!(hash);
        let mut annotations = copied_annotations(d);
        annotations.insert(REVISION.into(), json!((max_revision(old) + 1).to_string()));
        annotations.insert(DESIRED.into(), json!(replicas(d).to_string()));
        annotations.insert(MAX_REPLICAS.into(), json!(max_replicas(d).to_string()));
        let rs = json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": format!("{name}-{hash}"),
                "namespace": ns,
                "labels": template["metadata"]["labels"],
                "annotations": annotations,
                "ownerReferences": [claims::controller_reference(d, "Deployment", "apps/v1")],
            },
            "spec": {
                "replicas": count,
                "minReadySeconds": d.pointer("/spec/minReadySeconds").cloned().unwrap_or(json!(0)),
                "selector": selector,
                "template": template,
            },
        });
        match self.client.create(replicasets(), Some(ns), &rs).await {
            Ok(created) => {
                let message = format!("Scaled up replica set {name}-{hash} to {count}");
                self.record_scaling(d, message).await;
                Ok(created)
            }
            Err(e) if e.code() == Some(409) => {
                let existing = self
                    .client
                    .get(replicasets(), Some(ns), &format!("{name}-{hash}"))
                    .await?;
                let ours = controller_of(&existing).is_some_and(|c| c.uid == uid(d));
                if ours
                    && equal_ignoring_hash(&existing["spec"]["template"], &d["spec"]["template"])
                {
                    return Ok(existing); // created by an earlier try
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
        let mut wanted = rs["metadata"]["annotations"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let before = wanted.clone();
        wanted.extend(copied_annotations(d));
        let next = max_revision(old) + 1;
        if revision(&rs) < next {
            wanted.insert(REVISION.into(), json!(next.to_string()));
        } else if let Some(kept) = before.get(REVISION) {
            wanted.insert(REVISION.into(), kept.clone());
        }
        if wanted == before {
            return Ok(rs);
        }
        let (ns, name) = namespace_and_name(&rs);
        let patch = json!({"metadata": {"annotations": wanted,
            "resourceVersion": rs["metadata"]["resourceVersion"]}});
        self.client
            .merge_patch(replicasets(), Some(ns), name, None, &patch)
            .await
    }

    /// Follows a new `spec.replicas` without rolling (Kubernetes' `scale`):
    /// the one ReplicaSet with replicas (or, with none, the current or the
    /// newest) takes the new size; a current one already full sends the
    /// old ones to zero; otherwise, with RollingUpdate, every ReplicaSet
    /// with replicas grows or shrinks in proportion ([`rolling::proportional`]).
    /// This is also how a paused Deployment (`kubectl rollout pause`)
    /// follows `kubectl scale`.
    async fn resize(
        &self,
        d: &Value,
        new: Option<&Value>,
        old: &[Value],
    ) -> Result<(), ClientError> {
        let desired = replicas(d);
        let mut active: Vec<&Value> = new
            .into_iter()
            .chain(old)
            .filter(|rs| replicas(rs) > 0)
            .collect();
        match active.as_slice() {
            [] => match new.or(old.last()) {
                Some(rs) => self.size(d, rs, desired).await,
                None => Ok(()),
            },
            [one] => self.size(d, one, desired).await,
            _ if new.is_some_and(|rs| is_saturated(rs, desired)) => {
                for rs in old.iter().filter(|rs| replicas(rs) > 0) {
                    self.size(d, rs, 0).await?;
                }
                Ok(())
            }
            // Recreate shares nothing: each keeps its size until the
            // rollout empties the old ones, but records the new one, or
            // every reconcile would take this path again.
            _ if is_recreate(d) => {
                for rs in active {
                    self.size(d, rs, replicas(rs)).await?;
                }
                Ok(())
            }
            _ => {
                active.sort_by(|a, b| by_age(a, b));
                let shares: Vec<Share> = active
                    .iter()
                    .map(|rs| Share {
                        replicas: replicas(rs),
                        max_before: annotation_number(rs, MAX_REPLICAS),
                    })
                    .collect();
                let surge = max_replicas(d) - desired;
                let fallback = d
                    .pointer("/status/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                let sizes = rolling::proportional(desired, surge, &shares, fallback);
                for (rs, count) in active.into_iter().zip(sizes) {
                    self.size(d, rs, count).await?;
                }
                Ok(())
            }
        }
    }

    /// Gives `rs` `count` replicas and the Deployment's current size in its
    /// annotations, when either differs.
    async fn size(&self, d: &Value, rs: &Value, count: i64) -> Result<(), ClientError> {
        let recorded = annotation_number(rs, DESIRED) == Some(replicas(d))
            && annotation_number(rs, MAX_REPLICAS) == Some(max_replicas(d));
        if count != replicas(rs) || !recorded {
            self.scale(d, rs.clone(), count).await?;
        }
        Ok(())
    }

    /// Sets `rs`'s `spec.replicas` to `count` and records the Deployment's
    /// size on it, with an event when the count changes.
    async fn scale(&self, d: &Value, rs: Value, count: i64) -> Result<Value, ClientError> {
        let (ns, name) = namespace_and_name(&rs);
        let direction = if count > replicas(&rs) { "up" } else { "down" };
        let max = max_replicas(d);
        let patch = json!({
            "metadata": {
                "annotations": {DESIRED: replicas(d).to_string(), MAX_REPLICAS: max.to_string()},
                "resourceVersion": rs["metadata"]["resourceVersion"],
            },
            "spec": {"replicas": count},
        });
        let resized = count != replicas(&rs);
        let scaled = self
            .client
            .merge_patch(replicasets(), Some(ns), name, None, &patch)
            .await?;
        if resized {
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
    /// Deployment. Asks to be queued again when the progress deadline
    /// would pass before anything else queues it.
    async fn sync_status(
        &self,
        d: &Value,
        new: Option<&Value>,
        old: &[Value],
        created: bool,
    ) -> Result<Requeue, ClientError> {
        let (ns, name) = namespace_and_name(d);
        let desired = replicas(d);
        let max_unavailable = if is_recreate(d) {
            0
        } else {
            rolling::fenceposts(d.pointer("/spec/strategy/rollingUpdate"), desired).1
        };
        let mut all_rs: Vec<&Value> = old.iter().collect();
        all_rs.extend(new);
        let counts = Counts::of(new, &all_rs);
        let before = Counts::recorded(d.get("status"));
        let clock = Timestamp::now();
        let now = time::format(clock);
        let mut conditions = d
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let available = if counts.available >= desired - max_unavailable {
            Condition {
                kind: "Available",
                status: "True",
                reason: "MinimumReplicasAvailable",
                message: "Deployment has minimum availability.".into(),
            }
        } else {
            Condition {
                kind: "Available",
                status: "False",
                reason: "MinimumReplicasUnavailable",
                message: "Deployment does not have minimum availability.".into(),
            }
        };
        status::set_condition(&mut conditions, available, &now, false);
        let rs_name = new.map(|rs| namespace_and_name(rs).1).unwrap_or("");
        let deadline = d
            .pointer("/spec/progressDeadlineSeconds")
            .and_then(Value::as_i64);
        let last_progress = status::last_progress(&conditions);
        let progressing = |status, reason, message: String| Condition {
            kind: "Progressing",
            status,
            reason,
            message,
        };
        let complete = counts.complete(desired) && new.is_some();
        if created {
            status::set_condition(
                &mut conditions,
                progressing(
                    "True",
                    "NewReplicaSetCreated",
                    format!("Created new replica set \"{rs_name}\""),
                ),
                &now,
                true,
            );
        } else if complete {
            status::set_condition(
                &mut conditions,
                progressing(
                    "True",
                    "NewReplicaSetAvailable",
                    format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
                ),
                &now,
                false,
            );
        } else if counts.progressed_since(&before) {
            status::set_condition(
                &mut conditions,
                progressing(
                    "True",
                    "ReplicaSetUpdated",
                    format!("ReplicaSet \"{rs_name}\" is progressing."),
                ),
                &now,
                true,
            );
        } else if let (Some(deadline), Some(since)) = (deadline, last_progress) {
            if time::add_seconds(since, deadline) < clock {
                status::set_condition(
                    &mut conditions,
                    progressing(
                        "False",
                        "ProgressDeadlineExceeded",
                        format!("ReplicaSet \"{rs_name}\" has timed out progressing."),
                    ),
                    &now,
                    false,
                );
            }
        }
        if new.is_some() && !conditions.iter().any(|c| c["type"] == "Progressing") {
            status::set_condition(
                &mut conditions,
                progressing(
                    "True",
                    "FoundNewReplicaSet",
                    format!("Found new replica set \"{rs_name}\""),
                ),
                &now,
                true,
            );
        }
        let optional = |n: i64| if n == 0 { Value::Null } else { json!(n) };
        let mut wanted = json!({
            "observedGeneration": optional(d.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0)),
            "replicas": optional(counts.replicas),
            "updatedReplicas": optional(counts.updated),
            "readyReplicas": optional(counts.ready),
            "availableReplicas": optional(counts.available),
            "unavailableReplicas": optional((desired - counts.available).max(0)),
            "conditions": conditions,
        });
        let current = d.get("status").cloned().unwrap_or(json!({}));
        let unchanged = wanted.as_object().is_some_and(|w| {
            w.iter()
                .all(|(k, v)| current.get(k).unwrap_or(&Value::Null) == v)
        });
        if !unchanged {
            wanted = json!({"status": wanted});
            match self
                .client
                .merge_patch(deployments(), Some(ns), name, Some("status"), &wanted)
                .await
            {
                Err(e) if !e.is_not_found() => return Err(e),
                _ => {}
            }
        }
        if let Some(rs) = new {
            self.record_revision(d, revision(rs)).await?;
        }
        // Nothing queues a stuck rollout: look again when its deadline passes.
        let stuck_check = match (deadline, complete) {
            (Some(deadline), false) => {
                let now = Timestamp::now();
                let since = status::last_progress(&conditions).unwrap_or(now);
                let left =
                    time::seconds_between(now, time::add_seconds(since, deadline)).max(0) + 1;
                Some(Duration::from_secs(left as u64))
            }
            _ => None,
        };
        Ok(stuck_check)
    }
    // ANCHOR_END: sync_status

    /// Puts the current ReplicaSet's revision on the Deployment itself.
    async fn record_revision(&self, d: &Value, revision: i64) -> Result<(), ClientError> {
        let text = revision.to_string();
        if revision == 0
            || d.pointer("/metadata/annotations")
                .and_then(|a| a.get(REVISION))
                .and_then(Value::as_str)
                == Some(text.as_str())
        {
            return Ok(());
        }
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

    /// Deletes the oldest empty old ReplicaSets beyond
    /// `spec.revisionHistoryLimit` (what `kubectl rollout undo` can go
    /// back to).
    async fn clean_up(&self, d: &Value, old: &[Value]) -> Result<(), ClientError> {
        let limit = d
            .pointer("/spec/revisionHistoryLimit")
            .and_then(Value::as_i64)
            .unwrap_or(10);
        let mut empty: Vec<&Value> = old
            .iter()
            .filter(|rs| {
                replicas(rs) == 0
                    && rs
                        .pointer("/status/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(0)
                        == 0
            })
            .collect();
        let excess = empty.len() as i64 - limit;
        if excess <= 0 {
            return Ok(());
        }
        empty.sort_by_key(|rs| revision(rs));
        for rs in empty.into_iter().take(excess as usize) {
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

/// What one rollout step left: the current ReplicaSet, whether it was
/// created now, and whether the rollout is complete.
struct Step {
    new: Option<Value>,
    created: bool,
    done: bool,
}

fn flag(obj: &Value, pointer: &str) -> bool {
    obj.pointer(pointer)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn view(rs: &Value) -> Replicas {
    Replicas {
        wanted: replicas(rs),
        available: rs
            .pointer("/status/availableReplicas")
            .and_then(Value::as_i64)
            .unwrap_or(0),
    }
}

fn all<'a>(new: &'a Value, old: &'a [Value]) -> Vec<&'a Value> {
    old.iter().chain([new]).collect()
}

/// A ReplicaSet's revision; 0 without one.
pub fn revision(rs: &Value) -> i64 {
    annotation_number(rs, REVISION).unwrap_or(0)
}

/// An annotation holding a number, as the Deployment controller writes
/// its revision and sizes.
fn annotation_number(obj: &Value, key: &str) -> Option<i64> {
    obj.pointer("/metadata/annotations")?
        .get(key)?
        .as_str()?
        .parse()
        .ok()
}

fn is_recreate(d: &Value) -> bool {
    d.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate")
}

/// The most pods `d` may have at once: `spec.replicas` plus the surge of a
/// rolling update.
fn max_replicas(d: &Value) -> i64 {
    let desired = replicas(d);
    if is_recreate(d) {
        return desired;
    }
    desired + rolling::fenceposts(d.pointer("/spec/strategy/rollingUpdate"), desired).0
}

/// Whether `d` was resized since its ReplicaSets with replicas were last
/// sized: one of them records another `spec.replicas` (Kubernetes'
/// `isScalingEvent`).
fn is_scaling_event(d: &Value, new: Option<&Value>, old: &[Value]) -> bool {
    new.into_iter()
        .chain(old)
        .filter(|rs| replicas(rs) > 0)
        .filter_map(|rs| annotation_number(rs, DESIRED))
        .any(|recorded| recorded != replicas(d))
}

/// Whether the current ReplicaSet alone holds the Deployment's size, all
/// of it available.
fn is_saturated(rs: &Value, desired: i64) -> bool {
    annotation_number(rs, DESIRED) == Some(desired)
        && replicas(rs) == desired
        && view(rs).available == desired
}

fn max_revision(replicasets: &[Value]) -> i64 {
    replicasets.iter().map(revision).max().unwrap_or(0)
}

/// The Deployment's annotations a ReplicaSet carries (`change-cause`, ...).
fn copied_annotations(d: &Value) -> Map<String, Value> {
    d.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(k, _)| !NOT_COPIED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Oldest first, by creation time, then name.
fn by_age(a: &Value, b: &Value) -> Ordering {
    let created = |rs: &Value| time::at(rs, "/metadata/creationTimestamp");
    created(a)
        .cmp(&created(b))
        .then_with(|| namespace_and_name(a).1.cmp(namespace_and_name(b).1))
}
