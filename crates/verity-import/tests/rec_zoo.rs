//! The recurrent zoo (fixtures/rec, made by tools/fixtures/gen_rec_zoo.py): LSTM, GRU and
//! RNN nodes, which the importer unrolls over the sequence, and two PyTorch sequence
//! classifiers. Each is imported with its calibration samples, run by the reference
//! interpreter, and compared with onnxruntime's float outputs; every invalid node fails
//! with an error naming it.
//!
//! `cargo test -p verity-import --test rec_zoo -- --nocapture` prints the accuracy table.

use serde_json::Value;
use verity_import::{import, load_onnx, FTensor, ImportOptions};
use verity_model::{input::dequantize, input::quantize_inputs, reference, Model};

mod common;
use common::{argmax, floats};

const ZOO: &str = "rec";

fn dir(sub: &str) -> std::path::PathBuf {
    common::path(ZOO, sub)
}

fn zoo() -> Vec<String> {
    common::names(ZOO)
}

fn doc(name: &str) -> Value {
    common::doc(ZOO, name)
}

/// A test sample's inputs: one flat list, or one list per input with "input_names".
fn sample(doc: &Value, x: &Value) -> Vec<Vec<f64>> {
    if doc.get("input_names").is_some() {
        x.as_array().unwrap().iter().map(floats).collect()
    } else {
        vec![floats(x)]
    }
}

struct Measured {
    /// Max |quantized − onnxruntime| over every test output / onnxruntime's output range.
    rel_err: f64,
    max_err: f64,
    range: f64,
    /// Samples whose top-1 class agrees with onnxruntime's, and with the true label.
    agree: usize,
    correct: usize,
    samples: usize,
    nodes: usize,
}

fn measure(name: &str, bits: u8) -> Measured {
    let onnx = std::fs::read(dir(&format!("{name}.onnx"))).unwrap();
    let doc = doc(name);
    let model: Model = import(&onnx, &doc["calibration"].to_string(), &ImportOptions { bits }, |_, _| {})
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let (mut err, mut lo, mut hi, mut agree, mut correct) = (0.0f64, f64::INFINITY, f64::NEG_INFINITY, 0, 0);
    let tests = doc["inputs"].as_array().unwrap();
    for (k, (x, o)) in tests.iter().zip(doc["ort_outputs"].as_array().unwrap()).enumerate() {
        let q = quantize_inputs(&model, &sample(&doc, x)).unwrap();
        let y = dequantize(&model, 0, &reference::run(&model, &q).unwrap()[0]);
        let o = floats(o);
        assert_eq!(y.len(), o.len(), "{name}: output size");
        for (a, b) in y.iter().zip(&o) {
            err = err.max((a - b).abs());
            lo = lo.min(*b);
            hi = hi.max(*b);
        }
        agree += (argmax(&y) == argmax(&o)) as usize;
        if let Some(l) = doc.get("labels") {
            correct += (argmax(&y) as u64 == l[k].as_u64().unwrap()) as usize;
        }
    }
    let range = (hi - lo).max(f64::MIN_POSITIVE);
    Measured { rel_err: err / range, max_err: err, range, agree, correct, samples: tests.len(), nodes: model.nodes.len() }
}

/// Error budgets, as fractions of onnxruntime's output range: a single recurrent node at
/// 8 bits and at 16 bits, and a trained classifier (logits) at 8 and 16 bits, whose
/// weights stay int8 at either width (so 16 bits gains less), which is also held to
/// top-1 agreement with onnxruntime.
const NODE_BUDGET: (f64, f64) = (0.03, 0.005);
const CLASSIFIER_BUDGET: (f64, f64) = (0.04, 0.02);
const MIN_AGREEMENT: f64 = 0.97;

#[test]
fn rec_zoo_matches_onnxruntime() {
    let names = zoo();
    assert!(names.len() >= 20, "the recurrent zoo is missing: {names:?}");
    eprintln!(
        "| model | op | canonical nodes (8 bits) | max abs err, 8 bits | / output range | 16 bits | top-1 agreement (8 bits) |"
    );
    eprintln!("|---|---|---|---|---|---|---|");
    let mut bad = Vec::new();
    for name in &names {
        let d = doc(name);
        let bits = d["bits"].as_u64().unwrap() as u8;
        let (m8, m16) = (measure(name, 8), measure(name, 16));
        let top1 = if d.get("labels").is_some() {
            let a = m8.agree as f64 / m8.samples as f64;
            let c = m8.correct as f64 / m8.samples as f64;
            let c16 = m16.correct as f64 / m16.samples as f64;
            if a < MIN_AGREEMENT {
                bad.push(format!("{name}: top-1 agreement {a:.2} at 8 bits"));
            }
            format!("{a:.2} ({} samples; accuracy {c:.2}, 16 bits {c16:.2})", m8.samples)
        } else {
            "-".into()
        };
        eprintln!(
            "| {name} | {} | {} | {:.4} | {:.4} (range {:.2}) | {:.5} | {top1} |",
            d["op"].as_str().unwrap(),
            m8.nodes,
            m8.max_err,
            m8.rel_err,
            m8.range,
            m16.rel_err,
        );
        assert_eq!(bits, 8, "{name}: every recurrent model is held to 8 bits");
        let (b8, b16) = if d.get("labels").is_some() { CLASSIFIER_BUDGET } else { NODE_BUDGET };
        if m8.rel_err > b8 {
            bad.push(format!("{name}: {:.4} at 8 bits", m8.rel_err));
        }
        if m16.rel_err > b16 {
            bad.push(format!("{name}: {:.5} at 16 bits", m16.rel_err));
        }
    }
    assert!(bad.is_empty(), "outside the budget: {bad:?}");
}

#[test]
fn invalid_recurrent_nodes_name_the_node() {
    common::bad_models_name_their_errors(ZOO, 8);
}

/// The unrolling stays small: per step an LSTM is about twenty float ops, and the input
/// projection is one Linear per gate for the whole sequence.
#[test]
fn unrolling_is_linear_in_the_sequence() {
    let fg = load_onnx(&std::fs::read(dir("lstm_seq20.onnx")).unwrap()).unwrap();
    let linears = fg.nodes.iter().filter(|n| format!("{:?}", n.op).starts_with("Linear")).count();
    // 4 input projections and 4 recurrent products for each of the 19 steps after the first.
    assert_eq!(linears, 4 + 4 * 19, "{linears} Linear ops");
    assert!(fg.nodes.len() <= 20 * 21, "{} float ops for 20 steps", fg.nodes.len());
}

/// The float graph alone (before quantization) computes what onnxruntime computes.
#[test]
fn float_unrolling_matches_onnxruntime() {
    let mut bad = Vec::new();
    for name in zoo() {
        let d = doc(&name);
        let fg = load_onnx(&std::fs::read(dir(&format!("{name}.onnx"))).unwrap()).unwrap();
        let mut err = 0.0f64;
        for (x, o) in d["inputs"].as_array().unwrap().iter().zip(d["ort_outputs"].as_array().unwrap()) {
            let ins: Vec<FTensor> =
                sample(&d, x).into_iter().zip(&fg.inputs).map(|(v, &i)| FTensor::new(fg.values[i].shape.clone(), v)).collect();
            let vals = fg.run(&ins);
            let y = vals[fg.outputs[0]].as_ref().unwrap();
            for (a, b) in y.data.iter().zip(floats(o)) {
                err = err.max((a - b).abs());
            }
        }
        eprintln!("{name}: float max abs err {err:.2e}");
        if err > 1e-4 {
            bad.push(format!("{name}: {err:.2e}"));
        }
    }
    assert!(bad.is_empty(), "the float unrolling differs from onnxruntime: {bad:?}");
}
