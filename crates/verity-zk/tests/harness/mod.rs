//! An adversarial prover for soundness tests (`tests/adversary.rs`, and the long campaign
//! `examples/adversary.rs`). It controls every committed field element: it puts adversarial
//! values (random, fractions `a/2^k`, `p − a`, `2^16 + a`, far outside every table) into
//! single witness and helper values or whole rows, and the prover re-derives everything
//! that depends on them (virtual columns, accumulators, multiplicities, helper sums), so
//! that only the verifier's checks stand in the way. Its *semantic* attacks re-create the
//! forgery of issue 10: an op output moved to `y + δ` for a fraction `δ`, the quotient
//! witness repaired in the field (remainder shifted, limbs re-split: low limbs honest, the
//! top limb the field quotient) and every consumer repaired likewise, so that every
//! constraint except the range checks holds.

#![allow(dead_code)]

use p3_field::{BasedVectorSpace, Field, PrimeCharacteristicRing, PrimeField64};
use std::collections::{BTreeMap, HashSet};
use verity_model::input::{input_names, parse_input_json, quantize_inputs};
use verity_model::{Model, Tensor};
use verity_zk::circuit::{self, Circuit, Kind, QuotientArg};
use verity_zk::expr::{ColId, Expr};
use verity_zk::field::{from_i64, E, F};
use verity_zk::protocol::{derive_columns, keygen, prove_adversarial, trace_values, verify, Adversary, ProvingKey};

pub const FIXTURES: [&str; 5] = ["cnn_digits", "lenet5", "mlp_90k", "mlp_digits", "transformer_block"];

pub fn fixture(name: &str) -> (Model, Vec<Tensor>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures");
    let model = Model::decode(&std::fs::read(format!("{dir}/{name}.vrt")).unwrap()).unwrap();
    let text = std::fs::read_to_string(format!("{dir}/{name}.input.json")).unwrap();
    let inputs = quantize_inputs(&model, &parse_input_json(&text, &input_names(&model)).unwrap()).unwrap();
    (model, inputs)
}

/// A model, its honest trace and circuit.
pub struct Target {
    pub name: String,
    pub model: Model,
    pub inputs: Vec<Tensor>,
    pub outputs: Vec<Tensor>,
    pub values: Vec<Option<Tensor>>,
    pub pk: ProvingKey,
    pub circuit: Circuit,
    /// The honest values of every non-helper column, in the field.
    pub honest: Vec<Option<Vec<F>>>,
}

impl Target {
    pub fn new(name: &str, model: Model, inputs: Vec<Tensor>) -> Self {
        let pk = keygen(&model).unwrap_or_else(|e| panic!("{name}: {e}"));
        let values = trace_values(&model, &inputs).unwrap();
        let outputs = model.outputs.iter().map(|&v| values[v as usize].clone().unwrap()).collect();
        let circuit = circuit::build(&model, &values, true).unwrap();
        let honest =
            circuit.columns.iter().map(|c| c.values.as_ref().map(|v| v.iter().map(|&x| from_i64(x)).collect())).collect();
        Target { name: name.into(), model, inputs, outputs, values, pk, circuit, honest }
    }

    /// Whether a proof by `adv` verifies for the honest statement.
    fn accepts(&self, adv: &mut dyn Adversary) -> bool {
        match prove_adversarial(&self.model, &self.pk, &self.values, adv) {
            Ok(proof) => verify(&self.model, &self.pk.vk, &self.inputs, &self.outputs, &proof).is_ok(),
            Err(_) => false,
        }
    }
}

/// Replaces the witness with fixed values.
struct SetWitness(Vec<Option<Vec<F>>>);

impl Adversary for SetWitness {
    fn witness(&mut self, _c: &Circuit, vals: &mut [Option<Vec<F>>]) {
        for (v, new) in vals.iter_mut().zip(&self.0) {
            v.clone_from(new);
        }
    }
}

/// Sets one helper value.
struct SetHelper {
    col: ColId,
    row: usize,
    value: E,
}

impl Adversary for SetHelper {
    fn helpers(&mut self, _c: &Circuit, helpers: &mut [(ColId, Vec<E>)]) {
        let h = helpers.iter_mut().find(|h| h.0 == self.col).expect("helper column");
        h.1[self.row] = self.value;
    }
}

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The kinds of adversarial value, each relative to the honest value `a`.
pub const KINDS: [&str; 6] = ["random", "a + 1/2^k", "p − a", "2^16 + a", "far outside", "(p − 1)/2 − a"];

fn pow2(k: u32) -> F {
    F::from_u64(1u64 << k)
}

pub fn adversarial(kind: usize, a: F, rng: &mut Rng) -> F {
    let v = match kind {
        0 => F::from_u64(rng.next() % F::ORDER_U64),
        1 => a + F::from_u64(2 * (rng.next() % 8) + 1) * pow2(1 + (rng.next() % 20) as u32).inverse(),
        2 => -a,
        3 => a + pow2(16),
        4 => a + pow2(24 + (rng.next() % 38) as u32),
        _ => F::from_u64((F::ORDER_U64 - 1) / 2) - a,
    };
    // `p − 0` is 0 again: a change is always a change.
    if v == a {
        a - F::ONE
    } else {
        v
    }
}

/// Counts of a campaign.
#[derive(Default)]
pub struct Tally {
    pub attempts: usize,
    /// Per attack family.
    pub by_family: BTreeMap<&'static str, usize>,
    /// Semantic forgeries in which every constraint but the lookups held.
    pub repaired: usize,
    /// Semantic forgeries that a consumer without a field repair (a lookup-only op) broke.
    pub unrepaired: usize,
    pub accepted: Vec<String>,
    /// Seconds spent building forgeries (the rest is proving and verifying).
    pub forge_secs: f64,
}

impl Tally {
    fn record(&mut self, family: &'static str, what: String, accepted: bool) {
        self.attempts += 1;
        *self.by_family.entry(family).or_default() += 1;
        if accepted {
            self.accepted.push(what);
        }
    }

    pub fn merge(&mut self, o: Tally) {
        self.attempts += o.attempts;
        for (k, v) in o.by_family {
            *self.by_family.entry(k).or_default() += v;
        }
        self.repaired += o.repaired;
        self.unrepaired += o.unrepaired;
        self.accepted.extend(o.accepted);
        self.forge_secs += o.forge_secs;
    }
}

fn witness_cols(c: &Circuit) -> Vec<ColId> {
    (0..c.columns.len()).filter(|&k| matches!(c.columns[k].kind, Kind::Witness)).collect()
}

/// How much of the campaign to run: every `stride`-th column and instance (at an offset
/// that moves with the seed), and this many semantic attempts per quotient argument.
#[derive(Clone, Copy)]
pub struct Budget {
    pub stride: usize,
    pub semantic_per_quotient: usize,
}

/// One pass of every attack family over `t`.
pub fn campaign(t: &Target, budget: Budget, seed: u64) -> Tally {
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    let c = &t.circuit;
    let off = (seed as usize) % budget.stride;
    let pick = |i: usize| i % budget.stride == off;
    // One value of one witness column (a real row, or anywhere).
    for (n, &col) in witness_cols(c).iter().enumerate().filter(|(n, _)| pick(*n)) {
        let kind = (n + seed as usize) % KINDS.len();
        let row = if rng.next().is_multiple_of(2) { 0 } else { rng.below(1 << c.columns[col].vars) };
        let mut vals = t.honest.clone();
        let slot = &mut vals[col].as_mut().unwrap()[row];
        *slot = adversarial(kind, *slot, &mut rng);
        let ok = t.accepts(&mut SetWitness(vals));
        let what = format!("{}: column '{}' row {row} set to {} ", t.name, c.columns[col].name, KINDS[kind]);
        tally.record("one witness value", what, ok);
    }
    // A whole row of an op: every witness column its constraints and lookups read.
    for (k, inst) in c.instances.iter().enumerate().filter(|(k, _)| pick(*k)) {
        let mut cols: Vec<ColId> = inst
            .constraints
            .iter()
            .chain(inst.lookups.iter().flat_map(|&l| c.lookups[l].tuples.iter().flatten()))
            .flat_map(Expr::columns)
            .filter(|&col| matches!(c.columns[col].kind, Kind::Witness) && c.columns[col].vars == inst.vars)
            .collect();
        cols.sort_unstable();
        cols.dedup();
        if cols.is_empty() {
            continue;
        }
        let row = rng.below(1 << inst.vars);
        let mut vals = t.honest.clone();
        for &col in &cols {
            let kind = rng.below(KINDS.len());
            let slot = &mut vals[col].as_mut().unwrap()[row];
            *slot = adversarial(kind, *slot, &mut rng);
        }
        let ok = t.accepts(&mut SetWitness(vals));
        tally.record("a whole row", format!("{}: op {k} '{}' row {row}", t.name, inst.name), ok);
    }
    // One logUp helper value (lookup and table helpers).
    let helpers: Vec<ColId> = c.lookups.iter().map(|l| l.helper).chain(c.tables.iter().map(|tb| tb.helper)).collect();
    for (n, &col) in helpers.iter().enumerate().filter(|(n, _)| pick(*n)) {
        let row = rng.below(1 << c.columns[col].vars);
        let value = match n % 3 {
            0 => E::from_basis_coefficients_slice(&[F::from_u64(rng.next() >> 1), F::from_u64(rng.next() >> 1)]).unwrap(),
            1 => E::from(F::from_u64(2 * (rng.next() % 8) + 1) * pow2(1 + (rng.next() % 20) as u32).inverse()),
            _ => E::from(F::from_u64(1 << 16) + F::from_u64(rng.next() % 1000)),
        };
        let ok = t.accepts(&mut SetHelper { col, row, value });
        tally.record("one helper value", format!("{}: helper '{}' row {row}", t.name, c.columns[col].name), ok);
    }
    // Semantic forgeries: a fractional op output, repaired everywhere but the range checks.
    for (qi, qa) in c.quotients.iter().enumerate() {
        let Some((y, _, _)) = qa.clamp else { continue };
        if !matches!(c.columns[y].kind, Kind::Witness) {
            continue;
        }
        for _ in 0..budget.semantic_per_quotient {
            let delta = DELTAS[rng.below(DELTAS.len())];
            let row = real_rows(c, qa)[rng.below(real_rows(c, qa).len())];
            let start = std::time::Instant::now();
            let forged = forge(t, qi, row, delta);
            tally.forge_secs += start.elapsed().as_secs_f64();
            let Some(vals) = forged else { continue };
            let clean = c.instances.iter().all(|inst| constraints_hold(inst, &vals));
            if clean {
                tally.repaired += 1;
            } else {
                tally.unrepaired += 1;
            }
            let ok = t.accepts(&mut SetWitness(vals));
            let what = format!(
                "{}: output '{}' row {row} moved by {}/2^{} ({})",
                t.name,
                c.columns[y].name,
                delta.0,
                delta.1,
                if clean { "only the range checks stand in the way" } else { "a consumer was not repaired" }
            );
            tally.record("semantic: fractional output", what, ok);
        }
    }
    tally
}

/// Fractions `a / 2^k` an output is moved by.
pub const DELTAS: [(i64, u32); 6] = [(1, 1), (-1, 1), (1, 2), (3, 2), (-1, 3), (5, 4)];

/// The rows where the quotient's bound `Q` is non-zero (its real elements).
fn real_rows(c: &Circuit, qa: &QuotientArg) -> Vec<usize> {
    let q = c.columns[qa.bound].values.as_ref().unwrap();
    (0..q.len()).filter(|&i| q[i] != 0).collect()
}

fn at(vals: &[Option<Vec<F>>], i: usize) -> impl Fn(ColId) -> E + '_ {
    move |k| E::from(vals[k].as_ref().expect("values")[i])
}

fn base(e: E) -> F {
    e.as_basis_coefficients_slice()[0]
}

fn eval(e: &Expr, vals: &[Option<Vec<F>>], i: usize) -> F {
    base(e.eval(at(vals, i)))
}

pub fn constraints_hold(inst: &circuit::Instance, vals: &[Option<Vec<F>>]) -> bool {
    (0..1usize << inst.vars).all(|i| inst.constraints.iter().all(|e| eval(e, vals, i) == F::ZERO))
}

fn signed(f: F) -> i128 {
    let u = f.as_canonical_u64();
    if u > F::ORDER_U64 / 2 {
        u as i128 - F::ORDER_U64 as i128
    } else {
        u as i128
    }
}

/// `⌊v⌋` if `v` is a dyadic fraction `n / 2^k` of moderate size.
fn dyadic_floor(v: F) -> Option<i128> {
    (0..=40u32).find_map(|k| {
        let n = signed(v * pow2(k));
        (n.abs() < 1 << 62).then(|| n.div_euclid(1 << k))
    })
}

fn limb_sum(vals: &[Option<Vec<F>>], limbs: &[ColId], rb: usize, i: usize) -> F {
    limbs.iter().enumerate().map(|(k, &c)| vals[c].as_ref().unwrap()[i] * pow2((rb * k) as u32)).sum()
}

/// Writes `v` into `limbs` as a forger would: the low limbs from `v`'s integer part (so
/// they look honest), the top limb whatever makes the weighted sum `v` in the field.
fn split(vals: &mut [Option<Vec<F>>], limbs: &[ColId], rb: usize, i: usize, v: F) {
    let n = limbs.len();
    if n == 0 {
        return; // a quantity that is 0 by construction (a divisor of 1 has no remainder)
    }
    let int = dyadic_floor(v).unwrap_or(0).max(0) as u128;
    let mut low = F::ZERO;
    for (k, &c) in limbs[..n - 1].iter().enumerate() {
        let l = F::from_u64(((int >> (rb * k)) & ((1 << rb) - 1)) as u64);
        vals[c].as_mut().unwrap()[i] = l;
        low += l * pow2((rb * k) as u32);
    }
    let top_scale = pow2((rb * (n - 1)) as u32);
    vals[limbs[n - 1]].as_mut().unwrap()[i] = (v - low) * top_scale.inverse();
}

/// Re-splits quotient `qa`'s remainder and bounds at row `i` for the quotient `q`.
fn repair(c: &Circuit, vals: &mut [Option<Vec<F>>], qa: &QuotientArg, i: usize, q: F) {
    let rb = c.range_bits;
    let (num, den) = (eval(&qa.num, vals, i), eval(&qa.den, vals, i));
    let r_old = limb_sum(vals, &qa.remainder, rb, i);
    let rc_old = limb_sum(vals, &qa.complement, rb, i);
    let r = num - q * den;
    let bound = vals[qa.bound].as_ref().unwrap()[i];
    split(vals, &qa.remainder, rb, i, r);
    split(vals, &qa.complement, rb, i, rc_old + r_old - r);
    split(vals, &qa.plus, rb, i, bound + q);
    split(vals, &qa.minus, rb, i, bound - q);
}

/// Sets each op output that is a plain sum of wired or accumulated columns
/// (`y − Σ v = 0`: Reshape, Transpose, Slice, Gather, Concat, a grouped Conv's sum).
fn repair_copies(c: &Circuit, vals: &mut [Option<Vec<F>>], inst: &circuit::Instance) -> bool {
    let mut changed = false;
    for e in &inst.constraints {
        let Some((first, rest)) = e.terms.split_first() else { continue };
        let plain = first.0 == E::ONE
            && first.1.len() == 1
            && matches!(c.columns[first.1[0]].kind, Kind::Witness)
            && rest.iter().all(|(k, m)| {
                *k == -E::ONE && m.len() == 1 && matches!(c.columns[m[0]].kind, Kind::Virtual { .. } | Kind::Acc(_))
            });
        if !plain {
            continue;
        }
        let y = first.1[0];
        for i in 0..1usize << inst.vars {
            let v: F = rest.iter().map(|(_, m)| vals[m[0]].as_ref().unwrap()[i]).sum();
            if vals[y].as_ref().unwrap()[i] != v {
                vals[y].as_mut().unwrap()[i] = v;
                changed = true;
            }
        }
    }
    changed
}

/// The witness of the forgery: quotient `qi`'s output moved by `a / 2^k` at `row`, its
/// own quotient witness and then every consumer's repaired in the field, in op order.
/// `None` if the output is at a clamp bound (the clamp excess would have to move too).
pub fn forge(t: &Target, qi: usize, row: usize, (a, k): (i64, u32)) -> Option<Vec<Option<Vec<F>>>> {
    let c = &t.circuit;
    let qa = &c.quotients[qi];
    let (y, d, _) = qa.clamp.clone()?;
    let mut vals = t.honest.clone();
    if vals[d].as_ref().unwrap()[row] != F::ZERO {
        return None;
    }
    vals[y].as_mut().unwrap()[row] += from_i64(a) * pow2(k).inverse();
    let q = eval(&qa.q, &vals, row);
    repair(c, &mut vals, qa, row, q);
    let mut touched: HashSet<usize> = HashSet::new();
    touched.insert(qa.instance);
    // Derived columns are recomputed only after a change (it is the slow part).
    let mut dirty = true;
    for (k, inst) in c.instances.iter().enumerate().skip(qa.instance) {
        if std::mem::take(&mut dirty) {
            derive_columns(c, &mut vals);
        }
        if repair_copies(c, &mut vals, inst) {
            derive_columns(c, &mut vals);
        }
        for (bi, b) in c.quotients.iter().enumerate().filter(|(_, b)| b.instance == k) {
            for i in 0..1usize << inst.vars {
                if bi == qi && i == row {
                    continue;
                }
                let q = eval(&b.q, &vals, i);
                let r = eval(&b.num, &vals, i) - q * eval(&b.den, &vals, i);
                if r != limb_sum(&vals, &b.remainder, c.range_bits, i) {
                    repair(c, &mut vals, b, i, q);
                    dirty = true;
                }
            }
        }
    }
    if dirty {
        derive_columns(c, &mut vals);
    }
    Some(vals)
}
