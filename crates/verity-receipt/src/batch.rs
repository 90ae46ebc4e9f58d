//! Batch signatures: one ECDSA signature over the Merkle root of many receipt bodies.
//!
//! A busy executor signs once per batch instead of once per receipt. Each receipt of the
//! batch carries its leaf index and the sibling hashes from its leaf to the root, so it is
//! still checked on its own, by anyone, with one `ecrecover`:
//!
//! ```text
//! leaf   = keccak256(body)                      // the receipt's signing hash, as unbatched
//! node   = keccak256(left ‖ right)              // up the path; bit k of index: 1 = we are right
//! digest = keccak256("VRTB" ‖ uint8(depth) ‖ root)
//! ```
//!
//! The leaf count is padded to a power of two with zero hashes; a zero leaf has no body
//! (that would need a keccak256 preimage of zero), so padding proves nothing. The `"VRTB"`
//! prefix and the depth keep a batch digest apart from any body's signing hash and from a
//! batch of another depth. See `docs/receipts.md`.

use crate::error::ReceiptError;
use crate::keys::keccak256;

/// Prefix of the signed batch digest.
pub const BATCH_MAGIC: [u8; 4] = *b"VRTB";
/// Deepest accepted batch (2^20 receipts under one signature).
pub const MAX_BATCH_DEPTH: usize = 20;

/// Where a receipt sits in a signed batch: its leaf index and the sibling hashes from the
/// leaf up to (not including) the root. The depth is `path.len()`, at least 1.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BatchProof {
    pub index: u32,
    pub path: Vec<[u8; 32]>,
}

fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut both = [0; 64];
    both[..32].copy_from_slice(left);
    both[32..].copy_from_slice(right);
    keccak256(&both)
}

/// The hash a batch signature is over.
pub fn batch_digest(depth: usize, root: &[u8; 32]) -> [u8; 32] {
    let mut msg = [0; 37];
    msg[..4].copy_from_slice(&BATCH_MAGIC);
    msg[4] = depth as u8;
    msg[5..].copy_from_slice(root);
    keccak256(&msg)
}

impl BatchProof {
    /// Depth in `1..=MAX_BATCH_DEPTH` and an index that fits it: the rules that make each
    /// proof have exactly one encoding.
    pub fn validate(&self) -> Result<(), ReceiptError> {
        let depth = self.path.len();
        if !(1..=MAX_BATCH_DEPTH).contains(&depth) {
            return Err(ReceiptError::BatchDepth { found: depth, max: MAX_BATCH_DEPTH });
        }
        if u64::from(self.index) >> depth != 0 {
            return Err(ReceiptError::BatchIndex { index: self.index, depth });
        }
        Ok(())
    }

    /// The root this proof leads to from `leaf`.
    pub fn root(&self, leaf: &[u8; 32]) -> [u8; 32] {
        self.path.iter().enumerate().fold(
            *leaf,
            |acc, (k, sibling)| {
                if self.index >> k & 1 == 1 {
                    node(sibling, &acc)
                } else {
                    node(&acc, sibling)
                }
            },
        )
    }

    /// The digest the batch signature must be over, if `leaf` is in the batch.
    pub fn digest(&self, leaf: &[u8; 32]) -> [u8; 32] {
        batch_digest(self.path.len(), &self.root(leaf))
    }
}

/// The root of `leaves` (at least two) and each leaf's proof.
pub(crate) fn build(leaves: &[[u8; 32]]) -> ([u8; 32], Vec<BatchProof>) {
    assert!(leaves.len() >= 2 && leaves.len() <= 1 << MAX_BATCH_DEPTH, "a batch holds 2..=2^20 receipts");
    let depth = leaves.len().next_power_of_two().trailing_zeros() as usize;
    let mut proofs: Vec<BatchProof> =
        (0..leaves.len()).map(|i| BatchProof { index: i as u32, path: Vec::with_capacity(depth) }).collect();
    let mut level = leaves.to_vec();
    // Missing nodes are roots of all-zero subtrees.
    let mut zero = [0u8; 32];
    for _ in 0..depth {
        if level.len() % 2 == 1 {
            level.push(zero);
        }
        for (i, p) in proofs.iter_mut().enumerate() {
            p.path.push(level[(i >> p.path.len()) ^ 1]);
        }
        level = level.chunks_exact(2).map(|pair| node(&pair[0], &pair[1])).collect();
        zero = node(&zero, &zero);
    }
    (level[0], proofs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<[u8; 32]> {
        (0..n).map(|i| keccak256(&(i as u64).to_be_bytes())).collect()
    }

    #[test]
    fn every_proof_leads_to_the_root_and_only_from_its_leaf() {
        for n in [2, 3, 4, 5, 7, 8, 9, 33] {
            let ls = leaves(n);
            let (root, proofs) = build(&ls);
            let depth = n.next_power_of_two().trailing_zeros() as usize;
            for (i, p) in proofs.iter().enumerate() {
                assert_eq!(p.path.len(), depth);
                assert_eq!(p.validate(), Ok(()));
                assert_eq!(p.root(&ls[i]), root, "n={n} i={i}");
                assert_ne!(p.root(&ls[(i + 1) % n]), root, "n={n} i={i}");
                let moved = BatchProof { index: p.index ^ 1, path: p.path.clone() };
                assert_ne!(moved.root(&ls[i]), root, "n={n} i={i}");
            }
        }
    }

    #[test]
    fn a_two_leaf_root_is_the_hash_of_both() {
        let ls = leaves(2);
        assert_eq!(build(&ls).0, node(&ls[0], &ls[1]));
        // Padding: three leaves hash as four, the fourth being zero.
        let ls = leaves(3);
        assert_eq!(build(&ls).0, node(&node(&ls[0], &ls[1]), &node(&ls[2], &[0; 32])));
    }

    #[test]
    fn depth_and_index_are_bounded() {
        let p = |index, depth| BatchProof { index, path: vec![[0; 32]; depth] };
        assert_eq!(p(0, 0).validate(), Err(ReceiptError::BatchDepth { found: 0, max: MAX_BATCH_DEPTH }));
        assert_eq!(p(0, 21).validate(), Err(ReceiptError::BatchDepth { found: 21, max: MAX_BATCH_DEPTH }));
        assert_eq!(p(4, 2).validate(), Err(ReceiptError::BatchIndex { index: 4, depth: 2 }));
        assert_eq!(p(3, 2).validate(), Ok(()));
        assert_eq!(p((1 << 20) - 1, 20).validate(), Ok(()));
    }

    #[test]
    fn the_digest_binds_the_depth() {
        assert_ne!(batch_digest(1, &[7; 32]), batch_digest(2, &[7; 32]));
    }
}
