use alloy::sol_types::SolInterface;

use crate::bindings::game::DisputeGame;
use crate::bindings::referee::OneStepReferee;
use crate::bindings::{BatchSettlement, ModelRegistry, Staking};

/// What went wrong talking to the chain, phrased for the person who ran the command.
#[derive(Debug, thiserror::Error)]
pub enum SettlementError {
    #[error("invalid RPC URL '{0}'")]
    BadUrl(String),
    #[error("cannot reach the RPC endpoint {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("invalid key: {0}")]
    BadKey(String),
    #[error(
        "no key given, and chain {chain_id} is not anvil's {} (whose dev accounts are used by default)",
        crate::ANVIL_CHAIN_ID
    )]
    NoKey { chain_id: u64 },
    #[error("wrong chain: the deployment is on chain {expected}, the RPC endpoint serves chain {found}")]
    WrongChain { expected: u64, found: u64 },
    #[error("no {name} contract at {address} on this chain (was the chain restarted since the deployment?)")]
    NoContract { name: &'static str, address: String },
    #[error(
        "{executor} is not an active staked executor (stake at least the minimum with `verity stake`, and do not be unbonding)"
    )]
    NotActive { executor: String },
    /// A contract refused the call, with its custom error decoded.
    #[error("{contract} rejected the transaction: {reason}")]
    Rejected { contract: &'static str, reason: String },
    #[error("transaction {hash} was mined but reverted")]
    Reverted { hash: String },
    #[error("deployment file: {0}")]
    DeploymentFile(String),
    #[error("anvil: {0}")]
    Anvil(String),
    #[error("RPC error: {0}")]
    Rpc(String),
}

impl SettlementError {
    pub(crate) fn rpc(e: impl std::fmt::Display) -> Self {
        SettlementError::Rpc(e.to_string())
    }

    /// A contract call's failure: a custom error of one of our contracts if the revert data
    /// decodes as one, else the transport's own error.
    pub fn from_contract(e: alloy::contract::Error) -> Self {
        if let Some(data) = e.as_revert_data() {
            if let Ok(x) = Staking::StakingErrors::abi_decode(&data) {
                return Self::Rejected { contract: "Staking", reason: tidy(format!("{x:?}")) };
            }
            if let Ok(x) = BatchSettlement::BatchSettlementErrors::abi_decode(&data) {
                return Self::Rejected { contract: "BatchSettlement", reason: tidy(format!("{x:?}")) };
            }
            if let Ok(x) = ModelRegistry::ModelRegistryErrors::abi_decode(&data) {
                return Self::Rejected { contract: "ModelRegistry", reason: tidy(format!("{x:?}")) };
            }
            if let Ok(x) = DisputeGame::DisputeGameErrors::abi_decode(&data) {
                return Self::Rejected { contract: "DisputeGame", reason: tidy(format!("{x:?}")) };
            }
            if let Ok(x) = OneStepReferee::OneStepRefereeErrors::abi_decode(&data) {
                return Self::Rejected { contract: "OneStepReferee", reason: tidy(format!("{x:?}")) };
            }
            return Self::Rejected { contract: "a contract", reason: format!("unknown revert data {data}") };
        }
        Self::Rpc(e.to_string())
    }

    /// The contract error's name, if this is a contract's refusal (for tests and callers
    /// that react to one refusal in particular).
    pub fn rejection(&self) -> Option<&str> {
        match self {
            Self::Rejected { reason, .. } => Some(reason.split(['(', ' ']).next().unwrap_or(reason)),
            _ => None,
        }
    }
}

/// `Name(Name { a: 1 })` (the Debug form of a decoded error enum) → `Name { a: 1 }`.
fn tidy(s: String) -> String {
    match s.split_once('(') {
        Some((name, rest)) if rest.starts_with(name) && rest.ends_with(')') => rest[..rest.len() - 1].to_string(),
        _ => s,
    }
}
