//! Every op-zoo model (fixtures/ops), recurrent-zoo model (fixtures/rec) and ML-zoo
//! model (fixtures/ml) through the whole pipeline: `verity import` at the width the zoo
//! holds it to, `verity prove` and `verity verify --proof`, and disputes in which a
//! cheating executor loses to the challenger (and an honest one wins).
//!
//! `cargo test -p verity-cli --test op_zoo -- --nocapture` prints proving times and sizes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn ops() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/ops")
}

fn verity(args: &[&str], key: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_verity")).args(args).env("VERITY_KEY", key).output().unwrap()
}

fn ok_json(args: &[&str], key: &Path) -> Value {
    let out = verity(args, key);
    assert!(out.status.success(), "verity {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn zoo_names(zoo: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(zoo)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok()?.strip_suffix(".onnx").map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Imports zoo model `name` at its width, runs, proves and verifies it (and refuses a
/// flipped proof), and plays every cheat's dispute; returns (games decided, cheats that
/// change nothing on this model).
fn prove_and_dispute(zoo: &Path, name: &str, tmp: &Path, key: &Path) -> (usize, usize) {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(zoo.join(format!("{name}.json"))).unwrap()).unwrap();
    let path = |ext: &str| tmp.join(format!("{name}.{ext}")).display().to_string();
    let (cal, input, model, proof) = (path("cal.json"), path("in.json"), path("vrt"), path("vrtz"));
    std::fs::write(&cal, doc["calibration"].to_string()).unwrap();
    // A model with several inputs ("input_names") has one list per input in each sample.
    let first = &doc["inputs"][0];
    let data = if doc.get("input_names").is_some() { first.clone() } else { serde_json::json!([first]) };
    std::fs::write(&input, serde_json::json!({ "input_data": data }).to_string()).unwrap();
    let onnx = zoo.join(format!("{name}.onnx")).display().to_string();
    let bits = doc["bits"].to_string();
    let out = verity(&["import", &onnx, "--calibration", &cal, "-o", &model, "--bits", &bits], key);
    assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));

    let ran = ok_json(&["run", &model, "--input", &input, "--json"], key);
    let proved = ok_json(&["prove", &model, "--input", &input, "-o", &proof, "--json"], key);
    assert_eq!(proved["outputs"], ran["outputs"], "{name}: the proof states the engine's output");
    let checked = ok_json(&["verify", "--proof", &proof, "--model", &model, "--json"], key);
    assert_eq!(checked["valid"], true, "{name}");
    assert_eq!(checked["outputs"], ran["outputs"], "{name}");
    eprintln!(
        "| {name} | {bits} | prove {:.1} ms | verify {:.1} ms | {} proof bytes |",
        proved["prove_ms"].as_f64().unwrap(),
        checked["verify_ms"].as_f64().unwrap(),
        proved["proof_bytes"]
    );
    // One flipped bit in the proof is refused.
    let mut bytes = std::fs::read(&proof).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&proof, &bytes).unwrap();
    assert!(!verity(&["verify", "--proof", &proof, "--model", &model], key).status.success(), "{name}: flipped proof");

    let (mut games, mut not_applicable) = (0, 0);
    for cheat in ["none", "output", "input", "bitflip", "precision"] {
        let out = verity(&["dispute", &model, "--input", &input, "--cheat", cheat, "--json"], key);
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && err.contains("changes nothing on this model") {
            not_applicable += 1;
            continue;
        }
        assert!(out.status.success(), "{name} {cheat}: {err}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let want = if cheat == "none" { "executor" } else { "challenger" };
        assert_eq!(v["winner"], want, "{name} {cheat}: {}", v["reason"]);
        games += 1;
    }
    (games, not_applicable)
}

#[test]
fn every_zoo_model_proves_and_wins_disputes() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    let names = zoo_names(&ops());
    assert!(names.len() >= 30);
    let (mut games, mut not_applicable) = (0, 0);
    for name in &names {
        let (g, n) = prove_and_dispute(&ops(), name, dir.path(), &key);
        games += g;
        not_applicable += n;
    }
    eprintln!("{} zoo models proved and verified; {games} disputes decided, {not_applicable} cheats not applicable", names.len());
    assert!(games >= 3 * names.len(), "too few cheats applied: {games}");
}

/// The other zoos: recurrent models (fixtures/rec; the unrolled steps are ordinary nodes,
/// so proofs cover them and disputes bisect them) and scikit-learn models (fixtures/ml).
fn zoo_proves_and_wins_disputes(sub: &str, min: usize) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    let zoo = ops().join(format!("../{sub}"));
    let names = zoo_names(&zoo);
    assert!(names.len() >= min, "{sub}: {names:?}");
    let (mut games, mut not_applicable) = (0, 0);
    for name in &names {
        let (g, n) = prove_and_dispute(&zoo, name, dir.path(), &key);
        games += g;
        not_applicable += n;
    }
    eprintln!(
        "{} {sub} models proved and verified; {games} disputes decided, {not_applicable} cheats not applicable",
        names.len()
    );
    assert!(games >= 3 * names.len(), "too few cheats applied: {games}");
}

#[test]
fn every_recurrent_model_proves_and_wins_disputes() {
    zoo_proves_and_wins_disputes("rec", 20);
}

#[test]
fn every_ml_model_proves_and_wins_disputes() {
    zoo_proves_and_wins_disputes("ml", 5);
}

#[test]
fn every_hummingbird_model_proves_and_wins_disputes() {
    zoo_proves_and_wins_disputes("hb", 5);
}

fn fails(args: &[&str], key: &Path, needles: &[&str]) {
    let out = verity(args, key);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(1..=3)), "verity {args:?} should fail with exit 1, 2 or 3; stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "verity {args:?}: stderr {err:?} lacks {n:?}");
    }
}

#[test]
fn import_fixes_symbolic_dimensions_with_shape_and_lists_unsupported_ops() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    let out = dir.path().join("m.vrt");
    let o = out.to_str().unwrap();
    let sym = ops().join("bad/symbolic_batch.onnx").display().to_string();
    // Two samples of [2, 2, 4, 4]: the batch is 2 once --shape says so.
    let cal = dir.path().join("cal.json");
    std::fs::write(&cal, serde_json::json!({ "input": vec![0.5; 128] }).to_string()).unwrap();
    let c = cal.to_str().unwrap();
    fails(&["import", &sym, "--calibration", c, "-o", o], &key, &["'input'", "symbolic dimension 0 ('batch')", "--shape"]);
    assert!(!out.exists());
    let id = verity(&["import", &sym, "--calibration", c, "-o", o, "--shape", "input=2x2x4x4"], &key);
    assert!(id.status.success(), "{}", String::from_utf8_lossy(&id.stderr));
    let inspected = ok_json(&["inspect", o, "--json"], &key);
    assert!(inspected.to_string().contains("[2,2,4,4]"), "{inspected}");
    fails(&["import", &sym, "--calibration", c, "-o", o, "--shape", "input=2x3x4x4"], &key, &["declares 2"]);
    fails(&["import", &sym, "--calibration", c, "-o", o, "--shape", "other=2x2x4x4"], &key, &["'other'", "not a graph input"]);
    let usage = verity(&["import", &sym, "--calibration", c, "-o", o, "--shape", "input=2x0"], &key);
    assert!(!usage.status.success() && String::from_utf8_lossy(&usage.stderr).contains("not a positive dimension"));

    let many = ops().join("bad/several_unsupported.onnx").display().to_string();
    fails(
        &["import", &many, "--calibration", c, "-o", o],
        &key,
        &["unsupported ONNX ops: 'NonZero' (node 'nonzero_1'), 'Unique' (node 'unique'), 'com.example::Custom' (node 'mine')"],
    );
}
