//! Ways an executor can cheat on a completion, each turned into the trace it would commit
//! to and the completion it would sign (always for the requested prompt, parameters and
//! the published model's id).

use super::players::{record, Trace};
use crate::error::Result;
use crate::generate::{Completion, Params, Run};
use crate::model::{Model, WKind};
use crate::trace::{Layout, OpKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cheat {
    /// Honest execution (the challenger disputes it anyway).
    None,
    /// Honest trace, but another last token claimed.
    Output,
    /// One logit changed in the trace.
    Logit,
    /// A different model: one weight code changed, the published id signed.
    Weight,
    /// One layer skipped at every position.
    SkipLayer,
    /// One bit flipped in one activation.
    Bitflip,
    /// One generated token swapped for another, decoding continued from it.
    Token,
    /// Sampled with another seed than the signed one.
    Seed,
    /// The first prompt tokens dropped from the context.
    Truncate,
}

impl Cheat {
    pub const ALL: [Cheat; 9] = [
        Cheat::None,
        Cheat::Output,
        Cheat::Logit,
        Cheat::Weight,
        Cheat::SkipLayer,
        Cheat::Bitflip,
        Cheat::Token,
        Cheat::Seed,
        Cheat::Truncate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Cheat::None => "none",
            Cheat::Output => "output",
            Cheat::Logit => "logit",
            Cheat::Weight => "weight",
            Cheat::SkipLayer => "skip-layer",
            Cheat::Bitflip => "bitflip",
            Cheat::Token => "token",
            Cheat::Seed => "seed",
            Cheat::Truncate => "truncate",
        }
    }

    pub fn parse(s: &str) -> Option<Cheat> {
        Cheat::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// What a (possibly cheating) executor commits to and signs.
pub struct Claim {
    pub completion: Completion,
    pub trace: Trace,
    pub detail: String,
}

fn other_token(model: &Model, t: u32) -> u32 {
    let mut x = t;
    loop {
        x = (x + 1) % model.config.vocab as u32;
        if x != model.eos && x != model.im_end {
            return x;
        }
    }
}

/// The executor's claim when cheating in `kind`'s way, or None when that cheat changes
/// nothing here (a seed under greedy decoding, a one-token prompt to truncate, …).
pub fn cheat(model: &Model, prompt: &[u32], params: &Params, kind: Cheat) -> Result<Option<Claim>> {
    let honest = || record(model, prompt, params, &mut |_, t| t, &mut |_, _, _| {});
    let ly = Layout::of(&model.config);
    let n = prompt.len();
    let claim = |run: Run, trace: Trace, detail: String| Claim {
        completion: Completion {
            model_id: model.id_hex(),
            prompt_tokens: prompt.to_vec(),
            params: params.clone(),
            tokens: run.tokens,
            text: run.text,
            finish_reason: run.finish.into(),
            trace_root: hex::encode(trace.root()),
        },
        trace,
        detail,
    };
    let c = match kind {
        Cheat::None => {
            let (run, trace) = honest()?;
            return Ok(Some(claim(run, trace, "honest execution".into())));
        }
        Cheat::Output => {
            let (mut run, trace) = honest()?;
            let Some(last) = run.tokens.last_mut() else { return Ok(None) };
            *last = other_token(model, *last);
            let mut text = model.tokenizer.decode(&run.tokens)?;
            if let Some(cut) = params.stop.iter().filter_map(|s| text.find(s.as_str())).min() {
                text.truncate(cut);
            }
            run.text = text;
            let d = format!("last token claimed as {} (trace honest)", run.tokens[run.tokens.len() - 1]);
            claim(run, trace, d)
        }
        Cheat::Logit | Cheat::Bitflip | Cheat::SkipLayer => {
            let (pos, op, elem) = match kind {
                Cheat::Logit => (n - 1, ly.index(OpKind::Logits), 0),
                Cheat::Bitflip => (n / 2, ly.index(OpKind::Act(ly.n_layer / 2)), ly.n_ff / 2),
                _ => (usize::MAX, usize::MAX, 0),
            };
            let l = ly.n_layer / 2;
            let (inp, r1, r2) = (ly.index(ly.resid_in(l)), ly.index(OpKind::Resid1(l)), ly.index(OpKind::Resid2(l)));
            let mut saved = Vec::new();
            let (run, trace) = record(model, prompt, params, &mut |_, t| t, &mut |p, o, v| match kind {
                Cheat::SkipLayer if o == inp => saved = v.clone(),
                Cheat::SkipLayer if o == r1 || o == r2 => *v = saved.clone(),
                Cheat::Logit if (p, o) == (pos, op) => v[elem] = v[elem].saturating_add(1),
                Cheat::Bitflip if (p, o) == (pos, op) => v[elem] ^= 2,
                _ => {}
            })?;
            let d = match kind {
                Cheat::SkipLayer => format!("layer {l} skipped at every position"),
                _ => format!("position {pos} op {op} ({:?}) element {elem} changed", ly.kind(op).expect("op")),
            };
            claim(run, trace, d)
        }
        Cheat::Weight => {
            let mut altered = model.clone();
            let w = &mut altered.layers[0].wq;
            w.q[0] = if w.kind == WKind::Q4_1 { (w.q[0] + 1) & 15 } else { w.q[0].wrapping_add(1) };
            w.repack();
            let (run, trace) = record(&altered, prompt, params, &mut |_, t| t, &mut |_, _, _| {})?;
            claim(run, trace, "layer 0 attn_q weight (0, 0) changed, the published id signed".into())
        }
        Cheat::Token => {
            let (run, _) = honest()?;
            if run.tokens.is_empty() {
                return Ok(None);
            }
            let s = (run.tokens.len() as u64 - 1) / 2;
            let swap = other_token(model, run.tokens[s as usize]);
            let (run, trace) = record(model, prompt, params, &mut |st, t| if st == s { swap } else { t }, &mut |_, _, _| {})?;
            claim(run, trace, format!("generated token {s} swapped for {swap}"))
        }
        Cheat::Seed => {
            let p = Params { seed: params.seed.wrapping_add(1), ..params.clone() };
            let (run, trace) = record(model, prompt, &p, &mut |_, t| t, &mut |_, _, _| {})?;
            claim(run, trace, format!("sampled with seed {}, signed seed {}", p.seed, params.seed))
        }
        Cheat::Truncate => {
            if n < 2 {
                return Ok(None);
            }
            let k = (n / 8).max(1);
            let (run, trace) = record(model, &prompt[k..], params, &mut |_, t| t, &mut |_, _, _| {})?;
            // Padded with made-up positions (copies of the last) to the length the signed
            // prompt calls for, as a cheater that keeps the trace's shape would: otherwise
            // its tree does not even have the shape the referee asks about, and it loses by
            // having no move rather than at an element.
            let mut values = trace.values;
            let last = values.last().cloned().unwrap_or_default();
            values.extend(std::iter::repeat_n(last, k));
            claim(run, Trace::from_values(values), format!("the first {k} of {n} prompt tokens dropped"))
        }
    };
    let (run, trace) = honest()?;
    if c.completion.tokens == run.tokens && c.trace.root() == trace.root() {
        return Ok(None);
    }
    Ok(Some(c))
}
