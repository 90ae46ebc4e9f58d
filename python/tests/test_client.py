"""The client against a real `verity node` on loopback (started and stopped here), and
against a proxy in front of it that tampers with the answers."""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import numpy as np
import pytest

import verity
from conftest import API_KEY, fx, pinned_id, sample

CNN = pinned_id("cnn_digits")
MLP = pinned_id("mlp_digits")


@pytest.fixture(scope="module")
def published(node):
    c = verity.Client(node.url, api_key=API_KEY, cache_dir=None)
    assert c.publish(fx("cnn_digits.onnx"), calibration=fx("cnn_digits.calibration.json")) == CNN
    assert c.publish(fx("mlp_digits.vrt")) == MLP
    return node


def client(url: str, cache, **kw) -> verity.Client:
    return verity.Client(url, api_key=API_KEY, cache_dir=cache, **kw)


def test_publish_needs_the_key_and_names_the_fix(published, cache, monkeypatch):
    monkeypatch.delenv("VERITY_API_KEY", raising=False)
    with pytest.raises(verity.NodeError, match="api_key=.*VERITY_API_KEY") as e:
        verity.Client(published.url, cache_dir=cache).publish(fx("mlp_digits.vrt"))
    assert e.value.status == 401
    with pytest.raises(verity.NodeError) as e:
        verity.Client(published.url, api_key="wrong", cache_dir=cache).publish(fx("mlp_digits.vrt"))
    assert e.value.status == 401
    monkeypatch.setenv("VERITY_API_KEY", API_KEY)  # the default, like the CLI
    assert verity.Client(published.url, cache_dir=cache).publish(fx("mlp_digits.vrt")) == MLP
    with pytest.raises(verity.InputError, match="calibration="):
        verity.Client(published.url, cache_dir=cache).publish(fx("cnn_digits.onnx"))


def test_infer_every_evidence_matches_a_local_run(published, cache, verity_bin, tmp_path):
    c = client(published.url, cache)
    x = sample("cnn_digits")
    local = verity.execute(fx("cnn_digits.vrt"), x)
    info = c.info()
    for evidence, kw in (("none", {}), ("receipt", {}), ("zk", {"reexecute": True})):
        a = c.infer(CNN, x.reshape(1, 1, 8, 8), evidence=evidence, **kw)
        assert isinstance(a, verity.Answer)
        assert a.evidence == evidence
        assert (a.model_id, a.input_hash, a.output_hash, a.trace_root) == (
            CNN,
            local.input_hash,
            local.output_hash,
            local.trace_root,
        )
        assert np.array_equal(a.outputs["output"], local.outputs["output"])
    r = c.infer(CNN, {"input": x}, evidence="receipt")
    assert r.receipt is not None and r.receipt_id
    check = verity.verify_receipt(r.receipt, fx("cnn_digits.vrt"), x)
    assert check.executor.lower() == info["executor"].lower() and check.receipt_id == r.receipt_id
    assert verity.verify_receipt(json.loads(r.receipt), fx("cnn_digits.vrt"), x).output_hash == local.output_hash
    stored = c.fetch_receipt(r.receipt_id)
    assert stored.output_hash == local.output_hash and stored.executor == check.executor
    assert stored.timestamp == check.timestamp == json.loads(r.receipt)["timestamp"]

    z = c.infer(CNN, x, evidence="zk", reexecute=True)
    assert isinstance(z, verity.Answer) and z.proof is not None and z.proof_id and z.proof_job
    assert verity.verify_proof(z.proof, fx("cnn_digits.vrt"), input=x).proof_id == z.proof_id
    assert c.fetch_proof(z.proof_id).output_hash == local.output_hash

    # The CLI computes the same bits as the package.
    out = subprocess.run(
        [str(verity_bin), "run", str(fx("cnn_digits.vrt")), "--input", str(fx("cnn_digits.input.json")), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    cli = json.loads(out.stdout)
    assert cli["output_hash"] == local.output_hash


def test_tampered_receipts_are_refused(published, cache):
    c = client(published.url, cache)
    x = sample("cnn_digits")
    r = json.loads(c.infer(CNN, x, evidence="receipt").receipt)
    flip = lambda h: h[:-1] + ("0" if h[-1] != "0" else "1")  # noqa: E731
    for field in ("model_id", "input_hash", "output_hash", "trace_root", "signature"):
        bad = dict(r, **{field: flip(r[field])})
        with pytest.raises(verity.InvalidEvidence):
            verity.verify_receipt(bad, fx("cnn_digits.vrt"), x)
    other = x.copy()
    other[20] += 4.0
    with pytest.raises(verity.InvalidEvidence, match="input_hash|input"):
        verity.verify_receipt(r, fx("cnn_digits.vrt"), other)
    with pytest.raises(verity.InvalidEvidence):
        verity.verify_receipt(r, fx("mlp_digits.vrt"), x)
    with pytest.raises(verity.InvalidEvidence, match="not a valid receipt"):
        verity.verify_receipt(dict(r, evidence="nonsense"), fx("cnn_digits.vrt"), x)


def test_node_errors_are_classified(published, cache):
    c = client(published.url, cache)
    with pytest.raises(verity.NodeError) as e:
        c.infer("ab" * 32, sample("cnn_digits"))
    assert e.value.status == 404
    with pytest.raises(verity.InputError, match="64 hex"):
        c.infer("not-an-id", sample("cnn_digits"))
    with pytest.raises(verity.InputError, match="evidence must be"):
        c.infer(CNN, sample("cnn_digits"), evidence="zkp")
    with pytest.raises(verity.InputError, match="expects"):
        c.infer(CNN, sample("cnn_digits")[:5])
    with pytest.raises(verity.InputError, match="http://"):
        verity.Client("127.0.0.1:8700")
    # A port nobody listens on (the node's own port after binding a fresh socket closed).
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(verity.NetworkError):
        verity.Client(f"http://127.0.0.1:{port}", cache_dir=cache).info()


# ---- a lying node: a proxy that forwards to the real one and alters one thing ----


class Tamper:
    """A loopback HTTP proxy to `upstream`; `mutate(path, body) -> body` rewrites answers."""

    def __init__(self, upstream: str, mutate: Callable[[str, bytes], bytes]) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def forward(self, method: str) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(n) if n else None
                req = urllib.request.Request(upstream + self.path, data=data, method=method)
                for h in ("Content-Type", "Authorization"):
                    if self.headers.get(h):
                        req.add_header(h, self.headers[h])
                try:
                    with urllib.request.urlopen(req, timeout=60) as resp:
                        status, body, ctype = resp.status, resp.read(), resp.headers.get("Content-Type", "")
                except urllib.error.HTTPError as e:
                    status, body, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
                if 200 <= status < 300:
                    body = outer.mutate(self.path, body)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self.forward("GET")

            def do_POST(self):
                self.forward("POST")

        self.mutate = mutate
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def on_json(route: str, change: Callable[[dict], None]) -> Callable[[str, bytes], bytes]:
    def mutate(path: str, body: bytes) -> bytes:
        if not path.startswith(route):
            return body
        d = json.loads(body)
        change(d)
        return json.dumps(d).encode()

    return mutate


def flip_last(h: str) -> str:
    return h[:-1] + ("0" if h[-1] != "0" else "1")


def bump_output(d: dict) -> None:
    d["outputs"][0][0] += 1.0


def flip_file(path: str, body: bytes) -> bytes:
    if path.startswith("/v1/proofs/") and path.endswith("/file"):
        b = bytearray(body)
        b[len(b) // 2] ^= 0x10
        return bytes(b)
    return body


def flip_model(path: str, body: bytes) -> bytes:
    if path.endswith("/vrt"):
        b = bytearray(body)
        b[-1] ^= 1
        return bytes(b)
    return body


TAMPERS = {
    "an output value": ("none", on_json("/v1/infer", bump_output)),
    "the output hash": ("none", on_json("/v1/infer", lambda d: d.update(output_hash=flip_last(d["output_hash"])))),
    "the input hash": ("none", on_json("/v1/infer", lambda d: d.update(input_hash=flip_last(d["input_hash"])))),
    "the model id": ("none", on_json("/v1/infer", lambda d: d.update(model_id=flip_last(d["model_id"])))),
    "the evidence kind": ("receipt", on_json("/v1/infer", lambda d: d.update(evidence="none"))),
    "the receipt's trace root": (
        "receipt",
        on_json("/v1/infer", lambda d: d["receipt"].update(trace_root=flip_last(d["receipt"]["trace_root"]))),
    ),
    "the receipt's signature": (
        "receipt",
        on_json("/v1/infer", lambda d: d["receipt"].update(signature=flip_last(d["receipt"]["signature"][:-2]) + d["receipt"]["signature"][-2:])),
    ),
    "the receipt id": ("receipt", on_json("/v1/infer", lambda d: d.update(receipt_id=flip_last(d["receipt_id"])))),
    "the proof file": ("zk", flip_file),
    "the zk answer's outputs": ("zk", on_json("/v1/infer", bump_output)),
    "the zk answer's output hash": ("zk", on_json("/v1/infer", lambda d: d.update(output_hash=flip_last(d["output_hash"])))),
    "the model bytes": ("none", flip_model),
}


@pytest.mark.parametrize("what", list(TAMPERS))
def test_a_tampered_answer_raises(published, cache, what):
    evidence, mutate = TAMPERS[what]
    proxy = Tamper(published.url, mutate)
    try:
        # A fresh cache: the model too comes through the lying proxy.
        c = client(proxy.url, cache, proof_timeout=120)
        x = sample("cnn_digits")
        x[list(TAMPERS).index(what)] += 1.0  # a distinct input per case: no answer is reused
        with pytest.raises(verity.InvalidEvidence):
            c.infer(CNN, x, evidence=evidence)
    finally:
        proxy.close()


def test_zk_is_a_light_client_checked_with_a_verifying_key(published, cache, tmp_path):
    c = client(published.url, cache, proof_timeout=120)
    x = sample("cnn_digits")
    local = verity.execute(fx("cnn_digits.vrt"), x)
    vk_path = tmp_path / "cnn.vk"
    key = verity.keygen(fx("cnn_digits.vrt"), vk_path)
    assert key.model_id == CNN
    # A key of our own (no model download), the node's key pinned by its digest, or one
    # derived from the id-checked model: each accepts the same proven answer.
    for kw, source in (({"vk": vk_path}, "vk"), ({"vk_id": key.vk_id}, "vk_id"), ({}, "derived")):
        a = c.infer(CNN, x, evidence="zk", **kw)
        assert isinstance(a, verity.LightAnswer), kw
        assert (a.key_source, a.vk_id, a.evidence) == (source, key.vk_id, "zk")
        assert (a.model_id, a.input_hash, a.output_hash) == (CNN, local.input_hash, local.output_hash)
        assert np.array_equal(a.outputs["output"], local.outputs["output"])
        assert verity.verify_proof(a.proof, key, input=x).proof_id == a.proof_id
    # Another model's key, and a pin of another key, are refused before anything is trusted.
    other = verity.keygen(fx("mlp_digits.vrt"))
    with pytest.raises(verity.InvalidEvidence, match="for model"):
        c.infer(CNN, x, evidence="zk", vk=other)
    with pytest.raises(verity.InvalidEvidence, match="pinned"):
        c.infer(CNN, x, evidence="zk", vk_id=other.vk_id)
    with pytest.raises(verity.InputError, match="not both"):
        c.infer(CNN, x, evidence="zk", vk=key, vk_id=key.vk_id)
    with pytest.raises(verity.InputError, match='go with evidence="zk"'):
        c.infer(CNN, x, evidence="receipt", vk=key)


def test_an_https_node_needs_its_ca(tmp_path):
    # No TLS server in the Python tests: a CA file that is missing or not PEM is refused
    # when the client is made (the TLS handshake itself is tested in Rust, tests/tls.rs).
    with pytest.raises(verity.FileError, match="CA certificate"):
        verity.Client("https://127.0.0.1:1", ca_cert=tmp_path / "missing.pem")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(verity.InputError, match="no certificate"):
        verity.Client("https://127.0.0.1:1", ca_cert=junk)


def test_an_honest_proxy_passes(published, cache):
    proxy = Tamper(published.url, lambda path, body: body)
    try:
        a = client(proxy.url, cache).infer(CNN, sample("cnn_digits"), evidence="receipt")
        assert a.output_hash == verity.execute(fx("cnn_digits.vrt"), sample("cnn_digits")).output_hash
    finally:
        proxy.close()


def test_infer_warns_when_inputs_are_clamped(published, cache):
    x = sample("cnn_digits") * 100.0
    with pytest.warns(verity.ClampWarning, match="clamped"):
        a = client(published.url, cache).infer(CNN, x)
    with pytest.warns(verity.ClampWarning):
        again = verity.execute(fx("cnn_digits.vrt"), x * 10)
    assert a.output_hash == again.output_hash
