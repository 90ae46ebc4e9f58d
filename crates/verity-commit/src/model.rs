//! The model commitment a referee holds instead of the model: a small public header
//! (value types, which values are inputs and outputs) and a Merkle root over the
//! canonical encoding of every node, so any node — and so any weight — can be opened
//! with a logarithmic proof.

use crate::hash::{self, Hash};
use crate::merkle::{verify_path, MerkleTree};
use verity_model::Model;

/// The public header: every value's bit width and shape, the inputs and the outputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelHeader {
    pub values: Vec<(u8, Vec<usize>)>,
    pub n_inputs: usize,
    pub outputs: Vec<u32>,
}

impl ModelHeader {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        let u32le = |b: &mut Vec<u8>, v: usize| b.extend_from_slice(&(v as u32).to_le_bytes());
        u32le(&mut b, self.values.len());
        for (bits, shape) in &self.values {
            b.push(*bits);
            u32le(&mut b, shape.len());
            shape.iter().for_each(|&d| u32le(&mut b, d));
        }
        u32le(&mut b, self.n_inputs);
        u32le(&mut b, self.outputs.len());
        self.outputs.iter().for_each(|&o| u32le(&mut b, o as usize));
        b
    }
}

#[derive(Clone, Debug)]
pub struct ModelCommitment {
    pub header: ModelHeader,
    nodes: MerkleTree,
    encodings: Vec<Vec<u8>>,
}

impl ModelCommitment {
    pub fn new(model: &Model) -> Self {
        let header = ModelHeader {
            values: model.values.iter().map(|v| (v.bits, v.shape.clone())).collect(),
            n_inputs: model.inputs.len(),
            outputs: model.outputs.clone(),
        };
        let encodings: Vec<Vec<u8>> = model.nodes.iter().map(|n| n.encode()).collect();
        let nodes = MerkleTree::new(encodings.iter().map(|e| hash::model_node(e)).collect());
        ModelCommitment { header, nodes, encodings }
    }

    /// The weight commitment: binds the header and every node.
    pub fn root(&self) -> Hash {
        hash::model(&self.header.encode(), &self.nodes.root())
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
    verify_path(&hash::model_node(encoding), index, path, nodes_root)
}
