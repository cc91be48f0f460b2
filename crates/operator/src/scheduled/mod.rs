//! ScheduledSparkApplication: runs of a SparkApplication template on a cron schedule.
//!
//! `due` works out due times, `decide` decides (pure), `run` builds a run's object (pure), and
//! `controller` watches, acts and records.

pub mod controller;
pub mod decide;
pub mod due;
pub mod metrics;
pub mod run;
