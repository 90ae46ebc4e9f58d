//! The HTTP API (`docs/node.md`; `openapi.rs` describes the same routes).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use base64::Engine as _;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use verity_exec::api::{
    AuditRequest, AuditResponse, Evidence, InferRequest, InferResponse, JobState, MismatchSource, ModelList, NodeInfo, ProofJob,
    PublishRequest, PublishResponse, VerifyProofRequest, VerifyProofResponse, VerifyRequest, VerifyResponse,
};
use verity_exec::{parse_id, receipt_id};
use verity_model::Model;

use crate::budget::Reservation;
use crate::error::{ApiError, ApiResult};
use crate::hooks::Pause;
use crate::limiter::Permit;
use crate::proofs::{job_id, public_job};
use crate::state::{AppState, Loaded};
use crate::store::{JobRow, ModelMeta, Submitted};
use crate::verifier::{record_mismatch, sampled, AuditJob};
use crate::{metrics, openapi};

/// Every route as (method, path template); `openapi.rs` must describe exactly these
/// (checked by a test).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/"),
    ("get", "/health"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/v1/info"),
    ("get", "/v1/models"),
    ("post", "/v1/models"),
    ("get", "/v1/models/{id}"),
    ("get", "/v1/models/{id}/vrt"),
    ("get", "/v1/models/{id}/vk"),
    ("post", "/v1/infer"),
    ("get", "/v1/receipts"),
    ("get", "/v1/receipts/{id}"),
    ("get", "/v1/proofs"),
    ("get", "/v1/proofs/{id}"),
    ("get", "/v1/proofs/{id}/file"),
    ("get", "/v1/proofs/{id}/events"),
    ("post", "/v1/verify/receipt"),
    ("post", "/v1/verify/proof"),
    ("post", "/v1/audit"),
    ("get", "/v1/mismatches"),
    ("get", "/v1/peers"),
    ("post", "/v1/chat/completions"),
];

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(crate::http::index))
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi_doc))
        .route("/v1/info", get(info))
        .route("/v1/models", get(list_models).post(publish))
        .route("/v1/models/{id}", get(describe_model))
        .route("/v1/models/{id}/vrt", get(download_model))
        .route("/v1/models/{id}/vk", get(download_vk))
        .route("/v1/infer", post(infer))
        .route("/v1/receipts", get(crate::listing::list_receipts))
        .route("/v1/receipts/{id}", get(get_receipt))
        .route("/v1/proofs", get(crate::listing::list_proofs))
        .route("/v1/proofs/{id}", get(get_proof_job))
        .route("/v1/proofs/{id}/file", get(get_proof_file))
        .route("/v1/proofs/{id}/events", get(crate::events::proof_events))
        .route("/v1/verify/receipt", post(verify_receipt))
        .route("/v1/verify/proof", post(verify_proof))
        .route("/v1/audit", post(audit))
        .route("/v1/mismatches", get(list_mismatches))
        .route("/v1/peers", get(crate::p2p::peers))
        .route("/v1/chat/completions", post(crate::chat::completions))
        .fallback(|| async { ApiError::not_found("no such route; see /openapi.json") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this route; see /openapi.json")
        })
        .layer(middleware::from_fn(close_if_body_unread))
        .layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(middleware::from_fn_with_state(state.clone(), crate::http::cors))
        .layer(middleware::from_fn(crate::http::access_log))
        .with_state(state)
}

// ---- helpers ----

/// hyper closes a connection whose request body was not read to the end, but says nothing;
/// a client that reuses it then fails on its next request. Such answers are errors sent
/// before reading (401, 413, ...) or GETs that carried a body, so those announce
/// `Connection: close` and well-behaved clients open a fresh connection.
async fn close_if_body_unread(req: axum::extract::Request, next: middleware::Next) -> Response {
    let has_body = req.headers().get(header::CONTENT_LENGTH).is_some_and(|v| v != "0")
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    let bodyless_method = matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD);
    let mut response = next.run(req).await;
    if has_body && (bodyless_method || response.status().is_client_error() || response.status().is_server_error()) {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// How much of a refused request body the node still reads and discards so that the client,
/// which is usually still sending, receives the error instead of a broken pipe.
const DRAIN_BUDGET: u64 = 4 << 20;

/// Reads and discards up to [`DRAIN_BUDGET`] bytes of a body the node will not use.
async fn drain(mut body: Body) {
    let mut seen = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        seen += frame.data_ref().map_or(0, |d| d.len() as u64);
        if seen > DRAIN_BUDGET {
            return;
        }
    }
}

/// Bodies at least this large are parsed on the blocking pool: parsing 28 MB of JSON on an
/// async worker stalls every connection that worker serves, `/health` included.
const PARSE_INLINE_MAX: usize = 64 << 10;

/// Reads a JSON body of at most `limit` bytes and parses it. The body's bytes are reserved
/// against the node's in-flight budget *before* they are buffered (all at once when the
/// length is declared, frame by frame otherwise) and stay reserved while the caller holds
/// the returned [`Reservation`], i.e. until the request is answered. 413 beyond `limit`,
/// 503 when the budget is spent, 408 when the body takes longer than `--body-timeout`, 400
/// if it is not the expected JSON (the message names the offending field where serde can).
pub(crate) async fn read_json<T: DeserializeOwned + Send + 'static>(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> ApiResult<(T, Reservation)> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than this node's limit of {limit} bytes for this route"),
        )
    };
    let busy = || {
        st.metrics.bodies_refused.fetch_add(1, Ordering::Relaxed);
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the node is holding {} of its {} bytes for request bodies (--max-inflight-bytes); retry later",
                st.bodies.used(),
                st.bodies.cap()
            ),
        )
    };
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared {
        if n > limit as u64 {
            if n <= limit as u64 + DRAIN_BUDGET {
                drain(body).await;
            }
            return Err(too_large()); // beyond that not worth draining; the client may see a reset
        }
    }
    let Some(mut held) = st.bodies.try_reserve(declared.unwrap_or(0) as usize) else {
        let e = busy();
        if declared.is_some_and(|n| n <= DRAIN_BUDGET) {
            drain(body).await;
        }
        return Err(e);
    };
    let reading = async {
        let mut body = body;
        let mut bytes = Vec::with_capacity(held.bytes());
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
            let Some(data) = frame.data_ref() else { continue };
            if bytes.len() + data.len() > limit {
                drain(body).await;
                return Err(too_large());
            }
            let extra = (bytes.len() + data.len()).saturating_sub(held.bytes());
            if extra > 0 && !held.grow(extra) {
                return Err(busy());
            }
            bytes.extend_from_slice(data);
        }
        Ok(bytes)
    };
    let bytes = tokio::time::timeout(st.config.body_timeout, reading).await.map_err(|_| {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request body did not arrive within {} s (--body-timeout)", st.config.body_timeout.as_secs_f64()),
        )
    })??;
    let parse = move || serde_json::from_slice::<T>(&bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")));
    let value = if held.bytes() < PARSE_INLINE_MAX {
        parse()?
    } else {
        tokio::task::spawn_blocking(parse).await.map_err(|e| ApiError::internal("parsing a request failed", e))??
    };
    Ok((value, held))
}

pub(crate) fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(t)| t).map_err(|e| ApiError::bad_request(format!("invalid query string: {}", e.body_text())))
}

/// The `{id}` segment of a path as 32 bytes.
pub(crate) fn path_id(what: &str, p: Result<Path<String>, PathRejection>) -> ApiResult<[u8; 32]> {
    let Path(text) = p.map_err(|e| ApiError::bad_request(format!("invalid path: {}", e.body_text())))?;
    id_param(what, &text)
}

pub(crate) fn id_param(what: &str, text: &str) -> ApiResult<[u8; 32]> {
    parse_id(text).ok_or_else(|| ApiError::bad_request(format!("{what} must be 64 hex digits, got {text:?}")))
}

/// Write endpoints need `Authorization: Bearer KEY`, exactly: one space after the scheme
/// and the key as configured, with no padding (a key with stray spaces is another key).
/// Both sides are hashed before the comparison (BLAKE3's `Hash` compares in constant
/// time), so timing reveals neither the key nor its length.
pub(crate) fn authorize(st: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let Some(key) = &st.config.api_key else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "publishing is disabled on this node: start it with --api-key or VERITY_API_KEY",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .and_then(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer").then_some(token));
    match given {
        None => Err(ApiError::new(StatusCode::UNAUTHORIZED, "missing API key: send the header Authorization: Bearer KEY")),
        Some(g) if blake3::hash(g.as_bytes()) == blake3::hash(key.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid API key")),
    }
}

/// Runs CPU-bound work on the blocking pool, holding the compute slot until it finishes
/// (even if the client disconnects and this future is dropped).
async fn compute<T: Send + 'static>(permit: Permit, f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        f()
    })
    .await
    .map_err(|e| ApiError::internal("a computation failed", e))?
}

// ---- service routes ----

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn metrics_text(State(st): State<Arc<AppState>>) -> Response {
    let l = &st.limiter;
    let text = st.metrics.render(
        l.queued.load(Ordering::Relaxed),
        l.running.load(Ordering::Relaxed),
        l.rejected.load(Ordering::Relaxed),
        st.bodies.used(),
    ) + &crate::p2p::metrics(&st)
        + &st.chain.metrics();
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"))], text).into_response()
}

async fn openapi_doc() -> Json<Value> {
    Json(openapi::document())
}

async fn info(State(st): State<Arc<AppState>>) -> ApiResult<Json<NodeInfo>> {
    let store = st.store.clone();
    let ((models, receipts), (proofs, pending)) =
        tokio::task::spawn_blocking(move || anyhow::Ok((store.counts()?, store.proof_counts()?)))
            .await
            .map_err(|e| ApiError::internal("counting failed", e))?
            .map_err(|e| ApiError::internal("cannot read the store", format!("{e:#}")))?;
    let c = &st.config;
    Ok(Json(NodeInfo {
        executor: st.executor.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        publish_enabled: c.api_key.is_some(),
        verify_sample: c.verify_sample,
        max_body: c.max_body as u64,
        max_input_body: c.max_input_body as u64,
        max_inflight_bytes: c.max_inflight_bytes as u64,
        max_connections: c.max_connections as u32,
        max_concurrency: c.max_concurrency as u32,
        max_queue: c.max_queue as u32,
        models,
        receipts,
        proofs,
        proof_jobs_pending: pending,
        max_proof_queue: c.proof_queue as u32,
    }))
}

// ---- models ----

use crate::hub::ModelsQuery;

const MAX_PAGE: usize = 1000;

/// A page size: default 100, at most [`MAX_PAGE`] (larger asks get that many); 0 is a 400,
/// since an empty page could not say where the next one starts.
pub(crate) fn page_limit(limit: Option<usize>) -> ApiResult<usize> {
    match limit {
        Some(0) => Err(ApiError::bad_request(format!("limit must be between 1 and {MAX_PAGE}"))),
        l => Ok(l.unwrap_or(100).min(MAX_PAGE)),
    }
}

async fn list_models(
    State(st): State<Arc<AppState>>,
    q: Result<Query<ModelsQuery>, QueryRejection>,
) -> ApiResult<Json<ModelList>> {
    let q = query(q)?;
    let after = q.after.as_deref().map(|a| id_param("after", a)).transpose()?;
    let limit = page_limit(q.limit)?;
    let store = st.store.clone();
    let (models, next_after) = tokio::task::spawn_blocking(move || match q.filtered() {
        true => store.list_models_where(after, limit, &|m| q.matches(m)),
        false => store.list_models(after, limit),
    })
    .await
    .map_err(|e| ApiError::internal("listing models failed", e))?
    .map_err(|e| ApiError::internal("cannot list models", format!("{e:#}")))?;
    let data = crate::chat::model_objects(&st, after.is_none(), &models);
    Ok(Json(ModelList { models, next_after, object: "list".into(), data }))
}

async fn publish(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<PublishResponse>)> {
    if let Err(e) = authorize(&st, &headers) {
        drain(body).await;
        return Err(e);
    }
    let (req, _body): (PublishRequest, _) = read_json(&st, &headers, body, st.config.max_body).await?;
    let permit = st.permit().await?;
    let st2 = st.clone();
    let (model_id, created) = compute(permit, move || publish_blocking(&st2, req)).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(PublishResponse { model_id, created })))
}

fn base64_field(name: &str, text: &str) -> ApiResult<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| ApiError::bad_request(format!("`{name}` is not valid base64: {e}")))
}

fn publish_blocking(st: &AppState, req: PublishRequest) -> ApiResult<(String, bool)> {
    let hub = crate::hub::from_request(&req)?;
    let (model, source) = match (req.vrt, req.onnx) {
        (Some(vrt), None) => {
            if req.calibration.is_some() || req.bits.is_some() {
                return Err(ApiError::bad_request("`calibration` and `bits` go with `onnx`, not with `vrt`"));
            }
            let bytes = base64_field("vrt", &vrt)?;
            let model =
                Model::decode(&bytes).map_err(|e| ApiError::bad_request(format!("`vrt` is not a valid canonical model: {e}")))?;
            (model, "vrt")
        }
        (None, Some(onnx)) => {
            let cal = req.calibration.ok_or_else(|| ApiError::bad_request("`onnx` needs `calibration` (calibration samples)"))?;
            let bits = req.bits.unwrap_or(8);
            let bytes = base64_field("onnx", &onnx)?;
            let model = verity_exec::import_onnx(&bytes, cal.get(), bits)
                .map_err(|e| ApiError::bad_request(format!("cannot import the ONNX model: {e}")))?;
            (model, "onnx")
        }
        _ => return Err(ApiError::bad_request("send exactly one of `vrt` (a canonical model) or `onnx` with `calibration`")),
    };
    let bytes = model.encode();
    let id = verity_model::Model::id_of_encoding(&bytes);
    let id_hex = verity_commit::hash::hex(&id);
    let stored = st.store.model_meta(&id).map_err(|e| ApiError::internal("cannot read model metadata", format!("{e:#}")))?;
    if let Some(stored) = &stored {
        crate::hub::check_republish(&id_hex, stored, &hub)?;
    }
    let meta = ModelMeta { bytes: bytes.len() as u64, source: source.into(), published_at: verity_exec::unix_now(), hub };
    let created =
        st.store.put_model(&id, &bytes, &meta).map_err(|e| ApiError::internal("cannot store the model", format!("{e:#}")))?;
    if created {
        tracing::info!("published model {id_hex} ({source}, {} bytes)", bytes.len());
    }
    Ok((id_hex, created))
}

async fn describe_model(State(st): State<Arc<AppState>>, id: Result<Path<String>, PathRejection>) -> ApiResult<Json<Value>> {
    let id = path_id("model id", id)?;
    let st2 = st.clone();
    let out = tokio::task::spawn_blocking(move || -> ApiResult<Value> {
        let m = st2.model(&id)?;
        let meta = st2.store.model_meta(&id).map_err(|e| ApiError::internal("cannot read model metadata", format!("{e:#}")))?;
        let mut v = verity_exec::inspect_json(&m.model);
        if let (Some(meta), Some(obj)) = (meta, v.as_object_mut()) {
            crate::hub::describe(obj, &meta);
            obj.insert("bytes".into(), meta.bytes.into());
            obj.insert("source".into(), meta.source.into());
            obj.insert("published_at".into(), meta.published_at.into());
        }
        Ok(v)
    })
    .await
    .map_err(|e| ApiError::internal("describing a model failed", e))??;
    Ok(Json(out))
}

/// The model's verifying key (`verity keygen`'s `.vk`), derived here from the model:
/// light clients check proofs with it, without the weights (docs/zk.md).
async fn download_vk(State(st): State<Arc<AppState>>, id: Result<Path<String>, PathRejection>) -> ApiResult<Response> {
    let id = path_id("model id", id)?;
    let st2 = st.clone();
    let bytes = tokio::task::spawn_blocking(move || -> ApiResult<Vec<u8>> {
        let m = st2.model(&id)?;
        let key = verity_zk::vk::LightKey::new(&m.model)
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("this model cannot be proven: {e}")))?;
        Ok(key.encode())
    })
    .await
    .map_err(|e| ApiError::internal("deriving a verifying key failed", e))??;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"))], bytes).into_response())
}

async fn download_model(State(st): State<Arc<AppState>>, id: Result<Path<String>, PathRejection>) -> ApiResult<Response> {
    let id = path_id("model id", id)?;
    let store = st.store.clone();
    let bytes = tokio::task::spawn_blocking(move || store.read_model(&id))
        .await
        .map_err(|e| ApiError::internal("reading a model failed", e))?
        .map_err(|e| ApiError::internal("cannot read a stored model", format!("{e:#}")))?
        .ok_or_else(|| ApiError::not_found(format!("no model with id {} on this node", verity_commit::hash::hex(&id))))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
        ],
        bytes,
    )
        .into_response())
}

// ---- inference and receipts ----

/// The proving key of a model, or 422 naming what cannot be proved (the op and its node).
fn zk_key(st: &AppState, m: &Loaded) -> ApiResult<Arc<verity_zk::protocol::ProvingKey>> {
    st.prover.keys.get(m).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("evidence \"zk\" is not available for model {}: {e}; use \"receipt\" or \"none\"", m.id_hex),
        )
    })
}

async fn infer(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let (req, _body): (InferRequest, _) = read_json(&st, &headers, body, st.config.max_input_body).await?;
    // A model this node does not hold is served by a peer, if it is on a network.
    if let Some(forwarded) = crate::forward::forward(&st, &req).await {
        return forwarded;
    }
    let (status, response) = run_infer(&st, req).await?;
    Ok((status, Json(response)).into_response())
}

/// Runs an inference on this node (for a local client, or one a peer forwarded).
pub(crate) async fn run_infer(st: &Arc<AppState>, req: InferRequest) -> ApiResult<(StatusCode, InferResponse)> {
    let id = id_param("model_id", &req.model_id)?;
    let permit = st.permit().await?;
    let st2 = st.clone();
    let (mut response, receipt_row, job) = compute(permit, move || {
        let m = st2.model(&id)?;
        if req.evidence == Evidence::Zk {
            // Refuse before accepting a job that could never be proved.
            zk_key(&st2, &m)?;
        }
        let inputs = verity_exec::parse_input(&m.model, req.input.get()).map_err(|e| ApiError::bad_request(e.to_string()))?;
        Pause::at(&st2.config.pause, "infer:compute");
        let ex = verity_exec::execute(&m.engine, &m.model, &inputs).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let response = InferResponse {
            model_id: m.id_hex.clone(),
            input_hash: verity_commit::hash::hex(&ex.input_hash),
            output_hash: verity_commit::hash::hex(&ex.output_hash),
            outputs: verity_exec::real_outputs(&m.model, &ex.outputs),
            evidence: req.evidence,
            receipt: None,
            receipt_id: None,
            proof_job: None,
        };
        let mut row = None;
        let mut job = None;
        if req.evidence == Evidence::Receipt {
            let body = verity_exec::receipt_body(st2.signer.address(), m.id, &ex, verity_exec::unix_now());
            row = Some((body, req.input, m));
        } else if req.evidence == Evidence::Zk {
            let jid = job_id(&m.id, &ex.input_hash);
            let fresh = JobRow {
                job: ProofJob::queued(
                    verity_commit::hash::hex(&jid),
                    m.id_hex.clone(),
                    response.input_hash.clone(),
                    response.output_hash.clone(),
                    verity_exec::unix_now(),
                ),
                input: req.input.get().to_string(),
            };
            job = Some((jid, fresh));
        }
        Ok((response, row, job))
    })
    .await?;
    let mut status = StatusCode::OK;
    if let Some((body, input, model)) = receipt_row {
        // Acknowledge only what is durable: the answer leaves after the commit.
        let audit = sampled(st.config.verify_sample, &body.signing_hash()).then(|| input.clone());
        let receipt =
            st.receipts.issue(body, input).await.map_err(|e| ApiError::internal("cannot store the receipt", format!("{e:#}")))?;
        st.metrics.receipts_issued.fetch_add(1, Ordering::Relaxed);
        if let Some(input) = audit {
            st.auditor.submit(AuditJob { source: MismatchSource::Issued, receipt: receipt.clone(), input, model });
        }
        response.receipt_id = Some(receipt_id(&receipt));
        response.receipt = Some(receipt);
    }
    if let Some((jid, fresh)) = job {
        // Likewise: the job is committed (and so survives a crash) before the answer leaves.
        let st2 = st.clone();
        let max = st.config.proof_queue as u64;
        let submitted = tokio::task::spawn_blocking(move || st2.store.submit_job(&jid, fresh, max))
            .await
            .map_err(|e| ApiError::internal("queueing a proof job failed", e))?
            .map_err(|e| ApiError::internal("cannot store the proof job", format!("{e:#}")))?;
        match submitted {
            Submitted::Queued(seq) => {
                st.metrics.proof_jobs_queued.fetch_add(1, Ordering::Relaxed);
                st.prover.enqueue(seq);
                tracing::info!("proof job {} queued for model {}", verity_commit::hash::hex(&jid), response.model_id);
            }
            Submitted::Existing => {}
            Submitted::Full => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the proof queue is full ({max} jobs queued or running); retry later"),
                ))
            }
        }
        response.proof_job = Some(verity_commit::hash::hex(&jid));
        status = StatusCode::ACCEPTED;
    }
    st.metrics.inferences.fetch_add(1, Ordering::Relaxed);
    Ok((status, response))
}

async fn get_receipt(State(st): State<Arc<AppState>>, id: Result<Path<String>, PathRejection>) -> ApiResult<Response> {
    let id = path_id("receipt id", id)?;
    Ok(Json(load_record(&st, id).await?).into_response())
}

/// The stored record of a receipt this node issued; 404 if there is none.
pub(crate) async fn load_record(st: &Arc<AppState>, id: [u8; 32]) -> ApiResult<verity_exec::api::ReceiptRecord> {
    let store = st.store.clone();
    let bytes = tokio::task::spawn_blocking(move || store.get_receipt(&id))
        .await
        .map_err(|e| ApiError::internal("reading a receipt failed", e))?
        .map_err(|e| ApiError::internal("cannot read a receipt", format!("{e:#}")))?
        .ok_or_else(|| ApiError::not_found(format!("no receipt with id {} on this node", verity_commit::hash::hex(&id))))?;
    crate::receipts::decode_record(&bytes).map_err(|e| ApiError::internal("cannot read a receipt", format!("{e:#}")))
}

/// The job with this job id or proof id, with its progress; 404 if neither.
async fn find_job(st: &Arc<AppState>, id: [u8; 32]) -> ApiResult<(u64, JobRow)> {
    let store = st.store.clone();
    tokio::task::spawn_blocking(move || store.find_job(&id))
        .await
        .map_err(|e| ApiError::internal("reading a proof job failed", e))?
        .map_err(|e| ApiError::internal("cannot read a proof job", format!("{e:#}")))?
        .ok_or_else(|| {
            ApiError::not_found(format!("no proof job and no proof with id {} on this node", verity_commit::hash::hex(&id)))
        })
}

async fn get_proof_job(State(st): State<Arc<AppState>>, id: Result<Path<String>, PathRejection>) -> ApiResult<Json<ProofJob>> {
    let id = path_id("proof job id", id)?;
    let (seq, row) = find_job(&st, id).await?;
    let st2 = st.clone();
    let job = tokio::task::spawn_blocking(move || public_job(&st2, seq, row))
        .await
        .map_err(|e| ApiError::internal("reading a proof job failed", e))?
        .map_err(|e| ApiError::internal("cannot read the proof queue", format!("{e:#}")))?;
    Ok(Json(job))
}

async fn get_proof_file(State(st): State<Arc<AppState>>, id: Result<Path<String>, PathRejection>) -> ApiResult<Response> {
    let id = path_id("proof id", id)?;
    let (_, row) = find_job(&st, id).await?;
    let job = row.job;
    if job.state != JobState::Done {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("proof job {} is {}; poll GET /v1/proofs/{} until it is done", job.job_id, job.state.as_str(), job.job_id),
        ));
    }
    let proof_id = job
        .proof_id
        .as_deref()
        .and_then(parse_id)
        .ok_or_else(|| ApiError::internal("a done job has no proof id", &job.job_id))?;
    let store = st.store.clone();
    let bytes = tokio::task::spawn_blocking(move || store.read_proof(&proof_id))
        .await
        .map_err(|e| ApiError::internal("reading a proof failed", e))?
        .map_err(|e| ApiError::internal("cannot read a stored proof", format!("{e:#}")))?
        .ok_or_else(|| ApiError::internal("a done job's proof is not registered", &job.job_id))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
        ],
        bytes,
    )
        .into_response())
}

/// Checks anyone's proof file against this node's copy of the model: the key is derived
/// from the model here, never taken from the request.
async fn verify_proof(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> ApiResult<Json<VerifyProofResponse>> {
    let (req, _body): (VerifyProofRequest, _) = read_json(&st, &headers, body, st.config.max_body).await?;
    let id = id_param("model_id", &req.model_id)?;
    let bytes = base64_field("proof", &req.proof)?;
    let permit = st.permit().await?;
    let st2 = st.clone();
    let out = compute(permit, move || {
        let m = st2.model(&id)?;
        let pk = zk_key(&st2, &m)?;
        let proof_id = blake3::hash(&bytes).to_hex().to_string();
        let checked = verity_zk::file::ProofFile::decode(&bytes).and_then(|f| {
            if f.model_id != m.id {
                return Err(format!("the proof is for model {}, not {}", verity_commit::hash::hex(&f.model_id), m.id_hex));
            }
            verity_zk::protocol::verify(&m.model, &pk.vk, &f.inputs, &f.outputs, &f.proof)
        });
        Ok(VerifyProofResponse { valid: checked.is_ok(), error: checked.err(), proof_id })
    })
    .await?;
    st.metrics.proof_checks[usize::from(!out.valid)].fetch_add(1, Ordering::Relaxed);
    Ok(Json(out))
}

async fn verify_receipt(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> ApiResult<Json<VerifyResponse>> {
    let (req, _body): (VerifyRequest, _) = read_json(&st, &headers, body, st.config.max_input_body).await?;
    let id = id_param("model_id", &req.model_id)?;
    let permit = st.permit().await?;
    let st2 = st.clone();
    let out = compute(permit, move || {
        let m = st2.model(&id)?;
        let rid = receipt_id(&req.receipt);
        if let Err(e) = verity_exec::check_signature(&req.receipt) {
            let field = Some(e.field().to_string());
            return Ok(VerifyResponse { ok: false, receipt_id: rid, field, error: Some(e.to_string()), mismatch_id: None });
        }
        let inputs = verity_exec::parse_input(&m.model, req.input.get()).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let ex = verity_exec::execute(&m.engine, &m.model, &inputs).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let Err(err) = verity_exec::check_execution(&req.receipt, &m.id, &ex) else {
            return Ok(VerifyResponse { ok: true, receipt_id: rid, field: None, error: None, mismatch_id: None });
        };
        // A genuinely signed receipt for this model and input whose output or trace the
        // re-execution does not reproduce is dispute evidence; keep it if the verifier role
        // samples it. One for another model or input merely does not apply: recording it
        // would let anyone turn a public receipt into "evidence" against an honest node.
        let mut mismatch_id = None;
        if err.proves_fault() && sampled(st2.config.verify_sample, &req.receipt.signing_hash()) {
            let recorded =
                record_mismatch(&st2.store, &st2.metrics, MismatchSource::Verify, &m.id_hex, &req.receipt, &req.input, &err, &ex);
            mismatch_id = Some(recorded.map_err(|e| ApiError::internal("cannot store a mismatch record", format!("{e:#}")))?);
        }
        Ok(VerifyResponse {
            ok: false,
            receipt_id: rid,
            field: Some(err.field().to_string()),
            error: Some(err.to_string()),
            mismatch_id,
        })
    })
    .await?;
    Ok(Json(out))
}

async fn audit(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> ApiResult<(StatusCode, Json<AuditResponse>)> {
    let (req, _body): (AuditRequest, _) = read_json(&st, &headers, body, st.config.max_input_body).await?;
    let rid = receipt_id(&req.receipt);
    let st2 = st.clone();
    // Signature recovery and parsing an input of up to --max-input-body are CPU work: off
    // the async workers, like parsing the body.
    let (req, m) = tokio::task::spawn_blocking(move || -> ApiResult<_> {
        verity_exec::check_signature(&req.receipt).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let m = st2.model(&req.receipt.body.model_id)?;
        // Reject inputs the model cannot take, or that the receipt is not about, now rather
        // than in the background: a receipt audited against another input proves nothing
        // about its executor, and must not become a mismatch record.
        let inputs = verity_exec::parse_input(&m.model, req.input.get()).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let given = verity_exec::input_hash(&m.model, &inputs);
        if given != req.receipt.body.input_hash {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "the input hashes to {}, but the receipt is for input_hash {}: send the input the receipt was issued for",
                    verity_commit::hash::hex(&given),
                    verity_commit::hash::hex(&req.receipt.body.input_hash)
                ),
            ));
        }
        Ok((req, m))
    })
    .await
    .map_err(|e| ApiError::internal("checking an audit failed", e))??;
    let mut queued = false;
    if sampled(st.config.verify_sample, &req.receipt.signing_hash()) {
        queued =
            st.auditor.submit(AuditJob { source: MismatchSource::Submitted, receipt: req.receipt, input: req.input, model: m });
        if !queued {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the verifier's audit queue is full ({} jobs, or {} bytes of inputs: --audit-queue-bytes); retry later",
                    st.config.audit_queue, st.config.audit_queue_bytes
                ),
            ));
        }
    }
    Ok((StatusCode::ACCEPTED, Json(AuditResponse { receipt_id: rid, sampled: queued })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MismatchQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

async fn list_mismatches(
    State(st): State<Arc<AppState>>,
    q: Result<Query<MismatchQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let limit = page_limit(q.limit)?;
    let store = st.store.clone();
    let (rows, next) = tokio::task::spawn_blocking(move || store.list_mismatches(q.after.unwrap_or(0), limit))
        .await
        .map_err(|e| ApiError::internal("listing mismatches failed", e))?
        .map_err(|e| ApiError::internal("cannot list mismatches", format!("{e:#}")))?;
    // Rows are stored as JSON already; splice them in rather than re-encoding.
    let rows: Vec<Box<RawValue>> = rows
        .into_iter()
        .map(|r| String::from_utf8(r).ok().and_then(|s| RawValue::from_string(s).ok()))
        .collect::<Option<_>>()
        .ok_or_else(|| ApiError::internal("cannot list mismatches", "a stored record is not JSON"))?;
    let mut out = json!({ "mismatches": rows });
    if let Some(n) = next {
        out["next_after"] = n.into();
    }
    Ok(Json(out).into_response())
}
