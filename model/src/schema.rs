//! The JSON Schema of the rules the server checks, for the OpenAPI
//! document: identifiers, versions, times of day, the input bounds, and
//! the maps of strings, numbers and booleans. Each is used by
//! `#[schema(schema_with = …)]` on the field it constrains, next to the
//! code that checks it, so the document states what the server enforces.
//!
//! Two kinds of rule JSON Schema cannot state: one field compared with
//! another (an offer's `ends_at` after its `starts_at`, quiet hours whose
//! start differs from their end) and uniqueness by a field (offer ids in a
//! catalog). Those are in the schemas' descriptions.

use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, Object, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::{Ref, RefOr};

use crate::InputLimits;

/// Identifiers used in paths (tenants, plugins, slots, profile sets): 1–64
/// characters of `a-z 0-9 -`, not starting with `-` (see
/// the registry's `check_id`).
pub const ID_PATTERN: &str = "^[a-z0-9][a-z0-9-]{0,63}$";

/// Version strings: 1–64 characters of `A-Z a-z 0-9 . _ + -` (see
/// the registry's `check_version`).
pub const VERSION_PATTERN: &str = "^[A-Za-z0-9._+-]{1,64}$";

/// A time of day, `HH:MM` from 00:00 to 23:59.
pub const TIME_OF_DAY_PATTERN: &str = "^([01][0-9]|2[0-3]):[0-5][0-9]$";

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// An identifier (see [`ID_PATTERN`]).
pub fn id() -> Object {
    string()
        .pattern(Some(ID_PATTERN))
        .min_length(Some(1))
        .max_length(Some(64))
        .build()
}

/// A version (see [`VERSION_PATTERN`]).
pub fn version() -> Object {
    string()
        .pattern(Some(VERSION_PATTERN))
        .min_length(Some(1))
        .max_length(Some(64))
        .build()
}

/// A time of day, `HH:MM`.
pub fn time_of_day() -> Object {
    string().pattern(Some(TIME_OF_DAY_PATTERN)).build()
}

/// A string of a profile, trigger or catalog: at most
/// [`InputLimits::string_chars`] characters.
pub fn text() -> Object {
    string().max_length(Some(InputLimits::default().string_chars)).build()
}

/// Like [`text`], and not empty.
pub fn nonempty_text() -> Object {
    string()
        .min_length(Some(1))
        .max_length(Some(InputLimits::default().string_chars))
        .build()
}

/// Like [`text`], or null.
pub fn optional_text() -> Object {
    let mut schema = text();
    schema.schema_type = utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null]);
    schema
}

/// A touch's id, customer, offer or channel: 1–256 characters.
pub fn touch_text() -> Object {
    string().min_length(Some(1)).max_length(Some(256)).build()
}

/// A string that must not be empty.
pub fn nonempty() -> Object {
    string().min_length(Some(1)).build()
}

/// Any JSON value (where two documents differ, say).
pub fn any_json() -> Object {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::AnyValue)
        .description(Some("Any JSON value"))
        .build()
}

/// An attribute or property value: a string, a number or a boolean.
pub fn value() -> RefOr<Schema> {
    RefOr::T(Schema::OneOf(
        OneOfBuilder::new()
            .item(text())
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .description(Some(
                "A string, number or boolean; RFC 3339 date-time strings are times",
            ))
            .build(),
    ))
}

fn map_of(values: RefOr<Schema>, max: Option<usize>, key_max: Option<usize>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::RefOr(values)))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(key_max)
                .build(),
        ))
        .max_properties(max)
        .build()
}

/// A profile's attributes: at most [`InputLimits::attributes`].
pub fn attributes() -> Object {
    let limits = InputLimits::default();
    map_of(value(), Some(limits.attributes), Some(limits.string_chars))
}

/// An event's properties: at most [`InputLimits::props`].
pub fn props() -> Object {
    let limits = InputLimits::default();
    map_of(value(), Some(limits.props), Some(limits.string_chars))
}

/// A profile's identities: at most [`InputLimits::identities`].
pub fn identities() -> Object {
    let limits = InputLimits::default();
    map_of(
        RefOr::T(Schema::Object(text())),
        Some(limits.identities),
        Some(limits.string_chars),
    )
}

/// Tenant config: any number of keys to strings, numbers or booleans.
pub fn config() -> Object {
    let values = RefOr::T(Schema::OneOf(
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .build(),
    ));
    let mut config = map_of(values, None, None);
    config.description = Some(
        "Setting keys to strings, numbers or booleans (plugins read numbers and booleans as their JSON text)".into(),
    );
    config
}

/// A profile's events: at most [`InputLimits::events`].
pub fn events() -> utoipa::openapi::schema::Array {
    ArrayBuilder::new()
        .items(Ref::from_schema_name("Event"))
        .max_items(Some(InputLimits::default().events))
        .build()
}

/// Tags of the previous decision: at most [`InputLimits::prior_tags`].
pub fn prior_tags() -> utoipa::openapi::schema::Array {
    ArrayBuilder::new()
        .items(Ref::from_schema_name("PriorTag"))
        .max_items(Some(InputLimits::default().prior_tags))
        .build()
}

/// An offer's channels: at most [`InputLimits::channels`].
pub fn channels() -> utoipa::openapi::schema::Array {
    ArrayBuilder::new()
        .items(text())
        .max_items(Some(InputLimits::default().channels))
        .build()
}

/// An offer catalog: at most [`InputLimits::offers`] offers, ids unique.
pub fn catalog() -> utoipa::openapi::schema::Array {
    let mut array = ArrayBuilder::new()
        .items(Ref::from_schema_name("Offer"))
        .max_items(Some(InputLimits::default().offers))
        .build();
    array.description = Some("The offers; no two with the same `id`".into());
    array
}

/// A pipeline's slots: at most 16 distinct identifiers.
pub fn slots() -> utoipa::openapi::schema::Array {
    ArrayBuilder::new()
        .items(id())
        .max_items(Some(16))
        .unique_items(true)
        .build()
}

/// A share of customers in percent, more than 0 and at most 100.
pub fn share() -> Object {
    let mut share = ObjectBuilder::new()
        .schema_type(Type::Number)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)))
        .maximum(Some(100))
        .build();
    share.exclusive_minimum = Some(0.into());
    share
}

/// A share of customers in percent, from 0 to 100.
pub fn percent() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Number)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)))
        .minimum(Some(0))
        .maximum(Some(100))
        .build()
}

/// A UTC offset in minutes, within ±18 hours.
pub fn tz_offset() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
        .minimum(Some(-1080))
        .maximum(Some(1080))
        .build()
}

/// Like [`tz_offset`], or absent.
pub fn optional_tz_offset() -> Object {
    let mut schema = tz_offset();
    schema.schema_type = utoipa::openapi::schema::SchemaType::from_iter([Type::Integer, Type::Null]);
    schema
}

/// A whole number from `min` to `max`.
pub fn whole(min: i64, max: u64) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(min))
        .maximum(Some(max))
        .build()
}

/// A cap: a whole number of touches, 0 or more.
pub fn cap() -> Object {
    let mut schema = whole(0, u64::from(u32::MAX));
    schema.schema_type = utoipa::openapi::schema::SchemaType::from_iter([Type::Integer, Type::Null]);
    schema
}

/// An offer's budget: a whole number of touches, 0 or more.
pub fn budget() -> Object {
    let mut schema = whole(0, u64::MAX);
    schema.schema_type = utoipa::openapi::schema::SchemaType::from_iter([Type::Integer, Type::Null]);
    schema
}

/// A decision's seed: any 64-bit unsigned number, or null.
pub fn seed() -> Object {
    let mut schema = whole(0, u64::MAX);
    schema.schema_type = utoipa::openapi::schema::SchemaType::from_iter([Type::Integer, Type::Null]);
    schema
}

/// Days of an offer's per-customer window, 1–366.
pub fn window_days() -> Object {
    whole(1, 366)
}

/// A page size, 1–500.
pub fn page_limit() -> Object {
    whole(1, 500)
}

/// An event's id, its customer's id, or an id `identify` links: 1–256
/// characters.
pub fn event_id() -> Object {
    string()
        .min_length(Some(1))
        .max_length(Some(crate::events::ID_CHARS))
        .build()
}

/// An event's kind: not empty, not `timer` (reserved).
pub fn event_kind() -> Object {
    let mut schema = nonempty_text();
    schema.description = Some(format!("Not {:?}, which is reserved", crate::events::TIMER));
    schema
}

/// An event's properties as sent: values may be `null` (only in an
/// `attributes` event, where it removes an attribute).
pub fn event_props() -> Object {
    let limits = InputLimits::default();
    let values = RefOr::T(Schema::OneOf(
        OneOfBuilder::new()
            .item(text())
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .description(Some(
                "A string, number or boolean (RFC 3339 date-time strings are times); null removes an attribute in an \
                 `attributes` event",
            ))
            .build(),
    ));
    map_of(values, Some(limits.props), Some(limits.string_chars))
}
