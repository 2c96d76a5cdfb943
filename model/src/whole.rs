//! Whole numbers in request bodies, however the client wrote them.
//!
//! JSON has one number type, and JSON Schema (which the OpenAPI document
//! uses) counts `73943.0` as an integer. Many clients write whole numbers
//! that way (Python floats, generated clients), so every integer field of
//! a request reads `5`, `5.0` and `5e0` alike; `5.5`, a number out of the
//! field's range, or a string is still refused, naming the field.
//!
//! Used as `#[serde(deserialize_with = "whole::number")]`, or
//! `whole::option` (with `#[serde(default)]`) for optional fields.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserializer;
use serde::de::{Error, Unexpected, Visitor};

/// The largest magnitude at which every whole `f64` is exact.
const EXACT: f64 = 9_007_199_254_740_992.0;

struct Whole<T>(PhantomData<T>);

impl<T: TryFrom<i64> + TryFrom<u64>> Visitor<'_> for Whole<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a whole number within the range of {}", std::any::type_name::<T>())
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<T, E> {
        if v.fract() != 0.0 || !v.is_finite() || v.abs() > EXACT {
            return Err(E::invalid_value(Unexpected::Float(v), &self));
        }
        #[allow(clippy::cast_possible_truncation, reason = "whole and within ±2^53, so exact")]
        let whole = v as i64;
        self.visit_i64(whole)
    }
}

/// A whole number, written with or without a fraction of zero.
pub fn number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    d.deserialize_any(Whole(PhantomData))
}

struct MaybeWhole<T>(PhantomData<T>);

impl<'de, T: TryFrom<i64> + TryFrom<u64>> Visitor<'de> for MaybeWhole<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "null or a whole number within the range of {}",
            std::any::type_name::<T>()
        )
    }

    fn visit_none<E: Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E: Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        number(d).map(Some)
    }
}

/// An optional whole number (`null` is none).
pub fn option<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    d.deserialize_option(MaybeWhole(PhantomData))
}

/// An optional whole number as a type of its own, for a caller that reads
/// fields one by one (`null` is none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Optional<T>(pub Option<T>);

impl<'de, T: TryFrom<i64> + TryFrom<u64>> serde::Deserialize<'de> for Optional<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        option(d).map(Optional)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Fields {
        #[serde(deserialize_with = "super::number")]
        count: u32,
        #[serde(default, deserialize_with = "super::option")]
        offset: Option<i32>,
    }

    fn parse(json: &str) -> Result<Fields, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_read_alike_however_written() {
        for json in [
            r#"{"count": 73943, "offset": -480}"#,
            r#"{"count": 73943.0, "offset": -480.0}"#,
            r#"{"count": 7.3943e4, "offset": -4.8e2}"#,
        ] {
            assert_eq!(
                parse(json),
                Ok(Fields {
                    count: 73943,
                    offset: Some(-480)
                }),
                "{json}"
            );
        }
        assert_eq!(parse(r#"{"count": 1, "offset": null}"#).unwrap().offset, None);
        assert_eq!(parse(r#"{"count": 1}"#).unwrap().offset, None);
    }

    #[test]
    fn fractions_ranges_and_strings_are_refused() {
        for (json, says) in [
            (
                r#"{"count": 2.5}"#,
                "invalid value: floating point `2.5`, expected a whole number within the range of u32",
            ),
            (
                r#"{"count": -1}"#,
                "invalid value: integer `-1`, expected a whole number",
            ),
            (
                r#"{"count": 4294967296}"#,
                "invalid value: integer `4294967296`, expected a whole number",
            ),
            (r#"{"count": 1e300}"#, "invalid value: floating point `1e+300`"),
            (
                r#"{"count": "5"}"#,
                "invalid type: string \"5\", expected a whole number",
            ),
            (
                r#"{"count": 1, "offset": 0.5}"#,
                "invalid value: floating point `0.5`, expected a whole number",
            ),
        ] {
            let err = parse(json).unwrap_err();
            assert!(err.contains(says), "{json}: {err}");
        }
    }
}
