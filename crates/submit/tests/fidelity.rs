//! Runs scripts/fidelity/run.py: real spark-submit (PyPI pyspark, JDK 17) against the testbed,
//! compared field by field with our plans. In CI (`CI=true`) a missing pyspark fails; locally it skips
//! with a loud message.

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
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if !pyspark.join("v4.0/bin/spark-submit").exists()
        || !pyspark.join("v3.5/bin/spark-submit").exists()
    {
        let msg = format!(
            "FIDELITY NOT RUN: pyspark is not installed under {}; run scripts/fidelity/setup",
            pyspark.display()
        );
        if ci {
            anyhow::bail!(msg);
        }
        eprintln!("\n*** {msg} ***\n");
        return Ok(());
    }
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
    anyhow::ensure!(
        stdout.contains(" passed, 0 failed"),
        "no fidelity result line:\n{stdout}"
    );
    Ok(())
}
