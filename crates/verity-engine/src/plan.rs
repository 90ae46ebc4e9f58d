//! The execution plan: one prepared kernel per node, where each value lives, which
//! nodes a plain `run` can skip, and how much scratch a run needs.

use crate::kernels::conv::ConvPlan;
use crate::kernels::elementwise::{BinaryPlan, MapPlan, PReluPlan};
use crate::kernels::layout::{ConcatPlan, GatherPlan, GatherWalk};
use crate::kernels::linear::{LinearPlan, MatMulPlan};
use crate::kernels::norm::{LayerNormPlan, ReducePlan, SoftmaxPlan};
use crate::kernels::pool::PoolPlan;
use crate::kernels::select::{ArgPlan, WherePlan};
use crate::kernels::Need;
use verity_model::{Model, ModelError, Node, Op};

pub enum Kernel {
    /// Constants are written into their buffer once, when a workspace is created.
    Const,
    Linear(LinearPlan),
    Conv(ConvPlan),
    MatMul(MatMulPlan),
    Binary(BinaryPlan),
    Map(MapPlan),
    PRelu(PReluPlan),
    Pool(PoolPlan),
    Reduce(ReducePlan),
    Softmax(SoftmaxPlan),
    LayerNorm(LayerNormPlan),
    /// Reshape: same data, new shape.
    Copy,
    /// Transpose and Slice.
    Walk(GatherWalk),
    Concat(ConcatPlan),
    Gather(GatherPlan),
    Where(WherePlan),
    Arg(ArgPlan),
}

pub struct Step {
    pub kernel: Kernel,
    pub inputs: Vec<usize>,
    pub output: usize,
    /// Whether a graph output depends on this node (`run` skips the others).
    pub live: bool,
    /// A run without a trace writes this value instead of `output`, applying the
    /// Clamp that produces it (and skips that Clamp): `output` is read by nothing else.
    pub fused_into: Option<usize>,
    /// A Clamp folded into the node before it (see `fused_into`), skipped without a trace.
    pub fused_away: bool,
}

pub struct Plan {
    /// The model without its nodes: enough for `reference::check_inputs`.
    pub signature: Model,
    pub steps: Vec<Step>,
    /// Per value: its position among the graph inputs, if it is one.
    pub input_pos: Vec<Option<usize>>,
    pub outputs: Vec<usize>,
    /// Per value: shape, and constant data for Const outputs.
    pub shapes: Vec<Vec<usize>>,
    pub consts: Vec<(usize, Vec<i32>)>,
    /// Which values get a buffer (node outputs).
    pub produced: Vec<bool>,
    pub scratch: Need,
}

impl Plan {
    pub fn new(model: &Model) -> Result<Plan, ModelError> {
        let n_values = model.values.len();
        let mut input_pos = vec![None; n_values];
        for (k, &id) in model.inputs.iter().enumerate() {
            input_pos[id as usize] = Some(k);
        }
        let mut steps = Vec::with_capacity(model.nodes.len());
        let mut consts = Vec::new();
        let mut produced = vec![false; n_values];
        let mut scratch = Need::default();
        for node in &model.nodes {
            let (kernel, need) = kernel(model, node)?;
            if let Op::Const { data } = &node.op {
                consts.push((node.output as usize, data.clone()));
            }
            scratch = scratch.max(need);
            produced[node.output as usize] = true;
            steps.push(Step {
                kernel,
                inputs: node.inputs.iter().map(|&i| i as usize).collect(),
                output: node.output as usize,
                live: false,
                fused_into: None,
                fused_away: false,
            });
        }
        fuse_clamps(&mut steps, &model.outputs, n_values);
        // Liveness, backwards from the graph outputs.
        let mut needed = vec![false; n_values];
        for &o in &model.outputs {
            needed[o as usize] = true;
        }
        for step in steps.iter_mut().rev() {
            if needed[step.output] {
                step.live = true;
                for &i in &step.inputs {
                    needed[i] = true;
                }
            }
        }
        Ok(Plan {
            signature: Model { values: model.values.clone(), inputs: model.inputs.clone(), ..Model::default() },
            steps,
            input_pos,
            outputs: model.outputs.iter().map(|&o| o as usize).collect(),
            shapes: model.values.iter().map(|v| v.shape.clone()).collect(),
            consts,
            produced,
            scratch,
        })
    }
}

/// Folds each Clamp into the Conv or Linear that produces its input, when nothing else
/// reads that input: the clamp then costs nothing in the requantization epilogue. A
/// trace still runs both nodes as written.
fn fuse_clamps(steps: &mut [Step], outputs: &[u32], n_values: usize) {
    let mut uses = vec![0usize; n_values];
    let mut producer = vec![None; n_values];
    for (i, step) in steps.iter().enumerate() {
        step.inputs.iter().for_each(|&v| uses[v] += 1);
        producer[step.output] = Some(i);
    }
    outputs.iter().for_each(|&v| uses[v as usize] += 1);
    for j in 0..steps.len() {
        let Kernel::Map(MapPlan::Clamp(lo, hi)) = steps[j].kernel else { continue };
        let v = steps[j].inputs[0];
        let Some(i) = producer[v].filter(|_| uses[v] == 1) else { continue };
        match &mut steps[i].kernel {
            Kernel::Conv(p) => p.fuse_clamp(lo, hi),
            Kernel::Linear(p) => p.fuse_clamp(lo, hi),
            _ => continue,
        }
        steps[i].fused_into = Some(steps[j].output);
        steps[j].fused_away = true;
    }
}

fn kernel(model: &Model, node: &Node) -> Result<(Kernel, Need), ModelError> {
    let out = model.value(node.output);
    let input = |i: usize| {
        node.inputs
            .get(i)
            .map(|&id| model.value(id))
            .ok_or_else(|| ModelError::Invalid(format!("node {} lacks input {i}", node.name)))
    };
    let none = Need::default();
    Ok(match &node.op {
        Op::Const { .. } => (Kernel::Const, none),
        Op::Linear { weight, bias, rq } => {
            let p = LinearPlan::new(input(0)?, weight, bias, rq, out.bits);
            let need = p.scratch();
            (Kernel::Linear(p), need)
        }
        Op::Conv { weight, bias, window, groups, rq } => {
            let p = ConvPlan::new(input(0)?, out, weight, bias, window, *groups, rq);
            let need = p.scratch();
            (Kernel::Conv(p), need)
        }
        Op::MatMul { rq } => {
            let p = MatMulPlan::new(input(0)?, input(1)?, out, rq);
            let need = p.scratch();
            (Kernel::MatMul(p), need)
        }
        op @ (Op::Add { .. } | Op::Mul { .. } | Op::Div { .. } | Op::Compare { .. }) => {
            (Kernel::Binary(BinaryPlan::new(op, input(0)?, input(1)?, out)?), none)
        }
        op @ (Op::Rescale { .. } | Op::Clamp { .. } | Op::Lut { .. }) => (Kernel::Map(MapPlan::new(op, input(0)?, out)), none),
        Op::PRelu { pos_mult, neg_mult, shift } => {
            (Kernel::PRelu(PReluPlan::new(input(0)?, out, *pos_mult, neg_mult, *shift)), none)
        }
        op @ (Op::MaxPool { .. } | Op::AvgPool { .. }) => (Kernel::Pool(PoolPlan::new(op, input(0)?, out)), none),
        Op::Reduce { axes, mean, mult, shift, .. } => {
            let p = ReducePlan::new(input(0)?, out, axes, *mean, *mult, *shift)?;
            let need = p.scratch();
            (Kernel::Reduce(p), need)
        }
        Op::Softmax { axis, exp_table } => (Kernel::Softmax(SoftmaxPlan::new(input(0)?, out, *axis, exp_table)), none),
        Op::LayerNorm { axis, eps, frac_bits, gamma, beta, shift } => {
            (Kernel::LayerNorm(LayerNormPlan::new(input(0)?, out, *axis, *eps, *frac_bits, gamma, beta, *shift)), none)
        }
        Op::Reshape => (Kernel::Copy, none),
        Op::Transpose { perm } => (Kernel::Walk(GatherWalk::transpose(input(0)?, out, perm)?), none),
        Op::Slice { axes, starts, steps, .. } => (Kernel::Walk(GatherWalk::slice(input(0)?, out, axes, starts, steps)?), none),
        Op::Concat { axis } => {
            let ins: Vec<_> = node.inputs.iter().map(|&id| model.value(id)).collect();
            (Kernel::Concat(ConcatPlan::new(&ins, *axis)), none)
        }
        Op::Gather { axis, indices, .. } => (Kernel::Gather(GatherPlan::new(input(0)?, *axis, indices)), none),
        Op::Where => (Kernel::Where(WherePlan::new([input(0)?, input(1)?, input(2)?], out)?), none),
        Op::Arg { axis, min, last, .. } => (Kernel::Arg(ArgPlan::new(input(0)?, *axis, *min, *last)), none),
    })
}
