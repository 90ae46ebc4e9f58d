//! The model decoder against hostile bytes: random files, and every kind of damage to
//! real model files. It must return an error or a valid model that re-encodes to the
//! same bytes — never panic, never accept a second encoding of one model.

use proptest::prelude::*;
use verity_model::{id, reference, Model, ModelError, ModelHead, Tensor};

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

/// The id is the commitment the dispute referee opens: head bytes and nodes root, and it
/// agrees however it is computed (from the model, from bytes, from the head and node list).
#[test]
fn the_id_is_the_head_and_nodes_commitment() {
    for m in MODELS {
        let bytes = fixture(m);
        let model = Model::decode(&bytes).unwrap();
        let head = model.head_bytes();
        assert!(bytes.starts_with(&head));
        assert_eq!(ModelHead::decode(&head).unwrap(), model.head());
        let nodes_root = id::node_tree(model.nodes.iter().map(|n| n.encode())).root();
        let want = id::model(&head, &nodes_root);
        assert_eq!(model.id_bytes(), want, "{m}");
        assert_eq!(Model::id_of_encoding(&bytes), want, "{m}");
        assert_eq!(model.id(), want.iter().map(|b| format!("{b:02x}")).collect::<String>());
        // The old id (plain BLAKE3 of the file) is gone.
        assert_ne!(model.id_bytes(), *blake3::hash(&bytes).as_bytes());
        // The head plus every node's encoding is the whole file.
        let body: usize = model.nodes.iter().map(|n| n.encode().len()).sum();
        assert_eq!(head.len() + body, bytes.len());
    }
}

/// The id as docs/semantics.md and docs/commitments.md define it, computed here from the
/// file's bytes with Keccak-256 alone (not with the crate's own hashing), so the pinned ids in
/// fixtures/model_ids.json follow the documented definition.
#[test]
fn the_id_follows_its_documented_definition() {
    let key = |name: &str| -> [u8; 32] {
        let mut k = [b'.'; 32];
        k[..name.len()].copy_from_slice(name.as_bytes());
        k
    };
    let keccak = |domain: &str, msg: &[u8]| -> [u8; 32] {
        use sha3::{Digest, Keccak256};
        Keccak256::digest([&key(domain)[..], msg].concat()).into()
    };
    for m in MODELS {
        let bytes = fixture(m);
        let model = Model::decode(&bytes).unwrap();
        let mut at = model.head_bytes().len();
        let head = &bytes[..at];
        let root = |mut level: Vec<[u8; 32]>| {
            level.resize(level.len().next_power_of_two(), [0; 32]);
            while level.len() > 1 {
                level = level.chunks(2).map(|p| keccak("verity/v3/merkle-node", &[p[0], p[1]].concat())).collect();
            }
            level[0]
        };
        let leaves: Vec<[u8; 32]> = model
            .nodes
            .iter()
            .map(|n| {
                let len = n.encode().len();
                at += len;
                let node = &bytes[at - len..at];
                let pieces = root(node.chunks(256).map(|p| keccak("verity/v3/node-piece", p)).collect());
                keccak("verity/v3/model-node", &[&(len as u32).to_le_bytes()[..], &pieces].concat())
            })
            .collect();
        let want = keccak("verity/v3/model-id", &[head, &root(leaves)].concat());
        assert_eq!(model.id_bytes(), want, "{m}");
    }
}

/// Every part of the head changes the id, including the parts the old referee header left
/// out (names, scales, input maps), and so does every node's name.
#[test]
fn the_id_binds_every_part_of_the_head() {
    let base = Model::decode(&fixture("cnn_digits")).unwrap();
    let id = base.id_bytes();
    type Edit = (&'static str, fn(&mut Model));
    let edits: [Edit; 8] = [
        ("value name", |m| m.values[3].name.push('x')),
        ("value scale", |m| m.values[3].scale *= 2.0),
        ("value bits", |m| m.values[0].bits = 16),
        ("value shape", |m| m.values[0].shape.push(1)),
        ("input map", |m| m.input_affine = vec![verity_model::InputAffine { mul: vec![], add: vec![0.5; 64] }]),
        ("outputs", |m| m.outputs.push(m.outputs[0])),
        ("node name", |m| m.nodes[0].name.push('x')),
        ("node order", |m| m.nodes.swap(0, 1)),
    ];
    for (what, edit) in edits {
        let mut m = base.clone();
        edit(&mut m);
        assert_ne!(m.id_bytes(), id, "{what} is not bound by the id");
        assert_ne!(Model::id_of_encoding(&m.encode()), id, "{what} is not bound by the id of the bytes");
    }
}

#[test]
fn heads_are_decoded_strictly() {
    let model = Model::decode(&fixture("transformer_block")).unwrap();
    let head = model.head_bytes();
    for n in 0..head.len() {
        assert!(ModelHead::decode(&head[..n]).is_err(), "truncated head of {n} bytes accepted");
    }
    let mut long = head.clone();
    long.push(0);
    assert!(ModelHead::decode(&long).is_err());
    let mut wrong = model.head();
    wrong.n_nodes += 1;
    assert!(ModelHead::decode(&wrong.encode()).unwrap_err().to_string().contains("numbered"));
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
        let id = Model::id_of_encoding(&b);
        if let Ok(m) = Model::decode(&b) {
            prop_assert_eq!(m.id_bytes(), id);
            prop_assert_eq!(m.encode(), b.clone());
        }
        if let Ok(h) = ModelHead::decode(&b) {
            prop_assert_eq!(h.encode(), b);
        }
    }

    #[test]
    fn damaged_models_never_panic(
        model in 0..MODELS.len(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let mut b = fixture(MODELS[model]);
        let original = b.clone();
        for (at, v) in edits {
            let i = at.index(b.len());
            b[i] = v;
        }
        if let Some(c) = cut {
            b.truncate(c.index(b.len()));
        }
        // Two different files never share an id, whether or not they decode.
        let id = Model::id_of_encoding(&b);
        prop_assert_eq!(id == Model::id_of_encoding(&original), b == original);
        if let Ok(m) = Model::decode(&b) {
            prop_assert_eq!(m.id_bytes(), id);
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
