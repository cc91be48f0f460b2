//! `spec.batchScheduler`: which scheduler places the pods of an application, and what it needs
//! from the submission (objects applied before the driver, labels, annotations, scheduler names).
//!
//! - `workload`: Kubernetes' Workload API gangs the executors of each run ([`workload`]).
//! - `volcano`: a Volcano PodGroup and its annotations, as Kubeflow's Volcano integration ([`volcano`]).
//! - `yunikorn`: YuniKorn's task groups in annotations, as Kubeflow's YuniKorn integration ([`yunikorn`]).
//! - any name the operator was given with `--kube-scheduler-names`: the scheduler-plugins'
//!   Coscheduling PodGroup, as Kubeflow's kube-scheduler integration ([`coscheduling`]).

/// `k8s_openapi::Resource` and `Metadata` for a scheduler's namespaced custom resource, so the
/// operator's typed client handles it like the built-in kinds.
macro_rules! namespaced_resource {
    ($ty:ty, $group:literal, $version:literal, $kind:literal, $plural:literal) => {
        impl k8s_openapi::Resource for $ty {
            const API_VERSION: &'static str = concat!($group, "/", $version);
            const GROUP: &'static str = $group;
            const KIND: &'static str = $kind;
            const VERSION: &'static str = $version;
            const URL_PATH_SEGMENT: &'static str = $plural;
            type Scope = k8s_openapi::NamespaceResourceScope;
        }

        impl k8s_openapi::Metadata for $ty {
            type Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
            fn metadata(&self) -> &Self::Ty {
                &self.metadata
            }
            fn metadata_mut(&mut self) -> &mut Self::Ty {
                &mut self.metadata
            }
        }
    };
}

pub mod coscheduling;
pub mod requests;
pub mod volcano;
pub mod workload;
pub mod yunikorn;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sparkplane_api::SparkApplication;
use sparkplane_api::v1beta2::{
    BATCH_SCHEDULER_VOLCANO, BATCH_SCHEDULER_WORKLOAD, BATCH_SCHEDULER_YUNIKORN,
};
use thiserror::Error;

use crate::identity::{LABEL_APP_NAME, LABEL_LAUNCHED_BY};
use crate::memory::MemoryError;
use crate::properties::SparkConf;
use crate::template::Role;
use crate::version::SparkVersion;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum BatchError {
    #[error(
        "spec.batchScheduler: {name:?} is neither workload, volcano, yunikorn nor a scheduler this operator was given for coscheduling (--kube-scheduler-names, the chart's controller.batchScheduler.kubeSchedulerNames: {configured})"
    )]
    UnknownScheduler { name: String, configured: String },
    #[error(transparent)]
    Memory(#[from] MemoryError),
}

/// The batch scheduler an application asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchScheduler<'a> {
    /// Unset: the pods' own `schedulerName`.
    Default,
    Workload,
    Volcano,
    YuniKorn,
    /// The scheduler-plugins' Coscheduling in the named scheduler.
    Coscheduling(&'a str),
}

impl<'a> BatchScheduler<'a> {
    /// What `spec.batchScheduler` names; a name that is none of the built-in ones must be one of
    /// `kube_scheduler_names`.
    pub fn of(
        app: &'a SparkApplication,
        kube_scheduler_names: &[String],
    ) -> Result<BatchScheduler<'a>, BatchError> {
        Ok(match app.spec.batch_scheduler.as_deref() {
            None | Some("") => BatchScheduler::Default,
            Some(BATCH_SCHEDULER_WORKLOAD) => BatchScheduler::Workload,
            Some(BATCH_SCHEDULER_VOLCANO) => BatchScheduler::Volcano,
            Some(BATCH_SCHEDULER_YUNIKORN) => BatchScheduler::YuniKorn,
            Some(name) if kube_scheduler_names.iter().any(|n| n == name) => {
                BatchScheduler::Coscheduling(name)
            }
            Some(name) => {
                return Err(BatchError::UnknownScheduler {
                    name: name.to_owned(),
                    configured: if kube_scheduler_names.is_empty() {
                        "none".to_owned()
                    } else {
                        kube_scheduler_names.join(", ")
                    },
                });
            }
        })
    }

    /// The `schedulerName` the driver and executors get: as Kubeflow's webhook does, the batch
    /// scheduler wins over the pods' own.
    pub fn scheduler_name(self) -> Option<&'a str> {
        match self {
            BatchScheduler::Default | BatchScheduler::Workload => None,
            BatchScheduler::Volcano => Some(BATCH_SCHEDULER_VOLCANO),
            BatchScheduler::YuniKorn => Some(BATCH_SCHEDULER_YUNIKORN),
            BatchScheduler::Coscheduling(name) => Some(name),
        }
    }
}

/// Marks the driver pod and the executor template for the application's batch scheduler before
/// Spark's steps run: its scheduler name, and the labels and annotations by which it finds the
/// pods' group.
pub fn mark_pods(
    batch: BatchScheduler<'_>,
    app: &SparkApplication,
    app_name: &str,
    driver: &mut Pod,
    executor_template: &mut PodTemplateSpec,
) {
    let executor_meta = executor_template
        .metadata
        .get_or_insert_with(Default::default);
    for (meta, role) in [
        (&mut driver.metadata, Role::Driver),
        (executor_meta, Role::Executor),
    ] {
        match batch {
            BatchScheduler::Coscheduling(_) => {
                coscheduling::join(meta, &coscheduling::group_name(app_name))
            }
            BatchScheduler::Volcano => volcano::join(meta, &volcano::group_name(app_name)),
            BatchScheduler::YuniKorn => yunikorn::join(meta, role, app),
            BatchScheduler::Default | BatchScheduler::Workload => {}
        }
    }
    if let Some(name) = batch.scheduler_name() {
        for spec in [
            driver.spec.get_or_insert_with(Default::default),
            executor_template.spec.get_or_insert_with(Default::default),
        ] {
            spec.scheduler_name = Some(name.to_owned());
        }
    }
}

/// The application-wide objects of a batch scheduler, made once the driver pod is built.
#[derive(Debug, Default)]
pub struct Groups {
    pub coscheduling: Option<coscheduling::CoschedulingPodGroup>,
    pub volcano: Option<volcano::VolcanoPodGroup>,
}

/// Sizes the application's room for its batch scheduler from the driver as built and the executors
/// Spark will start with: the coscheduling or Volcano PodGroup, or YuniKorn's task groups on the
/// driver pod (`properties` is the final `spark.properties`).
pub fn groups(
    batch: BatchScheduler<'_>,
    app: &SparkApplication,
    namespace: &str,
    version: SparkVersion,
    driver_pod: &mut Pod,
    properties: &SparkConf,
    non_jvm: bool,
) -> Result<Groups, BatchError> {
    let mut groups = Groups::default();
    if matches!(batch, BatchScheduler::Default | BatchScheduler::Workload) {
        return Ok(groups);
    }
    let application = requests::application(version, driver_pod, properties, non_jvm)?;
    match batch {
        BatchScheduler::Coscheduling(_) => {
            groups.coscheduling = Some(coscheduling::pod_group(app, namespace, application.total()))
        }
        BatchScheduler::Volcano => {
            groups.volcano = Some(volcano::pod_group(app, namespace, application.total()))
        }
        BatchScheduler::YuniKorn => {
            driver_pod
                .metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(
                    yunikorn::TASK_GROUPS_ANNOTATION.to_owned(),
                    yunikorn::task_groups(app, application),
                );
        }
        BatchScheduler::Default | BatchScheduler::Workload => {}
    }
    Ok(groups)
}

/// Metadata of a PodGroup the application owns (applied at each submission, deleted with it).
fn group_metadata(app: &SparkApplication, namespace: &str, name: String) -> ObjectMeta {
    let app_name = app.metadata.name.clone().unwrap_or_default();
    ObjectMeta {
        name: Some(name),
        namespace: Some(namespace.to_owned()),
        labels: Some(BTreeMap::from([
            (LABEL_LAUNCHED_BY.to_owned(), "true".to_owned()),
            (LABEL_APP_NAME.to_owned(), app_name),
        ])),
        owner_references: Some(vec![crate::identity::owner_reference(app, true)]),
        ..Default::default()
    }
}

/// `batchSchedulerOptions.resources` when given, otherwise what the application requests.
fn min_resources(
    app: &SparkApplication,
    application: requests::Requests,
) -> BTreeMap<String, Quantity> {
    app.spec
        .batch_scheduler_options
        .as_ref()
        .and_then(|o| o.resources.clone())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| application.quantities())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(scheduler: Option<&str>) -> SparkApplication {
        let mut app = SparkApplication::new("pi", Default::default());
        app.spec.batch_scheduler = scheduler.map(str::to_owned);
        app
    }

    #[test]
    fn built_in_schedulers_and_the_ones_the_operator_was_given() {
        let names = vec!["coscheduler".to_owned()];
        let of = |app: &SparkApplication| {
            BatchScheduler::of(app, &names)
                .map(|s| (format!("{s:?}"), s.scheduler_name().map(str::to_owned)))
        };
        assert_eq!(of(&with(None)), Ok(("Default".into(), None)));
        assert_eq!(of(&with(Some(""))), Ok(("Default".into(), None)));
        assert_eq!(of(&with(Some("workload"))), Ok(("Workload".into(), None)));
        assert_eq!(
            of(&with(Some("volcano"))),
            Ok(("Volcano".into(), Some("volcano".into())))
        );
        assert_eq!(
            of(&with(Some("yunikorn"))),
            Ok(("YuniKorn".into(), Some("yunikorn".into())))
        );
        assert_eq!(
            of(&with(Some("coscheduler"))),
            Ok((
                "Coscheduling(\"coscheduler\")".into(),
                Some("coscheduler".into())
            ))
        );
        let refused = of(&with(Some("kube-scheduler"))).expect_err("refused");
        let text = refused.to_string();
        assert!(
            text.starts_with("spec.batchScheduler: \"kube-scheduler\" is neither"),
            "{text}"
        );
        assert!(text.ends_with(": coscheduler)"), "{text}");
        let none = BatchScheduler::of(&with(Some("x")), &[]).expect_err("refused");
        assert!(none.to_string().ends_with(": none)"), "{none}");
    }
}
