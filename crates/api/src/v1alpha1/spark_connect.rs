//! SparkConnect: a long-running Spark Connect server whose SparkContext asks for its own executors.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema;
use crate::v1beta2::{DynamicAllocation, PodTemplate};

/// The desired state of a SparkConnect.
// Clippy reads the repeated `type_ = "string"` of the printer columns as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "sparkoperator.k8s.io",
    version = "v1alpha1",
    kind = "SparkConnect",
    namespaced,
    status = "SparkConnectStatus",
    shortname = "sparkconn",
    category = "spark",
    derive = "Default",
    derive = "PartialEq",
    crates(kube_core = "::kube_core"),
    // `*.k8s.io` groups are protected; the group is Kubeflow's, approved in its PR 1298.
    annotation(
        "api-approved.kubernetes.io",
        "https://github.com/kubeflow/spark-operator/pull/1298"
    ),
    doc = "SparkConnect is the Schema for the sparkconnects API",
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.state"),
    printcolumn(name = "PodName", type_ = "string", json_path = ".status.server.podName")
)]
#[serde(rename_all = "camelCase")]
pub struct SparkConnectSpec {
    /// The Spark version of the image; decides how the server pod is built.
    pub spark_version: String,
    /// The container image of the server and the executors, unless their templates name one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Spark configuration, passed to the server as `--conf` pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = schema::spark_conf_rules()))]
    pub spark_conf: Option<BTreeMap<String, String>>,
    /// Hadoop configuration, passed as `spark.hadoop.`-prefixed Spark configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hadoop_conf: Option<BTreeMap<String, String>>,
    /// The Spark Connect server: the pod that runs the driver in client mode.
    pub server: ServerSpec,
    /// The executors the server's SparkContext asks for.
    pub executor: ConnectExecutorSpec,
    /// Dynamic allocation of executors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_allocation: Option<DynamicAllocation>,
}

/// What the server and executor specs share: size and pod template.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectPodSpec {
    /// Number of CPU cores (`spark.driver.cores` or `spark.executor.cores`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub cores: Option<i32>,
    /// JVM memory, in Spark's size syntax (`512m`, `1g`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::quantity::SPARK_MEMORY_PATTERN))]
    pub memory: Option<String>,
    /// A pod template; the operator's settings are applied over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<PodTemplate>,
}

/// The Spark Connect server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerSpec {
    #[serde(flatten)]
    pub pod: ConnectPodSpec,
    /// A Service template that exposes the server; the operator's ports and selector are added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
}

/// The executors of a Spark Connect server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectExecutorSpec {
    #[serde(flatten)]
    pub pod: ConnectPodSpec,
    /// Number of executors (`spark.executor.instances`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub instances: Option<i32>,
}

/// The observed state of a SparkConnect.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SparkConnectStatus {
    /// Standard conditions, for `kubectl wait --for=condition=...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// Provisioning, Ready, NotReady or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SparkConnectState>,
    /// The server's pod and Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerStatus>,
    /// Executor pods by phase (`running`, `pending`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executors: Option<BTreeMap<String, i32>>,
    /// When the operator started the current server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the operator last wrote this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
}

/// The server's pod and Service as observed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerStatus {
    /// The server pod's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
    /// The server pod's IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
    /// The Service that exposes the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
}

/// Where a SparkConnect stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum SparkConnectState {
    /// The server pod is being created or has not started serving.
    #[default]
    Provisioning,
    /// The server is running and ready for clients.
    Ready,
    /// The server was ready and is not now (restarting, evicted).
    NotReady,
    /// The server cannot be run as specified.
    Failed,
}

impl SparkConnectState {
    pub fn as_str(self) -> &'static str {
        match self {
            SparkConnectState::Provisioning => "Provisioning",
            SparkConnectState::Ready => "Ready",
            SparkConnectState::NotReady => "NotReady",
            SparkConnectState::Failed => "Failed",
        }
    }
}
