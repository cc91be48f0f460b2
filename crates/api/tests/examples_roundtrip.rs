//! Every Kubeflow example manifest (SparkConnect aside) reads into the Rust types and writes back
//! with no field lost or changed.

mod kubeflow_examples;

use kubeflow_examples::examples;
use serde_json::Value;
use sparkplane_api::{ScheduledSparkApplication, SparkApplication};

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
