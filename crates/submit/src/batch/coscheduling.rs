//! Coscheduling with the scheduler-plugins' `Coscheduling` plugin, Kubeflow's kube-scheduler
//! integration: `spec.batchScheduler` names one of the schedulers the operator was given
//! (`--kube-scheduler-names`), and the driver and executors are scheduled by it.
//!
//! The application gets a `scheduling.x-k8s.io/v1alpha1` PodGroup `<app>-pg` with `minMember: 1` and
//! `minResources` covering the driver and its first executors; the driver and the executor template
//! carry the `scheduling.x-k8s.io/pod-group` label. The plugin then holds the driver back until the
//! cluster has the room for the whole application, so a driver never starts only to wait for
//! executors that cannot fit. The group is applied before the driver pod (a pod scheduled while its
//! group is missing is not held back) and owned by the application, like Kubeflow's.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use sparkplane_api::SparkApplication;

use super::requests::Requests;
use crate::names;

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

namespaced_resource!(
    CoschedulingPodGroup,
    "scheduling.x-k8s.io",
    "v1alpha1",
    "PodGroup",
    "podgroups"
);

/// The group's name, Kubeflow's `<app>-pg`, kept a valid label value.
pub fn group_name(app_name: &str) -> String {
    names::fit(&format!("{app_name}-pg"), 63)
}

/// Puts the driver and every executor into the group.
pub fn join(meta: &mut ObjectMeta, group: &str) {
    meta.labels
        .get_or_insert_with(Default::default)
        .insert(POD_GROUP_LABEL.to_owned(), group.to_owned());
}

/// The application's PodGroup: `batchSchedulerOptions.resources` when given, otherwise what the
/// driver and its first executors request.
pub fn pod_group(
    app: &SparkApplication,
    namespace: &str,
    application: Requests,
) -> CoschedulingPodGroup {
    let app_name = app.metadata.name.clone().unwrap_or_default();
    CoschedulingPodGroup {
        api_version: <CoschedulingPodGroup as k8s_openapi::Resource>::API_VERSION.to_owned(),
        kind: <CoschedulingPodGroup as k8s_openapi::Resource>::KIND.to_owned(),
        metadata: super::group_metadata(app, namespace, group_name(&app_name)),
        spec: CoschedulingPodGroupSpec {
            min_member: 1,
            min_resources: super::min_resources(app, application),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_for_the_application() {
        let mut app = SparkApplication::new("pi", Default::default());
        app.metadata.uid = Some("u-1".into());
        let requests = Requests {
            millicores: 5000,
            mib: 2688,
        };
        let group = pod_group(&app, "ns", requests);
        assert_eq!(group.metadata.name.as_deref(), Some("pi-pg"));
        assert_eq!(group.spec.min_member, 1);
        assert_eq!(group.spec.min_resources["cpu"].0, "5");
        assert_eq!(group.spec.min_resources["memory"].0, "2688Mi");
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
        let group = pod_group(&app, "ns", requests);
        assert_eq!(
            group.spec.min_resources,
            BTreeMap::from([("cpu".into(), Quantity("3".into()))])
        );
    }

    #[test]
    fn members_are_labelled() {
        let mut meta = ObjectMeta::default();
        join(&mut meta, "pi-pg");
        assert_eq!(meta.labels.expect("labels")[POD_GROUP_LABEL], "pi-pg");
    }
}
