//! Network layers: convolution, normalization, softmax and pooling.

use crate::error::Result;
use crate::fgraph::{Binary, FOp};
use crate::ftensor::FTensor;
use crate::translate::{norm_axis, Builder, Cx, Out};
use verity_model::shape::numel;
use verity_model::Window;

/// A conv or pool's integer attributes as 2-D ones: a 1-D op (rank-3 input) is the 2-D
/// op over a height of 1, so its pads `[b, e]` become `[0, b, 0, e]`, its output
/// padding `[p]` becomes `[0, p]`, and every other single value `v` becomes `[1, v]`.
pub(crate) fn attrs_2d<'a>(cx: &'a Cx, one_d: bool) -> impl Fn(&str) -> Option<Vec<i64>> + 'a {
    move |name: &str| {
        let v = cx.a.ints(name)?;
        Some(match (one_d, name, v.as_slice()) {
            (true, "pads", &[b, e]) => vec![0, b, 0, e],
            (true, "output_padding", &[p]) => vec![0, p],
            (true, _, &[x]) => vec![1, x],
            _ => v, // 2-D, or a wrong length that the 2-D check names
        })
    }
}

/// Input `x` of a spatial op as NCHW: rank 4 as it is, rank 3 (NCL) with a height of 1.
/// Returns the 4-D value and whether it was 1-D.
fn nchw(b: &mut Builder, cx: &Cx, x: usize, what: &str) -> Result<(usize, bool)> {
    let s = cx.shape_of(x);
    match s.len() {
        4 => Ok((x, false)),
        3 => Ok((b.push(cx.name, cx.op, FOp::Reshape { shape: vec![s[0], s[1], 1, s[2]] }, vec![x], &cx.part("2d"))?, true)),
        _ => Err(cx.fail(format!("only 1-D and 2-D {what} (NCL or NCHW) are supported, input is {s:?}"))),
    }
}

/// The node's output from the 4-D op `op` over `x4`: for a 1-D op, the height of 1
/// is dropped again.
fn from_nchw(b: &mut Builder, cx: &Cx, op: FOp, x4: usize, one_d: bool) -> Result<Out> {
    if !one_d {
        return Ok(Out::Node(op, vec![x4]));
    }
    let y = b.push(cx.name, cx.op, op, vec![x4], &cx.part("out2d"))?;
    let s = b.shape(y);
    Ok(Out::Node(FOp::Reshape { shape: vec![s[0], s[1], s[3]] }, vec![y]))
}

/// The weight of a conv or conv-transpose as `[a, b, kh, kw]`: a 1-D weight `[a, b, k]`
/// has a kernel height of 1.
fn weight_4d(cx: &Cx, w: &FTensor, one_d: bool) -> Result<[usize; 4]> {
    match (one_d, w.shape.as_slice()) {
        (false, &[a, b, h, k]) => Ok([a, b, h, k]),
        (true, &[a, b, k]) => Ok([a, b, 1, k]),
        (_, s) => Err(cx.fail(format!("weight shape {s:?} does not fit the input rank"))),
    }
}

fn bias(cx: &Cx, n: usize) -> Result<Vec<f64>> {
    let bias = match cx.opt(2) {
        Some(_) => cx.konst_in(2, "bias")?.data,
        None => vec![0.0; n],
    };
    if bias.len() != n {
        return Err(cx.fail(format!("bias has {} entries, not one per output channel ({n})", bias.len())));
    }
    Ok(bias)
}

pub fn conv(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let w = cx.konst_in(1, "weight")?;
    let (x, one_d) = nchw(b, cx, cx.x()?, "convolution")?;
    let xs = b.shape(x);
    let ws = weight_4d(cx, &w, one_d)?;
    let window = b.window(&attrs_2d(cx, one_d), cx.a.string("auto_pad"), [ws[2], ws[3]], &xs).map_err(|e| cx.fail(e))?;
    let bias = bias(cx, ws[0])?;
    let g = cx.a.int("group", 1);
    if g < 1 || xs[1] as i64 != ws[1] as i64 * g || ws[0] as i64 % g != 0 {
        return Err(cx.fail(format!("weight shape {:?} with group {g} does not fit input {:?}", w.shape, cx.shape_of(cx.x()?))));
    }
    from_nchw(b, cx, FOp::Conv { w: w.data, b: bias, window, groups: g as usize }, x, one_d)
}

/// ConvTranspose as a Conv: the input's pixels are spread `stride` apart with zeros
/// between them and padded by `dilation·(k−1) − pad` (negative crops), one Gather per
/// spatial axis from the input joined with one zero row; then a stride-1 Conv with the
/// kernel flipped and its in/out channels swapped within each group.
pub fn conv_transpose(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let w = cx.konst_in(1, "weight")?;
    let (x, one_d) = nchw(b, cx, cx.x()?, "transposed convolution")?;
    let xs = b.shape(x);
    let [ci, mg, kh, kw] = weight_4d(cx, &w, one_d)?;
    let g = cx.a.int("group", 1);
    if g < 1 || ci != xs[1] || ci as i64 % g != 0 {
        return Err(cx.fail(format!("weight shape {:?} with group {g} does not fit input {:?}", w.shape, cx.shape_of(cx.x()?))));
    }
    let g = g as usize;
    let m = mg * g;
    let bias = bias(cx, m)?;
    let ints = attrs_2d(cx, one_d);
    let two = |name: &str, d: i64| -> Result<[i64; 2]> {
        match ints(name) {
            None => Ok([d, d]),
            Some(v) if v.len() == 2 && v.iter().all(|x| (0..=1 << 16).contains(x)) => Ok([v[0], v[1]]),
            Some(v) => Err(cx.fail(format!("{name} {v:?} must be one non-negative number per spatial axis"))),
        }
    };
    let (stride, dilation, out_pad) = (two("strides", 1)?, two("dilations", 1)?, two("output_padding", 0)?);
    if stride.contains(&0) || dilation.contains(&0) {
        return Err(cx.fail("strides and dilations must be positive"));
    }
    let kernel = [kh as i64, kw as i64];
    let n = [xs[2] as i64, xs[3] as i64];
    // The full output extent before padding is removed, per axis.
    let full = |i: usize| stride[i] * (n[i] - 1) + out_pad[i] + (kernel[i] - 1) * dilation[i] + 1;
    let auto = cx.a.string("auto_pad").unwrap_or_default();
    let mut pads = [0i64; 4];
    if let Some(os) =
        ints("output_shape").or_else(|| (auto.starts_with("SAME")).then(|| vec![n[0] * stride[0], n[1] * stride[1]]))
    {
        if os.len() != 2 {
            return Err(cx.fail(format!("output_shape {os:?} must have one entry per spatial axis")));
        }
        for i in 0..2 {
            let total = full(i) - os[i];
            let (small, big) = (total / 2, total - total / 2);
            (pads[i], pads[i + 2]) = if auto == "SAME_UPPER" { (small, big) } else { (big, small) };
        }
    } else if !matches!(auto.as_str(), "" | "NOTSET" | "VALID") {
        return Err(cx.fail(format!("auto_pad {auto} is not supported")));
    } else if let Some(p) = ints("pads") {
        if p.len() != 4 || p.iter().any(|v| !(0..=1 << 16).contains(v)) {
            return Err(cx.fail(format!("pads {p:?} must be two non-negative numbers per spatial axis")));
        }
        pads.copy_from_slice(&p);
    }
    let mut cur = x;
    for i in 0..2 {
        let (before, after) = (dilation[i] * (kernel[i] - 1) - pads[i], dilation[i] * (kernel[i] - 1) - pads[i + 2] + out_pad[i]);
        let len = (n[i] - 1) * stride[i] + 1 + before + after;
        if len < dilation[i] * (kernel[i] - 1) + 1 {
            return Err(cx.fail(format!("pads {pads:?} leave spatial axis {i} empty")));
        }
        if len > 1 << 20 {
            return Err(cx.fail(format!("spatial axis {i} of the output is too large ({len})")));
        }
        if stride[i] == 1 && before == 0 && after == 0 {
            continue;
        }
        let axis = 2 + i;
        let src: Vec<usize> = (0..len)
            .map(|p| {
                let q = p - before;
                if q >= 0 && q % stride[i] == 0 && q / stride[i] < n[i] {
                    (q / stride[i]) as usize
                } else {
                    n[i] as usize // the zero row
                }
            })
            .collect();
        let mut zs = b.shape(cur);
        zs[axis] = 1;
        let zero = b.add_const(&cx.part(&format!("zero{axis}")), FTensor::new(zs.clone(), vec![0.0; numel(&zs)]));
        let joined = b.push(cx.name, cx.op, FOp::Concat { axis }, vec![cur, zero], &cx.part(&format!("joined{axis}")))?;
        let n_src = src.len();
        let spread = FOp::Gather { axis, indices: src, indices_shape: vec![n_src] };
        cur = b.push(cx.name, cx.op, spread, vec![joined], &cx.part(&format!("spread{axis}")))?;
    }
    // W'[gi·mg + o, c, i, j] = W[gi·cg + c, o, kh−1−i, kw−1−j]
    let cg = ci / g;
    let mut wt = vec![0.0; m * cg * kh * kw];
    for gi in 0..g {
        for o in 0..mg {
            for c in 0..cg {
                for i in 0..kh {
                    for j in 0..kw {
                        let src = (((gi * cg + c) * mg + o) * kh + (kh - 1 - i)) * kw + (kw - 1 - j);
                        wt[(((gi * mg + o) * cg + c) * kh + i) * kw + j] = w.data[src];
                    }
                }
            }
        }
    }
    let window =
        Window { kernel: [kh, kw], stride: [1, 1], pads: [0; 4], dilation: [dilation[0] as usize, dilation[1] as usize] };
    from_nchw(b, cx, FOp::Conv { w: wt, b: bias, window, groups: g }, cur, one_d)
}

pub fn batch_norm(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let [g, bt, mean, var] = [1, 2, 3, 4].map(|i| cx.konst_in(i, "batch-norm parameter"));
    let (g, bt, mean, var) = (g?.data, bt?.data, mean?.data, var?.data);
    if [bt.len(), mean.len(), var.len()].iter().any(|&l| l != g.len()) {
        return Err(cx.fail(format!(
            "scale, bias, mean and variance have {}, {}, {} and {} entries, not one per channel",
            g.len(),
            bt.len(),
            mean.len(),
            var.len()
        )));
    }
    let eps = cx.a.float("epsilon", 1e-5);
    let s: Vec<f64> = g.iter().zip(&var).map(|(g, v)| g / (v + eps).sqrt()).collect();
    let t: Vec<f64> = (0..s.len()).map(|c| bt[c] - mean[c] * s[c]).collect();
    if let Some(Out::Alias(id)) = b.fold_into_conv(x, &s, &t) {
        Ok(Out::Alias(id))
    } else {
        let rank = cx.shape_of(x).len();
        let mut cs = vec![s.len()];
        cs.extend(std::iter::repeat_n(1, rank.saturating_sub(2)));
        let name = cx.name;
        let sv = b.add_const(&format!("{name}/scale"), FTensor::new(cs.clone(), s));
        let tv = b.add_const(&format!("{name}/shift"), FTensor::new(cs, t));
        let mid = b.push(name, cx.op, FOp::Binary(Binary::Mul), vec![x, sv], &format!("{name}/scaled"))?;
        Ok(Out::Node(FOp::Binary(Binary::Add), vec![mid, tv]))
    }
}

pub fn softmax(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let rank = cx.shape_of(x).len();
    let old = b.opset < 13;
    let axis = norm_axis(cx.a.int("axis", if old { 1 } else { -1 }), rank).ok_or_else(|| cx.fail("axis out of range"))?;
    if old && axis != rank - 1 {
        return Err(cx.fail("opset < 13 Softmax over a non-final axis is not supported"));
    }
    Ok(Out::Node(FOp::Softmax { axis }, vec![x]))
}

/// LogSoftmax: `(x − m) − log Σ exp(x − m)` with `m` the lane max (the ReduceMax lowering).
pub fn log_softmax(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    let axis = norm_axis(cx.a.int("axis", -1), s.len()).ok_or_else(|| cx.fail("axis out of range"))?;
    if b.opset < 13 && axis != s.len() - 1 {
        return Err(cx.fail("opset < 13 LogSoftmax over a non-final axis is not supported"));
    }
    let [_, d, l] = crate::ops::reduce::shifted_log_sum(b, cx, x, &s, &[axis])?;
    Ok(Out::Node(FOp::Binary(Binary::Sub), vec![d, l]))
}

pub fn layer_norm(_: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let xs = cx.shape_of(x);
    let axis = norm_axis(cx.a.int("axis", -1), xs.len()).ok_or_else(|| cx.fail("axis out of range"))?;
    let n = numel(&xs[axis..]);
    let expand = |t: FTensor| -> Result<Vec<f64>> {
        match t.data.len() {
            1 => Ok(vec![t.data[0]; n]),
            l if l == n => Ok(t.data),
            _ => Err(cx.fail(format!("scale/bias shape {:?} does not match normalized size {n}", t.shape))),
        }
    };
    let gamma = expand(cx.konst_in(1, "scale")?)?;
    let beta = match cx.opt(2) {
        Some(_) => expand(cx.konst_in(2, "bias")?)?,
        None => vec![0.0; n],
    };
    Ok(Out::Node(FOp::LayerNorm { axis, eps: cx.a.float("epsilon", 1e-5), gamma, beta }, vec![x]))
}

pub fn pool(b: &mut Builder, cx: &Cx) -> Result<Out> {
    if cx.a.int("ceil_mode", 0) != 0 {
        return Err(cx.fail("ceil_mode=1 is not supported"));
    }
    if cx.node.output.len() > 1 {
        return Err(cx.fail("the Indices output of MaxPool is not supported"));
    }
    let (x, one_d) = nchw(b, cx, cx.x()?, "pooling")?;
    let xs = b.shape(x);
    let ints = attrs_2d(cx, one_d);
    let k = ints("kernel_shape").ok_or_else(|| cx.fail("missing kernel_shape"))?;
    if k.len() != 2 || k.iter().any(|&v| v < 1) {
        return Err(cx.fail(format!("kernel_shape {:?} must be one positive number per spatial axis", cx.a.ints("kernel_shape"))));
    }
    let window = b.window(&ints, cx.a.string("auto_pad"), [k[0] as usize, k[1] as usize], &xs).map_err(|e| cx.fail(e))?;
    let op = if cx.op == "MaxPool" {
        FOp::MaxPool { window }
    } else {
        FOp::AvgPool { window, count_include_pad: cx.a.int("count_include_pad", 0) != 0 }
    };
    from_nchw(b, cx, op, x, one_d)
}

pub fn global_average_pool(_: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let r = cx.shape_of(x).len();
    if !(3..=4).contains(&r) {
        return Err(cx.fail(format!("only 1-D and 2-D pooling (NCL or NCHW) are supported, input is {:?}", cx.shape_of(x))));
    }
    Ok(Out::Node(FOp::Reduce { axes: (2..r).collect(), keep_dims: true, mean: true }, vec![x]))
}

pub fn global_max_pool(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let (x, one_d) = nchw(b, cx, cx.x()?, "pooling")?;
    let s = b.shape(x);
    let window = Window { kernel: [s[2], s[3]], stride: [1, 1], pads: [0; 4], dilation: [1, 1] };
    from_nchw(b, cx, FOp::MaxPool { window }, x, one_d)
}

/// InstanceNormalization and GroupNormalization: each (sample, group) is one lane of
/// the canonical LayerNorm (a Reshape to `[N, G, rest]`), then the per-channel scale and
/// bias as a Mul and an Add. InstanceNormalization is one group per channel.
pub fn group_norm(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    if s.len() < 3 {
        return Err(cx.fail(format!("input must be N×C×…, got shape {s:?}")));
    }
    let c = s[1];
    let groups = if cx.op == "InstanceNormalization" { c as i64 } else { cx.a.int("num_groups", 0) };
    if groups < 1 || c as i64 % groups != 0 {
        return Err(cx.fail(format!("num_groups {groups} must divide the {c} channels")));
    }
    let groups = groups as usize;
    let per_channel = |i: usize, what: &str| -> Result<Vec<f64>> {
        let t = cx.konst_in(i, what)?;
        match t.data.len() {
            n if n == c => Ok(t.data),
            // GroupNormalization before opset 21 has one scale and bias per group.
            n if n == groups && cx.op == "GroupNormalization" && b.opset < 21 => {
                Ok((0..c).map(|ch| t.data[ch / (c / groups)]).collect())
            }
            n => Err(cx.fail(format!("{what} has {n} entries, not one per channel ({c})"))),
        }
    };
    let (scale, shift) = (per_channel(1, "scale")?, per_channel(2, "bias")?);
    let lane = numel(&s) / (s[0] * groups);
    let lanes = b.push(cx.name, cx.op, FOp::Reshape { shape: vec![s[0], groups, lane] }, vec![x], &cx.part("groups"))?;
    let norm = FOp::LayerNorm { axis: 2, eps: cx.a.float("epsilon", 1e-5), gamma: vec![1.0; lane], beta: vec![0.0; lane] };
    let normed = b.push(cx.name, cx.op, norm, vec![lanes], &cx.part("normalized"))?;
    let back = b.push(cx.name, cx.op, FOp::Reshape { shape: s.clone() }, vec![normed], &cx.part("ungrouped"))?;
    let mut cs = vec![c];
    cs.extend(std::iter::repeat_n(1, s.len() - 2));
    let sv = b.add_const(&cx.part("scale"), FTensor::new(cs.clone(), scale));
    let tv = b.add_const(&cx.part("shift"), FTensor::new(cs, shift));
    let scaled = b.push(cx.name, cx.op, FOp::Binary(Binary::Mul), vec![back, sv], &cx.part("scaled"))?;
    Ok(Out::Node(FOp::Binary(Binary::Add), vec![scaled, tv]))
}
