//! Name rules: an application's name becomes part of the names of the objects made for it, and each
//! of those must stay a valid DNS-1035 label (at most 63 characters).

/// The longest name of a Kubernetes object that must be a DNS label.
pub const DNS_LABEL_MAX: usize = 63;

/// The longest suffix added to a SparkApplication's name: `-driver-<port>`, the Service of a
/// `driverIngressOptions` entry, with a five-digit port. (`-driver`, `-ui-svc`, `-ing-<port>`,
/// `-prom-conf` and `-pg` are shorter.)
pub const LONGEST_DERIVED_SUFFIX: usize = "-driver-65535".len();

/// The longest SparkApplication name: every derived name still fits in 63 characters.
pub const MAX_APP_NAME_LEN: usize = DNS_LABEL_MAX - LONGEST_DERIVED_SUFFIX;

/// The suffix of a scheduled run's name: `-<unix seconds>`, ten digits until the year 2286.
pub const RUN_SUFFIX_LEN: usize = "-1234567890".len();

/// The longest ScheduledSparkApplication name: its runs' names are SparkApplication names.
pub const MAX_SCHEDULED_APP_NAME_LEN: usize = MAX_APP_NAME_LEN - RUN_SUFFIX_LEN;

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

/// The Spark UI Service of an application.
pub fn ui_service_name(app_name: &str) -> String {
    format!("{app_name}-ui-svc")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_leave_room_for_every_derived_name() {
        assert_eq!(MAX_APP_NAME_LEN, 50);
        assert_eq!(MAX_SCHEDULED_APP_NAME_LEN, 39);
        let longest = "a".repeat(MAX_APP_NAME_LEN);
        for derived in [
            driver_pod_name(&longest),
            ui_service_name(&longest),
            format!("{longest}-driver-65535"),
            format!("{longest}-ing-65535"),
            format!("{longest}-prom-conf"),
        ] {
            assert!(derived.len() <= DNS_LABEL_MAX, "{derived}");
            assert_eq!(check_dns1035(&derived, DNS_LABEL_MAX), Ok(()));
        }
        let run = format!("{}-1234567890", "a".repeat(MAX_SCHEDULED_APP_NAME_LEN));
        assert_eq!(check_dns1035(&run, MAX_APP_NAME_LEN), Ok(()));
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
