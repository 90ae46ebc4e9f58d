//! Arguments for choices: the sign of an integer (Compare, Where) and the extreme element
//! of a lane (Softmax's max, ArgMax/ArgMin).

use super::*;

impl Builder<'_> {
    /// Booleans `g = [d > 0]` and `l = [d < 0]` for an integer expression `d` with
    /// `|d| < 2^bits`: `g`, `l` boolean, `(1 − g − l)·d = 0` (neither: `d = 0`, so not
    /// both), and `g·(d − 1) + l·(−d − 1) ≥ 0` by limbs (`g`: `d ≥ 1`; `l`: `d ≤ −1`).
    /// `d` must be an integer combination of range-bounded columns, so that a negative
    /// left side is a field element far above every limb sum.
    pub(super) fn sign_split(
        &mut self,
        inst: usize,
        name: &str,
        vars: usize,
        d: Expr,
        d_vals: Option<Vec<i64>>,
        bits: u32,
    ) -> (Expr, Expr) {
        let pick = |f: fn(i64) -> bool| d_vals.as_ref().map(|v| v.iter().map(|&x| f(x) as i64).collect::<Vec<_>>());
        let (gv, lv) = (pick(|x| x > 0), pick(|x| x < 0));
        let g = Expr::col(self.witness(format!("{name} d > 0"), vars, || gv.unwrap()));
        let l = Expr::col(self.witness(format!("{name} d < 0"), vars, || lv.unwrap()));
        for b in [&g, &l] {
            self.constrain(inst, b.sub(&b.mul(b)));
        }
        let one = Expr::constant(1);
        self.constrain(inst, one.sub(&g).sub(&l).mul(&d));
        let gap = g.mul(&d.sub(&one)).sub(&l.mul(&d.add(&one)));
        let gap_vals = d_vals.as_ref().map(|v| v.iter().map(|&x| x.abs().saturating_sub(1).max(0)).collect::<Vec<_>>());
        let (sum, _) = self.limbs(inst, &format!("{name} |d| − 1"), vars, bits, gap_vals.as_deref(), false);
        self.constrain(inst, gap.sub(&sum));
        (g, l)
    }

    /// Selects one element of every lane of value `src` (over its shape; `lane_of(j)`
    /// lists the row-major lane of element `j`, in axis order, `pos_of(j)` is `j`'s place
    /// in it) and shows it is the lane's largest (`min`: smallest): a boolean selector `s`
    /// with one 1 per lane (`Σ_lane s = 1`), the selected value `m = Σ_lane s·x`, and at
    /// every element `m − x − t ≥ 0` (`x − m − t` for `min`), where the tie term `t`, for
    /// `first` or `last`, is 1 where the selected element comes later (earlier) in the
    /// lane, making the choice the first (last) extreme; without either, any extreme.
    /// Returns the instance over the input, `s` and `m` (columns over the input).
    pub(super) fn lane_extreme(
        &mut self,
        name: &str,
        src: u32,
        lane_of: &dyn Fn(usize) -> Vec<usize>,
        pos_of: &dyn Fn(usize) -> usize,
        min: bool,
        tie: Option<bool>,
    ) -> Result<(usize, ColId, ColId), String> {
        let shape = self.model.value(src).shape.clone();
        let (vars, n) = (layout::vars(&shape), shape.iter().product::<usize>());
        let inst = self.instance(&format!("{name} lane extreme"), vars);
        let key = |v: i32| if min { -(v as i64) } else { v as i64 };
        let sel = if self.prover {
            let x = &self.tensor(src)?.data;
            let chosen = |j: usize| {
                let lane = lane_of(j);
                let mut best = 0;
                for t in 1..lane.len() {
                    let (v, b) = (key(x[lane[t]]), key(x[lane[best]]));
                    if v > b || (tie == Some(true) && v == b) {
                        best = t;
                    }
                }
                best
            };
            Some(pad_values(&shape, (0..n).map(|j| (chosen(j) == pos_of(j)) as i64)))
        } else {
            None
        };
        let s = self.witness(format!("{name} selector"), vars, || sel.unwrap());
        let x = self.value_col(src);
        let (se, xe) = (Expr::col(s), Expr::col(x));
        self.constrain(inst, se.sub(&se.mul(&se)));
        let pv = self.prover.then(|| self.combine(&[s, x], |v| v[0] * v[1]));
        let p = self.witness(format!("{name} selected"), vars, || pv.unwrap());
        self.constrain(inst, Expr::col(p).sub(&se.mul(&xe)));
        let count = self.virtual_sum(&format!("{name} selector count"), s, &shape, lane_of);
        let valid = self.per_element(&format!("{name} valid"), &shape, |_| 1);
        self.constrain(inst, Expr::col(count).sub(&Expr::col(valid)));
        let m = self.virtual_sum(&format!("{name} extreme"), p, &shape, lane_of);
        let mut gap = if min { xe.sub(&Expr::col(m)) } else { Expr::col(m).sub(&xe) };
        if let Some(last) = tie {
            let others = |j: usize| {
                let (lane, at) = (lane_of(j), pos_of(j));
                lane.into_iter().enumerate().filter(|&(t, _)| if last { t < at } else { t > at }).map(|(_, u)| u).collect()
            };
            let t = self.virtual_sum(&format!("{name} selected beyond"), s, &shape, others);
            gap = gap.sub(&Expr::col(t));
        }
        self.range_check(inst, gap, self.range_bits);
        Ok((inst, s, m))
    }
}
