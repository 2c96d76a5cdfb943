//! Compiling plugins while the server runs.
//!
//! Compiling a component takes one core from milliseconds to seconds, and
//! Cranelift cannot be interrupted. So every compilation runs on a thread
//! of its own, and:
//!
//! - **An upload** (bytes nobody has accepted yet) compiles one at a time,
//!   at nice 10, under a limit on the CPU time of its thread
//!   ([`Budget::Cpu`], the `compile_timeout_ms` setting). Waiting for the
//!   turn, or for a machine busy with other work, is not counted. Past the
//!   limit the upload is refused (`compile_timeout`) at once; the thread,
//!   which cannot be stopped, drops to nice 19, gives up the turn and
//!   finishes in the background, its result thrown away. At most
//!   [`LINGERING`] such threads live at once: a further upload waits for
//!   one of them to end.
//! - **A stored version** (accepted at its upload: an activation, a
//!   rebuild, a start-up) is never refused for its compile time
//!   ([`Budget::Unlimited`]); while serving it also compiles one at a
//!   time at nice 10.
//! - **A cold start** compiles on every core at normal priority
//!   ([`Priority::Startup`]): nothing is served until it is done.
//!
//! Why nice rather than the idle scheduling class (what this did before):
//! an idle-class thread runs only when a core has nothing else to do, so
//! on a machine kept busy by other processes (a build, a batch job) a
//! compilation never ran, and a wall-clock limit refused every upload. At
//! nice 10 a thread has a tenth of a normal thread's weight: decisions
//! (nice 0) take a core from it as soon as they wake, and it still makes
//! steady progress whatever else runs.
//!
//! A compilation that takes longer than [`PROGRESS_EVERY`] says so in the
//! log every time that passes, with its CPU time so far.
//!
//! Compiled components are shared by sha256 through weak references: once
//! nothing runs a version its code is dropped from memory; the precompiled
//! cache on disk brings it back in milliseconds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::Error;
use crate::error::Defect;
use crate::sched::ThreadHandle;
use crate::{Compiled, Engine};

/// Abandoned compilations (past their limit) that may still be finishing
/// in the background at once.
pub const LINGERING: usize = 2;

/// How often a long compilation reports that it is still going.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Nice value of compilations while the server serves.
const BACKGROUND_NICE: i32 = 10;

/// Nice value of an abandoned compilation.
const ABANDONED_NICE: i32 = 19;

/// How much a compilation may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// At most this much CPU time of its thread (uploads).
    Cpu(Duration),
    /// As long as it takes (versions already accepted).
    Unlimited,
}

/// How a compilation shares the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// While serving: one at a time, at nice 10.
    Background,
    /// During a cold start: at normal priority, as many at once as the
    /// caller runs.
    Startup,
}

/// A compiled component, and what getting it took.
pub struct Loaded {
    /// The component, shared with anyone else running the same bytes.
    pub compiled: Arc<Compiled>,
    /// Wall time from asking to having it (waiting for a turn included).
    pub wall: Duration,
    /// CPU time of the compiling thread, where known.
    pub cpu: Option<Duration>,
}

/// Compiles plugins for the live layer (see the module's documentation).
pub struct Compiler {
    engine: Arc<Engine>,
    shared: Mutex<HashMap<String, Weak<Compiled>>>,
    /// One background compilation at a time.
    turn: Arc<Semaphore>,
    /// Compile threads alive: the one holding the turn and the lingering.
    threads: Arc<Semaphore>,
}

impl Compiler {
    /// A compiler over `engine`.
    pub fn new(engine: Arc<Engine>) -> Self {
        Self {
            engine,
            shared: Mutex::default(),
            turn: Arc::new(Semaphore::new(1)),
            threads: Arc::new(Semaphore::new(1 + LINGERING)),
        }
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, HashMap<String, Weak<Compiled>>> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The compiled component for `sha256`, if something still holds it.
    pub fn in_memory(&self, sha256: &str) -> Option<Arc<Compiled>> {
        self.shared().get(sha256).and_then(Weak::upgrade)
    }

    /// Forgets compiled versions nobody holds any more; how many are held.
    pub fn prune(&self) -> usize {
        let mut shared = self.shared();
        shared.retain(|_, weak| weak.strong_count() > 0);
        shared.len()
    }

    /// Compiles `bytes` (or loads them precompiled) on a thread of its own
    /// within `budget`; `what` names it in the log ("coffee-chain 0.1.0 of
    /// tenant coffee").
    pub async fn compile(
        &self,
        bytes: Arc<Vec<u8>>,
        what: &str,
        budget: Budget,
        priority: Priority,
    ) -> Result<Loaded, Error> {
        let asked = Instant::now();
        let closed = |e: tokio::sync::AcquireError| Error::Internal(format!("compile turn: {e}"));
        let (thread, turn) = match priority {
            Priority::Background => {
                let thread = self.threads.clone().acquire_owned().await.map_err(closed)?;
                let turn = self.turn.clone().acquire_owned().await.map_err(closed)?;
                (Some(thread), Some(turn))
            }
            Priority::Startup => (None, None),
        };
        let nice = match priority {
            Priority::Background => BACKGROUND_NICE,
            Priority::Startup => 0,
        };
        let mut running = spawn(self.engine.clone(), bytes, nice, thread).await?;
        let mut progress = tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
        let mut check = tokio::time::interval(Duration::from_millis(20));
        let result = loop {
            tokio::select! {
                done = &mut running.result => {
                    running.answered = true;
                    break done.map_err(|_| Error::Internal("the compile thread ended without an answer".into()))?;
                }
                _ = check.tick(), if matches!(budget, Budget::Cpu(_)) => {
                    let (Budget::Cpu(limit), Some(used)) = (budget, running.cpu_time()) else { continue };
                    if used > limit {
                        running.abandon();
                        drop(turn);
                        tracing::warn!(what, cpu_ms = used.as_millis() as u64, limit_ms = limit.as_millis() as u64,
                            "compilation refused at its CPU time limit; it finishes in the background at the lowest priority");
                        return Err(Error::invalid_plugin(
                            Defect::CompileTimeout,
                            format!("compiling took more than {} ms of CPU time", limit.as_millis()),
                        ));
                    }
                }
                _ = progress.tick() => {
                    tracing::info!(
                        what,
                        wall_s = asked.elapsed().as_secs(),
                        cpu_ms = running.cpu_time().map(|c| c.as_millis() as u64),
                        "still compiling"
                    );
                }
            }
        };
        let cpu = running.cpu_at_end.lock().ok().and_then(|c| *c);
        drop(turn);
        let compiled = self.share(result?);
        Ok(Loaded {
            compiled,
            wall: asked.elapsed(),
            cpu,
        })
    }

    /// Keeps `compiled` shared by its sha256; returns what someone else
    /// compiled meanwhile from the same bytes, if anything.
    fn share(&self, compiled: Compiled) -> Arc<Compiled> {
        let mut shared = self.shared();
        if let Some(existing) = shared.get(compiled.sha256()).and_then(Weak::upgrade) {
            return existing;
        }
        let compiled = Arc::new(compiled);
        shared.insert(compiled.sha256().to_owned(), Arc::downgrade(&compiled));
        compiled
    }
}

/// A compilation running on its own thread.
struct Running {
    result: oneshot::Receiver<Result<Compiled, Error>>,
    handle: ThreadHandle,
    /// The thread's CPU time when it finished (its clock ends with it).
    cpu_at_end: Arc<Mutex<Option<Duration>>>,
    /// Whether its answer arrived; if it is dropped before, it is
    /// abandoned (the caller gave up, or hung up).
    answered: bool,
}

impl Running {
    fn cpu_time(&self) -> Option<Duration> {
        self.handle.cpu_time()
    }

    /// Nobody waits for it any more: it may only use what the machine
    /// spares.
    fn abandon(&mut self) {
        if !self.answered {
            self.answered = true;
            self.handle.set_nice(ABANDONED_NICE);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Dropped with its answer unread: the caller went away (a client
        // that hung up cancels its upload's future).
        if !self.answered && self.result.try_recv().is_err() {
            self.handle.set_nice(ABANDONED_NICE);
        }
    }
}

/// Starts compiling on a new thread at `nice`; the thread holds `permit`
/// until it ends.
async fn spawn(
    engine: Arc<Engine>,
    bytes: Arc<Vec<u8>>,
    nice: i32,
    permit: Option<OwnedSemaphorePermit>,
) -> Result<Running, Error> {
    let (done, result) = oneshot::channel();
    let (started, handle) = oneshot::channel();
    let cpu_at_end = Arc::new(Mutex::new(None));
    let cpu_out = cpu_at_end.clone();
    std::thread::Builder::new()
        .name("rulehost-compile".into())
        .spawn(move || {
            let me = ThreadHandle::current();
            me.set_nice(nice);
            let _ = started.send(me);
            let compiled = engine.compile(&bytes);
            if let Ok(mut cpu) = cpu_out.lock() {
                *cpu = me.cpu_time();
            }
            let _ = done.send(compiled);
            drop(permit);
        })
        .map_err(|e| Error::Internal(format!("starting a compile thread: {e}")))?;
    let handle = handle
        .await
        .map_err(|_| Error::Internal("the compile thread ended before it started".into()))?;
    Ok(Running {
        result,
        handle,
        cpu_at_end,
        answered: false,
    })
}
