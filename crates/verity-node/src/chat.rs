//! OpenAI-compatible chat completions (`POST /v1/chat/completions`) over the LLMs a node
//! loads at start (`--llm PATH.gguf`), each answer with a signed completion receipt.
//!
//! The request and response follow OpenAI's JSON shapes; what is added is the `verity`
//! field (the receipt file `{"completion", "receipt"}` of `verity_llm::receipt`, plus its
//! `receipt_id`) and the `x-verity-receipt-id` header. Errors use OpenAI's error shape.
//! Receipts go through the node's receipt writer like every other receipt, stored with the
//! completion record in place of an input, so `GET /v1/receipts/{id}` returns them.
//! Generation runs on the blocking pool while holding a compute slot of the limiter.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use anyhow::{bail, Context, Result};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use verity_exec::api::{ModelObject, ModelSummary};
use verity_llm::receipt::ReceiptFile;
use verity_llm::{Completion, Kernel, Model, Params};

use crate::error::ApiError;
use crate::state::AppState;

/// A language model served by this node.
pub struct Llm {
    /// The file stem of its GGUF, accepted as `model` besides the id.
    pub name: String,
    pub id_hex: String,
    pub model: Model,
    /// Unix seconds at which the node loaded it.
    pub loaded_at: u64,
}

/// The LLMs loaded at start, in the order given.
#[derive(Default)]
pub struct Llms(pub Vec<Arc<Llm>>);

/// Loads every `--llm` file; any that does not load stops the start with its reason.
pub fn load(paths: &[PathBuf]) -> Result<Llms> {
    let mut out = Vec::new();
    let mut names = HashSet::new();
    let mut ids = HashSet::new();
    for p in paths {
        let model = Model::load(p).with_context(|| format!("--llm {}", p.display()))?;
        let name = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        if !ids.insert(model.id) {
            bail!("--llm {}: the same model (id {}) is given twice", p.display(), model.id_hex());
        }
        if !names.insert(name.clone()) {
            bail!("--llm {}: another --llm file is also named {name:?} (names are file stems and must differ)", p.display());
        }
        tracing::info!("LLM {name} loaded: model id {}, context {}", model.id_hex(), model.context);
        out.push(Arc::new(Llm { name, id_hex: model.id_hex(), model, loaded_at: verity_exec::unix_now() }));
    }
    Ok(Llms(out))
}

impl Llms {
    /// The LLM `model` names (its id, with or without `0x`, in any case, or its name); with
    /// no `model`, the only one.
    fn find(&self, model: Option<&str>) -> Result<Arc<Llm>, OaiError> {
        let Some(want) = model else {
            return match self.0.as_slice() {
                [one] => Ok(one.clone()),
                [] => Err(OaiError::not_found("this node serves no LLM (start it with --llm MODEL.gguf)")),
                many => Err(OaiError::invalid(
                    format!("`model` is required: this node serves {} LLMs ({})", many.len(), self.names()),
                    "model",
                )),
            };
        };
        let by_id = verity_exec::parse_id(want);
        self.0.iter().find(|l| by_id == Some(l.model.id) || l.name == want).cloned().ok_or_else(|| {
            let served = if self.0.is_empty() { "none".to_string() } else { self.names() };
            OaiError::not_found(format!("the model {want:?} is not an LLM on this node (served: {served})"))
        })
    }

    fn names(&self) -> String {
        self.0.iter().map(|l| format!("{} = {}", l.name, l.id_hex)).collect::<Vec<_>>().join(", ")
    }
}

/// `GET /v1/models`'s OpenAI `data`: the LLMs (on the first page only), then the page's
/// canonical models.
pub fn model_objects(st: &AppState, first_page: bool, models: &[ModelSummary]) -> Vec<ModelObject> {
    let object = |id: &str, created: u64| ModelObject {
        id: id.to_string(),
        object: "model".into(),
        created,
        owned_by: st.executor.clone(),
    };
    let llms = st.llms.0.iter().filter(|_| first_page).map(|l| object(&l.id_hex, l.loaded_at));
    llms.chain(models.iter().map(|m| object(&m.model_id, m.published_at))).collect()
}

// ---- errors ----

/// An error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug)]
pub struct OaiError {
    pub status: StatusCode,
    pub message: String,
    pub param: Option<String>,
    pub code: Option<&'static str>,
}

impl OaiError {
    fn invalid(message: impl Into<String>, param: &str) -> Self {
        OaiError { status: StatusCode::BAD_REQUEST, message: message.into(), param: Some(param.into()), code: None }
    }

    fn not_found(message: impl Into<String>) -> Self {
        OaiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
            param: Some("model".into()),
            code: Some("model_not_found"),
        }
    }

    fn kind(&self) -> &'static str {
        match self.status.as_u16() {
            401 => "authentication_error",
            404 => "invalid_request_error",
            429 | 503 => "server_error",
            s if s >= 500 => "server_error",
            _ => "invalid_request_error",
        }
    }

    fn body(&self) -> Value {
        json!({"error": {"message": self.message, "type": self.kind(), "param": self.param, "code": self.code}})
    }
}

impl From<ApiError> for OaiError {
    fn from(e: ApiError) -> Self {
        OaiError { status: e.status, message: e.message, param: None, code: None }
    }
}

impl IntoResponse for OaiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(self.body())).into_response();
        if matches!(self.status, StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS) {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

// ---- the request ----

/// The fields of OpenAI's chat request that this endpoint implements; any other field is
/// refused by name rather than silently ignored. `top_k` is Verity's addition.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    #[serde(default)]
    model: Option<String>,
    messages: Vec<Message>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    top_k: Option<u32>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    stop: Option<Stop>,
    #[serde(default)]
    n: Option<u32>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<Value>,
    /// Accepted (OpenAI clients send it) and not used.
    #[serde(default)]
    #[allow(dead_code)]
    user: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Message {
    role: String,
    content: Content,
    #[serde(default)]
    #[allow(dead_code)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

/// Default `max_tokens` when neither it nor `max_completion_tokens` is given (capped by
/// what is left of the context).
pub const DEFAULT_MAX_TOKENS: u32 = 256;

/// A validated request: the model, the prompt tokens and the exact parameters.
pub struct Job {
    llm: Arc<Llm>,
    prompt: Vec<u32>,
    params: Params,
    stream: bool,
}

/// A seed for requests that give none, so that sampling differs between requests as
/// OpenAI's does; whatever it is, the receipt binds it.
fn fresh_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut h = blake3::Hasher::new();
    h.update(b"verity-node/chat-seed\0");
    h.update(&nanos.to_le_bytes());
    h.update(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().expect("8 bytes"))
}

/// Checks a request against the model and renders its prompt (tokenizing: call it off the
/// async workers).
fn prepare(llms: &Llms, mut req: ChatRequest) -> Result<Job, OaiError> {
    if let Some(n) = req.n.filter(|n| *n != 1) {
        return Err(OaiError::invalid(format!("n must be 1 (one choice per request), got {n}"), "n"));
    }
    if let Some(opts) = &req.stream_options {
        if !opts.is_object() || opts.as_object().is_some_and(|o| o.keys().any(|k| k != "include_usage")) {
            return Err(OaiError::invalid("stream_options takes only include_usage", "stream_options"));
        }
    }
    let temperature = req.temperature.unwrap_or(1.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(OaiError::invalid(format!("temperature must be between 0 and 2, got {temperature}"), "temperature"));
    }
    let top_p = req.top_p.unwrap_or(1.0);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(OaiError::invalid(format!("top_p must be in (0, 1], got {top_p}"), "top_p"));
    }
    let stop = match req.stop.take() {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s],
        Some(Stop::Many(v)) => v,
    };
    if stop.len() > 4 || stop.iter().any(String::is_empty) {
        return Err(OaiError::invalid("stop takes at most 4 sequences, none empty", "stop"));
    }
    let llm = llms.find(req.model.as_deref())?;
    if req.messages.is_empty() {
        return Err(OaiError::invalid("messages must hold at least one message", "messages"));
    }
    let mut turns = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.iter().enumerate() {
        // OpenAI's newer name for the system role.
        let role = if m.role == "developer" { "system" } else { m.role.as_str() };
        if !matches!(role, "system" | "user" | "assistant") {
            return Err(OaiError::invalid(
                format!("messages[{i}].role {:?} is not supported (system, developer, user or assistant)", m.role),
                &format!("messages[{i}].role"),
            ));
        }
        let text = match &m.content {
            Content::Text(t) => t.clone(),
            Content::Parts(parts) => {
                let mut t = String::new();
                for p in parts {
                    match (p.kind.as_str(), &p.text) {
                        ("text", Some(s)) => t.push_str(s),
                        _ => {
                            return Err(OaiError::invalid(
                                format!("messages[{i}].content: only text parts are supported, got a {:?} part", p.kind),
                                &format!("messages[{i}].content"),
                            ))
                        }
                    }
                }
                t
            }
        };
        turns.push((role, text));
    }
    let refs: Vec<(&str, &str)> = turns.iter().map(|(r, t)| (*r, t.as_str())).collect();
    let prompt_text = verity_llm::chat::render_chatml(&refs)
        .map_err(|e| OaiError::invalid(e.to_string().replace("invalid sampling parameters: ", ""), "messages"))?;
    let m = &llm.model;
    let prompt = m.tokenizer.encode(&prompt_text).map_err(|e| OaiError::invalid(e.to_string(), "messages"))?;
    let room = m.context.saturating_sub(prompt.len());
    let context_error = |max_new: usize| OaiError {
        status: StatusCode::BAD_REQUEST,
        message: format!(
            "the prompt is {} tokens and {max_new} new tokens were asked for, more than the model's context of {} tokens",
            prompt.len(),
            m.context
        ),
        param: Some("messages".into()),
        code: Some("context_length_exceeded"),
    };
    let max_tokens = match (req.max_tokens, req.max_completion_tokens) {
        (Some(a), Some(b)) if a != b => {
            return Err(OaiError::invalid(
                format!("max_tokens ({a}) and max_completion_tokens ({b}) differ; give one"),
                "max_completion_tokens",
            ))
        }
        (Some(0), _) | (_, Some(0)) => return Err(OaiError::invalid("max_tokens must be at least 1", "max_tokens")),
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => {
            if room == 0 {
                return Err(context_error(1));
            }
            DEFAULT_MAX_TOKENS.min(room as u32)
        }
    };
    if prompt.len() + max_tokens as usize > m.context {
        return Err(context_error(max_tokens as usize));
    }
    // Greedy decoding does not use the seed: 0 then, so that equal requests get equal receipts.
    let seed = req.seed.unwrap_or_else(|| if temperature == 0.0 { 0 } else { fresh_seed() });
    let params = Params::from_floats(max_tokens, temperature, top_p, req.top_k.unwrap_or(0), seed, stop)
        .map_err(|e| OaiError::invalid(e.to_string(), "temperature"))?;
    Ok(Job { llm, prompt, params, stream: req.stream.unwrap_or(false) })
}

// ---- the response ----

fn generation_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn usage(c: &Completion) -> Value {
    let (p, g) = (c.prompt_tokens.len(), c.tokens.len());
    json!({"prompt_tokens": p, "completion_tokens": g, "total_tokens": p + g})
}

/// The `verity` field: the receipt file, and its receipt id.
fn verity_field(file: &ReceiptFile, receipt_id: &str) -> Value {
    json!({"completion": file.completion, "receipt": file.receipt, "receipt_id": receipt_id})
}

/// Signs and stores the completion's receipt (acknowledged once durable).
/// Signs and stores the completion's receipt; the verifier role audits a sample of them.
async fn issue(st: &AppState, c: &Completion, llm: &Arc<Llm>) -> Result<(ReceiptFile, String), OaiError> {
    let body = verity_llm::receipt::receipt_body(st.signer.address(), c, verity_exec::unix_now())
        .map_err(|e| OaiError::from(ApiError::internal("cannot form a completion receipt", e)))?;
    let record = serde_json::to_string(c).map_err(|e| OaiError::from(ApiError::internal("cannot encode a completion", e)))?;
    let record =
        RawValue::from_string(record).map_err(|e| OaiError::from(ApiError::internal("cannot encode a completion", e)))?;
    let receipt = st
        .receipts
        .issue(body, record)
        .await
        .map_err(|e| OaiError::from(ApiError::internal("cannot store the receipt", format!("{e:#}"))))?;
    st.metrics.receipts_issued.fetch_add(1, Ordering::Relaxed);
    let id = verity_exec::receipt_id(&receipt);
    let file = ReceiptFile { completion: c.clone(), receipt: receipt.to_json() };
    if crate::verifier::sampled(st.config.verify_sample, &receipt.signing_hash()) {
        st.auditor.submit_chat(crate::verifier::ChatAudit { file: file.clone(), llm: llm.clone() });
    }
    Ok((file, id))
}

/// `POST /v1/chat/completions`.
pub async fn completions(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    match handle(st, headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(st: Arc<AppState>, headers: HeaderMap, body: Body) -> Result<Response, OaiError> {
    let (req, _held): (ChatRequest, _) = crate::routes::read_json(&st, &headers, body, st.config.max_input_body).await?;
    let permit = st.permit().await?;
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(bool, String), OaiError>>();
    let (delta_tx, delta_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    // Set when a stream's body is dropped before its end (the client went away): the
    // generation stops at its next token instead of running to max_tokens for nobody.
    let gone = Arc::new(AtomicBool::new(false));
    let gone2 = gone.clone();
    let st2 = st.clone();
    let work = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let job = match prepare(&st2.llms, req) {
            Ok(j) => j,
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return None;
            }
        };
        let _ = ready_tx.send(Ok((job.stream, job.llm.id_hex.clone())));
        crate::hooks::Pause::at(&st2.config.pause, "chat:compute");
        let mut deltas = Deltas::new(&job.params.stop);
        let m = &job.llm.model;
        let c = verity_llm::generate::complete_streaming(
            m,
            &job.prompt,
            &job.params,
            Kernel::Fast,
            generation_threads(),
            &mut |text| {
                if gone2.load(Ordering::Relaxed) {
                    return ControlFlow::Break(());
                }
                if let Some(d) = deltas.next(text) {
                    let _ = delta_tx.send(d);
                }
                ControlFlow::Continue(())
            },
        );
        if let Ok(c) = &c {
            if let Some(d) = deltas.finish(&c.text) {
                let _ = delta_tx.send(d);
            }
        }
        Some((c, job.llm.clone()))
    });
    let (stream, model_id) = match ready_rx.await {
        Ok(r) => r?,
        Err(_) => return Err(ApiError::internal("a chat completion failed", "the generation task ended early").into()),
    };
    let created = verity_exec::unix_now();
    let finish = |st: Arc<AppState>| async move {
        let (c, llm) = match work.await {
            Ok(Some((Ok(c), llm))) => (c, llm),
            Ok(Some((Err(verity_llm::LlmError::Cancelled), _))) => {
                st.metrics.chat_cancelled.fetch_add(1, Ordering::Relaxed);
                return Err(ApiError::internal("a chat completion was cancelled", "its client went away").into());
            }
            Ok(Some((Err(e), _))) => return Err(OaiError::invalid(e.to_string(), "messages")),
            _ => return Err(ApiError::internal("a chat completion failed", "the generation task failed").into()),
        };
        let (file, rid) = issue(&st, &c, &llm).await?;
        st.metrics.inferences.fetch_add(1, Ordering::Relaxed);
        Ok::<_, OaiError>((c, llm.id_hex.clone(), file, rid))
    };
    if !stream {
        drop(delta_rx);
        let (c, model, file, rid) = finish(st.clone()).await?;
        let body = json!({
            "id": format!("chatcmpl-{rid}"),
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": format!("verity-{}", &model[..16]),
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": c.text},
                "logprobs": null,
                "finish_reason": c.finish_reason,
            }],
            "usage": usage(&c),
            "verity": verity_field(&file, &rid),
        });
        let mut r = Json(body).into_response();
        if let Ok(v) = HeaderValue::from_str(&rid) {
            r.headers_mut().insert("x-verity-receipt-id", v);
        }
        return Ok(r);
    }
    // Streaming: events are produced by a task that forwards the deltas as they come and
    // then, once the receipt is durable, the last chunk and `[DONE]`.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let id = format!("chatcmpl-{}", hex_id());
    tokio::spawn(async move {
        let mut delta_rx = delta_rx;
        let chunk = |model: &str, delta: Value, finish: Value| {
            json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
            })
        };
        let _ = tx.send(event(&chunk(&model_id, json!({"role": "assistant", "content": ""}), Value::Null)));
        while let Some(d) = delta_rx.recv().await {
            let _ = tx.send(event(&chunk(&model_id, json!({"content": d}), Value::Null)));
        }
        match finish(st.clone()).await {
            Ok((c, model, file, rid)) => {
                let mut last = chunk(&model, json!({}), json!(c.finish_reason));
                last["usage"] = usage(&c);
                last["verity"] = verity_field(&file, &rid);
                let _ = tx.send(event(&last));
            }
            Err(e) => {
                let _ = tx.send(event(&e.body()));
            }
        }
        let _ = tx.send(Bytes::from_static(b"data: [DONE]\n\n"));
    });
    let mut r = Response::new(Body::from_stream(Events { rx, done: false, gone }));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(r)
}

fn event(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

fn hex_id() -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"verity-node/chat-stream-id\0");
    h.update(&fresh_seed().to_le_bytes());
    h.finalize().to_hex()[..32].to_string()
}

/// The server-sent events of a stream, as a body. Dropped before its end (the client
/// disconnected), it tells the generation to stop.
struct Events {
    rx: tokio::sync::mpsc::UnboundedReceiver<Bytes>,
    done: bool,
    gone: Arc<AtomicBool>,
}

impl futures_core::Stream for Events {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let next = self.rx.poll_recv(cx);
        if let Poll::Ready(None) = next {
            self.done = true;
        }
        next.map(|o| o.map(Ok))
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        if !self.done {
            self.gone.store(true, Ordering::Relaxed);
        }
    }
}

/// Turns the successive texts of a generation into the deltas to stream, holding back
/// what may still change: a trailing incomplete UTF-8 sequence (decoded as U+FFFD) and a
/// tail that could begin a stop sequence (which would be cut from the final text). The
/// deltas add up to exactly the completion's text.
pub struct Deltas {
    stops: Vec<String>,
    sent: String,
}

impl Deltas {
    pub fn new(stops: &[String]) -> Self {
        Deltas { stops: stops.to_vec(), sent: String::new() }
    }

    /// The delta to send now for the text so far, if any.
    pub fn next(&mut self, text: &str) -> Option<String> {
        let mut end = text.trim_end_matches('\u{FFFD}').len();
        let held = self
            .stops
            .iter()
            .flat_map(|s| (1..s.len()).rev().filter(move |k| s.is_char_boundary(*k)).map(move |k| &s[..k]))
            .filter(|p| text[..end].ends_with(*p))
            .map(str::len)
            .max()
            .unwrap_or(0);
        end -= held;
        self.take(&text[..end])
    }

    /// The rest, once the final text is known.
    pub fn finish(&mut self, text: &str) -> Option<String> {
        self.take(text)
    }

    fn take(&mut self, upto: &str) -> Option<String> {
        if upto.len() <= self.sent.len() {
            return None;
        }
        if !upto.starts_with(self.sent.as_str()) {
            tracing::error!("a streamed completion's text changed under what was already sent");
            return None;
        }
        let d = upto[self.sent.len()..].to_string();
        self.sent = upto.to_string();
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(stops: &[&str], texts: &[&str], fin: &str) -> Vec<String> {
        let mut d = Deltas::new(&stops.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let mut out: Vec<String> = texts.iter().filter_map(|t| d.next(t)).collect();
        out.extend(d.finish(fin));
        out
    }

    #[test]
    fn deltas_add_up_to_the_final_text_and_never_leak_a_stop_prefix() {
        assert_eq!(stream(&[], &["a", "ab", "abc"], "abc"), ["a", "b", "c"]);
        // "x" then "xa" (could start "ab"), then the stop is hit and cut.
        assert_eq!(stream(&["ab"], &["x", "xa", "x"], "x"), ["x"]);
        // The held "a" turns out not to start the stop: it is sent with what follows.
        assert_eq!(stream(&["ab"], &["x", "xa", "xac"], "xac"), ["x", "ac"]);
        // A partial UTF-8 character is held until it completes.
        assert_eq!(stream(&[], &["h", "h\u{FFFD}", "hé"], "hé"), ["h", "é"]);
        // A trailing replacement character that never completes is still sent at the end.
        assert_eq!(stream(&[], &["h\u{FFFD}"], "h\u{FFFD}"), ["h", "\u{FFFD}"]);
    }
}
