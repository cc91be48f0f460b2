//! `sparkplane get`: SparkApplications (or ScheduledSparkApplications) as a table, names, JSON or
//! YAML; `--watch` goes on printing changes.

use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use kube::api::{ApiResource, DynamicObject, ListParams};
use kube::runtime::watcher;
use serde_json::Value;
use sparkplane_api::{ScheduledSparkApplication, SparkApplication, SparkConnect};

use super::connect::{ClusterArgs, connect};
use super::error::{CliError, Subject};
use super::format::{self, NONE, Table};
use super::{out, spark_api};

#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// Show only this application.
    pub name: Option<String>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// List in every namespace (adds a NAMESPACE column).
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Output format: wide (more columns), name, json or yaml; a table when unset.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<Output>,
    /// Only objects with these labels (`key=value,key2!=value2`, as kubectl's -l).
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// After the list, go on printing every change (Ctrl-C stops).
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// What to list: SparkApplications (app), ScheduledSparkApplications (scheduled) or
    /// SparkConnects (connect).
    #[arg(long, value_enum, default_value_t = Kind::App)]
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Wide,
    Name,
    Json,
    Yaml,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// SparkApplication
    App,
    /// ScheduledSparkApplication
    Scheduled,
    /// SparkConnect
    Connect,
}

impl Kind {
    fn resource(self) -> ApiResource {
        match self {
            Kind::App => ApiResource::erase::<SparkApplication>(&()),
            Kind::Scheduled => ApiResource::erase::<ScheduledSparkApplication>(&()),
            Kind::Connect => ApiResource::erase::<SparkConnect>(&()),
        }
    }

    /// The lower-case plural kubectl says in `No resources found`.
    fn plural(self) -> &'static str {
        match self {
            Kind::App => "sparkapplications",
            Kind::Scheduled => "scheduledsparkapplications",
            Kind::Connect => "sparkconnects",
        }
    }

    /// `-o name`'s prefix: `<kind>.<group>`.
    fn qualified(self) -> &'static str {
        match self {
            Kind::App => "sparkapplication.sparkoperator.k8s.io",
            Kind::Scheduled => "scheduledsparkapplication.sparkoperator.k8s.io",
            Kind::Connect => "sparkconnect.sparkoperator.k8s.io",
        }
    }

    fn subject(self, name: Option<&str>) -> Subject<'_> {
        match (self, name) {
            (Kind::App, Some(n)) => Subject::App(n),
            (Kind::Scheduled, Some(n)) => Subject::Scheduled(n),
            (Kind::Connect, Some(n)) => Subject::Connect(n),
            (_, None) => Subject::Spark,
        }
    }
}

/// How rows look: which columns, and the time they are measured from.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub kind: Kind,
    pub wide: bool,
    pub namespace_column: bool,
    pub now: Timestamp,
}

pub async fn run(args: GetArgs) -> Result<(), CliError> {
    if args.all_namespaces && args.name.is_some() {
        return Err(CliError::Usage(
            "a name picks one application of one namespace: drop -A/--all-namespaces or the name"
                .into(),
        ));
    }
    let session = connect(&args.cluster).await?;
    let resource = args.kind.resource();
    let api = spark_api(&session, &resource, args.all_namespaces);
    let subject = args.kind.subject(args.name.as_deref());
    let action = match &args.name {
        Some(name) => format!("getting {name:?}"),
        None => format!("listing {}", args.kind.plural()),
    };
    let layout = |now| Layout {
        kind: args.kind,
        wide: args.output == Some(Output::Wide),
        namespace_column: args.all_namespaces,
        now,
    };
    let map_err = |e| CliError::from_kube(e, &session.target, &action, subject);

    if args.watch {
        return watch(&args, api, &session.target.namespace, layout, map_err).await;
    }

    let objects = match &args.name {
        Some(name) => vec![api.get(name).await.map_err(map_err)?],
        None => {
            let mut params = ListParams::default();
            if let Some(selector) = &args.selector {
                params = params.labels(selector);
            }
            api.list(&params).await.map_err(map_err)?.items
        }
    };
    if objects.is_empty() && matches!(args.output, None | Some(Output::Wide) | Some(Output::Name)) {
        eprintln!(
            "{}",
            nothing_found(args.kind, &session.target.namespace, args.all_namespaces)
        );
        return Ok(());
    }
    // One object asked for by name prints as itself, not as a List (as kubectl does).
    let text = match (&args.name, objects.first(), args.output) {
        (Some(_), Some(object), Some(Output::Json | Output::Yaml)) => {
            encode(&to_value(object)?, args.output)?
        }
        _ => render(&objects, args.output, layout(Timestamp::now()))?,
    };
    out(&text)
}

/// Prints the objects as they are, then a line (or document) for every change. A relist after a
/// lost watch prints its objects again, as kubectl does.
async fn watch(
    args: &GetArgs,
    api: kube::Api<DynamicObject>,
    namespace: &str,
    layout: impl Fn(Timestamp) -> Layout,
    map_err: impl Fn(kube::Error) -> CliError + Copy,
) -> Result<(), CliError> {
    let mut config = watcher::Config::default();
    if let Some(selector) = &args.selector {
        config = config.labels(selector);
    }
    if let Some(name) = &args.name {
        config = config.fields(&format!("metadata.name={name}"));
    }
    let is_table = matches!(args.output, None | Some(Output::Wide));
    let mut stream = watcher(api, config).boxed();
    let mut initial: Vec<DynamicObject> = Vec::new();
    // The column widths of the first table; later rows keep them.
    let mut widths: Option<Vec<usize>> = None;
    while let Some(event) = stream
        .try_next()
        .await
        .map_err(|e| watch_error(e, map_err))?
    {
        let changed = match event {
            watcher::Event::Init => {
                initial.clear();
                continue;
            }
            watcher::Event::InitApply(obj) => {
                initial.push(obj);
                continue;
            }
            watcher::Event::InitDone => std::mem::take(&mut initial),
            watcher::Event::Apply(obj) | watcher::Event::Delete(obj) => vec![obj],
        };
        let now = layout(Timestamp::now());
        if widths.is_none() {
            let values = changed
                .iter()
                .map(to_value)
                .collect::<Result<Vec<_>, _>>()?;
            let first = table(&values, now);
            widths = Some(first.widths());
            if changed.is_empty() {
                eprintln!(
                    "{}",
                    nothing_found(args.kind, namespace, args.all_namespaces)
                );
            }
            if is_table {
                out(&first.render())?;
                continue;
            }
        }
        let w = widths.clone().unwrap_or_default();
        for obj in &changed {
            out(&render_one(obj, args.output, now, &w)?)?;
        }
    }
    Ok(())
}

fn watch_error(error: watcher::Error, map: impl Fn(kube::Error) -> CliError) -> CliError {
    match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => map(e),
        watcher::Error::WatchError(status) => map(kube::Error::Api(status)),
        other => CliError::Request {
            action: "watching".into(),
            cause: other.to_string(),
        },
    }
}

/// kubectl's message for an empty list, on standard error.
pub fn nothing_found(kind: Kind, namespace: &str, all_namespaces: bool) -> String {
    if all_namespaces {
        format!("No {} found.", kind.plural())
    } else {
        format!("No {} found in namespace {namespace:?}.", kind.plural())
    }
}

fn to_value(obj: &DynamicObject) -> Result<Value, CliError> {
    serde_json::to_value(obj).map_err(|e| CliError::Encode(e.to_string()))
}

/// JSON or YAML of one value.
fn encode(value: &Value, output: Option<Output>) -> Result<String, CliError> {
    match output {
        // Quoted so that YAML 1.1 readers (kubectl's) read back the same strings.
        Some(Output::Yaml) => Ok(sparkplane_submit::yaml::to_string(value)),
        _ => serde_json::to_string_pretty(value)
            .map(|s| s + "\n")
            .map_err(|e| CliError::Encode(e.to_string())),
    }
}

/// A listing in the chosen format: a `List` for JSON and YAML, as kubectl prints.
pub fn render(
    objects: &[DynamicObject],
    output: Option<Output>,
    layout: Layout,
) -> Result<String, CliError> {
    let values = objects
        .iter()
        .map(to_value)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match output {
        Some(Output::Json | Output::Yaml) => encode(
            &serde_json::json!({
                "apiVersion": "v1",
                "kind": "List",
                "items": values,
                "metadata": {"resourceVersion": ""}
            }),
            output,
        )?,
        Some(Output::Name) => values.iter().map(|v| name_line(v, layout.kind)).collect(),
        None | Some(Output::Wide) => table(&values, layout).render(),
    })
}

/// One object of a watch, in the chosen format, a table row keeping `widths`.
fn render_one(
    obj: &DynamicObject,
    output: Option<Output>,
    layout: Layout,
    widths: &[usize],
) -> Result<String, CliError> {
    let value = to_value(obj)?;
    Ok(match output {
        Some(Output::Json | Output::Yaml) => {
            let text = encode(&value, output)?;
            if output == Some(Output::Yaml) {
                format!("---\n{text}")
            } else {
                text
            }
        }
        Some(Output::Name) => name_line(&value, layout.kind),
        None | Some(Output::Wide) => format::render_row(widths, &row(&value, layout)),
    })
}

fn name_line(value: &Value, kind: Kind) -> String {
    format!("{}/{}\n", kind.qualified(), text(value, "/metadata/name"))
}

/// The headers of a table.
pub fn headers(layout: Layout) -> Vec<&'static str> {
    let mut headers = Vec::new();
    if layout.namespace_column {
        headers.push("NAMESPACE");
    }
    match layout.kind {
        Kind::App => {
            headers.extend([
                "NAME", "STATE", "ATTEMPTS", "START", "FINISH", "AGE", "DRIVER",
            ]);
            if layout.wide {
                headers.extend(["SUBMISSIONS", "SPARK-APP-ID", "UI"]);
            }
        }
        Kind::Scheduled => {
            headers.extend([
                "NAME",
                "SCHEDULE",
                "SUSPEND",
                "STATE",
                "LAST RUN",
                "NEXT RUN",
                "LAST RUN NAME",
                "AGE",
            ]);
            if layout.wide {
                headers.extend(["TIMEZONE", "CONCURRENCY"]);
            }
        }
        Kind::Connect => {
            headers.extend(["NAME", "STATE", "SERVER", "SERVICE", "EXECUTORS", "AGE"]);
            if layout.wide {
                headers.extend(["SPARK", "POD-IP"]);
            }
        }
    }
    headers
}

/// The table of a listing.
pub fn table(values: &[Value], layout: Layout) -> Table {
    let mut table = Table::new(headers(layout));
    for value in values {
        table.push(row(value, layout));
    }
    table
}

/// One row: START and FINISH are ages (how long ago the last submission was tried and the
/// application ended); a missing value is `<none>`, a missing counter 0 (the status omits zeros).
pub fn row(value: &Value, layout: Layout) -> Vec<String> {
    let now = layout.now;
    let mut cells = Vec::new();
    if layout.namespace_column {
        cells.push(text(value, "/metadata/namespace"));
    }
    cells.push(text(value, "/metadata/name"));
    let age = format::age_or_none(now, time(value, "/metadata/creationTimestamp"));
    match layout.kind {
        Kind::App => {
            cells.push(text(value, "/status/applicationState/state"));
            cells.push(count(value, "/status/executionAttempts"));
            cells.push(format::age_or_none(
                now,
                time(value, "/status/lastSubmissionAttemptTime"),
            ));
            cells.push(format::age_or_none(
                now,
                time(value, "/status/terminationTime"),
            ));
            cells.push(age);
            cells.push(text(value, "/status/driverInfo/podName"));
            if layout.wide {
                cells.push(count(value, "/status/submissionAttempts"));
                cells.push(text(value, "/status/sparkApplicationId"));
                let ingress = text(value, "/status/driverInfo/webUIIngressAddress");
                cells.push(if ingress != NONE {
                    ingress
                } else {
                    text(value, "/status/driverInfo/webUIAddress")
                });
            }
        }
        Kind::Scheduled => {
            cells.push(text(value, "/spec/schedule"));
            cells.push(
                value
                    .pointer("/spec/suspend")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    .to_string(),
            );
            cells.push(text(value, "/status/scheduleState"));
            cells.push(format::age_or_none(now, time(value, "/status/lastRun")));
            cells.push(
                time(value, "/status/nextRun")
                    .map(|t| format::relative(now, t))
                    .unwrap_or_else(|| NONE.to_owned()),
            );
            cells.push(text(value, "/status/lastRunName"));
            cells.push(age);
            if layout.wide {
                cells.push(text(value, "/spec/timeZone"));
                cells.push(text(value, "/spec/concurrencyPolicy"));
            }
        }
        Kind::Connect => {
            cells.push(text(value, "/status/state"));
            cells.push(text(value, "/status/server/podName"));
            cells.push(text(value, "/status/server/serviceName"));
            cells.push(executor_summary(value));
            cells.push(age);
            if layout.wide {
                cells.push(text(value, "/spec/sparkVersion"));
                cells.push(text(value, "/status/server/podIp"));
            }
        }
    }
    cells
}

/// A SparkConnect's executors by phase (`2 running, 1 pending`), `0` with none.
fn executor_summary(value: &Value) -> String {
    let phases = value
        .pointer("/status/executors")
        .and_then(Value::as_object);
    format::phase_counts(
        phases
            .into_iter()
            .flatten()
            .filter_map(|(phase, n)| Some((phase.as_str(), n.as_i64()?))),
    )
}

/// A string field, `<none>` when absent or empty.
fn text(value: &Value, pointer: &str) -> String {
    match value.pointer(pointer) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => NONE.to_owned(),
    }
}

fn count(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .to_string()
}

fn time(value: &Value, pointer: &str) -> Option<Timestamp> {
    value.pointer(pointer)?.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    fn layout(kind: Kind, wide: bool, namespace_column: bool) -> Layout {
        Layout {
            kind,
            wide,
            namespace_column,
            now: now(),
        }
    }

    fn running() -> Value {
        json!({
            "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
            "metadata": {"name": "spark-pi", "namespace": "jobs", "creationTimestamp": "2024-05-01T11:50:00Z"},
            "spec": {},
            "status": {
                "applicationState": {"state": "RUNNING"},
                "executionAttempts": 2, "submissionAttempts": 3,
                "lastSubmissionAttemptTime": "2024-05-01T11:58:30Z",
                "sparkApplicationId": "spark-0123",
                "driverInfo": {"podName": "spark-pi-driver", "webUIAddress": "10.96.0.7:4040"}
            }
        })
    }

    fn new_app() -> Value {
        json!({"metadata": {"name": "fresh", "namespace": "jobs", "creationTimestamp": "2024-05-01T11:59:55Z"}})
    }

    #[test]
    fn application_rows() {
        let t = table(&[running(), new_app()], layout(Kind::App, false, false));
        assert_eq!(
            t.render(),
            "NAME       STATE     ATTEMPTS   START    FINISH   AGE   DRIVER\n\
             spark-pi   RUNNING   2          90s      <none>   10m   spark-pi-driver\n\
             fresh      <none>    0          <none>   <none>   5s    <none>\n"
        );
    }

    #[test]
    fn all_namespaces_and_wide_add_columns() {
        let cells = row(&running(), layout(Kind::App, true, true));
        assert_eq!(
            cells,
            [
                "jobs",
                "spark-pi",
                "RUNNING",
                "2",
                "90s",
                "<none>",
                "10m",
                "spark-pi-driver",
                "3",
                "spark-0123",
                "10.96.0.7:4040"
            ]
        );
        assert_eq!(headers(layout(Kind::App, true, true)).len(), cells.len());
    }

    #[test]
    fn the_ui_column_prefers_the_ingress() {
        let mut app = running();
        app["status"]["driverInfo"]["webUIIngressAddress"] = json!("spark-pi.example.com");
        let cells = row(&app, layout(Kind::App, true, false));
        assert_eq!(
            cells.last().map(String::as_str),
            Some("spark-pi.example.com")
        );
    }

    #[test]
    fn scheduled_rows() {
        let scheduled = json!({
            "metadata": {"name": "nightly", "namespace": "jobs", "creationTimestamp": "2024-04-29T08:00:00Z"},
            "spec": {"schedule": "@every 10m", "suspend": false, "concurrencyPolicy": "Forbid"},
            "status": {"scheduleState": "Scheduled", "lastRun": "2024-05-01T11:55:00Z",
                       "nextRun": "2024-05-01T12:05:00Z", "lastRunName": "nightly-1714564500"}
        });
        let cells = row(&scheduled, layout(Kind::Scheduled, true, false));
        assert_eq!(
            cells,
            [
                "nightly",
                "@every 10m",
                "false",
                "Scheduled",
                "5m",
                "in 5m",
                "nightly-1714564500",
                "2d4h",
                "<none>",
                "Forbid"
            ]
        );
        assert_eq!(
            headers(layout(Kind::Scheduled, true, false)).len(),
            cells.len()
        );
    }

    #[test]
    fn names_and_empty_messages() {
        assert_eq!(
            name_line(&running(), Kind::App),
            "sparkapplication.sparkoperator.k8s.io/spark-pi\n"
        );
        assert_eq!(
            nothing_found(Kind::App, "jobs", false),
            "No sparkapplications found in namespace \"jobs\"."
        );
        assert_eq!(
            nothing_found(Kind::Scheduled, "jobs", true),
            "No scheduledsparkapplications found."
        );
    }
}
