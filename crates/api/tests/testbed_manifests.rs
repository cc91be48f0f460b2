//! Kubeflow's example manifests against the API server with our CRDs: each
//! passes a server-side dry-run, and what the server would store keeps every field of the spec
//! (nothing pruned), and reads into the Rust types.

mod common;
mod kubeflow_examples;

use kubeflow_examples::{examples, through_types};
use serde_json::Value;

/// Paths of `original` that are missing or different in `stored`; numbers and strings with the
/// same text count as equal (quantities).
fn lost(original: &Value, stored: &Value, path: &str, out: &mut Vec<String>) {
    match (original, stored) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                match b.get(key) {
                    Some(other) => lost(value, other, &format!("{path}.{key}"), out),
                    None => out.push(format!("{path}.{key}: pruned")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                lost(x, y, &format!("{path}[{index}]"), out);
            }
        }
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n))
            if n.to_string() == *s => {}
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{path}: {a} stored as {b}")),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kubeflow_examples_pass_a_server_dry_run_unchanged() -> anyhow::Result<()> {
    let client = common::client_with_crds().await?;
    let namespace = common::testbed()?.namespace("api-examples").await?;
    let examples = examples();
    assert!(examples.len() >= 13, "only {} examples", examples.len());
    let mut failures = Vec::new();
    for (name, manifest) in examples {
        let mut stored = match common::dry_run_create(&client, namespace.name(), &manifest).await? {
            Ok(stored) => serde_json::to_value(stored)?,
            Err(error) => {
                failures.push(format!("{name}: refused: {error}"));
                continue;
            }
        };
        let mut pruned = Vec::new();
        lost(&manifest["spec"], &stored["spec"], "spec", &mut pruned);
        failures.extend(pruned.into_iter().map(|p| format!("{name}: {p}")));
        stored["kind"] = manifest["kind"].clone();
        if let Err(error) = through_types(&stored) {
            failures.push(format!("{name}: stored object does not read back: {error}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    Ok(())
}

/// `kubectl get sparkapp` prints Kubeflow's columns: the server's Table for the kind has them.
#[tokio::test(flavor = "multi_thread")]
async fn printer_columns_are_served() -> anyhow::Result<()> {
    let client = common::client_with_crds().await?;
    let namespace = common::testbed()?.namespace("api-columns").await?;
    let mut failures = Vec::new();
    for (plural, columns) in [
        (
            "sparkapplications",
            vec![
                "Name", "Suspend", "Status", "Attempts", "Start", "Finish", "Age",
            ],
        ),
        (
            "scheduledsparkapplications",
            vec![
                "Name",
                "Schedule",
                "TimeZone",
                "Suspend",
                "Last Run",
                "Last Run Name",
                "Age",
            ],
        ),
    ] {
        let request = http::Request::get(format!(
            "/apis/sparkoperator.k8s.io/v1beta2/namespaces/{}/{plural}",
            namespace.name()
        ))
        .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .body(Vec::new())?;
        let table: Value = client.request(request).await?;
        let served: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|column| column["name"].as_str())
            .collect();
        if served != columns {
            failures.push(format!("{plural}: {served:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    Ok(())
}
