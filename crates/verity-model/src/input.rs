//! Reading user inputs (JSON) and mapping between reals and the model's integers.

use crate::arith::qrange;
use crate::error::{ModelError, Result};
use crate::graph::Model;
use crate::shape::numel;
use crate::tensor::Tensor;
use serde_json::Value;

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(ModelError::Input(msg.into()))
}

/// Parses an input file: EZKL's `{"input_data": [[...], ...]}` (one list per model
/// input, in order) or the named `{"NAME": [...], ...}` form. Lists may be nested;
/// they are read in row-major order. Returns one flat list per input in `names`.
pub fn parse_input_json(text: &str, names: &[&str]) -> Result<Vec<Vec<f64>>> {
    let json: Value = serde_json::from_str(text).map_err(|e| {
        let hint =
            if ["NaN", "Infinity"].iter().any(|w| text.contains(w)) { " (NaN and Infinity are not valid inputs)" } else { "" };
        ModelError::Input(format!("input is not valid JSON: {e}{hint}"))
    })?;
    let Value::Object(obj) = json else {
        return err("input must be a JSON object: {\"input_data\": [[...]]} or {\"NAME\": [...]}");
    };
    let lists: Vec<&Value> = if let Some(data) = obj.get("input_data") {
        let Value::Array(items) = data else {
            return err("\"input_data\" must be a list with one list per model input");
        };
        // A single flat list of numbers is accepted for a single-input model.
        if names.len() == 1 && items.iter().all(Value::is_number) && !items.is_empty() {
            vec![data]
        } else {
            if items.len() != names.len() {
                return err(format!(
                    "\"input_data\" has {} lists, the model has {} inputs ({})",
                    items.len(),
                    names.len(),
                    names.join(", ")
                ));
            }
            items.iter().collect()
        }
    } else {
        let mut lists = Vec::new();
        for name in names {
            match obj.get(*name) {
                Some(v) => lists.push(v),
                None => {
                    return err(format!(
                        "input file has no \"input_data\" and no entry named \"{name}\" (keys: {})",
                        obj.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                }
            }
        }
        if let Some(extra) = obj.keys().find(|k| !names.contains(&k.as_str())) {
            return err(format!("input file names \"{extra}\", which is not a model input ({})", names.join(", ")));
        }
        lists
    };
    lists.iter().zip(names).map(|(v, name)| flatten(v, name)).collect()
}

fn flatten(v: &Value, name: &str) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    let mut stack = vec![v];
    // Depth-first, children reversed so the flat order is row-major.
    while let Some(v) = stack.pop() {
        match v {
            Value::Number(n) => {
                out.push(n.as_f64().ok_or_else(|| ModelError::Input(format!("input '{name}': {n} is not a number")))?)
            }
            Value::Array(items) => stack.extend(items.iter().rev()),
            Value::Null => return err(format!("input '{name}' holds null (NaN or Inf are not valid inputs)")),
            other => return err(format!("input '{name}' holds {other}, expected numbers")),
        }
    }
    Ok(out)
}

/// Names of the model's inputs, in order.
pub fn input_names(model: &Model) -> Vec<&str> {
    model.inputs.iter().map(|&i| model.value(i).name.as_str()).collect()
}

/// Quantizes one sample for model input `i`: `clamp(round((x * mul + add) / scale))`
/// with the input's affine map, rounding half away from zero, all in f64 (each IEEE
/// operation is correctly rounded and no fused multiply-add is used, so every machine
/// agrees).
pub fn quantize_input(model: &Model, i: usize, x: &[f64]) -> Result<Tensor> {
    let v = model.value(model.inputs[i]);
    let n = numel(&v.shape);
    if x.len() != n {
        return err(format!("input '{}' has {} values, the model expects {} (shape {:?})", v.name, x.len(), n, v.shape));
    }
    if let Some(p) = x.iter().position(|x| !x.is_finite()) {
        return err(format!("input '{}' value {p} is {}, expected a finite number", v.name, x[p]));
    }
    let (lo, hi) = qrange(v.bits);
    let affine = model.input_affine.get(i);
    // At scale 1 with no affine map the input is exact (an ONNX integer or boolean input):
    // a value past the range would saturate into another value, so it is refused instead.
    if v.scale == 1.0 && affine.is_none() {
        if let Some(p) = x.iter().position(|x| x.round() < lo as f64 || x.round() > hi as f64) {
            return err(format!(
                "input '{}' value {p} is {}, outside {lo}..={hi}, the range of this exact {}-bit input",
                v.name, x[p], v.bits
            ));
        }
    }
    let data = x
        .iter()
        .enumerate()
        .map(|(j, &x)| {
            let mut x = x;
            if let Some(a) = affine {
                x = x * a.mul.get(j).copied().unwrap_or(1.0) + a.add.get(j).copied().unwrap_or(0.0);
            }
            (x / v.scale as f64).round().clamp(lo as f64, hi as f64) as i32
        })
        .collect();
    Ok(Tensor::new(v.shape.clone(), data))
}

/// Quantizes a whole input file's values for every model input.
pub fn quantize_inputs(model: &Model, lists: &[Vec<f64>]) -> Result<Vec<Tensor>> {
    lists.iter().enumerate().map(|(i, x)| quantize_input(model, i, x)).collect()
}

/// The reals an output tensor stands for: `q * scale`.
pub fn dequantize(model: &Model, output: usize, t: &Tensor) -> Vec<f64> {
    let scale = model.value(model.outputs[output]).scale as f64;
    t.data.iter().map(|&q| q as f64 * scale).collect()
}
