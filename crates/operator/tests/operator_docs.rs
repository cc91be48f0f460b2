//! docs/configuration.md describes every setting of `sparkplane operator`, with its flag and variable.

use std::process::Command;

#[test]
fn every_operator_setting_has_a_row_in_the_docs() {
    let output = Command::new(env!("CARGO_BIN_EXE_sparkplane"))
        .args(["operator", "--help"])
        .output()
        .expect("run sparkplane operator --help");
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8(output.stdout).expect("UTF-8");
    let docs_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let docs = std::fs::read_to_string(docs_path).expect("docs/configuration.md");

    // Option lines start with the flag; the variable follows in the description as `[env: X=]`.
    let mut flags = Vec::new();
    let mut envs = Vec::new();
    for line in help.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("--") && !trimmed.starts_with("--help") {
            flags.push(trimmed.split_whitespace().next().unwrap_or_default());
        }
        if let Some((_, rest)) = line.split_once("[env: ") {
            envs.push(rest.split('=').next().unwrap_or_default());
        }
    }
    assert!(flags.len() >= 20, "too few flags found in:\n{help}");
    assert_eq!(
        flags.len(),
        envs.len(),
        "a flag without a variable:\n{help}"
    );
    for (flag, env) in flags.iter().zip(&envs) {
        let row = format!("| `{flag}` | `{env}` |");
        assert!(
            docs.contains(&row),
            "docs/configuration.md has no row {row}"
        );
    }
}
