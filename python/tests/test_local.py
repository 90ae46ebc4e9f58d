"""Local import, run, prove and verify on the committed fixtures."""

from __future__ import annotations

import json

import numpy as np
import pytest

import verity
from conftest import fx, pinned_id, sample

CNN = pinned_id("cnn_digits")


@pytest.fixture(scope="module")
def cnn() -> verity.Model:
    return verity.load(fx("cnn_digits.vrt"))


def test_import_gives_the_pinned_model(tmp_path):
    out = tmp_path / "cnn.vrt"
    m = verity.import_onnx(fx("cnn_digits.onnx"), fx("cnn_digits.calibration.json"), out)
    assert m.id == CNN
    assert out.read_bytes() == fx("cnn_digits.vrt").read_bytes() == m.to_bytes()
    # A calibration document given as a dict of arrays imports the same model.
    cal = json.loads(fx("cnn_digits.calibration.json").read_text())
    m2 = verity.import_onnx(fx("cnn_digits.onnx"), {"input_data": [np.asarray(cal["input_data"][0])]})
    assert m2.id == CNN
    assert m.inputs == [("input", [1, 1, 8, 8], 8, pytest.approx(m.inputs[0][3]))]
    assert [o[:2] for o in m.outputs] == [("output", [1, 10])]


def test_a_flat_calibration_list_warns_that_it_cannot_be_checked():
    import warnings

    cal = json.loads(fx("cnn_digits.calibration.json").read_text())
    flat = {"input_data": [np.asarray(cal["input_data"][0]).ravel()]}
    with pytest.warns(verity.CalibrationWarning, match="read as 32 samples"):
        assert verity.import_onnx(fx("cnn_digits.onnx"), flat).id == CNN
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one list per sample: checked, no warning
        verity.import_onnx(fx("cnn_digits.onnx"), fx("cnn_digits.calibration.json"))
    # LeNet-5's samples, one list each, are refused for a model whose input has 64 values.
    with pytest.raises(verity.InputError, match="sample 0 has 784 values"):
        verity.import_onnx(fx("cnn_digits.onnx"), fx("lenet5.calibration.json"))


def test_import_errors_name_the_problem(tmp_path):
    with pytest.raises(verity.FileError, match="does not exist"):
        verity.import_onnx(fx("cnn_digits.onnx"), fx("cnn_digits.calibration.json"), tmp_path / "missing" / "x.vrt")
    assert not (tmp_path / "missing").exists()
    with pytest.raises(verity.FileError, match="cannot read ONNX model"):
        verity.import_onnx(tmp_path / "nope.onnx", fx("cnn_digits.calibration.json"))
    with pytest.raises(verity.InputError, match="my_det"):
        verity.import_onnx(fx("bad/unsupported_op.onnx"), fx("cnn_digits.calibration.json"))
    with pytest.raises(verity.InputError, match="bits must be 8 or 16"):
        verity.import_onnx(fx("cnn_digits.onnx"), fx("cnn_digits.calibration.json"), bits=4)


def test_run_matches_the_float_model_and_every_input_form_agrees(cnn):
    test = json.loads(fx("cnn_digits.test.json").read_text())
    inputs = np.asarray(test["inputs"], dtype=np.float64)
    preds = [int(np.argmax(verity.run(cnn, x.reshape(1, 1, 8, 8))["output"])) for x in inputs]
    accuracy = float(np.mean(np.asarray(preds) == np.asarray(test["labels"])))
    assert accuracy >= test["float_accuracy"] - 0.03, (accuracy, test["float_accuracy"])
    # Quantized logits stay near onnxruntime's float logits.
    got = np.stack([verity.run(cnn, x)["output"].ravel() for x in inputs[:20]])
    ort = np.asarray(test["ort_outputs"][:20])
    # (int8 activations: the mean error is a few output steps of 0.15; a rare element is off by more)
    assert np.mean(np.abs(got - ort)) < 0.05 * np.max(np.abs(ort))

    x = sample("cnn_digits")
    base = verity.execute(cnn, x)
    assert base.model_id == CNN and base.outputs["output"].shape == (1, 10)
    doc = fx("cnn_digits.input.json")
    forms = [
        x.reshape(1, 1, 8, 8),
        x.reshape(8, 8),
        x.tolist(),
        [x],
        {"input": x},
        doc,
        str(doc),
        doc.read_text(),
        x.astype(np.float32),
    ]
    for form in forms:
        e = verity.execute(cnn, form)
        assert (e.input_hash, e.output_hash, e.trace_root) == (base.input_hash, base.output_hash, base.trace_root)
        assert np.array_equal(e.outputs["output"], base.outputs["output"])
    ref = verity.execute(cnn, x, reference=True)
    assert (ref.output_hash, ref.trace_root) == (base.output_hash, base.trace_root)
    assert verity.execute(fx("cnn_digits.vrt"), x).output_hash == base.output_hash


def test_bad_inputs_raise_input_errors(cnn, tmp_path):
    x = sample("cnn_digits")
    cases = [
        (x[:10], "expects \\[1, 1, 8, 8\\]"),
        (x.reshape(4, 16), "shape \\[4, 16\\]"),
        (np.where(np.arange(64) == 3, np.nan, x), "NaN"),
        ({"pixels": x}, "missing \\['input'\\]"),
        ({"input": x, "extra": x}, "not model inputs"),
        ([["a"] * 64], "not an array of numbers"),
        ('{"input_data": [[1, 2]]}', "64"),
        ("{not json", "not valid JSON"),
    ]
    for bad, needle in cases:
        with pytest.raises(verity.InputError, match=needle):
            verity.run(cnn, bad)
    with pytest.raises(verity.FileError):
        verity.run(cnn, tmp_path / "missing.json")
    with pytest.raises(verity.InputError, match="import_onnx"):
        verity.run(fx("cnn_digits.onnx"), x)
    with pytest.raises(verity.FileError):
        verity.load(tmp_path / "missing.vrt")
    # Every class is a VerityError, and the standard library's category too.
    assert issubclass(verity.InputError, ValueError) and issubclass(verity.FileError, OSError)
    assert all(issubclass(c, verity.VerityError) for c in (verity.InvalidEvidence, verity.NetworkError, verity.NodeError))


def test_prove_and_verify(cnn, tmp_path):
    x = sample("cnn_digits")
    out = tmp_path / "p.vrtz"
    proof = verity.prove(cnn, x, out)
    assert out.read_bytes() == proof
    ran = verity.execute(cnn, x)
    for p in (proof, out, str(out)):
        check = verity.verify_proof(p, cnn, input=x)
        assert (check.model_id, check.input_hash, check.output_hash) == (CNN, ran.input_hash, ran.output_hash)
        assert np.array_equal(check.outputs["output"], ran.outputs["output"])
    assert verity.verify_proof(proof, cnn).output_hash == ran.output_hash  # no input: what it proves

    other = x.copy()
    other[10] += 5.0
    with pytest.raises(verity.InvalidEvidence, match="another input"):
        verity.verify_proof(proof, cnn, input=other)
    with pytest.raises(verity.InvalidEvidence, match="is for model"):
        verity.verify_proof(proof, fx("mlp_digits.vrt"))
    with pytest.raises(verity.InvalidEvidence):
        verity.verify_proof(proof[: len(proof) // 2], cnn)
    # A flipped bit anywhere — header, statement or proof body — is refused.
    rng = np.random.default_rng(15)
    for pos in [0, 40, 100, 300, *rng.integers(0, len(proof), 12).tolist(), len(proof) - 1]:
        bad = bytearray(proof)
        bad[pos] ^= 1 << int(rng.integers(0, 8))
        with pytest.raises(verity.InvalidEvidence):
            verity.verify_proof(bytes(bad), cnn)
    with pytest.raises(verity.FileError):
        verity.prove(cnn, x, tmp_path / "missing" / "p.vrtz")

    # The verifying key alone (no weights) checks the same proof, and refuses the same lies.
    vk = tmp_path / "cnn.vk"
    key = verity.keygen(cnn, vk)
    assert (key.model_id, [i[0] for i in key.inputs]) == (CNN, ["input"])
    assert verity.VerifyingKey.load(vk).vk_id == key.vk_id
    for k in (key, vk, str(vk), verity.VerifyingKey.from_bytes(key.to_bytes())):
        check = verity.verify_proof(proof, k, input=x)
        assert (check.model_id, check.input_hash, check.output_hash) == (CNN, ran.input_hash, ran.output_hash)
        assert np.array_equal(check.outputs["output"], ran.outputs["output"])
    with pytest.raises(verity.InvalidEvidence, match="another input"):
        verity.verify_proof(proof, key, input=other)
    with pytest.raises(verity.InvalidEvidence, match="the verifying key for"):
        verity.verify_proof(proof, verity.keygen(fx("mlp_digits.vrt")))
    for pos in [0, 100, len(proof) // 2, len(proof) - 1]:
        bad = bytearray(proof)
        bad[pos] ^= 4
        with pytest.raises(verity.InvalidEvidence):
            verity.verify_proof(bytes(bad), key)
    junk = tmp_path / "junk.vk"
    junk.write_bytes(b"not a key")
    with pytest.raises(verity.InputError, match="not a verifying key"):
        verity.verify_proof(proof, junk)


def test_inputs_outside_the_calibrated_range_warn(cnn):
    import warnings

    x = sample("cnn_digits")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a calibrated-range input: no warning
        verity.run(cnn, x)
        verity.prove(cnn, x)
    far = x * 100.0
    with pytest.warns(verity.ClampWarning, match="input 'input': .* clamped") as w:
        outputs = verity.run(cnn, far)
    assert len(w) == 1
    # Clamping is what every party does: every nonzero pixel saturates, at 100x as at 1000x.
    with pytest.warns(verity.ClampWarning):
        farther = verity.run(cnn, x * 1000.0)
    assert np.array_equal(outputs["output"], farther["output"])
    with pytest.warns(verity.ClampWarning):
        verity.prove(cnn, far)
