//! Op kernels. Each `*Plan` is built once from the model (weights packed, constants
//! resolved) and its `run` writes every element of a preallocated output.

pub mod conv;
pub mod dot;
pub mod elementwise;
pub mod layout;
pub mod linear;
pub mod norm;
pub mod pool;
pub mod quant;
pub mod strided;

/// Scratch sizes an op needs (elements).
#[derive(Clone, Copy, Default, Debug)]
pub struct Need {
    pub a: usize,
    pub b: usize,
    pub sums: usize,
}

impl Need {
    pub fn max(self, o: Need) -> Need {
        Need { a: self.a.max(o.a), b: self.b.max(o.b), sums: self.sums.max(o.sums) }
    }
}

/// Per-run scratch shared by all ops in turn: packed i16 operands and i64 sums.
#[derive(Default)]
pub struct Scratch {
    pub a: Vec<i16>,
    pub b: Vec<i16>,
    pub sums: Vec<i64>,
}

impl Scratch {
    pub fn new(need: Need) -> Scratch {
        Scratch { a: vec![0; need.a], b: vec![0; need.b], sums: vec![0; need.sums] }
    }
}
