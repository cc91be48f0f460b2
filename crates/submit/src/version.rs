//! The Spark version an application runs, which decides the few places 3.5 and 4.x differ.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum VersionError {
    #[error("{field}: {value:?} is not a Spark version (expected major.minor[.patch], like 4.0.1)")]
    Malformed { field: String, value: String },
    #[error("{field}: Spark {value} is not supported (native submission needs Spark 3.0 or later)")]
    TooOld { field: String, value: String },
    #[error(
        "{field}: Spark {value} is not supported: a new major version may submit differently, and \
         Sparkplane builds drivers for Spark 3 and 4 only (a newer 4.x line builds as 4.3)"
    )]
    UnknownMajor { field: String, value: String },
}

/// The newest major version whose submission Sparkplane knows.
const NEWEST_MAJOR: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SparkVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl SparkVersion {
    /// Accepts `4.0.1`, `3.5`, and suffixes such as `4.1.0-preview1` or `v3.5.5`.
    pub fn parse(field: &str, value: &str) -> Result<Self, VersionError> {
        let malformed = || VersionError::Malformed {
            field: field.to_owned(),
            value: value.to_owned(),
        };
        let trimmed = value.trim();
        let trimmed = trimmed.strip_prefix(['v', 'V']).unwrap_or(trimmed);
        let core = trimmed.split(['-', '+']).next().unwrap_or_default();
        let mut parts = core.split('.');
        let mut next = |required: bool| -> Result<u32, VersionError> {
            match parts.next() {
                Some(p) => p.parse().map_err(|_| malformed()),
                None if required => Err(malformed()),
                None => Ok(0),
            }
        };
        let version = SparkVersion {
            major: next(true)?,
            minor: next(true)?,
            patch: next(false)?,
        };
        if parts.next().is_some() {
            return Err(malformed());
        }
        if version.major < 3 {
            return Err(VersionError::TooOld {
                field: field.to_owned(),
                value: value.to_owned(),
            });
        }
        if version.major > NEWEST_MAJOR {
            return Err(VersionError::UnknownMajor {
                field: field.to_owned(),
                value: value.to_owned(),
            });
        }
        Ok(version)
    }

    pub fn is_4_or_later(self) -> bool {
        self.major >= 4
    }

    /// Whether this is `major.minor` or a later line.
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// Since 4.1 the driver pod and its Service expose the Spark Connect port.
    pub fn exposes_connect_port(self) -> bool {
        self.at_least(4, 1)
    }

    /// Since 4.2 the Service's Spark Connect port says its protocol is gRPC.
    pub fn names_connect_protocol(self) -> bool {
        self.at_least(4, 2)
    }

    /// Since 4.3 Spark sets `allowPrivilegeEscalation` on the driver container (false unless asked).
    pub fn sets_privilege_escalation(self) -> bool {
        self.at_least(4, 3)
    }
}

impl std::fmt::Display for SparkVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let cases = [
            ("4.0.1", (4, 0, 1)),
            ("3.5", (3, 5, 0)),
            ("v3.5.5", (3, 5, 5)),
            ("4.1.0-preview1", (4, 1, 0)),
        ];
        for (input, (major, minor, patch)) in cases {
            assert_eq!(
                SparkVersion::parse("f", input),
                Ok(SparkVersion {
                    major,
                    minor,
                    patch
                }),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects() {
        for input in ["", "4", "four", "4.0.0.0", "4.x"] {
            assert!(
                matches!(
                    SparkVersion::parse("f", input),
                    Err(VersionError::Malformed { .. })
                ),
                "{input}"
            );
        }
        assert!(matches!(
            SparkVersion::parse("f", "2.4.8"),
            Err(VersionError::TooOld { .. })
        ));
        assert!(matches!(
            SparkVersion::parse("f", "5.0.0"),
            Err(VersionError::UnknownMajor { .. })
        ));
        // A 4.x line newer than the newest checked builds with the newest rules.
        assert!(SparkVersion::parse("f", "4.9.0").is_ok());
    }

    #[test]
    fn four_or_later() {
        assert!(SparkVersion::parse("f", "4.0.0").is_ok_and(SparkVersion::is_4_or_later));
        assert!(!SparkVersion::parse("f", "3.5.5").is_ok_and(SparkVersion::is_4_or_later));
    }
}
