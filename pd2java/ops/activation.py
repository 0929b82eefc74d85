"""Activations (relu, relu6, leaky_relu, sigmoid, softmax): torch lowerings, shape rules, NumPy
kernels and ONNX mappings. nn.Hardtanh(0, 6) and torch.clamp(x, 0, 6) lower to relu6."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from pd2java.errors import ErrorCode
from pd2java.ops.frontend_registry import onnx_export, onnx_import, torch_function, torch_module
from pd2java.ops.lowering import Call, Lowered, Unsupported, Value
from pd2java.ops.onnx_conventions import float_attr
from pd2java.ops.registry import Attrs, Shape, ShapeError, register

if TYPE_CHECKING:
    from onnx import NodeProto

    from pd2java.backends.onnx import Emitter
    from pd2java.frontends.onnx import Importer
    from pd2java.ir import Node


def _same(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    return shape


# --- torch lowerings ----------------------------------------------------------------------


@torch_module("torch.nn.ReLU", ops=("relu",))
def _relu_module(mod: object, x: Value) -> Lowered:
    return Lowered("relu")


@torch_function("torch.nn.functional.relu", "torch.relu", methods=("relu",), ops=("relu",))
def _relu_call(call: Call) -> Lowered:
    return Lowered("relu")


@torch_module("torch.nn.ReLU6", ops=("relu6",))
def _relu6_module(mod: object, x: Value) -> Lowered:
    return Lowered("relu6")


@torch_function("torch.nn.functional.relu6", ops=("relu6",))
def _relu6_call(call: Call) -> Lowered:
    return Lowered("relu6")


@torch_module("torch.nn.LeakyReLU", ops=("leaky_relu",))
def _leaky_relu_module(mod: object, x: Value) -> Lowered:
    return Lowered("leaky_relu", {"negative_slope": float(mod.negative_slope)})


@torch_function(
    "torch.nn.functional.leaky_relu",
    ops=("leaky_relu",),
    shown={"torch.nn.functional.leaky_relu": "F.leaky_relu(x, s)"},
    note="the slope is always written explicitly",
)
def _leaky_relu_call(call: Call) -> Lowered:
    b = call.bind(["negative_slope", "inplace"], {"negative_slope": 0.01, "inplace": False})
    return Lowered("leaky_relu", {"negative_slope": float(b["negative_slope"])})


@torch_module("torch.nn.Sigmoid", ops=("sigmoid",))
def _sigmoid_module(mod: object, x: Value) -> Lowered:
    return Lowered("sigmoid")


@torch_function(
    "torch.sigmoid", "torch.nn.functional.sigmoid", methods=("sigmoid",), ops=("sigmoid",)
)
def _sigmoid_call(call: Call) -> Lowered:
    return Lowered("sigmoid")


def lower_clamp(min_val: object, max_val: object) -> Lowered:
    """Hardtanh / clamp with explicit bounds: only (0, 6) (relu6) and (0, None) (relu) exist."""
    lo = None if min_val is None else float(min_val)
    hi = None if max_val is None else float(max_val)
    if lo == 0.0 and hi == 6.0:
        return Lowered("relu6")
    if lo == 0.0 and hi is None:
        return Lowered("relu")
    raise Unsupported(f"clamp/hardtanh to [{min_val}, {max_val}] (only [0, 6] is relu6)")


def _hardtanh(min_val: object, max_val: object) -> Lowered:
    lowered = lower_clamp(min_val, max_val)
    if lowered.op != "relu6":
        raise Unsupported(f"hardtanh to [{min_val}, {max_val}] (only [0, 6] is relu6)")
    return lowered


@torch_module("torch.nn.Hardtanh", ops=("relu6",), shown="Hardtanh(0, 6)")
def _hardtanh_module(mod: object, x: Value) -> Lowered:
    return _hardtanh(mod.min_val, mod.max_val)


@torch_function(
    "torch.nn.functional.hardtanh",
    ops=("relu6",),
    shown={"torch.nn.functional.hardtanh": "F.hardtanh(x, 0, 6)"},
)
def _hardtanh_call(call: Call) -> Lowered:
    b = call.bind(
        ["min_val", "max_val", "inplace"], {"min_val": -1.0, "max_val": 1.0, "inplace": False}
    )
    return _hardtanh(b["min_val"], b["max_val"])


@torch_function(
    "torch.clamp",
    "torch.clip",
    methods=("clamp", "clip"),
    ops=("relu6", "relu"),
    shown={"clamp": "x.clamp()", "clip": "x.clip()"},
    note="clamp / clip: bounds (0, 6) give relu6, min=0 alone gives relu",
)
def _clamp_call(call: Call) -> Lowered:
    b = call.bind(["min", "max"], {"min": None, "max": None})
    return lower_clamp(b["min"], b["max"])


def lower_softmax(dim: object, rank: int) -> Lowered:
    """Softmax over the class axis of a (N, K) value; dim may be 1 or -1."""
    if rank != 2:
        raise Unsupported(f"softmax of a rank-{rank} tensor (only (N, K) is supported)")
    if dim is None:  # PyTorch's implicit choice for a 2-D input is dim 1
        dim = 1
    if dim not in (1, -1):
        raise Unsupported(f"softmax over dim={dim!r} (only the class axis, dim=1, is supported)")
    return Lowered("softmax", {"dim": 1})


_SOFTMAX_NOTE = "on (N, K) only"


@torch_module("torch.nn.Softmax", ops=("softmax",), shown="Softmax(dim=1)", note=_SOFTMAX_NOTE)
def _softmax_module(mod: object, x: Value) -> Lowered:
    return lower_softmax(mod.dim, x.rank)


@torch_function(
    "torch.nn.functional.softmax",
    "torch.softmax",
    methods=("softmax",),
    ops=("softmax",),
    shown={"torch.nn.functional.softmax": "F.softmax(x, 1)", "softmax": "x.softmax(-1)"},
    note=_SOFTMAX_NOTE,
)
def _softmax_call(call: Call) -> Lowered:
    x = call.tensor(0)
    b = call.bind(["dim", "dtype"], {"dim": None, "dtype": None})
    if b["dtype"] is not None:
        raise Unsupported(f"softmax with dtype={b['dtype']}")
    return lower_softmax(b["dim"], x.rank)


# --- shape rules and NumPy kernels -----------------------------------------------------------


@register("relu", 1, infer=_same)
def relu_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    return np.maximum(inputs[0], np.float32(0))


@register("relu6", 1, infer=_same)
def relu6_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    return np.minimum(np.maximum(inputs[0], np.float32(0)), np.float32(6))


@register("leaky_relu", 1, infer=_same)
def leaky_relu_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    x = inputs[0]
    slope = np.float32(attrs["negative_slope"])
    return np.where(x >= 0, x, x * slope).astype(np.float32)


@register("sigmoid", 1, infer=_same)
def sigmoid_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    # exp(-logaddexp(0, -x)) == 1 / (1 + exp(-x)) without overflow for large |x|.
    return np.exp(-np.logaddexp(0.0, -x)).astype(np.float32)


def _softmax_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    dim = attrs["dim"]
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= len(shape):
        raise ShapeError(
            f"softmax dim={dim!r} is not an axis of a value of per-sample shape {list(shape)} "
            "(dim counts the batch axis: 1 is the first per-sample axis)",
            ErrorCode.INVALID_ATTRIBUTE,
        )
    return shape


@register("softmax", 1, infer=_softmax_infer)
def softmax_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    axis = int(attrs["dim"])  # counted with the batch axis, like the batched array here
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)


# --- ONNX -----------------------------------------------------------------------------------


@onnx_import("Relu", ops=("relu",))
def _relu_from_onnx(im: Importer, node: NodeProto) -> None:
    im.emit("relu", [im.runtime(node.input[0])], node.output[0])


@onnx_import("Sigmoid", ops=("sigmoid",))
def _sigmoid_from_onnx(im: Importer, node: NodeProto) -> None:
    im.emit("sigmoid", [im.runtime(node.input[0])], node.output[0])


@onnx_import(
    "LeakyRelu",
    ops=("leaky_relu",),
    form="`alpha` explicit in the IR (ONNX's own default 0.01 when absent)",
)
def _leaky_relu_from_onnx(im: Importer, node: NodeProto) -> None:
    x = im.runtime(node.input[0])
    # 0.01 is ONNX's own documented default for alpha, so reading it is exact, not an assumption.
    slope = float_attr(im.attrs(node).get("alpha", 0.01))
    im.emit("leaky_relu", [x], node.output[0], attrs={"negative_slope": slope})


@onnx_import(
    "Clip",
    ops=("relu6", "relu"),
    form="constant scalar `min` = 0 and `max` = 6 (relu6), or `min` = 0 and no max (relu)",
)
def _clip_from_onnx(im: Importer, node: NodeProto) -> None:
    x = im.runtime(node.input[0])
    low = im.scalar(node.input[1], "min") if len(node.input) > 1 and node.input[1] else None
    high = im.scalar(node.input[2], "max") if len(node.input) > 2 and node.input[2] else None
    if low == 0.0 and high == 6.0:
        im.emit("relu6", [x], node.output[0])
    elif low == 0.0 and high is None:
        im.emit("relu", [x], node.output[0])
    else:
        raise im.fail(
            f"Clip(min={low}, max={high}) is not supported; pd2java maps Clip(0, 6) "
            "to relu6 and Clip(0) to relu"
        )


@onnx_import(
    "Softmax",
    ops=("softmax",),
    form="any axis but the batch axis; `dim` counts the batch axis",
)
def _softmax_from_onnx(im: Importer, node: NodeProto) -> None:
    x = im.runtime(node.input[0])
    rank = len(x.shape) + 1
    axis = int(im.attrs(node).get("axis", -1))
    if not -rank <= axis < rank:
        raise im.fail(f"axis {axis} is out of range for a rank-{rank} tensor")
    axis %= rank
    if axis == 0:
        raise im.fail("Softmax over the batch axis (0) is not supported")
    im.emit("softmax", [x], node.output[0], attrs={"dim": axis})


@onnx_export("relu", 1, doc="`Relu`")
def _relu_to_onnx(e: Emitter, node: Node) -> None:
    e.add("Relu", node.inputs, node.outputs, node.name)


@onnx_export(
    "relu6", 1, doc="`Clip` with scalar initializers `relu6.min` = 0 and `relu6.max` = 6 (shared)"
)
def _relu6_to_onnx(e: Emitter, node: Node) -> None:
    low = e.constant("relu6.min", np.array(0.0, np.float32))
    high = e.constant("relu6.max", np.array(6.0, np.float32))
    e.add("Clip", [node.inputs[0], low, high], node.outputs, node.name)


@onnx_export("leaky_relu", 1, doc="`LeakyRelu` (`alpha` = `negative_slope`)")
def _leaky_relu_to_onnx(e: Emitter, node: Node) -> None:
    e.add(
        "LeakyRelu", node.inputs, node.outputs, node.name, alpha=float(node.attrs["negative_slope"])
    )


@onnx_export("sigmoid", 1, doc="`Sigmoid`")
def _sigmoid_to_onnx(e: Emitter, node: Node) -> None:
    e.add("Sigmoid", node.inputs, node.outputs, node.name)


@onnx_export("softmax", 1, doc="`Softmax(axis=dim)`")
def _softmax_to_onnx(e: Emitter, node: Node) -> None:
    e.add("Softmax", node.inputs, node.outputs, node.name, axis=int(node.attrs["dim"]))
