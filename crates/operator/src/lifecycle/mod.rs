//! The SparkApplication state machine, pure: from the application (spec, status, metadata), what is
//! observed of its pods and the time, decide the next status, what to create or delete, which events
//! to record and when to look again. No client, no clock, no I/O: the controller does the doing.
//!
//! One step per call (`decide`). `settle` chains the steps that follow at once from what is already
//! observed (RUNNING -> SUCCEEDING -> COMPLETED when the driver has ended) into one status write; a
//! step that acts or waits (deleting a run, submitting, a retry interval) ends the chain, and the next
//! look takes it from there.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sparkplane_api::v1beta2::{ApplicationStateType as State, DriverInfo};
use sparkplane_api::{SparkApplication, SparkApplicationSpec, SparkApplicationStatus};
use sparkplane_submit::names;
use sparkplane_submit::{Attempt, SubmissionPlan};

pub mod conditions;
mod executors;
#[cfg(test)]
mod properties;
mod restart;
mod settle;
#[cfg(test)]
mod tests;
pub mod timeouts;

pub use executors::failed_on_its_own;
pub use restart::{retry_due, should_retry};
pub use settle::settle;

/// The annotation that holds the hash of the spec of the current run where no submission id of
/// Sparkplane's carries it: applications that ended without being submitted (an invalid spec, every
/// submission refused), runs adopted from Kubeflow, and runs of older releases, which wrote it before
/// every submission. A run submitted now records its spec in its submission id instead, at no cost.
pub const SPEC_HASH_ANNOTATION: &str = "sparkplane.io/spec-hash";

/// What shapes decisions, besides the application.
#[derive(Debug, Clone)]
pub struct Settings {
    pub plan: sparkplane_submit::Settings,
    /// How long a submitted driver pod may be missing before the run counts as failed.
    pub driver_pod_creation_grace: Duration,
    /// At most this many executors are kept in `status.executorState`.
    pub max_tracked_executors: usize,
    /// timeToLiveSeconds for applications that set none.
    pub default_ttl_seconds: Option<i64>,
    /// How often a live application is looked at even when nothing changes.
    pub resync: Duration,
    /// Limits on a run (each off unless set), overridden per application by annotations.
    pub timeouts: timeouts::Timeouts,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            plan: sparkplane_submit::Settings::default(),
            driver_pod_creation_grace: Duration::from_secs(10),
            max_tracked_executors: 1000,
            default_ttl_seconds: None,
            resync: Duration::from_secs(300),
            timeouts: timeouts::Timeouts::default(),
        }
    }
}

/// A pod phase, as the kubelet reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

impl PodPhase {
    pub fn parse(phase: Option<&str>) -> PodPhase {
        match phase {
            Some("Pending") | None => PodPhase::Pending,
            Some("Running") => PodPhase::Running,
            Some("Succeeded") => PodPhase::Succeeded,
            Some("Failed") => PodPhase::Failed,
            Some(_) => PodPhase::Unknown,
        }
    }
}

/// How the Spark container of a pod ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminated {
    pub exit_code: i32,
    pub reason: Option<String>,
    pub message: Option<String>,
}

/// The little the lifecycle reads of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodObs {
    pub name: String,
    /// The pod's uid: deletes of this pod carry it as a precondition.
    pub uid: Option<String>,
    pub submission_id: Option<String>,
    pub phase: PodPhase,
    /// The Spark container (driver or executor), once terminated.
    pub terminated: Option<Terminated>,
    /// The pod's status reason and message, if any (e.g. Evicted).
    pub message: Option<String>,
    pub deleting: bool,
}

/// The application's pods, as last seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// The pod labelled `spark-role=driver` of this application, whichever submission made it.
    pub driver: Option<PodObs>,
    pub executors: Vec<PodObs>,
}

/// An event to record on the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpec {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

impl EventSpec {
    fn normal(reason: &'static str, message: impl Into<String>) -> Self {
        EventSpec {
            warning: false,
            reason,
            message: message.into(),
        }
    }
    pub fn warning(reason: &'static str, message: impl Into<String>) -> Self {
        EventSpec {
            warning: true,
            reason,
            message: message.into(),
        }
    }
}

/// The objects of a run that the operator deletes before a rerun or on suspend. What the driver pod
/// owns (its ConfigMaps, Service, executors) goes with it through the garbage collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunObjects {
    pub driver_pod: Option<String>,
    /// The driver pod's uid when it was observed: the delete only removes that very pod.
    pub driver_uid: Option<String>,
    pub services: Vec<String>,
    pub ingresses: Vec<String>,
    /// The run's executor pods not yet being deleted. They carry an ownerReference to the
    /// application beside Spark's to the driver (Kubeflow's executor template has it), so the
    /// garbage collector keeps them when only the driver goes: left, one waiting for a volume its
    /// driver's deletion removed would hold its node's resources for good.
    pub executors: Vec<PodRef>,
}

/// A pod to delete: its name, and its uid when known (the delete then removes only that pod).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    pub name: String,
    pub uid: Option<String>,
}

/// What to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write [`SPEC_HASH_ANNOTATION`] on the application.
    RecordSpecHash(String),
    /// Submit `attempt`: build its plan ([`plan`]), create its objects (if absent), then report with
    /// [`submitted`] or [`submission_failed`]. The spec is valid; the plan is built by whoever
    /// submits, from the application as it is then.
    Submit {
        attempt: u32,
    },
    DeleteRun(RunObjects),
    /// timeToLiveSeconds has passed.
    DeleteApplication,
}

/// The outcome of one look at an application.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    /// The new status, when it changes.
    pub status: Option<SparkApplicationStatus>,
    pub actions: Vec<Action>,
    pub events: Vec<EventSpec>,
    /// Look again after this long even if nothing changes.
    pub requeue_after: Option<Duration>,
    /// The decision holds only if the API server itself has no pod of this name: it was taken on
    /// the pod cache's word that the driver is missing, and the cache can be behind (after an API
    /// server restart its watch relists, and a driver made meanwhile is not in it yet).
    pub unless_driver_exists: Option<String>,
}

impl Decision {
    fn wait(after: Duration) -> Self {
        Decision {
            requeue_after: Some(after),
            ..Decision::default()
        }
    }
}

/// The terminal states: nothing happens to the run any more, only TTL.
pub fn is_terminal(state: State) -> bool {
    matches!(state, State::Completed | State::Failed)
}

/// The hash of everything in the spec whose change means a rerun (all but suspend and TTL), as the
/// annotation holds it.
pub fn spec_hash(spec: &SparkApplicationSpec) -> String {
    names::spec_hash(spec)
}

/// Whether the run recorded in the status was submitted with another spec than the current one:
/// its submission id is one Sparkplane derived, and no attempt of this application with the current
/// spec gives it. `None` when the status holds no such id (nothing to compare).
fn submitted_with_another_spec(
    app: &SparkApplication,
    status: &SparkApplicationStatus,
) -> Option<bool> {
    let id = status.submission_id.as_deref()?;
    if !names::is_derived_submission_id(id) {
        return None;
    }
    let uid = app.metadata.uid.as_deref()?;
    let attempts = u32::try_from(status.submission_attempts.unwrap_or(0)).unwrap_or(0);
    // Plans are built from the defaulted spec, and so is the hash their submission id carries.
    let hash = names::spec_hash(&defaulted(app).spec);
    Some(!(1..=attempts.max(1)).any(|attempt| names::submission_id(uid, attempt, &hash) == id))
}

fn name(app: &SparkApplication) -> &str {
    app.metadata.name.as_deref().unwrap_or_default()
}

fn time(t: Timestamp) -> Time {
    Time(t)
}

fn since(now: Timestamp, t: Option<&Time>) -> Duration {
    t.map(|t| now.duration_since(t.0))
        .and_then(|d| Duration::try_from(d).ok())
        .unwrap_or(Duration::MAX)
}

/// Decides the next step for `app`.
pub fn decide(
    app: &SparkApplication,
    observed: &Observed,
    now: Timestamp,
    settings: &Settings,
) -> Decision {
    if app.metadata.deletion_timestamp.is_some() {
        return Decision::default();
    }
    with_conditions(app, decide_state(app, observed, now, settings), now)
}

/// Every new status carries its conditions, derived from its state.
fn with_conditions(app: &SparkApplication, mut decision: Decision, now: Timestamp) -> Decision {
    if let Some(status) = decision.status.as_mut() {
        conditions::refresh(app.status.as_ref(), status, app.metadata.generation, now);
    }
    decision
}

fn decide_state(
    app: &SparkApplication,
    observed: &Observed,
    now: Timestamp,
    settings: &Settings,
) -> Decision {
    let status = app.status.clone().unwrap_or_default();
    let state = status.application_state.state;
    let hash = spec_hash(&app.spec);
    let recorded = recorded_spec_hash(app);

    // A run that exists (or ended) with another spec than the current one is invalidated. States
    // that are about to submit anyway take the new spec as it is. A live run suspended in the same
    // change (as Kueue preempts: `suspend` set and its node selectors taken back) is suspended, not
    // invalidated: resuming submits the spec it has then.
    let suspending_now = app.spec.suspend == Some(true) && !is_terminal(state);
    let has_run = !suspending_now
        && !matches!(
            state,
            State::New
                | State::Invalidating
                | State::PendingRerun
                | State::Suspending
                | State::Suspended
                | State::Resuming
        );
    if has_run {
        match (recorded, submitted_with_another_spec(app, &status)) {
            (Some(r), _) if *r != hash => return invalidate(app, status, observed),
            (Some(_), _) => {}
            (None, Some(true)) => return invalidate(app, status, observed),
            (None, Some(false)) => {}
            // A run no submission id of ours describes (adopted from Kubeflow, or ended unsubmitted
            // under an older release): adopt the spec it has.
            (None, None) => {
                let mut d = step(app, status, observed, now, settings);
                d.actions.insert(0, Action::RecordSpecHash(hash));
                return d;
            }
        }
    }
    step(app, status, observed, now, settings)
}

fn step(
    app: &SparkApplication,
    status: SparkApplicationStatus,
    observed: &Observed,
    now: Timestamp,
    settings: &Settings,
) -> Decision {
    let state = status.application_state.state;
    let suspend = app.spec.suspend == Some(true);
    if suspend && !is_terminal(state) && !matches!(state, State::Suspending | State::Suspended) {
        let mut status = status;
        status.application_state.state = State::Suspending;
        status.application_state.error_message = None;
        return Decision {
            status: Some(status),
            actions: vec![Action::DeleteRun(run_objects(app, observed))],
            events: vec![EventSpec::normal(
                "SparkApplicationSuspending",
                format!("SparkApplication {} is suspending", name(app)),
            )],
            ..Decision::default()
        };
    }
    match state {
        State::New => {
            let added = EventSpec::normal(
                "SparkApplicationAdded",
                format!(
                    "SparkApplication {} was added, enqueuing it for submission",
                    name(app)
                ),
            );
            let mut d = submit(app, &status, observed, now, settings);
            // Said once, with the step that moves the application on (not while it waits).
            let moves =
                d.status.is_some() || d.actions.iter().any(|a| matches!(a, Action::Submit { .. }));
            if moves {
                d.events.insert(0, added);
            }
            d
        }
        State::Submitted | State::Running | State::Unknown => {
            track(app, status, observed, now, settings)
        }
        State::Succeeding => {
            let (executors, mut events) = executors::update(
                &status,
                observed,
                executors::Context {
                    app_done: true,
                    driver_running: false,
                },
                settings.max_tracked_executors,
            );
            let mut status = status;
            status.executor_state = executors;
            if should_retry(&app.spec, &status) {
                status.application_state.state = State::PendingRerun;
                events.push(pending_rerun(app));
                Decision {
                    status: Some(status),
                    actions: vec![Action::DeleteRun(run_objects(app, observed))],
                    events,
                    ..Decision::default()
                }
            } else {
                status.application_state.state = State::Completed;
                status.termination_time.get_or_insert(time(now));
                events.push(EventSpec::normal(
                    "SparkApplicationCompleted",
                    format!("SparkApplication {} completed", name(app)),
                ));
                let requeue_after = ttl_wait(app, &status, now, settings);
                let actions = ui_gone(app, &status);
                Decision {
                    status: Some(status),
                    actions,
                    events,
                    requeue_after,
                    ..Decision::default()
                }
            }
        }
        State::Failing => {
            let (executors, mut events) = executors::update(
                &status,
                observed,
                executors::Context {
                    app_done: false,
                    driver_running: false,
                },
                settings.max_tracked_executors,
            );
            let mut status = status;
            let changed = executors != status.executor_state;
            status.executor_state = executors;
            if should_retry(&app.spec, &status) {
                match retry_due(&app.spec, &status, now) {
                    Ok(()) => {
                        status.application_state.state = State::PendingRerun;
                        events.push(pending_rerun(app));
                        Decision {
                            status: Some(status),
                            actions: vec![Action::DeleteRun(run_objects(app, observed))],
                            events,
                            ..Decision::default()
                        }
                    }
                    Err(wait) => Decision {
                        status: changed.then_some(status),
                        actions: vec![],
                        events,
                        requeue_after: Some(wait),
                        ..Decision::default()
                    },
                }
            } else {
                status.termination_time.get_or_insert(time(now));
                fail(app, status, now, settings, events, "the driver failed")
            }
        }
        State::SubmissionFailed => {
            if should_retry(&app.spec, &status) {
                match retry_due(&app.spec, &status, now) {
                    Ok(()) => submit(app, &status, observed, now, settings),
                    Err(wait) => Decision::wait(wait),
                }
            } else {
                let mut status = status;
                status.termination_time = Some(time(now));
                fail(app, status, now, settings, vec![], "submission failed")
            }
        }
        State::PendingRerun | State::Resuming => submit(app, &status, observed, now, settings),
        State::Invalidating => delete_run_then(
            app,
            observed,
            status,
            State::PendingRerun,
            pending_rerun(app),
        ),
        State::Suspending => {
            let suspended = EventSpec::normal(
                "SparkApplicationSuspended",
                format!("SparkApplication {} is suspended", name(app)),
            );
            delete_run_then(app, observed, status, State::Suspended, suspended)
        }
        State::Suspended => {
            if suspend {
                Decision::default()
            } else {
                let mut status = status;
                status.application_state.state = State::Resuming;
                Decision {
                    status: Some(status),
                    events: vec![EventSpec::normal(
                        "SparkApplicationResuming",
                        format!("SparkApplication {} is resuming", name(app)),
                    )],
                    ..Decision::default()
                }
            }
        }
        State::Completed | State::Failed => {
            if ttl_wait(app, &status, now, settings) == Some(Duration::ZERO) {
                Decision {
                    actions: vec![Action::DeleteApplication],
                    ..Decision::default()
                }
            } else {
                Decision {
                    requeue_after: ttl_wait(app, &status, now, settings),
                    ..Decision::default()
                }
            }
        }
    }
}

/// While the run's driver is still there, delete the run and look again; once it is gone, move on to
/// `next` with `event`.
fn delete_run_then(
    app: &SparkApplication,
    observed: &Observed,
    mut status: SparkApplicationStatus,
    next: State,
    event: EventSpec,
) -> Decision {
    if observed.driver.is_some() {
        return Decision {
            actions: vec![Action::DeleteRun(run_objects(app, observed))],
            requeue_after: Some(Duration::from_secs(1)),
            ..Decision::default()
        };
    }
    status.application_state.state = next;
    Decision {
        status: Some(status),
        events: vec![event],
        ..Decision::default()
    }
}

fn pending_rerun(app: &SparkApplication) -> EventSpec {
    EventSpec::normal(
        "SparkApplicationPendingRerun",
        format!("SparkApplication {} is pending rerun", name(app)),
    )
}

/// INVALIDATING: the spec changed under a run. The counters go on (they name the attempts'
/// objects, which must never repeat), the rest of the status belongs to the old run.
fn invalidate(
    app: &SparkApplication,
    status: SparkApplicationStatus,
    observed: &Observed,
) -> Decision {
    let status = SparkApplicationStatus {
        application_state: sparkplane_api::v1beta2::ApplicationState {
            state: State::Invalidating,
            error_message: None,
        },
        submission_attempts: status.submission_attempts,
        execution_attempts: status.execution_attempts,
        last_submission_attempt_time: status.last_submission_attempt_time,
        ..SparkApplicationStatus::default()
    };
    Decision {
        status: Some(status),
        actions: vec![Action::DeleteRun(run_objects(app, observed))],
        events: vec![EventSpec::normal(
            "SparkApplicationSpecUpdateProcessed",
            format!(
                "SparkApplication {} was updated: its run is invalidated and will be rerun",
                name(app)
            ),
        )],
        ..Decision::default()
    }
}

/// FAILED, for good: the Warning event quotes the error message (or `fallback`), and the TTL clock
/// starts from the termination time the caller set.
fn fail(
    app: &SparkApplication,
    mut status: SparkApplicationStatus,
    now: Timestamp,
    settings: &Settings,
    mut events: Vec<EventSpec>,
    fallback: &str,
) -> Decision {
    status.application_state.state = State::Failed;
    let reason = status
        .application_state
        .error_message
        .as_deref()
        .unwrap_or(fallback);
    events.push(EventSpec::warning(
        "SparkApplicationFailed",
        format!("SparkApplication {} failed: {reason}", name(app)),
    ));
    let requeue_after = ttl_wait(app, &status, now, settings);
    let actions = ui_gone(app, &status);
    Decision {
        status: Some(status),
        actions,
        events,
        requeue_after,
        ..Decision::default()
    }
}

/// How long until the application's TTL expires (zero: now); None without a TTL.
fn ttl_wait(
    app: &SparkApplication,
    status: &SparkApplicationStatus,
    now: Timestamp,
    settings: &Settings,
) -> Option<Duration> {
    let ttl = app
        .spec
        .time_to_live_seconds
        .or(settings.default_ttl_seconds)?;
    let ended = status.termination_time.as_ref().map_or(now, |t| t.0);
    let expires = ended
        .checked_add(SignedDuration::from_secs(ttl.max(0)))
        .ok()?;
    let left = expires.duration_since(now);
    Some(Duration::try_from(left).unwrap_or(Duration::ZERO))
}

fn run_objects(app: &SparkApplication, observed: &Observed) -> RunObjects {
    use sparkplane_submit::names::kubeflow_name;
    let n = name(app);
    let mut services = vec![kubeflow_name(n, "ui-svc")];
    let mut ingresses = vec![kubeflow_name(n, "ui-ingress")];
    for d in app.spec.driver_ingress_options.iter().flatten() {
        services.push(kubeflow_name(n, &format!("driver-{}", d.service_port)));
        ingresses.push(kubeflow_name(n, &format!("ing-{}", d.service_port)));
    }
    RunObjects {
        driver_pod: observed.driver.as_ref().map(|d| d.name.clone()),
        driver_uid: observed.driver.as_ref().and_then(|d| d.uid.clone()),
        services,
        ingresses,
        executors: observed
            .executors
            .iter()
            .filter(|e| !e.deleting)
            .map(|e| PodRef {
                name: e.name.clone(),
                uid: e.uid.clone(),
            })
            .collect(),
    }
}

/// How much of an error message a status keeps when the whole status does not fit.
const TRIMMED_MESSAGE_BYTES: usize = 1024;

/// A status the API server refused for its size, without what grows with the run: the executor
/// map, and an error message beyond its first KiB. Everything else (state, attempts, driver) is
/// small and what tracking needs.
pub fn trimmed_status(mut status: SparkApplicationStatus) -> SparkApplicationStatus {
    status.executor_state = None;
    if let Some(message) = status.application_state.error_message.as_mut()
        && message.len() > TRIMMED_MESSAGE_BYTES
    {
        let mut end = TRIMMED_MESSAGE_BYTES;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str("...");
    }
    status
}

/// The application with Kubeflow's defaults applied, as plans are built from it.
pub fn defaulted(app: &SparkApplication) -> SparkApplication {
    let mut app = app.clone();
    app.spec = sparkplane_api::defaults::spark_application_spec(app.spec);
    app
}

/// The next submission: validate, wait for the last run's driver to be gone, then submit (the plan is
/// built by the submitter, with [`plan`]).
fn submit(
    app: &SparkApplication,
    status: &SparkApplicationStatus,
    observed: &Observed,
    now: Timestamp,
    settings: &Settings,
) -> Decision {
    let app_d = defaulted(app);
    if let Err(invalid) = sparkplane_api::validate::spark_application(&app_d) {
        // Retrying cannot fix a spec: fail at once; editing the spec reruns it.
        return fail_permanently(app, status, now, settings, invalid.to_string());
    }
    if let Err(invalid) = timeouts::for_app(app, settings.timeouts) {
        return fail_permanently(app, status, now, settings, invalid);
    }
    let attempt = status.submission_attempts.unwrap_or(0).max(0) as u32 + 1;
    let submission_id = app
        .metadata
        .uid
        .as_deref()
        .map(|uid| names::submission_id(uid, attempt, &names::spec_hash(&app_d.spec)));
    if let Some(driver) = &observed.driver
        && driver.submission_id.is_some()
        && driver.submission_id != submission_id
    {
        // The last run's driver holds the name: delete it and come back when it is gone.
        let mut objects = run_objects(app, observed);
        if driver.deleting {
            objects.driver_pod = None;
        }
        return Decision {
            actions: vec![Action::DeleteRun(objects)],
            requeue_after: Some(Duration::from_secs(1)),
            ..Decision::default()
        };
    }
    // A driver with this attempt's submission id means a submission was cut short (the operator
    // stopped before writing the status): submitting again creates only what is missing. An
    // annotation left by an older release is kept true to the spec being submitted.
    let legacy = app
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(SPEC_HASH_ANNOTATION));
    let mut actions = if legacy { remember_spec(app) } else { vec![] };
    actions.push(Action::Submit { attempt });
    Decision {
        actions,
        ..Decision::default()
    }
}

/// The plan of `attempt`, or, when Spark's rules refuse the application, the decision that fails it
/// for good.
pub fn plan(
    app: &SparkApplication,
    attempt: u32,
    now: Timestamp,
    settings: &Settings,
) -> Result<SubmissionPlan, Box<Decision>> {
    let status = app.status.clone().unwrap_or_default();
    sparkplane_submit::build(&defaulted(app), &settings.plan, Attempt(attempt))
        .map_err(|e| Box::new(fail_permanently(app, &status, now, settings, e.to_string())))
}

fn fail_permanently(
    app: &SparkApplication,
    status: &SparkApplicationStatus,
    now: Timestamp,
    settings: &Settings,
    message: String,
) -> Decision {
    let mut status = status.clone();
    status.application_state.state = State::Failed;
    status.application_state.error_message = Some(message.clone());
    status.termination_time = Some(time(now));
    let requeue_after = ttl_wait(app, &status, now, settings);
    Decision {
        status: Some(status),
        // No run records this spec: the annotation does, so that editing it reruns the application.
        actions: remember_spec(app),
        events: vec![EventSpec::warning(
            "SparkApplicationFailed",
            format!("SparkApplication {} is invalid: {message}", name(app)),
        )],
        requeue_after,
        ..Decision::default()
    }
}

/// At the end of an application, its UI Service and Ingress go (the driver pod stays, with its log):
/// a finished driver serves no UI, and every Service left behind adds environment variables to each
/// new pod of the namespace (Kubeflow #2984). Only when the run made them.
fn ui_gone(app: &SparkApplication, status: &SparkApplicationStatus) -> Vec<Action> {
    if status.driver_info.web_ui_service_name.is_none()
        && status.driver_info.web_ui_ingress_name.is_none()
    {
        return vec![];
    }
    let mut objects = run_objects(app, &Observed::default());
    objects.driver_pod = None;
    // Only what the run made: an Ingress only with an Ingress name in the status.
    if status.driver_info.web_ui_ingress_name.is_none() {
        objects.ingresses.clear();
    }
    vec![Action::DeleteRun(objects)]
}

/// The spec hash the annotation holds, if any.
fn recorded_spec_hash(app: &SparkApplication) -> Option<&String> {
    app.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SPEC_HASH_ANNOTATION))
}

/// The annotation write that records the spec, unless the annotation already holds it.
fn remember_spec(app: &SparkApplication) -> Vec<Action> {
    let hash = spec_hash(&app.spec);
    if recorded_spec_hash(app) == Some(&hash) {
        vec![]
    } else {
        vec![Action::RecordSpecHash(hash)]
    }
}

/// What the controller learnt about the created UI Service, for `driverInfo.webUIAddress`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UiService {
    pub cluster_ip: Option<String>,
}

/// The status after the plan's objects were created.
pub fn submitted(
    app: &SparkApplication,
    plan: &SubmissionPlan,
    attempt: u32,
    ui: &UiService,
    now: Timestamp,
    settings: &Settings,
) -> Decision {
    let old = app.status.clone().unwrap_or_default();
    let ui_svc = plan.ui_services.first();
    let ui_port = ui_svc.and_then(|s| s.spec.as_ref()?.ports.as_ref()?.first().map(|p| p.port));
    let ingress = plan.ingresses.first();
    let status = SparkApplicationStatus {
        spark_application_id: Some(plan.app_id.clone()),
        submission_id: Some(plan.submission_id.clone()),
        last_submission_attempt_time: Some(time(now)),
        termination_time: None,
        driver_info: DriverInfo {
            pod_name: Some(plan.driver_pod_name.clone()),
            web_ui_service_name: ui_svc.and_then(|s| s.metadata.name.clone()),
            web_ui_port: ui_port,
            web_ui_address: match (&ui.cluster_ip, ui_port) {
                (Some(ip), Some(port)) if ip != "None" => Some(format!("{ip}:{port}")),
                _ => None,
            },
            web_ui_ingress_name: ingress.and_then(|i| i.metadata.name.clone()),
            web_ui_ingress_address: ingress.and_then(|i| {
                let rule = i.spec.as_ref()?.rules.as_ref()?.first()?;
                let host = rule.host.clone()?;
                let path = rule
                    .http
                    .as_ref()
                    .and_then(|h| h.paths.first())
                    .and_then(|p| p.path.clone())
                    .unwrap_or_default();
                Some(format!("{host}{path}"))
            }),
        },
        application_state: sparkplane_api::v1beta2::ApplicationState {
            state: State::Submitted,
            error_message: None,
        },
        executor_state: None,
        execution_attempts: Some(old.execution_attempts.unwrap_or(0) + 1),
        submission_attempts: Some(attempt as i32),
        // Set from the state below (with_conditions), against the old status' conditions.
        conditions: None,
    };
    let decision = Decision {
        status: Some(status),
        actions: vec![],
        events: vec![EventSpec::normal(
            "SparkApplicationSubmitted",
            format!(
                "SparkApplication {} was submitted successfully (attempt {attempt})",
                name(app)
            ),
        )],
        requeue_after: Some(settings.driver_pod_creation_grace),
        ..Decision::default()
    };
    with_conditions(app, decision, now)
}

/// The status after the API server refused part of a submission.
pub fn submission_failed(
    app: &SparkApplication,
    attempt: u32,
    message: &str,
    now: Timestamp,
) -> Decision {
    let mut status = app.status.clone().unwrap_or_default();
    status.application_state.state = State::SubmissionFailed;
    status.application_state.error_message = Some(message.to_owned());
    status.submission_attempts = Some(attempt as i32);
    status.last_submission_attempt_time = Some(time(now));
    let wait = match retry_due(&app.spec, &status, now) {
        Ok(()) => Duration::ZERO,
        Err(wait) => wait,
    };
    let decision = Decision {
        status: Some(status),
        actions: vec![],
        events: vec![EventSpec::warning(
            "SparkApplicationSubmissionFailed",
            format!(
                "SparkApplication {} failed submission (attempt {attempt}): {message}",
                name(app)
            ),
        )],
        requeue_after: Some(wait),
        ..Decision::default()
    };
    with_conditions(app, decision, now)
}

/// SUBMITTED, RUNNING, UNKNOWN: follow the driver pod of the current submission, and the executors.
fn track(
    app: &SparkApplication,
    status: SparkApplicationStatus,
    observed: &Observed,
    now: Timestamp,
    settings: &Settings,
) -> Decision {
    let state = status.application_state.state;
    let driver = observed
        .driver
        .as_ref()
        .filter(|d| d.submission_id.is_some() && d.submission_id == status.submission_id);
    // A bad annotation failed the application at submission; one made bad since is ignored here and
    // the operator's limits apply (docs/operator.md, "Timeouts").
    let limits = timeouts::for_app(app, settings.timeouts).unwrap_or(settings.timeouts);
    let executors_of_run: Vec<PodObs> = observed
        .executors
        .iter()
        .filter(|e| e.submission_id.is_some() && e.submission_id == status.submission_id)
        .cloned()
        .collect();
    let run = timeouts::Run {
        driver,
        executors: &executors_of_run,
        wants_executors: wants_executors_at_start(app),
        age: since(now, status.last_submission_attempt_time.as_ref()),
    };
    let next_limit = match timeouts::check(&run, &limits) {
        Ok(next) => next,
        Err(expired) => return timed_out(app, status, observed, now, expired),
    };
    let mut new = status.clone();
    let mut events = Vec::new();
    let mut unless_driver_exists = None;
    let driver_name = status
        .driver_info
        .pod_name
        .clone()
        .unwrap_or_else(|| app.driver_pod_name());
    match driver {
        None => {
            let missing_for = since(now, status.last_submission_attempt_time.as_ref());
            if missing_for < settings.driver_pod_creation_grace {
                return Decision::wait(settings.driver_pod_creation_grace - missing_for);
            }
            new.application_state.state = State::Failing;
            let message = format!("driver pod {driver_name} not found");
            new.application_state.error_message = Some(message.clone());
            new.termination_time = Some(time(now));
            events.push(EventSpec::warning("SparkDriverFailed", message));
            unless_driver_exists = Some(driver_name.clone());
        }
        Some(d) => {
            let (next, message) = driver_state(d);
            new.application_state.state = next;
            if next != state {
                match next {
                    State::Running => events.push(EventSpec::normal(
                        "SparkDriverRunning",
                        format!("Driver {} is running", d.name),
                    )),
                    State::Succeeding => events.push(EventSpec::normal(
                        "SparkDriverCompleted",
                        format!("Driver {} completed", d.name),
                    )),
                    State::Failing => events.push(EventSpec::warning(
                        "SparkDriverFailed",
                        format!(
                            "Driver {} failed: {}",
                            d.name,
                            message.as_deref().unwrap_or("unknown reason")
                        ),
                    )),
                    State::Unknown => events.push(EventSpec::warning(
                        "SparkDriverUnknownState",
                        format!("Driver {} is in an unknown state", d.name),
                    )),
                    _ => events.push(EventSpec::normal(
                        "SparkDriverPending",
                        format!("Driver {} is pending", d.name),
                    )),
                }
            }
            if matches!(next, State::Succeeding | State::Failing) {
                new.termination_time = Some(time(now));
                new.application_state.error_message = message;
            }
        }
    }
    let driver_running = new.application_state.state == State::Running;
    let (executors, executor_events) = executors::update(
        &new,
        observed,
        executors::Context {
            app_done: new.application_state.state == State::Succeeding,
            driver_running,
        },
        settings.max_tracked_executors,
    );
    new.executor_state = executors;
    events.extend(executor_events);
    // A run that just ended has a next step of its own (retry, TTL, the final state): look again
    // at once after the write rather than wait for another pod event or the resync.
    let ended_now = new.application_state.state != state
        && matches!(
            new.application_state.state,
            State::Succeeding | State::Failing
        );
    let look_again = next_limit.map_or(settings.resync, |next| next.min(settings.resync));
    Decision {
        status: (new != status).then_some(new),
        actions: vec![],
        events,
        requeue_after: (!ended_now).then_some(look_again),
        unless_driver_exists,
    }
}

/// Whether the application asks for executors from the start: not dynamic allocation from zero.
fn wants_executors_at_start(app: &SparkApplication) -> bool {
    let spec = &app.spec;
    match &spec.dynamic_allocation {
        Some(dynamic) if dynamic.enabled == Some(true) => {
            dynamic
                .initial_executors
                .or(dynamic.min_executors)
                .unwrap_or(0)
                > 0
        }
        _ => spec.executor.instances.unwrap_or(1) > 0,
    }
}

/// A limit of the run passed: the run ends as a failed driver's would (the restart policy decides
/// what follows), and its pods are deleted, since a Pending driver could still start later.
fn timed_out(
    app: &SparkApplication,
    status: SparkApplicationStatus,
    observed: &Observed,
    now: Timestamp,
    expired: timeouts::Expired,
) -> Decision {
    let mut status = status;
    status.application_state.state = State::Failing;
    status.application_state.error_message = Some(expired.message.clone());
    status.termination_time = Some(time(now));
    Decision {
        status: Some(status),
        actions: vec![Action::DeleteRun(run_objects(app, observed))],
        events: vec![EventSpec::warning(
            expired.reason,
            format!("SparkApplication {}: {}", name(app), expired.message),
        )],
        ..Decision::default()
    }
}

/// Kubeflow's driver pod to application state: a terminated Spark container's exit code wins over
/// the phase (a pod with sidecars may still be Running after Spark ended).
fn driver_state(d: &PodObs) -> (State, Option<String>) {
    if let Some(t) = &d.terminated {
        return if t.exit_code == 0 {
            (State::Succeeding, None)
        } else {
            (
                State::Failing,
                Some(format!(
                    "driver container failed with ExitCode: {}, Reason: {}{}",
                    t.exit_code,
                    t.reason.as_deref().unwrap_or(""),
                    t.message
                        .as_deref()
                        .map(|m| format!(", Message: {m}"))
                        .unwrap_or_default()
                )),
            )
        };
    }
    match d.phase {
        PodPhase::Pending => (State::Submitted, None),
        PodPhase::Running => (State::Running, None),
        PodPhase::Succeeded => (State::Succeeding, None),
        PodPhase::Failed => (
            State::Failing,
            Some(format!(
                "driver pod failed: {}",
                d.message.as_deref().unwrap_or("phase Failed")
            )),
        ),
        PodPhase::Unknown => (State::Unknown, None),
    }
}
