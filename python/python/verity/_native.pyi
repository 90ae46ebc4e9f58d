"""Type stubs of the Rust extension ``verity._native`` (use the documented API in ``verity``)."""

from typing import Any

__version__: str

# An input: the text of an input document, or one little-endian float64 buffer per model
# input, in the model's input order.
_Input = str | list[bytes]
# An output: (name, shape, little-endian float64 bytes).
_Output = tuple[str, list[int], bytes]
# A model input or output: (name, shape, bits, scale).
_Value = tuple[str, list[int], int, float]

class Model:
    """A canonical model (``.vrt``), decoded and prepared for execution."""

    @staticmethod
    def load(path: str) -> Model:
        """Reads and decodes a ``.vrt`` file."""
    @staticmethod
    def from_bytes(data: bytes) -> Model:
        """Decodes canonical model bytes."""
    @property
    def id(self) -> str:
        """The model id: 64 hex digits, the Merkle commitment to every byte of the model."""
    @property
    def inputs(self) -> list[_Value]:
        """``(name, shape, bits, scale)`` of each input, in order."""
    @property
    def outputs(self) -> list[_Value]:
        """``(name, shape, bits, scale)`` of each output, in order."""
    @property
    def params(self) -> int:
        """Number of parameters."""
    def to_bytes(self) -> bytes:
        """The canonical encoding."""
    def save(self, path: str) -> None:
        """Writes the ``.vrt`` (atomically; the directory must exist)."""
    def inspect_json(self) -> str:
        """``verity inspect --json`` of the model."""

class VerifyingKey:
    """A verifying key (``.vk``): a model's public commitments, enough to check its proofs
    without its weights."""

    @staticmethod
    def of_model(model: Model) -> VerifyingKey:
        """The key of a model (derived from its weights)."""
    @staticmethod
    def load(path: str) -> VerifyingKey:
        """Reads and decodes a ``.vk`` file (``verity keygen``)."""
    @staticmethod
    def from_bytes(data: bytes) -> VerifyingKey: ...
    @property
    def model_id(self) -> str:
        """The id of the model whose proofs this key checks."""
    @property
    def vk_id(self) -> str:
        """The key's digest, which ``Client.infer(vk_id=)`` pins."""
    @property
    def inputs(self) -> list[_Value]: ...
    @property
    def outputs(self) -> list[_Value]: ...
    def to_bytes(self) -> bytes: ...
    def save(self, path: str) -> None:
        """Writes the ``.vk`` (atomically; the directory must exist)."""

def import_onnx(onnx_path: str, calibration: str, bits: int) -> Model: ...
def run(model: Model, input: _Input, reference: bool = False) -> dict[str, Any]: ...
def prove(model: Model, input: _Input) -> bytes: ...
def verify_proof(model: Model, proof: bytes, input: _Input | None = None) -> dict[str, Any]: ...
def verify_proof_vk(vk: VerifyingKey, proof: bytes, input: _Input | None = None) -> dict[str, Any]: ...
def verify_receipt(model: Model, receipt: str, input: _Input) -> dict[str, Any]: ...
def input_hash(model: Model, input: _Input) -> str: ...
def verify_llm_receipt(receipt: str, gguf: str) -> dict[str, Any]: ...
def _write_tiny_gguf(path: str, seed: int = 11) -> None:
    """Testing only: the tiny random Llama of the test suites (not a real model)."""

class Client:
    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        cache_dir: str | None = None,
        executor: str | None = None,
        proof_timeout: float | None = None,
        ca_cert: str | None = None,
    ) -> None: ...
    @property
    def url(self) -> str: ...
    def info(self) -> str: ...
    def publish_vrt(self, path: str) -> tuple[str, bool]: ...
    def publish_onnx(self, path: str, calibration: str, bits: int) -> tuple[str, bool]: ...
    def model(self, model_id: str) -> Model: ...
    def infer(self, model_id: str, input: _Input, evidence: str) -> dict[str, Any]: ...
    def light_key(self, model_id: str, vk_id: str | None = None) -> VerifyingKey: ...
    def infer_light(self, model_id: str, input: _Input, vk: VerifyingKey) -> dict[str, Any]: ...
    def fetch_receipt(self, receipt_id: str) -> dict[str, Any]: ...
    def fetch_proof(self, id: str) -> dict[str, Any]: ...
    def chat(self, request: str, model_file: str | None = None) -> dict[str, Any]: ...
