//! Bad ONNX input: clear errors, never a panic. The property tests mutate the trained
//! fixture models byte by byte and run the whole import on whatever still parses.

use proptest::prelude::*;
use verity_import::{calibrate, load_onnx, quantize, FTensor, ImportError, ImportOptions};

const MODELS: [&str; 6] = ["mlp_digits", "cnn_digits", "mlp_cancer", "iris_logreg", "transformer_block", "ops_zoo"];

/// The op zoo (fixtures/ops): one model per op lowered onto existing canonical ops, and
/// the invalid-attribute models next to it.
fn zoo(sub: &str) -> Vec<String> {
    listed("ops", sub)
}

/// The models of `fixtures/ROOT/SUB`, as paths under fixtures/.
fn listed(root: &str, sub: &str) -> Vec<String> {
    let dir = format!("{}/../../fixtures/{root}/{sub}", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter(|n| n.ends_with(".onnx"))
        .map(|n| format!("{root}/{sub}{n}"))
        .collect();
    names.sort();
    names
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../../fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The whole import on one all-ones calibration sample; must return, not panic.
fn import_any(bytes: &[u8]) -> Result<(), ImportError> {
    let fg = load_onnx(bytes)?;
    let sample: Vec<FTensor> = fg
        .inputs
        .iter()
        .map(|&i| {
            let shape = fg.values[i].shape.clone();
            FTensor::new(shape.clone(), vec![1.0; shape.iter().product()])
        })
        .collect();
    let ranges = calibrate(&fg, &[sample], |_, _| {});
    quantize(&fg, &ranges, &ImportOptions::default()).map(|_| ())
}

#[test]
fn bad_fixture_files_give_clear_errors() {
    for f in ["bad/truncated.onnx", "bad/garbage.onnx"] {
        let e = import_any(&read(f)).unwrap_err();
        assert!(matches!(e, ImportError::Onnx(_)), "{f}: {e}");
        assert!(e.to_string().contains("not a valid ONNX model"), "{f}: {e}");
    }
    let e = import_any(&read("bad/unsupported_op.onnx")).unwrap_err().to_string();
    assert!(e.contains("'Det'") && e.contains("'my_det'"), "{e}");
    assert!(import_any(&[]).is_err());
}

#[test]
fn every_fixture_imports() {
    for m in MODELS {
        import_any(&read(&format!("{m}.onnx"))).unwrap_or_else(|e| panic!("{m}: {e}"));
    }
    let ops = zoo("");
    assert!(ops.len() >= 30, "{ops:?}");
    for m in ops {
        import_any(&read(&m)).unwrap_or_else(|e| panic!("{m}: {e}"));
    }
    for m in listed("rec", "") {
        import_any(&read(&m)).unwrap_or_else(|e| panic!("{m}: {e}"));
    }
    for m in zoo("bad/").into_iter().chain(listed("rec", "bad/")) {
        assert!(import_any(&read(&m)).is_err(), "{m} imports");
    }
}

/// Cases per property: the default keeps CI quick; `VERITY_FUZZ_CASES=N` runs a longer campaign.
fn cases(default: u32) -> u32 {
    std::env::var("VERITY_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(3000), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_onnx_never_panics(
        model in 0..MODELS.len(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = read(&format!("{}.onnx", MODELS[model]));
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        if let Some(c) = cut {
            bytes.truncate(c.index(bytes.len()));
        }
        let _ = import_any(&bytes);
    }

    /// The same on the op zoo and the recurrent zoo, valid and invalid models alike:
    /// mutations land in the new ops' attributes and constant inputs (pads, repeats,
    /// shapes, axes, exponents, recurrent weights, hidden sizes and directions).
    #[test]
    fn mutated_zoo_onnx_never_panics(
        model in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let names: Vec<String> =
            zoo("").into_iter().chain(zoo("bad/")).chain(listed("rec", "")).chain(listed("rec", "bad/")).collect();
        let mut bytes = read(&names[model.index(names.len())]);
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        if let Some(c) = cut {
            bytes.truncate(c.index(bytes.len()));
        }
        let _ = import_any(&bytes);
    }
}

/// The values of a one-input calibration file, back to back.
fn values(calibration: &[u8]) -> Vec<f64> {
    fn walk(v: &serde_json::Value, out: &mut Vec<f64>) {
        match v {
            serde_json::Value::Array(items) => items.iter().for_each(|x| walk(x, out)),
            x => out.push(x.as_f64().unwrap()),
        }
    }
    let v: serde_json::Value = serde_json::from_slice(calibration).unwrap();
    let mut out = Vec::new();
    walk(&v["input_data"], &mut out);
    out
}

/// A one-input calibration file as one list per `n` values.
fn nested(calibration: &[u8], n: usize) -> String {
    let flat = values(calibration);
    let samples: Vec<&[f64]> = flat.chunks(n).collect();
    serde_json::json!({ "input_data": [samples] }).to_string()
}

/// A one-input calibration file as one flat list (EZKL's form), whose samples nothing marks.
fn flat(calibration: &[u8]) -> String {
    serde_json::json!({ "input_data": [values(calibration)] }).to_string()
}

#[test]
fn a_calibration_file_of_another_model_names_expected_and_got() {
    let cnn = load_onnx(&read("cnn_digits.onnx")).unwrap();
    // LeNet-5's 32 samples of 784 values, one list each, for a model whose input has 64.
    let other = nested(&read("lenet5.calibration.json"), 784);
    let e = verity_import::calibration_samples(&cnn, &other).unwrap_err().to_string();
    assert!(e.contains("sample 0 has 784 values, the model's input has 64") && e.contains("another model"), "{e}");
    // Its own samples, one list each, are accepted: as many samples as lists.
    let own = nested(&read("cnn_digits.calibration.json"), 64);
    assert_eq!(verity_import::calibration_samples(&cnn, &own).unwrap().len(), 2048 / 64);
    // Samples written as rows (lists of 8) are whole fractions of a sample: accepted.
    let rows = nested(&read("cnn_digits.calibration.json"), 8);
    assert_eq!(verity_import::calibration_samples(&cnn, &rows).unwrap().len(), 2048 / 64);
    // Lists of 48 values (not a fraction of 64) are refused too.
    let e = verity_import::calibration_samples(&cnn, &nested(&read("cnn_digits.calibration.json"), 48)).unwrap_err();
    assert!(e.to_string().contains("sample 0 has 48 values"), "{e}");
}

#[test]
fn a_flat_calibration_list_is_read_with_a_warning_that_it_cannot_be_checked() {
    let cnn = load_onnx(&read("cnn_digits.onnx")).unwrap();
    // LeNet-5's 32 flat samples of 784 values read as 392 samples of 64: the case that no
    // check can catch, so it is named.
    let lenet = flat(&read("lenet5.calibration.json"));
    assert_eq!(verity_import::calibration_samples(&cnn, &lenet).unwrap().len(), 392);
    let w = verity_import::calibration_warnings(&cnn, &lenet);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("'input'") && w[0].contains("392 samples") && w[0].contains("cannot be checked"), "{}", w[0]);
    // One list per sample (as the fixtures are written) is checked, so nothing is left to
    // warn about; nor is one flat sample.
    assert!(
        verity_import::calibration_warnings(&cnn, &String::from_utf8(read("cnn_digits.calibration.json")).unwrap()).is_empty()
    );
    let one = format!("{{\"input_data\": [[{}]]}}", vec!["1.0"; 64].join(","));
    assert!(verity_import::calibration_warnings(&cnn, &one).is_empty());
}
