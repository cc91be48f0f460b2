//! `sparkplane render`: a SparkApplication manifest in, its plan out as YAML documents, offline.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use sparkplane_api::SparkApplication;
use thiserror::Error;

use crate::plan::{self, Attempt, PlanError, PlanObject, Settings, SubmissionPlan};

#[derive(Debug, Error)]
pub enum RenderError {
    #[error("the manifest is not a SparkApplication: {0}")]
    Parse(#[from] serde_yaml::Error),
    #[error("the manifest is not a SparkApplication: {0}")]
    ParseJson(serde_json::Error),
    #[error("no SparkApplication in the manifest: {0}")]
    NoApplication(String),
    #[error("{0}")]
    Invalid(#[from] sparkplane_api::validate::Invalid),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("cannot write the plan: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    pub settings: Settings,
    pub attempt: u32,
    /// Replaces `spec.sparkVersion`.
    pub spark_version: Option<String>,
    /// The uid to derive names from; without one, a stand-in derived from namespace and name.
    pub uid: Option<String>,
}

/// Reads the application, fills in what the API server and Kubeflow's defaults would, and builds.
pub fn plan_from_yaml(
    text: &str,
    opts: &RenderOptions,
) -> Result<(SparkApplication, SubmissionPlan), RenderError> {
    let mut app = first_spark_application(text)?;
    if let Some(v) = &opts.spark_version {
        app.spec.spark_version = v.clone();
    }
    let namespace = app
        .metadata
        .namespace
        .get_or_insert_with(|| "default".into())
        .clone();
    if let Some(uid) = &opts.uid {
        app.metadata.uid = Some(uid.clone());
    }
    if app.metadata.uid.is_none() {
        let digest = Sha256::digest(format!(
            "{namespace}/{}",
            app.metadata.name.as_deref().unwrap_or_default()
        ));
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        app.metadata.uid = Some(format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        ));
    }
    sparkplane_api::validate::spark_application(&app)?;
    app.spec = sparkplane_api::defaults::spark_application_spec(app.spec);
    let plan = plan::build(&app, &opts.settings, Attempt(opts.attempt.max(1)))?;
    Ok((app, plan))
}

/// The documents of a manifest. JSON is read as JSON: YAML's escapes lack JSON's surrogate pairs
/// (`"\ud835\udd18"`, how JSON writers escape characters beyond the first 65,536).
fn documents(text: &str) -> Result<Vec<serde_yaml::Value>, RenderError> {
    if text.trim_start().starts_with('{') {
        let json: serde_json::Value = serde_json::from_str(text).map_err(RenderError::ParseJson)?;
        return Ok(vec![serde_yaml::to_value(json)?]);
    }
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| Ok(serde_yaml::Value::deserialize(doc)?))
        .collect()
}

/// The SparkApplication of a manifest that may hold other documents too (a ConfigMap it uses, say);
/// a ScheduledSparkApplication stands for the application its template describes.
fn first_spark_application(text: &str) -> Result<SparkApplication, RenderError> {
    let mut first_error = None;
    for value in documents(text)? {
        match value.get("kind").and_then(serde_yaml::Value::as_str) {
            // Parsed from text so the error names the field path (`spec.type: unknown variant`).
            Some("SparkApplication") => {
                return Ok(serde_yaml::from_str(&serde_yaml::to_string(&value)?)?);
            }
            Some("ScheduledSparkApplication") => {
                let scheduled: sparkplane_api::ScheduledSparkApplication =
                    serde_yaml::from_value(value)?;
                let mut app = SparkApplication::new(
                    scheduled.metadata.name.as_deref().unwrap_or_default(),
                    scheduled.spec.template,
                );
                app.metadata.namespace = scheduled.metadata.namespace;
                return Ok(app);
            }
            _ => {
                if first_error.is_none() {
                    first_error = serde_yaml::from_value::<SparkApplication>(value).err();
                }
            }
        }
    }
    Err(RenderError::NoApplication(
        first_error
            .map(|e| e.to_string())
            .unwrap_or_else(|| "the file is empty".into()),
    ))
}

/// The plan's objects in creation order, as JSON values.
pub fn objects_json(plan: &SubmissionPlan) -> Result<Vec<serde_json::Value>, serde_json::Error> {
    plan.objects()
        .into_iter()
        .map(|o| match o {
            PlanObject::Pod(x) => serde_json::to_value(x),
            PlanObject::ConfigMap(x) => serde_json::to_value(x),
            PlanObject::Service(x) => serde_json::to_value(x),
            PlanObject::PersistentVolumeClaim(x) => serde_json::to_value(x),
            PlanObject::Ingress(x) => serde_json::to_value(x),
            PlanObject::PodDisruptionBudget(x) => serde_json::to_value(x),
            PlanObject::PodGroup(x) => serde_json::to_value(x),
            PlanObject::CoschedulingPodGroup(x) => serde_json::to_value(x),
            PlanObject::VolcanoPodGroup(x) => serde_json::to_value(x),
        })
        .collect()
}

/// Multi-document YAML of the plan's objects, in creation order.
pub fn render_yaml(plan: &SubmissionPlan) -> Result<String, RenderError> {
    let mut out = String::new();
    for value in objects_json(plan)? {
        out.push_str("---\n");
        // Quoted so that YAML 1.1 readers (kubectl's) read back the same strings.
        out.push_str(&crate::yaml::to_string(&value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// JSON as Python's and Go's writers escape it: characters beyond the Basic Multilingual Plane
    /// as surrogate pairs, which a YAML reader refuses.
    #[test]
    fn json_with_surrogate_pair_escapes_is_read() {
        let manifest = r#"{"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
            "metadata": {"name": "uni"},
            "spec": {"type": "Scala", "mode": "cluster", "image": "spark", "sparkVersion": "4.0.4",
                "mainClass": "A", "mainApplicationFile": "local:///a.jar",
                "driver": {}, "executor": {},
                "arguments": ["\ud835\udd18 \u03c0 \u202e"]}}"#;
        let app = first_spark_application(manifest).expect("read");
        assert_eq!(app.spec.arguments, Some(vec!["𝔘 π \u{202e}".to_owned()]));
        let broken = first_spark_application(r#"{"kind": "SparkApplication", "#);
        assert!(
            matches!(broken, Err(RenderError::ParseJson(_))),
            "{broken:?}"
        );
    }
}
