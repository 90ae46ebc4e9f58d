//! Linear (activation x prepacked weights) and MatMul (activation x activation). When
//! every sum provably fits in i32 they run on the pair GEMM of [`super::simd`];
//! otherwise both pack their operands into zero-padded i16 rows and run [`dot_row`]
//! per output row, summing i32 blocks in i64.

use super::dot::{block_len, dot_row, max_abs, pack_rows, padded};
use super::quant::{Epi, Lanes, Rq};
use super::simd::{pack, Bcast, Epilogue, Gemm, OCB, POS_BLOCK};
use super::{Need, Scratch};
use crate::par::{col_tile, Par};
use verity_model::shape::{broadcast_strides, numel};
use verity_model::{Requant, ValueInfo};

pub struct LinearPlan {
    rows: usize,
    k: usize,
    kp: usize,
    n: usize,
    /// `[n][kp]` i16, row j = weights of output j (the i64-blocked dot path).
    weight: Vec<i16>,
    /// Per output channel, requantization with the bias folded in (and with a fused
    /// Clamp, if any).
    rq: Vec<Rq>,
    rq_clamped: Vec<Rq>,
    block: usize,
    /// The pair GEMM, when every sum fits in i32 (8-bit inputs, or few 16-bit ones).
    pairs: Option<PairLinear>,
}

/// A Linear as [`Gemm`] calls: weights as the `x2` operand, so output channels run
/// along the vector lanes; input rows broadcast; per-column requantization. Weights
/// are stored block by block, `[n / POS_BLOCK][k / 2][POS_BLOCK]` pairs: one call
/// streams one contiguous slab (a row-major `[k / 2][n]` layout would read it with a
/// large, often power-of-two stride, which thrashes the L1 sets).
struct PairLinear {
    kk: usize,
    /// `n` rounded up to whole column blocks.
    pr: usize,
    w2: Vec<i32>,
    lanes: Lanes,
    lanes_clamped: Option<Lanes>,
}

/// Columns per tile of the pair GEMM (a MatMul's tiles, a split Linear's tasks): a
/// tile of `x2` pairs stays in L1 across row blocks (a multiple of [`POS_BLOCK`]).
fn pair_col_tile(kk: usize) -> usize {
    ((8 * 1024) / kk.max(1)).max(POS_BLOCK) / POS_BLOCK * POS_BLOCK
}

/// `rows` rows of `k` values as rows of `kk = ceil(k / 2)` i16 pairs (odd tail paired
/// with 0). Values are 8- or 16-bit, so the casts are exact.
fn pack_pairs(src: &[i32], rows: usize, k: usize, kk: usize, dst: &mut [i32]) {
    for r in 0..rows {
        let (s, d) = (&src[r * k..(r + 1) * k], &mut dst[r * kk..(r + 1) * kk]);
        let mut pairs = s.chunks_exact(2);
        for (d, p) in d.iter_mut().zip(&mut pairs) {
            // `pack` written so that the loop vectorizes (the same bits: the shift
            // keeps the low 16 bits of the high value).
            *d = (p[0] & 0xffff) | (p[1] << 16);
        }
        if let [last] = pairs.remainder() {
            d[kk - 1] = pack(*last as i16, 0);
        }
    }
}

impl LinearPlan {
    pub fn new(x: &ValueInfo, weight: &[i8], bias: &[i32], rq: &Requant, out_bits: u8) -> LinearPlan {
        let k = *x.shape.last().expect("validated: Linear input has rank >= 1");
        let (n, kp) = (bias.len(), padded(k));
        let max_w = weight.iter().map(|&w| (w as i64).abs()).max().unwrap_or(0);
        let rq: Vec<Rq> = Rq::per_channel(rq, n, out_bits).into_iter().zip(bias).map(|(r, &b)| r.with_bias(b)).collect();
        let fits_i32 = k as i64 * (1i64 << (x.bits - 1)) * max_w <= i32::MAX as i64;
        let pairs = (fits_i32 && k > 0).then(|| {
            let (kk, pr) = (k.div_ceil(2), n.next_multiple_of(POS_BLOCK));
            let mut w2 = vec![0i32; kk * pr];
            for (j, row) in weight.chunks_exact(k).enumerate() {
                let slab = j / POS_BLOCK * kk * POS_BLOCK;
                for (t, p) in row.chunks(2).enumerate() {
                    w2[slab + t * POS_BLOCK + j % POS_BLOCK] = pack(p[0] as i16, p.get(1).map_or(0, |&w| w as i16));
                }
            }
            PairLinear { kk, pr, w2, lanes: Lanes::new(&rq, pr), lanes_clamped: None }
        });
        let mut packed = Vec::new();
        if pairs.is_none() {
            packed = vec![0i16; n * kp];
            for (dst, src) in packed.chunks_exact_mut(kp).zip(weight.chunks_exact(k)) {
                for (d, &w) in dst.iter_mut().zip(src) {
                    *d = w as i16;
                }
            }
        }
        LinearPlan {
            rows: numel(&x.shape) / k,
            k,
            kp,
            n,
            weight: packed,
            rq,
            rq_clamped: Vec::new(),
            // Bound from the input's bit width, so the block is fixed at plan time.
            block: block_len((1i64 << (x.bits - 1)) * max_w, kp),
            pairs,
        }
    }

    pub fn scratch(&self) -> Need {
        match &self.pairs {
            Some(p) => Need { pairs: self.rows * p.kk, ..Default::default() },
            None => Need { a: self.rows * self.kp, ..Default::default() },
        }
    }

    /// Prepares [`run`](Self::run) with `clamped` for a Clamp to `[lo, hi]` fused into
    /// the requantization.
    pub fn fuse_clamp(&mut self, lo: i32, hi: i32) {
        self.rq_clamped = self.rq.iter().map(|r| r.clamped(lo, hi)).collect();
        if let Some(p) = &mut self.pairs {
            p.lanes_clamped = Some(Lanes::new(&self.rq_clamped, p.pr));
        }
    }

    pub fn run(&self, x: &[i32], out: &mut [i32], s: &mut Scratch, par: Par, clamped: bool) {
        if let Some(p) = &self.pairs {
            return self.run_pairs(p, x, out, s, par, clamped);
        }
        let (kp, block) = (self.kp, self.block);
        let rqs = if clamped { &self.rq_clamped } else { &self.rq };
        pack_rows(x, self.rows, self.k, kp, &mut s.a);
        let a = &s.a[..self.rows * kp];
        par.for_rows(out, self.n, col_tile(kp), self.rows * self.n * kp, |r, j0, chunk| {
            dot_row(&a[r * kp..(r + 1) * kp], &self.weight, kp, block, j0, chunk, |j, sums, out| {
                for ((o, &s), rq) in out.iter_mut().zip(sums).zip(&rqs[j..]) {
                    *o = rq.apply(s);
                }
            })
        });
    }

    fn run_pairs(&self, p: &PairLinear, x: &[i32], out: &mut [i32], s: &mut Scratch, par: Par, clamped: bool) {
        let (rows, n, kk) = (self.rows, self.n, p.kk);
        let lanes = if clamped { p.lanes_clamped.as_ref().expect("fused clamp prepared") } else { &p.lanes };
        let xp = &mut s.pairs[..rows * kk];
        pack_pairs(x, rows, self.k, kk, xp);
        let xp = &*xp;
        // Rows `r0 ..` (at most OCB) by columns `c0 .. c0 + cols` (`c0` a multiple of
        // POS_BLOCK), into `out` (rows `n` apart). The weights are slabs of POS_BLOCK.
        let gemm = |r0: usize, nr: usize, c0: usize, cols: usize, out: &mut [i32]| {
            let x2 = &p.w2[c0 * kk..];
            let bcast = Bcast { data: &xp[r0 * kk..], k_stride: 1, j_stride: kk, repeated: false };
            let epi = Epilogue::Columns(lanes, c0);
            let g = Gemm { x2, pr: POS_BLOCK, block_stride: kk * POS_BLOCK, kk, bcast, epi, rows: nr, cols };
            g.run(par.isa, out, n);
        };
        if par.inline(rows * n * self.k) {
            for r0 in (0..rows).step_by(OCB) {
                gemm(r0, OCB.min(rows - r0), 0, n, &mut out[r0 * n..]);
            }
            return;
        }
        par.for_rows(out, n, pair_col_tile(kk), rows * n * self.k, |r, c0, chunk| gemm(r, 1, c0, chunk.len(), chunk));
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
    /// Whether the operands' bit widths alone keep every sum within i32 (8-bit ones
    /// do); otherwise `run` bounds the sums by the values present.
    fits_i32: bool,
    /// For the pair GEMM: `k / 2` rounded up, `n` rounded up to whole column blocks,
    /// and the requantization once per micro-kernel row.
    kk: usize,
    nr: usize,
    epi: [Epi; OCB],
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
            fits_i32: k as i64 * (1i64 << (a.bits - 1)) * (1i64 << (b.bits - 1)) <= i32::MAX as i64,
            kk: k.div_ceil(2),
            nr: n.next_multiple_of(POS_BLOCK),
            epi: [Epi::new(Rq::new(rq.mult[0], rq.shift[0], out.bits)); OCB],
        }
    }

    pub fn scratch(&self) -> Need {
        // Which path runs depends on the values (see `run`): room for both.
        Need {
            a: self.a_mats * self.m * self.kp,
            b: self.b_mats * self.n * self.kp,
            pairs: self.a_mats * self.m * self.kk,
            x2: self.b_mats * self.kk * self.nr,
            ..Default::default()
        }
    }

    pub fn run(&self, a: &[i32], b: &[i32], out: &mut [i32], s: &mut Scratch, par: Par) {
        if self.k > 0 && self.fits_i32 {
            return self.run_pairs(a, b, out, s, par);
        }
        let (max_a, max_b) = (max_abs(a), max_abs(b));
        // Both operands are activations: bound the sums by the values actually present.
        if self.k > 0 && self.k as i64 * max_a * max_b <= i32::MAX as i64 {
            return self.run_pairs(a, b, out, s, par);
        }
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

    /// [`Gemm`] calls: B as row pairs `[k / 2][n]` (columns along the lanes), A's rows
    /// broadcast, one requantization.
    fn run_pairs(&self, a: &[i32], b: &[i32], out: &mut [i32], s: &mut Scratch, par: Par) {
        let (m, k, n, kk, nr) = (self.m, self.k, self.n, self.kk, self.nr);
        let ap = &mut s.pairs[..self.a_mats * m * kk];
        pack_pairs(a, self.a_mats * m, k, kk, ap);
        let bx = &mut s.x2[..self.b_mats * kk * nr];
        for (src, dst) in b.chunks_exact(k * n).zip(bx.chunks_exact_mut(kk * nr)) {
            for t in 0..kk {
                let (d, lo) = (&mut dst[t * nr..(t + 1) * nr], &src[2 * t * n..(2 * t + 1) * n]);
                if 2 * t + 1 < k {
                    for ((d, &l), &h) in d.iter_mut().zip(lo).zip(&src[(2 * t + 1) * n..(2 * t + 2) * n]) {
                        *d = pack(l as i16, h as i16);
                    }
                } else {
                    for (d, &l) in d.iter_mut().zip(lo) {
                        *d = pack(l as i16, 0);
                    }
                }
                if nr > n {
                    d[n..].fill(0);
                }
            }
        }
        let (ap, bx) = (&*ap, &*bx);
        // Output matrix `o`, rows `r0 ..` (at most OCB), columns `c0 .. c0 + cols`.
        let gemm = |o: usize, r0: usize, rows: usize, c0: usize, cols: usize, out: &mut [i32]| {
            let (am, bm) = self.pairs[o];
            let bcast = Bcast { data: &ap[(am * m + r0) * kk..], k_stride: 1, j_stride: kk, repeated: false };
            let x2 = &bx[bm * kk * nr + c0..];
            let g = Gemm { x2, pr: nr, block_stride: POS_BLOCK, kk, bcast, epi: Epilogue::Rows(&self.epi), rows, cols };
            g.run(par.isa, out, n);
        };
        let (tile, work) = (pair_col_tile(kk), self.pairs.len() * m * n * k);
        if par.inline(work) {
            for o in 0..self.pairs.len() {
                for c0 in (0..n).step_by(tile) {
                    for r0 in (0..m).step_by(OCB) {
                        gemm(o, r0, OCB.min(m - r0), c0, tile.min(n - c0), &mut out[(o * m + r0) * n + c0..]);
                    }
                }
            }
            return;
        }
        par.for_rows(out, n, tile, work, |r, c0, chunk| gemm(r / m, r % m, 1, c0, chunk.len(), chunk));
    }
}
