//! ONNX → canonical integer model.
//!
//! 1. `translate`: the ONNX graph (types generated from the official `onnx.proto`) is
//!    normalized into a float graph of canonical-shaped ops with static shapes and
//!    folded constants; unsupported ops are refused by name.
//! 2. calibration: the float graph runs on sample inputs to find each value's range.
//! 3. `quantize`: each op is lowered to integer ops with fixed-point multipliers.

mod error;
mod fgraph;
mod ftensor;
mod onnx;
mod ops;
mod proto;
mod quantize;
mod translate;

pub use error::{ImportError, Result};
pub use fgraph::FGraph;
pub use ftensor::FTensor;
pub use ops::supported_ops;

use prost::Message;
use verity_model::input::parse_input_json;
use verity_model::shape::numel;
use verity_model::Model;

#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Activation bit width: 8 (default) or 16.
    pub bits: u8,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { bits: 8 }
    }
}

/// Parses ONNX bytes into the float graph. Never panics on malformed bytes. Every
/// graph input must have a static declared shape; see [`load_onnx_with_shapes`].
pub fn load_onnx(bytes: &[u8]) -> Result<FGraph> {
    load_onnx_with_shapes(bytes, &[])
}

/// [`load_onnx`], with the shapes of named graph inputs fixed (`(name, shape)` pairs):
/// how a model with a symbolic dimension (a batch size, a sequence length) is imported.
pub fn load_onnx_with_shapes(bytes: &[u8], shapes: &[(String, Vec<usize>)]) -> Result<FGraph> {
    let model = onnx::ModelProto::decode(bytes).map_err(|e| ImportError::Onnx(format!("protobuf decoding failed: {e}")))?;
    let graph = model.graph.as_ref().ok_or_else(|| ImportError::Onnx("the file has no graph".into()))?;
    let opset = model.opset_import.iter().find(|o| matches!(o.domain(), "" | "ai.onnx")).map_or(1, |o| o.version());
    translate::build(graph, opset, shapes)
}

/// Splits a calibration file into samples: each input's list may hold several samples
/// back to back.
pub fn calibration_samples(fg: &FGraph, json: &str) -> Result<Vec<Vec<FTensor>>> {
    let names: Vec<&str> = fg.inputs.iter().map(|&i| fg.values[i].name.as_str()).collect();
    let lists = parse_input_json(json, &names).map_err(|e| ImportError::Calibration(e.to_string()))?;
    let mut count = None;
    for (list, &i) in lists.iter().zip(&fg.inputs) {
        let v = &fg.values[i];
        let n = numel(&v.shape);
        if list.is_empty() || list.len() % n != 0 {
            return Err(ImportError::Calibration(format!(
                "input '{}' has {} values, not a multiple of its size {n} (shape {:?})",
                v.name,
                list.len(),
                v.shape
            )));
        }
        if let Some(p) = list.iter().position(|x| !x.is_finite()) {
            return Err(ImportError::Calibration(format!("input '{}' value {p} is not a finite number", v.name)));
        }
        let k = list.len() / n;
        if count.is_some_and(|c| c != k) {
            return Err(ImportError::Calibration("inputs hold different numbers of samples".into()));
        }
        count = Some(k);
    }
    let k = count.unwrap_or(0);
    Ok((0..k)
        .map(|s| {
            lists
                .iter()
                .zip(&fg.inputs)
                .map(|(list, &i)| {
                    let shape = fg.values[i].shape.clone();
                    let n = numel(&shape);
                    FTensor::new(shape, list[s * n..(s + 1) * n].to_vec())
                })
                .collect()
        })
        .collect())
}

/// The largest |value| of every float value over the samples. `progress(done, total)`
/// is called after each sample.
pub fn calibrate(fg: &FGraph, samples: &[Vec<FTensor>], mut progress: impl FnMut(usize, usize)) -> Vec<f64> {
    let mut ranges = vec![0.0f64; fg.values.len()];
    for (i, s) in samples.iter().enumerate() {
        for (r, v) in ranges.iter_mut().zip(fg.run(s)) {
            if let Some(t) = v {
                *r = r.max(t.max_abs());
            }
        }
        progress(i + 1, samples.len());
    }
    ranges
}

/// Lowers a calibrated float graph to a canonical model.
pub fn quantize(fg: &FGraph, ranges: &[f64], opts: &ImportOptions) -> Result<Model> {
    if opts.bits != 8 && opts.bits != 16 {
        return Err(ImportError::Calibration(format!("activation bits must be 8 or 16, not {}", opts.bits)));
    }
    quantize::Lowerer::new(fg, ranges, opts.bits).lower()
}

/// Imports an ONNX model, calibrated on the samples of a calibration file.
pub fn import(onnx: &[u8], calibration_json: &str, opts: &ImportOptions, progress: impl FnMut(usize, usize)) -> Result<Model> {
    let fg = load_onnx(onnx)?;
    let samples = calibration_samples(&fg, calibration_json)?;
    if samples.is_empty() {
        return Err(ImportError::Calibration("no calibration samples".into()));
    }
    let ranges = calibrate(&fg, &samples, progress);
    quantize(&fg, &ranges, opts)
}
