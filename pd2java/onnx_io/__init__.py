"""ONNX both ways: the IR as an ONNX model (back end) and an ONNX model as the IR (front end).

- ``graph_to_onnx(graph) -> onnx.ModelProto``: opset 17, a dynamic batch dimension ``"N"``,
  deterministic bytes; built from the IR alone (no torch).
- ``write_onnx(graph, path) -> Path``: the same, checked and written atomically.
- ``onnx_to_graph(path) -> Graph``: maps an opset >= 13 ONNX model onto the IR, refusing with a
  ``UserError`` anything the IR cannot express exactly (see ``SUPPORTED_ONNX_OPS``).

docs/ONNX.md describes both mappings op by op.
"""

from __future__ import annotations

from pd2java.onnx_io.reader import MIN_OPSET, SUPPORTED_ONNX_OPS, onnx_to_graph
from pd2java.onnx_io.writer import OPSET, graph_to_onnx, write_onnx

__all__ = [
    "MIN_OPSET",
    "OPSET",
    "SUPPORTED_ONNX_OPS",
    "graph_to_onnx",
    "onnx_to_graph",
    "write_onnx",
]
