//! `sparkplane dashboard`: a read-only web page of the applications, schedules and Spark Connect
//! sessions the user's kubeconfig can read. One watch per kind feeds an in-memory table (the
//! list's rows, not the objects); every page is rendered from it on request, and a change is
//! pushed to the open pages on `/live` so that they fetch their live part again. The detail page
//! reads the application, its pods and events when asked, follows the driver log, and opens the
//! Spark UI through a port-forward of its own (or links to the UI Ingress, in a cluster where it
//! may not forward). It listens on 127.0.0.1 unless told otherwise, and answers only requests
//! addressed to a loopback name there (no DNS rebinding).

mod html;
mod view;

use std::collections::{BTreeMap, BTreeSet, HashMap};
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
use futures::{AsyncBufReadExt, FutureExt, Stream, StreamExt, TryStreamExt};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event as CoreEvent, Pod};
use kube::Api;
use kube::api::{ApiResource, DynamicObject, ListParams, LogParams, PartialObjectMeta};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use sparkplane_api::{ScheduledSparkApplication, SparkApplication, SparkConnect};
use sparkplane_submit::identity::{DRIVER_CONTAINER, LABEL_APP_NAME};

use super::connect::{ClusterArgs, Session, connect};
use super::error::{CliError, Target};
use super::events::fetch_about;
use super::{driver_pod_name, get_app, out};
use html::{Context, SimpleTable, Tab};
use view::{
    AppRow, Detail, PodLine, Query as ListQuery, SCHEDULE_HEADERS, SESSION_HEADERS, app_row,
    event_item, pod_line, schedule_cells, session_cells, spec_summary,
};

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
    #[arg(short = 'A', long, conflicts_with = "namespaces")]
    pub all_namespaces: bool,
    /// Show these namespaces (comma-separated), each watched on its own: for a user allowed to
    /// read a few namespaces but not to list them all.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "NAMESPACE,...",
        conflicts_with = "namespace",
        // An empty name would read as "every namespace": refused rather than widened.
        value_parser = clap::builder::NonEmptyStringValueParser::new()
    )]
    pub namespaces: Vec<String>,
    /// What the Spark UI link of an application does: `forward` opens a port-forward to the
    /// driver on the dashboard's address (needs `create` on pods/portforward); `ingress` sends the
    /// browser to the application's UI Ingress (`controller.uiIngress`), for a dashboard in the
    /// cluster; `none` shows no link.
    #[arg(long, value_enum, default_value_t = SparkUi::Forward)]
    pub spark_ui: SparkUi,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SparkUi {
    Forward,
    Ingress,
    None,
}

/// What the watches of one kind keep: the rows, which watches have not listed yet, and the last
/// error of each watch that cannot read (by namespace; "" for all namespaces).
struct Watched<T> {
    items: BTreeMap<(String, String), T>,
    unlisted: BTreeSet<String>,
    errors: BTreeMap<String, String>,
}

impl<T> Watched<T> {
    fn new(scopes: &[String]) -> Self {
        Watched {
            items: BTreeMap::new(),
            unlisted: scopes.iter().cloned().collect(),
            errors: BTreeMap::new(),
        }
    }

    /// Whether every watch has listed its objects once.
    fn listed(&self) -> bool {
        self.unlisted.is_empty()
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
    spark_ui: SparkUi,
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

    /// One API per watch scope.
    fn apis<K: kube::Resource<DynamicType = ()>>(&self) -> Vec<(String, Api<DynamicObject>)> {
        let resource = ApiResource::erase::<K>(&());
        scopes(&self.context.namespaces)
            .into_iter()
            .map(|scope| {
                let api = if scope.is_empty() {
                    Api::all_with(self.session.client.clone(), &resource)
                } else {
                    Api::namespaced_with(self.session.client.clone(), &scope, &resource)
                };
                (scope, api)
            })
            .collect()
    }

    /// Whether the dashboard shows `namespace`: a detail page of another is refused, not read
    /// with the dashboard's credentials.
    fn shows(&self, namespace: &str) -> bool {
        let shown = &self.context.namespaces;
        shown.is_empty() || shown.iter().any(|n| n == namespace)
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}

pub async fn run(args: DashboardArgs) -> Result<(), CliError> {
    let session = connect(&args.cluster).await?;
    let namespaces = if args.all_namespaces {
        Vec::new()
    } else if args.namespaces.is_empty() {
        vec![session.target.namespace.clone()]
    } else {
        let mut namespaces = args.namespaces.clone();
        namespaces.sort();
        namespaces.dedup();
        namespaces
    };
    let context = Context {
        cluster: session.target.server.clone(),
        context: session.target.context.clone(),
        namespaces: namespaces.clone(),
        spark_ui: args.spark_ui != SparkUi::None,
    };
    let address = SocketAddr::new(args.address, args.port);
    let listener = super::ui::listen(&address.to_string()).await?;
    let local = listener.local_addr()?;
    let shared = Arc::new(Shared {
        session,
        context,
        bind: args.address,
        spark_ui: args.spark_ui,
        apps: RwLock::new(Watched::new(&scopes(&namespaces))),
        schedules: RwLock::new(Watched::new(&scopes(&namespaces))),
        sessions: RwLock::new(Watched::new(&scopes(&namespaces))),
        changes: tokio::sync::watch::channel(0).0,
        forwards: Mutex::default(),
    });
    let mut watches = follow_kind::<SparkApplication, _>(&shared, |s| &s.apps, app_row);
    watches.extend(follow_kind::<ScheduledSparkApplication, _>(
        &shared,
        |s| &s.schedules,
        schedule_cells,
    ));
    watches.extend(follow_kind::<SparkConnect, _>(
        &shared,
        |s| &s.sessions,
        session_cells,
    ));
    let app = router(shared.clone(), args.address.is_loopback());
    out(&format!(
        "Sparkplane dashboard on http://{local}/ ({} · {}); Ctrl-C stops\n",
        shared.context.context,
        html::scope_text(&shared.context.namespaces),
    ))?;
    let served = axum::serve(listener, app)
        // Ctrl-C on a terminal; SIGTERM from a container runtime.
        .with_graceful_shutdown(crate::operator::shutdown_signal())
        .await;
    for watch in watches {
        watch.abort();
    }
    served.map_err(CliError::from)
}

/// The watch scopes of `namespaces` (empty: all, one watch named "").
fn scopes(namespaces: &[String]) -> Vec<String> {
    if namespaces.is_empty() {
        vec![String::new()]
    } else {
        namespaces.to_vec()
    }
}

fn router(shared: Arc<Shared>, loopback_only: bool) -> Router {
    let routes = Router::new()
        .route("/", get(overview))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/apps", get(list))
        .route("/apps/{namespace}/{name}", get(detail))
        .route("/apps/{namespace}/{name}/log", get(log))
        .route("/apps/{namespace}/{name}/live", get(app_live))
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

/// Starts the watches of kind `K`, one per scope, into the table `pick` chooses.
fn follow_kind<K, T>(
    shared: &Arc<Shared>,
    pick: fn(&Shared) -> &RwLock<Watched<T>>,
    convert: fn(&DynamicObject) -> T,
) -> Vec<tokio::task::JoinHandle<()>>
where
    K: kube::Resource<DynamicType = ()>,
    T: Send + Sync + 'static,
{
    shared
        .apis::<K>()
        .into_iter()
        .map(|(scope, api)| tokio::spawn(follow(api, scope, shared.clone(), pick, convert)))
        .collect()
}

/// Reads one kind's watch of one scope (a namespace, or "" for all) into its table until the
/// dashboard stops; errors are kept for the page (a CRD not installed, a namespace not readable)
/// while the watch retries with backoff.
async fn follow<T, P, C>(
    api: Api<DynamicObject>,
    scope: String,
    shared: Arc<Shared>,
    pick: P,
    convert: C,
) where
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
                    // A relist replaces this watch's rows only; other namespaces have their own.
                    table
                        .items
                        .retain(|(namespace, _), _| !scope.is_empty() && *namespace != scope);
                    table.items.append(&mut fresh);
                    table.unlisted.remove(&scope);
                    table.errors.remove(&scope);
                }
                Ok(watcher::Event::Apply(o)) => {
                    table.items.insert(key(&o), convert(&o));
                    table.errors.remove(&scope);
                }
                Ok(watcher::Event::Delete(o)) => {
                    table.items.remove(&key(&o));
                }
                Err(e) => {
                    let error = watch_error(&e);
                    let error = if scope.is_empty() {
                        error
                    } else {
                        format!("namespace {scope}: {error}")
                    };
                    table.errors.insert(scope.clone(), error);
                }
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
    if !table.errors.is_empty() {
        let errors: Vec<&str> = table.errors.values().map(String::as_str).collect();
        Some(format!("cannot read the {what}: {}", errors.join("; ")))
    } else if !table.listed() {
        Some(format!("reading the {what}…"))
    } else {
        None
    }
}

/// Alive while it serves.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready once every watch has listed its objects: before that the pages would show too few.
async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    let listed = [
        shared.apps.read().is_ok_and(|t| t.listed()),
        shared.schedules.read().is_ok_and(|t| t.listed()),
        shared.sessions.read().is_ok_and(|t| t.listed()),
    ];
    if listed.iter().all(|l| *l) {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "listing\n").into_response()
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

/// Events are read for the driver and at most this many executors (one request each).
const EXECUTORS_WITH_EVENTS: usize = 10;

async fn detail(
    State(shared): State<Arc<Shared>>,
    Path((namespace, name)): Path<(String, String)>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Response {
    let now = Timestamp::now();
    if let Some(refused) = not_shown(&shared, &namespace, &name) {
        return refused;
    }
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
            &html::detail_body(&detail, shared.context.spark_ui, now),
        ),
    )
}

/// The page for an application in a namespace the dashboard does not show, if it is one.
fn not_shown(shared: &Shared, namespace: &str, name: &str) -> Option<Response> {
    if shared.shows(namespace) {
        return None;
    }
    let body = html::message_body(
        name,
        &format!(
            "namespace {namespace} is not shown here ({})",
            html::scope_text(&shared.context.namespaces)
        ),
    );
    Some(html(
        StatusCode::NOT_FOUND,
        html::page(name, Tab::Applications, &shared.context, &body),
    ))
}

/// Pushes `changed` at most every half second while the watched tables change.
async fn live(
    State(shared): State<Arc<Shared>>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let changes = shared.changes.subscribe();
    let stream = futures::stream::unfold(changes, |mut changes| async move {
        changes.changed().await.ok()?;
        // A burst of changes is one notice.
        tokio::time::sleep(NOTICE_EVERY).await;
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

/// Half a second of changes is one notice: a page fetches its live part at most twice a second.
const NOTICE_EVERY: Duration = Duration::from_millis(500);

/// Notices for one application's page, only when something it shows changed: the application's
/// row (from the dashboard's watch), its pods (a metadata watch by the app-name label: every change
/// of a pod moves its resourceVersion), or the events of the application or of its driver (two
/// watches by field). The page's watches end when the page is closed.
async fn app_live(
    State(shared): State<Arc<Shared>>,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    if !shared.shows(&namespace) {
        return Sse::new(note_then_end(format!(
            "namespace {namespace} is not shown here"
        )))
        .into_response();
    }
    let session = shared.session_in(&namespace);
    let driver = match get_app(&session, &name).await {
        Ok((_, app)) => driver_pod_name(&app),
        Err(e) => return Sse::new(note_then_end(e.to_string())).into_response(),
    };
    let client = session.client.clone();
    let pods = watcher(
        Api::<PartialObjectMeta<Pod>>::namespaced(client.clone(), &namespace),
        watcher::Config::default().labels(&format!("{LABEL_APP_NAME}={name}")),
    );
    let events_of = |kind: &str, object: &str| {
        watcher(
            Api::<CoreEvent>::namespaced(client.clone(), &namespace),
            watcher::Config::default().fields(&format!(
                "involvedObject.kind={kind},involvedObject.name={object}"
            )),
        )
    };
    let pods = changes(pods.default_backoff());
    let app_events = changes(events_of("SparkApplication", &name).default_backoff());
    let driver_events = changes(events_of("Pod", &driver).default_backoff());
    let key = (namespace, name);
    let row_of = {
        let shared = shared.clone();
        move || {
            shared
                .apps
                .read()
                .ok()
                .and_then(|t| t.items.get(&key).cloned())
        }
    };
    let shown = row_of();
    let row_changes = futures::stream::unfold(
        (shared.changes.subscribe(), row_of, shown),
        |(mut changes, row_of, mut shown)| async move {
            loop {
                changes.changed().await.ok()?;
                let now = row_of();
                if now != shown {
                    shown = now;
                    return Some(((), (changes, row_of, shown)));
                }
            }
        },
    );
    let any = futures::stream::select_all([
        pods.boxed(),
        app_events.boxed(),
        driver_events.boxed(),
        row_changes.boxed(),
    ]);
    let notices = futures::stream::unfold(any, |mut any| async move {
        any.next().await?;
        tokio::time::sleep(NOTICE_EVERY).await;
        // What came meanwhile is in this notice too.
        while let Some(Some(())) = any.next().now_or_never() {}
        // Browsers drop an event whose data is empty.
        let notice = SseEvent::default().event("changed").data("1");
        Some((Ok::<_, Infallible>(notice), any))
    });
    Sse::new(notices)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// `()` for each listing a watch completes and each change it reports after one; errors are
/// retried by the watch's backoff and not reported. A listing is a notice too: what changed
/// between the page's rendering and the watch's start (or while a broken watch was down) is only
/// in the listing, and the page's first notice comes from the same half second as the others.
fn changes<K>(
    stream: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
) -> impl Stream<Item = ()> + Send + 'static {
    let mut listed = false;
    stream.filter_map(move |event| {
        let notice = match event {
            Ok(watcher::Event::InitDone) => {
                listed = true;
                true
            }
            Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => listed,
            Ok(watcher::Event::Init | watcher::Event::InitApply(_)) | Err(_) => false,
        };
        futures::future::ready(notice.then_some(()))
    })
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
    let found = if shared.shows(&namespace) {
        driver_log(&session, &name).await
    } else {
        Err(CliError::Request {
            action: format!("reading the log of {name}"),
            cause: format!("namespace {namespace} is not shown here"),
        })
    };
    let stream = match found {
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

/// Sends the browser to the driver's UI: through a port-forward of the dashboard's own (opened or
/// reused), or to the application's UI Ingress.
async fn spark_ui(
    State(shared): State<Arc<Shared>>,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    if let Some(refused) = not_shown(&shared, &namespace, &name) {
        return refused;
    }
    let target = match shared.spark_ui {
        SparkUi::Forward => forward_ui(&shared, &namespace, &name)
            .await
            .map(|address| format!("http://{address}/")),
        SparkUi::Ingress => ingress_ui(&shared, &namespace, &name).await,
        SparkUi::None => Err(CliError::Request {
            action: format!("opening the Spark UI of {name}"),
            cause: "this dashboard links to no Spark UI (--spark-ui none)".into(),
        }),
    };
    match target {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => {
            let body = html::message_body(&format!("Spark UI of {name}"), &e.to_string());
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                html::page(&name, Tab::Applications, &shared.context, &body),
            )
        }
    }
}

/// The URL of the application's UI Ingress, as the operator recorded it in the status (https when
/// the application gives the Ingress TLS).
async fn ingress_ui(shared: &Shared, namespace: &str, name: &str) -> Result<String, CliError> {
    let session = shared.session_in(namespace);
    let (_, app) = get_app(&session, name).await?;
    view::ingress_url(&app).ok_or_else(|| CliError::Request {
        action: format!("opening the Spark UI of {name}"),
        cause: "the application has no UI Ingress (the chart's controller.uiIngress makes one \
                for each application); this dashboard runs in the cluster and does not forward"
            .into(),
    })
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
    let listener = super::ui::listen(&SocketAddr::new(shared.bind, 0).to_string()).await?;
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
    fn a_page_hears_of_each_listing_and_of_the_changes_after_it() {
        let events: Vec<Result<watcher::Event<u8>, watcher::Error>> = vec![
            Ok(watcher::Event::Init),
            Ok(watcher::Event::InitApply(1)),
            Ok(watcher::Event::InitDone),
            Ok(watcher::Event::Apply(1)),
            Ok(watcher::Event::Delete(1)),
            // The watch broke and listed again.
            Ok(watcher::Event::Init),
            Ok(watcher::Event::InitApply(2)),
            Ok(watcher::Event::InitDone),
        ];
        let notices: Vec<()> =
            futures::executor::block_on(changes(futures::stream::iter(events)).collect());
        // Two listings, an update and a deletion; nothing for the objects listed.
        assert_eq!(notices.len(), 4);
    }

    #[derive(Debug, clap::Parser)]
    struct Flags {
        #[command(flatten)]
        dashboard: DashboardArgs,
    }

    #[test]
    fn namespace_lists_are_read_and_an_empty_name_is_refused() {
        use clap::Parser;
        let parsed = Flags::try_parse_from(["dashboard", "--namespaces", "b,a"]).expect("flags");
        assert_eq!(parsed.dashboard.namespaces, ["b", "a"]);
        for refused in [
            &["dashboard", "--namespaces", "a,"][..],
            &["dashboard", "--namespaces", ""],
            &["dashboard", "--namespaces", "a", "-A"],
            &["dashboard", "--namespaces", "a", "-n", "b"],
        ] {
            assert!(Flags::try_parse_from(refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn log_lines_lose_their_carriage_returns() {
        assert_eq!(sse_text("50%\r60%\r\n"), "50%60%\n");
    }
}
