//! Differential test of the Solidity one-step referee (`OneStepReferee`, on anvil) against
//! `verity_model::element::eval` (what the Rust referee and the reference interpreter use):
//! on random small models (every canonical op among them) and on the fixtures, elements
//! recomputed from the honest operands and from tampered ones (a cheating step's operands,
//! every value redrawn in range) must be equal, op by op. A step that leaves an operand's
//! chunk out, or a node with an op byte no canonical op has, is refused, never answered.

use std::collections::BTreeSet;

use verity_engine::testgen::{random_model, Rng, OP_KINDS};
use verity_model::element::{eval, operands, OpContext};
use verity_model::{arith::qrange, Model, Tensor, ValueInfo};
use verity_settlement::anvil::Anvil;
use verity_settlement::{Chain, DeployParams, GameParams, Settlement};

/// Where the op byte of a node encoding is (after name, inputs and output).
fn tag_at(enc: &[u8]) -> usize {
    let u32at = |p: usize| u32::from_le_bytes(enc[p..p + 4].try_into().unwrap()) as usize;
    let p = 4 + u32at(0);
    p + 4 + 4 * u32at(p) + 4
}

async fn referee() -> Option<(Anvil, Settlement)> {
    let anvil = Anvil::for_test()?;
    let chain = Chain::connect(anvil.url(), None).await.unwrap();
    let d = chain.deploy_with_game(&DeployParams::default(), &GameParams::default()).await.unwrap();
    let s = chain.attach(&d.deployment).await.unwrap();
    Some((anvil, s))
}

/// What `check` saw: elements compared, and the op kinds compared.
#[derive(Default)]
struct Seen {
    elements: usize,
    kinds: BTreeSet<&'static str>,
    refused: usize,
    pieces_refused: usize,
    max_pieces: usize,
}

/// The referee's value with only the node pieces it reads opened: from piece 0, the piece it
/// names as not opened is added until it answers (as `Settlement::send_step` finds them).
async fn eval_opening_pieces(
    s: &Settlement,
    head: &verity_model::ModelHead,
    enc: &[u8],
    j: usize,
    chunks: &[(u32, u32, Vec<i32>)],
) -> (Result<i64, verity_settlement::SettlementError>, Vec<usize>) {
    let mut pieces = vec![0];
    loop {
        let r = s.referee_eval_pieces(head, enc, &pieces, j, chunks).await;
        match &r {
            Err(verity_settlement::SettlementError::Rejected { reason, .. }) if reason.starts_with("NodeByteNotOpened") => {
                let offset: usize = reason
                    .trim_start_matches(|c: char| !c.is_ascii_digit())
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(!pieces.contains(&(offset / 256)), "piece {} named again", offset / 256);
                pieces.push(offset / 256);
                pieces.sort();
            }
            _ => return (r, pieces),
        }
    }
}

/// Compares `samples` random elements (and the first and last) of every node of `model` on
/// `values` (one tensor per value). For the first element with operands, the step without
/// its last operand chunk must be refused.
async fn check(s: &Settlement, model: &Model, values: &[Tensor], rng: &mut Rng, samples: usize, seen: &mut Seen) {
    let head = model.head();
    let n_in = model.inputs.len();
    for (i, node) in model.nodes.iter().enumerate() {
        let enc = node.encode();
        let t = enc[tag_at(&enc)];
        let k = n_in + i;
        let n = values[k].data.len();
        let infos: Vec<&ValueInfo> = node.inputs.iter().map(|&v| model.value(v)).collect();
        let cx = OpContext { op: &node.op, inputs: &infos, output: model.value(node.output) };
        let mut js = vec![0, n - 1];
        js.extend((0..samples).map(|_| rng.range(0, n as i64 - 1) as usize));
        let mut tried_missing = false;
        for j in js {
            let ops = operands(cx, j);
            let vals: Vec<i32> = ops.iter().map(|&(slot, idx)| values[node.inputs[slot] as usize].data[idx]).collect();
            let want = eval(cx, j, &vals) as i64;
            // The chunks an honest step opens: each operand's, once.
            let mut chunks: Vec<(u32, u32, Vec<i32>)> = Vec::new();
            for &(slot, idx) in &ops {
                let v = node.inputs[slot];
                let c = (idx / 256) as u32;
                if !chunks.iter().any(|x| x.0 == v && x.1 == c) {
                    let d = &values[v as usize].data;
                    chunks.push((v, c, d[c as usize * 256..(c as usize * 256 + 256).min(d.len())].to_vec()));
                }
            }
            let (got, pieces) = eval_opening_pieces(s, &head, &enc, j, &chunks).await;
            let got = got.unwrap_or_else(|e| panic!("op {t} element {j}: {e}"));
            assert_eq!(got, want, "op {} ({:?}) element {j} of value {k}", node.op.kind(), node.name);
            seen.elements += 1;
            if !tried_missing && !chunks.is_empty() {
                tried_missing = true;
                chunks.pop();
                let err = s.referee_eval_pieces(&head, &enc, &pieces, j, &chunks).await.unwrap_err();
                assert_eq!(err.rejection(), Some("OperandNotOpened"), "op {t} element {j} without a chunk: {err}");
                seen.refused += 1;
                // Each piece opened is read: without it the step is refused, never read as zeros.
                if pieces.len() > 1 {
                    let err = s.referee_eval_pieces(&head, &enc, &pieces[1..], j, &chunks).await.unwrap_err();
                    assert_eq!(err.rejection(), Some("NodeByteNotOpened"), "op {t} element {j} without piece {}", pieces[0]);
                    seen.pieces_refused += 1;
                }
            }
            seen.max_pieces = seen.max_pieces.max(pieces.len());
        }
        seen.kinds.insert(node.op.kind());
    }
}

/// Every value redrawn at random in its range: the operands a cheating executor might open.
fn tampered(model: &Model, values: &[Tensor], rng: &mut Rng) -> Vec<Tensor> {
    values
        .iter()
        .zip(&model.values)
        .map(|(t, v)| {
            let (lo, hi) = qrange(v.bits);
            Tensor { shape: t.shape.clone(), data: t.data.iter().map(|_| rng.range(lo, hi) as i32).collect() }
        })
        .collect()
}

fn every_kind() -> BTreeSet<&'static str> {
    OP_KINDS.iter().copied().collect()
}

#[tokio::test]
async fn solidity_referee_equals_the_rust_one() {
    let Some((_anvil, s)) = referee().await else { return };
    let mut rng = Rng::new(7);
    let (mut honest_seen, mut cheat_seen) = (Seen::default(), Seen::default());
    for seed in 0..40u64 {
        let (model, inputs) = random_model(seed);
        let honest = verity_model::reference::run_tampered(&model, &inputs, |_, _| {}).unwrap();
        check(&s, &model, &honest, &mut rng, 2, &mut honest_seen).await;
        let cheat = tampered(&model, &honest, &mut rng);
        check(&s, &model, &cheat, &mut rng, 2, &mut cheat_seen).await;
    }
    let mut fixtures = Seen::default();
    for name in ["cnn_digits", "mlp_digits", "lenet5", "transformer_block"] {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/");
        let model = Model::decode(&std::fs::read(format!("{root}{name}.vrt")).unwrap()).unwrap();
        let inputs = verity_engine::testgen::random_inputs(&model, 3);
        let honest = verity_model::reference::run_tampered(&model, &inputs, |_, _| {}).unwrap();
        check(&s, &model, &honest, &mut rng, 3, &mut fixtures).await;
    }
    let total = honest_seen.elements + cheat_seen.elements + fixtures.elements;
    println!(
        "{total} elements compared ({} honest, {} tampered, {} on fixtures); {} steps with a chunk left out refused",
        honest_seen.elements,
        cheat_seen.elements,
        fixtures.elements,
        honest_seen.refused + cheat_seen.refused + fixtures.refused
    );
    println!(
        "at most {} node pieces opened by a step on a fixture; {} steps with a read piece left out refused",
        fixtures.max_pieces,
        honest_seen.pieces_refused + cheat_seen.pieces_refused + fixtures.pieces_refused
    );
    assert!(total > 1000, "{total}");
    assert!(fixtures.pieces_refused > 0, "no fixture step read more than one node piece");
    // Every canonical op compared, on honest and on cheating operands.
    assert_eq!(honest_seen.kinds, every_kind(), "op kinds compared on honest operands");
    assert_eq!(cheat_seen.kinds, every_kind(), "op kinds compared on tampered operands");
    for kind in ["LayerNorm", "Linear", "MatMul", "Softmax", "Transpose", "Reshape", "Lut", "Add", "Mul", "Const"] {
        assert!(fixtures.kinds.contains(kind), "the transformer block's {kind} never compared");
    }
}

/// The op coverage of the on-chain referee: every canonical op kind (`OP_KINDS`, which
/// `testgen` draws from and `Op::kind` names) must have a one-step check on chain, so a
/// dispute ending on any node can be decided. Fails when an op is added to the model
/// without its Solidity check.
#[tokio::test]
async fn every_canonical_op_has_an_on_chain_check() {
    let Some((_anvil, s)) = referee().await else { return };
    let mut tags: BTreeSet<u8> = BTreeSet::new();
    let mut kinds: BTreeSet<&str> = BTreeSet::new();
    let mut seed = 0;
    while kinds != every_kind() && seed < 500 {
        let (model, _) = random_model(seed);
        for node in &model.nodes {
            let enc = node.encode();
            let t = enc[tag_at(&enc)];
            assert!(s.referee_covers(t).await.unwrap(), "{} (op byte {t}) has no on-chain one-step check", node.op.kind());
            tags.insert(t);
            kinds.insert(node.op.kind());
        }
        seed += 1;
    }
    assert_eq!(kinds, every_kind(), "testgen drew every op kind");
    assert_eq!(tags.len(), OP_KINDS.len(), "one op byte per kind: {tags:?}");
    // An op byte past the canonical ones is refused by the referee, not evaluated.
    let next = tags.last().unwrap() + 1;
    assert!(!s.referee_covers(next).await.unwrap());
    let (model, inputs) = random_model(0);
    let node = &model.nodes[0];
    let mut enc = node.encode();
    let at = tag_at(&enc);
    enc[at] = next;
    let values = verity_model::reference::run_tampered(&model, &inputs, |_, _| {}).unwrap();
    let chunks: Vec<(u32, u32, Vec<i32>)> =
        node.inputs.iter().map(|&v| (v, 0, values[v as usize].data.iter().take(256).copied().collect())).collect();
    let err = s.referee_eval(&model.head(), &enc, 0, &chunks).await.unwrap_err();
    assert_eq!(err.rejection(), Some("UncoveredOp"), "{err}");
}
