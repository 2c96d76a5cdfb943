//! What the host accepts from a plugin. Every check names the item and the
//! rule it breaks, so a plugin author can fix it from the error alone. The
//! item's name is only written out when a check fails: an answer that
//! passes costs no formatting.

use crate::Error;
use crate::OutputLimits;
use crate::contract::latest::types as wire;
use crate::decision::{Proposal, Score, StageVerdict, Tag};
use crate::input::stage_from_wire;
use rulehost_model::{Offer, Timestamp};

/// Names the item a check is about, for its error.
type Item<'a> = &'a dyn Fn() -> String;

/// Checks a short identifier: non-empty and within the name limit.
fn name(plugin: &str, limits: &OutputLimits, item: Item<'_>, field: &str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::invalid_output(
            plugin,
            format!("{} has an empty {field}", item()),
        ));
    }
    if value.len() > limits.name_bytes {
        return Err(Error::invalid_output(
            plugin,
            format!(
                "{} has a {field} of {} bytes; the limit is {}",
                item(),
                value.len(),
                limits.name_bytes
            ),
        ));
    }
    Ok(())
}

/// Checks an explanation: a reason and a rule id are both required.
fn explained(plugin: &str, limits: &OutputLimits, item: Item<'_>, reason: &str, rule_id: &str) -> Result<(), Error> {
    name(plugin, limits, item, "rule_id", rule_id)?;
    if reason.is_empty() {
        return Err(Error::invalid_output(plugin, format!("{} has no reason", item())));
    }
    if reason.len() > limits.reason_bytes {
        return Err(Error::invalid_output(
            plugin,
            format!(
                "{} has a reason of {} bytes; the limit is {}",
                item(),
                reason.len(),
                limits.reason_bytes
            ),
        ));
    }
    Ok(())
}

fn at_most(plugin: &str, what: &str, n: usize, limit: usize) -> Result<(), Error> {
    if n > limit {
        return Err(Error::invalid_output(
            plugin,
            format!("returned {n} {what}; the limit is {limit}"),
        ));
    }
    Ok(())
}

pub(super) fn tags(plugin: &str, limits: &OutputLimits, tags: Vec<wire::Tag>) -> Result<Vec<Tag>, Error> {
    at_most(plugin, "tags", tags.len(), limits.tags)?;
    let mut seen = foldhash::HashSet::default();
    for t in &tags {
        let item = || format!("tag {:?}/{:?}", t.group, t.name);
        name(plugin, limits, &item, "group", &t.group)?;
        name(plugin, limits, &item, "name", &t.name)?;
        explained(plugin, limits, &item, &t.reason, &t.rule_id)?;
        if !seen.insert((t.group.as_str(), t.name.as_str())) {
            return Err(Error::invalid_output(plugin, format!("{} was returned twice", item())));
        }
        if let Some(at) = t.expires_at.map(Timestamp)
            && at.to_rfc3339().is_none()
        {
            return Err(Error::invalid_output(
                plugin,
                format!("{} expires at {} ms, outside years 0–9999", item(), at.0),
            ));
        }
    }
    Ok(tags
        .into_iter()
        .map(|t| Tag {
            group: t.group,
            name: t.name,
            reason: t.reason,
            rule_id: t.rule_id,
            expires_at: t.expires_at.map(Timestamp),
            plugin: plugin.to_owned(),
        })
        .collect())
}

pub(super) fn scoring(
    plugin: &str,
    limits: &OutputLimits,
    scoring: wire::Scoring,
) -> Result<(Vec<Score>, Option<StageVerdict>), Error> {
    at_most(plugin, "scores", scoring.scores.len(), limits.scores)?;
    let scores = scoring
        .scores
        .into_iter()
        .map(|s| {
            let item = || format!("score {:?}", s.name);
            name(plugin, limits, &item, "name", &s.name)?;
            explained(plugin, limits, &item, &s.reason, &s.rule_id)?;
            if !s.value.is_finite() {
                return Err(Error::invalid_output(
                    plugin,
                    format!("{} is {}, not a finite number", item(), s.value),
                ));
            }
            Ok(Score {
                name: s.name,
                value: s.value,
                reason: s.reason,
                rule_id: s.rule_id,
                plugin: plugin.to_owned(),
            })
        })
        .collect::<Result<_, Error>>()?;
    let stage = scoring
        .stage
        .map(|s| {
            explained(plugin, limits, &|| "the stage".into(), &s.reason, &s.rule_id)?;
            Ok::<_, Error>(StageVerdict {
                value: stage_from_wire(s.stage),
                reason: s.reason,
                rule_id: s.rule_id,
                plugin: plugin.to_owned(),
            })
        })
        .transpose()?;
    Ok((scores, stage))
}

pub(super) fn proposals(
    plugin: &str,
    limits: &OutputLimits,
    proposals: Vec<wire::Proposal>,
    offers: &[Offer],
) -> Result<Vec<Proposal>, Error> {
    at_most(plugin, "proposals", proposals.len(), limits.proposals)?;
    proposals
        .into_iter()
        .map(|p| {
            let item = || format!("proposal {:?} on {:?}", p.offer_id, p.channel);
            name(plugin, limits, &item, "offer_id", &p.offer_id)?;
            name(plugin, limits, &item, "channel", &p.channel)?;
            explained(plugin, limits, &item, &p.reason, &p.rule_id)?;
            let Some(offer) = offers.iter().find(|o| o.id == p.offer_id) else {
                return Err(Error::invalid_output(
                    plugin,
                    format!("{} names an offer that is not in the catalog", item()),
                ));
            };
            if !offer.channels.contains(&p.channel) {
                return Err(Error::invalid_output(
                    plugin,
                    format!("{}: the offer may only be sent on {:?}", item(), offer.channels),
                ));
            }
            if !p.score.is_finite() {
                return Err(Error::invalid_output(
                    plugin,
                    format!("{} has score {}, not a finite number", item(), p.score),
                ));
            }
            Ok(Proposal {
                offer_id: p.offer_id,
                channel: p.channel,
                score: p.score,
                reason: p.reason,
                rule_id: p.rule_id,
                plugin: plugin.to_owned(),
            })
        })
        .collect()
}
