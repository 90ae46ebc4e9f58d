//! A client for Verity nodes that does not trust them.
//!
//! [`Client`] has one typed method per route of the node's API (`docs/node.md`), which
//! return what the node said, and *verified* methods that check an answer before returning
//! it: [`Client::model`] checks downloaded bytes against the model id (and caches them),
//! [`Client::infer_verified`] re-executes the model locally and checks the node's hashes,
//! outputs and receipt with the same code as `verity verify`, and
//! [`Client::fetch_receipt_verified`] does the same for a stored receipt.
//!
//! HTTP is `ureq`: blocking, no async runtime, a handful of small dependencies. TLS is
//! left out (`default-features = false`), which keeps `ring` and `rustls` out of the build;
//! nodes are reached over plain HTTP or through a TLS-terminating proxy. Nothing the
//! client accepts depends on the transport being honest anyway.

mod error;
mod verify;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use verity_exec::api::{
    AuditRequest, AuditResponse, ErrorBody, Evidence, InferRequest, InferResponse, MismatchList, ModelList, NodeInfo,
    PublishRequest, PublishResponse, ReceiptRecord, VerifyRequest, VerifyResponse,
};
use verity_exec::{parse_id, Executed};
use verity_model::Model;
use verity_receipt::Receipt;

pub use error::{Error, Result};
pub use verify::{check_answer, check_receipt_record};

/// Largest response body read (model downloads are the big ones).
const MAX_RESPONSE: u64 = 1 << 30;

/// A model checked against its id, prepared for local re-execution.
pub struct LocalModel {
    pub model: Model,
    pub engine: verity_engine::Engine,
}

/// An answer that passed every check: the object `verity run --json` prints for it, and
/// the evidence that came with it.
pub struct Verified {
    pub model: Arc<LocalModel>,
    pub executed: Executed,
    pub evidence: Evidence,
    pub receipt: Option<Receipt>,
}

impl Verified {
    /// `verity run --json`'s object plus `evidence` and, for receipts, `receipt` and `receipt_id`.
    pub fn to_json(&self) -> Value {
        let mut v = verity_exec::run_json(&self.model.model, &self.executed);
        v["evidence"] = self.evidence.as_str().into();
        if let Some(r) = &self.receipt {
            v["receipt"] = serde_json::to_value(r).unwrap_or(Value::Null);
            v["receipt_id"] = verity_exec::receipt_id(r).into();
        }
        v
    }
}

pub struct Client {
    base: String,
    agent: ureq::Agent,
    api_key: Option<String>,
    cache_dir: Option<PathBuf>,
    models: Mutex<HashMap<[u8; 32], Arc<LocalModel>>>,
}

/// `$VERITY_CACHE`, else `~/.verity/models`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("VERITY_CACHE") {
        return Some(PathBuf::from(d));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".verity").join("models"))
}

impl Client {
    /// A client for the node at `url` (e.g. `http://127.0.0.1:8700`), caching models in
    /// [`default_cache_dir`].
    pub fn new(url: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .new_agent();
        Client {
            base: url.trim_end_matches('/').to_string(),
            agent,
            api_key: None,
            cache_dir: default_cache_dir(),
            models: Mutex::default(),
        }
    }

    pub fn with_api_key(mut self, key: Option<String>) -> Self {
        self.api_key = key;
        self
    }

    /// Where downloaded models are kept (`None`: nowhere).
    pub fn with_cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    // ---- transport ----

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn read(&self, what: &str, resp: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Vec<u8>> {
        let mut resp = resp.map_err(|e| Error::Transport(format!("{what}: cannot reach {}: {e}", self.base)))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(|e| Error::Transport(format!("{what}: reading the answer failed: {e}")))?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let message = serde_json::from_slice::<ErrorBody>(&body)
            .map(|b| b.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(300).collect());
        Err(Error::Node { status, message })
    }

    fn get_bytes(&self, what: &str, path: &str) -> Result<Vec<u8>> {
        self.read(what, self.agent.get(self.url(path)).call())
    }

    fn get_json<T: DeserializeOwned>(&self, what: &str, path: &str) -> Result<T> {
        let body = self.get_bytes(what, path)?;
        decode(what, &body)
    }

    fn post_json<B: Serialize, T: DeserializeOwned>(&self, what: &str, path: &str, body: &B, auth: bool) -> Result<T> {
        let bytes = serde_json::to_vec(body).map_err(|e| Error::Local(format!("{what}: cannot encode the request: {e}")))?;
        let mut req = self.agent.post(self.url(path)).header("Content-Type", "application/json");
        if auth {
            if let Some(k) = &self.api_key {
                req = req.header("Authorization", format!("Bearer {k}"));
            }
        }
        let body = self.read(what, req.send(&bytes[..]))?;
        decode(what, &body)
    }

    // ---- typed calls: what the node said, unchecked ----

    pub fn health(&self) -> Result<Value> {
        self.get_json("health", "/health")
    }

    pub fn info(&self) -> Result<NodeInfo> {
        self.get_json("info", "/v1/info")
    }

    pub fn publish(&self, req: &PublishRequest) -> Result<PublishResponse> {
        self.post_json("publish", "/v1/models", req, true)
    }

    pub fn list_models(&self, after: Option<&str>, limit: Option<usize>) -> Result<ModelList> {
        let mut q = Vec::new();
        if let Some(a) = after {
            q.push(format!("after={a}"));
        }
        if let Some(l) = limit {
            q.push(format!("limit={l}"));
        }
        let path = if q.is_empty() { "/v1/models".to_string() } else { format!("/v1/models?{}", q.join("&")) };
        self.get_json("list models", &path)
    }

    /// `verity inspect --json` of a model, as the node describes it.
    pub fn describe_model(&self, id: &str) -> Result<Value> {
        self.get_json("describe model", &format!("/v1/models/{}", checked_id("model id", id)?))
    }

    /// The `.vrt` bytes as served (see [`Client::model`] for the checked version).
    pub fn download_model(&self, id: &str) -> Result<Vec<u8>> {
        self.get_bytes("download model", &format!("/v1/models/{}/vrt", checked_id("model id", id)?))
    }

    /// `input` is the text of an input document (EZKL or named form); it is sent verbatim.
    pub fn infer(&self, model_id: &str, input: &str, evidence: Evidence) -> Result<InferResponse> {
        let req = InferRequest { model_id: model_id.to_string(), input: raw_input(input)?, evidence };
        self.post_json("infer", "/v1/infer", &req, false)
    }

    pub fn receipt(&self, id: &str) -> Result<ReceiptRecord> {
        self.get_json("fetch receipt", &format!("/v1/receipts/{}", checked_id("receipt id", id)?))
    }

    /// Asks the node to check anyone's receipt (the node's word; [`check_answer`] is yours).
    pub fn verify_receipt(&self, receipt: &Receipt, model_id: &str, input: &str) -> Result<VerifyResponse> {
        let req = VerifyRequest { receipt: receipt.clone(), model_id: model_id.to_string(), input: raw_input(input)? };
        self.post_json("verify receipt", "/v1/verify/receipt", &req, false)
    }

    pub fn audit(&self, receipt: &Receipt, input: &str) -> Result<AuditResponse> {
        let req = AuditRequest { receipt: receipt.clone(), input: raw_input(input)? };
        self.post_json("audit", "/v1/audit", &req, false)
    }

    pub fn mismatches(&self, after: Option<u64>, limit: Option<usize>) -> Result<MismatchList> {
        let path = format!("/v1/mismatches?after={}&limit={}", after.unwrap_or(0), limit.unwrap_or(100));
        self.get_json("list mismatches", &path)
    }

    // ---- verified calls ----

    /// Publishes a canonical model and checks that the node names it by its own hash.
    pub fn publish_vrt(&self, bytes: &[u8]) -> Result<PublishResponse> {
        let model = Model::decode(bytes).map_err(|e| Error::Local(format!("not a canonical model: {e}")))?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        let resp = self.publish(&PublishRequest { vrt: Some(b64), ..Default::default() })?;
        expect_id("published", &resp.model_id, &model.id())?;
        Ok(resp)
    }

    /// Imports the ONNX model locally (deterministic, like the node) and publishes it; the
    /// node's model id must equal the local one.
    pub fn publish_onnx(&self, onnx: &[u8], calibration: &str, bits: u8) -> Result<PublishResponse> {
        let local = verity_exec::import_onnx(onnx, calibration, bits).map_err(|e| Error::Local(format!("cannot import: {e}")))?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(onnx);
        let req = PublishRequest { onnx: Some(b64), calibration: Some(raw_input(calibration)?), bits: Some(bits), vrt: None };
        let resp = self.publish(&req)?;
        expect_id("published", &resp.model_id, &local.id())?;
        Ok(resp)
    }

    /// The model with this id, from the memory cache, the disk cache or the node; whatever
    /// its source, its bytes hash to `id` and decode as a canonical model.
    pub fn model(&self, id: &str) -> Result<Arc<LocalModel>> {
        let idb = parse_id(id).ok_or_else(|| Error::Local(format!("model id must be 64 hex digits, got {id:?}")))?;
        if let Some(m) = self.models.lock().unwrap_or_else(|e| e.into_inner()).get(&idb) {
            return Ok(m.clone());
        }
        let hex = verity_commit::hash::hex(&idb);
        let cached = self.cache_dir.as_ref().map(|d| d.join(format!("{hex}.vrt")));
        let from_cache = cached.as_ref().and_then(|p| std::fs::read(p).ok()).filter(|b| blake3::hash(b).as_bytes() == &idb);
        let bytes = match from_cache {
            Some(b) => b,
            None => {
                let b = self.download_model(&hex)?;
                if blake3::hash(&b).as_bytes() != &idb {
                    return Err(Error::Verification(format!(
                        "the node served bytes for model {hex} that hash to {}, not to the id",
                        blake3::hash(&b).to_hex()
                    )));
                }
                if let Some(p) = &cached {
                    // A cache that cannot be written only costs a download next time.
                    let _ = verity_exec::write_atomic(p, &b);
                }
                b
            }
        };
        let model = Model::decode(&bytes).map_err(|e| Error::Verification(format!("model {hex} does not decode: {e}")))?;
        let engine = verity_exec::engine(&model, None).map_err(|e| Error::Verification(format!("model {hex}: {e}")))?;
        let m = Arc::new(LocalModel { model, engine });
        self.models.lock().unwrap_or_else(|e| e.into_inner()).insert(idb, m.clone());
        Ok(m)
    }

    /// Runs `input` on the node and accepts the answer only if a local re-execution agrees
    /// with all of it (and, for `receipt`, the receipt is genuine and binds exactly that).
    /// `zk` fails with the node's 501 today.
    pub fn infer_verified(&self, model_id: &str, input: &str, evidence: Evidence) -> Result<Verified> {
        let id = checked_id("model id", model_id)?;
        let resp = self.infer(&id, input, evidence)?;
        let model = self.model(&id)?;
        let executed = check_answer(&model, input, evidence, &resp)?;
        Ok(Verified { model, executed, evidence, receipt: resp.receipt })
    }

    /// A stored receipt, accepted only if it is the one asked for, genuinely signed, and
    /// reproduced by re-executing its model on its input.
    pub fn fetch_receipt_verified(&self, id: &str) -> Result<(ReceiptRecord, Verified)> {
        let id = checked_id("receipt id", id)?;
        let record = self.receipt(&id)?;
        let model = self.model(&record.model_id)?;
        let executed = check_receipt_record(&model, &id, &record)?;
        let receipt = Some(record.receipt.clone());
        Ok((record, Verified { model, executed, evidence: Evidence::Receipt, receipt }))
    }
}

fn decode<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body)
        .map_err(|e| Error::Protocol(format!("{what}: the node's answer is not what the API promises: {e}")))
}

/// Validates an input document as JSON and keeps its exact text.
fn raw_input(text: &str) -> Result<Box<RawValue>> {
    RawValue::from_string(text.trim().to_string()).map_err(|e| Error::Local(format!("input is not valid JSON: {e}")))
}

/// Normalizes an id to lowercase hex without `0x`, or refuses it.
fn checked_id(what: &str, id: &str) -> Result<String> {
    parse_id(id)
        .map(|b| verity_commit::hash::hex(&b))
        .ok_or_else(|| Error::Local(format!("{what} must be 64 hex digits, got {id:?}")))
}

fn expect_id(what: &str, got: &str, want: &str) -> Result<()> {
    if parse_id(got) != parse_id(want) {
        return Err(Error::Verification(format!("the node {what} model {got}, but the model's own id is {want}")));
    }
    Ok(())
}
