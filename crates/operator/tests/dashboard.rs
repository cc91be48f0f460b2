//! `sparkplane dashboard` in a real browser: Debian's Chromium, headless, driven by playwright-core
//! (`crates/operator/tests/browser/dashboard.mjs`, set up by `scripts/browser/setup`) against the
//! testbed. Applications played by kwok change state under the open list, filters and sorting are
//! used, an event and a driver log line carrying markup are shown as text, and a real PySpark
//! driver on the real node is followed through its log and its Spark UI, reached through the
//! dashboard's own port-forward. The screenshots land in the target directory; docs/dashboard.md
//! shows copies of them.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::json;
use sparkplane_api::v1beta2::ApplicationStateType as State;
use sparkplane_testbed::Testbed;
use support::*;

/// The markup every hostile string of the browser script carries (it must match its HOSTILE).
const HOSTILE: &str =
    r#"<script>window.__pwned = "script"</script><img src=x onerror="window.__pwned = 'img'">"#;

/// A PySpark driver that prints the hostile line, then keeps its executor busy for about 40 s so
/// that the browser can look at its UI.
const SCRIPT: &str = r#"import time
from pyspark.sql import SparkSession
print(MARKUP, flush=True)
spark = SparkSession.builder.appName("hostile-log").getOrCreate()
counted = spark.sparkContext.parallelize(range(4), 4).map(lambda x: (time.sleep(10), x)[1]).count()
print("counted", counted, flush=True)
spark.stop()
"#;

fn write_json(dir: &std::path::Path, file: &str, value: &serde_json::Value) -> anyhow::Result<()> {
    std::fs::write(dir.join(file), serde_json::to_vec_pretty(value)?)?;
    Ok(())
}

#[tokio::test]
async fn the_dashboard_in_a_browser_follows_filters_and_shows_logs_events_and_the_spark_ui()
-> anyhow::Result<()> {
    let (Ok(chromium), Ok(playwright)) = (
        std::env::var("SPARKPLANE_CHROMIUM"),
        std::env::var("SPARKPLANE_PLAYWRIGHT"),
    ) else {
        bail!(
            "SPARKPLANE_CHROMIUM and SPARKPLANE_PLAYWRIGHT are not set: run `eval \"$(scripts/browser/setup)\"` first (scripts/test does)"
        );
    };
    let _node = hold_real_node().await?;
    let kwok = setup("dash").await?;
    let real = setup_on_real_node("dash-real").await?;
    let _kwok_operator = Operator::start(&kwok, &[])?;
    let _real_operator = Operator::start(&real, &[])?;

    // Before the page opens: one that completes, one that fails (both runs) with a label.
    create(&kwok, &app("alpha", "2s", 0)).await?;
    let mut beta = app("beta", "2s", 1);
    beta["metadata"]["labels"] = json!({"team": "blue"});
    create(&kwok, &beta).await?;
    wait_state(&kwok, "alpha", State::Completed, Duration::from_secs(60)).await?;
    wait_state(&kwok, "beta", State::Failed, Duration::from_secs(90)).await?;

    // What the browser script applies when it is ready for it.
    let manifests = log_dir().join(format!("{}-manifests", kwok.name()));
    std::fs::create_dir_all(&manifests)?;
    let mut gamma = app("gamma", "4s", 0);
    gamma["metadata"]["namespace"] = json!(kwok.name());
    gamma["metadata"]["labels"] = json!({"team": "blue"});
    write_json(&manifests, "gamma.json", &gamma)?;
    write_json(
        &manifests,
        "hostile-event.json",
        &json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "gamma.hostile", "namespace": kwok.name()},
            "involvedObject": {"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
                               "name": "gamma", "namespace": kwok.name()},
            "reason": "Hostile", "type": "Warning", "message": HOSTILE,
            "source": {"component": "dashboard-test"},
            "firstTimestamp": jiff::Timestamp::now().to_string(),
            "lastTimestamp": jiff::Timestamp::now().to_string(), "count": 1
        }),
    )?;
    let script = format!("MARKUP = {}\n{SCRIPT}", serde_json::to_string(HOSTILE)?);
    let mut real_app = json!({
        "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
        "metadata": {"name": "hostile-log", "namespace": real.name()},
        "spec": {
            "type": "Python", "mode": "cluster",
            "image": "docker.io/apache/spark:4.0.4", "imagePullPolicy": "IfNotPresent",
            "mainApplicationFile": "local:///opt/app/main.py", "sparkVersion": "4.0.4",
            "volumes": [{"name": "app", "configMap": {"name": "hostile-log-script"}}],
            "driver": {"cores": 1, "memory": "512m", "serviceAccount": "spark-operator-spark",
                       "volumeMounts": [{"name": "app", "mountPath": "/opt/app"}]},
            "executor": {"instances": 1, "cores": 1, "memory": "512m"}
        }
    });
    write_json(&manifests, "real.json", &real_app)?;
    real_app = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "hostile-log-script", "namespace": real.name()},
        "data": {"main.py": script}
    });
    let config_map: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(real_app)?;
    kube::Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(real.admin.clone(), real.name())
        .create(&Default::default(), &config_map)
        .await?;

    let dashboard = Dashboard::start(
        &["-A"],
        Testbed::get()?.kubeconfig(),
        log_dir().join(format!("{}-dashboard.log", kwok.name())),
    )?;
    let shots = screenshots_dir();
    std::fs::create_dir_all(&shots)?;
    let script =
        sparkplane_testbed::repo_root().join("crates/operator/tests/browser/dashboard.mjs");
    let output = tokio::time::timeout(
        Duration::from_secs(600),
        tokio::process::Command::new("node")
            .arg(&script)
            .env("DASHBOARD_URL", &dashboard.url)
            .env("NS_KWOK", kwok.name())
            .env("NS_REAL", real.name())
            .env("MANIFESTS", &manifests)
            .env("SCREENSHOTS", &shots)
            .env("KUBECTL", sparkplane_testbed::bin_dir()?.join("kubectl"))
            .env("KUBECONFIG", Testbed::get()?.kubeconfig())
            .env("SPARKPLANE_CHROMIUM", chromium)
            .env("SPARKPLANE_PLAYWRIGHT", playwright)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .context("the browser script ran for 10 minutes")??;
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stderr}");
    if !output.status.success() {
        bail!(
            "the browser script failed ({}); screenshots in {}:\n{stderr}",
            output.status,
            shots.display()
        );
    }
    // The real application completed, as the page said.
    wait_state(
        &real,
        "hostile-log",
        State::Completed,
        Duration::from_secs(60),
    )
    .await?;
    Ok(())
}

/// Where the screenshots go: the target directory (docs/ keeps copies).
fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| sparkplane_testbed::repo_root().join("target"));
    target.join("dashboard-screenshots")
}
