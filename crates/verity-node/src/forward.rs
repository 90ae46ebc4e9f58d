//! Inference forwarding and the requests peers send this node (docs/network.md,
//! "Forwarding"). An inference for a model this node does not hold goes to a peer that
//! announces the model in the DHT and is not proven faulty; the peer's answer, with the
//! receipt its executor signed, is passed to the client byte for byte, so the client
//! checks it against the executor's key and need not trust this node.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::value::RawValue;
use verity_exec::api::{Evidence, InferRequest};
use verity_net::forward::{self, Answer, DisputeStep, InferCall, REQ_DISPUTE, REQ_INFER, REQ_RECEIPT};
use verity_net::libp2p::PeerId;
use verity_net::{Handle, Inbound};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How long a provider list found in the DHT is reused.
const PROVIDERS_TTL: Duration = Duration::from_secs(2);
const FIND_TIMEOUT: Duration = Duration::from_secs(10);
const RECORD_TIMEOUT: Duration = Duration::from_secs(5);

/// Providers of a model found in the DHT, and when.
type Found = (Instant, Vec<PeerId>);

/// Which executors this node routes to, for each model (a short cache of DHT lookups).
#[derive(Default)]
pub struct Routes {
    providers: Mutex<HashMap<[u8; 32], Found>>,
    next: AtomicUsize,
    /// Forwarding, verification and dispute events, for `/metrics`.
    counters: Mutex<BTreeMap<&'static str, u64>>,
}

impl Routes {
    pub fn count(&self, event: &'static str) {
        *self.counters.lock().expect("counters lock").entry(event).or_default() += 1;
    }

    /// `verity_net_events_total{event="..."}` lines.
    pub fn metrics(&self) -> String {
        let mut out = String::from("# TYPE verity_net_events_total counter\n");
        for (k, v) in self.counters.lock().expect("counters lock").iter() {
            out.push_str(&format!("verity_net_events_total{{event=\"{k}\"}} {v}\n"));
        }
        out
    }
}

fn evidence_byte(e: Evidence) -> u8 {
    match e {
        Evidence::None => 1,
        Evidence::Receipt => 2,
        Evidence::Zk => 3,
    }
}

fn evidence_of(b: u8) -> Evidence {
    match b {
        2 => Evidence::Receipt,
        3 => Evidence::Zk,
        _ => Evidence::None,
    }
}

/// The answer to an inference this node does not serve itself, or `None` when it does (or
/// is not on a network).
pub async fn forward(st: &Arc<AppState>, req: &InferRequest) -> Option<ApiResult<Response>> {
    let (h, _) = st.net.handle()?;
    let id = verity_exec::parse_id(&req.model_id)?;
    if st.store.model_meta(&id).ok().flatten().is_some() {
        return None;
    }
    Some(forward_to_peer(st, h, id, req).await)
}

async fn providers(st: &AppState, h: &Handle, id: [u8; 32]) -> ApiResult<Vec<PeerId>> {
    if let Some((at, p)) = st.routes.providers.lock().expect("routes lock").get(&id) {
        if at.elapsed() < PROVIDERS_TTL {
            return Ok(p.clone());
        }
    }
    let unavailable = |m: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m);
    let mut found = tokio::time::timeout(FIND_TIMEOUT, h.find_providers(id))
        .await
        .map_err(|_| unavailable("the DHT lookup for the model's providers timed out".into()))?
        .map_err(|e| unavailable(e.to_string()))?;
    found.retain(|p| *p != h.peer_id);
    found.sort();
    found.dedup();
    st.routes.providers.lock().expect("routes lock").insert(id, (Instant::now(), found.clone()));
    Ok(found)
}

/// The executor address a peer's checked record names (fetched once, then kept).
async fn executor_of(h: &Handle, peer: PeerId) -> Option<[u8; 20]> {
    if let Some(r) = h.book.lock().expect("book lock").records.get(&peer) {
        return Some(r.executor);
    }
    match tokio::time::timeout(RECORD_TIMEOUT, h.fetch_record(peer)).await {
        Ok(Ok(r)) => Some(r.executor),
        _ => None,
    }
}

async fn forward_to_peer(st: &Arc<AppState>, h: &Handle, id: [u8; 32], req: &InferRequest) -> ApiResult<Response> {
    let hex = verity_commit::hash::hex(&id);
    let call = InferCall { model_id: id, evidence: evidence_byte(req.evidence), input: req.input.get().as_bytes().to_vec() };
    let envelope = call.encode().map_err(|e| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("this node does not hold model {hex}, and the input is too large to forward: {e}"),
        )
    })?;
    let peers = providers(st, h, id).await?;
    if peers.is_empty() {
        return Err(ApiError::not_found(format!("no model with id {hex} on this node, and no peer announces it")));
    }
    // Round robin over the providers, starting at a different one each time.
    let start = st.routes.next.fetch_add(1, Ordering::Relaxed);
    let mut last = format!("every peer that announces model {hex} is proven faulty");
    for i in 0..peers.len() {
        let peer = peers[(start + i) % peers.len()];
        let Some(executor) = executor_of(h, peer).await else {
            last = format!("peer {peer} has no valid node record");
            continue;
        };
        if h.book.lock().expect("book lock").is_faulty(&executor) {
            st.routes.count("skipped_faulty");
            continue;
        }
        match h.call(peer, envelope.clone()).await {
            Ok(Answer::Ok(data)) if data.len() >= 2 => {
                st.routes.count("forwarded");
                let status = StatusCode::from_u16(u16::from_be_bytes([data[0], data[1]])).unwrap_or(StatusCode::OK);
                let mut resp = (status, data[2..].to_vec()).into_response();
                let hv = |s: String| HeaderValue::from_str(&s).expect("ascii");
                resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                resp.headers_mut().insert("x-verity-executed-by", hv(peer.to_string()));
                return Ok(resp);
            }
            Ok(Answer::Refused { status, message }) if status != 404 && status < 500 => {
                // The input or the request is wrong: another executor would say the same.
                st.routes.count("refused");
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
                return Err(ApiError::new(status, format!("peer {peer}: {message}")));
            }
            Ok(Answer::Refused { message, .. }) => last = format!("peer {peer}: {message}"),
            Ok(Answer::Ok(_)) => last = format!("peer {peer} sent a truncated answer"),
            Err(e) => last = format!("peer {peer}: {e}"),
        }
        st.routes.count("failed");
    }
    st.routes.providers.lock().expect("routes lock").remove(&id);
    Err(ApiError::new(StatusCode::BAD_GATEWAY, format!("no peer could serve model {hex}: {last}")))
}

/// Answers the requests peers send this node, each in its own task.
pub fn serve(st: Arc<AppState>, h: &Handle) -> anyhow::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Inbound>(verity_net::swarm::INBOUND_QUEUE);
    h.serve_requests(tx).map_err(|e| anyhow::anyhow!("{e}"))?;
    tokio::spawn(async move {
        while let Some(req) = rx.recv().await {
            let st = st.clone();
            tokio::spawn(async move {
                let resp = answer(&st, &req.body).await;
                let _ = req.reply.send(resp);
            });
        }
    });
    Ok(())
}

async fn answer(st: &Arc<AppState>, body: &[u8]) -> Vec<u8> {
    let result = match body.first() {
        Some(&REQ_INFER) => infer_here(st, body).await,
        Some(&REQ_RECEIPT) => receipt_here(st, body).await,
        Some(&REQ_DISPUTE) => dispute_here(st, body).await,
        _ => Err(ApiError::bad_request("unknown request type")),
    };
    match result {
        Ok(data) => forward::ok(&data),
        Err(e) => forward::refused(e.status.as_u16(), &e.message),
    }
}

fn bad(e: verity_net::NetError) -> ApiError {
    ApiError::bad_request(e.to_string())
}

/// A forwarded inference, run here; never forwarded again (so requests cannot loop).
async fn infer_here(st: &Arc<AppState>, body: &[u8]) -> ApiResult<Vec<u8>> {
    let call = InferCall::decode(body).map_err(bad)?;
    let input = String::from_utf8(call.input).map_err(|_| ApiError::bad_request("the forwarded input is not UTF-8"))?;
    let input =
        RawValue::from_string(input).map_err(|e| ApiError::bad_request(format!("the forwarded input is not JSON: {e}")))?;
    let req = InferRequest { model_id: verity_commit::hash::hex(&call.model_id), input, evidence: evidence_of(call.evidence) };
    let (status, response) = crate::routes::run_infer(st, req).await?;
    st.routes.count("served_for_peer");
    let mut out = status.as_u16().to_be_bytes().to_vec();
    out.extend_from_slice(&serde_json::to_vec(&response).map_err(|e| ApiError::internal("encoding an answer", e))?);
    Ok(out)
}

/// A receipt this node issued, with the input it answers (for verifiers).
async fn receipt_here(st: &Arc<AppState>, body: &[u8]) -> ApiResult<Vec<u8>> {
    let id = forward::decode_receipt_request(body).map_err(bad)?;
    let record = crate::routes::load_record(st, id).await?;
    Ok(forward::encode_receipt_answer(&record.receipt, record.input.get().as_bytes()))
}

/// One step of a dispute over a receipt this node issued: the executor's side, played
/// with this node's own execution (whatever it really ran) and the commitment of the model
/// the receipt names.
async fn dispute_here(st: &Arc<AppState>, body: &[u8]) -> ApiResult<Vec<u8>> {
    let step = DisputeStep::decode(body).map_err(bad)?;
    let record = crate::routes::load_record(st, step.receipt_id).await?;
    let permit = st.permit().await?;
    let st2 = st.clone();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        if step.executor_moves >= 2 {
            crate::hooks::Pause::at(&st2.config.pause, "net:dispute-step");
        }
        let d = crate::defence::Defence::of(&st2, record)?;
        let mut player = d.player();
        let statement = d.statement()?;
        let (mv, sig) = verity_net::game::executor_step(statement, &mut player, &step, &st2.signer).map_err(bad)?;
        st2.routes.count("dispute_steps_answered");
        Ok(forward::encode_move_answer(&mv, &sig))
    })
    .await
    .map_err(|e| ApiError::internal("a dispute step failed", e))?
}
