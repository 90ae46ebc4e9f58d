//! The engine's specialized kernels against the reference interpreter, bit for bit, on
//! models built to reach them: small-channel convolutions with every padding, stride,
//! dilation and group variant and real-model requantization (multipliers near 2^31,
//! shifts of 32 and more), Linear and MatMul on the same pair GEMM, Clamps fused into
//! the op before them, pools at every edge, and sums at the limit of i32. Each model runs on every instruction set the CPU has,
//! inline and split across four threads, with and without a trace.

use proptest::prelude::*;
use verity_engine::testgen::{random_inputs, Rng};
use verity_engine::{Engine, Simd};
use verity_model::arith::qrange;
use verity_model::{reference, Model, Node, Op, Requant, Tensor, ValueInfo, Window};

fn value(shape: Vec<usize>, bits: u8) -> ValueInfo {
    ValueInfo { name: format!("v{shape:?}"), shape, bits, scale: 1.0 }
}

/// Every engine configuration: instruction set x (inline, four threads).
fn engines(model: &Model) -> Vec<(String, Engine)> {
    let mut all = Vec::new();
    for simd in [Simd::Best, Simd::Baseline, Simd::Portable] {
        all.push((format!("{simd:?}, 1 thread"), Engine::new(model).unwrap().with_threads(1).with_simd(simd)));
        let split = Engine::new(model).unwrap().with_threads(4).with_min_parallel_work(0).with_simd(simd);
        all.push((format!("{simd:?}, 4 threads"), split));
    }
    all
}

fn check(model: &Model, inputs: &[Tensor]) -> Result<(), TestCaseError> {
    model.validate().map_err(|e| TestCaseError::fail(format!("invalid test model: {e}")))?;
    let want = reference::run(model, inputs).unwrap();
    let want_trace = reference::trace(model, inputs).unwrap();
    for (name, engine) in engines(model) {
        prop_assert_eq!(&engine.run(inputs).unwrap(), &want, "{}", name);
        let mut trace = Vec::new();
        let got = engine.run_with_trace(inputs, |_, t| trace.push(t.clone())).unwrap();
        prop_assert_eq!(&got, &want, "{} (traced)", name);
        prop_assert_eq!(&trace, &want_trace, "{} (trace)", name);
    }
    Ok(())
}

/// Bit length of `v > 0`.
fn bitlen(v: i128) -> i64 {
    128 - v.max(1).leading_zeros() as i64
}

/// Requantization for sums up to `acc`: either real-model style (multiplier near 2^31,
/// shift >= 32 as calibrated importers produce) or small (shift often below 32), per
/// channel or shared, sometimes negative; the shift brings typical sums near the
/// output range and keeps the validator's 62-bit bound.
fn requant(rng: &mut Rng, acc: i128, channels: usize, bits: u8) -> Requant {
    let n = if rng.chance(50) { channels } else { 1 };
    let big = rng.chance(70);
    // Sometimes per-channel styles mix, so some shifts are below 32 and some above.
    let mixed = rng.chance(15);
    let mut rq = Requant { mult: vec![], shift: vec![] };
    for _ in 0..n {
        let big = if mixed { rng.chance(50) } else { big };
        let m = if big {
            rng.range(1 << 30, (1 << 31) - 1)
        } else {
            let b = rng.range(1, 15);
            rng.range(1, 1 << b)
        };
        let mut m = if rng.chance(10) { -m } else { m } as i32;
        // Large sums (16-bit operands, long rows) leave less room for the multiplier.
        while acc * (m as i128).abs() + 1 >= verity_model::LIMIT {
            m /= 2;
        }
        let typical = acc * (m as i128).abs() / 16;
        let mut s = (bitlen(typical) - (bits as i64 - 1) - rng.range(-1, 3)).clamp(0, 60) as u8;
        while acc * (m as i128).abs() + (1i128 << s) >= verity_model::LIMIT {
            s -= 1;
        }
        rq.mult.push(m);
        rq.shift.push(s);
    }
    // The validator pairs the largest multiplier with the largest shift.
    let m_max = rq.mult.iter().map(|&m| (m as i128).abs()).max().unwrap();
    for s in rq.shift.iter_mut() {
        while acc * m_max + (1i128 << *s) >= verity_model::LIMIT {
            *s -= 1;
        }
    }
    rq
}

/// A random convolution of a fresh input, then maybe a Clamp (fused unless the conv's
/// output is also a graph output) and maybe a pool.
fn conv_model(seed: u64) -> Model {
    let mut rng = Rng::new(seed);
    let c_in = rng.range(1, 6) as usize;
    let divisors: Vec<usize> = (1..=c_in).filter(|g| c_in.is_multiple_of(*g)).collect();
    let groups = *rng.pick(&divisors);
    let c_out = groups * rng.range(1, 6) as usize;
    let (x_bits, out_bits) = (if rng.chance(70) { 8 } else { 16 }, if rng.chance(70) { 8 } else { 16 });
    let (window, h, w) = loop {
        let kernel = [rng.range(1, 3) as usize, rng.range(1, 3) as usize];
        let stride = [rng.range(1, 3) as usize, rng.range(1, 3) as usize];
        let dilation = [rng.range(1, 2) as usize, rng.range(1, 2) as usize];
        let pads = [0; 4].map(|_| rng.range(0, 2) as usize);
        let window = Window { kernel, stride, pads, dilation };
        // Mostly small images; sometimes wide enough for several position blocks.
        let side = |rng: &mut Rng| if rng.chance(20) { rng.range(10, 24) } else { rng.range(1, 9) } as usize;
        let (h, w) = (side(&mut rng), side(&mut rng));
        if window.out_size(h, w).is_some() {
            break (window, h, w);
        }
    };
    let batch = rng.range(1, 2) as usize;
    let k = c_in / groups * window.kernel[0] * window.kernel[1];
    let wmax = *rng.pick(&[1i64, 7, 127, 128]);
    let weight: Vec<i8> = (0..c_out * k).map(|_| rng.range(-wmax, wmax.min(127)) as i8).collect();
    let bias: Vec<i32> = (0..c_out).map(|_| rng.range(-20_000, 20_000) as i32).collect();
    let acc = k as i128 * (1i128 << (x_bits - 1)) * wmax as i128 + 20_000;
    let rq = requant(&mut rng, acc, c_out, out_bits);
    let [oh, ow] = window.out_size(h, w).unwrap();
    let mut values = vec![value(vec![batch, c_in, h, w], x_bits), value(vec![batch, c_out, oh, ow], out_bits)];
    let mut nodes =
        vec![Node { name: "conv".into(), op: Op::Conv { weight, bias, window, groups, rq }, inputs: vec![0], output: 1 }];
    let mut outputs = vec![];
    let mut last = 1;
    if rng.chance(70) {
        let (lo, hi) = qrange(out_bits);
        let (a, b) = (rng.range(lo, hi) as i32, rng.range(lo, hi) as i32);
        let op = if rng.chance(50) { Op::Clamp { lo: 0, hi: hi as i32 } } else { Op::Clamp { lo: a.min(b), hi: a.max(b) } };
        values.push(value(vec![batch, c_out, oh, ow], out_bits));
        nodes.push(Node { name: "clamp".into(), op, inputs: vec![1], output: 2 });
        if rng.chance(25) {
            outputs.push(1);
        }
        last = 2;
    }
    if rng.chance(40) && oh >= 2 && ow >= 2 {
        let window = Window { kernel: [2, 2], stride: [2, 2], pads: [0; 4], dilation: [1, 1] };
        values.push(value(vec![batch, c_out, oh / 2, ow / 2], out_bits));
        nodes.push(Node { name: "pool".into(), op: Op::MaxPool { window }, inputs: vec![last], output: last + 1 });
        last += 1;
    }
    outputs.push(last);
    Model { values, inputs: vec![0], outputs, nodes, ..Model::default() }
}

/// A random pool (2x2 stride 2 unpadded half the time) over planes of up to 21 x 21.
fn pool_model(seed: u64) -> Model {
    let mut rng = Rng::new(seed);
    let (h, w) = (rng.range(1, 21) as usize, rng.range(1, 21) as usize);
    let window = if rng.chance(50) && h >= 2 && w >= 2 {
        Window { kernel: [2, 2], stride: [2, 2], pads: [0; 4], dilation: [1, 1] }
    } else {
        loop {
            let kernel = [rng.range(1, 3) as usize, rng.range(1, 3) as usize];
            let stride = [rng.range(1, 3) as usize, rng.range(1, 3) as usize];
            let pads = [kernel[0], kernel[1], kernel[0], kernel[1]].map(|k| rng.range(0, k as i64 - 1) as usize);
            let window = Window { kernel, stride, pads, dilation: [1, 1] };
            if window.out_size(h, w).is_some() {
                break window;
            }
        }
    };
    let [oh, ow] = window.out_size(h, w).unwrap();
    let (n, c, bits) = (rng.range(1, 2) as usize, rng.range(1, 5) as usize, if rng.chance(50) { 8 } else { 16 });
    let op = if rng.chance(80) {
        Op::MaxPool { window }
    } else {
        Op::AvgPool { window, count_include_pad: rng.chance(50), mult: rng.range(1, 4096) as i32, shift: 12 }
    };
    Model {
        values: vec![value(vec![n, c, h, w], bits), value(vec![n, c, oh, ow], bits)],
        inputs: vec![0],
        outputs: vec![1],
        nodes: vec![Node { name: "pool".into(), op, inputs: vec![0], output: 1 }],
        ..Model::default()
    }
}

/// `Linear -> Clamp -> Linear -> Clamp`, the MLP pattern, with real-model requantization.
fn mlp_model(seed: u64) -> Model {
    let mut rng = Rng::new(seed);
    // Up to 9 rows (several blocks of 4); sometimes a long input row, which splits the
    // outputs into several column tiles and, with 16-bit inputs, needs i64 sums.
    let rows = if rng.chance(30) { rng.range(4, 9) } else { rng.range(1, 3) } as usize;
    let mut dims: Vec<usize> = (0..3).map(|_| rng.range(1, 70) as usize).collect();
    if rng.chance(15) {
        dims[0] = rng.range(400, 700) as usize;
    }
    let x_bits = if rng.chance(70) { 8 } else { 16 };
    let mut values = vec![value(vec![rows, dims[0]], x_bits)];
    let mut nodes = vec![];
    let mut bits = x_bits;
    for (i, d) in dims.windows(2).enumerate() {
        let (k, n) = (d[0], d[1]);
        let weight: Vec<i8> = (0..n * k).map(|_| rng.range(-128, 127) as i8).collect();
        let bias: Vec<i32> = (0..n).map(|_| rng.range(-20_000, 20_000) as i32).collect();
        let out_bits = if rng.chance(70) { 8 } else { 16 };
        let rq = requant(&mut rng, k as i128 * (1i128 << (bits - 1)) * 128 + 20_000, n, out_bits);
        let x = values.len() as u32 - 1;
        values.push(value(vec![rows, n], out_bits));
        nodes.push(Node { name: format!("fc{i}"), op: Op::Linear { weight, bias, rq }, inputs: vec![x], output: x + 1 });
        values.push(value(vec![rows, n], out_bits));
        nodes.push(Node {
            name: format!("relu{i}"),
            op: Op::Clamp { lo: 0, hi: qrange(out_bits).1 as i32 },
            inputs: vec![x + 1],
            output: x + 2,
        });
        bits = out_bits;
    }
    let last = values.len() as u32 - 1;
    Model { values, inputs: vec![0], outputs: vec![last], nodes, ..Model::default() }
}

/// `A x B` with batch broadcasting and real-model (or small) requantization; values
/// decide at run time whether sums fit in i32 (16 x 16-bit ones rarely do).
fn matmul_model(seed: u64) -> Model {
    let mut rng = Rng::new(seed);
    let (m, k, n) = (rng.range(1, 9) as usize, rng.range(1, 40) as usize, rng.range(1, 40) as usize);
    let batch: Vec<usize> = (0..rng.range(0, 2)).map(|_| rng.range(1, 3) as usize).collect();
    let b_batch: Vec<usize> = batch.iter().map(|&d| if rng.chance(40) { 1 } else { d }).collect();
    let (a_bits, b_bits, out_bits) = (if rng.chance(70) { 8 } else { 16 }, if rng.chance(80) { 8 } else { 16 }, 8);
    let a_shape: Vec<usize> = batch.iter().copied().chain([m, k]).collect();
    let b_shape: Vec<usize> = b_batch.iter().copied().chain([k, n]).collect();
    let out_shape: Vec<usize> = batch.iter().copied().chain([m, n]).collect();
    let rq = requant(&mut rng, k as i128 * (1i128 << (a_bits - 1)) * (1i128 << (b_bits - 1)), 1, out_bits);
    Model {
        values: vec![value(a_shape, a_bits), value(b_shape, b_bits), value(out_shape, out_bits)],
        inputs: vec![0, 1],
        outputs: vec![2],
        nodes: vec![Node { name: "mm".into(), op: Op::MatMul { rq }, inputs: vec![0, 1], output: 2 }],
        ..Model::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn matmuls(seed in any::<u64>()) {
        let model = matmul_model(seed);
        check(&model, &random_inputs(&model, seed))?;
    }

    #[test]
    fn convolutions(seed in any::<u64>()) {
        let model = conv_model(seed);
        check(&model, &random_inputs(&model, seed))?;
    }

    #[test]
    fn pools(seed in any::<u64>()) {
        let model = pool_model(seed);
        check(&model, &random_inputs(&model, seed))?;
    }

    #[test]
    fn mlps(seed in any::<u64>()) {
        let model = mlp_model(seed);
        check(&model, &random_inputs(&model, seed))?;
    }
}

/// Every 2x2 stride-2 MaxPool shape up to 20 x 20 (odd sizes drop a row or column).
#[test]
fn every_small_2x2_pool() {
    for h in 2..=20 {
        for w in 2..=20 {
            let window = Window { kernel: [2, 2], stride: [2, 2], pads: [0; 4], dilation: [1, 1] };
            let model = Model {
                values: vec![value(vec![1, 3, h, w], 8), value(vec![1, 3, h / 2, w / 2], 8)],
                inputs: vec![0],
                outputs: vec![1],
                nodes: vec![Node { name: "pool".into(), op: Op::MaxPool { window }, inputs: vec![0], output: 1 }],
                ..Model::default()
            };
            check(&model, &random_inputs(&model, (h * 100 + w) as u64)).unwrap();
        }
    }
}

/// 1x1 convolutions of 16-bit inputs at `-2^15` with weights of -128: every product is
/// 2^22, so 511 taps sum to just below 2^31 (the pair GEMM, exact in i32) and 512 reach
/// it (the i64 kernel). Both must give the reference's bits.
#[test]
fn sums_at_the_i32_limit() {
    for c_in in [511usize, 512] {
        let conv = Op::Conv {
            weight: vec![-128; 2 * c_in],
            bias: vec![-1, 1],
            window: Window { kernel: [1, 1], stride: [1, 1], pads: [0; 4], dilation: [1, 1] },
            groups: 1,
            rq: Requant { mult: vec![1 << 30, -(1 << 30)], shift: vec![50, 47] },
        };
        let model = Model {
            values: vec![value(vec![1, c_in, 2, 3], 16), value(vec![1, 2, 2, 3], 16)],
            inputs: vec![0],
            outputs: vec![1],
            nodes: vec![Node { name: "conv".into(), op: conv, inputs: vec![0], output: 1 }],
            ..Model::default()
        };
        let mut inputs = random_inputs(&model, 3);
        inputs[0].data.iter_mut().for_each(|v| *v = -(1 << 15));
        check(&model, &inputs).unwrap();
        inputs[0].data.iter_mut().step_by(3).for_each(|v| *v = (1 << 15) - 1);
        check(&model, &inputs).unwrap();
    }
}

/// The other trained fixtures: an MLP (Linear + Clamp) and a transformer block.
#[test]
fn mlp_and_transformer_fixtures() {
    for name in ["mlp_digits", "transformer_block"] {
        let path = format!("{}/../../fixtures/{name}.vrt", env!("CARGO_MANIFEST_DIR"));
        let model = Model::decode(&std::fs::read(path).unwrap()).unwrap();
        for seed in 0..10 {
            check(&model, &random_inputs(&model, seed)).unwrap();
        }
    }
}

/// The digits CNN's structure (Conv 1->8 3x3 pad 1, Clamp, 2x2 pool, Conv 8->16, Clamp,
/// pool, Reshape, Linear) with its kind of requantization, on the committed fixture.
#[test]
fn digits_cnn_fixture() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/cnn_digits.vrt");
    let model = Model::decode(&std::fs::read(path).unwrap()).unwrap();
    for seed in 0..20 {
        check(&model, &random_inputs(&model, seed)).unwrap();
    }
}
