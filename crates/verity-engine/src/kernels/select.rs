//! Selection: Where (an element-wise choice between two tensors) and Arg (the index of a
//! lane's extreme element).

use super::strided::{strides, Walk};
use verity_model::shape::{broadcast_strides, numel};
use verity_model::{ModelError, ValueInfo};

/// `out = cond != 0 ? a : b`, the three inputs broadcast to the output.
pub struct WherePlan {
    walk: Walk<4>,
}

impl WherePlan {
    pub fn new(ins: [&ValueInfo; 3], out: &ValueInfo) -> Result<WherePlan, ModelError> {
        let s = ins.map(|v| broadcast_strides(&v.shape, &out.shape));
        let so = strides(&out.shape);
        let st: Vec<[isize; 4]> =
            (0..out.shape.len()).map(|d| [s[0][d] as isize, s[1][d] as isize, s[2][d] as isize, so[d]]).collect();
        Ok(WherePlan { walk: Walk::new(&out.shape, &st)? })
    }

    pub fn run(&self, cond: &[i32], a: &[i32], b: &[i32], out: &mut [i32]) {
        let [dc, da, db, _] = self.walk.step;
        let len = self.walk.len as isize;
        self.walk.for_each_run([0; 4], |[ic, ia, ib, io]| {
            for t in 0..len {
                let pick = if cond[(ic + t * dc) as usize] != 0 { a[(ia + t * da) as usize] } else { b[(ib + t * db) as usize] };
                out[(io + t) as usize] = pick;
            }
        });
    }
}

/// ArgMax/ArgMin along one axis: lanes of `len` elements `inner` apart.
pub struct ArgPlan {
    outer: usize,
    len: usize,
    inner: usize,
    min: bool,
    last: bool,
}

impl ArgPlan {
    pub fn new(x: &ValueInfo, axis: usize, min: bool, last: bool) -> ArgPlan {
        ArgPlan { outer: numel(&x.shape[..axis]), len: x.shape[axis], inner: numel(&x.shape[axis + 1..]), min, last }
    }

    pub fn run(&self, x: &[i32], out: &mut [i32]) {
        let (len, inner) = (self.len, self.inner);
        // Negating turns the smallest into the largest; i64 keeps -i32::MIN exact.
        let key = |v: i32| if self.min { -(v as i64) } else { v as i64 };
        for o in 0..self.outer {
            for i in 0..inner {
                let base = o * len * inner + i;
                let mut best = 0;
                let mut top = key(x[base]);
                for t in 1..len {
                    let v = key(x[base + t * inner]);
                    if v > top || (self.last && v == top) {
                        (best, top) = (t, v);
                    }
                }
                out[o * inner + i] = best as i32;
            }
        }
    }
}
