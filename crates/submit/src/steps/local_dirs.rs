//! `LocalDirsFeatureStep`: scratch space, from `spark-local-dir-*` mounts when the pod has them.

use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, Volume, VolumeMount};

use super::{SparkPod, StepContext, env};

pub fn apply(ctx: &StepContext<'_>, p: &mut SparkPod) {
    let existing: Vec<String> = p
        .container
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| m.name.starts_with(crate::identity::LOCAL_DIR_PREFIX))
        .map(|m| m.mount_path.clone())
        .collect();
    let dirs = if !existing.is_empty() {
        existing
    } else {
        let dirs: Vec<String> = match ctx.conf.get("spark.local.dir") {
            Some(list) => list
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            None => vec![format!("/var/data/spark-{}", ctx.ids.local_dir_uuid)],
        };
        let tmpfs = ctx
            .conf
            .get("spark.kubernetes.local.dirs.tmpfs")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        for (i, dir) in dirs.iter().enumerate() {
            let name = format!("spark-local-dir-{}", i + 1);
            p.pod
                .spec
                .get_or_insert_with(Default::default)
                .volumes
                .get_or_insert_with(Vec::new)
                .push(Volume {
                    name: name.clone(),
                    empty_dir: Some(EmptyDirVolumeSource {
                        medium: tmpfs.then(|| "Memory".to_owned()),
                        size_limit: None,
                    }),
                    ..Default::default()
                });
            p.container
                .volume_mounts
                .get_or_insert_with(Vec::new)
                .push(VolumeMount {
                    name,
                    mount_path: dir.clone(),
                    ..Default::default()
                });
        }
        dirs
    };
    p.container
        .env
        .get_or_insert_with(Vec::new)
        .push(env("SPARK_LOCAL_DIRS", &dirs.join(",")));
}
