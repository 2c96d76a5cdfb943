//! The host decides: a tenant's contact policy applied to what the plugins
//! proposed.
//!
//! Plugins *propose*; this module decides what is really sent, so that no
//! plugin can spam a customer. It is a pure function of the policy, the
//! proposals, the catalog, the customer's consent attributes and a view of
//! the contact ledger — storage and time come in as arguments, which keeps
//! every rule testable on its own.
//!
//! For each proposal, best score first, the checks run in this order and the
//! first that fails drops it, naming its rule:
//!
//! | rule | drops a proposal when |
//! |---|---|
//! | `plugin` | it repeats an offer already proposed in this decision |
//! | `validity` | the offer is not valid at the send time |
//! | `consent` | the profile says no to the channel (`consent.<channel>` is false) — for every class |
//! | `quiet_hours` | the send time is in the channel's quiet hours and the channel skips (a deferring channel moves the send to the window's end instead) |
//! | `channel_cap` | the channel's per-day or per-week cap is reached |
//! | `global_cap` | the cap across all channels is reached |
//! | `offer_cap` | the customer got this offer as often as allowed in its window |
//! | `budget` | the offer's total budget is spent |
//! | `holdout` | the customer is in the holdout group: what *would* have been sent is recorded, nothing is sent |
//!
//! Caps count marketing touches only, on calendar days and ISO weeks
//! (Monday first) in the tenant's time zone, including the touches this
//! decision already selected. Offers of class `transactional` or `mandatory`
//! bypass every cap and the budget, never consent or quiet hours. When
//! nothing is selected, the fallback offer goes through the same checks.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::model::policy::*;

use crate::decision::Proposal;
use crate::model::{Offer, OfferClass, Timestamp, Value};

const MS_PER_MINUTE: i64 = 60_000;
/// Milliseconds in a day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// The policy's verdict on a decision's proposals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// Whether the customer is in the holdout group.
    pub holdout: bool,
    /// What to send.
    pub selected: Vec<Selected>,
    /// What not to send, and why.
    pub suppressed: Vec<Suppressed>,
}

/// A customer's attributes, where the policy reads them: the profile's
/// map, or the decision's input frame.
pub trait Attributes {
    /// The attribute of `key`.
    fn attribute(&self, key: &str) -> Option<Value>;
}

impl Attributes for std::collections::BTreeMap<String, Value> {
    fn attribute(&self, key: &str) -> Option<Value> {
        self.get(key).cloned()
    }
}

/// Everything the policy looks at.
pub struct Input<'a> {
    /// The decision's time.
    pub now: Timestamp,
    /// The tenant's UTC offset in minutes.
    pub tz_offset_minutes: i32,
    /// The customer.
    pub customer_id: &'a str,
    /// The customer's attributes (for consent).
    pub attributes: &'a dyn Attributes,
    /// The catalog.
    pub offers: &'a [Offer],
    /// What the plugins proposed.
    pub proposals: &'a [Proposal],
    /// The ledger view.
    pub ledger: &'a Ledger,
}

fn local_day(at: Timestamp, tz: i32) -> i64 {
    (at.0 + i64::from(tz) * MS_PER_MINUTE).div_euclid(MS_PER_DAY)
}

/// ISO weeks start on Monday; 1970-01-01 was a Thursday.
fn local_week(at: Timestamp, tz: i32) -> i64 {
    (local_day(at, tz) + 3).div_euclid(7)
}

/// When a touch proposed at `now` may be sent on a channel with these quiet
/// hours: `Ok(now)` outside the window, `Ok(end)` to defer, `Err` to skip.
fn send_time(now: Timestamp, tz: i32, quiet: &QuietHours) -> Result<Timestamp, Timestamp> {
    let offset = i64::from(tz) * MS_PER_MINUTE;
    let local = now.0 + offset;
    let minute = (local.rem_euclid(MS_PER_DAY) / MS_PER_MINUTE) as u32;
    let (start, end) = (quiet.start.0, quiet.end.0);
    let inside = if start < end {
        minute >= start && minute < end
    } else {
        minute >= start || minute < end
    };
    if !inside {
        return Ok(now);
    }
    let midnight = local - local.rem_euclid(MS_PER_DAY);
    let mut end_local = midnight + i64::from(end) * MS_PER_MINUTE;
    if end_local <= local {
        end_local += MS_PER_DAY;
    }
    let end_at = Timestamp(end_local - offset);
    match quiet.action {
        QuietAction::Defer => Ok(end_at),
        QuietAction::Skip => Err(end_at),
    }
}

fn refuses(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Flag(b)) => !b,
        Some(Value::Text(t)) => matches!(t.to_ascii_lowercase().as_str(), "false" | "no" | "0" | "n"),
        Some(Value::Int(0)) => true,
        _ => false,
    }
}

struct Candidate<'a> {
    offer: &'a Offer,
    channel: &'a str,
    score: f64,
    plugin: &'a str,
    reason: &'a str,
    rule_id: &'a str,
}

/// Applies the policy.
pub fn apply(policy: &Policy, input: &Input<'_>) -> Outcome {
    let mut order: Vec<&Proposal> = input.proposals.iter().collect();
    // Best score first; equal scores keep pipeline order.
    order.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(std::cmp::Ordering::Equal));
    let mut outcome = Outcome {
        holdout: policy.holdout.as_ref().is_some_and(|h| h.contains(input.customer_id)),
        ..Outcome::default()
    };
    let mut seen: Vec<&str> = Vec::new();
    for proposal in order {
        if seen.contains(&proposal.offer_id.as_str()) {
            outcome.suppressed.push(Suppressed {
                offer_id: proposal.offer_id.clone(),
                channel: proposal.channel.clone(),
                plugin: proposal.plugin.clone(),
                rule: Rule::Plugin,
                detail: "the offer was already proposed in this decision".into(),
            });
            continue;
        }
        seen.push(&proposal.offer_id);
        let Some(offer) = input.offers.iter().find(|o| o.id == proposal.offer_id) else {
            continue;
        };
        let candidate = Candidate {
            offer,
            channel: &proposal.channel,
            score: proposal.score,
            plugin: &proposal.plugin,
            reason: &proposal.reason,
            rule_id: &proposal.rule_id,
        };
        consider(policy, input, &candidate, &mut outcome);
    }
    // A fallback naming an offer that left the catalog is skipped.
    if outcome.selected.is_empty()
        && let Some(fallback) = &policy.fallback
        && let Some(offer) = input.offers.iter().find(|o| o.id == fallback.offer_id)
    {
        let candidate = Candidate {
            offer,
            channel: &fallback.channel,
            score: 0.0,
            plugin: "policy",
            reason: "fallback: no proposal could be sent",
            rule_id: "policy.fallback",
        };
        consider(policy, input, &candidate, &mut outcome);
    }
    if outcome.holdout {
        for s in std::mem::take(&mut outcome.selected) {
            outcome.suppressed.push(Suppressed {
                detail: format!("held out: would have been sent at {}", s.send_at),
                offer_id: s.offer_id,
                channel: s.channel,
                plugin: s.plugin,
                rule: Rule::Holdout,
            });
        }
    }
    outcome
}

/// Runs one candidate through the checks; selects or suppresses it.
fn consider(policy: &Policy, input: &Input<'_>, c: &Candidate<'_>, outcome: &mut Outcome) {
    let drop = |outcome: &mut Outcome, rule: Rule, detail: String| {
        outcome.suppressed.push(Suppressed {
            offer_id: c.offer.id.clone(),
            channel: c.channel.to_owned(),
            plugin: c.plugin.to_owned(),
            rule,
            detail,
        });
    };
    let tz = input.tz_offset_minutes;
    let valid_at = |at: Timestamp| c.offer.starts_at.is_none_or(|s| s <= at) && c.offer.ends_at.is_none_or(|e| at < e);
    if !valid_at(input.now) {
        return drop(
            outcome,
            Rule::Validity,
            format!("the offer is not valid at {}", input.now),
        );
    }
    if !c.offer.channels.iter().any(|ch| ch == c.channel) {
        return drop(
            outcome,
            Rule::Validity,
            format!("the offer may not be sent on {}", c.channel),
        );
    }
    let consent_key = format!("{}{}", policy.consent.attribute_prefix, c.channel);
    if refuses(input.attributes.attribute(&consent_key).as_ref()) {
        return drop(
            outcome,
            Rule::Consent,
            format!("profile attribute {consent_key} refuses the channel"),
        );
    }
    let channel = policy.channels.get(c.channel);
    let mut send_at = input.now;
    if let Some(quiet) = channel.and_then(|ch| ch.quiet_hours.as_ref()) {
        match send_time(input.now, tz, quiet) {
            Ok(at) => send_at = at,
            Err(end) => {
                return drop(
                    outcome,
                    Rule::QuietHours,
                    format!(
                        "{} is quiet {}–{} (skip); quiet until {end}",
                        c.channel, quiet.start, quiet.end
                    ),
                );
            }
        }
        if send_at != input.now && !valid_at(send_at) {
            return drop(
                outcome,
                Rule::Validity,
                format!("deferred past quiet hours to {send_at}, when the offer is no longer valid"),
            );
        }
    }
    let capped = c.offer.class == OfferClass::Marketing;
    if capped {
        // Marketing touches so far: the ledger plus this decision's picks.
        let planned = outcome
            .selected
            .iter()
            .map(|s| (s.offer_id.as_str(), s.channel.as_str(), s.send_at, s.class));
        let touches: Vec<(&str, &str, Timestamp)> = input
            .ledger
            .touches
            .iter()
            .map(|t| (t.offer_id.as_str(), t.channel.as_str(), t.at, t.class))
            .chain(planned)
            .filter(|(_, _, _, class)| *class == OfferClass::Marketing)
            .map(|(o, ch, at, _)| (o, ch, at))
            .collect();
        let (day, week) = (local_day(send_at, tz), local_week(send_at, tz));
        let count = |f: &dyn Fn(&(&str, &str, Timestamp)) -> bool| touches.iter().filter(|t| f(t)).count() as u64;
        let on_day = |t: &(&str, &str, Timestamp)| local_day(t.2, tz) == day;
        let in_week = |t: &(&str, &str, Timestamp)| local_week(t.2, tz) == week;
        if let Some(ch) = channel {
            let same = |t: &(&str, &str, Timestamp)| t.1 == c.channel;
            if let Some(cap) = ch.per_day
                && count(&|t| same(t) && on_day(t)) >= u64::from(cap)
            {
                return drop(
                    outcome,
                    Rule::ChannelCap,
                    format!("{} per-day cap of {cap} reached", c.channel),
                );
            }
            if let Some(cap) = ch.per_week
                && count(&|t| same(t) && in_week(t)) >= u64::from(cap)
            {
                return drop(
                    outcome,
                    Rule::ChannelCap,
                    format!("{} per-week cap of {cap} reached", c.channel),
                );
            }
        }
        if let Some(cap) = policy.global.per_day
            && count(&on_day) >= u64::from(cap)
        {
            return drop(outcome, Rule::GlobalCap, format!("global per-day cap of {cap} reached"));
        }
        if let Some(cap) = policy.global.per_week
            && count(&in_week) >= u64::from(cap)
        {
            return drop(
                outcome,
                Rule::GlobalCap,
                format!("global per-week cap of {cap} reached"),
            );
        }
        if let Some(offer_policy) = policy.offers.get(&c.offer.id) {
            if let Some(cap) = offer_policy.per_customer {
                let since = Timestamp(send_at.0 - i64::from(offer_policy.per_customer_days) * MS_PER_DAY);
                if count(&|t| t.0 == c.offer.id && t.2 > since) >= u64::from(cap) {
                    return drop(
                        outcome,
                        Rule::OfferCap,
                        format!(
                            "{} already sent {cap} time(s) in {} days",
                            c.offer.id, offer_policy.per_customer_days
                        ),
                    );
                }
            }
            if let Some(budget) = offer_policy.budget {
                let used = input.ledger.budget_used.get(&c.offer.id).copied().unwrap_or(0)
                    + outcome.selected.iter().filter(|s| s.offer_id == c.offer.id).count() as u64;
                if used >= budget {
                    return drop(
                        outcome,
                        Rule::Budget,
                        format!("{} budget of {budget} is spent", c.offer.id),
                    );
                }
            }
        }
    }
    outcome.selected.push(Selected {
        offer_id: c.offer.id.clone(),
        channel: c.channel.to_owned(),
        send_at,
        class: c.offer.class,
        score: c.score,
        plugin: c.plugin.to_owned(),
        reason: c.reason.to_owned(),
        rule_id: c.rule_id.to_owned(),
    });
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const SMS: &str = "sms";

    fn t(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn offer(id: &str, class: OfferClass) -> Offer {
        Offer {
            id: id.into(),
            kind: "coupon".into(),
            channels: vec![SMS.into(), "wecom_1v1".into()],
            value_minor: 500,
            starts_at: None,
            ends_at: None,
            priority: 0,
            class,
        }
    }

    fn proposal(offer_id: &str, channel: &str, score: f64) -> Proposal {
        Proposal {
            offer_id: offer_id.into(),
            channel: channel.into(),
            score,
            reason: "because".into(),
            rule_id: "r".into(),
            plugin: "p".into(),
        }
    }

    fn touch(offer_id: &str, channel: &str, at: &str) -> LedgerTouch {
        LedgerTouch {
            offer_id: offer_id.into(),
            channel: channel.into(),
            at: t(at),
            class: OfferClass::Marketing,
        }
    }

    struct Case {
        policy: Policy,
        offers: Vec<Offer>,
        attributes: BTreeMap<String, Value>,
        ledger: Ledger,
        tz: i32,
    }

    impl Case {
        fn new(policy: &str) -> Self {
            Self {
                policy: serde_json::from_str(policy).unwrap(),
                offers: vec![offer("a", OfferClass::Marketing), offer("b", OfferClass::Marketing)],
                attributes: BTreeMap::new(),
                ledger: Ledger::default(),
                tz: 480,
            }
        }

        fn run(&self, now: &str, proposals: &[Proposal]) -> Outcome {
            apply(
                &self.policy,
                &Input {
                    now: t(now),
                    tz_offset_minutes: self.tz,
                    customer_id: "c-1",
                    attributes: &self.attributes,
                    offers: &self.offers,
                    proposals,
                    ledger: &self.ledger,
                },
            )
        }
    }

    fn rules(outcome: &Outcome) -> Vec<&'static str> {
        outcome.suppressed.iter().map(|s| s.rule.as_str()).collect()
    }

    #[test]
    fn a_day_cap_resets_at_local_midnight_not_utc_midnight() {
        let mut case = Case::new(r#"{"channels": {"sms": {"per_day": 1}}}"#);
        // 23:30 on March 6th in UTC+8.
        case.ledger.touches.push(touch("a", SMS, "2026-03-06T15:30:00Z"));
        // 23:50 the same local day: capped, though it is a new UTC hour.
        let same_day = case.run("2026-03-06T15:50:00Z", &[proposal("b", SMS, 1.0)]);
        assert_eq!(rules(&same_day), ["channel_cap"]);
        assert_eq!(same_day.suppressed[0].detail, "sms per-day cap of 1 reached");
        // 00:10 on March 7th local (still March 6th in UTC): allowed.
        let next_day = case.run("2026-03-06T16:10:00Z", &[proposal("b", SMS, 1.0)]);
        assert_eq!(next_day.selected.len(), 1);
    }

    #[test]
    fn a_week_cap_resets_on_local_monday_for_negative_offsets_too() {
        let mut case = Case::new(r#"{"channels": {"sms": {"per_week": 1}}}"#);
        case.tz = -300;
        // Sunday 2026-03-08 23:00 in UTC-5 = Monday 04:00 UTC.
        case.ledger.touches.push(touch("a", SMS, "2026-03-09T04:00:00Z"));
        // Sunday 23:30 local: same week, capped.
        assert_eq!(
            rules(&case.run("2026-03-09T04:30:00Z", &[proposal("b", SMS, 1.0)])),
            ["channel_cap"]
        );
        // Monday 00:30 local: a new week.
        assert_eq!(
            case.run("2026-03-09T05:30:00Z", &[proposal("b", SMS, 1.0)])
                .selected
                .len(),
            1
        );
        // Earlier in the same week (Wednesday): capped.
        case.ledger.touches = vec![touch("a", SMS, "2026-03-04T15:00:00Z")];
        assert_eq!(
            rules(&case.run("2026-03-08T15:00:00Z", &[proposal("b", SMS, 1.0)])),
            ["channel_cap"]
        );
    }

    #[test]
    fn global_caps_count_every_channel_and_this_decisions_picks() {
        let case = Case::new(r#"{"global": {"per_day": 1}}"#);
        let outcome = case.run(
            "2026-03-06T02:00:00Z",
            &[proposal("a", SMS, 2.0), proposal("b", "wecom_1v1", 1.0)],
        );
        assert_eq!(outcome.selected[0].offer_id, "a");
        assert_eq!(rules(&outcome), ["global_cap"]);
        assert_eq!(outcome.suppressed[0].offer_id, "b");
    }

    #[test]
    fn quiet_hours_across_midnight_defer_to_the_end_or_skip() {
        let defer = Case::new(
            r#"{"channels": {"sms": {"quiet_hours": {"start": "22:00", "end": "08:00", "action": "defer"}}}}"#,
        );
        let at = |now: &str| defer.run(now, &[proposal("a", SMS, 1.0)]).selected[0].send_at;
        // 23:00 local on March 6th → 08:00 local on March 7th (00:00 UTC).
        assert_eq!(at("2026-03-06T15:00:00Z"), t("2026-03-07T00:00:00Z"));
        // 07:59 local on March 7th → 08:00 the same morning.
        assert_eq!(at("2026-03-06T23:59:00Z"), t("2026-03-07T00:00:00Z"));
        // 08:00 and 21:59 local are outside the window: now.
        assert_eq!(at("2026-03-07T00:00:00Z"), t("2026-03-07T00:00:00Z"));
        assert_eq!(at("2026-03-07T13:59:00Z"), t("2026-03-07T13:59:00Z"));
        // 22:00 local is inside.
        assert_eq!(at("2026-03-07T14:00:00Z"), t("2026-03-08T00:00:00Z"));

        let skip = Case::new(
            r#"{"channels": {"sms": {"quiet_hours": {"start": "22:00", "end": "08:00", "action": "skip"}}}}"#,
        );
        let outcome = skip.run(
            "2026-03-06T15:00:00Z",
            &[proposal("a", SMS, 1.0), proposal("b", "wecom_1v1", 0.5)],
        );
        assert_eq!(rules(&outcome), ["quiet_hours"]);
        assert_eq!(outcome.selected[0].channel, "wecom_1v1", "other channels are not quiet");
    }

    #[test]
    fn a_deferred_touch_counts_on_the_day_it_is_sent() {
        let mut case = Case::new(
            r#"{"channels": {"sms": {"per_day": 1, "quiet_hours": {"start": "22:00", "end": "08:00", "action": "defer"}}}}"#,
        );
        // Already scheduled for 09:00 on March 7th local.
        case.ledger.touches.push(touch("a", SMS, "2026-03-07T01:00:00Z"));
        // Proposed at 23:00 on March 6th, deferred to March 7th: capped.
        assert_eq!(
            rules(&case.run("2026-03-06T15:00:00Z", &[proposal("b", SMS, 1.0)])),
            ["channel_cap"]
        );
    }

    #[test]
    fn an_offer_that_expires_before_the_deferred_send_is_dropped() {
        let mut case = Case::new(
            r#"{"channels": {"sms": {"quiet_hours": {"start": "22:00", "end": "08:00", "action": "defer"}}}}"#,
        );
        case.offers[0].ends_at = Some(t("2026-03-06T20:00:00Z"));
        let outcome = case.run("2026-03-06T15:00:00Z", &[proposal("a", SMS, 1.0)]);
        assert_eq!(rules(&outcome), ["validity"]);
    }

    #[test]
    fn consent_beats_every_class_and_transactional_beats_caps() {
        let mut case = Case::new(r#"{"channels": {"sms": {"per_day": 0}}, "global": {"per_day": 0}}"#);
        case.offers = vec![
            offer("receipt", OfferClass::Transactional),
            offer("promo", OfferClass::Marketing),
        ];
        let outcome = case.run(
            "2026-03-06T02:00:00Z",
            &[proposal("receipt", SMS, 1.0), proposal("promo", SMS, 0.5)],
        );
        assert_eq!(
            outcome.selected.iter().map(|s| s.offer_id.as_str()).collect::<Vec<_>>(),
            ["receipt"]
        );
        assert_eq!(rules(&outcome), ["channel_cap"]);
        case.attributes.insert("consent.sms".into(), Value::Flag(false));
        let outcome = case.run("2026-03-06T02:00:00Z", &[proposal("receipt", SMS, 1.0)]);
        assert_eq!(rules(&outcome), ["consent"]);
        assert_eq!(
            outcome.suppressed[0].detail,
            "profile attribute consent.sms refuses the channel"
        );
    }

    #[test]
    fn the_fallback_is_used_when_everything_else_is_dropped_and_checked_like_the_rest() {
        let mut case = Case::new(
            r#"{"channels": {"sms": {"per_day": 1}}, "fallback": {"offer_id": "b", "channel": "wecom_1v1"}}"#,
        );
        case.ledger.touches.push(touch("x", SMS, "2026-03-06T01:00:00Z"));
        let outcome = case.run("2026-03-06T02:00:00Z", &[proposal("a", SMS, 1.0)]);
        assert_eq!(rules(&outcome), ["channel_cap"]);
        assert_eq!(outcome.selected.len(), 1);
        assert_eq!(
            (
                outcome.selected[0].offer_id.as_str(),
                outcome.selected[0].plugin.as_str()
            ),
            ("b", "policy")
        );
        // No proposals at all: still the fallback.
        assert_eq!(case.run("2026-03-06T02:00:00Z", &[]).selected[0].offer_id, "b");
        // The fallback itself respects consent.
        case.attributes
            .insert("consent.wecom_1v1".into(), Value::Text("no".into()));
        let outcome = case.run("2026-03-06T02:00:00Z", &[]);
        assert!(outcome.selected.is_empty());
        assert_eq!(rules(&outcome), ["consent"]);
    }

    #[test]
    fn offer_caps_and_budgets() {
        let mut case =
            Case::new(r#"{"offers": {"a": {"per_customer": 1, "per_customer_days": 30}, "b": {"budget": 10}}}"#);
        case.ledger.touches.push(touch("a", SMS, "2026-02-10T02:00:00Z"));
        case.ledger.budget_used.insert("b".into(), 10);
        let outcome = case.run(
            "2026-03-06T02:00:00Z",
            &[proposal("a", SMS, 1.0), proposal("b", SMS, 0.5)],
        );
        assert_eq!(rules(&outcome), ["offer_cap", "budget"]);
        // 31 days later the offer cap has passed.
        assert_eq!(
            case.run("2026-03-13T02:00:00Z", &[proposal("a", SMS, 1.0)])
                .selected
                .len(),
            1
        );
    }

    #[test]
    fn a_repeated_offer_is_dropped_as_the_plugins_doing() {
        let case = Case::new("{}");
        let outcome = case.run(
            "2026-03-06T02:00:00Z",
            &[proposal("a", SMS, 1.0), proposal("a", "wecom_1v1", 0.5)],
        );
        assert_eq!(outcome.selected.len(), 1);
        assert_eq!(rules(&outcome), ["plugin"]);
    }

    #[test]
    fn holdout_share_is_within_a_point_of_the_target_and_stable() {
        let holdout = Holdout {
            percent: 10.0,
            salt: "spring-2026".into(),
        };
        let held = (0..100_000).filter(|i| holdout.contains(&format!("c-{i}"))).count();
        let share = held as f64 / 1_000.0;
        assert!((9.0..=11.0).contains(&share), "{share}%");
        // The same salt always draws the same group.
        let again = (0..100_000).filter(|i| holdout.contains(&format!("c-{i}"))).count();
        assert_eq!(held, again);
        // A new salt draws a new group of the same size.
        let other = Holdout {
            percent: 10.0,
            salt: "summer-2026".into(),
        };
        let moved = (0..100_000)
            .filter(|i| holdout.contains(&format!("c-{i}")) != other.contains(&format!("c-{i}")))
            .count();
        assert!(moved > 10_000, "{moved}");
    }

    #[test]
    fn a_held_out_customer_gets_nothing_but_what_would_have_been_sent_is_kept() {
        let case = Case::new(r#"{"holdout": {"percent": 100, "salt": "s"}}"#);
        let outcome = case.run("2026-03-06T02:00:00Z", &[proposal("a", SMS, 1.0)]);
        assert!(outcome.holdout);
        assert!(outcome.selected.is_empty());
        assert_eq!(rules(&outcome), ["holdout"]);
        assert!(
            outcome.suppressed[0]
                .detail
                .starts_with("held out: would have been sent at")
        );
    }

    #[test]
    fn invalid_documents_name_the_field() {
        let parse = |text: &str| -> Result<Policy, String> {
            let de = &mut serde_json::Deserializer::from_str(text);
            let policy: Policy =
                serde_path_to_error::deserialize(de).map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
            policy.check()?;
            Ok(policy)
        };
        let err =
            parse(r#"{"channels": {"sms": {"quiet_hours": {"start": "25:00", "end": "08:00", "action": "defer"}}}}"#)
                .unwrap_err();
        assert!(err.starts_with("channels.sms.quiet_hours.start"), "{err}");
        let err = parse(r#"{"holdout": {"percent": 120, "salt": "s"}}"#).unwrap_err();
        assert_eq!(err, "holdout.percent is 120; it must be from 0 to 100");
        let err = parse(r#"{"chanels": {}}"#).unwrap_err();
        assert!(err.contains("unknown field `chanels`"), "{err}");
        let err = parse(r#"{"offers": {"a": {"per_customer": 1, "per_customer_days": 0}}}"#).unwrap_err();
        assert_eq!(err, "offers.a.per_customer_days is 0; it must be from 1 to 366");
    }
}
