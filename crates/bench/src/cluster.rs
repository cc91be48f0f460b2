//! The testbed as the harness uses it: an admin client, the CRDs, namespaces it creates (and
//! deletes, waiting until they are gone), and the SparkApplications of the workloads.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use sparkplane_testbed::{TEST_NAMESPACE_LABEL, Testbed, wait};

const FIELD_MANAGER: &str = "sparkplane-bench";
const SPARK_CONNECT_CRD: &str = "sparkconnects.sparkoperator.k8s.io";

pub struct Cluster {
    pub client: Client,
    pub kubeconfig: PathBuf,
    /// The API server's address, `https://host:port`.
    pub server: String,
    /// Every namespace this run created and has not seen deleted yet.
    created: Mutex<Vec<String>>,
}

pub fn spark_application_resource() -> ApiResource {
    ApiResource {
        group: "sparkoperator.k8s.io".into(),
        version: "v1beta2".into(),
        api_version: "sparkoperator.k8s.io/v1beta2".into(),
        kind: "SparkApplication".into(),
        plural: "sparkapplications".into(),
    }
}

/// A spark-pi SparkApplication whose driver pod kwok ends, successfully, `complete_after` after it
/// started running.
pub fn application(name: &str, complete_after: &str) -> anyhow::Result<DynamicObject> {
    Ok(serde_json::from_value(sparkplane_testbed::spark_pi(
        name,
        complete_after,
        0,
    ))?)
}

impl Cluster {
    pub async fn connect() -> anyhow::Result<Cluster> {
        let testbed = Testbed::get()?;
        let config = testbed.config().await?;
        Ok(Cluster {
            server: config
                .cluster_url
                .to_string()
                .trim_end_matches('/')
                .to_owned(),
            client: Client::try_from(config)?,
            kubeconfig: testbed.kubeconfig().to_path_buf(),
            created: Mutex::new(Vec::new()),
        })
    }

    pub fn applications(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            namespace,
            &spark_application_resource(),
        )
    }

    /// Applies every CRD in `dir` (server-side) and waits until SparkApplication is served.
    pub async fn install_crds(&self, dir: &Path) -> anyhow::Result<()> {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| dir.display().to_string())?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file)?;
            let crd: CustomResourceDefinition = serde_json::from_value(serde_yaml_value(&text)?)
                .with_context(|| file.display().to_string())?;
            let name = crd.metadata.name.clone().context("a CRD without a name")?;
            crds.patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&crd),
            )
            .await
            .with_context(|| format!("applying {}", file.display()))?;
        }
        wait::crd_established(&self.client, "sparkapplications.sparkoperator.k8s.io").await
    }

    /// Installs a minimal SparkConnect CRD (`sparkoperator.k8s.io/v1alpha1`, any content) unless one
    /// is there: the Kubeflow controller will not start without the resource, and nothing here uses
    /// it. Returns whether it was installed (and so should be removed after the run).
    pub async fn ensure_spark_connect_crd(&self) -> anyhow::Result<bool> {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        if crds.get_opt(SPARK_CONNECT_CRD).await?.is_some() {
            return Ok(false);
        }
        let crd: CustomResourceDefinition = serde_json::from_value(json!({
            "metadata": {
                "name": SPARK_CONNECT_CRD,
                // The group is under k8s.io, which the API server protects; the annotation names the
                // API review the group went through, as the SparkApplication CRD does.
                "annotations": {"api-approved.kubernetes.io": "https://github.com/kubeflow/spark-operator/pull/1298"}
            },
            "spec": {
                "group": "sparkoperator.k8s.io",
                "scope": "Namespaced",
                "names": {"kind": "SparkConnect", "listKind": "SparkConnectList",
                          "plural": "sparkconnects", "singular": "sparkconnect"},
                "versions": [{
                    "name": "v1alpha1", "served": true, "storage": true,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
                }]
            }
        }))?;
        crds.create(&PostParams::default(), &crd).await?;
        wait::crd_established(&self.client, SPARK_CONNECT_CRD).await?;
        Ok(true)
    }

    pub async fn delete_spark_connect_crd(&self) -> anyhow::Result<()> {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        crds.delete(SPARK_CONNECT_CRD, &DeleteParams::default())
            .await?;
        Ok(())
    }

    /// The ServiceAccount Kubeflow's spark-submit names in every driver pod (the API server refuses
    /// a pod whose ServiceAccount does not exist); no Role, since no driver really runs.
    pub async fn create_driver_service_account(&self, namespace: &str) -> anyhow::Result<()> {
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        let account: ServiceAccount =
            serde_json::from_value(json!({"metadata": {"name": "spark-operator-spark"}}))?;
        accounts.create(&PostParams::default(), &account).await?;
        Ok(())
    }

    /// `status.submissionID` of every application in `namespace`.
    pub async fn submission_ids(&self, namespace: &str) -> anyhow::Result<Vec<String>> {
        let apps = self
            .applications(namespace)
            .list(&Default::default())
            .await?;
        Ok(apps
            .items
            .iter()
            .filter_map(|a| a.data["status"]["submissionID"].as_str().map(str::to_owned))
            .collect())
    }

    /// A new namespace `bench-<pid>-<suffix>`, labelled like the test namespaces so leftovers are
    /// easy to find, with its default ServiceAccount (pods need it).
    pub async fn create_namespace(&self, suffix: &str) -> anyhow::Result<String> {
        let name = format!("bench-{}-{suffix}", std::process::id());
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let namespace: Namespace = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {TEST_NAMESPACE_LABEL: "bench"}}
        }))?;
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        if let Ok(mut created) = self.created.lock() {
            created.push(name.clone());
        }
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &name);
        wait::until(Duration::from_secs(30), || async {
            Ok(accounts.get_opt("default").await?.is_some())
        })
        .await
        .with_context(|| format!("namespace {name}: no default ServiceAccount"))?;
        Ok(name)
    }

    /// Deletes `names` and waits until they are gone; returns those still there after `timeout`.
    pub async fn delete_namespaces(
        &self,
        names: &[String],
        timeout: Duration,
    ) -> anyhow::Result<Vec<String>> {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        for name in names {
            match namespaces.delete(name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e).with_context(|| format!("deleting namespace {name}")),
            }
        }
        let deadline = Instant::now() + timeout;
        let mut left: Vec<String> = names.to_vec();
        while !left.is_empty() && Instant::now() < deadline {
            let mut still = Vec::new();
            for name in left {
                if namespaces.get_opt(&name).await?.is_some() {
                    still.push(name);
                }
            }
            left = still;
            if !left.is_empty() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        if let Ok(mut created) = self.created.lock() {
            created.retain(|n| !names.contains(n) || left.contains(n));
        }
        Ok(left)
    }

    /// Namespaces created and not yet deleted (what clean-up after a failure must remove).
    pub fn still_created(&self) -> Vec<String> {
        self.created.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub async fn apiserver_version(&self) -> String {
        self.client
            .apiserver_version()
            .await
            .map(|v| v.git_version)
            .unwrap_or_else(|e| format!("unknown ({e})"))
    }
}

/// A YAML document as JSON (the CRD files are one document each).
fn serde_yaml_value(text: &str) -> anyhow::Result<serde_json::Value> {
    let docs: Vec<&str> = text
        .split("\n---")
        .filter(|d| !d.trim().is_empty() && !d.lines().all(|l| l.trim_start().starts_with('#')))
        .collect();
    match docs.as_slice() {
        [one] => Ok(serde_yaml::from_str(one)?),
        _ => anyhow::bail!("expected one YAML document, found {}", docs.len()),
    }
}
