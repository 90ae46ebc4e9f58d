//! Differential test of the Solidity one-step referee (`OneStepReferee`, on anvil) against
//! `verity_model::element::eval` (what the Rust referee and the reference interpreter use):
//! on random small models and on the fixtures, for every node whose op the contract covers,
//! elements recomputed from the honest operands and from tampered ones (a cheating step's
//! operands, every value redrawn in range) must be equal. Ops it does not cover must be
//! refused (`UncoveredOp`), never answered.

use verity_engine::testgen::{random_model, Rng};
use verity_model::element::{eval, operands, OpContext};
use verity_model::{arith::qrange, Model, Tensor, ValueInfo};
use verity_settlement::anvil::Anvil;
use verity_settlement::{Chain, DeployParams, GameParams, Settlement};

/// The op byte of a node encoding (after name, inputs and output).
fn tag(enc: &[u8]) -> u8 {
    let u32at = |p: usize| u32::from_le_bytes(enc[p..p + 4].try_into().unwrap()) as usize;
    let p = 4 + u32at(0);
    let p = p + 4 + 4 * u32at(p);
    enc[p + 4]
}

/// Checks `samples` elements of every node of `model` on the values `values` (one tensor per
/// value); returns (elements compared, tags compared, tags refused).
async fn check(s: &Settlement, model: &Model, values: &[Tensor], rng: &mut Rng, samples: usize) -> (usize, Vec<u8>, Vec<u8>) {
    let head = model.head();
    let n_in = model.inputs.len();
    let (mut compared, mut seen, mut refused) = (0, Vec::new(), Vec::new());
    for (i, node) in model.nodes.iter().enumerate() {
        let enc = node.encode();
        let t = tag(&enc);
        let k = n_in + i;
        let n = values[k].data.len();
        if !s.referee_covers(t).await.unwrap() {
            let err = s.referee_eval(&head, &enc, 0, &[]).await.unwrap_err();
            assert_eq!(err.rejection(), Some("UncoveredOp"), "op {t}: {err}");
            refused.push(t);
            continue;
        }
        seen.push(t);
        let infos: Vec<&ValueInfo> = node.inputs.iter().map(|&v| model.value(v)).collect();
        let cx = OpContext { op: &node.op, inputs: &infos, output: model.value(node.output) };
        let mut js = vec![0, n - 1];
        js.extend((0..samples).map(|_| rng.range(0, n as i64 - 1) as usize));
        for j in js {
            let ops = operands(cx, j);
            let vals: Vec<i32> = ops.iter().map(|&(slot, idx)| values[node.inputs[slot] as usize].data[idx]).collect();
            let want = eval(cx, j, &vals) as i64;
            let mut chunks: Vec<(u32, u32, Vec<i32>)> = Vec::new();
            for &(slot, idx) in &ops {
                let v = node.inputs[slot];
                let c = (idx / 256) as u32;
                if !chunks.iter().any(|x| x.0 == v && x.1 == c) {
                    let d = &values[v as usize].data;
                    chunks.push((v, c, d[c as usize * 256..(c as usize * 256 + 256).min(d.len())].to_vec()));
                }
            }
            let got = s.referee_eval(&head, &enc, j, &chunks).await.unwrap_or_else(|e| panic!("op {t} element {j}: {e}"));
            assert_eq!(got, want, "op {t} ({:?}) element {j} of value {k}", node.name);
            compared += 1;
        }
    }
    (compared, seen, refused)
}

/// Every value redrawn at random in its range: the operands a cheating executor might open.
fn tampered(model: &Model, values: &[Tensor], rng: &mut Rng) -> Vec<Tensor> {
    values
        .iter()
        .zip(&model.values)
        .map(|(t, v)| {
            let (lo, hi) = qrange(v.bits);
            Tensor { shape: t.shape.clone(), data: t.data.iter().map(|_| rng.range(lo, hi) as i32).collect() }
        })
        .collect()
}

#[tokio::test]
async fn solidity_referee_equals_the_rust_one() {
    let Some(anvil) = Anvil::for_test() else { return };
    let chain = Chain::connect(anvil.url(), None).await.unwrap();
    let d = chain.deploy_with_game(&DeployParams::default(), &GameParams::default()).await.unwrap();
    let s = chain.attach(&d.deployment).await.unwrap();
    for t in 0..=21u8 {
        let covered = s.referee_covers(t).await.unwrap();
        assert_eq!(covered, verity_settlement::dispute::COVERED_OPS.contains(&t), "op {t}");
    }
    let mut rng = Rng::new(7);
    let (mut total, mut tags, mut refused) = (0, std::collections::BTreeSet::new(), std::collections::BTreeSet::new());
    for seed in 0..40u64 {
        let (model, inputs) = random_model(seed);
        let honest = verity_model::reference::run_tampered(&model, &inputs, |_, _| {}).unwrap();
        for values in [honest.clone(), tampered(&model, &honest, &mut rng)] {
            let (n, seen, no) = check(&s, &model, &values, &mut rng, 2).await;
            total += n;
            tags.extend(seen);
            refused.extend(no);
        }
    }
    for name in ["cnn_digits", "mlp_digits", "lenet5", "transformer_block"] {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/");
        let model = Model::decode(&std::fs::read(format!("{root}{name}.vrt")).unwrap()).unwrap();
        let inputs = verity_engine::testgen::random_inputs(&model, 3);
        let honest = verity_model::reference::run_tampered(&model, &inputs, |_, _| {}).unwrap();
        let (n, seen, no) = check(&s, &model, &honest, &mut rng, 3).await;
        total += n;
        tags.extend(seen);
        refused.extend(no);
    }
    println!("{total} elements compared; ops compared (tags) {tags:?}; ops refused {refused:?}");
    assert!(total > 500, "{total}");
    // Const, Linear, Conv, Add, Mul, Rescale, Clamp, Lut, PRelu, MaxPool, AvgPool, Reshape, Transpose
    for t in [0u8, 1, 2, 4, 5, 7, 8, 9, 10, 11, 12, 16, 17] {
        assert!(tags.contains(&t), "op {t} never compared: {tags:?}");
    }
}
