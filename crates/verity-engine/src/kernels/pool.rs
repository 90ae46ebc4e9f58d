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
                        Kind::Max => taps.flat_map(|r| r.iter().copied()).max().unwrap_or(0),
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
