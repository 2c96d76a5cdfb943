//! A profile alone as a frame, and back: how the host keeps a customer's
//! profile so that a decision by id copies it into its input instead of
//! reading it again.
//!
//! A *profile frame* is an input frame (`RHI2`) that holds only a profile's
//! strings, identities, attributes, events and their props: no prior
//! decision, no trigger, no catalog, a zero context. A decision on it
//! starts its writer with the profile ([`load_profile`]), then adds the
//! prior decision ([`load_prior`]: a findings frame), the trigger and the
//! catalog, and writes its own header.

use std::collections::BTreeMap;

use rulehost_layout::findings::Findings;
use rulehost_layout::input::{Input, InputWriter};
use rulehost_layout::{self as layout, LayoutError, TagKey};
use rulehost_model::{self as model, Event, Mode, Prior, PriorTag, Profile, Timestamp, Value};

use crate::{Context, InputLimits, InvalidInput, Written, count, stage_at, write_profile};

/// Writes `profile` (its prior left out) as a profile frame into `out`.
pub fn profile_frame(profile: &Profile, limits: &InputLimits, out: &mut Vec<u8>) -> Result<(), InvalidInput> {
    if profile.customer_id.is_empty() {
        return Err(InvalidInput("profile.customer_id is empty".into()));
    }
    count("profile.events", profile.events.len(), limits.events)?;
    count("profile.attributes", profile.attributes.len(), limits.attributes)?;
    count("profile.identities", profile.identities.len(), limits.identities)?;
    let alone = Profile {
        prior: Prior::default(),
        ..profile.clone()
    };
    let mut writer = InputWriter::default();
    let written = write_profile(&alone, None, limits, &mut writer)?;
    let context = Context {
        now: Timestamp(0),
        seed: 0,
        tz_offset_minutes: 0,
        mode: Mode::Live,
    };
    crate::finish(&writer, &context, written, out)
}

/// Starts `writer` with a profile frame's profile (checked first: it was
/// read from storage); the caller adds the prior, the trigger and the
/// catalog.
pub fn load_profile(frame: &[u8], writer: &mut InputWriter) -> Result<Written, LayoutError> {
    let input = Input::read(frame)?;
    writer.load_profile(&input);
    Ok(Written {
        customer_id: input.header.customer_id,
        prior_stage: None,
    })
}

/// Adds the prior decision kept as a findings frame (its tags and stage)
/// after a loaded profile; returns `written` with the prior stage.
pub fn load_prior(findings: &[u8], writer: &mut InputWriter, written: Written) -> Result<Written, LayoutError> {
    let findings = Findings::read(findings)?;
    for tag in findings.tags.iter() {
        let group = writer.text(findings.text(tag.group));
        let name = writer.text(findings.text(tag.name));
        writer.prior_tag(&TagKey { group, name });
    }
    Ok(Written {
        prior_stage: findings.stage,
        ..written
    })
}

/// The profile a frame holds, as the JSON model reads it (the frame's prior
/// decision included).
pub fn profile_of(input: &Input<'_>) -> Profile {
    let text = |atom: u32| input.text(atom).to_owned();
    let value = |v: layout::Value| match v {
        layout::Value::Text(atom) => Value::Text(text(atom)),
        layout::Value::Int(i) => Value::Int(i),
        layout::Value::Float(f) => Value::Float(f),
        layout::Value::Flag(b) => Value::Flag(b),
        layout::Value::Time(t) => Value::Time(Timestamp(t)),
    };
    let values = |records: layout::Records<'_, layout::Attribute>| -> BTreeMap<String, Value> {
        records.iter().map(|a| (text(a.key), value(a.value))).collect()
    };
    Profile {
        customer_id: text(input.header.customer_id),
        identities: input.identities.iter().map(|i| (text(i.kind), text(i.id))).collect(),
        attributes: values(input.attributes),
        events: input.events.iter().map(|e| event_of(input, e)).collect(),
        prior: Prior {
            tags: input
                .prior_tags
                .iter()
                .map(|t| PriorTag {
                    group: text(t.group),
                    name: text(t.name),
                    reason: None,
                    rule_id: None,
                    expires_at: None,
                })
                .collect(),
            stage: input.header.prior_stage.map(stage_at),
        },
    }
}

/// An event of a frame as the JSON model reads it.
pub fn event_of(input: &Input<'_>, e: layout::Event) -> Event {
    let text = |atom: u32| input.text(atom).to_owned();
    model::Event {
        kind: text(e.kind),
        at: Timestamp(e.at),
        channel: e.channel.map(text),
        amount_minor: e.amount_minor,
        sku: e.sku.map(text),
        category: e.category.map(text),
        props: input
            .props
            .span(e.props)
            .iter()
            .map(|a| {
                let value = match a.value {
                    layout::Value::Text(atom) => Value::Text(text(atom)),
                    layout::Value::Int(i) => Value::Int(i),
                    layout::Value::Float(f) => Value::Float(f),
                    layout::Value::Flag(b) => Value::Flag(b),
                    layout::Value::Time(t) => Value::Time(Timestamp(t)),
                };
                (text(a.key), value)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use rulehost_layout::findings::FindingsWriter;
    use rulehost_model::{Request, from_json};

    use super::*;
    use crate::{build, finish, resolved, write_offers};

    const PROFILE: &str = r#"{"customer_id":"c-1","identities":{"phone":"138"},
        "attributes":{"tier":"gold","born":"1990-05-01T00:00:00Z","n":3,"f":1.5,"ok":true},
        "events":[{"kind":"purchase","at":"2026-03-01T09:00:00Z","amount_minor":2800,"sku":"latte-m","category":"latte","channel":"store","props":{"cup":"large"}},
                  {"kind":"view","at":"2026-03-02T09:00:00Z"}],
        "prior":{"tags":[{"group":"rfm","name":"champions"}],"stage":"growth"}}"#;

    #[test]
    fn a_profile_goes_through_a_profile_frame_unchanged_but_its_prior() {
        let profile: Profile = from_json("profile", PROFILE).unwrap();
        let mut frame = Vec::new();
        profile_frame(&profile, &InputLimits::default(), &mut frame).unwrap();
        let back = profile_of(&Input::read(&frame).unwrap());
        assert_eq!(
            back,
            Profile {
                prior: Prior::default(),
                ..profile
            }
        );
    }

    /// A decision's input from a kept profile and its kept prior is the
    /// input the same profile sent as JSON gives.
    #[test]
    fn a_kept_profile_and_prior_make_the_same_input_as_the_profile_sent() {
        let profile: Profile = from_json("profile", PROFILE).unwrap();
        let offers: std::sync::Arc<[model::Offer]> =
            from_json::<Vec<model::Offer>>("offers", r#"[{"id":"o","kind":"k","channels":["sms"]}]"#)
                .unwrap()
                .into();
        let trigger: Event = from_json("trigger", r#"{"kind":"purchase","at":"2026-03-02T10:00:00Z"}"#).unwrap();
        let request = Request {
            now: Timestamp(1_772_900_000_000),
            tz_offset_minutes: 480,
            seed: 7,
            mode: Mode::Live,
            trigger: Some(trigger.clone()),
            profile: profile.clone(),
            offers: offers.clone(),
        };
        let sent = build(&request, &InputLimits::default()).unwrap();

        let mut kept = Vec::new();
        profile_frame(&profile, &InputLimits::default(), &mut kept).unwrap();
        let mut prior = FindingsWriter::default();
        prior.tag("rfm", "champions");
        let mut prior_frame = Vec::new();
        prior.finish(Some(1), &mut prior_frame);

        let limits = InputLimits::default();
        let mut writer = InputWriter::default();
        let written = load_profile(&kept, &mut writer).unwrap();
        let written = load_prior(&prior_frame, &mut writer, written).unwrap();
        crate::write_trigger(&trigger, &limits, &mut writer).unwrap();
        write_offers(&offers, &limits, &mut writer).unwrap();
        let mut by_id = Vec::new();
        finish(&writer, &Context::of(&request), written, &mut by_id).unwrap();
        assert_eq!(resolved(&by_id).unwrap(), resolved(&sent).unwrap());
    }

    #[test]
    fn a_damaged_profile_frame_is_refused() {
        let profile: Profile = from_json("profile", PROFILE).unwrap();
        let mut frame = Vec::new();
        profile_frame(&profile, &InputLimits::default(), &mut frame).unwrap();
        frame.truncate(frame.len() - 3);
        assert!(load_profile(&frame, &mut InputWriter::default()).is_err());
    }
}
