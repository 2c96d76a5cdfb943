//! Fair sharing of the machine's cores between tenants.
//!
//! Plugin code runs only while its decision holds one of a fixed number of
//! *lanes* (by default one per core). A decision that finds every lane
//! taken waits in line; a freed lane goes to the waiting decision whose
//! tenant holds the fewest lanes (first come, first served among equals).
//! At every epoch tick a running decision checks the line, and if a tenant
//! holding fewer lanes than its own is waiting, it hands its lane over and
//! waits for one again; a decision that joins the line behind such a
//! tenant's lanes advances the epoch itself, so the check happens at once. So a tenant whose plugins loop until their deadline
//! can hold the cores only while nobody else wants them: another tenant's
//! decision waits for a lane only as long as it takes a running plugin to
//! reach its next epoch check, and while lanes are
//! scarce the tenants with work share them in one-tick turns. A decision
//! never hands its lane to another of its own tenant's: a tenant's own
//! decisions wait for each other to finish. One that shares its lane goes
//! to the back of the line.
//!
//! Waiting for a lane is not charged to a decision's deadline: the
//! deadline is the CPU time of the decision's thread (with the ticks it
//! holds a lane as a backstop, see `run.rs`).
//!
//! Lanes order plugin code among itself; the operating system still shares
//! the cores between it and everything else the server does (accepting
//! connections, parsing requests, writing answers). So a decision's thread
//! waits for its lane parked, before any of the decision's work, and holds
//! it through its input and its plugins: no more threads run plugin
//! stages than there are lanes. It passes the lane on when its plugins are
//! done, before the contact policy reads and writes the customer's ledger:
//! that can wait on a database, and a lane held through the wait would
//! leave its core idle. A decision that has used a tick's worth of CPU (1 ms) is a
//! long one: its thread is settled on its lane's core (lane *i* is the *i*-th
//! core the process may use, so two lane holders never time-share a core
//! while another sits idle) and moved to the batch scheduling class (Linux
//! `SCHED_BATCH`), so a tenant's looping plugins never delay another
//! tenant's request on its way to a lane: the server's other threads, in
//! the normal class, take a core from them when they wake, and a running
//! plugin also yields its core at every tick. The batch class keeps the
//! thread's weight, so other processes on a busy machine share the cores
//! with a long decision rather than starve it (the idle class, used until
//! issue 26, ranks below even nice 19: a decision of a few milliseconds
//! took 49× as long beside two busy normal-priority processes). The thread goes back to normal when its plugins
//! are done (the rest of the decision still holds the lane). Shorter decisions never change their thread, however long the
//! machine keeps them waiting. And while every lane runs a long decision, a
//! new decision of a tenant with none of them does not wait for one to
//! reach a tick: it starts at once *beside* the lanes (its thread in the normal class comes first on
//! any core), and only if it runs long itself does it then wait in line for
//! a lane. Long decisions stay bounded by the lanes; short ones are never
//! queued behind them.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::Thread;

use super::sched::{self, Class, allowed_cores, current_core};

/// The lanes of one engine.
pub(crate) struct Lanes {
    state: Mutex<State>,
    /// Makes every running plugin check the line now rather than at its
    /// next tick (advances the engine's epoch).
    nudge: Box<dyn Fn() + Send + Sync>,
    /// The core of each lane.
    cores: Vec<usize>,
    /// Every core the process may use.
    allowed: Vec<usize>,
    /// Ticks of the epoch ticker; the epoch itself also advances when a
    /// waiting decision nudges running ones, which is not time passing.
    ticks: AtomicU64,
}

struct State {
    /// How many lanes there are.
    count: usize,
    /// Lanes held by long decisions, in all and by tenant.
    long: usize,
    long_by: HashMap<Arc<str>, usize>,
    /// Free lanes, by index.
    free: Vec<usize>,
    /// Lanes held, by tenant (tenants holding none are absent).
    held: HashMap<Arc<str>, usize>,
    /// Decisions waiting for a lane, oldest first.
    waiting: VecDeque<Waiter>,
}

struct Waiter {
    tenant: Arc<str>,
    grant: Arc<Grant>,
    /// A long decision waiting for a lane (it may not run beside the lanes).
    long: bool,
}

/// The "index" of a decision running beside the lanes: one that started
/// while every lane was running a long decision (see [`Lanes::acquire`]).
const BESIDE: usize = usize::MAX - 1;

/// Set to the lane's index + 1, and its waiting thread woken, when a
/// waiter is given a lane (always with the state locked).
struct Grant {
    given: AtomicUsize,
    thread: Thread,
}

impl Grant {
    fn for_this_thread() -> Arc<Self> {
        Arc::new(Self {
            given: AtomicUsize::new(0),
            thread: std::thread::current(),
        })
    }

    /// Blocks the thread until a lane is given; returns its index.
    fn wait(&self) -> usize {
        loop {
            if let Some(lane) = self.given.load(Ordering::Acquire).checked_sub(1) {
                return lane;
            }
            std::thread::park();
        }
    }

    fn give(&self, lane: usize) {
        self.given.store(lane + 1, Ordering::Release);
        self.thread.unpark();
    }
}

/// One held lane; dropping it passes the lane on.
pub struct Lane {
    turn: Turn,
}

/// What sharing a lane needs: whose it is, which it is (that changes when
/// it is shared) and where it goes back. A store running on a lane its
/// caller holds gets a `Turn`, not the lane.
#[derive(Clone)]
pub(crate) struct Turn {
    lanes: Arc<Lanes>,
    tenant: Arc<str>,
    index: Arc<AtomicUsize>,
    /// Whether the decision is a long one.
    long: Arc<AtomicBool>,
}

impl State {
    fn held(&self, tenant: &str) -> usize {
        self.held.get(tenant).copied().unwrap_or(0)
    }

    fn take(&mut self, tenant: &Arc<str>) {
        *self.held.entry(tenant.clone()).or_default() += 1;
    }

    fn put_back(&mut self, tenant: &str) {
        if let Some(held) = self.held.get_mut(tenant) {
            *held -= 1;
            if *held == 0 {
                self.held.remove(tenant);
            }
        }
    }

    /// The position of the waiter whose tenant holds the fewest lanes, the
    /// oldest among equals, and how many its tenant holds.
    fn next(&self) -> Option<(usize, usize)> {
        self.waiting
            .iter()
            .enumerate()
            .map(|(i, w)| (self.held(&w.tenant), i))
            .min()
            .map(|(held, i)| (i, held))
    }

    /// Gives back `tenant`'s lane `lane`: to the next in line, if any.
    fn pass_on(&mut self, tenant: &str, lane: usize) {
        self.put_back(tenant);
        match self.next() {
            Some((i, _)) => self.hand_to(i, lane),
            None => self.free.push(lane),
        }
    }

    /// Takes a free lane for `tenant` if there is one and nobody waits:
    /// the one for which `prefer` holds if any, so a thread keeps to its
    /// core.
    fn try_take(&mut self, tenant: &Arc<str>, prefer: impl Fn(usize) -> bool) -> Option<usize> {
        if !self.waiting.is_empty() || self.free.is_empty() {
            return None;
        }
        let at = self
            .free
            .iter()
            .position(|&lane| prefer(lane))
            .unwrap_or(self.free.len() - 1);
        let lane = self.free.swap_remove(at);
        self.take(tenant);
        Some(lane)
    }

    /// Gives lane `lane` to the waiter at `i`.
    fn hand_to(&mut self, i: usize, lane: usize) {
        if let Some(waiter) = self.waiting.remove(i) {
            self.take(&waiter.tenant);
            waiter.grant.give(lane);
        }
    }

    /// Whether a lane holder would hand its lane to `tenant` now: another
    /// tenant holds more lanes than it does.
    fn would_share_with(&self, tenant: &str) -> bool {
        let mine = self.held(tenant);
        self.held.values().any(|&theirs| theirs > mine)
    }

    /// Queues `tenant` with a grant that wakes this thread.
    fn queue_this_thread(&mut self, tenant: &Arc<str>, long: bool) -> Arc<Grant> {
        let grant = Grant::for_this_thread();
        self.waiting.push_back(Waiter {
            tenant: tenant.clone(),
            grant: grant.clone(),
            long,
        });
        grant
    }

    /// Counts a lane of `tenant`'s as held by a long decision (`by` +1), or
    /// no more (`by` -1).
    fn count_long(&mut self, tenant: &Arc<str>, by: isize) {
        self.long = self.long.saturating_add_signed(by);
        let n = self.long_by.entry(tenant.clone()).or_default();
        *n = n.saturating_add_signed(by);
        if *n == 0 {
            self.long_by.remove(tenant);
        }
    }

    /// Whether a new decision of `tenant` runs beside the lanes: every lane
    /// runs a long decision, none of them `tenant`'s (a tenant's own long
    /// decisions bound its others).
    fn beside(&self, tenant: &str) -> bool {
        self.long == self.count && !self.long_by.contains_key(tenant)
    }

    /// Once every lane runs a long decision, the decisions in line that
    /// have not started, of tenants with no long decision, run beside the
    /// lanes.
    fn start_beside_if_all_long(&mut self) {
        if self.long < self.count {
            return;
        }
        let (fresh, rest): (VecDeque<Waiter>, VecDeque<Waiter>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|w| !w.long && !self.long_by.contains_key(&w.tenant));
        self.waiting = rest;
        for waiter in fresh {
            self.take(&waiter.tenant);
            waiter.grant.give(BESIDE);
        }
    }
}

impl Lanes {
    /// `count` lanes over the cores this process may use; `nudge` makes
    /// running plugins check the line at once.
    pub(crate) fn new(count: usize, nudge: Box<dyn Fn() + Send + Sync>) -> Arc<Self> {
        let count = count.max(1);
        let allowed = allowed_cores();
        let cores = (0..count)
            .map(|i| allowed.get(i % allowed.len().max(1)).copied().unwrap_or(i))
            .collect();
        Arc::new(Self {
            state: Mutex::new(State {
                count,
                long: 0,
                long_by: HashMap::new(),
                free: (0..count).rev().collect(),
                held: HashMap::new(),
                waiting: VecDeque::new(),
            }),
            cores,
            allowed,
            nudge,
            ticks: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lane(self: &Arc<Self>, tenant: Arc<str>, index: usize) -> Lane {
        Lane {
            turn: Turn {
                lanes: self.clone(),
                tenant,
                index: Arc::new(AtomicUsize::new(index)),
                long: Arc::new(AtomicBool::new(false)),
            },
        }
    }

    /// Takes a lane for `tenant`, the thread waiting in line, parked, if
    /// none is free. While every lane runs a long decision, a new decision
    /// does not wait: it runs beside the lanes (in the normal scheduling
    /// class, ahead of the long ones) until it has been running long enough
    /// to be a long one itself, and then waits in line for a lane.
    pub(crate) fn acquire(self: &Arc<Self>, tenant: Arc<str>) -> Lane {
        let here = current_core();
        let mut state = self.lock();
        let index = match state.try_take(&tenant, |lane| Some(self.cores[lane]) == here) {
            Some(index) => index,
            None if state.beside(&tenant) => {
                state.take(&tenant);
                BESIDE
            }
            None => {
                let grant = state.queue_this_thread(&tenant, false);
                let nudge = state.would_share_with(&tenant);
                drop(state);
                if nudge {
                    (self.nudge)();
                }
                grant.wait()
            }
        };
        self.lane(tenant, index)
    }

    /// Counts one tick of the epoch ticker.
    pub(crate) fn tick(&self) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
    }

    /// Ticks of the epoch ticker so far.
    pub(crate) fn ticks(&self) -> u64 {
        self.ticks.load(Ordering::Relaxed)
    }

    /// Lanes held right now, and decisions waiting for one.
    pub(crate) fn load(&self) -> (usize, usize) {
        let state = self.lock();
        (state.held.values().sum(), state.waiting.len())
    }
}

impl Lane {
    /// What a store running on this lane needs to share it.
    pub(crate) fn turn(&self) -> Turn {
        self.turn.clone()
    }
}

impl Turn {
    /// Ticks of the epoch ticker so far.
    pub(crate) fn ticks(&self) -> u64 {
        self.lanes.ticks()
    }

    /// Marks the decision a long one (it has run a tick's worth of CPU) and
    /// settles its thread on its lane's core (see [`settle`]). One running
    /// beside the lanes first waits in line for a lane. Returns whether it
    /// waited.
    pub(crate) fn settle(&self) -> bool {
        let mut waited = false;
        if !self.long.load(Ordering::Relaxed) {
            let mut state = self.lanes.lock();
            if self.index.load(Ordering::Relaxed) == BESIDE {
                state.put_back(&self.tenant);
                let grant = state.queue_this_thread(&self.tenant, true);
                drop(state);
                self.index.store(grant.wait(), Ordering::Relaxed);
                waited = true;
                state = self.lanes.lock();
            }
            state.count_long(&self.tenant, 1);
            self.long.store(true, Ordering::Relaxed);
            state.start_beside_if_all_long();
        }
        settle(self.lanes.cores[self.index.load(Ordering::Relaxed)]);
        waited
    }

    /// Undoes [`Turn::settle`]'s thread placement once the plugins are
    /// done: what the thread does after them on the lane (reporting,
    /// policy, the answer) must not wait behind the server's other threads.
    pub(crate) fn unsettle(&self) {
        unsettle(&self.lanes.allowed);
    }

    /// Hands the lane to a waiting decision of a tenant that holds fewer
    /// lanes than this one's, if there is one, and blocks the thread until
    /// a lane comes back (then runs on that lane's core). Returns whether
    /// it waited.
    pub(crate) fn share(&self) -> bool {
        let index = self.index.load(Ordering::Relaxed);
        if index == BESIDE {
            return false;
        }
        let mut state = self.lanes.lock();
        let Some((i, their_held)) = state.next() else {
            return false;
        };
        if their_held >= state.held(&self.tenant) {
            return false;
        }
        let long = self.long.load(Ordering::Relaxed);
        state.put_back(&self.tenant);
        if long {
            state.count_long(&self.tenant, -1);
        }
        state.hand_to(i, index);
        let grant = state.queue_this_thread(&self.tenant, long);
        drop(state);
        self.index.store(grant.wait(), Ordering::Relaxed);
        if long {
            let mut state = self.lanes.lock();
            state.count_long(&self.tenant, 1);
            state.start_beside_if_all_long();
            drop(state);
            settle(self.lanes.cores[self.index.load(Ordering::Relaxed)]);
        }
        true
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        let index = self.turn.index.load(Ordering::Relaxed);
        let mut state = self.turn.lanes.lock();
        if index == BESIDE {
            state.put_back(&self.turn.tenant);
        } else {
            if self.turn.long.load(Ordering::Relaxed) {
                state.count_long(&self.turn.tenant, -1);
            }
            state.pass_on(&self.turn.tenant, index);
        }
    }
}

/// Settles the calling thread, running a long decision, on `core`
/// (Linux; elsewhere a no-op): the first time, it moves to the batch
/// scheduling class (`SCHED_BATCH`: CPU-bound work at its full weight,
/// which a thread of the server waking up in the normal class preempts);
/// and it is pinned to that core, so lane holders never time-share a core
/// while another is idle. Decisions shorter than a tick never get here and
/// cost no system call.
fn settle(core: usize) {
    if PINNED.get() == Some(core) {
        return;
    }
    if PINNED.replace(Some(core)).is_none() {
        sched::set_class(Class::Batch);
    }
    sched::set_cores(&[core]);
}

/// Undoes [`settle`] when the thread's plugins are done: it may run
/// anywhere, in the normal class, again (no privilege needed).
fn unsettle(allowed: &[usize]) {
    if PINNED.replace(None).is_some() {
        sched::set_cores(allowed);
        sched::set_class(Class::Normal);
    }
}

thread_local! {
    /// The core this thread is settled on, if it is running a long decision.
    static PINNED: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    fn tenant(name: &str) -> Arc<str> {
        Arc::from(name)
    }

    #[test]
    fn a_freed_lane_goes_to_the_tenant_holding_fewest_then_first_come() {
        let lanes = Lanes::new(2, Box::new(|| {}));
        let a1 = lanes.acquire(tenant("a"));
        let a2 = lanes.acquire(tenant("a"));
        let (order_tx, order) = mpsc::channel();
        let mut waiters = Vec::new();
        // Two more of a's, then one of b's, queue up in that order.
        for name in ["a", "a", "b"] {
            let (shared, order_tx) = (lanes.clone(), order_tx.clone());
            waiters.push(std::thread::spawn(move || {
                let lane = shared.acquire(tenant(name));
                order_tx.send(name).expect("send");
                std::thread::sleep(Duration::from_millis(20));
                drop(lane);
            }));
            while lanes.lock().waiting.len() < waiters.len() {
                std::thread::yield_now();
            }
        }
        assert_eq!(lanes.load().0, 2);
        drop(a1);
        // b holds no lane, so it goes before the a's that came first.
        assert_eq!(order.recv().expect("one runs"), "b");
        drop(a2);
        assert_eq!(order.recv().expect("next"), "a");
        assert_eq!(order.recv().expect("last"), "a");
        for w in waiters {
            w.join().expect("waiter");
        }
        assert_eq!(lanes.load().0, 0);
        assert_eq!(lanes.lock().free.len(), 2);
    }

    #[test]
    fn a_tenant_holding_more_lanes_shares_with_one_holding_fewer_but_not_with_itself() {
        let lanes = Lanes::new(1, Box::new(|| {}));
        let a = lanes.acquire(tenant("a"));
        assert!(!a.turn().share(), "nobody waits: keep the lane");
        let queued_a = {
            let lanes = lanes.clone();
            std::thread::spawn(move || drop(lanes.acquire(tenant("a"))))
        };
        while lanes.lock().waiting.is_empty() {
            std::thread::yield_now();
        }
        assert!(!a.turn().share(), "only the same tenant waits: keep the lane");
        let (b_ran_tx, b_ran) = mpsc::channel();
        let b = {
            let lanes = lanes.clone();
            std::thread::spawn(move || {
                let lane = lanes.acquire(tenant("b"));
                b_ran_tx.send(()).expect("send");
                drop(lane);
            })
        };
        while lanes.lock().waiting.len() < 2 {
            std::thread::yield_now();
        }
        // a holds the only lane and b holds none: a hands it over and goes
        // to the back of the line, behind the other a.
        assert!(a.turn().share());
        b_ran.recv().expect("b ran while a waited");
        b.join().expect("b");
        queued_a.join().expect("the queued a ran before a got its lane back");
        assert!(lanes.lock().waiting.is_empty());
        assert_eq!(lanes.load().0, 1);
        drop(a);
        assert_eq!(lanes.load().0, 0);
    }

    #[test]
    fn while_every_lane_runs_a_long_decision_new_ones_run_beside_until_they_are_long() {
        let lanes = Lanes::new(1, Box::new(|| {}));
        let long = lanes.acquire(tenant("a"));
        assert!(!long.turn().settle(), "a lane holder becomes long without waiting");
        // Every lane is long: b starts at once, beside the lanes.
        let b = lanes.acquire(tenant("b"));
        assert_eq!(b.turn().index.load(Ordering::Relaxed), BESIDE);
        assert_eq!(lanes.load(), (2, 0));
        // When b turns long it waits in line for a lane, and gets a's.
        let (done_tx, done) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let waited = b.turn().settle();
            done_tx.send(()).expect("send");
            assert!(waited);
            assert_eq!(b.turn().index.load(Ordering::Relaxed), 0);
            drop(b);
        });
        while lanes.lock().waiting.is_empty() {
            std::thread::yield_now();
        }
        assert!(done.try_recv().is_err(), "b waits while a holds the only lane");
        drop(long);
        done.recv().expect("b got the lane");
        waiter.join().expect("b");
        assert_eq!(lanes.load(), (0, 0));
        let state = lanes.lock();
        assert_eq!((state.long, state.free.len()), (0, 1));
    }
}
