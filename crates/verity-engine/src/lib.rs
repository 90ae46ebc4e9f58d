//! A fast engine for canonical Verity models that returns exactly the bits of
//! [`verity_model::reference::run`] on every valid model and every thread count.
//!
//! [`Engine::new`] prepares a model once (weights packed as i16, shapes, strides and
//! rounding constants resolved, buffer sizes planned); [`Engine::run`] then executes it
//! with no per-element allocation. Everything is integer arithmetic and every output
//! element is computed independently, so splitting work across threads cannot change
//! a single bit.
//!
//! Convolutions, Linear and MatMul whose sums provably fit in i32 run on one SIMD
//! micro-kernel over pairs of i16 taps, on SSE2 (the x86-64 baseline) or on AVX2 when
//! the CPU has it (detected at run time); other targets use plain Rust loops. Without a
//! trace, a Clamp that only post-processes a Conv or Linear is folded into its
//! requantization.

mod exec;
mod kernels;
mod par;
mod plan;
#[cfg(any(test, feature = "testgen"))]
pub mod testgen;

use std::sync::Mutex;

use verity_model::{reference, Model, ModelError, Tensor};

use exec::{OnOp, Workspace};
use kernels::simd::Isa;
use par::Par;
use plan::Plan;

/// Instruction sets the kernels can be restricted to ([`Engine::with_simd`]); all give
/// the same bits.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simd {
    /// Plain Rust loops.
    Portable,
    /// The x86-64 baseline, SSE2.
    Baseline,
    /// The best the CPU has (the default).
    Best,
}

/// Every way an engine run can fail: the model or the inputs are wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Multiply-adds below which an op runs inline: handing work to the pool costs about
/// 5-10 us, and a 512x512 Linear (2^18) was measured slower split on two threads.
const MIN_PARALLEL_WORK: usize = 1 << 19;

/// A prepared model: packed weights and a fixed execution plan. Cheap to [`run`](Self::run)
/// repeatedly and from several threads at once.
pub struct Engine {
    plan: Plan,
    threads: usize,
    /// Dedicated pool when `with_threads(n > 1)`; `None` uses rayon's global pool.
    pool: Option<rayon::ThreadPool>,
    min_parallel_work: usize,
    isa: Isa,
    /// Buffers of finished runs, reused so a run allocates only its returned outputs.
    spare: Mutex<Vec<Workspace>>,
}

impl Engine {
    /// Prepares `model`: packs weights and plans buffers. The model is validated again
    /// (linear in its size, like the packing), so a malformed one is an error rather
    /// than a panic later.
    pub fn new(model: &Model) -> Result<Engine, EngineError> {
        model.validate()?;
        Ok(Engine {
            plan: Plan::new(model)?,
            threads: rayon::current_num_threads(),
            pool: None,
            min_parallel_work: MIN_PARALLEL_WORK,
            isa: Isa::detect(),
            spare: Mutex::new(Vec::new()),
        })
    }

    /// Runs on `n` threads: 1 (or 0) is fully inline, `n > 1` gets a dedicated pool.
    /// The default is rayon's global pool with its thread count.
    pub fn with_threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self.pool = None;
        if self.threads > 1 {
            // A pool that cannot start just means inline execution: same bits, slower.
            match rayon::ThreadPoolBuilder::new().num_threads(self.threads).build() {
                Ok(pool) => self.pool = Some(pool),
                Err(_) => self.threads = 1,
            }
        }
        self
    }

    /// Test hook: the op size from which work is split across threads (0 = always).
    #[doc(hidden)]
    pub fn with_min_parallel_work(mut self, work: usize) -> Self {
        self.min_parallel_work = work;
        self
    }

    /// Test hook: restricts the SIMD kernels to `simd` (never beyond what the CPU has).
    #[doc(hidden)]
    pub fn with_simd(mut self, simd: Simd) -> Self {
        let want = match simd {
            Simd::Portable => Isa::Portable,
            Simd::Baseline => Isa::Sse2,
            Simd::Best => Isa::Avx2,
        };
        self.isa = want.min(Isa::detect());
        self
    }

    /// Number of threads ops may be split across.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs the model; returns the outputs in `model.outputs` order.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, EngineError> {
        self.execute(inputs, None)
    }

    /// Like [`run`](Self::run), and calls `on_op(node_index, output)` for every node in
    /// execution order, right after the node's output is complete.
    pub fn run_with_trace(&self, inputs: &[Tensor], mut on_op: impl FnMut(usize, &Tensor)) -> Result<Vec<Tensor>, EngineError> {
        self.execute(inputs, Some(&mut on_op))
    }

    fn execute(&self, inputs: &[Tensor], trace: Option<OnOp>) -> Result<Vec<Tensor>, EngineError> {
        reference::check_inputs(&self.plan.signature, inputs)?;
        let mut ws = self.spare.lock().map(|mut s| s.pop()).unwrap_or(None).unwrap_or_else(|| Workspace::new(&self.plan));
        let par = Par { pool: self.pool.as_ref(), threads: self.threads, min_work: self.min_parallel_work, isa: self.isa };
        let outputs = ws.run(&self.plan, inputs, par, trace);
        if let Ok(mut s) = self.spare.lock() {
            s.push(ws);
        }
        Ok(outputs)
    }
}
