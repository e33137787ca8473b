//! Time, injectable: the restart back-off is measured against a [`Clock`].
//!
//! Back-off delays are minutes long. Tests cannot wait for them, and
//! `tokio::time::pause` does not move the wall-clock timestamps the runtime
//! writes when a container exits. So the agent asks a [`Clock`] for "now":
//! [`SystemClock`] in production, [`ManualClock`] in tests, which a test
//! moves forward to jump over a back-off.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// A source of wall-clock time.
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;
}

/// The real time.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Real time plus an offset a test controls.
#[derive(Default)]
pub struct ManualClock {
    /// A std `Mutex`: held for an addition, never across an `.await`.
    offset: Mutex<Duration>,
}

impl ManualClock {
    /// Moves this clock `by` into the future.
    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        SystemTime::now() + *self.offset.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// RFC 3339 (UTC, whole seconds), the format of Kubernetes timestamps.
pub fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    orc_container::state::rfc3339(secs)
}
