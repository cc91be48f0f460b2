//! What marks an object as a run's, shared by every step that builds one: the operator's labels, the
//! Spark containers' names, the local-dir volume prefix and the owner reference to the application.
//! A leaf module: it depends on no other part of the plan.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use sparkplane_api::SparkApplication;

pub const LABEL_APP_NAME: &str = "sparkoperator.k8s.io/app-name";
pub const LABEL_LAUNCHED_BY: &str = "sparkoperator.k8s.io/launched-by-spark-operator";
pub const LABEL_SUBMISSION_ID: &str = "sparkoperator.k8s.io/submission-id";
pub const DRIVER_CONTAINER: &str = "spark-kubernetes-driver";
pub const EXECUTOR_CONTAINER: &str = "spark-kubernetes-executor";
pub const LOCAL_DIR_PREFIX: &str = "spark-local-dir-";

/// The owner reference of everything a SparkApplication causes (Kubeflow's `GetOwnerReference`).
pub fn owner_reference(app: &SparkApplication, controller: bool) -> OwnerReference {
    OwnerReference {
        api_version: "sparkoperator.k8s.io/v1beta2".into(),
        kind: "SparkApplication".into(),
        name: app.metadata.name.clone().unwrap_or_default(),
        uid: app.metadata.uid.clone().unwrap_or_default(),
        controller: controller.then_some(true),
        block_owner_deletion: controller.then_some(true),
    }
}
