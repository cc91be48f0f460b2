//! `testbed-load`: measures the raw capacity of the testbed's control plane, with no operator involved.
//!
//! Creates N items from C concurrent tasks in a namespace of its own, then waits until kwok has moved
//! every pod to Running. An item is a pod; or (`--objects app`) a small ConfigMap, Service and Pod, the
//! old three-object stand-in for a submission; or (`--objects submission`) exactly what Sparkplane
//! creates to start one spark-pi driver: the objects of its submission plan, same kinds and sizes, in
//! the same order (the driver pod, then what it owns, at once). Prints one JSON object: creation rate,
//! latency percentiles and the time to all-Running.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams, WatchEvent, WatchParams};
use kube::{Api, Client};
use serde_json::json;
use sparkplane_testbed::Testbed;
use tokio::sync::Semaphore;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Objects {
    /// One Pod per item.
    Pod,
    /// A ConfigMap, a headless Service and a Pod per item: a simplified submission.
    App,
    /// The objects of Sparkplane's submission plan for a spark-pi application: the driver pod, its
    /// conf and executor-template ConfigMaps and its headless Service.
    Submission,
}

/// Measures how fast this control plane accepts objects and how fast kwok runs pods.
#[derive(Debug, Parser)]
#[command(name = "testbed-load")]
struct Args {
    /// How many items to create.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// How many creations are in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// What one item is.
    #[arg(long, value_enum, default_value_t = Objects::Pod)]
    objects: Objects,
    /// Keep the namespace afterwards instead of deleting it.
    #[arg(long)]
    keep: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let testbed = Testbed::get()?;
    let client = testbed.client().await?;
    let namespace = format!("load-{}", std::process::id());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(namespace.clone()),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            },
        )
        .await?;
    let outcome = measure(&args, client, &namespace).await;
    if !args.keep {
        namespaces
            .delete(&namespace, &DeleteParams::background())
            .await?;
    }
    println!("{}", serde_json::to_string_pretty(&outcome?)?);
    Ok(())
}

async fn measure(
    args: &Args,
    client: Client,
    namespace: &str,
) -> anyhow::Result<serde_json::Value> {
    // The default service account must exist before pods are admitted.
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), namespace);
    sparkplane_testbed::wait::until(Duration::from_secs(30), || async {
        Ok(accounts.get_opt("default").await?.is_some())
    })
    .await?;
    let default_account = accounts.get("default").await?;
    let stand_in = Arc::new(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "v1".into(),
            kind: "ServiceAccount".into(),
            name: "default".into(),
            uid: default_account.metadata.uid.unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        },
    );

    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    // The watch starts from before the first create, so no pod's progress is missed.
    let version = pods
        .list_metadata(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let start = Instant::now();
    let running_watch = tokio::spawn(count_running(pods.clone(), args.count, version, start));

    let limit = Arc::new(Semaphore::new(args.concurrency));
    let mut tasks = Vec::with_capacity(args.count);
    for i in 0..args.count {
        let permit = limit.clone().acquire_owned().await?;
        let client = client.clone();
        let namespace = namespace.to_string();
        let objects = args.objects;
        let stand_in = stand_in.clone();
        tasks.push(tokio::spawn(async move {
            let began = Instant::now();
            let result = create_item(client, &namespace, i, objects, &stand_in).await;
            drop(permit);
            result.map(|()| began.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(args.count);
    for task in tasks {
        latencies.push(task.await??);
    }
    let created_after = start.elapsed();
    let running_after = tokio::time::timeout(Duration::from_secs(600), running_watch)
        .await
        .context("pods did not all reach Running within 600 s")???;

    latencies.sort();
    let objects_per_item = match args.objects {
        Objects::Pod => 1,
        Objects::App => 3,
        Objects::Submission => submission_plan(namespace, 0)?.len(),
    };
    let seconds = created_after.as_secs_f64();
    Ok(json!({
        "objects": format!("{:?}", args.objects).to_lowercase(),
        "count": args.count,
        "concurrency": args.concurrency,
        "created_seconds": seconds,
        "items_per_second": args.count as f64 / seconds,
        "api_objects_per_second": (args.count * objects_per_item) as f64 / seconds,
        "item_latency_ms": percentiles(&latencies),
        "all_running_seconds": running_after.as_secs_f64(),
        "running_per_second": args.count as f64 / running_after.as_secs_f64(),
    }))
}

async fn create_item(
    client: Client,
    namespace: &str,
    i: usize,
    objects: Objects,
    stand_in: &k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference,
) -> anyhow::Result<()> {
    if matches!(objects, Objects::Submission) {
        return create_submission(client, namespace, i, stand_in).await;
    }
    let name = format!("load-{i}");
    let params = PostParams::default();
    if matches!(objects, Objects::App) {
        let config_map: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": format!("{name}-conf-map")},
            "immutable": true,
            "data": {"spark.properties": "spark.app.name=load\n"},
        }))?;
        Api::<ConfigMap>::namespaced(client.clone(), namespace)
            .create(&params, &config_map)
            .await?;
        let service: Service = serde_json::from_value(json!({
            "metadata": {"name": format!("{name}-driver-svc")},
            "spec": {"clusterIP": "None", "selector": {"load-item": name},
                     "ports": [{"name": "driver-rpc-port", "port": 7078}]},
        }))?;
        Api::<Service>::namespaced(client.clone(), namespace)
            .create(&params, &service)
            .await?;
    }
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"load-item": name}},
        "spec": {"restartPolicy": "Never",
                 "containers": [{"name": "main", "image": "registry.invalid/never-pulled:1",
                                 "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]},
    }))?;
    Api::<Pod>::namespaced(client, namespace)
        .create(&params, &pod)
        .await?;
    Ok(())
}

/// The driver pod and what it owns, as Sparkplane's plan has them for the `i`-th spark-pi
/// application of the namespace.
struct SubmissionObjects {
    pod: Pod,
    owned: Vec<Owned>,
}

enum Owned {
    ConfigMap(Box<ConfigMap>),
    Service(Box<Service>),
}

impl SubmissionObjects {
    fn len(&self) -> usize {
        1 + self.owned.len()
    }
}

fn submission_plan(namespace: &str, i: usize) -> anyhow::Result<SubmissionObjects> {
    let mut manifest = sparkplane_testbed::spark_pi(&format!("load-{i}"), "5s", 0);
    manifest["metadata"]["namespace"] = json!(namespace);
    manifest["metadata"]["uid"] = json!(format!("00000000-0000-4000-8000-{i:012}"));
    let app: sparkplane_api::SparkApplication = serde_json::from_value(manifest)?;
    let mut app = app;
    app.spec = sparkplane_api::defaults::spark_application_spec(app.spec);
    let plan = sparkplane_submit::build(
        &app,
        &sparkplane_submit::Settings::default(),
        sparkplane_submit::Attempt(1),
    )?;
    anyhow::ensure!(
        plan.prometheus_config_map.is_none() && plan.claims.is_empty(),
        "spark-pi's plan grew objects testbed-load does not create"
    );
    let mut owned: Vec<Owned> = plan
        .config_maps
        .into_iter()
        .map(|cm| Owned::ConfigMap(Box::new(cm)))
        .collect();
    owned.push(Owned::Service(Box::new(plan.driver_service)));
    Ok(SubmissionObjects {
        pod: plan.driver_pod,
        owned,
    })
}

/// Creates one submission's objects as Sparkplane does: the driver pod first, then what it owns
/// (owner references set to the pod's uid), all at once. With no operator there is no
/// SparkApplication: the driver pod's owner reference names the namespace's `default`
/// ServiceAccount instead (same size), since an owner that does not exist would have the garbage
/// collector delete the pod.
async fn create_submission(
    client: Client,
    namespace: &str,
    i: usize,
    stand_in: &k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference,
) -> anyhow::Result<()> {
    let mut objects = submission_plan(namespace, i)?;
    for owner in objects.pod.metadata.owner_references.iter_mut().flatten() {
        *owner = stand_in.clone();
    }
    let params = PostParams::default();
    let pod = Api::<Pod>::namespaced(client.clone(), namespace)
        .create(&params, &objects.pod)
        .await?;
    let owner = k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
        api_version: "v1".into(),
        kind: "Pod".into(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    };
    let creates = objects.owned.into_iter().map(|object| {
        let (client, owner, params) = (client.clone(), owner.clone(), params.clone());
        async move {
            match object {
                Owned::ConfigMap(mut cm) => {
                    cm.metadata.owner_references = Some(vec![owner]);
                    Api::<ConfigMap>::namespaced(client, namespace)
                        .create(&params, &cm)
                        .await
                        .map(|_| ())
                }
                Owned::Service(mut svc) => {
                    svc.metadata.owner_references = Some(vec![owner]);
                    Api::<Service>::namespaced(client, namespace)
                        .create(&params, &svc)
                        .await
                        .map(|_| ())
                }
            }
        }
    });
    for outcome in futures::future::join_all(creates).await {
        outcome?;
    }
    Ok(())
}

/// Watches the namespace's pods from `version` on and returns how long after `start` `count` of
/// them had run (Running, or already ended: a pod kwok ends quickly may be seen Succeeded first).
async fn count_running(
    pods: Api<Pod>,
    count: usize,
    mut version: String,
    start: Instant,
) -> anyhow::Result<Duration> {
    let mut running = std::collections::HashSet::new();
    loop {
        let mut stream = pods
            .watch(&WatchParams::default().timeout(290), &version)
            .await?
            .boxed();
        while let Some(event) = stream.try_next().await? {
            match event {
                WatchEvent::Added(pod) | WatchEvent::Modified(pod) => {
                    version = pod.metadata.resource_version.clone().unwrap_or(version);
                    if matches!(
                        pod.status.and_then(|s| s.phase).as_deref(),
                        Some("Running" | "Succeeded" | "Failed")
                    ) {
                        running.insert(pod.metadata.name.unwrap_or_default());
                        if running.len() >= count {
                            return Ok(start.elapsed());
                        }
                    }
                }
                WatchEvent::Bookmark(bookmark) => version = bookmark.metadata.resource_version,
                WatchEvent::Deleted(_) => {}
                WatchEvent::Error(error) => bail!("watch failed: {error:?}"),
            }
        }
    }
}

fn percentiles(sorted: &[Duration]) -> BTreeMap<&'static str, f64> {
    let at = |q: f64| -> f64 {
        if sorted.is_empty() {
            return 0.0;
        }
        let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted[index].as_secs_f64() * 1000.0
    };
    [
        ("p50", at(0.5)),
        ("p95", at(0.95)),
        ("p99", at(0.99)),
        ("max", at(1.0)),
    ]
    .into_iter()
    .collect()
}
