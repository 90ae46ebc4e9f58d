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
}

pub fn run(a: RunArgs) -> Result<()> {
    let model = read_model(a.model)?;
    let inputs = read_input(&model, a.input)?;
    let ex = if a.reference {
        anyhow::ensure!(a.receipt.is_none(), "--receipt signs the engine's execution; drop --reference");
        execute_reference(&model, &inputs)?
    } else {
        execute(&engine(&model, a.threads)?, &model, &inputs)?
    };
    if let Some(path) = a.receipt {
        receipt::write(&model, &ex, path, a.key)?;
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
        if a.trace {
            out["trace"] = json!(steps);
        }
        println!("{out}");
        return Ok(());
    }
    print_summary(&model, &ex);
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

/// Each output as reals (the first 16 values) with its argmax.
pub fn print_outputs(m: &Model, outputs: &[verity_model::Tensor]) {
    for (i, r) in real_outputs(m, outputs).iter().enumerate() {
        let name = &m.value(m.outputs[i]).name;
        let shown: Vec<String> = r.iter().take(16).map(|v| format!("{v:.4}")).collect();
        let more = if r.len() > 16 { format!(" ... ({} values)", r.len()) } else { String::new() };
        let best = (0..r.len()).fold(0, |b, j| if r[j] > r[b] { j } else { b });
        println!("output {name}: [{}]{more}  argmax {best}", shown.join(", "));
    }
}
