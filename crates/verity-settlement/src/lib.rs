//! Settlement of Verity receipts on an EVM chain: a model registry, executor stakes, and
//! receipt-batch roots posted by staked executors (see `docs/settlement.md`).
//!
//! The contracts live in `contracts/src`; their compiled artifacts in `contracts/out` are
//! committed, and the bindings here are generated from them at compile time, so building
//! this crate needs no Solidity compiler. `dispute` plays the bisection game of
//! `verity-dispute` on chain, down to the Solidity one-step referee.

pub mod anvil;
mod bindings;
mod chain;
pub mod dispute;
mod error;
pub mod party;

pub use alloy;
pub use alloy::primitives::{Address, B256, U256};
pub use bindings::game::{DisputeGame, NodeBytes, OneStep, VerityModel};
pub use bindings::referee::OneStepReferee;
pub use bindings::{BatchSettlement, ModelRegistry, Staking};
pub use chain::{
    BatchInfo, BatchStatus, Chain, DeployParams, Deployed, Deployment, GameDeployment, GameParams, ModelEntry, Settlement,
    StakeInfo, Tx, ANVIL_CHAIN_ID, DEPLOYMENT_VERSION, KIND_BLAKE3, KIND_KECCAK, MAX_BATCH_DEPTH,
};
pub use error::SettlementError;

/// Runs a future to completion on a fresh single-threaded runtime: for synchronous callers
/// (the CLI) of this crate's async API.
pub fn block_on<F: std::future::Future>(f: F) -> std::io::Result<F::Output> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(f))
}
