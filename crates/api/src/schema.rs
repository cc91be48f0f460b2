//! Pieces of the CRD schema that the types attach with `#[schemars(...)]`: the CEL rules that
//! stand in for Kubeflow's validating webhook, and the schemaless pod templates.

use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::{Value, json};

/// `sparkConf` keys the operator sets itself; a user value would be ignored or would break the
/// submission, so Kubeflow's webhook refuses them and so does the schema here.
/// (`spark.kubernetes.namespace` is refused only when it names another namespace, which CEL cannot
/// see: see [`crate::validate`].)
pub const OPERATOR_OWNED_SPARK_CONF: &[&str] = &[
    "spark.master",
    "spark.kubernetes.driver.pod.name",
    "spark.kubernetes.container.image",
    "spark.kubernetes.driver.container.image",
    "spark.kubernetes.executor.container.image",
    "spark.kubernetes.authenticate.driver.serviceAccountName",
    "spark.kubernetes.authenticate.executor.serviceAccountName",
    "spark.kubernetes.authenticate.submission.oauthToken",
    "spark.kubernetes.authenticate.submission.oauthTokenFile",
    "spark.kubernetes.authenticate.submission.caCertFile",
    "spark.kubernetes.authenticate.submission.clientKeyFile",
    "spark.kubernetes.authenticate.submission.clientCertFile",
    "spark.kubernetes.authenticate.driver.oauthToken",
    "spark.kubernetes.authenticate.driver.oauthTokenFile",
    "spark.kubernetes.authenticate.driver.caCertFile",
    "spark.kubernetes.authenticate.driver.clientKeyFile",
    "spark.kubernetes.authenticate.driver.clientCertFile",
    "spark.kubernetes.authenticate.driver.mounted.oauthTokenFile",
    "spark.kubernetes.authenticate.driver.mounted.caCertFile",
    "spark.kubernetes.authenticate.driver.mounted.clientKeyFile",
    "spark.kubernetes.authenticate.driver.mounted.clientCertFile",
];

/// Spark versions before 3 cannot read pod templates.
pub const PRE_TEMPLATE_SPARK_MAJORS: &[&str] = &["0", "1", "2"];

fn cel_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("'{item}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Rules on `sparkConf` itself, so the error names `spec.sparkConf`.
///
/// Only `in` tests against a fixed list: a rule over every key (`all`, `startsWith`) has an
/// estimated cost proportional to the map's unbounded size and the API server refuses such a CRD.
pub fn spark_conf_rules() -> Value {
    let owned = cel_list(OPERATOR_OWNED_SPARK_CONF);
    json!([{
        "rule": format!("!{owned}.exists(k, k in self)"),
        "messageExpression": format!(
            "'sparkConf key ' + {owned}.filter(k, k in self)[0] + ' is set by the operator; use the matching spec field'"
        ),
        "reason": "FieldValueForbidden",
    }])
}

/// Cross-field rules of a SparkApplicationSpec (also the template of a schedule).
pub fn spec_rules() -> Value {
    let old_majors = cel_list(PRE_TEMPLATE_SPARK_MAJORS);
    json!([
        {
            "rule": "!has(self.nodeSelector) || (!has(self.driver.nodeSelector) && !has(self.executor.nodeSelector))",
            "message": "nodeSelector cannot be combined with driver.nodeSelector or executor.nodeSelector",
            "fieldPath": ".nodeSelector",
            "reason": "FieldValueForbidden",
        },
        {
            "rule": format!(
                "!(has(self.driver.template) || has(self.executor.template)) || !{old_majors}.exists(v, self.sparkVersion == v || self.sparkVersion.startsWith(v + '.'))"
            ),
            "message": "driver.template and executor.template need sparkVersion 3.0.0 or later",
            "fieldPath": ".sparkVersion",
            "reason": "FieldValueInvalid",
        },
    ])
}

/// A pod template: any object, kept as written (Kubeflow's `template` fields are schemaless, and a
/// full PodTemplateSpec schema would make every Kubernetes upgrade a CRD change).
pub fn preserve_unknown_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// A map of Kubernetes quantities, as Kubeflow's CRD has it: integer or string, and a string must
/// be a quantity.
pub fn quantity_map(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "additionalProperties": {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": crate::quantity::QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": true,
        },
    })
}
