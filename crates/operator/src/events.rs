//! Events on SparkApplications, with Kubeflow's reasons, through the events.k8s.io API.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use kube::{Client, Resource};
use sparkplane_api::SparkApplication;

use crate::lifecycle::EventSpec;

/// The reporting controller's name on every event.
pub const CONTROLLER: &str = "sparkplane";

/// Creates events directly. kube-runtime's Recorder keeps every event of the last minutes to
/// aggregate repeats, and walks that cache on each publish: memory and time that grow with the
/// number of applications, for events that here never repeat on one object (each step records
/// its own).
#[derive(Clone)]
pub struct Events {
    client: Client,
    instance: String,
    sequence: Arc<AtomicU64>,
}

impl Events {
    pub fn new(client: Client, identity: &str) -> Self {
        Events {
            client,
            instance: identity.to_owned(),
            sequence: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Records the events of one step on the application in a task of their own, in order: the
    /// worker goes on at once. A failure is logged, never fatal: events are a courtesy, the status
    /// is the record.
    pub fn publish_in_background(&self, app: &SparkApplication, specs: Vec<EventSpec>) {
        if specs.is_empty() {
            return;
        }
        let events = self.clone();
        let reference = app.object_ref(&());
        tokio::spawn(async move {
            for spec in &specs {
                events.publish(&reference, spec).await;
            }
        });
    }

    async fn publish(&self, reference: &ObjectReference, spec: &EventSpec) {
        let now = jiff::Timestamp::now();
        // Unique per replica and event: the object's name, the time and a sequence number.
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "{}.{:x}{:04x}",
            reference.name.as_deref().unwrap_or("sparkapplication"),
            now.as_nanosecond(),
            sequence & 0xffff
        );
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: reference.namespace.clone(),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(now)),
            type_: Some(if spec.warning { "Warning" } else { "Normal" }.into()),
            reason: Some(spec.reason.into()),
            action: Some(spec.reason.into()),
            note: Some(truncate(&spec.message, 1000)),
            regarding: Some(reference.clone()),
            reporting_controller: Some(CONTROLLER.into()),
            reporting_instance: Some(self.instance.clone()),
            ..Event::default()
        };
        let namespace = reference.namespace.as_deref().unwrap_or("default");
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        if let Err(error) = api.create(&PostParams::default(), &event).await {
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
