use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{json, Value};
use verity_engine::Engine;
use verity_model::{reference, Tensor};

use crate::files::{read_input, read_model};

/// Runs `f` for a short warm-up, then for `seconds`; returns per-run latency figures.
fn time(seconds: f64, mut f: impl FnMut() -> Result<Vec<Tensor>>) -> Result<Value> {
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_secs_f64((seconds * 0.1).min(0.3)) {
        std::hint::black_box(f()?);
    }
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs_f64(seconds) || samples.len() < 5 {
        let t = Instant::now();
        std::hint::black_box(f()?);
        samples.push(t.elapsed().as_secs_f64() * 1e6);
        if samples.len() >= 1_000_000 {
            break;
        }
    }
    samples.sort_by(f64::total_cmp);
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    Ok(json!({"median_us": pct(0.5), "p10_us": pct(0.1), "p90_us": pct(0.9), "iters": samples.len()}))
}

pub fn run(path: &Path, input: &Path, seconds: f64, threads: Option<usize>) -> Result<()> {
    let model = read_model(path)?;
    let inputs = read_input(&model, input)?;
    let n = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let single = Engine::new(&model)?.with_threads(1);
    let multi = Engine::new(&model)?.with_threads(n);
    let expected = reference::run(&model, &inputs)?;
    // A benchmark of wrong answers is worthless: check both engines first.
    anyhow::ensure!(single.run(&inputs)? == expected && multi.run(&inputs)? == expected, "engine disagrees with the reference");
    let out = json!({
        "model_id": model.id(),
        "model": path.display().to_string(),
        "ops": model.nodes.len(),
        "params": model.param_count(),
        "engine": {
            "threads_1": time(seconds, || Ok(single.run(&inputs)?))?,
            format!("threads_{n}"): time(seconds, || Ok(multi.run(&inputs)?))?,
        },
        // Plain inference vs inference that commits its trace as it goes (1 thread).
        "engine_with_trace_commitment": {
            "threads_1": time(seconds, || Ok(verity_exec::execute(&single, &model, &inputs)?.outputs))?,
        },
        "reference": time(seconds.min(1.0), || Ok(reference::run(&model, &inputs)?))?,
    });
    let mut out = out;
    let plain = out["engine"]["threads_1"]["median_us"].as_f64().unwrap_or(f64::NAN);
    let traced = out["engine_with_trace_commitment"]["threads_1"]["median_us"].as_f64().unwrap_or(f64::NAN);
    out["trace_commitment_overhead"] = json!((traced - plain) / plain);
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
