//! The SparkApplication controller: watches applications and their pods, asks the lifecycle what to
//! do, and does it.
//!
//! Two kinds of work, with capacity of their own:
//! - **tracking** (`track`): the reconcile of an application on every change of it or of its pods:
//!   status writes, deletions, retries, TTL. Applications wait for it in a line of their own, taken in
//!   the order they asked (`work`), by workers of their own (`runner`);
//! - **submission** (`submit`): applications whose next step is a submission wait in a queue in the
//!   order they were created (`queue`), and dedicated submitters create their drivers, as many at once
//!   as the API server answers quickly (`limit`). A backlog of submissions never delays tracking.
//!
//! Writes are in `apply`, the pod index in `pods`, events (through a bounded queue) in `events`.

pub mod apply;
pub mod cache;
pub mod events;
pub mod limit;
pub mod pods;
use pods::WatchedPod;
pub mod queue;
pub mod runner;
pub mod submit;
pub mod track;
pub mod work;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use sparkplane_api::SparkApplication;
use tokio::sync::Semaphore;

use self::cache::CachedApp;
use self::events::Events;
use self::limit::{Aimd, Gate};
use self::pods::PodIndex;
use self::queue::{AppKey, SubmitQueue};
use self::work::TrackQueue;
use crate::lifecycle;
use crate::metrics::Metrics;
use crate::watch::{NamespaceStream, Scope, Tolerant, read_event, scoped_api, without_relists};
use kube::Resource;

/// How many submissions run at once.
#[derive(Debug, Clone, Copy)]
pub enum Concurrency {
    /// Always this many.
    Fixed(usize),
    /// Between `min` and `max`, raised while driver creations answer within `target`.
    Adaptive {
        min: usize,
        max: usize,
        target: Duration,
    },
}

impl Concurrency {
    fn rule(self) -> Aimd {
        match self {
            Concurrency::Fixed(n) => Aimd::fixed(n),
            Concurrency::Adaptive { min, max, target } => Aimd::new(min, max, target),
        }
    }

    /// How many submitter tasks there are: the most that may ever run at once.
    fn submitters(self) -> usize {
        match self {
            Concurrency::Fixed(n) => n.max(1),
            Concurrency::Adaptive { max, .. } => max.max(1),
        }
    }
}

/// What the controller is given.
pub struct Options {
    /// For watches (long requests).
    pub watch_client: Client,
    /// For every other call: with response timeouts, so that a hung call frees its worker.
    pub client: Client,
    pub identity: String,
    pub settings: lifecycle::Settings,
    pub metrics: Arc<Metrics>,
    pub scope: Scope,
    /// Tracking reconciles that run at once.
    pub workers: u16,
    pub concurrency: Concurrency,
}

/// Everything the reconciles and submitters share.
pub struct Context {
    pub client: Client,
    pub apps: Store<CachedApp>,
    pub pods: Arc<PodIndex>,
    pub settings: lifecycle::Settings,
    pub events: Events,
    pub metrics: Arc<Metrics>,
    pub scope: Scope,
    pub queue: SubmitQueue,
    pub gate: Gate,
    /// Bounds the submissions finishing (UI objects, status, events) after their slot was given back.
    pub finishers: Arc<Semaphore>,
    /// Applications waiting for a tracking reconcile.
    pub tracking: Arc<TrackQueue>,
    pub own_writes: OwnWrites,
    pub backoff: Backoff,
}

impl Context {
    /// Has the application reconciled soon, from outside a reconcile (a submitter that finished).
    pub fn reconcile(&self, key: &AppKey) {
        self.tracking.ask(key.clone());
    }

    /// Has the application reconciled after `delay`.
    pub fn reconcile_after(&self, key: AppKey, delay: Duration) {
        self.tracking.ask_at(key, Instant::now() + delay);
    }
}

/// The resourceVersions the operator's own writes produced, so that their echo in the watch updates
/// the cache without starting a reconcile (a write is the end of a step, not news), and so that a
/// reconcile that comes before the echo knows its copy is older than what was written. Also the
/// versions a write found outdated (a 409 on its precondition): until the watch brings another, the
/// cache holds what is known to be old, and deciding on it again would only repeat the step (seen
/// after an API server restart, while the watch relists: a submission repeated every 40 ms).
#[derive(Default)]
pub struct OwnWrites(Mutex<HashMap<AppKey, (Awaited, Instant)>>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Awaited {
    /// The echo of the operator's own write, at this version.
    Echo(String),
    /// Any version but this one, which a write found outdated.
    NewerThan(String),
}

/// How long a write's echo is waited for; past it (a watch that lost the event), the cache is trusted.
/// Long enough for a watch that is only slow: with a hundred SparkApplications of 650 KB going
/// through a busy API server the echo of a status write came after 5 to 6 s, the cache was trusted
/// while it still showed the application unsubmitted, and 128 of 300 submissions were made twice,
/// each repeat a 409 and a status write as large again, slowing the watch further (`bench/hostile`).
const ECHO_WAIT: Duration = Duration::from_secs(30);

fn key_and_version(app: &impl Resource) -> Option<(AppKey, String)> {
    let app = app.meta();
    Some((
        (app.namespace.clone()?, app.name.clone()?),
        app.resource_version.clone()?,
    ))
}

impl OwnWrites {
    pub fn record(&self, app: &impl Resource) {
        if let Some((key, rv)) = key_and_version(app) {
            self.lock().insert(key, (Awaited::Echo(rv), Instant::now()));
        }
    }

    /// Records that a write on `app` as read was refused as outdated: the cache is behind until
    /// the watch brings another version.
    pub fn outdated(&self, app: &impl Resource) {
        if let Some((key, rv)) = key_and_version(app) {
            self.lock()
                .insert(key, (Awaited::NewerThan(rv), Instant::now()));
        }
    }

    /// Takes `app`, just in from the watch, into account; whether it is exactly what the operator
    /// wrote last (then it needs no reconcile).
    fn is_echo(&self, app: &impl Resource) -> bool {
        let Some((key, rv)) = key_and_version(app) else {
            return false;
        };
        let mut writes = self.lock();
        match writes.get(&key) {
            Some((Awaited::Echo(written), _)) if *written == rv => {
                writes.remove(&key);
                true
            }
            Some((Awaited::NewerThan(old), _)) if *old != rv => {
                writes.remove(&key);
                false
            }
            _ => false,
        }
    }

    /// Whether `cached`, the cache's copy, is behind: a write has not come back through the watch
    /// yet, or it is the version a write found outdated.
    pub fn pending(&self, cached: &impl Resource) -> bool {
        let Some((key, rv)) = key_and_version(cached) else {
            return false;
        };
        let mut writes = self.lock();
        match writes.get(&key) {
            Some((_, at)) if at.elapsed() >= ECHO_WAIT => {
                writes.remove(&key);
                false
            }
            // A write that changed nothing keeps the version the cache has, and no echo comes.
            Some((Awaited::Echo(written), _)) if *written == rv => {
                writes.remove(&key);
                false
            }
            Some((Awaited::Echo(_), _)) => true,
            Some((Awaited::NewerThan(old), _)) => *old == rv,
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AppKey, (Awaited, Instant)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Per-application retry delays after API errors: exponential from half a second to a minute, with
/// jitter so that applications failing together do not come back together.
#[derive(Default)]
pub struct Backoff(Mutex<HashMap<AppKey, Failures>>);

#[derive(Default)]
struct Failures {
    count: u32,
    /// When the API server first refused this application's submission in a way that can pass.
    refused_since: Option<Instant>,
}

impl Backoff {
    const BASE: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(60);
    /// How long a submission refused in a way that can pass (`apply::ApplyError::Passing`) is tried
    /// again before the refusal fails it: an API server that has just started answers 403 until its
    /// authorization caches are filled (seen for about a second after a restart), one whose etcd is
    /// away refuses a Service's cluster IP, and a missing RoleBinding may be on its way.
    pub const REFUSAL_GRACE: Duration = Duration::from_secs(20);

    /// Retries after the API server did not answer at all grow only to this: no answer costs it
    /// nothing, and an application should not sit out a minute after a restart that took seconds.
    pub const UNREACHABLE_MAX: Duration = Duration::from_secs(8);

    /// The delay before the next try of `key`, which just failed.
    pub fn failed(&self, key: &AppKey) -> Duration {
        self.next_delay(key, Self::MAX)
    }

    /// The delay before the next try of `key`, which just failed for want of an answer (the API
    /// server unreachable, the connection cut).
    pub fn unreachable(&self, key: &AppKey) -> Duration {
        self.next_delay(key, Self::UNREACHABLE_MAX)
    }

    fn next_delay(&self, key: &AppKey, cap: Duration) -> Duration {
        let mut failures = self.lock();
        let entry = failures.entry(key.clone()).or_default();
        entry.count = entry.count.saturating_add(1);
        delay(key, entry.count, cap)
    }

    /// Records that the API server refused `key`'s submission at `now` in a way that can pass (the
    /// first such refusal counts).
    pub fn refused(&self, key: &AppKey, now: Instant) {
        self.lock()
            .entry(key.clone())
            .or_default()
            .refused_since
            .get_or_insert(now);
    }

    /// Whether such a refusal of `key` at `now` is final: they have lasted the grace period.
    pub fn refusal_is_final(&self, key: &AppKey, now: Instant) -> bool {
        self.lock()
            .get(key)
            .and_then(|f| f.refused_since)
            .is_some_and(|since| now.saturating_duration_since(since) >= Self::REFUSAL_GRACE)
    }

    pub fn succeeded(&self, key: &AppKey) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AppKey, Failures>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `n`-th retry's delay: 2^(n-1) times the base, capped at `cap`, times a jitter factor in
/// [0.5, 1.5) drawn from the key, the attempt and the clock.
fn delay(key: &AppKey, n: u32, cap: Duration) -> Duration {
    let exponential = Backoff::BASE
        .saturating_mul(1u32 << n.saturating_sub(1).min(16))
        .min(cap);
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default() as u64
        ^ u64::from(n);
    for byte in key.0.bytes().chain(key.1.bytes()) {
        seed = seed
            .wrapping_mul(0x100000001b3)
            .wrapping_add(u64::from(byte));
    }
    let jitter = 0.5 + (seed % 1000) as f64 / 1000.0;
    exponential.mul_f64(jitter)
}

/// An application with only its identity: what leaves the store on a Delete.
fn gone_app(metadata: ObjectMeta) -> CachedApp {
    CachedApp::from(SparkApplication {
        metadata,
        spec: Default::default(),
        status: None,
    })
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    options: Options,
    selected_namespaces: Option<NamespaceStream>,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let Options {
        watch_client,
        client,
        identity,
        settings,
        metrics,
        scope,
        workers,
        concurrency,
    } = options;
    let scopes = scope.watch_scopes();
    // Fed only Applies and Deletes (the watches resolve their relists per namespace, see
    // `without_relists`), each applied before it asks for a reconcile; when the first lists are in
    // is told by `apps_listed` and the pod index, not by the store.
    let (reader, mut writer) = reflector::store::<CachedApp>();
    let rule = concurrency.rule();
    metrics.submission_limit.set(rule.limit() as i64);
    let ctx = Arc::new(Context {
        client: client.clone(),
        apps: reader.clone(),
        pods: Arc::new(PodIndex::new(scopes.len())),
        settings,
        events: Events::start(client.clone(), &identity, metrics.clone()),
        metrics: metrics.clone(),
        scope: scope.clone(),
        queue: SubmitQueue::default(),
        gate: Gate::new(rule),
        finishers: Arc::new(Semaphore::new(2 * concurrency.submitters())),
        tracking: Arc::new(TrackQueue::new(usize::from(workers.max(1)))),
        own_writes: OwnWrites::default(),
        backoff: Backoff::default(),
    });

    let apps_listed = Arc::new(AtomicUsize::new(0));
    // Each object is decoded on its own straight into its cached form (one that does not read is
    // counted and skipped), before a relist gathers its items.
    let app_watches = scopes.iter().map(|scope| {
        let malformed = metrics.malformed.clone();
        let read = watcher(
            scoped_api::<Tolerant<CachedApp>>(&watch_client, scope),
            watcher::Config::default(),
        )
        .default_backoff()
        .try_filter_map(move |event| {
            let read = read_event(event, gone_app, || {
                malformed.inc();
            });
            async move { Ok(read) }
        });
        without_relists(read, gone_app, apps_listed.clone()).boxed()
    });
    let echo_ctx = ctx.clone();
    let app_stream = futures::stream::select_all(app_watches)
        .map_ok(move |ev| {
            writer.apply_watcher_event(&ev);
            ev
        })
        .applied_objects()
        // The echo of the operator's own write is in the cache now; it needs no reconcile.
        .try_filter(move |app| {
            let echo = echo_ctx.own_writes.is_echo(app);
            async move { !echo }
        });

    let pod_watches = scopes.iter().map(|scope| {
        let index = ctx.pods.clone();
        let scope = scope.clone();
        watcher(
            scoped_api::<WatchedPod>(&watch_client, &scope),
            watcher::Config::default().labels(pods::SELECTOR),
        )
        .default_backoff()
        .map_ok(move |ev| {
            let vanished = index.apply(&scope, &ev);
            match ev {
                watcher::Event::Apply(pod)
                | watcher::Event::InitApply(pod)
                | watcher::Event::Delete(pod) => pods::app_key(&pod).into_iter().collect(),
                watcher::Event::Init => Vec::new(),
                watcher::Event::InitDone => vanished,
            }
        })
        .boxed()
    });
    let pod_stream = futures::stream::select_all(pod_watches);

    // What asks for a tracking reconcile: a change of an application (not the echo of the operator's
    // own write), a change of one of its pods, and a namespace that starts matching the selector.
    let app_asks = app_stream.map_ok(|app| track::key_of(&app.metadata).into_iter().collect());
    let pod_asks = pod_stream;
    let mut asks = futures::stream::select(app_asks.boxed(), pod_asks.boxed()).boxed();
    if let Some(namespaces) = selected_namespaces {
        // The namespace stream feeds the Scope's store first, so the store knows the namespace
        // before its applications are reconciled.
        let apps = reader.clone();
        let namespace_asks = namespaces.map(move |ns: Result<Namespace, watcher::Error>| {
            ns.map(|ns| {
                let name = ns.metadata.name.unwrap_or_default();
                apps.state()
                    .into_iter()
                    .filter(|a| a.metadata.namespace.as_deref() == Some(name.as_str()))
                    .filter_map(|a| track::key_of(&a.metadata))
                    .collect()
            })
        });
        asks = futures::stream::select(asks, namespace_asks.boxed()).boxed();
    }

    // The cache-wide gauges, refreshed on a timer rather than per reconcile.
    let snapshot_ctx = ctx.clone();
    let gauges = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            let ctx = &snapshot_ctx;
            let apps = ctx.apps.state();
            ctx.metrics.snapshot(
                apps.iter()
                    .filter(|a| {
                        ctx.scope
                            .allows(a.metadata.namespace.as_deref().unwrap_or_default())
                    })
                    .map(|a| a.status.as_ref()),
            );
        }
    });

    // Once the caches are filled, the applications never submitted go in line oldest first, all at
    // once; then the submitters start. Otherwise the first reconciles of the initial list (in name
    // order, several at once) would decide who goes first.
    let start_ctx = ctx.clone();
    let submitters_count = concurrency.submitters();
    let starting = tokio::spawn(async move {
        let ctx = start_ctx;
        while !(apps_listed.load(Ordering::Relaxed) >= scopes.len() && ctx.pods.is_ready()) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ready.store(true, Ordering::Relaxed);
        let queued = queue_new_applications(&ctx);
        tracing::info!(queued, "caches filled");
        // The initial lists are read and dropped: give their pages back now rather than at the
        // next periodic trim.
        crate::memory::release();
        let submitters: Vec<_> = (0..submitters_count)
            .map(|_| tokio::spawn(submit::submitter(ctx.clone())))
            .collect();
        futures::future::join_all(submitters).await;
    });

    runner::run(ctx, asks, usize::from(workers), shutdown).await;
    starting.abort();
    gauges.abort();
}

/// Puts every application in scope that was never submitted (no state yet) in the submission queue,
/// oldest first. Returns how many.
fn queue_new_applications(ctx: &Context) -> usize {
    let mut new: Vec<(jiff::Timestamp, AppKey)> = ctx
        .apps
        .state()
        .iter()
        .filter(|app| {
            app.metadata.deletion_timestamp.is_none()
                && app.status.as_ref().is_none_or(|s| {
                    s.application_state.state == sparkplane_api::v1beta2::ApplicationStateType::New
                })
        })
        .filter_map(|app| {
            let namespace = app.metadata.namespace.clone()?;
            if !ctx.scope.allows(&namespace) {
                return None;
            }
            let created = app.metadata.creation_timestamp.as_ref()?.0;
            Some((created, (namespace, app.metadata.name.clone()?)))
        })
        .collect();
    new.sort();
    let count = new.len();
    for (created, key) in new {
        ctx.queue.push(key, created);
    }
    ctx.metrics
        .submissions_waiting
        .set(ctx.queue.waiting() as i64);
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An object as its watch decodes it.
    fn object(value: serde_json::Value) -> Tolerant<CachedApp> {
        serde_json::from_value(value).expect("any JSON object decodes")
    }

    fn read(
        event: watcher::Event<Tolerant<CachedApp>>,
        metrics: &Metrics,
    ) -> Option<watcher::Event<CachedApp>> {
        read_event(event, gone_app, || {
            metrics.malformed.inc();
        })
    }

    fn app(name: &str, rv: &str) -> SparkApplication {
        let mut app = SparkApplication {
            metadata: Default::default(),
            spec: Default::default(),
            status: None,
        };
        app.metadata.namespace = Some("ns".into());
        app.metadata.name = Some(name.into());
        app.metadata.resource_version = Some(rv.into());
        app
    }

    /// A status write that changes nothing answers with the version already cached and brings no
    /// echo: the cache is not behind, and waiting for the echo would hold the application.
    #[test]
    fn a_write_that_changed_nothing_leaves_the_cache_current() {
        let writes = OwnWrites::default();
        writes.record(&app("a", "10"));
        assert!(!writes.pending(&app("a", "10")));
        assert!(!writes.pending(&app("a", "10")), "and stays so");
    }

    #[test]
    fn only_the_exact_echo_of_an_own_write_is_skipped_and_only_once() {
        let writes = OwnWrites::default();
        writes.record(&app("a", "10"));
        assert!(!writes.is_echo(&app("a", "9")), "an older version is news");
        assert!(
            !writes.is_echo(&app("b", "10")),
            "another application is news"
        );
        assert!(
            writes.pending(&app("a", "9")),
            "the cache is behind the write"
        );
        assert!(writes.is_echo(&app("a", "10")));
        assert!(!writes.pending(&app("a", "10")), "caught up");
        assert!(
            !writes.is_echo(&app("a", "10")),
            "a second delivery is news"
        );
    }

    #[test]
    fn a_version_found_outdated_holds_the_cache_back_until_another_arrives() {
        let writes = OwnWrites::default();
        writes.outdated(&app("a", "7"));
        assert!(
            writes.pending(&app("a", "7")),
            "the cache holds version 7, known old"
        );
        assert!(
            !writes.pending(&app("a", "12")),
            "a cache already past it is not behind"
        );
        assert!(!writes.is_echo(&app("a", "7")), "a relist of 7 is no echo");
        assert!(writes.pending(&app("a", "7")), "and changes nothing");
        assert!(!writes.is_echo(&app("a", "12")), "another version is news");
        assert!(!writes.pending(&app("a", "12")), "caught up");
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_a_minute_and_resets() {
        let backoff = Backoff::default();
        let key: AppKey = ("ns".into(), "a".into());
        let delays: Vec<Duration> = (0..12).map(|_| backoff.failed(&key)).collect();
        for (n, d) in delays.iter().enumerate() {
            let nominal = Backoff::BASE
                .saturating_mul(1 << n.min(16) as u32)
                .min(Backoff::MAX);
            assert!(
                *d >= nominal.mul_f64(0.5) && *d < nominal.mul_f64(1.5),
                "retry {n}: {d:?} not within jitter of {nominal:?}"
            );
        }
        assert!(delays[11] <= Backoff::MAX.mul_f64(1.5));
        backoff.succeeded(&key);
        assert!(
            backoff.failed(&key) < Backoff::BASE.mul_f64(1.5),
            "reset after success"
        );
    }

    #[test]
    fn retries_for_want_of_an_answer_stay_short() {
        let backoff = Backoff::default();
        let key: AppKey = ("ns".into(), "a".into());
        for _ in 0..12 {
            assert!(backoff.unreachable(&key) < Backoff::UNREACHABLE_MAX.mul_f64(1.5));
        }
        // The failures count on: an answered failure after them backs off as long as ever.
        assert!(backoff.failed(&key) >= Backoff::MAX.mul_f64(0.5));
    }

    #[test]
    fn refusals_that_may_pass_become_final_only_after_the_grace_period_and_reset_on_success() {
        let backoff = Backoff::default();
        let key: AppKey = ("ns".into(), "a".into());
        let start = Instant::now();
        assert!(!backoff.refusal_is_final(&key, start), "never refused");
        backoff.refused(&key, start);
        // Later refusals do not move the start of the grace period.
        backoff.refused(&key, start + Duration::from_secs(5));
        let just_before = start + Backoff::REFUSAL_GRACE - Duration::from_millis(1);
        assert!(!backoff.refusal_is_final(&key, just_before));
        assert!(backoff.refusal_is_final(&key, start + Backoff::REFUSAL_GRACE));
        // Other failures in between (an API server down) neither start nor end the grace period.
        let other: AppKey = ("ns".into(), "b".into());
        backoff.failed(&other);
        assert!(!backoff.refusal_is_final(&other, start + Duration::from_secs(3600)));
        backoff.succeeded(&key);
        assert!(!backoff.refusal_is_final(&key, start + Duration::from_secs(3600)));
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
        assert!(read(watcher::Event::Apply(bad.clone()), &metrics).is_none());
        assert!(read(watcher::Event::InitApply(bad.clone()), &metrics).is_none());
        assert_eq!(metrics.malformed.get(), 2);
        match read(watcher::Event::Delete(bad), &metrics) {
            Some(watcher::Event::Delete(app)) => {
                assert_eq!(app.metadata.name.as_deref(), Some("bad"));
            }
            other => panic!("expected a deletion, got {other:?}"),
        }

        let good = object(serde_json::json!({
            "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
            "metadata": {"name": "good", "namespace": "ns",
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "me"}},
            "spec": {"sparkVersion": "4.0.4", "mainApplicationFile": "x", "driver": {}, "executor": {}}
        }));
        let Some(watcher::Event::Apply(app)) = read(watcher::Event::Apply(good), &metrics) else {
            panic!("a readable application passes");
        };
        let app = app.app().expect("decodes");
        assert_eq!(app.metadata.managed_fields, None, "stripped");
        assert_eq!(
            app.metadata.annotations,
            Some([("keep".to_string(), "me".to_string())].into())
        );
    }
}
