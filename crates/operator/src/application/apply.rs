//! The writes: creating a plan's objects (create-if-absent, so a repeated submission is harmless),
//! deleting a run, recording the spec hash, writing the status with a resourceVersion precondition.
//! Nothing here decides what an object looks like.

use std::fmt::Debug;

use futures::FutureExt;
use futures::future::BoxFuture;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::core::NamespaceResourceScope;
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sparkplane_api::{SparkApplication, SparkApplicationStatus};
use sparkplane_submit::SubmissionPlan;
use sparkplane_submit::identity::LABEL_SUBMISSION_ID;
use thiserror::Error;

use crate::lifecycle::{RunObjects, SPEC_HASH_ANNOTATION, UiService};
use crate::metrics::Metrics;

/// The field manager of the operator's server-side applies.
pub const FIELD_MANAGER: &str = "sparkplane";

#[derive(Debug, Error)]
pub enum ApplyError {
    #[error("{what}: {source}")]
    Kube {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "driver pod {name} exists from another submission ({found:?}); waiting for it to go away"
    )]
    DriverTaken { name: String, found: Option<String> },
    #[error("status of {0} changed since it was read")]
    Conflict(String),
    /// The API server refused in a way that can pass: 401 or 403 (a just-restarted API server
    /// answers so until its authorization caches are filled), or a 4xx caused by its storage (a
    /// Service's cluster IP not allocated while etcd is away: 422). Tried again until
    /// [`super::Backoff::REFUSAL_GRACE`] has passed, then a refusal.
    #[error("{0}")]
    Passing(String),
    /// The API server cannot store the object this big (etcd's request size limit, 1.5 MiB by
    /// default, or its own 3 MiB): about this object, not the API server's load.
    #[error("{0}")]
    TooLarge(String),
}

impl ApplyError {
    fn kube(what: impl Into<String>, source: kube::Error) -> Self {
        ApplyError::Kube {
            what: what.into(),
            source,
        }
    }

    /// Whether the API server pushed back or did not answer (429, 5xx, a transport error or a
    /// timeout), as opposed to answering: the submission limit backs off.
    pub fn is_overload(&self) -> bool {
        match self {
            ApplyError::Kube { source, .. } => match code(source) {
                Some(code) => code == 429 || code >= 500,
                None => true,
            },
            _ => false,
        }
    }

    /// Whether the API server gave no answer at all (unreachable, the connection cut, a timeout).
    pub fn is_unanswered(&self) -> bool {
        matches!(self, ApplyError::Kube { source, .. } if code(source).is_none())
    }

    /// A short category for metrics labels.
    pub fn category(&self) -> &'static str {
        match self {
            ApplyError::Kube { .. } => "api",
            ApplyError::DriverTaken { .. } => "driver_taken",
            ApplyError::Conflict(_) => "conflict",
            ApplyError::Passing(_) => "refused_for_now",
            ApplyError::TooLarge(_) => "too_large",
        }
    }
}

/// The HTTP status of an API error, if it is one.
fn code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// The API server refused the object for good (invalid, forbidden, quota): a failed submission,
/// not a reason to retry at once.
pub(crate) fn is_rejection(e: &kube::Error) -> bool {
    code(e).is_some_and(|c| (400..500).contains(&c) && c != 409 && c != 429)
}

/// The API server could not store the object for its size: 413 from the API server itself, or a
/// 500 carrying etcd's refusal (its request limit, or the gRPC message limit before it).
fn is_too_large(e: &kube::Error) -> bool {
    let message = api_message(e);
    match code(e) {
        Some(413) => true,
        Some(500) => {
            message.contains("request is too large") || message.contains("message larger than max")
        }
        _ => false,
    }
}

/// Whether the API server has pod `name` (a read that bypasses the operator's pod cache).
pub async fn pod_exists(client: &Client, namespace: &str, name: &str) -> Result<bool, ApplyError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    pods.get_metadata_opt(name)
        .await
        .map(|found| found.is_some())
        .map_err(|e| ApplyError::kube(format!("reading pod {namespace}/{name}"), e))
}

/// What an API error means for one step of a submission: `Ok(message)` when the API server refused
/// the object for good (the submission fails with the message), `Err` when the step is to be tried
/// again. A refusal that can pass ([`ApplyError::Passing`]) is tried again until `refusals_final`.
fn refusal(what: String, e: kube::Error, refusals_final: bool) -> Result<String, ApplyError> {
    let message = format!("{what}: {}", api_message(&e));
    if may_pass(&e) && !refusals_final {
        Err(ApplyError::Passing(message))
    } else if is_rejection(&e) || is_too_large(&e) {
        Ok(message)
    } else {
        Err(ApplyError::kube(what, e))
    }
}

/// A refusal that says nothing final about the object: the caller's authentication (401) or
/// authorization (a 403 from RBAC, which names the user; a 403 from admission, such as a quota or a
/// missing ServiceAccount, is about the object and final), or the API server's storage failing
/// underneath a 4xx (the gRPC status etcd's client reports).
fn may_pass(e: &kube::Error) -> bool {
    let message = api_message(e);
    match code(e) {
        Some(401) => true,
        Some(403) => message.contains("User \"") && message.contains(" cannot "),
        Some(c) if (400..500).contains(&c) => [
            "code = Unavailable",
            "code = DeadlineExceeded",
            "etcdserver:",
        ]
        .iter()
        .any(|storage| message.contains(storage)),
        _ => false,
    }
}

/// The outcome of a submission.
#[derive(Debug)]
pub enum Submitted {
    Done(UiService),
    /// The API server refused an object; the message says which and why.
    Rejected(String),
}

enum Created<K> {
    New(K),
    Existed,
}

async fn create_if_absent<K>(api: &Api<K>, obj: &K) -> Result<Created<K>, kube::Error>
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(k) => Ok(Created::New(k)),
        Err(e) if code(&e) == Some(409) => Ok(Created::Existed),
        Err(e) => Err(e),
    }
}

fn name_of<K: Resource>(obj: &K) -> String {
    obj.meta().name.clone().unwrap_or_default()
}

/// Where a submission writes, and whether a refusal that can pass ([`ApplyError::Passing`]) fails it
/// now.
pub struct Target<'a> {
    pub client: &'a Client,
    pub metrics: &'a Metrics,
    pub namespace: &'a str,
    pub refusals_final: bool,
}

/// Creates what the driver needs to start: the Prometheus ConfigMap and the batch scheduler's
/// PodGroup, the driver pod, then what the pod owns (its ConfigMaps, headless Service and claims,
/// all at once). The driver pod may exist only if this very submission made it (a submission cut
/// short by a crash); everything else is create-if-absent. `Ok(Some(message))`: the API server refused
/// an object (when the refusal can pass, only once `refusals_final`; before, `Err(Passing)`).
pub async fn create_driver(
    target: &Target<'_>,
    plan: &mut SubmissionPlan,
) -> Result<Option<String>, ApplyError> {
    let &Target {
        client,
        metrics,
        namespace,
        refusals_final,
    } = target;
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let driver_name = plan.driver_pod_name.clone();
    let what = |kind: &str, name: &str| format!("creating {kind} {namespace}/{name}");
    // Objects owned by the application keep their names across attempts: they are applied (so a
    // rerun after a spec change takes them over), the rest is created once per attempt.
    // The Prometheus ConfigMap comes first: the driver pod mounts it. So does the coscheduling
    // group: a pod the scheduler sees without its group is placed as if it had none.
    if let Some(cm) = &plan.prometheus_config_map
        && let Err(rejection) = apply_one(target, "configmap", cm).await?
    {
        return Ok(Some(rejection));
    }
    if let Some(group) = &plan.coscheduling_group
        && let Err(rejection) = apply_one(target, "podgroup", group).await?
    {
        return Ok(Some(format!(
            "{rejection} (coscheduling needs the scheduler-plugins PodGroup CRD, podgroups.scheduling.x-k8s.io)"
        )));
    }
    if let Some(group) = &plan.volcano_group
        && let Err(rejection) = apply_one(target, "podgroup", group).await?
    {
        return Ok(Some(format!(
            "{rejection} (spec.batchScheduler: volcano needs Volcano installed: podgroups.scheduling.volcano.sh)"
        )));
    }
    metrics.write("pod", "create");
    let uid = match create_if_absent(&pods, &plan.driver_pod).await {
        Ok(Created::New(pod)) => pod.metadata.uid,
        Ok(Created::Existed) => {
            metrics.driver_conflicts.inc();
            let pod = pods
                .get(&driver_name)
                .await
                .map_err(|e| ApplyError::kube(format!("reading pod {driver_name}"), e))?;
            let found = pod
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_SUBMISSION_ID))
                .cloned();
            if found.as_deref() != Some(plan.submission_id.as_str()) {
                // An older driver of this application is on its way out (come back later); a pod
                // that is not this application's holds the name for good (Kubeflow's "driver pod
                // already exist").
                let ours = plan
                    .driver_pod
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .filter(|o| o.kind == "SparkApplication")
                    .any(|o| {
                        pod.metadata
                            .owner_references
                            .iter()
                            .flatten()
                            .any(|p| p.uid == o.uid)
                    });
                if !ours {
                    return Ok(Some(format!(
                        "driver pod {namespace}/{driver_name} already exists and does not belong to this application"
                    )));
                }
                return Err(ApplyError::DriverTaken {
                    name: driver_name,
                    found,
                });
            }
            pod.metadata.uid
        }
        Err(e) => return refusal(what("driver pod", &driver_name), e, refusals_final).map(Some),
    };
    plan.set_driver_owner(uid.as_deref().unwrap_or_default());

    // The driver's objects only need its uid, not each other: created at once.
    let mut creates: Vec<BoxFuture<'_, Result<Option<String>, ApplyError>>> = Vec::new();
    for cm in &plan.config_maps {
        creates.push(create_owned(target, "configmap", cm).boxed());
    }
    creates.push(create_owned(target, "service", &plan.driver_service).boxed());
    for claim in &plan.claims {
        creates.push(create_owned(target, "persistentvolumeclaim", claim).boxed());
    }
    if let Some(group) = &plan.executor_group {
        creates.push(
            create_owned(target, "podgroup", group)
                .map(|outcome| outcome.map(|rejection| rejection.map(gang_hint)))
                .boxed(),
        );
    }
    for outcome in futures::future::join_all(creates).await {
        if let Some(rejection) = outcome? {
            // As spark-submit does: a driver whose objects could not all be made is deleted (with
            // what it owns), rather than left waiting for a ConfigMap that will never exist.
            delete_quietly(&pods, metrics, "pod", &driver_name, uid.as_deref()).await?;
            return Ok(Some(rejection));
        }
    }
    Ok(None)
}

/// Says what a refused PodGroup needs: the Workload API is alpha and off by default.
fn gang_hint(rejection: String) -> String {
    format!(
        "{rejection} (spec.batchScheduler: workload needs the scheduling.k8s.io/v1alpha2 API: Kubernetes 1.36 with the GenericWorkload and GangScheduling feature gates)"
    )
}

/// Creates one object the driver pod owns; `Ok(Some(message))` when the API server refuses it.
async fn create_owned<K>(
    target: &Target<'_>,
    kind: &'static str,
    obj: &K,
) -> Result<Option<String>, ApplyError>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + Serialize + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(target.client.clone(), target.namespace);
    let what = format!("creating {kind} {}/{}", target.namespace, name_of(obj));
    target.metrics.write(kind, "create");
    match create_if_absent(&api, obj).await {
        Ok(_) => Ok(None),
        Err(e) => refusal(what, e, target.refusals_final).map(Some),
    }
}

/// Applies the UI Services and Ingresses, which the driver does not need to start (so they are
/// made after its submission slot is given back).
pub async fn expose_ui(
    target: &Target<'_>,
    plan: &SubmissionPlan,
) -> Result<Submitted, ApplyError> {
    let mut ui = UiService::default();
    for (i, svc) in plan.ui_services.iter().enumerate() {
        match apply_one(target, "service", svc).await? {
            Ok(applied) if i == 0 => ui.cluster_ip = applied.spec.and_then(|s| s.cluster_ip),
            Ok(_) => {}
            Err(rejection) => return Ok(Submitted::Rejected(rejection)),
        }
    }
    for ing in &plan.ingresses {
        if let Err(rejection) = apply_one(target, "ingress", ing).await? {
            return Ok(Submitted::Rejected(rejection));
        }
    }
    // The driver's budget is applied, not created: on a rerun the previous driver's may still be
    // there, waiting for the garbage collector; the apply hands it to the new driver instead.
    if let Some(pdb) = &plan.driver_pdb
        && let Err(rejection) = apply_one(target, "poddisruptionbudget", pdb).await?
    {
        return Ok(Submitted::Rejected(rejection));
    }
    Ok(Submitted::Done(ui))
}

/// Server-side applies one object: `Ok(Ok(applied))`, or `Ok(Err(message))` when the API server
/// refuses it.
async fn apply_one<K>(
    target: &Target<'_>,
    kind: &'static str,
    obj: &K,
) -> Result<Result<K, String>, ApplyError>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + Serialize + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(target.client.clone(), target.namespace);
    let name = name_of(obj);
    let what = format!("creating {kind} {}/{name}", target.namespace);
    target.metrics.write(kind, "apply");
    match api
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(obj),
        )
        .await
    {
        Ok(applied) => Ok(Ok(applied)),
        Err(e) => refusal(what, e, target.refusals_final).map(Err),
    }
}

pub(crate) fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

/// Deletes `name` (only the object with `uid`, when given); gone already, or replaced by another
/// object of the same name (the uid precondition fails), counts as done.
async fn delete_quietly<K>(
    api: &Api<K>,
    metrics: &Metrics,
    kind: &'static str,
    name: &str,
    uid: Option<&str>,
) -> Result<(), ApplyError>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    metrics.write(kind, "delete");
    let params = DeleteParams {
        preconditions: uid.map(|uid| Preconditions {
            uid: Some(uid.to_owned()),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    match api.delete(name, &params).await {
        Ok(_) => Ok(()),
        Err(e) if matches!(code(&e), Some(404 | 409)) => Ok(()),
        Err(e) => Err(ApplyError::kube(format!("deleting {name}"), e)),
    }
}

/// Deletes a run's driver pod (the garbage collector takes what only it owns), its executor pods
/// and the UI objects.
pub async fn delete_run(
    client: &Client,
    metrics: &Metrics,
    namespace: &str,
    run: &RunObjects,
) -> Result<(), ApplyError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    if let Some(pod) = &run.driver_pod {
        delete_quietly(&pods, metrics, "pod", pod, run.driver_uid.as_deref()).await?;
    }
    for executor in &run.executors {
        delete_quietly(
            &pods,
            metrics,
            "pod",
            &executor.name,
            executor.uid.as_deref(),
        )
        .await?;
    }
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    for s in &run.services {
        delete_quietly(&services, metrics, "service", s, None).await?;
    }
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), namespace);
    for i in &run.ingresses {
        delete_quietly(&ingresses, metrics, "ingress", i, None).await?;
    }
    Ok(())
}

/// Writes the spec-hash annotation; returns the updated application (its new resourceVersion
/// is the precondition of the status write that follows).
pub async fn record_spec_hash(
    api: &Api<SparkApplication>,
    metrics: &Metrics,
    name: &str,
    hash: &str,
) -> Result<SparkApplication, ApplyError> {
    metrics.write("sparkapplication", "patch");
    let patch = serde_json::json!({"metadata": {"annotations": {SPEC_HASH_ANNOTATION: hash}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| ApplyError::kube(format!("annotating {name}"), e))
}

/// Replaces the status, provided the application is still the one read (its resourceVersion):
/// a decision taken on stale data never lands.
pub async fn write_status(
    api: &Api<SparkApplication>,
    metrics: &Metrics,
    app: &SparkApplication,
    status: SparkApplicationStatus,
) -> Result<SparkApplication, ApplyError> {
    metrics.write("sparkapplication/status", "update");
    let name = app.metadata.name.clone().unwrap_or_default();
    let mut body = app.clone();
    body.status = Some(status);
    body.metadata.managed_fields = None;
    match api
        .replace_status(&name, &PostParams::default(), &body)
        .await
    {
        Ok(app) => Ok(app),
        Err(e) if code(&e) == Some(409) => Err(ApplyError::Conflict(name)),
        Err(e) if is_too_large(&e) => Err(ApplyError::TooLarge(format!(
            "the status of {name} cannot be stored: {}",
            api_message(&e)
        ))),
        Err(e) => Err(ApplyError::kube(format!("writing the status of {name}"), e)),
    }
}

/// Deletes an application whose TTL passed, only if it is still the same object (uid).
pub async fn delete_application(
    api: &Api<SparkApplication>,
    metrics: &Metrics,
    app: &SparkApplication,
) -> Result<(), ApplyError> {
    metrics.write("sparkapplication", "delete");
    let name = app.metadata.name.clone().unwrap_or_default();
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: app.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    match api.delete(&name, &dp).await {
        Ok(_) => Ok(()),
        Err(e) if matches!(code(&e), Some(404 | 409)) => Ok(()),
        Err(e) => Err(ApplyError::kube(format!("deleting {name}"), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: u16, message: &str) -> kube::Error {
        let mut status = kube::core::Status::failure(message, "Test");
        status.code = code;
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn refusals_that_can_pass_are_retried_until_final() {
        let etcd_away = "Service \"a-ui-svc\" is invalid: spec.clusterIPs: Invalid value: [\"\"]: failed to allocate IP: rpc error: code = Unavailable desc = error reading from server";
        let rbac = "pods is forbidden: User \"system:serviceaccount:ns:op\" cannot create resource \"pods\" in API group \"\" in the namespace \"ns\"";
        for passing in [
            answer(403, rbac),
            answer(401, "Unauthorized"),
            answer(422, etcd_away),
        ] {
            assert!(matches!(
                refusal("creating x".into(), passing, false),
                Err(ApplyError::Passing(_))
            ));
        }
        assert_eq!(
            refusal("creating x".into(), answer(403, rbac), true).ok(),
            Some(format!("creating x: {rbac}"))
        );
        // Admission's 403s are about the object: final at once.
        for admission in [
            "pods \"a\" is forbidden: error looking up service account ns/missing: serviceaccount \"missing\" not found",
            "configmaps \"a\" is forbidden: exceeded quota: no-configmaps, requested: count/configmaps=1",
        ] {
            assert!(refusal("creating x".into(), answer(403, admission), false).is_ok());
        }
        // A refusal of the object itself fails at once; no answer, a conflict or throttling is retried.
        let invalid = answer(
            422,
            "Pod \"a\" is invalid: spec.containers[0].image: Required value",
        );
        assert!(refusal("creating x".into(), invalid, false).is_ok());
        for retried in [
            answer(409, "exists"),
            answer(429, "slow down"),
            answer(500, "etcd"),
        ] {
            assert!(matches!(
                refusal("creating x".into(), retried, false),
                Err(ApplyError::Kube { .. })
            ));
        }
        // An object too big to store is refused for good, and is no sign of an overloaded server.
        for too_large in [
            answer(500, "etcdserver: request is too large"),
            answer(
                500,
                "rpc error: code = ResourceExhausted desc = trying to send message larger than max (3009618 vs. 2097152)",
            ),
            answer(413, "Request entity too large: limit is 3145728"),
        ] {
            assert!(is_too_large(&too_large));
            assert!(refusal("creating x".into(), too_large, false).is_ok());
        }
        assert!(!is_too_large(&answer(500, "etcdserver: leader changed")));
    }
}
