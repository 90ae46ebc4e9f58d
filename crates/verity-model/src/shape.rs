//! Shape rules of the canonical ops.

use crate::error::{invalid, Result};
use crate::ops::Window;

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major strides.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Numpy-style multidirectional broadcast of two shapes.
pub fn broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return invalid(format!("shapes {a:?} and {b:?} do not broadcast")),
        };
    }
    Ok(out)
}

/// Strides that read an input of `shape` as if it had the broadcast shape `out`
/// (stride 0 along broadcast axes).
pub fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let s = strides(shape);
    let off = out.len() - shape.len();
    (0..out.len()).map(|i| if i < off || shape[i - off] == 1 { 0 } else { s[i - off] }).collect()
}

/// Shape of `[.., m, k] x [.., k, n]` with broadcast batch dimensions.
pub fn matmul(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    if a.len() < 2 || b.len() < 2 {
        return invalid(format!("MatMul needs operands of rank >= 2, got {a:?} and {b:?}"));
    }
    let (m, k) = (a[a.len() - 2], a[a.len() - 1]);
    let (k2, n) = (b[b.len() - 2], b[b.len() - 1]);
    if k != k2 {
        return invalid(format!("MatMul inner dimensions differ: {a:?} x {b:?}"));
    }
    let mut out = broadcast(&a[..a.len() - 2], &b[..b.len() - 2])?;
    out.extend([m, n]);
    Ok(out)
}

/// Shape after reducing `axes` of `shape`.
pub fn reduce(shape: &[usize], axes: &[usize], keep_dims: bool) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, &d) in shape.iter().enumerate() {
        if axes.contains(&i) {
            if keep_dims {
                out.push(1);
            }
        } else {
            out.push(d);
        }
    }
    out
}

/// Number of elements a slice with this `start`, exclusive `end` and `step` selects.
pub fn slice_len(start: i64, end: i64, step: i64) -> usize {
    if step > 0 && end > start {
        ((end - start + step - 1) / step) as usize
    } else if step < 0 && start > end {
        ((start - end - step - 1) / -step) as usize
    } else {
        0
    }
}

// Index maps shared by every evaluator of the ops (reference, importer): which input
// elements an output element reads.

/// `(ky, kx, y, x)`: the input positions read by output position `(oy, ox)` of a window
/// over an `h × wd` input, in kernel order, skipping padding.
pub fn window_taps(
    w: &Window,
    h: usize,
    wd: usize,
    oy: usize,
    ox: usize,
) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
    (0..w.kernel[0]).flat_map(move |ky| (0..w.kernel[1]).map(move |kx| (ky, kx))).filter_map(move |(ky, kx)| {
        let y = (oy * w.stride[0] + ky * w.dilation[0]) as i64 - w.pads[0] as i64;
        let x = (ox * w.stride[1] + kx * w.dilation[1]) as i64 - w.pads[1] as i64;
        (y >= 0 && x >= 0 && (y as usize) < h && (x as usize) < wd).then_some((ky, kx, y as usize, x as usize))
    })
}

/// Flat indices of the lane through flat index `j` along `axis`.
pub fn lane(shape: &[usize], axis: usize, j: usize) -> impl Iterator<Item = usize> {
    let s = strides(shape);
    let base = j - (j / s[axis] % shape[axis]) * s[axis];
    (0..shape[axis]).map(move |i| base + i * s[axis])
}

/// Flat input index that output multi-index `o` of a Slice reads (`in_strides` of the input).
pub fn slice_source(o: &[usize], axes: &[usize], starts: &[i64], steps: &[i64], in_strides: &[usize]) -> usize {
    let off: i64 = o
        .iter()
        .enumerate()
        .map(|(d, &i)| {
            let p = axes.iter().position(|&a| a == d).map_or(i as i64, |k| starts[k] + i as i64 * steps[k]);
            p * in_strides[d] as i64
        })
        .sum();
    off as usize
}

/// Input multi-index that output multi-index `o` of a Gather reads.
pub fn gather_source(o: &[usize], axis: usize, indices: &[usize], indices_shape: &[usize]) -> Vec<usize> {
    let q = indices_shape.len();
    let at: usize = o[axis..axis + q].iter().zip(strides(indices_shape)).map(|(a, b)| a * b).sum();
    let mut src = o[..axis].to_vec();
    src.push(indices[at]);
    src.extend(&o[axis + q..]);
    src
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting() {
        assert_eq!(broadcast(&[2, 1, 4], &[3, 1]).unwrap(), vec![2, 3, 4]);
        assert!(broadcast(&[2, 3], &[4]).is_err());
        assert_eq!(broadcast_strides(&[3, 1], &[2, 3, 4]), vec![0, 1, 0]);
        assert_eq!(matmul(&[1, 4, 8, 8], &[1, 4, 8, 2]).unwrap(), vec![1, 4, 8, 2]);
        assert_eq!(slice_len(0, 10, 3), 4);
        assert_eq!(slice_len(9, -1, -2), 5);
    }
}
