//! The scheduling system calls the engine makes on its own threads: CPU
//! clocks, scheduling class and priority, and core affinity (Linux; on
//! other systems each is a no-op and the clocks are unknown).
//!
//! A failed call leaves a thread where it was, which is only slower, so
//! none of these report errors.

use std::time::Duration;

/// The calling thread's CPU time, where the platform reports it (what a
/// decision's deadline is measured in).
pub fn thread_cpu_time() -> Option<Duration> {
    #[cfg(target_os = "linux")]
    {
        read_clock(libc::CLOCK_THREAD_CPUTIME_ID)
    }
    #[cfg(not(target_os = "linux"))]
    None
}

#[cfg(target_os = "linux")]
fn read_clock(clock: libc::clockid_t) -> Option<Duration> {
    #[allow(unsafe_code, reason = "a plain system call filling a local struct")]
    // SAFETY: the timespec is owned by this frame and outlives the call; an
    // unknown clock (a thread that has ended) makes the call fail, not
    // misbehave.
    unsafe {
        let mut now: libc::timespec = std::mem::zeroed();
        if libc::clock_gettime(clock, &mut now) == 0 {
            return Some(Duration::new(now.tv_sec as u64, now.tv_nsec as u32));
        }
    }
    None
}

/// Another thread, as the scheduler knows it: its id and CPU clock, so one
/// thread can watch and re-prioritise another (a compilation, say).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ThreadHandle {
    #[cfg(target_os = "linux")]
    tid: libc::pid_t,
    #[cfg(target_os = "linux")]
    clock: Option<libc::clockid_t>,
}

impl ThreadHandle {
    /// The calling thread.
    pub(crate) fn current() -> Self {
        #[cfg(target_os = "linux")]
        #[allow(unsafe_code, reason = "plain calls about the calling thread")]
        // SAFETY: gettid takes nothing; pthread_getcpuclockid writes one
        // clockid_t owned by this frame, for the calling thread, which is
        // alive.
        unsafe {
            let mut clock: libc::clockid_t = 0;
            let clock = (libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) == 0).then_some(clock);
            Self {
                tid: libc::gettid(),
                clock,
            }
        }
        #[cfg(not(target_os = "linux"))]
        Self {}
    }

    /// The CPU time the thread has used, while it runs (`None` once it has
    /// ended, or where unknown).
    pub(crate) fn cpu_time(&self) -> Option<Duration> {
        #[cfg(target_os = "linux")]
        {
            read_clock(self.clock?)
        }
        #[cfg(not(target_os = "linux"))]
        None
    }

    /// Sets the thread's nice value (0 normal, 19 the least weight): it
    /// stays in the normal scheduling class, so it always makes progress,
    /// at that share of a busy core. Raising it needs no privilege.
    pub(crate) fn set_nice(&self, nice: i32) {
        #[cfg(target_os = "linux")]
        #[allow(unsafe_code, reason = "a plain system call about one thread")]
        // SAFETY: no memory is passed; a thread that has ended makes the
        // call fail with ESRCH, which is harmless.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, self.tid as libc::id_t, nice);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = nice;
    }
}

/// The cores this process may run on.
pub(crate) fn allowed_cores() -> Vec<usize> {
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code, reason = "a plain system call filling a local set")]
    // SAFETY: the set is a plain bit array owned by this frame and its size
    // is passed along; pid 0 is the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            return (0..libc::CPU_SETSIZE as usize)
                .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
                .collect();
        }
    }
    let n = std::thread::available_parallelism().map_or(1, usize::from);
    (0..n).collect()
}

/// A scheduling class.
pub(crate) enum Class {
    /// The normal class (`SCHED_OTHER`).
    Normal,
    /// CPU-bound work at the same weight (`SCHED_BATCH`): it gets its fair
    /// share of a busy core beside other processes, but a thread of the
    /// normal class that wakes up takes the core from it. Moving between it
    /// and the normal class needs no privilege (sched(7), since Linux
    /// 2.6.39), unlike raising a lowered nice value back.
    Batch,
}

/// Moves the calling thread to a scheduling class.
pub(crate) fn set_class(class: Class) {
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code, reason = "a plain system call on the calling thread")]
    // SAFETY: the parameter is owned by this frame and outlives the call;
    // pid 0 is the calling thread.
    unsafe {
        let policy = match class {
            Class::Normal => libc::SCHED_OTHER,
            Class::Batch => libc::SCHED_BATCH,
        };
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, policy, &param);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = class;
}

/// The core the calling thread is running on, if known.
pub(crate) fn current_core() -> Option<usize> {
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code, reason = "a plain call without arguments")]
    // SAFETY: sched_getcpu takes nothing and returns -1 on failure.
    let core = unsafe { libc::sched_getcpu() };
    #[cfg(not(target_os = "linux"))]
    let core = -1;
    usize::try_from(core).ok()
}

/// Restricts the calling thread to `cores`.
pub(crate) fn set_cores(cores: &[usize]) {
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code, reason = "a plain system call on the calling thread")]
    // SAFETY: the set is owned by this frame and outlives the call; pid 0 is
    // the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &core in cores {
            libc::CPU_SET(core, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cores;
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn one_thread_reads_the_cpu_time_of_another_until_it_ends() {
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::spawn(move || {
            handle_tx.send(ThreadHandle::current()).expect("send");
            let started = std::time::Instant::now();
            // Burn about 50 ms of CPU, then wait to be told to end.
            while started.elapsed() < Duration::from_millis(50) {
                std::hint::black_box(started.elapsed());
            }
            let _ = stop_rx.recv();
        });
        let handle = handle_rx.recv().expect("handle");
        let mut used = Duration::ZERO;
        while used < Duration::from_millis(20) {
            used = handle.cpu_time().expect("a running thread's clock reads");
            std::thread::yield_now();
        }
        handle.set_nice(5);
        stop_tx.send(()).expect("stop");
        worker.join().expect("worker");
        // `join` returns once the thread has cleared its id, a step of the
        // kernel's exit that comes before its clock is released: the clock
        // goes away soon after, not at once.
        let ended = std::time::Instant::now();
        while handle.cpu_time().is_some() && ended.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(handle.cpu_time(), None, "an ended thread has no clock");
    }
}
