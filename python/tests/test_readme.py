"""The README's Python quickstart, run as written (the node's address aside: the test's
node listens on a free port)."""

from __future__ import annotations

import re

from conftest import API_KEY, REPO


def blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text[text.index("\n## Python\n") :]
    section = section[: section.index("\n## ", 1)]
    found = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(found) == 2, "the README's Python section should have a local and a node example"
    return found


def test_readme_local_quickstart(monkeypatch):
    monkeypatch.chdir(REPO)
    ns: dict = {}
    exec(blocks()[0], ns)
    assert ns["outputs"]["output"].shape == (1, 10)


def test_readme_node_quickstart(node, monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("VERITY_API_KEY", API_KEY)
    monkeypatch.setenv("VERITY_CACHE", str(tmp_path))
    local, remote = blocks()
    assert "http://127.0.0.1:8700" in remote
    ns: dict = {}
    exec(local, ns)
    exec(remote.replace("http://127.0.0.1:8700", node.url), ns)
    assert ns["answer"].receipt_id and ns["answer"].outputs["output"].shape == (1, 10)
