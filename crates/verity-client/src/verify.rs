//! Checking a node's answers against a local re-execution.

use verity_exec::api::{Evidence, InferResponse, ReceiptRecord};
use verity_exec::{parse_id, Executed};
use verity_receipt::EvidenceKind;

use crate::error::{Error, Result};
use crate::LocalModel;

fn fail<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error::Verification(msg.into()))
}

/// Whether `got` is `want` up to a few units in the last place. The node sends each
/// output as a JSON number; a JSON float parser is only guaranteed to round-trip within an
/// ulp, and distinct quantized outputs differ by a whole scale step, far more than this.
fn same_real(got: f64, want: f64) -> bool {
    got == want || (got - want).abs() <= want.abs().max(f64::MIN_POSITIVE) * 4.0 * f64::EPSILON
}

/// Whether the node's outputs (JSON numbers) are `want`, up to [`same_real`].
pub(crate) fn same_outputs(got: &[Vec<f64>], want: &[Vec<f64>]) -> bool {
    got.len() == want.len()
        && got.iter().zip(want).all(|(a, b)| a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| same_real(x, y)))
}

fn same_hash(field: &str, got: &str, want: &[u8; 32]) -> Result<()> {
    if parse_id(got).as_ref() != Some(want) {
        return fail(format!("the node's {field} is {got}, a local re-execution gives {}", verity_commit::hash::hex(want)));
    }
    Ok(())
}

/// Re-executes `input` on `model` and checks every field of the node's answer: model id,
/// input hash, output hash, outputs, evidence kind, and for `receipt` the receipt itself
/// (signature, model id, input hash, output hash, trace root, kind) and its id.
pub fn check_answer(model: &LocalModel, input: &str, evidence: Evidence, resp: &InferResponse) -> Result<Executed> {
    let m = &model.model;
    let inputs = verity_exec::parse_input(m, input).map_err(|e| Error::Local(e.to_string()))?;
    let ex = verity_exec::execute(&model.engine, m, &inputs).map_err(|e| Error::Local(e.to_string()))?;
    same_hash("model_id", &resp.model_id, &m.id_bytes())?;
    same_hash("input_hash", &resp.input_hash, &ex.input_hash)?;
    same_hash("output_hash", &resp.output_hash, &ex.output_hash)?;
    let local = verity_exec::real_outputs(m, &ex.outputs);
    if !same_outputs(&resp.outputs, &local) {
        return fail("the node's outputs differ from a local re-execution");
    }
    if resp.evidence != evidence {
        return fail(format!("asked for evidence {}, the node answered with {}", evidence.as_str(), resp.evidence.as_str()));
    }
    if evidence == Evidence::Receipt {
        let Some(r) = &resp.receipt else { return fail("asked for a receipt, the node sent none") };
        verity_exec::check_receipt(r, &m.id_bytes(), &ex).map_err(|e| Error::Verification(e.to_string()))?;
        if r.body.evidence != EvidenceKind::Reexecution {
            return fail(format!("the receipt claims evidence {}, expected reexecution", r.body.evidence));
        }
        if resp.receipt_id.as_deref().and_then(parse_id) != Some(r.signing_hash()) {
            return fail("the node's receipt_id is not the receipt's signing hash");
        }
    }
    if evidence == Evidence::Zk && resp.proof_job.as_deref().and_then(parse_id).is_none() {
        return fail("asked for a proof, the node sent no proof job");
    }
    Ok(ex)
}

/// Checks a stored receipt record fetched by `id`: it is that receipt, of that model, and
/// re-executing its input reproduces every claim (the same check as `verity verify`).
pub fn check_receipt_record(model: &LocalModel, id: &str, record: &ReceiptRecord) -> Result<Executed> {
    let r = &record.receipt;
    if parse_id(id) != Some(r.signing_hash()) {
        return fail(format!("asked for receipt {id}, the node sent {}", verity_exec::receipt_id(r)));
    }
    let m = &model.model;
    if r.body.model_id != m.id_bytes() {
        return fail(format!(
            "the receipt is for model {}, the record names {}",
            verity_commit::hash::hex(&r.body.model_id),
            m.id()
        ));
    }
    let inputs = verity_exec::parse_input(m, record.input.get())
        .map_err(|e| Error::Verification(format!("the stored input does not fit the model: {e}")))?;
    let ex = verity_exec::execute(&model.engine, m, &inputs).map_err(|e| Error::Verification(e.to_string()))?;
    verity_exec::check_receipt(r, &m.id_bytes(), &ex).map_err(|e| Error::Verification(e.to_string()))?;
    Ok(ex)
}

/// What a proof must bind besides the model: the quantized inputs and the outputs a local
/// re-execution gave.
pub struct Statement<'a> {
    pub inputs: &'a [verity_model::Tensor],
    pub outputs: &'a [verity_model::Tensor],
}

/// Checks a proof file the node sent: it is the file the node named (`proof_id`, the
/// BLAKE3 of its bytes, when given), it is for `model` (and, when given, for exactly this
/// input and output), and it verifies with `vk`, a key derived locally from the model.
pub fn check_proof(
    model: &LocalModel,
    vk: &verity_zk::protocol::VerifyingKey,
    bytes: &[u8],
    proof_id: Option<&str>,
    statement: Option<Statement>,
) -> Result<verity_zk::file::ProofFile> {
    let actual = blake3::hash(bytes);
    if let Some(id) = proof_id {
        if parse_id(id).as_ref() != Some(actual.as_bytes()) {
            return fail(format!("the node named proof {id}, but the file it sent hashes to {}", actual.to_hex()));
        }
    }
    let file = verity_zk::file::ProofFile::decode(bytes).map_err(|e| Error::Verification(format!("bad proof file: {e}")))?;
    let m = &model.model;
    if file.model_id != m.id_bytes() {
        return fail(format!("the proof is for model {}, not {}", verity_commit::hash::hex(&file.model_id), m.id()));
    }
    if let Some(s) = statement {
        if file.inputs != s.inputs {
            return fail("the proof is for another input than the one sent");
        }
        if file.outputs != s.outputs {
            return fail("the proof is for another output than the answer's");
        }
    }
    verity_zk::protocol::verify(m, vk, &file.inputs, &file.outputs, &file.proof)
        .map_err(|e| Error::Verification(format!("the proof does not verify: {e}")))?;
    Ok(file)
}
