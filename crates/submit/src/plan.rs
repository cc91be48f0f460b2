//! Composes the steps into a [`SubmissionPlan`]: `(SparkApplication, Settings, Attempt) -> objects`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, KeyToPath, PersistentVolumeClaim, Pod, Service, Volume,
    VolumeMount,
};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1alpha2::PodGroup;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use sparkplane_api::SparkApplication;
use sparkplane_api::v1beta2::SparkApplicationType;
use thiserror::Error;

use crate::batch::coscheduling::CoschedulingPodGroup;
use crate::batch::volcano::VolcanoPodGroup;
use crate::batch::{self, BatchScheduler, workload};
use crate::conf::{self, ConfError, ConfInputs};
use crate::monitoring;
use crate::names::{self, Ids, NameError};
use crate::properties::SparkConf;
use crate::steps::{self, StepContext, env};
use crate::template::{self, Role, TemplateError};
use crate::ui::{self, Exposure, UiError};
use crate::version::{SparkVersion, VersionError};

/// What the API server lets a ConfigMap's values hold together (`MaxSecretSize`).
pub const CONFIG_MAP_MAX_BYTES: usize = 1 << 20;

/// The operator's settings that shape a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `spark.master`: how the driver reaches the API server, `k8s://https://host:port`.
    pub master: String,
    /// Kubeflow's `--ingress-url-format` for the UI Ingress, e.g. `{{$appName}}.spark.example.com`.
    pub ingress_url_format: Option<String>,
    pub ingress_class_name: Option<String>,
    /// Create the UI Service (Kubeflow's `uiService.enable`, on by default).
    pub ui_service: bool,
    /// `SPARK_USER` of the driver: the submitting user, as spark-submit reports it.
    pub spark_user: String,
    /// Kubeflow's `--enable-driver-pdb`: applications with `driverPodDisruptionBudget` get one.
    pub driver_pdb: bool,
    /// Kubeflow's `--kube-scheduler-names`: the schedulers running the scheduler-plugins'
    /// Coscheduling that `spec.batchScheduler` may name.
    pub kube_scheduler_names: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            master: "k8s://https://kubernetes.default.svc:443".into(),
            ingress_url_format: None,
            ingress_class_name: None,
            ui_service: true,
            spark_user: "spark".into(),
            driver_pdb: false,
            kube_scheduler_names: Vec::new(),
        }
    }
}

/// One submission of an application: the n-th (from 1) gives the n-th set of names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt(pub u32);

#[derive(Debug, Error)]
pub enum PlanError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(transparent)]
    Version(#[from] VersionError),
    #[error(transparent)]
    Conf(#[from] ConfError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Basic(#[from] steps::basic::BasicError),
    #[error(transparent)]
    Service(#[from] steps::driver_service::ServiceError),
    #[error(transparent)]
    EnvSecret(#[from] steps::env_secrets::EnvSecretError),
    #[error(transparent)]
    Volume(#[from] steps::volumes::VolumeError),
    #[error(transparent)]
    PodTemplate(#[from] steps::pod_template::PodTemplateError),
    #[error(transparent)]
    Ui(#[from] UiError),
    #[error(transparent)]
    Batch(#[from] batch::BatchError),
    #[error(
        "{field}: the {what} would be {bytes} bytes, more than a ConfigMap holds ({CONFIG_MAP_MAX_BYTES}); move large settings into files (spec.sparkConfigMap, spec.hadoopConfigMap)"
    )]
    ConfigMapTooLarge {
        field: &'static str,
        what: &'static str,
        bytes: usize,
    },
    #[error(
        "spec.driver.podName: {0:?} is not a valid pod name (a DNS-1123 subdomain of at most 253 characters)"
    )]
    PodName(String),
}

/// Everything one submission creates, built without touching the API server.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionPlan {
    pub app_id: String,
    pub submission_id: String,
    pub resource_prefix: String,
    pub driver_pod_name: String,
    /// The full `spark.properties`, as the driver will read it.
    pub properties: SparkConf,
    pub driver_pod: Pod,
    /// The driver's conf ConfigMap, then the executor pod template's.
    pub config_maps: Vec<ConfigMap>,
    /// Kubeflow's `<app>-prom-conf` for the JMX exporter, owned by the SparkApplication.
    pub prometheus_config_map: Option<ConfigMap>,
    /// The headless driver Service.
    pub driver_service: Service,
    /// On-demand PVCs of the driver.
    pub claims: Vec<PersistentVolumeClaim>,
    /// The UI Service and the `driverIngressOptions` Services.
    pub ui_services: Vec<Service>,
    pub ingresses: Vec<Ingress>,
    /// The driver's PodDisruptionBudget, when asked for and allowed.
    pub driver_pdb: Option<PodDisruptionBudget>,
    /// The executors' gang (`batchScheduler: workload`), owned by the driver pod.
    pub executor_group: Option<PodGroup>,
    /// The application's coscheduling group (`batchScheduler` naming a coscheduling scheduler),
    /// owned by the SparkApplication and applied before the driver pod.
    pub coscheduling_group: Option<CoschedulingPodGroup>,
    /// The application's Volcano PodGroup (`batchScheduler: volcano`), owned by the
    /// SparkApplication and applied before the driver pod.
    pub volcano_group: Option<VolcanoPodGroup>,
}

/// One object of a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanObject<'a> {
    Pod(&'a Pod),
    ConfigMap(&'a ConfigMap),
    Service(&'a Service),
    PersistentVolumeClaim(&'a PersistentVolumeClaim),
    Ingress(&'a Ingress),
    PodDisruptionBudget(&'a PodDisruptionBudget),
    PodGroup(&'a PodGroup),
    CoschedulingPodGroup(&'a CoschedulingPodGroup),
    VolcanoPodGroup(&'a VolcanoPodGroup),
}

impl PlanObject<'_> {
    /// The object's kind, as in its manifest.
    pub fn kind(&self) -> &'static str {
        match self {
            PlanObject::Pod(_) => "Pod",
            PlanObject::ConfigMap(_) => "ConfigMap",
            PlanObject::Service(_) => "Service",
            PlanObject::PersistentVolumeClaim(_) => "PersistentVolumeClaim",
            PlanObject::Ingress(_) => "Ingress",
            PlanObject::PodDisruptionBudget(_) => "PodDisruptionBudget",
            PlanObject::PodGroup(_)
            | PlanObject::CoschedulingPodGroup(_)
            | PlanObject::VolcanoPodGroup(_) => "PodGroup",
        }
    }
}

impl SubmissionPlan {
    /// The objects in the order to create them: the monitoring ConfigMap (Kubeflow creates it before
    /// submitting) and the batch scheduler's group (the scheduler must see it with the pod), the
    /// driver pod (as Spark does; the kubelet waits for its ConfigMap), then what Spark owns by the
    /// driver, then the operator's UI objects.
    pub fn objects(&self) -> Vec<PlanObject<'_>> {
        let mut out: Vec<PlanObject<'_>> = self
            .prometheus_config_map
            .iter()
            .map(PlanObject::ConfigMap)
            .collect();
        out.extend(
            self.coscheduling_group
                .iter()
                .map(PlanObject::CoschedulingPodGroup),
        );
        out.extend(self.volcano_group.iter().map(PlanObject::VolcanoPodGroup));
        out.push(PlanObject::Pod(&self.driver_pod));
        out.extend(self.config_maps.iter().map(PlanObject::ConfigMap));
        out.push(PlanObject::Service(&self.driver_service));
        out.extend(self.claims.iter().map(PlanObject::PersistentVolumeClaim));
        out.extend(self.executor_group.iter().map(PlanObject::PodGroup));
        out.extend(self.ui_services.iter().map(PlanObject::Service));
        out.extend(self.ingresses.iter().map(PlanObject::Ingress));
        out.extend(self.driver_pdb.iter().map(PlanObject::PodDisruptionBudget));
        out
    }

    /// Makes the driver pod, once created with `uid`, the owner of what Spark makes it own (its
    /// ConfigMaps, Service and claims), of its PodDisruptionBudget and of the executors' PodGroup:
    /// deleting the driver (a rerun,
    /// suspend, the application's deletion) then deletes them.
    pub fn set_driver_owner(&mut self, uid: &str) {
        let owner = OwnerReference {
            api_version: "v1".into(),
            kind: "Pod".into(),
            name: self.driver_pod_name.clone(),
            uid: uid.to_owned(),
            controller: Some(true),
            block_owner_deletion: None,
        };
        let metas = self
            .config_maps
            .iter_mut()
            .map(|c| &mut c.metadata)
            .chain(std::iter::once(&mut self.driver_service.metadata))
            .chain(self.claims.iter_mut().map(|c| &mut c.metadata))
            .chain(self.driver_pdb.iter_mut().map(|p| &mut p.metadata))
            .chain(self.executor_group.iter_mut().map(|g| &mut g.metadata));
        for meta in metas {
            meta.owner_references = Some(vec![owner.clone()]);
        }
    }
}

/// Builds the plan of `attempt` for a defaulted application.
pub fn build(
    app: &SparkApplication,
    settings: &Settings,
    attempt: Attempt,
) -> Result<SubmissionPlan, PlanError> {
    let version = SparkVersion::parse("spec.sparkVersion", &app.spec.spark_version)?;
    let uid = app.metadata.uid.as_deref().unwrap_or_default();
    let ids = Ids::derive(uid, attempt.0, &names::spec_hash(&app.spec))?;
    let name = app.metadata.name.as_deref().ok_or(ConfError::MissingName)?;
    let namespace = app
        .metadata
        .namespace
        .as_deref()
        .ok_or(ConfError::MissingNamespace)?;
    let driver_pod_name = app.driver_pod_name();
    if !names::is_dns_subdomain(&driver_pod_name) {
        return Err(PlanError::PodName(driver_pod_name));
    }

    let mut sub = conf::build(
        app,
        &ConfInputs {
            master: &settings.master,
            driver_pod_name: &driver_pod_name,
            submission_id: &ids.submission_id,
        },
    )?;
    // Kubeflow points the UI at the ingress path before submitting.
    let ui_url = settings
        .ingress_url_format
        .as_deref()
        .filter(|_| settings.ui_service)
        .map(|f| ui::url(f, name, namespace, &ids.app_id));
    if let Some(u) = &ui_url {
        let (_, path) = ui::host_and_path("settings.ingressUrlFormat", u)?;
        if !path.is_empty() {
            sub.conf.set_if_absent("spark.ui.proxyBase", &path);
            sub.conf.set_if_absent("spark.ui.proxyRedirectUri", "/");
        }
    }
    sub.conf.set(
        "spark.submit.pyFiles",
        sub.conf
            .get("spark.submit.pyFiles")
            .unwrap_or_default()
            .to_owned(),
    );

    let app_name = sub.conf.get("spark.app.name").unwrap_or(name).to_owned();
    let prefix = names::resource_name_prefix(&app_name, &ids.unique_id);
    let non_jvm = matches!(
        sub.app_type,
        SparkApplicationType::Python | SparkApplicationType::R
    );

    let mut pod = template::build(app, Role::Driver)?;
    let mut executor_template = template::executor_template(app)?;
    let batch = BatchScheduler::of(app, &settings.kube_scheduler_names)?;
    let executor_group = (batch == BatchScheduler::Workload)
        .then(|| workload::executor_group(app, namespace, &prefix, &ids.submission_id, &sub.conf))
        .flatten();
    if let Some(group) = &executor_group {
        workload::link_executors(&mut executor_template, group);
    }
    batch::mark_pods(batch, app, name, &mut pod.pod, &mut executor_template);
    // Each step reads the submitted conf and returns what it adds; the additions are moved into the
    // final properties once every step has run (Spark's steps read the original conf too), so the
    // conf is never copied.
    let mut added_by_steps: Vec<SparkConf> = Vec::with_capacity(4);
    let ctx = StepContext {
        conf: &sub.conf,
        version,
        ids: &ids,
        namespace,
        app_name: &app_name,
        resource_prefix: &prefix,
        driver_pod_name: &driver_pod_name,
        spark_user: &settings.spark_user,
    };
    let mut merge = |added: SparkConf| added_by_steps.push(added);
    merge(steps::basic::apply(&ctx, &mut pod, non_jvm)?);
    let (driver_service, added) = steps::driver_service::apply(&ctx, &pod)?;
    merge(added);
    steps::mount_secrets::apply(&ctx, &mut pod);
    steps::env_secrets::apply(&ctx, &mut pod)?;
    let claims = steps::volumes::apply(&ctx, &mut pod)?;
    merge(steps::command::apply(&sub, &sub.conf, &mut pod));
    let (template_cm, added) = steps::pod_template::apply(&ctx, &mut pod, &executor_template)?;
    merge(added);
    steps::local_dirs::apply(&ctx, &mut pod);
    template::apply_after_spark(app, &app.spec.driver.pod, &mut pod);
    let mut properties = sub.conf;
    for added in added_by_steps {
        properties.extend(added);
    }

    // Client.run: the conf ConfigMap, mounted at SPARK_CONF_DIR, and the Spark container appended last.
    let conf_map_name = names::driver_conf_map_name(&ids.unique_id);
    let text = properties.to_properties(&format!(
        "Java properties built from Kubernetes config map with name: {conf_map_name}"
    ));
    let conf_map = ConfigMap {
        metadata: ObjectMeta {
            name: Some(conf_map_name.clone()),
            namespace: Some(namespace.to_owned()),
            ..Default::default()
        },
        immutable: Some(true),
        data: Some(BTreeMap::from([
            (
                "spark.kubernetes.namespace".to_owned(),
                namespace.to_owned(),
            ),
            ("spark.properties".to_owned(), text),
        ])),
        ..Default::default()
    };
    let mut container = pod.container;
    let envs = container.env.get_or_insert_with(Vec::new);
    // Spark adds its conf dir last; a sparkConfigMap's own SPARK_CONF_DIR (added above) must win.
    let at = envs
        .iter()
        .position(|e| e.name == "SPARK_CONF_DIR")
        .unwrap_or(envs.len());
    envs.insert(at, env("SPARK_CONF_DIR", "/opt/spark/conf"));
    container
        .volume_mounts
        .get_or_insert_with(Vec::new)
        .push(VolumeMount {
            name: "spark-conf-volume-driver".into(),
            mount_path: "/opt/spark/conf".into(),
            ..Default::default()
        });
    let mut driver_pod = pod.pod;
    let spec = driver_pod.spec.get_or_insert_with(Default::default);
    spec.volumes.get_or_insert_with(Vec::new).push(Volume {
        name: "spark-conf-volume-driver".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: conf_map_name,
            items: Some(vec![KeyToPath {
                key: "spark.properties".into(),
                path: "spark.properties".into(),
                mode: Some(420),
            }]),
            ..Default::default()
        }),
        ..Default::default()
    });
    spec.containers.push(container);

    let (ui_services, ingresses) = ui_objects(
        app,
        settings,
        name,
        namespace,
        &ids,
        &properties,
        ui_url.as_deref(),
    )?;
    let driver_pdb = crate::pdb::driver_pdb(app, settings.driver_pdb, namespace, &driver_pod_name);
    let groups = batch::groups(
        batch,
        app,
        namespace,
        version,
        &mut driver_pod,
        &properties,
        non_jvm,
    )?;
    // The API server refuses a ConfigMap over its limit, and the driver would wait for it forever.
    for (config_map, field, what) in [
        (&conf_map, "spec.sparkConf", "driver's spark.properties"),
        (&template_cm, "spec.executor", "executor pod template"),
    ] {
        let bytes = config_map.data.iter().flatten().map(|(_, v)| v.len()).sum();
        if bytes > CONFIG_MAP_MAX_BYTES {
            return Err(PlanError::ConfigMapTooLarge { field, what, bytes });
        }
    }
    Ok(SubmissionPlan {
        driver_pdb,
        executor_group,
        coscheduling_group: groups.coscheduling,
        volcano_group: groups.volcano,
        app_id: ids.app_id,
        submission_id: ids.submission_id,
        resource_prefix: prefix,
        driver_pod_name,
        properties,
        driver_pod,
        config_maps: vec![conf_map, template_cm],
        prometheus_config_map: monitoring::config_map(app, namespace),
        driver_service,
        claims,
        ui_services,
        ingresses,
    })
}

fn ui_objects(
    app: &SparkApplication,
    settings: &Settings,
    name: &str,
    namespace: &str,
    ids: &Ids,
    conf: &SparkConf,
    ui_url: Option<&str>,
) -> Result<(Vec<Service>, Vec<Ingress>), PlanError> {
    let mut services = Vec::new();
    let mut ingresses = Vec::new();
    let labels = BTreeMap::from([
        (crate::identity::LABEL_APP_NAME.to_owned(), name.to_owned()),
        (
            crate::identity::LABEL_SUBMISSION_ID.to_owned(),
            ids.submission_id.clone(),
        ),
    ]);
    let owner = crate::identity::owner_reference(app, true);
    let own = |meta: &mut ObjectMeta| meta.owner_references = Some(vec![owner.clone()]);
    // Each exposure is a Service, and an Ingress when it has a URL (already validated).
    let mut expose = |e: &Exposure, url: Option<(String, String)>| {
        let mut svc = ui::service(e, namespace, &labels, &ids.app_id);
        own(&mut svc.metadata);
        services.push(svc);
        if let Some((host, path)) = url {
            let class = settings.ingress_class_name.as_deref();
            let mut ing = ui::ingress(e, namespace, &labels, &host, &path, class);
            own(&mut ing.metadata);
            ingresses.push(ing);
        }
    };
    let target = steps::basic::port(conf, "spark.ui.port", steps::basic::UI_PORT)?;
    if settings.ui_service {
        let ui = app.spec.spark_ui_options.as_ref();
        let e = Exposure {
            service_name: names::kubeflow_name(name, "ui-svc"),
            ingress_name: names::kubeflow_name(name, "ui-ingress"),
            port_name: ui
                .and_then(|u| u.service_port_name.as_deref())
                .unwrap_or(sparkplane_api::defaults::UI_SERVICE_PORT_NAME),
            port: ui.and_then(|u| u.service_port).unwrap_or(target),
            target_port: target,
            service_type: ui.and_then(|u| u.service_type.as_deref()),
            service_labels: ui.and_then(|u| u.service_labels.as_ref()),
            service_annotations: ui.and_then(|u| u.service_annotations.as_ref()),
            ingress_annotations: ui.and_then(|u| u.ingress_annotations.as_ref()),
            ingress_tls: ui.and_then(|u| u.ingress_tls.as_ref()),
        };
        let url = ui_url
            .map(|u| ui::host_and_path("settings.ingressUrlFormat", u))
            .transpose()?;
        expose(&e, url);
    }
    for (i, d) in app.spec.driver_ingress_options.iter().flatten().enumerate() {
        let suffix = format!("driver-{}", d.service_port);
        let e = Exposure {
            service_name: names::kubeflow_name(name, &suffix),
            ingress_name: names::kubeflow_name(name, &format!("ing-{}", d.service_port)),
            port_name: &d.service_port_name,
            port: d.service_port,
            target_port: d.service_port,
            service_type: d.service_type.as_deref(),
            service_labels: d.service_labels.as_ref(),
            service_annotations: d.service_annotations.as_ref(),
            ingress_annotations: d.ingress_annotations.as_ref(),
            ingress_tls: d.ingress_tls.as_ref(),
        };
        let url = d
            .ingress_url_format
            .as_ref()
            .map(|f| {
                let field = format!("spec.driverIngressOptions[{i}].ingressURLFormat");
                ui::host_and_path(&field, &ui::url(f, name, namespace, &ids.app_id))
            })
            .transpose()?;
        expose(&e, url);
    }
    Ok((services, ingresses))
}
