//! Layer reductions. A matrix-vector product `y = W·x` turns a claim on `ỹ(r)` into
//! claims on `W̃(r, s)` (to be opened against the weight commitment) and on `x̃(s)` (the
//! claim passed down to the layer below), GKR-style, so `x` is never committed.

use crate::field::{from_i64, E, F};
use crate::mle::{eq_table, evaluate, table};
use crate::sumcheck::{self, Reduced, SumcheckProof};
use crate::transcript::Transcript;
use p3_field::PrimeCharacteristicRing;

/// A `rows × cols` integer matrix, zero-padded to powers of two.
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    values: Vec<E>,
}

/// A row-major `rows × cols` integer matrix zero-padded to power-of-two dimensions: the
/// table a weight commitment commits to.
pub fn padded(values: &[i64], rows: usize, cols: usize) -> Vec<F> {
    assert_eq!(values.len(), rows * cols, "matrix size");
    let (pr, pc) = (rows.next_power_of_two(), cols.next_power_of_two());
    let mut t = vec![F::ZERO; pr * pc];
    for j in 0..rows {
        for k in 0..cols {
            t[j * pc + k] = from_i64(values[j * cols + k]);
        }
    }
    t
}

impl Matrix {
    pub fn new(values: &[i64], rows: usize, cols: usize) -> Self {
        Matrix { rows, cols, values: padded(values, rows, cols).into_iter().map(E::from).collect() }
    }

    pub fn row_vars(&self) -> usize {
        self.rows.next_power_of_two().trailing_zeros() as usize
    }

    pub fn col_vars(&self) -> usize {
        self.cols.next_power_of_two().trailing_zeros() as usize
    }

    /// `W̃(r, s)`.
    pub fn evaluate(&self, r: &[E], s: &[E]) -> E {
        let p: Vec<E> = r.iter().chain(s).copied().collect();
        evaluate(&self.values, &p)
    }

    /// `W̃(r, ·)` on the column hypercube: `Σ_j eq(r, j) W[j, ·]`.
    fn bind_rows(&self, r: &[E]) -> Vec<E> {
        let pc = self.cols.next_power_of_two();
        let mut out = vec![E::ZERO; pc];
        for (j, e) in eq_table(r).into_iter().enumerate() {
            for (o, w) in out.iter_mut().zip(&self.values[j * pc..(j + 1) * pc]) {
                *o += e * *w;
            }
        }
        out
    }
}

/// Proves `ỹ(r) = Σ_t W̃(r, t) x̃(t)` for the true `x`; returns the proof and the
/// reduced point `s` with `x̃(s)`.
pub fn prove_matvec(w: &Matrix, x: &[i64], r: &[E], t: &mut Transcript) -> (SumcheckProof, Vec<E>, E) {
    let xt = table(x, w.cols.next_power_of_two());
    let (proof, s, finals) = sumcheck::prove(vec![w.bind_rows(r), xt], t);
    (proof, s, finals[1])
}

/// Verifies the reduction of `claim = ỹ(r)`; on success the caller must still check
/// `W̃(r, s) · x̃(s) == reduced.value` (the returned point is `s`).
pub fn verify_matvec(claim: E, col_vars: usize, proof: &SumcheckProof, t: &mut Transcript) -> Result<Reduced, String> {
    sumcheck::verify(claim, col_vars, 2, proof, t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::ext;
    use proptest::prelude::*;

    fn matvec(w: &[i64], rows: usize, cols: usize, x: &[i64]) -> Vec<i64> {
        (0..rows).map(|j| (0..cols).map(|k| w[j * cols + k] * x[k]).sum()).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn honest_products_verify_and_false_ones_do_not(
            rows in 1usize..12, cols in 1usize..20, seed in any::<u64>(), bad in any::<prop::sample::Index>(),
        ) {
            let mut s = seed;
            let mut next = || { s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); ((s >> 33) % 255) as i64 - 127 };
            let w: Vec<i64> = (0..rows * cols).map(|_| next()).collect();
            let x: Vec<i64> = (0..cols).map(|_| next()).collect();
            let y = matvec(&w, rows, cols, &x);
            let m = Matrix::new(&w, rows, cols);
            let r: Vec<E> = (0..m.row_vars()).map(|i| ext(1000 + i as i64 * 7919)).collect();
            let claim = evaluate(&table(&y, rows.next_power_of_two()), &r);

            let mut tp = Transcript::new("matvec");
            let (proof, s, xs) = prove_matvec(&m, &x, &r, &mut tp);
            let mut tv = Transcript::new("matvec");
            let red = verify_matvec(claim, m.col_vars(), &proof, &mut tv).unwrap();
            prop_assert_eq!(&red.point, &s);
            prop_assert_eq!(m.evaluate(&r, &s) * xs, red.value);
            prop_assert_eq!(xs, evaluate(&table(&x, cols.next_power_of_two()), &s));

            // A wrong output: the honest transcript no longer verifies.
            let mut y2 = y.clone();
            y2[bad.index(rows)] += 1;
            let claim2 = evaluate(&table(&y2, rows.next_power_of_two()), &r);
            let mut tv = Transcript::new("matvec");
            let ok = verify_matvec(claim2, m.col_vars(), &proof, &mut tv).map(|red| m.evaluate(&r, &red.point) * xs == red.value);
            prop_assert!(!matches!(ok, Ok(true)));

            // Any changed round value is caught by a round check or the final check.
            if !proof.rounds.is_empty() {
                let mut p2 = proof.clone();
                let round = bad.index(p2.rounds.len());
                let k = bad.index(3);
                p2.rounds[round][k] += E::ONE;
                let mut tv = Transcript::new("matvec");
                let ok = verify_matvec(claim, m.col_vars(), &p2, &mut tv)
                    .map(|red| m.evaluate(&r, &red.point) * evaluate(&table(&x, cols.next_power_of_two()), &red.point) == red.value);
                prop_assert!(!matches!(ok, Ok(true)));
            }
        }
    }

    #[test]
    fn proofs_round_trip_and_bad_bytes_are_refused() {
        let m = Matrix::new(&[1, 2, 3, 4, 5, 6], 2, 3);
        let mut t = Transcript::new("matvec");
        let (proof, _, _) = prove_matvec(&m, &[7, 8, 9], &[ext(3)], &mut t);
        let bytes = proof.encode();
        assert_eq!(SumcheckProof::decode(&bytes), Some((proof, bytes.len())));
        for cut in 0..bytes.len() {
            assert!(SumcheckProof::decode(&bytes[..cut]).is_none_or(|(_, used)| used <= cut));
        }
        assert!(SumcheckProof::decode(&[0xff; 40]).is_none());
    }
}
