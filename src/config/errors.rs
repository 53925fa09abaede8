//! Config errors: every problem found, each with its TOML path and what to do.
//!
//! Owns: [`ConfigError`], [`ConfigErrors`] and the small parsers every section uses
//! (durations, addresses, URLs) so each error names its path the same way.

use std::fmt;
use std::time::Duration;

/// One problem in the file: where (`providers[1].jwks_url`) and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// TOML path of the offending key, or the file for file-level errors.
    pub path: String,
    /// What is wrong and what to do.
    pub message: String,
    /// 1-based line in the file where the key (or its table) is, when it is in the file.
    pub line: Option<usize>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)?;
        if let Some(l) = self.line {
            write!(f, " (line {l})")?;
        }
        Ok(())
    }
}

/// Every error found by a check, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// Records one error at `path`.
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            path: path.into(),
            message: message.into(),
            line: None,
        });
    }

    /// Records one error at `path`, found at `line` of the file.
    pub fn push_at(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
        line: Option<usize>,
    ) {
        self.0.push(ConfigError {
            path: path.into(),
            message: message.into(),
            line,
        });
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses a duration string (`"30s"`, `"5m"`, `"90d"`), recording an error on failure.
    pub fn duration(&mut self, path: &str, value: &str) -> Option<Duration> {
        match humantime::parse_duration(value.trim()) {
            Ok(d) => Some(d),
            Err(e) => {
                self.push(
                    path,
                    format!(
                        "`{value}` is not a duration ({e}); write e.g. \"30s\", \"5m\", \"90d\""
                    ),
                );
                None
            }
        }
    }

    /// Like [`Self::duration`], and the duration must be above zero.
    pub fn positive_duration(&mut self, path: &str, value: &str) -> Option<Duration> {
        let d = self.duration(path, value)?;
        if d.is_zero() {
            self.push(path, "must be longer than zero");
            return None;
        }
        Some(d)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A secret from the file (admin token, client secret, HMAC key, database URL).
/// `Debug` and `Display` print `***`, so it cannot leak through a log or an error.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself; call only where it is sent or compared.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}
