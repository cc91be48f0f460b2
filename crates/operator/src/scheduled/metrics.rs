//! Counters of what schedules did. Kubeflow has none for ScheduledSparkApplications, so the names
//! are ours, in the style of its `spark_application_*` ones; prometheus-client adds `_total`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NamespaceLabel {
    pub namespace: String,
}

#[derive(Default)]
pub struct ScheduledMetrics {
    pub runs_created: Family<NamespaceLabel, Counter>,
    pub runs_skipped: Family<NamespaceLabel, Counter>,
    pub runs_replaced: Family<NamespaceLabel, Counter>,
    pub runs_pruned: Family<NamespaceLabel, Counter>,
    pub failed_validations: Family<NamespaceLabel, Counter>,
}

impl ScheduledMetrics {
    pub fn register(&self, registry: &mut Registry) {
        let families = [
            (
                "scheduled_spark_application_run_created",
                "Runs created by ScheduledSparkApplications",
                &self.runs_created,
            ),
            (
                "scheduled_spark_application_run_skipped",
                "Due runs skipped because a previous run was unfinished (concurrencyPolicy Forbid)",
                &self.runs_skipped,
            ),
            (
                "scheduled_spark_application_run_replaced",
                "Unfinished runs deleted for a new one (concurrencyPolicy Replace)",
                &self.runs_replaced,
            ),
            (
                "scheduled_spark_application_run_pruned",
                "Finished runs deleted beyond the history limits",
                &self.runs_pruned,
            ),
            (
                "scheduled_spark_application_failed_validation",
                "ScheduledSparkApplications found with an invalid schedule or time zone",
                &self.failed_validations,
            ),
        ];
        for (name, help, family) in families {
            registry.register(name, help, family.clone());
        }
    }

    pub fn count(family: &Family<NamespaceLabel, Counter>, namespace: &str, by: u64) {
        if by > 0 {
            family
                .get_or_create(&NamespaceLabel {
                    namespace: namespace.to_owned(),
                })
                .inc_by(by);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_exposed_with_their_namespace() {
        let metrics = ScheduledMetrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        ScheduledMetrics::count(&metrics.runs_created, "jobs", 2);
        ScheduledMetrics::count(&metrics.runs_skipped, "jobs", 0);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        assert!(
            text.contains("scheduled_spark_application_run_created_total{namespace=\"jobs\"} 2"),
            "{text}"
        );
        assert!(
            !text.contains("scheduled_spark_application_run_skipped_total{"),
            "{text}"
        );
    }
}
