//! A signed receipt per completion (a `verity-receipt` receipt) and its re-derivation check.
//!
//! `input_hash = blake3("verity-llm/input" ‖ JSON(prompt_tokens, params))`,
//! `output_hash = blake3("verity-llm/output" ‖ JSON(tokens, text, finish_reason))`,
//! `trace_root` = the completion's trace root. The receipt file is JSON
//! `{"completion": …, "receipt": …}`; a verifier trusts nothing in it until it has re-run
//! the completion and compared every claim.

use serde::{Deserialize, Serialize};
use verity_receipt::{Claims, EvidenceKind, Receipt, ReceiptBody, Signer};

use crate::error::{LlmError, Result};
use crate::forward::Kernel;
use crate::generate::{complete, Completion};
use crate::model::Model;

pub fn input_hash(c: &Completion) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"verity-llm/input\0");
    h.update(serde_json::to_string(&(&c.prompt_tokens, &c.params)).expect("json").as_bytes());
    *h.finalize().as_bytes()
}

pub fn output_hash(c: &Completion) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"verity-llm/output\0");
    h.update(serde_json::to_string(&(&c.tokens, &c.text, &c.finish_reason)).expect("json").as_bytes());
    *h.finalize().as_bytes()
}

fn hex32(s: &str, what: &str) -> Result<[u8; 32]> {
    let v = hex::decode(s).map_err(|e| LlmError::Receipt(format!("{what}: {e}")))?;
    v.try_into().map_err(|_| LlmError::Receipt(format!("{what} is not 32 bytes")))
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReceiptFile {
    pub completion: Completion,
    pub receipt: String,
}

/// The claims a receipt for `c` signs (a node hands them to its batching receipt writer).
pub fn receipt_body(executor: [u8; 20], c: &Completion, timestamp: u64) -> Result<ReceiptBody> {
    Ok(ReceiptBody {
        model_id: hex32(&c.model_id, "model id")?,
        input_hash: input_hash(c),
        output_hash: output_hash(c),
        trace_root: hex32(&c.trace_root, "trace root")?,
        evidence: EvidenceKind::Reexecution,
        executor,
        timestamp,
    })
}

pub fn sign(signer: &Signer, c: &Completion, timestamp: u64) -> Result<ReceiptFile> {
    let body = receipt_body(signer.address(), c, timestamp)?;
    Ok(ReceiptFile { completion: c.clone(), receipt: signer.sign(body).to_json() })
}

/// The check that needs no weights: the signature holds and the signed claims are about
/// exactly the completion the file carries (its model id, prompt and parameters, tokens,
/// text, finish reason and trace root). It does not show that the completion is what the
/// model computes; only [`verify`] (re-execution) does.
pub fn check_claims(file: &ReceiptFile) -> Result<Receipt> {
    let r = Receipt::from_json(&file.receipt).map_err(|e| LlmError::Receipt(e.to_string()))?;
    r.verify_signature().map_err(|e| LlmError::Receipt(e.to_string()))?;
    let c = &file.completion;
    r.check(&Claims { model_id: hex32(&c.model_id, "model id")?, input_hash: input_hash(c), output_hash: output_hash(c) })
        .map_err(|e| LlmError::Receipt(e.to_string()))?;
    if r.body.trace_root != hex32(&c.trace_root, "trace root")? {
        return Err(LlmError::Receipt("the receipt's trace root is not the completion's".into()));
    }
    Ok(r)
}

/// Re-derives the completion from the prompt and parameters the file carries and accepts
/// only if the signature holds and every claim (model, input, output, trace root, and the
/// carried tokens/text) equals what was recomputed.
pub fn verify(model: &Model, file: &ReceiptFile, threads: usize) -> Result<Completion> {
    let r = Receipt::from_json(&file.receipt).map_err(|e| LlmError::Receipt(e.to_string()))?;
    r.verify_signature().map_err(|e| LlmError::Receipt(e.to_string()))?;
    let c = &file.completion;
    let again = complete(model, &c.prompt_tokens, &c.params, Kernel::Fast, threads)?;
    if &again != c {
        return Err(LlmError::Receipt("the completion does not re-derive: tokens, text or trace differ".into()));
    }
    r.check(&Claims { model_id: model.id, input_hash: input_hash(&again), output_hash: output_hash(&again) })
        .map_err(|e| LlmError::Receipt(e.to_string()))?;
    if r.body.trace_root != hex32(&again.trace_root, "trace root")? {
        return Err(LlmError::Receipt("trace root differs from the re-derived one".into()));
    }
    Ok(again)
}
