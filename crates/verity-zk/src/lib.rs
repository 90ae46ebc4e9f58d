//! Proofs of inference for canonical models (docs/zk.md): the model compiles to a circuit
//! (`circuit`), the prover and verifier run sumchecks over it (`sumcheck`, `protocol`)
//! with logUp lookups, and a Ligero-style commitment (`pcs`) binds the witness and, once
//! per model, the weights. No trusted setup.

pub mod circuit;
pub mod expr;
pub mod field;
pub mod file;
pub mod layout;
pub mod mle;
pub mod pcs;
pub mod protocol;
pub mod stream;
pub mod sumcheck;
pub mod transcript;
pub mod vk;
