#!/usr/bin/env python3
"""Verity's engine against onnxruntime (float) on the same models, in one run.

    python3 bench/compare.py [--seconds 2] [--models mlp_digits,cnn_digits,...]

Builds the release CLI, imports each fixture ONNX model (int8 activations), times
`verity bench` (1 and 2 threads) and onnxruntime through bench/ort_bench.py (1 and 2
intra-op threads) on the same input, and prints a table of medians and ratios
(ratio = onnxruntime median / Verity median: above 1 means Verity is faster).

onnxruntime is timed from Python, so its figures include the cost of a Python call
into sess.run; the `identity` row (a one-op ONNX model) measures that floor, and the
`ort-floor` column subtracts it. Needs the Python packages of
tools/fixtures/requirements.txt; a venv at .venv-fixtures is created if missing.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv-fixtures")
PY = os.path.join(VENV, "bin", "python")
MODELS = ["mlp_digits", "cnn_digits", "mlp_cancer", "iris_logreg", "transformer_block", "ops_zoo"]


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, stdout=subprocess.PIPE, cwd=ROOT, **kw).stdout


def ensure_venv():
    if not os.path.exists(PY):
        print("creating .venv-fixtures ...", file=sys.stderr)
        sh(sys.executable, "-m", "venv", VENV)
        sh(PY, "-m", "pip", "install", "-q", "-r", "tools/fixtures/requirements.txt")


def identity_model(path):
    code = (
        "import onnx, onnx.helper as h, sys\n"
        "x = h.make_tensor_value_info('input', onnx.TensorProto.FLOAT, [1, 4])\n"
        "y = h.make_tensor_value_info('output', onnx.TensorProto.FLOAT, [1, 4])\n"
        "g = h.make_graph([h.make_node('Identity', ['input'], ['output'])], 'id', [x], [y])\n"
        "m = h.make_model(g, opset_imports=[h.make_opsetid('', 17)]); m.ir_version = 8\n"
        "onnx.save(m, sys.argv[1])\n"
    )
    sh(PY, "-c", code, path)
    with open(path + ".json", "w") as f:
        json.dump({"input_data": [[0.0, 1.0, 2.0, 3.0]]}, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--json", help="also write all raw figures to this file")
    args = ap.parse_args()
    models = args.models.split(",")
    ensure_venv()
    print("building release CLI ...", file=sys.stderr)
    sh("cargo", "build", "--release", "--locked", "-q", "-p", "verity-cli")
    verity = os.path.join(ROOT, "target", "release", "verity")
    tmp = tempfile.mkdtemp(prefix="verity-bench-")
    fx = os.path.join(ROOT, "fixtures")
    ours = {}
    for m in models:
        vrt = os.path.join(tmp, m + ".vrt")
        sh(verity, "import", f"{fx}/{m}.onnx", "--calibration", f"{fx}/{m}.calibration.json", "-o", vrt)
        print(f"verity bench {m} ...", file=sys.stderr)
        ours[m] = json.loads(sh(verity, "bench", vrt, "--input", f"{fx}/{m}.input.json", "--threads", "2", "--seconds", str(args.seconds)))
    ident = os.path.join(tmp, "identity.onnx")
    identity_model(ident)
    ort_args = [PY, "bench/ort_bench.py", "--threads", "1,2", "--seconds", str(args.seconds), "--model", ident, "--input", ident + ".json"]
    for m in models:
        ort_args += ["--model", f"{fx}/{m}.onnx", "--input", f"{fx}/{m}.input.json"]
    print("onnxruntime ...", file=sys.stderr)
    theirs = json.loads(sh(*ort_args))
    floor = {t: theirs["models"]["identity"][f"threads_{t}"]["median_us"] for t in (1, 2)}
    print(f"\nonnxruntime {theirs.get('onnxruntime_version')}; Python call floor (identity model): "
          f"{floor[1]:.2f} us (1 thread), {floor[2]:.2f} us (2 threads)\n")
    print("| model | threads | verity median us | onnxruntime median us | ratio ort/verity | ort-floor | ratio (ort-floor)/verity |")
    print("|---|---|---|---|---|---|---|")
    for m in models:
        for t in (1, 2):
            v = ours[m]["engine"][f"threads_{t}"]["median_us"]
            o = theirs["models"][m][f"threads_{t}"]["median_us"]
            print(f"| {m} | {t} | {v:.2f} | {o:.2f} | {o / v:.2f} | {o - floor[t]:.2f} | {(o - floor[t]) / v:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"verity": ours, "onnxruntime": theirs}, f, indent=1)


if __name__ == "__main__":
    main()
