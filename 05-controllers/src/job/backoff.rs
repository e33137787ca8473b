//! The pod-failure back-off: after a pod of a Job fails, the next one is
//! created only after a delay that doubles with every failure since the
//! last success: 10 s, 20 s, 40 s, ... capped at 6 minutes (Kubernetes'
//! `DefaultJobPodFailureBackOff` and `MaxJobPodFailureBackOff`). A crash
//! loop then costs a pod every 6 minutes, not a pod per second.

use std::time::Duration;

use jiff::Timestamp;

/// The first delay.
pub const INITIAL: Duration = Duration::from_secs(10);
/// The longest delay.
pub const CAP: Duration = Duration::from_secs(360);

// ANCHOR: delay
/// The delay after `failures` consecutive failures (since the last
/// success): none after none, then 10 s doubling, at most 6 minutes.
pub fn delay(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    // 2^(failures-1) overflows quickly; past 2^6 the cap holds anyway.
    let factor = 1u32 << (failures - 1).min(16);
    (INITIAL * factor).min(CAP)
}
// ANCHOR_END: delay

/// The failures since the last success, and when the last one ended, from
/// the (finish time, succeeded) of the Job's ended pods in any order.
pub fn failures_since_success(ended: &[(Timestamp, bool)]) -> (u32, Option<Timestamp>) {
    let mut sorted = ended.to_vec();
    sorted.sort();
    let failures: Vec<Timestamp> = sorted
        .iter()
        .rev()
        .take_while(|(_, succeeded)| !succeeded)
        .map(|(at, _)| *at)
        .collect();
    (failures.len() as u32, failures.first().copied())
}

/// How long until a new pod may be created, at `now`: zero if already.
pub fn remaining(ended: &[(Timestamp, bool)], now: Timestamp) -> Duration {
    let (failures, last) = failures_since_success(ended);
    let Some(last) = last else {
        return Duration::ZERO;
    };
    let waited = now.duration_since(last);
    let waited = Duration::try_from(waited).unwrap_or(Duration::ZERO);
    delay(failures).saturating_sub(waited)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_up_to_six_minutes() {
        let secs: Vec<u64> = (0..8).map(|n| delay(n).as_secs()).collect();
        assert_eq!(secs, [0, 10, 20, 40, 80, 160, 320, 360]);
        assert_eq!(delay(u32::MAX), CAP);
    }

    #[test]
    fn a_success_resets_the_count() {
        let t = |s: i64| Timestamp::from_second(s).unwrap();
        let ended = [
            (t(30), false),
            (t(10), false),
            (t(20), true),
            (t(40), false),
        ];
        assert_eq!(failures_since_success(&ended), (2, Some(t(40))));
        // Two failures: 20 s after the last, 5 s of which have passed.
        assert_eq!(remaining(&ended, t(45)), Duration::from_secs(15));
        assert_eq!(remaining(&ended, t(99)), Duration::ZERO);
    }
}
