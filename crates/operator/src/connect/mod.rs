//! SparkConnect: a Spark Connect server and the executors its SparkContext asks for.
//!
//! `sparkplane_submit::connect` builds the objects (pure), `decide` decides (pure), and `controller`
//! watches, acts and records.

pub mod controller;
pub mod decide;
