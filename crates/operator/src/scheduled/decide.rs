//! What a ScheduledSparkApplication needs now: a pure function of its spec, its status, the runs
//! observed and the time. It says which run to create, which runs to delete, the new status and when
//! to look again; the controller does it.
//!
//! The status is the only memory. A run is named after its due time, so deciding twice for the same
//! due time (after a crash between creating a run and writing the status) finds the run already
//! there instead of creating a second one.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sparkplane_api::defaults;
use sparkplane_api::v1beta2::{
    ConcurrencyPolicy, ScheduleState, ScheduledSparkApplicationSpec,
    ScheduledSparkApplicationStatus,
};

use super::due::{DueError, DueTimes, whole_seconds};

/// A run (a child SparkApplication) as the decision needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub name: String,
    /// Its creation time; runs without one sort as the oldest.
    pub created: Option<Timestamp>,
    pub outcome: Outcome,
    /// It has a deletion timestamp: on its way out, neither running nor history.
    pub deleting: bool,
}

/// Where a run stands, from its application state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Any state but COMPLETED and FAILED: the operator may still act on it.
    Unfinished,
    Succeeded,
    Failed,
}

/// Everything a decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub name: &'a str,
    pub spec: &'a ScheduledSparkApplicationSpec,
    pub status: &'a ScheduledSparkApplicationStatus,
    pub runs: &'a [Run],
    pub now: Timestamp,
    /// The operator's zone, which `timeZone: Local` (the default) means.
    pub local_zone: &'a TimeZone,
}

/// What to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub create: Option<NewRun>,
    pub delete: Vec<Deletion>,
    pub status: ScheduledSparkApplicationStatus,
    /// Look again at this time even if nothing changes (the next due time).
    pub requeue_at: Option<Timestamp>,
    pub events: Vec<Event>,
}

/// A run to create from the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    pub name: String,
    pub due: Timestamp,
}

/// A run to delete, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub name: String,
    pub cause: DeletionCause,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionCause {
    /// An unfinished run that concurrencyPolicy Replace replaces.
    Replaced,
    /// A finished run beyond its history limit.
    History,
}

/// Something worth an Event on the ScheduledSparkApplication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub reason: Reason,
    pub message: String,
}

/// The Event reasons; `FailedValidation` is a Warning, the others are Normal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    RunCreated,
    RunSkipped,
    RunReplaced,
    FailedValidation,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::RunCreated => "ScheduledSparkApplicationRunCreated",
            Reason::RunSkipped => "ScheduledSparkApplicationRunSkipped",
            Reason::RunReplaced => "ScheduledSparkApplicationRunReplaced",
            Reason::FailedValidation => "ScheduledSparkApplicationFailedValidation",
        }
    }

    pub fn is_warning(self) -> bool {
        self == Reason::FailedValidation
    }
}

/// The name of the run due at `due`: `<name>-<unix seconds>`, Kubeflow's name with its `seconds`
/// precision, or, when that passes 63 characters, the name cut short with a hash before the seconds
/// (a run's name must itself be a valid SparkApplication name).
pub fn run_name(name: &str, due: Timestamp) -> String {
    sparkplane_submit::names::kubeflow_name(name, &due.as_second().to_string())
}

/// Decides what the schedule needs at `input.now`.
pub fn decide(input: Input<'_>) -> Decision {
    let now = whole_seconds(input.now);
    let mut decision = Decision {
        create: None,
        delete: Vec::new(),
        status: input.status.clone(),
        requeue_at: None,
        events: Vec::new(),
    };
    let due_times = match DueTimes::new(
        &input.spec.schedule,
        input.spec.time_zone.as_deref(),
        input.local_zone,
    ) {
        Ok(due_times) => due_times,
        Err(error) => return failed_validation(input.status, &error),
    };

    decision.status.schedule_state = Some(ScheduleState::Scheduled);
    decision.status.reason = None;
    keep_history(&mut decision, input);

    // While suspended nothing is planned, so resuming starts from the next due time rather than
    // catching up on the ones passed meanwhile.
    if input.spec.suspend == Some(true) {
        decision.status.next_run = None;
        return decision;
    }

    match plan(&mut decision, input, &due_times, now) {
        Ok(next) => {
            decision.status.next_run = Some(Time(next));
            decision.requeue_at = Some(next);
        }
        Err(error) => return failed_validation(input.status, &error),
    }
    decision
}

/// Creates, skips or replaces the run due, if one is, and gives the next due time.
fn plan(
    decision: &mut Decision,
    input: Input<'_>,
    due_times: &DueTimes,
    now: Timestamp,
) -> Result<Timestamp, DueError> {
    let planned = input.status.next_run.as_ref().map(|time| time.0);
    let Some(planned) = planned.filter(|planned| *planned <= now) else {
        // Nothing due. Without a plan (new, resumed or recovered), plan from now. With one, a cron
        // pattern gives the same answer unless the spec changed, so it is worked out again; a period
        // only moves the plan earlier, as it may have been shortened.
        let fresh = due_times.next_after(now, None)?;
        return Ok(match planned {
            Some(planned) if due_times.is_period() => planned.min(fresh),
            _ => fresh,
        });
    };

    // Due, perhaps many times over after downtime: one run, for the latest due time.
    let due = due_times.latest_due(planned, now)?;
    let next = due_times.next_after(now, Some(due))?;
    let name = run_name(input.name, due);
    if input.runs.iter().any(|run| run.name == name) {
        // Created before the status recorded it.
        record_run(decision, &name, due);
        return Ok(next);
    }

    let unfinished: Vec<&Run> = input
        .runs
        .iter()
        .filter(|run| run.outcome == Outcome::Unfinished && !run.deleting)
        .collect();
    let when = due.to_zoned(due_times.zone().clone());
    let policy = input.spec.concurrency_policy.unwrap_or_default();
    match policy {
        ConcurrencyPolicy::Forbid if !unfinished.is_empty() => {
            decision.events.push(Event {
                reason: Reason::RunSkipped,
                message: format!(
                    "skipped the run due at {when}: {} not finished (concurrencyPolicy Forbid)",
                    names(&unfinished)
                ),
            });
            return Ok(next);
        }
        ConcurrencyPolicy::Replace if !unfinished.is_empty() => {
            decision
                .delete
                .extend(unfinished.iter().map(|run| Deletion {
                    name: run.name.clone(),
                    cause: DeletionCause::Replaced,
                }));
            decision.events.push(Event {
                reason: Reason::RunReplaced,
                message: format!(
                    "deleting {} to make way for {name} (concurrencyPolicy Replace)",
                    names(&unfinished)
                ),
            });
        }
        _ => {}
    }

    let missed = due_times.next_after(planned, Some(planned))? < due;
    decision.events.push(Event {
        reason: Reason::RunCreated,
        message: if missed {
            format!(
                "created {name} for {when}, one run for the due times missed since {}",
                planned.to_zoned(due_times.zone().clone())
            )
        } else {
            format!("created {name} for {when}")
        },
    });
    decision.create = Some(NewRun {
        name: name.clone(),
        due,
    });
    record_run(decision, &name, due);
    Ok(next)
}

fn record_run(decision: &mut Decision, name: &str, due: Timestamp) {
    decision.status.last_run = Some(Time(due));
    decision.status.last_run_name = Some(name.to_string());
}

/// Finished runs: the newest within the limits are the history, older ones are deleted.
fn keep_history(decision: &mut Decision, input: Input<'_>) {
    let limit = |limit: Option<i32>| {
        usize::try_from(limit.unwrap_or(defaults::RUN_HISTORY_LIMIT)).unwrap_or(0)
    };
    for (outcome, limit) in [
        (
            Outcome::Succeeded,
            limit(input.spec.successful_run_history_limit),
        ),
        (Outcome::Failed, limit(input.spec.failed_run_history_limit)),
    ] {
        let mut finished: Vec<&Run> = input
            .runs
            .iter()
            .filter(|run| run.outcome == outcome && !run.deleting)
            .collect();
        // Newest first; names carry the due time, so they break ties in creation time.
        finished.sort_by(|a, b| (b.created, &b.name).cmp(&(a.created, &a.name)));
        let kept: Vec<String> = finished
            .iter()
            .take(limit)
            .map(|run| run.name.clone())
            .collect();
        decision
            .delete
            .extend(finished.iter().skip(limit).map(|run| Deletion {
                name: run.name.clone(),
                cause: DeletionCause::History,
            }));
        let kept = (!kept.is_empty()).then_some(kept);
        match outcome {
            Outcome::Succeeded => decision.status.past_successful_run_names = kept,
            _ => decision.status.past_failed_run_names = kept,
        }
    }
}

/// An invalid spec: no run is created or deleted, and the status says why. The Warning is given
/// once, when the state or the reason changes, not on every look.
fn failed_validation(status: &ScheduledSparkApplicationStatus, error: &DueError) -> Decision {
    let reason = error.to_string();
    let mut decision = Decision {
        create: None,
        delete: Vec::new(),
        status: status.clone(),
        requeue_at: None,
        events: Vec::new(),
    };
    let already = status.schedule_state == Some(ScheduleState::FailedValidation)
        && status.reason.as_deref() == Some(reason.as_str());
    if !already {
        decision.events.push(Event {
            reason: Reason::FailedValidation,
            message: reason.clone(),
        });
    }
    decision.status.schedule_state = Some(ScheduleState::FailedValidation);
    decision.status.reason = Some(reason);
    decision.status.next_run = None;
    decision
}

fn names(runs: &[&Run]) -> String {
    runs.iter()
        .map(|run| run.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
