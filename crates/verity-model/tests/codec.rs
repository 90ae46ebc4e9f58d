//! The model decoder against hostile bytes: random files, and every kind of damage to
//! real model files. It must return an error or a valid model that re-encodes to the
//! same bytes — never panic, never accept a second encoding of one model.

use proptest::prelude::*;
use verity_model::{reference, Model, ModelError, Tensor};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../../fixtures/{name}.vrt", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

const MODELS: [&str; 3] = ["mlp_digits", "cnn_digits", "transformer_block"];

#[test]
fn fixtures_round_trip_with_stable_ids() {
    for m in MODELS {
        let bytes = fixture(m);
        let model = Model::decode(&bytes).unwrap();
        assert_eq!(model.encode(), bytes);
        assert_eq!(model.id(), Model::decode(&model.encode()).unwrap().id());
    }
}

#[test]
fn every_truncation_is_rejected() {
    let bytes = fixture("cnn_digits");
    for n in 0..bytes.len() {
        let e = Model::decode(&bytes[..n]).unwrap_err();
        assert!(matches!(e, ModelError::BadMagic | ModelError::Corrupt(_) | ModelError::Invalid(_)), "{n}: {e}");
    }
}

#[test]
fn wrong_version_is_named() {
    let mut bytes = fixture("cnn_digits");
    bytes[4] = 2;
    assert_eq!(Model::decode(&bytes).unwrap_err(), ModelError::BadVersion { found: 2, supported: 1 });
}

/// Cases per property: the default keeps CI quick; `VERITY_FUZZ_CASES=N` runs a longer campaign.
fn cases(default: u32) -> u32 {
    std::env::var("VERITY_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(5000), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), header in any::<bool>()) {
        let mut b = if header { b"VRTM\x01\x00".to_vec() } else { vec![] };
        b.extend(bytes);
        if let Ok(m) = Model::decode(&b) {
            prop_assert_eq!(m.encode(), b);
        }
    }

    #[test]
    fn damaged_models_never_panic(
        model in 0..MODELS.len(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let mut b = fixture(MODELS[model]);
        for (at, v) in edits {
            let i = at.index(b.len());
            b[i] = v;
        }
        if let Some(c) = cut {
            b.truncate(c.index(b.len()));
        }
        if let Ok(m) = Model::decode(&b) {
            prop_assert_eq!(m.encode(), b);
            // A damaged but valid model (say, a changed weight) must still run safely.
            let inputs: Vec<Tensor> = m.inputs.iter().map(|&i| {
                let v = m.value(i);
                Tensor::new(v.shape.clone(), vec![1; v.shape.iter().product()])
            }).collect();
            reference::run(&m, &inputs).unwrap();
        }
    }
}
