//! Polynomial expressions over the columns of a circuit: sums of monomials, each a
//! coefficient times a product of column references. Constraints, lookup tuples and the
//! terms of a sumcheck are all written in this form.

use crate::field::{ext, E};
use p3_field::PrimeCharacteristicRing;

pub type ColId = usize;

#[derive(Clone, Debug, Default)]
pub struct Expr {
    pub terms: Vec<(E, Vec<ColId>)>,
}

impl Expr {
    pub fn zero() -> Self {
        Expr::default()
    }
    pub fn constant(c: i64) -> Self {
        Expr::constant_e(ext(c))
    }
    pub fn constant_e(c: E) -> Self {
        Expr { terms: vec![(c, vec![])] }
    }
    pub fn col(c: ColId) -> Self {
        Expr { terms: vec![(E::ONE, vec![c])] }
    }
    pub fn add(&self, o: &Expr) -> Self {
        Expr { terms: self.terms.iter().chain(&o.terms).cloned().collect() }
    }
    pub fn sub(&self, o: &Expr) -> Self {
        self.add(&o.scale(-E::ONE))
    }
    pub fn scale(&self, c: E) -> Self {
        Expr { terms: self.terms.iter().map(|(k, m)| (*k * c, m.clone())).collect() }
    }
    pub fn scale_i(&self, c: i64) -> Self {
        self.scale(ext(c))
    }
    pub fn mul(&self, o: &Expr) -> Self {
        let mut terms = Vec::with_capacity(self.terms.len() * o.terms.len());
        for (a, ma) in &self.terms {
            for (b, mb) in &o.terms {
                terms.push((*a * *b, ma.iter().chain(mb).copied().collect()));
            }
        }
        Expr { terms }
    }
    pub fn degree(&self) -> usize {
        self.terms.iter().map(|(_, m)| m.len()).max().unwrap_or(0)
    }
    pub fn columns(&self) -> impl Iterator<Item = ColId> + '_ {
        self.terms.iter().flat_map(|(_, m)| m.iter().copied())
    }
    /// Value given each column's value.
    pub fn eval(&self, at: impl Fn(ColId) -> E) -> E {
        self.terms.iter().map(|(c, m)| m.iter().fold(*c, |acc, &k| acc * at(k))).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algebra_matches_evaluation() {
        let (a, b) = (Expr::col(0), Expr::col(1));
        let e = a.sub(&Expr::constant(3)).mul(&b.add(&Expr::constant(2))).scale_i(5);
        let at = |c: ColId| [ext(7), ext(-4)][c];
        assert_eq!(e.eval(at), ext(5 * (7 - 3) * (-4 + 2)));
        assert_eq!(e.degree(), 2);
    }
}
