//! Layout and wiring ops: they only move, copy or drop values, so each lowers to
//! canonical Reshape / Transpose / Slice / Gather / Concat and keeps its input's scale
//! (Pad's constant border is the one new value, joined with Concat).

use crate::error::Result;
use crate::fgraph::FOp;
use crate::ftensor::FTensor;
use crate::proto;
use crate::translate::{checked_numel, norm_axis, Builder, Cx, Out};
use verity_model::shape::{broadcast, numel};

pub fn identity(_: &mut Builder, cx: &Cx) -> Result<Out> {
    Ok(Out::Alias(cx.x()?))
}

pub fn constant(_: &mut Builder, cx: &Cx) -> Result<Out> {
    Ok(Out::Const(cx.a.constant_value()?))
}

pub fn shape(_: &mut Builder, cx: &Cx) -> Result<Out> {
    let s = cx.shape_of(cx.x()?);
    let r = s.len() as i64;
    let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let (lo, hi) = (clampi(cx.a.int("start", 0)), clampi(cx.a.int("end", r)));
    let dims: Vec<f64> = s[lo..hi.max(lo)].iter().map(|&d| d as f64).collect();
    Ok(Out::Const(FTensor::new(vec![dims.len()], dims)))
}

pub fn cast(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let to = cx.a.int("to", 1);
    Ok(match b.konst(x) {
        Some(t) => Out::Const(FTensor::new(
            t.shape.clone(),
            t.data
                .iter()
                .map(|&v| match to {
                    1 | 10 | 11 | 16 => v,
                    9 => (v != 0.0) as u8 as f64,
                    _ => v.trunc(),
                })
                .collect(),
        )),
        None if matches!(to, 1 | 10 | 11 | 16) => Out::Alias(x),
        // Booleans and indices are exact integers already: any integer type holds them.
        None if b.is_integral(x) => Out::Alias(x),
        // x != 0 is not(not(x)).
        None if to == 9 => {
            let z = crate::ops::logic::push_not(b, cx, x, "is zero")?;
            crate::ops::logic::not(b, cx, z)
        }
        None => return Err(cx.fail("casting a run-time float tensor to an integer type is not supported")),
    })
}

pub fn constant_of_shape(_: &mut Builder, cx: &Cx) -> Result<Out> {
    let s: Vec<usize> = cx.konst_in(0, "shape")?.ints().iter().map(|&d| d.max(0) as usize).collect();
    checked_numel(&s).ok_or_else(|| cx.fail(format!("shape {s:?} is too large")))?;
    let v = cx
        .node
        .attribute
        .first()
        .and_then(|at| at.t.as_ref())
        .map(proto::tensor)
        .transpose()?
        .and_then(|t| t.data.first().copied())
        .unwrap_or(0.0);
    Ok(Out::Const(FTensor::new(s.clone(), vec![v; numel(&s)])))
}

pub fn flatten(_: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    let axis = norm_axis(cx.a.int("axis", 1), s.len() + 1).ok_or_else(|| cx.fail("axis out of range"))?;
    Ok(Out::Node(FOp::Reshape { shape: vec![numel(&s[..axis]), numel(&s[axis..])] }, vec![x]))
}

pub fn reshape(_: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    let target = cx.konst_in(1, "shape")?.ints();
    let allow_zero = cx.a.int("allowzero", 0) != 0;
    let mut out: Vec<usize> = Vec::new();
    let mut infer = None;
    for (i, &d) in target.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allow_zero => out.push(*s.get(i).ok_or_else(|| cx.fail("0 refers past the input rank"))?),
            d if d > 0 => out.push(d as usize),
            _ => return Err(cx.fail(format!("invalid target shape {target:?}"))),
        }
    }
    let known = checked_numel(&out).ok_or_else(|| cx.fail(format!("target shape {target:?} is too large")))?;
    if let Some(i) = infer {
        let known = known.max(1);
        if !numel(&s).is_multiple_of(known) {
            return Err(cx.fail(format!("cannot reshape {s:?} to {target:?}")));
        }
        out[i] = numel(&s) / known;
    }
    if numel(&out) != numel(&s) {
        return Err(cx.fail(format!("cannot reshape {s:?} to {target:?}")));
    }
    Ok(Out::Node(FOp::Reshape { shape: out }, vec![x]))
}

pub fn squeeze(_: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    let axes = match cx.opt(1) {
        Some(_) => Some(cx.konst_in(1, "axes")?.ints()),
        None => cx.a.ints("axes"),
    };
    let shape = if cx.op == "Squeeze" {
        let axes: Vec<usize> = match axes {
            Some(ax) => {
                ax.iter().map(|&v| norm_axis(v, s.len())).collect::<Option<_>>().ok_or_else(|| cx.fail("axis out of range"))?
            }
            None => (0..s.len()).filter(|&i| s[i] == 1).collect(),
        };
        if axes.iter().any(|&i| s[i] != 1) {
            return Err(cx.fail(format!("cannot squeeze a dimension that is not 1 in {s:?}")));
        }
        s.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect()
    } else {
        let axes = axes.ok_or_else(|| cx.fail("missing axes"))?;
        let r = s.len() + axes.len();
        let mut axes: Vec<usize> =
            axes.iter().map(|&v| norm_axis(v, r)).collect::<Option<_>>().ok_or_else(|| cx.fail("axis out of range"))?;
        axes.sort_unstable();
        let mut it = s.iter();
        (0..r).map(|i| if axes.contains(&i) { 1 } else { *it.next().unwrap_or(&1) }).collect()
    };
    Ok(Out::Node(FOp::Reshape { shape }, vec![x]))
}

pub fn transpose(_: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let r = cx.shape_of(x).len();
    let perm: Vec<usize> = match cx.a.ints("perm") {
        Some(p) => p.iter().map(|&v| norm_axis(v, r)).collect::<Option<_>>().ok_or_else(|| cx.fail("perm out of range"))?,
        None => (0..r).rev().collect(),
    };
    let mut sorted = perm.clone();
    sorted.sort_unstable();
    if sorted != (0..r).collect::<Vec<_>>() {
        return Err(cx.fail(format!("{perm:?} is not a permutation")));
    }
    Ok(Out::Node(FOp::Transpose { perm }, vec![x]))
}

pub fn concat(_: &mut Builder, cx: &Cx) -> Result<Out> {
    let ids: Vec<usize> = (0..cx.n_inputs()).map(|i| cx.input(i)).collect::<Result<_>>()?;
    let Some(&first) = ids.first() else { return Err(cx.fail("no inputs")) };
    let r = cx.shape_of(first).len();
    let axis = norm_axis(cx.a.int("axis", 0), r).ok_or_else(|| cx.fail("axis out of range"))?;
    for &i in &ids {
        let s = cx.shape_of(i);
        if s.len() != r || (0..r).any(|d| d != axis && s[d] != cx.shape_of(ids[0])[d]) {
            return Err(cx.fail(format!("inputs {:?} and {s:?} cannot be concatenated on axis {axis}", cx.shape_of(ids[0]))));
        }
    }
    Ok(Out::Node(FOp::Concat { axis }, ids))
}

pub fn slice(_: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    let (starts, ends, axes, steps) = if cx.n_inputs() > 1 {
        let opt = |i: usize, what: &str| -> Result<Option<Vec<i64>>> { Ok(cx.konst_opt(i, what)?.map(|t| t.ints())) };
        (cx.konst_in(1, "starts")?.ints(), cx.konst_in(2, "ends")?.ints(), opt(3, "axes")?, opt(4, "steps")?)
    } else {
        (cx.a.ints("starts").unwrap_or_default(), cx.a.ints("ends").unwrap_or_default(), cx.a.ints("axes"), None)
    };
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(cx.fail("starts, ends, axes and steps differ in length"));
    }
    let mut op_axes = Vec::new();
    let (mut st, mut en, mut sp) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..starts.len() {
        let ax = norm_axis(axes[i], s.len()).ok_or_else(|| cx.fail("axis out of range"))?;
        let d = s[ax] as i64;
        let step = steps[i];
        if step == 0 {
            return Err(cx.fail("slice step 0"));
        }
        let wrap = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
        let (b, e) = if step > 0 {
            (wrap(starts[i]).clamp(0, d), wrap(ends[i]).clamp(0, d))
        } else {
            (wrap(starts[i]).clamp(0, d - 1), wrap(ends[i]).clamp(-1, d - 1))
        };
        op_axes.push(ax);
        st.push(b);
        en.push(e);
        sp.push(step);
    }
    Ok(Out::Node(FOp::Slice { axes: op_axes, starts: st, ends: en, steps: sp }, vec![x]))
}

pub fn gather(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    let axis = norm_axis(cx.a.int("axis", 0), s.len()).ok_or_else(|| cx.fail("axis out of range"))?;
    if b.konst(cx.input(1)?).is_none() {
        return lookup(b, cx, x, axis);
    }
    let idx = cx.konst_in(1, "indices")?;
    let d = s[axis] as i64;
    let indices: Vec<usize> = idx
        .ints()
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + d } else { i };
            (0..d).contains(&j).then_some(j as usize).ok_or_else(|| cx.fail(format!("index {i} out of range for {d}")))
        })
        .collect::<Result<_>>()?;
    Ok(Out::Node(FOp::Gather { axis, indices, indices_shape: idx.shape }, vec![x]))
}

/// The most rows a table looked up at run time may have.
const MAX_LOOKUP_ROWS: usize = 1 << 17;

/// Gather from a constant table at run-time indices (an embedding lookup): the one-hot
/// of each index over the table's rows (Compare with the positions, and with the
/// positions from the end for negative indices), then a Linear whose weight is the table.
/// The indices must be exact integers (an integer input, or an Arg); an index out of
/// range selects no row and gives zeros.
fn lookup(b: &mut Builder, cx: &Cx, table: usize, axis: usize) -> Result<Out> {
    let idx = cx.input(1)?;
    let Some(t) = b.konst(table).cloned() else {
        return Err(cx.fail("indices known only at run time need a constant table (data)"));
    };
    if !b.is_integral(idx) {
        return Err(cx.fail("run-time indices must be exact integers (an integer graph input or an ArgMax)"));
    }
    let n = t.shape[axis];
    if n > MAX_LOOKUP_ROWS {
        return Err(cx.fail(format!("a run-time lookup into {n} rows is too large (at most {MAX_LOOKUP_ROWS})")));
    }
    // The table with the gathered axis first, as [n, rest]: weight row r is element r of a row.
    let mut perm: Vec<usize> = vec![axis];
    perm.extend((0..t.shape.len()).filter(|&d| d != axis));
    let moved = crate::ftensor::transpose(&t, &perm);
    let rest = numel(&moved.shape[1..]);
    let w: Vec<f64> = (0..rest).flat_map(|r| (0..n).map(move |i| (r, i))).map(|(r, i)| moved.data[i * rest + r]).collect();
    let is = cx.shape_of(idx);
    let mut col = is.clone();
    col.push(1);
    let column = b.push(cx.name, cx.op, FOp::Reshape { shape: col.clone() }, vec![idx], &cx.part("column"))?;
    let positions = |b: &mut Builder, offset: f64, what: &str| {
        let mut ps = vec![1; col.len()];
        ps[col.len() - 1] = n;
        b.add_const(&cx.part(what), FTensor::new(ps, (0..n).map(|i| i as f64 + offset).collect()))
    };
    let (pos, neg) = (positions(b, 0.0, "positions"), positions(b, -(n as f64), "positions from the end"));
    let eq = FOp::Compare(verity_model::CmpMode::Equal);
    let hit = b.push(cx.name, cx.op, eq.clone(), vec![column, pos], &cx.part("hit"))?;
    let wrapped = b.push(cx.name, cx.op, eq, vec![column, neg], &cx.part("hit from the end"))?;
    let one_hot = b.push(cx.name, cx.op, FOp::Where, vec![hit, hit, wrapped], &cx.part("one-hot"))?;
    let rows = b.push(cx.name, cx.op, FOp::Linear { w, b: vec![0.0; rest] }, vec![one_hot], &cx.part("rows"))?;
    // [idx.., rest] → data.shape[..axis] + idx.shape + data.shape[axis + 1..].
    let mut shape = is.clone();
    shape.extend(&moved.shape[1..]);
    let (k, before) = (is.len(), axis);
    let perm: Vec<usize> = (k..k + before).chain(0..k).chain(k + before..shape.len()).collect();
    let unflatten = FOp::Reshape { shape };
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        return Ok(Out::Node(unflatten, vec![rows]));
    }
    let flat = b.push(cx.name, cx.op, unflatten, vec![rows], &cx.part("unflattened"))?;
    Ok(Out::Node(FOp::Transpose { perm }, vec![flat]))
}

/// An operand of one step of a multi-node lowering.
pub(crate) enum Arg {
    /// The previous step's output (the node's input, for the first step).
    Prev,
    Id(usize),
}

/// Applies `steps` in order and hands back the last as the node's own output, so that
/// it carries the ONNX output name; no steps at all is the identity.
pub(crate) fn chain(b: &mut Builder, cx: &Cx, x: usize, steps: Vec<(String, FOp, Vec<Arg>)>) -> Result<Out> {
    let mut cur = x;
    let n = steps.len();
    for (k, (what, op, args)) in steps.into_iter().enumerate() {
        let ins = args.iter().map(|a| if let Arg::Id(i) = a { *i } else { cur }).collect();
        if k + 1 == n {
            return Ok(Out::Node(op, ins));
        }
        cur = b.push(cx.name, cx.op, op, ins, &cx.part(&what))?;
    }
    Ok(Out::Alias(cur))
}

/// One single-input step.
fn step(what: String, op: FOp) -> (String, FOp, Vec<Arg>) {
    (what, op, vec![Arg::Prev])
}

/// A Gather that repeats `indices` along `axis` (the index tensor is 1-D).
fn pick(axis: usize, indices: Vec<usize>) -> FOp {
    let n = indices.len();
    FOp::Gather { axis, indices, indices_shape: vec![n] }
}

/// Expand: NumPy broadcasting to a constant shape. Missing leading axes come from a
/// Reshape, each stretched axis from a Gather of index 0, so the result is the input's
/// integers copied, bit for bit.
pub fn expand(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    let target = cx.konst_in(1, "shape")?.ints();
    if target.iter().any(|&d| d < 0) {
        return Err(cx.fail(format!("shape {target:?} has a negative dimension")));
    }
    let target: Vec<usize> = target.iter().map(|&d| d as usize).collect();
    let out = broadcast(&s, &target).map_err(|_| cx.fail(format!("input {s:?} cannot be expanded to {target:?}")))?;
    checked_numel(&out).ok_or_else(|| cx.fail(format!("output shape {out:?} is too large")))?;
    let mut steps = Vec::new();
    let mut cur: Vec<usize> = std::iter::repeat_n(1, out.len() - s.len()).chain(s.iter().copied()).collect();
    if cur.len() != s.len() {
        steps.push(step("rank".into(), FOp::Reshape { shape: cur.clone() }));
    }
    for d in 0..out.len() {
        if cur[d] != out[d] {
            cur[d] = out[d];
            steps.push(step(format!("axis{d}"), pick(d, vec![0; out[d]])));
        }
    }
    chain(b, cx, x, steps)
}

/// Tile: each repeated axis is a Gather of `0..d` cycled `r` times.
pub fn tile(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    let reps = cx.konst_in(1, "repeats")?.ints();
    if reps.len() != s.len() {
        return Err(cx.fail(format!("repeats {reps:?} must have one entry per input axis ({} axes)", s.len())));
    }
    if let Some(r) = reps.iter().find(|&&r| r < 1) {
        return Err(cx.fail(format!("repeat {r} must be at least 1")));
    }
    let out: Vec<usize> = s.iter().zip(&reps).map(|(&d, &r)| (d as u64).saturating_mul(r as u64) as usize).collect();
    checked_numel(&out).ok_or_else(|| cx.fail(format!("output shape {out:?} is too large")))?;
    let steps = (0..s.len())
        .filter(|&d| reps[d] > 1)
        .map(|d| step(format!("axis{d}"), pick(d, (0..out[d]).map(|i| i % s[d]).collect())))
        .collect();
    chain(b, cx, x, steps)
}

/// Pad. Along each padded axis the output is `[border, gathered, border]`: the Gather
/// copies (and, for edge/reflect/wrap, mirrors or repeats) input positions, negative
/// pads crop, and constant mode joins constant blocks with Concat.
pub fn pad(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    let r = s.len();
    let mode = cx.a.string("mode").unwrap_or_else(|| "constant".into());
    let (pads, value, axes) = if b.opset < 11 {
        let p = cx.a.ints("pads").ok_or_else(|| cx.fail("missing pads"))?;
        (p, cx.a.float("value", 0.0), None)
    } else {
        let p = cx.konst_in(1, "pads")?.ints();
        let v = match cx.konst_opt(2, "constant_value")? {
            Some(t) if t.data.len() == 1 => t.data[0],
            Some(t) => return Err(cx.fail(format!("constant_value must be a scalar, got shape {:?}", t.shape))),
            None => 0.0,
        };
        (p, v, cx.konst_opt(3, "axes")?.map(|t| t.ints()))
    };
    let axes: Vec<usize> = match axes {
        Some(ax) => ax.iter().map(|&a| norm_axis(a, r)).collect::<Option<_>>().ok_or_else(|| cx.fail("axis out of range"))?,
        None => (0..r).collect(),
    };
    let mut sorted = axes.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != axes.len() {
        return Err(cx.fail(format!("axes {axes:?} repeat an axis")));
    }
    if pads.len() != 2 * axes.len() {
        return Err(cx.fail(format!("pads {pads:?} must have two entries per padded axis ({} axes)", axes.len())));
    }
    if !matches!(mode.as_str(), "constant" | "edge" | "reflect" | "wrap") {
        return Err(cx.fail(format!("mode '{mode}' is not supported (constant, edge, reflect, wrap are)")));
    }
    if !value.is_finite() {
        return Err(cx.fail("the constant value is not finite"));
    }
    let mut shape = s.clone();
    let mut steps = Vec::new();
    for (k, &axis) in axes.iter().enumerate() {
        let (before, after) = (pads[k], pads[k + axes.len()]);
        if before == 0 && after == 0 {
            continue;
        }
        let d = shape[axis] as i64;
        let len = d.checked_add(before).and_then(|v| v.checked_add(after)).filter(|&l| (1..=1 << 26).contains(&l));
        let Some(len) = len else {
            return Err(cx.fail(format!("pads {before}, {after} leave axis {axis} (size {d}) empty or too large")));
        };
        let mut next = shape.clone();
        next[axis] = len as usize;
        if checked_numel(&next).is_none() {
            return Err(cx.fail(format!("padding axis {axis} to {len} makes the output too large: {next:?}")));
        }
        if mode == "reflect" && (before >= d || after >= d) {
            return Err(cx.fail(format!("reflect pads {before}, {after} must be smaller than axis {axis} (size {d})")));
        }
        // Source position of every output position, or None for the constant border.
        let source = |p: i64| -> Option<usize> {
            let i = p - before;
            let j = match mode.as_str() {
                _ if (0..d).contains(&i) => i,
                "edge" => i.clamp(0, d - 1),
                "reflect" => {
                    let m = 2 * (d - 1);
                    let t = if m == 0 { 0 } else { i.rem_euclid(m) };
                    if t < d {
                        t
                    } else {
                        m - t
                    }
                }
                "wrap" => i.rem_euclid(d),
                _ => return None,
            };
            Some(j as usize)
        };
        let src: Vec<Option<usize>> = (0..len).map(source).collect();
        let lead = src.iter().take_while(|v| v.is_none()).count();
        let tail = src.iter().rev().take_while(|v| v.is_none()).count();
        let mid: Vec<usize> = src.iter().flatten().copied().collect();
        if mid.is_empty() {
            return Err(cx.fail(format!("pads {before}, {after} crop away all of axis {axis}")));
        }
        if mid.len() != shape[axis] || mid.iter().enumerate().any(|(i, &j)| i != j) {
            steps.push(step(format!("gather{axis}"), pick(axis, mid.clone())));
        }
        let mut block = |n: usize, what: &str| {
            let mut bs = shape.clone();
            bs[axis] = n;
            Arg::Id(b.add_const(&cx.part(&format!("{what}{axis}")), FTensor::new(bs.clone(), vec![value; numel(&bs)])))
        };
        if lead + tail > 0 {
            let mut args = Vec::new();
            if lead > 0 {
                args.push(block(lead, "before"));
            }
            args.push(Arg::Prev);
            if tail > 0 {
                args.push(block(tail, "after"));
            }
            steps.push((format!("concat{axis}"), FOp::Concat { axis }, args));
        }
        shape = next;
    }
    chain(b, cx, x, steps)
}

/// DepthToSpace / SpaceToDepth: a Reshape to six axes, a Transpose, and a Reshape back
/// (the ONNX definitions are exactly these three steps).
pub fn depth_space(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    let bs = cx.a.int("blocksize", 0);
    if s.len() != 4 {
        return Err(cx.fail(format!("input must be NCHW, got shape {s:?}")));
    }
    if !(1..=1 << 16).contains(&bs) {
        return Err(cx.fail(format!("blocksize {bs} must be a positive number")));
    }
    let k = bs as usize;
    let [n, c, h, w] = [s[0], s[1], s[2], s[3]];
    let (six, perm, out) = if cx.op == "DepthToSpace" {
        if c % (k * k) != 0 {
            return Err(cx.fail(format!("channels {c} are not a multiple of blocksize² {}", k * k)));
        }
        let c2 = c / (k * k);
        match cx.a.string("mode").as_deref().unwrap_or("DCR") {
            "DCR" => (vec![n, k, k, c2, h, w], vec![0, 3, 4, 1, 5, 2], vec![n, c2, h * k, w * k]),
            "CRD" => (vec![n, c2, k, k, h, w], vec![0, 1, 4, 2, 5, 3], vec![n, c2, h * k, w * k]),
            m => return Err(cx.fail(format!("mode '{m}' is not supported (DCR, CRD are)"))),
        }
    } else {
        if h % k != 0 || w % k != 0 {
            return Err(cx.fail(format!("height {h} and width {w} must be multiples of blocksize {k}")));
        }
        (vec![n, c, h / k, k, w / k, k], vec![0, 3, 5, 1, 2, 4], vec![n, c * k * k, h / k, w / k])
    };
    let steps = vec![
        step("blocks".into(), FOp::Reshape { shape: six }),
        step("moved".into(), FOp::Transpose { perm }),
        step("out".into(), FOp::Reshape { shape: out }),
    ];
    chain(b, cx, x, steps)
}

pub fn size(_: &mut Builder, cx: &Cx) -> Result<Out> {
    Ok(Out::Const(FTensor::scalar(numel(&cx.shape_of(cx.x()?)) as f64)))
}

/// Range of constant start, limit and delta: folded to a constant.
pub fn range(_: &mut Builder, cx: &Cx) -> Result<Out> {
    let scalar = |i: usize, what: &str| -> Result<f64> {
        let t = cx.konst_in(i, what)?;
        match t.data.as_slice() {
            [v] if v.is_finite() => Ok(*v),
            _ => Err(cx.fail(format!("{what} must be a finite scalar, got shape {:?}", t.shape))),
        }
    };
    let (start, limit, delta) = (scalar(0, "start")?, scalar(1, "limit")?, scalar(2, "delta")?);
    if delta == 0.0 {
        return Err(cx.fail("delta is 0"));
    }
    let n = ((limit - start) / delta).ceil().max(0.0);
    if n > verity_model::MAX_ELEMENTS as f64 {
        return Err(cx.fail(format!("a range of {n} elements is too large")));
    }
    let n = n as usize;
    Ok(Out::Const(FTensor::new(vec![n], (0..n).map(|i| start + i as f64 * delta).collect())))
}

/// Split into consecutive Slices along `axis`: sizes from the `split` input (or
/// attribute), else equal parts (`num_outputs` from opset 18, the last one smaller).
pub fn split(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    let axis = norm_axis(cx.a.int("axis", 0), s.len()).ok_or_else(|| cx.fail("axis out of range"))?;
    let d = s[axis];
    let parts = cx.node.output.len();
    let sizes: Vec<i64> = match cx.konst_opt(1, "split")?.map(|t| t.ints()).or_else(|| cx.a.ints("split")) {
        Some(v) => v,
        None => {
            let n = usize::try_from(cx.a.int("num_outputs", parts as i64)).unwrap_or(0);
            if n == 0 || n != parts {
                return Err(cx.fail(format!("num_outputs {n} differs from the {parts} outputs")));
            }
            let each = d.div_ceil(n);
            (0..n).map(|i| (each.min(d.saturating_sub(i * each))) as i64).collect()
        }
    };
    if sizes.len() != parts || sizes.iter().any(|&v| v < 0) || sizes.iter().sum::<i64>() != d as i64 {
        return Err(cx.fail(format!("split {sizes:?} must be {parts} non-negative sizes adding up to axis {axis} ({d})")));
    }
    let mut ids = Vec::new();
    let mut at = 0;
    for (k, &n) in sizes.iter().enumerate() {
        if n == 0 {
            return Err(cx.fail(format!("output {k} would be empty")));
        }
        let op = FOp::Slice { axes: vec![axis], starts: vec![at], ends: vec![at + n], steps: vec![1] };
        ids.push(b.push(cx.name, cx.op, op, vec![x], cx.node.output[k].as_str())?);
        at += n;
    }
    Ok(Out::Many(ids))
}
