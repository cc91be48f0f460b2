//! The watch plumbing both controllers share: which namespaces the operator serves, the API of a kind
//! in one watch scope, and watches of several namespaces merged without one namespace's relist
//! disturbing another's.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};

/// Which namespaces the operator runs applications in.
#[derive(Clone)]
pub struct Scope {
    /// Empty: all.
    pub namespaces: BTreeSet<String>,
    /// Namespaces matching the label selector, when one is set.
    pub selected: Option<Store<Namespace>>,
}

impl Scope {
    pub fn allows(&self, namespace: &str) -> bool {
        (self.namespaces.is_empty() || self.namespaces.contains(namespace))
            && self
                .selected
                .as_ref()
                .is_none_or(|s| s.get(&ObjectRef::new(namespace)).is_some())
    }

    /// What each watch covers: every listed namespace on its own (so a namespace list needs only
    /// RoleBindings in those namespaces), else one cluster-wide watch ("").
    pub fn watch_scopes(&self) -> Vec<String> {
        if self.namespaces.is_empty() {
            vec![String::new()]
        } else {
            self.namespaces.iter().cloned().collect()
        }
    }
}

/// The API of `ar` in one watch scope: a namespace, or "" for every namespace.
pub(crate) fn scoped_api(client: &Client, scope: &str, ar: &ApiResource) -> Api<DynamicObject> {
    if scope.is_empty() {
        Api::all_with(client.clone(), ar)
    } else {
        Api::namespaced_with(client.clone(), scope, ar)
    }
}

pub(crate) fn pods_api(client: &Client, scope: &str) -> Api<k8s_openapi::api::core::v1::Pod> {
    if scope.is_empty() {
        Api::all(client.clone())
    } else {
        Api::namespaced(client.clone(), scope)
    }
}

type WatchItem<K> = Result<watcher::Event<K>, watcher::Error>;

/// Turns one watch into Apply and Delete events only, so the watches of several namespaces can
/// feed one store: a store's own relist handling would let one namespace's relist replace all the
/// others. A relist becomes Applies of what it listed and Deletes of what it no longer has (`gone`
/// makes an object of that namespace and name to delete). `listed` counts the watches whose first
/// list is complete.
pub(crate) fn without_relists<K>(
    stream: impl Stream<Item = WatchItem<K>> + Send + 'static,
    gone: impl Fn(&str, &str) -> K + Send + 'static,
    listed: Arc<AtomicUsize>,
) -> impl Stream<Item = WatchItem<K>> + Send + 'static
where
    K: Resource + Send + 'static,
{
    use watcher::Event as E;
    let mut known: HashSet<(String, String)> = HashSet::new();
    let mut relist: Vec<K> = Vec::new();
    let mut first = true;
    let key = |o: &K| {
        (
            o.meta().namespace.clone().unwrap_or_default(),
            o.meta().name.clone().unwrap_or_default(),
        )
    };
    stream
        .map_ok(move |ev| {
            let out: Vec<E<K>> = match ev {
                E::Apply(o) => {
                    known.insert(key(&o));
                    vec![E::Apply(o)]
                }
                E::Delete(o) => {
                    known.remove(&key(&o));
                    vec![E::Delete(o)]
                }
                E::Init => {
                    relist.clear();
                    vec![]
                }
                E::InitApply(o) => {
                    relist.push(o);
                    vec![]
                }
                E::InitDone => {
                    let now: HashSet<(String, String)> = relist.iter().map(key).collect();
                    let mut out: Vec<E<K>> = known
                        .difference(&now)
                        .map(|(ns, name)| E::Delete(gone(ns, name)))
                        .collect();
                    out.extend(relist.drain(..).map(E::Apply));
                    known = now;
                    if std::mem::take(&mut first) {
                        listed.fetch_add(1, Ordering::Relaxed);
                    }
                    out
                }
            };
            futures::stream::iter(out.into_iter().map(Ok::<_, watcher::Error>))
        })
        .try_flatten()
}

/// An untyped object of `ar` with only a namespace and a name: what a Delete needs.
pub(crate) fn dynamic_gone(ar: ApiResource) -> impl Fn(&str, &str) -> DynamicObject {
    move |namespace, name| DynamicObject::new(name, &ar).within(namespace)
}

/// The stream of namespaces matching the selector.
pub type NamespaceStream = futures::stream::BoxStream<'static, Result<Namespace, watcher::Error>>;

/// A store of the namespaces matching `selector` (it answers [`Scope::allows`]) and the stream
/// that fills it, for the controller to run (and use as a trigger).
pub fn namespace_scope(client: &Client, selector: &str) -> (Store<Namespace>, NamespaceStream) {
    let (reader, writer) = reflector::store();
    let api: Api<Namespace> = Api::all(client.clone());
    let stream = watcher(api, watcher::Config::default().labels(selector))
        .default_backoff()
        .modify(|ns: &mut Namespace| ns.metadata.managed_fields = None)
        .reflect(writer)
        .touched_objects()
        .boxed();
    (reader, stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparkplane_api::SparkApplication;

    fn named(ns: &str, name: &str) -> DynamicObject {
        DynamicObject::new(name, &ApiResource::erase::<SparkApplication>(&())).within(ns)
    }

    fn describe(events: Vec<watcher::Event<DynamicObject>>) -> Vec<String> {
        events
            .into_iter()
            .map(|e| match e {
                watcher::Event::Apply(o) => {
                    format!("apply {}", o.metadata.name.unwrap_or_default())
                }
                watcher::Event::Delete(o) => {
                    format!("delete {}", o.metadata.name.unwrap_or_default())
                }
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn relists_become_applies_and_deletes() {
        use watcher::Event as E;
        let input = vec![
            E::Init,
            E::InitApply(named("a", "one")),
            E::InitApply(named("a", "two")),
            E::InitDone,
            E::Apply(named("a", "three")),
            // The watch restarts; "two" went away meanwhile.
            E::Init,
            E::InitApply(named("a", "one")),
            E::InitApply(named("a", "three")),
            E::InitDone,
        ];
        let listed = Arc::new(AtomicUsize::new(0));
        let out: Vec<_> = without_relists(
            futures::stream::iter(input.into_iter().map(Ok)),
            dynamic_gone(ApiResource::erase::<SparkApplication>(&())),
            listed.clone(),
        )
        .try_collect()
        .await
        .expect("events");
        assert_eq!(
            describe(out),
            [
                "apply one",
                "apply two",
                "apply three",
                "delete two",
                "apply one",
                "apply three"
            ]
        );
        assert_eq!(listed.load(Ordering::Relaxed), 1, "counted once per watch");
    }
}
