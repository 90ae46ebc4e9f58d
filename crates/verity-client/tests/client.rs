//! The client against a real node over loopback HTTP: publish, infer with every evidence
//! kind, fetch; and a tampering proxy between them whose every lie the client catches.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use verity_client::{Client, Error, ExecutorCheck};
use verity_exec::api::Evidence;
use verity_node::{NodeConfig, RunningNode};
use verity_receipt::{Receipt, Signer};

const KEY: &str = "k";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(name)
}

fn text(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

fn node(dir: &Path) -> RunningNode {
    let mut c = NodeConfig::new(dir.join("node"));
    c.api_key = Some(KEY.into());
    verity_node::start(c).unwrap()
}

fn client(url: &str, dir: &Path) -> Client {
    Client::new(url).with_api_key(Some(KEY.into())).with_cache_dir(Some(dir.join("cache")))
}

/// What the pinned fixtures give (crates/verity-cli/tests/cli.rs pins the same hash).
const CNN_OUTPUT_HASH: &str = "2a1aed27ff9fc13467b14669fbd93653837ff4a8c73e799deb03f224e6496f44";

#[test]
fn publish_infer_and_fetch_with_every_evidence_kind() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let c = client(&node.url(), dir.path());
    assert_eq!(c.health().unwrap()["status"], "ok");

    // ONNX + calibration: imported on both sides, ids must agree; the .vrt is the same model.
    let onnx = std::fs::read(fixture("cnn_digits.onnx")).unwrap();
    let published = c.publish_onnx(&onnx, &text("cnn_digits.calibration.json"), 8).unwrap();
    assert!(published.created);
    let vrt = std::fs::read(fixture("cnn_digits.vrt")).unwrap();
    let again = c.publish_vrt(&vrt).unwrap();
    assert_eq!((again.model_id.as_str(), again.created), (published.model_id.as_str(), false));
    let id = published.model_id;
    assert_eq!(c.list_models(None, None).unwrap().models.len(), 1);
    assert_eq!(c.describe_model(&id).unwrap()["model_id"], id);

    let input = text("cnn_digits.input.json");
    let none = c.infer_verified(&id, &input, Evidence::None).unwrap();
    let v = none.to_json();
    assert_eq!((v["output_hash"].as_str(), v["evidence"].as_str()), (Some(CNN_OUTPUT_HASH), Some("none")));
    assert!(v.get("receipt").is_none());
    // The same object `verity run --json` prints, plus the evidence.
    let local = verity_exec::run_json(&none.model.model, &none.executed);
    let mut trimmed = v.clone();
    trimmed.as_object_mut().unwrap().remove("evidence");
    assert_eq!(trimmed, local);

    let with_receipt = c.infer_verified(&id, &input, Evidence::Receipt).unwrap();
    let r = with_receipt.receipt.clone().unwrap();
    assert_eq!(verity_receipt::to_checksum_address(&r.body.executor), c.info().unwrap().executor);
    let rid = verity_exec::receipt_id(&r);
    assert_eq!(with_receipt.to_json()["receipt_id"], rid);

    let (record, fetched) = c.fetch_receipt_verified(&rid).unwrap();
    assert_eq!((record.receipt, record.input.get()), (r.clone(), input.trim()));
    assert_eq!(verity_commit::hash::hex(&fetched.executed.output_hash), CNN_OUTPUT_HASH);
    // The node's own verifier agrees; with another input it names the field.
    assert!(c.verify_receipt(&r, &id, &input).unwrap().ok);
    let other = input.replacen("0.0", "3.0", 1);
    assert_eq!(c.verify_receipt(&r, &id, &other).unwrap().field.as_deref(), Some("input_hash"));

    // zk: the answer, then the proof, waited for and verified with a key derived here.
    let mut states = Vec::new();
    let zk = c.infer_verified_with(&id, &input, Evidence::Zk, &mut |j| states.push(j.state)).unwrap();
    assert_eq!(states.last(), Some(&verity_exec::api::JobState::Done));
    // The wait followed the node's event stream, once, and never polled the job.
    let metrics = ureq::get(format!("{}/metrics", node.url())).call().unwrap().into_body().read_to_string().unwrap();
    let count = |route: &str| -> u64 {
        let prefix = format!("verity_http_requests_total{{route=\"{route}\",method=\"GET\",status=\"200\"}} ");
        metrics.lines().find_map(|l| l.strip_prefix(prefix.as_str())).map_or(0, |n| n.parse().unwrap())
    };
    assert_eq!((count("/v1/proofs/{id}/events"), count("/v1/proofs/{id}")), (1, 0), "{metrics}");
    let p = zk.proof.as_ref().unwrap();
    let v = zk.to_json();
    assert_eq!((v["output_hash"].as_str(), v["evidence"].as_str()), (Some(CNN_OUTPUT_HASH), Some("zk")));
    assert_eq!((v["proof_id"].as_str(), v["proof_job"].as_str()), (Some(p.proof_id.as_str()), Some(p.job.job_id.as_str())));
    assert_eq!(p.file.outputs, zk.executed.outputs);
    for by in [&p.job.job_id, &p.proof_id] {
        let (m, fetched) = c.fetch_proof_verified(by, &mut |_| {}).unwrap();
        assert_eq!((fetched.bytes.as_slice(), m.model.id()), (p.bytes.as_slice(), id.clone()));
    }
    let checked = c.verify_proof(&p.bytes, &id).unwrap();
    assert!(checked.valid && checked.proof_id == p.proof_id, "{:?}", checked.error);
    match c.infer_verified(&"ab".repeat(32), &input, Evidence::None) {
        Err(Error::Node { status: 404, .. }) => {}
        other => panic!("unknown model should be 404, got {:?}", other.err()),
    }
    assert!(matches!(c.infer_verified("nope", &input, Evidence::None), Err(Error::Local(_))));
    let no_key = Client::new(&node.url()).with_cache_dir(None);
    assert!(matches!(no_key.publish_vrt(&vrt), Err(Error::Node { status: 401, .. })));
}

/// Rewrites (path, body) of the node's answers.
type Tamper = Box<dyn Fn(&str, &mut Vec<u8>) + Send>;

/// A man in the middle: forwards every request to the node and lets the test rewrite the
/// answer's body.
struct Proxy {
    upstream: String,
    agent: ureq::Agent,
    tamper: Mutex<Option<Tamper>>,
}

async fn forward(State(p): State<Arc<Proxy>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if uri.path().ends_with("/events") {
        // A node without the event stream: the client must fall back to polling (whose
        // answers the tests rewrite).
        return (StatusCode::NOT_FOUND, "no such route").into_response();
    }
    let p2 = p.clone();
    tokio::task::spawn_blocking(move || {
        let url = format!("{}{}", p2.upstream, uri.path_and_query().map_or("/", |q| q.as_str()));
        let mut req = ureq::http::Request::builder().method(method.as_str()).uri(url);
        for name in ["content-type", "authorization"] {
            if let Some(v) = headers.get(name) {
                req = req.header(name, v.as_bytes());
            }
        }
        let mut resp = p2.agent.run(req.body(body.to_vec()).unwrap()).unwrap();
        let status = resp.status().as_u16();
        let mut bytes = resp.body_mut().with_config().limit(1 << 30).read_to_vec().unwrap();
        if let Some(t) = p2.tamper.lock().unwrap().as_ref() {
            t(uri.path(), &mut bytes);
        }
        (StatusCode::from_u16(status).unwrap(), bytes).into_response()
    })
    .await
    .unwrap()
}

fn start_proxy(upstream: String) -> (String, Arc<Proxy>) {
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let proxy = Arc::new(Proxy { upstream, agent, tamper: Mutex::new(None) });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(forward).with_state(proxy.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    (format!("http://{addr}"), proxy)
}

fn edit_json(bytes: &mut Vec<u8>, f: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_slice(bytes).unwrap();
    f(&mut v);
    *bytes = serde_json::to_vec(&v).unwrap();
}

/// Re-signs a receipt JSON after `edit`, with the attacker's own key: a genuine signature
/// over a false claim.
fn resign(receipt: &mut Value, edit: impl FnOnce(&mut verity_receipt::ReceiptBody)) {
    let mut body = Receipt::from_json(&receipt.to_string()).unwrap().body;
    edit(&mut body);
    *receipt = serde_json::to_value(Signer::from_secret_bytes(&[42; 32]).unwrap().sign(body)).unwrap();
}

#[test]
fn tampered_answers_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let (url, proxy) = start_proxy(node.url());
    let input = text("cnn_digits.input.json");
    let other_input = input.replacen("0.0", "5.0", 1);
    let setup = client(&node.url(), dir.path());
    let id = setup.publish_vrt(&std::fs::read(fixture("cnn_digits.vrt")).unwrap()).unwrap().model_id;
    let mlp = setup.publish_vrt(&std::fs::read(fixture("mlp_digits.vrt")).unwrap()).unwrap().model_id;
    let genuine = setup.infer_verified(&id, &input, Evidence::Receipt).unwrap().receipt.unwrap();
    let rid = verity_exec::receipt_id(&genuine);
    let other_rid =
        verity_exec::receipt_id(&setup.infer_verified(&id, &other_input, Evidence::Receipt).unwrap().receipt.unwrap());

    let set = |t: Tamper| *proxy.tamper.lock().unwrap() = Some(t);
    // Each case gets a fresh client with an empty cache, so downloads go through the proxy.
    let case = |n: usize| Client::new(&url).with_cache_dir(Some(dir.path().join(format!("cache{n}"))));
    let expect = |n: usize, what: &str, result: Result<(), Error>, needle: &str| match result {
        Err(Error::Verification(m)) => assert!(m.contains(needle), "case {n} ({what}): {m:?} lacks {needle:?}"),
        Err(e) => panic!("case {n} ({what}): expected a verification failure, got {e}"),
        Ok(()) => panic!("case {n} ({what}): the lie was accepted"),
    };
    let infer = |n: usize, ev: Evidence| case(n).infer_verified(&id, &input, ev).map(|_| ());

    // Sanity: through an honest proxy everything verifies.
    infer(0, Evidence::Receipt).unwrap();
    case(0).fetch_receipt_verified(&rid).unwrap();

    let on_infer = |f: fn(&mut Value)| -> Tamper {
        Box::new(move |path: &str, b: &mut Vec<u8>| {
            if path == "/v1/infer" {
                edit_json(b, f)
            }
        })
    };
    set(on_infer(|v| v["outputs"][0][3] = json!(v["outputs"][0][3].as_f64().unwrap() + 0.5)));
    expect(1, "an output value", infer(1, Evidence::None), "outputs differ");
    set(on_infer(|v| {
        let o = v["outputs"][0].as_array_mut().unwrap();
        o.swap(0, 6);
    }));
    expect(2, "the argmax", infer(2, Evidence::Receipt), "outputs differ");
    set(on_infer(|v| v["output_hash"] = json!("11".repeat(32))));
    expect(3, "output hash", infer(3, Evidence::None), "output_hash");
    set(on_infer(|v| v["input_hash"] = json!("22".repeat(32))));
    expect(4, "input hash", infer(4, Evidence::None), "input_hash");
    set(on_infer(|v| v["model_id"] = json!("33".repeat(32))));
    expect(5, "model id", infer(5, Evidence::None), "model_id");
    set(on_infer(|v| v["receipt"]["trace_root"] = json!(format!("0x{}", "44".repeat(32)))));
    expect(6, "receipt field, old signature", infer(6, Evidence::Receipt), "signature");
    set(on_infer(|v| resign(&mut v["receipt"], |b| b.trace_root[0] ^= 1)));
    expect(7, "re-signed trace root", infer(7, Evidence::Receipt), "trace root");
    set(on_infer(|v| resign(&mut v["receipt"], |b| b.output_hash[5] ^= 1)));
    expect(8, "re-signed output hash", infer(8, Evidence::Receipt), "output_hash");
    set(on_infer(|v| {
        v.as_object_mut().unwrap().remove("receipt");
    }));
    expect(9, "receipt withheld", infer(9, Evidence::Receipt), "sent none");
    set(on_infer(|v| v["receipt_id"] = json!("55".repeat(32))));
    expect(10, "receipt id", infer(10, Evidence::Receipt), "receipt_id");
    set(on_infer(|v| v["evidence"] = json!("none")));
    expect(11, "evidence kind", infer(11, Evidence::Receipt), "evidence");
    set(on_infer(|v| resign(&mut v["receipt"], |b| b.evidence = verity_receipt::EvidenceKind::Zk)));
    expect(12, "receipt evidence kind", infer(12, Evidence::Receipt), "evidence");

    // Model bytes: one flipped byte, or a different (genuine) model under this id.
    set(Box::new(|path: &str, b: &mut Vec<u8>| {
        if path.ends_with("/vrt") {
            let n = b.len();
            b[n / 2] ^= 1;
        }
    }));
    expect(13, "model bytes", infer(13, Evidence::None), "hash to");
    let mlp_bytes = std::fs::read(fixture("mlp_digits.vrt")).unwrap();
    set(Box::new(move |path: &str, b: &mut Vec<u8>| {
        if path.ends_with("/vrt") {
            b.clone_from(&mlp_bytes);
        }
    }));
    expect(14, "another model", infer(14, Evidence::None), "hash to");
    assert!(!dir.path().join("cache14").join(format!("{id}.vrt")).exists(), "a rejected model is not cached");

    // Stored receipts: the input, the receipt, or the model id swapped.
    let on_receipt = |f: Box<dyn Fn(&mut Value) + Send>| -> Tamper {
        Box::new(move |path: &str, b: &mut Vec<u8>| {
            if path.starts_with("/v1/receipts/") {
                edit_json(b, &f)
            }
        })
    };
    let other_value: Value = serde_json::from_str(&other_input).unwrap();
    set(on_receipt(Box::new(move |v| v["input"] = other_value.clone())));
    expect(15, "stored input", case(15).fetch_receipt_verified(&rid).map(|_| ()), "input_hash");
    let swapped = setup.receipt(&other_rid).unwrap().receipt;
    let swapped = serde_json::to_value(swapped).unwrap();
    set(on_receipt(Box::new(move |v| v["receipt"] = swapped.clone())));
    expect(16, "another receipt", case(16).fetch_receipt_verified(&rid).map(|_| ()), "asked for receipt");
    let mlp2 = mlp.clone();
    set(on_receipt(Box::new(move |v| v["model_id"] = json!(mlp2))));
    expect(17, "stored model id", case(17).fetch_receipt_verified(&rid).map(|_| ()), "the receipt is for model");

    // A truncated answer is a protocol error, not a verified answer.
    set(on_infer(|v| *v = json!({"model_id": v["model_id"]})));
    assert!(matches!(infer(18, Evidence::None), Err(Error::Protocol(_))));
}

#[test]
fn cached_models_are_checked_against_their_id() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let c = client(&node.url(), dir.path());
    let id = c.publish_vrt(&std::fs::read(fixture("cnn_digits.vrt")).unwrap()).unwrap().model_id;
    let input = text("cnn_digits.input.json");
    c.infer_verified(&id, &input, Evidence::None).unwrap();
    let cached = dir.path().join("cache").join(format!("{id}.vrt"));
    let good = std::fs::read(&cached).unwrap();
    assert_eq!(verity_model::Model::decode(&good).unwrap().id(), id);
    // A corrupted cache entry is ignored and replaced by a checked download.
    std::fs::write(&cached, b"not a model").unwrap();
    let fresh = client(&node.url(), dir.path());
    let v = fresh.infer_verified(&id, &input, Evidence::None).unwrap();
    assert_eq!(verity_commit::hash::hex(&v.executed.output_hash), CNN_OUTPUT_HASH);
    assert_eq!(std::fs::read(&cached).unwrap(), good);
}

#[test]
fn tampered_proofs_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(dir.path().join("node"));
    config.api_key = Some(KEY.into());
    let node = verity_node::start(config).unwrap();
    let (url, proxy) = start_proxy(node.url());
    let input = text("cnn_digits.input.json");
    let other_input = input.replacen("0.0", "5.0", 1);
    let setup = client(&node.url(), dir.path());
    let id = setup.publish_vrt(&std::fs::read(fixture("cnn_digits.vrt")).unwrap()).unwrap().model_id;
    setup.publish_vrt(&std::fs::read(fixture("mlp_digits.vrt")).unwrap()).unwrap();
    let mlp_id = verity_model::Model::decode(&std::fs::read(fixture("mlp_digits.vrt")).unwrap()).unwrap().id();
    let genuine = setup.infer_verified(&id, &input, Evidence::Zk).unwrap().proof.unwrap();
    let other = setup.infer_verified(&id, &other_input, Evidence::Zk).unwrap().proof.unwrap();
    let mlp = setup.infer_verified(&mlp_id, &text("mlp_digits.input.json"), Evidence::Zk).unwrap().proof.unwrap();

    let set = |t: Tamper| *proxy.tamper.lock().unwrap() = Some(t);
    let case = |n: usize| Client::new(&url).with_cache_dir(Some(dir.path().join(format!("zcache{n}"))));
    let expect = |n: usize, what: &str, result: Result<(), Error>, needle: &str| match result {
        Err(Error::Verification(m)) => assert!(m.contains(needle), "case {n} ({what}): {m:?} lacks {needle:?}"),
        Err(e) => panic!("case {n} ({what}): expected a verification failure, got {e}"),
        Ok(()) => panic!("case {n} ({what}): the lie was accepted"),
    };
    let infer = |n: usize| case(n).infer_verified(&id, &input, Evidence::Zk).map(|_| ());
    let fetch = |n: usize, by: &str| case(n).fetch_proof_verified(by, &mut |_| {}).map(|_| ());

    // Sanity: through an honest proxy everything verifies.
    infer(0).unwrap();
    fetch(0, &genuine.job.job_id).unwrap();

    // Serves `bytes` as the proof file and, if `rename`, names them in the job status too
    // (so that only the proof itself can give the lie away).
    let serve = |bytes: Vec<u8>, rename: bool| -> Tamper {
        let named = blake3::hash(&bytes).to_hex().to_string();
        Box::new(move |path: &str, b: &mut Vec<u8>| {
            if path.starts_with("/v1/proofs/") && path.ends_with("/file") {
                b.clone_from(&bytes);
            } else if rename && path.starts_with("/v1/proofs/") {
                edit_json(b, |v| {
                    if v["state"] == "done" {
                        v["proof_id"] = json!(named.clone());
                    }
                });
            }
        })
    };
    let mut flipped = genuine.bytes.clone();
    let n = flipped.len();
    flipped[n - 200] ^= 1;
    set(serve(flipped.clone(), false));
    expect(1, "a flipped byte, old name", infer(1), "hashes to");
    set(serve(flipped.clone(), true));
    expect(2, "a flipped byte, renamed", infer(2), "does not verify");
    expect(3, "a flipped byte, fetched", fetch(3, &genuine.job.job_id), "does not verify");
    set(serve(genuine.bytes[..n / 2].to_vec(), true));
    expect(4, "truncated", infer(4), "");

    // A genuine proof, of something else.
    set(serve(other.bytes.clone(), true));
    expect(5, "a proof for another input", infer(5), "another input");
    let mut f = genuine.file.clone();
    let o = &mut f.outputs[0].data[0];
    *o = o.wrapping_add(1).clamp(-128, 127);
    set(serve(f.encode(), true));
    expect(6, "the statement's output changed", infer(6), "another output");
    set(serve(mlp.bytes.clone(), true));
    expect(7, "a proof for another model", infer(7), "the proof is for model");
    expect(8, "another model's proof, fetched", fetch(8, &genuine.job.job_id), "model");
    // The statement's output changed in a proof fetched on its own: it no longer verifies.
    set(serve(f.encode(), true));
    expect(9, "changed output, fetched", fetch(9, &genuine.job.job_id), "does not verify");

    // The job: withheld, or reported failed.
    set(Box::new(|path: &str, b: &mut Vec<u8>| {
        if path == "/v1/infer" {
            edit_json(b, |v| {
                v.as_object_mut().unwrap().remove("proof_job");
            })
        }
    }));
    expect(10, "no proof job", infer(10), "no proof job");
    set(Box::new(|path: &str, b: &mut Vec<u8>| {
        if path.starts_with("/v1/proofs/") && !path.ends_with("/file") {
            edit_json(b, |v| {
                v["state"] = json!("failed");
                v["error"] = json!("the dog ate it");
            })
        }
    }));
    match infer(11) {
        Err(Error::ProofFailed(m)) => assert!(m.contains("the dog ate it")),
        other => panic!("case 11: expected ProofFailed, got {other:?}"),
    }
    // Asked for a proof id, answered with another job.
    let other_job = other.job.clone();
    set(Box::new(move |path: &str, b: &mut Vec<u8>| {
        if path.starts_with("/v1/proofs/") && !path.ends_with("/file") {
            *b = serde_json::to_vec(&other_job).unwrap();
        }
    }));
    expect(12, "another job", fetch(12, &genuine.proof_id), "asked for proof");
}

/// Re-signs the receipt in an infer answer with another key after `edit`, and fixes up
/// `receipt_id`, so that every other check passes and only who signed (and when) is wrong.
fn resign_whole_answer(v: &mut Value, edit: impl FnOnce(&mut verity_receipt::ReceiptBody)) {
    resign(&mut v["receipt"], edit);
    let r = Receipt::from_json(&v["receipt"].to_string()).unwrap();
    v["receipt_id"] = json!(verity_exec::receipt_id(&r));
}

/// The attack of issue 10: a receipt that is genuine, correct in every claim and correctly
/// identified, but signed by a key that is not the node's, was accepted. Now the client
/// requires the executor the node advertises (or one pinned with `Expect`), unless told
/// `Any`, and a timestamp that is neither in the future nor from before the request.
#[test]
fn receipts_from_another_key_or_time_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let (url, proxy) = start_proxy(node.url());
    let input = text("cnn_digits.input.json");
    let setup = client(&node.url(), dir.path());
    let id = setup.publish_vrt(&std::fs::read(fixture("cnn_digits.vrt")).unwrap()).unwrap().model_id;
    let genuine = setup.infer_verified(&id, &input, Evidence::Receipt).unwrap().receipt.unwrap();
    let executor = verity_client::parse_address(&setup.info().unwrap().executor).unwrap();
    assert_eq!(genuine.body.executor, executor);

    let set = |t: Tamper| *proxy.tamper.lock().unwrap() = Some(t);
    let on_infer = |f: fn(&mut Value)| -> Tamper {
        Box::new(move |path: &str, b: &mut Vec<u8>| {
            if path == "/v1/infer" {
                edit_json(b, f)
            }
        })
    };
    let case = |n: usize| Client::new(&url).with_cache_dir(Some(dir.path().join(format!("cache{n}"))));
    let refused = |what: &str, c: Client, needle: &str| match c.infer_verified(&id, &input, Evidence::Receipt) {
        Err(Error::Verification(m)) => assert!(m.contains(needle), "{what}: {m:?} lacks {needle:?}"),
        Err(e) => panic!("{what}: expected a verification failure, got {e}"),
        Ok(_) => panic!("{what}: accepted"),
    };

    set(on_infer(|v| resign_whole_answer(v, |_| {})));
    refused("another key", case(1), "not by the executor");
    refused("another key, pinned", case(2).with_executor(ExecutorCheck::Expect(executor)), "not by the executor");
    let forger = Signer::from_secret_bytes(&[42; 32]).unwrap().address();
    let accepted = case(3).with_executor(ExecutorCheck::Any).infer_verified(&id, &input, Evidence::Receipt).unwrap();
    assert_eq!(accepted.receipt.unwrap().body.executor, forger, "Any accepts another key, when asked to");
    let pinned = case(4).with_executor(ExecutorCheck::Expect(forger)).infer_verified(&id, &input, Evidence::Receipt);
    assert!(pinned.is_ok(), "a pinned key is accepted");

    // Timestamps: in the future, or from before the request (a replayed old receipt).
    set(on_infer(|v| resign_whole_answer(v, |b| b.timestamp += 3600)));
    refused("future", case(5).with_executor(ExecutorCheck::Any), "in the future");
    set(on_infer(|v| resign_whole_answer(v, |b| b.timestamp -= 3600)));
    refused("stale", case(6).with_executor(ExecutorCheck::Any), "before the request");

    // The node's own receipt, but this client was pinned to another key.
    *proxy.tamper.lock().unwrap() = None;
    refused("pinned elsewhere", case(7).with_executor(ExecutorCheck::Expect(forger)), "not by the executor");
    case(8).infer_verified(&id, &input, Evidence::Receipt).unwrap();
    case(8).fetch_receipt_verified(&verity_exec::receipt_id(&genuine)).unwrap();
    let fetched = case(9).with_executor(ExecutorCheck::Expect(forger)).fetch_receipt_verified(&verity_exec::receipt_id(&genuine));
    assert!(matches!(fetched, Err(Error::Verification(m)) if m.contains("not by the executor")));
    let aged = case(10).with_max_receipt_age(Some(Duration::ZERO)).with_max_clock_skew(Duration::ZERO);
    std::thread::sleep(Duration::from_millis(1100));
    assert!(
        matches!(aged.fetch_receipt_verified(&verity_exec::receipt_id(&genuine)), Err(Error::Verification(m)) if m.contains("old"))
    );
}

#[test]
fn timestamp_bounds() {
    use verity_client::check_timestamp;
    let s = Duration::from_secs(300);
    let year = Some(Duration::from_secs(365 * 86_400));
    assert!(check_timestamp(1_000_300, 1_000_000, s, None, year).is_ok());
    assert!(check_timestamp(1_000_301, 1_000_000, s, None, year).is_err());
    assert!(check_timestamp(999_700, 1_000_000, s, Some(1_000_000), year).is_ok());
    assert!(check_timestamp(999_699, 1_000_000, s, Some(1_000_000), year).is_err());
    assert!(check_timestamp(0, 1_700_000_000, s, None, year).is_err(), "absurdly old");
    assert!(check_timestamp(0, 1_700_000_000, s, None, None).is_ok(), "any age when told");
    assert!(check_timestamp(u64::MAX, 1_700_000_000, s, None, None).is_err());
}

/// Serves `bytes` as the proof file and names them in the job status, so that only the
/// proof itself can give the lie away.
fn serve_proof(bytes: Vec<u8>) -> Tamper {
    let named = blake3::hash(&bytes).to_hex().to_string();
    Box::new(move |path: &str, b: &mut Vec<u8>| {
        if path.starts_with("/v1/proofs/") && path.ends_with("/file") {
            b.clone_from(&bytes);
        } else if path.starts_with("/v1/proofs/") {
            edit_json(b, |v| {
                if v["state"] == "done" {
                    v["proof_id"] = json!(named.clone());
                }
            });
        }
    })
}

#[test]
fn light_client_verifies_with_the_key_alone_and_rejects_wrong_keys_inputs_and_tampering() {
    use verity_client::KeySource;
    use verity_zk::vk::LightKey;
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let (url, proxy) = start_proxy(node.url());
    let (cnn_vrt, mlp_vrt) =
        (std::fs::read(fixture("cnn_digits.vrt")).unwrap(), std::fs::read(fixture("mlp_digits.vrt")).unwrap());
    let setup = client(&node.url(), dir.path());
    let id = setup.publish_vrt(&cnn_vrt).unwrap().model_id;
    let mlp_id = setup.publish_vrt(&mlp_vrt).unwrap().model_id;
    let cnn = verity_model::Model::decode(&cnn_vrt).unwrap();
    let cnn_key = Arc::new(LightKey::new(&cnn).unwrap());
    let mlp_key = Arc::new(LightKey::new(&verity_model::Model::decode(&mlp_vrt).unwrap()).unwrap());
    let input = text("cnn_digits.input.json");
    let other = setup.infer_verified(&id, &input.replacen("0.0", "5.0", 1), Evidence::Zk).unwrap().proof.unwrap();

    // Honest: the key alone verifies; no model is downloaded (the cache stays empty), and
    // the outputs are the ones a local run gives.
    let cache = dir.path().join("light-cache");
    let light = |n: usize| Client::new(&url).with_cache_dir(Some(cache.join(n.to_string())));
    let v = light(0).infer_light(&id, &input, &KeySource::Local(cnn_key.clone()), &mut |_| {}).unwrap();
    let local =
        verity_exec::execute(&verity_exec::engine(&cnn, None).unwrap(), &cnn, &verity_exec::parse_input(&cnn, &input).unwrap())
            .unwrap();
    assert_eq!((v.outputs.clone(), v.output_hash, v.input_hash), (local.outputs.clone(), local.output_hash, local.input_hash));
    assert_eq!(verity_commit::hash::hex(&v.model_id), id);
    assert!(
        !cache.join("0").exists() || std::fs::read_dir(cache.join("0")).unwrap().next().is_none(),
        "the light client downloaded the model"
    );
    let genuine = v.proof.bytes.clone();
    // The node's key, pinned by its digest, works too; a key derived from the model too.
    light(1).infer_light(&id, &input, &KeySource::Pinned(cnn_key.key_id()), &mut |_| {}).unwrap();
    light(2).infer_light(&id, &input, &KeySource::Derived, &mut |_| {}).unwrap();

    let expect =
        |n: usize, what: &str, source: KeySource, needle: &str| match light(n).infer_light(&id, &input, &source, &mut |_| {}) {
            Err(Error::Verification(m)) => assert!(m.contains(needle), "case {n} ({what}): {m:?} lacks {needle:?}"),
            Err(e) => panic!("case {n} ({what}): expected a verification failure, got {e}"),
            Ok(_) => panic!("case {n} ({what}): the lie was accepted"),
        };
    // A key of another model, held locally or pinned.
    expect(3, "another model's key", KeySource::Local(mlp_key.clone()), "is for model");
    expect(4, "a pin of another key", KeySource::Pinned(mlp_key.key_id()), "not the pinned");
    // The node hands out another model's key (valid, well formed) under this model's id.
    let forged = mlp_key.encode();
    *proxy.tamper.lock().unwrap() = Some(Box::new(move |path: &str, b: &mut Vec<u8>| {
        if path.ends_with("/vk") {
            b.clone_from(&forged);
        }
    }));
    expect(5, "a forged key from the node", KeySource::Pinned(cnn_key.key_id()), "not the pinned");
    // A genuine proof of another input.
    *proxy.tamper.lock().unwrap() = Some(serve_proof(other.bytes.clone()));
    expect(6, "a proof of another input", KeySource::Local(cnn_key.clone()), "another input");
    // A tampered proof, renamed so that its hash matches the job's claim.
    let mut flipped = genuine.clone();
    let n = flipped.len();
    flipped[n - 200] ^= 1;
    *proxy.tamper.lock().unwrap() = Some(serve_proof(flipped));
    expect(7, "a flipped proof byte", KeySource::Local(cnn_key.clone()), "does not verify");
    // The statement's output changed (a proof of a false output).
    let mut f = verity_zk::file::ProofFile::decode(&genuine).unwrap();
    f.outputs[0].data[0] = f.outputs[0].data[0].wrapping_add(1).clamp(-128, 127);
    *proxy.tamper.lock().unwrap() = Some(serve_proof(f.encode()));
    expect(8, "a changed output", KeySource::Local(cnn_key.clone()), "does not verify");
    // A genuine proof, but the node's immediate answer claims other outputs.
    *proxy.tamper.lock().unwrap() = Some(Box::new(|path: &str, b: &mut Vec<u8>| {
        if path == "/v1/infer" {
            edit_json(b, |v| v["outputs"][0][0] = json!(v["outputs"][0][0].as_f64().unwrap() + 1.0));
        }
    }));
    expect(9, "other outputs in the answer", KeySource::Local(cnn_key.clone()), "outputs differ");
    // A model id the key is not for is refused before anything is sent.
    match light(10).infer_light(&mlp_id, &input, &KeySource::Local(cnn_key), &mut |_| {}) {
        Err(Error::Verification(m)) => assert!(m.contains("is for model"), "{m}"),
        other => panic!("case 10: {:?}", other.map(|_| ())),
    }
}
