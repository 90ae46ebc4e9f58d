//! One CLI grammar (docs/cli.md): verifying keys, exit codes by kind, `--json` on failure,
//! stdin and inline inputs, and the checks that stop silent surprises.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

mod common;

use common::{commands_of, fx, help};

fn verity_in(args: &[&str], home: &Path, stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_verity"))
        .args(args)
        .env("HOME", home)
        .env_remove("VERITY_KEY")
        .env_remove("VERITY_API_KEY")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn verity(args: &[&str], home: &Path) -> Output {
    verity_in(args, home, None)
}

fn ok(args: &[&str], home: &Path) -> Value {
    let out = verity(args, home);
    assert!(out.status.success(), "verity {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("verity {args:?}: stdout is not one JSON object: {e}"))
}

/// Fails with exit `code`; with `--json` in `args`, stdout is `{"error", "kind"}` naming it.
fn fails(args: &[&str], home: &Path, code: i32, needle: &str) -> String {
    let out = verity(args, home);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(code), "verity {args:?}: stderr {err}");
    assert!(err.contains(needle), "verity {args:?}: stderr {err:?} lacks {needle:?}");
    assert!(!err.contains("panicked"), "{err}");
    if args.contains(&"--json") {
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("verity {args:?}: no JSON error: {e}"));
        let kind = ["", "invalid", "usage", "io"][code as usize];
        assert_eq!(v["kind"], kind, "{v}");
        assert!(v["error"].as_str().unwrap().contains(needle), "{v}");
    }
    err
}

struct Setup {
    _dir: tempfile::TempDir,
    home: PathBuf,
    at: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    Setup { home: dir.path().to_path_buf(), at: dir.path().to_path_buf(), _dir: dir }
}

impl Setup {
    fn path(&self, name: &str) -> String {
        self.at.join(name).display().to_string()
    }
}

#[test]
fn a_verifying_key_alone_checks_a_proof() {
    let s = setup();
    let h = &s.home;
    let (m, i) = (fx("cnn_digits.vrt"), fx("cnn_digits.input.json"));
    let (p, vk, other_vk) = (s.path("p.vrtz"), s.path("cnn.vk"), s.path("mlp.vk"));
    ok(&["prove", &m, "--input", &i, "-o", &p, "--json"], h);
    let key = ok(&["keygen", &m, "-o", &vk, "--json"], h);
    let ran = ok(&["run", &m, "--input", &i, "--json"], h);
    assert_eq!(key["model_id"], ran["model_id"]);
    let vk_bytes = std::fs::metadata(&vk).unwrap().len();
    assert_eq!(key["vk_bytes"], vk_bytes);
    assert!(vk_bytes < std::fs::metadata(&m).unwrap().len());

    // Light: the key alone, the proof's claims printed.
    let v = ok(&["verify", "--proof", &p, "--vk", &vk, "--json"], h);
    assert_eq!(v["valid"], true);
    for k in ["model_id", "input_hash", "output_hash", "outputs"] {
        assert_eq!(v[k], ran[k], "{k}");
    }
    assert_eq!(v["outputs"][0]["name"], "output");
    // --input: the proof must be for this input, given as a file, on stdin or inline.
    assert_eq!(ok(&["verify", "--proof", &p, "--vk", &vk, "--input", &i, "--json"], h)["input_checked"], true);
    let text = std::fs::read_to_string(&i).unwrap();
    let piped = verity_in(&["verify", "--proof", &p, "--vk", &vk, "--input", "-", "--json"], h, Some(&text));
    assert!(piped.status.success(), "{}", String::from_utf8_lossy(&piped.stderr));
    assert!(verity(&["verify", "--proof", &p, "--vk", &vk, "--input", text.trim()], h).status.success());
    // MODEL positional and the older --model spelling agree.
    assert_eq!(ok(&["verify", &m, "--proof", &p, "--json"], h)["output_hash"], ran["output_hash"]);
    assert_eq!(ok(&["verify", "--model", &m, "--proof", &p, "--json"], h)["output_hash"], ran["output_hash"]);

    // Another input is rejected (exit 1, invalid).
    let mut other: Value = serde_json::from_str(&text).unwrap();
    other["input_data"][0][0] = serde_json::json!(16.0);
    let o = other.to_string();
    fails(&["verify", "--proof", &p, "--vk", &vk, "--input", &o, "--json"], h, 1, "is for another input");
    // A key of another model is rejected.
    ok(&["keygen", &fx("mlp_digits.vrt"), "-o", &other_vk, "--json"], h);
    fails(&["verify", "--proof", &p, "--vk", &other_vk, "--json"], h, 1, "the proof is for model");
    // A tampered key: a flipped bit anywhere is refused before any proof is checked.
    let bytes = std::fs::read(&vk).unwrap();
    for at in [6, 40, bytes.len() / 2, bytes.len() - 1] {
        let mut b = bytes.clone();
        b[at] ^= 0x10;
        let t = s.path(&format!("t{at}.vk"));
        std::fs::write(&t, &b).unwrap();
        fails(&["verify", "--proof", &p, "--vk", &t, "--json"], h, 2, "bad verifying key");
    }
    // A tampered proof under the key: invalid.
    let mut pb = std::fs::read(&p).unwrap();
    let n = pb.len();
    pb[n - 3000] ^= 4;
    let tp = s.path("t.vrtz");
    std::fs::write(&tp, &pb).unwrap();
    fails(&["verify", "--proof", &tp, "--vk", &vk, "--json"], h, 1, "INVALID");
    // Missing files are I/O errors.
    fails(&["verify", "--proof", &s.path("nope.vrtz"), "--vk", &vk, "--json"], h, 3, "cannot read proof");
    fails(&["verify", "--proof", &p, "--vk", &s.path("nope.vk"), "--json"], h, 3, "cannot read verifying key");
    fails(&["verify", "--proof", &p, "--json"], h, 2, "--vk");
}

#[test]
fn failures_have_kinds_and_hints() {
    let s = setup();
    let h = &s.home;
    let (m, i) = (fx("cnn_digits.vrt"), fx("cnn_digits.input.json"));
    // Usage errors from clap are exit 2, with a JSON object when --json is given.
    fails(&["run", &m, "--json"], h, 2, "--input");
    fails(&["frobnicate", "--json"], h, 2, "frobnicate");
    fails(&["run", &m, "--input", &i, "--threads", "0", "--json"], h, 2, "--threads 0");
    // run on ONNX points to import.
    fails(&["run", &fx("cnn_digits.onnx"), "--input", &i, "--json"], h, 2, "verity import");
    // Output directories must exist; nothing is created.
    let missing = s.path("missing/dir/x.vrt");
    fails(
        &["import", &fx("cnn_digits.onnx"), "--calibration", &fx("cnn_digits.calibration.json"), "-o", &missing, "--json"],
        h,
        2,
        "does not exist",
    );
    fails(&["keygen", &m, "-o", &missing, "--json"], h, 2, "does not exist");
    assert!(!s.at.join("missing").exists());
    // A named key that does not exist is an error unless --new-key.
    let key = s.path("typo.key");
    let r = s.path("r.json");
    fails(&["run", &m, "--input", &i, "--receipt", &r, "--key", &key, "--json"], h, 2, "--new-key");
    assert!(!Path::new(&key).exists());
    let v = ok(&["run", &m, "--input", &i, "--receipt", &r, "--key", &key, "--new-key", "--json"], h);
    assert!(Path::new(&key).exists());
    assert_eq!(v["trace_root"].as_str().unwrap().len(), 64);
    // verify --receipt --json prints one object; a wrong input is invalid (exit 1).
    let rv = ok(&["verify", &m, "--receipt", &r, "--input", &i, "--json"], h);
    assert_eq!((rv["valid"].clone(), rv["trace_root"].clone()), (Value::Bool(true), v["trace_root"].clone()));
    let other = format!("{{\"input_data\": [[{}]]}}", ["1"; 64].join(", "));
    fails(&["verify", &m, "--receipt", &r, "--input", &other, "--json"], h, 1, "INVALID");
    fails(&["verify", &m, "--receipt", &s.path("none.json"), "--input", &i, "--json"], h, 3, "cannot read receipt");
    // Clamped inputs are warned about.
    let big = format!("{{\"input_data\": [[{}]]}}", ["1000"; 64].join(", "));
    let out = verity(&["run", &m, "--input", &big, "--json"], h);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("were clamped"));
    let fine = verity(&["run", &m, "--input", &i], h);
    assert!(!String::from_utf8_lossy(&fine.stderr).contains("clamped"));
    // --raw gives the integers and scales; text mode names shapes.
    let raw = ok(&["run", &m, "--input", &i, "--json", "--raw"], h);
    let o = &raw["outputs"][0];
    let (q, scale, values) = (o["q"].as_array().unwrap(), o["scale"].as_f64().unwrap(), o["values"].as_array().unwrap());
    assert_eq!(q.len(), values.len());
    for (q, v) in q.iter().zip(values) {
        assert!((q.as_f64().unwrap() * scale - v.as_f64().unwrap()).abs() < 1e-6);
    }
    assert_eq!(o["shape"], serde_json::json!([1, 10]));
}

#[test]
fn every_command_takes_json() {
    // Derived from clap: a later command without --json fails this test.
    let commands = commands_of(&help(&[]));
    assert!(commands.len() >= 10, "{commands:?}");
    for c in commands {
        let sub = help(&[&c]);
        if sub.contains("Commands:") {
            for cc in commands_of(&sub) {
                assert!(help(&[&c, &cc]).contains("--json"), "verity {c} {cc} has no --json");
            }
        } else {
            assert!(sub.contains("--json"), "verity {c} has no --json");
        }
    }
}
