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
//! * **tables** — the range table and each nonlinear op's `(x, f(x))` table;
//! * **weights** — the weight and bias tables committed in the model's key.
//!
//! Every op of `docs/semantics.md` that has an argument here is listed in
//! `ops.rs`; the few shapes without one are refused before proving, by op and node name
//! ([`unsupported`]).

mod ops;
mod products;
mod quotient;
mod select;

use crate::expr::{ColId, Expr};
use crate::layout::{self, log2, pad_values};
use quotient::Quotient;
use verity_model::arith::qrange;
use verity_model::element::{operands, OpContext};
use verity_model::shape::window_taps;
use verity_model::{CmpMode, Model, Op, Tensor, ValueInfo};

/// Width of the range table: 16 bits, or 8 for small all-8-bit models, where the fixed
/// cost of a 2^16-row table would dominate (see `range_bits`).
const WIDE_RANGE: usize = 16;
const NARROW_RANGE: usize = 8;
/// Models whose node outputs total at most this many padded elements use the narrow table.
const NARROW_MAX_ELEMENTS: usize = 1 << 13;
/// Limb sums stay below `2^LIMB_CAP` (see `Builder::limbs`).
const LIMB_CAP: usize = 62;

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
    /// The range table's width (`range_bits`).
    pub range_bits: usize,
    /// Every quotient argument's columns, in build order.
    #[doc(hidden)]
    pub quotients: Vec<QuotientArg>,
}

/// The columns of one quotient argument (`quotient.rs`). Nothing in the protocol reads
/// them: adversarial tests use them to re-split a forged witness the way a cheating
/// prover would, so that only the range checks stand in the way.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct QuotientArg {
    pub instance: usize,
    pub num: Expr,
    pub den: Expr,
    /// `q`: its own witness column (`Free`) or `y + d` (`Clamped`).
    pub q: Expr,
    /// The public bound `Q` with `|q| ≤ Q`.
    pub bound: ColId,
    /// Limbs (low first) of `R`, `RC = den − 1 − R`, `Q + q` and `Q − q`.
    pub remainder: Vec<ColId>,
    pub complement: Vec<ColId>,
    pub plus: Vec<ColId>,
    pub minus: Vec<ColId>,
    /// `Clamped`: the output `y`, the clamp excess `d` and the limbs of `|d|`.
    pub clamp: Option<(ColId, ColId, Vec<ColId>)>,
    /// `Free`: the quotient's column.
    pub free: Option<ColId>,
}

/// Ops with a proof argument.
pub fn unsupported(model: &Model) -> Option<String> {
    for n in &model.nodes {
        let why = match &n.op {
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
    b.c.range_bits = range_bits;
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

    /// `0 ≤ e < 2^bits` (an integer) for `bits ≤ range_bits`. `e` itself is looked up in
    /// the table `0..2^rb`, which makes it an integer in `[0, 2^rb)`; for `bits < rb`,
    /// `e·2^(rb − bits)` is looked up too, and since `e` is such an integer that product
    /// is below `2^(2·rb) ≤ 2^32 < p` (no wrap) and in the table iff `e < 2^bits`. The
    /// scaled lookup alone would not do: it shows only `e ∈ {k·2^−(rb − bits) mod p}`,
    /// and fractions such as `18 + 1/2` pass it.
    fn range_check(&mut self, inst: usize, e: Expr, bits: usize) {
        let (t, rb) = (self.range_table(), self.range_bits);
        debug_assert!(bits <= rb);
        if bits < rb {
            self.lookup(inst, t, vec![e.scale_i(1 << (rb - bits))]);
        }
        self.lookup(inst, t, vec![e]);
    }

    /// Splits a non-negative quantity below `2^bits` into `n` limbs of the table's width
    /// `rb`, each range-checked, and returns their weighted sum and columns. The sum is
    /// then an integer in `[0, 2^(rb·n))`. Where a use needs the exact bound `2^bits`
    /// (`exact`), or `rb·n` exceeds [`LIMB_CAP`], the top limb is bounded to its own
    /// width, so every limb sum is an integer below `2^62`: two of them added, or one
    /// subtracted from another such quantity, never wrap modulo p.
    fn limbs(
        &mut self,
        inst: usize,
        name: &str,
        vars: usize,
        bits: u32,
        vals: Option<&[i64]>,
        exact: bool,
    ) -> (Expr, Vec<ColId>) {
        let rb = self.range_bits;
        debug_assert!(bits as usize <= LIMB_CAP, "callers keep limb sums below 2^62");
        let n = bits.div_ceil(rb as u32) as usize;
        let exact = exact || rb * n > LIMB_CAP;
        let mut sum = Expr::zero();
        let mut cols = vec![];
        for k in 0..n {
            let width = if exact { (bits as usize - rb * k).min(rb) } else { rb };
            let c = self.witness(format!("{name} limb {k}"), vars, || {
                vals.unwrap().iter().map(|&v| (v >> (rb * k)) & ((1 << width) - 1)).collect()
            });
            self.range_check(inst, Expr::col(c), width);
            sum = sum.add(&Expr::col(c).scale_i(1 << (rb * k)));
            cols.push(c);
        }
        (sum, cols)
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

    /// Row-wise combination of materialized columns.
    fn combine(&self, cols: &[ColId], f: impl Fn(&[i64]) -> i64) -> Vec<i64> {
        let vals: Vec<&Vec<i64>> = cols.iter().map(|&c| self.c.columns[c].values.as_ref().expect("values")).collect();
        (0..vals[0].len()).map(|i| f(&vals.iter().map(|v| v[i]).collect::<Vec<_>>())).collect()
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
