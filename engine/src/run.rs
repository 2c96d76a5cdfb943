//! One decision's plugin instances: a fresh store, a session per plugin, and
//! the translation of every way a call can fail into a typed [`Error`].

use std::sync::Arc;

use wasmtime::component::ResourceAny;
use wasmtime::{Store, Trap, UpdateDeadline};

use super::contract::{v0_1_0, v0_2_0, v0_3_0};
use super::lanes::{Lane, Turn};
use super::limits::Limits;
use super::sched;
use super::state::{LogFlood, LogLevel, LogLine, StoreState};
use super::{Engine, Plugin, PluginPre};
use crate::Error;
use rulehost_layout as layout;
use rulehost_model::TenantConfig;

/// The plugin instances of one decision. All of them live in one store, so
/// the decision has one memory limit, one deadline and one fuel budget, and
/// each plugin has its own linear memory.
pub struct Run<'p> {
    store: Store<StoreState>,
    plugins: &'p [Arc<Plugin>],
    sessions: Vec<Session>,
    limits: Limits,
}

/// A plugin's session, by the contract version it was built against.
enum Session {
    V0_1_0(v0_1_0::Bindings, ResourceAny),
    V0_2_0(v0_2_0::Bindings, ResourceAny),
    V0_3_0(v0_3_0::Bindings, ResourceAny),
}

impl Session {
    fn handle(&self) -> ResourceAny {
        match self {
            Session::V0_1_0(_, handle) | Session::V0_2_0(_, handle) | Session::V0_3_0(_, handle) => *handle,
        }
    }
}

/// A stage's answer as it crossed the sandbox: a frame of the layout from
/// a 0.2.0 or 0.3.0 plugin, the contract's records from a 0.1.0 one.
#[derive(Debug)]
pub enum Reply<V0_1> {
    /// An answer frame (`RHO2`), not yet checked.
    Frame(Vec<u8>),
    /// A 0.1.0 plugin's answer.
    V0_1_0(V0_1),
}

/// A `tag` stage's answer.
pub type TagReply = Reply<Vec<v0_1_0::types::Tag>>;
/// A `score` stage's answer.
pub type ScoreReply = Reply<v0_1_0::types::Scoring>;
/// A `target` stage's answer.
pub type TargetReply = Reply<Vec<v0_1_0::types::Proposal>>;

/// Calls a stage of a session whose contract speaks frames (0.2.0 and
/// later: the same calls, each version's own types) and takes its answer
/// as a [`Reply::Frame`].
macro_rules! framed {
    ($bindings:expr, $store:expr, $handle:expr, $call:ident $(, $findings:expr)?) => {
        $bindings
            .rulehost_plugin_rules()
            .session()
            .$call($store, $handle $(, $findings)?)
            .map(|answer| {
                answer.map(Reply::Frame).map_err(|e| PluginError {
                    code: e.code,
                    message: e.message,
                })
            })
    };
}

/// The input as 0.1.0 plugins take it, converted from the frame when the
/// first of them opens its session.
type Legacy = Option<(v0_1_0::types::Context, v0_1_0::types::Input)>;

/// What a finished decision used and logged.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// Fuel burnt by all plugins.
    pub fuel: u64,
    /// The linear memory the plugins' instances held at their peak.
    pub memory_bytes: u64,
    /// Every captured log line, in order.
    pub logs: Vec<LogLine>,
}

/// Where the deadline is CPU time, wall-clock ticks on a lane may run to
/// this many deadlines: a thread starved of CPU by the rest of the machine
/// still ends.
const WALL_BACKSTOP: u64 = 5;

impl Engine {
    /// Instantiates every plugin of a pipeline in a fresh store and opens a
    /// session on each with the decision's input frame (see
    /// [`input`](crate::input)).
    ///
    /// The plugins run on `lane` if the caller holds one for the whole
    /// decision (see [`Engine::lane`]); otherwise the run takes a lane for
    /// the pipeline's owner and keeps it until it ends.
    pub fn start<'p>(
        &self,
        lane: Option<&Lane>,
        plugins: &'p [Arc<Plugin>],
        limits: &Limits,
        config: Arc<TenantConfig>,
        input: &[u8],
    ) -> Result<Run<'p>, Error> {
        let header =
            layout::input::Header::of(input).map_err(|e| Error::Internal(format!("the host's input frame: {e}")))?;
        let memory = limits.memory_bytes.min(self.config.max_memory_bytes);
        let mut state = StoreState::new(memory, config, self.config.output, header.seed, header.now);
        let tick = self.config.epoch_tick.as_nanos().max(1);
        // One extra tick: the current tick is already partly over, and the
        // deadline must never cut a plugin short.
        let deadline_ticks = u64::try_from(limits.deadline().as_nanos().div_ceil(tick) + 1).unwrap_or(u64::MAX);
        let turn = match lane {
            Some(lane) => lane.turn(),
            None => {
                let owner = plugins.first().map_or_else(|| Arc::from(""), |p| p.owner.clone());
                let lane = self.lanes.acquire(owner);
                let turn = lane.turn();
                state.own_lane = Some(lane);
                turn
            }
        };
        state.started_tick = turn.ticks();
        state.charged_to = state.started_tick;
        state.turn = Some(turn);
        // The deadline is CPU time where the thread's CPU clock is known,
        // with a wall-clock backstop; elsewhere it is wall-clock time.
        state.cpu_budget = limits.deadline();
        state.cpu_started = sched::thread_cpu_time();
        state.ticks_left = match state.cpu_started {
            Some(_) => deadline_ticks.saturating_mul(WALL_BACKSTOP),
            None => deadline_ticks,
        };
        let mut store = Store::new(&self.inner, state);
        store.limiter(|s| &mut s.limiter);
        store
            .set_fuel(limits.fuel)
            .map_err(|e| Error::Internal(format!("setting fuel: {e}")))?;
        // Every tick: stop at the deadline; share the lane if a tenant with
        // fewer lanes waits (the wait is not charged), else yield the core
        // to any other server thread that wants it.
        let tick = self.config.epoch_tick;
        store.epoch_deadline_callback(move |mut ctx| {
            let state = ctx.data_mut();
            let cpu_used = match (state.cpu_started, sched::thread_cpu_time()) {
                (Some(started), Some(now)) => Some(now.saturating_sub(started)),
                _ => None,
            };
            if cpu_used.is_some_and(|used| used > state.cpu_budget) {
                return Err(Trap::Interrupt.into());
            }
            let now = state.turn.as_ref().map_or(0, Turn::ticks);
            let ran = now.saturating_sub(state.charged_to);
            state.ticks_left = state.ticks_left.saturating_sub(ran);
            if state.ticks_left == 0 {
                return Err(Trap::Interrupt.into());
            }
            // A decision that has run a tick's worth of CPU is a long one.
            // (Not a tick of wall time: a short decision the machine kept
            // waiting is still a short one.)
            let long = match cpu_used {
                Some(used) => used >= tick,
                None => now > state.started_tick,
            };
            let waited = long && state.turn.as_ref().is_some_and(Turn::settle);
            if waited || state.turn.as_ref().is_some_and(Turn::share) {
                // The wait is not charged.
                state.charged_to = state.turn.as_ref().map_or(0, Turn::ticks);
            } else {
                state.charged_to = now;
                // Let any thread of the server that is waiting for this core
                // have it now, rather than at the kernel's next tick.
                std::thread::yield_now();
            }
            Ok(UpdateDeadline::Continue(1))
        });
        store.set_epoch_deadline(1);
        store.set_hostcall_fuel(self.config.output.call_bytes);

        let mut run = Run {
            store,
            plugins,
            sessions: Vec::with_capacity(plugins.len()),
            limits: *limits,
        };
        let mut legacy: Legacy = None;
        for (i, plugin) in plugins.iter().enumerate() {
            run.store.data_mut().current = plugin.name.clone();
            let session = match &plugin.compiled().pre {
                PluginPre::V0_1_0(pre) => {
                    let (ctx, input) = match &legacy {
                        Some(converted) => converted,
                        None => legacy.insert(v0_1_0::input(
                            &layout::input::Input::read(input)
                                .map_err(|e| Error::Internal(format!("the host's input frame: {e}")))?,
                        )),
                    };
                    let bindings = pre.instantiate(&mut run.store).map_err(|e| run.classify(i, e))?;
                    let handle = bindings
                        .rulehost_plugin_rules()
                        .session()
                        .call_constructor(&mut run.store, *ctx, input)
                        .map_err(|e| run.classify(i, e))?;
                    Session::V0_1_0(bindings, handle)
                }
                PluginPre::V0_2_0(pre) => {
                    let bindings = pre.instantiate(&mut run.store).map_err(|e| run.classify(i, e))?;
                    let handle = bindings
                        .rulehost_plugin_rules()
                        .session()
                        .call_constructor(&mut run.store, input)
                        .map_err(|e| run.classify(i, e))?;
                    Session::V0_2_0(bindings, handle)
                }
                PluginPre::V0_3_0(pre) => {
                    let bindings = pre.instantiate(&mut run.store).map_err(|e| run.classify(i, e))?;
                    let handle = bindings
                        .rulehost_plugin_rules()
                        .session()
                        .call_constructor(&mut run.store, input)
                        .map_err(|e| run.classify(i, e))?;
                    Session::V0_3_0(bindings, handle)
                }
            };
            run.sessions.push(session);
        }
        Ok(run)
    }
}

impl Run<'_> {
    fn enter(&mut self, i: usize) {
        self.store.data_mut().current = self.plugins[i].name.clone();
    }

    /// Runs plugin `i`'s tag stage.
    pub fn tag(&mut self, i: usize) -> Result<TagReply, Error> {
        self.enter(i);
        let store = &mut self.store;
        let answer = match &self.sessions[i] {
            Session::V0_1_0(b, handle) => {
                let answer = b.rulehost_plugin_rules().session().call_tag(store, *handle);
                legacy(answer, Reply::V0_1_0)
            }
            Session::V0_2_0(b, handle) => framed!(b, store, *handle, call_tag),
            Session::V0_3_0(b, handle) => framed!(b, store, *handle, call_tag),
        };
        self.answer(i, answer)
    }

    /// Runs plugin `i`'s score stage with a findings frame.
    pub fn score(&mut self, i: usize, findings: &[u8]) -> Result<ScoreReply, Error> {
        self.enter(i);
        let store = &mut self.store;
        let answer = match &self.sessions[i] {
            Session::V0_1_0(b, handle) => {
                let findings = legacy_findings(findings)?;
                let answer = b
                    .rulehost_plugin_rules()
                    .session()
                    .call_score(store, *handle, &findings);
                legacy(answer, Reply::V0_1_0)
            }
            Session::V0_2_0(b, handle) => framed!(b, store, *handle, call_score, findings),
            Session::V0_3_0(b, handle) => framed!(b, store, *handle, call_score, findings),
        };
        self.answer(i, answer)
    }

    /// Runs plugin `i`'s target stage with a findings frame.
    pub fn target(&mut self, i: usize, findings: &[u8]) -> Result<TargetReply, Error> {
        self.enter(i);
        let store = &mut self.store;
        let answer = match &self.sessions[i] {
            Session::V0_1_0(b, handle) => {
                let findings = legacy_findings(findings)?;
                let answer = b
                    .rulehost_plugin_rules()
                    .session()
                    .call_target(store, *handle, &findings);
                legacy(answer, Reply::V0_1_0)
            }
            Session::V0_2_0(b, handle) => framed!(b, store, *handle, call_target, findings),
            Session::V0_3_0(b, handle) => framed!(b, store, *handle, call_target, findings),
        };
        self.answer(i, answer)
    }

    /// Ends the decision: drops every plugin's session, then reports the
    /// fuel used and the logs, with any WASI output.
    ///
    /// A session is dropped in the guest (its destructor runs) inside the
    /// decision's deadline, fuel and memory: a plugin that traps, loops or
    /// runs out there fails the decision with the same code as in a stage
    /// (a trap says it happened as its session was dropped). Its answers
    /// were checked, but a plugin that crashes after answering is broken,
    /// and a decision is only as good as the plugin that made it; the same
    /// input always fails the same way, so a fixture shows it before an
    /// upload does.
    pub fn finish(mut self) -> Result<RunReport, Error> {
        for i in 0..self.sessions.len() {
            self.enter(i);
            let handle = self.sessions[i].handle();
            handle
                .resource_drop(&mut self.store)
                .map_err(|e| match self.classify(i, e) {
                    Error::PluginTrap { plugin, message } => Error::PluginTrap {
                        plugin,
                        message: format!("{message} (as its session was dropped, after its stages answered)"),
                    },
                    other => other,
                })?;
        }
        let remaining = self.store.get_fuel().unwrap_or(0);
        let mut state = self.store.into_data();
        if let Some(wasi) = state.wasi.take() {
            let users = state.wasi_users.join("+");
            for (capture, level, stream) in [
                (&wasi.stdout, LogLevel::Info, "stdout"),
                (&wasi.stderr, LogLevel::Warn, "stderr"),
            ] {
                if let Some(text) = capture.text() {
                    state.logs.push(LogLine {
                        plugin: users.clone(),
                        level,
                        message: format!("{stream}: {text}"),
                    });
                }
            }
        }
        Ok(RunReport {
            fuel: self.limits.fuel.saturating_sub(remaining),
            memory_bytes: state.limiter.used() as u64,
            logs: std::mem::take(&mut state.logs),
        })
    }

    fn answer<T>(&mut self, i: usize, answer: wasmtime::Result<Result<T, PluginError>>) -> Result<T, Error> {
        let plugin = self.plugins[i].name();
        match answer {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                let limits = self.store.data().output;
                if e.code.is_empty() || e.code.len() > limits.name_bytes || e.message.len() > limits.reason_bytes {
                    return Err(Error::invalid_output(
                        plugin,
                        format!(
                            "its error has an empty or oversized code or message (limits {} and {} bytes)",
                            limits.name_bytes, limits.reason_bytes
                        ),
                    ));
                }
                Err(Error::PluginError {
                    plugin: plugin.to_owned(),
                    code: e.code,
                    message: e.message,
                })
            }
            Err(e) => Err(self.classify(i, e)),
        }
    }

    /// Turns a failed call into the error a client sees.
    fn classify(&self, i: usize, err: wasmtime::Error) -> Error {
        let plugin = self.plugins[i].name().to_owned();
        let state = self.store.data();
        if err.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
            return Error::HostBusy(format!("{err}"));
        }
        if let Some(flood) = err.downcast_ref::<LogFlood>() {
            return Error::invalid_output(&plugin, format!("log flood: {flood}"));
        }
        let refused = state.limiter.refused.map(|wanted| Error::PluginOutOfMemory {
            plugin: plugin.clone(),
            wanted: wanted as u64,
            limit: state.limiter.limit() as u64,
        });
        if let Some(trap) = err.downcast_ref::<Trap>() {
            match trap {
                Trap::OutOfFuel => {
                    return Error::PluginOutOfFuel {
                        plugin,
                        fuel: self.limits.fuel,
                    };
                }
                Trap::Interrupt => {
                    return Error::PluginTimeout {
                        plugin,
                        deadline_ms: self.limits.deadline_ms,
                    };
                }
                _ => {}
            }
            // A refused allocation usually ends in an abort: report the cause.
            if let Some(oom) = refused {
                return oom;
            }
            let message = match trap {
                Trap::StackOverflow => "call stack exhausted (unbounded recursion?)".to_owned(),
                other => match state.last_words() {
                    Some(words) => format!("{other}; the plugin said: {words}"),
                    None => other.to_string(),
                },
            };
            return Error::PluginTrap { plugin, message };
        }
        if let Some(oom) = refused {
            return oom;
        }
        let text = format!("{err:#}");
        // wasmtime's hostcall-fuel error type is private; its message is
        // pinned by a test (a million tags).
        if text.contains("fuel allocated for hostcalls has been exhausted") {
            return Error::invalid_output(
                &plugin,
                format!(
                    "returned or logged more than {} bytes in one call",
                    state.output.call_bytes
                ),
            );
        }
        Error::invalid_output(&plugin, format!("its answer breaks the contract's encoding: {text}"))
    }
}

/// A failure a plugin reported, whatever its contract version.
struct PluginError {
    code: String,
    message: String,
}

/// A 0.1.0 stage's answer as a [`Reply`].
fn legacy<T, R>(
    answer: wasmtime::Result<Result<T, v0_1_0::types::PluginError>>,
    reply: impl FnOnce(T) -> R,
) -> wasmtime::Result<Result<R, PluginError>> {
    answer.map(|a| {
        a.map(reply).map_err(|e| PluginError {
            code: e.code,
            message: e.message,
        })
    })
}

/// A findings frame (written by the pipeline) as 0.1.0's findings.
fn legacy_findings(frame: &[u8]) -> Result<v0_1_0::types::Findings, Error> {
    layout::findings::Findings::read(frame)
        .map(|f| v0_1_0::findings(&f))
        .map_err(|e| Error::Internal(format!("the host's findings frame: {e}")))
}
