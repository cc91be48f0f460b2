//! Consecutive transitions that follow from what is already observed, written as one status.
//!
//! A decision that only changes the status is applied to a copy of the application and the lifecycle
//! asked again: when the driver has already ended, RUNNING -> SUCCEEDING -> COMPLETED (or FAILING ->
//! FAILED) is one status write, and a submission whose driver is already running is written as
//! RUNNING. Every step's events are kept, in order. The states in between are the ones Kubeflow
//! passes through within one look at the same pods; a state that waits (a retry interval, a grace
//! period) or acts (deleting a run, submitting) ends the chain.

use jiff::Timestamp;
use sparkplane_api::SparkApplication;

use super::{Action, Decision, Observed, Settings, decide};

/// At most this many steps are chained (the longest chain is three).
const MAX_STEPS: usize = 4;

/// `first`, with the transitions that follow it at once chained on.
pub fn settle(
    app: &SparkApplication,
    first: Decision,
    observed: &Observed,
    now: Timestamp,
    settings: &Settings,
) -> Decision {
    let mut settled = first;
    let mut current = app.clone();
    for _ in 1..MAX_STEPS {
        let Some(status) = &settled.status else { break };
        if !settled.actions.is_empty() {
            break;
        }
        current.status = Some(status.clone());
        let next = decide(&current, observed, now, settings);
        let Some(next_status) = next.status else {
            // Nothing more changes now: keep the status, and when to look again from the state
            // it leaves the application in.
            if next.actions.is_empty() {
                settled.requeue_after = next.requeue_after;
            } else {
                // The next step acts: come back at once to do it.
                settled.requeue_after = Some(std::time::Duration::ZERO);
            }
            break;
        };
        if next
            .actions
            .iter()
            .any(|a| matches!(a, Action::Submit { .. }))
        {
            // A resubmission waits for its turn in the submission queue: stop before it.
            settled.requeue_after = Some(std::time::Duration::ZERO);
            break;
        }
        settled.status = Some(next_status);
        settled.events.extend(next.events);
        settled.actions = next.actions;
        settled.requeue_after = next.requeue_after;
    }
    settled
}

impl Decision {
    /// Whether this decision submits.
    pub fn submits(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a, Action::Submit { .. }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use sparkplane_api::SparkApplicationStatus;
    use sparkplane_api::v1beta2::{ApplicationStateType as S, RestartPolicy, RestartPolicyType};
    use sparkplane_submit::names::Ids;

    use super::*;
    use crate::lifecycle::{PodObs, PodPhase, SPEC_HASH_ANNOTATION, Terminated, spec_hash};

    const UID: &str = "5d1f0c2e-8a43-4c1e-9f3c-1d2e3f4a5b6c";

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).expect("valid")
    }

    fn app(state: S) -> SparkApplication {
        let mut app: SparkApplication = serde_yaml::from_str(
            "apiVersion: sparkoperator.k8s.io/v1beta2\nkind: SparkApplication\n\
             metadata: {name: pi, namespace: ns}\n\
             spec: {type: Scala, mode: cluster, image: 'apache/spark:4.0.4',\n\
             mainClass: org.apache.spark.examples.SparkPi,\n\
             mainApplicationFile: 'local:///opt/spark/examples/jars/spark-examples.jar',\n\
             sparkVersion: 4.0.4, driver: {cores: 1, memory: 512m},\n\
             executor: {instances: 1, cores: 1, memory: 512m}}\n",
        )
        .expect("app");
        app.metadata.uid = Some(UID.into());
        let hash = spec_hash(&app.spec);
        app.metadata.annotations = Some(BTreeMap::from([(SPEC_HASH_ANNOTATION.into(), hash)]));
        app.status = Some(SparkApplicationStatus {
            application_state: sparkplane_api::v1beta2::ApplicationState {
                state,
                error_message: None,
            },
            submission_id: Some(Ids::derive(UID, 1, "h").expect("ids").submission_id),
            submission_attempts: Some(1),
            execution_attempts: Some(1),
            last_submission_attempt_time: Some(Time(t(0))),
            driver_info: sparkplane_api::v1beta2::DriverInfo {
                pod_name: Some("pi-driver".into()),
                ..Default::default()
            },
            ..Default::default()
        });
        app
    }

    /// `app` with a restart policy, its spec hash recorded as for a run submitted with it.
    fn retrying(mut app: SparkApplication, retries: i32, interval: i64) -> SparkApplication {
        app.spec.restart_policy = Some(RestartPolicy {
            r#type: Some(RestartPolicyType::OnFailure),
            on_failure_retries: Some(retries),
            on_failure_retry_interval: Some(interval),
            ..Default::default()
        });
        let hash = spec_hash(&app.spec);
        app.metadata.annotations = Some(BTreeMap::from([(SPEC_HASH_ANNOTATION.into(), hash)]));
        app
    }

    fn driver(phase: PodPhase, exit_code: Option<i32>) -> Observed {
        Observed {
            driver: Some(PodObs {
                name: "pi-driver".into(),
                uid: Some("uid-of-pi-driver".into()),
                submission_id: Some(Ids::derive(UID, 1, "h").expect("ids").submission_id),
                phase,
                terminated: exit_code.map(|exit_code| Terminated {
                    exit_code,
                    reason: Some(if exit_code == 0 { "Completed" } else { "Error" }.into()),
                    message: None,
                }),
                message: None,
                deleting: false,
            }),
            executors: vec![],
        }
    }

    fn settled(app: &SparkApplication, observed: &Observed) -> Decision {
        let settings = Settings::default();
        settle(
            app,
            decide(app, observed, t(30), &settings),
            observed,
            t(30),
            &settings,
        )
    }

    fn state(d: &Decision) -> Option<S> {
        d.status.as_ref().map(|s| s.application_state.state)
    }

    fn reasons(d: &Decision) -> Vec<&'static str> {
        d.events.iter().map(|e| e.reason).collect()
    }

    #[test]
    fn a_driver_seen_ended_completes_the_application_in_one_write() {
        let d = settled(&app(S::Running), &driver(PodPhase::Succeeded, Some(0)));
        assert_eq!(state(&d), Some(S::Completed));
        assert_eq!(
            reasons(&d),
            ["SparkDriverCompleted", "SparkApplicationCompleted"]
        );
        assert!(d.actions.is_empty());
    }

    #[test]
    fn the_end_of_an_application_deletes_its_ui_objects_and_keeps_the_driver() {
        let mut running = app(S::Running);
        if let Some(status) = running.status.as_mut() {
            status.driver_info.web_ui_service_name = Some("pi-ui-svc".into());
            status.driver_info.web_ui_ingress_name = Some("pi-ui-ingress".into());
        }
        for observed in [
            driver(PodPhase::Succeeded, Some(0)),
            driver(PodPhase::Failed, Some(1)),
        ] {
            let d = settled(&running, &observed);
            assert!(
                matches!(state(&d), Some(S::Completed | S::Failed)),
                "{:?}",
                state(&d)
            );
            let [Action::DeleteRun(objects)] = d.actions.as_slice() else {
                panic!("the UI objects are not deleted: {:?}", d.actions);
            };
            assert_eq!(
                objects.driver_pod, None,
                "the driver pod (and its log) stays"
            );
            assert!(objects.services.contains(&"pi-ui-svc".to_string()));
            assert!(objects.ingresses.contains(&"pi-ui-ingress".to_string()));
        }
        // Without an Ingress, none is deleted.
        if let Some(status) = running.status.as_mut() {
            status.driver_info.web_ui_ingress_name = None;
        }
        let d = settled(&running, &driver(PodPhase::Succeeded, Some(0)));
        let [Action::DeleteRun(objects)] = d.actions.as_slice() else {
            panic!("{:?}", d.actions);
        };
        assert!(objects.ingresses.is_empty(), "{objects:?}");
    }

    #[test]
    fn a_failed_driver_without_retries_fails_the_application_in_one_write() {
        let d = settled(&app(S::Running), &driver(PodPhase::Failed, Some(3)));
        assert_eq!(state(&d), Some(S::Failed));
        assert_eq!(reasons(&d), ["SparkDriverFailed", "SparkApplicationFailed"]);
        let message = d
            .status
            .as_ref()
            .and_then(|s| s.application_state.error_message.clone())
            .unwrap_or_default();
        assert!(message.contains("ExitCode: 3"), "{message}");
    }

    #[test]
    fn a_submission_seen_running_is_written_as_running() {
        let d = settled(&app(S::Submitted), &driver(PodPhase::Running, None));
        assert_eq!(state(&d), Some(S::Running));
        assert_eq!(reasons(&d), ["SparkDriverRunning"]);
    }

    #[test]
    fn a_retry_stops_the_chain_at_the_step_that_deletes_the_run() {
        let failing = retrying(app(S::Running), 2, 0);
        let d = settled(&failing, &driver(PodPhase::Failed, Some(1)));
        assert_eq!(state(&d), Some(S::PendingRerun));
        assert!(
            matches!(d.actions.as_slice(), [Action::DeleteRun(_)]),
            "{:?}",
            d.actions
        );
        assert_eq!(
            reasons(&d),
            ["SparkDriverFailed", "SparkApplicationPendingRerun"]
        );
    }

    #[test]
    fn a_retry_interval_keeps_failing_and_says_when_to_look_again() {
        let failing = retrying(app(S::Running), 2, 60);
        let d = settled(&failing, &driver(PodPhase::Failed, Some(1)));
        assert_eq!(state(&d), Some(S::Failing));
        assert!(d.actions.is_empty());
        let wait = d.requeue_after.expect("a time to look again");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
    }

    #[test]
    fn nothing_observed_changes_nothing() {
        let d = settled(&app(S::Running), &driver(PodPhase::Running, None));
        assert_eq!(d.status, None);
        assert!(d.events.is_empty());
    }
}
