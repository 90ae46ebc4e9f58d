//! Ways an executor can cheat, each turned into the execution it would commit to and
//! the claims it would sign.

use crate::players::Execution;
use verity_model::arith::qrange;
use verity_model::{reference, Model, Op, Result, Tensor};
use verity_receipt::{EvidenceKind, ReceiptBody};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cheat {
    /// Honest execution (the challenger disputes it wrongly).
    None,
    /// Honest trace, but a different output claimed.
    Output,
    /// A different model: one weight changed.
    Weight,
    /// A different input: one input element changed.
    Input,
    /// One layer skipped (its input passed through).
    SkipLayer,
    /// One layer applied twice.
    DuplicateLayer,
    /// One layer computed at lower precision (low bits dropped).
    Precision,
    /// One bit flipped in one intermediate activation.
    Bitflip,
}

impl Cheat {
    pub const ALL: [Cheat; 8] = [
        Cheat::None,
        Cheat::Output,
        Cheat::Weight,
        Cheat::Input,
        Cheat::SkipLayer,
        Cheat::DuplicateLayer,
        Cheat::Precision,
        Cheat::Bitflip,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Cheat::None => "none",
            Cheat::Output => "output",
            Cheat::Weight => "weight",
            Cheat::Input => "input",
            Cheat::SkipLayer => "skip-layer",
            Cheat::DuplicateLayer => "duplicate-layer",
            Cheat::Precision => "precision",
            Cheat::Bitflip => "bitflip",
        }
    }

    pub fn parse(s: &str) -> Option<Cheat> {
        Cheat::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// What a (possibly cheating) executor commits to and claims.
pub struct Claim {
    pub run: Execution,
    /// The requested input's hash, which the executor signs whatever it ran.
    pub input_hash: verity_commit::Hash,
    pub output_hash: verity_commit::Hash,
    /// Which node or element was tampered with, for display.
    pub detail: String,
    /// The model the executor really ran, when it is not the one it was asked to run.
    pub altered: Option<Model>,
}

impl Claim {
    /// The receipt body an executor signs for this claim about model `model_id`.
    pub fn receipt_body(&self, model_id: verity_commit::Hash, timestamp: u64) -> ReceiptBody {
        ReceiptBody {
            model_id,
            input_hash: self.input_hash,
            output_hash: self.output_hash,
            trace_root: self.run.trace.root(),
            evidence: EvidenceKind::Dispute,
            executor: [0; 20],
            timestamp,
        }
    }
}

/// The execution and claims of an executor cheating in `cheat`'s way, or `None` when
/// this model offers no place for that cheat to change anything.
pub fn cheat(model: &Model, inputs: &[Tensor], cheat: Cheat) -> Result<Option<Claim>> {
    let n_in = model.inputs.len();
    let honest = reference::run_tampered(model, inputs, |_, _| {})?;
    let differs = |values: &[Tensor]| values != honest.as_slice();
    let input_hash = verity_commit::hash::list(&crate::input_roots(&model.values, inputs));
    let claim = |values: Vec<Tensor>, detail: String| {
        let run = Execution::new(model, values);
        let output_hash = run.outputs_root(model);
        Claim { run, input_hash, output_hash, detail, altered: None }
    };
    Ok(match cheat {
        Cheat::None => Some(claim(honest, "honest execution".into())),
        Cheat::Output => {
            let run = Execution::new(model, honest.clone());
            let o = model.outputs[0] as usize;
            let mut fake = honest[o].clone();
            let (lo, hi) = qrange(model.value(o as u32).bits);
            fake.data[0] = if fake.data[0] as i64 == hi { lo as i32 } else { fake.data[0] + 1 };
            let mut roots: Vec<_> = model.outputs.iter().map(|&o| run.trace.leaf(o as usize)).collect();
            let v = model.value(o as u32);
            roots[0] = verity_commit::TensorCommitment::new(v.bits, &fake.shape, &fake.data).root();
            Some(Claim {
                run,
                input_hash,
                output_hash: verity_commit::hash::list(&roots),
                detail: format!("output value {o} element 0 claimed as {}", fake.data[0]),
                altered: None,
            })
        }
        Cheat::Weight => {
            let mut found = None;
            'search: for (i, node) in model.nodes.iter().enumerate() {
                if let Op::Linear { weight, .. } | Op::Conv { weight, .. } = &node.op {
                    for w in 0..weight.len().min(64) {
                        let mut m = model.clone();
                        if let Op::Linear { weight, .. } | Op::Conv { weight, .. } = &mut m.nodes[i].op {
                            weight[w] = if weight[w] > 0 { -weight[w] } else { weight[w].saturating_add(5) };
                        }
                        let values = reference::run_tampered(&m, inputs, |_, _| {})?;
                        if differs(&values) {
                            let mut c = claim(values, format!("weight {w} of node {i} ({}) changed", node.name));
                            c.altered = Some(m);
                            found = Some(c);
                            break 'search;
                        }
                    }
                }
            }
            found
        }
        Cheat::Input => {
            let mut found = None;
            for e in 0..inputs[0].data.len() {
                let mut x = inputs.to_vec();
                let (lo, hi) = qrange(model.value(0).bits);
                x[0].data[e] = if x[0].data[e] as i64 >= hi - 8 { lo as i32 } else { x[0].data[e] + 8 };
                let values = reference::run_tampered(model, &x, |_, _| {})?;
                if values[n_in..] != honest[n_in..] {
                    found = Some(claim(values, format!("input element {e} changed")));
                    break;
                }
            }
            found
        }
        Cheat::SkipLayer | Cheat::DuplicateLayer | Cheat::Precision | Cheat::Bitflip => {
            let mut found = None;
            for (i, node) in model.nodes.iter().enumerate() {
                let out = model.value(node.output);
                let same_type =
                    node.inputs.first().is_some_and(|&x| model.value(x).shape == out.shape && model.value(x).bits == out.bits);
                let applicable = match cheat {
                    Cheat::SkipLayer | Cheat::DuplicateLayer => same_type && node.inputs.len() == 1,
                    _ => !matches!(node.op, Op::Const { .. }),
                };
                if !applicable {
                    continue;
                }
                let values = reference::run_tampered(model, inputs, |at, t| {
                    if at != i {
                        return;
                    }
                    match cheat {
                        Cheat::SkipLayer => t.data = honest[node.inputs[0] as usize].data.clone(),
                        Cheat::DuplicateLayer => *t = reference::eval_node(model, i, &[&t.clone()]),
                        Cheat::Precision => t.data.iter_mut().for_each(|v| *v &= !3),
                        _ => {
                            let e = t.data.len() / 2;
                            let (lo, hi) = qrange(out.bits);
                            t.data[e] = ((t.data[e] ^ 2) as i64).clamp(lo, hi) as i32;
                        }
                    }
                })?;
                if differs(&values) {
                    found = Some(claim(values, format!("node {i} ({} {}) tampered", node.op.kind(), node.name)));
                    break;
                }
            }
            found
        }
    })
}

/// One bit flipped in the output of node `i` alone (as `Cheat::Bitflip` does in the first
/// node where that changes something): a claim whose dispute ends on node `i`'s step, to
/// measure one op's on-chain step. `None` when the flip changes nothing there.
pub fn bitflip_at(model: &Model, inputs: &[Tensor], i: usize) -> Result<Option<Claim>> {
    let Some(node) = model.nodes.get(i) else { return Ok(None) };
    let bits = model.value(node.output).bits;
    let honest = reference::run_tampered(model, inputs, |_, _| {})?;
    let values = reference::run_tampered(model, inputs, |at, t| {
        if at == i && !t.data.is_empty() {
            let e = t.data.len() / 2;
            let (lo, hi) = qrange(bits);
            t.data[e] = ((t.data[e] ^ 2) as i64).clamp(lo, hi) as i32;
        }
    })?;
    if values[node.output as usize] == honest[node.output as usize] {
        return Ok(None);
    }
    let run = Execution::new(model, values);
    let output_hash = run.outputs_root(model);
    let input_hash = verity_commit::hash::list(&crate::input_roots(&model.values, inputs));
    let detail = format!("node {i} ({} {}) tampered", node.op.kind(), node.name);
    Ok(Some(Claim { run, input_hash, output_hash, detail, altered: None }))
}
