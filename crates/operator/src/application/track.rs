//! Tracking: the reconcile of one application. It asks the lifecycle what follows from the
//! application and its pods; a submission goes to the submission queue, everything else (deleting a
//! run, writing the status, events, TTL) is done here. An application in the submission queue is the
//! submitters' until they are done with it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kube::Api;
use sparkplane_api::SparkApplication;
use thiserror::Error;
use tracing::Instrument;

use super::Context;
use super::apply::{self, ApplyError};
use super::cache::CachedApp;
use super::queue::AppKey;
use crate::lifecycle::{self, Decision};
use crate::metrics::ResultLabel;

#[derive(Debug, Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("the application has no namespace or name")]
    Unnamed,
    #[error("the cached application cannot be decoded: {0}")]
    Cache(#[from] serde_json::Error),
}

/// How soon to look again after a lost race (a status write on a stale read).
const CONFLICT_REQUEUE: Duration = Duration::from_millis(300);
/// How soon to look again when the pod cache lacks a driver the API server has.
const CACHE_BEHIND_REQUEUE: Duration = Duration::from_secs(1);
/// The Warning event of a status refused for its size.
const STATUS_TOO_LARGE: &str = "SparkApplicationStatusTooLarge";
/// How soon to look again when the cache is behind the operator's own write.
const ECHO_REQUEUE: Duration = Duration::from_millis(50);

pub fn key_of(
    metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<AppKey> {
    Some((metadata.namespace.clone()?, metadata.name.clone()?))
}

/// What a reconcile asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing until the application or its pods change.
    Await,
    /// Another look after this long (at once for zero).
    After(Duration),
}

/// After a failed reconcile: another look after a backoff of the application's own.
pub fn error_policy(app: &CachedApp, error: &ReconcileError, ctx: &Context) -> Next {
    let delay = key_of(&app.metadata)
        .map(|key| match error {
            ReconcileError::Apply(e) if e.is_unanswered() => ctx.backoff.unreachable(&key),
            _ => ctx.backoff.failed(&key),
        })
        .unwrap_or(Duration::from_secs(5));
    tracing::warn!(
        namespace = app.metadata.namespace.as_deref().unwrap_or_default(),
        name = app.metadata.name.as_deref().unwrap_or_default(),
        %error,
        retry_in = ?delay,
        "reconcile failed; retrying"
    );
    Next::After(delay)
}

struct InFlight<'a>(&'a crate::metrics::Metrics);

impl<'a> InFlight<'a> {
    fn new(m: &'a crate::metrics::Metrics) -> Self {
        m.in_flight.inc();
        InFlight(m)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

/// What a reconcile can tell from the cached metadata alone: the application is in a submission,
/// or the cache has not caught up with the operator's own last write (deciding now would act on
/// the state before it; its echo starts no reconcile, so look again shortly). Looked at before the
/// spec is decoded: a spec can be hundreds of kilobytes, and an application awaiting its echo is
/// looked at every 50 ms.
fn waiting(cached: &CachedApp, ctx: &Context) -> Option<Next> {
    let key = key_of(&cached.metadata)?;
    if cached.metadata.deletion_timestamp.is_some() {
        ctx.queue.remove(&key);
    }
    // Waiting for, or in, a submission: the submitters write its status; they ask for a reconcile
    // when they are done.
    if ctx.queue.holds(&key) {
        return Some(Next::Await);
    }
    ctx.own_writes
        .pending(cached)
        .then_some(Next::After(ECHO_REQUEUE))
}

pub async fn reconcile(cached: Arc<CachedApp>, ctx: Arc<Context>) -> Result<Next, ReconcileError> {
    if let Some(next) = waiting(&cached, &ctx) {
        return Ok(next);
    }
    let app = cached.app()?;
    let namespace = app.metadata.namespace.clone().unwrap_or_default();
    let name = app.metadata.name.clone().unwrap_or_default();
    let span = tracing::info_span!("reconcile", %namespace, %name);
    async move {
        if !ctx.scope.allows(&namespace) {
            return Ok(Next::Await);
        }
        // Until the first pod list is in, a missing driver means nothing: wait for it.
        if !ctx.pods.is_ready() {
            return Ok(Next::After(Duration::from_millis(200)));
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
        if result.is_ok() {
            ctx.backoff.succeeded(&(namespace, name));
        }
        result
    }
    .instrument(span)
    .await
}

async fn reconcile_app(app: &SparkApplication, ctx: &Context) -> Result<Next, ReconcileError> {
    let key = key_of(&app.metadata).ok_or(ReconcileError::Unnamed)?;
    let observed = observe(app, ctx);
    let now = Timestamp::now();
    let decision = lifecycle::settle(
        app,
        lifecycle::decide(app, &observed, now, &ctx.settings),
        &observed,
        now,
        &ctx.settings,
    );
    if decision.submits() {
        let created = app
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(now, |t| t.0);
        ctx.queue.push(key, created);
        ctx.metrics
            .submissions_waiting
            .set(ctx.queue.waiting() as i64);
        return Ok(Next::Await);
    }
    execute(app, decision, ctx, now).await
}

/// The application's pods as the lifecycle sees them.
pub fn observe(app: &SparkApplication, ctx: &Context) -> lifecycle::Observed {
    let driver_name = app
        .status
        .as_ref()
        .and_then(|s| s.driver_info.pod_name.clone())
        .unwrap_or_else(|| app.driver_pod_name());
    ctx.pods.observed(
        app.metadata.namespace.as_deref().unwrap_or_default(),
        app.metadata.name.as_deref().unwrap_or_default(),
        &driver_name,
    )
}

/// Does a decision that submits nothing: its actions in order, then its status (a write that only
/// lands on the application as it was read), then its events.
pub(super) async fn execute(
    app: &SparkApplication,
    mut decision: Decision,
    ctx: &Context,
    now: Timestamp,
) -> Result<Next, ReconcileError> {
    let namespace = app.metadata.namespace.clone().unwrap_or_default();
    let name = app.metadata.name.clone().unwrap_or_default();
    let api: Api<SparkApplication> = Api::namespaced(ctx.client.clone(), &namespace);
    if let Some(driver) = &decision.unless_driver_exists
        && apply::pod_exists(&ctx.client, &namespace, driver).await?
    {
        tracing::info!(%driver, "the pod cache is behind the API server: the driver exists");
        return Ok(Next::After(CACHE_BEHIND_REQUEUE));
    }
    let mut current = app.clone();
    for action in std::mem::take(&mut decision.actions) {
        match action {
            lifecycle::Action::RecordSpecHash(hash) => {
                let updated = apply::record_spec_hash(&api, &ctx.metrics, &name, &hash).await?;
                if updated.status != current.status {
                    // Someone wrote the status since the read: decide again on fresh data.
                    return Ok(Next::After(CONFLICT_REQUEUE));
                }
                current.metadata.resource_version = updated.metadata.resource_version;
                current.metadata.annotations = updated.metadata.annotations;
            }
            lifecycle::Action::DeleteRun(run) => {
                apply::delete_run(&ctx.client, &ctx.metrics, &namespace, &run).await?;
            }
            lifecycle::Action::DeleteApplication => {
                tracing::info!("timeToLiveSeconds passed; deleting the application");
                apply::delete_application(&api, &ctx.metrics, &current).await?;
                return Ok(Next::Await);
            }
            lifecycle::Action::Submit { .. } => {
                // Submissions go through the queue (reconcile_app); a decision never mixes them in.
                tracing::error!("a submission reached tracking; it is left to the queue");
            }
        }
    }
    let mut wrote = false;
    if let Some(status) = decision.status {
        let mut written = write_status(ctx, &api, &current, &status, now).await;
        if let Err(ApplyError::TooLarge(refusal)) = &written {
            // The application is at the API server's size limit: the status goes without what
            // grows with the run, which is what tracking needs.
            let message = format!(
                "{refusal}; written without executorState (the SparkApplication is at the API \
                 server's object size limit: shorten its spec)"
            );
            tracing::warn!(%message, "status too large");
            decision
                .events
                .push(lifecycle::EventSpec::warning(STATUS_TOO_LARGE, message));
            let trimmed = lifecycle::trimmed_status(status);
            written = write_status(ctx, &api, &current, &trimmed, now).await;
        }
        match written {
            Ok(written) => {
                current = written;
                wrote = true;
            }
            Err(ApplyError::Conflict(_)) => {
                ctx.own_writes.outdated(&current);
                return Ok(Next::After(CONFLICT_REQUEUE));
            }
            Err(ApplyError::TooLarge(refusal)) => {
                // Not even the small status fits: say so; the reconcile fails and backs off (an
                // edit of the application asks for a reconcile at once).
                ctx.events.publish(
                    &current,
                    vec![lifecycle::EventSpec::warning(
                        STATUS_TOO_LARGE,
                        format!(
                            "{refusal}, even without executorState: the SparkApplication is at \
                             the API server's object size limit; shorten its spec"
                        ),
                    )],
                );
                return Err(ApplyError::TooLarge(refusal).into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    ctx.events
        .publish(&current, std::mem::take(&mut decision.events));
    Ok(match decision.requeue_after {
        Some(after) => Next::After(after),
        // The write's echo starts no reconcile: a state whose next step follows at once (PENDING_RERUN
        // submits, SUSPENDING deletes) is looked at again now; a state with nothing to do then waits.
        None if wrote => Next::After(Duration::ZERO),
        None => Next::Await,
    })
}

/// Writes a status (conflict-safe), records the write so that its echo starts no reconcile, logs a
/// state change and updates the metrics. Returns the application as written.
pub async fn write_status(
    ctx: &Context,
    api: &Api<SparkApplication>,
    app: &SparkApplication,
    status: &sparkplane_api::SparkApplicationStatus,
    now: Timestamp,
) -> Result<SparkApplication, ApplyError> {
    let old = app.status.clone().unwrap_or_default();
    let written = apply::write_status(api, &ctx.metrics, app, status.clone()).await?;
    ctx.own_writes.record(&written);
    if old.application_state.state != status.application_state.state {
        tracing::info!(
            from = ?old.application_state.state,
            to = ?status.application_state.state,
            error = status.application_state.error_message.as_deref().unwrap_or_default(),
            "state changed"
        );
    }
    let created = app.metadata.creation_timestamp.as_ref().map(|t| t.0);
    ctx.metrics.transition(&old, status, created, now);
    Ok(written)
}
