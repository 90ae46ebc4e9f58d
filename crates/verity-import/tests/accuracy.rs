//! Imports every fixture model (trained offline by tools/fixtures/gen_fixtures.py) and
//! checks the quantized integer model against onnxruntime's float outputs on held-out
//! test inputs.

use serde_json::Value;
use verity_import::{import, ImportOptions};
use verity_model::{input::dequantize, input::quantize_inputs, reference, Model};

fn fixture(name: &str) -> String {
    format!("{}/../../fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn load(name: &str, bits: u8) -> (Model, Value) {
    let onnx = std::fs::read(fixture(&format!("{name}.onnx"))).unwrap();
    let cal = std::fs::read_to_string(fixture(&format!("{name}.calibration.json"))).unwrap();
    let model = import(&onnx, &cal, &ImportOptions { bits }, |_, _| {}).unwrap();
    let test: Value = serde_json::from_str(&std::fs::read_to_string(fixture(&format!("{name}.test.json"))).unwrap()).unwrap();
    (model, test)
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn argmax(v: &[f64]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}

/// Runs the quantized model on every test input; returns (outputs, ort outputs).
fn outputs(model: &Model, test: &Value) -> Vec<(Vec<f64>, Vec<f64>)> {
    let inputs = test["inputs"].as_array().unwrap();
    let ort = test["ort_outputs"].as_array().unwrap();
    inputs
        .iter()
        .zip(ort)
        .map(|(x, o)| {
            let q = quantize_inputs(model, &[floats(x)]).unwrap();
            let y = reference::run(model, &q).unwrap();
            (dequantize(model, 0, &y[0]), floats(o))
        })
        .collect()
}

struct Report {
    quant_acc: f64,
    float_acc: f64,
    agreement: f64,
}

fn classify(name: &str) -> Report {
    let (model, test) = load(name, 8);
    let labels: Vec<usize> = test["labels"].as_array().unwrap().iter().map(|l| l.as_u64().unwrap() as usize).collect();
    let outs = outputs(&model, &test);
    let n = outs.len() as f64;
    let correct = outs.iter().zip(&labels).filter(|((q, _), &l)| argmax(q) == l).count() as f64;
    let float_correct = outs.iter().zip(&labels).filter(|((_, o), &l)| argmax(o) == l).count() as f64;
    let agree = outs.iter().filter(|(q, o)| argmax(q) == argmax(o)).count() as f64;
    let r = Report { quant_acc: correct / n, float_acc: float_correct / n, agreement: agree / n };
    eprintln!(
        "{name}: int8 accuracy {:.4}, float accuracy {:.4}, top-1 agreement with onnxruntime {:.4} ({} samples, {} params)",
        r.quant_acc,
        r.float_acc,
        r.agreement,
        outs.len(),
        model.param_count()
    );
    r
}

fn check_classifier(name: &str) {
    let r = classify(name);
    assert!(r.quant_acc >= r.float_acc - 0.01, "{name}: quantized accuracy {} vs float {}", r.quant_acc, r.float_acc);
    assert!(r.agreement >= 0.99, "{name}: top-1 agreement {}", r.agreement);
}

#[test]
fn mlp_digits_accuracy() {
    check_classifier("mlp_digits");
}

#[test]
fn cnn_digits_accuracy() {
    check_classifier("cnn_digits");
}

#[test]
fn mlp_cancer_accuracy() {
    check_classifier("mlp_cancer");
}

#[test]
fn iris_logreg_accuracy() {
    check_classifier("iris_logreg");
}

/// Relative error ||q - f|| / ||f|| over all test outputs.
fn relative_error(name: &str, bits: u8) -> f64 {
    let (model, test) = load(name, bits);
    let outs = outputs(&model, &test);
    let (mut num, mut den) = (0.0, 0.0);
    for (q, o) in &outs {
        num += q.iter().zip(o).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
        den += o.iter().map(|b| b * b).sum::<f64>();
    }
    let e = (num / den).sqrt();
    eprintln!("{name} ({bits}-bit activations): relative L2 error vs onnxruntime {e:.4} over {} samples", outs.len());
    e
}

#[test]
fn transformer_block_error() {
    assert!(relative_error("transformer_block", 8) < 0.05);
    assert!(relative_error("transformer_block", 16) < 0.03);
}

#[test]
fn ops_zoo_error() {
    assert!(relative_error("ops_zoo", 8) < 0.03);
    assert!(relative_error("ops_zoo", 16) < 0.015);
}
