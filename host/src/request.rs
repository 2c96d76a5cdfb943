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
use crate::live::DecideRequest;
use crate::model::{self, JsonError, Mode, Offer, Request, Strict, Timestamp, Value, whole};
use rulehost_layout as layout;
use rulehost_layout::input::{Checked, InputWriter};

/// A decide request as it arrived: its profile and trigger already written
/// into an input frame's writer, its body kept for the log.
pub struct Arrived {
    sent: Sent,
    profiled: Profiled,
    writer: InputWriter,
    /// The decision's time, if the request sets it.
    pub now: Option<Timestamp>,
    /// The seed, if the request sets it.
    pub seed: Option<u64>,
    /// Why the decision is made, if the request says.
    pub mode: Option<Mode>,
    /// Whether the selected touches are recorded.
    pub commit: bool,
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
    #[serde(borrow)]
    profile: &'a RawValue,
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

    /// The customer's id.
    pub fn customer_id(&self) -> &str {
        &self.profiled.customer_id
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
        let (profiled, writer) =
            write(envelope.profile.get(), envelope.trigger.map(RawValue::get), limits).map_err(|e| e.to_string())?;
        // Where the raw values lie in the body: they were borrowed from it.
        let span = |raw: &RawValue| {
            let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
            start..start + raw.get().len()
        };
        Ok(Self {
            sent: Sent {
                body: body.clone(),
                profile: span(envelope.profile),
                trigger: envelope.trigger.map(span),
            },
            profiled,
            writer,
            now: envelope.now,
            seed: envelope.seed,
            mode: envelope.mode,
            commit: envelope.commit,
        })
    }

    /// The decision's input: the catalog and the context written after the
    /// profile.
    pub fn frame(self, context: Context, offers: Arc<[Offer]>, limits: &InputLimits) -> Result<Framed, Error> {
        Framed::finish(self.writer, self.profiled, context, offers, limits, Some(self.sent))
    }
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
    let frame = input::build(&request, limits).map_err(Refused::Input)?;
    Ok((request, frame))
}

/// The model's own refusal of a body the one-pass reading refused: the
/// message and path a client always got.
fn refusal(body: &[u8], limits: &InputLimits, fast: String) -> Refused {
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
