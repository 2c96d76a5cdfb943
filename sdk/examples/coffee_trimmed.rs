//! The trimmed-down coffee plugin of the book's "Writing a plugin in
//! Rust" (docs/src/plugins/rust.md includes it from here, so it is the
//! code the workspace compiles).

// ANCHOR: plugin
use rulehost_sdk::lifecycle::Lifecycle;
use rulehost_sdk::rfm::Rfm;
use rulehost_sdk::{Ctx, Error, Findings, Offers, Plugin, Profile, Proposal, Scoring, Stage, Tag};

/// The coffee chain's rules.
#[derive(Default)]
pub struct CoffeeChain;

impl Plugin for CoffeeChain {
    fn tag(&self, ctx: &Ctx<'_>, profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
        let min: i64 = ctx.config().required("coffee.high_value_min_minor")?; // clear error if missing
        let rfm = Rfm::compute(profile, ctx.now(), Some(90));
        let mut tags = Vec::new();
        if rfm.monetary_minor >= min {
            tags.push(
                Tag::new("value", "high-value")
                    .rule("coffee.tag.high-value")
                    .reason(format!("spent {} in 90 days", rfm.monetary_minor)),
            );
        }
        Ok(tags)
    }

    fn score(&self, ctx: &Ctx<'_>, profile: &Profile<'_>, _: &Findings<'_>) -> Result<Scoring, Error> {
        let lifecycle = Lifecycle::from_config(ctx.config(), "coffee", "coffee.stage")?;
        Ok(Scoring {
            scores: Vec::new(),
            stage: Some(lifecycle.classify(profile, ctx.now())),
        })
    }

    fn target(
        &self,
        ctx: &Ctx<'_>,
        profile: &Profile<'_>,
        found: &Findings<'_>,
        offers: &Offers<'_>,
    ) -> Result<Vec<Proposal>, Error> {
        let Some(Stage::Dormancy) = found.stage() else {
            return Ok(Vec::new());
        };
        let Some(offer) = offers.best_of_kind("win_back_coupon", ctx.now()) else {
            return Ok(Vec::new());
        };
        let Some(choice) = offer.channel_for(profile) else {
            return Ok(Vec::new());
        };
        Ok(vec![
            Proposal::new(offer.id(), choice.channel)
                .score(f64::from(offer.priority()))
                .rule("coffee.offer.dormancy")
                .reason(format!(
                    "going quiet: win-back coupon; on {} ({})",
                    choice.channel, choice.why
                )),
        ])
    }
}

rulehost_sdk::export!(CoffeeChain);
// ANCHOR_END: plugin

fn main() {}
