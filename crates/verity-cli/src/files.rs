//! Reading models and inputs, writing files atomically.

use std::path::Path;

use anyhow::{Context, Result};
use verity_model::input::{input_names, parse_input_json, quantize_inputs};
use verity_model::{Model, Tensor};

pub fn read_model(path: &Path) -> Result<Model> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read model {}", path.display()))?;
    Model::decode(&bytes).with_context(|| format!("cannot load model {}", path.display()))
}

/// Reads an input file and quantizes it for `model`.
pub fn read_input(model: &Model, path: &Path) -> Result<Vec<Tensor>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read input {}", path.display()))?;
    let lists = parse_input_json(&text, &input_names(model)).with_context(|| format!("bad input file {}", path.display()))?;
    quantize_inputs(model, &lists).with_context(|| format!("bad input file {}", path.display()))
}

/// Writes `path` atomically (temporary file, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    verity_exec::write_atomic(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
