//! SparkConnect, as a Kubeflow user applies it: on kwok nodes what the operator does with the objects
//! (spec changes, refusals), and on the real node a real Spark Connect server that a real PySpark
//! Connect client on the host queries, whose executors the server's SparkContext asked for, and
//! which comes back when its pod is killed.

mod support;

use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use sparkplane_api::SparkConnect;
use sparkplane_api::v1alpha1::SparkConnectState as State;
use sparkplane_testbed::{Testbed, repo_root, wait};
use support::{
    Env, Operator, PortForward, create_service_account, example, hold_real_node, setup,
    setup_on_real_node, wait_events,
};

/// A JVM server start and an executor on two CPUs, with room for a busy machine.
const READY_TIMEOUT: Duration = Duration::from_secs(300);

fn connects(env: &Env) -> Api<SparkConnect> {
    Api::namespaced(env.admin.clone(), env.name())
}

async fn create(env: &Env, conn: &serde_json::Value) -> anyhow::Result<SparkConnect> {
    let typed: SparkConnect = serde_json::from_value(conn.clone())?;
    Ok(connects(env).create(&PostParams::default(), &typed).await?)
}

async fn wait_connect(
    env: &Env,
    name: &str,
    timeout: Duration,
    what: &str,
    check: impl Fn(&SparkConnect) -> bool,
) -> anyhow::Result<SparkConnect> {
    let api = connects(env);
    let last = std::sync::Mutex::new(None);
    let found = wait::until(timeout, || async {
        let conn = api.get_opt(name).await?;
        let ok = conn.as_ref().is_some_and(&check);
        *last.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = conn;
        Ok(ok)
    })
    .await;
    let last = last.into_inner().map_err(|_| anyhow::anyhow!("poisoned"))?;
    found.with_context(|| {
        format!(
            "{name} never {what}; last seen: {:?}",
            last.as_ref().map(|c| &c.status)
        )
    })?;
    last.context("gone")
}

fn state(conn: &SparkConnect) -> Option<State> {
    conn.status.as_ref().and_then(|s| s.state)
}

async fn server_pod(env: &Env, name: &str) -> anyhow::Result<Option<Pod>> {
    Ok(env.pods().get_opt(&format!("{name}-server")).await?)
}

/// Runs scripts/connect-client/query.py against the forwarded server and checks its answers:
/// counts and sums of 100,000 numbers by remainder mod 7, computed over 8 partitions.
fn query(forward: &PortForward) -> anyhow::Result<()> {
    let setup = repo_root().join("scripts/connect-client/setup");
    let python = Command::new(&setup).output()?;
    anyhow::ensure!(
        python.status.success(),
        "{}: {}",
        setup.display(),
        String::from_utf8_lossy(&python.stderr)
    );
    let python = String::from_utf8(python.stdout)?.trim().to_owned();
    let output = Command::new(python)
        .arg(repo_root().join("scripts/connect-client/query.py"))
        .arg(format!("sc://127.0.0.1:{}", forward.local(15002)?))
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "the client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout)?;
    let answer: serde_json::Value = serde_json::from_str(
        stdout
            .lines()
            .last()
            .context("the client printed nothing")?,
    )?;
    assert_eq!(answer["server_version"], "4.0.4");
    for remainder in 0..7u64 {
        let numbers = (0..100_000u64).filter(|n| n % 7 == remainder);
        let (count, sum) = numbers.fold((0u64, 0u64), |(c, s), n| (c + 1, s + n));
        let key = remainder.to_string();
        assert_eq!(
            answer["counts"][&key],
            json!(count),
            "count of {key}: {answer}"
        );
        assert_eq!(answer["sums"][&key], json!(sum), "sum of {key}: {answer}");
    }
    assert_eq!(answer["doubled_total"], json!(9900));
    Ok(())
}

/// The tasks each executor of the server's application ran, from Spark's own REST API.
async fn tasks_by_executor(forward: &PortForward) -> anyhow::Result<Vec<(String, i64)>> {
    let apps: serde_json::Value = serde_json::from_str(
        &support::http_get(forward.local(4040)?, "/api/v1/applications").await?,
    )?;
    let id = apps[0]["id"].as_str().context("no application in the UI")?;
    let executors: serde_json::Value = serde_json::from_str(
        &support::http_get(
            forward.local(4040)?,
            &format!("/api/v1/applications/{id}/executors"),
        )
        .await?,
    )?;
    Ok(executors
        .as_array()
        .context("executors are a list")?
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap_or_default().to_owned(),
                e["totalTasks"].as_i64().unwrap_or_default(),
            )
        })
        .collect())
}

fn cli(env: &Env, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_sparkplane"))
        .args(args)
        .args(["-n", env.name()])
        .env("KUBECONFIG", Testbed::get()?.kubeconfig())
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "sparkplane {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

/// The whole life of a Spark Connect server on the real node: ready, queried by a real client with
/// the work done on an executor, its pod killed and the server back under the same Service, queried
/// again, and deleted with everything it made.
#[tokio::test]
async fn a_pyspark_connect_client_queries_the_server_which_comes_back_after_its_pod_is_killed()
-> anyhow::Result<()> {
    let _node = hold_real_node().await?;
    let env = setup_on_real_node("real-connect").await?;
    let _operator = Operator::start(&env, &[])?;
    let name = "spark-connect";
    create(&env, &example("spark-connect.yaml", env.name())?).await?;
    let ready = wait_connect(&env, name, READY_TIMEOUT, "became Ready", |c| {
        state(c) == Some(State::Ready)
    })
    .await?;
    let status = ready.status.clone().context("no status")?;
    let server = status.server.clone().context("no server status")?;
    assert_eq!(server.pod_name.as_deref(), Some("spark-connect-server"));
    assert_eq!(server.service_name.as_deref(), Some("spark-connect-server"));
    assert!(server.pod_ip.is_some(), "no pod IP: {status:?}");
    let condition = &status.conditions.clone().unwrap_or_default()[0];
    assert_eq!(
        (condition.type_.as_str(), condition.status.as_str()),
        ("ServerPodReady", "True")
    );
    let services: Api<Service> = Api::namespaced(env.admin.clone(), env.name());
    let service = services.get("spark-connect-server").await?;
    let ports: Vec<_> = service
        .spec
        .and_then(|s| s.ports)
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.name.unwrap_or_default(), p.port))
        .collect();
    assert!(
        ports.contains(&("spark-connect-server".into(), 15002)),
        "{ports:?}"
    );
    let first = server_pod(&env, name).await?.context("no server pod")?;
    assert_eq!(
        first.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some("real-node")
    );

    // A real client's query, computed by the executor the server asked for.
    {
        let forward = PortForward::start(&env, "svc/spark-connect-server", &[15002, 4040]).await?;
        query(&forward)?;
        let tasks = tasks_by_executor(&forward).await?;
        assert!(
            tasks.iter().any(|(id, n)| id != "driver" && *n > 0),
            "no executor ran a task: {tasks:?}"
        );
    }
    let executors = env
        .pods()
        .list(
            &ListParams::default()
                .labels("sparkoperator.k8s.io/connect-name=spark-connect,spark-role=executor"),
        )
        .await?;
    assert_eq!(
        executors.items.len(),
        1,
        "the example asks for one executor"
    );
    let listed = cli(&env, &["get", "--kind", "connect"])?;
    assert!(
        listed.contains("spark-connect")
            && listed.contains("Ready")
            && listed.contains("1 running"),
        "{listed}"
    );
    let described = cli(&env, &["describe", "spark-connect", "--kind", "connect"])?;
    assert!(
        described.contains("SparkConnectServerReady")
            && described.contains(&format!(
                "sc://spark-connect-server.{}.svc:15002",
                env.name()
            )),
        "{described}"
    );

    // Killing the server pod: reported, a new server under the same Service, ready again.
    env.pods()
        .delete(
            "spark-connect-server",
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..DeleteParams::default()
            },
        )
        .await?;
    let first_uid = first.metadata.uid.clone();
    wait_connect(
        &env,
        name,
        Duration::from_secs(60),
        "reported the loss",
        |c| state(c) == Some(State::NotReady),
    )
    .await?;
    wait_connect(
        &env,
        name,
        READY_TIMEOUT,
        "came back Ready on a new pod",
        |c| state(c) == Some(State::Ready),
    )
    .await?;
    let second = server_pod(&env, name).await?.context("no server pod")?;
    anyhow::ensure!(
        second.metadata.uid != first_uid,
        "the server pod was not replaced"
    );
    wait_events(
        &env,
        name,
        &[
            "SparkConnectServerCreated",
            "SparkConnectServerReady",
            "SparkConnectServerNotReady",
        ],
        Duration::from_secs(30),
    )
    .await?;
    {
        let forward = PortForward::start(&env, "svc/spark-connect-server", &[15002, 4040]).await?;
        query(&forward)?;
    }

    // Deleting the SparkConnect takes its server, executors, Service and ConfigMap with it.
    connects(&env)
        .delete(name, &DeleteParams::background())
        .await?;
    let pods = env.pods();
    wait::until(Duration::from_secs(120), || async {
        Ok(pods.list(&ListParams::default()).await?.items.is_empty()
            && services.get_opt("spark-connect-server").await?.is_none())
    })
    .await
    .context("pods or the Service remain after the SparkConnect was deleted")?;
    Ok(())
}

/// On kwok nodes: a spec change replaces the server pod (Kubeflow keeps the old one), and a spec
/// the operator cannot run is Failed with a message naming the field and a Warning event, without
/// any pod.
#[tokio::test]
async fn a_spec_change_replaces_the_server_and_an_unrunnable_spec_fails_naming_the_field()
-> anyhow::Result<()> {
    let env = setup("connect").await?;
    let _operator = Operator::start(&env, &[])?;
    let mut conn = example("spark-connect.yaml", env.name())?;
    conn["metadata"]["name"] = json!("sc");
    // The server's ServiceAccount is missing here: its pod is refused, which is reported, and
    // created once the account exists.
    create(&env, &conn).await?;
    let refused = wait_connect(
        &env,
        "sc",
        Duration::from_secs(60),
        "reported the refusal",
        |c| {
            c.status
                .iter()
                .flat_map(|s| s.conditions.iter().flatten())
                .any(|c| c.message.contains("spark-operator-spark"))
        },
    )
    .await?;
    assert_eq!(state(&refused), Some(State::Provisioning));
    wait_events(
        &env,
        "sc",
        &["SparkConnectServerRefused"],
        Duration::from_secs(30),
    )
    .await?;
    create_service_account(&env, "spark-operator-spark").await?;
    let pods = env.pods();
    let first = wait::until(Duration::from_secs(60), || async {
        Ok(pods.get_opt("sc-server").await?.is_some())
    })
    .await;
    first.context("no server pod")?;
    let first = pods.get("sc-server").await?;
    let hash = |pod: &Pod| {
        pod.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("sparkplane.io/spec-hash").cloned())
    };
    connects(&env)
        .patch(
            "sc",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"executor": {"instances": 2}}})),
        )
        .await?;
    wait::until(Duration::from_secs(90), || async {
        Ok(match pods.get_opt("sc-server").await? {
            Some(pod) => pod.metadata.uid != first.metadata.uid && hash(&pod) != hash(&first),
            None => false,
        })
    })
    .await
    .context("the server pod was not replaced after the spec changed")?;
    let replaced = pods.get("sc-server").await?;
    let args = replaced.spec.as_ref().expect("spec").containers[0]
        .args
        .clone()
        .unwrap_or_default()
        .join(" ");
    assert!(args.contains("'spark.executor.instances=2'"), "{args}");
    wait_events(
        &env,
        "sc",
        &["SparkConnectSpecChanged"],
        Duration::from_secs(30),
    )
    .await?;

    // No image anywhere: the schema cannot see it; the operator refuses it, naming the field.
    let mut imageless = example("spark-connect.yaml", env.name())?;
    imageless["metadata"]["name"] = json!("imageless");
    imageless["spec"]
        .as_object_mut()
        .context("spec")?
        .remove("image");
    create(&env, &imageless).await?;
    let failed = wait_connect(&env, "imageless", Duration::from_secs(60), "Failed", |c| {
        state(c) == Some(State::Failed)
    })
    .await?;
    let message = failed
        .status
        .and_then(|s| s.conditions)
        .and_then(|c| c.into_iter().next())
        .map(|c| c.message)
        .unwrap_or_default();
    assert!(message.starts_with("spec.image:"), "{message}");
    wait_events(
        &env,
        "imageless",
        &["SparkConnectInvalid"],
        Duration::from_secs(30),
    )
    .await?;
    assert!(pods.get_opt("imageless-server").await?.is_none());
    Ok(())
}
