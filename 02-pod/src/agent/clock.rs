//! Time, injectable: the restart back-off is measured against a [`Clock`].
//!
//! Back-off delays are minutes long. Tests cannot wait for them, and
//! `tokio::time::pause` does not move the wall-clock timestamps the shim
//! writes when a container exits. So the agent asks a [`Clock`] for "now":
//! [`SystemClock`] in production, [`ManualClock`] in tests, which a test
//! moves forward to jump over a back-off.
//!
//! Wall-clock time is one type, [`jiff::Timestamp`], from the shim's files
//! to the status the agent writes; it becomes text only in that status.
//! Durations (a back-off, a sync period) stay `std::time::Duration`, the
//! type tokio's timers take.

use std::sync::Mutex;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// Parses a period given on a command line (the agent's `--sync-period`,
/// `--lease-period`, `orc delete --timeout`...): `500ms`, `10s`, `2m`,
/// `1h30m`, ISO 8601's `PT90S`, or bare seconds (`7`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let wrong = || format!("{text:?}: expected a duration such as 500ms, 10s, 2m or 1h30m");
    // jiff wants a unit; the agent's flags have always taken bare seconds.
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map(Duration::from_secs).map_err(|_| wrong());
    }
    let signed: SignedDuration = text.parse().map_err(|_| wrong())?;
    Duration::try_from(signed).map_err(|_| format!("{text:?}: a period cannot be negative"))
}

/// A source of wall-clock time.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The real time.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Real time plus an offset a test controls.
#[derive(Default)]
pub struct ManualClock {
    /// A std `Mutex`: held for an addition, never across an `.await`.
    offset: Mutex<Duration>,
}

impl ManualClock {
    /// Moves this clock `by` into the future.
    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::now() + *self.offset.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn durations_in_jiffs_other_forms() {
        let millis = [
            ("1h30m", 5_400_000),
            ("1.5s", 1_500),
            ("2 minutes", 120_000),
            ("PT90S", 90_000),
            ("0", 0),
        ];
        for (text, ms) in millis {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
    }

    #[test]
    fn a_wrong_duration_says_what_was_expected() {
        for wrong in ["soon", "", "10x", "7 apples"] {
            assert_eq!(
                parse_duration(wrong),
                Err(format!(
                    "{wrong:?}: expected a duration such as 500ms, 10s, 2m or 1h30m"
                ))
            );
        }
        assert_eq!(
            parse_duration("-5s"),
            Err("\"-5s\": a period cannot be negative".into())
        );
    }

    #[test]
    fn a_manual_clock_moves_when_told() {
        let clock = ManualClock::default();
        let before = clock.now();
        clock.advance(Duration::from_secs(600));
        assert!(clock.now().duration_since(before) >= SignedDuration::from_secs(600));
    }
}
