//! `sparkplane`: the Sparkplane operator and its command-line tool.

use clap::{Parser, Subcommand};

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("sparkplane {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Crds => {
            print!("{}", sparkplane_api::crds::all_crds_yaml()?);
            Ok(())
        }
    }
}
