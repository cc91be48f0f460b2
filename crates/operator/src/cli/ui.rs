//! `sparkplane ui`: forwards a local port to the Spark UI of the driver pod through the API
//! server's pods/portforward, one forwarded stream per accepted connection (as kubectl does).

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use sparkplane_api::SparkApplication;
use sparkplane_submit::identity::DRIVER_CONTAINER;
use tokio::net::{TcpListener, TcpStream};

use super::connect::{ClusterArgs, Session, connect};
use super::error::{CliError, Subject, Target};
use super::logs::no_driver_hint;
use super::{driver_pod_name, get_app, out, state_name};

/// Spark's default UI port (`spark.ui.port`).
const DEFAULT_UI_PORT: u16 = 4040;

#[derive(Debug, clap::Args)]
pub struct UiArgs {
    /// The SparkApplication.
    pub name: String,
    /// The local address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub address: String,
    /// The local port (default: the UI's port; 0 picks a free one).
    #[arg(long)]
    pub port: Option<u16>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

pub async fn run(args: UiArgs) -> Result<(), CliError> {
    let session = connect(&args.cluster).await?;
    let (_, app) = get_app(&session, &args.name).await?;
    let (pods, pod) = running_driver(&session, &app).await?;
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let remote = ui_port(&pod, &app);
    let local_port = args.port.unwrap_or(remote);
    let listener = listen(&format!("{}:{local_port}", args.address)).await?;
    let local = listener.local_addr()?;
    out(&format!(
        "Forwarding from {local} -> {remote}\nSpark UI of {}: http://{local}/ (Ctrl-C stops)\n",
        args.name
    ))?;
    tokio::select! {
        served = serve_forwarded(listener, pods, pod_name, remote, session.target.clone(), true) => served,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// The application's driver pod, or an error saying why it has none running.
pub(super) async fn running_driver(
    session: &Session,
    app: &SparkApplication,
) -> Result<(Api<Pod>, Pod), CliError> {
    let name = app.metadata.name.clone().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(session.client.clone(), &session.target.namespace);
    let pod_name = driver_pod_name(app);
    let pod = pods
        .get_opt(&pod_name)
        .await
        .map_err(|e| {
            CliError::from_kube(e, &session.target, "reading the driver pod", Subject::Other)
        })?
        .ok_or_else(|| CliError::NoDriverPod {
            app: name.clone(),
            pod: pod_name.clone(),
            namespace: session.target.namespace.clone(),
            state: state_name(app),
            hint: no_driver_hint(
                app.status
                    .as_ref()
                    .map(|s| s.application_state.state)
                    .unwrap_or_default(),
            ),
        })?;
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Unknown".to_owned());
    if phase != "Running" {
        return Err(CliError::DriverNotRunning {
            app: name,
            pod: pod_name,
            namespace: session.target.namespace.clone(),
            phase,
        });
    }
    Ok((pods, pod))
}

/// Accepts connections on `listener` and forwards each to `port` of the pod, on a stream of its
/// own; `say` prints each connection as kubectl does. Runs until accepting fails.
pub(super) async fn serve_forwarded(
    listener: TcpListener,
    pods: Api<Pod>,
    pod_name: String,
    port: u16,
    target: Target,
    say: bool,
) -> Result<(), CliError> {
    let local = listener.local_addr()?;
    loop {
        let (connection, _) = listener.accept().await?;
        if say {
            eprintln!("Handling connection for {}", local.port());
        }
        let pods = pods.clone();
        let pod_name = pod_name.clone();
        let target = target.clone();
        tokio::spawn(async move {
            if let Err(e) = forward(&pods, &pod_name, port, connection, &target).await {
                eprintln!("error: {e}");
            }
        });
    }
}

/// The driver's UI port: the pod's `spark-ui` container port, else `spark.ui.port` of the spec,
/// else 4040.
/// A listener on `address` (`host:port`; port 0 picks a free one), its failure naming the address.
pub async fn listen(address: &str) -> Result<TcpListener, CliError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| CliError::Listen {
            address: address.to_owned(),
            source,
        })
}

pub fn ui_port(pod: &Pod, app: &SparkApplication) -> u16 {
    let from_pod = pod.spec.as_ref().and_then(|spec| {
        let containers = &spec.containers;
        containers
            .iter()
            .filter(|c| c.name == DRIVER_CONTAINER)
            .chain(containers.iter())
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some("spark-ui"))
            .and_then(|p| u16::try_from(p.container_port).ok())
    });
    from_pod
        .or_else(|| {
            app.spec
                .spark_conf
                .as_ref()?
                .get("spark.ui.port")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(DEFAULT_UI_PORT)
}

async fn forward(
    pods: &Api<Pod>,
    pod: &str,
    port: u16,
    mut connection: TcpStream,
    target: &Target,
) -> Result<(), CliError> {
    let action = format!("forwarding a connection to pod {pod:?} port {port}");
    let map = |e| CliError::from_kube(e, target, &action, Subject::Other);
    let mut forwarder = pods.portforward(pod, &[port]).await.map_err(map)?;
    let mut upstream = forwarder
        .take_stream(port)
        .ok_or_else(|| CliError::Request {
            action: action.clone(),
            cause: "the API server opened no stream for the port".into(),
        })?;
    let remote_error = forwarder.take_error(port);
    tokio::io::copy_bidirectional(&mut connection, &mut upstream).await?;
    drop(upstream);
    if let Some(remote_error) = remote_error
        && let Some(message) = remote_error.await
    {
        return Err(CliError::Request {
            action,
            cause: message,
        });
    }
    forwarder.join().await.map_err(|e| CliError::Request {
        action: action.clone(),
        cause: super::error::chain(&e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_ui_port_comes_from_the_pod_then_the_spec() {
        let pod: Pod = serde_json::from_value(json!({
            "spec": {"containers": [{"name": "spark-kubernetes-driver", "ports": [
                {"name": "driver-rpc-port", "containerPort": 7078},
                {"name": "spark-ui", "containerPort": 4041}
            ]}]}
        }))
        .unwrap();
        let mut app = SparkApplication::default();
        assert_eq!(ui_port(&pod, &app), 4041);
        app.spec.spark_conf = Some([("spark.ui.port".to_owned(), "4099".to_owned())].into());
        assert_eq!(ui_port(&Pod::default(), &app), 4099);
        assert_eq!(ui_port(&Pod::default(), &SparkApplication::default()), 4040);
    }
}
