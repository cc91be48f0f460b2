//! The kubectl-style commands of `sparkplane` run as a user would: the built binary, a kubeconfig,
//! the testbed's API server. Applications get their status patched in where no operator is needed;
//! `describe`, `events`, `logs` and `ui` look at a real run of the operator.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kube::config::Kubeconfig;
use serde_json::{Value, json};
use sparkplane_api::ScheduledSparkApplication;
use sparkplane_api::v1beta2::ApplicationStateType as State;
use sparkplane_testbed::kubelet::{self, DRIVER_LOG, EXECUTOR_LOG};
use sparkplane_testbed::{Testbed, repo_root, wait};
use support::*;

const MINUTE: Duration = Duration::from_secs(60);

/// What a finished `sparkplane` run printed.
#[derive(Debug)]
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `sparkplane args...` with `kubeconfig` as KUBECONFIG (and no ~/.kube/config to fall back on).
fn sparkplane(kubeconfig: Option<&Path>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sparkplane"));
    command
        .args(args)
        .env_remove("KUBECONFIG")
        .env("HOME", "/nonexistent");
    if let Some(path) = kubeconfig {
        command.env("KUBECONFIG", path);
    }
    let output = command.output().expect("run sparkplane");
    Output {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Where these tests write kubeconfigs and the output of long-running commands.
fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("sparkplane-cli-tests");
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn admin_kubeconfig() -> PathBuf {
    Testbed::get().expect("testbed").kubeconfig().to_path_buf()
}

/// The admin kubeconfig with `namespace` as its context's namespace.
fn kubeconfig_in(namespace: &str) -> anyhow::Result<PathBuf> {
    let mut config = Kubeconfig::read_from(admin_kubeconfig())?;
    for context in &mut config.contexts {
        if let Some(c) = context.context.as_mut() {
            c.namespace = Some(namespace.to_owned());
        }
    }
    let path = scratch_dir().join(format!("{namespace}-cli.kubeconfig"));
    std::fs::write(&path, serde_yaml::to_string(&config)?)?;
    Ok(path)
}

/// A kubeconfig whose only cluster is `server`, with no credentials.
fn kubeconfig_for(server: &str, file: &str) -> anyhow::Result<PathBuf> {
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "elsewhere", "cluster": {"server": server}}],
        "users": [{"name": "nobody", "user": {}}],
        "contexts": [{"name": "elsewhere", "context": {"cluster": "elsewhere", "user": "nobody"}}],
        "current-context": "elsewhere"
    });
    let path = scratch_dir().join(file);
    std::fs::write(&path, serde_yaml::to_string(&config)?)?;
    Ok(path)
}

/// The rows of a table as columns split on runs of three or more spaces (cells hold at most two).
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|line| {
            line.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

/// Patches a status in, as the operator would have written it.
async fn patch_status(env: &Env, name: &str, status: Value) -> anyhow::Result<()> {
    env.apps()
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await?;
    Ok(())
}

fn recent(seconds_ago: i64) -> String {
    let t = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(seconds_ago);
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[test]
fn help_lists_every_command_and_the_docs_describe_each_flag() {
    let help = sparkplane(None, &["--help"]);
    assert_eq!(help.code, Some(0), "{help:?}");
    let commands: Vec<String> = help
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect();
    for wanted in ["version", "crds", "render", "operator"]
        .into_iter()
        .chain(CLUSTER_COMMANDS)
    {
        assert!(
            commands.iter().any(|c| c == wanted),
            "{wanted} missing from --help:\n{}",
            help.stdout
        );
    }

    let docs = std::fs::read_to_string(repo_root().join("docs/cli.md")).expect("docs/cli.md");
    let section = |command: &str| -> Option<String> {
        let heading = format!("## `sparkplane {command}`\n");
        let start = docs.find(&heading)? + heading.len();
        let rest = &docs[start..];
        Some(rest[..rest.find("\n## ").unwrap_or(rest.len())].to_owned())
    };
    let documented: Vec<&str> = docs
        .lines()
        .filter_map(|l| l.strip_prefix("## `sparkplane "))
        .filter_map(|l| l.strip_suffix('`'))
        .collect();
    assert_eq!(
        {
            let mut d = documented.clone();
            d.sort();
            d
        },
        {
            let mut c: Vec<&str> = commands.iter().map(String::as_str).collect();
            c.sort();
            c
        },
        "docs/cli.md's command sections and --help differ"
    );
    let cluster_flags = section_text(&docs, "## Cluster, context and namespace");

    for command in CLUSTER_COMMANDS {
        let help = sparkplane(None, &[command, "--help"]);
        assert_eq!(help.code, Some(0), "{help:?}");
        let text = section(command).unwrap_or_else(|| panic!("no section for {command}"));
        let flags = long_flags(&help.stdout);
        assert!(
            flags.iter().any(|f| f == "--namespace") && flags.iter().any(|f| f == "--context"),
            "{command} --help lacks the cluster flags:\n{}",
            help.stdout
        );
        for flag in flags.iter().filter(|f| *f != "--help") {
            let quoted = format!("`{flag}");
            let in_table = |text: &str| {
                text.lines().any(|l| {
                    l.starts_with("| ")
                        && (l.contains(&format!("{quoted}`")) || l.contains(&format!("{quoted} ")))
                })
            };
            assert!(
                in_table(&text),
                "no row of the flags table of docs/cli.md's `sparkplane {command}` names {flag}"
            );
            if ["--kubeconfig", "--context", "--namespace"].contains(&flag.as_str()) {
                assert!(
                    cluster_flags.contains(&quoted),
                    "{flag} not in the cluster flags table"
                );
            }
        }
    }

    // The offline commands name their flags in prose; the operator's are in docs/configuration.md
    // (tests/operator_docs.rs).
    for command in ["crds", "render", "version"] {
        let help = sparkplane(None, &[command, "--help"]);
        assert_eq!(help.code, Some(0), "{help:?}");
        let text = section(command).unwrap_or_else(|| panic!("no section for {command}"));
        for flag in long_flags(&help.stdout).iter().filter(|f| *f != "--help") {
            assert!(
                text.contains(&format!("`{flag}`")),
                "docs/cli.md's `sparkplane {command}` does not name {flag}"
            );
        }
    }
}

/// The long flags (`--name`) a `--help` text mentions.
/// The commands that take the cluster flags, each with a section and a flags table in docs/cli.md.
const CLUSTER_COMMANDS: [&str; 7] = [
    "get",
    "describe",
    "events",
    "logs",
    "delete",
    "ui",
    "dashboard",
];

fn long_flags(help: &str) -> Vec<String> {
    help.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_alphanumeric())
                .to_owned()
        })
        .collect()
}

fn section_text(docs: &str, heading: &str) -> String {
    let start = docs.find(heading).map(|i| i + heading.len()).unwrap_or(0);
    let rest = &docs[start..];
    rest[..rest.find("\n## ").unwrap_or(rest.len())].to_owned()
}

#[tokio::test]
async fn get_lists_applications_as_tables_names_json_and_yaml() -> anyhow::Result<()> {
    let env = setup("cli-get").await?;
    let ns = env.name().to_owned();
    let admin = admin_kubeconfig();
    create(&env, &app("pi", "60s", 0)).await?;
    create(&env, &app("fresh", "60s", 0)).await?;
    patch_status(
        &env,
        "pi",
        json!({
            "applicationState": {"state": "RUNNING"},
            "executionAttempts": 2, "submissionAttempts": 3,
            "lastSubmissionAttemptTime": recent(90),
            "sparkApplicationId": "spark-0123",
            "driverInfo": {"podName": "pi-driver", "webUIAddress": "10.96.0.7:4040"}
        }),
    )
    .await?;

    let listed = sparkplane(Some(&admin), &["get", "-n", &ns]);
    assert_eq!(listed.code, Some(0), "{listed:?}");
    let table = rows(&listed.stdout);
    assert_eq!(
        table[0],
        [
            "NAME", "STATE", "ATTEMPTS", "START", "FINISH", "AGE", "DRIVER"
        ]
    );
    let pi = table.iter().find(|r| r[0] == "pi").expect("a pi row");
    assert_eq!(pi[1..3], ["RUNNING", "2"]);
    assert!(pi[3].ends_with('s') || pi[3].contains('m'), "START {pi:?}");
    assert_eq!(pi[4], "<none>");
    assert_eq!(pi[6], "pi-driver");
    let fresh = table.iter().find(|r| r[0] == "fresh").expect("a fresh row");
    assert_eq!(fresh[1..5], ["<none>", "0", "<none>", "<none>"]);
    assert_eq!(fresh[6], "<none>");

    // The context's namespace is the default.
    let in_ns = kubeconfig_in(&ns)?;
    let defaulted = sparkplane(Some(&in_ns), &["get"]);
    let first_column = |text: &str| -> Vec<String> {
        let mut names: Vec<String> = rows(text).into_iter().map(|r| r[0].clone()).collect();
        names.sort();
        names
    };
    assert_eq!(
        first_column(&defaulted.stdout),
        ["NAME", "fresh", "pi"],
        "{defaulted:?}"
    );

    let wide = sparkplane(Some(&admin), &["get", "pi", "-n", &ns, "-o", "wide"]);
    let wide = rows(&wide.stdout);
    assert_eq!(wide[0][7..], ["SUBMISSIONS", "SPARK-APP-ID", "UI"]);
    assert_eq!(wide[1][7..], ["3", "spark-0123", "10.96.0.7:4040"]);

    let all = sparkplane(Some(&admin), &["get", "-A"]);
    assert_eq!(all.code, Some(0), "{all:?}");
    let all = rows(&all.stdout);
    assert_eq!(all[0][0..2], ["NAMESPACE", "NAME"]);
    assert!(
        all.iter()
            .any(|r| r[0] == ns && r[1] == "pi" && r[2] == "RUNNING")
    );

    let json = sparkplane(Some(&admin), &["get", "-n", &ns, "-o", "json"]);
    let list: Value = serde_json::from_str(&json.stdout)?;
    assert_eq!(list["kind"], "List");
    let mut names: Vec<&str> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["fresh", "pi"]);

    let one = sparkplane(Some(&admin), &["get", "pi", "-n", &ns, "-o", "yaml"]);
    let object: Value = serde_yaml::from_str(&one.stdout)?;
    assert_eq!(object["kind"], "SparkApplication");
    assert_eq!(object["apiVersion"], "sparkoperator.k8s.io/v1beta2");
    assert_eq!(object["status"]["sparkApplicationId"], "spark-0123");

    let named = sparkplane(Some(&admin), &["get", "-n", &ns, "-o", "name"]);
    let mut lines: Vec<&str> = named.stdout.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "sparkapplication.sparkoperator.k8s.io/fresh",
            "sparkapplication.sparkoperator.k8s.io/pi"
        ]
    );

    let selected = sparkplane(
        Some(&admin),
        &["get", "-n", &ns, "-l", "nothing=here", "-o", "name"],
    );
    assert_eq!((selected.code, selected.stdout.as_str()), (Some(0), ""));

    let empty = sparkplane(Some(&admin), &["get", "-n", &format!("{ns}-none")]);
    assert_eq!(empty.code, Some(0));
    assert_eq!(
        empty.stderr.trim(),
        format!("No sparkapplications found in namespace \"{ns}-none\".")
    );

    let missing = sparkplane(Some(&admin), &["get", "nope", "-n", &ns]);
    assert_eq!(missing.code, Some(1));
    assert_eq!(
        missing.stderr.trim(),
        format!(
            "error: sparkapplication \"nope\" not found in namespace \"{ns}\"; list with: sparkplane get -n {ns}"
        )
    );
    let by_name_everywhere = sparkplane(Some(&admin), &["get", "pi", "-A"]);
    assert_eq!(by_name_everywhere.code, Some(1));

    // ScheduledSparkApplications.
    let scheduled: ScheduledSparkApplication = serde_json::from_value(json!({
        "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "ScheduledSparkApplication",
        "metadata": {"name": "nightly", "namespace": ns},
        "spec": {"schedule": "@every 10m", "template": app("x", "1s", 0)["spec"].clone()}
    }))?;
    Api::<ScheduledSparkApplication>::namespaced(env.admin.clone(), &ns)
        .create(&PostParams::default(), &scheduled)
        .await?;
    let listed = sparkplane(Some(&admin), &["get", "--kind", "scheduled", "-n", &ns]);
    let table = rows(&listed.stdout);
    assert_eq!(
        table[0],
        [
            "NAME",
            "SCHEDULE",
            "SUSPEND",
            "STATE",
            "LAST RUN",
            "NEXT RUN",
            "LAST RUN NAME",
            "AGE"
        ]
    );
    assert_eq!(table[1][0..3], ["nightly", "@every 10m", "false"]);
    Ok(())
}

/// A child process whose standard output is read line by line on a thread.
struct Streaming {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    stderr: PathBuf,
}

impl Streaming {
    fn start(kubeconfig: &Path, args: &[&str], name: &str) -> Streaming {
        let stderr = scratch_dir().join(format!("{name}.stderr"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_sparkplane"))
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("spawn sparkplane");
        let stdout = child.stdout.take().expect("stdout");
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Streaming {
            child,
            lines,
            stderr,
        }
    }

    /// The next line, or None after `timeout`.
    fn line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn get_watch_prints_a_row_for_every_change() -> anyhow::Result<()> {
    let env = setup("cli-watch").await?;
    let ns = env.name().to_owned();
    create(&env, &app("pi", "60s", 0)).await?;
    let watch = Streaming::start(&admin_kubeconfig(), &["get", "-w", "-n", &ns], &ns);
    let header = watch.line(MINUTE).expect("a header");
    assert!(header.starts_with("NAME "), "{header}");
    let first = watch.line(MINUTE).expect("the initial row");
    assert_eq!(rows(&first)[0][0..2], ["pi", "<none>"]);
    patch_status(
        &env,
        "pi",
        json!({"applicationState": {"state": "SUBMITTED"}}),
    )
    .await?;
    let changed = watch.line(MINUTE).expect("a row for the change");
    assert_eq!(rows(&changed)[0][0..2], ["pi", "SUBMITTED"]);
    // Rows keep the header's columns.
    assert_eq!(changed.find("SUBMITTED"), header.find("STATE"));
    Ok(())
}

#[tokio::test]
async fn describe_events_logs_and_ui_of_a_real_run() -> anyhow::Result<()> {
    let env = setup("cli-run").await?;
    let ns = env.name().to_owned();
    let admin = admin_kubeconfig();
    let _operator = Operator::start(&env, &[])?;
    create(&env, &app("pi", "300s", 0)).await?;
    let running = wait_state(&env, "pi", State::Running, MINUTE).await?;
    let status = running.status.clone().unwrap_or_default();
    wait_events(&env, "pi", &["SparkDriverRunning"], MINUTE).await?;

    let described = sparkplane(Some(&admin), &["describe", "pi", "-n", &ns]);
    assert_eq!(described.code, Some(0), "{described:?}");
    let text = described.stdout;
    let line = |key: &str| -> String {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{key}:")))
            .map(|l| {
                l.split_once(':')
                    .map(|(_, v)| v.trim().to_owned())
                    .unwrap_or_default()
            })
            .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
    };
    assert_eq!(line("Name"), "pi");
    assert_eq!(line("Namespace"), ns);
    assert_eq!(line("Type"), "Scala");
    assert_eq!(line("Main Class"), "org.apache.spark.examples.SparkPi");
    assert_eq!(line("Driver"), "cores 1, memory 512m");
    assert_eq!(line("Executors"), "1 x cores 1, memory 512m");
    assert_eq!(line("Restart Policy"), "Never");
    assert_eq!(line("State"), "RUNNING");
    assert_eq!(line("Execution Attempts"), "1");
    assert_eq!(
        line("Spark Application ID"),
        status.spark_application_id.clone().unwrap_or_default()
    );
    assert_eq!(
        line("Submission ID"),
        status.submission_id.clone().unwrap_or_default()
    );
    let pod = env.pods().get("pi-driver").await?;
    let pod_status = pod.status.clone().unwrap_or_default();
    assert_eq!(line("Phase"), "Running");
    assert_eq!(line("Container"), "spark-kubernetes-driver running");
    assert_eq!(
        line("Node"),
        pod.spec.and_then(|s| s.node_name).unwrap_or_default()
    );
    assert_eq!(line("IP"), pod_status.pod_ip.unwrap_or_default());
    let ui = status.driver_info.clone();
    assert_eq!(
        line("Service"),
        format!(
            "{} ({})",
            ui.web_ui_service_name.unwrap_or_default(),
            ui.web_ui_address.unwrap_or_default()
        )
    );
    assert_eq!(line("From Here"), format!("sparkplane ui pi -n {ns}"));
    for reason in [
        "SparkApplicationSubmitted",
        "SparkDriverRunning",
        "Scheduled",
    ] {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(reason)),
            "no {reason} event in:\n{text}"
        );
    }

    let events = sparkplane(Some(&admin), &["events", "pi", "-n", &ns]);
    assert_eq!(events.code, Some(0), "{events:?}");
    let table = rows(&events.stdout);
    assert_eq!(
        table[0],
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    let reasons: Vec<(&str, &str)> = table[1..]
        .iter()
        .map(|r| (r[2].as_str(), r[3].as_str()))
        .collect();
    for wanted in [
        ("SparkApplicationAdded", "sparkapplication/pi"),
        ("SparkApplicationSubmitted", "sparkapplication/pi"),
        ("SparkDriverRunning", "sparkapplication/pi"),
        ("Scheduled", "pod/pi-driver"),
    ] {
        assert!(reasons.contains(&wanted), "{wanted:?} not in {reasons:?}");
    }
    let position = |reason: &str| reasons.iter().position(|(r, _)| *r == reason);
    assert!(
        position("SparkApplicationSubmitted") < position("SparkDriverRunning"),
        "not oldest first: {reasons:?}"
    );

    // kwok plays the kubelet: it serves every driver container the testbed's driver log fixture.
    let driver_log = kubelet::log_fixture(DRIVER_LOG)?;
    let logs = sparkplane(Some(&admin), &["logs", "pi", "-n", &ns]);
    assert_eq!((logs.code, logs.stderr.as_str()), (Some(0), ""), "{logs:?}");
    assert_eq!(logs.stdout, driver_log);
    let tail = sparkplane(Some(&admin), &["logs", "pi", "-n", &ns, "--tail", "2"]);
    let last_two: Vec<&str> = driver_log
        .lines()
        .skip(driver_log.lines().count() - 2)
        .collect();
    assert_eq!(
        tail.stdout.lines().collect::<Vec<_>>(),
        last_two,
        "{tail:?}"
    );

    // -f prints the log and goes on waiting for more while the driver runs.
    let mut follow = Streaming::start(
        &admin,
        &["logs", "pi", "-n", &ns, "-f"],
        &format!("{ns}-follow"),
    );
    for expected in driver_log.lines() {
        let line = follow.line(MINUTE);
        assert_eq!(line.as_deref(), Some(expected), "{}", follow.stderr());
    }
    assert_eq!(
        follow.line(Duration::from_secs(2)),
        None,
        "nothing after the log"
    );
    assert!(
        follow.is_running(),
        "logs -f ended with the log: {}",
        follow.stderr()
    );
    drop(follow);

    // An executor: a pod labelled as Spark labels executors, with Spark's executor container.
    let executor_pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "pi-exec-1", "labels": {
            "spark-role": "executor",
            "spark-app-selector": status.spark_application_id.clone().unwrap_or_default(),
            "spark-exec-id": "1",
        }},
        "spec": {"containers": [
            {"name": "spark-kubernetes-executor", "image": "registry.invalid/never-pulled:1"}
        ]}
    }))?;
    env.pods()
        .create(&PostParams::default(), &executor_pod)
        .await?;
    wait::until(MINUTE, || async {
        let pod = env.pods().get("pi-exec-1").await?;
        Ok(pod.status.and_then(|s| s.phase).as_deref() == Some("Running"))
    })
    .await?;
    let executor = sparkplane(Some(&admin), &["logs", "pi", "-n", &ns, "--executor", "1"]);
    assert_eq!(executor.code, Some(0), "{executor:?}");
    assert_eq!(executor.stdout, kubelet::log_fixture(EXECUTOR_LOG)?);

    let missing = sparkplane(Some(&admin), &["logs", "pi", "-n", &ns, "--executor", "7"]);
    assert_eq!(missing.code, Some(1));
    assert_eq!(
        missing.stderr.trim(),
        format!(
            "error: sparkapplication \"pi\" has no executor pod with spark-exec-id=7 (executors found: 1); see: sparkplane describe pi -n {ns}"
        )
    );

    // ui: kwok forwards the driver's UI port to a server of this test, standing in for Spark's UI.
    let spark_ui = kubelet::serve_http("the Spark UI of pi")?;
    kubelet::forward_pod_port(env.admin.clone(), &ns, "pi-driver", 4040, spark_ui).await?;
    let ui = Streaming::start(
        &admin,
        &["ui", "pi", "-n", &ns, "--port", "0"],
        &format!("{ns}-ui"),
    );
    let forwarding = ui.line(MINUTE).expect("the Forwarding line");
    let address = forwarding
        .strip_prefix("Forwarding from ")
        .and_then(|rest| rest.strip_suffix(" -> 4040"))
        .unwrap_or_else(|| panic!("unexpected {forwarding:?}"))
        .to_owned();
    let url = ui.line(MINUTE).expect("the URL line");
    assert_eq!(
        url,
        format!("Spark UI of pi: http://{address}/ (Ctrl-C stops)")
    );
    let answer = kubelet::http_get(&address, MINUTE)
        .await
        .map_err(|e| anyhow::anyhow!("{e:#}: {}", ui.stderr()))?;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nthe Spark UI of pi"), "{answer}");
    // A second connection gets a stream of its own.
    let again = kubelet::http_get(&address, MINUTE).await?;
    assert!(again.ends_with("the Spark UI of pi"), "{again}");
    assert!(
        ui.stderr().contains("Handling connection for"),
        "{}",
        ui.stderr()
    );
    assert!(!ui.stderr().contains("error"), "{}", ui.stderr());
    Ok(())
}

#[tokio::test]
async fn logs_and_ui_without_a_driver_say_why() -> anyhow::Result<()> {
    let env = setup("cli-nodriver").await?;
    let ns = env.name().to_owned();
    let admin = admin_kubeconfig();
    create(&env, &app("pi", "60s", 0)).await?;
    for command in ["logs", "ui"] {
        let run = sparkplane(Some(&admin), &[command, "pi", "-n", &ns]);
        assert_eq!(run.code, Some(1), "{run:?}");
        assert_eq!(
            run.stderr.trim(),
            format!(
                "error: sparkapplication \"pi\" has no driver pod \"pi-driver\" (state <none>); the operator has not submitted it yet: check that the operator runs and watches this namespace; see: sparkplane describe pi -n {ns}"
            )
        );
    }
    // A driver that is not running has no UI.
    patch_status(
        &env,
        "pi",
        json!({"applicationState": {"state": "SUBMITTED"}, "driverInfo": {"podName": "pi-driver"}}),
    )
    .await?;
    let pending: Pod = serde_json::from_value(json!({
        "metadata": {"name": "pi-driver"},
        // No node has that label: the pod is never scheduled and stays Pending.
        "spec": {
            "nodeSelector": {"sparkplane.io/no-such-node": "true"},
            "containers": [{"name": "spark-kubernetes-driver", "image": "x"}]
        }
    }))?;
    env.pods().create(&PostParams::default(), &pending).await?;
    let ui = sparkplane(Some(&admin), &["ui", "pi", "-n", &ns]);
    assert_eq!(ui.code, Some(1), "{ui:?}");
    assert_eq!(
        ui.stderr.trim(),
        format!(
            "error: the driver pod \"pi-driver\" is Pending: its Spark UI is served only while it runs; see: sparkplane describe pi -n {ns}"
        )
    );
    let missing = sparkplane(Some(&admin), &["logs", "nope", "-n", &ns]);
    assert_eq!(missing.code, Some(1));
    assert!(missing.stderr.contains("not found in namespace"));
    Ok(())
}

#[tokio::test]
async fn delete_prints_what_kubectl_prints() -> anyhow::Result<()> {
    let env = setup("cli-delete").await?;
    let ns = env.name().to_owned();
    let admin = admin_kubeconfig();
    for name in ["a", "b", "c"] {
        create(&env, &app(name, "60s", 0)).await?;
    }
    let deleted = sparkplane(Some(&admin), &["delete", "a", "-n", &ns]);
    assert_eq!(deleted.code, Some(0), "{deleted:?}");
    assert_eq!(
        deleted.stdout,
        "sparkapplication.sparkoperator.k8s.io \"a\" deleted\n"
    );
    assert!(env.apps().get_opt("a").await?.is_none());

    let again = sparkplane(Some(&admin), &["delete", "a", "-n", &ns]);
    assert_eq!(again.code, Some(1));
    assert_eq!(
        again.stderr.trim(),
        format!(
            "error: sparkapplication \"a\" not found in namespace \"{ns}\"; list with: sparkplane get -n {ns}"
        )
    );

    // One of two missing: the other is still deleted, and the command fails.
    let mixed = sparkplane(Some(&admin), &["delete", "a", "b", "-n", &ns]);
    assert_eq!(mixed.code, Some(1));
    assert_eq!(
        mixed.stdout,
        "sparkapplication.sparkoperator.k8s.io \"b\" deleted\n"
    );

    let all = sparkplane(Some(&admin), &["delete", "--all", "-n", &ns]);
    assert_eq!(all.code, Some(0), "{all:?}");
    assert_eq!(
        all.stdout,
        "sparkapplication.sparkoperator.k8s.io \"c\" deleted\n"
    );
    assert!(env.apps().list(&Default::default()).await?.items.is_empty());

    let nothing = sparkplane(Some(&admin), &["delete", "-n", &ns]);
    assert_eq!(nothing.code, Some(2), "clap's usage error: {nothing:?}");
    Ok(())
}

#[test]
fn an_unreachable_cluster_is_named() -> anyhow::Result<()> {
    let kubeconfig = kubeconfig_for("https://127.0.0.1:1", "unreachable.kubeconfig")?;
    for args in [
        &["get"][..],
        &["describe", "pi"],
        &["events", "pi"],
        &["logs", "pi"],
        &["delete", "pi"],
        &["ui", "pi"],
    ] {
        let run = sparkplane(Some(&kubeconfig), args);
        assert_eq!(run.code, Some(1), "{args:?}: {run:?}");
        assert!(
            run.stderr.starts_with(
                "error: cannot reach the Kubernetes API server at https://127.0.0.1:1/ (context \"elsewhere\"): "
            ),
            "{args:?}: {run:?}"
        );
        assert!(
            run.stderr.trim_end().ends_with(
                "check that the cluster runs and that KUBECONFIG, --kubeconfig or --context point at it"
            ),
            "{run:?}"
        );
        assert!(!run.stderr.contains("panicked"), "{run:?}");
    }

    let no_context = sparkplane(Some(&kubeconfig), &["get", "--context", "nope"]);
    assert_eq!(no_context.code, Some(1));
    assert!(
        no_context
            .stderr
            .contains("list the contexts with `kubectl config get-contexts`"),
        "{no_context:?}"
    );
    let no_file = sparkplane(None, &["get", "--kubeconfig", "/nonexistent/config"]);
    assert_eq!(no_file.code, Some(1));
    assert!(
        no_file
            .stderr
            .starts_with("error: cannot use the kubeconfig /nonexistent/config: "),
        "{no_file:?}"
    );
    let none = sparkplane(None, &["get"]);
    assert_eq!(none.code, Some(1));
    assert!(
        none.stderr.contains("set KUBECONFIG or pass --kubeconfig"),
        "{none:?}"
    );
    Ok(())
}

/// An HTTP server that answers every request as the API server answers a path of an API group it
/// does not serve: `404` with the plain-text body `404 page not found` (what a cluster without the
/// CRDs says to every sparkoperator.k8s.io request). The testbed's CRDs are shared by every test,
/// so they cannot be removed here.
fn serve_no_crds() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let body = "404 page not found\n";
            let _ = write!(
                stream,
                "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok(format!("http://{address}"))
}

#[test]
fn a_cluster_without_the_crds_says_how_to_install_them() -> anyhow::Result<()> {
    let server = serve_no_crds()?;
    let kubeconfig = kubeconfig_for(&server, "no-crds.kubeconfig")?;
    for args in [
        &["get"][..],
        &["get", "-A"],
        &["get", "--kind", "scheduled"],
        &["get", "pi"],
        &["describe", "pi"],
        &["delete", "pi"],
    ] {
        let run = sparkplane(Some(&kubeconfig), args);
        assert_eq!(run.code, Some(1), "{args:?}: {run:?}");
        assert_eq!(
            run.stderr.trim(),
            format!(
                "error: the API server at {server}/ has no SparkApplication API (sparkoperator.k8s.io/v1beta2): the CRDs are not installed; install them with `sparkplane crds | kubectl apply -f -` or with the Helm chart (deploy/helm/sparkplane)"
            ),
            "{args:?}"
        );
    }
    Ok(())
}

/// `render --kube-scheduler-names`, as the operator's flag: an application naming a scheduler it
/// was not given is refused naming the field; given it, the coscheduling PodGroup comes first.
#[test]
fn render_takes_the_coscheduling_schedulers_like_the_operator() {
    let mut app = sparkplane_testbed::spark_pi("cosched", "1s", 0);
    app["metadata"]["namespace"] = json!("jobs");
    app["spec"]["batchScheduler"] = json!("coscheduler");
    let manifest = scratch_dir().join("render-cosched.json");
    std::fs::write(&manifest, app.to_string()).expect("manifest");
    let manifest = manifest.to_string_lossy().into_owned();

    let refused = sparkplane(None, &["render", "-f", &manifest]);
    assert_ne!(refused.code, Some(0));
    assert!(
        refused
            .stderr
            .contains("spec.batchScheduler: \"coscheduler\" is neither"),
        "{}",
        refused.stderr
    );
    let given = sparkplane(
        None,
        &[
            "render",
            "-f",
            &manifest,
            "--kube-scheduler-names",
            "other,coscheduler",
            "-o",
            "json",
        ],
    );
    assert_eq!(given.code, Some(0), "{}", given.stderr);
    let objects: Vec<Value> = serde_json::from_str(&given.stdout).expect("JSON");
    assert_eq!(objects[0]["apiVersion"], "scheduling.x-k8s.io/v1alpha1");
    assert_eq!(objects[0]["metadata"]["name"], "cosched-pg");
    let driver = objects
        .iter()
        .find(|o| o["kind"] == "Pod")
        .expect("the driver pod");
    assert_eq!(driver["spec"]["schedulerName"], "coscheduler");
}

/// `sparkplane render | kubectl create -f -` creates what the plan holds: strings a YAML 1.1 reader
/// (kubectl's) would take for booleans, numbers or dates arrive as the same strings, in arguments,
/// labels and the spark.properties text, as the API server stores them.
#[tokio::test]
async fn render_output_reads_back_the_same_through_kubectl() -> anyhow::Result<()> {
    let env = setup("cli-render").await?;
    let retyped = [
        "on",
        "yes",
        "No",
        "y",
        "OFF",
        "true",
        "null",
        "~",
        "",
        "0755",
        "1_000",
        "12:30",
        "1e3",
        "2024-01-01",
        "0x1F",
        ".inf",
        "<<",
    ];
    let mut app = sparkplane_testbed::spark_pi("render-yaml", "1s", 0);
    app["metadata"]["namespace"] = json!(env.name());
    app["spec"]["arguments"] = json!(retyped);
    app["spec"]["driver"]["labels"] = json!({"flag": "yes", "switch": "on", "when": "2024-01-01"});
    app["spec"]["sparkConf"] =
        json!({"spark.sparkplane.test.flag": "on", "spark.sparkplane.test.mode": "0755"});
    let manifest = scratch_dir().join("render-yaml.json");
    std::fs::write(&manifest, app.to_string())?;
    let manifest = manifest.to_string_lossy().into_owned();

    let as_json = sparkplane(None, &["render", "-f", &manifest, "-o", "json"]);
    assert_eq!(as_json.code, Some(0), "{}", as_json.stderr);
    let planned: Vec<Value> = serde_json::from_str(&as_json.stdout)?;
    let as_yaml = sparkplane(None, &["render", "-f", &manifest]);
    assert_eq!(as_yaml.code, Some(0), "{}", as_yaml.stderr);

    let created = run_with_input(
        Command::new(sparkplane_testbed::bin_dir()?.join("kubectl"))
            .args(["create", "--dry-run=server", "-o", "json", "-f", "-"])
            .env("KUBECONFIG", admin_kubeconfig()),
        &as_yaml.stdout,
    )?;
    let stderr = String::from_utf8_lossy(&created.stderr);
    assert!(created.status.success(), "kubectl create: {stderr}");
    // One JSON document per object created (or a List of them).
    let mut documents = Vec::new();
    for document in serde_json::Deserializer::from_slice(&created.stdout).into_iter::<Value>() {
        let document = document?;
        match document["items"].as_array() {
            Some(items) if document["kind"] == "List" => documents.extend(items.iter().cloned()),
            _ => documents.push(document),
        }
    }
    let created = documents;
    assert_eq!(
        created.len(),
        planned.len(),
        "every rendered object created"
    );

    for want in &planned {
        let kind = &want["kind"];
        let name = &want["metadata"]["name"];
        let got = created
            .iter()
            .find(|o| &o["kind"] == kind && &o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{kind} {name} not created"));
        for field in [
            "/metadata/labels",
            "/metadata/annotations",
            "/data",
            "/spec/containers/0/args",
        ] {
            assert_eq!(
                got.pointer(field),
                want.pointer(field),
                "{kind} {name}{field} changed on its way through YAML"
            );
        }
    }
    let driver = &planned[0];
    assert_eq!(driver["kind"], "Pod");
    let args = driver["spec"]["containers"][0]["args"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        args.ends_with(&retyped.map(|s| json!(s))),
        "the application's arguments end the driver's: {args:?}"
    );
    let properties = planned
        .iter()
        .filter_map(|o| o["data"]["spark.properties"].as_str())
        .next()
        .unwrap_or_default();
    assert!(
        properties.contains("spark.sparkplane.test.flag=on"),
        "{properties}"
    );
    Ok(())
}
