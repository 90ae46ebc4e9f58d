//! The float graph: ONNX normalized into the shapes of canonical ops, with every shape
//! static and every constant sub-expression folded. Calibration runs it; quantization
//! lowers it op by op.
//!
//! Transcendental functions come from `libm` (pure Rust), not the platform C library,
//! so that importing the same ONNX file gives the same model id on every machine.

use crate::ftensor::{self as f, FTensor};
use verity_model::{CmpMode, InputAffine, Window};

/// Unary element-wise functions (lowered to clamps or lookup tables).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unary {
    Relu,
    LeakyRelu(f64),
    Clip(f64, f64),
    Sigmoid,
    Tanh,
    Erf,
    /// `tanh` selects the tanh approximation of GELU.
    Gelu {
        tanh: bool,
    },
    Exp,
    Elu(f64),
    /// `(alpha, gamma)`.
    Selu(f64, f64),
    Celu(f64),
    Softplus,
    Softsign,
    /// `(alpha, beta)`.
    HardSigmoid(f64, f64),
    HardSwish,
    Mish,
    Abs,
    Neg,
    Sign,
    Log,
    Reciprocal,
    Sqrt,
    Floor,
    Ceil,
    /// Half to even, as ONNX rounds.
    Round,
    /// `x^e` for a constant exponent.
    Pow(f64),
    /// The remainder by a constant divisor: with the dividend's sign (`fmod`, C's
    /// `fmod`), or with the divisor's (integer `Mod`, as Python's `%`).
    Mod {
        divisor: f64,
        fmod: bool,
    },
    /// `alpha * x + beta` (a recurrent op's `Affine` activation).
    Affine(f64, f64),
    /// `alpha * tanh(beta * x)` (a recurrent op's `ScaledTanh` activation).
    ScaledTanh(f64, f64),
    /// `x` where `x > alpha`, else 0.
    ThresholdedRelu(f64),
}

impl Unary {
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Unary::Relu => x.max(0.0),
            Unary::LeakyRelu(a) => {
                if x >= 0.0 {
                    x
                } else {
                    a * x
                }
            }
            Unary::Clip(lo, hi) => x.max(lo).min(hi),
            Unary::Sigmoid => 1.0 / (1.0 + libm::exp(-x)),
            Unary::Tanh => libm::tanh(x),
            Unary::Erf => libm::erf(x),
            Unary::Gelu { tanh: false } => 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2)),
            Unary::Gelu { tanh: true } => {
                let c = (2.0 / std::f64::consts::PI).sqrt();
                0.5 * x * (1.0 + libm::tanh(c * (x + 0.044715 * x * x * x)))
            }
            Unary::Exp => libm::exp(x),
            Unary::Elu(a) => elu(x, a),
            Unary::Selu(a, g) => g * if x > 0.0 { x } else { a * (libm::exp(x) - 1.0) },
            Unary::Celu(a) => x.max(0.0) + (a * (libm::exp(x / a) - 1.0)).min(0.0),
            Unary::Softplus => softplus(x),
            Unary::Softsign => x / (1.0 + x.abs()),
            Unary::HardSigmoid(a, b) => (a * x + b).clamp(0.0, 1.0),
            Unary::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            Unary::Mish => x * libm::tanh(softplus(x)),
            Unary::Abs => x.abs(),
            Unary::Neg => -x,
            Unary::Sign => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
            Unary::Log => libm::log(x),
            Unary::Reciprocal => 1.0 / x,
            Unary::Sqrt => libm::sqrt(x),
            Unary::Floor => x.floor(),
            Unary::Ceil => x.ceil(),
            Unary::Round => x.round_ties_even(),
            Unary::Pow(e) => libm::pow(x, e),
            Unary::Mod { divisor, fmod: true } => x % divisor,
            Unary::Mod { divisor, fmod: false } => x - divisor * (x / divisor).floor(),
            Unary::Affine(a, b) => a * x + b,
            Unary::ScaledTanh(a, b) => a * libm::tanh(b * x),
            Unary::ThresholdedRelu(a) => {
                if x > a {
                    x
                } else {
                    0.0
                }
            }
        }
    }
}

fn elu(x: f64, a: f64) -> f64 {
    if x > 0.0 {
        x
    } else {
        a * (libm::exp(x) - 1.0)
    }
}

/// `ln(1 + e^x)` without overflow for large `x`.
fn softplus(x: f64) -> f64 {
    if x > 30.0 {
        x
    } else {
        libm::log1p(libm::exp(x))
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FOp {
    /// `w` is `[n, k]` row-major, `b` has `n` entries.
    Linear {
        w: Vec<f64>,
        b: Vec<f64>,
    },
    Conv {
        w: Vec<f64>,
        b: Vec<f64>,
        window: Window,
        groups: usize,
    },
    MatMul,
    Binary(Binary),
    Unary(Unary),
    /// Per-channel (axis 1) slopes, or one slope.
    PRelu {
        slope: Vec<f64>,
    },
    Softmax {
        axis: usize,
    },
    LayerNorm {
        axis: usize,
        eps: f64,
        gamma: Vec<f64>,
        beta: Vec<f64>,
    },
    MaxPool {
        window: Window,
    },
    AvgPool {
        window: Window,
        count_include_pad: bool,
    },
    Reduce {
        axes: Vec<usize>,
        keep_dims: bool,
        mean: bool,
    },
    Reshape {
        shape: Vec<usize>,
    },
    Transpose {
        perm: Vec<usize>,
    },
    Concat {
        axis: usize,
    },
    Slice {
        axes: Vec<usize>,
        starts: Vec<i64>,
        ends: Vec<i64>,
        steps: Vec<i64>,
    },
    Gather {
        axis: usize,
        indices: Vec<usize>,
        indices_shape: Vec<usize>,
    },
    /// 1 where `a mode b`, else 0 (a boolean output).
    Compare(CmpMode),
    /// `cond != 0 ? a : b`, broadcast.
    Where,
    /// The index of the extreme element along `axis` (ArgMax, ArgMin).
    Arg {
        axis: usize,
        keep_dims: bool,
        min: bool,
        last: bool,
    },
}

impl FOp {
    /// Evaluates on real tensors; `None` when the operands do not fit the op.
    pub fn eval(&self, ins: &[&FTensor]) -> Option<FTensor> {
        let x = *ins.first()?;
        Some(match self {
            FOp::Linear { w, b } => {
                let k = *x.shape.last()?;
                (w.len() == b.len() * k).then_some(())?;
                f::linear(x, w, b)
            }
            FOp::Conv { w, b, window, groups } => {
                let (g, co) = (*groups, b.len());
                let fits = x.shape.len() == 4 && g > 0 && x.shape[1] % g == 0 && co % g == 0;
                (fits && w.len() == co * (x.shape[1] / g) * window.kernel[0] * window.kernel[1]).then_some(())?;
                f::conv(x, w, b, window, g)?
            }
            FOp::MatMul => f::matmul(x, ins.get(1)?)?,
            FOp::Binary(op) => {
                let y = ins.get(1)?;
                match op {
                    Binary::Add => f::binary(x, y, |a, b| a + b)?,
                    Binary::Sub => f::binary(x, y, |a, b| a - b)?,
                    Binary::Mul => f::binary(x, y, |a, b| a * b)?,
                    Binary::Div => f::binary(x, y, |a, b| a / b)?,
                }
            }
            FOp::Unary(u) => FTensor::new(x.shape.clone(), x.data.iter().map(|&v| u.apply(v)).collect()),
            FOp::PRelu { slope } => {
                let c = if x.shape.len() >= 2 { x.shape[1] } else { 1 };
                (slope.len() == 1 || slope.len() == c).then_some(())?;
                let inner: usize = x.shape.iter().skip(2).product();
                let data = x
                    .data
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| if v >= 0.0 { v } else { v * slope[if slope.len() == 1 { 0 } else { (i / inner) % c }] })
                    .collect();
                FTensor::new(x.shape.clone(), data)
            }
            FOp::Softmax { axis } => f::softmax(x, *axis),
            FOp::LayerNorm { axis, eps, gamma, beta } => {
                let n: usize = x.shape.get(*axis..)?.iter().product();
                (gamma.len() == n && beta.len() == n).then_some(())?;
                f::layer_norm(x, *axis, *eps, gamma, beta)
            }
            FOp::MaxPool { window } => f::pool(x, window, None)?,
            FOp::AvgPool { window, count_include_pad } => f::pool(x, window, Some(*count_include_pad))?,
            FOp::Reduce { axes, keep_dims, mean } => f::reduce(x, axes, *keep_dims, *mean),
            FOp::Reshape { shape } => FTensor::new(shape.clone(), x.data.clone()),
            FOp::Transpose { perm } => {
                let mut sorted = perm.clone();
                sorted.sort_unstable();
                (sorted == (0..x.shape.len()).collect::<Vec<_>>()).then_some(())?;
                f::transpose(x, perm)
            }
            FOp::Concat { axis } => f::concat(ins, *axis),
            FOp::Slice { axes, starts, ends, steps } => f::slice(x, axes, starts, ends, steps),
            FOp::Gather { axis, indices, indices_shape } => f::gather(x, *axis, indices, indices_shape),
            FOp::Compare(mode) => {
                let d = |a: f64, b: f64| if a < b { -1 } else { (a > b) as i64 };
                f::binary(x, ins.get(1)?, |a, b| mode.holds(d(a, b)) as u8 as f64)?
            }
            FOp::Where => {
                let (a, b) = (ins.get(1)?, ins.get(2)?);
                let on = f::binary(x, a, |c, a| if c != 0.0 { a } else { 0.0 })?;
                let off = f::binary(x, b, |c, b| if c != 0.0 { 0.0 } else { b })?;
                f::binary(&on, &off, |p, q| p + q)?
            }
            FOp::Arg { axis, keep_dims, min, last } => f::arg(x, *axis, *keep_dims, *min, *last)?,
        })
    }

    /// Ops whose output is a selection or reordering of input values (or a clamp that
    /// cannot widen the range): the output keeps its input's scale.
    pub fn keeps_scale(&self) -> bool {
        matches!(
            self,
            FOp::Unary(Unary::Relu | Unary::Clip(..))
                | FOp::PRelu { .. }
                | FOp::MaxPool { .. }
                | FOp::AvgPool { .. }
                | FOp::Reduce { mean: true, .. }
                | FOp::Reshape { .. }
                | FOp::Transpose { .. }
                | FOp::Slice { .. }
                | FOp::Gather { .. }
        )
    }
}

#[derive(Clone, Debug)]
pub struct FValue {
    pub name: String,
    pub shape: Vec<usize>,
    pub konst: Option<FTensor>,
}

#[derive(Clone, Debug)]
pub struct FNode {
    pub name: String,
    pub onnx_op: String,
    pub op: FOp,
    pub inputs: Vec<usize>,
    pub output: usize,
}

#[derive(Clone, Debug, Default)]
pub struct FGraph {
    pub values: Vec<FValue>,
    pub nodes: Vec<FNode>,
    pub inputs: Vec<usize>,
    /// Element-wise affine maps folded out of the graph into input quantization.
    pub input_affine: Vec<InputAffine>,
    /// Per input: its ONNX type is boolean (`Some(8)`) or integer (`Some(16)`), so it is
    /// quantized exactly, at scale 1 and that width, instead of at a calibrated scale.
    pub input_int_bits: Vec<Option<u8>>,
    /// Values whose range is fixed at import time instead of calibrated: a tree
    /// ensemble's input, whose affine map puts every threshold inside it (values beyond
    /// clamp, which changes no comparison), and its scores, whose extremes are the sums
    /// of each tree's extreme leaves (so no row, seen in calibration or not, saturates).
    pub fixed_range: Vec<(usize, f64)>,
    pub outputs: Vec<usize>,
    /// `(value, factor, cap)`: the value's calibrated range is widened by `factor`, to at
    /// most `cap` (a bound it cannot exceed). Unrolled recurrent steps have these: a
    /// later step's tails are rarely reached by calibration, and a value clamped at one
    /// step carries its error into every later one.
    pub headroom: Vec<(usize, f64, f64)>,
}

impl FGraph {
    /// Runs the graph on one sample per input; returns every value (constants included).
    pub fn run(&self, inputs: &[FTensor]) -> Vec<Option<FTensor>> {
        let mut vals: Vec<Option<FTensor>> = self.values.iter().map(|v| v.konst.clone()).collect();
        for ((&id, t), a) in self.inputs.iter().zip(inputs).zip(&self.input_affine) {
            vals[id] = Some(apply_affine(a, t));
        }
        for n in &self.nodes {
            let ins: Vec<&FTensor> = n.inputs.iter().map(|&i| vals[i].as_ref().expect("topological order")).collect();
            vals[n.output] = Some(n.op.eval(&ins).expect("shapes checked at build time"));
        }
        vals
    }
}

/// `x * mul + add` element-wise, exactly as input quantization computes it.
pub fn apply_affine(a: &InputAffine, t: &FTensor) -> FTensor {
    let data = t
        .data
        .iter()
        .enumerate()
        .map(|(j, &x)| x * a.mul.get(j).copied().unwrap_or(1.0) + a.add.get(j).copied().unwrap_or(0.0))
        .collect();
    FTensor::new(t.shape.clone(), data)
}
