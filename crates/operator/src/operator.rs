//! `sparkplane operator`: wires settings, client, health, leadership and the controller together.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use thiserror::Error;

use crate::application;
use crate::http::{self, Health, HttpError};
use crate::metrics::Metrics;
use crate::settings::OperatorArgs;
use crate::watch::{self, Scope};

#[derive(Debug, Error)]
pub enum OperatorError {
    #[error("connecting to the API server: {0}")]
    Client(#[source] kube::Error),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("leader election: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
    #[error("lost the leader lease; stopping so that another replica takes over")]
    LostLease,
}

/// Ctrl-C, or SIGTERM where there is one (a container runtime stopping the pod).
pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Clients to the API server as kubectl finds it: one for watches (long requests), and one whose
/// every call is abandoned after `timeout`, its written data after `unacknowledged`.
async fn clients(
    timeout: Duration,
    unacknowledged: Duration,
) -> Result<(Client, Client), OperatorError> {
    let config = kube::Config::infer()
        .await
        .map_err(|e| OperatorError::Client(kube::Error::InferConfig(e)))?;
    let watch = Client::try_from(config.clone()).map_err(OperatorError::Client)?;
    let bounded = crate::api_client::bounded(config, timeout, unacknowledged)
        .map_err(OperatorError::Client)?;
    Ok((watch, bounded))
}

pub async fn run(args: OperatorArgs) -> Result<(), OperatorError> {
    let timeout = Duration::from_secs(args.api_timeout_seconds.max(1));
    // A leader's writes must not outlive its leadership; without leader election the call
    // timeout bounds them.
    let unacknowledged = if args.leader_elect {
        crate::leadership::unacknowledged_write_limit(args.lease_duration_seconds.max(2))
    } else {
        timeout
    };
    let (watch_client, client) = clients(timeout, unacknowledged).await?;
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let server = http::serve(
        args.metrics_address,
        Health {
            metrics: metrics.clone(),
            ready: ready.clone(),
        },
    )
    .await?;
    let server = tokio::spawn(server);
    let trimmer = tokio::spawn(crate::memory::release_periodically(Duration::from_secs(30)));
    let identity = args.identity();
    tracing::info!(
        %identity,
        namespaces = ?args.namespaces,
        selector = args.namespace_selector.as_deref().unwrap_or_default(),
        "starting"
    );

    // Leadership: a follower stands by (ready, serving metrics) until the Lease is its own.
    let mut lease_rx = None;
    let mut lease_task = None;
    if args.leader_elect {
        let duration = args.lease_duration_seconds.max(2);
        let manager = LeaseManagerBuilder::new(client.clone(), &args.lease_name)
            .with_namespace(args.lease_namespace())
            .with_identity(&identity)
            .with_duration(duration)
            .with_grace(crate::leadership::renew_grace_seconds(duration))
            .build()
            .await?;
        let (mut rx, task) = manager.watch().await;
        ready.store(true, Ordering::Relaxed);
        tracing::info!(lease = %args.lease_name, "waiting for leadership");
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                return Err(OperatorError::LostLease);
            }
        }
        ready.store(false, Ordering::Relaxed);
        tracing::info!("leading");
        lease_rx = Some(rx);
        lease_task = Some(task);
    }
    metrics.leader.set(1);

    let (selected, selected_stream) = match args.namespace_selector.as_deref() {
        Some(selector) => {
            let (store, stream) = watch::namespace_scope(&watch_client, selector);
            (Some(store), Some(stream))
        }
        None => (None, None),
    };
    let scope = Scope {
        namespaces: args.namespaces.iter().cloned().collect(),
        selected,
    };
    let options = application::Options {
        watch_client: watch_client.clone(),
        client: client.clone(),
        identity: identity.clone(),
        settings: args.lifecycle(),
        metrics: metrics.clone(),
        scope: scope.clone(),
        workers: args.workers.max(1),
        concurrency: args.submission_concurrency(),
    };
    let (lost_tx, mut lost_rx) = tokio::sync::oneshot::channel::<()>();
    let lease_watch = lease_rx.map(|mut rx| {
        let own_clock = crate::leadership::watch(
            client.clone(),
            args.lease_namespace(),
            args.lease_name.clone(),
            identity.clone(),
            args.lease_duration_seconds.max(2),
        );
        tokio::spawn(async move {
            let manager_says =
                async { while rx.changed().await.is_ok() && *rx.borrow_and_update() {} };
            tokio::select! {
                () = manager_says => tracing::error!("the lease manager reports the Lease lost"),
                why = own_clock => tracing::error!(%why, "stepping down"),
            }
            let _ = lost_tx.send(());
        })
    });
    let lost = Arc::new(AtomicBool::new(false));
    let lost_flag = lost.clone();
    let abandon = Arc::new(tokio::sync::Notify::new());
    let abandon_now = abandon.clone();
    let stop = async move {
        tokio::select! {
            _ = shutdown_signal() => tracing::info!("shutting down"),
            // Only a report counts: without leader election the sender is dropped at once.
            Ok(()) = &mut lost_rx => {
                lost_flag.store(true, Ordering::Relaxed);
                tracing::error!("lost the leader lease");
                abandon_now.notify_one();
            }
        }
    };
    let scheduled = tokio::spawn(crate::scheduled::controller::run(
        // Its watches need the client without a response timeout.
        Arc::new(scheduled_context(
            &watch_client,
            &scope,
            &identity,
            &metrics,
        )),
        std::future::pending(),
    ));
    let connect = tokio::spawn(crate::connect::controller::run(
        Arc::new(crate::connect::controller::Context::new(
            watch_client.clone(),
            scope.clone(),
            &identity,
            args.master.clone(),
        )),
        std::future::pending(),
    ));
    // A shutdown lets the reconciles in flight finish; a lost Lease abandons them: one waiting on an
    // unreachable API server would land its write after another replica took over.
    tokio::select! {
        () = application::run(options, selected_stream, ready, stop) => {}
        () = abandon.notified() => {}
    }
    scheduled.abort();
    connect.abort();
    server.abort();
    trimmer.abort();
    // Release the Lease on the way out, so that a standby replica takes over at once rather than
    // after the Lease expires: the lease manager releases it when its channel closes.
    if let Some(watch) = lease_watch {
        watch.abort();
        let _ = watch.await;
    }
    if let Some(task) = lease_task {
        if lost.load(Ordering::Relaxed) {
            // Not ours any more: nothing to release.
            task.abort();
        } else {
            match tokio::time::timeout(Duration::from_secs(5), task).await {
                Ok(_) => tracing::info!("released the leader lease"),
                Err(_) => tracing::warn!("could not release the leader lease in time"),
            }
        }
    }
    // Give in-flight log lines a moment; then report how the run ended.
    tokio::time::sleep(Duration::from_millis(10)).await;
    if lost.load(Ordering::Relaxed) {
        return Err(OperatorError::LostLease);
    }
    Ok(())
}

/// The ScheduledSparkApplication controller's context: same namespaces, same selector.
fn scheduled_context(
    client: &Client,
    scope: &Scope,
    identity: &str,
    metrics: &Metrics,
) -> crate::scheduled::controller::Context {
    let scheduled_metrics = Arc::new(crate::scheduled::metrics::ScheduledMetrics::default());
    metrics.register_more(|registry| scheduled_metrics.register(registry));
    let mut context = crate::scheduled::controller::Context::new(
        client.clone(),
        scope.namespaces.clone(),
        identity,
        scheduled_metrics,
    );
    let scope = scope.clone();
    context.allows = Arc::new(move |namespace| scope.allows(namespace));
    context
}
