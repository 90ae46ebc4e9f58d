//! Commitment to one integer tensor: a Merkle tree over chunks of `CHUNK` elements,
//! whose root is bound to the tensor's bit width and shape.

use crate::hash::{self, Hash, CHUNK};
use crate::merkle::{verify_path, MerkleTree};

#[derive(Clone, Debug)]
pub struct TensorCommitment {
    pub bits: u8,
    pub shape: Vec<usize>,
    pub tree: MerkleTree,
    root: Hash,
}

/// Number of chunks of a tensor with `n` elements.
pub fn chunk_count(n: usize) -> usize {
    n.div_ceil(CHUNK).max(1)
}

impl TensorCommitment {
    pub fn new(bits: u8, shape: &[usize], values: &[i32]) -> Self {
        let leaves = if values.is_empty() {
            vec![hash::chunk(bits, 0, &[])]
        } else {
            values.chunks(CHUNK).enumerate().map(|(i, c)| hash::chunk(bits, i, c)).collect()
        };
        let tree = MerkleTree::new(leaves);
        let root = hash::tensor(bits, shape, &tree.root());
        TensorCommitment { bits, shape: shape.to_vec(), tree, root }
    }

    pub fn chunk_root(&self) -> Hash {
        self.tree.root()
    }

    /// The tensor's root: what traces, inputs and outputs commit to.
    pub fn root(&self) -> Hash {
        self.root
    }
}

/// Checks that `values` are chunk `index` of a tensor whose chunk tree has `chunk_root`.
pub fn verify_chunk(bits: u8, n_elements: usize, index: usize, values: &[i32], path: &[Hash], chunk_root: &Hash) -> bool {
    let start = index * CHUNK;
    let want = n_elements.saturating_sub(start).min(CHUNK);
    values.len() == want
        && in_range(bits, values)
        && index < chunk_count(n_elements)
        && path.len() == crate::merkle::depth_for(chunk_count(n_elements))
        && verify_path(&hash::chunk(bits, index, values), index, path, chunk_root)
}

/// Whether every value fits `bits` bits. Chunk hashes pack values at their width, so
/// an out-of-range value would hash like its truncation: verifiers must check this.
pub fn in_range(bits: u8, values: &[i32]) -> bool {
    let (lo, hi) = verity_model::arith::qrange(bits);
    values.iter().all(|&v| (lo..=hi).contains(&(v as i64)))
}

/// Root of a tensor list (the `input_hash` / `output_hash` of a run).
pub fn list_root(tensors: &[TensorCommitment]) -> Hash {
    hash::list(&tensors.iter().map(TensorCommitment::root).collect::<Vec<_>>())
}
