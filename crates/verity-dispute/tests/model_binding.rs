//! Regressions for issue 10, part 2: the referee decided against a model commitment that
//! nothing tied to the receipt, so whoever wrote the statement chose the winner. Shown on
//! the CNN, MLP and transformer fixtures: an honest executor lost when the challenger
//! substituted the commitment, and an executor that ran an altered model beat an honest
//! challenger. Now the statement is the signed receipt plus openings of its model id.

mod common;

use common::{fixture, honest, sign, FIXTURES};
use verity_commit::ModelCommitment;
use verity_dispute::messages::StepProof;
use verity_dispute::{
    cheat, input_roots, play, statement, Challenger, Cheat, Executor, Move, Party, Phase, Player, RandomChallenger, Referee,
    Statement,
};
use verity_model::{Model, Op};
use verity_receipt::{ClaimField, Claims, ReceiptError};

const TIMEOUT: u64 = 10;

/// The fixture's model with one weight changed, the way the cheating executor ran it.
fn with_one_weight_changed(model: &Model, inputs: &[verity_model::Tensor]) -> Model {
    cheat(model, inputs, Cheat::Weight).unwrap().unwrap().altered.expect("the weight cheat says which model it ran")
}

fn assert_refused(r: Result<Statement, verity_dispute::DisputeError>, needle: &str, what: &str) {
    match r {
        Ok(_) => panic!("{what}: statement accepted"),
        Err(e) => assert!(e.to_string().contains(needle), "{what}: {e} lacks {needle:?}"),
    }
}

/// (a) The challenger substitutes another model's commitment: another fixture, the same
/// model with one weight changed, or with one value renamed (same integers, other bytes).
#[test]
fn a_substituted_commitment_is_refused_and_the_honest_executor_wins() {
    for (name, other) in [("cnn_digits", "mlp_digits"), ("mlp_digits", "transformer_block"), ("transformer_block", "cnn_digits")]
    {
        let (model, inputs) = fixture(name);
        let published = ModelCommitment::new(&model);
        let claim = cheat(&model, &inputs, Cheat::None).unwrap().unwrap();
        let receipt = sign(&claim, model.id_bytes());
        let roots = input_roots(&model.values, &inputs);
        let mut renamed = model.clone();
        renamed.values[model.inputs.len()].name.push('\'');
        let substitutes = [
            ("another fixture", ModelCommitment::new(&fixture(other).0)),
            ("one weight changed", ModelCommitment::new(&with_one_weight_changed(&model, &inputs))),
            ("a value renamed", ModelCommitment::new(&renamed)),
        ];
        let mut refused = 0;
        for (what, sub) in &substitutes {
            assert_ne!(sub.root(), model.id_bytes(), "{name}: {what} has the published id");
            let at = |head: &[u8], nodes| Statement::from_receipt(&receipt, head, nodes, roots.clone());
            assert_refused(at(sub.head_bytes(), sub.nodes_root()), "the receipt is for model", what);
            refused += 1;
            // Half substitutions: the published head with the other nodes root, and back
            // (where that part differs; otherwise it is the published opening).
            if sub.nodes_root() != published.nodes_root() {
                assert_refused(at(published.head_bytes(), sub.nodes_root()), "the receipt is for model", what);
                refused += 1;
            }
            if sub.head_bytes() != published.head_bytes() {
                assert_refused(at(sub.head_bytes(), published.nodes_root()), "the receipt is for model", what);
                refused += 1;
            }
        }
        // What remains is the one statement the receipt fixes, and the honest executor wins it.
        let st = statement(&published, &inputs, &receipt).unwrap();
        assert_eq!(st.model_id(), model.id_bytes());
        let truth = honest(&model, &inputs);
        let mut ex = Executor { model: &model, commitment: &published, run: &claim.run };
        let log = play(&mut Referee::new(st.clone(), 0, TIMEOUT), &mut ex, &mut Challenger { run: &truth }, TIMEOUT);
        assert_eq!(log.verdict.winner, Party::Executor, "{name}: {}", log.verdict.reason);
        for seed in 0..20 {
            let log = play(&mut Referee::new(st.clone(), 0, TIMEOUT), &mut ex, &mut RandomChallenger { state: seed }, TIMEOUT);
            assert_eq!(log.verdict.winner, Party::Executor, "{name} seed {seed}: {}", log.verdict.reason);
        }
        eprintln!("{name}: {refused} substituted statements refused; the honest executor won 21 games");
    }
}

/// (b) The executor ran the model with one weight changed but signs the published id. It
/// can open neither the altered model against that id, nor an altered node in the game.
#[test]
fn an_altered_model_under_the_published_id_loses_to_the_honest_challenger() {
    for name in FIXTURES {
        let (model, inputs) = fixture(name);
        let published = ModelCommitment::new(&model);
        let claim = cheat(&model, &inputs, Cheat::Weight).unwrap().unwrap();
        let altered = claim.altered.clone().unwrap();
        let altered_c = ModelCommitment::new(&altered);
        let receipt = sign(&claim, model.id_bytes());
        assert_refused(statement(&altered_c, &inputs, &receipt), "the receipt is for model", "altered openings");
        let truth = honest(&model, &inputs);
        for (opens, m, c) in [("published", &model, &published), ("altered", &altered, &altered_c)] {
            let mut referee = Referee::new(statement(&published, &inputs, &receipt).unwrap(), 0, TIMEOUT);
            let mut ex = Executor { model: m, commitment: c, run: &claim.run };
            let log = play(&mut referee, &mut ex, &mut Challenger { run: &truth }, TIMEOUT);
            assert_eq!(
                log.verdict.winner,
                Party::Challenger,
                "{name}, executor opening the {opens} model: {}",
                log.verdict.reason
            );
            let step_refused = log
                .rounds
                .iter()
                .any(|r| r.kind == "step" && r.rejected.as_deref().is_some_and(|e| e.contains("not in the model")));
            assert_eq!(step_refused, opens == "altered", "{name}: {opens} node opening: {:?}", log.rounds.last());
            eprintln!("{name}: executor opening the {opens} model loses: {}", log.verdict.reason);
        }
    }
}

/// (c) The executor ran the altered model and signs the altered model's id. That receipt
/// is a claim about another model: a challenger on the published model cannot open a game
/// on it (and a client of the published model rejects it outright); the only game it
/// allows is about the altered model, and its statement names that model.
#[test]
fn an_altered_model_under_its_own_id_is_a_claim_about_another_model() {
    for name in FIXTURES {
        let (model, inputs) = fixture(name);
        let published = ModelCommitment::new(&model);
        let claim = cheat(&model, &inputs, Cheat::Weight).unwrap().unwrap();
        let altered = claim.altered.clone().unwrap();
        let altered_c = ModelCommitment::new(&altered);
        let receipt = sign(&claim, altered.id_bytes());
        assert_ne!(receipt.body.model_id, model.id_bytes());
        assert_refused(statement(&published, &inputs, &receipt), "the receipt is for model", "published openings");
        let truth = honest(&model, &inputs);
        let expected =
            Claims { model_id: model.id_bytes(), input_hash: claim.input_hash, output_hash: truth.outputs_root(&model) };
        assert!(matches!(receipt.verify(&expected), Err(ReceiptError::ClaimMismatch { field: ClaimField::ModelId, .. })));
        let st = statement(&altered_c, &inputs, &receipt).unwrap();
        assert_eq!(st.model_id(), altered.id_bytes());
        // About the altered model the claim is true, so disputing it with the published
        // model's execution fails — which is right, and says nothing about the published model.
        let mut ex = Executor { model: &altered, commitment: &altered_c, run: &claim.run };
        let log = play(&mut Referee::new(st, 0, TIMEOUT), &mut ex, &mut Challenger { run: &truth }, TIMEOUT);
        assert_eq!(log.verdict.winner, Party::Executor, "{name}: {}", log.verdict.reason);
    }
}

/// Any change to the opened head (each byte, two bits each; truncations; extensions) or to
/// the nodes root (each bit) is refused.
#[test]
fn every_byte_of_the_head_and_every_bit_of_the_nodes_root_is_bound() {
    for name in FIXTURES {
        let (model, inputs) = fixture(name);
        let published = ModelCommitment::new(&model);
        let claim = cheat(&model, &inputs, Cheat::None).unwrap().unwrap();
        let receipt = sign(&claim, model.id_bytes());
        let roots = input_roots(&model.values, &inputs);
        let (head, nodes) = (published.head_bytes(), published.nodes_root());
        let at = |h: &[u8], n| Statement::from_receipt(&receipt, h, n, roots.clone());
        assert!(at(head, nodes).is_ok());
        let mut refused = 0;
        for i in 0..head.len() {
            for bit in [0x01, 0x80] {
                let mut h = head.to_vec();
                h[i] ^= bit;
                assert_refused(at(&h, nodes), "the receipt is for model", &format!("{name} head byte {i}"));
                refused += 1;
            }
        }
        for i in 0..256 {
            let mut n = nodes;
            n[i / 8] ^= 1 << (i % 8);
            assert_refused(at(head, n), "the receipt is for model", &format!("{name} nodes root bit {i}"));
            refused += 1;
        }
        for n in 0..head.len() {
            assert_refused(at(&head[..n], nodes), "the receipt is for model", &format!("{name} head cut to {n}"));
            refused += 1;
        }
        // Moving the first node into the head (the same bytes, split differently).
        let moved = [head, model.nodes[0].encode().as_slice()].concat();
        assert_refused(at(&moved, nodes), "the receipt is for model", "first node moved into the head");
        refused += 1;
        eprintln!("{name}: {refused} altered head / nodes-root openings refused ({} head bytes)", head.len());
    }
}

/// At the final step, every node opening other than the committed node at its index is
/// rejected: other nodes, the right node at other indices, the node renamed or with one
/// weight changed (from their own trees), flipped bytes, random bytes, bad path lengths.
#[test]
fn step_openings_of_anything_but_the_committed_node_are_rejected() {
    for name in FIXTURES {
        let (model, inputs) = fixture(name);
        let published = ModelCommitment::new(&model);
        let claim = cheat(&model, &inputs, Cheat::Bitflip).unwrap().unwrap();
        let truth = honest(&model, &inputs);
        let mut referee = common::referee(&published, &inputs, &claim, 1_000);
        let mut ex = Executor { model: &model, commitment: &published, run: &claim.run };
        let mut ch = Challenger { run: &truth };
        let mut now = 0;
        while !matches!(referee.phase(), Phase::Step { .. }) {
            now += 1;
            let turn = referee.turn().unwrap();
            let mv = if turn == Party::Executor { ex.play(&referee) } else { ch.play(&referee) }.unwrap();
            referee.apply(turn, &mv, now).unwrap();
        }
        let Phase::Step { k, .. } = *referee.phase() else { unreachable!() };
        let Some(Move::Step(honest_proof)) = ex.play(&referee) else { panic!("no step proof") };
        let idx = k - model.inputs.len();
        let mut fakes: Vec<(String, Vec<u8>, Vec<[u8; 32]>)> = Vec::new();
        for i in (0..model.nodes.len()).filter(|&i| i != idx) {
            let (enc, path) = published.open_node(i);
            fakes.push((format!("node {i} with its own path"), enc, path));
            fakes.push((format!("node {idx} with node {i}'s path"), honest_proof.node.clone(), published.open_node(i).1));
        }
        let mut renamed = model.clone();
        renamed.nodes[idx].name.push('x');
        let mut reweighted = model.clone();
        if let Op::Linear { weight, .. } | Op::Conv { weight, .. } = &mut reweighted.nodes[idx].op {
            weight[0] = weight[0].wrapping_add(1);
        } else if let Some(i) = model.nodes.iter().position(|n| matches!(n.op, Op::Linear { .. } | Op::Conv { .. })) {
            // Not a weighted node: alter another node's weight, which changes the nodes root.
            if let Op::Linear { weight, .. } | Op::Conv { weight, .. } = &mut reweighted.nodes[i].op {
                weight[0] = weight[0].wrapping_add(1);
            }
        }
        for (what, m) in [("renamed", &renamed), ("reweighted", &reweighted)] {
            let (enc, path) = ModelCommitment::new(m).open_node(idx);
            if enc != honest_proof.node || m.id_bytes() != model.id_bytes() {
                fakes.push((format!("node {idx} {what}, from its own tree"), enc, path));
            }
        }
        let stride = (honest_proof.node.len() / 200).max(1);
        for i in (0..honest_proof.node.len()).step_by(stride) {
            let mut enc = honest_proof.node.clone();
            enc[i] ^= 0x01;
            fakes.push((format!("node byte {i} flipped"), enc, honest_proof.node_path.clone()));
        }
        let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ k as u64;
        for n in 0..32 {
            let bytes: Vec<u8> = (0..n * 7)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            fakes.push((format!("{} random bytes", bytes.len()), bytes, honest_proof.node_path.clone()));
        }
        let mut short = honest_proof.node_path.clone();
        short.pop();
        fakes.push(("path one level short".into(), honest_proof.node.clone(), short));
        let mut long = honest_proof.node_path.clone();
        long.push([0; 32]);
        fakes.push(("path one level long".into(), honest_proof.node.clone(), long));
        for (what, node, node_path) in &fakes {
            let mv = Move::Step(StepProof { node: node.clone(), node_path: node_path.clone(), ..honest_proof.clone() });
            let mut probe = referee.clone();
            assert!(probe.apply(Party::Executor, &mv, now + 1).is_err(), "{name}: step with {what} accepted");
        }
        referee.apply(Party::Executor, &Move::Step(honest_proof), now + 1).unwrap();
        assert_eq!(referee.verdict().unwrap().winner, Party::Challenger);
        eprintln!("{name}: {} forged node openings at the step (value {k}) rejected", fakes.len());
    }
}
