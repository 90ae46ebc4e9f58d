//! What an operator sets (the flags of `verity node`).

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::hooks::Pause;

#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Data directory: the redb file, model blobs and (by default) the executor key.
    pub data_dir: PathBuf,
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Bearer token required by write endpoints; `None` disables publishing.
    pub api_key: Option<String>,
    /// Fraction (0..=1) of issued and submitted receipts the verifier re-executes.
    pub verify_sample: f64,
    /// Largest body accepted by `POST /v1/models` and `/v1/verify/proof`, in bytes (413 above).
    pub max_body: usize,
    /// Largest body accepted by `/v1/infer`, `/v1/verify/receipt` and `/v1/audit` (413 above).
    pub max_input_body: usize,
    /// Request-body bytes held in memory at once, over all requests; a body that does not
    /// fit is refused with 503 before it is read.
    pub max_inflight_bytes: usize,
    /// Connections held open at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Time a client has to send its whole request body (408 after).
    pub body_timeout: std::time::Duration,
    /// Compute jobs running at once.
    pub max_concurrency: usize,
    /// Compute jobs waiting for a slot before requests are refused with 503.
    pub max_queue: usize,
    /// Executor key file (default `DATA/executor.key`, created on first start).
    pub key_file: Option<PathBuf>,
    /// Models kept decoded and prepared in memory.
    pub model_cache: usize,
    /// Audits waiting for the verifier before new ones are dropped.
    pub audit_queue: usize,
    /// Input bytes the queued audits may hold, over all of them; beyond it new audits are
    /// dropped like a full queue.
    pub audit_queue_bytes: usize,
    /// Proof jobs queued or running before `zk` requests are refused with 503.
    pub proof_queue: usize,
    /// Times a proof job may be started; a job a crash interrupted this often is failed
    /// at the next start instead of being retried forever.
    pub proof_attempts: u32,
    /// Proving keys kept in memory (one per model; keygen commits to the weights).
    pub proving_keys: usize,
    /// Test hook (see `hooks`); `None` in production.
    pub pause: Option<Pause>,
    /// Origins allowed to call the API from a browser (CORS); `*` allows any. Empty: no
    /// CORS headers.
    pub cors_origins: Vec<String>,
    /// The peer-to-peer network (docs/network.md); `None` runs the node alone.
    pub p2p: Option<crate::p2p::P2pConfig>,
    /// Settlement on an EVM chain (docs/settlement.md, "Nodes on chain"); `None`: none.
    pub chain: Option<crate::settle::ChainConfig>,
    /// Llama GGUF files served by `/v1/chat/completions`, loaded at start.
    pub llms: Vec<PathBuf>,
    /// TEST ONLY: serve every model with one weight changed (while naming the real model
    /// in receipts), so that tests and `verity devnet --cheaters` have a cheat to catch.
    pub cheat_weight: bool,
}

impl NodeConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        NodeConfig {
            data_dir: data_dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: None,
            verify_sample: 0.0,
            max_body: 32 << 20,
            max_input_body: 8 << 20,
            max_inflight_bytes: 256 << 20,
            max_connections: 512,
            body_timeout: std::time::Duration::from_secs(60),
            max_concurrency: cores,
            max_queue: 64,
            key_file: None,
            model_cache: 32,
            audit_queue: 1024,
            audit_queue_bytes: 64 << 20,
            proof_queue: 256,
            proof_attempts: 3,
            proving_keys: 8,
            pause: None,
            cors_origins: Vec::new(),
            p2p: None,
            chain: None,
            llms: Vec::new(),
            cheat_weight: false,
        }
    }
}
