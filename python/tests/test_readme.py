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


def in_scratch_checkout(monkeypatch, tmp_path) -> None:
    """Runs the blocks in a scratch directory that sees the repo's fixtures, so the files
    they write (cnn.vk) do not land in the checkout."""
    (tmp_path / "fixtures").symlink_to(REPO / "fixtures")
    monkeypatch.chdir(tmp_path)


def test_readme_local_quickstart(monkeypatch, tmp_path):
    in_scratch_checkout(monkeypatch, tmp_path)
    ns: dict = {}
    exec(blocks()[0], ns)
    assert ns["outputs"]["output"].shape == (1, 10)


def test_readme_node_quickstart(node, monkeypatch, tmp_path):
    in_scratch_checkout(monkeypatch, tmp_path)
    monkeypatch.setenv("VERITY_API_KEY", API_KEY)
    monkeypatch.setenv("VERITY_CACHE", str(tmp_path / "cache"))
    local, remote = blocks()
    assert "http://127.0.0.1:8700" in remote
    ns: dict = {}
    exec(local, ns)
    exec(remote.replace("http://127.0.0.1:8700", node.url), ns)
    assert ns["answer"].receipt_id and ns["answer"].outputs["output"].shape == (1, 10)
    assert ns["light"].key_source == "vk" and ns["light"].output_hash == ns["answer"].output_hash
