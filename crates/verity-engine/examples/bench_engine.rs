//! Times `Engine::run` on `.vrt` models with random in-range inputs.
//!
//!     cargo run --release -p verity-engine --example bench_engine -- [--threads N] [--secs S] [--check] [--ops]
//!         [--simd best|baseline|portable] MODEL.vrt...
//!
//! Prints one line per model: median / p10 / p90 microseconds per run. `--check` first
//! compares the engine's trace with the reference interpreter's on a few random inputs;
//! `--ops` prints each node's mean time (from trace callback timestamps; a traced run
//! executes every node as written, without the Clamp fusion of a plain run). `--simd`
//! restricts the kernels' instruction set (default: the best the CPU has).

use std::time::{Duration, Instant};

use verity_engine::testgen::random_inputs;
use verity_engine::{Engine, Simd};
use verity_model::{reference, Model};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut threads, mut secs, mut check, mut paths) = (1usize, 1.0f64, false, Vec::new());
    let mut per_op = false;
    let mut simd = Simd::Best;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => threads = args.next().ok_or("--threads needs a value")?.parse()?,
            "--secs" => secs = args.next().ok_or("--secs needs a value")?.parse()?,
            "--check" => check = true,
            "--ops" => per_op = true,
            "--simd" => {
                simd = match args.next().as_deref() {
                    Some("best") => Simd::Best,
                    Some("baseline") => Simd::Baseline,
                    Some("portable") => Simd::Portable,
                    _ => return Err("--simd takes best, baseline or portable".into()),
                }
            }
            _ => paths.push(a),
        }
    }
    if paths.is_empty() {
        return Err("usage: bench_engine [--threads N] [--secs S] [--check] [--ops] [--simd LEVEL] MODEL.vrt...".into());
    }
    for path in paths {
        let model = Model::decode(&std::fs::read(&path)?)?;
        let engine = Engine::new(&model)?.with_threads(threads).with_simd(simd);
        let inputs = random_inputs(&model, 1);
        if check {
            for seed in 0..20 {
                let ins = random_inputs(&model, seed);
                let mut trace = Vec::new();
                let out = engine.run_with_trace(&ins, |_, t| trace.push(t.clone()))?;
                if out != reference::run(&model, &ins)? || trace != reference::trace(&model, &ins)? {
                    return Err(format!("{path}: engine differs from the reference on input seed {seed}").into());
                }
            }
        }
        // Warm up: fills the workspace pool and the caches.
        let warm = Instant::now();
        while warm.elapsed() < Duration::from_secs_f64(secs / 5.0) {
            std::hint::black_box(engine.run(&inputs)?);
        }
        let mut times = Vec::new();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs_f64(secs) {
            let t = Instant::now();
            std::hint::black_box(engine.run(std::hint::black_box(&inputs))?);
            times.push(t.elapsed().as_secs_f64() * 1e6);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        if per_op {
            let mut sums = vec![0f64; model.nodes.len()];
            let n = times.len().min(20_000);
            for _ in 0..n {
                let mut last = Instant::now();
                engine.run_with_trace(&inputs, |i, _| {
                    let now = Instant::now();
                    sums[i] += (now - last).as_secs_f64() * 1e6;
                    last = now;
                })?;
            }
            for (node, t) in model.nodes.iter().zip(&sums) {
                let shape = &model.value(node.output).shape;
                println!("  {:10} {:>8.3} us  -> {shape:?}", node.op.kind(), t / n as f64);
            }
        }
        let q = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
        println!(
            "{path}: {} nodes, {threads} thread(s): median {:.2} us, p10 {:.2}, p90 {:.2} ({} runs)",
            model.nodes.len(),
            q(0.5),
            q(0.1),
            q(0.9),
            times.len()
        );
    }
    Ok(())
}
