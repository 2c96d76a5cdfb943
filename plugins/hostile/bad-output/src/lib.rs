//! A plugin that returns one kind of output the host must refuse, chosen by
//! the config key `mode`: `nan-score`, `infinite-proposal-score`,
//! `unknown-offer`, `wrong-channel`, `no-reason`, `no-rule`, `duplicate-tag`,
//! `long-name`, `too-many-tags`, `bad-error`, and for wake-ups
//! `wake-too-soon`, `wake-too-far`, `wake-no-reason`, `wake-empty-key`,
//! `too-many-wakes`; `ok` returns valid output (with one valid wake-up).

use rulehost_sdk::{Ctx, Error, Findings, Offers, Plugin, Profile, Proposal, Score, Scoring, Tag, Timestamp};

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
        let mode = mode(ctx)?;
        ask_for_wake_ups(ctx, &mode);
        Ok(match mode.as_str() {
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

/// The wake-ups a mode asks for, in the tag stage.
fn ask_for_wake_ups(ctx: &Ctx<'_>, mode: &str) {
    const MINUTE: i64 = 60_000;
    let now = ctx.now().0;
    let at = |ms: i64| Timestamp(now + ms);
    match mode {
        "wake-too-soon" => ctx.wake_at("soon", at(MINUTE / 2), "on request"),
        "wake-too-far" => ctx.wake_at("far", at(401 * 1440 * MINUTE), "on request"),
        "wake-no-reason" => ctx.wake_at("silent", at(10 * MINUTE), ""),
        "wake-empty-key" => ctx.wake_at("", at(10 * MINUTE), "on request"),
        "too-many-wakes" => (0..9).for_each(|i| ctx.wake_at(format!("w{i}"), at(10 * MINUTE), "on request")),
        "ok" => ctx.wake_at("check", at(10 * MINUTE), "on request"),
        _ => {}
    }
}

rulehost_sdk::export!(BadOutput);
