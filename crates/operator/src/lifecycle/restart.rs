//! The restart policy: whether a run that ended is run again, and when (Kubeflow's linear backoff).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use sparkplane_api::v1beta2::{ApplicationStateType as State, RestartPolicyType};
use sparkplane_api::{SparkApplicationSpec, SparkApplicationStatus};

/// Whether the run in FAILING, SUCCEEDING or SUBMISSION_FAILED is run again.
pub fn should_retry(spec: &SparkApplicationSpec, status: &SparkApplicationStatus) -> bool {
    let policy = spec.restart_policy.clone().unwrap_or_default();
    let state = status.application_state.state;
    match policy.r#type.unwrap_or_default() {
        RestartPolicyType::Never => false,
        RestartPolicyType::Always => true,
        RestartPolicyType::OnFailure => match state {
            State::Failing => policy
                .on_failure_retries
                .is_some_and(|n| status.execution_attempts.unwrap_or(0) <= n),
            State::SubmissionFailed => policy
                .on_submission_failure_retries
                .is_some_and(|n| status.submission_attempts.unwrap_or(0) <= n),
            _ => false,
        },
    }
}

/// Ok when the next attempt is due: `interval × submissionAttempts` after the last submission
/// attempt; else how long to wait.
pub fn retry_due(
    spec: &SparkApplicationSpec,
    status: &SparkApplicationStatus,
    now: Timestamp,
) -> Result<(), Duration> {
    let policy = spec.restart_policy.clone().unwrap_or_default();
    let interval = match status.application_state.state {
        State::SubmissionFailed => policy.on_submission_failure_retry_interval,
        _ => policy.on_failure_retry_interval,
    }
    .unwrap_or(sparkplane_api::defaults::RETRY_INTERVAL_SECONDS)
    .max(0);
    let attempts = i64::from(status.submission_attempts.unwrap_or(0).max(1));
    let Some(last) = status.last_submission_attempt_time.as_ref() else {
        return Ok(());
    };
    let due = last
        .0
        .checked_add(SignedDuration::from_secs(interval.saturating_mul(attempts)))
        .unwrap_or(Timestamp::MAX);
    if now >= due {
        Ok(())
    } else {
        Err(Duration::try_from(due.duration_since(now)).unwrap_or(Duration::ZERO))
    }
}
