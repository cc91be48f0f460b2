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

/// SIGKILLs every process of the real node's container `container_id` (as a pod's status names it,
/// `containerd://<id>` or the bare id), found by its cgroup, as the kernel's OOM killer would; returns
/// how many processes were killed. Blocking.
pub fn kill_container(container_id: &str) -> anyhow::Result<usize> {
    let id = container_id.rsplit("://").next().unwrap_or(container_id);
    anyhow::ensure!(
        id.len() >= 12 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{container_id:?} is not a container id"
    );
    let root = PathBuf::from("/sys/fs/cgroup/pids");
    let dir = find_dir(&root, id, 8)
        .with_context(|| format!("no cgroup of container {id} under {}", root.display()))?;
    let procs = std::fs::read_to_string(dir.join("cgroup.procs"))?;
    let mut killed = 0;
    for pid in procs.lines().filter(|l| !l.trim().is_empty()) {
        let status = Command::new("kill").args(["-KILL", pid.trim()]).status()?;
        if status.success() {
            killed += 1;
        }
    }
    anyhow::ensure!(killed > 0, "container {id} had no process to kill");
    Ok(killed)
}

/// The directory named `name` at most `depth` levels under `dir`.
fn find_dir(dir: &std::path::Path, name: &str, depth: usize) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    let subdirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    if let Some(found) = subdirs
        .iter()
        .find(|d| d.file_name().is_some_and(|n| n == name))
    {
        return Some(found.clone());
    }
    if depth == 0 {
        return None;
    }
    subdirs.iter().find_map(|d| find_dir(d, name, depth - 1))
}

/// The API server's audit log.
pub fn audit_log_path() -> PathBuf {
    testbed_state_dir().join("audit.log")
}

/// One pod creation the API server logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creation {
    pub pod: String,
    /// The answer's status code (none when the request never completed).
    pub code: Option<u64>,
    pub source_ips: Vec<String>,
    /// When the API server received the request (RFC 3339).
    pub received: String,
}

/// The creations of pods of one namespace by one user, by pod name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodCreations {
    /// Creations the API server answered 201 Created.
    pub created: BTreeMap<String, u32>,
    /// Creations answered 409 AlreadyExists: the pod was there (a repeated submission).
    pub conflicts: BTreeMap<String, u32>,
    /// Creations answered anything else (refused, or cut off by a fault: their client gone, 504).
    pub failed: BTreeMap<String, u32>,
}

impl PodCreations {
    pub fn tally(creations: &[Creation]) -> PodCreations {
        let mut tally = PodCreations::default();
        for creation in creations {
            let counts = match creation.code {
                Some(201) => &mut tally.created,
                Some(409) => &mut tally.conflicts,
                _ => &mut tally.failed,
            };
            *counts.entry(creation.pod.clone()).or_default() += 1;
        }
        tally
    }

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
pub fn pod_creations(namespace: &str, username: &str) -> anyhow::Result<Vec<Creation>> {
    let path = audit_log_path();
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the API server's audit log {}", path.display()))?;
    Ok(parse_pod_creations(&text, namespace, username))
}

/// The pod creations in audit log `text` (one JSON event per line, as the API server writes them);
/// lines that are not events (a line cut short by a killed API server) are skipped.
pub fn parse_pod_creations(text: &str, namespace: &str, username: &str) -> Vec<Creation> {
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|event| {
            let field = |pointer: &str| event.pointer(pointer).and_then(Value::as_str);
            let ours = field("/stage") == Some("ResponseComplete")
                && field("/verb") == Some("create")
                && field("/objectRef/resource") == Some("pods")
                && field("/objectRef/subresource").is_none()
                && field("/objectRef/namespace") == Some(namespace)
                && field("/user/username") == Some(username);
            let pod = field("/objectRef/name").filter(|_| ours)?.to_owned();
            let source_ips = event
                .pointer("/sourceIPs")
                .and_then(Value::as_array)
                .map(|ips| {
                    ips.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            Some(Creation {
                pod,
                code: event
                    .pointer("/responseStatus/code")
                    .and_then(Value::as_u64),
                source_ips,
                received: field("/requestReceivedTimestamp")
                    .unwrap_or_default()
                    .to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(stage: &str, ns: &str, name: &str, user: &str, code: u16) -> String {
        serde_json::json!({
            "kind": "Event", "stage": stage, "verb": "create",
            "user": {"username": user}, "sourceIPs": ["10.89.0.2"],
            "requestReceivedTimestamp": "2026-12-06T09:00:00.000000Z",
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
            event("ResponseComplete", "t", "b-driver", op, 504),
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
        let creations = parse_pod_creations(&log, "t", op);
        assert_eq!(creations.len(), 4);
        assert_eq!(creations[0].source_ips, vec!["10.89.0.2".to_owned()]);
        assert_eq!(creations[0].received, "2026-12-06T09:00:00.000000Z");
        let counted = PodCreations::tally(&creations);
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
