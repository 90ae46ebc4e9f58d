//! The node's peer-to-peer side (`--p2p-listen`, `--bootstrap`, `--role`; docs/network.md):
//! starts `verity-net` in the node's runtime with a record signed by the executor key,
//! serves `GET /v1/peers` and adds the network's counters to `/metrics`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use verity_net::libp2p::identity::Keypair;
use verity_net::{Config, Handle, NodeRecord, Role, TransportKind};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What `verity node` was told about the network.
#[derive(Clone, Debug)]
pub struct P2pConfig {
    pub listen: Vec<String>,
    pub bootstrap: Vec<String>,
    pub role: Role,
}

/// The running network, once started.
#[derive(Default)]
pub struct Net {
    handle: OnceLock<(Handle, Role)>,
}

impl Net {
    pub fn handle(&self) -> Option<&(Handle, Role)> {
        self.handle.get()
    }
}

/// Starts the network if the operator asked for it; must run inside the node's runtime.
pub fn start(state: &Arc<AppState>) -> Result<()> {
    let Some(p) = &state.config.p2p else { return Ok(()) };
    let parse = |a: &String| a.parse().with_context(|| format!("not a multiaddr: {a}"));
    let listen = p.listen.iter().map(parse).collect::<Result<Vec<_>>>()?;
    let bootstrap = p.bootstrap.iter().map(parse).collect::<Result<Vec<_>>>()?;
    // The libp2p identity is fresh at each start; the record binds it to the executor key.
    let keypair = Keypair::generate_ed25519();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let record = NodeRecord::sign(&state.signer, keypair.public().to_peer_id(), p.role, now);
    let cfg = Config {
        keypair,
        transport: TransportKind::Tcp,
        listen,
        bootstrap,
        record: Some(record),
        heartbeat: Duration::from_secs(1),
        bytes_sent: None,
    };
    let (handle, mut events) = verity_net::spawn(cfg).map_err(|e| anyhow::anyhow!("the p2p network: {e}"))?;
    tracing::info!("p2p: peer id {} ({})", handle.peer_id, p.role.name());
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            match e {
                verity_net::Event::Listening(a) => tracing::info!("p2p: listening on {a}"),
                verity_net::Event::Accepted(verity_net::Accepted::Conviction(c)) => {
                    tracing::warn!("p2p: executor 0x{} proven faulty: {}", verity_net::record::hex(&c.executor), c.reason)
                }
                verity_net::Event::Rejected { topic, error } => tracing::debug!("p2p: refused a message on {topic}: {error}"),
                _ => {}
            }
        }
    });
    let _ = state.net.handle.set((handle, p.role));
    Ok(())
}

/// `GET /v1/peers`: this node's peer id and role, its connected peers with their checked
/// records, and the executors proven faulty.
pub async fn peers(State(st): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    let Some((h, role)) = st.net.handle() else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "this node is not on a p2p network (start it with --p2p-listen)"));
    };
    let connected = h.peers().await.map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let book = h.book.lock().expect("book lock");
    let peers: Vec<Value> = connected
        .iter()
        .map(|p| {
            let rec = book.records.get(p);
            json!({
                "peer_id": p.to_string(),
                "executor": rec.map(|r| format!("0x{}", verity_net::record::hex(&r.executor))),
                "role": rec.map(|r| r.role.name()),
            })
        })
        .collect();
    let faulty: Vec<Value> = book
        .faulty
        .values()
        .map(|(c, _)| json!({"executor": format!("0x{}", verity_net::record::hex(&c.executor)), "receipt_id": verity_net::record::hex(&c.receipt_id), "reason": c.reason}))
        .collect();
    Ok(Json(json!({"peer_id": h.peer_id.to_string(), "role": role.name(), "peers": peers, "faulty_executors": faulty})))
}

/// The network's lines for `/metrics` (empty without a network).
pub fn metrics(st: &AppState) -> String {
    match st.net.handle() {
        Some((h, _)) => {
            let book = h.book.lock().expect("book lock");
            let peers = book.records.len();
            book.metrics(peers)
        }
        None => String::new(),
    }
}
