//! Coscheduling with the scheduler-plugins' `Coscheduling` plugin, Kubeflow's kube-scheduler
//! integration: `spec.batchScheduler` names one of the schedulers the operator was given
//! (`--kube-scheduler-names`), and the driver and executors are scheduled by it.
//!
//! The application gets a `scheduling.x-k8s.io/v1alpha1` PodGroup `<app>-pg` with `minMember: 1` and
//! `minResources` covering the driver and its first executors; the driver and the executor template
//! carry the `scheduling.x-k8s.io/pod-group` label and that scheduler's name. The plugin then holds the driver back until the
//! cluster has the room for the whole application, so a driver never starts only to wait for
//! executors that cannot fit. The group is applied before the driver pod (a pod scheduled while its
//! group is missing is not held back) and owned by the application, like Kubeflow's.
//!
//! Unlike Kubeflow, which parses Spark's memory strings as Kubernetes quantities (`512m` becomes
//! half a byte), `minResources` is what the pods will request: the driver pod's own requests and
//! each executor's memory with Spark's overhead, off-heap and PySpark memory, and its cores.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use sparkplane_api::SparkApplication;
use sparkplane_api::v1beta2::BATCH_SCHEDULER_WORKLOAD;
use thiserror::Error;

use crate::identity::{LABEL_APP_NAME, LABEL_LAUNCHED_BY};
use crate::memory::{self, MemoryError};
use crate::names;
use crate::properties::SparkConf;
use crate::steps::basic::field_of;
use crate::version::SparkVersion;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CoschedulingError {
    #[error(
        "spec.batchScheduler: {name:?} is neither \"workload\" nor a scheduler this operator was given for coscheduling (--kube-scheduler-names, the chart's controller.batchScheduler.kubeSchedulerNames: {configured})"
    )]
    UnknownScheduler { name: String, configured: String },
    #[error(transparent)]
    Memory(#[from] MemoryError),
}

/// The label by which the plugin finds a pod's group.
pub const POD_GROUP_LABEL: &str = "scheduling.x-k8s.io/pod-group";

/// The scheduler-plugins PodGroup (`scheduling.x-k8s.io/v1alpha1`), the fields Sparkplane sets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CoschedulingPodGroup {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: CoschedulingPodGroupSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CoschedulingPodGroupSpec {
    /// Pods that must be schedulable together: the driver alone, since it starts first.
    pub min_member: i32,
    /// What the cluster must have free before the driver is placed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub min_resources: BTreeMap<String, Quantity>,
}

impl k8s_openapi::Resource for CoschedulingPodGroup {
    const API_VERSION: &'static str = "scheduling.x-k8s.io/v1alpha1";
    const GROUP: &'static str = "scheduling.x-k8s.io";
    const KIND: &'static str = "PodGroup";
    const VERSION: &'static str = "v1alpha1";
    const URL_PATH_SEGMENT: &'static str = "podgroups";
    type Scope = k8s_openapi::NamespaceResourceScope;
}

impl k8s_openapi::Metadata for CoschedulingPodGroup {
    type Ty = ObjectMeta;
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// The group's name, Kubeflow's `<app>-pg`, kept a valid label value.
pub fn group_name(app_name: &str) -> String {
    names::fit(&format!("{app_name}-pg"), 63)
}

/// The coscheduling scheduler the application names, if it names one. Any `batchScheduler` other
/// than `workload` (the refused ones never get here) must be one of `kube_scheduler_names`.
pub fn scheduler<'a>(
    app: &'a SparkApplication,
    kube_scheduler_names: &[String],
) -> Result<Option<&'a str>, CoschedulingError> {
    match app.spec.batch_scheduler.as_deref() {
        None | Some("") | Some(BATCH_SCHEDULER_WORKLOAD) => Ok(None),
        Some(name) if kube_scheduler_names.iter().any(|n| n == name) => Ok(Some(name)),
        Some(name) => Err(CoschedulingError::UnknownScheduler {
            name: name.to_owned(),
            configured: if kube_scheduler_names.is_empty() {
                "none".to_owned()
            } else {
                kube_scheduler_names.join(", ")
            },
        }),
    }
}

/// Puts the driver and every executor Spark creates from `template` into the group, scheduled by
/// `scheduler` (as Kubeflow's webhook does, the batch scheduler wins over the pods' own
/// `schedulerName`).
pub fn join_group(driver: &mut Pod, template: &mut PodTemplateSpec, group: &str, scheduler: &str) {
    for meta in [
        &mut driver.metadata,
        template.metadata.get_or_insert_with(Default::default),
    ] {
        meta.labels
            .get_or_insert_with(Default::default)
            .insert(POD_GROUP_LABEL.to_owned(), group.to_owned());
    }
    for spec in [
        driver.spec.get_or_insert_with(Default::default),
        template.spec.get_or_insert_with(Default::default),
    ] {
        spec.scheduler_name = Some(scheduler.to_owned());
    }
}

/// The application's PodGroup: `batchSchedulerOptions.resources` when given, otherwise the driver
/// pod's requests plus the first executors' (`properties` is the final `spark.properties`).
pub fn pod_group(
    app: &SparkApplication,
    namespace: &str,
    version: SparkVersion,
    driver: &Pod,
    properties: &SparkConf,
    non_jvm: bool,
) -> Result<CoschedulingPodGroup, CoschedulingError> {
    let app_name = app.metadata.name.clone().unwrap_or_default();
    let min_resources = match app
        .spec
        .batch_scheduler_options
        .as_ref()
        .and_then(|o| o.resources.clone())
    {
        Some(resources) => resources,
        None => application_requests(version, driver, properties, non_jvm)?,
    };
    Ok(CoschedulingPodGroup {
        api_version: <CoschedulingPodGroup as k8s_openapi::Resource>::API_VERSION.to_owned(),
        kind: <CoschedulingPodGroup as k8s_openapi::Resource>::KIND.to_owned(),
        metadata: ObjectMeta {
            name: Some(group_name(&app_name)),
            namespace: Some(namespace.to_owned()),
            labels: Some(BTreeMap::from([
                (LABEL_LAUNCHED_BY.to_owned(), "true".to_owned()),
                (LABEL_APP_NAME.to_owned(), app_name),
            ])),
            owner_references: Some(vec![crate::identity::owner_reference(app, true)]),
            ..Default::default()
        },
        spec: CoschedulingPodGroupSpec {
            min_member: 1,
            min_resources,
        },
    })
}

/// CPU (in millicores) and memory (in MiB) of the driver pod and of the executors Spark starts
/// with.
fn application_requests(
    version: SparkVersion,
    driver: &Pod,
    properties: &SparkConf,
    non_jvm: bool,
) -> Result<BTreeMap<String, Quantity>, MemoryError> {
    let requests = driver
        .spec
        .iter()
        .flat_map(|s| &s.containers)
        .filter_map(|c| c.resources.as_ref()?.requests.as_ref());
    let (mut millicores, mut mib) = (0u64, 0u64);
    for r in requests {
        millicores += r.get("cpu").and_then(|q| millicores_of(&q.0)).unwrap_or(0);
        mib += r.get("memory").and_then(|q| mib_of(&q.0)).unwrap_or(0);
    }
    let executors = initial_executors(properties);
    let executor_cpu = properties
        .get("spark.kubernetes.executor.request.cores")
        .and_then(millicores_of)
        .or_else(|| {
            properties
                .get("spark.executor.cores")
                .and_then(|c| c.trim().parse::<u64>().ok())
                .map(|c| c * 1000)
        })
        .unwrap_or(1000);
    millicores = millicores.saturating_add(executor_cpu.saturating_mul(executors));
    mib = mib.saturating_add(
        executor_memory_mib(version, properties, non_jvm)?.saturating_mul(executors),
    );
    Ok(BTreeMap::from([
        ("cpu".to_owned(), Quantity(format!("{millicores}m"))),
        ("memory".to_owned(), Quantity(format!("{mib}Mi"))),
    ]))
}

/// The executors Spark asks for first: `spark.executor.instances` (Spark's default 2), or with
/// dynamic allocation the largest of the initial, minimum and instance counts, as Spark's
/// `getDynamicAllocationInitialExecutors` does.
pub fn initial_executors(properties: &SparkConf) -> u64 {
    let count = |key: &str| {
        properties
            .get(key)
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let dynamic = properties
        .get("spark.dynamicAllocation.enabled")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if dynamic {
        [
            "spark.dynamicAllocation.initialExecutors",
            "spark.dynamicAllocation.minExecutors",
            "spark.executor.instances",
        ]
        .into_iter()
        .filter_map(count)
        .max()
        .unwrap_or(0)
    } else {
        count("spark.executor.instances").unwrap_or(2)
    }
}

/// One executor container's memory request as Spark's `ResourceProfile` computes it: heap, overhead
/// (set, or the factor of the heap with its floor), off-heap when enabled and PySpark's memory.
pub fn executor_memory_mib(
    version: SparkVersion,
    properties: &SparkConf,
    non_jvm: bool,
) -> Result<u64, MemoryError> {
    let size = |key: &str| {
        properties
            .get(key)
            .map(|v| memory::mib(&field_of(key), v))
            .transpose()
    };
    let factor = |key: &str| {
        properties
            .get(key)
            .map(|v| memory::factor(&field_of(key), v))
            .transpose()
    };
    let heap = memory::container_memory(
        version,
        memory::MemoryInputs {
            memory_mib: size("spark.executor.memory")?.unwrap_or(1024),
            overhead_mib: size("spark.executor.memoryOverhead")?,
            role_factor: factor("spark.executor.memoryOverheadFactor")?,
            kubernetes_factor: factor("spark.kubernetes.memoryOverheadFactor")?,
            min_overhead_mib: size("spark.executor.minMemoryOverhead")?,
            non_jvm,
        },
    );
    let off_heap = if properties
        .get("spark.memory.offHeap.enabled")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        size("spark.memory.offHeap.size")?.unwrap_or(0)
    } else {
        0
    };
    let pyspark = size("spark.executor.pyspark.memory")?.unwrap_or(0);
    Ok(heap
        .total_mib
        .saturating_add(off_heap)
        .saturating_add(pyspark))
}

/// A CPU quantity in millicores: `2`, `0.5`, `500m`.
fn millicores_of(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Some(milli) = text.strip_suffix('m') {
        return milli.parse().ok();
    }
    let cores: f64 = text.parse().ok()?;
    (cores.is_finite() && cores >= 0.0).then(|| (cores * 1000.0).ceil() as u64)
}

/// A memory quantity in whole MiB, rounded up: `1408Mi`, `2Gi`, or bytes.
fn mib_of(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, per_unit): (&str, u64) =
        match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
            None => (text, 1),
            Some((at, _)) => {
                let unit = match &text[at..] {
                    "Ki" => 1 << 10,
                    "Mi" => 1 << 20,
                    "Gi" => 1 << 30,
                    "Ti" => 1 << 40,
                    "k" => 1_000,
                    "M" => 1_000_000,
                    "G" => 1_000_000_000,
                    _ => return None,
                };
                (&text[..at], unit)
            }
        };
    let bytes = digits.parse::<u64>().ok()?.checked_mul(per_unit)?;
    Some(bytes.div_ceil(1 << 20))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pairs: &[(&str, &str)]) -> SparkConf {
        let mut c = SparkConf::default();
        for (k, v) in pairs {
            c.set(*k, *v);
        }
        c
    }

    fn v(s: &str) -> SparkVersion {
        SparkVersion::parse("spec.sparkVersion", s).expect("version")
    }

    #[test]
    fn quantities() {
        assert_eq!(millicores_of("2"), Some(2000));
        assert_eq!(millicores_of("0.5"), Some(500));
        assert_eq!(millicores_of("250m"), Some(250));
        assert_eq!(millicores_of("x"), None);
        assert_eq!(mib_of("1408Mi"), Some(1408));
        assert_eq!(mib_of("2Gi"), Some(2048));
        assert_eq!(mib_of("1048577"), Some(2));
        assert_eq!(mib_of("1Pi"), None);
    }

    #[test]
    fn executors_spark_starts_with() {
        assert_eq!(initial_executors(&conf(&[])), 2);
        assert_eq!(
            initial_executors(&conf(&[("spark.executor.instances", "5")])),
            5
        );
        let dynamic = conf(&[
            ("spark.dynamicAllocation.enabled", "true"),
            ("spark.dynamicAllocation.minExecutors", "1"),
            ("spark.dynamicAllocation.initialExecutors", "3"),
        ]);
        assert_eq!(initial_executors(&dynamic), 3);
    }

    #[test]
    fn executor_memory_with_overhead_off_heap_and_pyspark() {
        // 512m heap: the 384 MiB floor.
        let small = conf(&[("spark.executor.memory", "512m")]);
        assert_eq!(executor_memory_mib(v("4.0.0"), &small, false), Ok(896));
        // 4g heap: 10 % overhead; 40 % for Python.
        let big = conf(&[("spark.executor.memory", "4g")]);
        assert_eq!(executor_memory_mib(v("3.5.0"), &big, false), Ok(4096 + 409));
        assert_eq!(executor_memory_mib(v("3.5.0"), &big, true), Ok(4096 + 1638));
        let extras = conf(&[
            ("spark.executor.memory", "1g"),
            ("spark.executor.memoryOverhead", "100m"),
            ("spark.memory.offHeap.enabled", "true"),
            ("spark.memory.offHeap.size", "256m"),
            ("spark.executor.pyspark.memory", "128m"),
        ]);
        assert_eq!(
            executor_memory_mib(v("4.0.0"), &extras, true),
            Ok(1024 + 100 + 256 + 128)
        );
        let bad = conf(&[("spark.executor.memory", "1Gi")]);
        assert!(executor_memory_mib(v("4.0.0"), &bad, false).is_err());
    }

    #[test]
    fn group_for_the_application() {
        let mut app = SparkApplication::new("pi", Default::default());
        app.metadata.uid = Some("u-1".into());
        app.spec.batch_scheduler = Some("coscheduler".into());
        let driver: Pod = serde_json::from_value(serde_json::json!({
            "spec": {"containers": [{"name": "spark-kubernetes-driver",
                "resources": {"requests": {"cpu": "1", "memory": "896Mi"}}}]}
        }))
        .expect("pod");
        let props = conf(&[
            ("spark.executor.instances", "2"),
            ("spark.executor.cores", "2"),
            ("spark.executor.memory", "512m"),
        ]);
        let group = pod_group(&app, "ns", v("4.0.0"), &driver, &props, false).expect("group");
        assert_eq!(group.metadata.name.as_deref(), Some("pi-pg"));
        assert_eq!(group.spec.min_member, 1);
        assert_eq!(group.spec.min_resources["cpu"].0, "5000m");
        assert_eq!(
            group.spec.min_resources["memory"].0,
            format!("{}Mi", 896 * 3)
        );
        let owner = &group.metadata.owner_references.as_ref().expect("owner")[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("SparkApplication", "u-1")
        );
        let json = serde_json::to_value(&group).expect("json");
        assert_eq!(json["apiVersion"], "scheduling.x-k8s.io/v1alpha1");
        assert_eq!(json["kind"], "PodGroup");

        // Resources given in the options win.
        app.spec.batch_scheduler_options =
            Some(sparkplane_api::v1beta2::BatchSchedulerConfiguration {
                resources: Some(BTreeMap::from([("cpu".into(), Quantity("3".into()))])),
                ..Default::default()
            });
        let group = pod_group(&app, "ns", v("4.0.0"), &driver, &props, false).expect("group");
        assert_eq!(
            group.spec.min_resources,
            BTreeMap::from([("cpu".into(), Quantity("3".into()))])
        );
    }

    #[test]
    fn members_are_labelled_and_scheduled_by_the_coscheduler() {
        let mut driver = Pod::default();
        let mut template = PodTemplateSpec::default();
        join_group(&mut driver, &mut template, "pi-pg", "coscheduler");
        for labels in [
            driver.metadata.labels,
            template.metadata.and_then(|m| m.labels),
        ] {
            assert_eq!(labels.expect("labels")[POD_GROUP_LABEL], "pi-pg");
        }
        for spec in [driver.spec, template.spec] {
            assert_eq!(
                spec.and_then(|s| s.scheduler_name).as_deref(),
                Some("coscheduler")
            );
        }
    }

    #[test]
    fn only_the_schedulers_the_operator_was_given() {
        let names = vec!["coscheduler".to_owned()];
        let with = |scheduler: Option<&str>| {
            let mut app = SparkApplication::new("pi", Default::default());
            app.spec.batch_scheduler = scheduler.map(str::to_owned);
            app
        };
        assert_eq!(scheduler(&with(None), &names), Ok(None));
        assert_eq!(scheduler(&with(Some("workload")), &names), Ok(None));
        let coscheduled = with(Some("coscheduler"));
        assert_eq!(scheduler(&coscheduled, &names), Ok(Some("coscheduler")));
        let refused = scheduler(&with(Some("kube-scheduler")), &names).expect_err("refused");
        assert!(
            refused
                .to_string()
                .starts_with("spec.batchScheduler: \"kube-scheduler\" is neither"),
            "{refused}"
        );
        assert!(refused.to_string().ends_with(": coscheduler)"), "{refused}");
    }
}
