//! Domain-separated Keccak-256 hashes: every hash says what it commits to, so a leaf can
//! never be passed off as an inner node or a tensor root as a chunk. Each domain is a
//! 32-byte prefix (`keccak256(domain ‖ message)`). Keccak-256 rather than BLAKE3 (version 2)
//! because an EVM referee opens these commitments: it has Keccak as an opcode, and a BLAKE3
//! compression written in Solidity costs ~55× the gas of a Keccak node (docs/settlement.md).

// The Merkle inner node and the model-id hashes belong to `verity-model` (the model id is
// a Merkle commitment); they are re-exported so that every domain is reachable from here.
pub use verity_model::id::{model, model_node};
pub use verity_model::merkle::{keccak, node, Hash, EMPTY};

/// Elements per chunk: the unit a Merkle leaf commits to, and what a dispute reveals
/// at its last bisection level.
pub const CHUNK: usize = 256;

const CHUNK_KEY: &[u8; 32] = b"verity/v3/chunk.................";
const TENSOR_KEY: &[u8; 32] = b"verity/v3/tensor................";
const LIST_KEY: &[u8; 32] = b"verity/v3/list..................";

/// A chunk of a `bits`-bit tensor: its index and its values, packed at their width
/// (one byte for 8-bit values, two for 16-bit), little-endian.
pub fn chunk(bits: u8, index: usize, values: &[i32]) -> Hash {
    if values.len() > CHUNK {
        // Never a valid chunk; still a total function, hashed the slow way.
        let wide: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        return keccak(CHUNK_KEY, &[&[bits], &(index as u32).to_le_bytes(), &wide]);
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
    keccak(CHUNK_KEY, &[&buf[..5 + len]])
}

/// A tensor: its type and shape bound to the root of its chunk tree.
pub fn tensor(bits: u8, shape: &[usize], chunk_root: &Hash) -> Hash {
    let mut buf = Vec::with_capacity(37 + 4 * shape.len());
    buf.push(bits);
    buf.extend_from_slice(&(shape.len() as u32).to_le_bytes());
    shape.iter().for_each(|&d| buf.extend_from_slice(&(d as u32).to_le_bytes()));
    buf.extend_from_slice(chunk_root);
    keccak(TENSOR_KEY, &[&buf])
}

/// A short list of tensor roots (a run's inputs or outputs).
pub fn list(roots: &[Hash]) -> Hash {
    let flat: Vec<u8> = roots.concat();
    keccak(LIST_KEY, &[&(roots.len() as u32).to_le_bytes(), &flat])
}

pub fn hex(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}
