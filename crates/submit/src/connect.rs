//! What a SparkConnect becomes: the Spark Connect server pod (the driver, in client mode, started by
//! `start-connect-server.sh` as Kubeflow's operator starts it), the ConfigMap with the executor pod
//! template, and the Service in front of the server. Pure: no client, no I/O.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, EnvVar, EnvVarSource, ExecAction, KeyToPath,
    Lifecycle, LifecycleHandler, ObjectFieldSelector, Pod, PodSpec, PodTemplateSpec, Probe,
    Service, ServicePort, TCPSocketAction, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sparkplane_api::SparkConnect;
use sparkplane_api::v1beta2::PodTemplate;
use thiserror::Error;

use crate::identity::{DRIVER_CONTAINER, EXECUTOR_CONTAINER, LABEL_LAUNCHED_BY};
use crate::names;

/// The label naming the SparkConnect a pod, Service or ConfigMap belongs to.
pub const LABEL_CONNECT_NAME: &str = "sparkoperator.k8s.io/connect-name";
/// The label Kubeflow puts on the objects its operator creates (not the pods).
pub const LABEL_CREATED_BY: &str = "sparkoperator.k8s.io/created-by-spark-operator";
/// Spark's role label; the server pod's value is Kubeflow's.
pub const LABEL_SPARK_ROLE: &str = "spark-role";
pub const ROLE_SERVER: &str = "connect-server";
pub const ROLE_EXECUTOR: &str = "executor";
pub const LABEL_SPARK_VERSION: &str = "spark-version";
/// The server pod's annotation with the hash of what it was built from: a different hash means the
/// spec changed and the pod is replaced.
pub const ANNOTATION_SPEC_HASH: &str = "sparkplane.io/spec-hash";

/// The Spark Connect gRPC port (Spark's default of `spark.connect.grpc.binding.port`).
pub const CONNECT_PORT: i32 = 15002;
pub const DRIVER_PORT: i32 = 7078;
pub const BLOCK_MANAGER_PORT: i32 = 7079;
pub const UI_PORT: i32 = 4040;

const TEMPLATE_KEY: &str = "executor-pod-template.yaml";
const TEMPLATE_PATH: &str = "/tmp/spark/executor-pod-template.yaml";
const CONF_VOLUME: &str = "spark-conf";
/// Spark refuses a `spark.kubernetes.executor.podNamePrefix` longer than this.
const MAX_EXECUTOR_PREFIX: usize = 47;

#[derive(Debug, Error)]
pub enum ConnectError {
    #[error("metadata: the SparkConnect has no name, namespace or uid")]
    Unidentified,
    #[error("{field}: not a pod template: {source}")]
    NotATemplate {
        field: &'static str,
        source: serde_json::Error,
    },
    #[error(
        "spec.image: required, or an image in the {field} container ({container:?}, else the first)"
    )]
    NoImage {
        field: &'static str,
        container: &'static str,
    },
}

/// Everything one SparkConnect needs, in the order it is applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectPlan {
    pub config_map: ConfigMap,
    pub service: Service,
    pub pod: Pod,
    /// The spec hash the pod carries in [`ANNOTATION_SPEC_HASH`].
    pub spec_hash: String,
}

/// The server pod's name: `<name>-server`, shortened with a hash when it would pass 63 characters.
pub fn server_pod_name(name: &str) -> String {
    names::kubeflow_name(name, "server")
}

/// The executor template ConfigMap's name.
pub fn config_map_name(name: &str) -> String {
    format!("{name}-conf")
}

/// The Service's name: the template's, else the server pod's.
pub fn service_name(conn: &SparkConnect) -> String {
    conn.spec
        .server
        .service
        .as_ref()
        .and_then(|service| service.metadata.name.clone())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| server_pod_name(&name_of(conn)))
}

/// The labels that select a SparkConnect's executors (Spark adds `spark-role` itself).
pub fn executor_selector(name: &str) -> String {
    format!(
        "{LABEL_LAUNCHED_BY}=true,{LABEL_CONNECT_NAME}={name},{LABEL_SPARK_ROLE}={ROLE_EXECUTOR}"
    )
}

/// The hash of everything that shapes the server pod: the spec and the labels (they reach Spark's
/// executor labels).
pub fn spec_hash(conn: &SparkConnect) -> String {
    names::content_hash(&(&conn.spec, &conn.metadata.labels))
}

/// Builds the plan of `conn`; `master` is `spark.master` as the operator's applications get it.
pub fn build(conn: &SparkConnect, master: &str) -> Result<ConnectPlan, ConnectError> {
    let (Some(name), Some(namespace), Some(_)) = (
        conn.metadata.name.clone(),
        conn.metadata.namespace.clone(),
        conn.metadata.uid.as_ref(),
    ) else {
        return Err(ConnectError::Unidentified);
    };
    let owner = owner_reference(conn);
    let server_template = template(&conn.spec.server.pod.template, "spec.server.template")?;
    let executor_template = template(&conn.spec.executor.pod.template, "spec.executor.template")?;
    let server_image = server_template
        .as_ref()
        .and_then(|t| template_image(t, DRIVER_CONTAINER))
        .or_else(|| conn.spec.image.clone())
        .ok_or(ConnectError::NoImage {
            field: "spec.server.template",
            container: DRIVER_CONTAINER,
        })?;
    let executor_image = executor_template
        .as_ref()
        .and_then(|t| template_image(t, EXECUTOR_CONTAINER))
        .or_else(|| conn.spec.image.clone())
        .ok_or(ConnectError::NoImage {
            field: "spec.executor.template",
            container: EXECUTOR_CONTAINER,
        })?;

    let config_map = ConfigMap {
        metadata: ObjectMeta {
            name: Some(config_map_name(&name)),
            namespace: Some(namespace.clone()),
            labels: Some(created_labels(&name)),
            owner_references: Some(vec![owner.clone()]),
            ..Default::default()
        },
        // JSON is YAML; `null` without a template, as Kubeflow writes it.
        data: Some(BTreeMap::from([(
            TEMPLATE_KEY.to_owned(),
            conn.spec
                .executor
                .pod
                .template
                .as_ref()
                .map(|t| serde_json::Value::Object(t.0.clone()))
                .unwrap_or(serde_json::Value::Null)
                .to_string(),
        )])),
        ..Default::default()
    };
    let spec_hash = spec_hash(conn);
    let pod = server_pod(
        conn,
        &name,
        &namespace,
        server_template.unwrap_or_default(),
        server_image,
        &start_command(conn, &name, &namespace, master, &executor_image),
        &owner,
        &spec_hash,
    );
    let service = service(conn, &name, &namespace, &owner);
    Ok(ConnectPlan {
        config_map,
        service,
        pod,
        spec_hash,
    })
}

fn name_of(conn: &SparkConnect) -> String {
    conn.metadata.name.clone().unwrap_or_default()
}

fn owner_reference(conn: &SparkConnect) -> OwnerReference {
    OwnerReference {
        api_version: "sparkoperator.k8s.io/v1alpha1".into(),
        kind: "SparkConnect".into(),
        name: name_of(conn),
        uid: conn.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn template(
    template: &Option<PodTemplate>,
    field: &'static str,
) -> Result<Option<PodTemplateSpec>, ConnectError> {
    template
        .as_ref()
        .map(|t| t.to_spec())
        .transpose()
        .map_err(|source| ConnectError::NotATemplate { field, source })
}

/// Index of the Spark container in a pod spec: the one named `wanted`, else the first.
fn spark_container(spec: &PodSpec, wanted: &str) -> Option<usize> {
    spec.containers
        .iter()
        .position(|c| c.name == wanted)
        .or((!spec.containers.is_empty()).then_some(0))
}

fn template_image(template: &PodTemplateSpec, wanted: &str) -> Option<String> {
    let spec = template.spec.as_ref()?;
    spec.containers[spark_container(spec, wanted)?]
        .image
        .clone()
        .filter(|image| !image.is_empty())
}

fn created_labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_CREATED_BY.to_owned(), "true".to_owned()),
        (LABEL_CONNECT_NAME.to_owned(), name.to_owned()),
    ])
}

/// The labels of the server pod, which the Service selects.
fn server_labels(conn: &SparkConnect, name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_LAUNCHED_BY.to_owned(), "true".to_owned()),
        (LABEL_CONNECT_NAME.to_owned(), name.to_owned()),
        (LABEL_SPARK_ROLE.to_owned(), ROLE_SERVER.to_owned()),
        (
            LABEL_SPARK_VERSION.to_owned(),
            conn.spec.spark_version.clone(),
        ),
    ])
}

/// A value for a shell command line: in single quotes, with each `'` closed, escaped and reopened.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r#"'"'"'"#))
}

/// The server's command line (run by `bash -c`): Kubeflow's arguments, in a fixed order.
fn start_command(
    conn: &SparkConnect,
    name: &str,
    namespace: &str,
    master: &str,
    executor_image: &str,
) -> String {
    let spec = &conn.spec;
    let mut conf: Vec<(String, String)> = vec![
        ("spark.kubernetes.namespace".into(), namespace.into()),
        (
            "spark.kubernetes.container.image".into(),
            executor_image.into(),
        ),
        (
            "spark.kubernetes.executor.container.image".into(),
            executor_image.into(),
        ),
    ];
    for (key, value) in spec.spark_conf.iter().flatten() {
        // The server pod's name is the operator's to give.
        if key != "spark.kubernetes.driver.pod.name" {
            conf.push((key.clone(), value.clone()));
        }
    }
    for (key, value) in spec.hadoop_conf.iter().flatten() {
        let key = if key.starts_with("spark.hadoop.") {
            key.clone()
        } else {
            format!("spark.hadoop.{key}")
        };
        conf.push((key, value.clone()));
    }
    let labels = conn.metadata.labels.clone().unwrap_or_default();
    for role in ["driver", "executor"] {
        conf.push((
            format!("spark.kubernetes.{role}.label.{LABEL_LAUNCHED_BY}"),
            "true".into(),
        ));
        conf.push((
            format!("spark.kubernetes.{role}.label.{LABEL_CONNECT_NAME}"),
            name.into(),
        ));
        for (key, value) in &labels {
            conf.push((
                format!("spark.kubernetes.{role}.label.{key}"),
                value.clone(),
            ));
        }
        let pod = if role == "driver" {
            &spec.server.pod
        } else {
            &spec.executor.pod
        };
        if let Some(cores) = pod.cores {
            conf.push((format!("spark.{role}.cores"), cores.to_string()));
        }
        if let Some(memory) = &pod.memory {
            conf.push((format!("spark.{role}.memory"), memory.clone()));
        }
        if role == "driver" {
            conf.extend([
                ("spark.driver.bindAddress".into(), "0.0.0.0".into()),
                ("spark.driver.port".into(), DRIVER_PORT.to_string()),
                (
                    "spark.driver.blockManager.port".into(),
                    BLOCK_MANAGER_PORT.to_string(),
                ),
                (
                    "spark.kubernetes.driver.pod.name".into(),
                    server_pod_name(name),
                ),
            ]);
        }
    }
    if let Some(instances) = spec.executor.instances {
        conf.push(("spark.executor.instances".into(), instances.to_string()));
    }
    conf.push((
        "spark.kubernetes.executor.podNamePrefix".into(),
        names::fit(name, MAX_EXECUTOR_PREFIX),
    ));
    if spec.executor.pod.template.is_some() {
        conf.push((
            "spark.kubernetes.executor.podTemplateFile".into(),
            TEMPLATE_PATH.into(),
        ));
        conf.push((
            "spark.kubernetes.executor.podTemplateContainerName".into(),
            EXECUTOR_CONTAINER.into(),
        ));
    }
    if let Some(allocation) = spec
        .dynamic_allocation
        .as_ref()
        .filter(|a| a.enabled == Some(true))
    {
        conf.push(("spark.dynamicAllocation.enabled".into(), "true".into()));
        for (key, value) in [
            ("initialExecutors", allocation.initial_executors),
            ("minExecutors", allocation.min_executors),
            ("maxExecutors", allocation.max_executors),
        ] {
            if let Some(value) = value {
                conf.push((format!("spark.dynamicAllocation.{key}"), value.to_string()));
            }
        }
        conf.push((
            "spark.dynamicAllocation.shuffleTracking.enabled".into(),
            allocation
                .shuffle_tracking_enabled
                .unwrap_or(true)
                .to_string(),
        ));
        if let Some(timeout) = allocation.shuffle_tracking_timeout {
            conf.push((
                "spark.dynamicAllocation.shuffleTracking.timeout".into(),
                timeout.to_string(),
            ));
        }
    }

    let mut command = format!(
        "${{SPARK_HOME}}/sbin/start-connect-server.sh --master {}",
        shell_quote(master)
    );
    for (key, value) in &conf {
        command.push_str(" --conf ");
        command.push_str(&shell_quote(&format!("{key}={value}")));
    }
    // Executors dial the driver at its pod IP, bracketed when it is IPv6; the shell expands it.
    command.push_str(
        r#" --conf "spark.driver.host=$(host=${POD_IP}; if [[ $host == *:* ]] && [[ $host != \[* ]]; then echo "[$host]"; else echo "$host"; fi)""#,
    );
    command
}

#[allow(clippy::too_many_arguments)]
fn server_pod(
    conn: &SparkConnect,
    name: &str,
    namespace: &str,
    template: PodTemplateSpec,
    image: String,
    command: &str,
    owner: &OwnerReference,
    spec_hash: &str,
) -> Pod {
    let mut metadata = template.metadata.unwrap_or_default();
    let mut spec = template.spec.unwrap_or_default();
    metadata.name = Some(server_pod_name(name));
    metadata.namespace = Some(namespace.to_owned());
    metadata.generate_name = None;
    metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .extend(server_labels(conn, name));
    metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(ANNOTATION_SPEC_HASH.to_owned(), spec_hash.to_owned());
    metadata.owner_references = Some(vec![owner.clone()]);

    let index = match spark_container(&spec, DRIVER_CONTAINER) {
        Some(index) => index,
        None => {
            spec.containers.push(Container {
                name: DRIVER_CONTAINER.into(),
                ..Default::default()
            });
            0
        }
    };
    let container = &mut spec.containers[index];
    // A nameless template container is named as Spark names its own.
    if container.name.is_empty() {
        container.name = DRIVER_CONTAINER.into();
    }
    container.image = Some(image);
    container.command = Some(vec!["bash".into(), "-c".into()]);
    container.args = Some(vec![command.to_owned()]);
    let env = container.env.get_or_insert_with(Vec::new);
    env.push(EnvVar {
        name: "POD_IP".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "status.podIP".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    // In the foreground, so the container lives as long as the server.
    env.push(EnvVar {
        name: "SPARK_NO_DAEMONIZE".into(),
        value: Some("true".into()),
        ..Default::default()
    });
    container
        .volume_mounts
        .get_or_insert_with(Vec::new)
        .push(VolumeMount {
            name: CONF_VOLUME.into(),
            mount_path: TEMPLATE_PATH.into(),
            sub_path: Some(TEMPLATE_KEY.into()),
            read_only: Some(true),
            ..Default::default()
        });
    container.lifecycle = Some(Lifecycle {
        pre_stop: Some(LifecycleHandler {
            exec: Some(ExecAction {
                command: Some(vec![
                    "bash".into(),
                    "-c".into(),
                    "${SPARK_HOME}/sbin/stop-connect-server.sh".into(),
                ]),
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    let connect_port = || TCPSocketAction {
        port: IntOrString::Int(CONNECT_PORT),
        ..Default::default()
    };
    if container.startup_probe.is_none() {
        container.startup_probe = Some(Probe {
            tcp_socket: Some(connect_port()),
            initial_delay_seconds: Some(5),
            period_seconds: Some(10),
            timeout_seconds: Some(1),
            failure_threshold: Some(30),
            ..Default::default()
        });
    }
    if container.readiness_probe.is_none() {
        container.readiness_probe = Some(Probe {
            tcp_socket: Some(connect_port()),
            period_seconds: Some(10),
            timeout_seconds: Some(1),
            failure_threshold: Some(3),
            ..Default::default()
        });
    }
    spec.volumes.get_or_insert_with(Vec::new).push(Volume {
        name: CONF_VOLUME.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map_name(name),
            items: Some(vec![KeyToPath {
                key: TEMPLATE_KEY.into(),
                path: TEMPLATE_KEY.into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    });
    Pod {
        metadata,
        spec: Some(spec),
        status: None,
    }
}

fn service(conn: &SparkConnect, name: &str, namespace: &str, owner: &OwnerReference) -> Service {
    let template = conn.spec.server.service.clone().unwrap_or_default();
    let mut metadata = template.metadata;
    metadata.name = Some(service_name(conn));
    metadata.namespace = Some(namespace.to_owned());
    metadata.generate_name = None;
    metadata.resource_version = None;
    metadata.uid = None;
    metadata.managed_fields = None;
    metadata.creation_timestamp = None;
    metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .extend(created_labels(name));
    metadata.owner_references = Some(vec![owner.clone()]);
    let mut spec = template.spec.unwrap_or_default();
    spec.selector
        .get_or_insert_with(BTreeMap::new)
        .extend(server_labels(conn, name));
    spec.ports = Some(
        [
            ("driver-rpc", DRIVER_PORT, "tcp"),
            ("blockmanager", BLOCK_MANAGER_PORT, "tcp"),
            ("web-ui", UI_PORT, "http"),
            ("spark-connect-server", CONNECT_PORT, "grpc"),
        ]
        .into_iter()
        .map(|(port_name, port, protocol)| ServicePort {
            name: Some(port_name.into()),
            port,
            target_port: Some(IntOrString::Int(port)),
            protocol: Some("TCP".into()),
            app_protocol: Some(protocol.into()),
            ..Default::default()
        })
        .collect(),
    );
    Service {
        metadata,
        spec: Some(spec),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Kubeflow's example, as a typed object with a uid.
    fn example() -> SparkConnect {
        let mut conn: SparkConnect = serde_json::from_value(json!({
            "apiVersion": "sparkoperator.k8s.io/v1alpha1",
            "kind": "SparkConnect",
            "metadata": {"name": "spark-connect", "namespace": "default", "uid": "u-1",
                         "labels": {"team": "data"}},
            "spec": {
                "sparkVersion": "4.0.4",
                "sparkConf": {"spark.sql.shuffle.partitions": "4", "odd": "it's"},
                "hadoopConf": {"fs.s3a.endpoint": "http://minio:9000"},
                "server": {
                    "cores": 1, "memory": "1g",
                    "template": {
                        "metadata": {"labels": {"key1": "value1"}, "annotations": {"key3": "value3"}},
                        "spec": {
                            "containers": [{"name": "spark-kubernetes-driver",
                                            "image": "docker.io/apache/spark:4.0.4",
                                            "resources": {"requests": {"cpu": "1"}}}],
                            "serviceAccount": "spark-operator-spark"
                        }
                    }
                },
                "executor": {
                    "instances": 2, "cores": 1, "memory": "512m",
                    "template": {"spec": {"containers": [{"name": "spark-kubernetes-executor",
                                                           "image": "exec:4.0.4"}]}}
                }
            }
        }))
        .expect("the example reads");
        conn.metadata.uid = Some("u-1".into());
        conn
    }

    fn plan(conn: &SparkConnect) -> ConnectPlan {
        build(conn, "k8s://https://kubernetes.default.svc:443").expect("plan")
    }

    fn command(plan: &ConnectPlan) -> String {
        plan.pod.spec.as_ref().expect("spec").containers[0]
            .args
            .as_ref()
            .expect("args")[0]
            .clone()
    }

    #[test]
    fn the_server_pod_is_the_template_with_kubeflows_container_settings() {
        let plan = plan(&example());
        let pod = &plan.pod;
        assert_eq!(pod.metadata.name.as_deref(), Some("spark-connect-server"));
        let labels = pod.metadata.labels.as_ref().expect("labels");
        assert_eq!(labels["key1"], "value1");
        assert_eq!(labels[LABEL_CONNECT_NAME], "spark-connect");
        assert_eq!(labels[LABEL_SPARK_ROLE], "connect-server");
        assert_eq!(labels[LABEL_SPARK_VERSION], "4.0.4");
        assert_eq!(labels[LABEL_LAUNCHED_BY], "true");
        let annotations = pod.metadata.annotations.as_ref().expect("annotations");
        assert_eq!(annotations["key3"], "value3");
        assert_eq!(annotations[ANNOTATION_SPEC_HASH], plan.spec_hash);
        let owner = &pod.metadata.owner_references.as_ref().expect("owner")[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("SparkConnect", Some(true))
        );
        let spec = pod.spec.as_ref().expect("spec");
        assert_eq!(
            spec.service_account.as_deref(),
            Some("spark-operator-spark")
        );
        let container = &spec.containers[0];
        assert_eq!(
            container.image.as_deref(),
            Some("docker.io/apache/spark:4.0.4")
        );
        assert_eq!(container.command, Some(vec!["bash".into(), "-c".into()]));
        assert!(
            container.resources.is_some(),
            "the template's resources stay"
        );
        let env: Vec<_> = container
            .env
            .iter()
            .flatten()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(env, ["POD_IP", "SPARK_NO_DAEMONIZE"]);
        let probe = container.readiness_probe.as_ref().expect("readiness");
        assert_eq!(
            probe.tcp_socket.as_ref().map(|t| &t.port),
            Some(&IntOrString::Int(15002))
        );
        assert!(container.startup_probe.is_some());
        let volume = &spec.volumes.as_ref().expect("volumes")[0];
        assert_eq!(
            volume.config_map.as_ref().map(|c| c.name.as_str()),
            Some("spark-connect-conf")
        );
    }

    #[test]
    fn the_command_starts_the_connect_server_with_the_executors_settings() {
        let command = command(&plan(&example()));
        assert!(
            command.starts_with(
                "${SPARK_HOME}/sbin/start-connect-server.sh --master 'k8s://https://kubernetes.default.svc:443'"
            ),
            "{command}"
        );
        for expected in [
            "'spark.kubernetes.namespace=default'",
            "'spark.kubernetes.container.image=exec:4.0.4'",
            "'spark.kubernetes.executor.container.image=exec:4.0.4'",
            "'spark.sql.shuffle.partitions=4'",
            r#"'odd=it'"'"'s'"#,
            "'spark.hadoop.fs.s3a.endpoint=http://minio:9000'",
            "'spark.kubernetes.executor.label.sparkoperator.k8s.io/connect-name=spark-connect'",
            "'spark.kubernetes.executor.label.team=data'",
            "'spark.driver.cores=1'",
            "'spark.driver.memory=1g'",
            "'spark.driver.bindAddress=0.0.0.0'",
            "'spark.driver.port=7078'",
            "'spark.driver.blockManager.port=7079'",
            "'spark.kubernetes.driver.pod.name=spark-connect-server'",
            "'spark.executor.instances=2'",
            "'spark.executor.cores=1'",
            "'spark.executor.memory=512m'",
            "'spark.kubernetes.executor.podNamePrefix=spark-connect'",
            "'spark.kubernetes.executor.podTemplateFile=/tmp/spark/executor-pod-template.yaml'",
            "'spark.kubernetes.executor.podTemplateContainerName=spark-kubernetes-executor'",
            "spark.driver.host=$(host=${POD_IP};",
        ] {
            assert!(
                command.contains(expected),
                "{expected} missing from {command}"
            );
        }
        assert!(!command.contains("dynamicAllocation"));
    }

    #[test]
    fn dynamic_allocation_maps_to_sparks_keys_with_shuffle_tracking_on_by_default() {
        let mut conn = example();
        conn.spec.dynamic_allocation = Some(sparkplane_api::v1beta2::DynamicAllocation {
            enabled: Some(true),
            min_executors: Some(0),
            max_executors: Some(3),
            ..Default::default()
        });
        let command = command(&plan(&conn));
        for expected in [
            "'spark.dynamicAllocation.enabled=true'",
            "'spark.dynamicAllocation.minExecutors=0'",
            "'spark.dynamicAllocation.maxExecutors=3'",
            "'spark.dynamicAllocation.shuffleTracking.enabled=true'",
        ] {
            assert!(
                command.contains(expected),
                "{expected} missing from {command}"
            );
        }
    }

    #[test]
    fn the_service_has_kubeflows_ports_and_selects_the_server() {
        let mut conn = example();
        conn.spec.server.service = Some(
            serde_json::from_value(json!({
                "metadata": {"name": "connect", "annotations": {"a": "b"}},
                "spec": {"type": "NodePort", "selector": {"extra": "x"}}
            }))
            .expect("a Service"),
        );
        let plan = plan(&conn);
        let service = &plan.service;
        assert_eq!(service.metadata.name.as_deref(), Some("connect"));
        assert_eq!(service_name(&conn), "connect");
        assert_eq!(
            service.metadata.annotations.as_ref().expect("kept")["a"],
            "b"
        );
        let spec = service.spec.as_ref().expect("spec");
        assert_eq!(spec.type_.as_deref(), Some("NodePort"));
        let selector = spec.selector.as_ref().expect("selector");
        assert_eq!(selector["extra"], "x");
        let pod_labels = plan.pod.metadata.labels.as_ref().expect("labels");
        for (key, value) in selector.iter().filter(|(k, _)| *k != "extra") {
            assert_eq!(pod_labels.get(key), Some(value), "{key}");
        }
        let ports: Vec<_> = spec
            .ports
            .iter()
            .flatten()
            .map(|p| (p.name.as_deref().unwrap_or_default(), p.port))
            .collect();
        assert_eq!(
            ports,
            [
                ("driver-rpc", 7078),
                ("blockmanager", 7079),
                ("web-ui", 4040),
                ("spark-connect-server", 15002)
            ]
        );
        assert_eq!(service_name(&example()), "spark-connect-server");
    }

    #[test]
    fn the_executor_template_is_shipped_as_written_and_null_without_one() {
        let plan1 = plan(&example());
        let text = &plan1.config_map.data.as_ref().expect("data")[TEMPLATE_KEY];
        let value: serde_json::Value = serde_json::from_str(text).expect("JSON");
        assert_eq!(value["spec"]["containers"][0]["image"], "exec:4.0.4");
        let mut conn = example();
        conn.spec.executor.pod.template = None;
        conn.spec.image = Some("spark:4".into());
        let plan2 = plan(&conn);
        assert_eq!(
            plan2.config_map.data.as_ref().expect("data")[TEMPLATE_KEY],
            "null"
        );
        let command = command(&plan2);
        assert!(command.contains("'spark.kubernetes.executor.container.image=spark:4'"));
        assert!(!command.contains("podTemplateFile"));
    }

    #[test]
    fn an_image_is_required_somewhere() {
        let mut conn = example();
        conn.spec.executor.pod.template = None;
        let error = build(&conn, "k8s://x").expect_err("no executor image");
        assert!(error.to_string().starts_with("spec.image:"), "{error}");
        assert!(
            error.to_string().contains("spec.executor.template"),
            "{error}"
        );
    }

    #[test]
    fn long_names_give_valid_derived_names() {
        let mut conn = example();
        let long = "c".repeat(63);
        conn.metadata.name = Some(long.clone());
        let plan = plan(&conn);
        let pod_name = plan.pod.metadata.name.clone().expect("name");
        assert!(
            pod_name.len() <= 63 && names::is_dns_1035_label(&pod_name),
            "{pod_name}"
        );
        assert_eq!(service_name(&conn), pod_name);
        let command = command(&plan);
        let prefix = command
            .split("'spark.kubernetes.executor.podNamePrefix=")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .expect("a prefix");
        assert!(prefix.len() <= 47, "{prefix}");
        assert!(command.contains(&format!("'spark.kubernetes.driver.pod.name={pod_name}'")));
    }

    #[test]
    fn a_nameless_server_container_is_named_as_spark_names_its_own() {
        let mut conn = example();
        let template = conn.spec.server.pod.template.as_mut().expect("template");
        template.0["spec"]["containers"][0]
            .as_object_mut()
            .expect("container")
            .remove("name");
        let pod = plan(&conn).pod;
        assert_eq!(pod.spec.expect("spec").containers[0].name, DRIVER_CONTAINER);
    }

    #[test]
    fn the_hash_follows_the_spec_and_labels_only() {
        let a = example();
        let mut b = example();
        b.metadata.resource_version = Some("42".into());
        assert_eq!(spec_hash(&a), spec_hash(&b));
        b.spec.executor.instances = Some(3);
        assert_ne!(spec_hash(&a), spec_hash(&b));
        let mut c = example();
        c.metadata.labels = None;
        assert_ne!(spec_hash(&a), spec_hash(&c));
    }
}
