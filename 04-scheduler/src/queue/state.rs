//! [`QueueState`]: the scheduling queue's three sub-queues, pure.
//!
//! Every method takes the time as an argument and touches no clock, no
//! task and no lock, so the whole life of a pod in the queue (waiting,
//! backing off, parked, moved back) is unit-tested with made-up instants.
//! `mod.rs` wraps it for the scheduler with a mutex, a wake-up and tokio's
//! clock (which tests pause).
//!
//! - **activeQ**: pods ready to be tried, highest priority first, then the
//!   longest waiting (Kubernetes' `PrioritySort`).
//! - **backoffQ**: pods that failed recently, each until its back-off
//!   expires: 1 s after the first attempt, doubling per attempt up to 10 s.
//! - **unschedulable**: pods no node could take, parked until an event
//!   happens that could change that, or for at most 5 minutes.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::backoff::Backoff;
use crate::framework::Events;
use crate::objects::PodInfo;

/// A pod in the queue, with what the queue knows about it.
#[derive(Debug, Clone)]
pub struct QueuedPod {
    pub pod: Arc<PodInfo>,
    /// When it last entered the queue (added, or sent back after a failed
    /// attempt): orders the activeQ and starts the back-off.
    pub timestamp: Instant,
    /// How many times it has been tried.
    pub attempts: u32,
    /// The events that may make it fit, from the plugins that refused it
    /// last time (`ALL` after an error: anything may help).
    pub waiting_for: Events,
}

/// Where a pod is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Active((Reverse<i64>, Instant, u64)),
    Backoff((Instant, u64)),
    Unschedulable,
    /// Popped, being scheduled.
    InFlight,
}

#[derive(Debug, Clone)]
struct Entry {
    queued: QueuedPod,
    place: Place,
    /// Events seen while the pod was in flight: if one could make it fit,
    /// a failure sends it to the backoffQ rather than parking it.
    events_in_flight: Events,
}

/// How many pods wait in each sub-queue (`scheduler_pending_pods`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    pub active: usize,
    pub backoff: usize,
    pub unschedulable: usize,
}

/// The queue, keyed by pod uid.
#[derive(Debug)]
pub struct QueueState {
    backoff: Backoff,
    /// A parked pod is retried after this long even without an event
    /// (Kubernetes' `podMaxInUnschedulablePodsDuration`, 5 minutes).
    pub max_parked: Duration,
    entries: HashMap<String, Entry>,
    active: BTreeMap<(Reverse<i64>, Instant, u64), String>,
    backoff_q: BTreeMap<(Instant, u64), String>,
    /// Ties in the orderings are broken by arrival.
    sequence: u64,
}

impl QueueState {
    /// An empty queue with these back-off rules.
    pub fn new(backoff: Backoff, max_parked: Duration) -> QueueState {
        QueueState {
            backoff,
            max_parked,
            entries: HashMap::new(),
            active: BTreeMap::new(),
            backoff_q: BTreeMap::new(),
            sequence: 0,
        }
    }

    fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    /// Takes the entry out of its sub-queue (it stays in `entries`).
    fn unlink(&mut self, uid: &str) {
        let Some(entry) = self.entries.get(uid) else {
            return;
        };
        match entry.place {
            Place::Active(key) => {
                self.active.remove(&key);
            }
            Place::Backoff(key) => {
                self.backoff_q.remove(&key);
            }
            Place::Unschedulable | Place::InFlight => {}
        }
    }

    fn move_to_active(&mut self, uid: &str) {
        self.unlink(uid);
        let sequence = self.next_sequence();
        if let Some(entry) = self.entries.get_mut(uid) {
            let key = (
                Reverse(entry.queued.pod.priority),
                entry.queued.timestamp,
                sequence,
            );
            entry.place = Place::Active(key);
            self.active.insert(key, uid.to_string());
        }
    }

    fn move_to_backoff(&mut self, uid: &str) {
        self.unlink(uid);
        let sequence = self.next_sequence();
        if let Some(entry) = self.entries.get_mut(uid) {
            let expiry = self
                .backoff
                .expiry(entry.queued.timestamp, entry.queued.attempts);
            entry.place = Place::Backoff((expiry, sequence));
            self.backoff_q.insert((expiry, sequence), uid.to_string());
        }
    }

    /// Whether the pod is in the queue at all (waiting or in flight).
    pub fn contains(&self, uid: &str) -> bool {
        self.entries.contains_key(uid)
    }

    // ANCHOR: add
    /// A pod that needs a node arrived (or changed). A new pod goes to the
    /// activeQ. A known one is updated in place; if it was parked and
    /// `spec_changed` (a new toleration, a relaxed affinity), it may fit
    /// now: it moves to the activeQ, or the backoffQ if still backing off.
    pub fn add_or_update(&mut self, pod: Arc<PodInfo>, spec_changed: bool, now: Instant) {
        let uid = pod.uid.clone();
        match self.entries.get_mut(&uid) {
            None => {
                let queued = QueuedPod {
                    pod,
                    timestamp: now,
                    attempts: 0,
                    waiting_for: Events::ALL,
                };
                self.entries.insert(
                    uid.clone(),
                    Entry {
                        queued,
                        place: Place::InFlight,
                        events_in_flight: Events::NONE,
                    },
                );
                self.move_to_active(&uid);
            }
            Some(entry) => {
                entry.queued.pod = pod;
                match entry.place {
                    Place::Unschedulable if spec_changed => self.requeue_parked(&uid, now),
                    // Its place in the activeQ depends on its priority.
                    Place::Active(_) => self.move_to_active(&uid),
                    Place::InFlight if spec_changed => entry.events_in_flight = Events::ALL,
                    _ => {}
                }
            }
        }
    }
    // ANCHOR_END: add

    /// The pod no longer needs a node (deleted, or bound by someone).
    pub fn delete(&mut self, uid: &str) {
        self.unlink(uid);
        self.entries.remove(uid);
    }

    /// A parked pod goes back: to the backoffQ while its back-off runs,
    /// else to the activeQ.
    fn requeue_parked(&mut self, uid: &str, now: Instant) {
        let Some(entry) = self.entries.get(uid) else {
            return;
        };
        let q = &entry.queued;
        if self.backoff.expiry(q.timestamp, q.attempts) > now {
            self.move_to_backoff(uid);
        } else {
            self.move_to_active(uid);
        }
    }

    /// Moves expired back-offs, and pods parked too long, to the activeQ.
    fn flush(&mut self, now: Instant) {
        while let Some((&(expiry, seq), _)) = self.backoff_q.iter().next() {
            if expiry > now {
                break;
            }
            if let Some(uid) = self.backoff_q.remove(&(expiry, seq)) {
                self.move_to_active(&uid);
            }
        }
        let stale: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                e.place == Place::Unschedulable && now >= e.queued.timestamp + self.max_parked
            })
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in stale {
            self.requeue_parked(&uid, now);
        }
    }

    // ANCHOR: pop
    /// The next pod to try, if one is ready: the activeQ's first, after
    /// moving in whatever is due. It stays known while in flight, until
    /// [`QueueState::done`] or one of the `requeue_*` calls.
    pub fn pop(&mut self, now: Instant) -> Option<QueuedPod> {
        self.flush(now);
        let (&key, _) = self.active.iter().next()?;
        let uid = self.active.remove(&key)?;
        let entry = self.entries.get_mut(&uid)?;
        entry.place = Place::InFlight;
        entry.events_in_flight = Events::NONE;
        entry.queued.attempts += 1;
        Some(entry.queued.clone())
    }
    // ANCHOR_END: pop

    /// The pod was placed: it leaves the queue.
    pub fn done(&mut self, uid: &str) {
        if self
            .entries
            .get(uid)
            .is_some_and(|e| e.place == Place::InFlight)
        {
            self.entries.remove(uid);
        }
    }

    // ANCHOR: requeue
    /// No node fit the pod; `waiting_for` are the events that may change
    /// that. It is parked, unless such an event already happened while it
    /// was being tried (then it backs off and is tried again). A pod
    /// deleted meanwhile is not brought back.
    pub fn requeue_unschedulable(&mut self, uid: &str, waiting_for: Events, now: Instant) {
        let Some(entry) = self.entries.get_mut(uid) else {
            return;
        };
        entry.queued.timestamp = now;
        entry.queued.waiting_for = waiting_for;
        if entry.events_in_flight.intersects(waiting_for) {
            self.move_to_backoff(uid);
        } else {
            self.unlink(uid);
            if let Some(entry) = self.entries.get_mut(uid) {
                entry.place = Place::Unschedulable;
            }
        }
    }

    /// The attempt failed for another reason (an error, a binding the API
    /// server refused): try again after the back-off. A pod whose binding
    /// failed has already left the queue, so it comes back as `pod`.
    pub fn requeue_after_error(&mut self, pod: Arc<PodInfo>, attempts: u32, now: Instant) {
        let uid = pod.uid.clone();
        let entry = self.entries.entry(uid.clone()).or_insert_with(|| Entry {
            queued: QueuedPod {
                pod,
                timestamp: now,
                attempts,
                waiting_for: Events::ALL,
            },
            place: Place::InFlight,
            events_in_flight: Events::NONE,
        });
        entry.queued.timestamp = now;
        entry.queued.waiting_for = Events::ALL;
        self.move_to_backoff(&uid);
    }
    // ANCHOR_END: requeue

    // ANCHOR: move_on_event
    /// Something happened in the cluster: every parked pod that waits for
    /// such an event goes back (to the backoffQ if still backing off), and
    /// pods in flight remember it.
    pub fn on_event(&mut self, event: Events, now: Instant) {
        let mut moved = Vec::new();
        for (uid, entry) in self.entries.iter_mut() {
            match entry.place {
                Place::InFlight => entry.events_in_flight = entry.events_in_flight.or(event),
                Place::Unschedulable if entry.queued.waiting_for.intersects(event) => {
                    moved.push(uid.clone())
                }
                _ => {}
            }
        }
        for uid in moved {
            self.requeue_parked(&uid, now);
        }
    }
    // ANCHOR_END: move_on_event

    /// When the queue next has something to do on its own: a back-off
    /// expiring, or a parked pod reaching its 5 minutes.
    pub fn next_wake(&self) -> Option<Instant> {
        let backoff = self.backoff_q.keys().next().map(|(at, _)| *at);
        let parked = self
            .entries
            .values()
            .filter(|e| e.place == Place::Unschedulable)
            .map(|e| e.queued.timestamp + self.max_parked)
            .min();
        backoff.into_iter().chain(parked).min()
    }

    /// How many pods wait where.
    pub fn pending(&self) -> Pending {
        Pending {
            active: self.active.len(),
            backoff: self.backoff_q.len(),
            unschedulable: self
                .entries
                .values()
                .filter(|e| e.place == Place::Unschedulable)
                .count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(uid: &str, priority: i64) -> Arc<PodInfo> {
        Arc::new(PodInfo::parse(&json!({
            "metadata": {"uid": uid, "name": uid, "namespace": "d"},
            "spec": {"priority": priority, "schedulerName": "default-scheduler"},
        })))
    }

    fn queue() -> QueueState {
        QueueState::new(Backoff::default(), Duration::from_secs(300))
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn popped(q: &mut QueueState, now: Instant) -> Option<String> {
        q.pop(now).map(|p| p.pod.uid.clone())
    }

    #[test]
    fn priority_first_then_age() {
        let t0 = Instant::now();
        let mut q = queue();
        q.add_or_update(pod("old-low", 0), false, t0);
        q.add_or_update(pod("new-high", 10), false, t0 + secs(1));
        q.add_or_update(pod("new-low", 0), false, t0 + secs(2));
        let now = t0 + secs(3);
        assert_eq!(popped(&mut q, now).as_deref(), Some("new-high"));
        assert_eq!(popped(&mut q, now).as_deref(), Some("old-low"));
        assert_eq!(popped(&mut q, now).as_deref(), Some("new-low"));
        assert_eq!(popped(&mut q, now), None);
    }

    #[test]
    fn errors_back_off_doubling_to_ten_seconds() {
        let t0 = Instant::now();
        let mut q = queue();
        let p = pod("a", 0);
        q.add_or_update(p.clone(), false, t0);
        let mut now = t0;
        for (attempt, wait) in [1u64, 2, 4, 8, 10, 10].into_iter().enumerate() {
            let got = q.pop(now).expect("due");
            assert_eq!(got.attempts, attempt as u32 + 1);
            q.requeue_after_error(p.clone(), got.attempts, now);
            assert_eq!(q.pending().backoff, 1);
            assert_eq!(q.next_wake(), Some(now + secs(wait)));
            assert!(q.pop(now + secs(wait) - Duration::from_millis(1)).is_none());
            now += secs(wait);
        }
    }

    #[test]
    fn parked_pods_move_back_on_events_they_wait_for() {
        let t0 = Instant::now();
        let mut q = queue();
        q.add_or_update(pod("a", 0), false, t0);
        q.pop(t0).unwrap();
        q.requeue_unschedulable("a", Events::NODE_ADDED, t0);
        assert_eq!(q.pending().unschedulable, 1);
        q.on_event(Events::POD_DELETED, t0 + secs(5));
        assert_eq!(q.pending().unschedulable, 1, "not an event it waits for");
        // Its 1 s back-off has passed: straight to the activeQ.
        q.on_event(Events::NODE_ADDED, t0 + secs(5));
        assert_eq!(popped(&mut q, t0 + secs(5)).as_deref(), Some("a"));
    }

    #[test]
    fn an_event_during_the_attempt_is_not_lost() {
        let t0 = Instant::now();
        let mut q = queue();
        q.add_or_update(pod("a", 0), false, t0);
        q.pop(t0).unwrap();
        q.on_event(Events::NODE_ADDED, t0);
        q.requeue_unschedulable("a", Events::NODE_ADDED, t0);
        assert_eq!(q.pending().backoff, 1, "tried again after its back-off");
    }

    #[test]
    fn parked_pods_are_retried_after_five_minutes() {
        let t0 = Instant::now();
        let mut q = queue();
        q.add_or_update(pod("a", 0), false, t0);
        q.pop(t0).unwrap();
        q.requeue_unschedulable("a", Events::NODE_ADDED, t0);
        assert_eq!(q.next_wake(), Some(t0 + secs(300)));
        assert!(q.pop(t0 + secs(299)).is_none());
        assert_eq!(popped(&mut q, t0 + secs(300)).as_deref(), Some("a"));
    }

    #[test]
    fn deleted_and_changed_pods() {
        let t0 = Instant::now();
        let mut q = queue();
        q.add_or_update(pod("a", 0), false, t0);
        q.pop(t0).unwrap();
        q.delete("a");
        q.requeue_unschedulable("a", Events::ALL, t0);
        assert!(!q.contains("a"), "a deleted pod is not brought back");

        q.add_or_update(pod("b", 0), false, t0);
        q.pop(t0).unwrap();
        q.requeue_unschedulable("b", Events::NODE_ADDED, t0);
        q.add_or_update(pod("b", 0), false, t0 + secs(2));
        assert_eq!(
            q.pending().unschedulable,
            1,
            "a status-only update changes nothing"
        );
        q.add_or_update(pod("b", 0), true, t0 + secs(2));
        assert_eq!(q.pending().active, 1, "a changed spec may fit now");
    }
}
