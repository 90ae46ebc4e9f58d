//! Light mode for evidence `zk`: the answer is accepted on its proof alone, checked with
//! a verifying key (`.vk`, `verity_zk::vk::LightKey`), without re-executing the model.
//!
//! Where the key comes from is the whole security question (docs/zk.md, "Light clients").
//! A `.vk` binds its head and weightless nodes to the model id, but not its weight
//! commitment nor its Linear/Conv skeletons: those cannot be checked without the weights.
//! A node that serves a forged key could prove a different model under the same id. So a
//! key fetched from the node is accepted only when it is the one the user pinned by its
//! digest (`vk_id`); otherwise the key is a local file, or derived here from the model
//! downloaded and checked against its id (the weights travel, but nothing is re-executed).

use std::sync::Arc;

use verity_exec::api::{Evidence, ProofJob};
use verity_exec::parse_id;
use verity_model::{Model, Tensor};
use verity_zk::file::ProofFile;
use verity_zk::vk::LightKey;

use crate::error::{Error, Result};
use crate::{checked_id, Client, VerifiedProof};

/// Where the verifying key of a light check comes from.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// A key the user holds (a `.vk` file made by `verity keygen` or given by the publisher).
    Local(Arc<LightKey>),
    /// The node's `GET /v1/models/{id}/vk`, accepted only if its digest is this one.
    Pinned([u8; 32]),
    /// Derived here from the model, downloaded and checked against its id.
    Derived,
}

impl KeySource {
    pub fn describe(&self) -> &'static str {
        match self {
            KeySource::Local(_) => "a local verifying key",
            KeySource::Pinned(_) => "the node's verifying key, pinned by its vk_id",
            KeySource::Derived => "a verifying key derived here from the id-checked model",
        }
    }
}

/// An answer accepted on its proof alone.
pub struct LightVerified {
    pub key: Arc<LightKey>,
    pub model_id: [u8; 32],
    pub input_hash: [u8; 32],
    pub output_hash: [u8; 32],
    /// The proven outputs (what the node's `outputs` must equal).
    pub outputs: Vec<Tensor>,
    pub proof: VerifiedProof,
    pub source: &'static str,
}

impl LightVerified {
    /// The structure of the model (names, shapes, scales): the key's skeleton, whose own
    /// id is not the model's (use `model_id`).
    pub fn model(&self) -> &Model {
        self.key.model()
    }

    /// `model_id`, `input_hash`, `output_hash`, `outputs` (as reals; as `verity run --json`
    /// would print them) and `evidence`, `proof_job`, `proof_id`, `proof_bytes`, `vk_id`.
    pub fn to_json(&self) -> serde_json::Value {
        let hex = verity_commit::hash::hex;
        serde_json::json!({
            "model_id": hex(&self.model_id),
            "input_hash": hex(&self.input_hash),
            "output_hash": hex(&self.output_hash),
            "outputs": verity_exec::real_outputs(self.model(), &self.outputs),
            "evidence": "zk",
            "verified_by": "proof",
            "vk_id": hex(&self.key.key_id()),
            "proof_job": self.proof.job.job_id,
            "proof_id": self.proof.proof_id,
            "proof_bytes": self.proof.bytes.len(),
        })
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error::Verification(msg.into()))
}

impl Client {
    /// The verifying key as the node serves it (unchecked; see [`Client::light_key`]).
    pub fn download_vk(&self, model_id: &str) -> Result<Vec<u8>> {
        self.get_bytes("download verifying key", &format!("/v1/models/{}/vk", checked_id("model id", model_id)?))
    }

    /// The key of `model_id` from `source`, checked: it is a well-formed key of that model,
    /// and a key fetched from the node has the pinned digest.
    pub fn light_key(&self, model_id: &str, source: &KeySource) -> Result<Arc<LightKey>> {
        let id = parse_id(&checked_id("model id", model_id)?).expect("checked");
        let key = match source {
            KeySource::Local(k) => k.clone(),
            KeySource::Pinned(want) => {
                let bytes = self.download_vk(model_id)?;
                let key = LightKey::decode(&bytes)
                    .map_err(|e| Error::Verification(format!("the node's verifying key is not valid: {e}")))?;
                if key.key_id() != *want {
                    return fail(format!(
                        "the node's verifying key has vk_id {}, not the pinned {}",
                        verity_commit::hash::hex(&key.key_id()),
                        verity_commit::hash::hex(want)
                    ));
                }
                Arc::new(key)
            }
            KeySource::Derived => {
                let m = self.model(model_id)?;
                Arc::new(
                    LightKey::new(&m.model)
                        .map_err(|e| Error::Local(format!("proofs of model {model_id} cannot be checked: {e}")))?,
                )
            }
        };
        if key.vk.model_id != id {
            return fail(format!(
                "the verifying key is for model {}, not {}",
                verity_commit::hash::hex(&key.vk.model_id),
                verity_commit::hash::hex(&id)
            ));
        }
        Ok(key)
    }

    /// Runs `input` on the node with evidence `zk` and accepts the answer only if its proof,
    /// waited for, verifies with the key from `source` and proves exactly this input and the
    /// node's answer. Nothing is re-executed.
    pub fn infer_light(
        &self,
        model_id: &str,
        input: &str,
        source: &KeySource,
        on_progress: &mut dyn FnMut(&ProofJob),
    ) -> Result<LightVerified> {
        let key = self.light_key(model_id, source)?;
        let id = key.vk.model_id;
        let skeleton = key.model();
        let inputs = verity_exec::parse_input(skeleton, input).map_err(|e| Error::Local(e.to_string()))?;
        let input_hash = verity_exec::input_hash(skeleton, &inputs);
        let resp = self.infer(&verity_commit::hash::hex(&id), input, Evidence::Zk)?;
        if parse_id(&resp.model_id) != Some(id) {
            return fail(format!("the node answered for model {}, asked for {}", resp.model_id, verity_commit::hash::hex(&id)));
        }
        if resp.evidence != Evidence::Zk {
            return fail(format!("asked for evidence zk, the node answered with {}", resp.evidence.as_str()));
        }
        let Some(job_id) = resp.proof_job.as_deref().filter(|j| parse_id(j).is_some()) else {
            return fail("asked for a proof, the node sent no proof job");
        };
        let job = self.wait_for_proof(job_id, on_progress)?;
        let bytes = self.proof_file(job_id)?;
        let actual = blake3::hash(&bytes);
        if job.proof_id.as_deref().and_then(parse_id).as_ref() != Some(actual.as_bytes()) {
            return fail(format!(
                "the node named proof {}, but the file it sent hashes to {}",
                job.proof_id.as_deref().unwrap_or("(none)"),
                actual.to_hex()
            ));
        }
        let file = ProofFile::decode(&bytes).map_err(|e| Error::Verification(format!("bad proof file: {e}")))?;
        if file.model_id != id {
            return fail(format!(
                "the proof is for model {}, not {}",
                verity_commit::hash::hex(&file.model_id),
                verity_commit::hash::hex(&id)
            ));
        }
        if file.inputs != inputs {
            return fail("the proof is for another input than the one sent");
        }
        key.verify(&file.inputs, &file.outputs, &file.proof)
            .map_err(|e| Error::Verification(format!("the proof does not verify: {e}")))?;
        // The proof is sound; the node's immediate answer must be what it proves.
        let output_hash = verity_exec::list_root(skeleton, &skeleton.outputs, &file.outputs);
        let same = |field: &str, got: &str, want: &[u8; 32]| -> Result<()> {
            if parse_id(got).as_ref() != Some(want) {
                return fail(format!("the node's {field} is {got}, the proof gives {}", verity_commit::hash::hex(want)));
            }
            Ok(())
        };
        same("input_hash", &resp.input_hash, &input_hash)?;
        same("output_hash", &resp.output_hash, &output_hash)?;
        let proven = verity_exec::real_outputs(skeleton, &file.outputs);
        if !crate::verify::same_outputs(&resp.outputs, &proven) {
            return fail("the node's outputs differ from the proven ones");
        }
        let proof_id = actual.to_hex().to_string();
        let outputs = file.outputs.clone();
        let proof = VerifiedProof { job, proof_id, bytes, file };
        Ok(LightVerified { key, model_id: id, input_hash, output_hash, outputs, proof, source: source.describe() })
    }
}
