//! CronJob schedules: what the API server validates and the CronJob
//! controller fires on, parsed by one function so the two never disagree.
//!
//! The parsing is the `croner` crate's, set up for Kubernetes' dialect
//! (robfig/cron's standard parser): exactly five fields (minute, hour,
//! day of month, month, day of week), the `@hourly`-style macros, and
//! Vixie cron's rule that when both day fields are restricted a day
//! matching *either* one fires (`0 0 13 * 5`: every 13th *and* every
//! Friday).

use croner::parser::{CronParser, Seconds, Year};
use jiff::Zoned;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule(croner::Cron);

/// Why a schedule was refused; the text is what `kubectl` shows.
#[derive(Debug, thiserror::Error)]
#[error("unparseable schedule: {0}")]
pub struct ScheduleError(String);

impl Schedule {
    /// Parses a five-field schedule or a macro (`@hourly`, `@daily`, ...).
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .dom_and_dow(false)
            .build();
        parser
            .parse(text)
            .map(Schedule)
            .map_err(|e| ScheduleError(e.to_string()))
    }

    /// The first time strictly after `after` that the schedule fires, in
    /// `after`'s time zone; None if it never does (`0 0 30 2 *`).
    pub fn next_after(&self, after: &Zoned) -> Option<Zoned> {
        self.0.find_next_occurrence(after, false).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Zoned {
        text.parse().unwrap()
    }

    #[test]
    fn five_fields_and_macros_parse_six_do_not() {
        assert!(Schedule::parse("*/5 * * * *").is_ok());
        assert!(Schedule::parse("@hourly").is_ok());
        assert!(Schedule::parse("0 */5 * * * *").is_err());
        assert!(Schedule::parse("61 * * * *").is_err());
    }

    #[test]
    fn either_day_field_fires_when_both_are_restricted() {
        // "On the 1st, and on Fridays": 2024-11-01 is both, 11-08 a Friday.
        let s = Schedule::parse("0 0 1 * 5").unwrap();
        let next = s.next_after(&at("2024-10-29T12:00:00[UTC]")).unwrap();
        assert_eq!(next.to_string(), "2024-11-01T00:00:00+00:00[UTC]"); // a Friday and the 1st
        let next = s.next_after(&at("2024-11-02T00:00:00[UTC]")).unwrap();
        assert_eq!(next.to_string(), "2024-11-08T00:00:00+00:00[UTC]"); // a Friday only
    }

    #[test]
    fn next_after_is_strict_and_zoned() {
        let s = Schedule::parse("0 9 * * *").unwrap();
        let next = s
            .next_after(&at("2024-01-01T09:00:00[Europe/Paris]"))
            .unwrap();
        assert_eq!(next.to_string(), "2024-01-02T09:00:00+01:00[Europe/Paris]");
    }
}
