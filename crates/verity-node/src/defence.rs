//! What this node defends a receipt it issued with, in a game over the network
//! (`forward`) or on chain (`settle`): the model as it really ran here (whatever that was),
//! the commitment of the model the receipt names, the inputs, and its own execution.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::http::StatusCode;
use verity_commit::ModelCommitment;
use verity_dispute::{Execution, Executor, Statement};
use verity_exec::api::ReceiptRecord;
use verity_model::{Model, Tensor};
use verity_receipt::Receipt;

use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, Loaded};

pub struct Defence {
    pub receipt: Receipt,
    pub model: Arc<Loaded>,
    pub commitment: Arc<ModelCommitment>,
    pub inputs: Vec<Tensor>,
    pub run: Arc<Execution>,
}

impl Defence {
    /// Builds the defence of a stored record; CPU work, for a blocking context. The
    /// commitment hashes every weight and a game asks for ~30 steps, each replayed from the
    /// same execution, so both are kept in small bounded caches.
    pub fn of(st: &AppState, record: ReceiptRecord) -> ApiResult<Defence> {
        let receipt = record.receipt;
        let model_id = receipt.body.model_id;
        let id = receipt.signing_hash();
        let model = st.model(&model_id)?;
        let inputs =
            verity_exec::parse_input(&model.model, record.input.get()).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let mut cache = game_cache().lock().unwrap_or_else(|e| e.into_inner());
        let commitment = cached(&mut cache.commitments, model_id, || {
            let bytes = st
                .store
                .read_model(&model_id)
                .map_err(|e| ApiError::internal("cannot read a stored model", format!("{e:#}")))?
                .ok_or_else(|| ApiError::not_found("the receipt's model is no longer on this node"))?;
            let honest = Model::decode(&bytes).map_err(|e| ApiError::internal("a stored model does not decode", e))?;
            Ok(ModelCommitment::new(&honest))
        })?;
        let run = cached(&mut cache.runs, id, || {
            let values = verity_model::reference::run_tampered(&model.model, &inputs, |_, _| {})
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            Ok(Execution::new(&model.model, values))
        })?;
        drop(cache);
        Ok(Defence { receipt, model, commitment, inputs, run })
    }

    pub fn statement(&self) -> ApiResult<Statement> {
        verity_dispute::statement(&self.commitment, &self.inputs, &self.receipt)
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))
    }

    pub fn player(&self) -> Executor<'_> {
        Executor { model: &self.model.model, commitment: &self.commitment, run: &self.run }
    }
}

#[derive(Default)]
struct GameCache {
    commitments: HashMap<[u8; 32], Arc<ModelCommitment>>,
    runs: HashMap<[u8; 32], Arc<Execution>>,
}

const GAME_CACHE: usize = 16;

fn game_cache() -> &'static Mutex<GameCache> {
    static CACHE: OnceLock<Mutex<GameCache>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn cached<V>(map: &mut HashMap<[u8; 32], Arc<V>>, key: [u8; 32], make: impl FnOnce() -> ApiResult<V>) -> ApiResult<Arc<V>> {
    if let Some(v) = map.get(&key) {
        return Ok(v.clone());
    }
    let v = Arc::new(make()?);
    if map.len() >= GAME_CACHE {
        map.clear();
    }
    map.insert(key, v.clone());
    Ok(v)
}
