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
    load_onnx_fixed(bytes, shapes, &[])
}

/// [`load_onnx_with_shapes`], with named graph inputs also fixed to constant values
/// (`(name, values)` pairs, row-major): how a model is specialized for one setting of
/// an input, such as a sample rate that selects a branch.
pub fn load_onnx_fixed(bytes: &[u8], shapes: &[(String, Vec<usize>)], values: &[(String, Vec<f64>)]) -> Result<FGraph> {
    let model = onnx::ModelProto::decode(bytes).map_err(|e| ImportError::Onnx(format!("protobuf decoding failed: {e}")))?;
    let graph = model.graph.as_ref().ok_or_else(|| ImportError::Onnx("the file has no graph".into()))?;
    let opset = model.opset_import.iter().find(|o| matches!(o.domain(), "" | "ai.onnx")).map_or(1, |o| o.version());
    translate::build(graph, opset, shapes, values)
}

/// Splits a calibration file into samples: each input's list may hold several samples
/// back to back.
pub fn calibration_samples(fg: &FGraph, json: &str) -> Result<Vec<Vec<FTensor>>> {
    let names: Vec<&str> = fg.inputs.iter().map(|&i| fg.values[i].name.as_str()).collect();
    let lists = parse_input_json(json, &names).map_err(|e| ImportError::Calibration(e.to_string()))?;
    let nested = sample_lengths(json, &names);
    let mut count = None;
    for (k, (list, &i)) in lists.iter().zip(&fg.inputs).enumerate() {
        let v = &fg.values[i];
        let n = numel(&v.shape);
        if let Some(Some(lens)) = nested.get(k) {
            // Samples given one list each (or rows of samples): a list longer than one
            // sample, or not a whole fraction of one, is a sample of another model.
            if let Some((j, &m)) = lens.iter().enumerate().find(|&(_, &m)| m > n || m == 0 || !n.is_multiple_of(m)) {
                return Err(ImportError::Calibration(format!(
                    "input '{}': sample {j} has {m} values, the model's input has {n} (shape {:?}); \
                     is the calibration file for another model?",
                    v.name, v.shape
                )));
            }
        }
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

/// What [`calibration_samples`] could not check: each input given as one flat list that
/// holds several samples back to back. Nothing in such a list marks where a sample ends,
/// so the samples of another model whose size divides the same count read as valid ones
/// (LeNet-5's 32 samples of 784 values are 392 of 64). One list per sample is checked.
pub fn calibration_warnings(fg: &FGraph, json: &str) -> Vec<String> {
    let names: Vec<&str> = fg.inputs.iter().map(|&i| fg.values[i].name.as_str()).collect();
    let Ok(lists) = parse_input_json(json, &names) else { return Vec::new() };
    let nested = sample_lengths(json, &names);
    lists
        .iter()
        .zip(&fg.inputs)
        .enumerate()
        .filter_map(|(k, (list, &i))| {
            let v = &fg.values[i];
            let n = numel(&v.shape).max(1);
            let flat = !matches!(nested.get(k), Some(Some(_)));
            (flat && list.len() > n).then(|| {
                format!(
                    "calibration input '{}' is one flat list of {} values, read as {} samples of shape {:?}; \
                     a flat list does not mark where a sample ends, so it cannot be checked against the model \
                     (write one list per sample to have each checked)",
                    v.name,
                    list.len(),
                    list.len() / n,
                    v.shape
                )
            })
        })
        .collect()
}

/// For each input whose calibration list is a list of lists (one per sample), the number
/// of values in each; `None` for a flat list (samples back to back, whose boundaries the
/// file does not show) or an input the document does not hold.
fn sample_lengths(json: &str, names: &[&str]) -> Vec<Option<Vec<usize>>> {
    fn count(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::Array(items) => items.iter().map(count).sum(),
            _ => 1,
        }
    }
    let Ok(serde_json::Value::Object(obj)) = serde_json::from_str::<serde_json::Value>(json) else { return Vec::new() };
    let per_input: Vec<Option<&serde_json::Value>> = match obj.get("input_data") {
        Some(serde_json::Value::Array(items)) if items.len() == names.len() && items.iter().all(|x| x.is_array()) => {
            items.iter().map(Some).collect()
        }
        Some(_) => return Vec::new(),
        None => names.iter().map(|n| obj.get(*n)).collect(),
    };
    per_input
        .into_iter()
        .map(|v| match v {
            Some(serde_json::Value::Array(items)) if !items.is_empty() && items.iter().all(|x| x.is_array()) => {
                Some(items.iter().map(count).collect())
            }
            _ => None,
        })
        .collect()
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
    for &(v, factor, cap) in &fg.headroom {
        ranges[v] = (ranges[v] * factor).min(cap);
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
