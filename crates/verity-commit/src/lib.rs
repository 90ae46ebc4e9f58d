//! Merkle commitments for Verity's evidence: tensors (chunked), execution traces (one
//! leaf per value, with prefix roots for bisection) and models (one leaf per node).
//! All hashes are domain-separated Keccak-256 (see `hash`), so an EVM referee can open them.

pub mod hash;
pub mod merkle;
pub mod model;
pub mod tensor;
pub mod trace;

pub use hash::{Hash, CHUNK, EMPTY};
pub use merkle::{root_from_path, verify_path, MerkleTree};
pub use model::{verify_node, ModelCommitment};
pub use tensor::{chunk_count, in_range, list_root, verify_chunk, TensorCommitment};
pub use trace::{TraceBuilder, TraceCommitment};
