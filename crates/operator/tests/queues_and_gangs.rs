//! Queues and gangs against the real components on the testbed. Gangs: the testbed's kube-scheduler
//! with Kubernetes' Workload API on (`GenericWorkload` and `GangScheduling`) places the executors of
//! `batchScheduler: workload` applications all together or not at all; the test creates the executors
//! as Spark's ExecutorPodsAllocator does, from the executor pod template the operator wrote. Queues:
//! Kueue's manager (built from its Go module by testbed/build), with its SparkApplication webhooks
//! served to the API server, admits and preempts applications by suspending them. kwok plays the
//! drivers and nodes. Batch schedulers Sparkplane does not drive are refused.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use k8s_openapi::api::scheduling::v1alpha2::PodGroup;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use sparkplane_api::v1beta2::ApplicationStateType as State;
use sparkplane_testbed::wait;
use support::*;

const MINUTE: Duration = Duration::from_secs(60);
/// How long a refused placement is watched to stay refused.
const SETTLE: Duration = Duration::from_secs(8);

/// Two applications of two executors each compete for a node with room for three executors.
/// Without a gang the scheduler fills the room: one application gets both executors, the other
/// one, and both wait. With `batchScheduler: workload` one application gets both and the other
/// none, until the first one's executors end; then the second gets both at once.
#[tokio::test]
async fn competing_gangs_are_placed_whole_or_not_at_all() -> anyhow::Result<()> {
    let env = setup("gangs").await?;
    let _operator = Operator::start(&env, &[])?;
    let node = GangNode::create(&env, 3).await?;

    // Without a gang: both end up half-placed or one whole and one half (the room is filled).
    let plain = ["plain-a", "plain-b"];
    for name in plain {
        create(&env, &node.app(name, None)).await?;
    }
    let executors = start_executors(&env, &plain).await?;
    let bound = wait_bound(&env, &executors, 3).await?;
    assert_eq!(
        sorted_counts(&bound, &plain),
        [1, 2],
        "the default scheduler fills the room: {bound:?}"
    );
    for name in plain {
        env.apps().delete(name, &DeleteParams::default()).await?;
    }
    wait_gone(&env, &executors).await?;

    // With gangs: one application whole, the other not at all.
    let gangs = ["gang-a", "gang-b"];
    for name in gangs {
        create(&env, &node.app(name, Some("workload"))).await?;
    }
    let executors = start_executors(&env, &gangs).await?;
    let groups: Api<PodGroup> = Api::namespaced(env.admin.clone(), env.name());
    for name in gangs {
        let group = executor_group(&groups, name).await?;
        let gang = group
            .spec
            .scheduling_policy
            .gang
            .as_ref()
            .context("no gang policy")?;
        assert_eq!(gang.min_count, 2);
        let owner = group.owner_references().first().cloned().context("owner")?;
        let driver = env.pods().get(&format!("{name}-driver")).await?;
        assert_eq!(
            (owner.kind.as_str(), Some(owner.uid)),
            ("Pod", driver.uid())
        );
        for pod in &executors[name] {
            let linked = env
                .pods()
                .get(pod)
                .await?
                .spec
                .and_then(|s| s.scheduling_group);
            assert_eq!(
                linked.and_then(|g| g.pod_group_name),
                group.metadata.name,
                "{pod} is not in its application's gang"
            );
        }
    }
    let bound = wait_bound(&env, &executors, 2).await?;
    tokio::time::sleep(SETTLE).await;
    let bound_later = bound_executors(&env, &executors).await?;
    assert_eq!(
        sorted_counts(&bound_later, &gangs),
        [0, 2],
        "a gang was split: {bound_later:?}"
    );
    assert_eq!(bound, bound_later, "placements changed while waiting");
    let (placed, waiting) = if bound["gang-a"] == 2 {
        ("gang-a", "gang-b")
    } else {
        ("gang-b", "gang-a")
    };

    // The placed gang's executors end: the waiting gang gets its two executors together.
    for pod in &executors[placed] {
        env.pods().delete(pod, &DeleteParams::default()).await?;
    }
    let waiting_only = BTreeMap::from([(waiting.to_owned(), executors[waiting].clone())]);
    wait_bound(&env, &waiting_only, 2).await?;

    // The group goes with its driver.
    env.apps().delete(placed, &DeleteParams::default()).await?;
    wait::until(MINUTE, || async {
        Ok(groups
            .list(&ListParams::default().labels(&format!("sparkoperator.k8s.io/app-name={placed}")))
            .await?
            .items
            .is_empty())
    })
    .await
    .context("the PodGroup outlived its driver")?;
    drop(node);
    Ok(())
}

/// Coscheduling as Kubeflow's kube-scheduler integration: the scheduler-plugins' kube-scheduler
/// (built from its module) runs its Coscheduling plugin as a second scheduler, which the operator
/// is given with `--kube-scheduler-names`, and applications name it in `spec.batchScheduler`. Two
/// applications whose driver is the same, one with executors the cluster has room for, one with
/// more executors than the whole cluster holds: the first driver is placed and runs; the second is
/// held back by its PodGroup's minResources (the scheduler reports the resource gap) and never
/// starts to wait for executors that could not fit. The group is Kubeflow's `<app>-pg` and goes
/// with its application. A scheduler the operator was not given is refused.
#[tokio::test]
async fn coscheduling_places_a_driver_only_when_the_whole_application_fits() -> anyhow::Result<()> {
    let env = setup("cosched").await?;
    sparkplane_testbed::install_crds(&env.admin, "scheduler-plugins-crds").await?;
    let scheduler = CoschedulingScheduler::start(&env)?;
    let _operator = Operator::start(
        &env,
        &[&format!("--kube-scheduler-names=other,{}", scheduler.name)],
    )?;
    let coscheduled = |name: &str, executors: i32| {
        let mut manifest = app(name, "5s", 0);
        manifest["spec"]["batchScheduler"] = json!(scheduler.name);
        manifest["spec"]["executor"]["instances"] = json!(executors);
        manifest
    };
    let mut unknown = coscheduled("unknown", 1);
    unknown["spec"]["batchScheduler"] = json!("kube-scheduler");
    create(&env, &unknown).await?;
    // The testbed (at most 16 kwok nodes of 16 cores, and the real node's 2) has nowhere near 500 cores.
    create(&env, &coscheduled("fits", 2)).await?;
    create(&env, &coscheduled("too-big", 500)).await?;

    let groups: Api<kube::api::DynamicObject> = Api::namespaced_with(
        env.admin.clone(),
        env.name(),
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("scheduling.x-k8s.io", "v1alpha1", "PodGroup"),
            "podgroups",
        ),
    );
    for (name, cpu) in [("fits", "3"), ("too-big", "501")] {
        let group_name = format!("{name}-pg");
        wait::until(MINUTE, || async {
            Ok(groups.get_opt(&group_name).await?.is_some())
        })
        .await
        .with_context(|| format!("no PodGroup {group_name}"))?;
        let group = groups.get(&group_name).await?;
        assert_eq!(group.data["spec"]["minMember"], 1, "{name}");
        assert_eq!(group.data["spec"]["minResources"]["cpu"], cpu, "{name}");
        let owner = group.owner_references().first().cloned().context("owner")?;
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("SparkApplication", name)
        );
    }

    wait_state(&env, "fits", State::Completed, 2 * MINUTE).await?;
    let fits = env.pods().get("fits-driver").await?;
    assert_eq!(
        fits.labels()
            .get("scheduling.x-k8s.io/pod-group")
            .map(String::as_str),
        Some("fits-pg")
    );
    assert_eq!(
        fits.spec.as_ref().and_then(|s| s.scheduler_name.as_deref()),
        Some(scheduler.name.as_str())
    );
    let template = executor_template(&env, "fits").await?;
    assert_eq!(
        template["metadata"]["labels"]["scheduling.x-k8s.io/pod-group"],
        "fits-pg"
    );

    // The big one's driver stays unplaced, for the reason the plugin gives.
    let reasons = wait_events_of_pod(&env, "too-big-driver", "FailedScheduling").await?;
    assert!(
        reasons.iter().any(|m| m.contains("resource gap")),
        "FailedScheduling of too-big-driver: {reasons:?}"
    );
    eprintln!("too-big-driver: {}", reasons.join(" | "));
    tokio::time::sleep(SETTLE).await;
    let held = env.pods().get("too-big-driver").await?;
    assert!(
        held.spec
            .as_ref()
            .and_then(|s| s.node_name.as_ref())
            .is_none(),
        "too-big-driver was placed; scheduler log:\n{}",
        scheduler.log_tail()
    );
    let app = env.apps().get("too-big").await?;
    assert_eq!(state(&app), State::Submitted);

    let refused = wait_state(&env, "unknown", State::Failed, MINUTE).await?;
    let message = refused
        .status
        .and_then(|s| s.application_state.error_message)
        .unwrap_or_default();
    assert!(
        message.starts_with("spec.batchScheduler: \"kube-scheduler\" is neither workload, volcano, yunikorn nor a scheduler this operator was given"),
        "{message}"
    );
    assert!(env.pods().get_opt("unknown-driver").await?.is_none());

    // The group goes with its application.
    env.apps()
        .delete("too-big", &DeleteParams::default())
        .await?;
    wait::until(MINUTE, || async {
        Ok(groups.get_opt("too-big-pg").await?.is_none())
    })
    .await
    .context("the PodGroup outlived its application")?;
    Ok(())
}

/// Kubeflow's own Volcano and YuniKorn examples, unchanged but for their namespace, get what
/// Kubeflow gives them: Volcano a `scheduling.volcano.sh` PodGroup `spark-<app>-pg` (created against
/// Volcano's CRD, sized by the pods' requests, owned by the application) named in the pods'
/// annotations; YuniKorn its task groups in the driver's annotations and the queue label; both
/// drivers are handed to their scheduler by `schedulerName`. Neither scheduler can be built here
/// (the module proxy refuses volcano.sh/volcano and apache/yunikorn-k8shim), so the drivers stay
/// unplaced: what is checked is what the schedulers would read.
#[tokio::test]
async fn volcano_and_yunikorn_applications_get_their_groups() -> anyhow::Result<()> {
    let env = setup("volcano-yunikorn").await?;
    sparkplane_testbed::install_crds(&env.admin, "volcano-crds").await?;
    let _operator = Operator::start(&env, &[])?;
    create_service_account(&env, "spark-operator-spark").await?;
    for example in ["spark-pi-volcano", "spark-pi-yunikorn"] {
        let path = sparkplane_testbed::shared_reference()
            .join(format!("kubeflow/examples/{example}.yaml"));
        let mut manifest: serde_json::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&path)?)?;
        manifest["metadata"]["namespace"] = json!(env.name());
        create(&env, &manifest).await?;
    }
    for name in ["spark-pi-volcano", "spark-pi-yunikorn"] {
        wait_state(&env, name, State::Submitted, MINUTE).await?;
    }

    // Volcano: the group, against Volcano's CRD.
    let groups: Api<kube::api::DynamicObject> = Api::namespaced_with(
        env.admin.clone(),
        env.name(),
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("scheduling.volcano.sh", "v1beta1", "PodGroup"),
            "podgroups",
        ),
    );
    let group = groups.get("spark-spark-pi-volcano-pg").await?;
    // The driver (1 core, 512m and the 384 MiB floor) and two executors of the same size; the
    // queue is the CRD's default.
    assert_eq!(
        group.data["spec"],
        json!({"minMember": 1, "minResources": {"cpu": "3", "memory": "2688Mi"}, "queue": "default"}),
    );
    let owner = group.owner_references().first().cloned().context("owner")?;
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("SparkApplication", "spark-pi-volcano")
    );
    let driver = env.pods().get("spark-pi-volcano-driver").await?;
    assert_eq!(
        driver
            .annotations()
            .get("scheduling.k8s.io/group-name")
            .map(String::as_str),
        Some("spark-spark-pi-volcano-pg")
    );
    assert_eq!(
        driver
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.as_deref()),
        Some("volcano")
    );
    let template = executor_template(&env, "spark-pi-volcano").await?;
    assert_eq!(
        template["metadata"]["annotations"]["scheduling.k8s.io/group-name"],
        "spark-spark-pi-volcano-pg"
    );
    assert_eq!(template["spec"]["schedulerName"], "volcano");

    // YuniKorn: task groups and the queue.
    let driver = env.pods().get("spark-pi-yunikorn-driver").await?;
    let annotations = driver.annotations();
    assert_eq!(
        annotations
            .get("yunikorn.apache.org/task-group-name")
            .map(String::as_str),
        Some("spark-driver")
    );
    let task_groups: serde_json::Value = serde_json::from_str(
        annotations
            .get("yunikorn.apache.org/task-groups")
            .context("no task groups")?,
    )?;
    assert_eq!(
        task_groups,
        json!([
            {"name": "spark-driver", "minMember": 1, "minResource": {"cpu": "1", "memory": "896Mi"}},
            {"name": "spark-executor", "minMember": 2, "minResource": {"cpu": "1", "memory": "896Mi"}}
        ])
    );
    assert_eq!(
        driver.labels().get("queue").map(String::as_str),
        Some("root.default")
    );
    assert_eq!(
        driver
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.as_deref()),
        Some("yunikorn")
    );
    let template = executor_template(&env, "spark-pi-yunikorn").await?;
    assert_eq!(
        template["metadata"]["annotations"]["yunikorn.apache.org/task-group-name"],
        "spark-executor"
    );
    assert_eq!(template["metadata"]["labels"]["queue"], "root.default");

    // No Volcano or YuniKorn runs here: nothing places the drivers.
    tokio::time::sleep(SETTLE).await;
    for name in ["spark-pi-volcano", "spark-pi-yunikorn"] {
        let driver = env.pods().get(&format!("{name}-driver")).await?;
        assert!(
            driver
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_ref())
                .is_none(),
            "{name}: placed without its scheduler"
        );
    }

    // The group goes with its application.
    env.apps()
        .delete("spark-pi-volcano", &DeleteParams::default())
        .await?;
    wait::until(MINUTE, || async {
        Ok(groups.get_opt("spark-spark-pi-volcano-pg").await?.is_none())
    })
    .await
    .context("the PodGroup outlived its application")?;
    Ok(())
}

/// The messages of a pod's events of `reason`, once there is one.
async fn wait_events_of_pod(env: &Env, pod: &str, reason: &str) -> anyhow::Result<Vec<String>> {
    let events: Api<k8s_openapi::api::core::v1::Event> =
        Api::namespaced(env.admin.clone(), env.name());
    let selector = format!("involvedObject.name={pod},reason={reason}");
    let mut messages = Vec::new();
    wait::until(MINUTE, || {
        let (events, selector) = (events.clone(), selector.clone());
        async move {
            let list = events
                .list(&ListParams::default().fields(&selector))
                .await?;
            Ok(!list.items.is_empty())
        }
    })
    .await
    .with_context(|| format!("no {reason} event of {pod}"))?;
    for event in events
        .list(&ListParams::default().fields(&selector))
        .await?
    {
        messages.extend(event.message);
    }
    Ok(messages)
}

/// The scheduler-plugins' kube-scheduler (testbed/build builds it from its Go module) with one
/// profile, named after the test, running Coscheduling as the plugins' own manifest configures it;
/// it schedules only the pods that name that profile. Stopped when dropped.
struct CoschedulingScheduler {
    child: Child,
    name: String,
    log: PathBuf,
}

impl CoschedulingScheduler {
    fn start(env: &Env) -> anyhow::Result<CoschedulingScheduler> {
        let bin = sparkplane_testbed::bin_dir()?;
        let name = format!("coscheduling-{}", env.name());
        let dir = log_dir().join(&name);
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n\
                 leaderElection: {{leaderElect: false}}\n\
                 clientConnection: {{kubeconfig: {}}}\n\
                 profiles:\n\
                 - schedulerName: {name}\n\
                 \x20 plugins:\n\
                 \x20   multiPoint: {{enabled: [{{name: Coscheduling}}]}}\n\
                 \x20   queueSort: {{enabled: [{{name: Coscheduling}}], disabled: [{{name: \"*\"}}]}}\n\
                 \x20 pluginConfig:\n\
                 \x20 - name: Coscheduling\n\
                 \x20   args: {{permitWaitingTimeSeconds: 10}}\n",
                sparkplane_testbed::Testbed::get()?.kubeconfig().display()
            ),
        )?;
        let log = dir.join("scheduler.log");
        let child = Command::new(bin.join("scheduler-plugins-scheduler"))
            .arg(format!("--config={}", config.display()))
            .arg("--secure-port=0")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting the scheduler-plugins scheduler")?;
        Ok(CoschedulingScheduler { child, name, log })
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for CoschedulingScheduler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scheduler that is not a scheduler name, and options a scheduler cannot honour, are refused
/// naming the field, with a Warning event and no driver; an application without them runs beside
/// them.
#[tokio::test]
async fn batch_schedulers_it_cannot_honour_are_refused() -> anyhow::Result<()> {
    let env = setup("gang-refusals").await?;
    let _operator = Operator::start(&env, &[])?;
    let mut prioritised = app("prioritised", "1s", 0);
    prioritised["spec"]["batchScheduler"] = json!("yunikorn");
    prioritised["spec"]["batchSchedulerOptions"] = json!({"priorityClassName": "high"});
    let mut unknown = app("unknown", "1s", 0);
    unknown["spec"]["batchScheduler"] = json!("Fair Share");
    let mut queued = app("queued", "1s", 0);
    queued["spec"]["batchScheduler"] = json!("workload");
    queued["spec"]["batchSchedulerOptions"] = json!({"queue": "research"});
    for manifest in [&prioritised, &unknown, &queued] {
        create(&env, manifest).await?;
    }
    create(&env, &app("fine", "1s", 0)).await?;
    for (name, expected) in [
        (
            "prioritised",
            "spec.batchSchedulerOptions.priorityClassName: YuniKorn takes the priority from the pods",
        ),
        (
            "unknown",
            "spec.batchScheduler: \"Fair Share\" is not a scheduler name",
        ),
        (
            "queued",
            "spec.batchSchedulerOptions.queue: the Workload API has no queues",
        ),
    ] {
        let failed = wait_state(&env, name, State::Failed, MINUTE).await?;
        let message = failed
            .status
            .and_then(|s| s.application_state.error_message)
            .unwrap_or_default();
        assert!(message.starts_with(expected), "{name}: {message}");
        wait_events(
            &env,
            name,
            &["SparkApplicationFailed"],
            Duration::from_secs(10),
        )
        .await?;
        assert!(
            env.pods()
                .get_opt(&format!("{name}-driver"))
                .await?
                .is_none()
        );
    }
    wait_state(&env, "fine", State::Completed, MINUTE).await?;
    Ok(())
}

/// A simulated node of its own for the test, tainted so that no other test's pods land on it, with
/// room for `cpus` executors of one core.
struct GangNode {
    name: String,
}

impl GangNode {
    async fn create(env: &Env, cpus: u32) -> anyhow::Result<GangNode> {
        let name = format!("gang-{}", env.name());
        let node: Node = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {"type": "kwok", "kubernetes.io/hostname": name, "sparkplane.io/gang-node": name}
            },
            "spec": {"taints": [{"key": "sparkplane.io/gang-node", "value": name, "effect": "NoSchedule"}]},
            "status": {
                "capacity": {"cpu": cpus.to_string(), "memory": "64Gi", "pods": "110"},
                "allocatable": {"cpu": cpus.to_string(), "memory": "64Gi", "pods": "110"}
            }
        }))?;
        let nodes: Api<Node> = Api::all(env.admin.clone());
        nodes.create(&PostParams::default(), &node).await?;
        wait::until(MINUTE, || async {
            Ok(nodes.get(&name).await?.status.is_some_and(|s| {
                s.conditions
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            }))
        })
        .await
        .context("kwok did not make the gang node Ready")?;
        Ok(GangNode { name })
    }

    /// An application whose driver runs elsewhere for ten minutes and whose two one-core executors
    /// go to this node.
    fn app(&self, name: &str, batch_scheduler: Option<&str>) -> serde_json::Value {
        let mut manifest = app(name, "10m", 0);
        manifest["spec"]["executor"]["instances"] = json!(2);
        manifest["spec"]["executor"]["nodeSelector"] =
            json!({"sparkplane.io/gang-node": self.name});
        manifest["spec"]["executor"]["tolerations"] = json!([{
            "key": "sparkplane.io/gang-node", "operator": "Equal", "value": self.name, "effect": "NoSchedule"
        }]);
        if let Some(scheduler) = batch_scheduler {
            manifest["spec"]["batchScheduler"] = json!(scheduler);
        }
        manifest
    }
}

/// The node goes with the test, passed or failed (it is cluster-wide, not in the test's namespace).
impl Drop for GangNode {
    fn drop(&mut self) {
        let deleted = sparkplane_testbed::bin_dir().and_then(|bin| {
            let kubeconfig = sparkplane_testbed::Testbed::get()?.kubeconfig();
            Ok(std::process::Command::new(bin.join("kubectl"))
                .args(["delete", "node", &self.name, "--wait=false"])
                .env("KUBECONFIG", kubeconfig)
                .output()?)
        });
        if let Err(error) = deleted {
            eprintln!("node {} left behind: {error}", self.name);
        }
    }
}

/// Waits for each application to run, then creates its two executors as Spark would, from the
/// executor pod template in its ConfigMap, the applications' executors interleaved. Returns the
/// executor pod names by application.
async fn start_executors(
    env: &Env,
    apps: &[&str],
) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut pods = Vec::new();
    for name in apps {
        let running = wait_state(env, name, State::Running, MINUTE).await?;
        let status = running.status.context("status")?;
        let driver = env.pods().get(&format!("{name}-driver")).await?;
        let template = executor_template(env, name).await?;
        for n in 1..=2 {
            pods.push((
                n,
                name.to_string(),
                executor_pod(
                    &template,
                    name,
                    n,
                    status.spark_application_id.as_deref().unwrap_or_default(),
                    &driver,
                )?,
            ));
        }
    }
    // a-1, b-1, a-2, b-2: neither application has all of its executors before the other has one.
    pods.sort_by_key(|(n, name, _)| (*n, name.clone()));
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, app, pod) in pods {
        let created = env.pods().create(&PostParams::default(), &pod).await?;
        names.entry(app).or_default().push(created.name_any());
    }
    Ok(names)
}

/// The executor pod template (a Pod as JSON) of `app`'s current submission.
async fn executor_template(env: &Env, app: &str) -> anyhow::Result<serde_json::Value> {
    let maps: Api<ConfigMap> = Api::namespaced(env.admin.clone(), env.name());
    let map = maps
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .find(|c| {
            let name = c.name_any();
            name.starts_with(&format!("{app}-")) && name.ends_with("-driver-podspec-conf-map")
        })
        .with_context(|| format!("no executor template for {app}"))?;
    let text = map
        .data
        .unwrap_or_default()
        .into_values()
        .next()
        .context("empty template ConfigMap")?;
    Ok(serde_json::from_str(&text)?)
}

/// What Spark's ExecutorPodsAllocator makes of the template: its name, labels, owner and the
/// executor container's resources added.
fn executor_pod(
    template: &serde_json::Value,
    app: &str,
    n: u32,
    app_id: &str,
    driver: &Pod,
) -> anyhow::Result<Pod> {
    let mut pod = template.clone();
    pod["metadata"]["name"] = json!(format!("{app}-exec-{n}"));
    let labels = pod["metadata"]
        .as_object_mut()
        .context("template without metadata")?
        .entry("labels")
        .or_insert_with(|| json!({}));
    // Spark's own labels, and those it takes from spark.kubernetes.executor.label.*.
    for (key, value) in [
        ("spark-app-selector", app_id.to_owned()),
        ("spark-role", "executor".to_owned()),
        ("spark-exec-id", n.to_string()),
        ("sparkoperator.k8s.io/app-name", app.to_owned()),
        (
            "sparkoperator.k8s.io/launched-by-spark-operator",
            "true".to_owned(),
        ),
    ] {
        labels[key] = json!(value);
    }
    pod["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "v1", "kind": "Pod", "name": driver.name_any(),
        "uid": driver.uid().unwrap_or_default(), "controller": true
    }]);
    pod["spec"]["restartPolicy"] = json!("Never");
    let container = &mut pod["spec"]["containers"][0];
    container["image"] = json!("docker.io/apache/spark:4.0.4");
    container["args"] = json!(["executor"]);
    container["resources"] = json!({"requests": {"cpu": "1", "memory": "512Mi"}});
    Ok(serde_json::from_value(pod)?)
}

/// How many of each application's executors the scheduler has bound to a node.
async fn bound_executors(
    env: &Env,
    executors: &BTreeMap<String, Vec<String>>,
) -> anyhow::Result<BTreeMap<String, usize>> {
    let mut bound = BTreeMap::new();
    for (app, pods) in executors {
        let mut count = 0;
        for pod in pods {
            let node = env.pods().get(pod).await?.spec.and_then(|s| s.node_name);
            count += usize::from(node.is_some());
        }
        bound.insert(app.clone(), count);
    }
    Ok(bound)
}

/// Waits until `total` executors are bound; returns the counts.
async fn wait_bound(
    env: &Env,
    executors: &BTreeMap<String, Vec<String>>,
    total: usize,
) -> anyhow::Result<BTreeMap<String, usize>> {
    wait::until(MINUTE, || async {
        Ok(bound_executors(env, executors)
            .await?
            .values()
            .sum::<usize>()
            >= total)
    })
    .await
    .with_context(|| format!("fewer than {total} executors were placed"))?;
    bound_executors(env, executors).await
}

fn sorted_counts(bound: &BTreeMap<String, usize>, apps: &[&str]) -> Vec<usize> {
    let mut counts: Vec<usize> = apps
        .iter()
        .map(|a| bound.get(*a).copied().unwrap_or(0))
        .collect();
    counts.sort_unstable();
    counts
}

async fn wait_gone(env: &Env, executors: &BTreeMap<String, Vec<String>>) -> anyhow::Result<()> {
    let pods = env.pods();
    wait::until(MINUTE, || async {
        for pod in executors.values().flatten() {
            if pods.get_opt(pod).await?.is_some() {
                return Ok(false);
            }
        }
        Ok(true)
    })
    .await
    .context("executors outlived their application")
}

/// The PodGroup of `app`'s submission.
async fn executor_group(groups: &Api<PodGroup>, app: &str) -> anyhow::Result<PodGroup> {
    let listed = groups
        .list(&ListParams::default().labels(&format!("sparkoperator.k8s.io/app-name={app}")))
        .await?
        .items;
    match <[PodGroup; 1]>::try_from(listed) {
        Ok([group]) => Ok(group),
        Err(listed) => anyhow::bail!("{app} has {} PodGroups, not one", listed.len()),
    }
}

/// Kueue with a ClusterQueue whose quota holds two of these applications (a one-core driver and a
/// one-core executor each): of three applications queued, the first two are admitted in order and
/// the third waits, suspended, with no driver; a fourth of a higher priority preempts one of the
/// running two, whose driver the operator deletes when Kueue suspends it; every application then
/// completes, the preempted one on a second run.
#[tokio::test]
async fn kueue_admits_in_order_and_preempts_by_priority() -> anyhow::Result<()> {
    let env = setup("kueue").await?;
    let _operator = Operator::start(&env, &[])?;
    let kueue = Kueue::start(&env).await?;
    let queue = kueue.name.clone();
    kubectl_apply(&format!(
        r#"
apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata: {{name: {queue}}}
spec:
  nodeLabels: {{kubernetes.io/role: agent}}
  tolerations: [{{key: sparkplane.io/kueue-flavor, operator: Exists, effect: NoSchedule}}]
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: WorkloadPriorityClass
metadata: {{name: {queue}-urgent}}
value: 1000
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {{name: {queue}}}
spec:
  namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: {ns}}}}}
  queueingStrategy: StrictFIFO
  preemption: {{withinClusterQueue: LowerPriority}}
  resourceGroups:
  - coveredResources: [cpu, memory]
    flavors:
    - name: {queue}
      resources:
      - {{name: cpu, nominalQuota: "4"}}
      - {{name: memory, nominalQuota: 64Gi}}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata: {{name: spark, namespace: {ns}}}
spec: {{clusterQueue: {queue}}}
"#,
        ns = env.name()
    ))?;

    let queued = |name: &str, runs_for: &str| {
        let mut manifest = app(name, runs_for, 0);
        manifest["metadata"]["labels"] = json!({"kueue.x-k8s.io/queue-name": "spark"});
        // Kueue counts CPU from coreRequest only (not cores).
        manifest["spec"]["driver"]["coreRequest"] = json!("1");
        manifest["spec"]["executor"]["coreRequest"] = json!("1");
        manifest
    };
    let logs: BTreeMap<&str, StateLog> = ["first", "second", "third", "urgent"]
        .into_iter()
        .map(|name| (name, StateLog::start(&env, name)))
        .collect();
    for name in ["first", "second", "third"] {
        let created = create(&env, &queued(name, "25s")).await?;
        assert_eq!(
            created.spec.suspend,
            Some(true),
            "Kueue's webhook did not suspend {name} on creation"
        );
        // Kueue orders by creation time, in whole seconds.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    wait_state(&env, "first", State::Running, MINUTE).await?;
    wait_state(&env, "second", State::Running, MINUTE).await?;
    // What Kueue injected at admission (the flavor's node labels and tolerations) is on the driver.
    let driver = env.pods().get("first-driver").await?.spec.context("spec")?;
    assert_eq!(
        driver
            .node_selector
            .unwrap_or_default()
            .get("kubernetes.io/role")
            .map(String::as_str),
        Some("agent")
    );
    assert!(
        driver
            .tolerations
            .unwrap_or_default()
            .iter()
            .any(|t| t.key.as_deref() == Some("sparkplane.io/kueue-flavor")),
        "the flavor's toleration is missing"
    );
    let executors = executor_template(&env, "first").await?;
    assert_eq!(
        executors["spec"]["nodeSelector"]["kubernetes.io/role"],
        "agent"
    );
    assert_eq!(
        executors["spec"]["tolerations"][0]["key"], "sparkplane.io/kueue-flavor",
        "{executors}"
    );
    wait_state(&env, "third", State::Suspended, MINUTE).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let third = logs["third"].states()?;
    assert!(
        !third.contains(&State::Running) && third.last() == Some(&State::Suspended),
        "the third was not held back: {third:?}"
    );
    assert!(env.pods().get_opt("third-driver").await?.is_none());

    // Of a higher priority: Kueue suspends one of the running two to make room.
    let mut urgent = queued("urgent", "5s");
    urgent["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] =
        json!(format!("{queue}-urgent"));
    create(&env, &urgent).await?;
    wait_state(&env, "urgent", State::Completed, MINUTE).await?;
    let preempted: Vec<&str> = ["first", "second"]
        .into_iter()
        .filter(|name| {
            logs[name].states().is_ok_and(|states| {
                // Suspended at creation, then again after it ran.
                let ran = states.iter().position(|s| *s == State::Running);
                ran.is_some_and(|at| states[at..].contains(&State::Suspended))
            })
        })
        .collect();
    assert_eq!(
        preempted.len(),
        1,
        "one of the running two is preempted: {preempted:?}"
    );
    let preempted = preempted[0];
    // Why, in its events: Kueue's own (Stopped: preempted) and the operator's.
    let reasons = event_reasons(&env, preempted).await?;
    for reason in [
        "Stopped",
        "SparkApplicationSuspending",
        "SparkApplicationSuspended",
    ] {
        assert!(reasons.iter().any(|r| r == reason), "{reason}: {reasons:?}");
    }
    assert!(
        !reasons
            .iter()
            .any(|r| r == "SparkApplicationSpecUpdateProcessed"),
        "a preemption is a suspension, not a spec change: {reasons:?}"
    );

    // Everything completes: the third once there is room, the preempted one on a second run.
    for name in ["first", "second", "third"] {
        wait_state(&env, name, State::Completed, Duration::from_secs(180)).await?;
    }
    let states = logs[preempted].states()?;
    let runs = states.iter().filter(|s| **s == State::Running).count();
    assert!(runs >= 2, "{preempted} did not run again: {states:?}");
    let third_states = logs["third"].states()?;
    assert!(
        !third_states.contains(&State::Running)
            || third_states.iter().position(|s| *s == State::Suspended)
                < third_states.iter().position(|s| *s == State::Running),
        "{third_states:?}"
    );
    drop(kueue);
    Ok(())
}

/// `kubectl apply` of a YAML text, as the testbed's admin.
fn kubectl_apply(yaml: &str) -> anyhow::Result<()> {
    let output = run_with_input(
        kubectl().args(["apply", "--server-side", "--force-conflicts", "-f", "-"]),
        yaml,
    )?;
    anyhow::ensure!(
        output.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

fn kubectl() -> Command {
    let mut command = Command::new(
        sparkplane_testbed::bin_dir()
            .map(|b| b.join("kubectl"))
            .unwrap_or_else(|_| PathBuf::from("kubectl")),
    );
    if let Ok(testbed) = sparkplane_testbed::Testbed::get() {
        command.env("KUBECONFIG", testbed.kubeconfig());
    }
    command
}

/// Kueue's manager on this machine, as the testbed's admin, with its SparkApplication integration;
/// its two SparkApplication webhooks are registered for the test's namespace only, served on
/// 127.0.0.1 with a certificate made for the test. Stopped, its webhooks and cluster-wide queue
/// objects deleted, when dropped.
struct Kueue {
    child: Child,
    /// The name of the cluster-wide objects of the test (webhooks, queue, flavor).
    name: String,
    log: PathBuf,
}

impl Kueue {
    async fn start(env: &Env) -> anyhow::Result<Kueue> {
        let bin = sparkplane_testbed::bin_dir()?;
        let name = format!("sparkplane-{}", env.name());
        let dir = log_dir().join(&name);
        std::fs::create_dir_all(&dir)?;
        let crds = std::fs::read_dir(bin.join("kueue-crds"))?
            .map(|entry| Ok(std::fs::read_to_string(entry?.path())?))
            .collect::<anyhow::Result<Vec<String>>>()?;
        kubectl_apply(&crds.join("\n---\n"))?;
        let established = kubectl()
            .args(["wait", "--for=condition=Established", "--timeout=60s"])
            .args([
                "crd/workloads.kueue.x-k8s.io",
                "crd/clusterqueues.kueue.x-k8s.io",
            ])
            .output()?;
        anyhow::ensure!(
            established.status.success(),
            "Kueue's CRDs are not established"
        );
        kubectl_apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: kueue-system}\n")?;

        // A self-signed serving certificate for 127.0.0.1, which the API server is told to trust.
        let certs = dir.join("certs");
        std::fs::create_dir_all(&certs)?;
        let made = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(certs.join("tls.key"))
            .arg("-out")
            .arg(certs.join("tls.crt"))
            .output()?;
        anyhow::ensure!(
            made.status.success(),
            "openssl: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let ca = Command::new("base64")
            .arg("-w0")
            .arg(certs.join("tls.crt"))
            .output()?;
        anyhow::ensure!(ca.status.success(), "base64 failed");
        let ca = String::from_utf8(ca.stdout)?;

        let (webhook_port, health_port) = (free_port()?, free_port()?);
        let config = dir.join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "apiVersion: config.kueue.x-k8s.io/v1beta2\nkind: Configuration\nnamespace: kueue-system\n\
                 health: {{healthProbeBindAddress: \"127.0.0.1:{health_port}\"}}\nmetrics: {{bindAddress: \"0\"}}\n\
                 webhook: {{host: 127.0.0.1, port: {webhook_port}, certDir: {}}}\n\
                 leaderElection: {{leaderElect: false}}\ninternalCertManagement: {{enable: false}}\n\
                 manageJobsWithoutQueueName: false\n\
                 integrations: {{frameworks: [sparkoperator.k8s.io/sparkapplication]}}\n",
                certs.display()
            ),
        )?;
        // Without its internal certificate manager, Kueue reads its metrics certificate from a fixed
        // /etc/kueue/metrics/certs: it runs in a mount namespace of its own whose /etc is the host's
        // with that directory laid over it (an overlay gone with the process; the host's /etc is
        // never written).
        let upper = dir.join("etc-upper");
        let metrics_certs = upper.join("kueue/metrics/certs");
        std::fs::create_dir_all(&metrics_certs)?;
        std::fs::create_dir_all(dir.join("etc-work"))?;
        for file in ["tls.crt", "tls.key"] {
            std::fs::copy(certs.join(file), metrics_certs.join(file))?;
        }
        let log = dir.join("kueue.log");
        let out = std::fs::File::create(&log)?;
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(
                "mount -t overlay overlay -o \"lowerdir=/etc,upperdir=$1,workdir=$2\" /etc && shift 2 && exec \"$@\"",
            )
            .arg("kueue")
            .arg(&upper)
            .arg(dir.join("etc-work"))
            .arg(bin.join("kueue"))
            .arg(format!("--config={}", config.display()))
            .arg("--feature-gates=SparkApplicationIntegration=true,VisibilityOnDemand=false")
            .arg("--zap-log-level=3")
            .env(
                "KUBECONFIG",
                sparkplane_testbed::Testbed::get()?.kubeconfig(),
            )
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?;
        let kueue = Kueue { child, name, log };
        wait::until(MINUTE, || async move {
            Ok(http_get(health_port, "/readyz").await.is_ok())
        })
        .await
        .with_context(|| format!("Kueue did not get ready:\n{}", kueue.log_tail()))?;

        // As Kueue's own manifests register them: defaulting on create, validation on both.
        let hook = |kind: &str, verb: &str, operations: &str| {
            format!(
                r#"
apiVersion: admissionregistration.k8s.io/v1
kind: {kind}WebhookConfiguration
metadata: {{name: {name}}}
webhooks:
- name: {verb}sparkapplication.kueue.sparkplane.test
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: {ns}}}}}
  clientConfig:
    url: https://127.0.0.1:{webhook_port}/{verb}-sparkoperator-k8s-io-v1beta2-sparkapplication
    caBundle: {ca}
  rules:
  - {{apiGroups: [sparkoperator.k8s.io], apiVersions: [v1beta2], operations: [{operations}], resources: [sparkapplications]}}
"#,
                name = kueue.name,
                ns = env.name()
            )
        };
        kubectl_apply(&format!(
            "{}---{}",
            hook("Mutating", "mutate", "CREATE"),
            hook("Validating", "validate", "CREATE, UPDATE")
        ))?;
        Ok(kueue)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Kueue {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- Kueue log {} ---\n{}",
                self.log.display(),
                self.log_tail()
            );
        }
        let name = &self.name;
        let deleted = kubectl()
            .args(["delete", "--ignore-not-found", "--wait=false"])
            .arg(format!("mutatingwebhookconfiguration/{name}"))
            .arg(format!("validatingwebhookconfiguration/{name}"))
            .arg(format!("clusterqueue.kueue.x-k8s.io/{name}"))
            .arg(format!("resourceflavor.kueue.x-k8s.io/{name}"))
            .arg(format!(
                "workloadpriorityclass.kueue.x-k8s.io/{name}-urgent"
            ))
            .output();
        if let Err(error) = deleted {
            eprintln!("Kueue's objects {name} left behind: {error}");
        }
    }
}
