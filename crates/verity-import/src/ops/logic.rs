//! Comparisons, boolean logic and selection: Less, LessOrEqual, Greater, GreaterOrEqual,
//! Equal, Not, And, Or, Xor, Where, Hardmax, OneHot. Booleans are exact values 0 and 1 (8 bits, scale 1).

use crate::error::Result;
use crate::fgraph::{Binary, FOp};
use crate::ftensor::FTensor;
use crate::translate::{norm_axis, Builder, Cx, Out};
use verity_model::CmpMode;

pub fn compare(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let mode = match cx.op {
        "Less" => CmpMode::Less,
        "LessOrEqual" => CmpMode::LessEq,
        "Greater" => CmpMode::Greater,
        "GreaterOrEqual" => CmpMode::GreaterEq,
        _ => CmpMode::Equal,
    };
    let (x, y) = (cx.x()?, cx.input(1)?);
    // Raw features selected for thresholds (hummingbird's trees) get per-feature maps.
    let y = b.map_selected_features(x, y).unwrap_or(y);
    Ok(Out::Node(FOp::Compare(mode), vec![x, y]))
}

fn zero(b: &mut Builder, cx: &Cx) -> usize {
    b.add_const(&cx.part("zero"), FTensor::new(vec![], vec![0.0]))
}

/// `x == 0`, as the node's output.
pub(crate) fn not(b: &mut Builder, cx: &Cx, x: usize) -> Out {
    Out::Node(FOp::Compare(CmpMode::Equal), vec![x, zero(b, cx)])
}

/// `x == 0`, as an intermediate value named `what`.
pub(crate) fn push_not(b: &mut Builder, cx: &Cx, x: usize, what: &str) -> Result<usize> {
    let z = zero(b, cx);
    b.push(cx.name, cx.op, FOp::Compare(CmpMode::Equal), vec![x, z], &cx.part(what))
}

pub fn logic(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    if cx.op == "Not" {
        return Ok(not(b, cx, x));
    }
    let y = cx.input(1)?;
    Ok(match cx.op {
        "And" => Out::Node(FOp::Binary(Binary::Mul), vec![x, y]),
        // x ? x : y is x or y, for booleans.
        "Or" => Out::Node(FOp::Where, vec![x, x, y]),
        _ => {
            let eq = b.push(cx.name, cx.op, FOp::Compare(CmpMode::Equal), vec![x, y], &cx.part("equal"))?;
            not(b, cx, eq)
        }
    })
}

pub fn select(_: &mut Builder, cx: &Cx) -> Result<Out> {
    Ok(Out::Node(FOp::Where, vec![cx.x()?, cx.input(1)?, cx.input(2)?]))
}

/// `[1, .., n, .., 1]` (n at `axis` of a rank-`rank` shape) holding `0..n` plus `offset`.
fn iota(b: &mut Builder, cx: &Cx, rank: usize, axis: usize, n: usize, offset: f64, what: &str) -> usize {
    let mut shape = vec![1; rank];
    shape[axis] = n;
    b.add_const(&cx.part(what), FTensor::new(shape, (0..n).map(|i| i as f64 + offset).collect()))
}

/// Hardmax: 1 at the first maximum of each lane along `axis`, else 0: the Arg index
/// compared with the lane positions.
pub fn hardmax(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    let a = cx.a.int("axis", if b.opset < 13 { 1 } else { -1 });
    let axis = norm_axis(a, s.len()).ok_or_else(|| cx.fail(format!("axis {a} out of range for rank {}", s.len())))?;
    if b.opset < 13 && axis != s.len() - 1 {
        return Err(cx.fail("opset < 13 Hardmax over a non-final axis is not supported"));
    }
    let arg = FOp::Arg { axis, keep_dims: true, min: false, last: false };
    let idx = b.push(cx.name, cx.op, arg, vec![x], &cx.part("argmax"))?;
    let pos = iota(b, cx, s.len(), axis, s[axis], 0.0, "positions");
    Ok(Out::Node(FOp::Compare(CmpMode::Equal), vec![idx, pos]))
}

/// OneHot(indices, depth, [off, on]) along `axis`: `on` where the index (negative ones
/// count from the end) equals the position, else `off`.
pub fn one_hot(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let idx = cx.x()?;
    let s = cx.shape_of(idx);
    let depth = cx.konst_in(1, "depth")?;
    let &[d] = depth.data.as_slice() else {
        return Err(cx.fail(format!("depth must be one number, got shape {:?}", depth.shape)));
    };
    if !((1.0..=65536.0).contains(&d) && d.fract() == 0.0) {
        return Err(cx.fail(format!("depth must be a whole number in 1..=65536, got {d}")));
    }
    let values = cx.konst_in(2, "values")?;
    let &[off, on] = values.data.as_slice() else {
        return Err(cx.fail(format!("values must hold [off, on], got shape {:?}", values.shape)));
    };
    let rank = s.len() + 1;
    let a = cx.a.int("axis", -1);
    let axis = norm_axis(a, rank).ok_or_else(|| cx.fail(format!("axis {a} out of range for rank {rank}")))?;
    let n = d as usize;
    let mut shape = s.clone();
    shape.insert(axis, n);
    if crate::translate::checked_numel(&shape).is_none() {
        return Err(cx.fail(format!("a one-hot output of depth {n} over {s:?} is too large")));
    }
    shape[axis] = 1;
    let col = b.push(cx.name, cx.op, FOp::Reshape { shape }, vec![idx], &cx.part("column"))?;
    let pos = iota(b, cx, rank, axis, n, 0.0, "positions");
    let neg = iota(b, cx, rank, axis, n, -(n as f64), "negative positions");
    let eq = FOp::Compare(CmpMode::Equal);
    let hit = b.push(cx.name, cx.op, eq.clone(), vec![col, pos], &cx.part("hit"))?;
    let wrapped = b.push(cx.name, cx.op, eq, vec![col, neg], &cx.part("hit from the end"))?;
    let any = b.push(cx.name, cx.op, FOp::Where, vec![hit, hit, wrapped], &cx.part("any"))?;
    let on = b.add_const(&cx.part("on"), FTensor::new(vec![], vec![on]));
    let off = b.add_const(&cx.part("off"), FTensor::new(vec![], vec![off]));
    Ok(Out::Node(FOp::Where, vec![any, on, off]))
}
