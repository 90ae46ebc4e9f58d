//! Everything a request handler needs, shared behind one `Arc`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use verity_engine::Engine;
use verity_model::Model;
use verity_receipt::Signer;

use crate::budget::ByteBudget;
use crate::config::NodeConfig;
use crate::error::{ApiError, ApiResult};
use crate::limiter::{Limiter, Permit};
use crate::metrics::Metrics;
use crate::proofs::Prover;
use crate::receipts::ReceiptWriter;
use crate::store::Store;
use crate::verifier::Auditor;

pub struct AppState {
    pub config: NodeConfig,
    pub store: Arc<Store>,
    pub receipts: ReceiptWriter,
    pub signer: Arc<Signer>,
    /// EIP-55 address of `signer`.
    pub executor: String,
    pub metrics: Arc<Metrics>,
    pub limiter: Limiter,
    /// Request-body bytes in memory (`--max-inflight-bytes`).
    pub bodies: Arc<ByteBudget>,
    pub auditor: Auditor,
    pub prover: Prover,
    /// The p2p network, when started (`--p2p-listen`).
    pub net: crate::p2p::Net,
    /// Ends the proof event streams when the node shuts down.
    pub events: crate::events::Stopping,
    /// The LLMs loaded at start (`--llm`), served by `/v1/chat/completions`.
    pub llms: crate::chat::Llms,
    /// The settlement contracts, when on a chain (`--chain-rpc`).
    pub chain: crate::settle::OnChain,
    /// Where forwarded inferences go, and the network's event counters.
    pub routes: crate::forward::Routes,
    models: ModelCache,
}

/// A model ready to run: decoded, validated and prepared by the engine.
pub struct Loaded {
    pub id: [u8; 32],
    pub id_hex: String,
    pub model: Model,
    pub engine: Engine,
}

/// The prepared models most recently loaded (preparing packs weights, so it is worth
/// keeping; the bound keeps memory finite however many models are published).
struct ModelCache {
    cap: usize,
    inner: Mutex<CacheMap>,
}

/// Loaded models by id, and ids in insertion order (the oldest is evicted first).
type CacheMap = (HashMap<[u8; 32], Arc<Loaded>>, VecDeque<[u8; 32]>);

impl AppState {
    pub fn new(
        config: NodeConfig,
        store: Arc<Store>,
        receipts: ReceiptWriter,
        signer: Arc<Signer>,
        metrics: Arc<Metrics>,
        auditor: Auditor,
        prover: Prover,
    ) -> Self {
        let executor = verity_receipt::to_checksum_address(&signer.address());
        let limiter = Limiter::new(config.max_concurrency, config.max_queue);
        let models = ModelCache { cap: config.model_cache.max(1), inner: Mutex::default() };
        let bodies = ByteBudget::new(config.max_inflight_bytes);
        AppState {
            config,
            store,
            receipts,
            signer,
            executor,
            metrics,
            limiter,
            bodies,
            auditor,
            prover,
            net: Default::default(),
            events: Default::default(),
            llms: Default::default(),
            routes: Default::default(),
            chain: Default::default(),
            models,
        }
    }

    /// A compute slot, or 503 when the node is saturated.
    pub async fn permit(&self) -> ApiResult<Permit> {
        self.limiter.acquire().await.map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the node is at capacity ({} computing, {} queued); retry later",
                    self.config.max_concurrency, self.config.max_queue
                ),
            )
        })
    }

    /// The prepared model with this id (from the cache or the store); 404 if unknown.
    /// Call from a blocking context: it may read and prepare the model.
    pub fn model(&self, id: &[u8; 32]) -> ApiResult<Arc<Loaded>> {
        if let Some(m) = self.models.inner.lock().unwrap_or_else(|e| e.into_inner()).0.get(id) {
            return Ok(m.clone());
        }
        let id_hex = verity_commit::hash::hex(id);
        let bytes = self
            .store
            .read_model(id)
            .map_err(|e| ApiError::internal("cannot read a stored model", format!("{e:#}")))?
            .ok_or_else(|| ApiError::not_found(format!("no model with id {id_hex} on this node")))?;
        // The blob was checked against its id; a stored model that no longer decodes or
        // prepares means this build cannot serve it, which is the node's problem.
        let mut model = Model::decode(&bytes).map_err(|e| ApiError::internal("a stored model does not decode", e))?;
        if self.config.cheat_weight {
            crate::cheat::change_one_weight(&mut model);
        }
        let engine = Engine::new(&model).map_err(|e| ApiError::internal("a stored model cannot be prepared", e))?;
        let loaded = Arc::new(Loaded { id: *id, id_hex, model, engine });
        let mut guard = self.models.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *guard;
        if map.insert(*id, loaded.clone()).is_none() {
            order.push_back(*id);
            while order.len() > self.models.cap {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
        Ok(loaded)
    }
}
