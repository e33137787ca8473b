//! When a CronJob fires: its schedule read in its time zone, the next
//! fire time (lab 05), and the most recent one it missed (Kubernetes'
//! `mostRecentScheduleTime`), all pure.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use orc_client::cron::Schedule;

/// More missed start times than this and the controller gives up on the
/// window: it records `TooManyMissedTimes` and starts nothing.
pub const MAX_MISSED: u32 = 100;

/// A schedule in its zone: `spec.schedule` with `spec.timeZone` (the
/// controller's own zone when unset, as Kubernetes).
#[derive(Debug, Clone)]
pub struct ZonedSchedule {
    schedule: Schedule,
    zone: TimeZone,
}

impl ZonedSchedule {
    /// Reads `schedule` in `zone` (None: the system's zone).
    pub fn new(schedule: &str, zone: Option<&str>) -> Result<ZonedSchedule, String> {
        let schedule = Schedule::parse(schedule).map_err(|e| e.to_string())?;
        let zone = match zone {
            Some(name) => TimeZone::get(name).map_err(|e| format!("timeZone {name:?}: {e}"))?,
            None => TimeZone::system(),
        };
        Ok(ZonedSchedule { schedule, zone })
    }

    // ANCHOR: next_fire
    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let zoned = after.to_zoned(self.zone.clone());
        self.schedule.next_after(&zoned).map(|z| z.timestamp())
    }
    // ANCHOR_END: next_fire

    /// `at` as RFC 3339 in the schedule's zone (`Z` for UTC), as Go's
    /// `time.RFC3339` writes it.
    pub fn format(&self, at: Timestamp) -> String {
        let zoned = at.to_zoned(self.zone.clone());
        if zoned.offset().seconds() == 0 {
            return zoned.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        }
        zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// The fire times in `(earliest, now]`: how many (counting stops past
/// [`MAX_MISSED`]) and the most recent, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Missed {
    pub count: u32,
    pub most_recent: Option<Timestamp>,
}

// ANCHOR: missed
/// The fire times of `schedule` after `earliest` up to `now`.
pub fn missed(schedule: &ZonedSchedule, earliest: Timestamp, now: Timestamp) -> Missed {
    let mut out = Missed {
        count: 0,
        most_recent: None,
    };
    let mut at = earliest;
    while let Some(next) = schedule.next_after(at).filter(|t| *t <= now) {
        out.count += 1;
        out.most_recent = Some(next);
        if out.count > MAX_MISSED {
            break;
        }
        at = next;
    }
    out
}
// ANCHOR_END: missed

/// The lab's question: when does `schedule` in `zone` next fire after
/// `after`?
pub fn next_fire(schedule: &str, zone: Option<&str>, after: Timestamp) -> Option<Timestamp> {
    ZonedSchedule::new(schedule, zone).ok()?.next_after(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn the_next_fire_is_in_the_schedules_zone() {
        let at = t("2024-06-01T06:30:00Z");
        // 09:00 in Tokyo (UTC+9) is 00:00 UTC: already past, so tomorrow.
        let next = next_fire("0 9 * * *", Some("Asia/Tokyo"), at).unwrap();
        assert_eq!(next, t("2024-06-02T00:00:00Z"));
        assert_eq!(
            next_fire("@hourly", Some("UTC"), at),
            Some(t("2024-06-01T07:00:00Z"))
        );
    }

    #[test]
    fn missed_times_are_counted_up_to_the_limit() {
        let s = ZonedSchedule::new("* * * * *", Some("UTC")).unwrap();
        let m = missed(&s, t("2024-01-01T00:00:30Z"), t("2024-01-01T00:03:10Z"));
        assert_eq!(m.count, 3);
        assert_eq!(m.most_recent, Some(t("2024-01-01T00:03:00Z")));
        let m = missed(&s, t("2024-01-01T00:00:00Z"), t("2024-01-02T00:00:00Z"));
        assert_eq!(m.count, MAX_MISSED + 1);
        assert_eq!(
            missed(&s, t("2024-01-01T00:00:00Z"), t("2024-01-01T00:00:59Z")).count,
            0
        );
    }
}
