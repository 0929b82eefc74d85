"""The intermediate representation: plain frozen dataclasses, no torch import.

Front ends (torch.fx, ONNX) produce a ``Graph``; passes are ``Graph -> Graph`` functions; back ends
(manifest writer, NumPy reference, ONNX writer, Java renderer) consume it.

Conventions
- Shapes are per sample: the batch dimension is implicit and never stored (input (1, 60, 120)).
- Values are named strings. The graph input is one value; every node writes exactly the values in
  ``outputs`` (one for every v1 op).
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
    """A whole model: input, nodes in topological order, output, and its tensors."""

    name: str
    input: ValueSpec
    output: str
    nodes: tuple[Node, ...]
    tensors: Mapping[str, np.ndarray]
    # Class names of the output, or None when the source does not know them. No default: every
    # front end and reader decides.
    classes: tuple[str, ...] | None
    # "probabilities" when the graph ends in softmax/sigmoid, else "logits"
    # (pd2java.ops.frontend_registry.output_kind). No default: every front end and reader decides.
    output_kind: str
    # Provenance and extra input description (e.g. the PRPD image convention), JSON-able.
    meta: Mapping[str, Any] = field(default_factory=dict)
    # Names of IR passes applied, in order (e.g. "fold_bn").
    transforms: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "tensors", _freeze(self.tensors))
        object.__setattr__(self, "meta", _freeze(self.meta))

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
    def output_shape(self) -> tuple[int, ...]:
        return self.value_shape(self.output)
