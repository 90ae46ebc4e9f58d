//! The model id: a commitment to every byte of the canonical encoding, shaped so that a
//! party holding only the id can check any one node of the model with a short path.
//!
//! The encoding (docs/semantics.md) is `head ‖ node_0 ‖ … ‖ node_{n-1}`, where the *head* is
//! everything before the first node: magic, version, every value's name, bit width, scale
//! and shape, the inputs, the input maps, the outputs and the node count. The id is
//!
//! ```text
//! model_id = H_model(head ‖ nodes_root)
//! nodes_root = Merkle root over leaf(node_i's encoding), i < n, padded with EMPTY
//! leaf(e)    = H_node(u32 len(e) ‖ Merkle root over H_piece(the 256-byte pieces of e))
//! ```
//!
//! so whoever holds the id (a receipt signs it) can check a head and a nodes root against
//! it, and then any node against the nodes root. This is the commitment a dispute referee
//! decides against; there is no second, separately published one.

use crate::merkle::{keccak, Hash, MerkleTree};

const MODEL_NODE_KEY: &[u8; 32] = b"verity/v3/model-node............";
const NODE_PIECE_KEY: &[u8; 32] = b"verity/v3/node-piece............";
/// `v3`: Keccak-256, which an EVM referee can open cheaply. `v2` ids were keyed BLAKE3 of
/// the same layout, the first ones the plain BLAKE3 of the whole file, and `verity/v1/model`
/// keyed a partial header that left out names, scales and input maps.
const MODEL_KEY: &[u8; 32] = b"verity/v3/model-id..............";
const NOT_A_MODEL_KEY: &[u8; 32] = b"verity/v3/not-a-model...........";

/// Bytes per piece of a node encoding: a node is committed piece by piece, so that a referee
/// on chain opens only the pieces it reads (a 400×120 Linear's row is 400 of its 49 kB).
pub const NODE_PIECE_LEN: usize = 256;

/// The leaf of one node: `H_node(u32 len ‖ pieces root)` over its canonical encoding (op,
/// parameters and wiring) cut into [`NODE_PIECE_LEN`]-byte pieces. The length fixes the
/// number of pieces, so the tree's shape and the last piece's length.
pub fn model_node(encoding: &[u8]) -> Hash {
    let len = (encoding.len() as u32).to_le_bytes();
    keccak(MODEL_NODE_KEY, &[&len, &node_pieces(encoding).root()])
}

/// The Merkle tree over a node encoding's pieces.
pub fn node_pieces(encoding: &[u8]) -> MerkleTree {
    MerkleTree::new(encoding.chunks(NODE_PIECE_LEN).map(|p| keccak(NODE_PIECE_KEY, &[p])).collect())
}

/// The model id from a head (the encoding's bytes before the first node) and a nodes root.
/// The head's length is not framed: the nodes root is always the last 32 bytes.
pub fn model(head: &[u8], nodes_root: &Hash) -> Hash {
    keccak(MODEL_KEY, &[head, nodes_root])
}

/// The Merkle tree over the nodes' leaves, in node order.
pub fn node_tree<E: AsRef<[u8]>>(encodings: impl IntoIterator<Item = E>) -> MerkleTree {
    MerkleTree::new(encodings.into_iter().map(|e| model_node(e.as_ref())).collect())
}

/// What [`crate::Model::id_of_encoding`] gives bytes that are not laid out as a model: a
/// hash in its own domain, so it is never the id of any model and a comparison with an
/// id fails, as it should.
pub(crate) fn not_a_model(bytes: &[u8]) -> Hash {
    keccak(NOT_A_MODEL_KEY, &[bytes])
}
