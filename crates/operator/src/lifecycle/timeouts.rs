//! Limits on a run: a driver that never starts (Kubeflow #2872: SUBMITTED for ever with a Pending
//! driver), executors that never come, and a whole-run deadline. Each is an operator setting (off by
//! default), overridden per application by an annotation; an expired one ends the run as a driver
//! failure would, so the restart policy decides what follows.

use std::time::Duration;

use sparkplane_api::SparkApplication;

use super::{PodObs, PodPhase};

/// The annotations that override the operator's limits for one application: a duration such as
/// `90s`, `10m` or `1h30m`; `0s` turns the limit off.
pub const DRIVER_START_ANNOTATION: &str = "sparkplane.io/driver-start-timeout";
pub const EXECUTOR_START_ANNOTATION: &str = "sparkplane.io/executor-start-timeout";
pub const RUN_ANNOTATION: &str = "sparkplane.io/run-timeout";

/// The limits of a run; `None` is no limit. Each counts from the run's submission.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timeouts {
    /// The driver pod must leave Pending within this.
    pub driver_start: Option<Duration>,
    /// At least one executor of the run must have started (running or ended) within this, when
    /// the application asks for executors at start.
    pub executor_start: Option<Duration>,
    /// The run must have ended within this.
    pub run: Option<Duration>,
}

/// The limits for `app`: the operator's, each replaced by its annotation when set. The error names
/// the annotation.
pub fn for_app(app: &SparkApplication, defaults: Timeouts) -> Result<Timeouts, String> {
    let annotations = app.metadata.annotations.as_ref();
    let read = |key: &str, default: Option<Duration>| -> Result<Option<Duration>, String> {
        match annotations.and_then(|a| a.get(key)) {
            None => Ok(default),
            Some(text) => parse(text)
                .map(|d| (!d.is_zero()).then_some(d))
                .ok_or_else(|| {
                    format!(
                        "metadata.annotations[{key}]: {text:?} is not a duration (like 90s, 10m, 1h30m; 0s for no limit)"
                    )
                }),
        }
    };
    Ok(Timeouts {
        driver_start: read(DRIVER_START_ANNOTATION, defaults.driver_start)?,
        executor_start: read(EXECUTOR_START_ANNOTATION, defaults.executor_start)?,
        run: read(RUN_ANNOTATION, defaults.run)?,
    })
}

/// A duration in jiff's friendly format (`90s`, `10m`, `1h30m`, `1h 30m`), not negative.
fn parse(text: &str) -> Option<Duration> {
    let signed: jiff::SignedDuration = text.trim().parse().ok()?;
    Duration::try_from(signed).ok()
}

/// A limit that has passed: the event reason and the status message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    pub reason: &'static str,
    pub message: String,
}

/// What a run looks like to its limits.
pub struct Run<'a> {
    /// The run's driver pod, when seen.
    pub driver: Option<&'a PodObs>,
    /// The run's executor pods, as seen.
    pub executors: &'a [PodObs],
    /// Whether the application asks for executors at start (not dynamic allocation from zero).
    pub wants_executors: bool,
    /// How long ago the run was submitted.
    pub age: Duration,
}

/// The first limit `run` has passed, or how long until the next one could (none: no limit applies).
pub fn check(run: &Run<'_>, limits: &Timeouts) -> Result<Option<Duration>, Expired> {
    let mut next: Option<Duration> = None;
    let mut due = |limit: Duration| {
        let left = limit.saturating_sub(run.age);
        next = Some(next.map_or(left, |n| n.min(left)));
    };
    let driver_started = run.driver.is_some_and(|d| d.phase != PodPhase::Pending);
    if let Some(limit) = limits.driver_start
        && !driver_started
    {
        if run.age >= limit {
            let still = run.driver.map_or_else(
                || "no driver pod".to_owned(),
                |d| match &d.message {
                    Some(why) => format!("driver pod {} still Pending: {why}", d.name),
                    None => format!("driver pod {} still Pending", d.name),
                },
            );
            return Err(Expired {
                reason: "SparkDriverStartTimedOut",
                message: format!("the driver did not start within {} ({still})", human(limit)),
            });
        }
        due(limit);
    }
    let executor_started = run
        .executors
        .iter()
        .any(|e| e.phase != PodPhase::Pending || e.terminated.is_some());
    if let Some(limit) = limits.executor_start
        && run.wants_executors
        && !executor_started
    {
        if run.age >= limit {
            let pending = run.executors.len();
            return Err(Expired {
                reason: "SparkExecutorsStartTimedOut",
                message: format!(
                    "no executor started within {} of the submission ({pending} executor pods pending)",
                    human(limit)
                ),
            });
        }
        due(limit);
    }
    if let Some(limit) = limits.run {
        if run.age >= limit {
            return Err(Expired {
                reason: "SparkApplicationRunTimedOut",
                message: format!("the run did not end within {}", human(limit)),
            });
        }
        due(limit);
    }
    Ok(next)
}

/// `90s`, `10m`, `1h30m`: as the annotations are written.
fn human(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    for (value, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if value > 0 {
            out.push_str(&format!("{value}{unit}"));
        }
    }
    if out.is_empty() { "0s".to_owned() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn pod(name: &str, phase: PodPhase) -> PodObs {
        PodObs {
            name: name.into(),
            uid: None,
            submission_id: Some("s".into()),
            phase,
            terminated: None,
            message: None,
            deleting: false,
        }
    }

    fn app_with(annotations: &[(&str, &str)]) -> SparkApplication {
        let mut app: SparkApplication = serde_json::from_value(serde_json::json!({
            "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
            "metadata": {"name": "pi"},
            "spec": {"type": "Scala", "mode": "cluster", "sparkVersion": "4.0.4",
                     "mainApplicationFile": "local:///app.jar", "driver": {}, "executor": {}}
        }))
        .expect("app");
        app.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        app
    }

    #[test]
    fn annotations_override_the_operator_and_zero_turns_a_limit_off() {
        let defaults = Timeouts {
            driver_start: Some(10 * MIN),
            executor_start: Some(20 * MIN),
            run: None,
        };
        let app = app_with(&[
            (DRIVER_START_ANNOTATION, "90s"),
            (EXECUTOR_START_ANNOTATION, "0s"),
            (RUN_ANNOTATION, "1h30m"),
        ]);
        assert_eq!(
            for_app(&app, defaults),
            Ok(Timeouts {
                driver_start: Some(Duration::from_secs(90)),
                executor_start: None,
                run: Some(90 * MIN),
            })
        );
        assert_eq!(for_app(&app_with(&[]), defaults), Ok(defaults));
    }

    #[test]
    fn a_bad_annotation_is_refused_naming_it() {
        for bad in ["soon", "-5m", "10"] {
            let error =
                for_app(&app_with(&[(RUN_ANNOTATION, bad)]), Timeouts::default()).expect_err(bad);
            assert!(
                error.starts_with("metadata.annotations[sparkplane.io/run-timeout]"),
                "{error}"
            );
        }
    }

    #[test]
    fn a_pending_driver_expires_and_a_started_one_does_not() {
        let limits = Timeouts {
            driver_start: Some(5 * MIN),
            ..Timeouts::default()
        };
        let mut pending = pod("pi-driver", PodPhase::Pending);
        pending.message = Some("Unschedulable: 0/1 nodes are available".into());
        let run = |driver: Option<&PodObs>, age: Duration| {
            check(
                &Run {
                    driver,
                    executors: &[],
                    wants_executors: true,
                    age,
                },
                &limits,
            )
        };
        assert_eq!(run(Some(&pending), 2 * MIN), Ok(Some(3 * MIN)));
        let expired = run(Some(&pending), 5 * MIN).expect_err("expired");
        assert_eq!(expired.reason, "SparkDriverStartTimedOut");
        assert_eq!(
            expired.message,
            "the driver did not start within 5m (driver pod pi-driver still Pending: Unschedulable: 0/1 nodes are available)"
        );
        assert!(run(None, 6 * MIN).is_err());
        let running = pod("pi-driver", PodPhase::Running);
        assert_eq!(run(Some(&running), 60 * MIN), Ok(None));
    }

    #[test]
    fn executors_must_start_when_the_application_asks_for_them() {
        let limits = Timeouts {
            executor_start: Some(10 * MIN),
            ..Timeouts::default()
        };
        let driver = pod("pi-driver", PodPhase::Running);
        let pending = [pod("pi-exec-1", PodPhase::Pending)];
        let started = [
            pod("pi-exec-1", PodPhase::Pending),
            pod("pi-exec-2", PodPhase::Running),
        ];
        let run = |executors: &[PodObs], wants_executors: bool| {
            check(
                &Run {
                    driver: Some(&driver),
                    executors,
                    wants_executors,
                    age: 11 * MIN,
                },
                &limits,
            )
        };
        let expired = run(&pending, true).expect_err("expired");
        assert_eq!(expired.reason, "SparkExecutorsStartTimedOut");
        assert!(
            expired.message.contains("1 executor pods pending"),
            "{}",
            expired.message
        );
        assert_eq!(run(&started, true), Ok(None));
        // Dynamic allocation from zero: no executor is owed.
        assert_eq!(run(&[], false), Ok(None));
    }

    #[test]
    fn the_run_deadline_counts_whatever_runs_and_the_nearest_limit_is_next() {
        let limits = Timeouts {
            driver_start: Some(5 * MIN),
            executor_start: None,
            run: Some(60 * MIN),
        };
        let driver = pod("pi-driver", PodPhase::Running);
        let run = |driver: &PodObs, age: Duration| {
            check(
                &Run {
                    driver: Some(driver),
                    executors: &[],
                    wants_executors: false,
                    age,
                },
                &limits,
            )
        };
        assert_eq!(run(&driver, 20 * MIN), Ok(Some(40 * MIN)));
        let pending = pod("pi-driver", PodPhase::Pending);
        assert_eq!(run(&pending, MIN), Ok(Some(4 * MIN)));
        let expired = run(&driver, 61 * MIN).expect_err("expired");
        assert_eq!(expired.reason, "SparkApplicationRunTimedOut");
        assert_eq!(expired.message, "the run did not end within 1h");
    }
}
