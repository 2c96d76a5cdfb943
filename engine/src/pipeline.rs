//! Runs a tenant's plugins stage by stage under one budget.
//!
//! Every plugin's `tag` runs first (tags accumulate), then every `score`
//! (each sees all tags and the scores so far), then every `target` (each
//! sees everything). The last plugin that sets a stage decides it. Each
//! answer is checked before it is applied (see `checks`): output a plugin
//! should not have produced fails the decision as `plugin_invalid_output`,
//! it is never partly applied.

mod checks;

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Error;
use crate::decision::{Decision, PluginRef, Usage};
use crate::input::{self, InputLimits};
use crate::{Engine, Lane, Limits, Plugin};
use rulehost_layout::findings::FindingsWriter;
use rulehost_layout::input::InputWriter;
use rulehost_model::{Request, TenantConfig};

/// The frames' buffers, kept per decision thread so a decision writes its
/// input and findings without allocating once they have grown to fit.
#[derive(Default)]
struct Buffers {
    input: InputWriter,
    input_frame: Vec<u8>,
    findings: FindingsBuffers,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::default();
}

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
    decide_timed(engine, lane, plugins, request, config, limits, &mut Phases::default())
}

/// Where one decision's time went (see [`decide_timed`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Phases {
    /// Writing the input frame from the parsed request.
    pub build: Duration,
    /// A fresh store, every plugin instantiated and its session opened with
    /// the input (the input is lowered into the guest here).
    pub start: Duration,
    /// The plugins' stage calls: their rules, the findings crossing in and
    /// their answers crossing out.
    pub calls: Duration,
    /// The rest: checking answers, the findings between stages, dropping
    /// the sessions and assembling the decision.
    pub assemble: Duration,
}

/// [`decide`], recording in `phases` where its time went; the benchmark's
/// per-decision breakdown. Timing costs a few clock reads per plugin call.
pub fn decide_timed(
    engine: &Engine,
    lane: Option<&Lane>,
    plugins: &[Arc<Plugin>],
    request: &Request,
    config: Arc<TenantConfig>,
    limits: &Limits,
    phases: &mut Phases,
) -> Result<Decision, Error> {
    with_buffers(|buffers| decide_with(engine, lane, plugins, request, config, limits, phases, buffers))
}

/// Runs `decide` with this thread's buffers.
fn with_buffers<T>(decide: impl FnOnce(&mut Buffers) -> T) -> T {
    BUFFERS.with(|cell| {
        let (mut borrowed, mut own) = (cell.try_borrow_mut(), None);
        let buffers = match &mut borrowed {
            Ok(buffers) => &mut **buffers,
            // Only a decision made from inside a decision gets here.
            Err(_) => own.insert(Buffers::default()),
        };
        decide(buffers)
    })
}

#[allow(clippy::too_many_arguments, reason = "decide_timed's arguments and its buffers")]
fn decide_with(
    engine: &Engine,
    lane: Option<&Lane>,
    plugins: &[Arc<Plugin>],
    request: &Request,
    config: Arc<TenantConfig>,
    limits: &Limits,
    phases: &mut Phases,
    buffers: &mut Buffers,
) -> Result<Decision, Error> {
    let started = Instant::now();
    input::write(
        request,
        &InputLimits::default(),
        &mut buffers.input,
        &mut buffers.input_frame,
    )?;
    let frame = Frame {
        bytes: &buffers.input_frame,
        customer_id: &request.profile.customer_id,
        offers: &request.offers,
    };
    run_frame(
        engine,
        lane,
        plugins,
        &frame,
        config,
        limits,
        phases,
        started,
        &mut buffers.findings,
    )
}

/// An input frame already written, with what the pipeline reads of it.
#[derive(Clone, Copy)]
pub struct Frame<'a> {
    /// The frame (see [`input`]).
    pub bytes: &'a [u8],
    /// Its customer's id.
    pub customer_id: &'a str,
    /// Its catalog, which proposals must name.
    pub offers: &'a [rulehost_model::Offer],
}

/// Makes one decision on an input frame the caller wrote (see
/// [`input::json`]): the same as [`decide`] from there on.
pub fn decide_frame(
    engine: &Engine,
    lane: Option<&Lane>,
    plugins: &[Arc<Plugin>],
    frame: &Frame<'_>,
    config: Arc<TenantConfig>,
    limits: &Limits,
) -> Result<Decision, Error> {
    let started = Instant::now();
    with_buffers(|buffers| {
        let phases = &mut Phases::default();
        run_frame(
            engine,
            lane,
            plugins,
            frame,
            config,
            limits,
            phases,
            started,
            &mut buffers.findings,
        )
    })
}

/// The findings' buffers.
#[derive(Default)]
struct FindingsBuffers {
    writer: FindingsWriter,
    frame: Vec<u8>,
}

#[allow(
    clippy::too_many_arguments,
    reason = "the decision's arguments, its clock and its buffers"
)]
fn run_frame(
    engine: &Engine,
    lane: Option<&Lane>,
    plugins: &[Arc<Plugin>],
    frame: &Frame<'_>,
    config: Arc<TenantConfig>,
    limits: &Limits,
    phases: &mut Phases,
    started: Instant,
    buffers: &mut FindingsBuffers,
) -> Result<Decision, Error> {
    let built = Instant::now();
    let mut run = engine.start(lane, plugins, limits, config, frame.bytes)?;
    let ran = Instant::now();
    phases.build = built - started;
    phases.start = ran - built;
    let output = engine.config().output;
    let mut calls = Duration::ZERO;

    // Only a 0.3.0 plugin asks for wake-ups (an earlier one's answer has no
    // such section, and one that carried it would be ignored).
    let mut wakes = checks::Wakes {
        now: rulehost_layout::input::Header::of(frame.bytes)
            .map(|h| h.now)
            .unwrap_or_default(),
        out: Vec::new(),
    };

    let mut tags = Vec::new();
    for (i, plugin) in plugins.iter().enumerate() {
        let answer = timed(&mut calls, || run.tag(i))?;
        tags.extend(checks::tags(
            plugin.name(),
            &output,
            answer,
            plugin.wakes().then_some(&mut wakes),
        )?);
    }

    let mut scores = Vec::new();
    let mut stage = None;
    for (i, plugin) in plugins.iter().enumerate() {
        findings(buffers, &tags, &scores, stage.as_ref());
        let scoring = timed(&mut calls, || run.score(i, &buffers.frame))?;
        let (new_scores, new_stage) =
            checks::scoring(plugin.name(), &output, scoring, plugin.wakes().then_some(&mut wakes))?;
        scores.extend(new_scores);
        stage = new_stage.or(stage);
    }

    let mut proposals = Vec::new();
    findings(buffers, &tags, &scores, stage.as_ref());
    for (i, plugin) in plugins.iter().enumerate() {
        let answer = timed(&mut calls, || run.target(i, &buffers.frame))?;
        proposals.extend(checks::proposals(
            plugin.name(),
            &output,
            answer,
            frame.offers,
            plugin.wakes().then_some(&mut wakes),
        )?);
    }

    let report = run.finish()?;
    phases.calls = calls;
    let decision = Decision {
        customer_id: frame.customer_id.to_owned(),
        stage,
        tags,
        scores,
        proposals,
        plugins: plugins.iter().map(|p| PluginRef::from(&**p)).collect(),
        usage: Usage {
            fuel: report.fuel,
            duration_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            memory_bytes: report.memory_bytes,
        },
        logs: report.logs,
        wakes: wakes.out,
        decision_id: None,
        holdout: None,
        selected: None,
        suppressed: None,
        committed: None,
    };
    phases.assemble = ran.elapsed().saturating_sub(calls);
    Ok(decision)
}

/// Runs `call`, adding the time it took to `total`.
fn timed<T>(total: &mut Duration, call: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let answer = call();
    *total += started.elapsed();
    answer
}

/// Writes what the pipeline has concluded so far as a findings frame.
fn findings(
    buffers: &mut FindingsBuffers,
    tags: &[crate::decision::Tag],
    scores: &[crate::decision::Score],
    stage: Option<&crate::decision::StageVerdict>,
) {
    let w = &mut buffers.writer;
    w.clear();
    for t in tags {
        w.tag(&t.group, &t.name);
    }
    for s in scores {
        w.score(&s.name, s.value);
    }
    w.finish(stage.map(|s| input::stage_index(s.value)), &mut buffers.frame);
}
