//! SparkConnect manifests: decoding, validation, then the server pod, Service and ConfigMap.

use sparkplane_api::SparkConnect;
use sparkplane_submit::connect;

use crate::{check_objects, names_a_field};

const MASTER: &str = "k8s://https://kubernetes.default.svc:443";

/// Reads `text` as a SparkConnect (as the API server would hand it over: named, in a namespace,
/// with a uid), validates it, and when valid checks the objects of its plan.
pub fn check(text: &str) -> Result<(), String> {
    let Ok(mut conn) = serde_yaml::from_str::<SparkConnect>(text) else {
        return Ok(());
    };
    conn.metadata
        .namespace
        .get_or_insert_with(|| "default".into());
    conn.metadata.uid = Some("3f1c2a4e-0000-4000-8000-000000000001".into());
    if let Err(invalid) = sparkplane_api::validate::spark_connect(&conn) {
        return match invalid
            .0
            .iter()
            .find(|p| !names_a_field(&format!("{}: ", p.path)))
        {
            Some(problem) => Err(format!("a problem that names no field: {problem}")),
            None => Ok(()),
        };
    }
    match connect::build(&conn, MASTER) {
        Ok(plan) => {
            let objects = [
                serde_json::to_value(&plan.config_map),
                serde_json::to_value(&plan.service),
                serde_json::to_value(&plan.pod),
            ]
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
            check_objects(&objects)
        }
        Err(error) if names_a_field(&error.to_string()) => Ok(()),
        Err(error) => Err(format!("a refusal that names no field: {error}")),
    }
}
