//! A work queue: de-duplicated keys, one worker per key, retries with backoff.
//!
//! Controllers do not act on events one by one. An event only says "this
//! object may need attention", so the controller puts the object's *key*
//! (`namespace/name`) on a queue, and a worker later reconciles the whole
//! current state of that object. Three properties make this work, and they
//! are the ones client-go's work queue guarantees:
//!
//! - **de-duplication**: ten events for one object before a worker gets to
//!   it mean one reconcile, not ten;
//! - **one worker per key**: a key being processed is not handed to a second
//!   worker; if it is added meanwhile, it is queued again once the first
//!   worker calls [`WorkQueue::done`], so no change is lost;
//! - **rate-limited retries**: a failed key comes back after an exponential
//!   backoff (5 ms, 10 ms, 20 ms, ... capped), so a broken object does not
//!   spin a CPU, and [`WorkQueue::forget`] resets it after a success.
//!
//! The queue also keeps the numbers client-go's queues report as
//! `workqueue_*` metrics ([`WorkQueue::stats`]): how many keys wait, how
//! many were added and retried, how long keys waited and how long their
//! work took.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::prometheus::Histogram;

/// client-go's buckets for both workqueue histograms,
/// `ExponentialBuckets(10e-9, 10, 10)`: 10 ns to 10 s, a decade apart.
pub const DURATION_BUCKETS: &[f64] = &[1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0];

/// The first retry delay; doubled per failure.
pub const BASE_DELAY: Duration = Duration::from_millis(5);
/// The longest retry delay.
pub const MAX_DELAY: Duration = Duration::from_secs(300);

#[derive(Default)]
struct State {
    /// Keys waiting, in order.
    queue: VecDeque<String>,
    /// Keys in `queue` (for de-duplication).
    queued: HashSet<String>,
    /// Keys a worker holds right now.
    processing: HashSet<String>,
    /// Keys added while being processed: re-queued on `done`.
    dirty: HashSet<String>,
    /// Failures per key, for the backoff.
    failures: HashMap<String, u32>,
    shut_down: bool,
    /// When each waiting key was first added (for the queue duration).
    added_at: HashMap<String, Instant>,
    /// When each key being processed was handed out (for the work
    /// duration).
    started_at: HashMap<String, Instant>,
    stats: Stats,
}

/// What a queue has done so far, named after client-go's workqueue
/// metrics (each rendered with the queue's name as the `name` label).
#[derive(Debug, Clone)]
pub struct Stats {
    /// `workqueue_depth`: keys waiting to be handed out, those re-added
    /// while being processed included.
    pub depth: usize,
    /// `workqueue_adds_total`: adds that queued a key (an add of a key
    /// already waiting is folded into it and not counted).
    pub adds: u64,
    /// `workqueue_retries_total`: delayed re-adds (a failure's back-off,
    /// or a later look the reconcile asked for), as client-go counts
    /// every `AddAfter`.
    pub retries: u64,
    /// `workqueue_queue_duration_seconds`: from a key's add until a worker
    /// took it.
    pub queue_duration: Histogram,
    /// `workqueue_work_duration_seconds`: from a worker taking a key until
    /// it called `done`.
    pub work_duration: Histogram,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            depth: 0,
            adds: 0,
            retries: 0,
            queue_duration: Histogram::new(DURATION_BUCKETS),
            work_duration: Histogram::new(DURATION_BUCKETS),
        }
    }
}

impl State {
    /// Counts an add that queued `key` (now or after its processing).
    fn count_add(&mut self, key: &str) {
        self.stats.adds += 1;
        self.added_at
            .entry(key.to_string())
            .or_insert_with(Instant::now);
    }
}

/// A de-duplicating, rate-limited queue of keys. Share it in an `Arc`.
#[derive(Default)]
pub struct WorkQueue {
    /// std's Mutex: every critical section is a few set operations, never
    /// an `.await`.
    state: Mutex<State>,
    /// Wakes a worker waiting in [`WorkQueue::next`].
    ready: Notify,
}

// ANCHOR: backoff
/// The delay before retry number `failures` (1-based): [`BASE_DELAY`],
/// doubled with every failure, never more than [`MAX_DELAY`]. A free
/// function so lab 03 can ask students for it.
pub fn backoff(failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1));
    BASE_DELAY.saturating_mul(factor).min(MAX_DELAY)
}
// ANCHOR_END: backoff

impl WorkQueue {
    /// An empty queue.
    pub fn new() -> WorkQueue {
        WorkQueue::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ANCHOR: add
    /// Adds `key` unless it is already waiting. A key being processed is
    /// marked dirty and comes back when its worker is done.
    pub fn add(&self, key: &str) {
        let mut s = self.lock();
        if s.shut_down {
            return;
        }
        if s.processing.contains(key) {
            if s.dirty.insert(key.to_string()) {
                s.count_add(key);
            }
            return;
        }
        if s.queued.insert(key.to_string()) {
            s.count_add(key);
            s.queue.push_back(key.to_string());
            drop(s);
            self.ready.notify_one();
        }
    }
    // ANCHOR_END: add

    // ANCHOR: next_done
    /// The next key to work on, waiting for one; `None` once shut down.
    pub async fn next(&self) -> Option<String> {
        loop {
            // Register for a wake-up *before* looking, so an `add` between
            // the look and the wait is not missed.
            let notified = self.ready.notified();
            {
                let mut s = self.lock();
                if let Some(key) = s.queue.pop_front() {
                    s.queued.remove(&key);
                    s.processing.insert(key.clone());
                    let now = Instant::now();
                    if let Some(added) = s.added_at.remove(&key) {
                        s.stats.queue_duration.observe((now - added).as_secs_f64());
                    }
                    s.started_at.insert(key.clone(), now);
                    return Some(key);
                }
                if s.shut_down {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Marks `key` finished; if it was added meanwhile, it is queued again.
    pub fn done(&self, key: &str) {
        let mut s = self.lock();
        s.processing.remove(key);
        if let Some(started) = s.started_at.remove(key) {
            s.stats
                .work_duration
                .observe(started.elapsed().as_secs_f64());
        }
        if s.dirty.remove(key) && s.queued.insert(key.to_string()) {
            s.queue.push_back(key.to_string());
            drop(s);
            self.ready.notify_one();
        }
    }
    // ANCHOR_END: next_done

    // ANCHOR: retry
    /// Schedules `key` again after its backoff; call after a failed
    /// reconcile (and then `done`).
    pub fn add_rate_limited(self: &std::sync::Arc<Self>, key: &str) {
        let failures = {
            let mut s = self.lock();
            let n = s.failures.entry(key.to_string()).or_insert(0);
            *n += 1;
            *n
        };
        self.add_after(key, backoff(failures));
    }

    /// Adds `key` once `after` has passed (client-go's `AddAfter`).
    pub fn add_after(self: &std::sync::Arc<Self>, key: &str, after: Duration) {
        self.add_when(key, tokio::time::sleep(after));
    }

    /// Adds `key` once `ready` completes: [`WorkQueue::add_after`] on a
    /// clock of the caller's (a test's manual clock). Counted as a retry.
    pub fn add_when(
        self: &std::sync::Arc<Self>,
        key: &str,
        ready: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        self.lock().stats.retries += 1;
        let (queue, key) = (self.clone(), key.to_string());
        tokio::spawn(async move {
            ready.await;
            queue.add(&key);
        });
    }

    /// Forgets the failures of `key`; call after a successful reconcile.
    pub fn forget(&self, key: &str) {
        self.lock().failures.remove(key);
    }
    // ANCHOR_END: retry

    /// How many keys are waiting.
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Whether no key is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The queue's numbers so far, for `/metrics`.
    pub fn stats(&self) -> Stats {
        let s = self.lock();
        Stats {
            depth: s.queue.len() + s.dirty.len(),
            ..s.stats.clone()
        }
    }

    /// Stops the queue: waiting workers wake up, `next` still hands out the
    /// keys already queued and then answers `None`, and `add` is ignored.
    pub fn shut_down(&self) {
        self.lock().shut_down = true;
        self.ready.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn duplicates_collapse() {
        let q = WorkQueue::new();
        q.add("a");
        q.add("b");
        q.add("a");
        assert_eq!(q.len(), 2);
        assert_eq!(q.next().await.as_deref(), Some("a"));
        assert_eq!(q.next().await.as_deref(), Some("b"));
    }

    #[tokio::test]
    async fn a_key_in_progress_is_not_handed_out_twice() {
        let q = WorkQueue::new();
        q.add("a");
        let key = q.next().await.unwrap();
        q.add("a");
        assert!(q.is_empty(), "held by a worker: not queued again yet");
        q.done(&key);
        assert_eq!(q.next().await.as_deref(), Some("a"), "re-queued after done");
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_millis(5));
        assert_eq!(backoff(3), Duration::from_millis(20));
        assert_eq!(backoff(40), MAX_DELAY);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_come_back_after_the_backoff() {
        let q = Arc::new(WorkQueue::new());
        q.add("a");
        let key = q.next().await.unwrap();
        q.add_rate_limited(&key);
        q.done(&key);
        tokio::task::yield_now().await;
        assert!(q.is_empty());
        tokio::time::advance(Duration::from_millis(6)).await;
        tokio::task::yield_now().await;
        assert_eq!(q.next().await.as_deref(), Some("a"));
    }

    #[tokio::test]
    async fn stats_count_adds_retries_and_durations() {
        let q = Arc::new(WorkQueue::new());
        q.add("a");
        q.add("a"); // folded into the first
        q.add("b");
        assert_eq!((q.stats().adds, q.stats().depth), (2, 2));
        let key = q.next().await.unwrap();
        q.add(&key); // re-added while processed: waits, counted
        let stats = q.stats();
        assert_eq!((stats.adds, stats.depth), (3, 2));
        assert_eq!(stats.queue_duration.count(), 1);
        q.add_rate_limited(&key);
        q.done(&key);
        let stats = q.stats();
        assert_eq!(stats.retries, 1);
        assert_eq!(stats.work_duration.count(), 1);
        q.shut_down();
    }

    #[tokio::test]
    async fn shut_down_wakes_workers() {
        let q = Arc::new(WorkQueue::new());
        let worker = tokio::spawn({
            let q = q.clone();
            async move { q.next().await }
        });
        tokio::task::yield_now().await;
        q.shut_down();
        assert_eq!(worker.await.unwrap(), None);
    }
}
