//! Kubeflow's defaults (its `api/v1beta2/defaults.go`), as pure functions: the operator acts on the
//! defaulted spec without writing the defaults back, so the stored object stays what the user wrote.

use crate::v1beta2::{
    ConcurrencyPolicy, DeployMode, RestartPolicyType, ScheduledSparkApplicationSpec,
    SparkApplicationSpec,
};

/// Seconds between retries when the restart policy retries and sets no interval.
pub const RETRY_INTERVAL_SECONDS: i64 = 5;
/// Driver and executor cores when neither the spec nor `sparkConf` sets them.
pub const CORES: i32 = 1;
/// Driver and executor memory when neither the spec nor `sparkConf` sets it.
pub const MEMORY: &str = "1g";
/// Executors when neither the spec nor `sparkConf` sets them and dynamic allocation is off.
pub const EXECUTOR_INSTANCES: i32 = 1;
/// The Spark UI Service's port.
pub const UI_SERVICE_PORT: i32 = 4040;
/// The Spark UI Service's port name.
pub const UI_SERVICE_PORT_NAME: &str = "spark-driver-ui-port";
/// The Prometheus JMX exporter's port.
pub const PROMETHEUS_PORT: i32 = 8090;
/// The Prometheus JMX exporter's port name.
pub const PROMETHEUS_PORT_NAME: &str = "jmx-exporter";
/// A schedule's time zone: the operator's own.
pub const TIME_ZONE: &str = "Local";
/// Successful and failed runs a schedule keeps.
pub const RUN_HISTORY_LIMIT: i32 = 1;

/// `spec` with every default filled in.
pub fn spark_application_spec(mut spec: SparkApplicationSpec) -> SparkApplicationSpec {
    spec.mode.get_or_insert(DeployMode::Cluster);

    let policy = spec.restart_policy.get_or_insert_with(Default::default);
    let kind = *policy.r#type.get_or_insert(RestartPolicyType::Never);
    if kind != RestartPolicyType::Never {
        policy
            .on_submission_failure_retry_interval
            .get_or_insert(RETRY_INTERVAL_SECONDS);
        policy
            .on_failure_retry_interval
            .get_or_insert(RETRY_INTERVAL_SECONDS);
    }

    let conf = spec.spark_conf.clone().unwrap_or_default();
    let set_in_conf = |key: &str| conf.contains_key(key);

    if !set_in_conf("spark.driver.cores") {
        spec.driver.pod.cores.get_or_insert(CORES);
    }
    if !set_in_conf("spark.driver.memory") {
        spec.driver.pod.memory.get_or_insert_with(|| MEMORY.into());
    }
    if !set_in_conf("spark.executor.cores") {
        spec.executor.pod.cores.get_or_insert(CORES);
    }
    if !set_in_conf("spark.executor.memory") {
        spec.executor
            .pod
            .memory
            .get_or_insert_with(|| MEMORY.into());
    }

    let dynamic = spec
        .dynamic_allocation
        .as_ref()
        .is_some_and(|d| d.enabled == Some(true));
    if !dynamic && !set_in_conf("spark.executor.instances") {
        spec.executor.instances.get_or_insert(EXECUTOR_INSTANCES);
    }
    if let Some(allocation) = spec.dynamic_allocation.as_mut() {
        allocation.shuffle_tracking_enabled.get_or_insert(true);
    }

    if let Some(ui) = spec.spark_ui_options.as_mut() {
        ui.service_port.get_or_insert(UI_SERVICE_PORT);
        ui.service_port_name
            .get_or_insert_with(|| UI_SERVICE_PORT_NAME.into());
    }
    if let Some(prometheus) = spec.monitoring.as_mut().and_then(|m| m.prometheus.as_mut()) {
        prometheus.port.get_or_insert(PROMETHEUS_PORT);
        prometheus
            .port_name
            .get_or_insert_with(|| PROMETHEUS_PORT_NAME.into());
    }
    spec
}

/// `spec` with every default filled in, its template's included.
pub fn scheduled_spark_application_spec(
    mut spec: ScheduledSparkApplicationSpec,
) -> ScheduledSparkApplicationSpec {
    spec.time_zone.get_or_insert_with(|| TIME_ZONE.into());
    spec.concurrency_policy
        .get_or_insert(ConcurrencyPolicy::Allow);
    spec.successful_run_history_limit
        .get_or_insert(RUN_HISTORY_LIMIT);
    spec.failed_run_history_limit
        .get_or_insert(RUN_HISTORY_LIMIT);
    spec.template = spark_application_spec(spec.template);
    spec
}
