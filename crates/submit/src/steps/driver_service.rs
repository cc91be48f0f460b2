//! `DriverServiceFeatureStep`: the headless Service executors reach the driver through.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use thiserror::Error;

use super::basic::{self, BLOCK_MANAGER_PORT, BasicError, DRIVER_PORT, UI_PORT};
use super::{SparkPod, StepContext};
use crate::names;
use crate::properties::SparkConf;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ServiceError {
    #[error("spec.sparkConf[{key}]: the driver's address is set by the operator, remove it")]
    AddressSet { key: String },
    #[error(transparent)]
    Port(#[from] BasicError),
}

pub fn apply(ctx: &StepContext<'_>, p: &SparkPod) -> Result<(Service, SparkConf), ServiceError> {
    let conf = ctx.conf;
    for key in ["spark.driver.bindAddress", "spark.driver.host"] {
        if conf.contains(key) {
            return Err(ServiceError::AddressSet { key: key.into() });
        }
    }
    let driver_port = basic::port(conf, "spark.driver.port", DRIVER_PORT)?;
    let bm_port = basic::port(
        conf,
        "spark.driver.blockManager.port",
        basic::port(conf, "spark.blockManager.port", BLOCK_MANAGER_PORT)?,
    )?;
    let ui_port = basic::port(conf, "spark.ui.port", UI_PORT)?;
    let name = names::driver_service_name(ctx.resource_prefix, &ctx.ids.unique_id);
    let port = |n: &str, v: i32| ServicePort {
        name: Some(n.into()),
        port: v,
        target_port: Some(IntOrString::Int(v)),
        ..Default::default()
    };
    let mut ports = vec![
        port("driver-rpc-port", driver_port),
        port("blockmanager", bm_port),
        port("spark-ui", ui_port),
    ];
    if ctx.version.exposes_connect_port() {
        let mut connect = port(
            "spark-connect",
            basic::port(conf, basic::CONNECT_PORT_KEY, basic::CONNECT_PORT)?,
        );
        if ctx.version.names_connect_protocol() {
            connect.app_protocol = Some("grpc".into());
        }
        ports.push(connect);
    }
    let labels: BTreeMap<String, String> =
        std::iter::once(("spark-app-selector".to_owned(), ctx.ids.app_id.clone()))
            .chain(
                conf.with_prefix("spark.kubernetes.driver.service.label.")
                    .map(|(k, v)| (k.to_owned(), v.to_owned())),
            )
            .collect();
    let annotations: BTreeMap<String, String> = conf
        .with_prefix("spark.kubernetes.driver.service.annotation.")
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let service = Service {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ctx.namespace.to_owned()),
            labels: Some(labels),
            annotations: Some(annotations).filter(|a| !a.is_empty()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            ip_family_policy: Some(
                conf.get("spark.kubernetes.driver.service.ipFamilyPolicy")
                    .unwrap_or("SingleStack")
                    .into(),
            ),
            ip_families: Some(
                conf.get("spark.kubernetes.driver.service.ipFamilies")
                    .unwrap_or("IPv4")
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .collect(),
            ),
            // The selector is every label of the driver pod, as Spark writes it.
            selector: p.pod.metadata.labels.clone(),
            ports: Some(ports),
            ..Default::default()
        }),
        status: None,
    };
    let mut added = SparkConf::new();
    added.set("spark.driver.host", format!("{name}.{}.svc", ctx.namespace));
    added.set("spark.driver.port", driver_port.to_string());
    added.set("spark.driver.blockManager.port", bm_port.to_string());
    Ok((service, added))
}
