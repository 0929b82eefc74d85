"""Exceptions shared by the whole package.

``UserError`` is anything the user can fix (bad file, bad option); the CLI prints its message and
exits 1. ``ParityError`` means Java and the oracles disagree; the CLI exits 2.

``FormatError`` is the ``UserError`` of the model format: a manifest, weights file or inference
input that breaks a rule of docs/FORMAT.md. Its ``code`` is an :class:`ErrorCode`, the same names
the Java runtime's ``Pd2JavaException.code()`` uses (the Java enum is generated from this one), so a
caller can branch on the code in either language.
"""

from __future__ import annotations

from enum import Enum


class UserError(Exception):
    """A problem with the user's input. The message says what was wrong and where."""


class ParityError(Exception):
    """Outputs of two back ends disagree beyond the tolerance."""


class ErrorCode(str, Enum):
    """Which rule of the format a :class:`FormatError` reports. The value is the name; the
    docstring of each member (``ERROR_CODE_DOCS``) is copied into the Java enum and FORMAT.md."""

    IO_ERROR = "IO_ERROR"
    INVALID_JSON = "INVALID_JSON"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT"
    UNSUPPORTED_FORMAT_VERSION = "UNSUPPORTED_FORMAT_VERSION"
    INVALID_MANIFEST = "INVALID_MANIFEST"
    UNSAFE_PATH = "UNSAFE_PATH"
    WEIGHTS_SIZE_MISMATCH = "WEIGHTS_SIZE_MISMATCH"
    WEIGHTS_CHECKSUM_MISMATCH = "WEIGHTS_CHECKSUM_MISMATCH"
    INVALID_SAFETENSORS = "INVALID_SAFETENSORS"
    UNSUPPORTED_DTYPE = "UNSUPPORTED_DTYPE"
    NON_FINITE_WEIGHT = "NON_FINITE_WEIGHT"
    MISSING_TENSOR = "MISSING_TENSOR"
    UNKNOWN_OP = "UNKNOWN_OP"
    INVALID_ATTRIBUTE = "INVALID_ATTRIBUTE"
    INVALID_PARAMETER = "INVALID_PARAMETER"
    SHAPE_MISMATCH = "SHAPE_MISMATCH"
    INVALID_GRAPH = "INVALID_GRAPH"
    SELF_TEST_FAILED = "SELF_TEST_FAILED"
    INVALID_INPUT = "INVALID_INPUT"
    NON_FINITE_OUTPUT = "NON_FINITE_OUTPUT"


ERROR_CODE_DOCS: dict[ErrorCode, str] = {
    ErrorCode.IO_ERROR: "A file could not be read (missing, unreadable, or changed while read).",
    ErrorCode.INVALID_JSON: (
        "A JSON document (manifest or safetensors header) is not strictly valid JSON."
    ),
    ErrorCode.LIMIT_EXCEEDED: (
        "An input exceeds a documented reader limit (file or header size, JSON depth, number or "
        "string length, tensor or node count, planned activation memory)."
    ),
    ErrorCode.UNSUPPORTED_FORMAT: "The manifest's format is not pd2java.manifest.",
    ErrorCode.UNSUPPORTED_FORMAT_VERSION: (
        "The manifest's format_version is unknown (for example written by a newer pd2java)."
    ),
    ErrorCode.INVALID_MANIFEST: "A manifest key is missing, has the wrong type or an invalid value.",
    ErrorCode.UNSAFE_PATH: (
        "A path is not a regular file inside the export folder: weights.file is not a bare file "
        "name, or a file is a symlink leaving the folder, a FIFO, a device or a directory."
    ),
    ErrorCode.WEIGHTS_SIZE_MISMATCH: "The weights file's byte size differs from weights.bytes.",
    ErrorCode.WEIGHTS_CHECKSUM_MISMATCH: "The weights file's SHA-256 differs from weights.sha256.",
    ErrorCode.INVALID_SAFETENSORS: (
        "The weights file breaks a safetensors rule (header, padding, offsets, shapes, trailing "
        "bytes)."
    ),
    ErrorCode.UNSUPPORTED_DTYPE: "A referenced tensor has a dtype the format does not allow there.",
    ErrorCode.NON_FINITE_WEIGHT: "A weight or golden vector holds NaN or infinity.",
    ErrorCode.MISSING_TENSOR: "A tensor named by the manifest is not in the weights file.",
    ErrorCode.UNKNOWN_OP: "A node's op@version is not in the op table.",
    ErrorCode.INVALID_ATTRIBUTE: (
        "A node attribute is missing, extra, of the wrong kind or has an invalid value."
    ),
    ErrorCode.INVALID_PARAMETER: (
        "A node parameter slot is missing or extra, or its tensor has the wrong shape or an "
        "invalid value (e.g. a negative running variance)."
    ),
    ErrorCode.SHAPE_MISMATCH: (
        "A declared shape disagrees with the shape recomputed from inputs and attributes."
    ),
    ErrorCode.INVALID_GRAPH: (
        "The graph wiring is wrong (empty or duplicate names, unknown input value, missing output)."
    ),
    ErrorCode.SELF_TEST_FAILED: (
        "The embedded golden vectors were not reproduced within their tolerance, or the model "
        "produced a non-finite output on them."
    ),
    ErrorCode.INVALID_INPUT: (
        "An inference input is empty, has the wrong length or shape, or holds NaN or infinity."
    ),
    ErrorCode.NON_FINITE_OUTPUT: (
        "At inference the model produced NaN or infinity (e.g. from extreme finite inputs); no "
        "label is given."
    ),
}


class FormatError(UserError):
    """A manifest, weights file or inference input that breaks a rule of docs/FORMAT.md.

    ``code`` says which rule (an :class:`ErrorCode`); the message names the file and, where there
    is one, the node, then the rule.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
