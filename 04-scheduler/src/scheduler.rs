//! The scheduling loop: take a pod off the queue, decide, assume, bind in
//! the background, report (kube-scheduler's `scheduleOne`).
//!
//! Decisions are made one at a time, each against a snapshot brought up
//! to date just before: the previous pod is already counted on its node
//! (assumed) when the next decision starts, so a burst of pods never
//! over-commits a node. Only the
//! binding waits on the network, and it runs in its own task: a slow
//! write never holds up the next decision. At most
//! [`binding::MAX_IN_FLIGHT`] bindings are written at once; the others
//! wait for a slot in their tasks (the pods are already assumed, so the
//! decisions go on). Events are queued and written apart
//! (`events.rs`).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use orc_client::Client;
use orc_client::events::Recorder;
use orc_client::informer::Cache as InformerCache;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::cache::{Cache, Snapshot};
use crate::events::EventQueue;
use crate::framework::{
    Cycle, Decision, Events, NextStart, Nomination, Outcome, Profile, schedule,
};
use crate::metrics::{Attempt, Metrics};
use crate::objects::PodInfo;
use crate::queue::{QueuedPod, SchedulingQueue};
use crate::report::{self, Failure};
use crate::{binding, preemption};

/// How many decisions [`Decisions`] keeps before starting afresh.
const KEPT_DECISIONS: usize = 10_000;

/// The last decision about each pod, whole (every node's verdict, every
/// plugin's score), with the pod as it was decided: what `orc explain`
/// prints.
#[derive(Default)]
pub struct Decisions {
    /// std's Mutex: held to insert or clone one entry.
    last: Mutex<HashMap<String, Decided>>,
}

/// A pod and the last decision about it.
pub type Decided = (Arc<PodInfo>, Arc<Decision>);

impl Decisions {
    /// The last decision about the pod `namespace/name`.
    pub fn last(&self, key: &str) -> Option<Decided> {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    fn keep(&self, pod: Arc<PodInfo>, decision: Arc<Decision>) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.len() >= KEPT_DECISIONS {
            last.clear();
        }
        last.insert(pod.key(), (pod, decision));
    }
}

/// Everything the loop and its binding tasks share.
pub struct Scheduler {
    pub client: Client,
    pub profile: Profile,
    pub cache: Arc<Mutex<Cache>>,
    pub queue: Arc<SchedulingQueue>,
    /// The pods informer's cache: is a pod still waiting?
    pub pods: Arc<InformerCache>,
    /// Writes preemption's events about its victims.
    pub recorder: Arc<Recorder>,
    /// `Scheduled` and `FailedScheduling` events, written in the
    /// background.
    pub events: Arc<EventQueue>,
    /// One permit per binding in flight ([`binding::MAX_IN_FLIGHT`]). A
    /// burst of thousands of pods would otherwise open as many requests
    /// at once, past the API server's limit on writes in flight (answered
    /// 429, and retried only after a second).
    pub bindings: Arc<Semaphore>,
    pub metrics: Arc<Metrics>,
    pub decisions: Arc<Decisions>,
    /// Sampling resumes here.
    pub next_start: NextStart,
    /// The cluster as the last decision saw it, updated from the cache
    /// before each decision with the nodes changed since (only the loop
    /// reads it, so it needs no lock).
    pub snapshot: Snapshot,
}

impl Scheduler {
    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Schedules pods until the queue shuts down.
    pub async fn run(mut self) {
        while let Some(queued) = self.queue.pop().await {
            self.schedule_one(queued);
        }
    }

    /// Whether the pod popped is still one to schedule: it may have been
    /// deleted, or bound by someone else, since it was queued.
    fn still_pending(&self, pod: &PodInfo) -> bool {
        // Its uid read in the informer's cache, the pod not copied.
        let same = self.pods.get_with(&pod.key(), |current| {
            current.pointer("/metadata/uid").and_then(|u| u.as_str()) == Some(&pod.uid)
        });
        same == Some(true) && !self.cache().is_placed(&pod.uid)
    }

    // ANCHOR: schedule_one
    /// One attempt for one pod.
    fn schedule_one(&mut self, queued: QueuedPod) {
        let started = Instant::now();
        let pod = queued.pod.clone();
        if !self.still_pending(&pod) {
            self.queue.done(&pod.uid);
            return;
        }
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .update_snapshot(&mut self.snapshot);
        let snapshot = &self.snapshot;
        let random = RandomState::new().hash_one(&pod.uid);
        let decision = Arc::new(schedule(
            &self.profile,
            &pod,
            snapshot,
            &mut self.next_start,
            random,
        ));
        self.decisions.keep(pod.clone(), decision.clone());
        match &decision.outcome {
            Outcome::Selected(node) => {
                let cycle = Cycle {
                    pod: &pod,
                    snapshot,
                };
                // Reserve (no default plugin holds anything yet: the seam
                // for volume binding and the like).
                if let Err(status) = self.profile.reserve(cycle, node) {
                    let message = format!(
                        "running Reserve plugin {:?}: {}",
                        status.plugin,
                        status.message()
                    );
                    self.failed(&queued, Failure::SchedulerError, message, started);
                    return;
                }
                self.assume_and_bind(&queued, node.clone(), started);
            }
            Outcome::Unschedulable(message) => {
                if let Some(nomination) = decision.nomination.clone() {
                    self.preempt(&pod, nomination);
                }
                self.failed(&queued, Failure::Unschedulable, message.clone(), started);
                // With no plugin to wait for (no nodes at all), retry after
                // the back-off, as Kubernetes does.
                let waiting_for = self
                    .profile
                    .events_for(decision.rejected_by.iter().copied());
                if decision.rejected_by.is_empty() {
                    self.queue.requeue_after_error(pod, queued.attempts);
                } else {
                    self.queue.requeue_unschedulable(&pod.uid, waiting_for);
                }
            }
            Outcome::Error(message) => {
                self.failed(&queued, Failure::SchedulerError, message.clone(), started);
                self.queue.requeue_after_error(pod, queued.attempts);
            }
        }
    }
    // ANCHOR_END: schedule_one

    /// Holds the room on the nominated node for the pod from now on (the
    /// next decision already sees it), then evicts preemption's victims
    /// and writes the nomination, in the background (`preemption.rs`).
    fn preempt(&self, pod: &Arc<PodInfo>, nomination: Nomination) {
        tracing::info!(pod = %pod.key(), node = %nomination.node,
            victims = nomination.victims.len(), "preempting");
        let nominated = Arc::new(PodInfo {
            nominated_node: nomination.node.clone(),
            ..(**pod).clone()
        });
        self.cache().nominate(nominated, &nomination.node);
        let (client, recorder, pod) = (self.client.clone(), self.recorder.clone(), pod.clone());
        tokio::spawn(async move {
            preemption::carry_out(&client, &recorder, &pod, &nomination).await;
        });
    }

    /// Counts and reports a failed attempt (in the background).
    fn failed(&self, queued: &QueuedPod, failure: Failure, message: String, started: Instant) {
        let result = match failure {
            Failure::Unschedulable => Attempt::Unschedulable,
            Failure::SchedulerError => Attempt::Error,
        };
        self.metrics.attempt(result, started.elapsed());
        tracing::debug!(pod = %queued.pod.key(), %message, "not scheduled");
        let (client, events, pod) = (self.client.clone(), self.events.clone(), queued.pod.clone());
        tokio::spawn(async move { report::failed(&client, &events, &pod, failure, message).await });
    }

    // ANCHOR: assume_and_bind
    /// Counts the pod on `node` now, and writes the binding in its own
    /// task. If the API server refuses it, the pod is forgotten (its room
    /// is free again) and tried again after its back-off.
    fn assume_and_bind(&self, queued: &QueuedPod, node: String, started: Instant) {
        let pod = queued.pod.clone();
        // The claims that wait for this pod to pick their node (read
        // before the pod is counted, from the same cache).
        let select = self
            .cache()
            .volumes()
            .to_select(&pod.namespace, &pod.claims);
        self.cache().assume(&pod, &node);
        self.queue.done(&pod.uid);
        let attempts = queued.attempts;
        let (client, cache, queue) = (self.client.clone(), self.cache.clone(), self.queue.clone());
        let (events, metrics, pods) =
            (self.events.clone(), self.metrics.clone(), self.pods.clone());
        let slots = self.bindings.clone();
        tokio::spawn(async move {
            // Held until the binding is answered. The semaphore is never
            // closed, so a permit always comes.
            let _slot = slots.acquire_owned().await;
            let bound = match binding::select_node(&client, &pod, &select, &node).await {
                Ok(()) => binding::bind(&client, &pod, &node).await,
                Err(e) => Err(e),
            };
            match bound {
                Ok(()) => {
                    metrics.attempt(Attempt::Scheduled, started.elapsed());
                    report::scheduled(&events, &pod, &node);
                }
                Err(error) => {
                    cache
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .forget(&pod.uid);
                    queue.on_event(Events::POD_DELETED);
                    metrics.attempt(Attempt::Error, started.elapsed());
                    tracing::warn!(pod = %pod.key(), %node, %error, "binding failed");
                    // A pod deleted meanwhile is not retried.
                    if error.is_not_found() || pods.get(&pod.key()).is_none() {
                        return;
                    }
                    queue.requeue_after_error(pod.clone(), attempts);
                    let message =
                        format!("binding rejected: running Bind plugin \"DefaultBinder\": {error}");
                    report::failed(&client, &events, &pod, Failure::SchedulerError, message).await;
                }
            }
        });
    }
    // ANCHOR_END: assume_and_bind
}
