//! Time, injectable: whatever waits minutes or hours (the Job back-off,
//! CronJob schedules, node heartbeats' grace, the API server's etcd
//! compaction and defragmentation) is measured against a [`Clock`].
//!
//! Tests cannot wait an hour. So a component with a timer asks a clock for
//! "now" and sleeps on it: [`SystemClock`] in production, [`ManualClock`]
//! in tests, which a test moves forward (waking every sleeper) to jump
//! over a back-off, to the next minute, or to the next defragmentation.
//! It lives here, in the crate every component links, so that the API
//! server and the controllers share one.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

/// A source of wall-clock time, and sleeps measured in it.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
    /// Waits until `after` has passed on this clock.
    fn sleep(&self, after: Duration) -> BoxFuture<'static, ()>;
}

/// The real time.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn sleep(&self, after: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(after))
    }
}

/// Real time plus an offset a test controls; [`ManualClock::advance`]
/// wakes the sleepers whose time has come.
pub struct ManualClock {
    /// The offset, sent to every sleeper when it changes. A watch channel
    /// rather than a Mutex: sleepers wait for a change without polling.
    offset: watch::Sender<SignedDuration>,
}

impl Default for ManualClock {
    fn default() -> ManualClock {
        ManualClock {
            offset: watch::channel(SignedDuration::ZERO).0,
        }
    }
}

impl ManualClock {
    /// A clock at the real time; share it with the controller and keep a
    /// handle to move it.
    pub fn new() -> Arc<ManualClock> {
        Arc::new(ManualClock::default())
    }

    /// Moves this clock `by` into the future.
    pub fn advance(&self, by: Duration) {
        let by = SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX);
        self.offset
            .send_modify(|offset| *offset = offset.saturating_add(by));
    }

    /// Moves this clock to `at`, if that is ahead of it.
    pub fn advance_to(&self, at: Timestamp) {
        let ahead = at.duration_since(self.now());
        if ahead.is_positive() {
            self.advance(ahead.unsigned_abs());
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
            .saturating_add(*self.offset.borrow())
            .unwrap_or(Timestamp::MAX)
    }

    fn sleep(&self, after: Duration) -> BoxFuture<'static, ()> {
        let mut offset = self.offset.subscribe();
        let deadline = self.now().saturating_add(after).unwrap_or(Timestamp::MAX);
        Box::pin(async move {
            loop {
                let now = Timestamp::now().saturating_add(*offset.borrow_and_update());
                let left = deadline.duration_since(now.unwrap_or(Timestamp::MAX));
                if !left.is_positive() {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(left.unsigned_abs()) => {}
                    changed = offset.changed() => if changed.is_err() { return },
                }
            }
        })
    }
}

/// The clock a component runs on: shared, so a test keeps a handle.
pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn advancing_wakes_a_sleeper() {
        let clock = ManualClock::new();
        let before = clock.now();
        let sleeping = tokio::spawn(clock.sleep(Duration::from_secs(3600)));
        clock.advance(Duration::from_secs(3601));
        sleeping.await.unwrap();
        assert!(clock.now().duration_since(before) >= SignedDuration::from_secs(3601));
    }
}
