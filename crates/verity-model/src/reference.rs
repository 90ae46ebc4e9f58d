//! The reference interpreter: a direct transcription of docs/semantics.md, one output
//! element at a time. It is slow on purpose; it defines the answer.

use crate::arith::{clamp_bits, div_round, isqrt, qrange, requant, rshift_round};
use crate::error::{ModelError, Result};
use crate::graph::{Model, Node, ValueInfo};
use crate::ops::{Op, Window};
use crate::shape::{broadcast_strides, numel, strides};
use crate::tensor::Tensor;

/// Runs `model` on integer `inputs` (one per graph input) and returns the outputs.
pub fn run(model: &Model, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let values = evaluate(model, inputs, |_, _| {})?;
    Ok(model.outputs.iter().map(|&o| values[o as usize].clone().expect("validated output")).collect())
}

/// Runs `model` and returns every node's output in execution order (the trace).
pub fn trace(model: &Model, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let mut out = Vec::with_capacity(model.nodes.len());
    evaluate(model, inputs, |_, t| out.push(t.clone()))?;
    Ok(out)
}

/// Checks that `inputs` match the model's inputs in count, shape and range.
pub fn check_inputs(model: &Model, inputs: &[Tensor]) -> Result<()> {
    if inputs.len() != model.inputs.len() {
        return Err(ModelError::Input(format!("model takes {} inputs, got {}", model.inputs.len(), inputs.len())));
    }
    for (t, &id) in inputs.iter().zip(&model.inputs) {
        let v = model.value(id);
        if t.shape != v.shape || t.data.len() != numel(&v.shape) {
            return Err(ModelError::Input(format!(
                "input '{}' has shape {:?}, the model expects {:?}",
                v.name, t.shape, v.shape
            )));
        }
        let (lo, hi) = qrange(v.bits);
        if let Some(x) = t.data.iter().find(|&&x| (x as i64) < lo || (x as i64) > hi) {
            return Err(ModelError::Input(format!("input '{}' holds {x}, outside the {}-bit range", v.name, v.bits)));
        }
    }
    Ok(())
}

fn evaluate(model: &Model, inputs: &[Tensor], mut on_node: impl FnMut(usize, &Tensor)) -> Result<Vec<Option<Tensor>>> {
    check_inputs(model, inputs)?;
    let mut values: Vec<Option<Tensor>> = vec![None; model.values.len()];
    for (t, &id) in inputs.iter().zip(&model.inputs) {
        values[id as usize] = Some(t.clone());
    }
    for (i, node) in model.nodes.iter().enumerate() {
        let ins: Vec<&Tensor> = node.inputs.iter().map(|&id| values[id as usize].as_ref().expect("validated order")).collect();
        let out = eval_node(model, node, &ins);
        on_node(i, &out);
        values[node.output as usize] = Some(out);
    }
    Ok(values)
}

/// Calls `f` with every multi-index of `shape`, in row-major order.
fn for_each_index(shape: &[usize], mut f: impl FnMut(&[usize])) {
    if shape.contains(&0) {
        return;
    }
    let mut idx = vec![0; shape.len()];
    loop {
        f(&idx);
        let mut d = shape.len();
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

fn dot(idx: &[usize], strides: &[usize]) -> usize {
    idx.iter().zip(strides).map(|(i, s)| i * s).sum()
}

/// Input position `(y, x)` read by output position `(oy, ox)` at kernel tap `(ky, kx)`,
/// or `None` where it falls in the padding.
fn tap(w: &Window, h: usize, wd: usize, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
    let y = (oy * w.stride[0] + ky * w.dilation[0]) as i64 - w.pads[0] as i64;
    let x = (ox * w.stride[1] + kx * w.dilation[1]) as i64 - w.pads[1] as i64;
    (y >= 0 && x >= 0 && (y as usize) < h && (x as usize) < wd).then_some((y as usize, x as usize))
}

fn eval_node(model: &Model, node: &Node, ins: &[&Tensor]) -> Tensor {
    let out_info: &ValueInfo = model.value(node.output);
    let bits = out_info.bits;
    let shape = out_info.shape.clone();
    let mut data = vec![0i32; numel(&shape)];
    let x = ins.first().copied();
    match &node.op {
        Op::Const { data: d } => data.copy_from_slice(d),
        Op::Linear { weight, bias, rq } => {
            let x = x.unwrap();
            let k = *x.shape.last().unwrap();
            let n = bias.len();
            for (o, y) in data.iter_mut().enumerate() {
                let (row, j) = (o / n, o % n);
                let acc = bias[j] as i64 + (0..k).map(|t| x.data[row * k + t] as i64 * weight[j * k + t] as i64).sum::<i64>();
                let (m, s) = rq.at(j);
                *y = requant(acc, m, s, bits);
            }
        }
        Op::Conv { weight, bias, window, groups, rq } => {
            let x = x.unwrap();
            let (c_in, h, wd) = (x.shape[1], x.shape[2], x.shape[3]);
            let [kh, kw] = window.kernel;
            let c_out = bias.len();
            let (cig, cog) = (c_in / groups, c_out / groups);
            let xs = strides(&x.shape);
            for_each_index(&shape, |o| {
                let (b, oc, oy, ox) = (o[0], o[1], o[2], o[3]);
                let g = oc / cog;
                let mut acc = bias[oc] as i64;
                for ic in 0..cig {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            if let Some((iy, ix)) = tap(window, h, wd, oy, ox, ky, kx) {
                                let xv = x.data[dot(&[b, g * cig + ic, iy, ix], &xs)] as i64;
                                acc += xv * weight[((oc * cig + ic) * kh + ky) * kw + kx] as i64;
                            }
                        }
                    }
                }
                let (m, s) = rq.at(oc);
                data[dot(o, &strides(&shape))] = requant(acc, m, s, bits);
            });
        }
        Op::MatMul { rq } => {
            let (a, b) = (ins[0], ins[1]);
            let r = shape.len();
            let k = a.shape[a.shape.len() - 1];
            let a_batch = broadcast_strides(&a.shape[..a.shape.len() - 2], &shape[..r - 2]);
            let b_batch = broadcast_strides(&b.shape[..b.shape.len() - 2], &shape[..r - 2]);
            let (mk, kn, n) = (k * a.shape[a.shape.len() - 2], k * b.shape[b.shape.len() - 1], b.shape[b.shape.len() - 1]);
            let os = strides(&shape);
            for_each_index(&shape, |o| {
                let batch = &o[..r - 2];
                let (i, j) = (o[r - 2], o[r - 1]);
                let a_off = batch_offset(batch, &a_batch, mk);
                let b_off = batch_offset(batch, &b_batch, kn);
                let acc: i64 = (0..k).map(|t| a.data[a_off + i * k + t] as i64 * b.data[b_off + t * n + j] as i64).sum();
                let (m, s) = rq.at(0);
                data[dot(o, &os)] = requant(acc, m, s, bits);
            });
        }
        Op::Add { .. } | Op::Mul { .. } | Op::Div { .. } => {
            let (a, b) = (ins[0], ins[1]);
            let sa = broadcast_strides(&a.shape, &shape);
            let sb = broadcast_strides(&b.shape, &shape);
            let os = strides(&shape);
            let (lo, hi) = qrange(bits);
            for_each_index(&shape, |o| {
                let av = a.data[dot(o, &sa)] as i64;
                let bv = b.data[dot(o, &sb)] as i64;
                let y = match node.op {
                    Op::Add { mult_a, mult_b, shift } => rshift_round(av * mult_a as i64 + bv * mult_b as i64, shift),
                    Op::Mul { mult, shift } => rshift_round(av * bv * mult as i64, shift),
                    Op::Div { mult, shift } => {
                        if bv == 0 {
                            match av.signum() * (mult as i64).signum() {
                                1 => hi,
                                -1 => lo,
                                _ => 0,
                            }
                        } else {
                            let n = (av * mult as i64) as i128 * bv.signum() as i128;
                            div_round(n, (bv.abs() as i128) << shift) as i64
                        }
                    }
                    _ => unreachable!(),
                };
                data[dot(o, &os)] = clamp_bits(y, bits);
            });
        }
        Op::Rescale { mult, shift } => {
            for (y, &v) in data.iter_mut().zip(&x.unwrap().data) {
                *y = requant(v as i64, *mult, *shift, bits);
            }
        }
        Op::Clamp { lo, hi } => {
            for (y, &v) in data.iter_mut().zip(&x.unwrap().data) {
                *y = v.clamp(*lo, *hi);
            }
        }
        Op::Lut { table } => {
            let lo = qrange(model.value(node.inputs[0]).bits).0;
            for (y, &v) in data.iter_mut().zip(&x.unwrap().data) {
                *y = table[(v as i64 - lo) as usize];
            }
        }
        Op::PRelu { pos_mult, neg_mult, shift } => {
            let os = strides(&shape);
            let xd = &x.unwrap().data;
            for_each_index(&shape, |o| {
                let at = dot(o, &os);
                let v = xd[at] as i64;
                let c = if neg_mult.len() == 1 { 0 } else { o[1] };
                let m = if v >= 0 { *pos_mult } else { neg_mult[c] };
                data[at] = requant(v, m, *shift, bits);
            });
        }
        Op::MaxPool { window } | Op::AvgPool { window, .. } => {
            let x = x.unwrap();
            let (h, wd) = (x.shape[2], x.shape[3]);
            let xs = strides(&x.shape);
            let os = strides(&shape);
            for_each_index(&shape, |o| {
                let (mut best, mut sum, mut count) = (i64::MIN, 0i64, 0i64);
                for ky in 0..window.kernel[0] {
                    for kx in 0..window.kernel[1] {
                        if let Some((iy, ix)) = tap(window, h, wd, o[2], o[3], ky, kx) {
                            let v = x.data[dot(&[o[0], o[1], iy, ix], &xs)] as i64;
                            best = best.max(v);
                            sum += v;
                            count += 1;
                        }
                    }
                }
                data[dot(o, &os)] = match node.op {
                    Op::AvgPool { count_include_pad, mult, shift, .. } => {
                        if count_include_pad {
                            count = (window.kernel[0] * window.kernel[1]) as i64;
                        }
                        clamp_bits(div_round(sum as i128 * mult as i128, (count as i128) << shift) as i64, bits)
                    }
                    _ => best as i32,
                };
            });
        }
        Op::Reduce { axes, mean, mult, shift, .. } => {
            let x = x.unwrap();
            let kept = crate::shape::reduce(&x.shape, axes, true);
            let ks = strides(&kept);
            let count: i64 = if *mean { axes.iter().map(|&a| x.shape[a] as i64).product() } else { 1 };
            let mut sums = vec![0i64; numel(&kept)];
            let xs = strides(&x.shape);
            for_each_index(&x.shape, |i| {
                let r: Vec<usize> = i.iter().enumerate().map(|(d, &v)| if axes.contains(&d) { 0 } else { v }).collect();
                sums[dot(&r, &ks)] += x.data[dot(i, &xs)] as i64;
            });
            for (y, s) in data.iter_mut().zip(sums) {
                *y = clamp_bits(div_round(s as i128 * *mult as i128, (count as i128) << shift) as i64, bits);
            }
        }
        Op::Softmax { axis, exp_table } => {
            let x = x.unwrap();
            let qmax = qrange(bits).1 as i128;
            for_lanes(&x.shape, *axis, |lane| {
                let max = lane.iter().map(|&i| x.data[i]).max().unwrap();
                let e: Vec<i128> = lane.iter().map(|&i| exp_table[(max - x.data[i]) as usize] as i128).collect();
                let sum: i128 = e.iter().sum();
                for (&i, &ei) in lane.iter().zip(&e) {
                    data[i] = clamp_bits(div_round(ei * qmax, sum) as i64, bits);
                }
            });
        }
        Op::LayerNorm { axis, eps, frac_bits, gamma, beta, shift } => {
            let x = x.unwrap();
            let n = numel(&x.shape[*axis..]);
            for (row, out) in x.data.chunks(n).zip(data.chunks_mut(n)) {
                let sum: i128 = row.iter().map(|&v| v as i128).sum();
                let d: Vec<i128> = row.iter().map(|&v| n as i128 * v as i128 - sum).collect();
                let ss: i128 = d.iter().map(|v| v * v).sum();
                let den = isqrt(((ss + *eps as i128) / n as i128) as u128) as i128;
                for (i, y) in out.iter_mut().enumerate() {
                    let zq = if den == 0 { 0 } else { div_round(d[i] << frac_bits, den) };
                    *y = clamp_bits(rshift_round((zq * gamma[i] as i128 + beta[i] as i128) as i64, *shift), bits);
                }
            }
        }
        Op::Reshape => data.copy_from_slice(&x.unwrap().data),
        Op::Transpose { perm } => {
            let x = x.unwrap();
            let xs = strides(&x.shape);
            let src: Vec<usize> = perm.iter().map(|&p| xs[p]).collect();
            let mut at = 0;
            for_each_index(&shape, |o| {
                data[at] = x.data[dot(o, &src)];
                at += 1;
            });
        }
        Op::Concat { axis } => {
            let mut at = 0;
            let outer: usize = shape[..*axis].iter().product();
            for o in 0..outer {
                for t in ins {
                    let block = numel(&t.shape[*axis..]);
                    data[at..at + block].copy_from_slice(&t.data[o * block..(o + 1) * block]);
                    at += block;
                }
            }
        }
        Op::Slice { axes, starts, ends: _, steps } => {
            let x = x.unwrap();
            let xs = strides(&x.shape);
            let mut at = 0;
            for_each_index(&shape, |o| {
                let mut off = 0i64;
                for (d, &i) in o.iter().enumerate() {
                    let pos = match axes.iter().position(|&a| a == d) {
                        Some(k) => starts[k] + i as i64 * steps[k],
                        None => i as i64,
                    };
                    off += pos * xs[d] as i64;
                }
                data[at] = x.data[off as usize];
                at += 1;
            });
        }
        Op::Gather { axis, indices, indices_shape } => {
            let x = x.unwrap();
            let xs = strides(&x.shape);
            let q = indices_shape.len();
            let mut at = 0;
            for_each_index(&shape, |o| {
                let idx_flat = dot(&o[*axis..*axis + q], &strides(indices_shape));
                let mut src: Vec<usize> = o[..*axis].to_vec();
                src.push(indices[idx_flat]);
                src.extend(&o[*axis + q..]);
                data[at] = x.data[dot(&src, &xs)];
                at += 1;
            });
        }
    }
    Tensor::new(shape, data)
}

/// Offset of a matrix in a batched operand: `batch` indexes the broadcast batch dims.
fn batch_offset(batch: &[usize], bstrides: &[usize], matrix: usize) -> usize {
    dot(batch, bstrides) * matrix
}

/// Calls `f` with the flat indices of every lane along `axis` of `shape`.
fn for_lanes(shape: &[usize], axis: usize, mut f: impl FnMut(&[usize])) {
    let s = strides(shape);
    let (len, step) = (shape[axis], s[axis]);
    let mut outer = shape.to_vec();
    outer[axis] = 1;
    for_each_index(&outer, |o| {
        let base = dot(o, &s);
        let lane: Vec<usize> = (0..len).map(|i| base + i * step).collect();
        f(&lane);
    });
}
