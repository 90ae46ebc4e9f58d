//! Domain-separated BLAKE3 hashes: every hash says what it commits to, so a leaf can
//! never be passed off as an inner node or a tensor root as a chunk. Each domain is a
//! BLAKE3 key (keyed mode costs nothing extra, where a tag byte would push a 64-byte
//! inner node into a second compression).

pub type Hash = [u8; 32];

/// The value of a leaf with nothing in it (padding up to a power of two).
pub const EMPTY: Hash = [0; 32];

/// Elements per chunk: the unit a Merkle leaf commits to, and what a dispute reveals
/// at its last bisection level.
pub const CHUNK: usize = 256;

const CHUNK_KEY: &[u8; 32] = b"verity/v1/chunk.................";
const NODE_KEY: &[u8; 32] = b"verity/v1/merkle-node...........";
const TENSOR_KEY: &[u8; 32] = b"verity/v1/tensor................";
const MODEL_NODE_KEY: &[u8; 32] = b"verity/v1/model-node............";
const MODEL_KEY: &[u8; 32] = b"verity/v1/model.................";
const LIST_KEY: &[u8; 32] = b"verity/v1/list..................";

// One-shot `keyed_hash` on a stack buffer: a `blake3::Hasher` zeroes ~1.7 KB of state
// on creation, which costs more than hashing a small message.

pub fn node(l: &Hash, r: &Hash) -> Hash {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(l);
    buf[32..].copy_from_slice(r);
    *blake3::keyed_hash(NODE_KEY, &buf).as_bytes()
}

/// A chunk of a `bits`-bit tensor: its index and its values, packed at their width
/// (one byte for 8-bit values, two for 16-bit), little-endian.
pub fn chunk(bits: u8, index: usize, values: &[i32]) -> Hash {
    if values.len() > CHUNK {
        // Never a valid chunk; still a total function, hashed the slow way.
        let mut h = blake3::Hasher::new_keyed(CHUNK_KEY);
        h.update(&[bits]);
        h.update(&(index as u32).to_le_bytes());
        values.iter().for_each(|v| {
            h.update(&v.to_le_bytes());
        });
        return *h.finalize().as_bytes();
    }
    let mut buf = [0u8; 5 + 2 * CHUNK];
    buf[0] = bits;
    buf[1..5].copy_from_slice(&(index as u32).to_le_bytes());
    let body = &mut buf[5..];
    let len = if bits <= 8 {
        body.iter_mut().zip(values).for_each(|(b, &v)| *b = v as i8 as u8);
        values.len()
    } else {
        body.chunks_exact_mut(2).zip(values).for_each(|(b, &v)| b.copy_from_slice(&(v as i16).to_le_bytes()));
        2 * values.len()
    };
    *blake3::keyed_hash(CHUNK_KEY, &buf[..5 + len]).as_bytes()
}

/// A tensor: its type and shape bound to the root of its chunk tree.
pub fn tensor(bits: u8, shape: &[usize], chunk_root: &Hash) -> Hash {
    let mut buf = Vec::with_capacity(37 + 4 * shape.len());
    buf.push(bits);
    buf.extend_from_slice(&(shape.len() as u32).to_le_bytes());
    shape.iter().for_each(|&d| buf.extend_from_slice(&(d as u32).to_le_bytes()));
    buf.extend_from_slice(chunk_root);
    *blake3::keyed_hash(TENSOR_KEY, &buf).as_bytes()
}

/// One node of a model (its canonical encoding: op, parameters and wiring).
pub fn model_node(encoding: &[u8]) -> Hash {
    let mut h = blake3::Hasher::new_keyed(MODEL_NODE_KEY);
    h.update(encoding);
    *h.finalize().as_bytes()
}

/// A model commitment: its public header bound to the root of its node tree.
pub fn model(header: &[u8], nodes_root: &Hash) -> Hash {
    let mut h = blake3::Hasher::new_keyed(MODEL_KEY);
    h.update(header);
    h.update(nodes_root);
    *h.finalize().as_bytes()
}

/// A short list of tensor roots (a run's inputs or outputs).
pub fn list(roots: &[Hash]) -> Hash {
    let mut h = blake3::Hasher::new_keyed(LIST_KEY);
    h.update(&(roots.len() as u32).to_le_bytes());
    roots.iter().for_each(|r| {
        h.update(r);
    });
    *h.finalize().as_bytes()
}

pub fn hex(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}
