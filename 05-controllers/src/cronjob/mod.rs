//! The CronJob controller: creates a Job at each time a CronJob's
//! schedule names.
//!
//! Informers on CronJobs and Jobs queue the CronJob concerned; a worker
//! [`decide::decide`]s, purely, then this shell deletes what is to go,
//! creates the Job that is due, writes the status and the events, and
//! sleeps on the injected clock until the next fire time (the controller
//! is level-triggered: a restart finds the missed time from
//! `status.lastScheduleTime`).
//!
//! Layout: `schedule.rs` (fire times in a zone, the missed ones; lab 05),
//! `decide.rs` (the reconcile, pure).

pub mod decide;
pub mod schedule;

use std::sync::Arc;

use orc_client::events::{Note, Recorder};
use orc_client::informer::{Cache, Notification};
use orc_client::resources::{Resource, by_kind};
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::clock::{self, SharedClock};
use crate::object::{key_of, namespace_and_name, uid};
use crate::worker::{self, Action};
use orc_client::informer as informers;

/// The controller. [`CronJobController::run`] starts it.
pub struct CronJobController {
    client: Client,
    cronjobs: Arc<Cache>,
    jobs: Arc<Cache>,
    queue: Arc<WorkQueue>,
    clock: SharedClock,
    recorder: Recorder,
}

fn cronjobs() -> &'static Resource {
    by_kind("batch/v1", "CronJob").expect("the resource table serves CronJobs")
}

fn jobs() -> &'static Resource {
    by_kind("batch/v1", "Job").expect("the resource table serves Jobs")
}

const KIND: (&str, &str) = ("batch/v1", "CronJob");

impl CronJobController {
    /// Follows CronJobs and Jobs through `client`, and once both are
    /// listed, reconciles with `workers` workers on `clock` until dropped.
    pub async fn run(client: Client, workers: usize, clock: SharedClock) {
        let cron_informer = informers::everything(&client, cronjobs());
        let job_informer = informers::everything(&client, jobs());
        let controller = Arc::new(CronJobController {
            cronjobs: cron_informer.cache(),
            jobs: job_informer.cache(),
            recorder: Recorder::new(client.clone(), "cronjob-controller"),
            client,
            queue: Arc::new(WorkQueue::new()),
            clock,
        });
        let mut tasks = JoinSet::new();
        let c = controller.clone();
        let crons = informers::follow(&mut tasks, cron_informer, move |n| c.changed(n, false));
        let c = controller.clone();
        let jobs = informers::follow(&mut tasks, job_informer, move |n| c.changed(n, true));
        let c = controller.clone();
        let reconcile = move |key: String| {
            let c = c.clone();
            async move { c.reconcile(&key).await }
        };
        let queue = ("cronjob", controller.queue.clone());
        worker::run_after_sync(tasks, vec![crons, jobs], queue, workers, reconcile).await;
    }

    /// Queues the CronJob itself, or a Job's controlling CronJob.
    fn changed(&self, notification: Notification, is_job: bool) {
        let obj = match notification {
            Notification::Added(o)
            | Notification::Updated { new: o, .. }
            | Notification::Deleted(o) => o,
            Notification::Synced => return,
        };
        if !is_job {
            return self.queue.add(&key_of(&obj));
        }
        if let Some(owner) = crate::owners::controller_of(&obj).filter(|o| o.kind == "CronJob") {
            self.queue
                .add(&format!("{}/{}", namespace_and_name(&obj).0, owner.name));
        }
    }

    /// The Jobs `cronjob` controls: those in the cache, and those its
    /// `status.active` names that the cache has not seen yet (read from
    /// the API: a Job just created may not be in the cache, and Forbid and
    /// Replace must not miss it; one the API no longer has drops out).
    async fn owned_jobs(&self, cronjob: &Value) -> Result<Vec<Value>, ClientError> {
        let (ns, _) = namespace_and_name(cronjob);
        let mut owned: Vec<Value> = self
            .jobs
            .in_namespace(ns)
            .into_iter()
            .filter(|j| crate::owners::controller_of(j).is_some_and(|o| o.uid == uid(cronjob)))
            .collect();
        let active = cronjob.pointer("/status/active").and_then(Value::as_array);
        for reference in active.into_iter().flatten() {
            let name = reference["name"].as_str().unwrap_or("");
            if owned.iter().any(|j| namespace_and_name(j).1 == name) {
                continue;
            }
            match self.client.get(jobs(), Some(ns), name).await {
                Ok(job) if uid(&job) == reference["uid"].as_str().unwrap_or("") => owned.push(job),
                Ok(_) => {}
                Err(e) if !e.is_not_found() => return Err(e),
                Err(_) => {}
            }
        }
        Ok(owned)
    }

    // ANCHOR: reconcile
    /// Starts what is due for the CronJob `key`, trims its history, and
    /// writes its status.
    pub async fn reconcile(&self, key: &str) -> Result<Action, ClientError> {
        let Some(cached) = self.cronjobs.get(key) else {
            return Ok(Action::await_change()); // its Jobs are the garbage collector's
        };
        // Read fresh: a reconcile woken by the clock often runs before the
        // cache has seen this controller's own last status write, and a
        // stale `lastScheduleTime` or `active` would start a Job twice.
        let (ns, name) = namespace_and_name(&cached);
        let cronjob = match self.client.get(cronjobs(), Some(ns), name).await {
            Ok(fresh) if uid(&fresh) == uid(&cached) => fresh,
            Ok(_) => return Ok(Action::await_change()),
            Err(e) if e.is_not_found() => return Ok(Action::await_change()),
            Err(e) => return Err(e),
        };
        if crate::claims::is_deleting(&cronjob) {
            return Ok(Action::await_change());
        }
        let owned = self.owned_jobs(&cronjob).await?;
        let mut d = decide::decide(&cronjob, &owned, self.clock.now());
        let (ns, _) = namespace_and_name(&cronjob);
        for name in &d.delete {
            let options = json!({"propagationPolicy": "Background"});
            match self
                .client
                .delete_with(jobs(), Some(ns), name, &options)
                .await
            {
                Ok(_) => {
                    self.note(
                        &cronjob,
                        Note::normal("SuccessfulDelete", format!("Deleted job {name}")),
                    )
                    .await
                }
                Err(e) if !e.is_not_found() => return Err(e),
                Err(_) => {}
            }
        }
        if let Some(job) = &d.create {
            let name = namespace_and_name(job).1.to_string();
            match self.client.create(jobs(), Some(ns), job).await {
                Ok(created) => {
                    add_active(&mut d.status, &created);
                    self.note(
                        &cronjob,
                        Note::normal("SuccessfulCreate", format!("Created job {name}")),
                    )
                    .await;
                }
                Err(e) if e.code() == Some(409) => {} // started already: its informer event is coming
                Err(e) => {
                    self.note(
                        &cronjob,
                        Note::warning("FailedCreate", format!("Error creating job: {e}")),
                    )
                    .await;
                    return Err(e);
                }
            }
        }
        self.write_status(&cronjob, &d.status).await?;
        for note in d.events.drain(..) {
            self.note(&cronjob, note).await;
        }
        if let Some(after) = d.requeue_after {
            clock::requeue_after(&self.clock, &self.queue, key, after);
        }
        Ok(Action::await_change())
    }
    // ANCHOR_END: reconcile

    async fn note(&self, cronjob: &Value, note: Note) {
        self.recorder.record(cronjob, KIND, note).await;
    }

    /// Writes `status` if a merge patch would change it, pinned to the
    /// version decided on.
    async fn write_status(&self, cronjob: &Value, status: &Value) -> Result<(), ClientError> {
        let patch = json!({"status": status,
            "metadata": {"resourceVersion": cronjob["metadata"]["resourceVersion"]}});
        let mut merged = cronjob.clone();
        json_patch::merge(&mut merged, &patch);
        if merged == *cronjob {
            return Ok(());
        }
        let (ns, name) = namespace_and_name(cronjob);
        match self
            .client
            .merge_patch(cronjobs(), Some(ns), name, Some("status"), &patch)
            .await
        {
            Err(e) if !e.is_not_found() => Err(e),
            _ => Ok(()),
        }
    }
}

/// Adds the Job just created to `status.active`.
fn add_active(status: &mut Value, job: &Value) {
    let mut active = status["active"].as_array().cloned().unwrap_or_default();
    active.push(decide::reference(job));
    status["active"] = json!(active);
}
