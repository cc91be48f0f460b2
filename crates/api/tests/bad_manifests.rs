//! The corpus of invalid manifests in `tests/bad-manifests/`. Each file starts with comments:
//! `# expect: <field path>` and `# by: server` (the API server must refuse it, with our CRDs) or
//! `# by: validate` (only `sparkplane_api::validate` can see the problem). Either way the error
//! message must contain the field path. A manifest that still reads into the Rust types must also be
//! refused by `validate`, so objects that bypass the API server get the same answer.

mod common;

use std::path::PathBuf;

use serde_json::Value;
use sparkplane_api::{ScheduledSparkApplication, SparkApplication, validate};

struct Case {
    name: String,
    expect: String,
    by_server: bool,
    manifest: Value,
}

fn corpus() -> Vec<Case> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/bad-manifests");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("bad-manifests directory")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path).expect("read manifest");
            let header = |key: &str| {
                text.lines()
                    .find_map(|line| line.strip_prefix(&format!("# {key}: ")))
                    .unwrap_or_else(|| panic!("{name}: no `# {key}:` line"))
                    .trim()
                    .to_string()
            };
            let by = header("by");
            assert!(by == "server" || by == "validate", "{name}: by {by:?}");
            Case {
                expect: header("expect"),
                by_server: by == "server",
                manifest: serde_yaml::from_str(&text).expect("manifest is YAML"),
                name,
            }
        })
        .collect()
}

/// `validate`'s verdict, or `None` when the manifest does not even read into the types.
fn validate_manifest(manifest: &Value) -> Option<Result<(), validate::Invalid>> {
    match manifest["kind"].as_str() {
        Some("SparkApplication") => serde_json::from_value::<SparkApplication>(manifest.clone())
            .ok()
            .map(|app| validate::spark_application(&app)),
        Some("ScheduledSparkApplication") => {
            serde_json::from_value::<ScheduledSparkApplication>(manifest.clone())
                .ok()
                .map(|app| validate::scheduled_spark_application(&app))
        }
        other => panic!("unexpected kind {other:?}"),
    }
}

#[test]
fn corpus_is_big_enough() {
    let corpus = corpus();
    assert!(corpus.len() >= 30, "only {} bad manifests", corpus.len());
    assert!(corpus.iter().any(|case| !case.by_server));
}

#[test]
fn validate_refuses_what_it_can_see() {
    let mut failures = Vec::new();
    for case in corpus() {
        match validate_manifest(&case.manifest) {
            None if case.by_server => {}
            None => failures.push(format!("{}: does not deserialize", case.name)),
            Some(Ok(())) => failures.push(format!("{}: validate accepted it", case.name)),
            Some(Err(error)) => {
                let message = error.to_string();
                if !message.contains(&case.expect) {
                    failures.push(format!(
                        "{}: {message:?} does not name {}",
                        case.name, case.expect
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn api_server_refuses_bad_manifests() -> anyhow::Result<()> {
    let client = common::client_with_crds().await?;
    let namespace = common::testbed()?.namespace("api-bad").await?;
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in corpus().into_iter().filter(|case| case.by_server) {
        checked += 1;
        match common::dry_run_create(&client, namespace.name(), &case.manifest).await? {
            Ok(_) => failures.push(format!("{}: accepted", case.name)),
            Err(kube::Error::Api(status)) => {
                if !status.message.contains(&case.expect) {
                    failures.push(format!(
                        "{}: {:?} does not name {}",
                        case.name, status.message, case.expect
                    ));
                }
            }
            Err(other) => failures.push(format!("{}: {other}", case.name)),
        }
    }
    assert!(checked >= 30, "only {checked} manifests went to the server");
    assert!(failures.is_empty(), "{failures:#?}");
    Ok(())
}
