//! Indexing with constant indices: GatherElements, GatherND, ScatterElements, ScatterND
//! and Trilu. The indices are known at import, so each op is a map from output positions
//! to source positions: a Gather over the flattened input (values copied exactly), and
//! for the scatters a Where between the data and the gathered updates (combined with the
//! data first under a reduction).

use crate::error::Result;
use crate::fgraph::{Binary, FOp};
use crate::ftensor::{for_each_index, FTensor};
use crate::translate::{norm_axis, Builder, Cx, Out};
use verity_model::shape::{numel, strides};
use verity_model::CmpMode;

/// Index `i` (negative from the end) into an axis of `d`, or an error naming it.
fn wrap(cx: &Cx, i: i64, d: usize) -> Result<usize> {
    let j = if i < 0 { i + d as i64 } else { i };
    (0..d as i64).contains(&j).then_some(j as usize).ok_or_else(|| cx.fail(format!("index {i} out of range for an axis of {d}")))
}

/// `x` as one axis, for a Gather of flat positions.
fn flat(b: &mut Builder, cx: &Cx, x: usize) -> Result<usize> {
    let s = b.shape(x);
    if s.len() == 1 {
        return Ok(x);
    }
    b.push(cx.name, cx.op, FOp::Reshape { shape: vec![numel(&s)] }, vec![x], &cx.part("flat"))
}

fn pick(src: Vec<usize>, shape: Vec<usize>) -> FOp {
    FOp::Gather { axis: 0, indices: src, indices_shape: shape }
}

pub fn gather_elements(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    let idx = cx.konst_in(1, "indices")?;
    let axis = norm_axis(cx.a.int("axis", 0), s.len()).ok_or_else(|| cx.fail("axis out of range"))?;
    if idx.shape.len() != s.len() || (0..s.len()).any(|d| d != axis && idx.shape[d] > s[d]) {
        return Err(cx.fail(format!("indices shape {:?} does not fit input {s:?} on axis {axis}", idx.shape)));
    }
    let (st, ist, vals) = (strides(&s), strides(&idx.shape), idx.ints());
    let mut src = Vec::with_capacity(vals.len());
    let mut err = None;
    for_each_index(&idx.shape, |p| {
        let flat: usize = p.iter().zip(&ist).map(|(a, b)| a * b).sum();
        match wrap(cx, vals[flat], s[axis]) {
            Ok(j) => src.push(p.iter().enumerate().map(|(d, &v)| if d == axis { j } else { v } * st[d]).sum()),
            Err(e) => {
                err.get_or_insert(e);
            }
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    Ok(Out::Node(pick(src, idx.shape), vec![flat(b, cx, x)?]))
}

/// The flat source offset of every index tuple of GatherND/ScatterND: `indices` is
/// `[..batch, ..rest, q]`, each tuple addressing the first `q` axes after the batch ones.
/// Returns the offsets (per tuple, in order) and the size of the slice each one starts.
fn nd_offsets(cx: &Cx, s: &[usize], idx: &FTensor, batch: usize) -> Result<(Vec<usize>, usize)> {
    let r = idx.shape.len();
    let q = *idx.shape.last().ok_or_else(|| cx.fail("indices must not be a scalar"))?;
    if r < 1 + batch || batch + q > s.len() || idx.shape[..batch] != s[..batch] {
        return Err(cx.fail(format!("indices shape {:?} does not fit input {s:?} with batch_dims {batch}", idx.shape)));
    }
    let st = strides(s);
    let slice = numel(&s[batch + q..]);
    let per_batch = numel(&idx.shape[batch..r - 1]);
    let vals = idx.ints();
    let mut out = Vec::new();
    for (t, tuple) in vals.chunks(q.max(1)).enumerate().take(numel(&idx.shape[..r - 1])) {
        let bi = t / per_batch.max(1);
        let mut off: usize = 0;
        let mut rem = bi;
        for d in (0..batch).rev() {
            off += (rem % s[d]) * st[d];
            rem /= s[d];
        }
        for (k, &v) in tuple.iter().enumerate().take(q) {
            off += wrap(cx, v, s[batch + k])? * st[batch + k];
        }
        out.push(off);
    }
    Ok((out, slice))
}

pub fn gather_nd(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    let idx = cx.konst_in(1, "indices")?;
    let batch = usize::try_from(cx.a.int("batch_dims", 0)).map_err(|_| cx.fail("batch_dims must be non-negative"))?;
    let (offsets, slice) = nd_offsets(cx, &s, &idx, batch)?;
    let q = *idx.shape.last().unwrap_or(&0);
    let mut shape: Vec<usize> = idx.shape[..idx.shape.len() - 1].to_vec();
    shape.extend_from_slice(&s[batch + q..]);
    let src = offsets.iter().flat_map(|&o| o..o + slice).collect();
    Ok(Out::Node(pick(src, shape), vec![flat(b, cx, x)?]))
}

/// How a scatter combines what is already at a position with an update written there.
#[derive(Clone, Copy, PartialEq)]
enum Reduction {
    /// The update replaces it (duplicates: the last write wins, as in onnxruntime; ONNX
    /// leaves them undefined).
    None,
    Add,
    Mul,
    Max,
    Min,
}

/// The scatters. Per output position, the updates written there in index order; with
/// `reduction="none"` the position takes the last one (or keeps the data), otherwise the
/// data is combined with each in turn: one Gather of the updates and one masked combine
/// per level of duplication (a position written twice needs two levels).
pub fn scatter(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let (data, updates) = (cx.x()?, cx.input(2)?);
    let s = cx.shape_of(data);
    let us = cx.shape_of(updates);
    let idx = cx.konst_in(1, "indices")?;
    let reduction = match cx.a.string("reduction").as_deref().unwrap_or("none") {
        "none" => Reduction::None,
        "add" => Reduction::Add,
        "mul" => Reduction::Mul,
        "max" => Reduction::Max,
        "min" => Reduction::Min,
        r => return Err(cx.fail(format!("reduction '{r}' is not one of none, add, mul, max, min"))),
    };
    let n = numel(&s);
    // Per output position: the flat update positions written there, in index order.
    let mut from: Vec<Vec<usize>> = vec![Vec::new(); n];
    if cx.op == "ScatterND" {
        let (offsets, slice) = nd_offsets(cx, &s, &idx, 0)?;
        let q = *idx.shape.last().unwrap_or(&0);
        let mut want: Vec<usize> = idx.shape[..idx.shape.len() - 1].to_vec();
        want.extend_from_slice(&s[q..]);
        if us != want {
            return Err(cx.fail(format!("updates shape {us:?} must be {want:?}")));
        }
        for (t, &o) in offsets.iter().enumerate() {
            (0..slice).for_each(|k| from[o + k].push(t * slice + k));
        }
    } else {
        let axis = norm_axis(cx.a.int("axis", 0), s.len()).ok_or_else(|| cx.fail("axis out of range"))?;
        if idx.shape != us || us.len() != s.len() || (0..s.len()).any(|d| d != axis && us[d] > s[d]) {
            return Err(cx.fail(format!("indices {:?} and updates {us:?} must have one shape that fits data {s:?}", idx.shape)));
        }
        let (st, ist, vals) = (strides(&s), strides(&us), idx.ints());
        let mut err = None;
        for_each_index(&us, |p| {
            let u: usize = p.iter().zip(&ist).map(|(a, b)| a * b).sum();
            match wrap(cx, vals[u], s[axis]) {
                Ok(j) => from[p.iter().enumerate().map(|(d, &v)| if d == axis { j } else { v } * st[d]).sum::<usize>()].push(u),
                Err(e) => {
                    err.get_or_insert(e);
                }
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
    }
    if reduction == Reduction::None {
        from.iter_mut().for_each(|f| *f = f.last().copied().into_iter().collect());
    }
    let levels = from.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let u = flat(b, cx, updates)?;
    let mut acc = data;
    for level in 0..levels {
        let last = level + 1 == levels;
        let part = |what: &str| if level == 0 { cx.part(what) } else { cx.part(&format!("{what}{level}")) };
        let src: Vec<usize> = from.iter().map(|f| f.get(level).copied().unwrap_or(0)).collect();
        let written = FTensor::new(s.clone(), from.iter().map(|f| (f.len() > level) as u8 as f64).collect());
        let mask = b.add_const(&part("written"), written);
        let g = b.push(cx.name, cx.op, pick(src, s.clone()), vec![u], &part("updates"))?;
        let value = match reduction {
            Reduction::None => g,
            Reduction::Add => b.push(cx.name, cx.op, FOp::Binary(Binary::Add), vec![acc, g], &part("sum"))?,
            Reduction::Mul => b.push(cx.name, cx.op, FOp::Binary(Binary::Mul), vec![acc, g], &part("product"))?,
            Reduction::Max | Reduction::Min => {
                let mode = if reduction == Reduction::Max { CmpMode::Greater } else { CmpMode::Less };
                let keep = b.push(cx.name, cx.op, FOp::Compare(mode), vec![acc, g], &part("keep"))?;
                b.push(cx.name, cx.op, FOp::Where, vec![keep, acc, g], &part("extreme"))?
            }
        };
        if last {
            return Ok(Out::Node(FOp::Where, vec![mask, value, acc]));
        }
        acc = b.push(cx.name, cx.op, FOp::Where, vec![mask, value, acc], &part("merged"))?;
    }
    unreachable!("the last level returns")
}

/// Trilu: the kept triangle (`upper`, diagonal offset `k`) selected by a constant mask;
/// the rest is 0.
pub fn trilu(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    if s.len() < 2 {
        return Err(cx.fail(format!("input must have at least two axes, got {s:?}")));
    }
    let k = match cx.konst_opt(1, "k")? {
        Some(t) if t.data.len() == 1 => t.ints()[0],
        Some(t) => return Err(cx.fail(format!("k must be a scalar, got shape {:?}", t.shape))),
        None => 0,
    };
    let upper = cx.flag("upper", true)?;
    let (rows, cols) = (s[s.len() - 2], s[s.len() - 1]);
    let plane: Vec<f64> = (0..rows * cols)
        .map(|p| {
            let d = (p % cols) as i64 - (p / cols) as i64;
            (if upper { d >= k } else { d <= k }) as u8 as f64
        })
        .collect();
    let mask = b.add_const(&cx.part("kept"), FTensor::new(vec![rows, cols], plane));
    let zero = b.add_const(&cx.part("zero"), FTensor::scalar(0.0));
    Ok(Out::Node(FOp::Where, vec![mask, x, zero]))
}
