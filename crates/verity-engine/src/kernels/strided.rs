//! Strided loop nests for broadcasts, transposes, slices and reductions: unit dims are
//! dropped and neighbouring dims merged at plan time, then a counter walk visits the
//! outer dims while the caller runs a tight loop over the innermost one.

use verity_model::ModelError;

/// After merging, each dim has length >= 2 and a tensor holds at most 2^26 elements,
/// so no walk needs more counters than this.
const MAX_RANK: usize = 32;

/// A loop nest over `dims` reading `N` operands with the given element strides.
#[derive(Clone, Debug)]
pub struct Walk<const N: usize> {
    /// Outer dims (all but the innermost) and their strides.
    outer: Vec<(usize, [isize; N])>,
    /// Innermost dim: length and strides.
    pub len: usize,
    pub step: [isize; N],
}

impl<const N: usize> Walk<N> {
    pub fn new(dims: &[usize], strides: &[[isize; N]]) -> Result<Walk<N>, ModelError> {
        let mut merged: Vec<(usize, [isize; N])> = Vec::new();
        for (&d, &s) in dims.iter().zip(strides) {
            if d == 1 {
                continue;
            }
            match merged.last_mut() {
                // (d0, s0) then (d, s) is one dim of d0*d when each s0 == s*d.
                Some((d0, s0)) if (0..N).all(|n| s0[n] == s[n] * d as isize) => {
                    *d0 *= d;
                    *s0 = s;
                }
                _ => merged.push((d, s)),
            }
        }
        if merged.len() > MAX_RANK {
            return Err(ModelError::Invalid(format!("tensor of shape {dims:?} has too many dimensions")));
        }
        let (len, step) = merged.pop().unwrap_or((1, [0; N]));
        Ok(Walk { outer: merged, len, step })
    }

    /// Calls `f(offsets)` at the start of every innermost run, in row-major order.
    #[inline]
    pub fn for_each_run(&self, base: [isize; N], mut f: impl FnMut([isize; N])) {
        let mut idx = [0usize; MAX_RANK];
        let mut off = base;
        let r = self.outer.len();
        loop {
            f(off);
            let mut d = r;
            loop {
                if d == 0 {
                    return;
                }
                d -= 1;
                let (len, s) = self.outer[d];
                idx[d] += 1;
                if idx[d] < len {
                    for n in 0..N {
                        off[n] += s[n];
                    }
                    break;
                }
                idx[d] = 0;
                for n in 0..N {
                    off[n] -= s[n] * (len as isize - 1);
                }
            }
        }
    }

    /// Smallest and largest offset of operand `n` the walk reaches from `base`.
    pub fn bounds(&self, base: isize, n: usize) -> (isize, isize) {
        let (mut lo, mut hi) = (base, base);
        for &(len, s) in self.outer.iter().chain([(self.len, self.step)].iter()) {
            let span = s[n] * (len as isize - 1);
            if span < 0 {
                lo += span;
            } else {
                hi += span;
            }
        }
        (lo, hi)
    }
}

/// Row-major strides of `shape` as isize.
pub fn strides(shape: &[usize]) -> Vec<isize> {
    verity_model::shape::strides(shape).into_iter().map(|s| s as isize).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_walks_in_row_major_order() {
        // [2, 1, 3, 4] read contiguously merges to one run of 24.
        let s = strides(&[2, 1, 3, 4]);
        let w = Walk::<1>::new(&[2, 1, 3, 4], &[[s[0]], [s[1]], [s[2]], [s[3]]]).unwrap();
        assert_eq!((w.outer.len(), w.len), (0, 24));
        // Transposing [2, 3] -> [3, 2]: out dims [3, 2] read with strides [1, 3].
        let w = Walk::<1>::new(&[3, 2], &[[1], [3]]).unwrap();
        let mut got = Vec::new();
        w.for_each_run([0], |[o]| got.extend((0..w.len as isize).map(|t| o + t * w.step[0])));
        assert_eq!(got, vec![0, 3, 1, 4, 2, 5]);
        assert_eq!(w.bounds(0, 0), (0, 5));
    }
}
