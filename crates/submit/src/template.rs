//! What Kubeflow's mutating webhook patches into Spark's pods, written instead into the driver pod's
//! starting template and into the executor pod template (no webhook here).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, ContainerPort, EnvVar, PodSpec, PodTemplateSpec,
    ResourceRequirements, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use sparkplane_api::SparkApplication;
use sparkplane_api::v1beta2::{Port, SparkPodSpec};
use thiserror::Error;

use crate::identity::{self, LOCAL_DIR_PREFIX};
use crate::steps::SparkPod;
use crate::{monitoring, names};

#[derive(Debug, Error)]
pub enum TemplateError {
    #[error("{field}: not a pod template: {source}")]
    NotATemplate {
        field: String,
        source: serde_json::Error,
    },
    #[error("{field}: volume mount {name:?} names no volume in spec.volumes")]
    UnknownVolume { field: String, name: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Driver,
    Executor,
}

impl Role {
    fn field(self) -> &'static str {
        match self {
            Role::Driver => "spec.driver",
            Role::Executor => "spec.executor",
        }
    }
    fn container(self) -> &'static str {
        match self {
            Role::Driver => identity::DRIVER_CONTAINER,
            Role::Executor => identity::EXECUTOR_CONTAINER,
        }
    }
}

/// The role's pod: the user's template with the webhook's fields applied, its Spark container apart.
pub fn build(app: &SparkApplication, role: Role) -> Result<SparkPod, TemplateError> {
    let (pod_spec, extra_ports, priority, lifecycle) = match role {
        Role::Driver => {
            let d = &app.spec.driver;
            (&d.pod, &d.ports, &d.priority_class_name, &d.lifecycle)
        }
        Role::Executor => {
            let e = &app.spec.executor;
            (&e.pod, &e.ports, &e.priority_class_name, &e.lifecycle)
        }
    };
    let template: PodTemplateSpec = match &pod_spec.template {
        Some(t) => t.to_spec().map_err(|source| TemplateError::NotATemplate {
            field: format!("{}.template", role.field()),
            source,
        })?,
        None => PodTemplateSpec::default(),
    };
    let mut spec = template.spec.unwrap_or_default();
    // Kubeflow names the Spark container in its templates; without one Spark takes the first.
    let index = spec
        .containers
        .iter()
        .position(|c| c.name == role.container())
        .or(if spec.containers.is_empty() {
            None
        } else {
            Some(0)
        });
    let container = match index {
        Some(i) => spec.containers.remove(i),
        None => Container {
            name: role.container().into(),
            ..Default::default()
        },
    };
    let mut p = SparkPod {
        pod: k8s_openapi::api::core::v1::Pod {
            metadata: template.metadata.unwrap_or_default(),
            spec: Some(spec),
            status: None,
        },
        container,
    };
    let refs = p.pod.metadata.owner_references.get_or_insert_with(Vec::new);
    let owner = identity::owner_reference(app, role == Role::Driver);
    if !refs.contains(&owner) {
        refs.push(owner);
    }
    apply_webhook_fields(
        app,
        role,
        pod_spec,
        extra_ports,
        priority.as_deref(),
        lifecycle,
        &mut p,
    )?;
    Ok(p)
}

#[allow(clippy::too_many_arguments)]
fn apply_webhook_fields(
    app: &SparkApplication,
    role: Role,
    s: &SparkPodSpec,
    ports: &Option<Vec<Port>>,
    priority: Option<&str>,
    lifecycle: &Option<k8s_openapi::api::core::v1::Lifecycle>,
    p: &mut SparkPod,
) -> Result<(), TemplateError> {
    let c = &mut p.container;
    let spec: &mut PodSpec = p.pod.spec.get_or_insert_with(Default::default);
    if let Some(env) = &s.env {
        c.env
            .get_or_insert_with(Vec::new)
            .extend(env.iter().cloned());
    }
    if let Some(from) = &s.env_from {
        c.env_from
            .get_or_insert_with(Vec::new)
            .extend(from.iter().cloned());
    }
    // Volumes other than Spark's local dirs: the ones this role mounts.
    let all_volumes: BTreeMap<&str, &Volume> = app
        .spec
        .volumes
        .iter()
        .flatten()
        .map(|v| (v.name.as_str(), v))
        .collect();
    for m in s
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| !m.name.starts_with(LOCAL_DIR_PREFIX))
    {
        let v = all_volumes
            .get(m.name.as_str())
            .ok_or_else(|| TemplateError::UnknownVolume {
                field: format!("{}.volumeMounts", role.field()),
                name: m.name.clone(),
            })?;
        let volumes = spec.volumes.get_or_insert_with(Vec::new);
        if !volumes.iter().any(|existing| existing.name == v.name) {
            volumes.push((*v).clone());
        }
        c.volume_mounts.get_or_insert_with(Vec::new).push(m.clone());
    }
    for cm in s.config_maps.iter().flatten() {
        add_config_map(
            spec,
            c,
            &names::config_map_volume_name(&cm.name),
            &cm.name,
            &cm.path,
        );
    }
    if let Some(p) = ports {
        let list = c.ports.get_or_insert_with(Vec::new);
        for port in p {
            list.push(ContainerPort {
                name: Some(port.name.clone()),
                container_port: port.container_port,
                protocol: Some(port.protocol.clone()).filter(|p| !p.is_empty()),
                ..Default::default()
            });
        }
    }
    if let Some(v) = s.host_network {
        spec.host_network = Some(v);
    }
    if let Some(v) = &s.host_aliases {
        spec.host_aliases
            .get_or_insert_with(Vec::new)
            .extend(v.iter().cloned());
    }
    if let Some(v) = &s.init_containers {
        spec.init_containers
            .get_or_insert_with(Vec::new)
            .extend(v.iter().cloned());
    }
    if let Some(v) = &s.sidecars {
        spec.containers.extend(v.iter().cloned());
    }
    if let Some(v) = &s.dns_config {
        spec.dns_config = Some(v.clone());
    }
    if let Some(v) = priority {
        spec.priority_class_name = Some(v.to_owned());
    }
    if let Some(v) = &s.scheduler_name {
        spec.scheduler_name = Some(v.clone());
    }
    if let Some(v) = &s.node_selector {
        spec.node_selector
            .get_or_insert_with(BTreeMap::new)
            .extend(v.clone());
    }
    if let Some(v) = &s.affinity {
        spec.affinity = Some(v.clone());
    }
    if let Some(v) = &s.tolerations {
        spec.tolerations
            .get_or_insert_with(Vec::new)
            .extend(v.iter().cloned());
    }
    if let Some(g) = &s.gpu {
        c.resources
            .get_or_insert_with(ResourceRequirements::default)
            .limits
            .get_or_insert_with(BTreeMap::new)
            .insert(g.name.clone(), Quantity(g.quantity.to_string()));
    }
    // Kubeflow's webhook mounts the ConfigMap and opens the port only when the ConfigMap exists.
    if monitoring::needs_config_map(app) && monitoring::exposes(app, role == Role::Driver) {
        add_config_map(
            spec,
            c,
            &monitoring::volume_name(app),
            &monitoring::config_map_name(app),
            monitoring::MOUNT_PATH,
        );
        let port_name = monitoring::prometheus(app)
            .and_then(|(_, p)| p.port_name.clone())
            .unwrap_or_else(|| sparkplane_api::defaults::PROMETHEUS_PORT_NAME.into());
        c.ports.get_or_insert_with(Vec::new).push(ContainerPort {
            name: Some(port_name),
            container_port: monitoring::port(app),
            protocol: Some("TCP".into()),
            ..Default::default()
        });
    }
    if let Some(v) = &s.security_context {
        c.security_context = Some(v.clone());
    }
    if let Some(v) = &s.pod_security_context {
        spec.security_context = Some(v.clone());
    }
    if let Some(v) = s.termination_grace_period_seconds {
        spec.termination_grace_period_seconds = Some(v);
    }
    if let Some(v) = lifecycle {
        c.lifecycle = Some(v.clone());
    }
    if let Some(v) = s.share_process_namespace {
        spec.share_process_namespace = Some(v);
    }
    Ok(())
}

fn add_config_map(spec: &mut PodSpec, c: &mut Container, volume: &str, cm: &str, path: &str) {
    spec.volumes.get_or_insert_with(Vec::new).push(Volume {
        name: volume.to_owned(),
        config_map: Some(ConfigMapVolumeSource {
            name: cm.to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    });
    c.volume_mounts
        .get_or_insert_with(Vec::new)
        .push(VolumeMount {
            name: volume.to_owned(),
            mount_path: path.to_owned(),
            // The webhook mounts every ConfigMap read-only.
            read_only: Some(true),
            ..Default::default()
        });
}

/// What the webhook adds after Spark built the pod, so it wins where both set a field: the Spark and
/// Hadoop conf ConfigMaps (with their env) and `memoryLimit`.
pub fn apply_after_spark(app: &SparkApplication, s: &SparkPodSpec, p: &mut SparkPod) {
    let spec = p.pod.spec.get_or_insert_with(Default::default);
    let c = &mut p.container;
    if let Some(cm) = &app.spec.spark_config_map {
        add_config_map(spec, c, "spark-configmap-volume", cm, "/etc/spark/conf");
        c.env.get_or_insert_with(Vec::new).push(EnvVar {
            name: "SPARK_CONF_DIR".into(),
            value: Some("/etc/spark/conf".into()),
            value_from: None,
        });
    }
    if let Some(cm) = &app.spec.hadoop_config_map {
        add_config_map(spec, c, "hadoop-configmap-volume", cm, "/etc/hadoop/conf");
        c.env.get_or_insert_with(Vec::new).push(EnvVar {
            name: "HADOOP_CONF_DIR".into(),
            value: Some("/etc/hadoop/conf".into()),
            value_from: None,
        });
    }
    if let Some(limit) = &s.memory_limit {
        c.resources
            .get_or_insert_with(ResourceRequirements::default)
            .limits
            .get_or_insert_with(BTreeMap::new)
            .insert("memory".into(), Quantity(limit.clone()));
    }
}

/// The executor template as Spark will read it: the Spark container named, put first.
pub fn executor_template(app: &SparkApplication) -> Result<PodTemplateSpec, TemplateError> {
    let mut p = build(app, Role::Executor)?;
    apply_after_spark(app, &app.spec.executor.pod, &mut p);
    let mut spec = p.pod.spec.unwrap_or_default();
    spec.containers.insert(0, p.container);
    Ok(PodTemplateSpec {
        metadata: Some(p.pod.metadata),
        spec: Some(spec),
    })
}
