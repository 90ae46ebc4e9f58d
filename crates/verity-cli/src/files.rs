//! Reading models and inputs, writing files atomically.

use std::io::Write;
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

/// Writes `bytes` to `path` through a temporary file in the same directory and a
/// rename, so a crash never leaves a half-written file under the final name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}
