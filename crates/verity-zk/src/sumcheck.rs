//! Sumcheck for `Σ_{x ∈ {0,1}^n} Π_i f_i(x) = claim` over multilinear `f_i`. Each round
//! the prover sends the round polynomial as its values at `0..=d`; the verifier checks
//! `g(0) + g(1)` against the running claim and moves to `g(r)` at a fresh challenge. At
//! the end the verifier holds a point `r` and must check `Π_i f_i(r)` itself (from
//! openings); a false claim survives with probability at most `n·d / |E|`.

use crate::field::E;
use crate::mle::fold;
use crate::transcript::Transcript;
use p3_field::{Field, PrimeCharacteristicRing};
use rayon::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SumcheckProof {
    /// Round polynomials, each as its values at `0, 1, ..., degree`.
    pub rounds: Vec<Vec<E>>,
}

/// What the verifier is left to check: `Π_i f_i(point) == value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reduced {
    pub point: Vec<E>,
    pub value: E,
}

/// Proves `Σ_x P(f_0(x), …, f_m(x)) = claim` for multilinear `tables` `f_i` and a
/// polynomial `P` of degree at most `degree`, given as a function of the tables' values
/// (so that it can be evaluated in factored form). Returns the proof, the challenge point
/// and each table's value there. Rounds run in parallel over the hypercube.
pub fn prove_fn<P>(mut tables: Vec<Vec<E>>, degree: usize, p: P, t: &mut Transcript) -> (SumcheckProof, Vec<E>, Vec<E>)
where
    P: Fn(&[E]) -> E + Sync,
{
    let d = degree.max(1);
    let m = tables.len();
    let n = tables.first().map_or(0, |f| f.len().trailing_zeros() as usize);
    assert!(tables.iter().all(|f| f.len() == 1 << n), "tables must share one power-of-two length");
    let mut rounds = Vec::with_capacity(n);
    let mut point = Vec::with_capacity(n);
    const CHUNK: usize = 256;
    for _ in 0..n {
        let half = tables[0].len() / 2;
        let partial = |range: std::ops::Range<usize>| {
            let (mut g, mut vals, mut step) = (vec![E::ZERO; d + 1], vec![E::ZERO; m], vec![E::ZERO; m]);
            for b in range {
                for i in 0..m {
                    vals[i] = tables[i][b];
                    step[i] = tables[i][half + b] - vals[i];
                }
                g[0] += p(&vals);
                for gx in g.iter_mut().skip(1) {
                    vals.iter_mut().zip(&step).for_each(|(v, s)| *v += *s);
                    *gx += p(&vals);
                }
            }
            g
        };
        let g = if half <= CHUNK {
            partial(0..half)
        } else {
            (0..half.div_ceil(CHUNK))
                .into_par_iter()
                .map(|c| partial(c * CHUNK..((c + 1) * CHUNK).min(half)))
                .reduce(|| vec![E::ZERO; d + 1], |a, b| a.iter().zip(&b).map(|(x, y)| *x + *y).collect())
        };
        t.absorb_ext(b"sumcheck round", &g);
        let r = t.challenge();
        tables.par_iter_mut().for_each(|f| *f = fold(f, r));
        rounds.push(g);
        point.push(r);
    }
    let finals = tables.iter().map(|f| f[0]).collect();
    (SumcheckProof { rounds }, point, finals)
}

/// `prove_fn` for the product of all `tables`.
pub fn prove_product(tables: Vec<Vec<E>>, t: &mut Transcript) -> (SumcheckProof, Vec<E>, Vec<E>) {
    let d = tables.len();
    prove_fn(tables, d, |v| v.iter().copied().product(), t)
}

/// Checks a proof of `claim` for `n` variables and degree `d`; returns what is left to
/// check, or an error naming the first failing round.
pub fn verify(claim: E, n: usize, d: usize, proof: &SumcheckProof, t: &mut Transcript) -> Result<Reduced, String> {
    if proof.rounds.len() != n {
        return Err(format!("sumcheck has {} rounds, expected {n}", proof.rounds.len()));
    }
    let mut claim = claim;
    let mut point = Vec::with_capacity(n);
    for (i, g) in proof.rounds.iter().enumerate() {
        if g.len() != d + 1 {
            return Err(format!("round {i} polynomial has {} values, expected {}", g.len(), d + 1));
        }
        if g[0] + g[1] != claim {
            return Err(format!("round {i}: g(0) + g(1) differs from the claim"));
        }
        t.absorb_ext(b"sumcheck round", g);
        let r = t.challenge();
        claim = interpolate(g, r);
        point.push(r);
    }
    Ok(Reduced { point, value: claim })
}

/// The polynomial with values `ys` at `0..ys.len()`, evaluated at `x` (Lagrange).
pub fn interpolate(ys: &[E], x: E) -> E {
    let n = ys.len();
    let node = |i: usize| E::from_u64(i as u64);
    (0..n)
        .map(|i| {
            let (mut num, mut den) = (E::ONE, E::ONE);
            for j in (0..n).filter(|&j| j != i) {
                num *= x - node(j);
                den *= node(i) - node(j);
            }
            ys[i] * num * den.inverse()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::ext;
    use crate::mle::evaluate;
    use proptest::prelude::*;

    proptest! {
        /// Honest sums verify and reduce to the tables' values at the point; a false claim
        /// or any changed round value does not survive.
        #[test]
        fn sums_of_products_verify_and_false_ones_do_not(
            vars in 0usize..6, k in 1usize..4, seed in any::<i64>(), bad in any::<prop::sample::Index>(),
        ) {
            let tables: Vec<Vec<E>> = (0..k)
                .map(|j| (0..1 << vars).map(|i| ext((seed.wrapping_mul(i as i64 + 3 * j as i64 + 1) >> 40) % 1000)).collect())
                .collect();
            let claim: E = (0..1 << vars).map(|i| tables.iter().map(|f| f[i]).product::<E>()).sum();
            let (proof, point, finals) = prove_product(tables.clone(), &mut Transcript::new("t"));
            let red = verify(claim, vars, k, &proof, &mut Transcript::new("t")).unwrap();
            prop_assert_eq!(&red.point, &point);
            for (f, v) in tables.iter().zip(&finals) {
                prop_assert_eq!(evaluate(f, &point), *v);
            }
            prop_assert_eq!(red.value, finals.iter().copied().product::<E>());
            prop_assert!(verify(claim + E::ONE, vars, k, &proof, &mut Transcript::new("t")).is_err() || vars == 0);
            if vars > 0 {
                let mut p2 = proof.clone();
                let round = bad.index(p2.rounds.len());
                p2.rounds[round][bad.index(k + 1)] += E::ONE;
                let ok = verify(claim, vars, k, &p2, &mut Transcript::new("t")).map(|r| r.value == finals.iter().copied().product::<E>());
                prop_assert!(!matches!(ok, Ok(true)));
            }
        }
    }
}
