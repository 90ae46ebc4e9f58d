//! Random valid models for differential tests (feature `testgen`).
//!
//! [`random_model`] builds a short random chain of canonical ops from a seed: random
//! shapes, 8/16-bit values, broadcasts, grouped/strided/padded/dilated convolutions,
//! padded pools, and multipliers/shifts chosen inside the validator's bounds so that
//! outputs are mostly neither zero nor saturated. Every op variant is drawn with equal
//! probability. The result always passes `Model::validate`.

use verity_model::arith::qrange;
use verity_model::shape::{broadcast, numel, slice_len};
use verity_model::{CmpMode, Model, Node, Op, Requant, Tensor, ValueId, ValueInfo, Window};

/// Every op kind, as `Op::kind` names them.
pub const OP_KINDS: [&str; 24] = [
    "Const",
    "Linear",
    "Conv",
    "MatMul",
    "Add",
    "Mul",
    "Div",
    "Rescale",
    "Clamp",
    "Lut",
    "PRelu",
    "MaxPool",
    "AvgPool",
    "Reduce",
    "Softmax",
    "LayerNorm",
    "Reshape",
    "Transpose",
    "Concat",
    "Slice",
    "Gather",
    "Compare",
    "Where",
    "Arg",
];

/// A random valid model and inputs for it.
pub fn random_model(seed: u64) -> (Model, Vec<Tensor>) {
    let mut g = Gen { rng: Rng::new(seed), model: Model::default() };
    let n_ops = g.rng.range(2, 10) as usize;
    for _ in 0..n_ops {
        let kind = *g.rng.pick(&OP_KINDS);
        g.add(kind);
    }
    g.finish_outputs();
    // Inputs are created as ops need them; the canonical numbering puts them first.
    let model = g.model.into_canonical_order();
    if let Err(e) = model.validate() {
        panic!("testgen built an invalid model for seed {seed}: {e}\n{model:#?}");
    }
    let inputs = random_inputs(&model, seed ^ 0x9e37_79b9_7f4a_7c15);
    (model, inputs)
}

/// Random in-range inputs for `model`, each drawn from one of a few value profiles
/// (full range, small values with many ties and zeros, extremes).
pub fn random_inputs(model: &Model, seed: u64) -> Vec<Tensor> {
    let mut rng = Rng::new(seed);
    model
        .inputs
        .iter()
        .map(|&id| {
            let v = model.value(id);
            let data = random_data(&mut rng, numel(&v.shape), v.bits);
            Tensor::new(v.shape.clone(), data)
        })
        .collect()
}

/// SplitMix64: tiny, seedable, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % ((hi - lo) as u64 + 1)) as i64
    }

    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.next_u64() % 100 < pct
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as i64 - 1) as usize]
    }
}

fn random_data(rng: &mut Rng, n: usize, bits: u8) -> Vec<i32> {
    let (lo, hi) = qrange(bits);
    let profile = rng.range(0, 3);
    (0..n)
        .map(|_| match profile {
            0 => rng.range(lo, hi),
            1 => rng.range(-4, 4),
            2 => *rng.pick(&[lo, hi, 0, 1, -1, lo + 1]),
            _ => rng.range(lo / 8, hi / 8),
        } as i32)
        .collect()
}

/// Bit length of `v > 0`.
fn bitlen(v: i128) -> i64 {
    128 - v.leading_zeros() as i64
}

const LIMIT: i128 = verity_model::LIMIT;

struct Gen {
    rng: Rng,
    model: Model,
}

impl Gen {
    fn info(&self, id: ValueId) -> &ValueInfo {
        self.model.value(id)
    }

    fn new_value(&mut self, shape: Vec<usize>, bits: u8) -> ValueId {
        let id = self.model.values.len() as ValueId;
        self.model.values.push(ValueInfo { name: format!("v{id}"), shape, bits, scale: 1.0 });
        id
    }

    fn new_input(&mut self, shape: Vec<usize>, bits: u8) -> ValueId {
        let id = self.new_value(shape, bits);
        self.model.inputs.push(id);
        id
    }

    fn node(&mut self, op: Op, inputs: Vec<ValueId>, shape: Vec<usize>, bits: u8) -> ValueId {
        let out = self.new_value(shape, bits);
        let name = format!("n{}", self.model.nodes.len());
        self.model.nodes.push(Node { name, op, inputs, output: out });
        out
    }

    fn bits(&mut self) -> u8 {
        if self.rng.chance(50) {
            8
        } else {
            16
        }
    }

    fn random_shape(&mut self, rank: usize) -> Vec<usize> {
        (0..rank).map(|_| self.rng.range(1, 5) as usize).collect()
    }

    /// A computed value satisfying `ok` (recent ones preferred, so ops chain), else a
    /// fresh graph input of shape `fresh()`.
    fn operand(&mut self, ok: impl Fn(&ValueInfo) -> bool, fresh: impl FnOnce(&mut Rng) -> Vec<usize>) -> ValueId {
        let ids: Vec<ValueId> = (0..self.model.values.len() as ValueId).filter(|&id| ok(self.info(id))).collect();
        if !ids.is_empty() && self.rng.chance(85) {
            let recent = &ids[ids.len().saturating_sub(2)..];
            return if self.rng.chance(70) { *self.rng.pick(recent) } else { *self.rng.pick(&ids) };
        }
        let shape = fresh(&mut self.rng);
        let bits = self.bits();
        self.new_input(shape, bits)
    }

    fn any_operand(&mut self) -> ValueId {
        self.operand(|_| true, |r| (0..r.range(1, 4)).map(|_| r.range(1, 5) as usize).collect())
    }

    /// A second operand of `shape` and `bits`: a fresh input or a constant.
    fn companion(&mut self, shape: Vec<usize>, bits: u8) -> ValueId {
        if self.rng.chance(30) {
            let data = random_data(&mut self.rng, numel(&shape), bits);
            self.node(Op::Const { data }, vec![], shape, bits)
        } else {
            self.new_input(shape, bits)
        }
    }

    /// A multiplier, mostly positive, of up to `max_bits` bits.
    fn mult(&mut self, max_bits: i64) -> i32 {
        let bits = self.rng.range(1, max_bits);
        let m = self.rng.range(1, 1 << bits) as i32;
        if self.rng.chance(10) {
            -m
        } else {
            m
        }
    }

    /// A shift that brings values of magnitude up to `bound` near the `bits` range
    /// (sometimes a little over, to exercise saturation), within the validator's limit
    /// `bound + 2^shift < LIMIT`.
    fn shift_for(&mut self, bound: i128, bits: u8) -> u8 {
        let s = (bitlen(bound.max(1)) - (bits as i64 - 1) - self.rng.range(0, 6)).clamp(0, 40) as u8;
        if bound + (1i128 << s) >= LIMIT {
            0
        } else {
            s
        }
    }

    fn requant(&mut self, acc: i128, channels: usize, bits: u8) -> Requant {
        let n = if channels > 1 && self.rng.chance(50) { channels } else { 1 };
        let mut rq = Requant { mult: vec![], shift: vec![] };
        for _ in 0..n {
            let m = self.mult(15);
            let s = self.shift_for(acc * (m as i128).abs(), bits);
            rq.mult.push(m);
            rq.shift.push(s);
        }
        rq
    }

    fn window(&mut self, h: usize, w: usize, pool: bool) -> Window {
        loop {
            let kernel = [self.rng.range(1, 3) as usize, self.rng.range(1, 3) as usize];
            let stride = [self.rng.range(1, 2) as usize, self.rng.range(1, 3) as usize];
            let dilation = if pool { [1, 1] } else { [self.rng.range(1, 2) as usize, self.rng.range(1, 2) as usize] };
            let pad = |r: &mut Rng, k: usize| if pool { r.range(0, k as i64 - 1) as usize } else { r.range(0, 2) as usize };
            let pads = [
                pad(&mut self.rng, kernel[0]),
                pad(&mut self.rng, kernel[1]),
                pad(&mut self.rng, kernel[0]),
                pad(&mut self.rng, kernel[1]),
            ];
            let win = Window { kernel, stride, pads, dilation };
            if win.out_size(h, w).is_some() {
                return win;
            }
        }
    }

    fn nchw(&mut self) -> ValueId {
        self.operand(
            |v| v.shape.len() == 4 && v.shape[2] <= 9 && v.shape[3] <= 9 && v.shape[1] <= 8,
            |r| vec![r.range(1, 2) as usize, r.range(1, 4) as usize, r.range(1, 7) as usize, r.range(1, 7) as usize],
        )
    }

    fn add(&mut self, kind: &str) {
        match kind {
            "Const" => {
                let rank = self.rng.range(1, 3) as usize;
                let shape = self.random_shape(rank);
                let bits = self.bits();
                let data = random_data(&mut self.rng, numel(&shape), bits);
                self.node(Op::Const { data }, vec![], shape, bits);
            }
            "Linear" => {
                let big = self.rng.chance(8);
                let x = self.operand(
                    |v| !v.shape.is_empty() && *v.shape.last().unwrap() <= 80,
                    |r| {
                        let mut s: Vec<usize> = (0..r.range(0, 2)).map(|_| r.range(1, 3) as usize).collect();
                        s.push(if big { r.range(500, 700) } else { r.range(1, 40) } as usize);
                        s
                    },
                );
                let xi = self.info(x).clone();
                let k = *xi.shape.last().unwrap();
                // Sometimes more outputs than one epilogue group (32).
                let n = if self.rng.chance(15) { self.rng.range(30, 40) } else { self.rng.range(1, 10) } as usize;
                let wmax = *self.rng.pick(&[1i64, 7, 127, 128]);
                let weight: Vec<i8> = (0..n * k).map(|_| self.rng.range(-wmax, wmax.min(127)) as i8).collect();
                let bias: Vec<i32> = (0..n).map(|_| self.rng.range(-5000, 5000) as i32).collect();
                let bits = self.bits();
                let acc = k as i128 * (1i128 << (xi.bits - 1)) * 128 + 5000;
                let rq = self.requant(acc / 8, n, bits);
                let mut shape = xi.shape.clone();
                *shape.last_mut().unwrap() = n;
                self.node(Op::Linear { weight, bias, rq }, vec![x], shape, bits);
            }
            "Conv" => {
                let x = self.nchw();
                let xs = self.info(x).shape.clone();
                let xbits = self.info(x).bits;
                let c_in = xs[1];
                let divisors: Vec<usize> = (1..=c_in).filter(|g| c_in.is_multiple_of(*g)).collect();
                let groups = *self.rng.pick(&divisors);
                let c_out = groups * self.rng.range(1, 3) as usize;
                let window = self.window(xs[2], xs[3], false);
                let k = c_in / groups * window.kernel[0] * window.kernel[1];
                let weight: Vec<i8> = (0..c_out * k).map(|_| self.rng.range(-128, 127) as i8).collect();
                let bias: Vec<i32> = (0..c_out).map(|_| self.rng.range(-3000, 3000) as i32).collect();
                let bits = self.bits();
                let rq = self.requant(k as i128 * (1i128 << (xbits - 1)) * 16, c_out, bits);
                let [oh, ow] = window.out_size(xs[2], xs[3]).unwrap();
                self.node(Op::Conv { weight, bias, window, groups, rq }, vec![x], vec![xs[0], c_out, oh, ow], bits);
            }
            "MatMul" => {
                let a = self.operand(
                    |v| v.shape.len() >= 2 && v.shape.len() <= 4,
                    |r| (0..r.range(2, 3)).map(|_| r.range(1, 6) as usize).collect(),
                );
                let ai = self.info(a).clone();
                let ra = ai.shape.len();
                let (m, k) = (ai.shape[ra - 2], ai.shape[ra - 1]);
                let b = if self.rng.chance(40) {
                    // Attention-style `a x a^T`.
                    let mut perm: Vec<usize> = (0..ra).collect();
                    perm.swap(ra - 2, ra - 1);
                    let mut shape = ai.shape.clone();
                    shape.swap(ra - 2, ra - 1);
                    self.node(Op::Transpose { perm }, vec![a], shape, ai.bits)
                } else {
                    let n = self.rng.range(1, 6) as usize;
                    // Batch dims: same, broadcast 1s, or none.
                    let mut shape: Vec<usize> = match self.rng.range(0, 2) {
                        0 => ai.shape[..ra - 2].to_vec(),
                        1 => ai.shape[..ra - 2].iter().map(|&d| if self.rng.chance(50) { 1 } else { d }).collect(),
                        _ => vec![],
                    };
                    shape.extend([k, n]);
                    let bits = self.bits();
                    self.companion(shape, bits)
                };
                let bi = self.info(b).clone();
                let bits = self.bits();
                let acc = k as i128 * (1i128 << (ai.bits - 1)) * (1i128 << (bi.bits - 1));
                let rq = self.requant(acc / 16, 1, bits);
                let shape = verity_model::shape::matmul(&ai.shape, &bi.shape).unwrap();
                let _ = m;
                self.node(Op::MatMul { rq }, vec![a, b], shape, bits);
            }
            "Add" | "Mul" | "Div" | "Compare" => {
                let a = self.any_operand();
                let ai = self.info(a).clone();
                let b_shape: Vec<usize> = match self.rng.range(0, 4) {
                    0 => ai.shape.clone(),
                    1 => vec![1],
                    2 => ai.shape[self.rng.range(0, ai.shape.len() as i64) as usize..].to_vec(),
                    3 => ai.shape.iter().map(|&d| if self.rng.chance(50) { 1 } else { d }).collect(),
                    // Mutual broadcast: b grows where a has (or gets) unit dims.
                    _ => ai.shape.iter().map(|&d| if d == 1 { self.rng.range(1, 3) as usize } else { d }).collect(),
                };
                let same: Vec<ValueId> =
                    (0..self.model.values.len() as ValueId).filter(|&id| self.info(id).shape == b_shape).collect();
                let b = if !same.is_empty() && self.rng.chance(30) {
                    *self.rng.pick(&same)
                } else {
                    let bits = self.bits();
                    self.companion(b_shape, bits)
                };
                let (a, b) = if self.rng.chance(25) { (b, a) } else { (a, b) };
                let (ab, bb) = (1i128 << (self.info(a).bits - 1), 1i128 << (self.info(b).bits - 1));
                let shape = broadcast(&self.info(a).shape, &self.info(b).shape).unwrap();
                let bits = if kind == "Compare" { 8 } else { self.bits() };
                let op = match kind {
                    "Compare" => {
                        // Small multipliers, so that ties (d = 0) happen.
                        let mode = *self.rng.pick(&CmpMode::ALL);
                        let (ma, mb) = if self.rng.chance(50) { (1, 1) } else { (self.mult(3), self.mult(14)) };
                        Op::Compare { mode, mult_a: ma, mult_b: mb }
                    }
                    "Add" => {
                        let (ma, mb) = (self.mult(14), self.mult(14));
                        let shift = self.shift_for(ab * (ma as i128).abs() + bb * (mb as i128).abs(), bits);
                        Op::Add { mult_a: ma, mult_b: mb, shift }
                    }
                    "Mul" => {
                        let mult = self.mult(12);
                        let shift = self.shift_for(ab * bb * (mult as i128).abs() / 4, bits);
                        Op::Mul { mult, shift }
                    }
                    _ => {
                        let mult = self.mult(16);
                        let shift = self.rng.range(0, 8) as u8;
                        Op::Div { mult, shift }
                    }
                };
                self.node(op, vec![a, b], shape, bits);
            }
            "Rescale" => {
                let x = self.any_operand();
                let xi = self.info(x).clone();
                let bits = self.bits();
                let mult = self.mult(15);
                let shift = self.shift_for((1i128 << (xi.bits - 1)) * (mult as i128).abs(), bits);
                self.node(Op::Rescale { mult, shift }, vec![x], xi.shape, bits);
            }
            "Clamp" => {
                let x = self.any_operand();
                let xi = self.info(x).clone();
                let (lo, hi) = qrange(xi.bits);
                let a = self.rng.range(lo, hi);
                let b = self.rng.range(lo, hi);
                let op = if self.rng.chance(30) {
                    Op::Clamp { lo: 0, hi: hi as i32 }
                } else {
                    Op::Clamp { lo: a.min(b) as i32, hi: a.max(b) as i32 }
                };
                self.node(op, vec![x], xi.shape, xi.bits);
            }
            "Lut" => {
                let x = self.operand(
                    |v| v.bits == 8 || numel(&v.shape) < 4,
                    |r| (0..r.range(1, 3)).map(|_| r.range(1, 5) as usize).collect(),
                );
                let xi = self.info(x).clone();
                let bits = self.bits();
                let table = random_data(&mut self.rng, 1 << xi.bits, bits);
                self.node(Op::Lut { table }, vec![x], xi.shape, bits);
            }
            "PRelu" => {
                let x = self.any_operand();
                let xi = self.info(x).clone();
                let c = if xi.shape.len() >= 2 { xi.shape[1] } else { 1 };
                let n = if self.rng.chance(50) { c } else { 1 };
                let neg_mult: Vec<i32> = (0..n).map(|_| self.mult(10)).collect();
                let pos_mult = self.mult(12);
                let bits = self.bits();
                let shift = self.shift_for((1i128 << (xi.bits - 1)) * 4096, bits);
                self.node(Op::PRelu { pos_mult, neg_mult, shift }, vec![x], xi.shape, bits);
            }
            "MaxPool" | "AvgPool" => {
                let x = self.nchw();
                let xi = self.info(x).clone();
                let window = self.window(xi.shape[2], xi.shape[3], true);
                let [oh, ow] = window.out_size(xi.shape[2], xi.shape[3]).unwrap();
                let shape = vec![xi.shape[0], xi.shape[1], oh, ow];
                if kind == "MaxPool" {
                    self.node(Op::MaxPool { window }, vec![x], shape, xi.bits);
                } else {
                    let bits = self.bits();
                    let mult = self.mult(12);
                    let shift = self.shift_for((1i128 << (xi.bits - 1)) * (mult as i128).abs(), bits);
                    let count_include_pad = self.rng.chance(50);
                    self.node(Op::AvgPool { window, count_include_pad, mult, shift }, vec![x], shape, bits);
                }
            }
            "Reduce" => {
                let x = self.operand(|v| !v.shape.is_empty(), |r| (0..r.range(1, 4)).map(|_| r.range(1, 5) as usize).collect());
                let xi = self.info(x).clone();
                let mut axes: Vec<usize> = (0..xi.shape.len()).filter(|_| self.rng.chance(50)).collect();
                if axes.is_empty() {
                    axes.push(self.rng.range(0, xi.shape.len() as i64 - 1) as usize);
                }
                let keep_dims = self.rng.chance(50);
                let mean = self.rng.chance(50);
                let count: i128 = axes.iter().map(|&a| xi.shape[a] as i128).product();
                let bits = self.bits();
                let mult = self.mult(12);
                let bound = (1i128 << (xi.bits - 1)) * (mult as i128).abs() * if mean { 1 } else { count };
                let shift = self.shift_for(bound, bits);
                let shape = verity_model::shape::reduce(&xi.shape, &axes, keep_dims);
                self.node(Op::Reduce { axes, keep_dims, mean, mult, shift }, vec![x], shape, bits);
            }
            "Softmax" => {
                let x = self.operand(
                    |v| !v.shape.is_empty() && (v.bits == 8 || numel(&v.shape) < 4),
                    |r| (0..r.range(1, 3)).map(|_| r.range(1, 6) as usize).collect(),
                );
                let xi = self.info(x).clone();
                let axis = self.rng.range(0, xi.shape.len() as i64 - 1) as usize;
                let top = self.rng.range(1, 1 << 24);
                let decay = self.rng.range(1, 200);
                let exp_table: Vec<i32> = (0..1i64 << xi.bits)
                    .map(|i| if self.rng.chance(5) { self.rng.range(0, 1 << 24) } else { (top * decay / (decay + i)).max(0) } as i32)
                    .enumerate()
                    .map(|(i, e)| if i == 0 { top as i32 } else { e })
                    .collect();
                let bits = self.bits();
                self.node(Op::Softmax { axis, exp_table }, vec![x], xi.shape, bits);
            }
            "LayerNorm" => {
                let x = self.operand(|v| !v.shape.is_empty(), |r| (0..r.range(1, 3)).map(|_| r.range(1, 8) as usize).collect());
                let xi = self.info(x).clone();
                let axis = self.rng.range(0, xi.shape.len() as i64 - 1) as usize;
                let n = numel(&xi.shape[axis..]);
                let frac_bits = self.rng.range(0, 16) as u8;
                let gmax = 1i64 << self.rng.range(0, 12);
                let bmax = 1i64 << self.rng.range(0, 20);
                let gamma: Vec<i64> = (0..n).map(|_| self.rng.range(-gmax, gmax)).collect();
                let beta: Vec<i64> = (0..n).map(|_| self.rng.range(-bmax, bmax)).collect();
                let bits = self.bits();
                let zq = (n as i128) << frac_bits;
                let s = self.shift_for(((1i128 << frac_bits) * 2 * gmax as i128).max(bmax as i128), bits);
                let shift = if zq * (gmax + bmax) as i128 + (1i128 << s) < LIMIT { s } else { 0 };
                let eps = *self.rng.pick(&[0i64, 1, 1000, 1 << 20]);
                self.node(Op::LayerNorm { axis, eps, frac_bits, gamma, beta, shift }, vec![x], xi.shape, bits);
            }
            "Reshape" => {
                let x = self.any_operand();
                let xi = self.info(x).clone();
                let shape = self.refactor(numel(&xi.shape));
                self.node(Op::Reshape, vec![x], shape, xi.bits);
            }
            "Transpose" => {
                let x = self.operand(|v| v.shape.len() >= 2, |r| (0..r.range(2, 4)).map(|_| r.range(1, 5) as usize).collect());
                let xi = self.info(x).clone();
                let mut perm: Vec<usize> = (0..xi.shape.len()).collect();
                for i in (1..perm.len()).rev() {
                    let j = self.rng.range(0, i as i64) as usize;
                    perm.swap(i, j);
                }
                let shape = perm.iter().map(|&p| xi.shape[p]).collect();
                self.node(Op::Transpose { perm }, vec![x], shape, xi.bits);
            }
            "Concat" => {
                let x = self.operand(|v| !v.shape.is_empty(), |r| (0..r.range(1, 4)).map(|_| r.range(1, 4) as usize).collect());
                let xi = self.info(x).clone();
                let axis = self.rng.range(0, xi.shape.len() as i64 - 1) as usize;
                let mut ins = vec![x];
                for _ in 0..self.rng.range(0, 2) {
                    if self.rng.chance(30) {
                        ins.push(x);
                    } else {
                        let mut shape = xi.shape.clone();
                        shape[axis] = self.rng.range(1, 3) as usize;
                        let id = self.companion(shape, xi.bits);
                        ins.push(id);
                    }
                }
                if self.rng.chance(30) {
                    ins.reverse();
                }
                let mut shape = xi.shape.clone();
                shape[axis] = ins.iter().map(|&i| self.info(i).shape[axis]).sum();
                self.node(Op::Concat { axis }, ins, shape, xi.bits);
            }
            "Slice" => {
                let x = self.operand(|v| !v.shape.is_empty(), |r| (0..r.range(1, 3)).map(|_| r.range(1, 7) as usize).collect());
                let xi = self.info(x).clone();
                let (mut axes, mut starts, mut ends, mut steps) = (vec![], vec![], vec![], vec![]);
                let mut shape = xi.shape.clone();
                for (a, &d) in xi.shape.iter().enumerate() {
                    if self.rng.chance(40) {
                        continue;
                    }
                    let d = d as i64;
                    let step = *self.rng.pick(&[1i64, 1, 2, 3, -1, -2]);
                    let (st, en) = if step > 0 {
                        let st = self.rng.range(0, d - 1);
                        (st, self.rng.range(st + 1, d))
                    } else {
                        let st = self.rng.range(0, d - 1);
                        (st, self.rng.range(-1, st - 1))
                    };
                    shape[a] = slice_len(st, en, step);
                    axes.push(a);
                    starts.push(st);
                    ends.push(en);
                    steps.push(step);
                }
                // Axes in any order.
                if self.rng.chance(30) {
                    axes.reverse();
                    starts.reverse();
                    ends.reverse();
                    steps.reverse();
                }
                self.node(Op::Slice { axes, starts, ends, steps }, vec![x], shape, xi.bits);
            }
            "Gather" => {
                let x = self.operand(|v| !v.shape.is_empty(), |r| (0..r.range(1, 3)).map(|_| r.range(1, 5) as usize).collect());
                let xi = self.info(x).clone();
                let axis = self.rng.range(0, xi.shape.len() as i64 - 1) as usize;
                let indices_shape: Vec<usize> = (0..self.rng.range(0, 2)).map(|_| self.rng.range(1, 3) as usize).collect();
                let indices: Vec<usize> =
                    (0..numel(&indices_shape)).map(|_| self.rng.range(0, xi.shape[axis] as i64 - 1) as usize).collect();
                let mut shape = xi.shape[..axis].to_vec();
                shape.extend(&indices_shape);
                shape.extend(&xi.shape[axis + 1..]);
                self.node(Op::Gather { axis, indices, indices_shape }, vec![x], shape, xi.bits);
            }
            "Where" => {
                let a = self.any_operand();
                let ai = self.info(a).clone();
                // b takes a's shape or broadcasts against it; it must share a's width.
                let b_shape = if self.rng.chance(50) { ai.shape.clone() } else { vec![1] };
                let b = self.companion(b_shape, ai.bits);
                let ab = broadcast(&ai.shape, &self.info(b).shape).unwrap();
                let c = self.any_operand();
                let c = if broadcast(&self.info(c).shape, &ab).is_ok() { c } else { self.companion(ab.clone(), 8) };
                let shape = broadcast(&self.info(c).shape, &ab).unwrap();
                let (a, b) = if self.rng.chance(30) { (b, a) } else { (a, b) };
                self.node(Op::Where, vec![c, a, b], shape, ai.bits);
            }
            "Arg" => {
                let x = self.operand(|v| !v.shape.is_empty(), |r| (0..r.range(1, 3)).map(|_| r.range(1, 5) as usize).collect());
                let xi = self.info(x).clone();
                let axis = self.rng.range(0, xi.shape.len() as i64 - 1) as usize;
                let keep_dims = self.rng.chance(50);
                let (min, last) = (self.rng.chance(50), self.rng.chance(50));
                let shape = verity_model::shape::reduce(&xi.shape, &[axis], keep_dims);
                let bits = if xi.shape[axis] > 128 { 16 } else { 8 };
                self.node(Op::Arg { axis, keep_dims, min, last }, vec![x], shape, bits);
            }
            other => unreachable!("unknown op kind {other}"),
        }
    }

    /// A random shape with `n` elements (prime factors grouped at random, unit dims sprinkled in).
    fn refactor(&mut self, mut n: usize) -> Vec<usize> {
        let mut factors = vec![];
        let mut p = 2;
        while n > 1 {
            while n.is_multiple_of(p) {
                factors.push(p);
                n /= p;
            }
            p += 1;
        }
        let mut shape = vec![];
        for f in factors {
            match shape.last_mut() {
                Some(last) if self.rng.chance(40) => *last *= f,
                _ => shape.push(f),
            }
        }
        if shape.is_empty() || self.rng.chance(30) {
            let at = self.rng.range(0, shape.len() as i64) as usize;
            shape.insert(at, 1);
        }
        shape
    }

    /// The last node's output, plus sometimes another node output or a graph input.
    fn finish_outputs(&mut self) {
        if self.model.inputs.is_empty() {
            // Const-only graphs still need an input; give them one and a node reading it.
            let shape = self.random_shape(2);
            let bits = self.bits();
            let x = self.new_input(shape.clone(), bits);
            self.node(Op::Rescale { mult: 1, shift: 0 }, vec![x], shape, 16);
        }
        let last = self.model.nodes.last().unwrap().output;
        self.model.outputs.push(last);
        if self.rng.chance(40) {
            let n = self.model.nodes.len() as i64;
            let other = self.model.nodes[self.rng.range(0, n - 1) as usize].output;
            self.model.outputs.push(other);
        }
        if self.rng.chance(10) {
            let i = *self.rng.pick(&self.model.inputs);
            self.model.outputs.push(i);
        }
    }
}
