//! Per-pod back-off: how long a pod that failed waits before its next try.

use std::time::Duration;

use tokio::time::Instant;

/// Kubernetes' `podInitialBackoffSeconds` and `podMaxBackoffSeconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    /// 1 s, doubling, at most 10 s: Kubernetes' defaults.
    fn default() -> Backoff {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    // ANCHOR: backoff
    /// The wait after `attempts` tries: none before the first, then
    /// `initial`, doubled for every further try, never above `max`.
    pub fn duration(&self, attempts: u32) -> Duration {
        if attempts == 0 {
            return Duration::ZERO;
        }
        let factor = 2u32.saturating_pow(attempts - 1);
        self.initial.saturating_mul(factor).min(self.max)
    }
    // ANCHOR_END: backoff

    /// When the back-off of a pod sent back at `since` after `attempts`
    /// tries expires.
    pub fn expiry(&self, since: Instant, attempts: u32) -> Instant {
        since + self.duration(attempts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap() {
        let b = Backoff::default();
        let secs: Vec<u64> = (0..7).map(|a| b.duration(a).as_secs()).collect();
        assert_eq!(secs, [0, 1, 2, 4, 8, 10, 10]);
        assert_eq!(b.duration(u32::MAX), b.max);
    }
}
