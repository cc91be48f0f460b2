//! Names and identifiers: Spark's naming rules, Kubeflow's object names, and the ids that Spark draws at
//! random and we derive from the application's uid and submission attempt (so a rebuilt plan names
//! the same objects and create-if-absent is idempotent).

use sha2::{Digest, Sha256};
use thiserror::Error;

/// Longest DNS-1035/1123 label, and longest label value.
pub const MAX_LABEL: usize = 63;
/// Longest DNS-1123 subdomain (most object names).
pub const MAX_SUBDOMAIN: usize = 253;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum NameError {
    #[error(
        "metadata.uid: the application has no uid (it must be read from the API server, or given to render)"
    )]
    MissingUid,
    #[error(
        "{field}: {value:?} is not a valid pod name (a DNS-1123 subdomain of at most 253 characters)"
    )]
    InvalidPodName { field: String, value: String },
}

/// The hash of everything in a spec whose change means a new run: all but `suspend` and
/// `timeToLiveSeconds`. The submission id carries it, so a run records the spec it was built from.
pub fn spec_hash(spec: &sparkplane_api::SparkApplicationSpec) -> String {
    // Computed at every decision: a copy only when there is something to leave out (a spec can
    // hold thousands of sparkConf keys).
    if spec.suspend.is_none() && spec.time_to_live_seconds.is_none() {
        return content_hash(spec);
    }
    let mut spec = spec.clone();
    spec.suspend = None;
    spec.time_to_live_seconds = None;
    content_hash(&spec)
}

/// 24 hex digits of the SHA-256 of a value's JSON: the same value gives the same hash in any process.
pub fn content_hash<T: serde::Serialize>(value: &T) -> String {
    /// The JSON goes straight into the hash, not through a buffer of its own.
    struct Hashing(Sha256);
    impl std::io::Write for Hashing {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.update(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hashing = Hashing(Sha256::new());
    // Serialising a typed value cannot fail (string keys only); what was written still hashes.
    let _ = serde_json::to_writer(&mut hashing, value);
    hex_string(&hashing.0.finalize()[..12])
}

/// The identifiers Spark draws at random for a submission, derived here from uid and attempt (and,
/// for the submission id, the spec's hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    /// `spark-` and 32 hex digits, as Spark's `getKubernetesAppId`.
    pub app_id: String,
    /// 16 hex digits, the shape of Spark's `uniqueID` (6 random + 10 time digits).
    pub unique_id: String,
    /// A UUID, as Kubeflow's per-submission id: version 8 (a vendor's own), derived from the uid, the
    /// attempt and the spec's hash, so that it tells which spec a run was submitted with.
    pub submission_id: String,
    /// A UUID for the default local dir `/var/data/spark-<uuid>`.
    pub local_dir_uuid: String,
}

impl Ids {
    pub fn derive(uid: &str, attempt: u32, spec_hash: &str) -> Result<Self, NameError> {
        if uid.trim().is_empty() {
            return Err(NameError::MissingUid);
        }
        let hex = |purpose: &str| derived_hex(uid, attempt, purpose);
        let app = hex("app-id");
        let dir = hex("local-dir");
        Ok(Ids {
            app_id: format!("spark-{}", &app[..32]),
            unique_id: hex("unique-id")[..16].to_owned(),
            submission_id: submission_id(uid, attempt, spec_hash),
            local_dir_uuid: uuid_shape(&dir, '4'),
        })
    }
}

/// 64 hex digits from the uid, the attempt and what they are for.
fn derived_hex(uid: &str, attempt: u32, purpose: &str) -> String {
    let mut h = Sha256::new();
    h.update(uid.as_bytes());
    h.update([0]);
    h.update(attempt.to_be_bytes());
    h.update([0]);
    h.update(purpose.as_bytes());
    hex_string(&h.finalize())
}

/// The submission id of `attempt` of the application `uid` with the spec of `spec_hash`.
pub fn submission_id(uid: &str, attempt: u32, spec_hash: &str) -> String {
    uuid_shape(
        &derived_hex(uid, attempt, &format!("submission-id\0{spec_hash}")),
        SUBMISSION_ID_VERSION,
    )
}

/// The UUID version of the submission ids derived here (8: a vendor's own layout). Others (random
/// version-4 ids of Kubeflow's submissions, or of older Sparkplane releases) carry no spec hash.
const SUBMISSION_ID_VERSION: char = '8';

/// Whether `id` is a submission id derived here, which carries its spec's hash.
pub fn is_derived_submission_id(id: &str) -> bool {
    id.len() == 36 && id.as_bytes()[14] == SUBMISSION_ID_VERSION as u8
}

fn hex_string(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// 32 hex digits laid out as a UUID of `version`.
fn uuid_shape(hex: &str, version: char) -> String {
    format!(
        "{}-{}-{version}{}-{}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        // The variant nibble: 8, 9, a or b.
        ["8", "9", "a", "b"][usize::from(hex.as_bytes()[16] % 4)],
        &hex[17..20],
        &hex[20..32]
    )
}

/// Every run of characters outside `[a-z0-9-]` (and of `-`) becomes one `-`, as Spark cleans names.
fn dash_runs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
            c
        } else {
            '-'
        };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    out
}

/// Spark's `KubernetesConf.getResourceNamePrefix`: `<app name>-<uniqueID>`, trimmed, lower-cased, every
/// run of characters outside `[a-z0-9-]` one `-`, no leading `-`, a leading digit replaced by `x`.
pub fn resource_name_prefix(app_name: &str, unique_id: &str) -> String {
    let raw = format!("{app_name}-{unique_id}").trim().to_lowercase();
    let out = dash_runs(&raw);
    let out = out.strip_prefix('-').map(str::to_owned).unwrap_or(out);
    match out.chars().next() {
        Some(c) if c.is_ascii_digit() => format!("x{}", &out[1..]),
        _ => out,
    }
}

/// Spark's `spark-app-name` label value: lower-cased, runs of other characters `-`, at most 63,
/// then one leading and one trailing `-` removed.
pub fn app_name_label(app_name: &str) -> String {
    let lower = app_name.to_lowercase();
    let mut out = dash_runs(&lower);
    out.truncate(MAX_LABEL);
    let out = out.strip_prefix('-').unwrap_or(&out);
    let out = out.strip_suffix('-').unwrap_or(out);
    out.to_owned()
}

/// Spark's driver service name: `<prefix>-driver-svc`, or `spark-<uniqueID>-driver-svc` when that is
/// longer than a DNS label allows.
pub fn driver_service_name(prefix: &str, unique_id: &str) -> String {
    let preferred = format!("{prefix}-driver-svc");
    if preferred.len() <= MAX_LABEL {
        preferred
    } else {
        format!("spark-{unique_id}-driver-svc")
    }
}

/// Spark's driver ConfigMap holding `spark.properties`.
pub fn driver_conf_map_name(unique_id: &str) -> String {
    let mut base = format!("spark-drv-{unique_id}");
    base.truncate(MAX_SUBDOMAIN - 9);
    base + "-conf-map"
}

/// Kubeflow's `generateName`: `<name>-<suffix>` when it fits a DNS label, else the name cut short with
/// 8 hex digits of a hash, so long application names still give valid, distinct names (Kubeflow #2260).
pub fn kubeflow_name(name: &str, suffix: &str) -> String {
    let preferred = format!("{name}-{suffix}");
    if preferred.len() <= MAX_LABEL {
        return preferred;
    }
    let digest = Sha256::digest(preferred.as_bytes());
    let hash = hex_string(&digest[..4]);
    let keep = MAX_LABEL.saturating_sub(suffix.len() + 10);
    let mut head: String = name.chars().take(keep).collect();
    // A cut name must not leave `--` or a trailing dash before the hash.
    while head.ends_with('-') {
        head.pop();
    }
    format!("{head}-{hash}-{suffix}")
}

/// `name` if it has at most `max` characters, else its head, `-` and 8 hex digits of its SHA-256, in
/// `max` characters: a valid label stays one, and distinct names stay distinct.
pub fn fit(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let hash = hex_string(&Sha256::digest(name.as_bytes())[..4]);
    let mut head: String = name.chars().take(max.saturating_sub(9)).collect();
    while head.ends_with('-') {
        head.pop();
    }
    format!("{head}-{hash}")
}

/// The pod volume of a ConfigMap mounted by the webhook: Kubeflow's `<cm>-vol`, or, when the ConfigMap
/// name has dots or is too long for a volume name, the name with dots as dashes, cut, plus 8 hex digits
/// of the name's SHA-256 (Kubeflow's rule, so the same spec gives the same volume names).
pub fn config_map_volume_name(config_map: &str) -> String {
    let preferred = format!("{config_map}-vol");
    if preferred.len() <= MAX_LABEL && !config_map.contains('.') {
        return preferred;
    }
    let digest = Sha256::digest(config_map.as_bytes());
    let suffix = format!("-{}-vol", &hex_string(&digest[..4]));
    let mut head: String = config_map
        .chars()
        .map(|c| if c == '.' { '-' } else { c })
        .take(MAX_LABEL - suffix.len())
        .collect();
    while head.ends_with('-') {
        head.pop();
    }
    head + &suffix
}

/// Whether `s` is a DNS-1035 label (a DNS-1123 label starting with a letter), as Service names must be.
pub fn is_dns_1035_label(s: &str) -> bool {
    is_dns_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

pub use sparkplane_api::names::{is_dns_label, is_dns_subdomain, is_label_value};

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "7b1e2c4a-0f3d-4c1e-9a2b-5d6e7f8a9b0c";

    #[test]
    fn ids_are_deterministic_and_change_per_attempt() {
        let a = Ids::derive(UID, 1, "h").expect("ids");
        assert_eq!(a, Ids::derive(UID, 1, "h").expect("ids"));
        let b = Ids::derive(UID, 2, "h").expect("ids");
        assert_ne!(a.app_id, b.app_id);
        assert_ne!(a.unique_id, b.unique_id);
        assert_ne!(a.submission_id, b.submission_id);
        assert_eq!(a.app_id.len(), 38);
        assert!(a.app_id.starts_with("spark-"));
        assert_eq!(a.unique_id.len(), 16);
        assert_eq!(a.submission_id.len(), 36);
        assert_eq!(a.submission_id.as_bytes()[14], b'8');
        assert_eq!(a.local_dir_uuid.as_bytes()[14], b'4');
        assert!(matches!(
            a.submission_id.as_bytes()[19],
            b'8' | b'9' | b'a' | b'b'
        ));
        assert_ne!(
            a.app_id,
            Ids::derive("another-uid", 1, "h").expect("ids").app_id
        );
    }

    #[test]
    fn only_the_submission_id_tells_the_spec() {
        let a = Ids::derive(UID, 1, "spec-a").expect("ids");
        let b = Ids::derive(UID, 1, "spec-b").expect("ids");
        assert_ne!(a.submission_id, b.submission_id);
        assert_eq!(a.submission_id, submission_id(UID, 1, "spec-a"));
        // The objects' names stay those of the attempt.
        assert_eq!(
            (&a.app_id, &a.unique_id, &a.local_dir_uuid),
            (&b.app_id, &b.unique_id, &b.local_dir_uuid)
        );
        assert!(is_derived_submission_id(&a.submission_id));
        // Kubeflow's random ids (and older Sparkplane's) are version 4.
        assert!(!is_derived_submission_id(
            "3f1c2e4a-0f3d-4c1e-9a2b-5d6e7f8a9b0c"
        ));
        assert!(!is_derived_submission_id("not-a-uuid"));
    }

    #[test]
    fn the_spec_hash_ignores_suspend_and_time_to_live_only() {
        let mut spec = sparkplane_api::SparkApplicationSpec::default();
        let base = spec_hash(&spec);
        spec.suspend = Some(true);
        spec.time_to_live_seconds = Some(60);
        assert_eq!(spec_hash(&spec), base);
        spec.arguments = Some(vec!["1".into()]);
        assert_ne!(spec_hash(&spec), base);
    }

    /// Hashes recorded in annotations and submission ids must not change: the hash is that of the
    /// spec's JSON as `serde_json::to_vec` writes it.
    #[test]
    fn the_spec_hash_is_the_sha256_of_the_json_as_it_always_was() {
        let spec = sparkplane_api::SparkApplicationSpec {
            arguments: Some(vec!["1000".into(), "ünïcode 𝔘".into()]),
            spark_conf: Some((0..50).map(|i| (format!("k{i}"), "v".repeat(i))).collect()),
            ..Default::default()
        };
        let json = serde_json::to_vec(&spec).expect("json");
        assert_eq!(
            content_hash(&spec),
            hex_string(&Sha256::digest(&json)[..12])
        );
        assert_eq!(spec_hash(&spec), content_hash(&spec));
    }

    #[test]
    fn missing_uid_is_an_error() {
        assert_eq!(Ids::derive(" ", 1, "h"), Err(NameError::MissingUid));
    }

    #[test]
    fn prefix_follows_spark() {
        let cases = [
            ("Spark Pi", "791382a20ac6dffc", "spark-pi-791382a20ac6dffc"),
            ("spark-pi", "791382a20ac6dffc", "spark-pi-791382a20ac6dffc"),
            ("My__App!!", "0011", "my-app-0011"),
            ("-lead", "aa", "lead-aa"),
            ("9lives", "aa", "xlives-aa"),
            // Spark trims `<name>-<id>` before sanitising: the leading spaces go, the trailing
            // ones are inner by then and join the run of dashes before the id.
            ("  Ünïcode  ", "ab", "n-code-ab"),
        ];
        for (name, uid, want) in cases {
            assert_eq!(resource_name_prefix(name, uid), want, "{name:?}");
        }
    }

    #[test]
    fn app_name_label_follows_spark() {
        assert_eq!(app_name_label("Spark Pi"), "spark-pi");
        assert_eq!(app_name_label("-x-"), "x");
        let long = "a".repeat(62) + "-b";
        assert_eq!(app_name_label(&long), "a".repeat(62));
    }

    #[test]
    fn service_names_stay_labels() {
        assert_eq!(
            driver_service_name("spark-pi-0011", "0011"),
            "spark-pi-0011-driver-svc"
        );
        let long = "a".repeat(60);
        assert_eq!(
            driver_service_name(&long, "0011223344556677"),
            "spark-0011223344556677-driver-svc"
        );
        assert_eq!(
            driver_conf_map_name("0011223344556677"),
            "spark-drv-0011223344556677-conf-map"
        );
    }

    #[test]
    fn kubeflow_names() {
        assert_eq!(kubeflow_name("spark-pi", "ui-svc"), "spark-pi-ui-svc");
        let long = "a".repeat(63);
        let name = kubeflow_name(&long, "ui-svc");
        assert_eq!(name.len(), 63);
        assert!(is_dns_1035_label(&name), "{name}");
        assert_ne!(name, kubeflow_name(&("a".repeat(62) + "b"), "ui-svc"));
        let dashy = "a".repeat(46) + "-" + &"b".repeat(16);
        assert!(is_dns_1035_label(&kubeflow_name(&dashy, "ui-svc")));
    }

    #[test]
    fn fitted_names_keep_short_ones_and_cut_long_ones_to_distinct_labels() {
        assert_eq!(fit("spark-connect", 47), "spark-connect");
        let long = format!("{}-x", "a".repeat(50));
        let cut = fit(&long, 47);
        assert_eq!(cut.len(), 47);
        assert!(is_dns_1035_label(&cut), "{cut}");
        assert_ne!(cut, fit(&format!("{}-y", "a".repeat(50)), 47));
        let dashy = format!("{}-{}", "a".repeat(37), "b".repeat(20));
        assert!(is_dns_1035_label(&fit(&dashy, 47)));
    }

    #[test]
    fn config_map_volume_names() {
        assert_eq!(config_map_volume_name("my-conf"), "my-conf-vol");
        let dotted = config_map_volume_name("conf.v1");
        assert!(
            dotted.starts_with("conf-v1-") && dotted.ends_with("-vol"),
            "{dotted}"
        );
        assert!(is_dns_label(&dotted), "{dotted}");
        let long = config_map_volume_name(&format!("{}-prom-conf", "a".repeat(60)));
        assert_eq!(long.len(), MAX_LABEL);
        assert!(is_dns_label(&long), "{long}");
    }

    #[test]
    fn validators() {
        assert!(is_dns_label("a-1"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label("A"));
        assert!(is_dns_1035_label("a1"));
        assert!(!is_dns_1035_label("1a"));
        assert!(is_dns_subdomain("a.b-c"));
        assert!(!is_dns_subdomain("a..b"));
        assert!(is_label_value(""));
        assert!(is_label_value("A_b.c-1"));
        assert!(!is_label_value("_a"));
        assert!(!is_label_value(&"a".repeat(64)));
    }
}
