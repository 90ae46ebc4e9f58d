"""`verity.Client.chat` against a real `verity node --llm` (the tiny random Llama), and
`verity.verify_llm_receipt`; a proxy that tampers with answers is caught."""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator

import pytest

import verity

# The tiny model's context is 96 tokens: SmolLM2's default system message would fill it.
HELLO = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]
HI = [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]


def test_chat_returns_checked_text_and_receipt(llm_node, tiny_gguf):
    c = verity.Client(llm_node.url)
    a = c.chat(HELLO, max_tokens=6, temperature=0.8, seed=42)
    assert isinstance(a, verity.ChatAnswer) and not a.reexecuted
    assert a.seed == 42 and 1 <= len(a.tokens) <= 6
    assert a.text == a.response["choices"][0]["message"]["content"]
    assert a.receipt_id == a.response["verity"]["receipt_id"]
    # With the weights, every token is re-derived here; the same completion.
    b = c.chat(HELLO, model="tiny-llama", max_tokens=6, temperature=0.8, seed=42, model_file=tiny_gguf)
    assert b.reexecuted and (b.tokens, b.text, b.trace_root) == (a.tokens, a.text, a.trace_root)
    # The receipt file verifies on its own, by re-execution.
    check = verity.verify_llm_receipt(a.receipt, tiny_gguf)
    assert (check.tokens, check.text, check.receipt_id) == (a.tokens, a.text, a.receipt_id)
    # A string is one user message; by id; greedy is deterministic.
    g1 = c.chat(HI, model=a.model_id, max_tokens=4, temperature=0)
    g2 = c.chat([("system", "s"), ("user", "hi")], max_tokens=4, temperature=0)
    assert (g1.tokens, g1.text) == (g2.tokens, g2.text)


def test_chat_errors_are_specific(llm_node, tiny_gguf, tmp_path):
    c = verity.Client(llm_node.url)
    with pytest.raises(verity.NodeError, match="temperature") as e:
        c.chat(HI, temperature=5)
    assert e.value.status == 400
    with pytest.raises(verity.NodeError) as e:
        c.chat(HI, model="gpt-4o")
    assert e.value.status == 404
    with pytest.raises(verity.NodeError, match="context"):
        c.chat(HI, max_tokens=10_000)
    with pytest.raises(verity.InputError):
        c.chat([{"role": "user"}])
    with pytest.raises(verity.InputError):
        c.chat(HI, seed=-1)
    with pytest.raises(verity.FileError):
        c.chat(HI, max_tokens=2, model_file=tmp_path / "missing.gguf")
    # Another model file than the node's: re-execution refuses the answer.
    other = tmp_path / "other.gguf"
    verity._native._write_tiny_gguf(str(other), 12)
    with pytest.raises(verity.InvalidEvidence):
        c.chat(HI, max_tokens=2, model_file=other)
    with pytest.raises(verity.InvalidEvidence):
        verity.verify_llm_receipt(c.chat(HI, max_tokens=2).receipt, other)
    # A receipt from another key than the one required.
    with pytest.raises(verity.InvalidEvidence, match="signed by"):
        verity.Client(llm_node.url, executor="0x" + "11" * 20).chat(HI, max_tokens=2)


@pytest.fixture()
def tampering(llm_node) -> Iterator[Callable[[Callable[[dict], None]], str]]:
    """A proxy in front of the node that applies `tamper` to each chat answer's JSON."""
    servers: list[ThreadingHTTPServer] = []

    def start(tamper: Callable[[dict], None]) -> str:
        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def _forward(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else None
                req = urllib.request.Request(llm_node.url + self.path, data=body, method=method,
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req) as r:
                    data = r.read()
                if self.path == "/v1/chat/completions":
                    v = json.loads(data)
                    tamper(v)
                    data = json.dumps(v).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._forward("GET")

            def do_POST(self):
                self._forward("POST")

        s = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=s.serve_forever, daemon=True).start()
        servers.append(s)
        return f"http://127.0.0.1:{s.server_address[1]}"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def _swap_token(v: dict) -> None:
    v["verity"]["completion"]["tokens"][0] ^= 1


def _text(v: dict) -> None:
    v["choices"][0]["message"]["content"] += "!"


def _seed(v: dict) -> None:
    v["verity"]["completion"]["params"]["seed"] += 1


@pytest.mark.parametrize("tamper", [_swap_token, _text, _seed])
def test_a_tampered_answer_raises(tampering, tamper, tiny_gguf):
    url = tampering(tamper)
    with pytest.raises(verity.InvalidEvidence):
        verity.Client(url).chat(HI, max_tokens=3, temperature=0.5, seed=1)
    with pytest.raises(verity.InvalidEvidence):
        verity.Client(url).chat(HI, max_tokens=3, temperature=0.5, seed=1, model_file=tiny_gguf)
    # The untampered proxy passes, so it is the tampering that is caught.
    assert verity.Client(tampering(lambda v: None)).chat(HI, max_tokens=3, seed=1).tokens
