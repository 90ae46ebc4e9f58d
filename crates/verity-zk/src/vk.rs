//! The verifying-key file (`.vk`): what a light client needs to check a proof without the
//! weights (docs/zk.md, "Verifying keys").
//!
//! ```text
//! "VRTK" | version u8 | model id [32] | weight root [32] | row_vars u8 | col_vars u8
//!        | head_len u32 | head | n_nodes u32 | per node: node entry | digest [32]
//! node entry = 0 | len u32 | the node's encoding                      (no weights)
//!            | 1 | leaf [32] | weight_len u64 | len u32 | skeleton     (Linear, Conv)
//! ```
//!
//! Every node without weights is stored whole; a Linear or Conv node is stored as its
//! *skeleton* (its encoding with the weight list cut to the one entry of largest
//! magnitude, which is all the circuit's accumulator bound reads) and its Merkle leaf.
//! On load, the head and the leaves must hash to the model id, and every whole node must
//! hash to its leaf, so the head (names, shapes, scales, input maps) and every weightless
//! node are bound to the id. What the id cannot bind without the weights — the weight
//! commitment and the skeletons' remaining parameters — is bound by the proof itself
//! (the transcript absorbs the weight root; a different circuit rejects an honest proof),
//! and by the file's digest, which whoever hands out the key can publish (`vk_id`).
//! All integers little-endian. Decoding never panics.

use crate::pcs::Commitment;
use crate::protocol::{keygen, Verifier, VerifyingKey};
use verity_model::merkle::MerkleTree;
use verity_model::{id, Model, ModelHead, Node, Op, Tensor};

pub const MAGIC: &[u8; 4] = b"VRTK";
pub const VERSION: u8 = 1;
const DIGEST_KEY: &[u8; 32] = b"verity/v1/verifying-key-file....";
const MAX_NODES: usize = 1 << 20;

/// A verifying key with the model structure the verifier's circuit is derived from, but
/// without the weights.
#[derive(Clone, Debug)]
pub struct LightKey {
    pub vk: VerifyingKey,
    /// The model with every weight list replaced by a stand-in of the same length and
    /// largest magnitude (so the circuit is the model's); its own id is not the model's.
    skeleton: Model,
    leaves: Vec<[u8; 32]>,
    bytes: Vec<u8>,
    skeleton_spans: Vec<std::ops::Range<usize>>,
}

/// The largest-magnitude weight (the circuit's accumulator bound reads only that).
fn extreme(w: &[i8]) -> i8 {
    w.iter().copied().max_by_key(|x| (*x as i16).abs()).unwrap_or(0)
}

fn weights_of(op: &mut Op) -> Option<&mut Vec<i8>> {
    match op {
        Op::Linear { weight, .. } | Op::Conv { weight, .. } => Some(weight),
        _ => None,
    }
}

impl LightKey {
    /// Derives the key of `model` (the same weight commitment `keygen` gives the prover).
    pub fn new(model: &Model) -> Result<LightKey, String> {
        let vk = keygen(model)?.vk;
        let mut b = MAGIC.to_vec();
        b.push(VERSION);
        b.extend(vk.model_id);
        b.extend(vk.weights.root);
        b.extend([vk.weights.row_vars as u8, vk.weights.col_vars as u8]);
        let head = model.head_bytes();
        b.extend((head.len() as u32).to_le_bytes());
        b.extend(&head);
        b.extend((model.nodes.len() as u32).to_le_bytes());
        for n in &model.nodes {
            let enc = n.encode();
            let mut skel = n.clone();
            match weights_of(&mut skel.op) {
                None => {
                    b.push(0);
                    b.extend((enc.len() as u32).to_le_bytes());
                    b.extend(&enc);
                }
                Some(w) => {
                    let len = w.len() as u64;
                    *w = vec![extreme(w)];
                    let s = skel.encode();
                    b.push(1);
                    b.extend(id::model_node(&enc));
                    b.extend(len.to_le_bytes());
                    b.extend((s.len() as u32).to_le_bytes());
                    b.extend(&s);
                }
            }
        }
        let digest = *blake3::keyed_hash(DIGEST_KEY, &b).as_bytes();
        b.extend(digest);
        LightKey::decode(&b)
    }

    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// The file's digest (its last 32 bytes): pin it to know the key is the one published.
    pub fn key_id(&self) -> [u8; 32] {
        self.bytes[self.bytes.len() - 32..].try_into().expect("32 bytes")
    }

    /// The model structure (inputs, outputs, their names, shapes and scales).
    pub fn model(&self) -> &Model {
        &self.skeleton
    }

    /// A verifier for proofs of this key's model.
    pub fn verifier(&self) -> Result<Verifier<'_>, String> {
        Verifier::light(&self.skeleton, &self.vk)
    }

    /// Checks a proof that the model maps `inputs` to `outputs`.
    pub fn verify(&self, inputs: &[Tensor], outputs: &[Tensor], proof: &[u8]) -> Result<(), String> {
        self.verifier()?.verify(inputs, outputs, proof)
    }

    /// Parses and checks a key file: digest, structure, and that the head and node leaves
    /// hash to the model id. Never panics, names what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<LightKey, String> {
        if bytes.len() < 4 || &bytes[..4] != MAGIC {
            return Err("not a Verity verifying key (bad magic; make one with `verity keygen MODEL -o MODEL.vk`)".into());
        }
        if bytes.len() < 5 + 32 {
            return Err("verifying key is truncated".into());
        }
        if bytes[4] != VERSION {
            return Err(format!("verifying key version {} is not supported (expected {VERSION})", bytes[4]));
        }
        let (body, digest) = bytes.split_at(bytes.len() - 32);
        if blake3::keyed_hash(DIGEST_KEY, body).as_bytes() != digest {
            return Err("verifying key is corrupt (its digest does not match its contents)".into());
        }
        let mut c = Cursor { b: body, at: 5 };
        let model_id: [u8; 32] = c.take(32, "the model id")?.try_into().expect("32");
        let root: [u8; 32] = c.take(32, "the weight root")?.try_into().expect("32");
        let vars = c.take(2, "the weight shape")?;
        let weights = Commitment { root, row_vars: vars[0] as usize, col_vars: vars[1] as usize };
        let head_len = c.u32("the head")?;
        let head_bytes = c.take(head_len, "the head")?;
        let head = ModelHead::decode(head_bytes).map_err(|e| format!("verifying key: bad model head: {e}"))?;
        let n = c.u32("the node count")?;
        if n != head.n_nodes || n > MAX_NODES {
            return Err(format!("verifying key lists {n} nodes, its head {}", head.n_nodes));
        }
        let (mut nodes, mut leaves, mut skeleton_spans) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::new());
        for i in 0..n {
            let tag = c.take(1, "a node")?[0];
            let (leaf, weight_len) = match tag {
                0 => (None, 0),
                1 => {
                    let leaf: [u8; 32] = c.take(32, "a node leaf")?.try_into().expect("32");
                    let len = u64::from_le_bytes(c.take(8, "a weight count")?.try_into().expect("8"));
                    if len == 0 || len > verity_model::MAX_ELEMENTS as u64 {
                        return Err(format!("verifying key: node {i} has {len} weights"));
                    }
                    (Some(leaf), len as usize)
                }
                t => return Err(format!("verifying key: node {i} has unknown kind {t}")),
            };
            let len = c.u32("a node")?;
            let start = c.at;
            let enc = c.take(len, "a node")?;
            if leaf.is_some() {
                skeleton_spans.push(start..c.at);
            }
            let mut node = Node::decode(enc).map_err(|e| format!("verifying key: bad node {i}: {e}"))?;
            if node.encode() != enc {
                return Err(format!("verifying key: node {i} is not canonically encoded"));
            }
            match (leaf, weights_of(&mut node.op)) {
                (None, None) => leaves.push(id::model_node(enc)),
                (Some(leaf), Some(w)) if w.len() == 1 => {
                    let x = w[0];
                    let mut full = vec![0i8; weight_len];
                    full[0] = x;
                    *w = full;
                    leaves.push(leaf);
                }
                _ => return Err(format!("verifying key: node {i} is stored in the wrong form for its op")),
            }
            nodes.push(node);
        }
        if c.at != body.len() {
            return Err("verifying key has trailing bytes".into());
        }
        let nodes_root = MerkleTree::new(leaves.clone()).root();
        if id::model(head_bytes, &nodes_root) != model_id {
            return Err("verifying key does not match its model id (head or nodes altered)".into());
        }
        let ModelHead { values, inputs, input_affine, outputs, .. } = head;
        let skeleton = Model { values, inputs, input_affine, outputs, nodes };
        skeleton.validate().map_err(|e| format!("verifying key: the model structure is invalid: {e}"))?;
        Ok(LightKey { vk: VerifyingKey { model_id, weights }, skeleton, leaves, bytes: bytes.to_vec(), skeleton_spans })
    }

    /// Where the skeleton encodings lie in the file (for tests: the parameters of a
    /// weighted node that only the digest binds).
    #[doc(hidden)]
    pub fn skeleton_spans(&self) -> &[std::ops::Range<usize>] {
        &self.skeleton_spans
    }

    /// The Merkle leaves of the model's nodes (the id is `H(head ‖ root(leaves))`).
    pub fn leaves(&self) -> &[[u8; 32]] {
        &self.leaves
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| format!("verifying key is truncated in {what}"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self, what: &str) -> Result<usize, String> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")) as usize)
    }
}

/// Re-seals a (tampered) key body with a fresh digest: tests play a forger who controls
/// the whole file, so the digest alone must not be what rejects a tampered key.
#[doc(hidden)]
pub fn reseal(bytes: &[u8]) -> Vec<u8> {
    let body = &bytes[..bytes.len().saturating_sub(32)];
    let mut b = body.to_vec();
    b.extend(blake3::keyed_hash(DIGEST_KEY, body).as_bytes());
    b
}
