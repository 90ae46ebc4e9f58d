"""Shared fixtures: the committed test models, and a real `verity node` on loopback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
API_KEY = "python-test-key"


def fx(name: str) -> Path:
    return FIXTURES / name


def pinned_id(name: str) -> str:
    return json.loads(fx("model_ids.json").read_text())[name]


def sample(name: str) -> np.ndarray:
    """The fixture's input sample as a flat float64 array."""
    return np.asarray(json.loads(fx(f"{name}.input.json").read_text())["input_data"][0], dtype=np.float64)


def verity_binary() -> Path | None:
    """`$VERITY_BIN`, else the newest of target/{release,debug}/verity."""
    if os.environ.get("VERITY_BIN"):
        return Path(os.environ["VERITY_BIN"])
    found = [p for p in (REPO / "target" / "release" / "verity", REPO / "target" / "debug" / "verity") if p.exists()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


@pytest.fixture(scope="session")
def verity_bin() -> Path:
    b = verity_binary()
    if b is None or not b.exists():
        msg = "no verity binary: run `cargo build --release -p verity-cli` or set VERITY_BIN"
        if os.environ.get("CI"):
            pytest.fail(msg)  # CI must run these tests, not skip them
        pytest.skip(msg)
    return b


class Node:
    """A `verity node` child process on 127.0.0.1 with a free port, publishing enabled."""

    def __init__(self, binary: Path, data: Path, extra: tuple[str, ...] = ()) -> None:
        env = dict(os.environ, VERITY_API_KEY=API_KEY)
        env.pop("VERITY_NODE_TEST_PAUSE_AT", None)
        self.proc = subprocess.Popen(
            [str(binary), "node", "--data", str(data), "--listen", "127.0.0.1:0", *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        first: list[str] = []
        reader = threading.Thread(target=lambda: first.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(60)
        words = (first[0] if first else "").split()
        urls = [w for w in words if w.startswith("http://")]
        if not urls:
            self.stop()
            raise RuntimeError(f"verity node did not start (first line {first!r})")
        self.url = urls[0]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def node(verity_bin: Path, tmp_path_factory: pytest.TempPathFactory):
    n = Node(verity_bin, tmp_path_factory.mktemp("node-data"))
    try:
        yield n
    finally:
        n.stop()
    assert n.proc.returncode == 0, f"the node exited {n.proc.returncode} on SIGTERM"


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Llama of the test suites, written as tiny-llama.gguf (not a real model)."""
    import verity

    p = tmp_path_factory.mktemp("llm") / "tiny-llama.gguf"
    verity._native._write_tiny_gguf(str(p))
    return p


@pytest.fixture(scope="module")
def llm_node(verity_bin: Path, tmp_path_factory: pytest.TempPathFactory, tiny_gguf: Path):
    """A node serving the tiny LLM at /v1/chat/completions."""
    n = Node(verity_bin, tmp_path_factory.mktemp("llm-node-data"), ("--llm", str(tiny_gguf)))
    try:
        yield n
    finally:
        n.stop()
    assert n.proc.returncode == 0, f"the node exited {n.proc.returncode} on SIGTERM"


@pytest.fixture()
def cache(tmp_path: Path) -> Path:
    d = tmp_path / "cache"
    d.mkdir()
    return d


__all__ = ["API_KEY", "FIXTURES", "fx", "pinned_id", "sample", "shutil"]
