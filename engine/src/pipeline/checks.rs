//! What the host accepts from a plugin. Every check names the item and the
//! rule it breaks, so a plugin author can fix it from the error alone. The
//! item's name is only written out when a check fails: an answer that
//! passes costs no formatting.

use crate::Error;
use crate::OutputLimits;
use crate::contract::v0_1_0;
use crate::decision::{Proposal, Score, StageVerdict, Tag, WakeUp};
use crate::input::stage_at;
use crate::run::{Reply, ScoreReply, TagReply, TargetReply};
use rulehost_layout::answer::Answer;
use rulehost_model::{Offer, Stage, Timestamp};

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

/// Reads an answer frame (0.2.0 and later) as untrusted bytes, and
/// refuses one that carries what does not belong to `stage`'s answer.
fn frame<'a>(plugin: &str, stage: &str, bytes: &'a [u8]) -> Result<Answer<'a>, Error> {
    let answer = Answer::read(bytes)
        .map_err(|e| Error::invalid_output(plugin, format!("its {stage} answer is not a valid answer frame: {e}")))?;
    // What an answer may carry, and the one stage that answers it.
    let carried = [
        ("tags", !answer.tags.is_empty(), "tag"),
        ("scores", !answer.scores.is_empty(), "score"),
        ("a stage", answer.stage.is_some(), "score"),
        ("proposals", !answer.proposals.is_empty(), "target"),
    ];
    if let Some((what, _, _)) = carried.iter().find(|(_, present, by)| *present && *by != stage) {
        return Err(Error::invalid_output(
            plugin,
            format!("its {stage} answer carries {what}, which a {stage} stage does not answer"),
        ));
    }
    Ok(answer)
}

/// The wake-ups of a 0.3.0 plugin's answers, checked against the
/// decision's time.
pub(super) struct Wakes {
    /// The decision's time, in ms.
    pub now: i64,
    /// What was asked so far (a key asked again replaces its first).
    pub out: Vec<WakeUp>,
}

impl Wakes {
    /// Takes an answer's wake-ups: at most `limits.wakes` of them, each
    /// with a key and, when set, a reason and a time at least a minute and
    /// at most `wake_max_days` ahead.
    fn take(&mut self, plugin: &str, limits: &OutputLimits, a: &Answer<'_>) -> Result<(), Error> {
        at_most(plugin, "wake-ups", a.wakes.len(), limits.wakes)?;
        for w in a.wakes.iter() {
            let key = a.text(w.key);
            let item = || format!("wake-up {key:?}");
            name(plugin, limits, &item, "key", key)?;
            let reason = w.reason.map(|r| a.text(r));
            if let Some(at) = w.at {
                let reason = reason.unwrap_or_default();
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
                let lead = at.saturating_sub(self.now);
                if lead < limits.wake_min_lead_ms {
                    return Err(Error::invalid_output(
                        plugin,
                        format!(
                            "{} is at {}, {} s from the decision's now: a wake-up is at least {} s ahead",
                            item(),
                            Timestamp(at),
                            lead / 1000,
                            limits.wake_min_lead_ms / 1000
                        ),
                    ));
                }
                if lead > limits.wake_max_days * 86_400_000 {
                    return Err(Error::invalid_output(
                        plugin,
                        format!(
                            "{} is at {}, more than {} days ahead",
                            item(),
                            Timestamp(at),
                            limits.wake_max_days
                        ),
                    ));
                }
            }
            self.out.retain(|o| o.key != key);
            self.out.push(WakeUp {
                key: key.to_owned(),
                clear: w.at.is_none(),
                at: w.at.map(Timestamp),
                reason: reason.filter(|_| w.at.is_some()).map(str::to_owned),
                plugin: plugin.to_owned(),
            });
        }
        Ok(())
    }
}

/// A tag as a plugin answered it, whatever its contract version.
struct TagOut<'a> {
    group: &'a str,
    name: &'a str,
    reason: &'a str,
    rule_id: &'a str,
    expires_at: Option<i64>,
}

/// A score as a plugin answered it.
struct ScoreOut<'a> {
    name: &'a str,
    value: f64,
    reason: &'a str,
    rule_id: &'a str,
}

/// A proposal as a plugin answered it.
struct ProposalOut<'a> {
    offer_id: &'a str,
    channel: &'a str,
    score: f64,
    reason: &'a str,
    rule_id: &'a str,
}

pub(super) fn tags(
    plugin: &str,
    limits: &OutputLimits,
    reply: TagReply,
    wakes: Option<&mut Wakes>,
) -> Result<Vec<Tag>, Error> {
    match reply {
        Reply::Frame(bytes) => {
            let a = frame(plugin, "tag", &bytes)?;
            if let Some(wakes) = wakes {
                wakes.take(plugin, limits, &a)?;
            }
            check_tags(
                plugin,
                limits,
                a.tags.len(),
                a.tags.iter().map(|t| TagOut {
                    group: a.text(t.group),
                    name: a.text(t.name),
                    reason: a.text(t.reason),
                    rule_id: a.text(t.rule_id),
                    expires_at: t.expires_at,
                }),
            )
        }
        Reply::V0_1_0(tags) => check_tags(
            plugin,
            limits,
            tags.len(),
            tags.iter().map(|t| TagOut {
                group: &t.group,
                name: &t.name,
                reason: &t.reason,
                rule_id: &t.rule_id,
                expires_at: t.expires_at,
            }),
        ),
    }
}

fn check_tags<'a>(
    plugin: &str,
    limits: &OutputLimits,
    n: usize,
    tags: impl Iterator<Item = TagOut<'a>>,
) -> Result<Vec<Tag>, Error> {
    at_most(plugin, "tags", n, limits.tags)?;
    let mut seen = foldhash::HashSet::default();
    let mut out = Vec::with_capacity(n);
    for t in tags {
        let item = || format!("tag {:?}/{:?}", t.group, t.name);
        name(plugin, limits, &item, "group", t.group)?;
        name(plugin, limits, &item, "name", t.name)?;
        explained(plugin, limits, &item, t.reason, t.rule_id)?;
        if !seen.insert((t.group, t.name)) {
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
        out.push(Tag {
            group: t.group.to_owned(),
            name: t.name.to_owned(),
            reason: t.reason.to_owned(),
            rule_id: t.rule_id.to_owned(),
            expires_at: t.expires_at.map(Timestamp),
            plugin: plugin.to_owned(),
        });
    }
    Ok(out)
}

pub(super) fn scoring(
    plugin: &str,
    limits: &OutputLimits,
    reply: ScoreReply,
    wakes: Option<&mut Wakes>,
) -> Result<(Vec<Score>, Option<StageVerdict>), Error> {
    match reply {
        Reply::Frame(bytes) => {
            let a = frame(plugin, "score", &bytes)?;
            if let Some(wakes) = wakes {
                wakes.take(plugin, limits, &a)?;
            }
            let scores = check_scores(
                plugin,
                limits,
                a.scores.len(),
                a.scores.iter().map(|s| ScoreOut {
                    name: a.text(s.name),
                    value: s.value,
                    reason: a.text(s.reason),
                    rule_id: a.text(s.rule_id),
                }),
            )?;
            let stage = a
                .stage
                .map(|v| check_stage(plugin, limits, stage_at(v.stage), a.text(v.reason), a.text(v.rule_id)))
                .transpose()?;
            Ok((scores, stage))
        }
        Reply::V0_1_0(scoring) => {
            let scores = check_scores(
                plugin,
                limits,
                scoring.scores.len(),
                scoring.scores.iter().map(|s| ScoreOut {
                    name: &s.name,
                    value: s.value,
                    reason: &s.reason,
                    rule_id: &s.rule_id,
                }),
            )?;
            let stage = scoring
                .stage
                .map(|v| {
                    let stage = stage_at(v0_1_0::stage_index(v.stage));
                    check_stage(plugin, limits, stage, &v.reason, &v.rule_id)
                })
                .transpose()?;
            Ok((scores, stage))
        }
    }
}

fn check_scores<'a>(
    plugin: &str,
    limits: &OutputLimits,
    n: usize,
    scores: impl Iterator<Item = ScoreOut<'a>>,
) -> Result<Vec<Score>, Error> {
    at_most(plugin, "scores", n, limits.scores)?;
    scores
        .map(|s| {
            let item = || format!("score {:?}", s.name);
            name(plugin, limits, &item, "name", s.name)?;
            explained(plugin, limits, &item, s.reason, s.rule_id)?;
            if !s.value.is_finite() {
                return Err(Error::invalid_output(
                    plugin,
                    format!("{} is {}, not a finite number", item(), s.value),
                ));
            }
            Ok(Score {
                name: s.name.to_owned(),
                value: s.value,
                reason: s.reason.to_owned(),
                rule_id: s.rule_id.to_owned(),
                plugin: plugin.to_owned(),
            })
        })
        .collect()
}

fn check_stage(
    plugin: &str,
    limits: &OutputLimits,
    value: Stage,
    reason: &str,
    rule_id: &str,
) -> Result<StageVerdict, Error> {
    explained(plugin, limits, &|| "the stage".into(), reason, rule_id)?;
    Ok(StageVerdict {
        value,
        reason: reason.to_owned(),
        rule_id: rule_id.to_owned(),
        plugin: plugin.to_owned(),
    })
}

pub(super) fn proposals(
    plugin: &str,
    limits: &OutputLimits,
    reply: TargetReply,
    offers: &[Offer],
    wakes: Option<&mut Wakes>,
) -> Result<Vec<Proposal>, Error> {
    match reply {
        Reply::Frame(bytes) => {
            let a = frame(plugin, "target", &bytes)?;
            if let Some(wakes) = wakes {
                wakes.take(plugin, limits, &a)?;
            }
            check_proposals(
                plugin,
                limits,
                a.proposals.len(),
                a.proposals.iter().map(|p| ProposalOut {
                    offer_id: a.text(p.offer_id),
                    channel: a.text(p.channel),
                    score: p.score,
                    reason: a.text(p.reason),
                    rule_id: a.text(p.rule_id),
                }),
                offers,
            )
        }
        Reply::V0_1_0(proposals) => check_proposals(
            plugin,
            limits,
            proposals.len(),
            proposals.iter().map(|p| ProposalOut {
                offer_id: &p.offer_id,
                channel: &p.channel,
                score: p.score,
                reason: &p.reason,
                rule_id: &p.rule_id,
            }),
            offers,
        ),
    }
}

fn check_proposals<'a>(
    plugin: &str,
    limits: &OutputLimits,
    n: usize,
    proposals: impl Iterator<Item = ProposalOut<'a>>,
    offers: &[Offer],
) -> Result<Vec<Proposal>, Error> {
    at_most(plugin, "proposals", n, limits.proposals)?;
    proposals
        .map(|p| {
            let item = || format!("proposal {:?} on {:?}", p.offer_id, p.channel);
            name(plugin, limits, &item, "offer_id", p.offer_id)?;
            name(plugin, limits, &item, "channel", p.channel)?;
            explained(plugin, limits, &item, p.reason, p.rule_id)?;
            let Some(offer) = offers.iter().find(|o| o.id == p.offer_id) else {
                return Err(Error::invalid_output(
                    plugin,
                    format!("{} names an offer that is not in the catalog", item()),
                ));
            };
            if !offer.channels.iter().any(|c| c == p.channel) {
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
                offer_id: p.offer_id.to_owned(),
                channel: p.channel.to_owned(),
                score: p.score,
                reason: p.reason.to_owned(),
                rule_id: p.rule_id.to_owned(),
                plugin: plugin.to_owned(),
            })
        })
        .collect()
}
