//! The operator's view of pods: an index by application, fed by one watch filtered on the
//! `launched-by-spark-operator` label, holding only the few fields the lifecycle reads (a pod's spec
//! and most of its status are never kept).

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher;
use sparkplane_submit::identity::{
    DRIVER_CONTAINER, EXECUTOR_CONTAINER, LABEL_APP_NAME, LABEL_SUBMISSION_ID,
};

use crate::lifecycle::{Observed, PodObs, PodPhase, Terminated};

/// The label selector of every pod the operator cares about.
pub const SELECTOR: &str = "sparkoperator.k8s.io/launched-by-spark-operator=true";

/// (namespace, application name) as the pods' `sparkoperator.k8s.io/app-name` label says.
pub type AppKey = (String, String);

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
}

type Pods = HashMap<AppKey, BTreeMap<String, Entry>>;

#[derive(Default)]
struct Inner {
    by_app: Pods,
    /// Per watch scope (a namespace, or "" for all): filled during a (re)list, swapped in when it
    /// completes. Each namespace's relist replaces only that namespace's pods.
    relists: HashMap<String, Pods>,
    listed: std::collections::HashSet<String>,
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
pub fn app_key(pod: &Pod) -> Option<AppKey> {
    let ns = pod.metadata.namespace.clone()?;
    let app = pod.metadata.labels.as_ref()?.get(LABEL_APP_NAME)?.clone();
    Some((ns, app))
}

fn summarize(pod: &Pod) -> Option<(AppKey, String, Entry)> {
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
    let statuses = status.and_then(|s| s.container_statuses.as_ref());
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
        name: name.clone(),
        uid: pod.metadata.uid.clone(),
        submission_id: labels.get(LABEL_SUBMISSION_ID).cloned(),
        phase: PodPhase::parse(status.and_then(|s| s.phase.as_deref())),
        terminated,
        message,
        deleting: pod.metadata.deletion_timestamp.is_some(),
    };
    Some((key, name, Entry { role, obs }))
}

fn insert(pods: &mut Pods, pod: &Pod) {
    if let Some((key, name, entry)) = summarize(pod) {
        pods.entry(key).or_default().insert(name, entry);
    }
}

fn remove(pods: &mut Pods, pod: &Pod) {
    let (Some(key), Some(name)) = (app_key(pod), pod.metadata.name.as_ref()) else {
        return;
    };
    if let Some(app) = pods.get_mut(&key) {
        app.remove(name);
        if app.is_empty() {
            pods.remove(&key);
        }
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
    pub fn apply(&self, scope: &str, event: &watcher::Event<Pod>) {
        // A poisoned lock only means another thread panicked mid-update; the map is still usable.
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        match event {
            watcher::Event::Apply(pod) => insert(&mut inner.by_app, pod),
            watcher::Event::Delete(pod) => remove(&mut inner.by_app, pod),
            watcher::Event::Init => {
                inner.relists.insert(scope.to_owned(), Pods::new());
            }
            watcher::Event::InitApply(pod) => {
                if let Some(relist) = inner.relists.get_mut(scope) {
                    insert(relist, pod);
                }
            }
            watcher::Event::InitDone => {
                if let Some(relist) = inner.relists.remove(scope) {
                    if scope.is_empty() {
                        inner.by_app = relist;
                    } else {
                        inner.by_app.retain(|(ns, _), _| ns != scope);
                        inner.by_app.extend(relist);
                    }
                }
                inner.listed.insert(scope.to_owned());
            }
        }
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
            .get(driver_name)
            .filter(|e| e.role != Role::Executor)
            .or_else(|| pods.values().find(|e| e.role == Role::Driver))
            .map(|e| e.obs.clone());
        let executors = pods
            .values()
            .filter(|e| e.role == Role::Executor)
            .map(|e| e.obs.clone())
            .collect();
        Observed { driver, executors }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, role: &str, phase: &str) -> Pod {
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
        assert!(!index.is_ready());
        assert_eq!(index.observed("ns", "pi", "pi-driver"), Observed::default());
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

    fn in_namespace(mut pod: Pod, ns: &str) -> Pod {
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
}
