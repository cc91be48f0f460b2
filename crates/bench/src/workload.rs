//! One workload against a running operator: watch the namespace's driver pods and applications,
//! create the applications (all at once or at a steady rate), wait until every one is finished,
//! and keep each application's times as the harness's clock saw them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DynamicObject, PostParams};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use sparkplane_bench::results::{Samples, Workload, WorkloadKind};
use tokio::sync::watch;

use crate::cluster::{Cluster, application};
use crate::process::Process;

/// The label Sparkplane and Kubeflow both put on a driver pod, naming its application.
const APP_NAME_LABEL: &str = "sparkoperator.k8s.io/app-name";

pub struct Spec {
    pub name: String,
    pub kind: WorkloadKind,
    pub namespace: String,
    pub complete_after: String,
    /// How long to wait, after the last create, for every application to finish.
    pub finish_within: Duration,
}

impl Spec {
    fn count(&self) -> usize {
        match self.kind {
            WorkloadKind::Burst { count, .. } | WorkloadKind::TopUp { count, .. } => count,
            WorkloadKind::Steady { rate, seconds } => (rate * seconds).round() as usize,
        }
    }
}

/// The shared record of one workload: times in milliseconds since `epoch`.
struct Recorder {
    epoch: Instant,
    index: HashMap<String, usize>,
    samples: Mutex<Samples>,
    finished: watch::Sender<usize>,
}

fn round_ms(elapsed: Duration) -> f64 {
    (elapsed.as_secs_f64() * 100_000.0).round() / 100.0
}

impl Recorder {
    fn now(&self) -> f64 {
        round_ms(self.epoch.elapsed())
    }

    fn set(&self, name: &str, column: impl FnOnce(&mut Samples) -> &mut Vec<Option<f64>>) {
        let at = self.now();
        let Some(&i) = self.index.get(name) else {
            return;
        };
        if let Ok(mut samples) = self.samples.lock() {
            let slot = &mut column(&mut samples)[i];
            if slot.is_none() {
                *slot = Some(at);
            }
        }
    }

    fn saw_pod(&self, pod: &Pod) {
        let Some(app) = pod.labels().get(APP_NAME_LABEL) else {
            return;
        };
        self.set(app, |s| &mut s.driver_seen_ms);
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            self.set(app, |s| &mut s.driver_terminal_ms);
        }
    }

    fn saw_application(&self, app: &DynamicObject) {
        let state = app.data["status"]["applicationState"]["state"].as_str();
        let failed = match state {
            Some("COMPLETED") => false,
            Some("FAILED") => true,
            _ => return,
        };
        let name = app.name_any();
        let Some(&i) = self.index.get(&name) else {
            return;
        };
        let at = self.now();
        let newly_finished = self.samples.lock().ok().is_some_and(|mut samples| {
            if samples.app_terminal_ms[i].is_some() {
                return false;
            }
            samples.app_terminal_ms[i] = Some(at);
            samples.app_failed[i] = failed;
            true
        });
        if newly_finished {
            self.finished.send_modify(|n| *n += 1);
        }
    }
}

/// Follows a watch until aborted; says once on `ready` that the initial list is in.
fn follow<K, F>(
    api: Api<K>,
    config: watcher::Config,
    ready: tokio::sync::oneshot::Sender<()>,
    mut saw: F,
) -> tokio::task::JoinHandle<()>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    F: FnMut(&K) + Send + 'static,
{
    tokio::spawn(async move {
        let mut ready = Some(ready);
        let mut events = watcher(api, config).boxed();
        loop {
            match events.try_next().await {
                Ok(Some(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj))) => saw(&obj),
                Ok(Some(watcher::Event::InitDone)) => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(());
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => return,
                // The watcher starts over by itself; a pause keeps a failing server from being hammered.
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    })
}

struct Creations {
    errors: usize,
    first_error: Option<String>,
}

async fn create_one(
    api: &Api<DynamicObject>,
    recorder: &Recorder,
    name: &str,
    complete_after: &str,
) -> Result<(), String> {
    let app = application(name, complete_after).map_err(|e| format!("{e:#}"))?;
    recorder.set(name, |s| &mut s.create_sent_ms);
    match api.create(&PostParams::default(), &app).await {
        Ok(_) => {
            recorder.set(name, |s| &mut s.create_returned_ms);
            Ok(())
        }
        Err(e) => Err(format!("creating {name}: {e}")),
    }
}

async fn create_all(
    spec: &Spec,
    api: Api<DynamicObject>,
    recorder: Arc<Recorder>,
    names: Vec<String>,
) -> Creations {
    let results: Vec<Result<(), String>> = match spec.kind {
        WorkloadKind::Burst { concurrency, .. } | WorkloadKind::TopUp { concurrency, .. } => {
            futures::stream::iter(names)
                .map(|name| {
                    let (api, recorder) = (api.clone(), recorder.clone());
                    let complete_after = spec.complete_after.clone();
                    async move { create_one(&api, &recorder, &name, &complete_after).await }
                })
                .buffer_unordered(concurrency.max(1))
                .collect()
                .await
        }
        WorkloadKind::Steady { rate, .. } => {
            // One task per create, started on schedule: a slow create does not hold back the next.
            let start = tokio::time::Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for (i, name) in names.into_iter().enumerate() {
                tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
                let (api, recorder) = (api.clone(), recorder.clone());
                let complete_after = spec.complete_after.clone();
                tasks.spawn(
                    async move { create_one(&api, &recorder, &name, &complete_after).await },
                );
            }
            let mut results = Vec::new();
            while let Some(done) = tasks.join_next().await {
                results.push(done.unwrap_or_else(|e| Err(format!("a create task failed: {e}"))));
            }
            results
        }
    };
    let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    Creations {
        errors: errors.len(),
        first_error: errors.into_iter().next(),
    }
}

/// Runs one workload against `operator` (which must already be watching `spec.namespace`).
pub async fn run(cluster: &Cluster, operator: &Process, spec: &Spec) -> anyhow::Result<Workload> {
    let count = spec.count();
    let prefix = spec.name.replace(['/', '.'], "-");
    let names: Vec<String> = (0..count).map(|i| format!("{prefix}-{i:05}")).collect();
    let (finished_tx, mut finished_rx) = watch::channel(0usize);
    let recorder = Arc::new(Recorder {
        epoch: Instant::now(),
        index: names
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, n)| (n, i))
            .collect(),
        samples: Mutex::new(Samples::with_len(count)),
        finished: finished_tx,
    });

    let (pods_ready, pods_listed) = tokio::sync::oneshot::channel();
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &spec.namespace);
    let pod_recorder = recorder.clone();
    let pod_watch = follow(
        pods,
        watcher::Config::default().labels("spark-role=driver"),
        pods_ready,
        move |pod| pod_recorder.saw_pod(pod),
    );
    let (apps_ready, apps_listed) = tokio::sync::oneshot::channel();
    let apps = cluster.applications(&spec.namespace);
    let app_recorder = recorder.clone();
    let app_watch = follow(
        apps.clone(),
        watcher::Config::default(),
        apps_ready,
        move |app| app_recorder.saw_application(app),
    );
    let outcome = async {
        tokio::time::timeout(Duration::from_secs(60), async {
            pods_listed.await?;
            apps_listed.await
        })
        .await
        .context("the harness's watches did not start within 60 s")??;

        operator.take_tree_peak();
        let cpu_before = operator.cpu_seconds();
        let creations = create_all(spec, apps, recorder.clone(), names).await;
        let created = count - creations.errors;
        let timed_out =
            tokio::time::timeout(spec.finish_within, finished_rx.wait_for(|n| *n >= created))
                .await
                .is_err();
        let cpu_after = operator.cpu_seconds();
        anyhow::Ok((creations, timed_out, cpu_before, cpu_after))
    }
    .await;
    pod_watch.abort();
    app_watch.abort();
    let (creations, timed_out, cpu_before, cpu_after) = outcome?;
    let samples = recorder
        .samples
        .lock()
        .map(|s| s.clone())
        .map_err(|_| anyhow::anyhow!("a watch task panicked while recording"))?;
    Ok(Workload {
        name: spec.name.clone(),
        kind: spec.kind.clone(),
        namespace: spec.namespace.clone(),
        samples,
        cpu_seconds: cpu_before.zip(cpu_after).map(|(a, b)| b - a),
        peak_rss_kib: operator.memory().map(|(_, hwm)| hwm),
        tree_peak_rss_kib: operator.take_tree_peak(),
        timed_out,
        create_errors: creations.errors,
        first_create_error: creations.first_error,
    })
}
