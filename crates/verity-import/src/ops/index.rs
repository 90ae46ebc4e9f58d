//! Indexing with constant indices: GatherElements, GatherND, ScatterElements, ScatterND
//! and Trilu. The indices are known at import, so each op is a map from output positions
//! to source positions: a Gather over the flattened input (values copied exactly), and
//! for the scatters a Where between the data and the gathered updates.

use crate::error::Result;
use crate::fgraph::FOp;
use crate::ftensor::{for_each_index, FTensor};
use crate::translate::{norm_axis, Builder, Cx, Out};
use verity_model::shape::numel;

/// Row-major strides of `shape`.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut st = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        st[d] = st[d + 1] * shape[d + 1];
    }
    st
}

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

/// The scatters: every output position takes the data, or the update written there
/// last (ONNX leaves duplicate indices undefined; the last write wins here, as in
/// onnxruntime). Only `reduction="none"` is supported.
pub fn scatter(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let (data, updates) = (cx.x()?, cx.input(2)?);
    let s = cx.shape_of(data);
    let us = cx.shape_of(updates);
    let idx = cx.konst_in(1, "indices")?;
    match cx.a.string("reduction").as_deref().unwrap_or("none") {
        "none" => {}
        r => return Err(cx.fail(format!("reduction '{r}' is not supported (only 'none')"))),
    }
    let n = numel(&s);
    // Per output position: the flat update position written there, if any.
    let mut from: Vec<Option<usize>> = vec![None; n];
    if cx.op == "ScatterND" {
        let (offsets, slice) = nd_offsets(cx, &s, &idx, 0)?;
        let q = *idx.shape.last().unwrap_or(&0);
        let mut want: Vec<usize> = idx.shape[..idx.shape.len() - 1].to_vec();
        want.extend_from_slice(&s[q..]);
        if us != want {
            return Err(cx.fail(format!("updates shape {us:?} must be {want:?}")));
        }
        for (t, &o) in offsets.iter().enumerate() {
            (0..slice).for_each(|k| from[o + k] = Some(t * slice + k));
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
                Ok(j) => from[p.iter().enumerate().map(|(d, &v)| if d == axis { j } else { v } * st[d]).sum::<usize>()] = Some(u),
                Err(e) => {
                    err.get_or_insert(e);
                }
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
    }
    let src: Vec<usize> = from.iter().map(|f| f.unwrap_or(0)).collect();
    let u = flat(b, cx, updates)?;
    let gathered = b.push(cx.name, cx.op, pick(src, s.clone()), vec![u], &cx.part("updates"))?;
    let mask = FTensor::new(s.clone(), from.iter().map(|f| f.is_some() as u8 as f64).collect());
    let mask = b.add_const(&cx.part("written"), mask);
    Ok(Out::Node(FOp::Where, vec![mask, gathered, data]))
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
