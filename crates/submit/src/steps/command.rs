//! `DriverCommandFeatureStep`: the container's args and the application's resource type.

use sparkplane_api::v1beta2::SparkApplicationType;

use super::{SparkPod, env};
use crate::conf::Submission;
use crate::properties::SparkConf;

pub fn apply(sub: &Submission, conf: &SparkConf, p: &mut SparkPod) -> SparkConf {
    let mut args: Vec<String> = vec!["driver".into()];
    if let Some(user) = &sub.proxy_user {
        args.extend(["--proxy-user".into(), user.clone()]);
    }
    args.extend([
        "--properties-file".into(),
        "/opt/spark/conf/spark.properties".into(),
    ]);
    let (class, kind) = match sub.app_type {
        SparkApplicationType::Python => {
            ("org.apache.spark.deploy.PythonRunner".to_owned(), "python")
        }
        SparkApplicationType::R => ("org.apache.spark.deploy.RRunner".to_owned(), "r"),
        SparkApplicationType::Java | SparkApplicationType::Scala => {
            (sub.main_class.clone().unwrap_or_default(), "java")
        }
    };
    args.extend(["--class".into(), class]);
    args.push(resource(sub.primary_resource.as_deref()));
    args.extend(sub.arguments.iter().cloned());
    p.container.args.get_or_insert_with(Vec::new).extend(args);

    if sub.app_type == SparkApplicationType::Python {
        let driver_env = |k: &str| conf.get(&format!("spark.kubernetes.driverEnv.{k}"));
        let python = conf
            .get("spark.pyspark.python")
            .or(driver_env("PYSPARK_PYTHON"));
        let driver_python = conf
            .get("spark.pyspark.driver.python")
            .or(conf.get("spark.pyspark.python"))
            .or(driver_env("PYSPARK_DRIVER_PYTHON"));
        let envs = p.container.env.get_or_insert_with(Vec::new);
        if let Some(v) = python {
            envs.push(env("PYSPARK_PYTHON", v));
        }
        if let Some(v) = driver_python {
            envs.push(env("PYSPARK_DRIVER_PYTHON", v));
        }
    }
    let mut added = SparkConf::new();
    added.set("spark.kubernetes.resource.type", kind);
    added
}

/// Spark keeps `local://` and remote URIs; a missing resource or a submitter-local file is
/// `spark-internal` (the operator has no local files to upload).
fn resource(primary: Option<&str>) -> String {
    match primary {
        Some(r) if r.contains("://") && !r.starts_with("file:") => r.to_owned(),
        _ => "spark-internal".into(),
    }
}
