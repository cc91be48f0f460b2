//! The two size syntaxes of the API: Kubernetes quantities (CPU and memory limits, CPU requests)
//! and Spark's JVM sizes (`memory`, `memoryOverhead`, which Kubeflow passes to Spark as they are).
//!
//! The patterns go into the CRD schema, so the API server refuses bad values; the parsers give the
//! same answer to pure code (validation, and the submit crate's arithmetic).

/// A non-negative Kubernetes quantity: `500m`, `1`, `1.5`, `2Gi`, `1e3`. Kubernetes' own
/// pattern, without the sign: a negative CPU or memory amount is never meant.
pub const QUANTITY_PATTERN: &str = r"^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";

/// A Spark size (`JavaUtils.byteStringAs`): an integer with an optional unit b, k, m, g, t or p,
/// optionally followed by b, in any case. Spark refuses fractions.
pub const SPARK_MEMORY_PATTERN: &str = r"^[0-9]+([kKmMgGtTpP][bB]?|[bB])?$";

/// Why a string is not a size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("{0:?} is not a quantity")]
    NotAQuantity(String),
    #[error("{0:?} is not a Spark memory size (an integer with an optional unit k, m, g, t or p)")]
    NotASparkSize(String),
}

/// The value of a Kubernetes quantity, in its base unit (cores, bytes).
pub fn parse_quantity(input: &str) -> Result<f64, QuantityError> {
    let bad = || QuantityError::NotAQuantity(input.to_string());
    let number_end = input
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(input.len());
    let (number, suffix) = input.split_at(number_end);
    let digits = number.replace('.', "");
    if digits.is_empty() || number.matches('.').count() > 1 {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exponent if exponent.starts_with(['e', 'E']) => {
            let power = &exponent[1..];
            let unsigned = power.strip_prefix(['+', '-']).unwrap_or(power);
            if unsigned.is_empty() || !unsigned.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            let power: i32 = power.parse().map_err(|_| bad())?;
            10f64.powi(power)
        }
        _ => return Err(bad()),
    };
    Ok(value * scale)
}

/// The number of bytes of a Spark size; a unitless number is in `default_unit` bytes per unit
/// (Spark reads `spark.driver.memory=512` as MiB, for instance).
pub fn parse_spark_memory(input: &str, default_unit: u64) -> Result<u64, QuantityError> {
    let bad = || QuantityError::NotASparkSize(input.to_string());
    let number_end = input
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(input.len());
    let (number, unit) = input.split_at(number_end);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" => default_unit,
        "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        "t" | "tb" => 1 << 40,
        "p" | "pb" => 1 << 50,
        _ => return Err(bad()),
    };
    number.checked_mul(scale).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn kubernetes_quantities() {
        for (input, value) in [
            ("1", 1.0),
            ("500m", 0.5),
            ("1.5", 1.5),
            (".5", 0.5),
            ("2Gi", 2.0 * 1024f64.powi(3)),
            ("1e3", 1000.0),
            ("1E-3", 0.001),
            ("100k", 1e5),
            ("5.", 5.0),
        ] {
            assert_eq!(parse_quantity(input), Ok(value), "{input}");
        }
        for input in [
            "", "1gg", "-1", "+1", "1g", "Gi", "1..2", "1.2.3", "1e", "1e+", "1 Gi", "1Ki2", ".",
        ] {
            assert_eq!(
                parse_quantity(input),
                Err(QuantityError::NotAQuantity(input.to_string())),
                "{input}"
            );
        }
    }

    #[test]
    fn spark_sizes() {
        for (input, bytes) in [
            ("512m", 512 * MIB),
            ("1g", 1024 * MIB),
            ("1G", 1024 * MIB),
            ("1gb", 1024 * MIB),
            ("2048k", 2 * MIB),
            ("100b", 100),
            ("512", 512 * MIB),
            ("1t", 1 << 40),
        ] {
            assert_eq!(parse_spark_memory(input, MIB), Ok(bytes), "{input}");
        }
        for input in [
            "",
            "1gg",
            "-1",
            "1.5g",
            "1Gi",
            "g",
            "1 g",
            "1kbb",
            "99999999999999p",
        ] {
            assert_eq!(
                parse_spark_memory(input, MIB),
                Err(QuantityError::NotASparkSize(input.to_string())),
                "{input}"
            );
        }
    }
}
