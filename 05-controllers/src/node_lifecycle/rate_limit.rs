//! One zone's eviction rate limit: a token bucket on the controller's
//! clock.
//!
//! Kubernetes keeps a queue of nodes to taint `NoExecute` per zone, drained
//! through client-go's token bucket limiter with a burst of one
//! (`EvictionRateLimiterBurst`): the first node goes at once, each next one
//! waits `1 / rate` seconds. A rate of 0 never lets one through. Times come
//! from the injected clock, so tests step over the waits.

use std::time::Duration;

use jiff::Timestamp;

/// A bucket that holds at most one token and refills at `qps` tokens a
/// second.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    /// Tokens per second; 0 stops everything.
    qps: f64,
    /// Tokens in the bucket at `at` (at most 1).
    tokens: f64,
    at: Timestamp,
}

/// What a bucket without a token answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Refused {
    /// A token comes after this long.
    For(Duration),
    /// The rate is 0: none comes until the rate changes.
    Stopped,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(qps: f64, now: Timestamp) -> TokenBucket {
        TokenBucket {
            qps: qps.max(0.0),
            tokens: 1.0,
            at: now,
        }
    }

    /// The bucket's rate.
    pub fn qps(&self) -> f64 {
        self.qps
    }

    /// Tokens at `now`, refilled since the last look.
    fn refill(&mut self, now: Timestamp) {
        let elapsed = now.duration_since(self.at).as_secs_f64().max(0.0);
        self.tokens = (self.tokens + elapsed * self.qps).min(1.0);
        self.at = now.max(self.at);
    }

    // ANCHOR: try_take
    /// Takes a token at `now`, or says how long until there is one.
    pub fn try_take(&mut self, now: Timestamp) -> Result<(), Refused> {
        if self.qps <= 0.0 {
            return Err(Refused::Stopped);
        }
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - self.tokens) / self.qps;
        Err(Refused::For(Duration::from_secs_f64(wait)))
    }
    // ANCHOR_END: try_take

    /// Changes the rate to `qps` at `now`, as Kubernetes' `SwapLimiter`: a
    /// new bucket, but one that was empty stays empty (else a rate change
    /// would hand out a free token).
    pub fn swap(&mut self, qps: f64, now: Timestamp) {
        if self.qps == qps.max(0.0) {
            return;
        }
        let was_empty = self.qps <= 0.0 || self.try_take(now).is_err();
        *self = TokenBucket::new(qps, now);
        if was_empty {
            let _ = self.try_take(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: f64) -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap() + jiff::SignedDuration::from_secs_f64(secs)
    }

    /// The wait a refusal names, in seconds to the millisecond.
    fn waits(r: Result<(), Refused>) -> f64 {
        match r {
            Err(Refused::For(d)) => (d.as_secs_f64() * 1000.0).round() / 1000.0,
            other => panic!("not a wait: {other:?}"),
        }
    }

    #[test]
    fn one_at_once_then_one_every_ten_seconds() {
        let mut bucket = TokenBucket::new(0.1, at(0.0));
        assert_eq!(bucket.try_take(at(0.0)), Ok(()));
        assert_eq!(waits(bucket.try_take(at(4.0))), 6.0);
        assert_eq!(bucket.try_take(at(10.0)), Ok(()));
        assert_eq!(bucket.try_take(at(100.0)), Ok(()));
        assert_eq!(
            waits(bucket.try_take(at(100.0))),
            10.0,
            "a burst of one: idle time saves no more than one token"
        );
    }

    #[test]
    fn a_zero_rate_stops_and_a_swap_gives_no_free_token() {
        let mut bucket = TokenBucket::new(0.1, at(0.0));
        bucket.swap(0.0, at(0.0));
        assert_eq!(bucket.try_take(at(1000.0)), Err(Refused::Stopped));
        bucket.swap(0.1, at(1000.0));
        assert_eq!(waits(bucket.try_take(at(1000.0))), 10.0);
        let mut full = TokenBucket::new(0.1, at(0.0));
        full.swap(0.01, at(0.0));
        assert_eq!(full.qps(), 0.01);
        assert_eq!(full.try_take(at(0.0)), Ok(()), "a full bucket stays full");
    }
}
