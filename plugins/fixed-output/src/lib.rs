//! A plugin with no rules, for measuring what the sandbox itself costs.
//!
//! With no config it returns nothing: a decision is then only store,
//! instantiation, passing the input in, and three empty calls. Config keys
//! `tags`, `scores` and `proposals` make it return that many constant items
//! (proposals for the catalog's first offer), to measure passing output back.

use rulehost_sdk::{Ctx, Error, Findings, Offers, Plugin, Profile, Proposal, Score, Scoring, Tag};

/// Returns a fixed output.
#[derive(Default)]
pub struct FixedOutput;

fn count(ctx: &Ctx<'_>, key: &str) -> Result<u32, Error> {
    ctx.config().or(key, 0)
}

impl Plugin for FixedOutput {
    fn tag(&self, ctx: &Ctx<'_>, _profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
        Ok((0..count(ctx, "tags")?)
            .map(|i| {
                Tag::new("fixed", format!("tag-{i}"))
                    .rule("fixed.tag")
                    .reason("a constant tag of a fixed-size output")
            })
            .collect())
    }

    fn score(&self, ctx: &Ctx<'_>, _profile: &Profile<'_>, _findings: &Findings<'_>) -> Result<Scoring, Error> {
        Ok(Scoring {
            scores: (0..count(ctx, "scores")?)
                .map(|i| {
                    Score::new(format!("fixed.score-{i}"), f64::from(i))
                        .rule("fixed.score")
                        .reason("a constant score")
                })
                .collect(),
            stage: None,
        })
    }

    fn target(
        &self,
        ctx: &Ctx<'_>,
        _profile: &Profile<'_>,
        _findings: &Findings<'_>,
        offers: &Offers<'_>,
    ) -> Result<Vec<Proposal>, Error> {
        let Some(offer) = offers.iter().next() else {
            return Ok(Vec::new());
        };
        let channel = offer.channels().next().unwrap_or_default();
        Ok((0..count(ctx, "proposals")?)
            .map(|i| {
                Proposal::new(offer.id(), channel)
                    .score(f64::from(i))
                    .rule("fixed.offer")
                    .reason("a constant proposal")
            })
            .collect())
    }
}

rulehost_sdk::export!(FixedOutput);
