//! The Helm chart `deploy/helm/sparkplane` against the testbed: `helm lint`; what it renders accepted
//! by the API server (server-side dry-run); an install whose operator ServiceAccount, with a token and
//! the Deployment's own arguments, drives examples/spark-pi.yaml to COMPLETED with the operator
//! binary on the host, and whose dashboard, run the same way, shows it with read-only rights; access
//! reviews showing that its RBAC grants exactly that and no more; and an uninstall that leaves none
//! of the release's objects behind. On the real node, the operator image runs both for real. Also: the chart's CRDs and RBAC rules
//! are the ones under deploy/, and its README documents every value.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    SelfSubjectRulesReview, SelfSubjectRulesReviewSpec,
};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use serde::Deserialize;
use serde_json::{Value, json};
use sparkplane_api::SparkApplication;
use sparkplane_api::v1beta2::ApplicationStateType as State;
use sparkplane_testbed::{Testbed, repo_root, shared_reference, wait};
use support::*;

fn chart() -> PathBuf {
    repo_root().join("deploy/helm/sparkplane")
}

/// Output of a testbed program (`helm`, `kubectl`) run against the testbed as its admin, with Helm's
/// own state kept out of the user's home.
async fn run(program: &str, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
    let bin = sparkplane_testbed::bin_dir()?.join(program);
    let helm_home = log_dir().join("helm-home");
    let mut command = tokio::process::Command::new(&bin);
    command
        .args(args)
        .env("KUBECONFIG", Testbed::get()?.kubeconfig())
        .env("HELM_CONFIG_HOME", helm_home.join("config"))
        .env("HELM_CACHE_HOME", helm_home.join("cache"))
        .env("HELM_DATA_HOME", helm_home.join("data"))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use tokio::io::AsyncWriteExt;
        pipe.write_all(text.as_bytes()).await?;
    }
    let output = child.wait_with_output().await?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "{program} {} failed ({}):\n{}{stdout}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(stdout)
}

async fn helm(args: &[&str]) -> anyhow::Result<String> {
    run("helm", args, None).await
}

/// Every YAML document of `text` that is not empty.
fn documents(text: &str) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(document)?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

/// `helm template` of the chart (with its CRDs) as objects.
async fn render(release: &str, namespace: &str, extra: &[&str]) -> anyhow::Result<Vec<Value>> {
    let chart = chart();
    let chart = chart.to_string_lossy();
    let mut args = vec![
        "template",
        release,
        &chart,
        "--namespace",
        namespace,
        "--include-crds",
    ];
    args.extend_from_slice(extra);
    documents(&helm(&args).await?)
}

fn kind(object: &Value) -> &str {
    object["kind"].as_str().unwrap_or_default()
}

fn find<'a>(objects: &'a [Value], wanted: &str) -> anyhow::Result<&'a Value> {
    objects
        .iter()
        .find(|o| kind(o) == wanted)
        .with_context(|| format!("no {wanted} rendered"))
}

/// One permission: API group, resource, verb, resource name ("" for any name).
type Grant = (String, String, String, String);

/// The grants of RBAC rules (`apiGroups` x `resources` x `verbs` x `resourceNames`).
fn grants(rules: &Value) -> BTreeSet<Grant> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = BTreeSet::new();
    for rule in rules.as_array().into_iter().flatten() {
        let mut names = strings(&rule["resourceNames"]);
        if names.is_empty() {
            names.push(String::new());
        }
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    for name in &names {
                        out.insert((group.clone(), resource.clone(), verb.clone(), name.clone()));
                    }
                }
            }
        }
    }
    out
}

fn grant(group: &str, resource: &str, verb: &str, name: &str) -> Grant {
    (group.into(), resource.into(), verb.into(), name.into())
}

/// The grants of every Role or ClusterRole in a YAML file (deploy/rbac).
fn grants_in_file(path: &Path) -> anyhow::Result<BTreeSet<Grant>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    Ok(documents(&text)?
        .iter()
        .filter(|o| kind(o).ends_with("Role"))
        .flat_map(|o| grants(&o["rules"]))
        .collect())
}

/// The driver's verbs from ../shared/reference/spark/CONTRACT.md §5: its table of resources and verbs.
fn contract_driver_grants() -> anyhow::Result<BTreeSet<Grant>> {
    let path = shared_reference().join("spark/CONTRACT.md");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let (_, section) = text
        .split_once("**RBAC for the driver's service account**")
        .context("CONTRACT.md has no driver RBAC table")?;
    let mut out = BTreeSet::new();
    for line in section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
    {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (resource, verbs) = (cells[1], cells[2]);
        for verb in verbs.split(',') {
            out.insert(grant("", resource, verb.trim(), ""));
        }
    }
    Ok(out)
}

/// Fails naming what `actual` has beyond `expected` and what it lacks.
fn assert_same_set<T: Ord + std::fmt::Debug>(
    actual: &BTreeSet<T>,
    expected: &BTreeSet<T>,
    what: &str,
) {
    let extra: Vec<&T> = actual.difference(expected).collect();
    let missing: Vec<&T> = expected.difference(actual).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{what}: more than expected {extra:?}; missing {missing:?}"
    );
}

#[test]
fn chart_crds_are_the_ones_in_deploy() -> anyhow::Result<()> {
    let listing = |dir: PathBuf| -> anyhow::Result<Vec<String>> {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .with_context(|| dir.display().to_string())?
            .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
            .collect::<anyhow::Result<_>>()?;
        names.sort();
        Ok(names)
    };
    let deploy = repo_root().join("deploy/crds");
    let chart_crds = chart().join("crds");
    let names = listing(deploy.clone())?;
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(listing(chart_crds.clone())?, names);
    for file in &names {
        let committed = std::fs::read(deploy.join(file))?;
        let charted = std::fs::read(chart_crds.join(file))?;
        assert!(
            committed == charted,
            "{file} differs between deploy/crds and the chart: cp deploy/crds/*.yaml deploy/helm/sparkplane/crds/"
        );
    }
    Ok(())
}

/// The chart's rules are deploy/rbac's: the operator's (rendered with a namespace selector, so the
/// namespace rule is there too) and the driver's, which are also CONTRACT.md's.
#[tokio::test]
async fn chart_rbac_is_the_rbac_in_deploy() -> anyhow::Result<()> {
    let objects = render(
        "rules",
        "sparkplane",
        &[
            "--values",
            &chart()
                .join("ci/namespace-selector-values.yaml")
                .to_string_lossy(),
        ],
    )
    .await?;
    let component = |o: &Value| o["metadata"]["labels"]["app.kubernetes.io/component"].clone();
    let operator: BTreeSet<(String, String, String)> = objects
        .iter()
        .filter(|o| kind(o).ends_with("Role") && component(o) == "controller")
        .flat_map(|o| grants(&o["rules"]))
        // The chart narrows the Lease's reads and renewals to its name; deploy/rbac cannot know it.
        .map(|(group, resource, verb, _)| (group, resource, verb))
        .collect();
    let deploy: BTreeSet<(String, String, String)> =
        grants_in_file(&repo_root().join("deploy/rbac/operator-clusterrole.yaml"))?
            .into_iter()
            .map(|(group, resource, verb, _)| (group, resource, verb))
            .collect();
    assert_same_set(
        &operator,
        &deploy,
        "chart vs deploy/rbac/operator-clusterrole.yaml",
    );

    let objects = render("rules", "sparkplane", &[]).await?;
    let driver: BTreeSet<Grant> = objects
        .iter()
        .filter(|o| kind(o) == "Role" && component(o) == "spark")
        .flat_map(|o| grants(&o["rules"]))
        .collect();
    assert_same_set(
        &driver,
        &grants_in_file(&repo_root().join("deploy/rbac/spark-driver.yaml"))?,
        "chart vs deploy/rbac/spark-driver.yaml",
    );
    assert_same_set(
        &driver,
        &contract_driver_grants()?,
        "chart vs CONTRACT.md §5",
    );
    Ok(())
}

/// Each row of the README's value tables: "| `path` | ...".
fn documented_values() -> anyhow::Result<BTreeSet<String>> {
    let readme = std::fs::read_to_string(chart().join("README.md"))?;
    Ok(readme
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(path, _)| path.to_owned()))
        .collect())
}

/// Paths of values.yaml that the README does not document: a documented map covers its keys.
fn undocumented(path: &str, value: &Value, documented: &BTreeSet<String>, out: &mut Vec<String>) {
    if documented.contains(path) {
        return;
    }
    match value.as_object() {
        Some(map) if !map.is_empty() => {
            for (key, child) in map {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                undocumented(&child_path, child, documented, out);
            }
        }
        _ => out.push(path.to_owned()),
    }
}

#[test]
fn every_value_is_documented_in_the_chart_readme() -> anyhow::Result<()> {
    let values: Value =
        serde_yaml::from_str(&std::fs::read_to_string(chart().join("values.yaml"))?)?;
    let documented = documented_values()?;
    let mut missing = Vec::new();
    undocumented("", &values, &documented, &mut missing);
    assert!(
        missing.is_empty(),
        "values without a row in deploy/helm/sparkplane/README.md: {missing:?}"
    );
    assert!(documented.contains("controller.workers"), "{documented:?}");
    Ok(())
}

#[tokio::test]
async fn chart_lints_with_defaults_and_with_every_option_on() -> anyhow::Result<()> {
    let chart = chart();
    let chart_path = chart.to_string_lossy();
    for values in [
        None,
        Some("ci/all-on-values.yaml"),
        Some("ci/namespace-selector-values.yaml"),
    ] {
        let file = values.map(|v| chart.join(v).to_string_lossy().into_owned());
        let mut args = vec!["lint", "--strict", &chart_path];
        if let Some(file) = &file {
            args.extend(["--values", file]);
        }
        let out = helm(&args).await?;
        assert!(out.contains("0 chart(s) failed"), "{values:?}: {out}");
    }
    Ok(())
}

/// Values the operator cannot honour stop the render with the reason.
#[tokio::test]
async fn chart_refuses_values_it_cannot_honour() -> anyhow::Result<()> {
    let cases: [(&[&str], &str); 9] = [
        (
            &[
                "controller.replicas=2",
                "controller.leaderElection.enable=false",
            ],
            "needs controller.leaderElection.enable",
        ),
        (
            &["spark.jobNamespaceSelector=spark=enabled"],
            "spark.jobNamespaces: []",
        ),
        (
            &["controller.uiIngress.enable=true"],
            "needs controller.uiIngress.urlFormat",
        ),
        (
            &["controller.batchScheduler.default=volcano"],
            "batchScheduler.default is not supported",
        ),
        (
            &["controller.batchScheduler.kubeSchedulerNames={coscheduler}"],
            "kubeSchedulerNames needs controller.batchScheduler.enable",
        ),
        (
            &[
                "prometheus.podMonitor.create=true",
                "prometheus.metrics.enable=false",
            ],
            "need prometheus.metrics.enable",
        ),
        (
            &["controller.leaderElection.leaseDuration=15 seconds"],
            "is not a duration",
        ),
        (&["prometheus.metrics.prefix=x_"], "prefix is not supported"),
        (
            &["dashboard.sparkUI=forward"],
            "is not one of ingress, none",
        ),
    ];
    for (sets, wanted) in cases {
        let mut args = vec!["refused", "sparkplane"];
        for set in sets {
            args.extend(["--set", set]);
        }
        let error = match render(args[0], args[1], &args[2..]).await {
            Ok(_) => bail!("{sets:?} rendered"),
            Err(error) => format!("{error:#}"),
        };
        assert!(error.contains(wanted), "{sets:?}: {error}");
    }
    // Kubeflow's durations carry over as seconds; its kube-scheduler names as a flag.
    let objects = render(
        "durations",
        "sparkplane",
        &[
            "--set",
            "controller.leaderElection.leaseDuration=1m",
            "--set",
            "controller.driverPodCreationGracePeriod=30s",
            "--set",
            "controller.batchScheduler.enable=true",
            "--set",
            "controller.batchScheduler.kubeSchedulerNames={coscheduler,scheduler-plugins-scheduler}",
        ],
    )
    .await?;
    let args = &find(&objects, "Deployment")?["spec"]["template"]["spec"]["containers"][0]["args"];
    for flag in [
        "--lease-duration-seconds=60",
        "--driver-pod-creation-grace-period=30",
        "--kube-scheduler-names=coscheduler,scheduler-plugins-scheduler",
    ] {
        assert!(
            args.as_array().is_some_and(|a| a.iter().any(|x| x == flag)),
            "{flag} not in {args}"
        );
    }
    Ok(())
}

/// ServiceMonitor and PodMonitor need prometheus-operator's CRDs, which the testbed does not have:
/// the API server cannot check them, so their wiring is checked here against the rendered Service
/// and Deployment.
fn check_monitors(objects: &[Value]) -> anyhow::Result<()> {
    let subset = |selector: &Value, labels: &Value| -> bool {
        selector
            .as_object()
            .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels[k] == *v))
    };
    let service = find(objects, "Service")?;
    let deployment = find(objects, "Deployment")?;
    let pod = &deployment["spec"]["template"];
    let port_name = &pod["spec"]["containers"][0]["ports"][0]["name"];

    let service_monitor = find(objects, "ServiceMonitor")?;
    assert!(subset(
        &service_monitor["spec"]["selector"]["matchLabels"],
        &service["metadata"]["labels"]
    ));
    assert_eq!(
        service_monitor["spec"]["endpoints"][0]["port"],
        service["spec"]["ports"][0]["name"]
    );
    assert_eq!(service_monitor["spec"]["endpoints"][0]["path"], "/metrics");
    assert!(subset(
        &service["spec"]["selector"],
        &pod["metadata"]["labels"]
    ));

    let pod_monitor = find(objects, "PodMonitor")?;
    assert!(subset(
        &pod_monitor["spec"]["selector"]["matchLabels"],
        &pod["metadata"]["labels"]
    ));
    assert_eq!(
        &pod_monitor["spec"]["podMetricsEndpoints"][0]["port"],
        port_name
    );
    for monitor in [service_monitor, pod_monitor] {
        assert_eq!(
            monitor["spec"]["namespaceSelector"]["matchNames"][0],
            deployment["metadata"]["namespace"]
        );
    }
    Ok(())
}

#[tokio::test]
async fn rendered_chart_passes_server_side_dry_run() -> anyhow::Result<()> {
    let testbed = Testbed::get()?;
    let release_ns = testbed.namespace("helm-dry-rel").await?;
    let job_ns = testbed.namespace("helm-dry-job").await?;
    let jobs = format!("spark.jobNamespaces={{{}}}", job_ns.name());
    let all_on = chart().join("ci/all-on-values.yaml");
    let selector = chart().join("ci/namespace-selector-values.yaml");
    let variants: [(&str, Vec<&str>); 3] = [
        ("default", vec!["--set", &jobs]),
        (
            "all-on",
            vec![
                "--values",
                all_on.to_str().unwrap_or_default(),
                "--set",
                &jobs,
            ],
        ),
        (
            "selector",
            vec!["--values", selector.to_str().unwrap_or_default()],
        ),
    ];
    // The testbed serves no prometheus-operator API: those objects cannot be validated there.
    let served = run(
        "kubectl",
        &[
            "api-resources",
            "--api-group=monitoring.coreos.com",
            "-o",
            "name",
        ],
        None,
    )
    .await?;
    assert_eq!(
        served.trim(),
        "",
        "monitoring.coreos.com is served now: validate the monitors too"
    );

    for (variant, extra) in variants {
        let objects = render(&format!("dry-{variant}"), release_ns.name(), &extra).await?;
        let (monitors, checked): (Vec<&Value>, Vec<&Value>) = objects
            .iter()
            .partition(|o| o["apiVersion"] == "monitoring.coreos.com/v1");
        // JSON, not YAML again: a YAML writer may leave `yes` unquoted, which kubectl reads as true.
        let manifest = json!({"apiVersion": "v1", "kind": "List", "items": checked}).to_string();
        let out = run(
            "kubectl",
            &[
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager=sparkplane-helm-check",
                "--dry-run=server",
                "-f",
                "-",
            ],
            Some(&manifest),
        )
        .await
        .with_context(|| format!("variant {variant}"))?;
        let accepted = out
            .lines()
            .filter(|l| l.ends_with("(server dry run)"))
            .count();
        assert_eq!(accepted, checked.len(), "{variant}: {out}");
        assert!(
            checked.iter().any(|o| kind(o) == "Deployment")
                && checked
                    .iter()
                    .filter(|o| kind(o) == "CustomResourceDefinition")
                    .count()
                    == 3,
            "{variant}: {out}"
        );
        if variant == "all-on" {
            assert_eq!(monitors.len(), 2, "ServiceMonitor and PodMonitor");
            check_monitors(&objects)?;
            let manifest = monitors[0].to_string();
            let refused = run(
                "kubectl",
                &["apply", "--server-side", "--dry-run=server", "-f", "-"],
                Some(&manifest),
            )
            .await;
            let refused = refused.err().map(|e| format!("{e:#}")).unwrap_or_default();
            assert!(refused.contains("no matches for kind"), "{refused}");
        } else {
            assert!(
                monitors.is_empty(),
                "{variant}: monitors are off by default"
            );
        }
    }
    Ok(())
}

/// A release that is uninstalled when the test ends, however it ends (its ClusterRoles would
/// otherwise outlive the test's namespaces).
struct Release {
    name: String,
    namespace: String,
    installed: bool,
}

impl Release {
    async fn uninstall(&mut self) -> anyhow::Result<String> {
        let out = helm(&[
            "uninstall",
            &self.name,
            "--namespace",
            &self.namespace,
            "--wait",
            "--timeout",
            "2m",
        ])
        .await?;
        self.installed = false;
        Ok(out)
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        if !self.installed {
            return;
        }
        let bin = match sparkplane_testbed::bin_dir() {
            Ok(bin) => bin.join("helm"),
            Err(_) => return,
        };
        let kubeconfig = Testbed::get().map(|t| t.kubeconfig().to_path_buf());
        let _ = std::process::Command::new(bin)
            .args(["uninstall", &self.name, "--namespace", &self.namespace])
            .env("KUBECONFIG", kubeconfig.unwrap_or_default())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The grants a client's token has in `namespace`, as the API server's rules review lists them.
async fn rules_in(client: &Client, namespace: &str) -> anyhow::Result<BTreeSet<Grant>> {
    let review = SelfSubjectRulesReview {
        spec: SelfSubjectRulesReviewSpec {
            namespace: Some(namespace.to_owned()),
        },
        ..Default::default()
    };
    let reviewed = Api::<SelfSubjectRulesReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await?;
    let status = reviewed.status.context("rules review without status")?;
    if status.incomplete {
        bail!(
            "incomplete rules review in {namespace}: {:?}",
            status.evaluation_error
        );
    }
    Ok(grants(&serde_json::to_value(&status.resource_rules)?))
}

/// The grants a client's token has in `namespace` beyond what `nobody` (a ServiceAccount bound to
/// nothing) has: what the chart gave it.
async fn rules_beyond(
    client: &Client,
    nobody: &Client,
    namespace: &str,
) -> anyhow::Result<BTreeSet<Grant>> {
    let baseline = rules_in(nobody, namespace).await?;
    Ok(rules_in(client, namespace)
        .await?
        .difference(&baseline)
        .cloned()
        .collect())
}

/// Whether a client's token may `verb` `resource` in `namespace` ("" for cluster-wide).
async fn can_i(
    client: &Client,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: &str,
) -> anyhow::Result<bool> {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.split('/').next().unwrap_or(resource).into()),
                subresource: resource.split_once('/').map(|(_, sub)| sub.to_owned()),
                namespace: (!namespace.is_empty()).then(|| namespace.to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let reviewed = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await?;
    Ok(reviewed.status.is_some_and(|s| s.allowed))
}

/// `args` of the Deployment's container with each `--flag=value` split in two, as the test support
/// passes flags; `--metrics-address` left out (the pod's port is not free on this host).
fn host_args(args: &[String]) -> anyhow::Result<Vec<String>> {
    let Some((first, flags)) = args.split_first() else {
        bail!("the Deployment has no args");
    };
    assert_eq!(
        first, "operator",
        "the image's entrypoint runs `sparkplane <args>`"
    );
    let mut out = Vec::new();
    for flag in flags {
        let (name, value) = flag
            .split_once('=')
            .with_context(|| format!("{flag}: not --flag=value"))?;
        if name != "--metrics-address" {
            out.extend([name.to_owned(), value.to_owned()]);
        }
    }
    Ok(out)
}

/// The objects of a release as `helm get manifest` lists them: `Kind name` for cluster-scoped
/// kinds, `Kind namespace/name` for the others (the release namespace when none is written).
async fn manifest_objects(release: &Release, namespace: &str) -> anyhow::Result<BTreeSet<String>> {
    let manifest = helm(&["get", "manifest", &release.name, "-n", namespace]).await?;
    let mut out = BTreeSet::new();
    for object in documents(&manifest)? {
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let key = match kind(&object) {
            cluster @ ("ClusterRole" | "ClusterRoleBinding") => format!("{cluster} {name}"),
            other => {
                let ns = object["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or(namespace);
                format!("{other} {ns}/{name}")
            }
        };
        out.insert(key);
    }
    Ok(out)
}

/// The names of the objects `api` lists with `params`, keyed as [`manifest_objects`] keys them.
async fn listed<K>(api: Api<K>, params: &ListParams) -> anyhow::Result<Vec<String>>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let kind = K::kind(&());
    Ok(api
        .list(params)
        .await?
        .items
        .iter()
        .map(|o| match o.meta().namespace.as_deref() {
            Some(ns) => format!(
                "{kind} {ns}/{}",
                o.meta().name.as_deref().unwrap_or_default()
            ),
            None => format!("{kind} {}", o.meta().name.as_deref().unwrap_or_default()),
        })
        .collect())
}

/// Every object carrying the release's instance label, of the kinds the chart makes, cluster-wide
/// and in `namespaces`.
async fn labelled_objects(
    admin: &Client,
    release: &str,
    namespaces: &[&str],
) -> anyhow::Result<BTreeSet<String>> {
    use k8s_openapi::api::core::v1::Service;
    let by_release = ListParams::default().labels(&format!("app.kubernetes.io/instance={release}"));
    let mut out = BTreeSet::new();
    out.extend(listed(Api::<ClusterRole>::all(admin.clone()), &by_release).await?);
    out.extend(listed(Api::<ClusterRoleBinding>::all(admin.clone()), &by_release).await?);
    for namespace in namespaces {
        let c = || admin.clone();
        out.extend(listed(Api::<Role>::namespaced(c(), namespace), &by_release).await?);
        out.extend(listed(Api::<RoleBinding>::namespaced(c(), namespace), &by_release).await?);
        out.extend(
            listed(
                Api::<ServiceAccount>::namespaced(c(), namespace),
                &by_release,
            )
            .await?,
        );
        out.extend(listed(Api::<Service>::namespaced(c(), namespace), &by_release).await?);
        out.extend(listed(Api::<Deployment>::namespaced(c(), namespace), &by_release).await?);
    }
    Ok(out)
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

#[tokio::test]
async fn installed_chart_runs_spark_pi_with_exactly_its_rbac() -> anyhow::Result<()> {
    let testbed = Testbed::get()?;
    let admin = testbed.client().await?;
    let release_ns = testbed.namespace("helm-rel").await?;
    let job_ns = testbed.namespace("helm-job").await?;
    // A second job namespace: with two or more, every watch must be per namespace (the chart
    // grants nothing cluster-wide), which a single namespace would not show.
    let job2_ns = testbed.namespace("helm-job2").await?;
    let other_ns = testbed.namespace("helm-other").await?;
    let (rel, job, job2, other) = (
        release_ns.name().to_owned(),
        job_ns.name().to_owned(),
        job2_ns.name().to_owned(),
        other_ns.name().to_owned(),
    );

    // Install, waiting until the Deployment is available (kwok runs its pod).
    let mut release = Release {
        name: format!("sparkplane-{}", std::process::id()),
        namespace: rel.clone(),
        installed: true,
    };
    let chart = chart();
    helm(&[
        "install",
        &release.name,
        &chart.to_string_lossy(),
        "--namespace",
        &rel,
        "--set",
        &format!("spark.jobNamespaces={{{job},{job2}}}"),
        "--set",
        "dashboard.enable=true",
        "--wait",
        "--timeout",
        "3m",
    ])
    .await?;
    let status: Value =
        serde_json::from_str(&helm(&["status", &release.name, "-n", &rel, "-o", "json"]).await?)?;
    assert_eq!(status["info"]["status"], "deployed", "{status}");
    wait::crd_established(&admin, "sparkapplications.sparkoperator.k8s.io").await?;

    let deployment = Api::<Deployment>::namespaced(admin.clone(), &rel)
        .get(&release.name)
        .await?;
    let available = deployment
        .status
        .as_ref()
        .and_then(|s| s.available_replicas);
    assert_eq!(available, Some(1), "{:?}", deployment.status);
    let pod_spec = deployment
        .spec
        .and_then(|s| s.template.spec)
        .context("Deployment without a pod spec")?;
    let operator_account = pod_spec
        .service_account_name
        .clone()
        .context("no serviceAccountName")?;
    let container = pod_spec
        .containers
        .iter()
        .find(|c| c.name == "sparkplane")
        .context("no sparkplane container")?;
    let args = host_args(container.args.as_deref().unwrap_or_default())?;
    assert_eq!(
        flag(&args, "--namespace"),
        Some(format!("{job},{job2}").as_str())
    );
    assert_eq!(flag(&args, "--leader-elect"), Some("true"));
    assert_eq!(flag(&args, "--lease-namespace"), Some(rel.as_str()));
    let lease_name = flag(&args, "--lease-name")
        .context("no --lease-name")?
        .to_owned();

    // The operator binary on this host, as the chart's ServiceAccount, with the chart's flags.
    let operator_config = service_account_kubeconfig(&admin, &rel, &operator_account).await?;
    let env = Env {
        ns: job_ns,
        admin: admin.clone(),
        kubeconfig: operator_config.clone(),
    };
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let op = Operator::start_unscoped(&env, &arg_refs)?;
    op.wait_metrics(&["sparkplane_leader 1"]).await?;
    let lease = Api::<Lease>::namespaced(admin.clone(), &rel)
        .get(&lease_name)
        .await?;
    assert!(
        lease
            .spec
            .and_then(|s| s.holder_identity)
            .is_some_and(|h| !h.is_empty())
    );

    let text = std::fs::read_to_string(repo_root().join("examples/spark-pi.yaml"))?;
    let mut pi: Value = serde_yaml::from_str(&text)?;
    pi["metadata"]["namespace"] = json!(job);
    pi["spec"]["driver"]["annotations"] = json!({"testbed.sparkplane.io/complete-after": "3s"});
    let pi: SparkApplication = serde_json::from_value(pi)?;
    env.apps().create(&PostParams::default(), &pi).await?;
    let done = wait_state(&env, "spark-pi", State::Completed, Duration::from_secs(120)).await?;
    let driver = env.pods().get("spark-pi-driver").await?;
    assert_eq!(
        driver.spec.and_then(|s| s.service_account_name).as_deref(),
        Some("spark-operator-spark"),
        "the driver runs as the chart's Spark ServiceAccount"
    );
    assert_eq!(done.status.and_then(|s| s.execution_attempts), Some(1));
    let log = std::fs::read_to_string(&op.log)?;
    assert!(
        !log.contains("forbidden") && !log.contains("Forbidden"),
        "the operator was refused a call:\n{}",
        op.log_tail()
    );

    // No more than needed: the rules reviews of the chart's ServiceAccounts, less what every
    // ServiceAccount has (the `default` one of an unrelated namespace), are exactly the needed ones.
    let operator = client_from_kubeconfig(&operator_config).await?;
    let spark = client_from_kubeconfig(
        &service_account_kubeconfig(&admin, &job, "spark-operator-spark").await?,
    )
    .await?;
    let nobody =
        client_from_kubeconfig(&service_account_kubeconfig(&admin, &other, "default").await?)
            .await?;
    let deploy_rules = grants_in_file(&repo_root().join("deploy/rbac/operator-clusterrole.yaml"))?;
    let is_lease = |g: &Grant| g.0 == "coordination.k8s.io" && g.1 == "leases";
    // Namespaces are read only with a selector; this release lists its namespace.
    let is_namespaces = |g: &Grant| g.0.is_empty() && g.1 == "namespaces";
    let in_job: BTreeSet<Grant> = deploy_rules
        .iter()
        .filter(|g| !is_lease(g) && !is_namespaces(g))
        .cloned()
        .collect();
    let in_release: BTreeSet<Grant> = deploy_rules
        .iter()
        .filter(|g| is_lease(g))
        .map(|(group, resource, verb, _)| {
            // A create cannot name its object; every other Lease call is limited to the Lease.
            let name = if verb == "create" { "" } else { &lease_name };
            grant(group, resource, verb, name)
        })
        .collect();
    let expectations = [
        ("operator", &operator, &job, in_job.clone()),
        ("operator", &operator, &rel, in_release),
        ("operator", &operator, &other, BTreeSet::new()),
        ("spark", &spark, &job, contract_driver_grants()?),
        ("spark", &spark, &other, BTreeSet::new()),
        ("spark", &spark, &rel, BTreeSet::new()),
    ];
    for (who, client, namespace, expected) in expectations {
        let extra = rules_beyond(client, &nobody, namespace).await?;
        assert_same_set(&extra, &expected, &format!("{who} in {namespace}"));
    }
    assert!(in_job.contains(&grant("", "pods", "create", "")));

    // The in-cluster dashboard: the binary on this host as the dashboard's ServiceAccount, with
    // the Deployment's flags (on loopback, a free port), shows the job namespaces with its
    // read-only rights, and nothing else.
    let dashboard_name = format!("{}-dashboard", release.name);
    let dashboard_spec = Api::<Deployment>::namespaced(admin.clone(), &rel)
        .get(&dashboard_name)
        .await?
        .spec
        .and_then(|s| s.template.spec)
        .context("dashboard Deployment without a pod spec")?;
    let dashboard_account = dashboard_spec
        .service_account_name
        .clone()
        .context("the dashboard has no serviceAccountName")?;
    let dashboard_args = dashboard_spec
        .containers
        .first()
        .and_then(|c| c.args.clone())
        .unwrap_or_default();
    assert_eq!(
        dashboard_args,
        [
            "dashboard".to_owned(),
            "--address=0.0.0.0".into(),
            "--port=8080".into(),
            format!("--namespaces={job},{job2}"),
            "--spark-ui=ingress".into(),
        ]
    );
    let dashboard_config = service_account_kubeconfig(&admin, &rel, &dashboard_account).await?;
    let on_host: Vec<&str> = dashboard_args[1..]
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--address") && !a.starts_with("--port"))
        .collect();
    let dashboard = Dashboard::start(
        &on_host,
        &dashboard_config,
        log_dir().join(format!("{rel}-dashboard.log")),
    )?;
    let port = dashboard.port()?;
    let mut ready = http_get(port, "/readyz").await;
    for _ in 0..60 {
        if ready.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        ready = http_get(port, "/readyz").await;
    }
    ready.context("the dashboard never became ready")?;
    let list = http_get(port, "/apps").await?;
    assert!(
        list.contains(">spark-pi<") && list.contains("COMPLETED") && !list.contains("cannot read"),
        "{list}"
    );
    let page = http_get(port, &format!("/apps/{job}/spark-pi")).await?;
    for wanted in ["spark-pi-driver", "SparkApplicationCompleted", "Scheduled"] {
        assert!(page.contains(wanted), "{wanted} not on the page: {page}");
    }
    assert!(!page.contains("cannot list"), "{page}");
    let log = http_stream_until(port, &format!("/apps/{job}/spark-pi/log"), "event: line").await?;
    assert!(log.starts_with("HTTP/1.0 200 OK"), "{log}");
    let outside = http_get(port, &format!("/apps/{other}/spark-pi"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(outside.contains("404"), "{outside}");
    let ui = http_get(port, &format!("/apps/{job}/spark-pi/ui"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(ui.contains("503") && ui.contains("no UI Ingress"), "{ui}");
    drop(dashboard);
    let dashboard_client = client_from_kubeconfig(&dashboard_config).await?;
    let read_only: BTreeSet<Grant> = [
        "sparkapplications",
        "scheduledsparkapplications",
        "sparkconnects",
    ]
    .into_iter()
    .flat_map(|resource| {
        ["get", "list", "watch"].map(|verb| grant("sparkoperator.k8s.io", resource, verb, ""))
    })
    .chain([
        grant("", "pods", "list", ""),
        grant("", "pods", "watch", ""),
        grant("", "events", "list", ""),
        grant("", "events", "watch", ""),
        grant("", "pods/log", "get", ""),
    ])
    .collect();
    for (namespace, expected) in [
        (&job, read_only.clone()),
        (&job2, read_only),
        (&other, BTreeSet::new()),
        (&rel, BTreeSet::new()),
    ] {
        let extra = rules_beyond(&dashboard_client, &nobody, namespace).await?;
        assert_same_set(&extra, &expected, &format!("dashboard in {namespace}"));
    }
    for (verb, resource, namespace) in [
        ("create", "pods/portforward", job.as_str()),
        ("create", "pods/exec", job.as_str()),
        ("get", "secrets", job.as_str()),
        ("list", "sparkapplications", ""),
    ] {
        let group = if resource == "sparkapplications" {
            "sparkoperator.k8s.io"
        } else {
            ""
        };
        assert!(
            !can_i(&dashboard_client, verb, group, resource, namespace).await?,
            "the dashboard may {verb} {resource} in {namespace:?}"
        );
    }

    // Cluster-wide and cross-namespace calls, each refused (and the same calls allowed where they
    // belong, so a refusal is not a broken review).
    assert!(can_i(&operator, "create", "", "pods", &job).await?);
    assert!(
        can_i(
            &operator,
            "list",
            "sparkoperator.k8s.io",
            "sparkapplications",
            &job
        )
        .await?
    );
    assert!(can_i(&spark, "deletecollection", "", "pods", &job).await?);
    let refused: [(&Client, &str, &str, &str, &str); 14] = [
        (&operator, "list", "", "secrets", ""),
        (&operator, "get", "", "secrets", &job),
        (&operator, "delete", "", "namespaces", ""),
        (&operator, "list", "", "namespaces", ""),
        (&operator, "create", "", "pods", &other),
        (&operator, "create", "", "pods", &rel),
        (&operator, "list", "", "pods", ""),
        (
            &operator,
            "list",
            "sparkoperator.k8s.io",
            "sparkapplications",
            "",
        ),
        (
            &operator,
            "update",
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "",
        ),
        (
            &operator,
            "create",
            "rbac.authorization.k8s.io",
            "rolebindings",
            &job,
        ),
        (&operator, "create", "coordination.k8s.io", "leases", &job),
        (&spark, "list", "", "pods", ""),
        (&spark, "create", "", "pods", &other),
        (&spark, "get", "", "secrets", &job),
    ];
    for (client, verb, group, resource, namespace) in refused {
        assert!(
            !can_i(client, verb, group, resource, namespace).await?,
            "{verb} {group}/{resource} in {namespace:?} is allowed"
        );
    }
    drop(op);

    // Uninstall: none of the release's objects stay; Helm keeps the CRDs, as it always does. The
    // same listing first finds every object Helm installed, so an empty answer afterwards means gone.
    let namespaces = [rel.as_str(), job.as_str(), job2.as_str(), other.as_str()];
    let installed = manifest_objects(&release, &rel).await?;
    assert!(
        installed.iter().any(|o| o.starts_with("Deployment "))
            && installed.iter().any(|o| o.starts_with("ClusterRole ")),
        "helm get manifest lists {installed:?}"
    );
    let before = labelled_objects(&admin, &release.name, &namespaces).await?;
    assert_same_set(
        &before,
        &installed,
        "the release's objects found by its label",
    );
    release.uninstall().await?;
    let after = labelled_objects(&admin, &release.name, &namespaces).await?;
    assert!(after.is_empty(), "left after uninstall: {after:?}");
    assert!(helm(&["status", &release.name, "-n", &rel]).await.is_err());
    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    assert!(
        crds.get_opt("sparkapplications.sparkoperator.k8s.io")
            .await?
            .is_some(),
        "Helm keeps the CRDs"
    );
    drop(other_ns);
    Ok(())
}

/// `scripts/operator-image`: builds (or finds, by the binary's hash) the operator image and imports
/// it into the testbed's real node. Returns its reference.
fn operator_image_on_the_node() -> anyhow::Result<String> {
    let output = std::process::Command::new(repo_root().join("scripts/operator-image"))
        .stderr(Stdio::inherit())
        .output()
        .context("running scripts/operator-image")?;
    anyhow::ensure!(output.status.success(), "scripts/operator-image failed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (archive, image) = stdout
        .lines()
        .last()
        .and_then(|line| line.split_once(' '))
        .context("scripts/operator-image printed no `<archive> <ref>`")?;
    let import = std::process::Command::new(repo_root().join("testbed/import-image"))
        .args([archive, image])
        .output()?;
    anyhow::ensure!(
        import.status.success(),
        "testbed/import-image failed: {}",
        String::from_utf8_lossy(&import.stderr)
    );
    Ok(image.trim().to_owned())
}

/// What the kernel says of the sparkplane process in a pod's container (the operator's, the
/// dashboard's): its user and whether its root filesystem is mounted read-only. The process is
/// found on this host by its pod's cgroup.
fn sparkplane_process(pod_uid: &str) -> anyhow::Result<(String, bool)> {
    // cgroup paths name the pod as pod<uid>, its dashes kept (cgroupfs driver).
    let marker = format!("pod{pod_uid}");
    for entry in std::fs::read_dir("/proc")? {
        let path = entry?.path();
        let Ok(cgroups) = std::fs::read_to_string(path.join("cgroup")) else {
            continue;
        };
        let exe = std::fs::read_link(path.join("exe")).unwrap_or_default();
        if !cgroups.contains(&marker) || !exe.ends_with("usr/local/bin/sparkplane") {
            continue;
        }
        let status = std::fs::read_to_string(path.join("status"))?;
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .context("no Uid line")?
            .split_whitespace()
            .next()
            .context("empty Uid line")?
            .to_owned();
        let mounts = std::fs::read_to_string(path.join("mountinfo"))?;
        let root_read_only = mounts
            .lines()
            .map(|l| l.split(' ').collect::<Vec<_>>())
            .find(|fields| fields.get(4) == Some(&"/"))
            .and_then(|fields| fields.get(5).map(|o| o.split(',').any(|o| o == "ro")))
            .context("no root mount")?;
        return Ok((uid, root_read_only));
    }
    bail!("no sparkplane process of pod {pod_uid} on this host")
}

/// The chart's operator in a real container on the testbed's real node: the image
/// scripts/operator-image builds (the Dockerfile's static binary, non-root, no shell), the chart's
/// default security context enforced by the kernel (user 65532, read-only root filesystem), probes
/// that pass, and examples/spark-pi.yaml driven to COMPLETED by real Spark.
#[tokio::test]
async fn the_chart_runs_the_operator_image_in_a_real_container() -> anyhow::Result<()> {
    let _node = hold_real_node().await?;
    let image = tokio::task::spawn_blocking(operator_image_on_the_node).await??;
    let (repository, tag) = image.rsplit_once(':').context("image without a tag")?;
    let testbed = Testbed::get()?;
    let admin = testbed.client().await?;
    let release_ns = testbed.namespace_on_real_node("helm-real").await?;
    let job_ns = testbed.namespace_on_real_node("helm-real-job").await?;
    let (rel, job) = (release_ns.name().to_owned(), job_ns.name().to_owned());
    let mut release = Release {
        name: format!("sparkplane-real-{}", std::process::id()),
        namespace: rel.clone(),
        installed: true,
    };
    helm(&[
        "install",
        &release.name,
        &chart().to_string_lossy(),
        "--namespace",
        &rel,
        "--set",
        &format!("image.repository={repository}"),
        "--set",
        &format!("image.tag={tag}"),
        "--set",
        &format!("spark.jobNamespaces={{{job}}}"),
        // The node has two CPUs, exactly what spark-pi.yaml's driver and executor request (one
        // each): with the operator's default 100m the executor would stay Pending for ever.
        "--set",
        "controller.resources.requests.cpu=0",
        "--set",
        "dashboard.enable=true",
        "--set",
        "dashboard.resources.requests.cpu=0",
        "--wait",
        "--timeout",
        "4m",
    ])
    .await?;
    wait::crd_established(&admin, "sparkapplications.sparkoperator.k8s.io").await?;

    // The operator's pod: on the real node, Ready (its readiness probe passed), never restarted
    // (its liveness probe never failed).
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(admin.clone(), &rel);
    let pod = pods
        .list(
            &ListParams::default()
                .labels("app.kubernetes.io/name=sparkplane,app.kubernetes.io/component=controller"),
        )
        .await?
        .items
        .into_iter()
        .next()
        .context("no operator pod")?;
    assert_eq!(
        pod.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some("real-node")
    );
    let status = pod.status.clone().context("pod without status")?;
    let ready = status
        .conditions
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    assert!(ready, "the operator pod is not Ready");
    let container = status
        .container_statuses
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.name == "sparkplane")
        .context("no sparkplane container status")?;
    assert_eq!(container.image, image, "the pod runs another image");
    let (uid, root_read_only) =
        sparkplane_process(pod.metadata.uid.as_deref().context("pod without uid")?)?;
    assert_eq!(uid, "65532", "the operator runs as another user");
    assert!(
        root_read_only,
        "the container's root filesystem is writable"
    );

    // Real Spark, submitted by the operator in its container.
    let env = Env {
        ns: job_ns,
        admin: admin.clone(),
        kubeconfig: testbed.kubeconfig().to_owned(),
    };
    let text = std::fs::read_to_string(repo_root().join("examples/spark-pi.yaml"))?;
    let mut pi: Value = serde_yaml::from_str(&text)?;
    pi["metadata"]["namespace"] = json!(job);
    let pi: SparkApplication = serde_json::from_value(pi)?;
    env.apps().create(&PostParams::default(), &pi).await?;
    wait_state(&env, "spark-pi", State::Completed, Duration::from_secs(300)).await?;
    let log = env
        .pods()
        .logs(
            "spark-pi-driver",
            &kube::api::LogParams {
                container: Some("spark-kubernetes-driver".into()),
                ..Default::default()
            },
        )
        .await?;
    assert!(log.contains("Pi is roughly 3.1"), "{log}");

    let restarts = pods
        .get(pod.metadata.name.as_deref().unwrap_or_default())
        .await?
        .status
        .and_then(|s| s.container_statuses)
        .unwrap_or_default()
        .iter()
        .map(|c| c.restart_count)
        .sum::<i32>();
    assert_eq!(restarts, 0, "the operator container restarted");

    // The dashboard in its container, with the in-cluster account (the image has no kubeconfig):
    // Ready once its watches listed, as locked down as the operator, and its page, reached
    // through its Service, shows the application the operator ran.
    let dashboard_pod = pods
        .list(
            &ListParams::default()
                .labels("app.kubernetes.io/name=sparkplane,app.kubernetes.io/component=dashboard"),
        )
        .await?
        .items
        .into_iter()
        .next()
        .context("no dashboard pod")?;
    let ready = dashboard_pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    assert!(ready, "the dashboard pod is not Ready");
    let (uid, root_read_only) = sparkplane_process(
        dashboard_pod
            .metadata
            .uid
            .as_deref()
            .context("pod without uid")?,
    )?;
    assert_eq!((uid.as_str(), root_read_only), ("65532", true));
    let through_service = format!(
        "/api/v1/namespaces/{rel}/services/{}-dashboard:http/proxy/apps?ns={job}",
        release.name
    );
    let mut list = String::new();
    for _ in 0..30 {
        let request = http::Request::get(&through_service).body(Vec::new())?;
        list = admin.request_text(request).await.unwrap_or_default();
        if list.contains("COMPLETED") {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(
        list.contains(">spark-pi<") && list.contains("COMPLETED"),
        "the dashboard's list through its Service: {list}"
    );
    release.uninstall().await?;
    Ok(())
}
