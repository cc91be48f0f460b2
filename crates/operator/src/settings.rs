//! The `sparkplane operator` command line: every setting of the operator, each also readable from an
//! environment variable (for Deployments).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use crate::lifecycle;

/// Runs the operator: watches SparkApplications and their pods, submits, tracks, retries and cleans up.
#[derive(Debug, Clone, Args)]
pub struct OperatorArgs {
    /// Namespaces whose applications are run (repeat or comma-separate); none means all namespaces.
    /// Kubeflow's `spark.jobNamespaces`.
    #[arg(
        long = "namespace",
        env = "SPARKPLANE_NAMESPACES",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,
    /// Only run applications in namespaces with these labels (e.g. `spark=enabled`); Kubeflow's
    /// `spark.jobNamespaceSelector`. Combined with --namespace, both must hold.
    #[arg(long, env = "SPARKPLANE_NAMESPACE_SELECTOR")]
    pub namespace_selector: Option<String>,
    /// Tracking reconciles that run at once (status, retries, TTL); submissions have their own.
    #[arg(long, env = "SPARKPLANE_WORKERS", default_value_t = 32)]
    pub workers: u16,
    /// Submissions that run at once; 0 adapts it to the API server's latency, from 16, between 4 and
    /// --submission-concurrency-max.
    #[arg(long, env = "SPARKPLANE_SUBMISSION_CONCURRENCY", default_value_t = 0)]
    pub submission_concurrency: usize,
    /// The most submissions at once when adapting.
    #[arg(
        long,
        env = "SPARKPLANE_SUBMISSION_CONCURRENCY_MAX",
        default_value_t = 64
    )]
    pub submission_concurrency_max: usize,
    /// When adapting, more submissions run at once while driver creations answer within this
    /// (milliseconds), fewer when slower or refused.
    #[arg(
        long,
        env = "SPARKPLANE_SUBMISSION_LATENCY_TARGET_MS",
        default_value_t = 250
    )]
    pub submission_latency_target_ms: u64,
    /// Every API call but watches is abandoned after this long (seconds), so that a hung call
    /// frees what it holds; it is retried with backoff.
    #[arg(long, env = "SPARKPLANE_API_TIMEOUT", default_value_t = 30)]
    pub api_timeout_seconds: u64,
    /// At most this many executors per application are kept in status.executorState.
    #[arg(long, env = "SPARKPLANE_MAX_TRACKED_EXECUTORS", default_value_t = 1000)]
    pub max_tracked_executors: usize,
    /// How long a submitted driver pod may be missing before the run counts as failed (seconds).
    #[arg(
        long,
        env = "SPARKPLANE_DRIVER_POD_CREATION_GRACE_PERIOD",
        default_value_t = 10
    )]
    pub driver_pod_creation_grace_period: u64,
    /// timeToLiveSeconds for applications that set none (seconds; unset: keep them).
    #[arg(long, env = "SPARKPLANE_DEFAULT_TTL")]
    pub default_time_to_live_seconds: Option<i64>,
    /// How often a live application is looked at even when nothing changes (seconds).
    #[arg(long, env = "SPARKPLANE_RESYNC", default_value_t = 300)]
    pub resync_seconds: u64,
    /// A run whose driver pod has not left Pending this long after its submission fails, and is
    /// retried by the restart policy (seconds; 0: no limit). Annotation
    /// `sparkplane.io/driver-start-timeout` overrides it per application.
    #[arg(long, env = "SPARKPLANE_DRIVER_START_TIMEOUT", default_value_t = 0)]
    pub driver_start_timeout_seconds: u64,
    /// A run none of whose executors has started this long after its submission fails (seconds; 0:
    /// no limit). Annotation `sparkplane.io/executor-start-timeout` overrides it.
    #[arg(long, env = "SPARKPLANE_EXECUTOR_START_TIMEOUT", default_value_t = 0)]
    pub executor_start_timeout_seconds: u64,
    /// A run that has not ended this long after its submission fails (seconds; 0: no limit).
    /// Annotation `sparkplane.io/run-timeout` overrides it.
    #[arg(long, env = "SPARKPLANE_RUN_TIMEOUT", default_value_t = 0)]
    pub run_timeout_seconds: u64,
    /// Where /metrics, /healthz and /readyz are served.
    #[arg(
        long,
        env = "SPARKPLANE_METRICS_ADDRESS",
        default_value = "0.0.0.0:8080"
    )]
    pub metrics_address: SocketAddr,
    /// Elect a leader through a Lease; only the leader writes.
    #[arg(long, env = "SPARKPLANE_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// The Lease's name.
    #[arg(
        long,
        env = "SPARKPLANE_LEASE_NAME",
        default_value = "sparkplane-controller-lock"
    )]
    pub lease_name: String,
    /// The Lease's namespace (default: the first --namespace, else `default`).
    #[arg(long, env = "SPARKPLANE_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// How long a leader's Lease holds without renewal (seconds): the failover time.
    #[arg(long, env = "SPARKPLANE_LEASE_DURATION", default_value_t = 15)]
    pub lease_duration_seconds: u64,
    /// This replica's identity in the Lease (default: the host name and process id).
    #[arg(long, env = "SPARKPLANE_IDENTITY")]
    pub identity: Option<String>,
    /// spark.master as drivers see it: how they reach the API server.
    #[arg(
        long,
        env = "SPARKPLANE_MASTER",
        default_value = "k8s://https://kubernetes.default.svc:443"
    )]
    pub master: String,
    /// Kubeflow's --ingress-url-format for the UI Ingress ({{$appName}}, {{$appNamespace}}, {{$appId}}).
    #[arg(long, env = "SPARKPLANE_INGRESS_URL_FORMAT")]
    pub ingress_url_format: Option<String>,
    /// The IngressClass of UI Ingresses.
    #[arg(long, env = "SPARKPLANE_INGRESS_CLASS_NAME")]
    pub ingress_class_name: Option<String>,
    /// Create the UI Service of each application.
    #[arg(long, env = "SPARKPLANE_UI_SERVICE", default_value_t = true, action = clap::ArgAction::Set)]
    pub ui_service: bool,
    /// Give applications that set driverPodDisruptionBudget a PodDisruptionBudget for their driver.
    #[arg(long, env = "SPARKPLANE_ENABLE_DRIVER_PDB", default_value_t = false, action = clap::ArgAction::Set)]
    pub enable_driver_pdb: bool,
    /// Schedulers running the scheduler-plugins' Coscheduling that applications may name in
    /// spec.batchScheduler (comma-separated): their pods get a PodGroup and that scheduler.
    #[arg(long, env = "SPARKPLANE_KUBE_SCHEDULER_NAMES", value_delimiter = ',')]
    pub kube_scheduler_names: Vec<String>,
    /// SPARK_USER of drivers.
    #[arg(long, env = "SPARKPLANE_SPARK_USER", default_value = "spark")]
    pub spark_user: String,
    /// Log format.
    #[arg(long, env = "SPARKPLANE_LOG_FORMAT", default_value = "json", value_parser = ["json", "text"])]
    pub log_format: String,
}

impl OperatorArgs {
    pub fn lifecycle(&self) -> lifecycle::Settings {
        lifecycle::Settings {
            plan: sparkplane_submit::Settings {
                master: self.master.clone(),
                ingress_url_format: self.ingress_url_format.clone(),
                ingress_class_name: self.ingress_class_name.clone(),
                ui_service: self.ui_service,
                spark_user: self.spark_user.clone(),
                driver_pdb: self.enable_driver_pdb,
                kube_scheduler_names: self
                    .kube_scheduler_names
                    .iter()
                    .map(|n| n.trim().to_owned())
                    .filter(|n| !n.is_empty())
                    .collect(),
            },
            driver_pod_creation_grace: Duration::from_secs(self.driver_pod_creation_grace_period),
            max_tracked_executors: self.max_tracked_executors,
            default_ttl_seconds: self.default_time_to_live_seconds,
            resync: Duration::from_secs(self.resync_seconds.max(1)),
            timeouts: lifecycle::timeouts::Timeouts {
                driver_start: limit(self.driver_start_timeout_seconds),
                executor_start: limit(self.executor_start_timeout_seconds),
                run: limit(self.run_timeout_seconds),
            },
        }
    }

    pub fn submission_concurrency(&self) -> crate::application::Concurrency {
        use crate::application::Concurrency;
        match self.submission_concurrency {
            0 => Concurrency::Adaptive {
                min: 4.min(self.submission_concurrency_max.max(1)),
                max: self.submission_concurrency_max.max(1),
                target: Duration::from_millis(self.submission_latency_target_ms.max(1)),
            },
            n => Concurrency::Fixed(n),
        }
    }

    pub fn lease_namespace(&self) -> String {
        self.lease_namespace
            .clone()
            .or_else(|| self.namespaces.first().cloned())
            .unwrap_or_else(|| "default".into())
    }

    pub fn identity(&self) -> String {
        self.identity.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME")
                .or_else(|_| std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()))
                .unwrap_or_else(|_| "sparkplane".into());
            format!("{host}-{}", std::process::id())
        })
    }
}

/// A limit in seconds, 0 for none.
fn limit(seconds: u64) -> Option<Duration> {
    (seconds > 0).then(|| Duration::from_secs(seconds))
}
