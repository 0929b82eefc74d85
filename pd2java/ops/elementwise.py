"""add: lowering of ``a + b`` / ``torch.add(a, b)`` (two tensors, same shape, alpha 1), shape
rule, NumPy kernel and ONNX mappings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from pd2java.ops.frontend_registry import onnx_export, onnx_import, torch_function
from pd2java.ops.linear import fold_matmul_bias
from pd2java.ops.lowering import Call, Lowered, Unsupported, is_runtime
from pd2java.ops.onnx_conventions import Const
from pd2java.ops.registry import Attrs, Shape, ShapeError, register

if TYPE_CHECKING:
    from onnx import NodeProto

    from pd2java.backends.onnx import Emitter
    from pd2java.frontends.onnx import Importer
    from pd2java.ir import Node


@torch_function(
    "operator.add",
    "torch.add",
    methods=("add",),
    ops=("add",),
    shown={"operator.add": "a + b", "torch.add": "torch.add(a, b)", "add": "a.add(b)"},
    note="same shapes",
    aliases=("operator.iadd",),
)
def _add_call(call: Call) -> Lowered:
    if len(call.args) < 2 or not all(is_runtime(v) for v in call.args[:2]):
        raise Unsupported("add of a constant (only the sum of two tensor values is supported)")
    a, b = call.tensor(0), call.tensor(1)
    alpha = call.kwargs.get("alpha", 1)
    extra = set(call.kwargs) - {"alpha"}
    if alpha != 1 or extra or len(call.args) > 2:
        raise Unsupported("torch.add with alpha or extra arguments")
    if a.shape != b.shape:
        raise Unsupported(f"add of shapes {list(a.shape)} and {list(b.shape)} (no broadcasting)")
    return Lowered("add", inputs=(a, b))


def _add_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    a, b = shapes
    if a != b:
        raise ShapeError(f"add needs equal shapes (no broadcasting), got {list(a)} and {list(b)}")
    return a


@register("add", 1, infer=_add_infer)
def add_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    return (inputs[0] + inputs[1]).astype(np.float32)


# --- ONNX -----------------------------------------------------------------------------------


@onnx_import("Add", ops=("add",), form="two computed values of the same shape (no broadcasting)")
def _add_from_onnx(im: Importer, node: NodeProto) -> None:
    if any(isinstance(im.get(name), Const) for name in node.input[:2]):
        fold_matmul_bias(im, node)  # the only Add of a constant pd2java reads
        return
    x, y = im.runtime(node.input[0]), im.runtime(node.input[1])
    if x.shape != y.shape:
        raise im.fail(
            f"adds per-sample shapes {list(x.shape)} and {list(y.shape)}; pd2java's add "
            "needs equal shapes (no broadcasting)"
        )
    im.emit("add", [x, y], node.output[0])


@onnx_export("add", 1, doc="`Add`")
def _add_to_onnx(e: Emitter, node: Node) -> None:
    e.add("Add", node.inputs, node.outputs, node.name)
