//! `status.executorState`: the executors of the current submission, capped so the object never grows
//! towards etcd's size limit (Kubeflow #2025).

use std::collections::BTreeMap;

use sparkplane_api::SparkApplicationStatus;
use sparkplane_api::v1beta2::ExecutorState;

use super::{EventSpec, Observed, PodObs, PodPhase};

#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// The application completed: an executor that vanished finished its work.
    pub app_done: bool,
    /// The driver runs: a vanished executor may be being replaced, its fate is unknown.
    pub driver_running: bool,
}

pub fn state_of(pod: &PodObs) -> ExecutorState {
    if let Some(t) = &pod.terminated {
        return if t.exit_code == 0 {
            ExecutorState::Completed
        } else {
            ExecutorState::Failed
        };
    }
    match pod.phase {
        PodPhase::Pending => ExecutorState::Pending,
        PodPhase::Running => ExecutorState::Running,
        PodPhase::Succeeded => ExecutorState::Completed,
        PodPhase::Failed => ExecutorState::Failed,
        PodPhase::Unknown => ExecutorState::Unknown,
    }
}

/// The exit code of a JVM ended by SIGTERM (128 + 15), which a pod's deletion sends.
const SIGTERM_EXIT: i32 = 143;

/// A pod being deleted that has not ended, or ended by the deletion's SIGTERM, is going: it keeps
/// its last state while the driver runs, and its end is then decided as for one that vanished.
/// Spark deletes its executors when the application ends (and idle ones under dynamic allocation):
/// read as it exits, each would be failed work. An executor that ended otherwise (killed, out of
/// memory, an error) and that Spark then deleted, as it deletes every failed executor, failed.
fn stopped_by_deletion(pod: &PodObs) -> bool {
    pod.deleting
        && pod
            .terminated
            .as_ref()
            .is_none_or(|t| t.exit_code == SIGTERM_EXIT)
}

/// The executor failed by itself, not by its deletion: its failure must be recorded even if its
/// pod is gone before the status is next written.
pub fn failed_on_its_own(pod: &PodObs) -> bool {
    !stopped_by_deletion(pod) && state_of(pod) == ExecutorState::Failed
}

fn is_final(s: ExecutorState) -> bool {
    matches!(s, ExecutorState::Completed | ExecutorState::Failed)
}

fn event(name: &str, s: ExecutorState) -> EventSpec {
    let (reason, warning, what) = match s {
        ExecutorState::Pending => ("SparkExecutorPending", false, "is pending"),
        ExecutorState::Running => ("SparkExecutorRunning", false, "is running"),
        ExecutorState::Completed => ("SparkExecutorCompleted", false, "completed"),
        ExecutorState::Failed => ("SparkExecutorFailed", true, "failed"),
        ExecutorState::Unknown => ("SparkExecutorUnknownState", true, "is in an unknown state"),
    };
    EventSpec {
        warning,
        reason,
        message: format!("Executor {name} {what}"),
    }
}

/// The new executor map and the events of its changes.
pub fn update(
    status: &SparkApplicationStatus,
    observed: &Observed,
    ctx: Context,
    cap: usize,
) -> (Option<BTreeMap<String, ExecutorState>>, Vec<EventSpec>) {
    let mut map = status.executor_state.clone().unwrap_or_default();
    let mut events = Vec::new();
    let ours = || {
        observed
            .executors
            .iter()
            .filter(|p| p.submission_id.is_some() && p.submission_id == status.submission_id)
    };
    let current: BTreeMap<&str, ExecutorState> = ours()
        .filter(|p| !stopped_by_deletion(p))
        .map(|p| (p.name.as_str(), state_of(p)))
        .collect();
    let going: Vec<&str> = ours()
        .filter(|p| stopped_by_deletion(p))
        .map(|p| p.name.as_str())
        .collect();
    for (&name, &s) in &current {
        let known = map.get(name).copied();
        if known.is_none() && map.len() >= cap {
            continue;
        }
        if known != Some(s) {
            events.push(event(name, s));
            map.insert(name.to_owned(), s);
        }
    }
    for (name, s) in map.iter_mut() {
        let still_going = ctx.driver_running && going.contains(&name.as_str());
        if current.contains_key(name.as_str()) || is_final(*s) || still_going {
            continue;
        }
        let gone = if ctx.app_done {
            ExecutorState::Completed
        } else if ctx.driver_running {
            ExecutorState::Unknown
        } else {
            ExecutorState::Failed
        };
        if *s != gone {
            events.push(event(name, gone));
            *s = gone;
        }
    }
    let map = (!map.is_empty()).then_some(map);
    (map, events)
}
