//! The SparkConnect controller: watches SparkConnects and their pods, asks `decide`, and does what it
//! says (apply the ConfigMap and Service, create or delete the server pod, events, status).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource, ResourceExt};
use sparkplane_api::SparkConnect;
use sparkplane_submit::connect::{
    self as plan, ANNOTATION_SPEC_HASH, ConnectPlan, LABEL_CONNECT_NAME,
};

use super::decide::{self, Decision, Input, ServerPod};
use crate::application::apply::{api_message, is_rejection};
use crate::record::{is_status, publish_event};
use crate::watch::{Scope, labelled_metadata, watched_store};

/// The reporting controller's name on events, and the field manager of what it applies.
const CONTROLLER: &str = "sparkplane";
const ERROR_REQUEUE: Duration = Duration::from_secs(2);
const CONFLICT_REQUEUE: Duration = Duration::from_millis(300);
/// A look now and then even with nothing observed, so the Service and ConfigMap are put back if
/// someone changes them.
const RESYNC: Duration = Duration::from_secs(300);
/// How soon a refused server pod is tried again (the refusal may be fixed outside: a ServiceAccount
/// created, a quota raised).
const REFUSED_REQUEUE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the SparkConnect has no namespace or name")]
    Unnamed,
    #[error("{action} {namespace}/{name}: {source}")]
    Kube {
        action: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

impl ConnectError {
    fn kube(action: &'static str, namespace: &str, name: &str) -> impl FnOnce(kube::Error) -> Self {
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        move |source| ConnectError::Kube {
            action,
            namespace,
            name,
            source,
        }
    }
}

pub struct Context {
    pub client: Client,
    pub scope: Scope,
    pub recorder: Recorder,
    /// `spark.master` for the servers, as applications get it.
    pub master: String,
}

impl Context {
    pub fn new(client: Client, scope: Scope, identity: &str, master: String) -> Self {
        let reporter = Reporter {
            controller: CONTROLLER.into(),
            instance: Some(identity.to_owned()),
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            scope,
            master,
        }
    }
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let scopes = ctx.scope.watch_scopes();
    let (reader, connect_events) = watched_store::<SparkConnect>(&ctx.client, &scopes, gone);
    // The server and its executors carry the SparkConnect's name; their changes wake it.
    let pod_events = labelled_metadata::<Pod>(&ctx.client, &scopes, LABEL_CONNECT_NAME);
    Controller::for_stream(connect_events, reader)
        .with_config(ControllerConfig::default().concurrency(4))
        .watches_stream(pod_events, |pod| {
            let name = pod.labels().get(LABEL_CONNECT_NAME)?;
            Some(ObjectRef::<SparkConnect>::new(name).within(&pod.namespace()?))
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

fn gone(metadata: ObjectMeta) -> SparkConnect {
    SparkConnect {
        metadata,
        spec: Default::default(),
        status: None,
    }
}

fn error_policy(conn: Arc<SparkConnect>, error: &ConnectError, _ctx: Arc<Context>) -> Action {
    if let ConnectError::Kube { source, .. } = error
        && is_status(source, 409)
    {
        return Action::requeue(CONFLICT_REQUEUE);
    }
    tracing::warn!(
        namespace = conn.namespace().unwrap_or_default(),
        name = conn.name_any(),
        %error,
        "SparkConnect reconcile failed"
    );
    Action::requeue(ERROR_REQUEUE)
}

#[tracing::instrument(skip_all, fields(namespace, name))]
async fn reconcile(conn: Arc<SparkConnect>, ctx: Arc<Context>) -> Result<Action, ConnectError> {
    let (Some(namespace), Some(name)) = (conn.namespace(), conn.metadata.name.clone()) else {
        return Err(ConnectError::Unnamed);
    };
    tracing::Span::current()
        .record("namespace", namespace.as_str())
        .record("name", name.as_str());
    // Deletion removes the pod, Service and ConfigMap through their owner references.
    if conn.metadata.deletion_timestamp.is_some() || !ctx.scope.allows(&namespace) {
        return Ok(Action::await_change());
    }
    let built = sparkplane_api::validate::spark_connect(&conn)
        .map_err(|invalid| invalid.to_string())
        .and_then(|()| plan::build(&conn, &ctx.master).map_err(|error| error.to_string()));

    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let pod_name = plan::server_pod_name(&name);
    let server = pods
        .get_opt(&pod_name)
        .await
        .map_err(ConnectError::kube("reading pod", &namespace, &pod_name))?
        // A pod of that name that is not this SparkConnect's is not its server.
        .filter(|pod| owned_by(&pod.metadata, &conn))
        .map(|pod| observe_server(&pod));
    let executor_phases: Vec<String> = pods
        .list(&ListParams::default().labels(&plan::executor_selector(&name)))
        .await
        .map_err(ConnectError::kube(
            "listing the executors of",
            &namespace,
            &name,
        ))?
        .items
        .iter()
        .map(|pod| {
            pod.status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Unknown".into())
        })
        .collect();

    let mut decision = decide::decide(Input {
        conn: &conn,
        plan: built.as_ref().map_err(Clone::clone),
        server: server.as_ref(),
        executor_phases: &executor_phases,
        now: Timestamp::now(),
    });
    let mut requeue = RESYNC;
    if let Some(why) = act(&ctx, &namespace, &pod_name, built.as_ref().ok(), &decision).await? {
        decision = decide::refused(decision, conn.status.as_ref(), &why);
        requeue = REFUSED_REQUEUE;
    }
    publish_events(&ctx, &conn, &decision).await;
    if Some(&decision.status) != conn.status.as_ref() {
        let api: Api<SparkConnect> = Api::namespaced(ctx.client.clone(), &namespace);
        let mut updated = (*conn).clone();
        updated.metadata.managed_fields = None;
        updated.status = Some(decision.status.clone());
        api.replace_status(&name, &PostParams::default(), &updated)
            .await
            .map_err(ConnectError::kube(
                "writing the status of",
                &namespace,
                &name,
            ))?;
    }
    Ok(Action::requeue(requeue))
}

/// Does what the decision says; `Some(why)` when the API server refused the server pod.
async fn act(
    ctx: &Context,
    namespace: &str,
    pod_name: &str,
    plan: Option<&ConnectPlan>,
    decision: &Decision,
) -> Result<Option<String>, ConnectError> {
    if let Some(plan) = plan.filter(|_| decision.apply) {
        let apply = PatchParams::apply(CONTROLLER).force();
        let config_maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
        let name = plan.config_map.name_any();
        config_maps
            .patch(&name, &apply, &Patch::Apply(&plan.config_map))
            .await
            .map_err(ConnectError::kube("applying ConfigMap", namespace, &name))?;
        let services: Api<Service> = Api::namespaced(ctx.client.clone(), namespace);
        let name = plan.service.name_any();
        services
            .patch(&name, &apply, &Patch::Apply(&plan.service))
            .await
            .map_err(ConnectError::kube("applying Service", namespace, &name))?;
    }
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let name = pod_name;
    if decision.delete_pod {
        match pods.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(error) if is_status(&error, 404) => {}
            Err(error) => return Err(ConnectError::kube("deleting pod", namespace, name)(error)),
        }
    }
    if let Some(plan) = plan.filter(|_| decision.create_pod) {
        match pods.create(&PostParams::default(), &plan.pod).await {
            Ok(_) => {}
            // Made by an earlier look whose read was stale: the next look sees it.
            Err(error) if is_status(&error, 409) => {}
            Err(error) if is_rejection(&error) => return Ok(Some(api_message(&error))),
            Err(error) => return Err(ConnectError::kube("creating pod", namespace, name)(error)),
        }
    }
    Ok(None)
}

fn owned_by(metadata: &ObjectMeta, conn: &SparkConnect) -> bool {
    metadata
        .owner_references
        .iter()
        .flatten()
        .any(|owner| Some(&owner.uid) == conn.metadata.uid.as_ref())
}

/// What `decide` needs of the server pod.
fn observe_server(pod: &Pod) -> ServerPod {
    let status = pod.status.clone().unwrap_or_default();
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    // The container says more than the pod: CrashLoopBackOff, OOMKilled, an exit code.
    let container = status.container_statuses.iter().flatten().find_map(|c| {
        let state = c.state.as_ref()?;
        if let Some(waiting) = &state.waiting {
            return waiting.reason.clone();
        }
        state.terminated.as_ref().map(|t| {
            format!(
                "{} (exit code {})",
                t.reason.clone().unwrap_or_else(|| "terminated".into()),
                t.exit_code
            )
        })
    });
    ServerPod {
        name: pod.name_any(),
        phase: status.phase.clone().unwrap_or_else(|| "Pending".into()),
        ready,
        ip: status.pod_ip.clone(),
        spec_hash: pod.annotations().get(ANNOTATION_SPEC_HASH).cloned(),
        deleting: pod.metadata.deletion_timestamp.is_some(),
        message: status.message.clone().or(container),
    }
}

async fn publish_events(ctx: &Context, conn: &SparkConnect, decision: &Decision) {
    let reference = conn.object_ref(&());
    for event in &decision.events {
        publish_event(
            &ctx.recorder,
            &reference,
            event.reason.as_str(),
            event.reason.is_warning(),
            &event.message,
        )
        .await;
    }
}
