//! Bench (not a test): the matrix-vector kernel alone on the real model's matrices, from
//! cache (one matrix again and again) and from memory (every matrix of a token in turn).
//! `cargo run --release -p verity-llm --example matvec -- MODEL.gguf`
use std::time::Instant;

use verity_llm::forward::{matvec_rows, Acts};
use verity_llm::Model;

fn main() {
    let path = std::env::args().nth(1).expect("MODEL.gguf");
    let m = Model::load(path.as_ref()).expect("load");
    let a: Vec<i32> = (0..1536).map(|i| ((i * 7919) % 2001 - 1000) * 300).collect();
    let mut mats = vec![];
    for l in &m.layers {
        mats.extend([&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down]);
    }
    mats.push(&m.embed);
    let weights: usize = mats.iter().map(|w| w.rows * w.cols).sum();
    let run = |ws: &[&verity_llm::model::QMatrix], reps: usize| {
        let acts: Vec<Acts> = ws.iter().map(|w| Acts::new(&a[..w.cols])).collect();
        let mut out = vec![0i32; 49152];
        let t = Instant::now();
        for _ in 0..reps {
            for (w, x) in ws.iter().zip(&acts) {
                matvec_rows(w, x, 0..w.rows, &mut out[..w.rows]);
            }
        }
        t.elapsed().as_secs_f64() / reps as f64
    };
    for _ in 0..3 {
        let all = run(&mats, 10);
        println!("token's matrices ({weights} weights): {:.2} ms, {:.1} Gweights/s", all * 1e3, weights as f64 / all / 1e9);
        let w = &m.layers[0].w_gate;
        let one = run(&[w], 2000);
        println!("w_gate from cache: {:.1} µs, {:.1} Gweights/s", one * 1e6, (w.rows * w.cols) as f64 / one / 1e9);
        let one = run(&[&m.embed], 20);
        println!("embed (Q8_0): {:.2} ms, {:.1} Gweights/s", one * 1e3, (m.embed.rows * m.embed.cols) as f64 / one / 1e9);
    }
}
