//! When to sync: at most once per minimum period however many changes
//! arrive, a check of the hooks every sync period, and in full every hour.
//!
//! A rolling update of a 100-pod Deployment changes endpoints hundreds of
//! times in a minute; rewriting the tables at each would keep a node busy
//! with iptables. kube-proxy's `BoundedFrequencyRunner` coalesces them:
//! a change marks the rules dirty, and a sync runs when the last one is at
//! least `--iptables-min-sync-period` ago (1 s by default), carrying every
//! change since. Such a sync is partial: only the chains whose rules
//! changed are written.
//!
//! Every `--iptables-sync-period` (30 s) the proxy checks that its jumps
//! from the built-in chains are still there (kube-proxy checks a canary
//! chain on the same period): a firewall reload or an `iptables -F` by
//! hand removes them, and then a full sync follows at once. A full sync
//! (every chain rewritten, jumps checked, stale chains swept) also runs
//! after any failure and at least every [`FULL_SYNC_PERIOD`], as
//! kube-proxy does since 1.28: with thousands of Services a full sync
//! takes seconds, too long to run every 30 s.
//!
//! [`SyncTimer`] is that policy as a pure state machine: it is told the
//! time, never reads a clock, so tests step it through any schedule.

use std::time::Duration;

use tokio::time::Instant;

/// The most time between two full syncs (kube-proxy's `FullSyncPeriod`).
pub const FULL_SYNC_PERIOD: Duration = Duration::from_secs(3600);

/// What the proxy should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Sync now; `full`: rewrite everything.
    Sync {
        /// Whether this is a full sync.
        full: bool,
    },
    /// Check now that the jumps into orc's chains are in place.
    Check,
    /// Nothing to do before this time (or before a change arrives).
    WaitUntil(Instant),
}

/// The sync schedule.
#[derive(Debug, Clone)]
pub struct SyncTimer {
    /// The least time between two syncs.
    min_period: Duration,
    /// The time between two checks of the jumps.
    check_period: Duration,
    /// The most time between two full syncs.
    full_period: Duration,
    /// When the last sync ran.
    last: Option<Instant>,
    /// When the jumps were last checked (or a full sync put them in).
    last_check: Option<Instant>,
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
    pub fn new(min_period: Duration, check_period: Duration, full_period: Duration) -> SyncTimer {
        SyncTimer {
            min_period,
            check_period,
            full_period,
            last: None,
            last_check: None,
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
        let check_at = self
            .last_check
            .map_or(now, |check| check + self.check_period);
        if now >= check_at {
            return Next::Check;
        }
        let full_at = self.last_full.map_or(now, |full| full + self.full_period);
        Next::WaitUntil(check_at.min(full_at))
    }
    // ANCHOR_END: next

    /// Records a sync that ran at `now`.
    pub fn synced(&mut self, now: Instant, full: bool, ok: bool) {
        self.last = Some(now);
        self.dirty = false;
        self.failed = !ok;
        if full && ok {
            self.last_full = Some(now);
            self.last_check = Some(now);
        }
    }

    /// Records a check at `now`: `in_place` whether every jump was there.
    /// When one was missing, the next sync is full and comes at once.
    pub fn checked(&mut self, now: Instant, in_place: bool) {
        self.last_check = Some(now);
        if !in_place {
            self.failed = true;
            self.last = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(1);
    const CHECK: Duration = Duration::from_secs(30);
    const FULL: Duration = Duration::from_secs(3600);

    #[test]
    fn the_first_sync_is_full_and_immediate() {
        let t0 = Instant::now();
        assert_eq!(
            SyncTimer::new(MIN, CHECK, FULL).next(t0),
            Next::Sync { full: true }
        );
    }

    #[test]
    fn a_burst_of_changes_is_one_sync_after_the_minimum_period() {
        let t0 = Instant::now();
        let mut timer = SyncTimer::new(MIN, CHECK, FULL);
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
            Next::WaitUntil(t0 + CHECK),
            "idle until the check"
        );
    }

    #[test]
    fn full_syncs_come_every_period_and_after_a_failure() {
        let t0 = Instant::now();
        let mut timer = SyncTimer::new(MIN, CHECK, FULL);
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

    #[test]
    fn the_jumps_are_checked_every_period_and_a_missing_one_brings_a_full_sync() {
        let t0 = Instant::now();
        let mut timer = SyncTimer::new(MIN, CHECK, FULL);
        timer.synced(t0, true, true);
        assert_eq!(timer.next(t0 + CHECK), Next::Check);
        timer.checked(t0 + CHECK, true);
        assert_eq!(timer.next(t0 + CHECK), Next::WaitUntil(t0 + CHECK * 2));
        // A change right after the check is synced partially, a second later.
        timer.synced(t0 + CHECK + MIN, false, true);
        assert_eq!(timer.next(t0 + CHECK * 2), Next::Check);
        // Someone flushed PREROUTING: a full sync now, not a minimum period later.
        timer.checked(t0 + CHECK * 2, false);
        assert_eq!(timer.next(t0 + CHECK * 2), Next::Sync { full: true });
    }
}
