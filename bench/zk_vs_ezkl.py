#!/usr/bin/env python3
"""Side-by-side zero-knowledge proving benchmark: Verity vs EZKL.

Usage (from the repository root; only the Python standard library is needed to
start it, EZKL is installed into its own venv):

    cargo build --release -p verity-cli
    python3 bench/zk_vs_ezkl.py                        # lenet5 and mlp_90k
    python3 bench/zk_vs_ezkl.py --models mlp_90k --verity-prove-runs 5 --json out.json
    python3 bench/zk_vs_ezkl.py --skip-ezkl            # only Verity (no venv needed)

On first use it creates `.venv-ezkl/` (gitignored) and pip-installs the pinned
`bench/requirements-ezkl.txt` from PyPI. That is the only network use: every
EZKL step then runs on local files only, and where possible (root and
`unshare` available) inside a fresh network namespace that has no network at
all (`--no-netns` turns that off).

For each model NAME (fixtures/NAME.onnx, NAME.calibration.json, NAME.input.json,
NAME.vrt) it runs:

EZKL (Halo2 + KZG), each step in a fresh child process:
    gen_settings -> calibrate_settings (with NAME.calibration.json) ->
    compile_circuit -> gen_srs (logrows from the calibrated settings) ->
    setup (pk, vk) -> gen_witness -> prove (x --ezkl-prove-runs) ->
    verify (x --verify-runs)
  The SRS is generated LOCALLY with ezkl.gen_srs; ezkl.get_srs (which
  downloads a published SRS) is never called. A locally generated SRS is not
  the output of a secure ceremony (whoever ran gen_srs knows the toxic waste,
  so these proofs are not sound against us), but it has the same size and
  structure, so setup / prove / verify timings are the same as with a
  ceremony SRS. Defaults follow EZKL's own defaults: public input, public
  output, fixed (circuit-baked) parameters, calibrate target "resources".

Verity (the release CLI, --verity; default target/release/verity):
    verity prove fixtures/NAME.vrt --input fixtures/NAME.input.json -o OUT.proof
                                                    (x --verity-prove-runs)
    verity verify --proof OUT.proof --model fixtures/NAME.vrt   (x --verify-runs)
    verity bench fixtures/NAME.vrt --input fixtures/NAME.input.json
                                        (plain inference, for the overhead factor)
  Verity's proofs are transparent: there is no trusted setup and no SRS; its
  key derivation happens inside prove and verify and is timed with them (when
  prove / verify have `--json`, it is passed and their own in-process split,
  key_ms / prove_ms / verify_ms, is shown next to the wall times). If
  the binary has no `prove` subcommand, the EZKL side still runs and Verity's
  columns say "verity prove not available".

Measured per step: wall time (EZKL: of the ezkl call itself, inside the child,
so Python start-up and `import ezkl` are excluded; Verity: of the whole
process) and peak resident memory of the child process (`/usr/bin/time`'s
maximum RSS when present, otherwise getrusage(RUSAGE_CHILDREN) in a fresh
wrapper process per step). Reported: circuit preparation (EZKL only), setup
(SRS generation and key generation separately), proving time (median),
verifying time (median), proof size in bytes (EZKL: the raw proof bytes, i.e.
`proof` in proof.json, without the public instances; the proof.json size is
shown too), peak memory of prove, pk/vk/SRS sizes, and how far each system's
output is from the float model (onnxruntime outputs in NAME.test.json).

Output: one markdown table per model with ratios EZKL/Verity, printed and
written to bench/results/zk_vs_ezkl.md (--md); --json PATH dumps everything.
Large intermediates (EZKL pk, SRS) live in bench/results/work/ and are deleted
at the end unless --keep-artifacts. bench/results/ is gitignored.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv-ezkl")
REQUIREMENTS = os.path.join(ROOT, "bench", "requirements-ezkl.txt")
RESULTS = os.path.join(ROOT, "bench", "results")
FIXTURES = os.path.join(ROOT, "fixtures")
TIME_BIN = "/usr/bin/time"


# --------------------------------------------------------------------------
# child modes (run in fresh processes)
# --------------------------------------------------------------------------

def child_ezkl_step(step, args_path, result_path):
    """Run one EZKL step; write {"ok", "seconds", ...} to result_path."""
    import asyncio
    import inspect

    import ezkl

    with open(args_path) as f:
        a = json.load(f)

    def done(x):
        # Some EZKL releases return awaitables from a few calls.
        return asyncio.run(x) if inspect.isawaitable(x) else x

    t0 = time.perf_counter()
    extra = {}
    if step == "gen_settings":
        ra = ezkl.PyRunArgs()
        ra.input_visibility = a["input_visibility"]
        ra.output_visibility = a["output_visibility"]
        ra.param_visibility = a["param_visibility"]
        ok = done(ezkl.gen_settings(a["onnx"], a["settings"], py_run_args=ra))
    elif step == "calibrate_settings":
        ok = done(ezkl.calibrate_settings(a["calibration"], a["onnx"], a["settings"],
                                          a["target"]))
    elif step == "compile_circuit":
        ok = done(ezkl.compile_circuit(a["onnx"], a["compiled"], a["settings"]))
    elif step == "gen_srs":
        # Local, insecure-but-equivalent SRS. Never ezkl.get_srs (downloads).
        done(ezkl.gen_srs(a["srs"], a["logrows"]))
        ok = os.path.exists(a["srs"])
    elif step == "setup":
        ok = done(ezkl.setup(a["compiled"], a["vk"], a["pk"], srs_path=a["srs"]))
    elif step == "gen_witness":
        ok = done(ezkl.gen_witness(a["input"], a["compiled"], a["witness"])) is not None
    elif step == "prove":
        ok = done(ezkl.prove(a["witness"], a["compiled"], a["pk"], a["proof"],
                             a["srs"])) is not None
    elif step == "verify":
        ok = done(ezkl.verify(a["proof"], a["settings"], a["vk"], a["srs"], False))
    else:
        raise SystemExit(f"unknown ezkl step {step}")
    extra["seconds"] = time.perf_counter() - t0
    with open(result_path, "w") as f:
        json.dump({"ok": bool(ok), **extra}, f)
    if not ok:
        print(f"ezkl.{step} returned {ok!r}", file=sys.stderr)
        sys.exit(3)


def child_rusage(out_path, cmd):
    """Fallback for /usr/bin/time: run cmd, record wall time and peak RSS (KB)."""
    import resource
    t0 = time.perf_counter()
    rc = subprocess.call(cmd)
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KB on Linux
    with open(out_path, "w") as f:
        f.write(f"{wall:.3f} {rss}\n")
    sys.exit(rc)


# --------------------------------------------------------------------------
# measuring child processes
# --------------------------------------------------------------------------

class StepError(Exception):
    pass


class Runner:
    def __init__(self, use_time_bin, netns, timeout, verbose=True):
        self.use_time_bin = use_time_bin
        self.netns = netns
        self.timeout = timeout
        self.verbose = verbose

    def run(self, label, cmd, cwd, env=None, isolate=False):
        """Run cmd in a fresh process; returns {"wall", "rss_kb", "stdout", "stderr"}.

        Raises StepError (with the tail of stderr) on a non-zero exit.
        """
        os.makedirs(cwd, exist_ok=True)
        mfile = os.path.join(cwd, ".measure")
        if os.path.exists(mfile):
            os.remove(mfile)
        inner = list(cmd)
        if isolate and self.netns:
            inner = ["unshare", "--net"] + inner
        if self.use_time_bin:
            full = [TIME_BIN, "-f", "%e %M", "-o", mfile] + inner
        else:
            full = [sys.executable, os.path.abspath(__file__), "--_rusage", mfile, "--"] + inner
        if self.verbose:
            print(f"    {label} ...", end="", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        # Own process group, so that a timeout ends the whole step (time, unshare,
        # python) and nothing else.
        p = subprocess.Popen(full, cwd=cwd, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            stdout, stderr = p.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            stdout, stderr = p.communicate()
            if self.verbose:
                print(" TIMEOUT", file=sys.stderr)
            raise StepError(f"{label}: timed out after {self.timeout} s\n"
                            f"command: {' '.join(cmd)}\n--- stderr (tail) ---\n"
                            f"{tail(stderr)}")
        wall = time.perf_counter() - t0
        p = subprocess.CompletedProcess(full, p.returncode, stdout, stderr)
        rss_kb = None
        if os.path.exists(mfile):
            with open(mfile) as f:
                lines = [ln for ln in f.read().splitlines() if ln.strip()]
            try:
                rss_kb = int(lines[-1].split()[1])
            except (IndexError, ValueError):
                pass
        for name, text in (("stdout", p.stdout), ("stderr", p.stderr)):
            with open(os.path.join(cwd, f"{safe(label)}.{name}.log"), "w") as f:
                f.write(text or "")
        if p.returncode != 0:
            if self.verbose:
                print(" FAILED", file=sys.stderr)
            raise StepError(f"{label}: exit code {p.returncode}\n"
                            f"command: {' '.join(cmd)}\n"
                            f"--- stderr (tail) ---\n{tail(p.stderr)}\n"
                            f"--- stdout (tail) ---\n{tail(p.stdout, 15)}")
        if self.verbose:
            mem = f", {rss_kb / 1024:.0f} MiB" if rss_kb else ""
            print(f" {wall:.2f} s{mem}", file=sys.stderr)
        return {"wall": wall, "rss_kb": rss_kb, "stdout": p.stdout, "stderr": p.stderr}


def tail(text, n=40):
    if not text:
        return "(empty)"
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    lines = text.rstrip().splitlines()
    return "\n".join(lines[-n:])


def safe(label):
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in label)


def median(xs):
    return statistics.median(xs) if xs else None


# --------------------------------------------------------------------------
# EZKL venv
# --------------------------------------------------------------------------

def pinned_ezkl_version():
    with open(REQUIREMENTS) as f:
        for ln in f:
            ln = ln.split("#")[0].strip()
            if ln.lower().startswith("ezkl=="):
                return ln.split("==", 1)[1].strip()
    raise SystemExit(f"{REQUIREMENTS}: no ezkl==VERSION line")


def ensure_venv(python):
    py = os.path.join(VENV, "bin", "python")
    want = pinned_ezkl_version()
    if not os.path.exists(py):
        print(f"creating {VENV} with {python}", file=sys.stderr)
        subprocess.check_call([python, "-m", "venv", VENV])
    probe = subprocess.run(
        [py, "-c", "import importlib.metadata as m; print(m.version('ezkl'))"],
        capture_output=True, text=True)
    have = probe.stdout.strip() if probe.returncode == 0 else None
    if have != want:
        print(f"installing ezkl=={want} into {VENV} (have: {have})", file=sys.stderr)
        subprocess.check_call([py, "-m", "pip", "install", "-q", "--upgrade", "pip"])
        subprocess.check_call([py, "-m", "pip", "install", "-q", "-r", REQUIREMENTS])
    return py, want


def netns_available():
    if shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run(["unshare", "--net", "true"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# --------------------------------------------------------------------------
# the two systems
# --------------------------------------------------------------------------

def float_reference(name):
    """onnxruntime output for NAME.input.json (it is test.json's first input)."""
    try:
        with open(os.path.join(FIXTURES, f"{name}.test.json")) as f:
            test = json.load(f)
        with open(os.path.join(FIXTURES, f"{name}.input.json")) as f:
            inp = json.load(f)["input_data"][0]
    except (OSError, KeyError, ValueError):
        return None
    for x, y in zip(test["inputs"], test["ort_outputs"]):
        if x == inp:
            return y
    return None


def max_abs_err(a, b):
    if a is None or b is None or len(a) != len(b):
        return None
    return max(abs(float(x) - float(y)) for x, y in zip(a, b))


def argmax(v):
    return max(range(len(v)), key=lambda i: v[i]) if v else None


def flat_calibration(name, work):
    """EZKL reads one flat list per input: the fixture's samples (one list each) joined."""
    with open(os.path.join(FIXTURES, f"{name}.calibration.json")) as f:
        doc = json.load(f)
    flat = {"input_data": [[v for sample in inp for v in (sample if isinstance(sample, list) else [sample])]
                           for inp in doc["input_data"]]}
    path = os.path.join(work, "calibration.json")
    with open(path, "w") as f:
        json.dump(flat, f)
    return path


def bench_ezkl(name, args, runner, py, work, out):
    onnx_path = os.path.join(FIXTURES, f"{name}.onnx")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    env = dict(os.environ)
    env["EZKL_REPO_PATH"] = os.path.join(work, "ezkl-home")  # ezkl's caches stay here
    f = {k: os.path.join(work, v) for k, v in {
        "settings": "settings.json", "compiled": "model.compiled", "vk": "vk.key",
        "pk": "pk.key", "witness": "witness.json", "proof": "proof.json"}.items()}
    base = dict(f, onnx=onnx_path,
                calibration=flat_calibration(name, work),
                input=os.path.join(FIXTURES, f"{name}.input.json"),
                target=args.ezkl_target,
                input_visibility=args.input_visibility,
                output_visibility=args.output_visibility,
                param_visibility=args.param_visibility)
    me = os.path.abspath(__file__)
    out["steps"] = {}

    def step(step_name, label=None, **more):
        a = dict(base, **more)
        apath = os.path.join(work, f".{step_name}.args.json")
        rpath = os.path.join(work, f".{step_name}.result.json")
        with open(apath, "w") as fh:
            json.dump(a, fh)
        if os.path.exists(rpath):
            os.remove(rpath)
        m = runner.run(label or f"ezkl {step_name}",
                       [py, me, "--_ezkl-step", step_name, apath, rpath],
                       cwd=work, env=env, isolate=True)
        with open(rpath) as fh:
            r = json.load(fh)
        return {"seconds": r["seconds"], "process_wall": m["wall"], "rss_kb": m["rss_kb"]}

    s = out["steps"]
    s["gen_settings"] = step("gen_settings")
    s["calibrate_settings"] = step("calibrate_settings")
    s["compile_circuit"] = step("compile_circuit")
    out["prep_seconds"] = sum(s[k]["seconds"] for k in
                              ("gen_settings", "calibrate_settings", "compile_circuit"))
    with open(f["settings"]) as fh:
        settings = json.load(fh)
    ra = settings["run_args"]
    logrows = int(ra["logrows"])
    srs = os.path.join(work, f"kzg{logrows}.srs")
    base["srs"] = srs
    out["settings"] = {
        "logrows": logrows, "num_rows": settings.get("num_rows"),
        "input_scale": ra.get("input_scale"), "param_scale": ra.get("param_scale"),
        "input_visibility": ra.get("input_visibility"),
        "output_visibility": ra.get("output_visibility"),
        "param_visibility": ra.get("param_visibility"),
        "calibrate_target": args.ezkl_target,
        "required_lookups": settings.get("required_lookups"),
        "required_range_checks": settings.get("required_range_checks"),
    }
    print(f"    (logrows {logrows}, {settings.get('num_rows')} rows)", file=sys.stderr)
    try:
        s["gen_srs"] = step("gen_srs", logrows=logrows)
        out["srs_seconds"] = s["gen_srs"]["seconds"]
        out["srs_bytes"] = os.path.getsize(srs)
        s["setup"] = step("setup")
        out.update(setup_seconds=s["setup"]["seconds"],
                   setup_peak_rss_kb=s["setup"]["rss_kb"],
                   pk_bytes=os.path.getsize(f["pk"]), vk_bytes=os.path.getsize(f["vk"]))
        s["gen_witness"] = step("gen_witness")
        out["witness_seconds"] = s["gen_witness"]["seconds"]
        with open(f["witness"]) as fh:
            wit = json.load(fh)
        try:
            ez_out = [float(v) for v in wit["pretty_elements"]["rescaled_outputs"][0]]
        except (KeyError, IndexError, TypeError, ValueError):
            ez_out = None
        ref = float_reference(name)
        out.update(output=ez_out, output_max_abs_err_vs_float=max_abs_err(ez_out, ref),
                   argmax_matches_float=None if ez_out is None or ref is None
                   else argmax(ez_out) == argmax(ref))

        proves = s["prove"] = []
        for i in range(args.ezkl_prove_runs):
            proves.append(step("prove", f"ezkl prove {i + 1}/{args.ezkl_prove_runs}"))
        with open(f["proof"]) as fh:
            proof = json.load(fh)
        if isinstance(proof.get("proof"), list):
            proof_bytes = len(proof["proof"])
        else:
            hx = proof.get("hex_proof") or ""
            proof_bytes = (len(hx) - 2) // 2 if hx.startswith("0x") else None
        out.update({
            "prove_seconds": median([r["seconds"] for r in proves]),
            "prove_runs": [r["seconds"] for r in proves],
            "prove_peak_rss_kb": max_or_none([r["rss_kb"] for r in proves]),
            "proof_bytes": proof_bytes,
            "proof_json_bytes": os.path.getsize(f["proof"]),
            "public_instances": sum(len(x) for x in proof.get("instances") or []),
        })

        verifies = s["verify"] = []
        for i in range(args.verify_runs):
            verifies.append(step("verify", f"ezkl verify {i + 1}/{args.verify_runs}"))
        out.update({
            "verify_seconds": median([r["seconds"] for r in verifies]),
            "verify_runs": [r["seconds"] for r in verifies],
            "verify_peak_rss_kb": max_or_none([r["rss_kb"] for r in verifies]),
        })
    finally:
        if not args.keep_artifacts:
            for p in (f["pk"], srs, f["compiled"]):
                if os.path.exists(p):
                    os.remove(p)
            shutil.rmtree(env["EZKL_REPO_PATH"], ignore_errors=True)


def max_or_none(xs):
    xs = [x for x in xs if x is not None]
    return max(xs) if xs else None


def verity_help(verity, sub):
    """`verity SUB --help` text, or None if the subcommand does not exist."""
    try:
        p = subprocess.run([verity, sub, "--help"], capture_output=True, text=True,
                           timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.stdout if p.returncode == 0 else None


def verity_has(verity, sub):
    return verity_help(verity, sub) is not None


def json_field(stdout, key):
    """A number from the JSON object a `--json` run printed, or None."""
    try:
        v = json.loads(stdout)[key]
    except (ValueError, KeyError, TypeError):
        return None
    return float(v) if isinstance(v, (int, float)) else None


def bench_verity(name, args, runner, work, out):
    verity = args.verity
    vrt = os.path.join(FIXTURES, f"{name}.vrt")
    inp = os.path.join(FIXTURES, f"{name}.input.json")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    # Plain inference, for the proving overhead factor.
    if verity_has(verity, "bench"):
        m = runner.run("verity bench", [verity, "bench", vrt, "--input", inp,
                                        "--seconds", str(args.bench_seconds)], cwd=work)
        b = json.loads(m["stdout"])
        eng = b.get("engine", {})
        per = {k: v["median_us"] for k, v in eng.items() if isinstance(v, dict)
               and "median_us" in v}
        out["inference_us"] = per
        out["inference_best_us"] = min(per.values()) if per else None
        out["inference_source"] = "verity bench (engine median)"
    else:
        m = runner.run("verity run", [verity, "run", vrt, "--input", inp], cwd=work)
        out["inference_us"] = {"process": m["wall"] * 1e6}
        out["inference_best_us"] = m["wall"] * 1e6
        out["inference_source"] = "verity run wall time (whole process; bench unavailable)"
    try:
        m = runner.run("verity run --json", [verity, "run", vrt, "--input", inp, "--json"],
                       cwd=work)
        v_out = [float(x) for x in json.loads(m["stdout"])["outputs"][0]]
    except (StepError, KeyError, IndexError, ValueError, TypeError):
        v_out = None
    ref = float_reference(name)
    out["output"] = v_out
    out["output_max_abs_err_vs_float"] = max_abs_err(v_out, ref)
    out["argmax_matches_float"] = (None if v_out is None or ref is None
                                   else argmax(v_out) == argmax(ref))

    prove_help = verity_help(verity, "prove")
    if prove_help is None:
        out["available"] = False
        out["reason"] = "verity prove not available"
        print(f"    verity prove not available ({verity})", file=sys.stderr)
        return
    out["available"] = True
    proof = os.path.join(work, f"{name}.proof")
    # With --json (where the CLI has it) the run also reports its own split into
    # key derivation and proving, measured inside the process.
    pj = ["--json"] if "--json" in prove_help else []
    vj = ["--json"] if "--json" in (verity_help(verity, "verify") or "") else []
    proves = []
    for i in range(args.verity_prove_runs):
        if os.path.exists(proof):
            os.remove(proof)
        proves.append(runner.run(f"verity prove {i + 1}/{args.verity_prove_runs}",
                                 [verity, "prove", vrt, "--input", inp, "-o", proof] + pj,
                                 cwd=work))
    if not os.path.exists(proof):
        raise StepError(f"verity prove exited 0 but wrote no {proof}")
    out.update({
        "setup": "none (transparent)",
        "prove_seconds": median([r["wall"] for r in proves]),
        "prove_runs": [r["wall"] for r in proves],
        "prove_peak_rss_kb": max_or_none([r["rss_kb"] for r in proves]),
        "prove_stderr_tail": tail(proves[-1]["stderr"], 30),
        "proof_bytes": os.path.getsize(proof),
        "prove_key_ms_runs": [json_field(r["stdout"], "key_ms") for r in proves],
        "prove_inner_ms_runs": [json_field(r["stdout"], "prove_ms") for r in proves],
    })
    verifies = [runner.run(f"verity verify {i + 1}/{args.verify_runs}",
                           [verity, "verify", "--proof", proof, "--model", vrt] + vj,
                           cwd=work)
                for i in range(args.verify_runs)]
    out.update({
        "verify_seconds": median([r["wall"] for r in verifies]),
        "verify_runs": [r["wall"] for r in verifies],
        "verify_peak_rss_kb": max_or_none([r["rss_kb"] for r in verifies]),
        "verify_key_ms_runs": [json_field(r["stdout"], "key_ms") for r in verifies],
        "verify_inner_ms_runs": [json_field(r["stdout"], "verify_ms") for r in verifies],
    })


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------

def fmt_s(x):
    if x is None:
        return "–"
    if x < 1e-3:
        return f"{x * 1e6:.1f} µs"
    if x < 1:
        return f"{x * 1e3:.1f} ms"
    return f"{x:.2f} s"


def fmt_mem(kb):
    return "–" if kb is None else f"{kb / 1024:.0f} MiB"


def fmt_bytes(n):
    if n is None:
        return "–"
    if n < 10_000:
        return f"{n} B"
    if n < 10_000_000:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 2**20:.1f} MiB"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.3g}×"


def model_table(name, res, ezkl_version):
    ez = res.get("ezkl")
    vr = res.get("verity")

    def na(d, what):
        if d is None:
            return "skipped"
        if "error" in d:
            return "failed (see below)"
        if what == "verity" and d.get("available") is False:
            return d.get("reason") or "not available"
        return "–"

    ez_na, vr_na = na(ez, "ezkl"), na(vr, "verity")
    ez, vr = ez or {}, vr or {}

    def e(key, fmt):
        v = ez.get(key)
        return ez_na if v is None else fmt(v)

    def w(key, fmt):
        v = vr.get(key)
        return vr_na if v is None else fmt(v)

    lines = [f"### {name}", ""]
    st = ez.get("settings")
    if st:
        lines.append(
            f"EZKL {ezkl_version}: logrows {st.get('logrows')} ({st.get('num_rows')} rows), "
            f"input/param scale {st.get('input_scale')}/{st.get('param_scale')}, "
            f"visibility input {st.get('input_visibility')}, output "
            f"{st.get('output_visibility')}, params {st.get('param_visibility')}, "
            f"calibrate target {st.get('calibrate_target')}; "
            f"prove runs {len(ez.get('prove_runs', []))}, verify runs "
            f"{len(ez.get('verify_runs', []))}.")
    if vr.get("prove_runs"):
        lines.append(f"Verity: prove runs {len(vr.get('prove_runs', []))}, verify runs "
                     f"{len(vr.get('verify_runs', []))}.")
    inf = vr.get("inference_best_us")
    inf_s = None if inf is None else inf * 1e-6
    pj = ez.get("proof_json_bytes")
    proof_note = "" if pj is None else (
        f" (proof.json {fmt_bytes(pj)}, {ez.get('public_instances')} public field elements)")

    def err(d):
        v = d.get("output_max_abs_err_vs_float")
        if v is None:
            return None
        return f"{v:.4f}" + ("" if d.get("argmax_matches_float") else " (argmax differs)")

    rows = [
        ("circuit preparation (settings + calibrate + compile)",
         e("prep_seconds", fmt_s), "none", "–"),
        (f"setup: SRS generation (local, {fmt_bytes(ez.get('srs_bytes'))})",
         e("srs_seconds", fmt_s), "none (transparent)", "–"),
        (f"setup: keys (pk {fmt_bytes(ez.get('pk_bytes'))}, vk "
         f"{fmt_bytes(ez.get('vk_bytes'))}, peak {fmt_mem(ez.get('setup_peak_rss_kb'))})",
         e("setup_seconds", fmt_s), "none (transparent)", "–"),
        ("prove time (median)", e("prove_seconds", fmt_s), w("prove_seconds", fmt_s),
         ratio(ez.get("prove_seconds"), vr.get("prove_seconds"))),
        ("verify time (median)", e("verify_seconds", fmt_s), w("verify_seconds", fmt_s),
         ratio(ez.get("verify_seconds"), vr.get("verify_seconds"))),
        ("peak memory of prove (RSS)", e("prove_peak_rss_kb", fmt_mem),
         w("prove_peak_rss_kb", fmt_mem),
         ratio(ez.get("prove_peak_rss_kb"), vr.get("prove_peak_rss_kb"))),
        ("proof size", e("proof_bytes", fmt_bytes) + proof_note, w("proof_bytes", fmt_bytes),
         ratio(ez.get("proof_bytes"), vr.get("proof_bytes"))),
        (f"plain inference (EZKL: gen_witness; Verity: "
         f"{vr.get('inference_source', '–')})",
         e("witness_seconds", fmt_s), vr_na if inf_s is None else fmt_s(inf_s), "–"),
        ("prove time / Verity plain inference",
         ez_na if ez.get("prove_seconds") is None else ratio(ez["prove_seconds"], inf_s),
         vr_na if vr.get("prove_seconds") is None else ratio(vr["prove_seconds"], inf_s),
         "–"),
        ("output max abs error vs float (onnxruntime)",
         err(ez) or ez_na, err(vr) or vr_na, "–"),
    ]
    def split(key_runs, inner_runs, what):
        k = median([x for x in vr.get(key_runs) or [] if x is not None])
        t = median([x for x in vr.get(inner_runs) or [] if x is not None])
        if k is None and t is None:
            return ""
        return (f" (in-process: key derivation {fmt_s(None if k is None else k / 1e3)}, "
                f"{what} {fmt_s(None if t is None else t / 1e3)})")

    rows[3] = rows[3][:2] + (rows[3][2] + split("prove_key_ms_runs",
                                                "prove_inner_ms_runs", "proving"),) + rows[3][3:]
    rows[4] = rows[4][:2] + (rows[4][2] + split("verify_key_ms_runs",
                                                "verify_inner_ms_runs", "checking"),) + rows[4][3:]
    lines += ["", "| | EZKL | Verity | EZKL / Verity |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    lines.append("")
    if "error" in ez:
        lines += ["EZKL error:", "```", ez["error"], "```", ""]
    if "error" in vr:
        lines += ["Verity error:", "```", vr["error"], "```", ""]
    return "\n".join(lines)


def machine_info():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    cpu = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            for ln in f:
                if ln.startswith("MemTotal"):
                    mem = int(ln.split()[1]) // 1024
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_mib": mem,
            "os": platform.platform()}


def git_head():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip() or None
    except OSError:
        return None


# --------------------------------------------------------------------------

def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--_ezkl-step":
        return child_ezkl_step(*sys.argv[2:5])
    if len(sys.argv) > 1 and sys.argv[1] == "--_rusage":
        return child_rusage(sys.argv[2], sys.argv[4:])

    ap = argparse.ArgumentParser(
        description="Verity vs EZKL: setup, prove, verify, memory and proof size.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--models", default="lenet5,mlp_90k",
                    help="comma-separated fixture names (fixtures/NAME.{onnx,vrt,...})")
    ap.add_argument("--verity", default=os.path.join(ROOT, "target", "release", "verity"))
    ap.add_argument("--verity-prove-runs", type=int, default=3)
    ap.add_argument("--ezkl-prove-runs", type=int, default=1)
    ap.add_argument("--verify-runs", type=int, default=3, help="for both systems")
    ap.add_argument("--bench-seconds", type=float, default=2,
                    help="seconds per configuration for `verity bench`")
    ap.add_argument("--ezkl-target", default="resources", choices=["resources", "accuracy"],
                    help="ezkl calibrate_settings target")
    ap.add_argument("--input-visibility", default="public")
    ap.add_argument("--output-visibility", default="public")
    ap.add_argument("--param-visibility", default="fixed")
    ap.add_argument("--skip-ezkl", action="store_true")
    ap.add_argument("--skip-verity", action="store_true")
    ap.add_argument("--md", default=os.path.join(RESULTS, "zk_vs_ezkl.md"))
    ap.add_argument("--json", help="also write all measurements to this JSON file")
    ap.add_argument("--workdir", default=os.path.join(RESULTS, "work"))
    ap.add_argument("--keep-artifacts", action="store_true",
                    help="keep EZKL's pk, SRS and compiled circuit")
    ap.add_argument("--no-netns", action="store_true",
                    help="do not run EZKL steps in a network-less namespace")
    ap.add_argument("--no-time-bin", action="store_true",
                    help=f"measure with getrusage instead of {TIME_BIN}")
    ap.add_argument("--timeout", type=float, default=None, help="per step, seconds")
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter used to create .venv-ezkl")
    args = ap.parse_args()
    if min(args.verity_prove_runs, args.ezkl_prove_runs, args.verify_runs) < 1:
        ap.error("run counts must be at least 1")

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        need = [f"{m}.onnx", f"{m}.calibration.json", f"{m}.input.json"]
        if not args.skip_verity:
            need.append(f"{m}.vrt")
        missing = [n for n in need if not os.path.exists(os.path.join(FIXTURES, n))]
        if missing:
            ap.error(f"{m}: missing fixtures/{', fixtures/'.join(missing)}")
    if not args.skip_verity and not os.path.exists(args.verity):
        ap.error(f"{args.verity} not found: cargo build --release -p verity-cli "
                 "(or --skip-verity)")

    use_time = os.path.exists(TIME_BIN) and not args.no_time_bin
    netns = False
    if not args.skip_ezkl and not args.no_netns:
        netns = netns_available()
        if not netns:
            print("note: cannot create a network namespace (needs root and unshare); "
                  "EZKL still only uses local files (gen_srs, never get_srs)",
                  file=sys.stderr)
    runner = Runner(use_time, netns, args.timeout)

    ezkl_version = None
    py = None
    if not args.skip_ezkl:
        py, ezkl_version = ensure_venv(args.python)

    results = {}
    failed = False
    load_start = os.getloadavg()
    for name in models:
        print(f"== {name}", file=sys.stderr)
        res = results[name] = {}
        if not args.skip_ezkl:
            res["ezkl"] = {}
            try:
                bench_ezkl(name, args, runner, py, os.path.join(args.workdir, "ezkl", name),
                           res["ezkl"])
            except StepError as e:
                failed = True
                res["ezkl"]["error"] = str(e)
                print(f"EZKL failed on {name}:\n{e}", file=sys.stderr)
        if not args.skip_verity:
            res["verity"] = {}
            try:
                bench_verity(name, args, runner, os.path.join(args.workdir, "verity", name),
                             res["verity"])
            except StepError as e:
                failed = True
                res["verity"]["error"] = str(e)
                print(f"Verity failed on {name}:\n{e}", file=sys.stderr)

    info = machine_info()
    header = [
        "# Verity vs EZKL: zero-knowledge proving",
        "",
        f"{datetime.datetime.now().isoformat(timespec='seconds')}, Verity commit "
        f"{git_head()}, EZKL {ezkl_version or '(skipped)'}; {info['cpu']}, "
        f"{info['cores']} cores, {info['mem_mib']} MiB RAM. Command: "
        f"`python3 bench/zk_vs_ezkl.py {' '.join(sys.argv[1:])}`. Load average "
        f"(1 min) {load_start[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end "
        "(anything else running skews the times).",
        "",
        "EZKL's SRS is generated locally with `ezkl.gen_srs` (not a secure ceremony; "
        "same size, so the same timings). EZKL times are of the ezkl call inside a "
        "fresh process; Verity times are whole-process wall times. Memory is the "
        "peak RSS of the process"
        + (" (EZKL's includes the Python interpreter, ~50-70 MiB)." if not args.skip_ezkl
           else "."),
        "",
    ]
    md = "\n".join(header + [model_table(n, results[n], ezkl_version) for n in models])
    print(md)
    os.makedirs(os.path.dirname(os.path.abspath(args.md)), exist_ok=True)
    with open(args.md, "w") as f:
        f.write(md + "\n")
    print(f"wrote {args.md}", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "ezkl_version": ezkl_version,
                       "verity_commit": git_head(), "argv": sys.argv[1:],
                       "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
                       "network_namespace": netns, "models": results}, f, indent=2)
        print(f"wrote {args.json}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
