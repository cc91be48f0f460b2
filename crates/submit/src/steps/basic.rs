//! `BasicDriverFeatureStep`: name, labels, annotations, image, ports, environment, resources.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ContainerPort, EnvVar, EnvVarSource, LocalObjectReference, ObjectFieldSelector,
    ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use thiserror::Error;

use super::{SparkPod, StepContext, env, substitute_app_id};
use crate::memory::{self, MemoryError, MemoryInputs};
use crate::names;
use crate::properties::SparkConf;

pub const DRIVER_PORT: i32 = 7078;
pub const BLOCK_MANAGER_PORT: i32 = 7079;
pub const UI_PORT: i32 = 4040;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum BasicError {
    #[error("spec.image: no image for the driver (set spec.image or spec.driver.image)")]
    MissingImage,
    #[error(transparent)]
    Memory(#[from] MemoryError),
    #[error("{field}: {value:?} is not a port number")]
    BadPort { field: String, value: String },
    #[error("{field}: {value:?} is not true or false")]
    BadBoolean { field: String, value: String },
    #[error("{field}: {value:?} is not a CPU quantity")]
    BadCores { field: String, value: String },
    #[error("spec.driver.labels: {key:?} is a label Spark sets itself")]
    ReservedLabel { key: String },
    #[error(
        "spec.driver.labels[{key}]: {value:?} is not a valid label value (at most 63 characters, alphanumeric at both ends; Spark {version} does not substitute {{{{APP_ID}}}} in labels)"
    )]
    InvalidLabel {
        key: String,
        value: String,
        version: String,
    },
}

/// Where a conf key came from in the spec, so errors name the field the user wrote.
pub fn field_of(key: &str) -> String {
    match key {
        "spark.driver.memory" => "spec.driver.memory".into(),
        "spark.driver.memoryOverhead" => "spec.driver.memoryOverhead".into(),
        "spark.kubernetes.memoryOverheadFactor" => "spec.memoryOverheadFactor".into(),
        "spark.driver.cores" => "spec.driver.cores".into(),
        "spark.kubernetes.driver.request.cores" => "spec.driver.coreRequest".into(),
        "spark.kubernetes.driver.limit.cores" => "spec.driver.coreLimit".into(),
        "spark.executor.memory" => "spec.executor.memory".into(),
        "spark.executor.memoryOverhead" => "spec.executor.memoryOverhead".into(),
        "spark.executor.cores" => "spec.executor.cores".into(),
        "spark.kubernetes.executor.request.cores" => "spec.executor.coreRequest".into(),
        other => format!("spec.sparkConf[{other}]"),
    }
}

pub fn port(conf: &SparkConf, key: &str, default: i32) -> Result<i32, BasicError> {
    match conf.get(key) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| BasicError::BadPort {
            field: field_of(key),
            value: v.to_owned(),
        }),
    }
}

/// Where Spark Connect listens, and its port's default (4.1 on expose it on the driver).
pub const CONNECT_PORT_KEY: &str = "spark.connect.grpc.binding.port";
pub const CONNECT_PORT: i32 = 15002;

/// A boolean conf as Spark reads one (`true`/`false`, any case, spaces around ignored).
fn boolean(conf: &SparkConf, key: &str) -> Result<Option<bool>, BasicError> {
    conf.get(key)
        .map(|v| match v.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(BasicError::BadBoolean {
                field: field_of(key),
                value: v.to_owned(),
            }),
        })
        .transpose()
}

/// The properties this step adds, and the driver memory it computed.
pub fn apply(
    ctx: &StepContext<'_>,
    p: &mut SparkPod,
    non_jvm: bool,
) -> Result<SparkConf, BasicError> {
    let conf = ctx.conf;
    let image = conf
        .get("spark.kubernetes.driver.container.image")
        .or(conf.get("spark.kubernetes.container.image"))
        .ok_or(BasicError::MissingImage)?;

    let mib = |key: &str| {
        conf.get(key)
            .map(|v| memory::mib(&field_of(key), v))
            .transpose()
    };
    let factor = |key: &str| {
        conf.get(key)
            .map(|v| memory::factor(&field_of(key), v))
            .transpose()
    };
    let mem = memory::container_memory(
        ctx.version,
        MemoryInputs {
            memory_mib: mib("spark.driver.memory")?.unwrap_or(1024),
            overhead_mib: mib("spark.driver.memoryOverhead")?,
            role_factor: factor("spark.driver.memoryOverheadFactor")?,
            kubernetes_factor: factor("spark.kubernetes.memoryOverheadFactor")?,
            min_overhead_mib: mib("spark.driver.minMemoryOverhead")?,
            non_jvm,
        },
    );

    let cores = conf
        .get("spark.kubernetes.driver.request.cores")
        .map(|v| ("spark.kubernetes.driver.request.cores", v))
        .or(conf
            .get("spark.driver.cores")
            .map(|v| ("spark.driver.cores", v)))
        .unwrap_or(("spark.driver.cores", "1"));
    check_cpu(cores.0, cores.1)?;

    let c = &mut p.container;
    if c.name.is_empty() {
        c.name = crate::identity::DRIVER_CONTAINER.to_owned();
    }
    c.image = Some(image.to_owned());
    c.image_pull_policy = Some(
        conf.get("spark.kubernetes.container.image.pullPolicy")
            .unwrap_or("IfNotPresent")
            .to_owned(),
    );
    let ports = c.ports.get_or_insert_with(Vec::new);
    let mut exposed = vec![
        ("driver-rpc-port", "spark.driver.port", DRIVER_PORT),
        (
            "blockmanager",
            "spark.driver.blockManager.port",
            BLOCK_MANAGER_PORT,
        ),
        ("spark-ui", "spark.ui.port", UI_PORT),
    ];
    if ctx.version.exposes_connect_port() {
        exposed.push(("spark-connect", CONNECT_PORT_KEY, CONNECT_PORT));
    }
    for (name, key, default) in exposed {
        let number = if key == "spark.driver.blockManager.port" {
            port(conf, key, port(conf, "spark.blockManager.port", default)?)?
        } else {
            port(conf, key, default)?
        };
        ports.push(ContainerPort {
            name: Some(name.into()),
            container_port: number,
            protocol: Some("TCP".into()),
            ..Default::default()
        });
    }
    let envs = c.env.get_or_insert_with(Vec::new);
    envs.push(env("SPARK_USER", ctx.spark_user));
    envs.push(env("SPARK_APPLICATION_ID", &ctx.ids.app_id));
    for (k, v) in conf.with_prefix("spark.kubernetes.driverEnv.") {
        envs.push(env(k, v));
    }
    envs.push(EnvVar {
        name: "SPARK_DRIVER_BIND_ADDRESS".into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: Some("v1".into()),
                field_path: "status.podIP".into(),
            }),
            ..Default::default()
        }),
    });

    let res = c
        .resources
        .get_or_insert_with(ResourceRequirements::default);
    let requests = res.requests.get_or_insert_with(BTreeMap::new);
    requests.insert("cpu".into(), Quantity(cores.1.to_owned()));
    requests.insert("memory".into(), Quantity(format!("{}Mi", mem.total_mib)));
    let limits = res.limits.get_or_insert_with(BTreeMap::new);
    limits.insert("memory".into(), Quantity(format!("{}Mi", mem.total_mib)));
    if let Some(limit) = conf.get("spark.kubernetes.driver.limit.cores") {
        check_cpu("spark.kubernetes.driver.limit.cores", limit)?;
        limits.insert("cpu".into(), Quantity(limit.to_owned()));
    }
    for (key, amount) in conf.with_prefix("spark.driver.resource.") {
        if let Some(resource) = key.strip_suffix(".amount")
            && let Some(vendor) = conf.get(&format!("spark.driver.resource.{resource}.vendor"))
        {
            limits.insert(format!("{vendor}/{resource}"), Quantity(amount.to_owned()));
        }
    }

    if ctx.version.sets_privilege_escalation() {
        // Set whatever the pod template said, as Spark does.
        let allowed = match boolean(
            conf,
            "spark.kubernetes.driver.securityContext.allowPrivilegeEscalation",
        )? {
            Some(v) => v,
            None => boolean(
                conf,
                "spark.kubernetes.securityContext.allowPrivilegeEscalation",
            )?
            .unwrap_or(false),
        };
        c.security_context
            .get_or_insert_with(Default::default)
            .allow_privilege_escalation = Some(allowed);
    }

    let meta = &mut p.pod.metadata;
    meta.name = Some(ctx.driver_pod_name.to_owned());
    meta.namespace = Some(ctx.namespace.to_owned());
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    for (k, v) in conf.with_prefix("spark.kubernetes.driver.label.") {
        if matches!(
            k,
            "spark-version" | "spark-app-selector" | "spark-app-name" | "spark-role"
        ) {
            return Err(BasicError::ReservedLabel { key: k.to_owned() });
        }
        // Spark 4 substitutes the app id in driver labels; 3.5 leaves them as written.
        let v = if ctx.version.is_4_or_later() {
            substitute_app_id(v, &ctx.ids.app_id)
        } else {
            v.to_owned()
        };
        if !names::is_label_value(&v) {
            return Err(BasicError::InvalidLabel {
                key: k.to_owned(),
                value: v,
                version: ctx.version.to_string(),
            });
        }
        labels.insert(k.to_owned(), v);
    }
    labels.insert("spark-version".into(), ctx.version.to_string());
    labels.insert("spark-app-selector".into(), ctx.ids.app_id.clone());
    labels.insert("spark-app-name".into(), names::app_name_label(ctx.app_name));
    labels.insert("spark-role".into(), "driver".into());
    let mut annotations: BTreeMap<String, String> = meta.annotations.take().unwrap_or_default();
    for (k, v) in conf.with_prefix("spark.kubernetes.driver.annotation.") {
        annotations.insert(k.to_owned(), substitute_app_id(v, &ctx.ids.app_id));
    }
    meta.annotations = Some(annotations).filter(|a| !a.is_empty());

    let spec = p.pod.spec.get_or_insert_with(Default::default);
    spec.restart_policy = Some("Never".into());
    let mut selector = spec.node_selector.take().unwrap_or_default();
    for (k, v) in conf.with_prefix("spark.kubernetes.node.selector.") {
        selector.insert(k.to_owned(), v.to_owned());
    }
    for (k, v) in conf.with_prefix("spark.kubernetes.driver.node.selector.") {
        selector.insert(k.to_owned(), v.to_owned());
    }
    spec.node_selector = Some(selector).filter(|s| !s.is_empty());
    if let Some(secrets) = conf.get("spark.kubernetes.container.image.pullSecrets") {
        let list = spec.image_pull_secrets.get_or_insert_with(Vec::new);
        for s in secrets.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            list.push(LocalObjectReference { name: s.to_owned() });
        }
    }
    if let Some(s) = conf
        .get("spark.kubernetes.driver.scheduler.name")
        .or(conf.get("spark.kubernetes.scheduler.name"))
    {
        spec.scheduler_name = Some(s.to_owned());
    }
    // DriverKubernetesCredentialsFeatureStep: the service account, when no credential files are given.
    if let Some(sa) = conf.get("spark.kubernetes.authenticate.driver.serviceAccountName") {
        spec.service_account = Some(sa.to_owned());
        spec.service_account_name = Some(sa.to_owned());
    }

    let mut added = SparkConf::new();
    added.set("spark.kubernetes.driver.pod.name", ctx.driver_pod_name);
    added.set("spark.app.id", &ctx.ids.app_id);
    added.set("spark.kubernetes.submitInDriver", "true");
    added.set(
        "spark.kubernetes.memoryOverheadFactor",
        memory::format_factor(mem.default_factor),
    );
    Ok(added)
}

/// Spark passes cores to Kubernetes as a quantity; reject what the API server would.
fn check_cpu(key: &str, value: &str) -> Result<(), BasicError> {
    let v = value.trim();
    let digits = v.trim_end_matches('m');
    let ok = !digits.is_empty()
        && digits.chars().filter(|&c| c == '.').count() <= 1
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && !(v.ends_with('m') && digits.contains('.'));
    if ok {
        Ok(())
    } else {
        Err(BasicError::BadCores {
            field: field_of(key),
            value: value.to_owned(),
        })
    }
}
