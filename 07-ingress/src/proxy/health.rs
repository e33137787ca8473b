//! Endpoint bookkeeping the pickers read: requests in flight, and passive
//! health.
//!
//! The proxy never probes a backend. It learns that one is gone when a
//! connection to it is refused or fails, and then *ejects* it for a while
//! (nginx's `max_fails=1 fail_timeout=...`): no picker chooses it until
//! the time is up, and then it gets real requests again, which is the
//! probe. An endpoint whose pod was deleted disappears from the
//! EndpointSlice soon after; ejection covers the moments between.
//!
//! Time is passed in (`now`), so tests ask about later instants rather
//! than sleep through an ejection.
//!
//! Every request reads this state for each endpoint of its backend, from
//! every worker thread, so all of it is atomics: no lock is taken to pick.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use smallvec::SmallVec;
use tokio::time::{Duration, Instant};

use crate::balance::Candidate;
use crate::routes::Endpoint;

/// One endpoint's shared state, kept across table swaps while its address
/// stays in the table, so least-connections sees requests that started
/// under an older table.
#[derive(Debug)]
pub struct EndpointState {
    /// Requests sent to it that have not finished (their response body
    /// included); an atomic, because every request touches it.
    in_flight: AtomicU32,
    /// What `ejected_until` counts from.
    created: Instant,
    /// Until when it is ejected, in nanoseconds after `created`; 0 when
    /// it never was. A number rather than an `Instant` so that it fits an
    /// atomic: every pick reads it, from every worker.
    ejected_until: AtomicU64,
}

impl EndpointState {
    /// The state of an endpoint first seen at `now`.
    pub fn new(now: Instant) -> EndpointState {
        EndpointState {
            in_flight: AtomicU32::new(0),
            created: now,
            ejected_until: AtomicU64::new(0),
        }
    }

    /// Whether it may be picked at `now`.
    pub fn available(&self, now: Instant) -> bool {
        let until = self.ejected_until.load(Ordering::Relaxed);
        until == 0 || nanos_since(self.created, now) >= until
    }

    /// Takes it out of rotation until `now + period`.
    pub fn eject(&self, now: Instant, period: Duration) {
        let until = nanos_since(self.created, now + period).max(1);
        self.ejected_until.store(until, Ordering::Relaxed);
    }

    /// Counts one request in flight until the guard is dropped.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// One request in flight; dropping it (when the response body has been
/// sent, or the request failed) counts it as finished.
#[derive(Debug)]
pub struct InFlight(Arc<EndpointState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Nanoseconds from `start` to `then` (0 if `then` is earlier).
fn nanos_since(start: Instant, then: Instant) -> u64 {
    let nanos = then.saturating_duration_since(start).as_nanos();
    u64::try_from(nanos).unwrap_or(u64::MAX)
}

/// One request's view of a backend's endpoints, built for each pick.
/// Backends seldom have more than a few pods, so up to eight candidates
/// are held on the stack; more spill into a `Vec`. It dereferences to
/// `&[Candidate]`, which is all a picker takes.
pub type Candidates = SmallVec<[Candidate; 8]>;

// ANCHOR: candidates
/// What the picker sees of `endpoints` at `now`: weights, loads, and
/// which may be picked: not ejected, and not already `tried` by this
/// request. When every untried endpoint is ejected, ejections are ignored
/// (as nginx does when all its peers are down): a request that may reach
/// a recovered pod is better than a certain 502.
pub fn candidates(
    endpoints: &[Endpoint],
    states: &[Arc<EndpointState>],
    tried: &[SocketAddr],
    now: Instant,
) -> Candidates {
    let fresh = |e: &Endpoint| !tried.contains(&e.address);
    let healthy = |i: usize| states[i].available(now);
    let any_healthy = (0..endpoints.len()).any(|i| fresh(&endpoints[i]) && healthy(i));
    (0..endpoints.len())
        .map(|i| Candidate {
            weight: endpoints[i].weight,
            in_flight: states[i].in_flight(),
            available: fresh(&endpoints[i]) && (healthy(i) || !any_healthy),
        })
        .collect()
}
// ANCHOR_END: candidates

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(last: u8) -> Endpoint {
        Endpoint {
            address: SocketAddr::from(([10, 0, 0, last], 80)),
            weight: 1,
        }
    }

    #[test]
    fn an_ejected_endpoint_returns_after_its_period() {
        // Every function here takes the time as an argument: the test
        // passes later instants instead of advancing a paused clock.
        let start = Instant::now();
        let (a, b) = (
            Arc::new(EndpointState::new(start)),
            Arc::new(EndpointState::new(start)),
        );
        let eps = [endpoint(1), endpoint(2)];
        a.eject(start, Duration::from_secs(10));
        let states = [a.clone(), b.clone()];
        let available = |tried: &[SocketAddr], now: Instant| -> Vec<bool> {
            candidates(&eps, &states, tried, now)
                .iter()
                .map(|c| c.available)
                .collect()
        };
        assert_eq!(available(&[], start), [false, true]);
        let almost = start + Duration::from_secs(10) - Duration::from_millis(1);
        assert_eq!(available(&[], almost), [false, true]);
        // Only the ejected one is left untried: try it rather than fail.
        assert_eq!(available(&[eps[1].address], start), [true, false]);
        assert_eq!(
            available(&[], start + Duration::from_secs(10)),
            [true, true]
        );
    }

    #[test]
    fn in_flight_counts_until_the_guard_drops() {
        let state = Arc::new(EndpointState::new(Instant::now()));
        let guard = state.start();
        let _other = state.start();
        assert_eq!(state.in_flight(), 2);
        drop(guard);
        assert_eq!(state.in_flight(), 1);
    }
}
