//! One execution with the engine, committing the trace as each op finishes (shared with
//! the node and the client through `verity-exec`).

use anyhow::Result;
use verity_engine::Engine;
use verity_model::{Model, Tensor};

pub use verity_exec::{list_root, Executed};

/// An engine for `model` with `threads` workers (default: all cores).
pub fn engine(model: &Model, threads: Option<usize>) -> Result<Engine> {
    Ok(verity_exec::engine(model, threads)?)
}

pub fn execute(engine: &Engine, model: &Model, inputs: &[Tensor]) -> Result<Executed> {
    Ok(verity_exec::execute(engine, model, inputs)?)
}
