//! `sparkplane-bench`: the harness `bench/run` drives (see docs/benchmarks.md).
//!
//! `run` measures, on the testbed, the raw API limit (`testbed-load`), Sparkplane and, when given its
//! binary, the Kubeflow operator, and writes one results file; `report` turns a results file into
//! the section of docs/benchmarks.md, the SVG plots and the summary lines.

mod cluster;
mod dashboard;
mod hostile;
mod machine;
mod operators;
mod process;
mod workload;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use sparkplane_bench::results::{Held, OperatorRun, RawLimit, Results, WorkloadKind};
use sparkplane_bench::{report, versions};
use sparkplane_testbed::repo_root;

use crate::cluster::Cluster;
use crate::operators::{Controller, KubeflowSetup, Started};
use crate::process::http_get;

#[derive(Debug, Parser)]
#[command(name = "sparkplane-bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measures everything and writes the results file.
    Run(RunArgs),
    /// Writes the plots (beside the results file), the docs section and the summary lines.
    Report(ReportArgs),
    /// The operator's memory under hostile input (bench/hostile).
    Hostile(hostile::HostileArgs),
    /// `sparkplane dashboard` holding many applications (bench/dashboard).
    Dashboard(dashboard::DashboardArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Small workloads: a smoke run of a few minutes.
    #[arg(long)]
    quick: bool,
    /// Where the results go (JSON).
    #[arg(long)]
    out: PathBuf,
    /// The release `sparkplane` binary.
    #[arg(long)]
    sparkplane: PathBuf,
    /// The release `testbed-load` binary.
    #[arg(long)]
    testbed_load: PathBuf,
    /// A Kubeflow spark-operator binary; without it the Kubeflow column is not measured.
    #[arg(long, env = "KUBEFLOW_OPERATOR_BIN")]
    kubeflow: Option<PathBuf>,
    /// Applications in Kubeflow's burst (default: 20, quick: 2).
    #[arg(long)]
    kubeflow_burst: Option<usize>,
    /// Kubeflow's steady rate, applications per second (default: 0.1 for 120 s, quick: for 10 s).
    #[arg(long)]
    kubeflow_rate: Option<f64>,
    /// Applications held for the memory figures (default: 10,000, quick: 600).
    #[arg(long, env = "BENCH_HOLD")]
    hold: Option<usize>,
    /// The command line recorded in the results.
    #[arg(long, default_value = "bench/run")]
    command: String,
    /// The day recorded in the results (YYYY-MM-DD).
    #[arg(long)]
    date: String,
    /// Where the operators' logs go.
    #[arg(long)]
    logs: PathBuf,
}

/// The flags of a measurement of its own (`hostile`, `dashboard`): the binary measured and where
/// its results and logs go.
#[derive(Debug, clap::Args)]
pub struct Measurement {
    /// The release `sparkplane` binary.
    #[arg(long)]
    pub sparkplane: PathBuf,
    /// Where the results go (JSON).
    #[arg(long)]
    pub out: PathBuf,
    /// Where the logs go.
    #[arg(long)]
    pub logs: PathBuf,
    /// The command line recorded in the results.
    #[arg(long)]
    pub command: String,
}

#[derive(Debug, clap::Args)]
struct ReportArgs {
    /// A results file written by `run`.
    results: PathBuf,
    /// Splice the section into this markdown file (docs/benchmarks.md).
    #[arg(long)]
    docs: Option<PathBuf>,
    /// Write the section alone to this file instead.
    #[arg(long)]
    markdown: Option<PathBuf>,
}

/// The sizes of one run.
#[derive(Clone)]
struct Plan {
    raw_applications: usize,
    concurrency: usize,
    bursts: Vec<usize>,
    rates: Vec<f64>,
    steady_seconds: f64,
    hold_total: usize,
    kubeflow_burst: usize,
    kubeflow_rate: f64,
    kubeflow_steady_seconds: f64,
    complete_after: &'static str,
    /// How long an operator freshly started on the held applications gets to settle.
    settle_within: Duration,
}

impl Plan {
    fn new(args: &RunArgs) -> Plan {
        let mut plan = if args.quick {
            Plan {
                raw_applications: 200,
                concurrency: 64,
                bursts: vec![100, 200],
                rates: vec![10.0, 50.0],
                steady_seconds: 4.0,
                hold_total: 600,
                kubeflow_burst: 2,
                kubeflow_rate: 0.1,
                kubeflow_steady_seconds: 10.0,
                complete_after: "5s",
                // Short: a smoke run only checks that the figure is read, not that Kubeflow finished.
                settle_within: Duration::from_secs(20),
            }
        } else {
            Plan {
                raw_applications: 2000,
                concurrency: 64,
                bursts: vec![1000, 5000],
                rates: vec![10.0, 50.0],
                steady_seconds: 60.0,
                hold_total: 10_000,
                kubeflow_burst: 20,
                kubeflow_rate: 0.1,
                kubeflow_steady_seconds: 120.0,
                complete_after: "5s",
                settle_within: Duration::from_secs(180),
            }
        };
        if let Some(burst) = args.kubeflow_burst {
            plan.kubeflow_burst = burst;
        }
        if let Some(rate) = args.kubeflow_rate {
            plan.kubeflow_rate = rate;
        }
        if let Some(hold) = args.hold {
            plan.hold_total = hold;
        }
        plan
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Run(args) => runtime.block_on(run(args)),
        Command::Report(args) => write_report(&args),
        Command::Hostile(args) => runtime.block_on(measure_and_write(
            &args.measurement.out,
            async |cluster| hostile::run(&args, cluster).await,
            hostile::table,
        )),
        Command::Dashboard(args) => runtime.block_on(measure_and_write(
            &args.measurement.out,
            async |cluster| dashboard::run(&args, cluster).await,
            dashboard::table,
        )),
    }
}

/// Connects, installs the CRDs, measures, deletes the namespaces the measurement left (also when
/// it failed or was interrupted), writes the results file and prints its table.
async fn measure_and_write<R: serde::Serialize>(
    out: &Path,
    measure: impl AsyncFnOnce(&Cluster) -> anyhow::Result<R>,
    table: fn(&R) -> String,
) -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    cluster
        .install_crds(&repo_root().join("deploy/crds"))
        .await?;
    let measured = tokio::select! {
        outcome = measure(&cluster) => outcome,
        why = interrupted() => Err(anyhow::anyhow!("{why}")),
    };
    let leftovers = cluster.still_created();
    if !leftovers.is_empty() {
        cluster
            .delete_namespaces(&leftovers, Duration::from_secs(600))
            .await?;
    }
    let results = measured?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, serde_json::to_string_pretty(&results)? + "\n")?;
    println!("{}", table(&results));
    Ok(())
}

fn say(message: impl AsRef<str>) {
    eprintln!("bench: {}", message.as_ref());
}

async fn interrupted() -> &'static str {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return "interrupted";
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupted (SIGINT)",
        _ = term.recv() => "terminated (SIGTERM)",
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let plan = Plan::new(&args);
    std::fs::create_dir_all(&args.logs)?;
    let cluster = Cluster::connect().await?;
    let repo = repo_root();
    cluster.install_crds(&repo.join("deploy/crds")).await?;
    let machine = machine::machine();
    let kubeflow = args
        .kubeflow
        .as_deref()
        .map(KubeflowSetup::from_environment)
        .transpose()?;
    let versions = machine::versions(
        &repo,
        cluster.apiserver_version().await,
        kubeflow.as_ref().map(KubeflowSetup::versions),
    );
    let mut notes = Vec::new();
    let mut installed_spark_connect = false;
    match &kubeflow {
        None => say(
            "!!! KUBEFLOW_OPERATOR_BIN is not set: the Kubeflow column will be NOT MEASURED !!!",
        ),
        Some(_) => installed_spark_connect = cluster.ensure_spark_connect_crd().await?,
    }

    // The operators live inside `measured`; if it fails or is interrupted they are dropped, which
    // kills them, and the namespaces are deleted below either way.
    let measured = tokio::select! {
        outcome = measure(&args, &plan, &cluster, kubeflow.as_ref(), &mut notes) => outcome,
        why = interrupted() => Err(anyhow::anyhow!("{why}")),
    };
    let leftovers = cluster.still_created();
    if !leftovers.is_empty() {
        say(format!(
            "deleting {} namespaces left by this run",
            leftovers.len()
        ));
        let still = cluster
            .delete_namespaces(&leftovers, Duration::from_secs(600))
            .await?;
        if !still.is_empty() {
            say(format!(
                "namespaces still terminating after 10 min: {still:?}"
            ));
        }
    }
    if installed_spark_connect {
        cluster.delete_spark_connect_crd().await?;
    }
    let ((raw_limit, raw_three), sparkplane, kubeflow_run) = measured?;
    let mut machine = machine;
    machine.load_average_end = machine::load_average();
    let results = Results {
        date: args.date.clone(),
        command: args.command.clone(),
        quick: args.quick,
        machine,
        versions,
        driver_runs_for: plan.complete_after.to_owned(),
        raw_limit: Some(raw_limit),
        raw_limit_three_objects: Some(raw_three),
        sparkplane,
        kubeflow_not_measured: kubeflow.is_none().then(|| {
            "KUBEFLOW_OPERATOR_BIN was not set when `bench/run` ran, so no Kubeflow operator was started."
                .to_owned()
        }),
        kubeflow: kubeflow_run,
        duration_seconds: started.elapsed().as_secs_f64(),
        notes,
    };
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&results)? + "\n")?;
    say(format!(
        "results in {} after {:.0} s",
        args.out.display(),
        results.duration_seconds
    ));
    Ok(())
}

type Measured = ((RawLimit, RawLimit), OperatorRun, Option<OperatorRun>);

/// The raw limit, Sparkplane, then Kubeflow: first on the applications Sparkplane left (its memory
/// with as many held), then its own, smaller workloads once those are deleted.
async fn measure(
    args: &RunArgs,
    plan: &Plan,
    cluster: &Cluster,
    kubeflow_setup: Option<&KubeflowSetup>,
    notes: &mut Vec<String>,
) -> anyhow::Result<Measured> {
    let raw = raw_limit(args, plan, cluster, "submission", notes).await?;
    let three = raw_limit(args, plan, cluster, "app", notes).await?;
    // The fastest steady rate is half the fair raw limit (the goal is judged there).
    let mut plan = plan.clone();
    if let Some(last) = plan.rates.last_mut() {
        *last = (raw.applications_per_second / 2.0).floor().max(1.0);
    }
    let plan = &plan;
    let raw = (raw, three);
    let (sparkplane, held_namespaces, held_count) = sparkplane(args, plan, cluster, notes).await?;
    let mut kubeflow_held = None;
    if let Some(setup) = kubeflow_setup {
        say(format!(
            "kubeflow: a fresh controller on the {held_count} applications Sparkplane left"
        ));
        kubeflow_held = Some(
            held_by_fresh_process(
                &Controller::Kubeflow(setup.clone()),
                args,
                cluster,
                &held_namespaces,
                held_count,
                plan.settle_within,
            )
            .await?,
        );
    }
    delete(cluster, &held_namespaces, notes).await?;
    let kubeflow = match kubeflow_setup {
        Some(setup) => {
            let mut run = kubeflow(setup, args, plan, cluster, notes).await?;
            run.held.extend(kubeflow_held);
            Some(run)
        }
        None => None,
    };
    Ok((raw, sparkplane, kubeflow))
}

async fn delete(
    cluster: &Cluster,
    namespaces: &[String],
    notes: &mut Vec<String>,
) -> anyhow::Result<()> {
    let began = Instant::now();
    say(format!("deleting {} namespaces", namespaces.len()));
    let still = cluster
        .delete_namespaces(namespaces, Duration::from_secs(900))
        .await?;
    say(format!(
        "namespaces gone after {:.0} s",
        began.elapsed().as_secs_f64()
    ));
    if !still.is_empty() {
        notes.push(format!(
            "namespaces {still:?} were still terminating 15 min after deletion; later figures ran beside that clean-up"
        ));
    }
    Ok(())
}

/// `testbed-load --objects <objects>`: the ceiling with no operator.
async fn raw_limit(
    args: &RunArgs,
    plan: &Plan,
    cluster: &Cluster,
    objects: &str,
    notes: &mut Vec<String>,
) -> anyhow::Result<RawLimit> {
    say(format!(
        "raw limit: testbed-load --objects {objects} --count {}",
        plan.raw_applications
    ));
    let child = tokio::process::Command::new(&args.testbed_load)
        .args([
            "--objects",
            objects,
            "--count",
            &plan.raw_applications.to_string(),
            "--concurrency",
            &plan.concurrency.to_string(),
        ])
        .env("KUBECONFIG", &cluster.kubeconfig)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", args.testbed_load.display()))?;
    let load_namespace = child.id().map(|pid| format!("load-{pid}"));
    let output = child.wait_with_output().await?;
    if !output.status.success() {
        bail!(
            "testbed-load failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)
        .context("testbed-load did not print one JSON object")?;
    let number = |key: &str| -> anyhow::Result<f64> {
        json[key]
            .as_f64()
            .with_context(|| format!("testbed-load's output has no {key}: {json}"))
    };
    let raw = RawLimit {
        objects: objects.to_owned(),
        applications: plan.raw_applications,
        concurrency: plan.concurrency,
        applications_per_second: number("items_per_second")?,
        objects_per_second: number("api_objects_per_second")?,
        all_running_seconds: number("all_running_seconds")?,
        output: json.clone(),
    };
    say(format!(
        "raw limit ({objects}): {:.1} applications/s ({:.1} objects/s)",
        raw.applications_per_second, raw.objects_per_second
    ));
    // testbed-load deletes its namespace without waiting: wait here, so its clean-up does not
    // run beside the next measurement.
    if let Some(namespace) = load_namespace {
        delete(cluster, &[namespace], notes).await?;
    }
    Ok(raw)
}

fn workload_specs(
    prefix: &str,
    bursts: &[usize],
    rates: &[f64],
    steady_seconds: f64,
    concurrency: usize,
) -> Vec<(String, WorkloadKind)> {
    let mut specs: Vec<(String, WorkloadKind)> = bursts
        .iter()
        .map(|&count| {
            (
                format!("{prefix}burst-{count}"),
                WorkloadKind::Burst { count, concurrency },
            )
        })
        .collect();
    specs.extend(rates.iter().map(|&rate| {
        (
            format!("{prefix}steady-{rate}/s"),
            WorkloadKind::Steady {
                rate,
                seconds: steady_seconds,
            },
        )
    }));
    specs
}

fn namespace_suffix(name: &str) -> String {
    name.replace(['/', '.'], "-")
        .replace("--", "-")
        .trim_end_matches('-')
        .to_owned()
}

/// Runs `specs` one after the other, each in its namespace, against a started operator.
async fn run_workloads(
    cluster: &Cluster,
    started: &Started,
    specs: &[(String, WorkloadKind)],
    namespaces: &[String],
    complete_after: &str,
    finish_within: impl Fn(usize) -> Duration,
    notes: &mut Vec<String>,
) -> anyhow::Result<Vec<sparkplane_bench::results::Workload>> {
    let operator = started.operator;
    let mut workloads = Vec::new();
    for ((name, kind), namespace) in specs.iter().zip(namespaces) {
        let spec = workload::Spec {
            name: name.clone(),
            kind: kind.clone(),
            namespace: namespace.clone(),
            complete_after: complete_after.to_owned(),
            finish_within: finish_within(match kind {
                WorkloadKind::Burst { count, .. } | WorkloadKind::TopUp { count, .. } => *count,
                WorkloadKind::Steady { rate, seconds } => (rate * seconds) as usize,
            }),
        };
        say(format!("{operator}: {name} in {namespace}"));
        let result = workload::run(cluster, &started.process, &spec).await?;
        let summary = result.summary();
        say(format!(
            "{operator}: {name}: {} submitted, creation to driver pod {}, status lag {}, all finished after {}",
            report::rate(summary.submitted_per_second),
            report::spread(summary.creation_to_driver_ms),
            report::median_and_tail(summary.status_lag_ms),
            summary
                .all_finished_seconds
                .map_or_else(|| "–".to_owned(), |t| format!("{t:.1} s"))
        ));
        if result.timed_out {
            notes.push(format!(
                "{operator} {name}: gave up waiting after {:?}: {} of {} applications finished",
                spec.finish_within,
                summary.completed + summary.failed,
                summary.requested
            ));
        }
        if let Some(error) = &result.first_create_error {
            notes.push(format!(
                "{operator} {name}: {} creates failed, the first: {error}",
                result.create_errors
            ));
        }
        workloads.push(result);
    }
    Ok(workloads)
}

/// Sparkplane's workloads, then the top-up to `hold_total` and the memory figures; returns the
/// namespaces (still holding every application) and how many applications they hold.
async fn sparkplane(
    args: &RunArgs,
    plan: &Plan,
    cluster: &Cluster,
    notes: &mut Vec<String>,
) -> anyhow::Result<(OperatorRun, Vec<String>, usize)> {
    let mut specs = workload_specs(
        "",
        &plan.bursts,
        &plan.rates,
        plan.steady_seconds,
        plan.concurrency,
    );
    let planned: usize = specs
        .iter()
        .map(|(_, kind)| match kind {
            WorkloadKind::Burst { count, .. } | WorkloadKind::TopUp { count, .. } => *count,
            WorkloadKind::Steady { rate, seconds } => (rate * seconds).round() as usize,
        })
        .sum();
    let top_up = plan.hold_total.saturating_sub(planned);
    if top_up > 0 {
        specs.push((
            "top-up".to_owned(),
            WorkloadKind::TopUp {
                count: top_up,
                concurrency: plan.concurrency,
            },
        ));
    }
    let mut namespaces = Vec::new();
    for (name, _) in &specs {
        namespaces.push(
            cluster
                .create_namespace(&format!("sp-{}", namespace_suffix(name)))
                .await?,
        );
    }
    let controller = Controller::Sparkplane(args.sparkplane.clone());
    let mut started = controller
        .start(cluster, &namespaces, &args.logs, "sparkplane")
        .await?;
    let workloads = run_workloads(
        cluster,
        &started,
        &specs,
        &namespaces,
        plan.complete_after,
        // Generous: a healthy run finishes far sooner; a stuck one must not hang the bench.
        |n| Duration::from_secs(120 + n as u64 / 5),
        notes,
    )
    .await?;
    let held_count: usize = workloads.iter().map(|w| w.summary().created).sum();
    if !started.process.wait_idle(Duration::from_secs(120)).await? {
        notes.push(
            "sparkplane was still busy 120 s after the last workload when its held memory was read"
                .into(),
        );
    }
    let (rss, hwm) = started
        .process
        .memory()
        .context("the operator's /proc entry is gone")?;
    // Its own counters (reconciles, writes, durations), kept for whoever digs into the figures; the
    // writes per kind go into the results.
    let metrics = http_get(started.port, "/metrics").await;
    if let Some(metrics) = &metrics {
        std::fs::write(args.logs.join("sparkplane-metrics.txt"), metrics)?;
    }
    let mut run = OperatorRun {
        operator: "sparkplane".into(),
        started_with: started.description.clone(),
        counted: started.counted.clone(),
        workloads,
        peak_rss_kib: Some(hwm),
        tree_peak_rss_kib: started.process.life_tree_peak(),
        held: vec![Held {
            applications: held_count,
            rss_kib: rss,
            peak_rss_kib: hwm,
            how: "the process that ran every workload, once idle after the last".into(),
        }],
        writes: metrics
            .as_deref()
            .map(|text| {
                versions::metric_series(text, "sparkplane_api_writes_total", &["kind", "verb"])
                    .into_iter()
                    .map(|(labels, n)| (labels.join(" "), n))
                    .collect()
            })
            .unwrap_or_default(),
        applications_handled: metrics
            .as_deref()
            .and_then(|text| versions::metric_sum(text, "spark_application_count", &[])),
        driver_create_conflicts: metrics.as_deref().and_then(|text| {
            versions::metric_sum(text, "sparkplane_driver_create_conflicts_total", &[])
        }),
    };
    started.process.stop().await?;
    say(format!(
        "sparkplane: a fresh process on the {held_count} applications"
    ));
    run.held.push(
        held_by_fresh_process(
            &controller,
            args,
            cluster,
            &namespaces,
            held_count,
            plan.settle_within,
        )
        .await?,
    );
    Ok((run, namespaces, held_count))
}

/// Starts `controller` on namespaces full of finished applications, lets it settle and reads its
/// memory. Sparkplane settles when its CPU use falls idle; Kubeflow when its work queue is empty
/// and it has reconciled every application (its client is limited to 20 requests/s and it writes
/// each status again, so that can take minutes: it is given `settle_within`).
async fn held_by_fresh_process(
    controller: &Controller,
    args: &RunArgs,
    cluster: &Cluster,
    namespaces: &[String],
    held: usize,
    settle_within: Duration,
) -> anyhow::Result<Held> {
    let label = format!("{}-held", controller.name());
    let began = Instant::now();
    let mut started = controller
        .start(cluster, namespaces, &args.logs, &label)
        .await?;
    let settled = match started.metrics_port {
        Some(port) => kubeflow_settled(port, held, settle_within).await,
        None => {
            if started.process.wait_idle(settle_within).await? {
                "once idle".to_owned()
            } else {
                format!("still busy after {settle_within:?}")
            }
        }
    };
    let (rss, hwm) = started
        .process
        .memory()
        .context("the operator's /proc entry is gone")?;
    let tree = started.process.life_tree_peak();
    started.process.stop().await?;
    let children = match controller {
        Controller::Kubeflow(_) => format!("; tree peak {:.1} MiB", tree.map_or(0.0, report::mib)),
        Controller::Sparkplane(_) => String::new(),
    };
    Ok(Held {
        applications: held,
        rss_kib: rss,
        peak_rss_kib: hwm,
        how: format!(
            "a fresh process started on them, read {:.0} s later, {settled}{children}",
            began.elapsed().as_secs_f64()
        ),
    })
}

/// Waits until Kubeflow's SparkApplication work queue is empty and it reconciled `held`
/// applications; says how far it got.
async fn kubeflow_settled(metrics_port: u16, held: usize, within: Duration) -> String {
    let deadline = Instant::now() + within;
    let mut reconciled = 0.0;
    loop {
        if let Some(text) = http_get(metrics_port, "/metrics").await {
            let app = [("controller", "sparkapplication")];
            reconciled = versions::metric_sum(&text, "controller_runtime_reconcile_total", &app)
                .unwrap_or(0.0);
            let depth =
                versions::metric_sum(&text, "workqueue_depth", &[("name", "sparkapplication")]);
            if reconciled >= held as f64 && depth == Some(0.0) {
                return format!("once it had reconciled all {held} and its queue was empty");
            }
        }
        if Instant::now() > deadline {
            return format!(
                "while still reconciling ({reconciled:.0} of {held} done after {within:?})"
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn kubeflow(
    setup: &KubeflowSetup,
    args: &RunArgs,
    plan: &Plan,
    cluster: &Cluster,
    notes: &mut Vec<String>,
) -> anyhow::Result<OperatorRun> {
    let specs = workload_specs(
        "",
        &[plan.kubeflow_burst],
        &[plan.kubeflow_rate],
        plan.kubeflow_steady_seconds,
        plan.concurrency,
    );
    let mut namespaces = Vec::new();
    for (name, _) in &specs {
        namespaces.push(
            cluster
                .create_namespace(&format!("kf-{}", namespace_suffix(name)))
                .await?,
        );
    }
    for namespace in &namespaces {
        cluster.create_driver_service_account(namespace).await?;
    }
    let controller = Controller::Kubeflow(setup.clone());
    let mut started = controller
        .start(cluster, &namespaces, &args.logs, "kubeflow")
        .await?;
    let workloads = run_workloads(
        cluster,
        &started,
        &specs,
        &namespaces,
        plan.complete_after,
        // spark-submit is a JVM per application, about 10 CPU seconds each: allow 30 s each
        // beyond two minutes.
        |n| Duration::from_secs(120 + 30 * n as u64),
        notes,
    )
    .await?;
    let _ = started.process.wait_idle(Duration::from_secs(60)).await?;
    let hwm = started.process.memory().map(|(_, hwm)| hwm);
    if let Some(port) = started.metrics_port
        && let Some(metrics) = http_get(port, "/metrics").await
    {
        std::fs::write(args.logs.join("kubeflow-metrics.txt"), metrics)?;
    }
    let run = OperatorRun {
        operator: "kubeflow".into(),
        started_with: started.description.clone(),
        counted: started.counted.clone(),
        workloads,
        peak_rss_kib: hwm,
        tree_peak_rss_kib: started.process.life_tree_peak(),
        held: Vec::new(),
        // Kubeflow exposes no count of its writes.
        writes: Default::default(),
        applications_handled: None,
        driver_create_conflicts: None,
    };
    started.process.stop().await?;
    remove_pod_templates(cluster, &namespaces).await;
    delete(cluster, &namespaces, notes).await?;
    Ok(run)
}

/// Kubeflow writes each submission's pod templates to /tmp/spark/<submission id>/ and leaves them
/// there: remove this run's.
async fn remove_pod_templates(cluster: &Cluster, namespaces: &[String]) {
    for namespace in namespaces {
        let ids = cluster.submission_ids(namespace).await.unwrap_or_default();
        for id in ids
            .iter()
            .filter(|id| !id.is_empty() && !id.contains(['/', '.']))
        {
            let _ = std::fs::remove_dir_all(Path::new("/tmp/spark").join(id));
        }
    }
}

fn write_report(args: &ReportArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.results)
        .with_context(|| args.results.display().to_string())?;
    let results: Results = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a results file", args.results.display()))?;
    let stem = args
        .results
        .file_stem()
        .and_then(|s| s.to_str())
        .context("the results file has no name")?;
    let dir = args.results.parent().unwrap_or(Path::new("."));
    for ((file, _), plot) in report::plot_files(stem)
        .into_iter()
        .zip(report::plots(&results))
    {
        std::fs::write(dir.join(file), sparkplane_bench::svg::render(&plot))?;
    }
    let section = report::markdown(&results, stem);
    if let Some(docs) = &args.docs {
        let doc = std::fs::read_to_string(docs).unwrap_or_else(|_| "# Benchmarks\n".into());
        std::fs::write(docs, report::splice(&doc, &section))?;
    }
    if let Some(markdown) = &args.markdown {
        std::fs::write(markdown, section)?;
    }
    for line in report::summary_lines(&results) {
        println!("{line}");
    }
    Ok(())
}
