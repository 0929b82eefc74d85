"""Activations (relu, relu6, leaky_relu, sigmoid, softmax, tanh, silu, hardswish, hardsigmoid,
elu, mish, gelu, log_softmax, clamp, prelu): torch lowerings, shape rules, NumPy kernels and ONNX
mappings. nn.Hardtanh(0, 6) and torch.clamp(x, 0, 6) lower to relu6, torch.clamp(x, min=0) to
relu, every other constant clamp / hardtanh to clamp."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from pd2java.errors import ErrorCode
from pd2java.ops.frontend_registry import (
    PatternMatch,
    onnx_export,
    onnx_import,
    onnx_pattern,
    torch_function,
    torch_module,
)
from pd2java.ops.lowering import Call, Lowered, Unsupported, Value
from pd2java.ops.onnx_conventions import float_attr
from pd2java.ops.registry import Attrs, Shape, ShapeError, register

if TYPE_CHECKING:
    from onnx import NodeProto

    from pd2java.backends.onnx import Emitter
    from pd2java.frontends.onnx import Importer, PatternView
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


# The one-sided clamp's missing bound: the largest float32, so clamp@1 always has two finite
# bounds (torch.clamp(x, min=a) is clamp(min=a, max=FLOAT32_MAX)).
FLOAT32_MAX = 3.4028234663852886e38


def _bound(value: object, missing: float, what: str) -> float:
    """A clamp bound as a finite float: absent or infinite (no bound) gives ``missing``."""
    if value is None:
        return missing
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Unsupported(f"clamp {what}={value!r} must be a constant number")
    v = float(value)
    if math.isnan(v):
        raise Unsupported(f"clamp {what} is NaN")
    if math.isinf(v):
        if (v > 0) != (missing > 0):
            raise Unsupported(f"clamp {what}={v} leaves no value in range")
        return missing
    return v


def lower_clamp(min_val: object, max_val: object) -> Lowered:
    """Clamp / hardtanh with constant bounds: (0, 6) is relu6, a lone lower bound 0 is relu,
    anything else clamp@1 with both bounds explicit (a missing or infinite one is the float32
    extreme)."""
    if min_val is None and max_val is None:
        raise Unsupported("clamp with neither min nor max")
    lo = _bound(min_val, -FLOAT32_MAX, "min")
    hi = _bound(max_val, FLOAT32_MAX, "max")
    if lo > hi:
        raise Unsupported(f"clamp to [{min_val}, {max_val}]: min > max")
    if lo == 0.0 and hi == 6.0:
        return Lowered("relu6")
    if lo == 0.0 and hi == FLOAT32_MAX:
        return Lowered("relu")
    return Lowered("clamp", {"min": lo, "max": hi})


_CLAMP_NOTE = "bounds (0, 6) give relu6, a lone lower bound 0 gives relu, others clamp"


@torch_module("torch.nn.Hardtanh", ops=("relu6", "clamp"), shown="Hardtanh(a, b)", note=_CLAMP_NOTE)
def _hardtanh_module(mod: object, x: Value) -> Lowered:
    return lower_clamp(mod.min_val, mod.max_val)


@torch_function(
    "torch.nn.functional.hardtanh",
    ops=("relu6", "clamp"),
    shown={"torch.nn.functional.hardtanh": "F.hardtanh(x, a, b)"},
    note=_CLAMP_NOTE,
)
def _hardtanh_call(call: Call) -> Lowered:
    b = call.bind(
        ["min_val", "max_val", "inplace"], {"min_val": -1.0, "max_val": 1.0, "inplace": False}
    )
    return lower_clamp(b["min_val"], b["max_val"])


@torch_function(
    "torch.clamp",
    "torch.clip",
    methods=("clamp", "clip"),
    ops=("relu6", "relu", "clamp"),
    shown={"clamp": "x.clamp()", "clip": "x.clip()"},
    note="constant bounds (a missing bound is the float32 extreme)",
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
    return _dim_call(call, "softmax", lower_softmax)


def _dim_call(call: Call, op: str, lower: Callable[[object, int], Lowered]) -> Lowered:
    """The (x, dim, dtype) functional / method form of softmax and log_softmax; no dtype."""
    x = call.tensor(0)
    b = call.bind(["dim", "dtype"], {"dim": None, "dtype": None})
    if b["dtype"] is not None:
        raise Unsupported(f"{op} with dtype={b['dtype']}")
    return lower(b["dim"], x.rank)


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


def _dim_infer(op: str) -> Callable[[Attrs, list[Shape]], Shape]:
    """The shape rule of an op over one axis ``dim`` (counted with the batch axis): the input's
    shape, with dim a per-sample axis (INVALID_ATTRIBUTE otherwise)."""

    def infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
        (shape,) = shapes
        dim = attrs["dim"]
        if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= len(shape):
            raise ShapeError(
                f"{op} dim={dim!r} is not an axis of a value of per-sample shape {list(shape)} "
                "(dim counts the batch axis: 1 is the first per-sample axis)",
                ErrorCode.INVALID_ATTRIBUTE,
            )
        return shape

    return infer


@register("softmax", 1, infer=_dim_infer("softmax"))
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


def _clip_bound(value: float | None) -> float | None:
    """A float32 Clip bound as the shortest decimal that rounds to it (-0.3, not
    -0.30000001192092896), the float32 extremes kept exact."""
    if value is None or not math.isfinite(value) or abs(value) == FLOAT32_MAX:
        return value
    return float_attr(value)


@onnx_import(
    "Clip",
    ops=("relu6", "relu", "clamp"),
    form="constant scalar `min` / `max`: (0, 6) is relu6, `min` = 0 alone is relu, others clamp "
    "(a missing or infinite bound is the float32 extreme)",
)
def _clip_from_onnx(im: Importer, node: NodeProto) -> None:
    x = im.runtime(node.input[0])
    low = im.scalar(node.input[1], "min") if len(node.input) > 1 and node.input[1] else None
    high = im.scalar(node.input[2], "max") if len(node.input) > 2 and node.input[2] else None
    low, high = _clip_bound(low), _clip_bound(high)
    try:
        lowered = lower_clamp(low, high)
    except Unsupported as exc:
        raise im.fail(f"Clip(min={low}, max={high}) is not supported: {exc}") from None
    assert lowered.op is not None
    im.emit(lowered.op, [x], node.output[0], attrs=dict(lowered.attrs))


@onnx_import(
    "Softmax",
    ops=("softmax",),
    form="any axis but the batch axis; `dim` counts the batch axis",
)
def _softmax_from_onnx(im: Importer, node: NodeProto) -> None:
    _axis_op_from_onnx(im, node, "softmax")


def _axis_op_from_onnx(im: Importer, node: NodeProto, op: str) -> None:
    """Softmax / LogSoftmax: ``axis`` (default -1) as ``dim``, any axis but the batch axis."""
    x = im.runtime(node.input[0])
    rank = len(x.shape) + 1
    axis = int(im.attrs(node).get("axis", -1))
    if not -rank <= axis < rank:
        raise im.fail(f"axis {axis} is out of range for a rank-{rank} tensor")
    axis %= rank
    if axis == 0:
        raise im.fail(f"{node.op_type} over the batch axis (0) is not supported")
    im.emit(op, [x], node.output[0], attrs={"dim": axis})


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


# --- tanh, silu, hardswish, hardsigmoid, elu, mish, gelu ------------------------------------------


def _plain(module: str, functions: tuple[str, ...], methods: tuple[str, ...], op: str) -> None:
    """Register the parameterless module and function / method forms of a one-input op."""

    @torch_module(module, ops=(op,))
    def _module(mod: object, x: Value) -> Lowered:
        return Lowered(op)

    @torch_function(*functions, methods=methods, ops=(op,))
    def _call(call: Call) -> Lowered:
        call.bind(["inplace"], {"inplace": False})
        return Lowered(op)


_plain("torch.nn.Tanh", ("torch.tanh", "torch.nn.functional.tanh"), ("tanh",), "tanh")
_plain("torch.nn.SiLU", ("torch.nn.functional.silu",), (), "silu")
_plain("torch.nn.Hardswish", ("torch.nn.functional.hardswish",), (), "hardswish")
_plain("torch.nn.Hardsigmoid", ("torch.nn.functional.hardsigmoid",), (), "hardsigmoid")
_plain("torch.nn.Mish", ("torch.nn.functional.mish",), (), "mish")


@torch_module("torch.nn.ELU", ops=("elu",))
def _elu_module(mod: object, x: Value) -> Lowered:
    return Lowered("elu", {"alpha": float(mod.alpha)})


@torch_function(
    "torch.nn.functional.elu", ops=("elu",), shown={"torch.nn.functional.elu": "F.elu(x, alpha)"}
)
def _elu_call(call: Call) -> Lowered:
    b = call.bind(["alpha", "inplace"], {"alpha": 1.0, "inplace": False})
    return Lowered("elu", {"alpha": float(b["alpha"])})


def _gelu(approximate: object) -> Lowered:
    if approximate not in ("none", "tanh"):
        raise Unsupported(f"gelu approximate={approximate!r} (PyTorch knows 'none' and 'tanh')")
    return Lowered("gelu", {"tanh_approximation": approximate == "tanh"})


@torch_module("torch.nn.GELU", ops=("gelu",), note="approximate 'none' or 'tanh'")
def _gelu_module(mod: object, x: Value) -> Lowered:
    return _gelu(mod.approximate)


@torch_function(
    "torch.nn.functional.gelu",
    ops=("gelu",),
    shown={"torch.nn.functional.gelu": "F.gelu(x, approximate=...)"},
    note="approximate 'none' or 'tanh'",
)
def _gelu_call(call: Call) -> Lowered:
    b = call.bind(["approximate"], {"approximate": "none"})
    return _gelu(b["approximate"])


# --- log_softmax ------------------------------------------------------------------------------


def lower_log_softmax(dim: object, rank: int) -> Lowered:
    """log_softmax over any per-sample axis; ``dim`` counts the batch axis, negative dims are
    counted from the end, and no dim is PyTorch's implicit choice only for (N, K) (dim 1)."""
    if dim is None:
        if rank != 2:
            raise Unsupported(
                f"log_softmax of a rank-{rank} tensor without dim (give dim explicitly)"
            )
        dim = 1
    if isinstance(dim, bool) or not isinstance(dim, int) or not -rank <= dim < rank:
        raise Unsupported(f"log_softmax dim={dim!r} is not an axis of a rank-{rank} tensor")
    dim %= rank
    if dim == 0:
        raise Unsupported("log_softmax over the batch axis (dim 0)")
    return Lowered("log_softmax", {"dim": dim})


@torch_module("torch.nn.LogSoftmax", ops=("log_softmax",), shown="LogSoftmax(dim=1)")
def _log_softmax_module(mod: object, x: Value) -> Lowered:
    return lower_log_softmax(mod.dim, x.rank)


@torch_function(
    "torch.nn.functional.log_softmax",
    "torch.log_softmax",
    methods=("log_softmax",),
    ops=("log_softmax",),
    shown={
        "torch.nn.functional.log_softmax": "F.log_softmax(x, 1)",
        "log_softmax": "x.log_softmax(-1)",
    },
    note="any axis but the batch axis",
)
def _log_softmax_call(call: Call) -> Lowered:
    return _dim_call(call, "log_softmax", lower_log_softmax)


# --- prelu ------------------------------------------------------------------------------------


@torch_module("torch.nn.PReLU", ops=("prelu",), note="num_parameters 1 or the channel count")
def _prelu_module(mod: object, x: Value) -> Lowered:
    return Lowered("prelu", {"num_parameters": int(mod.num_parameters)}, {"weight": "weight"})


@torch_function(
    "torch.nn.functional.prelu",
    ops=("prelu",),
    shown={"torch.nn.functional.prelu": "F.prelu(x, self.w)"},
    note="F.prelu: the slopes a tensor of the model",
)
def _prelu_call(call: Call) -> Lowered:
    x = call.tensor(0)
    weight = call.bind(["weight"], {}, tensors=("weight",))["weight"]
    if weight is None:
        raise Unsupported("F.prelu without a weight")
    n = 1
    for d in weight.shape:
        n *= d
    if len(weight.shape) > 1 or n < 1 or (n != 1 and (not x.shape or n != x.shape[0])):
        raise Unsupported(
            f"weight {weight.name!r} of shape {list(weight.shape)} is neither one slope nor one "
            f"per channel of the per-sample input {list(x.shape)}"
        )
    return Lowered("prelu", {"num_parameters": n}, {"weight": weight.flattened().name})


# --- shape rules and NumPy kernels of the ops above --------------------------------------------


@register("tanh", 1, infer=_same)
def tanh_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    return np.tanh(inputs[0].astype(np.float64)).astype(np.float32)


def _sigmoid64(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))


@register("silu", 1, infer=_same)
def silu_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    return (x * _sigmoid64(x)).astype(np.float32)


def _hardsigmoid64(x: np.ndarray) -> np.ndarray:
    return np.minimum(np.maximum(x + 3.0, 0.0), 6.0) / 6.0


@register("hardswish", 1, infer=_same)
def hardswish_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    return (x * _hardsigmoid64(x)).astype(np.float32)


@register("hardsigmoid", 1, infer=_same)
def hardsigmoid_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    return _hardsigmoid64(inputs[0].astype(np.float64)).astype(np.float32)


def _finite_attr(op: str, attrs: Attrs, name: str) -> float:
    """A float attribute that must be a finite float32 (|value| <= the largest float32)."""
    value = attrs[name]
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not abs(value) <= FLOAT32_MAX
    ):
        raise ShapeError(
            f"{op} {name}={value!r} must be a finite float32 (|{name}| <= {FLOAT32_MAX})",
            ErrorCode.INVALID_ATTRIBUTE,
        )
    return float(value)


def _elu_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    _finite_attr("elu", attrs, "alpha")
    return _same(attrs, shapes)


@register("elu", 1, infer=_elu_infer)
def elu_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    alpha = float(attrs["alpha"])  # type: ignore[arg-type]
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0))).astype(np.float32)


def _softplus64(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


@register("mish", 1, infer=_same)
def mish_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    return (x * np.tanh(_softplus64(x))).astype(np.float32)


_ERFC = np.frompyfunc(math.erfc, 1, 1)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


@register("gelu", 1, infer=_same)
def gelu_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    if attrs["tanh_approximation"]:
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
        # (1 + tanh(z)) / 2 == sigmoid(2z), without the cancellation of 1 + tanh(z) for z << 0.
        return (x * _sigmoid64(2.0 * inner)).astype(np.float32)
    # 1 + erf(x / sqrt(2)) == erfc(-x / sqrt(2)), accurate also where it is tiny (x << 0).
    phi2 = _ERFC(-x / math.sqrt(2.0)).astype(np.float64)
    return (0.5 * x * phi2).astype(np.float32)


@register("log_softmax", 1, infer=_dim_infer("log_softmax"))
def log_softmax_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    x = inputs[0].astype(np.float64)
    axis = int(attrs["dim"])  # type: ignore[call-overload]
    shifted = x - x.max(axis=axis, keepdims=True)
    return (shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))).astype(np.float32)


def _clamp_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    low = _finite_attr("clamp", attrs, "min")
    high = _finite_attr("clamp", attrs, "max")
    if low > high:
        raise ShapeError(
            f"clamp min={low!r} is greater than max={high!r}", ErrorCode.INVALID_ATTRIBUTE
        )
    return _same(attrs, shapes)


@register("clamp", 1, infer=_clamp_infer)
def clamp_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    low = np.float32(attrs["min"])
    high = np.float32(attrs["max"])
    return np.minimum(np.maximum(inputs[0], low), high).astype(np.float32)


def _prelu_param_shapes(attrs: Attrs) -> dict[str, Shape]:
    n = attrs["num_parameters"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ShapeError(f"prelu num_parameters={n!r} must be >= 1", ErrorCode.INVALID_ATTRIBUTE)
    return {"weight": (n,)}


def _prelu_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    (n,) = _prelu_param_shapes(attrs)["weight"]
    if n != 1 and n != shape[0]:
        raise ShapeError(
            f"prelu num_parameters={n} is neither 1 nor the channel count {shape[0]} of the "
            f"per-sample shape {list(shape)}"
        )
    return shape


@register("prelu", 1, infer=_prelu_infer, param_shapes=_prelu_param_shapes)
def prelu_kernel(
    attrs: Attrs, inputs: list[np.ndarray], params: Mapping[str, np.ndarray | None]
) -> np.ndarray:
    x = inputs[0]
    weight = params["weight"].astype(np.float32)  # type: ignore[union-attr]
    # Slopes along axis 1 (the channel axis of the batched array), broadcast over the rest.
    slope = weight.reshape((1, -1) + (1,) * (x.ndim - 2))
    return np.where(x >= 0, x, x * slope).astype(np.float32)


# --- ONNX of the ops above --------------------------------------------------------------------


def _unary_onnx(op_type: str, op: str) -> None:
    @onnx_import(op_type, ops=(op,))
    def _read(im: Importer, node: NodeProto) -> None:
        im.emit(op, [im.runtime(node.input[0])], node.output[0])

    @onnx_export(op, 1, doc=f"`{op_type}`")
    def _write(e: Emitter, node: Node) -> None:
        e.add(op_type, node.inputs, node.outputs, node.name)


_unary_onnx("Tanh", "tanh")
_unary_onnx("HardSwish", "hardswish")


@onnx_export("silu", 1, doc="`Mul(x, Sigmoid(x))` (opset 17 has no SiLU op)")
def _silu_to_onnx(e: Emitter, node: Node) -> None:
    sig = e.fresh(f"{node.outputs[0]}.sigmoid")
    e.value_info(sig, node.output_shape)
    e.add("Sigmoid", node.inputs, [sig], e.fresh(f"{node.name}.sigmoid"))
    e.add("Mul", [node.inputs[0], sig], node.outputs, node.name)


_HARDSIGMOID_ALPHA = np.float32(1.0 / 6.0)


@onnx_import(
    "HardSigmoid",
    ops=("hardsigmoid",),
    form="`alpha` = 1/6 and `beta` = 0.5 (float32), PyTorch's Hardsigmoid; other values refused",
)
def _hardsigmoid_from_onnx(im: Importer, node: NodeProto) -> None:
    attrs = im.attrs(node)
    # ONNX's own defaults are alpha 0.2, beta 0.5: absent attributes are those, not PyTorch's.
    alpha = np.float32(attrs.get("alpha", 0.2))
    beta = np.float32(attrs.get("beta", 0.5))
    if alpha != _HARDSIGMOID_ALPHA or beta != np.float32(0.5):
        raise im.fail(
            f"HardSigmoid(alpha={float_attr(alpha)}, beta={float_attr(beta)}) is not supported; "
            "pd2java's hardsigmoid is PyTorch's, alpha = 1/6 and beta = 0.5"
        )
    im.emit("hardsigmoid", [im.runtime(node.input[0])], node.output[0])


@onnx_export("hardsigmoid", 1, doc="`HardSigmoid(alpha=1/6, beta=0.5)`")
def _hardsigmoid_to_onnx(e: Emitter, node: Node) -> None:
    e.add(
        "HardSigmoid",
        node.inputs,
        node.outputs,
        node.name,
        alpha=float(_HARDSIGMOID_ALPHA),
        beta=0.5,
    )


@onnx_import("Elu", ops=("elu",), form="`alpha` explicit in the IR (ONNX's default 1.0 if absent)")
def _elu_from_onnx(im: Importer, node: NodeProto) -> None:
    alpha = float_attr(im.attrs(node).get("alpha", 1.0))
    im.emit("elu", [im.runtime(node.input[0])], node.output[0], attrs={"alpha": alpha})


@onnx_export("elu", 1, doc="`Elu` (`alpha`)")
def _elu_to_onnx(e: Emitter, node: Node) -> None:
    e.add("Elu", node.inputs, node.outputs, node.name, alpha=float(node.attrs["alpha"]))


@onnx_import("Mish", ops=("mish",), form="opset 18 and later")
def _mish_from_onnx(im: Importer, node: NodeProto) -> None:
    im.emit("mish", [im.runtime(node.input[0])], node.output[0])


@onnx_export("mish", 1, doc="`Mul(x, Tanh(Softplus(x)))` (Mish is opset 18; the writer's is 17)")
def _mish_to_onnx(e: Emitter, node: Node) -> None:
    soft = e.fresh(f"{node.outputs[0]}.softplus")
    tanh = e.fresh(f"{node.outputs[0]}.tanh")
    for value in (soft, tanh):
        e.value_info(value, node.output_shape)
    e.add("Softplus", node.inputs, [soft], e.fresh(f"{node.name}.softplus"))
    e.add("Tanh", [soft], [tanh], e.fresh(f"{node.name}.tanh"))
    e.add("Mul", [node.inputs[0], tanh], node.outputs, node.name)


@onnx_import(
    "Gelu",
    ops=("gelu",),
    form="opset 20 and later; `approximate` 'none' or 'tanh'",
)
def _gelu_from_onnx(im: Importer, node: NodeProto) -> None:
    approximate = im.attrs(node).get("approximate", "none")
    if isinstance(approximate, bytes):
        approximate = approximate.decode()
    if approximate not in ("none", "tanh"):
        raise im.fail(f"Gelu approximate={approximate!r} is not 'none' or 'tanh'")
    im.emit(
        "gelu",
        [im.runtime(node.input[0])],
        node.output[0],
        attrs={"tanh_approximation": approximate == "tanh"},
    )


@onnx_export(
    "gelu",
    1,
    doc="the decomposition (Gelu is opset 20): `x * (1 + Erf(x / sqrt(2))) / 2`, or with "
    "`tanh_approximation` `x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 x^3))) / 2`",
)
def _gelu_to_onnx(e: Emitter, node: Node) -> None:
    x = node.inputs[0]
    out = node.outputs[0]
    shape = node.output_shape

    def step(op_type: str, inputs: list[str], tag: str) -> str:
        value = e.fresh(f"{out}.{tag}")
        e.value_info(value, shape)
        e.add(op_type, inputs, [value], e.fresh(f"{node.name}.{tag}"))
        return value

    def const(tag: str, v: float) -> str:
        return e.constant(f"gelu.{tag}", np.array(v, np.float32))

    if node.attrs["tanh_approximation"]:
        cube = step("Mul", [step("Mul", [x, x], "square"), x], "cube")
        inner = step("Add", [x, step("Mul", [cube, const("coeff", 0.044715)], "scaled")], "inner")
        t = step(
            "Tanh", [step("Mul", [inner, const("sqrt_2_over_pi", _SQRT_2_OVER_PI)], "arg")], "tanh"
        )
    else:
        t = step("Erf", [step("Mul", [x, const("rsqrt2", 1.0 / math.sqrt(2.0))], "arg")], "erf")
    one_plus = step("Add", [t, const("one", 1.0)], "one_plus")
    half_x = step("Mul", [x, const("half", 0.5)], "half_x")
    e.add("Mul", [half_x, one_plus], node.outputs, node.name)


# --- fused ONNX patterns: torch's opset-17 decompositions read as one op ---------------------


def _finish_unary(x: str, op: str, attrs: dict[str, object] | None = None) -> Callable:
    def finish(im: Importer, node: NodeProto) -> None:
        im.emit(op, [im.runtime(x)], node.output[0], attrs=attrs)

    return finish


def _orders(node: NodeProto) -> list[tuple[str, str]]:
    """The two operands of a binary node, both ways round (Mul and Add commute)."""
    if len(node.input) != 2:
        return []
    a, b = node.input
    return [(a, b), (b, a)]


@onnx_pattern(
    "silu",
    anchors=("Mul",),
    ops=("silu",),
    shown="`Mul(x, Sigmoid(x))`",
    form="either operand order; the Sigmoid used only by the Mul",
)
def _silu_pattern(view: PatternView, anchor: NodeProto) -> PatternMatch | None:
    for x, other in _orders(anchor):
        sigmoid = view.inner(other, "Sigmoid")
        if sigmoid is not None and sigmoid.input[0] == x:
            return PatternMatch((sigmoid,), (x,), _finish_unary(x, "silu"))
    return None


@onnx_pattern(
    "mish",
    anchors=("Mul",),
    ops=("mish",),
    shown="`Mul(x, Tanh(Softplus(x)))`",
    form="either operand order; Softplus and Tanh used only inside",
)
def _mish_pattern(view: PatternView, anchor: NodeProto) -> PatternMatch | None:
    for x, other in _orders(anchor):
        tanh = view.inner(other, "Tanh")
        soft = view.inner(tanh.input[0], "Softplus") if tanh is not None else None
        if soft is not None and soft.input[0] == x:
            return PatternMatch((soft, tanh), (x,), _finish_unary(x, "mish"))
    return None


def _gelu_erf_arg(view: PatternView, value: str) -> tuple[str, list[NodeProto]] | None:
    """``x / sqrt(2)`` (Div) or ``x * (1 / sqrt(2))`` (Mul): its x and node."""
    div = view.inner(value, "Div")
    if div is not None and len(div.input) == 2 and view.scalar_is(div.input[1], math.sqrt(2.0)):
        return div.input[0], [div]
    mul = view.inner(value, "Mul")
    for x, c in _orders(mul) if mul is not None else []:
        if view.scalar_is(c, 1.0 / math.sqrt(2.0)) and view.const(x) is None:
            return x, [mul]
    return None


def _gelu_tanh_arg(view: PatternView, value: str) -> tuple[str, list[NodeProto]] | None:
    """``sqrt(2/pi) * (x + 0.044715 * x^3)``, x^3 as Mul nodes or ``Pow(x, 3)``: its x and
    nodes."""
    if view.inner(value, "Mul") is None:
        return None
    factors, nodes = view.product(value)
    consts = [f for f in factors if view.scalar_is(f, _SQRT_2_OVER_PI)]
    rest = [f for f in factors if f not in consts]
    if len(factors) != 2 or len(consts) != 1 or len(rest) != 1:
        return None
    add = view.inner(rest[0], "Add")
    for x, cube_value in _orders(add) if add is not None else []:
        if view.inner(cube_value, "Mul") is None:
            continue
        cube, cube_nodes = view.product(cube_value)
        kappa = [f for f in cube if view.scalar_is(f, 0.044715)]
        powers = [f for f in cube if f not in kappa]
        if len(kappa) != 1:
            continue
        pow_nodes = []
        if len(powers) == 1:
            pw = view.inner(powers[0], "Pow")
            if pw is None or len(pw.input) != 2 or not view.scalar_is(pw.input[1], 3.0):
                continue
            powers, pow_nodes = [pw.input[0]] * 3, [pw]
        if powers == [x, x, x]:
            return x, [*nodes, add, *cube_nodes, *pow_nodes]
    return None


@onnx_pattern(
    "gelu",
    anchors=("Mul",),
    ops=("gelu",),
    shown="`x * (1 + Erf(x / sqrt(2))) * 0.5`; `x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * "
    "x^3))) * 0.5`",
    form="the products in any grouping and order; `x / sqrt(2)` as `Div` or as `Mul` by "
    "1/sqrt(2); x^3 as `Mul`s or `Pow(x, 3)`; the constants 0.5, 1, sqrt(2), sqrt(2/pi), 0.044715 "
    "within float32 rounding; Erf gives `tanh_approximation` false, Tanh true",
)
def _gelu_pattern(view: PatternView, anchor: NodeProto) -> PatternMatch | None:
    factors, nodes = view.product(anchor.output[0], root=anchor)
    if len(factors) != 3:
        return None
    halves = [f for f in factors if view.scalar_is(f, 0.5)]
    for one_plus in factors:
        add = view.inner(one_plus, "Add")
        if add is None or len(halves) != 1 or one_plus in halves:
            continue
        rest = [f for f in factors if f not in (one_plus, halves[0])]
        if len(rest) != 1:
            continue
        x = rest[0]
        for t, one in _orders(add):
            if not view.scalar_is(one, 1.0):
                continue
            erf, tanh = view.inner(t, "Erf"), view.inner(t, "Tanh")
            func = erf or tanh
            if func is None:
                continue
            arg = (_gelu_erf_arg if erf is not None else _gelu_tanh_arg)(view, func.input[0])
            if arg is not None and arg[0] == x:
                attrs = {"tanh_approximation": tanh is not None}
                return PatternMatch(
                    (*nodes, add, func, *arg[1]), (x,), _finish_unary(x, "gelu", attrs)
                )
    return None


@onnx_import(
    "LogSoftmax",
    ops=("log_softmax",),
    form="any axis but the batch axis; `dim` counts the batch axis",
)
def _log_softmax_from_onnx(im: Importer, node: NodeProto) -> None:
    _axis_op_from_onnx(im, node, "log_softmax")


@onnx_export("log_softmax", 1, doc="`LogSoftmax(axis=dim)`")
def _log_softmax_to_onnx(e: Emitter, node: Node) -> None:
    e.add("LogSoftmax", node.inputs, node.outputs, node.name, axis=int(node.attrs["dim"]))


@onnx_export("clamp", 1, doc="`Clip` with scalar initializers `<node>.min` and `<node>.max`")
def _clamp_to_onnx(e: Emitter, node: Node) -> None:
    low = e.constant(f"{node.name}.min", np.array(node.attrs["min"], np.float32))
    high = e.constant(f"{node.name}.max", np.array(node.attrs["max"], np.float32))
    e.add("Clip", [node.inputs[0], low, high], node.outputs, node.name)


@onnx_import(
    "PRelu",
    ops=("prelu",),
    form="constant slope with one element, or one per channel broadcast along the channel "
    "axis (`[C, 1, 1]` for a (C, H, W) input)",
)
def _prelu_from_onnx(im: Importer, node: NodeProto) -> None:
    x = im.runtime(node.input[0])
    slope = im.const(node.input[1], "slope")
    array = slope.array
    channels = x.shape[0]
    if array.size == 1:
        n = 1
    else:
        # Unidirectional broadcast onto (N,) + x.shape: after dropping leading ones the slope
        # must be (C, 1, ..., 1), aligned with the channel axis.
        dims = list(array.shape)
        while dims and dims[0] == 1 and len(dims) > len(x.shape):
            dims.pop(0)
        if dims != [channels] + [1] * (len(x.shape) - 1):
            raise im.fail(
                f"slope {slope.source!r} has shape {list(array.shape)}; pd2java supports one "
                f"slope, or one per channel shaped {[channels] + [1] * (len(x.shape) - 1)}"
            )
        n = channels
    vector = np.asarray(array, dtype=np.float32).reshape(n)
    tag = "" if array.shape == (n,) else "prelu"
    weight = im.param(slope, vector, tag, "slope")
    im.emit("prelu", [x], node.output[0], attrs={"num_parameters": n}, params={"weight": weight})


@onnx_export(
    "prelu",
    1,
    doc="`PRelu` with the slope reshaped to `[C, 1, ..., 1]` along the channel axis "
    "(`<node>.slope`), or `[1]` when shared",
)
def _prelu_to_onnx(e: Emitter, node: Node) -> None:
    weight = np.asarray(e.graph.tensors[str(node.params["weight"])], np.float32)
    rank = len(node.output_shape)
    shape = (1,) if weight.size == 1 else (weight.size,) + (1,) * (rank - 1)
    slope = e.constant(f"{node.name}.slope", weight.reshape(shape))
    e.add("PRelu", [node.inputs[0], slope], node.outputs, node.name)
