//! Bench (not a test): where a decoding step's time goes, on one thread.
//! `cargo run --release -p verity-llm --example costs -- MODEL.gguf [POSITIONS]`
//!
//! * the matrix-vector kernel alone: every matrix of a token in turn (weights streamed from
//!   memory), one matrix again and again (from cache), the Q8_0 embedding;
//! * a whole step after `POSITIONS` (default 64) positions, and the trace commitment of
//!   that step's op outputs alone (`trace::commit_ops`), as a share of the step.
//!
//! Medians of repeated runs.
use std::time::Instant;

use verity_llm::forward::{matvec_rows, Acts};
use verity_llm::model::QMatrix;
use verity_llm::{Kernel, Model, Session};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("MODEL.gguf");
    let positions: usize = args.next().map(|a| a.parse().expect("POSITIONS")).unwrap_or(64);
    let m = Model::load(path.as_ref()).expect("load");
    let a: Vec<i32> = (0..1536).map(|i| ((i * 7919) % 2001 - 1000) * 300).collect();
    let mut mats: Vec<&QMatrix> = vec![];
    for l in &m.layers {
        mats.extend([&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down]);
    }
    mats.push(&m.embed);
    let time = |ws: &[&QMatrix]| {
        let acts: Vec<Acts> = ws.iter().map(|w| Acts::new(&a[..w.cols])).collect();
        let mut out = vec![0i32; 49152];
        let t = Instant::now();
        for (w, x) in ws.iter().zip(&acts) {
            matvec_rows(w, x, 0..w.rows, &mut out[..w.rows]);
        }
        t.elapsed().as_secs_f64()
    };
    let weights: usize = mats.iter().map(|w| w.rows * w.cols).sum();
    let all = median((0..15).map(|_| time(&mats)).collect());
    let gate = &m.layers[0].w_gate;
    let hot = median((0..15).map(|_| (0..200).map(|_| time(&[gate])).sum::<f64>() / 200.0).collect());
    let embed = median((0..15).map(|_| time(&[&m.embed])).collect());
    println!(
        "kernel, a token's {} matrices ({weights} weights): {:.2} ms ({:.1} Gweights/s)",
        mats.len(),
        all * 1e3,
        weights as f64 / all / 1e9
    );
    let gw = (gate.rows * gate.cols) as f64;
    println!("kernel, one {}x{} matrix from cache: {:.1} µs ({:.1} Gweights/s)", gate.rows, gate.cols, hot * 1e6, gw / hot / 1e9);
    println!("kernel, the Q8_0 embedding (logits): {:.2} ms", embed * 1e3);

    let mut s = Session::new(&m, Kernel::Fast, 1);
    for t in 0..positions as u32 {
        s.step(100 + t);
    }
    let mut steps = vec![];
    let mut commits = vec![];
    for t in 0..15u32 {
        let (mut outputs, mut ranges) = (vec![], vec![]);
        let start = Instant::now();
        s.step_with(200 + t, &mut |_, v| {
            ranges.push(outputs.len()..outputs.len() + v.len());
            outputs.extend_from_slice(v);
        });
        steps.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        std::hint::black_box(verity_llm::trace::commit_ops(&outputs, &ranges, 1, &|f| f(0)));
        commits.push(start.elapsed().as_secs_f64());
    }
    let (step, commit) = (median(steps), median(commits));
    println!(
        "step at position {positions}+: {:.2} ms; its trace commitment alone {:.2} ms ({:.1}% of the step)",
        step * 1e3,
        commit * 1e3,
        100.0 * commit / step
    );
}
