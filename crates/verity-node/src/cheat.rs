//! TEST ONLY (`verity node --cheat-weight`, refused unless `VERITY_ALLOW_CHEAT=1`): the
//! cheat the network's verifiers must catch. The node serves each model with one weight
//! changed while its receipts name the real model, as a dishonest executor saving work or
//! serving a tampered model would.

use verity_model::{Model, Op};

/// Changes one weight: in the first convolution if there is one (a kernel weight touches
/// every output position, so almost every input shows the change), else the largest one of
/// the last linear layer (whose inputs are the activations most likely non-zero).
pub fn change_one_weight(model: &mut Model) {
    let conv = model.nodes.iter().position(|n| matches!(n.op, Op::Conv { .. }));
    let linear = model.nodes.iter().rposition(|n| matches!(n.op, Op::Linear { .. }));
    let Some(i) = conv.or(linear) else { return };
    let (Op::Conv { weight, .. } | Op::Linear { weight, .. }) = &mut model.nodes[i].op else { return };
    let Some((j, _)) = weight.iter().enumerate().max_by_key(|(_, w)| w.unsigned_abs()) else { return };
    let w = weight[j];
    weight[j] = if w > 0 { -w } else { (i16::from(w) + 64).clamp(-127, 127) as i8 };
    tracing::warn!("TEST-ONLY cheat: weight {j} of node {i} changed from {w} to {}", weight[j]);
}
