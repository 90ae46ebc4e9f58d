//! Binary Merkle trees over a power-of-two number of leaves, padded with `EMPTY`. Defined
//! in `verity-model`, whose model id is such a root; re-exported here for every other tree.

pub use verity_model::merkle::{depth_for, root_from_path, verify_path, MerkleTree};
