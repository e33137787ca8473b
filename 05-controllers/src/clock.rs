//! Time, injectable: the Job back-off, `activeDeadlineSeconds`,
//! `ttlSecondsAfterFinished` and every CronJob schedule are measured
//! against a [`Clock`].
//!
//! The clock itself is orc-client's (`orc_client::clock`), shared with the
//! API server's etcd maintenance; this module adds what only a controller
//! needs: a requeue measured on that clock.

use std::sync::Arc;
use std::time::Duration;

use orc_client::workqueue::WorkQueue;

pub use orc_client::clock::{Clock, ManualClock, SharedClock, SystemClock};

/// Queues `key` again once `after` has passed on `clock`: the
/// clock-aware form of [`crate::worker::Action::requeue`].
pub fn requeue_after(clock: &SharedClock, queue: &Arc<WorkQueue>, key: &str, after: Duration) {
    queue.add_when(key, clock.sleep(after));
}
