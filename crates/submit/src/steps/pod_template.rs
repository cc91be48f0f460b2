//! `PodTemplateConfigMapStep`: the executor pod template, shipped to the driver in a ConfigMap.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, KeyToPath, PodSpec, PodTemplateSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use thiserror::Error;

use super::{SparkPod, StepContext};
use crate::properties::SparkConf;

pub const KEY: &str = "podspec-configmap-key";
pub const FILE: &str = "pod-spec-template.yml";
pub const MOUNT: &str = "/opt/spark/pod-template";

#[derive(Debug, Error)]
pub enum PodTemplateError {
    #[error("spec.executor.template: cannot be written: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PodFile<'a> {
    api_version: &'static str,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: &'a Option<ObjectMeta>,
    #[serde(skip_serializing_if = "Option::is_none")]
    spec: &'a Option<PodSpec>,
}

pub fn apply(
    ctx: &StepContext<'_>,
    p: &mut SparkPod,
    template: &PodTemplateSpec,
) -> Result<(ConfigMap, SparkConf), PodTemplateError> {
    let name = format!("{}-driver-podspec-conf-map", ctx.resource_prefix);
    // A pod is what `loadPodFromTemplate` reads. JSON is YAML too, and several times faster to write;
    // serialised straight from the typed template, with no intermediate `Value`.
    let text = serde_json::to_string_pretty(&PodFile {
        api_version: "v1",
        kind: "Pod",
        metadata: &template.metadata,
        spec: &template.spec,
    })?;
    p.pod
        .spec
        .get_or_insert_with(Default::default)
        .volumes
        .get_or_insert_with(Vec::new)
        .push(Volume {
            name: "pod-template-volume".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: name.clone(),
                items: Some(vec![KeyToPath {
                    key: KEY.into(),
                    path: FILE.into(),
                    mode: None,
                }]),
                ..Default::default()
            }),
            ..Default::default()
        });
    p.container
        .volume_mounts
        .get_or_insert_with(Vec::new)
        .push(VolumeMount {
            name: "pod-template-volume".into(),
            mount_path: MOUNT.into(),
            ..Default::default()
        });
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(ctx.namespace.to_owned()),
            ..Default::default()
        },
        // Spark creates it immutable, as the conf ConfigMap.
        immutable: Some(true),
        data: Some(BTreeMap::from([(KEY.to_owned(), text)])),
        ..Default::default()
    };
    let mut added = SparkConf::new();
    added.set(
        "spark.kubernetes.executor.podTemplateFile",
        format!("{MOUNT}/{FILE}"),
    );
    Ok((cm, added))
}
