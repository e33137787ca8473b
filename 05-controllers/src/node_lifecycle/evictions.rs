//! What the controller remembers between looks at the zones: each zone's
//! state and its eviction rate limit. The decisions are `zones.rs`'s;
//! this file only keeps their results.

use std::collections::BTreeMap;
use std::sync::Mutex;

use jiff::Timestamp;

use super::rate_limit::{Refused, TokenBucket};
use super::zones::{self, EvictionRates, Transition, ZoneState};

/// Every zone's state and rate limit. A std Mutex: held for a map update,
/// never across an await.
#[derive(Debug)]
pub struct Evictions {
    rates: EvictionRates,
    book: Mutex<Book>,
}

#[derive(Debug, Default)]
struct Book {
    states: BTreeMap<String, ZoneState>,
    /// Never dropped, as Kubernetes keeps a zone's queue: a zone that
    /// empties and fills again keeps its rate limit.
    limiters: BTreeMap<String, TokenBucket>,
}

impl Evictions {
    pub fn new(rates: EvictionRates) -> Evictions {
        Evictions {
            rates,
            book: Mutex::new(Book::default()),
        }
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Judges every zone from its nodes' `Ready` statuses at `now`, sets
    /// each zone's rate accordingly, and answers what changed.
    pub fn observe(
        &self,
        ready: &BTreeMap<String, Vec<Option<&str>>>,
        now: Timestamp,
    ) -> Transition {
        let mut book = self.book();
        let (states, transition) = zones::handle_disruption(&book.states, ready, &self.rates);
        for zone in states.keys() {
            book.limiters
                .entry(zone.clone())
                .or_insert_with(|| TokenBucket::new(self.rates.node_eviction_rate, now));
        }
        let mut swap = |zone: &String, qps: f64| {
            if let Some(limiter) = book.limiters.get_mut(zone) {
                limiter.swap(qps, now);
            }
        };
        match &transition {
            Transition::Same => {}
            Transition::EnterMasterDisruption => {
                for zone in states.keys() {
                    swap(zone, 0.0);
                }
            }
            Transition::ExitMasterDisruption(rates) => {
                for (zone, qps) in rates {
                    swap(zone, *qps);
                }
            }
            Transition::Zones(changed) => {
                for (zone, _, qps) in changed {
                    swap(zone, *qps);
                }
            }
        }
        book.states = states;
        transition
    }

    /// Whether every zone is dark: master disruption mode.
    pub fn master_disruption(&self) -> bool {
        let book = self.book();
        !book.states.is_empty()
            && book
                .states
                .values()
                .all(|s| *s == ZoneState::FullDisruption)
    }

    /// Takes `zone`'s token for one more node to taint `NoExecute` at
    /// `now` (a zone not judged yet starts at the normal rate).
    pub fn try_take(&self, zone: &str, now: Timestamp) -> Result<(), Refused> {
        let mut book = self.book();
        let rate = self.rates.node_eviction_rate;
        book.limiters
            .entry(zone.to_string())
            .or_insert_with(|| TokenBucket::new(rate, now))
            .try_take(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_disruption_stops_every_zone_and_its_end_restarts_them_drained() {
        let t0 = Timestamp::from_second(1_800_000_000).unwrap();
        let evictions = Evictions::new(EvictionRates::default());
        let zone = |ready: Vec<Option<&'static str>>| BTreeMap::from([(String::new(), ready)]);
        let t = evictions.observe(&zone(vec![Some("True"), Some("Unknown")]), t0);
        assert_eq!(
            t,
            Transition::Zones(vec![(String::new(), ZoneState::Normal, 0.1)])
        );
        assert!(!evictions.master_disruption());
        assert_eq!(evictions.try_take("", t0), Ok(()));
        let t = evictions.observe(&zone(vec![Some("Unknown"), Some("Unknown")]), t0);
        assert_eq!(t, Transition::EnterMasterDisruption);
        assert!(evictions.master_disruption());
        assert_eq!(evictions.try_take("", t0), Err(Refused::Stopped));
        let t = evictions.observe(&zone(vec![Some("True"), Some("Unknown")]), t0);
        assert!(matches!(t, Transition::ExitMasterDisruption(_)));
        assert!(matches!(evictions.try_take("", t0), Err(Refused::For(_))));
    }
}
