use thiserror::Error;

/// Why a message from a peer was refused. Every variant is counted (see
/// [`crate::metrics::Metrics::reject`]).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NetError {
    #[error("truncated {what}: needs {need} bytes, has {have}")]
    Truncated { what: &'static str, need: usize, have: usize },
    #[error("oversized {what}: {size} exceeds the limit of {max}")]
    Oversized { what: &'static str, size: usize, max: usize },
    #[error("wrong protocol version {found} (this node speaks version {supported})")]
    WrongVersion { found: u8, supported: u8 },
    #[error("replayed {0}")]
    Replayed(&'static str),
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("bad signature on the {what}: {why}")]
    BadSignature { what: &'static str, why: String },
    #[error("invalid fraud proof: {0}")]
    InvalidFraudProof(String),
    #[error("{0}")]
    Transport(String),
}

impl NetError {
    /// The label under which the rejection is counted.
    pub fn label(&self) -> &'static str {
        match self {
            NetError::Truncated { .. } => "truncated",
            NetError::Oversized { .. } => "oversized",
            NetError::WrongVersion { .. } => "wrong_version",
            NetError::Replayed(_) => "replayed",
            NetError::Malformed(_) => "malformed",
            NetError::BadSignature { .. } => "bad_signature",
            NetError::InvalidFraudProof(_) => "invalid_fraud_proof",
            NetError::Transport(_) => "transport",
        }
    }
}
