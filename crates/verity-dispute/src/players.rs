//! Strategies. An executor can only open what it committed to, so a dishonest one is
//! an honest player over a wrong execution; the honest challenger compares everything
//! with its own execution.

use crate::messages::{ChunkOpening, Move, StepProof, TensorOpening};
use crate::referee::{Phase, Referee};
use verity_commit::{Hash, ModelCommitment, TraceCommitment, CHUNK};
use verity_model::element::{operands, OpContext};
use verity_model::{Model, Tensor, ValueInfo};

/// One execution: every value (inputs, then node outputs) and its commitment.
pub struct Execution {
    pub values: Vec<Tensor>,
    pub trace: TraceCommitment,
}

impl Execution {
    pub fn new(model: &Model, values: Vec<Tensor>) -> Self {
        Execution { trace: TraceCommitment::of_values(model, &values), values }
    }

    pub fn outputs_root(&self, model: &Model) -> Hash {
        verity_commit::hash::list(&model.outputs.iter().map(|&o| self.trace.leaf(o as usize)).collect::<Vec<_>>())
    }
}

pub trait Player {
    /// The next move for the current position, or None if it has none to make.
    fn play(&mut self, referee: &Referee) -> Option<Move>;
}

/// Defends its own execution of the committed model (honest or not).
pub struct Executor<'a> {
    pub model: &'a Model,
    pub commitment: &'a ModelCommitment,
    pub run: &'a Execution,
}

impl Player for Executor<'_> {
    fn play(&mut self, r: &Referee) -> Option<Move> {
        let t = &self.run.trace;
        Some(match r.phase() {
            Phase::Outputs => {
                let full = t.prefix_tree(t.len() - 1);
                let outs = &self.model.outputs;
                Move::Outputs {
                    roots: outs.iter().map(|&o| t.leaf(o as usize)).collect(),
                    paths: outs.iter().map(|&o| full.path(o as usize)).collect(),
                }
            }
            Phase::Bisect { mid: None, .. } => Move::Prefix { root: t.prefix_tree(r.requested_prefix()?).root() },
            Phase::OpenLeaf { k, .. } => {
                Move::Leaf { value_root: t.leaf(*k), chunk_root: t.tensors[*k].chunk_root(), path: t.prefix_tree(*k).path(*k) }
            }
            Phase::Descend { k, level, index, children: None, .. } => {
                let tree = &t.tensors[*k].tree;
                Move::Children { left: tree.at(level - 1, 2 * index), right: tree.at(level - 1, 2 * index + 1) }
            }
            Phase::Chunk { k, index, values: None, .. } => {
                let v = &self.run.values[*k].data;
                Move::Chunk { values: v[(index * CHUNK).min(v.len())..((index + 1) * CHUNK).min(v.len())].to_vec() }
            }
            Phase::Step { k, j, .. } => Move::Step(self.step(*k, *j)),
            _ => return None,
        })
    }
}

impl Executor<'_> {
    fn step(&self, k: usize, j: usize) -> StepProof {
        let n_in = self.model.inputs.len();
        let node = &self.model.nodes[k - n_in];
        let (encoding, node_path) = self.commitment.open_node(k - n_in);
        let infos: Vec<&ValueInfo> = node.inputs.iter().map(|&i| self.model.value(i)).collect();
        let cx = OpContext { op: &node.op, inputs: &infos, output: self.model.value(node.output) };
        let prefix = self.run.trace.prefix_tree(k - 1);
        let mut tensors: Vec<TensorOpening> = Vec::new();
        let mut chunks: Vec<ChunkOpening> = Vec::new();
        for (slot, idx) in operands(cx, j) {
            let v = node.inputs[slot];
            let tc = &self.run.trace.tensors[v as usize];
            if !tensors.iter().any(|t| t.value == v) {
                tensors.push(TensorOpening { value: v, chunk_root: tc.chunk_root(), path: prefix.path(v as usize) });
            }
            let c = (idx / CHUNK) as u32;
            if !chunks.iter().any(|x| x.value == v && x.index == c) {
                let data = &self.run.values[v as usize].data;
                let lo = c as usize * CHUNK;
                chunks.push(ChunkOpening {
                    value: v,
                    index: c,
                    values: data[lo..(lo + CHUNK).min(data.len())].to_vec(),
                    path: tc.tree.path(c as usize),
                });
            }
        }
        StepProof { node: encoding, node_path, tensors, chunks }
    }
}

/// Disputes by comparing the executor's claims with its own (honest) execution.
pub struct Challenger<'a> {
    pub run: &'a Execution,
}

impl Player for Challenger<'_> {
    fn play(&mut self, r: &Referee) -> Option<Move> {
        let t = &self.run.trace;
        Some(match r.phase() {
            Phase::Bisect { lo, hi, mid: Some(m), .. } => Move::Respond { agree: *m == t.prefix_tree((lo + hi) / 2).root() },
            Phase::Descend { k, level, index, children: Some((l, _)), .. } => {
                Move::Choose { right: *l == t.tensors[*k].tree.at(level - 1, 2 * index) }
            }
            Phase::Chunk { k, index, values: Some(vals), .. } => {
                let own = &self.run.values[*k].data[index * CHUNK..];
                Move::Element { offset: vals.iter().zip(own).position(|(a, b)| a != b).unwrap_or(0) as u32 }
            }
            _ => return None,
        })
    }
}

/// A challenger that answers at random (for testing that honest executors always win).
pub struct RandomChallenger {
    pub state: u64,
}

impl RandomChallenger {
    fn bit(&mut self) -> bool {
        self.state = self.state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.state >> 33) & 1 == 1
    }
}

impl Player for RandomChallenger {
    fn play(&mut self, r: &Referee) -> Option<Move> {
        Some(match r.phase() {
            Phase::Bisect { mid: Some(_), .. } => Move::Respond { agree: self.bit() },
            Phase::Descend { children: Some(_), .. } => Move::Choose { right: self.bit() },
            Phase::Chunk { values: Some(v), .. } => {
                let n = v.len().max(1) as u64;
                self.bit();
                Move::Element { offset: ((self.state >> 11) % n) as u32 }
            }
            _ => return None,
        })
    }
}
