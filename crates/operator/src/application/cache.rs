//! How the operator keeps SparkApplications in memory: what it reads of their metadata, the spec as
//! compact JSON, the status as it is. The typed spec (Kubeflow's API, every field an inline option:
//! about 5.7 KB however little is set) is rebuilt from the JSON only while a decision is taken, so ten
//! thousand applications held take a few kilobytes each, not tens.

use std::borrow::Cow;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::core::NamespaceResourceScope;
use serde::{Deserialize, Serialize};
use sparkplane_api::{SparkApplication, SparkApplicationSpec, SparkApplicationStatus};

/// A SparkApplication as cached: decoded again with [`CachedApp::app`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "SparkApplication", into = "SparkApplication")]
pub struct CachedApp {
    pub metadata: ObjectMeta,
    /// The spec, serialised without its unset fields.
    spec: Arc<[u8]>,
    pub status: Option<SparkApplicationStatus>,
}

impl From<SparkApplication> for CachedApp {
    fn from(app: SparkApplication) -> Self {
        let mut metadata = app.metadata;
        // Never read, and often the largest part of an object.
        metadata.managed_fields = None;
        if let Some(annotations) = metadata.annotations.as_mut() {
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
        // Serialising a typed spec cannot fail (string keys only).
        let spec = serde_json::to_vec(&app.spec).unwrap_or_default();
        CachedApp {
            metadata,
            spec: spec.into(),
            status: app.status,
        }
    }
}

impl From<CachedApp> for SparkApplication {
    fn from(cached: CachedApp) -> Self {
        // A cached spec is one this type serialised; an empty spec stands in were it ever not.
        let spec = cached.spec().unwrap_or_default();
        SparkApplication {
            metadata: cached.metadata,
            spec,
            status: cached.status,
        }
    }
}

impl CachedApp {
    fn spec(&self) -> Result<SparkApplicationSpec, serde_json::Error> {
        serde_json::from_slice(&self.spec)
    }

    /// The whole application again, for a decision.
    pub fn app(&self) -> Result<SparkApplication, serde_json::Error> {
        Ok(SparkApplication {
            metadata: self.metadata.clone(),
            spec: self.spec()?,
            status: self.status.clone(),
        })
    }

    /// Bytes held for the spec (for the memory estimate in tests and logs).
    pub fn spec_len(&self) -> usize {
        self.spec.len()
    }
}

impl Resource for CachedApp {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        SparkApplication::kind(&())
    }

    fn group(_: &()) -> Cow<'_, str> {
        SparkApplication::group(&())
    }

    fn version(_: &()) -> Cow<'_, str> {
        SparkApplication::version(&())
    }

    fn plural(_: &()) -> Cow<'_, str> {
        SparkApplication::plural(&())
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spark_pi() -> SparkApplication {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
            "metadata": {
                "name": "pi", "namespace": "ns", "uid": "u-1", "resourceVersion": "7",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}", "team": "a"},
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
            },
            "spec": {
                "type": "Scala", "mode": "cluster", "image": "apache/spark:4.0.4",
                "mainClass": "org.apache.spark.examples.SparkPi",
                "mainApplicationFile": "local:///opt/spark/examples/jars/spark-examples.jar",
                "arguments": ["1000"], "sparkVersion": "4.0.4",
                "sparkConf": {"spark.eventLog.enabled": "false"},
                "restartPolicy": {"type": "OnFailure", "onFailureRetries": 3},
                "driver": {"cores": 1, "memory": "512m", "labels": {"version": "4.0.0"}},
                "executor": {"instances": 2, "cores": 1, "memory": "512m"},
            },
            "status": {"applicationState": {"state": "RUNNING"}, "submissionAttempts": 1},
        }))
        .expect("app")
    }

    #[test]
    fn the_cached_application_decodes_to_the_same_application_less_what_is_never_read() {
        let app = spark_pi();
        let cached = CachedApp::from(app.clone());
        let back = cached.app().expect("decodes");
        assert_eq!(back.spec, app.spec);
        assert_eq!(back.status, app.status);
        assert_eq!(back.metadata.managed_fields, None);
        assert_eq!(
            back.metadata.annotations,
            Some([("team".to_string(), "a".to_string())].into())
        );
        assert_eq!(back.metadata.resource_version.as_deref(), Some("7"));
    }

    #[test]
    fn a_cached_spec_is_far_smaller_than_the_typed_one() {
        let cached = CachedApp::from(spark_pi());
        assert!(
            cached.spec_len() < 1024,
            "{} bytes of JSON",
            cached.spec_len()
        );
        assert!(std::mem::size_of::<SparkApplicationSpec>() > 4 * 1024);
        assert!(std::mem::size_of::<CachedApp>() < 1024);
    }

    #[test]
    fn it_reads_and_writes_as_a_spark_application() {
        let cached = CachedApp::from(spark_pi());
        let json = serde_json::to_value(&cached).expect("serialises");
        assert_eq!(json["kind"], "SparkApplication");
        assert_eq!(json["spec"]["arguments"][0], "1000");
        let again: CachedApp = serde_json::from_value(json).expect("deserialises");
        assert_eq!(again.app().expect("decodes").spec, spark_pi().spec);
    }
}
