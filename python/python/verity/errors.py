"""The exceptions Verity raises: every failure is a :class:`VerityError`, and its class says
whose fault it is, so "the evidence is false" can be told apart from "the file could not be
read" or "the node could not be reached"."""

from __future__ import annotations


class VerityError(Exception):
    """Base class of every error this package raises."""


class InputError(VerityError, ValueError):
    """The caller's input is wrong: an input that does not fit the model, a file that is not
    a canonical model or ONNX model, an unsupported op, a bad argument."""


class FileError(VerityError, OSError):
    """A file could not be read or written (missing, unreadable, directory does not exist)."""


class InvalidEvidence(VerityError):
    """A proof, receipt or node answer is well formed but false: it does not verify, or it
    binds another model, input or output than the one checked. Never use such an answer."""


class NetworkError(VerityError, ConnectionError):
    """The node could not be reached, or the connection broke."""


class NodeError(VerityError):
    """The node answered with an error status (``status``: 401 wrong API key, 403 publishing
    disabled, 404 unknown id, 422 unsupported, 503 busy, ...)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ProtocolError(VerityError):
    """The node answered 2xx with something that is not what its API promises."""


class ProofFailed(VerityError):
    """The node accepted a proof job but reports that proving it failed."""


__all__ = [
    "VerityError",
    "InputError",
    "FileError",
    "InvalidEvidence",
    "NetworkError",
    "NodeError",
    "ProtocolError",
    "ProofFailed",
]


class ClampWarning(UserWarning):
    """Some input values lie outside the range the model was calibrated for; they are
    clamped to it (the answer is still exact for the clamped input, but may be far from
    the float model's)."""


class CalibrationWarning(UserWarning):
    """A calibration file was read without being checked against the model: one flat list
    holding several samples, whose boundaries nothing marks (write one list per sample)."""


__all__ += ["ClampWarning", "CalibrationWarning"]
