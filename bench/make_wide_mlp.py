#!/usr/bin/env python3
"""Writes a wide random-weight MLP (784-1024-1024-10, ~1.8M parameters) as ONNX with a
calibration file, for measuring costs that grow with model size (e.g. the trace
commitment overhead) beyond the small committed fixtures.

    .venv-fixtures/bin/python bench/make_wide_mlp.py OUT_DIR
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)
dims = [784, 1024, 1024, 10]
nodes, inits, prev = [], [], "input"
for i, (a, b) in enumerate(zip(dims, dims[1:])):
    w = (rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32)
    inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(np.zeros(b, np.float32), f"b{i}")]
    nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [f"h{i}"]))
    prev = f"h{i}"
    if i < len(dims) - 2:
        nodes.append(helper.make_node("Relu", [prev], [f"r{i}"]))
        prev = f"r{i}"
nodes[-1].output[0] = "output"
graph = helper.make_graph(nodes, "wide_mlp", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 784])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 10])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, os.path.join(out, "wide_mlp.onnx"))
x = rng.standard_normal((16, 784)).astype(np.float32)
with open(os.path.join(out, "wide_mlp.calibration.json"), "w") as f:
    json.dump({"input_data": [x.round(4).tolist()]}, f)
with open(os.path.join(out, "wide_mlp.input.json"), "w") as f:
    json.dump({"input_data": [x[0].round(4).tolist()]}, f)
