//! The plan builder end to end: determinism, names, Spark's rules, and typed errors for bad input.

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use sparkplane_submit::names::{is_dns_1035_label, is_dns_subdomain, is_label_value};
use sparkplane_submit::render::{RenderOptions, plan_from_yaml};
use sparkplane_submit::{PlanObject, SubmissionPlan};

fn app(name: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: sparkoperator.k8s.io/v1beta2\nkind: SparkApplication\nmetadata:\n  name: {name}\n  namespace: jobs\n  uid: 11111111-2222-4333-8444-555555555555\nspec:\n  type: Scala\n  sparkVersion: 4.0.0\n  image: apache/spark:4.0.0\n  mainClass: org.apache.spark.examples.SparkPi\n  mainApplicationFile: local:///opt/spark/examples/jars/spark-examples.jar\n  driver: {{}}\n  executor: {{}}\n{extra_spec}"
    )
}

fn plan(yaml: &str, attempt: u32) -> Result<SubmissionPlan, String> {
    let opts = RenderOptions {
        attempt,
        ..Default::default()
    };
    plan_from_yaml(yaml, &opts)
        .map(|(_, p)| p)
        .map_err(|e| e.to_string())
}

#[test]
fn same_input_same_plan_new_attempt_new_names() {
    let a = plan(&app("spark-pi", ""), 1).expect("plan");
    assert_eq!(a, plan(&app("spark-pi", ""), 1).expect("plan"));
    let b = plan(&app("spark-pi", ""), 2).expect("plan");
    assert_ne!(a.app_id, b.app_id);
    assert_ne!(
        a.driver_service.metadata.name,
        b.driver_service.metadata.name
    );
    assert_ne!(
        a.config_maps[0].metadata.name,
        b.config_maps[0].metadata.name
    );
    // Kubeflow's driver pod name does not change between attempts.
    assert_eq!(a.driver_pod_name, "spark-pi-driver");
    assert_eq!(b.driver_pod_name, "spark-pi-driver");
}

#[test]
fn spark_pi_driver_matches_spark() {
    let p = plan(&app("spark-pi", ""), 1).expect("plan");
    let c = p
        .driver_pod
        .spec
        .as_ref()
        .expect("spec")
        .containers
        .last()
        .expect("container");
    let res = c.resources.as_ref().expect("resources");
    assert_eq!(
        res.requests.as_ref().expect("requests")["memory"].0,
        "1408Mi"
    );
    assert_eq!(res.limits.as_ref().expect("limits")["memory"].0, "1408Mi");
    assert_eq!(
        p.properties.get("spark.kubernetes.resource.type"),
        Some("java")
    );
    assert_eq!(
        p.properties.get("spark.kubernetes.memoryOverheadFactor"),
        Some("0.1")
    );
    let labels = p.driver_pod.metadata.labels.as_ref().expect("labels");
    assert_eq!(labels["sparkoperator.k8s.io/app-name"], "spark-pi");
    assert_eq!(
        labels["sparkoperator.k8s.io/launched-by-spark-operator"],
        "true"
    );
    assert_eq!(
        labels["sparkoperator.k8s.io/submission-id"],
        p.submission_id
    );
    assert_eq!(
        p.properties
            .get("spark.kubernetes.executor.label.sparkoperator.k8s.io/submission-id"),
        Some(p.submission_id.as_str())
    );
    let kinds: Vec<&str> = p.objects().iter().map(PlanObject::kind).collect();
    assert_eq!(
        kinds,
        ["Pod", "ConfigMap", "ConfigMap", "Service", "Service"]
    );
}

/// `driverPodDisruptionBudget` gives a PDB only when the operator allows it (`--enable-driver-pdb`),
/// owned by the driver pod once it exists, so it goes with the driver.
#[test]
fn a_driver_pdb_is_planned_when_asked_and_allowed_and_owned_by_the_driver() {
    let yaml = app("pi", "  driverPodDisruptionBudget: true\n");
    assert!(plan(&yaml, 1).expect("plan").driver_pdb.is_none());
    let mut opts = RenderOptions::default();
    opts.settings.driver_pdb = true;
    let (_, mut allowed) = plan_from_yaml(&yaml, &opts).expect("plan");
    assert!(matches!(
        allowed.objects().last(),
        Some(PlanObject::PodDisruptionBudget(_))
    ));
    allowed.set_driver_owner("driver-uid");
    let pdb = allowed.driver_pdb.expect("a PDB");
    assert_eq!(pdb.metadata.name.as_deref(), Some("pi-driver"));
    let owner = &pdb.metadata.owner_references.expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Pod", "driver-uid")
    );
    let (_, unasked) = plan_from_yaml(&app("pi", ""), &opts).expect("plan");
    assert!(unasked.driver_pdb.is_none());
}

/// `batchScheduler: workload`: a PodGroup per submission with a gang of every executor, named in
/// the executor pod template's `schedulingGroup`, created with the driver's objects and owned by
/// the driver pod; without it, neither.
#[test]
fn a_workload_gang_plans_a_pod_group_linked_from_the_executor_template() {
    let yaml = app("pi", "  batchScheduler: workload\n")
        .replace("  executor: {}", "  executor: {instances: 3}");
    let mut p = plan(&yaml, 1).expect("plan");
    let group = p.executor_group.clone().expect("a PodGroup");
    let name = group.metadata.name.clone().expect("name");
    assert_eq!(name, format!("{}-executors", p.resource_prefix));
    assert_eq!(
        group.spec.scheduling_policy.gang.map(|g| g.min_count),
        Some(3)
    );
    let template = p.config_maps[1].data.as_ref().expect("data");
    let template: serde_json::Value =
        serde_json::from_str(template.values().next().expect("template")).expect("JSON");
    assert_eq!(template["spec"]["schedulingGroup"]["podGroupName"], name);
    assert!(
        p.objects()
            .iter()
            .any(|o| matches!(o, PlanObject::PodGroup(g) if g.metadata.name.as_deref() == Some(name.as_str())))
    );
    p.set_driver_owner("driver-uid");
    let owner = &p
        .executor_group
        .expect("group")
        .metadata
        .owner_references
        .expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Pod", "driver-uid")
    );

    let plain = plan(&app("pi", ""), 1).expect("plan");
    assert!(plain.executor_group.is_none());
    let template = plain.config_maps[1].data.as_ref().expect("data");
    assert!(!template.values().any(|t| t.contains("schedulingGroup")));
}

/// `batchScheduler` naming a coscheduling scheduler the operator was given: Kubeflow's `<app>-pg`
/// group, created before the driver pod and owned by the application, sized by what driver and
/// executors will request; the driver and the executor template carry its label and that
/// scheduler. A name the operator was not given is refused.
#[test]
fn coscheduling_plans_a_pod_group_before_the_driver_with_the_pods_requests() {
    let yaml = app("pi", "  batchScheduler: coscheduler\n").replace(
        "  executor: {}",
        "  executor: {instances: 3, cores: 2, memory: 1g}",
    );
    let opts = RenderOptions {
        settings: sparkplane_submit::Settings {
            kube_scheduler_names: vec!["other".into(), "coscheduler".into()],
            ..Default::default()
        },
        ..Default::default()
    };
    let refused = plan(&yaml, 1).expect_err("not a scheduler the operator was given");
    assert!(
        refused.starts_with("spec.batchScheduler: \"coscheduler\" is neither"),
        "{refused}"
    );
    let (_, p) = plan_from_yaml(&yaml, &opts).expect("plan");
    let group = p.coscheduling_group.clone().expect("a PodGroup");
    assert_eq!(group.metadata.name.as_deref(), Some("pi-pg"));
    assert_eq!(group.spec.min_member, 1);
    let driver = &p.driver_pod.spec.as_ref().expect("spec").containers[0];
    let requests = driver
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .expect("driver requests");
    let driver_mib: u64 = requests["memory"]
        .0
        .trim_end_matches("Mi")
        .parse()
        .expect("MiB");
    // 1g executors: 1024 MiB and the 384 MiB floor of overhead; the driver's own request.
    assert_eq!(
        group.spec.min_resources["memory"].0,
        format!("{}Mi", driver_mib + 3 * (1024 + 384))
    );
    assert_eq!(group.spec.min_resources["cpu"].0, "7");
    assert_eq!(
        group.metadata.owner_references.as_ref().expect("owner")[0].kind,
        "SparkApplication"
    );
    assert_eq!(
        p.driver_pod.metadata.labels.as_ref().expect("labels")["scheduling.x-k8s.io/pod-group"],
        "pi-pg"
    );
    let template = p.config_maps[1].data.as_ref().expect("data");
    let template: serde_json::Value =
        serde_json::from_str(template.values().next().expect("template")).expect("JSON");
    assert_eq!(
        template["metadata"]["labels"]["scheduling.x-k8s.io/pod-group"],
        "pi-pg"
    );
    assert_eq!(template["spec"]["schedulerName"], "coscheduler");
    assert_eq!(
        p.driver_pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.as_deref()),
        Some("coscheduler")
    );
    let objects = p.objects();
    let group_at = objects
        .iter()
        .position(|o| matches!(o, PlanObject::CoschedulingPodGroup(_)))
        .expect("in the objects");
    let driver_at = objects
        .iter()
        .position(|o| matches!(o, PlanObject::Pod(_)))
        .expect("driver");
    assert!(
        group_at < driver_at,
        "the group must exist before the driver"
    );

    let plain = plan(&app("pi", ""), 1).expect("plan");
    assert!(plain.coscheduling_group.is_none());
    assert!(
        !plain
            .driver_pod
            .metadata
            .labels
            .expect("labels")
            .contains_key("scheduling.x-k8s.io/pod-group")
    );
}

/// The executor pod template's JSON, as the plan's second ConfigMap holds it.
fn executor_template(p: &SubmissionPlan) -> serde_json::Value {
    let data = p.config_maps[1].data.as_ref().expect("data");
    serde_json::from_str(data.values().next().expect("template")).expect("JSON")
}

fn driver_annotations(p: &SubmissionPlan) -> std::collections::BTreeMap<String, String> {
    p.driver_pod
        .metadata
        .annotations
        .clone()
        .unwrap_or_default()
}

fn scheduler_name(p: &SubmissionPlan) -> Option<&str> {
    p.driver_pod.spec.as_ref()?.scheduler_name.as_deref()
}

/// `batchScheduler: volcano`, as Kubeflow: PodGroup `spark-<app>-pg` with the options' queue and
/// priority class and the application's requests, applied before the driver; the pods name it in
/// `scheduling.k8s.io/group-name` and are scheduled by volcano.
#[test]
fn volcano_plans_its_pod_group_and_annotations() {
    let yaml = app(
        "pi",
        "  batchScheduler: volcano\n  batchSchedulerOptions: {queue: research, priorityClassName: high}\n",
    )
    .replace("  executor: {}", "  executor: {instances: 2, cores: 1, memory: 1g}");
    let p = plan(&yaml, 1).expect("plan");
    let group = p.volcano_group.clone().expect("a Volcano PodGroup");
    assert!(p.executor_group.is_none() && p.coscheduling_group.is_none());
    assert_eq!(group.metadata.name.as_deref(), Some("spark-pi-pg"));
    assert_eq!(
        (
            group.spec.min_member,
            group.spec.queue.as_deref(),
            group.spec.priority_class_name.as_deref()
        ),
        (1, Some("research"), Some("high"))
    );
    assert_eq!(group.spec.min_resources["cpu"].0, "3");
    let annotations = driver_annotations(&p);
    assert_eq!(annotations["scheduling.k8s.io/group-name"], "spark-pi-pg");
    let template = executor_template(&p);
    assert_eq!(
        template["metadata"]["annotations"]["scheduling.k8s.io/group-name"],
        "spark-pi-pg"
    );
    assert_eq!(template["spec"]["schedulerName"], "volcano");
    assert_eq!(scheduler_name(&p), Some("volcano"));
    let objects = p.objects();
    assert!(
        matches!(objects.first(), Some(PlanObject::VolcanoPodGroup(_))),
        "the group comes before the driver"
    );
}

/// `batchScheduler: yunikorn`, as Kubeflow: no object; the driver carries both task groups (the
/// executor group sized by the instances), each pod its group's name and the queue label, and
/// both are scheduled by yunikorn.
#[test]
fn yunikorn_plans_task_groups_in_annotations() {
    let yaml = app(
        "pi",
        "  batchScheduler: yunikorn\n  batchSchedulerOptions: {queue: root.research}\n",
    )
    .replace(
        "  executor: {}",
        "  executor: {instances: 3, cores: 2, memory: 512m}",
    );
    let p = plan(&yaml, 1).expect("plan");
    assert!(p.volcano_group.is_none() && p.coscheduling_group.is_none());
    let annotations = driver_annotations(&p);
    assert_eq!(
        annotations["yunikorn.apache.org/task-group-name"],
        "spark-driver"
    );
    let groups: serde_json::Value =
        serde_json::from_str(&annotations["yunikorn.apache.org/task-groups"]).expect("JSON");
    assert_eq!(groups[0]["name"], "spark-driver");
    assert_eq!(groups[0]["minMember"], 1);
    assert_eq!(groups[1]["name"], "spark-executor");
    assert_eq!(groups[1]["minMember"], 3);
    // 512m executors: 512 MiB and the 384 MiB floor; 2 cores each.
    assert_eq!(
        groups[1]["minResource"],
        serde_json::json!({"cpu": "2", "memory": "896Mi"})
    );
    let labels = p.driver_pod.metadata.labels.clone().expect("labels");
    assert_eq!(labels["queue"], "root.research");
    let template = executor_template(&p);
    assert_eq!(
        template["metadata"]["annotations"]["yunikorn.apache.org/task-group-name"],
        "spark-executor"
    );
    assert_eq!(template["metadata"]["labels"]["queue"], "root.research");
    assert_eq!(template["spec"]["schedulerName"], "yunikorn");
    assert_eq!(scheduler_name(&p), Some("yunikorn"));
}

/// A spark.properties larger than a ConfigMap holds is refused before anything is made, naming
/// the field; just under the limit it plans.
#[test]
fn spark_properties_larger_than_a_config_map_are_refused() {
    let conf = |keys: usize| {
        let mut text = String::from("  sparkConf:\n");
        for i in 0..keys {
            text.push_str(&format!(
                "    spark.hostile.key{i:05}: {}\n",
                "v".repeat(230)
            ));
        }
        text
    };
    assert!(plan(&app("pi", &conf(3000)), 1).is_ok());
    let refused = plan(&app("pi", &conf(4400)), 1).expect_err("too large");
    assert!(
        refused.starts_with("spec.sparkConf: the driver's spark.properties would be"),
        "{refused}"
    );
}

#[test]
fn python_uses_the_non_jvm_factor() {
    let yaml = app("py", "").replace("type: Scala", "type: Python");
    let p = plan(&yaml, 1).expect("plan");
    let c = p
        .driver_pod
        .spec
        .as_ref()
        .expect("spec")
        .containers
        .last()
        .expect("container");
    assert_eq!(
        c.resources.as_ref().expect("r").limits.as_ref().expect("l")["memory"].0,
        "1433Mi"
    );
    assert!(
        c.args
            .as_ref()
            .expect("args")
            .contains(&"org.apache.spark.deploy.PythonRunner".to_owned())
    );
}

#[test]
fn bad_input_gives_errors_that_name_the_field() {
    let cases = [
        (
            app("a", "").replace("driver: {}", "driver: {memory: 1gg}"),
            "spec.driver.memory",
        ),
        (
            app("a", "").replace("driver: {}", "driver: {memory: 1Gi}"),
            "spec.driver.memory",
        ),
        (
            app("a", "").replace("  mainClass: org.apache.spark.examples.SparkPi\n", ""),
            "spec.mainClass",
        ),
        (
            app("a", "").replace("sparkVersion: 4.0.0", "sparkVersion: banana"),
            "spec.sparkVersion",
        ),
        (
            app("a", "  sparkConf: {spark.driver.host: x}\n"),
            "spec.sparkConf",
        ),
        (app("a", "  mode: client\n"), "spec.mode"),
        (
            app("a", "").replace("type: Scala", "type: Cobol"),
            "spec.type",
        ),
        (
            app("a", "")
                .replace("type: Scala", "type: Java")
                .replace("  mainClass: org.apache.spark.examples.SparkPi\n", ""),
            "spec.mainClass",
        ),
        (
            app("a", "").replace("driver: {}", "driver: {coreLimit: two}"),
            "spec.driver.coreLimit",
        ),
        (
            app("a", "").replace("driver: {}", "driver: {labels: {spark-role: x}}"),
            "spec.driver.labels",
        ),
        // Two volumes mounted at one path conflict, as Spark refuses them.
        (
            app(
                "a",
                "  sparkConf:\n    spark.kubernetes.driver.volumes.emptyDir.a.mount.path: /x\n    spark.kubernetes.driver.volumes.emptyDir.b.mount.path: /x\n",
            ),
            "spec.sparkConf[spark.kubernetes.driver.volumes.emptyDir.b]",
        ),
        (
            app(
                "a",
                "  sparkConf:\n    spark.kubernetes.driver.volumes.persistentVolumeClaim.d.mount.path: /d\n    spark.kubernetes.driver.volumes.persistentVolumeClaim.d.options.claimName: OnDemand\n",
            ),
            "spec.sparkConf[spark.kubernetes.driver.volumes.persistentVolumeClaim.d]",
        ),
    ];
    for (yaml, field) in cases {
        let err = plan(&yaml, 1).expect_err(field);
        assert!(err.contains(field), "{field}: {err}");
    }
}

/// The longest name the schema accepts: every Service name derived from it is cut to a DNS label that
/// still starts with the name, distinct from the others; names that may be subdomains stay whole.
#[test]
fn long_names_stay_valid() {
    let name = format!("long-{}", "a".repeat(58));
    assert_eq!(name.len(), 63);
    let extra = "  sparkUIOptions: {}\n  driverIngressOptions:\n  - {servicePort: 65535, servicePortName: p, ingressURLFormat: \"{{$appName}}.example.com\"}\n";
    let p = plan(&app(&name, extra), 1).expect("plan");
    assert_eq!(p.driver_pod_name, format!("{name}-driver"));
    let services: Vec<&str> = std::iter::once(&p.driver_service)
        .chain(&p.ui_services)
        .map(|svc| svc.metadata.name.as_deref().expect("name"))
        .collect();
    assert_eq!(services.len(), 3, "{services:?}");
    for n in &services {
        assert!(is_dns_1035_label(n), "{n}");
    }
    let distinct: std::collections::BTreeSet<&&str> = services.iter().collect();
    assert_eq!(distinct.len(), services.len(), "{services:?}");
    for n in &services[1..] {
        assert!(n.starts_with("long-aaaa"), "{n}");
    }
    assert!(services[1].ends_with("-ui-svc"), "{}", services[1]);
    assert!(services[2].ends_with("-driver-65535"), "{}", services[2]);
    for (k, v) in p.driver_pod.metadata.labels.iter().flatten() {
        assert!(is_label_value(v), "{k}={v}");
    }
    assert_eq!(
        p.driver_pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("sparkoperator.k8s.io/app-name")),
        Some(&name)
    );
}

fn name_strategy() -> impl Strategy<Value = String> {
    "[a-z]([-a-z0-9]{0,61}[a-z0-9])?"
}

/// Generated specs tried per run, and how many of them must build a plan: an error is a fine answer
/// to a bad input, but a run whose plans failed would check no name at all. Today every generated
/// spec builds one; 90 % leaves room for inputs the builder may come to refuse.
const CASES: u32 = 200;
const MIN_PLANS: usize = CASES as usize * 9 / 10;

#[test]
fn arbitrary_specs_never_panic_and_names_are_valid() {
    let strategy = (
        name_strategy(),
        "[0-9]{1,5}[kmgKMG]?",
        1i32..64,
        any::<bool>(),
        any::<bool>(),
        1u32..1000,
        "[a-z0-9]{0,20}",
    );
    // As proptest! would: failures are kept in plan.proptest-regressions and replayed first.
    let config = ProptestConfig {
        source_file: Some(file!()),
        ..ProptestConfig::with_cases(CASES)
    };
    let mut runner = TestRunner::new(config);
    let planned = AtomicUsize::new(0);
    let outcome = runner.run(
        &strategy,
        |(name, memory, cores, python, v35, attempt, label)| {
            let mut yaml = app(&name, "").replace(
                "driver: {}",
                &format!(
                    "driver: {{memory: \"{memory}\", cores: {cores}, labels: {{l: \"{label}\"}}}}"
                ),
            );
            if python {
                yaml = yaml.replace("type: Scala", "type: Python");
            }
            if v35 {
                yaml = yaml.replace("4.0.0", "3.5.5");
            }
            // Errors are fine; panics are not (the runner reports a panic as a failure).
            let Ok(p) = plan(&yaml, attempt) else {
                return Ok(());
            };
            planned.fetch_add(1, Ordering::Relaxed);
            prop_assert!(is_dns_subdomain(&p.driver_pod_name));
            for svc in std::iter::once(&p.driver_service).chain(&p.ui_services) {
                prop_assert!(is_dns_1035_label(
                    svc.metadata.name.as_deref().unwrap_or_default()
                ));
            }
            for cm in &p.config_maps {
                prop_assert!(is_dns_subdomain(
                    cm.metadata.name.as_deref().unwrap_or_default()
                ));
            }
            for (k, v) in p.driver_pod.metadata.labels.iter().flatten() {
                prop_assert!(is_label_value(v), "{k}={v}");
            }
            Ok(())
        },
    );
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    let planned = planned.into_inner();
    assert!(
        planned >= MIN_PLANS,
        "only {planned} of {CASES} generated specs built a plan (at least {MIN_PLANS} must)"
    );
}

/// What changed in the driver's objects from one Spark line to the next, as each line's own
/// spark-submit makes them (scripts/fidelity with FIDELITY_SPARK_VERSION): 4.1 exposes Spark Connect's
/// port on the driver pod and its Service, 4.2 marks the Service port gRPC, 4.3 sets the driver
/// container's allowPrivilegeEscalation (false unless a conf says otherwise).
#[test]
fn each_spark_line_gets_its_own_driver_ports_and_security_context() {
    for (version, connect, grpc, escalation) in [
        ("3.5.9", false, false, None),
        ("4.0.5", false, false, None),
        ("4.1.4", true, false, None),
        ("4.2.1", true, true, None),
        ("4.3.0", true, true, Some(false)),
        ("4.4.0", true, true, Some(false)),
    ] {
        let yaml =
            app("pi", "").replace("sparkVersion: 4.0.0", &format!("sparkVersion: {version}"));
        let p = plan(&yaml, 1).expect("plan");
        let container = p
            .driver_pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.last())
            .expect("driver container");
        let pod_ports: Vec<(String, i32)> = container
            .ports
            .iter()
            .flatten()
            .map(|port| (port.name.clone().unwrap_or_default(), port.container_port))
            .collect();
        let connect_port = ("spark-connect".to_string(), 15002);
        assert_eq!(
            pod_ports.contains(&connect_port),
            connect,
            "{version}: pod ports {pod_ports:?}"
        );
        let service_ports = p
            .driver_service
            .spec
            .as_ref()
            .and_then(|s| s.ports.clone())
            .unwrap_or_default();
        let service_connect = service_ports
            .iter()
            .find(|port| port.name.as_deref() == Some("spark-connect"));
        assert_eq!(
            service_connect.is_some(),
            connect,
            "{version}: service ports"
        );
        assert_eq!(
            service_connect.and_then(|port| port.app_protocol.as_deref()) == Some("grpc"),
            grpc,
            "{version}: appProtocol"
        );
        assert_eq!(
            container
                .security_context
                .as_ref()
                .and_then(|s| s.allow_privilege_escalation),
            escalation,
            "{version}: allowPrivilegeEscalation"
        );
    }

    let v43 = |conf: &str| app("pi", conf).replace("sparkVersion: 4.0.0", "sparkVersion: 4.3.0");
    let escalation = |yaml: &str| {
        plan(yaml, 1).map(|p| {
            p.driver_pod
                .spec
                .as_ref()
                .and_then(|s| s.containers.last())
                .and_then(|c| {
                    c.security_context
                        .as_ref()
                        .and_then(|s| s.allow_privilege_escalation)
                })
        })
    };
    let general =
        v43("  sparkConf: {spark.kubernetes.securityContext.allowPrivilegeEscalation: 'TRUE'}\n");
    assert_eq!(escalation(&general), Ok(Some(true)));
    let driver_wins = v43(
        "  sparkConf: {spark.kubernetes.securityContext.allowPrivilegeEscalation: 'true', \
         spark.kubernetes.driver.securityContext.allowPrivilegeEscalation: 'false'}\n",
    );
    assert_eq!(escalation(&driver_wins), Ok(Some(false)));
    let moved = v43("  sparkConf: {spark.connect.grpc.binding.port: '16000'}\n");
    let p = plan(&moved, 1).expect("plan");
    assert!(
        p.driver_service
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .is_some_and(|ports| ports.iter().any(|port| port.port == 16000)),
        "the connect port follows spark.connect.grpc.binding.port"
    );
    let bad =
        v43("  sparkConf: {spark.kubernetes.securityContext.allowPrivilegeEscalation: maybe}\n");
    let error = escalation(&bad).expect_err("not a boolean");
    assert!(
        error.contains("spec.sparkConf[spark.kubernetes.securityContext.allowPrivilegeEscalation]"),
        "{error}"
    );
}

/// Spark reads a hostPath volume's `options.type` since 4.0; 3.5's spark-submit leaves it empty.
#[test]
fn host_path_type_is_read_since_spark_4() {
    let extra =
        "  volumes:\n  - {name: spark-local-dir-host, hostPath: {path: /mnt/d, type: Directory}}\n";
    for (version, want) in [
        ("3.5.9", ""),
        ("4.0.5", "Directory"),
        ("4.3.0", "Directory"),
    ] {
        let yaml = app("pi", extra)
            .replace("sparkVersion: 4.0.0", &format!("sparkVersion: {version}"))
            .replace(
                "driver: {}",
                "driver: {volumeMounts: [{name: spark-local-dir-host, mountPath: /host}]}",
            );
        let p = plan(&yaml, 1).expect("plan");
        let host_path = p
            .driver_pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.as_ref())
            .and_then(|v| v.iter().find(|v| v.name == "spark-local-dir-host"))
            .and_then(|v| v.host_path.clone())
            .expect("the hostPath volume");
        assert_eq!(host_path.type_.as_deref(), Some(want), "{version}");
    }
}
