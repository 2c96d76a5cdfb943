//! A profile's JSON read straight into an input frame.
//!
//! The decide and batch routes parse a request's profile and trigger once,
//! writing each string into the frame as it is met and each event,
//! attribute and identity as a record: no model of the profile in between.
//! What is accepted and how it is read is exactly [`rulehost_model`]'s
//! (objects only where an object is expected, unknown fields refused, whole
//! numbers however written, strings in RFC 3339 date-time form read as
//! times, a map's later duplicate key winning, events put in time order),
//! and the request is checked against [`InputLimits`] as it is written; a
//! document this refuses, the model refuses too. The errors here say what
//! is wrong; a caller that wants the model's exact message and path for a
//! refused document parses it with the model (only refused documents pay
//! for that).

use std::borrow::Cow;
use std::fmt;

use rulehost_layout::input::InputWriter;
use rulehost_layout::{self as layout, Span};
use rulehost_model::{InputLimits, Prior, Strict, Timestamp, whole};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{Builder, Written, count, stage_index};
use crate::InvalidInput;

/// A profile read into a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profiled {
    /// The customer's id.
    pub customer_id: String,
    /// What the frame's header takes from the profile.
    pub written: Written,
}

/// Reads a profile's JSON into `writer` (which should hold nothing of
/// another profile); the catalog and the header are written after it.
pub fn profile(json: &str, limits: &InputLimits, writer: &mut InputWriter) -> Result<Profiled, serde_json::Error> {
    let mut b = Builder {
        out: writer,
        limits: *limits,
    };
    let mut de = serde_json::Deserializer::from_str(json);
    let profile = de.deserialize_struct("Profile", PROFILE, ProfileSeed { b: &mut b })?;
    de.end()?;
    Ok(profile)
}

/// Reads a trigger event's JSON into `writer`, after its profile.
pub fn trigger(json: &str, limits: &InputLimits, writer: &mut InputWriter) -> Result<(), serde_json::Error> {
    let mut b = Builder {
        out: writer,
        limits: *limits,
    };
    let mut de = serde_json::Deserializer::from_str(json);
    let event = EventSeed {
        b: &mut b,
        path: &|| "trigger".into(),
    }
    .deserialize(&mut de)?;
    de.end()?;
    b.out.trigger(&event);
    Ok(())
}

/// A string, borrowed from the document when it holds no escapes.
struct Str<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A limit's refusal as the parser's error.
fn refused<E: de::Error>(e: InvalidInput) -> E {
    E::custom(e)
}

impl Builder<'_> {
    /// Writes a string read from the document.
    fn json_text<E: de::Error>(&mut self, what: &dyn Fn() -> String, s: &str) -> Result<u32, E> {
        self.text(what, s).map_err(refused)
    }
}

/// Refuses a field met twice, as a derived struct does.
fn once<T, E: de::Error>(slot: &Option<T>, field: &'static str) -> Result<(), E> {
    match slot {
        Some(_) => Err(E::duplicate_field(field)),
        None => Ok(()),
    }
}

/// An attribute or property value, written as read.
struct ValueSeed<'b, 'w> {
    b: &'b mut Builder<'w>,
    what: &'b dyn Fn() -> String,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = layout::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<layout::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_> {
    type Value = layout::Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, number or boolean")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<layout::Value, E> {
        Ok(layout::Value::Flag(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<layout::Value, E> {
        Ok(layout::Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<layout::Value, E> {
        Ok(i64::try_from(v).map_or(layout::Value::Float(v as f64), layout::Value::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<layout::Value, E> {
        Ok(layout::Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<layout::Value, E> {
        match Timestamp::in_text(v) {
            Some(t) => Ok(layout::Value::Time(t.0)),
            None => self.b.json_text(self.what, v).map(layout::Value::Text),
        }
    }
}

/// Where a map of values goes.
#[derive(Clone, Copy)]
enum Values {
    Attributes,
    Props,
}

/// A map of values (a profile's attributes, an event's props), written
/// as read and then put in key order; its value is how many it holds.
struct MapSeed<'b, 'w> {
    b: &'b mut Builder<'w>,
    into: Values,
    path: &'b dyn Fn() -> String,
}

impl<'de> DeserializeSeed<'de> for MapSeed<'_, '_> {
    type Value = u32;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u32, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MapSeed<'_, '_> {
    type Value = u32;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u32, A::Error> {
        let b = self.b;
        let start = b.out.props_len();
        while let Some(Str(key)) = map.next_key()? {
            let what = || format!("{}.{key}", (self.path)());
            let key = b.json_text(&what, &key)?;
            let value = map.next_value_seed(ValueSeed { b, what: &what })?;
            let record = layout::Attribute { key, value };
            match self.into {
                Values::Attributes => b.out.attribute(&record),
                Values::Props => b.out.prop(&record),
            }
        }
        Ok(match self.into {
            Values::Attributes => b.out.order_attributes(),
            Values::Props => b.out.order_props_from(start),
        })
    }
}

/// A profile's identities, written as read, then put in kind order; the
/// value is how many.
struct IdentitiesSeed<'b, 'w> {
    b: &'b mut Builder<'w>,
}

impl<'de> DeserializeSeed<'de> for IdentitiesSeed<'_, '_> {
    type Value = u32;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u32, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for IdentitiesSeed<'_, '_> {
    type Value = u32;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u32, A::Error> {
        while let Some(Str(kind)) = map.next_key()? {
            let what = || format!("profile.identities.{kind}");
            let Str(id) = map.next_value()?;
            let identity = layout::Identity {
                kind: self.b.json_text(&what, &kind)?,
                id: self.b.json_text(&what, &id)?,
            };
            self.b.out.identity(&identity);
        }
        Ok(self.b.out.order_identities())
    }
}

const EVENT: &[&str] = &["kind", "at", "channel", "amount_minor", "sku", "category", "props"];

/// An event's optional strings (absent or null is none).
const TEXTS: [&str; 3] = ["channel", "sku", "category"];

/// An event: its props written as read; its record is the value, for the
/// caller to add where it belongs.
struct EventSeed<'b, 'w> {
    b: &'b mut Builder<'w>,
    path: &'b dyn Fn() -> String,
}

impl<'de> DeserializeSeed<'de> for EventSeed<'_, '_> {
    type Value = layout::Event;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<layout::Event, D::Error> {
        d.deserialize_struct("Event", EVENT, self)
    }
}

impl<'de> Visitor<'de> for EventSeed<'_, '_> {
    type Value = layout::Event;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct Event")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<layout::Event, A::Error> {
        let (b, path) = (self.b, self.path);
        let (mut kind, mut at, mut amount_minor, mut props) = (None, None, None, None);
        // One slot per entry of `TEXTS`, filled once each.
        let mut texts: [Option<Option<u32>>; 3] = [None; 3];
        while let Some(Str(field)) = map.next_key()? {
            match &*field {
                "kind" => {
                    once(&kind, "kind")?;
                    let Str(s) = map.next_value()?;
                    kind = Some(b.json_text(&|| format!("{}.kind", path()), &s)?);
                }
                "at" => {
                    once(&at, "at")?;
                    at = Some(map.next_value::<Timestamp>()?.0);
                }
                "amount_minor" => {
                    once(&amount_minor, "amount_minor")?;
                    amount_minor = Some(map.next_value::<whole::Optional<i64>>()?.0);
                }
                field if let Some(slot) = TEXTS.iter().position(|t| *t == field) => {
                    let name = TEXTS[slot];
                    once(&texts[slot], name)?;
                    let text: Option<Str<'_>> = map.next_value()?;
                    texts[slot] = Some(
                        text.map(|Str(s)| b.json_text(&|| format!("{}.{name}", path()), &s))
                            .transpose()?,
                    );
                }
                "props" => {
                    once(&props, "props")?;
                    let start = b.out.props_len();
                    let len = map.next_value_seed(MapSeed {
                        b,
                        into: Values::Props,
                        path: &|| format!("{}.props", path()),
                    })?;
                    if len as usize > b.limits.props {
                        return Err(refused(InvalidInput(format!(
                            "{}.props has {len} entries; the limit is {}",
                            path(),
                            b.limits.props
                        ))));
                    }
                    props = Some(Span { start, len });
                }
                other => return Err(de::Error::unknown_field(other, EVENT)),
            }
        }
        let [channel, sku, category] = texts.map(Option::flatten);
        Ok(layout::Event {
            kind: kind.ok_or_else(|| de::Error::missing_field("kind"))?,
            at: at.ok_or_else(|| de::Error::missing_field("at"))?,
            channel,
            amount_minor: amount_minor.flatten(),
            sku,
            category,
            props: props.unwrap_or_default(),
        })
    }
}

/// A profile's events, each added as read, then put in time order; the
/// value is how many.
struct EventsSeed<'b, 'w> {
    b: &'b mut Builder<'w>,
}

impl<'de> DeserializeSeed<'de> for EventsSeed<'_, '_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EventsSeed<'_, '_> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut n = 0;
        loop {
            let path = || format!("profile.events[{n}]");
            let Some(event) = seq.next_element_seed(EventSeed { b: self.b, path: &path })? else {
                break;
            };
            self.b.out.event(&event);
            n += 1;
        }
        self.b.out.order_events();
        Ok(n)
    }
}

/// The previous decision, read as the model reads it (it is small).
struct PriorSeed;

impl<'de> DeserializeSeed<'de> for PriorSeed {
    type Value = Prior;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Prior, D::Error> {
        Prior::deserialize(Strict(d))
    }
}

const PROFILE: &[&str] = &["customer_id", "identities", "attributes", "events", "prior"];

struct ProfileSeed<'b, 'w> {
    b: &'b mut Builder<'w>,
}

impl<'de> Visitor<'de> for ProfileSeed<'_, '_> {
    type Value = Profiled;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct Profile")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Profiled, A::Error> {
        let b = self.b;
        let limits = b.limits;
        let (mut customer_id, mut identities, mut attributes, mut events, mut prior) = (None, None, None, None, None);
        while let Some(Str(field)) = map.next_key()? {
            match &*field {
                "customer_id" => {
                    once(&customer_id, "customer_id")?;
                    let Str(id) = map.next_value()?;
                    if id.is_empty() {
                        return Err(refused(InvalidInput("profile.customer_id is empty".into())));
                    }
                    let atom = b.json_text(&|| "profile.customer_id".into(), &id)?;
                    customer_id = Some((id.into_owned(), atom));
                }
                "identities" => {
                    once(&identities, "identities")?;
                    let n = map.next_value_seed(IdentitiesSeed { b })?;
                    count("profile.identities", n as usize, limits.identities).map_err(refused)?;
                    identities = Some(());
                }
                "attributes" => {
                    once(&attributes, "attributes")?;
                    let n = map.next_value_seed(MapSeed {
                        b,
                        into: Values::Attributes,
                        path: &|| "profile.attributes".into(),
                    })?;
                    count("profile.attributes", n as usize, limits.attributes).map_err(refused)?;
                    attributes = Some(());
                }
                "events" => {
                    once(&events, "events")?;
                    let n = map.next_value_seed(EventsSeed { b })?;
                    count("profile.events", n, limits.events).map_err(refused)?;
                    events = Some(());
                }
                "prior" => {
                    once(&prior, "prior")?;
                    let read = map.next_value_seed(PriorSeed)?;
                    count("profile.prior.tags", read.tags.len(), limits.prior_tags).map_err(refused)?;
                    for (i, tag) in read.tags.iter().enumerate() {
                        let what = || format!("profile.prior.tags[{i}]");
                        let tag = layout::TagKey {
                            group: b.json_text(&what, &tag.group)?,
                            name: b.json_text(&what, &tag.name)?,
                        };
                        b.out.prior_tag(&tag);
                    }
                    prior = Some(read.stage.map(stage_index));
                }
                other => return Err(de::Error::unknown_field(other, PROFILE)),
            }
        }
        let (customer_id, atom) = customer_id.ok_or_else(|| de::Error::missing_field("customer_id"))?;
        Ok(Profiled {
            customer_id,
            written: Written {
                customer_id: atom,
                prior_stage: prior.flatten(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use rulehost_layout::input::Input;
    use rulehost_model::{Event, Mode, Profile, Request, parse_json};

    use super::*;
    use crate::{Context, build, finish, resolved};

    fn content(frame: &[u8]) -> String {
        resolved(frame).expect("a frame")
    }

    const CONTEXT: Context = Context {
        now: Timestamp(1_773_108_000_000),
        seed: 7,
        tz_offset_minutes: 480,
        mode: Mode::Live,
    };

    /// The frame through the model (the reference), or its refusal.
    fn through_model(profile: &str, trigger: Option<&str>, limits: &InputLimits) -> Result<String, String> {
        let profile: Profile = parse_json(profile.as_bytes()).map_err(|e| e.to_string())?;
        let trigger: Option<Event> = trigger
            .map(|t| parse_json(t.as_bytes()))
            .transpose()
            .map_err(|e| e.to_string())?;
        let request = Request {
            now: CONTEXT.now,
            tz_offset_minutes: CONTEXT.tz_offset_minutes,
            seed: CONTEXT.seed,
            mode: CONTEXT.mode,
            trigger,
            profile,
            offers: Vec::new().into(),
        };
        build(&request, limits).map(|f| content(&f)).map_err(|e| e.to_string())
    }

    /// The frame read straight from the JSON, or its refusal.
    fn straight(profile_json: &str, trigger_json: Option<&str>, limits: &InputLimits) -> Result<String, String> {
        let mut writer = InputWriter::default();
        let read = profile(profile_json, limits, &mut writer).map_err(|e| e.to_string())?;
        if let Some(t) = trigger_json {
            trigger(t, limits, &mut writer).map_err(|e| e.to_string())?;
        }
        let mut out = Vec::new();
        finish(&writer, &CONTEXT, read.written, &mut out).map_err(|e| e.to_string())?;
        assert_eq!(
            Input::read(&out).map(|i| i.text(i.header.customer_id).to_owned()).ok(),
            Some(read.customer_id)
        );
        Ok(content(&out))
    }

    fn same(profile: &str, trigger: Option<&str>) -> String {
        let limits = InputLimits::default();
        let expected = through_model(profile, trigger, &limits).unwrap_or_else(|e| panic!("{profile}: {e}"));
        assert_eq!(straight(profile, trigger, &limits), Ok(expected.clone()), "{profile}");
        expected
    }

    fn both_refuse(profile: &str, trigger: Option<&str>, limits: &InputLimits) -> String {
        let model = through_model(profile, trigger, limits);
        let read = straight(profile, trigger, limits);
        assert!(model.is_err(), "the model took {profile}");
        read.expect_err(&format!("read {profile} straight, which the model refuses ({model:?})"))
    }

    #[test]
    fn a_profile_reads_into_the_frame_the_model_writes() {
        same(r#"{"customer_id":"c-1"}"#, None);
        let written = same(
            r#"{"customer_id":"c-1","identities":{"wechat_openid":"o-1","phone":"138"},
                "attributes":{"tier":"gold","age":31,"ratio":0.5,"vip":true,"joined":"2026-01-02T03:04:05+08:00","big":18446744073709551615},
                "events":[{"kind":"purchase","at":"2026-03-01T10:00:00Z","channel":"store","amount_minor":2850.0,"sku":"latte","category":"coffee","props":{"size":"L","cups":2}},
                          {"kind":"visit","at":"2026-03-02T10:00:00Z","channel":null,"amount_minor":null}],
                "prior":{"tags":[{"group":"rfm","name":"champions","reason":"r","rule_id":"x"}],"stage":"growth"}}"#,
            Some(r#"{"kind":"visit","at":"2026-03-10T10:00:00+08:00","props":{"b":1,"a":2}}"#),
        );
        assert!(
            written.contains(r#"("phone", "138"), ("wechat_openid", "o-1")"#),
            "{written}"
        );
        assert!(written.contains("Some(2850)"), "{written}");
        assert!(written.contains(r#"("joined", "Time(1767294245000)")"#), "{written}");
    }

    #[test]
    fn maps_are_put_in_key_order_and_a_later_duplicate_wins_as_in_the_model() {
        let written = same(
            r#"{"customer_id":"c","identities":{"b":"1","a":"2","b":"3"},
                "attributes":{"z":1,"a":2,"m":3,"a":4,"\u00e9":5,"e\u0301":6},
                "events":[{"kind":"k","at":"2026-03-01T10:00:00Z","props":{"y":1,"x":2,"y":3}}]}"#,
            None,
        );
        assert!(written.contains(r#"[("a", "2"), ("b", "3")]"#), "{written}");
        assert!(
            written.contains(
                r#"("a", "Int(4)"), ("e\u{301}", "Int(6)"), ("m", "Int(3)"), ("z", "Int(1)"), ("é", "Int(5)")"#
            ),
            "{written}"
        );
    }

    #[test]
    fn events_are_put_in_time_order_keeping_the_order_of_equal_times() {
        let written = same(
            r#"{"customer_id":"c","events":[
                {"kind":"third","at":"2026-03-03T00:00:00Z","props":{"n":3}},
                {"kind":"first","at":"2026-03-01T00:00:00Z"},
                {"kind":"second-a","at":"2026-03-02T00:00:00Z","props":{"n":1}},
                {"kind":"second-b","at":"2026-03-02T08:00:00+08:00","props":{"n":2}}]}"#,
            None,
        );
        let order: Vec<&str> = ["first", "second-a", "second-b", "third"]
            .into_iter()
            .filter(|k| written.contains(&format!("\"{k} ")))
            .collect();
        assert_eq!(order.len(), 4, "{written}");
        let at = |k: &str| written.find(&format!("\"{k} ")).unwrap();
        assert!(
            at("first") < at("second-a") && at("second-a") < at("second-b") && at("second-b") < at("third"),
            "{written}"
        );
    }

    #[test]
    fn what_the_model_refuses_is_refused() {
        let limits = InputLimits::default();
        for (profile, trigger, says) in [
            (r#"[]"#, None, "invalid type: sequence"),
            (
                r#"{"customer_id":"c","events":[["k","2026-03-01T00:00:00Z"]]}"#,
                None,
                "invalid type: sequence",
            ),
            (r#"{"customer_id":"c","prior":[]}"#, None, "sequence"),
            (r#"{"customer_id":"c","evnets":[]}"#, None, "unknown field `evnets`"),
            (
                r#"{"customer_id":"c","events":[{"kind":"k","at":"2026-03-01T00:00:00Z","chanel":"x"}]}"#,
                None,
                "unknown field `chanel`",
            ),
            (
                r#"{"customer_id":"c","customer_id":"d"}"#,
                None,
                "duplicate field `customer_id`",
            ),
            (
                r#"{"customer_id":"c","events":[{"kind":"k","kind":"j","at":"2026-03-01T00:00:00Z"}]}"#,
                None,
                "duplicate field `kind`",
            ),
            (r#"{"identities":{}}"#, None, "missing field `customer_id`"),
            (
                r#"{"customer_id":"c","events":[{"kind":"k"}]}"#,
                None,
                "missing field `at`",
            ),
            (
                r#"{"customer_id":"c","events":[{"at":"2026-03-01T00:00:00Z"}]}"#,
                None,
                "missing field `kind`",
            ),
            (r#"{"customer_id":""}"#, None, "profile.customer_id is empty"),
            (
                r#"{"customer_id":"c","attributes":{"a":null}}"#,
                None,
                "invalid type: null",
            ),
            (
                r#"{"customer_id":"c","attributes":{"a":[1]}}"#,
                None,
                "invalid type: sequence",
            ),
            (
                r#"{"customer_id":"c","attributes":{"a":{"b":1}}}"#,
                None,
                "invalid type: map",
            ),
            (
                r#"{"customer_id":"c","identities":{"a":1}}"#,
                None,
                "invalid type: integer",
            ),
            (r#"{"customer_id":"c","events":null}"#, None, "invalid type: null"),
            (
                r#"{"customer_id":"c","events":[{"kind":"k","at":"yesterday"}]}"#,
                None,
                "RFC 3339",
            ),
            (
                r#"{"customer_id":"c","events":[{"kind":"k","at":"2026-03-01T00:00:00Z","amount_minor":5.5}]}"#,
                None,
                "5.5",
            ),
            (
                r#"{"customer_id":"c","prior":{"stage":"teen"}}"#,
                None,
                "unknown variant `teen`",
            ),
            (r#"{"customer_id":"c"} x"#, None, "trailing characters"),
            (r#"{"customer_id":"c"}"#, Some(r#"{"kind":"k"}"#), "missing field `at`"),
            (r#"{"customer_id":"c"}"#, Some(r#"[]"#), "invalid type: sequence"),
        ] {
            let error = both_refuse(profile, trigger, &limits);
            assert!(error.contains(says), "{profile}: {error}");
        }
    }

    #[test]
    fn limits_refuse_what_the_model_path_refuses() {
        let limits = InputLimits {
            events: 2,
            attributes: 2,
            identities: 1,
            props: 1,
            prior_tags: 1,
            string_chars: 8,
            ..InputLimits::default()
        };
        let event = r#"{"kind":"k","at":"2026-03-01T00:00:00Z"}"#;
        for (profile, trigger, says) in [
            (
                format!(r#"{{"customer_id":"c","events":[{event},{event},{event}]}}"#),
                None,
                "profile.events has 3 entries; the limit is 2",
            ),
            (
                r#"{"customer_id":"c","attributes":{"a":1,"b":2,"c":3}}"#.into(),
                None,
                "profile.attributes has 3 entries",
            ),
            (
                r#"{"customer_id":"c","identities":{"a":"1","b":"2"}}"#.into(),
                None,
                "profile.identities has 2 entries",
            ),
            (
                r#"{"customer_id":"c","prior":{"tags":[{"group":"g","name":"a"},{"group":"g","name":"b"}]}}"#.into(),
                None,
                "profile.prior.tags has 2 entries",
            ),
            (
                r#"{"customer_id":"c","events":[{"kind":"k","at":"2026-03-01T00:00:00Z","props":{"a":1,"b":2}}]}"#
                    .into(),
                None,
                "profile.events[0].props has 2 entries",
            ),
            (
                r#"{"customer_id":"c"}"#.into(),
                Some(r#"{"kind":"k","at":"2026-03-01T00:00:00Z","props":{"a":1,"b":2}}"#),
                "trigger.props has 2 entries",
            ),
            (
                r#"{"customer_id":"c","attributes":{"a":"nine chars"}}"#.into(),
                None,
                "profile.attributes.a is 10 characters long",
            ),
            (
                r#"{"customer_id":"c","events":[{"kind":"purchase!","at":"2026-03-01T00:00:00Z"}]}"#.into(),
                None,
                "profile.events[0].kind is 9 characters",
            ),
        ] {
            let error = both_refuse(&profile, trigger, &limits);
            assert!(error.contains(says), "{profile}: {error}");
        }
        // Duplicates count once, as in the model's map: within the limit.
        let profile = r#"{"customer_id":"c","attributes":{"a":1,"b":2,"a":3}}"#;
        assert_eq!(straight(profile, None, &limits), through_model(profile, None, &limits));
        assert!(straight(profile, None, &limits).is_ok());
    }
}
