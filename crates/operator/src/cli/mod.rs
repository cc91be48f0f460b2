//! The kubectl-style commands of `sparkplane`: `get`, `describe`, `events`, `logs`, `delete` and
//! `ui`. Each takes the cluster flags of [`connect::ClusterArgs`]; formatting is pure and lives in
//! [`format`], the API calls in the command modules, the error messages in [`error`].

mod connect;
mod dashboard;
mod delete;
mod describe;
mod describe_connect;
mod error;
mod events;
mod format;
mod get;
mod logs;
mod ui;

use std::io::Write;
use std::process::ExitCode;

use kube::api::{Api, ApiResource, DynamicObject};
use sparkplane_api::SparkApplication;

pub use error::CliError;
use error::Subject;

/// The cluster commands, flattened into the binary's subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List SparkApplications (or, with --kind scheduled, ScheduledSparkApplications).
    Get(get::GetArgs),
    /// Show a SparkApplication in detail: spec, status, driver pod, executors, UI, recent events.
    Describe(describe::DescribeArgs),
    /// List the events of a SparkApplication and of its driver pod, oldest first.
    Events(events::EventsArgs),
    /// Print the logs of a SparkApplication's driver (or of one of its executors).
    Logs(logs::LogsArgs),
    /// Delete SparkApplications (the garbage collector then removes their pods and services).
    Delete(delete::DeleteArgs),
    /// Forward a local port to the Spark UI of a running application's driver.
    Ui(ui::UiArgs),
    /// Serve a read-only web dashboard of the applications, schedules and Spark Connect sessions
    /// on 127.0.0.1, with your kubeconfig's credentials.
    Dashboard(dashboard::DashboardArgs),
}

/// Runs a cluster command; errors go to standard error as `error: ...` with exit code 1.
pub fn run(command: Command) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match command {
            Command::Get(args) => get::run(args).await,
            Command::Describe(args) => describe::run(args).await,
            Command::Events(args) => events::run(args).await,
            Command::Logs(args) => logs::run(args).await,
            Command::Delete(args) => delete::run(args).await,
            Command::Ui(args) => ui::run(args).await,
            Command::Dashboard(args) => dashboard::run(args).await,
        }
    });
    let flushed = std::io::stdout().flush();
    match result.and(flushed.map_err(CliError::from)) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`sparkplane get | head -1`) is the reader's choice, not a failure.
        Err(CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes `text` to standard output (an error, not a panic, when the reader has gone).
pub(crate) fn out(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// The SparkApplications of the session's namespace, or of all namespaces, untyped: what the
/// server stores is printed as it is, and one odd object cannot break a listing.
fn spark_api(
    session: &connect::Session,
    resource: &ApiResource,
    all_namespaces: bool,
) -> Api<DynamicObject> {
    if all_namespaces {
        Api::all_with(session.client.clone(), resource)
    } else {
        Api::namespaced_with(session.client.clone(), &session.target.namespace, resource)
    }
}

/// The SparkApplication `name` of the session's namespace, as stored and typed.
async fn get_app(
    session: &connect::Session,
    name: &str,
) -> Result<(DynamicObject, SparkApplication), CliError> {
    get_typed(session, name, Subject::App(name)).await
}

/// The object `name` of kind `K` in the session's namespace, as stored and typed.
async fn get_typed<K>(
    session: &connect::Session,
    name: &str,
    subject: Subject<'_>,
) -> Result<(DynamicObject, K), CliError>
where
    K: kube::Resource<DynamicType = ()> + serde::de::DeserializeOwned,
{
    let resource = ApiResource::erase::<K>(&());
    let api = spark_api(session, &resource, false);
    let raw = api.get(name).await.map_err(|e| {
        CliError::from_kube(
            e,
            &session.target,
            &format!("getting {} {name:?}", resource.kind.to_lowercase()),
            subject,
        )
    })?;
    let typed = serde_json::to_value(&raw)
        .and_then(serde_json::from_value::<K>)
        .map_err(|e| CliError::Malformed {
            name: name.to_owned(),
            namespace: session.target.namespace.clone(),
            detail: e.to_string(),
        })?;
    Ok((raw, typed))
}

/// The name of the driver pod of `app`: the one its status records, else the one it will have.
fn driver_pod_name(app: &SparkApplication) -> String {
    app.status
        .as_ref()
        .and_then(|s| s.driver_info.pod_name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| app.driver_pod_name())
}

/// The application's state as the tables show it (`<none>` before the operator has seen it).
fn state_name(app: &SparkApplication) -> String {
    let state = app
        .status
        .as_ref()
        .map(|s| s.application_state.state)
        .unwrap_or_default();
    match state.as_str() {
        "" => format::NONE.to_owned(),
        name => name.to_owned(),
    }
}
