//! A fixed team of worker threads for one decoding session, woken by spinning. A token
//! runs about 120 matrix products of 50 to 500 µs each; waking a sleeping thread pool
//! for each (as rayon does) costs tens of µs of futex latency every time, more than the
//! second thread saves. Workers here spin on an epoch counter after each job: without
//! yielding for 200 µs (unless the process's teams have more threads than the machine has
//! cores, when spinning would only delay the threads being waited for), then yielding, and
//! after 2 ms they sleep on a condition variable.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a waiting thread spins without yielding (jobs of a token come microseconds
/// apart, and a yield costs about as much), and how long a worker waits for the next job
/// before it sleeps.
const HOT: Duration = Duration::from_micros(200);
const SPIN: Duration = Duration::from_millis(2);

type Job = dyn Fn(usize) + Sync;

/// Threads of all live teams (callers included): when they outnumber the cores, spinning
/// only steals time from the threads being waited for, so waits yield from the start.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

fn hot_spin_allowed() -> bool {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    ACTIVE.load(Ordering::Relaxed) <= cores
}

struct Shared {
    /// Bumped once per job; a worker runs the job when it sees a new value.
    epoch: AtomicU64,
    /// Workers still running the current job.
    pending: AtomicUsize,
    /// The current job, lifetime erased (see `Team::run`).
    job: Mutex<Option<&'static Job>>,
    panicked: AtomicBool,
    stop: AtomicBool,
    /// Workers about to sleep or asleep: `run` takes the lock and notifies only then.
    sleepers: AtomicUsize,
    sleep: Mutex<()>,
    wake: Condvar,
}

pub struct Team {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// One job at a time, whoever calls.
    running: Mutex<()>,
}

impl Team {
    /// A team of `threads` including the caller: `threads - 1` workers.
    pub fn new(threads: usize) -> Team {
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            pending: AtomicUsize::new(0),
            job: Mutex::new(None),
            panicked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
        });
        if threads > 1 {
            ACTIVE.fetch_add(threads, Ordering::Relaxed);
        }
        let workers = (1..threads.max(1))
            .map(|i| {
                let s = shared.clone();
                std::thread::Builder::new()
                    .name(format!("verity-llm-{i}"))
                    .spawn(move || worker(&s, i))
                    .expect("spawn a decoding thread")
            })
            .collect();
        Team { shared, workers, running: Mutex::new(()) }
    }

    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `f(j)` for every `j < threads()`: `f(0)` on the caller, the others on the
    /// workers, and returns when all have finished.
    pub fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        if self.workers.is_empty() {
            return f(0);
        }
        // A job that panicked poisoned this lock on its way out; the team itself is sound.
        let _one = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let s = &*self.shared;
        // SAFETY: the erased reference is only called by workers between the epoch bump
        // below and their decrement of `pending`, and this function does not return (nor
        // unwind: `f(0)` is caught) before `pending` is back to 0, so `f` outlives every use.
        let job: &'static Job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync + '_), &'static Job>(f) };
        *s.job.lock().expect("team lock") = Some(job);
        s.pending.store(self.workers.len(), Ordering::SeqCst);
        s.epoch.fetch_add(1, Ordering::SeqCst);
        // SeqCst on both sides: a worker that counted itself a sleeper after this load
        // sees the new epoch before it waits (see `worker`).
        if s.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = s.sleep.lock().expect("team lock");
            s.wake.notify_all();
        }
        let mine = catch_unwind(AssertUnwindSafe(|| f(0)));
        let start = Instant::now();
        let mut spins = 0u32;
        while s.pending.load(Ordering::Acquire) != 0 {
            spins += 1;
            // An oversubscribed machine may have descheduled a worker: yield once hot
            // spinning has gone on too long.
            if spins.is_multiple_of(1024) && (start.elapsed() > HOT || !hot_spin_allowed()) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        *s.job.lock().expect("team lock") = None;
        if let Err(e) = mine {
            std::panic::resume_unwind(e);
        }
        assert!(!s.panicked.swap(false, Ordering::SeqCst), "a decoding thread panicked");
    }
}

fn worker(s: &Shared, index: usize) {
    let mut seen = 0u64;
    loop {
        let start = Instant::now();
        let mut spins = 0u32;
        let epoch = loop {
            let e = s.epoch.load(Ordering::Acquire);
            if e != seen || s.stop.load(Ordering::Acquire) {
                break e;
            }
            spins += 1;
            if !spins.is_multiple_of(1024) {
                std::hint::spin_loop();
                continue;
            }
            let waited = start.elapsed();
            if waited < HOT && hot_spin_allowed() {
                continue;
            }
            if waited < SPIN {
                std::thread::yield_now();
                continue;
            }
            let g = s.sleep.lock().expect("team lock");
            s.sleepers.fetch_add(1, Ordering::SeqCst);
            // Either `run` bumped the epoch before this check, or it sees this sleeper and
            // notifies under the lock, which is held until `wait` releases it: no wake-up
            // is lost.
            if s.epoch.load(Ordering::SeqCst) == seen && !s.stop.load(Ordering::SeqCst) {
                drop(s.wake.wait(g).expect("team lock"));
            } else {
                drop(g);
            }
            s.sleepers.fetch_sub(1, Ordering::SeqCst);
        };
        if s.stop.load(Ordering::Acquire) {
            return;
        }
        seen = epoch;
        let job = (*s.job.lock().expect("team lock")).expect("a job is set while pending");
        if catch_unwind(AssertUnwindSafe(|| job(index))).is_err() {
            s.panicked.store(true, Ordering::SeqCst);
        }
        s.pending.fetch_sub(1, Ordering::Release);
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        if !self.workers.is_empty() {
            ACTIVE.fetch_sub(self.workers.len() + 1, Ordering::Relaxed);
        }
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let _g = self.shared.sleep.lock().expect("team lock");
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_share_runs_once_per_job_with_and_without_sleeping() {
        for threads in [1, 2, 4] {
            let team = Team::new(threads);
            let hits: Vec<AtomicUsize> = (0..threads).map(|_| AtomicUsize::new(0)).collect();
            for round in 0..200 {
                if round == 100 {
                    // Long enough for the workers to go to sleep.
                    std::thread::sleep(SPIN * 3);
                }
                team.run(&|j| {
                    hits[j].fetch_add(1, Ordering::Relaxed);
                });
            }
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 200), "{threads} threads");
        }
    }

    #[test]
    fn a_panicking_share_reaches_the_caller_and_the_team_goes_on() {
        let team = Team::new(2);
        let r = catch_unwind(AssertUnwindSafe(|| team.run(&|j| assert!(j == 0, "share {j}"))));
        assert!(r.is_err());
        let n = AtomicUsize::new(0);
        team.run(&|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 2);
    }
}
