//! Reductions. ReduceMean/ReduceSum are the canonical Reduce; ReduceMax is a MaxPool
//! over the reduced elements laid out as one row; the rest compose tables with a sum
//! (LogSumExp subtracts the max first).

use crate::error::Result;
use crate::fgraph::{Binary, FOp, Unary};
use crate::ftensor::FTensor;
use crate::ops::array::{chain, Arg};
use crate::translate::{norm_axis, Builder, Cx, Out};
use verity_model::shape::numel;
use verity_model::CmpMode;
use verity_model::Window;

/// The reduced axes (sorted, deduplicated), or `None` for a no-op reduction.
fn axes(cx: &Cx, r: usize) -> Result<Option<Vec<usize>>> {
    let axes = match cx.opt(1) {
        Some(_) => Some(cx.konst_in(1, "axes")?.ints()),
        None => cx.a.ints("axes"),
    };
    let mut axes: Vec<usize> = match axes {
        Some(ax) if !ax.is_empty() => {
            ax.iter().map(|&v| norm_axis(v, r)).collect::<Option<_>>().ok_or_else(|| cx.fail("axis out of range"))?
        }
        _ if cx.a.int("noop_with_empty_axes", 0) != 0 => return Ok(None),
        _ => (0..r).collect(),
    };
    axes.sort_unstable();
    axes.dedup();
    Ok(Some(axes))
}

pub fn reduce(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    let Some(axes) = axes(cx, s.len())? else { return Ok(Out::Alias(x)) };
    let keep_dims = cx.a.int("keepdims", 1) != 0;
    let sum = |axes: Vec<usize>| FOp::Reduce { axes, keep_dims, mean: false };
    let lut = |what: &str, u: Unary| (what.to_string(), FOp::Unary(u), vec![Arg::Prev]);
    let steps = match cx.op {
        "ReduceMean" | "ReduceSum" => {
            return Ok(Out::Node(FOp::Reduce { axes, keep_dims, mean: cx.op == "ReduceMean" }, vec![x]))
        }
        "ReduceMax" => max_steps(cx, &s, &axes, keep_dims)?,
        "ReduceMin" => {
            let mut st = vec![lut("negated", Unary::Neg)];
            st.extend(max_steps(cx, &s, &axes, keep_dims)?);
            st.push(lut("min", Unary::Neg));
            st
        }
        "ReduceL1" => vec![lut("abs", Unary::Abs), ("sum".into(), sum(axes), vec![Arg::Prev])],
        "ReduceSumSquare" => vec![lut("square", Unary::Pow(2.0)), ("sum".into(), sum(axes), vec![Arg::Prev])],
        "ReduceL2" => vec![lut("square", Unary::Pow(2.0)), ("sum".into(), sum(axes), vec![Arg::Prev]), lut("sqrt", Unary::Sqrt)],
        "ReduceLogSumExp" => return log_sum_exp(b, cx, x, &s, axes, keep_dims),
        "ReduceProd" => return product(b, cx, x, &s, &axes, keep_dims),
        other => unreachable!("reduce is registered only for its ops, not {other}"),
    };
    chain(b, cx, x, steps)
}

/// `m + log Σ exp(x − m)` with `m` the max: every exponent is ≤ 0 and the sum is ≥ 1,
/// so no table has to cover huge values or a logarithm near 0.
/// The stable log-sum-exp parts over `axes` (kept dims): the max `m`, the shifted
/// `d = x − m` and `l = log Σ exp(d)`. LogSumExp is `l + m`, LogSoftmax `d − l`.
pub(crate) fn shifted_log_sum(b: &mut Builder, cx: &Cx, x: usize, s: &[usize], axes: &[usize]) -> Result<[usize; 3]> {
    let m = match chain(b, cx, x, max_steps(cx, s, axes, true)?)? {
        Out::Node(op, ins) => b.push(cx.name, cx.op, op, ins, &cx.part("max"))?,
        _ => unreachable!("a max has steps"),
    };
    let d = b.push(cx.name, cx.op, FOp::Binary(Binary::Sub), vec![x, m], &cx.part("shifted"))?;
    let e = b.push(cx.name, cx.op, FOp::Unary(Unary::Exp), vec![d], &cx.part("exp"))?;
    let t =
        b.push(cx.name, cx.op, FOp::Reduce { axes: axes.to_vec(), keep_dims: true, mean: false }, vec![e], &cx.part("sum"))?;
    let l = b.push(cx.name, cx.op, FOp::Unary(Unary::Log), vec![t], &cx.part("log"))?;
    Ok([m, d, l])
}

fn log_sum_exp(b: &mut Builder, cx: &Cx, x: usize, s: &[usize], axes: Vec<usize>, keep_dims: bool) -> Result<Out> {
    let [m, _, l] = shifted_log_sum(b, cx, x, s, &axes)?;
    if keep_dims {
        return Ok(Out::Node(FOp::Binary(Binary::Add), vec![l, m]));
    }
    let y = b.push(cx.name, cx.op, FOp::Binary(Binary::Add), vec![l, m], &cx.part("kept"))?;
    let shape = (0..s.len()).filter(|d| !axes.contains(d)).map(|d| s[d]).collect();
    Ok(Out::Node(FOp::Reshape { shape }, vec![y]))
}

/// The most factors a ReduceProd multiplies out.
const MAX_FACTORS: usize = 64;

/// ReduceProd: the reduced axes laid out as one axis (as for ReduceMax), then a chain of
/// Muls of its Slices; each partial product gets its own calibrated scale, so signs and
/// zeros need no special case.
fn product(b: &mut Builder, cx: &Cx, x: usize, s: &[usize], axes: &[usize], keep_dims: bool) -> Result<Out> {
    let kept: Vec<usize> = (0..s.len()).filter(|d| !axes.contains(d)).collect();
    let n: usize = axes.iter().map(|&d| s[d]).product();
    if n > MAX_FACTORS {
        return Err(cx.fail(format!("a product of {n} factors is too long (at most {MAX_FACTORS})")));
    }
    let outer: usize = kept.iter().map(|&d| s[d]).product();
    let perm: Vec<usize> = kept.iter().chain(axes).copied().collect();
    let mut cur = x;
    if perm.iter().enumerate().any(|(i, &p)| i != p) {
        cur = b.push(cx.name, cx.op, FOp::Transpose { perm }, vec![cur], &cx.part("moved"))?;
    }
    let rows = b.push(cx.name, cx.op, FOp::Reshape { shape: vec![outer, n] }, vec![cur], &cx.part("rows"))?;
    let column = |b: &mut Builder, k: usize| {
        let op = FOp::Slice { axes: vec![1], starts: vec![k as i64], ends: vec![k as i64 + 1], steps: vec![1] };
        b.push(cx.name, cx.op, op, vec![rows], &cx.part(&format!("factor{k}")))
    };
    let mut acc = column(b, 0)?;
    for k in 1..n {
        let f = column(b, k)?;
        acc = b.push(cx.name, cx.op, FOp::Binary(Binary::Mul), vec![acc, f], &cx.part(&format!("product{k}")))?;
    }
    let out: Vec<usize> =
        (0..s.len()).filter_map(|d| if axes.contains(&d) { keep_dims.then_some(1) } else { Some(s[d]) }).collect();
    Ok(Out::Node(FOp::Reshape { shape: out }, vec![acc]))
}

/// Max over `axes`: the kept axes move to the front, the reduced ones become one row
/// that a MaxPool of the row's width reduces, and a Reshape gives the output shape.
pub(crate) fn max_steps(cx: &Cx, s: &[usize], axes: &[usize], keep_dims: bool) -> Result<Vec<(String, FOp, Vec<Arg>)>> {
    let kept: Vec<usize> = (0..s.len()).filter(|d| !axes.contains(d)).collect();
    let perm: Vec<usize> = kept.iter().chain(axes).copied().collect();
    let (outer, inner) = (kept.iter().map(|&d| s[d]).product::<usize>(), axes.iter().map(|&d| s[d]).product::<usize>());
    if inner > 1 << 16 {
        return Err(cx.fail(format!("a max over {inner} elements is too wide (at most 65536)")));
    }
    let out: Vec<usize> =
        (0..s.len()).filter_map(|d| if axes.contains(&d) { keep_dims.then_some(1) } else { Some(s[d]) }).collect();
    let mut steps = Vec::new();
    if perm.iter().enumerate().any(|(i, &p)| i != p) {
        steps.push(("moved".to_string(), FOp::Transpose { perm }, vec![Arg::Prev]));
    }
    steps.push(("rows".to_string(), FOp::Reshape { shape: vec![1, 1, outer, inner] }, vec![Arg::Prev]));
    let window = Window { kernel: [1, inner], stride: [1, 1], pads: [0; 4], dilation: [1, 1] };
    steps.push(("max".to_string(), FOp::MaxPool { window }, vec![Arg::Prev]));
    debug_assert_eq!(numel(&out), outer);
    steps.push(("out".to_string(), FOp::Reshape { shape: out }, vec![Arg::Prev]));
    Ok(steps)
}

/// ArgMax and ArgMin (`axis`, `keepdims`, `select_last_index`).
pub fn arg(_: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let rank = cx.shape_of(x).len();
    let a = cx.a.int("axis", 0);
    let axis = crate::translate::norm_axis(a, rank).ok_or_else(|| cx.fail(format!("axis {a} out of range for rank {rank}")))?;
    let (keep_dims, last) = (cx.flag("keepdims", true)?, cx.flag("select_last_index", false)?);
    Ok(Out::Node(FOp::Arg { axis, keep_dims, min: cx.op == "ArgMin", last }, vec![x]))
}

/// CumSum along a constant `axis` (`exclusive`, `reverse`): a Linear with a 0/1
/// triangular weight over the axis, moved last by a Transpose when it is not.
pub fn cumsum(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    let a = cx.konst_in(1, "axis")?;
    let &[av] = a.data.as_slice() else { return Err(cx.fail(format!("axis must be one number, got shape {:?}", a.shape))) };
    let axis = norm_axis(av as i64, s.len()).ok_or_else(|| cx.fail(format!("axis {av} out of range for rank {}", s.len())))?;
    let (exclusive, reverse) = (cx.flag("exclusive", false)?, cx.flag("reverse", false)?);
    let n = s[axis];
    if n > 1024 {
        return Err(cx.fail(format!("a cumulative sum over {n} elements is too long (at most 1024)")));
    }
    // Row i (output position) sums input positions t up to i (from i when reversed).
    let takes = |i: usize, t: usize| match (reverse, exclusive) {
        (false, false) => t <= i,
        (false, true) => t < i,
        (true, false) => t >= i,
        (true, true) => t > i,
    };
    let w = (0..n * n).map(|j| takes(j / n, j % n) as u8 as f64).collect();
    let linear = FOp::Linear { w, b: vec![0.0; n] };
    let last = s.len() - 1;
    if axis == last {
        return Ok(Out::Node(linear, vec![x]));
    }
    let mut perm: Vec<usize> = (0..s.len()).collect();
    perm.swap(axis, last);
    let steps = vec![
        ("moved".to_string(), FOp::Transpose { perm: perm.clone() }, vec![Arg::Prev]),
        ("sums".to_string(), linear, vec![Arg::Prev]),
        ("back".to_string(), FOp::Transpose { perm }, vec![Arg::Prev]),
    ];
    chain(b, cx, x, steps)
}

/// The largest `k` a TopK is unrolled for.
const MAX_TOP_K: usize = 64;

/// TopK (`axis`, `largest`, `sorted`; ties go to the lower index, as ONNX says), unrolled
/// into `k` selection rounds of exact ops. In round `i` the values already taken are
/// masked by a sentinel (the extreme of their scale: the Where keeps the input's scale),
/// the Arg of the rest picks a position whose value `v` is read back exactly by a max
/// over the lane with everything else masked, and the index is the first untaken
/// position holding `v` (so a value equal to the sentinel is never confused with it).
pub fn top_k(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    let axis = norm_axis(cx.a.int("axis", -1), s.len()).ok_or_else(|| cx.fail("axis out of range"))?;
    let k = if b.opset < 10 {
        cx.a.int("k", 0)
    } else {
        match cx.konst_in(1, "K")?.ints().as_slice() {
            [k] => *k,
            v => return Err(cx.fail(format!("K must hold one number, got {v:?}"))),
        }
    };
    let n = s[axis];
    if k < 1 || k as usize > n {
        return Err(cx.fail(format!("k = {k} must be between 1 and the axis length {n}")));
    }
    let k = k as usize;
    if k > MAX_TOP_K {
        return Err(cx.fail(format!("k = {k} is more than the {MAX_TOP_K} selection rounds TopK is unrolled for")));
    }
    let largest = cx.flag("largest", true)?;
    let mut pshape = vec![1; s.len()];
    pshape[axis] = n;
    let pos = b.add_const(&cx.part("positions"), FTensor::new(pshape, (0..n).map(|i| i as f64).collect()));
    let sentinel = |b: &mut Builder, what: &str, high: bool| {
        b.add_const(&cx.part(what), FTensor::scalar(if high { f64::INFINITY } else { f64::NEG_INFINITY }))
    };
    let (hide, lowest) = (sentinel(b, "hidden", !largest), sentinel(b, "lowest", false));
    let (zero, one) = (b.add_const(&cx.part("zero"), FTensor::scalar(0.0)), b.add_const(&cx.part("one"), FTensor::scalar(1.0)));
    let push = |b: &mut Builder, op: FOp, ins: Vec<usize>, what: &str| b.push(cx.name, cx.op, op, ins, &cx.part(what));
    let arg = |min: bool| FOp::Arg { axis, keep_dims: true, min, last: false };
    let eq = FOp::Compare(CmpMode::Equal);
    let (mut values, mut indices) = (Vec::new(), Vec::new());
    let mut taken: Option<usize> = None;
    for i in 0..k {
        let cur = match taken {
            None => x,
            Some(t) => push(b, FOp::Where, vec![t, hide, x], &format!("rest{i}"))?,
        };
        let a = push(b, arg(!largest), vec![cur], &format!("arg{i}"))?;
        let at = push(b, eq.clone(), vec![a, pos], &format!("at{i}"))?;
        let only = push(b, FOp::Where, vec![at, cur, lowest], &format!("only{i}"))?;
        let mut v = only;
        for (what, op, _) in max_steps(cx, &s, &[axis], true)? {
            v = push(b, op, vec![v], &format!("{what}{i}"))?;
        }
        let holds = push(b, eq.clone(), vec![x, v], &format!("holds{i}"))?;
        let free = match taken {
            None => holds,
            Some(t) => push(b, FOp::Where, vec![t, zero, holds], &format!("free{i}"))?,
        };
        let idx = push(b, arg(false), vec![free], &format!("index{i}"))?;
        if i + 1 < k {
            let hit = push(b, eq.clone(), vec![idx, pos], &format!("hit{i}"))?;
            taken = Some(match taken {
                None => hit,
                Some(t) => push(b, FOp::Where, vec![t, one, hit], &format!("taken{i}"))?,
            });
        }
        values.push(v);
        indices.push(idx);
    }
    let out = |b: &mut Builder, parts: Vec<usize>, o: usize| match parts.as_slice() {
        [one] => Ok(*one),
        _ => b.push(cx.name, cx.op, FOp::Concat { axis }, parts, cx.node.output.get(o).map_or("", String::as_str)),
    };
    Ok(Out::Many(vec![out(b, values, 0)?, out(b, indices, 1)?]))
}
