//! Errors a user can cause: a bad file, an unsupported model, bad parameters.

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("not a valid GGUF file (corrupt or truncated?): {0}")]
    Gguf(String),
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error("GGUF metadata key {key}: {problem}")]
    Metadata { key: String, problem: String },
    #[error("tensor {name}: {problem}")]
    Tensor { name: String, problem: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("invalid sampling parameters: {0}")]
    Params(String),
    #[error("prompt of {tokens} tokens plus {max_new} new tokens exceeds the context of {ctx} positions")]
    Context { tokens: usize, max_new: usize, ctx: usize },
    #[error("receipt: {0}")]
    Receipt(String),
    #[error("the generation was cancelled")]
    Cancelled,
}

pub type Result<T> = std::result::Result<T, LlmError>;
