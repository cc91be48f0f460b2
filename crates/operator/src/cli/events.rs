//! `sparkplane events`: the events of a SparkApplication and of its driver pod, oldest first. The
//! fetching and the rows are shared with `describe`.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::ListParams;
use sparkplane_api::SparkApplication;

use super::connect::{ClusterArgs, Session, connect};
use super::error::{CliError, Subject};
use super::format::{self, NONE, Table};
use super::{driver_pod_name, get_app, out};

#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// The SparkApplication.
    pub name: String,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

pub async fn run(args: EventsArgs) -> Result<(), CliError> {
    let session = connect(&args.cluster).await?;
    let (_, app) = get_app(&session, &args.name).await?;
    let events = fetch(&session, &app).await?;
    if events.is_empty() {
        eprintln!(
            "No events found for sparkapplication {:?} in namespace {:?}.",
            args.name, session.target.namespace
        );
        return Ok(());
    }
    out(&table(&events, Timestamp::now()).render())
}

/// An event as the tables show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLine {
    /// When it last happened.
    pub last: Option<Timestamp>,
    /// When it first happened, for repeated events.
    pub first: Option<Timestamp>,
    pub count: i32,
    pub type_: String,
    pub reason: String,
    /// `sparkapplication/<name>` or `pod/<name>`.
    pub object: String,
    /// Who recorded it.
    pub from: String,
    pub message: String,
}

impl EventLine {
    /// Reads an event whichever API wrote it: core/v1 (`lastTimestamp`, `count`) or
    /// events.k8s.io (`eventTime`, `series`).
    pub fn from_event(event: &Event) -> EventLine {
        let series = event.series.as_ref();
        let last = series
            .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
            .or(event.last_timestamp.as_ref().map(|t| t.0))
            .or(event.event_time.as_ref().map(|t| t.0))
            .or(event.first_timestamp.as_ref().map(|t| t.0))
            .or(event.metadata.creation_timestamp.as_ref().map(|t| t.0));
        let first = event
            .first_timestamp
            .as_ref()
            .map(|t| t.0)
            .or(event.event_time.as_ref().map(|t| t.0));
        let count = series
            .and_then(|s| s.count)
            .or(event.count)
            .unwrap_or(1)
            .max(1);
        let involved = &event.involved_object;
        let from = event
            .reporting_component
            .clone()
            .filter(|c| !c.is_empty())
            .or_else(|| event.source.as_ref().and_then(|s| s.component.clone()))
            .unwrap_or_default();
        EventLine {
            last,
            first,
            count,
            type_: event.type_.clone().unwrap_or_default(),
            reason: event.reason.clone().unwrap_or_default(),
            object: format!(
                "{}/{}",
                involved.kind.as_deref().unwrap_or_default().to_lowercase(),
                involved.name.as_deref().unwrap_or_default()
            ),
            from,
            message: event
                .message
                .as_deref()
                .unwrap_or_default()
                .trim()
                .replace('\n', " "),
        }
    }

    /// How long ago, with kubectl's `(x3 over 5m)` for a repeated event.
    pub fn seen(&self, now: Timestamp) -> String {
        let last = format::age_or_none(now, self.last);
        match self.first {
            Some(first) if self.count > 1 => {
                format!("{last} (x{} over {})", self.count, format::age(now, first))
            }
            _ => last,
        }
    }
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        NONE.to_owned()
    } else {
        s.to_owned()
    }
}

/// The `events` table: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE.
pub fn table(events: &[EventLine], now: Timestamp) -> Table {
    let mut table = Table::new(["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]);
    for e in events {
        table.push(vec![
            e.seen(now),
            or_none(&e.type_),
            or_none(&e.reason),
            e.object.clone(),
            e.message.clone(),
        ]);
    }
    table
}

/// The table inside `describe`: TYPE, REASON, AGE, FROM, MESSAGE (kubectl describe's columns).
pub fn describe_table(events: &[EventLine], now: Timestamp) -> Table {
    let mut table = Table::new(["TYPE", "REASON", "AGE", "FROM", "MESSAGE"]);
    for e in events {
        table.push(vec![
            or_none(&e.type_),
            or_none(&e.reason),
            e.seen(now),
            or_none(&e.from),
            e.message.clone(),
        ]);
    }
    table
}

/// The events of `app` (this object: same uid, when the event records one) and of its driver
/// pod (every pod of that name: one per attempt), oldest first.
pub async fn fetch(session: &Session, app: &SparkApplication) -> Result<Vec<EventLine>, CliError> {
    let driver = driver_pod_name(app);
    fetch_about(
        session,
        (
            "SparkApplication",
            app.metadata.name.as_deref().unwrap_or_default(),
            app.metadata.uid.as_deref(),
        ),
        &[driver.as_str()],
    )
    .await
}

/// The events of an object (`kind`, name and uid: events of an earlier object of the same name are
/// left out) and of the named pods, oldest first.
pub async fn fetch_about(
    session: &Session,
    (kind, name, uid): (&str, &str, Option<&str>),
    pods: &[&str],
) -> Result<Vec<EventLine>, CliError> {
    let api: Api<Event> = Api::namespaced(session.client.clone(), &session.target.namespace);
    let mut events = Vec::new();
    let objects = std::iter::once((kind, name)).chain(pods.iter().map(|pod| ("Pod", *pod)));
    for (object_kind, object) in objects {
        let params = ListParams::default().fields(&format!(
            "involvedObject.kind={object_kind},involvedObject.name={object}"
        ));
        let list = api.list(&params).await.map_err(|e| {
            CliError::from_kube(e, &session.target, "listing events", Subject::Other)
        })?;
        events.extend(
            list.items
                .iter()
                .filter(|e| {
                    object_kind != kind
                        || match (uid, e.involved_object.uid.as_deref()) {
                            (Some(object_uid), Some(event_uid)) => object_uid == event_uid,
                            _ => true,
                        }
                })
                .map(EventLine::from_event),
        );
    }
    sort(&mut events);
    Ok(events)
}

/// Oldest first; events without a time first of all.
pub fn sort(events: &mut [EventLine]) {
    events.sort_by_key(|e| e.last);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    fn event(value: serde_json::Value) -> Event {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn events_from_either_api_and_their_order() {
        // As the operator records them (events.k8s.io), seen through core/v1.
        let submitted = event(json!({
            "metadata": {"name": "a", "namespace": "jobs"},
            "involvedObject": {"kind": "SparkApplication", "name": "pi"},
            "reason": "SparkApplicationSubmitted", "type": "Normal",
            "message": "SparkApplication pi was submitted successfully",
            "eventTime": "2024-05-01T11:58:00.000000Z",
            "reportingComponent": "sparkplane-operator"
        }));
        // As a kubelet (here kwok) records them, repeated.
        let started = event(json!({
            "metadata": {"name": "b", "namespace": "jobs"},
            "involvedObject": {"kind": "Pod", "name": "pi-driver"},
            "reason": "Started", "type": "Normal", "message": "Started container\n",
            "firstTimestamp": "2024-05-01T11:50:00Z", "lastTimestamp": "2024-05-01T11:59:00Z",
            "count": 3, "source": {"component": "kwok"}
        }));
        let mut lines = vec![
            EventLine::from_event(&started),
            EventLine::from_event(&submitted),
        ];
        sort(&mut lines);
        assert_eq!(lines[0].reason, "SparkApplicationSubmitted");
        assert_eq!(lines[1].seen(now()), "60s (x3 over 10m)");
        assert_eq!(
            table(&lines, now()).render(),
            "LAST SEEN           TYPE     REASON                      OBJECT                MESSAGE\n\
             2m                  Normal   SparkApplicationSubmitted   sparkapplication/pi   SparkApplication pi was submitted successfully\n\
             60s (x3 over 10m)   Normal   Started                     pod/pi-driver         Started container\n"
        );
        assert_eq!(
            describe_table(&lines, now()).render().lines().nth(1),
            Some(
                "Normal   SparkApplicationSubmitted   2m                  sparkplane-operator   SparkApplication pi was submitted successfully"
            )
        );
    }
}
