#!/usr/bin/env python3
"""Baseline CPU latency of onnxruntime on Verity's fixtures.

Usage:
    python bench/ort_bench.py --model fixtures/mlp_digits.onnx \
                              --input fixtures/mlp_digits.input.json [--model ... --input ...]
    python bench/ort_bench.py --fixtures-dir fixtures      # every NAME.onnx with NAME.input.json

The input json is EZKL form {"input_data": [[flat floats]]} (the first sample is
used, reshaped to the model's fixed input shape). For each model and each
intra-op thread count (default 1 and 2) a session is created with sequential
execution and all graph optimizations enabled; after a warmup, sess.run is
timed on a preallocated numpy input for a fixed time budget. One JSON object
is printed to stdout:

  {"onnxruntime_version": "...", "python_version": "...", "config": {...},
   "models": {"NAME": {"threads_1": {"median_us", "p10_us", "p90_us", "mean_us",
                                     "min_us", "iters"}, "threads_2": {...}}}}

Progress goes to stderr. Requires numpy and onnxruntime
(tools/fixtures/requirements.txt).
"""

import argparse
import glob
import json
import os
import platform
import sys
import time

import numpy as np
import onnxruntime as ort

_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64,
           "tensor(int64)": np.int64, "tensor(int32)": np.int32}


def load_input(sess, input_path):
    meta = sess.get_inputs()
    if len(meta) != 1:
        raise SystemExit(f"expected a single model input, got {len(meta)}")
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in meta[0].shape]
    with open(input_path) as f:
        data = json.load(f)["input_data"][0]
    n = int(np.prod(shape))
    if len(data) < n:
        raise SystemExit(f"{input_path}: {len(data)} values, model needs {n}")
    dtype = _DTYPES.get(meta[0].type, np.float32)
    arr = np.ascontiguousarray(np.asarray(data[:n], dtype=dtype).reshape(shape))
    return meta[0].name, arr


def bench_one(model_path, input_path, threads, seconds, warmup_s, max_iters):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    in_name, x = load_input(sess, input_path)
    feeds = {in_name: x}
    out_names = [o.name for o in sess.get_outputs()]
    run = sess.run

    t_end = time.perf_counter() + warmup_s
    warm = 0
    while warm < 10 or time.perf_counter() < t_end:
        run(out_names, feeds)
        warm += 1

    times = []
    clock = time.perf_counter_ns
    deadline = clock() + int(seconds * 1e9)
    while len(times) < max_iters:
        t0 = clock()
        run(out_names, feeds)
        t1 = clock()
        times.append(t1 - t0)
        if t1 >= deadline and len(times) >= 10:
            break
    us = np.asarray(times, dtype=np.float64) / 1e3
    return {
        "median_us": round(float(np.median(us)), 3),
        "p10_us": round(float(np.percentile(us, 10)), 3),
        "p90_us": round(float(np.percentile(us, 90)), 3),
        "mean_us": round(float(us.mean()), 3),
        "min_us": round(float(us.min()), 3),
        "iters": int(len(us)),
    }


def main():
    ap = argparse.ArgumentParser(description="onnxruntime CPU latency baseline")
    ap.add_argument("--model", action="append", default=[], help="ONNX model path")
    ap.add_argument("--input", action="append", default=[],
                    help="EZKL-style input json (one per --model, same order)")
    ap.add_argument("--fixtures-dir", help="directory with NAME.onnx + NAME.input.json")
    ap.add_argument("--threads", default="1,2", help="comma-separated intra-op threads")
    ap.add_argument("--seconds", type=float, default=1.5, help="time budget per config")
    ap.add_argument("--warmup", type=float, default=0.2, help="warmup seconds per config")
    ap.add_argument("--max-iters", type=int, default=200000)
    args = ap.parse_args()

    if len(args.model) != len(args.input):
        ap.error("--model and --input must be given the same number of times")
    pairs = list(zip(args.model, args.input))
    if args.fixtures_dir:
        for m in sorted(glob.glob(os.path.join(args.fixtures_dir, "*.onnx"))):
            inp = m[: -len(".onnx")] + ".input.json"
            if os.path.exists(inp):
                pairs.append((m, inp))
    if not pairs:
        ap.error("no models given (use --model/--input or --fixtures-dir)")
    threads = [int(t) for t in args.threads.split(",") if t.strip()]

    result = {
        "onnxruntime_version": ort.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "config": {"execution_mode": "sequential", "graph_optimization": "all",
                   "seconds_per_config": args.seconds, "warmup_seconds": args.warmup,
                   "api": "InferenceSession.run"},
        "models": {},
    }
    for model_path, input_path in pairs:
        name = os.path.basename(model_path)
        if name.endswith(".onnx"):
            name = name[: -len(".onnx")]
        entry = {}
        for t in threads:
            print(f"bench {name} threads={t} ...", file=sys.stderr, flush=True)
            entry[f"threads_{t}"] = bench_one(model_path, input_path, t, args.seconds,
                                              args.warmup, args.max_iters)
        result["models"][name] = entry
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
