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

use std::collections::{BTreeMap, HashMap};
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
use crate::objects::{PodInfo, field};
use crate::queue::{QueuedPod, SchedulingQueue};
use crate::report::{self, Failure};
use crate::{binding, preemption};

/// How many bytes of decisions [`Decisions`] keeps, as
/// [`Decision::weight`] counts them. A decision holds a row per node
/// looked at, and a score per plugin for each that fit: some 400 bytes
/// a node, so 200 KB for one pod at 5,000 nodes (of which 500 are
/// looked at). Kept for every pod, 10,000 pods would hold 2 GB; within
/// this budget, 32 MB holds the last 160 such decisions, or some 20,000
/// on a one-node cluster.
pub const KEPT_BYTES: usize = 32 << 20;

/// The last decision about each pod, whole (every node's verdict, every
/// plugin's score), with the pod as it was decided: what `orc explain`
/// prints. The oldest are let go first once they weigh more than the
/// budget, and a pod's is let go when the pod is deleted. A pod still
/// pending is tried again at least every five minutes, so its decision
/// stays among the newest.
pub struct Decisions {
    /// std's Mutex: held to insert, clone or remove one entry.
    kept: Mutex<Kept>,
    budget: usize,
}

/// A pod and the last decision about it.
pub type Decided = (Arc<PodInfo>, Arc<Decision>);

/// The decisions, by pod (`namespace/name`) and by age.
#[derive(Default)]
struct Kept {
    /// Each pod's decision, with its place in `by_age` and its weight.
    last: HashMap<String, (u64, Decided, usize)>,
    /// Pods by when their decision was kept, oldest first.
    by_age: BTreeMap<u64, String>,
    next: u64,
    bytes: usize,
}

impl Kept {
    fn remove(&mut self, key: &str) {
        if let Some((age, _, bytes)) = self.last.remove(key) {
            self.by_age.remove(&age);
            self.bytes -= bytes;
        }
    }
}

impl Default for Decisions {
    fn default() -> Decisions {
        Decisions::with_budget(KEPT_BYTES)
    }
}

impl Decisions {
    /// Decisions kept within `budget` bytes (the newest is always kept).
    pub fn with_budget(budget: usize) -> Decisions {
        Decisions {
            kept: Mutex::default(),
            budget,
        }
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The last decision about the pod `namespace/name`.
    pub fn last(&self, key: &str) -> Option<Decided> {
        self.kept()
            .last
            .get(key)
            .map(|(_, decided, _)| decided.clone())
    }

    /// How many decisions are kept, and their weight in bytes.
    pub fn held(&self) -> (usize, usize) {
        let kept = self.kept();
        (kept.last.len(), kept.bytes)
    }

    pub fn keep(&self, pod: Arc<PodInfo>, decision: Arc<Decision>) {
        let key = pod.key();
        let bytes = decision.weight();
        let mut kept = self.kept();
        kept.remove(&key);
        while kept.bytes + bytes > self.budget {
            let Some((_, oldest)) = kept.by_age.pop_first() else {
                break;
            };
            kept.remove(&oldest);
        }
        let age = kept.next;
        kept.next += 1;
        kept.by_age.insert(age, key.clone());
        kept.bytes += bytes;
        kept.last.insert(key, (age, (pod, decision), bytes));
    }

    /// Lets go of the decision about `namespace/name`, a pod now deleted.
    pub fn forget(&self, key: &str) {
        self.kept().remove(key);
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
            field(current, &["metadata", "uid"]).and_then(|u| u.as_str()) == Some(&pod.uid)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::{NodeName, NodeScore, PluginScore, Status};

    fn pod(name: &str) -> Arc<PodInfo> {
        Arc::new(PodInfo {
            namespace: "default".into(),
            name: name.into(),
            ..PodInfo::default()
        })
    }

    /// A decision that looked at `nodes` nodes, all feasible, each scored
    /// by seven plugins (the default profile's).
    fn decision(nodes: usize) -> Arc<Decision> {
        let name = |i: usize| NodeName::from(format!("node-{i}"));
        let score = PluginScore {
            plugin: "NodeResourcesFit",
            raw: 50,
            normalized: 50,
            weight: 1,
        };
        Arc::new(Decision {
            nodes_total: nodes,
            pre_filter: None,
            verdicts: (0..nodes).map(|i| (name(i), Status::success())).collect(),
            post_filter: None,
            nomination: None,
            scores: (0..nodes)
                .map(|i| NodeScore {
                    node: name(i),
                    plugins: vec![score.clone(); 7],
                    total: 350,
                })
                .collect(),
            rejected_by: Default::default(),
            outcome: Outcome::Selected("node-0".into()),
        })
    }

    #[test]
    fn a_decision_weighs_what_its_rows_hold() {
        let (one, many) = (decision(1).weight(), decision(500).weight());
        // Some 400 bytes a node looked at: the budget's reckoning.
        let per_node = (many - one) / 499;
        assert!((300..=500).contains(&per_node), "{per_node} bytes a node");
    }

    #[test]
    fn the_oldest_decisions_go_first_once_over_the_budget() {
        let weight = decision(500).weight();
        let decisions = Decisions::with_budget(3 * weight);
        for i in 0..10 {
            decisions.keep(pod(&format!("p{i}")), decision(500));
        }
        assert_eq!(decisions.held(), (3, 3 * weight));
        assert!(decisions.last("default/p6").is_none());
        for i in 7..10 {
            assert!(decisions.last(&format!("default/p{i}")).is_some(), "p{i}");
        }
        // A pod decided again is the newest, and counted once.
        decisions.keep(pod("p7"), decision(500));
        decisions.keep(pod("p10"), decision(500));
        assert_eq!(decisions.held(), (3, 3 * weight));
        assert!(decisions.last("default/p8").is_none());
        assert!(decisions.last("default/p7").is_some());
        // A decision heavier than the budget is still kept, alone.
        decisions.keep(pod("big"), decision(5_000));
        assert_eq!(decisions.held().0, 1);
        assert!(decisions.last("default/big").is_some());
    }

    #[test]
    fn a_deleted_pods_decision_is_let_go() {
        let decisions = Decisions::default();
        decisions.keep(pod("a"), decision(3));
        decisions.keep(pod("b"), decision(3));
        decisions.forget("default/a");
        decisions.forget("default/nobody");
        assert!(decisions.last("default/a").is_none());
        assert_eq!(decisions.held(), (1, decision(3).weight()));
    }
}
