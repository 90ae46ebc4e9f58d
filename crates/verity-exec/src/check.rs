//! Checking a receipt against a re-execution: the one verification routine that
//! `verity verify`, the node's verifier and the client share.

use std::fmt;

use verity_commit::hash::hex;
use verity_receipt::{ClaimField, Claims, Receipt, ReceiptError};

use crate::Executed;

/// Which part of a receipt failed its check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckField {
    Signature,
    ModelId,
    InputHash,
    OutputHash,
    TraceRoot,
}

impl CheckField {
    pub const fn as_str(self) -> &'static str {
        match self {
            CheckField::Signature => "signature",
            CheckField::ModelId => "model_id",
            CheckField::InputHash => "input_hash",
            CheckField::OutputHash => "output_hash",
            CheckField::TraceRoot => "trace_root",
        }
    }
}

impl fmt::Display for CheckField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A receipt that is not genuine or does not match the re-execution. The messages are the
/// ones `verity verify` has always printed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    #[error("receipt signature is not valid: {0}")]
    Signature(ReceiptError),
    #[error("receipt does not match this model and input: {0}")]
    Claim(ReceiptError),
    #[error("receipt trace root {} differs from the re-executed trace {}", hex(found), hex(expected))]
    TraceRoot { expected: [u8; 32], found: [u8; 32] },
}

impl CheckError {
    /// The field that failed (for an API answer or a mismatch record).
    pub fn field(&self) -> CheckField {
        match self {
            CheckError::Signature(_) => CheckField::Signature,
            CheckError::Claim(ReceiptError::ClaimMismatch { field: ClaimField::ModelId, .. }) => CheckField::ModelId,
            CheckError::Claim(ReceiptError::ClaimMismatch { field: ClaimField::InputHash, .. }) => CheckField::InputHash,
            CheckError::Claim(_) => CheckField::OutputHash,
            CheckError::TraceRoot { .. } => CheckField::TraceRoot,
        }
    }
}

/// The receipt is well formed and signed by the executor it names.
pub fn check_signature(r: &Receipt) -> Result<(), CheckError> {
    r.verify_signature().map_err(CheckError::Signature)
}

/// The receipt claims exactly what re-executing model `model_id` produced: the model id,
/// input hash, output hash (in that order) and the trace root.
pub fn check_execution(r: &Receipt, model_id: &[u8; 32], ex: &Executed) -> Result<(), CheckError> {
    let claims = Claims { model_id: *model_id, input_hash: ex.input_hash, output_hash: ex.output_hash };
    r.check(&claims).map_err(CheckError::Claim)?;
    let root = ex.trace.root();
    if r.body.trace_root != root {
        return Err(CheckError::TraceRoot { expected: root, found: r.body.trace_root });
    }
    Ok(())
}

impl CheckError {
    /// Whether this failure proves the signer wrong. Only a receipt for this model and this
    /// input whose output or trace differs from the re-execution does; a receipt that names
    /// another model or input simply does not apply, and a bad signature binds nobody.
    pub fn proves_fault(&self) -> bool {
        matches!(self.field(), CheckField::OutputHash | CheckField::TraceRoot)
    }
}

/// [`check_signature`] then [`check_execution`].
pub fn check_receipt(r: &Receipt, model_id: &[u8; 32], ex: &Executed) -> Result<(), CheckError> {
    check_signature(r)?;
    check_execution(r, model_id, ex)
}
