//! `sparkplane logs`: the log of a SparkApplication's driver, or of one executor, through the
//! API server's pods/log; `-f` streams it.

use futures::AsyncReadExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, LogParams};
use sparkplane_api::SparkApplication;
use sparkplane_api::v1beta2::ApplicationStateType as State;
use sparkplane_submit::identity::{DRIVER_CONTAINER, EXECUTOR_CONTAINER, LABEL_APP_NAME};

use super::connect::{ClusterArgs, Session, connect};
use super::error::{CliError, Subject};
use super::{driver_pod_name, get_app, out, state_name};

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The SparkApplication.
    pub name: String,
    /// The log of the executor with this Spark executor id (its pod's spark-exec-id label)
    /// instead of the driver's.
    #[arg(long, value_name = "ID")]
    pub executor: Option<u32>,
    /// Follow the log: go on printing as it grows, until the container ends (Ctrl-C stops).
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// The container (default: the pod's Spark container).
    #[arg(short = 'c', long, value_name = "NAME")]
    pub container: Option<String>,
    /// Only the last N lines.
    #[arg(long, value_name = "N")]
    pub tail: Option<i64>,
    /// The log of the container's previous run (after it restarted).
    #[arg(short = 'p', long)]
    pub previous: bool,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

pub async fn run(args: LogsArgs) -> Result<(), CliError> {
    let session = connect(&args.cluster).await?;
    let (_, app) = get_app(&session, &args.name).await?;
    let pods: Api<Pod> = Api::namespaced(session.client.clone(), &session.target.namespace);
    let (pod, spark_container) = match args.executor {
        None => (driver_pod(&session, &pods, &app).await?, DRIVER_CONTAINER),
        Some(id) => (
            executor_pod(&session, &pods, &app, id).await?,
            EXECUTOR_CONTAINER,
        ),
    };
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let has_spark_container = pod
        .spec
        .as_ref()
        .is_some_and(|s| s.containers.iter().any(|c| c.name == spark_container));
    let params = LogParams {
        container: args
            .container
            .clone()
            .or_else(|| has_spark_container.then(|| spark_container.to_owned())),
        follow: args.follow,
        tail_lines: args.tail,
        previous: args.previous,
        ..Default::default()
    };
    let action = format!("reading the log of pod {pod_name:?}");
    let stream = pods
        .log_stream(&pod_name, &params)
        .await
        .map_err(|e| CliError::from_kube(e, &session.target, &action, Subject::Other))?;
    let mut stream = Box::pin(stream);
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = tokio::select! {
            read = stream.read(&mut buffer) => read,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let n = read.map_err(|e| CliError::Request {
            action: action.clone(),
            cause: e.to_string(),
        })?;
        if n == 0 {
            return Ok(());
        }
        out(&String::from_utf8_lossy(&buffer[..n]))?;
    }
}

/// The driver pod, or an error saying why there is none.
async fn driver_pod(
    session: &Session,
    pods: &Api<Pod>,
    app: &SparkApplication,
) -> Result<Pod, CliError> {
    let name = driver_pod_name(app);
    let found = pods.get_opt(&name).await.map_err(|e| {
        CliError::from_kube(e, &session.target, "reading the driver pod", Subject::Other)
    })?;
    found.ok_or_else(|| {
        let state = app
            .status
            .as_ref()
            .map(|s| s.application_state.state)
            .unwrap_or_default();
        CliError::NoDriverPod {
            app: app.metadata.name.clone().unwrap_or_default(),
            pod: name,
            namespace: session.target.namespace.clone(),
            state: state_name(app),
            hint: no_driver_hint(state),
        }
    })
}

/// Why an application in `state` may have no driver pod.
pub fn no_driver_hint(state: State) -> &'static str {
    match state {
        State::New => {
            "the operator has not submitted it yet: check that the operator runs and watches this namespace"
        }
        State::Submitted | State::PendingRerun | State::Resuming => {
            "its driver pod is not created yet: try again in a moment"
        }
        State::SubmissionFailed => "its submission failed: the error message says why",
        State::Suspending | State::Suspended => "it is suspended: its pods were deleted",
        State::Invalidating => "its spec changed and the old run is being deleted",
        State::Completed | State::Failed | State::Succeeding | State::Failing | State::Unknown => {
            "the pod was deleted (by someone, or with the application's objects)"
        }
        State::Running => "the pod was deleted under the running application",
    }
}

/// The executor pod with Spark executor id `id` of the application's current run.
async fn executor_pod(
    session: &Session,
    pods: &Api<Pod>,
    app: &SparkApplication,
    id: u32,
) -> Result<Pod, CliError> {
    let selector = executor_selector(app);
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| {
            CliError::from_kube(e, &session.target, "listing executor pods", Subject::Other)
        })?;
    let id_text = id.to_string();
    let mut ids: Vec<String> = Vec::new();
    for pod in list.items {
        let exec_id = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("spark-exec-id"))
            .cloned()
            .unwrap_or_default();
        if exec_id == id_text {
            return Ok(pod);
        }
        ids.push(exec_id);
    }
    ids.sort_by_key(|i| i.parse::<u64>().unwrap_or(u64::MAX));
    Err(CliError::NoExecutorPod {
        app: app.metadata.name.clone().unwrap_or_default(),
        id,
        namespace: session.target.namespace.clone(),
        found: if ids.is_empty() {
            "none".to_owned()
        } else {
            ids.join(", ")
        },
    })
}

/// The labels of the executors of the application's current run: Spark labels them with the
/// application id (`spark-app-selector`) and the role; before an id is known, the operator's
/// application label.
pub fn executor_selector(app: &SparkApplication) -> String {
    match app
        .status
        .as_ref()
        .and_then(|s| s.spark_application_id.as_deref())
        .filter(|id| !id.is_empty())
    {
        Some(id) => format!("spark-role=executor,spark-app-selector={id}"),
        None => format!(
            "spark-role=executor,{LABEL_APP_NAME}={}",
            app.metadata.name.as_deref().unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executors_are_found_by_the_application_id() {
        let mut app = SparkApplication::default();
        app.metadata.name = Some("pi".into());
        assert_eq!(
            executor_selector(&app),
            "spark-role=executor,sparkoperator.k8s.io/app-name=pi"
        );
        app.status = Some(Default::default());
        if let Some(s) = app.status.as_mut() {
            s.spark_application_id = Some("spark-0123".into());
        }
        assert_eq!(
            executor_selector(&app),
            "spark-role=executor,spark-app-selector=spark-0123"
        );
    }

    /// Every application state, read from the CRD's enum of `status.applicationState.state`, so a
    /// state added to the type is not missed here.
    fn every_state() -> Vec<State> {
        let crd = sparkplane_api::crds::spark_application().expect("the SparkApplication CRD");
        let schema = serde_json::to_value(&crd.spec.versions[0].schema).expect("schema");
        let states = &schema["openAPIV3Schema"]["properties"]["status"]["properties"]["applicationState"]
            ["properties"]["state"]["enum"];
        states
            .as_array()
            .expect("an enum of states")
            .iter()
            .map(|s| serde_json::from_value(s.clone()).expect("a state"))
            .collect()
    }

    #[test]
    fn every_state_explains_a_missing_driver() {
        let why = [
            (State::New, "has not submitted it yet"),
            (State::Submitted, "not created yet"),
            (State::PendingRerun, "not created yet"),
            (State::Resuming, "not created yet"),
            (State::SubmissionFailed, "submission failed"),
            (State::Suspending, "suspended"),
            (State::Suspended, "suspended"),
            (State::Invalidating, "spec changed"),
            (State::Running, "deleted under the running application"),
            (State::Succeeding, "was deleted"),
            (State::Failing, "was deleted"),
            (State::Completed, "was deleted"),
            (State::Failed, "was deleted"),
            (State::Unknown, "was deleted"),
        ];
        let mut listed: Vec<String> = why.iter().map(|(s, _)| format!("{s:?}")).collect();
        let mut all: Vec<String> = every_state().iter().map(|s| format!("{s:?}")).collect();
        listed.sort();
        all.sort();
        assert_eq!(listed, all, "a state without a row here");
        for (state, words) in why {
            let hint = no_driver_hint(state);
            assert!(hint.contains(words), "{state:?}: {hint:?}");
        }
    }
}
