"""ONNX conventions shared by the reader (``pd2java.frontends.onnx``), the writer
(``pd2java.backends.onnx``) and the op families' ONNX mappings: opset numbers, metadata keys and
the kinds of value the reader tracks. Imports neither onnx nor torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# The writer's opset, and the IR version that goes with it: newer IR versions gain nothing here
# and are refused by older onnxruntime builds.
OPSET = 17
IR_VERSION = 8
# The oldest opset the reader accepts.
MIN_OPSET = 13
# The symbolic batch dimension the writer puts on the input and the output.
BATCH_DIM = "N"
# Metadata keys carried through a round trip (the writer sets them, the reader reads them back).
META_CLASSES = "pd2java.classes"
META_OUTPUT_KIND = "pd2java.output_kind"


# --- what the reader maps each ONNX value to ---------------------------------------------------


class _BatchMarker:
    """The symbolic batch size inside a folded shape vector."""

    def __repr__(self) -> str:
        return "N"


BATCH = _BatchMarker()


@dataclass(frozen=True)
class Runtime:
    """An IR value computed per sample: its IR name and per-sample shape."""

    name: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Const:
    """A constant array (initializer, Constant node or folded shape computation)."""

    array: np.ndarray
    source: str  # ONNX value it came from: the dedup key for IR tensors


@dataclass(frozen=True)
class PartialMean:
    """A ReduceMean over H or W alone, awaiting the ReduceMean that completes it."""

    source: Runtime  # the (C, H, W) value being averaged
    axes: frozenset[int]  # axes of the full (N, C, H, W) tensor averaged so far
    keepdims: bool
    node_name: str  # the first ReduceMean's name, used for the IR node


OnnxValue = Runtime | Const | PartialMean


def float_attr(value: Any) -> float:
    """An ONNX float attribute (stored as float32) as the shortest decimal that rounds to it:
    PyTorch's eps=1e-5 comes back as 1e-05, not 9.999999747378752e-06, and is the same float32."""
    return float(str(np.float32(value)))


def int_list(value: Any) -> list[int]:
    return [int(v) for v in value]
