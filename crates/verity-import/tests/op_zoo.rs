//! The op zoo (fixtures/ops, made by tools/fixtures/gen_op_zoo.py): one model per op that
//! the importer lowers to existing canonical ops. Each is imported with its calibration
//! samples, run by the reference interpreter, and compared with onnxruntime's float
//! outputs; and every invalid-attribute model fails with an error naming its node.
//!
//! `cargo test -p verity-import --test op_zoo -- --nocapture` prints the accuracy table.

use serde_json::Value;
use verity_import::{import, load_onnx, load_onnx_with_shapes, ImportOptions};
use verity_model::{input::dequantize, input::quantize_inputs, reference};

mod common;
use common::{argmax, floats, import_text};

const ZOO: &str = "ops";

fn dir(sub: &str) -> std::path::PathBuf {
    common::path(ZOO, sub)
}

fn zoo() -> Vec<String> {
    common::names(ZOO)
}

fn doc(name: &str) -> Value {
    common::doc(ZOO, name)
}

/// Max |quantized − onnxruntime| over every test output, divided by the range
/// (max − min) of onnxruntime's outputs; and how many test outputs have the same argmax.
fn relative_max_error(name: &str, bits: u8) -> (f64, usize) {
    let onnx = std::fs::read(dir(&format!("{name}.onnx"))).unwrap();
    let doc = doc(name);
    let model = import(&onnx, &doc["calibration"].to_string(), &ImportOptions { bits }, |_, _| {})
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let (mut err, mut lo, mut hi, mut same) = (0.0f64, f64::INFINITY, f64::NEG_INFINITY, 0);
    for (x, o) in doc["inputs"].as_array().unwrap().iter().zip(doc["ort_outputs"].as_array().unwrap()) {
        let q = quantize_inputs(&model, &[floats(x)]).unwrap();
        let y = dequantize(&model, 0, &reference::run(&model, &q).unwrap()[0]);
        let o = floats(o);
        assert_eq!(y.len(), o.len(), "{name}: output size");
        same += (argmax(&y) == argmax(&o)) as usize;
        for (a, b) in y.iter().zip(&o) {
            err = err.max((a - b).abs());
            lo = lo.min(*b);
            hi = hi.max(*b);
        }
    }
    (err / (hi - lo).max(f64::MIN_POSITIVE), same)
}

#[test]
fn zoo_matches_onnxruntime() {
    let names = zoo();
    assert!(names.len() >= 30, "the op zoo is missing: {names:?}");
    eprintln!("| model | op | bits held to | max abs err / output range, 8 bits | 16 bits |");
    eprintln!("|---|---|---|---|---|");
    let mut bad = Vec::new();
    for name in &names {
        let doc = doc(name);
        let bits = doc["bits"].as_u64().unwrap() as u8;
        let ((e8, same8), (e16, same16)) = (relative_max_error(name, 8), relative_max_error(name, 16));
        let n = doc["inputs"].as_array().unwrap().len();
        let classifier = doc["classifier"].as_bool().unwrap_or(false);
        let top1 = if classifier { format!(" (top-1 {same8}/{n}, {same16}/{n})") } else { String::new() };
        eprintln!("| {name} | {}{top1} | {bits} | {:.4} | {:.5} |", doc["op"].as_str().unwrap(), e8, e16);
        let (e, same) = if bits == 8 { (e8, same8) } else { (e16, same16) };
        if e > 0.02 {
            bad.push(format!("{name}: {e:.4} at {bits} bits"));
        }
        // A top-1 flip needs two logits within the quantization error; allow one in ten.
        if classifier && same * 10 < n * 9 {
            bad.push(format!("{name}: top-1 agrees on {same} of {n} at {bits} bits"));
        }
    }
    assert!(bad.is_empty(), "outside 2% of the output range: {bad:?}");
}

#[test]
fn invalid_attributes_name_the_node() {
    common::bad_models_name_their_errors(ZOO, 15);
}

#[test]
fn every_unsupported_op_is_listed() {
    let err = import_text(&std::fs::read(dir("bad/several_unsupported.onnx")).unwrap(), &[]).unwrap_err();
    assert!(err.starts_with("unsupported ONNX ops: "), "{err}");
    // The supported LSTM and Relu between them are not listed.
    assert!(!err.contains("ok_relu") && !err.contains("lstm_1"), "{err}");
}

#[test]
fn a_symbolic_dimension_needs_a_shape() {
    let bytes = std::fs::read(dir("bad/symbolic_batch.onnx")).unwrap();
    let err = import_text(&bytes, &[]).unwrap_err();
    assert!(err.contains("--shape input="), "{err}");
    // A valid model that only lacks a fixed shape is not called invalid; the message names
    // the input and the dimension.
    assert!(!err.contains("not a valid ONNX model"), "{err}");
    assert!(err.contains("'input'") && err.contains("symbolic dimension 0 ('batch')"), "{err}");
    // Fixed, it imports with the given batch.
    let fg = load_onnx_with_shapes(&bytes, &[("input".into(), vec![3, 2, 4, 4])]).unwrap();
    assert_eq!(fg.values[fg.inputs[0]].shape, [3, 2, 4, 4]);
    import_text(&bytes, &[("input".into(), vec![3, 2, 4, 4])]).unwrap();
    let wrong = |shape: Vec<usize>, needle: &str| {
        let e = import_text(&bytes, &[("input".into(), shape)]).unwrap_err();
        assert!(e.contains(needle), "{e}");
    };
    wrong(vec![1, 2, 4], "has 3 dimensions, the model declares 4");
    wrong(vec![1, 3, 4, 4], "has 3 in dimension 1, the model declares 2");
    let e = import_text(&bytes, &[("nope".into(), vec![1])]).unwrap_err();
    assert!(e.contains("'nope', which is not a graph input"), "{e}");
    // A model without symbolic dimensions accepts its own shape given explicitly.
    let zoo = std::fs::read(dir("abs.onnx")).unwrap();
    assert_eq!(
        load_onnx(&zoo).unwrap().values.len(),
        load_onnx_with_shapes(&zoo, &[("input".into(), vec![1, 16])]).unwrap().values.len()
    );
}

#[test]
fn integer_inputs_and_booleans_are_exact() {
    let doc = doc("int_input");
    let model = import(
        &std::fs::read(dir("int_input.onnx")).unwrap(),
        &doc["calibration"].to_string(),
        &ImportOptions { bits: 8 },
        |_, _| {},
    )
    .unwrap();
    let x = model.value(model.inputs[0]);
    assert_eq!((x.bits, x.scale), (16, 1.0), "an int64 input is quantized at scale 1");
    let cmp = model.nodes.iter().find(|n| n.op.kind() == "Compare").expect("Less is a Compare");
    let y = model.value(cmp.output);
    assert_eq!((y.bits, y.scale), (8, 1.0), "a boolean is 8 bits at scale 1");
    // Every integer in range quantizes to itself.
    let q = quantize_inputs(&model, &[(-20..-4).map(f64::from).collect()]).unwrap();
    assert_eq!(q[0].data, (-20..-4).collect::<Vec<i32>>());
    // One past the range is refused, not saturated into another integer.
    for (at, big) in [(0, 32768.0), (15, -32769.0), (3, 1e12)] {
        let mut x: Vec<f64> = (-20..-4).map(f64::from).collect();
        x[at] = big;
        let e = quantize_inputs(&model, &[x]).unwrap_err().to_string();
        assert!(e.contains(&format!("value {at} is {big}, outside -32768..=32767")), "{e}");
    }
    assert!(quantize_inputs(&model, &[vec![32767.0; 16]]).is_ok());
}
