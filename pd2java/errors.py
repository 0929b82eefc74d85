"""Exceptions shared by the whole package.

``UserError`` is anything the user can fix (bad file, bad option); the CLI prints its message and
exits 1. ``ParityError`` means Java and the oracles disagree; the CLI exits 2.

``FormatError`` is the ``UserError`` of the model format: a manifest, weights file or inference
input that breaks a rule of docs/FORMAT.md. Its ``code`` is an :class:`ErrorCode`, the same names
the Java runtime's ``Pd2JavaException.code()`` uses (the Java enum is generated from this one), so a
caller can branch on the code in either language.
"""

from __future__ import annotations

from dataclasses import dataclass
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
        "string length, tensor or node count, planned activation memory), or, in the Java "
        "runtime, a load needs more heap than is free (the message says how much; raise -Xmx) "
        "or would take a ModelRegistry past its memory budget."
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


@dataclass(frozen=True)
class Finding:
    """One unsupported node found by a front end: where it is, what it is, why it is refused and
    the way around it.

    ``node``: the graph node (``fx node 'cumsum'``, or ``ONNX node 'k' (TopK)``); ``module_path``
    (torch.fx): the qualified name of the module it is or sits in (``"block.1"``; ``""`` at the
    top level); ``location`` (torch.fx): ``file.py:12 in forward (the source line)``; ``what``:
    the construct with its relevant settings (``PixelShuffle(upscale_factor=2)``,
    ``torch.cumsum(tensor[2, 4, 4], dim=1)``, ``TopK(axis=1)``); ``target``: its qualified torch
    name (``torch.nn.PixelShuffle``, ``torch.cumsum``, ``Tensor.topk``) or ONNX op type;
    ``reason``: the rule it breaks; ``hint``: the substitute, or ``""`` when none is known.
    """

    node: str
    what: str
    target: str
    reason: str
    hint: str = ""
    module_path: str = ""
    location: str = ""

    def format(self) -> str:
        """The finding as text: node, module, source line and the rule; then what was found and
        the way around it, each on its own line."""
        head = self.node
        if self.module_path:
            head += f" in module {self.module_path!r}"
        if self.location:
            head += f" at {self.location}"
        lines = [f"{head}: {self.reason}"]
        if self.what and self.what != self.target:  # an ONNX node without attributes: no news
            lines.append(f"found: {self.what}")
        if self.hint:
            lines.append(f"instead: {self.hint}")
        return "\n     ".join(lines)


class UnsupportedModelError(UserError):
    """A model with nodes pd2java cannot export, every one of them found in one pass.

    ``findings`` lists them in graph order (:class:`Finding`); the message numbers them, then
    lists the supported ops and forms once.
    """

    def __init__(self, headline: str, findings: list[Finding], supported: str) -> None:
        self.headline = headline
        self.findings = list(findings)
        self.supported = supported
        count = len(self.findings)
        lines = [f"{headline}: {count} unsupported node{'s' if count != 1 else ''}:"]
        for i, finding in enumerate(self.findings, 1):
            lines.append(f"  {i}. {finding.format()}")
        lines.append(supported)
        super().__init__("\n".join(lines))
