//! What the zoo tests share: a zoo's files, its JSON numbers, and the import error of an
//! invalid model. Each test file uses part of it.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;
use verity_import::{calibrate, load_onnx_with_shapes, quantize, FTensor, ImportOptions};

/// File `sub` of zoo `zoo` (a folder of `fixtures/`).
pub fn path(zoo: &str, sub: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(zoo).join(sub)
}

/// The zoo's model names, sorted.
pub fn names(zoo: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(path(zoo, ""))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok()?.strip_suffix(".onnx").map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Model `name`'s JSON document.
pub fn doc(zoo: &str, name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path(zoo, &format!("{name}.json"))).unwrap()).unwrap()
}

pub fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

/// The first index of the largest value.
pub fn argmax(v: &[f64]) -> usize {
    (0..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best })
}

/// The whole import on one sample of ones; errors come back as text.
pub fn import_text(bytes: &[u8], shapes: &[(String, Vec<usize>)]) -> Result<(), String> {
    let fg = load_onnx_with_shapes(bytes, shapes).map_err(|e| e.to_string())?;
    let sample: Vec<FTensor> = fg
        .inputs
        .iter()
        .map(|&i| FTensor::new(fg.values[i].shape.clone(), vec![1.0; fg.values[i].shape.iter().product()]))
        .collect();
    let ranges = calibrate(&fg, &[sample], |_, _| {});
    quantize(&fg, &ranges, &ImportOptions::default()).map(|_| ()).map_err(|e| e.to_string())
}

/// Every model of the zoo's `bad/` folder fails with an error holding each of its words
/// in `bad/expected_errors.json` (at least `min` models).
pub fn bad_models_name_their_errors(zoo: &str, min: usize) {
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(path(zoo, "bad/expected_errors.json")).unwrap()).unwrap();
    let expected = expected.as_object().unwrap();
    assert!(expected.len() >= min, "{zoo}: {} invalid models", expected.len());
    for (name, needles) in expected {
        let bytes = std::fs::read(path(zoo, &format!("bad/{name}.onnx"))).unwrap();
        let err = import_text(&bytes, &[]).expect_err(name);
        for n in needles.as_array().unwrap() {
            assert!(err.contains(n.as_str().unwrap()), "{name}: {err:?} lacks {n}");
        }
    }
}
