//! The submitters: each takes the oldest application in the submission queue, looks at it afresh
//! (it may have changed while it waited), builds its plan and creates what its driver needs to start,
//! inside a place of the submission gate. The place is given back as soon as the driver's objects are
//! created; the rest of the submission (the UI Service and Ingress, the status, the events) finishes
//! in a task of its own, bounded too, while the submitter takes the next application.

use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use kube::Api;
use kube::runtime::reflector::ObjectRef;
use sparkplane_api::SparkApplication;
use sparkplane_submit::SubmissionPlan;
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

use super::Context;
use super::apply::{self, ApplyError, Submitted};
use super::limit::Outcome;
use super::queue::AppKey;
use super::track::{ReconcileError, execute, observe, write_status};
use crate::lifecycle::{self, Decision};

/// One submitter: forever, tracking caught up, a place in the gate, then the oldest application
/// waiting.
pub async fn submitter(ctx: Arc<Context>) {
    loop {
        // Following what runs comes before starting more: under a saturated API server, a backlog
        // of status writes would otherwise grow for as long as the submissions last.
        ctx.tracking.caught_up().await;
        let pass = ctx.gate.enter().await;
        let key = ctx.queue.pop().await;
        ctx.metrics
            .submissions_waiting
            .set(ctx.queue.waiting() as i64);
        let outcome = submit(&ctx, &key).await;
        ctx.gate.leave(pass, outcome);
        ctx.metrics.submission_limit.set(ctx.gate.load().0 as i64);
    }
}

/// Submits `key` up to the creation of its driver's objects; hands the rest to a finishing task.
/// Returns what the gate learns from it.
async fn submit(ctx: &Arc<Context>, key: &AppKey) -> Outcome {
    let Some(app) = ctx
        .apps
        .get(&ObjectRef::new(&key.1).within(&key.0))
        .and_then(|cached| cached.app().ok())
    else {
        // Deleted while it waited.
        ctx.queue.done(key);
        return Outcome::Answered(std::time::Duration::ZERO);
    };
    let observed = observe(&app, ctx);
    let now = Timestamp::now();
    let mut decision = lifecycle::decide(&app, &observed, now, &ctx.settings);
    if !decision.submits() {
        // No longer a submission (suspended, changed, already submitted): tracking takes it.
        ctx.queue.done(key);
        ctx.reconcile(key);
        return Outcome::Answered(std::time::Duration::ZERO);
    }
    let mut current = app.clone();
    let api: Api<SparkApplication> = Api::namespaced(ctx.client.clone(), &key.0);
    let mut submission = None;
    for action in std::mem::take(&mut decision.actions) {
        match action {
            lifecycle::Action::RecordSpecHash(hash) => {
                // Only applications that carry the annotation from an earlier operator get here.
                match apply::record_spec_hash(&api, &ctx.metrics, &key.1, &hash).await {
                    Ok(updated) if updated.status == current.status => {
                        current.metadata.resource_version = updated.metadata.resource_version;
                        current.metadata.annotations = updated.metadata.annotations;
                    }
                    Ok(_) => return give_up(ctx, key, None),
                    Err(error) => return give_up(ctx, key, Some(error)),
                }
            }
            lifecycle::Action::Submit { attempt } => submission = Some(attempt),
            other => {
                tracing::error!(action = ?other, "a submission decision with another action; left to tracking");
                return give_up(ctx, key, None);
            }
        }
    }
    let Some(attempt) = submission else {
        return give_up(ctx, key, None);
    };
    // The plan is built here, once, from the application as it is now.
    let mut plan = match lifecycle::plan(&current, attempt, now, &ctx.settings) {
        Ok(plan) => Box::new(plan),
        Err(refused) => {
            refuse(ctx, key, &current, *refused, now).await;
            return Outcome::Answered(std::time::Duration::ZERO);
        }
    };
    ctx.metrics.submissions_in_flight.inc();
    let started = Instant::now();
    let refusals_final = ctx.backoff.refusal_is_final(key, Instant::now());
    let created = apply::create_driver(&target(ctx, &key.0, refusals_final), &mut plan).await;
    ctx.metrics.submissions_in_flight.dec();
    let outcome = match &created {
        Err(error) if error.is_overload() => Outcome::Overloaded,
        _ => Outcome::Answered(started.elapsed()),
    };
    // Back pressure: a submitter goes on only when a finisher is free.
    let Ok(permit) = ctx.finishers.clone().acquire_owned().await else {
        ctx.queue.done(key);
        return outcome;
    };
    let finisher = Finish {
        ctx: ctx.clone(),
        key: key.clone(),
        app: current,
        added: decision,
        plan,
        attempt,
        refusals_final,
    };
    let span = tracing::info_span!("submission", namespace = %key.0, name = %key.1, attempt);
    tokio::spawn(finisher.run(created, permit).instrument(span));
    outcome
}

/// Records that Spark's rules refuse the application (its status and events), and lets it go.
async fn refuse(
    ctx: &Arc<Context>,
    key: &AppKey,
    app: &SparkApplication,
    refused: Decision,
    now: Timestamp,
) {
    let api: Api<SparkApplication> = Api::namespaced(ctx.client.clone(), &key.0);
    let written = match refused.status {
        Some(status) => match write_status(ctx, &api, app, &status, now).await {
            Ok(written) => written,
            Err(error) => {
                give_up(ctx, key, Some(error));
                return;
            }
        },
        None => app.clone(),
    };
    ctx.queue.done(key);
    ctx.reconcile(key);
    ctx.events.publish(&written, refused.events);
}

fn target<'a>(ctx: &'a Context, namespace: &'a str, refusals_final: bool) -> apply::Target<'a> {
    apply::Target {
        client: &ctx.client,
        metrics: &ctx.metrics,
        namespace,
        refusals_final,
    }
}

/// Leaves a submission for later: out of the queue, tracked again after a backoff when an API call
/// failed, at once otherwise.
fn give_up(ctx: &Arc<Context>, key: &AppKey, error: Option<ApplyError>) -> Outcome {
    ctx.queue.done(key);
    match error {
        Some(error) => {
            if matches!(error, ApplyError::Passing(_)) {
                ctx.backoff.refused(key, Instant::now());
            }
            let delay = if error.is_unanswered() {
                ctx.backoff.unreachable(key)
            } else {
                ctx.backoff.failed(key)
            };
            tracing::warn!(namespace = %key.0, name = %key.1, %error, retry_in = ?delay, "submission failed; retrying");
            let outcome = if error.is_overload() {
                Outcome::Overloaded
            } else {
                Outcome::Answered(std::time::Duration::ZERO)
            };
            ctx.reconcile_after(key.clone(), delay);
            outcome
        }
        None => {
            ctx.reconcile(key);
            Outcome::Answered(std::time::Duration::ZERO)
        }
    }
}

/// The rest of a submission, after its driver's objects were created.
struct Finish {
    ctx: Arc<Context>,
    key: AppKey,
    app: SparkApplication,
    /// The decision that submitted: its events (SparkApplicationAdded) are recorded with the outcome.
    added: Decision,
    plan: Box<SubmissionPlan>,
    attempt: u32,
    /// Whether a refusal that may pass now fails the submission ([`super::Backoff::REFUSAL_GRACE`]).
    refusals_final: bool,
}

impl Finish {
    async fn run(self, created: Result<Option<String>, ApplyError>, _permit: OwnedSemaphorePermit) {
        let Finish {
            ctx,
            key,
            app,
            added,
            plan,
            attempt,
            refusals_final,
        } = self;
        let outcome = match created {
            Ok(None) => apply::expose_ui(&target(&ctx, &key.0, refusals_final), &plan).await,
            Ok(Some(rejection)) => Ok(Submitted::Rejected(rejection)),
            Err(error) => Err(error),
        };
        // The attempt's time is when its objects exist, as Kubeflow records it after spark-submit
        // returns: retry intervals count from there, not from a wait in the queue.
        let now = Timestamp::now();
        let next = match outcome {
            Ok(Submitted::Done(ui)) => {
                tracing::info!(submission_id = %plan.submission_id, "submitted");
                lifecycle::submitted(&app, &plan, attempt, &ui, now, &ctx.settings)
            }
            Ok(Submitted::Rejected(message)) => {
                tracing::warn!(%message, "submission rejected");
                lifecycle::submission_failed(&app, attempt, &message, now)
            }
            Err(ApplyError::DriverTaken { name, found }) => {
                tracing::info!(driver = %name, ?found, "driver pod still held by an earlier submission");
                ctx.queue.done(&key);
                ctx.reconcile_after(key, std::time::Duration::from_secs(1));
                return;
            }
            Err(error) => {
                give_up(&ctx, &key, Some(error));
                return;
            }
        };
        // What the pods already show is written with it (a driver already running: RUNNING; one
        // already ended: COMPLETED, its UI objects deleted), done as tracking does it.
        let observed = observe(&app, &ctx);
        let mut settled = lifecycle::settle(&app, next, &observed, now, &ctx.settings);
        let mut events = added.events;
        events.append(&mut settled.events);
        settled.events = events;
        match execute(&app, settled, &ctx, now).await {
            Ok(_) => ctx.backoff.succeeded(&key),
            Err(ReconcileError::Apply(error)) => {
                give_up(&ctx, &key, Some(error));
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "finishing a submission failed");
                give_up(&ctx, &key, None);
                return;
            }
        }
        ctx.queue.done(&key);
        // Tracking takes over (the write's echo starts no reconcile): it sets its own timers, such
        // as the grace period of a driver pod not seen yet.
        ctx.reconcile(&key);
    }
}
