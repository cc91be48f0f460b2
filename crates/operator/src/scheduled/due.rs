//! When runs are due: a thin adapter over croner (cron patterns in a time zone, daylight-saving
//! transitions included) that adds what croner lacks: `@every <duration>` anchored on the schedule's
//! own due times, and the zone choice of Kubeflow (a `CRON_TZ=`/`TZ=` prefix, else `spec.timeZone`,
//! `Local` being the operator's zone).
//!
//! Daylight saving, as croner does it (OCPS): a fixed-time pattern whose wall-clock time is skipped
//! runs at the first instant after the gap, and one whose time repeats runs once, at the earlier
//! instant. Patterns with a wildcard or step in the hour run in both repeated hours.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use sparkplane_api::defaults;
use sparkplane_api::schedule::{self, ScheduleError, ScheduleKind};

/// Why no due time can be worked out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DueError {
    #[error(transparent)]
    Invalid(#[from] ScheduleError),
    #[error("{schedule:?} never comes due: no date matches it")]
    NoDueTime { schedule: String },
}

/// A schedule resolved to its zone, ready to give due times.
#[derive(Debug, Clone)]
pub struct DueTimes {
    text: String,
    kind: ScheduleKind,
    zone: TimeZone,
}

impl DueTimes {
    /// Parses `schedule` and resolves its zone: the prefix's, else `time_zone` (default `Local`).
    pub fn new(
        schedule: &str,
        time_zone: Option<&str>,
        local: &TimeZone,
    ) -> Result<Self, DueError> {
        let parsed = schedule::parse(schedule)?;
        let zone_name = parsed
            .zone
            .as_deref()
            .or(time_zone)
            .unwrap_or(defaults::TIME_ZONE);
        let zone = schedule::time_zone(zone_name, local)?;
        // An explicit spec.timeZone must be valid even when a prefix overrides it, as Kubeflow checks it.
        if let (Some(_), Some(name)) = (&parsed.zone, time_zone) {
            schedule::time_zone(name, local)?;
        }
        Ok(Self {
            text: schedule.to_string(),
            kind: parsed.kind,
            zone,
        })
    }

    /// Whether this is `@every <duration>` rather than a cron pattern.
    pub fn is_period(&self) -> bool {
        matches!(self.kind, ScheduleKind::Every(_))
    }

    /// The zone due times are worked out in.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// The first due time strictly after `after`. `@every` counts whole periods from `anchor` (a past
    /// or planned due time) so runs do not drift; without one it counts from `after`.
    pub fn next_after(
        &self,
        after: Timestamp,
        anchor: Option<Timestamp>,
    ) -> Result<Timestamp, DueError> {
        match &self.kind {
            ScheduleKind::Every(period) => {
                let period = period.as_secs() as i64;
                let anchor = anchor.unwrap_or(after).as_second();
                let after = after.as_second();
                let next = if anchor > after {
                    anchor
                } else {
                    anchor + ((after - anchor) / period + 1) * period
                };
                self.at_second(next)
            }
            ScheduleKind::Cron(cron) => cron
                .find_next_occurrence(&after.to_zoned(self.zone.clone()), false)
                .map(|zoned| zoned.timestamp())
                .map_err(|_| self.no_due_time()),
        }
    }

    /// The latest due time at or before `now`, and not before `first` (a due time the schedule
    /// planned): the one run to create after any number of missed due times.
    pub fn latest_due(&self, first: Timestamp, now: Timestamp) -> Result<Timestamp, DueError> {
        if now <= first {
            return Ok(first);
        }
        match &self.kind {
            ScheduleKind::Every(period) => {
                let period = period.as_secs() as i64;
                let first_second = first.as_second();
                let behind = now.as_second() - first_second;
                self.at_second(first_second + behind / period * period)
            }
            ScheduleKind::Cron(cron) => {
                let latest = cron
                    .find_previous_occurrence(&now.to_zoned(self.zone.clone()), true)
                    .map(|zoned| zoned.timestamp())
                    .unwrap_or(first);
                Ok(latest.max(first))
            }
        }
    }

    fn at_second(&self, second: i64) -> Result<Timestamp, DueError> {
        Timestamp::from_second(second).map_err(|_| self.no_due_time())
    }

    fn no_due_time(&self) -> DueError {
        DueError::NoDueTime {
            schedule: self.text.clone(),
        }
    }
}

/// Whole seconds: due times, run names and status times all have that precision.
pub fn whole_seconds(time: Timestamp) -> Timestamp {
    time - SignedDuration::new(0, time.subsec_nanosecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    fn utc(schedule: &str) -> DueTimes {
        DueTimes::new(schedule, Some("UTC"), &TimeZone::UTC).expect("valid schedule")
    }

    fn paris() -> TimeZone {
        TimeZone::get("Europe/Paris").expect("tzdb has Europe/Paris")
    }

    /// Successive due times from `start`.
    fn series(due: &DueTimes, start: &str, count: usize) -> Vec<Timestamp> {
        let mut out = Vec::new();
        let mut after = at(start);
        for _ in 0..count {
            after = due.next_after(after, None).expect("due time");
            out.push(after);
        }
        out
    }

    #[test]
    fn five_fields_and_descriptors() {
        let cases = [
            (
                "*/15 * * * *",
                "2025-01-01T10:07:00Z",
                "2025-01-01T10:15:00Z",
            ),
            (
                "0 9 * * MON-FRI",
                "2025-01-03T10:00:00Z",
                "2025-01-06T09:00:00Z",
            ),
            ("@hourly", "2025-01-01T10:07:00Z", "2025-01-01T11:00:00Z"),
            ("@daily", "2025-01-01T10:07:00Z", "2025-01-02T00:00:00Z"),
            ("@midnight", "2025-01-01T10:07:00Z", "2025-01-02T00:00:00Z"),
            ("@weekly", "2025-01-01T10:07:00Z", "2025-01-05T00:00:00Z"),
            ("@monthly", "2025-01-01T10:07:00Z", "2025-02-01T00:00:00Z"),
            ("@yearly", "2025-01-01T10:07:00Z", "2026-01-01T00:00:00Z"),
            ("@annually", "2025-01-01T10:07:00Z", "2026-01-01T00:00:00Z"),
            // Day of month and day of week both set: either matches, as in Vixie cron and robfig.
            (
                "0 0 13 * FRI",
                "2025-06-01T00:00:00Z",
                "2025-06-06T00:00:00Z",
            ),
            // Strictly after: a due time equal to `after` is not due again.
            ("0 * * * *", "2025-01-01T10:00:00Z", "2025-01-01T11:00:00Z"),
        ];
        for (schedule, after, expected) in cases {
            assert_eq!(
                utc(schedule).next_after(at(after), None),
                Ok(at(expected)),
                "{schedule} after {after}"
            );
        }
    }

    #[test]
    fn zone_choice() {
        let local = TimeZone::fixed(jiff::tz::offset(-5));
        let after = at("2025-01-01T12:00:00Z");
        let next = |schedule: &str, zone: Option<&str>| {
            DueTimes::new(schedule, zone, &local)
                .expect("valid")
                .next_after(after, None)
                .expect("due")
        };
        // Default and `Local`: the operator's zone (here UTC-5).
        assert_eq!(next("0 9 * * *", None), at("2025-01-01T14:00:00Z"));
        assert_eq!(next("0 9 * * *", Some("Local")), at("2025-01-01T14:00:00Z"));
        assert_eq!(
            next("0 9 * * *", Some("Asia/Tokyo")),
            at("2025-01-02T00:00:00Z")
        );
        // A prefix wins over spec.timeZone.
        assert_eq!(
            next("CRON_TZ=Asia/Tokyo 0 9 * * *", Some("UTC")),
            at("2025-01-02T00:00:00Z")
        );
        assert_eq!(
            next("TZ=Europe/Paris 0 9 * * *", None),
            at("2025-01-02T08:00:00Z")
        );
    }

    #[test]
    fn bad_zones_are_named() {
        for (schedule, zone) in [
            ("@daily", Some("Mars/Olympus")),
            ("CRON_TZ=Mars/Olympus @daily", None),
            ("CRON_TZ=UTC @daily", Some("Mars/Olympus")),
        ] {
            let error = DueTimes::new(schedule, zone, &TimeZone::UTC).expect_err(schedule);
            assert!(error.to_string().contains("\"Mars/Olympus\""), "{error}");
        }
    }

    #[test]
    fn a_pattern_that_never_matches_has_no_due_time() {
        let error = utc("0 0 30 2 *")
            .next_after(at("2025-01-01T00:00:00Z"), None)
            .expect_err("February has no 30th");
        assert!(error.to_string().contains("\"0 0 30 2 *\""), "{error}");
    }

    #[test]
    fn every_counts_from_its_anchor() {
        let every = utc("@every 3s");
        let anchor = at("2025-01-01T00:00:00Z");
        // Without an anchor: one period after.
        assert_eq!(
            every.next_after(at("2025-01-01T00:00:10Z"), None),
            Ok(at("2025-01-01T00:00:13Z"))
        );
        // With one: the next whole period, however late `after` is.
        assert_eq!(
            every.next_after(at("2025-01-01T00:00:10Z"), Some(anchor)),
            Ok(at("2025-01-01T00:00:12Z"))
        );
        assert_eq!(
            every.next_after(at("2025-01-01T00:00:09Z"), Some(anchor)),
            Ok(at("2025-01-01T00:00:12Z"))
        );
        // An anchor in the future is the next due time.
        assert_eq!(
            every.next_after(at("2024-12-31T23:59:00Z"), Some(anchor)),
            Ok(anchor)
        );
        // A zone prefix changes nothing for a period.
        assert_eq!(
            utc("CRON_TZ=Asia/Tokyo @every 1h").next_after(anchor, None),
            Ok(at("2025-01-01T01:00:00Z"))
        );
    }

    #[test]
    fn latest_due_after_downtime() {
        let every = utc("@every 3s");
        let first = at("2025-01-01T00:00:00Z");
        assert_eq!(
            every.latest_due(first, at("2025-01-01T00:00:10Z")),
            Ok(at("2025-01-01T00:00:09Z"))
        );
        assert_eq!(every.latest_due(first, first), Ok(first));
        let hourly = utc("@hourly");
        assert_eq!(
            hourly.latest_due(first, at("2025-01-01T05:30:00Z")),
            Ok(at("2025-01-01T05:00:00Z"))
        );
        assert_eq!(
            hourly.latest_due(first, at("2025-01-01T05:00:00Z")),
            Ok(at("2025-01-01T05:00:00Z"))
        );
        // Never before the planned due time, even if the pattern changed since.
        let daily = utc("0 12 * * *");
        assert_eq!(
            daily.latest_due(at("2025-01-01T13:00:00Z"), at("2025-01-01T14:00:00Z")),
            Ok(at("2025-01-01T13:00:00Z"))
        );
    }

    #[test]
    fn daily_at_0230_in_paris_runs_once_on_each_transition_day() {
        let due = DueTimes::new("30 2 * * *", Some("Europe/Paris"), &TimeZone::UTC).expect("valid");
        // Spring forward, 2025-03-30: 02:00 CET becomes 03:00 CEST, so 02:30 does not exist; the
        // run is at the first instant after the gap, 03:00 CEST.
        let spring = series(&due, "2025-03-28T12:00:00Z", 4);
        assert_eq!(
            spring,
            vec![
                at("2025-03-29T01:30:00Z"), // 02:30 CET
                at("2025-03-30T01:00:00Z"), // 03:00 CEST
                at("2025-03-31T00:30:00Z"), // 02:30 CEST
                at("2025-04-01T00:30:00Z"),
            ]
        );
        let local: Vec<String> = spring
            .iter()
            .map(|time| time.to_zoned(paris()).strftime("%F %T %Z").to_string())
            .collect();
        assert_eq!(
            local,
            [
                "2025-03-29 02:30:00 CET",
                "2025-03-30 03:00:00 CEST",
                "2025-03-31 02:30:00 CEST",
                "2025-04-01 02:30:00 CEST"
            ]
        );
        // Fall back, 2025-10-26: 03:00 CEST becomes 02:00 CET, so 02:30 happens twice; the run is
        // once, at the first (CEST).
        assert_eq!(
            series(&due, "2025-10-24T12:00:00Z", 4),
            vec![
                at("2025-10-25T00:30:00Z"), // 02:30 CEST
                at("2025-10-26T00:30:00Z"), // 02:30 CEST, the first of the two
                at("2025-10-27T01:30:00Z"), // 02:30 CET
                at("2025-10-28T01:30:00Z"),
            ]
        );
        // From inside the repeated hour (between the two 02:30s) the next run is the next day's.
        assert_eq!(
            due.next_after(at("2025-10-26T00:45:00Z"), None),
            Ok(at("2025-10-27T01:30:00Z"))
        );
    }

    #[test]
    fn hourly_in_paris_follows_the_clock_through_both_transitions() {
        let due = DueTimes::new("0 * * * *", Some("Europe/Paris"), &TimeZone::UTC).expect("valid");
        // Spring: 01:00 CET, then 03:00 CEST, one real hour later: no run is lost or doubled.
        assert_eq!(
            series(&due, "2025-03-29T23:30:00Z", 3),
            vec![
                at("2025-03-30T00:00:00Z"),
                at("2025-03-30T01:00:00Z"),
                at("2025-03-30T02:00:00Z"),
            ]
        );
        // Fall: a wildcard hour runs in both 02:00s, so runs stay one real hour apart.
        assert_eq!(
            series(&due, "2025-10-25T23:30:00Z", 4),
            vec![
                at("2025-10-26T00:00:00Z"), // 02:00 CEST
                at("2025-10-26T01:00:00Z"), // 02:00 CET
                at("2025-10-26T02:00:00Z"),
                at("2025-10-26T03:00:00Z"),
            ]
        );
    }

    #[test]
    fn whole_seconds_drops_the_fraction() {
        assert_eq!(
            whole_seconds(at("2025-01-01T00:00:01.999Z")),
            at("2025-01-01T00:00:01Z")
        );
    }
}
