//! SparkApplication: one Spark application run by the operator.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Container, EnvFromSource, EnvVar, HostAlias, Lifecycle, PodDNSConfig,
    PodSecurityContext, PodTemplateSpec, SecurityContext, Toleration, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::IngressTLS;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema;

/// The desired state of a SparkApplication.
// Clippy reads the repeated `type_ = "string"` of the printer columns as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "sparkoperator.k8s.io",
    version = "v1beta2",
    kind = "SparkApplication",
    namespaced,
    status = "SparkApplicationStatus",
    shortname = "sparkapp",
    category = "spark",
    derive = "Default",
    derive = "PartialEq",
    crates(kube_core = "::kube_core"),
    // `*.k8s.io` groups are protected; the group is Kubeflow's, approved in its PR 1298.
    annotation(
        "api-approved.kubernetes.io",
        "https://github.com/kubeflow/spark-operator/pull/1298"
    ),
    doc = "SparkApplication is the Schema for the sparkapplications API",
    printcolumn(name = "Suspend", type_ = "boolean", json_path = ".spec.suspend"),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.applicationState.state"
    ),
    printcolumn(
        name = "Attempts",
        type_ = "string",
        json_path = ".status.executionAttempts"
    ),
    printcolumn(
        name = "Start",
        type_ = "string",
        json_path = ".status.lastSubmissionAttemptTime"
    ),
    printcolumn(
        name = "Finish",
        type_ = "string",
        json_path = ".status.terminationTime"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = schema::spec_rules()))]
pub struct SparkApplicationSpec {
    /// The type of the application (Java, Python, Scala or R). Kubeflow's webhook defaults it to
    /// Scala; here the schema default does.
    #[serde(default)]
    pub r#type: SparkApplicationType,
    /// The version of Spark the application uses.
    pub spark_version: String,
    /// The deployment mode of the Spark application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<DeployMode>,
    /// The user to impersonate when submitting the application (`--proxy-user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_user: Option<String>,
    /// The container image for the driver, executor and init-container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The image pull policy for the driver, executor and init-container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Names of image pull secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<String>>,
    /// The fully-qualified main class of the Spark application (Java and Scala).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_class: Option<String>,
    /// The path to the jar or Python/R file of the application.
    pub main_application_file: String,
    /// Arguments passed to the application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Vec<String>>,
    /// Spark configuration properties, passed as `--conf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = schema::spark_conf_rules()))]
    pub spark_conf: Option<BTreeMap<String, String>>,
    /// Hadoop configuration properties, passed as `spark.hadoop.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hadoop_conf: Option<BTreeMap<String, String>>,
    /// A ConfigMap holding Spark configuration files, mounted at `/etc/spark/conf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spark_config_map: Option<String>,
    /// A ConfigMap holding Hadoop configuration files, mounted at `/etc/hadoop/conf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hadoop_config_map: Option<String>,
    /// Volumes the driver and executors can mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
    /// The driver.
    pub driver: DriverSpec,
    /// The executors.
    pub executor: ExecutorSpec,
    /// Dependencies of the application: jars, files, packages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deps: Option<Dependencies>,
    /// When and how often to rerun the application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Node selector for driver and executor pods (`spark.kubernetes.node.selector.*`); excludes the
    /// driver's and the executor's own nodeSelector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Legacy and unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_retries: Option<i32>,
    /// Legacy and unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval: Option<i64>,
    /// The major Python version of the application ("2" or "3").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_version: Option<PythonVersion>,
    /// The fraction of memory added as non-heap overhead (`spark.kubernetes.memoryOverheadFactor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_overhead_factor: Option<String>,
    /// Prometheus monitoring of the driver and executors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<MonitoringSpec>,
    /// The batch scheduler of the pods: `workload` gangs the executors with Kubernetes' Workload
    /// API; `volcano` and `yunikorn` hand the pods to those schedulers with a PodGroup or task
    /// groups; the name of a scheduler running the scheduler-plugins' Coscheduling, one the
    /// operator was given (`--kube-scheduler-names`), coschedules the application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_scheduler: Option<String>,
    /// Options for the batch scheduler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_scheduler_options: Option<BatchSchedulerConfiguration>,
    /// Delete the SparkApplication this many seconds after it terminates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub time_to_live_seconds: Option<i64>,
    /// The Spark UI Service and Ingress.
    #[serde(
        default,
        rename = "sparkUIOptions",
        skip_serializing_if = "Option::is_none"
    )]
    pub spark_ui_options: Option<SparkUiConfiguration>,
    /// Extra Services and Ingresses for ports of the driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_ingress_options: Option<Vec<DriverIngressConfiguration>>,
    /// Dynamic allocation of executors (`spark.dynamicAllocation.*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_allocation: Option<DynamicAllocation>,
    /// Don't submit; setting it on a running application deletes its pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Create a PodDisruptionBudget for the driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_pod_disruption_budget: Option<bool>,
}

/// The language of a Spark application.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum SparkApplicationType {
    Java,
    Python,
    #[default]
    Scala,
    R,
}

/// Where the driver runs: in the cluster (the operator's mode) or on the submitting client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeployMode {
    #[default]
    Cluster,
    Client,
}

/// The major Python version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum PythonVersion {
    #[serde(rename = "2")]
    Two,
    #[serde(rename = "3")]
    Three,
}

/// What is shared by the driver and executor specs (Kubeflow's `SparkPodSpec`, inlined into both).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SparkPodSpec {
    /// A pod template; its settings come before the other fields here. Needs Spark 3 or later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<PodTemplate>,
    /// Number of CPU cores (`spark.{driver,executor}.cores`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub cores: Option<i32>,
    /// Hard CPU limit of the pod, a Kubernetes quantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::quantity::QUANTITY_PATTERN))]
    pub core_limit: Option<String>,
    /// JVM memory of the pod, in Spark's size syntax (`512m`, `1g`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::quantity::SPARK_MEMORY_PATTERN))]
    pub memory: Option<String>,
    /// Non-heap memory of the pod, in Spark's size syntax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::quantity::SPARK_MEMORY_PATTERN))]
    pub memory_overhead: Option<String>,
    /// Memory limit of the pod, a Kubernetes quantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::quantity::QUANTITY_PATTERN))]
    pub memory_limit: Option<String>,
    /// A GPU request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuSpec>,
    /// The container image (`spark.kubernetes.{driver,executor}.container.image`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// ConfigMaps to mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_maps: Option<Vec<NamePath>>,
    /// Secrets to mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<SecretInfo>>,
    /// Environment variables of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
    /// Deprecated: use `env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_vars: Option<BTreeMap<String, String>>,
    /// Sources of environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_from: Option<Vec<EnvFromSource>>,
    /// Deprecated: use `env`. Environment variables from secret keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_secret_key_refs: Option<BTreeMap<String, NameKey>>,
    /// Labels added to the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Annotations added to the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Volume mounts of the Spark container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mounts: Option<Vec<VolumeMount>>,
    /// Affinity of the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Tolerations of the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
    /// The pod's security context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security_context: Option<PodSecurityContext>,
    /// The Spark container's security context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
    /// The scheduler of the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_name: Option<String>,
    /// Sidecar containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sidecars: Option<Vec<Container>>,
    /// Init containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_containers: Option<Vec<Container>>,
    /// Use the host's network namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_network: Option<bool>,
    /// Node selector of the pod; excludes the application-level `nodeSelector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// DNS settings of the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_config: Option<PodDNSConfig>,
    /// Grace period of the pod's termination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    /// The ServiceAccount the pod runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Entries for the pod's `/etc/hosts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_aliases: Option<Vec<HostAlias>>,
    /// Share one process namespace between the pod's containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_process_namespace: Option<bool>,
}

/// A pod template exactly as written. Kubeflow's `template` is schemaless and is handed to Spark
/// as a file, so what the user wrote is kept even where it is not a PodTemplateSpec field (Kubeflow's
/// own pod-template example sets container-only fields in the pod's securityContext).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PodTemplate(pub serde_json::Map<String, serde_json::Value>);

impl SparkApplication {
    /// The driver pod's name as Kubeflow derives it: `spec.driver.podName`, else the
    /// `spark.kubernetes.driver.pod.name` sparkConf key, else `<name>-driver`.
    pub fn driver_pod_name(&self) -> String {
        let from_spec = self.spec.driver.pod_name.clone().filter(|n| !n.is_empty());
        from_spec
            .or_else(|| {
                self.spec
                    .spark_conf
                    .as_ref()?
                    .get("spark.kubernetes.driver.pod.name")
                    .cloned()
            })
            .unwrap_or_else(|| {
                crate::names::driver_pod_name(self.metadata.name.as_deref().unwrap_or_default())
            })
    }
}

impl PodTemplate {
    /// The template as a typed PodTemplateSpec; fields that are not PodTemplateSpec's are dropped.
    pub fn to_spec(&self) -> Result<PodTemplateSpec, serde_json::Error> {
        serde_json::from_value(serde_json::Value::Object(self.0.clone()))
    }
}

impl From<PodTemplateSpec> for PodTemplate {
    fn from(spec: PodTemplateSpec) -> Self {
        match serde_json::to_value(spec) {
            Ok(serde_json::Value::Object(map)) => PodTemplate(map),
            // A PodTemplateSpec always serializes to an object.
            _ => PodTemplate::default(),
        }
    }
}

impl JsonSchema for PodTemplate {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PodTemplate".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schema::preserve_unknown_object(generator)
    }
}

/// The driver.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriverSpec {
    #[serde(flatten)]
    pub pod: SparkPodSpec,
    /// Name of the driver pod; defaults to `<application>-driver`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
    ))]
    pub pod_name: Option<String>,
    /// CPU request of the driver pod (`spark.kubernetes.driver.request.cores`), a Kubernetes quantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::quantity::QUANTITY_PATTERN))]
    pub core_request: Option<String>,
    /// Extra JVM options of the driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub java_options: Option<String>,
    /// Lifecycle hooks of the driver container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    /// The Kubernetes API server URL the driver uses to manage executors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_master: Option<String>,
    /// Annotations of the driver's Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_annotations: Option<BTreeMap<String, String>>,
    /// Labels of the driver's Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_labels: Option<BTreeMap<String, String>>,
    /// Extra ports of the driver container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<Port>>,
    /// Priority class of the driver pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
}

/// The executors.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutorSpec {
    #[serde(flatten)]
    pub pod: SparkPodSpec,
    /// Number of executors (`spark.executor.instances`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub instances: Option<i32>,
    /// CPU request of each executor pod, a Kubernetes quantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::quantity::QUANTITY_PATTERN))]
    pub core_request: Option<String>,
    /// Extra JVM options of the executors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub java_options: Option<String>,
    /// Lifecycle hooks of the executor container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    /// Delete executor pods when they terminate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_on_termination: Option<bool>,
    /// Extra ports of the executor container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<Port>>,
    /// Priority class of the executor pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
}

/// Dependencies of the application.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dependencies {
    /// Jars on the driver and executor classpaths (`--jars`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jars: Option<Vec<String>>,
    /// Files in the working directory of each executor (`--files`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
    /// Python files (`--py-files`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub py_files: Option<Vec<String>>,
    /// Maven coordinates of jars (`--packages`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<String>>,
    /// `groupId:artifactId` to exclude while resolving `packages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_packages: Option<Vec<String>>,
    /// Extra remote repositories for `packages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repositories: Option<Vec<String>>,
    /// Archives extracted in the working directory of each executor (`--archives`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archives: Option<Vec<String>>,
}

/// When to rerun the application.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestartPolicy {
    /// Never, OnFailure or Always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<RestartPolicyType>,
    /// How many times to retry a failed submission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub on_submission_failure_retries: Option<i32>,
    /// How many times to rerun a failed application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub on_failure_retries: Option<i32>,
    /// Seconds between submission retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub on_submission_failure_retry_interval: Option<i64>,
    /// Seconds between reruns after failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub on_failure_retry_interval: Option<i64>,
}

/// The restart policy's type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum RestartPolicyType {
    #[default]
    Never,
    Always,
    OnFailure,
}

/// A GPU request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GpuSpec {
    /// The GPU resource name, such as `nvidia.com/gpu`.
    pub name: String,
    /// How many GPUs to request.
    #[schemars(range(min = 0))]
    pub quantity: i64,
}

/// A ConfigMap mounted at a path.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NamePath {
    pub name: String,
    pub path: String,
}

/// A key of a named Secret.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NameKey {
    pub name: String,
    pub key: String,
}

/// A Secret mounted at a path.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretInfo {
    pub name: String,
    pub path: String,
    pub secret_type: SecretType,
}

/// What a mounted Secret holds; the first two also set an environment variable pointing at it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum SecretType {
    /// Sets `GOOGLE_APPLICATION_CREDENTIALS=<path>/key.json`.
    GCPServiceAccount,
    /// Sets `HADOOP_TOKEN_FILE_LOCATION=<path>/hadoop.token`.
    HadoopDelegationToken,
    #[default]
    Generic,
}

/// A port of a container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Port {
    pub name: String,
    pub protocol: String,
    pub container_port: i32,
}

/// Prometheus monitoring.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringSpec {
    /// Expose the driver's metrics.
    pub expose_driver_metrics: bool,
    /// Expose the executors' metrics.
    pub expose_executor_metrics: bool,
    /// Content of a custom `metrics.properties`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_properties: Option<String>,
    /// Path of a custom `metrics.properties` in the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_properties_file: Option<String>,
    /// The Prometheus JMX exporter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSpec>,
}

/// The Prometheus JMX exporter Java agent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusSpec {
    /// Path of the exporter's jar in the image.
    pub jmx_exporter_jar: String,
    /// The port the exporter listens on (default 8090).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1024, max = 49151))]
    pub port: Option<i32>,
    /// The name of that port (default `jmx-exporter`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_name: Option<String>,
    /// Path of the exporter's configuration file in the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_file: Option<String>,
    /// Content of the exporter's configuration; used when `configFile` is unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<String>,
}

/// `spec.batchScheduler` for native gang scheduling through Kubernetes' Workload API
/// (`scheduling.k8s.io/v1alpha2` PodGroup): the executors are placed all together or not at all.
pub const BATCH_SCHEDULER_WORKLOAD: &str = "workload";

/// `spec.batchScheduler` for Volcano: a `scheduling.volcano.sh` PodGroup of the application.
pub const BATCH_SCHEDULER_VOLCANO: &str = "volcano";

/// `spec.batchScheduler` for Apache YuniKorn: task groups in the pods' annotations.
pub const BATCH_SCHEDULER_YUNIKORN: &str = "yunikorn";

/// Options for a batch scheduler.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchSchedulerConfiguration {
    /// The queue to submit to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The priority class of the pod group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Resources reserved for the application, instead of those computed from driver and executors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::quantity_map")]
    pub resources: Option<BTreeMap<String, Quantity>>,
}

/// The Spark UI Service and Ingress.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SparkUiConfiguration {
    /// The Service port (default 4040).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_port: Option<i32>,
    /// The Service port's name (default `spark-driver-ui-port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_port_name: Option<String>,
    /// The Service type (default ClusterIP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    /// Annotations of the Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_annotations: Option<BTreeMap<String, String>>,
    /// Labels of the Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_labels: Option<BTreeMap<String, String>>,
    /// Annotations of the Ingress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_annotations: Option<BTreeMap<String, String>>,
    /// TLS of the Ingress.
    #[serde(
        default,
        rename = "ingressTLS",
        skip_serializing_if = "Option::is_none"
    )]
    pub ingress_tls: Option<Vec<IngressTLS>>,
}

/// A Service and Ingress for one port of the driver.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriverIngressConfiguration {
    /// The Service port.
    pub service_port: i32,
    /// The Service port's name.
    pub service_port_name: String,
    /// The Service type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    /// Annotations of the Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_annotations: Option<BTreeMap<String, String>>,
    /// Labels of the Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_labels: Option<BTreeMap<String, String>>,
    /// The Ingress URL format (`{{$appName}}`, `{{$appNamespace}}`, `{{$appId}}`).
    #[serde(
        default,
        rename = "ingressURLFormat",
        skip_serializing_if = "Option::is_none"
    )]
    pub ingress_url_format: Option<String>,
    /// Annotations of the Ingress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_annotations: Option<BTreeMap<String, String>>,
    /// TLS of the Ingress.
    #[serde(
        default,
        rename = "ingressTLS",
        skip_serializing_if = "Option::is_none"
    )]
    pub ingress_tls: Option<Vec<IngressTLS>>,
}

/// Dynamic allocation of executors.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DynamicAllocation {
    /// Turn dynamic allocation on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Initial number of executors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub initial_executors: Option<i32>,
    /// Lower bound of the number of executors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_executors: Option<i32>,
    /// Upper bound of the number of executors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_executors: Option<i32>,
    /// Track shuffle files so executors can go without an external shuffle service (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shuffle_tracking_enabled: Option<bool>,
    /// Milliseconds an executor holding shuffle data is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub shuffle_tracking_timeout: Option<i64>,
}

/// The observed state of a SparkApplication.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SparkApplicationStatus {
    /// The application id Spark gave the run (`spark-<uuid>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spark_application_id: Option<String>,
    /// A unique id of the current submission.
    #[serde(
        default,
        rename = "submissionID",
        skip_serializing_if = "Option::is_none"
    )]
    pub submission_id: Option<String>,
    /// When the last submission was attempted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_submission_attempt_time: Option<Time>,
    /// When the application terminated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_time: Option<Time>,
    /// The driver and its UI.
    #[serde(default)]
    pub driver_info: DriverInfo,
    /// The state of the application.
    #[serde(default)]
    pub application_state: ApplicationState,
    /// The state of each executor, by pod name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_state: Option<BTreeMap<String, ExecutorState>>,
    /// How many times the application ran (reruns included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_attempts: Option<i32>,
    /// How many times the application was submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission_attempts: Option<i32>,
    /// The state as standard conditions (`Submitted`, `Running`, `Completed`, `Failed`,
    /// `Suspended`), for `kubectl wait --for=condition=<type>`. Sparkplane's own: Kubeflow's status
    /// has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
}

/// The driver and its UI.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriverInfo {
    #[serde(
        default,
        rename = "webUIServiceName",
        skip_serializing_if = "Option::is_none"
    )]
    pub web_ui_service_name: Option<String>,
    #[serde(
        default,
        rename = "webUIAddress",
        skip_serializing_if = "Option::is_none"
    )]
    pub web_ui_address: Option<String>,
    #[serde(default, rename = "webUIPort", skip_serializing_if = "Option::is_none")]
    pub web_ui_port: Option<i32>,
    #[serde(
        default,
        rename = "webUIIngressName",
        skip_serializing_if = "Option::is_none"
    )]
    pub web_ui_ingress_name: Option<String>,
    #[serde(
        default,
        rename = "webUIIngressAddress",
        skip_serializing_if = "Option::is_none"
    )]
    pub web_ui_ingress_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
}

/// The state of the application and, when it failed, why.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationState {
    #[serde(default)]
    pub state: ApplicationStateType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// The states of an application, as Kubeflow names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApplicationStateType {
    /// Not yet seen by the operator.
    #[default]
    #[serde(rename = "")]
    New,
    Submitted,
    Running,
    Completed,
    Failed,
    SubmissionFailed,
    PendingRerun,
    Invalidating,
    Succeeding,
    Failing,
    Suspending,
    Suspended,
    Resuming,
    Unknown,
}

impl ApplicationStateType {
    /// The name Kubeflow writes (`""` before the operator has seen the application).
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationStateType::New => "",
            ApplicationStateType::Submitted => "SUBMITTED",
            ApplicationStateType::Running => "RUNNING",
            ApplicationStateType::Completed => "COMPLETED",
            ApplicationStateType::Failed => "FAILED",
            ApplicationStateType::SubmissionFailed => "SUBMISSION_FAILED",
            ApplicationStateType::PendingRerun => "PENDING_RERUN",
            ApplicationStateType::Invalidating => "INVALIDATING",
            ApplicationStateType::Succeeding => "SUCCEEDING",
            ApplicationStateType::Failing => "FAILING",
            ApplicationStateType::Suspending => "SUSPENDING",
            ApplicationStateType::Suspended => "SUSPENDED",
            ApplicationStateType::Resuming => "RESUMING",
            ApplicationStateType::Unknown => "UNKNOWN",
        }
    }
}

/// The states of a driver pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DriverState {
    Pending,
    Running,
    Completed,
    Failed,
    Unknown,
}

/// The states of an executor pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutorState {
    Pending,
    Running,
    Completed,
    Failed,
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_are_the_serialised_ones() {
        use ApplicationStateType as S;
        for state in [
            S::New,
            S::Submitted,
            S::Running,
            S::Completed,
            S::Failed,
            S::SubmissionFailed,
            S::PendingRerun,
            S::Invalidating,
            S::Succeeding,
            S::Failing,
            S::Suspending,
            S::Suspended,
            S::Resuming,
            S::Unknown,
        ] {
            assert_eq!(
                serde_json::to_value(state).expect("a string"),
                serde_json::Value::String(state.as_str().to_owned())
            );
        }
    }
}
