//! Typed reads of the tenant's settings, with errors that name the key.
//!
//! Operators change thresholds without shipping a new plugin, so a plugin
//! must treat config as untrusted input: a missing key or a value of the
//! wrong shape is a [`crate::Error`] with code `config_missing` or
//! `config_invalid` and a message naming the key and what was expected.
//!
//! ```
//! use rulehost_sdk::native;
//! use rulehost_sdk::Config;
//!
//! native::set_config([("coffee.dormant_after_days", "14"), ("coffee.vip", "maybe")]);
//! let config = Config::new();
//! assert_eq!(config.required::<u32>("coffee.dormant_after_days"), Ok(14));
//! assert_eq!(config.or::<u32>("coffee.member_day", 7), Ok(7));
//! let err = config.required::<bool>("coffee.vip").unwrap_err();
//! assert_eq!(err.code, "config_invalid");
//! assert_eq!(
//!     err.message,
//!     "config key `coffee.vip` is \"maybe\", expected true or false"
//! );
//! ```

use crate::Error;

/// A value type that config strings can be parsed into.
pub trait ConfigValue: Sized {
    /// What a valid value looks like, for error messages.
    const EXPECTED: &'static str;
    /// Parses a trimmed config string.
    fn parse(text: &str) -> Option<Self>;
}

impl ConfigValue for u32 {
    const EXPECTED: &'static str = "a whole number from 0 to 4294967295";
    fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

impl ConfigValue for i64 {
    const EXPECTED: &'static str = "a whole number";
    fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

impl ConfigValue for f64 {
    const EXPECTED: &'static str = "a finite number";
    fn parse(text: &str) -> Option<Self> {
        text.parse::<f64>().ok().filter(|f| f.is_finite())
    }
}

impl ConfigValue for bool {
    const EXPECTED: &'static str = "true or false";
    fn parse(text: &str) -> Option<Self> {
        match text {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
}

impl ConfigValue for String {
    const EXPECTED: &'static str = "text";
    fn parse(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
}

/// The tenant's settings, read through the host.
#[derive(Debug, Clone, Copy, Default)]
pub struct Config {
    _private: (),
}

impl Config {
    /// A handle to the tenant's settings.
    pub fn new() -> Self {
        Self { _private: () }
    }

    /// The raw value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<String> {
        crate::host::config(key)
    }

    /// The value of `key`, which must be set and valid.
    pub fn required<T: ConfigValue>(&self, key: &str) -> Result<T, Error> {
        self.optional(key)?.ok_or_else(|| missing(key))
    }

    /// The value of `key` if set; an error only if set and invalid.
    pub fn optional<T: ConfigValue>(&self, key: &str) -> Result<Option<T>, Error> {
        let Some(raw) = self.get(key) else {
            return Ok(None);
        };
        T::parse(raw.trim())
            .map(Some)
            .ok_or_else(|| invalid(key, &raw, T::EXPECTED))
    }

    /// The value of `key`, or `default` if it is not set.
    pub fn or<T: ConfigValue>(&self, key: &str, default: T) -> Result<T, Error> {
        Ok(self.optional(key)?.unwrap_or(default))
    }

    /// A required comma-separated list, e.g. `"7, 30, 90, 180"`.
    pub fn list<T: ConfigValue>(&self, key: &str) -> Result<Vec<T>, Error> {
        let raw = self.get(key).ok_or_else(|| missing(key))?;
        raw.split(',')
            .map(|item| {
                T::parse(item.trim())
                    .ok_or_else(|| invalid(key, &raw, &format!("comma-separated items, each {}", T::EXPECTED)))
            })
            .collect()
    }
}

pub(crate) fn missing(key: &str) -> Error {
    Error::new("config_missing", format!("config key `{key}` is not set"))
}

pub(crate) fn invalid(key: &str, raw: &str, expected: &str) -> Error {
    Error::new(
        "config_invalid",
        format!("config key `{key}` is {raw:?}, expected {expected}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native;

    #[test]
    fn missing_required_key_names_the_key() {
        native::set_config([("other", "1")]);
        let err = Config::new().required::<u32>("coffee.churned_after_days").unwrap_err();
        assert_eq!(err.code, "config_missing");
        assert_eq!(err.message, "config key `coffee.churned_after_days` is not set");
    }

    #[test]
    fn values_are_trimmed() {
        native::set_config([("k", "  42 ")]);
        assert_eq!(Config::new().required::<i64>("k"), Ok(42));
    }

    #[test]
    fn negative_is_not_a_u32() {
        native::set_config([("k", "-3")]);
        let err = Config::new().required::<u32>("k").unwrap_err();
        assert_eq!(
            err.message,
            "config key `k` is \"-3\", expected a whole number from 0 to 4294967295"
        );
    }

    #[test]
    fn non_finite_floats_are_invalid() {
        native::set_config([("k", "NaN")]);
        assert_eq!(Config::new().required::<f64>("k").unwrap_err().code, "config_invalid");
    }

    #[test]
    fn lists_parse_each_item() {
        native::set_config([("good", "7, 30,90 ,180"), ("bad", "7,thirty")]);
        let config = Config::new();
        assert_eq!(config.list::<u32>("good"), Ok(vec![7, 30, 90, 180]));
        let err = config.list::<u32>("bad").unwrap_err();
        assert_eq!(
            err.message,
            "config key `bad` is \"7,thirty\", expected comma-separated items, each a whole number from 0 to 4294967295"
        );
        assert_eq!(config.list::<u32>("absent").unwrap_err().code, "config_missing");
    }
}
