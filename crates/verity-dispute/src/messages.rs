//! The moves of a dispute and their canonical encoding (so the same game can run over
//! the network or on chain). Layout: `"VRTD"`, version `1`, a tag byte, then the
//! fields; integers little-endian, lists `u32`-length-prefixed, hashes 32 raw bytes.

use crate::error::DisputeError;
use verity_commit::Hash;

pub const MAGIC: &[u8; 4] = b"VRTD";
pub const VERSION: u8 = 1;

/// Opens value `value`'s root against the agreed prefix root: the root is
/// `hash::tensor(bits, shape, chunk_root)` at leaf `value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorOpening {
    pub value: u32,
    pub chunk_root: Hash,
    pub path: Vec<Hash>,
}

/// Opens chunk `index` of value `value` against that value's chunk root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkOpening {
    pub value: u32,
    pub index: u32,
    pub values: Vec<i32>,
    pub path: Vec<Hash>,
}

/// Everything the referee needs to recompute one element: the node (against the model
/// commitment) and the operand chunks (against the agreed prefix root).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepProof {
    pub node: Vec<u8>,
    pub node_path: Vec<Hash>,
    pub tensors: Vec<TensorOpening>,
    pub chunks: Vec<ChunkOpening>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Move {
    /// Executor: the claimed outputs' roots, each opened against the trace root.
    Outputs { roots: Vec<Hash>, paths: Vec<Vec<Hash>> },
    /// Executor: its prefix root at the index the referee asked for.
    Prefix { root: Hash },
    /// Challenger: whether it agrees with that prefix root.
    Respond { agree: bool },
    /// Executor: the disputed value's root, its chunk root, and the leaf path shared
    /// by the two prefix roots around it.
    Leaf { value_root: Hash, chunk_root: Hash, path: Vec<Hash> },
    /// Executor: the two children of the disputed chunk-tree node.
    Children { left: Hash, right: Hash },
    /// Challenger: which child it disputes.
    Choose { right: bool },
    /// Executor: the disputed chunk's values.
    Chunk { values: Vec<i32> },
    /// Challenger: the element of the chunk it disputes.
    Element { offset: u32 },
    /// Executor: the proof the referee recomputes that element from.
    Step(StepProof),
}

impl Move {
    pub fn name(&self) -> &'static str {
        match self {
            Move::Outputs { .. } => "outputs",
            Move::Prefix { .. } => "prefix",
            Move::Respond { .. } => "respond",
            Move::Leaf { .. } => "leaf",
            Move::Children { .. } => "children",
            Move::Choose { .. } => "choose",
            Move::Chunk { .. } => "chunk",
            Move::Element { .. } => "element",
            Move::Step(_) => "step",
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = W(MAGIC.to_vec());
        w.0.push(VERSION);
        match self {
            Move::Outputs { roots, paths } => {
                w.0.push(0);
                w.hashes(roots);
                w.u32(paths.len() as u32);
                paths.iter().for_each(|p| w.hashes(p));
            }
            Move::Prefix { root } => {
                w.0.push(1);
                w.0.extend_from_slice(root);
            }
            Move::Respond { agree } => w.0.extend([2, *agree as u8]),
            Move::Leaf { value_root, chunk_root, path } => {
                w.0.push(3);
                w.0.extend_from_slice(value_root);
                w.0.extend_from_slice(chunk_root);
                w.hashes(path);
            }
            Move::Children { left, right } => {
                w.0.push(4);
                w.0.extend_from_slice(left);
                w.0.extend_from_slice(right);
            }
            Move::Choose { right } => w.0.extend([5, *right as u8]),
            Move::Chunk { values } => {
                w.0.push(6);
                w.i32s(values);
            }
            Move::Element { offset } => {
                w.0.push(7);
                w.u32(*offset);
            }
            Move::Step(p) => {
                w.0.push(8);
                w.u32(p.node.len() as u32);
                w.0.extend_from_slice(&p.node);
                w.hashes(&p.node_path);
                w.u32(p.tensors.len() as u32);
                for t in &p.tensors {
                    w.u32(t.value);
                    w.0.extend_from_slice(&t.chunk_root);
                    w.hashes(&t.path);
                }
                w.u32(p.chunks.len() as u32);
                for c in &p.chunks {
                    w.u32(c.value);
                    w.u32(c.index);
                    w.i32s(&c.values);
                    w.hashes(&c.path);
                }
            }
        }
        w.0
    }

    /// Decodes a move; never panics, whatever the bytes.
    pub fn decode(bytes: &[u8]) -> Result<Move, DisputeError> {
        let mut r = R { b: bytes, at: 0 };
        if r.take(4)? != MAGIC {
            return Err(DisputeError::Malformed("not a dispute message (bad magic)".into()));
        }
        let v = r.u8()?;
        if v != VERSION {
            return Err(DisputeError::Malformed(format!("unsupported message version {v}")));
        }
        let m = match r.u8()? {
            0 => {
                let roots = r.hashes()?;
                let n = r.len(4)?;
                let paths = (0..n).map(|_| r.hashes()).collect::<Result<_, _>>()?;
                Move::Outputs { roots, paths }
            }
            1 => Move::Prefix { root: r.hash()? },
            2 => Move::Respond { agree: r.bool()? },
            3 => Move::Leaf { value_root: r.hash()?, chunk_root: r.hash()?, path: r.hashes()? },
            4 => Move::Children { left: r.hash()?, right: r.hash()? },
            5 => Move::Choose { right: r.bool()? },
            6 => Move::Chunk { values: r.i32s()? },
            7 => Move::Element { offset: r.u32()? },
            8 => {
                let n = r.len(1)?;
                let node = r.take(n)?.to_vec();
                let node_path = r.hashes()?;
                let n = r.len(36)?;
                let tensors = (0..n)
                    .map(|_| Ok(TensorOpening { value: r.u32()?, chunk_root: r.hash()?, path: r.hashes()? }))
                    .collect::<Result<_, DisputeError>>()?;
                let n = r.len(12)?;
                let chunks = (0..n)
                    .map(|_| Ok(ChunkOpening { value: r.u32()?, index: r.u32()?, values: r.i32s()?, path: r.hashes()? }))
                    .collect::<Result<_, DisputeError>>()?;
                Move::Step(StepProof { node, node_path, tensors, chunks })
            }
            t => return Err(DisputeError::Malformed(format!("unknown move tag {t}"))),
        };
        if r.at != bytes.len() {
            return Err(DisputeError::Malformed(format!("{} trailing bytes", bytes.len() - r.at)));
        }
        Ok(m)
    }
}

struct W(Vec<u8>);

impl W {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn hashes(&mut self, h: &[Hash]) {
        self.u32(h.len() as u32);
        h.iter().for_each(|h| self.0.extend_from_slice(h));
    }
    fn i32s(&mut self, v: &[i32]) {
        self.u32(v.len() as u32);
        v.iter().for_each(|x| self.0.extend_from_slice(&x.to_le_bytes()));
    }
}

struct R<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DisputeError> {
        if self.b.len() - self.at < n {
            return Err(DisputeError::Malformed(format!("message truncated at byte {}", self.at)));
        }
        self.at += n;
        Ok(&self.b[self.at - n..self.at])
    }
    fn u8(&mut self) -> Result<u8, DisputeError> {
        Ok(self.take(1)?[0])
    }
    fn bool(&mut self) -> Result<bool, DisputeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(DisputeError::Malformed(format!("byte {b} is not a boolean"))),
        }
    }
    fn u32(&mut self) -> Result<u32, DisputeError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn len(&mut self, item: usize) -> Result<usize, DisputeError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(item) > self.b.len() - self.at {
            return Err(DisputeError::Malformed(format!("length {n} exceeds the message")));
        }
        Ok(n)
    }
    fn hash(&mut self) -> Result<Hash, DisputeError> {
        Ok(self.take(32)?.try_into().expect("32 bytes"))
    }
    fn hashes(&mut self) -> Result<Vec<Hash>, DisputeError> {
        let n = self.len(32)?;
        (0..n).map(|_| self.hash()).collect()
    }
    fn i32s(&mut self) -> Result<Vec<i32>, DisputeError> {
        let n = self.len(4)?;
        (0..n).map(|_| Ok(i32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))).collect()
    }
}
