//! ONNX graph → float graph. Shapes are static: every value's shape is found by running
//! each op on zeros as it is added, and nodes whose inputs are all constant are folded
//! away (this is how Shape/Gather/Concat chains feeding Reshape disappear).

use std::collections::HashMap;

use crate::error::{onnx_err, ImportError, Result};
use crate::fgraph::{Binary, FGraph, FNode, FOp, FValue, Unary};
use crate::ftensor::FTensor;
use crate::onnx::{GraphProto, NodeProto};
use crate::proto::{self, Attrs};
use verity_model::shape::numel;
use verity_model::{InputAffine, Window};

/// Translates `graph`, whose default-domain opset is `opset`.
pub fn build(graph: &GraphProto, opset: i64) -> Result<FGraph> {
    let mut b = Builder { opset, ..Builder::default() };
    for name in graph.node.iter().flat_map(|n| n.input.iter().map(String::as_str)).chain(graph.output.iter().map(|o| o.name())) {
        *b.uses.entry(name.to_string()).or_default() += 1;
    }
    for t in &graph.initializer {
        let v = proto::tensor(t)?;
        b.add_const(t.name(), v);
    }
    for input in &graph.input {
        if b.by_name.contains_key(input.name()) {
            continue; // an initializer listed as an input (older exporters)
        }
        let shape = proto::declared_shape(input)?;
        if checked_numel(&shape).is_none() {
            return onnx_err(format!("graph input '{}' is too large: {shape:?}", input.name()));
        }
        let id = b.add_value(input.name(), shape.clone(), None);
        b.g.inputs.push(id);
        b.g.input_affine.push(InputAffine::default());
        b.zeros.push(FTensor::new(shape.clone(), vec![0.0; numel(&shape)]));
    }
    if b.g.inputs.is_empty() {
        return onnx_err("the graph has no (non-constant) inputs");
    }
    for (i, node) in graph.node.iter().enumerate() {
        let name = if node.name().is_empty() { format!("{}_{i}", node.op_type()) } else { node.name().to_string() };
        b.translate(node, &name)?;
    }
    for o in &graph.output {
        let id = b.lookup(o.name(), "graph output")?;
        if b.g.values[id].konst.is_some() {
            return onnx_err(format!("graph output '{}' is a constant; nothing to compute", o.name()));
        }
        b.g.outputs.push(id);
    }
    if b.g.outputs.is_empty() {
        return onnx_err("the graph has no outputs");
    }
    b.prune();
    Ok(b.g)
}

#[derive(Default)]
struct Builder {
    opset: i64,
    g: FGraph,
    by_name: HashMap<String, usize>,
    uses: HashMap<String, usize>,
    /// Value id → index of the node that computes it.
    producer: HashMap<usize, usize>,
    /// A zero tensor (or the constant) per value: evaluating ops on these gives shapes.
    zeros: Vec<FTensor>,
}

enum Out {
    Node(FOp, Vec<usize>),
    Const(FTensor),
    Alias(usize),
}

/// Element count of `shape`, if it is within the model limit.
fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).filter(|&n| n <= verity_model::MAX_ELEMENTS)
}

fn norm_axis(a: i64, rank: usize) -> Option<usize> {
    let a = if a < 0 { a + rank as i64 } else { a };
    (0..rank as i64).contains(&a).then_some(a as usize)
}

impl Builder {
    fn add_value(&mut self, name: &str, shape: Vec<usize>, konst: Option<FTensor>) -> usize {
        let id = self.g.values.len();
        self.g.values.push(FValue { name: name.to_string(), shape, konst });
        self.by_name.insert(name.to_string(), id);
        id
    }

    fn add_const(&mut self, name: &str, t: FTensor) -> usize {
        self.zeros.push(t.clone());
        self.add_value(name, t.shape.clone(), Some(t))
    }

    fn lookup(&self, name: &str, what: &str) -> Result<usize> {
        self.by_name.get(name).copied().ok_or_else(|| ImportError::Onnx(format!("{what} '{name}' is never defined")))
    }

    fn konst(&self, id: usize) -> Option<&FTensor> {
        self.g.values[id].konst.as_ref()
    }

    fn translate(&mut self, node: &NodeProto, name: &str) -> Result<()> {
        let op = node.op_type().to_string();
        let fail = |msg: String| ImportError::Node { op: op.clone(), node: name.to_string(), msg };
        if !matches!(node.domain(), "" | "ai.onnx") {
            return Err(ImportError::Unsupported {
                op: format!("{}::{op}", node.domain()),
                node: name.into(),
                detail: String::new(),
            });
        }
        let ins: Vec<Option<usize>> = node
            .input
            .iter()
            .map(|n| if n.is_empty() { Ok(None) } else { self.lookup(n, "input").map(Some) })
            .collect::<Result<_>>()?;
        let input = |i: usize| ins.get(i).copied().flatten().ok_or_else(|| fail(format!("missing input {i}")));
        let x = input(0);
        // Snapshots, so that the closures below do not hold a borrow of `self`.
        let values: HashMap<usize, FValue> = ins.iter().flatten().map(|&i| (i, self.g.values[i].clone())).collect();
        let konst_in = |i: usize, what: &str| -> Result<FTensor> {
            let id = input(i)?;
            values[&id]
                .konst
                .clone()
                .ok_or_else(|| fail(format!("{what} (input {i}) must be a constant; run-time {what} is not supported")))
        };
        let a = Attrs { node };
        let shape_of = |id: usize| values[&id].shape.clone();
        let out = match op.as_str() {
            "Identity" | "Dropout" => Out::Alias(x?),
            "Constant" => Out::Const(a.constant_value()?),
            "Shape" => {
                let s = shape_of(x?);
                let r = s.len() as i64;
                let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
                let (lo, hi) = (clampi(a.int("start", 0)), clampi(a.int("end", r)));
                let dims: Vec<f64> = s[lo..hi.max(lo)].iter().map(|&d| d as f64).collect();
                Out::Const(FTensor::new(vec![dims.len()], dims))
            }
            "Cast" => {
                let x = x?;
                let to = a.int("to", 1);
                match self.konst(x) {
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
                    None => return Err(fail("casting a run-time tensor to an integer type is not supported".into())),
                }
            }
            "ConstantOfShape" => {
                let s: Vec<usize> = konst_in(0, "shape")?.ints().iter().map(|&d| d.max(0) as usize).collect();
                checked_numel(&s).ok_or_else(|| fail(format!("shape {s:?} is too large")))?;
                let v = node
                    .attribute
                    .first()
                    .and_then(|at| at.t.as_ref())
                    .map(proto::tensor)
                    .transpose()?
                    .map_or(0.0, |t| t.data[0]);
                Out::Const(FTensor::new(s.clone(), vec![v; numel(&s)]))
            }
            "Gemm" => {
                let x = x?;
                if a.int("transA", 0) != 0 {
                    return Err(fail("transA=1 is not supported".into()));
                }
                let w = konst_in(1, "weight")?;
                if w.shape.len() != 2 {
                    return Err(fail(format!("weight must be a matrix, got shape {:?}", w.shape)));
                }
                let (alpha, beta) = (a.float("alpha", 1.0), a.float("beta", 1.0));
                let wt = if a.int("transB", 0) != 0 { w } else { crate::ftensor::transpose(&w, &[1, 0]) };
                let (n, k) = (wt.shape[0], wt.shape[1]);
                if shape_of(x).len() != 2 || shape_of(x)[1] != k {
                    return Err(fail(format!("input {:?} does not fit weight [{n}, {k}]", shape_of(x))));
                }
                let bias = match ins.get(2).copied().flatten() {
                    None => vec![0.0; n],
                    Some(c) => {
                        let c = self.konst(c).ok_or_else(|| fail("bias C must be a constant".into()))?;
                        match c.data.len() {
                            1 => vec![beta * c.data[0]; n],
                            l if l == n => c.data.iter().map(|v| beta * v).collect(),
                            _ => return Err(fail(format!("bias shape {:?} is not [{n}]", c.shape))),
                        }
                    }
                };
                Out::Node(FOp::Linear { w: wt.data.iter().map(|v| alpha * v).collect(), b: bias }, vec![x])
            }
            "MatMul" => {
                let (x, y) = (x?, input(1)?);
                match self.konst(y) {
                    Some(w) if w.shape.len() == 2 && self.konst(x).is_none() => {
                        let wt = crate::ftensor::transpose(w, &[1, 0]);
                        Out::Node(FOp::Linear { b: vec![0.0; wt.shape[0]], w: wt.data }, vec![x])
                    }
                    _ => Out::Node(FOp::MatMul, vec![x, y]),
                }
            }
            "Conv" => {
                let x = x?;
                let w = konst_in(1, "weight")?;
                let xs = shape_of(x);
                if xs.len() != 4 || w.shape.len() != 4 {
                    return Err(fail(format!("only 2-D convolution (NCHW) is supported, input is {xs:?}")));
                }
                let window = self.window(&a, [w.shape[2], w.shape[3]], &xs).map_err(fail)?;
                let b = match ins.get(2).copied().flatten() {
                    Some(_) => konst_in(2, "bias")?.data,
                    None => vec![0.0; w.shape[0]],
                };
                if b.len() != w.shape[0] {
                    return Err(fail("bias length differs from the output channels".into()));
                }
                let g = a.int("group", 1);
                if g < 1 || xs[1] as i64 != w.shape[1] as i64 * g || w.shape[0] as i64 % g != 0 {
                    return Err(fail(format!("weight shape {:?} with group {g} does not fit input {xs:?}", w.shape)));
                }
                Out::Node(FOp::Conv { w: w.data, b, window, groups: g as usize }, vec![x])
            }
            "BatchNormalization" => {
                let x = x?;
                let [g, bt, mean, var] = [1, 2, 3, 4].map(|i| konst_in(i, "batch-norm parameter"));
                let (g, bt, mean, var) = (g?.data, bt?.data, mean?.data, var?.data);
                let eps = a.float("epsilon", 1e-5);
                let s: Vec<f64> = g.iter().zip(&var).map(|(g, v)| g / (v + eps).sqrt()).collect();
                let t: Vec<f64> = (0..s.len()).map(|c| bt[c] - mean[c] * s[c]).collect();
                if let Some(Out::Alias(id)) = self.fold_into_conv(x, &s, &t) {
                    Out::Alias(id)
                } else {
                    let rank = shape_of(x).len();
                    let mut cs = vec![s.len()];
                    cs.extend(std::iter::repeat_n(1, rank.saturating_sub(2)));
                    let sv = self.add_const(&format!("{name}/scale"), FTensor::new(cs.clone(), s));
                    let tv = self.add_const(&format!("{name}/shift"), FTensor::new(cs, t));
                    let mid = self.push(name, &op, FOp::Binary(Binary::Mul), vec![x, sv], &format!("{name}/scaled"))?;
                    Out::Node(FOp::Binary(Binary::Add), vec![mid, tv])
                }
            }
            "Add" | "Sub" | "Mul" | "Div" => {
                let (p, q) = (x?, input(1)?);
                let kind = match op.as_str() {
                    "Add" => Binary::Add,
                    "Sub" => Binary::Sub,
                    "Mul" => Binary::Mul,
                    _ => Binary::Div,
                };
                if let Some(id) = self.fold_into_input(kind, p, q, node.output.first().map_or("", String::as_str)) {
                    Out::Alias(id)
                } else if let (Binary::Add, Some(id)) = (kind, self.fold_bias(p, q).or_else(|| self.fold_bias(q, p))) {
                    Out::Alias(id)
                } else if let (Binary::Div, Some(c), None) = (kind, self.konst(q), self.konst(p)) {
                    // Division by a constant is multiplication by its reciprocal.
                    let r = FTensor::new(c.shape.clone(), c.data.iter().map(|v| 1.0 / v).collect());
                    if r.data.iter().any(|v| !v.is_finite()) {
                        return Err(fail("division by a constant zero".into()));
                    }
                    let rv = self.add_const(&format!("{name}/reciprocal"), r);
                    Out::Node(FOp::Binary(Binary::Mul), vec![p, rv])
                } else {
                    Out::Node(FOp::Binary(kind), vec![p, q])
                }
            }
            "Relu" => Out::Node(FOp::Unary(Unary::Relu), vec![x?]),
            "LeakyRelu" => Out::Node(FOp::Unary(Unary::LeakyRelu(a.float("alpha", 0.01))), vec![x?]),
            "Sigmoid" => Out::Node(FOp::Unary(Unary::Sigmoid), vec![x?]),
            "Tanh" => Out::Node(FOp::Unary(Unary::Tanh), vec![x?]),
            "Erf" => Out::Node(FOp::Unary(Unary::Erf), vec![x?]),
            "Exp" => Out::Node(FOp::Unary(Unary::Exp), vec![x?]),
            "Gelu" => Out::Node(FOp::Unary(Unary::Gelu { tanh: a.string("approximate").as_deref() == Some("tanh") }), vec![x?]),
            "Clip" => {
                let bound = |i: usize, attr: &str, d: f64| -> Result<f64> {
                    match ins.get(i).copied().flatten() {
                        Some(_) => Ok(konst_in(i, "clip bound")?.data[0]),
                        None => Ok(a.float(attr, d)),
                    }
                };
                Out::Node(FOp::Unary(Unary::Clip(bound(1, "min", f64::NEG_INFINITY)?, bound(2, "max", f64::INFINITY)?)), vec![x?])
            }
            "PRelu" => {
                let x = x?;
                let s = konst_in(1, "slope")?;
                let c = shape_of(x).get(1).copied().unwrap_or(1);
                if s.data.len() != 1 && s.data.len() != c {
                    return Err(fail(format!("slope shape {:?} is neither a scalar nor per-channel ({c})", s.shape)));
                }
                Out::Node(FOp::PRelu { slope: s.data }, vec![x])
            }
            "Softmax" => {
                let x = x?;
                let rank = shape_of(x).len();
                let old = self.opset < 13;
                let axis =
                    norm_axis(a.int("axis", if old { 1 } else { -1 }), rank).ok_or_else(|| fail("axis out of range".into()))?;
                if old && axis != rank - 1 {
                    return Err(fail("opset < 13 Softmax over a non-final axis is not supported".into()));
                }
                Out::Node(FOp::Softmax { axis }, vec![x])
            }
            "LayerNormalization" => {
                let x = x?;
                let xs = shape_of(x);
                let axis = norm_axis(a.int("axis", -1), xs.len()).ok_or_else(|| fail("axis out of range".into()))?;
                let n = numel(&xs[axis..]);
                let expand = |t: FTensor| -> Result<Vec<f64>> {
                    match t.data.len() {
                        1 => Ok(vec![t.data[0]; n]),
                        l if l == n => Ok(t.data),
                        _ => Err(fail(format!("scale/bias shape {:?} does not match normalized size {n}", t.shape))),
                    }
                };
                let gamma = expand(konst_in(1, "scale")?)?;
                let beta = match ins.get(2).copied().flatten() {
                    Some(_) => expand(konst_in(2, "bias")?)?,
                    None => vec![0.0; n],
                };
                Out::Node(FOp::LayerNorm { axis, eps: a.float("epsilon", 1e-5), gamma, beta }, vec![x])
            }
            "MaxPool" | "AveragePool" => {
                let x = x?;
                let xs = shape_of(x);
                if xs.len() != 4 {
                    return Err(fail(format!("only 2-D pooling (NCHW) is supported, input is {xs:?}")));
                }
                if a.int("ceil_mode", 0) != 0 {
                    return Err(fail("ceil_mode=1 is not supported".into()));
                }
                if node.output.len() > 1 {
                    return Err(fail("the Indices output of MaxPool is not supported".into()));
                }
                let k = a.ints("kernel_shape").ok_or_else(|| fail("missing kernel_shape".into()))?;
                let window = self.window(&a, [k[0] as usize, k.get(1).copied().unwrap_or(1) as usize], &xs).map_err(fail)?;
                if op == "MaxPool" {
                    Out::Node(FOp::MaxPool { window }, vec![x])
                } else {
                    Out::Node(FOp::AvgPool { window, count_include_pad: a.int("count_include_pad", 0) != 0 }, vec![x])
                }
            }
            "GlobalAveragePool" => Out::Node(FOp::Reduce { axes: vec![2, 3], keep_dims: true, mean: true }, vec![x?]),
            "GlobalMaxPool" => {
                let x = x?;
                let s = shape_of(x);
                let window = Window { kernel: [s[2], s[3]], stride: [1, 1], pads: [0; 4], dilation: [1, 1] };
                Out::Node(FOp::MaxPool { window }, vec![x])
            }
            "Flatten" => {
                let x = x?;
                let s = shape_of(x);
                let axis = norm_axis(a.int("axis", 1), s.len() + 1).ok_or_else(|| fail("axis out of range".into()))?;
                Out::Node(FOp::Reshape { shape: vec![numel(&s[..axis]), numel(&s[axis..])] }, vec![x])
            }
            "Reshape" => {
                let x = x?;
                let s = shape_of(x);
                let target = konst_in(1, "shape")?.ints();
                let allow_zero = a.int("allowzero", 0) != 0;
                let mut out: Vec<usize> = Vec::new();
                let mut infer = None;
                for (i, &d) in target.iter().enumerate() {
                    match d {
                        -1 if infer.is_none() => {
                            infer = Some(i);
                            out.push(1);
                        }
                        0 if !allow_zero => out.push(*s.get(i).ok_or_else(|| fail("0 refers past the input rank".into()))?),
                        d if d > 0 => out.push(d as usize),
                        _ => return Err(fail(format!("invalid target shape {target:?}"))),
                    }
                }
                let known = checked_numel(&out).ok_or_else(|| fail(format!("target shape {target:?} is too large")))?;
                if let Some(i) = infer {
                    let known = known.max(1);
                    if numel(&s) % known != 0 {
                        return Err(fail(format!("cannot reshape {s:?} to {target:?}")));
                    }
                    out[i] = numel(&s) / known;
                }
                if numel(&out) != numel(&s) {
                    return Err(fail(format!("cannot reshape {s:?} to {target:?}")));
                }
                Out::Node(FOp::Reshape { shape: out }, vec![x])
            }
            "Squeeze" | "Unsqueeze" => {
                let x = x?;
                let s = shape_of(x);
                let axes = match ins.get(1).copied().flatten() {
                    Some(_) => Some(konst_in(1, "axes")?.ints()),
                    None => a.ints("axes"),
                };
                let shape = if op == "Squeeze" {
                    let axes: Vec<usize> = match axes {
                        Some(ax) => ax
                            .iter()
                            .map(|&v| norm_axis(v, s.len()))
                            .collect::<Option<_>>()
                            .ok_or_else(|| fail("axis out of range".into()))?,
                        None => (0..s.len()).filter(|&i| s[i] == 1).collect(),
                    };
                    if axes.iter().any(|&i| s[i] != 1) {
                        return Err(fail(format!("cannot squeeze a dimension that is not 1 in {s:?}")));
                    }
                    s.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect()
                } else {
                    let axes = axes.ok_or_else(|| fail("missing axes".into()))?;
                    let r = s.len() + axes.len();
                    let mut axes: Vec<usize> = axes
                        .iter()
                        .map(|&v| norm_axis(v, r))
                        .collect::<Option<_>>()
                        .ok_or_else(|| fail("axis out of range".into()))?;
                    axes.sort_unstable();
                    let mut it = s.iter();
                    (0..r).map(|i| if axes.contains(&i) { 1 } else { *it.next().unwrap_or(&1) }).collect()
                };
                Out::Node(FOp::Reshape { shape }, vec![x])
            }
            "Transpose" => {
                let x = x?;
                let r = shape_of(x).len();
                let perm: Vec<usize> = match a.ints("perm") {
                    Some(p) => p
                        .iter()
                        .map(|&v| norm_axis(v, r))
                        .collect::<Option<_>>()
                        .ok_or_else(|| fail("perm out of range".into()))?,
                    None => (0..r).rev().collect(),
                };
                let mut sorted = perm.clone();
                sorted.sort_unstable();
                if sorted != (0..r).collect::<Vec<_>>() {
                    return Err(fail(format!("{perm:?} is not a permutation")));
                }
                Out::Node(FOp::Transpose { perm }, vec![x])
            }
            "Concat" => {
                let ids: Vec<usize> = (0..ins.len()).map(&input).collect::<Result<_>>()?;
                let r = shape_of(ids[0]).len();
                let axis = norm_axis(a.int("axis", 0), r).ok_or_else(|| fail("axis out of range".into()))?;
                for &i in &ids {
                    let s = shape_of(i);
                    if s.len() != r || (0..r).any(|d| d != axis && s[d] != shape_of(ids[0])[d]) {
                        return Err(fail(format!(
                            "inputs {:?} and {s:?} cannot be concatenated on axis {axis}",
                            shape_of(ids[0])
                        )));
                    }
                }
                Out::Node(FOp::Concat { axis }, ids)
            }
            "Slice" => {
                let x = x?;
                let s = shape_of(x);
                let (starts, ends, axes, steps) = if ins.len() > 1 {
                    let opt = |i: usize, what: &str| -> Result<Option<Vec<i64>>> {
                        match ins.get(i).copied().flatten() {
                            Some(_) => Ok(Some(konst_in(i, what)?.ints())),
                            None => Ok(None),
                        }
                    };
                    (konst_in(1, "starts")?.ints(), konst_in(2, "ends")?.ints(), opt(3, "axes")?, opt(4, "steps")?)
                } else {
                    (a.ints("starts").unwrap_or_default(), a.ints("ends").unwrap_or_default(), a.ints("axes"), None)
                };
                let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
                let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
                if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
                    return Err(fail("starts, ends, axes and steps differ in length".into()));
                }
                let mut op_axes = Vec::new();
                let (mut st, mut en, mut sp) = (Vec::new(), Vec::new(), Vec::new());
                for i in 0..starts.len() {
                    let ax = norm_axis(axes[i], s.len()).ok_or_else(|| fail("axis out of range".into()))?;
                    let d = s[ax] as i64;
                    let step = steps[i];
                    if step == 0 {
                        return Err(fail("slice step 0".into()));
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
                Out::Node(FOp::Slice { axes: op_axes, starts: st, ends: en, steps: sp }, vec![x])
            }
            "Gather" => {
                let x = x?;
                let s = shape_of(x);
                let axis = norm_axis(a.int("axis", 0), s.len()).ok_or_else(|| fail("axis out of range".into()))?;
                let idx = konst_in(1, "indices")?;
                let d = s[axis] as i64;
                let indices: Vec<usize> = idx
                    .ints()
                    .iter()
                    .map(|&i| {
                        let j = if i < 0 { i + d } else { i };
                        (0..d).contains(&j).then_some(j as usize).ok_or_else(|| fail(format!("index {i} out of range for {d}")))
                    })
                    .collect::<Result<_>>()?;
                Out::Node(FOp::Gather { axis, indices, indices_shape: idx.shape }, vec![x])
            }
            "ReduceMean" | "ReduceSum" => {
                let x = x?;
                let r = shape_of(x).len();
                let axes = match ins.get(1).copied().flatten() {
                    Some(_) => Some(konst_in(1, "axes")?.ints()),
                    None => a.ints("axes"),
                };
                let mut axes: Vec<usize> = match axes {
                    Some(ax) if !ax.is_empty() => ax
                        .iter()
                        .map(|&v| norm_axis(v, r))
                        .collect::<Option<_>>()
                        .ok_or_else(|| fail("axis out of range".into()))?,
                    _ if a.int("noop_with_empty_axes", 0) != 0 => return self.finish(node, name, Out::Alias(x)),
                    _ => (0..r).collect(),
                };
                axes.sort_unstable();
                axes.dedup();
                Out::Node(FOp::Reduce { axes, keep_dims: a.int("keepdims", 1) != 0, mean: op == "ReduceMean" }, vec![x])
            }
            _ => return Err(ImportError::Unsupported { op, node: name.into(), detail: String::new() }),
        };
        self.finish(node, name, out)
    }

    fn finish(&mut self, node: &NodeProto, name: &str, out: Out) -> Result<()> {
        let out_name = node.output.first().map(String::as_str).unwrap_or_default();
        match out {
            Out::Alias(id) => {
                self.by_name.insert(out_name.to_string(), id);
            }
            Out::Const(t) => {
                self.add_const(out_name, t);
            }
            Out::Node(op, ins) => {
                self.push(name, node.op_type(), op, ins, out_name)?;
            }
        }
        Ok(())
    }

    /// Adds a node (or folds it, if every input is constant) and returns its output id.
    fn push(&mut self, name: &str, onnx_op: &str, op: FOp, ins: Vec<usize>, out_name: &str) -> Result<usize> {
        let args: Vec<&FTensor> = ins.iter().map(|&i| &self.zeros[i]).collect();
        let y = op.eval(&args).ok_or_else(|| ImportError::Node {
            op: onnx_op.into(),
            node: name.into(),
            msg: format!("input shapes {:?} do not fit", ins.iter().map(|&i| &self.g.values[i].shape).collect::<Vec<_>>()),
        })?;
        if numel(&y.shape) > verity_model::MAX_ELEMENTS || y.shape.contains(&0) {
            return Err(ImportError::Node {
                op: onnx_op.into(),
                node: name.into(),
                msg: format!("unsupported output shape {:?}", y.shape),
            });
        }
        if ins.iter().all(|&i| self.g.values[i].konst.is_some()) {
            return Ok(self.add_const(out_name, y));
        }
        let shape = y.shape.clone();
        self.zeros.push(FTensor::new(shape.clone(), vec![0.0; y.data.len()]));
        let id = self.add_value(out_name, shape, None);
        self.producer.insert(id, self.g.nodes.len());
        self.g.nodes.push(FNode { name: name.into(), onnx_op: onnx_op.into(), op, inputs: ins, output: id });
        Ok(id)
    }

    /// The node computing `id` when only one consumer reads it (so it may be rewritten).
    fn sole_producer(&self, id: usize) -> Option<usize> {
        let uses = self.uses.get(&self.g.values[id].name).copied().unwrap_or(0);
        (uses == 1).then(|| self.producer.get(&id).copied()).flatten()
    }

    /// `input (op) c` with `c` constant, where the input feeds nothing else: folded into
    /// the input's affine map, so it happens in f64 before quantization. This keeps
    /// features on very different scales (raw tabular data) from sharing one scale.
    fn fold_into_input(&mut self, kind: Binary, p: usize, q: usize, out_name: &str) -> Option<usize> {
        let (x, c) = match (self.konst(p), self.konst(q)) {
            (None, Some(_)) => (p, q),
            (Some(_), None) if matches!(kind, Binary::Add | Binary::Mul) => (q, p),
            _ => return None,
        };
        let slot = self.g.inputs.iter().position(|&i| i == x)?;
        if self.uses.get(&self.g.values[x].name).copied() != Some(1) {
            return None;
        }
        let shape = self.g.values[x].shape.clone();
        let full = crate::ftensor::binary(&self.zeros[x], self.konst(c)?, |_, c| c)?;
        if full.shape != shape || full.data.iter().any(|v| !v.is_finite() || (kind == Binary::Div && *v == 0.0)) {
            return None;
        }
        let n = full.data.len();
        let a = &mut self.g.input_affine[slot];
        if a.mul.is_empty() {
            a.mul = vec![1.0; n];
            a.add = vec![0.0; n];
        }
        for (j, &c) in full.data.iter().enumerate() {
            match kind {
                Binary::Add => a.add[j] += c,
                Binary::Sub => a.add[j] -= c,
                Binary::Mul => (a.mul[j], a.add[j]) = (a.mul[j] * c, a.add[j] * c),
                Binary::Div => (a.mul[j], a.add[j]) = (a.mul[j] / c, a.add[j] / c),
            }
        }
        // The transformed tensor becomes the graph input, under the input's ONNX name.
        let name = self.g.values[x].name.clone();
        self.zeros.push(self.zeros[x].clone());
        let id = self.add_value(&name, shape, None);
        self.g.inputs[slot] = id;
        let uses = self.uses.get(out_name).copied().unwrap_or(0);
        self.uses.insert(name, uses);
        Some(id)
    }

    /// `linear_out + c` with `c` a per-column constant becomes part of the Linear's bias.
    fn fold_bias(&mut self, lin: usize, c: usize) -> Option<usize> {
        let node = self.sole_producer(lin)?;
        let c = self.konst(c)?.clone();
        let FOp::Linear { b, .. } = &mut self.g.nodes[node].op else { return None };
        let n = b.len();
        if c.data.len() != n || c.shape.len() > self.g.values[lin].shape.len() || c.shape.last() != Some(&n) {
            return None;
        }
        b.iter_mut().zip(&c.data).for_each(|(b, v)| *b += v);
        Some(lin)
    }

    /// Folds a per-channel affine `x * s + t` into the Conv that computes `x`.
    fn fold_into_conv(&mut self, x: usize, s: &[f64], t: &[f64]) -> Option<Out> {
        let node = self.sole_producer(x)?;
        let FOp::Conv { w, b, .. } = &mut self.g.nodes[node].op else { return None };
        if b.len() != s.len() {
            return None;
        }
        let per = w.len() / b.len();
        for c in 0..b.len() {
            w[c * per..(c + 1) * per].iter_mut().for_each(|v| *v *= s[c]);
            b[c] = b[c] * s[c] + t[c];
        }
        Some(Out::Alias(x))
    }

    fn window(&self, a: &Attrs, kernel: [usize; 2], xs: &[usize]) -> std::result::Result<Window, String> {
        let two = |name: &str, d: usize| -> std::result::Result<[usize; 2], String> {
            match a.ints(name) {
                None => Ok([d, d]),
                Some(v) if v.len() == 2 && v.iter().all(|&x| x > 0) => Ok([v[0] as usize, v[1] as usize]),
                Some(v) => Err(format!("{name} {v:?} must be two positive numbers")),
            }
        };
        let (stride, dilation) = (two("strides", 1)?, two("dilations", 1)?);
        let in_range = |v: &[usize]| v.iter().all(|&x| x <= 1 << 16);
        if kernel.contains(&0) || !in_range(&kernel) || !in_range(&stride) || !in_range(&dilation) {
            return Err(format!("window kernel {kernel:?}, strides {stride:?} or dilations {dilation:?} out of range"));
        }
        let auto = a.string("auto_pad").unwrap_or_default();
        let pads = match auto.as_str() {
            "" | "NOTSET" => match a.ints("pads") {
                None => [0; 4],
                Some(p) if p.len() == 4 && p.iter().all(|&x| x >= 0) => {
                    [p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize]
                }
                Some(p) => return Err(format!("pads {p:?} must be four non-negative numbers")),
            },
            "VALID" => [0; 4],
            "SAME_UPPER" | "SAME_LOWER" => {
                let mut p = [0; 4];
                for i in 0..2 {
                    let out = xs[2 + i].div_ceil(stride[i]);
                    let need = ((out - 1) * stride[i] + dilation[i] * (kernel[i] - 1) + 1).saturating_sub(xs[2 + i]);
                    let (small, big) = (need / 2, need - need / 2);
                    (p[i], p[i + 2]) = if auto == "SAME_UPPER" { (small, big) } else { (big, small) };
                }
                p
            }
            other => return Err(format!("auto_pad {other} is not supported")),
        };
        if !in_range(&pads) {
            return Err(format!("pads {pads:?} out of range"));
        }
        Ok(Window { kernel, stride, pads, dilation })
    }

    /// Drops nodes whose outputs no graph output depends on.
    fn prune(&mut self) {
        let mut live = vec![false; self.g.values.len()];
        self.g.outputs.iter().for_each(|&o| live[o] = true);
        let mut keep = vec![false; self.g.nodes.len()];
        for (i, n) in self.g.nodes.iter().enumerate().rev() {
            if live[n.output] {
                keep[i] = true;
                n.inputs.iter().for_each(|&v| live[v] = true);
            }
        }
        let mut it = keep.iter();
        self.g.nodes.retain(|_| *it.next().unwrap());
    }
}
