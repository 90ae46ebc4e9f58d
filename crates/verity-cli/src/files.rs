//! Reading models and inputs, writing files atomically.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use verity_model::input::{input_names, parse_input_json, quantize_inputs};
use verity_model::{Model, Tensor};

use crate::exit;

pub fn read_model(path: &Path) -> Result<Model> {
    let bytes = std::fs::read(path)
        .map_err(|e| exit::io(anyhow::Error::new(e).context(format!("cannot read model {}", path.display()))))?;
    if !bytes.starts_with(verity_model::MAGIC) && (path.extension().is_some_and(|e| e == "onnx") || looks_like_onnx(&bytes)) {
        bail!(
            "{} is an ONNX model, not a canonical one: convert it first with \
             `verity import {} --calibration SAMPLES.json -o MODEL.vrt`",
            path.display(),
            path.display()
        );
    }
    Model::decode(&bytes).with_context(|| format!("cannot load model {}", path.display()))
}

/// An ONNX file is a protobuf whose first field is usually `ir_version` (field 1, varint).
fn looks_like_onnx(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0x08)
}

/// The text of an input argument: `-` is stdin, a value starting with `{` is inline JSON,
/// anything else a file.
pub fn input_text(arg: &Path) -> Result<String> {
    let s = arg.to_string_lossy();
    if s == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| exit::io(anyhow::Error::new(e).context("cannot read the input from stdin")))?;
        return Ok(text);
    }
    if s.trim_start().starts_with('{') {
        return Ok(s.into_owned());
    }
    std::fs::read_to_string(arg)
        .map_err(|e| exit::io(anyhow::Error::new(e).context(format!("cannot read input {}", arg.display()))))
}

/// How an input argument is named in messages.
pub fn input_label(arg: &Path) -> String {
    let s = arg.to_string_lossy();
    if s == "-" {
        "(stdin)".into()
    } else if s.trim_start().starts_with('{') {
        "(inline JSON)".into()
    } else {
        s.into_owned()
    }
}

/// Reads an input (file, `-` or inline JSON) and quantizes it for `model`, warning on
/// stderr when values lie outside the calibrated range and are clamped.
pub fn read_input(model: &Model, path: &Path) -> Result<Vec<Tensor>> {
    let text = input_text(path)?;
    let label = input_label(path);
    let lists = parse_input_json(&text, &input_names(model)).with_context(|| format!("bad input {label}"))?;
    let tensors = quantize_inputs(model, &lists).with_context(|| format!("bad input {label}"))?;
    warn_clamped(model, &lists);
    Ok(tensors)
}

/// Values that quantize outside their input's range are clamped to it: say so, since the
/// answer then is for a different input than given.
fn warn_clamped(model: &Model, lists: &[Vec<f64>]) {
    for (i, x) in lists.iter().enumerate() {
        let info = model.value(model.inputs[i]);
        let (lo, hi) = verity_model::arith::qrange(info.bits);
        let affine = model.input_affine.get(i);
        let n = x
            .iter()
            .enumerate()
            .filter(|&(j, &x)| {
                let x = affine.map_or(x, |a| x * a.mul.get(j).copied().unwrap_or(1.0) + a.add.get(j).copied().unwrap_or(0.0));
                let q = (x / info.scale as f64).round();
                q < lo as f64 || q > hi as f64
            })
            .count();
        if n > 0 {
            eprintln!(
                "warning: {n} of {} values of input '{}' lie outside its calibrated range [{:.4}, {:.4}] and were clamped to it",
                x.len(),
                info.name,
                lo as f64 * info.scale as f64,
                hi as f64 * info.scale as f64
            );
        }
    }
}

/// Writes `path` atomically (temporary file, fsync, rename). The directory must exist:
/// a mistyped path is an error, not a new directory tree.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        bail!("cannot write {}: directory {} does not exist", path.display(), dir.display());
    }
    verity_exec::write_atomic(path, bytes)
        .map_err(|e| exit::io(anyhow::Error::new(e).context(format!("cannot write {}", path.display()))))
}
