use std::path::Path;

use anyhow::Result;
use serde_json::json;
use verity_commit::hash::hex;
use verity_commit::TensorCommitment;
use verity_model::input::dequantize;
use verity_model::reference;

use crate::exec::{engine, execute, list_root};
use crate::files::{read_input, read_model};
use crate::receipt;

pub struct RunArgs<'a> {
    pub model: &'a Path,
    pub input: &'a Path,
    pub json: bool,
    pub threads: Option<usize>,
    pub trace: bool,
    pub reference: bool,
    pub receipt: Option<&'a Path>,
    pub key: Option<&'a Path>,
}

pub fn run(a: RunArgs) -> Result<()> {
    let model = read_model(a.model)?;
    let inputs = read_input(&model, a.input)?;
    let (outputs, input_hash, output_hash, trace) = if a.reference {
        anyhow::ensure!(a.receipt.is_none(), "--receipt needs the engine's trace commitment; drop --reference");
        let values = reference::run_tampered(&model, &inputs, |_, _| {})?;
        let outputs: Vec<_> = model.outputs.iter().map(|&o| values[o as usize].clone()).collect();
        let roots: Vec<_> =
            values.iter().zip(&model.values).map(|(t, v)| TensorCommitment::new(v.bits, &t.shape, &t.data).root()).collect();
        (outputs.clone(), list_root(&model, &model.inputs, &inputs), list_root(&model, &model.outputs, &outputs), roots)
    } else {
        let ex = execute(&engine(&model, a.threads)?, &model, &inputs)?;
        if let Some(path) = a.receipt {
            receipt::write(&model, &ex, path, a.key)?;
        }
        let roots = (0..ex.trace.len()).map(|v| ex.trace.leaf(v)).collect();
        (ex.outputs, ex.input_hash, ex.output_hash, roots)
    };
    let reals: Vec<Vec<f64>> = outputs.iter().enumerate().map(|(i, t)| dequantize(&model, i, t)).collect();
    let n_in = model.inputs.len();
    let steps: Vec<_> = model
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"node": n.name, "op": n.op.kind(), "shape": model.value(n.output).shape, "root": hex(&trace[n_in + i])}))
        .collect();
    let mut out = json!({
        "model_id": model.id(),
        "input_hash": hex(&input_hash),
        "output_hash": hex(&output_hash),
        "outputs": reals,
    });
    if a.trace {
        out["trace"] = json!(steps);
    }
    if a.json {
        println!("{out}");
        return Ok(());
    }
    println!("model id     {}", model.id());
    println!("input hash   {}", hex(&input_hash));
    println!("output hash  {}", hex(&output_hash));
    for (i, r) in reals.iter().enumerate() {
        let name = &model.value(model.outputs[i]).name;
        let shown: Vec<String> = r.iter().take(16).map(|v| format!("{v:.4}")).collect();
        let more = if r.len() > 16 { format!(" ... ({} values)", r.len()) } else { String::new() };
        let best = (0..r.len()).fold(0, |b, j| if r[j] > r[b] { j } else { b });
        println!("output {name}: [{}]{more}  argmax {best}", shown.join(", "));
    }
    if a.trace {
        for (i, s) in steps.iter().enumerate() {
            let text = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            println!("  {i:>4} {:<10} {:<28} {} {}", text("op"), text("node"), s["shape"], text("root"));
        }
    }
    Ok(())
}
