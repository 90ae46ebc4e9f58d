//! The trace committed while the engine runs equals the commitment of the reference
//! trace, for any thread count; inclusion proofs verify and bind what they open.

use proptest::prelude::*;
use verity_commit::hash::{self, CHUNK};
use verity_commit::{verify_chunk, verify_node, verify_path, ModelCommitment, TraceBuilder, TraceCommitment};
use verity_engine::testgen::random_model;
use verity_engine::Engine;
use verity_model::reference;

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn engine_trace_commitment_matches_the_reference(seed in any::<u64>()) {
        let (model, inputs) = random_model(seed);
        let values = reference::run_tampered(&model, &inputs, |_, _| {}).unwrap();
        let expected = TraceCommitment::of_values(&model, &values).root();
        for threads in [1, 4] {
            let engine = Engine::new(&model).unwrap().with_threads(threads);
            let mut b = TraceBuilder::new(&model, &inputs);
            engine.run_with_trace(&inputs, |_, t| b.push(t)).unwrap();
            prop_assert_eq!(b.finish().root(), expected);
        }
    }

    #[test]
    fn element_and_weight_openings_verify_and_bind(seed in any::<u64>(), pick in any::<prop::sample::Index>()) {
        let (model, inputs) = random_model(seed);
        let values = reference::run_tampered(&model, &inputs, |_, _| {}).unwrap();
        let trace = TraceCommitment::of_values(&model, &values);
        let tensors = &trace.tensors;
        let root = trace.root();
        // Any element of any value: value leaf against the trace root, chunk against the value.
        let v = pick.index(values.len());
        let e = pick.index(values[v].data.len());
        let full = trace.prefix_tree(trace.len() - 1);
        prop_assert!(verify_path(&trace.leaf(v), v, &full.path(v), &root));
        let c = e / CHUNK;
        let chunk = &values[v].data[c * CHUNK..((c + 1) * CHUNK).min(values[v].data.len())];
        let tc = &tensors[v];
        let n = values[v].data.len();
        prop_assert!(verify_chunk(tc.bits, n, c, chunk, &tc.tree.path(c), &tc.chunk_root()));
        prop_assert_eq!(hash::tensor(tc.bits, &tc.shape, &tc.chunk_root()), trace.leaf(v));
        let mut wrong = chunk.to_vec();
        wrong[e % CHUNK] ^= 1;
        prop_assert!(!verify_chunk(tc.bits, n, c, &wrong, &tc.tree.path(c), &tc.chunk_root()));
        prop_assert!(!verify_path(&trace.leaf(v), v ^ 1, &full.path(v), &root) || trace.leaf(v) == trace.leaf(v ^ 1));
        // Any node (and so any weight) against the model commitment, which is the model id.
        let mc = ModelCommitment::new(&model);
        prop_assert_eq!(mc.root(), model.id_bytes());
        prop_assert_eq!(verity_model::Model::id_of_encoding(&model.encode()), model.id_bytes());
        prop_assert_eq!(hash::model(mc.head_bytes(), &mc.nodes_root()), model.id_bytes());
        let i = pick.index(model.nodes.len());
        let (enc, path) = mc.open_node(i);
        prop_assert!(verify_node(&enc, i, &path, &mc.nodes_root()));
        let mut bad = enc.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        prop_assert!(!verify_node(&bad, i, &path, &mc.nodes_root()));
    }
}
