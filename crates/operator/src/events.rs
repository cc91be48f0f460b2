//! Events on SparkApplications, with Kubeflow's reasons, through the events.k8s.io API.

use kube::Client;
use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use sparkplane_api::SparkApplication;

use crate::lifecycle::EventSpec;

/// The reporting controller's name on every event.
pub const CONTROLLER: &str = "sparkplane";

#[derive(Clone)]
pub struct Events {
    recorder: Recorder,
}

impl Events {
    pub fn new(client: Client, identity: &str) -> Self {
        let reporter = Reporter {
            controller: CONTROLLER.into(),
            instance: Some(identity.to_owned()),
        };
        Events {
            recorder: Recorder::new(client, reporter),
        }
    }

    /// Records one event; a failure is logged, never fatal: events are a courtesy, the status is the
    /// record.
    pub async fn publish(&self, app: &SparkApplication, spec: &EventSpec) {
        let event = Event {
            type_: if spec.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: spec.reason.into(),
            note: Some(truncate(&spec.message, 1000)),
            action: spec.reason.into(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &app.object_ref(&())).await {
            tracing::warn!(%error, reason = spec.reason, "could not record an event");
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
