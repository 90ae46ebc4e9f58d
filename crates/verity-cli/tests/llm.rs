//! `verity chat` and `verity verify MODEL.gguf --receipt R` on a tiny random Llama GGUF.

mod common;

use common::{json, ok, verity, NodeProc};

#[test]
fn chat_receipts_verify_and_tampered_ones_exit_1() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let gguf = dir.join("tiny.gguf");
    std::fs::write(&gguf, verity_llm::testutil::tiny_gguf(5, "llama")).unwrap();
    let g = gguf.to_str().unwrap();
    let r = dir.join("r.json");
    let r = r.to_str().unwrap();

    // A named key that does not exist yet needs --new-key, as for `verity run --receipt`.
    let out = verity(&["chat", g, "--system", "s", "--prompt", "hi", "--max-tokens", "4", "--receipt", r], dir);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--new-key"));
    // A short system message: the tiny model's context is 96 positions.
    let args = ["chat", g, "--system", "s", "--prompt", "hi", "--max-tokens", "4", "--temperature", "0.7", "--seed", "3"];
    let c = json(&ok(&[&args[..], &["--receipt", r, "--new-key", "--json"]].concat(), dir));
    assert!(c["tokens"].as_array().is_some_and(|t| !t.is_empty() && t.len() <= 4), "{c}");
    assert_eq!(c["model_id"].as_str().map(str::len), Some(64), "{c}");

    // The same request again gives the same bits, and the receipt re-derives.
    assert_eq!(json(&ok(&[&args[..], &["--json"]].concat(), dir))["trace_root"], c["trace_root"]);
    let v = json(&ok(&["verify", g, "--receipt", r, "--json"], dir));
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["model_id"], c["model_id"]);

    // A changed seed (the tokens then no longer re-derive) is invalid evidence: exit 1.
    let mut file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(r).unwrap()).unwrap();
    let seed = file["completion"]["params"]["seed"].as_u64().unwrap();
    file["completion"]["params"]["seed"] = (seed + 1).into();
    std::fs::write(r, file.to_string()).unwrap();
    let out = verity(&["verify", g, "--receipt", r, "--json"], dir);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(&String::from_utf8_lossy(&out.stdout))["kind"], "invalid");

    // Not a GGUF: a usage error that names the file's problem.
    let out = verity(&["chat", r, "--prompt", "hi"], dir);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn llm_disputes_convict_cheats_and_acquit_the_honest() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let gguf = dir.join("tiny.gguf");
    std::fs::write(&gguf, verity_llm::testutil::tiny_gguf(5, "llama")).unwrap();
    let g = gguf.to_str().unwrap();
    let base = ["dispute", g, "--system", "s", "--prompt", "hi", "--max-tokens", "4", "--temperature", "0.9", "--seed", "1"];
    for (cheat, winner) in [("none", "executor"), ("token", "challenger"), ("seed", "challenger"), ("truncate", "challenger")] {
        let v = json(&ok(&[&base[..], &["--cheat", cheat, "--json"]].concat(), dir));
        assert_eq!(v["winner"], winner, "{cheat}: {v}");
        assert!(v["rounds"].as_u64().unwrap() > 2 && v["bytes"].as_u64().unwrap() > 0, "{v}");
        assert!(v["at"]["position"].is_u64(), "{cheat} did not end at an element: {v}");
    }
    let out = verity(&[&base[..], &["--cheat", "input"]].concat(), dir);
    assert_eq!(out.status.code(), Some(2), "an ONNX-only cheat for an LLM");
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncate"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = verity(&["dispute", g, "--cheat", "token"], dir);
    assert_eq!(out.status.code(), Some(2), "no --prompt");
}

#[test]
fn a_chat_receipt_fetched_from_a_node_is_checked_and_verifies_offline() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let gguf = dir.join("tiny.gguf");
    std::fs::write(&gguf, verity_llm::testutil::tiny_gguf(5, "llama")).unwrap();
    let g = gguf.to_str().unwrap();
    let node = NodeProc::start_with(&dir.join("data"), None, &["--llm", g]);
    let answer = json(&ok(&["chat", "--node", &node.url, "--system", "s", "--prompt", "hi", "--max-tokens", "4", "--json"], dir));
    let rid = answer["receipt_id"].as_str().unwrap();
    let file = dir.join("fetched.json");
    let f = file.to_str().unwrap();
    let v = json(&ok(&["fetch", rid, "--node", &node.url, "-o", f, "--json"], dir));
    assert_eq!((v["kind"].as_str(), v["checked"].as_str()), (Some("llm-receipt"), Some("receipt-claims")), "{v}");
    assert_eq!((&v["model_id"], &v["trace_root"]), (&answer["model_id"], &answer["trace_root"]), "{v}");
    // The file it wrote is a receipt file that re-derives with the GGUF.
    assert_eq!(json(&ok(&["verify", g, "--receipt", f, "--json"], dir))["valid"], true);
    // Pinning another executor refuses it as invalid evidence.
    let other = format!("0x{}", "11".repeat(20));
    let out = verity(&["fetch", rid, "--node", &node.url, "--executor", &other, "--json"], dir);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
}
