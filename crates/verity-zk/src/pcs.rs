//! A transparent multilinear polynomial commitment (Ligero-style tensor code): the table
//! is laid out as a `rows × cols` matrix (row bits = the first variables), every row is
//! Reed–Solomon encoded at rate 1/4, and the encoded columns are Merkle-committed.
//!
//! Opening at `z = (z_row, z_col)`: the prover sends `u = Σ_i eq(z_row, i) · row_i` and a
//! proximity combination `v = Σ_i γ_i · row_i` (γ from the transcript); the verifier
//! encodes both and checks them against `QUERIES` random opened columns, then reads the
//! value `⟨u, eq(z_col)⟩`. Soundness rests on the code's distance (3/4): a `u` or `v` that
//! is not the honest combination differs from it on at least 3/4 of positions, so each
//! query catches it with probability ≥ 1/4 within the unique-decoding regime; 240 queries
//! give (3/4)^240 ≈ 2^-99. This is a first, simple commitment; proofs are O(√N).

use crate::field::{E, F};
use crate::mle::eq_table;
use crate::transcript::Transcript;
use p3_field::{BasedVectorSpace, PrimeCharacteristicRing, PrimeField64, TwoAdicField};
use rayon::prelude::*;
use verity_commit::merkle::{verify_path, MerkleTree};
use verity_commit::Hash;

/// log2 of the code's blowup (rate 1/4).
pub const BLOWUP_BITS: usize = 2;
pub const QUERIES: usize = 240;

const COLUMN_KEY: &[u8; 32] = b"verity/v1/zk-pcs-column.........";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commitment {
    pub root: Hash,
    pub row_vars: usize,
    pub col_vars: usize,
}

/// The prover's side of a commitment.
pub struct Committed {
    pub commitment: Commitment,
    rows: Vec<Vec<F>>,
    /// Encoded columns (`cols << BLOWUP_BITS` of them, each `rows` long).
    columns: Vec<Vec<F>>,
    tree: MerkleTree,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opening {
    pub u: Vec<E>,
    pub v: Vec<E>,
    /// `(column index, column, Merkle path)` for every query.
    pub columns: Vec<(u32, Vec<F>, Vec<Hash>)>,
}

fn column_hash(index: usize, column: &[F]) -> Hash {
    let mut bytes = (index as u32).to_le_bytes().to_vec();
    column.iter().for_each(|f| bytes.extend(f.as_canonical_u64().to_le_bytes()));
    *blake3::keyed_hash(COLUMN_KEY, &bytes).as_bytes()
}

/// In-place radix-2 NTT over the subgroup of size `a.len()` (values of the polynomial
/// whose coefficients are `a`), with the twiddles `tw[i] = ω_n^i`, `i < n/2`.
fn ntt<T>(a: &mut [T], tw: &[F])
where
    T: Copy + std::ops::Add<Output = T> + std::ops::Sub<Output = T> + std::ops::Mul<F, Output = T>,
{
    let n = a.len();
    let bits = n.trailing_zeros() as usize;
    for i in 0..n {
        let j = if bits == 0 { 0 } else { i.reverse_bits() >> (usize::BITS as usize - bits) };
        if i < j {
            a.swap(i, j);
        }
    }
    let mut half = 1;
    while half < n {
        let step = n / (2 * half);
        for chunk in a.chunks_exact_mut(2 * half) {
            let (lo, hi) = chunk.split_at_mut(half);
            // The first butterfly's twiddle is 1.
            let (u, t) = (lo[0], hi[0]);
            lo[0] = u + t;
            hi[0] = u - t;
            for j in 1..half {
                let t = hi[j] * tw[j * step];
                let u = lo[j];
                lo[j] = u + t;
                hi[j] = u - t;
            }
        }
        half *= 2;
    }
}

fn powers(g: F, n: usize) -> Vec<F> {
    let mut out = Vec::with_capacity(n);
    let mut x = F::ONE;
    for _ in 0..n {
        out.push(x);
        x *= g;
    }
    out
}

/// Roots of unity for encoding rows of `n` values: `ω_4n^i` for `i < 4n`, and the size-`n`
/// transform's twiddles `ω_n^i = ω_4n^(4i)`, `i < n/2`.
struct Roots {
    big: Vec<F>,
    tw: Vec<F>,
}

impl Roots {
    fn new(n: usize) -> Self {
        let big_n = n << BLOWUP_BITS;
        let big = powers(F::two_adic_generator(big_n.trailing_zeros() as usize), big_n);
        let tw = (0..n / 2).map(|i| big[i << BLOWUP_BITS]).collect();
        Roots { big, tw }
    }
}

/// Reed–Solomon encoding at rate 1/4: the values at the `4n`-th roots of unity. Position
/// `4k + j` is the size-`n` transform of the coefficients twisted by `ω_4n^(i·j)`, so the
/// zero padding is never transformed.
fn encode<T>(row: &[T], zero: T, roots: &Roots) -> Vec<T>
where
    T: Copy + std::ops::Add<Output = T> + std::ops::Sub<Output = T> + std::ops::Mul<F, Output = T>,
{
    let n = row.len();
    let big = n << BLOWUP_BITS;
    let mut out = vec![zero; big];
    let mut buf = row.to_vec();
    for j in 0..1usize << BLOWUP_BITS {
        for (i, (b, &x)) in buf.iter_mut().zip(row).enumerate() {
            *b = if j == 0 { x } else { x * roots.big[(i * j) % big] };
        }
        ntt(&mut buf, &roots.tw);
        for (k, &v) in buf.iter().enumerate() {
            out[(k << BLOWUP_BITS) + j] = v;
        }
    }
    out
}

/// `(row_vars, col_vars)` of a table with `2^vars` entries. An opening costs about
/// `QUERIES · 8 · rows + 32 · cols` bytes, smallest near `rows ≈ √(N / 60)`.
pub fn shape(vars: usize) -> (usize, usize) {
    let row_vars = vars.saturating_sub(6) / 2;
    (row_vars, vars - row_vars)
}

/// Commits to a table of `2^vars` values.
pub fn commit(values: &[F]) -> Committed {
    let vars = values.len().trailing_zeros() as usize;
    assert_eq!(values.len(), 1 << vars, "table size must be a power of two");
    let (row_vars, col_vars) = shape(vars);
    let cols = 1 << col_vars;
    let rows: Vec<Vec<F>> = values.chunks(cols).map(|r| r.to_vec()).collect();
    let roots = Roots::new(cols);
    let encoded: Vec<Vec<F>> = rows.par_iter().map(|r| encode(r, F::ZERO, &roots)).collect();
    let columns: Vec<Vec<F>> = (0..cols << BLOWUP_BITS).into_par_iter().map(|q| encoded.iter().map(|r| r[q]).collect()).collect();
    let tree = MerkleTree::new(columns.par_iter().enumerate().map(|(q, c)| column_hash(q, c)).collect());
    let commitment = Commitment { root: tree.root(), row_vars, col_vars };
    Committed { commitment, rows, columns, tree }
}

fn combine(rows: &[Vec<F>], weights: &[E]) -> Vec<E> {
    let mut out = vec![E::ZERO; rows[0].len()];
    for (row, &w) in rows.iter().zip(weights) {
        out.iter_mut().zip(row).for_each(|(o, &x)| *o += w * x);
    }
    out
}

/// Absorbs the statement and derives the proximity weights.
fn start(c: &Commitment, point: &[E], value: E, t: &mut Transcript) -> Vec<E> {
    t.absorb(b"pcs root", &c.root);
    t.absorb(b"pcs shape", &[c.row_vars as u8, c.col_vars as u8]);
    t.absorb_ext(b"pcs point", point);
    t.absorb_ext(b"pcs value", &[value]);
    t.challenges(1 << c.row_vars)
}

fn queries(u: &[E], v: &[E], n_cols: usize, t: &mut Transcript) -> Vec<usize> {
    t.absorb_ext(b"pcs u", u);
    t.absorb_ext(b"pcs v", v);
    (0..QUERIES)
        .map(|_| {
            let c = t.challenge();
            let x: &[F] = BasedVectorSpace::<F>::as_basis_coefficients_slice(&c);
            (x[0].as_canonical_u64() % n_cols as u64) as usize
        })
        .collect()
}

/// Opens the committed table at `point`, whose value is `value`.
pub fn open(c: &Committed, point: &[E], value: E, t: &mut Transcript) -> Opening {
    let gamma = start(&c.commitment, point, value, t);
    let (zr, _) = point.split_at(c.commitment.row_vars);
    let u = combine(&c.rows, &eq_table(zr));
    let v = combine(&c.rows, &gamma);
    let qs = queries(&u, &v, c.columns.len(), t);
    let columns = qs.into_iter().map(|q| (q as u32, c.columns[q].clone(), c.tree.path(q))).collect();
    Opening { u, v, columns }
}

/// Checks that the committed table's multilinear extension is `value` at `point`.
pub fn verify(c: &Commitment, point: &[E], value: E, proof: &Opening, t: &mut Transcript) -> Result<(), String> {
    if point.len() != c.row_vars + c.col_vars {
        return Err(format!("point has {} coordinates, the table {} variables", point.len(), c.row_vars + c.col_vars));
    }
    let (rows, cols) = (1usize << c.row_vars, 1usize << c.col_vars);
    if proof.u.len() != cols || proof.v.len() != cols || proof.columns.len() != QUERIES {
        return Err("opening has the wrong shape".into());
    }
    let gamma = start(c, point, value, t);
    let (zr, zc) = point.split_at(c.row_vars);
    let eq_r = eq_table(zr);
    let n_cols = cols << BLOWUP_BITS;
    let qs = queries(&proof.u, &proof.v, n_cols, t);
    let roots = Roots::new(cols);
    let (eu, ev) = (encode(&proof.u, E::ZERO, &roots), encode(&proof.v, E::ZERO, &roots));
    for (&q, (index, column, path)) in qs.iter().zip(&proof.columns) {
        if *index as usize != q || column.len() != rows {
            return Err(format!("opened column {index} is not the queried column {q}"));
        }
        if !verify_path(&column_hash(q, column), q, path, &c.root) {
            return Err(format!("column {q} is not in the commitment"));
        }
        let dot = |w: &[E]| column.iter().zip(w).map(|(&x, &w)| w * x).sum::<E>();
        if dot(&eq_r) != eu[q] || dot(&gamma) != ev[q] {
            return Err(format!("column {q} disagrees with the combined rows"));
        }
    }
    let claimed: E = proof.u.iter().zip(eq_table(zc)).map(|(&a, b)| a * b).sum();
    if claimed != value {
        return Err("the opened value differs from the claim".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::{ext, from_i64};
    use crate::mle::evaluate;

    fn table(n: usize, seed: i64) -> Vec<F> {
        (0..1 << n).map(|i| from_i64((i as i64 * 7919 + seed).rem_euclid(255) - 127)).collect()
    }

    #[test]
    fn ntt_matches_direct_evaluation() {
        let coeffs: Vec<F> = (0..8).map(|i| from_i64(i * i - 3)).collect();
        let w = F::two_adic_generator(5);
        let vals = encode(&coeffs, F::ZERO, &Roots::new(8));
        assert_eq!(vals.len(), 32);
        for (k, v) in vals.iter().enumerate() {
            let x = w.exp_u64(k as u64);
            let direct = coeffs.iter().rev().fold(F::ZERO, |acc, &c| acc * x + c);
            assert_eq!(*v, direct);
        }
    }

    #[test]
    fn openings_verify_and_bind_value_point_and_columns() {
        for n in [0usize, 1, 5, 8] {
            let vals = table(n, n as i64);
            let c = commit(&vals);
            let point: Vec<E> = (0..n).map(|i| ext(31 + 17 * i as i64)).collect();
            let ext_vals: Vec<E> = vals.iter().map(|&f| E::from(f)).collect();
            let value = evaluate(&ext_vals, &point);
            let proof = open(&c, &point, value, &mut Transcript::new("pcs"));
            verify(&c.commitment, &point, value, &proof, &mut Transcript::new("pcs")).unwrap();

            assert!(verify(&c.commitment, &point, value + E::ONE, &proof, &mut Transcript::new("pcs")).is_err());
            if n > 0 {
                let mut other = point.clone();
                other[0] += E::ONE;
                assert!(verify(&c.commitment, &other, value, &proof, &mut Transcript::new("pcs")).is_err());
            }
            for k in 0..proof.u.len() {
                let mut bad = proof.clone();
                bad.u[k] += E::ONE;
                assert!(verify(&c.commitment, &point, value, &bad, &mut Transcript::new("pcs")).is_err(), "n {n} u[{k}]");
            }
            let mut bad = proof.clone();
            bad.columns[3].1[0] += F::ONE;
            assert!(verify(&c.commitment, &point, value, &bad, &mut Transcript::new("pcs")).is_err());
            let mut bad = proof.clone();
            bad.v[0] += E::ONE;
            assert!(verify(&c.commitment, &point, value, &bad, &mut Transcript::new("pcs")).is_err());
            // Another table's commitment does not accept this opening.
            let c2 = commit(&table(n, n as i64 + 1));
            assert!(n == 0 || verify(&c2.commitment, &point, value, &proof, &mut Transcript::new("pcs")).is_err());
        }
    }

    /// A prover that lies about the value must also lie about `u`, and the encoding of a
    /// false `u` disagrees with the committed columns almost everywhere.
    #[test]
    fn a_forged_u_for_a_false_value_is_caught() {
        let n = 6;
        let vals = table(n, 3);
        let c = commit(&vals);
        let point: Vec<E> = (0..n).map(|i| ext(5 + i as i64)).collect();
        let ext_vals: Vec<E> = vals.iter().map(|&f| E::from(f)).collect();
        let value = evaluate(&ext_vals, &point) + E::ONE;
        let mut t = Transcript::new("pcs");
        let gamma = start(&c.commitment, &point, value, &mut t);
        let (zr, zc) = point.split_at(c.commitment.row_vars);
        let mut u = combine(&c.rows, &eq_table(zr));
        // Shift u so that ⟨u, eq(z_col)⟩ equals the false value.
        let eqc = eq_table(zc);
        let (i, w) = eqc.iter().enumerate().find(|(_, w)| **w != E::ZERO).unwrap();
        u[i] += E::ONE * p3_field::Field::inverse(w);
        let v = combine(&c.rows, &gamma);
        let qs = queries(&u, &v, c.columns.len(), &mut t);
        let columns = qs.into_iter().map(|q| (q as u32, c.columns[q].clone(), c.tree.path(q))).collect();
        let forged = Opening { u, v, columns };
        assert!(verify(&c.commitment, &point, value, &forged, &mut Transcript::new("pcs")).is_err());
    }
}
