//! The client for every call but watches: kube's own stack (base URL, credentials, extra headers,
//! its retry of 429/503/504) over a connector of our own, because kube's cannot set
//! TCP_USER_TIMEOUT. Without it a request written while the API server is unreachable waits in
//! the kernel, retransmitted for minutes, and is delivered whenever the link heals: after the
//! leader has stepped down and even after its process has exited (the kernel keeps sending an
//! orphaned socket's data). With it, data the server has not acknowledged within the timeout
//! aborts the connection, so nothing this client wrote lands later than that.

use std::time::Duration;

use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::retry::RetryPolicy;
use kube::client::{ClientBuilder, ConfigExt};
use kube::{Client, Config};
use tower::retry::RetryLayer;
use tower::{BoxError, ServiceBuilder};

/// `call`: how long a call may go without a byte from the server (connect, read, write);
/// `unacknowledged`: how long written data may stay unacknowledged before the connection is
/// abandoned (TCP_USER_TIMEOUT).
pub fn bounded(
    config: Config,
    call: Duration,
    unacknowledged: Duration,
) -> Result<Client, kube::Error> {
    let mut tcp = HttpConnector::new();
    // kube's URLs are https; the TLS layer above does the handshake over this plain connector.
    tcp.enforce_http(false);
    tcp.set_connect_timeout(Some(call));
    tcp.set_tcp_user_timeout(Some(unacknowledged));
    tcp.set_nodelay(true);
    let tls = config.rustls_https_connector_with_connector(tcp)?;
    let mut connector = TimeoutConnector::new(tls);
    connector.set_connect_timeout(Some(call));
    connector.set_read_timeout(Some(call));
    connector.set_write_timeout(Some(call));
    let http = hyper_util::client::legacy::Builder::new(TokioExecutor::new()).build(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(
            config
                .default_retry
                .then(|| RetryLayer::new(RetryPolicy::server_retry())),
        )
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(http);
    Ok(ClientBuilder::new(service, config.default_namespace.clone()).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that accepts connections, takes the request and never answers: a call through the
    /// bounded client fails after about its timeout instead of waiting for ever.
    #[tokio::test]
    async fn a_call_to_a_server_that_never_answers_gives_up_after_the_timeout() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream);
            }
        });
        // Plain HTTP: the connection is made at once and the request sent; only the answer never
        // comes, which only a response timeout catches.
        let config = kube::Config::new(
            format!("http://{address}")
                .parse()
                .expect("a server address"),
        );
        let client = bounded(
            config,
            Duration::from_millis(500),
            Duration::from_millis(500),
        )
        .expect("client");
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
            kube::Api::namespaced(client, "default");
        let started = std::time::Instant::now();
        let outcome = tokio::time::timeout(Duration::from_secs(20), pods.get("driver")).await;
        let elapsed = started.elapsed();
        let result = outcome.expect("the call must not hang");
        assert!(result.is_err(), "a silent server answered?");
        assert!(
            elapsed < Duration::from_secs(5),
            "gave up only after {elapsed:?}"
        );
    }
}
