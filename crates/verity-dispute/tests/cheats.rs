//! Every cheat is caught, an honest executor always wins, and the referee rejects
//! tampered, malformed or out-of-turn moves.

mod common;

use common::{fixture, honest, referee, sign};
use verity_commit::ModelCommitment;
use verity_dispute::{cheat, play, Challenger, Cheat, Executor, Move, Party, Player, RandomChallenger, Statement};
use verity_model::{Model, Tensor};
use verity_receipt::Receipt;

const TIMEOUT: u64 = 10;

/// Plays `kind` on `model` against the honest challenger; None if the cheat does not apply.
fn dispute(model: &Model, inputs: &[Tensor], kind: Cheat) -> Option<verity_dispute::GameLog> {
    let commitment = ModelCommitment::new(model);
    let claim = cheat(model, inputs, kind).unwrap()?;
    let truth = honest(model, inputs);
    let mut referee = referee(&commitment, inputs, &claim, TIMEOUT);
    let mut ex = Executor { model, commitment: &commitment, run: &claim.run };
    let mut ch = Challenger { run: &truth };
    Some(play(&mut referee, &mut ex, &mut ch, TIMEOUT))
}

fn check_all_cheats(name: &str) {
    let (model, inputs) = fixture(name);
    for kind in Cheat::ALL {
        let Some(log) = dispute(&model, &inputs, kind) else {
            // Only a duplicated layer can be a no-op (ReLU twice is ReLU): then there
            // is nothing to catch.
            assert_eq!(kind, Cheat::DuplicateLayer, "{name}: cheat {} does not apply", kind.name());
            eprintln!("{name} {:<15} not applicable: every same-type layer is idempotent here", kind.name());
            continue;
        };
        let want = if kind == Cheat::None { Party::Executor } else { Party::Challenger };
        assert_eq!(log.verdict.winner, want, "{name} {}: {}", kind.name(), log.verdict.reason);
        eprintln!(
            "{name} {:<15} winner {:<10} moves {:>2} bytes {:>6} step {:>6.1} us  ({})",
            kind.name(),
            log.verdict.winner.name(),
            log.moves(),
            log.bytes(),
            log.step_time.as_secs_f64() * 1e6,
            log.verdict.reason
        );
    }
}

#[test]
fn every_cheat_is_caught_on_the_cnn() {
    check_all_cheats("cnn_digits");
}

#[test]
fn every_cheat_is_caught_on_the_transformer() {
    check_all_cheats("transformer_block");
}

#[test]
fn every_cheat_is_caught_on_the_mlp() {
    check_all_cheats("mlp_digits");
}

#[test]
fn honest_executor_beats_random_challengers() {
    for name in ["cnn_digits", "transformer_block", "mlp_digits"] {
        let (model, inputs) = fixture(name);
        let commitment = ModelCommitment::new(&model);
        let claim = cheat(&model, &inputs, Cheat::None).unwrap().unwrap();
        for seed in 0..100u64 {
            let mut referee = referee(&commitment, &inputs, &claim, TIMEOUT);
            let mut ex = Executor { model: &model, commitment: &commitment, run: &claim.run };
            let mut ch = RandomChallenger { state: seed };
            let log = play(&mut referee, &mut ex, &mut ch, TIMEOUT);
            assert_eq!(log.verdict.winner, Party::Executor, "{name} seed {seed}: {}", log.verdict.reason);
        }
    }
}

/// Replays an honest game; before each real move, every single-byte change of a proof
/// carrying move must be refused (or fail to decode), and a move by the wrong party too.
#[test]
fn tampered_and_out_of_turn_moves_are_rejected() {
    let (model, inputs) = fixture("cnn_digits");
    let commitment = ModelCommitment::new(&model);
    let claim = cheat(&model, &inputs, Cheat::Bitflip).unwrap().unwrap();
    let truth = honest(&model, &inputs);
    let mut referee = referee(&commitment, &inputs, &claim, 1_000);
    let mut ex = Executor { model: &model, commitment: &commitment, run: &claim.run };
    let mut ch = Challenger { run: &truth };
    let mut checked = 0;
    let mut now = 0;
    while let Some(turn) = referee.turn() {
        now += 1;
        let mv = if turn == Party::Executor { ex.play(&referee) } else { ch.play(&referee) }.unwrap();
        assert!(referee.apply(turn.other(), &mv, now).is_err(), "out-of-turn {} accepted", mv.name());
        if matches!(mv, Move::Outputs { .. } | Move::Leaf { .. } | Move::Children { .. } | Move::Chunk { .. } | Move::Step(_)) {
            let bytes = mv.encode();
            let stride = (bytes.len() / 600).max(1);
            for i in (6..bytes.len()).step_by(stride) {
                let mut b = bytes.clone();
                b[i] ^= 0x01;
                if let Ok(m) = Move::decode(&b) {
                    // Try the tampered move on a copy of the current position.
                    let mut probe = referee.clone();
                    assert!(probe.apply(turn, &m, now).is_err(), "tampered {} (byte {i}) accepted", mv.name());
                    checked += 1;
                }
            }
        }
        referee.apply(turn, &mv, now).unwrap();
    }
    assert_eq!(referee.verdict().unwrap().winner, Party::Challenger);
    assert!(checked > 1000, "only {checked} tampered moves checked");
}

#[test]
fn silence_loses_by_timeout() {
    let (model, inputs) = fixture("cnn_digits");
    let commitment = ModelCommitment::new(&model);
    let claim = cheat(&model, &inputs, Cheat::None).unwrap().unwrap();
    let mut referee = referee(&commitment, &inputs, &claim, TIMEOUT);
    assert!(referee.tick(TIMEOUT).is_none());
    assert_eq!(referee.tick(TIMEOUT + 1).unwrap().winner, Party::Challenger);
    assert!(referee.apply(Party::Executor, &Move::Prefix { root: [0; 32] }, TIMEOUT + 2).is_err());
}

#[test]
fn statement_must_match_its_receipt() {
    let (model, inputs) = fixture("cnn_digits");
    let commitment = ModelCommitment::new(&model);
    let claim = cheat(&model, &inputs, Cheat::None).unwrap().unwrap();
    let receipt = sign(&claim, model.id_bytes());
    let roots = verity_dispute::input_roots(&model.values, &inputs);
    let (head, nodes) = (commitment.head_bytes(), commitment.nodes_root());
    let st = Statement::from_receipt(&receipt, head, nodes, roots.clone()).unwrap();
    assert_eq!((st.model_id(), st.trace_root(), st.output_hash()), (model.id_bytes(), claim.run.trace.root(), claim.output_hash));
    let refused = |r: &Receipt, roots: Vec<[u8; 32]>, needle: &str| {
        let e = Statement::from_receipt(r, head, nodes, roots).unwrap_err().to_string();
        assert!(e.contains(needle), "{e:?} lacks {needle:?}");
    };
    let mut wrong = roots.clone();
    wrong[0][0] ^= 1;
    refused(&receipt, wrong, "input hash");
    refused(&receipt, vec![], "input hash");
    refused(&receipt, [roots.clone(), roots.clone()].concat(), "input hash");
    // A receipt changed after signing, or signed by someone other than its executor.
    let mut forged = receipt.clone();
    forged.body.trace_root[0] ^= 1;
    refused(&forged, roots.clone(), "not signed by its executor");
    let mut forged = receipt.clone();
    forged.body.executor[0] ^= 1;
    refused(&forged, roots, "not signed by its executor");
}

/// `bitflip_at(i)` makes a claim whose dispute ends on node `i`'s own step (what the gas
/// example relies on to measure each op on chain), won by the challenger.
#[test]
fn a_bitflip_at_a_node_is_decided_by_that_nodes_step() {
    struct Spy<'a>(Executor<'a>, Option<Vec<u8>>);
    impl Player for Spy<'_> {
        fn play(&mut self, r: &verity_dispute::Referee) -> Option<Move> {
            let mv = self.0.play(r);
            if let Some(Move::Step(p)) = &mv {
                self.1 = Some(p.node.clone());
            }
            mv
        }
    }
    for name in ["transformer_block", "cnn_digits"] {
        let (model, inputs) = fixture(name);
        let commitment = ModelCommitment::new(&model);
        let truth = honest(&model, &inputs);
        let mut decided = 0;
        for i in 0..model.nodes.len() {
            let Some(claim) = verity_dispute::cheat::bitflip_at(&model, &inputs, i).unwrap() else { continue };
            let mut referee = referee(&commitment, &inputs, &claim, TIMEOUT);
            let mut ex = Spy(Executor { model: &model, commitment: &commitment, run: &claim.run }, None);
            let log = play(&mut referee, &mut ex, &mut Challenger { run: &truth }, TIMEOUT);
            assert_eq!(log.verdict.winner, Party::Challenger, "{name} node {i}: {}", log.verdict.reason);
            assert_eq!(ex.1.as_deref(), Some(&model.nodes[i].encode()[..]), "{name} node {i}: the step opened another node");
            decided += 1;
        }
        assert!(decided * 10 >= model.nodes.len() * 9, "{name}: only {decided} nodes could be tampered with");
    }
    assert!(verity_dispute::cheat::bitflip_at(&fixture("cnn_digits").0, &fixture("cnn_digits").1, 10_000).unwrap().is_none());
}
