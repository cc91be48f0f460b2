//! `sparkplane describe`: one SparkApplication in detail, as `kubectl describe` shows objects.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use sparkplane_api::SparkApplication;
use sparkplane_api::v1beta2::{RestartPolicyType, SparkPodSpec};

use super::connect::{ClusterArgs, connect};
use super::error::{CliError, Subject};
use super::events::{self, EventLine};
use super::format::{self, NONE, Table, field};
use super::{driver_pod_name, get_app, out, state_name};

#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// The SparkApplication (or, with --kind connect, the SparkConnect).
    pub name: String,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// What to describe: a SparkApplication (app) or a SparkConnect (connect).
    #[arg(long, value_enum, default_value_t = DescribeKind::App)]
    pub kind: DescribeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DescribeKind {
    /// SparkApplication
    App,
    /// SparkConnect
    Connect,
}

/// What was found of the driver pod.
#[derive(Debug, Clone)]
pub enum DriverPod {
    Found(Box<Pod>),
    Missing(String),
    /// It could not be read (no permission, say): the rest of the description still helps.
    Unreadable(String),
}

pub async fn run(args: DescribeArgs) -> Result<(), CliError> {
    if args.kind == DescribeKind::Connect {
        return super::describe_connect::run(args).await;
    }
    let session = connect(&args.cluster).await?;
    let (_, app) = get_app(&session, &args.name).await?;
    let pods: Api<Pod> = Api::namespaced(session.client.clone(), &session.target.namespace);
    let pod_name = driver_pod_name(&app);
    let driver = match pods.get_opt(&pod_name).await {
        Ok(Some(pod)) => DriverPod::Found(Box::new(pod)),
        Ok(None) => DriverPod::Missing(pod_name),
        Err(e) => DriverPod::Unreadable(
            CliError::from_kube(e, &session.target, "reading the driver pod", Subject::Other)
                .to_string(),
        ),
    };
    let events = match events::fetch(&session, &app).await {
        Ok(events) => Ok(events),
        Err(e) => Err(e.to_string()),
    };
    out(&describe(&app, &driver, &events, Timestamp::now()))
}

/// The description of an application.
pub fn describe(
    app: &SparkApplication,
    driver: &DriverPod,
    events: &Result<Vec<EventLine>, String>,
    now: Timestamp,
) -> String {
    let name = app.metadata.name.as_deref().unwrap_or_default();
    let namespace = app.metadata.namespace.as_deref().unwrap_or_default();
    let spec = &app.spec;
    let status = app.status.clone().unwrap_or_default();
    let mut text = String::new();

    text.push_str(&object_head(&app.metadata, now).render(0));

    text.push_str("Spec:\n");
    let mut s = Block::default();
    s.add("Type", &debug_name(&spec.r#type));
    s.add(
        "Mode",
        spec.mode
            .map(|m| debug_name(&m).to_lowercase())
            .as_deref()
            .unwrap_or("cluster"),
    );
    s.add("Spark Version", &spec.spark_version);
    s.add(
        "Image",
        spec.image
            .as_deref()
            .or(spec.driver.pod.image.as_deref())
            .unwrap_or(NONE),
    );
    if let Some(class) = &spec.main_class {
        s.add("Main Class", class);
    }
    s.add("Main Application File", &spec.main_application_file);
    if let Some(arguments) = spec.arguments.as_ref().filter(|a| !a.is_empty()) {
        s.add("Arguments", &arguments.join(" "));
    }
    s.add("Driver", &pod_resources(&spec.driver.pod, None));
    let instances = if spec.dynamic_allocation.as_ref().and_then(|d| d.enabled) == Some(true) {
        let d = spec.dynamic_allocation.clone().unwrap_or_default();
        format!(
            "dynamic ({}..{})",
            d.min_executors
                .map(|n| n.to_string())
                .unwrap_or_else(|| "0".into()),
            d.max_executors
                .map(|n| n.to_string())
                .unwrap_or_else(|| "unbounded".into())
        )
    } else {
        spec.executor.instances.unwrap_or(1).to_string()
    };
    s.add(
        "Executors",
        &pod_resources(&spec.executor.pod, Some(&instances)),
    );
    s.add("Restart Policy", &restart_policy(app));
    if let Some(scheduler) = spec.batch_scheduler.as_deref().filter(|s| !s.is_empty()) {
        let name = app.metadata.name.as_deref().unwrap_or_default();
        s.add("Batch Scheduler", &batch_scheduler(scheduler, name));
    }
    let label = |key: &str| app.metadata.labels.as_ref().and_then(|l| l.get(key));
    if let Some(queue) = label(KUEUE_QUEUE_LABEL) {
        let priority = label(KUEUE_PRIORITY_LABEL)
            .map(|p| format!(", priority class {p}"))
            .unwrap_or_default();
        s.add(
            "Queue",
            &format!("{queue} (Kueue LocalQueue{priority}; admitted by clearing suspend)"),
        );
    }
    if spec.suspend == Some(true) {
        s.add("Suspend", "true");
    }
    if let Some(ttl) = spec.time_to_live_seconds {
        s.add("Time To Live", &format!("{ttl}s after termination"));
    }
    text.push_str(&s.render(2));

    text.push_str("Status:\n");
    let mut st = Block::default();
    st.add("State", &state_name(app));
    if let Some(error) = status
        .application_state
        .error_message
        .as_deref()
        .filter(|e| !e.is_empty())
    {
        st.add("Error", error);
    }
    st.add(
        "Execution Attempts",
        &status.execution_attempts.unwrap_or(0).to_string(),
    );
    st.add(
        "Submission Attempts",
        &status.submission_attempts.unwrap_or(0).to_string(),
    );
    st.add(
        "Spark Application ID",
        status.spark_application_id.as_deref().unwrap_or(NONE),
    );
    st.add(
        "Submission ID",
        status.submission_id.as_deref().unwrap_or(NONE),
    );
    st.add(
        "Last Submission",
        &status
            .last_submission_attempt_time
            .as_ref()
            .map(|t| format::timestamp_and_age(now, t.0))
            .unwrap_or_else(|| NONE.to_owned()),
    );
    st.add(
        "Terminated",
        &status
            .termination_time
            .as_ref()
            .map(|t| format::timestamp_and_age(now, t.0))
            .unwrap_or_else(|| NONE.to_owned()),
    );
    text.push_str(&st.render(2));

    text.push_str("Driver Pod:\n");
    text.push_str(&driver_block(driver, now).render(2));

    text.push_str("Executors:");
    match status.executor_state.as_ref().filter(|e| !e.is_empty()) {
        None => text.push_str(" <none>\n"),
        Some(executors) => {
            text.push('\n');
            let mut table = Table::new(["NAME", "STATE"]);
            for (pod, state) in executors {
                table.push(vec![pod.clone(), debug_name(state).to_uppercase()]);
            }
            text.push_str(&table.render_indented(2));
        }
    }

    text.push_str("UI:\n");
    let info = &status.driver_info;
    let mut ui = Block::default();
    let service = match (&info.web_ui_service_name, &info.web_ui_address) {
        (Some(name), Some(address)) => format!("{name} ({address})"),
        (Some(name), None) => name.clone(),
        (None, Some(address)) => address.clone(),
        (None, None) => NONE.to_owned(),
    };
    ui.add("Service", &service);
    if info.web_ui_ingress_name.is_some() || info.web_ui_ingress_address.is_some() {
        let ingress = [
            info.web_ui_ingress_name.as_deref(),
            info.web_ui_ingress_address.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        ui.add("Ingress", &ingress);
    }
    ui.add("From Here", &format!("sparkplane ui {name} -n {namespace}"));
    text.push_str(&ui.render(2));

    if let Some(history) = history_block(app) {
        text.push_str("History:\n");
        text.push_str(&history.render(2));
    }

    text.push_str("Events:");
    match events {
        Err(e) => text.push_str(&format!(" <cannot list: {e}>\n")),
        Ok(list) if list.is_empty() => text.push_str(" <none>\n"),
        Ok(list) => {
            text.push('\n');
            text.push_str(&events::describe_table(list, now).render_indented(2));
        }
    }
    text
}

/// Kueue's label naming an application's LocalQueue, and its WorkloadPriorityClass.
const KUEUE_QUEUE_LABEL: &str = "kueue.x-k8s.io/queue-name";
const KUEUE_PRIORITY_LABEL: &str = "kueue.x-k8s.io/priority-class";

fn batch_scheduler(scheduler: &str, app_name: &str) -> String {
    use sparkplane_api::v1beta2::{
        BATCH_SCHEDULER_VOLCANO, BATCH_SCHEDULER_WORKLOAD, BATCH_SCHEDULER_YUNIKORN,
    };
    use sparkplane_submit::batch::{coscheduling, volcano};
    match scheduler {
        BATCH_SCHEDULER_WORKLOAD => {
            "workload (each run's executors are one gang: PodGroup <resource prefix>-executors)"
                .into()
        }
        BATCH_SCHEDULER_VOLCANO => format!(
            "volcano (PodGroup {}, scheduling.volcano.sh)",
            volcano::group_name(app_name)
        ),
        BATCH_SCHEDULER_YUNIKORN => {
            "yunikorn (task groups spark-driver and spark-executor in the pods' annotations)".into()
        }
        _ => format!(
            "{scheduler} (coscheduling: PodGroup {}, when the operator was given this scheduler)",
            coscheduling::group_name(app_name)
        ),
    }
}

/// The object's own lines: name, namespace, creation time and labels.
pub(super) fn object_head(
    metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    now: Timestamp,
) -> Block {
    let mut head = Block::default();
    head.add("Name", metadata.name.as_deref().unwrap_or_default());
    head.add(
        "Namespace",
        metadata.namespace.as_deref().unwrap_or_default(),
    );
    if let Some(created) = &metadata.creation_timestamp {
        head.add("Created", &format::timestamp_and_age(now, created.0));
    }
    if let Some(labels) = metadata.labels.as_ref().filter(|l| !l.is_empty()) {
        let joined: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        head.add("Labels", &joined.join(","));
    }
    head
}

/// Where the application's event log is, when it writes one (`spark.eventLog.enabled`), and where a
/// History Server reading that directory shows it.
fn history_block(app: &SparkApplication) -> Option<Block> {
    let conf = app.spec.spark_conf.as_ref()?;
    if conf
        .get("spark.eventLog.enabled")
        .map(|v| v.trim().to_lowercase())
        != Some("true".into())
    {
        return None;
    }
    // Spark's default of spark.eventLog.dir.
    let dir = conf
        .get("spark.eventLog.dir")
        .map(|d| d.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| "file:/tmp/spark-events".into());
    let id = app
        .status
        .as_ref()
        .and_then(|s| s.spark_application_id.clone())
        .filter(|id| !id.is_empty());
    // Spark 4 writes rolling logs by default, into a directory per application.
    let rolling = match conf.get("spark.eventLog.rolling.enabled") {
        Some(value) => value.trim().eq_ignore_ascii_case("true"),
        None => app
            .spec
            .spark_version
            .trim_start_matches(['v', 'V'])
            .split('.')
            .next()
            .and_then(|major| major.parse::<u32>().ok())
            .is_some_and(|major| major >= 4),
    };
    let mut block = Block::default();
    match id {
        Some(id) => {
            let log = if rolling {
                format!("{dir}/eventlog_v2_{id}/")
            } else {
                format!("{dir}/{id}")
            };
            block.add("Event Log", &log);
            block.add(
                "History Server",
                &format!(
                    "/history/{id}/ on a History Server reading {dir} (the chart's historyServer)"
                ),
            );
        }
        None => block.add(
            "Event Log",
            &format!("in {dir}, once the driver has started"),
        ),
    }
    Some(block)
}

/// `Key: value` lines whose values line up.
#[derive(Debug, Default)]
pub(super) struct Block {
    fields: Vec<(String, String)>,
}

impl Block {
    pub(super) fn add(&mut self, key: &str, value: &str) {
        self.fields.push((key.to_owned(), value.to_owned()));
    }

    pub(super) fn render(&self, indent: usize) -> String {
        let width = self
            .fields
            .iter()
            .map(|(k, _)| k.len() + 3)
            .max()
            .unwrap_or(0);
        self.fields
            .iter()
            .map(|(k, v)| field(indent, width, k, v))
            .collect()
    }
}

/// The serde name of an enum value (`Scala`, `OnFailure`, `RUNNING`).
fn debug_name<T: serde::Serialize + std::fmt::Debug>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{value:?}"),
    }
}

/// `2 x cores 1, memory 512m, ...` of the driver (no count) or the executors.
fn pod_resources(pod: &SparkPodSpec, instances: Option<&str>) -> String {
    let mut parts = Vec::new();
    if let Some(cores) = pod.cores {
        parts.push(format!("cores {cores}"));
    }
    if let Some(limit) = &pod.core_limit {
        parts.push(format!("core limit {limit}"));
    }
    if let Some(memory) = &pod.memory {
        parts.push(format!("memory {memory}"));
    }
    if let Some(overhead) = &pod.memory_overhead {
        parts.push(format!("memory overhead {overhead}"));
    }
    if let Some(gpu) = &pod.gpu {
        parts.push(format!("{} {}", gpu.name, gpu.quantity));
    }
    if let Some(image) = &pod.image {
        parts.push(format!("image {image}"));
    }
    if let Some(account) = &pod.service_account {
        parts.push(format!("service account {account}"));
    }
    let resources = if parts.is_empty() {
        "defaults".to_owned()
    } else {
        parts.join(", ")
    };
    match instances {
        Some(n) => format!("{n} x {resources}"),
        None => resources,
    }
}

/// `Never`, or `OnFailure (rerun up to 3 times, 10s apart; resubmit up to 5 times, 5s apart)`.
fn restart_policy(app: &SparkApplication) -> String {
    let policy = app.spec.restart_policy.clone().unwrap_or_default();
    let kind = policy.r#type.unwrap_or_default();
    let interval = |seconds: Option<i64>| format!("{}s apart", seconds.unwrap_or(5));
    match kind {
        RestartPolicyType::Never => "Never".to_owned(),
        RestartPolicyType::Always => format!(
            "Always (rerun after every end, {}; resubmit {})",
            interval(policy.on_failure_retry_interval),
            interval(policy.on_submission_failure_retry_interval)
        ),
        RestartPolicyType::OnFailure => format!(
            "OnFailure (rerun up to {} times, {}; resubmit up to {} times, {})",
            policy.on_failure_retries.unwrap_or(0),
            interval(policy.on_failure_retry_interval),
            policy.on_submission_failure_retries.unwrap_or(0),
            interval(policy.on_submission_failure_retry_interval)
        ),
    }
}

fn driver_block(driver: &DriverPod, now: Timestamp) -> Block {
    let mut b = Block::default();
    match driver {
        DriverPod::Missing(name) => {
            b.add("Name", name);
            b.add("Phase", "<not created, or deleted>");
        }
        DriverPod::Unreadable(why) => b.add("Error", why),
        DriverPod::Found(pod) => {
            let status = pod.status.clone().unwrap_or_default();
            b.add("Name", pod.metadata.name.as_deref().unwrap_or_default());
            b.add("Phase", status.phase.as_deref().unwrap_or(NONE));
            if let Some(container) = container_summary(pod) {
                b.add("Container", &container);
            }
            b.add(
                "Node",
                pod.spec
                    .as_ref()
                    .and_then(|s| s.node_name.as_deref())
                    .unwrap_or(NONE),
            );
            b.add("IP", status.pod_ip.as_deref().unwrap_or(NONE));
            if let Some(start) = &status.start_time {
                b.add("Started", &format::timestamp_and_age(now, start.0));
            }
            if let Some(deleting) = &pod.metadata.deletion_timestamp {
                b.add(
                    "Deleting Since",
                    &format::timestamp_and_age(now, deleting.0),
                );
            }
        }
    }
    b
}

/// The Spark container's state: `running`, `waiting (ImagePullBackOff: ...)`,
/// `terminated (exit code 1, Error)`.
fn container_summary(pod: &Pod) -> Option<String> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    let spark = statuses
        .iter()
        .find(|c| c.name == sparkplane_submit::identity::DRIVER_CONTAINER)
        .or(statuses.first())?;
    let state = spark.state.as_ref()?;
    let summary = if state.running.is_some() {
        "running".to_owned()
    } else if let Some(w) = &state.waiting {
        match (&w.reason, &w.message) {
            (Some(r), Some(m)) => format!("waiting ({r}: {m})"),
            (Some(r), None) => format!("waiting ({r})"),
            _ => "waiting".to_owned(),
        }
    } else if let Some(t) = &state.terminated {
        format!(
            "terminated (exit code {}{})",
            t.exit_code,
            t.reason
                .as_deref()
                .map(|r| format!(", {r}"))
                .unwrap_or_default()
        )
    } else {
        return None;
    };
    Some(format!("{} {summary}", spark.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    fn app() -> SparkApplication {
        serde_json::from_value(json!({
            "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
            "metadata": {"name": "pi", "namespace": "jobs", "creationTimestamp": "2024-05-01T11:50:00Z"},
            "spec": {
                "type": "Scala", "mode": "cluster", "image": "apache/spark:4.0.4", "sparkVersion": "4.0.4",
                "mainClass": "org.apache.spark.examples.SparkPi",
                "mainApplicationFile": "local:///opt/spark/examples/jars/spark-examples.jar",
                "arguments": ["1000"],
                "restartPolicy": {"type": "OnFailure", "onFailureRetries": 3, "onFailureRetryInterval": 10},
                "driver": {"cores": 1, "memory": "512m", "serviceAccount": "spark"},
                "executor": {"instances": 2, "cores": 1, "memory": "1g"}
            },
            "status": {
                "applicationState": {"state": "FAILING", "errorMessage": "driver container failed with ExitCode: 1, Reason: Error"},
                "executionAttempts": 1, "submissionAttempts": 1,
                "sparkApplicationId": "spark-0123", "submissionID": "uuid-1",
                "lastSubmissionAttemptTime": "2024-05-01T11:55:00Z",
                "driverInfo": {"podName": "pi-driver", "webUIServiceName": "pi-ui-svc", "webUIAddress": "10.96.0.7:4040", "webUIPort": 4040},
                "executorState": {"pi-exec-1": "RUNNING", "pi-exec-2": "FAILED"}
            }
        }))
        .unwrap()
    }

    fn driver() -> DriverPod {
        DriverPod::Found(Box::new(serde_json::from_value(json!({
            "metadata": {"name": "pi-driver", "namespace": "jobs"},
            "spec": {"nodeName": "kwok-node-3", "containers": [{"name": "spark-kubernetes-driver"}]},
            "status": {
                "phase": "Failed", "podIP": "10.244.0.9", "startTime": "2024-05-01T11:55:02Z",
                "containerStatuses": [{"name": "spark-kubernetes-driver", "image": "x", "imageID": "", "ready": false,
                    "restartCount": 0, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]
            }
        }))
        .unwrap()))
    }

    #[test]
    fn a_full_description() {
        let events = Ok(vec![EventLine {
            last: Some("2024-05-01T11:58:00Z".parse().unwrap()),
            first: None,
            count: 1,
            type_: "Warning".into(),
            reason: "SparkDriverFailed".into(),
            object: "sparkapplication/pi".into(),
            from: "sparkplane-operator".into(),
            message: "Driver pi-driver failed".into(),
        }]);
        let text = describe(&app(), &driver(), &events, now());
        for line in [
            "Name:       pi",
            "Created:    2024-05-01T11:50:00Z (10m ago)",
            "  Type:                   Scala",
            "  Main Class:             org.apache.spark.examples.SparkPi",
            "  Arguments:              1000",
            "  Driver:                 cores 1, memory 512m, service account spark",
            "  Executors:              2 x cores 1, memory 1g",
            "  Restart Policy:         OnFailure (rerun up to 3 times, 10s apart; resubmit up to 0 times, 5s apart)",
            "  State:                 FAILING",
            "  Error:                 driver container failed with ExitCode: 1, Reason: Error",
            "  Spark Application ID:  spark-0123",
            "  Last Submission:       2024-05-01T11:55:00Z (5m ago)",
            "  Terminated:            <none>",
            "  Phase:      Failed",
            "  Container:  spark-kubernetes-driver terminated (exit code 1, Error)",
            "  Node:       kwok-node-3",
            "  IP:         10.244.0.9",
            "  pi-exec-2   FAILED",
            "  Service:    pi-ui-svc (10.96.0.7:4040)",
            "  From Here:  sparkplane ui pi -n jobs",
            "  Warning   SparkDriverFailed   2m    sparkplane-operator   Driver pi-driver failed",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in:\n{text}"
            );
        }
    }

    #[test]
    fn an_application_writing_an_event_log_says_where_to_find_it() {
        let mut with_log = app();
        with_log.spec.spark_conf = Some(
            [
                ("spark.eventLog.enabled", "true"),
                ("spark.eventLog.dir", "file:///spark-events/"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        );
        let text = describe(&with_log, &driver(), &Ok(Vec::new()), now());
        assert!(text.contains("History:\n"), "{text}");
        assert!(
            text.contains("  Event Log:       file:///spark-events/eventlog_v2_spark-0123/\n"),
            "{text}"
        );
        assert!(
            text.contains("/history/spark-0123/ on a History Server reading file:///spark-events")
        );
        // Spark 3 writes one file, unless rolling is asked for.
        with_log.spec.spark_version = "3.5.9".into();
        let text = describe(&with_log, &driver(), &Ok(Vec::new()), now());
        assert!(
            text.contains("  Event Log:       file:///spark-events/spark-0123\n"),
            "{text}"
        );
        // Without event logging, no History block.
        assert!(!describe(&app(), &driver(), &Ok(Vec::new()), now()).contains("History:"));
    }

    #[test]
    fn a_coscheduled_application_names_its_group() {
        let mut coscheduled = app();
        coscheduled.spec.batch_scheduler = Some("scheduler-plugins-scheduler".into());
        let text = describe(&coscheduled, &driver(), &Ok(Vec::new()), now());
        let name = coscheduled.metadata.name.clone().unwrap_or_default();
        let line = format!(
            "  Batch Scheduler:        scheduler-plugins-scheduler (coscheduling: PodGroup {name}-pg, when the operator was given this scheduler)"
        );
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in:\n{text}"
        );
    }

    #[test]
    fn a_queued_gang_says_its_queue_and_scheduler() {
        let mut queued = app();
        queued.metadata.labels = Some(
            [
                (KUEUE_QUEUE_LABEL.to_owned(), "spark".to_owned()),
                (KUEUE_PRIORITY_LABEL.to_owned(), "urgent".to_owned()),
            ]
            .into(),
        );
        queued.spec.batch_scheduler = Some("workload".into());
        let text = describe(&queued, &driver(), &Ok(Vec::new()), now());
        for line in [
            "  Batch Scheduler:        workload (each run's executors are one gang: PodGroup <resource prefix>-executors)",
            "  Queue:                  spark (Kueue LocalQueue, priority class urgent; admitted by clearing suspend)",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in:\n{text}"
            );
        }
        let plain = describe(&app(), &driver(), &Ok(Vec::new()), now());
        assert!(!plain.contains("Queue:") && !plain.contains("Batch Scheduler:"));
    }

    #[test]
    fn a_new_application_without_pod_or_events() {
        let mut fresh = app();
        fresh.status = None;
        let text = describe(
            &fresh,
            &DriverPod::Missing("pi-driver".into()),
            &Ok(vec![]),
            now(),
        );
        assert!(text.contains("  State:                 <none>\n"), "{text}");
        assert!(
            text.contains("  Phase:  <not created, or deleted>\n"),
            "{text}"
        );
        assert!(text.contains("Executors: <none>\n"));
        assert!(text.ends_with("Events: <none>\n"));
    }
}
