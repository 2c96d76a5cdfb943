//! Bindings for `rulehost:plugin@0.1.0`.

mod generated {
    #![allow(missing_docs, reason = "bindgen-generated code")]

    wasmtime::component::bindgen!({
        path: "../wit/plugin@0.1.0",
        world: "plugin",
        imports: {
            // A plugin that floods the log is stopped with a trap.
            "rulehost:plugin/host.log": trappable,
        },
    });
}

pub use generated::exports::rulehost::plugin::rules;
pub use generated::rulehost::plugin::host;
pub use generated::rulehost::plugin::types;
pub use generated::{Plugin as Bindings, PluginPre as BindingsPre};

use rulehost_layout::{self as layout, Records, Strings};
use types::LifecycleStage;

/// The stages in the order of [`layout::STAGES`].
const STAGES: [LifecycleStage; 6] = [
    LifecycleStage::Introduction,
    LifecycleStage::Growth,
    LifecycleStage::Maturity,
    LifecycleStage::Dormancy,
    LifecycleStage::Churned,
    LifecycleStage::Reactivated,
];

/// A stage of a checked frame (its index is known to be in range).
fn stage(index: u8) -> LifecycleStage {
    STAGES[usize::from(index)]
}

/// The index of a 0.1.0 stage in [`layout::STAGES`].
pub(crate) fn stage_index(stage: LifecycleStage) -> u8 {
    STAGES.iter().position(|&s| s == stage).unwrap_or_default() as u8
}

/// A frame's strings as a 0.1.0 string table: the same bytes and ends.
fn strings(s: &Strings<'_>) -> types::StringTable {
    types::StringTable {
        bytes: s.text().as_bytes().to_vec(),
        ends: s.ends().iter().collect(),
    }
}

fn span(s: layout::Span) -> types::Span {
    types::Span {
        start: s.start,
        len: s.len,
    }
}

fn attributes(records: Records<'_, layout::Attribute>) -> Vec<types::Attribute> {
    records
        .iter()
        .map(|a| types::Attribute {
            key: a.key,
            value: match a.value {
                layout::Value::Text(t) => types::Value::Text(t),
                layout::Value::Int(i) => types::Value::Int(i),
                layout::Value::Float(f) => types::Value::Float(f),
                layout::Value::Flag(b) => types::Value::Flag(b),
                layout::Value::Time(t) => types::Value::Time(t),
            },
        })
        .collect()
}

fn event(e: layout::Event) -> types::Event {
    types::Event {
        kind: e.kind,
        at: e.at,
        channel: e.channel,
        amount_minor: e.amount_minor,
        sku: e.sku,
        category: e.category,
        props: span(e.props),
    }
}

fn tag_keys(records: Records<'_, layout::TagKey>) -> Vec<types::TagKey> {
    records
        .iter()
        .map(|t| types::TagKey {
            group: t.group,
            name: t.name,
        })
        .collect()
}

/// A checked input frame as 0.1.0's context and input: the same atoms,
/// spans and order, so a 0.1.0 plugin sees what it always saw.
pub(crate) fn input(frame: &layout::input::Input<'_>) -> (types::Context, types::Input) {
    let h = &frame.header;
    let ctx = types::Context {
        now: h.now,
        tz_offset_minutes: h.tz_offset_minutes,
        seed: h.seed,
        mode: match h.mode {
            layout::input::Mode::Live => types::Mode::Live,
            layout::input::Mode::Batch => types::Mode::Batch,
            layout::input::Mode::Simulate => types::Mode::Simulate,
            layout::input::Mode::Shadow => types::Mode::Shadow,
        },
        trigger: frame.trigger.map(event),
    };
    let input = types::Input {
        strings: strings(&frame.strings),
        profile: types::Profile {
            customer_id: h.customer_id,
            identities: frame
                .identities
                .iter()
                .map(|i| types::Identity { kind: i.kind, id: i.id })
                .collect(),
            attributes: attributes(frame.attributes),
            events: frame.events.iter().map(event).collect(),
            props: attributes(frame.props),
            prior_tags: tag_keys(frame.prior_tags),
            prior_stage: h.prior_stage.map(stage),
        },
        offers: frame
            .offers
            .iter()
            .map(|o| types::Offer {
                id: o.id,
                kind: o.kind,
                channels: span(o.channels),
                value_minor: o.value_minor,
                starts_at: o.starts_at,
                ends_at: o.ends_at,
                priority: o.priority,
            })
            .collect(),
        offer_channels: frame.offer_channels.iter().collect(),
    };
    (ctx, input)
}

/// A checked findings frame as 0.1.0's findings.
pub(crate) fn findings(frame: &layout::findings::Findings<'_>) -> types::Findings {
    types::Findings {
        strings: strings(&frame.strings),
        tags: tag_keys(frame.tags),
        scores: frame
            .scores
            .iter()
            .map(|s| types::ScoreValue {
                name: s.name,
                value: s.value,
            })
            .collect(),
        stage: frame.stage.map(stage),
    }
}
