//! `ErrImagePull`, then `ImagePullBackOff`: the kubelet does not retry a
//! failed pull at every sync. After a failure it waits 10 s, then 20 s,
//! 40 s, ... up to 5 minutes (the same doubling as a crash loop), and while
//! it waits the container's reason is `ImagePullBackOff` with `Back-off
//! pulling image "<image>"`. The decision is [`backoff_left`], pure; the
//! failures are counted per (pod uid, container) in memory, so an agent
//! restart tries again at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;

use super::sync::restart_backoff;

/// Failed pulls by (pod uid, container name): when the last one failed,
/// and how many failed in a row.
#[derive(Default)]
pub struct PullFailures(Mutex<HashMap<(String, String), (Timestamp, u32)>>);

// ANCHOR: backoff_left
/// How long a pull must still wait after `failures` failures in a row, the
/// last at `last`; `None` when it may be tried now.
pub fn backoff_left(failures: u32, last: Timestamp, now: Timestamp) -> Option<Duration> {
    let delay = restart_backoff(failures);
    let waited = Duration::try_from(now.duration_since(last)).unwrap_or_default();
    (waited < delay).then(|| delay - waited)
}
// ANCHOR_END: backoff_left

impl PullFailures {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), (Timestamp, u32)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the pull for `key` must wait at `now`.
    pub fn waiting(&self, key: &(String, String), now: Timestamp) -> bool {
        self.lock()
            .get(key)
            .is_some_and(|(last, n)| backoff_left(*n, *last, now).is_some())
    }

    /// Records the outcome of a pull for `key`.
    pub fn record(&self, key: &(String, String), failed: bool, now: Timestamp) {
        let mut map = self.lock();
        if failed {
            let count = map.get(key).map_or(0, |(_, n)| *n) + 1;
            map.insert(key.clone(), (now, count));
        } else {
            map.remove(key);
        }
    }

    /// Forgets every container of pod `uid`.
    pub fn forget_pod(&self, uid: &str) {
        self.lock().retain(|(u, _), _| u != uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulls_back_off_like_crash_loops() {
        let t0 = Timestamp::now();
        let s = |n| t0 + Duration::from_secs(n);
        assert_eq!(backoff_left(1, t0, s(4)), Some(Duration::from_secs(6)));
        assert_eq!(backoff_left(1, t0, s(10)), None);
        assert_eq!(backoff_left(3, t0, s(10)), Some(Duration::from_secs(30)));
        let failures = PullFailures::default();
        let key = ("u".to_string(), "c".to_string());
        assert!(!failures.waiting(&key, t0));
        failures.record(&key, true, t0);
        assert!(failures.waiting(&key, s(9)));
        assert!(!failures.waiting(&key, s(10)));
        failures.record(&key, false, s(10));
        assert!(!failures.waiting(&key, s(10)));
    }
}
