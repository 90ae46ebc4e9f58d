//! Running a plan: per-run buffers (one tensor per node output, plus shared scratch)
//! and the node loop.

use crate::kernels::Scratch;
use crate::par::Par;
use crate::plan::{Kernel, Plan};
use verity_model::shape::numel;
use verity_model::Tensor;

/// The trace callback: `(node index, node output)`.
pub type OnOp<'a> = &'a mut dyn FnMut(usize, &Tensor);

/// A placeholder that owns no heap memory.
fn empty() -> Tensor {
    Tensor { shape: Vec::new(), data: Vec::new() }
}

/// Everything a run writes. Created once per concurrent caller and reused; every
/// kernel overwrites its whole output, so nothing leaks from one run into the next.
pub struct Workspace {
    /// Indexed by value id; graph inputs and unused values hold empty tensors.
    values: Vec<Tensor>,
    scratch: Scratch,
}

impl Workspace {
    pub fn new(plan: &Plan) -> Workspace {
        let mut values: Vec<Tensor> = plan
            .shapes
            .iter()
            .zip(&plan.produced)
            .map(|(shape, &p)| if p { Tensor { shape: shape.clone(), data: vec![0; numel(shape)] } } else { empty() })
            .collect();
        for (id, data) in &plan.consts {
            values[*id].data.copy_from_slice(data);
        }
        Workspace { values, scratch: Scratch::new(plan.scratch) }
    }

    /// Runs every node (or only the live ones without a trace); returns the outputs.
    pub fn run(&mut self, plan: &Plan, inputs: &[Tensor], par: Par, mut trace: Option<OnOp>) -> Vec<Tensor> {
        let Workspace { values, scratch } = self;
        let fast = trace.is_none();
        for (i, step) in plan.steps.iter().enumerate() {
            if fast && (!step.live || step.fused_away) {
                continue;
            }
            let (target, clamped) = match step.fused_into {
                Some(v) if fast => (v, true),
                _ => (step.output, false),
            };
            // Move the output out so the inputs can be borrowed from the same vector.
            let mut out = std::mem::replace(&mut values[target], empty());
            {
                let get = |id: usize| -> &[i32] {
                    match plan.input_pos[id] {
                        Some(k) => &inputs[k].data,
                        None => &values[id].data,
                    }
                };
                let x = || get(step.inputs[0]);
                let y = &mut out.data;
                match &step.kernel {
                    Kernel::Const => {}
                    Kernel::Linear(p) => p.run(x(), y, scratch, par, clamped),
                    Kernel::Conv(p) => p.run(x(), y, scratch, par, clamped),
                    Kernel::MatMul(p) => p.run(x(), get(step.inputs[1]), y, scratch, par),
                    Kernel::Binary(p) => p.run(x(), get(step.inputs[1]), y),
                    Kernel::Map(p) => p.run(x(), y),
                    Kernel::PRelu(p) => p.run(x(), y),
                    Kernel::Pool(p) => p.run(x(), y),
                    Kernel::Reduce(p) => p.run(x(), y, scratch),
                    Kernel::Softmax(p) => p.run(x(), y),
                    Kernel::LayerNorm(p) => p.run(x(), y),
                    Kernel::Copy => y.copy_from_slice(x()),
                    Kernel::Walk(p) => p.run(x(), y),
                    Kernel::Concat(p) => p.run(|k| get(step.inputs[k]), y),
                    Kernel::Gather(p) => p.run(x(), y),
                    Kernel::Where(p) => p.run(x(), get(step.inputs[1]), get(step.inputs[2]), y),
                    Kernel::Arg(p) => p.run(x(), y),
                }
            }
            if let Some(f) = trace.as_mut() {
                f(i, &out);
            }
            values[target] = out;
        }
        plan.outputs
            .iter()
            .map(|&o| match plan.input_pos[o] {
                Some(k) => inputs[k].clone(),
                None => values[o].clone(),
            })
            .collect()
    }
}
