"""The package and the `verity` command read each other's files."""

from __future__ import annotations

import subprocess

import verity
from conftest import fx, sample


def cli_verify(verity_bin, proof, model) -> subprocess.CompletedProcess[str]:
    """`verity verify MODEL --proof P`."""
    return subprocess.run([str(verity_bin), "verify", model, "--proof", str(proof)], capture_output=True, text=True)


def test_proofs_cross_between_the_cli_and_the_package(verity_bin, tmp_path):
    model, doc = str(fx("cnn_digits.vrt")), str(fx("cnn_digits.input.json"))
    cli_proof = tmp_path / "cli.vrtz"
    subprocess.run([str(verity_bin), "prove", model, "--input", doc, "-o", str(cli_proof)], check=True, capture_output=True)
    check = verity.verify_proof(cli_proof, model, input=sample("cnn_digits"))
    assert check.output_hash == verity.execute(model, doc).output_hash

    py_proof = tmp_path / "py.vrtz"
    verity.prove(model, sample("cnn_digits"), py_proof)
    ok = cli_verify(verity_bin, py_proof, model)
    assert ok.returncode == 0, ok.stderr
    bad = bytearray(py_proof.read_bytes())
    bad[len(bad) // 3] ^= 4
    (tmp_path / "bad.vrtz").write_bytes(bytes(bad))
    refused = cli_verify(verity_bin, tmp_path / "bad.vrtz", model)
    assert refused.returncode == 1, refused.stderr  # invalid, not a usage or I/O error
