//! `sparkplane-bench dashboard`: `sparkplane dashboard` holding many applications. The harness
//! creates them (and writes a status to each, a mix of states as a busy cluster has), starts the
//! dashboard on them, and times its pages from a client on loopback (request to the whole body),
//! with the dashboard's resident memory and CPU time.

use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use kube::api::{Patch, PatchParams, PostParams};
use serde::Serialize;
use serde_json::json;

use crate::cluster::{Cluster, application};
use crate::process::{Launch, Process, free_port, http_get};
use crate::say;

#[derive(Debug, clap::Args)]
pub struct DashboardArgs {
    /// Applications held.
    #[arg(long, default_value_t = 10_000)]
    pub apps: usize,
    /// Requests timed per page.
    #[arg(long, default_value_t = 20)]
    pub requests: usize,
    #[command(flatten)]
    pub measurement: crate::Measurement,
}

#[derive(Debug, Serialize)]
pub struct PageTiming {
    pub page: String,
    pub path: String,
    pub bytes: usize,
    pub median_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct DashboardResults {
    pub command: String,
    pub commit: String,
    pub applications: usize,
    /// From the dashboard's start until its list held every application.
    pub synced_in_seconds: f64,
    pub pages: Vec<PageTiming>,
    pub rss_mib_synced: f64,
    pub rss_mib_after_requests: f64,
    pub peak_mib: f64,
    pub cpu_seconds: f64,
}

/// The state an application of index `i` is given: most completed, some running, failed, waiting.
fn status_of(i: usize) -> serde_json::Value {
    let now = jiff::Timestamp::now();
    let started = now - jiff::SignedDuration::from_secs((i % 3600) as i64 + 60);
    let ended = started + jiff::SignedDuration::from_secs((i % 600) as i64 + 5);
    let (state, ended, message) = match i % 20 {
        0..=13 => ("COMPLETED", Some(ended), None),
        14 | 15 => (
            "FAILED",
            Some(ended),
            Some("driver container failed with ExitCode: 1, Reason: Error"),
        ),
        16..=18 => ("RUNNING", None, None),
        _ => ("SUBMITTED", None, None),
    };
    let mut status = json!({
        "applicationState": {"state": state},
        "submissionAttempts": 1, "executionAttempts": 1,
        "lastSubmissionAttemptTime": started.to_string(),
        "driverInfo": {"podName": format!("app-{i:05}-driver")},
        "executorState": {format!("app-{i:05}-exec-1"): if state == "RUNNING" { "RUNNING" } else { "COMPLETED" }},
    });
    if let Some(ended) = ended {
        status["terminationTime"] = json!(ended.to_string());
    }
    if let Some(message) = message {
        status["applicationState"]["errorMessage"] = json!(message);
    }
    json!({ "status": status })
}

async fn populate(cluster: &Cluster, namespace: &str, count: usize) -> anyhow::Result<()> {
    let api = cluster.applications(namespace);
    let began = Instant::now();
    futures::stream::iter(0..count)
        .map(|i| {
            let api = api.clone();
            async move {
                let name = format!("app-{i:05}");
                let mut app = application(&name, "5s")?;
                app.metadata.labels = Some([("team".into(), format!("team-{}", i % 7))].into());
                api.create(&PostParams::default(), &app).await?;
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(status_of(i)))
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(64)
        .try_collect::<Vec<()>>()
        .await?;
    say(format!(
        "dashboard: {count} applications with their status in {:.0} s",
        began.elapsed().as_secs_f64()
    ));
    Ok(())
}

async fn time_page(
    port: u16,
    page: &str,
    path: &str,
    requests: usize,
) -> anyhow::Result<PageTiming> {
    let mut millis = Vec::with_capacity(requests);
    let mut bytes = 0;
    for _ in 0..requests {
        let began = Instant::now();
        let body = http_get(port, path)
            .await
            .with_context(|| format!("GET {path} did not answer 200"))?;
        millis.push(began.elapsed().as_secs_f64() * 1000.0);
        bytes = body.len();
    }
    millis.sort_by(f64::total_cmp);
    Ok(PageTiming {
        page: page.to_owned(),
        path: path.to_owned(),
        bytes,
        median_ms: millis[millis.len() / 2],
        max_ms: millis.last().copied().unwrap_or(f64::NAN),
    })
}

pub async fn run(args: &DashboardArgs, cluster: &Cluster) -> anyhow::Result<DashboardResults> {
    std::fs::create_dir_all(&args.measurement.logs)?;
    let namespace = cluster.create_namespace("dashboard").await?;
    populate(cluster, &namespace, args.apps).await?;
    let port = free_port()?;
    let dashboard = Process::spawn(Launch {
        program: &args.measurement.sparkplane,
        args: vec![
            "dashboard".into(),
            "-n".into(),
            namespace.clone(),
            "--port".into(),
            port.to_string(),
        ],
        env: vec![(
            "KUBECONFIG".into(),
            cluster.kubeconfig.display().to_string(),
        )],
        log: args.measurement.logs.join("dashboard.log"),
        include_children: false,
    })?;
    let began = Instant::now();
    let expected = format!(r#"data-matched="{}""#, args.apps);
    loop {
        if let Some(body) = http_get(port, "/apps?fragment=1").await
            && body.contains(&expected)
        {
            break;
        }
        anyhow::ensure!(
            began.elapsed() < Duration::from_secs(300),
            "the dashboard did not list {} applications within 5 min; its log: {}",
            args.apps,
            dashboard.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let synced_in_seconds = began.elapsed().as_secs_f64();
    let (rss_synced, _) = dashboard.memory().context("no memory figure")?;
    let mut pages = Vec::new();
    for (page, path) in [
        ("overview", "/".to_owned()),
        ("list, first page", "/apps".to_owned()),
        ("list, page 100", "/apps?page=100".to_owned()),
        (
            "list, failed, longest first",
            "/apps?state=failed&sort=duration&desc=1".to_owned(),
        ),
        (
            "list, label and name filter",
            "/apps?label=team%3Dteam-3&name=app-0".to_owned(),
        ),
        (
            "list, live part (what an update fetches)",
            "/apps?fragment=1".to_owned(),
        ),
    ] {
        let timing = time_page(port, page, &path, args.requests).await?;
        say(format!(
            "dashboard: {page}: median {:.1} ms, max {:.1} ms, {} bytes",
            timing.median_ms, timing.max_ms, timing.bytes
        ));
        pages.push(timing);
    }
    let (rss_after, peak) = dashboard.memory().context("no memory figure")?;
    let cpu_seconds = dashboard.cpu_seconds().unwrap_or(f64::NAN);
    dashboard.stop().await?;
    let left = cluster
        .delete_namespaces(std::slice::from_ref(&namespace), Duration::from_secs(600))
        .await?;
    anyhow::ensure!(left.is_empty(), "namespace {namespace} still terminating");
    Ok(DashboardResults {
        command: args.measurement.command.clone(),
        commit: crate::machine::git_describe(&sparkplane_testbed::repo_root()),
        applications: args.apps,
        synced_in_seconds,
        pages,
        rss_mib_synced: rss_synced as f64 / 1024.0,
        rss_mib_after_requests: rss_after as f64 / 1024.0,
        peak_mib: peak as f64 / 1024.0,
        cpu_seconds,
    })
}

/// The figures as docs/benchmarks.md shows them.
pub fn table(r: &DashboardResults) -> String {
    let mut rows =
        vec!["| page | path | size | median | max |\n|---|---|---:|---:|---:|".to_owned()];
    for p in &r.pages {
        rows.push(format!(
            "| {} | `{}` | {:.0} KB | {:.1} ms | {:.1} ms |",
            p.page,
            p.path,
            p.bytes as f64 / 1000.0,
            p.median_ms,
            p.max_ms
        ));
    }
    rows.push(format!(
        "\n{} applications; listed in full {:.1} s after the start; resident memory {:.1} MiB once synced, {:.1} MiB after the requests (peak {:.1} MiB); {:.1} s of CPU in all ({}, {})",
        r.applications,
        r.synced_in_seconds,
        r.rss_mib_synced,
        r.rss_mib_after_requests,
        r.peak_mib,
        r.cpu_seconds,
        r.command,
        r.commit
    ));
    rows.join("\n")
}
