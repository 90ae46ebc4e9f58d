//! Test hook: stop the node at a named point, so a test can kill it exactly there
//! (`tests/node.rs` in verity-cli) or hold a compute slot (saturation tests).
//!
//! Points: `publish:blob-tmp-written` (temp file durable, not yet renamed),
//! `publish:blob-renamed` (blob in place, not yet referenced from redb),
//! `receipt:before-commit` (receipts written into an open redb transaction, not committed),
//! `infer:compute` (inside an inference, holding a compute slot), `chat:compute` (a chat
//! completion checked and about to generate, holding a compute slot),
//! `proof-job:before-commit` (a proof job written into an open redb transaction, not
//! committed), `proof:proving` (a job marked running, proving started, holding a compute
//! slot), `proof:blob-tmp-written` / `proof:blob-renamed` (the proof file durable in
//! `blobs/tmp`, or renamed into `blobs/proofs`, before the commit that marks the job done),
//! `net:dispute-step` (answering a network dispute step, from the executor's third move on).

use std::sync::{Arc, Condvar, Mutex};

/// A pause point and the gate that holds it. The `verity node` binary arms one from
/// `$VERITY_NODE_TEST_PAUSE_AT` and never releases it (the test kills the process).
#[derive(Clone, Debug)]
pub struct Pause {
    pub point: String,
    gate: Arc<Gate>,
}

#[derive(Debug, Default)]
struct Gate {
    /// (times reached, released)
    state: Mutex<(u64, bool)>,
    cv: Condvar,
}

impl Pause {
    pub fn new(point: impl Into<String>) -> Self {
        Pause { point: point.into(), gate: Arc::default() }
    }

    /// Blocks the calling thread while the gate is closed, if `point` is the armed point.
    pub(crate) fn at(this: &Option<Pause>, point: &str) {
        let Some(p) = this.as_ref().filter(|p| p.point == point) else { return };
        let mut s = p.gate.state.lock().unwrap_or_else(|e| e.into_inner());
        s.0 += 1;
        // Printed so that a test driving the binary knows the moment has come.
        println!("verity node: paused at {point}");
        p.gate.cv.notify_all();
        while !s.1 {
            s = p.gate.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Waits until the point has been reached `n` times in total.
    pub fn wait_reached(&self, n: u64) {
        let mut s = self.gate.state.lock().unwrap_or_else(|e| e.into_inner());
        while s.0 < n {
            s = self.gate.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Opens the gate for good.
    pub fn release(&self) {
        self.gate.state.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        self.gate.cv.notify_all();
    }
}
