//! The schedule of a ScheduledSparkApplication, parsed as Kubeflow reads it (robfig/cron's standard
//! parser): five cron fields, a descriptor such as `@hourly`, or `@every <duration>`, optionally
//! after `CRON_TZ=<zone> ` or `TZ=<zone> `. Pure: working out due times is the operator's job.

use std::time::Duration;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::tz::TimeZone;

/// The `timeZone` value that means the operator's own zone.
pub const LOCAL_ZONE: &str = "Local";

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The zone of a `CRON_TZ=`/`TZ=` prefix; it wins over `spec.timeZone`.
    pub zone: Option<String>,
    /// When runs are due.
    pub kind: ScheduleKind,
}

/// When runs are due.
#[derive(Debug, Clone)]
pub enum ScheduleKind {
    /// Wall-clock times matching a cron pattern (descriptors included).
    Cron(Box<Cron>),
    /// A fixed period, in whole seconds and at least one, as robfig/cron rounds it.
    Every(Duration),
}

/// Why a schedule or a time zone is not acceptable. Every message quotes the bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("{0:?} has a time zone but no schedule")]
    ZoneWithoutSchedule(String),
    #[error("{0:?} has an empty time zone")]
    EmptyZone(String),
    #[error("{schedule:?}: {duration:?} is not a positive duration such as 90s or 1h30m")]
    BadEvery { schedule: String, duration: String },
    #[error(
        "{0:?} is not a cron schedule: expected five fields (minute hour day-of-month month day-of-week)"
    )]
    FieldCount(String),
    #[error("{schedule:?} is not a cron schedule: {problem}")]
    Cron { schedule: String, problem: String },
    #[error("{zone:?} is not a known time zone (an IANA name such as Europe/Paris, or Local)")]
    UnknownZone { zone: String },
}

/// Parses a schedule; the zone of a `CRON_TZ=` prefix is not looked up (see [`time_zone`]).
pub fn parse(schedule: &str) -> Result<Schedule, ScheduleError> {
    let mut expression = schedule.trim();
    let mut zone = None;
    for prefix in ["CRON_TZ=", "TZ="] {
        if let Some(rest) = expression.strip_prefix(prefix) {
            let (name, rest) = rest
                .split_once(' ')
                .ok_or_else(|| ScheduleError::ZoneWithoutSchedule(schedule.to_string()))?;
            if name.is_empty() {
                return Err(ScheduleError::EmptyZone(schedule.to_string()));
            }
            zone = Some(name.to_string());
            expression = rest.trim();
        }
    }
    if let Some(duration) = expression.strip_prefix("@every ") {
        return match go_duration_seconds(duration.trim()) {
            Some(seconds) if seconds > 0.0 => Ok(Schedule {
                zone,
                // robfig/cron drops the fraction of a second and runs at most once a second.
                kind: ScheduleKind::Every(Duration::from_secs((seconds as u64).max(1))),
            }),
            _ => Err(ScheduleError::BadEvery {
                schedule: schedule.to_string(),
                duration: duration.to_string(),
            }),
        };
    }
    // robfig/cron knows @midnight; croner does not.
    let expression = if expression.eq_ignore_ascii_case("@midnight") {
        "@daily"
    } else {
        expression
    };
    if !expression.starts_with('@') && expression.split_whitespace().count() != 5 {
        return Err(ScheduleError::FieldCount(schedule.to_string()));
    }
    let cron = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(expression)
        .map_err(|error| ScheduleError::Cron {
            schedule: schedule.to_string(),
            problem: error.to_string(),
        })?;
    Ok(Schedule {
        zone,
        kind: ScheduleKind::Cron(Box::new(cron)),
    })
}

/// Looks a time zone up: an IANA name, `UTC`, or `Local` (then `local` is the answer).
pub fn time_zone(name: &str, local: &TimeZone) -> Result<TimeZone, ScheduleError> {
    if name == LOCAL_ZONE {
        return Ok(local.clone());
    }
    TimeZone::get(name).map_err(|_| ScheduleError::UnknownZone {
        zone: name.to_string(),
    })
}

/// The seconds of a Go duration (`300ms`, `1.5h`, `2h45m`).
fn go_duration_seconds(input: &str) -> Option<f64> {
    let mut rest = input;
    let mut total = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, tail) = rest.split_at(number_end);
        let value: f64 = number.parse().ok()?;
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = tail;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(schedule: &str) -> Duration {
        match parse(schedule).expect("valid").kind {
            ScheduleKind::Every(period) => period,
            ScheduleKind::Cron(cron) => panic!("{schedule:?} parsed as cron {cron:?}"),
        }
    }

    #[test]
    fn every_rounds_to_whole_seconds() {
        assert_eq!(every("@every 3s"), Duration::from_secs(3));
        assert_eq!(every("@every 1h30m"), Duration::from_secs(5400));
        assert_eq!(every("@every 1.5s"), Duration::from_secs(1));
        assert_eq!(every("@every 300ms"), Duration::from_secs(1));
    }

    #[test]
    fn prefixes_give_the_zone() {
        let parsed = parse("CRON_TZ=Europe/Paris 30 2 * * *").expect("valid");
        assert_eq!(parsed.zone.as_deref(), Some("Europe/Paris"));
        assert!(matches!(parsed.kind, ScheduleKind::Cron(_)));
        assert_eq!(
            parse("TZ=UTC @every 5m").expect("valid").zone.as_deref(),
            Some("UTC")
        );
        assert_eq!(parse("@hourly").expect("valid").zone, None);
    }

    #[test]
    fn errors_quote_the_value() {
        for (bad, quoted) in [
            ("61 * * * *", "\"61 * * * *\""),
            ("@every 3x", "\"3x\""),
            ("CRON_TZ= @daily", "\"CRON_TZ= @daily\""),
        ] {
            let message = parse(bad).expect_err(bad).to_string();
            assert!(message.contains(quoted), "{message}");
        }
    }

    #[test]
    fn zones() {
        let local = TimeZone::UTC;
        assert!(time_zone("Europe/Paris", &local).is_ok());
        assert!(time_zone("UTC", &local).is_ok());
        assert_eq!(time_zone("Local", &local), Ok(TimeZone::UTC));
        assert_eq!(
            time_zone("Mars/Olympus", &local)
                .expect_err("unknown")
                .to_string(),
            "\"Mars/Olympus\" is not a known time zone (an IANA name such as Europe/Paris, or Local)"
        );
    }
}
