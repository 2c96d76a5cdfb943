//! # apparel-rfm
//!
//! The rules of a fashion brand: purchases are seasonal, so customers are
//! read through RFM — recency, frequency and monetary value scored 1–5
//! against breakpoints the brand configures — named as the ten standard
//! segments, split into four value tiers, with a stylist's 1:1 follow-up for
//! the top tier and a reward for the customers whose posts sell clothes
//! (KOCs). See README.md for every rule and config key.

use std::cell::OnceCell;

use rulehost_sdk::lifecycle::Lifecycle;
use rulehost_sdk::rfm::{Breakpoints, Rfm, Segment};
use rulehost_sdk::{
    Config, Ctx, Error, Findings, Offer, Offers, Plugin, Profile, Proposal, Score, Scoring, Tag, Timestamp, counted,
    kinds,
};

/// The fashion brand's rules.
#[derive(Default)]
pub struct ApparelRfm {
    /// Config is read once per decision and shared by the three stages.
    settings: OnceCell<Result<Settings, Error>>,
}

rulehost_sdk::export!(ApparelRfm);

#[derive(Debug, Clone)]
struct Settings {
    recency: Breakpoints,
    frequency: Breakpoints,
    monetary: Breakpoints,
    window_days: u32,
    /// Minimum RFM totals for tiers 1, 2 and 3; below the last is tier 4.
    tier_cutoffs: [u8; 3],
    koc_min_actions: u32,
    lifecycle: Lifecycle,
}

fn invalid(key: &str, raw: &str, expected: &str) -> Error {
    Error::new(
        "config_invalid",
        format!("config key `{key}` is {raw:?}, expected {expected}"),
    )
}

impl Settings {
    fn read(config: &Config) -> Result<Self, Error> {
        let window_days: u32 = config.required("rfm.window_days")?;
        if window_days == 0 {
            return Err(invalid("rfm.window_days", "0", "a number of days above 0"));
        }
        let cutoffs = config.list::<u32>("apparel.tier_cutoffs")?;
        let tier_cutoffs = match cutoffs[..] {
            [a, b, c] if a <= 15 && a > b && b > c && c >= 3 => [a as u8, b as u8, c as u8],
            _ => {
                return Err(invalid(
                    "apparel.tier_cutoffs",
                    &config.get("apparel.tier_cutoffs").unwrap_or_default(),
                    "3 descending RFM totals between 15 and 3, e.g. \"13,10,7\"",
                ));
            }
        };
        let koc_min_actions = config.required("apparel.koc_min_actions")?;
        if koc_min_actions == 0 {
            return Err(invalid("apparel.koc_min_actions", "0", "a count above 0"));
        }
        Ok(Self {
            recency: Breakpoints::from_config(config, "rfm.recency_days")?,
            frequency: Breakpoints::from_config(config, "rfm.frequency")?,
            monetary: Breakpoints::from_config(config, "rfm.monetary_minor")?,
            window_days,
            tier_cutoffs,
            koc_min_actions,
            lifecycle: Lifecycle::from_config(config, "apparel", "apparel.stage")?,
        })
    }
}

/// One customer's RFM, raw and scored.
struct Scored {
    rfm: Rfm,
    r: u8,
    f: u8,
    m: u8,
}

impl Scored {
    fn total(&self) -> u8 {
        self.r + self.f + self.m
    }

    /// The value tier 1–4 for the configured cutoffs.
    fn tier(&self, cutoffs: [u8; 3]) -> u8 {
        1 + cutoffs.iter().filter(|&&c| self.total() < c).count() as u8
    }
}

impl ApparelRfm {
    fn settings(&self, ctx: &Ctx<'_>) -> Result<&Settings, Error> {
        self.settings
            .get_or_init(|| Settings::read(ctx.config()))
            .as_ref()
            .map_err(Clone::clone)
    }

    fn scored(&self, settings: &Settings, profile: &Profile<'_>, now: Timestamp) -> Scored {
        let rfm = Rfm::compute(profile, now, Some(settings.window_days));
        Scored {
            r: settings.recency.score_lower_is_better(rfm.recency_days),
            f: settings.frequency.score(i64::from(rfm.frequency)),
            m: settings.monetary.score(rfm.monetary_minor),
            rfm,
        }
    }
}

/// Event kinds that show a customer creating content others see.
const KOC_KINDS: [&str; 3] = [kinds::SHARE, kinds::REVIEW, kinds::UGC];

impl Plugin for ApparelRfm {
    fn tag(&self, ctx: &Ctx<'_>, profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
        let settings = self.settings(ctx)?;
        let now = ctx.now();
        let s = self.scored(settings, profile, now);
        let mut tags = Vec::new();

        // RFM describes buyers: a customer who never bought has no segment
        // or tier (the lifecycle stage says "introduction" instead).
        if let Some(days) = s.rfm.recency_days {
            let segment = Segment::of(s.r, s.f);
            tags.push(
                Tag::new("rfm-segment", segment.as_str())
                    .rule("apparel.rfm.segment")
                    .reason(format!(
                        "R{} F{} is {} ({}): last purchase {days} days ago, {} in {} days",
                        s.r,
                        s.f,
                        segment,
                        segment.definition(),
                        counted(s.rfm.frequency, "purchase", "purchases"),
                        settings.window_days
                    )),
            );
            let tier = s.tier(settings.tier_cutoffs);
            let rule = match tier {
                1..=3 => format!("tier {tier} from {}", settings.tier_cutoffs[usize::from(tier) - 1]),
                _ => format!("tier 4 below {}", settings.tier_cutoffs[2]),
            };
            tags.push(
                Tag::new("value-tier", format!("tier-{tier}"))
                    .rule("apparel.value-tier")
                    .reason(format!("RFM total {} (R{} F{} M{}): {rule}", s.total(), s.r, s.f, s.m)),
            );
        }

        let since = now.plus_days(-i64::from(settings.window_days));
        let actions = profile
            .events()
            .filter(|e| e.at() > since && KOC_KINDS.contains(&e.kind()))
            .count();
        if actions >= settings.koc_min_actions as usize {
            tags.push(Tag::new("koc", "koc").rule("apparel.koc").reason(format!(
                "{actions} shares, reviews or UGC posts in {} days (KOC from {})",
                settings.window_days, settings.koc_min_actions
            )));
        }

        if let Some((source, why)) = channel_source(profile) {
            tags.push(
                Tag::new("channel-source", source)
                    .rule("apparel.channel-source")
                    .reason(why),
            );
        }
        Ok(tags)
    }

    fn score(&self, ctx: &Ctx<'_>, profile: &Profile<'_>, _findings: &Findings<'_>) -> Result<Scoring, Error> {
        let settings = self.settings(ctx)?;
        let now = ctx.now();
        let s = self.scored(settings, profile, now);
        let recency = match s.rfm.recency_days {
            Some(days) => format!("last purchase {days} days ago"),
            None => "no purchase yet".to_owned(),
        };
        let b = |b: &Breakpoints| format!("{:?}", b.values());
        let scores = vec![
            Score::new("rfm.r", f64::from(s.r))
                .rule("apparel.rfm.r")
                .reason(format!("{recency}; breakpoints {} days", b(&settings.recency))),
            Score::new("rfm.f", f64::from(s.f))
                .rule("apparel.rfm.f")
                .reason(format!(
                    "{} in {} days; breakpoints {}",
                    counted(s.rfm.frequency, "purchase", "purchases"),
                    settings.window_days,
                    b(&settings.frequency)
                )),
            Score::new("rfm.m", f64::from(s.m))
                .rule("apparel.rfm.m")
                .reason(format!(
                    "spent {} in {} days, net of refunds; breakpoints {}",
                    s.rfm.monetary_minor,
                    settings.window_days,
                    b(&settings.monetary)
                )),
            Score::new("rfm.total", f64::from(s.total()))
                .rule("apparel.rfm.total")
                .reason(format!("R{} + F{} + M{}", s.r, s.f, s.m)),
        ];
        Ok(Scoring {
            scores,
            stage: Some(settings.lifecycle.classify(profile, now)),
        })
    }

    fn target(
        &self,
        ctx: &Ctx<'_>,
        profile: &Profile<'_>,
        findings: &Findings<'_>,
        offers: &Offers<'_>,
    ) -> Result<Vec<Proposal>, Error> {
        let now = ctx.now();
        let propose = |offer: Offer<'_>, channel: &str, why: &str, rule: &str, reason: String| {
            Proposal::new(offer.id(), channel)
                .score(f64::from(offer.priority()))
                .rule(rule)
                .reason(format!("{reason}; on {channel} ({why})"))
        };
        let mut proposals = Vec::new();
        if findings.has_tag("value-tier", "tier-1")
            && let Some(offer) = offers.best_of_kind("one_on_one_followup", now)
        {
            // A stylist follows up in 1:1 chat whenever the offer allows.
            let choice = if offer.has_channel("wecom_1v1") {
                Some(("wecom_1v1", "a stylist's 1:1 chat"))
            } else {
                offer.channel_for(profile).map(|c| (c.channel, c.why))
            };
            if let Some((channel, why)) = choice {
                proposals.push(propose(
                    offer,
                    channel,
                    why,
                    "apparel.offer.super-user",
                    "top value tier: a stylist follows up 1:1".into(),
                ));
            }
        }
        let segment = findings.tags_in("rfm-segment").next();
        let by_segment = match segment {
            Some("champions" | "loyal") => Some((
                "new_season_preview",
                "apparel.offer.preview",
                "best customers see the new season first",
            )),
            Some("at-risk" | "cant-lose-them") => Some((
                "win_back_coupon",
                "apparel.offer.win-back",
                "valuable customer gone quiet: win them back",
            )),
            _ => None,
        };
        if let (Some((kind, rule, why)), Some(segment)) = (by_segment, segment)
            && let Some(offer) = offers.best_of_kind(kind, now)
            && let Some(choice) = offer.channel_for(profile)
        {
            proposals.push(propose(
                offer,
                choice.channel,
                choice.why,
                rule,
                format!("{segment}: {why}"),
            ));
        }
        if findings.has_tag("koc", "koc")
            && let Some(offer) = offers.best_of_kind("ugc_reward", now)
            && let Some(choice) = offer.channel_for(profile)
        {
            proposals.push(propose(
                offer,
                choice.channel,
                choice.why,
                "apparel.offer.koc",
                "their posts bring customers: reward the next one".into(),
            ));
        }
        Ok(proposals)
    }
}

/// Where the customer came from: the `channel_source` attribute, else the
/// channel of their first purchase, else of their first event with a
/// channel; one longer than a tag name holds is passed over (found by
/// `rulehost check`'s long-text customer).
fn channel_source<'a>(profile: &Profile<'a>) -> Option<(&'a str, String)> {
    let fits = |name: &&str| !name.is_empty() && name.len() <= rulehost_sdk::NAME_BYTES;
    if let Some(source) = profile.attr("channel_source").and_then(|v| v.as_str()).filter(fits) {
        return Some((source, format!("profile attribute channel_source is {source:?}")));
    }
    if let Some(channel) = profile
        .events_of(kinds::PURCHASE)
        .find_map(|e| e.channel().filter(fits))
    {
        return Some((channel, format!("first purchase was on {channel}")));
    }
    profile
        .events()
        .find_map(|e| e.channel().filter(fits))
        .map(|channel| (channel, format!("first seen on {channel}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rulehost_sdk::native;
    use rulehost_sdk::testing::{TestEvent, TestInput};

    fn config(cutoffs: &str) {
        native::set_config([
            ("rfm.recency_days", "30,60,120,240"),
            ("rfm.frequency", "2,3,5,8"),
            ("rfm.monetary_minor", "50000,100000,300000,800000"),
            ("rfm.window_days", "365"),
            ("apparel.tier_cutoffs", cutoffs),
            ("apparel.koc_min_actions", "3"),
            ("apparel.dormant_after_days", "120"),
            ("apparel.churned_after_days", "365"),
            ("apparel.growth_min_purchases", "2"),
            ("apparel.maturity_min_purchases", "5"),
        ]);
    }

    #[test]
    fn tiers_follow_the_cutoffs() {
        let s = |r, f, m| Scored {
            rfm: Rfm {
                recency_days: Some(1),
                frequency: 1,
                monetary_minor: 1,
            },
            r,
            f,
            m,
        };
        let cutoffs = [13, 10, 7];
        assert_eq!(s(5, 5, 3).tier(cutoffs), 1);
        assert_eq!(s(4, 4, 4).tier(cutoffs), 2);
        assert_eq!(s(3, 2, 2).tier(cutoffs), 3);
        assert_eq!(s(2, 2, 2).tier(cutoffs), 4);
    }

    #[test]
    fn cutoffs_must_descend() {
        config("7,10,13");
        let err = Settings::read(&Config::new()).unwrap_err();
        assert_eq!(err.code, "config_invalid");
        assert!(err.message.contains("apparel.tier_cutoffs"), "{}", err.message);
    }

    #[test]
    fn channel_source_prefers_the_attribute() {
        let input = TestInput::at("2026-03-07T00:00:00Z")
            .push_event(TestEvent::new("view", "2026-01-01T00:00:00Z").channel("douyin"))
            .push_event(TestEvent::new("purchase", "2026-02-01T00:00:00Z").channel("tmall"));
        assert_eq!(channel_source(&input.profile()).map(|(c, _)| c), Some("tmall"));
        let with_attr = TestInput::at("2026-03-07T00:00:00Z").attr("channel_source", "store-qr");
        assert_eq!(channel_source(&with_attr.profile()).map(|(c, _)| c), Some("store-qr"));
    }

    #[test]
    fn a_channel_too_long_to_be_a_tag_name_is_passed_over() {
        let long = "長".repeat(50);
        let input = TestInput::at("2026-03-07T00:00:00Z")
            .attr("channel_source", long.as_str())
            .push_event(TestEvent::new("purchase", "2026-01-01T00:00:00Z").channel(&long))
            .push_event(TestEvent::new("view", "2026-02-01T00:00:00Z").channel("douyin"));
        assert_eq!(channel_source(&input.profile()).map(|(c, _)| c), Some("douyin"));
    }
}
