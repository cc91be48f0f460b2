//! Table tests of the state machine: every transition, as (application, observed pods, time) in and
//! (status, actions, events, requeue) out.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sparkplane_api::v1beta2::{
    ApplicationState, ApplicationStateType as S, ExecutorState as E, RestartPolicy,
    RestartPolicyType,
};
use sparkplane_api::{SparkApplication, SparkApplicationStatus};
use sparkplane_submit::names::Ids;

use super::*;

const UID: &str = "0b7d3a52-5a43-4c1e-9f3c-1d2e3f4a5b6c";

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).expect("valid")
}

/// The submission id of `attempt` of the base application (its spec, as plans are built from it).
fn sid(attempt: u32) -> String {
    sid_of(&base(), attempt)
}

fn sid_of(app: &SparkApplication, attempt: u32) -> String {
    let hash = sparkplane_submit::names::spec_hash(&defaulted(app).spec);
    Ids::derive(UID, attempt, &hash).expect("ids").submission_id
}

pub(super) fn base() -> SparkApplication {
    let mut app: SparkApplication = serde_yaml::from_str(
        r#"
apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata: {name: pi, namespace: ns}
spec:
  type: Scala
  mode: cluster
  image: apache/spark:4.0.4
  mainClass: org.apache.spark.examples.SparkPi
  mainApplicationFile: local:///opt/spark/examples/jars/spark-examples.jar
  sparkVersion: 4.0.4
  driver: {cores: 1, memory: 512m}
  executor: {instances: 1, cores: 1, memory: 512m}
"#,
    )
    .expect("app");
    app.metadata.uid = Some(UID.into());
    record_hash(&mut app);
    app
}

fn record_hash(app: &mut SparkApplication) {
    let hash = spec_hash(&app.spec);
    app.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(SPEC_HASH_ANNOTATION.into(), hash);
}

/// An application in `state` whose `attempts`-th submission was at t(0).
fn app_in(state: S, attempts: i32) -> SparkApplication {
    let mut app = base();
    app.status = Some(SparkApplicationStatus {
        application_state: ApplicationState {
            state,
            error_message: None,
        },
        submission_id: (attempts > 0).then(|| sid(attempts as u32)),
        submission_attempts: Some(attempts),
        execution_attempts: Some(attempts),
        last_submission_attempt_time: Some(Time(t(0))),
        driver_info: sparkplane_api::v1beta2::DriverInfo {
            pod_name: Some("pi-driver".into()),
            ..Default::default()
        },
        ..Default::default()
    });
    app
}

pub(super) fn with_policy(
    mut app: SparkApplication,
    policy: RestartPolicyType,
    retries: i32,
) -> SparkApplication {
    app.spec.restart_policy = Some(RestartPolicy {
        r#type: Some(policy),
        on_failure_retries: Some(retries),
        on_submission_failure_retries: Some(retries),
        on_failure_retry_interval: Some(2),
        on_submission_failure_retry_interval: Some(3),
    });
    record_hash(&mut app);
    app
}

fn pod(name: &str, phase: PodPhase, attempt: u32) -> PodObs {
    PodObs {
        name: name.into(),
        uid: Some(format!("uid-of-{name}")),
        submission_id: Some(sid(attempt)),
        phase,
        terminated: None,
        message: None,
        deleting: false,
    }
}

fn driver(phase: PodPhase, attempt: u32) -> Observed {
    Observed {
        driver: Some(pod("pi-driver", phase, attempt)),
        executors: vec![],
    }
}

fn exited(mut p: PodPhase, code: i32) -> PodObs {
    if p == PodPhase::Pending {
        p = PodPhase::Running;
    }
    let mut d = pod("pi-driver", p, 1);
    d.terminated = Some(Terminated {
        exit_code: code,
        reason: Some(if code == 0 { "Completed" } else { "Error" }.into()),
        message: None,
    });
    d
}

fn none() -> Observed {
    Observed::default()
}

fn settings() -> Settings {
    Settings::default()
}

fn state_of(d: &Decision) -> Option<S> {
    d.status.as_ref().map(|s| s.application_state.state)
}

fn reasons(d: &Decision) -> Vec<&'static str> {
    d.events.iter().map(|e| e.reason).collect()
}

fn kinds(d: &Decision) -> Vec<&'static str> {
    d.actions
        .iter()
        .map(|a| match a {
            Action::RecordSpecHash(_) => "record",
            Action::Submit { .. } => "submit",
            Action::DeleteRun(_) => "delete-run",
            Action::DeleteApplication => "delete-app",
        })
        .collect()
}

fn submitted_attempt(d: &Decision) -> Option<u32> {
    d.actions.iter().find_map(|a| match a {
        Action::Submit { attempt } => Some(*attempt),
        _ => None,
    })
}

struct Case {
    name: &'static str,
    app: SparkApplication,
    observed: Observed,
    now: Timestamp,
    state: Option<S>,
    actions: &'static [&'static str],
    events: &'static [&'static str],
}

fn check(cases: Vec<Case>) {
    for c in cases {
        let d = decide(&c.app, &c.observed, c.now, &settings());
        assert_eq!(state_of(&d), c.state, "{}: state ({d:#?})", c.name);
        assert_eq!(kinds(&d), c.actions, "{}: actions", c.name);
        assert_eq!(reasons(&d), c.events, "{}: events", c.name);
    }
}

#[test]
fn new_and_tracking_transitions() {
    use PodPhase::*;
    check(vec![
        Case {
            // No annotation write: the submission id records the spec.
            name: "new application is submitted",
            app: {
                let mut a = base();
                a.metadata.annotations = None;
                a
            },
            observed: none(),
            now: t(0),
            state: None,
            actions: &["submit"],
            events: &["SparkApplicationAdded"],
        },
        Case {
            name: "new application whose driver of attempt 1 exists resumes the cut submission",
            app: base(),
            observed: driver(Pending, 1),
            now: t(0),
            state: None,
            actions: &["submit"],
            events: &["SparkApplicationAdded"],
        },
        Case {
            name: "new application whose name is held by an older driver deletes it first",
            app: base(),
            observed: driver(Running, 7),
            now: t(0),
            state: None,
            actions: &["delete-run"],
            events: &[],
        },
        Case {
            name: "submitted, driver pending: no change",
            app: app_in(S::Submitted, 1),
            observed: driver(Pending, 1),
            now: t(1),
            state: None,
            actions: &[],
            events: &[],
        },
        Case {
            name: "submitted, driver running",
            app: app_in(S::Submitted, 1),
            observed: driver(Running, 1),
            now: t(1),
            state: Some(S::Running),
            actions: &[],
            events: &["SparkDriverRunning"],
        },
        Case {
            name: "running, driver succeeded",
            app: app_in(S::Running, 1),
            observed: driver(Succeeded, 1),
            now: t(5),
            state: Some(S::Succeeding),
            actions: &[],
            events: &["SparkDriverCompleted"],
        },
        Case {
            name: "running, driver failed",
            app: app_in(S::Running, 1),
            observed: driver(Failed, 1),
            now: t(5),
            state: Some(S::Failing),
            actions: &[],
            events: &["SparkDriverFailed"],
        },
        Case {
            name: "running pod with a failed Spark container: the exit code wins",
            app: app_in(S::Running, 1),
            observed: Observed {
                driver: Some(exited(Running, 3)),
                executors: vec![],
            },
            now: t(5),
            state: Some(S::Failing),
            actions: &[],
            events: &["SparkDriverFailed"],
        },
        Case {
            name: "failed pod with exit code 0: the exit code wins",
            app: app_in(S::Running, 1),
            observed: Observed {
                driver: Some(exited(Failed, 0)),
                executors: vec![],
            },
            now: t(5),
            state: Some(S::Succeeding),
            actions: &[],
            events: &["SparkDriverCompleted"],
        },
        Case {
            name: "running, driver phase unknown",
            app: app_in(S::Running, 1),
            observed: driver(PodPhase::Unknown, 1),
            now: t(5),
            state: Some(S::Unknown),
            actions: &[],
            events: &["SparkDriverUnknownState"],
        },
        Case {
            name: "unknown, driver back to running",
            app: app_in(S::Unknown, 1),
            observed: driver(Running, 1),
            now: t(5),
            state: Some(S::Running),
            actions: &[],
            events: &["SparkDriverRunning"],
        },
        Case {
            name: "running, driver back to pending",
            app: app_in(S::Running, 1),
            observed: driver(Pending, 1),
            now: t(5),
            state: Some(S::Submitted),
            actions: &[],
            events: &["SparkDriverPending"],
        },
        Case {
            name: "unknown, driver pending",
            app: app_in(S::Unknown, 1),
            observed: driver(Pending, 1),
            now: t(5),
            state: Some(S::Submitted),
            actions: &[],
            events: &["SparkDriverPending"],
        },
        Case {
            name: "unknown, driver failed",
            app: app_in(S::Unknown, 1),
            observed: driver(Failed, 1),
            now: t(5),
            state: Some(S::Failing),
            actions: &[],
            events: &["SparkDriverFailed"],
        },
        Case {
            name: "unknown, driver succeeded",
            app: app_in(S::Unknown, 1),
            observed: driver(Succeeded, 1),
            now: t(5),
            state: Some(S::Succeeding),
            actions: &[],
            events: &["SparkDriverCompleted"],
        },
        Case {
            name: "unknown, driver still unknown: no change",
            app: app_in(S::Unknown, 1),
            observed: driver(PodPhase::Unknown, 1),
            now: t(5),
            state: None,
            actions: &[],
            events: &[],
        },
        Case {
            name: "running, driver still running: no change",
            app: app_in(S::Running, 1),
            observed: driver(Running, 1),
            now: t(5),
            state: None,
            actions: &[],
            events: &[],
        },
        Case {
            name: "submitted, driver succeeded before it was seen running",
            app: app_in(S::Submitted, 1),
            observed: driver(Succeeded, 1),
            now: t(5),
            state: Some(S::Succeeding),
            actions: &[],
            events: &["SparkDriverCompleted"],
        },
        Case {
            name: "submitted, driver failed before it was seen running",
            app: app_in(S::Submitted, 1),
            observed: driver(Failed, 1),
            now: t(5),
            state: Some(S::Failing),
            actions: &[],
            events: &["SparkDriverFailed"],
        },
        Case {
            name: "submitted, driver phase unknown",
            app: app_in(S::Submitted, 1),
            observed: driver(PodPhase::Unknown, 1),
            now: t(5),
            state: Some(S::Unknown),
            actions: &[],
            events: &["SparkDriverUnknownState"],
        },
        Case {
            name: "submitted, driver missing within the grace period: wait",
            app: app_in(S::Submitted, 1),
            observed: none(),
            now: t(3),
            state: None,
            actions: &[],
            events: &[],
        },
        Case {
            name: "submitted, driver missing past the grace period",
            app: app_in(S::Submitted, 1),
            observed: none(),
            now: t(11),
            state: Some(S::Failing),
            actions: &[],
            events: &["SparkDriverFailed"],
        },
        Case {
            name: "running, only a driver of another submission: missing",
            app: app_in(S::Running, 2),
            observed: driver(Running, 1),
            now: t(30),
            state: Some(S::Failing),
            actions: &[],
            events: &["SparkDriverFailed"],
        },
        Case {
            name: "being deleted: nothing",
            app: {
                let mut a = app_in(S::Running, 1);
                a.metadata.deletion_timestamp = Some(Time(t(0)));
                a
            },
            observed: driver(Failed, 1),
            now: t(5),
            state: None,
            actions: &[],
            events: &[],
        },
        Case {
            name: "a run whose submission id records its spec needs no annotation",
            app: {
                let mut a = app_in(S::Running, 1);
                a.metadata.annotations = None;
                a
            },
            observed: driver(Running, 1),
            now: t(5),
            state: None,
            actions: &[],
            events: &[],
        },
        Case {
            name: "a run whose submission id records another spec is invalidated",
            app: {
                let mut a = app_in(S::Running, 1);
                a.metadata.annotations = None;
                a.spec.arguments = Some(vec!["9999".into()]);
                a
            },
            observed: driver(Running, 1),
            now: t(5),
            state: Some(S::Invalidating),
            actions: &["delete-run"],
            events: &["SparkApplicationSpecUpdateProcessed"],
        },
        Case {
            name: "a run submitted by Kubeflow (a random submission id) adopts the spec",
            app: {
                let mut a = app_in(S::Running, 1);
                a.metadata.annotations = None;
                if let Some(status) = a.status.as_mut() {
                    status.submission_id = Some("3f1c2e4a-0f3d-4c1e-9a2b-5d6e7f8a9b0c".into());
                }
                a
            },
            observed: none(),
            now: t(5),
            state: None,
            actions: &["record"],
            events: &[],
        },
    ]);
}

#[test]
fn driver_missing_waits_exactly_until_the_grace_period_ends() {
    let d = decide(&app_in(S::Submitted, 1), &none(), t(3), &settings());
    assert_eq!(d.requeue_after, Some(Duration::from_secs(7)));
    let d = decide(&app_in(S::Submitted, 1), &none(), t(11), &settings());
    let status = d.status.expect("status");
    assert_eq!(
        status.application_state.error_message.as_deref(),
        Some("driver pod pi-driver not found")
    );
    assert_eq!(status.termination_time, Some(Time(t(11))));
    // Only if the API server agrees: the pod cache may be behind it.
    assert_eq!(d.unless_driver_exists.as_deref(), Some("pi-driver"));
    // Settling the failure keeps the condition.
    let settled = crate::lifecycle::settle(
        &app_in(S::Submitted, 1),
        decide(&app_in(S::Submitted, 1), &none(), t(11), &settings()),
        &none(),
        t(11),
        &settings(),
    );
    assert_eq!(settled.unless_driver_exists.as_deref(), Some("pi-driver"));
}

#[test]
fn failed_driver_reports_the_exit_code() {
    let obs = Observed {
        driver: Some(exited(PodPhase::Failed, 3)),
        executors: vec![],
    };
    let d = decide(&app_in(S::Running, 1), &obs, t(5), &settings());
    let msg = d.status.expect("status").application_state.error_message;
    assert_eq!(
        msg.as_deref(),
        Some("driver container failed with ExitCode: 3, Reason: Error")
    );
}

#[test]
fn a_run_that_just_ended_is_looked_at_again_at_once_and_a_running_one_at_the_resync() {
    // The write's echo starts no reconcile: without an immediate look the retry (or the final
    // state) would wait for an unrelated pod event or the resync.
    for (phase, ended) in [
        (PodPhase::Failed, S::Failing),
        (PodPhase::Succeeded, S::Succeeding),
    ] {
        let d = decide(&app_in(S::Running, 1), &driver(phase, 1), t(5), &settings());
        let status = d.status.expect("status");
        assert_eq!(status.application_state.state, ended);
        assert_eq!(d.requeue_after, None, "{ended:?}");
    }
    let d = decide(
        &app_in(S::Submitted, 1),
        &driver(PodPhase::Running, 1),
        t(5),
        &settings(),
    );
    assert_eq!(d.requeue_after, Some(settings().resync));
    let d = decide(
        &app_in(S::Running, 1),
        &driver(PodPhase::Running, 1),
        t(5),
        &settings(),
    );
    assert_eq!(d.requeue_after, Some(settings().resync));
}

#[test]
fn restart_policy_transitions() {
    use RestartPolicyType::*;
    check(vec![
        Case {
            name: "succeeding, Never: completed",
            app: app_in(S::Succeeding, 1),
            observed: driver(PodPhase::Succeeded, 1),
            now: t(5),
            state: Some(S::Completed),
            actions: &[],
            events: &["SparkApplicationCompleted"],
        },
        Case {
            name: "succeeding, Always: rerun",
            app: with_policy(app_in(S::Succeeding, 1), Always, 0),
            observed: driver(PodPhase::Succeeded, 1),
            now: t(5),
            state: Some(S::PendingRerun),
            actions: &["delete-run"],
            events: &["SparkApplicationPendingRerun"],
        },
        Case {
            name: "succeeding, OnFailure: completed",
            app: with_policy(app_in(S::Succeeding, 1), OnFailure, 3),
            observed: driver(PodPhase::Succeeded, 1),
            now: t(5),
            state: Some(S::Completed),
            actions: &[],
            events: &["SparkApplicationCompleted"],
        },
        Case {
            name: "failing, Never: failed",
            app: app_in(S::Failing, 1),
            observed: driver(PodPhase::Failed, 1),
            now: t(5),
            state: Some(S::Failed),
            actions: &[],
            events: &["SparkApplicationFailed"],
        },
        Case {
            name: "failing, OnFailure, retries left, interval (2 s x 1 attempt) passed: rerun",
            app: with_policy(app_in(S::Failing, 1), OnFailure, 2),
            observed: driver(PodPhase::Failed, 1),
            now: t(2),
            state: Some(S::PendingRerun),
            actions: &["delete-run"],
            events: &["SparkApplicationPendingRerun"],
        },
        Case {
            name: "failing, OnFailure, retries left, interval (2 s x 2 attempts) not passed: wait",
            app: with_policy(app_in(S::Failing, 2), OnFailure, 2),
            observed: driver(PodPhase::Failed, 2),
            now: t(3),
            state: None,
            actions: &[],
            events: &[],
        },
        Case {
            name: "failing, OnFailure, last retry (attempt 2 of 2 retries)",
            app: with_policy(app_in(S::Failing, 2), OnFailure, 2),
            observed: driver(PodPhase::Failed, 2),
            now: t(4),
            state: Some(S::PendingRerun),
            actions: &["delete-run"],
            events: &["SparkApplicationPendingRerun"],
        },
        Case {
            name: "failing, OnFailure, retries used up: failed",
            app: with_policy(app_in(S::Failing, 3), OnFailure, 2),
            observed: driver(PodPhase::Failed, 3),
            now: t(100),
            state: Some(S::Failed),
            actions: &[],
            events: &["SparkApplicationFailed"],
        },
        Case {
            name: "failing, Always: rerun",
            app: with_policy(app_in(S::Failing, 9), Always, 0),
            observed: driver(PodPhase::Failed, 9),
            now: t(100),
            state: Some(S::PendingRerun),
            actions: &["delete-run"],
            events: &["SparkApplicationPendingRerun"],
        },
        Case {
            name: "submission failed, Never: failed",
            app: app_in(S::SubmissionFailed, 1),
            observed: none(),
            now: t(1),
            state: Some(S::Failed),
            actions: &[],
            events: &["SparkApplicationFailed"],
        },
        Case {
            name: "submission failed, OnFailure, retry due (3 s x 1): resubmit",
            app: with_policy(app_in(S::SubmissionFailed, 1), OnFailure, 1),
            observed: none(),
            now: t(3),
            state: None,
            actions: &["submit"],
            events: &[],
        },
        Case {
            name: "submission failed, OnFailure, retry not due: wait",
            app: with_policy(app_in(S::SubmissionFailed, 1), OnFailure, 1),
            observed: none(),
            now: t(2),
            state: None,
            actions: &[],
            events: &[],
        },
        Case {
            name: "submission failed, OnFailure, retries used up: failed",
            app: with_policy(app_in(S::SubmissionFailed, 2), OnFailure, 1),
            observed: none(),
            now: t(60),
            state: Some(S::Failed),
            actions: &[],
            events: &["SparkApplicationFailed"],
        },
        Case {
            name: "pending rerun, old driver still there: delete it",
            app: app_in(S::PendingRerun, 1),
            observed: driver(PodPhase::Failed, 1),
            now: t(5),
            state: None,
            actions: &["delete-run"],
            events: &[],
        },
        Case {
            name: "pending rerun, old driver being deleted: wait for it",
            app: app_in(S::PendingRerun, 1),
            observed: {
                let mut d = driver(PodPhase::Failed, 1);
                if let Some(pod) = d.driver.as_mut() {
                    pod.deleting = true;
                }
                d
            },
            now: t(5),
            state: None,
            actions: &["delete-run"],
            events: &[],
        },
        Case {
            name: "pending rerun, old driver gone: submit",
            app: app_in(S::PendingRerun, 1),
            observed: none(),
            now: t(5),
            state: None,
            actions: &["submit"],
            events: &[],
        },
    ]);
}

/// A rerun deletes the last run's executors with its driver: they are owned by the application
/// too, so the garbage collector would keep them. Those already going are left alone.
#[test]
fn a_rerun_deletes_the_last_runs_executors_with_its_driver() {
    use PodPhase::*;
    let mut observed = driver(Failed, 1);
    let mut going = pod("pi-exec-2", Running, 1);
    going.deleting = true;
    observed.executors = vec![pod("pi-exec-1", Pending, 1), going];
    let d = decide(&app_in(S::PendingRerun, 1), &observed, t(5), &settings());
    let [Action::DeleteRun(run)] = d.actions.as_slice() else {
        panic!("{:?}", d.actions);
    };
    assert_eq!(run.driver_pod.as_deref(), Some("pi-driver"));
    assert_eq!(
        run.executors,
        [PodRef {
            name: "pi-exec-1".into(),
            uid: Some("uid-of-pi-exec-1".into()),
        }]
    );
}

#[test]
fn retries_count_attempts_and_back_off_linearly() {
    let app = with_policy(
        app_in(S::SubmissionFailed, 2),
        RestartPolicyType::OnFailure,
        5,
    );
    // 3 s x 2 attempts after the last attempt at t(0).
    let d = decide(&app, &none(), t(1), &settings());
    assert_eq!(d.requeue_after, Some(Duration::from_secs(5)));
    let d = decide(&app, &none(), t(6), &settings());
    assert_eq!(submitted_attempt(&d), Some(3));

    let app = app_in(S::PendingRerun, 4);
    let d = decide(&app, &none(), t(6), &settings());
    assert_eq!(
        submitted_attempt(&d),
        Some(5),
        "attempt n+1 names the objects"
    );
}

#[test]
fn submission_outcomes_update_counters() {
    let app = app_in(S::PendingRerun, 2);
    let Action::Submit { attempt } = decide(&app, &none(), t(9), &settings())
        .actions
        .pop()
        .expect("action")
    else {
        panic!("not a submission");
    };
    assert_eq!(attempt, 3);
    let plan = plan(&app, attempt, t(9), &settings()).expect("a plan");
    let ui = UiService {
        cluster_ip: Some("10.0.0.7".into()),
    };
    let d = submitted(&app, &plan, 3, &ui, t(9), &settings());
    let s = d.status.expect("status");
    assert_eq!(s.application_state.state, S::Submitted);
    assert_eq!(s.submission_attempts, Some(3));
    assert_eq!(s.execution_attempts, Some(3));
    assert_eq!(s.submission_id, Some(sid(3)));
    assert_eq!(
        s.spark_application_id.as_deref(),
        Some(plan.app_id.as_str())
    );
    assert_eq!(s.last_submission_attempt_time, Some(Time(t(9))));
    assert_eq!(s.driver_info.pod_name.as_deref(), Some("pi-driver"));
    assert_eq!(
        s.driver_info.web_ui_service_name.as_deref(),
        Some("pi-ui-svc")
    );
    assert_eq!(s.driver_info.web_ui_port, Some(4040));
    assert_eq!(
        s.driver_info.web_ui_address.as_deref(),
        Some("10.0.0.7:4040")
    );
    assert_eq!(
        reasons(&Decision {
            events: d.events,
            ..Default::default()
        }),
        ["SparkApplicationSubmitted"]
    );

    let app = with_policy(app_in(S::PendingRerun, 2), RestartPolicyType::OnFailure, 5);
    let d = submission_failed(&app, 3, "pods \"pi-driver\" is forbidden", t(9));
    let s = d.status.expect("status");
    assert_eq!(s.application_state.state, S::SubmissionFailed);
    assert_eq!(s.submission_attempts, Some(3));
    assert_eq!(
        s.execution_attempts,
        Some(2),
        "a failed submission is no execution"
    );
    assert!(
        s.application_state
            .error_message
            .is_some_and(|m| m.contains("forbidden"))
    );
    assert_eq!(
        d.requeue_after,
        Some(Duration::from_secs(9)),
        "3 s x 3 attempts"
    );
    assert_eq!(d.events[0].reason, "SparkApplicationSubmissionFailed");
    assert!(d.events[0].warning);
}

#[test]
fn invalid_spec_fails_once_with_the_field_named() {
    let mut app = base();
    app.spec.spark_conf = Some(BTreeMap::from([(
        "spark.kubernetes.namespace".into(),
        "elsewhere".into(),
    )]));
    let d = decide(&app, &none(), t(0), &settings());
    let s = d.status.clone().expect("status");
    assert_eq!(s.application_state.state, S::Failed);
    assert!(
        s.application_state
            .error_message
            .as_deref()
            .is_some_and(|m| m.starts_with("spec.sparkConf")),
        "{s:?}"
    );
    assert_eq!(
        kinds(&d),
        ["record"],
        "records the spec so that an edit reruns"
    );
    assert_eq!(
        reasons(&d),
        ["SparkApplicationAdded", "SparkApplicationFailed"]
    );
    assert!(d.events[1].warning);
    // No retry storm: the failed application stays failed.
    let mut failed = app.clone();
    failed.status = Some(s);
    record_hash(&mut failed);
    let d = decide(&failed, &none(), t(100), &settings());
    assert_eq!(d, Decision::default());
}

/// `app` with its spec edited after the run was submitted (the recorded hash is the old spec's).
fn edited(
    mut app: SparkApplication,
    edit: impl FnOnce(&mut SparkApplicationSpec),
) -> SparkApplication {
    edit(&mut app.spec);
    app
}

#[test]
fn spec_changes_invalidate_and_rerun() {
    let mut app = app_in(S::Running, 2);
    app.spec.arguments = Some(vec!["100".into()]);
    let d = decide(&app, &driver(PodPhase::Running, 2), t(5), &settings());
    let s = d.status.expect("status");
    assert_eq!(s.submission_attempts, Some(2), "counters go on");
    assert_eq!(s.submission_id, None);

    let arguments = |a: &mut SparkApplicationSpec| a.arguments = Some(vec!["100".into()]);
    check(vec![
        Case {
            name: "running, spec changed: invalidating",
            app: edited(app_in(S::Running, 2), arguments),
            observed: driver(PodPhase::Running, 2),
            now: t(5),
            state: Some(S::Invalidating),
            actions: &["delete-run"],
            events: &["SparkApplicationSpecUpdateProcessed"],
        },
        Case {
            name: "failed, spec changed: invalidating too (Kubeflow #2618)",
            app: edited(app_in(S::Failed, 1), arguments),
            observed: none(),
            now: t(5),
            state: Some(S::Invalidating),
            actions: &["delete-run"],
            events: &["SparkApplicationSpecUpdateProcessed"],
        },
        Case {
            name: "completed, timeToLiveSeconds set: no spec change",
            app: edited(app_in(S::Completed, 1), |a| {
                a.time_to_live_seconds = Some(3600)
            }),
            observed: none(),
            now: t(5),
            state: None,
            actions: &[],
            events: &[],
        },
        Case {
            name: "running, suspend: false set: no spec change",
            app: edited(app_in(S::Running, 1), |a| a.suspend = Some(false)),
            observed: driver(PodPhase::Running, 1),
            now: t(5),
            state: None,
            actions: &[],
            events: &[],
        },
        Case {
            name: "running, timeToLiveSeconds set: no spec change",
            app: edited(app_in(S::Running, 1), |a| a.time_to_live_seconds = Some(60)),
            observed: driver(PodPhase::Running, 1),
            now: t(5),
            state: None,
            actions: &[],
            events: &[],
        },
    ]);

    check(vec![
        Case {
            name: "invalidating with the driver still there",
            app: app_in(S::Invalidating, 2),
            observed: driver(PodPhase::Running, 2),
            now: t(5),
            state: None,
            actions: &["delete-run"],
            events: &[],
        },
        Case {
            name: "invalidating, run gone",
            app: app_in(S::Invalidating, 2),
            observed: none(),
            now: t(5),
            state: Some(S::PendingRerun),
            actions: &[],
            events: &["SparkApplicationPendingRerun"],
        },
        Case {
            name: "pending rerun with a changed spec submits it (and records it)",
            app: {
                let mut a = app_in(S::PendingRerun, 2);
                a.spec.arguments = Some(vec!["7".into()]);
                a
            },
            observed: none(),
            now: t(5),
            state: None,
            actions: &["record", "submit"],
            events: &[],
        },
    ]);
}

fn suspended(mut app: SparkApplication, suspend: bool) -> SparkApplication {
    app.spec.suspend = Some(suspend);
    app
}

#[test]
fn suspend_and_resume() {
    check(vec![
        Case {
            name: "running, suspend: suspending, pods deleted",
            app: suspended(app_in(S::Running, 1), true),
            observed: driver(PodPhase::Running, 1),
            now: t(5),
            state: Some(S::Suspending),
            actions: &["delete-run"],
            events: &["SparkApplicationSuspending"],
        },
        Case {
            name: "running, suspended with a spec change (a Kueue preemption): suspending, not invalidating",
            app: edited(suspended(app_in(S::Running, 1), true), |a| {
                a.node_selector = Some([("pool".to_owned(), "spot".to_owned())].into())
            }),
            observed: driver(PodPhase::Running, 1),
            now: t(5),
            state: Some(S::Suspending),
            actions: &["delete-run"],
            events: &["SparkApplicationSuspending"],
        },
        Case {
            name: "new and suspended: never submitted",
            app: suspended(base(), true),
            observed: none(),
            now: t(0),
            state: Some(S::Suspending),
            actions: &["delete-run"],
            events: &["SparkApplicationSuspending"],
        },
        Case {
            name: "suspending, driver still there",
            app: suspended(app_in(S::Suspending, 1), true),
            observed: driver(PodPhase::Running, 1),
            now: t(5),
            state: None,
            actions: &["delete-run"],
            events: &[],
        },
        Case {
            name: "suspending, driver gone: suspended",
            app: suspended(app_in(S::Suspending, 1), true),
            observed: none(),
            now: t(5),
            state: Some(S::Suspended),
            actions: &[],
            events: &["SparkApplicationSuspended"],
        },
        Case {
            name: "suspended and still suspend: nothing",
            app: suspended(app_in(S::Suspended, 1), true),
            observed: none(),
            now: t(5),
            state: None,
            actions: &[],
            events: &[],
        },
        Case {
            name: "suspended, suspend false: resuming",
            app: suspended(app_in(S::Suspended, 1), false),
            observed: none(),
            now: t(5),
            state: Some(S::Resuming),
            actions: &[],
            events: &["SparkApplicationResuming"],
        },
        Case {
            name: "resuming: submit the next attempt",
            app: app_in(S::Resuming, 1),
            observed: none(),
            now: t(5),
            state: None,
            actions: &["submit"],
            events: &[],
        },
        Case {
            name: "completed, suspend: terminal, nothing",
            app: suspended(app_in(S::Completed, 1), true),
            observed: none(),
            now: t(5),
            state: None,
            actions: &[],
            events: &[],
        },
    ]);
}

#[test]
fn time_to_live() {
    let mut app = app_in(S::Completed, 1);
    app.status.as_mut().expect("status").termination_time = Some(Time(t(10)));
    app.spec.time_to_live_seconds = Some(30);
    let d = decide(&app, &none(), t(25), &settings());
    assert_eq!(d.requeue_after, Some(Duration::from_secs(15)));
    assert!(d.actions.is_empty());
    let d = decide(&app, &none(), t(40), &settings());
    assert_eq!(kinds(&d), ["delete-app"]);

    // The operator's default applies to applications without one.
    let mut app = app_in(S::Failed, 1);
    app.status.as_mut().expect("status").termination_time = Some(Time(t(10)));
    let mut s = settings();
    assert_eq!(decide(&app, &none(), t(1000), &s), Decision::default());
    s.default_ttl_seconds = Some(60);
    assert_eq!(kinds(&decide(&app, &none(), t(70), &s)), ["delete-app"]);

    // Entering a terminal state schedules the TTL check.
    let mut app = app_in(S::Succeeding, 1);
    app.spec.time_to_live_seconds = Some(30);
    record_hash(&mut app);
    let d = decide(&app, &none(), t(5), &settings());
    assert_eq!(d.requeue_after, Some(Duration::from_secs(30)));
}

fn executors(list: &[(&str, PodPhase, u32)]) -> Vec<PodObs> {
    list.iter().map(|(n, p, a)| pod(n, *p, *a)).collect()
}

#[test]
fn executors_are_tracked_capped_and_resolved_when_gone() {
    use PodPhase::*;
    let obs = Observed {
        driver: Some(pod("pi-driver", Running, 1)),
        executors: executors(&[
            ("pi-exec-1", Running, 1),
            ("pi-exec-2", Pending, 1),
            ("old-exec-1", Running, 0),
        ]),
    };
    let d = decide(&app_in(S::Running, 1), &obs, t(5), &settings());
    let s = d.status.clone().expect("status");
    let map = s.executor_state.clone().expect("executors");
    assert_eq!(
        map,
        BTreeMap::from([
            ("pi-exec-1".into(), E::Running),
            ("pi-exec-2".into(), E::Pending)
        ]),
        "only the current submission's executors"
    );
    assert_eq!(
        reasons(&d),
        ["SparkExecutorRunning", "SparkExecutorPending"]
    );

    // The cap: a third executor is not tracked.
    let mut app = app_in(S::Running, 1);
    app.status.as_mut().expect("status").executor_state = Some(map.clone());
    let mut capped = settings();
    capped.max_tracked_executors = 2;
    let mut more = obs.clone();
    more.executors.push(pod("pi-exec-3", Running, 1));
    let d = decide(&app, &more, t(6), &capped);
    assert_eq!(d.status, None, "nothing changed within the cap");

    // Vanished while the driver runs: unknown. Failed exit code: failed.
    let mut gone = obs.clone();
    gone.executors = vec![{
        let mut p = pod("pi-exec-1", Running, 1);
        p.terminated = Some(Terminated {
            exit_code: 1,
            reason: None,
            message: None,
        });
        p
    }];
    let d = decide(&app, &gone, t(7), &settings());
    let map2 = d.status.expect("status").executor_state.expect("executors");
    assert_eq!(map2["pi-exec-1"], E::Failed);
    assert_eq!(map2["pi-exec-2"], E::Unknown);
    assert_eq!(
        reasons(&Decision {
            events: d.events,
            ..Default::default()
        }),
        ["SparkExecutorFailed", "SparkExecutorUnknownState"]
    );

    // Vanished after the application succeeded: completed; after it failed: failed.
    let mut done = app_in(S::Running, 1);
    done.status.as_mut().expect("status").executor_state = Some(map.clone());
    let d = decide(&done, &driver(Succeeded, 1), t(8), &settings());
    let s = d.status.expect("status");
    assert_eq!(s.application_state.state, S::Succeeding);
    assert!(
        s.executor_state
            .expect("executors")
            .values()
            .all(|e| *e == E::Completed)
    );
    let d = decide(&done, &driver(Failed, 1), t(8), &settings());
    let s = d.status.expect("status");
    assert!(
        s.executor_state
            .expect("executors")
            .values()
            .all(|e| *e == E::Failed)
    );
}

/// Spark deletes its executors when the application ends; one killed by that deletion exits with
/// SIGTERM's 143 while its pod is being deleted. That is the end of its work, not a failure.
#[test]
fn an_executor_killed_by_its_deletion_at_the_end_is_not_failed() {
    use PodPhase::*;
    let mut app = app_in(S::Running, 1);
    app.status.as_mut().expect("status").executor_state =
        Some(BTreeMap::from([("pi-exec-1".into(), E::Running)]));
    let mut killed = pod("pi-exec-1", Failed, 1);
    killed.deleting = true;
    killed.terminated = Some(Terminated {
        exit_code: 143,
        reason: Some("Error".into()),
        message: None,
    });
    let ending = Observed {
        driver: Some(pod("pi-driver", Running, 1)),
        executors: vec![killed.clone()],
    };
    let d = decide(&app, &ending, t(5), &settings());
    assert_eq!(
        d.status, None,
        "while the driver runs, a deleted executor keeps its state (no failure, no unknown)"
    );
    assert!(d.events.is_empty());

    // Once the driver has succeeded, the executor completed, whether its pod is still going or gone.
    let done = Observed {
        driver: Some(pod("pi-driver", Succeeded, 1)),
        executors: vec![killed],
    };
    let d = decide(&app, &done, t(6), &settings());
    let map = d.status.expect("status").executor_state.expect("executors");
    assert_eq!(map["pi-exec-1"], E::Completed);
}

/// An executor that died on its own (SIGKILL's 137 here) is failed although Spark, which deletes
/// every failed executor, was already deleting its pod when the operator looked; it stays failed
/// once its pod is gone and the application completes.
#[test]
fn an_executor_that_died_before_spark_deleted_it_is_failed() {
    use PodPhase::*;
    let mut app = app_in(S::Running, 1);
    app.status.as_mut().expect("status").executor_state = Some(BTreeMap::from([
        ("pi-exec-1".into(), E::Running),
        ("pi-exec-2".into(), E::Running),
    ]));
    let mut killed = pod("pi-exec-1", Failed, 1);
    killed.deleting = true;
    killed.terminated = Some(Terminated {
        exit_code: 137,
        reason: Some("Error".into()),
        message: None,
    });
    let mut still_running = pod("pi-exec-2", Running, 1);
    still_running.deleting = true;
    let observed = Observed {
        driver: Some(pod("pi-driver", Running, 1)),
        executors: vec![killed, still_running],
    };
    let d = decide(&app, &observed, t(5), &settings());
    assert_eq!(reasons(&d), ["SparkExecutorFailed"]);
    let map = d.status.expect("status").executor_state.expect("executors");
    assert_eq!(map["pi-exec-1"], E::Failed);
    assert_eq!(
        map["pi-exec-2"],
        E::Running,
        "deleted, not ended: still going"
    );

    app.status.as_mut().expect("status").executor_state = Some(map);
    let d = decide(&app, &driver(Succeeded, 1), t(6), &settings());
    let map = d.status.expect("status").executor_state.expect("executors");
    assert_eq!(map["pi-exec-1"], E::Failed, "a failure outlives its pod");
    assert_eq!(map["pi-exec-2"], E::Completed);
}

#[test]
fn the_cap_keeps_the_executors_tracked_then_the_first_by_pod_name() {
    use PodPhase::*;
    let mut capped = settings();
    capped.max_tracked_executors = 2;
    // Three new executors and room for two: the first two by name, as strings.
    let obs = Observed {
        driver: Some(pod("pi-driver", Running, 1)),
        executors: executors(&[
            ("pi-exec-2", Running, 1),
            ("pi-exec-10", Running, 1),
            ("pi-exec-1", Running, 1),
        ]),
    };
    let d = decide(&app_in(S::Running, 1), &obs, t(5), &capped);
    let map = d.status.expect("status").executor_state.expect("executors");
    let names: Vec<&str> = map.keys().map(String::as_str).collect();
    assert_eq!(names, ["pi-exec-1", "pi-exec-10"]);

    // Those tracked stay, even gone, and a newcomer finds no room.
    let mut app = app_in(S::Running, 1);
    app.status.as_mut().expect("status").executor_state = Some(map);
    let later = Observed {
        driver: Some(pod("pi-driver", Running, 1)),
        executors: executors(&[("pi-exec-0", Running, 1), ("pi-exec-10", Running, 1)]),
    };
    let d = decide(&app, &later, t(6), &capped);
    let map = d.status.expect("status").executor_state.expect("executors");
    assert_eq!(
        map,
        BTreeMap::from([
            ("pi-exec-1".into(), E::Unknown),
            ("pi-exec-10".into(), E::Running)
        ])
    );
}

#[test]
fn spec_hash_ignores_suspend_and_ttl_only() {
    let a = base();
    let mut b = a.clone();
    b.spec.suspend = Some(true);
    b.spec.time_to_live_seconds = Some(5);
    assert_eq!(spec_hash(&a.spec), spec_hash(&b.spec));
    b.spec.driver.pod.memory = Some("2g".into());
    assert_ne!(spec_hash(&a.spec), spec_hash(&b.spec));
}

#[test]
fn retry_due_is_interval_times_attempts() {
    let app = with_policy(app_in(S::Failing, 3), RestartPolicyType::OnFailure, 5);
    let status = app.status.clone().expect("status");
    assert_eq!(
        retry_due(&app.spec, &status, t(1)),
        Err(Duration::from_secs(5))
    );
    assert_eq!(retry_due(&app.spec, &status, t(6)), Ok(()));
    // Not a moment early: a millisecond before, a millisecond to wait.
    let just_before = t(6)
        .checked_sub(SignedDuration::from_millis(1))
        .expect("time");
    assert_eq!(
        retry_due(&app.spec, &status, just_before),
        Err(Duration::from_millis(1))
    );
}

/// A driver Pending past `--driver-start-timeout`: the run fails, its pods go (a Pending driver could
/// still start), and the restart policy retries it; an annotation gives one application its own
/// limit; a bad one fails the application at submission, naming it.
#[test]
fn a_driver_that_never_starts_times_out_and_is_retried_by_policy() {
    let mut limited = settings();
    limited.timeouts.driver_start = Some(Duration::from_secs(300));
    let app = with_policy(app_in(S::Submitted, 1), RestartPolicyType::OnFailure, 2);
    let waiting = decide(&app, &driver(PodPhase::Pending, 1), t(120), &limited);
    assert_eq!(waiting.status, None);
    assert_eq!(waiting.requeue_after, Some(Duration::from_secs(180)));

    let d = decide(&app, &driver(PodPhase::Pending, 1), t(300), &limited);
    let status = d.status.clone().expect("status");
    assert_eq!(status.application_state.state, S::Failing);
    assert!(
        status
            .application_state
            .error_message
            .as_deref()
            .is_some_and(|m| m.starts_with("the driver did not start within 5m")),
        "{status:?}"
    );
    assert!(
        matches!(d.actions.as_slice(), [Action::DeleteRun(run)] if run.driver_pod.as_deref() == Some("pi-driver"))
    );
    assert_eq!(d.events[0].reason, "SparkDriverStartTimedOut");
    assert!(d.events[0].warning);

    let mut failing = app.clone();
    failing.status = Some(status);
    let next = decide(&failing, &none(), t(303), &limited);
    assert_eq!(
        next.status.map(|s| s.application_state.state),
        Some(S::PendingRerun)
    );

    // A running driver is not held to it; an annotation shortens it for this application.
    let running = decide(&app, &driver(PodPhase::Running, 1), t(3000), &limited);
    assert_ne!(
        running.status.map(|s| s.application_state.state),
        Some(S::Failing)
    );
    let mut short = app.clone();
    short
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(timeouts::DRIVER_START_ANNOTATION.into(), "1m".into());
    let d = decide(&short, &driver(PodPhase::Pending, 1), t(61), &settings());
    assert_eq!(
        d.status.map(|s| s.application_state.state),
        Some(S::Failing)
    );

    let mut bad = base();
    bad.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(timeouts::RUN_ANNOTATION.into(), "soon".into());
    let d = decide(&bad, &none(), t(0), &settings());
    let status = d.status.expect("status");
    assert_eq!(status.application_state.state, S::Failed);
    assert!(
        status
            .application_state
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("metadata.annotations[sparkplane.io/run-timeout]")),
        "{status:?}"
    );
}

/// What a status too large to store keeps: everything but the executor map and the end of a long
/// error message (cut on a character boundary).
#[test]
fn a_trimmed_status_drops_what_grows_with_the_run() {
    let mut status = app_in(S::Failing, 2).status.expect("status");
    status.executor_state = Some(BTreeMap::from([("pi-exec-1".into(), E::Failed)]));
    status.application_state.error_message = Some("é".repeat(2000));
    let trimmed = trimmed_status(status.clone());
    assert_eq!(trimmed.executor_state, None);
    let message = trimmed
        .application_state
        .error_message
        .clone()
        .expect("message");
    assert!(
        message.len() <= 1024 + 3 && message.ends_with("..."),
        "{}",
        message.len()
    );
    assert_eq!(trimmed.application_state.state, S::Failing);
    assert_eq!(trimmed.submission_attempts, status.submission_attempts);
    assert_eq!(trimmed.driver_info, status.driver_info);
}
