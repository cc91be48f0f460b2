//! Walks Kubeflow's CRD schemas and ours side by side and lists every property path that differs in
//! presence or type. None may be missing from ours; every other difference must be explained in
//! `docs/compatibility.md`, which lists the paths (or path prefixes ending in `*`) in backticks.

use std::collections::BTreeMap;

use serde_json::Value;

/// Property path -> effective type, for every node of a schema.
fn flatten(schema: &Value, path: &str, out: &mut BTreeMap<String, String>) {
    out.insert(path.to_string(), effective_type(schema));
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, child) in properties {
            flatten(child, &format!("{path}.{name}"), out);
        }
    }
    if let Some(items) = schema.get("items") {
        flatten(items, &format!("{path}[]"), out);
    }
    if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        flatten(values, &format!("{path}{{}}"), out);
    }
}

fn effective_type(schema: &Value) -> String {
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        return "int-or-string".into();
    }
    schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("any")
        .to_string()
}

fn root_schema(crd: &Value) -> &Value {
    &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
}

fn kubeflow(file: &str) -> Value {
    let path = sparkplane_testbed::shared_reference()
        .join("kubeflow/crds")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).expect("Kubeflow CRD is YAML")
}

/// Every difference between Kubeflow's schema and ours, one line each.
fn differences(theirs: &Value, ours: &Value, kind: &str) -> (Vec<String>, Vec<String>) {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten(root_schema(theirs), kind, &mut a);
    flatten(root_schema(ours), kind, &mut b);
    let mut missing = Vec::new();
    let mut other = Vec::new();
    for (path, their_type) in &a {
        match b.get(path) {
            None => missing.push(format!("{path}: missing")),
            Some(our_type) if our_type != their_type => other.push(format!(
                "{path}: type {their_type} in Kubeflow, {our_type} here"
            )),
            Some(_) => {}
        }
    }
    for path in b.keys().filter(|path| !a.contains_key(*path)) {
        other.push(format!("{path}: only here"));
    }
    (missing, other)
}

/// The backticked paths and prefixes in docs/compatibility.md's schema section.
fn explained() -> Vec<String> {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/compatibility.md"),
    )
    .expect("docs/compatibility.md exists");
    doc.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            [
                "SparkApplication",
                "ScheduledSparkApplication",
                "SparkConnect",
            ]
            .iter()
            .any(|kind| s.starts_with(kind))
        })
        .map(str::to_string)
        .collect()
}

fn is_explained(line: &str, explained: &[String]) -> bool {
    let path = line.split(':').next().unwrap_or_default();
    explained.iter().any(|entry| match entry.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == entry,
    })
}

#[test]
fn our_schemas_cover_kubeflows() {
    let ours: Vec<Value> = sparkplane_api::crds::all_crds()
        .expect("CRDs generate")
        .into_iter()
        .map(|crd| serde_json::to_value(crd).expect("serialize"))
        .collect();
    let explained = explained();
    let mut missing = Vec::new();
    let mut unexplained = Vec::new();
    for (file, ours, kind) in [
        (
            "sparkoperator.k8s.io_sparkapplications.yaml",
            &ours[0],
            "SparkApplication",
        ),
        (
            "sparkoperator.k8s.io_scheduledsparkapplications.yaml",
            &ours[1],
            "ScheduledSparkApplication",
        ),
        (
            "sparkoperator.k8s.io_sparkconnects.yaml",
            &ours[2],
            "SparkConnect",
        ),
    ] {
        let (gone, other) = differences(&kubeflow(file), ours, kind);
        missing.extend(gone);
        unexplained.extend(
            other
                .into_iter()
                .filter(|line| !is_explained(line, &explained)),
        );
    }
    if std::env::var_os("SPARKPLANE_PRINT_SCHEMA_DIFF").is_some() {
        for line in missing.iter().chain(&unexplained) {
            println!("{line}");
        }
    }
    assert!(missing.is_empty(), "missing from our schema: {missing:#?}");
    assert!(
        unexplained.is_empty(),
        "differences not explained in docs/compatibility.md: {unexplained:#?}"
    );
}
