//! The ScheduledSparkApplication controller: watches schedules and their runs, asks `decide`, and
//! does what it says (delete, create, events, status). It decides nothing itself.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource, ResourceExt, core::ApiResource};
use sparkplane_api::v1beta2::ApplicationStateType;
use sparkplane_api::{ScheduledSparkApplication, SparkApplication};

use crate::record::{is_status, publish_event};
use crate::watch::{labelled_metadata, watched_store};

use super::decide::{self, Decision, DeletionCause, Input, Outcome, Reason, Run};
use super::metrics::ScheduledMetrics;
use super::run::{self, LABEL_SCHEDULED_APP_NAME, RunError};

/// The reporting controller's name on events.
pub const CONTROLLER: &str = "sparkplane";

/// How soon to look again after a failed step (a stale read loses its status write, for one).
const ERROR_REQUEUE: Duration = Duration::from_secs(2);
const CONFLICT_REQUEUE: Duration = Duration::from_millis(300);

#[derive(Debug, thiserror::Error)]
pub enum ScheduledError {
    #[error("the ScheduledSparkApplication has no namespace or name")]
    Unnamed,
    #[error("listing the runs of {namespace}/{name}: {source}")]
    ListRuns {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("deleting run {namespace}/{run}: {source}")]
    DeleteRun {
        namespace: String,
        run: String,
        #[source]
        source: kube::Error,
    },
    #[error("creating run {namespace}/{run}: {source}")]
    CreateRun {
        namespace: String,
        run: String,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    BuildRun(#[from] RunError),
    #[error("writing the status of {namespace}/{name}: {source}")]
    WriteStatus {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// A source of the current time, so the shell runs on a real clock and could on another.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

pub struct Context {
    pub client: Client,
    /// Namespaces whose schedules are run; empty means all.
    pub namespaces: BTreeSet<String>,
    /// A further filter on namespaces (the operator's namespace selector).
    pub allows: Arc<dyn Fn(&str) -> bool + Send + Sync>,
    pub recorder: Recorder,
    pub metrics: Arc<ScheduledMetrics>,
    /// The operator's zone, which `timeZone: Local` means.
    pub local_zone: TimeZone,
    pub clock: Clock,
}

impl Context {
    /// A context on the real clock and the operator's system zone, for every namespace in `namespaces`
    /// (all if empty).
    pub fn new(
        client: Client,
        namespaces: BTreeSet<String>,
        identity: &str,
        metrics: Arc<ScheduledMetrics>,
    ) -> Self {
        let reporter = Reporter {
            controller: CONTROLLER.into(),
            instance: Some(identity.to_owned()),
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            namespaces,
            allows: Arc::new(|_| true),
            metrics,
            local_zone: TimeZone::system(),
            clock: Arc::new(Timestamp::now),
        }
    }

    /// Each listed namespace is watched on its own, so the operator needs no cluster-wide
    /// permission; with none listed, one watch covers every namespace ("").
    fn watch_scopes(&self) -> Vec<String> {
        if self.namespaces.is_empty() {
            vec![String::new()]
        } else {
            self.namespaces.iter().cloned().collect()
        }
    }
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let scopes = ctx.watch_scopes();
    // Read one by one: a schedule that does not read into the types (stored under an older,
    // schemaless CRD) is skipped with a warning instead of breaking the whole watch.
    let (reader, schedule_events) =
        watched_store::<ScheduledSparkApplication>(&ctx.client, &scopes, gone_schedule);
    // Runs only need to wake their schedule: their metadata says which one.
    let run_events =
        labelled_metadata::<SparkApplication>(&ctx.client, &scopes, LABEL_SCHEDULED_APP_NAME);
    Controller::for_stream(schedule_events, reader)
        .with_config(ControllerConfig::default().concurrency(4))
        .watches_stream(run_events, |run| {
            let schedule = run.labels().get(LABEL_SCHEDULED_APP_NAME)?;
            let namespace = run.namespace()?;
            Some(ObjectRef::<ScheduledSparkApplication>::new(schedule).within(&namespace))
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

/// A schedule with only its identity: what leaves the store on a Delete.
fn gone_schedule(metadata: ObjectMeta) -> ScheduledSparkApplication {
    ScheduledSparkApplication {
        metadata,
        spec: Default::default(),
        status: None,
    }
}

fn error_policy(
    schedule: Arc<ScheduledSparkApplication>,
    error: &ScheduledError,
    _ctx: Arc<Context>,
) -> Action {
    // A status write on a stale read: expected after our own writes; the cache catches up soon.
    if let ScheduledError::WriteStatus { source, .. } = error
        && is_status(source, 409)
    {
        tracing::debug!(
            name = schedule.name_any(),
            "status write lost a race; looking again"
        );
        return Action::requeue(CONFLICT_REQUEUE);
    }
    tracing::warn!(
        namespace = schedule.namespace().unwrap_or_default(),
        name = schedule.name_any(),
        %error,
        "ScheduledSparkApplication reconcile failed"
    );
    Action::requeue(ERROR_REQUEUE)
}

#[tracing::instrument(skip_all, fields(namespace, name))]
async fn reconcile(
    schedule: Arc<ScheduledSparkApplication>,
    ctx: Arc<Context>,
) -> Result<Action, ScheduledError> {
    let (Some(namespace), Some(name)) = (schedule.namespace(), schedule.metadata.name.clone())
    else {
        return Err(ScheduledError::Unnamed);
    };
    tracing::Span::current()
        .record("namespace", namespace.as_str())
        .record("name", name.as_str());
    // Deleting a schedule deletes its runs through their owner reference: nothing to do here.
    if schedule.metadata.deletion_timestamp.is_some() || !(ctx.allows)(&namespace) {
        return Ok(Action::await_change());
    }

    let runs_api: Api<SparkApplication> = Api::namespaced(ctx.client.clone(), &namespace);
    let runs = observe_runs(&ctx, &schedule, &namespace, &name).await?;
    let status = schedule.status.clone().unwrap_or_default();
    let now = (ctx.clock)();
    let decision = decide::decide(Input {
        name: &name,
        spec: &schedule.spec,
        status: &status,
        runs: &runs,
        now,
        local_zone: &ctx.local_zone,
    });

    for deletion in &decision.delete {
        match runs_api
            .delete(&deletion.name, &DeleteParams::background())
            .await
        {
            Ok(_) => {}
            Err(error) if is_status(&error, 404) => continue,
            Err(source) => {
                return Err(ScheduledError::DeleteRun {
                    namespace,
                    run: deletion.name.clone(),
                    source,
                });
            }
        }
        let family = match deletion.cause {
            DeletionCause::Replaced => &ctx.metrics.runs_replaced,
            DeletionCause::History => &ctx.metrics.runs_pruned,
        };
        ScheduledMetrics::count(family, &namespace, 1);
    }
    if let Some(new_run) = &decision.create {
        let object = run::build(&schedule, &new_run.name)?;
        match runs_api.create(&PostParams::default(), &object).await {
            Ok(_) => ScheduledMetrics::count(&ctx.metrics.runs_created, &namespace, 1),
            // Its name is its due time: one that exists is this run, made by an earlier look.
            Err(error) if is_status(&error, 409) => {}
            Err(source) => {
                return Err(ScheduledError::CreateRun {
                    namespace,
                    run: new_run.name.clone(),
                    source,
                });
            }
        }
    }
    publish_events(&ctx, &schedule, &namespace, &decision).await;
    if decision.status != status {
        write_status(&ctx, &schedule, &decision, &namespace, &name).await?;
    }

    Ok(match decision.requeue_at {
        // Woken at the due time; a watch event on the schedule or a run wakes it sooner.
        Some(at) => Action::requeue(Duration::try_from(at - now).unwrap_or(Duration::ZERO)),
        None => Action::await_change(),
    })
}

/// The schedule's runs: SparkApplications with its label and owned by it (not by an earlier
/// schedule of the same name), read leniently so one malformed run cannot stop the schedule.
async fn observe_runs(
    ctx: &Context,
    schedule: &ScheduledSparkApplication,
    namespace: &str,
    name: &str,
) -> Result<Vec<Run>, ScheduledError> {
    let resource = ApiResource::erase::<SparkApplication>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), namespace, &resource);
    let selector = format!("{LABEL_SCHEDULED_APP_NAME}={name}");
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| ScheduledError::ListRuns {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            source,
        })?;
    let uid = schedule.metadata.uid.as_deref();
    Ok(list
        .items
        .into_iter()
        .filter(|object| {
            object
                .owner_references()
                .iter()
                .any(|owner| Some(owner.uid.as_str()) == uid)
        })
        .map(|object| {
            let state = object.data["status"]["applicationState"]["state"].clone();
            let outcome = match serde_json::from_value::<ApplicationStateType>(state) {
                Ok(ApplicationStateType::Completed) => Outcome::Succeeded,
                Ok(ApplicationStateType::Failed) => Outcome::Failed,
                _ => Outcome::Unfinished,
            };
            Run {
                created: object
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|time| time.0),
                deleting: object.metadata.deletion_timestamp.is_some(),
                name: object.name_any(),
                outcome,
            }
        })
        .collect())
}

async fn publish_events(
    ctx: &Context,
    schedule: &ScheduledSparkApplication,
    namespace: &str,
    decision: &Decision,
) {
    let reference = schedule.object_ref(&());
    for event in &decision.events {
        match event.reason {
            Reason::RunSkipped => ScheduledMetrics::count(&ctx.metrics.runs_skipped, namespace, 1),
            Reason::FailedValidation => {
                ScheduledMetrics::count(&ctx.metrics.failed_validations, namespace, 1)
            }
            Reason::RunCreated | Reason::RunReplaced => {}
        }
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

/// Replaces the status, conditional on the resource version read: a stale read loses and the next
/// look decides again from fresh state.
async fn write_status(
    ctx: &Context,
    schedule: &ScheduledSparkApplication,
    decision: &Decision,
    namespace: &str,
    name: &str,
) -> Result<(), ScheduledError> {
    let api: Api<ScheduledSparkApplication> = Api::namespaced(ctx.client.clone(), namespace);
    let mut updated = schedule.clone();
    updated.metadata.managed_fields = None;
    updated.status = Some(decision.status.clone());
    api.replace_status(name, &PostParams::default(), &updated)
        .await
        .map(|_| ())
        .map_err(|source| ScheduledError::WriteStatus {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::{Tolerant, read_event};
    use kube::runtime::watcher;
    use serde_json::json;

    /// A schedule as its watch decodes it, with `edit` applied to its JSON.
    fn object(edit: impl FnOnce(&mut serde_json::Value)) -> Tolerant<ScheduledSparkApplication> {
        let mut schedule = ScheduledSparkApplication::new(
            "pi",
            sparkplane_api::ScheduledSparkApplicationSpec {
                schedule: "@daily".into(),
                ..Default::default()
            },
        );
        schedule.metadata.namespace = Some("jobs".into());
        let mut value = serde_json::to_value(&schedule).expect("JSON");
        edit(&mut value);
        serde_json::from_value(value).expect("any JSON object decodes")
    }

    fn read(
        event: watcher::Event<Tolerant<ScheduledSparkApplication>>,
    ) -> Option<watcher::Event<ScheduledSparkApplication>> {
        read_event(event, gone_schedule, || {})
    }

    #[test]
    fn unreadable_schedules_are_skipped_and_readable_ones_kept() {
        let good = object(|_| {});
        let bad = object(|value| value["spec"]["template"]["driver"]["cores"] = json!("one"));
        let kept = read(watcher::Event::Apply(good));
        assert!(
            matches!(&kept, Some(watcher::Event::Apply(s)) if s.spec.schedule == "@daily"),
            "{kept:?}"
        );
        assert!(read(watcher::Event::Apply(bad.clone())).is_none());
        // A deleted one still leaves the store, whatever it holds.
        assert!(matches!(
            read(watcher::Event::Delete(bad)),
            Some(watcher::Event::Delete(s)) if s.metadata.name.as_deref() == Some("pi")
        ));
    }
}
