//! Kubeflow's example manifests (../shared/reference/kubeflow/examples), the SparkApplication,
//! ScheduledSparkApplication and SparkConnect documents of each, for the tests that check we serve
//! them unchanged.

use std::path::PathBuf;

use serde_json::Value;

/// Every SparkApplication, ScheduledSparkApplication and SparkConnect document, named
/// `<file> (<kind>)`.
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
            if [
                "SparkApplication",
                "ScheduledSparkApplication",
                "SparkConnect",
            ]
            .contains(&kind)
            {
                let name = path.file_name().expect("file name").to_string_lossy();
                docs.push((format!("{name} ({kind})"), value));
            }
        }
    }
    docs
}

/// Reads a manifest into its kind's type and back into JSON, or says why it does not read.
pub fn through_types(manifest: &Value) -> Result<Value, serde_json::Error> {
    fn through<T: serde::de::DeserializeOwned + serde::Serialize>(
        manifest: &Value,
    ) -> Result<Value, serde_json::Error> {
        serde_json::to_value(serde_json::from_value::<T>(manifest.clone())?)
    }
    match manifest["kind"].as_str() {
        Some("SparkApplication") => through::<sparkplane_api::SparkApplication>(manifest),
        Some("SparkConnect") => through::<sparkplane_api::SparkConnect>(manifest),
        _ => through::<sparkplane_api::ScheduledSparkApplication>(manifest),
    }
}
