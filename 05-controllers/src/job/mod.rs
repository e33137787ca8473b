//! The Job controller: runs a Job's pods to completion.
//!
//! Kubernetes' `job_controller`, step by step:
//!
//! 1. informers on Jobs and Pods; every change queues the Job concerned;
//! 2. a worker claims the Job's pods (its selector is generated from its
//!    uid, so only its own pods match) and [`decide::decide`]s, purely;
//! 3. this shell carries the decision out, in an order that survives a
//!    crash at any step: the uids of ended pods are parked in
//!    `status.uncountedTerminatedPods`, their tracking finalizers removed,
//!    then the status is written with them counted; pods are deleted and
//!    created; events recorded; the Job looked at again when a back-off or
//!    deadline ends (on the injected [`Clock`](crate::clock::Clock));
//! 4. a finished Job with `ttlSecondsAfterFinished` is deleted when it
//!    runs out (Kubernetes' separate TTL-after-finished controller).
//!
//! Layout: `object.rs` (the Job's fields), `pods.rs` (what a pod says;
//! a new pod), `backoff.rs` (the failure back-off, lab 05),
//! `failure_policy.rs` (`podFailurePolicy`), `indexes.rs`
//! (`completedIndexes`), `decide.rs` (the reconcile, pure).

pub mod backoff;
pub mod decide;
pub mod failure_policy;
pub mod indexes;
pub mod object;
pub mod pods;

use std::sync::Arc;
use std::time::Instant;

use orc_client::events::{Note, Recorder};
use orc_client::informer::{Cache, Notification};
use orc_client::resources::{Resource, by_kind};
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::claims;
use crate::clock::{self, SharedClock};
use crate::object::{key_of, namespace_and_name, uid};
use crate::replicaset::Expectations;
use crate::worker::{self, Action};
use decide::Counted;
use object::TRACKING_FINALIZER;
use orc_client::informer as informers;

/// The controller. [`JobController::run`] starts it.
pub struct JobController {
    client: Client,
    jobs: Arc<Cache>,
    pods: Arc<Cache>,
    queue: Arc<WorkQueue>,
    /// Creates and deletes not yet seen: without them a second reconcile
    /// before the informer catches up would start the same pods twice.
    expectations: Expectations,
    clock: SharedClock,
    /// Events, repeats folded (a crash-looping Job's `SuccessfulCreate`s).
    recorder: Recorder,
}

fn jobs() -> &'static Resource {
    by_kind("batch/v1", "Job").expect("the resource table serves Jobs")
}

fn pods_resource() -> &'static Resource {
    by_kind("v1", "Pod").expect("the resource table serves Pods")
}

const KIND: (&str, &str) = ("batch/v1", "Job");

impl JobController {
    /// Follows Jobs and Pods through `client`, and once both are listed,
    /// reconciles with `workers` workers until dropped; time is `clock`'s.
    pub async fn run(client: Client, workers: usize, clock: SharedClock) {
        let job_informer = informers::everything(&client, jobs());
        let pod_informer = informers::everything(&client, pods_resource());
        let controller = Arc::new(JobController {
            jobs: job_informer.cache(),
            pods: pod_informer.cache(),
            recorder: Recorder::new(client.clone(), "job-controller"),
            client,
            queue: Arc::new(WorkQueue::new()),
            expectations: Expectations::default(),
            clock,
        });
        let mut tasks = JoinSet::new();
        let c = controller.clone();
        let jobs_synced = informers::follow(&mut tasks, job_informer, move |n| c.job_changed(n));
        let c = controller.clone();
        let pods_synced = informers::follow(&mut tasks, pod_informer, move |n| c.pod_changed(n));
        let c = controller.clone();
        let reconcile = move |key: String| {
            let c = c.clone();
            async move { c.reconcile(&key).await }
        };
        let queue = ("job", controller.queue.clone());
        worker::run_after_sync(
            tasks,
            vec![jobs_synced, pods_synced],
            queue,
            workers,
            reconcile,
        )
        .await;
    }

    fn job_changed(&self, notification: Notification) {
        match notification {
            Notification::Added(job) | Notification::Updated { new: job, .. } => {
                self.queue.add(&key_of(&job))
            }
            Notification::Deleted(job) => {
                self.expectations.forget(&key_of(&job));
                self.queue.add(&key_of(&job));
            }
            Notification::Synced => {}
        }
    }

    /// Queues the Job a pod belongs to (by its controller reference, even
    /// when the Job is gone: its pods' finalizers must still go).
    fn pod_changed(&self, notification: Notification) {
        let (pod, added, deleted) = match notification {
            Notification::Added(pod) => (pod, true, false),
            Notification::Updated { new, .. } => (new, false, false),
            Notification::Deleted(pod) => (pod, false, true),
            Notification::Synced => return,
        };
        let Some(owner) = crate::owners::controller_of(&pod).filter(|o| o.kind == "Job") else {
            return;
        };
        let key = format!("{}/{}", namespace_and_name(&pod).0, owner.name);
        if added {
            self.expectations.creation_observed(&key);
        }
        if deleted || claims::is_deleting(&pod) {
            self.expectations.deletion_observed(&key, uid(&pod));
        }
        self.queue.add(&key);
    }

    // ANCHOR: reconcile
    /// Brings the Job `key` one step towards done, and writes its status.
    pub async fn reconcile(&self, key: &str) -> Result<Action, ClientError> {
        let Some(job) = self.jobs.get(key) else {
            self.expectations.forget(key);
            self.release_orphans(key).await?;
            return Ok(Action::await_change());
        };
        // The expectations first, then the pods (see `satisfied_before`):
        // checked after the slow steps below, they once let a reconcile
        // create an index a second time under load.
        let (may_act, pods) = self.claim_pods(key, &job).await?;
        let decision = decide::decide(&job, &pods, self.clock.now());
        if decision.expired {
            self.expire(&job).await?;
            return Ok(Action::await_change());
        }
        let job = self.count(job, &decision.to_count).await?;
        let job = self.write_status(&job, &decision.status).await?;
        if may_act {
            self.act(key, &job, &decision).await?;
        }
        for note in &decision.events {
            self.recorder.record(&job, KIND, note.clone()).await;
        }
        if let Some(after) = decision.requeue_after {
            clock::requeue_after(&self.clock, &self.queue, key, after);
        }
        Ok(Action::await_change())
    }
    // ANCHOR_END: reconcile

    /// Whether the Job `key` may create and delete pods, and its pods
    /// (adopting orphans its selector matches), read in that order.
    async fn claim_pods(&self, key: &str, job: &Value) -> Result<(bool, Vec<Value>), ClientError> {
        let (ns, _) = namespace_and_name(job);
        let (may_act, candidates) = self
            .expectations
            .satisfied_before(key, Instant::now(), || self.pods.in_namespace(ns));
        let pods =
            claims::claim_all(&self.client, pods_resource(), (job, "Job"), candidates).await?;
        Ok((may_act, pods))
    }

    /// Deletes and creates the pods `decision` names, expecting them all
    /// at once: one expectation per key, so setting the creations after
    /// the deletions would forget the deletions.
    async fn act(
        &self,
        key: &str,
        job: &Value,
        decision: &decide::Decision,
    ) -> Result<(), ClientError> {
        let (ns, _) = namespace_and_name(job);
        let victims: Vec<Value> = decision
            .delete
            .iter()
            .filter_map(|n| self.pods.get(&format!("{ns}/{n}")))
            .collect();
        if victims.is_empty() && decision.create.is_empty() {
            return Ok(());
        }
        let uids: Vec<String> = victims.iter().map(|p| uid(p).to_string()).collect();
        self.expectations
            .expect(key, decision.create.len() as i64, &uids, Instant::now());
        self.delete_pods(key, job, &victims).await?;
        self.create_pods(key, job, &decision.create).await
    }

    // ANCHOR: count
    /// Counts ended pods safely: park their uids in the status, then take
    /// their finalizers off (the status written next moves them into
    /// `succeeded`/`failed`). A crash between the steps leaves them parked,
    /// never counted twice nor lost.
    async fn count(&self, job: Value, ended: &[Counted]) -> Result<Value, ClientError> {
        if ended.is_empty() {
            return Ok(job);
        }
        let j = object::Job(&job);
        let mut parked =
            json!({"succeeded": j.uncounted("succeeded"), "failed": j.uncounted("failed")});
        for pod in ended {
            let Some(succeeded) = pod.as_succeeded else {
                continue;
            };
            let list = if succeeded { "succeeded" } else { "failed" };
            if let Some(uids) = parked[list]
                .as_array_mut()
                .filter(|u| !u.contains(&json!(pod.uid)))
            {
                uids.push(json!(pod.uid));
            }
        }
        let patch = json!({"status": {"uncountedTerminatedPods": parked},
            "metadata": {"resourceVersion": job["metadata"]["resourceVersion"]}});
        let (ns, name) = namespace_and_name(&job);
        let parked = self
            .client
            .merge_patch(jobs(), Some(ns), name, Some("status"), &patch)
            .await?;
        for pod in ended {
            self.remove_finalizer(ns, &pod.name).await?;
        }
        Ok(parked)
    }
    // ANCHOR_END: count

    /// Takes the tracking finalizer off the pod `name`.
    async fn remove_finalizer(&self, ns: &str, name: &str) -> Result<(), ClientError> {
        let Some(pod) = self.pods.get(&format!("{ns}/{name}")) else {
            return Ok(());
        };
        let kept: Vec<&Value> = pod
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|f| *f != TRACKING_FINALIZER)
            .collect();
        let patch = json!({"metadata": {"finalizers": kept,
            "resourceVersion": pod["metadata"]["resourceVersion"]}});
        match self
            .client
            .merge_patch(pods_resource(), Some(ns), name, None, &patch)
            .await
        {
            Err(e) if !e.is_not_found() => Err(e),
            _ => Ok(()),
        }
    }

    /// The pods of a deleted Job lose their finalizers, or they would
    /// never go away.
    async fn release_orphans(&self, key: &str) -> Result<(), ClientError> {
        let (ns, name) = key.split_once('/').unwrap_or(("", key));
        for pod in self.pods.in_namespace(ns) {
            let ours = crate::owners::controller_of(&pod)
                .is_some_and(|o| o.kind == "Job" && o.name == name);
            if ours && pods::is_tracked(&pod) {
                self.remove_finalizer(ns, namespace_and_name(&pod).1)
                    .await?;
            }
        }
        Ok(())
    }

    /// Writes `status` if it differs; answers the Job as stored.
    async fn write_status(&self, job: &Value, status: &Value) -> Result<Value, ClientError> {
        if status.is_null() {
            return Ok(job.clone()); // a finished Job's status is final
        }
        // Pinned to the version decided on: a stale cache must not write
        // over a newer status (the write conflicts and is retried).
        let patch = json!({"status": status,
            "metadata": {"resourceVersion": job["metadata"]["resourceVersion"]}});
        let mut merged = job.clone();
        json_patch::merge(&mut merged, &patch);
        if merged == *job {
            return Ok(job.clone());
        }
        let (ns, name) = namespace_and_name(job);
        self.client
            .merge_patch(jobs(), Some(ns), name, Some("status"), &patch)
            .await
    }

    /// Deletes `victims` (expected by the caller), each only if it is
    /// still the pod decided on.
    async fn delete_pods(
        &self,
        key: &str,
        job: &Value,
        victims: &[Value],
    ) -> Result<(), ClientError> {
        let (ns, _) = namespace_and_name(job);
        for victim in victims {
            let name = namespace_and_name(victim).1;
            let options = json!({"preconditions": {"uid": uid(victim)}});
            match self
                .client
                .delete_with(pods_resource(), Some(ns), name, &options)
                .await
            {
                Ok(_) => {
                    let note = Note::normal("SuccessfulDelete", format!("Deleted pod: {name}"));
                    self.recorder.record(job, KIND, note).await;
                }
                Err(e) => {
                    self.expectations.deletion_observed(key, uid(victim));
                    if !(e.is_not_found() || e.is_conflict()) {
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// Creates a pod for each of `indexes` (expected by the caller); a
    /// create that fails is counted off, as it will never be seen.
    async fn create_pods(
        &self,
        key: &str,
        job: &Value,
        indexes: &[Option<i64>],
    ) -> Result<(), ClientError> {
        if indexes.is_empty() {
            return Ok(());
        }
        let (ns, _) = namespace_and_name(job);
        let new_pods: Vec<Value> = indexes
            .iter()
            .map(|i| pods::from_template(job, *i))
            .collect();
        let creates = new_pods
            .iter()
            .map(|pod| self.client.create(pods_resource(), Some(ns), pod));
        let results = futures::future::join_all(creates).await;
        let mut first_error = None;
        for result in results {
            match result {
                Ok(pod) => {
                    let message = format!("Created pod: {}", namespace_and_name(&pod).1);
                    self.recorder
                        .record(job, KIND, Note::normal("SuccessfulCreate", message))
                        .await;
                }
                Err(e) => {
                    self.expectations.creation_observed(key);
                    let message = format!("Error creating: {e}");
                    self.recorder
                        .record(job, KIND, Note::warning("FailedCreate", message))
                        .await;
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// `ttlSecondsAfterFinished` ran out: the Job goes, its pods with it
    /// (foreground, as Kubernetes' TTL controller deletes).
    async fn expire(&self, job: &Value) -> Result<(), ClientError> {
        let (ns, name) = namespace_and_name(job);
        let options =
            json!({"propagationPolicy": "Foreground", "preconditions": {"uid": uid(job)}});
        match self
            .client
            .delete_with(jobs(), Some(ns), name, &options)
            .await
        {
            Err(e) if !(e.is_not_found() || e.is_conflict()) => Err(e),
            _ => Ok(()),
        }
    }
}
