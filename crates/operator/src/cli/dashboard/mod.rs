//! `sparkplane dashboard`: a read-only web page of the applications, schedules and Spark Connect
//! sessions the user's kubeconfig can read. One watch per kind feeds an in-memory table (the
//! list's rows, not the objects); every page is rendered from it on request, and a change is
//! pushed to the open pages on `/live` so that they fetch their live part again. The detail page
//! reads the application, its pods and events when asked, follows the driver log, and opens the
//! Spark UI through a port-forward of its own. It listens on 127.0.0.1 unless told otherwise, and
//! answers only requests addressed to a loopback name there (no DNS rebinding).

mod html;
mod view;

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use futures::{AsyncBufReadExt, Stream, StreamExt, TryStreamExt};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, ListParams, LogParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use serde_json::Value;
use sparkplane_api::{ScheduledSparkApplication, SparkApplication, SparkConnect};
use sparkplane_submit::identity::{DRIVER_CONTAINER, LABEL_APP_NAME};
use tokio::net::TcpListener;

use super::connect::{ClusterArgs, Session, connect};
use super::error::{CliError, Target};
use super::events::{EventLine, fetch_about};
use super::{driver_pod_name, get_app, out};
use html::{Context, Detail, EventItem, PodLine, SimpleTable, Tab};
use view::{AppRow, Query as ListQuery};

#[derive(Debug, clap::Args)]
pub struct DashboardArgs {
    /// The address to listen on; anything but loopback exposes the page, with your credentials
    /// behind it, to whoever can reach that address.
    #[arg(long, default_value = "127.0.0.1")]
    pub address: IpAddr,
    /// The port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Show every namespace (the kubeconfig's user must be allowed to list them all).
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// What one watch keeps: the rows, and the last error when it cannot read.
struct Watched<T> {
    items: BTreeMap<(String, String), T>,
    synced: bool,
    error: Option<String>,
}

impl<T> Default for Watched<T> {
    fn default() -> Self {
        Watched {
            items: BTreeMap::new(),
            synced: false,
            error: None,
        }
    }
}

/// A Spark UI forward: the driver pod it reaches and where it listens.
struct Forward {
    pod_uid: String,
    address: SocketAddr,
    task: tokio::task::JoinHandle<Result<(), CliError>>,
}

struct Shared {
    session: Session,
    context: Context,
    /// None: all namespaces.
    scope: Option<String>,
    bind: IpAddr,
    apps: RwLock<Watched<AppRow>>,
    schedules: RwLock<Watched<Vec<String>>>,
    sessions: RwLock<Watched<Vec<String>>>,
    changes: tokio::sync::watch::Sender<u64>,
    forwards: Mutex<HashMap<(String, String), Forward>>,
}

impl Shared {
    /// The session, aimed at `namespace`.
    fn session_in(&self, namespace: &str) -> Session {
        Session {
            client: self.session.client.clone(),
            target: Target {
                namespace: namespace.to_owned(),
                ..self.session.target.clone()
            },
        }
    }

    fn api<K: kube::Resource<DynamicType = ()>>(&self) -> Api<DynamicObject> {
        let resource = ApiResource::erase::<K>(&());
        match &self.scope {
            Some(ns) => Api::namespaced_with(self.session.client.clone(), ns, &resource),
            None => Api::all_with(self.session.client.clone(), &resource),
        }
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}

pub async fn run(args: DashboardArgs) -> Result<(), CliError> {
    let session = connect(&args.cluster).await?;
    let scope = (!args.all_namespaces).then(|| session.target.namespace.clone());
    let context = Context {
        cluster: session.target.server.clone(),
        context: session.target.context.clone(),
        namespace: scope.clone().unwrap_or_default(),
    };
    let address = SocketAddr::new(args.address, args.port);
    let listener = TcpListener::bind(address)
        .await
        .map_err(|source| CliError::Listen {
            address: address.to_string(),
            source,
        })?;
    let local = listener.local_addr()?;
    let shared = Arc::new(Shared {
        session,
        context,
        scope,
        bind: args.address,
        apps: RwLock::default(),
        schedules: RwLock::default(),
        sessions: RwLock::default(),
        changes: tokio::sync::watch::channel(0).0,
        forwards: Mutex::default(),
    });
    let watches = [
        tokio::spawn(follow(
            shared.api::<SparkApplication>(),
            shared.clone(),
            |s| &s.apps,
            app_row,
        )),
        tokio::spawn(follow(
            shared.api::<ScheduledSparkApplication>(),
            shared.clone(),
            |s| &s.schedules,
            schedule_cells,
        )),
        tokio::spawn(follow(
            shared.api::<SparkConnect>(),
            shared.clone(),
            |s| &s.sessions,
            session_cells,
        )),
    ];
    let app = router(shared.clone(), args.address.is_loopback());
    out(&format!(
        "Sparkplane dashboard on http://{local}/ ({} · {}); Ctrl-C stops\n",
        shared.context.context,
        shared
            .scope
            .as_deref()
            .map(|ns| format!("namespace {ns}"))
            .unwrap_or_else(|| "all namespaces".into())
    ))?;
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    for watch in watches {
        watch.abort();
    }
    served.map_err(CliError::from)
}

fn router(shared: Arc<Shared>, loopback_only: bool) -> Router {
    let routes = Router::new()
        .route("/", get(overview))
        .route("/apps", get(list))
        .route("/apps/{namespace}/{name}", get(detail))
        .route("/apps/{namespace}/{name}/log", get(log))
        .route("/apps/{namespace}/{name}/ui", get(spark_ui))
        .route("/schedules", get(schedules))
        .route("/sessions", get(sessions))
        .route("/live", get(live))
        .route("/assets/dashboard.css", get(style))
        .route("/assets/dashboard.js", get(script))
        .with_state(shared);
    if loopback_only {
        routes.layer(middleware::from_fn(loopback_host_only))
    } else {
        routes
    }
}

/// Whether a Host header names this machine's loopback (`localhost`, `127.0.0.1`, `[::1]`, with
/// any port): what a browser sends to a dashboard on loopback, unlike a page of another site whose
/// name was made to resolve to 127.0.0.1.
pub fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

async fn loopback_host_only(request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if is_loopback_host(host) {
        next.run(request).await
    } else {
        (
            StatusCode::MISDIRECTED_REQUEST,
            "this dashboard answers requests to localhost only\n",
        )
            .into_response()
    }
}

/// Reads one kind's watch into its table until the dashboard stops; errors are kept for the page
/// (a CRD not installed, a namespace not readable) while the watch retries with backoff.
async fn follow<T, P, C>(api: Api<DynamicObject>, shared: Arc<Shared>, pick: P, convert: C)
where
    P: Fn(&Shared) -> &RwLock<Watched<T>>,
    C: Fn(&DynamicObject) -> T,
{
    let key = |o: &DynamicObject| {
        (
            o.metadata.namespace.clone().unwrap_or_default(),
            o.metadata.name.clone().unwrap_or_default(),
        )
    };
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut fresh: BTreeMap<(String, String), T> = BTreeMap::new();
    while let Some(event) = stream.next().await {
        {
            let Ok(mut table) = pick(&shared).write() else {
                return;
            };
            match event {
                Ok(watcher::Event::Init) => fresh.clear(),
                Ok(watcher::Event::InitApply(o)) => {
                    fresh.insert(key(&o), convert(&o));
                    continue;
                }
                Ok(watcher::Event::InitDone) => {
                    table.items = std::mem::take(&mut fresh);
                    table.synced = true;
                    table.error = None;
                }
                Ok(watcher::Event::Apply(o)) => {
                    table.items.insert(key(&o), convert(&o));
                    table.error = None;
                }
                Ok(watcher::Event::Delete(o)) => {
                    table.items.remove(&key(&o));
                }
                Err(e) => table.error = Some(watch_error(&e)),
            }
        }
        shared.changed();
    }
}

fn watch_error(error: &watcher::Error) -> String {
    match error {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => {
            format!("{} ({})", s.message, s.code)
        }
        other => super::error::chain(other),
    }
}

fn app_row(object: &DynamicObject) -> AppRow {
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
            row.state = sparkplane_api::v1beta2::ApplicationStateType::Unknown;
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

const SCHEDULE_HEADERS: [&str; 8] = [
    "namespace",
    "name",
    "schedule",
    "suspended",
    "state",
    "last run",
    "next run",
    "last application",
];

fn schedule_cells(object: &DynamicObject) -> Vec<String> {
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

const SESSION_HEADERS: [&str; 6] = [
    "namespace",
    "name",
    "state",
    "server pod",
    "executors",
    "started",
];

fn session_cells(object: &DynamicObject) -> Vec<String> {
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

/// An HTML answer with the headers that keep the page to itself: no script or style from
/// elsewhere, no framing, no sniffing, nothing cached.
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn is_fragment(params: &BTreeMap<String, String>) -> bool {
    params.get("fragment").is_some_and(|v| v == "1")
}

/// The table's error, or a note that it is still being read, for the top of a page.
fn table_note<T>(table: &Watched<T>, what: &str) -> Option<String> {
    match (&table.error, table.synced) {
        (Some(e), _) => Some(format!("cannot read the {what}: {e}")),
        (None, false) => Some(format!("reading the {what}…")),
        (None, true) => None,
    }
}

async fn overview(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Response {
    let now = Timestamp::now();
    let Ok(table) = shared.apps.read() else {
        return html(StatusCode::INTERNAL_SERVER_ERROR, String::new());
    };
    let note = table_note(&table, "SparkApplications");
    let overview = view::overview(table.items.values(), now);
    let note = note.map(|n| html::alert(&n)).unwrap_or_default();
    if is_fragment(&params) {
        return html(StatusCode::OK, note + &html::overview_live(&overview, now));
    }
    html(
        StatusCode::OK,
        html::page(
            "Overview",
            Tab::Overview,
            &shared.context,
            &(note + &html::overview_body(&overview, now)),
        ),
    )
}

async fn list(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Response {
    let now = Timestamp::now();
    let (query, error, status) = match ListQuery::parse(&params) {
        Ok(q) => (q, None, StatusCode::OK),
        Err(e) => (
            ListQuery::default(),
            Some(e.to_string()),
            StatusCode::BAD_REQUEST,
        ),
    };
    let Ok(table) = shared.apps.read() else {
        return html(StatusCode::INTERNAL_SERVER_ERROR, String::new());
    };
    let error = error.or_else(|| table_note(&table, "SparkApplications"));
    // The rows are selected and rendered under the read lock: no copy of ten thousand rows.
    let listing = view::select(table.items.values(), &query, now);
    if is_fragment(&params) {
        return html(status, html::list_rows(&listing, &query, now));
    }
    let mut namespaces: Vec<String> = table.items.keys().map(|(ns, _)| ns.clone()).collect();
    namespaces.dedup();
    let body = html::list_body(&listing, &query, &namespaces, now, error.as_deref());
    drop(table);
    html(
        status,
        html::page("Applications", Tab::Applications, &shared.context, &body),
    )
}

fn simple_page(shared: &Shared, params: &BTreeMap<String, String>, which: Tab) -> Response {
    let (table, title, headers, what, path): (_, _, &[&'static str], _, _) = match which {
        Tab::Schedules => (
            &shared.schedules,
            "Schedules",
            &SCHEDULE_HEADERS,
            "ScheduledSparkApplications",
            "/schedules",
        ),
        _ => (
            &shared.sessions,
            "Spark Connect sessions",
            &SESSION_HEADERS,
            "SparkConnects",
            "/sessions",
        ),
    };
    let Ok(table) = table.read() else {
        return html(StatusCode::INTERNAL_SERVER_ERROR, String::new());
    };
    let note = table_note(&table, what)
        .map(|n| html::alert(&n))
        .unwrap_or_default();
    let simple = SimpleTable {
        headers: headers.to_vec(),
        rows: table.items.values().cloned().collect(),
    };
    drop(table);
    let rows = html::simple_table(&simple, &format!("No {what}."));
    if is_fragment(params) {
        return html(StatusCode::OK, note + &rows);
    }
    let body = html::simple_body(title, &rows, path);
    html(
        StatusCode::OK,
        html::page(title, which, &shared.context, &(note + &body)),
    )
}

async fn schedules(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Response {
    simple_page(&shared, &params, Tab::Schedules)
}

async fn sessions(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Response {
    simple_page(&shared, &params, Tab::Sessions)
}

fn spec_summary(app: &SparkApplication) -> Vec<(String, String)> {
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

fn pod_line(pod: &Pod) -> PodLine {
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

fn event_item(line: EventLine) -> EventItem {
    EventItem {
        last: line.last,
        count: line.count,
        type_: line.type_,
        reason: line.reason,
        object: line.object,
        message: line.message,
    }
}

/// Events are read for the driver and at most this many executors (one request each).
const EXECUTORS_WITH_EVENTS: usize = 10;

async fn detail(
    State(shared): State<Arc<Shared>>,
    Path((namespace, name)): Path<(String, String)>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Response {
    let now = Timestamp::now();
    let session = shared.session_in(&namespace);
    let app = match get_app(&session, &name).await {
        Ok((_, app)) => app,
        Err(e) => {
            let body = html::message_body(&name, &e.to_string());
            return html(
                StatusCode::NOT_FOUND,
                html::page(&name, Tab::Applications, &shared.context, &body),
            );
        }
    };
    let mut problems = Vec::new();
    let pods: Api<Pod> = Api::namespaced(session.client.clone(), &namespace);
    let mut pod_lines: Vec<PodLine> = match pods
        .list(&ListParams::default().labels(&format!("{LABEL_APP_NAME}={name}")))
        .await
    {
        Ok(list) => list.items.iter().map(pod_line).collect(),
        Err(e) => {
            problems.push(format!("cannot list the pods: {}", super::error::chain(&e)));
            Vec::new()
        }
    };
    // The driver first, then executors by creation.
    pod_lines.sort_by_key(|p| (p.role != "driver", p.created, p.name.clone()));
    let driver = driver_pod_name(&app);
    let mut about: Vec<&str> = vec![driver.as_str()];
    about.extend(
        pod_lines
            .iter()
            .filter(|p| p.role == "executor")
            .take(EXECUTORS_WITH_EVENTS)
            .map(|p| p.name.as_str()),
    );
    let events = match fetch_about(
        &session,
        ("SparkApplication", &name, app.metadata.uid.as_deref()),
        &about,
    )
    .await
    {
        Ok(events) => events.into_iter().map(event_item).collect(),
        Err(e) => {
            problems.push(format!("cannot list the events: {e}"));
            Vec::new()
        }
    };
    let detail = Detail {
        row: AppRow::of(&app),
        spec: spec_summary(&app),
        pods: pod_lines,
        events,
        problems,
    };
    if is_fragment(&params) {
        return html(StatusCode::OK, html::detail_live(&detail, now));
    }
    html(
        StatusCode::OK,
        html::page(
            &name,
            Tab::Applications,
            &shared.context,
            &html::detail_body(&detail, now),
        ),
    )
}

/// Pushes `changed` at most every half second while the watched tables change.
async fn live(
    State(shared): State<Arc<Shared>>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let changes = shared.changes.subscribe();
    let stream = futures::stream::unfold(changes, |mut changes| async move {
        changes.changed().await.ok()?;
        // A burst of changes is one notice.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let version = *changes.borrow_and_update();
        Some((
            Ok(SseEvent::default()
                .event("changed")
                .data(version.to_string())),
            changes,
        ))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Log lines as SSE data: a carriage return cannot travel in an event (progress bars write them).
fn sse_text(line: &str) -> String {
    line.replace('\r', "")
}

fn note_then_end(
    note: String,
) -> futures::stream::BoxStream<'static, Result<SseEvent, Infallible>> {
    futures::stream::iter([
        Ok(SseEvent::default().event("note").data(sse_text(&note))),
        Ok(SseEvent::default().event("end").data("")),
    ])
    .boxed()
}

/// Lines of the driver's log as they come: the last 500, then followed until the container ends.
async fn log(
    State(shared): State<Arc<Shared>>,
    Path((namespace, name)): Path<(String, String)>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let session = shared.session_in(&namespace);
    let stream = match driver_log(&session, &name).await {
        Ok(lines) => lines
            .map(|line| match line {
                Ok(line) => Ok(SseEvent::default().event("line").data(sse_text(&line))),
                Err(e) => Ok(SseEvent::default()
                    .event("note")
                    .data(sse_text(&format!("the log stream broke: {e}")))),
            })
            .chain(futures::stream::iter([
                Ok(SseEvent::default().event("note").data("(the log ended)")),
                Ok(SseEvent::default().event("end").data("")),
            ]))
            .boxed(),
        Err(e) => note_then_end(e.to_string()),
    };
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn driver_log(
    session: &Session,
    name: &str,
) -> Result<impl Stream<Item = std::io::Result<String>> + Send + 'static, CliError> {
    let (_, app) = get_app(session, name).await?;
    let pods: Api<Pod> = Api::namespaced(session.client.clone(), &session.target.namespace);
    let pod = driver_pod_name(&app);
    let params = LogParams {
        follow: true,
        tail_lines: Some(500),
        container: Some(DRIVER_CONTAINER.to_owned()),
        ..Default::default()
    };
    let action = format!("reading the log of pod {pod:?}");
    let stream = pods
        .log_stream(&pod, &params)
        .await
        .map_err(|e| CliError::Request {
            action,
            cause: super::error::chain(&e),
        })?;
    Ok(stream.lines().into_stream().map_err(std::io::Error::other))
}

/// Opens (or reuses) a port-forward to the driver's UI on the dashboard's own address and sends
/// the browser there.
async fn spark_ui(
    State(shared): State<Arc<Shared>>,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    match forward_ui(&shared, &namespace, &name).await {
        Ok(address) => Redirect::to(&format!("http://{address}/")).into_response(),
        Err(e) => {
            let body = html::message_body(&format!("Spark UI of {name}"), &e.to_string());
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                html::page(&name, Tab::Applications, &shared.context, &body),
            )
        }
    }
}

async fn forward_ui(shared: &Shared, namespace: &str, name: &str) -> Result<SocketAddr, CliError> {
    let session = shared.session_in(namespace);
    let (_, app) = get_app(&session, name).await?;
    let (pods, pod) = super::ui::running_driver(&session, &app).await?;
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let key = (namespace.to_owned(), name.to_owned());
    if let Ok(forwards) = shared.forwards.lock()
        && let Some(existing) = forwards.get(&key)
        && existing.pod_uid == uid
        && !existing.task.is_finished()
    {
        return Ok(existing.address);
    }
    let listener = TcpListener::bind((shared.bind, 0))
        .await
        .map_err(|source| CliError::Listen {
            address: format!("{}:0", shared.bind),
            source,
        })?;
    let address = listener.local_addr()?;
    let port = super::ui::ui_port(&pod, &app);
    let task = tokio::spawn(super::ui::serve_forwarded(
        listener,
        pods,
        pod.metadata.name.clone().unwrap_or_default(),
        port,
        session.target.clone(),
        false,
    ));
    if let Ok(mut forwards) = shared.forwards.lock() {
        // A forward to an earlier driver of the application stops.
        if let Some(old) = forwards.insert(
            key,
            Forward {
                pod_uid: uid,
                address,
                task,
            },
        ) {
            old.task.abort();
        }
    }
    Ok(address)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", html::STYLE)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", html::SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_are_answered() {
        for host in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:8080",
            "[::1]:8080",
            "127.0.0.2",
            "LOCALHOST:1",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "",
            "evil.example:8080",
            "localhost.evil.example",
            "10.0.0.1:8080",
            "[::2]:80",
            "0.0.0.0",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn log_lines_lose_their_carriage_returns() {
        assert_eq!(sse_text("50%\r60%\r\n"), "50%60%\n");
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
