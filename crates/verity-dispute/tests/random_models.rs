//! The same guarantees on many random valid models (every op kind, 8/16-bit values),
//! and decoders that never panic.

use proptest::prelude::*;
use verity_commit::ModelCommitment;
use verity_dispute::{cheat, play, statement, Challenger, Cheat, Execution, Executor, Move, Party, RandomChallenger, Referee};
use verity_engine::testgen::random_model;
use verity_model::reference;

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
            let st = statement(&model, &commitment, &inputs, &claim);
            let mut referee = Referee::new(st.clone(), 0, TIMEOUT).unwrap();
            let mut ex = Executor { model: &model, commitment: &commitment, run: &claim.run };
            let log = play(&mut referee, &mut ex, &mut Challenger { run: &truth }, TIMEOUT);
            let want = if kind == Cheat::None { Party::Executor } else { Party::Challenger };
            prop_assert_eq!(log.verdict.winner, want, "seed {} cheat {}: {}", seed, kind.name(), &log.verdict.reason);
            if kind == Cheat::None {
                let mut referee = Referee::new(st, 0, TIMEOUT).unwrap();
                let log = play(&mut referee, &mut ex, &mut RandomChallenger { state: rseed }, TIMEOUT);
                prop_assert_eq!(log.verdict.winner, Party::Executor, "seed {}: {}", seed, &log.verdict.reason);
            }
        }
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
