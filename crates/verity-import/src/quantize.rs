//! Float graph + calibrated ranges → canonical integer model. Each value gets a
//! symmetric scale `range / qmax`; ops that only move or clamp values keep their
//! input's scale, so they need no rescaling at all.

use crate::error::{ImportError, Result};
use crate::fgraph::{Binary, FGraph, FNode, FOp, Unary};
use crate::ftensor::FTensor;
use verity_model::arith::qrange;
use verity_model::{Model, Node, Op, Requant, ValueId, ValueInfo, LIMIT};

/// Fractional bits of the normalized value inside LayerNorm, and its output shift.
const LN_FRAC_BITS: u8 = 12;
const LN_SHIFT: u8 = 24;
/// Fixed-point precision of the Softmax exponential table.
const EXP_ONE: f64 = (1 << 20) as f64;
/// Constants are stored with 16 bits: they cost nothing at run time.
const CONST_BITS: u8 = 16;
const PRELU_SHIFT: u8 = 16;

pub struct Lowerer<'a> {
    fg: &'a FGraph,
    /// Largest |value| seen in calibration, per float value.
    ranges: &'a [f64],
    bits: u8,
    m: Model,
    map: Vec<Option<ValueId>>,
}

fn qmax(bits: u8) -> f64 {
    qrange(bits).1 as f64
}

/// The largest shift (best precision) whose multipliers fit 31 bits and pass `fits`.
fn fixed_point(rs: &[f64], fits: impl Fn(&[i64], u8) -> bool) -> (Vec<i32>, u8) {
    for shift in (0..=60u8).rev() {
        let ms: Vec<i64> = rs.iter().map(|r| (r * (shift as f64).exp2()).round() as i64).collect();
        if ms.iter().all(|m| m.abs() < 1 << 31) && fits(&ms, shift) {
            return (ms.into_iter().map(|m| m as i32).collect(), shift);
        }
    }
    (vec![0; rs.len()], 0)
}

/// `(mult, shift)` for one real multiplier `r` applied to values up to `bound`.
fn multiplier(r: f64, bound: i128) -> (i32, u8) {
    let (m, s) = fixed_point(&[r], |m, s| bound * (m[0].abs() as i128) + (1i128 << s) < LIMIT);
    (m[0], s)
}

fn mag(bits: u8) -> i128 {
    1i128 << (bits - 1)
}

/// Per-row symmetric int8 weights: returns (quantized weights, per-row scales).
fn quantize_rows(w: &[f64], rows: usize) -> (Vec<i8>, Vec<f64>) {
    let per = w.len() / rows;
    let mut q = Vec::with_capacity(w.len());
    let mut scales = Vec::with_capacity(rows);
    for r in w.chunks(per) {
        let m = r.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        let s = if m > 0.0 { m / 127.0 } else { 1.0 };
        q.extend(r.iter().map(|v| (v / s).round().clamp(-127.0, 127.0) as i8));
        scales.push(s);
    }
    (q, scales)
}

impl<'a> Lowerer<'a> {
    pub fn new(fg: &'a FGraph, ranges: &'a [f64], bits: u8) -> Self {
        Lowerer { fg, ranges, bits, m: Model::default(), map: vec![None; fg.values.len()] }
    }

    pub fn lower(mut self) -> Result<Model> {
        for (k, &i) in self.fg.inputs.iter().enumerate() {
            let id = match self.fg.input_int_bits[k] {
                Some(bits) => self.new_value(i, bits, 1.0),
                None => self.new_value(i, self.bits, self.scale_for(i, self.bits)),
            };
            self.m.inputs.push(id);
        }
        if self.fg.input_affine.iter().any(|a| !a.mul.is_empty()) {
            self.m.input_affine = self.fg.input_affine.clone();
        }
        for node in &self.fg.nodes {
            self.lower_node(node).map_err(|e| match e {
                ImportError::Model(err) => ImportError::Node {
                    op: node.onnx_op.clone(),
                    node: node.name.clone(),
                    msg: format!("could not quantize: {err}"),
                },
                other => other,
            })?;
        }
        // An output known at import (computed from constants only) is a Const node.
        self.m.outputs = self.fg.outputs.iter().map(|&o| self.operand(o)).collect();
        let model = self.m.into_canonical_order();
        model.validate()?;
        Ok(model)
    }

    /// Scale from the range fixed at import, or from calibration: the range of `v`, or, when `v` only feeds a Relu, the
    /// Relu's range (the negative half would be clamped away anyway).
    fn scale_for(&self, v: usize, bits: u8) -> f32 {
        if let Some(&(_, r)) = self.fg.fixed_range.iter().find(|(id, _)| *id == v) {
            return (r / qmax(bits)) as f32;
        }
        let consumers: Vec<&FNode> = self.fg.nodes.iter().filter(|n| n.inputs.contains(&v)).collect();
        let mut range = self.ranges[v];
        if let [n] = consumers.as_slice() {
            if matches!(n.op, FOp::Unary(Unary::Relu)) && !self.fg.outputs.contains(&v) {
                range = self.ranges[n.output];
            }
        }
        let range = if range.is_finite() && range > 0.0 { range } else { 1.0 };
        (range / qmax(bits)) as f32
    }

    fn new_value(&mut self, fv: usize, bits: u8, scale: f32) -> ValueId {
        let v = &self.fg.values[fv];
        let id = self.add_value(&v.name, v.shape.clone(), bits, scale);
        self.map[fv] = Some(id);
        id
    }

    fn add_value(&mut self, name: &str, shape: Vec<usize>, bits: u8, scale: f32) -> ValueId {
        self.m.values.push(ValueInfo { name: name.to_string(), shape, bits, scale });
        (self.m.values.len() - 1) as ValueId
    }

    fn info(&self, id: ValueId) -> (u8, f64) {
        let v = self.m.value(id);
        (v.bits, v.scale as f64)
    }

    fn emit(&mut self, name: &str, op: Op, inputs: Vec<ValueId>, output: ValueId) {
        self.m.nodes.push(Node { name: name.to_string(), op, inputs, output });
    }

    /// The canonical value for float value `fv`, materializing constants on first use.
    fn operand(&mut self, fv: usize) -> ValueId {
        if let Some(id) = self.map[fv] {
            return id;
        }
        let t: &FTensor = self.fg.values[fv].konst.as_ref().expect("non-constant values are lowered in order");
        let range = t.max_abs();
        let scale = (if range > 0.0 { range } else { 1.0 } / qmax(CONST_BITS)) as f32;
        self.constant_at(fv, CONST_BITS, scale)
    }

    /// For a Compare with exactly one constant input: its slot and the other input's scale.
    fn compared_constant(&self, node: &FNode) -> Option<(usize, f32)> {
        let is_const = |k: usize| self.fg.values[node.inputs[k]].konst.is_some();
        let k = match (is_const(0), is_const(1)) {
            (true, false) => 0,
            (false, true) => 1,
            _ => return None,
        };
        let other = self.map[node.inputs[1 - k]]?;
        Some((k, self.m.value(other).scale))
    }

    /// Constant `fv` at `bits` and `scale`, as a value of its own (the constant's other
    /// uses keep their materialization); values beyond the range clamp, which keeps every
    /// comparison with an operand of that scale the same.
    fn constant_copy(&mut self, fv: usize, bits: u8, scale: f32, tag: &str) -> ValueId {
        let t: &FTensor = self.fg.values[fv].konst.as_ref().expect("only constants are materialized");
        let (lo, hi) = qrange(bits);
        let data = t.data.iter().map(|v| (v / scale as f64).round().clamp(lo as f64, hi as f64) as i32).collect();
        let name = format!("{}/{tag}", self.fg.values[fv].name);
        let id = self.add_value(&name, t.shape.clone(), bits, scale);
        self.emit(&name, Op::Const { data }, vec![], id);
        id
    }

    /// Materializes constant `fv` at `bits` and `scale` (values beyond the range clamp).
    fn constant_at(&mut self, fv: usize, bits: u8, scale: f32) -> ValueId {
        let t: &FTensor = self.fg.values[fv].konst.as_ref().expect("only constants are materialized");
        let (lo, hi) = qrange(bits);
        let data = t.data.iter().map(|v| (v / scale as f64).round().clamp(lo as f64, hi as f64) as i32).collect();
        let id = self.new_value(fv, bits, scale);
        let name = self.fg.values[fv].name.clone();
        self.emit(&name, Op::Const { data }, vec![], id);
        id
    }

    /// Converts `id` to `bits`/`scale` with a Rescale node unless it already matches.
    fn rescaled(&mut self, id: ValueId, bits: u8, scale: f32) -> ValueId {
        let v = self.m.value(id).clone();
        if v.bits == bits && v.scale == scale {
            return id;
        }
        let (mult, shift) = multiplier(v.scale as f64 / scale as f64, mag(v.bits));
        let out = self.add_value(&format!("{}/rescaled", v.name), v.shape.clone(), bits, scale);
        self.emit(&format!("{}/rescale", v.name), Op::Rescale { mult, shift }, vec![id], out);
        out
    }

    /// A Where with one constant branch whose values all fit the other branch's range
    /// (infinite ones clamp to its ends, as masks use them): the output keeps the
    /// run-time branch's width and scale, so the selected values are copied exactly.
    fn where_in_place(&mut self, node: &FNode) -> bool {
        let konst = |k: usize| self.fg.values[node.inputs[k]].konst.as_ref();
        let (k, other) = match (konst(1), konst(2)) {
            (Some(_), None) => (1, 2),
            (None, Some(_)) => (2, 1),
            _ => return false,
        };
        let Some(id) = self.map[node.inputs[other]] else { return false };
        let (bx, sx) = self.info(id);
        let fits = |v: &f64| v.is_infinite() || (v / sx).abs() <= qmax(bx) + 0.5;
        if !konst(k).expect("checked").data.iter().all(fits) {
            return false;
        }
        let cond = self.operand(node.inputs[0]);
        let c = self.constant_copy(node.inputs[k], bx, sx as f32, "selected");
        let out = self.new_value(node.output, bx, sx as f32);
        let ins = if k == 1 { vec![cond, c, id] } else { vec![cond, id, c] };
        self.emit(&node.name, Op::Where, ins, out);
        true
    }

    fn lower_node(&mut self, node: &FNode) -> Result<()> {
        if matches!(node.op, FOp::Where) && self.where_in_place(node) {
            return Ok(());
        }
        if let FOp::Concat { .. } = node.op {
            // A constant block joined by Concat (Pad's border) is stored at the output's
            // width and scale, so that it needs no Rescale node.
            let sy = self.scale_for(node.output, self.bits);
            for &i in &node.inputs {
                if self.map[i].is_none() {
                    self.constant_at(i, self.bits, sy);
                }
            }
        }
        let compared = if let FOp::Compare(_) = node.op { self.compared_constant(node) } else { None };
        let ins: Vec<ValueId> = match compared {
            Some((k, scale)) => {
                // The constant side of a comparison takes the other side's scale, so that
                // integers (booleans, indices) meet integer thresholds exactly.
                let c = self.constant_copy(node.inputs[k], CONST_BITS, scale, "compared");
                let other = self.operand(node.inputs[1 - k]);
                if k == 0 {
                    vec![c, other]
                } else {
                    vec![other, c]
                }
            }
            _ => node.inputs.iter().map(|&i| self.operand(i)).collect(),
        };
        let (bx, sx) = self.info(ins[0]);
        let bits = self.bits;
        if node.op.keeps_scale() {
            let out = self.new_value(node.output, bx, sx as f32);
            let (lo, hi) = qrange(bx);
            let op = match &node.op {
                FOp::Unary(Unary::Relu) => Op::Clamp { lo: 0, hi: hi as i32 },
                FOp::Unary(Unary::Clip(a, b)) => {
                    let q = |v: f64| (v / sx).round().clamp(lo as f64, hi as f64) as i32;
                    Op::Clamp { lo: q(*a), hi: q(*b) }
                }
                FOp::PRelu { slope } => Op::PRelu {
                    pos_mult: 1 << PRELU_SHIFT,
                    neg_mult: slope.iter().map(|s| (s * (PRELU_SHIFT as f64).exp2()).round() as i32).collect(),
                    shift: PRELU_SHIFT,
                },
                FOp::MaxPool { window } => Op::MaxPool { window: window.clone() },
                FOp::AvgPool { window, count_include_pad } => {
                    Op::AvgPool { window: window.clone(), count_include_pad: *count_include_pad, mult: 1, shift: 0 }
                }
                FOp::Reduce { axes, keep_dims, .. } => {
                    Op::Reduce { axes: axes.clone(), keep_dims: *keep_dims, mean: true, mult: 1, shift: 0 }
                }
                FOp::Reshape { .. } => Op::Reshape,
                FOp::Transpose { perm } => Op::Transpose { perm: perm.clone() },
                FOp::Slice { axes, starts, ends, steps } => {
                    Op::Slice { axes: axes.clone(), starts: starts.clone(), ends: ends.clone(), steps: steps.clone() }
                }
                FOp::Gather { axis, indices, indices_shape } => {
                    Op::Gather { axis: *axis, indices: indices.clone(), indices_shape: indices_shape.clone() }
                }
                _ => unreachable!("keeps_scale covers exactly these ops"),
            };
            self.emit(&node.name, op, ins, out);
            return Ok(());
        }
        let sy = self.scale_for(node.output, bits);
        let out_of = |s: &mut Self, bits: u8, scale: f32| s.new_value(node.output, bits, scale);
        let r = sx / sy as f64;
        match &node.op {
            FOp::Linear { w, b } | FOp::Conv { w, b, .. } => {
                let (weight, bias, rq) = self.quantize_weights(w, b, sx, bx, r);
                let out = out_of(self, bits, sy);
                let op = match &node.op {
                    FOp::Conv { window, groups, .. } => Op::Conv { weight, bias, window: window.clone(), groups: *groups, rq },
                    _ => Op::Linear { weight, bias, rq },
                };
                self.emit(&node.name, op, ins, out);
            }
            FOp::MatMul => {
                let (by, syb) = self.info(ins[1]);
                let k = *self.m.value(ins[0]).shape.last().unwrap() as i128;
                let (mult, shift) = multiplier(sx * syb / sy as f64, k * mag(bx) * mag(by));
                let out = out_of(self, bits, sy);
                self.emit(&node.name, Op::MatMul { rq: Requant::uniform(mult, shift) }, ins, out);
            }
            FOp::Binary(kind) => {
                let (by, s2) = self.info(ins[1]);
                let out = out_of(self, bits, sy);
                let sy = sy as f64;
                let op = match kind {
                    Binary::Add | Binary::Sub => {
                        let sign = if *kind == Binary::Sub { -1.0 } else { 1.0 };
                        let (m, shift) = fixed_point(&[sx / sy, sign * s2 / sy], |m, s| {
                            mag(bx) * m[0].abs() as i128 + mag(by) * m[1].abs() as i128 + (1i128 << s) < LIMIT
                        });
                        Op::Add { mult_a: m[0], mult_b: m[1], shift }
                    }
                    Binary::Mul => {
                        let (mult, shift) = multiplier(sx * s2 / sy, mag(bx) * mag(by));
                        Op::Mul { mult, shift }
                    }
                    Binary::Div => {
                        let (m, shift) = fixed_point(&[sx / (s2 * sy)], |m, s| {
                            mag(bx) * (m[0].abs() as i128) < LIMIT && s <= 60 && mag(by) << s < LIMIT
                        });
                        Op::Div { mult: m[0], shift }
                    }
                };
                self.emit(&node.name, op, ins, out);
            }
            FOp::Unary(u) => {
                let out = out_of(self, bits, sy);
                let (lo, _) = qrange(bx);
                let (olo, ohi) = qrange(bits);
                let table = (0..1i64 << bx)
                    .map(|i| (u.apply((i + lo) as f64 * sx) / sy as f64).round().clamp(olo as f64, ohi as f64) as i32)
                    .collect();
                self.emit(&node.name, Op::Lut { table }, ins, out);
            }
            FOp::Softmax { axis } => {
                let out = out_of(self, bits, (1.0 / qmax(bits)) as f32);
                let exp_table = (0..1i64 << bx).map(|d| (EXP_ONE * libm::exp(-(d as f64) * sx)).round() as i32).collect();
                self.emit(&node.name, Op::Softmax { axis: *axis, exp_table }, ins, out);
            }
            FOp::LayerNorm { axis, eps, gamma, beta } => {
                let n = gamma.len() as f64;
                let out = out_of(self, bits, sy);
                let sy = sy as f64;
                let g = gamma.iter().map(|g| (g / sy * ((LN_SHIFT - LN_FRAC_BITS) as f64).exp2()).round() as i64).collect();
                let b = beta.iter().map(|b| (b / sy * (LN_SHIFT as f64).exp2()).round() as i64).collect();
                let eps = ((n * n * n) * eps / (sx * sx)).round().min(2f64.powi(60)) as i64;
                let op = Op::LayerNorm { axis: *axis, eps, frac_bits: LN_FRAC_BITS, gamma: g, beta: b, shift: LN_SHIFT };
                self.emit(&node.name, op, ins, out);
            }
            FOp::Reduce { axes, keep_dims, mean: false } => {
                let out = out_of(self, bits, sy);
                let count: i128 = axes.iter().map(|&a| self.m.value(ins[0]).shape[a] as i128).product();
                let (m, shift) = fixed_point(&[r], |m, s| count * mag(bx) * (m[0].abs() as i128) < LIMIT && s <= 60);
                self.emit(
                    &node.name,
                    Op::Reduce { axes: axes.clone(), keep_dims: *keep_dims, mean: false, mult: m[0], shift },
                    ins,
                    out,
                );
            }
            FOp::Concat { axis } => {
                // Exact integers (booleans, indices) stay exact: scale 1, the widest width.
                let integral = ins.iter().all(|&i| self.info(i).1 == 1.0);
                let (bits, sy) =
                    if integral { (ins.iter().map(|&i| self.info(i).0).max().unwrap_or(8), 1.0) } else { (bits, sy) };
                let parts: Vec<ValueId> = ins.iter().map(|&i| self.rescaled(i, bits, sy)).collect();
                let out = out_of(self, bits, sy);
                self.emit(&node.name, Op::Concat { axis: *axis }, parts, out);
            }
            FOp::Compare(mode) => {
                // a·sx against b·s2, exactly up to the ratio's fixed point: no Rescale
                // rounds either side. Booleans are exact: 8 bits at scale 1.
                let (by, s2) = self.info(ins[1]);
                let top = sx.max(s2);
                let (m, _) = fixed_point(&[sx / top, s2 / top], |m, s| {
                    mag(bx) * m[0].abs() as i128 + mag(by) * m[1].abs() as i128 + (1i128 << s) < LIMIT
                });
                let out = out_of(self, 8, 1.0);
                self.emit(&node.name, Op::Compare { mode: *mode, mult_a: m[0], mult_b: m[1] }, ins, out);
            }
            FOp::Where => {
                let (a, b) = (self.rescaled(ins[1], bits, sy), self.rescaled(ins[2], bits, sy));
                let out = out_of(self, bits, sy);
                self.emit(&node.name, Op::Where, vec![ins[0], a, b], out);
            }
            FOp::Arg { axis, keep_dims, min, last } => {
                // Indices are exact integers: scale 1, 8 bits when they fit.
                let len = self.m.value(ins[0]).shape[*axis];
                let out = out_of(self, if len <= 128 { 8 } else { 16 }, 1.0);
                self.emit(&node.name, Op::Arg { axis: *axis, keep_dims: *keep_dims, min: *min, last: *last }, ins, out);
            }
            _ => unreachable!("scale-keeping ops are handled above"),
        }
        Ok(())
    }

    /// Int8 per-output-channel weights, the bias in accumulator units (`sx * sw[c]`),
    /// and the requantization `r * sw[c]` (with `r = sx / sy`) for each channel.
    fn quantize_weights(&self, w: &[f64], b: &[f64], sx: f64, bx: u8, r: f64) -> (Vec<i8>, Vec<i32>, Requant) {
        let (wq, sw) = quantize_rows(w, b.len());
        let k = w.len() / b.len();
        let limit = 2f64.powi(30);
        let bias: Vec<i32> = b.iter().zip(&sw).map(|(b, s)| (b / (sx * s)).round().clamp(-limit, limit) as i32).collect();
        let rq = self.requant(&sw, &bias, k as i128 * mag(bx) * 127, r);
        (wq, bias, rq)
    }

    /// Per-channel requantization `sx * sw[c] / sy` for an accumulator of `acc_bound`
    /// plus the bias.
    fn requant(&self, sw: &[f64], bias: &[i32], acc_bound: i128, r: f64) -> Requant {
        let bmax = bias.iter().map(|b| (*b as i128).abs()).max().unwrap_or(0);
        let (mut mult, mut shift) = (Vec::new(), Vec::new());
        for s in sw {
            let (m, sh) = multiplier(r * s, acc_bound + bmax);
            mult.push(m);
            shift.push(sh);
        }
        Requant { mult, shift }
    }
}
