//! Builds what Spark's spark-submit creates on Kubernetes, without a JVM.

pub mod memory;
pub mod names;
pub mod properties;
pub mod version;
