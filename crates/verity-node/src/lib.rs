//! The Verity node: an HTTP API (axum on tokio) in front of an embedded store (redb plus
//! a content-addressed blob directory), signing receipts with the node's executor key and,
//! optionally, auditing receipts as a verifier. `docs/node.md` describes the API, the
//! storage layout and why it survives crashes.
//!
//! - [`run`] serves until SIGINT/SIGTERM (the `verity node` command);
//! - [`start`] serves on a background thread and returns a handle (tests, embedding).

// The hand-written OpenAPI document is one `json!` literal, deeper than the default limit.
#![recursion_limit = "256"]

mod budget;
mod chat;
mod chat_openapi;
mod cheat;
mod config;
mod conn;
mod defence;
mod error;
mod events;
mod forward;
mod hooks;
mod http;
mod hub;
mod limiter;
mod listing;
mod metrics;
mod netverify;
mod openapi;
mod p2p;
mod proofs;
mod receipts;
mod routes;
mod settle;
mod state;
mod store;
mod surface_doc;
mod verifier;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{ensure, Context, Result};
use verity_receipt::Signer;

pub use config::NodeConfig;
pub use hooks::Pause;
pub use p2p::P2pConfig;
pub use proofs::job_id as proof_job_id;
pub use routes::ROUTES;
pub use settle::ChainConfig;
pub use verity_net::Role as P2pRole;

use crate::metrics::Metrics;
use crate::proofs::Prover;
use crate::receipts::ReceiptWriter;
use crate::state::AppState;
use crate::store::Store;
use crate::verifier::Auditor;

/// The OpenAPI document the node serves at `/openapi.json`.
pub fn openapi_document() -> serde_json::Value {
    openapi::document()
}

/// Opens the store (repairing what a crash left), loads or creates the key and starts the
/// background writers. Nothing is served yet.
fn prepare(config: NodeConfig) -> Result<Arc<AppState>> {
    ensure!((0.0..=1.0).contains(&config.verify_sample), "--verify-sample must be between 0 and 1, got {}", config.verify_sample);
    ensure!(config.max_concurrency >= 1, "--max-concurrency must be at least 1");
    ensure!(config.max_body >= 1, "--max-body must be at least 1 byte");
    ensure!(config.max_input_body >= 1, "--max-input-body must be at least 1 byte");
    ensure!(
        config.max_inflight_bytes >= config.max_body.max(config.max_input_body),
        "--max-inflight-bytes ({}) must be at least --max-body and --max-input-body, or the largest allowed request could never be served",
        config.max_inflight_bytes
    );
    ensure!(config.max_connections >= 1, "--max-connections must be at least 1");
    ensure!(!config.body_timeout.is_zero(), "--body-timeout must be positive");
    ensure!(config.proof_queue >= 1, "--max-proof-queue must be at least 1");
    if let Some(k) = &config.api_key {
        ensure!(!k.trim().is_empty() && k.trim() == k, "the API key must be non-empty and have no surrounding whitespace");
    }
    std::fs::create_dir_all(&config.data_dir).with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let (store, report) = Store::open(&config.data_dir, config.pause.clone())?;
    tracing::info!(
        "store: {} models, {} receipts; removed {} partial uploads and {} unreferenced blobs",
        report.models,
        report.receipts,
        report.removed_tmp,
        report.removed_orphans
    );
    for id in &report.missing_blobs {
        tracing::error!("model {id} is registered but its blob is missing; it will not be served");
    }
    let jobs = store.recover_jobs(config.proof_attempts)?;
    tracing::info!(
        "proof jobs: {} to prove ({} interrupted by the last stop), {} abandoned after {} attempts; removed {} unreferenced proof files",
        jobs.pending.len(),
        jobs.interrupted,
        jobs.abandoned,
        config.proof_attempts,
        report.removed_proof_orphans
    );
    let key_path = config.key_file.clone().unwrap_or_else(|| config.data_dir.join("executor.key"));
    let (signer, created) = Signer::load_or_create(&key_path).with_context(|| format!("executor key {}", key_path.display()))?;
    if created {
        tracing::info!("created executor key {}", key_path.display());
    }
    let llms = chat::load(&config.llms)?;
    let store = Arc::new(store);
    let metrics = Arc::new(Metrics::default());
    let signer = Arc::new(signer);
    let receipts = ReceiptWriter::start(store.clone(), signer.clone(), metrics.clone(), config.chain.is_some())?;
    let auditor = Auditor::start(store.clone(), metrics.clone(), config.audit_queue, config.audit_queue_bytes)?;
    metrics.proof_jobs_queued.store(jobs.pending.len() as i64, std::sync::atomic::Ordering::Relaxed);
    let prover = Prover::new(&jobs.pending, config.proving_keys);
    let mut state = AppState::new(config, store, receipts, signer, metrics, auditor, prover);
    state.llms = llms;
    Ok(Arc::new(state))
}

/// Serves until `shutdown` resolves, then lets in-flight requests and the proof in
/// progress finish, commits queued receipts and stops the verifier. Queued proof jobs stay
/// queued in the store and resume at the next start.
async fn serve(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    p2p::start(&state)?;
    settle::start(&state).await?;
    let (stop_prover, stop_rx) = tokio::sync::watch::channel(false);
    let prover = tokio::spawn(proofs::run(state.clone(), stop_rx));
    let stop = stop_prover.clone();
    let st = state.clone();
    let shutdown = async move {
        shutdown.await;
        let _ = stop.send(true);
        st.events.stop();
    };
    let app = routes::router(state.clone());
    let listener = conn::LimitedListener::new(listener, state.config.max_connections);
    let result = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    let _ = stop_prover.send(true);
    if prover.await.is_err() {
        tracing::error!("the prover task failed");
    }
    state.receipts.stop();
    state.auditor.stop();
    tracing::info!("node stopped");
    result.context("the HTTP server failed")
}

fn bind(addr: SocketAddr) -> Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("verity-node")
        .build()
        .context("cannot start the async runtime")
}

/// What a running node tells its starter.
#[derive(Clone, Debug)]
pub struct Listening {
    pub addr: SocketAddr,
    /// EIP-55 address of the executor key.
    pub executor: String,
}

/// Runs a node in the foreground until SIGINT or SIGTERM; `on_listening` is called once
/// the socket is bound.
pub fn run(config: NodeConfig, on_listening: impl FnOnce(&Listening)) -> Result<()> {
    let listen = config.listen;
    let state = prepare(config)?;
    let std_listener = bind(listen)?;
    let info = Listening { addr: std_listener.local_addr()?, executor: state.executor.clone() };
    let rt = runtime()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        on_listening(&info);
        serve(state, listener, shutdown_signal()).await
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// A node serving on a background thread. Dropping it shuts the node down gracefully.
pub struct RunningNode {
    pub listening: Listening,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl RunningNode {
    /// `http://ADDR`
    pub fn url(&self) -> String {
        format!("http://{}", self.listening.addr)
    }

    /// Stops accepting connections, waits for in-flight requests, and returns once the
    /// store is closed.
    pub fn shutdown(mut self) -> Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| anyhow::anyhow!("the node thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningNode {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

/// Starts a node on a background thread (with its own runtime) and returns once it listens.
pub fn start(config: NodeConfig) -> Result<RunningNode> {
    let listen = config.listen;
    let state = prepare(config)?;
    let std_listener = bind(listen)?;
    let listening = Listening { addr: std_listener.local_addr()?, executor: state.executor.clone() };
    let rt = runtime()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new().name("verity-node".into()).spawn(move || {
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener)?;
            serve(state, listener, async {
                let _ = stopped.await;
            })
            .await
        })
    })?;
    Ok(RunningNode { listening, stop: Some(stop), thread: Some(thread) })
}
