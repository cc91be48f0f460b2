//! `sparkplane-bench hostile`: the operator's memory under hostile input, in one run. A fresh
//! operator takes, in turn: plain applications alone; as many again beside as many huge ones
//! (thousands of sparkConf keys, long arguments, annotations full of unicode and markup, a pod
//! template nested deep); then the huge ones deleted. Figures: resident memory per held
//! application of each kind against the bytes the API server stores for it, how long the plain
//! applications take to complete beside the huge ones against alone, and what is given back once
//! the huge ones are gone.

use std::time::{Duration, Instant};

use anyhow::Context;
use kube::api::{DeleteParams, DynamicObject, ListParams, PostParams};
use serde::Serialize;
use serde_json::json;

use crate::cluster::{Cluster, application};
use crate::operators::Controller;
use crate::process::Process;
use crate::say;

#[derive(Debug, clap::Args)]
pub struct HostileArgs {
    /// Applications of each kind (plain alone, plain beside huge, huge).
    #[arg(long, default_value_t = 100)]
    pub apps: usize,
    /// sparkConf keys of each huge application.
    #[arg(long, default_value_t = 2000)]
    pub conf_keys: usize,
    #[command(flatten)]
    pub measurement: crate::Measurement,
}

/// The operator's resident memory at one point, and the sampled peak since the previous point.
#[derive(Debug, Serialize)]
pub struct Point {
    pub after: String,
    pub rss_mib: f64,
    pub peak_mib: f64,
    /// The operator's CPU time since it started (user + system).
    pub cpu_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct HostileResults {
    pub command: String,
    pub commit: String,
    pub applications_per_kind: usize,
    pub plain_alone: Kind,
    pub plain_beside_huge: Kind,
    pub huge: Kind,
    /// Seconds the harness took to create the mixed batch (one at a time).
    pub mixed_created_in_seconds: f64,
    pub points: Vec<Point>,
    /// Resident memory added per huge application (KiB): the growth from the plain ones alone to
    /// the huge ones beside as many plain, over the huge ones (an upper bound: the plain ones beside
    /// them count too).
    pub resident_kib_per_huge: f64,
    /// Resident bytes per stored byte of a huge application.
    pub huge_resident_per_stored_byte: f64,
    /// Resident memory given back once the huge applications were deleted (MiB).
    pub released_mib: f64,
}

/// A plain application with everything a hostile user can put in one: `keys` sparkConf entries,
/// 500 arguments, 100 annotations mixing scripts, right-to-left overrides and characters outside
/// the BMP, and a pod template nested 64 levels deep.
pub fn huge_application(name: &str, keys: usize) -> anyhow::Result<DynamicObject> {
    let mut app = serde_json::to_value(application(name, "2s")?)?;
    let odd = "<script>alert('x')</script> \u{202e}txt.exe 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ";
    let conf: serde_json::Map<String, serde_json::Value> = (0..keys)
        .map(|i| {
            let value = format!("{i:05}-{}", "v".repeat(160));
            (format!("spark.hostile.key{i:05}"), json!(value))
        })
        .collect();
    app["spec"]["sparkConf"] = serde_json::Value::Object(conf);
    app["spec"]["arguments"] = json!(
        (0..500)
            .map(|i| format!("{i} {odd}{}", "a".repeat(100)))
            .collect::<Vec<_>>()
    );
    let annotations: serde_json::Map<String, serde_json::Value> = (0..100)
        .map(|i| (format!("hostile.example/a{i:03}"), json!(odd.repeat(16))))
        .collect();
    app["metadata"]["annotations"] = serde_json::Value::Object(annotations);
    let mut nested = json!("bottom");
    for _ in 0..64 {
        nested = json!({ "x": nested });
    }
    app["spec"]["driver"]["template"] = json!({
        "metadata": {"labels": {"hostile": "yes"}},
        "junk": nested
    });
    app["metadata"]["labels"] = json!({"bench.sparkplane.io/kind": "huge"});
    Ok(serde_json::from_value(app)?)
}

fn plain(name: &str) -> anyhow::Result<DynamicObject> {
    let mut app = application(name, "2s")?;
    app.metadata.labels = Some([("bench.sparkplane.io/kind".into(), "plain".into())].into());
    Ok(app)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Resident memory now and the peak since the last point, once the operator has been idle.
async fn point(operator: &mut Process, after: &str) -> anyhow::Result<(Point, u64)> {
    operator.wait_idle(Duration::from_secs(60)).await?;
    let (rss, _) = operator
        .memory()
        .context("the operator's memory is unreadable")?;
    let peak = operator.take_tree_peak().unwrap_or(rss).max(rss);
    say(format!(
        "hostile: {after}: {:.1} MiB resident (peak {:.1})",
        mib(rss),
        mib(peak)
    ));
    Ok((
        Point {
            after: after.to_owned(),
            rss_mib: mib(rss),
            peak_mib: mib(peak),
            cpu_seconds: operator.cpu_seconds().unwrap_or(f64::NAN),
        },
        rss,
    ))
}

/// What the completed applications of one kind say about themselves.
#[derive(Debug, Serialize, Default)]
pub struct Kind {
    /// Mean bytes of the JSON the API server returns for one.
    pub stored_bytes: f64,
    /// From creation to the end (`terminationTime`), seconds (whole: the API's resolution).
    pub median_seconds: f64,
    pub max_seconds: f64,
}

fn kind_of(items: &[DynamicObject], name_prefix: &str) -> Kind {
    let chosen: Vec<&DynamicObject> = items
        .iter()
        .filter(|a| {
            a.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with(name_prefix))
        })
        .collect();
    let mut seconds: Vec<f64> = chosen
        .iter()
        .filter_map(|a| {
            let created = a.metadata.creation_timestamp.as_ref()?.0;
            let ended: jiff::Timestamp =
                a.data["status"]["terminationTime"].as_str()?.parse().ok()?;
            Some(ended.duration_since(created).as_secs_f64())
        })
        .collect();
    seconds.sort_by(f64::total_cmp);
    let bytes: usize = chosen
        .iter()
        .map(|a| serde_json::to_vec(a).map(|v| v.len()).unwrap_or(0))
        .sum();
    Kind {
        stored_bytes: bytes as f64 / chosen.len().max(1) as f64,
        median_seconds: seconds.get(seconds.len() / 2).copied().unwrap_or(f64::NAN),
        max_seconds: seconds.last().copied().unwrap_or(f64::NAN),
    }
}

/// Waits until every application of `kind` in `namespace` completed; returns them as listed.
async fn wait_completed(
    cluster: &Cluster,
    namespace: &str,
    kind: &str,
    count: usize,
) -> anyhow::Result<Vec<DynamicObject>> {
    let apps = cluster.applications(namespace);
    let selector = ListParams::default().labels(&format!("bench.sparkplane.io/kind={kind}"));
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let listed = apps.list(&selector).await?;
        let completed = listed
            .items
            .iter()
            .filter(|a| a.data["status"]["applicationState"]["state"] == "COMPLETED")
            .count();
        if completed == count {
            return Ok(listed.items);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{completed} of {count} {kind} applications completed after 10 min"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn create(cluster: &Cluster, namespace: &str, apps: &[DynamicObject]) -> anyhow::Result<()> {
    let api = cluster.applications(namespace);
    for app in apps {
        api.create(&PostParams::default(), app)
            .await
            .with_context(|| format!("creating {:?}", app.metadata.name))?;
    }
    Ok(())
}

pub async fn run(args: &HostileArgs, cluster: &Cluster) -> anyhow::Result<HostileResults> {
    std::fs::create_dir_all(&args.measurement.logs)?;
    let namespace = cluster.create_namespace("hostile").await?;
    cluster.create_driver_service_account(&namespace).await?;
    let started = Controller::Sparkplane(args.measurement.sparkplane.clone())
        .start(
            cluster,
            std::slice::from_ref(&namespace),
            &args.measurement.logs,
            "hostile",
        )
        .await?;
    let mut operator = started.process;
    let mut points = Vec::new();
    let (first, _) = point(&mut operator, "started, nothing held").await?;
    points.push(first);

    let alone: Vec<DynamicObject> = (0..args.apps)
        .map(|i| plain(&format!("plain-{i:04}")))
        .collect::<anyhow::Result<_>>()?;
    create(cluster, &namespace, &alone).await?;
    let plain_alone = kind_of(
        &wait_completed(cluster, &namespace, "plain", args.apps).await?,
        "plain-",
    );
    let (p, with_plain) = point(&mut operator, "plain applications completed").await?;
    points.push(p);

    // Beside them: as many plain ones again, created in turn with the huge ones.
    let mut mixed = Vec::new();
    for i in 0..args.apps {
        mixed.push(huge_application(&format!("huge-{i:04}"), args.conf_keys)?);
        mixed.push(plain(&format!("beside-{i:04}"))?);
    }
    let began = Instant::now();
    create(cluster, &namespace, &mixed).await?;
    let mixed_created_in_seconds = began.elapsed().as_secs_f64();
    let selector = "bench.sparkplane.io/kind=plain";
    let plain_beside_huge = kind_of(
        &wait_completed(cluster, &namespace, "plain", 2 * args.apps).await?,
        "beside-",
    );
    let huge = kind_of(
        &wait_completed(cluster, &namespace, "huge", args.apps).await?,
        "huge-",
    );
    let (p, with_huge) = point(&mut operator, "huge applications completed").await?;
    points.push(p);

    let apps = cluster.applications(&namespace);
    apps.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("bench.sparkplane.io/kind=huge"),
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(300);
    while !apps
        .list_metadata(&ListParams::default().labels("bench.sparkplane.io/kind=huge"))
        .await?
        .items
        .is_empty()
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "huge applications still there 5 min after deletion"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The operator hands freed memory back to the system every 30 s.
    tokio::time::sleep(Duration::from_secs(40)).await;
    let (p, after_delete) = point(&mut operator, "huge applications deleted").await?;
    points.push(p);
    let still_plain = apps
        .list_metadata(&ListParams::default().labels(selector))
        .await?
        .items
        .len();
    anyhow::ensure!(
        still_plain == 2 * args.apps,
        "{still_plain} plain applications left, not {}",
        2 * args.apps
    );
    operator.stop().await?;
    let left = cluster
        .delete_namespaces(std::slice::from_ref(&namespace), Duration::from_secs(600))
        .await?;
    anyhow::ensure!(left.is_empty(), "namespace {namespace} still terminating");

    let per_huge = with_huge.saturating_sub(with_plain) as f64 / args.apps as f64;
    Ok(HostileResults {
        command: args.measurement.command.clone(),
        commit: crate::machine::git_describe(&sparkplane_testbed::repo_root()),
        applications_per_kind: args.apps,
        mixed_created_in_seconds,
        points,
        resident_kib_per_huge: per_huge,
        huge_resident_per_stored_byte: per_huge * 1024.0 / huge.stored_bytes,
        plain_alone,
        plain_beside_huge,
        huge,
        released_mib: mib(with_huge.saturating_sub(after_delete)),
    })
}

/// The figures as the rows docs/reliability.md shows.
pub fn table(r: &HostileResults) -> String {
    let mut rows = vec![
        "| | plain, alone | plain, beside the huge | huge |\n|---|---:|---:|---:|".to_owned(),
        format!(
            "| stored per application (JSON as served) | {:.1} KB | {:.1} KB | {:.1} KB |",
            r.plain_alone.stored_bytes / 1000.0,
            r.plain_beside_huge.stored_bytes / 1000.0,
            r.huge.stored_bytes / 1000.0
        ),
        format!(
            "| created to completed, median / max | {:.0} s / {:.0} s | {:.0} s / {:.0} s | {:.0} s / {:.0} s |",
            r.plain_alone.median_seconds,
            r.plain_alone.max_seconds,
            r.plain_beside_huge.median_seconds,
            r.plain_beside_huge.max_seconds,
            r.huge.median_seconds,
            r.huge.max_seconds
        ),
        format!(
            "| operator memory per huge application held (upper bound) | | | {:.1} KiB ({:.2} bytes per stored byte) |",
            r.resident_kib_per_huge, r.huge_resident_per_stored_byte
        ),
    ];
    rows.push(format!(
        "\n{} of each kind; the {} huge and {} plain beside them were created one after another in {:.1} s.\n",
        r.applications_per_kind, r.applications_per_kind, r.applications_per_kind, r.mixed_created_in_seconds
    ));
    rows.push(
        "| the operator, after | VmRSS | sampled peak before | CPU time so far |\n|---|---:|---:|---:|"
            .into(),
    );
    for p in &r.points {
        rows.push(format!(
            "| {} | {:.1} MiB | {:.1} MiB | {:.1} s |",
            p.after, p.rss_mib, p.peak_mib, p.cpu_seconds
        ));
    }
    rows.push(format!(
        "\ngiven back once the huge applications were deleted: {:.1} MiB ({}, {})",
        r.released_mib, r.command, r.commit
    ));
    rows.join("\n")
}
