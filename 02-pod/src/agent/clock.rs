//! Time, injectable: the restart back-off is measured against a [`Clock`].
//!
//! Back-off delays are minutes long. Tests cannot wait for them, and
//! `tokio::time::pause` does not move the wall-clock timestamps the runtime
//! writes when a container exits. So the agent asks a [`Clock`] for "now":
//! [`SystemClock`] in production, [`ManualClock`] in tests, which a test
//! moves forward to jump over a back-off.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Parses a period given on a command line: `500ms`, `10s`, `2m`, or bare
/// seconds (the agent's `--sync-period`, `--lease-period`...).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let wrong = || format!("{text:?}: expected a duration such as 500ms, 10s or 2m");
    let n: u64 = number.parse().map_err(|_| wrong())?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(wrong()),
    }
}

/// A source of wall-clock time.
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;
}

/// The real time.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
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
    fn now(&self) -> SystemTime {
        SystemTime::now() + *self.offset.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// RFC 3339 (UTC, whole seconds), the format of Kubernetes timestamps.
pub fn rfc3339(time: SystemTime) -> String {
    let at = jiff::Timestamp::try_from(time).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!("{at:.0}")
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
}
