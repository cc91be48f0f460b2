//! The benchmark harness behind `bench/run` (issue #6). The library is the pure part (figures,
//! report, plots, /proc parsing), unit-tested; the `sparkplane-bench` binary drives the testbed and
//! the operators and is never run by `cargo test`.

pub mod procfs;
pub mod report;
pub mod results;
pub mod stats;
pub mod svg;
pub mod versions;
