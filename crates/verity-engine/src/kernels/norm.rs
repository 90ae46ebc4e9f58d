//! Reductions and normalizations: Reduce (sum/mean over axes), Softmax (table lookup of
//! `max - x`) and LayerNorm (exact i128 variance, integer square root).

use super::quant::{div_clamp, div_fits_i64, div_round64};
use super::strided::{strides, Walk};
use super::{Need, Scratch};
use verity_model::arith::{isqrt, qrange, rshift_round};
use verity_model::shape::numel;
use verity_model::{ModelError, ValueInfo};

pub struct ReducePlan {
    /// Walk over the input with (input, output) offsets; reduced axes have output stride 0.
    walk: Walk<2>,
    out_len: usize,
    mult: i64,
    /// `count << shift`, count = summed elements for a mean, 1 for a sum.
    div: i64,
    wide: bool,
    lo: i64,
    hi: i64,
}

impl ReducePlan {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        x: &ValueInfo,
        out: &ValueInfo,
        axes: &[usize],
        mean: bool,
        mult: i32,
        shift: u8,
    ) -> Result<ReducePlan, ModelError> {
        let kept: Vec<usize> = x.shape.iter().enumerate().map(|(d, &n)| if axes.contains(&d) { 1 } else { n }).collect();
        let (xs, ks) = (strides(&x.shape), strides(&kept));
        let st: Vec<[isize; 2]> = (0..x.shape.len()).map(|d| [xs[d], if axes.contains(&d) { 0 } else { ks[d] }]).collect();
        let summed: i128 = axes.iter().map(|&a| x.shape[a] as i128).product();
        let count = if mean { summed } else { 1 };
        let (lo, hi) = qrange(out.bits);
        Ok(ReducePlan {
            walk: Walk::new(&x.shape, &st)?,
            out_len: numel(&kept),
            mult: mult as i64,
            div: (count << shift) as i64,
            wide: !div_fits_i64(summed * (1i128 << (x.bits - 1)) * (mult as i128).abs(), count << shift),
            lo,
            hi,
        })
    }

    pub fn scratch(&self) -> Need {
        Need { sums: self.out_len, ..Default::default() }
    }

    pub fn run(&self, x: &[i32], out: &mut [i32], s: &mut Scratch) {
        let sums = &mut s.sums[..self.out_len];
        sums.fill(0);
        let (len, [dx, ds]) = (self.walk.len, self.walk.step);
        self.walk.for_each_run([0, 0], |[ix, is]| {
            if ds == 0 {
                sums[is as usize] += x[ix as usize..ix as usize + len].iter().map(|&v| v as i64).sum::<i64>();
            } else {
                for t in 0..len as isize {
                    sums[(is + t * ds) as usize] += x[(ix + t * dx) as usize] as i64;
                }
            }
        });
        for (o, &sum) in out.iter_mut().zip(sums.iter()) {
            *o = div_clamp(sum * self.mult, self.div, self.wide, self.lo, self.hi);
        }
    }
}

pub struct SoftmaxPlan {
    outer: usize,
    len: usize,
    /// Distance between lane elements (elements after the axis).
    inner: usize,
    table: Vec<i32>,
    qmax: i64,
}

impl SoftmaxPlan {
    pub fn new(x: &ValueInfo, out: &ValueInfo, axis: usize, table: &[i32]) -> SoftmaxPlan {
        SoftmaxPlan {
            outer: numel(&x.shape[..axis]),
            len: x.shape[axis],
            inner: numel(&x.shape[axis + 1..]),
            table: table.to_vec(),
            qmax: qrange(out.bits).1,
        }
    }

    pub fn run(&self, x: &[i32], out: &mut [i32]) {
        let (len, inner, table, qmax) = (self.len, self.inner, &self.table, self.qmax);
        for o in 0..self.outer {
            for i in 0..inner {
                let base = o * len * inner + i;
                let lane = (0..len).map(|t| base + t * inner);
                let max = lane.clone().map(|j| x[j]).max().unwrap_or(0);
                // e <= 2^24 and sum <= 2^50, so `e * qmax` and the rounding fit i64.
                let sum: i64 = lane.clone().map(|j| table[(max - x[j]) as usize] as i64).sum();
                for j in lane {
                    let e = table[(max - x[j]) as usize] as i64;
                    out[j] = div_round64(e * qmax, sum).clamp(0, qmax) as i32;
                }
            }
        }
    }
}

pub struct LayerNormPlan {
    n: usize,
    eps: i128,
    frac_bits: u8,
    gamma: Vec<i64>,
    beta: Vec<i64>,
    shift: u8,
    lo: i64,
    hi: i64,
}

impl LayerNormPlan {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        x: &ValueInfo,
        out: &ValueInfo,
        axis: usize,
        eps: i64,
        frac_bits: u8,
        gamma: &[i64],
        beta: &[i64],
        shift: u8,
    ) -> Self {
        let (lo, hi) = qrange(out.bits);
        LayerNormPlan {
            n: numel(&x.shape[axis..]),
            eps: eps as i128,
            frac_bits,
            gamma: gamma.to_vec(),
            beta: beta.to_vec(),
            shift,
            lo,
            hi,
        }
    }

    pub fn run(&self, x: &[i32], out: &mut [i32]) {
        let n = self.n as i64;
        for (row, dst) in x.chunks_exact(self.n).zip(out.chunks_exact_mut(self.n)) {
            // |v| <= 2^15 and n <= 2^26: the sum and every `n*v - sum` fit i64 (< 2^42).
            let sum: i64 = row.iter().map(|&v| v as i64).sum();
            let ss: i128 = row.iter().map(|&v| n * v as i64 - sum).map(|d| d as i128 * d as i128).sum();
            let den = isqrt(((ss + self.eps) / n as i128) as u128) as i64;
            for (i, (y, &v)) in dst.iter_mut().zip(row).enumerate() {
                // |d << frac_bits| <= 2^58 and den <= 2^42: div_round fits i64.
                let zq = if den == 0 { 0 } else { div_round64((n * v as i64 - sum) << self.frac_bits, den) };
                // The reference forms this in i128 and truncates to i64; do the same.
                let t = (zq as i128 * self.gamma[i] as i128 + self.beta[i] as i128) as i64;
                *y = rshift_round(t, self.shift).clamp(self.lo, self.hi) as i32;
            }
        }
    }
}
