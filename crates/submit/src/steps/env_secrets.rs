//! `EnvSecretsFeatureStep`: `spark.kubernetes.driver.secretKeyRef.<ENV>=<secret>:<key>`.

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, SecretKeySelector};
use thiserror::Error;

use super::{SparkPod, StepContext};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum EnvSecretError {
    #[error("spec.driver.envSecretKeyRefs[{env}]: {value:?} is not <secret>:<key>")]
    Malformed { env: String, value: String },
}

pub fn apply(ctx: &StepContext<'_>, p: &mut SparkPod) -> Result<(), EnvSecretError> {
    for (env, reference) in ctx
        .conf
        .with_prefix("spark.kubernetes.driver.secretKeyRef.")
    {
        let (name, key) = reference
            .split_once(':')
            .ok_or_else(|| EnvSecretError::Malformed {
                env: env.to_owned(),
                value: reference.to_owned(),
            })?;
        p.container.env.get_or_insert_with(Vec::new).push(EnvVar {
            name: env.to_owned(),
            value: None,
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: name.to_owned(),
                    key: key.to_owned(),
                    optional: None,
                }),
                ..Default::default()
            }),
        });
    }
    Ok(())
}
