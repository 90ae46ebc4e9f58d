//! Batch signatures: one ECDSA signature over the Merkle root of many receipt bodies.
//!
//! A busy executor signs once per batch instead of once per receipt. Each receipt of the
//! batch carries its leaf index, its salt and the sibling hashes from its leaf to the root,
//! so it is still checked on its own, by anyone, with one `ecrecover`:
//!
//! ```text
//! leaf   = keccak256("VRTL" ‖ salt ‖ signing_hash)   // 68 bytes; salt: 32 fresh random bytes
//! node   = keccak256(left ‖ right)              // up the path; bit k of index: 1 = we are right
//! digest = keccak256("VRTB" ‖ uint8(depth) ‖ root)
//! ```
//!
//! The salt is why a path can be handed to a client: its siblings are the leaves and nodes of
//! *other* clients' receipts, and an unsalted leaf would be that receipt's signing hash, its
//! public id. A salted leaf is a hash of 32 secret random bytes the sibling never sees, so it
//! names nothing. The leaf count is padded to a power of two with zero hashes; a zero leaf has
//! no preimage (that would need a keccak256 preimage of zero), so padding proves nothing. The
//! `"VRTB"` prefix and the depth keep a batch digest apart from any body's signing hash and
//! from a batch of another depth; `"VRTL"` and the 68-byte length keep a leaf apart from both
//! and from an inner node (64 bytes). See `docs/receipts.md`.

use crate::error::ReceiptError;
use crate::keys::keccak256;

/// Prefix of the signed batch digest.
pub const BATCH_MAGIC: [u8; 4] = *b"VRTB";
/// Prefix of a salted leaf.
pub const LEAF_MAGIC: [u8; 4] = *b"VRTL";
/// Deepest accepted batch (2^20 receipts under one signature).
pub const MAX_BATCH_DEPTH: usize = 20;

/// Where a receipt sits in a signed batch: its leaf index, the salt of its leaf and the
/// sibling hashes from the leaf up to (not including) the root. The depth is `path.len()`,
/// at least 1.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BatchProof {
    pub index: u32,
    /// Random, secret to the receipt's holder; hides the signing hash inside the leaf.
    pub salt: [u8; 32],
    pub path: Vec<[u8; 32]>,
}

/// The leaf a receipt with this signing hash and salt occupies in a batch.
pub fn leaf(salt: &[u8; 32], signing_hash: &[u8; 32]) -> [u8; 32] {
    let mut msg = [0; 68];
    msg[..4].copy_from_slice(&LEAF_MAGIC);
    msg[4..36].copy_from_slice(salt);
    msg[36..].copy_from_slice(signing_hash);
    keccak256(&msg)
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

    /// The root this proof leads to from the receipt with `signing_hash`.
    pub fn root(&self, signing_hash: &[u8; 32]) -> [u8; 32] {
        self.path.iter().enumerate().fold(leaf(&self.salt, signing_hash), |acc, (k, sibling)| {
            if self.index >> k & 1 == 1 {
                node(sibling, &acc)
            } else {
                node(&acc, sibling)
            }
        })
    }

    /// The digest the batch signature must be over, if the receipt with `signing_hash` is in
    /// the batch.
    pub fn digest(&self, signing_hash: &[u8; 32]) -> [u8; 32] {
        batch_digest(self.path.len(), &self.root(signing_hash))
    }
}

/// The root over receipts with these signing hashes and salts (as many salts as hashes),
/// and each receipt's proof. A lone receipt gets a tree of depth 1, its sibling the zero leaf.
pub(crate) fn build(signing_hashes: &[[u8; 32]], salts: &[[u8; 32]]) -> ([u8; 32], Vec<BatchProof>) {
    let n = signing_hashes.len();
    assert!((1..=1 << MAX_BATCH_DEPTH).contains(&n), "a batch holds 1..=2^20 receipts");
    assert_eq!(salts.len(), n, "one salt per receipt");
    let depth = (n.next_power_of_two().trailing_zeros() as usize).max(1);
    let mut proofs: Vec<BatchProof> =
        (0..n).map(|i| BatchProof { index: i as u32, salt: salts[i], path: Vec::with_capacity(depth) }).collect();
    let mut level: Vec<[u8; 32]> = signing_hashes.iter().zip(salts).map(|(h, salt)| leaf(salt, h)).collect();
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

    fn salts(n: usize) -> Vec<[u8; 32]> {
        (0..n).map(|i| keccak256(&(1000 + i as u64).to_be_bytes())).collect()
    }

    #[test]
    fn every_proof_leads_to_the_root_and_only_from_its_leaf() {
        for n in [2, 3, 4, 5, 7, 8, 9, 33] {
            let ls = leaves(n);
            let (root, proofs) = build(&ls, &salts(n));
            let depth = n.next_power_of_two().trailing_zeros() as usize;
            for (i, p) in proofs.iter().enumerate() {
                assert_eq!(p.path.len(), depth);
                assert_eq!(p.validate(), Ok(()));
                assert_eq!(p.root(&ls[i]), root, "n={n} i={i}");
                assert_ne!(p.root(&ls[(i + 1) % n]), root, "n={n} i={i}");
                let moved = BatchProof { index: p.index ^ 1, ..p.clone() };
                assert_ne!(moved.root(&ls[i]), root, "n={n} i={i}");
                let resalted = BatchProof { salt: [0; 32], ..p.clone() };
                assert_ne!(resalted.root(&ls[i]), root, "n={n} i={i}");
            }
        }
    }

    #[test]
    fn a_two_leaf_root_is_the_hash_of_both_salted_leaves() {
        let (ls, ss) = (leaves(2), salts(2));
        assert_eq!(build(&ls, &ss).0, node(&leaf(&ss[0], &ls[0]), &leaf(&ss[1], &ls[1])));
        let (root, proofs) = build(&ls[..1], &ss[..1]);
        assert_eq!(root, node(&leaf(&ss[0], &ls[0]), &[0; 32]), "a lone receipt's sibling is the zero leaf");
        assert_eq!(proofs[0].path, vec![[0u8; 32]]);
        // Padding: three leaves hash as four, the fourth being zero.
        let (ls, ss) = (leaves(3), salts(3));
        let l = |i: usize| leaf(&ss[i], &ls[i]);
        assert_eq!(build(&ls, &ss).0, node(&node(&l(0), &l(1)), &node(&l(2), &[0; 32])));
    }

    /// The path of one receipt must not contain another receipt's signing hash (its id).
    #[test]
    fn no_path_carries_a_signing_hash() {
        let (ls, ss) = (leaves(9), salts(9));
        let (_, proofs) = build(&ls, &ss);
        for p in &proofs {
            assert!(p.path.iter().all(|h| !ls.contains(h)), "index {}", p.index);
        }
    }

    #[test]
    fn the_leaf_is_the_documented_hash() {
        let mut msg = b"VRTL".to_vec();
        msg.extend_from_slice(&[7; 32]);
        msg.extend_from_slice(&[9; 32]);
        assert_eq!(leaf(&[7; 32], &[9; 32]), keccak256(&msg));
    }

    #[test]
    fn depth_and_index_are_bounded() {
        let p = |index, depth| BatchProof { index, salt: [0; 32], path: vec![[0; 32]; depth] };
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
