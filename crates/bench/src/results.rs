//! What one `bench/run` records (`bench/results/<date>.json`) and the figures derived from it.
//! Raw times are kept per application so that every figure can be recomputed from the file.

use serde::{Deserialize, Serialize};

use crate::stats::{self, Percentiles};

/// Everything one run measured, with the machine and versions it ran on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// The day of the run (UTC, `YYYY-MM-DD`): the results file's name.
    pub date: String,
    /// The command that produced this file, as typed.
    pub command: String,
    /// A smoke run with small workloads (`bench/run --quick`).
    pub quick: bool,
    pub machine: Machine,
    pub versions: Versions,
    /// The driver pods' `testbed.sparkplane.io/complete-after`: how long kwok runs each driver.
    pub driver_runs_for: String,
    /// The fair raw limit: the objects of Sparkplane's submission of a spark-pi driver, created
    /// with no operator.
    pub raw_limit: Option<RawLimit>,
    /// The older reference: a small ConfigMap, Service and Pod per application.
    #[serde(default)]
    pub raw_limit_three_objects: Option<RawLimit>,
    pub sparkplane: OperatorRun,
    pub kubeflow: Option<OperatorRun>,
    /// Why the Kubeflow column is empty, when it is.
    pub kubeflow_not_measured: Option<String>,
    /// How long the whole run took, set-up and clean-up included.
    pub duration_seconds: f64,
    /// Anything a reader of the figures should know (timeouts, errors, leftovers).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_kib: u64,
    pub kernel: String,
    /// /proc/loadavg's 1, 5 and 15 minute figures when the run began and when it ended: how busy
    /// the machine was besides the benchmark.
    pub load_average_start: Vec<f64>,
    pub load_average_end: Vec<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Versions {
    /// `git describe --always --dirty` of the checkout.
    pub git: String,
    pub rustc: String,
    /// What the API server reports (`/version`).
    pub kube_apiserver: String,
    /// The pins of the testbed's wrapper modules (`testbed/modules/*/go.mod`).
    pub kubernetes_module: String,
    pub etcd: String,
    pub kwok: String,
    pub kubeflow_operator: Option<String>,
}

/// `testbed-load --objects app`: the ConfigMap, Service and Pod of N submissions, no operator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawLimit {
    /// What one application is (testbed-load's `--objects`): `submission`, or `app` (three small
    /// objects, the older figure).
    #[serde(default = "three_objects")]
    pub objects: String,
    pub applications: usize,
    pub concurrency: usize,
    pub applications_per_second: f64,
    pub objects_per_second: f64,
    pub all_running_seconds: f64,
    /// testbed-load's own output, as printed.
    pub output: serde_json::Value,
}

fn three_objects() -> String {
    "app".into()
}

/// One operator's workloads and memory figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OperatorRun {
    /// `sparkplane` or `kubeflow`.
    pub operator: String,
    /// How the process was started (binary, flags, credentials).
    pub started_with: String,
    /// Which processes' CPU time and memory are counted.
    pub counted: String,
    pub workloads: Vec<Workload>,
    /// The process's VmHWM once every workload finished: its peak resident memory.
    pub peak_rss_kib: Option<u64>,
    /// The sampled peak of the process tree's summed VmRSS (children included), every workload.
    pub tree_peak_rss_kib: Option<u64>,
    /// Memory with many applications held in the cluster.
    pub held: Vec<Held>,
    /// Writes to the API server over the whole run, by `<kind> <verb>` (Sparkplane's
    /// `sparkplane_api_writes_total`; empty where the operator does not count them).
    #[serde(default)]
    pub writes: std::collections::BTreeMap<String, f64>,
    /// Applications the operator handled over the run (`spark_application_count`).
    #[serde(default)]
    pub applications_handled: Option<f64>,
    /// Driver pod creations that found the pod there (409): repeated submissions.
    #[serde(default)]
    pub driver_create_conflicts: Option<f64>,
}

/// Resident memory with `applications` SparkApplications (and their driver pods) in the watched
/// namespaces, all finished.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Held {
    pub applications: usize,
    pub rss_kib: u64,
    /// VmHWM of the same process at that moment.
    pub peak_rss_kib: u64,
    /// Which process: the one that ran the workloads, or a fresh one started on the held objects.
    pub how: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum WorkloadKind {
    /// `count` applications created at once, `concurrency` create calls in flight.
    Burst { count: usize, concurrency: usize },
    /// `rate` applications a second for `seconds`.
    Steady { rate: f64, seconds: f64 },
    /// More applications, to bring the total held in the cluster up to a round number.
    TopUp { count: usize, concurrency: usize },
}

/// One workload against one operator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Workload {
    pub name: String,
    pub kind: WorkloadKind,
    pub namespace: String,
    pub samples: Samples,
    /// The operator's CPU time (user + system) from just before the first create until every
    /// application was seen finished (or the wait gave up).
    pub cpu_seconds: Option<f64>,
    /// The process's VmHWM when the workload ended (a running maximum over the process's life).
    pub peak_rss_kib: Option<u64>,
    /// The sampled peak of the process tree's summed VmRSS during this workload.
    pub tree_peak_rss_kib: Option<u64>,
    /// The wait for every application to finish gave up.
    pub timed_out: bool,
    pub create_errors: usize,
    pub first_create_error: Option<String>,
}

/// Per application (same index in every column), milliseconds since the workload began, as the
/// harness's clock saw them: the create call sent and returned, the driver pod's first watch event,
/// the first watch event showing it terminated, the first showing the application COMPLETED or FAILED.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Samples {
    pub create_sent_ms: Vec<Option<f64>>,
    pub create_returned_ms: Vec<Option<f64>>,
    pub driver_seen_ms: Vec<Option<f64>>,
    pub driver_terminal_ms: Vec<Option<f64>>,
    pub app_terminal_ms: Vec<Option<f64>>,
    /// The application's terminal state was FAILED.
    pub app_failed: Vec<bool>,
}

impl Samples {
    pub fn with_len(n: usize) -> Samples {
        Samples {
            create_sent_ms: vec![None; n],
            create_returned_ms: vec![None; n],
            driver_seen_ms: vec![None; n],
            driver_terminal_ms: vec![None; n],
            app_terminal_ms: vec![None; n],
            app_failed: vec![false; n],
        }
    }

    pub fn len(&self) -> usize {
        self.create_sent_ms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.create_sent_ms.is_empty()
    }
}

/// The figures of one workload, computed from its samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub requested: usize,
    pub created: usize,
    pub driver_pods: usize,
    pub completed: usize,
    pub failed: usize,
    /// How long each create call took.
    pub create_call_ms: Option<Percentiles>,
    /// Applications created per second: created / (last create returned - first create sent).
    pub created_per_second: Option<f64>,
    /// Create call returned -> driver pod's first watch event.
    pub creation_to_driver_ms: Option<Percentiles>,
    /// Create call sent -> driver pod's first watch event.
    pub sent_to_driver_ms: Option<Percentiles>,
    /// Applications submitted per second: driver pods / (last driver pod seen - first create sent).
    pub submitted_per_second: Option<f64>,
    /// Driver pod seen terminated -> application seen COMPLETED/FAILED.
    pub status_lag_ms: Option<Percentiles>,
    /// First create sent -> last application seen finished; `None` unless every one finished.
    pub all_finished_seconds: Option<f64>,
    pub cpu_seconds_per_1000: Option<f64>,
    /// How far drivers came from creation order: the mean, over applications, of the distance
    /// between an application's rank by creation (create call returned) and its rank by driver pod
    /// seen, as a fraction of the applications ranked.
    pub mean_displacement: Option<f64>,
}

impl Workload {
    pub fn summary(&self) -> Summary {
        let s = &self.samples;
        let first_sent = stats::earliest(&s.create_sent_ms);
        let since_first =
            |last: Option<f64>| -> Option<f64> { Some((last? - first_sent?) / 1000.0) };
        let count = |column: &[Option<f64>]| column.iter().flatten().count();
        let created = count(&s.create_returned_ms);
        let driver_pods = count(&s.driver_seen_ms);
        let finished = count(&s.app_terminal_ms);
        let failed = s
            .app_terminal_ms
            .iter()
            .zip(&s.app_failed)
            .filter(|(t, failed)| t.is_some() && **failed)
            .count();
        let created_span = since_first(stats::latest(&s.create_returned_ms));
        let submitted_span = since_first(stats::latest(&s.driver_seen_ms));
        Summary {
            requested: s.len(),
            created,
            driver_pods,
            completed: finished - failed,
            failed,
            create_call_ms: Percentiles::of(&stats::differences(
                &s.create_sent_ms,
                &s.create_returned_ms,
            )),
            created_per_second: created_span.and_then(|span| stats::per_second(created, span)),
            creation_to_driver_ms: Percentiles::of(&stats::differences(
                &s.create_returned_ms,
                &s.driver_seen_ms,
            )),
            sent_to_driver_ms: Percentiles::of(&stats::differences(
                &s.create_sent_ms,
                &s.driver_seen_ms,
            )),
            submitted_per_second: submitted_span
                .and_then(|span| stats::per_second(driver_pods, span)),
            status_lag_ms: Percentiles::of(&stats::differences(
                &s.driver_terminal_ms,
                &s.app_terminal_ms,
            )),
            all_finished_seconds: if finished == s.len() && !s.is_empty() {
                since_first(stats::latest(&s.app_terminal_ms))
            } else {
                None
            },
            cpu_seconds_per_1000: self
                .cpu_seconds
                .filter(|_| finished > 0)
                .map(|cpu| cpu * 1000.0 / finished as f64),
            mean_displacement: stats::mean_displacement(&s.create_returned_ms, &s.driver_seen_ms),
        }
    }

    /// The count this workload asked for, whatever its kind.
    pub fn applications(&self) -> usize {
        self.samples.len()
    }
}

impl OperatorRun {
    /// Writes per application handled, over the whole run: by kind, and in all.
    pub fn writes_per_application(&self) -> Option<(f64, Vec<(String, f64)>)> {
        let apps = self.applications_handled.filter(|n| *n > 0.0)?;
        if self.writes.is_empty() {
            return None;
        }
        let by_kind: Vec<(String, f64)> = self
            .writes
            .iter()
            .map(|(kind, n)| (kind.clone(), n / apps))
            .collect();
        Some((by_kind.iter().map(|(_, n)| n).sum(), by_kind))
    }

    pub fn workload(&self, name: &str) -> Option<&Workload> {
        self.workloads.iter().find(|w| w.name == name)
    }

    /// The burst with the most applications (the top-up does not count: it is bookkeeping).
    pub fn largest_burst(&self) -> Option<&Workload> {
        self.workloads
            .iter()
            .filter(|w| matches!(w.kind, WorkloadKind::Burst { .. }))
            .max_by_key(|w| w.applications())
    }

    /// The steady workload with the highest rate.
    pub fn fastest_steady(&self) -> Option<&Workload> {
        self.workloads
            .iter()
            .filter_map(|w| match w.kind {
                WorkloadKind::Steady { rate, .. } => Some((rate, w)),
                _ => None,
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, w)| w)
    }

    /// The memory figure of the process that lived through the workloads, with the most held.
    pub fn held_in_life(&self) -> Option<&Held> {
        self.held.first()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(samples: Samples, cpu: Option<f64>) -> Workload {
        Workload {
            name: "burst-3".into(),
            kind: WorkloadKind::Burst {
                count: samples.len(),
                concurrency: 2,
            },
            namespace: "ns".into(),
            samples,
            cpu_seconds: cpu,
            peak_rss_kib: None,
            tree_peak_rss_kib: None,
            timed_out: false,
            create_errors: 0,
            first_create_error: None,
        }
    }

    fn three_apps() -> Samples {
        Samples {
            create_sent_ms: vec![Some(0.0), Some(0.0), Some(500.0)],
            create_returned_ms: vec![Some(10.0), Some(20.0), Some(1000.0)],
            driver_seen_ms: vec![Some(40.0), Some(1020.0), Some(2000.0)],
            driver_terminal_ms: vec![Some(5040.0), Some(6020.0), Some(7000.0)],
            app_terminal_ms: vec![Some(5140.0), Some(6030.0), Some(8000.0)],
            app_failed: vec![false, true, false],
        }
    }

    #[test]
    fn a_workloads_figures_come_from_its_samples() {
        let summary = workload(three_apps(), Some(3.0)).summary();
        assert_eq!(
            (
                summary.requested,
                summary.created,
                summary.driver_pods,
                summary.completed,
                summary.failed
            ),
            (3, 3, 3, 2, 1)
        );
        assert_eq!(summary.created_per_second, Some(3.0));
        assert_eq!(summary.submitted_per_second, Some(1.5));
        let to_driver = summary.creation_to_driver_ms.unwrap();
        assert_eq!(
            (to_driver.min, to_driver.p50, to_driver.max),
            (30.0, 1000.0, 1000.0)
        );
        assert_eq!(summary.sent_to_driver_ms.unwrap().max, 1500.0);
        let lag = summary.status_lag_ms.unwrap();
        assert_eq!((lag.min, lag.p50, lag.max), (10.0, 100.0, 1000.0));
        assert_eq!(summary.all_finished_seconds, Some(8.0));
        assert_eq!(summary.cpu_seconds_per_1000, Some(1000.0));
        assert_eq!(summary.create_call_ms.unwrap().p50, 20.0);
    }

    #[test]
    fn an_application_that_never_finished_leaves_no_time_to_all_finished() {
        let mut samples = three_apps();
        samples.app_terminal_ms[2] = None;
        samples.driver_seen_ms[1] = None;
        let summary = workload(samples, Some(1.0)).summary();
        assert_eq!(summary.all_finished_seconds, None);
        assert_eq!(summary.driver_pods, 2);
        assert_eq!(summary.status_lag_ms.unwrap().count, 2);
        assert_eq!(summary.cpu_seconds_per_1000, Some(500.0));
    }

    #[test]
    fn nothing_measured_gives_no_figures_rather_than_zeros() {
        let summary = workload(Samples::with_len(2), None).summary();
        assert_eq!(summary.created_per_second, None);
        assert_eq!(summary.creation_to_driver_ms, None);
        assert_eq!(summary.submitted_per_second, None);
        assert_eq!(summary.all_finished_seconds, None);
        assert_eq!(summary.cpu_seconds_per_1000, None);
    }

    #[test]
    fn the_largest_burst_and_fastest_steady_workload_are_picked_by_kind() {
        let mut small = workload(Samples::with_len(1), None);
        small.name = "burst-1".into();
        let mut big = workload(Samples::with_len(3), None);
        big.name = "burst-3".into();
        let mut top_up = workload(Samples::with_len(9), None);
        top_up.kind = WorkloadKind::TopUp {
            count: 9,
            concurrency: 2,
        };
        let steady = |rate: f64| {
            let mut w = workload(Samples::with_len(1), None);
            w.name = format!("steady-{rate}/s");
            w.kind = WorkloadKind::Steady { rate, seconds: 1.0 };
            w
        };
        let run = OperatorRun {
            operator: "sparkplane".into(),
            started_with: String::new(),
            counted: String::new(),
            workloads: vec![small, big, top_up, steady(50.0), steady(10.0)],
            peak_rss_kib: None,
            tree_peak_rss_kib: None,
            held: vec![],
            writes: [
                ("pod create".to_string(), 20.0),
                ("event create".to_string(), 50.0),
            ]
            .into(),
            applications_handled: Some(10.0),
            driver_create_conflicts: Some(0.0),
        };
        assert_eq!(
            run.writes_per_application(),
            Some((
                7.0,
                vec![("event create".into(), 5.0), ("pod create".into(), 2.0)]
            ))
        );
        assert_eq!(
            run.largest_burst().map(|w| w.name.as_str()),
            Some("burst-3")
        );
        assert_eq!(
            run.fastest_steady().map(|w| w.name.as_str()),
            Some("steady-50/s")
        );
        assert!(run.workload("burst-1").is_some());
    }
}
