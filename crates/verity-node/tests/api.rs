//! The node's HTTP API over real loopback HTTP: the OpenAPI document matches the routes,
//! authentication, limits and backpressure, every kind of bad request, the verifier role,
//! proof jobs, metrics, graceful shutdown and restarts.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{json, Value};
use verity_node::{NodeConfig, Pause, RunningNode};

const KEY: &str = "test-api-key";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

fn text(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn config(dir: &Path) -> NodeConfig {
    let mut c = NodeConfig::new(dir.join("data"));
    c.api_key = Some(KEY.into());
    c.max_body = 256 << 10;
    c.max_input_body = 256 << 10;
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

    /// Asserts an error status with a JSON `{"error": ...}` containing `needle`.
    fn error(&self, status: u16, needle: &str) {
        let v = self.json();
        assert_eq!(self.status, status, "{v}");
        let msg = v["error"].as_str().unwrap_or_else(|| panic!("no error field: {v}"));
        assert!(msg.contains(needle), "error {msg:?} lacks {needle:?}");
        assert_eq!(v.as_object().unwrap().len(), 1, "error bodies hold only `error`: {v}");
    }
}

struct Http {
    agent: ureq::Agent,
    base: String,
}

impl Http {
    fn new(node: &RunningNode) -> Self {
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
        Http { agent, base: node.url() }
    }

    fn call(&self, method: &str, path: &str, body: Option<&[u8]>, auth: Option<&str>) -> Resp {
        let url = format!("{}{path}", self.base);
        let req = ureq::http::Request::builder().method(method).uri(&url).header("Content-Type", "application/json");
        let req = match auth {
            Some(a) => req.header("Authorization", a),
            None => req,
        };
        let mut r = self.agent.run(req.body(body.unwrap_or_default().to_vec()).unwrap()).unwrap();
        let body = r.body_mut().with_config().limit(1 << 30).read_to_vec().unwrap();
        Resp { status: r.status().as_u16(), headers: r.headers().clone(), body }
    }

    fn get(&self, path: &str) -> Resp {
        self.call("GET", path, None, None)
    }

    fn post(&self, path: &str, body: &Value) -> Resp {
        self.call("POST", path, Some(body.to_string().as_bytes()), None)
    }

    fn publish(&self, body: &Value) -> Resp {
        self.call("POST", "/v1/models", Some(body.to_string().as_bytes()), Some(&format!("Bearer {KEY}")))
    }

    fn publish_cnn(&self) -> String {
        let r = self.publish(&json!({"vrt": b64(&read("cnn_digits.vrt"))}));
        assert!(r.status == 201 || r.status == 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()["model_id"].as_str().unwrap().to_string()
    }

    fn infer(&self, model: &str, input: Value, evidence: &str) -> Resp {
        self.post("/v1/infer", &json!({"model_id": model, "input": input, "evidence": evidence}))
    }

    fn metric(&self, line_prefix: &str) -> f64 {
        let text = String::from_utf8(self.get("/metrics").body).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(line_prefix).and_then(|rest| rest.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no metric {line_prefix} in\n{text}"))
    }
}

fn cnn_input() -> Value {
    serde_json::from_str(&text("cnn_digits.input.json")).unwrap()
}

/// Waits (bounded) for `cond`, for effects of background work; not a timing assertion.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if cond() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("timed out waiting for {what}");
}

/// Every blob file is a registered model and nothing is left in `blobs/tmp`.
fn assert_store_consistent(data: &Path, http: &Http) {
    let listed: Vec<String> = http.get("/v1/models").json()["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model_id"].as_str().unwrap().into())
        .collect();
    let mut blobs: Vec<String> = std::fs::read_dir(data.join("blobs"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    blobs.sort();
    assert_eq!(blobs, listed, "blob files and registered models differ");
    assert_eq!(std::fs::read_dir(data.join("blobs/tmp")).unwrap().count(), 0, "leftover temp files");
    for id in &listed {
        let bytes = http.get(&format!("/v1/models/{id}/vrt")).body;
        assert_eq!(verity_commit::hash::hex(&verity_model::Model::id_of_encoding(&bytes)), *id);
    }
}

#[test]
fn openapi_lists_exactly_the_served_routes() {
    let dir = tempfile::tempdir().unwrap();
    let node = verity_node::start(config(dir.path())).unwrap();
    let http = Http::new(&node);
    let doc = http.get("/openapi.json").json();
    assert_eq!(doc, verity_node::openapi_document());
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (m.clone(), path.clone())))
        .collect();
    let mut served: Vec<(String, String)> = verity_node::ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    documented.sort();
    served.sort();
    assert_eq!(documented, served);
    // Every schema reference resolves.
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &piece[..piece.find('"').unwrap()];
        assert!(doc["components"]["schemas"][name].is_object(), "dangling $ref {name}");
    }
    // Every documented route is routed (a handler answers, not the router's fallback).
    for (method, path) in &served {
        let path = path.replace("{id}", &"ab".repeat(32));
        let r = http.call(&method.to_uppercase(), &path, Some(b"{}"), None);
        let body = String::from_utf8_lossy(&r.body);
        assert!(r.status != 405 && !body.contains("no such route"), "{method} {path}: {} {body}", r.status);
    }
    http.get("/v1/nope").error(404, "no such route");
    http.call("DELETE", "/v1/models", None, None).error(405, "method not allowed");
}

#[test]
fn publishing_needs_the_api_key() {
    let dir = tempfile::tempdir().unwrap();
    let node = verity_node::start(config(dir.path())).unwrap();
    let http = Http::new(&node);
    let body = json!({"vrt": b64(&read("cnn_digits.vrt"))}).to_string();
    let r = http.call("POST", "/v1/models", Some(body.as_bytes()), None);
    r.error(401, "missing API key");
    // Padding counts: `Bearer  KEY` (two spaces) was once accepted by trimming the token.
    for bad in ["Bearer wrong", "Bearer ", "Basic dGVzdA==", "test-api-key", &format!("Bearer {KEY}x"), &format!("Bearer  {KEY}")]
    {
        let r = http.call("POST", "/v1/models", Some(body.as_bytes()), Some(bad));
        assert_eq!(r.status, 401, "{bad}");
    }
    assert_eq!(http.get("/v1/models").json()["models"], json!([]));
    let r = http.call("POST", "/v1/models", Some(body.as_bytes()), Some(&format!("bearer {KEY}")));
    assert_eq!(r.status, 201, "the scheme is case-insensitive");
    assert_eq!(r.json()["created"], true);
    let again = http.call("POST", "/v1/models", Some(body.as_bytes()), Some(&format!("Bearer {KEY}")));
    assert_eq!((again.status, again.json()["created"].clone()), (200, json!(false)));
    assert_eq!(http.get("/v1/info").json()["publish_enabled"], true);
    drop(node);

    // Without a configured key, publishing is off rather than open.
    let mut c = config(dir.path());
    c.api_key = None;
    let node = verity_node::start(c).unwrap();
    let http = Http::new(&node);
    http.call("POST", "/v1/models", Some(body.as_bytes()), Some(&format!("Bearer {KEY}"))).error(403, "publishing is disabled");
    assert_eq!(http.get("/v1/info").json()["publish_enabled"], false);
    assert_eq!(http.get("/v1/models").json()["models"].as_array().unwrap().len(), 1, "the earlier model survived the restart");
}

#[test]
fn bad_requests_get_clear_errors_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = verity_node::start(config(dir.path())).unwrap();
    let http = Http::new(&node);
    let id = http.publish_cnn();
    let unknown = "cd".repeat(32);

    // Publishing.
    let raw = |body: &str| http.call("POST", "/v1/models", Some(body.as_bytes()), Some(&format!("Bearer {KEY}")));
    raw("{not json").error(400, "invalid JSON body");
    raw("\"vrt\"").error(400, "invalid JSON body");
    raw("{}").error(400, "exactly one of");
    raw(r#"{"vrt": "AAAA", "extra": 1}"#).error(400, "unknown field `extra`");
    raw(r#"{"vrt": "%%%"}"#).error(400, "`vrt` is not valid base64");
    let garbage = b64(&read("bad/garbage.onnx"));
    let cal: Value = serde_json::from_str(&text("mlp_digits.calibration.json")).unwrap();
    http.publish(&json!({"onnx": garbage, "calibration": cal})).error(400, "not a valid ONNX model");
    http.publish(&json!({"onnx": b64(&read("bad/truncated.onnx")), "calibration": cal})).error(400, "not a valid ONNX model");
    http.publish(&json!({"onnx": b64(&read("bad/unsupported_op.onnx")), "calibration": cal}))
        .error(400, "unsupported ONNX op 'Det'");
    http.publish(&json!({"onnx": b64(&read("mlp_digits.onnx"))})).error(400, "needs `calibration`");
    http.publish(&json!({"onnx": b64(&read("mlp_digits.onnx")), "calibration": cal, "bits": 12})).error(400, "8 or 16");
    let vrt = read("cnn_digits.vrt");
    http.publish(&json!({"vrt": b64(&vrt[..vrt.len() / 2])})).error(400, "not a valid canonical model");
    http.publish(&json!({"vrt": b64(&[vrt.as_slice(), &[0]].concat())})).error(400, "trailing");
    http.publish(&json!({"vrt": b64(&vrt), "bits": 8})).error(400, "go with `onnx`");
    // Oversized: refused from Content-Length, and also when streamed without one.
    let big = json!({"vrt": "A".repeat(300 << 10)}).to_string();
    raw(&big).error(413, "larger than this node's limit");
    // A declared size far beyond the limit is refused from the headers alone.
    let mut tcp = std::net::TcpStream::connect(node.listening.addr).unwrap();
    std::io::Write::write_all(&mut tcp, b"POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000\r\n\r\n").unwrap();
    let mut head = String::new();
    std::io::Read::read_to_string(&mut tcp, &mut head).unwrap();
    assert!(head.starts_with("HTTP/1.1 413") && head.contains("connection: close"), "{head}");
    http.call("POST", "/v1/infer", Some(big.as_bytes()), None).error(413, "limit of 262144 bytes");

    // Inference.
    let input = cnn_input();
    http.post("/v1/infer", &json!({"model_id": id})).error(400, "missing field `input`");
    http.post("/v1/infer", &json!({"model_id": id, "input": input, "evidence": "maybe"})).error(400, "unknown variant `maybe`");
    http.infer("xyz", input.clone(), "none").error(400, "model_id must be 64 hex digits");
    http.infer(&unknown, input.clone(), "none").error(404, "no model with id");
    http.infer(&unknown, input.clone(), "zk").error(404, "no model with id");
    http.infer(&id, json!({"input_data": [[1, 2, 3]]}), "none").error(400, "has 3 values, the model expects 64");
    http.infer(&id, json!({"input_data": [[1, 2], [3]]}), "receipt").error(400, "has 2 lists, the model has 1 inputs");
    http.infer(&id, json!({"pixels": [1]}), "none").error(400, "no entry named \"input\"");
    http.infer(&id, json!([1, 2]), "none").error(400, "must be a JSON object");
    http.infer(&id, json!({"input": [null]}), "none").error(400, "null");
    http.infer(&id, json!({"input": ["a"]}), "none").error(400, "expected numbers");
    let huge = format!(r#"{{"model_id": "{id}", "input": {{"input_data": [[1e999]]}}}}"#);
    http.call("POST", "/v1/infer", Some(huge.as_bytes()), None).error(400, "input is not valid JSON");
    http.call("POST", "/v1/infer", Some(b"{\"model_id\": 1"), None).error(400, "invalid JSON body");

    // Lookups.
    http.get("/v1/models/zz").error(400, "model id must be 64 hex digits");
    http.get(&format!("/v1/models/{unknown}")).error(404, "no model with id");
    http.get(&format!("/v1/models/{unknown}/vrt")).error(404, "no model with id");
    http.get(&format!("/v1/receipts/{unknown}")).error(404, "no receipt with id");
    http.get("/v1/receipts/0x12").error(400, "receipt id must be 64 hex digits");
    http.get("/v1/models?limit=abc").error(400, "invalid query string");
    http.get("/v1/models?after=nothex").error(400, "after must be 64 hex digits");
    http.get("/v1/mismatches?after=-1").error(400, "invalid query string");
    http.get("/v1/mismatches?bogus=1").error(400, "invalid query string");

    // Odd requests only a raw socket sends: a path that is not UTF-8, a made-up method.
    let raw_http = |head: &str| {
        let mut tcp = std::net::TcpStream::connect(node.listening.addr).unwrap();
        std::io::Write::write_all(&mut tcp, format!("{head}\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut tcp, &mut out).unwrap();
        out
    };
    let r = raw_http("GET /v1/models/%FF%FE HTTP/1.1");
    assert!(r.starts_with("HTTP/1.1 400") && r.contains(r#"{"error":"invalid path"#), "{r}");
    let r = raw_http("FROB /v1/models HTTP/1.1");
    assert!(r.starts_with("HTTP/1.1 405") && r.contains("method not allowed"), "{r}");
    assert_eq!(http.metric("verity_http_requests_total{route=\"/v1/models\",method=\"other\",status=\"405\"}"), 1.0);

    // Verify and audit.
    http.post("/v1/verify/receipt", &json!({"receipt": {"version": 1}, "model_id": id, "input": input}))
        .error(400, "missing field `model_id`");
    http.post("/v1/audit", &json!({"receipt": 5, "input": input})).error(400, "invalid JSON body");

    // Still serving, and the store holds exactly the one good model.
    assert_eq!(http.get("/health").json()["status"], "ok");
    assert_eq!(http.infer(&id, input, "none").status, 200);
    assert_store_consistent(&dir.path().join("data"), &http);
    assert!(http.metric("verity_http_requests_total{route=\"/v1/models\",method=\"POST\",status=\"400\"}") >= 10.0);
}

#[test]
fn models_are_listed_described_downloaded_and_paged() {
    let dir = tempfile::tempdir().unwrap();
    let node = verity_node::start(config(dir.path())).unwrap();
    let http = Http::new(&node);
    let mut ids: Vec<String> = ["cnn_digits.vrt", "mlp_digits.vrt", "transformer_block.vrt"]
        .iter()
        .map(|f| http.publish(&json!({"vrt": b64(&read(f))})).json()["model_id"].as_str().unwrap().to_string())
        .collect();
    // An ONNX upload is imported like `verity import`: same id as the committed .vrt.
    let cal: Value = serde_json::from_str(&text("cnn_digits.calibration.json")).unwrap();
    let r = http.publish(&json!({"onnx": b64(&read("cnn_digits.onnx")), "calibration": cal}));
    assert_eq!((r.status, r.json()["model_id"].as_str().unwrap()), (200, ids[0].as_str()));
    ids.sort();

    let page1 = http.get("/v1/models?limit=2").json();
    let next = page1["next_after"].as_str().unwrap();
    let page2 = http.get(&format!("/v1/models?limit=2&after={next}")).json();
    assert!(page2.get("next_after").is_none());
    let listed: Vec<&str> = page1["models"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page2["models"].as_array().unwrap())
        .map(|m| m["model_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ids);

    let cnn = http
        .get(&format!("/v1/models/{}", verity_commit::hash::hex(&verity_model::Model::id_of_encoding(&read("cnn_digits.vrt")))))
        .json();
    assert_eq!(cnn["source"], "vrt");
    assert_eq!(cnn["bytes"], read("cnn_digits.vrt").len());
    assert_eq!(cnn["inputs"][0]["shape"], json!([1, 1, 8, 8]));
    assert!(cnn["nodes"].as_array().unwrap().len() > 3 && cnn["params"].as_u64().unwrap() > 100);
    for id in &ids {
        let r = http.get(&format!("/v1/models/{id}/vrt"));
        assert_eq!(r.headers["content-type"], "application/octet-stream");
        assert_eq!(verity_commit::hash::hex(&verity_model::Model::id_of_encoding(&r.body)), *id);
    }
}

#[test]
fn saturation_is_refused_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.max_concurrency = 1;
    c.max_queue = 1;
    let pause = Pause::new("infer:compute");
    c.pause = Some(pause.clone());
    let node = verity_node::start(c).unwrap();
    let http = Http::new(&node);
    let id = http.publish_cnn();
    let base = node.url();
    let spawn_infer = |id: String| {
        let base = base.clone();
        std::thread::spawn(move || {
            let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
            let body = json!({"model_id": id, "input": cnn_input(), "evidence": "receipt"}).to_string();
            agent.post(format!("{base}/v1/infer")).send(body.as_bytes()).unwrap().status().as_u16()
        })
    };
    let running = spawn_infer(id.clone());
    pause.wait_reached(1);
    let queued = spawn_infer(id.clone());
    eventually("a queued request", || http.metric("verity_compute_queued") == 1.0);
    // One computing, one queued: the third is refused at once.
    let r = http.infer(&id, cnn_input(), "none");
    r.error(503, "at capacity");
    assert_eq!(r.headers["retry-after"], "1");
    assert_eq!(http.metric("verity_compute_rejected_total"), 1.0);
    assert_eq!(http.metric("verity_compute_running"), 1.0);
    pause.release();
    assert_eq!(running.join().unwrap(), 200);
    assert_eq!(queued.join().unwrap(), 200);
    assert_eq!(http.infer(&id, cnn_input(), "none").status, 200);
    assert_eq!(http.metric("verity_receipts_issued_total"), 2.0);
}

#[test]
fn graceful_shutdown_finishes_in_flight_requests() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    let pause = Pause::new("infer:compute");
    c.pause = Some(pause.clone());
    let node = verity_node::start(c.clone()).unwrap();
    let http = Http::new(&node);
    let id = http.publish_cnn();
    let url = node.url();
    let addr = node.listening.addr;
    let in_flight = std::thread::spawn(move || {
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
        let body = json!({"model_id": id, "input": cnn_input(), "evidence": "receipt"}).to_string();
        let mut r = agent.post(format!("{url}/v1/infer")).send(body.as_bytes()).unwrap();
        (r.status().as_u16(), serde_json::from_str::<Value>(&r.body_mut().read_to_string().unwrap()).unwrap())
    });
    pause.wait_reached(1);
    drop(http);
    let stopping = std::thread::spawn(move || node.shutdown());
    // The listener closes first; the request in flight still gets its answer.
    eventually("the listener to close", || std::net::TcpStream::connect(addr).is_err());
    pause.release();
    let (status, answer) = in_flight.join().unwrap();
    assert_eq!(status, 200, "{answer}");
    stopping.join().unwrap().unwrap();

    // Its receipt was committed before the answer left.
    c.pause = None;
    let node = verity_node::start(c).unwrap();
    let http = Http::new(&node);
    let record = http.get(&format!("/v1/receipts/{}", answer["receipt_id"].as_str().unwrap())).json();
    assert_eq!(record["receipt"], answer["receipt"]);
    assert_eq!(record["input"], cnn_input());
}

#[test]
fn receipts_are_stored_and_verified_and_mismatches_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.verify_sample = 1.0;
    let node = verity_node::start(c).unwrap();
    let http = Http::new(&node);
    let id = http.publish_cnn();
    let input = cnn_input();
    let answer = http.infer(&id, input.clone(), "receipt").json();
    let receipt = answer["receipt"].clone();
    assert_eq!(receipt["executor"], http.get("/v1/info").json()["executor"]);
    assert_eq!(answer["output_hash"], "2a1aed27ff9fc13467b14669fbd93653837ff4a8c73e799deb03f224e6496f44");
    let rid = answer["receipt_id"].as_str().unwrap();
    let record = http.get(&format!("/v1/receipts/0x{}", rid.to_uppercase())).json();
    assert_eq!((record["receipt"].clone(), record["model_id"].as_str().unwrap()), (receipt.clone(), id.as_str()));
    // Issued receipts are audited in the background with the reference interpreter.
    eventually("the audit of the issued receipt", || http.metric("verity_audits_total{result=\"ok\"}") == 1.0);

    let verify = |receipt: &Value, input: &Value| {
        let r = http.post("/v1/verify/receipt", &json!({"receipt": receipt, "model_id": id, "input": input}));
        assert_eq!(r.status, 200);
        r.json()
    };
    assert_eq!(verify(&receipt, &input), json!({"ok": true, "receipt_id": rid}));

    // Replayed for another input: names the field, but a receipt about another input is
    // no evidence against its executor, so nothing is recorded.
    let mut other = input.clone();
    other["input_data"][0][10] = json!(other["input_data"][0][10].as_f64().unwrap() + 4.0);
    let v = verify(&receipt, &other);
    assert_eq!((v["ok"].clone(), v["field"].clone(), v.get("mismatch_id")), (json!(false), json!("input_hash"), None));

    // A tampered field breaks the signature: reported, but not evidence against anyone.
    let mut forged = receipt.clone();
    forged["timestamp"] = json!(forged["timestamp"].as_u64().unwrap() + 1);
    let v = verify(&forged, &input);
    assert_eq!((v["field"].clone(), v.get("mismatch_id")), (json!("signature"), None));

    // A genuinely signed but wrong receipt (an executor that lied about the output).
    let liar = verity_receipt::Signer::from_secret_bytes(&[9; 32]).unwrap();
    let mut body = verity_receipt::Receipt::from_json(&receipt.to_string()).unwrap().body;
    body.output_hash[0] ^= 1;
    let lie = serde_json::to_value(liar.sign(body)).unwrap();
    let v = verify(&lie, &input);
    assert_eq!((v["field"].clone(), v["mismatch_id"].clone()), (json!("output_hash"), json!(1)));

    // The same lie submitted to the verifier role is audited in the background.
    let a = http.post("/v1/audit", &json!({"receipt": lie, "input": input}));
    assert_eq!((a.status, a.json()["sampled"].clone()), (202, json!(true)));
    eventually("the submitted lie to be recorded", || {
        http.get("/v1/mismatches").json()["mismatches"].as_array().unwrap().len() == 2
    });
    let all = http.get("/v1/mismatches").json()["mismatches"].clone();
    let sources: Vec<&str> = all.as_array().unwrap().iter().map(|m| m["source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["verify", "submitted"]);
    let m = &all[1];
    assert_eq!(
        (m["field"].as_str(), m["receipt"].clone(), m["input"].clone()),
        (Some("output_hash"), lie.clone(), input.clone())
    );
    assert_eq!(m["model_id"], id);
    assert_eq!(m["computed"]["output_hash"], answer["output_hash"]);
    let page = http.get("/v1/mismatches?limit=1").json();
    assert_eq!((page["mismatches"][0]["id"].clone(), page["next_after"].clone()), (json!(1), json!(1)));
    assert_eq!(http.metric("verity_mismatches_total"), 2.0);

    // Unsigned garbage is refused by the verifier before any work.
    http.post("/v1/audit", &json!({"receipt": forged, "input": input})).error(400, "signature");
}

#[test]
fn metrics_count_routes_statuses_and_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let node = verity_node::start(config(dir.path())).unwrap();
    let http = Http::new(&node);
    let id = http.publish_cnn();
    for _ in 0..3 {
        assert_eq!(http.infer(&id, cnn_input(), "receipt").status, 200);
    }
    http.get(&format!("/v1/models/{}", "ab".repeat(32)));
    assert_eq!(http.metric("verity_http_requests_total{route=\"/v1/infer\",method=\"POST\",status=\"200\"}"), 3.0);
    assert_eq!(http.metric("verity_http_requests_total{route=\"/v1/models/{id}\",method=\"GET\",status=\"404\"}"), 1.0);
    assert_eq!(http.metric("verity_http_request_duration_seconds_count{route=\"/v1/infer\"}"), 3.0);
    assert_eq!(http.metric("verity_http_request_duration_seconds_bucket{route=\"/v1/infer\",le=\"+Inf\"}"), 3.0);
    assert_eq!(http.metric("verity_receipts_issued_total"), 3.0);
    assert_eq!(http.metric("verity_inferences_total"), 3.0);
    // The /metrics request itself is in flight while it renders.
    assert_eq!(http.metric("verity_http_in_flight"), 1.0);
    assert_eq!(http.metric("verity_audits_total{result=\"ok\"}"), 0.0);
}

// ---- proofs (evidence zk) ----

fn zk_config(dir: &Path) -> NodeConfig {
    let mut c = config(dir);
    c.max_body = 8 << 20; // proof files are about 1 MB
    c.max_concurrency = 2;
    c
}

/// Polls a proof job until `state` (bounded; the proofs here take well under a second).
fn job_in_state(http: &Http, job: &str, state: &str) -> Value {
    let mut last = Value::Null;
    eventually(&format!("proof job {job} to be {state}"), || {
        last = http.get(&format!("/v1/proofs/{job}")).json();
        last["state"] == state
    });
    last
}

fn cnn_model() -> verity_model::Model {
    verity_model::Model::decode(&read("cnn_digits.vrt")).unwrap()
}

/// The CNN input with one pixel changed: another statement, another job.
fn cnn_input_variant(k: usize) -> Value {
    let mut x = cnn_input();
    x["input_data"][0][k] = json!(x["input_data"][0][k].as_f64().unwrap() + 1.0);
    x
}

#[test]
fn zk_inference_answers_at_once_and_its_proof_is_stored_fetched_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let node = verity_node::start(zk_config(dir.path())).unwrap();
    let http = Http::new(&node);
    let id = http.publish_cnn();
    let input = cnn_input();

    let plain = http.infer(&id, input.clone(), "none").json();
    let r = http.infer(&id, input.clone(), "zk");
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let answer = r.json();
    assert_eq!(answer["evidence"], "zk");
    for k in ["model_id", "input_hash", "output_hash", "outputs"] {
        assert_eq!(answer[k], plain[k], "{k}: the answer is the same as without evidence");
    }
    assert!(answer.get("receipt").is_none());
    let job = answer["proof_job"].as_str().unwrap().to_string();

    let done = job_in_state(&http, &job, "done");
    assert_eq!(done["job_id"], job);
    for k in ["model_id", "input_hash", "output_hash"] {
        assert_eq!(done[k], answer[k]);
    }
    assert_eq!(done["attempts"], 1);
    assert!(done.get("error").is_none() && done.get("progress").is_none());
    let proof_id = done["proof_id"].as_str().unwrap().to_string();

    // The file, by job id or by proof id: content-addressed, and a valid proof of exactly
    // this model, input and output.
    let file = http.get(&format!("/v1/proofs/{job}/file"));
    assert_eq!(file.headers["content-type"], "application/octet-stream");
    assert_eq!(blake3::hash(&file.body).to_hex().as_str(), proof_id);
    assert_eq!(done["proof_bytes"], file.body.len());
    assert_eq!(http.get(&format!("/v1/proofs/{proof_id}/file")).body, file.body);
    assert_eq!(http.get(&format!("/v1/proofs/0x{}", proof_id.to_uppercase())).json()["job_id"], job);
    let pf = verity_zk::file::ProofFile::decode(&file.body).unwrap();
    let model = cnn_model();
    assert_eq!(pf.model_id, model.id_bytes());
    assert_eq!(pf.inputs, verity_exec::parse_input(&model, &input.to_string()).unwrap());
    let pk = verity_zk::protocol::keygen(&model).unwrap();
    verity_zk::protocol::verify(&model, &pk.vk, &pf.inputs, &pf.outputs, &pf.proof).unwrap();
    let real = verity_exec::real_outputs(&model, &pf.outputs);
    assert_eq!(json!(real), answer["outputs"]);

    // The same request again is the same job, already done: nothing is proved twice.
    let again = http.infer(&id, input.clone(), "zk");
    assert_eq!((again.status, again.json()["proof_job"].as_str()), (202, Some(job.as_str())));
    assert_eq!(http.get(&format!("/v1/proofs/{job}")).json()["state"], "done");

    // Anyone's proof, checked against the node's copy of the model.
    let check = |proof: &[u8], model_id: &str| {
        let r = http.post("/v1/verify/proof", &json!({"proof": b64(proof), "model_id": model_id}));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    };
    assert_eq!(check(&file.body, &id), json!({"valid": true, "proof_id": proof_id}));
    let mut bad = file.body.clone();
    let n = bad.len();
    bad[n - 100] ^= 1;
    let v = check(&bad, &id);
    assert_eq!(v["valid"], false);
    assert!(!v["error"].as_str().unwrap().is_empty());
    let mut other_output = pf.clone();
    other_output.outputs[0].data[0] = other_output.outputs[0].data[0].wrapping_add(1).clamp(-128, 127);
    assert_ne!(other_output.outputs, pf.outputs);
    assert_eq!(check(&other_output.encode(), &id)["valid"], false);
    let v = check(b"not a proof", &id);
    assert!(v["error"].as_str().unwrap().contains("magic"), "{v}");
    let mlp = http.publish(&json!({"vrt": b64(&read("mlp_digits.vrt"))})).json()["model_id"].as_str().unwrap().to_string();
    let v = check(&file.body, &mlp);
    assert!(v["error"].as_str().unwrap().contains("the proof is for model"), "{v}");
    http.post("/v1/verify/proof", &json!({"proof": "%%", "model_id": id})).error(400, "`proof` is not valid base64");
    http.post("/v1/verify/proof", &json!({"proof": b64(&file.body), "model_id": "cd".repeat(32)})).error(404, "no model");

    // Lookups.
    http.get(&format!("/v1/proofs/{}", "cd".repeat(32))).error(404, "no proof job and no proof");
    http.get(&format!("/v1/proofs/{}/file", "cd".repeat(32))).error(404, "no proof job and no proof");
    http.get("/v1/proofs/xyz").error(400, "proof job id must be 64 hex digits");

    let info = http.get("/v1/info").json();
    assert_eq!((info["proofs"].clone(), info["proof_jobs_pending"].clone()), (json!(1), json!(0)));
    assert_eq!(http.metric("verity_proofs_made_total"), 1.0);
    assert_eq!(http.metric("verity_proof_jobs_queued"), 0.0);
    assert_eq!(http.metric("verity_proof_jobs_running"), 0.0);
    assert_eq!(http.metric("verity_proof_seconds_count"), 1.0);
    assert_eq!(http.metric("verity_proof_checks_total{result=\"valid\"}"), 1.0);
    assert_eq!(http.metric("verity_proof_checks_total{result=\"invalid\"}"), 4.0);
    assert_eq!(http.metric("verity_http_requests_total{route=\"/v1/infer\",method=\"POST\",status=\"202\"}"), 2.0);
    assert_store_consistent(&dir.path().join("data"), &http);

    // Everything survives a restart.
    drop(http);
    node.shutdown().unwrap();
    let node = verity_node::start(zk_config(dir.path())).unwrap();
    let http = Http::new(&node);
    assert_eq!(http.get(&format!("/v1/proofs/{job}")).json(), done);
    assert_eq!(http.get(&format!("/v1/proofs/{proof_id}/file")).body, file.body);
}

#[test]
fn proof_jobs_report_progress_queue_and_survive_graceful_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = zk_config(dir.path());
    c.proof_queue = 2;
    let pause = Pause::new("proof:proving");
    c.pause = Some(pause.clone());
    let node = verity_node::start(c.clone()).unwrap();
    let http = Http::new(&node);
    let id = http.publish_cnn();

    let first = http.infer(&id, cnn_input_variant(1), "zk").json()["proof_job"].as_str().unwrap().to_string();
    pause.wait_reached(1);
    // Proving, holding a compute slot: inference still has the other one.
    let running = http.get(&format!("/v1/proofs/{first}")).json();
    assert_eq!((running["state"].as_str(), running["attempts"].as_u64()), (Some("running"), Some(1)));
    assert_eq!(running["progress"]["step"], "building the witness");
    http.get(&format!("/v1/proofs/{first}/file")).error(409, "is running");
    assert_eq!(http.infer(&id, cnn_input(), "none").status, 200);
    assert_eq!(http.metric("verity_compute_running"), 1.0);

    let second = http.infer(&id, cnn_input_variant(2), "zk").json()["proof_job"].as_str().unwrap().to_string();
    let queued = http.get(&format!("/v1/proofs/{second}")).json();
    assert_eq!((queued["state"].as_str(), queued["ahead"].as_u64()), (Some("queued"), Some(1)));
    http.get(&format!("/v1/proofs/{second}/file")).error(409, "is queued");
    assert_eq!(http.metric("verity_proof_jobs_queued"), 1.0);
    assert_eq!(http.metric("verity_proof_jobs_running"), 1.0);
    // The queue holds two jobs; a third is refused (and a job already there is not).
    let r = http.infer(&id, cnn_input_variant(3), "zk");
    r.error(503, "proof queue is full");
    assert_eq!(r.headers["retry-after"], "1");
    assert_eq!(http.infer(&id, cnn_input_variant(2), "zk").status, 202);

    // Graceful shutdown: the proof in progress is finished, the queued job stays queued.
    let addr = node.listening.addr;
    drop(http);
    let stopping = std::thread::spawn(move || node.shutdown());
    eventually("the listener to close", || std::net::TcpStream::connect(addr).is_err());
    pause.release();
    stopping.join().unwrap().unwrap();

    c.pause = None;
    let node = verity_node::start(c).unwrap();
    let http = Http::new(&node);
    let a = http.get(&format!("/v1/proofs/{first}")).json();
    assert_eq!((a["state"].as_str(), a["attempts"].as_u64()), (Some("done"), Some(1)), "finished before the stop: {a}");
    // The queued job resumes after the restart, without a new request.
    let b = job_in_state(&http, &second, "done");
    assert_eq!(b["attempts"], 1, "it never started before the stop");
    let file = http.get(&format!("/v1/proofs/{second}/file")).body;
    let v = http.post("/v1/verify/proof", &json!({"proof": b64(&file), "model_id": id})).json();
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(http.get("/v1/info").json()["proofs"], 2);
}

/// Receipts queued while a commit is in progress go out together under one batch
/// signature; each still verifies on its own and is fetched back by its id.
#[test]
fn receipts_queued_behind_a_commit_share_one_batch_signature() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    let pause = Pause::new("receipt:before-commit");
    c.pause = Some(pause.clone());
    let node = verity_node::start(c).unwrap();
    let http = Http::new(&node);
    let id = http.publish_cnn();
    let base = node.url();
    let spawn_infer = |k: usize| {
        let (base, id) = (base.clone(), id.clone());
        std::thread::spawn(move || {
            let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
            let body = json!({"model_id": id, "input": cnn_input_variant(k), "evidence": "receipt"}).to_string();
            let mut r = agent.post(format!("{base}/v1/infer")).send(body.as_bytes()).unwrap();
            assert_eq!(r.status(), 200);
            serde_json::from_slice::<Value>(&r.body_mut().read_to_vec().unwrap()).unwrap()
        })
    };
    let first = spawn_infer(0);
    pause.wait_reached(1);
    let queued: Vec<_> = (1..=5).map(spawn_infer).collect();
    eventually("five receipts queued behind the commit", || http.metric("verity_receipts_pending") == 6.0);
    pause.release();

    let lone: verity_receipt::Receipt = serde_json::from_value(first.join().unwrap()["receipt"].clone()).unwrap();
    assert_eq!(lone.batch, None, "a receipt alone in its commit is signed plainly");
    let batch: Vec<verity_receipt::Receipt> =
        queued.into_iter().map(|t| serde_json::from_value(t.join().unwrap()["receipt"].clone()).unwrap()).collect();
    for r in &batch {
        assert_eq!(r.verify_signature(), Ok(()));
        assert_eq!(r.signature, batch[0].signature, "one signature for the batch");
        assert_eq!(r.batch.as_ref().unwrap().path.len(), 3, "five leaves pad to eight");
        let stored = http.get(&format!("/v1/receipts/{}", verity_commit::hash::hex(&r.signing_hash())));
        assert_eq!(serde_json::from_value::<verity_receipt::Receipt>(stored.json()["receipt"].clone()).unwrap(), *r);
    }
    assert_eq!(http.metric("verity_receipt_batches_total"), 2.0);
    assert_eq!(http.metric("verity_receipts_issued_total"), 6.0);
    assert_eq!(http.metric("verity_receipts_pending"), 0.0);
}

/// The attack of issue 10 on `/v1/audit` with `--verify-sample 1`: a genuine receipt posted
/// with a *different* input was accepted (202, sampled) and recorded as a mismatch with
/// `field: "input_hash"`, i.e. false evidence against an honest node. Now it is refused
/// before anything is queued, `/v1/verify/receipt` answers without recording, and the
/// mismatch counter stays at zero; a receipt for another model is treated the same way.
#[test]
fn a_receipt_for_another_input_or_model_is_no_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.verify_sample = 1.0;
    c.max_body = 1 << 20;
    let node = verity_node::start(c).unwrap();
    let http = Http::new(&node);
    let id = http.publish_cnn();
    let input = cnn_input();
    let receipt = http.infer(&id, input.clone(), "receipt").json()["receipt"].clone();
    eventually("the audit of the issued receipt", || http.metric("verity_audits_total{result=\"ok\"}") == 1.0);
    let mut other = input.clone();
    other["input_data"][0][3] = json!(other["input_data"][0][3].as_f64().unwrap() + 2.0);
    for _ in 0..3 {
        http.post("/v1/audit", &json!({"receipt": receipt, "input": other})).error(422, "but the receipt is for input_hash");
    }
    // The genuine pairing is still accepted and audits clean.
    let a = http.post("/v1/audit", &json!({"receipt": receipt, "input": input}));
    assert_eq!((a.status, a.json()["sampled"].clone()), (202, json!(true)));
    eventually("the genuine audit", || http.metric("verity_audits_total{result=\"ok\"}") == 2.0);

    // /v1/verify/receipt: another input, another model.
    let v = http.post("/v1/verify/receipt", &json!({"receipt": receipt, "model_id": id, "input": other})).json();
    assert_eq!((v["ok"].clone(), v["field"].clone(), v.get("mismatch_id")), (json!(false), json!("input_hash"), None));
    let mlp = http.publish(&json!({"vrt": b64(&read("mlp_digits.vrt"))})).json()["model_id"].as_str().unwrap().to_string();
    let mlp_input: Value = serde_json::from_str(&text("mlp_digits.input.json")).unwrap();
    let v = http.post("/v1/verify/receipt", &json!({"receipt": receipt, "model_id": mlp, "input": mlp_input})).json();
    assert_eq!((v["ok"].clone(), v["field"].clone(), v.get("mismatch_id")), (json!(false), json!("model_id"), None));

    assert_eq!(http.get("/v1/mismatches").json()["mismatches"], json!([]));
    assert_eq!(http.metric("verity_mismatches_total"), 0.0);
    assert_eq!(http.metric("verity_audits_total{result=\"mismatch\"}"), 0.0);
}

/// The attack of issue 10 on batch proofs: many clients ask at once, so their receipts share
/// batches, and each then tries every 32-byte value its own answer carries (hashes, salt,
/// path elements, both halves of the signature) as a receipt id. Under format version 1 the
/// first path element of each receipt was its sibling's id, and `GET /v1/receipts/{id}`
/// returned that other client's input. Now only a client's own id finds a record.
#[test]
fn concurrent_clients_cannot_read_each_others_receipts_via_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    let pause = Pause::new("receipt:before-commit");
    c.pause = Some(pause.clone());
    let node = verity_node::start(c).unwrap();
    let http = Http::new(&node);
    let id = http.publish_cnn();
    let base = node.url();
    let clients = 12;
    let spawn_infer = |k: usize| {
        let (base, id) = (base.clone(), id.clone());
        std::thread::spawn(move || {
            let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
            let body = json!({"model_id": id, "input": cnn_input_variant(k), "evidence": "receipt"}).to_string();
            let mut r = agent.post(format!("{base}/v1/infer")).send(body.as_bytes()).unwrap();
            assert_eq!(r.status(), 200);
            serde_json::from_slice::<Value>(&r.body_mut().read_to_vec().unwrap()).unwrap()
        })
    };
    // Hold the first commit so that the others pile up into one batch behind it.
    let first = spawn_infer(63);
    pause.wait_reached(1);
    let others: Vec<_> = (0..clients).map(spawn_infer).collect();
    eventually("the clients queued behind the commit", || http.metric("verity_receipts_pending") == clients as f64 + 1.0);
    pause.release();
    let mut answers = vec![first.join().unwrap()];
    answers.extend(others.into_iter().map(|t| t.join().unwrap()));

    let mut batched = 0;
    let mut tried = 0;
    for (k, answer) in answers.iter().enumerate() {
        let receipt: verity_receipt::Receipt = serde_json::from_value(answer["receipt"].clone()).unwrap();
        let own = answer["receipt_id"].as_str().unwrap().to_string();
        batched += usize::from(receipt.batch.is_some());
        // Everything 32 bytes long in what this client was given.
        let mut candidates: Vec<[u8; 32]> =
            vec![receipt.body.model_id, receipt.body.input_hash, receipt.body.output_hash, receipt.body.trace_root];
        candidates.extend([receipt.signature.r, receipt.signature.s]);
        if let Some(b) = &receipt.batch {
            candidates.push(b.salt);
            candidates.extend(b.path.iter().copied());
        }
        for hexed in [answer["input_hash"].as_str(), answer["output_hash"].as_str()].into_iter().flatten() {
            candidates.push(verity_exec::parse_id(hexed).unwrap());
        }
        for cand in candidates {
            let cand = verity_commit::hash::hex(&cand);
            if cand == own {
                continue;
            }
            tried += 1;
            http.get(&format!("/v1/receipts/{cand}")).error(404, "no receipt with id");
        }
        let mine = http.get(&format!("/v1/receipts/{own}")).json();
        assert_eq!(mine["input"], if k == 0 { cnn_input_variant(63) } else { cnn_input_variant(k - 1) });
    }
    assert_eq!(batched, clients, "all but the held first receipt were batch-signed");
    assert!(tried >= clients * 10, "{tried} lookups");
    eprintln!(
        "{tried} lookups of values from {} receipts ({batched} batch-signed): none found another client's record",
        answers.len()
    );
}

/// An error quotes what was wrong, but never all of a huge request: an input with 300,000
/// names once produced a 2.5 MB error.
#[test]
fn error_messages_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.max_body = 16 << 20;
    c.max_input_body = 16 << 20;
    let node = verity_node::start(c).unwrap();
    let http = Http::new(&node);
    let id = http.publish_cnn();
    let names: serde_json::Map<String, Value> = (0..300_000).map(|i| (format!("name{i}"), json!([1]))).collect();
    let r = http.infer(&id, Value::Object(names), "none");
    assert_eq!(r.status, 400);
    assert!(r.body.len() <= 1100, "{} bytes", r.body.len());
    assert!(r.json()["error"].as_str().unwrap().ends_with("more bytes omitted)"), "{}", String::from_utf8_lossy(&r.body));
}

// ---- memory bounds ----

/// Sends a request head (and optionally part of a body) on a raw socket and keeps it open.
fn raw_upload(node: &RunningNode, path: &str, head_extra: &str, body_part: &[u8]) -> std::net::TcpStream {
    let mut tcp = std::net::TcpStream::connect(node.listening.addr).unwrap();
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{head_extra}\r\n");
    std::io::Write::write_all(&mut tcp, head.as_bytes()).unwrap();
    std::io::Write::write_all(&mut tcp, body_part).unwrap();
    tcp
}

fn read_answer(mut tcp: std::net::TcpStream) -> String {
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let mut out = Vec::new();
    let _ = std::io::Read::read_to_end(&mut tcp, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Slow uploads reserve their bodies against --max-inflight-bytes before anything is
/// buffered, so a crowd of them is refused (503 + Retry-After) instead of growing the node;
/// `/health` keeps answering meanwhile, and the bytes come back when the uploads end.
#[test]
fn request_bodies_in_memory_are_bounded_by_a_byte_budget() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.max_inflight_bytes = 300_000;
    let node = verity_node::start(c).unwrap();
    let http = Http::new(&node);
    // A slow upload that declares 200,000 bytes and sends 10.
    let slow = raw_upload(&node, "/v1/infer", "Content-Length: 200000\r\n", b"{\"model_id");
    eventually("the slow upload's reservation", || http.metric("verity_body_bytes_held") == 200_000.0);
    // A second one does not fit: refused from its headers, before its body is read.
    let r = http.call("POST", "/v1/audit", Some(&vec![b' '; 150_000]), None);
    r.error(503, "--max-inflight-bytes");
    assert_eq!(r.headers["retry-after"], "1");
    // Nor does a chunked one, which is reserved frame by frame as it arrives.
    let mut chunked = raw_upload(&node, "/v1/infer", "Transfer-Encoding: chunked\r\n", b"");
    for _ in 0..4 {
        let chunk = vec![b' '; 40_000];
        let _ = std::io::Write::write_all(&mut chunked, format!("{:x}\r\n", chunk.len()).as_bytes());
        let _ = std::io::Write::write_all(&mut chunked, &chunk);
        let _ = std::io::Write::write_all(&mut chunked, b"\r\n");
    }
    let _ = std::io::Write::write_all(&mut chunked, b"0\r\n\r\n");
    let answer = read_answer(chunked);
    assert!(answer.starts_with("HTTP/1.1 503") && answer.contains("--max-inflight-bytes"), "{answer}");
    assert!(http.metric("verity_bodies_refused_total") >= 2.0);
    // Small requests still fit, and the node answers /health throughout.
    assert_eq!(http.get("/health").status, 200);
    assert_eq!(http.get("/v1/info").json()["max_inflight_bytes"], 300_000);
    assert!(http.metric("verity_body_bytes_held") <= 300_000.0);
    drop(slow);
    eventually("the reservation to be released", || http.metric("verity_body_bytes_held") == 0.0);
    let r = http.call("POST", "/v1/audit", Some(&vec![b' '; 150_000]), None);
    r.error(400, "invalid JSON body");
}

/// Each route has its own limit: inputs (--max-input-body) are smaller than models
/// (--max-body); a body that does not arrive in --body-timeout gets 408.
#[test]
fn body_limits_are_per_route_and_slow_bodies_time_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.max_input_body = 8 << 10;
    c.body_timeout = std::time::Duration::from_millis(500);
    let node = verity_node::start(c).unwrap();
    let http = Http::new(&node);
    let id = http.publish_cnn(); // far more than 8 KiB: the model route keeps --max-body
    let big_input = json!({"input_data": [vec![0.5; 4000]]});
    http.infer(&id, big_input.clone(), "none").error(413, "limit of 8192 bytes for this route");
    http.post("/v1/audit", &json!({"receipt": {}, "input": big_input})).error(413, "limit of 8192 bytes");
    assert_eq!(http.get("/v1/info").json()["max_input_body"], 8192);
    let slow = raw_upload(&node, "/v1/infer", "Content-Length: 1000\r\n", b"{\"model_id\": ");
    let answer = read_answer(slow);
    assert!(answer.starts_with("HTTP/1.1 408") && answer.contains("--body-timeout"), "{answer}");
    assert_eq!(http.infer(&id, cnn_input(), "none").status, 200);
}

/// --max-connections: further connections wait (in the backlog) until one closes, instead
/// of each costing the node a task and buffers.
#[test]
fn connections_beyond_the_limit_wait_for_a_free_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.max_connections = 2;
    let node = verity_node::start(c).unwrap();
    let idle: Vec<std::net::TcpStream> = (0..2).map(|_| std::net::TcpStream::connect(node.listening.addr).unwrap()).collect();
    let base = node.url();
    let waiting = std::thread::spawn(move || {
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
        let started = std::time::Instant::now();
        let status = agent.get(format!("{base}/health")).call().unwrap().status().as_u16();
        (status, started.elapsed())
    });
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert!(!waiting.is_finished(), "a third connection was served while two were open");
    drop(idle);
    let (status, waited) = waiting.join().unwrap();
    assert_eq!(status, 200);
    assert!(waited >= std::time::Duration::from_millis(700), "{waited:?}");
}

/// Queued audits keep their inputs until they run; --audit-queue-bytes bounds them by bytes,
/// not only by count.
#[test]
fn queued_audits_are_bounded_by_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.verify_sample = 1.0;
    c.audit_queue_bytes = 64; // less than one CNN input
    let node = verity_node::start(c).unwrap();
    let http = Http::new(&node);
    let id = http.publish_cnn();
    let answer = http.infer(&id, cnn_input(), "receipt").json();
    assert_eq!(answer["receipt"]["version"], 2);
    // The issued receipt's audit did not fit either: dropped and counted, the answer unharmed.
    assert_eq!(http.metric("verity_audits_total{result=\"dropped\"}"), 1.0);
    let r = http.post("/v1/audit", &json!({"receipt": answer["receipt"], "input": cnn_input()}));
    r.error(503, "the verifier's audit queue is full");
    assert_eq!(r.headers["retry-after"], "1");
    assert_eq!(http.metric("verity_audits_total{result=\"dropped\"}"), 2.0);
}

#[test]
fn the_node_serves_applications() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.cors_origins = vec!["https://app.example".into()];
    let node = verity_node::start(c).unwrap();
    let http = Http::new(&node);
    // An index page linking the API document.
    let index = http.get("/");
    assert_eq!(index.status, 200);
    let page = String::from_utf8_lossy(&index.body);
    assert!(page.contains("href=\"/openapi.json\"") && page.contains("<html"), "{page}");
    assert!(index.headers.get("content-type").unwrap().to_str().unwrap().starts_with("text/html"));
    // Pages: 0 is refused, not answered with one item; large limits are capped.
    let id = http.publish_cnn();
    http.get("/v1/models?limit=0").error(400, "limit must be between 1 and 1000");
    assert_eq!(http.get("/v1/models?limit=1").json()["models"].as_array().unwrap().len(), 1);
    assert_eq!(http.get("/v1/models?limit=5000").json()["models"].as_array().unwrap().len(), 1);
    http.get("/v1/mismatches?limit=0").error(400, "limit must be");
    // CORS for the configured origin only, preflight included.
    let with_origin = |method: &str, origin: &str, extra: Option<(&str, &str)>| {
        let url = format!("{}/v1/info", node.url());
        let mut req = ureq::http::Request::builder().method(method).uri(&url).header("Origin", origin);
        if let Some((k, v)) = extra {
            req = req.header(k, v);
        }
        http.agent.run(req.body(Vec::new()).unwrap()).unwrap()
    };
    let ok = with_origin("GET", "https://app.example", None);
    assert_eq!(ok.headers().get("access-control-allow-origin").unwrap(), "https://app.example");
    let exposed = ok.headers().get("access-control-expose-headers").unwrap().to_str().unwrap();
    assert!(["retry-after", "x-verity-receipt-id", "x-verity-executed-by"].iter().all(|h| exposed.contains(h)), "{exposed}");
    let other = with_origin("GET", "https://evil.example", None);
    assert_eq!(other.status().as_u16(), 200);
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let pre = with_origin("OPTIONS", "https://app.example", Some(("Access-Control-Request-Method", "POST")));
    assert_eq!(pre.status().as_u16(), 204);
    assert!(pre.headers().get("access-control-allow-headers").unwrap().to_str().unwrap().contains("authorization"));
    // The verifying key of a published model, as `verity keygen` writes it.
    let vk = http.get(&format!("/v1/models/{id}/vk"));
    assert_eq!(vk.status, 200);
    let key = verity_zk::vk::LightKey::decode(&vk.body).unwrap();
    assert_eq!(verity_commit::hash::hex(&key.vk.model_id), id);
    let model = verity_model::Model::decode(&read("cnn_digits.vrt")).unwrap();
    assert_eq!(vk.body, verity_zk::vk::LightKey::new(&model).unwrap().encode());
    http.get(&format!("/v1/models/{}/vk", "ab".repeat(32))).error(404, "");
}

#[test]
fn without_cors_origins_no_cors_headers_are_sent() {
    let dir = tempfile::tempdir().unwrap();
    let node = verity_node::start(config(dir.path())).unwrap();
    let http = Http::new(&node);
    let req = ureq::http::Request::builder()
        .method("GET")
        .uri(format!("{}/v1/info", node.url()))
        .header("Origin", "https://app.example")
        .body(Vec::new())
        .unwrap();
    let r = http.agent.run(req).unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}
