//! Runs scripts/fidelity/run.py: real spark-submit (PyPI pyspark, JDK 17) of every release in
//! scripts/fidelity/spark-versions against the testbed, compared field by field with our plans. Without pyspark the test fails, in CI and anywhere else:
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
    let versions = spark_versions()?;
    anyhow::ensure!(
        versions.len() >= 5,
        "scripts/fidelity/spark-versions lists {versions:?}: every line from 3.5 on"
    );
    for version in &versions {
        let line = version
            .rsplit_once('.')
            .map_or(version.as_str(), |(line, _)| line);
        let submit = pyspark.join(format!("v{line}")).join("bin/spark-submit");
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
        // Every release of spark-versions, whatever the caller's shell says.
        .env_remove("FIDELITY_SPARK_VERSION")
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    anyhow::ensure!(out.status.success(), "fidelity differences:\n{stdout}");
    // Every case ran with every release and passed: "0 passed, 0 failed" (no case found) is no result.
    let want = format!("fidelity: {} passed, 0 failed", cases * versions.len());
    anyhow::ensure!(
        stdout.lines().any(|l| l.trim() == want),
        "no line {want:?} in:\n{stdout}"
    );
    Ok(())
}

/// The Spark releases run.py runs each case with.
fn spark_versions() -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(root().join("scripts/fidelity/spark-versions"))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect())
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
