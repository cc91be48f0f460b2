//! The `sparkoperator.k8s.io` API served by Sparkplane: the Kubeflow Spark Operator's
//! SparkApplication and ScheduledSparkApplication (v1beta2) and SparkConnect (v1alpha1) as Rust types, their defaults, the checks the
//! CRD schema cannot express, and the CRDs generated from the types.

pub mod crds;
pub mod defaults;
pub mod names;
pub mod quantity;
pub mod schedule;
pub mod schema;
pub mod v1alpha1;
pub mod v1beta2;
pub mod validate;

pub use v1alpha1::{SparkConnect, SparkConnectSpec, SparkConnectStatus};
pub use v1beta2::{
    ScheduledSparkApplication, ScheduledSparkApplicationSpec, ScheduledSparkApplicationStatus,
    SparkApplication, SparkApplicationSpec, SparkApplicationStatus,
};
