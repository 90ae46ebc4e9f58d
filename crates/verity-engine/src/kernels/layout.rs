//! Data movement: Transpose and Slice as strided walks, Concat and Gather as block copies.

use super::strided::{strides, Walk};
use verity_model::shape::numel;
use verity_model::{ModelError, ValueInfo};

/// Copies `x` into the contiguous `out` along a strided walk (`x` offsets first).
pub struct GatherWalk {
    walk: Walk<2>,
    base: isize,
}

impl GatherWalk {
    /// `src` = per output dim, the stride into `x`; `base` = offset of output index 0.
    fn new(x_len: usize, out: &[usize], src: &[isize], base: isize) -> Result<GatherWalk, ModelError> {
        let os = strides(out);
        let st: Vec<[isize; 2]> = src.iter().zip(&os).map(|(&s, &o)| [s, o]).collect();
        let walk = Walk::new(out, &st)?;
        // Reject at plan time any walk that would read outside `x` (an inconsistent
        // model) instead of panicking mid-run.
        let (lo, hi) = walk.bounds(base, 0);
        if lo < 0 || hi >= x_len as isize {
            return Err(ModelError::Invalid(format!("data movement to {out:?} reads outside its {x_len}-element input")));
        }
        Ok(GatherWalk { walk, base })
    }

    pub fn transpose(x: &ValueInfo, out: &ValueInfo, perm: &[usize]) -> Result<GatherWalk, ModelError> {
        let xs = strides(&x.shape);
        let src: Vec<isize> = perm.iter().map(|&p| xs[p]).collect();
        GatherWalk::new(numel(&x.shape), &out.shape, &src, 0)
    }

    /// As the reference: an axis takes the first `axes` entry that names it.
    pub fn slice(
        x: &ValueInfo,
        out: &ValueInfo,
        axes: &[usize],
        starts: &[i64],
        steps: &[i64],
    ) -> Result<GatherWalk, ModelError> {
        let xs = strides(&x.shape);
        let mut base = 0isize;
        let mut src = xs.clone();
        for d in 0..x.shape.len() {
            if let Some(k) = axes.iter().position(|&a| a == d) {
                base += starts[k] as isize * xs[d];
                src[d] = steps[k] as isize * xs[d];
            }
        }
        GatherWalk::new(numel(&x.shape), &out.shape, &src, base)
    }

    pub fn run(&self, x: &[i32], out: &mut [i32]) {
        let (len, [dx, _]) = (self.walk.len, self.walk.step);
        self.walk.for_each_run([self.base, 0], |[ix, io]| {
            let dst = &mut out[io as usize..io as usize + len];
            if dx == 1 {
                dst.copy_from_slice(&x[ix as usize..ix as usize + len]);
            } else {
                for (t, o) in dst.iter_mut().enumerate() {
                    *o = x[(ix + t as isize * dx) as usize];
                }
            }
        });
    }
}

/// Concat: for each index before the axis, every input's block in turn.
pub struct ConcatPlan {
    outer: usize,
    /// Elements each input contributes per outer index.
    blocks: Vec<usize>,
}

impl ConcatPlan {
    pub fn new(ins: &[&ValueInfo], axis: usize) -> ConcatPlan {
        ConcatPlan { outer: numel(&ins[0].shape[..axis]), blocks: ins.iter().map(|v| numel(&v.shape[axis..])).collect() }
    }

    /// `input(i)` is the data of input `i`.
    pub fn run<'a>(&self, input: impl Fn(usize) -> &'a [i32], out: &mut [i32]) {
        let mut at = 0;
        for o in 0..self.outer {
            for (i, &block) in self.blocks.iter().enumerate() {
                out[at..at + block].copy_from_slice(&input(i)[o * block..(o + 1) * block]);
                at += block;
            }
        }
    }
}

/// Gather: `out[o, j, i] = x[o, indices[j], i]` over (before axis, indices, after axis).
pub struct GatherPlan {
    outer: usize,
    axis_len: usize,
    inner: usize,
    indices: Vec<usize>,
}

impl GatherPlan {
    pub fn new(x: &ValueInfo, axis: usize, indices: &[usize]) -> GatherPlan {
        GatherPlan {
            outer: numel(&x.shape[..axis]),
            axis_len: x.shape[axis],
            inner: numel(&x.shape[axis + 1..]),
            indices: indices.to_vec(),
        }
    }

    pub fn run(&self, x: &[i32], out: &mut [i32]) {
        let (inner, q) = (self.inner, self.indices.len());
        for o in 0..self.outer {
            let src = &x[o * self.axis_len * inner..(o + 1) * self.axis_len * inner];
            let dst = &mut out[o * q * inner..(o + 1) * q * inner];
            for (d, &j) in dst.chunks_exact_mut(inner).zip(&self.indices) {
                d.copy_from_slice(&src[j * inner..(j + 1) * inner]);
            }
        }
    }
}
