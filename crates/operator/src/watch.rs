//! The watch plumbing the controllers share: which namespaces the operator serves, the API of a kind
//! in one watch scope, objects read one by one so that one unreadable object harms no other, and
//! watches of several namespaces merged without one namespace's relist disturbing another's.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{NamespaceResourceScope, PartialObjectMeta};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};

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

/// The API of `K` in one watch scope: a namespace, or "" for every namespace.
pub(crate) fn scoped_api<K>(client: &Client, scope: &str) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
{
    if scope.is_empty() {
        Api::all(client.clone())
    } else {
        Api::namespaced(client.clone(), scope)
    }
}

/// An object of `K` as its watch decodes it. Each object is read on its own, straight into `K`: one
/// that does not fit `K`'s types (stored under an older, schemaless CRD, say) fails neither the list
/// page nor the watch event it came in, and a page holds `K`s rather than untyped JSON trees.
///
/// The object is first taken as its raw JSON text, which serde_json skips without its nesting limit
/// (128 levels), and then read from that text on its own: an object nested deeper than the limit
/// (a pod template's free-form fields allow any depth, and the API server accepts far more) would
/// otherwise fail the whole list page, and with it every application of the namespace.
#[derive(Debug, Clone)]
pub(crate) enum Tolerant<K> {
    Read(K),
    // Boxed: the rare case should not set the size of every decoded object.
    Unreadable {
        metadata: Box<ObjectMeta>,
        error: String,
    },
}

impl<'de, K: DeserializeOwned> Deserialize<'de> for Tolerant<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // One object's text at a time: it is dropped as soon as `K` is read from it.
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        match serde_json::from_str::<K>(raw.get()) {
            Ok(object) => Ok(Tolerant::Read(object)),
            Err(error) => {
                // Only the identity is read; the rest, managed fields included (they mirror the
                // spec's nesting), is skipped, and skipping has no nesting limit.
                #[derive(Deserialize)]
                struct Identity {
                    #[serde(default)]
                    metadata: IdentityMeta,
                }
                #[derive(Default, Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct IdentityMeta {
                    name: Option<String>,
                    namespace: Option<String>,
                    uid: Option<String>,
                    resource_version: Option<String>,
                }
                let identity: Identity =
                    serde_json::from_str(raw.get()).map_err(D::Error::custom)?;
                let IdentityMeta {
                    name,
                    namespace,
                    uid,
                    resource_version,
                } = identity.metadata;
                Ok(Tolerant::Unreadable {
                    metadata: Box::new(ObjectMeta {
                        name,
                        namespace,
                        uid,
                        resource_version,
                        ..ObjectMeta::default()
                    }),
                    error: error.to_string(),
                })
            }
        }
    }
}

impl<K: Resource<DynamicType = ()>> Resource for Tolerant<K> {
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(dt: &()) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        K::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        match self {
            Tolerant::Read(object) => object.meta(),
            Tolerant::Unreadable { metadata, .. } => metadata,
        }
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Tolerant::Read(object) => object.meta_mut(),
            Tolerant::Unreadable { metadata, .. } => metadata,
        }
    }
}

/// The event with its object read, or None for an unreadable object, which is reported (through
/// `unreadable`) and skipped. A deleted object leaves the store whatever it holds: `gone` makes one
/// from its identity.
pub(crate) fn read_event<K: Resource<DynamicType = ()>>(
    event: watcher::Event<Tolerant<K>>,
    gone: impl Fn(ObjectMeta) -> K,
    unreadable: impl Fn(),
) -> Option<watcher::Event<K>> {
    use watcher::Event as E;
    let read = |object: Tolerant<K>| match object {
        Tolerant::Read(object) => Some(object),
        Tolerant::Unreadable { metadata, error } => {
            unreadable();
            tracing::warn!(
                namespace = metadata.namespace.as_deref().unwrap_or_default(),
                name = metadata.name.as_deref().unwrap_or_default(),
                %error,
                "skipping a {} that cannot be read",
                K::kind(&())
            );
            None
        }
    };
    Some(match event {
        E::Apply(object) => E::Apply(read(object)?),
        E::InitApply(object) => E::InitApply(read(object)?),
        E::Delete(Tolerant::Read(object)) => E::Delete(object),
        E::Delete(Tolerant::Unreadable { metadata, .. }) => E::Delete(gone(*metadata)),
        E::Init => E::Init,
        E::InitDone => E::InitDone,
    })
}

type WatchItem<K> = Result<watcher::Event<K>, watcher::Error>;

/// Turns one watch into Apply and Delete events only, so the watches of several namespaces can
/// feed one store: a store's own relist handling would let one namespace's relist replace all the
/// others. A relist becomes Applies of what it lists, passed on as they come (nothing is buffered),
/// and, once it completes, Deletes of what it no longer has (`gone` makes an object of that identity
/// to delete). `listed` counts the watches whose first list is complete.
pub(crate) fn without_relists<K>(
    stream: impl Stream<Item = WatchItem<K>> + Send + 'static,
    gone: impl Fn(ObjectMeta) -> K + Send + 'static,
    listed: Arc<AtomicUsize>,
) -> impl Stream<Item = WatchItem<K>> + Send + 'static
where
    K: Resource + Send + 'static,
{
    use watcher::Event as E;
    let mut known: HashSet<(String, String)> = HashSet::new();
    let mut relisted: HashSet<(String, String)> = HashSet::new();
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
                    relisted = HashSet::new();
                    vec![]
                }
                E::InitApply(o) => {
                    relisted.insert(key(&o));
                    vec![E::Apply(o)]
                }
                E::InitDone => {
                    let out = known
                        .difference(&relisted)
                        .map(|(namespace, name)| {
                            E::Delete(gone(ObjectMeta {
                                namespace: Some(namespace.clone()),
                                name: Some(name.clone()),
                                ..ObjectMeta::default()
                            }))
                        })
                        .collect();
                    known = std::mem::take(&mut relisted);
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

/// The objects of `K` in every scope as one stream of applied objects, each read on its own (an
/// unreadable one skipped), feeding the returned store: what `Controller::for_stream` takes. The
/// per-scope watches send only Applies and Deletes (their relists are resolved apart, so one
/// namespace's relist never empties the others from the store), so the store counts as listed from
/// the start.
pub(crate) fn watched_store<K>(
    client: &Client,
    scopes: &[String],
    gone: fn(ObjectMeta) -> K,
) -> (
    Store<K>,
    futures::stream::BoxStream<'static, Result<K, watcher::Error>>,
)
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, mut writer) = reflector::store::<K>();
    writer.apply_watcher_event(&watcher::Event::Init);
    writer.apply_watcher_event(&watcher::Event::InitDone);
    let listed = Arc::new(AtomicUsize::new(0));
    let watches = scopes.iter().map(|scope| {
        let read = watcher(
            scoped_api::<Tolerant<K>>(client, scope),
            watcher::Config::default(),
        )
        .default_backoff()
        .try_filter_map(move |event| async move { Ok(read_event(event, gone, || {})) });
        without_relists(read, gone, listed.clone()).boxed()
    });
    let events = futures::stream::select_all(watches)
        .map_ok(move |event| {
            writer.apply_watcher_event(&event);
            event
        })
        .applied_objects()
        .boxed();
    (reader, events)
}

/// The metadata of the `K` objects that carry `label`, in every scope, as they change: what wakes a
/// controller's objects from the objects they own.
pub(crate) fn labelled_metadata<K>(
    client: &Client,
    scopes: &[String],
    label: &str,
) -> futures::stream::BoxStream<'static, Result<PartialObjectMeta<K>, watcher::Error>>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let watches = scopes.iter().map(|scope| {
        watcher(
            scoped_api::<PartialObjectMeta<K>>(client, scope),
            watcher::Config::default().labels(label),
        )
        .default_backoff()
        .touched_objects()
        .boxed()
    });
    futures::stream::select_all(watches).boxed()
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
    use k8s_openapi::api::core::v1::ConfigMap;

    /// `{"x": {"x": ... {}}}`, `depth` objects deep.
    fn nested(depth: usize) -> String {
        format!("{}{{}}{}", r#"{"x":"#.repeat(depth), "}".repeat(depth))
    }

    /// Found reading hostile input: an object nested deeper than serde_json's limit failed the
    /// whole list page it came in, so one application stopped the watch of its namespace.
    #[test]
    fn an_object_nested_too_deep_fails_neither_its_page_nor_the_others() {
        let page = format!(
            r#"{{"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {{"resourceVersion": "7"}}, "items": [
                {{"metadata": {{"name": "fine", "namespace": "ns"}}, "data": {{"a": "b"}}}},
                {{"metadata": {{"name": "deep-unknown", "namespace": "ns"}}, "junk": {deep}}},
                {{"metadata": {{"name": "deep-typed", "namespace": "ns",
                    "managedFields": [{{"manager": "kubectl", "fieldsType": "FieldsV1", "fieldsV1": {deep}}}]}},
                  "data": {deep}}}
            ]}}"#,
            deep = nested(300)
        );
        let list: kube::core::ObjectList<Tolerant<ConfigMap>> =
            serde_json::from_str(&page).expect("the page reads");
        let read: Vec<(String, bool)> = list
            .items
            .iter()
            .map(|item| match item {
                Tolerant::Read(cm) => (cm.metadata.name.clone().unwrap_or_default(), true),
                Tolerant::Unreadable { metadata, .. } => {
                    (metadata.name.clone().unwrap_or_default(), false)
                }
            })
            .collect();
        assert_eq!(
            read,
            [
                ("fine".to_owned(), true),
                // Deep fields the type does not have are skipped.
                ("deep-unknown".to_owned(), true),
                // Deep where the type expects something: that object alone is unreadable.
                ("deep-typed".to_owned(), false)
            ]
        );
    }

    fn named(ns: &str, name: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }

    fn describe(events: Vec<watcher::Event<ConfigMap>>) -> Vec<String> {
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
            |metadata| ConfigMap {
                metadata,
                ..ConfigMap::default()
            },
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
                // Listed objects pass as they come; the deletes follow once the list is complete.
                "apply one",
                "apply three",
                "delete two"
            ]
        );
        assert_eq!(listed.load(Ordering::Relaxed), 1, "counted once per watch");
    }
}
