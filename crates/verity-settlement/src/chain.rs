//! A connection to an EVM chain with one signing account, the deployment of the settlement
//! contracts, and typed calls to them.

use std::path::Path;
use std::time::Duration;

use alloy::contract::Error as ContractError;
use alloy::network::{Ethereum, EthereumWallet};
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, PendingTransactionBuilder, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest;
use serde::{Deserialize, Serialize};

use crate::anvil::DEV_KEYS;
use crate::bindings::game::DisputeGame;
use crate::bindings::referee::OneStepReferee;
use crate::bindings::{BatchSettlement, ModelRegistry, Staking};
use crate::error::SettlementError;

/// Anvil's chain id: on it, anvil's first dev account signs unless a key is given.
pub const ANVIL_CHAIN_ID: u64 = 31337;
/// The deepest batch the contract (and `verity-receipt`) accepts.
pub const MAX_BATCH_DEPTH: u8 = 20;
/// `ModelRegistry.KIND_BLAKE3`: verity-commit v2 (BLAKE3), no longer accepted by the registry.
pub const KIND_BLAKE3: u8 = 1;
/// `ModelRegistry.KIND_KECCAK`: verity-commit v3 (Keccak-256), where the model id is the
/// commitment; what `register_model` uses and what the dispute game requires.
pub const KIND_KECCAK: u8 = 2;

/// A request that gets no answer within this is reported as an unreachable endpoint
/// instead of hanging the command.
const RPC_TIMEOUT: Duration = Duration::from_secs(30);

/// One signing account on one chain.
#[derive(Clone)]
pub struct Chain {
    provider: DynProvider,
    url: String,
    chain_id: u64,
    sender: Address,
    /// Held while a transaction is sent: each takes the node's pending nonce, so two sent at
    /// once from one account (a node posting a batch while playing a game) would take the
    /// same one and one would fail.
    sending: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// A mined transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Tx {
    pub hash: B256,
    pub block: u64,
    pub gas_used: u64,
}

/// Parameters fixed at deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeployParams {
    pub min_stake: u128,
    /// Seconds between `requestUnbond` and a possible `withdraw`; at least `challenge_window`.
    pub unbonding_delay: u64,
    /// Seconds after posting during which a batch can be challenged.
    pub challenge_window: u64,
    /// The one account allowed to lock, unlock and slash stakes (the future dispute
    /// contract). The zero address means nobody can, until a deployment that has one.
    pub challenger_manager: Address,
}

impl Default for DeployParams {
    fn default() -> Self {
        DeployParams {
            min_stake: 10u128.pow(18),
            unbonding_delay: 7 * 86_400,
            challenge_window: 86_400,
            challenger_manager: Address::ZERO,
        }
    }
}

/// Where the contracts are: what `verity chain deploy` writes and the other commands read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Format of this file.
    pub version: u32,
    pub chain_id: u64,
    /// The block of the first deployment transaction (where a log scan can start).
    pub block: u64,
    pub deployer: Address,
    pub registry: Address,
    pub staking: Address,
    pub settlement: Address,
    pub challenger_manager: Address,
    #[serde(with = "decimal")]
    pub min_stake: u128,
    pub unbonding_delay: u64,
    pub challenge_window: u64,
    /// The dispute game (Staking's challenger manager), when deployed with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub game: Option<GameDeployment>,
}

/// The dispute game of a deployment and its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameDeployment {
    pub game: Address,
    pub referee: Address,
    /// The challenger's bond, wei.
    #[serde(with = "decimal")]
    pub bond: u128,
    /// Seconds each party has for its move.
    pub move_timeout: u64,
}

/// Parameters of the dispute game, fixed at deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GameParams {
    pub bond: u128,
    pub move_timeout: u64,
}

impl Default for GameParams {
    fn default() -> Self {
        GameParams { bond: 10u128.pow(17), move_timeout: 3_600 }
    }
}

pub const DEPLOYMENT_VERSION: u32 = 1;

impl Deployment {
    pub fn load(path: &Path) -> Result<Deployment, SettlementError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            SettlementError::DeploymentFile(format!("cannot read {}: {e} (run `verity chain deploy` first)", path.display()))
        })?;
        let d: Deployment = serde_json::from_str(&text)
            .map_err(|e| SettlementError::DeploymentFile(format!("{} is not a deployment file: {e}", path.display())))?;
        if d.version != DEPLOYMENT_VERSION {
            return Err(SettlementError::DeploymentFile(format!(
                "{} has format version {}, this build reads {DEPLOYMENT_VERSION}",
                path.display(),
                d.version
            )));
        }
        Ok(d)
    }

    pub fn save(&self, path: &Path) -> Result<(), SettlementError> {
        let text = serde_json::to_string_pretty(self).expect("a deployment serializes") + "\n";
        std::fs::write(path, text).map_err(|e| SettlementError::DeploymentFile(format!("cannot write {}: {e}", path.display())))
    }
}

/// A deployment and the gas each of its transactions used.
#[derive(Clone, Debug)]
pub struct Deployed {
    pub deployment: Deployment,
    pub gas: Vec<(&'static str, u64)>,
}

/// A model's registry entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ModelEntry {
    pub publisher: Address,
    pub kind: u8,
    pub registered_at: u64,
    pub commitment: B256,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StakeInfo {
    #[serde(with = "decimal")]
    pub amount: u128,
    /// When a withdrawal becomes possible; 0 while active.
    pub unbond_at: u64,
    /// Pending challenges holding the stake.
    pub locks: u32,
    /// May post batches (staked at least the minimum, not unbonding).
    pub active: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchStatus {
    /// Never posted by this poster.
    Unknown,
    /// Inside its challenge window.
    Open,
    /// Past its window: final.
    Final,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BatchInfo {
    pub status: BatchStatus,
    pub depth: u8,
    pub posted_at: u64,
    /// When the batch is (or became) final.
    pub final_at: u64,
}

fn parse_key(text: &str) -> Result<PrivateKeySigner, SettlementError> {
    let digits = text.trim();
    let digits = digits.strip_prefix("0x").unwrap_or(digits);
    if digits.len() != 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        // Never echo the text: it may be most of a secret key.
        return Err(SettlementError::BadKey(format!(
            "expected 64 hex digits (optionally 0x-prefixed), found {} characters",
            digits.len()
        )));
    }
    digits.parse().map_err(|_| SettlementError::BadKey("not a valid secp256k1 secret key".into()))
}

fn is_loopback(url: &reqwest::Url) -> bool {
    matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
}

impl Chain {
    /// Connects to `rpc` and signs with `key` (64 hex digits), or, on anvil's chain id, with
    /// anvil's first dev account.
    pub async fn connect(rpc: &str, key: Option<&str>) -> Result<Chain, SettlementError> {
        Self::open(rpc, key, false).await
    }

    /// Like [`Chain::connect`], but without a key on a chain other than anvil's it still
    /// connects, for views only: its sender is a fresh random account with no funds.
    pub async fn connect_read_only(rpc: &str, key: Option<&str>) -> Result<Chain, SettlementError> {
        Self::open(rpc, key, true).await
    }

    async fn open(rpc: &str, key: Option<&str>, read_only: bool) -> Result<Chain, SettlementError> {
        let url: reqwest::Url = rpc.parse().map_err(|_| SettlementError::BadUrl(rpc.to_string()))?;
        // Built without TLS (a smaller dependency tree): an https endpoint would fail later
        // with a less helpful message.
        if url.scheme() != "http" {
            return Err(SettlementError::BadUrl(format!("{rpc} (only http:// endpoints are supported: this build has no TLS)")));
        }
        let http = reqwest::Client::builder()
            .timeout(RPC_TIMEOUT)
            .build()
            .map_err(|e| SettlementError::Rpc(format!("cannot build an HTTP client: {e}")))?;
        let unreachable =
            |e: &dyn std::fmt::Display| SettlementError::Unreachable { url: rpc.to_string(), reason: e.to_string() };
        let probe = ProviderBuilder::new().connect_reqwest(http.clone(), url.clone());
        let chain_id = probe.get_chain_id().await.map_err(|e| unreachable(&e))?;
        let signer = match key {
            Some(k) => parse_key(k)?,
            None if chain_id == ANVIL_CHAIN_ID => DEV_KEYS[0].parse().expect("a valid constant key"),
            None if read_only => PrivateKeySigner::random(),
            None => return Err(SettlementError::NoKey { chain_id }),
        };
        let sender = signer.address();
        // alloy's default nonce cache hands out a nonce to a transaction that then fails its
        // gas estimate (a contract refusal), leaving a gap that stalls every later one; ask
        // the node for the pending nonce of each transaction instead.
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(EthereumWallet::from(signer))
            .connect_reqwest(http, url.clone())
            .erased();
        if is_loopback(&url) {
            // A local chain mines at once; alloy's 250 ms receipt poll would dominate the tests.
            provider.client().set_poll_interval(Duration::from_millis(20));
        }
        Ok(Chain { provider, url: rpc.to_string(), chain_id, sender, sending: Default::default() })
    }

    /// One transaction at a time from this account (see `sending`); hold the guard until
    /// the transaction is sent.
    pub(crate) async fn sending(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.sending.lock().await
    }

    /// Sends `call` (one at a time from this account) and waits until it is mined.
    pub(crate) async fn send<P: Provider, D: alloy::contract::CallDecoder>(
        &self,
        call: alloy::contract::CallBuilder<P, D>,
    ) -> Result<Tx, SettlementError> {
        let sent = {
            let _one = self.sending().await;
            call.send().await
        };
        confirm(sent).await
    }

    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The signing account.
    pub fn sender(&self) -> Address {
        self.sender
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    pub async fn balance(&self, who: Address) -> Result<U256, SettlementError> {
        self.provider.get_balance(who).await.map_err(SettlementError::rpc)
    }

    pub async fn block_number(&self) -> Result<u64, SettlementError> {
        self.provider.get_block_number().await.map_err(SettlementError::rpc)
    }

    /// Sends `wei` to `to` (funding an account, e.g. the nodes of `verity devnet --chain`).
    pub async fn send_value(&self, to: Address, wei: u128) -> Result<Tx, SettlementError> {
        use alloy::network::TransactionBuilder;
        let req = alloy::rpc::types::TransactionRequest::default().with_to(to).with_value(U256::from(wei));
        let one = self.sending().await;
        let pending = self.provider.send_transaction(req).await.map_err(SettlementError::rpc)?;
        drop(one);
        confirm(Ok(pending)).await
    }

    /// The same chain signed by another key.
    pub async fn with_key(&self, key: &str) -> Result<Chain, SettlementError> {
        Chain::connect(&self.url, Some(key)).await
    }

    /// Deploys Staking, BatchSettlement and ModelRegistry.
    pub async fn deploy(&self, p: &DeployParams) -> Result<Deployed, SettlementError> {
        if p.challenge_window == 0 || p.unbonding_delay < p.challenge_window {
            return Err(SettlementError::Rpc(format!(
                "the challenge window ({} s) must be positive and at most the unbonding delay ({} s)",
                p.challenge_window, p.unbonding_delay
            )));
        }
        let pr = self.provider.clone();
        let staking = Staking::deploy_builder(pr.clone(), U256::from(p.min_stake), p.unbonding_delay, p.challenger_manager);
        let (staking_tx, staking) = confirm_deploy(staking.send().await).await?;
        let settlement = BatchSettlement::deploy_builder(pr.clone(), staking, p.challenge_window);
        let (settlement_tx, settlement) = confirm_deploy(settlement.send().await).await?;
        let (registry_tx, registry) = confirm_deploy(ModelRegistry::deploy_builder(pr).send().await).await?;
        let deployment = Deployment {
            version: DEPLOYMENT_VERSION,
            chain_id: self.chain_id,
            block: staking_tx.block,
            deployer: self.sender,
            registry,
            staking,
            settlement,
            challenger_manager: p.challenger_manager,
            min_stake: p.min_stake,
            unbonding_delay: p.unbonding_delay,
            challenge_window: p.challenge_window,
            game: None,
        };
        let gas = vec![
            ("Staking", staking_tx.gas_used),
            ("BatchSettlement", settlement_tx.gas_used),
            ("ModelRegistry", registry_tx.gas_used),
        ];
        Ok(Deployed { deployment, gas })
    }

    /// Deploys the settlement contracts with the dispute game as Staking's challenger
    /// manager (`p.challenger_manager` is ignored): Staking is deployed first with the address
    /// the game will have (its deployer's nonce fixes it), then the others and the game.
    pub async fn deploy_with_game(&self, p: &DeployParams, g: &GameParams) -> Result<Deployed, SettlementError> {
        if g.move_timeout == 0 || g.bond == 0 || g.bond >= 1u128 << 96 {
            return Err(SettlementError::Rpc("the move timeout and the bond must be positive (bond below 2^96 wei)".into()));
        }
        let nonce = self.provider.get_transaction_count(self.sender).await.map_err(SettlementError::rpc)?;
        let game_at = self.sender.create(nonce + 4);
        let mut d = self.deploy(&DeployParams { challenger_manager: game_at, ..*p }).await?;
        let pr = self.provider.clone();
        let (referee_tx, referee) = confirm_deploy(OneStepReferee::deploy_builder(pr.clone()).send().await).await?;
        let dep = &d.deployment;
        let game = DisputeGame::deploy_builder(
            pr,
            dep.staking,
            dep.settlement,
            dep.registry,
            referee,
            alloy::primitives::Uint::<96, 2>::from(g.bond),
            g.move_timeout,
        );
        let (game_tx, game) = confirm_deploy(game.send().await).await?;
        if game != game_at {
            return Err(SettlementError::Rpc(format!(
                "the dispute game landed at {game}, not at {game_at} that Staking was deployed for (another transaction from {} in between?)",
                self.sender
            )));
        }
        d.deployment.game = Some(GameDeployment { game, referee, bond: g.bond, move_timeout: g.move_timeout });
        d.gas.push(("OneStepReferee", referee_tx.gas_used));
        d.gas.push(("DisputeGame", game_tx.gas_used));
        Ok(d)
    }

    /// The contracts of `d`, after checking that this is their chain and that they are there.
    pub async fn attach(&self, d: &Deployment) -> Result<Settlement, SettlementError> {
        if d.chain_id != self.chain_id {
            return Err(SettlementError::WrongChain { expected: d.chain_id, found: self.chain_id });
        }
        for (name, address) in [("ModelRegistry", d.registry), ("Staking", d.staking), ("BatchSettlement", d.settlement)] {
            let code = self.provider.get_code_at(address).await.map_err(SettlementError::rpc)?;
            if code.is_empty() {
                return Err(SettlementError::NoContract { name, address: address.to_string() });
            }
        }
        if let Some(g) = &d.game {
            for (name, address) in [("OneStepReferee", g.referee), ("DisputeGame", g.game)] {
                if self.provider.get_code_at(address).await.map_err(SettlementError::rpc)?.is_empty() {
                    return Err(SettlementError::NoContract { name, address: address.to_string() });
                }
            }
        }
        Ok(Settlement {
            game: d.game.map(|g| DisputeGame::new(g.game, self.provider.clone())),
            referee: d.game.map(|g| OneStepReferee::new(g.referee, self.provider.clone())),
            chain: self.clone(),
            deployment: d.clone(),
            registry: ModelRegistry::new(d.registry, self.provider.clone()),
            staking: Staking::new(d.staking, self.provider.clone()),
            batches: BatchSettlement::new(d.settlement, self.provider.clone()),
        })
    }
}

pub(crate) async fn confirm(pending: Result<PendingTransactionBuilder<Ethereum>, ContractError>) -> Result<Tx, SettlementError> {
    let receipt = pending.map_err(SettlementError::from_contract)?.get_receipt().await.map_err(SettlementError::rpc)?;
    let hash = receipt.transaction_hash;
    if !receipt.status() {
        return Err(SettlementError::Reverted { hash: hash.to_string() });
    }
    Ok(Tx { hash, block: receipt.block_number.unwrap_or_default(), gas_used: receipt.gas_used })
}

async fn confirm_deploy(
    pending: Result<PendingTransactionBuilder<Ethereum>, ContractError>,
) -> Result<(Tx, Address), SettlementError> {
    let receipt = pending.map_err(SettlementError::from_contract)?.get_receipt().await.map_err(SettlementError::rpc)?;
    let hash = receipt.transaction_hash;
    match receipt.contract_address {
        Some(address) if receipt.status() => {
            Ok((Tx { hash, block: receipt.block_number.unwrap_or_default(), gas_used: receipt.gas_used }, address))
        }
        _ => Err(SettlementError::Reverted { hash: hash.to_string() }),
    }
}

/// The deployed contracts, called by one account.
#[derive(Clone)]
pub struct Settlement {
    chain: Chain,
    deployment: Deployment,
    registry: ModelRegistry::ModelRegistryInstance<DynProvider>,
    staking: Staking::StakingInstance<DynProvider>,
    batches: BatchSettlement::BatchSettlementInstance<DynProvider>,
    pub(crate) game: Option<DisputeGame::DisputeGameInstance<DynProvider>>,
    pub(crate) referee: Option<OneStepReferee::OneStepRefereeInstance<DynProvider>>,
}

impl Settlement {
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// The same contracts, called by another key.
    pub async fn with_key(&self, key: &str) -> Result<Settlement, SettlementError> {
        self.chain.with_key(key).await?.attach(&self.deployment).await
    }

    /// Registers `id` with today's commitment scheme (Keccak-256; the id is its own commitment).
    pub async fn register_model(&self, id: B256) -> Result<Tx, SettlementError> {
        self.chain.send(self.registry.register(id, KIND_KECCAK, id)).await
    }

    /// Registers `id` with an explicit kind and commitment (the contract decides what it accepts).
    pub async fn register_model_with(&self, id: B256, kind: u8, commitment: B256) -> Result<Tx, SettlementError> {
        self.chain.send(self.registry.register(id, kind, commitment)).await
    }

    pub async fn model(&self, id: B256) -> Result<Option<ModelEntry>, SettlementError> {
        let m = self.registry.model(id).call().await.map_err(SettlementError::from_contract)?;
        Ok((m.publisher != Address::ZERO).then_some(ModelEntry {
            publisher: m.publisher,
            kind: m.kind,
            registered_at: m.registeredAt,
            commitment: m.commitment,
        }))
    }

    /// Stakes (or tops up) `amount` wei for the sender, which becomes its executor address.
    pub async fn stake(&self, amount: u128) -> Result<Tx, SettlementError> {
        self.chain.send(self.staking.stake().value(U256::from(amount))).await
    }

    pub async fn request_unbond(&self) -> Result<Tx, SettlementError> {
        self.chain.send(self.staking.requestUnbond()).await
    }

    pub async fn withdraw(&self) -> Result<Tx, SettlementError> {
        self.chain.send(self.staking.withdraw()).await
    }

    /// Challenger-manager role only.
    pub async fn lock(&self, executor: Address) -> Result<Tx, SettlementError> {
        self.chain.send(self.staking.lock(executor)).await
    }

    /// Challenger-manager role only.
    pub async fn unlock(&self, executor: Address) -> Result<Tx, SettlementError> {
        self.chain.send(self.staking.unlock(executor)).await
    }

    /// Challenger-manager role only: cuts `amount`, burns `Staking.BURN_BPS` of it and
    /// credits the rest to `to`.
    pub async fn slash(&self, executor: Address, amount: u128, to: Address) -> Result<Tx, SettlementError> {
        self.chain.send(self.staking.slash(executor, U256::from(amount), to)).await
    }

    /// Pays out the sender's slashing rewards.
    pub async fn claim(&self) -> Result<Tx, SettlementError> {
        self.chain.send(self.staking.claim()).await
    }

    pub async fn credit(&self, who: Address) -> Result<U256, SettlementError> {
        self.staking.credit(who).call().await.map_err(SettlementError::from_contract)
    }

    pub async fn total_burned(&self) -> Result<U256, SettlementError> {
        self.staking.totalBurned().call().await.map_err(SettlementError::from_contract)
    }

    pub async fn stake_of(&self, executor: Address) -> Result<StakeInfo, SettlementError> {
        let s = self.staking.stakeOf(executor).call().await.map_err(SettlementError::from_contract)?;
        let active = self.staking.isActive(executor).call().await.map_err(SettlementError::from_contract)?;
        Ok(StakeInfo { amount: s.amount, unbond_at: s.unbondAt, locks: s.locks, active })
    }

    /// Posts a batch root as the sender; refuses up front (with a clear error) when the
    /// sender is not an active executor, which the contract would refuse too.
    pub async fn post_batch(&self, root: B256, depth: u8) -> Result<Tx, SettlementError> {
        let me = self.chain.sender;
        if !self.staking.isActive(me).call().await.map_err(SettlementError::from_contract)? {
            return Err(SettlementError::NotActive { executor: me.to_string() });
        }
        self.post_batch_unchecked(root, depth).await
    }

    /// Posts without the local check (so tests can see the contract refuse by itself).
    pub async fn post_batch_unchecked(&self, root: B256, depth: u8) -> Result<Tx, SettlementError> {
        self.chain.send(self.batches.postBatch(root, depth)).await
    }

    pub async fn batch_status(&self, poster: Address, root: B256) -> Result<BatchInfo, SettlementError> {
        let b = self.batches.batch(poster, root).call().await.map_err(SettlementError::from_contract)?;
        let status = self.batches.status(poster, root).call().await.map_err(SettlementError::from_contract)?;
        let status = match status {
            0 => BatchStatus::Unknown,
            1 => BatchStatus::Open,
            2 => BatchStatus::Final,
            other => return Err(SettlementError::Rpc(format!("BatchSettlement returned an unknown status {other}"))),
        };
        let final_at = if b.postedAt == 0 { 0 } else { b.postedAt + self.deployment.challenge_window };
        Ok(BatchInfo { status, depth: b.depth, posted_at: b.postedAt, final_at })
    }

    /// Whether `leaf` is leaf `index` of the batch `root` posted by `poster`, checked by the
    /// contract from the sibling `path` (leaf to root).
    pub async fn is_included(
        &self,
        poster: Address,
        root: B256,
        leaf: B256,
        index: u64,
        path: &[B256],
    ) -> Result<bool, SettlementError> {
        self.batches
            .isIncluded(poster, root, leaf, U256::from(index), path.to_vec())
            .call()
            .await
            .map_err(SettlementError::from_contract)
    }

    /// The gas a transaction calling `isIncluded` would use (the view's on-chain cost when a
    /// future contract calls it, plus the transaction's base cost).
    pub async fn is_included_gas(
        &self,
        poster: Address,
        root: B256,
        leaf: B256,
        index: u64,
        path: &[B256],
    ) -> Result<u64, SettlementError> {
        self.batches
            .isIncluded(poster, root, leaf, U256::from(index), path.to_vec())
            .estimate_gas()
            .await
            .map_err(SettlementError::from_contract)
    }

    pub async fn batch_count(&self) -> Result<u64, SettlementError> {
        self.batches.batchCount().call().await.map_err(SettlementError::from_contract)
    }
}

/// u128 as a decimal string: wei amounts exceed what JSON numbers hold exactly in most readers.
pub(crate) mod decimal {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|_| serde::de::Error::custom(format!("expected a decimal wei amount, found '{s}'")))
    }
}
