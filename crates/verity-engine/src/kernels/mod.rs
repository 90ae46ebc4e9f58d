//! Op kernels. Each `*Plan` is built once from the model (weights packed, constants
//! resolved) and its `run` writes every element of a preallocated output.

pub mod conv;
pub mod dot;
pub mod elementwise;
pub mod layout;
pub mod linear;
pub mod norm;
pub mod pairconv;
pub mod pool;
pub mod quant;
pub mod select;
pub mod simd;
pub mod strided;

/// Scratch sizes an op needs (elements).
#[derive(Clone, Copy, Default, Debug)]
pub struct Need {
    pub a: usize,
    pub b: usize,
    pub sums: usize,
    pub pairs: usize,
    pub x2: usize,
}

impl Need {
    pub fn max(self, o: Need) -> Need {
        Need {
            a: self.a.max(o.a),
            b: self.b.max(o.b),
            sums: self.sums.max(o.sums),
            pairs: self.pairs.max(o.pairs),
            x2: self.x2.max(o.x2),
        }
    }
}

/// Per-run scratch shared by all ops in turn: packed i16 operands and i64 sums for the
/// dot-product kernels; i16 phase planes (in `a`), pair planes and `x2` rows (i16
/// pairs in i32) for the pair GEMM (see [`simd`] and [`pairconv`]).
#[derive(Default)]
pub struct Scratch {
    pub a: Vec<i16>,
    pub b: Vec<i16>,
    pub sums: Vec<i64>,
    pub pairs: Vec<i32>,
    pub x2: Vec<i32>,
}

impl Scratch {
    pub fn new(need: Need) -> Scratch {
        Scratch {
            a: vec![0; need.a],
            b: vec![0; need.b],
            sums: vec![0; need.sums],
            pairs: vec![0; need.pairs],
            x2: vec![0; need.x2],
        }
    }
}
