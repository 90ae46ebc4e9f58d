//! Evidence `zk` against a real `verity node` process: `verity infer --evidence zk` waits
//! for the proof and verifies it, `verity fetch` gets proofs by id, and proof jobs survive
//! SIGKILL at every step — acknowledged jobs are never lost, a half-written proof is never
//! visible, and the queue resumes by itself after a restart.

mod common;

use std::path::Path;

use common::*;
use serde_json::{json, Value};
use verity_client::Error;
use verity_exec::api::{Evidence, JobState};

fn proof_files(data: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(data.join("blobs/proofs")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

/// The CNN input with pixel `k` changed: a distinct statement, so a distinct proof job.
fn cnn_variant(k: usize) -> String {
    let mut x: Value = json(&std::fs::read_to_string(fx("cnn_digits.input.json")).unwrap());
    x["input_data"][0][k] = json!(x["input_data"][0][k].as_f64().unwrap() + 1.0);
    x.to_string()
}

#[test]
fn infer_with_zk_waits_verifies_and_fetch_gets_proofs_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let node = NodeProc::start(&home.join("data"), None);
    let url = node.url.clone();
    let (input, cnn_vrt) = (fx("cnn_digits.input.json"), fx("cnn_digits.vrt"));
    let id = ok(&["publish", "--node", &url, &cnn_vrt], home).trim().to_string();
    let local = json(&ok(&["run", &cnn_vrt, "--input", &input, "--json"], home));

    let p = home.join("p.vrtz");
    let out = verity(
        &["infer", "--node", &url, &id, "--input", &input, "--evidence", "zk", "--json", "--proof", p.to_str().unwrap()],
        home,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // Progress on stderr (one line per state when stderr is not a terminal).
    assert!(err.contains("proof job ") && err.contains(": done: proof "), "{err}");
    let v = json(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(v["evidence"], "zk");
    for k in ["model_id", "input_hash", "output_hash", "outputs"] {
        assert_eq!(v[k], local[k], "{k}");
    }
    let bytes = std::fs::read(&p).unwrap();
    assert_eq!(
        (v["proof_bytes"].as_u64(), v["proof_id"].as_str()),
        (Some(bytes.len() as u64), Some(blake3::hash(&bytes).to_hex().as_str()))
    );
    // The proof file the client wrote is what `verity verify --proof` checks offline.
    assert!(ok(&["verify", "--proof", p.to_str().unwrap(), "--model", &cnn_vrt], home).contains("proof OK"));

    let human = ok(&["infer", "--node", &url, &id, "--input", &input, "--evidence", "zk"], home);
    assert!(human.contains("argmax") && human.contains("verified") && human.contains("proof "), "{human}");

    // Fetch by job id (written with -o) and by proof id (a summary of what it proves).
    let (job, proof_id) = (v["proof_job"].as_str().unwrap(), v["proof_id"].as_str().unwrap());
    let p2 = home.join("p2.vrtz");
    ok(&["fetch", "--node", &url, job, "-o", p2.to_str().unwrap()], home);
    assert_eq!(std::fs::read(&p2).unwrap(), bytes);
    let summary = json(&ok(&["fetch", "--node", &url, proof_id], home));
    assert_eq!((summary["proof_job"].as_str(), summary["model_id"].as_str()), (Some(job), Some(id.as_str())));
    for k in ["input_hash", "output_hash", "outputs"] {
        assert_eq!(summary[k], local[k], "{k}");
    }
    fails(&["fetch", "--node", &url, job, "--input-out", "x.json"], home, "--input-out is for receipts");
    fails(
        &["infer", "--node", &url, &id, "--input", &input, "--evidence", "receipt", "--proof", "p.vrtz"],
        home,
        "--proof needs",
    );
}

#[test]
fn kill_9_during_proof_jobs_loses_nothing_acknowledged_and_resumes_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let (data, cache) = (dir.path().join("data"), dir.path().join("cache"));
    let id = pinned_id("cnn_digits");
    let cnn = std::fs::read(fx("cnn_digits.vrt")).unwrap();
    // Two compute slots: one for the prover, one for inference, whatever the machine.
    let start = |pause: Option<&str>| NodeProc::start_with(&data, pause, &["--max-concurrency", "2"]);

    // 1. Three jobs acknowledged; killed while proving the first.
    let node = start(Some("proof:proving"));
    let c = node.client(&cache);
    c.publish_vrt(&cnn).unwrap();
    let jobs: Vec<String> = (0..3).map(|k| c.infer(&id, &cnn_variant(k), Evidence::Zk).unwrap().proof_job.unwrap()).collect();
    node.wait_paused();
    let states: Vec<JobState> = jobs.iter().map(|j| c.proof_job(j).unwrap().state).collect();
    assert_eq!(states, [JobState::Running, JobState::Queued, JobState::Queued]);
    node.kill9();

    // 2. After a restart the interrupted job is proved again, unasked; killed once more with
    // its proof file durable in blobs/tmp, not yet renamed: nothing of it is visible.
    let node = start(Some("proof:blob-tmp-written"));
    node.wait_paused();
    assert_eq!(blob_files(&data).1, 1, "the proof's temp file is on disk");
    let c = node.client(&cache);
    let j0 = c.proof_job(&jobs[0]).unwrap();
    assert_eq!((j0.state, j0.attempts), (JobState::Running, 2));
    assert!(matches!(c.proof_file(&jobs[0]), Err(Error::Node { status: 409, .. })));
    node.kill9();

    // 3. Restarted without a pause: the whole queue is proved, in order, with no request.
    let node = start(None);
    let c = node.client(&cache);
    for (k, j) in jobs.iter().enumerate() {
        let done = c.wait_for_proof(j, &mut |_| {}).unwrap();
        assert_eq!(done.attempts, if k == 0 { 3 } else { 1 }, "job {k}");
        let (_, p) = c.fetch_proof_verified(j, &mut |_| {}).unwrap();
        let inputs = verity_exec::parse_input(&verity_model::Model::decode(&cnn).unwrap(), &cnn_variant(k)).unwrap();
        assert_eq!(p.file.inputs, inputs, "job {k} proves its own input");
    }
    assert_eq!(blob_files(&data).1, 0, "the interrupted temp file was removed");
    assert_eq!(proof_files(&data).len(), 3);
    drop(node);

    // 4. Killed after the proof file is renamed into place, before the commit that would
    // make the job done: at the next start the file is an orphan and is deleted before the
    // job is proved again.
    let node = start(Some("proof:blob-renamed"));
    let c = node.client(&cache);
    let fourth = c.infer(&id, &cnn_variant(3), Evidence::Zk).unwrap().proof_job.unwrap();
    node.wait_paused();
    assert_eq!(proof_files(&data).len(), 4, "the renamed file is on disk");
    assert_eq!(c.proof_job(&fourth).unwrap().state, JobState::Running);
    assert!(matches!(c.proof_file(&fourth), Err(Error::Node { status: 409, .. })));
    node.kill9();
    let node = start(Some("proof:proving"));
    node.wait_paused();
    assert_eq!(proof_files(&data).len(), 3, "the unreferenced proof file is gone");
    node.kill9();
    let node = start(None);
    let c = node.client(&cache);
    assert_eq!(c.wait_for_proof(&fourth, &mut |_| {}).unwrap().attempts, 3);
    c.fetch_proof_verified(&fourth, &mut |_| {}).unwrap();
    drop(node);

    // 5. Killed with a new job written into an uncommitted transaction: the request was
    // never acknowledged, and after a restart the job does not exist.
    let node = start(Some("proof-job:before-commit"));
    let c = node.client(&cache);
    let x = cnn_variant(4);
    let x2 = x.clone();
    let id2 = id.clone();
    let pending = std::thread::spawn(move || c.infer(&id2, &x2, Evidence::Zk));
    node.wait_paused();
    node.kill9();
    assert!(pending.join().unwrap().is_err());
    let node = start(None);
    let c = node.client(&cache);
    let model = verity_model::Model::decode(&cnn).unwrap();
    let input_hash = verity_exec::list_root(&model, &model.inputs, &verity_exec::parse_input(&model, &x).unwrap());
    let fifth = verity_commit::hash::hex(&verity_node::proof_job_id(&model.id_bytes(), &input_hash));
    assert!(matches!(c.proof_job(&fifth), Err(Error::Node { status: 404, .. })), "the unacknowledged job is absent");
    let info = c.info().unwrap();
    assert_eq!((info.proofs, info.proof_jobs_pending), (4, 0));
    assert_eq!(proof_files(&data).len(), 4);
    // And the node serves: the same request now is accepted and proved.
    let v = c.infer_verified(&id, &x, Evidence::Zk).unwrap();
    assert_eq!(v.proof.unwrap().job.job_id, fifth);
}

/// `verity infer` for `args`, expecting exit `code` and `needle` on stderr.
fn exits(args: &[&str], home: &Path, code: i32, needle: &str) {
    let out = verity(args, home);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "verity {args:?}: {err}");
    assert!(err.contains(needle), "verity {args:?}: stderr {err:?} lacks {needle:?}");
}

#[test]
fn light_infer_hub_publish_and_listings_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let node = NodeProc::start(&home.join("data"), None);
    let url = node.url.clone();
    let (input, cnn_vrt, mlp_vrt) = (fx("cnn_digits.input.json"), fx("cnn_digits.vrt"), fx("mlp_digits.vrt"));
    let p = json(&ok(
        &["publish", "--node", &url, &cnn_vrt, "--name", "digits", "--tag", "cnn", "--task", "image-classification", "--json"],
        home,
    ));
    let id = p["model_id"].as_str().unwrap().to_string();
    assert_eq!((p["name"].as_str(), p["version"].as_u64()), (Some("digits"), Some(1)));
    let p2 = json(&ok(&["publish", "--node", &url, &mlp_vrt, "--name", "digits", "--json"], home));
    assert_eq!(p2["version"], 2);
    exits(&["publish", "--node", &url, &fx("lenet5.vrt"), "--tag", "x"], home, 2, "`tags` needs `name`");

    let (cnn_vk, mlp_vk) = (home.join("cnn.vk"), home.join("mlp.vk"));
    let k = json(&ok(&["keygen", &cnn_vrt, "-o", cnn_vk.to_str().unwrap(), "--json"], home));
    ok(&["keygen", &mlp_vrt, "-o", mlp_vk.to_str().unwrap()], home);
    let local = json(&ok(&["run", &cnn_vrt, "--input", &input, "--json"], home));

    // With the key file: verified by the proof alone, the same answer as a local run.
    let v = json(&ok(
        &["infer", "--node", &url, &id, "--input", &input, "--evidence", "zk", "--vk", cnn_vk.to_str().unwrap(), "--json"],
        home,
    ));
    assert_eq!((v["verified_by"].as_str(), v["vk_id"].as_str()), (Some("proof"), k["vk_id"].as_str()));
    for f in ["model_id", "input_hash", "output_hash", "outputs"] {
        assert_eq!(v[f], local[f], "{f}");
    }
    let human =
        ok(&["infer", "--node", &url, &id, "--input", &input, "--evidence", "zk", "--vk-id", k["vk_id"].as_str().unwrap()], home);
    assert!(human.contains("not re-executed") && human.contains("pinned"), "{human}");
    // Another model's key, a pin of another key: invalid evidence, exit 1.
    exits(
        &["infer", "--node", &url, &id, "--input", &input, "--evidence", "zk", "--vk", mlp_vk.to_str().unwrap()],
        home,
        1,
        "is for model",
    );
    let other_pin = "ab".repeat(32);
    exits(
        &["infer", "--node", &url, &id, "--input", &input, "--evidence", "zk", "--vk-id", &other_pin],
        home,
        1,
        "not the pinned",
    );
    exits(&["infer", "--node", &url, &id, "--input", &input, "--vk", cnn_vk.to_str().unwrap()], home, 2, "go with --evidence zk");
    // --reexecute: the re-executing path (trace root included).
    let re = json(&ok(&["infer", "--node", &url, &id, "--input", &input, "--evidence", "zk", "--reexecute", "--json"], home));
    assert_eq!(re["trace_root"], local["trace_root"]);

    // Listings (the API key comes from VERITY_API_KEY).
    ok(&["infer", "--node", &url, &id, "--input", &input, "--evidence", "receipt"], home);
    let r = json(&ok(&["list", "receipts", "--node", &url, "--model", &id, "--json"], home));
    assert_eq!(r["receipts"].as_array().unwrap().len(), 1);
    let pr = json(&ok(&["list", "proofs", "--node", &url, "--model", &id, "--json"], home));
    assert_eq!(pr["proofs"][0]["state"], "done");
    exits(&["list", "models", "--node", &url], home, 2, "`receipts` or `proofs`");
}
