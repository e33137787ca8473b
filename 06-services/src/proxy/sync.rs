//! When to sync: at most once per minimum period however many changes
//! arrive, and in full every sync period even if none does.
//!
//! A rolling update of a 100-pod Deployment changes endpoints hundreds of
//! times in a minute; rewriting the tables at each would keep a node busy
//! with iptables. kube-proxy's `BoundedFrequencyRunner` coalesces them:
//! a change marks the rules dirty, and a sync runs when the last one is at
//! least `--iptables-min-sync-period` ago (1 s by default), carrying every
//! change since. A full sync (every chain rewritten, jumps checked, stale
//! chains swept) runs every `--iptables-sync-period` (30 s), which repairs
//! anything someone else did to the tables, and after any failure.
//!
//! [`SyncTimer`] is that policy as a pure state machine: it is told the
//! time, never reads a clock, so tests step it through any schedule.

use std::time::Duration;

use tokio::time::Instant;

/// What the proxy should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Sync now; `full`: rewrite everything.
    Sync {
        /// Whether this is a full sync.
        full: bool,
    },
    /// Nothing to do before this time (or before a change arrives).
    WaitUntil(Instant),
}

/// The sync schedule.
#[derive(Debug, Clone)]
pub struct SyncTimer {
    /// The least time between two syncs.
    min_period: Duration,
    /// The most time between two full syncs.
    full_period: Duration,
    /// When the last sync ran.
    last: Option<Instant>,
    /// When the last successful full sync ran.
    last_full: Option<Instant>,
    /// Something changed since the last sync.
    dirty: bool,
    /// The last sync failed: the next must be full (what was applied is
    /// not known).
    failed: bool,
}

impl SyncTimer {
    /// A schedule whose first answer is a full sync.
    pub fn new(min_period: Duration, full_period: Duration) -> SyncTimer {
        SyncTimer {
            min_period,
            full_period,
            last: None,
            last_full: None,
            dirty: false,
            failed: false,
        }
    }

    /// Records that the Services or their endpoints changed.
    pub fn changed(&mut self) {
        self.dirty = true;
    }

    // ANCHOR: next
    /// What to do at `now`.
    pub fn next(&self, now: Instant) -> Next {
        let earliest = self.last.map_or(now, |last| last + self.min_period);
        let full_due = self.failed
            || self
                .last_full
                .is_none_or(|full| now >= full + self.full_period);
        if full_due || self.dirty {
            return match now >= earliest {
                true => Next::Sync { full: full_due },
                false => Next::WaitUntil(earliest),
            };
        }
        Next::WaitUntil(self.last_full.map_or(now, |full| full + self.full_period))
    }
    // ANCHOR_END: next

    /// Records a sync that ran at `now`.
    pub fn synced(&mut self, now: Instant, full: bool, ok: bool) {
        self.last = Some(now);
        self.dirty = false;
        self.failed = !ok;
        if full && ok {
            self.last_full = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(1);
    const FULL: Duration = Duration::from_secs(30);

    #[test]
    fn the_first_sync_is_full_and_immediate() {
        let t0 = Instant::now();
        assert_eq!(
            SyncTimer::new(MIN, FULL).next(t0),
            Next::Sync { full: true }
        );
    }

    #[test]
    fn a_burst_of_changes_is_one_sync_after_the_minimum_period() {
        let t0 = Instant::now();
        let mut timer = SyncTimer::new(MIN, FULL);
        timer.synced(t0, true, true);
        for ms in [10, 20, 300, 999] {
            timer.changed();
            assert_eq!(
                timer.next(t0 + Duration::from_millis(ms)),
                Next::WaitUntil(t0 + MIN)
            );
        }
        assert_eq!(timer.next(t0 + MIN), Next::Sync { full: false });
        timer.synced(t0 + MIN, false, true);
        assert_eq!(
            timer.next(t0 + MIN * 2),
            Next::WaitUntil(t0 + FULL),
            "idle until the full sync"
        );
    }

    #[test]
    fn full_syncs_come_every_period_and_after_a_failure() {
        let t0 = Instant::now();
        let mut timer = SyncTimer::new(MIN, FULL);
        timer.synced(t0, true, true);
        assert_eq!(timer.next(t0 + FULL), Next::Sync { full: true });
        timer.synced(t0 + FULL, true, true);
        timer.changed();
        let t1 = t0 + FULL + MIN;
        assert_eq!(timer.next(t1), Next::Sync { full: false });
        timer.synced(t1, false, false);
        assert_eq!(
            timer.next(t1),
            Next::WaitUntil(t1 + MIN),
            "retried, but not at once"
        );
        assert_eq!(timer.next(t1 + MIN), Next::Sync { full: true });
    }
}
