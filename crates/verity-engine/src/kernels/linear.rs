//! Linear (activation x prepacked weights) and MatMul (activation x activation): both
//! pack their operands into zero-padded i16 rows and run [`dot_row`] per output row.

use super::dot::{block_len, dot_row, max_abs, pack_rows, padded};
use super::quant::Rq;
use super::{Need, Scratch};
use crate::par::{col_tile, Par};
use verity_model::shape::{broadcast_strides, numel};
use verity_model::{Requant, ValueInfo};

pub struct LinearPlan {
    rows: usize,
    k: usize,
    kp: usize,
    n: usize,
    /// `[n][kp]` i16, row j = weights of output j.
    weight: Vec<i16>,
    /// Per output channel, requantization with the bias folded in.
    rq: Vec<Rq>,
    block: usize,
}

impl LinearPlan {
    pub fn new(x: &ValueInfo, weight: &[i8], bias: &[i32], rq: &Requant, out_bits: u8) -> LinearPlan {
        let k = *x.shape.last().expect("validated: Linear input has rank >= 1");
        let (n, kp) = (bias.len(), padded(k));
        let mut packed = vec![0i16; n * kp];
        for (dst, src) in packed.chunks_exact_mut(kp).zip(weight.chunks_exact(k)) {
            for (d, &w) in dst.iter_mut().zip(src) {
                *d = w as i16;
            }
        }
        let max_w = weight.iter().map(|&w| (w as i64).abs()).max().unwrap_or(0);
        LinearPlan {
            rows: numel(&x.shape) / k,
            k,
            kp,
            n,
            weight: packed,
            rq: Rq::per_channel(rq, n, out_bits).into_iter().zip(bias).map(|(r, &b)| r.with_bias(b)).collect(),
            // Bound from the input's bit width, so the block is fixed at plan time.
            block: block_len((1i64 << (x.bits - 1)) * max_w, kp),
        }
    }

    pub fn scratch(&self) -> Need {
        Need { a: self.rows * self.kp, ..Default::default() }
    }

    pub fn run(&self, x: &[i32], out: &mut [i32], s: &mut Scratch, par: Par) {
        let (kp, block) = (self.kp, self.block);
        pack_rows(x, self.rows, self.k, kp, &mut s.a);
        let a = &s.a[..self.rows * kp];
        par.for_rows(out, self.n, col_tile(kp), self.rows * self.n * kp, |r, j0, chunk| {
            dot_row(&a[r * kp..(r + 1) * kp], &self.weight, kp, block, j0, chunk, |j, sums, out| {
                for ((o, &s), rq) in out.iter_mut().zip(sums).zip(&self.rq[j..]) {
                    *o = rq.apply(s);
                }
            })
        });
    }
}

pub struct MatMulPlan {
    m: usize,
    k: usize,
    n: usize,
    kp: usize,
    a_mats: usize,
    b_mats: usize,
    /// For every output matrix, the A and B matrices it multiplies (batch broadcast).
    pairs: Vec<(usize, usize)>,
    rq: Rq,
}

impl MatMulPlan {
    pub fn new(a: &ValueInfo, b: &ValueInfo, out: &ValueInfo, rq: &Requant) -> MatMulPlan {
        let (ra, rb, r) = (a.shape.len(), b.shape.len(), out.shape.len());
        let (m, k, n) = (a.shape[ra - 2], a.shape[ra - 1], b.shape[rb - 1]);
        let batch = &out.shape[..r - 2];
        let sa = broadcast_strides(&a.shape[..ra - 2], batch);
        let sb = broadcast_strides(&b.shape[..rb - 2], batch);
        let mut pairs = Vec::with_capacity(numel(batch));
        let mut idx = vec![0usize; batch.len()];
        for _ in 0..numel(batch) {
            let dot = |s: &[usize]| idx.iter().zip(s).map(|(i, s)| i * s).sum::<usize>();
            pairs.push((dot(&sa), dot(&sb)));
            for d in (0..batch.len()).rev() {
                idx[d] += 1;
                if idx[d] < batch[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        MatMulPlan {
            m,
            k,
            n,
            kp: padded(k),
            a_mats: numel(&a.shape[..ra - 2]),
            b_mats: numel(&b.shape[..rb - 2]),
            pairs,
            rq: Rq::new(rq.mult[0], rq.shift[0], out.bits),
        }
    }

    pub fn scratch(&self) -> Need {
        Need { a: self.a_mats * self.m * self.kp, b: self.b_mats * self.n * self.kp, ..Default::default() }
    }

    pub fn run(&self, a: &[i32], b: &[i32], out: &mut [i32], s: &mut Scratch, par: Par) {
        let (m, k, n, kp) = (self.m, self.k, self.n, self.kp);
        pack_rows(a, self.a_mats * m, k, kp, &mut s.a);
        // B is packed transposed, [mat][n][kp], so every output is a dot of two rows.
        let packed_b = &mut s.b[..self.b_mats * n * kp];
        if kp > k {
            packed_b.fill(0);
        }
        for (src, dst) in b.chunks_exact(k * n).zip(packed_b.chunks_exact_mut(n * kp)) {
            for (t, src_row) in src.chunks_exact(n).enumerate() {
                for (j, &v) in src_row.iter().enumerate() {
                    dst[j * kp + t] = v as i16;
                }
            }
        }
        let (max_a, max_b) = (max_abs(a), max_abs(b));
        // Both operands are activations: bound the block by the values actually present.
        let block = block_len(max_a * max_b, kp);
        let (pa, pb) = (&s.a[..self.a_mats * m * kp], &s.b[..self.b_mats * n * kp]);
        let rq = self.rq;
        par.for_rows(out, n, col_tile(kp), self.pairs.len() * m * n * kp, |r, j0, chunk| {
            let (am, bm) = self.pairs[r / m];
            let row = (am * m + r % m) * kp;
            dot_row(&pa[row..row + kp], &pb[bm * n * kp..(bm + 1) * n * kp], kp, block, j0, chunk, |_, sums, out| {
                for (o, &s) in out.iter_mut().zip(sums) {
                    *o = rq.apply(s);
                }
            })
        });
    }
}
