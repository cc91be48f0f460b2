//! `sparkplane`: the Sparkplane operator and its command-line tool.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod api_client;
mod application;
mod cli;
mod connect;
mod http;
mod leadership;
mod lifecycle;
mod memory;
mod metrics;
mod operator;
mod record;
mod scheduled;
mod settings;
mod watch;

/// Sparkplane runs Apache Spark applications on Kubernetes, serving the Kubeflow Spark Operator's
/// `sparkoperator.k8s.io/v1beta2` API.
#[derive(Debug, Parser)]
#[command(name = "sparkplane", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the version of this build.
    Version,
    /// Print the CustomResourceDefinitions as YAML (`sparkplane crds | kubectl apply -f -`).
    Crds,
    /// Print what submitting a SparkApplication creates (driver pod, ConfigMaps, Services, Ingresses)
    /// as YAML documents in creation order, offline.
    Render(RenderArgs),
    /// Run the operator: submit, track, retry and clean up SparkApplications.
    // Boxed: its many flags would make every other command as large.
    Operator(Box<settings::OperatorArgs>),
    #[command(flatten)]
    Cluster(cli::Command),
}

#[derive(Debug, clap::Args)]
struct RenderArgs {
    /// The SparkApplication manifest (`-` for standard input).
    #[arg(short = 'f', long = "filename")]
    file: std::path::PathBuf,
    /// Render for this Spark version instead of spec.sparkVersion.
    #[arg(long)]
    spark_version: Option<String>,
    /// The submission attempt (1 for the first); names change with it.
    #[arg(long, default_value_t = 1)]
    attempt: u32,
    /// The application's uid; without it one is derived from its namespace and name.
    #[arg(long)]
    uid: Option<String>,
    /// spark.master as the driver sees it.
    #[arg(long, default_value = "k8s://https://kubernetes.default.svc:443")]
    master: String,
    /// The UI Ingress URL format ({{$appName}}, {{$appNamespace}}, {{$appId}}).
    #[arg(long)]
    ingress_url_format: Option<String>,
    /// SPARK_USER of the driver.
    #[arg(long, default_value = "spark")]
    spark_user: String,
    /// As the operator's --enable-driver-pdb: render the driver's PodDisruptionBudget when the
    /// application asks for one.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    enable_driver_pdb: bool,
    /// As the operator's --kube-scheduler-names: coscheduling schedulers spec.batchScheduler may
    /// name (comma-separated).
    #[arg(long, value_delimiter = ',')]
    kube_scheduler_names: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long, default_value = "yaml", value_parser = ["yaml", "json"])]
    output: String,
}

fn main() -> anyhow::Result<ExitCode> {
    let parsed = Cli::parse();
    match parsed.command {
        Command::Version => println!("sparkplane {}", env!("CARGO_PKG_VERSION")),
        Command::Crds => print!("{}", sparkplane_api::crds::all_crds_yaml()?),
        Command::Render(args) => render(args)?,
        Command::Operator(args) => run_operator(*args)?,
        // The cluster commands print their own errors, with what to do about them.
        Command::Cluster(command) => return Ok(cli::run(command)),
    }
    Ok(ExitCode::SUCCESS)
}

fn run_operator(args: settings::OperatorArgs) -> anyhow::Result<()> {
    // Before any thread starts: the allocator's settings apply to the arenas threads will use.
    memory::configure();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if args.log_format == "json" {
        builder.json().with_current_span(true).init();
    } else {
        builder.init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(operator::run(args))?)
}

fn render(args: RenderArgs) -> anyhow::Result<()> {
    use sparkplane_submit::render;
    let text = if args.file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(&args.file)
            .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?
    };
    let opts = render::RenderOptions {
        settings: sparkplane_submit::Settings {
            master: args.master,
            ingress_url_format: args.ingress_url_format,
            spark_user: args.spark_user,
            driver_pdb: args.enable_driver_pdb,
            kube_scheduler_names: args.kube_scheduler_names,
            ..Default::default()
        },
        attempt: args.attempt,
        spark_version: args.spark_version,
        uid: args.uid,
    };
    // The message already holds its cause: printed once, not again as anyhow's "Caused by".
    let (_, plan) = render::plan_from_yaml(&text, &opts).map_err(|e| anyhow::anyhow!("{e}"))?;
    match args.output.as_str() {
        "json" => println!(
            "{}",
            serde_json::to_string_pretty(&render::objects_json(&plan)?)?
        ),
        _ => print!("{}", render::render_yaml(&plan)?),
    }
    Ok(())
}
