//! `sparkplane describe --kind connect`: one SparkConnect in detail: its server, Service, executors,
//! how to reach it, and its events.

use jiff::Timestamp;
use sparkplane_api::SparkConnect;

use super::connect::connect;
use super::describe::{Block, DescribeArgs, object_head};
use super::error::{CliError, Subject};
use super::events::{self, EventLine};
use super::format::{self, NONE};
use super::{get_typed, out};

pub async fn run(args: DescribeArgs) -> Result<(), CliError> {
    let session = connect(&args.cluster).await?;
    let name = args.name.as_str();
    let (_, conn) = get_typed::<SparkConnect>(&session, name, Subject::Connect(name)).await?;
    let server = sparkplane_submit::connect::server_pod_name(name);
    let events = events::fetch_about(
        &session,
        ("SparkConnect", name, conn.metadata.uid.as_deref()),
        &[server.as_str()],
    )
    .await
    .map_err(|e| e.to_string());
    out(&describe(&conn, &events, Timestamp::now()))
}

/// The description of a SparkConnect.
pub fn describe(
    conn: &SparkConnect,
    events: &Result<Vec<EventLine>, String>,
    now: Timestamp,
) -> String {
    let name = conn.metadata.name.as_deref().unwrap_or_default();
    let namespace = conn.metadata.namespace.as_deref().unwrap_or_default();
    let spec = &conn.spec;
    let status = conn.status.clone().unwrap_or_default();
    let mut text = String::new();

    text.push_str(&object_head(&conn.metadata, now).render(0));

    text.push_str("Spec:\n");
    let mut s = Block::default();
    s.add("Spark Version", &spec.spark_version);
    s.add(
        "Image",
        spec.image.as_deref().unwrap_or("<from the templates>"),
    );
    let size = |cores: Option<i32>, memory: &Option<String>| {
        format!(
            "cores {}, memory {}",
            cores.map(|c| c.to_string()).as_deref().unwrap_or(NONE),
            memory.as_deref().unwrap_or(NONE)
        )
    };
    s.add(
        "Server",
        &size(spec.server.pod.cores, &spec.server.pod.memory),
    );
    let executors = match spec
        .dynamic_allocation
        .as_ref()
        .filter(|d| d.enabled == Some(true))
    {
        Some(d) => format!(
            "dynamic ({}..{})",
            d.min_executors.unwrap_or(0),
            d.max_executors
                .map(|n| n.to_string())
                .unwrap_or_else(|| "unbounded".into())
        ),
        None => spec.executor.instances.unwrap_or(2).to_string(),
    };
    s.add(
        "Executors",
        &format!(
            "{executors} x {}",
            size(spec.executor.pod.cores, &spec.executor.pod.memory)
        ),
    );
    text.push_str(&s.render(2));

    text.push_str("Status:\n");
    let mut st = Block::default();
    st.add("State", status.state.map(|s| s.as_str()).unwrap_or(NONE));
    for condition in status.conditions.iter().flatten() {
        st.add(
            &format!("Condition {}", condition.type_),
            &format!(
                "{} ({}): {}",
                condition.status, condition.reason, condition.message
            ),
        );
    }
    let server = status.server.clone().unwrap_or_default();
    st.add("Server Pod", server.pod_name.as_deref().unwrap_or(NONE));
    st.add("Pod IP", server.pod_ip.as_deref().unwrap_or(NONE));
    st.add("Service", server.service_name.as_deref().unwrap_or(NONE));
    let executors = format::phase_counts(
        status
            .executors
            .iter()
            .flatten()
            .map(|(phase, n)| (phase.as_str(), i64::from(*n))),
    );
    st.add("Executors", &executors);
    if let Some(started) = &status.start_time {
        st.add("Started", &format::timestamp_and_age(now, started.0));
    }
    text.push_str(&st.render(2));

    text.push_str("Connect:\n");
    let service = server
        .service_name
        .clone()
        .unwrap_or_else(|| sparkplane_submit::connect::server_pod_name(name));
    let mut reach = Block::default();
    reach.add(
        "In The Cluster",
        &format!("sc://{service}.{namespace}.svc:15002"),
    );
    reach.add(
        "From Here",
        &format!(
            "kubectl port-forward -n {namespace} svc/{service} 15002, then sc://localhost:15002"
        ),
    );
    reach.add("Spark UI", &format!("port 4040 of svc/{service}"));
    text.push_str(&reach.render(2));

    text.push_str("Events:");
    match events {
        Err(e) => text.push_str(&format!(" <cannot list: {e}>\n")),
        Ok(list) if list.is_empty() => text.push_str(" <none>\n"),
        Ok(list) => {
            text.push('\n');
            text.push_str(&events::describe_table(list, now).render_indented(2));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_ready_server_is_described_with_where_to_reach_it() {
        let conn: SparkConnect = serde_json::from_value(json!({
            "metadata": {"name": "sc", "namespace": "team"},
            "spec": {"sparkVersion": "4.0.4", "image": "spark:4.0.4",
                     "server": {"memory": "1g"}, "executor": {"instances": 1, "cores": 1}},
            "status": {"state": "Ready",
                       "conditions": [{"type": "ServerPodReady", "status": "True",
                                       "reason": "ServerPodReady", "message": "Server pod is ready",
                                       "lastTransitionTime": "2026-12-01T00:00:00Z"}],
                       "server": {"podName": "sc-server", "podIp": "10.0.0.9", "serviceName": "sc-server"},
                       "executors": {"running": 1}}
        }))
        .expect("reads");
        let text = describe(&conn, &Ok(Vec::new()), Timestamp::UNIX_EPOCH);
        for expected in [
            "State:",
            "Ready",
            "Condition ServerPodReady",
            "True (ServerPodReady): Server pod is ready",
            "sc-server",
            "10.0.0.9",
            "1 running",
            "sc://sc-server.team.svc:15002",
            "kubectl port-forward -n team svc/sc-server 15002",
            "Events: <none>",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
    }
}
