//! Chat completions from a node's OpenAI-compatible endpoint (`POST /v1/chat/completions`),
//! accepted only once checked (docs/llm.md, "Checking a node's answer").
//!
//! Without the model's weights the client checks that the receipt is genuinely signed by
//! the required executor, that its claims are about exactly the completion the answer
//! carries, and that this completion is the answer to the request (text, parameters,
//! model); with the weights (`verity_llm::Model`) it also checks that the prompt tokens
//! are the request's messages and re-derives every token by re-execution.

use serde::Serialize;
use serde_json::{json, Value};
use verity_llm::receipt::{check_claims, ReceiptFile};
use verity_llm::{Completion, Model};

use crate::error::{Error, Result};
use crate::Client;

/// What to ask. `None` leaves a field to the node's default (OpenAI's: temperature 1,
/// top_p 1, a seed the node picks; max_tokens min(256, what the context leaves)).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ChatRequest {
    /// The LLM's id (hex) or name; `None`: the node's only LLM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `(role, content)` turns: system, user, assistant.
    #[serde(serialize_with = "messages")]
    pub messages: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
}

fn messages<S: serde::Serializer>(m: &[(String, String)], s: S) -> std::result::Result<S::Ok, S::Error> {
    let v: Vec<Value> = m.iter().map(|(r, c)| json!({"role": r, "content": c})).collect();
    v.serialize(s)
}

/// A checked answer.
#[derive(Clone, Debug)]
pub struct ChatAnswer {
    pub text: String,
    pub finish_reason: String,
    /// The receipt file (`verity verify MODEL.gguf --receipt FILE` reads it).
    pub file: ReceiptFile,
    pub receipt_id: String,
    /// Whether every token was re-derived locally (a model was given).
    pub reexecuted: bool,
    /// The node's answer as it came.
    pub raw: Value,
}

impl ChatAnswer {
    pub fn completion(&self) -> &Completion {
        &self.file.completion
    }
}

fn bad(what: impl Into<String>) -> Error {
    Error::Verification(what.into())
}

fn str_at<'a>(v: &'a Value, path: &str) -> Result<&'a str> {
    v.pointer(path).and_then(Value::as_str).ok_or_else(|| Error::Protocol(format!("the chat answer has no string at {path}")))
}

/// Checks a node's answer `raw` to `req` (see the module doc); `model`, when given, is the
/// LLM's weights, and turns the check into a full re-execution on `threads` threads.
pub fn check_answer(req: &ChatRequest, raw: Value, model: Option<&Model>, threads: usize) -> Result<ChatAnswer> {
    let v = raw.get("verity").ok_or_else(|| bad("the answer has no `verity` field (no receipt)"))?;
    let file: ReceiptFile = serde_json::from_value(json!({"completion": v.get("completion"), "receipt": v.get("receipt")}))
        .map_err(|e| bad(format!("the `verity` field is not a receipt file: {e}")))?;
    let receipt = check_claims(&file).map_err(|e| bad(e.to_string()))?;
    let receipt_id = verity_exec::receipt_id(&receipt);
    if v.get("receipt_id").and_then(Value::as_str) != Some(receipt_id.as_str()) {
        return Err(bad(format!("the answer names receipt {:?}, but its receipt is {receipt_id}", v.get("receipt_id"))));
    }
    let c = &file.completion;
    let text = str_at(&raw, "/choices/0/message/content")?;
    if text != c.text {
        return Err(bad("the answer's text is not the text of the completion its receipt signs"));
    }
    let finish = str_at(&raw, "/choices/0/finish_reason")?;
    if finish != c.finish_reason {
        return Err(bad(format!("finish_reason {finish:?}, but the receipt signs {:?}", c.finish_reason)));
    }
    if raw.pointer("/choices").and_then(Value::as_array).map(Vec::len) != Some(1) {
        return Err(bad("the answer does not have exactly one choice"));
    }
    check_params(req, c)?;
    if let Some(want) = req.model.as_deref().and_then(verity_exec::parse_id) {
        if verity_exec::parse_id(&c.model_id) != Some(want) {
            return Err(bad(format!("asked model {}, the receipt is for model {}", hex32(&want), c.model_id)));
        }
    }
    let mut reexecuted = false;
    if let Some(m) = model {
        if c.model_id != m.id_hex() {
            return Err(bad(format!("the receipt is for model {}, the given model file is {}", c.model_id, m.id_hex())));
        }
        let turns: Vec<(&str, &str)> = req.messages.iter().map(|(r, t)| (r.as_str(), t.as_str())).collect();
        let prompt = verity_llm::chat::render_chatml(&turns).map_err(|e| Error::Local(e.to_string()))?;
        let tokens = m.tokenizer.encode(&prompt).map_err(|e| Error::Local(e.to_string()))?;
        if tokens != c.prompt_tokens {
            return Err(bad("the completion is for another prompt than the messages sent"));
        }
        verity_llm::receipt::verify(m, &file, threads).map_err(|e| bad(format!("re-execution: {e}")))?;
        reexecuted = true;
    }
    Ok(ChatAnswer { text: c.text.clone(), finish_reason: c.finish_reason.clone(), file, receipt_id, reexecuted, raw })
}

fn hex32(b: &[u8; 32]) -> String {
    verity_commit::hash::hex(b)
}

/// The parameters the receipt signs are the ones asked for (where asked).
fn check_params(req: &ChatRequest, c: &Completion) -> Result<()> {
    let p = &c.params;
    let milli = |x: f64| (x * 1000.0).round() as u32;
    let mut wrong = Vec::new();
    if req.max_tokens.is_some_and(|m| m != p.max_tokens) {
        wrong.push("max_tokens");
    }
    if milli(req.temperature.unwrap_or(1.0)) != p.temperature_milli {
        wrong.push("temperature");
    }
    if milli(req.top_p.unwrap_or(1.0)).max(1) != p.top_p_milli {
        wrong.push("top_p");
    }
    if req.top_k.unwrap_or(0) != p.top_k {
        wrong.push("top_k");
    }
    if req.seed.is_some_and(|s| s != p.seed) {
        wrong.push("seed");
    }
    if req.stop != p.stop {
        wrong.push("stop");
    }
    if c.tokens.len() > p.max_tokens as usize {
        wrong.push("max_tokens (more tokens than allowed)");
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(bad(format!("the receipt signs other sampling parameters than asked: {}", wrong.join(", "))))
    }
}

impl Client {
    /// `POST /v1/chat/completions` as the node answered it, unchecked.
    pub fn chat(&self, req: &ChatRequest) -> Result<Value> {
        self.post_json("chat completion", "/v1/chat/completions", req, false)
    }

    /// A stored chat receipt (`GET /v1/receipts/{id}` of a chat completion, whose record
    /// holds the completion in the place of an input) as a receipt file, accepted only if
    /// it is the receipt asked for, validly signed by the expected executor, and its
    /// claims are about exactly that completion; with `model`, also re-derived (`true`).
    pub fn check_chat_record(
        &self,
        id: &str,
        record: &verity_exec::api::ReceiptRecord,
        model: Option<&Model>,
        threads: usize,
    ) -> Result<(ReceiptFile, bool)> {
        let completion: Completion = serde_json::from_str(record.input.get())
            .map_err(|e| bad(format!("the record does not hold a chat completion: {e}")))?;
        let file = ReceiptFile { completion, receipt: record.receipt.to_json() };
        let r = check_claims(&file).map_err(|e| bad(e.to_string()))?;
        if verity_exec::parse_id(id) != Some(r.signing_hash()) {
            return Err(bad(format!("asked for receipt {id}, the node sent {}", verity_exec::receipt_id(&r))));
        }
        if verity_exec::parse_id(&record.model_id) != Some(r.body.model_id) {
            return Err(bad(format!("the record names model {}, its receipt {}", record.model_id, hex32(&r.body.model_id))));
        }
        self.check_signer(&r, None)?;
        let Some(m) = model else { return Ok((file, false)) };
        if file.completion.model_id != m.id_hex() {
            return Err(bad(format!(
                "the receipt is for model {}, the given model file is {}",
                file.completion.model_id,
                m.id_hex()
            )));
        }
        verity_llm::receipt::verify(m, &file, threads).map_err(|e| bad(format!("re-execution: {e}")))?;
        Ok((file, true))
    }

    /// A chat completion accepted only once [`check_answer`] holds and its receipt is signed
    /// by the executor this client requires, at the time of the request.
    pub fn chat_verified(&self, req: &ChatRequest, model: Option<&Model>, threads: usize) -> Result<ChatAnswer> {
        let asked_at = verity_exec::unix_now();
        let raw = self.chat(req)?;
        let answer = check_answer(req, raw, model, threads)?;
        let receipt = verity_receipt::Receipt::from_json(&answer.file.receipt).map_err(|e| bad(e.to_string()))?;
        self.check_signer(&receipt, Some(asked_at))?;
        Ok(answer)
    }
}
