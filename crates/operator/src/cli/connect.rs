//! The cluster connection of every command: KUBECONFIG, `--kubeconfig`, `--context` and
//! `-n/--namespace` as kubectl reads them.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};

use super::error::{CliError, Target, chain};

/// The flags every cluster command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// The namespace (default: the context's namespace, else "default").
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
}

/// A client and where it points.
pub struct Session {
    pub client: Client,
    pub target: Target,
}

/// How long to wait for the TCP (and TLS) connection to the API server: a CLI should say soon
/// that the cluster cannot be reached.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const CONTEXT_HINT: &str =
    "list the contexts with `kubectl config get-contexts` and pick one with --context";
const FILE_HINT: &str = "check the file, or point KUBECONFIG or --kubeconfig at another";

pub async fn connect(args: &ClusterArgs) -> Result<Session, CliError> {
    let (mut config, context) = match load_kubeconfig(args)? {
        Some((kubeconfig, source_name)) => {
            let context = args
                .context
                .clone()
                .or_else(|| kubeconfig.current_context.clone())
                .unwrap_or_default();
            let options = KubeConfigOptions {
                context: args.context.clone(),
                ..Default::default()
            };
            let config = Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| kubeconfig_error(&source_name, &e))?;
            (config, context)
        }
        None => {
            let config = Config::incluster().map_err(|e| CliError::NoKubeconfig {
                detail: format!("and not in a pod: {}", chain(&e)),
            })?;
            (config, "in-cluster".to_owned())
        }
    };
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    let target = Target {
        server: config.cluster_url.to_string(),
        context,
        namespace: args
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone()),
    };
    let client = Client::try_from(config).map_err(|e| CliError::Kubeconfig {
        source_name: format!("context {:?}", target.context),
        detail: chain(&e),
        hint: FILE_HINT,
    })?;
    Ok(Session { client, target })
}

/// The kubeconfig to use and how to name it in messages; `None` when there is none at all (then
/// the in-cluster account is tried, as kubectl does in a pod).
fn load_kubeconfig(args: &ClusterArgs) -> Result<Option<(Kubeconfig, String)>, CliError> {
    if let Some(path) = &args.kubeconfig {
        let name = path.display().to_string();
        return Kubeconfig::read_from(path)
            .map(|k| Some((k, name.clone())))
            .map_err(|e| kubeconfig_error(&name, &e));
    }
    match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        Some(value) => {
            let name = format!("$KUBECONFIG ({})", value.to_string_lossy());
            Kubeconfig::from_env()
                .map(|k| k.map(|k| (k, name.clone())))
                .map_err(|e| kubeconfig_error(&name, &e))
        }
        None => {
            let Some(home) = std::env::var_os("HOME") else {
                return Ok(None);
            };
            let path = PathBuf::from(home).join(".kube").join("config");
            if !path.exists() {
                return Ok(None);
            }
            let name = path.display().to_string();
            Kubeconfig::read_from(&path)
                .map(|k| Some((k, name.clone())))
                .map_err(|e| kubeconfig_error(&name, &e))
        }
    }
}

fn kubeconfig_error(source_name: &str, error: &KubeconfigError) -> CliError {
    let hint = match error {
        KubeconfigError::CurrentContextNotSet
        | KubeconfigError::LoadContext(_)
        | KubeconfigError::LoadClusterOfContext(_) => CONTEXT_HINT,
        _ => FILE_HINT,
    };
    CliError::Kubeconfig {
        source_name: source_name.to_owned(),
        detail: chain(error),
        hint,
    }
}
