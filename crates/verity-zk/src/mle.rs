//! Multilinear extensions over the boolean hypercube. Index bit order: the *first*
//! variable is the most significant bit, so fixing it splits a table into halves — and a
//! row-major `[rows × cols]` matrix (both powers of two) has the row bits first.

use crate::field::E;
use p3_field::PrimeCharacteristicRing;

/// `eq(r, x)` for every `x` in the hypercube.
pub fn eq_table(r: &[E]) -> Vec<E> {
    let mut t = vec![E::ONE];
    for &ri in r {
        let mut next = Vec::with_capacity(t.len() * 2);
        next.extend(t.iter().map(|&v| v * (E::ONE - ri)));
        next.extend(t.iter().map(|&v| v * ri));
        t = next;
    }
    // Built with the first variable as the *least* significant bit; reorder.
    let n = r.len();
    let mut out = vec![E::ZERO; t.len()];
    for (i, v) in t.into_iter().enumerate() {
        out[reverse_bits(i, n)] = v;
    }
    out
}

fn reverse_bits(i: usize, n: usize) -> usize {
    if n == 0 {
        0
    } else {
        i.reverse_bits() >> (usize::BITS as usize - n)
    }
}

/// Fixes the first variable of `values` to `r`.
pub fn fold(values: &[E], r: E) -> Vec<E> {
    let half = values.len() / 2;
    (0..half).map(|i| values[i] + r * (values[half + i] - values[i])).collect()
}

/// The multilinear extension of `values` (length `2^point.len()`) at `point`.
pub fn evaluate(values: &[E], point: &[E]) -> E {
    assert_eq!(values.len(), 1 << point.len(), "table size must be 2^vars");
    let mut v = values.to_vec();
    for &r in point {
        v = fold(&v, r);
    }
    v[0]
}

/// Integers padded with zeros to a power-of-two length, as extension elements.
pub fn table(values: &[i64], len: usize) -> Vec<E> {
    let mut t: Vec<E> = values.iter().map(|&v| crate::field::ext(v)).collect();
    t.resize(len, E::ZERO);
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::ext;

    #[test]
    fn evaluation_matches_eq_weighted_sum_and_hypercube_points() {
        let vals: Vec<E> = (0..8).map(|i| ext(i * i - 3)).collect();
        let r = [ext(5), ext(-2), ext(11)];
        let eq = eq_table(&r);
        let direct: E = vals.iter().zip(&eq).map(|(a, b)| *a * *b).sum();
        assert_eq!(evaluate(&vals, &r), direct);
        // On the hypercube the extension is the table (first variable = top bit).
        let (o, z) = (E::ONE, E::ZERO);
        assert_eq!(evaluate(&vals, &[o, z, o]), vals[5]);
        assert_eq!(evaluate(&vals, &[z, o, o]), vals[3]);
    }
}
