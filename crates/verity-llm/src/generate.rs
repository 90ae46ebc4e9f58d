//! Decoding: greedy, or exact sampling (integer probabilities from the exp table, a
//! counter-based PRNG keyed by the seed), stop sequences, max tokens; the completion record
//! and its trace root.

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use crate::error::{LlmError, Result};
use crate::forward::{exp_neg, Kernel, Session};
use crate::model::Model;
use crate::trace::{commit_op, commit_position, Hash, Layout, OpKind};

/// Sampling parameters as integers, so that they hash and compare exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    pub max_tokens: u32,
    /// Temperature in thousandths; 0 means greedy.
    pub temperature_milli: u32,
    /// 0 means no top-k cut.
    pub top_k: u32,
    /// Top-p in thousandths, 1..=1000 (1000: no cut).
    pub top_p_milli: u32,
    pub seed: u64,
    pub stop: Vec<String>,
}

impl Default for Params {
    fn default() -> Self {
        Params { max_tokens: 64, temperature_milli: 0, top_k: 0, top_p_milli: 1000, seed: 0, stop: Vec::new() }
    }
}

impl Params {
    /// From user-facing floats; out-of-range values are errors.
    pub fn from_floats(
        max_tokens: u32,
        temperature: f64,
        top_p: f64,
        top_k: u32,
        seed: u64,
        stop: Vec<String>,
    ) -> Result<Params> {
        if !(0.0..=10.0).contains(&temperature) {
            return Err(LlmError::Params(format!("temperature {temperature} is outside [0, 10]")));
        }
        if !(top_p > 0.0 && top_p <= 1.0) {
            return Err(LlmError::Params(format!("top_p {top_p} is outside (0, 1]")));
        }
        let p = Params {
            max_tokens,
            temperature_milli: (temperature * 1000.0).round() as u32,
            top_k,
            top_p_milli: ((top_p * 1000.0).round() as u32).max(1),
            seed,
            stop,
        };
        p.validate()?;
        Ok(p)
    }

    pub fn validate(&self) -> Result<()> {
        if self.max_tokens == 0 {
            return Err(LlmError::Params("max_tokens must be at least 1".into()));
        }
        if self.temperature_milli > 10_000 || self.top_p_milli == 0 || self.top_p_milli > 1000 {
            return Err(LlmError::Params("temperature_milli in 0..=10000, top_p_milli in 1..=1000".into()));
        }
        if self.stop.iter().any(|s| s.is_empty()) {
            return Err(LlmError::Params("a stop sequence is empty".into()));
        }
        Ok(())
    }
}

/// The counter-based PRNG: the first 8 bytes (LE) of `blake3("verity-llm/sample" ‖ seed ‖ step)`.
pub fn prng(seed: u64, step: u64) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(b"verity-llm/sample\0");
    h.update(&seed.to_le_bytes());
    h.update(&step.to_le_bytes());
    let b = h.finalize();
    u64::from_le_bytes(b.as_bytes()[..8].try_into().expect("8 bytes"))
}

/// Picks the next token from Q16 logits. Ties go to the lower token id.
pub fn pick(model: &Model, logits: &[i32], p: &Params, step: u64) -> u32 {
    let argmax = || logits.iter().enumerate().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0))).map(|(i, _)| i as u32).unwrap_or(0);
    if p.temperature_milli == 0 {
        return argmax();
    }
    let mx = *logits.iter().max().expect("non-empty vocabulary") as i64;
    // Weight of token j: exp(-(max - l_j)·1000/T) in Q30.
    let mut cand: Vec<(u32, i64)> = logits
        .iter()
        .enumerate()
        .map(|(j, l)| {
            let t = ((mx - *l as i64) as i128 * 1000 / p.temperature_milli as i128).min(i64::MAX as i128) as i64;
            (j as u32, exp_neg(model, t))
        })
        .filter(|(_, w)| *w > 0)
        .collect();
    cand.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    if p.top_k > 0 {
        cand.truncate(p.top_k as usize);
    }
    let total: i128 = cand.iter().map(|c| c.1 as i128).sum();
    if p.top_p_milli < 1000 {
        let mut acc: i128 = 0;
        let mut keep = cand.len();
        for (i, c) in cand.iter().enumerate() {
            acc += c.1 as i128;
            if acc * 1000 >= total * p.top_p_milli as i128 {
                keep = i + 1;
                break;
            }
        }
        cand.truncate(keep);
    }
    let total: u128 = cand.iter().map(|c| c.1 as u128).sum();
    let u = (prng(p.seed, step) as u128 * total) >> 64;
    let mut acc: u128 = 0;
    for c in &cand {
        acc += c.1 as u128;
        if u < acc {
            return c.0;
        }
    }
    cand.last().map(|c| c.0).unwrap_or_else(argmax)
}

/// What a completion is: enough to re-derive it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    pub model_id: String,
    pub prompt_tokens: Vec<u32>,
    pub params: Params,
    pub tokens: Vec<u32>,
    pub text: String,
    /// Why decoding ended: "stop" (end token or stop sequence) or "length".
    pub finish_reason: String,
    /// The trace root (blake3 Merkle tree over the position leaves, prompt positions included).
    pub trace_root: String,
}

/// The trace root over the position leaves (`trace.rs`).
pub fn trace_root(leaves: &[Hash]) -> Hash {
    crate::trace::tree_root(leaves)
}

/// Checks what [`complete`] would refuse.
pub fn check_request(model: &Model, prompt: &[u32], params: &Params) -> Result<()> {
    params.validate()?;
    if prompt.is_empty() {
        return Err(LlmError::Params("the prompt has no tokens".into()));
    }
    if let Some(t) = prompt.iter().find(|t| **t as usize >= model.config.vocab) {
        return Err(LlmError::Params(format!("prompt token {t} is outside the vocabulary")));
    }
    if prompt.len() + params.max_tokens as usize > model.context {
        return Err(LlmError::Context { tokens: prompt.len(), max_new: params.max_tokens as usize, ctx: model.context });
    }
    Ok(())
}

/// A decoding run's result: the completion's fields and the position leaves.
pub struct Run {
    pub tokens: Vec<u32>,
    pub text: String,
    pub finish: &'static str,
    pub leaves: Vec<Hash>,
}

/// The callbacks of [`drive`]: `choose(step, picked)` returns the token to commit and feed
/// (the picked one when honest), `hook(pos, op, values)` sees (and may change) every op
/// output, and `on_text` gets the text decoded so far after every generated token (stop
/// sequences already cut), so that a server can stream it.
pub struct Observer<'a> {
    pub choose: &'a mut dyn FnMut(u64, u32) -> u32,
    pub hook: &'a mut dyn FnMut(usize, usize, &mut Vec<i32>),
    /// Called with the text so far after every generated token; `Break` stops the
    /// generation with [`LlmError::Cancelled`] (a streaming client went away).
    pub on_text: &'a mut dyn FnMut(&str) -> ControlFlow<()>,
}

/// Decodes under an [`Observer`]; `complete` is this with nothing changed or watched.
pub fn drive(model: &Model, prompt: &[u32], params: &Params, kernel: Kernel, threads: usize, obs: Observer) -> Result<Run> {
    let Observer { choose, hook, on_text } = obs;
    check_request(model, prompt, params)?;
    let next_op = Layout::of(&model.config).index(OpKind::Next);
    let mut s = Session::new(model, kernel, threads);
    let mut leaves = Vec::new();
    // A position's leaf is finished once its next token is known.
    let finish_pos =
        |leaves: &mut Vec<Hash>, hook: &mut dyn FnMut(usize, usize, &mut Vec<i32>), mut roots: Vec<Hash>, next: u32| {
            let pos = leaves.len();
            let mut v = vec![next as i32];
            hook(pos, next_op, &mut v);
            roots.push(commit_op(&v));
            leaves.push(commit_position(pos, &roots));
        };
    let mut last = None;
    for (i, t) in prompt.iter().enumerate() {
        let pos = s.pos;
        let st = s.step_with(*t, &mut |op, v| hook(pos, op, v));
        if i + 1 < prompt.len() {
            finish_pos(&mut leaves, hook, st.op_roots, prompt[i + 1]);
        } else {
            last = Some(st);
        }
    }
    let mut pending = last.expect("non-empty prompt");
    let mut tokens = Vec::new();
    let mut finish = "length";
    let mut text = String::new();
    for step in 0..params.max_tokens as u64 {
        let next = choose(step, pick(model, &pending.logits, params, step));
        finish_pos(&mut leaves, hook, std::mem::take(&mut pending.op_roots), next);
        if next == model.eos || next == model.im_end {
            finish = "stop";
            break;
        }
        tokens.push(next);
        text = model.tokenizer.decode(&tokens)?;
        if let Some(cut) = params.stop.iter().filter_map(|st| text.find(st.as_str())).min() {
            text.truncate(cut);
            finish = "stop";
            if on_text(&text).is_break() {
                return Err(LlmError::Cancelled);
            }
            break;
        }
        if on_text(&text).is_break() {
            return Err(LlmError::Cancelled);
        }
        if step + 1 == params.max_tokens as u64 {
            break;
        }
        let pos = s.pos;
        pending = s.step_with(next, &mut |op, v| hook(pos, op, v));
    }
    Ok(Run { tokens, text, finish, leaves })
}

/// Runs a completion from prompt tokens.
pub fn complete(model: &Model, prompt: &[u32], params: &Params, kernel: Kernel, threads: usize) -> Result<Completion> {
    complete_streaming(model, prompt, params, kernel, threads, &mut |_| ControlFlow::Continue(()))
}

/// [`complete`], calling `on_text` with the text so far after every generated token; the
/// last call's text is the completion's text.
pub fn complete_streaming(
    model: &Model,
    prompt: &[u32],
    params: &Params,
    kernel: Kernel,
    threads: usize,
    on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
) -> Result<Completion> {
    let obs = Observer { choose: &mut |_, t| t, hook: &mut |_, _, _| {}, on_text };
    let r = drive(model, prompt, params, kernel, threads, obs)?;
    Ok(Completion {
        model_id: model.id_hex(),
        prompt_tokens: prompt.to_vec(),
        params: params.clone(),
        tokens: r.tokens,
        text: r.text,
        finish_reason: r.finish.into(),
        trace_root: hex::encode(trace_root(&r.leaves)),
    })
}
