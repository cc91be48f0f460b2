//! What the dashboard shows, decided from the watched objects alone: the list's rows with their
//! filters, sorting and paging, the overview's counts, chart and short lists, and the detail
//! page's model. Pure: no I/O, the clock passed in.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;
use kube::api::DynamicObject;
use serde_json::Value;
use sparkplane_api::SparkApplication;
use sparkplane_api::v1beta2::{ApplicationStateType, ExecutorState};
use sparkplane_submit::identity::DRIVER_CONTAINER;
use thiserror::Error;

use crate::cli::events::EventLine;

/// Rows per page of the list.
pub const PAGE_SIZE: usize = 50;
/// Rows in each of the overview's short lists.
pub const SHORT_LIST: usize = 5;
/// The overview's chart: the last hour in twelve five-minute buckets.
pub const BUCKETS: usize = 12;
pub const BUCKET: SignedDuration = SignedDuration::from_secs(300);

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ViewError {
    #[error("label selector {0:?}: each requirement is key, !key, key=value or key!=value")]
    Selector(String),
    #[error("sort {0:?}: one of name, namespace, state, attempts, age, duration")]
    Sort(String),
    #[error("page {0:?}: a number from 1")]
    Page(String),
}

/// One application as the list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AppRow {
    pub namespace: String,
    pub name: String,
    pub state: ApplicationStateType,
    pub message: String,
    /// Runs of the driver (executionAttempts) and submissions (submissionAttempts).
    pub attempts: i32,
    pub submissions: i32,
    pub created: Option<Timestamp>,
    pub submitted: Option<Timestamp>,
    pub terminated: Option<Timestamp>,
    pub driver: String,
    pub executors_running: usize,
    pub executors_total: usize,
    pub labels: BTreeMap<String, String>,
}

impl AppRow {
    pub fn of(app: &SparkApplication) -> AppRow {
        let status = app.status.clone().unwrap_or_default();
        let executors = status.executor_state.unwrap_or_default();
        AppRow {
            namespace: app.metadata.namespace.clone().unwrap_or_default(),
            name: app.metadata.name.clone().unwrap_or_default(),
            state: status.application_state.state,
            message: status.application_state.error_message.unwrap_or_default(),
            attempts: status.execution_attempts.unwrap_or(0),
            submissions: status.submission_attempts.unwrap_or(0),
            created: app.metadata.creation_timestamp.as_ref().map(|t| t.0),
            submitted: status.last_submission_attempt_time.map(|t| t.0),
            terminated: status.termination_time.map(|t| t.0),
            driver: status.driver_info.pod_name.unwrap_or_default(),
            executors_running: executors
                .values()
                .filter(|s| **s == ExecutorState::Running)
                .count(),
            executors_total: executors.len(),
            labels: app.metadata.labels.clone().unwrap_or_default(),
        }
    }

    /// From the last submission to the end (or now, while it runs).
    pub fn duration(&self, now: Timestamp) -> Option<SignedDuration> {
        let start = self.submitted?;
        let end = match self.terminated {
            Some(end) if end >= start => end,
            _ if is_final(self.state) => return None,
            _ => now,
        };
        Some(end.duration_since(start))
    }

    pub fn age(&self, now: Timestamp) -> Option<SignedDuration> {
        self.created.map(|c| now.duration_since(c))
    }
}

/// The states an application stays in until its spec changes.
pub fn is_final(state: ApplicationStateType) -> bool {
    matches!(
        state,
        ApplicationStateType::Completed
            | ApplicationStateType::Failed
            | ApplicationStateType::SubmissionFailed
            | ApplicationStateType::Suspended
    )
}

/// How the overview groups states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    New,
    Submitted,
    Running,
    Completed,
    Failed,
    Retrying,
    Suspended,
    Other,
}

impl Group {
    pub const ALL: [Group; 8] = [
        Group::New,
        Group::Submitted,
        Group::Running,
        Group::Completed,
        Group::Failed,
        Group::Retrying,
        Group::Suspended,
        Group::Other,
    ];

    pub fn of(state: ApplicationStateType) -> Group {
        use ApplicationStateType as S;
        match state {
            S::New => Group::New,
            S::Submitted => Group::Submitted,
            S::Running | S::Succeeding | S::Failing => Group::Running,
            S::Completed => Group::Completed,
            S::Failed | S::SubmissionFailed => Group::Failed,
            S::PendingRerun | S::Invalidating => Group::Retrying,
            S::Suspending | S::Suspended | S::Resuming => Group::Suspended,
            S::Unknown => Group::Other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Group::New => "new",
            Group::Submitted => "submitted",
            Group::Running => "running",
            Group::Completed => "completed",
            Group::Failed => "failed",
            Group::Retrying => "retrying",
            Group::Suspended => "suspended",
            Group::Other => "unknown",
        }
    }
}

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Exists(String),
    Absent(String),
    Equals(String, String),
    Differs(String, String),
}

impl Requirement {
    fn holds(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::Absent(k) => !labels.contains_key(k),
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::Differs(k, v) => labels.get(k) != Some(v),
        }
    }
}

fn parse_selector(text: &str) -> Result<Vec<Requirement>, ViewError> {
    let bad = || ViewError::Selector(text.to_owned());
    let word = |s: &str| -> Result<String, ViewError> {
        let s = s.trim();
        if s.is_empty() || s.contains(['=', '!', ' ']) {
            Err(bad())
        } else {
            Ok(s.to_owned())
        }
    };
    text.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let part = part.trim();
            if let Some((k, v)) = part.split_once("!=") {
                Ok(Requirement::Differs(word(k)?, v.trim().to_owned()))
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                let v = v.trim();
                if v.contains(['=', '!']) {
                    return Err(bad());
                }
                Ok(Requirement::Equals(word(k)?, v.to_owned()))
            } else if let Some(k) = part.strip_prefix('!') {
                Ok(Requirement::Absent(word(k)?))
            } else {
                Ok(Requirement::Exists(word(part)?))
            }
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    Name,
    Namespace,
    State,
    Attempts,
    /// Youngest first by default: what a user looks for.
    #[default]
    Age,
    Duration,
}

impl SortKey {
    pub const ALL: [SortKey; 6] = [
        SortKey::Name,
        SortKey::Namespace,
        SortKey::State,
        SortKey::Attempts,
        SortKey::Age,
        SortKey::Duration,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Namespace => "namespace",
            SortKey::State => "state",
            SortKey::Attempts => "attempts",
            SortKey::Age => "age",
            SortKey::Duration => "duration",
        }
    }

    fn parse(text: &str) -> Result<SortKey, ViewError> {
        SortKey::ALL
            .into_iter()
            .find(|k| k.name() == text)
            .ok_or_else(|| ViewError::Sort(text.to_owned()))
    }
}

/// The list's filters, order and page, as the query string carries them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    pub namespace: String,
    /// A state group's name (`running`, `failed`, ...), or empty for all.
    pub state: String,
    pub label: String,
    /// A part of the name.
    pub name: String,
    pub sort: SortKey,
    pub descending: bool,
    /// From 1.
    pub page: usize,
}

impl Query {
    /// Reads `ns`, `state`, `label`, `name`, `sort`, `desc` and `page`; unknown keys are ignored.
    pub fn parse(pairs: &BTreeMap<String, String>) -> Result<Query, ViewError> {
        let get = |k: &str| {
            pairs
                .get(k)
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        let sort = match get("sort").as_str() {
            "" => SortKey::default(),
            other => SortKey::parse(other)?,
        };
        let page = match get("page").as_str() {
            "" => 1,
            text => text
                .parse::<usize>()
                .ok()
                .filter(|p| *p >= 1)
                .ok_or_else(|| ViewError::Page(text.to_owned()))?,
        };
        let label = get("label");
        parse_selector(&label)?;
        Ok(Query {
            namespace: get("ns"),
            state: get("state"),
            label,
            name: get("name"),
            sort,
            descending: matches!(get("desc").as_str(), "1" | "true"),
            page,
        })
    }

    /// The query string's pairs (empty values and defaults left out).
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            ("ns", self.namespace.clone()),
            ("state", self.state.clone()),
            ("label", self.label.clone()),
            ("name", self.name.clone()),
        ];
        if self.sort != SortKey::default() {
            pairs.push(("sort", self.sort.name().to_owned()));
        }
        if self.descending {
            pairs.push(("desc", "1".to_owned()));
        }
        if self.page > 1 {
            pairs.push(("page", self.page.to_string()));
        }
        pairs.retain(|(_, v)| !v.is_empty());
        pairs
    }

    fn admits(&self, row: &AppRow, selector: &[Requirement]) -> bool {
        (self.namespace.is_empty() || row.namespace == self.namespace)
            && (self.state.is_empty() || Group::of(row.state).name() == self.state)
            && (self.name.is_empty() || row.name.contains(&self.name))
            && selector.iter().all(|r| r.holds(&row.labels))
    }
}

/// One page of the list.
#[derive(Debug)]
pub struct Listing<'a> {
    pub rows: Vec<&'a AppRow>,
    /// Rows matching the filters, on every page.
    pub matched: usize,
    /// The page shown (clamped to the last) and how many there are.
    pub page: usize,
    pub pages: usize,
}

pub fn select<'a>(
    rows: impl IntoIterator<Item = &'a AppRow>,
    query: &Query,
    now: Timestamp,
) -> Listing<'a> {
    // The selector parsed when the query was.
    let selector = parse_selector(&query.label).unwrap_or_default();
    let mut matched: Vec<&AppRow> = rows
        .into_iter()
        .filter(|r| query.admits(r, &selector))
        .collect();
    let by_name = |a: &&AppRow, b: &&AppRow| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name));
    matched.sort_by(|a, b| {
        let primary = match query.sort {
            SortKey::Name => a.name.cmp(&b.name),
            SortKey::Namespace => a.namespace.cmp(&b.namespace),
            SortKey::State => Group::of(a.state).cmp(&Group::of(b.state)),
            SortKey::Attempts => a.attempts.cmp(&b.attempts),
            // The youngest first: the latest creation.
            SortKey::Age => b.created.cmp(&a.created),
            SortKey::Duration => a.duration(now).cmp(&b.duration(now)),
        };
        let primary = if query.descending {
            primary.reverse()
        } else {
            primary
        };
        primary.then_with(|| by_name(a, b))
    });
    let total = matched.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = query.page.clamp(1, pages);
    let rows = matched
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .collect();
    Listing {
        rows,
        matched: total,
        page,
        pages,
    }
}

/// Submissions and ends in one five-minute bucket of the last hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bucket {
    pub submitted: usize,
    pub completed: usize,
    pub failed: usize,
}

#[derive(Debug, Default)]
pub struct Overview<'a> {
    pub total: usize,
    /// Per namespace, per state group.
    pub counts: BTreeMap<String, BTreeMap<Group, usize>>,
    pub totals: BTreeMap<Group, usize>,
    /// Oldest first; the last ends now.
    pub hour: Vec<Bucket>,
    /// Running (or submitted) the longest.
    pub slowest: Vec<&'a AppRow>,
    /// Failed, the latest first.
    pub failing: Vec<&'a AppRow>,
}

pub fn overview<'a>(rows: impl IntoIterator<Item = &'a AppRow>, now: Timestamp) -> Overview<'a> {
    let rows: Vec<&AppRow> = rows.into_iter().collect();
    let mut view = Overview {
        total: rows.len(),
        hour: vec![Bucket::default(); BUCKETS],
        ..Default::default()
    };
    let bucket_of = |t: Timestamp| -> Option<usize> {
        let ago = now.duration_since(t);
        if ago.is_negative() {
            return Some(BUCKETS - 1);
        }
        let back = usize::try_from(ago.as_secs() / BUCKET.as_secs()).ok()?;
        (back < BUCKETS).then(|| BUCKETS - 1 - back)
    };
    for row in &rows {
        let group = Group::of(row.state);
        *view
            .counts
            .entry(row.namespace.clone())
            .or_default()
            .entry(group)
            .or_default() += 1;
        *view.totals.entry(group).or_default() += 1;
        if let Some(i) = row.submitted.and_then(bucket_of) {
            view.hour[i].submitted += 1;
        }
        if let Some(i) = row.terminated.and_then(bucket_of) {
            match group {
                Group::Completed => view.hour[i].completed += 1,
                Group::Failed => view.hour[i].failed += 1,
                _ => {}
            }
        }
    }
    let mut active: Vec<&AppRow> = rows
        .iter()
        .copied()
        .filter(|r| matches!(Group::of(r.state), Group::Running | Group::Submitted))
        .collect();
    active.sort_by_key(|r| std::cmp::Reverse(r.duration(now)));
    active.truncate(SHORT_LIST);
    view.slowest = active;
    let mut failing: Vec<&AppRow> = rows
        .iter()
        .copied()
        .filter(|r| Group::of(r.state) == Group::Failed)
        .collect();
    failing.sort_by_key(|r| std::cmp::Reverse(r.terminated.or(r.created)));
    failing.truncate(SHORT_LIST);
    view.failing = failing;
    view
}

/// Where the application's UI Ingress serves the Spark UI, from the address the operator recorded
/// (`host/path`, no scheme): https when the application gives its Ingress TLS. None without one.
pub fn ingress_url(app: &SparkApplication) -> Option<String> {
    let address = app
        .status
        .as_ref()?
        .driver_info
        .web_ui_ingress_address
        .as_deref()
        .filter(|a| !a.is_empty())?;
    let tls = app
        .spec
        .spark_ui_options
        .as_ref()
        .and_then(|o| o.ingress_tls.as_ref())
        .is_some_and(|t| !t.is_empty());
    let scheme = if tls { "https" } else { "http" };
    let path = if address.contains('/') { "" } else { "/" };
    Some(format!("{scheme}://{address}{path}"))
}

/// A pod of the detail page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodLine {
    pub name: String,
    pub role: String,
    pub phase: String,
    pub created: Option<Timestamp>,
    pub started: Option<Timestamp>,
    pub finished: Option<Timestamp>,
    pub exit_code: Option<i32>,
}

/// An event of the detail page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventItem {
    pub last: Option<Timestamp>,
    pub count: i32,
    pub type_: String,
    pub reason: String,
    pub object: String,
    pub message: String,
}

/// What the detail page shows of one application.
#[derive(Debug, Clone)]
pub struct Detail {
    pub row: AppRow,
    /// Spec fields worth a glance, in order.
    pub spec: Vec<(String, String)>,
    pub pods: Vec<PodLine>,
    pub events: Vec<EventItem>,
    /// A message instead of pods or events when they could not be read.
    pub problems: Vec<String>,
}

/// A watched SparkApplication's row; one that cannot be read says why instead of vanishing.
pub fn app_row(object: &DynamicObject) -> AppRow {
    let typed = serde_json::to_value(object).and_then(serde_json::from_value::<SparkApplication>);
    match typed {
        Ok(app) => AppRow::of(&app),
        Err(e) => {
            // Shown, not dropped: a row that says why it cannot be read.
            let app = SparkApplication {
                metadata: object.metadata.clone(),
                ..Default::default()
            };
            let mut row = AppRow::of(&app);
            row.state = ApplicationStateType::Unknown;
            row.message = format!("cannot be read: {e}");
            row
        }
    }
}

fn text(value: &Value, pointer: &str) -> String {
    match value.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

pub const SCHEDULE_HEADERS: [&str; 8] = [
    "namespace",
    "name",
    "schedule",
    "suspended",
    "state",
    "last run",
    "next run",
    "last application",
];

/// A ScheduledSparkApplication's cells, in `SCHEDULE_HEADERS` order.
pub fn schedule_cells(object: &DynamicObject) -> Vec<String> {
    let value = serde_json::to_value(object).unwrap_or_default();
    let state = text(&value, "/status/scheduleState");
    let reason = text(&value, "/status/reason");
    vec![
        text(&value, "/metadata/namespace"),
        text(&value, "/metadata/name"),
        text(&value, "/spec/schedule"),
        match text(&value, "/spec/suspend").as_str() {
            "true" => "yes".into(),
            _ => "no".into(),
        },
        if reason.is_empty() {
            state
        } else {
            format!("{state}: {reason}")
        },
        text(&value, "/status/lastRun"),
        text(&value, "/status/nextRun"),
        text(&value, "/status/lastRunName"),
    ]
}

pub const SESSION_HEADERS: [&str; 6] = [
    "namespace",
    "name",
    "state",
    "server pod",
    "executors",
    "started",
];

/// A SparkConnect's cells, in `SESSION_HEADERS` order.
pub fn session_cells(object: &DynamicObject) -> Vec<String> {
    let value = serde_json::to_value(object).unwrap_or_default();
    let executors: i64 = value
        .pointer("/status/executors")
        .and_then(Value::as_object)
        .map(|m| m.values().filter_map(Value::as_i64).sum())
        .unwrap_or(0);
    vec![
        text(&value, "/metadata/namespace"),
        text(&value, "/metadata/name"),
        text(&value, "/status/state"),
        text(&value, "/status/server/podName"),
        executors.to_string(),
        text(&value, "/status/startTime"),
    ]
}

/// The spec fields worth a glance on the detail page, in order.
pub fn spec_summary(app: &SparkApplication) -> Vec<(String, String)> {
    let spec = serde_json::to_value(&app.spec).unwrap_or_default();
    let mut lines = Vec::new();
    for (label, pointer) in [
        ("type", "/type"),
        ("mode", "/mode"),
        ("Spark version", "/sparkVersion"),
        ("image", "/image"),
        ("main class", "/mainClass"),
        ("application file", "/mainApplicationFile"),
        ("driver cores", "/driver/cores"),
        ("driver memory", "/driver/memory"),
        ("executor instances", "/executor/instances"),
        ("executor cores", "/executor/cores"),
        ("executor memory", "/executor/memory"),
        ("dynamic allocation", "/dynamicAllocation/enabled"),
        ("restart policy", "/restartPolicy/type"),
        ("time to live (s)", "/timeToLiveSeconds"),
        ("suspended", "/suspend"),
    ] {
        let value = text(&spec, pointer);
        if !value.is_empty() {
            lines.push((label.to_owned(), value));
        }
    }
    if let Some(args) = &app.spec.arguments
        && !args.is_empty()
    {
        let joined = args.join(" ");
        let shown: String = joined.chars().take(500).collect();
        let more = if shown.len() < joined.len() {
            " …"
        } else {
            ""
        };
        lines.push(("arguments".to_owned(), format!("{shown}{more}")));
    }
    if let Some(conf) = &app.spec.spark_conf {
        lines.push(("sparkConf".to_owned(), format!("{} keys", conf.len())));
    }
    lines
}

/// A pod as the detail page shows it.
pub fn pod_line(pod: &Pod) -> PodLine {
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let containers = status.container_statuses.unwrap_or_default();
    let terminated = containers
        .iter()
        .find(|c| c.name == DRIVER_CONTAINER || c.name.starts_with("spark-kubernetes"))
        .or(containers.first())
        .and_then(|c| c.state.as_ref()?.terminated.clone());
    PodLine {
        name: pod.metadata.name.clone().unwrap_or_default(),
        role: labels.get("spark-role").cloned().unwrap_or_default(),
        phase: status.phase.unwrap_or_default(),
        created: pod.metadata.creation_timestamp.as_ref().map(|t| t.0),
        started: status.start_time.map(|t| t.0),
        finished: terminated
            .as_ref()
            .and_then(|t| t.finished_at.as_ref().map(|f| f.0)),
        exit_code: terminated.map(|t| t.exit_code),
    }
}

/// An event as the detail page shows it.
pub fn event_item(line: EventLine) -> EventItem {
    EventItem {
        last: line.last,
        count: line.count,
        type_: line.type_,
        reason: line.reason,
        object: line.object,
        message: line.message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).expect("valid")
    }

    fn row(name: &str, state: ApplicationStateType, created: i64) -> AppRow {
        AppRow {
            namespace: "ns".into(),
            name: name.into(),
            state,
            message: String::new(),
            attempts: 1,
            submissions: 1,
            created: Some(at(created)),
            submitted: Some(at(created + 1)),
            terminated: None,
            driver: format!("{name}-driver"),
            executors_running: 0,
            executors_total: 0,
            labels: BTreeMap::new(),
        }
    }

    fn query(pairs: &[(&str, &str)]) -> Result<Query, ViewError> {
        Query::parse(
            &pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn a_row_reads_the_status_as_kubeflow_writes_it() {
        let app: SparkApplication = serde_json::from_value(json!({
            "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
            "metadata": {"name": "pi", "namespace": "spark", "creationTimestamp": "2027-01-15T08:00:00Z",
                         "labels": {"team": "a"}},
            "spec": {"type": "Scala", "mode": "cluster", "sparkVersion": "4.0.0",
                     "mainApplicationFile": "local:///opt/spark/examples/jars/spark-examples.jar",
                     "driver": {}, "executor": {}},
            "status": {
                "applicationState": {"state": "RUNNING"},
                "executionAttempts": 2, "submissionAttempts": 2,
                "lastSubmissionAttemptTime": "2027-01-15T08:00:10Z",
                "driverInfo": {"podName": "pi-driver"},
                "executorState": {"pi-exec-1": "RUNNING", "pi-exec-2": "FAILED"}
            }
        }))
        .expect("a SparkApplication");
        let row = AppRow::of(&app);
        assert_eq!((row.namespace.as_str(), row.name.as_str()), ("spark", "pi"));
        assert_eq!(row.state, ApplicationStateType::Running);
        assert_eq!((row.attempts, row.submissions), (2, 2));
        assert_eq!((row.executors_running, row.executors_total), (1, 2));
        assert_eq!(row.driver, "pi-driver");
        let now: Timestamp = "2027-01-15T08:01:10Z".parse().expect("time");
        assert_eq!(row.duration(now), Some(SignedDuration::from_secs(60)));
        assert_eq!(row.age(now), Some(SignedDuration::from_secs(70)));
        // Unseen by the operator: no status at all.
        let mut fresh = app.clone();
        fresh.status = None;
        let fresh = AppRow::of(&fresh);
        assert_eq!(fresh.state, ApplicationStateType::New);
        assert_eq!(fresh.duration(now), None);
    }

    #[test]
    fn the_ui_ingress_link_follows_the_recorded_address_and_tls() {
        let mut app: SparkApplication = serde_json::from_value(json!({
            "metadata": {"name": "pi", "namespace": "spark"},
            "spec": {"type": "Scala", "mode": "cluster", "sparkVersion": "4.0.0",
                     "mainApplicationFile": "local:///opt/spark/examples/jars/spark-examples.jar",
                     "driver": {}, "executor": {}},
            "status": {"driverInfo": {"webUIIngressAddress": "pi.spark.example.com"}}
        }))
        .expect("a SparkApplication");
        assert_eq!(
            ingress_url(&app).as_deref(),
            Some("http://pi.spark.example.com/")
        );
        app.status
            .as_mut()
            .expect("status")
            .driver_info
            .web_ui_ingress_address = Some("example.com/spark/pi".into());
        app.spec.spark_ui_options = Some(
            serde_json::from_value(json!({"ingressTLS": [{"hosts": ["example.com"]}]}))
                .expect("options"),
        );
        assert_eq!(
            ingress_url(&app).as_deref(),
            Some("https://example.com/spark/pi")
        );
        app.status = None;
        assert_eq!(ingress_url(&app), None);
    }

    #[test]
    fn a_final_state_without_an_end_time_has_no_duration() {
        let mut done = row("done", ApplicationStateType::Completed, 0);
        assert_eq!(done.duration(at(100)), None);
        done.terminated = Some(at(31));
        assert_eq!(done.duration(at(100)), Some(SignedDuration::from_secs(30)));
    }

    #[test]
    fn label_selectors_read_like_kubectl() {
        use Requirement::*;
        assert_eq!(
            parse_selector("team=a, !tmp,env!=prod,tier,x==y").expect("valid"),
            vec![
                Equals("team".into(), "a".into()),
                Absent("tmp".into()),
                Differs("env".into(), "prod".into()),
                Exists("tier".into()),
                Equals("x".into(), "y".into()),
            ]
        );
        assert!(parse_selector("").expect("valid").is_empty());
        for bad in ["=a", "a=b=c", "!", "a b", "!=x"] {
            assert_eq!(
                parse_selector(bad),
                Err(ViewError::Selector(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_query_names_what_it_cannot_read() {
        assert_eq!(
            query(&[("sort", "size")]),
            Err(ViewError::Sort("size".into()))
        );
        assert_eq!(query(&[("page", "0")]), Err(ViewError::Page("0".into())));
        assert!(matches!(
            query(&[("label", "a=b=c")]),
            Err(ViewError::Selector(_))
        ));
        let q = query(&[]).expect("defaults");
        assert_eq!((q.sort, q.descending, q.page), (SortKey::Age, false, 1));
        let q = query(&[("sort", "name"), ("ns", " spark "), ("page", "3")]).expect("valid");
        assert_eq!(
            (q.sort, q.descending, q.namespace.as_str(), q.page),
            (SortKey::Name, false, "spark", 3)
        );
        assert_eq!(
            q.to_pairs(),
            vec![
                ("ns", "spark".to_owned()),
                ("sort", "name".to_owned()),
                ("page", "3".to_owned())
            ]
        );
    }

    #[test]
    fn filters_sorting_and_paging() {
        let mut rows: Vec<AppRow> = (0..120)
            .map(|i| {
                let state = if i % 3 == 0 {
                    ApplicationStateType::Failed
                } else {
                    ApplicationStateType::Running
                };
                let mut r = row(&format!("app-{i:03}"), state, i);
                if i % 2 == 0 {
                    r.labels.insert("team".into(), "a".into());
                }
                r
            })
            .collect();
        rows[7].namespace = "other".into();
        let now = at(1000);

        let all = select(&rows, &query(&[]).expect("q"), now);
        assert_eq!((all.matched, all.pages, all.page), (120, 3, 1));
        assert_eq!(all.rows.len(), PAGE_SIZE);
        // Newest first by default.
        assert_eq!(all.rows[0].name, "app-119");

        let last = select(&rows, &query(&[("page", "9")]).expect("q"), now);
        assert_eq!((last.page, last.rows.len()), (3, 20));

        let failed = select(&rows, &query(&[("state", "failed")]).expect("q"), now);
        assert_eq!(failed.matched, 40);
        assert!(
            failed
                .rows
                .iter()
                .all(|r| r.state == ApplicationStateType::Failed)
        );

        let team = select(
            &rows,
            &query(&[("label", "team=a"), ("state", "running"), ("sort", "name")]).expect("q"),
            now,
        );
        // Even and not a multiple of three.
        assert_eq!(team.matched, 40);
        assert_eq!(team.rows[0].name, "app-002");

        let named = select(&rows, &query(&[("name", "app-11")]).expect("q"), now);
        assert_eq!(named.matched, 10);
        let other = select(&rows, &query(&[("ns", "other")]).expect("q"), now);
        assert_eq!(
            other
                .rows
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>(),
            ["app-007"]
        );

        // Longest running first (a failure without an end time has no duration).
        let longest = select(
            &rows,
            &query(&[("sort", "duration"), ("desc", "1")]).expect("q"),
            now,
        );
        assert_eq!(longest.rows[0].name, "app-001");
        let oldest = select(
            &rows,
            &query(&[("sort", "age"), ("desc", "1")]).expect("q"),
            now,
        );
        assert_eq!(oldest.rows[0].name, "app-000");
    }

    #[test]
    fn the_overview_counts_charts_and_picks() {
        let now = at(3600);
        let mut rows = vec![
            row("run-long", ApplicationStateType::Running, -4000),
            row("run-short", ApplicationStateType::Running, 3500),
            row("sub", ApplicationStateType::Submitted, 3590),
        ];
        let mut done = row("done", ApplicationStateType::Completed, 3000);
        done.terminated = Some(at(3300));
        let mut failed = row("failed", ApplicationStateType::Failed, 3000);
        failed.terminated = Some(at(3599));
        failed.namespace = "other".into();
        let mut old_failure = row("old-failure", ApplicationStateType::Failed, -4000);
        old_failure.terminated = Some(at(-3000));
        rows.extend([done, failed, old_failure]);
        let view = overview(&rows, now);
        assert_eq!(view.total, 6);
        assert_eq!(view.totals[&Group::Running], 2);
        assert_eq!(view.totals[&Group::Failed], 2);
        assert_eq!(view.counts["other"][&Group::Failed], 1);
        assert_eq!(view.counts["ns"][&Group::Failed], 1);
        assert_eq!(view.hour.len(), BUCKETS);
        // Submitted within the hour: run-short (3501), sub (3591), done and failed (3001).
        let submitted: usize = view.hour.iter().map(|b| b.submitted).sum();
        assert_eq!(submitted, 4);
        assert_eq!(view.hour[BUCKETS - 1].failed, 1);
        assert_eq!(view.hour[BUCKETS - 1].submitted, 2);
        assert_eq!(view.hour.iter().map(|b| b.completed).sum::<usize>(), 1);
        assert_eq!(view.slowest[0].name, "run-long");
        assert_eq!(
            view.failing
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>(),
            ["failed", "old-failure"]
        );
    }

    #[test]
    fn schedules_and_sessions_read_their_status() {
        let schedule: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "ScheduledSparkApplication",
            "metadata": {"name": "nightly", "namespace": "spark"},
            "spec": {"schedule": "@every 1h", "suspend": true},
            "status": {"scheduleState": "FailedValidation", "reason": "bad schedule", "lastRunName": "nightly-1"}
        }))
        .expect("object");
        assert_eq!(
            schedule_cells(&schedule),
            [
                "spark",
                "nightly",
                "@every 1h",
                "yes",
                "FailedValidation: bad schedule",
                "",
                "",
                "nightly-1"
            ]
        );
        let session: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "sparkoperator.k8s.io/v1alpha1", "kind": "SparkConnect",
            "metadata": {"name": "connect", "namespace": "spark"},
            "status": {"state": "Ready", "server": {"podName": "connect-server"}, "executors": {"a": 2, "b": 1}}
        }))
        .expect("object");
        assert_eq!(
            session_cells(&session),
            ["spark", "connect", "Ready", "connect-server", "3", ""]
        );
    }
}
