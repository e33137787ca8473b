//! What makes the sync loop run before its next tick.
//!
//! A loop that only runs on a timer answers every change a tick late: a
//! pod bound to the node waits up to one `sync_period` for its first
//! sync, and once its container has started, up to one more before the
//! status says Running. With the 1 s period that was 2 s of a `kubectl
//! run`, all of it waiting (chapter 02, "The sync loop").
//!
//! The kubelet's `syncLoopIteration` waits on several channels at once:
//! pod updates from its sources (`configCh`), the pod lifecycle events its
//! PLEG finds, the probe managers' result updates, and the 1 s ticker. orc
//! does the same with one [`SyncWaker`]: a source that sees a pod change,
//! a probe whose verdict changes and a pod task that finishes each wake
//! the loop, and the tick stays as the safety net that makes the loop
//! level-triggered (a wake that is lost costs a tick, never a pod). A
//! finished task stands in for the PLEG: the kubelet relists containers
//! every second to notice what changed; orc's pod tasks know when they
//! are done.
//!
//! Wakes coalesce: a [`Notify`] holds at most one permit, so a burst of
//! fifty changes during a sync is one more sync, not fifty.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Wakes the agent's sync loop. Cheap to clone; every clone wakes the
/// same loop.
#[derive(Clone, Default)]
pub struct SyncWaker(Arc<Notify>);

impl SyncWaker {
    /// Asks for a sync as soon as the loop is free: at once if it waits,
    /// right after the current one if it runs.
    pub fn wake(&self) {
        self.0.notify_one();
    }

    /// Completes at the next [`wake`](Self::wake), or at once if one came
    /// while nobody waited.
    pub async fn woken(&self) {
        self.0.notified().await;
    }
}

/// A pod's work (its actions, or its stop) running in a task of its own,
/// which wakes the sync loop as its last step so the outcome is reported
/// without waiting for the tick.
pub struct PodTask {
    handle: JoinHandle<()>,
    /// Raised by the task itself, before it wakes the loop: the woken sync
    /// must see the work as done even if the task has not yet returned
    /// from its last poll (the loop may run on another thread by then).
    done: Arc<AtomicBool>,
}

impl PodTask {
    /// Spawns `work`, waking `waker` when it ends.
    pub fn spawn(waker: &SyncWaker, work: impl Future<Output = ()> + Send + 'static) -> PodTask {
        let done = Arc::new(AtomicBool::new(false));
        let (flag, waker) = (Arc::clone(&done), waker.clone());
        let handle = tokio::spawn(async move {
            work.await;
            flag.store(true, Ordering::Release);
            waker.wake();
        });
        PodTask { handle, done }
    }

    /// Whether the work is over (it ended, or the task died).
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire) || self.handle.is_finished()
    }

    /// Waits for the task to end.
    pub async fn join(self) {
        let _ = self.handle.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_wake_before_the_wait_is_kept_and_a_burst_is_one() {
        let waker = SyncWaker::default();
        for _ in 0..50 {
            waker.wake();
        }
        // The kept permit: the first wait completes at once.
        tokio::time::timeout(Duration::from_secs(5), waker.woken())
            .await
            .expect("a wake given before the wait completes it");
        // Fifty wakes were one permit: the second wait finds none.
        let second = tokio::time::timeout(Duration::from_millis(50), waker.woken()).await;
        assert!(second.is_err(), "a burst of wakes must coalesce into one");
    }

    #[tokio::test]
    async fn a_finished_task_is_done_when_it_wakes_the_loop() {
        let waker = SyncWaker::default();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let task = PodTask::spawn(&waker, async move {
            let _ = released.await;
        });
        assert!(!task.is_done(), "the work has not ended yet");
        release.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), waker.woken())
            .await
            .expect("the task wakes the loop when its work ends");
        assert!(task.is_done(), "woken by the task, the loop sees it done");
        task.join().await;
    }
}
