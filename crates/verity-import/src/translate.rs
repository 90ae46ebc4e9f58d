//! ONNX graph → float graph. Shapes are static: every value's shape is found by running
//! each op on zeros as it is added, and nodes whose inputs are all constant are folded
//! away (this is how Shape/Gather/Concat chains feeding Reshape disappear).

use std::collections::HashMap;

use crate::error::{onnx_err, ImportError, Result};
use crate::fgraph::{Binary, FGraph, FNode, FOp, FValue};
use crate::ftensor::FTensor;
use crate::onnx::{GraphProto, NodeProto};
use crate::ops;
use crate::proto::{self, Attrs};
use verity_model::shape::numel;
use verity_model::{InputAffine, Window};

/// Counts every read of a value name, in `graph` and in its sub-graphs (If branches):
/// a value read anywhere else is never rewritten in place.
fn count_uses(graph: &GraphProto, uses: &mut HashMap<String, usize>) {
    for name in graph.node.iter().flat_map(|n| n.input.iter().map(String::as_str)).chain(graph.output.iter().map(|o| o.name())) {
        *uses.entry(name.to_string()).or_default() += 1;
    }
    for g in graph.node.iter().flat_map(|n| &n.attribute).filter_map(|a| a.g.as_ref()) {
        count_uses(g, uses);
    }
}

/// Translates `graph`, whose default-domain opset is `opset`; `shapes` fixes the shapes
/// of named graph inputs and `values` fixes named graph inputs to constants.
pub fn build(graph: &GraphProto, opset: i64, shapes: &[(String, Vec<usize>)], values: &[(String, Vec<f64>)]) -> Result<FGraph> {
    let mut b = Builder { opset, ..Builder::default() };
    count_uses(graph, &mut b.uses);
    for t in &graph.initializer {
        let v = proto::tensor(t)?;
        b.add_const(t.name(), v);
    }
    let runtime: Vec<&str> =
        graph.input.iter().map(|i| i.name()).filter(|n| !graph.initializer.iter().any(|t| t.name() == *n)).collect();
    if let Some((n, _)) = shapes.iter().find(|(n, _)| !runtime.contains(&n.as_str())) {
        return onnx_err(format!("a shape is given for '{n}', which is not a graph input (the inputs are {runtime:?})"));
    }
    if let Some((n, _)) = values.iter().find(|(n, _)| !runtime.contains(&n.as_str())) {
        return onnx_err(format!("a value is given for '{n}', which is not a graph input (the inputs are {runtime:?})"));
    }
    for input in &graph.input {
        if b.by_name.contains_key(input.name()) {
            continue; // an initializer listed as an input (older exporters)
        }
        let fixed = shapes.iter().find(|(n, _)| n == input.name()).map(|(_, s)| s.as_slice());
        let shape = proto::declared_shape(input, fixed)?;
        if shape.contains(&0) {
            return onnx_err(format!("graph input '{}' has an empty dimension: {shape:?}", input.name()));
        }
        if checked_numel(&shape).is_none() {
            return onnx_err(format!("graph input '{}' is too large: {shape:?}", input.name()));
        }
        if let Some((_, v)) = values.iter().find(|(n, _)| n == input.name()) {
            // A fixed input is a constant: what depends on it only (a sample rate, a
            // mode flag, the If it selects) folds away.
            if v.len() != numel(&shape) {
                return onnx_err(format!(
                    "{} values are given for graph input '{}', whose shape {shape:?} holds {}",
                    v.len(),
                    input.name(),
                    numel(&shape)
                ));
            }
            b.add_const(input.name(), FTensor::new(shape, v.clone()));
            continue;
        }
        let id = b.add_value(input.name(), shape.clone(), None);
        b.g.inputs.push(id);
        b.g.input_affine.push(InputAffine::default());
        b.g.input_int_bits.push(proto::integer_bits(input));
        b.zeros.push(FTensor::new(shape.clone(), vec![0.0; numel(&shape)]));
    }
    if b.g.inputs.is_empty() {
        return onnx_err("the graph has no (non-constant) inputs");
    }
    // Every op the importer cannot take is named at once, not one per attempt.
    let missing: Vec<(String, String)> = graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, n)| ops::translator(n).is_none())
        .map(|(i, n)| unsupported(n, &node_name(n, i)))
        .collect();
    match missing.as_slice() {
        [] => {}
        [(op, node)] => return Err(ImportError::Unsupported { op: op.clone(), node: node.clone(), detail: String::new() }),
        _ => return Err(ImportError::UnsupportedOps(missing)),
    }
    for (i, node) in graph.node.iter().enumerate() {
        b.translate(node, &node_name(node, i))?;
    }
    for o in &graph.output {
        let id = b.lookup(o.name(), "graph output")?;
        b.g.outputs.push(id);
    }
    if b.g.outputs.is_empty() {
        return onnx_err("the graph has no outputs");
    }
    b.prune();
    Ok(b.g)
}

#[derive(Default)]
pub(crate) struct Builder {
    pub opset: i64,
    g: FGraph,
    by_name: HashMap<String, usize>,
    uses: HashMap<String, usize>,
    /// Value id → index of the node that computes it.
    producer: HashMap<usize, usize>,
    /// A zero tensor (or the constant) per value: evaluating ops on these gives shapes.
    zeros: Vec<FTensor>,
}

/// What a translator makes of one ONNX node.
pub(crate) enum Out {
    /// A float op over these value ids (folded away when they are all constant).
    Node(FOp, Vec<usize>),
    /// A value known at import time.
    Const(FTensor),
    /// The node computes an existing value (Identity, or a rewrite into an earlier op).
    Alias(usize),
    /// A node with several outputs (TopK, the recurrent ops): one existing value per ONNX
    /// output, in order; omitted optional outputs (empty names) are skipped.
    Many(Vec<usize>),
}

/// One ONNX node as its translator sees it: inputs resolved to value ids, attribute
/// access, and errors that name the node.
pub(crate) struct Cx<'a> {
    pub node: &'a NodeProto,
    pub name: &'a str,
    pub op: &'a str,
    pub a: Attrs<'a>,
    ins: Vec<Option<usize>>,
    values: HashMap<usize, FValue>,
}

impl Cx<'_> {
    pub fn fail(&self, msg: impl Into<String>) -> ImportError {
        ImportError::Node { op: self.op.to_string(), node: self.name.to_string(), msg: msg.into() }
    }
    /// Input `i`, which the op requires.
    pub fn input(&self, i: usize) -> Result<usize> {
        self.opt(i).ok_or_else(|| self.fail(format!("missing input {i}")))
    }
    pub fn x(&self) -> Result<usize> {
        self.input(0)
    }
    /// Input `i` if it is given (ONNX marks omitted optional inputs with an empty name).
    pub fn opt(&self, i: usize) -> Option<usize> {
        self.ins.get(i).copied().flatten()
    }
    pub fn n_inputs(&self) -> usize {
        self.ins.len()
    }
    pub fn shape_of(&self, id: usize) -> Vec<usize> {
        self.values[&id].shape.clone()
    }
    /// Input `i`, which must be known at import time (weights, shapes, axes, ...).
    pub fn konst_in(&self, i: usize, what: &str) -> Result<FTensor> {
        let id = self.input(i)?;
        self.values[&id]
            .konst
            .clone()
            .ok_or_else(|| self.fail(format!("{what} (input {i}) must be a constant; run-time {what} is not supported")))
    }
    /// Input `i` as a constant, or `None` when it is omitted.
    pub fn konst_opt(&self, i: usize, what: &str) -> Result<Option<FTensor>> {
        self.opt(i).map(|_| self.konst_in(i, what)).transpose()
    }
    /// A 0/1 attribute as a bool; any other value is an error naming it.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool> {
        match self.a.int(name, default as i64) {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(self.fail(format!("{name} must be 0 or 1, got {v}"))),
        }
    }
    /// A name for the `k`-th extra value a multi-node lowering creates.
    pub fn part(&self, what: &str) -> String {
        format!("{}/{what}", self.name)
    }
}

/// The error for an op no translator handles, naming the op (with its domain, if not
/// the default one) and the node.
fn unsupported(node: &NodeProto, name: &str) -> (String, String) {
    let op = match node.domain() {
        "" | "ai.onnx" => node.op_type().to_string(),
        d => format!("{d}::{}", node.op_type()),
    };
    (op, name.to_string())
}

fn node_name(node: &NodeProto, i: usize) -> String {
    if node.name().is_empty() {
        format!("{}_{i}", node.op_type())
    } else {
        node.name().to_string()
    }
}

/// Element count of `shape`, if it is within the model limit.
pub(crate) fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).filter(|&n| n <= verity_model::MAX_ELEMENTS)
}

pub(crate) fn norm_axis(a: i64, rank: usize) -> Option<usize> {
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

    pub(crate) fn add_const(&mut self, name: &str, t: FTensor) -> usize {
        self.zeros.push(t.clone());
        self.add_value(name, t.shape.clone(), Some(t))
    }

    pub(crate) fn lookup(&self, name: &str, what: &str) -> Result<usize> {
        self.by_name.get(name).copied().ok_or_else(|| ImportError::Onnx(format!("{what} '{name}' is never defined")))
    }

    /// Whether value `id` holds exact integers: an integer graph input, a comparison's
    /// boolean or an index.
    pub(crate) fn is_integral(&self, id: usize) -> bool {
        let input = self.g.inputs.iter().position(|&i| i == id).is_some_and(|k| self.g.input_int_bits[k].is_some());
        input || self.producer.get(&id).is_some_and(|&n| matches!(self.g.nodes[n].op, FOp::Compare(_) | FOp::Arg { .. }))
    }

    /// The shape of any value, including one a translator has just pushed (`Cx::shape_of`
    /// only knows the node's inputs).
    pub(crate) fn shape(&self, id: usize) -> Vec<usize> {
        self.g.values[id].shape.clone()
    }

    pub(crate) fn konst(&self, id: usize) -> Option<&FTensor> {
        self.g.values[id].konst.as_ref()
    }

    pub(crate) fn translate(&mut self, node: &NodeProto, name: &str) -> Result<()> {
        let Some(translator) = ops::translator(node) else {
            let (op, node) = unsupported(node, name);
            return Err(ImportError::Unsupported { op, node, detail: String::new() });
        };
        let ins: Vec<Option<usize>> = node
            .input
            .iter()
            .map(|n| if n.is_empty() { Ok(None) } else { self.lookup(n, "input").map(Some) })
            .collect::<Result<_>>()?;
        // Snapshots, so that translators may add values while reading their inputs.
        let values: HashMap<usize, FValue> = ins.iter().flatten().map(|&i| (i, self.g.values[i].clone())).collect();
        let cx = Cx { node, name, op: node.op_type(), a: Attrs { node }, ins, values };
        let out = translator(self, &cx)?;
        self.finish(node, name, out)
    }

    fn finish(&mut self, node: &NodeProto, name: &str, out: Out) -> Result<()> {
        let out_name = node.output.first().map(String::as_str).unwrap_or_default();
        // An unread extra output (Dropout's mask) is harmless; a read one is not computed.
        let read = |o: &String| !o.is_empty() && self.uses.get(o).is_some_and(|&n| n > 0);
        if !matches!(out, Out::Many(_)) && node.output.iter().skip(1).any(read) {
            return Err(ImportError::Node {
                op: node.op_type().into(),
                node: name.into(),
                msg: format!("only the first of its {} outputs is supported", node.output.len()),
            });
        }
        match out {
            Out::Many(ids) => {
                if node.output.len() > ids.len() {
                    return Err(ImportError::Node {
                        op: node.op_type().into(),
                        node: name.into(),
                        msg: format!("has {} outputs; at most {} are supported", node.output.len(), ids.len()),
                    });
                }
                for (o, id) in node.output.iter().zip(ids).filter(|(o, _)| !o.is_empty()) {
                    // A computed value takes the ONNX output's name (an If's branch
                    // output, a TopK round), so graph outputs keep their names.
                    if self.producer.contains_key(&id) {
                        self.g.values[id].name = o.clone();
                    }
                    self.by_name.insert(o.clone(), id);
                }
            }
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
    pub(crate) fn push(&mut self, name: &str, onnx_op: &str, op: FOp, ins: Vec<usize>, out_name: &str) -> Result<usize> {
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

    /// Widens the calibrated range of `id` by `factor`, to at most `cap`.
    pub(crate) fn headroom(&mut self, id: usize, factor: f64, cap: f64) {
        if self.g.values[id].konst.is_none() {
            self.g.headroom.push((id, factor, cap));
        }
    }

    /// The node computing `id` when only one consumer reads it (so it may be rewritten).
    fn sole_producer(&self, id: usize) -> Option<usize> {
        let uses = self.uses.get(&self.g.values[id].name).copied().unwrap_or(0);
        (uses == 1).then(|| self.producer.get(&id).copied()).flatten()
    }

    /// `(p, q)` when `id` is `p² + q²` of run-time values (Pow 2 or a product with
    /// itself), read by nothing else: the magnitude of a complex pair.
    pub(crate) fn sum_of_squares(&self, id: usize) -> Option<(usize, usize)> {
        let node = &self.g.nodes[self.sole_producer(id)?];
        let (FOp::Binary(Binary::Add), [a, c]) = (&node.op, node.inputs.as_slice()) else { return None };
        let base = |v: usize| -> Option<usize> {
            let n = &self.g.nodes[self.sole_producer(v)?];
            match (&n.op, n.inputs.as_slice()) {
                (FOp::Unary(crate::fgraph::Unary::Pow(e)), &[x]) if *e == 2.0 => Some(x),
                (FOp::Binary(Binary::Mul), &[x, y]) if x == y => Some(x),
                _ => None,
            }
        };
        let (p, q) = (base(*a)?, base(*c)?);
        (self.konst(p).is_none() && self.konst(q).is_none()).then_some((p, q))
    }

    /// `input (op) c` with `c` constant, where the input feeds nothing else: folded into
    /// the input's affine map, so it happens in f64 before quantization. This keeps
    /// features on very different scales (raw tabular data) from sharing one scale.
    pub(crate) fn fold_into_input(&mut self, kind: Binary, p: usize, q: usize, out_name: &str) -> Option<usize> {
        let (x, c) = match (self.konst(p), self.konst(q)) {
            (None, Some(_)) => (p, q),
            (Some(_), None) if matches!(kind, Binary::Add | Binary::Mul) => (q, p),
            _ => return None,
        };
        let slot = self.g.inputs.iter().position(|&i| i == x)?;
        // An integer input stays exact: no affine map in front of it.
        if self.g.input_int_bits[slot].is_some() || self.uses.get(&self.g.values[x].name).copied() != Some(1) {
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

    /// Composes the per-last-axis affine map `x * mul + add` into the quantization of
    /// float graph input `x`, which the node being translated reads (as `read_as`) and
    /// nothing else does, and fixes the result's range if `range` is given. Returns the
    /// transformed input's id, which stands for the node's output `out` when given (a
    /// Scaler) or is read by the node alone (a tree ensemble). `None` when `x` is not
    /// such an input (an integer one, or one with other readers).
    pub(crate) fn map_input(
        &mut self,
        x: usize,
        read_as: &str,
        out: Option<&str>,
        (mul, add): (&[f64], &[f64]),
        range: Option<f64>,
    ) -> Option<usize> {
        let slot = self.g.inputs.iter().position(|&i| i == x)?;
        if self.g.input_int_bits[slot].is_some() || self.uses.get(read_as).copied() != Some(1) {
            return None;
        }
        let shape = self.g.values[x].shape.clone();
        let n = numel(&shape);
        let k = *shape.last()?;
        if mul.len() != k || add.len() != k || mul.iter().chain(add).any(|v| !v.is_finite()) {
            return None;
        }
        let a = &mut self.g.input_affine[slot];
        if a.mul.is_empty() {
            a.mul = vec![1.0; n];
            a.add = vec![0.0; n];
        }
        for j in 0..n {
            (a.mul[j], a.add[j]) = (a.mul[j] * mul[j % k], a.add[j] * mul[j % k] + add[j % k]);
        }
        let name = self.g.values[x].name.clone();
        self.zeros.push(self.zeros[x].clone());
        let id = self.add_value(&name, shape, None);
        self.g.inputs[slot] = id;
        let uses = out.map_or(1, |o| self.uses.get(o).copied().unwrap_or(0));
        self.uses.insert(name, uses);
        if let Some(r) = range {
            self.fix_range(id, r);
        }
        Some(id)
    }

    /// For a comparison of `sel` with the constant `thr` where `sel` is a 0/1 selection
    /// (one 1 per row, no bias; as a Linear, possibly Transposed, which is how
    /// hummingbird's GEMM tree strategy picks each node's feature) of a graph input that
    /// nothing else reads: spreads each feature's thresholds over the quantized range by
    /// an input map, as tree ensembles do, so that raw features of very different
    /// magnitudes each keep their resolution. Returns the thresholds in mapped units.
    pub(crate) fn map_selected_features(&mut self, sel: usize, thr: usize) -> Option<usize> {
        let t = self.konst(thr)?.clone();
        let mut lin = self.sole_producer(sel)?;
        if let FOp::Transpose { perm } = &self.g.nodes[lin].op {
            if perm.as_slice() != [1, 0] {
                return None;
            }
            // The Linear's output is the lowering's own value, read by this Transpose alone.
            lin = *self.producer.get(&self.g.nodes[lin].inputs[0])?;
        }
        let FOp::Linear { w, b } = &self.g.nodes[lin].op else { return None };
        let x = self.g.nodes[lin].inputs[0];
        let k = *self.g.values[x].shape.last()?;
        let rows = b.len();
        // Per row: the feature it selects, or None for a row of zeros (a padding node).
        let picks: Vec<Option<Option<usize>>> = w
            .chunks(k)
            .map(|r| {
                let nonzero: Vec<usize> = (0..k).filter(|&j| r[j] != 0.0).collect();
                match nonzero.as_slice() {
                    [] => Some(None),
                    &[j] if r[j] == 1.0 => Some(Some(j)),
                    _ => None,
                }
            })
            .collect();
        let picks: Vec<Option<usize>> = picks.into_iter().collect::<Option<_>>()?;
        if picks.len() != rows || b.iter().any(|&v| v != 0.0) || t.data.len() != rows {
            return None;
        }
        let tests = picks.iter().zip(&t.data).filter_map(|(f, &v)| f.map(|f| (f, v)));
        let (mul, add) = crate::ops::ml::feature_maps(tests, k);
        let name = self.g.values[x].name.clone();
        let mapped = self.map_input(x, &name, None, (&mul, &add), Some(1.0))?;
        self.g.nodes[lin].inputs[0] = mapped;
        // The selected features stay in the input's fixed range (beyond it they clamp).
        let selected = self.g.nodes[lin].output;
        self.fix_range(selected, 1.0);
        let moved: Vec<f64> = picks.iter().zip(&t.data).map(|(f, &v)| f.map_or(v, |f| mul[f] * v + add[f])).collect();
        let tname = format!("{}/mapped", self.g.values[thr].name);
        Some(self.add_const(&tname, FTensor::new(t.shape.clone(), moved)))
    }

    /// Fixes value `id`'s range at `range` instead of its calibrated one.
    pub(crate) fn fix_range(&mut self, id: usize, range: f64) {
        self.g.fixed_range.push((id, range));
    }

    /// `linear_out + c` with `c` a per-column constant becomes part of the Linear's bias.
    pub(crate) fn fold_bias(&mut self, lin: usize, c: usize) -> Option<usize> {
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
    pub(crate) fn fold_into_conv(&mut self, x: usize, s: &[f64], t: &[f64]) -> Option<Out> {
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

    /// The window of a 2-D conv or pool; `ints` reads its integer attributes (as 2-D
    /// ones: a 1-D op's are widened by `ops::nn::attrs_2d`).
    pub(crate) fn window(
        &self,
        ints: &dyn Fn(&str) -> Option<Vec<i64>>,
        auto: Option<String>,
        kernel: [usize; 2],
        xs: &[usize],
    ) -> std::result::Result<Window, String> {
        let two = |name: &str, d: usize| -> std::result::Result<[usize; 2], String> {
            match ints(name) {
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
        let auto = auto.unwrap_or_default();
        let pads = match auto.as_str() {
            "" | "NOTSET" => match ints("pads") {
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
