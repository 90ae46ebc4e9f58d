//! Sumcheck for `Σ_{x ∈ {0,1}^n} Π_i f_i(x) = claim` over multilinear `f_i`. Each round
//! the prover sends the round polynomial as its values at `0..=d`; the verifier checks
//! `g(0) + g(1)` against the running claim and moves to `g(r)` at a fresh challenge. At
//! the end the verifier holds a point `r` and must check `Π_i f_i(r)` itself (from
//! openings); a false claim survives with probability at most `n·d / |E|`.

use crate::field::{from_bytes, to_bytes, E};
use crate::mle::fold;
use crate::transcript::Transcript;
use p3_field::{Field, PrimeCharacteristicRing};

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

/// Proves the sum of the product of `tables` (all of length `2^n`). Returns the proof,
/// the challenge point and each table's value there.
pub fn prove(mut tables: Vec<Vec<E>>, t: &mut Transcript) -> (SumcheckProof, Vec<E>, Vec<E>) {
    let d = tables.len();
    let n = tables[0].len().trailing_zeros() as usize;
    assert!(tables.iter().all(|f| f.len() == 1 << n), "tables must share one power-of-two length");
    let mut rounds = Vec::with_capacity(n);
    let mut point = Vec::with_capacity(n);
    for _ in 0..n {
        let half = tables[0].len() / 2;
        let mut g = vec![E::ZERO; d + 1];
        for b in 0..half {
            // Each f_i(X, b) is the line lo + X (hi - lo); multiply their values at X = 0..=d.
            let mut prod = vec![E::ONE; d + 1];
            for f in &tables {
                let (lo, step) = (f[b], f[half + b] - f[b]);
                let mut v = lo;
                for p in prod.iter_mut() {
                    *p *= v;
                    v += step;
                }
            }
            g.iter_mut().zip(&prod).for_each(|(a, p)| *a += *p);
        }
        t.absorb_ext(b"sumcheck round", &g);
        let r = t.challenge();
        tables = tables.iter().map(|f| fold(f, r)).collect();
        rounds.push(g);
        point.push(r);
    }
    let finals = tables.iter().map(|f| f[0]).collect();
    (SumcheckProof { rounds }, point, finals)
}

/// Proves `Σ_x Σ_k c_k Π_{i ∈ m_k} f_i(x)` for a sum of products of the multilinear
/// `tables` (`terms` are `(c_k, m_k)` with indices into `tables`). Returns the proof, the
/// challenge point and each table's value there.
pub fn prove_terms(mut tables: Vec<Vec<E>>, terms: &[(E, Vec<usize>)], t: &mut Transcript) -> (SumcheckProof, Vec<E>, Vec<E>) {
    let d = terms.iter().map(|(_, m)| m.len()).max().unwrap_or(0).max(1);
    let n = tables.first().map_or(0, |f| f.len().trailing_zeros() as usize);
    assert!(tables.iter().all(|f| f.len() == 1 << n), "tables must share one power-of-two length");
    let used: Vec<usize> = {
        let mut u: Vec<usize> = terms.iter().flat_map(|(_, m)| m.iter().copied()).collect();
        u.sort_unstable();
        u.dedup();
        u
    };
    let mut rounds = Vec::with_capacity(n);
    let mut point = Vec::with_capacity(n);
    let mut line = vec![E::ZERO; tables.len() * (d + 1)];
    for _ in 0..n {
        let half = tables[0].len() / 2;
        let mut g = vec![E::ZERO; d + 1];
        for b in 0..half {
            for &i in &used {
                let f = &tables[i];
                let (mut v, step) = (f[b], f[half + b] - f[b]);
                for slot in &mut line[i * (d + 1)..(i + 1) * (d + 1)] {
                    *slot = v;
                    v += step;
                }
            }
            for (c, m) in terms {
                for (x, gx) in g.iter_mut().enumerate() {
                    *gx += m.iter().fold(*c, |acc, &i| acc * line[i * (d + 1) + x]);
                }
            }
        }
        t.absorb_ext(b"sumcheck round", &g);
        let r = t.challenge();
        for &i in &used {
            tables[i] = fold(&tables[i], r);
        }
        rounds.push(g);
        point.push(r);
    }
    let finals = tables.iter().map(|f| f[0]).collect();
    (SumcheckProof { rounds }, point, finals)
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

impl SumcheckProof {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = (self.rounds.len() as u32).to_le_bytes().to_vec();
        for g in &self.rounds {
            b.extend((g.len() as u32).to_le_bytes());
            g.iter().for_each(|e| b.extend(to_bytes(e)));
        }
        b
    }

    /// Decodes; never panics, rejects non-canonical field elements.
    pub fn decode(bytes: &[u8]) -> Option<(SumcheckProof, usize)> {
        let mut at = 0;
        let u32_at = |at: &mut usize| -> Option<usize> {
            let v = u32::from_le_bytes(bytes.get(*at..*at + 4)?.try_into().ok()?) as usize;
            *at += 4;
            Some(v)
        };
        let n = u32_at(&mut at)?;
        let mut rounds = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let len = u32_at(&mut at)?;
            if len > 16 || bytes.len() < at + 16 * len {
                return None;
            }
            let g = (0..len)
                .map(|k| from_bytes(bytes[at + 16 * k..at + 16 * (k + 1)].try_into().expect("16 bytes")))
                .collect::<Option<Vec<E>>>()?;
            at += 16 * len;
            rounds.push(g);
        }
        Some((SumcheckProof { rounds }, at))
    }
}
