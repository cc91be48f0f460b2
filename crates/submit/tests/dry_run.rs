//! A sample of generated plans must be accepted by a real API server: every object of each plan is
//! created as a server-side dry run in the testbed (validation and admission run, nothing is stored).

use std::fmt::Write as _;

use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
use kube::api::{Api, PostParams};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sparkplane_submit::PlanObject;
use sparkplane_submit::render::{RenderOptions, plan_from_yaml};

/// How many plans are sampled: each costs a handful of API round trips.
const SAMPLES: usize = 60;

#[derive(Debug, Clone)]
struct Spec {
    name: String,
    kind: &'static str,
    v4: bool,
    memory: String,
    cores: u32,
    label: String,
    annotation: String,
    secret: bool,
    env_secret: bool,
    local_dir: Option<&'static str>,
    on_demand: bool,
    monitoring: Option<bool>,
    ui: bool,
    ingress_port: Option<u16>,
    node_selector: bool,
    pull_secrets: bool,
    dynamic: bool,
    webhook: bool,
    /// A batch scheduler.
    batch: Option<&'static str>,
}

/// The coscheduling scheduler the plans are made for.
const COSCHEDULER: &str = "scheduler-plugins-scheduler";

fn spec() -> impl Strategy<Value = Spec> {
    // Every name the schema accepts: DNS-1035 labels up to 63 characters.
    let names = "[a-z]([-a-z0-9]{0,61}[a-z0-9])?";
    (
        (
            names,
            prop::sample::select(vec!["Scala", "Java", "Python", "R"]),
            any::<bool>(),
            "[1-9][0-9]{2,3}m",
            1u32..8,
            "[a-z0-9]{0,10}",
            "[ -~]{0,20}",
            any::<bool>(),
            any::<bool>(),
        ),
        (
            prop::option::of(prop::sample::select(vec![
                "emptyDir", "hostPath", "nfs", "pvc",
            ])),
            any::<bool>(),
            prop::option::of(any::<bool>()),
            any::<bool>(),
            prop::option::of(1024u16..9000),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            prop::option::of(prop::sample::select(vec![
                "workload",
                "volcano",
                "yunikorn",
                COSCHEDULER,
            ])),
        ),
    )
        .prop_map(
            |(
                (name, kind, v4, memory, cores, label, annotation, secret, env_secret),
                (
                    local_dir,
                    on_demand,
                    monitoring,
                    ui,
                    ingress_port,
                    node_selector,
                    pull_secrets,
                    dynamic,
                    webhook,
                    batch,
                ),
            )| Spec {
                name,
                kind,
                v4,
                memory,
                cores,
                label,
                annotation,
                secret,
                env_secret,
                local_dir,
                on_demand,
                monitoring,
                ui,
                ingress_port,
                node_selector,
                pull_secrets,
                dynamic,
                webhook,
                batch,
            },
        )
}

fn manifest(s: &Spec, namespace: &str) -> Result<String, std::fmt::Error> {
    let mut y = String::new();
    let version = if s.v4 { "4.0.0" } else { "3.5.5" };
    writeln!(
        y,
        "apiVersion: sparkoperator.k8s.io/v1beta2\nkind: SparkApplication\nmetadata:\n  name: {}\n  namespace: {namespace}\n  uid: 3f1c2a4e-0000-4000-8000-000000000001\nspec:\n  type: {}\n  sparkVersion: {version}\n  image: apache/spark:{version}",
        s.name, s.kind
    )?;
    match s.kind {
        "Python" => writeln!(y, "  mainApplicationFile: local:///opt/spark/pi.py")?,
        "R" => writeln!(y, "  mainApplicationFile: local:///opt/spark/a.R")?,
        _ => writeln!(
            y,
            "  mainClass: org.apache.spark.examples.SparkPi\n  mainApplicationFile: local:///opt/spark/examples.jar"
        )?,
    }
    let mut conf = Vec::new();
    if s.on_demand {
        let p = "spark.kubernetes.driver.volumes.persistentVolumeClaim.data";
        conf.extend([
            format!("{p}.options.claimName: OnDemand"),
            format!("{p}.options.storageClass: standard"),
            format!("{p}.options.sizeLimit: 1Gi"),
            format!("{p}.mount.path: /data"),
            format!("{p}.label.l: v"),
        ]);
    }
    if !conf.is_empty() {
        writeln!(y, "  sparkConf:")?;
        for c in conf {
            writeln!(y, "    {c}")?;
        }
    }
    if s.node_selector {
        writeln!(y, "  nodeSelector: {{disktype: ssd}}")?;
    }
    if s.pull_secrets {
        writeln!(y, "  imagePullSecrets: [regcred]")?;
    }
    if let Some(scheduler) = s.batch {
        writeln!(y, "  batchScheduler: {scheduler}")?;
        if scheduler == "volcano" {
            writeln!(
                y,
                "  batchSchedulerOptions: {{queue: research, priorityClassName: high}}"
            )?;
        }
    }
    if s.dynamic {
        writeln!(
            y,
            "  dynamicAllocation: {{enabled: true, minExecutors: 1, maxExecutors: 4}}"
        )?;
    }
    if let Some(files) = s.monitoring {
        writeln!(
            y,
            "  monitoring:\n    exposeDriverMetrics: true\n    exposeExecutorMetrics: true"
        )?;
        if files {
            writeln!(y, "    metricsPropertiesFile: /opt/m.properties")?;
        }
        writeln!(y, "    prometheus: {{jmxExporterJar: /prometheus/jmx.jar}}")?;
    }
    if s.ui {
        writeln!(
            y,
            "  sparkUIOptions: {{servicePort: 80, serviceLabels: {{a: b}}}}"
        )?;
    }
    if let Some(port) = s.ingress_port {
        writeln!(
            y,
            "  driverIngressOptions:\n  - {{servicePort: {port}, servicePortName: p, ingressURLFormat: \"{{{{$appName}}}}.example.com/x\"}}"
        )?;
    }
    let local_dir = s.local_dir.map(|kind| {
        let source = match kind {
            "emptyDir" => "emptyDir: {sizeLimit: 1Gi}",
            "hostPath" => "hostPath: {path: /mnt/d}",
            "nfs" => "nfs: {server: nfs.local, path: /e}",
            _ => "persistentVolumeClaim: {claimName: c}",
        };
        format!("  - name: spark-local-dir-1\n    {source}\n")
    });
    if local_dir.is_some() || s.webhook {
        writeln!(y, "  volumes:")?;
        if let Some(v) = &local_dir {
            y.push_str(v);
        }
        if s.webhook {
            writeln!(y, "  - name: shared\n    emptyDir: {{}}")?;
        }
    }
    writeln!(
        y,
        "  driver:\n    serviceAccount: spark\n    memory: \"{}\"\n    cores: {}\n    labels: {{team: \"{}\"}}\n    annotations: {{note: {}}}",
        s.memory,
        s.cores,
        s.label,
        serde_json::to_string(&s.annotation).map_err(|_| std::fmt::Error)?
    )?;
    let mut mounts = Vec::new();
    if local_dir.is_some() {
        mounts.push("{name: spark-local-dir-1, mountPath: /scratch}");
    }
    if s.webhook {
        mounts.push("{name: shared, mountPath: /shared}");
        writeln!(
            y,
            "    securityContext: {{runAsUser: 185}}\n    tolerations: [{{key: k, operator: Exists}}]\n    sidecars: [{{name: side, image: busybox}}]\n    env: [{{name: E, value: v}}]\n    configMaps: [{{name: c.v1, path: /etc/c}}]"
        )?;
    }
    if !mounts.is_empty() {
        writeln!(y, "    volumeMounts: [{}]", mounts.join(", "))?;
    }
    if s.secret {
        writeln!(
            y,
            "    secrets: [{{name: gcp, path: /mnt/gcp, secretType: GCPServiceAccount}}]"
        )?;
    }
    if s.env_secret {
        writeln!(y, "    envSecretKeyRefs: {{PW: {{name: db, key: pw}}}}")?;
    }
    writeln!(y, "  executor:\n    instances: 2")?;
    Ok(y)
}

async fn dry_run<K>(client: &kube::Client, namespace: &str, object: &K) -> Result<(), String>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + Serialize
        + DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let params = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    api.create(&params, object)
        .await
        .map(|_| ())
        .map_err(|e| format!("{} {:?}: {e}", K::kind(&()), object.meta().name))
}

#[tokio::test(flavor = "multi_thread")]
async fn sampled_plans_pass_a_server_dry_run() -> anyhow::Result<()> {
    let testbed = sparkplane_testbed::Testbed::get()?;
    let client = testbed.client().await?;
    // The coscheduling and Volcano PodGroups are checked against their schedulers' CRDs.
    sparkplane_testbed::install_crds(&client, "scheduler-plugins-crds").await?;
    sparkplane_testbed::install_crds(&client, "volcano-crds").await?;
    let ns = testbed.namespace("submit-dry-run").await?;
    let namespace = ns.name().to_owned();
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), &namespace);
    accounts
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": "spark"}}))?,
        )
        .await?;

    let options = RenderOptions {
        settings: sparkplane_submit::Settings {
            kube_scheduler_names: vec![COSCHEDULER.to_owned()],
            ..Default::default()
        },
        ..Default::default()
    };
    let mut runner = TestRunner::deterministic();
    let strategy = spec();
    let (mut built, mut objects, mut failures) = (0, 0, Vec::new());
    let mut groups = std::collections::BTreeMap::<&str, usize>::new();
    for _ in 0..SAMPLES {
        let s = strategy
            .new_tree(&mut runner)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .current();
        let yaml = manifest(&s, &namespace)?;
        // Inputs Spark rejects (a bad label value, say) are errors, checked elsewhere; skip them.
        let Ok((_, mut plan)) = plan_from_yaml(&yaml, &options) else {
            continue;
        };
        built += 1;
        plan.set_driver_owner("3f1c2a4e-0000-4000-8000-0000000000ff");
        for object in plan.objects() {
            objects += 1;
            match object {
                PlanObject::PodGroup(_) => *groups.entry("workload").or_default() += 1,
                PlanObject::CoschedulingPodGroup(_) => {
                    *groups.entry("coscheduling").or_default() += 1
                }
                PlanObject::VolcanoPodGroup(_) => *groups.entry("volcano").or_default() += 1,
                PlanObject::Pod(pod)
                    if pod
                        .metadata
                        .annotations
                        .as_ref()
                        .is_some_and(|a| a.contains_key("yunikorn.apache.org/task-groups")) =>
                {
                    *groups.entry("yunikorn task groups").or_default() += 1
                }
                _ => {}
            }
            let result = match object {
                PlanObject::Pod(o) => dry_run(&client, &namespace, o).await,
                PlanObject::ConfigMap(o) => dry_run(&client, &namespace, o).await,
                PlanObject::Service(o) => dry_run(&client, &namespace, o).await,
                PlanObject::PersistentVolumeClaim(o) => dry_run(&client, &namespace, o).await,
                PlanObject::Ingress(o) => dry_run(&client, &namespace, o).await,
                PlanObject::PodDisruptionBudget(o) => dry_run(&client, &namespace, o).await,
                PlanObject::PodGroup(o) => dry_run(&client, &namespace, o).await,
                PlanObject::CoschedulingPodGroup(o) => dry_run(&client, &namespace, o).await,
                PlanObject::VolcanoPodGroup(o) => dry_run(&client, &namespace, o).await,
            };
            if let Err(e) = result {
                failures.push(format!("{e}\n--- spec:\n{yaml}"));
            }
        }
    }
    assert!(
        built >= SAMPLES / 2,
        "only {built} of {SAMPLES} samples built a plan"
    );
    assert!(
        failures.is_empty(),
        "{} of {objects} objects refused:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        groups.len() == 4,
        "every batch scheduler should be sampled: {groups:?}"
    );
    println!("{built} plans, {objects} objects accepted by the API server; PodGroups {groups:?}");
    Ok(())
}
