//! The voice-activity model that the PyPI package silero-vad ships
//! (`silero_vad_op18_ifless.onnx`, fetched by `scripts/fetch-silero-vad.sh`), through the
//! whole pipeline: specialized for 16 kHz with `verity import --set sr=16000` (which
//! inlines its If), checked against onnxruntime's outputs (fixtures/silero, made by
//! tools/fixtures/gen_silero.py), proven, verified, and disputed.
//!
//! The model's directory comes from `VERITY_SILERO_DIR`, else the fetch script's default
//! cache. Without it the test prints SKIPPED, except under `CI=true`, where it fails.
//! `cargo test -p verity-cli --test silero -- --nocapture` prints the accuracy.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use verity_import::{load_onnx_fixed, FTensor};

const MODEL: &str = "silero_vad_op18_ifless.onnx";

fn model_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("VERITY_SILERO_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/verity-models/pkg/silero_vad/data"),
    };
    dir.join(MODEL).is_file().then_some(dir)
}

fn verity(args: &[&str], key: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_verity")).args(args).env("VERITY_KEY", key).output().unwrap()
}

fn ok_json(args: &[&str], key: &Path) -> Value {
    let out = verity(args, key);
    assert!(out.status.success(), "verity {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn max_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn silero_vad_imports_runs_proves_and_disputes() {
    let Some(dir) = model_dir() else {
        assert!(std::env::var("CI").is_err(), "{MODEL} is missing under CI: run scripts/fetch-silero-vad.sh");
        eprintln!("SKIPPED: {MODEL} not found (bash scripts/fetch-silero-vad.sh)");
        return;
    };
    let onnx_path = dir.join(MODEL);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/silero/op18_ifless.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let tests = doc["tests"].as_array().unwrap();
    let shapes = [("input".to_string(), vec![1, 576]), ("state".to_string(), vec![2, 1, 128])];

    // The float graph (before quantization) is onnxruntime's function, up to the ±0.16%
    // of the spectrogram's magnitudes (the squares-free hypot lowering).
    let fg = load_onnx_fixed(&std::fs::read(&onnx_path).unwrap(), &shapes, &[("sr".into(), vec![16000.0])]).unwrap();
    let (mut fp, mut fs) = (0.0f64, 0.0f64);
    for t in tests {
        let vals = fg.run(&[FTensor::new(vec![1, 576], floats(&t["input"])), FTensor::new(vec![2, 1, 128], floats(&t["state"]))]);
        let out = |k: usize| vals[fg.outputs[k]].as_ref().unwrap().data.clone();
        fp = fp.max(max_err(&out(0), &floats(&t["output"])));
        fs = fs.max(max_err(&out(1), &floats(&t["stateN"])));
    }
    eprintln!("float graph: max probability error {fp:.5}, max state error {fs:.5}");
    assert!(fp < 0.005 && fs < 0.02, "the float graph is not onnxruntime's function");

    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("key");
    let file = |name: &str| tmp.path().join(name).display().to_string();
    std::fs::write(file("cal.json"), doc["calibration"].to_string()).unwrap();
    let onnx = onnx_path.display().to_string();
    eprintln!("| bits | max prob error | mean prob error | max state error | windows |");
    eprintln!("|---|---|---|---|---|");
    for bits in ["8", "16"] {
        let vrt = file(&format!("vad{bits}.vrt"));
        let args = ["import", &onnx, "--calibration", &file("cal.json"), "-o", &vrt, "--bits", bits, "--set", "sr=16000"];
        let out = verity(&[&args[..], &["--shape", "input=1x576", "--shape", "state=2x1x128"]].concat(), &key);
        assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));
        let (mut worst, mut sum, mut state) = (0.0f64, 0.0, 0.0f64);
        for (i, t) in tests.iter().enumerate() {
            let input = file(&format!("in{i}.json"));
            std::fs::write(&input, json!({"input": t["input"], "state": t["state"]}).to_string()).unwrap();
            let ran = ok_json(&["run", &vrt, "--input", &input, "--json"], &key);
            assert_eq!(ran["outputs"][0]["name"], "output");
            assert_eq!(ran["outputs"][1]["name"], "stateN");
            let e = max_err(&floats(&ran["outputs"][0]["values"]), &floats(&t["output"]));
            (worst, sum) = (worst.max(e), sum + e);
            state = state.max(max_err(&floats(&ran["outputs"][1]["values"]), &floats(&t["stateN"])));
        }
        eprintln!("| {bits} | {worst:.4} | {:.4} | {state:.4} | {} |", sum / tests.len() as f64, tests.len());
    }

    // The package's other exports import too (LSTM ops, and Ifs on the sample rate folded
    // by --set); the four of the same network are held to onnxruntime's probabilities.
    // silero_vad_half.onnx is another network (onnxruntime's answers differ): it only runs.
    eprintln!("| model (16 bits) | max prob error | mean prob error |");
    eprintln!("|---|---|---|");
    let hc = |v: &Value| {
        let s = floats(v);
        (s[..128].to_vec(), s[128..].to_vec())
    };
    let mut cal_hc = json!({"input": doc["calibration"]["input"], "h": [], "c": []});
    for w in floats(&doc["calibration"]["state"]).chunks(256) {
        cal_hc["h"].as_array_mut().unwrap().extend(w[..128].iter().map(|&v| json!(v)));
        cal_hc["c"].as_array_mut().unwrap().extend(w[128..].iter().map(|&v| json!(v)));
    }
    std::fs::write(file("cal_hc.json"), cal_hc.to_string()).unwrap();
    for (other, flags, split) in [
        ("silero_vad.onnx", &["--set", "sr=16000", "--shape", "input=1x576", "--shape", "state=2x1x128"][..], false),
        ("silero_vad_16k_op15.onnx", &["--set", "sr=16000", "--shape", "input=1x576", "--shape", "state=2x1x128"][..], false),
        ("silero_vad_openvino_16k.onnx", &[][..], false),
        ("silero_vad_16k_sequence.onnx", &["--shape", "input=1x576"][..], true),
    ] {
        let vrt = file("other.vrt");
        let (onnx, cal) = (dir.join(other).display().to_string(), file(if split { "cal_hc.json" } else { "cal.json" }));
        let args = [&["import", &onnx, "--calibration", &cal, "-o", &vrt, "--bits", "16"][..], flags].concat();
        let out = verity(&args, &key);
        assert!(out.status.success(), "{other}: {}", String::from_utf8_lossy(&out.stderr));
        let (mut worst, mut sum) = (0.0f64, 0.0);
        for t in tests {
            let input = file("other_in.json");
            let body = if split {
                let (h, c) = hc(&t["state"]);
                json!({"input": t["input"], "h": h, "c": c})
            } else {
                json!({"input": t["input"], "state": t["state"]})
            };
            std::fs::write(&input, body.to_string()).unwrap();
            let ran = ok_json(&["run", &vrt, "--input", &input, "--json"], &key);
            let e = max_err(&floats(&ran["outputs"][0]["values"]), &floats(&t["output"]));
            (worst, sum) = (worst.max(e), sum + e);
        }
        eprintln!("| {other} | {worst:.4} | {:.4} |", sum / tests.len() as f64);
        assert!(sum / (tests.len() as f64) < 0.05, "{other}: mean probability error {}", sum / tests.len() as f64);
    }
    let half = dir.join("silero_vad_half.onnx").display().to_string();
    let args = ["import", &half, "--calibration", &file("cal.json"), "-o", &file("half.vrt"), "--shape", "input=1x576"];
    let out = verity(&[&args[..], &["--shape", "state=2x1x128"]].concat(), &key);
    assert!(out.status.success(), "silero_vad_half.onnx: {}", String::from_utf8_lossy(&out.stderr));
    let ran = ok_json(&["run", &file("half.vrt"), "--input", &file("in1.json"), "--json"], &key);
    assert_eq!(ran["outputs"][0]["shape"], json!([1, 1]));

    // Proven and verified at both widths; a cheat is caught by the dispute game.
    let input = file("in1.json");
    for bits in ["8", "16"] {
        let (vrt, proof) = (file(&format!("vad{bits}.vrt")), file(&format!("vad{bits}.vrtz")));
        let proved = ok_json(&["prove", &vrt, "--input", &input, "-o", &proof, "--json"], &key);
        let checked = ok_json(&["verify", "--proof", &proof, "--model", &vrt, "--json"], &key);
        assert_eq!(checked["valid"], true);
        assert_eq!(checked["outputs"], proved["outputs"]);
        eprintln!(
            "{bits} bits: prove {:.0} ms, verify {:.0} ms, {} proof bytes",
            proved["prove_ms"].as_f64().unwrap(),
            checked["verify_ms"].as_f64().unwrap(),
            proved["proof_bytes"]
        );
    }
    let vrt = file("vad8.vrt");
    for (cheat, winner) in [("none", "executor"), ("output", "challenger"), ("bitflip", "challenger")] {
        let v = ok_json(&["dispute", &vrt, "--input", &input, "--cheat", cheat, "--json"], &key);
        assert_eq!(v["winner"], winner, "{cheat}: {}", v["reason"]);
    }
}
