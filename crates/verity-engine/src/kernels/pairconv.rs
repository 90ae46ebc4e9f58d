//! Convolution whose sums fit in i32, as a GEMM over pairs of taps ([`Gemm`]),
//! vectorized along output positions so results land in NCHW order and every vector
//! of a row shares one channel's requantization.
//!
//! Per image (batch, group) a run builds, all from the input:
//! 1. *phase planes*: the zero-padded input channel split by stride phase, so that
//!    every tap of every output reads `plane[offset + oy * wq + ox]` (stride 1 in
//!    phase coordinates, whatever the stride and dilation);
//! 2. *pair planes*: two phase planes interleaved as i16 pairs, the second read
//!    `delta` further on, so one i32 holds the inputs of two taps;
//! 3. `x2`: per pair of taps, the `oh * ow` pairs its outputs read, copied row by row
//!    from a pair plane (padding columns dropped), then zero-filled to whole blocks.
//!
//! Taps are paired across input channels `(2i, 2i + 1)` at the same kernel position
//! (same plane offset, `delta` 0), and an odd last channel's taps with each other.

use std::collections::HashMap;

use super::quant::{Epi, Rq};
use super::simd::{pack, Bcast, Epilogue, Gemm, OCB, POS_BLOCK, W_STRIDE};
use super::{Need, Scratch};
use crate::par::Par;
use verity_model::{Requant, ValueInfo, Window};

/// One phase plane: input channel `ic` (within the group) at one stride phase, given by
/// `rows = [yq0, yq1, y0]` and `cols = [xq0, xq1, x0]`: rows `yq0..yq1` and columns
/// `xq0..xq1` hold input values, from input row `y0` and column `x0` on (every stride
/// apart); everything else is padding (0). Phases with equal ranges hold equal values
/// and share one plane.
struct PhasePlane {
    ic: usize,
    rows: [usize; 3],
    cols: [usize; 3],
}

/// `lo = phase[a][i]`, `hi = phase[b][i + delta]` (0 without `b` or past the plane).
#[derive(PartialEq, Eq, Hash, Clone, Copy)]
struct PairPlane {
    a: usize,
    b: Option<usize>,
    delta: usize,
}

pub struct PairConv {
    batch: usize,
    c_in: usize,
    c_out: usize,
    groups: usize,
    cig: usize,
    cog: usize,
    h: usize,
    w: usize,
    stride: [usize; 2],
    ow: usize,
    /// Output positions per channel, and the same rounded up to [`POS_BLOCK`].
    p: usize,
    pr: usize,
    /// Phase-plane size: `hq` rows of `wq`.
    hq: usize,
    wq: usize,
    /// Pair-plane elements a tap reads, from its offset to the last output's position.
    span: usize,
    phases: Vec<PhasePlane>,
    pairs: Vec<PairPlane>,
    /// Per pair of taps: its pair plane and the offset of output (0, 0) in it.
    taps: Vec<(usize, usize)>,
    /// Output-channel blocks per group.
    blocks: usize,
    /// `[group][block][tap pair][OCB][4]` weight pairs (zero for missing channels).
    weight: Vec<i32>,
    /// Per output channel: requantization (bias folded in), and with a fused Clamp.
    epi: Vec<Epi>,
    epi_clamped: Vec<Epi>,
}

/// Valid range `[q0, q1)` of phase coordinate `q` (position `q * s + ph` of the padded
/// axis, `pad` of padding before `len` values) and the input index at `q0`.
fn phase_range(ph: usize, s: usize, pad: usize, len: usize, q_len: usize) -> [usize; 3] {
    let q0 = pad.saturating_sub(ph).div_ceil(s);
    let q1 = (len + pad).saturating_sub(ph).div_ceil(s).min(q_len);
    if q1 <= q0 {
        return [0, 0, 0];
    }
    [q0, q1, q0 * s + ph - pad]
}

impl PairConv {
    /// The plan, or `None` when a sum of products might not fit in i32 (16-bit
    /// inputs with many taps): the im2col kernel sums those in i64.
    pub fn new(
        x: &ValueInfo,
        out: &ValueInfo,
        weight: &[i8],
        bias: &[i32],
        window: &Window,
        groups: usize,
        rq: &Requant,
    ) -> Option<PairConv> {
        let (c_in, c_out) = (x.shape[1], bias.len());
        let (cig, cog) = (c_in / groups, c_out / groups);
        let [kh, kw] = window.kernel;
        let k = cig * kh * kw;
        let max_w = weight.iter().map(|&w| (w as i64).abs()).max().unwrap_or(0);
        if k as i64 * (1i64 << (x.bits - 1)) * max_w > i32::MAX as i64 {
            return None;
        }
        let (h, w) = (x.shape[2], x.shape[3]);
        let ([sh, sw], [dh, dw], pads) = (window.stride, window.dilation, window.pads);
        let (hq, wq) = ((h + pads[0] + pads[2]).div_ceil(sh), (w + pads[1] + pads[3]).div_ceil(sw));
        let (oh, ow) = (out.shape[2], out.shape[3]);

        // Phase plane and offset of tap (ic, ky, kx). Planes and pair planes are
        // deduplicated through maps, so planning stays linear in the taps.
        let mut phases: Vec<PhasePlane> = Vec::new();
        let mut phase_ids: HashMap<(usize, [usize; 3], [usize; 3]), usize> = HashMap::new();
        let mut phase_of = |ic: usize, ky: usize, kx: usize| -> (usize, usize) {
            let (y, xx) = (ky * dh, kx * dw);
            let rows = phase_range(y % sh, sh, pads[0], h, hq);
            let cols = phase_range(xx % sw, sw, pads[1], w, wq);
            let i = *phase_ids.entry((ic, rows, cols)).or_insert_with(|| {
                phases.push(PhasePlane { ic, rows, cols });
                phases.len() - 1
            });
            (i, (y / sh) * wq + xx / sw)
        };
        // Pairs of taps (ic, ky, kx), as weight indices within a channel's row.
        let mut tap_pairs: Vec<(usize, Option<usize>)> = Vec::new();
        let widx = |ic: usize, ky: usize, kx: usize| (ic * kh + ky) * kw + kx;
        for i in 0..cig / 2 {
            for ky in 0..kh {
                for kx in 0..kw {
                    tap_pairs.push((widx(2 * i, ky, kx), Some(widx(2 * i + 1, ky, kx))));
                }
            }
        }
        if cig % 2 == 1 {
            let last: Vec<usize> = (0..kh * kw).map(|t| widx(cig - 1, t / kw, t % kw)).collect();
            tap_pairs.extend(last.chunks(2).map(|c| (c[0], c.get(1).copied())));
        }
        let decode = |t: usize| (t / (kh * kw), t / kw % kh, t % kw);
        let mut pairs: Vec<PairPlane> = Vec::new();
        let mut pair_ids: HashMap<PairPlane, usize> = HashMap::new();
        let mut taps = Vec::with_capacity(tap_pairs.len());
        for pair in tap_pairs.iter_mut() {
            let (a, b) = *pair;
            let (ic, ky, kx) = decode(a);
            let (pa, oa) = phase_of(ic, ky, kx);
            let (plane, off) = match b {
                None => (PairPlane { a: pa, b: None, delta: 0 }, oa),
                Some(b) => {
                    let (ic, ky, kx) = decode(b);
                    let (pb, ob) = phase_of(ic, ky, kx);
                    if ob >= oa {
                        (PairPlane { a: pa, b: Some(pb), delta: ob - oa }, oa)
                    } else {
                        // The lower offset goes in the low half; the weights follow.
                        *pair = (b, Some(a));
                        (PairPlane { a: pb, b: Some(pa), delta: oa - ob }, ob)
                    }
                }
            };
            let i = *pair_ids.entry(plane).or_insert_with(|| {
                pairs.push(plane);
                pairs.len() - 1
            });
            taps.push((i, off));
        }

        let kk = tap_pairs.len();
        let blocks = cog.div_ceil(OCB);
        let mut packed = vec![0i32; groups * blocks * kk * W_STRIDE];
        for (oc, wrow) in weight.chunks_exact(k).enumerate() {
            let (g, j) = (oc / cog, oc % cog);
            let base = (g * blocks + j / OCB) * kk * W_STRIDE + (j % OCB) * 4;
            for (t, &(a, b)) in tap_pairs.iter().enumerate() {
                let v = pack(wrow[a] as i16, b.map_or(0, |b| wrow[b] as i16));
                packed[base + t * W_STRIDE..][..4].fill(v);
            }
        }
        let epi: Vec<Epi> =
            Rq::per_channel(rq, c_out, out.bits).into_iter().zip(bias).map(|(r, &b)| Epi::new(r.with_bias(b))).collect();
        let p = oh * ow;
        Some(PairConv {
            batch: x.shape[0],
            c_in,
            c_out,
            groups,
            cig,
            cog,
            h,
            w,
            stride: [sh, sw],
            ow,
            p,
            pr: p.next_multiple_of(POS_BLOCK),
            hq,
            wq,
            span: (oh - 1) * wq + ow,
            phases,
            pairs,
            taps,
            blocks,
            weight: packed,
            epi,
            epi_clamped: Vec::new(),
        })
    }

    /// Also prepares the epilogue for a Clamp to `[lo, hi]` fused into this conv.
    pub fn fuse_clamp(&mut self, lo: i32, hi: i32) {
        self.epi_clamped = self.epi.iter().map(|e| Epi::new(e.rq.clamped(lo, hi))).collect();
    }

    fn images(&self) -> usize {
        self.batch * self.groups
    }

    fn plane_len(&self) -> usize {
        self.hq * self.wq
    }

    /// Per image: phase planes (i16), pair planes (i32), `x2` (i32).
    fn sizes(&self) -> [usize; 3] {
        [self.phases.len() * self.plane_len(), self.pairs.len() * self.plane_len(), self.taps.len() * self.pr]
    }

    pub fn scratch(&self) -> Need {
        let [a, pairs, x2] = self.sizes().map(|n| n * self.images());
        Need { a, pairs, x2, ..Default::default() }
    }

    /// Multiply-adds of a run, for the parallel threshold.
    fn work(&self) -> usize {
        self.batch * self.c_out * self.p * 2 * self.taps.len()
    }

    /// The input planes of image `bg` (batch, group).
    fn image<'x>(&self, x: &'x [i32], bg: usize) -> &'x [i32] {
        let (hw, b, g) = (self.h * self.w, bg / self.groups, bg % self.groups);
        let first = (b * self.c_in + g * self.cig) * hw;
        &x[first..first + self.cig * hw]
    }

    /// Step 1 of the module doc: phase plane `k` of `planes` (one image) into `dst`,
    /// which is already zero (the padding is never written).
    #[inline(always)]
    fn phase_plane(&self, planes: &[i32], k: usize, dst: &mut [i16]) {
        let (hw, [sh, sw], pp) = (self.h * self.w, self.stride, &self.phases[k]);
        let src = &planes[pp.ic * hw..(pp.ic + 1) * hw];
        let ([yq0, yq1, y0], [xq0, xq1, x0]) = (pp.rows, pp.cols);
        let n = xq1 - xq0;
        // Index arithmetic rather than `chunks_exact`, whose remainder costs a division.
        for i in 0..yq1 - yq0 {
            let d = &mut dst[(yq0 + i) * self.wq + xq0..][..n];
            let srow = &src[(y0 + i * sh) * self.w + x0..];
            if sw == 1 {
                for (d, &v) in d.iter_mut().zip(&srow[..n]) {
                    *d = v as i16;
                }
            } else {
                for (d, &v) in d.iter_mut().zip(srow.iter().step_by(sw)) {
                    *d = v as i16;
                }
            }
        }
    }

    /// Step 2: pair plane `k` from the image's phase planes.
    #[inline(always)]
    fn pair_plane(&self, phase: &[i16], k: usize, dst: &mut [i32]) {
        let (pl, pp) = (self.plane_len(), &self.pairs[k]);
        let lo = &phase[pp.a * pl..(pp.a + 1) * pl];
        match pp.b {
            None => {
                for (d, &l) in dst.iter_mut().zip(lo) {
                    *d = pack(l, 0);
                }
            }
            Some(bi) => {
                let hi = &phase[bi * pl + pp.delta.min(pl)..(bi + 1) * pl];
                let n = hi.len();
                for ((d, &l), &h) in dst.iter_mut().zip(lo).zip(hi) {
                    *d = pack(l, h);
                }
                for (d, &l) in dst[n..].iter_mut().zip(&lo[n..]) {
                    *d = pack(l, 0);
                }
            }
        }
    }

    /// Step 3: `x2` row `k`, `row[oy * ow + ox] = pair plane[offset_k + oy * wq + ox]`.
    #[inline(always)]
    fn gather_row(&self, pair: &[i32], k: usize, row: &mut [i32]) {
        let (ow, wq, p, pl) = (self.ow, self.wq, self.p, self.plane_len());
        let (pi, off) = self.taps[k];
        let src = &pair[pi * pl + off..][..self.span];
        let (dst, tail) = row.split_at_mut(p);
        match ow {
            4 => rows_fixed::<4>(src, dst, wq),
            8 => rows_fixed::<8>(src, dst, wq),
            _ => {
                for (oy, d) in dst.chunks_exact_mut(ow).enumerate() {
                    d.copy_from_slice(&src[oy * wq..oy * wq + ow]);
                }
            }
        }
        // The columns past `p` only feed outputs that are never stored; zero them so
        // runs are reproducible to the last byte.
        if !tail.is_empty() {
            tail.fill(0);
        }
    }

    /// Steps 1-3 for one image, inline. Kept out of `run` (which has the parallel path
    /// too): as one function of its own it compiled measurably faster.
    #[inline(never)]
    fn build(&self, planes: &[i32], phase: &mut [i16], pair: &mut [i32], x2: &mut [i32]) {
        let (pl, pr) = (self.plane_len(), self.pr);
        // Index arithmetic rather than `chunks_exact`, whose remainders cost divisions.
        phase.fill(0);
        for k in 0..self.phases.len() {
            self.phase_plane(planes, k, &mut phase[k * pl..(k + 1) * pl]);
        }
        for k in 0..self.pairs.len() {
            self.pair_plane(phase, k, &mut pair[k * pl..(k + 1) * pl]);
        }
        for k in 0..self.taps.len() {
            self.gather_row(pair, k, &mut x2[k * pr..(k + 1) * pr]);
        }
    }

    pub fn run(&self, x: &[i32], out: &mut [i32], s: &mut Scratch, par: Par, clamped: bool) {
        let [n_phase, n_pair, n_x2] = self.sizes();
        let images = self.images();
        let (phase, pair, x2) = (&mut s.a[..images * n_phase], &mut s.pairs[..images * n_pair], &mut s.x2[..images * n_x2]);
        let epi = if clamped { &self.epi_clamped } else { &self.epi };
        let (kk, p, pr, cog) = (self.taps.len(), self.p, self.pr, self.cog);
        let wblock = kk * W_STRIDE;
        let gemm = |bg: usize, ob: usize, x2: &[i32], out: &mut [i32]| {
            let (g, oc0) = (bg % self.groups, ob * OCB);
            let noc = OCB.min(cog - oc0);
            let w = &self.weight[(g * self.blocks + ob) * wblock..][..wblock];
            let e = &epi[g * cog + oc0..g * cog + oc0 + noc];
            let bcast = Bcast { data: w, k_stride: W_STRIDE, j_stride: 4, repeated: true };
            let x2 = &x2[bg * n_x2..(bg + 1) * n_x2];
            Gemm { x2, pr, block_stride: POS_BLOCK, kk, bcast, epi: Epilogue::Rows(e), rows: noc, cols: p }.run(par.isa, out, p);
        };
        let pl = self.plane_len();
        let work = self.work();
        if par.inline(work) {
            for bg in 0..images {
                let (ph, pa) = (&mut phase[bg * n_phase..(bg + 1) * n_phase], &mut pair[bg * n_pair..(bg + 1) * n_pair]);
                self.build(self.image(x, bg), ph, pa, &mut x2[bg * n_x2..(bg + 1) * n_x2]);
            }
            let mut rest = out;
            for bg in 0..images {
                for ob in 0..self.blocks {
                    let (chunk, r) = rest.split_at_mut(OCB.min(cog - ob * OCB) * p);
                    gemm(bg, ob, x2, chunk);
                    rest = r;
                }
            }
            return;
        }
        // Each step's planes (or rows) are independent: split every step across threads,
        // so a single large image is not built on one thread.
        for bg in 0..images {
            let planes = self.image(x, bg);
            let (ph, pa) = (&mut phase[bg * n_phase..(bg + 1) * n_phase], &mut pair[bg * n_pair..(bg + 1) * n_pair]);
            par.for_chunks(ph, pl, work, |k, dst| {
                dst.fill(0);
                self.phase_plane(planes, k, dst)
            });
            let ph = &*ph;
            par.for_chunks(pa, pl, work, |k, dst| self.pair_plane(ph, k, dst));
            let pa = &*pa;
            par.for_chunks(&mut x2[bg * n_x2..(bg + 1) * n_x2], pr, work, |k, row| self.gather_row(pa, k, row));
        }
        let x2 = &*x2;
        let mut tasks = Vec::with_capacity(images * self.blocks);
        let mut rest = out;
        for bg in 0..images {
            for ob in 0..self.blocks {
                let (chunk, r) = rest.split_at_mut(OCB.min(cog - ob * OCB) * p);
                tasks.push((bg, ob, chunk));
                rest = r;
            }
        }
        par.for_each(tasks, |(bg, ob, chunk)| gemm(bg, ob, x2, chunk));
    }
}

/// Rows of `W` from `src` every `stride` into the consecutive rows of `dst`: fixed-size
/// moves instead of a `memcpy` call per short row.
#[inline(always)]
fn rows_fixed<const W: usize>(src: &[i32], dst: &mut [i32], stride: usize) {
    for (oy, d) in dst.chunks_exact_mut(W).enumerate() {
        let d: &mut [i32; W] = d.try_into().unwrap();
        *d = src[oy * stride..oy * stride + W].try_into().unwrap();
    }
}
