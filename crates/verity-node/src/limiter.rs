//! Bounded concurrency with backpressure for compute (imports, inferences, re-executions).
//!
//! At most `running` jobs compute at once and at most `queue` more wait for a slot; any
//! request beyond that is refused at once with 503 + `Retry-After` instead of piling up
//! (memory, latency) behind work the node cannot finish in time.
//!
//! The prover (`proofs.rs`) takes a running slot too, through [`Limiter::acquire_background`]:
//! it waits in the same first-come queue as requests, so a proof neither overtakes the
//! inferences waiting before it nor is overtaken forever, but it holds no admission slot —
//! its own queue is the durable job table — so it never causes or gets a 503.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct Limiter {
    admit: Arc<Semaphore>,
    run: Arc<Semaphore>,
    pub queued: Arc<AtomicUsize>,
    pub running: Arc<AtomicUsize>,
    pub rejected: AtomicU64,
}

/// Held while computing; dropping it frees the slot. `Send`, so it can move into the
/// blocking task and stay held even if the client goes away mid-request.
pub struct Permit {
    _admit: Option<OwnedSemaphorePermit>,
    _run: OwnedSemaphorePermit,
    running: Arc<AtomicUsize>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a waiting request and uncounts it however the wait ends (the request future may
/// be dropped while queued when its client disconnects).
struct Queued(Arc<AtomicUsize>);

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

pub struct Saturated;

impl Limiter {
    pub fn new(running: usize, queue: usize) -> Self {
        let running = running.max(1);
        Limiter {
            admit: Arc::new(Semaphore::new(running + queue)),
            run: Arc::new(Semaphore::new(running)),
            queued: Arc::default(),
            running: Arc::default(),
            rejected: AtomicU64::new(0),
        }
    }

    pub async fn acquire(&self) -> Result<Permit, Saturated> {
        let Ok(admit) = self.admit.clone().try_acquire_owned() else {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(Saturated);
        };
        self.queued.fetch_add(1, Ordering::Relaxed);
        let waiting = Queued(self.queued.clone());
        let run = self.run.clone().acquire_owned().await.map_err(|_| Saturated)?;
        drop(waiting);
        self.running.fetch_add(1, Ordering::Relaxed);
        Ok(Permit { _admit: Some(admit), _run: run, running: self.running.clone() })
    }

    /// A running slot for background work (a proof), waiting as long as it takes; no
    /// admission slot is used, so it never makes requests see 503.
    pub async fn acquire_background(&self) -> Permit {
        let run = self.run.clone().acquire_owned().await.expect("the run semaphore is never closed");
        self.running.fetch_add(1, Ordering::Relaxed);
        Permit { _admit: None, _run: run, running: self.running.clone() }
    }
}
