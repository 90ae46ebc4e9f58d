//! Error types. Every message names what was wrong and what was expected, because these
//! reach users verbatim through the CLI and the node's HTTP API.

use std::path::PathBuf;

use crate::receipt::ClaimField;

/// Why a receipt could not be decoded, verified or matched against claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("receipt is {found} bytes, expected exactly {expected}")]
    Length { expected: usize, found: usize },
    #[error("batch proof has {found} levels, expected 1 to {max}")]
    BatchDepth { found: usize, max: usize },
    #[error("batch index {index} does not fit a batch of depth {depth}")]
    BatchIndex { index: u32, depth: usize },
    #[error("not a Verity receipt: magic is 0x{}, expected \"VRTR\" (0x56525452)", hex::encode(found))]
    Magic { found: [u8; 4] },
    #[error("unsupported receipt format version {found} (this build supports version {supported}){}", version_hint(*found))]
    Version { found: u8, supported: u8 },
    #[error("unknown evidence kind {found} (known: 0 = reexecution, 1 = dispute, 2 = zk)")]
    EvidenceKind { found: u8 },
    #[error("signature v is {found}, must be 27 or 28")]
    SignatureV { found: u8 },
    #[error("signature {component} is zero or not below the secp256k1 group order")]
    SignatureScalar { component: &'static str },
    #[error("signature s is not low-s normalized (s > n/2); Ethereum's ecrecover callers reject such signatures")]
    SignatureHighS,
    #[error("signature does not recover to a valid public key")]
    SignatureRecovery,
    #[error("receipt names executor 0x{} but is signed by 0x{}", hex::encode(executor), hex::encode(recovered))]
    WrongSigner { executor: [u8; 20], recovered: [u8; 20] },
    #[error("receipt {field} is 0x{}, but the verifier computed 0x{}", hex::encode(found), hex::encode(expected))]
    ClaimMismatch { field: ClaimField, expected: [u8; 32], found: [u8; 32] },
    /// Malformed JSON, or a missing, unknown, duplicate or wrongly typed field.
    #[error("invalid receipt JSON: {0}")]
    Json(String),
    /// A JSON field is present but its value is not acceptable.
    #[error("invalid receipt JSON field `{field}`: {reason}")]
    JsonField { field: &'static str, reason: String },
}

/// Why an executor key could not be parsed, loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("invalid secp256k1 private key: {0}")]
    Invalid(String),
    #[error("key file {}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("key file {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the operating system's random number generator failed: {0}")]
    Rng(String),
}

fn version_hint(found: u8) -> &'static str {
    if found == 1 {
        "; version 1 was withdrawn because its batch proofs revealed other receipts' ids: ask the executor to re-issue"
    } else {
        ""
    }
}
