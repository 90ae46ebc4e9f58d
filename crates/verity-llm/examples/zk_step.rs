//! What a zk proof of one decoding step would have to carry (docs/llm.md, "A proof of one
//! decoding step"): runs a prompt and a few tokens, and measures the exact integer
//! magnitudes of the step's sums against the Goldilocks field that `verity-zk` proves in.
//!
//! `cargo run --release -p verity-llm --example zk_step -- MODEL.gguf ["prompt"]`

use std::collections::HashMap;

use verity_llm::forward::matvec_sums;
use verity_llm::generate::{drive, Observer};
use verity_llm::trace::{Layout, OpKind};
use verity_llm::{Kernel, Model, Params};

/// Bits of |x| (0 for 0).
fn bits(x: i128) -> u32 {
    128 - x.unsigned_abs().leading_zeros()
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let Some(path) = a.get(1) else {
        eprintln!("usage: zk_step MODEL.gguf [\"prompt\"]");
        std::process::exit(2);
    };
    let model = Model::load(std::path::Path::new(path)).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    let text = a.get(2).map_or("What is the capital of France?", String::as_str);
    let prompt = model.tokenizer.encode(&verity_llm::chat::render_chatml(&[("user", text)]).unwrap()).unwrap();
    let layout = Layout::of(&model.config);
    // Op index -> which matrices read that op's output.
    let mut readers: HashMap<usize, Vec<(&str, usize)>> = HashMap::new();
    for l in 0..model.config.n_layer {
        readers.insert(layout.index(OpKind::AttnNorm(l)), vec![("q", l), ("k", l), ("v", l)]);
        readers.insert(layout.index(OpKind::Att(l)), vec![("o", l)]);
        readers.insert(layout.index(OpKind::FfnNorm(l)), vec![("gate", l), ("up", l)]);
        readers.insert(layout.index(OpKind::Act(l)), vec![("down", l)]);
    }
    let resid_ops: Vec<usize> = (0..model.config.n_layer).map(|l| layout.index(OpKind::Resid2(l))).collect();
    let (mut acc_max, mut sq_max, mut act_max) = (0i128, 0i128, 0i64);
    let mut per_matrix: HashMap<&str, i128> = HashMap::new();
    let params = Params { max_tokens: 4, ..Default::default() };
    drive(
        &model,
        &prompt,
        &params,
        Kernel::Fast,
        2,
        Observer {
            choose: &mut |_, t| t,
            hook: &mut |_, op, v| {
                act_max = act_max.max(v.iter().map(|x| (*x as i64).abs()).max().unwrap_or(0));
                if resid_ops.contains(&op) {
                    // RMSNorm's sum of squares of the residual stream.
                    sq_max = sq_max.max(v.iter().map(|x| (*x as i128) * (*x as i128)).sum());
                }
                for (name, l) in readers.get(&op).into_iter().flatten() {
                    let layer = &model.layers[*l];
                    let w = match *name {
                        "q" => &layer.wq,
                        "k" => &layer.wk,
                        "v" => &layer.wv,
                        "o" => &layer.wo,
                        "gate" => &layer.w_gate,
                        "up" => &layer.w_up,
                        _ => &layer.w_down,
                    };
                    let m = matvec_sums(w, v).into_iter().map(i128::abs).max().unwrap_or(0);
                    acc_max = acc_max.max(m);
                    let e = per_matrix.entry(name).or_default();
                    *e = (*e).max(m);
                }
            },
            on_text: &mut |_| std::ops::ControlFlow::Continue(()),
        },
    )
    .unwrap();
    let c = &model.config;
    let weights: usize = model
        .layers
        .iter()
        .map(|l| [&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down].iter().map(|w| w.rows * w.cols).sum::<usize>())
        .sum();
    let logits = model.embed.rows * model.embed.cols;
    println!("model {} ({} layers, n_embd {}, n_ff {}, vocab {})", model.id_hex(), c.n_layer, c.n_embd, c.n_ff, c.vocab);
    println!("positions run: {} prompt + {} generated", prompt.len(), params.max_tokens);
    println!("weights multiplied per step: {weights} in the layers + {logits} for the logits = {}", weights + logits);
    println!("largest |activation| (Q16, i32): 2^{}", bits(act_max as i128));
    let mut names: Vec<_> = per_matrix.iter().collect();
    names.sort();
    for (n, m) in names {
        println!("largest |matvec accumulator| of {n:>4}: 2^{}", bits(*m));
    }
    println!("largest |matvec accumulator| overall: 2^{} (Goldilocks signed range: 2^63)", bits(acc_max));
    println!("largest RMSNorm sum of squares: 2^{}", bits(sq_max));
    let field_bytes = 8 * (weights + logits);
    println!(
        "weights as Goldilocks elements: {:.2} GiB; Reed-Solomon coded at rate 1/4: {:.2} GiB",
        field_bytes as f64 / (1u64 << 30) as f64,
        4.0 * field_bytes as f64 / (1u64 << 30) as f64
    );
}
