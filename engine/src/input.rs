//! Turning a request into the contract's input frame.
//!
//! The input crosses into the guest as one frame of the binary layout
//! (`rulehost-layout`, see DESIGN.md §2.1 and the README's "Contract
//! versions"): every string written once where it is met, everything else
//! fixed-size records that refer to strings by index. Events are put in
//! time order here, once, so plugins can rely on the order. The request is
//! checked against [`InputLimits`] as the frame is written: a malformed or
//! oversized request is `invalid_input`.

use crate::Error;
use rulehost_layout::input::{Header, InputWriter, Mode};
use rulehost_layout::{self as layout, Span};
use rulehost_model::{self as model, Request, Value};

pub use rulehost_model::InputLimits;

struct Builder<'w> {
    out: &'w mut InputWriter,
    limits: InputLimits,
}

impl Builder<'_> {
    fn text(&mut self, what: &dyn Fn() -> String, s: &str) -> Result<u32, Error> {
        // Characters, as the OpenAPI document's `maxLength` counts them;
        // they are counted only when the bytes could be too many.
        if s.len() > self.limits.string_chars {
            let chars = s.chars().count();
            if chars > self.limits.string_chars {
                return Err(Error::InvalidInput(format!(
                    "{} is {chars} characters long; the limit is {} characters",
                    what(),
                    self.limits.string_chars
                )));
            }
        }
        Ok(self.out.text(s))
    }

    fn value(&mut self, what: &dyn Fn() -> String, value: &Value) -> Result<layout::Value, Error> {
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
    fn event(&mut self, path: &dyn Fn() -> String, event: &model::Event) -> Result<layout::Event, Error> {
        if event.props.len() > self.limits.props {
            return Err(Error::InvalidInput(format!(
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
        let mut opt = |field: &str, s: &Option<String>| -> Result<Option<u32>, Error> {
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
fn count(what: impl std::fmt::Display, n: usize, limit: usize) -> Result<(), Error> {
    if n > limit {
        return Err(Error::InvalidInput(format!(
            "{what} has {n} entries; the limit is {limit}"
        )));
    }
    Ok(())
}

/// Checks a request and writes its input frame into `out` (emptied
/// first), with `writer`'s buffers: keep both per thread and reuse them.
pub fn write(
    request: &Request,
    limits: &InputLimits,
    writer: &mut InputWriter,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let profile = &request.profile;
    if profile.customer_id.is_empty() {
        return Err(Error::InvalidInput("profile.customer_id is empty".into()));
    }
    if !(-18 * 60..=18 * 60).contains(&request.tz_offset_minutes) {
        return Err(Error::InvalidInput(format!(
            "tz_offset_minutes is {}; it must be within ±1080 (±18 hours)",
            request.tz_offset_minutes
        )));
    }
    count("profile.events", profile.events.len(), limits.events)?;
    count("profile.attributes", profile.attributes.len(), limits.attributes)?;
    count("profile.identities", profile.identities.len(), limits.identities)?;
    count("profile.prior.tags", profile.prior.tags.len(), limits.prior_tags)?;
    count("offers", request.offers.len(), limits.offers)?;

    writer.clear();
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
    let mut event = |i: usize| -> Result<(), Error> {
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

    if let Some(event) = &request.trigger {
        let trigger = b.event(&|| "trigger".into(), event)?;
        b.out.trigger(&trigger);
    }

    let mut seen = foldhash::HashMap::default();
    for (i, offer) in request.offers.iter().enumerate() {
        if offer.id.is_empty() {
            return Err(Error::InvalidInput(format!("offers[{i}].id is empty")));
        }
        if let Some(first) = seen.insert(offer.id.as_str(), i) {
            return Err(Error::InvalidInput(format!(
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
            return Err(Error::InvalidInput(format!(
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

    let header = Header {
        now: request.now.0,
        seed: request.seed,
        tz_offset_minutes: request.tz_offset_minutes,
        customer_id,
        mode: match request.mode {
            model::Mode::Live => Mode::Live,
            model::Mode::Batch => Mode::Batch,
            model::Mode::Simulate => Mode::Simulate,
            model::Mode::Shadow => Mode::Shadow,
        },
        prior_stage: profile.prior.stage.map(stage_index),
    };
    writer.finish(&header, out);
    Ok(())
}

/// Checks a request and returns its input frame (see [`write`]).
pub fn build(request: &Request, limits: &InputLimits) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    write(request, limits, &mut InputWriter::default(), &mut out)?;
    Ok(out)
}

/// The stages in the order of [`layout::STAGES`].
const STAGES: [model::Stage; 6] = [
    model::Stage::Introduction,
    model::Stage::Growth,
    model::Stage::Maturity,
    model::Stage::Dormancy,
    model::Stage::Churned,
    model::Stage::Reactivated,
];

/// A stage's index in a frame.
pub(crate) fn stage_index(stage: model::Stage) -> u8 {
    STAGES.iter().position(|&s| s == stage).unwrap_or_default() as u8
}

/// The stage at an index of a checked frame.
pub(crate) fn stage_at(index: u8) -> model::Stage {
    STAGES[usize::from(index)]
}
