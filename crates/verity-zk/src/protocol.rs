//! The proof of one inference, prover and verifier side by side. Steps (docs/zk.md):
//!
//! 1. absorb the statement: model id, the key's weight root, input and output;
//! 2. commit every witness column (activations, remainders, limbs, multiplicities);
//! 3. draw the lookup challenges `β` (tuple compression) and `α` (logUp point), commit the
//!    logUp helpers `1/(α − f)` and `m/(α − t)`, send each lookup's and table's sum, and
//!    check that every table's sums balance;
//! 4. per op (and per table) one sumcheck shows that its constraints vanish on every row
//!    (weighted by `eq(τ, ·)`) and that its helpers sum to the sent sums; it ends in
//!    claims on columns at a random point;
//! 5. claims on accumulators reduce, by a sumcheck over the inner dimension, to claims on
//!    weights (key) and on the layer input; claims on virtual columns reduce, by one
//!    sumcheck per source column, to claims on that source;
//! 6. the verifier evaluates public columns itself; all other claims are batched into one
//!    opening per committed polynomial (witness, helpers, weights).

use crate::circuit::{self, Circuit, Kind};
use crate::expr::{ColId, Expr};
use crate::field::{ext, from_i64, E, F};
use crate::layout::Segments;
use crate::mle::{eq_table, evaluate};
use crate::pcs::{self, Commitment, Committed};
use crate::stream::{Reader, Writer};
use crate::sumcheck;
use crate::transcript::Transcript;
use p3_field::{BasedVectorSpace, PrimeCharacteristicRing, PrimeField64};
use rayon::prelude::*;
use verity_model::{Model, Tensor};

const PROTOCOL: &str = "verity/zk-inference/v2";

/// What a verifier needs besides the model's structure: its id and the weight commitment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyingKey {
    pub model_id: [u8; 32],
    pub weights: Commitment,
}

pub struct ProvingKey {
    pub vk: VerifyingKey,
    weights: Committed,
    segments: Segments,
}

/// Commits to the model's weights (deterministic: every machine derives the same key).
pub fn keygen(model: &Model) -> Result<ProvingKey, String> {
    if let Some(why) = circuit::unsupported(model) {
        return Err(why);
    }
    let tables = circuit::model_weights(model);
    let segments = Segments::new(&circuit::weight_vars(model));
    let cols: Vec<Vec<F>> = tables.iter().map(|t| t.iter().map(|&v| from_i64(v)).collect()).collect();
    let refs: Vec<&[F]> = cols.iter().map(|c| c.as_slice()).collect();
    let weights = pcs::commit(&segments.pack(&refs));
    let vk = VerifyingKey { model_id: model.id_bytes(), weights: weights.commitment.clone() };
    Ok(ProvingKey { vk, weights, segments })
}

fn absorb_statement(t: &mut Transcript, vk: &VerifyingKey, inputs: &[Tensor], outputs: &[Tensor]) {
    t.absorb(b"model id", &vk.model_id);
    t.absorb(b"weight root", &vk.weights.root);
    t.absorb(b"weight shape", &[vk.weights.row_vars as u8, vk.weights.col_vars as u8]);
    for (label, ts) in [(b"input".as_slice(), inputs), (b"output".as_slice(), outputs)] {
        for x in ts {
            let mut b: Vec<u8> = (x.shape.len() as u32).to_le_bytes().to_vec();
            x.shape.iter().for_each(|d| b.extend((*d as u64).to_le_bytes()));
            x.data.iter().for_each(|v| b.extend(v.to_le_bytes()));
            t.absorb(label, &b);
        }
    }
}

/// The extension generator `X` (`E = F[X]/(X² − 7)`), to rebuild helper values from
/// their two committed coordinates.
fn x_gen() -> E {
    E::from_basis_coefficients_slice(&[F::ZERO, F::ONE]).expect("two coefficients")
}

fn coords(e: &E) -> [F; 2] {
    let c = e.as_basis_coefficients_slice();
    [c[0], c[1]]
}

/// Which committed polynomial a claim is about.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Poly {
    Witness,
    Helper,
    Weights,
}

/// A claim `poly segment(point) = value`.
struct Opening {
    poly: Poly,
    segment: usize,
    point: Vec<E>,
    value: E,
}

/// Claims on circuit columns still to be reduced.
#[derive(Default)]
struct Claims {
    acc: Vec<(ColId, Vec<E>, E)>,
    virt: Vec<(ColId, Vec<E>, E)>,
    public: Vec<(ColId, Vec<E>, E)>,
    open: Vec<Opening>,
}

/// Segment layout of the committed columns.
struct Layout {
    witness: Segments,
    witness_of: Vec<Option<usize>>,
    helper: Segments,
    /// Helper column → segments of its two coordinates.
    helper_of: Vec<Option<usize>>,
}

impl Layout {
    fn new(c: &Circuit) -> Self {
        let mut witness_of = vec![None; c.columns.len()];
        let mut helper_of = vec![None; c.columns.len()];
        let (mut wv, mut hv) = (vec![], vec![]);
        for (i, col) in c.columns.iter().enumerate() {
            match col.kind {
                Kind::Witness => {
                    witness_of[i] = Some(wv.len());
                    wv.push(col.vars);
                }
                Kind::Helper => {
                    helper_of[i] = Some(hv.len() / 2);
                    hv.extend([col.vars, col.vars]);
                }
                _ => {}
            }
        }
        Layout { witness: Segments::new(&wv), witness_of, helper: Segments::new(&hv), helper_of }
    }
}

/// One sumcheck's worth of constraints over a common domain.
struct Check {
    vars: usize,
    /// Each constraint is a sum of products of expressions (kept factored, so that a
    /// batched lookup's product is not multiplied out).
    constraints: Vec<Vec<(E, Vec<Expr>)>>,
    /// Helper columns whose sums are claimed.
    sums: Vec<ColId>,
}

fn checks(c: &Circuit, alpha: E, beta: E) -> Vec<Check> {
    let compress = |tuple: &[Expr]| {
        let mut f = Expr::zero();
        let mut w = E::ONE;
        for e in tuple {
            f = f.add(&e.scale(w));
            w *= beta;
        }
        f
    };
    let mut out: Vec<Check> = c
        .instances
        .iter()
        .map(|i| Check {
            vars: i.vars,
            constraints: i.constraints.iter().map(|e| vec![(E::ONE, vec![e.clone()])]).collect(),
            sums: vec![],
        })
        .collect();
    for l in &c.lookups {
        // h · Π_k (α − f_k) = Σ_k Π_(l≠k) (α − f_l), i.e. h = Σ_k 1/(α − f_k).
        let dens: Vec<Expr> = l.tuples.iter().map(|tp| Expr::constant_e(alpha).sub(&compress(tp))).collect();
        let mut con = vec![(E::ONE, std::iter::once(Expr::col(l.helper)).chain(dens.iter().cloned()).collect())];
        for k in 0..dens.len() {
            con.push((-E::ONE, dens.iter().enumerate().filter(|(j, _)| *j != k).map(|(_, d)| d.clone()).collect()));
        }
        let ch = &mut out[l.instance];
        ch.constraints.push(con);
        ch.sums.push(l.helper);
    }
    for t in &c.tables {
        let f = compress(&t.tuple.iter().map(|&c| Expr::col(c)).collect::<Vec<_>>());
        let con = vec![(E::ONE, vec![Expr::col(t.helper), Expr::constant_e(alpha).sub(&f)]), (-E::ONE, vec![Expr::col(t.mult)])];
        out.push(Check { vars: t.vars, constraints: vec![con], sums: vec![t.helper] });
    }
    out
}

/// A sum of monomials over local table indices.
type Monomials = Vec<(E, Vec<usize>)>;

/// A check compiled over local table indices (0 = `eq(τ, ·)`, then `cols`):
/// `eq · Σ_k λ^k C_k + Σ_s μ^(s+1) h_s`.
struct Compiled {
    cols: Vec<ColId>,
    /// Per constraint, per product term: coefficient (λ^k included) and factors, each a
    /// sum of monomials over local indices.
    products: Vec<(E, Vec<Monomials>)>,
    sums: Vec<(E, usize)>,
    degree: usize,
}

impl Compiled {
    fn new(ch: &Check, lambda: E, mu: E) -> Self {
        let mut cols: Vec<ColId> = vec![];
        let mut local = |c: ColId| match cols.iter().position(|&x| x == c) {
            Some(p) => p + 1,
            None => {
                cols.push(c);
                cols.len()
            }
        };
        let (mut products, mut degree) = (vec![], 1);
        let mut w = E::ONE;
        for con in &ch.constraints {
            for (coef, factors) in con {
                let fs: Vec<Monomials> = factors
                    .iter()
                    .map(|e| e.terms.iter().map(|(k, m)| (*k, m.iter().map(|&c| local(c)).collect())).collect())
                    .collect();
                degree = degree.max(1 + factors.iter().map(Expr::degree).sum::<usize>());
                products.push((*coef * w, fs));
            }
            w *= lambda;
        }
        let mut w = mu;
        let mut sums = vec![];
        for &s in &ch.sums {
            sums.push((w, local(s)));
            w *= mu;
        }
        Compiled { cols, products, sums, degree }
    }

    /// The summand at one point, from the values of eq and the columns there.
    fn eval(&self, v: &[E]) -> E {
        let c: E = self
            .products
            .iter()
            .map(|(coef, fs)| {
                fs.iter().fold(*coef, |acc, f| acc * f.iter().map(|(k, m)| m.iter().fold(*k, |a, &i| a * v[i])).sum::<E>())
            })
            .sum();
        v[0] * c + self.sums.iter().map(|(w, i)| *w * v[*i]).sum::<E>()
    }
}

fn eq_at(a: &[E], b: &[E]) -> E {
    a.iter().zip(b).map(|(&x, &y)| x * y + (E::ONE - x) * (E::ONE - y)).product()
}

/// `eq(r, ·)` as the product of two half-size tables (high and low index bits), so that
/// sparse lookups into a large hypercube cost two small tables instead of one large one.
struct SplitEq {
    hi: Vec<E>,
    lo: Vec<E>,
    lo_bits: u32,
}

impl SplitEq {
    fn new(r: &[E]) -> Self {
        let (h, l) = r.split_at(r.len() / 2);
        SplitEq { hi: eq_table(h), lo: eq_table(l), lo_bits: l.len() as u32 }
    }
    fn at(&self, i: u32) -> E {
        self.hi[(i >> self.lo_bits) as usize] * self.lo[(i & ((1 << self.lo_bits) - 1)) as usize]
    }
}

/// Where claims on each kind of column go.
fn route(c: &Circuit, lay: &Layout, claims: &mut Claims, col: ColId, point: Vec<E>, value: E) {
    match c.columns[col].kind {
        Kind::Witness => claims.open.push(Opening { poly: Poly::Witness, segment: lay.witness_of[col].unwrap(), point, value }),
        Kind::Public | Kind::Iota => claims.public.push((col, point, value)),
        Kind::Virtual { .. } => claims.virt.push((col, point, value)),
        Kind::Acc(_) | Kind::Prod(_) => claims.acc.push((col, point, value)),
        Kind::Helper => unreachable!("helper claims are split into coordinates"),
    }
}

/// What a layer-product sumcheck ending at `sigma` leaves to check: the weights at
/// `(ρ_c, σ)` and the bias at `ρ_c` (key openings), and the input at `(ρ_a, σ, ρ_b)`.
fn bilinear_claims(
    c: &Circuit,
    lay: &Layout,
    claims: &mut Claims,
    bl: &circuit::Bilinear,
    [ra, rc, rb]: [&[E]; 3],
    sigma: &[E],
    [w, x, bias]: [E; 3],
) {
    claims.open.push(Opening { poly: Poly::Weights, segment: bl.weight, point: [rc, sigma].concat(), value: w });
    claims.open.push(Opening { poly: Poly::Weights, segment: bl.bias, point: rc.to_vec(), value: bias });
    route(c, lay, claims, bl.x, [ra, sigma, rb].concat(), x);
}

/// The verifier's value of a public column.
/// `statement` overrides the values of the model's input and output columns.
fn public_eval(c: &Circuit, statement: &[(ColId, Vec<i64>)], col: ColId, point: &[E]) -> E {
    let column = &c.columns[col];
    if let Kind::Iota = column.kind {
        return point.iter().rev().enumerate().map(|(k, &p)| p * E::from_u64(1 << k)).sum();
    }
    let values = statement.iter().find(|s| s.0 == col).map_or_else(|| column.values.as_ref().expect("public values"), |s| &s.1);
    let v: Vec<E> = values.iter().map(|&x| ext(x)).collect();
    evaluate(&v, point)
}

/// Groups virtual-column claims by source column, in first-seen order.
fn by_source(c: &Circuit, virt: &[(ColId, Vec<E>, E)]) -> Vec<(ColId, Vec<usize>)> {
    let mut groups: Vec<(ColId, Vec<usize>)> = vec![];
    for (k, (col, _, _)) in virt.iter().enumerate() {
        let Kind::Virtual { src, .. } = c.columns[*col].kind else { unreachable!() };
        match groups.iter_mut().find(|g| g.0 == src) {
            Some(g) => g.1.push(k),
            None => groups.push((src, vec![k])),
        }
    }
    groups
}

fn entries(c: &Circuit, col: ColId) -> &[(u32, u32)] {
    match &c.columns[col].kind {
        Kind::Virtual { entries, .. } => entries,
        _ => unreachable!(),
    }
}

/// `Σ_k γ^k M_k(ρ_k, ·)` over the source's hypercube, for the claims `idx` on virtual columns.
fn wiring_table(c: &Circuit, virt: &[(ColId, Vec<E>, E)], idx: &[usize], gamma: E, src_vars: usize) -> Vec<E> {
    let mut m = vec![E::ZERO; 1 << src_vars];
    let mut w = E::ONE;
    for &k in idx {
        let (col, point, _) = &virt[k];
        let eq = eq_table(point);
        for &(t, u) in entries(c, *col) {
            m[u as usize] += w * eq[t as usize];
        }
        w *= gamma;
    }
    m
}

/// Every value's tensor (by value id) from the reference interpreter: the prover's witness.
pub fn trace_values(model: &Model, inputs: &[Tensor]) -> Result<Vec<Option<Tensor>>, String> {
    let trace = verity_model::reference::trace(model, inputs).map_err(|e| e.to_string())?;
    let mut values = vec![None; model.values.len()];
    for (x, &v) in inputs.iter().zip(&model.inputs) {
        values[v as usize] = Some(x.clone());
    }
    for (t, n) in trace.into_iter().zip(&model.nodes) {
        values[n.output as usize] = Some(t);
    }
    Ok(values)
}

/// Progress callback: `(step, steps done, total)`.
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize);

/// Proves that `model` maps `inputs` to the outputs of `trace` (every value's tensor,
/// by value id). Returns the proof bytes.
pub fn prove(model: &Model, pk: &ProvingKey, values: &[Option<Tensor>], progress: Progress) -> Result<Vec<u8>, String> {
    prove_tampered(model, pk, values, progress, |_| {})
}

/// `prove` with a hook that may alter the witness after it is built: soundness tests use
/// it to play a prover who lies anywhere in the witness.
#[doc(hidden)]
pub fn prove_tampered(
    model: &Model,
    pk: &ProvingKey,
    values: &[Option<Tensor>],
    progress: Progress,
    tamper: impl FnOnce(&mut Circuit),
) -> Result<Vec<u8>, String> {
    prove_with(model, pk, values, progress, tamper, None)
}

/// A cheating prover for soundness tests, which may put any field element anywhere.
#[doc(hidden)]
pub trait Adversary {
    /// Alters the values of every non-helper column (base field; only witness columns are
    /// committed, the others are what the verifier derives or computes). Afterwards the
    /// prover re-derives, in the field, every virtual column and accumulator from its
    /// sources, and every table's multiplicities from its lookups (tuples that are not
    /// rows count nowhere) unless this hook changed that multiplicity column itself.
    fn witness(&mut self, _c: &Circuit, _vals: &mut [Option<Vec<F>>]) {}
    /// Alters the logUp helpers (`(column, values)`, lookups then tables) after the
    /// challenges and before they are committed; their sent sums follow the altered values.
    fn helpers(&mut self, _c: &Circuit, _helpers: &mut [(ColId, Vec<E>)]) {}
}

/// `prove` for a prover that controls every field element of the witness and helpers.
#[doc(hidden)]
pub fn prove_adversarial(
    model: &Model,
    pk: &ProvingKey,
    values: &[Option<Tensor>],
    adversary: &mut dyn Adversary,
) -> Result<Vec<u8>, String> {
    prove_with(model, pk, values, &mut |_, _, _| {}, |_| {}, Some(adversary))
}

/// A base-field element as the extension's first coordinate (tuple expressions have base
/// coefficients, so their values do too).
fn base(e: E) -> F {
    coords(&e)[0]
}

/// Re-derives, in the field, the virtual columns and accumulators from their sources.
#[doc(hidden)]
pub fn derive_columns(c: &Circuit, vals: &mut [Option<Vec<F>>]) {
    for (i, col) in c.columns.iter().enumerate() {
        let derived = match &col.kind {
            Kind::Virtual { src, entries } => {
                let s = vals[*src].as_ref().expect("source values");
                let mut v = vec![F::ZERO; 1 << col.vars];
                entries.iter().for_each(|&(t, u)| v[t as usize] += s[u as usize]);
                v
            }
            Kind::Acc(b) => {
                let bl = &c.bilinears[*b];
                let (wt, bt) = (&c.weights[bl.weight], &c.weights[bl.bias]);
                let xv = vals[bl.x].as_ref().expect("input values");
                let (na, nc, nb, nj) = (1 << bl.a_vars, 1 << bl.c_vars, 1 << bl.b_vars, 1 << bl.j_vars);
                let mut acc = vec![F::ZERO; na * nc * nb];
                for ia in 0..na {
                    for ic in 0..nc {
                        for ib in 0..nb {
                            let s: F = (0..nj).map(|j| from_i64(wt[ic * nj + j]) * xv[(ia * nj + j) * nb + ib]).sum();
                            acc[(ia * nc + ic) * nb + ib] = from_i64(bt[ic]) + s;
                        }
                    }
                }
                acc
            }
            Kind::Prod(p) => {
                let pr = &c.products[*p];
                let (av, bv) = (vals[pr.a].as_ref().expect("values"), vals[pr.b].as_ref().expect("values"));
                let (ng, nm, nk, nn) = (1 << pr.g_vars, 1 << pr.m_vars, 1 << pr.k_vars, 1 << pr.n_vars);
                let mut acc = vec![F::ZERO; ng * nm * nn];
                for g in 0..ng {
                    for i in 0..nm {
                        for t in 0..nk {
                            for j in 0..nn {
                                acc[(g * nm + i) * nn + j] += av[(g * nm + i) * nk + t] * bv[(g * nk + t) * nn + j];
                            }
                        }
                    }
                }
                acc
            }
            _ => continue,
        };
        vals[i] = Some(derived);
    }
}

/// Re-derives what depends on altered witness values: virtual columns, accumulators, and
/// the multiplicities whose columns still equal `mults` (the honest ones).
fn rederive(c: &Circuit, vals: &mut [Option<Vec<F>>], mults: &[Vec<F>]) {
    derive_columns(c, vals);
    for (ti, tb) in c.tables.iter().enumerate() {
        if vals[tb.mult].as_ref() != Some(&mults[ti]) {
            continue;
        }
        let rows = 1usize << tb.vars;
        // The range table's row is its value; other tables are indexed by tuple.
        let iota = matches!(c.columns[tb.tuple[0]].kind, Kind::Iota);
        let mut index = std::collections::HashMap::new();
        for r in (0..rows).rev().filter(|_| !iota) {
            index.insert(tb.tuple.iter().map(|&k| vals[k].as_ref().expect("table values")[r]).collect::<Vec<F>>(), r);
        }
        let row_of = |key: &[F]| {
            if iota {
                let v = key[0].as_canonical_u64() as usize;
                (v < rows).then_some(v)
            } else {
                index.get(key).copied()
            }
        };
        let mut m = vec![F::ZERO; rows];
        for l in c.lookups.iter().filter(|l| l.table == ti) {
            for tuple in &l.tuples {
                for i in 0..1usize << c.instances[l.instance].vars {
                    let key: Vec<F> =
                        tuple.iter().map(|e| base(e.eval(|k| E::from(vals[k].as_ref().expect("values")[i])))).collect();
                    if let Some(r) = row_of(&key) {
                        m[r] += F::ONE;
                    }
                }
            }
        }
        vals[tb.mult] = Some(m);
    }
}

fn prove_with(
    model: &Model,
    pk: &ProvingKey,
    values: &[Option<Tensor>],
    progress: Progress,
    tamper: impl FnOnce(&mut Circuit),
    mut adversary: Option<&mut dyn Adversary>,
) -> Result<Vec<u8>, String> {
    let missing = || "the witness lacks a model input or output".to_string();
    let inputs: Vec<Tensor> =
        model.inputs.iter().map(|&v| values[v as usize].clone().ok_or_else(missing)).collect::<Result<_, _>>()?;
    let outputs: Vec<Tensor> =
        model.outputs.iter().map(|&v| values[v as usize].clone().ok_or_else(missing)).collect::<Result<_, _>>()?;
    let mut t = Transcript::new(PROTOCOL);
    absorb_statement(&mut t, &pk.vk, &inputs, &outputs);
    progress("building the witness", 0, 1);
    let mut c = circuit::build(model, values, true)?;
    tamper(&mut c);
    let lay = Layout::new(&c);
    let mut w = Writer::default();

    // Values of every non-helper column as field elements.
    let mut fvals: Vec<Option<Vec<F>>> =
        c.columns.iter().map(|col| col.values.as_ref().map(|v| v.iter().map(|&x| from_i64(x)).collect())).collect();
    if let Some(adv) = adversary.as_deref_mut() {
        let mults: Vec<Vec<F>> = c.tables.iter().map(|tb| fvals[tb.mult].clone().expect("multiplicities")).collect();
        adv.witness(&c, &mut fvals);
        rederive(&c, &mut fvals, &mults);
    }
    let mut vals: Vec<Option<Vec<E>>> =
        fvals.iter().map(|v| v.as_ref().map(|v| v.iter().map(|&x| E::from(x)).collect())).collect();

    progress("committing the witness", 0, 1);
    let wcols: Vec<Vec<F>> = c
        .columns
        .iter()
        .zip(&mut fvals)
        .filter(|(col, _)| matches!(col.kind, Kind::Witness))
        .map(|(_, v)| v.take().expect("witness values"))
        .collect();
    drop(fvals);
    let witness = pcs::commit(&lay.witness.pack(&wcols.iter().map(|v| v.as_slice()).collect::<Vec<_>>()));
    w.hash(&mut t, b"witness root", &witness.commitment.root);
    let (beta, alpha) = (t.challenge(), t.challenge());
    let checks = checks(&c, alpha, beta);

    // logUp helpers: 1 / (α − f) per lookup row, m / (α − t) per table row.
    progress("committing the lookup helpers", 0, 1);
    let compress = |tuple: &[Expr], vals: &Vec<Option<Vec<E>>>, n: usize| -> Vec<E> {
        (0..n)
            .into_par_iter()
            .map(|i| {
                let mut acc = E::ZERO;
                let mut wgt = E::ONE;
                for e in tuple {
                    acc += wgt * e.eval(|k| vals[k].as_ref().expect("column values")[i]);
                    wgt *= beta;
                }
                acc
            })
            .collect()
    };
    let mut helper_vals: Vec<(ColId, Vec<E>)> = vec![];
    for l in &c.lookups {
        let n = 1 << c.instances[l.instance].vars;
        let mut h = vec![E::ZERO; n];
        for tuple in &l.tuples {
            let den: Vec<E> = compress(tuple, &vals, n).into_iter().map(|f| alpha - f).collect();
            h.iter_mut().zip(p3_field::batch_multiplicative_inverse(&den)).for_each(|(a, b)| *a += b);
        }
        helper_vals.push((l.helper, h));
    }
    for tb in &c.tables {
        let n = 1 << tb.vars;
        let tuple: Vec<Expr> = tb.tuple.iter().map(|&k| Expr::col(k)).collect();
        let den: Vec<E> = compress(&tuple, &vals, n).into_iter().map(|f| alpha - f).collect();
        let m = vals[tb.mult].as_ref().unwrap();
        let inv = p3_field::batch_multiplicative_inverse(&den);
        helper_vals.push((tb.helper, inv.iter().zip(m).map(|(a, b)| *a * *b).collect()));
    }
    if let Some(adv) = adversary {
        adv.helpers(&c, &mut helper_vals);
    }
    helper_vals.sort_by_key(|h| h.0);
    let mut hcols: Vec<Vec<F>> = vec![];
    for (col, v) in &helper_vals {
        debug_assert_eq!(lay.helper_of[*col], Some(hcols.len() / 2));
        hcols.push(v.iter().map(|e| coords(e)[0]).collect());
        hcols.push(v.iter().map(|e| coords(e)[1]).collect());
    }
    for (col, v) in helper_vals {
        vals[col] = Some(v);
    }
    let helper = pcs::commit(&lay.helper.pack(&hcols.iter().map(|v| v.as_slice()).collect::<Vec<_>>()));
    w.hash(&mut t, b"helper root", &helper.commitment.root);
    let sums: Vec<E> = helper_cols(&c).iter().map(|&h| vals[h].as_ref().unwrap().iter().copied().sum()).collect();
    w.ext(&mut t, b"lookup sums", &sums);

    // Materialize accumulators and virtual columns (already in `vals` from the build).
    let mut claims = Claims::default();
    let total = checks.len();
    for (k, ch) in checks.iter().enumerate() {
        progress("proving op constraints", k, total);
        let tau = t.challenges(ch.vars);
        let (lambda, mu) = (t.challenge(), t.challenge());
        let compiled = Compiled::new(ch, lambda, mu);
        let cols = compiled.cols.clone();
        let mut tables = vec![eq_table(&tau)];
        tables.extend(cols.iter().map(|&col| vals[col].clone().expect("column values")));
        let (proof, point, finals) = sumcheck::prove_fn(tables, compiled.degree, |v| compiled.eval(v), &mut t);
        w.sumcheck(&proof);
        let mut sent = vec![];
        for (i, &col) in cols.iter().enumerate() {
            match c.columns[col].kind {
                Kind::Public | Kind::Iota => {}
                Kind::Helper => {
                    let seg = lay.helper_of[col].unwrap();
                    let [a, b] =
                        [0, 1].map(|j| evaluate(&hcols[2 * seg + j].iter().map(|&f| E::from(f)).collect::<Vec<_>>(), &point));
                    sent.extend([a, b]);
                    claims.open.push(Opening { poly: Poly::Helper, segment: 2 * seg, point: point.clone(), value: a });
                    claims.open.push(Opening { poly: Poly::Helper, segment: 2 * seg + 1, point: point.clone(), value: b });
                }
                _ => {
                    sent.push(finals[i + 1]);
                    route(&c, &lay, &mut claims, col, point.clone(), finals[i + 1]);
                }
            }
        }
        w.ext(&mut t, b"column values", &sent);
    }

    progress("proving layer products", 0, 1);
    for (col, point, _) in std::mem::take(&mut claims.acc) {
        if let Kind::Prod(p) = c.columns[col].kind {
            let pr = &c.products[p];
            let (rg, rest) = point.split_at(pr.g_vars);
            let (rm, rn) = rest.split_at(pr.m_vars);
            let (ng, nm, nk, nn) = (1usize << pr.g_vars, 1usize << pr.m_vars, 1usize << pr.k_vars, 1usize << pr.n_vars);
            let (av, bv) = (vals[pr.a].as_ref().unwrap(), vals[pr.b].as_ref().unwrap());
            let (eg, em, en) = (eq_table(rg), eq_table(rm), eq_table(rn));
            let mut e = vec![E::ZERO; ng * nk];
            let mut ar = vec![E::ZERO; ng * nk];
            let mut br = vec![E::ZERO; ng * nk];
            for g in 0..ng {
                for t in 0..nk {
                    e[g * nk + t] = eg[g];
                    ar[g * nk + t] = (0..nm).map(|i| em[i] * av[(g * nm + i) * nk + t]).sum();
                    br[g * nk + t] = (0..nn).map(|j| en[j] * bv[(g * nk + t) * nn + j]).sum();
                }
            }
            let (proof, gk, finals) = sumcheck::prove_product(vec![e, ar, br], &mut t);
            w.sumcheck(&proof);
            w.ext(&mut t, b"product values", &finals[1..]);
            let (gs, ks) = gk.split_at(pr.g_vars);
            route(&c, &lay, &mut claims, pr.a, [gs, rm, ks].concat(), finals[1]);
            route(&c, &lay, &mut claims, pr.b, [gs, ks, rn].concat(), finals[2]);
            continue;
        }
        let Kind::Acc(b) = c.columns[col].kind else { unreachable!() };
        let bl = &c.bilinears[b];
        let (ra, rest) = point.split_at(bl.a_vars);
        let (rc, rb) = rest.split_at(bl.c_vars);
        let wt: Vec<E> = c.weights[bl.weight].iter().map(|&x| ext(x)).collect();
        let bias: Vec<E> = c.weights[bl.bias].iter().map(|&x| ext(x)).collect();
        let bias_val = evaluate(&bias, rc);
        w.ext(&mut t, b"bias value", &[bias_val]);
        let nj = 1usize << bl.j_vars;
        let eqc = eq_table(rc);
        let mut wr = vec![E::ZERO; nj];
        for (ic, e) in eqc.iter().enumerate() {
            for j in 0..nj {
                wr[j] += *e * wt[ic * nj + j];
            }
        }
        let (eqa, eqb) = (eq_table(ra), eq_table(rb));
        let xv = vals[bl.x].as_ref().unwrap();
        let nb = 1usize << bl.b_vars;
        let mut xr = vec![E::ZERO; nj];
        for (ia, ea) in eqa.iter().enumerate() {
            for (j, slot) in xr.iter_mut().enumerate() {
                let base = (ia * nj + j) * nb;
                *slot += *ea * xv[base..base + nb].iter().zip(&eqb).map(|(x, e)| *x * *e).sum::<E>();
            }
        }
        let (proof, sigma, finals) = sumcheck::prove_product(vec![wr, xr], &mut t);
        w.sumcheck(&proof);
        w.ext(&mut t, b"product values", &finals);
        bilinear_claims(&c, &lay, &mut claims, bl, [ra, rc, rb], &sigma, [finals[0], finals[1], bias_val]);
    }

    progress("proving wiring", 0, 1);
    let virt = std::mem::take(&mut claims.virt);
    for (src, idx) in by_source(&c, &virt) {
        let gamma = t.challenge();
        let m = wiring_table(&c, &virt, &idx, gamma, c.columns[src].vars);
        let sv = vals[src].clone().unwrap();
        let (proof, sigma, finals) = sumcheck::prove_product(vec![sv, m], &mut t);
        w.sumcheck(&proof);
        w.ext(&mut t, b"wiring source value", &[finals[0]]);
        route(&c, &lay, &mut claims, src, sigma, finals[0]);
    }

    progress("opening commitments", 0, 1);
    let hvals: Vec<F> = lay.helper.pack(&hcols.iter().map(|v| v.as_slice()).collect::<Vec<_>>());
    let wvals: Vec<F> = lay.witness.pack(&wcols.iter().map(|v| v.as_slice()).collect::<Vec<_>>());
    let weight_vals: Vec<F> = {
        let cols: Vec<Vec<F>> = c.weights.iter().map(|tb| tb.iter().map(|&x| from_i64(x)).collect()).collect();
        pk.segments.pack(&cols.iter().map(|v| v.as_slice()).collect::<Vec<_>>())
    };
    for (poly, segs, table, committed) in [
        (Poly::Witness, &lay.witness, &wvals, &witness),
        (Poly::Helper, &lay.helper, &hvals, &helper),
        (Poly::Weights, &pk.segments, &weight_vals, &pk.weights),
    ] {
        let ours: Vec<&Opening> = claims.open.iter().filter(|o| o.poly == poly).collect();
        if ours.is_empty() {
            continue;
        }
        let lambda = t.challenge();
        let mut q = vec![E::ZERO; table.len()];
        let mut wgt = E::ONE;
        for o in &ours {
            let off = segs.offsets[o.segment];
            for (i, e) in eq_table(&o.point).into_iter().enumerate() {
                q[off + i] += wgt * e;
            }
            wgt *= lambda;
        }
        let p: Vec<E> = table.iter().map(|&f| E::from(f)).collect();
        let (proof, rho, finals) = sumcheck::prove_product(vec![p, q], &mut t);
        w.sumcheck(&proof);
        w.ext(&mut t, b"opened value", &[finals[0]]);
        let opening = pcs::open(committed, &rho, finals[0], &mut t);
        w.opening(&opening);
    }
    progress("done", 1, 1);
    Ok(w.bytes)
}

/// Lookup helpers then table helpers: the order of the sent sums.
fn helper_cols(c: &Circuit) -> Vec<ColId> {
    c.lookups.iter().map(|l| l.helper).chain(c.tables.iter().map(|t| t.helper)).collect()
}

/// Checks a proof that `model` (whose key is `vk`) maps `inputs` to `outputs`.
pub fn verify(model: &Model, vk: &VerifyingKey, inputs: &[Tensor], outputs: &[Tensor], proof: &[u8]) -> Result<(), String> {
    Verifier::new(model, vk)?.verify(inputs, outputs, proof)
}

/// A verifier prepared for one model: the circuit is derived from the model once, so that
/// each proof costs only its own checks.
pub struct Verifier<'m> {
    model: &'m Model,
    vk: VerifyingKey,
    c: Circuit,
    lay: Layout,
    wsegs: Segments,
}

impl<'m> Verifier<'m> {
    pub fn new(model: &'m Model, vk: &VerifyingKey) -> Result<Self, String> {
        if vk.model_id != model.id_bytes() {
            return Err("the verifying key belongs to another model".into());
        }
        Self::light(model, vk)
    }

    /// A verifier over a model's structure whose weights may be stand-ins (a
    /// [`crate::vk::LightKey`]'s skeleton): the weights enter only through `vk`'s
    /// commitment, so the model's own id is not checked against `vk` here.
    pub fn light(model: &'m Model, vk: &VerifyingKey) -> Result<Self, String> {
        // The statement's values enter only through its public columns, which `verify`
        // overrides; zeros stand in for them here.
        let mut values: Vec<Option<Tensor>> = vec![None; model.values.len()];
        for &v in model.inputs.iter().chain(&model.outputs) {
            let shape = model.value(v).shape.clone();
            values[v as usize] = Some(Tensor::new(shape.clone(), vec![0; shape.iter().product()]));
        }
        for n in &model.nodes {
            if let verity_model::Op::Const { data } = &n.op {
                values[n.output as usize] = Some(Tensor::new(model.value(n.output).shape.clone(), data.clone()));
            }
        }
        let c = circuit::build(model, &values, false)?;
        let lay = Layout::new(&c);
        let wsegs = Segments::new(&circuit::weight_vars(model));
        Ok(Verifier { model, vk: vk.clone(), c, lay, wsegs })
    }

    /// Checks a proof that the model maps `inputs` to `outputs`.
    pub fn verify(&self, inputs: &[Tensor], outputs: &[Tensor], proof: &[u8]) -> Result<(), String> {
        let (model, c) = (self.model, &self.c);
        verity_model::reference::check_inputs(model, inputs).map_err(|e| e.to_string())?;
        if outputs.len() != model.outputs.len() {
            return Err(format!("model has {} outputs, the statement {}", model.outputs.len(), outputs.len()));
        }
        for (o, &v) in outputs.iter().zip(&model.outputs) {
            let info = model.value(v);
            let (lo, hi) = verity_model::arith::qrange(info.bits);
            if o.shape != info.shape || o.data.len() != info.shape.iter().product::<usize>() {
                return Err(format!("output '{}' has shape {:?}, the model {:?}", info.name, o.shape, info.shape));
            }
            if o.data.iter().any(|&x| (x as i64) < lo || (x as i64) > hi) {
                return Err(format!("output '{}' is outside its {}-bit range", info.name, info.bits));
            }
        }
        // Outputs that the circuit does not compute are checked here, before anything
        // else: an output that is a model input must equal it, one that is a constant
        // must equal its data, and an output listed twice must be claimed the same
        // each time. Only the remaining outputs (node results) override public columns,
        // each column once.
        let pad = |x: &Tensor| crate::layout::pad_values(&x.shape, x.data.iter().map(|&d| d as i64));
        let mut statement: Vec<(ColId, Vec<i64>)> = inputs
            .iter()
            .zip(&model.inputs)
            .map(|(x, &v)| (c.value_cols[v as usize].expect("statement column"), pad(x)))
            .collect();
        for (k, (o, &v)) in outputs.iter().zip(&model.outputs).enumerate() {
            let name = &model.value(v).name;
            if let Some(i) = model.inputs.iter().position(|&u| u == v) {
                if o.data != inputs[i].data {
                    return Err(format!(
                        "output '{name}' is the model input of that name, but the claimed value differs from it"
                    ));
                }
                continue;
            }
            if let Some(j) = model.outputs[..k].iter().position(|&u| u == v) {
                if o.data != outputs[j].data {
                    return Err(format!("output '{name}' is listed twice (outputs {j} and {k}) with different claimed values"));
                }
                continue;
            }
            if let Some(n) = model.nodes.iter().find(|n| n.output == v) {
                if let verity_model::Op::Const { data } = &n.op {
                    if &o.data != data {
                        return Err(format!(
                            "output '{name}' is the constant of node '{}', but the claimed value differs from it",
                            n.name
                        ));
                    }
                    continue;
                }
            }
            statement.push((c.value_cols[v as usize].expect("statement column"), pad(o)));
        }
        self.check(inputs, outputs, proof, &statement)
    }

    fn check(&self, inputs: &[Tensor], outputs: &[Tensor], proof: &[u8], statement: &[(ColId, Vec<i64>)]) -> Result<(), String> {
        let (vk, c, lay, wsegs) = (&self.vk, &self.c, &self.lay, &self.wsegs);
        let mut t = Transcript::new(PROTOCOL);
        absorb_statement(&mut t, vk, inputs, outputs);
        let mut r = Reader::new(proof);

        let witness_root = r.hash(&mut t, b"witness root")?;
        let (beta, alpha) = (t.challenge(), t.challenge());
        let checks = checks(c, alpha, beta);
        let helper_root = r.hash(&mut t, b"helper root")?;
        let hcols = helper_cols(c);
        let sums = r.ext(&mut t, b"lookup sums", hcols.len())?;
        let sum_of = |col: ColId| sums[hcols.iter().position(|&h| h == col).unwrap()];
        for (ti, tb) in c.tables.iter().enumerate() {
            let looked: E = c.lookups.iter().filter(|l| l.table == ti).map(|l| sum_of(l.helper)).sum();
            if looked != sum_of(tb.helper) {
                return Err(format!("lookups into table '{}' do not balance", tb.name));
            }
        }

        let mut claims = Claims::default();
        let xg = x_gen();
        for (k, ch) in checks.iter().enumerate() {
            let name = c
                .instances
                .get(k)
                .map_or_else(|| format!("table '{}'", c.tables[k - c.instances.len()].name), |i| format!("op '{}'", i.name));
            let tau = t.challenges(ch.vars);
            let (lambda, mu) = (t.challenge(), t.challenge());
            let compiled = Compiled::new(ch, lambda, mu);
            let (cols, d) = (&compiled.cols, compiled.degree);
            let sp = r.sumcheck(ch.vars, d)?;
            let claim: E = {
                let mut wgt = mu;
                ch.sums
                    .iter()
                    .map(|&s| {
                        let v = wgt * sum_of(s);
                        wgt *= mu;
                        v
                    })
                    .sum()
            };
            let red = sumcheck::verify(claim, ch.vars, d, &sp, &mut t).map_err(|e| format!("{name}: {e}"))?;
            let point = red.point;
            let n_sent: usize = cols
                .iter()
                .map(|&col| match c.columns[col].kind {
                    Kind::Public | Kind::Iota => 0,
                    Kind::Helper => 2,
                    _ => 1,
                })
                .sum();
            let sent = r.ext(&mut t, b"column values", n_sent)?;
            let mut at = sent.iter();
            let mut local = vec![eq_at(&tau, &point)];
            for &col in cols {
                let v = match c.columns[col].kind {
                    Kind::Public | Kind::Iota => public_eval(c, statement, col, &point),
                    Kind::Helper => {
                        let (a, b) = (*at.next().unwrap(), *at.next().unwrap());
                        let seg = lay.helper_of[col].unwrap();
                        claims.open.push(Opening { poly: Poly::Helper, segment: 2 * seg, point: point.clone(), value: a });
                        claims.open.push(Opening { poly: Poly::Helper, segment: 2 * seg + 1, point: point.clone(), value: b });
                        a + xg * b
                    }
                    _ => {
                        let v = *at.next().unwrap();
                        route(c, lay, &mut claims, col, point.clone(), v);
                        v
                    }
                };
                local.push(v);
            }
            if compiled.eval(&local) != red.value {
                return Err(format!("{name}: the constraints do not hold"));
            }
        }

        for (col, point, value) in std::mem::take(&mut claims.acc) {
            if let Kind::Prod(p) = c.columns[col].kind {
                let pr = &c.products[p];
                let (rg, rest) = point.split_at(pr.g_vars);
                let (rm, rn) = rest.split_at(pr.m_vars);
                let vars = pr.g_vars + pr.k_vars;
                let sp = r.sumcheck(vars, 3)?;
                let red = sumcheck::verify(value, vars, 3, &sp, &mut t).map_err(|e| format!("activation product: {e}"))?;
                let fin = r.ext(&mut t, b"product values", 2)?;
                let (gs, ks) = red.point.split_at(pr.g_vars);
                if eq_at(rg, gs) * fin[0] * fin[1] != red.value {
                    return Err("activation product: the final check failed".into());
                }
                route(c, lay, &mut claims, pr.a, [gs, rm, ks].concat(), fin[0]);
                route(c, lay, &mut claims, pr.b, [gs, ks, rn].concat(), fin[1]);
                continue;
            }
            let Kind::Acc(b) = c.columns[col].kind else { unreachable!() };
            let bl = &c.bilinears[b];
            let (ra, rest) = point.split_at(bl.a_vars);
            let (rc, rb) = rest.split_at(bl.c_vars);
            let bias_val = r.ext(&mut t, b"bias value", 1)?[0];
            let sp = r.sumcheck(bl.j_vars, 2)?;
            let red = sumcheck::verify(value - bias_val, bl.j_vars, 2, &sp, &mut t).map_err(|e| format!("layer product: {e}"))?;
            let fin = r.ext(&mut t, b"product values", 2)?;
            if fin[0] * fin[1] != red.value {
                return Err("layer product: the final check failed".into());
            }
            bilinear_claims(c, lay, &mut claims, bl, [ra, rc, rb], &red.point, [fin[0], fin[1], bias_val]);
        }

        let virt = std::mem::take(&mut claims.virt);
        for (src, idx) in by_source(c, &virt) {
            let gamma = t.challenge();
            let vars = c.columns[src].vars;
            let mut claim = E::ZERO;
            let mut wgt = E::ONE;
            for &k in &idx {
                claim += wgt * virt[k].2;
                wgt *= gamma;
            }
            let sp = r.sumcheck(vars, 2)?;
            let red =
                sumcheck::verify(claim, vars, 2, &sp, &mut t).map_err(|e| format!("wiring of '{}': {e}", c.columns[src].name))?;
            let sv = r.ext(&mut t, b"wiring source value", 1)?[0];
            // M(σ) = Σ_k γ^k Σ_(t,u) eq(ρ_k, t) eq(σ, u), in time linear in the wiring.
            let eq_sigma = SplitEq::new(&red.point);
            let mut m = E::ZERO;
            let mut wgt = E::ONE;
            for &k in &idx {
                let (col, point, _) = &virt[k];
                let eq = SplitEq::new(point);
                m += wgt * entries(c, *col).iter().map(|&(tt, u)| eq.at(tt) * eq_sigma.at(u)).sum::<E>();
                wgt *= gamma;
            }
            if sv * m != red.value {
                return Err(format!("wiring of '{}': the final check failed", c.columns[src].name));
            }
            route(c, lay, &mut claims, src, red.point, sv);
        }

        for (col, point, value) in &claims.public {
            if public_eval(c, statement, *col, point) != *value {
                return Err(format!("column '{}' differs from the public values", c.columns[*col].name));
            }
        }

        let witness_c = Commitment { root: witness_root, row_vars: 0, col_vars: 0 };
        let helper_c = Commitment { root: helper_root, row_vars: 0, col_vars: 0 };
        for (poly, segs, commitment) in [
            (Poly::Witness, &lay.witness, witness_c),
            (Poly::Helper, &lay.helper, helper_c),
            (Poly::Weights, wsegs, vk.weights.clone()),
        ] {
            let ours: Vec<&Opening> = claims.open.iter().filter(|o| o.poly == poly).collect();
            if ours.is_empty() {
                continue;
            }
            let lambda = t.challenge();
            let mut claim = E::ZERO;
            let mut wgt = E::ONE;
            let mut points = vec![];
            for o in &ours {
                claim += wgt * o.value;
                points.push((wgt, segs.point(o.segment, &o.point)));
                wgt *= lambda;
            }
            let sp = r.sumcheck(segs.total, 2)?;
            let red = sumcheck::verify(claim, segs.total, 2, &sp, &mut t).map_err(|e| format!("batched opening: {e}"))?;
            let pv = r.ext(&mut t, b"opened value", 1)?[0];
            let q: E = points.iter().map(|(wgt, z)| *wgt * eq_at(z, &red.point)).sum();
            if pv * q != red.value {
                return Err("batched opening: the final check failed".into());
            }
            let shape = pcs::shape(segs.total);
            let commitment = Commitment { row_vars: shape.0, col_vars: shape.1, ..commitment };
            if poly == Poly::Weights && commitment != vk.weights {
                return Err("the weight commitment's shape does not match the model".into());
            }
            let opening = r.opening(shape.0, shape.1)?;
            pcs::verify(&commitment, &red.point, pv, &opening, &mut t).map_err(|e| format!("opening: {e}"))?;
        }
        r.finish()
    }
}
