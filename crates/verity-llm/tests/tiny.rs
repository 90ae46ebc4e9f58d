use proptest::prelude::*;
use verity_llm::gguf::parse;
use verity_llm::testutil::tiny_gguf;
use verity_llm::{complete, Kernel, LlmError, Model, Params};

fn tiny(seed: u64) -> Model {
    Model::from_gguf(&parse(&tiny_gguf(seed, "llama")).unwrap()).unwrap()
}

#[test]
fn model_id_is_pinned() {
    // Binds weights, tables, tokenizer and template: any change to the canonical encoding
    // or to the tiny generator shows here.
    assert_eq!(tiny(7).id_hex(), "b2f238e96bd7ad00ae8f567912812c997432b657de5f0ce875900245d5a32a83");
}

#[test]
fn model_id_changes_with_weights() {
    assert_ne!(tiny(7).id, tiny(8).id);
}

#[test]
fn tokenizer_round_trips_and_merges() {
    let m = tiny(1);
    let ids = m.tokenizer.encode("<|im_start|>hello tea").unwrap();
    assert_eq!(ids[0], m.tokenizer.token_id("<|im_start|>").unwrap());
    assert!(ids.contains(&m.tokenizer.token_id("hell").unwrap()), "{ids:?}");
    assert_eq!(m.tokenizer.decode(&ids).unwrap(), "<|im_start|>hello tea");
}

fn run(m: &Model, prompt: &[u32], p: &Params, k: Kernel, threads: usize) -> (Vec<u32>, String) {
    let c = complete(m, prompt, p, k, threads).unwrap();
    (c.tokens, c.trace_root)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]
    #[test]
    fn fast_equals_reference_on_every_thread_count(seed in 0u64..1000, prompt in proptest::collection::vec(0u32..262, 1..6),
                                                   temp in 0u32..1500, sample_seed in any::<u64>()) {
        let m = tiny(seed);
        let p = Params { max_tokens: 5, temperature_milli: temp, top_k: 40, top_p_milli: 900, seed: sample_seed, stop: vec![] };
        let r = run(&m, &prompt, &p, Kernel::Reference, 1);
        for t in [1, 2, 4] {
            prop_assert_eq!(&run(&m, &prompt, &p, Kernel::Fast, t), &r);
        }
    }
}

#[test]
fn sampling_is_keyed_by_the_seed() {
    let m = tiny(3);
    let p = |seed| Params { max_tokens: 12, temperature_milli: 2000, seed, ..Default::default() };
    let a = complete(&m, &[5, 6, 7], &p(1), Kernel::Fast, 2).unwrap();
    assert_eq!(a, complete(&m, &[5, 6, 7], &p(1), Kernel::Fast, 1).unwrap());
    let differ = (2..6).any(|s| complete(&m, &[5, 6, 7], &p(s), Kernel::Fast, 2).unwrap().tokens != a.tokens);
    assert!(differ, "four other seeds all gave the same 12 sampled tokens");
}

#[test]
fn bad_parameters_and_context_are_errors() {
    let m = tiny(3);
    assert!(matches!(Params::from_floats(8, -1.0, 1.0, 0, 0, vec![]), Err(LlmError::Params(_))));
    assert!(matches!(Params::from_floats(8, 0.5, 0.0, 0, 0, vec![]), Err(LlmError::Params(_))));
    assert!(matches!(Params::from_floats(0, 0.5, 1.0, 0, 0, vec![]), Err(LlmError::Params(_))));
    let long = vec![5u32; 90];
    let e = complete(&m, &long, &Params { max_tokens: 10, ..Default::default() }, Kernel::Fast, 1).unwrap_err();
    assert!(matches!(e, LlmError::Context { tokens: 90, max_new: 10, ctx: 96 }), "{e}");
    assert!(matches!(complete(&m, &[9999], &Params::default(), Kernel::Fast, 1), Err(LlmError::Params(_))));
}

#[test]
fn corrupt_truncated_and_unsupported_files_are_clear_errors() {
    let good = tiny_gguf(1, "llama");
    let mut bad = good.clone();
    bad[0] ^= 0xff;
    assert!(matches!(parse(&bad), Err(LlmError::Gguf(_))));
    // Truncated anywhere: an error, never a panic.
    for cut in (0..good.len()).step_by(good.len() / 97 + 1) {
        assert!(parse(&good[..cut]).is_err(), "truncated at {cut} parsed");
    }
    let e = parse(&tiny_gguf(1, "gpt2")).unwrap_err();
    assert!(matches!(&e, LlmError::Unsupported(s) if s.contains("gpt2")), "{e}");
}
