//! The same plugin crate called natively: the host's input is converted to
//! the SDK's contract types and run through `rulehost_sdk::native::Session`,
//! exactly the code the guest runs, without the sandbox. What a brand
//! would otherwise run is its rules on data it already holds, so the
//! native figure is the rules alone: everything a decision needs is built
//! first ([`prepare`]), outside the timed region ([`rules`]).

use rulehost::engine::contract::latest::types as host;
use rulehost::input::InputLimits;
use rulehost::model::Request;
use rulehost_sdk::Plugin;
use rulehost_sdk::native::{Session, wire as sdk};

fn span(s: host::Span) -> sdk::Span {
    sdk::Span {
        start: s.start,
        len: s.len,
    }
}

fn value(v: host::Value) -> sdk::Value {
    match v {
        host::Value::Text(a) => sdk::Value::Text(a),
        host::Value::Int(i) => sdk::Value::Int(i),
        host::Value::Float(f) => sdk::Value::Float(f),
        host::Value::Flag(b) => sdk::Value::Flag(b),
        host::Value::Time(t) => sdk::Value::Time(t),
    }
}

fn attribute(a: host::Attribute) -> sdk::Attribute {
    sdk::Attribute {
        key: a.key,
        value: value(a.value),
    }
}

fn event(e: host::Event) -> sdk::Event {
    sdk::Event {
        kind: e.kind,
        at: e.at,
        channel: e.channel,
        amount_minor: e.amount_minor,
        sku: e.sku,
        category: e.category,
        props: span(e.props),
    }
}

fn stage(s: host::LifecycleStage) -> sdk::LifecycleStage {
    match s {
        host::LifecycleStage::Introduction => sdk::LifecycleStage::Introduction,
        host::LifecycleStage::Growth => sdk::LifecycleStage::Growth,
        host::LifecycleStage::Maturity => sdk::LifecycleStage::Maturity,
        host::LifecycleStage::Dormancy => sdk::LifecycleStage::Dormancy,
        host::LifecycleStage::Churned => sdk::LifecycleStage::Churned,
        host::LifecycleStage::Reactivated => sdk::LifecycleStage::Reactivated,
    }
}

fn input(i: host::Input) -> sdk::Input {
    let p = i.profile;
    sdk::Input {
        strings: sdk::StringTable {
            bytes: i.strings.bytes,
            ends: i.strings.ends,
        },
        profile: sdk::Profile {
            customer_id: p.customer_id,
            identities: p
                .identities
                .into_iter()
                .map(|x| sdk::Identity { kind: x.kind, id: x.id })
                .collect(),
            attributes: p.attributes.into_iter().map(attribute).collect(),
            events: p.events.into_iter().map(event).collect(),
            props: p.props.into_iter().map(attribute).collect(),
            prior_tags: p
                .prior_tags
                .into_iter()
                .map(|t| sdk::TagKey {
                    group: t.group,
                    name: t.name,
                })
                .collect(),
            prior_stage: p.prior_stage.map(stage),
        },
        offers: i
            .offers
            .into_iter()
            .map(|o| sdk::Offer {
                id: o.id,
                kind: o.kind,
                channels: span(o.channels),
                value_minor: o.value_minor,
                starts_at: o.starts_at,
                ends_at: o.ends_at,
                priority: o.priority,
            })
            .collect(),
        offer_channels: i.offer_channels,
    }
}

fn context(c: host::Context) -> sdk::Context {
    sdk::Context {
        now: c.now,
        tz_offset_minutes: c.tz_offset_minutes,
        seed: c.seed,
        mode: match c.mode {
            host::Mode::Live => sdk::Mode::Live,
            host::Mode::Batch => sdk::Mode::Batch,
            host::Mode::Simulate => sdk::Mode::Simulate,
            host::Mode::Shadow => sdk::Mode::Shadow,
        },
        trigger: c.trigger.map(event),
    }
}

/// What the pipeline has concluded so far, interned as the host does it.
fn findings(tags: &[sdk::Tag], scores: &[sdk::Score], stage: Option<sdk::LifecycleStage>) -> sdk::Findings {
    let mut bytes = Vec::new();
    let mut ends = Vec::new();
    let mut intern = |s: &str| {
        bytes.extend_from_slice(s.as_bytes());
        ends.push(bytes.len() as u32);
        ends.len() as u32 - 1
    };
    let tags = tags
        .iter()
        .map(|t| sdk::TagKey {
            group: intern(&t.group),
            name: intern(&t.name),
        })
        .collect();
    let scores = scores
        .iter()
        .map(|s| sdk::ScoreValue {
            name: intern(&s.name),
            value: s.value,
        })
        .collect();
    sdk::Findings {
        strings: sdk::StringTable { bytes, ends },
        tags,
        scores,
        stage,
    }
}

/// One decision's input in the SDK's types, with the findings each later
/// stage sees, all built before the rules run.
pub struct Prepared {
    ctx: sdk::Context,
    input: sdk::Input,
    scoring: sdk::Findings,
    targeting: sdk::Findings,
}

/// Builds what [`rules`] needs for `request`: the host's input converted to
/// the SDK's types, and the findings of a first native run.
pub fn prepare<P: Plugin>(request: &Request) -> Result<Prepared, String> {
    let (ctx, wire) = rulehost::input::build(request, &InputLimits::default()).map_err(|e| e.to_string())?;
    let (ctx, input) = (context(ctx), input(wire));
    let session = Session::<P>::new(ctx, input.clone());
    let tags = session.tag().map_err(|e| e.message)?;
    let scoring = session.score(findings(&tags, &[], None)).map_err(|e| e.message)?;
    let targeting = findings(&tags, &scoring.scores, scoring.stage.as_ref().map(|s| s.stage));
    Ok(Prepared {
        ctx,
        input,
        scoring: findings(&tags, &[], None),
        targeting,
    })
}

/// The plugin's rules alone, natively: a session over input already built,
/// and its three stages. Returns the number of outputs, so the work cannot
/// be optimised away.
pub fn rules<P: Plugin>(prepared: Prepared) -> Result<usize, String> {
    let session = Session::<P>::new(prepared.ctx, prepared.input);
    let tags = session.tag().map_err(|e| e.message)?;
    let scoring = session.score(prepared.scoring).map_err(|e| e.message)?;
    let proposals = session.target(prepared.targeting).map_err(|e| e.message)?;
    Ok(tags.len() + scoring.scores.len() + proposals.len())
}
