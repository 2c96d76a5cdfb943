//! Borrowed, copy-free views over the input the host sends.
//!
//! The contract sends every string once, in a string table, and refers to it
//! by index (an atom). These views turn atoms back into `&str` on demand and
//! expose events, attributes and offers as iterators, so a plugin reads a
//! profile as if it were ordinary Rust data while nothing is copied.

use rulehost_layout::{self as layout, Records};

use crate::time::Timestamp;
use crate::{Error, Stage};

/// The strings of one frame, checked when the frame was read.
#[derive(Clone, Copy)]
pub(crate) struct Strings<'a>(layout::Strings<'a>);

impl<'a> Strings<'a> {
    #[inline]
    pub(crate) fn new(strings: layout::Strings<'a>) -> Self {
        Self(strings)
    }

    /// The string behind an atom. An atom out of range reads as "" rather
    /// than panicking: a broken host must not crash the plugin.
    #[inline]
    pub(crate) fn get(&self, atom: u32) -> &'a str {
        self.0.get(atom).unwrap_or_default()
    }
}

/// A typed attribute or property value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// A string.
    Text(&'a str),
    /// A whole number.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// A boolean.
    Flag(bool),
    /// An instant (JSON strings in RFC 3339 date-time form arrive as times).
    Time(Timestamp),
}

impl<'a> Value<'a> {
    fn from_layout(value: layout::Value, strings: &Strings<'a>) -> Self {
        match value {
            layout::Value::Text(atom) => Value::Text(strings.get(atom)),
            layout::Value::Int(i) => Value::Int(i),
            layout::Value::Float(f) => Value::Float(f),
            layout::Value::Flag(b) => Value::Flag(b),
            layout::Value::Time(t) => Value::Time(Timestamp(t)),
        }
    }

    /// The text, if this is text.
    #[inline]
    pub fn as_str(&self) -> Option<&'a str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The number as an integer, if this is an integer (or a float with no
    /// fraction).
    #[inline]
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(f as i64),
            _ => None,
        }
    }

    /// The number as a float, if this is a number.
    #[inline]
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Int(i) => Some(i as f64),
            Value::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The boolean, if this is a flag.
    #[inline]
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Flag(b) => Some(b),
            _ => None,
        }
    }

    /// The instant, if this is a time.
    #[inline]
    pub fn as_time(&self) -> Option<Timestamp> {
        match *self {
            Value::Time(t) => Some(t),
            _ => None,
        }
    }
}

/// A key and its value.
pub type Attribute<'a> = (&'a str, Value<'a>);

fn attributes<'a>(
    list: Records<'a, layout::Attribute>,
    strings: Strings<'a>,
) -> impl ExactSizeIterator<Item = Attribute<'a>> + Clone + 'a {
    list.iter()
        .map(move |a| (strings.get(a.key), Value::from_layout(a.value, &strings)))
}

/// One thing the customer did.
#[derive(Clone, Copy)]
pub struct Event<'a> {
    raw: layout::EventRef<'a>,
    /// Every event's props: this one's are found only when asked for.
    all_props: Records<'a, layout::Attribute>,
    strings: Strings<'a>,
}

impl<'a> Event<'a> {
    #[inline]
    pub(crate) fn new(
        raw: layout::EventRef<'a>,
        all_props: Records<'a, layout::Attribute>,
        strings: Strings<'a>,
    ) -> Self {
        Self {
            raw,
            all_props,
            strings,
        }
    }

    /// The kind, e.g. "purchase" (see [`kinds`](crate::kinds)).
    #[inline]
    pub fn kind(&self) -> &'a str {
        self.strings.get(self.raw.kind())
    }

    /// Whether the kind is `kind`.
    #[inline]
    pub fn is(&self, kind: &str) -> bool {
        self.kind() == kind
    }

    /// When it happened.
    #[inline]
    pub fn at(&self) -> Timestamp {
        Timestamp(self.raw.at())
    }

    /// The channel it happened on, e.g. "wecom_1v1" or "store".
    #[inline]
    pub fn channel(&self) -> Option<&'a str> {
        self.raw.channel().map(|a| self.strings.get(a))
    }

    /// The amount of money involved, in minor units.
    #[inline]
    pub fn amount_minor(&self) -> Option<i64> {
        self.raw.amount_minor()
    }

    /// The product's SKU.
    #[inline]
    pub fn sku(&self) -> Option<&'a str> {
        self.raw.sku().map(|a| self.strings.get(a))
    }

    /// The product category.
    #[inline]
    pub fn category(&self) -> Option<&'a str> {
        self.raw.category().map(|a| self.strings.get(a))
    }

    /// All properties of the event.
    #[inline]
    pub fn props(&self) -> impl ExactSizeIterator<Item = Attribute<'a>> + 'a {
        attributes(self.all_props.span(self.raw.props()), self.strings)
    }

    /// One property by key.
    #[inline]
    pub fn prop(&self, key: &str) -> Option<Value<'a>> {
        self.props().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

impl std::fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("kind", &self.kind())
            .field("at", &self.at())
            .field("channel", &self.channel())
            .field("amount_minor", &self.amount_minor())
            .field("category", &self.category())
            .finish()
    }
}

/// A tag by group and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagKey<'a> {
    /// The tag group, e.g. "rfm-segment".
    pub group: &'a str,
    /// The tag name within its group, e.g. "champions".
    pub name: &'a str,
}

/// The customer as the host knows them, at the decision's `now`.
#[derive(Clone, Copy)]
pub struct Profile<'a> {
    raw: layout::input::Input<'a>,
    strings: Strings<'a>,
    /// Events at or before `now`: the host sends events sorted by time, so
    /// this is a prefix of all events.
    past: usize,
}

impl<'a> Profile<'a> {
    #[inline]
    pub(crate) fn new(raw: layout::input::Input<'a>) -> Self {
        let now = raw.header.now;
        let past = raw.events.partition_point(|e| e.at() <= now);
        Self {
            raw,
            strings: Strings::new(raw.strings),
            past,
        }
    }

    /// The customer's id.
    #[inline]
    pub fn customer_id(&self) -> &'a str {
        self.strings.get(self.raw.header.customer_id)
    }

    /// The customer's identities as (kind, id), e.g. ("wechat_openid", "o-1").
    #[inline]
    pub fn identities(&self) -> impl ExactSizeIterator<Item = (&'a str, &'a str)> + 'a {
        let strings = self.strings;
        self.raw
            .identities
            .iter()
            .map(move |i| (strings.get(i.kind), strings.get(i.id)))
    }

    /// One identity by kind.
    #[inline]
    pub fn identity(&self, kind: &str) -> Option<&'a str> {
        self.identities().find(|(k, _)| *k == kind).map(|(_, id)| id)
    }

    /// All attributes.
    #[inline]
    pub fn attributes(&self) -> impl ExactSizeIterator<Item = Attribute<'a>> + 'a {
        attributes(self.raw.attributes, self.strings)
    }

    /// One attribute by key.
    #[inline]
    pub fn attr(&self, key: &str) -> Option<Value<'a>> {
        self.attributes().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Events up to and including `now`, oldest first. Events dated after
    /// `now` (clock skew, scheduled orders) are left out; see
    /// [`Profile::all_events`].
    #[inline]
    pub fn events(&self) -> impl DoubleEndedIterator<Item = Event<'a>> + ExactSizeIterator + Clone + 'a {
        self.event_slice(self.raw.events.span(layout::Span {
            start: 0,
            len: self.past as u32,
        }))
    }

    /// Every event the host sent, including any dated after `now`.
    #[inline]
    pub fn all_events(&self) -> impl DoubleEndedIterator<Item = Event<'a>> + ExactSizeIterator + Clone + 'a {
        self.event_slice(self.raw.events)
    }

    fn event_slice(
        &self,
        events: Records<'a, layout::Event>,
    ) -> impl DoubleEndedIterator<Item = Event<'a>> + ExactSizeIterator + Clone + 'a {
        let (strings, props) = (self.strings, self.raw.props);
        events.refs().map(move |e| Event::new(e, props, strings))
    }

    /// Past events of one kind, oldest first.
    #[inline]
    pub fn events_of<'k>(&self, kind: &'k str) -> impl DoubleEndedIterator<Item = Event<'a>> + Clone + 'k
    where
        'a: 'k,
    {
        self.events().filter(move |e| e.is(kind))
    }

    /// Tags from the customer's previous decision.
    #[inline]
    pub fn prior_tags(&self) -> impl ExactSizeIterator<Item = TagKey<'a>> + 'a {
        let strings = self.strings;
        self.raw.prior_tags.iter().map(move |t| TagKey {
            group: strings.get(t.group),
            name: strings.get(t.name),
        })
    }

    /// The stage from the customer's previous decision.
    #[inline]
    pub fn prior_stage(&self) -> Option<Stage> {
        self.raw.header.prior_stage.and_then(Stage::from_index)
    }
}

impl std::fmt::Debug for Profile<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("customer_id", &self.customer_id())
            .field("events", &self.raw.events.len())
            .field("attributes", &self.raw.attributes.len())
            .finish()
    }
}

/// One offer from the tenant's catalog.
#[derive(Clone, Copy)]
pub struct Offer<'a> {
    raw: layout::Offer,
    channels: Records<'a, u32>,
    strings: Strings<'a>,
}

impl<'a> Offer<'a> {
    /// The offer's id, used in proposals.
    #[inline]
    pub fn id(&self) -> &'a str {
        self.strings.get(self.raw.id)
    }

    /// The offer's kind, e.g. "win_back_coupon" (each brand names its own).
    #[inline]
    pub fn kind(&self) -> &'a str {
        self.strings.get(self.raw.kind)
    }

    /// The channels it may be sent on, in the catalog's order.
    #[inline]
    pub fn channels(&self) -> impl ExactSizeIterator<Item = &'a str> + Clone + 'a {
        let strings = self.strings;
        self.channels.iter().map(move |a| strings.get(a))
    }

    /// Whether it may be sent on `channel`.
    #[inline]
    pub fn has_channel(&self, channel: &str) -> bool {
        self.channels().any(|c| c == channel)
    }

    /// Its value to the customer in minor units (a coupon's face value).
    #[inline]
    pub fn value_minor(&self) -> i64 {
        self.raw.value_minor
    }

    /// When it becomes valid.
    #[inline]
    pub fn starts_at(&self) -> Option<Timestamp> {
        self.raw.starts_at.map(Timestamp)
    }

    /// When it stops being valid (exclusive).
    #[inline]
    pub fn ends_at(&self) -> Option<Timestamp> {
        self.raw.ends_at.map(Timestamp)
    }

    /// The catalog's priority: higher goes first.
    #[inline]
    pub fn priority(&self) -> i32 {
        self.raw.priority
    }

    /// The channel to send this offer on for `profile`: the channel of the
    /// customer's most recent event that has one, if the offer allows it
    /// (they are active there), else the offer's first channel. `None` if
    /// the offer has no channels.
    #[inline]
    pub fn channel_for(&self, profile: &Profile<'a>) -> Option<ChannelChoice<'a>> {
        match profile.events().rev().find_map(|e| e.channel()) {
            Some(channel) if self.has_channel(channel) => Some(ChannelChoice {
                channel,
                why: "last active there",
            }),
            _ => self.channels().next().map(|channel| ChannelChoice {
                channel,
                why: "the offer's first channel",
            }),
        }
    }

    /// Whether `at` lies in the validity window `[starts_at, ends_at)`.
    #[inline]
    pub fn is_valid_at(&self, at: Timestamp) -> bool {
        self.starts_at().is_none_or(|s| s <= at) && self.ends_at().is_none_or(|e| at < e)
    }
}

impl std::fmt::Debug for Offer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Offer")
            .field("id", &self.id())
            .field("kind", &self.kind())
            .field("priority", &self.priority())
            .finish()
    }
}

/// A channel picked for an offer, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelChoice<'a> {
    /// The channel.
    pub channel: &'a str,
    /// Why it was picked, for the proposal's reason.
    pub why: &'static str,
}

/// The tenant's offer catalog.
#[derive(Clone, Copy)]
pub struct Offers<'a> {
    list: Records<'a, layout::Offer>,
    channels: Records<'a, u32>,
    strings: Strings<'a>,
}

impl<'a> Offers<'a> {
    #[inline]
    pub(crate) fn new(input: &layout::input::Input<'a>) -> Self {
        Self {
            list: input.offers,
            channels: input.offer_channels,
            strings: Strings::new(input.strings),
        }
    }

    /// Every offer, in catalog order.
    #[inline]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Offer<'a>> + Clone + 'a {
        let (channels, strings) = (self.channels, self.strings);
        self.list.iter().map(move |raw| Offer {
            raw,
            channels: channels.span(raw.channels),
            strings,
        })
    }

    /// The number of offers.
    #[inline]
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether the catalog is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// One offer by id.
    #[inline]
    pub fn get(&self, id: &str) -> Option<Offer<'a>> {
        self.iter().find(|o| o.id() == id)
    }

    /// The best offer of `kind` valid at `at`: highest priority, then lowest
    /// id, so the choice never depends on catalog order.
    #[inline]
    pub fn best_of_kind(&self, kind: &str, at: Timestamp) -> Option<Offer<'a>> {
        self.iter()
            .filter(|o| o.kind() == kind && o.is_valid_at(at))
            .max_by(|a, b| a.priority().cmp(&b.priority()).then_with(|| b.id().cmp(a.id())))
    }
}

/// What earlier stages of the pipeline concluded: every plugin's tags, the
/// scores so far and the stage so far.
#[derive(Clone, Copy)]
pub struct Findings<'a> {
    raw: layout::findings::Findings<'a>,
    strings: Strings<'a>,
}

impl<'a> Findings<'a> {
    /// Reads a findings frame from the host, checked as untrusted bytes.
    #[inline]
    pub(crate) fn read(frame: &'a [u8]) -> Result<Self, Error> {
        let raw = layout::findings::Findings::read(frame)
            .map_err(|e| Error::new("invalid_input", format!("the host sent findings that do not read: {e}")))?;
        Ok(Self {
            raw,
            strings: Strings::new(raw.strings),
        })
    }

    /// All tags so far.
    #[inline]
    pub fn tags(&self) -> impl ExactSizeIterator<Item = TagKey<'a>> + 'a {
        let strings = self.strings;
        self.raw.tags.iter().map(move |t| TagKey {
            group: strings.get(t.group),
            name: strings.get(t.name),
        })
    }

    /// Whether the tag `group`/`name` is present.
    #[inline]
    pub fn has_tag(&self, group: &str, name: &str) -> bool {
        self.tags().any(|t| t.group == group && t.name == name)
    }

    /// The names of the tags in `group`.
    #[inline]
    pub fn tags_in<'g>(&self, group: &'g str) -> impl Iterator<Item = &'a str> + 'g
    where
        'a: 'g,
    {
        self.tags().filter(move |t| t.group == group).map(|t| t.name)
    }

    /// All scores so far as (name, value).
    #[inline]
    pub fn scores(&self) -> impl ExactSizeIterator<Item = (&'a str, f64)> + 'a {
        let strings = self.strings;
        self.raw.scores.iter().map(move |s| (strings.get(s.name), s.value))
    }

    /// One score by name (the last one if several plugins set it).
    #[inline]
    pub fn score(&self, name: &str) -> Option<f64> {
        self.scores().filter(|(n, _)| *n == name).map(|(_, v)| v).last()
    }

    /// The lifecycle stage so far.
    #[inline]
    pub fn stage(&self) -> Option<Stage> {
        self.raw.stage.and_then(Stage::from_index)
    }
}
