//! Bench helper (not a test): the integer model's side of `bench/llm_vs_llamacpp.py`.
//!
//! ```text
//! score MODEL.gguf greedy PROMPTS.json N_NEW   one JSON line per prompt: {prompt, prompt_tokens, tokens}
//! score MODEL.gguf ppl TEXT.txt WINDOW         {tokens, windows, scored, nll, ppl}
//! score MODEL.gguf speed THREADS N             {threads, prompt_tok_s, decode_tok_s}
//! ```
//! Token ids are printed so that the float peer runs exactly the same sequences.
use std::time::Instant;

use verity_llm::generate::pick;
use verity_llm::model::render_chat;
use verity_llm::{Kernel, Model, Params, Session};

/// `-ln softmax(logits / 2^16)[t]` in f64.
fn nll(logits: &[i32], t: u32) -> f64 {
    let s: Vec<f64> = logits.iter().map(|&l| l as f64 / 65536.0).collect();
    let m = s.iter().cloned().fold(f64::MIN, f64::max);
    let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
    m + z.ln() - s[t as usize]
}

fn arg<T: std::str::FromStr>(a: &[String], i: usize, what: &str) -> T {
    a.get(i).and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        eprintln!("usage: score MODEL.gguf greedy|ppl|speed …  (missing or bad {what})");
        std::process::exit(2)
    })
}

/// The greedy pick, exactly as decoding makes it.
fn greedy(m: &Model, logits: &[i32]) -> u32 {
    pick(m, logits, &Params::default(), 0)
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let path: String = arg(&a, 1, "MODEL");
    let mode: String = arg(&a, 2, "mode");
    let m = Model::load(std::path::Path::new(&path)).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2)
    });
    match mode.as_str() {
        "greedy" => {
            let file: String = arg(&a, 3, "PROMPTS.json");
            let n_new: usize = arg(&a, 4, "N_NEW");
            let prompts: Vec<String> =
                serde_json::from_str(&std::fs::read_to_string(&file).expect("prompts file")).expect("a JSON list of strings");
            for p in prompts {
                let toks = m.tokenizer.encode(&render_chat(None, &p)).expect("tokenize");
                let mut s = Session::new(&m, Kernel::Fast, 2);
                let mut logits = vec![];
                for t in &toks {
                    logits = s.step(*t).logits;
                }
                let mut out = vec![];
                for _ in 0..n_new {
                    let t = greedy(&m, &logits);
                    out.push(t);
                    if t == m.eos || t == m.im_end {
                        break;
                    }
                    logits = s.step(t).logits;
                }
                println!("{}", serde_json::json!({"prompt": p, "prompt_tokens": toks, "tokens": out}));
            }
        }
        "ppl" => {
            let file: String = arg(&a, 3, "TEXT.txt");
            let window: usize = arg(&a, 4, "WINDOW");
            let text = std::fs::read_to_string(&file).expect("text file");
            let toks = m.tokenizer.encode(&text).expect("tokenize");
            let (mut sum, mut scored) = (0.0, 0usize);
            let windows: Vec<&[u32]> = toks.chunks(window).filter(|w| w.len() > 1).collect();
            for (i, w) in windows.iter().enumerate() {
                let mut s = Session::new(&m, Kernel::Fast, 2);
                for j in 0..w.len() - 1 {
                    sum += nll(&s.step(w[j]).logits, w[j + 1]);
                    scored += 1;
                }
                eprintln!("window {}/{}: ppl so far {:.4}", i + 1, windows.len(), (sum / scored as f64).exp());
            }
            let flat: Vec<u32> = windows.concat();
            println!(
                "{}",
                serde_json::json!({"tokens": flat, "window": window, "windows": windows.len(), "scored": scored,
                    "nll": sum, "ppl": (sum / scored as f64).exp()})
            );
        }
        "speed" => {
            let threads: usize = arg(&a, 3, "THREADS");
            let n: usize = arg(&a, 4, "N");
            let prompt: Vec<u32> = (0..n as u32).map(|i| 100 + i).collect();
            let mut s = Session::new(&m, Kernel::Fast, threads);
            let t = Instant::now();
            let mut logits = vec![];
            for tok in &prompt {
                logits = s.step(*tok).logits;
            }
            let pp = n as f64 / t.elapsed().as_secs_f64();
            let t = Instant::now();
            for _ in 0..n {
                let tok = greedy(&m, &logits);
                logits = s.step(tok).logits;
            }
            let tg = n as f64 / t.elapsed().as_secs_f64();
            println!("{}", serde_json::json!({"threads": threads, "n": n, "prompt_tok_s": pp, "decode_tok_s": tg}));
        }
        other => {
            eprintln!("unknown mode {other:?}: greedy, ppl or speed");
            std::process::exit(2)
        }
    }
}
