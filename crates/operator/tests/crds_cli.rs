//! `sparkplane crds` prints the committed CRDs, ready for `kubectl apply -f -`.

use std::process::Command;

#[test]
fn crds_subcommand_prints_the_committed_crds() {
    let output = Command::new(env!("CARGO_BIN_EXE_sparkplane"))
        .arg("crds")
        .output()
        .expect("run sparkplane crds");
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).expect("UTF-8");

    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let committed: String = [
        "sparkapplications.sparkoperator.k8s.io.yaml",
        "scheduledsparkapplications.sparkoperator.k8s.io.yaml",
        "sparkconnects.sparkoperator.k8s.io.yaml",
    ]
    .iter()
    .map(|file| std::fs::read_to_string(deploy.join(file)).expect("committed CRD"))
    .collect();
    assert!(
        printed == committed,
        "sparkplane crds differs from deploy/crds/"
    );

    // Every document starts with a `---` line of its own.
    let kinds: Vec<String> = format!("\n{printed}")
        .split("\n---\n")
        .filter(|doc| !doc.trim().is_empty())
        .map(|doc| {
            let crd: serde_json::Value = serde_yaml::from_str(doc).expect("YAML");
            assert_eq!(crd["kind"], "CustomResourceDefinition");
            crd["spec"]["names"]["kind"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "SparkApplication",
            "ScheduledSparkApplication",
            "SparkConnect"
        ]
    );
}
