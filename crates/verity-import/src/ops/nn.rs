//! Network layers: convolution, normalization, softmax and pooling.

use crate::error::Result;
use crate::fgraph::{Binary, FOp};
use crate::ftensor::FTensor;
use crate::translate::{norm_axis, Builder, Cx, Out};
use verity_model::shape::numel;
use verity_model::Window;

pub fn conv(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let w = cx.konst_in(1, "weight")?;
    let xs = cx.shape_of(x);
    if xs.len() != 4 || w.shape.len() != 4 {
        return Err(cx.fail(format!("only 2-D convolution (NCHW) is supported, input is {xs:?}")));
    }
    let window = b.window(&cx.a, [w.shape[2], w.shape[3]], &xs).map_err(|e| cx.fail(e))?;
    let bias = match cx.opt(2) {
        Some(_) => cx.konst_in(2, "bias")?.data,
        None => vec![0.0; w.shape[0]],
    };
    if bias.len() != w.shape[0] {
        return Err(cx.fail("bias length differs from the output channels"));
    }
    let g = cx.a.int("group", 1);
    if g < 1 || xs[1] as i64 != w.shape[1] as i64 * g || w.shape[0] as i64 % g != 0 {
        return Err(cx.fail(format!("weight shape {:?} with group {g} does not fit input {xs:?}", w.shape)));
    }
    Ok(Out::Node(FOp::Conv { w: w.data, b: bias, window, groups: g as usize }, vec![x]))
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
    let x = cx.x()?;
    let xs = cx.shape_of(x);
    if xs.len() != 4 {
        return Err(cx.fail(format!("only 2-D pooling (NCHW) is supported, input is {xs:?}")));
    }
    if cx.a.int("ceil_mode", 0) != 0 {
        return Err(cx.fail("ceil_mode=1 is not supported"));
    }
    if cx.node.output.len() > 1 {
        return Err(cx.fail("the Indices output of MaxPool is not supported"));
    }
    let k = cx.a.ints("kernel_shape").ok_or_else(|| cx.fail("missing kernel_shape"))?;
    let kernel = [k.first().copied().unwrap_or(0) as usize, k.get(1).copied().unwrap_or(1) as usize];
    let window = b.window(&cx.a, kernel, &xs).map_err(|e| cx.fail(e))?;
    Ok(if cx.op == "MaxPool" {
        Out::Node(FOp::MaxPool { window }, vec![x])
    } else {
        Out::Node(FOp::AvgPool { window, count_include_pad: cx.a.int("count_include_pad", 0) != 0 }, vec![x])
    })
}

pub fn global_average_pool(_: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    if cx.shape_of(x).len() != 4 {
        return Err(cx.fail(format!("only 2-D pooling (NCHW) is supported, input is {:?}", cx.shape_of(x))));
    }
    Ok(Out::Node(FOp::Reduce { axes: vec![2, 3], keep_dims: true, mean: true }, vec![x]))
}

pub fn global_max_pool(_: &mut Builder, cx: &Cx) -> Result<Out> {
    let x = cx.x()?;
    let s = cx.shape_of(x);
    if s.len() != 4 {
        return Err(cx.fail(format!("only 2-D pooling (NCHW) is supported, input is {s:?}")));
    }
    let window = Window { kernel: [s[2], s[3]], stride: [1, 1], pads: [0; 4], dilation: [1, 1] };
    Ok(Out::Node(FOp::MaxPool { window }, vec![x]))
}
