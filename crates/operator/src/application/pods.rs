//! The operator's view of pods: an index by application, fed by one watch filtered on the
//! `launched-by-spark-operator` label, holding only the few fields the lifecycle reads. Pods are
//! decoded as [`WatchedPod`], which skips the spec, the managed fields and most of the status while
//! parsing: a list page of full pods took tens of megabytes at its peak.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::RwLock;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::Resource;
use kube::core::NamespaceResourceScope;
use kube::runtime::watcher;
use serde::{Deserialize, Deserializer};
use sparkplane_submit::identity::{
    DRIVER_CONTAINER, EXECUTOR_CONTAINER, LABEL_APP_NAME, LABEL_SUBMISSION_ID,
};

use crate::lifecycle::{Observed, PodObs, PodPhase, Terminated, failed_on_its_own};

/// The label selector of every pod the operator cares about.
pub const SELECTOR: &str = "sparkoperator.k8s.io/launched-by-spark-operator=true";

/// (namespace, application name) as the pods' `sparkoperator.k8s.io/app-name` label says.
pub type AppKey = (String, String);

/// A pod as the watch decodes it: the metadata the index keys on and the status it summarises.
/// Every other field is skipped by the parser without being allocated.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WatchedPod {
    #[serde(deserialize_with = "slim_metadata", default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    status: Option<WatchedStatus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WatchedStatus {
    phase: Option<String>,
    reason: Option<String>,
    message: Option<String>,
    #[serde(default)]
    container_statuses: Vec<WatchedContainer>,
}

#[derive(Debug, Clone, Deserialize)]
struct WatchedContainer {
    name: String,
    #[serde(default)]
    state: Option<WatchedContainerState>,
}

#[derive(Debug, Clone, Deserialize)]
struct WatchedContainerState {
    terminated: Option<WatchedTerminated>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WatchedTerminated {
    exit_code: i32,
    reason: Option<String>,
    message: Option<String>,
}

/// The metadata fields the index and the watch read; annotations, owner references and managed
/// fields are skipped.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimMetadata {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    deletion_timestamp: Option<Time>,
}

fn slim_metadata<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ObjectMeta, D::Error> {
    let slim = SlimMetadata::deserialize(deserializer)?;
    Ok(ObjectMeta {
        name: slim.name,
        namespace: slim.namespace,
        uid: slim.uid,
        resource_version: slim.resource_version,
        labels: slim.labels,
        deletion_timestamp: slim.deletion_timestamp,
        ..ObjectMeta::default()
    })
}

impl Resource for WatchedPod {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "Pod".into()
    }

    fn group(_: &()) -> Cow<'_, str> {
        "".into()
    }

    fn version(_: &()) -> Cow<'_, str> {
        "v1".into()
    }

    fn plural(_: &()) -> Cow<'_, str> {
        "pods".into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Driver,
    Executor,
    Other,
}

#[derive(Debug, Clone)]
struct Entry {
    role: Role,
    obs: PodObs,
    /// A failed executor whose pod is gone, kept with its last state: Spark deletes a failed
    /// executor at once, often before the application's next reconcile has seen it fail.
    departed: bool,
}

/// The departed executors kept per application; the oldest goes first. A reconcile records them
/// as failed within moments, so only a burst of failures between two reconciles needs room.
const DEPARTED_KEPT: usize = 16;

/// An application's pods: usually a driver and a few executors, so a list searched by name (a map
/// per application took a whole tree node, about 2 KiB, for one pod).
type Pods = HashMap<AppKey, Vec<Entry>>;

/// A pod as (namespace, name).
type PodKey = (String, String);

#[derive(Default)]
struct Inner {
    by_app: Pods,
    /// Per watch scope (a namespace, or "" for all) during a (re)list: the pods it listed so far.
    /// Listed pods go into the index as they come; when the list completes, the scope's pods it did
    /// not list are dropped. Each namespace's relist touches only that namespace's pods.
    relists: HashMap<String, HashSet<PodKey>>,
    listed: HashSet<String>,
}

pub struct PodIndex {
    inner: RwLock<Inner>,
    /// How many watch scopes must have listed before the index is complete.
    scopes: usize,
}

impl Default for PodIndex {
    fn default() -> Self {
        PodIndex::new(1)
    }
}

/// The application a pod belongs to, from its labels.
pub fn app_key(pod: &WatchedPod) -> Option<AppKey> {
    let ns = pod.metadata.namespace.clone()?;
    let app = pod.metadata.labels.as_ref()?.get(LABEL_APP_NAME)?.clone();
    Some((ns, app))
}

fn summarize(pod: &WatchedPod) -> Option<(AppKey, Entry)> {
    let key = app_key(pod)?;
    let name = pod.metadata.name.clone()?;
    let labels = pod.metadata.labels.as_ref()?;
    let role = match labels.get("spark-role").map(String::as_str) {
        Some("driver") => Role::Driver,
        Some("executor") => Role::Executor,
        _ => Role::Other,
    };
    let status = pod.status.as_ref();
    let container = match role {
        Role::Executor => EXECUTOR_CONTAINER,
        _ => DRIVER_CONTAINER,
    };
    let statuses = status.map(|s| s.container_statuses.as_slice());
    let spark = statuses.and_then(|cs| {
        cs.iter()
            .find(|c| c.name == container)
            .or_else(|| (cs.len() == 1).then(|| &cs[0]))
    });
    let terminated = spark
        .and_then(|c| c.state.as_ref()?.terminated.as_ref())
        .map(|t| Terminated {
            exit_code: t.exit_code,
            reason: t.reason.clone(),
            message: t.message.clone(),
        });
    let message = status.and_then(|s| match (&s.reason, &s.message) {
        (Some(r), Some(m)) => Some(format!("{r}: {m}")),
        (Some(r), None) => Some(r.clone()),
        (None, m) => m.clone(),
    });
    let obs = PodObs {
        name,
        uid: pod.metadata.uid.clone(),
        submission_id: labels.get(LABEL_SUBMISSION_ID).cloned(),
        phase: PodPhase::parse(status.and_then(|s| s.phase.as_deref())),
        terminated,
        message,
        deleting: pod.metadata.deletion_timestamp.is_some(),
    };
    Some((
        key,
        Entry {
            role,
            obs,
            departed: false,
        },
    ))
}

fn insert(pods: &mut Pods, pod: &WatchedPod) {
    let Some((key, entry)) = summarize(pod) else {
        return;
    };
    let entries = pods.entry(key).or_default();
    match entries.iter_mut().find(|e| e.obs.name == entry.obs.name) {
        Some(known) => *known = entry,
        None => {
            // Room for this one pod only: most applications never have more than a few.
            entries.reserve_exact(1);
            entries.push(entry);
        }
    }
}

fn remove(pods: &mut Pods, pod: &WatchedPod) {
    let (Some(key), Some(name)) = (app_key(pod), pod.metadata.name.as_ref()) else {
        return;
    };
    let Some(entries) = pods.get_mut(&key) else {
        return;
    };
    entries.retain(|e| &e.obs.name != name);
    // The deleted pod's last state is the one its delete event carries.
    let departed = summarize(pod).map(|(_, mut entry)| {
        entry.departed = true;
        entry.obs.deleting = true;
        entry
    });
    if let Some(entry) = departed.filter(|e| e.role == Role::Executor && failed_on_its_own(&e.obs))
    {
        if entries.iter().filter(|e| e.departed).count() >= DEPARTED_KEPT
            && let Some(oldest) = entries.iter().position(|e| e.departed)
        {
            entries.remove(oldest);
        }
        entries.push(entry);
    }
    // Departed executors are kept only beside a pod of their application that still exists.
    if entries.iter().all(|e| e.departed) {
        pods.remove(&key);
    }
}

impl PodIndex {
    /// An index fed by `scopes` watches (one per namespace, or one for all).
    pub fn new(scopes: usize) -> Self {
        PodIndex {
            inner: RwLock::default(),
            scopes: scopes.max(1),
        }
    }

    /// Applies one event of the watch of `scope` (a namespace, or "" for all namespaces).
    /// Takes a watch event in; returns the applications whose pods a relist found gone (deleted
    /// while the watch was away: no event of their own tells of it).
    pub fn apply(&self, scope: &str, event: &watcher::Event<WatchedPod>) -> Vec<AppKey> {
        // A poisoned lock only means another thread panicked mid-update; the map is still usable.
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let mut vanished = Vec::new();
        match event {
            watcher::Event::Apply(pod) => insert(&mut inner.by_app, pod),
            watcher::Event::Delete(pod) => remove(&mut inner.by_app, pod),
            watcher::Event::Init => {
                inner.relists.insert(scope.to_owned(), HashSet::new());
            }
            watcher::Event::InitApply(pod) => {
                insert(&mut inner.by_app, pod);
                if let (Some(namespace), Some(name)) = (&pod.metadata.namespace, &pod.metadata.name)
                {
                    let listed = (namespace.clone(), name.clone());
                    if let Some(relist) = inner.relists.get_mut(scope) {
                        relist.insert(listed);
                    }
                }
            }
            watcher::Event::InitDone => {
                let Inner {
                    by_app, relists, ..
                } = &mut *inner;
                if let Some(relist) = relists.remove(scope) {
                    // What the scope holds but its list no longer has was deleted meanwhile.
                    by_app.retain(|key, entries| {
                        if scope.is_empty() || key.0 == scope {
                            let before = entries.len();
                            entries.retain(|e| {
                                e.departed || relist.contains(&(key.0.clone(), e.obs.name.clone()))
                            });
                            if entries.len() < before {
                                vanished.push(key.clone());
                            }
                        }
                        !entries.iter().all(|e| e.departed)
                    });
                }
                inner.listed.insert(scope.to_owned());
            }
        }
        vanished
    }

    /// Whether every watch has completed its first list.
    pub fn is_ready(&self) -> bool {
        self.inner
            .read()
            .map(|i| i.listed.len() >= self.scopes)
            .unwrap_or(false)
    }

    /// The pods of an application; the driver is the pod named `driver_name` if there is one, else
    /// any driver-role pod of the application.
    pub fn observed(&self, namespace: &str, app: &str, driver_name: &str) -> Observed {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let key = (namespace.to_owned(), app.to_owned());
        let Some(pods) = inner.by_app.get(&key) else {
            return Observed::default();
        };
        let driver = pods
            .iter()
            .find(|e| e.obs.name == driver_name && e.role != Role::Executor)
            .or_else(|| pods.iter().find(|e| e.role == Role::Driver))
            .map(|e| e.obs.clone());
        let executors = pods
            .iter()
            .filter(|e| e.role == Role::Executor)
            .map(|e| e.obs.clone())
            .collect();
        Observed { driver, executors }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, role: &str, phase: &str) -> WatchedPod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "ns", "labels": {
                "spark-role": role,
                "sparkoperator.k8s.io/app-name": "pi",
                "sparkoperator.k8s.io/submission-id": "s1",
                "sparkoperator.k8s.io/launched-by-spark-operator": "true"}},
            "status": {"phase": phase, "containerStatuses": [{
                "name": "spark-kubernetes-driver", "image": "x", "imageID": "", "ready": false,
                "restartCount": 0,
                "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}]}
        }))
        .expect("pod")
    }

    #[test]
    fn indexes_by_application_and_survives_relists() {
        let index = PodIndex::default();
        index.apply("", &watcher::Event::Init);
        index.apply(
            "",
            &watcher::Event::InitApply(pod("pi-driver", "driver", "Failed")),
        );
        assert!(!index.is_ready(), "not complete before the list is");
        assert!(
            index.observed("ns", "pi", "pi-driver").driver.is_some(),
            "a listed pod is indexed as it comes, not buffered"
        );
        index.apply("", &watcher::Event::InitDone);
        assert!(index.is_ready());
        index.apply(
            "",
            &watcher::Event::Apply(pod("pi-exec-1", "executor", "Running")),
        );
        let o = index.observed("ns", "pi", "pi-driver");
        let driver = o.driver.expect("driver");
        assert_eq!(driver.phase, PodPhase::Failed);
        assert_eq!(driver.submission_id.as_deref(), Some("s1"));
        assert_eq!(driver.terminated.map(|t| t.exit_code), Some(2));
        assert_eq!(o.executors.len(), 1);
        assert_eq!(o.executors[0].phase, PodPhase::Running);

        // A relist that no longer has the executor drops it.
        index.apply("", &watcher::Event::Init);
        index.apply(
            "",
            &watcher::Event::InitApply(pod("pi-driver", "driver", "Failed")),
        );
        index.apply("", &watcher::Event::InitDone);
        assert!(index.observed("ns", "pi", "pi-driver").executors.is_empty());
        index.apply(
            "",
            &watcher::Event::Delete(pod("pi-driver", "driver", "Failed")),
        );
        assert_eq!(index.observed("ns", "pi", "pi-driver"), Observed::default());
        assert_eq!(
            index.observed("other", "pi", "pi-driver"),
            Observed::default()
        );
    }

    #[test]
    fn a_relist_drops_the_pods_it_no_longer_lists_and_a_pod_is_one_entry() {
        let index = PodIndex::new(2);
        for ns in ["a", "b"] {
            index.apply(ns, &watcher::Event::Init);
            for (name, role) in [("pi-driver", "driver"), ("pi-exec-1", "executor")] {
                let listed = in_namespace(pod(name, role, "Running"), ns);
                index.apply(ns, &watcher::Event::InitApply(listed));
            }
            index.apply(ns, &watcher::Event::InitDone);
        }
        assert!(index.is_ready());
        // A relist that finds every pod names no application.
        index.apply("b", &watcher::Event::Init);
        for (name, role) in [("pi-driver", "driver"), ("pi-exec-1", "executor")] {
            let listed = in_namespace(pod(name, role, "Running"), "b");
            index.apply("b", &watcher::Event::InitApply(listed));
        }
        assert!(index.apply("b", &watcher::Event::InitDone).is_empty());
        // Namespace a relists without its executor (deleted while the watch was down).
        index.apply("a", &watcher::Event::Init);
        let driver = in_namespace(pod("pi-driver", "driver", "Succeeded"), "a");
        index.apply("a", &watcher::Event::InitApply(driver));
        // The application that lost a pod is named, for a reconcile no event would ask for.
        assert_eq!(
            index.apply("a", &watcher::Event::InitDone),
            vec![("a".to_owned(), "pi".to_owned())]
        );
        let a = index.observed("a", "pi", "pi-driver");
        assert_eq!(a.driver.map(|d| d.phase), Some(PodPhase::Succeeded));
        assert!(a.executors.is_empty());
        assert_eq!(index.observed("b", "pi", "pi-driver").executors.len(), 1);
        // The same pod seen twice is one entry, updated.
        index.apply(
            "b",
            &watcher::Event::Apply(in_namespace(pod("pi-exec-1", "executor", "Failed"), "b")),
        );
        let b = index.observed("b", "pi", "pi-driver");
        assert_eq!(b.executors.len(), 1);
        assert_eq!(b.executors[0].phase, PodPhase::Failed);
    }

    #[test]
    fn a_full_pod_decodes_to_what_the_index_reads_and_nothing_more() {
        // A driver pod as the API server sends it: spec, managed fields, annotations, owners.
        let full = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "pi-driver", "namespace": "ns", "uid": "u1", "resourceVersion": "42",
                "deletionTimestamp": "2026-12-04T10:00:00Z",
                "labels": {"spark-role": "driver", "sparkoperator.k8s.io/app-name": "pi",
                    "sparkoperator.k8s.io/submission-id": "s1"},
                "annotations": {"a": "b"},
                "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "pi", "uid": "o"}],
                "managedFields": [{"manager": "sparkplane", "operation": "Update",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]
            },
            "spec": {"containers": [{"name": "spark-kubernetes-driver", "image": "spark",
                "args": ["driver"], "env": [{"name": "SPARK_CONF_DIR", "value": "/x"}]}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [
                    {"name": "sidecar", "ready": true, "restartCount": 0, "image": "s",
                        "imageID": "", "state": {"running": {"startedAt": "2026-12-04T09:00:00Z"}}},
                    {"name": "spark-kubernetes-driver", "ready": false, "restartCount": 0,
                        "image": "spark", "imageID": "",
                        "state": {"terminated": {"exitCode": 3, "reason": "Error",
                            "message": "boom", "startedAt": "2026-12-04T09:00:00Z",
                            "finishedAt": "2026-12-04T09:01:00Z"}}}]}
        });
        let pod: WatchedPod = serde_json::from_value(full).expect("decodes");
        let meta = &pod.metadata;
        assert_eq!(meta.name.as_deref(), Some("pi-driver"));
        assert_eq!(meta.uid.as_deref(), Some("u1"));
        assert_eq!(meta.resource_version.as_deref(), Some("42"));
        assert!(meta.deletion_timestamp.is_some());
        assert_eq!(meta.labels.as_ref().map(BTreeMap::len), Some(3));
        assert_eq!(meta.annotations, None, "skipped");
        assert_eq!(meta.owner_references, None, "skipped");
        assert_eq!(meta.managed_fields, None, "skipped");

        let index = PodIndex::default();
        index.apply("", &watcher::Event::Apply(pod));
        let driver = index
            .observed("ns", "pi", "pi-driver")
            .driver
            .expect("driver");
        assert_eq!(driver.phase, PodPhase::Running);
        let terminated = driver.terminated.expect("the Spark container's end");
        assert_eq!(terminated.exit_code, 3);
        assert_eq!(terminated.reason.as_deref(), Some("Error"));
        assert_eq!(terminated.message.as_deref(), Some("boom"));
    }

    fn in_namespace(mut pod: WatchedPod, ns: &str) -> WatchedPod {
        pod.metadata.namespace = Some(ns.into());
        pod
    }

    #[test]
    fn one_namespace_relisting_keeps_the_others() {
        let index = PodIndex::new(2);
        for ns in ["a", "b"] {
            index.apply(ns, &watcher::Event::Init);
            let pod = in_namespace(pod("pi-driver", "driver", "Running"), ns);
            index.apply(ns, &watcher::Event::InitApply(pod));
            assert!(!index.is_ready(), "{ns}");
            index.apply(ns, &watcher::Event::InitDone);
        }
        assert!(index.is_ready());
        // b relists and no longer has its driver; a keeps its own.
        index.apply("b", &watcher::Event::Init);
        index.apply("b", &watcher::Event::InitDone);
        assert!(index.observed("a", "pi", "pi-driver").driver.is_some());
        assert!(index.observed("b", "pi", "pi-driver").driver.is_none());
    }

    fn exited(mut pod: WatchedPod, exit_code: i32) -> WatchedPod {
        let status = pod.status.as_mut().expect("status");
        let container = status.container_statuses.first_mut().expect("container");
        let terminated = container.state.as_mut().expect("state").terminated.as_mut();
        terminated.expect("terminated").exit_code = exit_code;
        pod
    }

    /// Spark deletes a failed executor at once: its delete event may be the first the operator
    /// hears of the failure. The failure is kept for the reconcile to record, beside the driver.
    #[test]
    fn a_failed_executor_outlives_its_pod_until_its_driver_goes() {
        let index = PodIndex::default();
        index.apply("", &watcher::Event::Init);
        index.apply("", &watcher::Event::InitDone);
        let driver = pod("pi-driver", "driver", "Running");
        index.apply("", &watcher::Event::Apply(driver.clone()));
        let killed = exited(pod("pi-exec-1", "executor", "Failed"), 137);
        let stopped = exited(pod("pi-exec-2", "executor", "Failed"), 143);
        let done = exited(pod("pi-exec-3", "executor", "Succeeded"), 0);
        for executor in [&killed, &stopped, &done] {
            index.apply("", &watcher::Event::Apply(executor.clone()));
            index.apply("", &watcher::Event::Delete(executor.clone()));
        }
        let o = index.observed("ns", "pi", "pi-driver");
        let kept: Vec<&str> = o.executors.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(kept, ["pi-exec-1"], "only the one that failed on its own");
        assert!(o.executors[0].deleting);
        assert_eq!(
            o.executors[0].terminated.as_ref().map(|t| t.exit_code),
            Some(137)
        );

        // A relist keeps it; more failures than the room keep the newest.
        index.apply("", &watcher::Event::Init);
        index.apply("", &watcher::Event::InitApply(driver.clone()));
        assert!(index.apply("", &watcher::Event::InitDone).is_empty());
        for n in 0..DEPARTED_KEPT {
            let name = format!("pi-exec-{}", 10 + n);
            let failed = exited(pod(&name, "executor", "Failed"), 1);
            index.apply("", &watcher::Event::Delete(failed));
        }
        let o = index.observed("ns", "pi", "pi-driver");
        assert_eq!(o.executors.len(), DEPARTED_KEPT);
        assert!(o.executors.iter().all(|e| e.name != "pi-exec-1"));

        // The driver's deletion takes its departed executors with it.
        index.apply("", &watcher::Event::Delete(driver));
        assert_eq!(index.observed("ns", "pi", "pi-driver"), Observed::default());
        assert!(index.inner.read().expect("lock").by_app.is_empty());
    }
}
