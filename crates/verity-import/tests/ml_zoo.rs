//! The ML zoo (fixtures/ml, made by tools/fixtures/gen_ml_zoo.py): scikit-learn models
//! converted by skl2onnx (`ai.onnx.ml` tree ensembles and linear models); and the
//! hummingbird zoo (fixtures/hb, made by tools/fixtures/gen_hb_zoo.py): scikit-learn,
//! XGBoost and LightGBM ensembles as hummingbird's GEMM tensor programs. Each is imported
//! with its calibration rows, run by the reference interpreter on held-out rows, and
//! compared with onnxruntime: the max absolute error of the scores (regression values,
//! class probabilities) over their range, and for classifiers the share of rows whose
//! label agrees. Every invalid model fails with an error naming its node.
//!
//! `cargo test -p verity-import --test ml_zoo -- --nocapture` prints the accuracy table.

use verity_import::{import, ImportOptions};
use verity_model::{input::dequantize, input::quantize_inputs, reference};

mod common;
use common::{floats, import_text};

const ZOO: &str = "ml";

fn dir(sub: &str) -> std::path::PathBuf {
    common::path(ZOO, sub)
}

fn zoo() -> Vec<String> {
    common::names(ZOO)
}

struct Accuracy {
    /// Max |quantized − onnxruntime| of the scores over their range (max − min).
    score_err: f64,
    /// Rows whose label agrees, of all rows (classifiers).
    labels: Option<(usize, usize)>,
}

fn accuracy(zoo: &str, name: &str, bits: u8) -> Accuracy {
    let onnx = std::fs::read(common::path(zoo, &format!("{name}.onnx"))).unwrap();
    let doc = common::doc(zoo, name);
    let model = import(&onnx, &doc["calibration"].to_string(), &ImportOptions { bits }, |_, _| {})
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let classifier = doc["outputs"].as_array().unwrap().len() == 2;
    let scores_at = usize::from(classifier);
    let (mut err, mut lo, mut hi, mut agree, mut rows) = (0.0f64, f64::INFINITY, f64::NEG_INFINITY, 0, 0);
    for (x, o) in doc["inputs"].as_array().unwrap().iter().zip(doc["ort_outputs"].as_array().unwrap()) {
        let q = quantize_inputs(&model, &[floats(x)]).unwrap();
        let ys = reference::run(&model, &q).unwrap();
        let y = dequantize(&model, scores_at, &ys[scores_at]);
        let want = floats(&o[scores_at]);
        assert_eq!(y.len(), want.len(), "{name}: output size");
        for (a, b) in y.iter().zip(&want) {
            err = err.max((a - b).abs());
            lo = lo.min(*b);
            hi = hi.max(*b);
        }
        if classifier {
            let label = dequantize(&model, 0, &ys[0]);
            rows += 1;
            agree += usize::from(label == floats(&o[0]));
        }
    }
    Accuracy { score_err: err / (hi - lo).max(f64::MIN_POSITIVE), labels: classifier.then_some((agree, rows)) }
}

#[test]
fn ml_zoo_matches_onnxruntime() {
    zoo_matches_onnxruntime(ZOO, 5);
}

#[test]
fn hummingbird_zoo_matches_onnxruntime() {
    zoo_matches_onnxruntime("hb", 5);
}

fn zoo_matches_onnxruntime(zoo: &str, min: usize) {
    let names = common::names(zoo);
    assert!(names.len() >= min, "the {zoo} zoo is missing: {names:?}");
    assert!(names.len() >= 5, "the ML zoo is missing: {names:?}");
    eprintln!("| model | op | bits held to | score err / range, 8 bits | 16 bits | labels agreeing, 8 bits | 16 bits |");
    eprintln!("|---|---|---|---|---|---|---|");
    let mut bad = Vec::new();
    for name in &names {
        let d = common::doc(zoo, name);
        let bits = d["bits"].as_u64().unwrap() as u8;
        let (a8, a16) = (accuracy(zoo, name, 8), accuracy(zoo, name, 16));
        let show = |a: &Accuracy| a.labels.map_or("-".to_string(), |(k, n)| format!("{k}/{n}"));
        eprintln!(
            "| {name} | {} | {bits} | {:.4} | {:.5} | {} | {} |",
            d["op"].as_str().unwrap(),
            a8.score_err,
            a16.score_err,
            show(&a8),
            show(&a16)
        );
        let a = if bits == 8 { a8 } else { a16 };
        if a.score_err > 0.02 {
            bad.push(format!("{name}: score error {:.4} at {bits} bits", a.score_err));
        }
        if let Some((k, n)) = a.labels {
            if k != n {
                bad.push(format!("{name}: {k}/{n} labels agree at {bits} bits"));
            }
        }
    }
    assert!(bad.is_empty(), "outside the goal (2% of the score range, every label): {bad:?}");
}

#[test]
fn invalid_ensembles_name_the_node() {
    common::bad_models_name_their_errors(ZOO, 5);
}

/// Every byte of every ML model, flipped, gives an error or a model, never a panic.
#[test]
fn corrupted_ensembles_never_panic() {
    for name in zoo().iter().filter(|n| n.starts_with("dt_")) {
        let bytes = std::fs::read(dir(&format!("{name}.onnx"))).unwrap();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            let _ = import_text(&b, &[]);
        }
    }
}
