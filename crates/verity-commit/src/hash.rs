//! Domain-separated BLAKE3 hashes: every hash says what it commits to, so a leaf can
//! never be passed off as an inner node or a tensor root as a chunk.

pub type Hash = [u8; 32];

/// The value of a leaf with nothing in it (padding up to a power of two).
pub const EMPTY: Hash = [0; 32];

/// Elements per chunk: the unit a Merkle leaf commits to, and what a dispute reveals
/// at its last bisection level.
pub const CHUNK: usize = 256;

const CHUNK_TAG: u8 = 0;
const NODE_TAG: u8 = 1;
const TENSOR_TAG: u8 = 2;
const MODEL_NODE_TAG: u8 = 3;
const MODEL_TAG: u8 = 4;
const LIST_TAG: u8 = 5;

pub fn node(l: &Hash, r: &Hash) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[NODE_TAG]);
    h.update(l);
    h.update(r);
    *h.finalize().as_bytes()
}

/// A chunk of a `bits`-bit tensor: its index and its values, packed at their width
/// (one byte for 8-bit values, two for 16-bit), little-endian.
pub fn chunk(bits: u8, index: usize, values: &[i32]) -> Hash {
    let mut buf = Vec::with_capacity(8 + values.len() * 2);
    buf.push(CHUNK_TAG);
    buf.push(bits);
    buf.extend_from_slice(&(index as u32).to_le_bytes());
    if bits <= 8 {
        buf.extend(values.iter().map(|&v| v as i8 as u8));
    } else {
        values.iter().for_each(|&v| buf.extend_from_slice(&(v as i16).to_le_bytes()));
    }
    *blake3::hash(&buf).as_bytes()
}

/// A tensor: its type and shape bound to the root of its chunk tree.
pub fn tensor(bits: u8, shape: &[usize], chunk_root: &Hash) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[TENSOR_TAG, bits]);
    h.update(&(shape.len() as u32).to_le_bytes());
    shape.iter().for_each(|&d| {
        h.update(&(d as u32).to_le_bytes());
    });
    h.update(chunk_root);
    *h.finalize().as_bytes()
}

/// One node of a model (its canonical encoding: op, parameters and wiring).
pub fn model_node(encoding: &[u8]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[MODEL_NODE_TAG]);
    h.update(encoding);
    *h.finalize().as_bytes()
}

/// A model commitment: its public header bound to the root of its node tree.
pub fn model(header: &[u8], nodes_root: &Hash) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[MODEL_TAG]);
    h.update(header);
    h.update(nodes_root);
    *h.finalize().as_bytes()
}

/// A short list of tensor roots (a run's inputs or outputs).
pub fn list(roots: &[Hash]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[LIST_TAG]);
    h.update(&(roots.len() as u32).to_le_bytes());
    roots.iter().for_each(|r| {
        h.update(r);
    });
    *h.finalize().as_bytes()
}

pub fn hex(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}
