//! Test support for integration tests against the testbed control plane (`testbed/up`).
//!
//! [`Testbed::get`] finds the testbed once per test process by running `testbed/up` (idempotent: it
//! reuses a healthy testbed) and checks that the kubeconfig it gives is the testbed's own. `KUBECONFIG`
//! is never read: a shell pointed at a real cluster must not get CRDs, RBAC and Helm releases
//! installed there by a test run. Another cluster is used only when it is named explicitly in
//! [`FOREIGN_CLUSTER_VAR`]. Each test then takes a [`TestNamespace`] of its own, deleted when dropped.
//!
//! Every `#[tokio::test]` runs its own runtime, so clients are built per call rather than shared:
//! a client's connections belong to the runtime that opened them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

pub mod faults;
pub mod kubelet;
pub mod wait;

/// The variable that points the tests at a cluster other than the testbed: the path of a kubeconfig.
/// Only for someone who means it: the tests install CRDs, RBAC and a Helm release into that cluster.
pub const FOREIGN_CLUSTER_VAR: &str = "SPARKPLANE_TEST_FOREIGN_KUBECONFIG";

/// The namespace annotation through which the testbed's API server (PodNodeSelector admission) gives
/// every pod of a namespace a node selector; namespaces without it run on the simulated nodes.
pub const NODE_SELECTOR_ANNOTATION: &str = "scheduler.alpha.kubernetes.io/node-selector";

/// The node selector of the testbed's real node.
pub const REAL_NODE_SELECTOR: &str = "type=real";

/// The label every namespace made by the test support carries, so leftovers are easy to find.
pub const TEST_NAMESPACE_LABEL: &str = "testbed.sparkplane.io/test";

/// A running testbed, reached through a kubeconfig file.
#[derive(Debug, Clone)]
pub struct Testbed {
    kubeconfig: PathBuf,
}

static TESTBED: OnceLock<Result<Testbed, String>> = OnceLock::new();

impl Testbed {
    /// The testbed of this test process, started by `testbed/up` on first use unless a kubeconfig is given.
    pub fn get() -> anyhow::Result<&'static Testbed> {
        TESTBED
            .get_or_init(|| Self::locate().map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow::anyhow!("testbed unavailable: {e}"))
    }

    fn locate() -> anyhow::Result<Testbed> {
        if let Some(path) = std::env::var_os(FOREIGN_CLUSTER_VAR).filter(|p| !p.is_empty()) {
            eprintln!(
                "warning: tests run against the cluster of {} ({FOREIGN_CLUSTER_VAR}), not the testbed",
                Path::new(&path).display()
            );
            return Ok(Testbed {
                kubeconfig: PathBuf::from(path),
            });
        }
        let up = repo_root().join("testbed/up");
        let output = Command::new(&up)
            .env_remove("KUBECONFIG")
            .output()
            .with_context(|| format!("running {}", up.display()))?;
        if !output.status.success() {
            bail!(
                "{} failed ({}):\n{}",
                up.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let kubeconfig = kubeconfig_from_up(&String::from_utf8_lossy(&output.stdout))?;
        ensure_testbed(&kubeconfig, &testbed_state_dir())?;
        Ok(Testbed { kubeconfig })
    }

    /// The admin kubeconfig of the testbed.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The client configuration of the testbed's admin user.
    pub async fn config(&self) -> anyhow::Result<Config> {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)
            .with_context(|| format!("reading {}", self.kubeconfig.display()))?;
        Ok(Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?)
    }

    /// A new admin client, bound to the calling runtime.
    pub async fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::try_from(self.config().await?)?)
    }

    /// A fresh namespace named `<prefix>-<pid>-<n>`, deleted when the returned guard drops. Its pods
    /// run on the simulated (kwok) nodes, the testbed's default.
    pub async fn namespace(&self, prefix: &str) -> anyhow::Result<TestNamespace> {
        self.create_namespace(prefix, None).await
    }

    /// A fresh namespace whose pods run on the testbed's real node (its node selector annotation
    /// says `type=real`), where containers really run. Fails when the testbed has no real node.
    pub async fn namespace_on_real_node(&self, prefix: &str) -> anyhow::Result<TestNamespace> {
        let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(self.client().await?);
        let real = nodes
            .list(&kube::api::ListParams::default().labels(REAL_NODE_SELECTOR))
            .await?;
        if real.items.is_empty() {
            bail!(
                "the testbed has no real node (started with TESTBED_REAL_NODE=0?): \
                 tests of real Spark need it (testbed/down, then testbed/up as root)"
            );
        }
        self.create_namespace(prefix, Some(REAL_NODE_SELECTOR))
            .await
    }

    async fn create_namespace(
        &self,
        prefix: &str,
        node_selector: Option<&str>,
    ) -> anyhow::Result<TestNamespace> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let namespaces: Api<Namespace> = Api::all(self.client().await?);
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([(TEST_NAMESPACE_LABEL.to_string(), prefix.to_string())].into()),
                annotations: node_selector.map(|selector| {
                    [(NODE_SELECTOR_ANNOTATION.to_string(), selector.to_string())].into()
                }),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        // The service-account controller adds `default` shortly after; pods need it to be admitted.
        wait::until(Duration::from_secs(30), || {
            let client = namespaces.clone().into_client();
            let name = name.clone();
            async move {
                let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
                    Api::namespaced(client, &name);
                Ok(accounts.get_opt("default").await?.is_some())
            }
        })
        .await
        .with_context(|| format!("namespace {name}: no default ServiceAccount"))?;
        Ok(TestNamespace {
            name,
            testbed: self.clone(),
        })
    }
}

/// A namespace owned by one test; dropping it deletes the namespace (and, through the namespace
/// controller, everything in it).
#[derive(Debug)]
pub struct TestNamespace {
    name: String,
    testbed: Testbed,
}

impl TestNamespace {
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if std::env::var_os("SPARKPLANE_KEEP_NAMESPACES").is_some() {
            return;
        }
        // Drop cannot await, and the test's runtime may be shutting down: delete from a thread with
        // a runtime of its own.
        let name = self.name.clone();
        let testbed = self.testbed.clone();
        let deleted = std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let namespaces: Api<Namespace> = Api::all(testbed.client().await?);
                namespaces
                    .delete(&name, &DeleteParams::background())
                    .await?;
                Ok(())
            })
        })
        .join();
        if let Ok(Err(error)) = deleted {
            eprintln!(
                "warning: could not delete test namespace {}: {error:#}",
                self.name
            );
        }
    }
}

/// The kubeconfig path of `testbed/up`'s output, whose last line is `export KUBECONFIG=<path>`.
fn kubeconfig_from_up(stdout: &str) -> anyhow::Result<PathBuf> {
    let last = stdout.lines().last().unwrap_or_default();
    let path = last.strip_prefix("export KUBECONFIG=").with_context(|| {
        format!("testbed/up did not end with `export KUBECONFIG=...`: {last:?}")
    })?;
    Ok(PathBuf::from(path.trim_matches(['\'', '"'])))
}

/// The testbed's state directory, as `testbed/lib/common.sh` derives it.
pub fn testbed_state_dir() -> PathBuf {
    if let Some(state) = std::env::var_os("SPARKPLANE_TESTBED_STATE").filter(|s| !s.is_empty()) {
        return PathBuf::from(state);
    }
    let cache = std::env::var_os("SPARKPLANE_CACHE")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .filter(|s| !s.is_empty())
                .map(|c| PathBuf::from(c).join("sparkplane"))
        })
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/sparkplane")))
        .unwrap_or_else(|| PathBuf::from(".cache/sparkplane"));
    cache.join("testbed/run")
}

/// Refuses a kubeconfig that is not the testbed's own: it must lie in the testbed's state directory
/// and trust exactly the testbed's CA, so that its server can only be the testbed's API server.
pub fn ensure_testbed(kubeconfig: &Path, state: &Path) -> anyhow::Result<()> {
    let refuse = |why: String| {
        anyhow::anyhow!(
            "refusing to run tests against {}: {why}. The tests only use the testbed (testbed/up); \
             to run them against another cluster on purpose, set {FOREIGN_CLUSTER_VAR} to its kubeconfig",
            kubeconfig.display()
        )
    };
    if !kubeconfig.starts_with(state) {
        return Err(refuse(format!(
            "it is not in the testbed's state {}",
            state.display()
        )));
    }
    let testbed_ca = std::fs::read(state.join("pki/ca.crt"))
        .map_err(|e| refuse(format!("the testbed's CA cannot be read ({e})")))?;
    let config = Kubeconfig::read_from(kubeconfig)
        .map_err(|e| refuse(format!("it cannot be read ({e})")))?;
    let context_name = config.current_context.clone().unwrap_or_default();
    let cluster_name = config
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .ok_or_else(|| refuse(format!("its current context {context_name:?} is missing")))?;
    let cluster = config
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_ref())
        .ok_or_else(|| refuse(format!("its cluster {cluster_name:?} is missing")))?;
    let trusted = match (
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
    ) {
        (Some(data), _) => base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| refuse(format!("its CA data is not base64 ({e})")))?,
        (None, Some(file)) => std::fs::read(file)
            .map_err(|e| refuse(format!("its CA file {file} cannot be read ({e})")))?,
        (None, None) => return Err(refuse("it names no CA".into())),
    };
    if trusted != testbed_ca {
        return Err(refuse("it trusts another CA than the testbed's".into()));
    }
    Ok(())
}

/// The repository's root: this crate lives in `crates/testbed`.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `../shared/reference`, the compatibility fixtures beside every checkout.
pub fn shared_reference() -> PathBuf {
    repo_root().join("../shared/reference")
}

/// The directory of the testbed's programs (`kubectl`, `helm`, `kube-apiserver`, ...): the one
/// `testbed/build` prints, building whatever is missing (cached; instant once built).
pub fn bin_dir() -> anyhow::Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        let build = repo_root().join("testbed/build");
        let output = Command::new(&build)
            .output()
            .map_err(|e| format!("running {}: {e}", build.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        match stdout.lines().last() {
            Some(dir) if output.status.success() => Ok(PathBuf::from(dir.trim())),
            _ => Err(format!(
                "{} failed ({}):\n{}",
                build.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )),
        }
    })
    .clone()
    .map_err(|e| anyhow::anyhow!("testbed programs unavailable: {e}"))
}

/// Server-side applies the CRDs `testbed/build` copied from an upstream module into `bin/<dir>`
/// (`kueue-crds`, `scheduler-plugins-crds`) and waits until each serves its objects.
pub async fn install_crds(client: &kube::Client, dir: &str) -> anyhow::Result<()> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Patch, PatchParams};
    let crds: kube::Api<CustomResourceDefinition> = kube::Api::all(client.clone());
    let params = PatchParams::apply("sparkplane-testbed").force();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(bin_dir()?.join(dir))? {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path)?;
        let crd: CustomResourceDefinition =
            serde_yaml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let name = crd.metadata.name.clone().unwrap_or_default();
        crds.patch(&name, &params, &Patch::Apply(&crd)).await?;
        names.push(name);
    }
    for name in names {
        wait::crd_established(client, &name).await?;
    }
    Ok(())
}

/// A spark-pi SparkApplication (as a JSON value) whose driver pod kwok ends `complete_after`
/// after it runs, with `exit_code`: the one fixture of the tests and the benchmark.
pub fn spark_pi(name: &str, complete_after: &str, exit_code: i32) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {"name": name},
        "spec": {
            "type": "Scala",
            "mode": "cluster",
            "image": "docker.io/apache/spark:4.0.4",
            "mainClass": "org.apache.spark.examples.SparkPi",
            "mainApplicationFile": "local:///opt/spark/examples/jars/spark-examples.jar",
            "sparkVersion": "4.0.4",
            "driver": {
                "cores": 1,
                "memory": "512m",
                "annotations": {
                    "testbed.sparkplane.io/complete-after": complete_after,
                    "testbed.sparkplane.io/exit-code": exit_code.to_string()
                }
            },
            "executor": {"instances": 1, "cores": 1, "memory": "512m"}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\ntestbed\n-----END CERTIFICATE-----\n";

    fn kubeconfig(ca: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:16443\n    certificate-authority: {ca}\n\
             users:\n- name: u\n  user: {{}}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"
        )
    }

    /// A state directory with a CA, and a directory elsewhere, both removed afterwards.
    struct Dirs {
        state: PathBuf,
        elsewhere: PathBuf,
    }

    impl Dirs {
        fn new(name: &str) -> Dirs {
            let root =
                std::env::temp_dir().join(format!("testbed-lib-{name}-{}", std::process::id()));
            let state = root.join("state");
            let elsewhere = root.join("elsewhere");
            std::fs::create_dir_all(state.join("pki")).unwrap();
            std::fs::create_dir_all(&elsewhere).unwrap();
            std::fs::write(state.join("pki/ca.crt"), CA).unwrap();
            Dirs { state, elsewhere }
        }
    }

    impl Drop for Dirs {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(self.state.parent().unwrap());
        }
    }

    #[test]
    fn the_testbeds_own_kubeconfig_is_accepted() {
        let dirs = Dirs::new("own");
        let path = dirs.state.join("admin.kubeconfig");
        let ca = dirs.state.join("pki/ca.crt");
        std::fs::write(&path, kubeconfig(&ca.display().to_string())).unwrap();
        ensure_testbed(&path, &dirs.state).unwrap();
    }

    #[test]
    fn a_kubeconfig_outside_the_testbed_state_is_refused() {
        let dirs = Dirs::new("outside");
        let path = dirs.elsewhere.join("config");
        let ca = dirs.state.join("pki/ca.crt");
        std::fs::write(&path, kubeconfig(&ca.display().to_string())).unwrap();
        let error = ensure_testbed(&path, &dirs.state).unwrap_err().to_string();
        assert!(error.contains("refusing"), "{error}");
        assert!(error.contains(FOREIGN_CLUSTER_VAR), "{error}");
    }

    #[test]
    fn a_kubeconfig_trusting_another_ca_is_refused() {
        let dirs = Dirs::new("other-ca");
        let other = dirs.elsewhere.join("ca.crt");
        std::fs::write(
            &other,
            "-----BEGIN CERTIFICATE-----\nprod\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let path = dirs.state.join("admin.kubeconfig");
        std::fs::write(&path, kubeconfig(&other.display().to_string())).unwrap();
        let error = ensure_testbed(&path, &dirs.state).unwrap_err().to_string();
        assert!(error.contains("another CA"), "{error}");
        assert!(error.contains(FOREIGN_CLUSTER_VAR), "{error}");
    }

    #[test]
    fn the_kubeconfig_is_the_last_line_of_up() {
        let out = "export PATH=/x:\"$PATH\"\nexport KUBECONFIG=/s/admin.kubeconfig\n";
        assert_eq!(
            kubeconfig_from_up(out).unwrap(),
            PathBuf::from("/s/admin.kubeconfig")
        );
        assert!(kubeconfig_from_up("testbed: error\n").is_err());
    }
}
