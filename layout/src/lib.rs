//! The binary layout in which contract `rulehost:plugin@0.2.0` moves a
//! decision's data across the sandbox: the input (context, profile,
//! catalog), the findings handed to later stages, and each stage's answer.
//!
//! Each crosses as one `list<u8>`, which wasmtime copies in one go, and is
//! read in place: a reader validates the frame once (header, section
//! bounds, string table) and then hands out fixed-size records decoded
//! field by field from the bytes, without copying or allocating. The host
//! writes inputs and findings and reads answers; the SDK reads inputs and
//! findings and writes answers. Both sides use this crate, so there is one
//! definition of the layout, and it is fuzzed as a parser of untrusted
//! bytes (`fuzz/fuzz_targets/layout.rs`).
//!
//! # Frames
//!
//! All integers are little-endian; nothing needs to be aligned, but
//! writers start each section at a multiple of [`ALIGN`] bytes.
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic: `RHI2` input, `RHF2` findings, `RHO2` answer |
//! | 2 | layout revision, [`REVISION`] |
//! | 2 | number of sections `n` |
//! | fixed per kind | the kind's scalars (see [`input`], [`findings`], [`answer`]) |
//! | `8 × n` | per section: byte offset from the frame's start (u32), record count (u32) |
//! | … | the sections' records, each section from a multiple of [`ALIGN`] (zero bytes between) |
//!
//! A reader requires at least the sections it knows and ignores any after
//! them, so a later revision may add sections at the end. Section 0 is the
//! frame's strings (UTF-8, back to back, 1-byte records), section 1 their
//! ends (u32): string `i` is `strings[ends[i-1]..ends[i]]` (from 0 for the
//! first). Elsewhere a string is referred to by its index, an *atom*; an
//! absent optional atom is [`NONE`]. A frame may hold a string more than
//! once (answers and findings do: writing a string twice is cheaper than
//! hashing every one); an input frame's writer writes a short string once (an event's kind, channel,
//! category, a key: see [`input::InputWriter::text`]), so that a guest that
//! decodes each atom once decodes each of them once.
//!
//! Records have a fixed stride per section; their fields are listed with
//! each type ([`Event`], [`Offer`], …). A span is a start index and a
//! count in another section.

#![warn(missing_docs)]

use std::fmt;

/// The layout revision this crate reads and writes.
pub const REVISION: u16 = 1;

/// An absent optional atom.
pub const NONE: u32 = u32::MAX;

/// The most bytes of UTF-8 a name in an answer may hold (a tag's group and
/// name, a score's name, a rule id), as the host checks answers: a plugin
/// that makes a name of input text must keep it within this.
pub const NAME_BYTES: usize = 128;

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutError(String);

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LayoutError {}

fn refuse<T>(message: impl Into<String>) -> Result<T, LayoutError> {
    Err(LayoutError(message.into()))
}

#[inline]
fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

#[inline]
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

#[inline]
fn i32_at(b: &[u8], at: usize) -> i32 {
    u32_at(b, at) as i32
}

#[inline]
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

#[inline]
fn i64_at(b: &[u8], at: usize) -> i64 {
    u64_at(b, at) as i64
}

#[inline]
fn f64_at(b: &[u8], at: usize) -> f64 {
    f64::from_bits(u64_at(b, at))
}

#[inline]
fn atom_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32_at(b, at)).filter(|&a| a != NONE)
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A fixed-size record of one section.
pub trait Record: Sized {
    /// Bytes per record.
    const STRIDE: usize;
    /// Decodes one record from exactly [`Self::STRIDE`] bytes.
    fn read(bytes: &[u8]) -> Self;
    /// Appends exactly [`Self::STRIDE`] bytes.
    fn write(&self, out: &mut Vec<u8>);
}

/// The records of one section, decoded on access.
#[derive(Clone, Copy)]
pub struct Records<'a, T> {
    pub(crate) bytes: &'a [u8],
    _of: std::marker::PhantomData<fn() -> T>,
}

impl<'a, T: Record + 'a> Records<'a, T> {
    #[inline]
    fn new(bytes: &'a [u8]) -> Self {
        debug_assert_eq!(bytes.len() % T::STRIDE, 0);
        Self {
            bytes,
            _of: std::marker::PhantomData,
        }
    }

    /// How many records.
    #[inline]
    pub fn len(&self) -> usize {
        self.bytes.len() / T::STRIDE
    }

    /// Whether there are none.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Record `i`, if there is one.
    #[inline]
    pub fn get(&self, i: usize) -> Option<T> {
        let start = i.checked_mul(T::STRIDE)?;
        self.bytes.get(start..start + T::STRIDE).map(T::read)
    }

    /// The records of `span`, clamped to the section.
    #[inline]
    pub fn span(&self, span: Span) -> Records<'a, T> {
        let len = self.len();
        let start = (span.start as usize).min(len);
        let end = start.saturating_add(span.len as usize).min(len);
        Records::new(&self.bytes[start * T::STRIDE..end * T::STRIDE])
    }

    /// Every record, in order.
    #[inline]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = T> + DoubleEndedIterator + Clone + use<'a, T> {
        self.bytes.chunks_exact(T::STRIDE).map(T::read)
    }
}

/// A frame's strings, checked to be UTF-8 with every end on a character
/// boundary.
#[derive(Clone, Copy)]
pub struct Strings<'a> {
    text: &'a str,
    ends: &'a [u8],
}

impl<'a> Strings<'a> {
    fn new(bytes: &'a [u8], ends: &'a [u8]) -> Result<Self, LayoutError> {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return refuse("the strings are not UTF-8");
        };
        // In ASCII text (most profiles) every byte is a character boundary.
        let ascii = text.is_ascii();
        let mut last = 0;
        for (i, end) in ends.chunks_exact(4).enumerate() {
            let end = u32::from_le_bytes(end.try_into().expect("4 bytes")) as usize;
            if end < last || end > text.len() || !(ascii || text.is_char_boundary(end)) {
                return refuse(format!(
                    "string {i} ends at byte {end}, not after {last} on a character boundary within {} bytes",
                    text.len()
                ));
            }
            last = end;
        }
        Ok(Self { text, ends })
    }

    /// Strings whose ends were checked against `text` before.
    fn unchecked(text: &'a str, ends: &'a [u8]) -> Self {
        Self { text, ends }
    }

    /// All the strings, back to back.
    #[inline]
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// How many strings.
    #[inline]
    pub fn len(&self) -> usize {
        self.ends.len() / 4
    }

    /// Where each string ends in [`text`](Self::text).
    #[inline]
    pub fn ends(&self) -> Records<'a, u32> {
        Records::new(self.ends)
    }

    /// Whether there are none.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The string behind `atom`, if it names one.
    #[inline]
    pub fn get(&self, atom: u32) -> Option<&'a str> {
        let at = (atom as usize).checked_mul(4)?;
        let word = |at: usize| -> Option<usize> {
            let bytes: [u8; 4] = self.ends.get(at..at.checked_add(4)?)?.try_into().ok()?;
            Some(u32::from_le_bytes(bytes) as usize)
        };
        let end = word(at)?;
        let start = if at == 0 { 0 } else { word(at - 4)? };
        // In order and on boundaries when the frame was read; `get`
        // returns `None` rather than panicking on any other bytes.
        self.text.get(start..end)
    }
}

/// What `section` of a frame holds, and how big each record is.
struct Frame<'a, const N: usize> {
    scalars: &'a [u8],
    sections: [&'a [u8]; N],
}

fn frame<'a, const N: usize>(
    bytes: &'a [u8],
    magic: &[u8; 4],
    scalars: usize,
    strides: [usize; N],
) -> Result<Frame<'a, N>, LayoutError> {
    let kind = String::from_utf8_lossy(magic);
    if bytes.len() < 8 || &bytes[..4] != magic {
        return refuse(format!("not a {kind} frame (magic)"));
    }
    let revision = u16_at(bytes, 4);
    if revision != REVISION {
        return refuse(format!(
            "{kind} frame of layout revision {revision}; this reads {REVISION}"
        ));
    }
    let count = usize::from(u16_at(bytes, 6));
    if count < N {
        return refuse(format!("{kind} frame with {count} sections; {N} are needed"));
    }
    let table = 8 + scalars;
    let header = table + 8 * count;
    if bytes.len() < header {
        return refuse(format!(
            "{kind} frame of {} bytes is shorter than its header",
            bytes.len()
        ));
    }
    let mut sections = [&bytes[..0]; N];
    for (i, (section, stride)) in sections.iter_mut().zip(strides).enumerate() {
        let offset = u32_at(bytes, table + 8 * i) as usize;
        let records = u32_at(bytes, table + 8 * i + 4) as usize;
        let end = records.checked_mul(stride).and_then(|len| len.checked_add(offset));
        match end {
            Some(end) if offset >= header && end <= bytes.len() => *section = &bytes[offset..end],
            _ => {
                return refuse(format!(
                    "{kind} section {i} ({records} records of {stride} bytes at {offset}) is outside the frame's {} bytes",
                    bytes.len()
                ));
            }
        }
    }
    Ok(Frame {
        scalars: &bytes[8..table],
        sections,
    })
}

/// Builds a frame: its strings as they are added, its records section by
/// section, then the header in front. Keep one per thread and reuse it:
/// its buffers keep their capacity.
/// Where a writer starts each section: at a multiple of 8 bytes from the
/// frame's start, so that a reader may view a section's 32-bit fields as
/// one typed array (the TypeScript SDK does, where a DataView call per
/// field costs several times more). Readers take offsets from the table and
/// must not rely on it.
pub const ALIGN: usize = 8;

struct FrameWriter<const N: usize> {
    sections: [Vec<u8>; N],
}

impl<const N: usize> Default for FrameWriter<N> {
    fn default() -> Self {
        Self {
            sections: std::array::from_fn(|_| Vec::new()),
        }
    }
}

impl<const N: usize> FrameWriter<N> {
    fn clear(&mut self) {
        self.sections.iter_mut().for_each(Vec::clear);
    }

    fn text(&mut self, s: &str) -> u32 {
        let atom = (self.sections[1].len() / 4) as u32;
        self.sections[0].extend_from_slice(s.as_bytes());
        let end = self.sections[0].len() as u32;
        put_u32(&mut self.sections[1], end);
        atom
    }

    fn record<T: Record>(&mut self, section: usize, record: &T) {
        record.write(&mut self.sections[section]);
    }

    fn count<T: Record>(&self, section: usize) -> u32 {
        (self.sections[section].len() / T::STRIDE) as u32
    }

    /// The bytes of a string already added.
    fn text_at(&self, atom: u32) -> &[u8] {
        let i = atom as usize * 4;
        let end = u32_at(&self.sections[1], i) as usize;
        let start = if i == 0 {
            0
        } else {
            u32_at(&self.sections[1], i - 4) as usize
        };
        &self.sections[0][start..end]
    }

    /// Puts the records of `section` from the `start`th in the order of
    /// their key's text, keeping of records with the same key only the
    /// last added — what reading a JSON object into a map does; returns how
    /// many records are left from `start`. Records already in strict order
    /// (a serialised map) are only checked.
    fn order_by_key<T: Record + Copy>(&mut self, section: usize, start: u32, key: impl Fn(&T) -> u32) -> u32 {
        let from = start as usize * T::STRIDE;
        let records = &self.sections[section][from..];
        let n = records.len() / T::STRIDE;
        let at = |i: usize| T::read(&records[i * T::STRIDE..]);
        if (1..n).all(|i| self.text_at(key(&at(i - 1))) < self.text_at(key(&at(i)))) {
            return n as u32;
        }
        let mut all: Vec<T> = (0..n).map(at).collect();
        // Stable: of equal keys, the last added stays last.
        all.sort_by(|a, b| self.text_at(key(a)).cmp(self.text_at(key(b))));
        let mut kept: Vec<T> = Vec::with_capacity(n);
        for record in all {
            match kept.last_mut() {
                Some(last) if self.text_at(key(last)) == self.text_at(key(&record)) => *last = record,
                _ => kept.push(record),
            }
        }
        let out = &mut self.sections[section];
        out.truncate(from);
        kept.iter().for_each(|r| r.write(out));
        kept.len() as u32
    }

    fn finish(&self, magic: &[u8; 4], scalars: &[u8], strides: [usize; N], out: &mut Vec<u8>) {
        out.clear();
        let header = 8 + scalars.len() + 8 * N;
        out.reserve(header + self.sections.iter().map(|s| s.len() + ALIGN).sum::<usize>());
        out.extend_from_slice(magic);
        out.extend_from_slice(&REVISION.to_le_bytes());
        out.extend_from_slice(&(N as u16).to_le_bytes());
        out.extend_from_slice(scalars);
        let mut offset = header;
        for (section, stride) in self.sections.iter().zip(strides) {
            offset = offset.next_multiple_of(ALIGN);
            put_u32(out, offset as u32);
            put_u32(out, (section.len() / stride) as u32);
            offset += section.len();
        }
        for section in &self.sections {
            out.resize(out.len().next_multiple_of(ALIGN), 0);
            out.extend_from_slice(section);
        }
    }
}

/// A start index and a count in another section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// The first record.
    pub start: u32,
    /// How many.
    pub len: u32,
}

/// The contract's lifecycle stages, in order; a frame stores the index,
/// or 255 for none.
pub const STAGES: [&str; 6] = [
    "introduction",
    "growth",
    "maturity",
    "dormancy",
    "churned",
    "reactivated",
];

const NO_STAGE: u8 = u8::MAX;

fn stage_at(b: &[u8], at: usize) -> Option<u8> {
    Some(b[at]).filter(|&s| s != NO_STAGE)
}

fn check_stage(stage: u8, what: &str) -> Result<(), LayoutError> {
    if stage != NO_STAGE && usize::from(stage) >= STAGES.len() {
        return refuse(format!("{what}: {stage} is not a lifecycle stage"));
    }
    Ok(())
}

impl Record for u32 {
    const STRIDE: usize = 4;
    #[inline]
    fn read(b: &[u8]) -> Self {
        // One bounds check for the record; the fields' are then elided.
        let b = &b[..Self::STRIDE];
        u32_at(b, 0)
    }
    fn write(&self, out: &mut Vec<u8>) {
        put_u32(out, *self);
    }
}

impl Record for u8 {
    const STRIDE: usize = 1;
    #[inline]
    fn read(b: &[u8]) -> Self {
        // One bounds check for the record; the fields' are then elided.
        let b = &b[..Self::STRIDE];
        b[0]
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.push(*self);
    }
}

/// One of the customer's identities. 8 bytes: `kind` atom, `id` atom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Identity {
    /// e.g. "wechat_openid".
    pub kind: u32,
    /// The identifier.
    pub id: u32,
}

impl Record for Identity {
    const STRIDE: usize = 8;
    #[inline]
    fn read(b: &[u8]) -> Self {
        // One bounds check for the record; the fields' are then elided.
        let b = &b[..Self::STRIDE];
        Self {
            kind: u32_at(b, 0),
            id: u32_at(b, 4),
        }
    }
    fn write(&self, out: &mut Vec<u8>) {
        put_u32(out, self.kind);
        put_u32(out, self.id);
    }
}

/// A typed attribute or property value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// Kind 0: an atom.
    Text(u32),
    /// Kind 1.
    Int(i64),
    /// Kind 2: the bits of an f64.
    Float(f64),
    /// Kind 3: 0 or 1.
    Flag(bool),
    /// Kind 4: milliseconds since the Unix epoch.
    Time(i64),
}

/// A key and its value. 16 bytes: `key` atom, the value's kind (u8), 3
/// bytes of padding, the value (8 bytes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attribute {
    /// The key (an atom).
    pub key: u32,
    /// The value.
    pub value: Value,
}

impl Record for Attribute {
    const STRIDE: usize = 16;
    #[inline]
    fn read(b: &[u8]) -> Self {
        // One bounds check for the record; the fields' are then elided.
        let b = &b[..Self::STRIDE];
        let payload = u64_at(b, 8);
        let value = match b[4] {
            0 => Value::Text(payload as u32),
            1 => Value::Int(payload as i64),
            2 => Value::Float(f64::from_bits(payload)),
            3 => Value::Flag(payload != 0),
            // Checked when the frame was read.
            _ => Value::Time(payload as i64),
        };
        Self {
            key: u32_at(b, 0),
            value,
        }
    }
    fn write(&self, out: &mut Vec<u8>) {
        put_u32(out, self.key);
        let (kind, payload) = match self.value {
            Value::Text(a) => (0, u64::from(a)),
            Value::Int(i) => (1, i as u64),
            Value::Float(f) => (2, f.to_bits()),
            Value::Flag(b) => (3, u64::from(b)),
            Value::Time(t) => (4, t as u64),
        };
        out.extend_from_slice(&[kind, 0, 0, 0]);
        put_u64(out, payload);
    }
}

/// Something the customer did. 48 bytes: `kind`, `channel`, `sku`,
/// `category` (atoms, the last three [`NONE`] when absent), `props` (start,
/// count in the props section), flags (u32; bit 0: `amount_minor` is
/// present), 4 bytes of padding, `at` (i64), `amount_minor` (i64).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// e.g. "purchase".
    pub kind: u32,
    /// The channel it happened on.
    pub channel: Option<u32>,
    /// The product.
    pub sku: Option<u32>,
    /// The product's category.
    pub category: Option<u32>,
    /// Its properties in the props section.
    pub props: Span,
    /// When, in milliseconds since the Unix epoch.
    pub at: i64,
    /// Money in minor units.
    pub amount_minor: Option<i64>,
}

/// An event read in place: each field is decoded when it is asked for,
/// so a reader that looks at a few fields of many events (the kind and
/// time of each, say) decodes only those.
#[derive(Debug, Clone, Copy)]
pub struct EventRef<'a>(&'a [u8; Event::STRIDE]);

impl<'a> EventRef<'a> {
    /// Its kind.
    #[inline]
    pub fn kind(&self) -> u32 {
        u32_at(self.0, 0)
    }

    /// Its channel.
    #[inline]
    pub fn channel(&self) -> Option<u32> {
        atom_at(self.0, 4)
    }

    /// Its SKU.
    #[inline]
    pub fn sku(&self) -> Option<u32> {
        atom_at(self.0, 8)
    }

    /// Its category.
    #[inline]
    pub fn category(&self) -> Option<u32> {
        atom_at(self.0, 12)
    }

    /// Its props.
    #[inline]
    pub fn props(&self) -> Span {
        Span {
            start: u32_at(self.0, 16),
            len: u32_at(self.0, 20),
        }
    }

    /// When.
    #[inline]
    pub fn at(&self) -> i64 {
        i64_at(self.0, 32)
    }

    /// Its amount.
    #[inline]
    pub fn amount_minor(&self) -> Option<i64> {
        (u32_at(self.0, 24) & 1 != 0).then(|| i64_at(self.0, 40))
    }

    /// Every field.
    #[inline]
    pub fn decode(&self) -> Event {
        Event {
            kind: self.kind(),
            channel: self.channel(),
            sku: self.sku(),
            category: self.category(),
            props: self.props(),
            at: self.at(),
            amount_minor: self.amount_minor(),
        }
    }
}

impl<'a> Records<'a, Event> {
    /// Every event, read in place.
    #[inline]
    pub fn refs(&self) -> impl ExactSizeIterator<Item = EventRef<'a>> + DoubleEndedIterator + Clone + use<'a> {
        self.bytes.as_chunks::<{ Event::STRIDE }>().0.iter().map(EventRef)
    }

    /// How many events come before the first for which `pred` is false
    /// (a binary search: `pred` must hold for a prefix, as "at or before
    /// a time" does for events in time order).
    #[inline]
    pub fn partition_point(&self, mut pred: impl FnMut(EventRef<'_>) -> bool) -> usize {
        self.bytes
            .as_chunks::<{ Event::STRIDE }>()
            .0
            .partition_point(|record| pred(EventRef(record)))
    }

    /// Event `i` read in place, if there is one.
    #[inline]
    pub fn get_ref(&self, i: usize) -> Option<EventRef<'a>> {
        self.bytes.as_chunks::<{ Event::STRIDE }>().0.get(i).map(EventRef)
    }
}

impl Record for Event {
    const STRIDE: usize = 48;
    #[inline]
    fn read(b: &[u8]) -> Self {
        match b.first_chunk::<{ Event::STRIDE }>() {
            Some(b) => EventRef(b).decode(),
            None => unreachable!("a record is read from exactly STRIDE bytes"),
        }
    }
    fn write(&self, out: &mut Vec<u8>) {
        for atom in [self.kind, self.channel.unwrap_or(NONE), self.sku.unwrap_or(NONE)] {
            put_u32(out, atom);
        }
        put_u32(out, self.category.unwrap_or(NONE));
        put_u32(out, self.props.start);
        put_u32(out, self.props.len);
        put_u32(out, u32::from(self.amount_minor.is_some()));
        put_u32(out, 0);
        put_u64(out, self.at as u64);
        put_u64(out, self.amount_minor.unwrap_or(0) as u64);
    }
}

/// A tag by name. 8 bytes: `group` atom, `name` atom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TagKey {
    /// Its group.
    pub group: u32,
    /// Its name.
    pub name: u32,
}

impl Record for TagKey {
    const STRIDE: usize = 8;
    #[inline]
    fn read(b: &[u8]) -> Self {
        // One bounds check for the record; the fields' are then elided.
        let b = &b[..Self::STRIDE];
        Self {
            group: u32_at(b, 0),
            name: u32_at(b, 4),
        }
    }
    fn write(&self, out: &mut Vec<u8>) {
        put_u32(out, self.group);
        put_u32(out, self.name);
    }
}

/// An offer of the catalog. 48 bytes: `id`, `kind` (atoms), `channels`
/// (start, count in the offer-channels section), `priority` (i32), flags
/// (u32; bit 0: `starts_at` present, bit 1: `ends_at` present),
/// `value_minor`, `starts_at`, `ends_at` (i64 each).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Offer {
    /// Its id.
    pub id: u32,
    /// Its kind.
    pub kind: u32,
    /// The channels it may be sent on.
    pub channels: Span,
    /// Its priority.
    pub priority: i32,
    /// Its value in minor units.
    pub value_minor: i64,
    /// From when it may be sent.
    pub starts_at: Option<i64>,
    /// Until when it may be sent.
    pub ends_at: Option<i64>,
}

impl Record for Offer {
    const STRIDE: usize = 48;
    #[inline]
    fn read(b: &[u8]) -> Self {
        // One bounds check for the record; the fields' are then elided.
        let b = &b[..Self::STRIDE];
        let flags = u32_at(b, 20);
        Self {
            id: u32_at(b, 0),
            kind: u32_at(b, 4),
            channels: Span {
                start: u32_at(b, 8),
                len: u32_at(b, 12),
            },
            priority: i32_at(b, 16),
            value_minor: i64_at(b, 24),
            starts_at: (flags & 1 != 0).then(|| i64_at(b, 32)),
            ends_at: (flags & 2 != 0).then(|| i64_at(b, 40)),
        }
    }
    fn write(&self, out: &mut Vec<u8>) {
        for word in [self.id, self.kind, self.channels.start, self.channels.len] {
            put_u32(out, word);
        }
        put_u32(out, self.priority as u32);
        put_u32(
            out,
            u32::from(self.starts_at.is_some()) | u32::from(self.ends_at.is_some()) << 1,
        );
        for word in [self.value_minor, self.starts_at.unwrap_or(0), self.ends_at.unwrap_or(0)] {
            put_u64(out, word as u64);
        }
    }
}

/// A score by name. 16 bytes: `name` atom, 4 bytes of padding, `value`
/// (f64).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreValue {
    /// Its name.
    pub name: u32,
    /// Its value.
    pub value: f64,
}

impl Record for ScoreValue {
    const STRIDE: usize = 16;
    #[inline]
    fn read(b: &[u8]) -> Self {
        // One bounds check for the record; the fields' are then elided.
        let b = &b[..Self::STRIDE];
        Self {
            name: u32_at(b, 0),
            value: f64_at(b, 8),
        }
    }
    fn write(&self, out: &mut Vec<u8>) {
        put_u32(out, self.name);
        put_u32(out, 0);
        put_u64(out, self.value.to_bits());
    }
}

/// A tag a plugin answers. 32 bytes: `group`, `name`, `reason`, `rule_id`
/// (atoms), flags (u32; bit 0: `expires_at` present), 4 bytes of padding,
/// `expires_at` (i64).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tag {
    /// Its group.
    pub group: u32,
    /// Its name.
    pub name: u32,
    /// Why it applies.
    pub reason: u32,
    /// The rule that set it.
    pub rule_id: u32,
    /// When it lapses.
    pub expires_at: Option<i64>,
}

impl Record for Tag {
    const STRIDE: usize = 32;
    #[inline]
    fn read(b: &[u8]) -> Self {
        // One bounds check for the record; the fields' are then elided.
        let b = &b[..Self::STRIDE];
        Self {
            group: u32_at(b, 0),
            name: u32_at(b, 4),
            reason: u32_at(b, 8),
            rule_id: u32_at(b, 12),
            expires_at: (u32_at(b, 16) & 1 != 0).then(|| i64_at(b, 24)),
        }
    }
    fn write(&self, out: &mut Vec<u8>) {
        for word in [self.group, self.name, self.reason, self.rule_id] {
            put_u32(out, word);
        }
        put_u32(out, u32::from(self.expires_at.is_some()));
        put_u32(out, 0);
        put_u64(out, self.expires_at.unwrap_or(0) as u64);
    }
}

/// A score a plugin answers. 24 bytes: `name`, `reason`, `rule_id`
/// (atoms), 4 bytes of padding, `value` (f64).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Its name.
    pub name: u32,
    /// Why it has this value.
    pub reason: u32,
    /// The rule that set it.
    pub rule_id: u32,
    /// The value.
    pub value: f64,
}

impl Record for Score {
    const STRIDE: usize = 24;
    #[inline]
    fn read(b: &[u8]) -> Self {
        // One bounds check for the record; the fields' are then elided.
        let b = &b[..Self::STRIDE];
        Self {
            name: u32_at(b, 0),
            reason: u32_at(b, 4),
            rule_id: u32_at(b, 8),
            value: f64_at(b, 16),
        }
    }
    fn write(&self, out: &mut Vec<u8>) {
        for word in [self.name, self.reason, self.rule_id, 0] {
            put_u32(out, word);
        }
        put_u64(out, self.value.to_bits());
    }
}

/// An offer a plugin proposes. 24 bytes: `offer_id`, `channel`, `reason`,
/// `rule_id` (atoms), `score` (f64).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Proposal {
    /// The catalog offer.
    pub offer_id: u32,
    /// The channel to send it on.
    pub channel: u32,
    /// Why.
    pub reason: u32,
    /// The rule that proposed it.
    pub rule_id: u32,
    /// How strongly.
    pub score: f64,
}

impl Record for Proposal {
    const STRIDE: usize = 24;
    #[inline]
    fn read(b: &[u8]) -> Self {
        // One bounds check for the record; the fields' are then elided.
        let b = &b[..Self::STRIDE];
        Self {
            offer_id: u32_at(b, 0),
            channel: u32_at(b, 4),
            reason: u32_at(b, 8),
            rule_id: u32_at(b, 12),
            score: f64_at(b, 16),
        }
    }
    fn write(&self, out: &mut Vec<u8>) {
        for word in [self.offer_id, self.channel, self.reason, self.rule_id] {
            put_u32(out, word);
        }
        put_u64(out, self.score.to_bits());
    }
}

/// A wake-up a plugin asks for (contract 0.3.0): run a decision for this
/// customer at `at`, or clear the one of that key. 24 bytes: `key`,
/// `reason` (atoms; `reason` [`NONE`] when clearing), flags (u32; bit 0:
/// clear), 4 bytes of padding, `at` (i64; 0 when clearing).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wake {
    /// Its key: one wake-up per key and customer; a later one replaces it.
    pub key: u32,
    /// Why, for people (and the decision it starts).
    pub reason: Option<u32>,
    /// When (ms since the Unix epoch), or `None` to clear the key's.
    pub at: Option<i64>,
}

impl Record for Wake {
    const STRIDE: usize = 24;
    #[inline]
    fn read(b: &[u8]) -> Self {
        let b = &b[..Self::STRIDE];
        let clear = u32_at(b, 8) & 1 != 0;
        Self {
            key: u32_at(b, 0),
            reason: atom_at(b, 4),
            at: (!clear).then(|| i64_at(b, 16)),
        }
    }
    fn write(&self, out: &mut Vec<u8>) {
        put_u32(out, self.key);
        put_u32(out, self.reason.unwrap_or(NONE));
        put_u32(out, u32::from(self.at.is_none()));
        put_u32(out, 0);
        put_u64(out, self.at.unwrap_or(0) as u64);
    }
}

/// A section past the ones a reader requires (a later contract's), if the
/// frame has it: its bytes, checked to lie within the frame; empty if the
/// frame has fewer sections.
fn optional_section(bytes: &[u8], scalars: usize, index: usize, stride: usize) -> Result<&[u8], LayoutError> {
    let count = usize::from(u16_at(bytes, 6));
    if count <= index {
        return Ok(&bytes[..0]);
    }
    let table = 8 + scalars;
    let header = table + 8 * count;
    let offset = u32_at(bytes, table + 8 * index) as usize;
    let records = u32_at(bytes, table + 8 * index + 4) as usize;
    match records.checked_mul(stride).and_then(|len| len.checked_add(offset)) {
        Some(end) if offset >= header && end <= bytes.len() => Ok(&bytes[offset..end]),
        _ => refuse(format!(
            "section {index} ({records} records of {stride} bytes at {offset}) is outside the frame's {} bytes",
            bytes.len()
        )),
    }
}

/// Checks that every atom `atoms` finds in `records` names a string.
fn check_atoms<T: Record, const K: usize>(
    what: &str,
    records: Records<'_, T>,
    strings: &Strings<'_>,
    atoms: impl Fn(&T) -> [Option<u32>; K],
) -> Result<(), LayoutError> {
    let count = strings.len();
    for (i, record) in records.iter().enumerate() {
        if let Some(bad) = atoms(&record).into_iter().flatten().find(|&a| a as usize >= count) {
            return refuse(format!("{what}[{i}] refers to string {bad}; there are {count}"));
        }
    }
    Ok(())
}

/// Checks that every span `span` finds in `records` lies within `len`.
fn check_spans<T: Record>(
    what: &str,
    records: Records<'_, T>,
    len: usize,
    span: impl Fn(&T) -> Span,
) -> Result<(), LayoutError> {
    for (i, record) in records.iter().enumerate() {
        let s = span(&record);
        if (s.start as usize).saturating_add(s.len as usize) > len {
            return refuse(format!("{what}[{i}] spans {}..+{} of {len} records", s.start, s.len));
        }
    }
    Ok(())
}

fn event_atoms(e: &Event) -> [Option<u32>; 4] {
    [Some(e.kind), e.channel, e.sku, e.category]
}

fn attribute_atoms(a: &Attribute) -> [Option<u32>; 2] {
    [Some(a.key), if let Value::Text(t) = a.value { Some(t) } else { None }]
}

fn check_kinds(what: &str, section: &[u8]) -> Result<(), LayoutError> {
    for (i, record) in section.chunks_exact(Attribute::STRIDE).enumerate() {
        if record[4] > 4 {
            return refuse(format!("{what}[{i}] has value kind {}", record[4]));
        }
    }
    Ok(())
}

pub mod answer;
pub mod findings;
pub mod input;
