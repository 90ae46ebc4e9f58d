//! The canonical op set. Every op reads integer tensors and writes one integer tensor;
//! `docs/semantics.md` gives the exact definition of each.

/// Fixed-point rescaling `clamp(rshift_round(acc * mult[c], shift[c]))`, either one
/// pair for the whole tensor or one pair per output channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requant {
    pub mult: Vec<i32>,
    pub shift: Vec<u8>,
}

impl Requant {
    pub fn uniform(mult: i32, shift: u8) -> Self {
        Requant { mult: vec![mult], shift: vec![shift] }
    }
    /// The (multiplier, shift) pair for channel `c`.
    pub fn at(&self, c: usize) -> (i32, u8) {
        if self.mult.len() == 1 {
            (self.mult[0], self.shift[0])
        } else {
            (self.mult[c], self.shift[c])
        }
    }
}

/// 2-D window geometry shared by Conv and the pools (NCHW layout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// top, left, bottom, right
    pub pads: [usize; 4],
    pub dilation: [usize; 2],
}

impl Window {
    /// Output spatial size for an input of `h` x `w`, or `None` if the window does not fit.
    pub fn out_size(&self, h: usize, w: usize) -> Option<[usize; 2]> {
        let dim = |len: usize, i: usize| {
            let padded = len + self.pads[i] + self.pads[i + 2];
            let span = self.dilation[i] * (self.kernel[i] - 1) + 1;
            (padded >= span && self.stride[i] > 0).then(|| (padded - span) / self.stride[i] + 1)
        };
        Some([dim(h, 0)?, dim(w, 1)?])
    }
}

/// How `Compare` relates its operands: by the sign of `d = a·mult_a − b·mult_b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpMode {
    Less,
    LessEq,
    Greater,
    GreaterEq,
    Equal,
}

impl CmpMode {
    pub const ALL: [CmpMode; 5] = [CmpMode::Less, CmpMode::LessEq, CmpMode::Greater, CmpMode::GreaterEq, CmpMode::Equal];

    pub fn holds(self, d: i64) -> bool {
        match self {
            CmpMode::Less => d < 0,
            CmpMode::LessEq => d <= 0,
            CmpMode::Greater => d > 0,
            CmpMode::GreaterEq => d >= 0,
            CmpMode::Equal => d == 0,
        }
    }

    /// The encoding's mode byte.
    pub fn code(self) -> u8 {
        CmpMode::ALL.iter().position(|&m| m == self).expect("listed") as u8
    }

    pub fn from_code(c: u8) -> Option<CmpMode> {
        CmpMode::ALL.get(c as usize).copied()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// A constant tensor (its shape is the output value's shape).
    Const {
        data: Vec<i32>,
    },
    /// `y[.., n] = rq_n(bias[n] + sum_k x[.., k] * weight[n, k])`; weight is `[n_out, k]`.
    Linear {
        weight: Vec<i8>,
        bias: Vec<i32>,
        rq: Requant,
    },
    /// 2-D convolution, NCHW; weight is `[c_out, c_in / groups, kh, kw]`.
    Conv {
        weight: Vec<i8>,
        bias: Vec<i32>,
        window: Window,
        groups: usize,
        rq: Requant,
    },
    /// Product of two activations `[.., m, k] x [.., k, n]` (batch dims broadcast).
    MatMul {
        rq: Requant,
    },
    /// `clamp(rshift_round(a * mult_a + b * mult_b, shift))`, numpy broadcasting.
    Add {
        mult_a: i32,
        mult_b: i32,
        shift: u8,
    },
    /// `clamp(rshift_round(a * b * mult, shift))`, numpy broadcasting.
    Mul {
        mult: i32,
        shift: u8,
    },
    /// `clamp(div_round(a * mult, b * 2^shift))`, with `b == 0` giving `±qmax` or 0.
    Div {
        mult: i32,
        shift: u8,
    },
    /// `clamp(rshift_round(x * mult, shift))`.
    Rescale {
        mult: i32,
        shift: u8,
    },
    /// `min(max(x, lo), hi)`.
    Clamp {
        lo: i32,
        hi: i32,
    },
    /// `table[x - qmin(in_bits)]`: any unary function of a bounded integer.
    Lut {
        table: Vec<i32>,
    },
    /// `x >= 0 ? rq(x * pos_mult) : rq(x * neg_mult[c])`, c = index on axis 1.
    PRelu {
        pos_mult: i32,
        neg_mult: Vec<i32>,
        shift: u8,
    },
    MaxPool {
        window: Window,
    },
    /// Window sum, then `clamp(div_round(sum * mult, count * 2^shift))`.
    AvgPool {
        window: Window,
        count_include_pad: bool,
        mult: i32,
        shift: u8,
    },
    /// Sum over `axes`; `clamp(div_round(sum * mult, count * 2^shift))` where count is
    /// the number of summed elements for a mean and 1 for a sum.
    Reduce {
        axes: Vec<usize>,
        keep_dims: bool,
        mean: bool,
        mult: i32,
        shift: u8,
    },
    /// `e = exp_table[max - x]` along `axis`, `y = clamp(div_round(e * qmax_out, sum e))`.
    Softmax {
        axis: usize,
        exp_table: Vec<i32>,
    },
    /// Normalization over the axes `axis..`, see docs/semantics.md.
    LayerNorm {
        axis: usize,
        eps: i64,
        frac_bits: u8,
        gamma: Vec<i64>,
        beta: Vec<i64>,
        shift: u8,
    },
    /// Same data, the output value's shape.
    Reshape,
    Transpose {
        perm: Vec<usize>,
    },
    /// Inputs share one scale and bit width (the importer rescales them).
    Concat {
        axis: usize,
    },
    /// Per listed axis: `start`, exclusive `end` and nonzero `step`, already clamped.
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
    /// `mode(a * mult_a - b * mult_b) ? 1 : 0` (exact, in i64), numpy broadcasting: a
    /// boolean output, so two scales compare without a rounding rescale between them.
    Compare {
        mode: CmpMode,
        mult_a: i32,
        mult_b: i32,
    },
    /// `cond != 0 ? a : b` over inputs `[cond, a, b]`, numpy broadcasting; `a`, `b` and the
    /// output share one bit width (and, by the importer, one scale).
    Where,
    /// The index along `axis` of the largest element (`min`: the smallest); a tie goes to
    /// the first such index (`last`: the last). ONNX ArgMax and ArgMin.
    Arg {
        axis: usize,
        keep_dims: bool,
        min: bool,
        last: bool,
    },
}

impl Op {
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Const { .. } => "Const",
            Op::Linear { .. } => "Linear",
            Op::Conv { .. } => "Conv",
            Op::MatMul { .. } => "MatMul",
            Op::Add { .. } => "Add",
            Op::Mul { .. } => "Mul",
            Op::Div { .. } => "Div",
            Op::Rescale { .. } => "Rescale",
            Op::Clamp { .. } => "Clamp",
            Op::Lut { .. } => "Lut",
            Op::PRelu { .. } => "PRelu",
            Op::MaxPool { .. } => "MaxPool",
            Op::AvgPool { .. } => "AvgPool",
            Op::Reduce { .. } => "Reduce",
            Op::Softmax { .. } => "Softmax",
            Op::LayerNorm { .. } => "LayerNorm",
            Op::Reshape => "Reshape",
            Op::Transpose { .. } => "Transpose",
            Op::Concat { .. } => "Concat",
            Op::Slice { .. } => "Slice",
            Op::Gather { .. } => "Gather",
            Op::Compare { .. } => "Compare",
            Op::Where => "Where",
            Op::Arg { .. } => "Arg",
        }
    }

    /// Number of stored parameters (weights, biases, tables, constants).
    pub fn param_count(&self) -> usize {
        match self {
            Op::Const { data } => data.len(),
            Op::Linear { weight, bias, .. } | Op::Conv { weight, bias, .. } => weight.len() + bias.len(),
            Op::Lut { table } | Op::Softmax { exp_table: table, .. } => table.len(),
            Op::PRelu { neg_mult, .. } => neg_mult.len() + 1,
            Op::LayerNorm { gamma, beta, .. } => gamma.len() + beta.len(),
            _ => 0,
        }
    }
}
