//! Completeness and soundness on random canonical models: every random model whose ops
//! all have an argument proves and verifies, and its proof fails for any other output.

use verity_engine::testgen::random_model;
use verity_zk::circuit::unsupported;
use verity_zk::protocol::{keygen, prove, trace_values, verify};

#[test]
fn random_models_prove_and_verify() {
    let cases: u64 = std::env::var("VERITY_ZK_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(40);
    let (mut proved, mut refused) = (0, std::collections::BTreeMap::<String, usize>::new());
    for seed in 0..cases {
        let (model, inputs) = random_model(seed);
        if let Some(why) = unsupported(&model) {
            let op = why.split_whitespace().nth(1).unwrap_or("?").to_string();
            *refused.entry(op).or_default() += 1;
            assert!(keygen(&model).is_err());
            continue;
        }
        let pk = keygen(&model).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let values = trace_values(&model, &inputs).unwrap();
        let proof = prove(&model, &pk, &values, &mut |_, _, _| {}).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let outputs: Vec<_> = model.outputs.iter().map(|&v| values[v as usize].clone().unwrap()).collect();
        verify(&model, &pk.vk, &inputs, &outputs, &proof).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let mut wrong = outputs.clone();
        let (lo, hi) = verity_model::arith::qrange(model.value(model.outputs[0]).bits);
        let x = &mut wrong[0].data[0];
        *x = if (*x as i64) < hi { *x + 1 } else { lo as i32 };
        assert!(verify(&model, &pk.vk, &inputs, &wrong, &proof).is_err(), "seed {seed}: a wrong output verified");
        proved += 1;
    }
    eprintln!("proved {proved} random models; refused (by op): {refused:?}");
    assert!(refused.is_empty(), "refused: {refused:?}");
}
