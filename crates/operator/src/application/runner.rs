//! Runs tracking: the workers that take applications from the tracking queue oldest first and
//! reconcile them, the timer that brings reconciles asked for later into line, and the feed that turns
//! watch events into asks.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, Stream, StreamExt};
use kube::runtime::reflector::ObjectRef;

use super::Context;
use super::queue::AppKey;
use super::track::{self, Next};
use super::work::TrackQueue;

/// Feeds `asks` into the tracking queue and runs `workers` reconciles at once until `shutdown`; then
/// lets the running reconciles finish.
pub async fn run<E: std::fmt::Display>(
    ctx: Arc<Context>,
    asks: impl Stream<Item = Result<Vec<AppKey>, E>> + Send + 'static,
    workers: usize,
    shutdown: impl Future<Output = ()>,
) {
    let feed = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut asks = std::pin::pin!(asks);
            while let Some(ask) = asks.next().await {
                match ask {
                    Ok(keys) => {
                        for key in keys {
                            ctx.tracking.ask(key);
                        }
                        ctx.metrics
                            .tracking_waiting
                            .set(ctx.tracking.waiting() as i64);
                    }
                    // The watches retry with backoff on their own; this only tells.
                    Err(error) => tracing::warn!(%error, "watch failed; retrying"),
                }
            }
        })
    };
    let timer = tokio::spawn(promote_due(ctx.tracking.clone()));
    let running: Vec<_> = (0..workers.max(1))
        .map(|_| tokio::spawn(worker(ctx.clone())))
        .collect();
    shutdown.await;
    feed.abort();
    timer.abort();
    ctx.tracking.close();
    futures::future::join_all(running).await;
}

/// Brings reconciles asked for later into line when they come due.
async fn promote_due(queue: Arc<TrackQueue>) {
    loop {
        match queue.promote_due(Instant::now()) {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => {}
                    _ = queue.timers_changed() => {}
                }
            }
            None => queue.timers_changed().await,
        }
    }
}

/// One worker: the oldest waiting application, reconciled, until the queue closes.
async fn worker(ctx: Arc<Context>) {
    while let Some(key) = ctx.tracking.take().await {
        ctx.metrics
            .tracking_waiting
            .set(ctx.tracking.waiting() as i64);
        let next = match ctx.apps.get(&ObjectRef::new(&key.1).within(&key.0)) {
            // Gone from the cache (deleted): nothing to track.
            None => {
                ctx.tracking.forget(&key);
                Next::Await
            }
            Some(app) => {
                let reconcile = AssertUnwindSafe(track::reconcile(app.clone(), ctx.clone()));
                match reconcile.catch_unwind().await {
                    Ok(Ok(next)) => next,
                    Ok(Err(error)) => track::error_policy(&app, &error, &ctx),
                    // A bug, not the application's fault: logged, retried with backoff, and the
                    // worker lives on for the others.
                    Err(_) => {
                        tracing::error!(namespace = %key.0, name = %key.1, "reconcile panicked");
                        Next::After(ctx.backoff.failed(&key))
                    }
                }
            }
        };
        ctx.tracking.done(&key);
        match next {
            Next::Await => {}
            Next::After(Duration::ZERO) => {
                ctx.tracking.ask(key);
            }
            Next::After(delay) => ctx.tracking.ask_at(key, Instant::now() + delay),
        }
    }
}
