//! How the operator keeps SparkApplications in memory: what it reads of their metadata, the spec as
//! compact JSON, the status as it is. The typed spec (Kubeflow's API, every field an inline option:
//! about 5.7 KB however little is set) is rebuilt from the JSON only while a decision is taken, so ten
//! thousand applications held take a few kilobytes each, not tens. The status' conditions are kept
//! as one short string of what the next status write needs of them (see [`pack_conditions`]).

use std::borrow::Cow;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
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
    /// The status without its conditions, which are in `conditions`.
    pub status: Option<SparkApplicationStatus>,
    conditions: Option<Box<str>>,
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
        let mut status = app.status;
        let conditions = status
            .as_mut()
            .and_then(|s| s.conditions.take())
            .map(|all| pack_conditions(&all));
        CachedApp {
            metadata,
            spec: spec.into(),
            status,
            conditions,
        }
    }
}

impl From<CachedApp> for SparkApplication {
    fn from(cached: CachedApp) -> Self {
        // A cached spec is one this type serialised; an empty spec stands in were it ever not.
        let spec = cached.spec().unwrap_or_default();
        let status = cached.status_with_conditions();
        SparkApplication {
            metadata: cached.metadata,
            spec,
            status,
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
            status: self.status_with_conditions(),
        })
    }

    fn status_with_conditions(&self) -> Option<SparkApplicationStatus> {
        let mut status = self.status.clone()?;
        status.conditions = self.conditions.as_deref().map(unpack_conditions);
        Some(status)
    }

    /// Bytes held for the spec (for the memory estimate in tests and logs).
    pub fn spec_len(&self) -> usize {
        self.spec.len()
    }
}

/// Conditions as `<type>=<1|0>@<unix seconds of the last transition>`, comma-separated: about 20
/// bytes each where the typed ones take hundreds. Reason, message and observed generation are left
/// out: the next status write derives them anew (lifecycle::conditions). A type that could not be
/// read back is left out too.
fn pack_conditions(conditions: &[Condition]) -> Box<str> {
    conditions
        .iter()
        .filter(|c| !c.type_.contains([',', '=', '@']))
        .map(|c| {
            let status = u8::from(c.status == "True");
            let at = c.last_transition_time.0.as_second();
            format!("{}={status}@{at}", c.type_)
        })
        .collect::<Vec<_>>()
        .join(",")
        .into()
}

fn unpack_conditions(packed: &str) -> Vec<Condition> {
    packed
        .split(',')
        .filter_map(|one| {
            let (kind, rest) = one.split_once('=')?;
            let (status, at) = rest.split_once('@')?;
            let at = jiff::Timestamp::from_second(at.parse().ok()?).ok()?;
            Some(Condition {
                type_: kind.to_owned(),
                status: if status == "1" { "True" } else { "False" }.to_owned(),
                last_transition_time: Time(at),
                reason: String::new(),
                message: String::new(),
                observed_generation: None,
            })
        })
        .collect()
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

    #[test]
    fn conditions_keep_type_status_and_transition_time_in_a_few_bytes() {
        let mut app = spark_pi();
        let at = |s: i64| Time(jiff::Timestamp::from_second(s).expect("time"));
        let condition = |kind: &str, status: &str, seconds: i64| Condition {
            type_: kind.into(),
            status: status.into(),
            reason: "Running".into(),
            message: "the application is RUNNING".into(),
            observed_generation: Some(3),
            last_transition_time: at(seconds),
        };
        app.status = Some(SparkApplicationStatus {
            conditions: Some(vec![
                condition("Submitted", "True", 1_700_000_000),
                condition("Completed", "False", 1_700_000_010),
            ]),
            ..SparkApplicationStatus::default()
        });
        let cached = CachedApp::from(app);
        assert!(cached.conditions.as_deref().is_some_and(|c| c.len() < 60));
        let back = cached.app().expect("decodes");
        let conditions = back.status.and_then(|s| s.conditions).expect("conditions");
        let kept: Vec<(&str, &str, Time)> = conditions
            .iter()
            .map(|c| {
                (
                    c.type_.as_str(),
                    c.status.as_str(),
                    c.last_transition_time.clone(),
                )
            })
            .collect();
        assert_eq!(
            kept,
            [
                ("Submitted", "True", at(1_700_000_000)),
                ("Completed", "False", at(1_700_000_010))
            ]
        );
    }
}
