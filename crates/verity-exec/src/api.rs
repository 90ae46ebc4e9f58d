//! JSON wire types of the node's HTTP API (`docs/node.md`), shared by server and client.
//!
//! Inputs travel as [`RawValue`]: the exact JSON text the user wrote. JSON numbers are
//! parsed to `f64` on each side, and re-serializing a parsed number is not guaranteed to
//! parse back to the same `f64` with every parser, so the node, its receipts store and a
//! verifying client all parse the *same text* to get the same quantized input.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use verity_receipt::Receipt;

/// What backs an inference answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Evidence {
    /// Just the answer; a client checks it by re-executing.
    #[default]
    None,
    /// The answer and a signed receipt (re-execution evidence) stored by the node.
    Receipt,
    /// The answer now and a proof of it later: the node queues a proof job
    /// (`GET /v1/proofs/{id}`) whose proof file `verity_zk::protocol::verify` checks.
    Zk,
}

impl Evidence {
    pub const fn as_str(self) -> &'static str {
        match self {
            Evidence::None => "none",
            Evidence::Receipt => "receipt",
            Evidence::Zk => "zk",
        }
    }
}

impl std::str::FromStr for Evidence {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Evidence::None),
            "receipt" => Ok(Evidence::Receipt),
            "zk" => Ok(Evidence::Zk),
            _ => Err(format!("unknown evidence {s:?} (expected none, receipt or zk)")),
        }
    }
}

/// Every error answer: `{"error": "..."}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// `POST /v1/models`: exactly one of `vrt` (a canonical model) or `onnx` + `calibration`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// Base64 (standard alphabet, padded) of a canonical `.vrt` model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrt: Option<String>,
    /// Base64 of an ONNX model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnx: Option<String>,
    /// Calibration samples (the document `verity import --calibration` reads), inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Box<RawValue>>,
    /// Activation bits for ONNX imports: 8 (default) or 16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits: Option<u8>,
    /// Model hub metadata (docs/node.md, "Model hub"): publishing under a name that exists
    /// adds a version. The other fields need `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// What a publisher says about a model (all optional; `name` is needed for the rest).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishMeta {
    pub name: Option<String>,
    pub description: Option<String>,
    pub task: Option<String>,
    pub license: Option<String>,
    pub tags: Vec<String>,
}

impl PublishMeta {
    pub fn apply(&self, req: &mut PublishRequest) {
        req.name.clone_from(&self.name);
        req.description.clone_from(&self.description);
        req.task.clone_from(&self.task);
        req.license.clone_from(&self.license);
        req.tags.clone_from(&self.tags);
    }
}

/// A named model's hub entry: its publisher's metadata and its version under that name
/// (1 for the first model published under it, then 2, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelHub {
    pub name: String,
    pub version: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub task: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub license: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PublishResponse {
    pub model_id: String,
    /// False if the node already had this model (publishing is idempotent).
    pub created: bool,
}

/// One entry of `GET /v1/models`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    pub model_id: String,
    /// Size of the canonical encoding.
    pub bytes: u64,
    /// `"vrt"` or `"onnx"`: what was uploaded.
    pub source: String,
    /// Unix seconds.
    pub published_at: u64,
    /// `name`, `version`, `description`, `task`, `license`, `tags`, for a named model.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub hub: Option<ModelHub>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ModelList {
    pub models: Vec<ModelSummary>,
    /// Pass as `?after=` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
    /// OpenAI's list shape: `"list"`, and `data` with the same page's models (and, on the
    /// first page, the node's LLMs first) as OpenAI model objects.
    #[serde(default)]
    pub object: String,
    #[serde(default)]
    pub data: Vec<ModelObject>,
}

/// An OpenAI model object (`GET /v1/models`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelObject {
    /// The model id (hex), which `/v1/chat/completions` (LLMs) or `/v1/infer` take.
    pub id: String,
    /// Always `"model"`.
    pub object: String,
    /// Unix seconds: when it was published, or (an LLM) when the node loaded it.
    pub created: u64,
    /// The node's executor address.
    pub owned_by: String,
}

/// `POST /v1/infer`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferRequest {
    pub model_id: String,
    /// EZKL `{"input_data": [[...]]}` or named `{"NAME": [...]}`, as in an input file.
    pub input: Box<RawValue>,
    #[serde(default)]
    pub evidence: Evidence,
}

/// The answer of `POST /v1/infer`: the fields of `verity run --json`, the evidence kind and,
/// for `receipt`, the signed receipt (the JSON `verity run --receipt` writes) and its id.
#[derive(Debug, Serialize, Deserialize)]
pub struct InferResponse {
    pub model_id: String,
    pub input_hash: String,
    pub output_hash: String,
    pub outputs: Vec<Vec<f64>>,
    pub evidence: Evidence,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_id: Option<String>,
    /// For `zk`: the id of the proof job to poll (`GET /v1/proofs/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof_job: Option<String>,
}

/// Where a proof job is: `queued` → `running` → `done` or `failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Durably accepted, waiting for the prover (also after a restart).
    Queued,
    /// Being proved now.
    Running,
    /// The proof file is stored: fetch it by `proof_id` (or the job id).
    Done,
    /// Proving failed for good; `error` says why. Asking for the same proof again requeues it.
    Failed,
}

impl JobState {
    pub const fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }
}

/// How far a running proof is: the prover's current step and its count of sub-steps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProgress {
    pub step: String,
    pub done: u64,
    pub total: u64,
}

/// `GET /v1/proofs/{id}`: a proof job (evidence `zk`) and its state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofJob {
    /// BLAKE3 (keyed by purpose) of the model id and the input hash: the same request
    /// twice is the same job.
    pub job_id: String,
    pub model_id: String,
    pub input_hash: String,
    pub output_hash: String,
    pub state: JobState,
    /// While running: the prover's step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<JobProgress>,
    /// While queued: jobs ahead of this one (including the one running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ahead: Option<u64>,
    /// When done: BLAKE3 of the proof file (`GET /v1/proofs/{proof_id}/file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof_bytes: Option<u64>,
    /// When failed: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Unix seconds.
    pub created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
    /// Times proving started; more than one means a crash interrupted it.
    pub attempts: u32,
}

impl ProofJob {
    /// A job just accepted: queued, never started.
    pub fn queued(job_id: String, model_id: String, input_hash: String, output_hash: String, created_at: u64) -> Self {
        ProofJob {
            job_id,
            model_id,
            input_hash,
            output_hash,
            state: JobState::Queued,
            progress: None,
            ahead: None,
            proof_id: None,
            proof_bytes: None,
            error: None,
            created_at,
            started_at: None,
            finished_at: None,
            attempts: 0,
        }
    }
}

/// `POST /v1/verify/proof`: is this proof file valid for this node's model?
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyProofRequest {
    /// Base64 of a proof file (`verity prove`'s output, or `GET /v1/proofs/{id}/file`).
    pub proof: String,
    pub model_id: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct VerifyProofResponse {
    pub valid: bool,
    /// Why not, when not valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// BLAKE3 of the proof file sent.
    pub proof_id: String,
}

/// A receipt the node issued, with what is needed to re-check it (`GET /v1/receipts/{id}`).
#[derive(Debug, Serialize, Deserialize)]
pub struct ReceiptRecord {
    pub receipt_id: String,
    pub model_id: String,
    /// The input exactly as the client sent it.
    pub input: Box<RawValue>,
    pub receipt: Receipt,
    /// Unix seconds when the node stored it.
    pub issued_at: u64,
}

/// `POST /v1/verify/receipt`: does this receipt hold for this model and input?
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub receipt: Receipt,
    pub model_id: String,
    pub input: Box<RawValue>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct VerifyResponse {
    pub ok: bool,
    pub receipt_id: String,
    /// `signature`, `model_id`, `input_hash`, `output_hash` or `trace_root` when not ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Id of the stored mismatch record, when the receipt was genuinely signed and wrong
    /// about its own model and input (its output hash or trace root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mismatch_id: Option<u64>,
}

/// `POST /v1/audit`: a receipt handed to this node's verifier role.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRequest {
    pub receipt: Receipt,
    pub input: Box<RawValue>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AuditResponse {
    pub receipt_id: String,
    /// Whether it was picked for re-execution (`--verify-sample`) and queued.
    pub sampled: bool,
}

/// Where a mismatching receipt came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MismatchSource {
    /// Issued by this node and caught by its own sampled audit.
    Issued,
    /// Submitted to `POST /v1/audit`.
    Submitted,
    /// Sent to `POST /v1/verify/receipt`.
    Verify,
}

/// Evidence for a dispute: a genuinely signed receipt whose claims a re-execution with the
/// reference interpreter (audits) or the engine (`verify`) does not reproduce.
#[derive(Debug, Serialize, Deserialize)]
pub struct MismatchRecord {
    pub id: u64,
    pub detected_at: u64,
    pub source: MismatchSource,
    pub receipt_id: String,
    /// The model the receipt was re-executed with.
    pub model_id: String,
    pub field: String,
    pub error: String,
    pub receipt: Receipt,
    pub input: Box<RawValue>,
    /// What the re-execution computed: `{input_hash, output_hash, trace_root}`.
    pub computed: Value,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MismatchList {
    pub mismatches: Vec<MismatchRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<u64>,
}

/// `GET /v1/info`: who this node is and its limits.
#[derive(Debug, Serialize, Deserialize)]
pub struct NodeInfo {
    /// EIP-55 address of the key that signs this node's receipts.
    pub executor: String,
    pub version: String,
    pub publish_enabled: bool,
    pub verify_sample: f64,
    /// Largest body of `POST /v1/models` and `/v1/verify/proof`.
    pub max_body: u64,
    /// Largest body of `/v1/infer`, `/v1/verify/receipt` and `/v1/audit`.
    pub max_input_body: u64,
    /// Request-body bytes the node holds at once.
    pub max_inflight_bytes: u64,
    pub max_connections: u32,
    pub max_concurrency: u32,
    pub max_queue: u32,
    /// Models and receipts stored.
    pub models: u64,
    pub receipts: u64,
    /// Proofs stored (jobs done).
    #[serde(default)]
    pub proofs: u64,
    /// Proof jobs queued or running, and how many may be before `zk` requests get 503.
    #[serde(default)]
    pub proof_jobs_pending: u64,
    #[serde(default)]
    pub max_proof_queue: u32,
}
