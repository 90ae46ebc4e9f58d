//! Where the trace commitment's time goes: plain inference, inference that hands every
//! op's output to a callback, and inference that commits the trace as it runs.
//!
//!     cargo run --release -p verity-commit --example trace_cost -- fixtures/cnn_digits.vrt [more.vrt ...]

use std::time::Instant;

use verity_commit::{TensorCommitment, TraceBuilder};
use verity_engine::testgen::random_inputs;
use verity_engine::Engine;
use verity_model::Model;

fn median_us(mut f: impl FnMut()) -> f64 {
    let mut t = Vec::new();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < 1.0 {
        let s = Instant::now();
        f();
        t.push(s.elapsed().as_secs_f64() * 1e6);
    }
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for path in std::env::args().skip(1) {
        let model = Model::decode(&std::fs::read(&path)?)?;
        let inputs = random_inputs(&model, 1);
        let engine = Engine::new(&model)?.with_threads(1);
        let plain = median_us(|| {
            engine.run(&inputs).unwrap();
        });
        let callback = median_us(|| {
            engine
                .run_with_trace(&inputs, |_, t| {
                    std::hint::black_box(t);
                })
                .unwrap();
        });
        let mut values = Vec::new();
        engine.run_with_trace(&inputs, |_, t| values.push(t.clone()))?;
        let hash_only = median_us(|| {
            for (t, v) in values.iter().zip(&model.values[model.inputs.len()..]) {
                std::hint::black_box(TensorCommitment::new(v.bits, &t.shape, &t.data).root());
            }
        });
        let committed = median_us(|| {
            let mut b = TraceBuilder::new(&model, &inputs);
            engine.run_with_trace(&inputs, |_, t| b.push(t)).unwrap();
            std::hint::black_box(b.finish().root());
        });
        println!(
            "{path}: plain {plain:.2} us, with trace callback {callback:.2} us, hashing the outputs alone {hash_only:.2} us, \
             committed trace {committed:.2} us (overhead {:.0}%)",
            (committed / plain - 1.0) * 100.0
        );
    }
    Ok(())
}
