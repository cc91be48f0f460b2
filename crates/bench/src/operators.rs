//! The two operators under measurement and how each is started on the host against the testbed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use sparkplane_bench::procfs::read_to_string_or_empty;
use sparkplane_bench::versions;

use crate::cluster::Cluster;
use crate::process::{Launch, Process, free_port};
use crate::say;

/// What the Kubeflow controller needs besides its binary: spark-submit (a Spark distribution, such
/// as the one in PyPI's pyspark) and the JDK it runs on, both from the environment.
#[derive(Debug, Clone)]
pub struct KubeflowSetup {
    pub bin: PathBuf,
    pub spark_home: PathBuf,
    pub java_home: PathBuf,
}

impl KubeflowSetup {
    /// From `--kubeflow` and SPARK_HOME / JAVA_HOME; a missing piece stops the run before it
    /// starts, with what to set.
    pub fn from_environment(bin: &Path) -> anyhow::Result<KubeflowSetup> {
        let var = |name: &str, what: &str| -> anyhow::Result<PathBuf> {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .with_context(|| {
                    format!("KUBEFLOW_OPERATOR_BIN is set, so {name} must be too: {what}")
                })
        };
        let setup = KubeflowSetup {
            bin: bin.to_path_buf(),
            spark_home: var(
                "SPARK_HOME",
                "a Spark distribution with bin/spark-submit (e.g. PyPI pyspark's package directory)",
            )?,
            java_home: var("JAVA_HOME", "a JDK 17 for spark-submit")?,
        };
        let submit = setup.spark_home.join("bin/spark-submit");
        anyhow::ensure!(submit.exists(), "{} does not exist", submit.display());
        Ok(setup)
    }

    /// The controller's version and what it submits with.
    pub fn versions(&self) -> String {
        let output = std::process::Command::new(&self.bin)
            .arg("version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let spark =
            versions::pyspark_version(&read_to_string_or_empty(self.spark_home.join("version.py")))
                .map_or_else(
                    || format!("the Spark at {}", self.spark_home.display()),
                    |v| format!("Spark {v} (PyPI pyspark)"),
                );
        let java = versions::java_version(&read_to_string_or_empty(self.java_home.join("release")))
            .unwrap_or_else(|| "unknown".into());
        format!(
            "{}, spark-submit from {spark} on JDK {java}",
            versions::kubeflow_version(&output).unwrap_or_else(|| self.bin.display().to_string())
        )
    }
}

/// Which operator a process is.
pub enum Controller {
    Sparkplane(PathBuf),
    Kubeflow(KubeflowSetup),
}

/// A started, ready operator.
pub struct Started {
    pub operator: &'static str,
    pub process: Process,
    /// Where its health (Sparkplane: and /metrics) is served.
    pub port: u16,
    /// Kubeflow's /metrics.
    pub metrics_port: Option<u16>,
    pub description: String,
    pub counted: String,
}

/// SPARKPLANE_* settings in the environment (the operator reads each of its flags from one), the
/// testbed's own left out.
fn sparkplane_settings_in_environment() -> Vec<String> {
    std::env::vars()
        .filter(|(k, _)| {
            k.starts_with("SPARKPLANE_")
                && !["SPARKPLANE_TESTBED", "SPARKPLANE_CACHE", "SPARKPLANE_KEEP"]
                    .iter()
                    .any(|testbed| k.starts_with(testbed))
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

impl Controller {
    pub fn name(&self) -> &'static str {
        match self {
            Controller::Sparkplane(_) => "sparkplane",
            Controller::Kubeflow(_) => "kubeflow",
        }
    }

    fn sparkplane_launch<'a>(
        bin: &'a Path,
        namespaces: &[String],
        kubeconfig: &str,
        port: u16,
        log: PathBuf,
    ) -> (Launch<'a>, String, String) {
        let args = vec![
            "operator".to_owned(),
            "--namespace".to_owned(),
            namespaces.join(","),
            "--leader-elect".to_owned(),
            "false".to_owned(),
            "--metrics-address".to_owned(),
            format!("127.0.0.1:{port}"),
        ];
        let settings = sparkplane_settings_in_environment();
        let settings = if settings.is_empty() {
            "every other setting at its default (32 tracking workers taken oldest first, submissions at once adapted to the API server's latency from 16 between 4 and 64 against a 250 ms target, JSON logs at info to a file)".to_owned()
        } else {
            format!(
                "with {} in its environment, every other setting at its default",
                settings.join(" ")
            )
        };
        let description = format!(
            "the release binary on the host, `sparkplane operator --namespace <the run's namespaces> --leader-elect false --metrics-address 127.0.0.1:<port>`, {settings}, with the testbed's admin kubeconfig rather than its ServiceAccount (RBAC is not what is measured)."
        );
        let launch = Launch {
            program: bin,
            args,
            env: vec![("KUBECONFIG".into(), kubeconfig.to_owned())],
            log,
            include_children: false,
        };
        let counted = "the operator process's user + system CPU time (/proc/<pid>/stat) and its VmRSS / VmHWM (/proc/<pid>/status); it starts no children.".to_owned();
        (launch, description, counted)
    }

    /// `controller start` scoped to the run's namespaces, no leader election (the webhook is a
    /// separate command, so it is off), probes and metrics on loopback. spark-submit finds the API
    /// server through KUBERNETES_SERVICE_HOST/PORT and its credentials through KUBECONFIG.
    fn kubeflow_launch<'a>(
        setup: &'a KubeflowSetup,
        cluster: &Cluster,
        namespaces: &[String],
        port: u16,
        metrics_port: u16,
        log: PathBuf,
    ) -> anyhow::Result<(Launch<'a>, String, String)> {
        let (host, api_port) = versions::host_and_port(&cluster.server).with_context(|| {
            format!(
                "the API server address {} is not https://host:port",
                cluster.server
            )
        })?;
        let args = vec![
            "controller".to_owned(),
            "start".to_owned(),
            format!("--namespaces={}", namespaces.join(",")),
            "--leader-election=false".to_owned(),
            "--controller-threads=10".to_owned(),
            "--enable-metrics=true".to_owned(),
            format!("--metrics-bind-address=127.0.0.1:{metrics_port}"),
            format!("--health-probe-bind-address=127.0.0.1:{port}"),
            "--zap-log-level=info".to_owned(),
        ];
        let description = format!(
            "`spark-operator controller start --namespaces=<the run's namespaces> --leader-election=false --controller-threads=10 --enable-metrics=true` (probes and metrics on loopback ports; every other flag at its default, including --enable-ui-service=true and --kube-api-qps 20) on the host, not niced, webhook off (it is a separate command), with the testbed's admin kubeconfig in KUBECONFIG (read by the controller and by spark-submit), KUBERNETES_SERVICE_HOST={host} KUBERNETES_SERVICE_PORT={api_port} (spark-submit's master URL), SPARK_HOME={} and JAVA_HOME={}.",
            setup.spark_home.display(),
            setup.java_home.display()
        );
        let launch = Launch {
            program: &setup.bin,
            args,
            env: vec![
                (
                    "KUBECONFIG".into(),
                    cluster.kubeconfig.display().to_string(),
                ),
                ("KUBERNETES_SERVICE_HOST".into(), host),
                ("KUBERNETES_SERVICE_PORT".into(), api_port.to_string()),
                ("SPARK_HOME".into(), setup.spark_home.display().to_string()),
                ("JAVA_HOME".into(), setup.java_home.display().to_string()),
            ],
            log,
            include_children: true,
        };
        let counted = "the controller and every descendant (spark-submit and its JVMs): user + system CPU of each live member plus the CPU of the children each has waited for (cutime/cstime); memory is the controller's own VmRSS/VmHWM and, sampled every 250 ms, the summed VmRSS of the whole process tree.".to_owned();
        Ok((launch, description, counted))
    }

    /// Starts the operator on `namespaces` and waits until it says it is ready.
    pub async fn start(
        &self,
        cluster: &Cluster,
        namespaces: &[String],
        logs: &Path,
        label: &str,
    ) -> anyhow::Result<Started> {
        let port = free_port()?;
        let log = logs.join(format!("{label}.log"));
        let kubeconfig = cluster.kubeconfig.display().to_string();
        let mut metrics_port = None;
        let (launch, description, counted) = match self {
            Controller::Sparkplane(bin) => {
                Self::sparkplane_launch(bin, namespaces, &kubeconfig, port, log)
            }
            Controller::Kubeflow(setup) => {
                let metrics = free_port()?;
                metrics_port = Some(metrics);
                Self::kubeflow_launch(setup, cluster, namespaces, port, metrics, log)?
            }
        };
        let mut process = Process::spawn(launch)?;
        say(format!(
            "{}: started (pid {}, log {})",
            self.name(),
            process.pid,
            process.log.display()
        ));
        process
            .wait_ready(port, "/readyz", Duration::from_secs(120))
            .await?;
        Ok(Started {
            operator: self.name(),
            process,
            port,
            metrics_port,
            description,
            counted,
        })
    }
}
