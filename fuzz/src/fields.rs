//! Structured inputs: a valid SparkApplication whose fields the fuzzer sets. Raw text rarely gets past
//! the YAML parser; this reaches validation, defaulting and every step of the plan.

use arbitrary::Unstructured;
use serde_json::{Map, Value, json};

/// How a field is filled.
#[derive(Clone, Copy)]
enum Fill {
    Text,
    Number,
    Flag,
    Strings,
    List,
}

/// The fields the fuzzer edits.
const FIELDS: &[(&str, Fill)] = &[
    ("metadata.name", Fill::Text),
    ("metadata.namespace", Fill::Text),
    ("metadata.labels", Fill::Strings),
    ("spec.sparkVersion", Fill::Text),
    ("spec.image", Fill::Text),
    ("spec.mainClass", Fill::Text),
    ("spec.mainApplicationFile", Fill::Text),
    ("spec.arguments", Fill::List),
    ("spec.sparkConf", Fill::Strings),
    ("spec.hadoopConf", Fill::Strings),
    ("spec.nodeSelector", Fill::Strings),
    ("spec.batchScheduler", Fill::Text),
    ("spec.batchSchedulerOptions.queue", Fill::Text),
    ("spec.memoryOverheadFactor", Fill::Text),
    ("spec.pythonVersion", Fill::Text),
    ("spec.timeToLiveSeconds", Fill::Number),
    ("spec.driverPodDisruptionBudget", Fill::Flag),
    ("spec.driver.memory", Fill::Text),
    ("spec.driver.memoryOverhead", Fill::Text),
    ("spec.driver.cores", Fill::Number),
    ("spec.driver.coreLimit", Fill::Text),
    ("spec.driver.coreRequest", Fill::Text),
    ("spec.driver.podName", Fill::Text),
    ("spec.driver.serviceAccount", Fill::Text),
    ("spec.driver.priorityClassName", Fill::Text),
    ("spec.driver.labels", Fill::Strings),
    ("spec.driver.annotations", Fill::Strings),
    ("spec.driver.serviceLabels", Fill::Strings),
    ("spec.driver.serviceAnnotations", Fill::Strings),
    ("spec.driver.nodeSelector", Fill::Strings),
    ("spec.driver.envVars", Fill::Strings),
    ("spec.executor.instances", Fill::Number),
    ("spec.executor.cores", Fill::Number),
    ("spec.executor.memory", Fill::Text),
    ("spec.executor.coreRequest", Fill::Text),
    ("spec.executor.labels", Fill::Strings),
    ("spec.executor.annotations", Fill::Strings),
    ("spec.executor.deleteOnTermination", Fill::Flag),
    ("spec.dynamicAllocation.enabled", Fill::Flag),
    ("spec.dynamicAllocation.initialExecutors", Fill::Number),
    ("spec.dynamicAllocation.minExecutors", Fill::Number),
    ("spec.dynamicAllocation.maxExecutors", Fill::Number),
    ("spec.sparkUIOptions.servicePort", Fill::Number),
    ("spec.sparkUIOptions.serviceLabels", Fill::Strings),
    ("spec.monitoring.exposeDriverMetrics", Fill::Flag),
    ("spec.monitoring.prometheus.port", Fill::Number),
    ("spec.restartPolicy.type", Fill::Text),
    ("spec.restartPolicy.onFailureRetries", Fill::Number),
];

/// Values worth trying more often than random text: Spark's sizes and versions, names at and past
/// the limits, the keys the operator owns, Kubernetes' own prefixes.
const WORDS: &[&str] = &[
    "",
    "a",
    "pi",
    "UPPER",
    "a.b",
    "a/b",
    "-x",
    "x-",
    "é",
    "ñame-ünïcode",
    "512m",
    "1g",
    "1gg",
    "2048kb",
    "0",
    "-1",
    "1.5",
    "500m",
    "4.0.4",
    "3.5.9",
    "4.3.0",
    "2.4.8",
    "latest",
    "workload",
    "volcano",
    "Never",
    "OnFailure",
    "Always",
    "apache/spark:4.0.4",
    "local:///opt/spark/examples/jars/spark-examples.jar",
    "org.apache.spark.examples.SparkPi",
    "sparkoperator.k8s.io/app-name",
    "spark-role",
    "spark-app-selector",
    "kubernetes.io/hostname",
    "spark.kubernetes.namespace",
    "spark.executor.instances",
    "spark.dynamicAllocation.enabled",
    "spark.dynamicAllocation.minExecutors",
    "spark.app.name",
    "spark.ui.port",
    "spark.kubernetes.driver.pod.name",
    "spark.kubernetes.driver.volumes.hostPath.data.mount.path",
    "spark.kubernetes.driver.volumes.persistentVolumeClaim.x.options.claimName",
    "spark.kubernetes.executor.podNamePrefix",
    "OnDemand",
    "/data",
    "{{$appName}}",
    "0123456789012345678901234567890123456789012345678901234567890123",
    "a012345678901234567890123456789012345678901234567890123456789012",
];

/// Builds the application the bytes describe and checks it like any manifest.
pub fn check(data: &[u8]) -> Result<(), String> {
    let mut u = Unstructured::new(data);
    let Ok(manifest) = manifest(&mut u) else {
        return Ok(());
    };
    let text = serde_json::to_string(&manifest).map_err(|e| e.to_string())?;
    crate::check_manifest(&text)
}

fn manifest(u: &mut Unstructured<'_>) -> arbitrary::Result<Value> {
    let mut manifest = json!({
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {"name": "spark-pi", "namespace": "jobs", "uid": "3f1c2a4e-0000-4000-8000-000000000001"},
        "spec": {
            "type": "Scala",
            "mode": "cluster",
            "image": "apache/spark:4.0.4",
            "sparkVersion": "4.0.4",
            "mainClass": "org.apache.spark.examples.SparkPi",
            "mainApplicationFile": "local:///opt/spark/examples/jars/spark-examples.jar",
            "driver": {"cores": 1, "memory": "512m", "serviceAccount": "spark"},
            "executor": {"instances": 2, "cores": 1, "memory": "512m"}
        }
    });
    let edits = u.int_in_range(1..=8)?;
    for _ in 0..edits {
        let (path, fill) = *u.choose(FIELDS)?;
        let value = match fill {
            Fill::Text => json!(text(u)?),
            Fill::Number => json!(u.int_in_range(-2..=70_000)?),
            Fill::Flag => json!(u.arbitrary::<bool>()?),
            Fill::List => json!(
                (0..u.int_in_range(0..=3)?)
                    .map(|_| text(u))
                    .collect::<arbitrary::Result<Vec<_>>>()?
            ),
            Fill::Strings => {
                let mut map = Map::new();
                for _ in 0..u.int_in_range(0..=4)? {
                    map.insert(text(u)?, json!(text(u)?));
                }
                Value::Object(map)
            }
        };
        set(&mut manifest, path, value);
    }
    Ok(manifest)
}

/// A word from [`WORDS`], or text of the fuzzer's own.
fn text(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    if u.ratio(2, 3)? {
        Ok((*u.choose(WORDS)?).to_owned())
    } else {
        u.arbitrary::<String>()
    }
}

fn set(root: &mut Value, path: &str, value: Value) {
    let mut at = root;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if !at.is_object() {
            *at = json!({});
        }
        let Some(object) = at.as_object_mut() else {
            return;
        };
        if parts.peek().is_none() {
            object.insert(part.to_owned(), value);
            return;
        }
        at = object.entry(part).or_insert_with(|| json!({}));
    }
}
