"""The ONNX back end: a pd2java IR ``Graph`` as an ONNX model (opset 17), built with onnx.helper.

Design choices, and why:
- Only the IR is read (no torch), so an ONNX file can be made from any front end's graph.
- The batch axis is the symbolic dimension ``"N"`` on the input and the output; every other
  dimension is static. Every intermediate value gets a ``value_info`` with its IR shape, so
  ``onnx.checker.check_model(full_check=True)`` (strict shape inference) proves that the IR's
  static shapes agree with ONNX's own semantics.
- Initializers come from ``graph.tensors`` in order of first use, each exactly once even when two
  nodes reference it (a module called twice). Helper constants the mapping needs (the ones/zeros
  of an affine-free batch norm, the 0 and 6 of relu6) are added beside them with fresh names.
- No timestamps, no paths, no dict iteration order anywhere: the same graph gives the same bytes.
- How each op is written is registered by its op family (``onnx_export`` in
  ``pd2java.ops.<family>``); this module walks the graph and gives those emitters the ``Emitter``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from pd2java import __version__
from pd2java.errors import UserError
from pd2java.fsutil import write_bytes_atomic
from pd2java.ir import Graph, Node
from pd2java.ops.frontend_registry import onnx_exports
from pd2java.ops.onnx_conventions import (
    BATCH_DIM,
    IR_VERSION,
    META_CLASSES,
    META_OUTPUT_KIND,
    OPSET,
)
from pd2java.ops.table import lookup, supported_ops

__all__ = [
    "BATCH_DIM",
    "IR_VERSION",
    "META_CLASSES",
    "META_OUTPUT_KIND",
    "OPSET",
    "Emitter",
    "graph_to_onnx",
    "write_onnx",
]


class Emitter:
    """Accumulates ONNX nodes, initializers and value infos while walking the IR in order."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.value_infos: list[onnx.ValueInfoProto] = []
        # IR tensor key -> initializer name (usually the same string).
        self._tensor_names: dict[str, str] = {}
        self._constants: dict[str, str] = {}
        values = [graph.input.name] + [o for n in graph.nodes for o in n.outputs]
        self._taken: set[str] = set(values)
        self._node_names: set[str] = {n.name for n in graph.nodes}

    def fresh(self, base: str) -> str:
        """A name no value, initializer or node of this model uses yet."""
        name, i = base, 1
        while name in self._taken or name in self._node_names:
            name, i = f"{base}_{i}", i + 1
        self._taken.add(name)
        return name

    def tensor(self, key: str, node: Node) -> str:
        """The initializer name of IR tensor ``key``, adding the initializer on first use."""
        if key in self._tensor_names:
            return self._tensor_names[key]
        if key not in self.graph.tensors:
            raise UserError(
                f"node {node.name!r} ({node.key}) references tensor {key!r}, "
                "which is not in the graph's tensors"
            )
        array = np.asarray(self.graph.tensors[key])
        if array.dtype != np.float32:
            raise UserError(
                f"tensor {key!r} (used by node {node.name!r}) has dtype {array.dtype}; "
                "ONNX export writes float32 weights only"
            )
        # A tensor key may collide with a value name in principle; rename only then.
        name = key if key not in self._taken else self.fresh(f"{key}_weight")
        self._taken.add(name)
        self._tensor_names[key] = name
        self.initializers.append(numpy_helper.from_array(np.array(array, order="C"), name))
        return name

    def constant(self, base: str, array: np.ndarray) -> str:
        """A helper initializer, shared by every node that needs the same ``base`` constant."""
        if base in self._constants:
            return self._constants[base]
        name = self.fresh(base)
        self._constants[base] = name
        self.initializers.append(numpy_helper.from_array(np.array(array, order="C"), name))
        return name

    def value_info(self, name: str, shape: tuple[int, ...]) -> None:
        self.value_infos.append(_tensor_info(name, shape))

    def add(
        self,
        op_type: str,
        inputs: Iterable[str],
        outputs: Iterable[str],
        name: str,
        **attrs: object,
    ) -> None:
        self.nodes.append(
            helper.make_node(op_type, list(inputs), list(outputs), name=name, **attrs)
        )

    def pair(self, node: Node, attr: str) -> list[int]:
        """Int-pair attribute ``attr`` of ``node`` as an ONNX int list, checked."""
        return _pair(node, attr)


def _tensor_info(name: str, shape: tuple[int, ...]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [BATCH_DIM, *shape])


def _pair(node: Node, attr: str) -> list[int]:
    value = node.attrs[attr]
    if not (
        isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value)
    ):
        raise UserError(
            f"node {node.name!r} ({node.key}): attribute {attr!r} must be a pair of "
            f"ints, got {value!r}"
        )
    return [int(v) for v in value]


def _check_node(node: Node) -> None:
    """Every attribute and required parameter present, nothing unknown (ops/table.py)."""
    try:
        spec = lookup(node.op, node.version, where=f"node {node.name!r}")
    except KeyError as exc:
        raise UserError(str(exc.args[0])) from None
    want = {a.name for a in spec.attrs}
    have = set(node.attrs)
    if want != have:
        raise UserError(
            f"node {node.name!r} ({node.key}): attributes {sorted(have)} do not match the op's "
            f"{sorted(want)}"
        )
    slots = {p.name: p for p in spec.params}
    for slot in node.params:
        if slot not in slots:
            raise UserError(f"node {node.name!r} ({node.key}): unknown parameter slot {slot!r}")
    for slot, pspec in slots.items():
        if not pspec.optional and node.params.get(slot) is None:
            raise UserError(f"node {node.name!r} ({node.key}): parameter {slot!r} is required")
    if len(node.inputs) != spec.num_inputs or len(node.outputs) != 1:
        raise UserError(
            f"node {node.name!r} ({node.key}): expects {spec.num_inputs} input(s) and 1 output, "
            f"got {len(node.inputs)} and {len(node.outputs)}"
        )


def graph_to_onnx(graph: Graph) -> onnx.ModelProto:
    """The ONNX model (opset 17, batch dimension ``"N"``) computing the same function as ``graph``.

    Raises ``UserError`` naming the node when the graph uses an op or attribute set this back end
    does not know. The result passes ``onnx.checker.check_model(model, full_check=True)``.
    """
    for value in graph.outputs:
        if not graph.nodes or graph.producer_of(value) is None:
            raise UserError(f"graph {graph.name!r}: output {value!r} is produced by no node")
    e = Emitter(graph)
    exports = onnx_exports()
    for node in graph.nodes:
        _check_node(node)
        mapping = exports.get(node.key)
        if mapping is None:  # the table grew an op no family maps to ONNX yet
            raise UserError(
                f"node {node.name!r}: no ONNX mapping for {node.key}; "
                f"mapped: {', '.join(sorted(exports))} (table: {supported_ops()})"
            )
        mapping.emit(e, node)
        if node.outputs[0] not in graph.outputs:
            e.value_info(node.outputs[0], node.output_shape)
    onnx_graph = helper.make_graph(
        e.nodes,
        graph.name,
        [_tensor_info(graph.input.name, graph.input.shape)],
        [_tensor_info(v, shape) for v, shape in zip(graph.outputs, graph.output_shapes)],
        initializer=e.initializers,
        value_info=e.value_infos,
    )
    model = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="pd2java",
        producer_version=__version__,
        ir_version=IR_VERSION,
    )
    meta = {META_OUTPUT_KIND: graph.output_kind}  # the primary output's kind
    if graph.classes is not None:
        meta[META_CLASSES] = json.dumps(list(graph.classes))
    helper.set_model_props(model, meta)
    return model


def write_onnx(graph: Graph, path: str | os.PathLike[str]) -> Path:
    """Check ``graph_to_onnx(graph)`` with the full ONNX checker and write it atomically.

    The bytes go to a temporary file in the target folder, which is then renamed over ``path``,
    so a failure never leaves a partial ``.onnx`` behind.
    """
    target = Path(path)
    model = graph_to_onnx(graph)
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        # The IR disagrees with ONNX's own shape rules: a bug in a front end or pass, not the user.
        raise RuntimeError(f"graph {graph.name!r} maps to an invalid ONNX model: {exc}") from exc
    data = model.SerializeToString(deterministic=True)
    write_bytes_atomic(target, data)
    return target
