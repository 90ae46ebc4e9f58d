//! 2-D convolution. Sums that provably fit in i32 (8-bit inputs, or 16-bit inputs
//! with few taps) go to the pair GEMM of [`super::pairconv`]; the others to im2col
//! into zero-padded i16 rows (one row per output pixel), then one [`dot_row`] per
//! (batch, output channel) against the prepacked weight row, summed in i64 blocks.

use super::dot::{block_len, dot_row, padded};
use super::pairconv::PairConv;
use super::quant::Rq;
use super::{Need, Scratch};
use crate::par::{col_tile, Par};
use verity_model::{Requant, ValueInfo, Window};

pub enum ConvPlan {
    Pairs(PairConv),
    Im2col(Im2col),
}

impl ConvPlan {
    pub fn new(
        x: &ValueInfo,
        out: &ValueInfo,
        weight: &[i8],
        bias: &[i32],
        window: &Window,
        groups: usize,
        rq: &Requant,
    ) -> ConvPlan {
        match PairConv::new(x, out, weight, bias, window, groups, rq) {
            Some(p) => ConvPlan::Pairs(p),
            None => ConvPlan::Im2col(Im2col::new(x, out, weight, bias, window, groups, rq)),
        }
    }

    pub fn scratch(&self) -> Need {
        match self {
            ConvPlan::Pairs(p) => p.scratch(),
            ConvPlan::Im2col(p) => p.scratch(),
        }
    }

    /// Prepares [`run`](Self::run) with `clamped` for a Clamp to `[lo, hi]` fused into
    /// the requantization.
    pub fn fuse_clamp(&mut self, lo: i32, hi: i32) {
        match self {
            ConvPlan::Pairs(p) => p.fuse_clamp(lo, hi),
            ConvPlan::Im2col(p) => p.rq_clamped = p.rq.iter().map(|r| r.clamped(lo, hi)).collect(),
        }
    }

    pub fn run(&self, x: &[i32], out: &mut [i32], s: &mut Scratch, par: Par, clamped: bool) {
        match self {
            ConvPlan::Pairs(p) => p.run(x, out, s, par, clamped),
            ConvPlan::Im2col(p) => p.run(x, out, s, par, clamped),
        }
    }
}

pub struct Im2col {
    batch: usize,
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    groups: usize,
    window: Window,
    oh: usize,
    ow: usize,
    /// Per (output row, ky) the input row, per (output column, kx) the input column;
    /// -1 where the tap falls in the padding.
    row_of: Vec<isize>,
    col_of: Vec<isize>,
    /// Per output column, the first input column when all its taps are inside the
    /// input (the common case: no per-tap padding test), else `None`.
    col_run: Vec<Option<usize>>,
    /// Taps per output (`c_in / groups * kh * kw`) padded to whole lanes.
    kp: usize,
    /// `[c_out][kp]` i16 in `(ic, ky, kx)` order, matching the im2col rows.
    weight: Vec<i16>,
    /// Per output channel, requantization with the bias folded in (and with a fused
    /// Clamp, if any).
    rq: Vec<Rq>,
    rq_clamped: Vec<Rq>,
    block: usize,
}

impl Im2col {
    pub fn new(
        x: &ValueInfo,
        out: &ValueInfo,
        weight: &[i8],
        bias: &[i32],
        window: &Window,
        groups: usize,
        rq: &Requant,
    ) -> Im2col {
        let c_out = bias.len();
        let k = weight.len() / c_out;
        let kp = padded(k);
        let mut packed = vec![0i16; c_out * kp];
        for (dst, src) in packed.chunks_exact_mut(kp).zip(weight.chunks_exact(k)) {
            for (d, &w) in dst.iter_mut().zip(src) {
                *d = w as i16;
            }
        }
        let max_w = weight.iter().map(|&w| (w as i64).abs()).max().unwrap_or(0);
        let [oh, ow] = [out.shape[2], out.shape[3]];
        let tap = |o: usize, k: usize, axis: usize, len: usize| {
            let at = (o * window.stride[axis] + k * window.dilation[axis]) as isize - window.pads[axis] as isize;
            if (0..len as isize).contains(&at) {
                at
            } else {
                -1
            }
        };
        let [kh, kw] = window.kernel;
        let row_of = (0..oh * kh).map(|i| tap(i / kh, i % kh, 0, x.shape[2])).collect();
        let col_of: Vec<isize> = (0..ow * kw).map(|i| tap(i / kw, i % kw, 1, x.shape[3])).collect();
        let col_run = col_of.chunks_exact(kw).map(|xs| xs.iter().all(|&x| x >= 0).then_some(xs[0] as usize)).collect();
        Im2col {
            batch: x.shape[0],
            c_in: x.shape[1],
            h: x.shape[2],
            w: x.shape[3],
            c_out,
            groups,
            window: window.clone(),
            oh,
            ow,
            row_of,
            col_of,
            col_run,
            kp,
            weight: packed,
            rq: Rq::per_channel(rq, c_out, out.bits).into_iter().zip(bias).map(|(r, &b)| r.with_bias(b)).collect(),
            rq_clamped: Vec::new(),
            block: block_len((1i64 << (x.bits - 1)) * max_w, kp),
        }
    }

    fn pixels(&self) -> usize {
        self.oh * self.ow
    }

    pub fn scratch(&self) -> Need {
        Need { a: self.batch * self.groups * self.pixels() * self.kp, ..Default::default() }
    }

    /// Fills `rows` (one row of `kp` taps per pixel of output row `oy` of image `bg` =
    /// (batch, group)) in the weight's `(ic, ky, kx)` order. Padding taps and row tails
    /// stay 0 from one fill (many short fills would each cost a `memset` call). Kept
    /// out of line: inlined into its caller it compiled about 5% slower.
    #[inline(never)]
    fn im2col_row(&self, x: &[i32], bg: usize, oy: usize, rows: &mut [i16]) {
        let [kh, kw] = self.window.kernel;
        let (hw, w, cig, kp) = (self.h * self.w, self.w, self.c_in / self.groups, self.kp);
        let dw = self.window.dilation[1];
        rows.fill(0);
        let (b, g) = (bg / self.groups, bg % self.groups);
        let first = (b * self.c_in + g * cig) * hw;
        let planes = &x[first..first + cig * hw];
        // Per input row a tap reads, fill that (ic, ky) segment of every pixel's row,
        // so each source row is sliced once.
        for (ic, plane) in planes.chunks_exact(hw).enumerate() {
            for (ky, &y) in self.row_of[oy * kh..(oy + 1) * kh].iter().enumerate() {
                if y < 0 {
                    continue;
                }
                let t = (ic * kh + ky) * kw;
                let src = &plane[y as usize * w..(y as usize + 1) * w];
                for ((row, xs), &run) in rows.chunks_exact_mut(kp).zip(self.col_of.chunks_exact(kw)).zip(&self.col_run) {
                    let taps = &mut row[t..t + kw];
                    match run {
                        Some(x0) if dw == 1 => {
                            for (d, &v) in taps.iter_mut().zip(&src[x0..x0 + kw]) {
                                *d = v as i16;
                            }
                        }
                        Some(x0) => {
                            for (d, &v) in taps.iter_mut().zip(src[x0..].iter().step_by(dw)) {
                                *d = v as i16;
                            }
                        }
                        None => {
                            for (d, &x) in taps.iter_mut().zip(xs) {
                                if x >= 0 {
                                    *d = src[x as usize] as i16;
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    pub fn run(&self, x: &[i32], out: &mut [i32], s: &mut Scratch, par: Par, clamped: bool) {
        let (kp, block, pixels) = (self.kp, self.block, self.pixels());
        let rqs = if clamped { &self.rq_clamped } else { &self.rq };
        let work = self.batch * self.c_out * pixels * kp;
        let cols = &mut s.a[..self.batch * self.groups * pixels * kp];
        // im2col in output rows, split like the products so it is not a serial part.
        par.for_chunks(cols, self.ow * kp, work, |i, rows| self.im2col_row(x, i / self.oh, i % self.oh, rows));
        let cols = &*cols;
        let cog = self.c_out / self.groups;
        par.for_rows(out, pixels, col_tile(kp), work, |r, j0, chunk| {
            let (b, oc) = (r / self.c_out, r % self.c_out);
            let img = (b * self.groups + oc / cog) * pixels * kp;
            let rq = rqs[oc];
            dot_row(&self.weight[oc * kp..(oc + 1) * kp], &cols[img..img + pixels * kp], kp, block, j0, chunk, |_, sums, out| {
                for (o, &s) in out.iter_mut().zip(sums) {
                    *o = rq.apply(s);
                }
            })
        });
    }
}
