//! The engine against the reference interpreter, bit for bit, on random valid models.

use std::collections::BTreeMap;

use proptest::prelude::*;
use verity_engine::testgen::{random_inputs, random_model, OP_KINDS};
use verity_engine::{Engine, EngineError, Simd};
use verity_model::{reference, Model, ModelError, Node, Op, Requant, Tensor, ValueInfo, Window};

/// Runs `engine` with and without a trace and checks both against the reference.
fn check(model: &Model, inputs: &[Tensor], engine: &Engine) -> Result<(), TestCaseError> {
    let want = reference::run(model, inputs).unwrap();
    let want_trace = reference::trace(model, inputs).unwrap();
    prop_assert_eq!(&engine.run(inputs).unwrap(), &want);
    let mut trace = Vec::new();
    let got = engine
        .run_with_trace(inputs, |i, t| {
            assert_eq!(i, trace.len(), "nodes are reported in order");
            trace.push(t.clone());
        })
        .unwrap();
    prop_assert_eq!(&got, &want);
    prop_assert_eq!(&trace, &want_trace);
    // A second run reuses the workspace and must not see the first run's values.
    let other = random_inputs(model, 7);
    prop_assert_eq!(engine.run(&other).unwrap(), reference::run(model, &other).unwrap());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// On every instruction set the kernels have (SSE2 and plain Rust besides the best).
    #[test]
    fn matches_reference_on_one_thread(seed in any::<u64>()) {
        let (model, inputs) = random_model(seed);
        for simd in [Simd::Best, Simd::Baseline, Simd::Portable] {
            check(&model, &inputs, &Engine::new(&model).unwrap().with_threads(1).with_simd(simd))?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Four threads, with every op split however small, must give the same bits.
    #[test]
    fn matches_reference_on_four_threads(seed in any::<u64>()) {
        let (model, inputs) = random_model(seed);
        for simd in [Simd::Best, Simd::Baseline] {
            check(&model, &inputs, &Engine::new(&model).unwrap().with_threads(4).with_min_parallel_work(0).with_simd(simd))?;
        }
    }
}

/// A longer run over many more seeds: `cargo test -p verity-engine -- --ignored`.
#[test]
#[ignore]
fn soak_many_seeds() {
    for seed in 1_000_000..1_200_000u64 {
        let (model, inputs) = random_model(seed);
        let threads = if seed % 10 == 0 { 4 } else { 1 };
        let simd = [Simd::Best, Simd::Baseline, Simd::Portable][(seed % 3) as usize];
        let engine = Engine::new(&model).unwrap().with_threads(threads).with_min_parallel_work(0).with_simd(simd);
        check(&model, &inputs, &engine).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

#[test]
fn engine_is_shareable_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Engine>();
}

#[test]
fn rejects_invalid_models() {
    let mut model = linear_model(4, 3, 8);
    model.values[1].shape = vec![1, 5];
    assert!(matches!(Engine::new(&model), Err(EngineError::Model(ModelError::Invalid(_)))));
}

#[test]
fn generator_covers_every_op_kind() {
    let mut counts: BTreeMap<&str, usize> = OP_KINDS.iter().map(|&k| (k, 0)).collect();
    let (mut grouped, mut dilated, mut strided_pool, mut padded_pool) = (0, 0, 0, 0);
    for seed in 0..400 {
        let (model, _) = random_model(seed);
        for node in &model.nodes {
            *counts.get_mut(node.op.kind()).unwrap() += 1;
            match &node.op {
                Op::Conv { groups, window, .. } => {
                    grouped += (*groups > 1) as usize;
                    dilated += (window.dilation != [1, 1]) as usize;
                }
                Op::MaxPool { window } | Op::AvgPool { window, .. } => {
                    strided_pool += (window.stride != [1, 1]) as usize;
                    padded_pool += (window.pads != [0; 4]) as usize;
                }
                _ => {}
            }
        }
    }
    for (kind, n) in &counts {
        assert!(*n >= 20, "op {kind} generated only {n} times: {counts:?}");
    }
    assert!(grouped >= 5 && dilated >= 5 && strided_pool >= 5 && padded_pool >= 5);
}

fn value(shape: &[usize], bits: u8) -> ValueInfo {
    ValueInfo { name: format!("v{shape:?}"), shape: shape.to_vec(), bits, scale: 1.0 }
}

/// `x[1, k] -> Linear -> out`, a single-input model.
fn linear_model(k: usize, n: usize, bits: u8) -> Model {
    let weight = (0..n * k).map(|i| ((i * 37) % 255) as i8).collect();
    let bias = (0..n as i32).map(|j| j * 100 - 400).collect();
    let op = Op::Linear { weight, bias, rq: Requant::uniform(3, 12) };
    Model {
        values: vec![value(&[1, k], bits), value(&[1, n], 8)],
        inputs: vec![0],
        outputs: vec![1],
        nodes: vec![Node { name: "fc".into(), op, inputs: vec![0], output: 1 }],
        ..Model::default()
    }
}

#[test]
fn rejects_bad_inputs_without_panicking() {
    let model = linear_model(4, 3, 8);
    model.validate().unwrap();
    let engine = Engine::new(&model).unwrap();
    let is_input_error = |r: Result<Vec<Tensor>, EngineError>| matches!(r, Err(EngineError::Model(ModelError::Input(_))));
    assert!(is_input_error(engine.run(&[])));
    assert!(is_input_error(engine.run(&[Tensor::new(vec![1, 4], vec![0; 4]), Tensor::new(vec![1, 4], vec![0; 4])])));
    assert!(is_input_error(engine.run(&[Tensor::new(vec![4, 1], vec![0; 4])])));
    assert!(is_input_error(engine.run(&[Tensor { shape: vec![1, 4], data: vec![0; 3] }])));
    assert!(is_input_error(engine.run(&[Tensor::new(vec![1, 4], vec![0, 128, 0, 0])])));
    assert!(is_input_error(engine.run(&[Tensor::new(vec![1, 4], vec![0, 0, -129, 0])])));
    assert!(is_input_error(engine.run_with_trace(&[], |_, _| panic!("no node runs on bad inputs"))));
    // The engine is still usable afterwards.
    let ok = [Tensor::new(vec![1, 4], vec![1, -128, 127, 5])];
    assert_eq!(engine.run(&ok).unwrap(), reference::run(&model, &ok).unwrap());
}

/// Ops large enough to pass the default parallel threshold, on the global pool and on
/// dedicated pools of several sizes.
#[test]
fn large_ops_split_across_threads_give_the_same_bits() {
    let model = {
        let conv = Op::Conv {
            weight: (0..16 * 8 * 9).map(|i| ((i * 61) % 255) as i8).collect(),
            bias: (0..16).map(|c| c * 10).collect(),
            window: Window { kernel: [3, 3], stride: [1, 1], pads: [1, 1, 1, 1], dilation: [1, 1] },
            groups: 1,
            rq: Requant { mult: (1..=16).collect(), shift: vec![14; 16] },
        };
        let fc = Op::Linear {
            weight: (0..10 * 16 * 24 * 24).map(|i| ((i * 13) % 255) as i8).collect(),
            bias: vec![7; 10],
            rq: Requant::uniform(1, 14),
        };
        Model {
            values: vec![
                value(&[1, 8, 24, 24], 8),
                value(&[1, 16, 24, 24], 8),
                value(&[1, 16 * 24 * 24], 8),
                value(&[1, 10], 16),
            ],
            inputs: vec![0],
            outputs: vec![3, 1],
            nodes: vec![
                Node { name: "conv".into(), op: conv, inputs: vec![0], output: 1 },
                Node { name: "flat".into(), op: Op::Reshape, inputs: vec![1], output: 2 },
                Node { name: "fc".into(), op: fc, inputs: vec![2], output: 3 },
            ],
            ..Model::default()
        }
    };
    model.validate().unwrap();
    let inputs = random_inputs(&model, 1);
    let want = reference::run(&model, &inputs).unwrap();
    assert_eq!(Engine::new(&model).unwrap().run(&inputs).unwrap(), want);
    for threads in [1, 2, 3, 4] {
        assert_eq!(Engine::new(&model).unwrap().with_threads(threads).run(&inputs).unwrap(), want, "{threads} threads");
    }
}

#[test]
fn concurrent_runs_share_one_engine() {
    let (model, _) = random_model(42);
    let engine = Engine::new(&model).unwrap().with_threads(2).with_min_parallel_work(0);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (model, engine) = (&model, &engine);
            s.spawn(move || {
                for i in 0..20 {
                    let inputs = random_inputs(model, t * 100 + i);
                    assert_eq!(engine.run(&inputs).unwrap(), reference::run(model, &inputs).unwrap());
                }
            });
        }
    });
}
