//! The reference interpreter: every output element of every op is computed on its own
//! by `element::eval` from its operands. It is slow on purpose; it defines the answer,
//! and a dispute referee runs the very same function on one element.

use crate::arith::qrange;
use crate::element::{eval, operands, OpContext};
use crate::error::{ModelError, Result};
use crate::graph::{Model, ValueInfo};
use crate::shape::numel;
use crate::tensor::Tensor;

/// Runs `model` on integer `inputs` (one per graph input) and returns the outputs.
pub fn run(model: &Model, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let values = evaluate(model, inputs, |_, _| {})?;
    Ok(model.outputs.iter().map(|&o| values[o as usize].clone().expect("validated output")).collect())
}

/// Runs `model` and returns every node's output in execution order (the trace).
pub fn trace(model: &Model, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let mut out = Vec::with_capacity(model.nodes.len());
    evaluate(model, inputs, |_, t| out.push(t.clone()))?;
    Ok(out)
}

/// Checks that `inputs` match the model's inputs in count, shape and range.
pub fn check_inputs(model: &Model, inputs: &[Tensor]) -> Result<()> {
    if inputs.len() != model.inputs.len() {
        return Err(ModelError::Input(format!("model takes {} inputs, got {}", model.inputs.len(), inputs.len())));
    }
    for (t, &id) in inputs.iter().zip(&model.inputs) {
        let v = model.value(id);
        if t.shape != v.shape || t.data.len() != numel(&v.shape) {
            return Err(ModelError::Input(format!(
                "input '{}' has shape {:?}, the model expects {:?}",
                v.name, t.shape, v.shape
            )));
        }
        let (lo, hi) = qrange(v.bits);
        if let Some(x) = t.data.iter().find(|&&x| (x as i64) < lo || (x as i64) > hi) {
            return Err(ModelError::Input(format!("input '{}' holds {x}, outside the {}-bit range", v.name, v.bits)));
        }
    }
    Ok(())
}

/// Runs `model`, letting `tamper` change each node's output before later nodes read it
/// (for tests and for simulating dishonest executors); returns every value by id.
pub fn run_tampered(model: &Model, inputs: &[Tensor], mut tamper: impl FnMut(usize, &mut Tensor)) -> Result<Vec<Tensor>> {
    let values = evaluate(model, inputs, |i, t| tamper(i, t))?;
    Ok(values.into_iter().map(|v| v.expect("every value is defined")).collect())
}

/// Node `i` of `model` applied to `ins` (tensors of the node's input types).
pub fn eval_node(model: &Model, i: usize, ins: &[&Tensor]) -> Tensor {
    let node = &model.nodes[i];
    let infos: Vec<&ValueInfo> = node.inputs.iter().map(|&id| model.value(id)).collect();
    let cx = OpContext { op: &node.op, inputs: &infos, output: model.value(node.output) };
    let data = (0..numel(&cx.output.shape))
        .map(|j| {
            let vals: Vec<i32> = operands(cx, j).into_iter().map(|(slot, idx)| ins[slot].data[idx]).collect();
            eval(cx, j, &vals)
        })
        .collect();
    Tensor::new(cx.output.shape.clone(), data)
}

fn evaluate(model: &Model, inputs: &[Tensor], mut on_node: impl FnMut(usize, &mut Tensor)) -> Result<Vec<Option<Tensor>>> {
    check_inputs(model, inputs)?;
    let mut values: Vec<Option<Tensor>> = vec![None; model.values.len()];
    for (t, &id) in inputs.iter().zip(&model.inputs) {
        values[id as usize] = Some(t.clone());
    }
    for (i, node) in model.nodes.iter().enumerate() {
        let ins: Vec<&Tensor> = node.inputs.iter().map(|&id| values[id as usize].as_ref().expect("validated order")).collect();
        let mut out = eval_node(model, i, &ins);
        on_node(i, &mut out);
        values[node.output as usize] = Some(out);
    }
    Ok(values)
}
