//! The node's surface for applications, over loopback HTTP: model hub metadata, versions
//! and search; listing receipts and proof jobs by model and time; proof events (SSE).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Value;
use verity_client::{Client, Error, ListQuery};
use verity_exec::api::{Evidence, JobState, ProofJob, PublishMeta};
use verity_node::{NodeConfig, RunningNode};

const KEY: &str = "surface-key";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(name)
}

fn start(dir: &Path) -> RunningNode {
    let mut c = NodeConfig::new(dir.join("data"));
    c.api_key = Some(KEY.into());
    verity_node::start(c).unwrap()
}

fn client(node: &RunningNode, dir: &Path) -> Client {
    Client::new(&node.url()).with_api_key(Some(KEY.into())).with_cache_dir(Some(dir.join("cache")))
}

fn meta(name: &str) -> PublishMeta {
    PublishMeta { name: Some(name.into()), ..Default::default() }
}

fn vrt(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("{name}.vrt"))).unwrap()
}

/// The `(name, version)` of every model of a listing, in order.
fn versions(c: &Client, filters: &[(&str, &str)]) -> Vec<(String, u32)> {
    c.search_models(None, None, filters)
        .unwrap()
        .models
        .into_iter()
        .map(|m| m.hub.map_or((String::new(), 0), |h| (h.name, h.version)))
        .collect()
}

fn bad_request(r: Result<verity_exec::api::PublishResponse, Error>, status: u16, needle: &str) {
    match r {
        Err(Error::Node { status: s, message }) => {
            assert_eq!(s, status, "{message}");
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        }
        other => panic!("expected {status} naming {needle:?}, got {:?}", other.map(|r| r.model_id)),
    }
}

#[test]
fn hub_metadata_versions_search_validation_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path());
    let c = client(&node, dir.path());
    let cnn_meta = PublishMeta {
        name: Some("digits".into()),
        description: Some("A small CNN for handwritten digits".into()),
        task: Some("image-classification".into()),
        license: Some("MIT".into()),
        tags: vec!["mnist".into(), "CNN".into(), "cnn".into()],
    };
    let cnn = c.publish_vrt_with(&vrt("cnn_digits"), &cnn_meta).unwrap().model_id;
    let mlp = c.publish_vrt_with(&vrt("mlp_digits"), &meta("digits")).unwrap().model_id;
    c.publish_vrt(&vrt("lenet5")).unwrap();
    let tb = PublishMeta { task: Some("text".into()), ..meta("tblock") };
    c.publish_vrt_with(&vrt("transformer_block"), &tb).unwrap();

    // Versions of a name, each its own model; the metadata in the model's description.
    let mut digits = versions(&c, &[("name", "DIGITS")]);
    digits.sort();
    assert_eq!(digits, [("digits".to_string(), 1), ("digits".to_string(), 2)]);
    let d = c.describe_model(&cnn).unwrap();
    assert_eq!((d["name"].as_str(), d["version"].as_u64(), d["license"].as_str()), (Some("digits"), Some(1), Some("MIT")));
    assert_eq!(d["tags"], serde_json::json!(["mnist", "cnn"]), "tags are lower-cased, duplicates dropped");
    assert_eq!(d["model_id"].as_str(), Some(cnn.as_str()));
    assert_eq!(c.describe_model(&mlp).unwrap()["version"], 2);

    // Search and filters; a model without metadata matches no filter but is listed.
    assert_eq!(versions(&c, &[("q", "handwritten")]), [("digits".to_string(), 1)]);
    assert_eq!(versions(&c, &[("tag", "CNN")]), [("digits".to_string(), 1)]);
    assert_eq!(versions(&c, &[("task", "text")]), [("tblock".to_string(), 1)]);
    assert_eq!(versions(&c, &[("q", "block")]), [("tblock".to_string(), 1)]);
    assert_eq!(versions(&c, &[("q", "digits"), ("task", "image-classification")]), [("digits".to_string(), 1)]);
    assert!(versions(&c, &[("q", "no such text")]).is_empty());
    assert_eq!(c.list_models(None, None).unwrap().models.len(), 4);
    assert!(c.list_models(None, None).unwrap().models.iter().any(|m| m.hub.is_none()));
    // A filtered page holds `limit` matches and says where the next one starts.
    let p1 = c.search_models(None, Some(1), &[("name", "digits")]).unwrap();
    assert_eq!(p1.models.len(), 1);
    let p2 = c.search_models(p1.next_after.as_deref(), Some(1), &[("name", "digits")]).unwrap();
    assert_eq!((p2.models.len(), p2.next_after), (1, None));
    assert_ne!(p1.models[0].model_id, p2.models[0].model_id);

    // Publishing the same model again: fine with the same metadata or none, a 409 with other.
    assert!(!c.publish_vrt_with(&vrt("cnn_digits"), &cnn_meta).unwrap().created);
    assert!(!c.publish_vrt(&vrt("cnn_digits")).unwrap().created);
    bad_request(c.publish_vrt_with(&vrt("cnn_digits"), &meta("other")), 409, "already published as digits version 1");

    // Validation: 400 naming the field.
    let m90 = vrt("mlp_90k");
    bad_request(c.publish_vrt_with(&m90, &meta("two words")), 400, "`name`");
    bad_request(c.publish_vrt_with(&m90, &meta(&"n".repeat(65))), 400, "`name`");
    let tags = PublishMeta { tags: (0..17).map(|i| format!("t{i}")).collect(), ..meta("x") };
    bad_request(c.publish_vrt_with(&m90, &tags), 400, "`tags` has 17 entries");
    let long = PublishMeta { description: Some("d".repeat(2001)), ..meta("x") };
    bad_request(c.publish_vrt_with(&m90, &long), 400, "`description` is 2001 characters");
    let orphan = PublishMeta { task: Some("t".into()), ..Default::default() };
    bad_request(c.publish_vrt_with(&m90, &orphan), 400, "`task` needs `name`");
    let ctl = PublishMeta { license: Some("MIT\u{7}".into()), ..meta("x") };
    bad_request(c.publish_vrt_with(&m90, &ctl), 400, "`license` holds a control character");
    assert_eq!(c.list_models(None, None).unwrap().models.len(), 4, "refused publishes store nothing");

    // After a restart the metadata is there and versions continue.
    node.shutdown().unwrap();
    let node = start(dir.path());
    let c = client(&node, dir.path());
    assert_eq!(c.describe_model(&cnn).unwrap()["name"], "digits");
    let third = c.publish_vrt_with(&m90, &meta("digits")).unwrap().model_id;
    assert_eq!(c.describe_model(&third).unwrap()["version"], 3);
    node.shutdown().unwrap();
}

fn items(v: &Value, key: &str) -> Vec<Value> {
    v[key].as_array().unwrap_or_else(|| panic!("no {key}: {v}")).clone()
}

#[test]
fn receipts_and_proofs_are_listed_by_model_and_time_for_the_key_holder() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path());
    let c = client(&node, dir.path());
    let cnn = c.publish_vrt(&vrt("cnn_digits")).unwrap().model_id;
    let mlp = c.publish_vrt(&vrt("mlp_digits")).unwrap().model_id;
    let input = std::fs::read_to_string(fixture("cnn_digits.input.json")).unwrap();
    let before = verity_exec::unix_now();
    let mut ids = Vec::new();
    for k in 0..3 {
        let doc = input.replacen("0.0", &format!("{k}.0"), 1);
        ids.push(c.infer(&cnn, &doc, Evidence::Receipt).unwrap().receipt_id.unwrap());
    }
    let mlp_input = std::fs::read_to_string(fixture("mlp_digits.input.json")).unwrap();
    c.infer(&mlp, &mlp_input, Evidence::Receipt).unwrap();

    // Without the key: refused (records carry clients' inputs).
    match Client::new(&node.url()).list_receipts(&ListQuery::default()) {
        Err(Error::Node { status: 401, .. }) => {}
        other => panic!("listing without the key: {other:?}"),
    }
    let all = c.list_receipts(&ListQuery::default()).unwrap();
    assert_eq!(items(&all, "receipts").len(), 4);
    assert!(items(&all, "receipts").iter().all(|r| r.get("input").is_none()), "a listing holds no inputs");
    let q = |model: Option<&str>, limit: Option<usize>, after: Option<u64>| ListQuery {
        model: model.map(str::to_string),
        limit,
        after,
        ..Default::default()
    };
    let mine = items(&c.list_receipts(&q(Some(&cnn), None, None)).unwrap(), "receipts");
    let listed: Vec<&str> = mine.iter().map(|r| r["receipt_id"].as_str().unwrap()).collect();
    assert_eq!(listed, ids.iter().map(String::as_str).collect::<Vec<_>>(), "in commit order");
    assert!(mine.iter().all(|r| r["model_id"] == cnn.as_str() && r["issued_at"].as_u64().unwrap() >= before));
    // Pages: 2, then the rest.
    let p1 = c.list_receipts(&q(Some(&cnn), Some(2), None)).unwrap();
    assert_eq!(items(&p1, "receipts").len(), 2);
    let next = p1["next_after"].as_u64().expect("a cursor");
    let p2 = c.list_receipts(&q(Some(&cnn), Some(2), Some(next))).unwrap();
    assert_eq!((items(&p2, "receipts").len(), p2.get("next_after")), (1, None));
    assert_eq!(items(&p2, "receipts")[0]["receipt_id"].as_str(), Some(ids[2].as_str()));
    // Time: nothing issued in the future; since > until is a 400, as is limit=0.
    let future = ListQuery { since: Some(verity_exec::unix_now() + 1000), ..Default::default() };
    assert!(items(&c.list_receipts(&future).unwrap(), "receipts").is_empty());
    let past = ListQuery { until: Some(before.saturating_sub(1000)), ..Default::default() };
    assert!(items(&c.list_receipts(&past).unwrap(), "receipts").is_empty());
    let inverted = ListQuery { since: Some(10), until: Some(5), ..Default::default() };
    assert!(matches!(c.list_receipts(&inverted), Err(Error::Node { status: 400, message }) if message.contains("`since`")));
    assert!(matches!(c.list_receipts(&q(None, Some(0), None)), Err(Error::Node { status: 400, .. })));

    // Proof jobs, by model.
    let job = c.infer(&cnn, &input, Evidence::Zk).unwrap().proof_job.unwrap();
    c.wait_for_proof(&job, &mut |_| {}).unwrap();
    let proofs = items(&c.list_proofs(&q(Some(&cnn), None, None)).unwrap(), "proofs");
    assert_eq!(proofs.len(), 1);
    assert_eq!((proofs[0]["job_id"].as_str(), proofs[0]["state"].as_str()), (Some(job.as_str()), Some("done")));
    assert!(proofs[0]["seq"].as_u64().is_some());
    assert!(items(&c.list_proofs(&q(Some(&mlp), None, None)).unwrap(), "proofs").is_empty());
    node.shutdown().unwrap();
}

/// Every `(event, data)` of an event stream, read to its end.
fn events(url: &str) -> (u16, Vec<(String, String)>) {
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let resp = agent.get(url).call().unwrap();
    let status = resp.status().as_u16();
    if status != 200 {
        return (status, Vec::new());
    }
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut out = Vec::new();
    let mut name = String::new();
    for line in BufReader::new(resp.into_body().into_reader()).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("event:") {
            name = n.trim().to_string();
        } else if let Some(d) = line.strip_prefix("data:") {
            out.push((name.clone(), d.trim().to_string()));
        }
    }
    (status, out)
}

#[test]
fn proof_events_push_every_state_and_end_with_done() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path());
    let c = client(&node, dir.path());
    let cnn = c.publish_vrt(&vrt("cnn_digits")).unwrap().model_id;
    let input = std::fs::read_to_string(fixture("cnn_digits.input.json")).unwrap();
    let job = c.infer(&cnn, &input, Evidence::Zk).unwrap().proof_job.unwrap();
    let (status, evs) = events(&format!("{}/v1/proofs/{job}/events", node.url()));
    assert_eq!(status, 200);
    let jobs: Vec<ProofJob> = evs.iter().map(|(_, d)| serde_json::from_str(d).unwrap()).collect();
    // Named by state; the stream ends right after the final event.
    for ((name, _), j) in evs.iter().zip(&jobs) {
        assert_eq!(name, j.state.as_str());
        assert_eq!(j.job_id, job);
    }
    let last = jobs.last().expect("at least the final event");
    assert_eq!(last.state, JobState::Done);
    assert!(last.proof_id.is_some());
    assert_eq!(jobs.iter().filter(|j| j.state == JobState::Done).count(), 1);
    // Consecutive events differ (one per change).
    assert!(evs.windows(2).all(|w| w[0].1 != w[1].1));
    // A finished job: its final state at once, then the end.
    let (_, again) = events(&format!("{}/v1/proofs/{job}/events", node.url()));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].0, "done");
    // Unknown and malformed ids.
    assert_eq!(events(&format!("{}/v1/proofs/{}/events", node.url(), "ab".repeat(32))).0, 404);
    assert_eq!(events(&format!("{}/v1/proofs/nope/events", node.url())).0, 400);
    // The client follows the stream: it sees the final state with the proof id.
    let other = input.replacen("0.0", "3.0", 1);
    let job2 = c.infer(&cnn, &other, Evidence::Zk).unwrap().proof_job.unwrap();
    let mut seen = Vec::new();
    let done = c.wait_for_proof(&job2, &mut |j| seen.push(j.state)).unwrap();
    assert_eq!((done.state, seen.last()), (JobState::Done, Some(&JobState::Done)));
    node.shutdown().unwrap();
}
