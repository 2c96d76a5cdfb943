//! Turning a request into the contract's compact input.
//!
//! Every string goes into one string table and is referred to by index, so
//! the whole profile crosses into the guest as a few flat copies (see
//! DESIGN.md §2.1 for why). Events are sorted by time here, once, so plugins
//! can rely on the order. The request is checked against [`InputLimits`]
//! first: a malformed or oversized request is `invalid_input`.

use crate::Error;
use crate::contract::latest::types as wire;
use rulehost_model::{self as model, Request, Value};

pub use rulehost_model::InputLimits;

/// Interns strings into a contract string table.
///
/// The index uses foldhash: several times faster than SipHash on the short
/// strings of a profile, and still seeded per process, so a client cannot
/// choose colliding strings.
#[derive(Default)]
pub(crate) struct Interner<'a> {
    bytes: Vec<u8>,
    ends: Vec<u32>,
    index: foldhash::HashMap<&'a str, u32>,
}

impl<'a> Interner<'a> {
    fn with_capacity(strings: usize, bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(strings),
            index: foldhash::HashMap::with_capacity_and_hasher(strings, Default::default()),
        }
    }

    pub(crate) fn intern(&mut self, s: &'a str) -> u32 {
        if let Some(&atom) = self.index.get(s) {
            return atom;
        }
        self.bytes.extend_from_slice(s.as_bytes());
        let atom = self.ends.len() as u32;
        // Total size is bounded by the input limits, far below 4 GiB.
        self.ends.push(self.bytes.len() as u32);
        self.index.insert(s, atom);
        atom
    }

    pub(crate) fn finish(self) -> wire::StringTable {
        wire::StringTable {
            bytes: self.bytes,
            ends: self.ends,
        }
    }
}

struct Builder<'a> {
    strings: Interner<'a>,
    props: Vec<wire::Attribute>,
    limits: InputLimits,
}

impl<'a> Builder<'a> {
    fn text(&mut self, what: &dyn Fn() -> String, s: &'a str) -> Result<u32, Error> {
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
        Ok(self.strings.intern(s))
    }

    fn value(&mut self, what: &dyn Fn() -> String, value: &'a Value) -> Result<wire::Value, Error> {
        Ok(match value {
            Value::Text(s) => wire::Value::Text(self.text(what, s)?),
            Value::Int(i) => wire::Value::Int(*i),
            Value::Float(f) => wire::Value::Float(*f),
            Value::Flag(b) => wire::Value::Flag(*b),
            Value::Time(t) => wire::Value::Time(t.0),
        })
    }

    /// Adds an event; `path` names it in errors (built only for an error).
    fn event(&mut self, path: &dyn Fn() -> String, event: &'a model::Event) -> Result<wire::Event, Error> {
        if event.props.len() > self.limits.props {
            return Err(Error::InvalidInput(format!(
                "{}.props has {} entries; the limit is {}",
                path(),
                event.props.len(),
                self.limits.props
            )));
        }
        let start = self.props.len() as u32;
        for (key, value) in &event.props {
            let what = || format!("{}.props.{key}", path());
            let key = self.text(&what, key)?;
            let value = self.value(&what, value)?;
            self.props.push(wire::Attribute { key, value });
        }
        let mut opt = |field: &str, s: &'a Option<String>| -> Result<Option<u32>, Error> {
            s.as_deref()
                .map(|s| self.text(&|| format!("{}.{field}", path()), s))
                .transpose()
        };
        let channel = opt("channel", &event.channel)?;
        let sku = opt("sku", &event.sku)?;
        let category = opt("category", &event.category)?;
        Ok(wire::Event {
            kind: self.text(&|| format!("{}.kind", path()), &event.kind)?,
            at: event.at.0,
            channel,
            amount_minor: event.amount_minor,
            sku,
            category,
            props: wire::Span {
                start,
                len: self.props.len() as u32 - start,
            },
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

/// Checks a request and builds the contract's context and input from it.
pub fn build(request: &Request, limits: &InputLimits) -> Result<(wire::Context, wire::Input), Error> {
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

    // Most profiles have a few distinct strings per event and attribute.
    let estimate = 8 + profile.attributes.len() + 2 * profile.events.len() + 3 * request.offers.len();
    let mut b = Builder {
        strings: Interner::with_capacity(estimate, estimate * 12),
        props: Vec::with_capacity(profile.events.iter().map(|e| e.props.len()).sum()),
        limits: *limits,
    };
    let customer_id = b.text(&|| "profile.customer_id".into(), &profile.customer_id)?;

    let mut identities = Vec::with_capacity(profile.identities.len());
    for (kind, id) in &profile.identities {
        let what = || format!("profile.identities.{kind}");
        identities.push(wire::Identity {
            kind: b.text(&what, kind)?,
            id: b.text(&what, id)?,
        });
    }

    let mut attributes = Vec::with_capacity(profile.attributes.len());
    for (key, value) in &profile.attributes {
        let what = || format!("profile.attributes.{key}");
        attributes.push(wire::Attribute {
            key: b.text(&what, key)?,
            value: b.value(&what, value)?,
        });
    }

    // Events that arrive in time order (most clients send them so) are
    // taken as they are; others are put in order by a stable sort, so
    // events at the same instant keep the client's order.
    let mut events = Vec::with_capacity(profile.events.len());
    let mut event = |i: usize| -> Result<(), Error> {
        events.push(b.event(&|| format!("profile.events[{i}]"), &profile.events[i])?);
        Ok(())
    };
    if profile.events.is_sorted_by_key(|e| e.at) {
        (0..profile.events.len()).try_for_each(&mut event)?;
    } else {
        let mut order: Vec<usize> = (0..profile.events.len()).collect();
        order.sort_by_key(|&i| profile.events[i].at);
        order.into_iter().try_for_each(&mut event)?;
    }

    let mut prior_tags = Vec::with_capacity(profile.prior.tags.len());
    for (i, tag) in profile.prior.tags.iter().enumerate() {
        let what = || format!("profile.prior.tags[{i}]");
        prior_tags.push(wire::TagKey {
            group: b.text(&what, &tag.group)?,
            name: b.text(&what, &tag.name)?,
        });
    }

    let trigger = match &request.trigger {
        Some(event) => Some(b.event(&|| "trigger".into(), event)?),
        None => None,
    };

    let mut offers = Vec::with_capacity(request.offers.len());
    let mut offer_channels = Vec::new();
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
        let start = offer_channels.len() as u32;
        for channel in &offer.channels {
            offer_channels.push(b.text(&|| format!("offers[{i}].channels"), channel)?);
        }
        offers.push(wire::Offer {
            id: b.text(&|| format!("offers[{i}].id"), &offer.id)?,
            kind: b.text(&|| format!("offers[{i}].kind"), &offer.kind)?,
            channels: wire::Span {
                start,
                len: offer.channels.len() as u32,
            },
            value_minor: offer.value_minor,
            starts_at: offer.starts_at.map(|t| t.0),
            ends_at: offer.ends_at.map(|t| t.0),
            priority: offer.priority,
        });
    }

    let ctx = wire::Context {
        now: request.now.0,
        tz_offset_minutes: request.tz_offset_minutes,
        seed: request.seed,
        mode: match request.mode {
            model::Mode::Live => wire::Mode::Live,
            model::Mode::Batch => wire::Mode::Batch,
            model::Mode::Simulate => wire::Mode::Simulate,
            model::Mode::Shadow => wire::Mode::Shadow,
        },
        trigger,
    };
    let input = wire::Input {
        profile: wire::Profile {
            customer_id,
            identities,
            attributes,
            events,
            props: b.props,
            prior_tags,
            prior_stage: profile.prior.stage.map(stage_to_wire),
        },
        strings: b.strings.finish(),
        offers,
        offer_channels,
    };
    Ok((ctx, input))
}

pub(crate) fn stage_to_wire(stage: model::Stage) -> wire::LifecycleStage {
    match stage {
        model::Stage::Introduction => wire::LifecycleStage::Introduction,
        model::Stage::Growth => wire::LifecycleStage::Growth,
        model::Stage::Maturity => wire::LifecycleStage::Maturity,
        model::Stage::Dormancy => wire::LifecycleStage::Dormancy,
        model::Stage::Churned => wire::LifecycleStage::Churned,
        model::Stage::Reactivated => wire::LifecycleStage::Reactivated,
    }
}

pub(crate) fn stage_from_wire(stage: wire::LifecycleStage) -> model::Stage {
    match stage {
        wire::LifecycleStage::Introduction => model::Stage::Introduction,
        wire::LifecycleStage::Growth => model::Stage::Growth,
        wire::LifecycleStage::Maturity => model::Stage::Maturity,
        wire::LifecycleStage::Dormancy => model::Stage::Dormancy,
        wire::LifecycleStage::Churned => model::Stage::Churned,
        wire::LifecycleStage::Reactivated => model::Stage::Reactivated,
    }
}
