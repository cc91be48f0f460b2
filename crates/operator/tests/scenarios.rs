//! The operator against the testbed, one scenario per behaviour: the operator binary runs as a
//! ServiceAccount bound to deploy/rbac's ClusterRole in the test's namespace, and kwok plays the
//! driver's fate as the application's driver annotations script it.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::json;
use sparkplane_api::v1beta2::{ApplicationStateType as State, ExecutorState};
use sparkplane_testbed::wait;
use support::*;

const MINUTE: Duration = Duration::from_secs(60);

/// A successful run: RUNNING, then COMPLETED, with every one of Kubeflow's events. SUBMITTED and
/// SUCCEEDING are written only when observed on their own: a driver already running when the
/// submission's status is written is written RUNNING, and a driver seen ended is written COMPLETED
/// in one write (lifecycle::settle), so the operator writes the status two or three times.
#[tokio::test]
async fn success_goes_running_then_completed_in_few_writes() -> anyhow::Result<()> {
    let env = setup("op-success").await?;
    let op = Operator::start(&env, &[])?;
    let log = StateLog::start(&env, "pi");
    create(&env, &app("pi", "2s", 0)).await?;
    let done = wait_state(&env, "pi", State::Completed, MINUTE).await?;

    let states = log.states_until(State::Completed).await?;
    let order = [State::Running, State::Completed];
    let mut at = 0;
    for s in &states {
        if at < order.len() && *s == order[at] {
            at += 1;
        }
    }
    assert_eq!(at, order.len(), "states seen: {states:?}");
    let status_writes = metric_value(
        &op.metrics().await?,
        "sparkplane_api_writes_total{kind=\"sparkapplication/status\",verb=\"update\"}",
    )
    .context("no count of status writes")?;
    assert!(
        (2.0..=3.0).contains(&status_writes),
        "{status_writes} status writes for one run ({states:?})"
    );

    let status = done.status.clone().expect("status");
    assert_eq!(status.submission_attempts, Some(1));
    assert_eq!(status.execution_attempts, Some(1));
    assert!(
        status
            .spark_application_id
            .as_deref()
            .is_some_and(|id| id.starts_with("spark-"))
    );
    assert!(status.submission_id.is_some());
    assert!(status.termination_time.is_some());
    assert!(status.last_submission_attempt_time.is_some());
    assert_eq!(status.driver_info.pod_name.as_deref(), Some("pi-driver"));
    assert_eq!(
        status.driver_info.web_ui_service_name.as_deref(),
        Some("pi-ui-svc")
    );
    assert_eq!(status.driver_info.web_ui_port, Some(4040));
    assert!(
        status
            .driver_info
            .web_ui_address
            .as_deref()
            .is_some_and(|a| a.ends_with(":4040"))
    );
    // At the end the UI Service goes (Kubeflow #2984: Services left behind add environment
    // variables to every new pod); the driver pod stays, with its log.
    let services: Api<Service> = Api::namespaced(env.admin.clone(), env.name());
    wait::until(Duration::from_secs(10), || async {
        Ok(services.get_opt("pi-ui-svc").await?.is_none())
    })
    .await
    .context("the UI Service outlived the application")?;
    assert!(env.pods().get_opt("pi-driver").await?.is_some());

    let reasons = wait_events(
        &env,
        "pi",
        &[
            "SparkApplicationAdded",
            "SparkApplicationSubmitted",
            "SparkDriverRunning",
            "SparkDriverCompleted",
            "SparkApplicationCompleted",
        ],
        Duration::from_secs(10),
    )
    .await?;
    assert!(!reasons.iter().any(|r| r.contains("Failed")), "{reasons:?}");

    // The driver carries the application's labels and the ownerReference to it.
    let driver = env.pods().get("pi-driver").await?;
    assert_eq!(
        driver.labels().get("sparkoperator.k8s.io/submission-id"),
        status.submission_id.as_ref()
    );
    assert_eq!(driver.owner_references()[0].uid, done.uid().expect("uid"));

    op.wait_metrics(&[
        "spark_application_count 1",
        "spark_application_submit_count 1",
        "spark_application_success_count 1",
        "spark_application_running_count 0",
        "sparkplane_applications{state=\"COMPLETED\"} 1",
    ])
    .await?;
    let metrics = op.metrics().await?;
    assert!(metrics.contains("sparkplane_reconciles_total{result=\"ok\"}"));
    assert_eq!(http_get(op.metrics_port, "/healthz").await?, "ok");
    assert_eq!(http_get(op.metrics_port, "/readyz").await?, "ok");
    Ok(())
}

/// Each move to PENDING_RERUN as the watch delivers it: (when it was seen, the
/// lastSubmissionAttemptTime and submissionAttempts it was decided on).
type Reruns = Vec<(jiff::Timestamp, jiff::Timestamp, i64)>;

fn rerun_log(env: &Env, app: &str) -> Recorder<Reruns> {
    let config = watcher::Config::default().fields(&format!("metadata.name={app}"));
    Recorder::start(
        env.apps(),
        config,
        |seen: &mut Reruns, app: sparkplane_api::SparkApplication| {
            let Some(status) = app.status else { return };
            let (Some(last), Some(attempts)) = (
                status.last_submission_attempt_time,
                status.submission_attempts,
            ) else {
                return;
            };
            let attempts = i64::from(attempts);
            if status.application_state.state == State::PendingRerun
                && seen.last().map(|r| r.2) != Some(attempts)
            {
                seen.push((jiff::Timestamp::now(), last.0, attempts));
            }
        },
    )
}

/// The driver pods of one application as they come and go: (submission id, pod uid, the time the
/// pod was first seen), in the order seen.
struct DriverLog(Recorder<Vec<(String, String, Instant)>>);

impl DriverLog {
    fn start(env: &Env, app: &str) -> DriverLog {
        let config = watcher::Config::default().labels(&format!(
            "sparkoperator.k8s.io/app-name={app},spark-role=driver"
        ));
        DriverLog(Recorder::start(
            env.pods(),
            config,
            |seen: &mut Vec<(String, String, Instant)>, pod: Pod| {
                let sid = pod
                    .labels()
                    .get("sparkoperator.k8s.io/submission-id")
                    .cloned()
                    .unwrap_or_default();
                let uid = pod.uid().unwrap_or_default();
                if !seen.iter().any(|(_, u, _)| *u == uid) {
                    seen.push((sid, uid, Instant::now()));
                }
            },
        ))
    }

    fn pods_per_submission(&self) -> anyhow::Result<BTreeMap<String, usize>> {
        let mut out = BTreeMap::new();
        for (sid, _, _) in self.0.read()? {
            *out.entry(sid).or_default() += 1;
        }
        Ok(out)
    }

    fn first_seen(&self) -> anyhow::Result<Vec<Instant>> {
        Ok(self.0.read()?.iter().map(|(_, _, t)| *t).collect())
    }
}

#[tokio::test]
async fn driver_failure_is_retried_on_failure_with_linear_backoff() -> anyhow::Result<()> {
    let env = setup("op-retry").await?;
    let _op = Operator::start(&env, &[])?;
    let log = StateLog::start(&env, "flaky");
    let drivers = DriverLog::start(&env, "flaky");
    let reruns = rerun_log(&env, "flaky");
    let mut manifest = app("flaky", "1s", 1);
    manifest["spec"]["restartPolicy"] = json!({
        "type": "OnFailure", "onFailureRetries": 2, "onFailureRetryInterval": 6,
        "onSubmissionFailureRetries": 1, "onSubmissionFailureRetryInterval": 1
    });
    create(&env, &manifest).await?;
    let failed = wait_state(&env, "flaky", State::Failed, 2 * MINUTE).await?;
    let status = failed.status.expect("status");
    assert_eq!(status.execution_attempts, Some(3), "1 run + 2 retries");
    assert_eq!(status.submission_attempts, Some(3));
    let message = status.application_state.error_message.unwrap_or_default();
    assert!(message.contains("ExitCode: 1"), "{message}");

    let states = log.states_until(State::Failed).await?;
    let count = |s: State| states.iter().filter(|x| **x == s).count();
    // Two reruns. FAILING is written only while a retry waits for its interval (whether it still
    // waits when the failure is seen depends on timing), and the last failure, with no retry left,
    // goes straight to FAILED in the same write.
    assert_eq!(count(State::PendingRerun), 2, "{states:?}");
    assert_eq!(states.last(), Some(&State::Failed));

    // Exactly one driver pod per attempt, and the linear backoff: a rerun is decided no earlier
    // than interval x submissionAttempts after lastSubmissionAttemptTime (6 s after the first
    // attempt, 12 s after the second). How much later depends on when the driver's end is seen
    // (kwok takes 1 to 5 s here, so the interval is long enough that a constant one would show);
    // only the lower bound is the operator's, and the watch's delivery only adds to the time seen.
    let per = drivers.pods_per_submission()?;
    assert_eq!(per.len(), 3, "{per:?}");
    assert!(per.values().all(|n| *n == 1), "{per:?}");
    let reruns = reruns.read()?;
    let attempts: Vec<i64> = reruns.iter().map(|r| r.2).collect();
    assert_eq!(attempts, [1, 2], "{reruns:?}");
    for (seen, last, attempts) in &reruns {
        let due = *last + jiff::SignedDuration::from_secs(6 * attempts);
        assert!(seen >= &due, "rerun seen at {seen}, due at {due}");
    }
    // lastSubmissionAttemptTime is kept in whole seconds, cut down by up to one, as Kubeflow keeps
    // it: the drivers come at least 5 s and 11 s apart.
    let times = drivers.first_seen()?;
    let gap = |a: usize, b: usize| times[b].duration_since(times[a]);
    assert!(gap(0, 1) >= Duration::from_millis(4900), "{:?}", gap(0, 1));
    assert!(gap(1, 2) >= Duration::from_millis(10900), "{:?}", gap(1, 2));

    let reasons = wait_events(
        &env,
        "flaky",
        &[
            "SparkDriverFailed",
            "SparkApplicationPendingRerun",
            "SparkApplicationFailed",
        ],
        Duration::from_secs(10),
    )
    .await?;
    let failures = reasons.iter().filter(|r| *r == "SparkDriverFailed").count();
    assert_eq!(failures, 3, "one driver failure event per run: {reasons:?}");
    Ok(())
}

#[tokio::test]
async fn rejected_submission_is_retried_then_fails() -> anyhow::Result<()> {
    let env = setup("op-subfail").await?;
    let _op = Operator::start(&env, &[])?;
    let log = StateLog::start(&env, "nosa");
    let mut manifest = app("nosa", "1s", 0);
    // The API server's ServiceAccount admission refuses a pod naming a missing account.
    manifest["spec"]["driver"]["serviceAccount"] = json!("missing-account");
    manifest["spec"]["restartPolicy"] = json!({
        "type": "OnFailure", "onSubmissionFailureRetries": 1, "onSubmissionFailureRetryInterval": 1
    });
    create(&env, &manifest).await?;
    let failed = wait_state(&env, "nosa", State::Failed, MINUTE).await?;
    let status = failed.status.expect("status");
    assert_eq!(
        status.submission_attempts,
        Some(2),
        "1 submission + 1 retry"
    );
    assert_eq!(status.execution_attempts, None);
    let message = status.application_state.error_message.unwrap_or_default();
    assert!(message.contains("missing-account"), "{message}");
    let states = log.states_until(State::Failed).await?;
    assert!(states.contains(&State::SubmissionFailed), "{states:?}");
    assert_eq!(states.last(), Some(&State::Failed));
    assert!(env.pods().get_opt("nosa-driver").await?.is_none());
    let reasons = wait_events(
        &env,
        "nosa",
        &["SparkApplicationSubmissionFailed", "SparkApplicationFailed"],
        Duration::from_secs(10),
    )
    .await?;
    assert!(
        !reasons.iter().any(|r| r == "SparkApplicationSubmitted"),
        "{reasons:?}"
    );

    // A pod of someone else's holding the driver's name fails the submission, and is left alone.
    let squatter: Pod = serde_json::from_value(json!({
        "metadata": {"name": "taken-driver"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))?;
    env.pods().create(&PostParams::default(), &squatter).await?;
    create(&env, &app("taken", "1s", 0)).await?;
    let failed = wait_state(&env, "taken", State::Failed, MINUTE).await?;
    let message = failed
        .status
        .and_then(|s| s.application_state.error_message)
        .unwrap_or_default();
    assert!(message.contains("already exists"), "{message}");
    let still = env.pods().get("taken-driver").await?;
    assert!(still.labels().is_empty(), "the foreign pod is untouched");
    Ok(())
}

#[tokio::test]
async fn deleting_the_application_deletes_what_it_made() -> anyhow::Result<()> {
    let env = setup("op-delete").await?;
    let _op = Operator::start(&env, &[])?;
    let mut manifest = app("long", "1h", 0);
    manifest["spec"]["driver"]["annotations"] = json!({});
    manifest["spec"]["monitoring"] = json!({
        "exposeDriverMetrics": true, "exposeExecutorMetrics": true,
        "prometheus": {"jmxExporterJar": "/prometheus/jmx_prometheus_javaagent-0.11.0.jar", "port": 8090}
    });
    create(&env, &manifest).await?;
    wait_state(&env, "long", State::Running, MINUTE).await?;

    let cms: Api<ConfigMap> = Api::namespaced(env.admin.clone(), env.name());
    let svcs: Api<Service> = Api::namespaced(env.admin.clone(), env.name());
    let ours = |names: Vec<String>| -> Vec<String> {
        names
            .into_iter()
            .filter(|n| n != "kube-root-ca.crt")
            .collect()
    };
    let cm_names = ours(
        cms.list(&ListParams::default())
            .await?
            .items
            .iter()
            .map(|c| c.name_any())
            .collect(),
    );
    let svc_names = ours(
        svcs.list(&ListParams::default())
            .await?
            .items
            .iter()
            .map(|c| c.name_any())
            .collect(),
    );
    assert_eq!(
        cm_names.len(),
        3,
        "conf, pod template, Prometheus: {cm_names:?}"
    );
    assert!(
        cm_names.contains(&"long-prom-conf".to_string()),
        "{cm_names:?}"
    );
    assert_eq!(svc_names.len(), 2, "driver and UI services: {svc_names:?}");

    env.apps()
        .delete("long", &DeleteParams::background())
        .await?;
    // The real garbage collector: app -> driver pod and UI service; driver -> its ConfigMaps and
    // Service.
    wait::until(MINUTE, || {
        let (cms, svcs, pods) = (cms.clone(), svcs.clone(), env.pods());
        async move {
            let lp = ListParams::default();
            let left = cms.list(&lp).await?.items.len() - 1
                + svcs.list(&lp).await?.items.len()
                + pods.list(&lp).await?.items.len();
            Ok(left == 0)
        }
    })
    .await?;
    Ok(())
}

/// Executor `n` of running application `app`, as Spark's ExecutorPodsAllocator creates it:
/// labelled, owned by the driver pod.
fn executor_pod(
    app: &str,
    running: &sparkplane_api::SparkApplication,
    driver: &Pod,
    n: usize,
    annotations: serde_json::Value,
) -> anyhow::Result<Pod> {
    let status = running.status.clone().context("no status")?;
    Ok(serde_json::from_value(json!({
        "metadata": {
            "name": format!("{app}-0123456789abcdef-exec-{n}"),
            "labels": {
                "spark-app-selector": status.spark_application_id, "spark-role": "executor",
                "spark-exec-id": n.to_string(),
                "spark-app-name": app,
                "sparkoperator.k8s.io/app-name": app,
                "sparkoperator.k8s.io/launched-by-spark-operator": "true",
                "sparkoperator.k8s.io/submission-id": status.submission_id
            },
            "annotations": annotations,
            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": format!("{app}-driver"),
                "uid": driver.uid().context("driver without uid")?, "controller": true}]
        },
        "spec": {"restartPolicy": "Never", "containers": [
            {"name": "spark-kubernetes-executor", "image": "docker.io/apache/spark:4.0.4", "args": ["executor"]}
        ]}
    }))?)
}

#[tokio::test]
async fn executors_created_like_spark_does_are_tracked() -> anyhow::Result<()> {
    let env = setup("op-exec").await?;
    let op = Operator::start(&env, &[])?;
    let mut manifest = app("wide", "1h", 0);
    manifest["spec"]["driver"]["annotations"] = json!({});
    create(&env, &manifest).await?;
    let running = wait_state(&env, "wide", State::Running, MINUTE).await?;
    let driver = env.pods().get("wide-driver").await?;

    // What Spark's ExecutorPodsAllocator creates: labelled, owned by the driver pod.
    for (n, annotations) in [
        (1, json!({"testbed.sparkplane.io/complete-after": "1s"})),
        (2, json!({})),
    ] {
        let pod = executor_pod("wide", &running, &driver, n, annotations)?;
        env.pods().create(&PostParams::default(), &pod).await?;
    }
    let apps = env.apps();
    let last = std::sync::Arc::new(std::sync::Mutex::new(None));
    wait::until(MINUTE, || {
        let (apps, last) = (apps.clone(), last.clone());
        async move {
            let app = apps.get("wide").await?;
            let map = app
                .status
                .and_then(|s| s.executor_state)
                .unwrap_or_default();
            let ok = map.get("wide-0123456789abcdef-exec-1") == Some(&ExecutorState::Completed)
                && map.get("wide-0123456789abcdef-exec-2") == Some(&ExecutorState::Running);
            *last.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = Some(map);
            Ok(ok)
        }
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}: {:?}", last.lock().map(|l| l.clone())))?;
    wait_events(
        &env,
        "wide",
        &["SparkExecutorRunning", "SparkExecutorCompleted"],
        Duration::from_secs(10),
    )
    .await?;
    op.wait_metrics(&[
        "spark_executor_success_count 1",
        "spark_executor_running_count 1",
    ])
    .await?;
    Ok(())
}

#[tokio::test]
async fn invalid_application_fails_once_and_harms_nothing() -> anyhow::Result<()> {
    let env = setup("op-bad").await?;
    let _op = Operator::start(&env, &[])?;

    let mut invalid = app("invalid", "1s", 0);
    invalid["spec"]["sparkConf"] = json!({"spark.kubernetes.namespace": "elsewhere"});
    create(&env, &invalid).await?;
    create(&env, &app("fine", "1s", 0)).await?;

    let failed = wait_state(&env, "invalid", State::Failed, MINUTE).await?;
    let message = failed
        .status
        .clone()
        .and_then(|s| s.application_state.error_message)
        .unwrap_or_default();
    assert!(message.starts_with("spec.sparkConf:"), "{message}");
    wait_state(&env, "fine", State::Completed, MINUTE).await?;
    wait_events(
        &env,
        "invalid",
        &["SparkApplicationFailed"],
        Duration::from_secs(10),
    )
    .await?;

    // No retry storm: nothing was submitted for it, and it stays as it is.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let again = env.apps().get("invalid").await?;
    assert_eq!(again.status, failed.status);
    assert!(env.pods().get_opt("invalid-driver").await?.is_none());
    Ok(())
}

/// A SparkApplication nested deeper than the operator's JSON reader allows (the pod template takes
/// any fields; the API server accepts thousands of levels), present when the operator lists its
/// namespace, is skipped and counted, and the applications listed beside it run: before the fix it
/// failed the whole list page, and the namespace's applications never ran.
#[tokio::test]
async fn an_application_nested_too_deep_is_skipped_and_the_others_run() -> anyhow::Result<()> {
    let env = setup("op-deep").await?;
    let mut deep = app("deep", "1s", 0);
    let mut junk = json!({});
    for _ in 0..200 {
        junk = json!({ "x": junk });
    }
    deep["spec"]["driver"]["template"] =
        json!({ "metadata": {"labels": {"a": "b"}}, "junk": junk });
    deep["metadata"]["namespace"] = json!(env.name());
    // Sent and read back as text: a typed client has the same nesting limit.
    let apps = kube::core::Request::new(format!(
        "/apis/sparkoperator.k8s.io/v1beta2/namespaces/{}/sparkapplications",
        env.name()
    ));
    env.admin
        .request_text(apps.create(&Default::default(), serde_json::to_vec(&deep)?)?)
        .await?;
    create(&env, &app("listed-beside", "1s", 0)).await?;
    // Started after both exist: its first list holds the deep one.
    let operator = Operator::start(&env, &[])?;
    create(&env, &app("created-after", "1s", 0)).await?;
    for name in ["listed-beside", "created-after"] {
        wait_state(&env, name, State::Completed, MINUTE).await?;
    }
    operator
        .wait_metrics(&["sparkplane_malformed_objects_total 1"])
        .await?;
    let stored = env
        .admin
        .request_text(apps.get("deep", &Default::default())?)
        .await?;
    assert!(stored.contains(r#""name":"deep""#) && !stored.contains(r#""status""#));
    assert!(env.pods().get_opt("deep-driver").await?.is_none());
    Ok(())
}

/// Huge input: 3,000 sparkConf keys (750 KB of spark.properties) run; 4,400 (1.1 MB, more than a
/// ConfigMap holds) are refused before anything is created, naming the field. A driver whose
/// ConfigMap the API server refuses after the pod was made (a quota, here) is deleted, as
/// spark-submit does, instead of waiting for it forever.
#[tokio::test]
async fn huge_conf_runs_or_is_refused_and_a_half_made_driver_is_deleted() -> anyhow::Result<()> {
    let env = setup("op-huge").await?;
    let _operator = Operator::start(&env, &[])?;
    let with_keys = |name: &str, keys: usize| {
        let mut huge = app(name, "1s", 0);
        let conf: serde_json::Map<String, serde_json::Value> = (0..keys)
            .map(|i| (format!("spark.hostile.key{i:05}"), json!("v".repeat(230))))
            .collect();
        huge["spec"]["sparkConf"] = serde_json::Value::Object(conf);
        huge
    };
    create(&env, &with_keys("conf-3000", 3000)).await?;
    create(&env, &with_keys("conf-4400", 4400)).await?;
    wait_state(&env, "conf-3000", State::Completed, MINUTE).await?;
    let refused = wait_state(&env, "conf-4400", State::Failed, MINUTE).await?;
    let message = refused
        .status
        .and_then(|s| s.application_state.error_message)
        .unwrap_or_default();
    assert!(
        message.starts_with("spec.sparkConf: the driver's spark.properties would be"),
        "{message}"
    );
    assert!(env.pods().get_opt("conf-4400-driver").await?.is_none());

    // A quota leaves room for no ConfigMap (the namespace's kube-root-ca.crt takes the one).
    let quotas: Api<k8s_openapi::api::core::v1::ResourceQuota> =
        Api::namespaced(env.admin.clone(), env.name());
    quotas
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "no-configmaps"},
                "spec": {"hard": {"count/configmaps": "1"}}
            }))?,
        )
        .await?;
    wait::until(MINUTE, || async {
        let quota = quotas.get("no-configmaps").await?;
        Ok(quota
            .status
            .and_then(|s| s.used)
            .is_some_and(|used| used.contains_key("count/configmaps")))
    })
    .await?;
    create(&env, &app("quota", "1s", 0)).await?;
    let failed = wait_state(&env, "quota", State::Failed, MINUTE).await?;
    let message = failed
        .status
        .and_then(|s| s.application_state.error_message)
        .unwrap_or_default();
    assert!(message.contains("exceeded quota"), "{message}");
    wait::until(MINUTE, || async {
        Ok(env.pods().get_opt("quota-driver").await?.is_none())
    })
    .await
    .context("the half-made driver was left behind")?;
    Ok(())
}

/// An application at the API server's object size limit (etcd stores up to 1.5 MiB by default): its
/// 1.565 MB spec is stored and its first statuses fit, but not once 150 executors are in
/// `executorState`. The status is then written without the executor map, with a Warning event
/// saying why, and the application is followed to its end; the applications beside it run as if it
/// were not there. Before, the write failed with a 500 and was retried for good: the application
/// stayed RUNNING after its driver ended.
#[tokio::test]
async fn an_application_at_the_size_limit_is_followed_to_its_end() -> anyhow::Result<()> {
    let env = setup("op-limit").await?;
    let _operator = Operator::start(&env, &[])?;
    let mut edge = app("edge", "30s", 0);
    edge["spec"]["arguments"] = json!(vec!["a".repeat(1000); 1565]);
    create(&env, &edge).await?;
    let running = wait_state(&env, "edge", State::Running, MINUTE).await?;
    let driver = env.pods().get("edge-driver").await?;
    for n in 1..=150 {
        let pod = executor_pod("edge", &running, &driver, n, json!({}))?;
        env.pods().create(&PostParams::default(), &pod).await?;
    }
    for i in 0..10 {
        create(&env, &app(&format!("beside-{i}"), "1s", 0)).await?;
    }
    let events = wait_events(&env, "edge", &["SparkApplicationStatusTooLarge"], MINUTE).await?;
    for i in 0..10 {
        wait_state(&env, &format!("beside-{i}"), State::Completed, MINUTE).await?;
    }
    let done = wait_state(&env, "edge", State::Completed, MINUTE * 2).await?;
    let status = done.status.context("no status")?;
    assert_eq!(status.executor_state, None, "{events:?}");
    assert_eq!(status.execution_attempts, Some(1));
    Ok(())
}

/// Spec changes racing deletion: 20 running applications each get a spec change (a rerun; a
/// suspension for every fourth) and are deleted at once, without waiting, while the operator acts on
/// the change (deleted 0 to 2.85 s after it, across the operator's handling of it); 4 more are
/// deleted first and changed after (the change finds nothing). Nothing of
/// theirs is left (pods, Services, ConfigMaps), no driver is created for one more than 2 s after it
/// was deleted (the API server's audit log), and an application created afterwards runs.
#[tokio::test]
async fn spec_changes_racing_deletion_leave_nothing_behind() -> anyhow::Result<()> {
    let env = setup("op-race").await?;
    let _operator = Operator::start(&env, &[])?;
    let names: Vec<String> = (0..24).map(|i| format!("race-{i}")).collect();
    for name in &names {
        create(&env, &app(name, "1h", 0)).await?;
    }
    for name in &names {
        wait_state(&env, name, State::Running, MINUTE).await?;
    }
    // Each application on its own task, so that the deletions spread over the operator's work.
    let races = names.iter().enumerate().map(|(i, name)| {
        let (env, name) = (&env, name.clone());
        async move {
            let change = if i % 4 == 0 {
                json!({"suspend": true})
            } else {
                json!({"arguments": [format!("{i}")]})
            };
            if i < 20 {
                patch_spec(env, &name, change).await?;
                // Swept across the operator's handling of the change: deleting the run, waiting for
                // the old driver to go, submitting again.
                tokio::time::sleep(Duration::from_millis(i as u64 * 150)).await;
                env.apps().delete(&name, &DeleteParams::default()).await?;
            } else {
                env.apps().delete(&name, &DeleteParams::default()).await?;
                let late = patch_spec(env, &name, change).await;
                anyhow::ensure!(
                    late.is_err(),
                    "a change of {name} after its deletion landed"
                );
            }
            anyhow::Ok((format!("{name}-driver"), jiff::Timestamp::now()))
        }
    });
    let deleted_at: BTreeMap<String, jiff::Timestamp> = futures::future::try_join_all(races)
        .await?
        .into_iter()
        .collect();
    let left = |name: &str| names.iter().any(|app| name.starts_with(&format!("{app}-")));
    wait::until(MINUTE, || async {
        let pods = env.pods().list(&ListParams::default()).await?;
        let services = Api::<Service>::namespaced(env.admin.clone(), env.name())
            .list(&ListParams::default())
            .await?;
        let maps = Api::<ConfigMap>::namespaced(env.admin.clone(), env.name())
            .list(&ListParams::default())
            .await?;
        let remaining = pods
            .iter()
            .map(|p| p.name_any())
            .chain(services.iter().map(|s| s.name_any()))
            .chain(maps.iter().map(|m| m.name_any()))
            .filter(|name| left(name))
            .count();
        Ok(remaining == 0)
    })
    .await
    .context("objects of deleted applications were left behind")?;

    create(&env, &app("after", "1s", 0)).await?;
    wait_state(&env, "after", State::Completed, MINUTE).await?;
    let user = format!("system:serviceaccount:{}:sparkplane-operator", env.name());
    let creations = sparkplane_testbed::faults::pod_creations(env.name(), &user)?;
    let reruns = creations
        .iter()
        .filter(|c| c.code == Some(201) && deleted_at.contains_key(&c.pod))
        .count()
        .saturating_sub(names.len());
    eprintln!("drivers created again for a changed application before its deletion: {reruns}");
    assert!(
        reruns > 0,
        "no rerun began before a deletion: the race was not run"
    );
    for creation in creations.iter().filter(|c| c.code == Some(201)) {
        let Some(deleted) = deleted_at.get(&creation.pod) else {
            continue;
        };
        let received: jiff::Timestamp = creation.received.parse()?;
        assert!(
            received.duration_since(*deleted) < jiff::SignedDuration::from_secs(2),
            "{} created {} after its application was deleted",
            creation.pod,
            received.duration_since(*deleted)
        );
    }
    Ok(())
}

#[tokio::test]
async fn time_to_live_deletes_the_finished_application() -> anyhow::Result<()> {
    let env = setup("op-ttl").await?;
    let _op = Operator::start(&env, &[])?;
    let mut manifest = app("brief", "1s", 0);
    manifest["spec"]["timeToLiveSeconds"] = json!(2);
    create(&env, &manifest).await?;
    let done = wait_state(&env, "brief", State::Completed, MINUTE).await?;
    let ended = done
        .status
        .and_then(|s| s.termination_time)
        .expect("terminationTime")
        .0;
    let apps = env.apps();
    wait::until(Duration::from_secs(30), || {
        let apps = apps.clone();
        async move { Ok(apps.get_opt("brief").await?.is_none()) }
    })
    .await?;
    let gone = jiff::Timestamp::now();
    // Not before terminationTime + 2 s. The stored terminationTime is cut to whole seconds, so it is
    // at or before the real end: the cut only lengthens the gap measured from it, never shortens it.
    let after = gone.duration_since(ended);
    assert!(
        after >= jiff::SignedDuration::from_secs(2),
        "deleted {after:?} after termination"
    );
    Ok(())
}

fn running_attempts(app: &sparkplane_api::SparkApplication) -> Option<i32> {
    app.status.as_ref().and_then(|s| s.submission_attempts)
}

async fn patch_spec(env: &Env, name: &str, spec: serde_json::Value) -> anyhow::Result<()> {
    env.apps()
        .patch(
            name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({ "spec": spec })),
        )
        .await?;
    Ok(())
}

#[tokio::test]
async fn suspend_deletes_the_run_and_resume_submits_again() -> anyhow::Result<()> {
    let env = setup("op-suspend").await?;
    let _op = Operator::start(&env, &[])?;
    let log = StateLog::start(&env, "pausable");
    let drivers = DriverLog::start(&env, "pausable");
    let mut manifest = app("pausable", "1h", 0);
    manifest["spec"]["driver"]["annotations"] = json!({});
    create(&env, &manifest).await?;
    let first = wait_state(&env, "pausable", State::Running, MINUTE).await?;

    patch_spec(&env, "pausable", json!({"suspend": true})).await?;
    wait_state(&env, "pausable", State::Suspended, MINUTE).await?;
    assert!(
        env.pods().get_opt("pausable-driver").await?.is_none(),
        "the driver is deleted"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = env.apps().get("pausable").await?;
    assert_eq!(state(&held), State::Suspended, "holds while suspended");

    patch_spec(&env, "pausable", json!({"suspend": false})).await?;
    let resumed = wait_state(&env, "pausable", State::Running, MINUTE).await?;
    assert_eq!(running_attempts(&first), Some(1));
    assert_eq!(running_attempts(&resumed), Some(2));
    let states = log.states_until(State::Running).await?;
    for s in [State::Suspending, State::Suspended, State::Resuming] {
        assert!(states.contains(&s), "{s:?} not in {states:?}");
    }
    let per = drivers.pods_per_submission()?;
    assert_eq!(per.len(), 2, "{per:?}");
    assert!(per.values().all(|n| *n == 1), "{per:?}");
    wait_events(
        &env,
        "pausable",
        &[
            "SparkApplicationSuspending",
            "SparkApplicationSuspended",
            "SparkApplicationResuming",
        ],
        Duration::from_secs(10),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_spec_change_reruns_and_suspend_or_ttl_changes_do_not() -> anyhow::Result<()> {
    let env = setup("op-rerun").await?;
    let _op = Operator::start(&env, &[])?;
    let log = StateLog::start(&env, "edited");
    let drivers = DriverLog::start(&env, "edited");
    let mut manifest = app("edited", "1h", 0);
    manifest["spec"]["driver"]["annotations"] = json!({});
    create(&env, &manifest).await?;
    wait_state(&env, "edited", State::Running, MINUTE).await?;

    patch_spec(&env, "edited", json!({"arguments": ["100"]})).await?;
    let apps = env.apps();
    wait::until(MINUTE, || {
        let apps = apps.clone();
        async move {
            let app = apps.get("edited").await?;
            Ok(state(&app) == State::Running && running_attempts(&app) == Some(2))
        }
    })
    .await?;
    let states = log.states_until(State::Running).await?;
    assert!(states.contains(&State::Invalidating), "{states:?}");
    assert!(states.contains(&State::PendingRerun), "{states:?}");
    // The new driver runs the new arguments.
    let driver = env.pods().get("edited-driver").await?;
    let args = driver
        .spec
        .and_then(|s| s.containers.last().and_then(|c| c.args.clone()));
    assert!(args.is_some_and(|a| a.last().map(String::as_str) == Some("100")));

    // Neither timeToLiveSeconds nor suspend is part of the spec that reruns: setting either (here
    // `suspend: false`, which changes the spec without suspending) leaves the run alone.
    for change in [
        json!({"timeToLiveSeconds": 3600}),
        json!({"suspend": false}),
    ] {
        patch_spec(&env, "edited", change.clone()).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let app = env.apps().get("edited").await?;
        assert_eq!(running_attempts(&app), Some(2), "after {change}");
        assert_eq!(state(&app), State::Running, "after {change}");
    }
    let states = log.states()?;
    let reruns = states.iter().filter(|s| **s == State::Invalidating).count();
    assert_eq!(reruns, 1, "{states:?}");
    let per = drivers.pods_per_submission()?;
    assert_eq!(per.len(), 2, "{per:?}");
    assert!(per.values().all(|n| *n == 1), "{per:?}");
    Ok(())
}

/// Kubeflow documents that editing a finished application reruns it, and its controller does not
/// (Kubeflow #2618). Here a COMPLETED application edited runs again with the new spec, and a FAILED
/// one whose edit fixes it runs again and completes: one new driver each, the attempts counted on.
#[tokio::test]
async fn editing_a_completed_or_failed_application_reruns_it() -> anyhow::Result<()> {
    let env = setup("op-edit-done").await?;
    let _op = Operator::start(&env, &[])?;
    let done_drivers = DriverLog::start(&env, "done");
    let fixed_drivers = DriverLog::start(&env, "fixed");
    create(&env, &app("done", "1s", 0)).await?;
    create(&env, &app("fixed", "1s", 1)).await?;
    wait_state(&env, "done", State::Completed, MINUTE).await?;
    wait_state(&env, "fixed", State::Failed, MINUTE).await?;

    patch_spec(&env, "done", json!({"arguments": ["7"]})).await?;
    patch_spec(
        &env,
        "fixed",
        json!({"driver": {"annotations": {"testbed.sparkplane.io/exit-code": "0"}}}),
    )
    .await?;
    for name in ["done", "fixed"] {
        let apps = env.apps();
        wait::until(MINUTE, || {
            let apps = apps.clone();
            async move {
                let app = apps.get(name).await?;
                Ok(state(&app) == State::Completed && running_attempts(&app) == Some(2))
            }
        })
        .await
        .with_context(|| format!("{name} did not run again to COMPLETED"))?;
    }
    let driver = env.pods().get("done-driver").await?;
    let args = driver
        .spec
        .and_then(|s| s.containers.last().and_then(|c| c.args.clone()));
    assert!(
        args.as_ref().and_then(|a| a.last()).map(String::as_str) == Some("7"),
        "{args:?}"
    );
    for drivers in [done_drivers, fixed_drivers] {
        let per = drivers.pods_per_submission()?;
        assert_eq!(per.len(), 2, "{per:?}");
        assert!(per.values().all(|n| *n == 1), "{per:?}");
    }
    Ok(())
}

/// A driver no node can take stays Pending; with `sparkplane.io/driver-start-timeout` the run fails
/// after it, its driver pod is deleted, the restart policy reruns it once, and the second run ends
/// the application FAILED with the reason and a Warning event each time.
#[tokio::test]
async fn a_driver_that_cannot_be_scheduled_times_out_and_is_retried_once() -> anyhow::Result<()> {
    let env = setup("op-timeout").await?;
    let _op = Operator::start(&env, &[])?;
    let drivers = DriverLog::start(&env, "stuck");
    let mut manifest = app("stuck", "1s", 0);
    manifest["metadata"]["annotations"] = json!({"sparkplane.io/driver-start-timeout": "4s"});
    manifest["spec"]["driver"]["nodeSelector"] = json!({"sparkplane.io/no-such-node": "x"});
    manifest["spec"]["restartPolicy"] =
        json!({"type": "OnFailure", "onFailureRetries": 1, "onFailureRetryInterval": 1});
    create(&env, &manifest).await?;
    let failed = wait_state(&env, "stuck", State::Failed, MINUTE).await?;
    let status = failed.status.context("no status")?;
    assert_eq!(status.submission_attempts, Some(2), "{status:?}");
    let message = status.application_state.error_message.unwrap_or_default();
    assert!(
        message.starts_with(
            "the driver did not start within 4s (driver pod stuck-driver still Pending"
        ),
        "{message}"
    );
    let reasons = wait_events(
        &env,
        "stuck",
        &[
            "SparkDriverStartTimedOut",
            "SparkApplicationPendingRerun",
            "SparkApplicationFailed",
        ],
        Duration::from_secs(10),
    )
    .await?;
    assert_eq!(
        reasons
            .iter()
            .filter(|r| *r == "SparkDriverStartTimedOut")
            .count(),
        2,
        "{reasons:?}"
    );
    // Both runs' drivers were created once each, and deleted: none is left to start later.
    let per = drivers.pods_per_submission()?;
    assert_eq!(per.len(), 2, "{per:?}");
    wait::until(Duration::from_secs(20), || async {
        Ok(env.pods().get_opt("stuck-driver").await?.is_none())
    })
    .await
    .context("the timed-out driver pod is still there")?;
    Ok(())
}

#[tokio::test]
async fn the_follower_takes_over_when_the_leader_dies() -> anyhow::Result<()> {
    let env = setup("op-leader").await?;
    let lease = |id: &'static str| {
        [
            "--leader-elect",
            "true",
            "--lease-duration-seconds",
            "4",
            "--identity",
            id,
        ]
    };
    let mut a = Operator::start(&env, &lease("replica-a"))?;
    let mut b = Operator::start(&env, &lease("replica-b"))?;
    let drivers = DriverLog::start(&env, "before");
    let drivers_after = DriverLog::start(&env, "after");
    create(&env, &app("before", "1s", 0)).await?;
    wait_state(&env, "before", State::Completed, MINUTE).await?;

    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(env.admin.clone(), env.name());
    let holder = leases
        .get("sparkplane-controller-lock")
        .await?
        .spec
        .and_then(|s| s.holder_identity)
        .unwrap_or_default();
    let (leader, follower) = match holder.as_str() {
        "replica-a" => (&mut a, &mut b),
        "replica-b" => (&mut b, &mut a),
        other => anyhow::bail!("unexpected lease holder {other:?}"),
    };
    // Only the leader reconciles (and so writes).
    let standby = follower.metrics().await?;
    assert!(
        standby.lines().any(|l| l == "sparkplane_leader 0"),
        "{standby}"
    );
    assert!(
        !standby.contains("sparkplane_reconciles_total{"),
        "{standby}"
    );
    let leading = leader.metrics().await?;
    assert!(
        leading.lines().any(|l| l == "sparkplane_leader 1"),
        "{leading}"
    );

    leader.kill();
    let killed = Instant::now();
    let log = StateLog::start(&env, "after");
    create(&env, &app("after", "1s", 0)).await?;
    let done = wait_state(&env, "after", State::Completed, MINUTE).await?;
    let states = log.states_until(State::Completed).await?;
    assert!(states.contains(&State::Running), "{states:?}");
    let took = killed.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "takeover and run took {took:?}"
    );
    assert!(follower.is_running());
    let now_leading = follower.metrics().await?;
    assert!(
        now_leading.lines().any(|l| l == "sparkplane_leader 1"),
        "{now_leading}"
    );

    // No double submission across the handover.
    assert_eq!(running_attempts(&done), Some(1));
    for d in [&drivers, &drivers_after] {
        let per = d.pods_per_submission()?;
        assert_eq!(per.len(), 1, "{per:?}");
        assert!(per.values().all(|n| *n == 1), "{per:?}");
    }

    // A leader stopped with SIGTERM exits cleanly and hands the Lease back at once.
    assert!(follower.terminate()?, "exit status");
    let holder = leases
        .get("sparkplane-controller-lock")
        .await?
        .spec
        .and_then(|s| s.holder_identity)
        .unwrap_or_default();
    assert_eq!(holder, "", "the Lease is released");
    Ok(())
}

/// A ClusterRoleBinding made by a test, deleted when dropped.
struct ClusterBinding {
    name: String,
}

impl Drop for ClusterBinding {
    fn drop(&mut self) {
        let name = self.name.clone();
        // The test's runtime may be gone, and its clients with it: delete from a thread with a
        // runtime and a client of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let admin = sparkplane_testbed::Testbed::get()?.client().await?;
                let api: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(admin);
                api.delete(&name, &DeleteParams::default()).await?;
                anyhow::Ok(())
            })
        })
        .join();
    }
}

#[tokio::test]
async fn only_namespaces_matching_the_selector_are_run() -> anyhow::Result<()> {
    let env = setup("op-scope").await?;
    let other = sparkplane_testbed::Testbed::get()?
        .namespace("op-scope-b")
        .await?;
    let here = env.name().to_owned();
    let label = "sparkplane.io/test-scope";
    // Watching by label selector is cluster-wide: bind the ClusterRole cluster-wide for this test.
    let binding: k8s_openapi::api::rbac::v1::ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": format!("sparkplane-operator-{here}")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "sparkplane-operator"},
        "subjects": [{"kind": "ServiceAccount", "name": "sparkplane-operator", "namespace": here}]
    }))?;
    Api::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>::all(env.admin.clone())
        .create(&PostParams::default(), &binding)
        .await?;
    let _binding = ClusterBinding {
        name: format!("sparkplane-operator-{here}"),
    };
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(env.admin.clone());
    let select = |ns: String| {
        let namespaces = namespaces.clone();
        async move {
            namespaces
                .patch(
                    &ns,
                    &kube::api::PatchParams::default(),
                    &kube::api::Patch::Merge(json!({"metadata": {"labels": {label: "on"}}})),
                )
                .await
        }
    };
    select(here.clone()).await?;
    let selector = format!("{label}=on");
    let _op = Operator::start_unscoped(&env, &["--namespace-selector", &selector])?;

    let elsewhere: Api<sparkplane_api::SparkApplication> =
        Api::namespaced(env.admin.clone(), other.name());
    let mut outside = app("outside", "1s", 0);
    outside["metadata"]["namespace"] = json!(other.name());
    elsewhere
        .create(&PostParams::default(), &serde_json::from_value(outside)?)
        .await?;
    create(&env, &app("inside", "1s", 0)).await?;
    wait_state(&env, "inside", State::Completed, MINUTE).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let untouched = elsewhere.get("outside").await?;
    assert_eq!(state(&untouched), State::New, "{:?}", untouched.status);
    let pods: Api<Pod> = Api::namespaced(env.admin.clone(), other.name());
    assert!(pods.list(&ListParams::default()).await?.items.is_empty());

    // The namespace starts matching: its application is picked up.
    select(other.name().to_owned()).await?;
    wait::until(MINUTE, || {
        let elsewhere = elsewhere.clone();
        async move { Ok(state(&elsewhere.get("outside").await?) == State::Completed) }
    })
    .await?;
    Ok(())
}

/// A recorder whose watch fails says so on every read, rather than handing out what it saw before as
/// if that were all (here the API server is a closed port, so the first list fails).
#[tokio::test]
async fn a_recorder_whose_watch_fails_fails_its_reads() -> anyhow::Result<()> {
    let config = kube::Config::new("http://127.0.0.1:1".parse()?);
    let apps: Api<sparkplane_api::SparkApplication> =
        Api::namespaced(kube::Client::try_from(config)?, "nowhere");
    let log = Recorder::start(
        apps,
        watcher::Config::default(),
        |seen: &mut Vec<String>, app: sparkplane_api::SparkApplication| seen.push(app.name_any()),
    );
    let failed = wait::until(Duration::from_secs(10), || async {
        Ok(log.read().is_err())
    })
    .await;
    failed.map_err(|e| anyhow::anyhow!("reads still succeed after the watch failed: {e}"))?;
    let error = log.read().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("the watch failed"), "{error}");
    Ok(())
}

/// The fewest applications `SPARKPLANE_CRASH_APPS` may ask for: a smaller burst would be over before
/// most of the kills, and the test would prove little.
const MIN_CRASH_APPS: usize = 50;

/// The burst's size: 200, or `SPARKPLANE_CRASH_APPS` for a quicker local run (refused below
/// [`MIN_CRASH_APPS`] or when not a number, rather than quietly testing less).
fn crash_apps(value: Option<&std::ffi::OsStr>) -> anyhow::Result<usize> {
    let Some(value) = value else {
        return Ok(200);
    };
    let value = value.to_string_lossy();
    let count: usize = value
        .parse()
        .map_err(|e| anyhow::anyhow!("SPARKPLANE_CRASH_APPS={value:?}: {e}"))?;
    anyhow::ensure!(
        count >= MIN_CRASH_APPS,
        "SPARKPLANE_CRASH_APPS={count}: at least {MIN_CRASH_APPS} applications make a burst"
    );
    Ok(count)
}

#[test]
fn the_crash_burst_cannot_be_made_empty() {
    let size = |v: &str| crash_apps(Some(std::ffi::OsStr::new(v)));
    assert_eq!(crash_apps(None).ok(), Some(200));
    assert_eq!(size("50").ok(), Some(50));
    for refused in ["0", "49", "", "lots", "-1"] {
        assert!(size(refused).is_err(), "{refused:?} accepted");
    }
}

/// 200 applications submitted while the operator is SIGKILLed again and again: every one ends in
/// its right state, with exactly one driver pod per attempt and nothing left without an owner.
#[tokio::test]
async fn a_burst_survives_repeated_sigkills() -> anyhow::Result<()> {
    let count = crash_apps(std::env::var_os("SPARKPLANE_CRASH_APPS").as_deref())?;
    let env = setup("op-crash").await?;
    let pods = env.pods();
    // Every driver pod ever seen: (app, submission id) -> pod uids.
    type Seen = BTreeMap<(String, String), std::collections::BTreeSet<String>>;
    let watch = Recorder::start(
        pods,
        watcher::Config::default().labels("spark-role=driver"),
        |seen: &mut Seen, pod: Pod| {
            let label = |k: &str| pod.labels().get(k).cloned().unwrap_or_default();
            let key = (
                label("sparkoperator.k8s.io/app-name"),
                label("sparkoperator.k8s.io/submission-id"),
            );
            seen.entry(key)
                .or_default()
                .insert(pod.uid().unwrap_or_default());
        },
    );

    // As deployed: leader election on; a restarted replica keeps its identity, so it takes its Lease
    // back at once.
    let args = deployed_operator_args("crash-test", "4");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut op = Operator::start(&env, &args)?;
    let failing = |i: usize| i.is_multiple_of(4);
    let manifests: Vec<serde_json::Value> = (0..count)
        .map(|i| {
            let name = format!("burst-{i:03}");
            if failing(i) {
                let mut m = app(&name, "1s", 2);
                m["spec"]["restartPolicy"] = json!({
                    "type": "OnFailure", "onFailureRetries": 1, "onFailureRetryInterval": 1
                });
                m
            } else {
                app(&name, "2s", 0)
            }
        })
        .collect();
    let creating = futures::stream::iter(manifests.iter().map(|m| create(&env, m)))
        .buffer_unordered(16)
        .try_collect::<Vec<_>>();
    let killing = async {
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            op.kill();
            op = Operator::start(&env, &args)?;
        }
        anyhow::Ok(())
    };
    let (created, killed) = tokio::join!(creating, killing);
    created?;
    killed?;

    let apps = env.apps();
    let last = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let done = wait::until(Duration::from_secs(240), || {
        let (apps, last) = (apps.clone(), last.clone());
        async move {
            let list = apps.list(&ListParams::default()).await?.items;
            let open: Vec<String> = list
                .iter()
                .filter(|a| !matches!(state(a), State::Completed | State::Failed))
                .map(|a| format!("{}={:?}", a.name_any(), state(a)))
                .collect();
            if let Ok(mut l) = last.lock() {
                *l = open.iter().take(10).cloned().collect::<Vec<_>>().join(" ");
            }
            Ok(list.len() == count && open.is_empty())
        }
    })
    .await;
    done.map_err(|e| anyhow::anyhow!("{e}; still open: {:?}", last.lock().map(|l| l.clone())))?;

    let list = env.apps().list(&ListParams::default()).await?.items;
    for a in &list {
        let i: usize = a.name_any()[6..].parse()?;
        let s = a.status.clone().unwrap_or_default();
        let (want, attempts) = if failing(i) {
            (State::Failed, 2)
        } else {
            (State::Completed, 1)
        };
        assert_eq!(s.application_state.state, want, "{}: {s:?}", a.name_any());
        assert_eq!(
            s.submission_attempts,
            Some(attempts),
            "{}: {s:?}",
            a.name_any()
        );
        assert_eq!(
            s.execution_attempts,
            Some(attempts),
            "{}: {s:?}",
            a.name_any()
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = watch.read()?;
    for ((app, sid), uids) in &seen {
        assert_eq!(
            uids.len(),
            1,
            "{app} submission {sid}: {} driver pods",
            uids.len()
        );
    }
    for a in &list {
        let name = a.name_any();
        let runs = seen.keys().filter(|(n, _)| *n == name).count() as i32;
        let attempts = a.status.as_ref().and_then(|s| s.submission_attempts);
        assert_eq!(
            Some(runs),
            attempts,
            "{name}: driver pods of {runs} submissions"
        );
    }

    // Nothing orphaned: every pod, ConfigMap and Service has a live owner.
    let mut owners: std::collections::BTreeSet<String> =
        list.iter().filter_map(|a| a.uid()).collect();
    let pod_list = env.pods().list(&ListParams::default()).await?.items;
    owners.extend(pod_list.iter().filter_map(|p| p.uid()));
    let cms: Api<ConfigMap> = Api::namespaced(env.admin.clone(), env.name());
    let svcs: Api<Service> = Api::namespaced(env.admin.clone(), env.name());
    let mut dependents: Vec<(String, Vec<String>)> = Vec::new();
    for p in &pod_list {
        dependents.push((
            p.name_any(),
            p.owner_references().iter().map(|o| o.uid.clone()).collect(),
        ));
    }
    for c in cms.list(&ListParams::default()).await?.items {
        if c.name_any() != "kube-root-ca.crt" {
            dependents.push((
                c.name_any(),
                c.owner_references().iter().map(|o| o.uid.clone()).collect(),
            ));
        }
    }
    for s in svcs.list(&ListParams::default()).await?.items {
        dependents.push((
            s.name_any(),
            s.owner_references().iter().map(|o| o.uid.clone()).collect(),
        ));
    }
    for (name, refs) in &dependents {
        assert!(
            refs.iter().any(|u| owners.contains(u)),
            "{name} has no live owner ({refs:?})"
        );
    }
    assert!(op.is_running());
    Ok(())
}

#[tokio::test]
async fn a_namespace_list_runs_there_with_role_bindings_only() -> anyhow::Result<()> {
    let env = setup("op-list").await?;
    let testbed = sparkplane_testbed::Testbed::get()?;
    let second = testbed.namespace("op-list-b").await?;
    let outside = testbed.namespace("op-list-c").await?;
    // The operator's account gets the ClusterRole in the second namespace too, through a
    // RoleBinding: no cluster-wide permission at all.
    let binding: k8s_openapi::api::rbac::v1::RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "sparkplane-operator", "namespace": second.name()},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "sparkplane-operator"},
        "subjects": [{"kind": "ServiceAccount", "name": "sparkplane-operator", "namespace": env.name()}]
    }))?;
    Api::<k8s_openapi::api::rbac::v1::RoleBinding>::namespaced(env.admin.clone(), second.name())
        .create(&PostParams::default(), &binding)
        .await?;
    let list = format!("{},{}", env.name(), second.name());
    let _op = Operator::start_unscoped(&env, &["--namespace", &list])?;

    let api = |ns: &str| -> Api<sparkplane_api::SparkApplication> {
        Api::namespaced(env.admin.clone(), ns)
    };
    for ns in [env.name(), second.name(), outside.name()] {
        let mut m = app("listed", "1s", 0);
        m["metadata"]["namespace"] = json!(ns);
        api(ns)
            .create(&PostParams::default(), &serde_json::from_value(m)?)
            .await?;
    }
    for ns in [env.name(), second.name()] {
        let apps = api(ns);
        wait::until(MINUTE, || {
            let apps = apps.clone();
            async move { Ok(state(&apps.get("listed").await?) == State::Completed) }
        })
        .await
        .map_err(|e| anyhow::anyhow!("{ns}: {e}"))?;
    }
    let untouched = api(outside.name()).get("listed").await?;
    assert_eq!(state(&untouched), State::New, "{:?}", untouched.status);
    Ok(())
}

/// The value of the sample `name{labels}` in a Prometheus text exposition.
fn metric_value(exposition: &str, sample: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(sample)?.trim().parse().ok())
}

/// `kubectl wait --for=condition=...` works on SparkApplications: one that completes and one that
/// fails, each waited for by the real kubectl, and the conditions carry the state as reason.
#[tokio::test]
async fn kubectl_waits_for_completed_and_failed_conditions() -> anyhow::Result<()> {
    let env = setup("op-conditions").await?;
    let _op = Operator::start(&env, &[])?;
    create(&env, &app("ok", "2s", 0)).await?;
    create(&env, &app("bad", "2s", 1)).await?;
    let kubectl = sparkplane_testbed::bin_dir()?.join("kubectl");
    let kubeconfig = sparkplane_testbed::Testbed::get()?
        .kubeconfig()
        .to_path_buf();
    let wait_for = |name: &'static str, condition: &'static str| {
        let (kubectl, kubeconfig, namespace) =
            (kubectl.clone(), kubeconfig.clone(), env.name().to_owned());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(kubectl)
                .env("KUBECONFIG", kubeconfig)
                .args(["wait", "-n", &namespace, "--timeout=90s"])
                .arg(format!("--for=condition={condition}"))
                .arg(format!("sparkapplication/{name}"))
                .output()
        })
    };
    let (completed, failed) = tokio::join!(wait_for("ok", "Completed"), wait_for("bad", "Failed"));
    for (what, out) in [("ok Completed", completed??), ("bad Failed", failed??)] {
        anyhow::ensure!(
            out.status.success(),
            "kubectl wait for {what}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for (name, state, reason) in [
        ("ok", State::Completed, "Completed"),
        ("bad", State::Failed, "Failed"),
    ] {
        let app = env.apps().get(name).await?;
        assert_eq!(support::state(&app), state, "{name}");
        let conditions = app
            .status
            .and_then(|s| s.conditions)
            .context("no conditions")?;
        let truths: Vec<&str> = conditions
            .iter()
            .filter(|c| c.status == "True")
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(truths, ["Submitted", reason], "{name}: {conditions:?}");
        assert!(
            conditions
                .iter()
                .all(|c| c.reason == reason && c.observed_generation == Some(1))
        );
    }
    Ok(())
}

/// With `--enable-driver-pdb`, an application asking for a driver budget gets one, owned by its
/// driver: a drain of the driver's node (and a plain eviction) is refused while the driver runs, and
/// allowed once it has ended; the pods carry the asked priority classes.
#[tokio::test]
async fn a_driver_budget_holds_off_a_drain_while_the_driver_runs() -> anyhow::Result<()> {
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use k8s_openapi::api::scheduling::v1::PriorityClass;
    use kube::api::{Patch, PatchParams};

    let env = setup("pdb").await?;
    let _operator = Operator::start(&env, &["--enable-driver-pdb", "true"])?;
    let classes: Api<PriorityClass> = Api::all(env.admin.clone());
    let class: PriorityClass = serde_json::from_value(json!({
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": {"name": "sparkplane-test-spark"}, "value": 1000
    }))?;
    classes
        .patch(
            "sparkplane-test-spark",
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&class),
        )
        .await?;
    let mut pi = app("pi", "60s", 0);
    pi["metadata"]["namespace"] = json!(env.name());
    pi["spec"]["driverPodDisruptionBudget"] = json!(true);
    pi["spec"]["driver"]["priorityClassName"] = json!("sparkplane-test-spark");
    pi["spec"]["executor"]["priorityClassName"] = json!("sparkplane-test-spark");
    create(&env, &pi).await?;
    wait_state(&env, "pi", State::Running, Duration::from_secs(60)).await?;

    let driver = env.pods().get("pi-driver").await?;
    let spec = driver.spec.clone().context("spec")?;
    assert_eq!(
        spec.priority_class_name.as_deref(),
        Some("sparkplane-test-spark")
    );
    assert_eq!(
        spec.priority,
        Some(1000),
        "the API server resolves the class"
    );
    let templates: Api<ConfigMap> = Api::namespaced(env.admin.clone(), env.name());
    let executor_template = templates
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|c| c.name_any().ends_with("-driver-podspec-conf-map"))
        .flat_map(|c| c.data.unwrap_or_default().into_values())
        .collect::<String>();
    assert!(
        executor_template.contains("\"priorityClassName\": \"sparkplane-test-spark\""),
        "{executor_template}"
    );

    let budgets: Api<PodDisruptionBudget> = Api::namespaced(env.admin.clone(), env.name());
    wait::until(Duration::from_secs(30), || async {
        Ok(budgets
            .get_opt("pi-driver")
            .await?
            .and_then(|b| b.status)
            .is_some_and(|s| {
                s.current_healthy == Some(1) && s.disruptions_allowed.unwrap_or(0) == 0
            }))
    })
    .await
    .context("no healthy driver budget")?;
    let budget = budgets.get("pi-driver").await?;
    let owner = &budget.metadata.owner_references.clone().unwrap_or_default()[0];
    assert_eq!(
        (owner.kind.as_str(), &owner.uid),
        ("Pod", &driver.uid().unwrap_or_default())
    );
    assert_eq!(
        budget.spec.and_then(|s| s.min_available),
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(1))
    );

    // A drain of the driver's node (server-side dry run: the node is shared) stops at the budget.
    let node = spec.node_name.clone().context("not scheduled")?;
    let kubectl = sparkplane_testbed::bin_dir()?.join("kubectl");
    let drain = std::process::Command::new(&kubectl)
        .args([
            "drain",
            &node,
            "--pod-selector=sparkoperator.k8s.io/app-name=pi,spark-role=driver",
            "--dry-run=server",
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=8s",
        ])
        .env(
            "KUBECONFIG",
            sparkplane_testbed::Testbed::get()?.kubeconfig(),
        )
        .output()?;
    let said = String::from_utf8_lossy(&drain.stderr);
    assert!(!drain.status.success(), "the drain went through: {said}");
    assert!(said.contains("disruption budget"), "{said}");
    // An eviction for real: refused, the driver stays.
    let refused = evict(&env, "pi-driver")?;
    assert!(
        matches!(&refused, Err(message) if message.contains("TooManyRequests")),
        "{refused:?}"
    );
    assert!(env.pods().get_opt("pi-driver").await?.is_some());

    // Ended, the driver no longer holds evictions off; evicted, it takes its budget with it.
    wait_state(&env, "pi", State::Completed, Duration::from_secs(120)).await?;
    evict(&env, "pi-driver")?.map_err(|refusal| anyhow::anyhow!(refusal))?;
    wait::until(Duration::from_secs(60), || async {
        Ok(budgets.get_opt("pi-driver").await?.is_none())
    })
    .await
    .context("the budget outlived its driver")?;
    Ok(())
}

/// Asks the API server to evict a pod of the test's namespace, as kubectl drain does (a policy/v1
/// Eviction); the API server's answer, or its refusal.
fn evict(env: &Env, pod: &str) -> anyhow::Result<Result<String, String>> {
    let body = json!({
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pod, "namespace": env.name()},
    });
    let output = run_with_input(
        std::process::Command::new(sparkplane_testbed::bin_dir()?.join("kubectl"))
            .args([
                "create",
                "--raw",
                &format!("/api/v1/namespaces/{}/pods/{pod}/eviction", env.name()),
                "-f",
                "-",
            ])
            .env(
                "KUBECONFIG",
                sparkplane_testbed::Testbed::get()?.kubeconfig(),
            ),
        &body.to_string(),
    )?;
    Ok(if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    })
}
