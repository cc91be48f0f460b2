//! `sparkoperator.k8s.io/v1beta2`: the Kubeflow Spark Operator's API, field for field.

mod scheduled;
mod spark_application;

pub use scheduled::*;
pub use spark_application::*;

/// The API group of every kind here.
pub const GROUP: &str = "sparkoperator.k8s.io";
/// The served and stored version.
pub const VERSION: &str = "v1beta2";
/// The category both CRDs join, so `kubectl get spark` lists them together.
pub const CATEGORY: &str = "spark";
