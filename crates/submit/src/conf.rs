//! The Spark configuration of a submission: what Kubeflow passes to spark-submit for each spec field
//! (its `submission.go`, in the same order, so later settings win as later `--conf`s do), then what
//! spark-submit itself adds before the Kubernetes feature steps run.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Volume, VolumeMount};
use sparkplane_api::SparkApplication;
use sparkplane_api::v1beta2::{
    DeployMode, ExecutorSpec, PythonVersion, SecretType, SparkApplicationType, SparkPodSpec,
};
use thiserror::Error;

use crate::identity::{
    DRIVER_CONTAINER, EXECUTOR_CONTAINER, LABEL_APP_NAME, LABEL_LAUNCHED_BY, LABEL_SUBMISSION_ID,
    LOCAL_DIR_PREFIX,
};
use crate::monitoring;
use crate::properties::SparkConf;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfError {
    #[error("spec.mainClass: a {kind} application needs a main class")]
    MissingMainClass { kind: &'static str },
    #[error(
        "spec.mode: client mode runs the driver outside the cluster; the operator submits in cluster mode only"
    )]
    ClientMode,
    #[error("{field}: volume mount {name:?} names no volume in spec.volumes")]
    UnknownVolume { field: String, name: String },
    #[error(
        "spec.volumes[{name}]: a spark-local-dir volume must be emptyDir, hostPath, nfs or persistentVolumeClaim"
    )]
    UnsupportedLocalDirVolume { name: String },
    #[error("metadata.name: the application has no name")]
    MissingName,
    #[error("metadata.namespace: the application has no namespace")]
    MissingNamespace,
}

/// What spark-submit is asked to run, besides the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub app_type: SparkApplicationType,
    pub main_class: Option<String>,
    /// The primary resource (`spec.mainApplicationFile`), if any.
    pub primary_resource: Option<String>,
    pub arguments: Vec<String>,
    pub proxy_user: Option<String>,
    pub conf: SparkConf,
}

/// Everything that names the submission, decided before the conf is built.
pub struct ConfInputs<'a> {
    pub master: &'a str,
    pub driver_pod_name: &'a str,
    pub submission_id: &'a str,
}

/// Builds the configuration Kubeflow hands to spark-submit, followed by spark-submit's own entries.
pub fn build(app: &SparkApplication, inputs: &ConfInputs<'_>) -> Result<Submission, ConfError> {
    let spec = &app.spec;
    let name = app.metadata.name.as_deref().ok_or(ConfError::MissingName)?;
    let namespace = app
        .metadata
        .namespace
        .as_deref()
        .ok_or(ConfError::MissingNamespace)?;
    if spec.mode == Some(DeployMode::Client) {
        return Err(ConfError::ClientMode);
    }
    let main_class = spec.main_class.clone().filter(|c| !c.is_empty());
    match (spec.r#type, &main_class) {
        (SparkApplicationType::Java, None) => {
            return Err(ConfError::MissingMainClass { kind: "Java" });
        }
        (SparkApplicationType::Scala, None) => {
            return Err(ConfError::MissingMainClass { kind: "Scala" });
        }
        _ => {}
    }

    let mut c = SparkConf::new();
    c.set("spark.kubernetes.namespace", namespace);
    if let Some(image) = spec.image.as_deref().filter(|s| !s.is_empty()) {
        c.set("spark.kubernetes.container.image", image);
    }
    if let Some(policy) = spec.image_pull_policy.as_deref().filter(|s| !s.is_empty()) {
        c.set("spark.kubernetes.container.image.pullPolicy", policy);
    }
    if let Some(secrets) = spec.image_pull_secrets.as_ref().filter(|s| !s.is_empty()) {
        c.set(
            "spark.kubernetes.container.image.pullSecrets",
            secrets.join(","),
        );
    }
    if let Some(v) = spec.python_version {
        let v = match v {
            PythonVersion::Two => "2",
            PythonVersion::Three => "3",
        };
        c.set("spark.kubernetes.pyspark.pythonVersion", v);
    }
    if let Some(f) = spec
        .memory_overhead_factor
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        c.set("spark.kubernetes.memoryOverheadFactor", f);
    }
    c.set("spark.kubernetes.submission.waitAppCompletion", "false");

    for (k, v) in spec.spark_conf.iter().flatten() {
        if k != "spark.kubernetes.driver.pod.name" {
            c.set(k, v);
        }
    }
    // Kubeflow writes these into sparkConf, replacing the user's.
    for (k, v) in monitoring::spark_conf(app, name, namespace) {
        c.set(k, v);
    }
    for (k, v) in spec.hadoop_conf.iter().flatten() {
        c.set(format!("spark.hadoop.{k}"), v);
    }
    c.set("spark.kubernetes.driver.pod.name", inputs.driver_pod_name);

    let labels = app.metadata.labels.clone().unwrap_or_default();
    pod_conf(&mut c, "driver", app, name, &labels, inputs.submission_id);
    let driver = &spec.driver;
    if let Some(v) = &driver.core_request {
        c.set("spark.kubernetes.driver.request.cores", v);
    }
    if let Some(v) = &driver.pod.service_account {
        c.set("spark.kubernetes.authenticate.driver.serviceAccountName", v);
    }
    if let Some(v) = java_options(
        driver.java_options.as_deref(),
        monitoring::java_agent(app, true),
    ) {
        c.set("spark.driver.extraJavaOptions", v);
    }
    if let Some(v) = &driver.kubernetes_master {
        c.set("spark.kubernetes.driver.master", v);
    }
    for (k, v) in annotations(&driver.pod, monitoring::annotations(app, true)) {
        c.set(format!("spark.kubernetes.driver.annotation.{k}"), v);
    }
    for (k, v) in driver.service_labels.iter().flatten() {
        c.set(format!("spark.kubernetes.driver.service.label.{k}"), v);
    }
    for (k, v) in driver.service_annotations.iter().flatten() {
        c.set(format!("spark.kubernetes.driver.service.annotation.{k}"), v);
    }
    for (k, v) in driver.pod.env_secret_key_refs.iter().flatten() {
        c.set(
            format!("spark.kubernetes.driver.secretKeyRef.{k}"),
            format!("{}:{}", v.name, v.key),
        );
    }
    for (k, v) in driver.pod.env_vars.iter().flatten() {
        c.set(format!("spark.kubernetes.driverEnv.{k}"), v);
    }
    secrets(
        &mut c,
        &driver.pod,
        "spark.kubernetes.driver.secrets.",
        "spark.kubernetes.driverEnv.",
    );
    let volumes = local_dir_volumes(spec.volumes.as_deref());
    local_dir_mounts(
        &mut c,
        "driver",
        "spec.driver.volumeMounts",
        &volumes,
        driver.pod.volume_mounts.as_deref(),
    )?;

    executor_conf(
        &mut c,
        app,
        name,
        &labels,
        inputs.submission_id,
        &spec.executor,
    );
    secrets(
        &mut c,
        &spec.executor.pod,
        "spark.kubernetes.executor.secrets.",
        "spark.executorEnv.",
    );
    local_dir_mounts(
        &mut c,
        "executor",
        "spec.executor.volumeMounts",
        &volumes,
        spec.executor.pod.volume_mounts.as_deref(),
    )?;

    for (k, v) in spec.node_selector.iter().flatten() {
        c.set(format!("spark.kubernetes.node.selector.{k}"), v);
    }
    if let Some(da) = spec
        .dynamic_allocation
        .as_ref()
        .filter(|d| d.enabled == Some(true))
    {
        c.set("spark.dynamicAllocation.enabled", "true");
        if let Some(v) = da.initial_executors {
            c.set("spark.dynamicAllocation.initialExecutors", v.to_string());
        }
        if let Some(v) = da.min_executors {
            c.set("spark.dynamicAllocation.minExecutors", v.to_string());
        }
        if let Some(v) = da.max_executors {
            c.set("spark.dynamicAllocation.maxExecutors", v.to_string());
        }
        c.set(
            "spark.dynamicAllocation.shuffleTracking.enabled",
            da.shuffle_tracking_enabled.unwrap_or(true).to_string(),
        );
        if let Some(v) = da.shuffle_tracking_timeout {
            c.set(
                "spark.dynamicAllocation.shuffleTracking.timeout",
                v.to_string(),
            );
        }
    }
    // The driver pod is built here, not from a template file; executors get theirs from a ConfigMap.
    c.set(
        "spark.kubernetes.driver.podTemplateContainerName",
        DRIVER_CONTAINER,
    );
    c.set(
        "spark.kubernetes.executor.podTemplateContainerName",
        EXECUTOR_CONTAINER,
    );

    let primary = Some(spec.main_application_file.clone()).filter(|f| !f.is_empty());
    spark_submit_entries(&mut c, app, name, inputs.master, primary.as_deref());

    Ok(Submission {
        app_type: spec.r#type,
        main_class,
        primary_resource: primary,
        arguments: spec.arguments.clone().unwrap_or_default(),
        proxy_user: spec.proxy_user.clone().filter(|u| !u.is_empty()),
        conf: c,
    })
}

/// Entries of `spark.{driver,executor}.*` and the operator's labels, shared by both roles.
fn pod_conf(
    c: &mut SparkConf,
    role: &str,
    app: &SparkApplication,
    name: &str,
    app_labels: &BTreeMap<String, String>,
    submission_id: &str,
) {
    let label = |k: &str| format!("spark.kubernetes.{role}.label.{k}");
    c.set(label(LABEL_APP_NAME), name);
    c.set(label(LABEL_LAUNCHED_BY), "true");
    c.set(label(LABEL_SUBMISSION_ID), submission_id);
    let pod = if role == "driver" {
        &app.spec.driver.pod
    } else {
        &app.spec.executor.pod
    };
    if let Some(image) = pod.image.as_deref().filter(|s| !s.is_empty()).or(app
        .spec
        .image
        .as_deref()
        .filter(|s| !s.is_empty()))
    {
        c.set(format!("spark.kubernetes.{role}.container.image"), image);
    }
    if let Some(v) = pod.cores {
        c.set(format!("spark.{role}.cores"), v.to_string());
    }
    if let Some(v) = &pod.core_limit {
        c.set(format!("spark.kubernetes.{role}.limit.cores"), v);
    }
    if let Some(v) = &pod.memory {
        c.set(format!("spark.{role}.memory"), v);
    }
    if let Some(v) = &pod.memory_overhead {
        c.set(format!("spark.{role}.memoryOverhead"), v);
    }
    // The application's own labels go to its pods (Kueue's stay on the SparkApplication).
    for (k, v) in app_labels
        .iter()
        .filter(|(k, _)| !k.starts_with("kueue.x-k8s.io/"))
    {
        c.set(label(k), v);
    }
    for (k, v) in pod.labels.iter().flatten() {
        c.set(label(k), v);
    }
}

fn executor_conf(
    c: &mut SparkConf,
    app: &SparkApplication,
    name: &str,
    labels: &BTreeMap<String, String>,
    submission_id: &str,
    executor: &ExecutorSpec,
) {
    if let Some(n) = executor.instances {
        c.set("spark.executor.instances", n.to_string());
    }
    pod_conf(c, "executor", app, name, labels, submission_id);
    if let Some(v) = &executor.core_request {
        c.set("spark.kubernetes.executor.request.cores", v);
    }
    if let Some(v) = &executor.pod.service_account {
        c.set(
            "spark.kubernetes.authenticate.executor.serviceAccountName",
            v,
        );
    }
    if let Some(v) = executor.delete_on_termination {
        c.set(
            "spark.kubernetes.executor.deleteOnTermination",
            v.to_string(),
        );
    }
    for (k, v) in annotations(&executor.pod, monitoring::annotations(app, false)) {
        c.set(format!("spark.kubernetes.executor.annotation.{k}"), v);
    }
    for (k, v) in executor.pod.env_secret_key_refs.iter().flatten() {
        c.set(
            format!("spark.kubernetes.executor.secretKeyRef.{k}"),
            format!("{}:{}", v.name, v.key),
        );
    }
    if let Some(v) = java_options(
        executor.java_options.as_deref(),
        monitoring::java_agent(app, false),
    ) {
        c.set("spark.executor.extraJavaOptions", v);
    }
    for (k, v) in executor.pod.env_vars.iter().flatten() {
        c.set(format!("spark.executorEnv.{k}"), v);
    }
}

fn annotations(pod: &SparkPodSpec, extra: Vec<(String, String)>) -> BTreeMap<String, String> {
    let mut all = pod.annotations.clone().unwrap_or_default();
    all.extend(extra);
    all
}

fn java_options(user: Option<&str>, agent: Option<String>) -> Option<String> {
    match (user, agent) {
        (Some(u), Some(a)) => Some(format!("{u} {a}")),
        (Some(u), None) => Some(u.to_owned()),
        (None, Some(a)) => Some(a),
        (None, None) => None,
    }
}

fn secrets(c: &mut SparkConf, pod: &SparkPodSpec, mount_prefix: &str, env_prefix: &str) {
    for s in pod.secrets.iter().flatten() {
        c.set(format!("{mount_prefix}{}", s.name), &s.path);
        let env = match s.secret_type {
            SecretType::GCPServiceAccount => Some(("GOOGLE_APPLICATION_CREDENTIALS", "key.json")),
            SecretType::HadoopDelegationToken => {
                Some(("HADOOP_TOKEN_FILE_LOCATION", "hadoop.token"))
            }
            SecretType::Generic => None,
        };
        if let Some((var, file)) = env {
            c.set(format!("{env_prefix}{var}"), join_path(&s.path, file));
        }
    }
}

/// Go's `filepath.Join(dir, file)` for the simple case of a directory and a file name.
fn join_path(dir: &str, file: &str) -> String {
    let trimmed = dir.trim_end_matches('/');
    if trimmed.is_empty() && dir.starts_with('/') {
        format!("/{file}")
    } else {
        format!("{trimmed}/{file}")
    }
}

fn local_dir_volumes(volumes: Option<&[Volume]>) -> BTreeMap<&str, &Volume> {
    volumes
        .into_iter()
        .flatten()
        .filter(|v| v.name.starts_with(LOCAL_DIR_PREFIX))
        .map(|v| (v.name.as_str(), v))
        .collect()
}

/// Mounts of `spark-local-dir-*` volumes go through Spark's volume confs (Spark then uses them as local
/// dirs); every other volume is part of the pod itself.
fn local_dir_mounts(
    c: &mut SparkConf,
    role: &str,
    field: &str,
    volumes: &BTreeMap<&str, &Volume>,
    mounts: Option<&[VolumeMount]>,
) -> Result<(), ConfError> {
    for m in mounts
        .into_iter()
        .flatten()
        .filter(|m| m.name.starts_with(LOCAL_DIR_PREFIX))
    {
        let volume = volumes
            .get(m.name.as_str())
            .ok_or_else(|| ConfError::UnknownVolume {
                field: field.to_owned(),
                name: m.name.clone(),
            })?;
        let kind = if volume.empty_dir.is_some() {
            "emptyDir"
        } else if volume.host_path.is_some() {
            "hostPath"
        } else if volume.nfs.is_some() {
            "nfs"
        } else if volume.persistent_volume_claim.is_some() {
            "persistentVolumeClaim"
        } else {
            return Err(ConfError::UnsupportedLocalDirVolume {
                name: m.name.clone(),
            });
        };
        let key = |rest: &str| format!("spark.kubernetes.{role}.volumes.{kind}.{}.{rest}", m.name);
        if !m.mount_path.is_empty() {
            c.set(key("mount.path"), &m.mount_path);
        }
        if let Some(sub) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            c.set(key("mount.subPath"), sub);
        }
        if m.read_only == Some(true) {
            c.set(key("mount.readOnly"), "true");
        }
        if let Some(e) = &volume.empty_dir {
            if let Some(size) = &e.size_limit {
                c.set(key("options.sizeLimit"), &size.0);
            }
            if let Some(medium) = e.medium.as_deref().filter(|m| !m.is_empty()) {
                c.set(key("options.medium"), medium);
            }
        } else if let Some(h) = &volume.host_path {
            c.set(key("options.path"), &h.path);
            if let Some(t) = &h.type_ {
                c.set(key("options.type"), t);
            }
        } else if let Some(n) = &volume.nfs {
            c.set(key("options.path"), &n.path);
            c.set(key("options.server"), &n.server);
            if n.read_only == Some(true) {
                c.set(key("options.readOnly"), "true");
            }
        } else if let Some(p) = &volume.persistent_volume_claim {
            c.set(key("options.claimName"), &p.claim_name);
            if p.read_only == Some(true) {
                c.set(key("options.readOnly"), "true");
            }
        }
    }
    Ok(())
}

/// What `SparkSubmit.prepareSubmitEnvironment` sets for a Kubernetes cluster-mode submission.
fn spark_submit_entries(
    c: &mut SparkConf,
    app: &SparkApplication,
    name: &str,
    master: &str,
    primary: Option<&str>,
) {
    c.set("spark.master", master);
    c.set("spark.submit.deployMode", "cluster");
    c.set("spark.app.name", name);
    let deps = app.spec.deps.clone().unwrap_or_default();
    let list = |v: &Option<Vec<String>>| v.as_ref().filter(|l| !l.is_empty()).map(|l| l.join(","));
    let is_jvm = matches!(
        app.spec.r#type,
        SparkApplicationType::Java | SparkApplicationType::Scala
    );
    // A JVM application's primary resource joins the jars (`--jars` first, as spark-submit merges).
    let jars = merge(
        list(&deps.jars),
        if is_jvm {
            primary.map(str::to_owned)
        } else {
            None
        },
    );
    if let Some(j) = jars {
        c.set("spark.jars", j);
    }
    if let Some(v) = list(&deps.files) {
        c.set("spark.files", v);
    }
    if let Some(v) = list(&deps.archives) {
        c.set("spark.archives", v);
    }
    if let Some(v) = list(&deps.packages) {
        c.set("spark.jars.packages", v);
    }
    if let Some(v) = list(&deps.exclude_packages) {
        c.set("spark.jars.excludes", v);
    }
    if let Some(v) = list(&deps.repositories) {
        c.set("spark.jars.repositories", v);
    }
    if app.spec.r#type == SparkApplicationType::Python {
        c.set(
            "spark.submit.pyFiles",
            list(&deps.py_files).unwrap_or_default(),
        );
    }
}

fn merge(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a},{b}")),
        (a, b) => a.or(b),
    }
}
