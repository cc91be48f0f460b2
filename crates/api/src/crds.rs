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
use crate::v1alpha1::SparkConnect;
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

/// The SparkConnect CRD.
pub fn spark_connect() -> Result<CustomResourceDefinition, CrdError> {
    finish(SparkConnect::crd(), MAX_APP_NAME_LEN)
}

/// Every CRD Sparkplane serves.
pub fn all_crds() -> Result<Vec<CustomResourceDefinition>, CrdError> {
    Ok(vec![
        spark_application()?,
        scheduled_spark_application()?,
        spark_connect()?,
    ])
}

/// Every CRD as one multi-document YAML stream, as `sparkplane crds` prints it.
pub fn all_crds_yaml() -> Result<String, CrdError> {
    Ok(crd_files()?
        .into_iter()
        .map(|(_, yaml)| yaml)
        .collect::<Vec<_>>()
        .concat())
}

/// Every CRD as a YAML document, with the file name it has under `deploy/crds/`
/// (`<plural>.<group>.yaml`).
pub fn crd_files() -> Result<Vec<(String, String)>, CrdError> {
    all_crds()?
        .into_iter()
        .map(|crd| {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let yaml = serde_yaml::to_string(&crd).map_err(|source| CrdError::Yaml {
                crd: name.clone(),
                source,
            })?;
            Ok((format!("{name}.yaml"), format!("---\n{yaml}")))
        })
        .collect()
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
        normalize(&mut value, &version.name, max_name_len);
        *props = serde_json::from_value::<JSONSchemaProps>(value).map_err(|source| {
            CrdError::Schema {
                crd: name.clone(),
                source,
            }
        })?;
    }
    Ok(crd)
}

/// Fields whose type is a Kubernetes core type (from k8s-openapi). Their schemas keep their shape
/// but lose the descriptions inside: those repeat the Kubernetes API reference, and with them the
/// CRD outgrows the 256 KiB that `kubectl apply` (client-side) can record in an annotation.
pub const EMBEDDED_KUBERNETES_FIELDS: &[&str] = &[
    "affinity",
    "dnsConfig",
    "env",
    "envFrom",
    "hostAliases",
    "ingressTLS",
    "initContainers",
    "lifecycle",
    "podSecurityContext",
    "securityContext",
    "service",
    "sidecars",
    "tolerations",
    "volumeMounts",
    "volumes",
];

/// The one post-processing pass over a generated root schema.
pub fn normalize(root: &mut Value, version: &str, max_name_len: usize) {
    walk(root);
    if let Some(properties) = root.get_mut("properties").and_then(Value::as_object_mut) {
        // Every Kubernetes object has them; the derive leaves them out, Kubeflow's CRD declares them.
        let api_version =
            format!("The versioned schema of this object: sparkoperator.k8s.io/{version}.");
        for (field, description) in [
            ("apiVersion", api_version.as_str()),
            ("kind", "The kind of this object."),
        ] {
            properties.insert(
                field.into(),
                json!({"type": "string", "description": description}),
            );
        }
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
            for (name, child) in children.iter_mut() {
                if EMBEDDED_KUBERNETES_FIELDS.contains(&name.as_str()) {
                    strip_inner_descriptions(child);
                }
                walk(child);
            }
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

/// Removes every description below `schema`, keeping its own.
fn strip_inner_descriptions(schema: &mut Value) {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(object) => {
                // A property may be called `description`; only drop string-valued schema keywords.
                if object.get("description").is_some_and(Value::is_string) {
                    object.remove("description");
                }
                object.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    if let Some(object) = schema.as_object_mut() {
        for (key, value) in object.iter_mut() {
            if key != "description" {
                strip(value);
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_fixes_what_the_derive_leaves() {
        let mut root = json!({
            "type": "object",
            "properties": {
                "metadata": {"type": "object"},
                "spec": {
                    "type": "object",
                    "description": "kept",
                    "properties": {
                        "mode": {"type": "string", "nullable": true, "enum": ["cluster", "client", null]},
                        "volumes": {
                            "type": "array",
                            "description": "kept: our own field's description",
                            "items": {
                                "type": "object",
                                "description": "dropped",
                                "properties": {
                                    "description": {"type": "string", "description": "dropped"}
                                }
                            }
                        }
                    }
                }
            }
        });
        normalize(&mut root, "v1beta2", 63);
        let spec = &root["properties"]["spec"];
        assert_eq!(spec["description"], "kept");
        assert_eq!(
            spec["properties"]["mode"]["enum"],
            json!(["cluster", "client"])
        );
        let volumes = &spec["properties"]["volumes"];
        assert_eq!(volumes["description"], "kept: our own field's description");
        assert_eq!(volumes["items"].get("description"), None);
        // A property named `description` is a property, not a keyword: it stays, minus its text.
        assert_eq!(
            volumes["items"]["properties"]["description"],
            json!({"type": "string"})
        );
        let name = &root["properties"]["metadata"]["properties"]["name"];
        assert_eq!(name["maxLength"], 63);
        assert_eq!(name["pattern"], DNS_1035_PATTERN);
        assert_eq!(root["properties"]["apiVersion"]["type"], "string");
        assert_eq!(root["properties"]["kind"]["type"], "string");
    }

    #[test]
    fn generated_schemas_are_structural() {
        // The API server refuses `$ref`, and `anyOf`/`oneOf`/`allOf` except under int-or-string.
        fn check(value: &Value, path: &str, out: &mut Vec<String>) {
            if let Value::Object(object) = value {
                if object.contains_key("$ref") {
                    out.push(format!("{path}: $ref"));
                }
                for key in ["anyOf", "oneOf", "allOf"] {
                    if object.contains_key(key)
                        && object.get("x-kubernetes-int-or-string") != Some(&Value::Bool(true))
                    {
                        out.push(format!("{path}: {key}"));
                    }
                }
                for (key, child) in object {
                    check(child, &format!("{path}/{key}"), out);
                }
            }
        }
        let mut problems = Vec::new();
        for crd in all_crds().expect("CRDs generate") {
            let value = serde_json::to_value(&crd).expect("serialize");
            check(&value, "", &mut problems);
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
