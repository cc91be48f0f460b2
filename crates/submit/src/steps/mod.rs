//! Spark's driver feature steps, one module each, applied in `KubernetesDriverBuilder`'s order to a
//! pod that starts as the driver's template.

pub mod basic;
pub mod command;
pub mod driver_service;
pub mod env_secrets;
pub mod local_dirs;
pub mod mount_secrets;
pub mod pod_template;
pub mod volumes;

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::names::Ids;
use crate::properties::SparkConf;
use crate::version::SparkVersion;

/// The pod under construction: Spark keeps its own container apart from the template's others and
/// appends it last.
#[derive(Debug, Clone, Default)]
pub struct SparkPod {
    pub pod: Pod,
    pub container: Container,
}

/// What every step reads.
pub struct StepContext<'a> {
    pub conf: &'a SparkConf,
    pub version: SparkVersion,
    pub ids: &'a Ids,
    pub namespace: &'a str,
    pub app_name: &'a str,
    pub resource_prefix: &'a str,
    pub driver_pod_name: &'a str,
    pub spark_user: &'a str,
}

/// Substitutes `{{APP_ID}}` as Spark's `KubernetesUtils.substitutePlaceholders`... for the values the
/// version substitutes in.
pub fn substitute_app_id(value: &str, app_id: &str) -> String {
    value.replace("{{APP_ID}}", app_id)
}

pub(crate) fn env(name: &str, value: &str) -> k8s_openapi::api::core::v1::EnvVar {
    k8s_openapi::api::core::v1::EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        value_from: None,
    }
}
