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

/// The longest DNS-1123 subdomain (most object names, a label key's prefix).
pub const DNS_SUBDOMAIN_MAX: usize = 253;

/// Whether `s` is a DNS-1123 subdomain as the API server checks it: at most 253 in all, dot-separated
/// parts of `[a-z0-9-]` that start and end alphanumeric (no per-part length limit).
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= DNS_SUBDOMAIN_MAX
        && s.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

/// Whether `s` is a DNS-1123 label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63), as container
/// names must be.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= DNS_LABEL_MAX
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Whether `s` is a valid label value: empty, or at most 63 of `[A-Za-z0-9_.-]` starting and ending
/// alphanumeric.
pub fn is_label_value(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let b = s.as_bytes();
    s.len() <= DNS_LABEL_MAX
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Whether `key` is a label or annotation key (a qualified name): an optional DNS-1123 subdomain
/// prefix and `/`, then 1 to 63 of `[A-Za-z0-9_.-]` starting and ending alphanumeric.
pub fn is_qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    prefix.is_none_or(is_dns_subdomain) && !name.is_empty() && is_label_value(name)
}

/// The driver pod of an application, unless `spec.driver.podName` names it.
pub fn driver_pod_name(app_name: &str) -> String {
    format!("{app_name}-driver")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys_and_values() {
        for good in ["app", "sparkoperator.k8s.io/app-name", "a.b/c_d.e-f", "A9"] {
            assert!(is_qualified_name(good), "{good}");
        }
        for bad in [
            "",
            "/x",
            "a/",
            "UPPER.example/x",
            "-x",
            "x-",
            "a/b/c",
            "é",
            &"x".repeat(64),
        ] {
            assert!(!is_qualified_name(bad), "{bad}");
        }
        for good in ["", "v", "4.0.4", "a_b-c.d"] {
            assert!(is_label_value(good), "{good}");
        }
        for bad in ["-v", "v-", "a b", "é", &"x".repeat(64)] {
            assert!(!is_label_value(bad), "{bad}");
        }
    }

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
