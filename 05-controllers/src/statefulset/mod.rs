//! The StatefulSet controller: pods with stable names (`web-0`, `web-1`,
//! ...), created and deleted in order, and updated from the highest
//! ordinal down.
//!
//! Kubernetes' `StatefulSetController`, step by step:
//!
//! 1. informers on StatefulSets, Pods and ControllerRevisions; a change
//!    queues the StatefulSet it concerns (a pod's or revision's
//!    controller, or for an orphan every set whose selector matches);
//! 2. a worker reconciles one set: it claims its pods (only those named
//!    `<set>-<n>`) and its revisions, makes sure a revision records the
//!    current template ([`revisions`]), gives its pods' claims the owners
//!    the retention policy asks for ([`storage`]), then carries out what
//!    [`decide::decide`] says (create, delete, or wait; a pod's claims
//!    before the pod), writes the status ([`status`]) and prunes old
//!    revisions.
//!
//! No expectations are kept, unlike the ReplicaSet controller: a pod's name
//! is fixed, so creating one the cache has not seen yet answers
//! `AlreadyExists` instead of making a second, and under `OrderedReady` a
//! reconcile takes one step and waits for its event.
//!
//! Deleting a StatefulSet is the garbage collector's business: its pods
//! and revisions name it as their owner, and so do its claims when
//! `persistentVolumeClaimRetentionPolicy.whenDeleted` is `Delete`.

pub mod decide;
pub mod identity;
pub mod object;
pub mod revisions;
pub mod status;
pub mod storage;

use std::sync::Arc;
use std::time::Duration;

use orc_client::events::{Note, Recorder};
use orc_client::informer::{Cache, Notification};
use orc_client::resources::{Resource, by_kind};
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::claims::{self, is_deleting};
use crate::clock::{self, SharedClock};
use crate::object::{Workload, key_of, namespace_and_name, uid};
use crate::replicaset::pods::ready_since;
use crate::worker::{self, Action};
use decide::{Revision, Step};
use object::StatefulSet;
use orc_client::informer as informers;
use revisions::UpdateRevision;

const KIND: (&str, &str) = ("apps/v1", "StatefulSet");

/// Whether a pod's claims are there for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claims {
    /// All exist (or were just made): the pod may be created.
    Ready,
    /// One is being deleted: the pod waits for it to go.
    Blocked,
}

/// The controller. [`StatefulSetController::run`] starts it.
pub struct StatefulSetController {
    client: Client,
    sets: Arc<Cache>,
    pods: Arc<Cache>,
    revisions: Arc<Cache>,
    /// PersistentVolumeClaims: a pod's claims are looked up here before
    /// they are created, and their owners checked.
    volume_claims: Arc<Cache>,
    queue: Arc<WorkQueue>,
    /// `minReadySeconds` is measured on it.
    clock: SharedClock,
    recorder: Recorder,
}

fn statefulsets() -> &'static Resource {
    by_kind("apps/v1", "StatefulSet").expect("the resource table serves StatefulSets")
}

fn controller_revisions() -> &'static Resource {
    by_kind("apps/v1", "ControllerRevision").expect("the resource table serves ControllerRevisions")
}

fn pods_resource() -> &'static Resource {
    by_kind("v1", "Pod").expect("the resource table serves Pods")
}

fn claims_resource() -> &'static Resource {
    by_kind("v1", "PersistentVolumeClaim").expect("the resource table serves claims")
}

impl StatefulSetController {
    // ANCHOR: run
    /// Follows StatefulSets, Pods, ControllerRevisions and claims through `client`,
    /// and once all are listed, reconciles with `workers` workers until
    /// dropped; time (for `minReadySeconds`) is `clock`'s.
    pub async fn run(client: Client, workers: usize, clock: SharedClock) {
        let set_informer = informers::everything(&client, statefulsets());
        let pod_informer = informers::everything(&client, pods_resource());
        let revision_informer = informers::everything(&client, controller_revisions());
        let claim_informer = informers::everything(&client, claims_resource());
        let controller = Arc::new(StatefulSetController {
            sets: set_informer.cache(),
            pods: pod_informer.cache(),
            revisions: revision_informer.cache(),
            volume_claims: claim_informer.cache(),
            recorder: Recorder::new(client.clone(), "statefulset-controller"),
            client,
            queue: Arc::new(WorkQueue::new()),
            clock,
        });
        let mut tasks = JoinSet::new();
        let c = controller.clone();
        let sets_synced = informers::follow(&mut tasks, set_informer, move |n| c.set_changed(n));
        let c = controller.clone();
        let pods_synced = informers::follow(&mut tasks, pod_informer, move |n| c.owned_changed(n));
        let c = controller.clone();
        let revisions_synced =
            informers::follow(&mut tasks, revision_informer, move |n| c.owned_changed(n));
        let c = controller.clone();
        let claims_synced =
            informers::follow(&mut tasks, claim_informer, move |n| c.claim_changed(n));
        let c = controller.clone();
        let reconcile = move |key: String| {
            let c = c.clone();
            async move { c.reconcile(&key).await }
        };
        let queue = ("statefulset", controller.queue.clone());
        let synced = vec![sets_synced, pods_synced, revisions_synced, claims_synced];
        worker::run_after_sync(tasks, synced, queue, workers, reconcile).await;
    }
    // ANCHOR_END: run

    fn set_changed(&self, notification: Notification) {
        match notification {
            Notification::Added(s)
            | Notification::Updated { new: s, .. }
            | Notification::Deleted(s) => self.queue.add(&key_of(&s)),
            Notification::Synced => {}
        }
    }

    /// A pod or revision changed: queue its set (both sets, if its
    /// controller changed), or the sets that might adopt an orphan.
    fn owned_changed(&self, notification: Notification) {
        let objects = match notification {
            Notification::Added(o) | Notification::Deleted(o) => vec![o],
            Notification::Updated { old, new } => vec![old, new],
            Notification::Synced => return,
        };
        for obj in &objects {
            match claims::controller_key(&self.sets, obj, "StatefulSet") {
                Some(key) => self.queue.add(&key),
                None => {
                    for key in claims::selecting(&self.sets, obj) {
                        self.queue.add(&key);
                    }
                }
            }
        }
    }

    /// A claim went: the sets of its namespace that make claims look again,
    /// for a pod waiting on it may need it made anew (a claim deleted
    /// with its scaled-away pod, wanted again after a scale-up).
    fn claim_changed(&self, notification: Notification) {
        let Notification::Deleted(claim) = notification else {
            return;
        };
        let (ns, _) = namespace_and_name(&claim);
        for sts in self.sets.in_namespace(ns) {
            if !StatefulSet(&sts).volume_claim_templates().is_empty() {
                self.queue.add(&key_of(&sts));
            }
        }
    }

    // ANCHOR: reconcile
    /// Takes the StatefulSet `key` one step towards its spec, and writes
    /// what it observed to its status.
    pub async fn reconcile(&self, key: &str) -> Result<Action, ClientError> {
        let Some(sts) = self.sets.get(key) else {
            return Ok(Action::await_change()); // deleted: the garbage collector's
        };
        if is_deleting(&sts) {
            return Ok(Action::await_change());
        }
        let pods = self.claim_pods(&sts).await?;
        let history = self.claim_revisions(&sts).await?;
        let update = self.update_revision(&sts, &history).await?;
        let update_name = revisions::name_of(&update).to_string();
        // The current revision is the one the status names, while it
        // exists; at first (or once it is gone) the update revision.
        let current = history
            .iter()
            .find(|r| revisions::name_of(r) == StatefulSet(&sts).current_revision())
            .cloned()
            .unwrap_or_else(|| update.clone());
        let current_name = revisions::name_of(&current).to_string();
        // Claims first: a scaled-away pod must own its claims before it
        // is deleted, and a pending pod needs its claims to start.
        self.fix_claim_owners(&sts, &pods).await?;
        self.claims_for_pending(&sts, &pods).await?;
        let now = self.clock.now();
        for step in decide::decide(&sts, &pods, &update_name, now) {
            match step {
                Step::Create(ordinal, which) => {
                    let (revision, name) = match which {
                        Revision::Current => (&current, &current_name),
                        Revision::Update => (&update, &update_name),
                    };
                    if self.create_claims(&sts, ordinal).await? == Claims::Ready {
                        self.create_pod(&sts, revision, name, ordinal).await?;
                    }
                }
                Step::Delete(pod) => self.delete_pod(&sts, pod).await?,
            }
        }
        let names = status::Revisions {
            current: &current_name,
            update: &update_name,
            collision_count: StatefulSet(&sts).collision_count(),
        };
        self.write_status(&sts, status::status(&sts, &pods, &names, now))
            .await?;
        self.prune(&sts, &pods, &history, &[&current_name, &update_name])
            .await?;
        self.availability_check(key, &sts, &pods);
        Ok(Action::await_change())
    }
    // ANCHOR_END: reconcile

    /// The pods `sts` owns, after adopting and releasing: only pods named
    /// like its members are candidates (Kubernetes' `isMemberOf`).
    async fn claim_pods(&self, sts: &Value) -> Result<Vec<Value>, ClientError> {
        let (ns, set) = namespace_and_name(sts);
        let candidates = self
            .pods
            .in_namespace(ns)
            .into_iter()
            .filter(|p| identity::ordinal_of(set, p).is_some())
            .collect();
        claims::claim_all(
            &self.client,
            pods_resource(),
            (sts, "StatefulSet"),
            candidates,
        )
        .await
    }

    /// The revisions `sts` owns, after adopting and releasing.
    async fn claim_revisions(&self, sts: &Value) -> Result<Vec<Value>, ClientError> {
        let (ns, _) = namespace_and_name(sts);
        let candidates = self.revisions.in_namespace(ns);
        let resource = controller_revisions();
        claims::claim_all(&self.client, resource, (sts, "StatefulSet"), candidates).await
    }

    // ANCHOR: update_revision
    /// The revision recording `sts`'s template: the newest if it does, an
    /// older one renumbered (an undo), or a new one.
    async fn update_revision(&self, sts: &Value, history: &[Value]) -> Result<Value, ClientError> {
        let (ns, set) = namespace_and_name(sts);
        match revisions::update_revision(sts, history) {
            UpdateRevision::Latest(r) => Ok(r.clone()),
            UpdateRevision::Renumber(r, number) => {
                let patch = json!({"metadata": {"resourceVersion": r["metadata"]["resourceVersion"]},
                    "revision": number});
                let name = revisions::name_of(r);
                let resource = controller_revisions();
                self.client
                    .merge_patch(resource, Some(ns), name, None, &patch)
                    .await
            }
            UpdateRevision::Create(r) => {
                match self
                    .client
                    .create(controller_revisions(), Some(ns), &r)
                    .await
                {
                    Ok(created) => Ok(created),
                    Err(e) if e.is_conflict() => {
                        // The name is taken: ours not yet in the cache (the
                        // retry finds it), or other data under the same
                        // hash, which the next collision count avoids.
                        let name = revisions::name_of(&r);
                        let existing = self
                            .client
                            .get(controller_revisions(), Some(ns), name)
                            .await?;
                        if existing.get("data") != r.get("data") {
                            let count = StatefulSet(sts).collision_count() + 1;
                            let patch = json!({"status": {"collisionCount": count}});
                            self.client
                                .merge_patch(statefulsets(), Some(ns), set, Some("status"), &patch)
                                .await?;
                        }
                        Err(e)
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }
    // ANCHOR_END: update_revision

    // ANCHOR: create_claims
    /// Creates the claims of the pod with `ordinal` that do not exist yet
    /// (Kubernetes' `createPersistentVolumeClaims`); an existing one, left
    /// by an earlier pod of that ordinal, is used as it is.
    async fn create_claims(&self, sts: &Value, ordinal: i64) -> Result<Claims, ClientError> {
        let (ns, set) = namespace_and_name(sts);
        let pod_name = identity::pod_name(set, ordinal);
        for claim in storage::new_claims(sts, ordinal) {
            let (_, name) = namespace_and_name(&claim);
            match self.volume_claims.get(&format!("{ns}/{name}")) {
                Some(existing) if is_deleting(&existing) => {
                    // Its replacement waits until it is gone (the claim's
                    // deletion queues the set again).
                    let message = format!(
                        "create Pod {pod_name} in StatefulSet {set} failed error: pvc {name} is being deleted"
                    );
                    self.recorder
                        .record(sts, KIND, Note::warning("FailedCreate", message))
                        .await;
                    return Ok(Claims::Blocked);
                }
                Some(_) => continue,
                None => {}
            }
            match self
                .client
                .create(claims_resource(), Some(ns), &claim)
                .await
            {
                Ok(_) => {
                    let message =
                        format!("create Claim {name} Pod {pod_name} in StatefulSet {set} success");
                    self.recorder
                        .record(sts, KIND, Note::normal("SuccessfulCreate", message))
                        .await;
                }
                // Made already; the cache has not seen it yet.
                Err(e) if e.is_conflict() => {}
                Err(e) => {
                    let message = format!(
                        "create Claim {name} for Pod {pod_name} in StatefulSet {set} failed error: {e}"
                    );
                    self.recorder
                        .record(sts, KIND, Note::warning("FailedCreate", message))
                        .await;
                    return Err(e);
                }
            }
        }
        Ok(Claims::Ready)
    }
    // ANCHOR_END: create_claims

    /// Makes the claims of pods still `Pending` that have lost one (deleted
    /// with a pod scaled away before this one came back), as Kubernetes'
    /// `createMissingPersistentVolumeClaims` does: the pod cannot start
    /// without them.
    async fn claims_for_pending(&self, sts: &Value, pods: &[Value]) -> Result<(), ClientError> {
        let (_, set) = namespace_and_name(sts);
        for pod in pods {
            let pending = pod.pointer("/status/phase").and_then(Value::as_str) == Some("Pending");
            if let Some(ordinal) = identity::ordinal_of(set, pod).filter(|_| pending) {
                self.create_claims(sts, ordinal).await?;
            }
        }
        Ok(())
    }

    // ANCHOR: fix_claim_owners
    /// Gives the claims of `pods` the owner references the retention
    /// policy wants ([`storage::retention_fixes`]), by update, as the
    /// statefulset-controller role allows.
    async fn fix_claim_owners(&self, sts: &Value, pods: &[Value]) -> Result<(), ClientError> {
        let (ns, _) = namespace_and_name(sts);
        let claims = self.volume_claims.in_namespace(ns);
        let by_name = |name: &str| claims.iter().find(|c| namespace_and_name(c).1 == name);
        for (claim, owners) in storage::retention_fixes(sts, pods, by_name) {
            let mut updated = claim.clone();
            updated["metadata"]["ownerReferences"] = Value::Array(owners);
            match self
                .client
                .update(claims_resource(), Some(ns), &updated)
                .await
            {
                Err(e) if !e.is_not_found() => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
    // ANCHOR_END: fix_claim_owners

    /// Creates the pod with `ordinal` from `revision` (named `name`).
    async fn create_pod(
        &self,
        sts: &Value,
        revision: &Value,
        name: &str,
        ordinal: i64,
    ) -> Result<(), ClientError> {
        let (ns, set) = namespace_and_name(sts);
        let pod = identity::new_pod(sts, &revisions::template_in(revision), name, ordinal);
        let pod_name = identity::pod_name(set, ordinal);
        match self.client.create(pods_resource(), Some(ns), &pod).await {
            Ok(_) => {
                let message = format!("create Pod {pod_name} in StatefulSet {set} successful");
                self.recorder
                    .record(sts, KIND, Note::normal("SuccessfulCreate", message))
                    .await;
                Ok(())
            }
            // Made already; the cache has not seen it yet. Its event
            // queues the set again.
            Err(e) if e.is_conflict() => Ok(()),
            Err(e) => {
                let message =
                    format!("create Pod {pod_name} in StatefulSet {set} failed error: {e}");
                self.recorder
                    .record(sts, KIND, Note::warning("FailedCreate", message))
                    .await;
                Err(e)
            }
        }
    }

    /// Deletes `pod`, pinned to its uid (a replacement of the same name
    /// is not to be deleted by mistake).
    async fn delete_pod(&self, sts: &Value, pod: &Value) -> Result<(), ClientError> {
        let (ns, set) = namespace_and_name(sts);
        let (_, pod_name) = namespace_and_name(pod);
        let options = json!({"preconditions": {"uid": uid(pod)}});
        match self
            .client
            .delete_with(pods_resource(), Some(ns), pod_name, &options)
            .await
        {
            Ok(_) => {
                let message = format!("delete Pod {pod_name} in StatefulSet {set} successful");
                self.recorder
                    .record(sts, KIND, Note::normal("SuccessfulDelete", message))
                    .await;
                Ok(())
            }
            Err(e) if e.is_not_found() || e.is_conflict() => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn write_status(&self, sts: &Value, wanted: Value) -> Result<(), ClientError> {
        let Some(patch) = status::patch(sts.get("status"), &wanted) else {
            return Ok(());
        };
        let (ns, name) = namespace_and_name(sts);
        match self
            .client
            .merge_patch(statefulsets(), Some(ns), name, Some("status"), &patch)
            .await
        {
            Err(e) if !e.is_not_found() => Err(e),
            _ => Ok(()),
        }
    }

    /// Deletes the oldest revisions beyond `spec.revisionHistoryLimit`,
    /// sparing the `live` ones and any a pod still carries.
    async fn prune(
        &self,
        sts: &Value,
        pods: &[Value],
        history: &[Value],
        live: &[&str],
    ) -> Result<(), ClientError> {
        let (ns, _) = namespace_and_name(sts);
        let mut keep: Vec<&str> = live.to_vec();
        keep.extend(pods.iter().map(identity::revision_of));
        let limit = StatefulSet(sts).revision_history_limit();
        for old in revisions::to_prune(history, &keep, limit) {
            let name = revisions::name_of(old);
            match self
                .client
                .delete(controller_revisions(), Some(ns), name)
                .await
            {
                Err(e) if !e.is_not_found() => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// A pod ready but not yet for `minReadySeconds` becomes available
    /// later without an event to say so: look again then, on the clock.
    fn availability_check(&self, key: &str, sts: &Value, pods: &[Value]) {
        let min_ready = StatefulSet(sts).min_ready_seconds();
        if min_ready <= 0 {
            return;
        }
        let now = self.clock.now();
        let soonest = pods
            .iter()
            .filter_map(ready_since)
            .map(|since| orc_client::time::add_seconds(since, min_ready))
            .filter(|at| *at > now)
            .min();
        if let Some(at) = soonest {
            let after = at.duration_since(now).unsigned_abs();
            clock::requeue_after(
                &self.clock,
                &self.queue,
                key,
                after + Duration::from_millis(1),
            );
        }
    }
}
