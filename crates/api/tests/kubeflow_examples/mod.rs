//! Kubeflow's example manifests (../shared/reference/kubeflow/examples), the SparkApplication and
//! ScheduledSparkApplication documents of each, for the tests that check we serve them unchanged.

use std::path::PathBuf;

use serde_json::Value;

/// Every SparkApplication and ScheduledSparkApplication document, named `<file> (<kind>)`.
pub fn examples() -> Vec<(String, Value)> {
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
