//! Memory sizes as Spark reads them, and a container's memory with Spark's overhead rules.
//!
//! `spark.driver.memory` and friends are JVM byte strings (`512m`, `1g`, `1024k`, or a bare number in
//! MiB), not Kubernetes quantities: Spark rejects `1Gi`, so we do too, before anything is created.

use thiserror::Error;

use crate::version::SparkVersion;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MemoryError {
    #[error(
        "{field}: {value:?} is not a memory size Spark accepts (a whole number with an optional unit b, k, m, g, t or p, like 512m or 2g)"
    )]
    NotAByteString { field: String, value: String },
    #[error("{field}: {value:?} is not a number")]
    NotAFactor { field: String, value: String },
    #[error("{field}: {value} must be greater than 0")]
    FactorNotPositive { field: String, value: String },
    #[error("{field}: {value:?} is too large")]
    TooLarge { field: String, value: String },
}

const KIB: u128 = 1 << 10;

fn unit_bytes(suffix: &str) -> Option<u128> {
    Some(match suffix {
        "b" => 1,
        "k" | "kb" => KIB,
        "m" | "mb" => KIB.pow(2),
        "g" | "gb" => KIB.pow(3),
        "t" | "tb" => KIB.pow(4),
        "p" | "pb" => KIB.pow(5),
        _ => return None,
    })
}

/// `JavaUtils.byteStringAs(s, MiB)`: trimmed, lower-cased, `<digits><unit>?`; a bare number is MiB;
/// the result is truncated to whole MiB, as Spark's `ByteUnit.convertTo` does.
pub fn mib(field: &str, value: &str) -> Result<u64, MemoryError> {
    let bad = || MemoryError::NotAByteString {
        field: field.to_owned(),
        value: value.to_owned(),
    };
    let lower = value.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, suffix) = lower.split_at(digits_end);
    if digits.is_empty() {
        return Err(bad());
    }
    let per_unit = if suffix.is_empty() {
        KIB.pow(2)
    } else {
        unit_bytes(suffix).ok_or_else(bad)?
    };
    let too_large = || MemoryError::TooLarge {
        field: field.to_owned(),
        value: value.to_owned(),
    };
    let number: u128 = digits.parse().map_err(|_| too_large())?;
    let bytes = number.checked_mul(per_unit).ok_or_else(too_large)?;
    // Spark keeps sizes in a Java long of bytes.
    if bytes > i64::MAX as u128 {
        return Err(too_large());
    }
    Ok((bytes / KIB.pow(2)) as u64)
}

/// A memory overhead factor as Spark parses it (`toDouble`), which must be positive.
pub fn factor(field: &str, value: &str) -> Result<f64, MemoryError> {
    let parsed: f64 = value.trim().parse().map_err(|_| MemoryError::NotAFactor {
        field: field.to_owned(),
        value: value.to_owned(),
    })?;
    if parsed.is_nan() || parsed <= 0.0 || !parsed.is_finite() {
        return Err(MemoryError::FactorNotPositive {
            field: field.to_owned(),
            value: value.to_owned(),
        });
    }
    Ok(parsed)
}

/// The inputs of a driver's or an executor's memory computation, already read from the Spark
/// configuration (`<role>` is `driver` or `executor`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryInputs {
    pub memory_mib: u64,
    /// `spark.<role>.memoryOverhead`, when set.
    pub overhead_mib: Option<u64>,
    /// `spark.<role>.memoryOverheadFactor`, when set.
    pub role_factor: Option<f64>,
    /// `spark.kubernetes.memoryOverheadFactor`, when set.
    pub kubernetes_factor: Option<f64>,
    /// `spark.<role>.minMemoryOverhead` (read by Spark 4 only).
    pub min_overhead_mib: Option<u64>,
    /// Python and R applications get a larger default factor.
    pub non_jvm: bool,
}

/// What `BasicDriverFeatureStep` (and, for executors, `ResourceProfile`) computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContainerMemory {
    /// The factor written back to `spark.kubernetes.memoryOverheadFactor` (executors inherit it).
    pub default_factor: f64,
    pub overhead_mib: u64,
    /// Request and limit of the container, heap and overhead, in MiB.
    pub total_mib: u64,
}

/// Spark 3.5's hard minimum, and 4.x's default for `spark.<role>.minMemoryOverhead`.
pub const MIN_OVERHEAD_MIB: u64 = 384;
pub const JVM_FACTOR: f64 = 0.1;
pub const NON_JVM_FACTOR: f64 = 0.4;

pub fn container_memory(version: SparkVersion, inputs: MemoryInputs) -> ContainerMemory {
    let default_factor = match (inputs.non_jvm, inputs.kubernetes_factor) {
        (_, Some(f)) => f,
        (true, None) => NON_JVM_FACTOR,
        (false, None) => JVM_FACTOR,
    };
    let factor = inputs.role_factor.unwrap_or(default_factor);
    let min = if version.is_4_or_later() {
        inputs.min_overhead_mib.unwrap_or(MIN_OVERHEAD_MIB)
    } else {
        MIN_OVERHEAD_MIB
    };
    let overhead_mib = inputs.overhead_mib.unwrap_or_else(|| {
        // Scala's `(factor * memory).toInt`: a double product truncated toward zero.
        let scaled = (factor * inputs.memory_mib as f64) as i64;
        (scaled.max(0) as u64).max(min)
    });
    ContainerMemory {
        default_factor,
        overhead_mib,
        total_mib: inputs.memory_mib.saturating_add(overhead_mib),
    }
}

/// Formats a factor as Scala's `Double.toString` does for the values people use (`0.1`, `0.4`, `1.0`).
pub fn format_factor(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e7 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> SparkVersion {
        SparkVersion::parse("spec.sparkVersion", s).expect("version")
    }

    #[test]
    fn byte_strings_like_spark() {
        let cases = [
            ("512m", 512),
            ("1g", 1024),
            ("1G", 1024),
            (" 2gb ", 2048),
            ("1024k", 1),
            ("1500k", 1),
            ("1023k", 0),
            ("2048", 2048),
            ("1t", 1024 * 1024),
            ("1048576b", 1),
        ];
        for (input, want) in cases {
            assert_eq!(mib("f", input), Ok(want), "{input}");
        }
    }

    #[test]
    fn rejects_what_spark_rejects() {
        for input in [
            "1Gi",
            "1gg",
            "",
            "m",
            "1.5g",
            "-1g",
            "1 g",
            "99999999999999999999p",
        ] {
            assert!(
                mib("spec.driver.memory", input).is_err(),
                "{input} should fail"
            );
        }
        let err = mib("spec.driver.memory", "1gg").expect_err("1gg");
        assert!(
            err.to_string().starts_with("spec.driver.memory: \"1gg\""),
            "{err}"
        );
    }

    #[test]
    fn factors() {
        assert_eq!(factor("f", "0.2"), Ok(0.2));
        assert!(factor("f", "0").is_err());
        assert!(factor("f", "-1").is_err());
        assert!(factor("f", "NaN").is_err());
        assert!(factor("f", "x").is_err());
    }

    fn inputs(memory_mib: u64, non_jvm: bool) -> MemoryInputs {
        MemoryInputs {
            memory_mib,
            overhead_mib: None,
            role_factor: None,
            kubernetes_factor: None,
            min_overhead_mib: None,
            non_jvm,
        }
    }

    #[test]
    fn overhead_table() {
        let four = v("4.0.0");
        let three = v("3.5.5");
        // (version, inputs, expected total, expected default factor)
        let cases = [
            (four, inputs(1024, false), 1408, 0.1),
            (four, inputs(1024, true), 1433, 0.4),
            (three, inputs(1024, false), 1408, 0.1),
            (three, inputs(512, false), 896, 0.1),
            (four, inputs(8192, false), 8192 + 819, 0.1),
            (
                four,
                MemoryInputs {
                    overhead_mib: Some(100),
                    ..inputs(1024, false)
                },
                1124,
                0.1,
            ),
            (
                four,
                MemoryInputs {
                    kubernetes_factor: Some(0.2),
                    ..inputs(4096, true)
                },
                4096 + 819,
                0.2,
            ),
            (
                four,
                MemoryInputs {
                    role_factor: Some(0.5),
                    ..inputs(4096, false)
                },
                4096 + 2048,
                0.1,
            ),
            // Spark 4 reads the minimum from configuration; 3.5 ignores it.
            (
                four,
                MemoryInputs {
                    min_overhead_mib: Some(100),
                    ..inputs(1024, false)
                },
                1024 + 102,
                0.1,
            ),
            (
                three,
                MemoryInputs {
                    min_overhead_mib: Some(100),
                    ..inputs(1024, false)
                },
                1408,
                0.1,
            ),
        ];
        for (i, (version, input, total, default_factor)) in cases.into_iter().enumerate() {
            let got = container_memory(version, input);
            assert_eq!(got.total_mib, total, "case {i}");
            assert_eq!(got.default_factor, default_factor, "case {i}");
        }
    }

    #[test]
    fn factor_formatting() {
        assert_eq!(format_factor(0.1), "0.1");
        assert_eq!(format_factor(0.4), "0.4");
        assert_eq!(format_factor(1.0), "1.0");
    }
}
