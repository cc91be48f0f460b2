//! Faults injected into the testbed's own components (`testbed/fault`) and the API server's audit
//! log of pod creations (`testbed/config/audit-policy.yaml`), which outlives every process the
//! reliability tests kill: how many times each pod was created, and how many creations found it there.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::{repo_root, testbed_state_dir};

/// What `testbed/fault` does to a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL, waiting until the process is gone.
    Kill,
    /// Started again as `testbed/up` started it, waiting until it serves.
    Start,
}

/// Runs `testbed/fault` (blocking: call it from `spawn_blocking` in async code).
pub fn inject(fault: Fault, component: &str) -> anyhow::Result<()> {
    let action = match fault {
        Fault::Kill => "kill",
        Fault::Start => "start",
    };
    let script = repo_root().join("testbed/fault");
    let output = Command::new(&script)
        .args([action, component])
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !output.status.success() {
        bail!(
            "testbed/fault {action} {component} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// [`inject`] from async code.
pub async fn inject_async(fault: Fault, component: &'static str) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || inject(fault, component)).await?
}

/// The API server's audit log.
pub fn audit_log_path() -> PathBuf {
    testbed_state_dir().join("audit.log")
}

/// The creations of pods of one namespace by one user, by pod name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodCreations {
    /// Creations the API server answered 201 Created.
    pub created: BTreeMap<String, u32>,
    /// Creations answered 409 AlreadyExists: the pod was there (a repeated submission).
    pub conflicts: BTreeMap<String, u32>,
    /// Creations answered anything else (refused, or cut off by a fault).
    pub failed: BTreeMap<String, u32>,
}

impl PodCreations {
    pub fn created_total(&self) -> u32 {
        self.created.values().sum()
    }

    pub fn conflicts_total(&self) -> u32 {
        self.conflicts.values().sum()
    }

    pub fn failed_total(&self) -> u32 {
        self.failed.values().sum()
    }
}

/// Reads the pod creations of `namespace` by `username` from the audit log.
pub fn pod_creations(namespace: &str, username: &str) -> anyhow::Result<PodCreations> {
    let path = audit_log_path();
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the API server's audit log {}", path.display()))?;
    Ok(count_pod_creations(&text, namespace, username))
}

/// Counts the pod creations in audit log `text` (one JSON event per line, as the API server writes
/// them); lines that are not events (a line cut short by a killed API server) are skipped.
pub fn count_pod_creations(text: &str, namespace: &str, username: &str) -> PodCreations {
    let mut creations = PodCreations::default();
    for event in text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
    {
        let field = |pointer: &str| event.pointer(pointer).and_then(Value::as_str);
        let is_ours = field("/stage") == Some("ResponseComplete")
            && field("/verb") == Some("create")
            && field("/objectRef/resource") == Some("pods")
            && field("/objectRef/subresource").is_none()
            && field("/objectRef/namespace") == Some(namespace)
            && field("/user/username") == Some(username);
        let Some(name) = field("/objectRef/name").filter(|_| is_ours) else {
            continue;
        };
        let tally = match event
            .pointer("/responseStatus/code")
            .and_then(Value::as_u64)
        {
            Some(201) => &mut creations.created,
            Some(409) => &mut creations.conflicts,
            _ => &mut creations.failed,
        };
        *tally.entry(name.to_owned()).or_default() += 1;
    }
    creations
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(stage: &str, ns: &str, name: &str, user: &str, code: u16) -> String {
        serde_json::json!({
            "kind": "Event", "stage": stage, "verb": "create",
            "user": {"username": user},
            "objectRef": {"resource": "pods", "namespace": ns, "name": name, "apiVersion": "v1"},
            "responseStatus": {"code": code}
        })
        .to_string()
    }

    #[test]
    fn creations_are_counted_by_outcome_for_one_namespace_and_user() {
        let op = "system:serviceaccount:t:sparkplane-operator";
        let log = [
            event("ResponseComplete", "t", "a-driver", op, 201),
            event("ResponseComplete", "t", "a-driver", op, 201),
            event("ResponseComplete", "t", "a-driver", op, 409),
            event("ResponseComplete", "t", "b-driver", op, 500),
            // Another namespace, another user, an earlier stage: not counted.
            event("ResponseComplete", "u", "a-driver", op, 201),
            event(
                "ResponseComplete",
                "t",
                "a-exec-1",
                "system:serviceaccount:t:spark",
                201,
            ),
            event("Panic", "t", "a-driver", op, 201),
            // A line cut short when the API server was killed.
            "{\"kind\":\"Event\",\"stage\":\"Resp".to_owned(),
        ]
        .join("\n");
        let counted = count_pod_creations(&log, "t", op);
        assert_eq!(
            counted.created,
            BTreeMap::from([("a-driver".to_owned(), 2)])
        );
        assert_eq!(
            counted.conflicts,
            BTreeMap::from([("a-driver".to_owned(), 1)])
        );
        assert_eq!(counted.failed, BTreeMap::from([("b-driver".to_owned(), 1)]));
        assert_eq!(
            (
                counted.created_total(),
                counted.conflicts_total(),
                counted.failed_total()
            ),
            (2, 1, 1)
        );
    }
}
