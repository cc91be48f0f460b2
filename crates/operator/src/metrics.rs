//! Prometheus metrics: Kubeflow's names first, counted from status transitions, then the
//! operator's own (reconciles, their durations, work in flight).
//!
//! Kubeflow's `*_count` metrics are counters in client_golang, exposed without a `_total` suffix.
//! prometheus-client appends `_total` to every counter, so to keep Kubeflow's exact names (and the
//! dashboards built on them) they are exposed as gauges that only go up.
//!
//! On Linux the standard process metrics (`process_*`) are read from /proc at each scrape.

#[cfg(target_os = "linux")]
mod process;

use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sparkplane_api::SparkApplicationStatus;
use sparkplane_api::v1beta2::{ApplicationStateType as State, ExecutorState};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: String,
}

/// One kind of write to the API server: the object's kind and the verb.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabel {
    pub kind: &'static str,
    pub verb: &'static str,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    app_count: Gauge,
    submit_count: Gauge,
    failed_submission_count: Gauge,
    running_count: Gauge,
    success_count: Gauge,
    failure_count: Gauge,
    success_time: Histogram,
    failure_time: Histogram,
    submit_latency: Histogram,
    submit_latency_histogram: Histogram,
    start_latency: Histogram,
    start_latency_histogram: Histogram,
    executor_running: Gauge,
    executor_success: Gauge,
    executor_failure: Gauge,
    pub reconciles: Family<ResultLabel, Counter>,
    pub reconcile_duration: Histogram,
    pub in_flight: Gauge,
    pub submissions_in_flight: Gauge,
    pub submissions_waiting: Gauge,
    pub tracking_waiting: Gauge,
    pub submission_limit: Gauge,
    pub driver_conflicts: Counter,
    pub events_dropped: Counter,
    pub writes: Family<WriteLabel, Counter>,
    pub applications: Family<StateLabel, Gauge>,
    pub malformed: Counter,
    pub leader: Gauge,
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    // Kubeflow's submit-latency buckets: 0.5 s doubling to 256 s.
    exponential_buckets(0.5, 2.0, 10)
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let g = Gauge::default;
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            app_count: g(),
            submit_count: g(),
            failed_submission_count: g(),
            running_count: g(),
            success_count: g(),
            failure_count: g(),
            success_time: Histogram::new(exponential_buckets(1.0, 2.0, 16)),
            failure_time: Histogram::new(exponential_buckets(1.0, 2.0, 16)),
            submit_latency: Histogram::new(latency_buckets()),
            submit_latency_histogram: Histogram::new(latency_buckets()),
            start_latency: Histogram::new(latency_buckets()),
            // Kubeflow's start-latency buckets: 30 s to 300 s.
            start_latency_histogram: Histogram::new([
                30.0, 60.0, 90.0, 120.0, 150.0, 180.0, 210.0, 240.0, 270.0, 300.0,
            ]),
            executor_running: g(),
            executor_success: g(),
            executor_failure: g(),
            reconciles: Family::default(),
            reconcile_duration: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            in_flight: g(),
            submissions_in_flight: g(),
            submissions_waiting: g(),
            tracking_waiting: g(),
            submission_limit: g(),
            driver_conflicts: Counter::default(),
            events_dropped: Counter::default(),
            writes: Family::default(),
            applications: Family::default(),
            malformed: Counter::default(),
            leader: g(),
        };
        let r = &mut registry;
        r.register(
            "spark_application_count",
            "SparkApplications seen",
            m.app_count.clone(),
        );
        r.register(
            "spark_application_submit_count",
            "Submissions that succeeded",
            m.submit_count.clone(),
        );
        r.register(
            "spark_application_failed_submission_count",
            "Submissions that failed",
            m.failed_submission_count.clone(),
        );
        r.register(
            "spark_application_running_count",
            "SparkApplications running now",
            m.running_count.clone(),
        );
        r.register(
            "spark_application_success_count",
            "SparkApplications that completed",
            m.success_count.clone(),
        );
        r.register(
            "spark_application_failure_count",
            "SparkApplications that failed",
            m.failure_count.clone(),
        );
        r.register(
            "spark_application_success_execution_time_seconds",
            "Run time of completed applications",
            m.success_time.clone(),
        );
        r.register(
            "spark_application_failure_execution_time_seconds",
            "Run time of failed applications",
            m.failure_time.clone(),
        );
        r.register(
            "spark_application_submit_latency_seconds",
            "Creation to first submission",
            m.submit_latency.clone(),
        );
        r.register(
            "spark_application_submit_latency_seconds_histogram",
            "Creation to first submission",
            m.submit_latency_histogram.clone(),
        );
        r.register(
            "spark_application_start_latency_seconds",
            "Creation to first RUNNING",
            m.start_latency.clone(),
        );
        r.register(
            "spark_application_start_latency_seconds_histogram",
            "Creation to first RUNNING",
            m.start_latency_histogram.clone(),
        );
        r.register(
            "spark_executor_running_count",
            "Executors running now",
            m.executor_running.clone(),
        );
        r.register(
            "spark_executor_success_count",
            "Executors that completed",
            m.executor_success.clone(),
        );
        r.register(
            "spark_executor_failure_count",
            "Executors that failed",
            m.executor_failure.clone(),
        );
        r.register(
            "sparkplane_reconciles",
            "Reconciles by result",
            m.reconciles.clone(),
        );
        r.register(
            "sparkplane_reconcile_duration_seconds",
            "Reconcile durations",
            m.reconcile_duration.clone(),
        );
        r.register(
            "sparkplane_reconciles_in_flight",
            "Reconciles running now (the work queue's active depth)",
            m.in_flight.clone(),
        );
        r.register(
            "sparkplane_submissions_in_flight",
            "Submissions running now",
            m.submissions_in_flight.clone(),
        );
        r.register(
            "sparkplane_tracking_waiting",
            "Applications waiting for a tracking reconcile (status, retries, TTL), taken oldest first",
            m.tracking_waiting.clone(),
        );
        r.register(
            "sparkplane_submissions_waiting",
            "Applications in the submission queue, waiting for a submitter",
            m.submissions_waiting.clone(),
        );
        r.register(
            "sparkplane_submission_concurrency_limit",
            "How many submissions may run at once now (adapted to the API server's latency)",
            m.submission_limit.clone(),
        );
        r.register(
            "sparkplane_driver_create_conflicts",
            "Driver pod creations that found the pod already there (409), a repeated submission",
            m.driver_conflicts.clone(),
        );
        r.register(
            "sparkplane_events_dropped",
            "Events dropped because their queue was full (the status was written all the same)",
            m.events_dropped.clone(),
        );
        r.register(
            "sparkplane_api_writes",
            "Writes to the API server by object kind and verb",
            m.writes.clone(),
        );
        r.register(
            "sparkplane_applications",
            "Applications in scope by state, from the cache",
            m.applications.clone(),
        );
        r.register(
            "sparkplane_malformed_objects",
            "SparkApplications in a watch that could not be read",
            m.malformed.clone(),
        );
        r.register(
            "sparkplane_leader",
            "1 while this replica leads",
            m.leader.clone(),
        );
        #[cfg(target_os = "linux")]
        r.register_collector(Box::new(process::ProcessCollector::new()));
        *m.registry.lock().unwrap_or_else(|e| e.into_inner()) = registry;
        m
    }

    /// Counts one write to the API server.
    pub fn write(&self, kind: &'static str, verb: &'static str) {
        self.writes.get_or_create(&WriteLabel { kind, verb }).inc();
    }

    /// Registers further metrics (the ScheduledSparkApplication controller's).
    pub fn register_more(&self, register: impl FnOnce(&mut Registry)) {
        register(&mut self.registry.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }

    /// Sets the gauges that describe the whole cache: applications by state, and the running
    /// applications and executors (this also corrects the running gauges after a restart).
    pub fn snapshot<'a>(&self, statuses: impl Iterator<Item = Option<&'a SparkApplicationStatus>>) {
        let mut by_state: std::collections::BTreeMap<String, i64> =
            std::collections::BTreeMap::new();
        let mut executors = 0;
        for status in statuses {
            let state = status
                .map(|s| s.application_state.state)
                .unwrap_or_default();
            let name = serde_json::to_value(state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "NEW".into());
            *by_state.entry(name).or_default() += 1;
            executors += status
                .and_then(|s| s.executor_state.as_ref())
                .map_or(0, |m| {
                    m.values().filter(|e| **e == ExecutorState::Running).count() as i64
                });
        }
        self.applications.clear();
        for (state, n) in &by_state {
            self.applications
                .get_or_create(&StateLabel {
                    state: state.clone(),
                })
                .set(*n);
        }
        self.running_count
            .set(by_state.get("RUNNING").copied().unwrap_or(0));
        self.executor_running.set(executors);
    }

    /// Counts what changed between two statuses of one application.
    pub fn transition(
        &self,
        old: &SparkApplicationStatus,
        new: &SparkApplicationStatus,
        created: Option<Timestamp>,
        now: Timestamp,
    ) {
        let (from, to) = (old.application_state.state, new.application_state.state);
        let secs = |since: Option<Timestamp>| {
            since
                .and_then(|t| Duration::try_from(now.duration_since(t)).ok())
                .map(|d| d.as_secs_f64())
        };
        if from == State::New && to != State::New {
            self.app_count.inc();
        }
        // A new submission, whether written as SUBMITTED or, when the driver was already seen
        // running, straight as RUNNING in the same write.
        if matches!(to, State::Submitted | State::Running) && new.submission_id != old.submission_id
        {
            self.submit_count.inc();
            if new.submission_attempts == Some(1)
                && let Some(s) = secs(created)
            {
                self.submit_latency.observe(s);
                self.submit_latency_histogram.observe(s);
            }
        }
        if to == State::SubmissionFailed && new.submission_attempts != old.submission_attempts {
            self.failed_submission_count.inc();
        }
        if to == State::Running && from != State::Running {
            self.running_count.inc();
            // The first run's start, once: not again when it comes back from UNKNOWN.
            if new.execution_attempts == Some(1)
                && matches!(from, State::New | State::Submitted)
                && let Some(s) = secs(created)
            {
                self.start_latency.observe(s);
                self.start_latency_histogram.observe(s);
            }
        }
        if from == State::Running && to != State::Running && self.running_count.get() > 0 {
            self.running_count.dec();
        }
        let ran = secs(new.last_submission_attempt_time.as_ref().map(|t| t.0));
        if to == State::Completed && from != State::Completed {
            self.success_count.inc();
            if let Some(s) = ran {
                self.success_time.observe(s);
            }
        }
        if to == State::Failed && from != State::Failed {
            self.failure_count.inc();
            if let Some(s) = ran {
                self.failure_time.observe(s);
            }
        }
        let before = old.executor_state.clone().unwrap_or_default();
        for (name, state) in new.executor_state.iter().flatten() {
            let was = before.get(name).copied();
            if was == Some(*state) {
                continue;
            }
            if was == Some(ExecutorState::Running) && self.executor_running.get() > 0 {
                self.executor_running.dec();
            }
            match state {
                ExecutorState::Running => {
                    self.executor_running.inc();
                }
                ExecutorState::Completed => {
                    self.executor_success.inc();
                }
                ExecutorState::Failed => {
                    self.executor_failure.inc();
                }
                _ => {}
            }
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparkplane_api::v1beta2::ApplicationState;

    fn status(state: State, attempts: i32) -> SparkApplicationStatus {
        SparkApplicationStatus {
            application_state: ApplicationState {
                state,
                error_message: None,
            },
            submission_id: Some(format!("s{attempts}")),
            submission_attempts: Some(attempts),
            execution_attempts: Some(attempts),
            ..Default::default()
        }
    }

    #[test]
    fn transitions_count_under_kubeflow_names() {
        let m = Metrics::new();
        let now = Timestamp::from_second(1_800_000_100).expect("time");
        let created = Timestamp::from_second(1_800_000_000).ok();
        let mut new = SparkApplicationStatus::default();
        m.transition(&new, &status(State::Submitted, 1), created, now);
        new = status(State::Submitted, 1);
        let mut running = status(State::Running, 1);
        running.executor_state = Some([("e1".into(), ExecutorState::Running)].into());
        m.transition(&new, &running, created, now);
        let mut done = status(State::Completed, 1);
        done.executor_state = Some([("e1".into(), ExecutorState::Completed)].into());
        m.transition(&running, &done, created, now);
        let text = m.encode();
        // A driver that goes UNKNOWN and comes back is not a second start.
        let unknown = status(State::Unknown, 1);
        m.transition(&running, &unknown, created, now);
        m.transition(&unknown, &running, created, now);
        m.transition(&running, &done, created, now);
        for line in [
            "spark_application_count 1",
            "spark_application_submit_count 1",
            "spark_application_running_count 0",
            "spark_application_success_count 1",
            "spark_application_submit_latency_seconds_count 1",
            "spark_application_submit_latency_seconds_sum 100.0",
            "spark_application_start_latency_seconds_histogram_count 1",
            "spark_executor_running_count 0",
            "spark_executor_success_count 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod process_tests {
    use super::*;

    #[test]
    fn the_exposition_holds_this_process_metrics() {
        let text = Metrics::new().encode();
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
        };
        let rss = value("process_resident_memory_bytes");
        assert!(
            rss.is_some_and(|bytes| bytes > 0.0),
            "rss {rss:?} in\n{text}"
        );
        let threads = value("process_threads");
        assert!(
            threads.is_some_and(|n| n >= 1.0),
            "threads {threads:?} in\n{text}"
        );
        assert!(
            text.contains("# TYPE process_cpu_seconds counter\n"),
            "{text}"
        );
        assert!(text.contains("spark_application_count 0\n"), "{text}");
    }
}

#[cfg(test)]
mod snapshot_tests {
    use super::*;
    use sparkplane_api::v1beta2::ApplicationState;

    #[test]
    fn snapshot_counts_states_and_running_executors() {
        let m = Metrics::new();
        let running = SparkApplicationStatus {
            application_state: ApplicationState {
                state: State::Running,
                error_message: None,
            },
            executor_state: Some(
                [
                    ("a".into(), ExecutorState::Running),
                    ("b".into(), ExecutorState::Completed),
                ]
                .into(),
            ),
            ..Default::default()
        };
        m.snapshot([Some(&running), Some(&running), None].into_iter());
        let text = m.encode();
        for line in [
            "sparkplane_applications{state=\"RUNNING\"} 2",
            "sparkplane_applications{state=\"NEW\"} 1",
            "spark_application_running_count 2",
            "spark_executor_running_count 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
