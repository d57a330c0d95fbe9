//! Typed configuration read from the environment once per cold start.
//!
//! Each function declares a struct of the settings it needs and fills it with [`required`] and
//! [`optional`]; a missing or malformed variable fails the cold start with an error naming it,
//! instead of failing the first request in some other way.

use std::fmt::Display;
use std::str::FromStr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} has an invalid value {value:?}: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// Reads and parses a variable that must be present.
pub fn required<T>(name: &'static str) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    optional(name)?.ok_or(ConfigError::Missing(name))
}

/// Reads and parses a variable that may be absent; an empty value counts as absent.
pub fn optional<T>(name: &'static str) -> Result<Option<T>, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => value
            .trim()
            .parse()
            .map(Some)
            .map_err(|e: T::Err| ConfigError::Invalid {
                name,
                value,
                reason: e.to_string(),
            }),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::Invalid {
            name,
            value: String::from("<not unicode>"),
            reason: String::from("not valid UTF-8"),
        }),
    }
}

/// Parses an amount written `"<amount> <currency>"` ("10000 USD") from variable `name`.
pub fn parse_money(name: &'static str, text: &str) -> Result<crate::domain::Money, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name,
        value: text.to_string(),
        reason,
    };
    let (amount, currency) = text
        .trim()
        .split_once(' ')
        .ok_or_else(|| invalid(String::from("expected \"<amount> <currency>\"")))?;
    crate::domain::Money::parse(amount, currency.trim()).map_err(|e| invalid(e.to_string()))
}

/// An optional `"<amount> <currency>"` variable; empty or absent is `None`.
pub fn optional_money(name: &'static str) -> Result<Option<crate::domain::Money>, ConfigError> {
    optional::<String>(name)?
        .map(|text| parse_money(name, &text))
        .transpose()
}

/// The settings every function shares.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    /// The single DynamoDB table (see [`crate::store`] for its layout).
    pub table_name: String,
}

impl CommonConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required("TABLE_NAME")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each test uses its own variable name: tests run in parallel threads of one process.
    #[test]
    fn missing_variable_is_named() {
        let err = required::<String>("TRIBUTARY_TEST_UNSET_VARIABLE").unwrap_err();
        assert_eq!(err, ConfigError::Missing("TRIBUTARY_TEST_UNSET_VARIABLE"));
        assert!(err.to_string().contains("TRIBUTARY_TEST_UNSET_VARIABLE"));
    }

    #[test]
    fn malformed_variable_names_value_and_reason() {
        // SAFETY: the variable is unique to this test, so no other thread reads or writes it.
        unsafe { std::env::set_var("TRIBUTARY_TEST_BAD_NUMBER", "ten") };
        let err = required::<u32>("TRIBUTARY_TEST_BAD_NUMBER").unwrap_err();
        assert!(
            matches!(err, ConfigError::Invalid { name: "TRIBUTARY_TEST_BAD_NUMBER", ref value, .. } if value == "ten")
        );
    }

    #[test]
    fn empty_variable_counts_as_absent() {
        // SAFETY: as above, a variable owned by this test.
        unsafe { std::env::set_var("TRIBUTARY_TEST_EMPTY", "  ") };
        assert_eq!(optional::<u32>("TRIBUTARY_TEST_EMPTY"), Ok(None));
        unsafe { std::env::set_var("TRIBUTARY_TEST_PRESENT", " 42 ") };
        assert_eq!(required::<u32>("TRIBUTARY_TEST_PRESENT"), Ok(42));
    }
}
