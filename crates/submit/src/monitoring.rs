//! Prometheus monitoring through the JMX exporter Java agent, as Kubeflow's controller sets it up before
//! submitting: the `<app>-prom-conf` ConfigMap (`metrics.properties`, `prometheus.yaml`), the
//! `spark.metrics.*` confs, the `-javaagent` option and the `prometheus.io/*` annotations. The
//! webhook's half (volume, mount, port) is in [`crate::template`].
//!
//! All of it applies only when `spec.monitoring.prometheus` is set, as in Kubeflow.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sparkplane_api::SparkApplication;
use sparkplane_api::v1beta2::{MonitoringSpec, PrometheusSpec};

use crate::names;

pub const MOUNT_PATH: &str = "/etc/metrics/conf";
pub const METRICS_PROPERTIES_KEY: &str = "metrics.properties";
pub const PROMETHEUS_CONFIG_KEY: &str = "prometheus.yaml";
/// Kubeflow's label on the objects its controller creates.
pub const LABEL_CREATED_BY: &str = "sparkoperator.k8s.io/created-by-spark-operator";

/// The default `metrics.properties` (Spark's JMX sink and JVM sources, as Kubeflow sets them) and our
/// own default exporter rules (see docs/submission.md: metric names follow the same
/// `spark_driver_*`/`spark_executor_*` scheme but are not Kubeflow's rule set; a user who needs those
/// exact names gives them in `spec.monitoring.prometheus.configuration`).
pub const DEFAULT_METRICS_PROPERTIES: &str = include_str!("monitoring/metrics.properties");
pub const DEFAULT_PROMETHEUS_CONFIG: &str = include_str!("monitoring/prometheus.yaml");

/// The monitoring spec and its exporter, when Prometheus monitoring is on.
pub fn prometheus(app: &SparkApplication) -> Option<(&MonitoringSpec, &PrometheusSpec)> {
    let m = app.spec.monitoring.as_ref()?;
    Some((m, m.prometheus.as_ref()?))
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// A `metrics.properties` in the image replaces the ConfigMap's.
pub fn metrics_properties_file(m: &MonitoringSpec) -> Option<&str> {
    non_empty(&m.metrics_properties_file)
}

/// An exporter configuration in the image replaces the ConfigMap's.
pub fn prometheus_config_file(p: &PrometheusSpec) -> Option<&str> {
    non_empty(&p.config_file)
}

/// Whether the ConfigMap is needed: unless both files come from the image.
pub fn needs_config_map(app: &SparkApplication) -> bool {
    prometheus(app).is_some_and(|(m, p)| {
        metrics_properties_file(m).is_none() || prometheus_config_file(p).is_none()
    })
}

pub fn port(app: &SparkApplication) -> i32 {
    prometheus(app)
        .and_then(|(_, p)| p.port)
        .unwrap_or(sparkplane_api::defaults::PROMETHEUS_PORT)
}

pub fn config_map_name(app: &SparkApplication) -> String {
    // A ConfigMap name is a subdomain: Kubeflow's plain `<name>-prom-conf` always fits.
    format!(
        "{}-prom-conf",
        app.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The `<app>-prom-conf` ConfigMap, owned by the SparkApplication, when the pods mount one.
pub fn config_map(app: &SparkApplication, namespace: &str) -> Option<ConfigMap> {
    if !needs_config_map(app) {
        return None;
    }
    let (m, p) = prometheus(app)?;
    let mut data = BTreeMap::new();
    if metrics_properties_file(m).is_none() {
        let text = m
            .metrics_properties
            .as_deref()
            .unwrap_or(DEFAULT_METRICS_PROPERTIES);
        data.insert(METRICS_PROPERTIES_KEY.to_owned(), text.to_owned());
    }
    if prometheus_config_file(p).is_none() {
        let text = p
            .configuration
            .as_deref()
            .unwrap_or(DEFAULT_PROMETHEUS_CONFIG);
        data.insert(PROMETHEUS_CONFIG_KEY.to_owned(), text.to_owned());
    }
    Some(ConfigMap {
        metadata: ObjectMeta {
            name: Some(config_map_name(app)),
            namespace: Some(namespace.to_owned()),
            labels: Some(BTreeMap::from([(
                LABEL_CREATED_BY.to_owned(),
                "true".to_owned(),
            )])),
            owner_references: Some(vec![crate::identity::owner_reference(app, true)]),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    })
}

/// The pod volume the ConfigMap is mounted from: Kubeflow's `<cm>-vol`, shortened with a hash when
/// that is longer than a volume name may be (Kubeflow would create an invalid pod there).
pub fn volume_name(app: &SparkApplication) -> String {
    names::config_map_volume_name(&config_map_name(app))
}

/// `spark.metrics.namespace` and `spark.metrics.conf`, which replace the user's own.
pub fn spark_conf(app: &SparkApplication, name: &str, namespace: &str) -> Vec<(String, String)> {
    let Some((m, _)) = prometheus(app) else {
        return Vec::new();
    };
    let conf = metrics_properties_file(m).map_or_else(
        || format!("{MOUNT_PATH}/{METRICS_PROPERTIES_KEY}"),
        str::to_owned,
    );
    vec![
        (
            "spark.metrics.namespace".to_owned(),
            format!("{namespace}.{name}"),
        ),
        ("spark.metrics.conf".to_owned(), conf),
    ]
}

/// Whether the role's metrics are exposed (the agent, annotations, mount and port).
pub fn exposes(app: &SparkApplication, driver: bool) -> bool {
    prometheus(app).is_some_and(|(m, _)| {
        if driver {
            m.expose_driver_metrics
        } else {
            m.expose_executor_metrics
        }
    })
}

/// The `-javaagent` option appended to the role's Java options.
pub fn java_agent(app: &SparkApplication, driver: bool) -> Option<String> {
    if !exposes(app, driver) {
        return None;
    }
    let (_, p) = prometheus(app)?;
    let config = prometheus_config_file(p).map_or_else(
        || format!("{MOUNT_PATH}/{PROMETHEUS_CONFIG_KEY}"),
        str::to_owned,
    );
    Some(format!(
        "-javaagent:{}={}:{config}",
        p.jmx_exporter_jar,
        port(app)
    ))
}

/// The `prometheus.io/*` annotations of the role's pods.
pub fn annotations(app: &SparkApplication, driver: bool) -> Vec<(String, String)> {
    if !exposes(app, driver) {
        return Vec::new();
    }
    vec![
        ("prometheus.io/scrape".into(), "true".into()),
        ("prometheus.io/port".into(), port(app).to_string()),
        ("prometheus.io/path".into(), "/metrics".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparkplane_api::v1beta2::SparkApplicationSpec;

    fn app(monitoring: serde_json::Value) -> SparkApplication {
        let spec: SparkApplicationSpec = serde_json::from_value(serde_json::json!({
            "type": "Scala", "sparkVersion": "4.0.0", "mainApplicationFile": "local:///x.jar",
            "driver": {}, "executor": {}, "monitoring": monitoring,
        }))
        .expect("spec");
        let mut a = SparkApplication::new("pi", spec);
        a.metadata.namespace = Some("jobs".into());
        a.metadata.uid = Some("u-1".into());
        a
    }

    #[test]
    fn defaults_give_both_files_and_the_agent() {
        let a = app(serde_json::json!({
            "exposeDriverMetrics": true, "exposeExecutorMetrics": false,
            "prometheus": {"jmxExporterJar": "/prometheus/jmx.jar"},
        }));
        let cm = config_map(&a, "jobs").expect("config map");
        assert_eq!(cm.metadata.name.as_deref(), Some("pi-prom-conf"));
        let data = cm.data.expect("data");
        assert_eq!(data[METRICS_PROPERTIES_KEY], DEFAULT_METRICS_PROPERTIES);
        assert_eq!(data[PROMETHEUS_CONFIG_KEY], DEFAULT_PROMETHEUS_CONFIG);
        assert!(DEFAULT_METRICS_PROPERTIES.contains("*.sink.jmx.class="));
        assert!(DEFAULT_PROMETHEUS_CONFIG.contains("lowercaseOutputName: true"));
        assert_eq!(
            java_agent(&a, true).as_deref(),
            Some("-javaagent:/prometheus/jmx.jar=8090:/etc/metrics/conf/prometheus.yaml")
        );
        assert_eq!(java_agent(&a, false), None);
        assert_eq!(annotations(&a, true).len(), 3);
        assert!(annotations(&a, false).is_empty());
        assert_eq!(
            spark_conf(&a, "pi", "jobs"),
            vec![
                ("spark.metrics.namespace".to_owned(), "jobs.pi".to_owned()),
                (
                    "spark.metrics.conf".to_owned(),
                    "/etc/metrics/conf/metrics.properties".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn files_in_the_image_replace_the_config_map_entries() {
        let a = app(serde_json::json!({
            "exposeDriverMetrics": true, "exposeExecutorMetrics": true,
            "metricsPropertiesFile": "/opt/m.properties",
            "prometheus": {"jmxExporterJar": "/j.jar", "port": 9100, "configuration": "rules: []\n"},
        }));
        let data = config_map(&a, "jobs").expect("cm").data.expect("data");
        assert_eq!(data.keys().collect::<Vec<_>>(), [PROMETHEUS_CONFIG_KEY]);
        assert_eq!(data[PROMETHEUS_CONFIG_KEY], "rules: []\n");
        assert_eq!(spark_conf(&a, "pi", "jobs")[1].1, "/opt/m.properties");

        let both = app(serde_json::json!({
            "exposeDriverMetrics": true, "exposeExecutorMetrics": true,
            "metricsPropertiesFile": "/opt/m.properties",
            "prometheus": {"jmxExporterJar": "/j.jar", "configFile": "/opt/p.yaml"},
        }));
        assert!(config_map(&both, "jobs").is_none());
        assert_eq!(
            java_agent(&both, false).as_deref(),
            Some("-javaagent:/j.jar=8090:/opt/p.yaml")
        );
    }

    #[test]
    fn without_prometheus_nothing_is_set() {
        let a = app(serde_json::json!({
            "exposeDriverMetrics": true, "exposeExecutorMetrics": true,
            "metricsPropertiesFile": "/opt/m.properties",
        }));
        assert!(config_map(&a, "jobs").is_none());
        assert!(spark_conf(&a, "pi", "jobs").is_empty());
        assert!(java_agent(&a, true).is_none());
        assert!(annotations(&a, true).is_empty());
    }
}
