"""The intermediate representation: plain frozen dataclasses, no torch import.

Front ends (torch.fx, ONNX) produce a ``Graph``; passes are ``Graph -> Graph`` functions; back ends
(manifest writer, NumPy reference, ONNX writer, Java renderer) consume it.

Conventions
- Shapes are per sample: the batch dimension is implicit and never stored (input (1, 60, 120)).
- Values are named strings. The graph input is one value of any rank; every node writes exactly
  the values in ``outputs`` (one for every op). The graph has one or more outputs; the first is
  the primary one, which class names and ``classify`` refer to.
- ``params`` maps a parameter slot of the op (``"weight"``, ``"bias"``, ...) to a key of
  ``Graph.tensors`` or ``None`` for an absent optional slot. A tensor used by two nodes (a module
  called twice) is stored once and referenced twice.
- ``attrs`` holds every attribute of the op's spec explicitly (see pd2java.ops.table); int pairs
  are tuples of two ints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np

AttrValue = int | float | bool | str | tuple[int, ...]


def _freeze(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class ValueSpec:
    """A named tensor value flowing between nodes (per-sample shape)."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"


@dataclass(frozen=True)
class Node:
    """One op application."""

    name: str
    op: str
    version: int
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)
    params: Mapping[str, str | None] = field(default_factory=dict)
    output_shape: tuple[int, ...] = ()
    # Where the node came from (fx source line, ONNX node name), for error messages only.
    origin: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "attrs", _freeze(self.attrs))
        object.__setattr__(self, "params", _freeze(self.params))

    @property
    def key(self) -> str:
        return f"{self.op}@{self.version}"

    def with_(self, **changes: Any) -> Node:
        return replace(self, **changes)


@dataclass(frozen=True)
class Graph:
    """A whole model: input, nodes in topological order, outputs, and its tensors."""

    name: str
    input: ValueSpec
    # Names of the model's output values, the primary one first (at least one).
    outputs: tuple[str, ...]
    nodes: tuple[Node, ...]
    tensors: Mapping[str, np.ndarray]
    # Class names of the output, or None when the source does not know them. No default: every
    # front end and reader decides.
    classes: tuple[str, ...] | None
    # One per output: "probabilities" when that output is a softmax/sigmoid, else "logits" (raw
    # values; pd2java.ops.frontend_registry.output_kind). No default: every front end and reader
    # decides.
    output_kinds: tuple[str, ...]
    # Provenance and extra input description (e.g. the PRPD image convention), JSON-able.
    meta: Mapping[str, Any] = field(default_factory=dict)
    # Names of IR passes applied, in order (e.g. "fold_bn").
    transforms: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "output_kinds", tuple(self.output_kinds))
        object.__setattr__(self, "tensors", _freeze(self.tensors))
        object.__setattr__(self, "meta", _freeze(self.meta))
        if len(self.output_kinds) != len(self.outputs):
            raise ValueError(
                f"graph {self.name!r}: {len(self.outputs)} outputs but "
                f"{len(self.output_kinds)} output kinds"
            )

    def with_(self, **changes: Any) -> Graph:
        return replace(self, **changes)

    def producer_of(self, value: str) -> Node | None:
        for node in self.nodes:
            if value in node.outputs:
                return node
        return None

    def consumers_of(self, value: str) -> list[Node]:
        return [n for n in self.nodes if value in n.inputs]

    def value_shape(self, value: str) -> tuple[int, ...]:
        if value == self.input.name:
            return self.input.shape
        node = self.producer_of(value)
        if node is None:
            raise KeyError(f"value {value!r} is produced by no node")
        return node.output_shape

    @property
    def output(self) -> str:
        """The primary output's value name."""
        return self.outputs[0]

    @property
    def output_kind(self) -> str:
        """The primary output's kind."""
        return self.output_kinds[0]

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The primary output's per-sample shape."""
        return self.value_shape(self.output)

    @property
    def output_shapes(self) -> tuple[tuple[int, ...], ...]:
        return tuple(self.value_shape(v) for v in self.outputs)
