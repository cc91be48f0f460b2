//! The testbed behaves as a real cluster would for everything Sparkplane relies on: simulated nodes,
//! scripted pod lifecycles, container logs and port-forwards, the garbage collector, RBAC and CEL
//! validation in CRD schemas.

use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, DynamicObject, LogParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, Client, Config};
use serde_json::json;
use sparkplane_testbed::kubelet::{self, DRIVER_LOG, EXECUTOR_LOG};
use sparkplane_testbed::{Testbed, wait};

const TIMEOUT: Duration = Duration::from_secs(30);

fn pod(name: &str, annotations: serde_json::Value) -> anyhow::Result<Pod> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "containers": [{"name": "main", "image": "registry.invalid/never-pulled:1"}],
            "restartPolicy": "Never",
        },
    }))?)
}

async fn wait_for_phase(pods: &Api<Pod>, name: &str, phase: &str) -> anyhow::Result<Pod> {
    wait::until(TIMEOUT, || async {
        let pod = pods.get(name).await?;
        Ok(pod.status.and_then(|s| s.phase).as_deref() == Some(phase))
    })
    .await
    .with_context(|| format!("pod {name} never reached {phase}"))?;
    Ok(pods.get(name).await?)
}

fn exit_code(pod: &Pod) -> Option<i32> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    Some(
        statuses
            .first()?
            .state
            .as_ref()?
            .terminated
            .as_ref()?
            .exit_code,
    )
}

#[tokio::test]
async fn simulated_nodes_are_ready_with_capacity() -> anyhow::Result<()> {
    let client = Testbed::get()?.client().await?;
    let nodes = Api::<Node>::all(client)
        .list(&kube::api::ListParams::default().labels("type=kwok"))
        .await?;
    let ready: Vec<&Node> = nodes
        .items
        .iter()
        .filter(|node| {
            node.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .collect();
    assert!(
        ready.len() >= 4,
        "expected at least 4 Ready nodes, got {}",
        ready.len()
    );
    for node in ready {
        let capacity = node
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .context("node without allocatable")?;
        assert_eq!(capacity.get("cpu").map(|q| q.0.as_str()), Some("16"));
        assert_eq!(capacity.get("pods").map(|q| q.0.as_str()), Some("110"));
    }
    Ok(())
}

#[tokio::test]
async fn pods_run_and_end_as_their_annotations_script() -> anyhow::Result<()> {
    let testbed = Testbed::get()?;
    let namespace = testbed.namespace("tb-pods").await?;
    let pods: Api<Pod> = Api::namespaced(testbed.client().await?, namespace.name());
    let params = PostParams::default();

    pods.create(&params, &pod("runs-forever", json!({}))?)
        .await?;
    pods.create(
        &params,
        &pod(
            "succeeds",
            json!({"testbed.sparkplane.io/complete-after": "1s"}),
        )?,
    )
    .await?;
    pods.create(
        &params,
        &pod(
            "fails",
            json!({"testbed.sparkplane.io/complete-after": "1s", "testbed.sparkplane.io/exit-code": "3"}),
        )?,
    )
    .await?;

    let running = wait_for_phase(&pods, "runs-forever", "Running").await?;
    let status = running.status.context("no status")?;
    assert!(status.pod_ip.is_some(), "a running pod has an IP");
    assert!(
        running.spec.and_then(|s| s.node_name).is_some(),
        "bound by the scheduler"
    );
    let ready = status.container_statuses.context("no container statuses")?;
    assert!(
        ready[0].ready
            && ready[0]
                .state
                .as_ref()
                .and_then(|s| s.running.as_ref())
                .is_some()
    );

    let succeeded = wait_for_phase(&pods, "succeeds", "Succeeded").await?;
    assert_eq!(exit_code(&succeeded), Some(0));
    let failed = wait_for_phase(&pods, "fails", "Failed").await?;
    assert_eq!(exit_code(&failed), Some(3));

    // Without the annotation a pod keeps running.
    let still = pods.get("runs-forever").await?;
    assert_eq!(
        still.status.and_then(|s| s.phase).as_deref(),
        Some("Running")
    );

    pods.delete("runs-forever", &DeleteParams::default())
        .await?;
    wait::until(TIMEOUT, || async {
        Ok(pods.get_opt("runs-forever").await?.is_none())
    })
    .await
    .context("a deleted pod goes away")?;
    Ok(())
}

fn pod_with_container(name: &str, container: &str) -> anyhow::Result<Pod> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": container, "image": "registry.invalid/never-pulled:1"}]},
    }))?)
}

#[tokio::test]
async fn kwok_serves_container_logs_and_port_forwards() -> anyhow::Result<()> {
    let testbed = Testbed::get()?;
    let namespace = testbed.namespace("tb-kubelet").await?;
    let client = testbed.client().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace.name());
    let params = PostParams::default();
    pods.create(
        &params,
        &pod_with_container("driver", "spark-kubernetes-driver")?,
    )
    .await?;
    pods.create(
        &params,
        &pod_with_container("executor", "spark-kubernetes-executor")?,
    )
    .await?;
    wait_for_phase(&pods, "driver", "Running").await?;
    wait_for_phase(&pods, "executor", "Running").await?;

    // pods/log: the API server reads it from the node's kubelet endpoint, which is kwok.
    let driver_log = kubelet::log_fixture(DRIVER_LOG)?;
    assert!(driver_log.lines().count() > 1, "{driver_log}");
    assert_eq!(
        pods.logs("driver", &LogParams::default()).await?,
        driver_log
    );
    assert_eq!(
        pods.logs("executor", &LogParams::default()).await?,
        kubelet::log_fixture(EXECUTOR_LOG)?
    );
    let last = LogParams {
        tail_lines: Some(1),
        ..LogParams::default()
    };
    assert_eq!(
        pods.logs("driver", &last).await?.trim_end(),
        driver_log.lines().last().unwrap_or_default()
    );
    // Following: the whole log arrives and the stream stays open, as for a running container.
    let follow = LogParams {
        follow: true,
        ..LogParams::default()
    };
    let mut stream = Box::pin(pods.log_stream("driver", &follow).await?);
    let mut followed = Vec::new();
    let mut buffer = [0u8; 4096];
    while followed.len() < driver_log.len() {
        let read = tokio::time::timeout(
            TIMEOUT,
            futures::AsyncReadExt::read(&mut stream, &mut buffer),
        )
        .await
        .context("the followed log stopped before the whole fixture")??;
        anyhow::ensure!(read > 0, "the followed log ended early: {followed:?}");
        followed.extend_from_slice(&buffer[..read]);
    }
    assert_eq!(String::from_utf8(followed)?, driver_log);
    let more = tokio::time::timeout(
        Duration::from_secs(1),
        futures::AsyncReadExt::read(&mut stream, &mut buffer),
    )
    .await;
    assert!(more.is_err(), "a followed log stays open: {more:?}");
    drop(stream);

    // pods/portforward: kubectl port-forward reaches the server the pod's PortForward points at.
    let server = kubelet::serve_http("served behind kwok")?;
    kubelet::forward_pod_port(client, namespace.name(), "driver", 4040, server).await?;
    let forward = PortForward::start(testbed, namespace.name(), "pod/driver", 4040)?;
    let answer = kubelet::http_get(&forward.local, TIMEOUT).await?;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nserved behind kwok"), "{answer}");
    Ok(())
}

/// A running `kubectl port-forward`, stopped when dropped.
struct PortForward {
    child: std::process::Child,
    local: String,
    // kubectl prints a line per connection: its stdout stays open so that it does not die of EPIPE.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl PortForward {
    fn start(testbed: &Testbed, namespace: &str, target: &str, port: u16) -> anyhow::Result<Self> {
        use std::io::BufRead;
        let mut child = std::process::Command::new(sparkplane_testbed::bin_dir()?.join("kubectl"))
            .args([
                "port-forward",
                "-n",
                namespace,
                "--address",
                "127.0.0.1",
                target,
            ])
            .arg(format!(":{port}"))
            .env("KUBECONFIG", testbed.kubeconfig())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().context("kubectl's stdout")?;
        let mut stdout = std::io::BufReader::new(stdout);
        let mut first = String::new();
        stdout.read_line(&mut first)?;
        // "Forwarding from 127.0.0.1:40123 -> 4040"
        let local = first
            .strip_prefix("Forwarding from ")
            .and_then(|rest| rest.split(" -> ").next())
            .map(str::to_owned)
            .unwrap_or_default();
        let forward = PortForward {
            child,
            local,
            _stdout: stdout,
        };
        anyhow::ensure!(
            !forward.local.is_empty(),
            "kubectl port-forward printed {first:?}"
        );
        Ok(forward)
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn garbage_collector_deletes_dependents_of_a_deleted_owner() -> anyhow::Result<()> {
    let testbed = Testbed::get()?;
    let namespace = testbed.namespace("tb-gc").await?;
    let config_maps: Api<ConfigMap> = Api::namespaced(testbed.client().await?, namespace.name());
    let owner: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "owner"}}))?;
    let owner = config_maps.create(&PostParams::default(), &owner).await?;
    let dependent: ConfigMap = serde_json::from_value(json!({
        "metadata": {
            "name": "dependent",
            "ownerReferences": [{
                "apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                "uid": owner.metadata.uid.context("owner has no uid")?,
            }],
        },
    }))?;
    config_maps
        .create(&PostParams::default(), &dependent)
        .await?;

    config_maps
        .delete("owner", &DeleteParams::background())
        .await?;
    wait::until(TIMEOUT, || async {
        Ok(config_maps.get_opt("dependent").await?.is_none())
    })
    .await
    .context("the garbage collector never deleted the dependent")?;
    Ok(())
}

#[tokio::test]
async fn rbac_denies_an_unprivileged_service_account() -> anyhow::Result<()> {
    let testbed = Testbed::get()?;
    let namespace = testbed.namespace("tb-rbac").await?;
    let admin = testbed.client().await?;
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), namespace.name());
    let account: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "nobody"}}))?;
    accounts.create(&PostParams::default(), &account).await?;
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(600),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    let token = accounts
        .create_token_request("nobody", &PostParams::default(), &request)
        .await?
        .status
        .and_then(|status| status.token)
        .context("TokenRequest without a token")?;

    let mut config: Config = testbed.config().await?;
    config.auth_info = Default::default();
    config.auth_info.token = Some(token.into());
    let nobody = Client::try_from(config)?;

    // The token authenticates (the service account may ask what it may do) ...
    let who: serde_json::Value = nobody
        .request(http_request(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            json!({
                "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
            }),
        )?)
        .await?;
    let username = who["status"]["userInfo"]["username"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        username,
        format!("system:serviceaccount:{}:nobody", namespace.name())
    );
    // ... and is refused what RBAC does not grant it.
    let error = Api::<Pod>::namespaced(nobody, namespace.name())
        .list(&Default::default())
        .await
        .expect_err("listing pods must be forbidden");
    match error {
        kube::Error::Api(status) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("expected a 403 from the API server, got {other:?}"),
    }
    Ok(())
}

fn http_request(path: &str, body: serde_json::Value) -> anyhow::Result<http::Request<Vec<u8>>> {
    Ok(http::Request::post(path)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body)?)?)
}

#[tokio::test]
async fn crd_cel_rule_rejects_a_bad_object_with_its_message() -> anyhow::Result<()> {
    let testbed = Testbed::get()?;
    let client = testbed.client().await?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": "widgets.testbed.sparkplane.io"},
        "spec": {
            "group": "testbed.sparkplane.io",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": {
                        "type": "object",
                        "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
                        "x-kubernetes-validations": [{
                            "rule": "self.min <= self.max",
                            "message": "min must not exceed max",
                        }],
                    }},
                }},
            }],
        },
    }))?;
    let params = kube::api::PatchParams::apply("testbed-tests").force();
    crds.patch(
        "widgets.testbed.sparkplane.io",
        &params,
        &kube::api::Patch::Apply(&crd),
    )
    .await?;
    wait::crd_established(&client, "widgets.testbed.sparkplane.io")
        .await
        .context("CRD never established")?;

    let namespace = testbed.namespace("tb-cel").await?;
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "testbed.sparkplane.io",
        "v1",
        "Widget",
    ));
    let widgets: Api<DynamicObject> = Api::namespaced_with(client, namespace.name(), &resource);
    let widget = |name: &str, min: i64, max: i64| -> anyhow::Result<DynamicObject> {
        Ok(serde_json::from_value(json!({
            "apiVersion": "testbed.sparkplane.io/v1", "kind": "Widget",
            "metadata": {"name": name}, "spec": {"min": min, "max": max},
        }))?)
    };
    // Retry the good one: the first requests after Established can still see the CRD as missing.
    wait::until(TIMEOUT, || async {
        Ok(widgets
            .create(&PostParams::default(), &widget("good", 1, 2)?)
            .await
            .is_ok())
    })
    .await
    .context("a valid Widget was never accepted")?;

    let error = widgets
        .create(&PostParams::default(), &widget("bad", 3, 2)?)
        .await
        .expect_err("the CEL rule must reject min > max");
    match error {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(
                status.message.contains("min must not exceed max")
                    && status.message.contains("spec"),
                "message names the rule and the field: {}",
                status.message
            );
        }
        other => panic!("expected a 422 from the API server, got {other:?}"),
    }
    Ok(())
}

#[test]
fn a_second_up_reuses_the_running_testbed() -> anyhow::Result<()> {
    let testbed = Testbed::get()?;
    let up = sparkplane_testbed::repo_root().join("testbed/up");
    let output = std::process::Command::new(&up).output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "testbed/up failed: {stderr}");
    assert!(
        stderr.contains("reusing the healthy testbed"),
        "a second up must reuse the running testbed, not start another: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.iter().any(|line| line.starts_with("export PATH=")),
        "{stdout}"
    );
    assert_eq!(
        lines.last().copied(),
        Some(format!("export KUBECONFIG={}", testbed.kubeconfig().display()).as_str()),
        "the last line gives the same kubeconfig"
    );
    Ok(())
}

/// `testbed/lib/kube.sh`'s `wait_crds_served`, which the demo and `testbed/up` use right after
/// creating CRDs, waits on a CRD created in the same breath (no status yet) and returns only when
/// its resource can be used. `kubectl wait --for condition=Established` fails on such a CRD.
#[test]
fn the_scripts_wait_for_a_brand_new_crd_until_it_is_served() -> anyhow::Result<()> {
    let testbed = Testbed::get()?;
    let kubectl = sparkplane_testbed::bin_dir()?.join("kubectl");
    let plural = format!("gadgets{}", std::process::id());
    let crd = format!("{plural}.testbed.sparkplane.io");
    let manifest = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": crd},
        "spec": {
            "group": "testbed.sparkplane.io",
            "names": {"kind": format!("Gadget{}", std::process::id()), "plural": plural},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}}}],
        },
    });
    let script = format!(
        "set -eu; source {lib}; printf '%s' \"$MANIFEST\" | $KUBECTL create -f - >/dev/null; \
         wait_crds_served 60 {crd}; $KUBECTL get {crd} -A -o name",
        lib = sparkplane_testbed::repo_root()
            .join("testbed/lib/kube.sh")
            .display(),
    );
    let output = std::process::Command::new("bash")
        .args(["-c", &script])
        .env("KUBECONFIG", testbed.kubeconfig())
        .env("KUBECTL", &kubectl)
        .env("MANIFEST", manifest.to_string())
        .output()?;
    let cleanup = std::process::Command::new(&kubectl)
        .args(["delete", "crd", &crd, "--ignore-not-found", "--wait=false"])
        .env("KUBECONFIG", testbed.kubeconfig())
        .output();
    assert!(
        output.status.success(),
        "wait_crds_served on a new CRD failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    cleanup?;
    Ok(())
}

/// Run in a child process by `a_kubeconfig_in_the_environment_is_never_used`.
#[test]
#[ignore = "run by a_kubeconfig_in_the_environment_is_never_used, with a foreign KUBECONFIG"]
fn print_the_cluster_the_tests_use() -> anyhow::Result<()> {
    println!("TESTS-USE={}", Testbed::get()?.kubeconfig().display());
    Ok(())
}

/// A shell whose KUBECONFIG points at a real cluster must not send the tests there: the test
/// support uses the testbed's kubeconfig, and another cluster only when named in the opt-in variable.
#[test]
fn a_kubeconfig_in_the_environment_is_never_used() -> anyhow::Result<()> {
    let testbed = Testbed::get()?;
    let dir = std::env::temp_dir().join(format!("foreign-kubeconfig-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let foreign = dir.join("config");
    std::fs::write(
        &foreign,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster: {server: 'https://127.0.0.1:1'}\n\
         users:\n- name: ops\n  user: {token: secret}\ncontexts:\n- name: prod\n  context: {cluster: prod, user: ops}\n\
         current-context: prod\n",
    )?;
    let run_child = |var: &str| -> anyhow::Result<String> {
        let output = std::process::Command::new(std::env::current_exe()?)
            .args([
                "--ignored",
                "--exact",
                "print_the_cluster_the_tests_use",
                "--nocapture",
            ])
            .env_remove("KUBECONFIG")
            .env(var, &foreign)
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "child failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        stdout
            .lines()
            .find_map(|line| line.strip_prefix("TESTS-USE="))
            .map(str::to_string)
            .context("the child printed no cluster")
    };
    let with_kubeconfig = run_child("KUBECONFIG");
    let with_opt_in = run_child(sparkplane_testbed::FOREIGN_CLUSTER_VAR);
    std::fs::remove_dir_all(&dir)?;
    assert_eq!(
        with_kubeconfig?,
        testbed.kubeconfig().display().to_string(),
        "KUBECONFIG must be ignored"
    );
    assert_eq!(
        with_opt_in?,
        foreign.display().to_string(),
        "the opt-in variable names the cluster to use"
    );
    Ok(())
}
