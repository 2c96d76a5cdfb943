//! The JSON a client sends: profiles, offers, tenant config and the decision
//! context.
//!
//! Timestamps are RFC 3339 strings and money is integer minor units
//! (`amount_minor`: 2850 = ¥28.50). Unknown fields are rejected, so a typo
//! is an error naming the field rather than silently ignored data.

pub mod events;
mod limits;
pub mod outbox;
pub mod policy;
mod rng;
pub mod schema;
mod strict;
pub mod triggers;
pub mod whole;

pub use limits::InputLimits;
pub use rng::SplitMix64;
pub use strict::Strict;

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An instant, milliseconds since the Unix epoch (UTC); RFC 3339 in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Parses an RFC 3339 date-time.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(t) = usual_rfc3339(text.as_bytes()) {
            return Ok(t);
        }
        let t = OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|e| format!("{text:?} is not an RFC 3339 timestamp ({e})"))?;
        let millis = t.unix_timestamp_nanos() / 1_000_000;
        i64::try_from(millis)
            .map(Timestamp)
            .map_err(|_| format!("{text:?} is out of range"))
    }

    /// The instant a string of a profile stands for, if it is in RFC 3339
    /// date-time form: such attribute and property values are times.
    pub fn in_text(text: &str) -> Option<Self> {
        looks_like_time(text).then(|| Self::parse(text).ok()).flatten()
    }

    /// The current time of this machine (for the CLI's default `--now`).
    pub fn now() -> Self {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Timestamp(i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX))
    }

    /// RFC 3339 in UTC with millisecond precision when needed, or `None` if
    /// the instant is outside the years 0000–9999.
    pub fn to_rfc3339(self) -> Option<String> {
        let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000).ok()?;
        if !(0..=9999).contains(&t.year()) {
            return None;
        }
        t.format(&Rfc3339).ok()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_rfc3339() {
            Some(s) => f.write_str(&s),
            None => write!(f, "{} ms since the epoch", self.0),
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 date-time string")
            }
            // Borrowed or not, the text is only read: nothing is allocated.
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// The usual shape of a profile's times, `YYYY-MM-DDTHH:MM:SS[.mmm]` then
/// `Z` or `±hh:mm`, with every field in range, read without the general
/// parser (which was ~6% of reading a request body); anything else
/// (other fraction lengths, lower-case letters, leap seconds, bad dates)
/// is `None` and goes to `time`, which also words the errors. A property
/// test holds the two to the same instants.
fn usual_rfc3339(b: &[u8]) -> Option<Timestamp> {
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        b.get(range)?
            .iter()
            .try_fold(0i64, |n, &c| c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0')))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // `time` checks the date (day in month, leap years) without parsing.
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let (millis, zone) = if at(19, b'.') { (num(20..23)?, 23) } else { (0, 19) };
    let offset_minutes = match (b.get(zone), b.len() - zone) {
        (Some(b'Z'), 1) => 0,
        (Some(&sign @ (b'+' | b'-')), 6) if at(zone + 3, b':') => {
            let (h, m) = (num(zone + 1..zone + 3)?, num(zone + 4..zone + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            if sign == b'-' { -(h * 60 + m) } else { h * 60 + m }
        }
        _ => return None,
    };
    // Julian day 2,440,588 is 1970-01-01.
    let days = i64::from(date.to_julian_day()) - 2_440_588;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(Timestamp(seconds * 1000 + millis))
}

/// Whether `text` has the shape of an RFC 3339 date-time
/// (`YYYY-MM-DDTHH:MM:SS…`): a cheap test before a full parse, so the many
/// strings of a profile that are not times are not parsed as times.
fn looks_like_time(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't' | b' ')
        && b[13] == b':'
        && b[16] == b':'
        && b[..4].iter().all(u8::is_ascii_digit)
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.to_rfc3339() {
            Some(text) => s.serialize_str(&text),
            None => Err(serde::ser::Error::custom(format!(
                "timestamp {} ms is out of range",
                self.0
            ))),
        }
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("An RFC 3339 date-time"))
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

/// An attribute or event property: a string, number or boolean. Strings in
/// RFC 3339 date-time form are times.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text.
    Text(String),
    /// A whole number.
    Int(i64),
    /// A number with a fraction (or too big for an integer).
    Float(f64),
    /// A boolean.
    Flag(bool),
    /// An instant.
    Time(Timestamp),
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Text(t) => s.serialize_str(t),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) => s.serialize_f64(*f),
            Value::Flag(b) => s.serialize_bool(*b),
            Value::Time(t) => t.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Flag(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
                Ok(Timestamp::in_text(v).map_or_else(|| Value::Text(v.to_owned()), Value::Time))
            }
        }
        d.deserialize_any(V)
    }
}

impl utoipa::PartialSchema for Value {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::value()
    }
}

impl utoipa::ToSchema for Value {}

/// Something the customer did.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// The kind, e.g. "purchase" (an open set).
    #[schema(schema_with = crate::schema::text)]
    pub kind: String,
    /// When it happened.
    pub at: Timestamp,
    /// Where it happened, e.g. "wecom_1v1", "store", "tmall".
    #[serde(default)]
    #[schema(schema_with = crate::schema::optional_text)]
    pub channel: Option<String>,
    /// Money involved, in minor units.
    #[serde(default, deserialize_with = "crate::whole::option")]
    pub amount_minor: Option<i64>,
    /// The product's SKU.
    #[serde(default)]
    #[schema(schema_with = crate::schema::optional_text)]
    pub sku: Option<String>,
    /// The product category.
    #[serde(default)]
    #[schema(schema_with = crate::schema::optional_text)]
    pub category: Option<String>,
    /// Anything else.
    #[serde(default)]
    #[schema(schema_with = crate::schema::props)]
    pub props: BTreeMap<String, Value>,
}

/// A tag from the customer's previous decision. The whole tag object of a
/// decision is accepted so a client can feed the last decision back; only
/// the group and name reach plugins.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorTag {
    /// The tag group.
    #[schema(schema_with = crate::schema::text)]
    pub group: String,
    /// The tag name.
    #[schema(schema_with = crate::schema::text)]
    pub name: String,
    /// Ignored.
    #[serde(default)]
    pub reason: Option<String>,
    /// Ignored.
    #[serde(default)]
    pub rule_id: Option<String>,
    /// Ignored.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
}

/// What the previous decision concluded.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Prior {
    /// Its tags.
    #[serde(default)]
    #[schema(schema_with = crate::schema::prior_tags)]
    pub tags: Vec<PriorTag>,
    /// Its stage.
    #[serde(default)]
    pub stage: Option<Stage>,
}

/// A customer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The brand's id for the customer.
    #[schema(schema_with = crate::schema::nonempty_text)]
    pub customer_id: String,
    /// Other identities by kind, e.g. `{"wechat_openid": "o-1"}`.
    #[serde(default)]
    #[schema(schema_with = crate::schema::identities)]
    pub identities: BTreeMap<String, String>,
    /// Typed attributes, e.g. `{"member_level": "gold"}`.
    #[serde(default)]
    #[schema(schema_with = crate::schema::attributes)]
    pub attributes: BTreeMap<String, Value>,
    /// What the customer did, in any order.
    #[serde(default)]
    #[schema(schema_with = crate::schema::events)]
    pub events: Vec<Event>,
    /// The previous decision's tags and stage.
    #[serde(default)]
    pub prior: Prior,
}

impl Profile {
    /// A customer known only by its id: no identities, attributes, events
    /// or prior decision.
    pub fn with_id(customer_id: impl Into<String>) -> Self {
        Self {
            customer_id: customer_id.into(),
            identities: BTreeMap::new(),
            attributes: BTreeMap::new(),
            events: Vec::new(),
            prior: Prior::default(),
        }
    }
}

/// An entry of the tenant's offer catalog.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    /// Unique within the catalog.
    #[schema(schema_with = crate::schema::nonempty_text)]
    pub id: String,
    /// The brand's offer kind, e.g. "win_back_coupon".
    #[schema(schema_with = crate::schema::text)]
    pub kind: String,
    /// Channels it may be sent on.
    #[schema(schema_with = crate::schema::channels)]
    pub channels: Vec<String>,
    /// Its value in minor units.
    #[serde(default, deserialize_with = "crate::whole::number")]
    pub value_minor: i64,
    /// When it becomes valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<Timestamp>,
    /// When it stops being valid (exclusive); after `starts_at` when both
    /// are given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<Timestamp>,
    /// Higher goes first.
    #[serde(default, deserialize_with = "crate::whole::number")]
    pub priority: i32,
    /// `marketing` (default): subject to every cap; `transactional` or
    /// `mandatory`: bypasses caps, never consent.
    #[serde(default)]
    pub class: OfferClass,
}

/// What kind of message an offer is, for the contact policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfferClass {
    /// Promotions: capped.
    #[default]
    Marketing,
    /// Triggered by the customer's own action (a receipt): not capped.
    Transactional,
    /// Required to send (a legal notice): not capped.
    Mandatory,
}

/// The lifecycle stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// New.
    Introduction,
    /// Forming a habit.
    Growth,
    /// Loyal.
    Maturity,
    /// Fading.
    Dormancy,
    /// Gone.
    Churned,
    /// Came back.
    Reactivated,
}

impl Stage {
    /// Every stage, in the order the contract numbers them.
    pub const ALL: [Stage; 6] = [
        Stage::Introduction,
        Stage::Growth,
        Stage::Maturity,
        Stage::Dormancy,
        Stage::Churned,
        Stage::Reactivated,
    ];
}

/// Why a decision is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A real decision.
    #[default]
    Live,
    /// Part of a bulk run.
    Batch,
    /// A what-if run.
    Simulate,
    /// Beside the live version, for comparison.
    Shadow,
}

/// Everything one decision needs besides the plugins.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The decision's time.
    pub now: Timestamp,
    /// The tenant's UTC offset in minutes.
    pub tz_offset_minutes: i32,
    /// The seed plugins get.
    pub seed: u64,
    /// Why the decision is made.
    pub mode: Mode,
    /// The event that triggered it, if any.
    pub trigger: Option<Event>,
    /// The customer.
    pub profile: Profile,
    /// The catalog (shared: decisions of a tenant do not copy it).
    pub offers: std::sync::Arc<[Offer]>,
}

/// The tenant's settings that plugins read with `config(key)`. In JSON an
/// object whose values are strings, numbers or booleans (numbers and
/// booleans are passed to plugins as their JSON text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantConfig(pub BTreeMap<String, String>);

impl<'de> Deserialize<'de> for TenantConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, serde_json::Value>::deserialize(d)?;
        let mut map = BTreeMap::new();
        for (key, value) in raw {
            let text = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                other => {
                    return Err(de::Error::custom(format!(
                        "config key `{key}` must be a string, number or boolean, not {other}"
                    )));
                }
            };
            map.insert(key, text);
        }
        Ok(TenantConfig(map))
    }
}

impl utoipa::PartialSchema for TenantConfig {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::config().into()
    }
}

impl utoipa::ToSchema for TenantConfig {}

impl Serialize for TenantConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Parses JSON into `T`, naming the path of the first bad field
/// (e.g. `events[3].at: "yesterday" is not an RFC 3339 timestamp`).
pub fn from_json<T: for<'de> Deserialize<'de>>(what: &str, json: &str) -> Result<T, InvalidInput> {
    parse_json(json.as_bytes()).map_err(|e| InvalidInput(format!("{what}{e}")))
}

/// A request, document or file that is not what it should be; the message
/// names what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

impl InvalidInput {
    /// The API's error code for it.
    pub fn code(&self) -> &'static str {
        "invalid_input"
    }
}

/// Why a JSON document did not parse, and where.
#[derive(Debug)]
pub struct JsonError {
    /// The path to the offending value (`.` for the document itself).
    pub path: String,
    /// What is wrong.
    pub error: serde_json::Error,
}

/// `" at {path}: {error}"`, or `": {error}"` for the document itself: to
/// follow the name of what was parsed.
impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path != "." {
            write!(f, " at {}", self.path)?;
        }
        write!(f, ": {}", self.error)
    }
}

/// Parses JSON on the fast path; only a document that fails is parsed again
/// to find the path to what is wrong.
/// Objects must be objects (see [`strict`]).
pub fn parse_json<T: for<'de> Deserialize<'de>>(json: &[u8]) -> Result<T, JsonError> {
    let fast = match std::str::from_utf8(json) {
        // The whole document checked as UTF-8 at once, rather than each
        // string as it is met (a tenth of a profile's parsing).
        Ok(text) => {
            let mut de = serde_json::Deserializer::from_str(text);
            match T::deserialize(strict::Strict(&mut de)).and_then(|value| de.end().map(|()| value)) {
                Ok(value) => return nul_free(json).map(|()| value),
                Err(e) => e,
            }
        }
        Err(_) => {
            let mut de = serde_json::Deserializer::from_slice(json);
            match T::deserialize(strict::Strict(&mut de)).and_then(|value| de.end().map(|()| value)) {
                Ok(value) => return nul_free(json).map(|()| value),
                Err(e) => e,
            }
        }
    };
    let de = &mut serde_json::Deserializer::from_slice(json);
    match serde_path_to_error::deserialize::<_, T>(strict::Strict(de)) {
        Err(e) => Err(JsonError {
            path: e.path().to_string(),
            error: e.into_inner(),
        }),
        // Only trailing characters fail the fast path and not this one.
        Ok(_) => Err(JsonError {
            path: ".".into(),
            error: fast,
        }),
    }
}

/// Refuses a document with a NUL character (`\u0000`) in any string or
/// key, naming the first: no text rulehost keeps may hold one (PostgreSQL
/// cannot store it in text, and both stores refuse the same input).
fn nul_free(json: &[u8]) -> Result<(), JsonError> {
    if !has_nul_escape(json) {
        return Ok(());
    }
    let nul = |path: String| JsonError {
        path,
        error: serde::de::Error::custom("contains a NUL character (\\u0000), which rulehost does not keep in text"),
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(json) else {
        return Err(nul(".".into()));
    };
    Err(nul(nul_path(&value, String::new()).unwrap_or_else(|| ".".into())))
}

/// Whether JSON text holds the escape `\u0000` (a raw NUL byte is not JSON):
/// no text rulehost keeps may hold a NUL character.
pub fn has_nul_escape(json: &[u8]) -> bool {
    let mut i = 0;
    // Most documents hold no backslash at all: memchr skips them a vector
    // at a time.
    while let Some(at) = memchr::memchr(b'\\', &json[i..]) {
        let escape = i + at + 1;
        if json.get(escape..escape + 5) == Some(b"u0000") {
            return true;
        }
        // Skip the escaped character, so `\\u0000` (a backslash, then
        // text) is not taken for one.
        i = escape + 1;
        if i >= json.len() {
            return false;
        }
    }
    false
}

/// The path of the first string or key holding a NUL character.
fn nul_path(value: &serde_json::Value, path: String) -> Option<String> {
    let field = |path: &str, key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        serde_json::Value::String(s) if s.contains('\0') => Some(if path.is_empty() { ".".into() } else { path }),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, format!("{path}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                Some(field(&path, key))
            } else {
                nul_path(item, field(&path, key))
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// What `time` makes of `text`, in milliseconds (`Timestamp::parse`
    /// without its fast path).
    fn by_time(text: &str) -> Option<i64> {
        let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// Every text the fast path reads, `time` reads as the same
        /// instant; texts of the usual shape that `time` reads, the fast
        /// path reads too unless it has a reason to leave them.
        #[test]
        fn the_usual_shapes_fast_path_agrees_with_time(
            year in 0u32..10_000, month in 0u32..14, day in 0u32..33,
            hour in 0u32..25, minute in 0u32..61, second in 0u32..61,
            fraction in prop::option::of("[0-9]{1,4}"),
            zone in prop_oneof![
                Just("Z".to_owned()), Just("z".to_owned()),
                (prop::bool::ANY, 0u32..25, 0u32..61)
                    .prop_map(|(neg, h, m)| format!("{}{h:02}:{m:02}", if neg { '-' } else { '+' })),
            ],
            separator in prop_oneof![Just('T'), Just('t'), Just(' ')],
        ) {
            let fraction = fraction.map(|f| format!(".{f}")).unwrap_or_default();
            let text = format!(
                "{year:04}-{month:02}-{day:02}{separator}{hour:02}:{minute:02}:{second:02}{fraction}{zone}"
            );
            let fast = usual_rfc3339(text.as_bytes()).map(|t| t.0);
            let slow = by_time(&text);
            if fast.is_some() {
                prop_assert_eq!(fast, slow, "{}", text);
            }
            let usual = separator == 'T' && zone != "z" && second < 60
                && matches!(fraction.len(), 0 | 4);
            if usual && slow.is_some() {
                prop_assert_eq!(fast, slow, "{} is of the usual shape", text);
            }
            prop_assert_eq!(Timestamp::parse(&text).ok().map(|t| t.0), slow, "{}", text);
        }

        /// Arbitrary text near the shape never makes the fast path read
        /// what `time` refuses or reads differently.
        #[test]
        fn the_fast_path_never_reads_what_time_refuses(text in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.+Z-]{8,16}") {
            if let Some(fast) = usual_rfc3339(text.as_bytes()) {
                prop_assert_eq!(Some(fast.0), by_time(&text), "{}", text);
            }
        }
    }

    #[test]
    fn a_nul_character_in_any_string_is_refused_naming_where() {
        let err = from_json::<Profile>("profile", r#"{"customer_id":"c\u0000d"}"#).unwrap_err();
        assert!(err.0.contains("at customer_id: contains a NUL character"), "{err}");
        let err = from_json::<Profile>(
            "profile",
            r#"{"customer_id":"c","events":[{"kind":"v\u0000","at":"2026-01-01T00:00:00Z"}]}"#,
        )
        .unwrap_err();
        assert!(err.0.contains("at events[0].kind:"), "{err}");
        // An escaped backslash followed by text is not a NUL.
        let ok: Profile = from_json("profile", r#"{"customer_id":"c\\u0000"}"#).expect("a backslash and text");
        assert_eq!(ok.customer_id, "c\\u0000");
    }

    #[test]
    fn errors_name_the_field_path() {
        let err = from_json::<Profile>(
            "profile",
            r#"{"customer_id":"c","events":[{"kind":"view","at":"2026-01-01T00:00:00Z"},{"kind":"x","at":"yesterday"}]}"#,
        )
        .unwrap_err();
        assert_eq!(err.code(), "invalid_input");
        assert!(
            err.to_string()
                .starts_with("profile at events[1].at: \"yesterday\" is not an RFC 3339 timestamp"),
            "{err}"
        );
    }

    #[test]
    fn trailing_characters_are_refused_without_a_path() {
        let err = from_json::<Profile>("profile", r#"{"customer_id":"c"} and more"#).unwrap_err();
        assert_eq!(err.code(), "invalid_input");
        assert!(err.to_string().starts_with("profile: trailing characters"), "{err}");
        let ok: Profile = from_json("profile", r#" {"customer_id":"c"} "#).expect("whitespace is fine");
        assert_eq!(ok.customer_id, "c");
    }

    #[test]
    fn unknown_fields_are_named() {
        let err = from_json::<Profile>("profile", r#"{"customer_id":"c","evnets":[]}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `evnets`"), "{err}");
    }

    #[test]
    fn attribute_values_are_typed() {
        let p: Profile = from_json(
            "profile",
            r#"{"customer_id":"c","attributes":{"a":"gold","b":3,"c":2.5,"d":true,"e":"2026-03-07T10:00:00+08:00","f":"2026-03-07"}}"#,
        )
        .unwrap();
        assert_eq!(p.attributes["a"], Value::Text("gold".into()));
        assert_eq!(p.attributes["b"], Value::Int(3));
        assert_eq!(p.attributes["c"], Value::Float(2.5));
        assert_eq!(p.attributes["d"], Value::Flag(true));
        assert_eq!(p.attributes["e"], Value::Time(Timestamp(1_772_848_800_000)));
        assert_eq!(p.attributes["f"], Value::Text("2026-03-07".into()));
        let err = from_json::<Profile>("profile", r#"{"customer_id":"c","attributes":{"a":[1]}}"#).unwrap_err();
        assert!(err.to_string().contains("attributes.a"), "{err}");
    }

    #[test]
    fn config_values_become_text() {
        let c: TenantConfig = from_json("config", r#"{"a":"x","b":14,"c":true,"d":0.5}"#).unwrap();
        assert_eq!(c.0["b"], "14");
        assert_eq!(c.0["c"], "true");
        assert_eq!(c.0["d"], "0.5");
        let err = from_json::<TenantConfig>("config", r#"{"a":null}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("config key `a` must be a string, number or boolean"),
            "{err}"
        );
    }

    #[test]
    fn timestamps_round_trip_in_utc() {
        let t = Timestamp::parse("2026-03-07T18:00:00.250+08:00").unwrap();
        assert_eq!(t.to_rfc3339().unwrap(), "2026-03-07T10:00:00.25Z");
        assert_eq!(Timestamp(i64::MAX).to_rfc3339(), None);
    }
}
