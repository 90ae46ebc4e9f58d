//! Domain-separated BLAKE3 hashes: every hash says what it commits to, so a leaf can
//! never be passed off as an inner node or a tensor root as a chunk. Each domain is a
//! BLAKE3 key (keyed mode costs nothing extra, where a tag byte would push a 64-byte
//! inner node into a second compression).

// The Merkle inner node and the model-id hashes belong to `verity-model` (the model id is
// a Merkle commitment); they are re-exported so that every domain is reachable from here.
pub use verity_model::id::{model, model_node};
pub use verity_model::merkle::{node, Hash, EMPTY};

/// Elements per chunk: the unit a Merkle leaf commits to, and what a dispute reveals
/// at its last bisection level.
pub const CHUNK: usize = 256;

const CHUNK_KEY: &[u8; 32] = b"verity/v1/chunk.................";
const TENSOR_KEY: &[u8; 32] = b"verity/v1/tensor................";
const LIST_KEY: &[u8; 32] = b"verity/v1/list..................";

// One-shot `keyed_hash` on a stack buffer: a `blake3::Hasher` zeroes ~1.7 KB of state
// on creation, which costs more than hashing a small message.

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
