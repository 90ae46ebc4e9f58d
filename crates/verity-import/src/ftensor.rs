//! Real-valued tensors (f64, so int64 shape data stays exact) and the float kernels used
//! for constant folding and calibration. Only ranges come out of here; the integer
//! semantics never depend on these results.

use verity_model::shape::{broadcast, broadcast_strides, gather_source, lane, numel, slice_source, strides, window_taps};
use verity_model::Window;

#[derive(Clone, Debug, PartialEq)]
pub struct FTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl FTensor {
    pub fn new(shape: Vec<usize>, data: Vec<f64>) -> Self {
        debug_assert_eq!(numel(&shape), data.len());
        FTensor { shape, data }
    }
    pub fn scalar(v: f64) -> Self {
        FTensor { shape: vec![], data: vec![v] }
    }
    pub fn max_abs(&self) -> f64 {
        self.data.iter().fold(0.0, |m, v| m.max(v.abs()))
    }
    pub fn ints(&self) -> Vec<i64> {
        self.data.iter().map(|&v| v as i64).collect()
    }
}

/// Calls `f` with every multi-index of `shape` in row-major order.
pub fn for_each_index(shape: &[usize], mut f: impl FnMut(&[usize])) {
    let mut idx = vec![0; shape.len()];
    for _ in 0..numel(shape) {
        f(&idx);
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

fn dot(i: &[usize], s: &[usize]) -> usize {
    i.iter().zip(s).map(|(a, b)| a * b).sum()
}

pub fn binary(a: &FTensor, b: &FTensor, f: impl Fn(f64, f64) -> f64) -> Option<FTensor> {
    let shape = broadcast(&a.shape, &b.shape).ok()?;
    let (sa, sb) = (broadcast_strides(&a.shape, &shape), broadcast_strides(&b.shape, &shape));
    let mut data = Vec::with_capacity(numel(&shape));
    for_each_index(&shape, |i| data.push(f(a.data[dot(i, &sa)], b.data[dot(i, &sb)])));
    Some(FTensor::new(shape, data))
}

/// `x [.., k] . w[n, k]^T + b`.
pub fn linear(x: &FTensor, w: &[f64], b: &[f64]) -> FTensor {
    let k = *x.shape.last().unwrap();
    let n = b.len();
    let rows = x.data.len() / k;
    let mut data = Vec::with_capacity(rows * n);
    for r in 0..rows {
        let xr = &x.data[r * k..(r + 1) * k];
        for j in 0..n {
            data.push(b[j] + xr.iter().zip(&w[j * k..(j + 1) * k]).map(|(a, b)| a * b).sum::<f64>());
        }
    }
    let mut shape = x.shape.clone();
    *shape.last_mut().unwrap() = n;
    FTensor::new(shape, data)
}

pub fn matmul(a: &FTensor, b: &FTensor) -> Option<FTensor> {
    let shape = verity_model::shape::matmul(&a.shape, &b.shape).ok()?;
    let r = shape.len();
    let (m, k, n) = (a.shape[a.shape.len() - 2], a.shape[a.shape.len() - 1], b.shape[b.shape.len() - 1]);
    let sa = broadcast_strides(&a.shape[..a.shape.len() - 2], &shape[..r - 2]);
    let sb = broadcast_strides(&b.shape[..b.shape.len() - 2], &shape[..r - 2]);
    let mut data = Vec::with_capacity(numel(&shape));
    for_each_index(&shape, |o| {
        let (ao, bo) = (dot(&o[..r - 2], &sa) * m * k, dot(&o[..r - 2], &sb) * k * n);
        let (i, j) = (o[r - 2], o[r - 1]);
        data.push((0..k).map(|t| a.data[ao + i * k + t] * b.data[bo + t * n + j]).sum());
    });
    Some(FTensor::new(shape, data))
}

/// NCHW convolution; `w` is `[c_out, c_in / groups, kh, kw]`.
pub fn conv(x: &FTensor, w: &[f64], b: &[f64], win: &Window, groups: usize) -> Option<FTensor> {
    let [oh, ow] = win.out_size(x.shape[2], x.shape[3])?;
    let (c_in, h, wd, c_out) = (x.shape[1], x.shape[2], x.shape[3], b.len());
    let (cig, cog) = (c_in / groups, c_out / groups);
    let [kh, kw] = win.kernel;
    let shape = vec![x.shape[0], c_out, oh, ow];
    let xs = strides(&x.shape);
    let mut data = Vec::with_capacity(numel(&shape));
    for_each_index(&shape, |o| {
        let g = o[1] / cog;
        let mut acc = b[o[1]];
        for ic in 0..cig {
            for (ky, kx, iy, ix) in window_taps(win, h, wd, o[2], o[3]) {
                acc += x.data[dot(&[o[0], g * cig + ic, iy, ix], &xs)] * w[((o[1] * cig + ic) * kh + ky) * kw + kx];
            }
        }
        data.push(acc);
    });
    Some(FTensor::new(shape, data))
}

/// Max pool (`avg == None`) or average pool (`Some(count_include_pad)`).
pub fn pool(x: &FTensor, win: &Window, avg: Option<bool>) -> Option<FTensor> {
    let [oh, ow] = win.out_size(x.shape[2], x.shape[3])?;
    let shape = vec![x.shape[0], x.shape[1], oh, ow];
    let xs = strides(&x.shape);
    let mut data = Vec::with_capacity(numel(&shape));
    for_each_index(&shape, |o| {
        let (mut best, mut sum, mut n) = (f64::NEG_INFINITY, 0.0, 0usize);
        for (_, _, iy, ix) in window_taps(win, x.shape[2], x.shape[3], o[2], o[3]) {
            let v = x.data[dot(&[o[0], o[1], iy, ix], &xs)];
            best = best.max(v);
            sum += v;
            n += 1;
        }
        data.push(match avg {
            None => best,
            Some(true) => sum / (win.kernel[0] * win.kernel[1]) as f64,
            Some(false) => sum / n as f64,
        });
    });
    Some(FTensor::new(shape, data))
}

pub fn reduce(x: &FTensor, axes: &[usize], keep: bool, mean: bool) -> FTensor {
    let kept = verity_model::shape::reduce(&x.shape, axes, true);
    let ks = strides(&kept);
    let mut sums = vec![0.0; numel(&kept)];
    let mut at = 0;
    for_each_index(&x.shape, |i| {
        let r: Vec<usize> = i.iter().enumerate().map(|(d, &v)| if axes.contains(&d) { 0 } else { v }).collect();
        sums[dot(&r, &ks)] += x.data[at];
        at += 1;
    });
    if mean {
        let n: usize = axes.iter().map(|&a| x.shape[a]).product();
        sums.iter_mut().for_each(|s| *s /= n as f64);
    }
    FTensor::new(verity_model::shape::reduce(&x.shape, axes, keep), sums)
}

pub fn softmax(x: &FTensor, axis: usize) -> FTensor {
    let mut data = x.data.clone();
    let step = strides(&x.shape)[axis];
    // One lane per element at position 0 along `axis`.
    for j in (0..x.data.len()).filter(|j| (j / step).is_multiple_of(x.shape[axis])) {
        let lane: Vec<usize> = lane(&x.shape, axis, j).collect();
        let max = lane.iter().map(|&i| x.data[i]).fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = lane.iter().map(|&i| libm::exp(x.data[i] - max)).sum();
        for &i in &lane {
            data[i] = libm::exp(x.data[i] - max) / sum;
        }
    }
    FTensor::new(x.shape.clone(), data)
}

pub fn layer_norm(x: &FTensor, axis: usize, eps: f64, gamma: &[f64], beta: &[f64]) -> FTensor {
    let n = numel(&x.shape[axis..]);
    let mut data = Vec::with_capacity(x.data.len());
    for row in x.data.chunks(n) {
        let mean = row.iter().sum::<f64>() / n as f64;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
        let den = (var + eps).sqrt();
        data.extend(row.iter().enumerate().map(|(i, v)| (v - mean) / den * gamma[i] + beta[i]));
    }
    FTensor::new(x.shape.clone(), data)
}

pub fn transpose(x: &FTensor, perm: &[usize]) -> FTensor {
    let xs = strides(&x.shape);
    let shape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
    let src: Vec<usize> = perm.iter().map(|&p| xs[p]).collect();
    let mut data = Vec::with_capacity(x.data.len());
    for_each_index(&shape, |o| data.push(x.data[dot(o, &src)]));
    FTensor::new(shape, data)
}

pub fn concat(ins: &[&FTensor], axis: usize) -> FTensor {
    let mut shape = ins[0].shape.clone();
    shape[axis] = ins.iter().map(|t| t.shape[axis]).sum();
    let outer: usize = shape[..axis].iter().product();
    let mut data = Vec::with_capacity(numel(&shape));
    for o in 0..outer {
        for t in ins {
            let block = numel(&t.shape[axis..]);
            data.extend_from_slice(&t.data[o * block..(o + 1) * block]);
        }
    }
    FTensor::new(shape, data)
}

pub fn slice(x: &FTensor, axes: &[usize], starts: &[i64], ends: &[i64], steps: &[i64]) -> FTensor {
    let mut shape = x.shape.clone();
    for (k, &a) in axes.iter().enumerate() {
        shape[a] = verity_model::shape::slice_len(starts[k], ends[k], steps[k]);
    }
    let xs = strides(&x.shape);
    let mut data = Vec::with_capacity(numel(&shape));
    for_each_index(&shape, |o| data.push(x.data[slice_source(o, axes, starts, steps, &xs)]));
    FTensor::new(shape, data)
}

pub fn gather(x: &FTensor, axis: usize, indices: &[usize], ishape: &[usize]) -> FTensor {
    let mut shape = x.shape[..axis].to_vec();
    shape.extend(ishape);
    shape.extend(&x.shape[axis + 1..]);
    let xs = strides(&x.shape);
    let mut data = Vec::with_capacity(numel(&shape));
    for_each_index(&shape, |o| data.push(x.data[dot(&gather_source(o, axis, indices, ishape), &xs)]));
    FTensor::new(shape, data)
}

/// The index of the largest (`min`: smallest) element along `axis`, ties to the first
/// (`last`: the last), as a float.
pub fn arg(x: &FTensor, axis: usize, keep: bool, min: bool, last: bool) -> Option<FTensor> {
    let len = *x.shape.get(axis)?;
    let inner: usize = x.shape[axis + 1..].iter().product();
    let outer: usize = x.shape[..axis].iter().product();
    let key = |v: f64| if min { -v } else { v };
    let mut data = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            let at = |t: usize| x.data[(o * len + t) * inner + i];
            let mut best = 0;
            for t in 1..len {
                let (v, b) = (key(at(t)), key(at(best)));
                if v > b || (last && v == b) {
                    best = t;
                }
            }
            data.push(best as f64);
        }
    }
    Some(FTensor::new(verity_model::shape::reduce(&x.shape, &[axis], keep), data))
}
