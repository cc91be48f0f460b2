//! The controller: watches SparkApplications and their pods, asks the lifecycle what to do, and does
//! it through `apply`. Thin by design: every decision is in `lifecycle`.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt, TryStreamExt};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use sparkplane_api::SparkApplication;
use thiserror::Error;
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::apply::{self, ApplyError, Submitted};
use crate::events::Events;
use crate::lifecycle::{self, Decision};
use crate::metrics::{Metrics, ResultLabel};
use crate::pods::{self, PodIndex};

#[derive(Debug, Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("the application has no namespace or name")]
    Unnamed,
}

/// Which namespaces the operator runs applications in.
#[derive(Clone)]
pub struct Scope {
    /// Empty: all.
    pub namespaces: BTreeSet<String>,
    /// Namespaces matching the label selector, when one is set.
    pub selected: Option<Store<Namespace>>,
}

impl Scope {
    pub fn allows(&self, namespace: &str) -> bool {
        (self.namespaces.is_empty() || self.namespaces.contains(namespace))
            && self
                .selected
                .as_ref()
                .is_none_or(|s| s.get(&ObjectRef::new(namespace)).is_some())
    }

    /// What each watch covers: every listed namespace on its own (so a namespace list needs only
    /// RoleBindings in those namespaces), else one cluster-wide watch ("").
    pub fn watch_scopes(&self) -> Vec<String> {
        if self.namespaces.is_empty() {
            vec![String::new()]
        } else {
            self.namespaces.iter().cloned().collect()
        }
    }
}

/// The API of `ar` in one watch scope: a namespace, or "" for every namespace.
pub(crate) fn scoped_api(client: &Client, scope: &str, ar: &ApiResource) -> Api<DynamicObject> {
    if scope.is_empty() {
        Api::all_with(client.clone(), ar)
    } else {
        Api::namespaced_with(client.clone(), scope, ar)
    }
}

fn pods_api(client: &Client, scope: &str) -> Api<Pod> {
    if scope.is_empty() {
        Api::all(client.clone())
    } else {
        Api::namespaced(client.clone(), scope)
    }
}

type WatchItem<K> = Result<watcher::Event<K>, watcher::Error>;

/// Turns one watch into Apply and Delete events only, so the watches of several namespaces can
/// feed one store: a store's own relist handling would let one namespace's relist replace all the
/// others. A relist becomes Applies of what it listed and Deletes of what it no longer has.
/// `listed` counts the watches whose first list is complete.
pub(crate) fn without_relists(
    stream: impl Stream<Item = WatchItem<DynamicObject>> + Send + 'static,
    ar: ApiResource,
    listed: Arc<AtomicUsize>,
) -> impl Stream<Item = WatchItem<DynamicObject>> + Send + 'static {
    use watcher::Event as E;
    let mut known: HashSet<(String, String)> = HashSet::new();
    let mut relist: Vec<DynamicObject> = Vec::new();
    let mut first = true;
    let key = |o: &DynamicObject| {
        (
            o.metadata.namespace.clone().unwrap_or_default(),
            o.metadata.name.clone().unwrap_or_default(),
        )
    };
    stream
        .map_ok(move |ev| {
            let out: Vec<E<DynamicObject>> = match ev {
                E::Apply(o) => {
                    known.insert(key(&o));
                    vec![E::Apply(o)]
                }
                E::Delete(o) => {
                    known.remove(&key(&o));
                    vec![E::Delete(o)]
                }
                E::Init => {
                    relist.clear();
                    vec![]
                }
                E::InitApply(o) => {
                    relist.push(o);
                    vec![]
                }
                E::InitDone => {
                    let now: HashSet<(String, String)> = relist.iter().map(key).collect();
                    let mut out: Vec<E<DynamicObject>> = known
                        .difference(&now)
                        .map(|(ns, name)| E::Delete(DynamicObject::new(name, &ar).within(ns)))
                        .collect();
                    out.extend(relist.drain(..).map(E::Apply));
                    known = now;
                    if std::mem::take(&mut first) {
                        listed.fetch_add(1, Ordering::Relaxed);
                    }
                    out
                }
            };
            futures::stream::iter(out.into_iter().map(Ok::<_, watcher::Error>))
        })
        .try_flatten()
}

pub struct Context {
    pub client: Client,
    pub pods: Arc<PodIndex>,
    pub settings: lifecycle::Settings,
    pub events: Events,
    pub metrics: Arc<Metrics>,
    pub submissions: Semaphore,
    pub scope: Scope,
}

/// How soon to look again after a lost race (a status write on a stale read).
const CONFLICT_REQUEUE: Duration = Duration::from_millis(300);
const ERROR_REQUEUE: Duration = Duration::from_secs(2);

/// Turns a watched object into a SparkApplication, stripped of what is never read. An object that
/// does not parse is reported and skipped: it must not stop the watch of every other application.
fn convert(obj: DynamicObject, metrics: &Metrics) -> Option<SparkApplication> {
    let name = obj.metadata.name.clone().unwrap_or_default();
    let namespace = obj.metadata.namespace.clone().unwrap_or_default();
    let parsed = serde_json::to_value(obj).and_then(serde_json::from_value::<SparkApplication>);
    let mut app = match parsed {
        Ok(app) => app,
        Err(error) => {
            metrics.malformed.inc();
            tracing::warn!(%namespace, %name, %error, "skipping a SparkApplication that cannot be read");
            return None;
        }
    };
    app.metadata.managed_fields = None;
    if let Some(a) = app.metadata.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    Some(app)
}

fn convert_event(
    ev: watcher::Event<DynamicObject>,
    metrics: &Metrics,
) -> Option<watcher::Event<SparkApplication>> {
    use watcher::Event as E;
    Some(match ev {
        E::Apply(o) => E::Apply(convert(o, metrics)?),
        E::InitApply(o) => E::InitApply(convert(o, metrics)?),
        E::Delete(o) => {
            // A deleted object only needs its identity to leave the store.
            let metadata = o.metadata.clone();
            E::Delete(convert(o, metrics).unwrap_or(SparkApplication {
                metadata,
                spec: Default::default(),
                status: None,
            }))
        }
        E::Init => E::Init,
        E::InitDone => E::InitDone,
    })
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    selected_namespaces: Option<NamespaceStream>,
    workers: u16,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let ar = ApiResource::erase::<SparkApplication>(&());
    let scopes = ctx.scope.watch_scopes();
    let (reader, mut writer) = reflector::store::<SparkApplication>();
    // The watches below send only Applies and Deletes (their relists are resolved per
    // namespace), so the store is declared listed from the start: the controller holds its
    // reconciles until then, and each reconcile's trigger is applied to the store before it runs.
    writer.apply_watcher_event(&watcher::Event::Init);
    writer.apply_watcher_event(&watcher::Event::InitDone);
    let metrics = ctx.metrics.clone();
    let apps_listed = Arc::new(AtomicUsize::new(0));
    let app_watches = scopes.iter().map(|scope| {
        let api = scoped_api(&client, scope, &ar);
        without_relists(
            watcher(api, watcher::Config::default()).default_backoff(),
            ar.clone(),
            apps_listed.clone(),
        )
        .boxed()
    });
    let app_stream = futures::stream::select_all(app_watches)
        .try_filter_map(move |ev| {
            let converted = convert_event(ev, &metrics);
            async move { Ok(converted) }
        })
        .map_ok(move |ev| {
            writer.apply_watcher_event(&ev);
            ev
        })
        .applied_objects();

    let pod_watches = scopes.iter().map(|scope| {
        let index = ctx.pods.clone();
        let scope = scope.clone();
        watcher(
            pods_api(&client, &scope),
            watcher::Config::default().labels(pods::SELECTOR),
        )
        .default_backoff()
        .map_ok(move |ev| {
            index.apply(&scope, &ev);
            ev
        })
        .touched_objects()
        .boxed()
    });
    let pod_stream = futures::stream::select_all(pod_watches);

    let mut controller = Controller::for_stream(app_stream, reader.clone())
        .with_config(ControllerConfig::default().concurrency(workers))
        .watches_stream(pod_stream, |pod| {
            pods::app_key(&pod)
                .map(|(ns, app)| ObjectRef::<SparkApplication>::new(&app).within(&ns))
        });
    if let Some(namespaces) = selected_namespaces {
        // A namespace that starts matching the selector brings its applications in. The trigger is
        // the stream that feeds the Scope's store, so the store knows the namespace before its
        // applications are reconciled.
        let apps = reader.clone();
        controller = controller.watches_stream(namespaces, move |ns: Namespace| {
            let name = ns.metadata.name.unwrap_or_default();
            apps.state()
                .into_iter()
                .filter(|a| a.metadata.namespace.as_deref() == Some(name.as_str()))
                .map(|a| ObjectRef::from_obj(&*a))
                .collect::<Vec<_>>()
        });
    }

    // The cache-wide gauges, refreshed on a timer rather than per reconcile.
    let (snapshot_reader, snapshot_metrics, scope) =
        (reader.clone(), ctx.metrics.clone(), ctx.scope.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            let apps = snapshot_reader.state();
            snapshot_metrics.snapshot(
                apps.iter()
                    .filter(|a| scope.allows(a.metadata.namespace.as_deref().unwrap_or_default()))
                    .map(|a| a.status.as_ref()),
            );
        }
    });

    let pods_index = ctx.pods.clone();
    tokio::spawn(async move {
        while !(apps_listed.load(Ordering::Relaxed) >= scopes.len() && pods_index.is_ready()) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ready.store(true, Ordering::Relaxed);
        tracing::info!("caches filled");
    });

    controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

/// The stream of namespaces matching the selector.
pub type NamespaceStream = futures::stream::BoxStream<'static, Result<Namespace, watcher::Error>>;

/// A store of the namespaces matching `selector` (it answers [`Scope::allows`]) and the stream
/// that fills it, for the controller to run (and use as a trigger).
pub fn namespace_scope(client: &Client, selector: &str) -> (Store<Namespace>, NamespaceStream) {
    let (reader, writer) = reflector::store();
    let api: Api<Namespace> = Api::all(client.clone());
    let stream = watcher(api, watcher::Config::default().labels(selector))
        .default_backoff()
        .modify(|ns: &mut Namespace| ns.metadata.managed_fields = None)
        .reflect(writer)
        .touched_objects()
        .boxed();
    (reader, stream)
}

/// When a deferred submission comes back: spread over 200-700 ms by name, so a burst does not
/// return all at once.
fn defer_delay(name: &str) -> Duration {
    let spread = name
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    Duration::from_millis(200 + spread % 500)
}

fn error_policy(app: Arc<SparkApplication>, error: &ReconcileError, _ctx: Arc<Context>) -> Action {
    tracing::warn!(
        namespace = app.metadata.namespace.as_deref().unwrap_or_default(),
        name = app.metadata.name.as_deref().unwrap_or_default(),
        %error,
        "reconcile failed; retrying"
    );
    Action::requeue(ERROR_REQUEUE)
}

struct InFlight<'a>(&'a Metrics);

impl<'a> InFlight<'a> {
    fn new(m: &'a Metrics) -> Self {
        m.in_flight.inc();
        InFlight(m)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

async fn reconcile(
    app: Arc<SparkApplication>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let namespace = app.metadata.namespace.clone().unwrap_or_default();
    let name = app.metadata.name.clone().unwrap_or_default();
    let span = tracing::info_span!("reconcile", %namespace, %name);
    async move {
        if !ctx.scope.allows(&namespace) {
            return Ok(Action::await_change());
        }
        // Until the first pod list is in, a missing driver means nothing: wait for it.
        if !ctx.pods.is_ready() {
            return Ok(Action::requeue(Duration::from_millis(200)));
        }
        let _in_flight = InFlight::new(&ctx.metrics);
        let started = Instant::now();
        let result = reconcile_app(&app, &ctx).await;
        ctx.metrics
            .reconcile_duration
            .observe(started.elapsed().as_secs_f64());
        let label = match &result {
            Ok(_) => "ok",
            Err(ReconcileError::Apply(e)) => e.category(),
            Err(_) => "error",
        };
        ctx.metrics
            .reconciles
            .get_or_create(&ResultLabel {
                result: label.into(),
            })
            .inc();
        result
    }
    .instrument(span)
    .await
}

async fn reconcile_app(app: &SparkApplication, ctx: &Context) -> Result<Action, ReconcileError> {
    let (Some(namespace), Some(name)) = (&app.metadata.namespace, &app.metadata.name) else {
        return Err(ReconcileError::Unnamed);
    };
    let driver_name = app
        .status
        .as_ref()
        .and_then(|s| s.driver_info.pod_name.clone())
        .unwrap_or_else(|| app.driver_pod_name());
    let observed = ctx.pods.observed(namespace, name, &driver_name);
    let now = Timestamp::now();
    let decision = lifecycle::decide(app, &observed, now, &ctx.settings);
    execute(app, decision, ctx, now).await
}

async fn execute(
    app: &SparkApplication,
    mut decision: Decision,
    ctx: &Context,
    now: Timestamp,
) -> Result<Action, ReconcileError> {
    let namespace = app.metadata.namespace.clone().unwrap_or_default();
    let name = app.metadata.name.clone().unwrap_or_default();
    let api: Api<SparkApplication> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut current = app.clone();
    // Submissions have their own bound within the workers, and a submission that finds no free
    // slot gives its worker back (it comes back later) instead of holding it: status tracking
    // always finds free workers, however many applications wait to be submitted.
    let submits = decision
        .actions
        .iter()
        .any(|a| matches!(a, lifecycle::Action::Submit { .. }));
    let mut permit = if submits {
        match ctx.submissions.try_acquire() {
            Ok(permit) => Some(permit),
            Err(_) => {
                ctx.metrics.submissions_deferred.inc();
                return Ok(Action::requeue(defer_delay(&name)));
            }
        }
    } else {
        None
    };
    for action in std::mem::take(&mut decision.actions) {
        match action {
            lifecycle::Action::RecordSpecHash(hash) => {
                let updated = apply::record_spec_hash(&api, &name, &hash).await?;
                if updated.status != current.status {
                    // Someone wrote the status since the read: decide again on fresh data.
                    return Ok(Action::requeue(CONFLICT_REQUEUE));
                }
                current.metadata.resource_version = updated.metadata.resource_version;
                current.metadata.annotations = updated.metadata.annotations;
            }
            lifecycle::Action::Submit { mut plan, attempt } => {
                ctx.metrics.submissions_in_flight.inc();
                let created = apply::create_driver(&ctx.client, &namespace, &mut plan).await;
                ctx.metrics.submissions_in_flight.dec();
                // The slot bounds the driver's creation only: the UI objects, the status write and
                // the events need no slot, and the next submission can start meanwhile.
                drop(permit.take());
                let outcome = match created {
                    Ok(None) => apply::expose_ui(&ctx.client, &namespace, &plan).await,
                    Ok(Some(rejection)) => Ok(Submitted::Rejected(rejection)),
                    Err(e) => Err(e),
                };
                let next = match outcome {
                    Ok(Submitted::Done(ui)) => {
                        tracing::info!(attempt, submission_id = %plan.submission_id, "submitted");
                        lifecycle::submitted(&current, &plan, attempt, &ui, now, &ctx.settings)
                    }
                    Ok(Submitted::Rejected(message)) => {
                        tracing::warn!(attempt, %message, "submission rejected");
                        lifecycle::submission_failed(&current, attempt, &message, now)
                    }
                    Err(ApplyError::DriverTaken { name, found }) => {
                        tracing::info!(driver = %name, ?found, "driver pod still held by an earlier submission");
                        return Ok(Action::requeue(Duration::from_secs(1)));
                    }
                    Err(e) => return Err(e.into()),
                };
                decision.status = next.status;
                decision.events.extend(next.events);
                decision.requeue_after = next.requeue_after;
            }
            lifecycle::Action::DeleteRun(run) => {
                apply::delete_run(&ctx.client, &namespace, &run).await?;
            }
            lifecycle::Action::DeleteApplication => {
                tracing::info!("timeToLiveSeconds passed; deleting the application");
                apply::delete_application(&api, &current).await?;
                return Ok(Action::await_change());
            }
        }
    }
    if let Some(status) = decision.status {
        let old = current.status.clone().unwrap_or_default();
        match apply::write_status(&api, &current, status.clone()).await {
            Ok(_) => {
                if old.application_state.state != status.application_state.state {
                    tracing::info!(
                        from = ?old.application_state.state,
                        to = ?status.application_state.state,
                        error = status.application_state.error_message.as_deref().unwrap_or_default(),
                        "state changed"
                    );
                }
                let created = app.metadata.creation_timestamp.as_ref().map(|t| t.0);
                ctx.metrics.transition(&old, &status, created, now);
            }
            Err(ApplyError::Conflict(_)) => return Ok(Action::requeue(CONFLICT_REQUEUE)),
            Err(e) => return Err(e.into()),
        }
    }
    ctx.events
        .publish_in_background(&current, std::mem::take(&mut decision.events));
    Ok(decision
        .requeue_after
        .map(Action::requeue)
        .unwrap_or_else(Action::await_change))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: serde_json::Value) -> DynamicObject {
        serde_json::from_value(value).expect("object")
    }

    fn named(ns: &str, name: &str) -> DynamicObject {
        DynamicObject::new(name, &ApiResource::erase::<SparkApplication>(&())).within(ns)
    }

    fn describe(events: Vec<watcher::Event<DynamicObject>>) -> Vec<String> {
        events
            .into_iter()
            .map(|e| match e {
                watcher::Event::Apply(o) => {
                    format!("apply {}", o.metadata.name.unwrap_or_default())
                }
                watcher::Event::Delete(o) => {
                    format!("delete {}", o.metadata.name.unwrap_or_default())
                }
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn relists_become_applies_and_deletes() {
        use watcher::Event as E;
        let input = vec![
            E::Init,
            E::InitApply(named("a", "one")),
            E::InitApply(named("a", "two")),
            E::InitDone,
            E::Apply(named("a", "three")),
            // The watch restarts; "two" went away meanwhile.
            E::Init,
            E::InitApply(named("a", "one")),
            E::InitApply(named("a", "three")),
            E::InitDone,
        ];
        let listed = Arc::new(AtomicUsize::new(0));
        let out: Vec<_> = without_relists(
            futures::stream::iter(input.into_iter().map(Ok)),
            ApiResource::erase::<SparkApplication>(&()),
            listed.clone(),
        )
        .try_collect()
        .await
        .expect("events");
        assert_eq!(
            describe(out),
            [
                "apply one",
                "apply two",
                "apply three",
                "delete two",
                "apply one",
                "apply three"
            ]
        );
        assert_eq!(listed.load(Ordering::Relaxed), 1, "counted once per watch");
    }

    #[test]
    fn a_malformed_application_is_skipped_and_still_leaves_the_store() {
        let metrics = Metrics::new();
        // Unreadable: a state no version of the API has.
        let bad = object(serde_json::json!({
            "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
            "metadata": {"name": "bad", "namespace": "ns",
                "managedFields": [{"manager": "kubectl"}]},
            "spec": {"sparkVersion": "4.0.4", "mainApplicationFile": "x", "driver": {}, "executor": {}},
            "status": {"applicationState": {"state": "EXPLODED"}}
        }));
        assert!(convert_event(watcher::Event::Apply(bad.clone()), &metrics).is_none());
        assert!(convert_event(watcher::Event::InitApply(bad.clone()), &metrics).is_none());
        assert_eq!(metrics.malformed.get(), 2);
        match convert_event(watcher::Event::Delete(bad), &metrics) {
            Some(watcher::Event::Delete(app)) => {
                assert_eq!(app.metadata.name.as_deref(), Some("bad"));
            }
            other => panic!("expected a deletion, got {other:?}"),
        }

        let mut good = object(serde_json::json!({
            "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
            "metadata": {"name": "good", "namespace": "ns",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "me"}},
            "spec": {"sparkVersion": "4.0.4", "mainApplicationFile": "x", "driver": {}, "executor": {}}
        }));
        good.metadata.managed_fields = Some(vec![Default::default()]);
        let Some(watcher::Event::Apply(app)) = convert_event(watcher::Event::Apply(good), &metrics)
        else {
            panic!("a readable application passes");
        };
        assert_eq!(app.metadata.managed_fields, None, "stripped");
        assert_eq!(
            app.metadata.annotations,
            Some([("keep".to_string(), "me".to_string())].into())
        );
    }
}
