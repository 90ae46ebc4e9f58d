use proptest::prelude::*;
use verity_llm::dispute::players::record;
use verity_llm::dispute::{cheat, dispute, play, Cheat, Executor, Move, Party, RandomChallenger, Referee, Statement};
use verity_llm::gguf::parse;
use verity_llm::receipt::{sign, ReceiptFile};
use verity_llm::testutil::tiny_gguf;
use verity_llm::{complete, Kernel, Model, Params};
use verity_receipt::Signer;

fn tiny(seed: u64) -> Model {
    Model::from_gguf(&parse(&tiny_gguf(seed, "llama")).unwrap()).unwrap()
}

const PROMPT: [u32; 9] = [261, 10, 20, 30, 40, 50, 60, 70, 80];

fn sampled() -> Params {
    Params { max_tokens: 6, temperature_milli: 900, seed: 42, ..Default::default() }
}

fn signed(c: &verity_llm::Completion) -> ReceiptFile {
    sign(&Signer::from_secret_bytes(&[9; 32]).unwrap(), c, 1_700_000_000).unwrap()
}

#[test]
fn the_recorded_trace_is_the_completions_trace_root() {
    let m = tiny(11);
    let c = complete(&m, &PROMPT, &sampled(), Kernel::Reference, 1).unwrap();
    let (_, t) = record(&m, &PROMPT, &sampled(), &mut |_, t| t, &mut |_, _, _| {}).unwrap();
    assert_eq!(hex::encode(t.root()), c.trace_root);
}

#[test]
fn every_cheat_is_caught_and_the_honest_executor_wins() {
    let m = tiny(11);
    for (params, kinds) in
        [(sampled(), Cheat::ALL.to_vec()), (Params { max_tokens: 5, ..Default::default() }, vec![Cheat::Token, Cheat::Output])]
    {
        for kind in kinds {
            let claim = cheat(&m, &PROMPT, &params, kind).unwrap().unwrap_or_else(|| panic!("{kind:?} changes nothing"));
            let log = dispute(&m, &signed(&claim.completion), &claim.trace).unwrap();
            let v = &log.verdict;
            let want = if kind == Cheat::None { Party::Executor } else { Party::Challenger };
            assert_eq!(v.winner, want, "{kind:?} ({}): {}", claim.detail, v.reason);
            // Every game ends at one element the referee recomputed, not by a timeout.
            assert!(v.at.is_some(), "{kind:?}: {}", v.reason);
            assert!(log.rounds.iter().all(|r| r.rejected.is_none()), "{kind:?}: a move was rejected");
        }
    }
}

#[test]
fn greedy_decoding_gives_the_seed_cheat_nothing_to_change() {
    let m = tiny(11);
    assert!(cheat(&m, &PROMPT, &Params { max_tokens: 4, ..Default::default() }, Cheat::Seed).unwrap().is_none());
}

#[test]
fn self_contradicting_claims_lose_without_a_game() {
    let m = tiny(11);
    let mut c = complete(&m, &PROMPT, &sampled(), Kernel::Fast, 2).unwrap();
    c.text.push('!');
    let (_, t) = record(&m, &PROMPT, &sampled(), &mut |_, t| t, &mut |_, _, _| {}).unwrap();
    let log = dispute(&m, &signed(&c), &t).unwrap();
    assert_eq!(log.verdict.winner, Party::Challenger, "{}", log.verdict.reason);
    assert!(log.rounds.is_empty());
}

#[test]
fn statements_are_refused_for_another_model_or_an_unsigned_completion() {
    let m = tiny(11);
    let c = complete(&m, &PROMPT, &sampled(), Kernel::Fast, 2).unwrap();
    let f = signed(&c);
    assert!(Statement::from_receipt(&m, &f).is_ok());
    assert!(Statement::from_receipt(&tiny(12), &f).is_err(), "another model");
    let mut g = f.clone();
    g.completion.tokens[0] ^= 1;
    assert!(Statement::from_receipt(&m, &g).is_err(), "a completion the receipt does not sign");
    let mut g = f.clone();
    g.completion.prompt_tokens.remove(0);
    assert!(Statement::from_receipt(&m, &g).is_err(), "a truncated prompt");
}

/// Every executor move with one byte changed is rejected (or does not decode) and leaves
/// the referee where it was.
#[test]
fn tampered_moves_are_rejected() {
    let m = tiny(11);
    let c = complete(&m, &PROMPT, &sampled(), Kernel::Fast, 2).unwrap();
    let f = signed(&c);
    let (_, t) = record(&m, &PROMPT, &sampled(), &mut |_, t| t, &mut |_, _, _| {}).unwrap();
    use verity_llm::dispute::Player;
    for seed in 0..4u64 {
        let mut r = Referee::new(&m, Statement::from_receipt(&m, &f).unwrap());
        let mut ex = Executor { trace: &t };
        let mut ch = RandomChallenger { state: seed };
        let mut checked = 0;
        while let Some(turn) = r.turn() {
            let mv = if turn == Party::Executor { ex.play(&r) } else { ch.play(&r) }.expect("a move");
            if turn == Party::Executor {
                let bytes = mv.encode();
                let stride = (bytes.len() / 400).max(1);
                for i in (0..bytes.len()).step_by(stride) {
                    let mut bad = bytes.clone();
                    bad[i] ^= 1 << (i % 8);
                    let before = format!("{:?}", r.phase());
                    let accepted = Move::decode(&bad).map(|b| r.clone().apply(turn, &b).is_ok()).unwrap_or(false);
                    assert!(!accepted, "{} with byte {i} flipped was accepted", mv.name());
                    assert_eq!(before, format!("{:?}", r.phase()));
                    checked += 1;
                }
            }
            r.apply(turn, &mv).unwrap();
        }
        assert_eq!(r.verdict().unwrap().winner, Party::Executor);
        assert!(checked > 100);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// A challenger answering at random never convicts an honest executor.
    #[test]
    fn honest_executor_always_wins(state in any::<u64>(), seed in any::<u64>(), temp in 0u32..1500,
                                   prompt in proptest::collection::vec(0u32..262, 1..7)) {
        let m = tiny(5);
        let p = Params { max_tokens: 4, temperature_milli: temp, seed, ..Default::default() };
        let c = complete(&m, &prompt, &p, Kernel::Fast, 2).unwrap();
        let (_, t) = record(&m, &prompt, &p, &mut |_, t| t, &mut |_, _, _| {}).unwrap();
        let mut r = Referee::new(&m, Statement::from_receipt(&m, &signed(&c)).unwrap());
        let log = play(&mut r, &mut Executor { trace: &t }, &mut RandomChallenger { state });
        prop_assert_eq!(log.verdict.winner, Party::Executor, "{}", log.verdict.reason);
        prop_assert!(log.verdict.at.is_some() || log.verdict.reason.contains("padding"));
    }

    /// One element of any op at any position changed (and decoding continued from it):
    /// convicted at an element, whichever op it is.
    #[test]
    fn any_tampered_element_is_convicted(pos in 0usize..64, op in 0usize..64, elem in any::<usize>(), temp in 0u32..1200) {
        let m = tiny(11);
        let p = Params { max_tokens: 4, temperature_milli: temp, seed: 3, ..Default::default() };
        let (_, honest) = record(&m, &PROMPT, &p, &mut |_, t| t, &mut |_, _, _| {}).unwrap();
        let pos = pos % honest.values.len();
        let op = op % honest.values[pos].len();
        let elem = elem % honest.values[pos][op].len();
        let (run, t) = record(&m, &PROMPT, &p, &mut |_, t| t, &mut |q, o, v| if (q, o) == (pos, op) { v[elem] ^= 1 }).unwrap();
        let c = verity_llm::Completion {
            model_id: m.id_hex(), prompt_tokens: PROMPT.to_vec(), params: p, tokens: run.tokens, text: run.text,
            finish_reason: run.finish.into(), trace_root: hex::encode(t.root()),
        };
        let log = dispute(&m, &signed(&c), &t).unwrap();
        prop_assert_eq!(log.verdict.winner, Party::Challenger, "{}", log.verdict.reason);
        prop_assert!(log.verdict.at.is_some(), "{}", log.verdict.reason);
    }

    #[test]
    fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut b = b"VLLD\x01".to_vec();
        b.extend(&bytes);
        let _ = Move::decode(&b);
        let _ = Move::decode(&bytes);
    }
}
