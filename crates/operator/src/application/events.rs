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
use crate::metrics::Metrics;

/// The reporting controller's name on every event.
pub const CONTROLLER: &str = "sparkplane";

/// Creates events directly. kube-runtime's Recorder keeps every event of the last minutes to
/// aggregate repeats, and walks that cache on each publish: memory and time that grow with the
/// number of applications, for events that here never repeat on one object (each step records
/// its own).
///
/// Events go through a bounded queue to a few writer tasks: a step hands its events over and goes
/// on, never waiting for them. Events are the least urgent writes (about five per application, as
/// many as the driver's own objects): during a burst they fall behind the submissions and the status
/// writes and catch up after it. Should the queue ever fill, the step's events are dropped and
/// counted, as client-go's recorder drops them, rather than stalling the submissions behind them.
#[derive(Clone)]
pub struct Events {
    queue: tokio::sync::mpsc::Sender<Step>,
    dropped: prometheus_client::metrics::counter::Counter,
}

/// One step's events, stamped when the step recorded them: the writers take steps in parallel, so
/// the time of writing would not keep the order the events happened in.
struct Step {
    reference: ObjectReference,
    at: jiff::Timestamp,
    specs: Vec<EventSpec>,
}

/// Writes the events of the queue.
#[derive(Clone)]
struct Writer {
    client: Client,
    instance: String,
    sequence: Arc<AtomicU64>,
    metrics: Arc<Metrics>,
}

/// How many steps' events may wait to be written: a 10,000-application burst's worth (about 300 bytes
/// a step).
const QUEUE: usize = 32_768;
/// How many events are written at once.
const WRITERS: usize = 4;

impl Events {
    /// Starts the writers (on the current runtime) and returns the queue's entrance.
    pub fn start(client: Client, identity: &str, metrics: Arc<Metrics>) -> Self {
        let (queue, receiver) = tokio::sync::mpsc::channel::<Step>(QUEUE);
        let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
        let writer = Writer {
            client,
            instance: identity.to_owned(),
            sequence: Arc::new(AtomicU64::new(0)),
            metrics,
        };
        for _ in 0..WRITERS {
            let (writer, receiver) = (writer.clone(), receiver.clone());
            tokio::spawn(async move {
                loop {
                    let next = receiver.lock().await.recv().await;
                    let Some(step) = next else {
                        return;
                    };
                    // One step's events in order, by one writer.
                    for spec in &step.specs {
                        writer.publish(&step.reference, step.at, spec).await;
                    }
                }
            });
        }
        Events {
            queue,
            dropped: writer.metrics.events_dropped.clone(),
        }
    }

    /// Records the events of one step on the application, later. A failure is logged, never
    /// fatal: events are a courtesy, the status is the record.
    pub fn publish(&self, app: &SparkApplication, specs: Vec<EventSpec>) {
        if specs.is_empty() {
            return;
        }
        let count = specs.len() as u64;
        let step = Step {
            reference: app.object_ref(&()),
            at: jiff::Timestamp::now(),
            specs,
        };
        match self.queue.try_send(step) {
            Ok(()) => {}
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                self.dropped.inc_by(count);
                tracing::debug!(count, "the event queue is full; events dropped");
            }
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {
                tracing::warn!("the event writers are gone; events dropped");
            }
        }
    }
}

impl Writer {
    async fn publish(&self, reference: &ObjectReference, at: jiff::Timestamp, spec: &EventSpec) {
        // Unique per replica and event: the object's name, the time and a sequence number.
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "{}.{:x}{:04x}",
            reference.name.as_deref().unwrap_or("sparkapplication"),
            at.as_nanosecond(),
            sequence & 0xffff
        );
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: reference.namespace.clone(),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(at)),
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
        self.metrics.write("event", "create");
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
