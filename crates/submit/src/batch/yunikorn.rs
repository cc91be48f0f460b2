//! YuniKorn, as Kubeflow's YuniKorn integration does it: no object of its own. The driver and
//! executors are scheduled by `yunikorn`, each names its task group
//! (`yunikorn.apache.org/task-group-name`: `spark-driver`, `spark-executor`), the driver carries the
//! task groups (`yunikorn.apache.org/task-groups`: the driver, and the first executors when there
//! are any, each with its size, requests and placement), and `batchSchedulerOptions.queue` becomes
//! the pods' `queue` label. YuniKorn reads the application id from Spark's `spark-app-selector`
//! label and reserves the groups' room before the driver runs.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use sparkplane_api::SparkApplication;
use sparkplane_api::v1beta2::SparkPodSpec;

use super::requests::{Application, Requests};
use crate::template::Role;

pub const TASK_GROUP_NAME_ANNOTATION: &str = "yunikorn.apache.org/task-group-name";
pub const TASK_GROUPS_ANNOTATION: &str = "yunikorn.apache.org/task-groups";
pub const QUEUE_LABEL: &str = "queue";
pub const DRIVER_TASK_GROUP: &str = "spark-driver";
pub const EXECUTOR_TASK_GROUP: &str = "spark-executor";

/// One task group, in YuniKorn's annotation format.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct TaskGroup<'a> {
    name: &'static str,
    min_member: u64,
    min_resource: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    node_selector: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tolerations: Option<&'a Vec<Toleration>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    affinity: Option<&'a Affinity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<&'a BTreeMap<String, String>>,
}

/// Names a pod's task group, and the application's queue when it has one.
pub fn join(meta: &mut ObjectMeta, role: Role, app: &SparkApplication) {
    let group = match role {
        Role::Driver => DRIVER_TASK_GROUP,
        Role::Executor => EXECUTOR_TASK_GROUP,
    };
    meta.annotations
        .get_or_insert_with(Default::default)
        .insert(TASK_GROUP_NAME_ANNOTATION.to_owned(), group.to_owned());
    if let Some(queue) = app
        .spec
        .batch_scheduler_options
        .as_ref()
        .and_then(|o| o.queue.as_ref())
    {
        meta.labels
            .get_or_insert_with(Default::default)
            .insert(QUEUE_LABEL.to_owned(), queue.clone());
    }
}

/// The task groups annotation of the driver pod: the driver, and the `executors` Spark starts
/// with when there are any (YuniKorn refuses a group of none).
pub fn task_groups(app: &SparkApplication, application: Application) -> String {
    let Application {
        driver,
        executor,
        executors,
    } = application;
    let mut groups = vec![task_group(
        app,
        DRIVER_TASK_GROUP,
        1,
        driver,
        &app.spec.driver.pod,
    )];
    if executors > 0 {
        groups.push(task_group(
            app,
            EXECUTOR_TASK_GROUP,
            executors,
            executor,
            &app.spec.executor.pod,
        ));
    }
    // Plain data: serializing it cannot fail.
    serde_json::to_string(&groups).unwrap_or_default()
}

/// One role's group: its size and requests, and where its pods may go (the application's node
/// selector merged with the role's, its tolerations, affinity and labels).
fn task_group<'a>(
    app: &SparkApplication,
    name: &'static str,
    min_member: u64,
    requests: Requests,
    pod: &'a SparkPodSpec,
) -> TaskGroup<'a> {
    let mut node_selector = app.spec.node_selector.clone().unwrap_or_default();
    node_selector.extend(pod.node_selector.clone().unwrap_or_default());
    let min_resource = requests
        .quantities()
        .into_iter()
        .map(|(k, q)| (k, q.0))
        .collect();
    TaskGroup {
        name,
        min_member,
        min_resource,
        node_selector: (!node_selector.is_empty()).then_some(node_selector),
        tolerations: pod.tolerations.as_ref(),
        affinity: pod.affinity.as_ref(),
        labels: pod.labels.as_ref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> SparkApplication {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
            "metadata": {"name": "pi"},
            "spec": {
                "type": "Scala", "sparkVersion": "4.0.0", "mainApplicationFile": "local:///x.jar",
                "nodeSelector": {"zone": "a"},
                "batchSchedulerOptions": {"queue": "root.research"},
                "driver": {"labels": {"team": "x"}, "nodeSelector": {"disk": "ssd"}},
                "executor": {"tolerations": [{"key": "spot", "operator": "Exists"}]}
            }
        }))
        .expect("app")
    }

    #[test]
    fn driver_and_executor_groups_with_their_placement() {
        let driver = Requests {
            millicores: 1000,
            mib: 896,
        };
        let executor = Requests {
            millicores: 2000,
            mib: 1408,
        };
        let sizes = |executors| Application {
            driver,
            executor,
            executors,
        };
        let text = task_groups(&app(), sizes(3));
        let groups: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(
            groups,
            serde_json::json!([
                {"name": "spark-driver", "minMember": 1,
                 "minResource": {"cpu": "1", "memory": "896Mi"},
                 "nodeSelector": {"disk": "ssd", "zone": "a"}, "labels": {"team": "x"}},
                {"name": "spark-executor", "minMember": 3,
                 "minResource": {"cpu": "2", "memory": "1408Mi"},
                 "nodeSelector": {"zone": "a"},
                 "tolerations": [{"key": "spot", "operator": "Exists"}]}
            ])
        );
        let none = task_groups(&app(), sizes(0));
        let groups: serde_json::Value = serde_json::from_str(&none).expect("JSON");
        assert_eq!(groups.as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn pods_name_their_group_and_queue() {
        let mut meta = ObjectMeta::default();
        join(&mut meta, Role::Executor, &app());
        assert_eq!(
            meta.annotations.expect("annotations")[TASK_GROUP_NAME_ANNOTATION],
            "spark-executor"
        );
        assert_eq!(meta.labels.expect("labels")[QUEUE_LABEL], "root.research");
    }
}
