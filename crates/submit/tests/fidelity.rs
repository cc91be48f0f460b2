//! Runs scripts/fidelity/run.py: real spark-submit (PyPI pyspark, JDK 17) against the testbed,
//! compared field by field with our plans. Without pyspark the test fails, in CI and anywhere else:
//! `scripts/fidelity/setup` installs it (`scripts/test` runs that first).

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn spark_submit_creates_what_we_plan() -> anyhow::Result<()> {
    let pyspark = std::env::var_os("SPARKPLANE_PYSPARK_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/sparkplane/pyspark"))
        })
        .unwrap_or_default();
    // A check that did not run must not pass: no pyspark is a failure, not a skip.
    for version in ["v4.0", "v3.5"] {
        let submit = pyspark.join(version).join("bin/spark-submit");
        anyhow::ensure!(
            submit.exists(),
            "fidelity not run: no {} (run scripts/fidelity/setup, or set SPARKPLANE_PYSPARK_DIR \
             to where it installed pyspark)",
            submit.display()
        );
    }
    let cases = case_count()?;
    anyhow::ensure!(cases > 0, "no fidelity cases in scripts/fidelity/cases");
    let testbed = sparkplane_testbed::Testbed::get()?;
    // The render binary the script drives, built below into the same target directory (and profile)
    // as this test: <target>/debug/deps/fidelity-<hash> -> <target>/debug/sparkplane. This honours
    // CARGO_TARGET_DIR, which CI sets.
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| anyhow::anyhow!("unexpected test binary path {}", exe.display()))?;
    let bin = profile_dir.join("sparkplane");
    let build = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "sparkplane", "--bin", "sparkplane"])
        .current_dir(root())
        .status()?;
    anyhow::ensure!(build.success(), "building sparkplane failed");
    let out = Command::new("python3")
        .arg(root().join("scripts/fidelity/run.py"))
        .env("KUBECONFIG", testbed.kubeconfig())
        .env("SPARKPLANE_BIN", &bin)
        .env("SPARKPLANE_PYSPARK_DIR", &pyspark)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    anyhow::ensure!(out.status.success(), "fidelity differences:\n{stdout}");
    // Every case ran and passed: "0 passed, 0 failed" (no case found) is no result.
    let want = format!("fidelity: {cases} passed, 0 failed");
    anyhow::ensure!(
        stdout.lines().any(|l| l.trim() == want),
        "no line {want:?} in:\n{stdout}"
    );
    Ok(())
}

/// The cases run.py runs: every `*.yaml` under scripts/fidelity/cases.
fn case_count() -> anyhow::Result<usize> {
    let mut count = 0;
    for entry in std::fs::read_dir(root().join("scripts/fidelity/cases"))? {
        if entry?.path().extension().is_some_and(|e| e == "yaml") {
            count += 1;
        }
    }
    Ok(count)
}
