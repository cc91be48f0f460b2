//! Native gang scheduling (`spec.batchScheduler: workload`) through Kubernetes' Workload API
//! (`scheduling.k8s.io/v1alpha2`, alpha in 1.36 behind the `GenericWorkload` and `GangScheduling`
//! feature gates).
//!
//! A Spark application cannot be one gang: the driver has to run before it asks for executors. So
//! the gang is the executors. Each submission gets a PodGroup with a gang policy, owned by its driver
//! pod, and the executor pod template names it in `spec.schedulingGroup`; kube-scheduler then places
//! the gang's first `minCount` executors together or none of them, so two applications competing for
//! room never both end up with part of their executors.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PodSchedulingGroup, PodTemplateSpec};
use k8s_openapi::api::scheduling::v1alpha2::{
    GangSchedulingPolicy, PodGroup, PodGroupSchedulingPolicy, PodGroupSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sparkplane_api::SparkApplication;

use super::requests::{SPARK_DEFAULT_EXECUTORS, conf_number, dynamic_allocation};
use crate::identity::{LABEL_APP_NAME, LABEL_LAUNCHED_BY, LABEL_SUBMISSION_ID};
use crate::names;
use crate::properties::SparkConf;

/// How many executors must be placed together, read from the final `spark.properties` so a count
/// set through `sparkConf` counts too. Static allocation: every executor. Dynamic allocation: its
/// floor (`minExecutors`, at least 1), the count Spark never goes below; a larger gang could wait
/// forever once Spark scales down and then asks for fewer executors than the gang's size.
/// `None`: no executors, no gang.
pub fn min_count(properties: &SparkConf) -> Option<i32> {
    let count = if dynamic_allocation(properties) {
        conf_number(properties, "spark.dynamicAllocation.minExecutors")
            .unwrap_or(0)
            .max(1)
    } else {
        conf_number(properties, "spark.executor.instances")
            .unwrap_or(i32::from(SPARK_DEFAULT_EXECUTORS))
    };
    (count > 0).then_some(count)
}

/// The executors' PodGroup of one submission of a `workload` application, named after the
/// submission's resource prefix (pods link to a group by name, and a group's policy cannot
/// change, so every submission gets its own). The driver pod becomes its owner once it exists.
pub fn executor_group(
    app: &SparkApplication,
    namespace: &str,
    resource_prefix: &str,
    submission_id: &str,
    properties: &SparkConf,
) -> Option<PodGroup> {
    let min_count = min_count(properties)?;
    Some(PodGroup {
        metadata: ObjectMeta {
            name: Some(names::fit(&format!("{resource_prefix}-executors"), 63)),
            namespace: Some(namespace.to_owned()),
            labels: Some(BTreeMap::from([
                (LABEL_LAUNCHED_BY.to_owned(), "true".to_owned()),
                (
                    LABEL_APP_NAME.to_owned(),
                    app.metadata.name.clone().unwrap_or_default(),
                ),
                (LABEL_SUBMISSION_ID.to_owned(), submission_id.to_owned()),
            ])),
            ..Default::default()
        },
        spec: PodGroupSpec {
            scheduling_policy: PodGroupSchedulingPolicy {
                gang: Some(GangSchedulingPolicy { min_count }),
                ..Default::default()
            },
            ..Default::default()
        },
        status: None,
    })
}

/// Makes every executor Spark creates from `template` a member of `group`.
pub fn link_executors(template: &mut PodTemplateSpec, group: &PodGroup) {
    template
        .spec
        .get_or_insert_with(Default::default)
        .scheduling_group = Some(PodSchedulingGroup {
        pod_group_name: group.metadata.name.clone(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pairs: &[(&str, &str)]) -> SparkConf {
        pairs.iter().copied().collect()
    }

    fn app(scheduler: Option<&str>) -> SparkApplication {
        let mut app = SparkApplication::new("pi", Default::default());
        app.spec.batch_scheduler = scheduler.map(str::to_owned);
        app
    }

    #[test]
    fn static_allocation_gangs_every_executor() {
        assert_eq!(
            min_count(&conf(&[("spark.executor.instances", "5")])),
            Some(5)
        );
        assert_eq!(
            min_count(&conf(&[])),
            Some(i32::from(SPARK_DEFAULT_EXECUTORS))
        );
        assert_eq!(min_count(&conf(&[("spark.executor.instances", "0")])), None);
    }

    #[test]
    fn dynamic_allocation_gangs_its_floor() {
        let dynamic = |min: Option<&str>| {
            let mut pairs = vec![
                ("spark.dynamicAllocation.enabled", "true"),
                ("spark.executor.instances", "8"),
            ];
            pairs.extend(min.map(|m| ("spark.dynamicAllocation.minExecutors", m)));
            min_count(&conf(&pairs))
        };
        assert_eq!(dynamic(Some("3")), Some(3));
        assert_eq!(dynamic(Some("0")), Some(1));
        assert_eq!(dynamic(None), Some(1));
    }

    #[test]
    fn a_group_per_submission_linked_from_the_template() {
        let props = conf(&[("spark.executor.instances", "3")]);
        let group =
            executor_group(&app(Some("workload")), "ns", "pi-abc", "sid", &props).expect("a group");
        assert_eq!(group.metadata.name.as_deref(), Some("pi-abc-executors"));
        assert_eq!(group.metadata.namespace.as_deref(), Some("ns"));
        let labels = group.metadata.labels.clone().expect("labels");
        assert_eq!(labels[LABEL_APP_NAME], "pi");
        assert_eq!(labels[LABEL_SUBMISSION_ID], "sid");
        assert_eq!(
            group
                .spec
                .scheduling_policy
                .gang
                .as_ref()
                .map(|g| g.min_count),
            Some(3)
        );

        let mut template = PodTemplateSpec::default();
        link_executors(&mut template, &group);
        let linked = template.spec.and_then(|s| s.scheduling_group);
        assert_eq!(
            linked.and_then(|g| g.pod_group_name).as_deref(),
            Some("pi-abc-executors")
        );
    }

    #[test]
    fn a_long_prefix_still_gives_a_valid_name() {
        let prefix = "a".repeat(60);
        let props = conf(&[]);
        let group =
            executor_group(&app(Some("workload")), "ns", &prefix, "sid", &props).expect("a group");
        let name = group.metadata.name.expect("name");
        assert!(name.len() <= 63, "{name}");
        assert!(names::is_dns_subdomain(&name));
    }
}
