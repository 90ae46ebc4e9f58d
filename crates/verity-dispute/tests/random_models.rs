//! The same guarantees on many random valid models (every op kind, 8/16-bit values),
//! and decoders that never panic.

mod common;

use common::sign;
use proptest::prelude::*;
use verity_commit::ModelCommitment;
use verity_dispute::{
    cheat, input_roots, play, statement, Challenger, Cheat, Execution, Executor, Move, Party, RandomChallenger, Referee,
    Statement,
};
use verity_engine::testgen::random_model;
use verity_model::{reference, Model};

const TIMEOUT: u64 = 10;

/// Cases per property: the default keeps CI quick; `VERITY_FUZZ_CASES=N` runs a longer campaign.
fn cases(default: u32) -> u32 {
    std::env::var("VERITY_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(400), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn cheats_lose_and_honest_executors_win(seed in any::<u64>(), rseed in any::<u64>()) {
        let (model, inputs) = random_model(seed);
        let commitment = ModelCommitment::new(&model);
        let truth = Execution::new(&model, reference::run_tampered(&model, &inputs, |_, _| {}).unwrap());
        for kind in Cheat::ALL {
            let Some(claim) = cheat(&model, &inputs, kind).unwrap() else { continue };
            let receipt = sign(&claim, model.id_bytes());
            let st = statement(&commitment, &inputs, &receipt).unwrap();
            let mut referee = Referee::new(st.clone(), 0, TIMEOUT);
            let mut ex = Executor { model: &model, commitment: &commitment, run: &claim.run };
            let log = play(&mut referee, &mut ex, &mut Challenger { run: &truth }, TIMEOUT);
            let want = if kind == Cheat::None { Party::Executor } else { Party::Challenger };
            prop_assert_eq!(log.verdict.winner, want, "seed {} cheat {}: {}", seed, kind.name(), &log.verdict.reason);
            if let Some(altered) = &claim.altered {
                // The model it ran cannot stand in for the one it signed, neither as the
                // statement nor as the node it opens at the step.
                let altered_c = ModelCommitment::new(altered);
                prop_assert!(statement(&altered_c, &inputs, &receipt).is_err());
                let mut referee = Referee::new(st.clone(), 0, TIMEOUT);
                let mut ex = Executor { model: altered, commitment: &altered_c, run: &claim.run };
                let log = play(&mut referee, &mut ex, &mut Challenger { run: &truth }, TIMEOUT);
                prop_assert_eq!(log.verdict.winner, Party::Challenger, "seed {} altered model: {}", seed, &log.verdict.reason);
            }
            if kind == Cheat::None {
                let mut referee = Referee::new(st, 0, TIMEOUT);
                let log = play(&mut referee, &mut ex, &mut RandomChallenger { state: rseed }, TIMEOUT);
                prop_assert_eq!(log.verdict.winner, Party::Executor, "seed {}: {}", seed, &log.verdict.reason);
            }
        }
    }

    /// The statement binds the receipt's model: any flipped head bit or nodes-root bit, or
    /// a model that differs in one node's name or in its outputs, is refused.
    #[test]
    fn statements_are_bound_to_the_receipts_model(seed in any::<u64>(), pick in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (model, inputs) = random_model(seed);
        let commitment = ModelCommitment::new(&model);
        prop_assert_eq!(commitment.root(), model.id_bytes());
        prop_assert_eq!(Model::id_of_encoding(&model.encode()), model.id_bytes());
        let claim = cheat(&model, &inputs, Cheat::None).unwrap().unwrap();
        let receipt = sign(&claim, model.id_bytes());
        let roots = input_roots(&model.values, &inputs);
        let (head, nodes) = (commitment.head_bytes(), commitment.nodes_root());
        prop_assert!(Statement::from_receipt(&receipt, head, nodes, roots.clone()).is_ok());
        let mut h = head.to_vec();
        let i = pick.index(h.len());
        h[i] ^= 1 << bit;
        prop_assert!(Statement::from_receipt(&receipt, &h, nodes, roots.clone()).is_err(), "head byte {} bit {}", i, bit);
        let mut n = nodes;
        n[pick.index(32)] ^= 1 << bit;
        prop_assert!(Statement::from_receipt(&receipt, head, n, roots.clone()).is_err());
        let mut renamed = model.clone();
        renamed.nodes[pick.index(model.nodes.len())].name.push('x');
        prop_assert!(statement(&ModelCommitment::new(&renamed), &inputs, &receipt).is_err());
        let mut more_outputs = model.clone();
        more_outputs.outputs.push(more_outputs.outputs[0]);
        prop_assert!(statement(&ModelCommitment::new(&more_outputs), &inputs, &receipt).is_err());
    }

    #[test]
    fn move_decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut b = b"VRTD\x01".to_vec();
        b.extend(&bytes);
        let _ = Move::decode(&bytes);
        if let Ok(m) = Move::decode(&b) {
            prop_assert_eq!(m.encode(), b);
        }
    }
}
