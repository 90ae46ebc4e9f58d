//! One execution with the engine, committing the trace as each op finishes.

use anyhow::Result;
use verity_commit::{Hash, TensorCommitment, TraceBuilder, TraceCommitment};
use verity_engine::Engine;
use verity_model::{Model, Tensor};

pub struct Executed {
    pub outputs: Vec<Tensor>,
    pub trace: TraceCommitment,
    pub input_hash: Hash,
    pub output_hash: Hash,
}

/// An engine for `model` with `threads` workers (default: all cores).
pub fn engine(model: &Model, threads: Option<usize>) -> Result<Engine> {
    let engine = Engine::new(model)?;
    Ok(match threads {
        Some(n) => engine.with_threads(n),
        None => engine,
    })
}

pub fn execute(engine: &Engine, model: &Model, inputs: &[Tensor]) -> Result<Executed> {
    let mut builder = TraceBuilder::new(model, inputs);
    let outputs = engine.run_with_trace(inputs, |_, t| builder.push(t))?;
    let trace = builder.finish();
    let input_hash = list_hash(&trace, &model.inputs);
    let output_hash = list_hash(&trace, &model.outputs);
    Ok(Executed { outputs, trace, input_hash, output_hash })
}

fn list_hash(trace: &TraceCommitment, ids: &[u32]) -> Hash {
    let roots: Vec<Hash> = ids.iter().map(|&i| trace.leaf(i as usize)).collect();
    verity_commit::hash::list(&roots)
}

/// Commitments to tensors of `model` values `ids` (for runs without a trace).
pub fn list_root(model: &Model, ids: &[u32], tensors: &[Tensor]) -> Hash {
    let commits: Vec<TensorCommitment> =
        ids.iter().zip(tensors).map(|(&id, t)| TensorCommitment::new(model.value(id).bits, &t.shape, &t.data)).collect();
    verity_commit::list_root(&commits)
}
