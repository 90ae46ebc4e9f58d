//! Completeness and soundness of inference proofs on the fixture models: every altered
//! statement, key, proof byte or witness value is rejected.

mod harness;

use harness::fixture;
use proptest::prelude::*;
use std::sync::OnceLock;
use verity_model::{Model, Node, Op, Tensor, ValueInfo};
use verity_zk::circuit::Kind;
use verity_zk::protocol::{keygen, prove, prove_tampered, trace_values, verify, ProvingKey};

fn outputs(model: &Model, values: &[Option<Tensor>]) -> Vec<Tensor> {
    model.outputs.iter().map(|&v| values[v as usize].clone().unwrap()).collect()
}

struct Case {
    model: Model,
    pk: ProvingKey,
    inputs: Vec<Tensor>,
    outputs: Vec<Tensor>,
    proof: Vec<u8>,
}

fn proven(name: &str) -> Case {
    let (model, inputs) = fixture(name);
    let pk = keygen(&model).unwrap();
    let values = trace_values(&model, &inputs).unwrap();
    let proof = prove(&model, &pk, &values, &mut |_, _, _| {}).unwrap();
    Case { outputs: outputs(&model, &values), model, pk, inputs, proof }
}

fn cnn() -> &'static Case {
    static C: OnceLock<Case> = OnceLock::new();
    C.get_or_init(|| proven("cnn_digits"))
}

fn check(c: &Case, proof: &[u8]) -> Result<(), String> {
    verify(&c.model, &c.pk.vk, &c.inputs, &c.outputs, proof)
}

#[test]
fn fixtures_prove_and_verify() {
    for name in ["mlp_digits", "cnn_digits"] {
        let c = proven(name);
        check(&c, &c.proof).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn every_fixture_model_proves_and_verifies() {
    for name in ["lenet5", "mlp_90k", "transformer_block"] {
        let c = proven(name);
        check(&c, &c.proof).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn altered_statements_are_rejected() {
    let c = cnn();
    let mut out = c.outputs.clone();
    out[0].data[3] = out[0].data[3].wrapping_add(1).clamp(-128, 127);
    assert_ne!(out, c.outputs);
    assert!(verify(&c.model, &c.pk.vk, &c.inputs, &out, &c.proof).is_err(), "other output");
    let mut inp = c.inputs.clone();
    inp[0].data[10] = if inp[0].data[10] == 0 { 1 } else { 0 };
    assert!(verify(&c.model, &c.pk.vk, &inp, &c.outputs, &c.proof).is_err(), "other input");
    // One weight changed: another model, another key; neither accepts the other's proof.
    let mut m2 = c.model.clone();
    let Op::Conv { weight, .. } = &mut m2.nodes[0].op else { panic!() };
    weight[0] = if weight[0] == 5 { 6 } else { 5 };
    let pk2 = keygen(&m2).unwrap();
    assert_ne!(pk2.vk.weights.root, c.pk.vk.weights.root);
    assert!(
        verify(&m2, &pk2.vk, &c.inputs, &c.outputs, &c.proof).is_err(),
        "proof for the original, checked as the altered model"
    );
    assert!(verify(&c.model, &pk2.vk, &c.inputs, &c.outputs, &c.proof).is_err(), "key of another model");
    let values2 = trace_values(&m2, &c.inputs).unwrap();
    let proof2 = prove(&m2, &pk2, &values2, &mut |_, _, _| {}).unwrap();
    assert!(check(c, &proof2).is_err(), "proof for the altered model, checked as the original");
    // A proof for another model never verifies.
    let mlp = proven("mlp_digits");
    assert!(verify(&c.model, &c.pk.vk, &mlp.inputs, &mlp.outputs, &mlp.proof).is_err());
    assert!(verify(&mlp.model, &mlp.pk.vk, &c.inputs, &c.outputs, &c.proof).is_err());
}

#[test]
fn truncated_and_extended_proofs_are_rejected() {
    let c = cnn();
    for cut in [0, 1, 31, 32, 100, c.proof.len() / 2, c.proof.len() - 1] {
        let err = check(c, &c.proof[..cut]).unwrap_err();
        assert!(err.contains("truncated"), "{cut}: {err}");
    }
    let mut long = c.proof.clone();
    long.push(0);
    assert!(check(c, &long).unwrap_err().contains("trailing"));
}

/// A prover who changes any single witness value (an activation, a remainder limb, a
/// clamp excess, a sign, a lane max, a multiplicity...) cannot make the proof verify: on
/// the MLP fixture and on random models that together use every op.
#[test]
fn a_lying_prover_is_caught_in_every_witness_column() {
    // The fixture, then random models, each kept only if it brings an op not yet covered.
    let mut models = vec![fixture("mlp_digits")];
    let mut kinds: std::collections::BTreeSet<&str> = models[0].0.nodes.iter().map(|n| n.op.kind()).collect();
    for seed in 0..200 {
        let (m, i) = verity_engine::testgen::random_model(seed);
        if m.nodes.iter().any(|n| !kinds.contains(n.op.kind())) {
            kinds.extend(m.nodes.iter().map(|n| n.op.kind()));
            models.push((m, i));
        }
    }
    let mut tried = 0;
    for (model, inputs) in &models {
        let pk = keygen(model).unwrap();
        let values = trace_values(model, inputs).unwrap();
        let outs = outputs(model, &values);
        let circuit = verity_zk::circuit::build(model, &values, true).unwrap();
        let witness: Vec<usize> =
            (0..circuit.columns.len()).filter(|&c| matches!(circuit.columns[c].kind, Kind::Witness)).collect();
        // Every column with VERITY_ZK_TAMPER_ALL=1; by default every third, at an offset
        // that moves with the model, so each kind of column is still hit somewhere.
        let stride = if std::env::var_os("VERITY_ZK_TAMPER_ALL").is_some() { 1 } else { 3 };
        for &col in witness.iter().skip(tried % stride).step_by(stride) {
            let column = &circuit.columns[col];
            let proof = prove_tampered(model, &pk, &values, &mut |_, _, _| {}, |c| {
                c.columns[col].values.as_mut().unwrap()[0] += 1;
            })
            .unwrap();
            assert!(verify(model, &pk.vk, inputs, &outs, &proof).is_err(), "tampered column '{}' verified", column.name);
            tried += 1;
        }
    }
    eprintln!("{tried} witness columns tampered in {} models", models.len());
    assert!(tried > 100, "only {tried} witness columns");
    assert_eq!(kinds.len(), verity_engine::testgen::OP_KINDS.len(), "ops covered: {kinds:?}");
}

#[test]
fn flipped_bytes_are_rejected() {
    let c = cnn();
    // Every byte of the head (roots, lookup sums, first sumchecks), then a spread.
    let head = 1500.min(c.proof.len());
    let spread = (0..400).map(|k| head + (k * 7919 * 13) % (c.proof.len() - head));
    for i in (0..head).step_by(3).chain(spread) {
        let mut bad = c.proof.clone();
        bad[i] ^= 1 << (i % 8);
        assert!(check(c, &bad).is_err(), "flipped bit in byte {i} verified");
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("VERITY_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_mutations_never_verify(pos in any::<prop::sample::Index>(), xor in 1u8.., extra in prop::collection::vec(any::<u8>(), 0..3)) {
        let c = cnn();
        let mut bad = c.proof.clone();
        let i = pos.index(bad.len());
        bad[i] ^= xor;
        bad.extend(extra);
        prop_assert!(check(c, &bad).is_err());
    }

    #[test]
    fn random_bytes_never_verify_or_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        prop_assert!(check(cnn(), &bytes).is_err());
    }
}

/// A quotient bound of 2^61 or more (a bias near 2^31 rescaled by 2^30 without a shift)
/// would let `Q + q` and `Q − q` wrap modulo p: refused by name, not proven.
#[test]
fn quotient_bounds_past_the_limb_range_are_refused() {
    let v = |name: &str, bits: u8, n: usize| ValueInfo { name: name.into(), shape: vec![1, n], bits, scale: 1.0 };
    let model = Model {
        values: vec![v("x", 16, 2), v("y", 8, 1)],
        inputs: vec![0],
        input_affine: vec![],
        outputs: vec![1],
        nodes: vec![Node {
            name: "huge".into(),
            op: Op::Linear { weight: vec![127, 127], bias: vec![i32::MAX], rq: verity_model::Requant::uniform(1 << 30, 0) },
            inputs: vec![0],
            output: 1,
        }],
    };
    model.validate().unwrap();
    let pk = keygen(&model).unwrap();
    let values = trace_values(&model, &[Tensor::new(vec![1, 2], vec![1, -1])]).unwrap();
    let Err(err) = prove(&model, &pk, &values, &mut |_, _, _| {}) else { panic!("a model outside the range was proven") };
    assert!(err.contains("huge") && err.contains("outside the proof's range"), "{err}");
    let err = verity_zk::protocol::Verifier::new(&model, &pk.vk).err().expect("refused");
    assert!(err.contains("outside the proof's range"), "{err}");
}
