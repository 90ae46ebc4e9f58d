//! The model as a referee sees it: the head (every value's name, type, scale and shape,
//! the inputs, input maps and outputs) and a Merkle root over the canonical encoding of
//! every node, so any node — and so any weight — can be opened with a logarithmic proof.
//! The two hash to the model id itself (`verity_model::id`): a receipt that signs the id
//! fixes both, and nothing else needs to be published or trusted.

use crate::hash::Hash;
use crate::merkle::{verify_path, MerkleTree};
use verity_model::{id, Model, ModelHead};

#[derive(Clone, Debug)]
pub struct ModelCommitment {
    pub head: ModelHead,
    head_bytes: Vec<u8>,
    nodes: MerkleTree,
    encodings: Vec<Vec<u8>>,
}

impl ModelCommitment {
    pub fn new(model: &Model) -> Self {
        let encodings: Vec<Vec<u8>> = model.nodes.iter().map(|n| n.encode()).collect();
        let nodes = id::node_tree(&encodings);
        ModelCommitment { head: model.head(), head_bytes: model.head_bytes(), nodes, encodings }
    }

    /// The model id: binds the head and every node.
    pub fn root(&self) -> Hash {
        id::model(&self.head_bytes, &self.nodes.root())
    }

    /// The head's canonical bytes (the opening a referee checks against the id).
    pub fn head_bytes(&self) -> &[u8] {
        &self.head_bytes
    }

    pub fn nodes_root(&self) -> Hash {
        self.nodes.root()
    }

    /// Node `i`'s encoding and its path to `nodes_root`.
    pub fn open_node(&self, i: usize) -> (Vec<u8>, Vec<Hash>) {
        (self.encodings[i].clone(), self.nodes.path(i))
    }
}

/// Checks an opened node against a nodes root.
pub fn verify_node(encoding: &[u8], index: usize, path: &[Hash], nodes_root: &Hash) -> bool {
    verify_path(&id::model_node(encoding), index, path, nodes_root)
}
