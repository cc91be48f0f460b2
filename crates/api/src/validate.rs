//! The checks the operator runs before acting on an object. The CRD schema already makes the API
//! server refuse most bad input; this repeats those checks for objects that did not come through
//! it (older CRDs, tests, `sparkplane render`) and adds what a schema cannot see: the cron schedule,
//! `spark.kubernetes.namespace` against the object's own namespace, real version comparison.

use std::collections::BTreeMap;
use std::fmt;

use crate::names::{self, MAX_APP_NAME_LEN, MAX_SCHEDULED_APP_NAME_LEN};
use crate::quantity::{parse_quantity, parse_spark_memory};
use crate::schedule;
use crate::schema::OPERATOR_OWNED_SPARK_CONF;
use crate::v1alpha1::SparkConnect;
use crate::v1beta2::{
    BATCH_SCHEDULER_VOLCANO, BATCH_SCHEDULER_WORKLOAD, BATCH_SCHEDULER_YUNIKORN, DynamicAllocation,
    PodTemplate, ScheduledSparkApplication, ScheduledSparkApplicationSpec, SparkApplication,
    SparkApplicationSpec, SparkPodSpec,
};

/// One problem, with the path of the field it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's path, as the API server writes it (`spec.driver.memory`).
    pub path: String,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

/// Every problem found in an object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct Invalid(pub Vec<FieldError>);

#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, path: impl Into<String>, problem: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            problem: problem.into(),
        });
    }

    fn finish(self) -> Result<(), Invalid> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Invalid(self.0))
        }
    }
}

/// Checks a SparkApplication.
pub fn spark_application(app: &SparkApplication) -> Result<(), Invalid> {
    let mut problems = Problems::default();
    check_name(
        &mut problems,
        app.metadata.name.as_deref(),
        MAX_APP_NAME_LEN,
    );
    // The API server checks an object's own labels; `render` reads files it never saw, and the
    // pods take these labels.
    check_labels(
        &mut problems,
        "metadata.labels",
        app.metadata.labels.as_ref(),
    );
    check_spec(
        &mut problems,
        "spec",
        &app.spec,
        app.metadata.namespace.as_deref(),
    );
    problems.finish()
}

/// Checks a ScheduledSparkApplication, its template included.
pub fn scheduled_spark_application(app: &ScheduledSparkApplication) -> Result<(), Invalid> {
    let mut problems = Problems::default();
    check_name(
        &mut problems,
        app.metadata.name.as_deref(),
        MAX_SCHEDULED_APP_NAME_LEN,
    );
    check_scheduled_spec(&mut problems, &app.spec, app.metadata.namespace.as_deref());
    problems.finish()
}

/// Checks a SparkConnect: what Kubeflow's webhook checks, and that the Spark version has Spark Connect.
pub fn spark_connect(conn: &SparkConnect) -> Result<(), Invalid> {
    let mut problems = Problems::default();
    check_name(
        &mut problems,
        conn.metadata.name.as_deref(),
        MAX_APP_NAME_LEN,
    );
    let spec = &conn.spec;
    match spark_major_minor(&spec.spark_version) {
        None => problems.add(
            "spec.sparkVersion",
            format!("{:?} is not a Spark version", spec.spark_version),
        ),
        Some(version) if version < (3, 4) => problems.add(
            "spec.sparkVersion",
            format!(
                "{:?}: Spark Connect needs Spark 3.4 or later",
                spec.spark_version
            ),
        ),
        // The server pod carries it as its `spark-version` label.
        Some(_) if !crate::names::is_label_value(&spec.spark_version) => problems.add(
            "spec.sparkVersion",
            format!(
                "{:?} is not a valid label value (it labels the server pod)",
                spec.spark_version
            ),
        ),
        Some(_) => {}
    }
    check_spark_conf(
        &mut problems,
        "spec.sparkConf",
        spec.spark_conf.as_ref(),
        conn.metadata.namespace.as_deref(),
    );
    for (at, pod) in [
        ("spec.server", &spec.server.pod),
        ("spec.executor", &spec.executor.pod),
    ] {
        check_template(
            &mut problems,
            &format!("{at}.template"),
            pod.template.as_ref(),
        );
        check_min(
            &mut problems,
            &format!("{at}.cores"),
            pod.cores.map(i64::from),
            1,
        );
        if let Some(memory) = &pod.memory
            && let Err(error) = parse_spark_memory(memory, 1 << 20)
        {
            problems.add(format!("{at}.memory"), error.to_string());
        }
    }
    check_min(
        &mut problems,
        "spec.executor.instances",
        spec.executor.instances.map(i64::from),
        0,
    );
    if let Some(allocation) = spec
        .dynamic_allocation
        .as_ref()
        .filter(|a| a.enabled == Some(true))
    {
        // Kubeflow's SparkConnect webhook wants the initial count within the bounds.
        check_allocation_bounds(&mut problems, "spec.dynamicAllocation", allocation, true);
    }
    problems.finish()
}

/// Checks a cron schedule as Kubeflow reads it (robfig/cron's standard parser): five fields, a
/// descriptor such as `@hourly`, or `@every <duration>`, optionally after `CRON_TZ=<zone> `, whose
/// zone must be known.
pub fn schedule(text: &str) -> Result<(), String> {
    let parsed = schedule::parse(text).map_err(|error| error.to_string())?;
    match parsed.zone {
        Some(zone) => time_zone(&zone),
        None => Ok(()),
    }
}

/// Checks a time zone: an IANA name, `UTC` or `Local`.
pub fn time_zone(zone: &str) -> Result<(), String> {
    // `Local` is the operator's zone, unknown here and always valid.
    schedule::time_zone(zone, &jiff::tz::TimeZone::UTC)
        .map(|_| ())
        .map_err(|error| error.to_string())
}

fn check_name(problems: &mut Problems, name: Option<&str>, max: usize) {
    match name {
        None => problems.add("metadata.name", "is required"),
        Some(name) => {
            if let Err(error) = names::check_dns1035(name, max) {
                problems.add("metadata.name", error.to_string());
            }
        }
    }
}

fn check_scheduled_spec(
    problems: &mut Problems,
    spec: &ScheduledSparkApplicationSpec,
    namespace: Option<&str>,
) {
    if let Err(problem) = schedule(&spec.schedule) {
        problems.add("spec.schedule", problem);
    }
    if let Some(zone) = &spec.time_zone
        && let Err(problem) = time_zone(zone)
    {
        problems.add("spec.timeZone", problem);
    }
    for (path, limit) in [
        (
            "spec.successfulRunHistoryLimit",
            spec.successful_run_history_limit,
        ),
        ("spec.failedRunHistoryLimit", spec.failed_run_history_limit),
    ] {
        if limit.is_some_and(|limit| limit < 0) {
            problems.add(path, "must be at least 0");
        }
    }
    check_spec(problems, "spec.template", &spec.template, namespace);
}

fn check_spec(
    problems: &mut Problems,
    at: &str,
    spec: &SparkApplicationSpec,
    namespace: Option<&str>,
) {
    check_spark_conf(
        problems,
        &format!("{at}.sparkConf"),
        spec.spark_conf.as_ref(),
        namespace,
    );

    if spec.node_selector.is_some()
        && (spec.driver.pod.node_selector.is_some() || spec.executor.pod.node_selector.is_some())
    {
        problems.add(
            format!("{at}.nodeSelector"),
            "cannot be combined with driver.nodeSelector or executor.nodeSelector",
        );
    }

    let has_template = spec.driver.pod.template.is_some() || spec.executor.pod.template.is_some();
    if has_template && spark_major(&spec.spark_version).is_some_and(|major| major < 3) {
        problems.add(
            format!("{at}.sparkVersion"),
            format!(
                "{:?}: driver.template and executor.template need Spark 3.0.0 or later",
                spec.spark_version
            ),
        );
    }

    check_pod(problems, &format!("{at}.driver"), &spec.driver.pod);
    check_pod(problems, &format!("{at}.executor"), &spec.executor.pod);
    check_labels(
        problems,
        &format!("{at}.nodeSelector"),
        spec.node_selector.as_ref(),
    );
    check_labels(
        problems,
        &format!("{at}.driver.serviceLabels"),
        spec.driver.service_labels.as_ref(),
    );
    check_annotations(
        problems,
        &format!("{at}.driver.serviceAnnotations"),
        spec.driver.service_annotations.as_ref(),
    );
    if let Some(ui) = &spec.spark_ui_options {
        let at = format!("{at}.sparkUIOptions");
        check_exposure(
            problems,
            &at,
            ui.service_labels.as_ref(),
            ui.service_annotations.as_ref(),
            ui.ingress_annotations.as_ref(),
        );
    }
    for (i, ingress) in spec.driver_ingress_options.iter().flatten().enumerate() {
        check_exposure(
            problems,
            &format!("{at}.driverIngressOptions[{i}]"),
            ingress.service_labels.as_ref(),
            ingress.service_annotations.as_ref(),
            ingress.ingress_annotations.as_ref(),
        );
    }
    check_quantity(
        problems,
        &format!("{at}.driver.coreRequest"),
        spec.driver.core_request.as_deref(),
    );
    check_quantity(
        problems,
        &format!("{at}.executor.coreRequest"),
        spec.executor.core_request.as_deref(),
    );
    check_min(
        problems,
        &format!("{at}.executor.instances"),
        spec.executor.instances.map(i64::from),
        0,
    );
    check_min(
        problems,
        &format!("{at}.timeToLiveSeconds"),
        spec.time_to_live_seconds,
        0,
    );
    if let Some(policy) = &spec.restart_policy {
        let at = format!("{at}.restartPolicy");
        for (field, value, min) in [
            (
                "onSubmissionFailureRetries",
                policy.on_submission_failure_retries.map(i64::from),
                0,
            ),
            (
                "onFailureRetries",
                policy.on_failure_retries.map(i64::from),
                0,
            ),
            (
                "onSubmissionFailureRetryInterval",
                policy.on_submission_failure_retry_interval,
                1,
            ),
            (
                "onFailureRetryInterval",
                policy.on_failure_retry_interval,
                1,
            ),
        ] {
            check_min(problems, &format!("{at}.{field}"), value, min);
        }
    }
    if let Some(allocation) = &spec.dynamic_allocation {
        // Spark takes an initial count outside the bounds; Kubeflow's application webhook too.
        check_allocation_bounds(
            problems,
            &format!("{at}.dynamicAllocation"),
            allocation,
            false,
        );
    }
    check_batch_scheduler(problems, at, spec);
    for (resource, quantity) in spec
        .batch_scheduler_options
        .iter()
        .flat_map(|options| options.resources.iter().flatten())
    {
        if let Err(error) = parse_quantity(&quantity.0) {
            problems.add(
                format!("{at}.batchSchedulerOptions.resources.{resource}"),
                error.to_string(),
            );
        }
    }
    if let Some(port) = spec
        .monitoring
        .as_ref()
        .and_then(|m| m.prometheus.as_ref())
        .and_then(|p| p.port)
        && !(1024..=49151).contains(&port)
    {
        problems.add(
            format!("{at}.monitoring.prometheus.port"),
            format!("{port} is not between 1024 and 49151"),
        );
    }
}

/// A batch scheduler the operator drives, with options it can honour: nothing is silently ignored.
fn check_batch_scheduler(problems: &mut Problems, at: &str, spec: &SparkApplicationSpec) {
    let options = spec.batch_scheduler_options.as_ref();
    let supported = format!(
        "{BATCH_SCHEDULER_WORKLOAD:?}, {BATCH_SCHEDULER_VOLCANO:?}, {BATCH_SCHEDULER_YUNIKORN:?} or a coscheduling scheduler the operator was given (--kube-scheduler-names)"
    );
    let pods_priority = |who: &str| {
        format!("{who}; set {at}.driver.priorityClassName and {at}.executor.priorityClassName")
    };
    let kueue = |who: &str| {
        format!("{who} no queues; use Kueue (kueue.x-k8s.io/queue-name label) for queueing")
    };
    // Why the scheduler cannot honour `queue`, `priorityClassName` and `resources`; None: it does.
    let refusals: [Option<String>; 3] = match spec.batch_scheduler.as_deref() {
        None | Some("") => {
            if options.is_some_and(|o| *o != Default::default()) {
                problems.add(
                    format!("{at}.batchSchedulerOptions"),
                    format!(
                        "is set but {at}.batchScheduler is not; set batchScheduler ({supported}) or remove the options"
                    ),
                );
            }
            return;
        }
        Some(BATCH_SCHEDULER_WORKLOAD) => [
            Some(kueue("the Workload API has")),
            Some(pods_priority(
                "a Workload API gang takes its priority from its pods",
            )),
            Some(
                "a Workload API gang has no reserved resources; its size is the executor count"
                    .into(),
            ),
        ],
        // The PodGroup's queue, priority class and resources.
        Some(BATCH_SCHEDULER_VOLCANO) => [None, None, None],
        // The queue becomes the pods' `queue` label; the task groups are sized from the pods.
        Some(BATCH_SCHEDULER_YUNIKORN) => [
            None,
            Some(pods_priority("YuniKorn takes the priority from the pods")),
            Some("YuniKorn's task groups are sized from the driver and executor requests".into()),
        ],
        // A coscheduling scheduler: whether the operator knows it is for the operator to say. Its
        // PodGroup has a size and resources, no queue and no priority.
        Some(scheduler) => {
            if !crate::names::is_dns_subdomain(scheduler) {
                problems.add(
                    format!("{at}.batchScheduler"),
                    format!(
                        "{scheduler:?} is not a scheduler name (a DNS-1123 subdomain); use {supported}"
                    ),
                );
            }
            [
                Some(kueue("coscheduling has")),
                Some(pods_priority("a coscheduling PodGroup has no priority")),
                None,
            ]
        }
    };
    let Some(options) = options else { return };
    let [queue, priority, resources] = refusals;
    for (set, field, why) in [
        (options.queue.is_some(), "queue", queue),
        (
            options.priority_class_name.is_some(),
            "priorityClassName",
            priority,
        ),
        (options.resources.is_some(), "resources", resources),
    ] {
        if set && let Some(why) = why {
            problems.add(format!("{at}.batchSchedulerOptions.{field}"), why);
        }
    }
}

/// Keys the operator sets itself, and a namespace other than the object's own.
fn check_spark_conf(
    problems: &mut Problems,
    at: &str,
    conf: Option<&std::collections::BTreeMap<String, String>>,
    namespace: Option<&str>,
) {
    let Some(conf) = conf else {
        return;
    };
    for key in OPERATOR_OWNED_SPARK_CONF {
        if conf.contains_key(*key) {
            problems.add(
                at,
                format!("key {key} is set by the operator; use the matching spec field"),
            );
        }
    }
    if let Some(other) = conf.get("spark.kubernetes.namespace")
        && namespace.is_some_and(|namespace| namespace != other)
    {
        problems.add(
            at,
            format!(
                "spark.kubernetes.namespace {other:?} is not the object's namespace {:?}",
                namespace.unwrap_or_default()
            ),
        );
    }
}

/// Dynamic allocation's bounds: none negative, min <= max, and with `initial_within`
/// min <= initial <= max, where given.
fn check_allocation_bounds(
    problems: &mut Problems,
    at: &str,
    allocation: &DynamicAllocation,
    initial_within: bool,
) {
    let (min, initial, max) = (
        allocation.min_executors,
        allocation.initial_executors,
        allocation.max_executors,
    );
    for (field, value) in [
        ("minExecutors", min),
        ("initialExecutors", initial),
        ("maxExecutors", max),
    ] {
        check_min(problems, &format!("{at}.{field}"), value.map(i64::from), 0);
    }
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        problems.add(
            format!("{at}.minExecutors"),
            format!("{min} is more than maxExecutors {max}"),
        );
    }
    if let Some(initial) = initial.filter(|_| initial_within) {
        if let Some(min) = min.filter(|min| initial < *min) {
            problems.add(
                format!("{at}.initialExecutors"),
                format!("{initial} is less than minExecutors {min}"),
            );
        }
        if let Some(max) = max.filter(|max| initial > *max) {
            problems.add(
                format!("{at}.initialExecutors"),
                format!("{initial} is more than maxExecutors {max}"),
            );
        }
    }
}

fn check_pod(problems: &mut Problems, at: &str, pod: &SparkPodSpec) {
    check_min(
        problems,
        &format!("{at}.cores"),
        pod.cores.map(i64::from),
        1,
    );
    for (field, value) in [
        ("memory", &pod.memory),
        ("memoryOverhead", &pod.memory_overhead),
    ] {
        if let Some(value) = value
            && let Err(error) = parse_spark_memory(value, 1 << 20)
        {
            problems.add(format!("{at}.{field}"), error.to_string());
        }
    }
    check_quantity(
        problems,
        &format!("{at}.coreLimit"),
        pod.core_limit.as_deref(),
    );
    check_quantity(
        problems,
        &format!("{at}.memoryLimit"),
        pod.memory_limit.as_deref(),
    );
    check_template(problems, &format!("{at}.template"), pod.template.as_ref());
    // Spark 4 puts the application id in place of `{{APP_ID}}` in the pods' labels; whether a value
    // holding it is taken depends on the version, which the plan checks.
    let labels: Option<BTreeMap<String, String>> = pod.labels.as_ref().map(|labels| {
        labels
            .iter()
            .map(|(k, v)| (k.clone(), v.replace("{{APP_ID}}", SAMPLE_APP_ID)))
            .collect()
    });
    check_labels(problems, &format!("{at}.labels"), labels.as_ref());
    check_annotations(
        problems,
        &format!("{at}.annotations"),
        pod.annotations.as_ref(),
    );
    check_labels(
        problems,
        &format!("{at}.nodeSelector"),
        pod.node_selector.as_ref(),
    );
}

/// Label keys and values (and node selectors, which are matched against labels) as the API server
/// takes them: a bad one would otherwise fail only when the pod or Service is created.
fn check_labels(problems: &mut Problems, at: &str, labels: Option<&BTreeMap<String, String>>) {
    for (key, value) in labels.into_iter().flatten() {
        if !names::is_qualified_name(key) {
            problems.add(format!("{at}[{key}]"), QUALIFIED_NAME_RULE);
        } else if !names::is_label_value(value) {
            problems.add(
                format!("{at}[{key}]"),
                format!(
                    "{value:?} is not a label value (at most 63 of letters, digits, '-', '_' and '.', starting and ending with a letter or digit)"
                ),
            );
        }
    }
}

/// The labels and annotations of a UI Service and its Ingress.
fn check_exposure(
    problems: &mut Problems,
    at: &str,
    service_labels: Option<&BTreeMap<String, String>>,
    service_annotations: Option<&BTreeMap<String, String>>,
    ingress_annotations: Option<&BTreeMap<String, String>>,
) {
    check_labels(problems, &format!("{at}.serviceLabels"), service_labels);
    check_annotations(
        problems,
        &format!("{at}.serviceAnnotations"),
        service_annotations,
    );
    check_annotations(
        problems,
        &format!("{at}.ingressAnnotations"),
        ingress_annotations,
    );
}

fn check_annotations(
    problems: &mut Problems,
    at: &str,
    annotations: Option<&BTreeMap<String, String>>,
) {
    for key in annotations.into_iter().flat_map(|a| a.keys()) {
        if !names::is_qualified_name(key) {
            problems.add(format!("{at}[{key}]"), QUALIFIED_NAME_RULE);
        }
    }
}

/// What of a pod template the pods take as it is: its labels and annotations, and its containers'
/// names (the API server checks the rest, field by field, when the pod is created).
fn check_template(problems: &mut Problems, at: &str, template: Option<&PodTemplate>) {
    let Some(template) = template else { return };
    let strings = |value: Option<&serde_json::Value>| -> BTreeMap<String, String> {
        value
            .and_then(serde_json::Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect()
    };
    let metadata = template.0.get("metadata");
    let labels = strings(metadata.and_then(|m| m.get("labels")));
    check_labels(problems, &format!("{at}.metadata.labels"), Some(&labels));
    let annotations = strings(metadata.and_then(|m| m.get("annotations")));
    check_annotations(
        problems,
        &format!("{at}.metadata.annotations"),
        Some(&annotations),
    );
    for field in ["containers", "initContainers"] {
        let containers = template
            .0
            .get("spec")
            .and_then(|spec| spec.get(field))
            .and_then(serde_json::Value::as_array);
        for (i, container) in containers.into_iter().flatten().enumerate() {
            // A nameless container may be Spark's own, which Spark names.
            let name = container.get("name").and_then(serde_json::Value::as_str);
            if name.is_some_and(|n| !names::is_dns_label(n)) {
                problems.add(
                    format!("{at}.spec.{field}[{i}].name"),
                    format!(
                        "{:?} is not a container name (at most 63 of lower-case letters, digits and '-', starting and ending with a letter or digit)",
                        name.unwrap_or_default()
                    ),
                );
            }
        }
    }
}

/// An application id as Spark makes them (`spark-` and 32 hex digits), for values that will hold one.
const SAMPLE_APP_ID: &str = "spark-0123456789abcdef0123456789abcdef";

const QUALIFIED_NAME_RULE: &str = "not a valid key (an optional DNS subdomain prefix and '/', then at most 63 of letters, digits, '-', '_' and '.', starting and ending with a letter or digit)";

fn check_quantity(problems: &mut Problems, path: &str, value: Option<&str>) {
    if let Some(value) = value
        && let Err(error) = parse_quantity(value)
    {
        problems.add(path, error.to_string());
    }
}

fn check_min(problems: &mut Problems, path: &str, value: Option<i64>, min: i64) {
    if let Some(value) = value
        && value < min
    {
        problems.add(path, format!("{value} is less than {min}"));
    }
}

/// The major and minor version of a Spark version string (`4.0.4` -> (4, 0); `4` -> (4, 0)).
fn spark_major_minor(version: &str) -> Option<(u32, u32)> {
    let version = version.trim().trim_start_matches(['v', 'V']);
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = match parts.next() {
        Some(minor) => minor.parse().ok()?,
        None => 0,
    };
    Some((major, minor))
}

/// The major version of a Spark version string (`3.5.1`, `v2.4`), if it has one.
fn spark_major(version: &str) -> Option<u32> {
    let version = version.trim().trim_start_matches(['v', 'V']);
    let major = version.split('.').next()?;
    major.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        for good in [
            "@every 3m",
            "@every 1h30m",
            "@every 1.5s",
            "@hourly",
            "@midnight",
            "*/5 * * * *",
            "0 9 * * MON-FRI",
            "CRON_TZ=Europe/Paris 0 3 * * *",
            "TZ=UTC @daily",
        ] {
            assert_eq!(schedule(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "every 3m",
            "@every",
            "@every 0s",
            "@every 3x",
            "* * * *",
            "0 0 * * * *",
            "61 * * * *",
            "* 25 * * *",
            "@sometimes",
            "CRON_TZ=Europe/Paris",
            "CRON_TZ=Mars/Olympus @daily",
        ] {
            assert!(schedule(bad).is_err(), "{bad:?} was accepted");
        }
    }

    /// The fields the problems name, in order.
    fn fields_of(problems: &[String]) -> Vec<&str> {
        problems
            .iter()
            .map(|p| p.split(':').next().unwrap_or_default())
            .collect()
    }

    fn problems_with(scheduler: Option<&str>, options: serde_json::Value) -> Vec<String> {
        let mut spec = SparkApplicationSpec {
            batch_scheduler: scheduler.map(str::to_owned),
            ..Default::default()
        };
        spec.batch_scheduler_options = serde_json::from_value(options).expect("options");
        let mut problems = Problems::default();
        check_batch_scheduler(&mut problems, "spec", &spec);
        problems.0.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn batch_schedulers_are_honoured_or_refused_by_name() {
        let none = serde_json::Value::Null;
        assert!(problems_with(None, none.clone()).is_empty());
        assert!(problems_with(Some(""), none.clone()).is_empty());
        assert!(problems_with(Some("workload"), none.clone()).is_empty());
        assert!(problems_with(Some("workload"), serde_json::json!({})).is_empty());
        assert!(problems_with(Some("kube-scheduler"), none.clone()).is_empty());
        let every_option = serde_json::json!({"queue": "q", "priorityClassName": "high", "resources": {"cpu": "4"}});
        assert!(problems_with(Some("volcano"), every_option.clone()).is_empty());
        let yunikorn = problems_with(Some("yunikorn"), every_option);
        assert_eq!(
            fields_of(&yunikorn),
            [
                "spec.batchSchedulerOptions.priorityClassName",
                "spec.batchSchedulerOptions.resources"
            ]
        );
        assert!(problems_with(Some("yunikorn"), serde_json::json!({"queue": "root.a"})).is_empty());
        let unknown = problems_with(Some("Volcano"), none);
        assert!(
            unknown[0].starts_with("spec.batchScheduler: \"Volcano\" is not a scheduler name"),
            "{unknown:?}"
        );
    }

    #[test]
    fn options_a_gang_cannot_honour_are_refused_each_by_its_field() {
        let said = problems_with(
            Some("workload"),
            serde_json::json!({"queue": "q", "priorityClassName": "high", "resources": {"cpu": "4"}}),
        );
        assert_eq!(
            fields_of(&said),
            [
                "spec.batchSchedulerOptions.queue",
                "spec.batchSchedulerOptions.priorityClassName",
                "spec.batchSchedulerOptions.resources"
            ]
        );
        // Coscheduling honours resources (the group's minResources), not a queue or a priority.
        let said = problems_with(
            Some("kube-scheduler"),
            serde_json::json!({"queue": "q", "priorityClassName": "high", "resources": {"cpu": "4"}}),
        );
        assert_eq!(
            fields_of(&said),
            [
                "spec.batchSchedulerOptions.queue",
                "spec.batchSchedulerOptions.priorityClassName"
            ]
        );
        assert!(
            problems_with(
                Some("kube-scheduler"),
                serde_json::json!({"resources": {"cpu": "4"}})
            )
            .is_empty()
        );
        let orphan = problems_with(None, serde_json::json!({"queue": "q"}));
        assert_eq!(orphan.len(), 1);
        assert!(
            orphan[0]
                .starts_with("spec.batchSchedulerOptions: is set but spec.batchScheduler is not"),
            "{orphan:?}"
        );
        // Empty options ask for nothing.
        assert!(problems_with(None, serde_json::json!({})).is_empty());
    }

    #[test]
    fn labels_annotations_and_node_selectors_are_checked_by_key() {
        let spec: SparkApplicationSpec = serde_json::from_value(serde_json::json!({
            "type": "Scala", "sparkVersion": "4.0.4", "mainApplicationFile": "local:///x.jar",
            "nodeSelector": {"disk type": "ssd"},
            "driver": {"labels": {"team": "data eng", "ok": "fine", "app": "t-{{APP_ID}}"}, "serviceLabels": {"": "x"}},
            "executor": {"annotations": {"a/b/c": "v", "example.com/note": "any text at all"}},
            "sparkUIOptions": {"serviceLabels": {"app": "-bad"}}
        }))
        .expect("spec");
        let mut problems = Problems::default();
        check_spec(&mut problems, "spec", &spec, Some("ns"));
        let fields: Vec<&str> = problems.0.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.driver.labels[team]",
                "spec.executor.annotations[a/b/c]",
                "spec.nodeSelector[disk type]",
                "spec.driver.serviceLabels[]",
                "spec.sparkUIOptions.serviceLabels[app]"
            ],
            "{:?}",
            problems.0
        );
    }

    #[test]
    fn spark_majors() {
        assert_eq!(spark_major("3.5.1"), Some(3));
        assert_eq!(spark_major("v2.4.8"), Some(2));
        assert_eq!(spark_major("4"), Some(4));
        assert_eq!(spark_major("latest"), None);
    }

    /// Found by the `connect` fuzz target: a version with a trailing `/` made the server pod's
    /// label invalid.
    #[test]
    fn a_spark_connect_version_must_be_a_label_value() {
        let connect = |version: &str| {
            let conn: SparkConnect = serde_json::from_value(serde_json::json!({
                "apiVersion": "sparkoperator.k8s.io/v1alpha1", "kind": "SparkConnect",
                "metadata": {"name": "connect", "namespace": "default"},
                "spec": {"sparkVersion": version, "server": {}, "executor": {}}
            }))
            .expect("SparkConnect");
            spark_connect(&conn).map_err(|e| e.to_string())
        };
        assert_eq!(connect("4.0.4"), Ok(()));
        let refused = connect("4.0.4/").expect_err("refused");
        assert!(
            refused.starts_with("spec.sparkVersion: \"4.0.4/\" is not a valid label value"),
            "{refused}"
        );
    }
}
