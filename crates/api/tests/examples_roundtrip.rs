//! Every Kubeflow example manifest (SparkConnect aside) reads into the Rust types and writes back
//! with no field lost or changed.

use std::path::PathBuf;

use serde_json::Value;
use sparkplane_api::{ScheduledSparkApplication, SparkApplication};

fn examples() -> Vec<(String, Value)> {
    let dir = sparkplane_testbed::shared_reference().join("kubeflow/examples");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    paths.sort();
    let mut docs = Vec::new();
    for path in paths {
        // One example holds `{IMAGE_REGISTRY}/{IMAGE_REPOSITORY}` placeholders, which are not YAML
        // until filled in, as its users do.
        let text = std::fs::read_to_string(&path)
            .expect("read example")
            .replace(
                "{IMAGE_REGISTRY}/{IMAGE_REPOSITORY}",
                "registry.example/spark",
            );
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value: Value = serde::Deserialize::deserialize(doc).expect("YAML");
            let kind = value["kind"].as_str().unwrap_or_default();
            if kind == "SparkApplication" || kind == "ScheduledSparkApplication" {
                let name = path.file_name().expect("file name").to_string_lossy();
                docs.push((format!("{name} ({kind})"), value));
            }
        }
    }
    docs
}

/// The differences between what was written and what came back, as property paths. A number and
/// a string with the same text are the same value: k8s-openapi keeps quantities (`cpu: 1`) as strings.
fn differences(original: &Value, back: &Value, path: &str, out: &mut Vec<String>) {
    match (original, back) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                match b.get(key) {
                    Some(other) => differences(value, other, &format!("{path}.{key}"), out),
                    None => out.push(format!("{path}.{key}: lost")),
                }
            }
            for key in b.keys().filter(|key| !a.contains_key(*key)) {
                out.push(format!("{path}.{key}: added"));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                differences(x, y, &format!("{path}[{index}]"), out);
            }
        }
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n))
            if n.to_string() == *s => {}
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{path}: {a} became {b}")),
    }
}

#[test]
fn kubeflow_examples_round_trip() {
    let docs = examples();
    assert!(
        docs.len() >= 13,
        "found only {} example resources",
        docs.len()
    );
    let mut failures = Vec::new();
    for (name, original) in docs {
        let back = if original["kind"] == "SparkApplication" {
            serde_json::from_value::<SparkApplication>(original.clone())
                .map(|app| serde_json::to_value(app).expect("serialize"))
        } else {
            serde_json::from_value::<ScheduledSparkApplication>(original.clone())
                .map(|app| serde_json::to_value(app).expect("serialize"))
        };
        match back {
            Ok(back) => {
                let mut diffs = Vec::new();
                differences(&original, &back, "", &mut diffs);
                failures.extend(diffs.into_iter().map(|d| format!("{name}: {d}")));
            }
            Err(error) => failures.push(format!("{name}: does not deserialize: {error}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `validate` accepts every Kubeflow example: no false alarms on manifests that work there.
#[test]
fn kubeflow_examples_pass_validate() {
    let mut failures = Vec::new();
    for (name, manifest) in examples() {
        let verdict = if manifest["kind"] == "SparkApplication" {
            let app: SparkApplication = serde_json::from_value(manifest).expect("deserialize");
            sparkplane_api::validate::spark_application(&app)
        } else {
            let app: ScheduledSparkApplication =
                serde_json::from_value(manifest).expect("deserialize");
            sparkplane_api::validate::scheduled_spark_application(&app)
        };
        if let Err(error) = verdict {
            failures.push(format!("{name}: {error}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
