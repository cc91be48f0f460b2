//! Polling until a condition holds, for tests that watch the control plane converge.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::bail;

/// How often [`until`] checks its condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Checks `condition` every [`POLL_INTERVAL`] until it returns `Ok(true)`; fails after `timeout`
/// with the last error seen, if any.
pub async fn until<F, Fut>(timeout: Duration, mut condition: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match condition().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(error) => last_error = Some(error),
        }
        if Instant::now() >= deadline {
            match last_error {
                Some(error) => bail!("not true after {timeout:?}; last error: {error:#}"),
                None => bail!("not true after {timeout:?}"),
            }
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Waits until the API server serves the CRD `name`: its Established condition is True and a list
/// of its resource succeeds. A CRD that was just created has no status yet, and the first requests
/// after Established can still find no such resource, so both are polled.
pub async fn crd_established(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams};
    let crds: kube::Api<CustomResourceDefinition> = kube::Api::all(client.clone());
    until(Duration::from_secs(30), || {
        let crds = crds.clone();
        let client = client.clone();
        async move {
            let crd = crds.get(name).await?;
            let established = crd
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|conditions| {
                    conditions
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                });
            let Some(version) = crd.spec.versions.iter().find(|v| v.served) else {
                return Ok(false);
            };
            if !established {
                return Ok(false);
            }
            let gvk = GroupVersionKind::gvk(&crd.spec.group, &version.name, &crd.spec.names.kind);
            let resource = ApiResource::from_gvk_with_plural(&gvk, &crd.spec.names.plural);
            let objects: kube::Api<DynamicObject> = kube::Api::all_with(client, &resource);
            objects.list(&ListParams::default().limit(1)).await?;
            Ok(true)
        }
    })
    .await
}
