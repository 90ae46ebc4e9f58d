use thiserror::Error;

/// Every way a canonical model, its inputs, or its encoding can be wrong.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ModelError {
    #[error("not a Verity model file (bad magic bytes)")]
    BadMagic,
    #[error("unsupported model format version {found} (this build reads version {supported})")]
    BadVersion { found: u16, supported: u16 },
    #[error("model file is truncated or corrupted: {0}")]
    Corrupt(String),
    #[error("invalid model: {0}")]
    Invalid(String),
    #[error("invalid input: {0}")]
    Input(String),
}

pub type Result<T> = std::result::Result<T, ModelError>;

pub(crate) fn invalid<T>(msg: impl Into<String>) -> Result<T> {
    Err(ModelError::Invalid(msg.into()))
}
