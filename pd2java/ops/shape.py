"""flatten: torch lowerings (nn.Flatten, torch.flatten(x, 1), x.view(x.size(0), -1)), shape rule,
NumPy kernel and ONNX mappings (Flatten, Reshape)."""

from __future__ import annotations

from collections.abc import Mapping
from math import prod
from typing import TYPE_CHECKING

import numpy as np

from pd2java.ops import onnx_conventions
from pd2java.ops.frontend_registry import onnx_export, onnx_import, torch_function, torch_module
from pd2java.ops.lowering import BATCH, Call, Lowered, Unsupported, Value, is_runtime
from pd2java.ops.registry import Attrs, Shape, register

if TYPE_CHECKING:
    from onnx import NodeProto

    from pd2java.backends.onnx import Emitter
    from pd2java.frontends.onnx import Importer
    from pd2java.ir import Node


def lower_flatten_call(start_dim: int = 0, end_dim: int = -1, *, rank: int) -> Lowered:
    """Flattening everything but the batch axis is the only flatten v1 has."""
    start = start_dim + rank if start_dim < 0 else start_dim
    end = end_dim + rank if end_dim < 0 else end_dim
    if start != 1 or end != rank - 1:
        raise Unsupported(
            f"flatten(start_dim={start_dim}, end_dim={end_dim}) of a rank-{rank} tensor "
            "(only flattening all but the batch axis, start_dim=1, is supported)"
        )
    return Lowered("flatten")


@torch_module("torch.nn.Flatten", ops=("flatten",), shown="Flatten()")
def _flatten_module(mod: object, x: Value) -> Lowered:
    return lower_flatten_call(mod.start_dim, mod.end_dim, rank=x.rank)


@torch_function(
    "torch.flatten",
    methods=("flatten",),
    ops=("flatten",),
    shown={"torch.flatten": "torch.flatten(x, 1)", "flatten": "x.flatten(1)"},
)
def _flatten_call(call: Call) -> Lowered:
    x = call.tensor(0)
    b = call.bind(["start_dim", "end_dim"], {"start_dim": 0, "end_dim": -1})
    return lower_flatten_call(b["start_dim"], b["end_dim"], rank=x.rank)


@torch_function(
    "torch.reshape",
    methods=("view", "reshape"),
    ops=("flatten",),
    shown={
        "torch.reshape": "torch.reshape(x, (x.size(0), -1))",
        "view": "x.view(x.size(0), -1)",
        "reshape": "x.reshape(x.shape[0], -1)",
    },
    note="only to (N, -1)",
)
def _reshape_call(call: Call) -> Lowered:
    x = call.tensor(0)
    dims = list(call.args[1:])
    if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
        dims = list(dims[0])
    if "shape" in call.kwargs or "size" in call.kwargs:
        dims = list(call.kwargs.get("shape", call.kwargs.get("size")))
    numel = prod(x.shape)
    if len(dims) == 2:
        first, second = dims
        batch_ok = first is BATCH or (first == -1 and second == numel)
        if batch_ok and second in (-1, numel):
            return Lowered("flatten")
    shown = ["x.size(0)" if is_runtime(d) else d for d in dims]
    raise Unsupported(f"reshape to {shown} (only flattening to (N, -1) is supported)")


def _flatten_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    return (prod(shape),)


@register("flatten", 1, infer=_flatten_infer)
def flatten_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    x = inputs[0]
    return np.ascontiguousarray(x).reshape(x.shape[0], -1)


# --- ONNX -----------------------------------------------------------------------------------


@onnx_import("Flatten", ops=("flatten",), form="`axis` 1 (or -rank+1)")
def _flatten_from_onnx(im: Importer, node: NodeProto) -> None:
    x = im.runtime(node.input[0])
    rank = len(x.shape) + 1
    axis = int(im.attrs(node).get("axis", 1))
    if axis < 0:
        axis += rank
    if axis != 1:
        raise im.fail(
            f"Flatten(axis={axis}) is not supported; pd2java flattens each sample (axis=1)"
        )
    im.emit("flatten", [x], node.output[0])


@onnx_import(
    "Reshape",
    ops=("flatten",),
    form="constant target `[0, -1]`, `[N, -1]` (N from a folded `Shape`), `[-1, K]`, "
    "`[N or 0, K]`, and `[1, -1]` when the batch is fixed at 1",
)
def _reshape_from_onnx(im: Importer, node: NodeProto) -> None:
    x = im.runtime(node.input[0])
    target = im.const(node.input[1], "shape").array.reshape(-1).tolist()
    allowzero = int(im.attrs(node).get("allowzero", 0))
    size = prod(x.shape)
    ok = False
    if len(target) == 2:
        first, second = target
        batch_ok = (
            first is onnx_conventions.BATCH
            or (first == 0 and not allowzero)
            or (first == 1 and im.batch_static)
            or (first == -1 and second == size)
        )
        ok = batch_ok and second in (-1, size)
    if not ok:
        raise im.fail(
            f"Reshape to {target} is not supported; pd2java supports flattening each sample: a "
            f"constant shape [N, -1], [0, -1] or [-1, {size}] (allowzero=0 for 0)"
            + ("" if im.batch_static else "; [1, ...] only when the input batch is fixed at 1")
        )
    im.emit("flatten", [x], node.output[0])


@onnx_export("flatten", 1, doc="`Flatten(axis=1)`")
def _flatten_to_onnx(e: Emitter, node: Node) -> None:
    e.add("Flatten", node.inputs, node.outputs, node.name, axis=1)
