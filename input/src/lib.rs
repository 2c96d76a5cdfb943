//! # rulehost-input
//!
//! Turning a request into the contract's input frame, and a kept profile
//! into the same frame's profile part ([`profile`]).
//!
//! The input crosses into the guest as one frame of the binary layout
//! (`rulehost-layout`, see DESIGN.md §2.1 and the README's "Contract
//! versions"): every string written once where it is met, everything else
//! fixed-size records that refer to strings by index. Events are put in
//! time order here, once, so plugins can rely on the order. The request is
//! checked against [`InputLimits`] as the frame is written: a malformed or
//! oversized request is `invalid_input`.

pub mod json;
pub mod profile;

use rulehost_layout::input::{Header, InputWriter, Mode};
use rulehost_layout::{self as layout, Span};
pub use rulehost_model::InvalidInput;
use rulehost_model::{self as model, Request, Value};

pub use rulehost_model::InputLimits;

struct Builder<'w> {
    out: &'w mut InputWriter,
    limits: InputLimits,
}

impl Builder<'_> {
    fn text(&mut self, what: &dyn Fn() -> String, s: &str) -> Result<u32, InvalidInput> {
        // Characters, as the OpenAPI document's `maxLength` counts them;
        // they are counted only when the bytes could be too many.
        if s.len() > self.limits.string_chars {
            let chars = s.chars().count();
            if chars > self.limits.string_chars {
                return Err(InvalidInput(format!(
                    "{} is {chars} characters long; the limit is {} characters",
                    what(),
                    self.limits.string_chars
                )));
            }
        }
        Ok(self.out.text(s))
    }

    fn value(&mut self, what: &dyn Fn() -> String, value: &Value) -> Result<layout::Value, InvalidInput> {
        Ok(match value {
            Value::Text(s) => layout::Value::Text(self.text(what, s)?),
            Value::Int(i) => layout::Value::Int(*i),
            Value::Float(f) => layout::Value::Float(*f),
            Value::Flag(b) => layout::Value::Flag(*b),
            Value::Time(t) => layout::Value::Time(t.0),
        })
    }

    /// Writes an event's props and returns the event, for the caller to
    /// add where it belongs; `path` names it in errors (built only for an
    /// error).
    fn event(&mut self, path: &dyn Fn() -> String, event: &model::Event) -> Result<layout::Event, InvalidInput> {
        if event.props.len() > self.limits.props {
            return Err(InvalidInput(format!(
                "{}.props has {} entries; the limit is {}",
                path(),
                event.props.len(),
                self.limits.props
            )));
        }
        let start = self.out.props_len();
        for (key, value) in &event.props {
            let what = || format!("{}.props.{key}", path());
            let key = self.text(&what, key)?;
            let value = self.value(&what, value)?;
            self.out.prop(&layout::Attribute { key, value });
        }
        let props = Span {
            start,
            len: self.out.props_len() - start,
        };
        let mut opt = |field: &str, s: &Option<String>| -> Result<Option<u32>, InvalidInput> {
            s.as_deref()
                .map(|s| self.text(&|| format!("{}.{field}", path()), s))
                .transpose()
        };
        let channel = opt("channel", &event.channel)?;
        let sku = opt("sku", &event.sku)?;
        let category = opt("category", &event.category)?;
        Ok(layout::Event {
            kind: self.text(&|| format!("{}.kind", path()), &event.kind)?,
            at: event.at.0,
            channel,
            amount_minor: event.amount_minor,
            sku,
            category,
            props,
        })
    }
}

/// Refuses more than `limit` entries; `what` is formatted only then.
fn count(what: impl std::fmt::Display, n: usize, limit: usize) -> Result<(), InvalidInput> {
    if n > limit {
        return Err(InvalidInput(format!("{what} has {n} entries; the limit is {limit}")));
    }
    Ok(())
}

/// What writing a profile leaves for the frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The customer's id (an atom).
    pub customer_id: u32,
    /// The previous decision's stage (an index of the frame's stages).
    pub prior_stage: Option<u8>,
}

/// The decision's context: the frame's header besides the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// The decision's time.
    pub now: model::Timestamp,
    /// The seed plugins get.
    pub seed: u64,
    /// The tenant's UTC offset in minutes.
    pub tz_offset_minutes: i32,
    /// Why the decision is made.
    pub mode: model::Mode,
}

impl Context {
    /// A request's context.
    pub fn of(request: &Request) -> Self {
        Self {
            now: request.now,
            seed: request.seed,
            tz_offset_minutes: request.tz_offset_minutes,
            mode: request.mode,
        }
    }

    fn check(&self) -> Result<(), InvalidInput> {
        if !(-18 * 60..=18 * 60).contains(&self.tz_offset_minutes) {
            return Err(InvalidInput(format!(
                "tz_offset_minutes is {}; it must be within ±1080 (±18 hours)",
                self.tz_offset_minutes
            )));
        }
        Ok(())
    }
}

/// Checks a request and writes its input frame into `out` (emptied
/// first), with `writer`'s buffers: keep both per thread and reuse them.
pub fn write(
    request: &Request,
    limits: &InputLimits,
    writer: &mut InputWriter,
    out: &mut Vec<u8>,
) -> Result<(), InvalidInput> {
    let profile = &request.profile;
    if profile.customer_id.is_empty() {
        return Err(InvalidInput("profile.customer_id is empty".into()));
    }
    let context = Context::of(request);
    context.check()?;
    count("profile.events", profile.events.len(), limits.events)?;
    count("profile.attributes", profile.attributes.len(), limits.attributes)?;
    count("profile.identities", profile.identities.len(), limits.identities)?;
    count("profile.prior.tags", profile.prior.tags.len(), limits.prior_tags)?;

    writer.clear();
    let written = write_profile(profile, request.trigger.as_ref(), limits, writer)?;
    write_offers(&request.offers, limits, writer)?;
    finish(writer, &context, written, out)
}

/// Writes a profile and the trigger, if any, into `writer` (the counts of
/// the profile's parts already checked).
fn write_profile(
    profile: &model::Profile,
    trigger: Option<&model::Event>,
    limits: &InputLimits,
    writer: &mut InputWriter,
) -> Result<Written, InvalidInput> {
    let mut b = Builder {
        out: writer,
        limits: *limits,
    };
    let customer_id = b.text(&|| "profile.customer_id".into(), &profile.customer_id)?;

    for (kind, id) in &profile.identities {
        let what = || format!("profile.identities.{kind}");
        let identity = layout::Identity {
            kind: b.text(&what, kind)?,
            id: b.text(&what, id)?,
        };
        b.out.identity(&identity);
    }

    for (key, value) in &profile.attributes {
        let what = || format!("profile.attributes.{key}");
        let attribute = layout::Attribute {
            key: b.text(&what, key)?,
            value: b.value(&what, value)?,
        };
        b.out.attribute(&attribute);
    }

    // Events that arrive in time order (most clients send them so) are
    // taken as they are; others are put in order by a stable sort, so
    // events at the same instant keep the client's order.
    let mut event = |i: usize| -> Result<(), InvalidInput> {
        let event = b.event(&|| format!("profile.events[{i}]"), &profile.events[i])?;
        b.out.event(&event);
        Ok(())
    };
    if profile.events.is_sorted_by_key(|e| e.at) {
        (0..profile.events.len()).try_for_each(&mut event)?;
    } else {
        // Sorted as (time, position) pairs: the key is at hand, not behind
        // a pointer, and the position keeps the sort stable.
        let mut order: Vec<(i64, usize)> = profile.events.iter().map(|e| e.at.0).zip(0..).collect();
        order.sort_unstable();
        order.into_iter().try_for_each(|(_, i)| event(i))?;
    }

    for (i, tag) in profile.prior.tags.iter().enumerate() {
        let what = || format!("profile.prior.tags[{i}]");
        let tag = layout::TagKey {
            group: b.text(&what, &tag.group)?,
            name: b.text(&what, &tag.name)?,
        };
        b.out.prior_tag(&tag);
    }

    if let Some(event) = trigger {
        let trigger = b.event(&|| "trigger".into(), event)?;
        b.out.trigger(&trigger);
    }
    Ok(Written {
        customer_id,
        prior_stage: profile.prior.stage.map(stage_index),
    })
}

/// Writes a trigger event into `writer`, after its profile (a decision on
/// a kept profile, triggered by an event or a wake-up).
pub fn write_trigger(event: &model::Event, limits: &InputLimits, writer: &mut InputWriter) -> Result<(), InvalidInput> {
    let mut b = Builder {
        out: writer,
        limits: *limits,
    };
    let trigger = b.event(&|| "trigger".into(), event)?;
    b.out.trigger(&trigger);
    Ok(())
}

/// Checks the catalog and writes it into `writer`, after the profile.
pub fn write_offers(
    offers: &[model::Offer],
    limits: &InputLimits,
    writer: &mut InputWriter,
) -> Result<(), InvalidInput> {
    count("offers", offers.len(), limits.offers)?;
    let mut b = Builder {
        out: writer,
        limits: *limits,
    };
    let mut seen = foldhash::HashMap::default();
    for (i, offer) in offers.iter().enumerate() {
        if offer.id.is_empty() {
            return Err(InvalidInput(format!("offers[{i}].id is empty")));
        }
        if let Some(first) = seen.insert(offer.id.as_str(), i) {
            return Err(InvalidInput(format!(
                "offers[{i}].id {:?} is already used by offers[{first}]",
                offer.id
            )));
        }
        count(
            format_args!("offers[{i}].channels"),
            offer.channels.len(),
            limits.channels,
        )?;
        if let (Some(start), Some(end)) = (offer.starts_at, offer.ends_at)
            && start >= end
        {
            return Err(InvalidInput(format!(
                "offers[{i}] ends_at {end} is not after starts_at {start}"
            )));
        }
        let start = b.out.offer_channels_len();
        for channel in &offer.channels {
            let atom = b.text(&|| format!("offers[{i}].channels"), channel)?;
            b.out.offer_channel(atom);
        }
        let offer = layout::Offer {
            id: b.text(&|| format!("offers[{i}].id"), &offer.id)?,
            kind: b.text(&|| format!("offers[{i}].kind"), &offer.kind)?,
            channels: Span {
                start,
                len: offer.channels.len() as u32,
            },
            value_minor: offer.value_minor,
            starts_at: offer.starts_at.map(|t| t.0),
            ends_at: offer.ends_at.map(|t| t.0),
            priority: offer.priority,
        };
        b.out.offer(&offer);
    }
    Ok(())
}

/// Writes the frame of what `writer` holds (a profile, its trigger and the
/// catalog) with the header of `context` into `out`.
pub fn finish(
    writer: &InputWriter,
    context: &Context,
    written: Written,
    out: &mut Vec<u8>,
) -> Result<(), InvalidInput> {
    context.check()?;
    let header = Header {
        now: context.now.0,
        seed: context.seed,
        tz_offset_minutes: context.tz_offset_minutes,
        customer_id: written.customer_id,
        mode: match context.mode {
            model::Mode::Live => Mode::Live,
            model::Mode::Batch => Mode::Batch,
            model::Mode::Simulate => Mode::Simulate,
            model::Mode::Shadow => Mode::Shadow,
        },
        prior_stage: written.prior_stage,
    };
    writer.finish(&header, out);
    Ok(())
}

/// Checks a request and returns its input frame (see [`write`]).
pub fn build(request: &Request, limits: &InputLimits) -> Result<Vec<u8>, InvalidInput> {
    let mut out = Vec::new();
    write(request, limits, &mut InputWriter::default(), &mut out)?;
    Ok(out)
}

/// The stages in the order of [`layout::STAGES`].
const STAGES: [model::Stage; 6] = model::Stage::ALL;

/// A stage's index in a frame.
pub fn stage_index(stage: model::Stage) -> u8 {
    STAGES.iter().position(|&s| s == stage).unwrap_or_default() as u8
}

/// The stage at an index of a checked frame.
pub fn stage_at(index: u8) -> model::Stage {
    STAGES[usize::from(index)]
}

/// A frame's content as text, every atom resolved to its string: frames
/// whose strings were written in another order but that hold the same
/// request read the same. Tests and fuzz targets compare the one-pass
/// reading ([`json`]) with the model's ([`write`]) so.
pub fn resolved(frame: &[u8]) -> Result<String, rulehost_layout::LayoutError> {
    let input = rulehost_layout::input::Input::read(frame)?;
    let text = |a: u32| input.text(a).to_owned();
    let value = |v: layout::Value| match v {
        layout::Value::Text(a) => format!("{:?}", text(a)),
        other => format!("{other:?}"),
    };
    let values =
        |r: layout::Records<'_, layout::Attribute>| r.iter().map(|a| (text(a.key), value(a.value))).collect::<Vec<_>>();
    let event = |e: layout::Event| {
        format!(
            "{} {} {:?} {:?} {:?} {:?} {:?}",
            text(e.kind),
            e.at,
            e.channel.map(text),
            e.amount_minor,
            e.sku.map(text),
            e.category.map(text),
            values(input.props.span(e.props))
        )
    };
    let offer = |o: layout::Offer| {
        format!(
            "{} {} {:?} {} {:?} {:?} {}",
            text(o.id),
            text(o.kind),
            input
                .offer_channels
                .span(o.channels)
                .iter()
                .map(text)
                .collect::<Vec<_>>(),
            o.value_minor,
            o.starts_at,
            o.ends_at,
            o.priority
        )
    };
    let h = &input.header;
    Ok(format!(
        "{} {} {} {:?} {} {:?}\nidentities {:?}\nattributes {:?}\nevents {:#?}\nprior {:?}\ntrigger {:?}\noffers {:#?}",
        h.now,
        h.seed,
        h.tz_offset_minutes,
        h.mode,
        text(h.customer_id),
        h.prior_stage,
        input
            .identities
            .iter()
            .map(|i| (text(i.kind), text(i.id)))
            .collect::<Vec<_>>(),
        values(input.attributes),
        input.events.iter().map(event).collect::<Vec<_>>(),
        input
            .prior_tags
            .iter()
            .map(|t| (text(t.group), text(t.name)))
            .collect::<Vec<_>>(),
        input.trigger.map(event),
        input.offers.iter().map(offer).collect::<Vec<_>>(),
    ))
}
