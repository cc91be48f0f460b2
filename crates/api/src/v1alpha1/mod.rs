//! `sparkoperator.k8s.io/v1alpha1`: the Kubeflow Spark Operator's SparkConnect, field for field.

mod spark_connect;

pub use spark_connect::*;

/// The served and stored version of the kinds here.
pub const VERSION: &str = "v1alpha1";
