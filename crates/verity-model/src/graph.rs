//! The canonical model: values (typed integer tensors) and nodes in execution order.

use crate::error::{invalid, ModelError, Result};
use crate::ops::{Op, Requant, Window};
use crate::shape::{self, numel};

pub type ValueId = u32;

/// One tensor of the graph: its shape and its quantization. `scale` only says how to
/// read the integers as reals (for input quantization and output display); it never
/// enters the integer semantics.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueInfo {
    pub name: String,
    pub shape: Vec<usize>,
    /// 8 or 16: values lie in `[-2^(bits-1), 2^(bits-1) - 1]`.
    pub bits: u8,
    pub scale: f32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: String,
    pub op: Op,
    pub inputs: Vec<ValueId>,
    pub output: ValueId,
}

/// A per-element affine map `x * mul + add` applied to a real input before it is
/// quantized (normalization folded out of the graph). Empty vectors mean identity.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct InputAffine {
    pub mul: Vec<f64>,
    pub add: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Model {
    pub values: Vec<ValueInfo>,
    pub inputs: Vec<ValueId>,
    /// One per input (or none at all, meaning identity for every input).
    pub input_affine: Vec<InputAffine>,
    pub outputs: Vec<ValueId>,
    /// In execution order: every node reads only graph inputs and earlier outputs.
    pub nodes: Vec<Node>,
}

/// A model without its nodes: the part of the encoding before the first node, which a
/// referee holds in full (types, names, scales, input maps, inputs, outputs) while it
/// opens nodes one at a time against the nodes root (see [`crate::id`]).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ModelHead {
    pub values: Vec<ValueInfo>,
    pub inputs: Vec<ValueId>,
    pub input_affine: Vec<InputAffine>,
    pub outputs: Vec<ValueId>,
    pub n_nodes: usize,
}

impl ModelHead {
    /// Checks everything [`Model::validate`] checks that does not need the nodes. Values
    /// are numbered inputs first, then node outputs, so every output names a computed value.
    pub fn validate(&self) -> Result<()> {
        check_head(&self.values, &self.inputs, &self.input_affine, &self.outputs, self.n_nodes)
    }
}

const IN_ORDER: &str = "values must be numbered inputs first, then node outputs in node order";

fn check_head(
    values: &[ValueInfo],
    inputs: &[ValueId],
    input_affine: &[InputAffine],
    outputs: &[ValueId],
    n_nodes: usize,
) -> Result<()> {
    for (i, v) in values.iter().enumerate() {
        if v.bits != 8 && v.bits != 16 {
            return invalid(format!("value {i} ({}) has bit width {}, expected 8 or 16", v.name, v.bits));
        }
        if !(v.scale.is_finite() && v.scale > 0.0) {
            return invalid(format!("value {i} ({}) has scale {}, expected a positive number", v.name, v.scale));
        }
        let n = v.shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if !matches!(n, Some(n) if n <= MAX_ELEMENTS) || v.shape.contains(&0) {
            return invalid(format!("value {i} ({}) has unsupported shape {:?}", v.name, v.shape));
        }
    }
    if inputs.is_empty() || outputs.is_empty() {
        return invalid("a model needs at least one input and one output");
    }
    // Value ids follow execution order (inputs, then node outputs), so a trace
    // leaf's position is its value id.
    if !inputs.iter().enumerate().all(|(i, &id)| id as usize == i) || Some(values.len()) != inputs.len().checked_add(n_nodes) {
        return invalid(IN_ORDER);
    }
    if !input_affine.is_empty() && input_affine.len() != inputs.len() {
        return invalid(format!("{} input maps for {} inputs", input_affine.len(), inputs.len()));
    }
    for (a, &id) in input_affine.iter().zip(inputs) {
        let n = numel(&values[id as usize].shape);
        let ok = |v: &[f64]| (v.is_empty() || v.len() == n) && v.iter().all(|x| x.is_finite());
        if !ok(&a.mul) || !ok(&a.add) {
            return invalid(format!("input map of value {id} must hold 0 or {n} finite numbers"));
        }
    }
    if let Some(id) = outputs.iter().find(|&&id| id as usize >= values.len()) {
        return invalid(format!("graph output {id} is never computed"));
    }
    Ok(())
}

/// Largest magnitude an intermediate quantity may reach, so that every implementation
/// can compute in 64-bit integers without overflow.
pub const LIMIT: i128 = 1 << 62;
/// Largest element count of any tensor (keeps sums of products far below `LIMIT`).
pub const MAX_ELEMENTS: usize = 1 << 26;

impl Model {
    pub fn value(&self, id: ValueId) -> &ValueInfo {
        &self.values[id as usize]
    }

    /// Renumbers values into the canonical order `validate` requires (inputs, then
    /// node outputs in node order) and drops values nothing defines.
    pub fn into_canonical_order(mut self) -> Model {
        let mut map = vec![u32::MAX; self.values.len()];
        let order: Vec<u32> = self.inputs.iter().copied().chain(self.nodes.iter().map(|n| n.output)).collect();
        for (new, &old) in order.iter().enumerate() {
            if let Some(m) = map.get_mut(old as usize) {
                *m = new as u32;
            }
        }
        let remap = |id: &mut u32| *id = map.get(*id as usize).copied().unwrap_or(u32::MAX);
        self.values = order.iter().filter_map(|&old| self.values.get(old as usize).cloned()).collect();
        self.inputs.iter_mut().for_each(remap);
        self.outputs.iter_mut().for_each(remap);
        for n in &mut self.nodes {
            n.inputs.iter_mut().for_each(remap);
            remap(&mut n.output);
        }
        self
    }

    pub fn param_count(&self) -> usize {
        self.nodes.iter().map(|n| n.op.param_count()).sum()
    }

    /// The head of the model: everything but the nodes (see [`crate::id`]).
    pub fn head(&self) -> ModelHead {
        ModelHead {
            values: self.values.clone(),
            inputs: self.inputs.clone(),
            input_affine: self.input_affine.clone(),
            outputs: self.outputs.clone(),
            n_nodes: self.nodes.len(),
        }
    }

    /// Checks that the graph is well formed and that every op's parameters keep all
    /// intermediate integers within `LIMIT`. Every decoded model passes through here.
    pub fn validate(&self) -> Result<()> {
        check_head(&self.values, &self.inputs, &self.input_affine, &self.outputs, self.nodes.len())?;
        let mut defined = vec![false; self.values.len()];
        let mut define = |id: ValueId, what: &str| -> Result<()> {
            match defined.get_mut(id as usize) {
                None => invalid(format!("{what} refers to value {id}, which does not exist")),
                Some(true) => invalid(format!("{what} redefines value {id}")),
                Some(d) => {
                    *d = true;
                    Ok(())
                }
            }
        };
        if !self.nodes.iter().enumerate().all(|(k, n)| n.output as usize == self.inputs.len() + k) {
            return invalid(IN_ORDER);
        }
        for &id in &self.inputs {
            define(id, "a graph input")?;
        }
        let mut ready = vec![false; self.values.len()];
        for &id in &self.inputs {
            ready[id as usize] = true;
        }
        for (i, node) in self.nodes.iter().enumerate() {
            let at = || format!("node {i} ({} {})", node.op.kind(), node.name);
            for &id in &node.inputs {
                if !ready.get(id as usize).copied().unwrap_or(false) {
                    return invalid(format!("{} reads value {id} before it is computed", at()));
                }
            }
            define(node.output, &at())?;
            ready[node.output as usize] = true;
            self.check_node(node).map_err(|e| match e {
                ModelError::Invalid(m) => ModelError::Invalid(format!("{}: {m}", at())),
                other => other,
            })?;
        }
        Ok(())
    }

    fn check_node(&self, node: &Node) -> Result<()> {
        let ins: Vec<&ValueInfo> = node.inputs.iter().map(|&i| self.value(i)).collect();
        let out = self.value(node.output);
        let arity = match &node.op {
            Op::Const { .. } => 0,
            Op::MatMul { .. } | Op::Add { .. } | Op::Mul { .. } | Op::Div { .. } | Op::Compare { .. } => 2,
            Op::Where => 3,
            Op::Concat { .. } => ins.len().max(1),
            _ => 1,
        };
        if ins.len() != arity {
            return invalid(format!("expects {arity} inputs, has {}", ins.len()));
        }
        let expected = self.out_shape(&node.op, &ins, out)?;
        if expected != out.shape {
            return invalid(format!("output shape {:?} does not match the computed {:?}", out.shape, expected));
        }
        check_bounds(&node.op, &ins, out)
    }

    fn out_shape(&self, op: &Op, ins: &[&ValueInfo], out: &ValueInfo) -> Result<Vec<usize>> {
        let x = ins.first().map(|v| v.shape.as_slice()).unwrap_or(&[]);
        Ok(match op {
            Op::Const { data } => {
                if data.len() != numel(&out.shape) {
                    return invalid(format!("constant has {} elements, shape needs {}", data.len(), numel(&out.shape)));
                }
                check_range(data.iter().map(|&v| v as i64), out.bits, "constant")?;
                out.shape.clone()
            }
            Op::Linear { weight, bias, rq } => {
                let k = *x.last().ok_or_else(|| ModelError::Invalid("Linear input is a scalar".into()))?;
                let n = bias.len();
                if n == 0 || weight.len() != n * k {
                    return invalid(format!("weight has {} elements, expected {n} x {k}", weight.len()));
                }
                check_requant(rq, n)?;
                let mut s = x.to_vec();
                *s.last_mut().unwrap() = n;
                s
            }
            Op::Conv { weight, bias, window, groups, rq } => {
                let (c_out, g) = (bias.len(), *groups);
                if x.len() != 4 || g == 0 || c_out == 0 || !x[1].is_multiple_of(g) || c_out % g != 0 {
                    return invalid(format!("input {x:?}, {c_out} output channels and {g} groups do not fit"));
                }
                check_window(window)?;
                let want = c_out * (x[1] / g) * window.kernel[0] * window.kernel[1];
                if weight.len() != want {
                    return invalid(format!("weight has {} elements, expected {want}", weight.len()));
                }
                check_requant(rq, c_out)?;
                let [oh, ow] =
                    window.out_size(x[2], x[3]).ok_or_else(|| ModelError::Invalid("window larger than padded input".into()))?;
                vec![x[0], c_out, oh, ow]
            }
            Op::MatMul { rq } => {
                check_requant(rq, 1)?;
                shape::matmul(x, &ins[1].shape)?
            }
            Op::Add { .. } | Op::Mul { .. } | Op::Div { .. } | Op::Compare { .. } => shape::broadcast(x, &ins[1].shape)?,
            Op::Where => shape::broadcast(&shape::broadcast(x, &ins[1].shape)?, &ins[2].shape)?,
            Op::Arg { axis, keep_dims, .. } => {
                if *axis >= x.len() {
                    return invalid(format!("axis {axis} out of range for rank {}", x.len()));
                }
                shape::reduce(x, &[*axis], *keep_dims)
            }
            Op::Rescale { .. } | Op::Clamp { .. } => x.to_vec(),
            Op::Lut { table } => {
                if table.len() != 1 << ins[0].bits {
                    return invalid(format!(
                        "table has {} entries, a {}-bit input needs {}",
                        table.len(),
                        ins[0].bits,
                        1usize << ins[0].bits
                    ));
                }
                check_range(table.iter().map(|&v| v as i64), out.bits, "table entry")?;
                x.to_vec()
            }
            Op::PRelu { neg_mult, .. } => {
                let c = if x.len() >= 2 { x[1] } else { 1 };
                if neg_mult.len() != 1 && neg_mult.len() != c {
                    return invalid(format!("{} slopes for {c} channels", neg_mult.len()));
                }
                x.to_vec()
            }
            Op::MaxPool { window } | Op::AvgPool { window, .. } => {
                check_window(window)?;
                if x.len() != 4 {
                    return invalid(format!("pooling needs an NCHW input, got {x:?}"));
                }
                if window.dilation != [1, 1] {
                    return invalid("pooling windows must not be dilated");
                }
                if window.pads[0] >= window.kernel[0]
                    || window.pads[1] >= window.kernel[1]
                    || window.pads[2] >= window.kernel[0]
                    || window.pads[3] >= window.kernel[1]
                {
                    return invalid("pooling pads must be smaller than the kernel");
                }
                let [oh, ow] =
                    window.out_size(x[2], x[3]).ok_or_else(|| ModelError::Invalid("window larger than padded input".into()))?;
                vec![x[0], x[1], oh, ow]
            }
            Op::Reduce { axes, keep_dims, .. } => {
                if axes.is_empty() || axes.iter().any(|&a| a >= x.len()) || !strictly_increasing(axes) {
                    return invalid(format!("reduce axes {axes:?} invalid for rank {}", x.len()));
                }
                shape::reduce(x, axes, *keep_dims)
            }
            Op::Softmax { axis, exp_table } => {
                if *axis >= x.len() {
                    return invalid(format!("axis {axis} out of range for rank {}", x.len()));
                }
                if exp_table.len() != 1 << ins[0].bits {
                    return invalid(format!("exp table has {} entries, expected {}", exp_table.len(), 1usize << ins[0].bits));
                }
                if exp_table.iter().any(|&e| !(0..=1 << 24).contains(&e)) || exp_table[0] <= 0 {
                    return invalid("exp table entries must lie in [0, 2^24] with a positive first entry");
                }
                x.to_vec()
            }
            Op::LayerNorm { axis, gamma, beta, frac_bits, eps, .. } => {
                if *axis >= x.len() {
                    return invalid(format!("axis {axis} out of range for rank {}", x.len()));
                }
                let n = numel(&x[*axis..]);
                if gamma.len() != n || beta.len() != n {
                    return invalid(format!("gamma/beta have {}/{} entries, expected {n}", gamma.len(), beta.len()));
                }
                if *frac_bits > 16 || *eps < 0 {
                    return invalid("frac_bits must be at most 16 and eps non-negative");
                }
                x.to_vec()
            }
            Op::Reshape => {
                if numel(&out.shape) != numel(x) {
                    return invalid(format!("cannot reshape {x:?} to {:?}", out.shape));
                }
                out.shape.clone()
            }
            Op::Transpose { perm } => {
                let mut seen = perm.clone();
                seen.sort_unstable();
                if seen != (0..x.len()).collect::<Vec<_>>() {
                    return invalid(format!("{perm:?} is not a permutation of rank {}", x.len()));
                }
                perm.iter().map(|&p| x[p]).collect()
            }
            Op::Concat { axis } => {
                if *axis >= x.len() {
                    return invalid(format!("axis {axis} out of range for rank {}", x.len()));
                }
                let mut s = x.to_vec();
                s[*axis] = 0;
                for v in ins {
                    if v.bits != out.bits || v.scale != out.scale || v.shape.len() != x.len() {
                        return invalid("concatenated inputs must share the output's rank, bits and scale");
                    }
                    for (d, (&a, &b)) in v.shape.iter().zip(x).enumerate() {
                        if d != *axis && a != b {
                            return invalid(format!("shapes {:?} and {x:?} differ off the concat axis", v.shape));
                        }
                    }
                    s[*axis] += v.shape[*axis];
                }
                s
            }
            Op::Slice { axes, starts, ends, steps } => {
                let n = axes.len();
                if starts.len() != n || ends.len() != n || steps.len() != n {
                    return invalid("slice lists differ in length");
                }
                let mut s = x.to_vec();
                for i in 0..n {
                    let (a, st, en, sp) = (axes[i], starts[i], ends[i], steps[i]);
                    if axes[..i].contains(&a) {
                        return invalid(format!("slice axis {a} listed twice"));
                    }
                    if a >= x.len() || sp == 0 {
                        return invalid(format!("slice axis {a} or step {sp} invalid"));
                    }
                    let d = x[a] as i64;
                    let ok = if sp > 0 {
                        (0..=d).contains(&st) && (0..=d).contains(&en)
                    } else {
                        (0..d).contains(&st) && (-1..d).contains(&en)
                    };
                    if !ok {
                        return invalid(format!("slice start {st} / end {en} outside axis {a} of length {d}"));
                    }
                    s[a] = shape::slice_len(st, en, sp);
                }
                s
            }
            Op::Gather { axis, indices, indices_shape } => {
                if *axis >= x.len() || numel(indices_shape) != indices.len() || indices.iter().any(|&i| i >= x[*axis]) {
                    return invalid(format!("gather indices out of range for axis {axis} of {x:?}"));
                }
                let mut s = x[..*axis].to_vec();
                s.extend(indices_shape);
                s.extend(&x[axis + 1..]);
                s
            }
        })
    }
}

fn strictly_increasing(v: &[usize]) -> bool {
    v.windows(2).all(|w| w[0] < w[1])
}

fn check_window(w: &Window) -> Result<()> {
    if w.kernel.contains(&0) || w.stride.contains(&0) || w.dilation.contains(&0) {
        return invalid("kernel, stride and dilation must be positive");
    }
    if w.kernel.iter().chain(&w.stride).chain(&w.dilation).chain(&w.pads).any(|&v| v > 1 << 16) {
        return invalid("window parameters too large");
    }
    Ok(())
}

fn check_requant(rq: &Requant, channels: usize) -> Result<()> {
    let n = rq.mult.len();
    if n != rq.shift.len() || (n != 1 && n != channels) {
        return invalid(format!("requantization has {n} multipliers for {channels} channels"));
    }
    Ok(())
}

fn check_range(vals: impl Iterator<Item = i64>, bits: u8, what: &str) -> Result<()> {
    let (lo, hi) = crate::arith::qrange(bits);
    for v in vals {
        if v < lo || v > hi {
            return invalid(format!("{what} {v} outside the {bits}-bit range"));
        }
    }
    Ok(())
}

fn max_abs(vals: impl Iterator<Item = i64>) -> i128 {
    vals.map(|v| (v as i128).abs()).max().unwrap_or(0)
}

fn mag(bits: u8) -> i128 {
    1i128 << (bits - 1)
}

/// `|acc * mult| + 2^shift` must stay below `LIMIT`, for the largest accumulator.
fn check_scaled(acc: i128, mult: i128, shift: u8) -> Result<()> {
    if shift > 60 || acc * mult.abs() + (1i128 << shift) >= LIMIT {
        return invalid(format!("accumulator bound {acc} times multiplier {mult} with shift {shift} may overflow 62 bits"));
    }
    Ok(())
}

/// `v * 2^shift` must stay below `LIMIT` (a divisor scaled by a power of two).
fn check_shifted(v: i128, shift: u8) -> Result<()> {
    if shift > 60 || v << shift >= LIMIT {
        return invalid(format!("divisor bound {v} shifted by {shift} may overflow 62 bits"));
    }
    Ok(())
}

fn check_bounds(op: &Op, ins: &[&ValueInfo], out: &ValueInfo) -> Result<()> {
    let b = |i: usize| mag(ins[i].bits);
    let rq_max = |rq: &Requant| (max_abs(rq.mult.iter().map(|&m| m as i64)), *rq.shift.iter().max().unwrap_or(&0));
    match op {
        Op::Linear { weight, bias, rq } | Op::Conv { weight, bias, rq, .. } => {
            let k = (weight.len() / bias.len()) as i128;
            let acc = k * b(0) * max_abs(weight.iter().map(|&w| w as i64)) + max_abs(bias.iter().map(|&v| v as i64));
            let (m, s) = rq_max(rq);
            check_scaled(acc, m, s)
        }
        Op::MatMul { rq } => {
            let k = *ins[0].shape.last().unwrap() as i128;
            let (m, s) = rq_max(rq);
            check_scaled(k * b(0) * b(1), m, s)
        }
        Op::Add { mult_a, mult_b, shift } => {
            check_scaled(1, b(0) * (*mult_a as i128).abs() + b(1) * (*mult_b as i128).abs(), *shift)
        }
        Op::Mul { mult, shift } => check_scaled(b(0) * b(1), *mult as i128, *shift),
        Op::Div { mult, shift } => {
            check_scaled(b(0), *mult as i128, 0)?;
            check_shifted(b(1), *shift)
        }
        Op::Rescale { mult, shift } => check_scaled(b(0), *mult as i128, *shift),
        Op::PRelu { pos_mult, neg_mult, shift } => {
            let m = max_abs(neg_mult.iter().map(|&v| v as i64)).max((*pos_mult as i128).abs());
            check_scaled(b(0), m, *shift)
        }
        Op::AvgPool { window, mult, shift, .. } => {
            let count = (window.kernel[0] * window.kernel[1]) as i128;
            check_scaled(count * b(0), *mult as i128, 0)?;
            check_shifted(count, *shift)
        }
        Op::Reduce { axes, mult, shift, .. } => {
            let count = axes.iter().map(|&a| ins[0].shape[a] as i128).product::<i128>();
            check_scaled(count * b(0), *mult as i128, 0)?;
            check_shifted(count, *shift)
        }
        Op::LayerNorm { gamma, beta, shift, frac_bits, .. } => {
            // |d_i| <= sqrt(V) and D >= floor(|d_i| / sqrt(n)), so |z| <= 2 sqrt(n) 2^F
            // (+1 for rounding), which (2n + 1) 2^F bounds for every n >= 1.
            let n = gamma.len() as i128;
            let zq = (2 * n + 1) << frac_bits;
            let g = max_abs(gamma.iter().copied());
            let bt = max_abs(beta.iter().copied());
            if g > 1 << 40 || bt > 1 << 61 {
                return invalid("layer-norm gamma or beta too large");
            }
            check_scaled(zq, g + bt, *shift)
        }
        Op::Clamp { lo, hi } => {
            let (qlo, qhi) = crate::arith::qrange(out.bits);
            if lo > hi || (*lo as i64) < qlo || (*hi as i64) > qhi || ins[0].bits != out.bits {
                return invalid(format!("clamp bounds [{lo}, {hi}] invalid for {} bits", out.bits));
            }
            Ok(())
        }
        Op::MaxPool { .. } | Op::Reshape | Op::Transpose { .. } | Op::Slice { .. } | Op::Gather { .. } => {
            if ins[0].bits != out.bits {
                return invalid("data-movement ops keep their input's bit width");
            }
            Ok(())
        }
        Op::Compare { mult_a, mult_b, .. } => check_scaled(1, b(0) * (*mult_a as i128).abs() + b(1) * (*mult_b as i128).abs(), 0),
        Op::Where => {
            if ins[1].bits != out.bits || ins[2].bits != out.bits {
                return invalid("Where's two branches and its output share one bit width");
            }
            Ok(())
        }
        Op::Arg { axis, .. } => {
            let len = ins[0].shape[*axis] as i64;
            if len - 1 > crate::arith::qrange(out.bits).1 {
                return invalid(format!("an index along an axis of {len} does not fit {} bits", out.bits));
            }
            Ok(())
        }
        Op::Const { .. } | Op::Lut { .. } | Op::Softmax { .. } | Op::Concat { .. } => Ok(()),
    }
}
