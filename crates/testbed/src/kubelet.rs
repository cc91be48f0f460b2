//! What kwok serves in place of a kubelet (`testbed/config/kwok.yaml`): container logs from fixture
//! files and port-forwards to wherever a test points them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use anyhow::Context;
use kube::api::{DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, Client};
use serde_json::json;

use crate::repo_root;

/// The log of every container except Spark's executor container.
pub const DRIVER_LOG: &str = "driver";
/// The log of containers named `spark-kubernetes-executor`.
pub const EXECUTOR_LOG: &str = "executor";

/// What `pods/log` returns for a container logging the fixture `name` ([`DRIVER_LOG`],
/// [`EXECUTOR_LOG`]): the fixture is in the CRI log format (`<time> <stream> <tag> <line>`), the API
/// serves the lines.
pub fn log_fixture(name: &str) -> anyhow::Result<String> {
    let path = repo_root().join(format!("testbed/config/logs/{name}.log"));
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut served = String::new();
    for line in text.lines() {
        let content = line
            .splitn(4, ' ')
            .nth(3)
            .with_context(|| format!("{}: not a CRI log line: {line:?}", path.display()))?;
        served.push_str(content);
        served.push('\n');
    }
    Ok(served)
}

/// Points port `port` of pod `pod` at `target`: kwok forwards connections made through
/// `pods/portforward` (kubectl port-forward) there. A pod's ports without such a target are refused.
pub async fn forward_pod_port(
    client: Client,
    namespace: &str,
    pod: &str,
    port: u16,
    target: SocketAddr,
) -> anyhow::Result<()> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "kwok.x-k8s.io",
        "v1alpha1",
        "PortForward",
    ));
    let forwards: Api<DynamicObject> = Api::namespaced_with(client, namespace, &resource);
    let forward: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "PortForward",
        "metadata": {"name": pod},
        "spec": {"forwards": [{
            "ports": [port],
            "target": {"address": target.ip().to_string(), "port": target.port()},
        }]},
    }))?;
    forwards
        .create(&PostParams::default(), &forward)
        .await
        .with_context(|| format!("creating the PortForward of pod {namespace}/{pod}"))?;
    Ok(())
}

/// A plain HTTP server on a free loopback port that answers every request with `200` and `body`,
/// for as long as the test process lives.
pub fn serve_http(body: &str) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let body = body.to_owned();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            // One read takes the whole of a small request; the answer does not depend on it.
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok(address)
}

/// The answer to `GET /` at `address` (a local port-forward): the status line, headers and a body of
/// its Content-Length, read without waiting for the end of the connection (kubectl keeps the local end
/// open after the server closed its own). Retried until `timeout` while the forward is being set up.
pub async fn http_get(address: &str, timeout: Duration) -> anyhow::Result<String> {
    let mut answer = String::new();
    crate::wait::until(timeout, || {
        // An error is kept as the reason, should the answer never come.
        let done = get_root(address).map(|text| answer = text).map(|()| true);
        async move { done }
    })
    .await
    .with_context(|| format!("no answer through the port-forward at {address}"))?;
    Ok(answer)
}

fn get_root(address: &str) -> anyhow::Result<String> {
    let mut connection = TcpStream::connect(address)?;
    connection.set_read_timeout(Some(Duration::from_secs(5)))?;
    connection.write_all(b"GET / HTTP/1.1\r\nHost: testbed\r\n\r\n")?;
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = connection.read(&mut buffer)?;
        anyhow::ensure!(read > 0, "closed after {received:?}");
        received.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&received);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .context("no Content-Length")?
                .trim()
                .parse()?;
            if body.len() >= length {
                return Ok(text.into_owned());
            }
        }
    }
}
