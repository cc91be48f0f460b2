//! `MountVolumesFeatureStep`: `spark.kubernetes.driver.volumes.<type>.<name>.{mount,options}.*`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    EmptyDirVolumeSource, HostPathVolumeSource, NFSVolumeSource, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use thiserror::Error;

use super::{SparkPod, StepContext};

const PREFIX: &str = "spark.kubernetes.driver.volumes.";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum VolumeError {
    #[error(
        "{key}: unknown volume type {kind:?} (hostPath, emptyDir, persistentVolumeClaim or nfs)"
    )]
    UnknownType { key: String, kind: String },
    #[error("{key}: a volume needs {missing}")]
    Missing { key: String, missing: &'static str },
    #[error("{key}: mount path {path:?} is used twice")]
    DuplicatePath { key: String, path: String },
    #[error("{key}: an OnDemand claim needs options.storageClass and options.sizeLimit")]
    OnDemandIncomplete { key: String },
}

pub fn apply(
    ctx: &StepContext<'_>,
    p: &mut SparkPod,
) -> Result<Vec<PersistentVolumeClaim>, VolumeError> {
    // Group the confs by `<type>.<name>`.
    let mut found: BTreeMap<(String, String), BTreeMap<String, String>> = BTreeMap::new();
    for (rest, value) in ctx.conf.with_prefix(PREFIX) {
        let mut parts = rest.splitn(3, '.');
        let (Some(kind), Some(name), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        found
            .entry((kind.to_owned(), name.to_owned()))
            .or_default()
            .insert(key.to_owned(), value.to_owned());
    }
    let mut paths = BTreeSet::new();
    let mut claims = Vec::new();
    for (i, ((kind, name), opts)) in found.iter().enumerate() {
        let key = format!("spec.sparkConf[{PREFIX}{kind}.{name}]");
        let get = |k: &str| opts.get(k).map(String::as_str);
        let mount_path = get("mount.path").ok_or_else(|| VolumeError::Missing {
            key: key.clone(),
            missing: "mount.path",
        })?;
        if !paths.insert(mount_path.to_owned()) {
            return Err(VolumeError::DuplicatePath {
                key,
                path: mount_path.to_owned(),
            });
        }
        let read_only = |k: &str| get(k).map(|v| v.eq_ignore_ascii_case("true"));
        let mut volume = Volume {
            name: name.clone(),
            ..Default::default()
        };
        match kind.as_str() {
            "hostPath" => {
                volume.host_path = Some(HostPathVolumeSource {
                    path: get("options.path")
                        .ok_or_else(|| VolumeError::Missing {
                            key: key.clone(),
                            missing: "options.path",
                        })?
                        .to_owned(),
                    // `options.type` is read since Spark 4.0; 3.5 always writes "".
                    type_: Some(if ctx.version.is_4_or_later() {
                        get("options.type").unwrap_or_default().to_owned()
                    } else {
                        String::new()
                    }),
                })
            }
            "emptyDir" => {
                volume.empty_dir = Some(EmptyDirVolumeSource {
                    medium: Some(get("options.medium").unwrap_or_default().to_owned()),
                    size_limit: get("options.sizeLimit").map(|s| Quantity(s.to_owned())),
                })
            }
            "nfs" => {
                let need = |k: &'static str| {
                    get(k)
                        .map(str::to_owned)
                        .ok_or_else(|| VolumeError::Missing {
                            key: key.clone(),
                            missing: k,
                        })
                };
                volume.nfs = Some(NFSVolumeSource {
                    path: need("options.path")?,
                    server: need("options.server")?,
                    // Spark's NFS volume has no read-only option; only the mount can be.
                    read_only: None,
                })
            }
            "persistentVolumeClaim" => {
                let mut claim = get("options.claimName")
                    .ok_or_else(|| VolumeError::Missing {
                        key: key.clone(),
                        missing: "options.claimName",
                    })?
                    .to_owned();
                if claim == "OnDemand" {
                    let (Some(class), Some(size)) =
                        (get("options.storageClass"), get("options.sizeLimit"))
                    else {
                        return Err(VolumeError::OnDemandIncomplete { key });
                    };
                    claim = format!("{}-driver-pvc-{i}", ctx.resource_prefix);
                    claims.push(on_demand_claim(ctx, &claim, class, size, opts));
                }
                volume.persistent_volume_claim = Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claim,
                    // Spark takes the claim's read-only flag from the mount.
                    read_only: read_only("mount.readOnly"),
                })
            }
            other => {
                return Err(VolumeError::UnknownType {
                    key,
                    kind: other.to_owned(),
                });
            }
        }
        p.pod
            .spec
            .get_or_insert_with(Default::default)
            .volumes
            .get_or_insert_with(Vec::new)
            .push(volume);
        p.container
            .volume_mounts
            .get_or_insert_with(Vec::new)
            .push(VolumeMount {
                name: name.clone(),
                mount_path: mount_path.to_owned(),
                read_only: read_only("mount.readOnly"),
                sub_path: get("mount.subPath").map(str::to_owned),
                sub_path_expr: if ctx.version.is_4_or_later() {
                    get("mount.subPathExpr").map(str::to_owned)
                } else {
                    None
                },
                ..Default::default()
            });
    }
    Ok(claims)
}

fn on_demand_claim(
    ctx: &StepContext<'_>,
    name: &str,
    class: &str,
    size: &str,
    opts: &BTreeMap<String, String>,
) -> PersistentVolumeClaim {
    // Spark 4 adds the volume's `label.*` and `annotation.*` to the claim (its own label wins);
    // 3.5 ignores them.
    let with_prefix = |prefix: &str| -> BTreeMap<String, String> {
        if !ctx.version.is_4_or_later() {
            return BTreeMap::new();
        }
        opts.iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.to_owned(), v.clone())))
            .collect()
    };
    let mut labels = with_prefix("label.");
    labels.insert("spark-app-selector".to_owned(), ctx.ids.app_id.clone());
    let annotations = Some(with_prefix("annotation.")).filter(|a| !a.is_empty());
    // Spark 4 asks for ReadWriteOncePod; 3.5 keeps the legacy ReadWriteOnce by default.
    let legacy = ctx
        .conf
        .get("spark.kubernetes.legacy.useReadWriteOnceAccessMode")
        .map(|v| v.eq_ignore_ascii_case("true"))
        .unwrap_or(!ctx.version.is_4_or_later());
    let mode = if legacy {
        "ReadWriteOnce"
    } else {
        "ReadWriteOncePod"
    };
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(ctx.namespace.to_owned()),
            labels: Some(labels),
            annotations,
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec![mode.into()]),
            storage_class_name: Some(class.to_owned()),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity(size.to_owned()),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    }
}
