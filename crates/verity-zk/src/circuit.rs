//! A canonical model compiled to the proof's constraint system.
//!
//! Prover and verifier build the same [`Circuit`] from the model (the prover with the
//! whole trace, the verifier with only the public input and output). It holds:
//! * **columns** — tables over a boolean hypercube: committed witnesses, public tables the
//!   verifier computes itself, *virtual* columns (a fixed 0/1 wiring of another column:
//!   im2col, pooling windows, broadcasts, reshapes), bilinear accumulators
//!   (`bias + W·X`, reduced by their own sumcheck) and lookup helpers;
//! * **instances** — per op, polynomial constraints that must vanish on every row, plus
//!   the op's lookups;
//! * **tables** — the 16-bit range table and each nonlinear op's `(x, f(x))` table;
//! * **weights** — the weight and bias tables committed in the model's key.
//!
//! Every op of `docs/semantics.md` that has an argument here is listed in
//! [`Builder::node`]; the others are refused before proving, by op and node name.

use crate::expr::{ColId, Expr};
use crate::layout::{self, log2, pad_values};
use verity_model::arith::qrange;
use verity_model::element::{operands, OpContext};
use verity_model::shape::window_taps;
use verity_model::{Model, Op, Tensor, ValueInfo};

/// Width of the range table: 16 bits, or 8 for small all-8-bit models, where the fixed
/// cost of a 2^16-row table would dominate (see `range_bits`).
const WIDE_RANGE: usize = 16;
const NARROW_RANGE: usize = 8;
/// Models whose node outputs total at most this many padded elements use the narrow table.
const NARROW_MAX_ELEMENTS: usize = 1 << 13;
/// Longest Softmax lane: its max is shown by a product over the lane (degree = length).
const MAX_LANE: usize = 16;

#[derive(Clone, Debug)]
pub enum Kind {
    /// Committed before any challenge.
    Witness,
    /// Known to the verifier (model input and output, constants, per-element parameters).
    Public,
    /// `Public` whose value at row `i` is `i` (evaluated in closed form).
    Iota,
    /// `value[target] = Σ src[source]` over `entries`.
    Virtual { src: ColId, entries: Vec<(u32, u32)> },
    /// The accumulator of bilinear `b` (weights times an activation).
    Acc(usize),
    /// The accumulator of product `p` (an activation times an activation).
    Prod(usize),
    /// A logUp helper (extension values), committed after the lookup challenges.
    Helper,
}

#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    pub vars: usize,
    pub kind: Kind,
    /// Witness and public values (prover: all; verifier: public only).
    pub values: Option<Vec<i64>>,
}

#[derive(Clone, Debug)]
pub struct Instance {
    pub name: String,
    pub vars: usize,
    pub constraints: Vec<Expr>,
    pub lookups: Vec<usize>,
}

/// Every `tuples[k](row)` must be a row of `table`, for every row of `instance`. Up to
/// [`LOOKUP_BATCH`] lookups share one helper `h = Σ_k 1/(α − f_k)`, which costs one more
/// degree per lookup in the constraint but one committed column instead of several.
#[derive(Clone, Debug)]
pub struct Lookup {
    pub instance: usize,
    pub table: usize,
    pub tuples: Vec<Vec<Expr>>,
    pub helper: ColId,
}

pub const LOOKUP_BATCH: usize = 4;

#[derive(Clone, Debug)]
pub struct Table {
    pub name: String,
    pub vars: usize,
    pub tuple: Vec<ColId>,
    pub mult: ColId,
    pub helper: ColId,
}

/// `acc[a, c, b] = bias[c] + Σ_j W[c, j] · x[a, j, b]` over padded index groups.
#[derive(Clone, Debug)]
pub struct Bilinear {
    pub acc: ColId,
    pub x: ColId,
    pub a_vars: usize,
    pub c_vars: usize,
    pub b_vars: usize,
    pub j_vars: usize,
    pub weight: usize,
    pub bias: usize,
}

/// `acc[g, m, n] = Σ_k a[g, m, k] · b[g, k, n]` (`MatMul`), over padded index groups.
#[derive(Clone, Debug)]
pub struct Product {
    pub acc: ColId,
    pub a: ColId,
    pub b: ColId,
    pub g_vars: usize,
    pub m_vars: usize,
    pub k_vars: usize,
    pub n_vars: usize,
}

#[derive(Default)]
pub struct Circuit {
    pub columns: Vec<Column>,
    pub instances: Vec<Instance>,
    pub lookups: Vec<Lookup>,
    pub tables: Vec<Table>,
    pub bilinears: Vec<Bilinear>,
    pub products: Vec<Product>,
    /// Weight-key tables (padded, power-of-two lengths).
    pub weights: Vec<Vec<i64>>,
    /// The column of each model value.
    pub value_cols: Vec<Option<ColId>>,
}

/// What the quotient argument outputs.
enum Quotient {
    /// `clamp(q)` into the given (existing) `bits`-bit column.
    Clamped(ColId, u8),
    /// `q` itself, as a new witness column.
    Free,
}

/// Ops with a proof argument.
pub fn unsupported(model: &Model) -> Option<String> {
    for n in &model.nodes {
        let why = match &n.op {
            Op::Softmax { axis, .. } if model.value(n.inputs[0]).shape[*axis] > MAX_LANE => {
                "over lanes longer than 16 has no proof argument"
            }
            Op::Clamp { .. } | Op::Lut { .. } | Op::PRelu { .. } if model.value(n.inputs[0]).bits > 16 => {
                "on inputs wider than 16 bits has no proof argument"
            }
            _ => continue,
        };
        return Some(format!("op {} (node '{}') {why}", n.op.kind(), n.name));
    }
    None
}

/// Builds the circuit. `values[v]` holds value `v`'s tensor where known: everything for
/// the prover; the model inputs and outputs for the verifier.
pub fn build(model: &Model, values: &[Option<Tensor>], prover: bool) -> Result<Circuit, String> {
    if let Some(why) = unsupported(model) {
        return Err(why);
    }
    let range_bits = range_bits(model);
    let mut b =
        Builder { model, values, prover, c: Circuit::default(), cols: vec![None; model.values.len()], range: None, range_bits };
    for &v in &model.inputs {
        b.public_value(v)?;
    }
    for (i, n) in model.nodes.iter().enumerate() {
        b.node(i).map_err(|e| format!("node '{}' ({}): {e}", n.name, n.op.kind()))?;
    }
    if prover {
        b.fill_multiplicities()?;
    }
    b.c.value_cols = b.cols;
    Ok(b.c)
}

/// The range table's width for `model`: narrow when every value has at most 8 bits (so
/// every directly range-checked difference fits) and the model is small.
pub fn range_bits(model: &Model) -> usize {
    let small =
        model.nodes.iter().map(|n| 1usize << layout::vars(&model.value(n.output).shape)).sum::<usize>() <= NARROW_MAX_ELEMENTS;
    if small && model.values.iter().all(|v| v.bits <= 8) {
        NARROW_RANGE
    } else {
        WIDE_RANGE
    }
}

struct Builder<'a> {
    range_bits: usize,
    model: &'a Model,
    values: &'a [Option<Tensor>],
    prover: bool,
    c: Circuit,
    cols: Vec<Option<ColId>>,
    range: Option<usize>,
}

fn bits_for(v: i128) -> u32 {
    128 - v.max(0).leading_zeros()
}

impl Builder<'_> {
    fn col(&mut self, name: String, vars: usize, kind: Kind, values: Option<Vec<i64>>) -> ColId {
        debug_assert!(values.as_ref().is_none_or(|v| v.len() == 1 << vars));
        self.c.columns.push(Column { name, vars, kind, values });
        self.c.columns.len() - 1
    }

    fn witness(&mut self, name: String, vars: usize, values: impl FnOnce() -> Vec<i64>) -> ColId {
        let v = self.prover.then(values);
        self.col(name, vars, Kind::Witness, v)
    }

    fn public(&mut self, name: String, vars: usize, values: Vec<i64>) -> ColId {
        self.col(name, vars, Kind::Public, Some(values))
    }

    fn tensor(&self, v: u32) -> Result<&Tensor, String> {
        self.values[v as usize].as_ref().ok_or_else(|| format!("value '{}' is unknown", self.model.value(v).name))
    }

    /// A model input, output or constant: a public column.
    fn public_value(&mut self, v: u32) -> Result<ColId, String> {
        let info = self.model.value(v);
        let t = self.tensor(v)?;
        let vals = pad_values(&info.shape, t.data.iter().map(|&x| x as i64));
        let c = self.public(info.name.clone(), layout::vars(&info.shape), vals);
        self.cols[v as usize] = Some(c);
        Ok(c)
    }

    fn value_col(&self, v: u32) -> ColId {
        self.cols[v as usize].expect("canonical order defines values before use")
    }

    /// The column of a node's output: public if it is a model output, else a witness.
    fn output_col(&mut self, v: u32) -> Result<ColId, String> {
        if self.model.outputs.contains(&v) {
            return self.public_value(v);
        }
        let info = self.model.value(v);
        let shape = info.shape.clone();
        let data = if self.prover { Some(self.tensor(v)?.data.clone()) } else { None };
        let c = self
            .witness(info.name.clone(), layout::vars(&shape), || pad_values(&shape, data.unwrap().into_iter().map(i64::from)));
        self.cols[v as usize] = Some(c);
        Ok(c)
    }

    /// A public per-element column over `shape`, zero in the padding.
    fn per_element(&mut self, name: &str, shape: &[usize], f: impl Fn(usize) -> i64) -> ColId {
        let n: usize = shape.iter().product();
        let vals = pad_values(shape, (0..n).map(f));
        self.public(name.into(), layout::vars(shape), vals)
    }

    fn instance(&mut self, name: &str, vars: usize) -> usize {
        self.c.instances.push(Instance { name: name.into(), vars, constraints: vec![], lookups: vec![] });
        self.c.instances.len() - 1
    }

    fn constrain(&mut self, inst: usize, e: Expr) {
        self.c.instances[inst].constraints.push(e);
    }

    fn lookup(&mut self, inst: usize, table: usize, tuple: Vec<Expr>) {
        let open = self.c.instances[inst].lookups.iter().copied().find(|&l| {
            let l = &self.c.lookups[l];
            l.table == table && l.tuples.len() < LOOKUP_BATCH
        });
        if let Some(l) = open {
            self.c.lookups[l].tuples.push(tuple);
            return;
        }
        let vars = self.c.instances[inst].vars;
        let name = format!("{} lookup {}", self.c.instances[inst].name, self.c.lookups.len());
        let helper = self.col(name, vars, Kind::Helper, None);
        self.c.lookups.push(Lookup { instance: inst, table, tuples: vec![tuple], helper });
        let id = self.c.lookups.len() - 1;
        self.c.instances[inst].lookups.push(id);
    }

    fn table(&mut self, name: &str, vars: usize, tuple: Vec<ColId>) -> usize {
        let mult = self.witness(format!("{name} multiplicities"), vars, || vec![0; 1 << vars]);
        let helper = self.col(format!("{name} helper"), vars, Kind::Helper, None);
        self.c.tables.push(Table { name: name.into(), vars, tuple, mult, helper });
        self.c.tables.len() - 1
    }

    fn range_table(&mut self) -> usize {
        if let Some(t) = self.range {
            return t;
        }
        // The verifier evaluates the identity table in closed form; only the prover needs its rows.
        let bits = self.range_bits;
        let rows = self.prover.then(|| (0..1 << bits).collect());
        let iota = self.col(format!("0..2^{bits}"), bits, Kind::Iota, rows);
        let t = self.table("range", bits, vec![iota]);
        self.range = Some(t);
        t
    }

    /// `[lo, hi) ∋ x - lo` for `bits ≤ 16`: a lookup of `(x - lo·valid) · 2^(16 - bits)`.
    fn range_check(&mut self, inst: usize, e: Expr) {
        let t = self.range_table();
        self.lookup(inst, t, vec![e]);
    }

    /// Splits a non-negative quantity below `2^bits` into 16-bit limbs (the top one
    /// range-checked at its own width by scaling) and returns their weighted sum.
    fn limbs(&mut self, inst: usize, name: &str, vars: usize, bits: u32, vals: Option<&[i64]>) -> Expr {
        let rb = self.range_bits;
        let n = bits.div_ceil(rb as u32) as usize;
        let mut sum = Expr::zero();
        for k in 0..n {
            let width = (bits as usize - rb * k).min(rb);
            let c = self.witness(format!("{name} limb {k}"), vars, || {
                vals.unwrap().iter().map(|&v| (v >> (rb * k)) & ((1 << width) - 1)).collect()
            });
            self.range_check(inst, Expr::col(c).scale_i(1 << (rb - width)));
            sum = sum.add(&Expr::col(c).scale_i(1 << (rb * k)));
        }
        sum
    }

    /// A virtual column over `shape` whose element `j` sums input `slot`'s elements listed
    /// by `sources(j)` (row-major flat indices).
    fn wiring(&mut self, name: &str, src: u32, shape: &[usize], sources: impl Fn(usize) -> Vec<usize>) -> ColId {
        let src_shape = self.model.value(src).shape.clone();
        let n: usize = shape.iter().product();
        let mut entries = Vec::new();
        for j in 0..n {
            let t = layout::flat_to_padded(shape, j) as u32;
            entries.extend(sources(j).into_iter().map(|u| (t, layout::flat_to_padded(&src_shape, u) as u32)));
        }
        self.virtual_col(name, self.value_col(src), layout::vars(shape), entries)
    }

    /// A virtual column over `shape` whose element `j` sums the elements `sources(j)`
    /// (row-major flat indices over `shape`) of column `src`, which has the same shape.
    fn virtual_sum(&mut self, name: &str, src: ColId, shape: &[usize], sources: impl Fn(usize) -> Vec<usize>) -> ColId {
        let n: usize = shape.iter().product();
        let mut entries = Vec::new();
        for j in 0..n {
            let t = layout::flat_to_padded(shape, j) as u32;
            entries.extend(sources(j).into_iter().map(|u| (t, layout::flat_to_padded(shape, u) as u32)));
        }
        self.virtual_col(name, src, layout::vars(shape), entries)
    }

    fn virtual_col(&mut self, name: &str, src: ColId, vars: usize, entries: Vec<(u32, u32)>) -> ColId {
        let values = self.prover.then(|| {
            let s = self.c.columns[src].values.as_ref().expect("source values");
            let mut v = vec![0i64; 1 << vars];
            entries.iter().for_each(|&(t, u)| v[t as usize] += s[u as usize]);
            v
        });
        self.col(name.into(), vars, Kind::Virtual { src, entries }, values)
    }

    fn node(&mut self, i: usize) -> Result<(), String> {
        let model = self.model;
        let node = &model.nodes[i];
        let ins: Vec<&ValueInfo> = node.inputs.iter().map(|&v| model.value(v)).collect();
        let out = model.value(node.output);
        let cx = OpContext { op: &node.op, inputs: &ins, output: out };
        let shape = out.shape.clone();
        let vars = layout::vars(&shape);
        let n: usize = shape.iter().product();
        let name = node.name.as_str();
        if let Op::Const { .. } = node.op {
            self.public_value(node.output)?;
            return Ok(());
        }
        let y = self.output_col(node.output)?;
        let inst = self.instance(name, vars);
        let one = |j: usize| operands(cx, j).into_iter().map(|(_, u)| u).collect::<Vec<_>>();
        let valid = |s: &[usize]| -> Vec<i64> { pad_values(s, std::iter::repeat_n(1, s.iter().product())) };
        match &node.op {
            Op::Const { .. } => unreachable!(),
            Op::Linear { weight, bias, rq } => {
                let x = self.value_col(node.inputs[0]);
                let (k, nout) = (weight.len() / bias.len(), bias.len());
                let [tables] = weight_tables(&node.op).try_into().expect("one table pair");
                let acc = self.bilinear(name, x, &shape[..shape.len() - 1], tables, k, nout, &[]);
                let ch = shape.len() - 1;
                self.requant(inst, &shape, Expr::col(acc), acc, |c| rq.at(c), ch, y, out.bits, acc_bound(&ins, weight, bias))?;
            }
            Op::Conv { weight, bias, window, rq, groups } => {
                // Group g is a convolution with the weight rows of the other groups zeroed,
                // over its own input channels; the accumulator is the sum over groups.
                let xs = ins[0].shape.clone();
                let (cig, [kh, kw]) = (xs[1] / groups, window.kernel);
                let j = cig * kh * kw;
                let im2col_shape = [shape[0], j, shape[2], shape[3]];
                let src = self.value_col(node.inputs[0]);
                let mut sum = Expr::zero();
                let mut accs = vec![];
                for (g, tables) in weight_tables(&node.op).into_iter().enumerate() {
                    let mut entries = Vec::new();
                    for b in 0..shape[0] {
                        for (oy, ox) in (0..shape[2]).flat_map(|oy| (0..shape[3]).map(move |ox| (oy, ox))) {
                            for c in 0..cig {
                                for (ky, kx, sy, sx) in window_taps(window, xs[2], xs[3], oy, ox) {
                                    let t = layout::index(&im2col_shape, &[b, (c * kh + ky) * kw + kx, oy, ox]);
                                    entries.push((t as u32, layout::index(&xs, &[b, g * cig + c, sy, sx]) as u32));
                                }
                            }
                        }
                    }
                    let xcol = self.virtual_col(&format!("{name} im2col {g}"), src, layout::vars(&im2col_shape), entries);
                    let acc = self.bilinear(name, xcol, &shape[..1], tables, j, bias.len(), &shape[2..]);
                    sum = sum.add(&Expr::col(acc));
                    accs.push(acc);
                }
                let acc = if accs.len() == 1 {
                    accs[0]
                } else {
                    let vals = self.prover.then(|| self.combine(&accs, |v| v.iter().sum()));
                    let c = self.col(format!("{name} accumulator"), vars, Kind::Witness, vals);
                    self.constrain(inst, Expr::col(c).sub(&sum));
                    c
                };
                self.requant(inst, &shape, Expr::col(acc), acc, |c| rq.at(c), 1, y, out.bits, acc_bound(&ins, weight, bias))?;
            }
            Op::Rescale { mult, shift } => {
                let x = self.value_col(node.inputs[0]);
                let bound = 1i128 << (ins[0].bits - 1);
                self.requant(inst, &shape, Expr::col(x), x, |_| (*mult, *shift), 0, y, out.bits, bound)?;
            }
            Op::Add { mult_a, mult_b, shift } => {
                let a = self.wiring(&format!("{name} a"), node.inputs[0], &shape, |j| vec![operands(cx, j)[0].1]);
                let b = self.wiring(&format!("{name} b"), node.inputs[1], &shape, |j| vec![operands(cx, j)[1].1]);
                let e = Expr::col(a).scale_i(*mult_a as i64).add(&Expr::col(b).scale_i(*mult_b as i64));
                let vals = self.prover.then(|| self.combine(&[a, b], |v| v[0] * *mult_a as i64 + v[1] * *mult_b as i64));
                let bound = (1i128 << (ins[0].bits - 1)) * (*mult_a as i128).abs()
                    + (1i128 << (ins[1].bits - 1)) * (*mult_b as i128).abs();
                self.divround(inst, &shape, e, vals, |_| (1, 1 << shift >> 1, 1 << shift), y, out.bits, bound)?;
            }
            Op::Mul { mult, shift } => {
                let a = self.wiring(&format!("{name} a"), node.inputs[0], &shape, |j| vec![operands(cx, j)[0].1]);
                let b = self.wiring(&format!("{name} b"), node.inputs[1], &shape, |j| vec![operands(cx, j)[1].1]);
                let e = Expr::col(a).mul(&Expr::col(b)).scale_i(*mult as i64);
                let vals = self.prover.then(|| self.combine(&[a, b], |v| v[0] * v[1] * *mult as i64));
                let bound = (1i128 << (ins[0].bits + ins[1].bits - 2)) * (*mult as i128).abs();
                self.divround(inst, &shape, e, vals, |_| (1, 1 << shift >> 1, 1 << shift), y, out.bits, bound)?;
            }
            Op::AvgPool { window, count_include_pad, mult, shift } => {
                let s = self.wiring(&format!("{name} sum"), node.inputs[0], &shape, one);
                let full = (window.kernel[0] * window.kernel[1]) as i64;
                let counts: Vec<i64> = (0..n).map(|j| if *count_include_pad { full } else { one(j).len() as i64 }).collect();
                let bound = (1i128 << (ins[0].bits - 1)) * full as i128;
                let vals = self.prover.then(|| self.combine(&[s], |v| v[0]));
                let d = |j: usize| counts[j] << shift;
                self.divround(inst, &shape, Expr::col(s), vals, |j| (2 * *mult as i64, d(j), 2 * d(j)), y, out.bits, bound)?;
            }
            Op::Reduce { mean, mult, shift, .. } => {
                let s = self.wiring(&format!("{name} sum"), node.inputs[0], &shape, one);
                let counts: Vec<i64> = (0..n).map(|j| if *mean { one(j).len() as i64 } else { 1 }).collect();
                let cnt = counts.iter().copied().max().unwrap_or(1).max(one(0).len() as i64);
                let bound = (1i128 << (ins[0].bits - 1)) * cnt as i128;
                let vals = self.prover.then(|| self.combine(&[s], |v| v[0]));
                let d = |j: usize| counts[j] << shift;
                self.divround(inst, &shape, Expr::col(s), vals, |j| (2 * *mult as i64, d(j), 2 * d(j)), y, out.bits, bound)?;
            }
            Op::Clamp { .. } | Op::Lut { .. } | Op::PRelu { .. } => {
                // A lookup of (channel, x, y, 1) in the op's table of (c, x, f_c(x), 1);
                // only per-channel PRelu has more than one channel.
                let in_bits = ins[0].bits;
                let (lo, hi) = qrange(in_bits);
                let channels = match &node.op {
                    Op::PRelu { neg_mult, .. } if neg_mult.len() > 1 => neg_mult.len(),
                    _ => 1,
                };
                let f = |c: usize, x: i64| match &node.op {
                    Op::PRelu { pos_mult, neg_mult, shift } => {
                        let m = if x >= 0 { *pos_mult } else { neg_mult[if neg_mult.len() == 1 { 0 } else { c }] };
                        verity_model::arith::requant(x, m, *shift, out.bits) as i64
                    }
                    _ => verity_model::element::eval(cx, 0, &[x as i32]) as i64,
                };
                let rows = (hi - lo + 1) as usize * channels;
                let tvars = log2(rows + 1);
                let mut t: [Vec<i64>; 4] = std::array::from_fn(|_| vec![0; 1 << tvars]);
                let mut r = 0;
                for c in 0..channels {
                    for x in lo..=hi {
                        (t[0][r], t[1][r], t[2][r], t[3][r]) = (c as i64, x, f(c, x), 1);
                        r += 1;
                    }
                }
                let cols: Vec<ColId> = t
                    .into_iter()
                    .zip(["c", "x", "y", "valid"])
                    .map(|(v, n)| self.public(format!("{name} table {n}"), tvars, v))
                    .collect();
                let table = self.table(name, tvars, cols);
                let x = self.value_col(node.inputs[0]);
                let chan = self.per_element(&format!("{name} channel"), &shape, |j| {
                    if channels > 1 {
                        layout::unravel(j, &shape)[1] as i64
                    } else {
                        0
                    }
                });
                let vcol = self.public(format!("{name} valid"), vars, valid(&shape));
                self.lookup(inst, table, vec![Expr::col(chan), Expr::col(x), Expr::col(y), Expr::col(vcol)]);
            }
            Op::MaxPool { window } => {
                let taps = window.kernel[0] * window.kernel[1];
                let mut prod = Expr::constant(1);
                let mut diffs = Vec::new();
                for t in 0..taps {
                    // Windows cut by padding repeat their first tap; the max is unchanged.
                    let xt = self.wiring(&format!("{name} tap {t}"), node.inputs[0], &shape, |j| {
                        let o = one(j);
                        vec![*o.get(t).unwrap_or(&o[0])]
                    });
                    let d = Expr::col(y).sub(&Expr::col(xt));
                    prod = prod.mul(&d);
                    diffs.push(d);
                }
                self.constrain(inst, prod);
                for d in diffs {
                    self.range_check(inst, d);
                }
            }
            Op::Reshape | Op::Transpose { .. } | Op::Slice { .. } | Op::Gather { .. } | Op::Concat { .. } => {
                let mut e = Expr::col(y);
                for (slot, &src) in node.inputs.iter().enumerate() {
                    let xt = self.wiring(&format!("{name} input {slot}"), src, &shape, |j| {
                        operands(cx, j).into_iter().filter(|o| o.0 == slot).map(|o| o.1).collect()
                    });
                    e = e.sub(&Expr::col(xt));
                }
                self.constrain(inst, e);
            }
            Op::MatMul { rq } => {
                let (a, b) = (ins[0], ins[1]);
                let r = shape.len();
                let (m, k, n_) = (shape[r - 2], a.shape[a.shape.len() - 1], shape[r - 1]);
                let batch = &shape[..r - 2];
                let mut left = batch.to_vec();
                left.extend([m, k]);
                let mut right = batch.to_vec();
                right.extend([k, n_]);
                let nb: usize = batch.iter().product();
                let (mut ea, mut eb) = (Vec::new(), Vec::new());
                for g in 0..nb {
                    for i in 0..m {
                        let ops = operands(cx, (g * m + i) * n_);
                        for (t, &(_, u)) in ops[..k].iter().enumerate() {
                            ea.push((
                                layout::flat_to_padded(&left, (g * m + i) * k + t) as u32,
                                layout::flat_to_padded(&a.shape, u) as u32,
                            ));
                        }
                    }
                    for jj in 0..n_ {
                        let ops = operands(cx, g * m * n_ + jj);
                        for (t, &(_, u)) in ops[k..].iter().enumerate() {
                            eb.push((
                                layout::flat_to_padded(&right, (g * k + t) * n_ + jj) as u32,
                                layout::flat_to_padded(&b.shape, u) as u32,
                            ));
                        }
                    }
                }
                let (sa, sb) = (self.value_col(node.inputs[0]), self.value_col(node.inputs[1]));
                let ac = self.virtual_col(&format!("{name} left"), sa, layout::vars(&left), ea);
                let bc = self.virtual_col(&format!("{name} right"), sb, layout::vars(&right), eb);
                let acc = self.product(name, ac, bc, layout::vars(batch), log2(m), log2(k), log2(n_));
                let bound = k as i128 * (1i128 << (a.bits - 1)) * (1i128 << (b.bits - 1));
                self.requant(inst, &shape, Expr::col(acc), acc, |_| rq.at(0), 0, y, out.bits, bound)?;
            }
            Op::Softmax { axis, exp_table } => {
                // m = max of the lane (a product of differences is zero, each is ≥ 0),
                // e = exp_table[m − x] by lookup, S = Σ_lane e by wiring, then
                // y = clamp(floor((2·qmax·e + S) / 2S)).
                let lane_of = |j: usize| verity_model::shape::lane(&shape, *axis, j).collect::<Vec<_>>();
                let len = shape[*axis];
                let xdata = if self.prover { Some(self.tensor(node.inputs[0])?.data.clone()) } else { None };
                let mx = self.witness(format!("{name} lane max"), vars, || {
                    let x = xdata.unwrap();
                    pad_values(&shape, (0..n).map(|j| lane_of(j).iter().map(|&u| x[u] as i64).max().unwrap()))
                });
                let mut prod = Expr::constant(1);
                for t in 0..len {
                    let xt = self.wiring(&format!("{name} lane {t}"), node.inputs[0], &shape, |j| vec![lane_of(j)[t]]);
                    let diff = Expr::col(mx).sub(&Expr::col(xt));
                    prod = prod.mul(&diff);
                    self.range_check(inst, diff);
                }
                self.constrain(inst, prod);
                let x = self.value_col(node.inputs[0]);
                let tvars = log2(exp_table.len() + 1);
                let mut t: [Vec<i64>; 3] = std::array::from_fn(|_| vec![0; 1 << tvars]);
                for (k, &e) in exp_table.iter().enumerate() {
                    (t[0][k], t[1][k], t[2][k]) = (k as i64, e as i64, 1);
                }
                let cols: Vec<ColId> = t
                    .into_iter()
                    .zip(["d", "exp", "valid"])
                    .map(|(v, n)| self.public(format!("{name} table {n}"), tvars, v))
                    .collect();
                let table = self.table(name, tvars, cols);
                let e_vals = self.prover.then(|| {
                    let (m, xv) = (self.vals(mx), self.vals(x));
                    let valid = valid(&shape);
                    (0..m.len())
                        .map(|i| if valid[i] == 1 { exp_table[(m[i] - xv[i]) as usize] as i64 } else { 0 })
                        .collect::<Vec<_>>()
                });
                let e = self.witness(format!("{name} exp"), vars, || e_vals.clone().unwrap());
                let vcol = self.public(format!("{name} valid"), vars, valid(&shape));
                let d = Expr::col(mx).sub(&Expr::col(x)).mul(&Expr::col(vcol));
                self.lookup(inst, table, vec![d, Expr::col(e), Expr::col(vcol)]);
                let sum = self.virtual_sum(&format!("{name} sum"), e, &shape, lane_of);
                let qmax = qrange(out.bits).1;
                let num = Expr::col(e).scale_i(2 * qmax).add(&Expr::col(sum));
                let (num_vals, den_vals) = match (&e_vals, self.c.columns[sum].values.as_ref()) {
                    (Some(ev), Some(sv)) => (
                        Some(ev.iter().zip(sv).map(|(e, s)| 2 * qmax * e + s).collect()),
                        Some(sv.iter().map(|s| 2 * s).collect()),
                    ),
                    _ => (None, None),
                };
                let e_max = exp_table.iter().map(|&v| v as i64).max().unwrap_or(1);
                let d_max = 2 * len as i64 * e_max;
                self.quotient(
                    inst,
                    &shape,
                    num,
                    num_vals,
                    Expr::col(sum).scale_i(2),
                    den_vals,
                    vec![qmax + 2; n],
                    vec![d_max; n],
                    (2 * qmax as i128 + len as i128) * e_max as i128,
                    Quotient::Clamped(y, out.bits),
                )?;
            }
            Op::LayerNorm { axis, eps, frac_bits, gamma, beta, shift } => {
                self.layer_norm(inst, node.inputs[0], y, out.bits, *axis, *eps, *frac_bits, gamma, beta, *shift)?
            }
            Op::Div { mult, shift } => {
                // With sa = sign(a), sb = sign(b) (witnesses: s³ = s, x·(1 − s²) = 0,
                // s·x ≥ 0), the op is one quotient: for b ≠ 0
                // ⌊(2·mult·a·sb + |b|·2^shift) / (2·|b|·2^shift)⌋, and for b = 0 the
                // numerator sa·sign(mult)·(qmax + 1) over 1, which clamps to the bound or 0.
                let a = self.wiring(&format!("{name} a"), node.inputs[0], &shape, |j| vec![operands(cx, j)[0].1]);
                let b = self.wiring(&format!("{name} b"), node.inputs[1], &shape, |j| vec![operands(cx, j)[1].1]);
                let vcol = self.per_element("valid", &shape, |_| 1);
                let mut signs = vec![];
                for (col, bits, what) in [(a, ins[0].bits, "a"), (b, ins[1].bits, "b")] {
                    let sv = self.prover.then(|| self.vals(col).iter().map(|x| x.signum()).collect::<Vec<_>>());
                    let sg = self.witness(format!("{name} sign {what}"), vars, || sv.clone().unwrap());
                    let (se, xe) = (Expr::col(sg), Expr::col(col));
                    self.constrain(inst, se.mul(&se).mul(&se).sub(&se));
                    self.constrain(inst, xe.sub(&xe.mul(&se).mul(&se)));
                    let abs = self.prover.then(|| self.vals(col).iter().map(|x| x.abs()).collect::<Vec<_>>());
                    let l = self.limbs(inst, &format!("{name} |{what}|"), vars, bits as u32, abs.as_deref());
                    self.constrain(inst, l.sub(&xe.mul(&se)));
                    // |x| − s² ≥ 0: a zero x has sign 0.
                    let gap = self.prover.then(|| self.vals(col).iter().map(|x| x.abs() - x.signum().abs()).collect::<Vec<_>>());
                    let g = self.limbs(inst, &format!("{name} |{what}| − sign²"), vars, bits as u32, gap.as_deref());
                    self.constrain(inst, g.sub(&xe.mul(&se)).add(&se.mul(&se)));
                    signs.push(se);
                }
                let (sa, sb) = (&signs[0], &signs[1]);
                let (v, ae, be) = (Expr::col(vcol), Expr::col(a), Expr::col(b));
                let qmax = qrange(out.bits).1;
                let zero_b = v.sub(&sb.mul(sb));
                let num = ae
                    .mul(sb)
                    .scale_i(2 * *mult as i64)
                    .add(&be.mul(sb).scale_i(1 << shift))
                    .add(&zero_b.mul(sa).scale_i(mult.signum() as i64 * (qmax + 1)));
                let den = be.mul(sb).scale_i(2 << shift).add(&zero_b);
                let (num_vals, den_vals) = if self.prover {
                    let (av, bv, valid) = (self.vals(a), self.vals(b), self.vals(vcol));
                    let f = |i: usize| -> (i64, i64) {
                        if valid[i] == 0 {
                            (0, 0)
                        } else if bv[i] == 0 {
                            (av[i].signum() * mult.signum() as i64 * (qmax + 1), 1)
                        } else {
                            (2 * *mult as i64 * av[i] * bv[i].signum() + (bv[i].abs() << shift), bv[i].abs() << (shift + 1))
                        }
                    };
                    let (nv, dv): (Vec<i64>, Vec<i64>) = (0..av.len()).map(f).unzip();
                    (Some(nv), Some(dv))
                } else {
                    (None, None)
                };
                let qb = (((1i64 << (ins[0].bits - 1)) * (*mult as i64).abs()) >> shift) + qmax + 3;
                let d_max = (1i64 << (ins[1].bits - 1)) << (shift + 1);
                let num_max = ((2 * (*mult as i128).abs()) << (ins[0].bits - 1)) + ((d_max as i128) >> 1) + qmax as i128 + 1;
                self.quotient(
                    inst,
                    &shape,
                    num,
                    num_vals,
                    den,
                    den_vals,
                    vec![qb; n],
                    vec![d_max; n],
                    num_max,
                    Quotient::Clamped(y, out.bits),
                )?;
            }
        }
        Ok(())
    }

    /// LayerNorm over rows of `n` elements (`docs/semantics.md`), as a chain of exact
    /// integer steps, each a constraint or a quotient argument:
    /// `S = Σ_row x` (wiring), `d = n·x − S`, `sq = d²`, `SS = Σ_row sq` (wiring),
    /// `v = ⌊(SS + eps) / n⌋`, `den = isqrt(v)` (`v − den² ≥ 0`, `(den + 1)² − 1 − v ≥ 0`),
    /// `z = ⌊(2·d·2^frac + den) / 2den⌋` or 0 when `den = 0` (indicator `nz`), and
    /// `y = clamp(⌊(z·γ + β + 2^(shift−1)) / 2^shift⌋)`.
    #[allow(clippy::too_many_arguments)]
    fn layer_norm(
        &mut self,
        inst: usize,
        x_id: u32,
        y: ColId,
        bits: u8,
        axis: usize,
        eps: i64,
        frac: u8,
        gamma: &[i64],
        beta: &[i64],
        shift: u8,
    ) -> Result<(), String> {
        let xin = self.model.value(x_id);
        let shape = xin.shape.clone();
        let vars = layout::vars(&shape);
        let count: usize = shape.iter().product();
        let n = shape[axis..].iter().product::<usize>();
        let row = |j: usize| (j / n * n..j / n * n + n).collect::<Vec<_>>();
        let name = self.c.instances[inst].name.clone();
        let x = self.value_col(x_id);
        let s = self.wiring(&format!("{name} row sum"), x_id, &shape, row);
        let d = Expr::col(x).scale_i(n as i64).sub(&Expr::col(s));
        let vcol = self.per_element("valid", &shape, |_| 1);
        let valid = self.vals(vcol).clone();
        // Witness values, following the reference step by step.
        let mut wv: Option<[Vec<i64>; 7]> = None;
        if self.prover {
            let (xv, sv) = (self.vals(x), self.vals(s));
            let len = 1 << vars;
            let mut w: [Vec<i64>; 7] = std::array::from_fn(|_| vec![0; len]);
            // sq, ss (per row), v, den, nz, z numerator, z denominator
            let dv: Vec<i64> = (0..len).map(|i| n as i64 * xv[i] - sv[i]).collect();
            for i in 0..len {
                w[0][i] = dv[i] * dv[i] * valid[i];
            }
            for j in 0..count {
                let i = layout::flat_to_padded(&shape, j);
                let ss: i64 = row(j).into_iter().map(|u| w[0][layout::flat_to_padded(&shape, u)]).sum();
                let v = (ss + eps) / n as i64;
                let den = verity_model::arith::isqrt(v as u128) as i64;
                let nz = (den != 0) as i64;
                (w[1][i], w[2][i], w[3][i], w[4][i]) = (ss, v, den, nz);
                (w[5][i], w[6][i]) = if nz == 1 { (2 * (dv[i] << frac) + den, 2 * den) } else { (0, 1) };
            }
            wv = Some(w);
        }
        let w = wv.as_ref();
        let x_mag = 1i128 << (self.model.value(x_id).bits - 1);
        let d_max = 2 * n as i128 * x_mag;
        let ss_max = n as i128 * d_max * d_max;
        if ss_max + eps as i128 >= 1 << 62 || frac > 40 || (d_max << frac) >= 1 << 60 {
            return Err(format!("LayerNorm over {n} elements is outside the proof's range"));
        }
        let (d_max, ss_max) = (d_max as i64, ss_max as i64);
        let sq = self.witness(format!("{name} squared deviation"), vars, || w.unwrap()[0].clone());
        self.constrain(inst, Expr::col(sq).sub(&d.mul(&d)));
        let ss = self.virtual_sum(&format!("{name} squares sum"), sq, &shape, row);
        // v = ⌊(SS + eps) / n⌋
        let v_max = (ss_max + eps) / n as i64;
        let num = Expr::col(ss).add(&Expr::col(vcol).scale_i(eps));
        let num_vals = w.map(|w| (0..w[1].len()).map(|i| (w[1][i] + eps) * valid[i]).collect());
        let den_vals = w.map(|_| valid.iter().map(|v| v * n as i64).collect());
        let v = self.quotient(
            inst,
            &shape,
            num,
            num_vals,
            Expr::col(vcol).scale_i(n as i64),
            den_vals,
            vec![v_max + 1; count],
            vec![n as i64; count],
            (ss_max + eps) as i128,
            Quotient::Free,
        )?;
        // den = isqrt(v)
        let den_max = verity_model::arith::isqrt(v_max as u128) as i64;
        let den = self.witness(format!("{name} isqrt"), vars, || w.unwrap()[3].clone());
        let den_e = Expr::col(den);
        let dn = self.limbs(inst, &format!("{name} isqrt range"), vars, bits_for(den_max as i128), w.map(|w| w[3].as_slice()));
        self.constrain(inst, dn.sub(&den_e));
        let gap_bits = bits_for(2 * den_max as i128 + 1);
        let lo_gap = w.map(|w| (0..w[2].len()).map(|i| w[2][i] - w[3][i] * w[3][i]).collect::<Vec<_>>());
        let hi_gap = w.map(|w| (0..w[2].len()).map(|i| (w[3][i] + 1) * (w[3][i] + 1) - 1 - w[2][i]).collect::<Vec<_>>());
        let lo = self.limbs(inst, &format!("{name} isqrt low gap"), vars, gap_bits, lo_gap.as_deref());
        let hi = self.limbs(inst, &format!("{name} isqrt high gap"), vars, gap_bits, hi_gap.as_deref());
        let den_sq = den_e.mul(&den_e);
        self.constrain(inst, lo.sub(&v).add(&den_sq));
        // (den + 1)² − 1 − v = den² + 2·den − v; padding rows have v = den = 0, gaps 0.
        self.constrain(inst, hi.sub(&den_sq).sub(&den_e.scale_i(2)).add(&v));
        // nz = [den ≠ 0]
        let nz = self.witness(format!("{name} nonzero"), vars, || w.unwrap()[4].clone());
        let nz_e = Expr::col(nz);
        self.constrain(inst, nz_e.mul(&nz_e).sub(&nz_e));
        self.constrain(inst, den_e.sub(&den_e.mul(&nz_e)));
        let pos = w.map(|w| (0..w[3].len()).map(|i| w[3][i] - w[4][i]).collect::<Vec<_>>());
        let pos_e = self.limbs(inst, &format!("{name} isqrt positive"), vars, bits_for(den_max as i128), pos.as_deref());
        self.constrain(inst, pos_e.sub(&den_e).add(&nz_e));
        // z = ⌊(2·d·2^frac + den) / 2den⌋ when den ≠ 0, else ⌊0 / 1⌋.
        let num = nz_e.mul(&d.scale_i(2i64 << frac).add(&den_e));
        let den2 = den_e.scale_i(2).add(&Expr::col(vcol)).sub(&nz_e);
        let z_max = (d_max << frac) + den_max + 1;
        let z = self.quotient(
            inst,
            &shape,
            num,
            w.map(|w| w[5].clone()),
            den2,
            w.map(|w| w[6].clone()),
            vec![z_max; count],
            vec![2 * den_max + 1; count],
            ((d_max as i128) << (frac + 1)) + den_max as i128,
            Quotient::Free,
        )?;
        // y = clamp(⌊(z·γ + β + half) / 2^shift⌋)
        let zvals = w.map(|_| {
            let zc = z.columns().next().expect("quotient column");
            self.vals(zc).clone()
        });
        let half = if shift == 0 { 0 } else { 1i64 << (shift - 1) };
        let g_max = gamma.iter().map(|g| g.abs()).max().unwrap_or(0) as i128;
        let b_max = beta.iter().map(|b| b.abs()).max().unwrap_or(0) as i128;
        if z_max as i128 * g_max + b_max + half as i128 >= 1 << 62 {
            return Err("LayerNorm scale is outside the proof's range".into());
        }
        let pos_in_row = |j: usize| j % n;
        let gcol = self.per_element("gamma", &shape, |j| gamma[pos_in_row(j)]);
        let bcol = self.per_element("beta", &shape, |j| beta[pos_in_row(j)] + half);
        let num = z.mul(&Expr::col(gcol)).add(&Expr::col(bcol));
        let num_vals = zvals.map(|zv| {
            let (g, b) = (self.vals(gcol), self.vals(bcol));
            (0..zv.len()).map(|i| zv[i] * g[i] + b[i]).collect()
        });
        let dcol = self.per_element("D", &shape, |_| 1i64 << shift);
        let qb = (z_max as i128 * g_max + b_max + half as i128) / (1i128 << shift) + 1;
        let den_vals = self.prover.then(|| self.vals(dcol).clone());
        self.quotient(
            inst,
            &shape,
            num,
            num_vals,
            Expr::col(dcol),
            den_vals,
            vec![qb as i64; count],
            vec![1i64 << shift; count],
            z_max as i128 * g_max + b_max + half as i128,
            Quotient::Clamped(y, bits),
        )?;
        Ok(())
    }

    /// Row-wise combination of materialized columns.
    fn combine(&self, cols: &[ColId], f: impl Fn(&[i64]) -> i64) -> Vec<i64> {
        let vals: Vec<&Vec<i64>> = cols.iter().map(|&c| self.c.columns[c].values.as_ref().expect("values")).collect();
        (0..vals[0].len()).map(|i| f(&vals.iter().map(|v| v[i]).collect::<Vec<_>>())).collect()
    }

    /// Adds the weight tables and the accumulator column of `bias + W · x`.
    #[allow(clippy::too_many_arguments)]
    fn bilinear(&mut self, name: &str, x: ColId, a: &[usize], [wt, bt]: [Vec<i64>; 2], j: usize, c: usize, b: &[usize]) -> ColId {
        let (a_vars, b_vars, c_vars, j_vars) = (layout::vars(a), layout::vars(b), log2(c), log2(j));
        let values = self.prover.then(|| {
            let xv = self.c.columns[x].values.as_ref().expect("input values");
            let (na, nc, nb, nj) = (1 << a_vars, 1 << c_vars, 1 << b_vars, 1 << j_vars);
            let mut acc = vec![0i64; na * nc * nb];
            for ia in 0..na {
                for ic in 0..nc {
                    for ib in 0..nb {
                        let s: i64 = (0..nj).map(|ij| wt[ic * nj + ij] * xv[(ia * nj + ij) * nb + ib]).sum();
                        acc[(ia * nc + ic) * nb + ib] = bt[ic] + s;
                    }
                }
            }
            acc
        });
        self.c.weights.push(wt);
        self.c.weights.push(bt);
        let (weight, bias) = (self.c.weights.len() - 2, self.c.weights.len() - 1);
        let id = self.c.bilinears.len();
        let acc = self.col(format!("{name} accumulator"), a_vars + c_vars + b_vars, Kind::Acc(id), values);
        self.c.bilinears.push(Bilinear { acc, x, a_vars, c_vars, b_vars, j_vars, weight, bias });
        acc
    }

    /// The accumulator of the batched product `acc[g, m, n] = Σ_k a[g, m, k] · b[g, k, n]`.
    #[allow(clippy::too_many_arguments)]
    fn product(&mut self, name: &str, a: ColId, b: ColId, g_vars: usize, m_vars: usize, k_vars: usize, n_vars: usize) -> ColId {
        let values = self.prover.then(|| {
            let (av, bv) = (self.vals(a), self.vals(b));
            let (ng, nm, nk, nn) = (1 << g_vars, 1 << m_vars, 1 << k_vars, 1 << n_vars);
            let mut acc = vec![0i64; ng * nm * nn];
            for g in 0..ng {
                for i in 0..nm {
                    for t in 0..nk {
                        let x = av[(g * nm + i) * nk + t];
                        if x != 0 {
                            for jj in 0..nn {
                                acc[(g * nm + i) * nn + jj] += x * bv[(g * nk + t) * nn + jj];
                            }
                        }
                    }
                }
            }
            acc
        });
        let id = self.c.products.len();
        let acc = self.col(format!("{name} accumulator"), g_vars + m_vars + n_vars, Kind::Prod(id), values);
        self.c.products.push(Product { acc, a, b, g_vars, m_vars, k_vars, n_vars });
        acc
    }

    /// `y = clamp(rshift_round(n · mult[c], shift[c]))`, `c` the index on axis `ch`.
    #[allow(clippy::too_many_arguments)]
    fn requant(
        &mut self,
        inst: usize,
        shape: &[usize],
        n: Expr,
        ncol: ColId,
        rq: impl Fn(usize) -> (i32, u8),
        ch: usize,
        y: ColId,
        bits: u8,
        n_bound: i128,
    ) -> Result<(), String> {
        let chan = |j: usize| if shape.is_empty() { 0 } else { layout::unravel(j, shape)[ch] };
        let vals = self.c.columns[ncol].values.clone();
        let params = |j: usize| {
            let (m, s) = rq(chan(j));
            (m as i64, if s == 0 { 0 } else { 1i64 << (s - 1) }, 1i64 << s)
        };
        self.divround(inst, shape, n, vals, params, y, bits, n_bound)
    }

    /// `y = clamp(floor((n·A + H) / D))` with public per-element `(A, H, D)`; `n_bound`
    /// bounds `|n|`.
    #[allow(clippy::too_many_arguments)]
    fn divround(
        &mut self,
        inst: usize,
        shape: &[usize],
        n: Expr,
        nvals: Option<Vec<i64>>,
        params: impl Fn(usize) -> (i64, i64, i64),
        y: ColId,
        bits: u8,
        n_bound: i128,
    ) -> Result<(), String> {
        let count: usize = shape.iter().product();
        let p: Vec<(i64, i64, i64)> = (0..count).map(&params).collect();
        let qb: Vec<i64> =
            p.iter().map(|&(a, h, d)| ((n_bound * (a as i128).abs() + h as i128) / d as i128 + 1) as i64).collect();
        let l_max = p.iter().map(|&(a, h, _)| n_bound * (a as i128).abs() + h as i128).max().unwrap_or(0);
        if l_max >= 1 << 62 || p.iter().any(|t| t.2 <= 0 || t.2 > 1 << 60) {
            return Err("the rescaling is outside the proof's range (|n·A + H| < 2^62, 0 < D ≤ 2^60)".into());
        }
        let a = self.per_element("A", shape, |j| p[j].0);
        let h = self.per_element("H", shape, |j| p[j].1);
        let d = self.per_element("D", shape, |j| p[j].2);
        let num = n.mul(&Expr::col(a)).add(&Expr::col(h));
        let num_vals = nvals.map(|nv| {
            let (av, hv) = (self.vals(a), self.vals(h));
            (0..nv.len()).map(|i| nv[i] * av[i] + hv[i]).collect()
        });
        let den_vals = self.prover.then(|| self.vals(d).clone());
        let den_max = p.iter().map(|t| t.2).collect();
        self.quotient(inst, shape, num, num_vals, Expr::col(d), den_vals, qb, den_max, l_max, Quotient::Clamped(y, bits))?;
        Ok(())
    }

    /// The quotient–remainder argument `q = floor(num / den)` for `0 < den ≤ d_max ≤ 2^60`
    /// and `|num| < 2^62`, with `|q| ≤ qb` per element (public).
    ///
    /// Witnesses: the remainder `R` and `RC = den − 1 − R`, both range-checked, so
    /// `0 ≤ R < den`; `q` shown to lie in `[−Q, Q]` by range-checking `QP = q + Q` and
    /// `QM = Q − q`. Constraints: `num − R − q·den = 0`, `R + RC − den + valid = 0`,
    /// `q + Q − QP = 0`, `QP + QM − 2Q = 0`. The bound on `q` keeps `|q·den| ≲ 2^62`, so
    /// every integer term stays below p/2 and the field identities are integer identities.
    ///
    /// `Clamped(y, bits)`: the output is `y = clamp(q)`, with `q = y + d` for the clamp
    /// excess `d` and `E = |d|` range-checked: `d·(y − qmin)·(y − qmax) = 0`,
    /// `E·Δ − d·(2y − qmin − qmax) = 0` (`Δ = qmax − qmin`) and `y − qmin ∈ [0, 2^bits)`.
    /// So `d = 0` unless `y` is at a bound, `d ≥ 0` at `qmax` and `d ≤ 0` at `qmin`: exactly
    /// the clamp of the quotient. `Free`: `q` is a new witness column, returned.
    #[allow(clippy::too_many_arguments)]
    fn quotient(
        &mut self,
        inst: usize,
        shape: &[usize],
        num: Expr,
        num_vals: Option<Vec<i64>>,
        den: Expr,
        den_vals: Option<Vec<i64>>,
        qb: Vec<i64>,
        den_max: Vec<i64>,
        num_max: i128,
        out: Quotient,
    ) -> Result<Expr, String> {
        // The bounds that make every field identity below an integer identity.
        let d_max = den_max.iter().copied().max().unwrap_or(1);
        let qd_max = qb.iter().zip(&den_max).map(|(&q, &d)| q as i128 * d as i128).max().unwrap_or(0);
        if num_max >= 1 << 62 || d_max > 1 << 60 || qd_max > (1 << 62) + (1 << 61) {
            return Err(
                "a division is outside the proof's range (|numerator| < 2^62, divisor ≤ 2^60, |quotient·divisor| ≲ 2^62)".into(),
            );
        }
        let vars = layout::vars(shape);
        let qcol = self.per_element("Q", shape, |j| qb[j]);
        let v = self.per_element("valid", shape, |_| 1);
        let q_max = qb.iter().copied().max().unwrap_or(1) as i128;
        let r_bits = bits_for(d_max as i128 - 1);
        let qr_bits = bits_for(2 * q_max);
        let name = self.c.instances[inst].name.clone();
        // Witness values: R, RC, Q + q, Q − q, q.
        type Wit = [Vec<i64>; 5];
        let mut wit: Option<Wit> = None;
        if self.prover {
            let (nv, dv) = (num_vals.as_ref().expect("numerator"), den_vals.as_ref().expect("denominator"));
            let (qv, valid) = (self.vals(qcol), self.vals(v));
            let len = 1 << vars;
            let mut w: Wit = std::array::from_fn(|_| vec![0; len]);
            for i in 0..len {
                if valid[i] == 0 {
                    continue;
                }
                if dv[i] <= 0 {
                    return Err(format!("division by {} at padded element {i}", dv[i]));
                }
                let q = nv[i].div_euclid(dv[i]);
                let r = nv[i] - q * dv[i];
                (w[0][i], w[1][i], w[2][i], w[3][i], w[4][i]) = (r, dv[i] - 1 - r, q + qv[i], qv[i] - q, q);
            }
            wit = Some(w);
        }
        let w = wit.as_ref();
        let r = self.limbs(inst, &format!("{name} remainder"), vars, r_bits, w.map(|w| w[0].as_slice()));
        let rc = self.limbs(inst, &format!("{name} remainder complement"), vars, r_bits, w.map(|w| w[1].as_slice()));
        let qp = self.limbs(inst, &format!("{name} Q + quotient"), vars, qr_bits, w.map(|w| w[2].as_slice()));
        let qm = self.limbs(inst, &format!("{name} Q − quotient"), vars, qr_bits, w.map(|w| w[3].as_slice()));
        let qc = Expr::col(qcol);
        let q = match out {
            Quotient::Free => Expr::col(self.witness(format!("{name} quotient"), vars, || w.unwrap()[4].clone())),
            Quotient::Clamped(y, bits) => {
                let (qmin, qmax) = qrange(bits);
                let excess = w.map(|w| {
                    let yv = self.vals(y);
                    w[4].iter().zip(yv).map(|(&q, &y)| q - y).collect::<Vec<i64>>()
                });
                if let (Some(w), Some(ex)) = (w, &excess) {
                    let yv = self.vals(y);
                    let valid = self.vals(v);
                    if let Some(i) = (0..ex.len()).find(|&i| valid[i] == 1 && w[4][i].clamp(qmin, qmax) != yv[i]) {
                        return Err(format!(
                            "the trace disagrees with the op at padded element {i}: {} vs {}",
                            yv[i],
                            w[4][i].clamp(qmin, qmax)
                        ));
                    }
                }
                let dcol = self.witness(format!("{name} clamp excess"), vars, || excess.clone().unwrap());
                let abs = excess.as_ref().map(|e| e.iter().map(|x| x.abs()).collect::<Vec<_>>());
                let e = self.limbs(inst, &format!("{name} |clamp excess|"), vars, bits_for(q_max + (1 << bits)), abs.as_deref());
                let (yc, dc) = (Expr::col(y), Expr::col(dcol));
                self.constrain(inst, dc.mul(&yc.sub(&Expr::constant(qmin))).mul(&yc.sub(&Expr::constant(qmax))));
                self.constrain(inst, e.scale_i(qmax - qmin).sub(&dc.mul(&yc.scale_i(2).sub(&Expr::constant(qmin + qmax)))));
                if bits as usize > self.range_bits {
                    return Err(format!("{bits}-bit outputs have no range argument"));
                }
                let shifted = yc.sub(&Expr::col(v).scale_i(qmin)).scale_i(1 << (self.range_bits - bits as usize));
                self.range_check(inst, shifted);
                yc.add(&dc)
            }
        };
        self.constrain(inst, num.sub(&r).sub(&q.mul(&den)));
        self.constrain(inst, r.add(&rc).sub(&den).add(&Expr::col(v)));
        self.constrain(inst, q.add(&qc).sub(&qp));
        self.constrain(inst, qp.add(&qm).sub(&qc.scale_i(2)));
        Ok(q)
    }

    fn vals(&self, c: ColId) -> &Vec<i64> {
        self.c.columns[c].values.as_ref().expect("values")
    }

    /// Multiplicities of every table row among its lookups.
    fn fill_multiplicities(&mut self) -> Result<(), String> {
        use std::collections::HashMap;
        for ti in 0..self.c.tables.len() {
            let t = &self.c.tables[ti];
            let rows = 1usize << t.vars;
            let cols: Vec<&Vec<i64>> = t.tuple.iter().map(|&c| self.vals(c)).collect();
            // The range table's row is its value; other tables are indexed by tuple.
            let iota = matches!(self.c.columns[t.tuple[0]].kind, Kind::Iota);
            let mut index: HashMap<Vec<i64>, usize> = HashMap::new();
            if !iota {
                for r in (0..rows).rev() {
                    index.insert(cols.iter().map(|c| c[r]).collect(), r);
                }
            }
            let mut mult = vec![0i64; rows];
            for l in self.c.lookups.iter().filter(|l| l.table == ti) {
                let inst = &self.c.instances[l.instance];
                for tuple in &l.tuples {
                    for i in 0..1usize << inst.vars {
                        let key: Vec<i64> = tuple.iter().map(|e| eval_int(e, &self.c.columns, i)).collect();
                        let r = if iota {
                            (0..rows as i64).contains(&key[0]).then_some(key[0] as usize)
                        } else {
                            index.get(&key).copied()
                        };
                        let r = r.ok_or_else(|| {
                            format!(
                                "node '{}': {key:?} is not in table '{}' (the trace does not satisfy the op)",
                                inst.name, t.name
                            )
                        })?;
                        mult[r] += 1;
                    }
                }
            }
            let m = self.c.tables[ti].mult;
            self.c.columns[m].values = Some(mult);
        }
        Ok(())
    }
}

/// A Linear or Conv layer's weight matrices `[c_out, j]` and biases, padded: the tables
/// the model's key commits to. A grouped Conv has one pair per group, with the rows of
/// the other groups zero.
fn weight_tables(op: &Op) -> Vec<[Vec<i64>; 2]> {
    let (w, bias, groups) = match op {
        Op::Linear { weight, bias, .. } => (weight, bias, 1),
        Op::Conv { weight, bias, groups, .. } => (weight, bias, *groups),
        _ => return vec![],
    };
    let (c, j) = (bias.len(), w.len() / bias.len());
    let cog = c / groups;
    (0..groups)
        .map(|g| {
            let mine = |o: usize| o / cog == g;
            let wt = pad_values(&[c, j], w.iter().enumerate().map(|(i, &v)| if mine(i / j) { v as i64 } else { 0 }));
            let bt = pad_values(&[c], bias.iter().enumerate().map(|(o, &v)| if mine(o) { v as i64 } else { 0 }));
            [wt, bt]
        })
        .collect()
}

/// The number of variables of every weight table of `model`, in circuit order.
pub fn weight_vars(model: &Model) -> Vec<usize> {
    let mut out = Vec::new();
    for n in &model.nodes {
        let (weight, bias, groups) = match &n.op {
            Op::Linear { weight, bias, .. } => (weight, bias, 1),
            Op::Conv { weight, bias, groups, .. } => (weight, bias, *groups),
            _ => continue,
        };
        for _ in 0..groups {
            out.extend([log2(bias.len()) + log2(weight.len() / bias.len()), log2(bias.len())]);
        }
    }
    out
}

/// Every weight table of `model`, in circuit order.
pub fn model_weights(model: &Model) -> Vec<Vec<i64>> {
    model.nodes.iter().flat_map(|n| weight_tables(&n.op)).flatten().collect()
}

/// An integer expression's value at row `i` (its coefficients are small integers here).
fn eval_int(e: &Expr, cols: &[Column], i: usize) -> i64 {
    use p3_field::PrimeField64;
    let signed = |c: &crate::field::E| {
        let c: &[crate::field::F] = p3_field::BasedVectorSpace::as_basis_coefficients_slice(c);
        let u = c[0].as_canonical_u64();
        if u > crate::field::F::ORDER_U64 / 2 {
            -((crate::field::F::ORDER_U64 - u) as i64)
        } else {
            u as i64
        }
    };
    e.terms.iter().map(|(c, m)| m.iter().fold(signed(c), |acc, &k| acc * cols[k].values.as_ref().expect("values")[i])).sum()
}

/// `max |acc|` of a Linear or Conv layer.
fn acc_bound(ins: &[&ValueInfo], weight: &[i8], bias: &[i32]) -> i128 {
    let k = (weight.len() / bias.len()) as i128;
    let wmax = weight.iter().map(|&w| (w as i128).abs()).max().unwrap_or(0);
    let bmax = bias.iter().map(|&b| (b as i128).abs()).max().unwrap_or(0);
    k * (1i128 << (ins[0].bits - 1)) * wmax + bmax
}
