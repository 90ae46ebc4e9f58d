//! Binary Merkle trees over a power-of-two number of leaves, padded with `EMPTY`.
//!
//! They live here, below every evidence crate, because the model id itself is the root of
//! such a tree (see [`crate::id`]); `verity-commit` re-exports them for tensors and traces.

pub type Hash = [u8; 32];

/// The value of a leaf with nothing in it (padding up to a power of two).
pub const EMPTY: Hash = [0; 32];

const NODE_DOMAIN: &[u8; 32] = b"verity/v3/merkle-node...........";

/// `keccak256(domain ‖ parts…)`: every commitment hash of version 3. Keccak-256 because the
/// EVM computes it natively (a BLAKE3 node written in Solidity costs ~55× the gas of a
/// Keccak one, docs/settlement.md); a 32-byte domain prefix per kind, so that no hash of one kind can
/// pass for another (a 96-byte inner node is still one Keccak permutation).
pub fn keccak(domain: &[u8; 32], parts: &[&[u8]]) -> Hash {
    use sha3::{Digest, Keccak256};
    let mut h = Keccak256::new();
    h.update(domain);
    parts.iter().for_each(|p| h.update(p));
    h.finalize().into()
}

/// An inner node: `keccak256("verity/v3/merkle-node" ‖ left ‖ right)`, in its own domain so
/// that no leaf hash can pass for an inner node.
pub fn node(l: &Hash, r: &Hash) -> Hash {
    keccak(NODE_DOMAIN, &[l, r])
}

/// Depth of a tree holding `n` leaves (0 for a single leaf).
pub fn depth_for(n: usize) -> usize {
    n.max(1).next_power_of_two().trailing_zeros() as usize
}

#[derive(Clone, Debug)]
pub struct MerkleTree {
    /// `levels[0]` are the leaves (padded), the last level is the root.
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    pub fn new(mut leaves: Vec<Hash>) -> Self {
        leaves.resize(leaves.len().max(1).next_power_of_two(), EMPTY);
        let mut levels = vec![leaves];
        while levels.last().unwrap().len() > 1 {
            let next = levels.last().unwrap().chunks(2).map(|p| node(&p[0], &p[1])).collect();
            levels.push(next);
        }
        MerkleTree { levels }
    }

    pub fn root(&self) -> Hash {
        self.levels.last().unwrap()[0]
    }

    pub fn depth(&self) -> usize {
        self.levels.len() - 1
    }

    pub fn leaf(&self, i: usize) -> Hash {
        self.levels[0][i]
    }

    /// The hash at `level` (0 = leaves) and `index`.
    pub fn at(&self, level: usize, index: usize) -> Hash {
        self.levels[level][index]
    }

    /// Sibling hashes from the leaf up.
    pub fn path(&self, i: usize) -> Vec<Hash> {
        (0..self.depth()).map(|l| self.levels[l][(i >> l) ^ 1]).collect()
    }
}

/// The root reached from `leaf` at position `index` with sibling `path`.
pub fn root_from_path(leaf: &Hash, index: usize, path: &[Hash]) -> Hash {
    path.iter().enumerate().fold(*leaf, |acc, (l, sib)| if (index >> l) & 1 == 0 { node(&acc, sib) } else { node(sib, &acc) })
}

/// Whether `leaf` sits at `index` of the tree with `root` and depth `path.len()`.
pub fn verify_path(leaf: &Hash, index: usize, path: &[Hash], root: &Hash) -> bool {
    index >> path.len() == 0 && root_from_path(leaf, index, path) == *root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_verify_and_bind_position() {
        let leaves: Vec<Hash> = (0..5u8).map(|i| [i + 1; 32]).collect();
        let t = MerkleTree::new(leaves.clone());
        assert_eq!(t.depth(), 3);
        for (i, l) in leaves.iter().enumerate() {
            let p = t.path(i);
            assert!(verify_path(l, i, &p, &t.root()));
            assert!(!verify_path(l, i ^ 1, &p, &t.root()));
            assert!(!verify_path(&[9; 32], i, &p, &t.root()));
            assert!(!verify_path(l, i + 8, &p, &t.root()));
        }
        assert!(verify_path(&EMPTY, 7, &t.path(7), &t.root()));
    }
}
