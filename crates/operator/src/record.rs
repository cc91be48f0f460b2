//! What the schedule and Spark Connect controllers share when they talk back: recording an event, and
//! reading the API server's answer.

use kube::runtime::events::{Event, EventType, Recorder};

/// Records one event on `reference`. Events are a courtesy, the status is the record: a failure is
/// logged, never returned.
pub async fn publish_event(
    recorder: &Recorder,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    reason: &str,
    warning: bool,
    message: &str,
) {
    tracing::info!(reason, message, "event");
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.into(),
        note: Some(message.to_owned()),
        action: reason.into(),
        secondary: None,
    };
    if let Err(error) = recorder.publish(&event, reference).await {
        tracing::warn!(%error, reason, "could not record an event");
    }
}

/// Whether the API server answered with this HTTP status.
pub fn is_status(error: &kube::Error, code: u16) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == code)
}
