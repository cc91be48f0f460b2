//! Installing our CRDs into the shared testbed, for the tests that need them.

use anyhow::Context;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use sparkplane_testbed::{Testbed, wait};

/// The field manager of the CRDs the tests install.
const FIELD_MANAGER: &str = "sparkplane-api-tests";

pub fn testbed() -> anyhow::Result<&'static Testbed> {
    Testbed::get()
}

/// A client to the testbed, with our CRDs installed and established. Server-side apply makes this
/// idempotent: test binaries running at once all apply the same objects.
pub async fn client_with_crds() -> anyhow::Result<Client> {
    let client = testbed()?.client().await?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in sparkplane_api::crds::all_crds()? {
        let name = crd.metadata.name.clone().context("CRD without a name")?;
        crds.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .with_context(|| format!("applying CRD {name}"))?;
        wait::crd_established(&client, &name)
            .await
            .with_context(|| format!("CRD {name} not established"))?;
    }
    Ok(client)
}

/// The API resource of a manifest's kind.
pub fn api_resource(object: &DynamicObject) -> anyhow::Result<ApiResource> {
    let types = object
        .types
        .as_ref()
        .context("manifest without apiVersion/kind")?;
    let gvk = GroupVersionKind::try_from(types)?;
    let plural = format!("{}s", gvk.kind.to_ascii_lowercase());
    Ok(ApiResource::from_gvk_with_plural(&gvk, &plural))
}

/// Sends `manifest` to the API server as a server-side dry-run create in `namespace`: the outer error
/// is the test's own, the inner one the server's answer.
pub async fn dry_run_create(
    client: &Client,
    namespace: &str,
    manifest: &serde_json::Value,
) -> anyhow::Result<Result<DynamicObject, kube::Error>> {
    let mut object: DynamicObject = serde_json::from_value(manifest.clone())?;
    object.metadata.namespace = Some(namespace.to_string());
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &api_resource(&object)?);
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    Ok(api.create(&dry_run, &object).await)
}
