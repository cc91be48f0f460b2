//! Test support for integration tests against the testbed control plane (`testbed/up`).
//!
//! [`Testbed::get`] finds the testbed once per test process: the one `KUBECONFIG` points at when
//! `SPARKPLANE_TESTBED_KUBECONFIG` or `KUBECONFIG` is set, else it runs `testbed/up` (idempotent: it
//! reuses a healthy testbed). Each test then takes a [`TestNamespace`] of its own, deleted when dropped.
//!
//! Every `#[tokio::test]` runs its own runtime, so clients are built per call rather than shared:
//! a client's connections belong to the runtime that opened them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

pub mod kubelet;
pub mod wait;

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
        for var in ["SPARKPLANE_TESTBED_KUBECONFIG", "KUBECONFIG"] {
            if let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) {
                return Ok(Testbed {
                    kubeconfig: PathBuf::from(path),
                });
            }
        }
        let up = repo_root().join("testbed/up");
        let output = Command::new(&up)
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
        let stdout = String::from_utf8_lossy(&output.stdout);
        let last = stdout.lines().last().unwrap_or_default();
        let path = last.strip_prefix("export KUBECONFIG=").with_context(|| {
            format!("testbed/up did not end with `export KUBECONFIG=...`: {last:?}")
        })?;
        Ok(Testbed {
            kubeconfig: PathBuf::from(path.trim_matches(['\'', '"'])),
        })
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

    /// A fresh namespace named `<prefix>-<pid>-<n>`, deleted when the returned guard drops.
    pub async fn namespace(&self, prefix: &str) -> anyhow::Result<TestNamespace> {
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
