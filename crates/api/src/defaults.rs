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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1beta2::{
        DynamicAllocation, MonitoringSpec, PrometheusSpec, RestartPolicy, SparkApplicationType,
        SparkUiConfiguration,
    };

    fn conf(pairs: &[(&str, &str)]) -> Option<std::collections::BTreeMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn empty_spec_gets_kubeflow_defaults() {
        let spec = spark_application_spec(SparkApplicationSpec::default());
        assert_eq!(spec.r#type, SparkApplicationType::Scala);
        assert_eq!(spec.mode, Some(DeployMode::Cluster));
        let policy = spec.restart_policy.expect("restart policy");
        assert_eq!(policy.r#type, Some(RestartPolicyType::Never));
        assert_eq!(policy.on_failure_retry_interval, None);
        assert_eq!(policy.on_submission_failure_retry_interval, None);
        assert_eq!(spec.driver.pod.cores, Some(1));
        assert_eq!(spec.driver.pod.memory.as_deref(), Some("1g"));
        assert_eq!(spec.executor.pod.cores, Some(1));
        assert_eq!(spec.executor.pod.memory.as_deref(), Some("1g"));
        assert_eq!(spec.executor.instances, Some(1));
        // Absent sections stay absent: their defaults apply only when the user asks for them.
        assert_eq!(spec.spark_ui_options, None);
        assert_eq!(spec.monitoring, None);
        assert_eq!(spec.dynamic_allocation, None);
    }

    #[test]
    fn retry_intervals_default_only_when_the_policy_retries() {
        for (kind, interval) in [
            (RestartPolicyType::Never, None),
            (RestartPolicyType::OnFailure, Some(5)),
            (RestartPolicyType::Always, Some(5)),
        ] {
            let spec = spark_application_spec(SparkApplicationSpec {
                restart_policy: Some(RestartPolicy {
                    r#type: Some(kind),
                    ..Default::default()
                }),
                ..Default::default()
            });
            let policy = spec.restart_policy.expect("restart policy");
            assert_eq!(policy.on_failure_retry_interval, interval, "{kind:?}");
            assert_eq!(
                policy.on_submission_failure_retry_interval, interval,
                "{kind:?}"
            );
        }
        let spec = spark_application_spec(SparkApplicationSpec {
            restart_policy: Some(RestartPolicy {
                r#type: Some(RestartPolicyType::OnFailure),
                on_failure_retry_interval: Some(30),
                ..Default::default()
            }),
            ..Default::default()
        });
        let policy = spec.restart_policy.expect("restart policy");
        assert_eq!(policy.on_failure_retry_interval, Some(30));
        assert_eq!(policy.on_submission_failure_retry_interval, Some(5));
    }

    #[test]
    fn spark_conf_wins_over_resource_defaults() {
        let spec = spark_application_spec(SparkApplicationSpec {
            spark_conf: conf(&[
                ("spark.driver.cores", "2"),
                ("spark.driver.memory", "4g"),
                ("spark.executor.cores", "3"),
                ("spark.executor.memory", "8g"),
                ("spark.executor.instances", "7"),
            ]),
            ..Default::default()
        });
        assert_eq!(spec.driver.pod.cores, None);
        assert_eq!(spec.driver.pod.memory, None);
        assert_eq!(spec.executor.pod.cores, None);
        assert_eq!(spec.executor.pod.memory, None);
        assert_eq!(spec.executor.instances, None);
    }

    #[test]
    fn user_values_are_kept() {
        let mut input = SparkApplicationSpec::default();
        input.driver.pod.cores = Some(4);
        input.executor.pod.memory = Some("512m".into());
        input.executor.instances = Some(0);
        input.mode = Some(DeployMode::Client);
        let spec = spark_application_spec(input);
        assert_eq!(spec.driver.pod.cores, Some(4));
        assert_eq!(spec.executor.pod.memory.as_deref(), Some("512m"));
        assert_eq!(spec.executor.instances, Some(0));
        assert_eq!(spec.mode, Some(DeployMode::Client));
    }

    #[test]
    fn dynamic_allocation_leaves_instances_to_spark_and_tracks_shuffles() {
        let spec = spark_application_spec(SparkApplicationSpec {
            dynamic_allocation: Some(DynamicAllocation {
                enabled: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(spec.executor.instances, None);
        let allocation = spec.dynamic_allocation.expect("dynamic allocation");
        assert_eq!(allocation.shuffle_tracking_enabled, Some(true));

        let spec = spark_application_spec(SparkApplicationSpec {
            dynamic_allocation: Some(DynamicAllocation {
                enabled: Some(true),
                shuffle_tracking_enabled: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        });
        let allocation = spec.dynamic_allocation.expect("dynamic allocation");
        assert_eq!(allocation.shuffle_tracking_enabled, Some(false));

        let spec = spark_application_spec(SparkApplicationSpec {
            dynamic_allocation: Some(DynamicAllocation {
                enabled: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(spec.executor.instances, Some(1));
    }

    #[test]
    fn ui_and_prometheus_ports() {
        let spec = spark_application_spec(SparkApplicationSpec {
            spark_ui_options: Some(SparkUiConfiguration::default()),
            monitoring: Some(MonitoringSpec {
                prometheus: Some(PrometheusSpec::default()),
                ..Default::default()
            }),
            ..Default::default()
        });
        let ui = spec.spark_ui_options.expect("ui options");
        assert_eq!(ui.service_port, Some(4040));
        assert_eq!(
            ui.service_port_name.as_deref(),
            Some("spark-driver-ui-port")
        );
        let prometheus = spec
            .monitoring
            .and_then(|m| m.prometheus)
            .expect("prometheus");
        assert_eq!(prometheus.port, Some(8090));
        assert_eq!(prometheus.port_name.as_deref(), Some("jmx-exporter"));
    }

    #[test]
    fn scheduled_defaults_include_the_template() {
        let spec = scheduled_spark_application_spec(ScheduledSparkApplicationSpec {
            schedule: "@every 3m".into(),
            ..Default::default()
        });
        assert_eq!(spec.time_zone.as_deref(), Some("Local"));
        assert_eq!(spec.concurrency_policy, Some(ConcurrencyPolicy::Allow));
        assert_eq!(spec.successful_run_history_limit, Some(1));
        assert_eq!(spec.failed_run_history_limit, Some(1));
        assert_eq!(spec.template.executor.instances, Some(1));
        assert_eq!(spec.template.mode, Some(DeployMode::Cluster));
    }

    #[test]
    fn defaulting_is_idempotent() {
        let once = spark_application_spec(SparkApplicationSpec {
            restart_policy: Some(RestartPolicy {
                r#type: Some(RestartPolicyType::Always),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(spark_application_spec(once.clone()), once);
    }
}
