//! MaxPool and AvgPool over NCHW planes. Padding taps are skipped (never read as 0);
//! AvgPool divides by the valid-tap count or, with `count_include_pad`, the kernel area.

use super::quant::{div_clamp, div_fits_i64};
use verity_model::arith::qrange;
use verity_model::{Op, ValueInfo, Window};

#[derive(Clone, Copy)]
enum Kind {
    Max,
    Avg { include_pad: bool, mult: i64, shift: u32, wide: bool, lo: i64, hi: i64 },
}

pub struct PoolPlan {
    planes: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    window: Window,
    kind: Kind,
}

impl PoolPlan {
    pub fn new(op: &Op, x: &ValueInfo, out: &ValueInfo) -> PoolPlan {
        let (window, kind) = match op {
            Op::MaxPool { window } => (window, Kind::Max),
            Op::AvgPool { window, count_include_pad, mult, shift } => {
                let area = (window.kernel[0] * window.kernel[1]) as i128;
                let (lo, hi) = qrange(out.bits);
                let wide = !div_fits_i64(area * (1i128 << (x.bits - 1)) * (*mult as i128).abs(), area << shift);
                (window, Kind::Avg { include_pad: *count_include_pad, mult: *mult as i64, shift: *shift as u32, wide, lo, hi })
            }
            _ => unreachable!("PoolPlan is built for MaxPool and AvgPool only"),
        };
        PoolPlan {
            planes: x.shape[0] * x.shape[1],
            h: x.shape[2],
            w: x.shape[3],
            oh: out.shape[2],
            ow: out.shape[3],
            window: window.clone(),
            kind,
        }
    }

    /// Valid input range `[start, end)` of output position `o` along one axis: the
    /// window clipped to the input (padding taps are skipped, never read as 0).
    #[inline(always)]
    fn span(o: usize, stride: usize, pad: usize, kernel: usize, len: usize) -> (usize, usize) {
        let start = (o * stride) as isize - pad as isize;
        let end = (start + kernel as isize).min(len as isize);
        let start = start.max(0);
        (start as usize, end.max(start) as usize)
    }

    pub fn run(&self, x: &[i32], out: &mut [i32]) {
        let Window { kernel, stride, pads, .. } = self.window;
        if matches!(self.kind, Kind::Max) && kernel == [2, 2] && stride == [2, 2] && pads == [0; 4] {
            return self.max_2x2(x, out);
        }
        self.general(x, out)
    }

    /// MaxPool 2x2, stride 2, unpadded: every window lies inside the input (a last odd
    /// row or column is never read). Rows of all planes are handled as one sequence of
    /// row pairs when the planes hold whole pairs, so short rows cost no plane loop.
    fn max_2x2(&self, x: &[i32], out: &mut [i32]) {
        let (h, w, oh, ow) = (self.h, self.w, self.oh, self.ow);
        if h == 2 * oh {
            max_2x2_rows(&x[..self.planes * h * w], &mut out[..self.planes * oh * ow], w, ow);
        } else {
            for (plane, dst) in x.chunks_exact(h * w).zip(out.chunks_exact_mut(oh * ow)).take(self.planes) {
                max_2x2_rows(&plane[..oh * 2 * w], dst, w, ow);
            }
        }
    }

    fn general(&self, x: &[i32], out: &mut [i32]) {
        let Window { kernel: [kh, kw], stride: [sh, sw], pads, .. } = self.window;
        let (h, w, oh, ow) = (self.h, self.w, self.oh, self.ow);
        for (plane, dst) in x.chunks_exact(h * w).zip(out.chunks_exact_mut(oh * ow)).take(self.planes) {
            for (oy, dst) in dst.chunks_exact_mut(ow).enumerate() {
                let (y0, y1) = Self::span(oy, sh, pads[0], kh, h);
                let rows = &plane[y0 * w..y1 * w];
                for (ox, o) in dst.iter_mut().enumerate() {
                    let (x0, x1) = Self::span(ox, sw, pads[1], kw, w);
                    let taps = rows.chunks_exact(w).map(|r| &r[x0..x1]);
                    *o = match self.kind {
                        // Pads are smaller than the kernel, so every window has a valid
                        // tap; an empty one would give the reference's 0.
                        Kind::Max if y1 > y0 && x1 > x0 => taps.fold(i32::MIN, |m, r| r.iter().fold(m, |m, &v| m.max(v))),
                        Kind::Max => 0,
                        Kind::Avg { include_pad, mult, shift, wide, lo, hi } => {
                            let sum: i64 = taps.map(|r| r.iter().map(|&v| v as i64).sum::<i64>()).sum();
                            let count = if include_pad { kh * kw } else { (y1 - y0) * (x1 - x0) };
                            div_clamp(sum * mult, (count as i64) << shift, wide, lo, hi)
                        }
                    };
                }
            }
        }
    }
}

/// `out[r][j] = max(x[2r][2j], x[2r][2j + 1], x[2r + 1][2j], x[2r + 1][2j + 1])` for all
/// row pairs `r` of `x` (rows of `w`) and `j < ow`.
fn max_2x2_rows(x: &[i32], out: &mut [i32], w: usize, ow: usize) {
    // Outputs from the column pairs of two rows.
    let scalar = |r0: &[i32], r1: &[i32], d: &mut [i32]| {
        for ((o, a), b) in d.iter_mut().zip(r0.chunks_exact(2)).zip(r1.chunks_exact(2)) {
            *o = a[0].max(a[1]).max(b[0].max(b[1]));
        }
    };
    #[cfg(target_arch = "x86_64")]
    {
        if ow == 4 && w == 8 {
            // A row pair (16 values) gives four outputs.
            for (q, d) in x.chunks_exact(16).zip(out.chunks_exact_mut(4)) {
                max4_sse2([four(q), four(&q[4..]), four(&q[8..]), four(&q[12..])], d.try_into().unwrap());
            }
            return;
        }
        if ow >= 4 {
            // Four outputs from 8 columns of a row pair.
            for (rows, d) in x.chunks_exact(2 * w).zip(out.chunks_exact_mut(ow)) {
                let (r0, r1) = rows.split_at(w);
                let mut j = 0;
                while j + 4 <= ow {
                    let (t, b) = (&r0[2 * j..], &r1[2 * j..]);
                    max4_sse2([four(t), four(&t[4..]), four(b), four(&b[4..])], (&mut d[j..j + 4]).try_into().unwrap());
                    j += 4;
                }
                if j < ow {
                    scalar(&r0[2 * j..], &r1[2 * j..], &mut d[j..]);
                }
            }
            return;
        }
        if ow == 2 && w == 4 {
            // Two row pairs (16 values) give four outputs.
            let mut quads = x.chunks_exact(16);
            let mut outs = out.chunks_exact_mut(4);
            for (q, d) in (&mut quads).zip(&mut outs) {
                max4_sse2([four(q), four(&q[8..]), four(&q[4..]), four(&q[12..])], d.try_into().unwrap());
            }
            for (rows, d) in quads.remainder().chunks_exact(8).zip(outs.into_remainder().chunks_exact_mut(2)) {
                scalar(&rows[..4], &rows[4..], d);
            }
            return;
        }
    }
    for (rows, d) in x.chunks_exact(2 * w).zip(out.chunks_exact_mut(ow)) {
        scalar(&rows[..w], &rows[w..], d);
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn four(a: &[i32]) -> &[i32; 4] {
    a[..4].try_into().unwrap()
}

/// `out[j] = max` over the column pair `(2j, 2j + 1)` of the 8 columns `top[0] ++ top[1]`
/// and the 8 below them, `bottom[0] ++ bottom[1]` (`v = [top0, top1, bottom0, bottom1]`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn max4_sse2(v: [&[i32; 4]; 4], out: &mut [i32; 4]) {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86-64 baseline; each load reads one `[i32; 4]` and
    // the store writes `out`. Why: SSE2 has no 32-bit max, but pooled values are 8- or
    // 16-bit, so packing them to i16 (saturating, hence exact here) allows `pmaxsw`:
    // about 3 instructions per output instead of 11.
    unsafe {
        let ld = |a: &[i32; 4]| _mm_loadu_si128(a.as_ptr().cast());
        let top = _mm_packs_epi32(ld(v[0]), ld(v[1]));
        let bottom = _mm_packs_epi32(ld(v[2]), ld(v[3]));
        let m = _mm_max_epi16(top, bottom);
        // Each i32 lane holds a column pair; its low half becomes the pair's max.
        let m = _mm_max_epi16(m, _mm_srli_epi32::<16>(m));
        _mm_storeu_si128(out.as_mut_ptr().cast(), _mm_srai_epi32::<16>(_mm_slli_epi32::<16>(m)));
    }
}
