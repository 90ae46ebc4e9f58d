//! The bisectable trace commitment (docs/llm.md "Trace and receipt").
//!
//! An op output (a vector of `i32`) is cut into chunks of [`CHUNK`] elements; its root is
//! `H_op(len ‖ chunk tree root)`. A position's leaf is `H_position(pos ‖ op tree root)` over
//! its op roots in the order of [`Layout`]; the trace root is the tree over the position
//! leaves. Every tree is binary over leaves padded with [`EMPTY`] to a power of two, nodes
//! `H_node(l ‖ r)`, chunk leaves `H_chunk(bytes)`, where `H_kind` is keyed blake3 under
//! `derive_key("verity-llm trace v2 KIND")`: so the dispute game can descend positions →
//! ops → chunks knowing every tree's shape from the statement alone.

use crate::gguf::LlamaConfig;

pub type Hash = [u8; 32];
/// Elements per chunk (256 bytes): the unit the game opens at its last level.
pub const CHUNK: usize = 64;
/// A padding leaf.
pub const EMPTY: Hash = [0; 32];

/// One blake3 key per kind of hash, derived from its context string: domain separation
/// without a tag byte, so a chunk leaf (256 bytes) is four compressions and a node (64)
/// one, not five and two.
struct Keys {
    chunk: Hash,
    node: Hash,
    op: Hash,
    position: Hash,
}

fn keys() -> &'static Keys {
    static KEYS: std::sync::OnceLock<Keys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let k = |kind: &str| blake3::derive_key(&format!("verity-llm trace v2 {kind}"), b"");
        Keys { chunk: k("chunk"), node: k("node"), op: k("op"), position: k("position") }
    })
}

pub fn chunk_leaf(values: &[i32]) -> Hash {
    let mut bytes = [0u8; 4 * CHUNK];
    for (i, v) in values.iter().enumerate() {
        bytes[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
    }
    *blake3::keyed_hash(&keys().chunk, &bytes[..4 * values.len()]).as_bytes()
}

pub fn node(l: &Hash, r: &Hash) -> Hash {
    let mut b = [0u8; 64];
    b[..32].copy_from_slice(l);
    b[32..].copy_from_slice(r);
    *blake3::keyed_hash(&keys().node, &b).as_bytes()
}

fn tagged(key: &Hash, n: usize, root: &Hash) -> Hash {
    let mut b = [0u8; 40];
    b[..8].copy_from_slice(&(n as u64).to_le_bytes());
    b[8..].copy_from_slice(root);
    *blake3::keyed_hash(key, &b).as_bytes()
}

pub fn op_root(len: usize, chunk_root: &Hash) -> Hash {
    tagged(&keys().op, len, chunk_root)
}

pub fn position_leaf(pos: usize, ops_root: &Hash) -> Hash {
    tagged(&keys().position, pos, ops_root)
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
            let next = parents(levels.last().expect("one level"));
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
        level = parents(&level);
    }
    level[0]
}

/// The level above `level` (even length): `node` of each pair, many at once.
fn parents(level: &[Hash]) -> Vec<Hash> {
    let mut up = vec![EMPTY; level.len() / 2];
    crate::blake3x16::keyed_hash_many(&keys().node, level.as_flattened(), 64, 64, &mut up);
    up
}

pub fn root_from_path(leaf: &Hash, index: usize, path: &[Hash]) -> Hash {
    path.iter().enumerate().fold(*leaf, |acc, (l, sib)| if (index >> l) & 1 == 0 { node(&acc, sib) } else { node(sib, &acc) })
}

pub fn chunk_leaves(values: &[i32]) -> Vec<Hash> {
    // The whole chunks many at once, the last partial one (or an empty op's) alone.
    let whole = values.len() / CHUNK;
    let mut out = vec![EMPTY; chunk_count(values.len())];
    crate::blake3x16::keyed_hash_many(&keys().chunk, &le_bytes(values), 4 * CHUNK, 4 * CHUNK, &mut out[..whole]);
    if let Some(last) = out.get_mut(whole) {
        *last = chunk_leaf(&values[whole * CHUNK..]);
    }
    out
}

/// An op output's root.
pub fn commit_op(values: &[i32]) -> Hash {
    op_root(values.len(), &tree_root(&chunk_leaves(values)))
}

/// Runs `f(j)` for every thread `j` (`Team::run`).
pub type Par<'a> = dyn Fn(&(dyn Fn(usize) + Sync)) + 'a;

/// [`commit_op`] of every op `data[r]`, `r` in `ranges`, with the hashing of all of them
/// done together so that it runs sixteen hashes at a time and spreads over threads: first
/// every whole chunk of every op, then the trees level by level (each op's padded leaf
/// count is a power of two, so the pairs of all trees that are not yet a root can be hashed
/// as one list). `par(f)` calls `f(j)` for each `j < threads`. The roots are the same.
pub fn commit_ops(data: &[i32], ranges: &[std::ops::Range<usize>], threads: usize, par: &Par) -> Vec<Hash> {
    let bytes = le_bytes(data);
    // Level 0: each op's padded leaves, laid end to end; `segs` say where.
    let (mut level, mut segs) = (Vec::new(), Vec::with_capacity(ranges.len()));
    let (mut starts, mut slots) = (Vec::new(), Vec::new());
    for r in ranges {
        let (at, whole) = (level.len(), r.len() / CHUNK);
        level.resize(at + chunk_count(r.len()).next_power_of_two(), EMPTY);
        for c in 0..whole {
            starts.push(4 * (r.start + c * CHUNK));
            slots.push(at + c);
        }
        if r.len() % CHUNK != 0 || r.is_empty() {
            level[at + whole] = chunk_leaf(&data[r.start + whole * CHUNK..r.end]);
        }
        segs.push((at, level.len() - at));
    }
    for (slot, h) in slots.into_iter().zip(hash_spread(&keys().chunk, &bytes, &starts, 4 * CHUNK, threads, par)) {
        level[slot] = h;
    }
    let mut roots = vec![EMPTY; ranges.len()];
    loop {
        // Trees that are down to their root are done; the others' pairs make the next level.
        let mut starts = Vec::new();
        let mut next = Vec::with_capacity(segs.len());
        for (i, &(at, n)) in segs.iter().enumerate() {
            if n == 1 {
                roots[i] = level[at];
            } else if n > 1 {
                next.push((i, starts.len(), n / 2));
                starts.extend((0..n / 2).map(|k| 32 * (at + 2 * k)));
            }
        }
        if next.is_empty() {
            break;
        }
        level = hash_spread(&keys().node, level.as_flattened(), &starts, 64, threads, par);
        segs = vec![(0, 0); segs.len()];
        for (i, at, n) in next {
            segs[i] = (at, n);
        }
    }
    ranges.iter().zip(roots).map(|(r, root)| op_root(r.len(), &root)).collect()
}

/// `blake3x16::keyed_hash_at` with the inputs split over `threads` threads by `par`.
fn hash_spread(key: &Hash, data: &[u8], starts: &[usize], len: usize, threads: usize, par: &Par) -> Vec<Hash> {
    let mut out = vec![EMPTY; starts.len()];
    // Shares in multiples of sixteen; a few hundred hashes are not worth waking threads for.
    let per = if starts.len() < 256 { starts.len().max(1) } else { starts.len().div_ceil(threads.max(1)).next_multiple_of(16) };
    let shares: Vec<std::sync::Mutex<&mut [Hash]>> = out.chunks_mut(per).map(std::sync::Mutex::new).collect();
    let run = |j: usize| {
        if let Some(share) = shares.get(j) {
            let mut share = share.lock().expect("share lock");
            let n = share.len();
            crate::blake3x16::keyed_hash_at(key, data, &starts[j * per..j * per + n], len, &mut share);
        }
    };
    if shares.len() <= 1 {
        run(0);
    } else {
        par(&run);
    }
    drop(shares);
    out
}

/// The values' little-endian bytes, borrowed where the target is little-endian.
fn le_bytes(values: &[i32]) -> std::borrow::Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        // SAFETY: every byte of an initialized `[i32]` is an initialized `u8`; on a
        // little-endian target those bytes are the values' little-endian encoding.
        std::borrow::Cow::Borrowed(unsafe { std::slice::from_raw_parts(values.as_ptr() as *const u8, 4 * values.len()) })
    } else {
        std::borrow::Cow::Owned(values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
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

    /// The definition, one hash at a time: `chunk_leaf` per chunk, `node` per pair.
    fn literal_commit(values: &[i32]) -> Hash {
        let mut level: Vec<Hash> =
            if values.is_empty() { vec![chunk_leaf(&[])] } else { values.chunks(CHUNK).map(chunk_leaf).collect() };
        level.resize(level.len().next_power_of_two(), EMPTY);
        while level.len() > 1 {
            level = level.chunks_exact(2).map(|p| node(&p[0], &p[1])).collect();
        }
        op_root(values.len(), &level[0])
    }

    #[test]
    fn commit_op_equals_its_definition() {
        for n in [0, 1, 64, 100, 64 * 16, 64 * 17 + 5, 64 * 40, 49_152] {
            let v: Vec<i32> = (0..n).map(|i: i32| i.wrapping_mul(-1_640_531_535)).collect();
            assert_eq!(commit_op(&v), literal_commit(&v), "{n} values");
        }
    }

    #[test]
    fn commit_ops_equals_commit_op_for_every_length_and_thread_count() {
        let lens: [i32; 11] = [0, 1, 63, 64, 65, 128, 64 * 64, 64 * 64 + 1, 64 * 65, 64 * 200, 49_152];
        let ops: Vec<Vec<i32>> =
            lens.iter().map(|n| (0..*n).map(|i| i.wrapping_mul(2_654_435_761u32 as i32)).collect()).collect();
        let want: Vec<Hash> = ops.iter().map(|v| commit_op(v)).collect();
        let data: Vec<i32> = ops.concat();
        let mut ranges = vec![];
        for v in &ops {
            let at = ranges.last().map_or(0, |r: &std::ops::Range<usize>| r.end);
            ranges.push(at..at + v.len());
        }
        for threads in [1, 2, 3] {
            let par = |f: &(dyn Fn(usize) + Sync)| (0..threads).for_each(f);
            assert_eq!(commit_ops(&data, &ranges, threads, &par), want, "{threads} threads");
        }
    }
}
