//! Volcano, as Kubeflow's Volcano integration does it: the application gets a
//! `scheduling.volcano.sh/v1beta1` PodGroup `spark-<app>-pg` with `minMember: 1`, `minResources`
//! covering the driver and its first executors (or `batchSchedulerOptions.resources`), and the
//! queue and priority class of `batchSchedulerOptions`; the driver and executors name it in the
//! `scheduling.k8s.io/group-name` annotation and are scheduled by `volcano`. Volcano admits the
//! group (queue capacity, priority) before the driver is placed.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use sparkplane_api::SparkApplication;

use super::requests::Requests;
use crate::names;

/// The annotation by which Volcano finds a pod's group.
pub const GROUP_NAME_ANNOTATION: &str = "scheduling.k8s.io/group-name";

/// Volcano's PodGroup (`scheduling.volcano.sh/v1beta1`), the fields Sparkplane sets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolcanoPodGroup {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: VolcanoPodGroupSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolcanoPodGroupSpec {
    /// The driver alone: it starts first and asks for its executors.
    pub min_member: i32,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub min_resources: BTreeMap<String, Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
}

namespaced_resource!(
    VolcanoPodGroup,
    "scheduling.volcano.sh",
    "v1beta1",
    "PodGroup",
    "podgroups"
);

/// Kubeflow's `spark-<app>-pg`.
pub fn group_name(app_name: &str) -> String {
    names::fit(&format!("spark-{app_name}-pg"), 253)
}

/// Puts a pod into the group.
pub fn join(meta: &mut ObjectMeta, group: &str) {
    meta.annotations
        .get_or_insert_with(Default::default)
        .insert(GROUP_NAME_ANNOTATION.to_owned(), group.to_owned());
}

pub fn pod_group(
    app: &SparkApplication,
    namespace: &str,
    application: Requests,
) -> VolcanoPodGroup {
    let app_name = app.metadata.name.clone().unwrap_or_default();
    let options = app.spec.batch_scheduler_options.as_ref();
    VolcanoPodGroup {
        api_version: <VolcanoPodGroup as k8s_openapi::Resource>::API_VERSION.to_owned(),
        kind: <VolcanoPodGroup as k8s_openapi::Resource>::KIND.to_owned(),
        metadata: super::group_metadata(app, namespace, group_name(&app_name)),
        spec: VolcanoPodGroupSpec {
            min_member: 1,
            min_resources: super::min_resources(app, application),
            queue: options.and_then(|o| o.queue.clone()),
            priority_class_name: options.and_then(|o| o.priority_class_name.clone()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_with_queue_priority_and_resources() {
        let mut app = SparkApplication::new("pi", Default::default());
        app.metadata.uid = Some("u-1".into());
        app.spec.batch_scheduler_options =
            Some(sparkplane_api::v1beta2::BatchSchedulerConfiguration {
                queue: Some("research".into()),
                priority_class_name: Some("high".into()),
                resources: None,
            });
        let requests = Requests {
            millicores: 3000,
            mib: 2688,
        };
        let group = pod_group(&app, "ns", requests);
        let json = serde_json::to_value(&group).expect("json");
        assert_eq!(json["apiVersion"], "scheduling.volcano.sh/v1beta1");
        assert_eq!(json["metadata"]["name"], "spark-pi-pg");
        assert_eq!(
            json["spec"],
            serde_json::json!({
                "minMember": 1,
                "minResources": {"cpu": "3", "memory": "2688Mi"},
                "queue": "research",
                "priorityClassName": "high"
            })
        );
        assert_eq!(
            json["metadata"]["ownerReferences"][0]["kind"],
            "SparkApplication"
        );

        let mut meta = ObjectMeta::default();
        join(&mut meta, "spark-pi-pg");
        assert_eq!(
            meta.annotations.expect("annotations")[GROUP_NAME_ANNOTATION],
            "spark-pi-pg"
        );
    }
}
