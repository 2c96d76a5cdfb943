//! Runs a tenant's plugins stage by stage under one budget.
//!
//! Every plugin's `tag` runs first (tags accumulate), then every `score`
//! (each sees all tags and the scores so far), then every `target` (each
//! sees everything). The last plugin that sets a stage decides it. Each
//! answer is checked before it is applied (see `checks`): output a plugin
//! should not have produced fails the decision as `plugin_invalid_output`,
//! it is never partly applied.

mod checks;

use std::sync::Arc;
use std::time::Instant;

use crate::Error;
use crate::contract::latest::types as wire;
use crate::decision::{Decision, PluginRef, Usage};
use crate::input::{self, InputLimits, Interner};
use crate::{Engine, Lane, Limits, Plugin};
use rulehost_model::{Request, TenantConfig};

/// Makes one decision: builds the input, runs every plugin's stages, checks
/// their answers and assembles the explained result. The plugins run on
/// `lane`, or on one the run takes for itself (see [`Engine::start`]).
pub fn decide(
    engine: &Engine,
    lane: Option<&Lane>,
    plugins: &[Arc<Plugin>],
    request: &Request,
    config: Arc<TenantConfig>,
    limits: &Limits,
) -> Result<Decision, Error> {
    let started = Instant::now();
    let (ctx, input) = input::build(request, &InputLimits::default())?;
    let mut run = engine.start(lane, plugins, limits, config, &ctx, &input)?;
    let output = engine.config().output;

    let mut tags = Vec::new();
    for (i, plugin) in plugins.iter().enumerate() {
        let answer = run.tag(i)?;
        tags.extend(checks::tags(plugin.name(), &output, answer)?);
    }

    let mut scores = Vec::new();
    let mut stage = None;
    for (i, plugin) in plugins.iter().enumerate() {
        let findings = findings(&tags, &scores, stage.as_ref());
        let scoring = run.score(i, &findings)?;
        let (new_scores, new_stage) = checks::scoring(plugin.name(), &output, scoring)?;
        scores.extend(new_scores);
        stage = new_stage.or(stage);
    }

    let mut proposals = Vec::new();
    let findings = findings(&tags, &scores, stage.as_ref());
    for (i, plugin) in plugins.iter().enumerate() {
        let answer = run.target(i, &findings)?;
        proposals.extend(checks::proposals(plugin.name(), &output, answer, &request.offers)?);
    }

    let report = run.finish()?;
    Ok(Decision {
        customer_id: request.profile.customer_id.clone(),
        stage,
        tags,
        scores,
        proposals,
        plugins: plugins
            .iter()
            .map(|p| PluginRef {
                name: p.name().to_owned(),
                version: p.version().to_owned(),
                sha256: p.sha256().to_owned(),
            })
            .collect(),
        usage: Usage {
            fuel: report.fuel,
            duration_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        },
        logs: report.logs,
        decision_id: None,
        holdout: None,
        selected: None,
        suppressed: None,
        committed: None,
    })
}

/// What the pipeline has concluded so far, in the contract's compact form.
fn findings(
    tags: &[crate::decision::Tag],
    scores: &[crate::decision::Score],
    stage: Option<&crate::decision::StageVerdict>,
) -> wire::Findings {
    let mut strings = Interner::default();
    let tags = tags
        .iter()
        .map(|t| wire::TagKey {
            group: strings.intern(&t.group),
            name: strings.intern(&t.name),
        })
        .collect();
    let scores = scores
        .iter()
        .map(|s| wire::ScoreValue {
            name: strings.intern(&s.name),
            value: s.value,
        })
        .collect();
    wire::Findings {
        strings: strings.finish(),
        tags,
        scores,
        stage: stage.map(|s| input::stage_to_wire(s.value)),
    }
}
