//! Every SparkApplication spec field has a row in docs/submission.md's mapping table.

use std::collections::BTreeSet;

use serde_json::Value;

/// Objects of our own API whose fields get a row each; other objects (Kubernetes types such as
/// `volumes` or `affinity`) are mapped as a whole.
const DESCEND: &[&str] = &[
    "spec.driver",
    "spec.executor",
    "spec.deps",
    "spec.dynamicAllocation",
    "spec.monitoring",
    "spec.monitoring.prometheus",
    "spec.sparkUIOptions",
    "spec.driverIngressOptions",
    "spec.restartPolicy",
    "spec.batchSchedulerOptions",
];

fn walk(path: &str, schema: &Value, out: &mut BTreeSet<String>) {
    let schema = schema.get("items").unwrap_or(schema);
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, child) in props {
        let p = format!("{path}.{name}");
        out.insert(p.clone());
        if DESCEND.contains(&p.as_str()) {
            walk(&p, child, out);
        }
    }
}

#[test]
fn every_spec_field_is_in_the_mapping_table() -> anyhow::Result<()> {
    let crd = serde_json::to_value(sparkplane_api::crds::spark_application()?)?;
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let mut fields = BTreeSet::new();
    walk("spec", spec, &mut fields);
    assert!(
        fields.len() > 80,
        "the walk found too few fields: {fields:?}"
    );

    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/submission.md"
    ))?;
    let mapped: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect();
    let missing: Vec<_> = fields.difference(&mapped).collect();
    assert!(
        missing.is_empty(),
        "spec fields with no row in docs/submission.md: {missing:?}"
    );
    Ok(())
}
