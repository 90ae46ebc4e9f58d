//! The `verity` binary end to end: the documented command forms, pinned ids, exactness
//! across thread counts, receipts, disputes, and clear failures on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn fx(name: &str) -> String {
    fixtures().join(name).display().to_string()
}

fn verity(args: &[&str], key: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_verity")).args(args).env("VERITY_KEY", key).output().unwrap()
}

fn ok(args: &[&str], key: &Path) -> String {
    let out = verity(args, key);
    assert!(out.status.success(), "verity {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail with exit code 1 and a message containing `needle`.
fn fails(args: &[&str], key: &Path, needle: &str) {
    let out = verity(args, key);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(1..=3)), "verity {args:?} should fail with exit 1, 2 or 3; stderr: {err}");
    assert!(err.contains(needle), "verity {args:?}: stderr {err:?} lacks {needle:?}");
    assert!(!err.contains("panicked"), "verity {args:?} panicked: {err}");
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

#[test]
fn import_gives_the_pinned_model_ids() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    let pinned = json(&std::fs::read_to_string(fixtures().join("model_ids.json")).unwrap());
    for (name, id) in pinned.as_object().unwrap() {
        let out = dir.path().join(format!("{name}.vrt"));
        let printed = ok(
            &[
                "import",
                &fx(&format!("{name}.onnx")),
                "--calibration",
                &fx(&format!("{name}.calibration.json")),
                "-o",
                out.to_str().unwrap(),
            ],
            &key,
        );
        assert_eq!(printed.trim(), id.as_str().unwrap(), "{name}: model id changed");
        let inspected = json(&ok(&["inspect", out.to_str().unwrap(), "--json"], &key));
        assert_eq!(inspected["model_id"], *id);
    }
}

#[test]
fn run_is_exact_and_pinned_across_threads_and_the_reference() {
    let key = tempfile::tempdir().unwrap().path().join("key");
    let pins = [
        ("mlp_digits", "818e5b6bf8f76a21053781f4e786150e36b051a27851c4650902918abcfeec8e"),
        ("cnn_digits", "2a1aed27ff9fc13467b14669fbd93653837ff4a8c73e799deb03f224e6496f44"),
        ("transformer_block", "690c50c9244a36908d58ab484ac23513b133e63fec01a0e3da19fce9fa6ebc2b"),
    ];
    for (name, hash) in pins {
        let (m, i) = (fx(&format!("{name}.vrt")), fx(&format!("{name}.input.json")));
        let runs: Vec<String> = [vec!["--reference"], vec!["--threads", "1"], vec!["--threads", "2"], vec!["--threads", "3"]]
            .iter()
            .map(|extra| {
                let mut args = vec!["run", m.as_str(), "--input", i.as_str(), "--json"];
                args.extend(extra);
                ok(&args, &key)
            })
            .collect();
        assert!(runs.windows(2).all(|w| w[0] == w[1]), "{name}: runs differ");
        let v = json(&runs[0]);
        assert_eq!(v["output_hash"], hash, "{name}: output changed");
        assert!(v["outputs"][0]["values"].as_array().unwrap().len() > 1);
        assert_eq!(v["model_id"].as_str().unwrap().len(), 64);
    }
    // The named input form gives the same answer as the EZKL form.
    let dir = tempfile::tempdir().unwrap();
    let ezkl = json(&std::fs::read_to_string(fixtures().join("cnn_digits.input.json")).unwrap());
    let named = dir.path().join("named.json");
    std::fs::write(&named, serde_json::json!({"input": ezkl["input_data"][0]}).to_string()).unwrap();
    let a = json(&ok(&["run", &fx("cnn_digits.vrt"), "--input", named.to_str().unwrap(), "--json"], &key));
    assert_eq!(a["output_hash"], pins[1].1);
}

#[test]
fn receipts_verify_and_tampering_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("keys/executor.key");
    let r = dir.path().join("r.json");
    let (m, i) = (fx("cnn_digits.vrt"), fx("cnn_digits.input.json"));
    // A named key ($VERITY_KEY here) that does not exist is created only on request.
    fails(&["run", &m, "--input", &i, "--receipt", r.to_str().unwrap()], &key, "--new-key");
    assert!(!key.exists() && !r.exists());
    ok(&["run", &m, "--input", &i, "--receipt", r.to_str().unwrap(), "--new-key"], &key);
    assert!(key.exists(), "a key is created with --new-key");
    ok(&["verify", "--receipt", r.to_str().unwrap(), "--model", &m, "--input", &i], &key);

    let receipt = json(&std::fs::read_to_string(&r).unwrap());
    let write = |name: &str, v: &Value| {
        let p = dir.path().join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p.display().to_string()
    };
    // Another input: the receipt is replayed for an input it was not made for.
    let mut x = json(&std::fs::read_to_string(&i).unwrap());
    x["input_data"][0][10] = serde_json::json!(x["input_data"][0][10].as_f64().unwrap() + 4.0);
    let other = write("other-input.json", &x);
    fails(&["verify", "--receipt", r.to_str().unwrap(), "--model", &m, "--input", &other], &key, "input_hash");
    // Another model.
    fails(&["verify", "--receipt", r.to_str().unwrap(), "--model", &fx("mlp_digits.vrt"), "--input", &i], &key, "model_id");
    // Any signed field changed: the signature no longer matches.
    for field in ["output_hash", "trace_root", "timestamp", "executor"] {
        let mut t = receipt.clone();
        t[field] = match field {
            "timestamp" => serde_json::json!(t[field].as_u64().unwrap() + 1),
            "executor" => serde_json::json!("0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"),
            _ => serde_json::json!(format!("0x{}", "ab".repeat(32))),
        };
        let p = write(&format!("tampered-{field}.json"), &t);
        fails(&["verify", "--receipt", &p, "--model", &m, "--input", &i], &key, "signature");
    }
    fails(
        &["verify", "--receipt", &write("garbage.json", &serde_json::json!({"x": 1})), "--model", &m, "--input", &i],
        &key,
        "bad receipt",
    );
}

#[test]
fn proofs_verify_and_bad_proofs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    let p = dir.path().join("p.vrtz");
    let ps = p.to_str().unwrap();
    let (m, i) = (fx("cnn_digits.vrt"), fx("cnn_digits.input.json"));
    let proved = json(&ok(&["prove", &m, "--input", &i, "-o", ps, "--json"], &key));
    let ran = json(&ok(&["run", &m, "--input", &i, "--json"], &key));
    assert_eq!(proved["outputs"], ran["outputs"], "the proof states the engine's output");
    let checked = json(&ok(&["verify", "--proof", ps, "--model", &m, "--json"], &key));
    assert_eq!(checked["valid"], true);
    assert_eq!(checked["outputs"], ran["outputs"]);
    assert!(ok(&["verify", "--proof", ps, "--model", &m], &key).contains("proof OK"));

    fails(&["verify", "--proof", ps, "--model", &fx("mlp_digits.vrt")], &key, "the proof is for model");
    let usage = verity(&["verify", "--model", &m], &key);
    assert!(!usage.status.success() && String::from_utf8_lossy(&usage.stderr).contains("--proof"));
    let bytes = std::fs::read(&p).unwrap();
    let write = |name: &str, b: &[u8]| {
        let q = dir.path().join(name);
        std::fs::write(&q, b).unwrap();
        q.display().to_string()
    };
    fails(&["verify", "--proof", &write("cut.vrtz", &bytes[..bytes.len() / 3]), "--model", &m], &key, "INVALID");
    fails(&["verify", "--proof", &write("head.vrtz", &bytes[..20]), "--model", &m], &key, "truncated");
    fails(&["verify", "--proof", &write("junk.vrtz", b"not a proof at all"), "--model", &m], &key, "bad magic");
    let mut flipped = bytes.clone();
    let at = bytes.len() - 5000;
    flipped[at] ^= 4;
    fails(&["verify", "--proof", &write("flip.vrtz", &flipped), "--model", &m], &key, "INVALID");
    // Proving an input of the wrong length fails before anything is written.
    let bad = write("short.json", br#"{"input_data": [[1, 2, 3]]}"#);
    let q = dir.path().join("never.vrtz");
    fails(&["prove", &m, "--input", &bad, "-o", q.to_str().unwrap()], &key, "bad input");
    assert!(!q.exists());
}

#[test]
fn disputes_catch_every_cheat() {
    let key = tempfile::tempdir().unwrap().path().join("key");
    let (m, i) = (fx("transformer_block.vrt"), fx("transformer_block.input.json"));
    let pinned = json(&std::fs::read_to_string(fixtures().join("model_ids.json")).unwrap());
    for cheat in ["none", "output", "weight", "input", "skip-layer", "duplicate-layer", "precision", "bitflip"] {
        let v = json(&ok(&["dispute", &m, "--input", &i, "--cheat", cheat, "--json"], &key));
        let want = if cheat == "none" { "executor" } else { "challenger" };
        assert_eq!(v["winner"], want, "{cheat}: {}", v["reason"]);
        // The game is over the executor's receipt, which names the published model.
        assert_eq!(v["model_id"], pinned["transformer_block"], "{cheat}");
        assert!(v["executor"].as_str().unwrap().starts_with("0x"));
        assert!(v["rounds"].as_u64().unwrap() < 40 && v["bytes"].as_u64().unwrap() > 0);
    }
    fails(&["dispute", &m, "--input", &i, "--cheat", "sneaky"], &key, "unknown cheat");
}

#[test]
fn bad_input_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    let out = dir.path().join("out.vrt");
    let o = out.to_str().unwrap();
    let cal = fx("mlp_digits.calibration.json");
    fails(&["import", &fx("bad/truncated.onnx"), "--calibration", &cal, "-o", o], &key, "not a valid ONNX model");
    fails(&["import", &fx("bad/garbage.onnx"), "--calibration", &cal, "-o", o], &key, "not a valid ONNX model");
    fails(
        &["import", &fx("bad/unsupported_op.onnx"), "--calibration", &cal, "-o", o],
        &key,
        "unsupported ONNX op 'Det' (node 'my_det')",
    );
    fails(&["import", &fx("mlp_digits.onnx"), "--calibration", &fx("mlp_cancer.input.json"), "-o", o], &key, "not a multiple");
    fails(&["import", &fx("mlp_digits.onnx"), "--calibration", &cal, "-o", o, "--bits", "12"], &key, "8 or 16");
    assert!(!out.exists(), "failed imports leave no file");
    // The fixtures hold one list per sample, so LeNet-5's samples are refused for a model
    // whose input has 64 values...
    let lenet = fx("lenet5.calibration.json");
    fails(&["import", &fx("mlp_digits.onnx"), "--calibration", &lenet, "-o", o], &key, "sample 0 has 784 values");
    // ...while the same values in one flat list (EZKL's form) also split into 392 samples of
    // 64: they are read, and the user is told that nothing could check them.
    let text = std::fs::read_to_string(&lenet).unwrap();
    let flat: Vec<&str> = text.split(['[', ']', ',']).filter(|t| t.trim().parse::<f64>().is_ok()).collect();
    let flat_file = dir.path().join("flat.json");
    std::fs::write(&flat_file, format!("{{\"input_data\": [[{}]]}}", flat.join(","))).unwrap();
    let v = json(&ok(&["import", &fx("mlp_digits.onnx"), "--calibration", flat_file.to_str().unwrap(), "-o", o, "--json"], &key));
    assert_eq!(v["samples"], 392);
    let warning = v["warnings"][0].as_str().unwrap();
    assert!(warning.contains("392 samples") && warning.contains("cannot be checked"), "{warning}");
    let own = json(&ok(&["import", &fx("mlp_digits.onnx"), "--calibration", &cal, "-o", o, "--json"], &key));
    assert_eq!(own["warnings"], serde_json::json!([]), "{own}");
    std::fs::remove_file(&out).unwrap();

    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let m = fx("cnn_digits.vrt");
    fails(
        &["run", &m, "--input", &write("short.json", r#"{"input_data": [[1, 2, 3]]}"#)],
        &key,
        "has 3 values, the model expects 64",
    );
    let nan = format!("{{\"input_data\": [[NaN{}]]}}", ", 1".repeat(63));
    fails(&["run", &m, "--input", &write("nan.json", &nan)], &key, "NaN");
    fails(&["run", &m, "--input", &write("null.json", r#"{"input": [null]}"#)], &key, "null");
    fails(&["run", &m, "--input", &write("named.json", r#"{"pixels": [1]}"#)], &key, "no entry named \"input\"");
    fails(&["run", &m, "--input", &fx("missing.json")], &key, "cannot read input");

    let bytes = std::fs::read(fixtures().join("cnn_digits.vrt")).unwrap();
    let cnn_input = fx("cnn_digits.input.json");
    for (name, b, needle) in [
        ("truncated.vrt", bytes[..bytes.len() / 2].to_vec(), "truncated or corrupted"),
        ("magic.vrt", [b"XXXX".as_slice(), &bytes[4..]].concat(), "bad magic"),
        ("version.vrt", [&bytes[..4], &[9u8, 0][..], &bytes[6..]].concat(), "unsupported model format version 9"),
        ("trailing.vrt", [bytes.as_slice(), &[0]].concat(), "trailing"),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, &b).unwrap();
        fails(&["run", p.to_str().unwrap(), "--input", &cnn_input], &key, needle);
    }
}
