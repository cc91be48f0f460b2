//! A real Prometheus (Debian's `prometheus` package) scrapes the operator while applications run, and
//! its HTTP API answers with Kubeflow's metric names; `promtool check metrics` reads the exposition;
//! the Grafana dashboard in deploy/grafana queries only metrics the operator exposes, and its queries
//! evaluate in that Prometheus.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use sparkplane_api::v1beta2::ApplicationStateType as State;
use sparkplane_testbed::{repo_root, wait};
use support::*;

const MINUTE: Duration = Duration::from_secs(60);
/// The scrape job's name in the generated Prometheus configuration.
const JOB: &str = "sparkplane";

/// Kubeflow's metric names (spark-operator `pkg/common/metrics.go`), kept as they are by Sparkplane.
const KUBEFLOW_COUNT_GAUGES: [&str; 9] = [
    "spark_application_count",
    "spark_application_submit_count",
    "spark_application_failed_submission_count",
    "spark_application_running_count",
    "spark_application_success_count",
    "spark_application_failure_count",
    "spark_executor_running_count",
    "spark_executor_success_count",
    "spark_executor_failure_count",
];
const KUBEFLOW_HISTOGRAMS: [&str; 2] = [
    "spark_application_submit_latency_seconds_histogram",
    "spark_application_start_latency_seconds_histogram",
];

const INSTALL_HINT: &str = "install Debian's prometheus package (`apt-get install prometheus`, \
     which ships /usr/bin/prometheus and /usr/bin/promtool); scripts/test does it through \
     scripts/prometheus/setup";

/// Finds `name` on PATH, or says how to install it: this test never skips silently.
fn tool(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .with_context(|| format!("{name} is not on PATH: {INSTALL_HINT}"))
}

/// A Prometheus server run for one test, with its own storage; killed and cleaned up when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    storage: PathBuf,
    log: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus scraping the operator's /metrics on `metrics_port` every second.
    fn start(metrics_port: u16, name: &str) -> anyhow::Result<Prometheus> {
        let binary = tool("prometheus")?;
        let storage = log_dir().join(format!("{name}-prometheus-data"));
        let _ = std::fs::remove_dir_all(&storage);
        std::fs::create_dir_all(&storage)?;
        let config = storage.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: {JOB}\n    metrics_path: /metrics\n    \
                 static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n"
            ),
        )?;
        let port = free_port()?;
        let log = log_dir().join(format!("{name}-prometheus.log"));
        let out = std::fs::File::create(&log)?;
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                storage.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?;
        Ok(Prometheus {
            child,
            port,
            storage,
            log,
        })
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let port = self.port;
        let result = wait::until(Duration::from_secs(30), || async move {
            Ok(http_get(port, "/-/ready").await.is_ok())
        })
        .await;
        if let Some(status) = self.child.try_wait()? {
            bail!("prometheus exited ({status}); log {}", self.log.display());
        }
        result.with_context(|| format!("prometheus not ready; log {}", self.log.display()))
    }

    /// GETs an API path and returns its `data`, failing on anything but `"status": "success"`.
    async fn api(&self, path: &str) -> anyhow::Result<Value> {
        let body = http_get(self.port, path).await?;
        let reply: Value =
            serde_json::from_str(&body).with_context(|| format!("GET {path}: {body}"))?;
        if reply["status"] != "success" {
            bail!("GET {path}: {reply}");
        }
        Ok(reply["data"].clone())
    }

    /// An instant query: each resulting series' labels and value.
    async fn query(&self, promql: &str) -> anyhow::Result<Vec<(Value, f64)>> {
        let data = self
            .api(&format!("/api/v1/query?query={}", url_encode(promql)))
            .await
            .with_context(|| format!("query {promql}"))?;
        let series = data["result"].as_array().cloned().unwrap_or_default();
        series
            .into_iter()
            .map(|s| {
                let value = s["value"][1]
                    .as_str()
                    .with_context(|| format!("{promql}: no value in {s}"))?
                    .parse::<f64>()?;
                Ok((s["metric"].clone(), value))
            })
            .collect()
    }

    /// Waits until `promql` gives exactly one series for which `accept` holds; returns its value.
    async fn wait_single(&self, promql: &str, accept: impl Fn(f64) -> bool) -> anyhow::Result<f64> {
        let last = Arc::new(Mutex::new(None));
        let accept = &accept;
        let result = wait::until(Duration::from_secs(30), || {
            let last = last.clone();
            async move {
                let series = self.query(promql).await?;
                let value = match series.as_slice() {
                    [(_, value)] => Some(*value),
                    _ => None,
                };
                *last.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = Some(series);
                Ok(value.is_some_and(accept))
            }
        })
        .await;
        let last = last.lock().map(|l| l.clone()).unwrap_or_default();
        result.with_context(|| format!("{promql}: last answer {last:?}"))?;
        match last.as_deref() {
            Some([(_, value)]) => Ok(*value),
            other => bail!("{promql}: {other:?}"),
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.storage);
    }
}

fn unix_now() -> anyhow::Result<f64> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs_f64())
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `promtool check metrics` on an exposition: its exit code and the problems it printed.
fn promtool_check_metrics(exposition: &str) -> anyhow::Result<(i32, Vec<String>)> {
    let output = run_with_input(
        Command::new(tool("promtool")?).args(["check", "metrics"]),
        exposition,
    )?;
    let code = output
        .status
        .code()
        .context("promtool killed by a signal")?;
    let problems = [output.stdout, output.stderr]
        .iter()
        .flat_map(|text| {
            String::from_utf8_lossy(text)
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|line| !line.trim().is_empty())
        .collect();
    Ok((code, problems))
}

/// Why a problem promtool's linter reports is accepted, or None when nothing explains it.
///
/// promtool's linter reads the classic text format (0.0.4). Kubeflow's names break two of its
/// naming rules, and keeping them is the point. And it reads an OpenMetrics counter's
/// `<name>_total` sample apart from the `# TYPE <name> counter` and `# HELP <name>` lines that
/// describe it (OpenMetrics names the family without `_total`), so it finds no help for it.
fn accepted_lint(problem: &str, exposition: &str) -> Option<&'static str> {
    let (metric, text) = problem.split_once(' ')?;
    if KUBEFLOW_COUNT_GAUGES.contains(&metric)
        && text == "non-histogram and non-summary metrics should not have \"_count\" suffix"
    {
        return Some("Kubeflow's name");
    }
    if KUBEFLOW_HISTOGRAMS.contains(&metric)
        && text == "metric name should not include type 'histogram'"
    {
        return Some("Kubeflow's name");
    }
    let family = metric.strip_suffix("_total")?;
    let described = exposition
        .lines()
        .any(|l| l == format!("# TYPE {family} counter"))
        && exposition
            .lines()
            .any(|l| l.starts_with(&format!("# HELP {family} ")));
    (text == "no help text" && described).then_some("OpenMetrics counter read as classic text")
}

/// Checks the exposition with promtool: it must parse (exit 1 is a parse error), and every lint
/// problem must be one `accepted_lint` explains. Returns the accepted problems.
fn check_with_promtool(exposition: &str) -> anyhow::Result<Vec<String>> {
    let (code, problems) = promtool_check_metrics(exposition)?;
    let unexplained: Vec<&String> = problems
        .iter()
        .filter(|p| accepted_lint(p, exposition).is_none())
        .collect();
    if !(code == 0 || code == 3) || !unexplained.is_empty() {
        bail!(
            "promtool check metrics exited {code}; unexplained: {unexplained:#?}\nall: {problems:#?}\n{exposition}"
        );
    }
    Ok(problems)
}

/// Names a query may use for each metric family announced by a `# TYPE` line, and every sample's name.
fn queryable_names(exposition: &str) -> BTreeSet<String> {
    let mut names = sampled_names(exposition);
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let Some((family, kind)) = rest.split_once(' ') else {
            continue;
        };
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            "summary" => &["", "_sum", "_count"],
            _ => &[""],
        };
        names.extend(suffixes.iter().map(|s| format!("{family}{s}")));
    }
    names
}

/// The largest finite `le` bound of a histogram in an exposition.
fn largest_finite_bucket(exposition: &str, histogram: &str) -> Option<f64> {
    let prefix = format!("{histogram}_bucket{{le=\"");
    exposition
        .lines()
        .filter_map(|l| {
            l.strip_prefix(&prefix)?
                .split('"')
                .next()?
                .parse::<f64>()
                .ok()
        })
        .filter(|bound| bound.is_finite())
        .reduce(f64::max)
}

/// The names of the metric families crates/operator/src registers (metrics.rs, its process
/// collector metrics/process.rs, and scheduled/metrics.rs): rustfmt puts each name handed to the
/// registry or an encoder on a line of its own, `"name",`, followed by its help.
fn registered_families() -> anyhow::Result<BTreeSet<String>> {
    let mut families = BTreeSet::new();
    for file in [
        "src/metrics.rs",
        "src/metrics/process.rs",
        "src/scheduled/metrics.rs",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
        let names = text.lines().filter_map(|line| {
            let name = line.trim().strip_prefix('"')?.strip_suffix("\",")?;
            let is_name = name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            (is_name && name.contains('_')).then(|| name.to_owned())
        });
        families.extend(names);
    }
    Ok(families)
}

/// The names of the samples an exposition holds now.
fn sampled_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Words in PromQL that are neither metrics nor functions; the ones marked `true` take a label list.
const PROMQL_KEYWORDS: [(&str, bool); 11] = [
    ("by", true),
    ("without", true),
    ("on", true),
    ("ignoring", true),
    ("group_left", true),
    ("group_right", true),
    ("and", false),
    ("or", false),
    ("unless", false),
    ("bool", false),
    ("offset", false),
];

/// The index just past the bracket that closes the one at `open`, skipping quoted strings.
fn skip_group(chars: &[char], open: usize) -> usize {
    let (start, end) = (chars[open], closing(chars[open]));
    let mut depth = 0;
    let mut i = open;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => i = skip_string(chars, i) - 1,
            c if c == start => depth += 1,
            c if c == end => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    chars.len()
}

fn closing(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    }
}

/// The index just past the string literal that starts at `open`.
fn skip_string(chars: &[char], open: usize) -> usize {
    let quote = chars[open];
    let mut i = open + 1;
    while i < chars.len() && chars[i] != quote {
        i += if chars[i] == '\\' { 2 } else { 1 };
    }
    i + 1
}

/// The metric names a PromQL expression selects (not functions, labels, keywords or Grafana variables).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(&chars, i);
        } else if c == '{' || c == '[' {
            i = skip_group(&chars, i);
        } else if c == '$' || c.is_ascii_digit() || c == '.' {
            // A Grafana variable, a number or a duration.
            i += 1;
            while i < chars.len() && (is_word(chars[i]) || chars[i] == '.') {
                i += 1;
            }
        } else if is_word(c) {
            let start = i;
            while i < chars.len() && is_word(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let opens = chars.get(next) == Some(&'(');
            // An aggregation may put its grouping first: `sum by (le) (...)`.
            let rest: String = chars[next..].iter().collect();
            let groups = ["by", "without"].iter().any(|k| {
                rest.strip_prefix(k)
                    .is_some_and(|after| !after.starts_with(is_word))
            });
            match PROMQL_KEYWORDS.iter().find(|(k, _)| *k == word) {
                Some((_, true)) if opens => i = skip_group(&chars, next),
                Some(_) => {}
                None if opens || groups => {}
                None => {
                    names.insert(word);
                }
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The series selector of a Grafana variable query: `label_values(<selector>, <label>)` gives
/// `<selector>`; any other query is PromQL as it is.
fn variable_query_selector(query: &str) -> &str {
    query
        .strip_prefix("label_values(")
        .and_then(|inner| inner.strip_suffix(')'))
        .map(|inner| {
            inner
                .rsplit_once(',')
                .map_or(inner, |(selector, _)| selector)
        })
        .unwrap_or(query)
}

struct Dashboard {
    json: Value,
}

/// One query of the dashboard: where it is, and its PromQL.
struct DashboardQuery {
    place: String,
    promql: String,
}

impl Dashboard {
    fn load() -> anyhow::Result<Dashboard> {
        let path = repo_root().join("deploy/grafana/sparkplane-dashboard.json");
        let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
        Ok(Dashboard {
            json: serde_json::from_str(&text).with_context(|| path.display().to_string())?,
        })
    }

    fn panels(&self) -> Vec<&Value> {
        let top = self.json["panels"].as_array().map(Vec::as_slice);
        let mut panels = Vec::new();
        for panel in top.unwrap_or_default() {
            panels.push(panel);
            // A collapsed row holds its panels.
            panels.extend(panel["panels"].as_array().into_iter().flatten());
        }
        panels
    }

    fn variables(&self) -> Vec<&Value> {
        self.json["templating"]["list"]
            .as_array()
            .map(|v| v.iter().collect())
            .unwrap_or_default()
    }

    /// Every panel target's expression and every query variable's selector.
    fn queries(&self) -> Vec<DashboardQuery> {
        let mut queries = Vec::new();
        for panel in self.panels() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    queries.push(DashboardQuery {
                        place: format!(
                            "panel {:?} {}",
                            panel["title"].as_str().unwrap_or_default(),
                            target["refId"].as_str().unwrap_or_default()
                        ),
                        promql: expr.to_owned(),
                    });
                }
            }
        }
        for variable in self.variables() {
            if variable["type"] == "query" {
                let query = variable["query"]["query"]
                    .as_str()
                    .or(variable["query"].as_str())
                    .unwrap_or_default();
                queries.push(DashboardQuery {
                    place: format!("variable {}", variable["name"].as_str().unwrap_or_default()),
                    promql: variable_query_selector(query).to_owned(),
                });
            }
        }
        queries
    }

    /// The PromQL a panel sends once Grafana has put in its variables: the test's scrape job for
    /// `$job`, a minute for `$__rate_interval`, the default of interval variables.
    fn resolved(&self, promql: &str) -> String {
        let mut text = promql
            .replace("$__rate_interval", "1m")
            .replace("$job", JOB);
        for variable in self.variables() {
            if variable["type"] == "interval"
                && let (Some(name), Some(value)) = (
                    variable["name"].as_str(),
                    variable["current"]["value"].as_str(),
                )
            {
                text = text.replace(&format!("${name}"), value);
            }
        }
        text
    }
}

#[tokio::test]
async fn prometheus_scrapes_kubeflow_metrics_while_applications_run() -> anyhow::Result<()> {
    tool("promtool")?;
    let env = setup("prometheus").await?;
    let before_start = unix_now()?;
    let operator = Operator::start(&env, &[])?;
    let mut prometheus = Prometheus::start(operator.metrics_port, env.name())?;
    prometheus.wait_ready().await?;
    prometheus
        .wait_single(&format!("up{{job=\"{JOB}\"}}"), |up| up == 1.0)
        .await?;

    let runs = [
        ("ok-1", 0, State::Completed),
        ("ok-2", 0, State::Completed),
        ("ok-3", 0, State::Completed),
        ("fails", 1, State::Failed),
    ];
    for (name, exit_code, _) in runs {
        create(&env, &app(name, "3s", exit_code)).await?;
    }
    // Start latency counts only the runs the operator saw RUNNING: on a loaded machine a 3 s
    // driver may have ended before the operator first looked, which Kubeflow skips too.
    let mut seen_running = 0.0;
    for (name, _, end) in runs {
        wait_state(&env, name, end, 2 * MINUTE).await?;
        let ended = if end == State::Completed {
            "SparkApplicationCompleted"
        } else {
            "SparkApplicationFailed"
        };
        let reasons = wait_events(&env, name, &[ended], MINUTE).await?;
        if reasons.iter().any(|r| r == "SparkDriverRunning") {
            seen_running += 1.0;
        }
    }
    assert!(seen_running > 0.0, "no application was seen RUNNING");

    for (metric, want) in [
        ("spark_application_count", 4.0),
        ("spark_application_submit_count", 4.0),
        ("spark_application_success_count", 3.0),
        ("spark_application_failure_count", 1.0),
        ("spark_application_running_count", 0.0),
        (
            "spark_application_submit_latency_seconds_histogram_count",
            4.0,
        ),
        (
            "spark_application_start_latency_seconds_histogram_count",
            seen_running,
        ),
        ("sparkplane_applications{state=\"COMPLETED\"}", 3.0),
        ("sparkplane_applications{state=\"FAILED\"}", 1.0),
    ] {
        prometheus
            .wait_single(&format!("sum({metric})"), |v| v == want)
            .await?;
    }
    // The process metrics, read from /proc at each scrape.
    let resident = prometheus
        .wait_single("process_resident_memory_bytes", |bytes| bytes > 0.0)
        .await?;
    let started = prometheus
        .wait_single("process_start_time_seconds", |t| t > 0.0)
        .await?;
    let now = unix_now()?;
    // Whole clock ticks, and a boot time the kernel keeps in whole seconds: a second either way.
    assert!(
        before_start - 1.0 <= started && started <= now + 1.0,
        "process_start_time_seconds {started}: not between {before_start} and {now}"
    );
    eprintln!(
        "operator: {:.1} MiB resident, started {:.0} s ago",
        resident / 1048576.0,
        now - started
    );
    let exposition = operator.metrics().await?;
    for histogram in [
        "spark_application_submit_latency_seconds",
        "spark_application_start_latency_seconds",
    ]
    .into_iter()
    .chain(KUBEFLOW_HISTOGRAMS)
    {
        let p90 = prometheus
            .wait_single(
                &format!("histogram_quantile(0.9, sum by (le) ({histogram}_bucket))"),
                f64::is_finite,
            )
            .await?;
        let largest_bound = largest_finite_bucket(&exposition, histogram)
            .with_context(|| format!("no buckets of {histogram}"))?;
        assert!(
            p90 > 0.0 && p90 <= largest_bound,
            "{histogram}: p90 {p90} out of (0, {largest_bound}]"
        );
        eprintln!("{histogram}: p90 {p90:.3} s through Prometheus");
    }

    let targets = prometheus.api("/api/v1/targets?state=active").await?;
    let active = targets["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        active.len() == 1
            && active[0]["health"] == "up"
            && active[0]["lastError"] == ""
            && active[0]["labels"]["job"] == JOB,
        "targets: {targets}"
    );
    // Prometheus reads the OpenMetrics exposition as the operator means it: counters as counters
    // (with their help), Kubeflow's counts as gauges.
    let metadata = prometheus.api("/api/v1/metadata").await?;
    for (family, kind) in [
        ("sparkplane_reconciles", "counter"),
        ("process_cpu_seconds", "counter"),
        ("spark_application_count", "gauge"),
        (
            "spark_application_start_latency_seconds_histogram",
            "histogram",
        ),
    ] {
        let entry = &metadata[family][0];
        assert!(
            entry["type"] == kind && entry["help"].as_str().is_some_and(|h| !h.is_empty()),
            "metadata of {family}: {entry}; all: {metadata}"
        );
    }

    let accepted = check_with_promtool(&exposition)?;
    eprintln!(
        "promtool check metrics: {} accepted lint problems:",
        accepted.len()
    );
    for problem in &accepted {
        eprintln!("  {problem}");
    }

    // The dashboard's queries evaluate here; those over metrics with samples return data.
    let dashboard = Dashboard::load()?;
    let sampled = sampled_names(&exposition);
    let mut empty = Vec::new();
    for query in dashboard.queries() {
        let promql = dashboard.resolved(&query.promql);
        let series = prometheus
            .query(&promql)
            .await
            .with_context(|| query.place.clone())?;
        let expects_data = metric_names(&promql).is_subset(&sampled);
        assert!(
            !expects_data || !series.is_empty(),
            "{}: {promql} returned nothing",
            query.place
        );
        if series.is_empty() {
            empty.push(query.place);
        }
    }
    eprintln!(
        "dashboard: {} queries evaluated; without data (no samples yet): {empty:?}",
        dashboard.queries().len()
    );
    Ok(())
}

#[tokio::test]
async fn dashboard_queries_only_metrics_the_operator_exposes() -> anyhow::Result<()> {
    let dashboard = Dashboard::load()?;
    let json = &dashboard.json;
    assert!(
        json["schemaVersion"].as_i64().is_some_and(|v| v >= 39),
        "schemaVersion {}",
        json["schemaVersion"]
    );
    let inputs = json["__inputs"].as_array().cloned().unwrap_or_default();
    assert!(
        inputs
            .iter()
            .any(|i| i["name"] == "DS_PROMETHEUS" && i["pluginId"] == "prometheus"),
        "no DS_PROMETHEUS datasource input: {inputs:?}"
    );
    let mut ids = BTreeSet::new();
    for panel in dashboard.panels() {
        assert!(ids.insert(panel["id"].to_string()), "duplicate id: {panel}");
        if panel["type"] == "row" {
            continue;
        }
        let targets = panel["targets"].as_array().cloned().unwrap_or_default();
        assert!(!targets.is_empty(), "panel without a query: {panel}");
        for datasource in
            std::iter::once(&panel["datasource"]).chain(targets.iter().map(|t| &t["datasource"]))
        {
            assert!(
                datasource["uid"] == "${DS_PROMETHEUS}",
                "panel {} does not use the DS_PROMETHEUS input",
                panel["title"]
            );
        }
    }

    // Every variable a query uses is the dashboard's or Grafana's.
    let declared: BTreeSet<String> = dashboard
        .variables()
        .iter()
        .filter_map(|v| v["name"].as_str().map(|n| format!("${n}")))
        .chain(["$__rate_interval".to_owned()])
        .collect();
    let queries = dashboard.queries();
    for query in &queries {
        for (at, _) in query.promql.match_indices('$') {
            let variable: String = query.promql[at + 1..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                declared.contains(&format!("${variable}")),
                "{}: unknown variable ${variable}",
                query.place
            );
        }
    }

    // One application run to its end gives the labelled families (reconciles by result,
    // applications by state) their first samples: prometheus-client leaves a family without
    // samples out of the exposition altogether.
    let env = setup("dashboard").await?;
    let operator = Operator::start(&env, &[])?;
    create(&env, &app("pi", "1s", 0)).await?;
    wait_state(&env, "pi", State::Completed, MINUTE).await?;
    operator
        .wait_metrics(&["sparkplane_applications{state=\"COMPLETED\"} 1"])
        .await?;
    let exposition = operator.metrics().await?;
    let registered = registered_families()?;
    let scraped_families: BTreeSet<String> = exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
        .map(str::to_owned)
        .collect();
    let unregistered: Vec<&String> = scraped_families.difference(&registered).collect();
    assert!(
        unregistered.is_empty(),
        "exposed but not found registered in src: {unregistered:?}; registered: {registered:?}"
    );
    let exposed = queryable_names(&exposition);
    // A family still without samples (the ScheduledSparkApplication counters here) is checked
    // against the names registered in the source instead: its stem, with any sample suffix.
    let registered_only = |name: &String| {
        ["_total", "_bucket", "_sum", "_count", ""]
            .iter()
            .any(|suffix| {
                name.strip_suffix(suffix)
                    .is_some_and(|family| registered.contains(family))
            })
    };

    let mut queried = BTreeSet::new();
    for query in &queries {
        let names = metric_names(&query.promql);
        assert!(
            !names.is_empty(),
            "{}: no metric in {}",
            query.place,
            query.promql
        );
        let unknown: Vec<&String> = names
            .difference(&exposed)
            .filter(|name| !registered_only(name))
            .collect();
        assert!(
            unknown.is_empty(),
            "{}: {unknown:?} not exposed by the operator; exposed: {exposed:?}; registered: {registered:?}",
            query.place
        );
        queried.extend(names);
    }
    let unscraped: Vec<&String> = queried.difference(&exposed).collect();
    // The panels the dashboard is for.
    for wanted in [
        "sparkplane_applications",
        "spark_application_count",
        "spark_application_submit_count",
        "spark_application_success_count",
        "spark_application_failure_count",
        "spark_application_submit_latency_seconds_bucket",
        "spark_application_start_latency_seconds_bucket",
        "spark_executor_running_count",
        "sparkplane_reconciles_total",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
    ] {
        assert!(queried.contains(wanted), "no panel queries {wanted}");
    }
    eprintln!(
        "dashboard: {} queries over {} metric names; not in this scrape, found registered in src: {unscraped:?}",
        queries.len(),
        queried.len()
    );
    Ok(())
}

#[test]
fn metric_names_skip_functions_labels_keywords_and_variables() {
    let expr = r#"histogram_quantile(0.9, sum by (le) (rate(a_bucket{job=~"$job", x="y{z}"}[$__rate_interval]))) / on (instance) group_left b_total offset 5m + 1e3 * c"#;
    let names: Vec<String> = metric_names(expr).into_iter().collect();
    assert_eq!(names, ["a_bucket", "b_total", "c"]);
    assert_eq!(
        variable_query_selector("label_values(up{job=\"a,b\"}, job)"),
        "up{job=\"a,b\"}"
    );
}

#[test]
fn promtool_lint_is_accepted_only_for_kubeflow_names_and_openmetrics_counters() {
    let exposition = "# HELP ours_total_less Help.\n# TYPE ours_total_less counter\n";
    assert!(
        accepted_lint(
            "spark_application_count non-histogram and non-summary metrics should not have \"_count\" suffix",
            exposition
        )
        .is_some()
    );
    assert!(accepted_lint("ours_total_less_total no help text", exposition).is_some());
    assert!(accepted_lint("undescribed_total no help text", exposition).is_none());
    assert!(
        accepted_lint(
            "sparkplane_things_count non-histogram and non-summary metrics should not have \"_count\" suffix",
            exposition
        )
        .is_none()
    );
}

#[test]
fn promtool_gate_rejects_what_no_reason_explains() -> anyhow::Result<()> {
    let kubeflow = "# HELP spark_application_count Seen.\n# TYPE spark_application_count gauge\n\
                    spark_application_count 1\n";
    assert_eq!(check_with_promtool(kubeflow)?.len(), 1);
    // A counter without `_total` in the classic format: a lint problem nothing here excuses.
    let unexplained = format!("{kubeflow}# HELP jobs Jobs.\n# TYPE jobs counter\njobs 1\n");
    assert!(check_with_promtool(&unexplained).is_err());
    // Not an exposition at all: promtool's parse error (exit 1).
    assert!(check_with_promtool("spark_application_count one\n").is_err());
    Ok(())
}

#[test]
fn url_encoding_keeps_only_unreserved_characters() {
    assert_eq!(url_encode("up{job=\"a b\"}"), "up%7Bjob%3D%22a%20b%22%7D");
}
