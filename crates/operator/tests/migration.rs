//! Switching from the Kubeflow operator: applications that Kubeflow submitted, left behind in the
//! state Kubeflow wrote (no Sparkplane annotation, a driver pod made by spark-submit with Kubeflow's
//! labels), are followed to their end by Sparkplane without being submitted again.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use sparkplane_api::v1beta2::ApplicationStateType as State;
use support::{Operator, create, setup, wait_events, wait_state};

const SUBMISSION_ID: &str = "0b6f5d2e-3c1a-4e8b-9a57-2f4d1c6e8a90";
const APP_ID: &str = "spark-5d41402abc4b2a76b9719d911017c592";

/// The status Kubeflow's controller writes once spark-submit has run and the driver is up.
fn kubeflow_status(state: &str, pod_name: &str) -> serde_json::Value {
    json!({"status": {
        "applicationState": {"state": state},
        "sparkApplicationId": APP_ID,
        "submissionID": SUBMISSION_ID,
        "lastSubmissionAttemptTime": "2026-11-24T01:00:00Z",
        "terminationTime": if state == "COMPLETED" { json!("2026-11-24T01:05:00Z") } else { json!(null) },
        "executionAttempts": 1,
        "submissionAttempts": 1,
        "driverInfo": {"podName": pod_name, "webUIServiceName": format!("{pod_name}-ui-svc"), "webUIPort": 4040}
    }})
}

/// A driver pod as spark-submit creates it under Kubeflow: Spark's labels plus the three labels
/// Kubeflow passes through `spark.kubernetes.driver.label.*`, owned by the application (Kubeflow's
/// webhook adds the owner).
fn kubeflow_driver_pod(app: &sparkplane_api::SparkApplication) -> anyhow::Result<Pod> {
    let name = app.metadata.name.clone().unwrap_or_default();
    Ok(serde_json::from_value(json!({
        "metadata": {
            "name": format!("{name}-driver"),
            "labels": {
                "spark-app-selector": APP_ID,
                "spark-app-name": name,
                "spark-role": "driver",
                "spark-version": "4.0.4",
                "sparkoperator.k8s.io/app-name": name,
                "sparkoperator.k8s.io/launched-by-spark-operator": "true",
                "sparkoperator.k8s.io/submission-id": SUBMISSION_ID
            },
            "annotations": {"testbed.sparkplane.io/complete-after": "4s"},
            "ownerReferences": [{
                "apiVersion": "sparkoperator.k8s.io/v1beta2",
                "kind": "SparkApplication",
                "name": name,
                "uid": app.metadata.uid.clone().unwrap_or_default(),
                "controller": true
            }]
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [{
                "name": "spark-kubernetes-driver",
                "image": "docker.io/apache/spark:4.0.4",
                "args": ["driver", "--properties-file", "/opt/spark/conf/spark.properties"]
            }]
        }
    }))?)
}

#[tokio::test]
async fn a_run_submitted_by_kubeflow_is_followed_to_its_end_without_a_second_submission()
-> anyhow::Result<()> {
    let env = setup("migrate-running").await?;
    let app = create(&env, &support::app("pi", "4s", 0)).await?;
    let pod = env
        .pods()
        .create(&PostParams::default(), &kubeflow_driver_pod(&app)?)
        .await?;
    env.apps()
        .patch_status(
            "pi",
            &PatchParams::default(),
            &Patch::Merge(kubeflow_status("RUNNING", "pi-driver")),
        )
        .await?;

    let _operator = Operator::start(&env, &[])?;
    let done = wait_state(&env, "pi", State::Completed, Duration::from_secs(60)).await?;

    let status = done.status.clone().unwrap_or_default();
    assert_eq!(status.submission_id.as_deref(), Some(SUBMISSION_ID));
    assert_eq!(status.submission_attempts, Some(1));
    assert_eq!(status.execution_attempts, Some(1));
    let pods = env
        .pods()
        .list(&ListParams::default().labels("sparkoperator.k8s.io/app-name=pi"))
        .await?
        .items;
    let uids: Vec<_> = pods.iter().map(|p| p.metadata.uid.clone()).collect();
    assert_eq!(uids, vec![pod.metadata.uid.clone()], "only Kubeflow's pod");
    // Events are recorded after the status write, in the background: wait for the last one.
    let reasons = wait_events(
        &env,
        "pi",
        &["SparkApplicationCompleted"],
        Duration::from_secs(10),
    )
    .await?;
    assert!(
        !reasons.iter().any(|r| r == "SparkApplicationSubmitted"),
        "submitted again: {reasons:?}"
    );
    let annotations = done.metadata.annotations.unwrap_or_default();
    assert!(
        annotations.contains_key("sparkplane.io/spec-hash"),
        "the adopted spec is recorded: {annotations:?}"
    );
    Ok(())
}

#[tokio::test]
async fn an_application_kubeflow_finished_stays_finished() -> anyhow::Result<()> {
    let env = setup("migrate-done").await?;
    create(&env, &support::app("done", "4s", 0)).await?;
    env.apps()
        .patch_status(
            "done",
            &PatchParams::default(),
            &Patch::Merge(kubeflow_status("COMPLETED", "done-driver")),
        )
        .await?;

    let _operator = Operator::start(&env, &[])?;
    // The operator records the spec it adopted: once that is there, it has looked at the object.
    sparkplane_testbed::wait::until(Duration::from_secs(30), || async {
        let app = env.apps().get("done").await?;
        Ok(app
            .metadata
            .annotations
            .is_some_and(|a| a.contains_key("sparkplane.io/spec-hash")))
    })
    .await?;
    // Give a wrong decision time to show before looking.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let app = env.apps().get("done").await?;
    assert_eq!(support::state(&app), State::Completed);
    let status = app.status.unwrap_or_default();
    assert_eq!(status.submission_attempts, Some(1));
    let pods = env
        .pods()
        .list(&ListParams::default().labels("sparkoperator.k8s.io/app-name=done"))
        .await?
        .items;
    assert!(pods.is_empty(), "nothing submitted: {pods:?}");
    Ok(())
}
