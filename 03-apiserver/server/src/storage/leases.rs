//! etcd leases for objects that expire: Events (`--event-ttl`).
//!
//! An etcd *lease* is a timer kept by etcd itself: keys written with a
//! lease are deleted by etcd when it runs out, and every watcher sees a
//! DELETE, exactly as if a client had deleted them. kube-apiserver writes
//! every Event with one, so Events vanish an hour (`--event-ttl`) after
//! their last write without anyone deleting them; orc does the same
//! (chapter 03, "Events that expire").
//!
//! A lease per Event would be wasteful: granting one is a write of its
//! own (through raft, to disk), and etcd keeps a timer per lease. So, as
//! kube-apiserver's storage layer does (its `leaseManager`, in
//! k8s.io/apiserver's etcd3 store), orc remembers the last lease it
//! granted and hands it to the next write too while that write's wanted
//! expiry is close enough to the lease's:
//!
//! - a lease is granted for the TTL plus a *reuse window* (the smaller
//!   of 60 seconds and 5% of the TTL, in whole seconds), so it expires
//!   at most one window late;
//! - a later write reuses it when the lease outlives the write's own TTL
//!   (it does not expire too early) and ends within one window of it (not
//!   too late), and the lease holds fewer than 1000 objects (so one
//!   expiry never deletes an unbounded batch at once);
//! - otherwise a fresh lease is granted and becomes the one remembered.
//!
//! With the default hour, Events written within the same minute share
//! one lease, and each goes at most a minute after its hour. A TTL under
//! 20 seconds has a window of 0: every write gets its own lease.
//!
//! [`LeaseBook`] makes that decision, a pure function of the time and the
//! TTL (unit-tested on hand-picked instants); [`LeaseManager`] asks etcd
//! for the leases it decides to grant.

use std::time::Duration;

use jiff::Timestamp;
use orc_client::clock::{SharedClock, SystemClock};

/// kube-apiserver's default `--event-ttl`: one hour.
pub const DEFAULT_EVENT_TTL: Duration = Duration::from_secs(60 * 60);

/// The longest reuse window: 60 seconds, the default of kube-apiserver's
/// `--lease-reuse-duration-seconds`.
pub const REUSE_SECONDS: i64 = 60;

/// The reuse window as a share of the TTL, when that is shorter: 5%, so
/// a short TTL is not stretched by a whole minute.
pub const REUSE_SHARE: f64 = 0.05;

/// The most objects one lease holds: 1000, kube-apiserver's default.
pub const MAX_OBJECTS: i64 = 1000;

/// `--event-ttl`, named and defaulted as kube-apiserver's; shared by
/// `orc-apiserver`, `orc server` and `orc up` (which passes it on).
#[derive(Debug, Clone, clap::Args)]
pub struct EventTtlFlags {
    /// How long an Event is kept after its last write (e.g. `1h`, `5m`,
    /// `30s`; whole seconds): etcd deletes it then. `0` keeps Events
    /// until deleted.
    #[arg(long, default_value = "1h", value_parser = crate::limits::parse_duration)]
    pub event_ttl: Duration,
}

/// How long writes of one kind live: `Never` for every object but
/// Events, whose writes live `--event-ttl` (see `handlers/write.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// The object stays until deleted (written without a lease; an
    /// update of an object that had one takes it off the lease).
    Never,
    /// etcd deletes the object this long after the write (whole seconds;
    /// under a second is `Never`, as kube-apiserver's TTL of 0).
    After(Duration),
}

impl Expiry {
    /// The TTL in whole seconds, if any (etcd's unit for leases).
    pub fn seconds(self) -> Option<i64> {
        match self {
            Expiry::Never => None,
            Expiry::After(ttl) => i64::try_from(ttl.as_secs()).ok().filter(|s| *s > 0),
        }
    }
}

/// The reuse window for a TTL of `ttl` seconds: the smaller of
/// [`REUSE_SECONDS`] and [`REUSE_SHARE`] of the TTL, in whole seconds.
pub fn reuse_window(ttl: i64) -> i64 {
    // Truncated, as Kubernetes truncates: under 20 s the window is 0.
    ((REUSE_SHARE * ttl as f64) as i64).min(REUSE_SECONDS)
}

/// What a write that wants to expire in `ttl` seconds is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseChoice {
    /// The lease remembered: no round trip to etcd.
    Reuse(i64),
    /// A new lease, granted for `ttl` seconds (the TTL plus the window);
    /// tell the book with [`LeaseBook::granted`].
    Grant { ttl: i64 },
}

/// The last lease granted, and what the reuse rules need to know of it.
#[derive(Debug, Clone, Default)]
pub struct LeaseBook {
    /// The lease's etcd ID (0: none yet).
    id: i64,
    /// When etcd will let it expire (as granted; nobody renews it), in
    /// nanoseconds since the epoch: plain numbers to add seconds to.
    expires: Option<i128>,
    /// How many writes it was handed out to (counting one being decided).
    attached: i64,
}

impl LeaseBook {
    // ANCHOR: lease_book
    /// Where a write at `now` that wants to expire `ttl` seconds later
    /// goes: the remembered lease when it expires after the write's TTL
    /// but within one reuse window of it, and holds fewer than
    /// [`MAX_OBJECTS`]; else a new lease, `ttl` plus the window long.
    pub fn choose(&mut self, now: Timestamp, ttl: i64) -> LeaseChoice {
        let window = reuse_window(ttl);
        let at = |seconds: i64| after(now, seconds);
        let fits = self.expires.is_some_and(|expires| {
            // Not too early: the object must live its whole TTL ...
            let long_enough = at(ttl) < expires;
            // ... nor too late: at most one window beyond it.
            let soon_enough = at(ttl + window) > expires;
            long_enough && soon_enough
        });
        // Counted whether or not the write succeeds, as Kubernetes counts:
        // a lease never holds more than the cap, only sometimes fewer.
        self.attached += 1;
        if fits && self.attached <= MAX_OBJECTS {
            return LeaseChoice::Reuse(self.id);
        }
        LeaseChoice::Grant { ttl: ttl + window }
    }
    // ANCHOR_END: lease_book

    /// Remembers the lease `id` etcd granted at `now` for `ttl` seconds
    /// (what [`LeaseBook::choose`] asked for): the write that asked is
    /// its first object.
    pub fn granted(&mut self, id: i64, now: Timestamp, ttl: i64) {
        self.id = id;
        self.expires = Some(after(now, ttl));
        self.attached = 1;
    }
}

/// `seconds` after `now`, in nanoseconds since the epoch.
fn after(now: Timestamp, seconds: i64) -> i128 {
    now.as_nanosecond() + i128::from(seconds) * 1_000_000_000
}

/// Hands out leases to writes that expire: the [`LeaseBook`]'s decision,
/// and a grant from etcd when it says so. One per store, shared by every
/// clone of it.
pub struct LeaseManager {
    /// The book, behind tokio's Mutex because it is held across the
    /// grant's round trip to etcd: two writes at once must not both grant
    /// (the second waits, then reuses the first's lease).
    book: tokio::sync::Mutex<LeaseBook>,
    /// "now" for the book: the system's, or a test's `ManualClock`.
    clock: SharedClock,
}

impl Default for LeaseManager {
    fn default() -> LeaseManager {
        LeaseManager::new(std::sync::Arc::new(SystemClock))
    }
}

impl std::fmt::Debug for LeaseManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LeaseManager")
    }
}

impl LeaseManager {
    /// A manager whose book reads `clock`.
    pub fn new(clock: SharedClock) -> LeaseManager {
        LeaseManager {
            book: tokio::sync::Mutex::default(),
            clock,
        }
    }

    /// Forgets the remembered lease: etcd no longer has it, and the next
    /// write that expires is granted a new one.
    pub async fn forget(&self) {
        *self.book.lock().await = LeaseBook::default();
    }

    /// The lease ID a write with `expiry` is put with; `None` for
    /// [`Expiry::Never`] (no lease: the key lives until deleted).
    pub async fn lease_for(
        &self,
        client: &etcd_client::Client,
        expiry: Expiry,
    ) -> Result<Option<i64>, etcd_client::Error> {
        let Some(ttl) = expiry.seconds() else {
            return Ok(None);
        };
        let mut book = self.book.lock().await;
        let now = self.clock.now();
        match book.choose(now, ttl) {
            LeaseChoice::Reuse(id) => Ok(Some(id)),
            LeaseChoice::Grant { ttl } => {
                let granted = client.lease_client().grant(ttl, None).await?;
                // etcd may lengthen a TTL below its shortest; remember its own.
                book.granted(granted.id(), now, granted.ttl());
                Ok(Some(granted.id()))
            }
        }
    }
}

/// Whether etcd refused a put because its lease is gone
/// (`ErrLeaseNotFound`, "etcdserver: requested lease not found").
pub fn is_lease_lost(error: &etcd_client::Error) -> bool {
    matches!(error, etcd_client::Error::GRpcStatus(status)
        if status.code() == tonic::Code::NotFound
            && status.message().contains("requested lease not found"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    const HOUR: i64 = 3600;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_duration(SignedDuration::from_secs(1_000_000 + seconds)).unwrap()
    }

    /// A book whose first write, at `at(0)`, was granted lease 1.
    fn book_with_lease(ttl: i64) -> LeaseBook {
        let mut book = LeaseBook::default();
        let LeaseChoice::Grant { ttl: granted } = book.choose(at(0), ttl) else {
            panic!("an empty book grants");
        };
        book.granted(1, at(0), granted);
        book
    }

    #[test]
    fn the_window_is_a_minute_or_five_percent_of_a_short_ttl() {
        assert_eq!(reuse_window(HOUR), 60);
        assert_eq!(reuse_window(24 * HOUR), 60);
        assert_eq!(reuse_window(5 * 60), 15);
        assert_eq!(reuse_window(30), 1);
        // Under 20 s: no window, so no reuse.
        assert_eq!(reuse_window(19), 0);
        assert_eq!(reuse_window(2), 0);
    }

    #[test]
    fn the_first_write_grants_a_lease_one_window_longer_than_its_ttl() {
        let mut book = LeaseBook::default();
        assert_eq!(
            book.choose(at(0), HOUR),
            LeaseChoice::Grant { ttl: HOUR + 60 }
        );
        let mut short = LeaseBook::default();
        assert_eq!(short.choose(at(0), 2), LeaseChoice::Grant { ttl: 2 });
    }

    #[test]
    fn writes_inside_the_window_reuse_the_lease() {
        let mut book = book_with_lease(HOUR);
        assert_eq!(book.choose(at(1), HOUR), LeaseChoice::Reuse(1));
        assert_eq!(book.choose(at(30), HOUR), LeaseChoice::Reuse(1));
        assert_eq!(book.choose(at(59), HOUR), LeaseChoice::Reuse(1));
    }

    #[test]
    fn a_write_past_the_window_gets_a_new_lease() {
        let mut book = book_with_lease(HOUR);
        // At 60 s the lease would end exactly at the write's TTL: too early.
        assert_eq!(
            book.choose(at(60), HOUR),
            LeaseChoice::Grant { ttl: HOUR + 60 }
        );
        book.granted(2, at(60), HOUR + 60);
        assert_eq!(book.choose(at(61), HOUR), LeaseChoice::Reuse(2));
    }

    #[test]
    fn a_lease_ending_too_late_is_not_reused() {
        // A lease granted for an hour is far too long for a write that
        // wants a minute (the TTL changed between two servers' writes).
        let mut book = book_with_lease(HOUR);
        assert_eq!(book.choose(at(1), 60), LeaseChoice::Grant { ttl: 63 });
    }

    #[test]
    fn a_clock_that_went_back_does_not_reuse_a_lease_ending_too_late() {
        let mut book = book_with_lease(HOUR);
        assert_eq!(
            book.choose(at(-120), HOUR),
            LeaseChoice::Grant { ttl: HOUR + 60 }
        );
    }

    #[test]
    fn a_lease_holds_at_most_a_thousand_objects() {
        let mut book = book_with_lease(HOUR);
        // The granting write was the first; 999 more fit.
        for _ in 1..MAX_OBJECTS {
            assert_eq!(book.choose(at(10), HOUR), LeaseChoice::Reuse(1));
        }
        assert_eq!(
            book.choose(at(10), HOUR),
            LeaseChoice::Grant { ttl: HOUR + 60 }
        );
        book.granted(2, at(10), HOUR + 60);
        assert_eq!(book.choose(at(11), HOUR), LeaseChoice::Reuse(2));
    }

    #[test]
    fn a_write_at_the_grants_very_instant_gets_a_new_lease() {
        // The lease would end exactly one window after the write's TTL,
        // not before it: Kubernetes' comparison is strict, and so is this.
        let mut book = book_with_lease(HOUR);
        assert_eq!(
            book.choose(at(0), HOUR),
            LeaseChoice::Grant { ttl: HOUR + 60 }
        );
    }

    #[test]
    fn short_ttls_never_share_a_lease() {
        let mut book = book_with_lease(2);
        assert_eq!(book.choose(at(0), 2), LeaseChoice::Grant { ttl: 2 });
    }

    #[test]
    fn expiry_is_whole_seconds_and_none_below_one() {
        assert_eq!(Expiry::Never.seconds(), None);
        assert_eq!(
            Expiry::After(Duration::from_secs(3600)).seconds(),
            Some(3600)
        );
        assert_eq!(
            Expiry::After(Duration::from_millis(2500)).seconds(),
            Some(2)
        );
        assert_eq!(Expiry::After(Duration::from_millis(500)).seconds(), None);
    }
}
