//! `verity node` as a real process: the CLI commands that talk to it, graceful stop on
//! SIGTERM, and crash safety — the process is killed with SIGKILL in the middle of uploads
//! and inferences, restarted on the same data directory, and must have lost nothing it
//! acknowledged and show nothing half-written.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use verity_client::Client;
use verity_exec::api::Evidence;

mod common;

use common::*;

#[test]
fn cli_commands_talk_to_a_node_and_check_its_answers() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let node = NodeProc::start(&home.join("data"), None);
    let url = node.url.clone();
    let (input, cnn_vrt) = (fx("cnn_digits.input.json"), fx("cnn_digits.vrt"));

    let id = ok(&["publish", "--node", &url, &fx("cnn_digits.onnx"), "--calibration", &fx("cnn_digits.calibration.json")], home);
    assert_eq!(id.trim(), pinned_id("cnn_digits"));
    let id = id.trim();
    assert_eq!(ok(&["publish", "--node", &url, &fx("mlp_digits.vrt")], home).trim(), pinned_id("mlp_digits"));
    fails(&["publish", "--node", &url, &fx("mlp_digits.vrt"), "--api-key", "wrong"], home, "401");
    // The failure names the flag and the variable, and is a usage error (exit 2).
    let out = verity(&["publish", "--node", &url, &fx("mlp_digits.vrt"), "--api-key", "wrong", "--json"], home);
    assert_eq!(out.status.code(), Some(2));
    let v = json(&String::from_utf8_lossy(&out.stdout));
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains("--api-key") && msg.contains("VERITY_API_KEY") && v["kind"] == "usage", "{v}");
    fails(
        &["publish", "--node", &url, &fx("bad/garbage.onnx"), "--calibration", &fx("cnn_digits.calibration.json")],
        home,
        "not a valid ONNX",
    );
    fails(&["publish", "--node", &url, &fx("mlp_digits.onnx")], home, "needs --calibration");

    // `infer --json` prints what `run --json` prints, plus the evidence.
    let local = json(&ok(&["run", &cnn_vrt, "--input", &input, "--json"], home));
    let mut none = json(&ok(&["infer", "--node", &url, id, "--input", &input, "--json"], home));
    assert_eq!(none.as_object_mut().unwrap().remove("evidence"), Some(json!("none")));
    assert_eq!(none, local);

    let r = home.join("r.json");
    let with = json(&ok(
        &["infer", "--node", &url, id, "--input", &input, "--evidence", "receipt", "--json", "--receipt", r.to_str().unwrap()],
        home,
    ));
    assert_eq!(with["output_hash"], local["output_hash"]);
    assert_eq!(json(&std::fs::read_to_string(&r).unwrap()), with["receipt"]);
    // Offline verification of the node's receipt, with the local model file.
    ok(&["verify", "--receipt", r.to_str().unwrap(), "--model", &cnn_vrt, "--input", &input], home);
    let human = ok(&["infer", "--node", &url, id, "--input", &input, "--evidence", "receipt"], home);
    assert!(human.contains("argmax") && human.contains("verified") && human.contains("signed by"), "{human}");

    // Fetch: a model by id (checked against the id), a receipt by id (checked by re-execution).
    let m = home.join("m.vrt");
    ok(&["fetch", "--node", &url, id, "-o", m.to_str().unwrap()], home);
    assert_eq!(std::fs::read(&m).unwrap(), std::fs::read(&cnn_vrt).unwrap());
    assert_eq!(json(&ok(&["fetch", "--node", &url, id], home))["model_id"], id);
    let rid = with["receipt_id"].as_str().unwrap();
    let (r2, in2) = (home.join("r2.json"), home.join("in2.json"));
    ok(&["fetch", "--node", &url, rid, "-o", r2.to_str().unwrap(), "--input-out", in2.to_str().unwrap()], home);
    assert_eq!(json(&std::fs::read_to_string(&r2).unwrap()), with["receipt"]);
    ok(&["verify", "--receipt", r2.to_str().unwrap(), "--model", m.to_str().unwrap(), "--input", in2.to_str().unwrap()], home);

    // Whose receipts are accepted: the node's advertised executor by default; a pinned
    // other address refuses the node's own receipts, --any-executor takes any valid signer.
    let elsewhere = format!("0x{}", "11".repeat(20));
    fails(&["fetch", "--node", &url, rid, "--executor", &elsewhere], home, "not by the executor");
    fails(
        &["infer", "--node", &url, id, "--input", &input, "--evidence", "receipt", "--executor", &elsewhere],
        home,
        "not by the executor",
    );
    ok(&["fetch", "--node", &url, rid, "--any-executor"], home);
    ok(&["fetch", "--node", &url, rid, "--executor", with["receipt"]["executor"].as_str().unwrap()], home);
    fails(&["fetch", "--node", &url, rid, "--executor", "0x12"], home, "is not an address");

    fails(&["infer", "--node", &url, id, "--input", &input, "--proof", "p.vrtz"], home, "--proof needs --evidence zk");
    fails(&["infer", "--node", &url, id, "--input", &input, "--evidence", "maybe"], home, "unknown evidence");
    fails(&["infer", "--node", &url, &"ab".repeat(32), "--input", &input], home, "404");
    fails(&["fetch", "--node", &url, &"ab".repeat(32)], home, "no model, no receipt and no proof");
    fails(&["fetch", "--node", "http://127.0.0.1:1", &"ab".repeat(32)], home, "cannot reach");

    // SIGTERM: a graceful stop, exit status 0.
    let mut node = node;
    let pid = node.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(node.child.wait().unwrap().success());
}

#[test]
fn kill_9_during_uploads_loses_nothing_acknowledged_and_shows_nothing_partial() {
    let dir = tempfile::tempdir().unwrap();
    let (data, cache) = (dir.path().join("data"), dir.path().join("cache"));
    let cnn = std::fs::read(fx("cnn_digits.vrt")).unwrap();
    let mlp = std::fs::read(fx("mlp_digits.vrt")).unwrap();
    let (cnn_id, mlp_id) = (pinned_id("cnn_digits"), pinned_id("mlp_digits"));
    let input = std::fs::read_to_string(fx("cnn_digits.input.json")).unwrap();

    // Acknowledged state: one model, three receipts.
    let node = NodeProc::start(&data, None);
    let c = node.client(&cache);
    assert!(c.publish_vrt(&cnn).unwrap().created);
    let receipts: Vec<String> = (0..3)
        .map(|i| {
            let x = input.replacen("1.0", &format!("{}.0", i + 2), 1);
            c.infer_verified(&cnn_id, &x, Evidence::Receipt).unwrap().to_json()["receipt_id"].as_str().unwrap().to_string()
        })
        .collect();

    // 1. Killed while the upload's body is still arriving.
    let body = json!({"vrt": base64::engine::general_purpose::STANDARD.encode(&mlp)}).to_string();
    let mut tcp = std::net::TcpStream::connect(node.url.trim_start_matches("http://")).unwrap();
    let head = format!("POST /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
    tcp.write_all(head.as_bytes()).unwrap();
    tcp.write_all(&body.as_bytes()[..body.len() / 2]).unwrap();
    tcp.flush().unwrap();
    node.kill9();
    drop(tcp);

    // 2. Killed after the blob's temp file is durable, before its rename; 3. after the
    // rename, before the redb commit that would make it visible.
    for (point, leftover) in [("publish:blob-tmp-written", "tmp"), ("publish:blob-renamed", "orphan")] {
        let node = NodeProc::start(&data, Some(point));
        let c = node.client(&cache);
        let mlp2 = mlp.clone();
        let upload = std::thread::spawn(move || c.publish_vrt(&mlp2));
        node.wait_paused();
        match leftover {
            "tmp" => assert_eq!(blob_files(&data).1, 1, "the temp file is on disk"),
            _ => assert!(blob_files(&data).0.contains(&mlp_id), "the renamed blob is on disk"),
        }
        node.kill9();
        assert!(upload.join().unwrap().is_err(), "{point}: an interrupted upload is never acknowledged");
    }

    // Restart: partial uploads are gone, acknowledged data is all there, and it serves.
    let node = NodeProc::start(&data, None);
    let c = node.client(&cache);
    assert_eq!(blob_files(&data), (vec![cnn_id.clone()], 0), "only the acknowledged model's blob remains");
    let listed: Vec<String> = c.list_models(None, None).unwrap().models.into_iter().map(|m| m.model_id).collect();
    assert_eq!(listed, std::slice::from_ref(&cnn_id));
    assert!(matches!(c.download_model(&mlp_id), Err(verity_client::Error::Node { status: 404, .. })));
    assert_eq!(c.download_model(&cnn_id).unwrap(), cnn);
    for rid in &receipts {
        c.fetch_receipt_verified(rid).unwrap();
    }
    assert!(c.publish_vrt(&mlp).unwrap().created, "the interrupted model publishes cleanly now");
    c.infer_verified(&mlp_id, &std::fs::read_to_string(fx("mlp_digits.input.json")).unwrap(), Evidence::Receipt).unwrap();
    assert_eq!(c.info().unwrap().receipts, 4);
}

#[test]
fn kill_9_during_inference_keeps_every_acknowledged_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let (data, cache) = (dir.path().join("data"), dir.path().join("cache"));
    let id = pinned_id("cnn_digits");
    let input: Value = json(&std::fs::read_to_string(fx("cnn_digits.input.json")).unwrap());

    let node = NodeProc::start(&data, None);
    node.client(&cache).publish_vrt(&std::fs::read(fx("cnn_digits.vrt")).unwrap()).unwrap();

    // Four clients issue receipts on distinct inputs until the node dies under them.
    let acked = Arc::new(Mutex::new(Vec::<(String, String)>::new())); // (receipt id, input)
    let stop = Arc::new(AtomicBool::new(false));
    let (progress, count) = mpsc::channel::<()>();
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (url, acked, stop, progress, id, input, cache) =
                (node.url.clone(), acked.clone(), stop.clone(), progress.clone(), id.clone(), input.clone(), cache.clone());
            std::thread::spawn(move || {
                let c = Client::new(&url).with_cache_dir(Some(cache));
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let mut x = input.clone();
                    x["input_data"][0][w] = json!(i as f64 / 7.0);
                    let text = x.to_string();
                    match c.infer(&id, &text, Evidence::Receipt) {
                        Ok(r) => {
                            acked.lock().unwrap().push((r.receipt_id.unwrap(), text));
                            let _ = progress.send(());
                        }
                        Err(_) => return, // the node is gone
                    }
                }
            })
        })
        .collect();
    for _ in 0..40 {
        count.recv_timeout(Duration::from_secs(60)).expect("no progress");
    }
    node.kill9();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 40);

    // Every acknowledged receipt survived, with its input, and re-verifies.
    let node = NodeProc::start(&data, None);
    let c = node.client(&cache);
    for (rid, _) in &acked {
        // Checks the id, the signature, and a re-execution of the stored input.
        c.fetch_receipt_verified(rid).unwrap();
    }
    // Equal claims in the same second are the same receipt (signing is deterministic).
    let distinct: std::collections::HashSet<&String> = acked.iter().map(|(rid, _)| rid).collect();
    let stored = c.info().unwrap().receipts;
    assert!(stored >= distinct.len() as u64, "{stored} stored < {} acknowledged", distinct.len());

    // Killed with receipts written into an open transaction: none of it is visible after.
    drop(node);
    let node = NodeProc::start(&data, Some("receipt:before-commit"));
    let c = node.client(&cache);
    let x = input.to_string().replacen("0.0", "8.0", 1);
    let pending = std::thread::spawn(move || c.infer(&pinned_id("cnn_digits"), &x, Evidence::Receipt));
    node.wait_paused();
    node.kill9();
    assert!(pending.join().unwrap().is_err());
    let node = NodeProc::start(&data, None);
    let c = node.client(&cache);
    assert_eq!(c.info().unwrap().receipts, stored, "the uncommitted receipt is not there");
    c.infer_verified(&id, &input.to_string(), Evidence::Receipt).unwrap();
}

/// Bad flags and an unusable data directory: a clear error and exit 1, not a panic.
#[test]
fn node_rejects_bad_flags_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |extra: &[&str]| {
        let mut args = vec!["node", "--data", data.to_str().unwrap()];
        args.extend(extra);
        let out = Command::new(env!("CARGO_BIN_EXE_verity")).args(&args).stdin(Stdio::null()).output().unwrap();
        let mut err = String::new();
        out.stderr.as_slice().read_to_string(&mut err).unwrap();
        (out.status.code(), err)
    };
    let (code, err) = run(&["--listen", "nonsense"]);
    assert_eq!(code, Some(2), "a bad flag value is a usage error");
    assert!(err.contains("is not an address"), "{err}");
    let (code, err) = run(&["--listen", "127.0.0.1:0", "--verify-sample", "2"]);
    assert_eq!(code, Some(2), "a bad flag value is a usage error");
    assert!(err.contains("--verify-sample must be between 0 and 1"), "{err}");
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_verity"))
        .args(["node", "--data", file.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(2 | 3)), "a data directory that is a file: {:?}", out.status);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}
