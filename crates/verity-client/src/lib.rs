//! A client for Verity nodes that does not trust them.
//!
//! [`Client`] has one typed method per route of the node's API (`docs/node.md`), which
//! return what the node said, and *verified* methods that check an answer before returning
//! it: [`Client::model`] checks downloaded bytes against the model id (and caches them),
//! [`Client::infer_verified`] re-executes the model locally and checks the node's hashes,
//! outputs and receipt with the same code as `verity verify` — and for evidence `zk` waits
//! for the proof and verifies it with a key derived locally from the checked model —
//! and [`Client::fetch_receipt_verified`] / [`Client::fetch_proof_verified`] do the same
//! for a stored receipt or proof.
//!
//! HTTP is `ureq`: blocking, no async runtime, a handful of small dependencies. `https://`
//! nodes are reached with rustls (the `ring` provider, which builds with a C compiler
//! alone), trusting the Mozilla roots (webpki-roots) or the authorities given with
//! [`Client::with_ca_cert_pem`]. Nothing the client accepts depends on the transport
//! being honest anyway: TLS keeps the traffic private, the checks keep it true.

pub mod chat;
mod error;
mod light;
mod listing;
mod verify;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use verity_exec::api::{
    AuditRequest, AuditResponse, ErrorBody, Evidence, InferRequest, InferResponse, JobState, MismatchList, ModelList, NodeInfo,
    ProofJob, PublishMeta, PublishRequest, PublishResponse, ReceiptRecord, VerifyProofRequest, VerifyProofResponse,
    VerifyRequest, VerifyResponse,
};
use verity_exec::{parse_id, Executed};
use verity_model::Model;
use verity_receipt::Receipt;
use verity_zk::file::ProofFile;
use verity_zk::protocol::VerifyingKey;

pub use error::{Error, Result};
pub use light::{KeySource, LightVerified};
pub use listing::ListQuery;
pub use verify::{check_answer, check_proof, check_receipt_record, Statement};

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
    /// Evidence `zk`: the proof, verified.
    pub proof: Option<VerifiedProof>,
}

impl Verified {
    /// `verity run --json`'s object plus `evidence` and, for receipts, `receipt` and
    /// `receipt_id`; for proofs, `proof_job`, `proof_id` and `proof_bytes`.
    pub fn to_json(&self) -> Value {
        let mut v = verity_exec::run_json(&self.model.model, &self.executed);
        v["evidence"] = self.evidence.as_str().into();
        if let Some(r) = &self.receipt {
            v["receipt"] = serde_json::to_value(r).unwrap_or(Value::Null);
            v["receipt_id"] = verity_exec::receipt_id(r).into();
        }
        if let Some(p) = &self.proof {
            v["proof_job"] = p.job.job_id.clone().into();
            v["proof_id"] = p.proof_id.clone().into();
            v["proof_bytes"] = p.bytes.len().into();
        }
        v
    }
}

/// A proof file that verified against a locally derived key.
pub struct VerifiedProof {
    /// The job as the node last reported it (done).
    pub job: ProofJob,
    /// BLAKE3 of `bytes`.
    pub proof_id: String,
    /// The proof file (what `verity prove` writes and `verity verify --proof` reads).
    pub bytes: Vec<u8>,
    pub file: ProofFile,
}

/// Whose receipts the client accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecutorCheck {
    /// The executor the node advertises at `GET /v1/info` (fetched once, then cached): a
    /// receipt signed by any other key, however valid, is not this node's word.
    Advertised,
    /// Exactly this address (pinned out of band; stronger than asking the node).
    Expect([u8; 20]),
    /// Any key: the signature must still be valid. Only on explicit request.
    Any,
}

pub struct Client {
    base: String,
    executor: ExecutorCheck,
    advertised: Mutex<Option<[u8; 20]>>,
    max_clock_skew: Duration,
    max_receipt_age: Option<Duration>,
    agent: ureq::Agent,
    api_key: Option<String>,
    cache_dir: Option<PathBuf>,
    models: Mutex<HashMap<[u8; 32], Arc<LocalModel>>>,
    keys: Mutex<HashMap<[u8; 32], VerifyingKey>>,
    proof_timeout: Duration,
    busy_retries: u32,
}

/// The longest `Retry-After` the client waits before sending a request again.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// How long a transport failure may last while waiting for a proof (the node restarting)
/// before the wait gives up.
const POLL_OUTAGE: Duration = Duration::from_secs(30);

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
        let agent = build_agent(ureq::tls::RootCerts::WebPki);
        Client {
            base: url.trim_end_matches('/').to_string(),
            executor: ExecutorCheck::Advertised,
            advertised: Mutex::default(),
            max_clock_skew: Duration::from_secs(300),
            max_receipt_age: Some(Duration::from_secs(365 * 86_400)),
            agent,
            api_key: None,
            cache_dir: default_cache_dir(),
            models: Mutex::default(),
            keys: Mutex::default(),
            proof_timeout: Duration::from_secs(3600),
            busy_retries: 3,
        }
    }

    /// Trusts only the certificate authorities in `pem` (PEM, one or more certificates) for
    /// `https://` nodes, instead of the Mozilla roots (webpki-roots) trusted by default: a
    /// node with a private or self-signed certificate.
    pub fn with_ca_cert_pem(mut self, pem: &[u8]) -> Result<Self> {
        let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::Local(format!("the CA certificate file is not valid PEM: {e}")))?;
        if certs.is_empty() {
            return Err(Error::Local("the CA certificate file holds no certificate (-----BEGIN CERTIFICATE-----)".into()));
        }
        self.agent = build_agent(ureq::tls::RootCerts::new_with_certs(&certs));
        Ok(self)
    }

    /// How many times a request answered 503 (node busy) is sent again after the node's
    /// `Retry-After` (at most [`MAX_RETRY_AFTER`] each); default 3, 0 never retries.
    pub fn with_busy_retries(mut self, n: u32) -> Self {
        self.busy_retries = n;
        self
    }

    /// Whose receipts to accept (default [`ExecutorCheck::Advertised`]).
    pub fn with_executor(mut self, check: ExecutorCheck) -> Self {
        self.executor = check;
        self
    }

    /// How far a receipt's timestamp may lie in the future of this machine's clock, and
    /// (for a receipt just issued) in the past of the request (default 5 minutes).
    pub fn with_max_clock_skew(mut self, skew: Duration) -> Self {
        self.max_clock_skew = skew;
        self
    }

    /// The oldest stored receipt accepted ([`Client::fetch_receipt_verified`]); `None`
    /// accepts any age (default one year).
    pub fn with_max_receipt_age(mut self, age: Option<Duration>) -> Self {
        self.max_receipt_age = age;
        self
    }

    /// The executor this client requires, if any (asking the node for its advertised one).
    fn required_executor(&self) -> Result<Option<[u8; 20]>> {
        match &self.executor {
            ExecutorCheck::Any => Ok(None),
            ExecutorCheck::Expect(a) => Ok(Some(*a)),
            ExecutorCheck::Advertised => {
                if let Some(a) = *self.advertised.lock().unwrap_or_else(|e| e.into_inner()) {
                    return Ok(Some(a));
                }
                let info = self.info()?;
                let a = parse_address(&info.executor).ok_or_else(|| {
                    Error::Protocol(format!("the node advertises executor {:?}, which is not an address", info.executor))
                })?;
                *self.advertised.lock().unwrap_or_else(|e| e.into_inner()) = Some(a);
                Ok(Some(a))
            }
        }
    }

    /// Refuses a (genuinely signed) receipt from a key other than the required one, or
    /// with a timestamp that is in the future, older than `not_before` (minus the skew)
    /// or older than the maximum age.
    fn check_signer(&self, r: &Receipt, not_before: Option<u64>) -> Result<()> {
        if let Some(want) = self.required_executor()? {
            if r.body.executor != want {
                return Err(Error::Verification(format!(
                    "the receipt is signed by {}, not by the executor {} ({}); pass --any-executor or --executor to accept another key",
                    verity_receipt::to_checksum_address(&r.body.executor),
                    verity_receipt::to_checksum_address(&want),
                    match self.executor {
                        ExecutorCheck::Advertised => "the one this node advertises",
                        _ => "the one required",
                    }
                )));
            }
        }
        check_timestamp(r.body.timestamp, verity_exec::unix_now(), self.max_clock_skew, not_before, self.max_receipt_age)
    }

    /// How long to wait for a proof job to finish (default one hour).
    pub fn with_proof_timeout(mut self, t: Duration) -> Self {
        self.proof_timeout = t;
        self
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

    /// Sends a request (built anew each time by `send`), again after `Retry-After` while
    /// the node answers 503 and retries remain.
    fn send_retrying(
        &self,
        what: &str,
        send: impl Fn() -> std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Vec<u8>> {
        let mut left = self.busy_retries;
        loop {
            let resp = send();
            if let Ok(r) = &resp {
                if r.status().as_u16() == 503 && left > 0 {
                    let wait = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    if let Some(wait) = wait {
                        left -= 1;
                        std::thread::sleep(wait.min(MAX_RETRY_AFTER));
                        continue;
                    }
                }
            }
            return self.read(what, resp);
        }
    }

    fn read(&self, what: &str, resp: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Vec<u8>> {
        let mut resp = resp.map_err(|e| self.transport_error(what, &e))?;
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
        // Verity's `{"error": "..."}`, or OpenAI's `{"error": {"message": ...}}` (chat).
        let openai = || serde_json::from_slice::<Value>(&body).ok()?.pointer("/error/message")?.as_str().map(String::from);
        let message = serde_json::from_slice::<ErrorBody>(&body)
            .map(|b| b.error)
            .or_else(|e| openai().ok_or(e))
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(300).collect());
        Err(Error::Node { status, message })
    }

    /// A request that did not get an answer; a certificate the client does not trust is
    /// named as such, with the fix.
    fn transport_error(&self, what: &str, e: &ureq::Error) -> Error {
        let text = e.to_string();
        let tls = matches!(e, ureq::Error::Tls(_) | ureq::Error::Rustls(_))
            || text.contains("certificate")
            || text.contains("InvalidCertificate");
        if tls {
            return Error::Transport(format!(
                "{what}: the TLS connection to {} failed: {text} (the node's certificate is not trusted: pass the \
                 authority that signed it with --ca-cert FILE or VERITY_CA_CERT=FILE (Python: ca_cert=; Rust: \
                 Client::with_ca_cert_pem))",
                self.base
            ));
        }
        Error::Transport(format!("{what}: cannot reach {}: {text}", self.base))
    }

    fn get_bytes(&self, what: &str, path: &str) -> Result<Vec<u8>> {
        self.send_retrying(what, || self.agent.get(self.url(path)).call())
    }

    fn get_json<T: DeserializeOwned>(&self, what: &str, path: &str) -> Result<T> {
        let body = self.get_bytes(what, path)?;
        decode(what, &body)
    }

    fn post_json<B: Serialize, T: DeserializeOwned>(&self, what: &str, path: &str, body: &B, auth: bool) -> Result<T> {
        let bytes = serde_json::to_vec(body).map_err(|e| Error::Local(format!("{what}: cannot encode the request: {e}")))?;
        let body = self.send_retrying(what, || {
            let mut req = self.agent.post(self.url(path)).header("Content-Type", "application/json");
            if auth {
                if let Some(k) = &self.api_key {
                    req = req.header("Authorization", format!("Bearer {k}"));
                }
            }
            req.send(&bytes[..])
        })?;
        decode(what, &body)
    }

    // ---- typed calls: what the node said, unchecked ----

    pub fn health(&self) -> Result<Value> {
        self.get_json("health", "/health")
    }

    pub fn info(&self) -> Result<NodeInfo> {
        self.get_json("info", "/v1/info")
    }

    /// The node's peer-to-peer view (`GET /v1/peers`, docs/network.md).
    pub fn peers(&self) -> Result<Value> {
        self.get_json("peers", "/v1/peers")
    }

    pub fn publish(&self, req: &PublishRequest) -> Result<PublishResponse> {
        self.post_json("publish", "/v1/models", req, true)
    }

    pub fn list_models(&self, after: Option<&str>, limit: Option<usize>) -> Result<ModelList> {
        self.search_models(after, limit, &[])
    }

    /// `GET /v1/models` with hub filters: `(key, value)` pairs among `q`, `name`, `task`,
    /// `tag` (values are percent-encoded here).
    pub fn search_models(&self, after: Option<&str>, limit: Option<usize>, filters: &[(&str, &str)]) -> Result<ModelList> {
        let mut q: Vec<String> = filters.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect();
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

    /// A proof job's state, by job id or proof id.
    pub fn proof_job(&self, id: &str) -> Result<ProofJob> {
        self.get_json("proof job", &format!("/v1/proofs/{}", checked_id("proof job id", id)?))
    }

    /// A done job's proof file as served, by job id or proof id (unchecked; see
    /// [`Client::fetch_proof_verified`]).
    pub fn proof_file(&self, id: &str) -> Result<Vec<u8>> {
        self.get_bytes("download proof", &format!("/v1/proofs/{}/file", checked_id("proof id", id)?))
    }

    /// Asks the node to check anyone's proof file against its copy of `model_id` (the
    /// node's word; [`check_proof`] is yours).
    pub fn verify_proof(&self, proof: &[u8], model_id: &str) -> Result<VerifyProofResponse> {
        let req = VerifyProofRequest {
            proof: base64::engine::general_purpose::STANDARD.encode(proof),
            model_id: checked_id("model id", model_id)?,
        };
        self.post_json("verify proof", "/v1/verify/proof", &req, false)
    }

    /// Waits for a proof job until it is done (returned) or failed ([`Error::ProofFailed`]),
    /// calling `on_progress` with every state seen: pushed by the node's event stream when
    /// it has one, else (and after the stream ends early) by polling every 25 ms at first,
    /// slowing to every 500 ms; rides out the node being unreachable for up to 30 s (a
    /// restart), and gives up after the proof timeout.
    pub fn wait_for_proof(&self, id: &str, on_progress: &mut dyn FnMut(&ProofJob)) -> Result<ProofJob> {
        let deadline = Instant::now() + self.proof_timeout;
        if let Some(job) = self.proof_events(id, on_progress)? {
            return Ok(job);
        }
        let mut delay = Duration::from_millis(25);
        let mut outage: Option<Instant> = None;
        loop {
            match self.proof_job(id) {
                Ok(job) => {
                    outage = None;
                    on_progress(&job);
                    match job.state {
                        JobState::Done => return Ok(job),
                        JobState::Failed => {
                            return Err(Error::ProofFailed(job.error.unwrap_or_else(|| "no reason given".into())))
                        }
                        JobState::Queued | JobState::Running => {}
                    }
                }
                Err(Error::Transport(e)) | Err(Error::Node { status: 502..=504, message: e }) => {
                    let since = *outage.get_or_insert_with(Instant::now);
                    if since.elapsed() > POLL_OUTAGE {
                        return Err(Error::Transport(format!("gave up waiting for proof job {id}: {e}")));
                    }
                }
                Err(e) => return Err(e),
            }
            if Instant::now() + delay > deadline {
                return Err(Error::Transport(format!(
                    "proof job {id} did not finish within {} s",
                    self.proof_timeout.as_secs_f64()
                )));
            }
            std::thread::sleep(delay);
            delay = (delay * 3 / 2).min(Duration::from_millis(500));
        }
    }

    /// Follows `GET /v1/proofs/{id}/events` (server-sent events) until the job is done
    /// (`Some`) or failed. `None` when the node does not offer the stream or it ends early
    /// (a restart, an older node): the caller polls instead.
    fn proof_events(&self, id: &str, on_progress: &mut dyn FnMut(&ProofJob)) -> Result<Option<ProofJob>> {
        use std::io::BufRead as _;
        let url = self.url(&format!("/v1/proofs/{}/events", checked_id("proof job id", id)?));
        let resp = self
            .agent
            .get(url)
            .header("Accept", "text/event-stream")
            .config()
            .timeout_global(Some(self.proof_timeout))
            .build()
            .call();
        let Ok(resp) = resp else { return Ok(None) };
        let is_stream =
            resp.headers().get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/event-stream"));
        if resp.status().as_u16() != 200 || !is_stream {
            return Ok(None);
        }
        let reader = std::io::BufReader::new(resp.into_body().into_reader());
        for line in reader.lines() {
            let Ok(line) = line else { return Ok(None) };
            let Some(data) = line.strip_prefix("data:") else { continue };
            let job: ProofJob = decode("proof events", data.trim().as_bytes())?;
            on_progress(&job);
            match job.state {
                JobState::Done => return Ok(Some(job)),
                JobState::Failed => return Err(Error::ProofFailed(job.error.unwrap_or_else(|| "no reason given".into()))),
                JobState::Queued | JobState::Running => {}
            }
        }
        Ok(None)
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
        self.publish_vrt_with(bytes, &PublishMeta::default())
    }

    /// [`Client::publish_vrt`] with hub metadata (a name adds a version of that name).
    pub fn publish_vrt_with(&self, bytes: &[u8], meta: &PublishMeta) -> Result<PublishResponse> {
        let model = Model::decode(bytes).map_err(|e| Error::Local(format!("not a canonical model: {e}")))?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        let mut req = PublishRequest { vrt: Some(b64), ..Default::default() };
        meta.apply(&mut req);
        let resp = self.publish(&req)?;
        expect_id("published", &resp.model_id, &model.id())?;
        Ok(resp)
    }

    /// Imports the ONNX model locally (deterministic, like the node) and publishes it; the
    /// node's model id must equal the local one.
    pub fn publish_onnx(&self, onnx: &[u8], calibration: &str, bits: u8) -> Result<PublishResponse> {
        self.publish_onnx_with(onnx, calibration, bits, &PublishMeta::default())
    }

    /// [`Client::publish_onnx`] with hub metadata.
    pub fn publish_onnx_with(&self, onnx: &[u8], calibration: &str, bits: u8, meta: &PublishMeta) -> Result<PublishResponse> {
        let local = verity_exec::import_onnx(onnx, calibration, bits).map_err(|e| Error::Local(format!("cannot import: {e}")))?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(onnx);
        let mut req = PublishRequest {
            onnx: Some(b64),
            calibration: Some(raw_input(calibration)?),
            bits: Some(bits),
            ..Default::default()
        };
        meta.apply(&mut req);
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
        let from_cache = cached.as_ref().and_then(|p| std::fs::read(p).ok()).filter(|b| Model::id_of_encoding(b) == idb);
        let bytes = match from_cache {
            Some(b) => b,
            None => {
                let b = self.download_model(&hex)?;
                let got = Model::id_of_encoding(&b);
                if got != idb {
                    return Err(Error::Verification(format!(
                        "the node served bytes for model {hex} that hash to {}, not to the id",
                        verity_commit::hash::hex(&got)
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

    /// The verifying key of a checked model, derived here (never taken from a node).
    pub fn verifying_key(&self, model: &LocalModel) -> Result<VerifyingKey> {
        let id = model.model.id_bytes();
        if let Some(k) = self.keys.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
            return Ok(k.clone());
        }
        let vk = verity_zk::protocol::keygen(&model.model)
            .map_err(|e| Error::Local(format!("proofs of model {} cannot be checked: {e}", model.model.id())))?
            .vk;
        self.keys.lock().unwrap_or_else(|e| e.into_inner()).insert(id, vk.clone());
        Ok(vk)
    }

    /// Runs `input` on the node and accepts the answer only if a local re-execution agrees
    /// with all of it (and, for `receipt`, the receipt is genuine and binds exactly that;
    /// for `zk`, the proof — waited for — verifies and binds exactly that).
    pub fn infer_verified(&self, model_id: &str, input: &str, evidence: Evidence) -> Result<Verified> {
        self.infer_verified_with(model_id, input, evidence, &mut |_| {})
    }

    /// [`Client::infer_verified`], reporting every state of the proof job (evidence `zk`)
    /// to `on_progress` while waiting.
    pub fn infer_verified_with(
        &self,
        model_id: &str,
        input: &str,
        evidence: Evidence,
        on_progress: &mut dyn FnMut(&ProofJob),
    ) -> Result<Verified> {
        let id = checked_id("model id", model_id)?;
        let asked_at = verity_exec::unix_now();
        let resp = self.infer(&id, input, evidence)?;
        let model = self.model(&id)?;
        let executed = check_answer(&model, input, evidence, &resp)?;
        if let Some(r) = &resp.receipt {
            self.check_signer(r, Some(asked_at))?;
        }
        let mut proof = None;
        if let Some(job_id) = resp.proof_job.as_deref().filter(|_| evidence == Evidence::Zk) {
            let job = self.wait_for_proof(job_id, on_progress)?;
            let bytes = self.proof_file(job_id)?;
            let inputs = verity_exec::parse_input(&model.model, input).map_err(|e| Error::Local(e.to_string()))?;
            let statement = Statement { inputs: &inputs, outputs: &executed.outputs };
            let vk = self.verifying_key(&model)?;
            let file = check_proof(&model, &vk, &bytes, job.proof_id.as_deref(), Some(statement))?;
            let proof_id = blake3::hash(&bytes).to_hex().to_string();
            proof = Some(VerifiedProof { job, proof_id, bytes, file });
        }
        Ok(Verified { model, executed, evidence, receipt: resp.receipt, proof })
    }

    /// A proof by job id or proof id, waited for if the job is not done yet, and accepted
    /// only if it verifies with a key derived locally from its model (downloaded and
    /// checked against its id). A proof id must also be the BLAKE3 of the file. The proof
    /// file carries the statement: the model id, the quantized inputs and the outputs.
    pub fn fetch_proof_verified(
        &self,
        id: &str,
        on_progress: &mut dyn FnMut(&ProofJob),
    ) -> Result<(Arc<LocalModel>, VerifiedProof)> {
        let id = checked_id("proof id", id)?;
        let job = self.wait_for_proof(&id, on_progress)?;
        let named = job.proof_id.clone().ok_or_else(|| Error::Protocol("a done proof job without a proof_id".into()))?;
        if parse_id(&id) != parse_id(&job.job_id) && parse_id(&id) != parse_id(&named) {
            return Err(Error::Verification(format!("asked for proof {id}, the node answered with job {}", job.job_id)));
        }
        let bytes = self.proof_file(&id)?;
        let file = ProofFile::decode(&bytes).map_err(|e| Error::Verification(format!("bad proof file: {e}")))?;
        if parse_id(&job.model_id) != Some(file.model_id) {
            return Err(Error::Verification(format!(
                "the job is for model {}, its proof for model {}",
                job.model_id,
                verity_commit::hash::hex(&file.model_id)
            )));
        }
        let model = self.model(&job.model_id)?;
        let vk = self.verifying_key(&model)?;
        let file = check_proof(&model, &vk, &bytes, Some(&named), None)?;
        let proof_id = blake3::hash(&bytes).to_hex().to_string();
        Ok((model, VerifiedProof { job, proof_id, bytes, file }))
    }

    /// A stored receipt, accepted only if it is the one asked for, genuinely signed, and
    /// reproduced by re-executing its model on its input.
    pub fn fetch_receipt_verified(&self, id: &str) -> Result<(ReceiptRecord, Verified)> {
        let id = checked_id("receipt id", id)?;
        let record = self.receipt(&id)?;
        let v = self.check_record(&id, &record)?;
        Ok((record, v))
    }

    /// [`Client::fetch_receipt_verified`] of a record already fetched.
    pub fn check_record(&self, id: &str, record: &ReceiptRecord) -> Result<Verified> {
        let model = self.model(&record.model_id)?;
        let executed = check_receipt_record(&model, id, record)?;
        self.check_signer(&record.receipt, None)?;
        let receipt = Some(record.receipt.clone());
        Ok(Verified { model, executed, evidence: Evidence::Receipt, receipt, proof: None })
    }
}

/// The HTTP agent: statuses are answers (not errors), bounded waits, rustls with the ring
/// provider (builds with a C compiler alone) trusting `roots`.
fn build_agent(roots: ureq::tls::RootCerts) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_global(Some(Duration::from_secs(600)))
        .tls_config(ureq::tls::TlsConfig::builder().provider(ureq::tls::TlsProvider::Rustls).root_certs(roots).build())
        .build()
        .new_agent()
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for query values.
pub(crate) fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `0x` and 40 hex digits, in any case.
pub fn parse_address(text: &str) -> Option<[u8; 20]> {
    let digits = text.strip_prefix("0x")?;
    if digits.len() != 40 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A receipt's timestamp `ts` against the clock `now`: not more than `skew` in the future;
/// for a receipt issued in answer to a request made at `not_before`, not more than `skew`
/// before it; and not older than `max_age` when one is set.
pub fn check_timestamp(ts: u64, now: u64, skew: Duration, not_before: Option<u64>, max_age: Option<Duration>) -> Result<()> {
    let skew = skew.as_secs();
    if ts > now.saturating_add(skew) {
        return Err(Error::Verification(format!(
            "the receipt's timestamp {ts} is {} s in the future of this clock ({now}; allowed skew {skew} s)",
            ts - now
        )));
    }
    if let Some(t) = not_before {
        if ts < t.saturating_sub(skew) {
            return Err(Error::Verification(format!(
                "the receipt's timestamp {ts} is {} s before the request was made ({t}): it was not issued for this request",
                t - ts
            )));
        }
    }
    if let Some(age) = max_age {
        if now.saturating_sub(ts) > age.as_secs() {
            return Err(Error::Verification(format!(
                "the receipt's timestamp {ts} is {} s old, more than the {} s accepted (--max-receipt-age)",
                now - ts,
                age.as_secs()
            )));
        }
    }
    Ok(())
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
