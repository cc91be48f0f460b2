//! Name rules: a SparkApplication or ScheduledSparkApplication name is a DNS-1035 label (at most 63
//! characters), the rule Kubeflow's webhook applies. The names derived from it (`<name>-ui-svc`,
//! `<name>-driver-<port>`, a schedule's `<name>-<unix seconds>` runs) that would pass 63 characters are
//! shortened with a hash where they are made (`sparkplane_submit::names::kubeflow_name`), so the whole
//! range is accepted.

/// The longest name of a Kubernetes object that must be a DNS label.
pub const DNS_LABEL_MAX: usize = 63;

/// The longest SparkApplication name: a DNS-1035 label, as Kubeflow's webhook checks it.
pub const MAX_APP_NAME_LEN: usize = DNS_LABEL_MAX;

/// The longest ScheduledSparkApplication name: its runs' names are derived to fit a label.
pub const MAX_SCHEDULED_APP_NAME_LEN: usize = DNS_LABEL_MAX;

/// A DNS-1035 label as the CRD schema checks it (the length is checked apart, for a clearer error).
pub const DNS_1035_PATTERN: &str = "^[a-z]([-a-z0-9]*[a-z0-9])?$";

/// Why a name is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{name:?} is longer than {max} characters")]
    TooLong { name: String, max: usize },
    #[error(
        "{0:?} is not a DNS-1035 label (lower-case letters, digits and '-', starting with a letter and ending with a letter or digit)"
    )]
    NotDns1035(String),
}

/// Checks `name` is a DNS-1035 label of at most `max` characters.
pub fn check_dns1035(name: &str, max: usize) -> Result<(), NameError> {
    if name.len() > max {
        return Err(NameError::TooLong {
            name: name.to_string(),
            max,
        });
    }
    let bytes = name.as_bytes();
    let inner_ok = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    let first_ok = bytes.first().is_some_and(u8::is_ascii_lowercase);
    let last_ok = bytes
        .last()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if inner_ok && first_ok && last_ok {
        Ok(())
    } else {
        Err(NameError::NotDns1035(name.to_string()))
    }
}

/// The driver pod of an application, unless `spec.driver.podName` names it.
pub fn driver_pod_name(app_name: &str) -> String {
    format!("{app_name}-driver")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels_up_to_63_characters() {
        assert_eq!(MAX_APP_NAME_LEN, 63);
        assert_eq!(MAX_SCHEDULED_APP_NAME_LEN, 63);
        let longest = "a".repeat(MAX_APP_NAME_LEN);
        assert_eq!(check_dns1035(&longest, MAX_APP_NAME_LEN), Ok(()));
        assert!(matches!(
            check_dns1035(&format!("{longest}b"), MAX_APP_NAME_LEN),
            Err(NameError::TooLong { max: 63, .. })
        ));
    }

    #[test]
    fn dns1035() {
        for good in ["a", "spark-pi", "a1", "a-b-c"] {
            assert_eq!(check_dns1035(good, 63), Ok(()), "{good}");
        }
        for bad in ["", "1a", "-a", "a-", "A", "a_b", "a.b", "spark pi"] {
            assert_eq!(
                check_dns1035(bad, 63),
                Err(NameError::NotDns1035(bad.to_string())),
                "{bad}"
            );
        }
        assert!(matches!(
            check_dns1035(&"a".repeat(51), 50),
            Err(NameError::TooLong { max: 50, .. })
        ));
    }
}
