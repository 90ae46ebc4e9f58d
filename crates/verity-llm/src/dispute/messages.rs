//! The moves of an LLM dispute and their canonical encoding: `"VLLD"`, version 1, a tag
//! byte, then the fields; integers little-endian, lists `u32`-length-prefixed, hashes 32
//! raw bytes. Decoding never panics, whatever the bytes.

use crate::trace::Hash;

pub const MAGIC: &[u8; 4] = b"VLLD";
pub const VERSION: u8 = 1;
/// `Opening::chunk` for a whole op output.
pub const WHOLE: u32 = u32::MAX;

/// Values of op `op` at position `pos` (chunk `chunk`, or all of them) with the paths that
/// connect them to the trace root: chunk → op root, op root → position leaf, leaf → root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opening {
    pub pos: u32,
    pub op: u32,
    pub chunk: u32,
    pub values: Vec<i32>,
    pub chunk_path: Vec<Hash>,
    pub op_path: Vec<Hash>,
    pub pos_path: Vec<Hash>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Move {
    /// Executor: the two children of the disputed tree node.
    Children { left: Hash, right: Hash },
    /// Challenger: the child it disputes (`right` also says it agrees with the left one).
    Choose { right: bool },
    /// Executor: what a disputed leaf commits to (a position's op tree root, or an op's
    /// chunk tree root).
    Open { root: Hash },
    /// Executor: the disputed chunk's values.
    Chunk { values: Vec<i32> },
    /// Challenger: the element of the chunk it disputes.
    Element { offset: u32 },
    /// Executor: the operands the referee recomputes the element from, in the order the
    /// referee names them (`referee::needs`).
    Step { openings: Vec<Opening> },
}

impl Move {
    pub fn name(&self) -> &'static str {
        match self {
            Move::Children { .. } => "children",
            Move::Choose { .. } => "choose",
            Move::Open { .. } => "open",
            Move::Chunk { .. } => "chunk",
            Move::Element { .. } => "element",
            Move::Step { .. } => "step",
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = MAGIC.to_vec();
        w.push(VERSION);
        let u32s = |w: &mut Vec<u8>, v: u32| w.extend_from_slice(&v.to_le_bytes());
        let hashes = |w: &mut Vec<u8>, h: &[Hash]| {
            w.extend_from_slice(&(h.len() as u32).to_le_bytes());
            h.iter().for_each(|h| w.extend_from_slice(h));
        };
        let i32s = |w: &mut Vec<u8>, v: &[i32]| {
            w.extend_from_slice(&(v.len() as u32).to_le_bytes());
            v.iter().for_each(|x| w.extend_from_slice(&x.to_le_bytes()));
        };
        match self {
            Move::Children { left, right } => {
                w.push(0);
                w.extend_from_slice(left);
                w.extend_from_slice(right);
            }
            Move::Choose { right } => w.extend([1, *right as u8]),
            Move::Open { root } => {
                w.push(2);
                w.extend_from_slice(root);
            }
            Move::Chunk { values } => {
                w.push(3);
                i32s(&mut w, values);
            }
            Move::Element { offset } => {
                w.push(4);
                u32s(&mut w, *offset);
            }
            Move::Step { openings } => {
                w.push(5);
                u32s(&mut w, openings.len() as u32);
                for o in openings {
                    u32s(&mut w, o.pos);
                    u32s(&mut w, o.op);
                    u32s(&mut w, o.chunk);
                    i32s(&mut w, &o.values);
                    hashes(&mut w, &o.chunk_path);
                    hashes(&mut w, &o.op_path);
                    hashes(&mut w, &o.pos_path);
                }
            }
        }
        w
    }

    pub fn decode(bytes: &[u8]) -> Result<Move, String> {
        let mut r = R { b: bytes, at: 0 };
        if r.take(4)? != MAGIC {
            return Err("not an LLM dispute message (bad magic)".into());
        }
        let v = r.u8()?;
        if v != VERSION {
            return Err(format!("unsupported message version {v}"));
        }
        let m = match r.u8()? {
            0 => Move::Children { left: r.hash()?, right: r.hash()? },
            1 => Move::Choose { right: r.bool()? },
            2 => Move::Open { root: r.hash()? },
            3 => Move::Chunk { values: r.i32s()? },
            4 => Move::Element { offset: r.u32()? },
            5 => {
                // An opening takes at least 24 bytes.
                let n = r.len(24)?;
                let openings = (0..n)
                    .map(|_| {
                        Ok(Opening {
                            pos: r.u32()?,
                            op: r.u32()?,
                            chunk: r.u32()?,
                            values: r.i32s()?,
                            chunk_path: r.hashes()?,
                            op_path: r.hashes()?,
                            pos_path: r.hashes()?,
                        })
                    })
                    .collect::<Result<_, String>>()?;
                Move::Step { openings }
            }
            t => return Err(format!("unknown move tag {t}")),
        };
        if r.at != bytes.len() {
            return Err(format!("{} trailing bytes", bytes.len() - r.at));
        }
        Ok(m)
    }
}

struct R<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.b.len() - self.at < n {
            return Err(format!("message truncated at byte {}", self.at));
        }
        self.at += n;
        Ok(&self.b[self.at - n..self.at])
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn bool(&mut self) -> Result<bool, String> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(format!("byte {b} is not a boolean")),
        }
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn len(&mut self, item: usize) -> Result<usize, String> {
        let n = self.u32()? as usize;
        if n.saturating_mul(item) > self.b.len() - self.at {
            return Err(format!("length {n} exceeds the message"));
        }
        Ok(n)
    }
    fn hash(&mut self) -> Result<Hash, String> {
        Ok(self.take(32)?.try_into().expect("32 bytes"))
    }
    fn hashes(&mut self) -> Result<Vec<Hash>, String> {
        let n = self.len(32)?;
        (0..n).map(|_| self.hash()).collect()
    }
    fn i32s(&mut self) -> Result<Vec<i32>, String> {
        let n = self.len(4)?;
        (0..n).map(|_| Ok(i32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))).collect()
    }
}
