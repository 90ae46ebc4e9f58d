use std::path::Path;

use anyhow::Result;
use serde_json::json;
use verity_engine::Engine;
use verity_model::input::dequantize;
use verity_model::{hash_tensors, reference, Tensor};

use crate::files::{read_input, read_model};

pub fn run(path: &Path, input: &Path, as_json: bool, threads: Option<usize>, trace: bool, use_reference: bool) -> Result<()> {
    let model = read_model(path)?;
    let inputs = read_input(&model, input)?;
    let mut steps = Vec::new();
    let mut record = |i: usize, t: &Tensor| {
        if trace {
            let n = &model.nodes[i];
            steps.push(json!({"node": n.name, "op": n.op.kind(), "shape": t.shape, "hash": hash_tensors([t])}));
        }
    };
    let outputs = if use_reference {
        let all = reference::trace(&model, &inputs)?;
        all.iter().enumerate().for_each(|(i, t)| record(i, t));
        reference::run(&model, &inputs)?
    } else {
        let mut engine = Engine::new(&model)?;
        if let Some(n) = threads {
            engine = engine.with_threads(n);
        }
        engine.run_with_trace(&inputs, record)?
    };
    let reals: Vec<Vec<f64>> = outputs.iter().enumerate().map(|(i, t)| dequantize(&model, i, t)).collect();
    let mut out = json!({
        "model_id": model.id(),
        "input_hash": hash_tensors(&inputs),
        "output_hash": hash_tensors(&outputs),
        "outputs": reals,
    });
    if trace {
        out["trace"] = json!(steps);
    }
    if as_json {
        println!("{out}");
        return Ok(());
    }
    println!("model id     {}", out["model_id"].as_str().unwrap_or_default());
    println!("input hash   {}", out["input_hash"].as_str().unwrap_or_default());
    println!("output hash  {}", out["output_hash"].as_str().unwrap_or_default());
    for (i, r) in reals.iter().enumerate() {
        let name = &model.value(model.outputs[i]).name;
        let shown: Vec<String> = r.iter().take(16).map(|v| format!("{v:.4}")).collect();
        let more = if r.len() > 16 { format!(" ... ({} values)", r.len()) } else { String::new() };
        let best = (0..r.len()).fold(0, |b, j| if r[j] > r[b] { j } else { b });
        println!("output {name}: [{}]{more}  argmax {best}", shown.join(", "));
    }
    if trace {
        for (i, s) in steps.iter().enumerate() {
            println!(
                "  {i:>4} {:<10} {:<28} {} {}",
                s["op"].as_str().unwrap_or_default(),
                s["node"].as_str().unwrap_or_default(),
                s["shape"],
                s["hash"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(())
}
