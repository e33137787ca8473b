//! Defragmentation on a schedule: giving the space compaction freed back
//! to the file system.
//!
//! Compaction (`compaction.rs`) frees old revisions *inside* etcd's
//! database file, where new writes reuse the space; the file itself never
//! shrinks, so a burst of writes (a big rollout, a deleted namespace of
//! thousands of objects) leaves it at its high-water mark for ever, and
//! that size is what counts against etcd's `--quota-backend-bytes`.
//! Defragmentation rewrites the file with only its live data.
//!
//! kube-apiserver never defragments: operators run `etcdctl defrag` (or
//! a tool on a timer). orc's API server owns its etcd, so it does what
//! such a tool does, after a compaction and at most once per
//! `--etcd-defrag-interval` (default one hour), and only when at least
//! half of the file is free: defragmentation blocks etcd while it copies
//! the live data (milliseconds for a small cluster's few megabytes, but
//! every request waits), so it is worth it only when it gives back much.
//! `orc etcd defrag` does the same on demand.
//!
//! The decision is pure ([`Defragmenter`], with the time passed in); the
//! maintenance loop in `compaction.rs` acts on it, on an injected clock
//! so a test can jump an hour.

use std::time::Duration;

use jiff::Timestamp;

/// The default `--etcd-defrag-interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);

/// etcd's database file as its status reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbSize {
    /// The file's size (`dbSize`): what the quota counts.
    pub file: i64,
    /// The part holding live data (`dbSizeInUse`); the rest is free
    /// pages that only defragmentation returns.
    pub in_use: i64,
}

impl DbSize {
    /// Whether at least half of the file is free.
    pub fn mostly_free(self) -> bool {
        self.file > 0 && (self.file - self.in_use) * 2 >= self.file
    }
}

// ANCHOR: defragmenter
/// Remembers when etcd was last defragmented.
#[derive(Debug, Clone)]
pub struct Defragmenter {
    /// The least time between two defragmentations.
    every: Duration,
    /// The last one, or the start (the first waits one interval too).
    last: Timestamp,
}

impl Defragmenter {
    /// A schedule of one defragmentation per `every` at most, from `now`.
    pub fn new(every: Duration, now: Timestamp) -> Defragmenter {
        Defragmenter { every, last: now }
    }

    /// Called after a compaction with the file's size: whether to
    /// defragment now. A yes counts as done (a failed attempt waits a
    /// whole interval too, rather than blocking etcd again and again).
    pub fn after_compaction(&mut self, now: Timestamp, size: DbSize) -> bool {
        let elapsed = now.duration_since(self.last);
        let due = elapsed.is_positive() && elapsed.unsigned_abs() >= self.every;
        if !due || !size.mostly_free() {
            return false;
        }
        self.last = now;
        true
    }

    /// A defragmentation done off the schedule (etcd was full): the next
    /// scheduled one waits a whole interval from `now`.
    pub fn forced(&mut self, now: Timestamp) {
        self.last = now;
    }
}
// ANCHOR_END: defragmenter

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    #[test]
    fn once_an_interval_and_only_when_half_the_file_is_free() {
        let fragmented = DbSize {
            file: 100 << 20,
            in_use: 10 << 20,
        };
        let dense = DbSize {
            file: 100 << 20,
            in_use: 60 << 20,
        };
        let mut d = Defragmenter::new(HOUR, at(0));
        assert!(!d.after_compaction(at(300), fragmented), "not an hour yet");
        assert!(!d.after_compaction(at(3600), dense), "too little to gain");
        assert!(d.after_compaction(at(3900), fragmented));
        assert!(!d.after_compaction(at(4200), fragmented), "just done");
        assert!(d.after_compaction(at(7500), fragmented));
    }

    #[test]
    fn a_clock_that_steps_back_defragments_nothing() {
        let fragmented = DbSize {
            file: 10,
            in_use: 1,
        };
        let mut d = Defragmenter::new(HOUR, at(10_000));
        assert!(!d.after_compaction(at(0), fragmented));
        assert!(!DbSize { file: 0, in_use: 0 }.mostly_free());
    }
}
