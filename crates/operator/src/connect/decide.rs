//! What to do about one SparkConnect, from what is observed: pure, no I/O.
//!
//! The server is a long-running service, so an ended server pod (Failed or Succeeded: evicted, or a
//! `restartPolicy` other than Always) is replaced, and a changed spec replaces the pod too (Kubeflow
//! keeps the first pod for ever and leaves both unnoticed). The ConfigMap and the Service are applied
//! with each new server pod and whenever the spec's generation is new, so they follow the spec without
//! two writes on every executor's change.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use sparkplane_api::v1alpha1::{ServerStatus, SparkConnectState as State};
use sparkplane_api::{SparkConnect, SparkConnectStatus};
use sparkplane_submit::connect::ConnectPlan;

/// Kubeflow's condition: the server pod is ready for clients.
pub const SERVER_POD_READY: &str = "ServerPodReady";

/// The server pod as observed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerPod {
    pub name: String,
    /// `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`.
    pub phase: String,
    /// Its `Ready` condition is true.
    pub ready: bool,
    pub ip: Option<String>,
    /// The spec hash it was built from.
    pub spec_hash: Option<String>,
    pub deleting: bool,
    /// Why it is not ready, as the pod or its container says.
    pub message: Option<String>,
}

pub struct Input<'a> {
    pub conn: &'a SparkConnect,
    /// The plan, or why the spec cannot be run (a message that names the field).
    pub plan: Result<&'a ConnectPlan, String>,
    pub server: Option<&'a ServerPod>,
    /// The executors' phases, one per pod.
    pub executor_phases: &'a [String],
    pub now: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    ServerCreated,
    ServerRefused,
    ServerReady,
    ServerNotReady,
    ServerEnded,
    SpecChanged,
    Invalid,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ServerCreated => "SparkConnectServerCreated",
            Reason::ServerRefused => "SparkConnectServerRefused",
            Reason::ServerReady => "SparkConnectServerReady",
            Reason::ServerNotReady => "SparkConnectServerNotReady",
            Reason::ServerEnded => "SparkConnectServerEnded",
            Reason::SpecChanged => "SparkConnectSpecChanged",
            Reason::Invalid => "SparkConnectInvalid",
        }
    }

    pub fn is_warning(self) -> bool {
        matches!(
            self,
            Reason::ServerNotReady | Reason::ServerRefused | Reason::ServerEnded | Reason::Invalid
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub reason: Reason,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Apply the ConfigMap and the Service of the plan.
    pub apply: bool,
    /// Create the plan's server pod.
    pub create_pod: bool,
    /// Delete the observed server pod (it ended, or was built from another spec).
    pub delete_pod: bool,
    pub status: SparkConnectStatus,
    pub events: Vec<Event>,
}

pub fn decide(input: Input<'_>) -> Decision {
    let old = input.conn.status.clone().unwrap_or_default();
    let was = old.state;
    let mut events = Vec::new();
    let mut status = SparkConnectStatus {
        start_time: old.start_time.clone().or(Some(Time(input.now))),
        ..Default::default()
    };
    let (mut create_pod, mut delete_pod) = (false, false);
    let runnable = input.plan.is_ok();

    let (state, ready, reason, message) = match input.plan {
        Err(problem) => {
            if was != Some(State::Failed) {
                events.push(Event {
                    reason: Reason::Invalid,
                    message: problem.clone(),
                });
            }
            // A server of an earlier, valid spec serves what the spec no longer says.
            delete_pod = input.server.is_some_and(|pod| !pod.deleting);
            (State::Failed, false, "InvalidSpec", problem)
        }
        Ok(plan) => {
            status.server = Some(ServerStatus {
                pod_name: plan.pod.metadata.name.clone(),
                pod_ip: None,
                service_name: plan.service.metadata.name.clone(),
            });
            // Once the server has served, a gap is NotReady; before, it is still Provisioning.
            let waiting = if matches!(was, Some(State::Ready | State::NotReady)) {
                State::NotReady
            } else {
                State::Provisioning
            };
            match input.server {
                None => {
                    create_pod = true;
                    events.push(Event {
                        reason: Reason::ServerCreated,
                        message: format!(
                            "created Spark Connect server pod {}",
                            plan.pod.metadata.name.as_deref().unwrap_or_default()
                        ),
                    });
                    (
                        waiting,
                        false,
                        "ServerPodNotReady",
                        "the server pod is being created".into(),
                    )
                }
                Some(pod) if pod.deleting => (
                    waiting,
                    false,
                    "ServerPodNotReady",
                    format!("the server pod {} is being deleted", pod.name),
                ),
                Some(pod) if pod.spec_hash.as_deref() != Some(plan.spec_hash.as_str()) => {
                    delete_pod = true;
                    events.push(Event {
                        reason: Reason::SpecChanged,
                        message: format!("the spec changed: replacing the server pod {}", pod.name),
                    });
                    (
                        waiting,
                        false,
                        "ServerPodNotReady",
                        "the spec changed: the server is being replaced".into(),
                    )
                }
                Some(pod) if pod.phase == "Failed" || pod.phase == "Succeeded" => {
                    delete_pod = true;
                    let why = pod.message.clone().unwrap_or_else(|| pod.phase.clone());
                    events.push(Event {
                        reason: Reason::ServerEnded,
                        message: format!("the server pod {} ended ({why}): replacing it", pod.name),
                    });
                    (
                        waiting,
                        false,
                        "ServerPodNotReady",
                        format!("the server pod ended: {why}"),
                    )
                }
                Some(pod) => {
                    if let Some(server) = status.server.as_mut() {
                        server.pod_ip = pod.ip.clone();
                    }
                    if pod.ready {
                        (
                            State::Ready,
                            true,
                            "ServerPodReady",
                            "Server pod is ready".into(),
                        )
                    } else {
                        let why = pod.message.clone().unwrap_or_else(|| pod.phase.clone());
                        (
                            waiting,
                            false,
                            "ServerPodNotReady",
                            format!("Server pod is not ready: {why}"),
                        )
                    }
                }
            }
        }
    };
    match (was, state) {
        (Some(State::Ready), State::Ready) => {}
        (_, State::Ready) => events.push(Event {
            reason: Reason::ServerReady,
            message: "the Spark Connect server is ready".into(),
        }),
        (Some(State::Ready), State::NotReady) => events.push(Event {
            reason: Reason::ServerNotReady,
            message: message.clone(),
        }),
        _ => {}
    }
    let generation_seen = old.conditions.iter().flatten().any(|c| {
        c.type_ == SERVER_POD_READY && c.observed_generation == input.conn.metadata.generation
    });
    let apply = runnable && (create_pod || !generation_seen);
    status.state = Some(state);
    status.conditions = Some(vec![condition(
        &old,
        ready,
        reason,
        &message,
        input.conn.metadata.generation,
        input.now,
    )]);
    if state != State::Failed {
        status.executors = Some(executor_counts(input.executor_phases));
    }
    // The update time moves only when something else did.
    let unchanged = SparkConnectStatus {
        last_update_time: old.last_update_time.clone(),
        ..status.clone()
    } == old;
    status.last_update_time = if unchanged {
        old.last_update_time.clone()
    } else {
        Some(Time(input.now))
    };
    Decision {
        apply,
        create_pod,
        delete_pod,
        status,
        events,
    }
}

/// The decision after the API server refused the server pod it said to create (a missing
/// ServiceAccount, a quota, a policy): no pod was created; the condition says why, and a Warning
/// event does when the reason is new.
pub fn refused(mut decision: Decision, old: Option<&SparkConnectStatus>, why: &str) -> Decision {
    let message = format!("the API server refused the server pod: {why}");
    decision
        .events
        .retain(|e| e.reason != Reason::ServerCreated);
    let said_before = old
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|all| all.iter().any(|c| c.message == message));
    if !said_before {
        decision.events.push(Event {
            reason: Reason::ServerRefused,
            message: message.clone(),
        });
    }
    for condition in decision.status.conditions.iter_mut().flatten() {
        condition.reason = "ServerPodRefused".into();
        condition.message = message.clone();
    }
    decision
}

/// Kubeflow's `ServerPodReady`, its transition time kept while its status stays.
fn condition(
    old: &SparkConnectStatus,
    ready: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let status = if ready { "True" } else { "False" };
    let since = old
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == SERVER_POD_READY && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    Condition {
        type_: SERVER_POD_READY.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: since,
        observed_generation: generation,
    }
}

/// Executors by lower-cased phase, as Kubeflow counts them.
fn executor_counts(phases: &[String]) -> BTreeMap<String, i32> {
    let mut counts = BTreeMap::new();
    for phase in phases {
        *counts.entry(phase.to_lowercase()).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conn(state: Option<State>) -> SparkConnect {
        let mut conn: SparkConnect = serde_json::from_value(json!({
            "metadata": {"name": "sc", "namespace": "ns", "uid": "u", "generation": 2},
            "spec": {"sparkVersion": "4.0.4", "image": "spark:4.0.4",
                     "server": {}, "executor": {"instances": 1}}
        }))
        .expect("reads");
        conn.status = state.map(|state| SparkConnectStatus {
            state: Some(state),
            ..Default::default()
        });
        conn
    }

    fn plan(conn: &SparkConnect) -> ConnectPlan {
        sparkplane_submit::connect::build(conn, "k8s://x").expect("plan")
    }

    fn pod(plan: &ConnectPlan, phase: &str, ready: bool) -> ServerPod {
        ServerPod {
            name: "sc-server".into(),
            phase: phase.into(),
            ready,
            ip: Some("10.0.0.5".into()),
            spec_hash: Some(plan.spec_hash.clone()),
            ..Default::default()
        }
    }

    fn decide_with(
        conn: &SparkConnect,
        plan: &ConnectPlan,
        server: Option<&ServerPod>,
    ) -> Decision {
        decide(Input {
            conn,
            plan: Ok(plan),
            server,
            executor_phases: &["Running".into(), "Pending".into(), "Running".into()],
            now: Timestamp::UNIX_EPOCH,
        })
    }

    fn reasons(decision: &Decision) -> Vec<Reason> {
        decision.events.iter().map(|e| e.reason).collect()
    }

    #[test]
    fn a_new_connect_gets_its_objects_and_a_server_pod_and_is_provisioning() {
        let conn = conn(None);
        let plan = plan(&conn);
        let d = decide_with(&conn, &plan, None);
        assert!(d.apply && d.create_pod && !d.delete_pod);
        assert_eq!(d.status.state, Some(State::Provisioning));
        assert_eq!(reasons(&d), [Reason::ServerCreated]);
        let server = d.status.server.expect("server");
        assert_eq!(server.pod_name.as_deref(), Some("sc-server"));
        assert_eq!(server.service_name.as_deref(), Some("sc-server"));
        assert!(d.status.start_time.is_some() && d.status.last_update_time.is_some());
    }

    #[test]
    fn the_objects_are_applied_with_a_new_server_or_a_new_generation_only() {
        let conn0 = conn(Some(State::Provisioning));
        let plan = plan(&conn0);
        let ready = pod(&plan, "Running", true);
        let first = decide_with(&conn0, &plan, Some(&ready));
        assert!(first.apply, "generation 2 not seen yet");
        let mut seen = conn0.clone();
        seen.status = Some(first.status.clone());
        assert!(
            !decide_with(&seen, &plan, Some(&ready)).apply,
            "an executor's change"
        );
        assert!(decide_with(&seen, &plan, None).apply, "a new server");
        seen.metadata.generation = Some(3);
        assert!(
            decide_with(&seen, &plan, Some(&ready)).apply,
            "a new generation"
        );
    }

    #[test]
    fn a_ready_pod_makes_it_ready_with_kubeflows_condition_and_executor_counts() {
        let conn = conn(Some(State::Provisioning));
        let plan = plan(&conn);
        let d = decide_with(&conn, &plan, Some(&pod(&plan, "Running", true)));
        assert!(!d.create_pod && !d.delete_pod);
        assert_eq!(d.status.state, Some(State::Ready));
        assert_eq!(reasons(&d), [Reason::ServerReady]);
        let condition = &d.status.conditions.as_ref().expect("conditions")[0];
        assert_eq!(
            (
                condition.type_.as_str(),
                condition.status.as_str(),
                condition.reason.as_str()
            ),
            ("ServerPodReady", "True", "ServerPodReady")
        );
        assert_eq!(condition.observed_generation, Some(2));
        let executors = d.status.executors.expect("executors");
        assert_eq!((executors["running"], executors["pending"]), (2, 1));
        assert_eq!(
            d.status.server.and_then(|s| s.pod_ip).as_deref(),
            Some("10.0.0.5")
        );
    }

    #[test]
    fn losing_a_ready_server_is_not_ready_and_reported_once() {
        let conn = conn(Some(State::Ready));
        let plan = plan(&conn);
        let d = decide_with(&conn, &plan, None);
        assert!(d.create_pod);
        assert_eq!(d.status.state, Some(State::NotReady));
        assert_eq!(reasons(&d), [Reason::ServerCreated, Reason::ServerNotReady]);
        let mut again = conn.clone();
        again.status = Some(d.status.clone());
        let d2 = decide_with(&again, &plan, Some(&pod(&plan, "Pending", false)));
        assert_eq!(d2.status.state, Some(State::NotReady));
        assert!(d2.events.is_empty(), "{:?}", d2.events);
    }

    #[test]
    fn an_ended_server_pod_is_replaced() {
        for phase in ["Failed", "Succeeded"] {
            let conn = conn(Some(State::Ready));
            let plan = plan(&conn);
            let d = decide_with(&conn, &plan, Some(&pod(&plan, phase, false)));
            assert!(d.delete_pod && !d.create_pod, "{phase}");
            assert_eq!(d.status.state, Some(State::NotReady));
            assert!(reasons(&d).contains(&Reason::ServerEnded));
        }
    }

    #[test]
    fn a_pod_from_another_spec_is_replaced_and_one_being_deleted_is_waited_for() {
        let conn = conn(Some(State::Ready));
        let plan = plan(&conn);
        let mut old = pod(&plan, "Running", true);
        old.spec_hash = Some("other".into());
        let d = decide_with(&conn, &plan, Some(&old));
        assert!(d.delete_pod);
        assert_eq!(reasons(&d), [Reason::SpecChanged, Reason::ServerNotReady]);
        old.deleting = true;
        let d = decide_with(&conn, &plan, Some(&old));
        assert!(!d.delete_pod && !d.create_pod);
    }

    #[test]
    fn a_refused_server_pod_is_said_once_in_the_condition_and_an_event() {
        let conn = conn(None);
        let plan = plan(&conn);
        let d = refused(
            decide_with(&conn, &plan, None),
            None,
            "no ServiceAccount sa",
        );
        assert_eq!(reasons(&d), [Reason::ServerRefused]);
        assert_eq!(d.status.state, Some(State::Provisioning));
        let condition = &d.status.conditions.as_ref().expect("conditions")[0];
        assert_eq!(condition.reason, "ServerPodRefused");
        assert!(condition.message.ends_with("no ServiceAccount sa"));
        let mut again = conn.clone();
        again.status = Some(d.status.clone());
        let d2 = refused(
            decide_with(&again, &plan, None),
            again.status.as_ref(),
            "no ServiceAccount sa",
        );
        assert!(d2.events.is_empty(), "{:?}", d2.events);
    }

    #[test]
    fn an_invalid_spec_fails_with_the_message_and_one_warning() {
        let conn = conn(None);
        let d = decide(Input {
            conn: &conn,
            plan: Err("spec.server.memory: \"1gg\" is not a size".into()),
            server: None,
            executor_phases: &[],
            now: Timestamp::UNIX_EPOCH,
        });
        assert!(!d.apply && !d.create_pod);
        assert_eq!(d.status.state, Some(State::Failed));
        assert_eq!(reasons(&d), [Reason::Invalid]);
        let condition = &d.status.conditions.as_ref().expect("conditions")[0];
        assert!(condition.message.contains("spec.server.memory"));
        let mut again = conn.clone();
        again.status = Some(d.status);
        let d2 = decide(Input {
            conn: &again,
            plan: Err("spec.server.memory: \"1gg\" is not a size".into()),
            server: None,
            executor_phases: &[],
            now: Timestamp::UNIX_EPOCH,
        });
        assert!(d2.events.is_empty());
    }

    #[test]
    fn a_spec_made_invalid_takes_down_the_server_of_the_earlier_spec() {
        let conn = conn(Some(State::Ready));
        let plan = plan(&conn);
        let running = pod(&plan, "Running", true);
        let d = decide(Input {
            conn: &conn,
            plan: Err("spec.image: required".into()),
            server: Some(&running),
            executor_phases: &[],
            now: Timestamp::UNIX_EPOCH,
        });
        assert!(d.delete_pod && !d.create_pod && !d.apply);
        assert_eq!(d.status.state, Some(State::Failed));
    }

    #[test]
    fn an_unchanged_status_keeps_its_update_and_transition_times() {
        let conn0 = conn(Some(State::Provisioning));
        let plan = plan(&conn0);
        let ready = pod(&plan, "Running", true);
        let first = decide_with(&conn0, &plan, Some(&ready));
        let mut conn1 = conn0.clone();
        conn1.status = Some(first.status.clone());
        let later = decide(Input {
            conn: &conn1,
            plan: Ok(&plan),
            server: Some(&ready),
            executor_phases: &["Running".into(), "Pending".into(), "Running".into()],
            now: Timestamp::from_second(100).expect("time"),
        });
        assert_eq!(later.status, first.status);
        assert!(later.events.is_empty());
    }
}
