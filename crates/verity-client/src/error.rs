//! What can go wrong talking to a node, by whose fault.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The node could not be reached, or the connection broke.
    #[error("{0}")]
    Transport(String),
    /// The node answered with an error status and `{"error": ...}`.
    #[error("the node answered {status}: {message}")]
    Node { status: u16, message: String },
    /// The node answered 2xx with something that is not the API's shape.
    #[error("{0}")]
    Protocol(String),
    /// The answer is well formed but false: a hash, output or receipt that a local
    /// re-execution does not reproduce. Never print or use such an answer.
    #[error("verification failed: {0}")]
    Verification(String),
    /// The node accepted a proof job but reports that proving it failed.
    #[error("the node could not prove it: {0}")]
    ProofFailed(String),
    /// A problem on this side (a bad input file, a model that does not import).
    #[error("{0}")]
    Local(String),
}

pub type Result<T> = std::result::Result<T, Error>;
