//! Time as the API writes it.
//!
//! Every timestamp in a Kubernetes object is text: `metav1.Time` is RFC 3339
//! in UTC to the second (`2024-05-01T12:00:00Z`, `creationTimestamp`,
//! `lastTransitionTime`), `metav1.MicroTime` keeps microseconds (a Lease's
//! `renewTime`). orc holds time as one type, [`jiff::Timestamp`], and turns
//! it into text only at the edge, here, so there is one way to write a
//! timestamp and one way to read it back.

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

// ANCHOR: timestamp
/// `metav1.Time`: RFC 3339, UTC, whole seconds (`2024-05-01T12:00:00Z`).
/// Go's `time.Time.Format(time.RFC3339)` drops the fraction, so do we.
pub fn format(time: Timestamp) -> String {
    whole_seconds(time).to_string()
}

/// `metav1.MicroTime`: RFC 3339, UTC, six fractional digits
/// (`2024-05-01T12:00:00.123456Z`).
pub fn format_micro(time: Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}
// ANCHOR_END: timestamp

/// `time` with its fraction of a second dropped (towards the past).
pub fn whole_seconds(time: Timestamp) -> Timestamp {
    Timestamp::from_second(time.as_second()).unwrap_or(time)
}

/// A timestamp read back from an object's text; `None` when it is not
/// RFC 3339.
pub fn parse(text: &str) -> Option<Timestamp> {
    text.parse().ok()
}

/// The timestamp at `pointer` in `obj` (`/metadata/creationTimestamp`).
pub fn at(obj: &Value, pointer: &str) -> Option<Timestamp> {
    obj.pointer(pointer).and_then(Value::as_str).and_then(parse)
}

/// `time` moved by `secs` seconds (a grace period, a deadline), held
/// between the Unix epoch and the last instant RFC 3339 can write: a
/// client may send any `gracePeriodSeconds`, and no value may overflow.
pub fn add_seconds(time: Timestamp, secs: i64) -> Timestamp {
    let moved = time
        .checked_add(SignedDuration::from_secs(secs))
        .unwrap_or(if secs < 0 {
            Timestamp::UNIX_EPOCH
        } else {
            Timestamp::MAX
        });
    moved.max(Timestamp::UNIX_EPOCH)
}

/// Whole seconds from `earlier` to `later` (negative when `later` is the
/// earlier one): what ages, deadlines and back-offs count in.
pub fn seconds_between(earlier: Timestamp, later: Timestamp) -> i64 {
    later.as_second() - earlier.as_second()
}

// ANCHOR: human_duration
/// `kubectl`'s short ages: `45s`, `3m12s`, `5h`, `12d`, as Kubernetes'
/// `duration.HumanDuration` writes them: more precision while the number
/// is small, less as it grows.
pub fn human_duration(secs: i64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86_400);
    match secs {
        s if s < -1 => "<invalid>".into(),
        s if s < 0 => "0s".into(),
        s if s < 120 => format!("{s}s"),
        _ if m < 10 && secs % 60 != 0 => format!("{m}m{}s", secs % 60),
        _ if m < 180 => format!("{m}m"),
        _ if h < 8 && m % 60 != 0 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if h < 192 && h % 24 != 0 => format!("{d}d{}h", h % 24),
        _ if d < 730 => format!("{d}d"),
        _ if d % 365 != 0 && d < 8 * 365 => format!("{}y{}d", d / 365, d % 365),
        _ => format!("{}y", d / 365),
    }
}
// ANCHOR_END: human_duration

/// How long before `now` the timestamp at `pointer` was, as kubectl prints
/// ages, or `<unknown>` when it is missing (Kubernetes'
/// `translateTimestampSince`).
pub fn age_at(obj: &Value, pointer: &str, now: Timestamp) -> String {
    at(obj, pointer)
        .map(|then| human_duration(seconds_between(then, now)))
        .unwrap_or_else(|| "<unknown>".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_second(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn metav1_time_is_whole_seconds_in_utc() {
        assert_eq!(format(at_second(0)), "1970-01-01T00:00:00Z");
        assert_eq!(format(at_second(951_782_400)), "2000-02-29T00:00:00Z");
        let with_fraction = Timestamp::new(1_714_564_800, 999_999_999).unwrap();
        assert_eq!(format(with_fraction), "2024-05-01T12:00:00Z");
    }

    #[test]
    fn micro_time_keeps_six_digits() {
        let t = Timestamp::new(1_700_000_000, 5_000_000).unwrap();
        assert_eq!(format_micro(t), "2023-11-14T22:13:20.005000Z");
        assert_eq!(format_micro(at_second(0)), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn parse_reads_back_what_format_writes() {
        for secs in [0, 951_782_400, 1_714_564_800, 1_800_000_123] {
            assert_eq!(parse(&format(at_second(secs))), Some(at_second(secs)));
        }
        assert_eq!(parse("yesterday"), None);
    }

    #[test]
    fn adding_seconds_never_overflows() {
        assert_eq!(add_seconds(at_second(1_000), 30), at_second(1_030));
        assert_eq!(add_seconds(at_second(1_000), -5_000), Timestamp::UNIX_EPOCH);
        assert_eq!(add_seconds(at_second(1_000), i64::MAX), Timestamp::MAX);
        assert_eq!(
            add_seconds(at_second(1_000), i64::MIN),
            Timestamp::UNIX_EPOCH
        );
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 120), "3h2m");
        assert_eq!(human_duration(30 * 3600), "30h");
        assert_eq!(human_duration(3 * 86_400 + 3600), "3d1h");
        assert_eq!(human_duration(40 * 86_400), "40d");
        assert_eq!(human_duration(800 * 86_400), "2y70d");
        assert_eq!(human_duration(-5), "<invalid>");
    }

    #[test]
    fn ages_of_objects() {
        let obj = serde_json::json!({"metadata": {"creationTimestamp": "2024-05-01T12:00:00Z"}});
        let now = at_second(1_714_564_800 + 90);
        assert_eq!(age_at(&obj, "/metadata/creationTimestamp", now), "90s");
        assert_eq!(
            age_at(&obj, "/metadata/deletionTimestamp", now),
            "<unknown>"
        );
    }
}
