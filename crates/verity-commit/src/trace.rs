//! The trace commitment: a Merkle tree whose leaf `v` is the root of value `v` (graph
//! inputs first, then every node's output in execution order). Its *prefix* roots —
//! the same tree with every leaf after `k` emptied — are what a dispute bisects over:
//! agreeing on prefix `k` means agreeing on every value up to `k`, and prefixes `k-1`
//! and `k` differ in leaf `k` only.

use crate::hash::{Hash, EMPTY};
use crate::merkle::{depth_for, MerkleTree};
use crate::tensor::TensorCommitment;
use verity_model::{Model, Tensor};

/// Builds a trace commitment as the engine produces each node's output.
pub struct TraceBuilder<'m> {
    model: &'m Model,
    tensors: Vec<TensorCommitment>,
}

impl<'m> TraceBuilder<'m> {
    /// Starts a trace with the (already checked) graph inputs.
    pub fn new(model: &'m Model, inputs: &[Tensor]) -> Self {
        let mut b = TraceBuilder { model, tensors: Vec::with_capacity(model.values.len()) };
        for t in inputs {
            b.push(t);
        }
        b
    }

    /// Commits the next value (call from the engine's per-op callback).
    pub fn push(&mut self, t: &Tensor) {
        let v = self.model.value(self.tensors.len() as u32);
        self.tensors.push(TensorCommitment::new(v.bits, &t.shape, &t.data));
    }

    pub fn finish(self) -> TraceCommitment {
        TraceCommitment::from_tensors(self.tensors)
    }
}

#[derive(Clone, Debug)]
pub struct TraceCommitment {
    pub tensors: Vec<TensorCommitment>,
    leaves: Vec<Hash>,
    depth: usize,
}

impl TraceCommitment {
    /// The commitment to every value of a run of `model` (inputs, then node outputs).
    pub fn of_values(model: &Model, values: &[Tensor]) -> Self {
        let mut b = TraceBuilder { model, tensors: Vec::with_capacity(values.len()) };
        values.iter().for_each(|t| b.push(t));
        b.finish()
    }

    pub fn from_tensors(tensors: Vec<TensorCommitment>) -> Self {
        let leaves: Vec<Hash> = tensors.iter().map(TensorCommitment::root).collect();
        TraceCommitment { depth: depth_for(leaves.len()), leaves, tensors }
    }

    pub fn len(&self) -> usize {
        self.leaves.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    pub fn leaf(&self, v: usize) -> Hash {
        self.leaves[v]
    }

    /// The tree with leaves `0..=k` and every later leaf empty.
    pub fn prefix_tree(&self, k: usize) -> MerkleTree {
        prefix_tree(&self.leaves[..=k], self.depth)
    }

    /// The trace root: the prefix that includes every value.
    pub fn root(&self) -> Hash {
        self.prefix_tree(self.len() - 1).root()
    }
}

/// A tree of fixed `depth` over `leaves`, padded with `EMPTY`.
pub fn prefix_tree(leaves: &[Hash], depth: usize) -> MerkleTree {
    let mut all = leaves.to_vec();
    all.resize(1 << depth, EMPTY);
    MerkleTree::new(all)
}
