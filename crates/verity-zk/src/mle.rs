//! Multilinear extensions over the boolean hypercube. Index bit order: the *first*
//! variable is the most significant bit, so fixing it splits a table into halves — and a
//! row-major `[rows × cols]` matrix (both powers of two) has the row bits first.

use crate::field::E;
use p3_field::PrimeCharacteristicRing;

/// `eq(r, x)` for every `x` in the hypercube.
pub fn eq_table(r: &[E]) -> Vec<E> {
    let mut t = Vec::with_capacity(1 << r.len());
    t.push(E::ONE);
    for &ri in r {
        // Each new variable is a new least significant bit.
        let n = t.len();
        t.resize(2 * n, E::ZERO);
        for i in (0..n).rev() {
            let v = t[i];
            t[2 * i + 1] = v * ri;
            t[2 * i] = v - t[2 * i + 1];
        }
    }
    t
}

/// Fixes the first variable of `values` to `r`.
pub fn fold(values: &[E], r: E) -> Vec<E> {
    let half = values.len() / 2;
    (0..half).map(|i| values[i] + r * (values[half + i] - values[i])).collect()
}

/// The multilinear extension of `values` (length `2^point.len()`) at `point`.
pub fn evaluate(values: &[E], point: &[E]) -> E {
    assert_eq!(values.len(), 1 << point.len(), "table size must be 2^vars");
    let Some((&r, rest)) = point.split_first() else { return values[0] };
    let mut v = fold(values, r);
    for &r in rest {
        let half = v.len() / 2;
        for i in 0..half {
            v[i] = v[i] + r * (v[half + i] - v[i]);
        }
        v.truncate(half);
    }
    v[0]
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
