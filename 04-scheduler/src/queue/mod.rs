//! The scheduling queue: which pod to try next, and when a pod that did
//! not fit is tried again (kube-scheduler's `PriorityQueue`).
//!
//! - `state.rs`: the activeQ, backoffQ and parked pods, pure (the time is
//!   an argument);
//! - `backoff.rs`: 1 s doubling to 10 s per attempt.
//!
//! [`SchedulingQueue`] is the shell: the state behind a mutex, a wake-up
//! for the scheduling loop, and tokio's clock, which tests pause
//! (`tokio::time::pause`) to jump over back-offs without sleeping.

pub mod backoff;
pub mod state;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

pub use backoff::Backoff;
pub use state::{Pending, QueueState, QueuedPod};

use crate::framework::Events;
use crate::objects::PodInfo;

/// The queue the informers fill and the scheduling loop empties.
pub struct SchedulingQueue {
    /// std's Mutex: every call is a few map operations, never an `.await`.
    state: Mutex<QueueState>,
    /// Wakes [`SchedulingQueue::pop`] when something may be ready.
    wake: Notify,
    shut_down: std::sync::atomic::AtomicBool,
}

impl SchedulingQueue {
    /// An empty queue.
    pub fn new(backoff: Backoff, max_parked: Duration) -> SchedulingQueue {
        SchedulingQueue {
            state: Mutex::new(QueueState::new(backoff, max_parked)),
            wake: Notify::new(),
            shut_down: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn with<T>(&self, change: impl FnOnce(&mut QueueState, Instant) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let out = change(&mut state, Instant::now());
        drop(state);
        self.wake.notify_one();
        out
    }

    /// See [`QueueState::add_or_update`].
    pub fn add_or_update(&self, pod: Arc<PodInfo>, spec_changed: bool) {
        self.with(|q, now| q.add_or_update(pod, spec_changed, now));
    }

    /// See [`QueueState::delete`].
    pub fn delete(&self, uid: &str) {
        self.with(|q, _| q.delete(uid));
    }

    /// See [`QueueState::done`].
    pub fn done(&self, uid: &str) {
        self.with(|q, _| q.done(uid));
    }

    /// See [`QueueState::requeue_unschedulable`].
    pub fn requeue_unschedulable(&self, uid: &str, waiting_for: Events) {
        self.with(|q, now| q.requeue_unschedulable(uid, waiting_for, now));
    }

    /// See [`QueueState::requeue_after_error`].
    pub fn requeue_after_error(&self, pod: Arc<PodInfo>, attempts: u32) {
        self.with(|q, now| q.requeue_after_error(pod, attempts, now));
    }

    /// See [`QueueState::on_event`].
    pub fn on_event(&self, event: Events) {
        if event != Events::NONE {
            self.with(|q, now| q.on_event(event, now));
        }
    }

    /// Whether the pod is in the queue (waiting or in flight).
    pub fn contains(&self, uid: &str) -> bool {
        self.with(|q, _| q.contains(uid))
    }

    /// How many pods wait where.
    pub fn pending(&self) -> Pending {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pending()
    }

    // ANCHOR: pop
    /// The next pod to try, waiting until one is ready; `None` once shut
    /// down.
    pub async fn pop(&self) -> Option<QueuedPod> {
        loop {
            // Registered before looking, so a wake-up between the look and
            // the wait is not lost.
            let woken = self.wake.notified();
            if self.shut_down.load(std::sync::atomic::Ordering::SeqCst) {
                return None;
            }
            let next_wake = {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(pod) = state.pop(Instant::now()) {
                    return Some(pod);
                }
                state.next_wake()
            };
            match next_wake {
                Some(at) => {
                    tokio::select! {
                        _ = woken => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => woken.await,
            }
        }
    }
    // ANCHOR_END: pop

    /// Stops the queue: `pop` answers `None`.
    pub fn shut_down(&self) {
        self.shut_down
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(uid: &str) -> Arc<PodInfo> {
        Arc::new(PodInfo::parse(
            &json!({"metadata": {"uid": uid, "name": uid, "namespace": "d"}}),
        ))
    }

    /// With the clock paused, the queue's sleeps are skipped as soon as
    /// every task waits: a 10 s back-off takes no real time.
    #[tokio::test(start_paused = true)]
    async fn pop_waits_for_the_back_off_without_sleeping() {
        let q = Arc::new(SchedulingQueue::new(
            Backoff::default(),
            Duration::from_secs(300),
        ));
        q.add_or_update(pod("a"), false);
        let first = q.pop().await.unwrap();
        let started = Instant::now();
        q.requeue_after_error(first.pod.clone(), first.attempts);
        let again = q.pop().await.unwrap();
        assert_eq!(again.pod.uid, "a");
        assert_eq!(again.attempts, 2);
        assert_eq!(
            Instant::now() - started,
            Duration::from_secs(1),
            "the paused clock moved by the back-off"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_event_wakes_a_parked_pod() {
        let q = Arc::new(SchedulingQueue::new(
            Backoff::default(),
            Duration::from_secs(300),
        ));
        q.add_or_update(pod("a"), false);
        let first = q.pop().await.unwrap();
        q.requeue_unschedulable(&first.pod.uid, Events::NODE_ADDED);
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.pop().await.map(|p| p.pod.uid.clone()) }
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(!waiter.is_finished(), "parked until an event");
        q.on_event(Events::NODE_ADDED);
        assert_eq!(waiter.await.unwrap().as_deref(), Some("a"));
    }
}
