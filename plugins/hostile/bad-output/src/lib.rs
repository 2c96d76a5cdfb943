//! A plugin that returns one kind of output the host must refuse, chosen by
//! the config key `mode`: `nan-score`, `infinite-proposal-score`,
//! `unknown-offer`, `wrong-channel`, `no-reason`, `no-rule`, `duplicate-tag`,
//! `long-name`, `too-many-tags`, `bad-error`; `ok` returns valid output.

use rulehost_sdk::{Ctx, Error, Findings, Offers, Plugin, Profile, Proposal, Score, Scoring, Tag};

/// Misbehaves on request.
#[derive(Default)]
pub struct BadOutput;

fn mode(ctx: &Ctx<'_>) -> Result<String, Error> {
    ctx.config().required("mode")
}

fn tag(name: &str) -> Tag {
    Tag::new("test", name).rule("bad.tag").reason("on request")
}

impl Plugin for BadOutput {
    fn tag(&self, ctx: &Ctx<'_>, _profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
        Ok(match mode(ctx)?.as_str() {
            "no-reason" => vec![Tag::new("test", "a").rule("bad.tag")],
            "no-rule" => vec![Tag::new("test", "a").reason("on request")],
            "duplicate-tag" => vec![tag("a"), tag("a")],
            "long-name" => vec![tag(&"x".repeat(1000))],
            "too-many-tags" => (0..300).map(|i| tag(&format!("t{i}"))).collect(),
            "bad-error" => return Err(Error::new("", "an error without a code")),
            _ => vec![tag("a")],
        })
    }

    fn score(&self, ctx: &Ctx<'_>, _profile: &Profile<'_>, _findings: &Findings<'_>) -> Result<Scoring, Error> {
        let value = match mode(ctx)?.as_str() {
            "nan-score" => f64::NAN,
            _ => 1.0,
        };
        Ok(Scoring {
            scores: vec![Score::new("test.score", value).rule("bad.score").reason("on request")],
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
        let first = offers.iter().next();
        let (offer, channel, score) = match (mode(ctx)?.as_str(), first) {
            ("unknown-offer", _) => ("no-such-offer".to_owned(), "sms".to_owned(), 1.0),
            ("wrong-channel", Some(o)) => (o.id().to_owned(), "carrier-pigeon".to_owned(), 1.0),
            ("infinite-proposal-score", Some(o)) => (
                o.id().to_owned(),
                o.channels().next().unwrap_or("").to_owned(),
                f64::INFINITY,
            ),
            (_, Some(o)) => (o.id().to_owned(), o.channels().next().unwrap_or("").to_owned(), 1.0),
            (_, None) => return Ok(Vec::new()),
        };
        Ok(vec![
            Proposal::new(offer, channel)
                .score(score)
                .rule("bad.offer")
                .reason("on request"),
        ])
    }
}

rulehost_sdk::export!(BadOutput);
