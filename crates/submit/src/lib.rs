//! Builds what Spark's spark-submit creates on Kubernetes, without a JVM: from a defaulted
//! SparkApplication, the operator's settings and the submission attempt, a [`SubmissionPlan`] holding
//! the full `spark.properties`, the driver Pod, its ConfigMaps and Services, and the UI objects.
//!
//! Pure: no client, no I/O. One module per Spark feature step under [`steps`].

pub mod batch;
pub mod conf;
pub mod connect;
pub mod identity;
pub mod memory;
pub mod monitoring;
pub mod names;
pub mod pdb;
pub mod plan;
pub mod properties;
pub mod render;
pub mod steps;
pub mod template;
pub mod ui;
pub mod version;
pub mod yaml;

pub use plan::{Attempt, PlanError, PlanObject, Settings, SubmissionPlan, build};
