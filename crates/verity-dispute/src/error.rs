use thiserror::Error;

/// Why a move was rejected. A rejected move changes nothing: the party on turn may
/// still make a valid move before its deadline.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DisputeError {
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("out of turn: it is the {expected}'s move, not the {got}'s")]
    OutOfTurn { expected: &'static str, got: &'static str },
    #[error("a '{got}' move is not allowed now (expected {expected})")]
    WrongMove { expected: &'static str, got: &'static str },
    #[error("invalid proof: {0}")]
    InvalidProof(String),
    #[error("the game is over")]
    Finished,
    #[error("invalid statement: {0}")]
    Statement(String),
}
