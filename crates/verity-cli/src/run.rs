use std::path::Path;

use anyhow::Result;
use serde_json::json;
use verity_commit::hash::hex;
use verity_exec::{engine, execute, execute_reference, real_outputs, run_json, Executed};
use verity_model::Model;

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
    /// Create the executor key if it does not exist (otherwise a missing key is an error).
    pub new_key: bool,
    /// Also print the outputs' integers and scales.
    pub raw: bool,
}

pub fn run(a: RunArgs) -> Result<()> {
    if a.threads == Some(0) {
        anyhow::bail!("--threads 0: give at least 1 thread (or leave it out to use every core)");
    }
    let model = read_model(a.model)?;
    let inputs = read_input(&model, a.input)?;
    let ex = if a.reference {
        anyhow::ensure!(a.receipt.is_none(), "--receipt signs the engine's execution; drop --reference");
        execute_reference(&model, &inputs)?
    } else {
        execute(&engine(&model, a.threads)?, &model, &inputs)?
    };
    if let Some(path) = a.receipt {
        receipt::write_with(&model, &ex, path, a.key, a.new_key)?;
    }
    let n_in = model.inputs.len();
    let steps: Vec<_> = model
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            json!({"node": n.name, "op": n.op.kind(), "shape": model.value(n.output).shape, "root": hex(&ex.trace.leaf(n_in + i))})
        })
        .collect();
    if a.json {
        let mut out = run_json(&model, &ex);
        out["outputs"] = outputs_json(&model, &ex.outputs, a.raw);
        out["trace_root"] = json!(hex(&ex.trace.root()));
        if a.trace {
            out["trace"] = json!(steps);
        }
        println!("{out}");
        return Ok(());
    }
    print_summary(&model, &ex);
    println!("trace root   {}", hex(&ex.trace.root()));
    if a.raw {
        for (i, t) in ex.outputs.iter().enumerate() {
            let info = model.value(model.outputs[i]);
            println!("raw {}: scale {} q {:?}", info.name, info.scale, t.data);
        }
    }
    if a.trace {
        for (i, s) in steps.iter().enumerate() {
            let text = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            println!("  {i:>4} {:<10} {:<28} {} {}", text("op"), text("node"), s["shape"], text("root"));
        }
    }
    Ok(())
}

/// The human-readable result of an execution: id, hashes and each output with its argmax.
pub fn print_summary(m: &Model, ex: &Executed) {
    println!("model id     {}", m.id());
    println!("input hash   {}", hex(&ex.input_hash));
    println!("output hash  {}", hex(&ex.output_hash));
    print_outputs(m, &ex.outputs);
}

/// Outputs as `[{"name", "shape", "values"}]` (reals); with `raw`, also the integers
/// (`"q"`) and the scale they are read with (`value = q * scale`).
pub fn outputs_json(m: &Model, outputs: &[verity_model::Tensor], raw: bool) -> serde_json::Value {
    let reals = real_outputs(m, outputs);
    let items: Vec<_> = outputs
        .iter()
        .zip(reals)
        .zip(&m.outputs)
        .map(|((t, r), &v)| {
            let info = m.value(v);
            let mut o = json!({"name": info.name, "shape": t.shape, "values": r});
            if raw {
                o["q"] = json!(t.data);
                o["scale"] = json!(info.scale);
                o["bits"] = json!(info.bits);
            }
            o
        })
        .collect();
    json!(items)
}

/// Whether an output reads as class scores (a vector, or a batch of one vector), where
/// argmax means something.
fn is_scores(shape: &[usize]) -> bool {
    let dims: Vec<_> = shape.iter().filter(|&&d| d > 1).collect();
    dims.len() == 1
}

/// Each output as reals (the first 16 values), with its argmax if it holds class scores.
pub fn print_outputs(m: &Model, outputs: &[verity_model::Tensor]) {
    for (i, r) in real_outputs(m, outputs).iter().enumerate() {
        let name = &m.value(m.outputs[i]).name;
        let shown: Vec<String> = r.iter().take(16).map(|v| format!("{v:.4}")).collect();
        let more = if r.len() > 16 { format!(" ... ({} values)", r.len()) } else { String::new() };
        let shape = &outputs[i].shape;
        let best = (0..r.len()).fold(0, |b, j| if r[j] > r[b] { j } else { b });
        let argmax = if is_scores(shape) { format!("  argmax {best}") } else { String::new() };
        println!("output {name} {shape:?}: [{}]{more}{argmax}", shown.join(", "));
    }
}
