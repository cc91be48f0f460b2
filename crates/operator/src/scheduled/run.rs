//! The SparkApplication of one run, built from the schedule's template. Pure.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use sparkplane_api::{ScheduledSparkApplication, SparkApplication};

/// The label naming a run's schedule (Kubeflow's).
pub const LABEL_SCHEDULED_APP_NAME: &str = "sparkoperator.k8s.io/scheduled-app-name";

/// Why a run cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("the ScheduledSparkApplication has no {0}; it was not read from the API server")]
    Missing(&'static str),
}

/// The run named `name`: the template as its spec, the schedule's labels plus
/// `sparkoperator.k8s.io/scheduled-app-name`, and the schedule as owner, so deleting the schedule
/// lets the garbage collector delete its runs.
pub fn build(
    schedule: &ScheduledSparkApplication,
    name: &str,
) -> Result<SparkApplication, RunError> {
    let meta = &schedule.metadata;
    let schedule_name = meta.name.clone().ok_or(RunError::Missing("name"))?;
    let uid = meta.uid.clone().ok_or(RunError::Missing("uid"))?;
    let mut labels: BTreeMap<String, String> = meta.labels.clone().unwrap_or_default();
    labels.insert(LABEL_SCHEDULED_APP_NAME.into(), schedule_name.clone());
    Ok(SparkApplication {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: meta.namespace.clone(),
            labels: Some(labels),
            owner_references: Some(vec![OwnerReference {
                api_version: ScheduledSparkApplication::api_version(&()).into_owned(),
                kind: ScheduledSparkApplication::kind(&()).into_owned(),
                name: schedule_name,
                uid,
                block_owner_deletion: Some(true),
                controller: None,
            }]),
            ..ObjectMeta::default()
        },
        spec: schedule.spec.template.clone(),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparkplane_api::ScheduledSparkApplicationSpec;

    fn schedule() -> ScheduledSparkApplication {
        let mut schedule = ScheduledSparkApplication::new(
            "nightly",
            ScheduledSparkApplicationSpec {
                schedule: "@daily".into(),
                ..Default::default()
            },
        );
        schedule.spec.template.main_class = Some("org.apache.spark.examples.SparkPi".into());
        schedule.metadata.namespace = Some("jobs".into());
        schedule.metadata.uid = Some("0f1e2d3c".into());
        schedule.metadata.labels = Some(BTreeMap::from([("team".into(), "data".into())]));
        schedule
    }

    #[test]
    fn a_run_is_the_template_owned_and_labelled() {
        let run = build(&schedule(), "nightly-1735689600").expect("run");
        assert_eq!(run.metadata.name.as_deref(), Some("nightly-1735689600"));
        assert_eq!(run.metadata.namespace.as_deref(), Some("jobs"));
        assert_eq!(
            run.metadata.labels,
            Some(BTreeMap::from([
                ("team".into(), "data".into()),
                (LABEL_SCHEDULED_APP_NAME.into(), "nightly".into()),
            ]))
        );
        let owners = run.metadata.owner_references.expect("owner");
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].api_version, "sparkoperator.k8s.io/v1beta2");
        assert_eq!(owners[0].kind, "ScheduledSparkApplication");
        assert_eq!(owners[0].name, "nightly");
        assert_eq!(owners[0].uid, "0f1e2d3c");
        assert_eq!(owners[0].block_owner_deletion, Some(true));
        assert_eq!(run.spec, schedule().spec.template);
        assert_eq!(run.status, None);
    }

    #[test]
    fn a_schedule_never_stored_has_no_runs() {
        let mut schedule = schedule();
        schedule.metadata.uid = None;
        assert_eq!(build(&schedule, "nightly-1"), Err(RunError::Missing("uid")));
    }
}
