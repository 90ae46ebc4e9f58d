//! The quotient–remainder argument: exact integer division, rounding and clamping.

use super::*;

/// What the quotient argument outputs.
pub(super) enum Quotient {
    /// `clamp(q)` into the given (existing) `bits`-bit column.
    Clamped(ColId, u8),
    /// `q` itself, as a new witness column.
    Free,
}

impl Builder<'_> {
    /// `y = clamp(rshift_round(n · mult[c], shift[c]))`, `c` the index on axis `ch`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn requant(
        &mut self,
        inst: usize,
        shape: &[usize],
        n: Expr,
        ncol: ColId,
        rq: impl Fn(usize) -> (i32, u8),
        ch: usize,
        y: ColId,
        bits: u8,
        n_bound: i128,
    ) -> Result<(), String> {
        let chan = |j: usize| if shape.is_empty() { 0 } else { layout::unravel(j, shape)[ch] };
        let vals = self.c.columns[ncol].values.clone();
        let params = |j: usize| {
            let (m, s) = rq(chan(j));
            (m as i64, if s == 0 { 0 } else { 1i64 << (s - 1) }, 1i64 << s)
        };
        self.divround(inst, shape, n, vals, params, y, bits, n_bound)
    }

    /// `y = clamp(floor((n·A + H) / D))` with public per-element `(A, H, D)`; `n_bound`
    /// bounds `|n|`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn divround(
        &mut self,
        inst: usize,
        shape: &[usize],
        n: Expr,
        nvals: Option<Vec<i64>>,
        params: impl Fn(usize) -> (i64, i64, i64),
        y: ColId,
        bits: u8,
        n_bound: i128,
    ) -> Result<(), String> {
        let count: usize = shape.iter().product();
        let p: Vec<(i64, i64, i64)> = (0..count).map(&params).collect();
        let qb: Vec<i64> =
            p.iter().map(|&(a, h, d)| ((n_bound * (a as i128).abs() + h as i128) / d as i128 + 1) as i64).collect();
        let l_max = p.iter().map(|&(a, h, _)| n_bound * (a as i128).abs() + h as i128).max().unwrap_or(0);
        if l_max >= 1 << 62 || p.iter().any(|t| t.2 <= 0 || t.2 > 1 << 60) {
            return Err("the rescaling is outside the proof's range (|n·A + H| < 2^62, 0 < D ≤ 2^60)".into());
        }
        let a = self.per_element("A", shape, |j| p[j].0);
        let h = self.per_element("H", shape, |j| p[j].1);
        let d = self.per_element("D", shape, |j| p[j].2);
        let num = n.mul(&Expr::col(a)).add(&Expr::col(h));
        let num_vals = nvals.map(|nv| {
            let (av, hv) = (self.vals(a), self.vals(h));
            (0..nv.len()).map(|i| nv[i] * av[i] + hv[i]).collect()
        });
        let den_vals = self.prover.then(|| self.vals(d).clone());
        let den_max = p.iter().map(|t| t.2).collect();
        self.quotient(inst, shape, num, num_vals, Expr::col(d), den_vals, qb, den_max, l_max, Quotient::Clamped(y, bits))?;
        Ok(())
    }

    /// The quotient–remainder argument `q = floor(num / den)` for `0 < den ≤ d_max ≤ 2^60`
    /// and `|num| < 2^62`, with `|q| ≤ qb` per element (public).
    ///
    /// Witnesses: the remainder `R` and `RC = den − 1 − R`, both range-checked, so
    /// `0 ≤ R < den`; `q` shown to lie in `[−Q, Q]` by range-checking `QP = q + Q` and
    /// `QM = Q − q`. Constraints: `num − R − q·den = 0`, `R + RC − den + valid = 0`,
    /// `q + Q − QP = 0`, `QP + QM − 2Q = 0`. The bound on `q` keeps `|q·den| ≲ 2^62`, so
    /// every integer term stays below p/2 and the field identities are integer identities.
    ///
    /// `Clamped(y, bits)`: the output is `y = clamp(q)`, with `q = y + d` for the clamp
    /// excess `d` and `E = |d|` range-checked: `d·(y − qmin)·(y − qmax) = 0`,
    /// `E·Δ − d·(2y − qmin − qmax) = 0` (`Δ = qmax − qmin`) and `y − qmin ∈ [0, 2^bits)`.
    /// So `d = 0` unless `y` is at a bound, `d ≥ 0` at `qmax` and `d ≤ 0` at `qmin`: exactly
    /// the clamp of the quotient. `Free`: `q` is a new witness column, returned.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn quotient(
        &mut self,
        inst: usize,
        shape: &[usize],
        num: Expr,
        num_vals: Option<Vec<i64>>,
        den: Expr,
        den_vals: Option<Vec<i64>>,
        qb: Vec<i64>,
        den_max: Vec<i64>,
        num_max: i128,
        out: Quotient,
    ) -> Result<Expr, String> {
        // The bounds that make every field identity below an integer identity.
        let d_max = den_max.iter().copied().max().unwrap_or(1);
        let qd_max = qb.iter().zip(&den_max).map(|(&q, &d)| q as i128 * d as i128).max().unwrap_or(0);
        if num_max >= 1 << 62 || d_max > 1 << 60 || qd_max > (1 << 62) + (1 << 61) {
            return Err(
                "a division is outside the proof's range (|numerator| < 2^62, divisor ≤ 2^60, |quotient·divisor| ≲ 2^62)".into(),
            );
        }
        let vars = layout::vars(shape);
        let qcol = self.per_element("Q", shape, |j| qb[j]);
        let v = self.per_element("valid", shape, |_| 1);
        let q_max = qb.iter().copied().max().unwrap_or(1) as i128;
        let r_bits = bits_for(d_max as i128 - 1);
        let qr_bits = bits_for(2 * q_max);
        // Every limb sum must stay below 2^62 (`limbs`): then `QP + QM = 2Q` cannot wrap
        // for any element, however small its own `Q`.
        if qr_bits as usize > LIMB_CAP || bits_for(q_max + (1 << 16)) as usize > LIMB_CAP {
            return Err("a quotient bound is outside the proof's range (|quotient| < 2^61)".into());
        }
        let name = self.c.instances[inst].name.clone();
        // Witness values: R, RC, Q + q, Q − q, q.
        type Wit = [Vec<i64>; 5];
        let mut wit: Option<Wit> = None;
        if self.prover {
            let (nv, dv) = (num_vals.as_ref().expect("numerator"), den_vals.as_ref().expect("denominator"));
            let (qv, valid) = (self.vals(qcol), self.vals(v));
            let len = 1 << vars;
            let mut w: Wit = std::array::from_fn(|_| vec![0; len]);
            for i in 0..len {
                if valid[i] == 0 {
                    continue;
                }
                if dv[i] <= 0 {
                    return Err(format!("division by {} at padded element {i}", dv[i]));
                }
                let q = nv[i].div_euclid(dv[i]);
                let r = nv[i] - q * dv[i];
                (w[0][i], w[1][i], w[2][i], w[3][i], w[4][i]) = (r, dv[i] - 1 - r, q + qv[i], qv[i] - q, q);
            }
            wit = Some(w);
        }
        let w = wit.as_ref();
        let (r, r_cols) = self.limbs(inst, &format!("{name} remainder"), vars, r_bits, w.map(|w| w[0].as_slice()), false);
        let (rc, rc_cols) =
            self.limbs(inst, &format!("{name} remainder complement"), vars, r_bits, w.map(|w| w[1].as_slice()), false);
        let (qp, qp_cols) = self.limbs(inst, &format!("{name} Q + quotient"), vars, qr_bits, w.map(|w| w[2].as_slice()), false);
        let (qm, qm_cols) = self.limbs(inst, &format!("{name} Q − quotient"), vars, qr_bits, w.map(|w| w[3].as_slice()), false);
        let qc = Expr::col(qcol);
        let (mut clamp, mut free) = (None, None);
        let q = match out {
            Quotient::Free => {
                let c = self.witness(format!("{name} quotient"), vars, || w.unwrap()[4].clone());
                free = Some(c);
                Expr::col(c)
            }
            Quotient::Clamped(y, bits) => {
                let (qmin, qmax) = qrange(bits);
                let excess = w.map(|w| {
                    let yv = self.vals(y);
                    w[4].iter().zip(yv).map(|(&q, &y)| q - y).collect::<Vec<i64>>()
                });
                if let (Some(w), Some(ex)) = (w, &excess) {
                    let yv = self.vals(y);
                    let valid = self.vals(v);
                    if let Some(i) = (0..ex.len()).find(|&i| valid[i] == 1 && w[4][i].clamp(qmin, qmax) != yv[i]) {
                        return Err(format!(
                            "the trace disagrees with the op at padded element {i}: {} vs {}",
                            yv[i],
                            w[4][i].clamp(qmin, qmax)
                        ));
                    }
                }
                let dcol = self.witness(format!("{name} clamp excess"), vars, || excess.clone().unwrap());
                let abs = excess.as_ref().map(|e| e.iter().map(|x| x.abs()).collect::<Vec<_>>());
                let (e, e_cols) = self.limbs(
                    inst,
                    &format!("{name} |clamp excess|"),
                    vars,
                    bits_for(q_max + (1 << bits)),
                    abs.as_deref(),
                    false,
                );
                clamp = Some((y, dcol, e_cols));
                let (yc, dc) = (Expr::col(y), Expr::col(dcol));
                self.constrain(inst, dc.mul(&yc.sub(&Expr::constant(qmin))).mul(&yc.sub(&Expr::constant(qmax))));
                self.constrain(inst, e.scale_i(qmax - qmin).sub(&dc.mul(&yc.scale_i(2).sub(&Expr::constant(qmin + qmax)))));
                if bits as usize > self.range_bits {
                    return Err(format!("{bits}-bit outputs have no range argument"));
                }
                self.range_check(inst, yc.sub(&Expr::col(v).scale_i(qmin)), bits as usize);
                yc.add(&dc)
            }
        };
        self.constrain(inst, num.sub(&r).sub(&q.mul(&den)));
        self.constrain(inst, r.add(&rc).sub(&den).add(&Expr::col(v)));
        self.constrain(inst, q.add(&qc).sub(&qp));
        self.constrain(inst, qp.add(&qm).sub(&qc.scale_i(2)));
        self.c.quotients.push(QuotientArg {
            instance: inst,
            num,
            den,
            q: q.clone(),
            bound: qcol,
            remainder: r_cols,
            complement: rc_cols,
            plus: qp_cols,
            minus: qm_cols,
            clamp,
            free,
        });
        Ok(q)
    }
}
