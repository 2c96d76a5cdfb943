//! The input frame (`RHI2`): the decision's context, the customer and the
//! catalog, written by the host once per decision and read by every
//! plugin's session.
//!
//! Scalars (32 bytes): `now` (i64), `seed` (u64), `tz_offset_minutes`
//! (i32), `customer_id` (atom), `mode` (u8: 0 live, 1 batch, 2 simulate,
//! 3 shadow), `prior_stage` (u8, an index of [`STAGES`](crate::STAGES) or
//! 255), 6 bytes of padding.
//!
//! Sections: 0 strings, 1 ends, 2 identities ([`Identity`]), 3 attributes
//! ([`Attribute`]), 4 events ([`Event`], in time order), 5 event props
//! ([`Attribute`]), 6 prior tags ([`TagKey`]), 7 offers ([`Offer`]),
//! 8 offer channels (atoms), 9 the trigger (zero or one [`Event`]).

use crate::{
    Attribute, Event, FrameWriter, Identity, LayoutError, Offer, Record, Records, Strings, TagKey, attribute_atoms,
    check_atoms, check_kinds, check_spans, check_stage, event_atoms, frame, i32_at, i64_at, refuse, stage_at, u32_at,
    u64_at,
};
use rustc_hash::FxHashMap;
use std::hash::BuildHasher;

const MAGIC: &[u8; 4] = b"RHI2";
const SCALARS: usize = 32;
const STRIDES: [usize; 10] = [
    1,
    4,
    Identity::STRIDE,
    Attribute::STRIDE,
    Event::STRIDE,
    Attribute::STRIDE,
    TagKey::STRIDE,
    Offer::STRIDE,
    4,
    Event::STRIDE,
];

/// Why the decision is being made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A real decision whose proposals may be sent.
    Live,
    /// Part of a bulk run.
    Batch,
    /// A what-if run.
    Simulate,
    /// Beside the live version, to compare.
    Shadow,
}

impl Mode {
    fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0 => Mode::Live,
            1 => Mode::Batch,
            2 => Mode::Simulate,
            3 => Mode::Shadow,
            _ => return None,
        })
    }

    fn to_u8(self) -> u8 {
        match self {
            Mode::Live => 0,
            Mode::Batch => 1,
            Mode::Simulate => 2,
            Mode::Shadow => 3,
        }
    }
}

/// The frame's scalars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Header {
    /// The decision's time (ms since the Unix epoch).
    pub now: i64,
    /// A seed for pseudo-randomness, fixed per decision.
    pub seed: u64,
    /// The tenant's offset from UTC in minutes.
    pub tz_offset_minutes: i32,
    /// The customer's id (an atom).
    pub customer_id: u32,
    /// Why the decision is being made.
    pub mode: Mode,
    /// The stage of the previous decision (an index of `STAGES`).
    pub prior_stage: Option<u8>,
}

/// An input frame, checked: every section within the frame, the strings
/// UTF-8, every atom naming a string, every span within its section,
/// every value kind and stage known. Reading it after that cannot fail.
#[derive(Clone, Copy)]
pub struct Input<'a> {
    /// The scalars.
    pub header: Header,
    /// The strings the atoms name.
    pub strings: Strings<'a>,
    /// The customer's identities.
    pub identities: Records<'a, Identity>,
    /// The customer's attributes.
    pub attributes: Records<'a, Attribute>,
    /// The customer's events, oldest first.
    pub events: Records<'a, Event>,
    /// The events' properties (see [`Event::props`]).
    pub props: Records<'a, Attribute>,
    /// The tags of the previous decision.
    pub prior_tags: Records<'a, TagKey>,
    /// The catalog.
    pub offers: Records<'a, Offer>,
    /// The offers' channels (see [`Offer::channels`]).
    pub offer_channels: Records<'a, u32>,
    /// The event that triggered the decision.
    pub trigger: Option<Event>,
    /// The trigger's section (zero or one event), checked like the events.
    triggers: Records<'a, Event>,
}

impl Header {
    /// The scalars of an input frame, without reading the rest (the host
    /// reads what it wrote itself this way).
    pub fn of(bytes: &[u8]) -> Result<Self, LayoutError> {
        let f = frame(bytes, MAGIC, SCALARS, STRIDES)?;
        Self::parse(f.scalars)
    }

    fn parse(s: &[u8]) -> Result<Self, LayoutError> {
        let Some(mode) = Mode::from_u8(s[24]) else {
            return refuse(format!("input mode {} is not known", s[24]));
        };
        check_stage(s[25], "input prior stage")?;
        Ok(Header {
            now: i64_at(s, 0),
            seed: u64_at(s, 8),
            tz_offset_minutes: i32_at(s, 16),
            customer_id: u32_at(s, 20),
            mode,
            prior_stage: stage_at(s, 25),
        })
    }
}

impl<'a> Input<'a> {
    /// Reads and checks a frame.
    pub fn read(bytes: &'a [u8]) -> Result<Self, LayoutError> {
        let input = Self::open(bytes, Strings::new)?;
        input.check()?;
        Ok(input)
    }

    fn open(
        bytes: &'a [u8],
        strings: impl FnOnce(&'a [u8], &'a [u8]) -> Result<Strings<'a>, LayoutError>,
    ) -> Result<Self, LayoutError> {
        let f = frame(bytes, MAGIC, SCALARS, STRIDES)?;
        let header = Header::parse(f.scalars)?;
        let [
            text,
            ends,
            identities,
            attributes,
            events,
            props,
            prior_tags,
            offers,
            offer_channels,
            trigger,
        ] = f.sections;
        let strings = strings(text, ends)?;
        let input = Self {
            header,
            strings,
            identities: Records::new(identities),
            attributes: Records::new(attributes),
            events: Records::new(events),
            props: Records::new(props),
            prior_tags: Records::new(prior_tags),
            offers: Records::new(offers),
            offer_channels: Records::new(offer_channels),
            trigger: Records::<Event>::new(trigger).get(0),
            triggers: Records::new(trigger),
        };
        if Records::<Event>::new(trigger).len() > 1 {
            return refuse("an input has at most one trigger");
        }
        Ok(input)
    }

    fn check(&self) -> Result<(), LayoutError> {
        check_kinds("attributes", self.attributes.bytes)?;
        check_kinds("props", self.props.bytes)?;
        let strings = &self.strings;
        if self.header.customer_id as usize >= strings.len() {
            return refuse("the customer id names no string");
        }
        check_atoms("identities", self.identities, strings, |i| [Some(i.kind), Some(i.id)])?;
        check_atoms("attributes", self.attributes, strings, attribute_atoms)?;
        check_atoms("props", self.props, strings, attribute_atoms)?;
        check_atoms("events", self.events, strings, event_atoms)?;
        check_spans("events", self.events, self.props.len(), |e| e.props)?;
        check_atoms("prior tags", self.prior_tags, strings, |t| {
            [Some(t.group), Some(t.name)]
        })?;
        check_atoms("offers", self.offers, strings, |o| [Some(o.id), Some(o.kind)])?;
        check_spans("offers", self.offers, self.offer_channels.len(), |o| o.channels)?;
        check_atoms("offer channels", self.offer_channels, strings, |&a| [Some(a)])?;
        check_atoms("trigger", self.triggers, strings, event_atoms)?;
        check_spans("trigger", self.triggers, self.props.len(), |e| e.props)?;
        Ok(())
    }

    /// The trigger, read in place.
    pub fn trigger_ref(&self) -> Option<crate::EventRef<'a>> {
        self.triggers.get_ref(0)
    }

    /// The string behind an atom of this frame (checked when it was read).
    #[inline]
    pub fn text(&self, atom: u32) -> &'a str {
        self.strings.get(atom).unwrap_or_default()
    }
}

/// An input frame checked once and kept, so a plugin reads it for each of
/// its stages without checking it again: [`Checked::input`] reads only the
/// header and the section bounds.
pub struct Checked {
    bytes: Vec<u8>,
}

impl Checked {
    /// Reads and checks a frame (see [`Input::read`]) and keeps it.
    pub fn new(bytes: Vec<u8>) -> Result<Self, LayoutError> {
        Input::read(&bytes)?;
        Ok(Self { bytes })
    }

    /// The frame, read again without its checks.
    #[inline]
    pub fn input(&self) -> Input<'_> {
        let opened = Input::open(&self.bytes, |text, ends| {
            // SAFETY: `new` checked that these bytes are UTF-8 (and the
            // rest of the frame), and they cannot have changed since:
            // `bytes` is private and never written after `new`.
            let text = unsafe { std::str::from_utf8_unchecked(text) };
            Ok(Strings::unchecked(text, ends))
        });
        // Opening can only fail on what `new` checked.
        opened.unwrap_or_else(|e| unreachable!("a checked input frame no longer opens: {e}"))
    }

    /// The frame's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Writes input frames. Keep one and reuse it: its buffers keep their
/// capacity between decisions.
#[derive(Default)]
pub struct InputWriter {
    frame: FrameWriter<10>,
    /// The short strings written so far, by [`short_hash`] of their bytes.
    /// An event's kind, channel, SKU and category and the keys repeat
    /// across a profile; written once, each is one atom, which a guest
    /// that caches decoded strings by atom (the TypeScript and Python
    /// SDKs) decodes once.
    interned: FxHashMap<u64, u32>,
}

/// The longest string written once per frame (see [`InputWriter::text`]).
pub const INTERNED_BYTES: usize = 64;

/// The key under which a short string's atom is kept: one hash for the
/// strings a writer adds and those a loaded profile brings.
fn short_hash(bytes: &[u8]) -> u64 {
    rustc_hash::FxBuildHasher.hash_one(bytes)
}

impl InputWriter {
    /// Empties it for the next frame.
    pub fn clear(&mut self) {
        self.frame.clear();
        self.interned.clear();
    }

    /// Starts a frame with the profile of `input` — its strings,
    /// identities, attributes, events and their props, copied as they are
    /// — so that the prior tags, the trigger and the catalog are added
    /// after it. The atoms and spans of `input` stay valid here: a kept
    /// profile becomes a decision's input without being read again.
    pub fn load_profile(&mut self, input: &Input<'_>) {
        self.clear();
        let [text, ends, identities, attributes, events, props, ..] = &mut self.frame.sections;
        text.extend_from_slice(input.strings.text().as_bytes());
        ends.extend_from_slice(input.strings.ends);
        identities.extend_from_slice(input.identities.bytes);
        attributes.extend_from_slice(input.attributes.bytes);
        events.extend_from_slice(input.events.bytes);
        props.extend_from_slice(input.props.bytes);
        // The short strings it holds, as if written here: the trigger's kind
        // and the catalog's strings get the atoms they would get had the
        // profile come in a request, so a decision by id has the frame (and
        // burns the fuel) of the same decision sent with its profile.
        let count = (self.frame.sections[1].len() / 4) as u32;
        for atom in 0..count {
            let bytes = self.frame.text_at(atom);
            if bytes.len() <= INTERNED_BYTES {
                self.interned.entry(short_hash(bytes)).or_insert(atom);
            }
        }
    }

    /// Adds a string; returns its atom. A string of at most
    /// [`INTERNED_BYTES`] written before in this frame (since [`clear`], or
    /// loaded by [`load_profile`]) gets the atom it got then.
    ///
    /// [`clear`]: Self::clear
    /// [`load_profile`]: Self::load_profile
    pub fn text(&mut self, s: &str) -> u32 {
        if s.len() > INTERNED_BYTES {
            return self.frame.text(s);
        }
        let hash = short_hash(s.as_bytes());
        match self.interned.get(&hash) {
            Some(&atom) if self.frame.text_at(atom) == s.as_bytes() => atom,
            // A collision keeps the first string's atom in the map.
            Some(_) => self.frame.text(s),
            None => {
                let atom = self.frame.text(s);
                self.interned.insert(hash, atom);
                atom
            }
        }
    }

    /// Adds an identity.
    pub fn identity(&mut self, r: &Identity) {
        self.frame.record(2, r);
    }

    /// Adds an attribute.
    pub fn attribute(&mut self, r: &Attribute) {
        self.frame.record(3, r);
    }

    /// Adds an event (in time order).
    pub fn event(&mut self, r: &Event) {
        self.frame.record(4, r);
    }

    /// Adds an event property; events refer to a run of them by [`Span`](crate::Span).
    pub fn prop(&mut self, r: &Attribute) {
        self.frame.record(5, r);
    }

    /// How many props are written: the start of the next event's span.
    pub fn props_len(&self) -> u32 {
        self.frame.count::<Attribute>(5)
    }

    /// Adds a prior tag.
    pub fn prior_tag(&mut self, r: &TagKey) {
        self.frame.record(6, r);
    }

    /// Adds an offer.
    pub fn offer(&mut self, r: &Offer) {
        self.frame.record(7, r);
    }

    /// Adds an offer's channel; offers refer to a run of them by [`Span`](crate::Span).
    pub fn offer_channel(&mut self, atom: u32) {
        self.frame.record(8, &atom);
    }

    /// How many offer channels are written.
    pub fn offer_channels_len(&self) -> u32 {
        self.frame.count::<u32>(8)
    }

    /// How many identities are written.
    pub fn identities_len(&self) -> u32 {
        self.frame.count::<Identity>(2)
    }

    /// How many attributes are written.
    pub fn attributes_len(&self) -> u32 {
        self.frame.count::<Attribute>(3)
    }

    /// How many events are written.
    pub fn events_len(&self) -> u32 {
        self.frame.count::<Event>(4)
    }

    /// How many prior tags are written.
    pub fn prior_tags_len(&self) -> u32 {
        self.frame.count::<TagKey>(6)
    }

    /// Puts the identities in the order of their kind, keeping the last
    /// written of each kind (see [`InputWriter::order_attributes`]);
    /// returns how many are left.
    pub fn order_identities(&mut self) -> u32 {
        self.frame.order_by_key(2, 0, |r: &Identity| r.kind)
    }

    /// Puts the attributes in the order of their key, keeping of each key
    /// only the last written — a JSON object read as a map — so a writer
    /// may add them as they arrive; returns how many are left.
    pub fn order_attributes(&mut self) -> u32 {
        self.frame.order_by_key(3, 0, |r: &Attribute| r.key)
    }

    /// [`InputWriter::order_attributes`] for the props written from the
    /// `start`th (one event's, written last); returns how many are left.
    pub fn order_props_from(&mut self, start: u32) -> u32 {
        self.frame.order_by_key(5, start, |r: &Attribute| r.key)
    }

    /// Puts the events in time order, events at the same instant in the
    /// order written (a stable sort), so a writer may add them as they
    /// arrive; events already in order are only checked.
    pub fn order_events(&mut self) {
        let section = &mut self.frame.sections[4];
        let at = |b: &[u8], i: usize| Event::read(&b[i * Event::STRIDE..]).at;
        let n = section.len() / Event::STRIDE;
        if (1..n).all(|i| at(section, i - 1) <= at(section, i)) {
            return;
        }
        // Sorted as (time, position) pairs: the key is at hand, and the
        // position keeps the sort stable.
        let mut order: Vec<(i64, usize)> = (0..n).map(|i| (at(section, i), i)).collect();
        order.sort_unstable();
        let events: Vec<Event> = order
            .into_iter()
            .map(|(_, i)| Event::read(&section[i * Event::STRIDE..]))
            .collect();
        section.clear();
        events.iter().for_each(|e| e.write(section));
    }

    /// Sets the trigger.
    pub fn trigger(&mut self, r: &Event) {
        self.frame.sections[9].clear();
        self.frame.record(9, r);
    }

    /// Writes the frame into `out` (emptied first).
    pub fn finish(&self, header: &Header, out: &mut Vec<u8>) {
        let mut s = [0u8; SCALARS];
        s[0..8].copy_from_slice(&header.now.to_le_bytes());
        s[8..16].copy_from_slice(&header.seed.to_le_bytes());
        s[16..20].copy_from_slice(&header.tz_offset_minutes.to_le_bytes());
        s[20..24].copy_from_slice(&header.customer_id.to_le_bytes());
        s[24] = header.mode.to_u8();
        s[25] = header.prior_stage.unwrap_or(crate::NO_STAGE);
        self.frame.finish(MAGIC, &s, STRIDES, out);
    }
}
