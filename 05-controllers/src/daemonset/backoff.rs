//! The back-off between replacements of a daemon pod that keeps failing
//! (Kubernetes' `failedPodsBackoff` in the DaemonSet controller).
//!
//! A daemon pod that fails is deleted and made again. When it fails
//! because of the node (a port taken, a missing device), the new pod fails
//! too, and without a brake the controller and the node would trade pods
//! as fast as they can. So each (DaemonSet, node) pair has a delay: the
//! first failed pod goes at once and sets it to 1 s; a failed pod found
//! while the delay since the last deletion has not passed waits (the
//! DaemonSet is looked at again when it has); each deletion after that
//! doubles the delay, up to 15 minutes. A pair quiet for twice the
//! maximum starts again from 1 s.
//!
//! Time is a [`Timestamp`] from the controller's clock, so tests jump
//! over the delays.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;

/// The first delay (Kubernetes' `--daemonset` back-off: 1 s).
pub const INITIAL: Duration = Duration::from_secs(1);
/// The longest delay: 15 minutes.
pub const MAX: Duration = Duration::from_secs(15 * 60);

/// What to do with a failed pod now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Delete it (the delay has been started or doubled).
    Delete,
    /// Leave it; look again after this long.
    Wait(Duration),
}

/// One pair's delay and when it was last used.
#[derive(Debug, Clone, Copy)]
struct Entry {
    delay: Duration,
    last: Timestamp,
}

/// The delays of every (DaemonSet, node) pair. A std `Mutex`: it is held
/// for a map lookup, never across an await.
#[derive(Debug, Default)]
pub struct FailedPodBackoff {
    entries: Mutex<HashMap<String, Entry>>,
}

/// The key of a pair: the DaemonSet's uid (a set made again under the same
/// name starts afresh) and the node's name.
pub fn key(ds_uid: &str, node: &str) -> String {
    format!("{ds_uid}/{node}")
}

fn since(now: Timestamp, then: Timestamp) -> Duration {
    let d = now.duration_since(then);
    if d.is_negative() {
        Duration::ZERO
    } else {
        d.unsigned_abs()
    }
}

// ANCHOR: gate
impl FailedPodBackoff {
    /// Whether a failed pod of pair `key` may be deleted at `now`; when it
    /// may, the delay is started (1 s) or doubled (at most 15 min).
    pub fn gate(&self, key: &str, now: Timestamp) -> Gate {
        let mut entries = self
            .entries
            .lock()
            .expect("the back-off lock is never poisoned");
        // Forget pairs quiet for twice the maximum (Kubernetes' GC).
        entries.retain(|_, e| since(now, e.last) <= 2 * MAX);
        match entries.get_mut(key) {
            Some(e) if since(now, e.last) < e.delay => Gate::Wait(e.delay - since(now, e.last)),
            Some(e) => {
                e.delay = (e.delay * 2).min(MAX);
                e.last = now;
                Gate::Delete
            }
            None => {
                let first = Entry {
                    delay: INITIAL,
                    last: now,
                };
                entries.insert(key.to_string(), first);
                Gate::Delete
            }
        }
    }
}
// ANCHOR_END: gate

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    #[test]
    fn the_delay_starts_at_one_second_and_doubles_to_fifteen_minutes() {
        let b = FailedPodBackoff::default();
        let k = key("uid-1", "n1");
        assert_eq!(b.gate(&k, at(0)), Gate::Delete);
        assert_eq!(b.gate(&k, at(0)), Gate::Wait(Duration::from_secs(1)));
        assert_eq!(b.gate(&k, at(1)), Gate::Delete); // now 2 s
        assert_eq!(b.gate(&k, at(2)), Gate::Wait(Duration::from_secs(1)));
        assert_eq!(b.gate(&k, at(3)), Gate::Delete); // now 4 s
        let mut t = 3;
        let mut delay = 4;
        while delay < 900 {
            t += delay;
            assert_eq!(b.gate(&k, at(t)), Gate::Delete, "after {delay} s");
            delay = (delay * 2).min(900);
        }
        // Capped: 900 s, not 1024.
        assert_eq!(b.gate(&k, at(t + 899)), Gate::Wait(Duration::from_secs(1)));
        assert_eq!(b.gate(&k, at(t + 900)), Gate::Delete);
    }

    #[test]
    fn pairs_are_apart_and_a_quiet_pair_starts_again() {
        let b = FailedPodBackoff::default();
        assert_eq!(b.gate(&key("uid-1", "n1"), at(0)), Gate::Delete);
        assert_eq!(b.gate(&key("uid-1", "n2"), at(0)), Gate::Delete);
        assert_eq!(b.gate(&key("uid-2", "n1"), at(0)), Gate::Delete);
        assert_eq!(b.gate(&key("uid-1", "n1"), at(1)), Gate::Delete); // 2 s now
        // Quiet for more than 30 minutes: back to 1 s.
        assert_eq!(b.gate(&key("uid-1", "n1"), at(1 + 1801)), Gate::Delete);
        assert_eq!(
            b.gate(&key("uid-1", "n1"), at(1 + 1801)),
            Gate::Wait(Duration::from_secs(1))
        );
    }
}
