"""Verity from Python: verifiable inference on canonical integer models.

Local work, with numpy arrays in and out::

    import verity
    model = verity.import_onnx("cnn.onnx", "cnn.calibration.json", "cnn.vrt")
    outputs = verity.run(model, x)                  # {"output": ndarray of shape (1, 10)}
    proof = verity.prove(model, x)                  # bytes of a proof file
    verity.verify_proof(proof, model, input=x)      # raises InvalidEvidence unless valid
    vk = verity.keygen(model, "cnn.vk")             # a verifying key: no weights in it
    verity.verify_proof(proof, "cnn.vk", input=x)   # a light check, with the key alone

A node, whose every answer is checked before it is returned::

    client = verity.Client("http://127.0.0.1:8700", api_key="...")
    model_id = client.publish("cnn.onnx", calibration="cnn.calibration.json")
    answer = client.infer(model_id, x, evidence="receipt")
    light = client.infer(model_id, x, evidence="zk", vk="cnn.vk")   # the proof alone

The work is done by the same Rust code as the ``verity`` command (``verity._native``), so a
model imported here has the same id, and an answer the same bits, as anywhere else.

An *input* is any of: a numpy array (or nested list) for a single-input model; a list or
tuple with one array per model input, in order; a mapping from input name to array; the
text of an input document (``'{"input_data": [[...]]}'``); or a path to an input file
(``pathlib.Path``, or a ``str`` that does not start with ``{``). An array must hold exactly
as many values as the model input, in row-major order, in its shape (leading 1s may be
left out) or flat.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence, Union

import numpy as np

from . import _native
from ._native import Model, VerifyingKey
from .errors import (
    CalibrationWarning,
    ClampWarning,
    FileError,
    InputError,
    InvalidEvidence,
    NetworkError,
    NodeError,
    ProofFailed,
    ProtocolError,
    VerityError,
)

__version__: str = _native.__version__

PathLike = Union[str, "os.PathLike[str]"]
ModelLike = Union[Model, PathLike]
ArrayLike = Any  # anything numpy.asarray turns into numbers
InputLike = Union[ArrayLike, Sequence[ArrayLike], Mapping[str, ArrayLike], PathLike]
Evidence = Literal["none", "receipt", "zk"]

__all__ = [
    "Model",
    "VerifyingKey",
    "load",
    "keygen",
    "import_onnx",
    "run",
    "execute",
    "prove",
    "verify_proof",
    "verify_receipt",
    "verify_llm_receipt",
    "Client",
    "ChatAnswer",
    "LlmReceiptCheck",
    "Execution",
    "Answer",
    "LightAnswer",
    "ProofCheck",
    "ReceiptCheck",
    "VerityError",
    "InputError",
    "FileError",
    "InvalidEvidence",
    "NetworkError",
    "NodeError",
    "ProtocolError",
    "ProofFailed",
    "ClampWarning",
    "CalibrationWarning",
]


# ---- results ----


@dataclass(frozen=True)
class Execution:
    """One execution: the outputs (name -> float64 array, in the model's output order) and
    the hashes a receipt signs."""

    model_id: str
    input_hash: str
    output_hash: str
    trace_root: str
    outputs: dict[str, np.ndarray] = field(repr=False)


@dataclass(frozen=True)
class Answer(Execution):
    """A node's answer that passed every check. ``receipt`` is the signed receipt's JSON
    (evidence ``receipt``); ``proof`` the verified proof file (evidence ``zk``)."""

    evidence: str = "none"
    receipt: str | None = field(default=None, repr=False)
    receipt_id: str | None = None
    proof: bytes | None = field(default=None, repr=False)
    proof_id: str | None = None
    proof_job: str | None = None


@dataclass(frozen=True)
class LightAnswer:
    """A node's ``zk`` answer accepted on its proof alone (nothing re-executed): the proof
    verifies with the verifying key ``vk_id`` and proves exactly the input sent, and the
    node's hashes and outputs are the proven ones. ``key_source`` says where the key came
    from: ``"vk"`` (yours), ``"vk_id"`` (the node's, pinned by its digest) or ``"derived"``
    (from the model, downloaded and checked against its id)."""

    model_id: str
    input_hash: str
    output_hash: str
    outputs: dict[str, np.ndarray] = field(repr=False)
    vk_id: str = ""
    key_source: str = ""
    proof: bytes = field(default=b"", repr=False)
    proof_id: str = ""
    proof_job: str = ""
    evidence: str = "zk"


@dataclass(frozen=True)
class ProofCheck:
    """What a valid proof proves: this model, on the input with this hash, gave these
    outputs. ``proof_id`` is the BLAKE3 of the proof file."""

    model_id: str
    input_hash: str
    output_hash: str
    proof_id: str
    outputs: dict[str, np.ndarray] = field(repr=False)
    proof: bytes | None = field(default=None, repr=False)
    proof_job: str | None = None


@dataclass(frozen=True)
class ReceiptCheck(Execution):
    """A genuine receipt whose claims a re-execution reproduced."""

    executor: str = ""
    timestamp: int = 0
    receipt_id: str = ""


@dataclass(frozen=True)
class LlmReceiptCheck:
    """An LLM completion whose receipt checked: the text, why decoding ended, the model id,
    the prompt and generated token ids, the trace root and the sampling seed."""

    text: str
    finish_reason: str
    model_id: str
    prompt_tokens: list[int] = field(repr=False)
    tokens: list[int] = field(repr=False)
    trace_root: str = ""
    seed: int = 0
    receipt_id: str = ""


@dataclass(frozen=True)
class ChatAnswer(LlmReceiptCheck):
    """A node's chat answer that passed every check of :meth:`Client.chat`. ``receipt`` is
    the receipt file's JSON (``{"completion", "receipt"}``; :func:`verify_llm_receipt` and
    ``verity verify MODEL.gguf --receipt`` read it); ``reexecuted`` says whether every
    token was re-derived here (``model_file`` given); ``response`` is the node's answer."""

    receipt: str = field(default="", repr=False)
    reexecuted: bool = False
    response: dict[str, Any] = field(default_factory=dict, repr=False)


def _llm_fields(d: dict[str, Any]) -> dict[str, Any]:
    keys = ("text", "finish_reason", "model_id", "prompt_tokens", "tokens", "trace_root", "seed", "receipt_id")
    return {k: d[k] for k in keys}


def _receipt_text(receipt: str | bytes | PathLike | Mapping[str, Any]) -> str:
    if isinstance(receipt, Mapping):
        return json.dumps(dict(receipt))
    if isinstance(receipt, (bytes, bytearray)):
        return bytes(receipt).decode("utf-8", errors="replace")
    if isinstance(receipt, str) and receipt.lstrip().startswith("{"):
        return receipt
    return _read_text(receipt, "receipt")


def verify_llm_receipt(receipt: str | bytes | PathLike | Mapping[str, Any], gguf: PathLike) -> LlmReceiptCheck:
    """Checks an LLM receipt file — what ``verity chat --receipt`` writes, or the ``verity``
    field of a node's chat answer (a dict, its JSON text, or a path) — by re-deriving the
    completion with the model's GGUF: the signature, then every token, the text and the
    trace root from the prompt and parameters it carries (``verity verify MODEL.gguf
    --receipt``). Raises :class:`InvalidEvidence` otherwise. Compare ``model_id`` and the
    returned fields with what you asked."""
    d = _native.verify_llm_receipt(_receipt_text(receipt), os.fspath(gguf))
    return LlmReceiptCheck(**_llm_fields(d))


def _outputs(items: list[tuple[str, list[int], bytes]]) -> dict[str, np.ndarray]:
    return {name: np.frombuffer(data, dtype="<f8").reshape(shape).copy() for name, shape, data in items}


def _execution_fields(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_id": d["model_id"],
        "input_hash": d["input_hash"],
        "output_hash": d["output_hash"],
        "trace_root": d["trace_root"],
        "outputs": _outputs(d["outputs"]),
    }


# ---- argument conversion ----


def _is_path(x: Any) -> bool:
    return isinstance(x, os.PathLike) or (isinstance(x, str) and not x.lstrip().startswith("{"))


def _read_text(path: PathLike, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise FileError(f"cannot read {what} {os.fspath(path)}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{what} {os.fspath(path)} is not UTF-8 text: {e}") from None


def load(path: PathLike) -> Model:
    """Reads a canonical model (``.vrt``). Raises :class:`FileError` if it cannot be read
    and :class:`InputError` if it is not a canonical model (an ONNX file must go through
    :func:`import_onnx` first)."""
    return Model.load(os.fspath(path))


def _model(model: ModelLike) -> Model:
    if isinstance(model, Model):
        return model
    if isinstance(model, (str, os.PathLike)):
        return load(model)
    raise InputError(f"model must be a verity.Model or the path of a .vrt file, got {type(model).__name__}")


def _shape_fits(got: tuple[int, ...], want: Sequence[int]) -> bool:
    def strip(s: Sequence[int]) -> list[int]:
        s = list(s)
        while s and s[0] == 1:
            s.pop(0)
        return s

    return len(got) <= 1 or strip(got) == strip(want)


def _array(x: ArrayLike, name: str, shape: Sequence[int]) -> bytes:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InputError(f"input '{name}' is not an array of numbers: {e}") from None
    want = math.prod(shape)
    if a.size != want or not _shape_fits(a.shape, shape):
        raise InputError(f"input '{name}' has shape {list(a.shape)} ({a.size} values), the model expects {list(shape)}")
    if not np.isfinite(a).all():
        raise InputError(f"input '{name}' holds NaN or infinity; expected finite numbers")
    return np.ascontiguousarray(a, dtype="<f8").tobytes()


def _input(model: Model | VerifyingKey, x: InputLike) -> str | list[bytes]:
    """The native form of an input: document text, or one float64 buffer per model input."""
    if isinstance(x, str) and not _is_path(x):
        return x
    if isinstance(x, (str, os.PathLike)):
        return _read_text(x, "input file")
    specs = model.inputs
    names = [s[0] for s in specs]
    if isinstance(x, Mapping):
        missing = [n for n in names if n not in x]
        extra = [k for k in x if k not in names]
        if missing or extra:
            raise InputError(
                f"input names {sorted(map(str, x))} do not match the model's inputs {names}"
                + (f" (missing {missing})" if missing else "")
                + (f" (not model inputs: {extra})" if extra else "")
            )
        return [_array(x[n], n, s[1]) for n, s in zip(names, specs)]
    if len(specs) > 1:
        if not isinstance(x, (list, tuple)) or len(x) != len(specs):
            raise InputError(f"the model has {len(specs)} inputs ({', '.join(names)}): give a list of that many arrays or a dict by name")
        return [_array(a, s[0], s[1]) for a, s in zip(x, specs)]
    name, shape = specs[0][0], specs[0][1]
    if isinstance(x, (list, tuple)) and len(x) == 1 and np.size(x[0]) == math.prod(shape) and math.prod(shape) > 1:
        x = x[0]  # a list with the one input's array
    return [_array(x, name, shape)]


def _calibration(calibration: PathLike | Mapping[str, Any]) -> str:
    if isinstance(calibration, Mapping):

        def plain(v: Any) -> Any:
            return np.asarray(v, dtype=np.float64).tolist() if not isinstance(v, (str, int, float)) else v

        return json.dumps({k: plain(v) for k, v in calibration.items()})
    return _read_text(calibration, "calibration file")


# ---- local ----


def import_onnx(
    onnx_path: PathLike,
    calibration: PathLike | Mapping[str, Any],
    out_path: PathLike | None = None,
    bits: int = 8,
) -> Model:
    """Turns a float ONNX model into a canonical integer model, exactly like ``verity
    import``: scales are chosen on the calibration samples (a calibration file's path, or
    its document as a dict, e.g. ``{"input_data": [samples]}``). ``bits`` is 8 or 16
    (activation width). With ``out_path`` the ``.vrt`` is also written there (its directory
    must exist). The model's id is the same as the CLI's for the same files."""
    m = _native.import_onnx(os.fspath(onnx_path), _calibration(calibration), int(bits))
    if out_path is not None:
        m.save(os.fspath(out_path))
    return m


def execute(model: ModelLike, input: InputLike, *, reference: bool = False) -> Execution:
    """Runs the model with its trace commitment and returns the outputs with the model id,
    the input and output hashes and the trace root (``verity run --json``). With
    ``reference=True`` the reference interpreter runs instead of the fast engine; the bits
    are the same."""
    m = _model(model)
    return Execution(**_execution_fields(_native.run(m, _input(m, input), reference)))


def run(model: ModelLike, input: InputLike, *, reference: bool = False) -> dict[str, np.ndarray]:
    """Runs the model on ``input`` and returns its outputs: output name -> float64 array of
    the output's shape (the reals the integer outputs stand for), in output order."""
    return execute(model, input, reference=reference).outputs


def prove(model: ModelLike, input: InputLike, out_path: PathLike | None = None) -> bytes:
    """Proves the inference of ``model`` on ``input`` and returns the proof file's bytes
    (what ``verity prove`` writes; it carries the model id, the quantized input and the
    outputs). With ``out_path`` it is also written there. Raises :class:`InputError` for a
    model with an op the prover does not support."""
    m = _model(model)
    proof = _native.prove(m, _input(m, input))
    if out_path is not None:
        path = os.fspath(out_path)
        parent = os.path.dirname(path) or "."
        if not os.path.isdir(parent):
            raise FileError(f"cannot write proof {path}: directory {parent} does not exist")
        tmp = f"{path}.tmp{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                f.write(proof)
            os.replace(tmp, path)
        except OSError as e:
            raise FileError(f"cannot write proof {path}: {e.strerror or e}") from None
    return proof


def _bytes(data: bytes | PathLike, what: str) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    try:
        with open(data, "rb") as f:
            return f.read()
    except OSError as e:
        raise FileError(f"cannot read {what} {os.fspath(data)}: {e.strerror or e}") from None


def keygen(model: ModelLike, out_path: PathLike | None = None) -> VerifyingKey:
    """The verifying key of ``model`` (``verity keygen``): its public commitments, which
    check its proofs without its weights. With ``out_path`` it is also written there (a
    ``.vk``). Raises :class:`InputError` for a model with an op the prover does not support."""
    key = VerifyingKey.of_model(_model(model))
    if out_path is not None:
        key.save(os.fspath(out_path))
    return key


def _key(vk: VerifyingKey | PathLike) -> VerifyingKey:
    return vk if isinstance(vk, VerifyingKey) else VerifyingKey.load(os.fspath(vk))


def _is_vk(x: Any) -> bool:
    return isinstance(x, VerifyingKey) or (isinstance(x, (str, os.PathLike)) and os.fspath(x).endswith(".vk"))


def verify_proof(proof: bytes | PathLike, model: ModelLike | VerifyingKey, input: InputLike | None = None) -> ProofCheck:
    """Checks a proof file (bytes or a path) against ``model``: a model (or ``.vrt`` path),
    or a verifying key (a :class:`VerifyingKey` or a ``.vk`` path), which needs no weights.
    With ``input``, also that it is a proof for exactly that input. Returns what it proves;
    raises :class:`InvalidEvidence` if the proof is malformed, for another model or input,
    or does not verify."""
    if _is_vk(model):
        k = _key(model)  # type: ignore[arg-type]
        d = _native.verify_proof_vk(k, _bytes(proof, "proof"), None if input is None else _input(k, input))
    else:
        m = _model(model)  # type: ignore[arg-type]
        d = _native.verify_proof(m, _bytes(proof, "proof"), None if input is None else _input(m, input))
    return ProofCheck(
        model_id=d["model_id"],
        input_hash=d["input_hash"],
        output_hash=d["output_hash"],
        proof_id=d["proof_id"],
        outputs=_outputs(d["outputs"]),
    )


def verify_receipt(receipt: str | bytes | PathLike | Mapping[str, Any], model: ModelLike, input: InputLike) -> ReceiptCheck:
    """Checks a signed receipt (its JSON text, a path to it, or the parsed dict): the
    signature, then a re-execution of ``model`` on ``input`` that must reproduce the model
    id, input hash, output hash and trace root it claims (``verity verify --receipt``).
    Raises :class:`InvalidEvidence` otherwise. Who signed it is ``executor`` in the result:
    compare it with the address you expect."""
    if isinstance(receipt, Mapping):
        text = json.dumps(receipt)
    elif isinstance(receipt, (bytes, bytearray)):
        text = bytes(receipt).decode("utf-8", errors="replace")
    elif isinstance(receipt, str) and receipt.lstrip().startswith("{"):
        text = receipt
    else:
        text = _read_text(receipt, "receipt")
    m = _model(model)
    d = _native.verify_receipt(m, text, _input(m, input))
    return ReceiptCheck(**_execution_fields(d), executor=d["executor"], timestamp=d["timestamp"], receipt_id=d["receipt_id"])


# ---- node ----


class Client:
    """A client of a Verity node that trusts nothing it says: every answer is checked
    before it is returned (``verity-client``'s checks, the same as ``verity infer``).

    ``api_key`` (default ``$VERITY_API_KEY``) is only needed to publish. ``executor``
    says whose receipts are accepted: ``"advertised"`` (the key the node names at
    ``/v1/info``, the default), ``"any"`` (any valid signature), or a ``0x`` address.
    Models are cached in ``cache_dir`` (default ``$VERITY_CACHE`` or ``~/.verity/models``),
    always checked against their id. ``proof_timeout`` (seconds, default one hour) bounds
    the wait for a proof. ``ca_cert`` (default ``$VERITY_CA_CERT``), a PEM file, is the
    only authority trusted for an ``https://`` node (a private or self-signed
    certificate); without it the Mozilla roots are."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        cache_dir: PathLike | None = None,
        executor: str = "advertised",
        proof_timeout: float | None = None,
        ca_cert: PathLike | None = None,
    ) -> None:
        if api_key is None:
            api_key = os.environ.get("VERITY_API_KEY") or None
        if ca_cert is None:
            ca_cert = os.environ.get("VERITY_CA_CERT") or None
        self._c = _native.Client(
            url,
            api_key,
            None if cache_dir is None else os.fspath(cache_dir),
            executor,
            None if proof_timeout is None else float(proof_timeout),
            None if ca_cert is None else os.fspath(ca_cert),
        )

    @property
    def url(self) -> str:
        return self._c.url

    def __repr__(self) -> str:
        return f"verity.Client({self.url!r})"

    def info(self) -> dict[str, Any]:
        """``GET /v1/info``: the executor address, version, limits and counts."""
        info: dict[str, Any] = json.loads(self._c.info())
        return info

    def publish(self, path: PathLike, calibration: PathLike | Mapping[str, Any] | None = None, bits: int = 8) -> str:
        """Publishes a model and returns its id. An ONNX model (needs ``calibration``) is
        also imported here, and the node's id must equal the local one; a ``.vrt`` is sent
        as is, and the node must name it by its own hash. Needs the node's API key
        (:class:`NodeError` with status 401 otherwise)."""
        p = os.fspath(path)
        if calibration is not None:
            model_id, _ = self._c.publish_onnx(p, _calibration(calibration), int(bits))
        elif p.endswith(".onnx"):
            raise InputError(f"{p} is an ONNX model: publishing it needs calibration= (a calibration file or dict)")
        else:
            model_id, _ = self._c.publish_vrt(p)
        return model_id

    def model(self, model_id: str) -> Model:
        """The model with this id, downloaded (or from the cache) and checked against it."""
        return self._c.model(model_id)

    def infer(
        self,
        model_id: str,
        input: InputLike,
        evidence: Evidence = "none",
        *,
        vk: VerifyingKey | PathLike | None = None,
        vk_id: str | None = None,
        reexecute: bool = False,
    ) -> Answer | LightAnswer:
        """Runs ``input`` on the node. Raises :class:`InvalidEvidence` on any mismatch.

        For ``"none"`` and ``"receipt"`` the answer is returned only if a local
        re-execution reproduces its hashes and outputs, and for ``"receipt"`` if the receipt
        is validly signed by the expected executor, recent, and binds exactly this model,
        input, output and trace root.

        ``"zk"`` is a light client (``verity infer --evidence zk``): a :class:`LightAnswer`
        is returned once the node's proof is done, verifies with a verifying key, and
        proves exactly this input and the node's answer; nothing is re-executed. The key is
        ``vk`` (a :class:`VerifyingKey` or ``.vk`` path; the model is not downloaded), or
        the node's key if its digest is ``vk_id``, or else one derived here from the model
        downloaded and checked against its id. A key the node serves unpinned is never
        used: a model id cannot vouch for a key's weight commitment. ``reexecute=True``
        instead re-executes too and returns an :class:`Answer`."""
        if evidence != "zk" and (vk is not None or vk_id is not None or reexecute):
            raise InputError('vk=, vk_id= and reexecute= go with evidence="zk"')
        if reexecute and (vk is not None or vk_id is not None):
            raise InputError("reexecute=True checks the proof with a key derived from the re-executed model: give no vk= or vk_id=")
        if evidence == "zk" and not reexecute:
            if vk is not None and vk_id is not None:
                raise InputError("give vk= or vk_id=, not both")
            key = _key(vk) if vk is not None else self._c.light_key(model_id, vk_id)
            d = self._c.infer_light(model_id, _input(key, input), key)
            source = "vk" if vk is not None else "vk_id" if vk_id is not None else "derived"
            return LightAnswer(
                model_id=d["model_id"],
                input_hash=d["input_hash"],
                output_hash=d["output_hash"],
                outputs=_outputs(d["outputs"]),
                vk_id=d["vk_id"],
                key_source=source,
                proof=d["proof"],
                proof_id=d["proof_id"],
                proof_job=d["proof_job"],
            )
        m = self.model(model_id)
        d = self._c.infer(model_id, _input(m, input), evidence)
        return Answer(
            **_execution_fields(d),
            evidence=d["evidence"],
            receipt=d.get("receipt"),
            receipt_id=d.get("receipt_id"),
            proof=d.get("proof"),
            proof_id=d.get("proof_id"),
            proof_job=d.get("proof_job"),
        )

    def chat(
        self,
        messages: str | Sequence[Mapping[str, str]] | Sequence[tuple[str, str]],
        model: str | None = None,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        seed: int | None = None,
        stop: str | Sequence[str] | None = None,
        model_file: PathLike | None = None,
    ) -> ChatAnswer:
        """A chat completion from the node's OpenAI-compatible ``/v1/chat/completions``.

        ``messages`` is a user message (a ``str``), or a list of ``{"role", "content"}``
        dicts or ``(role, content)`` pairs (roles ``system``, ``user``, ``assistant``).
        ``model`` is the LLM's id or name (default: the node's only LLM). Parameters left
        ``None`` take the node's defaults (temperature 1, top_p 1, a seed the node picks).

        The answer is returned only if its receipt is validly signed by the expected
        executor at the time of the request, its claims are about exactly the returned
        completion, and that completion has the parameters asked for; with ``model_file``
        (the LLM's GGUF) the prompt tokens must also be these messages and every token is
        re-derived here (``reexecuted``). Raises :class:`InvalidEvidence` otherwise, and
        :class:`NodeError` (with ``status``) for a request the node refuses."""
        if isinstance(messages, str):
            turns = [("user", messages)]
        else:
            turns = []
            for m in messages:
                if isinstance(m, Mapping):
                    role, content = m.get("role"), m.get("content")
                else:
                    role, content = tuple(m)
                if not isinstance(role, str) or not isinstance(content, str):
                    raise InputError(f"a message is a role and a content string, got {m!r}")
                turns.append(("system" if role == "developer" else role, content))
        for name, v in (("max_tokens", max_tokens), ("top_k", top_k), ("seed", seed)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise InputError(f"{name} must be a non-negative int, got {v!r}")
        for name, f in (("temperature", temperature), ("top_p", top_p)):
            if f is not None and not (isinstance(f, (int, float)) and not isinstance(f, bool) and math.isfinite(f)):
                raise InputError(f"{name} must be a finite number, got {f!r}")
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        request = {
            "model": model,
            "messages": turns,
            "max_tokens": max_tokens,
            "temperature": None if temperature is None else float(temperature),
            "top_p": None if top_p is None else float(top_p),
            "top_k": top_k,
            "seed": seed,
            "stop": stops,
        }
        d = self._c.chat(json.dumps(request), None if model_file is None else os.fspath(model_file))
        return ChatAnswer(
            **_llm_fields(d), receipt=d["receipt"], reexecuted=d["reexecuted"], response=json.loads(d["response"])
        )

    def fetch_receipt(self, receipt_id: str) -> ReceiptCheck:
        """A receipt this node stored, accepted only if re-executing its model on its stored
        input reproduces it and it is signed by the expected executor."""
        d = self._c.fetch_receipt(receipt_id)
        return ReceiptCheck(**_execution_fields(d), executor=d["executor"], timestamp=json.loads(d["receipt"])["timestamp"], receipt_id=d["receipt_id"])

    def fetch_proof(self, proof_id: str) -> ProofCheck:
        """A proof by proof id or job id (waited for), accepted only if it verifies with a
        key derived here from its model."""
        d = self._c.fetch_proof(proof_id)
        return ProofCheck(
            model_id=d["model_id"],
            input_hash=d["input_hash"],
            output_hash=d["output_hash"],
            proof_id=d["proof_id"],
            outputs=_outputs(d["outputs"]),
            proof=d["proof"],
            proof_job=d["proof_job"],
        )
