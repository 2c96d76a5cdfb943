//! @NAME@: a brand's rules as a rulehost plugin. Two rules to start from;
//! see README.md for how to build, test and upload it.

use rulehost_sdk::{Ctx, Error, Findings, Offers, Plugin, Profile, Proposal, Tag, counted, kinds};

#[derive(Default)]
pub struct @TYPE@;

impl Plugin for @TYPE@ {
    /// `behaviour/regular`: enough purchases in the recent window.
    fn tag(&self, ctx: &Ctx<'_>, profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
        let window: u32 = ctx.config().or("@MODULE@.window_days", 30)?;
        let min: u32 = ctx.config().or("@MODULE@.regular_min_purchases", 3)?;
        let now = ctx.now();
        let purchases = profile
            .events_of(kinds::PURCHASE)
            .filter(|e| now.days_since(e.at()) < i64::from(window))
            .count();
        if purchases < min as usize {
            return Ok(Vec::new());
        }
        Ok(vec![
            Tag::new("behaviour", "regular")
                .rule("@NAME@.tag.regular")
                .reason(format!(
                    "{} in the last {window} days (regular from {min})",
                    counted(purchases as u64, "purchase", "purchases")
                )),
        ])
    }

    /// A win-back coupon for a customer whose last purchase is long ago.
    fn target(
        &self,
        ctx: &Ctx<'_>,
        profile: &Profile<'_>,
        _findings: &Findings<'_>,
        offers: &Offers<'_>,
    ) -> Result<Vec<Proposal>, Error> {
        let after: u32 = ctx.config().or("@MODULE@.win_back_after_days", 30)?;
        let Some(last) = profile.events_of(kinds::PURCHASE).next_back() else {
            return Ok(Vec::new());
        };
        let days = ctx.now().days_since(last.at());
        if days < i64::from(after) {
            return Ok(Vec::new());
        }
        let Some(offer) = offers.best_of_kind("win_back_coupon", ctx.now()) else {
            return Ok(Vec::new());
        };
        let Some(choice) = offer.channel_for(profile) else {
            return Ok(Vec::new());
        };
        Ok(vec![
            Proposal::new(offer.id(), choice.channel)
                .score(f64::from(offer.priority()))
                .rule("@NAME@.offer.win-back")
                .reason(format!(
                    "last purchase {} ago (win-back after {after}); on {} ({})",
                    counted(days.unsigned_abs(), "day", "days"),
                    choice.channel,
                    choice.why
                )),
        ])
    }
}

rulehost_sdk::export!(@TYPE@);
