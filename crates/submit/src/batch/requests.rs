//! What the pods of an application will request, for the batch schedulers that reserve room for it
//! before it starts: the driver pod's own requests, and each executor's as Spark's
//! `ResourceProfile` and `BasicExecutorFeatureStep` will compute them from the final conf.
//!
//! Unlike Kubeflow, which parses Spark's memory strings as Kubernetes quantities (`512m` becomes
//! half a byte) for Volcano and kube-scheduler, these are what the pods will request.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::memory::{self, MemoryError};
use crate::properties::SparkConf;
use crate::steps::basic::field_of;
use crate::version::SparkVersion;

/// CPU and memory of one pod, or of several.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requests {
    pub millicores: u64,
    pub mib: u64,
}

impl Requests {
    pub fn plus(self, other: Requests) -> Requests {
        Requests {
            millicores: self.millicores.saturating_add(other.millicores),
            mib: self.mib.saturating_add(other.mib),
        }
    }

    pub fn times(self, count: u64) -> Requests {
        Requests {
            millicores: self.millicores.saturating_mul(count),
            mib: self.mib.saturating_mul(count),
        }
    }

    /// `cpu` in whole cores when it is whole (`2`, `1500m`), `memory` in MiB (`896Mi`).
    pub fn quantities(self) -> BTreeMap<String, Quantity> {
        let cpu = if self.millicores.is_multiple_of(1000) {
            (self.millicores / 1000).to_string()
        } else {
            format!("{}m", self.millicores)
        };
        BTreeMap::from([
            ("cpu".to_owned(), Quantity(cpu)),
            ("memory".to_owned(), Quantity(format!("{}Mi", self.mib))),
        ])
    }
}

/// The requests of the driver pod's containers (the Spark container and any sidecars).
pub fn driver(pod: &Pod) -> Requests {
    pod.spec
        .iter()
        .flat_map(|s| &s.containers)
        .filter_map(|c| c.resources.as_ref()?.requests.as_ref())
        .map(|r| Requests {
            millicores: r.get("cpu").and_then(|q| millicores_of(&q.0)).unwrap_or(0),
            mib: r.get("memory").and_then(|q| mib_of(&q.0)).unwrap_or(0),
        })
        .fold(Requests::default(), Requests::plus)
}

/// One executor: `spark.kubernetes.executor.request.cores` or `spark.executor.cores` (1), and
/// its container memory.
pub fn executor(
    version: SparkVersion,
    properties: &SparkConf,
    non_jvm: bool,
) -> Result<Requests, MemoryError> {
    let millicores = properties
        .get("spark.kubernetes.executor.request.cores")
        .and_then(millicores_of)
        .or_else(|| {
            properties
                .get("spark.executor.cores")
                .and_then(|c| c.trim().parse::<u64>().ok())
                .map(|c| c.saturating_mul(1000))
        })
        .unwrap_or(1000);
    Ok(Requests {
        millicores,
        mib: executor_memory_mib(version, properties, non_jvm)?,
    })
}

/// What an application asks for when it starts: its driver, and `executors` executors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Application {
    pub driver: Requests,
    pub executor: Requests,
    pub executors: u64,
}

impl Application {
    /// The driver and all its first executors together.
    pub fn total(self) -> Requests {
        self.driver.plus(self.executor.times(self.executors))
    }
}

/// The driver as built and the executors Spark starts with.
pub fn application(
    version: SparkVersion,
    driver_pod: &Pod,
    properties: &SparkConf,
    non_jvm: bool,
) -> Result<Application, MemoryError> {
    Ok(Application {
        driver: driver(driver_pod),
        executor: executor(version, properties, non_jvm)?,
        executors: initial_executors(properties),
    })
}

/// Spark's executor count when `spark.executor.instances` is not set
/// (`SchedulerBackendUtils.DEFAULT_NUMBER_EXECUTORS`).
pub const SPARK_DEFAULT_EXECUTORS: u16 = 2;

/// The executors Spark asks for first: `spark.executor.instances` (Spark's default 2), or with
/// dynamic allocation the largest of the initial, minimum and instance counts, as Spark's
/// `getDynamicAllocationInitialExecutors` does.
pub fn initial_executors(properties: &SparkConf) -> u64 {
    if dynamic_allocation(properties) {
        [
            "spark.dynamicAllocation.initialExecutors",
            "spark.dynamicAllocation.minExecutors",
            "spark.executor.instances",
        ]
        .into_iter()
        .filter_map(|key| conf_number(properties, key))
        .max()
        .unwrap_or(0)
    } else {
        conf_number(properties, "spark.executor.instances")
            .unwrap_or(SPARK_DEFAULT_EXECUTORS.into())
    }
}

/// A number of the conf, as Spark parses it (trimmed).
pub(super) fn conf_number<T: std::str::FromStr>(properties: &SparkConf, key: &str) -> Option<T> {
    properties.get(key).and_then(|v| v.trim().parse().ok())
}

/// Whether Spark scales the executors itself.
pub(super) fn dynamic_allocation(properties: &SparkConf) -> bool {
    properties
        .get("spark.dynamicAllocation.enabled")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
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
        pairs.iter().copied().collect()
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
        let whole = Requests {
            millicores: 3000,
            mib: 896,
        };
        assert_eq!(whole.quantities()["cpu"].0, "3");
        assert_eq!(whole.quantities()["memory"].0, "896Mi");
        let part = Requests {
            millicores: 1500,
            mib: 1,
        };
        assert_eq!(part.quantities()["cpu"].0, "1500m");
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
        let error = executor_memory_mib(v("4.0.0"), &bad, false).expect_err("1Gi");
        assert!(
            error.to_string().starts_with("spec.executor.memory:"),
            "{error}"
        );
    }

    #[test]
    fn the_application_is_its_driver_and_first_executors() {
        let driver_pod: Pod = serde_json::from_value(serde_json::json!({
            "spec": {"containers": [
                {"name": "spark-kubernetes-driver",
                    "resources": {"requests": {"cpu": "1", "memory": "896Mi"}}},
                {"name": "sidecar", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}
            ]}
        }))
        .expect("pod");
        let props = conf(&[
            ("spark.executor.instances", "2"),
            ("spark.executor.cores", "2"),
            ("spark.executor.memory", "512m"),
        ]);
        let application = application(v("4.0.0"), &driver_pod, &props, false).expect("sizes");
        assert_eq!(
            (application.driver, application.executors),
            (
                Requests {
                    millicores: 1100,
                    mib: 896 + 64
                },
                2
            )
        );
        assert_eq!(
            application.total(),
            Requests {
                millicores: 1100 + 2 * 2000,
                mib: 896 + 64 + 2 * 896
            }
        );
    }
}
