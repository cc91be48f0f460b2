//! What must hold for any input the operator can be given, checked by the fuzz targets and by the
//! corpus replay test: no panic (the fuzzer's own check), every object it would create a valid
//! Kubernetes object by name and labels, and every refusal naming the field it is about.

use serde_json::Value;
use sparkplane_api::names::{is_dns_subdomain, is_label_value, is_qualified_name};
use sparkplane_api::validate::Invalid;
use sparkplane_submit::PlanError;
use sparkplane_submit::names::{is_dns_1035_label, is_dns_label};
use sparkplane_submit::render::{self, RenderError, RenderOptions};

/// Where a refusal may point: the object's fields, the operator's settings, or a Spark conf key.
const FIELD_PREFIXES: [&str; 4] = ["spec", "metadata", "settings.", "spark."];

/// Plans `text` as `sparkplane render` would, with the operator's defaults and with every optional
/// object turned on, and checks what comes out.
pub fn check_manifest(text: &str) -> Result<(), String> {
    let mut all_on = RenderOptions::default();
    all_on.settings.driver_pdb = true;
    all_on.settings.ingress_url_format = Some("{{$appName}}.{{$appNamespace}}.example.com".into());
    for opts in [RenderOptions::default(), all_on] {
        match render::plan_from_yaml(text, &opts) {
            Ok((_, plan)) => {
                let objects = render::objects_json(&plan).map_err(|e| e.to_string())?;
                check_objects(&objects)?;
            }
            Err(error) => check_refusal(&error)?,
        }
    }
    Ok(())
}

/// A refusal names the field it is about. Text that is not YAML (or, starting with `{`, JSON), or
/// holds no SparkApplication, has no field to name.
pub fn check_refusal(error: &RenderError) -> Result<(), String> {
    match error {
        RenderError::Parse(_) | RenderError::ParseJson(_) | RenderError::NoApplication(_) => Ok(()),
        RenderError::Invalid(Invalid(problems)) => {
            if problems.is_empty() {
                return Err("an Invalid with no problem in it".into());
            }
            for problem in problems {
                if !names_a_field(&format!("{}: ", problem.path)) || problem.problem.is_empty() {
                    return Err(format!("a problem that names no field: {problem}"));
                }
            }
            Ok(())
        }
        RenderError::Plan(error) => check_plan_error(error),
        RenderError::Json(error) => Err(format!("a plan that cannot be written: {error}")),
    }
}

pub fn check_plan_error(error: &PlanError) -> Result<(), String> {
    let message = error.to_string();
    if names_a_field(&message) {
        Ok(())
    } else {
        Err(format!("a refusal that names no field: {message}"))
    }
}

/// Whether `message` reads `<field>: <problem>`, the field one of [`FIELD_PREFIXES`].
pub fn names_a_field(message: &str) -> bool {
    message.split_once(": ").is_some_and(|(field, _)| {
        !field.is_empty() && FIELD_PREFIXES.iter().any(|p| field.starts_with(p))
    })
}

/// Every object's name fits its kind, and every label and annotation key, label value, container
/// and volume name is one the API server takes; an executor pod template inside a ConfigMap is
/// checked as the pod it becomes.
pub fn check_objects(objects: &[Value]) -> Result<(), String> {
    for object in objects {
        let kind = object["kind"].as_str().unwrap_or_default();
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let name_ok = match kind {
            "Service" => is_dns_1035_label(name),
            _ => is_dns_subdomain(name),
        };
        if !name_ok {
            return Err(format!("{kind} name {name:?} is not valid"));
        }
        check_metadata(kind, name, &object["metadata"])?;
        if kind == "Pod" {
            check_pod_spec(name, &object["spec"])?;
        }
        if kind == "ConfigMap" {
            for text in object["data"]
                .as_object()
                .into_iter()
                .flat_map(|d| d.values())
            {
                let Some(text) = text.as_str() else { continue };
                if let Ok(template) = serde_json::from_str::<Value>(text)
                    && template["kind"] == "Pod"
                {
                    check_metadata("executor template", name, &template["metadata"])?;
                    check_pod_spec(name, &template["spec"])?;
                }
            }
        }
    }
    Ok(())
}

fn check_metadata(kind: &str, name: &str, metadata: &Value) -> Result<(), String> {
    for (key, value) in metadata["labels"].as_object().into_iter().flatten() {
        if !is_qualified_name(key) || !value.as_str().is_some_and(is_label_value) {
            return Err(format!("{kind} {name}: label {key:?}={value} is not valid"));
        }
    }
    for key in metadata["annotations"]
        .as_object()
        .into_iter()
        .flat_map(|a| a.keys())
    {
        if !is_qualified_name(key) {
            return Err(format!(
                "{kind} {name}: annotation key {key:?} is not valid"
            ));
        }
    }
    Ok(())
}

fn check_pod_spec(name: &str, spec: &Value) -> Result<(), String> {
    let containers = ["containers", "initContainers"]
        .into_iter()
        .flat_map(|field| spec[field].as_array().into_iter().flatten());
    for container in containers {
        let container_name = container["name"].as_str().unwrap_or_default();
        if !is_dns_label(container_name) {
            return Err(format!(
                "pod {name}: container name {container_name:?} is not valid"
            ));
        }
    }
    for volume in spec["volumes"].as_array().into_iter().flatten() {
        let volume_name = volume["name"].as_str().unwrap_or_default();
        if !is_dns_label(volume_name) {
            return Err(format!(
                "pod {name}: volume name {volume_name:?} is not valid"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names() {
        assert!(names_a_field("spec.driver.memory: 1gg is not a size"));
        assert!(names_a_field(
            "spark.kubernetes.driver.volumes.x.mount.path: missing"
        ));
        assert!(!names_a_field("something went wrong"));
        assert!(!names_a_field("driver: bad"));
    }

    /// Every input the fuzzers kept (fuzz/corpus/<target>/) still holds, replayed as a plain test on
    /// the stable toolchain.
    #[test]
    fn the_corpus_holds() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        let mut replayed = 0;
        for target in ["manifest", "fields", "connect"] {
            let dir = root.join(target);
            let entries =
                std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            for entry in entries {
                let path = entry.expect("entry").path();
                let data = std::fs::read(&path).expect("read");
                let verdict = match target {
                    "manifest" => check_manifest(&String::from_utf8_lossy(&data)),
                    "fields" => crate::fields::check(&data),
                    _ => crate::connect::check(&String::from_utf8_lossy(&data)),
                };
                if let Err(error) = verdict {
                    panic!("{}: {error}", path.display());
                }
                replayed += 1;
            }
        }
        assert!(replayed >= 10, "only {replayed} inputs in the corpus");
    }
}

pub mod connect;
pub mod fields;
