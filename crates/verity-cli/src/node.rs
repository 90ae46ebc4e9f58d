//! `verity node`: run a node until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use verity_node::{NodeConfig, Pause};

#[derive(clap::Args)]
pub struct NodeArgs {
    /// Data directory: the redb store, model blobs and the executor key.
    #[arg(long)]
    pub data: PathBuf,
    /// Address to listen on; port 0 picks a free one (the URL is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8700")]
    pub listen: String,
    /// Bearer token that write endpoints (publish) require; without one, publishing is disabled.
    #[arg(long, env = "VERITY_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Fraction (0..=1) of issued and submitted receipts to re-execute with the reference
    /// interpreter, recording mismatches (GET /v1/mismatches).
    #[arg(long, default_value_t = 0.0)]
    pub verify_sample: f64,
    /// Largest body of POST /v1/models and /v1/verify/proof, in bytes (larger get 413).
    #[arg(long, default_value_t = 32 << 20)]
    pub max_body: usize,
    /// Largest body of /v1/infer, /v1/verify/receipt and /v1/audit, in bytes (larger get 413).
    #[arg(long, default_value_t = 8 << 20)]
    pub max_input_body: usize,
    /// Request-body bytes held in memory at once over all requests; a body that does not
    /// fit gets 503 with Retry-After before it is read. At least --max-body.
    #[arg(long, default_value_t = 256 << 20)]
    pub max_inflight_bytes: usize,
    /// Connections open at once; further ones wait in the listen backlog.
    #[arg(long, default_value_t = 512)]
    pub max_connections: usize,
    /// Seconds a client has to send a whole request body (408 after).
    #[arg(long, default_value_t = 60)]
    pub body_timeout: u64,
    /// Input bytes all queued audits (--verify-sample) may hold; beyond it audits are dropped.
    #[arg(long, default_value_t = 64 << 20)]
    pub audit_queue_bytes: usize,
    /// Compute jobs running at once (default: the number of cores).
    #[arg(long)]
    pub max_concurrency: Option<usize>,
    /// Compute jobs waiting for a slot; beyond that requests get 503 with Retry-After.
    #[arg(long, default_value_t = 64)]
    pub max_queue: usize,
    /// Proof jobs (evidence zk) queued or running; beyond that zk requests get 503.
    #[arg(long, default_value_t = 256)]
    pub max_proof_queue: usize,
    /// Executor key file (default: DATA/executor.key, created on first start).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Allow browser apps from this origin to call the API (CORS; repeatable; `*` allows any).
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// Serve this Llama GGUF at /v1/chat/completions (repeatable; loaded at start).
    #[arg(long = "llm", value_name = "PATH.gguf")]
    pub llms: Vec<PathBuf>,
    /// Print the listening line as one JSON object: url, executor.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub p2p: crate::net::P2pArgs,
    /// Settle on this EVM chain (JSON-RPC URL): post receipt batches, answer challenges and,
    /// as a verifier, challenge receipts that do not re-execute. Needs --chain-deployment.
    #[arg(long, value_name = "URL", requires = "chain_deployment")]
    pub chain_rpc: Option<String>,
    /// The deployment file of `verity chain deploy` (with the dispute game).
    #[arg(long, value_name = "FILE", requires = "chain_rpc")]
    pub chain_deployment: Option<PathBuf>,
    /// TEST ONLY: serve every model with one weight changed (a cheat for verifiers to
    /// catch); refused unless VERITY_ALLOW_CHEAT=1.
    #[arg(long, hide = true)]
    pub cheat_weight: bool,
}

/// The variable that must be `1` for `--cheat-weight` to be accepted.
pub const ALLOW_CHEAT: &str = "VERITY_ALLOW_CHEAT";

/// The log filter: `RUST_LOG` in its `target=level,...` form (e.g. `info`,
/// `warn,verity_node::access=info`); default `info`.
fn log_filter() -> Result<tracing_subscriber::filter::Targets> {
    let spec = std::env::var("RUST_LOG").unwrap_or_default();
    let spec = if spec.trim().is_empty() { "info".to_string() } else { spec };
    spec.parse()
        .map_err(|e| anyhow::anyhow!("RUST_LOG={spec:?} is not a filter like `info` or `warn,verity_node::access=info`: {e}"))
}

pub fn run(a: NodeArgs) -> Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = log_filter()?;
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).finish().with(filter).init();
    let listen: SocketAddr =
        a.listen.parse().with_context(|| format!("--listen {:?} is not an address like 127.0.0.1:8700", a.listen))?;
    let mut config = NodeConfig::new(&a.data);
    config.listen = listen;
    config.api_key = a.api_key.filter(|k| !k.is_empty());
    config.verify_sample = a.verify_sample;
    config.max_body = a.max_body;
    config.max_input_body = a.max_input_body;
    config.max_inflight_bytes = a.max_inflight_bytes;
    config.max_connections = a.max_connections;
    config.body_timeout = std::time::Duration::from_secs(a.body_timeout);
    config.audit_queue_bytes = a.audit_queue_bytes;
    if let Some(n) = a.max_concurrency {
        config.max_concurrency = n;
    }
    config.max_queue = a.max_queue;
    config.proof_queue = a.max_proof_queue;
    config.key_file = a.key;
    config.cors_origins = a.cors_origins;
    config.llms = a.llms;
    config.p2p = a.p2p.config()?;
    config.chain = a.chain_rpc.zip(a.chain_deployment).map(|(rpc, deployment)| verity_node::ChainConfig { rpc, deployment });
    if a.cheat_weight {
        if std::env::var(ALLOW_CHEAT).as_deref() != Ok("1") {
            anyhow::bail!("--cheat-weight is a test-only cheating mode; it is refused unless {ALLOW_CHEAT}=1");
        }
        tracing::warn!("TEST-ONLY cheating mode: every model is served with one weight changed");
        config.cheat_weight = true;
    }
    // Test hook (crates/verity-cli/tests/node.rs): stop at a named point so the test can
    // kill -9 the process exactly there. Never set in production.
    config.pause = std::env::var("VERITY_NODE_TEST_PAUSE_AT").ok().map(Pause::new);
    if config.api_key.is_none() {
        tracing::warn!("no --api-key or VERITY_API_KEY: publishing is disabled");
    }
    let json = a.json;
    verity_node::run(config, move |l| {
        // Tests and scripts read this line to learn the port when listening on port 0.
        if json {
            println!("{}", serde_json::json!({"url": format!("http://{}", l.addr), "executor": l.executor.to_string()}));
        } else {
            println!("verity node listening on http://{} (executor {})", l.addr, l.executor);
        }
    })
}
