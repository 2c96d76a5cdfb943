//! A decide request from its bytes to the input frame, in one pass.
//!
//! The decide and batch routes read a request body once: the envelope
//! (`now`, `seed`, `mode`, `commit`) as fields, the profile and the trigger
//! straight into an input frame's writer ([`crate::input::json`]) — no
//! model of the profile in between — and keep the body itself, so the
//! decision log stores the profile and trigger as they arrived and hashes
//! those bytes instead of serialising the profile again.
//!
//! A refused body is read a second time by the model
//! ([`crate::model::parse_json`] and [`crate::input::write`]), so a client
//! gets exactly the message and path it always got; only refused bodies pay
//! for that.

use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::Error;
use crate::input::json::{self, Profiled};
use crate::input::{self, Context, InputLimits};
use crate::live::{DecideById, DecideRequest};
use crate::model::{self, JsonError, Mode, Offer, Request, Strict, Timestamp, Value, whole};
use crate::registry::StoredProfile;
use rulehost_layout as layout;
use rulehost_layout::input::{Checked, InputWriter};

/// A decide request as it arrived: its profile and trigger already written
/// into an input frame's writer and its body kept for the log, or the id of
/// a customer whose kept profile it decides on.
pub struct Arrived {
    source: Source,
    /// The decision's time, if the request sets it.
    pub now: Option<Timestamp>,
    /// The seed, if the request sets it.
    pub seed: Option<u64>,
    /// Why the decision is made, if the request says.
    pub mode: Option<Mode>,
    /// Whether the selected touches are recorded.
    pub commit: bool,
}

/// Where a request's profile comes from.
#[allow(
    clippy::large_enum_variant,
    reason = "one per request, moved a few times; a box would allocate per request"
)]
enum Source {
    /// The body: already written into a frame.
    Sent {
        sent: Sent,
        profiled: Profiled,
        writer: InputWriter,
    },
    /// The host's kept profile of a customer; the trigger's JSON, if one
    /// came, is in the body.
    Kept {
        customer_id: String,
        body: Bytes,
        trigger: Option<Range<usize>>,
    },
}

/// Why a request body was refused.
#[derive(Debug)]
pub enum Refused {
    /// It is not the JSON of a decide request: the model's error and path.
    Json(JsonError),
    /// It breaks a limit, or holds an empty id (`invalid_input`).
    Input(Error),
}

/// The request's fields, the profile and trigger left as the JSON they are.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    profile: Option<&'a RawValue>,
    #[serde(default)]
    customer_id: Option<String>,
    #[serde(default)]
    now: Option<Timestamp>,
    #[serde(default, deserialize_with = "whole::option")]
    seed: Option<u64>,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default, borrow)]
    trigger: Option<&'a RawValue>,
    #[serde(default)]
    commit: bool,
}

impl Arrived {
    /// Reads a decide request's body (see the module's documentation).
    pub fn parse(body: Bytes, limits: &InputLimits) -> Result<Self, Refused> {
        Self::read(&body, limits).map_err(|fast| refusal(&body, limits, fast))
    }

    /// The customer's id, as the request gives it.
    pub fn customer_id(&self) -> &str {
        match &self.source {
            Source::Sent { profiled, .. } => &profiled.customer_id,
            Source::Kept { customer_id, .. } => customer_id,
        }
    }

    /// Whether it decides on the host's kept profile of the customer.
    pub fn by_id(&self) -> bool {
        matches!(self.source, Source::Kept { .. })
    }

    fn read(body: &Bytes, limits: &InputLimits) -> Result<Self, String> {
        let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
        if model::has_nul_escape(body) {
            return Err("the body holds a NUL character".into());
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let envelope = Envelope::deserialize(Strict(&mut de))
            .and_then(|envelope| de.end().map(|()| envelope))
            .map_err(|e| e.to_string())?;
        // Where the raw values lie in the body: they were borrowed from it.
        let span = |raw: &RawValue| {
            let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
            start..start + raw.get().len()
        };
        let source = match (envelope.profile, envelope.customer_id) {
            (Some(profile), None) => {
                let (profiled, writer) =
                    write(profile.get(), envelope.trigger.map(RawValue::get), limits).map_err(|e| e.to_string())?;
                Source::Sent {
                    sent: Sent {
                        body: body.clone(),
                        profile: span(profile),
                        trigger: envelope.trigger.map(span),
                    },
                    profiled,
                    writer,
                }
            }
            (None, Some(customer_id)) => {
                // The trigger is checked now, so a bad one is refused
                // before the kept profile is read.
                if let Some(trigger) = envelope.trigger {
                    json::trigger(trigger.get(), limits, &mut InputWriter::default()).map_err(|e| e.to_string())?;
                }
                if customer_id.is_empty() || customer_id.chars().count() > model::events::ID_CHARS {
                    return Err("customer_id must be 1-256 characters".into());
                }
                Source::Kept {
                    customer_id,
                    body: body.clone(),
                    trigger: envelope.trigger.map(span),
                }
            }
            _ => return Err(ONE_OF.into()),
        };
        Ok(Self {
            source,
            now: envelope.now,
            seed: envelope.seed,
            mode: envelope.mode,
            commit: envelope.commit,
        })
    }

    /// The decision's input: the catalog and the context written after the
    /// profile. `kept` gives the customer's kept profile when the request
    /// decides on one (it is asked for only then).
    pub fn frame(
        self,
        context: impl FnOnce(&str) -> Context,
        offers: Arc<[Offer]>,
        limits: &InputLimits,
        kept: impl FnOnce(&str) -> Result<StoredProfile, crate::live::LiveError>,
    ) -> Result<Framed, crate::live::LiveError> {
        match self.source {
            Source::Sent { sent, profiled, writer } => {
                let context = context(&profiled.customer_id);
                Ok(Framed::finish(writer, profiled, context, offers, limits, Some(sent))?)
            }
            Source::Kept {
                customer_id,
                body,
                trigger,
            } => {
                let stored = kept(&customer_id)?;
                let trigger = trigger.and_then(|range| std::str::from_utf8(&body[range]).ok().map(str::to_owned));
                let context = context(&stored.customer_id);
                Ok(Framed::kept(
                    &stored,
                    trigger.as_deref().map(Trigger::Json),
                    context,
                    offers,
                    limits,
                )?)
            }
        }
    }
}

impl Arrived {
    /// The input of a request whose profile came in its body, with a
    /// context of the caller's (a request on a kept profile is framed by
    /// `Live::input`, which reads the profile).
    pub fn frame_sent(self, context: Context, offers: Arc<[Offer]>, limits: &InputLimits) -> Result<Framed, Error> {
        match self.source {
            Source::Sent { sent, profiled, writer } => {
                Framed::finish(writer, profiled, context, offers, limits, Some(sent))
            }
            Source::Kept { customer_id, .. } => Err(Error::InvalidInput(format!(
                "the request decides on the kept profile of {customer_id:?}, which only a server has"
            ))),
        }
    }
}

/// What a request must say of its customer: the refusal of one that
/// gives neither a profile nor a customer, or both.
pub const ONE_OF: &str = "a decide request has a `profile`, or a `customer_id` to decide on the customer's kept profile \
                      (one of the two)";

/// A trigger of a decision on a kept profile.
pub enum Trigger<'a> {
    /// As the request's JSON gave it.
    Json(&'a str),
    /// An event the host has (one taken in, or a wake-up).
    Event(&'a crate::model::Event),
}

/// Frame writers between requests: a body is read on one of the server's
/// threads and its frame finished on a decision's, so the writers are
/// shared by all of them rather than kept per thread. Each has grown to
/// fit the requests it wrote, so a frame is written without allocating.
static WRITERS: Mutex<Vec<InputWriter>> = Mutex::new(Vec::new());

/// How many idle writers are kept: about as many as requests are read at
/// once on a busy server (more are made when needed and dropped after).
const KEPT_WRITERS: usize = 16;

/// An empty writer, one that was used before if any is idle.
fn take_writer() -> InputWriter {
    let idle = WRITERS.lock().unwrap_or_else(PoisonError::into_inner).pop();
    idle.unwrap_or_default()
}

/// Keeps `writer` for another request.
fn give_back(mut writer: InputWriter) {
    writer.clear();
    let mut idle = WRITERS.lock().unwrap_or_else(PoisonError::into_inner);
    if idle.len() < KEPT_WRITERS {
        idle.push(writer);
    }
}

/// Writes a profile's and a trigger's JSON into a frame writer.
fn write(
    profile: &str,
    trigger: Option<&str>,
    limits: &InputLimits,
) -> Result<(Profiled, InputWriter), serde_json::Error> {
    let mut writer = take_writer();
    let profiled = json::profile(profile, limits, &mut writer)?;
    if let Some(trigger) = trigger {
        json::trigger(trigger, limits, &mut writer)?;
    }
    Ok((profiled, writer))
}

/// A body read the way the routes read it before the one-pass reading:
/// into the model, then its input frame written (with the request's own
/// `now`, `seed` and `mode`, a zero offset and no catalog). The reference
/// the one-pass reading answers to.
pub fn through_model(body: &[u8], limits: &InputLimits) -> Result<(Request, Vec<u8>), Refused> {
    let request = model::parse_json::<DecideRequest>(body).map_err(Refused::Json)?;
    let request = Request {
        now: request.now.unwrap_or(Timestamp(0)),
        tz_offset_minutes: 0,
        seed: request.seed.unwrap_or(0),
        mode: request.mode.unwrap_or_default(),
        trigger: request.trigger,
        profile: request.profile,
        offers: Arc::from([]),
    };
    let frame = input::build(&request, limits).map_err(|e| Refused::Input(e.into()))?;
    Ok((request, frame))
}

/// The model's own refusal of a body the one-pass reading refused: the
/// message and path a client always got.
fn refusal(body: &[u8], limits: &InputLimits, fast: String) -> Refused {
    if fast == ONE_OF {
        return Refused::Input(Error::InvalidInput(fast));
    }
    if names_a_customer(body) {
        return match model::parse_json::<DecideById>(body) {
            Err(e) => Refused::Json(e),
            Ok(_) => Refused::Input(Error::InvalidInput(fast)),
        };
    }
    match through_model(body, limits) {
        Err(refused) => refused,
        // The two readings disagree: a bug, reported, and the request is
        // still refused.
        Ok(_) => {
            tracing::error!(error = %fast, "a request the model takes was refused by the one-pass reading");
            Refused::Input(Error::InvalidInput(fast))
        }
    }
}

/// Whether a body is an object with a `customer_id` and no `profile`: a
/// decision on a kept profile, whose refusals the model of such requests
/// words.
pub fn names_a_customer(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Keys {
        #[serde(default)]
        profile: Option<serde::de::IgnoredAny>,
        #[serde(default)]
        customer_id: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Keys>(body).is_ok_and(|k| k.customer_id.is_some() && k.profile.is_none())
}

/// A request's profile and trigger as they arrived.
#[derive(Debug, Clone)]
pub struct Sent {
    body: Bytes,
    profile: Range<usize>,
    trigger: Option<Range<usize>>,
}

impl Sent {
    /// The profile's JSON as it arrived.
    pub fn profile(&self) -> Option<&str> {
        std::str::from_utf8(&self.body[self.profile.clone()]).ok()
    }

    /// The trigger's JSON as it arrived, if there was one.
    pub fn trigger(&self) -> Option<&str> {
        let range = self.trigger.clone()?;
        std::str::from_utf8(&self.body[range]).ok()
    }
}

/// A decision's input: the frame every plugin reads (the profile, the
/// trigger, the catalog and the context, written once and checked) and
/// what the host reads of it.
pub struct Framed {
    frame: Checked,
    /// The customer's id.
    pub customer_id: String,
    /// The decision's context.
    pub context: Context,
    /// The catalog.
    pub offers: Arc<[Offer]>,
    /// The profile and trigger as they arrived, when they came as JSON.
    pub sent: Option<Sent>,
}

impl std::fmt::Debug for Framed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Framed")
            .field("customer_id", &self.customer_id)
            .field("context", &self.context)
            .field("frame_bytes", &self.frame.bytes().len())
            .field("sent", &self.sent.is_some())
            .finish_non_exhaustive()
    }
}

impl Framed {
    fn new(
        bytes: Vec<u8>,
        customer_id: String,
        context: Context,
        offers: Arc<[Offer]>,
        sent: Option<Sent>,
    ) -> Result<Self, Error> {
        // The host wrote it: a frame it cannot read back is its own bug.
        let frame = Checked::new(bytes).map_err(|e| Error::Internal(format!("an input frame the host wrote: {e}")))?;
        Ok(Self {
            frame,
            customer_id,
            context,
            offers,
            sent,
        })
    }

    /// The catalog and the context written after a profile, and the frame
    /// checked.
    fn finish(
        mut writer: InputWriter,
        profiled: Profiled,
        context: Context,
        offers: Arc<[Offer]>,
        limits: &InputLimits,
        sent: Option<Sent>,
    ) -> Result<Self, Error> {
        input::write_offers(&offers, limits, &mut writer)?;
        let mut bytes = Vec::new();
        input::finish(&writer, &context, profiled.written, &mut bytes)?;
        give_back(writer);
        Self::new(bytes, profiled.customer_id, context, offers, sent)
    }

    /// The input of a logged decision, from the profile's and trigger's JSON
    /// as they arrived: the same frame, byte for byte, as the decision's.
    pub fn logged(
        profile: &str,
        trigger: Option<&str>,
        context: Context,
        offers: Arc<[Offer]>,
        limits: &InputLimits,
    ) -> Result<Self, Error> {
        let (profiled, writer) = write(profile, trigger, limits)
            .map_err(|e| Error::InvalidInput(format!("the logged request does not read: {e}")))?;
        Self::finish(writer, profiled, context, offers, limits, None)
    }

    /// The input of a decision on a customer's kept profile: the profile
    /// and its prior copied as they are kept, then the trigger, the
    /// catalog and the context.
    pub fn kept(
        stored: &StoredProfile,
        trigger: Option<Trigger<'_>>,
        context: Context,
        offers: Arc<[Offer]>,
        limits: &InputLimits,
    ) -> Result<Self, crate::live::LiveError> {
        let corrupt = |e: &dyn std::fmt::Display| {
            crate::registry::RegistryError::Corrupt(format!(
                "the kept profile of customer {:?} does not read: {e}",
                stored.customer_id
            ))
        };
        let mut writer = take_writer();
        let frame = rulehost_profiles::frame_of(&stored.kept).map_err(|e| corrupt(&e))?;
        let mut written = input::profile::load_profile(frame, &mut writer).map_err(|e| corrupt(&e))?;
        if let Some(prior) = &stored.prior {
            written = input::profile::load_prior(prior, &mut writer, written).map_err(|e| corrupt(&e))?;
        }
        match trigger {
            Some(Trigger::Json(json)) => {
                json::trigger(json, limits, &mut writer).map_err(|e| Error::InvalidInput(format!("trigger: {e}")))?
            }
            Some(Trigger::Event(event)) => input::write_trigger(event, limits, &mut writer).map_err(Error::from)?,
            None => {}
        }
        let profiled = Profiled {
            customer_id: stored.customer_id.clone(),
            written,
        };
        Ok(Self::finish(writer, profiled, context, offers, limits, None)?)
    }

    /// The input of a request already modelled (a test).
    pub fn of(request: &Request, limits: &InputLimits) -> Result<Self, Error> {
        Self::new(
            input::build(request, limits)?,
            request.profile.customer_id.clone(),
            Context::of(request),
            request.offers.clone(),
            None,
        )
    }

    /// The profile and the trigger its frame holds, as JSON (what the log
    /// keeps of a decision whose profile did not come as JSON).
    pub fn as_json(&self) -> (String, Option<String>) {
        let input = self.frame.input();
        let profile = serde_json::to_string(&input::profile::profile_of(&input)).unwrap_or_default();
        let trigger = input
            .trigger
            .map(|e| serde_json::to_string(&input::profile::event_of(&input, e)).unwrap_or_default());
        (profile, trigger)
    }

    /// How to reach the customer and what started the decision: the
    /// profile's identities and the trigger's kind, as the outbox's
    /// deliveries carry them.
    pub fn reach(&self) -> (std::collections::BTreeMap<String, String>, Option<String>) {
        let input = self.frame.input();
        let identities = input
            .identities
            .iter()
            .map(|i| (input.text(i.kind).to_owned(), input.text(i.id).to_owned()))
            .collect();
        (identities, input.trigger.map(|t| input.text(t.kind).to_owned()))
    }

    /// The frame, for the pipeline.
    pub fn frame(&self) -> crate::pipeline::Frame<'_> {
        crate::pipeline::Frame {
            bytes: self.frame.bytes(),
            customer_id: &self.customer_id,
            offers: &self.offers,
        }
    }
}

/// The contact policy reads consent from the frame.
impl crate::policy::Attributes for Framed {
    fn attribute(&self, key: &str) -> Option<Value> {
        let input = self.frame.input();
        let attribute = input.attributes.iter().find(|a| input.text(a.key) == key)?;
        Some(match attribute.value {
            layout::Value::Text(atom) => Value::Text(input.text(atom).to_owned()),
            layout::Value::Int(i) => Value::Int(i),
            layout::Value::Float(f) => Value::Float(f),
            layout::Value::Flag(b) => Value::Flag(b),
            layout::Value::Time(t) => Value::Time(Timestamp(t)),
        })
    }
}
