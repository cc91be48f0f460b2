//! The Spark UI Service and Ingress, and one Service and Ingress per `driverIngressOptions` entry
//! (Kubeflow's `web_ui.go` and `driveringress.go`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum UiError {
    #[error("{field}: {value:?} does not give a URL with a host")]
    BadUrl { field: String, value: String },
}

pub struct Exposure<'a> {
    pub service_name: String,
    pub ingress_name: String,
    pub port_name: &'a str,
    pub port: i32,
    pub target_port: i32,
    pub service_type: Option<&'a str>,
    pub service_labels: Option<&'a BTreeMap<String, String>>,
    pub service_annotations: Option<&'a BTreeMap<String, String>>,
    pub ingress_annotations: Option<&'a BTreeMap<String, String>>,
    pub ingress_tls: Option<&'a Vec<IngressTLS>>,
}

pub fn service(
    e: &Exposure<'_>,
    namespace: &str,
    base_labels: &BTreeMap<String, String>,
    app_id: &str,
) -> Service {
    let mut labels = base_labels.clone();
    labels.extend(e.service_labels.cloned().unwrap_or_default());
    // Kubeflow marks the Services its controller creates.
    labels.insert(
        crate::monitoring::LABEL_CREATED_BY.to_owned(),
        "true".to_owned(),
    );
    Service {
        metadata: ObjectMeta {
            name: Some(e.service_name.clone()),
            namespace: Some(namespace.to_owned()),
            labels: Some(labels),
            annotations: e.service_annotations.cloned().filter(|a| !a.is_empty()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            ports: Some(vec![ServicePort {
                name: Some(e.port_name.to_owned()),
                port: e.port,
                target_port: Some(IntOrString::Int(e.target_port)),
                ..Default::default()
            }]),
            selector: Some(BTreeMap::from([
                ("spark-app-selector".to_owned(), app_id.to_owned()),
                ("spark-role".to_owned(), "driver".to_owned()),
            ])),
            type_: Some(e.service_type.unwrap_or("ClusterIP").to_owned()),
            ..Default::default()
        }),
        status: None,
    }
}

/// Kubeflow's `{{$appName}}`, `{{$appNamespace}}` and `{{$appId}}` placeholders.
pub fn url(format: &str, name: &str, namespace: &str, app_id: &str) -> String {
    format
        .replace("{{$appName}}", name)
        .replace("{{$appNamespace}}", namespace)
        .replace("{{$appId}}", app_id)
}

/// Splits `host/path` (with or without a scheme) into host and path.
pub fn host_and_path(field: &str, url: &str) -> Result<(String, String), UiError> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if host.is_empty() {
        return Err(UiError::BadUrl {
            field: field.to_owned(),
            value: url.to_owned(),
        });
    }
    Ok((host.to_owned(), path.trim_end_matches('/').to_owned()))
}

pub fn ingress(
    e: &Exposure<'_>,
    namespace: &str,
    labels: &BTreeMap<String, String>,
    host: &str,
    path: &str,
    class: Option<&str>,
) -> Ingress {
    let mut annotations = e.ingress_annotations.cloned().unwrap_or_default();
    let (path, path_type) = if path.is_empty() {
        ("/".to_owned(), "Prefix")
    } else {
        // Kubeflow rewrites `<path>(/|$)(.*)` to `/$2` with nginx so the UI sees its own root.
        annotations.insert(
            "nginx.ingress.kubernetes.io/rewrite-target".into(),
            "/$2".into(),
        );
        (format!("{path}(/|$)(.*)"), "ImplementationSpecific")
    };
    Ingress {
        metadata: ObjectMeta {
            name: Some(e.ingress_name.clone()),
            namespace: Some(namespace.to_owned()),
            labels: Some(labels.clone()),
            annotations: Some(annotations).filter(|a| !a.is_empty()),
            ..Default::default()
        },
        spec: Some(IngressSpec {
            ingress_class_name: class.map(str::to_owned),
            rules: Some(vec![IngressRule {
                host: Some(host.to_owned()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some(path),
                        path_type: path_type.into(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: e.service_name.clone(),
                                port: Some(ServiceBackendPort {
                                    number: Some(e.port),
                                    name: None,
                                }),
                            }),
                            resource: None,
                        },
                    }],
                }),
            }]),
            tls: e.ingress_tls.cloned().filter(|t| !t.is_empty()),
            ..Default::default()
        }),
        status: None,
    }
}
