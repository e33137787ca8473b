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

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

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
            s.dirty.insert(key.to_string());
            return;
        }
        if s.queued.insert(key.to_string()) {
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
        let (queue, key) = (self.clone(), key.to_string());
        tokio::spawn(async move {
            tokio::time::sleep(backoff(failures)).await;
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
