//! Simulation: what a candidate (a plugin version, config, catalog or
//! policy) would decide for a set of customers, against a baseline.
//!
//! Customers come as NDJSON, one profile or one decide request
//! (`{"profile", "now"?, "seed"?, "trigger"?}`) per line, read as a stream:
//! memory stays flat however many there are. Worker threads (one per core
//! by default) parse each line and run both pipelines on it in the sandbox,
//! each under the decision limits; a single thread then applies each side's
//! contact policy **in file order** against that side's own simulated
//! ledger — every touch a side selects counts against that side's caps for
//! later lines of the same customer and against its budgets — so a
//! simulation's result does not depend on how many threads ran it. The
//! ledger starts empty, with budgets as already spent (`Setup::budgets_used`).
//! The outcome pairs are counted into a [`Report`](crate::compare::Report).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use crate::compare::{ArmSummary, Failure, Outcome, Report, Tally};
use crate::engine::{Engine, Limits, Plugin};
use crate::live::{DecideRequest, default_seed};
use crate::model::{Mode, Offer, Profile, Request, TenantConfig, Timestamp, parse_json};
use crate::pipeline;
use crate::policy::{self, Ledger, LedgerTouch, Policy};

/// One side of a comparison: everything a decision depends on.
#[derive(Clone)]
pub struct Arm {
    /// What to call it in the report.
    pub summary: ArmSummary,
    /// The pipeline, in order.
    pub plugins: Vec<Arc<Plugin>>,
    /// The config plugins read.
    pub config: Arc<TenantConfig>,
    /// The offer catalog.
    pub offers: Arc<[Offer]>,
    /// The contact policy.
    pub policy: Arc<Policy>,
}

/// How to run a simulation.
#[derive(Clone)]
pub struct Setup {
    /// The tenant, for default seeds (as the server derives them).
    pub tenant_id: String,
    /// The tenant's UTC offset.
    pub tz_offset_minutes: i32,
    /// The decision time of lines that carry none.
    pub now: Option<Timestamp>,
    /// Limits of every decision.
    pub limits: Limits,
    /// Threads running plugins.
    pub workers: usize,
    /// Customers whose diffs the report keeps.
    pub samples: usize,
    /// Budgets already spent, per offer, before the run.
    pub budgets_used: HashMap<String, u64>,
    /// Run the plugins on lanes held by this name (the server's
    /// simulations share the cores fairly with live tenants); `None`: each
    /// run takes a lane for its plugins' owner.
    pub lane_owner: Option<Arc<str>>,
    /// Set to stop early (the run ends with [`SimulateError::Cancelled`]).
    pub cancel: Arc<AtomicBool>,
    /// Lines at most (the rest are not read).
    pub max_customers: Option<u64>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            tenant_id: String::new(),
            tz_offset_minutes: 0,
            now: None,
            limits: Limits::default(),
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            samples: 50,
            budgets_used: HashMap::new(),
            lane_owner: None,
            cancel: Arc::new(AtomicBool::new(false)),
            max_customers: None,
        }
    }
}

/// Why a simulation could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// A line is not a profile or a decide request.
    #[error("line {line}: {message}")]
    Line {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// Reading the customers failed.
    #[error("reading the customers: {0}")]
    Read(String),
    /// More customers than allowed.
    #[error("more than {0} customers")]
    TooMany(u64),
    /// Stopped by the caller.
    #[error("the simulation was cancelled")]
    Cancelled,
}

/// How far a simulation is: customers done, and bytes of input they span.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Customers decided and counted.
    pub customers: u64,
    /// Input bytes up to the end of the last customer counted.
    pub bytes: u64,
}

/// The longest line read.
const MAX_LINE: usize = 16 << 20;

/// A parsed line: the request and the profile's fields the policy needs.
struct Parsed {
    customer_id: String,
    request: Request,
}

/// One customer's two runs, on their way to the tally.
struct Done {
    index: u64,
    end: u64,
    result: Result<(Parsed, Outcome, Outcome), SimulateError>,
}

/// A line on its way to a worker: (index among customers, line number,
/// byte offset of its end, its text).
type Line = (u64, u64, u64, Result<String, SimulateError>);

/// The lines of an NDJSON input, numbered from 1: each with the byte
/// offset of its end and its text, blank lines skipped. A line longer than
/// 16 MiB or not UTF-8 is an error naming it, and so is a failed read;
/// nothing is read after an error.
pub struct NdjsonLines<R> {
    input: R,
    line_no: u64,
    offset: u64,
    buf: Vec<u8>,
    failed: bool,
}

impl<R: BufRead> NdjsonLines<R> {
    /// Reads `input`.
    pub fn new(input: R) -> Self {
        Self {
            input,
            line_no: 0,
            offset: 0,
            buf: Vec::new(),
            failed: false,
        }
    }
}

impl<R: BufRead> Iterator for NdjsonLines<R> {
    /// (line number, byte offset of its end, its text).
    type Item = (u64, u64, Result<String, SimulateError>);

    fn next(&mut self) -> Option<Self::Item> {
        while !self.failed {
            self.buf.clear();
            let read = match Read::take(&mut self.input, MAX_LINE as u64 + 1).read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(n) => n,
                Err(e) => {
                    self.failed = true;
                    return Some((self.line_no, self.offset, Err(SimulateError::Read(e.to_string()))));
                }
            };
            self.line_no += 1;
            self.offset += read as u64;
            let item = if self.buf.len() > MAX_LINE {
                Err(SimulateError::Line {
                    line: self.line_no,
                    message: format!("longer than {MAX_LINE} bytes"),
                })
            } else if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            } else {
                String::from_utf8(std::mem::take(&mut self.buf)).map_err(|_| SimulateError::Line {
                    line: self.line_no,
                    message: "not UTF-8".into(),
                })
            };
            self.failed = item.is_err();
            return Some((self.line_no, self.offset, item));
        }
        None
    }
}

fn read_lines(input: impl BufRead, max: Option<u64>, stop: &[&AtomicBool], send: &mpsc::SyncSender<Line>) {
    for (index, (line_no, offset, item)) in (0u64..).zip(NdjsonLines::new(input)) {
        if stop.iter().any(|s| s.load(Ordering::Relaxed)) {
            return;
        }
        let item = match item {
            Ok(_) if max.is_some_and(|max| index >= max) => Err(SimulateError::TooMany(index)),
            item => item,
        };
        let last = item.is_err();
        if send.send((index, line_no, offset, item)).is_err() || last {
            return;
        }
    }
}

/// Reads one line of a customer file: a bare profile, or a decide request
/// (when the line's object has a `profile` field).
pub fn read_customer(line_no: u64, line: &str) -> Result<DecideRequest, SimulateError> {
    let bad = |message: String| SimulateError::Line { line: line_no, message };
    let is_request = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line)
        .map_err(|e| bad(format!("not a JSON object: {e}")))?
        .contains_key("profile");
    Ok(if is_request {
        parse_json(line.as_bytes()).map_err(|e| bad(format!("decide request{e}")))?
    } else {
        DecideRequest {
            profile: parse_json::<Profile>(line.as_bytes()).map_err(|e| bad(format!("profile{e}")))?,
            now: None,
            seed: None,
            mode: None,
            trigger: None,
            commit: false,
        }
    })
}

impl Setup {
    /// Reads one line into a request, with the simulation's time and seed
    /// where the line has none.
    fn parse(&self, line_no: u64, line: &str) -> Result<Parsed, SimulateError> {
        let bad = |message: String| SimulateError::Line { line: line_no, message };
        let request = read_customer(line_no, line)?;
        let now = request
            .now
            .or(self.now)
            .ok_or_else(|| bad("no decision time: give the line a `now`, or the simulation one".into()))?;
        let seed = request
            .seed
            .unwrap_or_else(|| default_seed(&self.tenant_id, &request.profile.customer_id));
        Ok(Parsed {
            customer_id: request.profile.customer_id.clone(),
            request: Request {
                now,
                tz_offset_minutes: self.tz_offset_minutes,
                seed,
                mode: request.mode.unwrap_or(Mode::Simulate),
                trigger: request.trigger,
                profile: request.profile,
                offers: Arc::from(Vec::new()),
            },
        })
    }
}

fn decide(engine: &Engine, setup: &Setup, arm: &Arm, request: &mut Request) -> Outcome {
    request.offers = arm.offers.clone();
    let lane = setup.lane_owner.as_ref().map(|owner| engine.lane(owner.clone()));
    pipeline::decide(
        engine,
        lane.as_ref(),
        &arm.plugins,
        request,
        arm.config.clone(),
        &setup.limits,
    )
    .map_err(|e| Failure::from(&e))
}

/// One side's contact ledger during a simulation.
struct SimLedger {
    touches: HashMap<String, Vec<LedgerTouch>>,
    spent: HashMap<String, u64>,
}

impl SimLedger {
    fn new() -> Self {
        Self {
            touches: HashMap::new(),
            spent: HashMap::new(),
        }
    }

    /// Applies `arm`'s policy to a decision, as a committing server decision
    /// would, and records what it selects.
    fn apply(&mut self, arm: &Arm, setup: &Setup, request: &Request, outcome: &mut Outcome) {
        let Ok(decision) = outcome else { return };
        let policy = &arm.policy;
        let since = request.now.0 - policy.ledger_days() * 86_400_000;
        let customer = &request.profile.customer_id;
        let mut ledger = Ledger {
            touches: self
                .touches
                .get(customer)
                .map(|t| t.iter().filter(|t| t.at.0 >= since).cloned().collect())
                .unwrap_or_default(),
            budget_used: HashMap::new(),
        };
        for (offer, rules) in &policy.offers {
            if rules.budget.is_some() {
                let before = setup.budgets_used.get(offer).copied().unwrap_or(0);
                let spent = self.spent.get(offer).copied().unwrap_or(0);
                ledger.budget_used.insert(offer.clone(), before + spent);
            }
        }
        let result = policy::apply(
            policy,
            &policy::Input {
                now: request.now,
                tz_offset_minutes: request.tz_offset_minutes,
                customer_id: customer,
                attributes: &request.profile.attributes,
                offers: &arm.offers,
                proposals: &decision.proposals,
                ledger: &ledger,
            },
        );
        for s in &result.selected {
            *self.spent.entry(s.offer_id.clone()).or_default() += 1;
            self.touches.entry(customer.clone()).or_default().push(LedgerTouch {
                offer_id: s.offer_id.clone(),
                channel: s.channel.clone(),
                at: s.send_at,
                class: s.class,
            });
        }
        decision.holdout = Some(result.holdout);
        decision.selected = Some(result.selected);
        decision.suppressed = Some(result.suppressed);
    }
}

/// Runs `baseline` and `candidate` over every customer of `input` and
/// reports the difference. `progress` is called after each customer counted.
pub fn run(
    engine: &Engine,
    baseline: &Arm,
    candidate: &Arm,
    setup: &Setup,
    input: impl BufRead + Send,
    mut progress: impl FnMut(Progress),
) -> Result<Report, SimulateError> {
    let workers = setup.workers.max(1);
    let (lines_in, lines_out) = mpsc::sync_channel(workers * 8);
    let lines_out = Mutex::new(lines_out);
    let (done_in, done_out) = mpsc::sync_channel::<Done>(workers * 8);
    let stop = AtomicBool::new(false);
    let mut tally = Tally::new(setup.samples);
    let mut ledgers = [SimLedger::new(), SimLedger::new()];
    std::thread::scope(|scope| {
        let stop = &stop;
        let reader = std::thread::Builder::new()
            .name("rulehost-simulate-read".into())
            .spawn_scoped(scope, move || {
                read_lines(input, setup.max_customers, &[stop, &setup.cancel], &lines_in)
            })
            .map_err(|e| SimulateError::Read(format!("starting a thread: {e}")))?;
        for _ in 0..workers {
            let (lines_out, done_in) = (&lines_out, done_in.clone());
            let worker = move || {
                loop {
                    let next = lines_out.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok((index, line_no, end, line)) = next else { return };
                    let result = line.and_then(|line| setup.parse(line_no, &line)).map(|mut parsed| {
                        let b = decide(engine, setup, baseline, &mut parsed.request);
                        let c = decide(engine, setup, candidate, &mut parsed.request);
                        (parsed, b, c)
                    });
                    if done_in.send(Done { index, end, result }).is_err() {
                        return;
                    }
                }
            };
            let spawned = std::thread::Builder::new()
                .name("rulehost-simulate".into())
                .spawn_scoped(scope, worker);
            if let Err(e) = spawned {
                stop.store(true, Ordering::Relaxed);
                return Err(SimulateError::Read(format!("starting a thread: {e}")));
            }
        }
        drop(done_in);
        // Policy and counting in file order, whatever order the workers
        // finish in.
        let mut waiting: BTreeMap<u64, Done> = BTreeMap::new();
        let mut next = 0u64;
        let mut failure = None;
        for done in done_out.iter() {
            waiting.insert(done.index, done);
            while let Some(done) = waiting.remove(&next) {
                next += 1;
                match done.result {
                    Ok((parsed, mut b, mut c)) => {
                        let request = &parsed.request;
                        ledgers[0].apply(baseline, setup, request, &mut b);
                        ledgers[1].apply(candidate, setup, request, &mut c);
                        tally.add(&parsed.customer_id, &b, &c);
                        progress(Progress {
                            customers: tally.customers(),
                            bytes: done.end,
                        });
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            if failure.is_none() && setup.cancel.load(Ordering::Relaxed) {
                failure = Some(SimulateError::Cancelled);
            }
            if failure.is_some() {
                break;
            }
        }
        // Stop everyone: workers fail to hand in, the reader sees `stop`
        // once whatever it is blocked on is drained.
        stop.store(true, Ordering::Relaxed);
        drop(done_out);
        while !reader.is_finished() {
            if let Ok(lines) = lines_out.try_lock() {
                while lines.try_recv().is_ok() {}
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    })?;
    Ok(tally.report(
        baseline.summary.clone(),
        candidate.summary.clone(),
        [&baseline.policy, &candidate.policy],
        &setup.budgets_used,
    ))
}
