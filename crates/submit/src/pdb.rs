//! The driver's PodDisruptionBudget (Kubeflow's `driverPodDisruptionBudget`, behind the operator's
//! `--enable-driver-pdb`): at least one driver pod of the application available, so a node drain or
//! another voluntary eviction waits until the driver has ended instead of killing the run.

use std::collections::BTreeMap;

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sparkplane_api::SparkApplication;

use crate::identity::{LABEL_APP_NAME, LABEL_LAUNCHED_BY};

/// The PDB of `app`'s driver when the operator allows it and the application asks for it: named as
/// the driver pod, selecting the application's driver (`spark-role=driver`), `minAvailable: 1`.
/// Its owner (the driver pod) is set once the pod exists.
pub fn driver_pdb(
    app: &SparkApplication,
    enabled: bool,
    namespace: &str,
    driver_pod_name: &str,
) -> Option<PodDisruptionBudget> {
    if !enabled || app.spec.driver_pod_disruption_budget != Some(true) {
        return None;
    }
    let name = app.metadata.name.clone().unwrap_or_default();
    Some(PodDisruptionBudget {
        metadata: ObjectMeta {
            name: Some(driver_pod_name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(BTreeMap::from([
                (LABEL_LAUNCHED_BY.to_owned(), "true".to_owned()),
                (LABEL_APP_NAME.to_owned(), name.clone()),
            ])),
            ..Default::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([
                    (LABEL_APP_NAME.to_owned(), name),
                    ("spark-role".to_owned(), "driver".to_owned()),
                ])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(asks: Option<bool>) -> SparkApplication {
        let mut app = SparkApplication::new("pi", Default::default());
        app.spec.driver_pod_disruption_budget = asks;
        app
    }

    #[test]
    fn a_pdb_only_when_the_operator_allows_it_and_the_application_asks() {
        assert!(driver_pdb(&app(Some(true)), false, "ns", "pi-driver").is_none());
        assert!(driver_pdb(&app(None), true, "ns", "pi-driver").is_none());
        assert!(driver_pdb(&app(Some(false)), true, "ns", "pi-driver").is_none());
        let pdb = driver_pdb(&app(Some(true)), true, "ns", "pi-driver").expect("a PDB");
        assert_eq!(pdb.metadata.name.as_deref(), Some("pi-driver"));
        let spec = pdb.spec.expect("spec");
        assert_eq!(spec.min_available, Some(IntOrString::Int(1)));
        let selector = spec.selector.and_then(|s| s.match_labels).expect("labels");
        assert_eq!(selector[LABEL_APP_NAME], "pi");
        assert_eq!(selector["spark-role"], "driver");
    }
}
