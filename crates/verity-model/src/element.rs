//! The semantics of one output element. Every op's output element `j` is a function
//! of a few input elements (its *operands*) and the op's parameters. The reference
//! interpreter evaluates every element this way, and a dispute referee evaluates the
//! single disputed element the same way, from Merkle-proven operands alone.

use crate::arith::{clamp_bits, div_round, isqrt, qrange, requant, rshift_round};
use crate::graph::ValueInfo;
use crate::ops::Op;
use crate::shape::{broadcast_strides, gather_source, lane, numel, slice_source, strides, window_taps as taps};

/// An op together with the types of its inputs and output.
#[derive(Clone, Copy)]
pub struct OpContext<'a> {
    pub op: &'a Op,
    pub inputs: &'a [&'a ValueInfo],
    pub output: &'a ValueInfo,
}

/// One operand: element `index` (row-major) of input `slot`.
pub type Operand = (usize, usize);

fn unravel(mut j: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = j % shape[d];
        j /= shape[d];
    }
    idx
}

fn dot(i: &[usize], s: &[usize]) -> usize {
    i.iter().zip(s).map(|(a, b)| a * b).sum()
}

/// The input elements that output element `j` depends on, in the order `eval` wants them.
pub fn operands(cx: OpContext, j: usize) -> Vec<Operand> {
    let out = &cx.output.shape;
    let x = cx.inputs.first().map(|v| v.shape.as_slice()).unwrap_or(&[]);
    let o = unravel(j, out);
    match cx.op {
        Op::Const { .. } => vec![],
        Op::Linear { bias, .. } => {
            let (k, n) = (*x.last().unwrap(), bias.len());
            (0..k).map(|t| (0, (j / n) * k + t)).collect()
        }
        Op::Conv { bias, window, groups, .. } => {
            let (cig, cog) = (x[1] / groups, bias.len() / groups);
            let xs = strides(x);
            let g = o[1] / cog;
            (0..cig)
                .flat_map(|ic| taps(window, x[2], x[3], o[2], o[3]).map(move |(_, _, y, xx)| (ic, y, xx)))
                .map(|(ic, y, xx)| (0, dot(&[o[0], g * cig + ic, y, xx], &xs)))
                .collect()
        }
        Op::MatMul { .. } => {
            let b = &cx.inputs[1].shape;
            let r = out.len();
            let (m, k, n) = (x[x.len() - 2], x[x.len() - 1], b[b.len() - 1]);
            let a_off = dot(&o[..r - 2], &broadcast_strides(&x[..x.len() - 2], &out[..r - 2])) * m * k;
            let b_off = dot(&o[..r - 2], &broadcast_strides(&b[..b.len() - 2], &out[..r - 2])) * k * n;
            let (i, jj) = (o[r - 2], o[r - 1]);
            (0..k).map(|t| (0, a_off + i * k + t)).chain((0..k).map(|t| (1, b_off + t * n + jj))).collect()
        }
        Op::Add { .. } | Op::Mul { .. } | Op::Div { .. } | Op::Compare { .. } | Op::Where => {
            (0..cx.inputs.len()).map(|s| (s, dot(&o, &broadcast_strides(&cx.inputs[s].shape, out)))).collect()
        }
        Op::Arg { axis, .. } => {
            // `j` indexes the keep-dims shape too; its element 0 of the lane is the base.
            let mut at = unravel(j, &crate::shape::reduce(x, &[*axis], true));
            at[*axis] = 0;
            lane(x, *axis, dot(&at, &strides(x))).map(|i| (0, i)).collect()
        }
        Op::Rescale { .. } | Op::Clamp { .. } | Op::Lut { .. } | Op::PRelu { .. } | Op::Reshape => vec![(0, j)],
        Op::MaxPool { window } | Op::AvgPool { window, .. } => {
            let xs = strides(x);
            taps(window, x[2], x[3], o[2], o[3]).map(|(_, _, y, xx)| (0, dot(&[o[0], o[1], y, xx], &xs))).collect()
        }
        Op::Reduce { axes, .. } => {
            let xs = strides(x);
            let kept: Vec<usize> = crate::shape::reduce(x, axes, true);
            // Dropping size-1 axes keeps row-major order, so `j` indexes the keep-dims shape too.
            let at = unravel(j, &kept);
            let red: Vec<usize> = axes.iter().map(|&a| x[a]).collect();
            (0..numel(&red))
                .map(|r| {
                    let ri = unravel(r, &red);
                    let mut full = at.clone();
                    axes.iter().zip(&ri).for_each(|(&a, &v)| full[a] = v);
                    (0, dot(&full, &xs))
                })
                .collect()
        }
        Op::Softmax { axis, .. } => lane(x, *axis, j).map(|i| (0, i)).collect(),
        Op::LayerNorm { axis, .. } => {
            let n = numel(&x[*axis..]);
            (j / n * n..j / n * n + n).map(|i| (0, i)).collect()
        }
        Op::Transpose { perm } => {
            let xs = strides(x);
            vec![(0, perm.iter().enumerate().map(|(d, &p)| o[d] * xs[p]).sum())]
        }
        Op::Concat { axis } => {
            let mut at = o[*axis];
            for (slot, v) in cx.inputs.iter().enumerate() {
                if at < v.shape[*axis] {
                    let mut src = o.clone();
                    src[*axis] = at;
                    return vec![(slot, dot(&src, &strides(&v.shape)))];
                }
                at -= v.shape[*axis];
            }
            unreachable!("validated concat shapes")
        }
        Op::Slice { axes, starts, steps, .. } => vec![(0, slice_source(&o, axes, starts, steps, &strides(x)))],
        Op::Gather { axis, indices, indices_shape } => {
            vec![(0, dot(&gather_source(&o, *axis, indices, indices_shape), &strides(x)))]
        }
    }
}

/// Output element `j`, from the values of `operands(cx, j)` in order.
pub fn eval(cx: OpContext, j: usize, v: &[i32]) -> i32 {
    let bits = cx.output.bits;
    let out = &cx.output.shape;
    let o = || unravel(j, out);
    let wide = |i: usize| v[i] as i64;
    match cx.op {
        Op::Const { data } => data[j],
        Op::Linear { weight, bias, rq } => {
            let (n, k) = (bias.len(), v.len());
            let c = j % n;
            let acc = bias[c] as i64 + (0..k).map(|t| wide(t) * weight[c * k + t] as i64).sum::<i64>();
            let (m, s) = rq.at(c);
            requant(acc, m, s, bits)
        }
        Op::Conv { weight, bias, window, groups, rq } => {
            let x = &cx.inputs[0].shape;
            let o = o();
            let (oc, cig) = (o[1], x[1] / groups);
            let [kh, kw] = window.kernel;
            let mut acc = bias[oc] as i64;
            let mut at = 0;
            for ic in 0..cig {
                for (ky, kx, _, _) in taps(window, x[2], x[3], o[2], o[3]) {
                    acc += wide(at) * weight[((oc * cig + ic) * kh + ky) * kw + kx] as i64;
                    at += 1;
                }
            }
            let (m, s) = rq.at(oc);
            requant(acc, m, s, bits)
        }
        Op::MatMul { rq } => {
            let k = v.len() / 2;
            let acc: i64 = (0..k).map(|t| wide(t) * wide(k + t)).sum();
            let (m, s) = rq.at(0);
            requant(acc, m, s, bits)
        }
        Op::Add { mult_a, mult_b, shift } => {
            clamp_bits(rshift_round(wide(0) * *mult_a as i64 + wide(1) * *mult_b as i64, *shift), bits)
        }
        Op::Mul { mult, shift } => clamp_bits(rshift_round(wide(0) * wide(1) * *mult as i64, *shift), bits),
        Op::Div { mult, shift } => {
            let (a, b) = (wide(0), wide(1));
            let (lo, hi) = qrange(bits);
            let y = if b == 0 {
                match a.signum() * (*mult as i64).signum() {
                    1 => hi,
                    -1 => lo,
                    _ => 0,
                }
            } else {
                div_round((a * *mult as i64) as i128 * b.signum() as i128, (b.abs() as i128) << shift) as i64
            };
            clamp_bits(y, bits)
        }
        Op::Rescale { mult, shift } => requant(wide(0), *mult, *shift, bits),
        Op::Clamp { lo, hi } => v[0].clamp(*lo, *hi),
        Op::Lut { table } => table[(wide(0) - qrange(cx.inputs[0].bits).0) as usize],
        Op::PRelu { pos_mult, neg_mult, shift } => {
            let c = if neg_mult.len() == 1 { 0 } else { o()[1] };
            requant(wide(0), if v[0] >= 0 { *pos_mult } else { neg_mult[c] }, *shift, bits)
        }
        Op::MaxPool { .. } => *v.iter().max().expect("a window always has a tap"),
        Op::AvgPool { window, count_include_pad, mult, shift } => {
            let sum: i64 = v.iter().map(|&x| x as i64).sum();
            let count = if *count_include_pad { window.kernel[0] * window.kernel[1] } else { v.len() } as i128;
            clamp_bits(div_round(sum as i128 * *mult as i128, count << shift) as i64, bits)
        }
        Op::Reduce { mean, mult, shift, .. } => {
            let sum: i64 = v.iter().map(|&x| x as i64).sum();
            let count = if *mean { v.len() as i128 } else { 1 };
            clamp_bits(div_round(sum as i128 * *mult as i128, count << shift) as i64, bits)
        }
        Op::Softmax { axis, exp_table } => {
            let pos = j / strides(out)[*axis] % out[*axis];
            let max = *v.iter().max().unwrap();
            let e = |x: i32| exp_table[(max - x) as usize] as i128;
            let sum: i128 = v.iter().map(|&x| e(x)).sum();
            clamp_bits(div_round(e(v[pos]) * qrange(bits).1 as i128, sum) as i64, bits)
        }
        Op::LayerNorm { eps, frac_bits, gamma, beta, shift, .. } => {
            let n = v.len();
            let i = j % n;
            let sum: i128 = v.iter().map(|&x| x as i128).sum();
            let d = |x: i32| n as i128 * x as i128 - sum;
            let ss: i128 = v.iter().map(|&x| d(x) * d(x)).sum();
            let den = isqrt(((ss + *eps as i128) / n as i128) as u128) as i128;
            let z = if den == 0 { 0 } else { div_round(d(v[i]) << frac_bits, den) };
            clamp_bits(rshift_round((z * gamma[i] as i128 + beta[i] as i128) as i64, *shift), bits)
        }
        Op::Reshape | Op::Transpose { .. } | Op::Concat { .. } | Op::Slice { .. } | Op::Gather { .. } => v[0],
        Op::Compare { mode, mult_a, mult_b } => mode.holds(wide(0) * *mult_a as i64 - wide(1) * *mult_b as i64) as i32,
        Op::Where => {
            if v[0] != 0 {
                v[1]
            } else {
                v[2]
            }
        }
        Op::Arg { min, last, .. } => {
            let mut best = 0;
            for (i, &x) in v.iter().enumerate() {
                let (b, x) = if *min { (-(v[best] as i64), -(x as i64)) } else { (v[best] as i64, x as i64) };
                if x > b || (*last && x == b) {
                    best = i;
                }
            }
            best as i32
        }
    }
}
