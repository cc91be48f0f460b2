//! The CustomResourceDefinitions, generated from the types.
//!
//! `#[derive(CustomResource)]` gives a structural schema; one pass here then adds what the derive
//! cannot say: the name rules of `metadata.name`, and the clean-up of shapes the API server refuses
//! or that differ needlessly from Kubeflow's CRD.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
use kube_core::CustomResourceExt;
use serde_json::{Map, Value, json};

use crate::names::{DNS_1035_PATTERN, MAX_APP_NAME_LEN, MAX_SCHEDULED_APP_NAME_LEN};
use crate::v1beta2::{ScheduledSparkApplication, SparkApplication};

/// Why a CRD could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error("CRD {crd}: the generated schema is missing")]
    NoSchema { crd: String },
    #[error("CRD {crd}: the normalised schema does not fit JSONSchemaProps: {source}")]
    Schema {
        crd: String,
        source: serde_json::Error,
    },
    #[error("CRD {crd}: cannot render YAML: {source}")]
    Yaml {
        crd: String,
        source: serde_yaml::Error,
    },
}

/// The SparkApplication CRD.
pub fn spark_application() -> Result<CustomResourceDefinition, CrdError> {
    finish(SparkApplication::crd(), MAX_APP_NAME_LEN)
}

/// The ScheduledSparkApplication CRD.
pub fn scheduled_spark_application() -> Result<CustomResourceDefinition, CrdError> {
    finish(ScheduledSparkApplication::crd(), MAX_SCHEDULED_APP_NAME_LEN)
}

/// Every CRD Sparkplane serves.
pub fn all_crds() -> Result<Vec<CustomResourceDefinition>, CrdError> {
    Ok(vec![spark_application()?, scheduled_spark_application()?])
}

/// Every CRD as one multi-document YAML stream, as `sparkplane crds` prints it.
pub fn all_crds_yaml() -> Result<String, CrdError> {
    let mut out = String::new();
    for crd in all_crds()? {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let yaml =
            serde_yaml::to_string(&crd).map_err(|source| CrdError::Yaml { crd: name, source })?;
        out.push_str("---\n");
        out.push_str(&yaml);
    }
    Ok(out)
}

fn finish(
    mut crd: CustomResourceDefinition,
    max_name_len: usize,
) -> Result<CustomResourceDefinition, CrdError> {
    let name = crd.metadata.name.clone().unwrap_or_default();
    for version in &mut crd.spec.versions {
        let props = version
            .schema
            .as_mut()
            .and_then(|schema| schema.open_api_v3_schema.as_mut())
            .ok_or_else(|| CrdError::NoSchema { crd: name.clone() })?;
        let mut value = serde_json::to_value(&*props).map_err(|source| CrdError::Schema {
            crd: name.clone(),
            source,
        })?;
        normalize(&mut value, max_name_len);
        *props = serde_json::from_value::<JSONSchemaProps>(value).map_err(|source| {
            CrdError::Schema {
                crd: name.clone(),
                source,
            }
        })?;
    }
    Ok(crd)
}

/// The one post-processing pass over a generated root schema.
pub fn normalize(root: &mut Value, max_name_len: usize) {
    walk(root);
    if let Some(properties) = root.get_mut("properties").and_then(Value::as_object_mut) {
        // Only `name` and `generateName` may be constrained under `metadata`.
        properties.insert(
            "metadata".into(),
            json!({
                "type": "object",
                "properties": {
                    "name": {
                        "type": "string",
                        "maxLength": max_name_len,
                        "pattern": DNS_1035_PATTERN,
                    }
                }
            }),
        );
    }
}

/// Applies [`simplify`] to every node of a schema.
fn walk(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    simplify(object);
    for key in ["properties", "patternProperties"] {
        if let Some(children) = object.get_mut(key).and_then(Value::as_object_mut) {
            children.values_mut().for_each(walk);
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(child) = object.get_mut(key) {
            walk(child);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(children) = object.get_mut(key).and_then(Value::as_array_mut) {
            children.iter_mut().for_each(walk);
        }
    }
}

/// Fixes one schema node.
fn simplify(object: &mut Map<String, Value>) {
    // schemars lists `null` among the values of an optional enum; `nullable` already says it.
    if let Some(values) = object.get_mut("enum").and_then(Value::as_array_mut) {
        values.retain(|value| !value.is_null());
    }
}
