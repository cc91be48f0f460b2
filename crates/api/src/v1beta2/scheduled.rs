//! ScheduledSparkApplication: a SparkApplication run on a cron schedule.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SparkApplicationSpec;

/// The desired state of a ScheduledSparkApplication.
// Clippy reads the repeated `type_ = "string"` of the printer columns as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "sparkoperator.k8s.io",
    version = "v1beta2",
    kind = "ScheduledSparkApplication",
    namespaced,
    status = "ScheduledSparkApplicationStatus",
    shortname = "scheduledsparkapp",
    category = "spark",
    derive = "Default",
    derive = "PartialEq",
    crates(kube_core = "::kube_core"),
    // `*.k8s.io` groups are protected; the group is Kubeflow's, approved in its PR 1298.
    annotation(
        "api-approved.kubernetes.io",
        "https://github.com/kubeflow/spark-operator/pull/1298"
    ),
    doc = "ScheduledSparkApplication is the Schema for the scheduledsparkapplications API",
    printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.schedule"),
    printcolumn(name = "TimeZone", type_ = "string", json_path = ".spec.timeZone"),
    printcolumn(name = "Suspend", type_ = "string", json_path = ".spec.suspend"),
    printcolumn(name = "Last Run", type_ = "date", json_path = ".status.lastRun"),
    printcolumn(
        name = "Last Run Name",
        type_ = "string",
        json_path = ".status.lastRunName"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledSparkApplicationSpec {
    /// The cron schedule of the runs (standard five fields, `@every <duration>` or a descriptor
    /// such as `@hourly`), optionally prefixed with `CRON_TZ=<zone> `.
    pub schedule: String,
    /// The time zone of the schedule (default `Local`, the operator's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// The SparkApplication each run creates.
    pub template: SparkApplicationSpec,
    /// Stop creating runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// What to do when a run is due while the previous one is unfinished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_policy: Option<ConcurrencyPolicy>,
    /// How many successful runs to keep (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub successful_run_history_limit: Option<i32>,
    /// How many failed runs to keep (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub failed_run_history_limit: Option<i32>,
}

/// What to do when a run is due while the previous one is unfinished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ConcurrencyPolicy {
    /// Run concurrently.
    #[default]
    Allow,
    /// Skip the new run.
    Forbid,
    /// Delete the unfinished run and start the new one.
    Replace,
}

/// The observed state of a ScheduledSparkApplication.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledSparkApplicationStatus {
    /// When the last run was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<Time>,
    /// When the next run is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run: Option<Time>,
    /// The name of the last run's SparkApplication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_name: Option<String>,
    /// Names of the kept successful runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub past_successful_run_names: Option<Vec<String>>,
    /// Names of the kept failed runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub past_failed_run_names: Option<Vec<String>>,
    /// Whether the schedule is valid and running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_state: Option<ScheduleState>,
    /// Why the schedule is in its state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The states of a schedule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ScheduleState {
    #[default]
    #[serde(rename = "")]
    New,
    Validating,
    Scheduled,
    FailedValidation,
}
