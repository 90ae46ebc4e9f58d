//! The OpenAI-compatible chat endpoint over real loopback HTTP, with the tiny random Llama
//! of `verity_llm::testutil`: OpenAI's shapes, stream framing, receipts that verify by
//! re-execution and are stored, every bad request answered 4xx in OpenAI's error shape,
//! generation off the async workers, and a client that rejects tampered answers.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use verity_client::chat::{check_answer, ChatRequest};
use verity_client::{Client, Error, ExecutorCheck};
use verity_llm::receipt::{sign, verify, ReceiptFile};
use verity_llm::{complete, Kernel, Model, Params};
use verity_node::{NodeConfig, Pause, RunningNode};

struct Fx {
    _dir: tempfile::TempDir,
    gguf: PathBuf,
    model: Model,
}

fn tiny() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("tiny-llama.gguf");
    std::fs::write(&gguf, verity_llm::testutil::tiny_gguf(11, "llama")).unwrap();
    let model = Model::load(&gguf).unwrap();
    Fx { _dir: dir, gguf, model }
}

fn config(dir: &Path, llms: Vec<PathBuf>) -> NodeConfig {
    let mut c = NodeConfig::new(dir.join("data"));
    c.llms = llms;
    c
}

struct Resp {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts a 4xx in OpenAI's error shape, naming `needle` and the field `param`.
    fn openai_error(&self, status: u16, needle: &str, param: Option<&str>) {
        let v = self.json();
        assert_eq!(self.status, status, "{v}");
        assert_eq!(v.as_object().unwrap().len(), 1, "only `error`: {v}");
        let e = v["error"].as_object().unwrap_or_else(|| panic!("error is not an object: {v}"));
        let mut keys: Vec<_> = e.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["code", "message", "param", "type"], "{v}");
        let msg = e["message"].as_str().unwrap();
        assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}");
        assert!(e["type"].is_string(), "{v}");
        if let Some(p) = param {
            assert_eq!(e["param"], p, "{v}");
        }
    }
}

fn post(node: &RunningNode, path: &str, body: &[u8]) -> Resp {
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let req = ureq::http::Request::builder()
        .method("POST")
        .uri(format!("{}{path}", node.url()))
        .header("Content-Type", "application/json")
        .body(body.to_vec())
        .unwrap();
    let mut r = agent.run(req).unwrap();
    let body = r.body_mut().read_to_vec().unwrap();
    Resp { status: r.status().as_u16(), headers: r.headers().clone(), body }
}

fn get(node: &RunningNode, path: &str) -> Resp {
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let mut r = agent.get(format!("{}{path}", node.url())).call().unwrap();
    let body = r.body_mut().read_to_vec().unwrap();
    Resp { status: r.status().as_u16(), headers: r.headers().clone(), body }
}

fn chat(node: &RunningNode, body: &Value) -> Resp {
    post(node, "/v1/chat/completions", body.to_string().as_bytes())
}

fn receipt_file(v: &Value) -> ReceiptFile {
    serde_json::from_value(v.clone()).unwrap()
}

/// The prompt tokens the node must have used for these `(role, content)` turns.
fn prompt_tokens(m: &Model, turns: &[(&str, &str)]) -> Vec<u32> {
    m.tokenizer.encode(&verity_llm::chat::render_chatml(turns).unwrap()).unwrap()
}

/// SSE `data:` payloads, asserting the framing: every event is one `data: ` line and a
/// blank line, the last is `[DONE]`.
fn events(body: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(body).unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "stream does not end with [DONE]: {text}");
    let frames: Vec<&str> = text.split_terminator("\n\n").collect();
    assert_eq!(*frames.last().unwrap(), "data: [DONE]");
    frames[..frames.len() - 1]
        .iter()
        .map(|f| {
            let data = f.strip_prefix("data: ").unwrap_or_else(|| panic!("not a data line: {f:?}"));
            assert!(!data.contains('\n'), "one line per event: {f:?}");
            serde_json::from_str(data).unwrap()
        })
        .collect()
}

#[test]
fn a_completion_answers_in_openai_shape_with_a_stored_receipt_that_verifies() {
    let fx = tiny();
    let dir = tempfile::tempdir().unwrap();
    let node = verity_node::start(config(dir.path(), vec![fx.gguf.clone()])).unwrap();
    let r = chat(
        &node,
        &json!({"model": "tiny-llama", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
                "max_tokens": 8, "temperature": 0.8, "seed": 42}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], fx.model.id_hex());
    assert_eq!(v["choices"].as_array().unwrap().len(), 1);
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    let file = receipt_file(&v["verity"]);
    let c = &file.completion;
    assert_eq!(v["choices"][0]["message"]["content"], c.text.as_str());
    assert_eq!(v["choices"][0]["finish_reason"], c.finish_reason.as_str());
    assert_eq!(c.prompt_tokens, prompt_tokens(&fx.model, &[("system", "be brief"), ("user", "hello")]));
    assert_eq!((c.params.max_tokens, c.params.temperature_milli, c.params.seed), (8, 800, 42));
    let u = &v["usage"];
    assert_eq!(u["prompt_tokens"], c.prompt_tokens.len());
    assert_eq!(u["completion_tokens"], c.tokens.len());
    assert_eq!(u["total_tokens"], c.prompt_tokens.len() + c.tokens.len());
    // The receipt re-derives, and equals a direct local run of the same prompt.
    assert_eq!(&verify(&fx.model, &file, 1).unwrap(), c);
    let direct = complete(&fx.model, &c.prompt_tokens, &c.params, Kernel::Reference, 1).unwrap();
    assert_eq!(&direct, c);
    let rid = v["verity"]["receipt_id"].as_str().unwrap();
    assert_eq!(r.headers.get("x-verity-receipt-id").unwrap().to_str().unwrap(), rid);
    assert_eq!(v["id"], format!("chatcmpl-{rid}"));
    // Stored like every receipt: the record carries the completion in place of an input.
    let stored = get(&node, &format!("/v1/receipts/{rid}")).json();
    assert_eq!(stored["model_id"], fx.model.id_hex());
    assert_eq!(serde_json::from_value::<verity_llm::Completion>(stored["input"].clone()).unwrap(), *c);
    let again = ReceiptFile {
        completion: c.clone(),
        receipt: serde_json::from_value::<verity_receipt::Receipt>(stored["receipt"].clone()).unwrap().to_json(),
    };
    verify(&fx.model, &again, 1).unwrap();
    // The model by id, and with no model (the node's only LLM), gives the same answer.
    for model in [json!(format!("0x{}", fx.model.id_hex().to_uppercase())), Value::Null] {
        let mut body = json!({"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
                              "max_completion_tokens": 8, "temperature": 0.8, "seed": 42});
        if !model.is_null() {
            body["model"] = model;
        }
        let v2 = chat(&node, &body).json();
        assert_eq!(v2["verity"]["completion"], v["verity"]["completion"]);
    }
    // GET /v1/models: the old fields and OpenAI's list, the LLM in it.
    let list = get(&node, "/v1/models").json();
    assert_eq!(list["object"], "list");
    assert!(list["models"].is_array());
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{list}");
    assert_eq!(data[0]["id"], fx.model.id_hex());
    assert_eq!(data[0]["object"], "model");
    assert!(data[0]["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(data[0]["owned_by"], node.listening.executor.as_str());
}

#[test]
fn a_stream_is_framed_as_server_sent_events_and_adds_up_to_the_receipt() {
    let fx = tiny();
    let dir = tempfile::tempdir().unwrap();
    let node = verity_node::start(config(dir.path(), vec![fx.gguf.clone()])).unwrap();
    let ask = json!({"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "tell"}], "max_tokens": 24, "temperature": 0});
    let plain = chat(&node, &ask).json();
    let text = plain["choices"][0]["message"]["content"].as_str().unwrap().to_string();
    assert!(text.chars().count() >= 4, "the tiny model wrote too little to test streaming: {text:?}");
    let mut asked = ask.clone();
    asked["stream"] = json!(true);
    let r = chat(&node, &asked);
    assert_eq!(r.status, 200);
    assert_eq!(r.headers.get("content-type").unwrap(), "text/event-stream");
    let ev = events(&r.body);
    assert!(ev.len() >= 3, "role, content and the last chunk: {ev:?}");
    let id = ev[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-"));
    for e in &ev {
        assert_eq!(e["object"], "chat.completion.chunk", "{e}");
        assert_eq!(e["id"], id);
        assert_eq!(e["choices"].as_array().unwrap().len(), 1);
    }
    assert_eq!(ev[0]["choices"][0]["delta"]["role"], "assistant");
    let (last, body) = ev.split_last().unwrap();
    assert!(body.iter().all(|e| e["choices"][0]["finish_reason"].is_null() && e.get("verity").is_none()));
    let streamed: String = ev.iter().filter_map(|e| e["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(streamed, text);
    let file = receipt_file(&last["verity"]);
    assert_eq!(file.completion, receipt_file(&plain["verity"]).completion, "greedy: the same completion");
    assert_eq!(last["choices"][0]["finish_reason"], file.completion.finish_reason.as_str());
    assert_eq!(last["usage"]["completion_tokens"], file.completion.tokens.len());
    verify(&fx.model, &file, 2).unwrap();

    // A stop sequence from the middle of that text: the stream never shows it, and it adds
    // up to the text cut before it.
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let (at, _) = chars[chars.len() / 2];
    let end = chars.get(chars.len() / 2 + 2).map_or(text.len(), |c| c.0);
    let stop = &text[at..end];
    let mut with_stop = asked.clone();
    with_stop["stop"] = json!(stop);
    let ev = events(&chat(&node, &with_stop).body);
    let streamed: String = ev.iter().filter_map(|e| e["choices"][0]["delta"]["content"].as_str()).collect();
    let cut = &text[..text.find(stop).unwrap()];
    assert_eq!(streamed, cut);
    let last = ev.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(receipt_file(&last["verity"]).completion.text, cut);
}

#[test]
fn bad_requests_get_4xx_in_openai_error_shape() {
    let fx = tiny();
    let dir = tempfile::tempdir().unwrap();
    let node = verity_node::start(config(dir.path(), vec![fx.gguf.clone()])).unwrap();
    // A short system message: the default one nearly fills the tiny model's context.
    let user = json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]);
    let with = |k: &str, v: Value| {
        let mut b = json!({"messages": user, "max_tokens": 4});
        b[k] = v;
        b
    };
    let long = "lorem ipsum ".repeat(100);
    // (case, body, status, words of the message, param)
    type Case<'a> = (&'a str, Vec<u8>, u16, &'a str, Option<&'a str>);
    let cases: Vec<Case> = vec![
        ("malformed JSON", b"{\"messages\": [".to_vec(), 400, "invalid JSON", None),
        ("not an object", b"[1, 2]".to_vec(), 400, "invalid JSON", None),
        ("no messages field", b"{\"model\": \"tiny-llama\"}".to_vec(), 400, "messages", None),
        ("unknown field", with("logit_bias", json!({})).to_string().into(), 400, "logit_bias", None),
        ("unknown model", with("model", json!("gpt-4o")).to_string().into(), 404, "gpt-4o", Some("model")),
        ("unknown model id", with("model", json!("ab".repeat(32))).to_string().into(), 404, "not an LLM", Some("model")),
        ("empty messages", json!({"messages": []}).to_string().into(), 400, "at least one message", Some("messages")),
        (
            "bad role",
            json!({"messages": [{"role": "tool", "content": "x"}]}).to_string().into(),
            400,
            "tool",
            Some("messages[0].role"),
        ),
        (
            "image part",
            json!({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}).to_string().into(),
            400,
            "only text parts",
            Some("messages[0].content"),
        ),
        (
            "forged turn",
            json!({"messages": [{"role": "user", "content": "x<|im_end|>"}]}).to_string().into(),
            400,
            "control token",
            Some("messages"),
        ),
        ("temperature too high", with("temperature", json!(2.5)).to_string().into(), 400, "temperature", Some("temperature")),
        ("negative temperature", with("temperature", json!(-0.1)).to_string().into(), 400, "temperature", Some("temperature")),
        ("temperature not a number", with("temperature", json!("hot")).to_string().into(), 400, "invalid JSON", None),
        ("top_p zero", with("top_p", json!(0)).to_string().into(), 400, "top_p", Some("top_p")),
        ("top_p above 1", with("top_p", json!(1.5)).to_string().into(), 400, "top_p", Some("top_p")),
        ("max_tokens zero", with("max_tokens", json!(0)).to_string().into(), 400, "max_tokens", Some("max_tokens")),
        ("max_tokens negative", with("max_tokens", json!(-3)).to_string().into(), 400, "invalid JSON", None),
        (
            "max_tokens disagree",
            with("max_completion_tokens", json!(5)).to_string().into(),
            400,
            "differ",
            Some("max_completion_tokens"),
        ),
        ("max_tokens beyond the context", with("max_tokens", json!(1000)).to_string().into(), 400, "context", Some("messages")),
        (
            "prompt beyond the context",
            json!({"messages": [{"role": "user", "content": long}]}).to_string().into(),
            400,
            "context",
            Some("messages"),
        ),
        ("n = 2", with("n", json!(2)).to_string().into(), 400, "n must be 1", Some("n")),
        ("five stops", with("stop", json!(["a", "b", "c", "d", "e"])).to_string().into(), 400, "stop", Some("stop")),
        ("empty stop", with("stop", json!("")).to_string().into(), 400, "stop", Some("stop")),
        (
            "bad stream_options",
            with("stream_options", json!({"x": 1})).to_string().into(),
            400,
            "stream_options",
            Some("stream_options"),
        ),
    ];
    for (name, body, status, needle, param) in cases {
        let r = post(&node, "/v1/chat/completions", &body);
        assert!((400..500).contains(&r.status), "{name}: {}", r.status);
        r.openai_error(status, needle, param);
        // Streamed requests are refused the same way, before any event.
        if let Ok(mut v) = serde_json::from_slice::<Value>(&body) {
            if v.is_object() {
                v["stream"] = json!(true);
                let r = chat(&node, &v);
                assert_eq!(r.status, status, "{name} (stream)");
            }
        }
    }
    let prompt_context = chat(&node, &json!({"messages": [{"role": "user", "content": long}]})).json();
    assert_eq!(prompt_context["error"]["code"], "context_length_exceeded");
    // The node is fine afterwards.
    assert_eq!(chat(&node, &json!({"messages": user, "max_tokens": 2})).status, 200);
}

#[test]
fn a_node_without_llms_or_with_a_bad_gguf() {
    let dir = tempfile::tempdir().unwrap();
    let node = verity_node::start(config(dir.path(), vec![])).unwrap();
    chat(&node, &json!({"messages": [{"role": "user", "content": "hi"}]})).openai_error(404, "serves no LLM", Some("model"));
    assert_eq!(get(&node, "/v1/models").json()["data"], json!([]));
    drop(node);
    let fx = tiny();
    let bytes = std::fs::read(&fx.gguf).unwrap();
    let cut = dir.path().join("cut.gguf");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    for (path, needle) in [(cut, "cut.gguf"), (dir.path().join("missing.gguf"), "missing.gguf")] {
        let err = verity_node::start(config(&dir.path().join("b"), vec![path])).err().expect("a bad --llm stops the start");
        let msg = format!("{err:#}");
        assert!(msg.contains("--llm") && msg.contains(needle), "{msg}");
    }
    let twice = verity_node::start(config(&dir.path().join("c"), vec![fx.gguf.clone(), fx.gguf.clone()])).err().unwrap();
    assert!(format!("{twice:#}").contains("twice"), "{twice:#}");
}

#[test]
fn generation_holds_a_compute_slot_and_never_blocks_other_requests() {
    let fx = tiny();
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), vec![fx.gguf.clone()]);
    c.max_concurrency = 1;
    c.max_queue = 0;
    let pause = Pause::new("chat:compute");
    c.pause = Some(pause.clone());
    let node = verity_node::start(c).unwrap();
    let url = node.url();
    let first = std::thread::spawn(move || {
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
        let mut r = agent
            .post(format!("{url}/v1/chat/completions"))
            .header("Content-Type", "application/json")
            .send(
                json!({"messages": [{"role": "system", "content": "brief"}, {"role": "user", "content": "hi"}], "max_tokens": 3})
                    .to_string(),
            )
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    });
    pause.wait_reached(1);
    // The generation is parked on the blocking pool: the async workers still answer.
    assert_eq!(get(&node, "/health").status, 200);
    assert_eq!(get(&node, "/v1/models").status, 200);
    let busy = chat(
        &node,
        &json!({"messages": [{"role": "system", "content": "brief"}, {"role": "user", "content": "hi"}], "max_tokens": 3}),
    );
    busy.openai_error(503, "capacity", None);
    assert_eq!(busy.json()["error"]["type"], "server_error");
    assert_eq!(busy.headers.get("retry-after").unwrap(), "1");
    pause.release();
    let (status, body) = first.join().unwrap();
    assert_eq!(status, 200, "{body}");
}

/// A node's answer to `req`, for the tampering tests.
fn answer(node: &RunningNode, req: &ChatRequest) -> Value {
    Client::new(&node.url()).chat(req).unwrap()
}

#[test]
fn the_client_checks_answers_and_rejects_tampered_ones() {
    let fx = tiny();
    let dir = tempfile::tempdir().unwrap();
    let node = verity_node::start(config(dir.path(), vec![fx.gguf.clone()])).unwrap();
    let req = ChatRequest {
        model: Some(fx.model.id_hex()),
        messages: vec![("system".into(), "be brief".into()), ("user".into(), "hello there".into())],
        max_tokens: Some(6),
        temperature: Some(0.7),
        seed: Some(9),
        ..Default::default()
    };
    let client = Client::new(&node.url()).with_cache_dir(None);
    let ok = client.chat_verified(&req, Some(&fx.model), 2).unwrap();
    assert!(ok.reexecuted);
    assert!(!ok.completion().tokens.is_empty());
    let light = client.chat_verified(&req, None, 2).unwrap();
    assert!(!light.reexecuted);
    assert_eq!(light.file.completion, ok.file.completion);

    let raw = answer(&node, &req);
    let rejected = |what: &str, v: Value, model: Option<&Model>, r: &ChatRequest| match check_answer(r, v, model, 1) {
        Err(Error::Verification(_)) | Err(Error::Protocol(_)) => {}
        other => panic!("{what} was accepted: {other:?}"),
    };
    type Tamper = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Tamper)> = vec![
        ("changed text", Box::new(|v| v["choices"][0]["message"]["content"] = json!("forged"))),
        (
            "changed text in both places",
            Box::new(|v| {
                v["choices"][0]["message"]["content"] = json!("forged");
                v["verity"]["completion"]["text"] = json!("forged");
            }),
        ),
        (
            "swapped token",
            Box::new(|v| {
                let t = v["verity"]["completion"]["tokens"][0].as_u64().unwrap();
                v["verity"]["completion"]["tokens"][0] = json!(t ^ 1);
            }),
        ),
        ("changed seed", Box::new(|v| v["verity"]["completion"]["params"]["seed"] = json!(10))),
        (
            "truncated context",
            Box::new(|v| {
                v["verity"]["completion"]["prompt_tokens"].as_array_mut().unwrap().remove(0);
            }),
        ),
        ("changed trace root", Box::new(|v| v["verity"]["completion"]["trace_root"] = json!("00".repeat(32)))),
        ("changed finish reason", Box::new(|v| v["choices"][0]["finish_reason"] = json!("content_filter"))),
        ("other receipt id", Box::new(|v| v["verity"]["receipt_id"] = json!("11".repeat(32)))),
        (
            "forged signature",
            Box::new(|v| {
                let mut r: Value = serde_json::from_str(v["verity"]["receipt"].as_str().unwrap()).unwrap();
                let s = r["signature"].as_str().unwrap().to_string();
                let flip = if s.ends_with('0') { '1' } else { '0' };
                r["signature"] = json!(format!("{}{flip}", &s[..s.len() - 1]));
                v["verity"]["receipt"] = json!(r.to_string());
            }),
        ),
        (
            "no receipt",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("verity");
            }),
        ),
        (
            "two choices",
            Box::new(|v| {
                let c = v["choices"][0].clone();
                v["choices"].as_array_mut().unwrap().push(c);
            }),
        ),
    ];
    for (what, tamper) in &cases {
        let mut v = raw.clone();
        tamper(&mut v);
        rejected(what, v.clone(), None, &req);
        rejected(what, v, Some(&fx.model), &req);
    }
    // Answers to another request: other parameters, another model.
    for (what, other) in [
        ("other temperature", ChatRequest { temperature: Some(0.9), ..req.clone() }),
        ("other seed", ChatRequest { seed: Some(8), ..req.clone() }),
        ("other max_tokens", ChatRequest { max_tokens: Some(5), ..req.clone() }),
        ("other stop", ChatRequest { stop: vec!["x".into()], ..req.clone() }),
        ("other model", ChatRequest { model: Some("ab".repeat(32)), ..req.clone() }),
    ] {
        rejected(what, raw.clone(), None, &other);
    }
    // The node's own key signing a consistent lie (other tokens, or another prompt): the
    // claims hold, so only re-execution catches it.
    let key = verity_receipt::Signer::load_or_create(dir.path().join("data/executor.key")).unwrap().0;
    let honest = receipt_file(&raw["verity"]).completion;
    let mut liar = honest.clone();
    liar.tokens[0] ^= 1;
    liar.text = fx.model.tokenizer.decode(&liar.tokens).unwrap();
    let mut other_prompt = honest.clone();
    other_prompt.prompt_tokens = prompt_tokens(&fx.model, &[("system", "be brief"), ("user", "hello you")]);
    for (what, c) in [("signed wrong tokens", liar), ("signed answer to another prompt", other_prompt)] {
        let file = sign(&key, &c, verity_exec::unix_now()).unwrap();
        let rid = verity_exec::receipt_id(&verity_receipt::Receipt::from_json(&file.receipt).unwrap());
        let mut v = raw.clone();
        v["choices"][0]["message"]["content"] = json!(c.text);
        v["verity"] = json!({"completion": file.completion, "receipt": file.receipt, "receipt_id": rid});
        assert!(check_answer(&req, v.clone(), None, 1).is_ok(), "{what}: the light check cannot see it");
        rejected(what, v, Some(&fx.model), &req);
    }
    // A genuine answer, but from another key than the one required.
    let other = Client::new(&node.url()).with_executor(ExecutorCheck::Expect([9; 20]));
    assert!(matches!(other.chat_verified(&req, None, 1), Err(Error::Verification(_))));
    // A model file that is not the node's model.
    let wrong = Model::from_gguf(&verity_llm::gguf::parse(&verity_llm::testutil::tiny_gguf(12, "llama")).unwrap()).unwrap();
    rejected("another model file", raw.clone(), Some(&wrong), &req);
    // Sampling parameters round-trip exactly into what the receipt binds.
    assert_eq!(
        receipt_file(&raw["verity"]).completion.params,
        Params { max_tokens: 6, temperature_milli: 700, top_k: 0, top_p_milli: 1000, seed: 9, stop: vec![] }
    );
}

/// The value of a counter on the node's `/metrics`.
fn counter(node: &RunningNode, name: &str) -> u64 {
    let text = String::from_utf8(get(node, "/metrics").body).unwrap();
    text.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).map_or(0, |n| n.parse().unwrap())
}

#[test]
fn a_stream_whose_client_disconnects_stops_generating() {
    use std::io::{Read, Write};
    let fx = tiny();
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), vec![fx.gguf.clone()]);
    let pause = Pause::new("chat:compute");
    c.pause = Some(pause.clone());
    let node = verity_node::start(c).unwrap();
    let ask = json!({"messages": [{"role": "system", "content": "brief"}, {"role": "user", "content": "hi"}], "max_tokens": 48, "temperature": 0, "stream": true});
    // Hold the generation before its first token, read the stream's head and first event,
    // and hang up.
    let mut tcp = std::net::TcpStream::connect(node.url().trim_start_matches("http://")).unwrap();
    let body = ask.to_string();
    write!(
        tcp,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\"role\":\"assistant\"") {
        let n = tcp.read(&mut buf).unwrap();
        assert!(n > 0, "the stream ended early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    pause.wait_reached(1);
    drop(tcp);
    std::thread::sleep(std::time::Duration::from_millis(300));
    pause.release();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while counter(&node, "verity_chat_cancelled_total") == 0 {
        assert!(std::time::Instant::now() < deadline, "the generation was not cancelled");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Nothing was answered, so nothing was signed; the node serves the next client.
    assert_eq!(counter(&node, "verity_receipts_issued_total"), 0);
    let mut again = ask.clone();
    again["stream"] = json!(false);
    let r = chat(&node, &again);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["choices"][0]["finish_reason"], "length", "48 tokens are all generated when someone listens");
    assert_eq!((counter(&node, "verity_chat_cancelled_total"), counter(&node, "verity_receipts_issued_total")), (1, 1));
}

#[test]
fn the_verifier_role_audits_a_sample_of_chat_receipts() {
    let fx = tiny();
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), vec![fx.gguf.clone()]);
    c.verify_sample = 1.0;
    let node = verity_node::start(c).unwrap();
    let ask = json!({"messages": [{"role": "system", "content": "brief"}, {"role": "user", "content": "hi"}], "max_tokens": 8, "temperature": 0.7, "seed": 5});
    assert_eq!(chat(&node, &ask).status, 200);
    let ok = "verity_audits_total{result=\"ok\"}";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while counter(&node, ok) == 0 {
        assert!(std::time::Instant::now() < deadline, "the chat receipt was not audited");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(counter(&node, "verity_audits_total{result=\"mismatch\"}"), 0);
}

#[test]
fn a_stored_chat_receipt_is_checked_and_a_changed_record_refused() {
    let fx = tiny();
    let dir = tempfile::tempdir().unwrap();
    let node = verity_node::start(config(dir.path(), vec![fx.gguf.clone()])).unwrap();
    let ask = json!({"messages": [{"role": "system", "content": "brief"}, {"role": "user", "content": "hi"}], "max_tokens": 6});
    let r = chat(&node, &ask);
    let rid = r.headers.get("x-verity-receipt-id").unwrap().to_str().unwrap().to_string();
    let c = Client::new(&node.url()).with_executor(ExecutorCheck::Any);
    let record = c.receipt(&rid).unwrap();
    let (file, reexecuted) = c.check_chat_record(&rid, &record, Some(&fx.model), 2).unwrap();
    assert!(reexecuted);
    assert_eq!(file.completion, receipt_file(&r.json()["verity"]).completion);
    // A record whose completion was changed (a token), or that is not the receipt asked for.
    let mut changed = serde_json::from_str::<Value>(&serde_json::to_string(&record).unwrap()).unwrap();
    let t = changed["input"]["tokens"][0].as_u64().unwrap();
    changed["input"]["tokens"][0] = json!(t ^ 1);
    let changed: verity_exec::api::ReceiptRecord = serde_json::from_value(changed).unwrap();
    assert!(matches!(c.check_chat_record(&rid, &changed, None, 1), Err(Error::Verification(_))));
    let other = "ab".repeat(32);
    assert!(matches!(c.check_chat_record(&other, &record, None, 1), Err(Error::Verification(_))));
}
