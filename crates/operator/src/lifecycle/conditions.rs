//! `status.conditions`: the application's state as standard Kubernetes conditions, so that
//! `kubectl wait --for=condition=Completed` (or `Failed`, `Running`, ...) works on a SparkApplication.
//! They are derived from the state at every status write and cost no write of their own.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use sparkplane_api::SparkApplicationStatus;
use sparkplane_api::v1beta2::ApplicationStateType as State;

/// The current attempt's driver has been created (it stays true when that run fails).
pub const SUBMITTED: &str = "Submitted";
/// The driver runs.
pub const RUNNING: &str = "Running";
/// The application ended successfully (COMPLETED).
pub const COMPLETED: &str = "Completed";
/// The application ended in failure, with no retry left (FAILED).
pub const FAILED: &str = "Failed";
/// The application is suspended (SUSPENDED).
pub const SUSPENDED: &str = "Suspended";

const TYPES: [&str; 5] = [SUBMITTED, RUNNING, COMPLETED, FAILED, SUSPENDED];

/// What `state` says of a condition: true or false, or `None` when it leaves it as it was.
fn says(state: State, condition: &str) -> Option<bool> {
    let submitted = matches!(
        state,
        State::Submitted
            | State::Running
            | State::Succeeding
            | State::Failing
            | State::Completed
            | State::Unknown
    );
    match condition {
        // A failed or suspending run was submitted or not: the state no longer tells.
        SUBMITTED if matches!(state, State::Failed | State::Suspending) => None,
        SUBMITTED => Some(submitted),
        // The driver's fate is unknown: it may still run.
        RUNNING if state == State::Unknown => None,
        RUNNING => Some(state == State::Running),
        COMPLETED => Some(state == State::Completed),
        FAILED => Some(state == State::Failed),
        SUSPENDED => Some(state == State::Suspended),
        _ => None,
    }
}

/// The state's name as a condition reason (CamelCase, as reasons are written).
fn reason(state: State) -> &'static str {
    match state {
        State::New => "New",
        State::Submitted => "Submitted",
        State::Running => "Running",
        State::Completed => "Completed",
        State::Failed => "Failed",
        State::SubmissionFailed => "SubmissionFailed",
        State::PendingRerun => "PendingRerun",
        State::Invalidating => "Invalidating",
        State::Succeeding => "Succeeding",
        State::Failing => "Failing",
        State::Suspending => "Suspending",
        State::Suspended => "Suspended",
        State::Resuming => "Resuming",
        State::Unknown => "Unknown",
    }
}

/// Sets `new.conditions` from its state: each condition's status as the state says (else as it was
/// in `old`, else false), the state as reason and message (with the error, if any), and the time of
/// the last change of its status kept while the status stays.
pub fn refresh(
    old: Option<&SparkApplicationStatus>,
    new: &mut SparkApplicationStatus,
    generation: Option<i64>,
    now: Timestamp,
) {
    let state = new.application_state.state;
    let before = |kind: &str| {
        old.and_then(|s| s.conditions.as_ref())
            .and_then(|all| all.iter().find(|c| c.type_ == kind))
    };
    let mut message = format!("the application is {}", state_name(state));
    if let Some(error) = new.application_state.error_message.as_deref() {
        message.push_str(": ");
        message.push_str(error);
    }
    let conditions = TYPES
        .iter()
        .map(|&kind| {
            let previous = before(kind);
            let value = says(state, kind)
                .or_else(|| previous.map(|c| c.status == "True"))
                .unwrap_or(false);
            let status = if value { "True" } else { "False" };
            let last_transition_time = previous
                .filter(|c| c.status == status)
                .map(|c| c.last_transition_time.clone())
                .unwrap_or(Time(now));
            Condition {
                type_: kind.to_owned(),
                status: status.to_owned(),
                reason: reason(state).to_owned(),
                message: message.clone(),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect();
    new.conditions = Some(conditions);
}

/// The state as Kubeflow writes it (`RUNNING`, `SUBMISSION_FAILED`, ...).
fn state_name(state: State) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "new".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).expect("time")
    }

    fn status_in(state: State) -> SparkApplicationStatus {
        let mut status = SparkApplicationStatus::default();
        status.application_state.state = state;
        status
    }

    /// Walks `states` in order, one write each at seconds 1, 2, ...; returns every status.
    fn walk(states: &[State]) -> Vec<SparkApplicationStatus> {
        let mut out: Vec<SparkApplicationStatus> = Vec::new();
        for (i, &state) in states.iter().enumerate() {
            let mut next = status_in(state);
            refresh(out.last(), &mut next, Some(1), at(i as i64 + 1));
            out.push(next);
        }
        out
    }

    fn condition<'a>(status: &'a SparkApplicationStatus, kind: &str) -> &'a Condition {
        status
            .conditions
            .as_ref()
            .and_then(|all| all.iter().find(|c| c.type_ == kind))
            .expect(kind)
    }

    fn truths(status: &SparkApplicationStatus) -> Vec<&str> {
        status
            .conditions
            .iter()
            .flatten()
            .filter(|c| c.status == "True")
            .map(|c| c.type_.as_str())
            .collect()
    }

    #[test]
    fn a_successful_run_turns_submitted_running_then_completed() {
        let all = walk(&[State::Submitted, State::Running, State::Completed]);
        assert_eq!(truths(&all[0]), [SUBMITTED]);
        assert_eq!(truths(&all[1]), [SUBMITTED, RUNNING]);
        assert_eq!(truths(&all[2]), [SUBMITTED, COMPLETED]);
        // Submitted has been true since the first write; Running changed at each.
        assert_eq!(
            condition(&all[2], SUBMITTED).last_transition_time,
            Time(at(1))
        );
        assert_eq!(
            condition(&all[2], RUNNING).last_transition_time,
            Time(at(3))
        );
        assert_eq!(condition(&all[2], COMPLETED).reason, "Completed");
        assert_eq!(condition(&all[2], COMPLETED).observed_generation, Some(1));
    }

    #[test]
    fn a_failed_run_keeps_submitted_and_a_refused_one_never_had_it() {
        let run = walk(&[
            State::Submitted,
            State::Running,
            State::Failing,
            State::Failed,
        ]);
        assert_eq!(truths(&run[3]), [SUBMITTED, FAILED]);
        let refused = walk(&[State::Failed]);
        assert_eq!(truths(&refused[0]), [FAILED]);
    }

    #[test]
    fn a_rerun_clears_the_end_and_the_error_is_in_the_message() {
        let all = walk(&[
            State::Running,
            State::Failing,
            State::PendingRerun,
            State::SubmissionFailed,
            State::Submitted,
        ]);
        assert_eq!(truths(&all[2]), Vec::<&str>::new());
        assert_eq!(truths(&all[3]), Vec::<&str>::new());
        assert_eq!(truths(&all[4]), [SUBMITTED]);
        let mut failed = status_in(State::Failed);
        failed.application_state.error_message = Some("driver exited with 1".into());
        refresh(Some(&all[4]), &mut failed, Some(2), at(9));
        let c = condition(&failed, FAILED);
        assert_eq!(c.message, "the application is FAILED: driver exited with 1");
        assert_eq!(c.observed_generation, Some(2));
    }

    #[test]
    fn unknown_and_suspension_keep_what_the_state_cannot_tell() {
        let all = walk(&[
            State::Running,
            State::Unknown,
            State::Suspending,
            State::Suspended,
        ]);
        assert_eq!(truths(&all[1]), [SUBMITTED, RUNNING]);
        assert_eq!(truths(&all[2]), [SUBMITTED]);
        assert_eq!(truths(&all[3]), [SUSPENDED]);
    }

    #[test]
    fn every_state_gives_every_condition_with_a_valid_reason() {
        for state in [
            State::New,
            State::Submitted,
            State::Running,
            State::Completed,
            State::Failed,
            State::SubmissionFailed,
            State::PendingRerun,
            State::Invalidating,
            State::Succeeding,
            State::Failing,
            State::Suspending,
            State::Suspended,
            State::Resuming,
            State::Unknown,
        ] {
            let mut status = status_in(state);
            refresh(None, &mut status, None, at(1));
            let conditions = status.conditions.clone().unwrap_or_default();
            assert_eq!(conditions.len(), TYPES.len(), "{state:?}");
            for c in &conditions {
                // metav1.Condition's reason rule: a letter, then letters, digits, `_`, `,` or `:`.
                assert!(
                    c.reason.starts_with(|ch: char| ch.is_ascii_alphabetic())
                        && c.reason.chars().all(|ch| ch.is_ascii_alphanumeric()),
                    "{state:?}: {}",
                    c.reason
                );
                assert!(c.status == "True" || c.status == "False");
            }
        }
    }
}
