//! The submission pipeline against the testbed: drivers are created in the order the applications
//! were, and status tracking keeps up while a backlog of submissions waits.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher;
use sparkplane_api::v1beta2::ApplicationStateType as State;
use support::*;

const MINUTE: Duration = Duration::from_secs(60);

/// The names of driver pods in the order a watch first saw them.
struct DriverOrder {
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl DriverOrder {
    fn start(env: &Env) -> DriverOrder {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let stream = watcher(
            env.pods(),
            watcher::Config::default().labels("spark-role=driver"),
        );
        let task = tokio::spawn(async move {
            let mut stream = stream.boxed();
            while let Ok(Some(event)) = stream.try_next().await {
                if let watcher::Event::Apply(pod) | watcher::Event::InitApply(pod) = event {
                    let name = pod.metadata.name.unwrap_or_default();
                    if let Ok(mut seen) = sink.lock()
                        && !seen.contains(&name)
                    {
                        seen.push(name);
                    }
                }
            }
        });
        DriverOrder { seen, task }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for DriverOrder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Applications created a second apart, named so that their names sort the other way round, all
/// waiting when the operator starts (its first list delivers them in name order): one submitter
/// creates their drivers oldest first.
#[tokio::test]
async fn drivers_are_created_in_the_order_applications_were() -> anyhow::Result<()> {
    let env = setup("op-order").await?;
    let created = ["f", "e", "d", "c", "b", "a"];
    for (i, name) in created.iter().enumerate() {
        if i > 0 {
            // creationTimestamp has a resolution of one second.
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        create(&env, &app(name, "60s", 0)).await?;
    }
    let order = DriverOrder::start(&env);
    let _op = Operator::start(&env, &["--submission-concurrency", "1"])?;
    sparkplane_testbed::wait::until(MINUTE, || async { Ok(order.seen().len() == created.len()) })
        .await?;
    let expected: Vec<String> = created.iter().map(|n| format!("{n}-driver")).collect();
    assert_eq!(
        order.seen(),
        expected,
        "drivers in another order than creation"
    );
    Ok(())
}

/// A running application whose driver ends while hundreds of applications wait to be submitted (one
/// submitter, so the queue drains slowly) is still followed at once: tracking has workers of its own.
#[tokio::test]
async fn tracking_keeps_up_while_submissions_wait() -> anyhow::Result<()> {
    let env = setup("op-backlog").await?;
    let op = Operator::start(&env, &["--submission-concurrency", "1"])?;
    create(&env, &app("early", "3s", 0)).await?;
    wait_state(&env, "early", State::Running, MINUTE).await?;

    // The backlog, created at once while early's driver runs.
    let burst = 200;
    let creates = (0..burst).map(|i| {
        let env = &env;
        async move { create(env, &app(&format!("burst-{i:03}"), "120s", 0)).await }
    });
    for result in futures::future::join_all(creates).await {
        result?;
    }

    // When early's driver ends, how long until its application is COMPLETED, and how long the
    // queue still is then.
    let pods = env.pods();
    sparkplane_testbed::wait::until(MINUTE, || async {
        let pod: Pod = pods.get("early-driver").await?;
        Ok(pod.status.and_then(|s| s.phase).as_deref() == Some("Succeeded"))
    })
    .await?;
    let ended = Instant::now();
    wait_state(&env, "early", State::Completed, MINUTE).await?;
    let lag = ended.elapsed();
    let waiting = op
        .metrics()
        .await?
        .lines()
        .find_map(|l| {
            l.strip_prefix("sparkplane_submissions_waiting ")?
                .parse::<f64>()
                .ok()
        })
        .unwrap_or_default();
    eprintln!("early's status followed its driver in {lag:?}, with {waiting} submissions waiting");
    assert!(
        waiting >= 50.0,
        "the backlog was (almost) gone before early's driver ended: this test needs a longer one"
    );
    assert!(
        lag < Duration::from_secs(5),
        "early's status lagged {lag:?} behind its driver with {waiting} submissions waiting"
    );
    Ok(())
}
