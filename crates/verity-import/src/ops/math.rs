//! Arithmetic: the binary ops, matrix products, and element-wise math functions. The
//! functions are lookup tables (`Lut`) over the quantized input, computed from the
//! float function at the input and output scales; Max/Min against a constant are
//! clamps.

use crate::error::Result;
use crate::fgraph::{Binary, FOp, Unary};
use crate::ftensor::FTensor;
use crate::translate::{checked_numel, Builder, Cx, Out};
use verity_model::shape::broadcast;

pub fn binary(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let (p, q) = (cx.x()?, cx.input(1)?);
    let kind = match cx.op {
        "Add" => Binary::Add,
        "Sub" => Binary::Sub,
        "Mul" => Binary::Mul,
        _ => Binary::Div,
    };
    Ok(if let Some(id) = b.fold_into_input(kind, p, q, cx.node.output.first().map_or("", String::as_str)) {
        Out::Alias(id)
    } else if let (Binary::Add, Some(id)) = (kind, b.fold_bias(p, q).or_else(|| b.fold_bias(q, p))) {
        Out::Alias(id)
    } else if let (Binary::Div, Some(c), None) = (kind, b.konst(q), b.konst(p)) {
        // Division by a constant is multiplication by its reciprocal.
        let r = FTensor::new(c.shape.clone(), c.data.iter().map(|v| 1.0 / v).collect());
        if r.data.iter().any(|v| !v.is_finite()) {
            return Err(cx.fail("division by a constant zero"));
        }
        let rv = b.add_const(&format!("{}/reciprocal", cx.name), r);
        Out::Node(FOp::Binary(Binary::Mul), vec![p, rv])
    } else {
        Out::Node(FOp::Binary(kind), vec![p, q])
    })
}

pub fn gemm(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let (p, q) = (cx.x()?, cx.input(1)?);
    if b.konst(p).is_some() && b.konst(q).is_none() {
        return gemm_constant_left(b, cx, p, q);
    }
    let x = p;
    if cx.a.int("transA", 0) != 0 {
        return Err(cx.fail("transA=1 with a run-time A is not supported"));
    }
    let w = cx.konst_in(1, "weight")?;
    if w.shape.len() != 2 {
        return Err(cx.fail(format!("weight must be a matrix, got shape {:?}", w.shape)));
    }
    let (alpha, beta) = (cx.a.float("alpha", 1.0), cx.a.float("beta", 1.0));
    let wt = if cx.a.int("transB", 0) != 0 { w } else { crate::ftensor::transpose(&w, &[1, 0]) };
    let (n, k) = (wt.shape[0], wt.shape[1]);
    if cx.shape_of(x).len() != 2 || cx.shape_of(x)[1] != k {
        return Err(cx.fail(format!("input {:?} does not fit weight [{n}, {k}]", cx.shape_of(x))));
    }
    let bias = match cx.opt(2) {
        None => vec![0.0; n],
        Some(c) => {
            let c = b.konst(c).ok_or_else(|| cx.fail("bias C must be a constant"))?;
            match c.data.len() {
                1 => vec![beta * c.data[0]; n],
                l if l == n => c.data.iter().map(|v| beta * v).collect(),
                _ => return Err(cx.fail(format!("bias shape {:?} is not [{n}]", c.shape))),
            }
        }
    };
    Ok(Out::Node(FOp::Linear { w: wt.data.iter().map(|v| alpha * v).collect(), b: bias }, vec![x]))
}

/// Gemm with a constant A and a run-time B (hummingbird's `W · Xᵀ`): `A'·B' = (B'ᵀ·A'ᵀ)ᵀ`,
/// a Linear of `B'ᵀ` whose weight rows are the rows of `A'`, between Transposes. C may be
/// one number or one per row of the output.
fn gemm_constant_left(b: &mut Builder, cx: &Cx, p: usize, q: usize) -> Result<Out> {
    let a = b.konst(p).cloned().expect("checked constant");
    if a.shape.len() != 2 || cx.shape_of(q).len() != 2 {
        return Err(cx.fail(format!("A {:?} and B {:?} must be matrices", a.shape, cx.shape_of(q))));
    }
    let a = if cx.a.int("transA", 0) != 0 { crate::ftensor::transpose(&a, &[1, 0]) } else { a };
    let trans_b = cx.a.int("transB", 0) != 0;
    let (n, k) = (a.shape[0], a.shape[1]);
    let bs = cx.shape_of(q);
    // B'ᵀ, the Linear's input: B itself when transB is set, else B transposed.
    let (bk, m) = if trans_b { (bs[1], bs[0]) } else { (bs[0], bs[1]) };
    if bk != k {
        return Err(cx.fail(format!("A {:?} does not fit B {bs:?}", a.shape)));
    }
    let (alpha, beta) = (cx.a.float("alpha", 1.0), cx.a.float("beta", 1.0));
    let bias = match cx.konst_opt(2, "bias C")? {
        None => vec![0.0; n],
        Some(c) if c.data.len() == 1 => vec![beta * c.data[0]; n],
        Some(c) if c.data.len() == n && (c.shape == [n, 1] || (m == 1 && c.shape == [n])) => {
            c.data.iter().map(|v| beta * v).collect()
        }
        Some(c) => return Err(cx.fail(format!("bias C of shape {:?} is not one value per output row ({n})", c.shape))),
    };
    let input = if trans_b { q } else { b.push(cx.name, cx.op, FOp::Transpose { perm: vec![1, 0] }, vec![q], &cx.part("bt"))? };
    let w = a.data.iter().map(|v| alpha * v).collect();
    let y = b.push(cx.name, cx.op, FOp::Linear { w, b: bias }, vec![input], &cx.part("product"))?;
    debug_assert_eq!(b.shape(y), [m, n]);
    Ok(Out::Node(FOp::Transpose { perm: vec![1, 0] }, vec![y]))
}

pub fn matmul(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let (x, y) = (cx.x()?, cx.input(1)?);
    Ok(match b.konst(y) {
        Some(w) if w.shape.len() == 2 && b.konst(x).is_none() => {
            let wt = crate::ftensor::transpose(w, &[1, 0]);
            Out::Node(FOp::Linear { b: vec![0.0; wt.shape[0]], w: wt.data }, vec![x])
        }
        _ => Out::Node(FOp::MatMul, vec![x, y]),
    })
}

/// One value if every element of `t` equals it.
fn uniform(t: &FTensor) -> Option<f64> {
    let v = *t.data.first()?;
    t.data.iter().all(|&u| u == v || (u.is_nan() && v.is_nan())).then_some(v)
}

/// A table or clamp of `x` has `x`'s shape: a constant operand may broadcast into it but
/// not widen it.
fn fits(cx: &Cx, x: usize, c: &FTensor, what: &str) -> Result<()> {
    let xs = cx.shape_of(x);
    match broadcast(&xs, &c.shape) {
        Ok(s) if s == xs => Ok(()),
        _ => Err(cx.fail(format!("{what} of shape {:?} does not broadcast into the input's shape {xs:?}", c.shape))),
    }
}

/// Pow with a constant exponent (one value for every element) is a table over `x`.
pub fn pow(_: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let e = cx.konst_in(1, "exponent")?;
    fits(cx, x, &e, "the exponent")?;
    let e = uniform(&e).ok_or_else(|| cx.fail(format!("the exponent must be one value, got shape {:?}", e.shape)))?;
    if !e.is_finite() {
        return Err(cx.fail("the exponent is not finite"));
    }
    Ok(Out::Node(FOp::Unary(Unary::Pow(e)), vec![x]))
}

/// Max/Min: constants that are one value fold into a clamp of the first run-time operand
/// (exact: it clamps at the quantized bound); run-time operands are combined pairwise
/// with a Compare and a Where.
pub fn max_min(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let ids: Vec<usize> = (0..cx.n_inputs()).map(|i| cx.input(i)).collect::<Result<_>>()?;
    if ids.is_empty() {
        return Err(cx.fail("no inputs"));
    }
    let live: Vec<usize> = ids.iter().copied().filter(|&id| b.konst(id).is_none()).collect();
    let max = cx.op == "Max";
    if live.is_empty() {
        // All constant (a shape computation): folded, with broadcasting.
        let mut acc = b.konst(ids[0]).cloned().ok_or_else(|| cx.fail("missing input 0"))?;
        for &id in &ids[1..] {
            let t = b.konst(id).ok_or_else(|| cx.fail("missing input"))?;
            let shape = broadcast(&acc.shape, &t.shape).ok().filter(|s| checked_numel(s).is_some());
            if shape.is_none() {
                return Err(cx.fail(format!("shapes {:?} and {:?} do not broadcast to a supported size", acc.shape, t.shape)));
            }
            acc = crate::ftensor::binary(&acc, t, |p, q| if max { p.max(q) } else { p.min(q) })
                .ok_or_else(|| cx.fail(format!("shapes {:?} and {:?} do not broadcast", acc.shape, t.shape)))?;
        }
        return Ok(Out::Const(acc));
    }
    // Constants fold into one clamp of the first run-time operand (max is associative).
    let mut x = live[0];
    let mut bound = None::<f64>;
    for (i, &id) in ids.iter().enumerate() {
        let Some(t) = b.konst(id) else { continue };
        fits(cx, x, t, &format!("constant operand {i}"))?;
        let v = uniform(t)
            .filter(|v| !v.is_nan())
            .ok_or_else(|| cx.fail(format!("constant operand {i} must be one number, got shape {:?}", t.shape)))?;
        bound = Some(bound.map_or(v, |c| if max { c.max(v) } else { c.min(v) }));
    }
    if let Some(c) = bound {
        let clip = FOp::Unary(if max { Unary::Clip(c, f64::INFINITY) } else { Unary::Clip(f64::NEG_INFINITY, c) });
        if live.len() == 1 {
            return Ok(Out::Node(clip, vec![x]));
        }
        x = b.push(cx.name, cx.op, clip, vec![x], &cx.part("clamp"))?;
    }
    // Run-time operands pairwise: max(p, q) = p > q ? p : q (min: p < q).
    let mode = if max { verity_model::CmpMode::Greater } else { verity_model::CmpMode::Less };
    for (k, &q) in live.iter().enumerate().skip(1) {
        let c = b.push(cx.name, cx.op, FOp::Compare(mode), vec![x, q], &cx.part(&format!("compare {k}")))?;
        if k + 1 == live.len() {
            return Ok(Out::Node(FOp::Where, vec![c, x, q]));
        }
        x = b.push(cx.name, cx.op, FOp::Where, vec![c, x, q], &cx.part(&format!("select {k}")))?;
    }
    Ok(Out::Alias(x))
}

/// Tangent lines of the unit circle at these angles (degrees, between 0 and 45) bound
/// `hypot(m, n)` from below for `0 ≤ n ≤ m`, within `1 − cos h` (h half their spacing);
/// scaled by `2 / (1 + cos h)`, their maximum is within ±0.16% of it.
const HYPOT_ANGLES: [f64; 5] = [4.5, 13.5, 22.5, 31.5, 40.5];

/// `√(p² + q²)` without its squares: in fixed point a square spends the value's range
/// twice, so a small magnitude (a quiet frame of a spectrogram) would round to 0. Instead
/// `m = max(|p|, |q|)` and `n = min(|p|, |q|)` (exact selections) go through a Linear
/// to the tangent lines of [`HYPOT_ANGLES`], whose maximum is the magnitude.
fn hypot(b: &mut Builder, cx: &Cx, p: usize, q: usize) -> Result<Out> {
    let s = b.shape(p);
    if b.shape(q) != s {
        return Err(cx.fail(format!("the squared operands have shapes {s:?} and {:?}", b.shape(q))));
    }
    let push = |b: &mut Builder, op: FOp, ins: Vec<usize>, what: &str| b.push(cx.name, cx.op, op, ins, &cx.part(what));
    let ap = push(b, FOp::Unary(Unary::Abs), vec![p], "abs p")?;
    let aq = push(b, FOp::Unary(Unary::Abs), vec![q], "abs q")?;
    let c = push(b, FOp::Compare(verity_model::CmpMode::Greater), vec![ap, aq], "p wins")?;
    let m = push(b, FOp::Where, vec![c, ap, aq], "max")?;
    let n = push(b, FOp::Where, vec![c, aq, ap], "min")?;
    let mut col = s.clone();
    col.push(1);
    let m = push(b, FOp::Reshape { shape: col.clone() }, vec![m], "max column")?;
    let n = push(b, FOp::Reshape { shape: col }, vec![n], "min column")?;
    let pair = push(b, FOp::Concat { axis: s.len() }, vec![m, n], "pair")?;
    let half = (HYPOT_ANGLES[1] - HYPOT_ANGLES[0]).to_radians() / 2.0;
    let k = 2.0 / (1.0 + half.cos());
    let w = HYPOT_ANGLES.iter().flat_map(|a| [k * a.to_radians().cos(), k * a.to_radians().sin()]).collect();
    let lines = push(b, FOp::Linear { w, b: vec![0.0; HYPOT_ANGLES.len()] }, vec![pair], "tangents")?;
    let mut wide = s.clone();
    wide.push(HYPOT_ANGLES.len());
    let steps = crate::ops::reduce::max_steps(cx, &wide, &[s.len()], false)?;
    crate::ops::array::chain(b, cx, lines, steps)
}

/// Element-wise math functions of one input, each a lookup table.
pub fn unary(b: &mut Builder, cx: &Cx) -> Result<Out> {
    if cx.op == "Sqrt" {
        if let Some((p, q)) = b.sum_of_squares(cx.x()?) {
            return hypot(b, cx, p, q);
        }
    }
    let u = match cx.op {
        "Exp" => Unary::Exp,
        "Erf" => Unary::Erf,
        "Abs" => Unary::Abs,
        "Neg" => Unary::Neg,
        "Sign" => Unary::Sign,
        "Log" => Unary::Log,
        "Reciprocal" => Unary::Reciprocal,
        "Sqrt" => Unary::Sqrt,
        "Floor" => Unary::Floor,
        "Ceil" => Unary::Ceil,
        "Round" => Unary::Round,
        other => unreachable!("math::unary is registered only for its ops, not {other}"),
    };
    Ok(Out::Node(FOp::Unary(u), vec![cx.x()?]))
}

/// Mod by a constant divisor (one value): a table over `x`, exact on integer inputs.
pub fn modulo(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let d = cx.konst_in(1, "divisor")?;
    fits(cx, x, &d, "the divisor")?;
    let d = uniform(&d).ok_or_else(|| cx.fail(format!("the divisor must be one value, got shape {:?}", d.shape)))?;
    if !d.is_finite() || d == 0.0 {
        return Err(cx.fail(format!("the divisor {d} must be finite and non-zero")));
    }
    let fmod = cx.flag("fmod", false)?;
    if !fmod && !b.is_integral(x) {
        return Err(cx.fail("fmod=0 is defined for integer inputs only; a float input needs fmod=1"));
    }
    Ok(Out::Node(FOp::Unary(Unary::Mod { divisor: d, fmod }), vec![x]))
}
