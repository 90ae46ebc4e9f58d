//! The bisectable trace commitment (docs/llm.md "Trace and receipt").
//!
//! An op output (a vector of `i32`) is cut into chunks of [`CHUNK`] elements; its root is
//! `blake3(2 ‖ len ‖ chunk tree root)`. A position's leaf is `blake3(3 ‖ pos ‖ op tree
//! root)` over its op roots in the order of [`Layout`]; the trace root is the tree over the
//! position leaves. Every tree is binary over leaves padded with [`EMPTY`] to a power of
//! two, nodes `blake3(1 ‖ l ‖ r)`, chunk leaves `blake3(0 ‖ bytes)`: so the dispute game can
//! descend positions → ops → chunks knowing every tree's shape from the statement alone.

use crate::gguf::LlamaConfig;

pub type Hash = [u8; 32];
/// Elements per chunk (256 bytes): the unit the game opens at its last level.
pub const CHUNK: usize = 64;
/// A padding leaf.
pub const EMPTY: Hash = [0; 32];

pub fn chunk_leaf(values: &[i32]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[0]);
    let mut bytes = [0u8; 4 * CHUNK];
    for (i, v) in values.iter().enumerate() {
        bytes[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
    }
    h.update(&bytes[..4 * values.len()]);
    *h.finalize().as_bytes()
}

pub fn node(l: &Hash, r: &Hash) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[1]);
    h.update(l);
    h.update(r);
    *h.finalize().as_bytes()
}

pub fn op_root(len: usize, chunk_root: &Hash) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[2]);
    h.update(&(len as u64).to_le_bytes());
    h.update(chunk_root);
    *h.finalize().as_bytes()
}

pub fn position_leaf(pos: usize, ops_root: &Hash) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[3]);
    h.update(&(pos as u64).to_le_bytes());
    h.update(ops_root);
    *h.finalize().as_bytes()
}

/// Levels above the leaves of a tree over `n` leaves (0 for one leaf).
pub fn depth_for(n: usize) -> usize {
    n.max(1).next_power_of_two().trailing_zeros() as usize
}

pub fn chunk_count(len: usize) -> usize {
    len.div_ceil(CHUNK).max(1)
}

/// A whole tree, kept for openings: `levels[0]` are the padded leaves.
pub struct Tree {
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    pub fn new(leaves: &[Hash]) -> Tree {
        let mut level = leaves.to_vec();
        level.resize(1 << depth_for(leaves.len()), EMPTY);
        let mut levels = vec![level];
        while levels.last().expect("one level").len() > 1 {
            let next = levels.last().expect("one level").chunks_exact(2).map(|p| node(&p[0], &p[1])).collect();
            levels.push(next);
        }
        Tree { levels }
    }

    pub fn root(&self) -> Hash {
        self.levels.last().expect("one level")[0]
    }

    /// The node `index` at `level` levels above the leaves.
    pub fn at(&self, level: usize, index: usize) -> Hash {
        self.levels[level][index]
    }

    /// [`Tree::at`], or None outside the tree.
    pub fn get(&self, level: usize, index: usize) -> Option<Hash> {
        self.levels.get(level)?.get(index).copied()
    }

    /// Siblings from the leaf up.
    pub fn path(&self, index: usize) -> Vec<Hash> {
        (0..self.levels.len() - 1).map(|l| self.levels[l][(index >> l) ^ 1]).collect()
    }
}

/// The root without keeping the tree (the commit path of decoding).
pub fn tree_root(leaves: &[Hash]) -> Hash {
    let mut level = leaves.to_vec();
    level.resize(1 << depth_for(leaves.len()), EMPTY);
    while level.len() > 1 {
        level = level.chunks_exact(2).map(|p| node(&p[0], &p[1])).collect();
    }
    level[0]
}

pub fn root_from_path(leaf: &Hash, index: usize, path: &[Hash]) -> Hash {
    path.iter().enumerate().fold(*leaf, |acc, (l, sib)| if (index >> l) & 1 == 0 { node(&acc, sib) } else { node(sib, &acc) })
}

pub fn chunk_leaves(values: &[i32]) -> Vec<Hash> {
    if values.is_empty() {
        return vec![chunk_leaf(&[])];
    }
    values.chunks(CHUNK).map(chunk_leaf).collect()
}

/// An op output's root.
pub fn commit_op(values: &[i32]) -> Hash {
    op_root(values.len(), &tree_root(&chunk_leaves(values)))
}

/// Runs `f(j)` for every thread `j` (`Team::run`).
pub type Par<'a> = dyn Fn(&(dyn Fn(usize) + Sync)) + 'a;

/// Chunks per piece of [`commit_ops`]' work: an aligned subtree of an op's chunk tree.
const SPAN: usize = 64;

/// [`commit_op`] of every op, with the hashing cut into pieces (an op's whole chunk tree,
/// or an aligned subtree of [`SPAN`] chunks of a larger one) that `par(f)` spreads over
/// `threads` threads by calling `f(j)` for each `j < threads`. The roots are the same.
pub fn commit_ops(ops: &[Vec<i32>], threads: usize, par: &Par) -> Vec<Hash> {
    // (op, first chunk, chunks): every op's padded leaf count is a power of two, so its
    // pieces are whole subtrees and their roots combine into the op's chunk root.
    let mut pieces = Vec::new();
    for (i, v) in ops.iter().enumerate() {
        let padded = chunk_count(v.len()).next_power_of_two();
        let span = padded.min(SPAN);
        pieces.extend((0..padded / span).map(|k| (i, k * span, span)));
    }
    let total: usize = pieces.iter().map(|p| p.2).sum();
    let threads = threads.max(1);
    let roots: Vec<std::sync::Mutex<Hash>> = pieces.iter().map(|_| std::sync::Mutex::new(EMPTY)).collect();
    par(&|j| {
        // Thread j takes the pieces whose first chunk falls in its share of all chunks.
        let (lo, hi) = (total * j / threads, total * (j + 1) / threads);
        let mut at = 0;
        for (p, &(i, first, span)) in pieces.iter().enumerate() {
            if (lo..hi).contains(&at) {
                let v = &ops[i];
                let leaves: Vec<Hash> = (first..first + span)
                    .map(|c| match v.get(c * CHUNK..) {
                        Some(rest) if c == 0 || !rest.is_empty() => chunk_leaf(&rest[..rest.len().min(CHUNK)]),
                        _ => EMPTY,
                    })
                    .collect();
                *roots[p].lock().expect("root lock") = tree_root(&leaves);
            }
            at += span;
        }
    });
    let roots: Vec<Hash> = roots.into_iter().map(|r| r.into_inner().expect("root lock")).collect();
    let mut out = Vec::with_capacity(ops.len());
    let mut p = 0;
    for v in ops {
        let n = chunk_count(v.len()).next_power_of_two().div_ceil(SPAN);
        out.push(op_root(v.len(), &tree_root(&roots[p..p + n])));
        p += n;
    }
    out
}

/// A position's leaf from its op roots.
pub fn commit_position(pos: usize, op_roots: &[Hash]) -> Hash {
    position_leaf(pos, &tree_root(op_roots))
}

/// What an op of a position computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Embed,
    AttnNorm(usize),
    /// After rotary positions.
    Q(usize),
    K(usize),
    V(usize),
    /// Attention weights of one query head over positions `0..=pos`.
    Weights(usize, usize),
    Att(usize),
    Resid1(usize),
    FfnNorm(usize),
    Act(usize),
    Resid2(usize),
    Logits,
    /// The token fed at the next position: the next prompt token, or the one picked from
    /// this position's logits (the last position's is the final pick, end token included).
    Next,
}

/// The op order of every position: embedding; per layer attention norm, q, k, v, one
/// weight row per head, attention output, residual, MLP norm, gated activation, residual;
/// logits; next token.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    pub n_embd: usize,
    pub kv_dim: usize,
    pub n_ff: usize,
    pub vocab: usize,
}

impl Layout {
    pub fn of(c: &LlamaConfig) -> Layout {
        Layout {
            n_layer: c.n_layer,
            n_head: c.n_head,
            n_head_kv: c.n_head_kv,
            head_dim: c.head_dim,
            n_embd: c.n_embd,
            kv_dim: c.n_head_kv * c.head_dim,
            n_ff: c.n_ff,
            vocab: c.vocab,
        }
    }

    fn per_layer(&self) -> usize {
        9 + self.n_head
    }

    pub fn n_ops(&self) -> usize {
        3 + self.n_layer * self.per_layer()
    }

    pub fn kind(&self, op: usize) -> Option<OpKind> {
        let n = self.n_ops();
        Some(match op {
            0 => OpKind::Embed,
            o if o == n - 2 => OpKind::Logits,
            o if o == n - 1 => OpKind::Next,
            o if o < n => {
                let (l, i) = ((o - 1) / self.per_layer(), (o - 1) % self.per_layer());
                let h = self.n_head;
                match i {
                    0 => OpKind::AttnNorm(l),
                    1 => OpKind::Q(l),
                    2 => OpKind::K(l),
                    3 => OpKind::V(l),
                    i if i < 4 + h => OpKind::Weights(l, i - 4),
                    i if i == 4 + h => OpKind::Att(l),
                    i if i == 5 + h => OpKind::Resid1(l),
                    i if i == 6 + h => OpKind::FfnNorm(l),
                    i if i == 7 + h => OpKind::Act(l),
                    _ => OpKind::Resid2(l),
                }
            }
            _ => return None,
        })
    }

    pub fn index(&self, k: OpKind) -> usize {
        let base = |l: usize| 1 + l * self.per_layer();
        let h = self.n_head;
        match k {
            OpKind::Embed => 0,
            OpKind::AttnNorm(l) => base(l),
            OpKind::Q(l) => base(l) + 1,
            OpKind::K(l) => base(l) + 2,
            OpKind::V(l) => base(l) + 3,
            OpKind::Weights(l, hh) => base(l) + 4 + hh,
            OpKind::Att(l) => base(l) + 4 + h,
            OpKind::Resid1(l) => base(l) + 5 + h,
            OpKind::FfnNorm(l) => base(l) + 6 + h,
            OpKind::Act(l) => base(l) + 7 + h,
            OpKind::Resid2(l) => base(l) + 8 + h,
            OpKind::Logits => self.n_ops() - 2,
            OpKind::Next => self.n_ops() - 1,
        }
    }

    /// Elements of op `k` at position `pos`.
    pub fn len(&self, k: OpKind, pos: usize) -> usize {
        match k {
            OpKind::K(_) | OpKind::V(_) => self.kv_dim,
            OpKind::Weights(..) => pos + 1,
            OpKind::Act(_) => self.n_ff,
            OpKind::Logits => self.vocab,
            OpKind::Next => 1,
            _ => self.n_embd,
        }
    }

    /// The residual stream a layer reads (the embedding, or the previous layer's output).
    pub fn resid_in(&self, l: usize) -> OpKind {
        if l == 0 {
            OpKind::Embed
        } else {
            OpKind::Resid2(l - 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_ops_equals_commit_op_for_every_length_and_thread_count() {
        let lens: [i32; 11] = [0, 1, 63, 64, 65, 128, 64 * 64, 64 * 64 + 1, 64 * 65, 64 * 200, 49_152];
        let ops: Vec<Vec<i32>> =
            lens.iter().map(|n| (0..*n).map(|i| i.wrapping_mul(2_654_435_761u32 as i32)).collect()).collect();
        let want: Vec<Hash> = ops.iter().map(|v| commit_op(v)).collect();
        for threads in [1, 2, 3] {
            let par = |f: &(dyn Fn(usize) + Sync)| (0..threads).for_each(f);
            assert_eq!(commit_ops(&ops, threads, &par), want, "{threads} threads");
        }
    }
}
