//! `MountSecretsFeatureStep`: `spark.kubernetes.driver.secrets.<name>=<path>` mounts a Secret.

use k8s_openapi::api::core::v1::{SecretVolumeSource, Volume, VolumeMount};

use super::{SparkPod, StepContext};

pub fn apply(ctx: &StepContext<'_>, p: &mut SparkPod) {
    for (secret, path) in ctx.conf.with_prefix("spark.kubernetes.driver.secrets.") {
        let volume = format!("{secret}-volume");
        p.pod
            .spec
            .get_or_insert_with(Default::default)
            .volumes
            .get_or_insert_with(Vec::new)
            .push(Volume {
                name: volume.clone(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(secret.to_owned()),
                    ..Default::default()
                }),
                ..Default::default()
            });
        p.container
            .volume_mounts
            .get_or_insert_with(Vec::new)
            .push(VolumeMount {
                name: volume,
                mount_path: path.to_owned(),
                ..Default::default()
            });
    }
}
