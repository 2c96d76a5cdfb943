//! # coffee-chain
//!
//! The rules of a high-frequency coffee brand: customers buy often, so the
//! lifecycle is measured in days, coupons drive habits, and the 7th of every
//! month is member day. See README.md for every rule and config key.

use std::cell::OnceCell;

use rulehost_sdk::lifecycle::Lifecycle;
use rulehost_sdk::rfm::Rfm;
use rulehost_sdk::{
    Config, Ctx, Error, Findings, Level, Offer, Offers, Plugin, Profile, Proposal, Score, Scoring, Stage, Tag,
    Timestamp, counted, kinds,
};

/// The coffee brand's rules.
#[derive(Default)]
pub struct CoffeeChain {
    /// Config is read once per decision and shared by the three stages.
    settings: OnceCell<Result<Settings, Error>>,
}

rulehost_sdk::export!(CoffeeChain);

/// The tenant settings the rules use.
#[derive(Debug, Clone)]
struct Settings {
    lifecycle: Lifecycle,
    about_to_sleep_days: u32,
    high_value_min_minor: i64,
    member_day: u32,
    unpaid_reminder_minutes: u32,
}

/// An order left unpaid (its `order_id` in props).
const ORDER_UNPAID: &str = "order_unpaid";
/// The key of a wake-up that checks whether order `id` was paid.
const UNPAID: &str = "unpaid:";
/// The key of the wake-up that checks, after the last purchase, whether the
/// customer went quiet.
const DORMANCY_CHECK: &str = "dormancy-check";

impl Settings {
    fn read(config: &Config) -> Result<Self, Error> {
        let lifecycle = Lifecycle::from_config(config, "coffee", "coffee.stage")?;
        let about_to_sleep_days = config.required("coffee.about_to_sleep_days")?;
        if about_to_sleep_days > lifecycle.dormant_after_days {
            return Err(Error::new(
                "config_invalid",
                format!(
                    "config key `coffee.about_to_sleep_days` is \"{about_to_sleep_days}\", expected at most {} (`coffee.dormant_after_days`)",
                    lifecycle.dormant_after_days
                ),
            ));
        }
        let member_day = config.or("coffee.member_day", 7u32)?;
        if !(1..=28).contains(&member_day) {
            return Err(Error::new(
                "config_invalid",
                format!("config key `coffee.member_day` is \"{member_day}\", expected a day of the month from 1 to 28"),
            ));
        }
        let unpaid_reminder_minutes = config.or("coffee.unpaid_reminder_minutes", 30u32)?;
        if !(1..=1440).contains(&unpaid_reminder_minutes) {
            return Err(Error::new(
                "config_invalid",
                format!(
                    "config key `coffee.unpaid_reminder_minutes` is \"{unpaid_reminder_minutes}\", expected 1 to 1440 minutes"
                ),
            ));
        }
        Ok(Self {
            lifecycle,
            about_to_sleep_days,
            high_value_min_minor: config.required("coffee.high_value_min_minor")?,
            member_day,
            unpaid_reminder_minutes,
        })
    }

    fn window(&self) -> String {
        match self.lifecycle.window_days {
            Some(days) => format!("in the last {days} days"),
            None => "in total".to_owned(),
        }
    }
}

/// Offer kinds that are coupons: at most one per decision.
const COUPON_KINDS: [&str; 4] = [
    "new_customer_coupon",
    "win_back_coupon",
    "last_chance",
    "member_day_coupon",
];

impl CoffeeChain {
    fn settings(&self, ctx: &Ctx<'_>) -> Result<&Settings, Error> {
        self.settings
            .get_or_init(|| Settings::read(ctx.config()))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl Plugin for CoffeeChain {
    fn tag(&self, ctx: &Ctx<'_>, profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
        let settings = self.settings(ctx)?;
        let now = ctx.now();
        let rfm = Rfm::compute(profile, now, settings.lifecycle.window_days);
        let mut tags = Vec::new();

        let mut purchases = profile.events_of(kinds::PURCHASE);
        match (purchases.next(), purchases.next()) {
            (None, _) => tags.push(
                Tag::new("customer", "new-customer")
                    .rule("coffee.tag.new-customer")
                    .reason("no purchase yet"),
            ),
            (Some(first), None) if now.days_since(first.at()) <= i64::from(settings.lifecycle.dormant_after_days) => {
                tags.push(
                    Tag::new("customer", "new-customer")
                        .rule("coffee.tag.new-customer")
                        .reason(format!("first purchase {} days ago", now.days_since(first.at()))),
                )
            }
            _ => {}
        }

        let level = profile
            .attr("member_level")
            .and_then(|v| v.as_str())
            .filter(|l| !l.is_empty() && l.len() <= rulehost_sdk::NAME_BYTES);
        if let Some(level) = level {
            tags.push(
                Tag::new("member", level)
                    .rule("coffee.tag.member-level")
                    .reason(format!("profile attribute member_level is {level:?}")),
            );
            let today = ctx.today();
            if u32::from(today.day) == settings.member_day {
                tags.push(
                    Tag::new("calendar", "member-day")
                        .rule("coffee.tag.member-day")
                        .reason(format!(
                            "{today} is member day (day {} of each month, tenant time)",
                            settings.member_day
                        ))
                        .expires_at(now.end_of_local_day(ctx.tz_offset_minutes())),
                );
            }
        }

        if let Some((category, count)) = favourite_category(profile, now, settings) {
            tags.push(
                Tag::new("favourite-category", category)
                    .rule("coffee.tag.favourite-category")
                    .reason(format!(
                        "{category} in {count} of {} {}",
                        counted(rfm.frequency, "purchase", "purchases"),
                        settings.window()
                    )),
            );
        }

        if rfm.monetary_minor >= settings.high_value_min_minor {
            tags.push(
                Tag::new("value", "high-value")
                    .rule("coffee.tag.high-value")
                    .reason(format!(
                        "spent {} {} (high value from {})",
                        yuan(rfm.monetary_minor),
                        settings.window(),
                        yuan(settings.high_value_min_minor)
                    )),
            );
        }

        if let Some(days) = rfm.recency_days {
            let lifecycle = &settings.lifecycle;
            if days >= i64::from(settings.about_to_sleep_days) && days <= i64::from(lifecycle.dormant_after_days) {
                tags.push(
                    Tag::new("risk", "about-to-sleep")
                        .rule("coffee.tag.about-to-sleep")
                        .reason(format!(
                            "last purchase {days} days ago (about to sleep from {}, dormant after {})",
                            settings.about_to_sleep_days, lifecycle.dormant_after_days
                        )),
                );
            }
        }
        Ok(tags)
    }

    fn score(&self, ctx: &Ctx<'_>, profile: &Profile<'_>, _findings: &Findings<'_>) -> Result<Scoring, Error> {
        let settings = self.settings(ctx)?;
        let now = ctx.now();
        let rfm = Rfm::compute(profile, now, settings.lifecycle.window_days);
        let mut scores = Vec::new();
        if let Some(days) = rfm.recency_days {
            scores.push(
                Score::new("coffee.recency_days", days as f64)
                    .rule("coffee.score.recency")
                    .reason(format!("last purchase {days} days ago")),
            );
        }
        scores.push(
            Score::new("coffee.purchases", f64::from(rfm.frequency))
                .rule("coffee.score.frequency")
                .reason(format!(
                    "{} {}",
                    counted(rfm.frequency, "purchase", "purchases"),
                    settings.window()
                )),
        );
        scores.push(
            Score::new("coffee.spend_minor", rfm.monetary_minor as f64)
                .rule("coffee.score.monetary")
                .reason(format!(
                    "spent {} {}, net of refunds",
                    yuan(rfm.monetary_minor),
                    settings.window()
                )),
        );
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
        let settings = self.settings(ctx)?;
        // Woken to check an unpaid order: the reminder, or nothing.
        if let Some(woken) = ctx.woken()
            && let Some(order) = woken.key.strip_prefix(UNPAID)
        {
            return Ok(payment_reminder(ctx, profile, offers, order).into_iter().collect());
        }
        ask_for_wake_ups(ctx, settings);
        let now = ctx.now();
        let favourite = findings.tags_in("favourite-category").next();
        let mut picks: Vec<Pick<'_>> = Vec::new();
        let best = |kind: &str| offers.best_of_kind(kind, now);
        match findings.stage() {
            Some(Stage::Introduction) => picks.extend(Pick::of(
                best("new_customer_coupon"),
                "coffee.offer.introduction",
                "new customer: welcome coupon".into(),
            )),
            Some(Stage::Growth) => picks.extend(Pick::of(
                best("cross_sell"),
                "coffee.offer.growth",
                match favourite {
                    Some(category) => {
                        format!("growing habit around {category}: suggest something to go with it")
                    }
                    None => "growing habit: suggest something new".into(),
                },
            )),
            Some(Stage::Maturity) => picks.extend(Pick::of(
                best("early_access"),
                "coffee.offer.maturity",
                "loyal regular: early access to the new season".into(),
            )),
            Some(Stage::Dormancy) => {
                // Only a limited-time coupon creates urgency: it must end.
                let offer = offers
                    .iter()
                    .filter(|o| o.kind() == "win_back_coupon" && o.is_valid_at(now) && o.ends_at().is_some())
                    .max_by(|a, b| a.priority().cmp(&b.priority()).then_with(|| b.id().cmp(a.id())));
                if let Some(offer) = offer {
                    // The last local day on which the coupon still works.
                    let last = offer.ends_at().unwrap_or(now).plus_millis(-1);
                    let until = last.local_date(ctx.tz_offset_minutes());
                    picks.extend(Pick::of(
                        Some(offer),
                        "coffee.offer.dormancy",
                        format!("going quiet: limited-time win-back coupon, valid until {until}"),
                    ));
                }
            }
            Some(Stage::Churned) => {
                picks.extend(Pick::of(
                    best("last_chance"),
                    "coffee.offer.churned",
                    "churned: one last offer to come back".into(),
                ));
                picks.extend(Pick::of(
                    best("feedback_survey"),
                    "coffee.offer.churned-survey",
                    "churned: ask what made them leave".into(),
                ));
            }
            Some(Stage::Reactivated) => picks.extend(Pick::of(
                best("cross_sell"),
                "coffee.offer.reactivated",
                "came back: rebuild the habit with a pairing".into(),
            )),
            None => {}
        }
        if findings.has_tag("calendar", "member-day") {
            let level = findings.tags_in("member").next().unwrap_or("member");
            picks.extend(Pick::of(
                best("member_day_coupon"),
                "coffee.offer.member-day",
                format!("member day for a {level} member"),
            ));
        }
        keep_one_coupon(ctx, &mut picks);

        Ok(picks
            .into_iter()
            .filter_map(|Pick { offer, rule, reason }| {
                let choice = offer.channel_for(profile)?;
                Some(
                    Proposal::new(offer.id(), choice.channel)
                        .score(f64::from(offer.priority()))
                        .rule(rule)
                        .reason(format!("{reason}; on {} ({})", choice.channel, choice.why)),
                )
            })
            .collect())
    }
}

/// The wake-ups a moment asks for: an unpaid order is checked again after
/// `coffee.unpaid_reminder_minutes`, and a purchase (re)sets the dormancy
/// check to the day the customer would turn dormant, and clears the
/// reminder of the order it pays.
fn ask_for_wake_ups(ctx: &Ctx<'_>, settings: &Settings) {
    let Some(trigger) = ctx.trigger() else {
        return;
    };
    let order = trigger.prop("order_id").and_then(|v| v.as_str());
    // The host takes wake-ups from a minute after the decision on.
    let soonest = ctx.now().plus_millis(60_000);
    if trigger.is(ORDER_UNPAID)
        && let Some(order) = order
    {
        let minutes = settings.unpaid_reminder_minutes;
        let at = trigger.at().plus_millis(i64::from(minutes) * 60_000).max(soonest);
        ctx.wake_at(
            format!("{UNPAID}{order}"),
            at,
            format!("order {order} unpaid: remind in {minutes} minutes if it still is"),
        );
    }
    if trigger.is(kinds::PURCHASE) {
        if let Some(order) = order {
            ctx.clear_wake(format!("{UNPAID}{order}"));
        }
        let days = settings.lifecycle.dormant_after_days;
        let at = trigger.at().plus_days(i64::from(days));
        // A purchase that old made the customer dormant already: this
        // decision sees it.
        if at >= soonest {
            let day = trigger.at().local_date(ctx.tz_offset_minutes());
            ctx.wake_at(
                DORMANCY_CHECK,
                at,
                format!("no purchase for {days} days after {day}: check whether they went quiet"),
            );
        }
    }
}

/// The payment reminder for an order still unpaid (no purchase of it, or
/// of anything, since it was left), on the channel it was left on when the
/// offer goes there.
fn payment_reminder(ctx: &Ctx<'_>, profile: &Profile<'_>, offers: &Offers<'_>, order: &str) -> Option<Proposal> {
    let left = profile
        .events_of(ORDER_UNPAID)
        .rfind(|e| e.prop("order_id").and_then(|v| v.as_str()) == Some(order));
    let Some(left) = left else {
        ctx.log(
            Level::Info,
            format!("order {order}: no unpaid order of that id in the profile"),
        );
        return None;
    };
    let paid = profile
        .events_of(kinds::PURCHASE)
        .any(|p| p.prop("order_id").and_then(|v| v.as_str()) == Some(order) || p.at() >= left.at());
    if paid {
        ctx.log(Level::Info, format!("order {order} was paid: no reminder"));
        return None;
    }
    let offer = offers.best_of_kind("payment_reminder", ctx.now())?;
    let channel = left
        .channel()
        .filter(|c| offer.has_channel(c))
        .or_else(|| offer.channels().next())?;
    Some(
        Proposal::new(offer.id(), channel)
            .score(f64::from(offer.priority()))
            .rule("coffee.offer.unpaid-reminder")
            .reason(format!(
                "order {order} still unpaid since {}: remind on {channel}",
                left.at().local_date(ctx.tz_offset_minutes())
            )),
    )
}

/// An offer chosen for the customer, before the channel is picked.
struct Pick<'a> {
    offer: Offer<'a>,
    rule: &'static str,
    reason: String,
}

impl<'a> Pick<'a> {
    fn of(offer: Option<Offer<'a>>, rule: &'static str, reason: String) -> Option<Self> {
        offer.map(|offer| Self { offer, rule, reason })
    }
}

/// The most purchased category in the window: ties go to the category with
/// the most recent purchase. A category longer than a tag name holds is no
/// category (found by `rulehost check`'s long-text customer).
fn favourite_category<'a>(profile: &Profile<'a>, now: Timestamp, settings: &Settings) -> Option<(&'a str, usize)> {
    let since = settings.lifecycle.window_days.map(|d| now.plus_days(-i64::from(d)));
    let mut counts: Vec<(&str, usize, Timestamp)> = Vec::new();
    for event in profile.events_of(kinds::PURCHASE) {
        if since.is_some_and(|s| event.at() <= s) {
            continue;
        }
        let Some(category) = event.category().filter(|c| c.len() <= rulehost_sdk::NAME_BYTES) else {
            continue;
        };
        match counts.iter_mut().find(|(c, _, _)| *c == category) {
            Some(entry) => {
                entry.1 += 1;
                entry.2 = event.at();
            }
            None => counts.push((category, 1, event.at())),
        }
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(a.2.cmp(&b.2)))
        .map(|(category, count, _)| (category, count))
}

/// Never more than one coupon per decision: keep the coupon with the highest
/// priority (then value, then lowest id) and drop the others.
fn keep_one_coupon(ctx: &Ctx<'_>, picks: &mut Vec<Pick<'_>>) {
    let is_coupon = |o: &Offer<'_>| COUPON_KINDS.contains(&o.kind());
    let best = picks
        .iter()
        .map(|p| p.offer)
        .filter(is_coupon)
        .max_by(|a, b| {
            (a.priority(), a.value_minor())
                .cmp(&(b.priority(), b.value_minor()))
                .then_with(|| b.id().cmp(a.id()))
        })
        .map(|o| o.id());
    picks.retain(|Pick { offer: o, .. }| {
        let keep = !is_coupon(o) || Some(o.id()) == best;
        if !keep {
            ctx.log(
                Level::Info,
                format!(
                    "dropped coupon {}: one coupon per decision, kept {}",
                    o.id(),
                    best.unwrap_or("-")
                ),
            );
        }
        keep
    });
}

/// Minor units as yuan, e.g. 123450 → "¥1234.50".
fn yuan(minor: i64) -> String {
    format!("¥{}.{:02}", minor / 100, (minor % 100).abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rulehost_sdk::native::{self, Session};
    use rulehost_sdk::testing::{TestEvent, TestFindings, TestInput, TestOffer};

    fn config() {
        native::set_config([
            ("coffee.dormant_after_days", "14"),
            ("coffee.churned_after_days", "45"),
            ("coffee.growth_min_purchases", "3"),
            ("coffee.maturity_min_purchases", "8"),
            ("coffee.window_days", "90"),
            ("coffee.about_to_sleep_days", "10"),
            ("coffee.high_value_min_minor", "50000"),
        ]);
    }

    #[test]
    fn yuan_formats_minor_units() {
        assert_eq!(yuan(123_450), "¥1234.50");
        assert_eq!(yuan(5), "¥0.05");
    }

    #[test]
    fn only_one_coupon_survives_on_member_day() {
        config();
        // Dormant gold member on member day: the win-back and member-day
        // coupons compete; the higher priority wins.
        let input = TestInput::at("2026-03-07T10:00:00Z")
            .attr("member_level", "gold")
            .push_event(
                TestEvent::new("purchase", "2026-02-10T09:00:00Z")
                    .amount(3_000)
                    .channel("sms"),
            )
            .offer(
                TestOffer::new("winback", "win_back_coupon")
                    .channels(["sms"])
                    .priority(50)
                    .valid(None, Some("2026-03-31T00:00:00Z")),
            )
            .offer(TestOffer::new("md", "member_day_coupon").channels(["sms"]).priority(60));
        let session = Session::<CoffeeChain>::new(input.to_frame());
        let tags = session.tag().unwrap();
        assert!(tags.iter().any(|t| t.name == "member-day"));
        let findings = TestFindings::new()
            .tag("calendar", "member-day")
            .tag("member", "gold")
            .stage(Stage::Dormancy)
            .to_frame();
        let proposals = session.target(&findings).unwrap();
        let ids: Vec<_> = proposals.iter().map(|p| p.offer_id.as_str()).collect();
        assert_eq!(ids, ["md"]);
        let logs = native::take_logs();
        assert!(
            logs.iter()
                .any(|(_, m)| m == "dropped coupon winback: one coupon per decision, kept md"),
            "{logs:?}"
        );
    }
}
