//! Layer products: accumulators reduced by their own sumcheck, never committed.

use super::*;

impl Builder<'_> {
    /// Adds the weight tables and the accumulator column of `bias + W · x`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn bilinear(
        &mut self,
        name: &str,
        x: ColId,
        a: &[usize],
        [wt, bt]: [Vec<i64>; 2],
        j: usize,
        c: usize,
        b: &[usize],
    ) -> ColId {
        let (a_vars, b_vars, c_vars, j_vars) = (layout::vars(a), layout::vars(b), log2(c), log2(j));
        let values = self.prover.then(|| {
            let xv = self.c.columns[x].values.as_ref().expect("input values");
            let (na, nc, nb, nj) = (1 << a_vars, 1 << c_vars, 1 << b_vars, 1 << j_vars);
            let mut acc = vec![0i64; na * nc * nb];
            for ia in 0..na {
                for ic in 0..nc {
                    for ib in 0..nb {
                        let s: i64 = (0..nj).map(|ij| wt[ic * nj + ij] * xv[(ia * nj + ij) * nb + ib]).sum();
                        acc[(ia * nc + ic) * nb + ib] = bt[ic] + s;
                    }
                }
            }
            acc
        });
        self.c.weights.push(wt);
        self.c.weights.push(bt);
        let (weight, bias) = (self.c.weights.len() - 2, self.c.weights.len() - 1);
        let id = self.c.bilinears.len();
        let acc = self.col(format!("{name} accumulator"), a_vars + c_vars + b_vars, Kind::Acc(id), values);
        self.c.bilinears.push(Bilinear { acc, x, a_vars, c_vars, b_vars, j_vars, weight, bias });
        acc
    }

    /// The accumulator of the batched product `acc[g, m, n] = Σ_k a[g, m, k] · b[g, k, n]`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn product(
        &mut self,
        name: &str,
        a: ColId,
        b: ColId,
        g_vars: usize,
        m_vars: usize,
        k_vars: usize,
        n_vars: usize,
    ) -> ColId {
        let values = self.prover.then(|| {
            let (av, bv) = (self.vals(a), self.vals(b));
            let (ng, nm, nk, nn) = (1 << g_vars, 1 << m_vars, 1 << k_vars, 1 << n_vars);
            let mut acc = vec![0i64; ng * nm * nn];
            for g in 0..ng {
                for i in 0..nm {
                    for t in 0..nk {
                        let x = av[(g * nm + i) * nk + t];
                        if x != 0 {
                            for jj in 0..nn {
                                acc[(g * nm + i) * nn + jj] += x * bv[(g * nk + t) * nn + jj];
                            }
                        }
                    }
                }
            }
            acc
        });
        let id = self.c.products.len();
        let acc = self.col(format!("{name} accumulator"), g_vars + m_vars + n_vars, Kind::Prod(id), values);
        self.c.products.push(Product { acc, a, b, g_vars, m_vars, k_vars, n_vars });
        acc
    }
}
