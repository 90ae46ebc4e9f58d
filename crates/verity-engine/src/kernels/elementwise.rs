//! Add/Mul/Div/Compare with numpy broadcasting, and the unary maps Rescale/Clamp/Lut/PRelu.
//! Same-shape and scalar operands get flat loops; other broadcasts a merged strided walk.

use super::quant::{div_clamp, div_fits_i64, Rq, Shift};
use super::strided::{strides, Walk};
use verity_model::arith::qrange;
use verity_model::shape::{broadcast_strides, numel};
use verity_model::{CmpMode, ModelError, Op, ValueInfo};

/// One output element of a binary op. Each loop below is generic over this, so it is
/// one monomorphic loop per op kind with `apply` inlined (with closures the compiler
/// left a call per element).
trait Elem: Copy {
    fn apply(self, a: i32, b: i32) -> i32;
}

#[derive(Clone, Copy)]
struct AddOp {
    ma: i64,
    mb: i64,
    post: Shift,
}

#[derive(Clone, Copy)]
struct MulOp {
    mult: i64,
    post: Shift,
}

/// `wide`: the operand bounds need i128 for `div_round`.
#[derive(Clone, Copy)]
struct DivOp {
    mult: i64,
    shift: u32,
    wide: bool,
    lo: i64,
    hi: i64,
}

impl Elem for AddOp {
    #[inline(always)]
    fn apply(self, a: i32, b: i32) -> i32 {
        self.post.apply(a as i64 * self.ma + b as i64 * self.mb)
    }
}

impl Elem for MulOp {
    #[inline(always)]
    fn apply(self, a: i32, b: i32) -> i32 {
        self.post.apply(a as i64 * b as i64 * self.mult)
    }
}

impl Elem for DivOp {
    #[inline(always)]
    fn apply(self, a: i32, b: i32) -> i32 {
        let (a, b) = (a as i64, b as i64);
        let DivOp { mult, shift, wide, lo, hi } = self;
        if b == 0 {
            // Division by zero saturates toward the sign of `a * mult` (0 for 0).
            match (a.signum() * mult.signum()).signum() {
                1 => hi as i32,
                -1 => lo as i32,
                _ => 0,
            }
        } else {
            let n = a * mult * b.signum();
            div_clamp(n, b.abs() << shift, wide, lo, hi)
        }
    }
}

#[derive(Clone, Copy)]
struct CmpOp {
    mode: CmpMode,
    ma: i64,
    mb: i64,
}

impl Elem for CmpOp {
    #[inline(always)]
    fn apply(self, a: i32, b: i32) -> i32 {
        self.mode.holds(a as i64 * self.ma - b as i64 * self.mb) as i32
    }
}

#[derive(Clone, Copy)]
enum BinOp {
    Add(AddOp),
    Mul(MulOp),
    Div(DivOp),
    Cmp(CmpOp),
}

enum Layout {
    Same,
    ScalarA,
    ScalarB,
    /// Operands a, b and the (contiguous) output.
    Walk(Walk<3>),
}

pub struct BinaryPlan {
    op: BinOp,
    layout: Layout,
}

impl BinaryPlan {
    pub fn new(op: &Op, a: &ValueInfo, b: &ValueInfo, out: &ValueInfo) -> Result<BinaryPlan, ModelError> {
        let bits = out.bits;
        let op = match *op {
            Op::Add { mult_a, mult_b, shift } => {
                BinOp::Add(AddOp { ma: mult_a as i64, mb: mult_b as i64, post: Shift::new(shift, bits) })
            }
            Op::Mul { mult, shift } => BinOp::Mul(MulOp { mult: mult as i64, post: Shift::new(shift, bits) }),
            Op::Div { mult, shift } => {
                let (lo, hi) = qrange(bits);
                let n_max = (1i128 << (a.bits - 1)) * (mult as i128).abs();
                let d_max = (1i128 << (b.bits - 1)) << shift;
                BinOp::Div(DivOp { mult: mult as i64, shift: shift as u32, wide: !div_fits_i64(n_max, d_max), lo, hi })
            }
            Op::Compare { mode, mult_a, mult_b } => BinOp::Cmp(CmpOp { mode, ma: mult_a as i64, mb: mult_b as i64 }),
            _ => unreachable!("BinaryPlan is built for Add, Mul, Div and Compare only"),
        };
        let (na, nb, n) = (numel(&a.shape), numel(&b.shape), numel(&out.shape));
        let layout = if na == n && nb == n {
            Layout::Same
        } else if na == 1 {
            Layout::ScalarA
        } else if nb == 1 {
            Layout::ScalarB
        } else {
            let (sa, sb, so) =
                (broadcast_strides(&a.shape, &out.shape), broadcast_strides(&b.shape, &out.shape), strides(&out.shape));
            let st: Vec<[isize; 3]> = (0..out.shape.len()).map(|d| [sa[d] as isize, sb[d] as isize, so[d]]).collect();
            Layout::Walk(Walk::new(&out.shape, &st)?)
        };
        Ok(BinaryPlan { op, layout })
    }

    pub fn run(&self, a: &[i32], b: &[i32], out: &mut [i32]) {
        // One monomorphic loop per op kind keeps the match out of the element loop.
        match self.op {
            BinOp::Add(op) => self.layout_loop(a, b, out, op),
            BinOp::Mul(op) => self.layout_loop(a, b, out, op),
            BinOp::Div(op) => self.layout_loop(a, b, out, op),
            BinOp::Cmp(op) => self.layout_loop(a, b, out, op),
        }
    }

    #[inline(always)]
    fn layout_loop(&self, a: &[i32], b: &[i32], out: &mut [i32], op: impl Elem) {
        let f = |x: i32, y: i32| op.apply(x, y);
        match &self.layout {
            Layout::Same => {
                for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                    *o = f(x, y);
                }
            }
            Layout::ScalarA => {
                let x = a[0];
                for (o, &y) in out.iter_mut().zip(b) {
                    *o = f(x, y);
                }
            }
            Layout::ScalarB => {
                let y = b[0];
                for (o, &x) in out.iter_mut().zip(a) {
                    *o = f(x, y);
                }
            }
            Layout::Walk(w) => {
                let [da, db, _] = w.step;
                let len = w.len;
                w.for_each_run([0; 3], |[ia, ib, io]| {
                    let dst = &mut out[io as usize..io as usize + len];
                    match (da, db) {
                        (1, 1) => {
                            for ((o, &x), &y) in dst.iter_mut().zip(&a[ia as usize..]).zip(&b[ib as usize..]) {
                                *o = f(x, y);
                            }
                        }
                        (1, 0) => {
                            let y = b[ib as usize];
                            for (o, &x) in dst.iter_mut().zip(&a[ia as usize..]) {
                                *o = f(x, y);
                            }
                        }
                        (0, 1) => {
                            let x = a[ia as usize];
                            for (o, &y) in dst.iter_mut().zip(&b[ib as usize..]) {
                                *o = f(x, y);
                            }
                        }
                        _ => {
                            for (t, o) in dst.iter_mut().enumerate() {
                                let t = t as isize;
                                *o = f(a[(ia + t * da) as usize], b[(ib + t * db) as usize]);
                            }
                        }
                    }
                });
            }
        }
    }
}

/// The per-element unary ops.
pub enum MapPlan {
    Rescale(Rq),
    Clamp(i32, i32),
    /// Table and the input's smallest value (`table[x - lo]`).
    Lut(Vec<i32>, i32),
}

impl MapPlan {
    pub fn new(op: &Op, x: &ValueInfo, out: &ValueInfo) -> MapPlan {
        match op {
            Op::Rescale { mult, shift } => MapPlan::Rescale(Rq::new(*mult, *shift, out.bits)),
            Op::Clamp { lo, hi } => MapPlan::Clamp(*lo, *hi),
            Op::Lut { table } => MapPlan::Lut(table.clone(), qrange(x.bits).0 as i32),
            _ => unreachable!("MapPlan is built for Rescale, Clamp and Lut only"),
        }
    }

    pub fn run(&self, x: &[i32], out: &mut [i32]) {
        match self {
            MapPlan::Rescale(rq) => {
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = rq.apply(v as i64);
                }
            }
            MapPlan::Clamp(lo, hi) => {
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = v.clamp(*lo, *hi);
                }
            }
            MapPlan::Lut(table, lo) => {
                for (o, &v) in out.iter_mut().zip(x) {
                    // Values lie in the input's range, so the index is in the table.
                    *o = table[(v - lo) as usize];
                }
            }
        }
    }
}

/// `x >= 0 ? rq(x * pos) : rq(x * neg[c])` with `c` the index on axis 1.
pub struct PReluPlan {
    pos: Rq,
    neg: Vec<Rq>,
    /// Elements per index of axis 1 (1 when the slope is shared).
    inner: usize,
}

impl PReluPlan {
    pub fn new(x: &ValueInfo, out: &ValueInfo, pos_mult: i32, neg_mult: &[i32], shift: u8) -> PReluPlan {
        let inner = if neg_mult.len() == 1 { numel(&x.shape) } else { numel(&x.shape[2..]) };
        PReluPlan {
            pos: Rq::new(pos_mult, shift, out.bits),
            neg: neg_mult.iter().map(|&m| Rq::new(m, shift, out.bits)).collect(),
            inner,
        }
    }

    pub fn run(&self, x: &[i32], out: &mut [i32]) {
        let c = self.neg.len();
        for (i, (xs, os)) in x.chunks(self.inner).zip(out.chunks_mut(self.inner)).enumerate() {
            let neg = self.neg[i % c];
            for (o, &v) in os.iter_mut().zip(xs) {
                *o = if v >= 0 { self.pos.apply(v as i64) } else { neg.apply(v as i64) };
            }
        }
    }
}
