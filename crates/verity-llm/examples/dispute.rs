//! Every cheat against the real model, and the cost of the trace commitment:
//! `cargo run --release -p verity-llm --example dispute -- MODEL.gguf [PROMPT] [MAX_TOKENS]`
//! (MODEL from `scripts/fetch-smollm2.sh`). Sampling at temperature 0.7, seed 7, so that
//! the seed cheat has something to change.

use std::time::Instant;

use verity_llm::dispute::players::record;
use verity_llm::dispute::{cheat, dispute, Cheat};
use verity_llm::model::render_chat;
use verity_llm::receipt::sign;
use verity_llm::trace::{commit_ops, commit_position, tree_root, Layout};
use verity_llm::{complete, Kernel, Model, Params};
use verity_receipt::Signer;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let path = a.get(1).expect("usage: dispute MODEL.gguf [PROMPT] [MAX_TOKENS]");
    let text = a.get(2).map(String::as_str).unwrap_or("What is the capital of France?");
    let max_tokens: u32 = a.get(3).map(|s| s.parse().expect("MAX_TOKENS")).unwrap_or(16);
    let m = Model::load(std::path::Path::new(path)).expect("model");
    let prompt = m.tokenizer.encode(&render_chat(None, text)).expect("prompt");
    let params = Params { max_tokens, temperature_milli: 700, seed: 7, ..Default::default() };
    let ly = Layout::of(&m.config);

    // Trace commitment against decoding, one thread: decode (commitment included), then
    // re-commit the recorded op outputs alone, as decoding does (`trace::commit_ops`).
    let t = Instant::now();
    let c = complete(&m, &prompt, &params, Kernel::Fast, 1).expect("complete");
    let decode = t.elapsed();
    let (_, trace) = record(&m, &prompt, &params, &mut |_, t| t, &mut |_, _, _| {}).expect("record");
    let t = Instant::now();
    let leaves: Vec<_> = trace
        .values
        .iter()
        .enumerate()
        .map(|(p, ops)| {
            let mut ranges = Vec::with_capacity(ops.len());
            for v in ops {
                let at = ranges.last().map_or(0, |r: &std::ops::Range<usize>| r.end);
                ranges.push(at..at + v.len());
            }
            let roots = commit_ops(&ops.concat(), &ranges, 1, &|f| f(0));
            commit_position(p, &roots)
        })
        .collect();
    let root = tree_root(&leaves);
    let commit = t.elapsed();
    assert_eq!(hex::encode(root), c.trace_root);
    let elems: usize = trace.values.iter().flatten().map(Vec::len).sum();
    println!(
        "{} prompt + {} generated tokens, {} positions x {} ops, {:.1} M committed elements",
        prompt.len(),
        c.tokens.len(),
        leaves.len(),
        ly.n_ops(),
        elems as f64 / 1e6
    );
    println!(
        "completion (1 thread, commitment included) {:.3} s; trace commitment alone {:.3} s = {:.1}% of it",
        decode.as_secs_f64(),
        commit.as_secs_f64(),
        100.0 * commit.as_secs_f64() / decode.as_secs_f64()
    );

    let signer = Signer::from_secret_bytes(&[3; 32]).expect("key");
    println!("{:<11} {:<10} {:>6} {:>8} {:>12} {:>12}  ended at", "cheat", "winner", "moves", "bytes", "referee_ms", "step_ms");
    for kind in Cheat::ALL {
        let Some(claim) = cheat(&m, &prompt, &params, kind).expect("cheat") else {
            println!("{:<11} changes nothing here", kind.name());
            continue;
        };
        let file = sign(&signer, &claim.completion, 1_700_000_000).expect("sign");
        let log = dispute(&m, &file, &claim.trace).expect("dispute");
        let v = &log.verdict;
        let at = v.at.map(|(p, o, e)| format!("position {p} {:?} element {e}", ly.kind(o).expect("op"))).unwrap_or_default();
        println!(
            "{:<11} {:<10} {:>6} {:>8} {:>12.3} {:>12.3}  {at}  ({})",
            kind.name(),
            v.winner.name(),
            log.moves(),
            log.bytes(),
            log.referee_time.as_secs_f64() * 1e3,
            log.step_time.as_secs_f64() * 1e3,
            claim.detail
        );
    }
}
