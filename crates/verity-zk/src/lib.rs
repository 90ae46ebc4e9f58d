//! Foundations for zero-knowledge proofs of inference (issue 4, in progress; the design
//! is `docs/zk-plan.md`): the field, a Fiat–Shamir transcript, multilinear extensions and
//! the sumcheck protocol, the matrix-product layer reduction built on them, and a
//! Ligero-style multilinear commitment. No `verity prove` command exists yet.

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
