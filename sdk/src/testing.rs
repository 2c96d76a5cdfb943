//! Building inputs in plain Rust for unit tests of plugin logic.
//!
//! [`TestInput`] interns strings exactly as the host does and keeps events
//! sorted by time, so the views a test reads are the views the plugin reads
//! inside the sandbox.
//!
//! ```
//! use rulehost_sdk::testing::{TestEvent, TestInput, TestOffer};
//!
//! let input = TestInput::at("2026-03-07T10:00:00+08:00")
//!     .customer("c-42")
//!     .attr("member_level", "gold")
//!     .push_event(
//!         TestEvent::new("purchase", "2026-03-01T09:00:00+08:00")
//!             .amount(3_200)
//!             .category("latte")
//!             .channel("store"),
//!     )
//!     .offer(TestOffer::new("welcome", "new_customer_coupon").channels(["sms"]));
//! let profile = input.profile();
//! assert_eq!(profile.customer_id(), "c-42");
//! assert_eq!(profile.attr("member_level").and_then(|v| v.as_str()), Some("gold"));
//! assert_eq!(profile.events().next().and_then(|e| e.category()), Some("latte"));
//! assert_eq!(input.offers().get("welcome").map(|o| o.kind()), Some("new_customer_coupon"));
//! ```

use std::collections::HashMap;

use crate::output::Stage;
use crate::session::Ctx;
use crate::time::Timestamp;
use crate::view::{Offers, Profile, Strings};
use crate::wire;

/// A value for [`TestInput::attr`] and [`TestEvent::prop`].
#[derive(Debug, Clone, PartialEq)]
pub enum TestValue {
    /// Text.
    Text(String),
    /// A whole number.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// A boolean.
    Flag(bool),
    /// An instant.
    Time(Timestamp),
}

impl From<&str> for TestValue {
    fn from(v: &str) -> Self {
        TestValue::Text(v.to_owned())
    }
}
impl From<i64> for TestValue {
    fn from(v: i64) -> Self {
        TestValue::Int(v)
    }
}
impl From<f64> for TestValue {
    fn from(v: f64) -> Self {
        TestValue::Float(v)
    }
}
impl From<bool> for TestValue {
    fn from(v: bool) -> Self {
        TestValue::Flag(v)
    }
}
impl From<Timestamp> for TestValue {
    fn from(v: Timestamp) -> Self {
        TestValue::Time(v)
    }
}

/// An event to add with [`TestInput::push_event`].
#[derive(Debug, Clone)]
pub struct TestEvent {
    kind: String,
    at: Timestamp,
    channel: Option<String>,
    amount_minor: Option<i64>,
    sku: Option<String>,
    category: Option<String>,
    props: Vec<(String, TestValue)>,
}

impl TestEvent {
    /// An event of `kind` at an RFC 3339 time.
    ///
    /// # Panics
    /// If `at` is not RFC 3339 (a test bug).
    pub fn new(kind: &str, at: &str) -> Self {
        Self::at(kind, parse(at))
    }

    /// An event of `kind` at an instant.
    pub fn at(kind: &str, at: Timestamp) -> Self {
        Self {
            kind: kind.to_owned(),
            at,
            channel: None,
            amount_minor: None,
            sku: None,
            category: None,
            props: Vec::new(),
        }
    }

    /// Sets the channel.
    pub fn channel(mut self, channel: &str) -> Self {
        self.channel = Some(channel.to_owned());
        self
    }

    /// Sets the amount in minor units.
    pub fn amount(mut self, amount_minor: i64) -> Self {
        self.amount_minor = Some(amount_minor);
        self
    }

    /// Sets the SKU.
    pub fn sku(mut self, sku: &str) -> Self {
        self.sku = Some(sku.to_owned());
        self
    }

    /// Sets the category.
    pub fn category(mut self, category: &str) -> Self {
        self.category = Some(category.to_owned());
        self
    }

    /// Adds a property.
    pub fn prop(mut self, key: &str, value: impl Into<TestValue>) -> Self {
        self.props.push((key.to_owned(), value.into()));
        self
    }
}

/// An offer to add with [`TestInput::offer`].
#[derive(Debug, Clone)]
pub struct TestOffer {
    id: String,
    kind: String,
    channels: Vec<String>,
    value_minor: i64,
    starts_at: Option<Timestamp>,
    ends_at: Option<Timestamp>,
    priority: i32,
}

impl TestOffer {
    /// An offer with an id and kind, no channels, value 0, priority 0.
    pub fn new(id: &str, kind: &str) -> Self {
        Self {
            id: id.to_owned(),
            kind: kind.to_owned(),
            channels: Vec::new(),
            value_minor: 0,
            starts_at: None,
            ends_at: None,
            priority: 0,
        }
    }

    /// Sets the channels.
    pub fn channels<'c>(mut self, channels: impl IntoIterator<Item = &'c str>) -> Self {
        self.channels = channels.into_iter().map(str::to_owned).collect();
        self
    }

    /// Sets the value in minor units.
    pub fn value(mut self, value_minor: i64) -> Self {
        self.value_minor = value_minor;
        self
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the validity window from RFC 3339 times.
    pub fn valid(mut self, starts_at: Option<&str>, ends_at: Option<&str>) -> Self {
        self.starts_at = starts_at.map(parse);
        self.ends_at = ends_at.map(parse);
        self
    }
}

/// An input under construction, with the decision's context.
pub struct TestInput {
    ctx: wire::Context,
    text: String,
    ends: Vec<u32>,
    index: HashMap<String, u32>,
    profile: wire::Profile,
    offers: Vec<wire::Offer>,
    offer_channels: Vec<u32>,
}

fn parse(at: &str) -> Timestamp {
    Timestamp::parse_rfc3339(at).unwrap_or_else(|| panic!("not an RFC 3339 time: {at:?}"))
}

impl TestInput {
    /// An empty profile (customer "test-customer") decided at an RFC 3339
    /// time, UTC offset 0.
    ///
    /// # Panics
    /// If `now` is not RFC 3339 (a test bug).
    pub fn at(now: &str) -> Self {
        let mut input = Self {
            ctx: wire::Context {
                now: parse(now).millis(),
                tz_offset_minutes: 0,
                seed: 0,
                mode: wire::Mode::Live,
                trigger: None,
            },
            text: String::new(),
            ends: Vec::new(),
            index: HashMap::new(),
            profile: wire::Profile {
                customer_id: 0,
                identities: Vec::new(),
                attributes: Vec::new(),
                events: Vec::new(),
                props: Vec::new(),
                prior_tags: Vec::new(),
                prior_stage: None,
            },
            offers: Vec::new(),
            offer_channels: Vec::new(),
        };
        input.profile.customer_id = input.intern("test-customer");
        input
    }

    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&atom) = self.index.get(s) {
            return atom;
        }
        self.text.push_str(s);
        let atom = self.ends.len() as u32;
        self.ends.push(self.text.len() as u32);
        self.index.insert(s.to_owned(), atom);
        atom
    }

    fn value(&mut self, value: TestValue) -> wire::Value {
        match value {
            TestValue::Text(s) => wire::Value::Text(self.intern(&s)),
            TestValue::Int(i) => wire::Value::Int(i),
            TestValue::Float(f) => wire::Value::Float(f),
            TestValue::Flag(b) => wire::Value::Flag(b),
            TestValue::Time(t) => wire::Value::Time(t.millis()),
        }
    }

    /// Sets the tenant's UTC offset in minutes.
    pub fn tz(mut self, tz_offset_minutes: i32) -> Self {
        self.ctx.tz_offset_minutes = tz_offset_minutes;
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.ctx.seed = seed;
        self
    }

    /// Sets the customer id.
    pub fn customer(mut self, id: &str) -> Self {
        self.profile.customer_id = self.intern(id);
        self
    }

    /// Adds an identity.
    pub fn identity(mut self, kind: &str, id: &str) -> Self {
        let identity = wire::Identity {
            kind: self.intern(kind),
            id: self.intern(id),
        };
        self.profile.identities.push(identity);
        self
    }

    /// Adds an attribute.
    pub fn attr(mut self, key: &str, value: impl Into<TestValue>) -> Self {
        let attribute = wire::Attribute {
            key: self.intern(key),
            value: self.value(value.into()),
        };
        self.profile.attributes.push(attribute);
        self
    }

    fn wire_event(&mut self, event: TestEvent) -> wire::Event {
        let start = self.profile.props.len() as u32;
        for (key, value) in event.props {
            let attribute = wire::Attribute {
                key: self.intern(&key),
                value: self.value(value),
            };
            self.profile.props.push(attribute);
        }
        wire::Event {
            kind: self.intern(&event.kind),
            at: event.at.millis(),
            channel: event.channel.map(|c| self.intern(&c)),
            amount_minor: event.amount_minor,
            sku: event.sku.map(|s| self.intern(&s)),
            category: event.category.map(|c| self.intern(&c)),
            props: wire::Span {
                start,
                len: self.profile.props.len() as u32 - start,
            },
        }
    }

    /// Adds an event, keeping events sorted by time.
    pub fn push_event(mut self, event: TestEvent) -> Self {
        let event = self.wire_event(event);
        let at = self.profile.events.partition_point(|e| e.at <= event.at);
        self.profile.events.insert(at, event);
        self
    }

    /// Adds a bare event of `kind` at an RFC 3339 time.
    pub fn event(self, kind: &str, at: &str) -> Self {
        self.push_event(TestEvent::new(kind, at))
    }

    /// Adds a purchase of `amount_minor` at an RFC 3339 time.
    pub fn purchase(self, at: &str, amount_minor: i64) -> Self {
        self.push_event(TestEvent::new(crate::kinds::PURCHASE, at).amount(amount_minor))
    }

    /// Adds a purchase of `amount_minor` at an instant.
    pub fn purchase_at(self, at: Timestamp, amount_minor: i64) -> Self {
        self.push_event(TestEvent::at(crate::kinds::PURCHASE, at).amount(amount_minor))
    }

    /// Adds a refund of `amount_minor` at an RFC 3339 time.
    pub fn refund(self, at: &str, amount_minor: i64) -> Self {
        self.push_event(TestEvent::new(crate::kinds::REFUND, at).amount(amount_minor))
    }

    /// Sets the event that triggered the decision.
    pub fn trigger(mut self, event: TestEvent) -> Self {
        self.ctx.trigger = Some(self.wire_event(event));
        self
    }

    /// Adds a tag from the previous decision.
    pub fn prior_tag(mut self, group: &str, name: &str) -> Self {
        let tag = wire::TagKey {
            group: self.intern(group),
            name: self.intern(name),
        };
        self.profile.prior_tags.push(tag);
        self
    }

    /// Sets the stage from the previous decision.
    pub fn prior_stage(mut self, stage: Stage) -> Self {
        self.profile.prior_stage = Some(stage.to_wire());
        self
    }

    /// Adds an offer to the catalog.
    pub fn offer(mut self, offer: TestOffer) -> Self {
        let start = self.offer_channels.len() as u32;
        for channel in &offer.channels {
            let atom = self.intern(channel);
            self.offer_channels.push(atom);
        }
        let wire_offer = wire::Offer {
            id: self.intern(&offer.id),
            kind: self.intern(&offer.kind),
            channels: wire::Span {
                start,
                len: offer.channels.len() as u32,
            },
            value_minor: offer.value_minor,
            starts_at: offer.starts_at.map(Timestamp::millis),
            ends_at: offer.ends_at.map(Timestamp::millis),
            priority: offer.priority,
        };
        self.offers.push(wire_offer);
        self
    }

    /// The decision's time.
    pub fn now(&self) -> Timestamp {
        Timestamp(self.ctx.now)
    }

    fn strings(&self) -> Strings<'_> {
        Strings::new(&self.text, &self.ends)
    }

    /// The profile as a plugin sees it.
    pub fn profile(&self) -> Profile<'_> {
        Profile::new(&self.profile, self.strings(), self.now())
    }

    /// The context as a plugin sees it.
    pub fn ctx(&self) -> Ctx<'_> {
        Ctx::new(&self.ctx, self.strings(), &self.profile.props)
    }

    /// The offer catalog as a plugin sees it.
    pub fn offers(&self) -> Offers<'_> {
        Offers::new_parts(&self.offers, &self.offer_channels, self.strings())
    }

    /// The context and input in contract form, e.g. for
    /// [`native::Session`](crate::native::Session).
    pub fn into_wire(self) -> (wire::Context, wire::Input) {
        let input = wire::Input {
            strings: wire::StringTable {
                bytes: self.text.into_bytes(),
                ends: self.ends,
            },
            profile: self.profile,
            offers: self.offers,
            offer_channels: self.offer_channels,
        };
        (self.ctx, input)
    }
}
