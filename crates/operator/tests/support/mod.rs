//! Shared set-up of the operator's integration tests: CRDs and the operator's ClusterRole installed
//! (server-side apply, idempotent across test binaries), a namespace per test with the operator's
//! ServiceAccount bound there, a kubeconfig holding that ServiceAccount's token, and the operator
//! binary run with it: under real RBAC, scoped to the test's namespace.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::config::Kubeconfig;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde_json::json;
use sparkplane_api::SparkApplication;
use sparkplane_api::v1beta2::ApplicationStateType as State;
use sparkplane_testbed::{TestNamespace, Testbed, repo_root, wait};

pub const MANAGER: &str = "sparkplane-tests";

pub struct Env {
    pub ns: TestNamespace,
    pub admin: Client,
    pub kubeconfig: PathBuf,
}

impl Env {
    pub fn name(&self) -> &str {
        self.ns.name()
    }

    pub fn apps(&self) -> Api<SparkApplication> {
        Api::namespaced(self.admin.clone(), self.name())
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.admin.clone(), self.name())
    }
}

/// Applies every YAML document of `path` with server-side apply.
async fn apply_file<K>(client: &Client, path: &Path) -> anyhow::Result<()>
where
    K: kube::Resource<Scope = k8s_openapi::ClusterResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let api: Api<K> = Api::all(client.clone());
    for doc in text.split("\n---") {
        if doc.trim().is_empty() || doc.lines().all(|l| l.trim_start().starts_with('#')) {
            continue;
        }
        let obj: K = serde_yaml::from_str(doc)?;
        let name = obj.meta().name.clone().context("unnamed object")?;
        api.patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&obj),
        )
        .await
        .with_context(|| format!("applying {name}"))?;
    }
    Ok(())
}

async fn install_cluster_objects(admin: &Client) -> anyhow::Result<()> {
    let root = repo_root();
    for crd in [
        "sparkapplications.sparkoperator.k8s.io.yaml",
        "scheduledsparkapplications.sparkoperator.k8s.io.yaml",
        "sparkconnects.sparkoperator.k8s.io.yaml",
    ] {
        apply_file::<CustomResourceDefinition>(admin, &root.join("deploy/crds").join(crd)).await?;
    }
    wait::crd_established(admin, "sparkapplications.sparkoperator.k8s.io").await?;
    wait::crd_established(admin, "sparkconnects.sparkoperator.k8s.io").await?;
    apply_file::<ClusterRole>(admin, &root.join("deploy/rbac/operator-clusterrole.yaml")).await
}

/// A namespace for one test, the operator's ServiceAccount bound there to the ClusterRole, and a
/// kubeconfig with its token.
pub async fn setup(prefix: &str) -> anyhow::Result<Env> {
    let testbed = Testbed::get()?;
    let admin = testbed.client().await?;
    install_cluster_objects(&admin).await?;
    let ns = testbed.namespace(prefix).await?;
    setup_in(testbed, admin, ns).await
}

/// Like [`setup`], in a namespace whose pods run on the testbed's real node, with what a Spark
/// driver needs there (deploy/rbac/spark-driver.yaml: its ServiceAccount, Role and RoleBinding).
pub async fn setup_on_real_node(prefix: &str) -> anyhow::Result<Env> {
    let testbed = Testbed::get()?;
    let admin = testbed.client().await?;
    install_cluster_objects(&admin).await?;
    let ns = testbed.namespace_on_real_node(prefix).await?;
    apply_driver_rbac(&admin, ns.name()).await?;
    setup_in(testbed, admin, ns).await
}

/// deploy/rbac/spark-driver.yaml, applied into `namespace` instead of the one it names.
async fn apply_driver_rbac(admin: &Client, namespace: &str) -> anyhow::Result<()> {
    use k8s_openapi::api::rbac::v1::Role;
    let path = repo_root().join("deploy/rbac/spark-driver.yaml");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let params = PatchParams::apply(MANAGER).force();
    for doc in text.split("\n---") {
        let mut value: serde_json::Value = serde_yaml::from_str(doc)?;
        if value.is_null() {
            continue;
        }
        value["metadata"]["namespace"] = json!(namespace);
        if let Some(subjects) = value.get_mut("subjects").and_then(|s| s.as_array_mut()) {
            for subject in subjects {
                subject["namespace"] = json!(namespace);
            }
        }
        let name = value["metadata"]["name"]
            .as_str()
            .context("unnamed object in spark-driver.yaml")?
            .to_owned();
        match value["kind"].as_str() {
            Some("ServiceAccount") => {
                let api: Api<ServiceAccount> = Api::namespaced(admin.clone(), namespace);
                api.patch(&name, &params, &Patch::Apply(&value)).await?;
            }
            Some("Role") => {
                let api: Api<Role> = Api::namespaced(admin.clone(), namespace);
                api.patch(&name, &params, &Patch::Apply(&value)).await?;
            }
            Some("RoleBinding") => {
                let api: Api<RoleBinding> = Api::namespaced(admin.clone(), namespace);
                api.patch(&name, &params, &Patch::Apply(&value)).await?;
            }
            other => bail!("spark-driver.yaml: unexpected kind {other:?}"),
        }
    }
    Ok(())
}

async fn setup_in(testbed: &Testbed, admin: Client, ns: TestNamespace) -> anyhow::Result<Env> {
    let name = ns.name().to_owned();
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), &name);
    let sa: ServiceAccount = serde_json::from_value(json!({
        "metadata": {"name": "sparkplane-operator", "namespace": name}
    }))?;
    accounts.create(&PostParams::default(), &sa).await?;
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "sparkplane-operator", "namespace": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "sparkplane-operator"},
        "subjects": [{"kind": "ServiceAccount", "name": "sparkplane-operator", "namespace": name}]
    }))?;
    Api::<RoleBinding>::namespaced(admin.clone(), &name)
        .create(&PostParams::default(), &binding)
        .await?;
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            audiences: Some(vec![]),
            expiration_seconds: Some(3 * 3600),
            ..Default::default()
        }),
        ..Default::default()
    };
    let token: TokenRequest = accounts
        .create_subresource(
            "token",
            "sparkplane-operator",
            &PostParams::default(),
            &request,
        )
        .await?;
    let token = token.status.and_then(|s| s.token).context("no token")?;
    let kubeconfig = write_kubeconfig(testbed.kubeconfig(), &name, &token)?;
    Ok(Env {
        ns,
        admin,
        kubeconfig,
    })
}

/// Where tests leave logs (kept after the test, for a look after a failure).
pub fn log_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("sparkplane-operator-tests");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

fn write_kubeconfig(admin: &Path, ns: &str, token: &str) -> anyhow::Result<PathBuf> {
    let config = Kubeconfig::read_from(admin)?;
    let cluster = config
        .clusters
        .first()
        .and_then(|c| c.cluster.clone())
        .context("admin kubeconfig has no cluster")?;
    let mut c = json!({"server": cluster.server});
    if let Some(data) = cluster.certificate_authority_data {
        c["certificate-authority-data"] = json!(data);
    }
    if let Some(file) = cluster.certificate_authority {
        c["certificate-authority"] = json!(file);
    }
    let sa = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "testbed", "cluster": c}],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "testbed", "user": "operator", "namespace": ns}}],
        "current-context": "operator"
    });
    let path = log_dir().join(format!("{ns}.kubeconfig"));
    std::fs::write(&path, serde_yaml::to_string(&sa)?)?;
    Ok(path)
}

/// The operator's flags as deployed (the chart's): leader election on, with `identity` (a restarted
/// replica that keeps it takes its Lease back at once) and a Lease of `lease_seconds`.
pub fn deployed_operator_args(identity: &str, lease_seconds: &str) -> Vec<String> {
    [
        "--workers",
        "16",
        "--submission-concurrency",
        "8",
        "--leader-elect",
        "true",
        "--identity",
        identity,
        "--lease-duration-seconds",
        lease_seconds,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// What starting an operator of a test needs, without the test's namespace itself (which is deleted
/// when dropped): for a task that restarts operators on its own.
#[derive(Debug, Clone)]
pub struct Launcher {
    pub namespace: String,
    pub kubeconfig: PathBuf,
}

impl Env {
    pub fn launcher(&self) -> Launcher {
        Launcher {
            namespace: self.name().to_owned(),
            kubeconfig: self.kubeconfig.clone(),
        }
    }
}

/// A running operator process, killed (SIGKILL) when dropped.
pub struct Operator {
    child: Child,
    pub log: PathBuf,
    pub metrics_port: u16,
}

/// Runs `command` with `input` on its standard input; what it printed once it exits.
pub fn run_with_input(command: &mut Command, input: &str) -> anyhow::Result<std::process::Output> {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("no standard input"))?
        .write_all(input.as_bytes())?;
    Ok(child.wait_with_output()?)
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Operator {
    /// Starts `sparkplane operator` as the test's ServiceAccount, scoped to its namespace, with
    /// short timings; `extra` adds or overrides flags.
    pub fn start(env: &Env, extra: &[&str]) -> anyhow::Result<Operator> {
        let mut args = vec!["--namespace", env.name()];
        args.extend_from_slice(extra);
        Self::start_unscoped(env, &args)
    }

    /// Starts the operator without `--namespace`: `extra` says where it looks.
    pub fn start_unscoped(env: &Env, extra: &[&str]) -> anyhow::Result<Operator> {
        Self::launch(&env.launcher(), &[], extra)
    }

    /// Like [`Operator::start`], run through `wrapper` (a program and its arguments, such as
    /// `nsenter` into a network namespace).
    pub fn start_in(env: &Env, wrapper: &[&str], extra: &[&str]) -> anyhow::Result<Operator> {
        let mut args = vec!["--namespace", env.name()];
        args.extend_from_slice(extra);
        Self::launch(&env.launcher(), wrapper, &args)
    }

    /// Starts the operator as `launcher` says, through `wrapper` (none: directly), with `extra`.
    pub fn launch(
        launcher: &Launcher,
        wrapper: &[&str],
        extra: &[&str],
    ) -> anyhow::Result<Operator> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = log_dir().join(format!("{}-{n}.log", launcher.namespace));
        let out = std::fs::File::create(&log)?;
        let port = free_port()?;
        let metrics = format!("127.0.0.1:{port}");
        let mut args = vec!["operator", "--metrics-address", &metrics];
        for (flag, value) in [
            ("--leader-elect", "false"),
            ("--driver-pod-creation-grace-period", "5"),
            ("--log-format", "text"),
        ] {
            if !extra.contains(&flag) {
                args.extend([flag, value]);
            }
        }
        args.extend_from_slice(extra);
        let binary = env!("CARGO_BIN_EXE_sparkplane");
        let mut command = match wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut command = Command::new(program);
                command.args(wrapper_args).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        let child = command
            .args(&args)
            .env("KUBECONFIG", &launcher.kubeconfig)
            .env("RUST_LOG", "info,kube=warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?;
        Ok(Operator {
            child,
            log,
            metrics_port: port,
        })
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits (up to 20 s) for the process to exit; returns whether it exited 0.
    pub fn terminate(&mut self) -> anyhow::Result<bool> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.success());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("the operator did not exit after SIGTERM")
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// How the process ended, if it has.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    pub async fn metrics(&self) -> anyhow::Result<String> {
        http_get(self.metrics_port, "/metrics").await
    }

    /// Waits until /metrics has every line of `lines` (gauges refreshed on a timer need a moment).
    pub async fn wait_metrics(&self, lines: &[&str]) -> anyhow::Result<()> {
        let last = Arc::new(Mutex::new(String::new()));
        let result = wait::until(Duration::from_secs(15), || {
            let last = last.clone();
            async move {
                let text = self.metrics().await?;
                let ok = lines.iter().all(|want| text.lines().any(|l| l == *want));
                *last.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = text;
                Ok(ok)
            }
        })
        .await;
        let text = last.lock().map(|t| t.clone()).unwrap_or_default();
        result.with_context(|| format!("metrics lack some of {lines:?}:\n{text}"))
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- operator log {} ---\n{}",
                self.log.display(),
                self.log_tail()
            );
        }
    }
}

/// `sparkplane dashboard --port 0` with `args`, as the kubeconfig's user; stopped with the test.
pub struct Dashboard {
    child: Child,
    /// `http://127.0.0.1:<port>`, as its first line says.
    pub url: String,
}

impl Dashboard {
    pub fn start(args: &[&str], kubeconfig: &Path, log: PathBuf) -> anyhow::Result<Dashboard> {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(env!("CARGO_BIN_EXE_sparkplane"))
            .arg("dashboard")
            .args(args)
            .args(["--port", "0"])
            .env("KUBECONFIG", kubeconfig)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first)?;
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .map(|u| u.trim_end_matches('/').to_owned());
        let Some(url) = url else {
            let _ = child.kill();
            bail!(
                "the dashboard did not say where it listens: {first:?}; its log {}",
                log.display()
            );
        };
        Ok(Dashboard { child, url })
    }

    /// The port it listens on.
    pub fn port(&self) -> anyhow::Result<u16> {
        let port = self.url.rsplit(':').next().unwrap_or_default();
        port.parse()
            .with_context(|| format!("no port in {}", self.url))
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A connection to 127.0.0.1:`port` that has sent `GET path` (HTTP/1.0: the answer ends with the
/// connection) and waits at most 10 s for each read.
fn send_get(port: u16, path: &str) -> anyhow::Result<std::net::TcpStream> {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())?;
    Ok(stream)
}

/// A minimal HTTP/1.0 GET on 127.0.0.1 (the test needs no HTTP client crate for this).
pub async fn http_get(port: u16, path: &str) -> anyhow::Result<String> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        use std::io::Read;
        let mut stream = send_get(port, &path)?;
        let mut out = String::new();
        stream.read_to_string(&mut out)?;
        let Some((head, body)) = out.split_once("\r\n\r\n") else {
            bail!("no HTTP response: {out:?}");
        };
        if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
            bail!("GET {path}: {head}\n{body}");
        }
        Ok(body.to_owned())
    })
    .await?
}

/// The start of a streamed answer on 127.0.0.1 (server-sent events that may never end): read
/// until it holds `needle`, within 10 s.
pub async fn http_stream_until(port: u16, path: &str, needle: &str) -> anyhow::Result<String> {
    let (path, needle) = (path.to_owned(), needle.to_owned());
    tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        use std::io::Read;
        let mut stream = send_get(port, &path)?;
        let mut out = Vec::new();
        let mut buffer = [0u8; 4096];
        while !String::from_utf8_lossy(&out).contains(&needle) {
            let read = stream.read(&mut buffer).with_context(|| {
                format!(
                    "GET {path}: no {needle:?} in {:?}",
                    String::from_utf8_lossy(&out)
                )
            })?;
            if read == 0 {
                bail!(
                    "GET {path} ended without {needle:?}: {:?}",
                    String::from_utf8_lossy(&out)
                );
            }
            out.extend_from_slice(&buffer[..read]);
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    })
    .await?
}

/// A SparkApplication whose driver kwok ends after `complete_after` with `exit_code`.
pub fn app(name: &str, complete_after: &str, exit_code: i32) -> serde_json::Value {
    sparkplane_testbed::spark_pi(name, complete_after, exit_code)
}

/// Creates the ServiceAccount `name` in the test's namespace (Kubeflow's examples run their drivers
/// as `spark-operator-spark`).
pub async fn create_service_account(env: &Env, name: &str) -> anyhow::Result<()> {
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(env.admin.clone(), env.name());
    accounts
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))?,
        )
        .await?;
    Ok(())
}

pub async fn create(env: &Env, app: &serde_json::Value) -> anyhow::Result<SparkApplication> {
    let app: SparkApplication = serde_json::from_value(app.clone())?;
    Ok(env.apps().create(&PostParams::default(), &app).await?)
}

pub fn state(app: &SparkApplication) -> State {
    app.status
        .as_ref()
        .map(|s| s.application_state.state)
        .unwrap_or_default()
}

/// Waits until the application reaches `want`; returns it.
pub async fn wait_state(
    env: &Env,
    name: &str,
    want: State,
    timeout: Duration,
) -> anyhow::Result<SparkApplication> {
    let apps = env.apps();
    let found = Arc::new(Mutex::new(None));
    let result = wait::until(timeout, || {
        let apps = apps.clone();
        let found = found.clone();
        async move {
            let app = apps.get(name).await?;
            let ok = state(&app) == want;
            *found.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = Some(app);
            Ok(ok)
        }
    })
    .await;
    let last = found
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .take();
    match (result, last) {
        (Ok(()), Some(app)) => Ok(app),
        (Err(e), last) => bail!(
            "{name} did not reach {want:?}: {e:#}; last status: {:?}",
            last.and_then(|a| a.status)
        ),
        (Ok(()), None) => bail!("{name}: no object"),
    }
}

/// What a background watch has recorded, and why it stopped if it did.
struct Recording<T> {
    data: T,
    stopped: Option<String>,
}

/// A watch run in the background that folds every object it sees into a `T`. A watch that fails or
/// ends would leave a record that silently stops short, and checks made on it could pass for want of
/// data: once that happens, every read fails instead.
pub struct Recorder<T> {
    shared: Arc<Mutex<Recording<T>>>,
    task: tokio::task::JoinHandle<()>,
}

impl<T: Clone + Default + Send + 'static> Recorder<T> {
    pub fn start<K>(
        api: Api<K>,
        config: watcher::Config,
        mut record: impl FnMut(&mut T, K) + Send + 'static,
    ) -> Recorder<T>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
        K::DynamicType: Default + Eq + std::hash::Hash + Clone,
    {
        let shared = Arc::new(Mutex::new(Recording {
            data: T::default(),
            stopped: None,
        }));
        let sink = shared.clone();
        let task = tokio::spawn(async move {
            let mut stream = watcher(api, config).applied_objects().boxed();
            let stopped = loop {
                match stream.try_next().await {
                    Ok(Some(object)) => match sink.lock() {
                        Ok(mut recording) => record(&mut recording.data, object),
                        // Poisoned: every read fails already.
                        Err(_) => return,
                    },
                    Ok(None) => break "the watch ended".to_owned(),
                    Err(error) => break format!("the watch failed: {error}"),
                }
            };
            if let Ok(mut recording) = sink.lock() {
                recording.stopped = Some(stopped);
            }
        });
        Recorder { shared, task }
    }

    /// What was recorded so far; an error once the watch has stopped.
    pub fn read(&self) -> anyhow::Result<T> {
        let recording = self
            .shared
            .lock()
            .map_err(|_| anyhow::anyhow!("a recorder panicked"))?;
        match &recording.stopped {
            Some(why) => bail!("the recording stopped short: {why}"),
            None => Ok(recording.data.clone()),
        }
    }
}

impl<T> Drop for Recorder<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Records every state an application passes through, from its watch events.
pub struct StateLog(Recorder<Vec<State>>);

impl StateLog {
    pub fn start(env: &Env, name: &str) -> StateLog {
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        StateLog(Recorder::start(
            env.apps(),
            config,
            |states: &mut Vec<State>, app: SparkApplication| {
                let s = state(&app);
                if states.last() != Some(&s) {
                    states.push(s);
                }
            },
        ))
    }

    pub fn states(&self) -> anyhow::Result<Vec<State>> {
        self.0.read()
    }

    /// The states seen once the watch has caught up with `last`: a poll can see a state before
    /// the watch delivers it.
    pub async fn states_until(&self, last: State) -> anyhow::Result<Vec<State>> {
        let caught_up = wait::until(Duration::from_secs(10), || async {
            Ok(self.states()?.last() == Some(&last))
        })
        .await;
        let states = self.states()?;
        caught_up.with_context(|| format!("the watch saw {states:?}, not yet {last:?}"))?;
        Ok(states)
    }
}

/// The reasons of the events recorded on an application, oldest first.
pub async fn event_reasons(env: &Env, name: &str) -> anyhow::Result<Vec<String>> {
    Ok(events(env, name)
        .await?
        .into_iter()
        .map(|(reason, _)| reason)
        .collect())
}

/// The events of object `name`, oldest first: (reason, message).
pub async fn events(env: &Env, name: &str) -> anyhow::Result<Vec<(String, String)>> {
    let events: Api<k8s_openapi::api::core::v1::Event> =
        Api::namespaced(env.admin.clone(), env.name());
    let mut list = events
        .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
        .await?
        .items;
    list.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
    Ok(list
        .into_iter()
        .filter_map(|e| Some((e.reason?, e.message.unwrap_or_default())))
        .collect())
}

pub async fn wait_events(
    env: &Env,
    name: &str,
    wanted: &[&str],
    timeout: Duration,
) -> anyhow::Result<Vec<String>> {
    let last = Arc::new(Mutex::new(Vec::new()));
    let result = wait::until(timeout, || {
        let last = last.clone();
        async move {
            let reasons = event_reasons(env, name).await?;
            let ok = wanted.iter().all(|w| reasons.iter().any(|r| r == w));
            *last.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = reasons;
            Ok(ok)
        }
    })
    .await;
    let reasons = last.lock().map(|v| v.clone()).unwrap_or_default();
    result.with_context(|| format!("events of {name}: {reasons:?}, wanted {wanted:?}"))?;
    Ok(reasons)
}

/// A kubeconfig (the testbed's server and CA) holding a fresh token of the ServiceAccount
/// `namespace/account`, with `namespace` as its default namespace.
pub async fn service_account_kubeconfig(
    admin: &Client,
    namespace: &str,
    account: &str,
) -> anyhow::Result<PathBuf> {
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            audiences: Some(vec![]),
            expiration_seconds: Some(3600),
            ..Default::default()
        }),
        ..Default::default()
    };
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), namespace);
    let token: TokenRequest = accounts
        .create_subresource("token", account, &PostParams::default(), &request)
        .await
        .with_context(|| format!("token of {namespace}/{account}"))?;
    let token = token.status.and_then(|s| s.token).context("no token")?;
    let written = write_kubeconfig(Testbed::get()?.kubeconfig(), namespace, &token)?;
    // write_kubeconfig names the file after the namespace alone; one per account here.
    let path = log_dir().join(format!("{namespace}-{account}.kubeconfig"));
    std::fs::rename(&written, &path)?;
    Ok(path)
}

/// A client that authenticates with the kubeconfig at `path`.
pub async fn client_from_kubeconfig(path: &Path) -> anyhow::Result<Client> {
    let kubeconfig = Kubeconfig::read_from(path)?;
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await?;
    Ok(Client::try_from(config)?)
}

/// Something of the testbed held by one test at a time, in this process (a mutex) and across test
/// processes (a file lock); released when dropped.
pub struct Held {
    _file: std::fs::File,
    _guard: tokio::sync::MutexGuard<'static, ()>,
}

async fn hold(
    in_process: &'static tokio::sync::Mutex<()>,
    lock_file: &str,
) -> anyhow::Result<Held> {
    let guard = in_process.lock().await;
    let path = std::env::temp_dir().join(lock_file);
    let file = tokio::task::spawn_blocking(move || -> anyhow::Result<std::fs::File> {
        let file = std::fs::File::create(&path)?;
        file.lock()?;
        Ok(file)
    })
    .await??;
    Ok(Held {
        _file: file,
        _guard: guard,
    })
}

/// The testbed's real node, so that a driver never waits for CPUs another test's executors hold (the
/// node has the machine's two).
pub async fn hold_real_node() -> anyhow::Result<Held> {
    static IN_PROCESS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    hold(&IN_PROCESS, "sparkplane-real-node.lock").await
}

/// The right to kill parts of the shared testbed (the reliability tests).
pub async fn hold_testbed_faults() -> anyhow::Result<Held> {
    static IN_PROCESS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    hold(&IN_PROCESS, "sparkplane-testbed-faults.lock").await
}

/// `kubectl port-forward` (the testbed's kubectl, as admin) of a pod or Service of the test's
/// namespace, each remote port on a free local one; stopped when dropped.
pub struct PortForward {
    child: Child,
    ports: Vec<(u16, u16)>,
}

impl PortForward {
    /// Forwards `remote` ports of `target` (`svc/NAME`, `pod/NAME`), ready when the first listens.
    pub async fn start(env: &Env, target: &str, remote: &[u16]) -> anyhow::Result<PortForward> {
        let ports = remote
            .iter()
            .map(|port| Ok((*port, free_port()?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut args = vec![
            "port-forward".to_owned(),
            "-n".to_owned(),
            env.name().to_owned(),
            target.to_owned(),
        ];
        args.extend(
            ports
                .iter()
                .map(|(remote, local)| format!("{local}:{remote}")),
        );
        let child = Command::new(sparkplane_testbed::bin_dir()?.join("kubectl"))
            .args(&args)
            .env("KUBECONFIG", Testbed::get()?.kubeconfig())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let forward = PortForward { child, ports };
        let first = forward
            .ports
            .first()
            .map(|(_, local)| *local)
            .context("no port")?;
        wait::until(Duration::from_secs(30), || async {
            Ok(tokio::net::TcpStream::connect(("127.0.0.1", first))
                .await
                .is_ok())
        })
        .await
        .with_context(|| format!("the port-forward of {target} never listened"))?;
        Ok(forward)
    }

    /// The local port of `remote`.
    pub fn local(&self, remote: u16) -> anyhow::Result<u16> {
        self.ports
            .iter()
            .find(|(r, _)| *r == remote)
            .map(|(_, local)| *local)
            .with_context(|| format!("port {remote} is not forwarded"))
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A manifest of examples/, unchanged but for its namespace.
pub fn example(file: &str, namespace: &str) -> anyhow::Result<serde_json::Value> {
    let path = repo_root().join("examples").join(file);
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let mut object: serde_json::Value = serde_yaml::from_str(&text)?;
    object["metadata"]["namespace"] = json!(namespace);
    Ok(object)
}
