//! `verity node`: run a node until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use verity_node::{NodeConfig, Pause};

pub struct NodeArgs {
    pub data: PathBuf,
    pub listen: String,
    pub api_key: Option<String>,
    pub verify_sample: f64,
    pub max_body: usize,
    pub max_input_body: usize,
    pub max_inflight_bytes: usize,
    pub max_connections: usize,
    /// Seconds.
    pub body_timeout: u64,
    pub audit_queue_bytes: usize,
    pub max_concurrency: Option<usize>,
    pub max_queue: usize,
    pub max_proof_queue: usize,
    pub key: Option<PathBuf>,
}

pub fn run(a: NodeArgs) -> Result<()> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).init();
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
    // Test hook (crates/verity-cli/tests/node.rs): stop at a named point so the test can
    // kill -9 the process exactly there. Never set in production.
    config.pause = std::env::var("VERITY_NODE_TEST_PAUSE_AT").ok().map(Pause::new);
    if config.api_key.is_none() {
        tracing::warn!("no --api-key or VERITY_API_KEY: publishing is disabled");
    }
    verity_node::run(config, |l| {
        // Tests and scripts read this line to learn the port when listening on port 0.
        println!("verity node listening on http://{} (executor {})", l.addr, l.executor);
    })
}
