//! The node's peer-to-peer side (`--p2p-listen`, `--bootstrap`, `--role`; docs/network.md):
//! starts `verity-net` in the node's runtime with a record signed by the executor key,
//! announces the models it serves and the receipt batches it signs, answers peers'
//! requests (`forward`), audits other executors' batches as a verifier (`netverify`),
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
    /// Fraction (0..=1) of other executors' announced receipts a verifier re-executes.
    pub verify_sample: f64,
}

/// How often the node announces its models and asks new peers for their records.
const TICK: Duration = Duration::from_secs(1);
/// Every this many ticks, all models are announced again (a provider record published
/// before the node had peers reached nobody).
const REANNOUNCE_TICKS: u64 = 5;

pub(crate) fn executes(r: Role) -> bool {
    matches!(r, Role::Executor | Role::Both)
}

fn verifies(r: Role) -> bool {
    matches!(r, Role::Verifier | Role::Both)
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
    // The record binds the libp2p identity to the executor key.
    let keypair = identity(&state.config.data_dir)?;
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
    anyhow::ensure!(
        (0.0..=1.0).contains(&p.verify_sample),
        "--net-verify-sample must be between 0 and 1, got {}",
        p.verify_sample
    );
    let (handle, mut events) = verity_net::spawn(cfg).map_err(|e| anyhow::anyhow!("the p2p network: {e}"))?;
    tracing::info!("p2p: peer id {} ({})", handle.peer_id, p.role.name());
    crate::forward::serve(state.clone(), &handle)?;
    if executes(p.role) {
        announce_batches(state, &handle);
    }
    tokio::spawn(upkeep(state.clone(), handle.clone(), p.role));
    let (st, h, role, rate, own) = (state.clone(), handle.clone(), p.role, p.verify_sample, state.signer.address());
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            match e {
                verity_net::Event::Accepted(verity_net::Accepted::Batch { executor, seq, .. })
                    if verifies(role) && executor != own =>
                {
                    tokio::spawn(crate::netverify::audit_batch(st.clone(), h.clone(), executor, seq, rate));
                }
                verity_net::Event::Listening(a) => tracing::info!("p2p: listening on {a}"),
                verity_net::Event::Accepted(verity_net::Accepted::Conviction(c)) => {
                    tracing::warn!("p2p: executor 0x{} proven faulty: {}", verity_net::record::hex(&c.executor), c.reason);
                    if verifies(role) {
                        tokio::spawn(crate::netverify::challenge_convicted(st.clone(), h.clone(), c.executor, c.receipt_id));
                    }
                }
                verity_net::Event::Rejected { topic, error } => tracing::debug!("p2p: refused a message on {topic}: {error}"),
                _ => {}
            }
        }
    });
    let _ = state.net.handle.set((handle, p.role));
    Ok(())
}

/// The node's libp2p identity, kept in `DATA/p2p.key` (libp2p's protobuf key encoding,
/// owner-only) so that its peer id, which other peers' books and DHT provider records name,
/// survives a restart. Created on first start, written whole before it is used.
fn identity(dir: &std::path::Path) -> Result<Keypair> {
    let path = dir.join("p2p.key");
    match std::fs::read(&path) {
        Ok(bytes) => Keypair::from_protobuf_encoding(&bytes)
            .map_err(|e| anyhow::anyhow!("{} is not a libp2p key ({e}); delete it to start with a new peer id", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Keypair::generate_ed25519();
            let bytes = key.to_protobuf_encoding().context("encoding the libp2p key")?;
            let tmp = dir.join("p2p.key.tmp");
            {
                use std::io::Write;
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create(true).truncate(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts.open(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
                f.write_all(&bytes)?;
                f.sync_all()?;
            }
            std::fs::rename(&tmp, &path).with_context(|| format!("cannot create {}", path.display()))?;
            tracing::info!("p2p: created identity {}", path.display());
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Gossips an announcement of every receipt batch the writer commits.
fn announce_batches(state: &Arc<AppState>, h: &Handle) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    state.receipts.announce_to(tx);
    let h = h.clone();
    tokio::spawn(async move {
        // Sequence numbers must grow across restarts (a repeated one is a replay).
        let mut seq = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
        while let Some(receipts) = rx.recv().await {
            seq += 1;
            match verity_net::BatchAnnouncement::from_batch(&receipts, seq) {
                Ok(a) => {
                    if let Err(e) = h.publish(verity_net::TOPIC_BATCHES, a.encode()).await {
                        tracing::debug!("p2p: announcing a receipt batch: {e}");
                    }
                }
                Err(e) => tracing::error!("p2p: cannot announce a receipt batch: {e}"),
            }
        }
    });
}

/// Announces the models this node serves (new ones at once, all of them now and then) and
/// asks connected peers without a checked record for theirs.
async fn upkeep(st: Arc<AppState>, h: Handle, role: Role) {
    let mut announced = std::collections::HashSet::new();
    let mut tick = 0u64;
    loop {
        if executes(role) {
            let store = st.store.clone();
            let ids = tokio::task::spawn_blocking(move || store.list_models(None, 1000)).await;
            if let Ok(Ok((models, _))) = ids {
                for m in models {
                    let Some(id) = verity_exec::parse_id(&m.model_id) else { continue };
                    if announced.insert(id) || tick.is_multiple_of(REANNOUNCE_TICKS) {
                        let _ = h.provide(id);
                    }
                }
            }
        }
        if let Ok(peers) = h.peers().await {
            for p in peers {
                if !h.book.lock().expect("book lock").records.contains_key(&p) {
                    let h = h.clone();
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(Duration::from_secs(5), h.fetch_record(p)).await;
                    });
                }
            }
        }
        tick += 1;
        tokio::time::sleep(TICK).await;
    }
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
            book.metrics(peers) + &st.routes.metrics()
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::identity;

    #[test]
    fn the_peer_id_survives_a_restart_and_a_bad_key_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let first = identity(dir.path()).unwrap().public().to_peer_id();
        assert_eq!(identity(dir.path()).unwrap().public().to_peer_id(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("p2p.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the key is readable by others");
        }
        assert!(!dir.path().join("p2p.key.tmp").exists());
        std::fs::write(dir.path().join("p2p.key"), b"not a key").unwrap();
        let e = identity(dir.path()).unwrap_err().to_string();
        assert!(e.contains("p2p.key") && e.contains("not a libp2p key"), "{e}");
    }
}
