"""The normalisations: batch_norm2d and batch_norm1d (inference, running statistics), group_norm,
instance_norm2d and layer_norm. Each with its torch lowerings, shape rule, NumPy kernel and ONNX
mappings."""

from __future__ import annotations

from collections.abc import Mapping
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
from pd2java.ops.lowering import Call, Constant, Lowered, Unsupported, Value
from pd2java.ops.onnx_conventions import BATCH, float_attr
from pd2java.ops.registry import Attrs, Shape, ShapeError, register, want_rank

if TYPE_CHECKING:
    from onnx import NodeProto

    from pd2java.backends.onnx import Emitter
    from pd2java.frontends.onnx import Importer, PatternView
    from pd2java.ir import Node


@torch_module("torch.nn.BatchNorm2d", ops=("batch_norm2d",), note="eval statistics, affine or not")
def lower_batch_norm2d_module(mod: object, x: Value) -> Lowered:
    """nn.BatchNorm2d -> batch_norm2d using its running statistics (eval semantics)."""
    if not getattr(mod, "track_running_stats", True) or mod.running_mean is None:
        raise Unsupported("BatchNorm2d(track_running_stats=False) has no statistics to export")
    affine = mod.weight is not None
    return Lowered(
        "batch_norm2d",
        {"num_features": int(mod.num_features), "eps": float(mod.eps)},
        {
            "running_mean": "running_mean",
            "running_var": "running_var",
            "weight": "weight" if affine else None,
            "bias": "bias" if mod.bias is not None else None,
        },
    )


def _bn_param_shapes(attrs: Attrs) -> dict[str, Shape]:
    c = int(attrs["num_features"])
    return {"running_mean": (c,), "running_var": (c,), "weight": (c,), "bias": (c,)}


def _bn_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    want_rank(shape, 3, "batch_norm2d")
    _check_channels(shape, attrs)
    _check_eps(attrs)
    return shape


def bn_scale_shift(
    attrs: Attrs, params: Mapping[str, np.ndarray | None]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel float64 (scale, shift) with bn(x) = x * scale + shift; shared by fold_bn."""
    mean = params["running_mean"].astype(np.float64)  # type: ignore[union-attr]
    var = params["running_var"].astype(np.float64)  # type: ignore[union-attr]
    gamma = params["weight"]
    beta = params["bias"]
    scale = 1.0 / np.sqrt(var + float(attrs["eps"]))  # type: ignore[arg-type]
    if gamma is not None:
        scale = scale * gamma.astype(np.float64)
    shift = -mean * scale
    if beta is not None:
        shift = shift + beta.astype(np.float64)
    return scale, shift


@register("batch_norm2d", 1, infer=_bn_infer, param_shapes=_bn_param_shapes)
def batch_norm2d_kernel(
    attrs: Attrs, inputs: list[np.ndarray], params: Mapping[str, np.ndarray | None]
) -> np.ndarray:
    """(x - mean) / sqrt(var + eps) * weight + bias, per channel, on (N, C, H, W)."""
    return _batch_norm(attrs, inputs[0], params)


def _batch_norm(attrs: Attrs, x: np.ndarray, params: Mapping[str, np.ndarray | None]) -> np.ndarray:
    """(x - mean) / sqrt(var + eps) * weight + bias, per channel (axis 1), in float64."""
    x = x.astype(np.float64)
    tail = (1,) * (x.ndim - 2)
    mean = params["running_mean"].astype(np.float64).reshape(1, -1, *tail)  # type: ignore[union-attr]
    var = params["running_var"].astype(np.float64).reshape(1, -1, *tail)  # type: ignore[union-attr]
    y = (x - mean) / np.sqrt(var + float(attrs["eps"]))  # type: ignore[arg-type]
    if params["weight"] is not None:
        y = y * params["weight"].astype(np.float64).reshape(1, -1, *tail)
    if params["bias"] is not None:
        y = y + params["bias"].astype(np.float64).reshape(1, -1, *tail)
    return y.astype(np.float32)


# --- ONNX -----------------------------------------------------------------------------------


@onnx_import(
    "BatchNormalization",
    ops=("batch_norm2d", "batch_norm1d"),
    form="constant scale, bias, mean, var of shape `[C]`; `training_mode` 0; a (C, H, W) input "
    "gives batch_norm2d, a (C) or (C, L) input batch_norm1d",
)
def _batch_norm_from_onnx(im: Importer, node: NodeProto) -> None:
    attrs = im.attrs(node)
    if int(attrs.get("training_mode", 0)):
        raise im.fail(
            "training_mode=1; pd2java exports inference batch norm (running statistics) only"
        )
    im.only_first_output(node, "the running-statistics outputs exist only in training mode")
    x = im.runtime(node.input[0])
    if len(x.shape) not in (1, 2, 3):
        raise im.fail(
            f"its input {node.input[0]!r} has per-sample shape {list(x.shape)}; pd2java maps "
            "BatchNormalization on (C), (C, L) or (C, H, W) inputs"
        )
    op = "batch_norm2d" if len(x.shape) == 3 else "batch_norm1d"
    c = x.shape[0]
    params: dict[str, str | None] = {}
    for slot, index in (("weight", 1), ("bias", 2), ("running_mean", 3), ("running_var", 4)):
        value = im.const(node.input[index], slot)
        if value.array.shape != (c,):
            raise im.fail(
                f"{slot} {node.input[index]!r} has shape {list(value.array.shape)}, expected [{c}]"
            )
        params[slot] = im.param(value, value.array, "", slot)
    eps = float_attr(attrs.get("epsilon", 1e-5))
    im.emit(op, [x], node.output[0], attrs={"num_features": c, "eps": eps}, params=params)


@onnx_export(
    "batch_norm1d",
    1,
    doc="`BatchNormalization` (`epsilon`) on the (N, C) or (N, C, L) tensor; affine-free BN gets "
    "a ones scale and a zeros bias initializer (`<node>.ones`, `<node>.zeros`)",
)
@onnx_export(
    "batch_norm2d",
    1,
    doc="`BatchNormalization` (`epsilon`); affine-free BN gets a ones scale and a zeros bias "
    "initializer (`<node>.ones`, `<node>.zeros`)",
)
def _batch_norm_to_onnx(e: Emitter, node: Node) -> None:
    # ONNX's BatchNormalization always takes scale and bias: affine=False is scale 1, bias 0.
    scale, shift = _affine_to_onnx(e, node, int(node.attrs["num_features"]))
    mean = e.tensor(str(node.params["running_mean"]), node)
    var = e.tensor(str(node.params["running_var"]), node)
    e.add(
        "BatchNormalization",
        [node.inputs[0], scale, shift, mean, var],
        node.outputs,
        node.name,
        epsilon=float(node.attrs["eps"]),
    )


# --- shared by the normalisations over statistics of the input itself -----------------------


def _check_channels(shape: Shape, attrs: Attrs) -> None:
    if shape[0] != attrs["num_features"]:
        raise ShapeError(f"input has {shape[0]} channels but num_features={attrs['num_features']}")


def _check_eps(attrs: Attrs) -> None:
    eps = float(attrs["eps"])  # type: ignore[arg-type]
    if not 0 < eps < float("inf"):
        raise ShapeError(
            f"eps must be finite and > 0, got {attrs['eps']}", ErrorCode.INVALID_ATTRIBUTE
        )


def _normalise_groups(
    x: np.ndarray, groups: int, eps: float, weight: np.ndarray | None, bias: np.ndarray | None
) -> np.ndarray:
    """(N, C, ...) normalised over each of ``groups`` channel groups and all trailing positions
    (biased variance, float64), then scaled and shifted per channel."""
    n, c = x.shape[:2]
    spatial = (1,) * (x.ndim - 2)
    g = x.astype(np.float64).reshape(n, groups, -1)
    mean = g.mean(axis=2, keepdims=True)
    var = ((g - mean) ** 2).mean(axis=2, keepdims=True)
    y = ((g - mean) / np.sqrt(var + eps)).reshape(x.shape)
    if weight is not None:
        y = y * weight.astype(np.float64).reshape(1, c, *spatial)
    if bias is not None:
        y = y + bias.astype(np.float64).reshape(1, c, *spatial)
    return y.astype(np.float32)


def _affine_slots(mod: object) -> dict[str, str | None]:
    return {
        "weight": "weight" if getattr(mod, "weight", None) is not None else None,
        "bias": "bias" if getattr(mod, "bias", None) is not None else None,
    }


def _constant_slots(
    b: Mapping[str, object], c: int, what: str, slots: tuple[str, ...] = ("weight", "bias")
) -> dict[str, str | None]:
    """Bound tensor arguments of a functional normalisation (``Constant`` or None) as parameter
    slots, each checked to hold ``c`` values in a 1-D tensor."""
    params: dict[str, str | None] = {}
    for slot in slots:
        value = b[slot]
        if value is None:
            params[slot] = None
            continue
        assert isinstance(value, Constant)
        if value.shape != (c,):
            raise Unsupported(
                f"{what} {slot} {value.name!r} has shape {list(value.shape)}, expected [{c}]"
            )
        params[slot] = value.name
    return params


_FUNCTIONAL_NOTE = "weight, bias and statistics tensors of the model (parameters or buffers)"


def _affine_from_onnx(im: Importer, node: NodeProto, c: int, what: str) -> dict[str, str | None]:
    """ONNX scale and bias inputs (constants of shape [C]) as the weight and bias slots."""
    params: dict[str, str | None] = {}
    for slot, index in (("weight", 1), ("bias", 2)):
        value = im.const(node.input[index], slot)
        if value.array.shape != (c,):
            raise im.fail(
                f"{what} {slot} {node.input[index]!r} has shape {list(value.array.shape)}, "
                f"expected [{c}]"
            )
        params[slot] = im.param(value, value.array, "", slot)
    return params


def _affine_to_onnx(e: Emitter, node: Node, c: int) -> tuple[str, str]:
    """The scale and bias inputs ONNX requires: the weight and bias, or ones and zeros."""
    weight, bias = node.params.get("weight"), node.params.get("bias")
    scale = (
        e.tensor(weight, node)
        if weight is not None
        else e.constant(f"{node.name}.ones", np.ones(c, np.float32))
    )
    shift = (
        e.tensor(bias, node)
        if bias is not None
        else e.constant(f"{node.name}.zeros", np.zeros(c, np.float32))
    )
    return scale, shift


# --- group_norm -----------------------------------------------------------------------------


def _gn_attrs(attrs: Attrs) -> int:
    """The attribute rules (INVALID_ATTRIBUTE); returns the channel count."""
    groups = int(attrs["num_groups"])  # type: ignore[arg-type]
    channels = int(attrs["num_channels"])  # type: ignore[arg-type]
    if groups < 1 or channels < 1 or channels % groups:
        raise ShapeError(
            f"num_channels={channels} must be a positive multiple of num_groups={groups}",
            ErrorCode.INVALID_ATTRIBUTE,
        )
    _check_eps(attrs)
    return channels


def _gn_param_shapes(attrs: Attrs) -> dict[str, Shape]:
    c = _gn_attrs(attrs)
    return {"weight": (c,), "bias": (c,)}


def _gn_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    channels = _gn_attrs(attrs)
    if len(shape) < 1:
        raise ShapeError("group_norm needs a per-sample input of rank >= 1 (C, ...)")
    if shape[0] != channels:
        raise ShapeError(f"input has {shape[0]} channels but num_channels={channels}")
    return shape


@register("group_norm", 1, infer=_gn_infer, param_shapes=_gn_param_shapes)
def group_norm_kernel(
    attrs: Attrs, inputs: list[np.ndarray], params: Mapping[str, np.ndarray | None]
) -> np.ndarray:
    """Per sample: each group of C / num_groups channels normalised over its channels and all
    positions (biased variance), then weight * y + bias per channel."""
    return _normalise_groups(
        inputs[0],
        int(attrs["num_groups"]),  # type: ignore[arg-type]
        float(attrs["eps"]),  # type: ignore[arg-type]
        params["weight"],
        params["bias"],
    )


@torch_module("torch.nn.GroupNorm", ops=("group_norm",), note="affine or not")
def _group_norm_module(mod: object, x: Value) -> Lowered:
    return Lowered(
        "group_norm",
        {
            "num_groups": int(mod.num_groups),
            "num_channels": int(mod.num_channels),
            "eps": float(mod.eps),
        },
        _affine_slots(mod),
    )


@torch_function(
    "torch.nn.functional.group_norm",
    ops=("group_norm",),
    shown={"torch.nn.functional.group_norm": "F.group_norm(x, g, self.w, self.b, eps)"},
    note="F.group_norm: " + _FUNCTIONAL_NOTE,
)
def _group_norm_call(call: Call) -> Lowered:
    x = call.tensor(0)
    b = call.bind(
        ["num_groups", "weight", "bias", "eps"],
        {"weight": None, "bias": None, "eps": 1e-5},
        tensors=("weight", "bias"),
    )
    if not x.shape:
        raise Unsupported("F.group_norm of an input without a channel axis")
    c = x.shape[0]
    return Lowered(
        "group_norm",
        {"num_groups": int(b["num_groups"]), "num_channels": c, "eps": float(b["eps"])},
        _constant_slots(b, c, "F.group_norm"),
    )


@onnx_export(
    "group_norm",
    1,
    doc="opset 17 has no GroupNormalization: `Reshape` to (N, G, -1), `InstanceNormalization` "
    "(ones scale, zeros bias, `epsilon`), `Reshape` back, then `Mul` by the weight and `Add` of "
    "the bias as (C, 1, ...) initializers when present",
)
def _group_norm_to_onnx(e: Emitter, node: Node) -> None:
    groups = int(node.attrs["num_groups"])
    channels = int(node.attrs["num_channels"])
    shape = tuple(int(d) for d in node.output_shape)
    x = node.inputs[0]
    # A 0 in a Reshape target copies that dim of the input: the dynamic batch size.
    grouped_shape = e.constant(f"{node.name}.grouped_shape", np.array([0, groups, -1], np.int64))
    out_shape = e.constant(f"{node.name}.shape", np.array([0, *shape], np.int64))
    grouped = e.fresh(f"{node.name}.grouped")
    normalised = e.fresh(f"{node.name}.normalised")
    e.add("Reshape", [x, grouped_shape], [grouped], e.fresh(f"{node.name}.to_groups"))
    ones = e.constant(f"{node.name}.group_ones", np.ones(groups, np.float32))
    zeros = e.constant(f"{node.name}.group_zeros", np.zeros(groups, np.float32))
    e.add(
        "InstanceNormalization",
        [grouped, ones, zeros],
        [normalised],
        e.fresh(f"{node.name}.instance_norm"),
        epsilon=float(node.attrs["eps"]),
    )
    weight, bias = node.params.get("weight"), node.params.get("bias")
    steps = [(op, key) for op, key in (("Mul", weight), ("Add", bias)) if key is not None]
    value = e.fresh(f"{node.name}.ungrouped") if steps else node.outputs[0]
    e.add("Reshape", [normalised, out_shape], [value], node.name)
    per_channel = (channels, *(1,) * (len(shape) - 1))
    for i, (op, key) in enumerate(steps):
        array = e.graph.tensors[key].reshape(per_channel)
        operand = e.constant(f"{node.name}.{op.lower()}_operand", array)
        out = node.outputs[0] if i == len(steps) - 1 else e.fresh(f"{node.name}.scaled")
        e.add(op, [value, operand], [out], e.fresh(f"{node.name}.{op.lower()}"))
        value = out


# --- instance_norm2d ------------------------------------------------------------------------


def _in_attrs(attrs: Attrs) -> int:
    """The attribute rules (INVALID_ATTRIBUTE); returns the channel count."""
    c = int(attrs["num_features"])  # type: ignore[arg-type]
    if c < 1:
        raise ShapeError(f"num_features must be >= 1, got {c}", ErrorCode.INVALID_ATTRIBUTE)
    _check_eps(attrs)
    return c


def _in_param_shapes(attrs: Attrs) -> dict[str, Shape]:
    c = _in_attrs(attrs)
    return {"weight": (c,), "bias": (c,)}


def _in_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    _in_attrs(attrs)
    want_rank(shape, 3, "instance_norm2d")
    _check_channels(shape, attrs)
    return shape


@register("instance_norm2d", 1, infer=_in_infer, param_shapes=_in_param_shapes)
def instance_norm2d_kernel(
    attrs: Attrs, inputs: list[np.ndarray], params: Mapping[str, np.ndarray | None]
) -> np.ndarray:
    """Per sample and channel: normalised over H and W (biased variance), then weight * y + bias."""
    x = inputs[0]
    return _normalise_groups(
        x,
        int(x.shape[1]),
        float(attrs["eps"]),
        params["weight"],
        params["bias"],  # type: ignore[arg-type]
    )


@torch_module(
    "torch.nn.InstanceNorm2d",
    ops=("instance_norm2d", "batch_norm2d"),
    note="affine or not; with track_running_stats=True, eval mode uses the running statistics: "
    "a batch_norm2d",
)
def _instance_norm2d_module(mod: object, x: Value) -> Lowered:
    if getattr(mod, "track_running_stats", False) and mod.running_mean is not None:
        # In eval mode an InstanceNorm2d with tracked statistics normalises with its running
        # mean and variance, exactly as a batch norm does.
        return Lowered(
            "batch_norm2d",
            {"num_features": int(mod.num_features), "eps": float(mod.eps)},
            {"running_mean": "running_mean", "running_var": "running_var", **_affine_slots(mod)},
        )
    return Lowered(
        "instance_norm2d",
        {"num_features": int(mod.num_features), "eps": float(mod.eps)},
        _affine_slots(mod),
    )


@torch_function(
    "torch.nn.functional.instance_norm",
    ops=("instance_norm2d", "batch_norm2d"),
    shown={"torch.nn.functional.instance_norm": "F.instance_norm(x, weight=self.w, bias=self.b)"},
    note="F.instance_norm: " + _FUNCTIONAL_NOTE + ", (N, C, H, W) input; with "
    "use_input_stats=False, the running statistics: a batch_norm2d",
)
def _instance_norm_call(call: Call) -> Lowered:
    x = call.tensor(0)
    b = call.bind(
        ["running_mean", "running_var", "weight", "bias", "use_input_stats", "momentum", "eps"],
        {
            "running_mean": None,
            "running_var": None,
            "weight": None,
            "bias": None,
            "use_input_stats": True,
            "momentum": 0.1,
            "eps": 1e-5,
        },
        tensors=("running_mean", "running_var", "weight", "bias"),
    )
    if x.rank != 4:
        raise Unsupported(f"F.instance_norm of a rank-{x.rank} input (only (N, C, H, W))")
    c = x.shape[0]
    attrs = {"num_features": c, "eps": float(b["eps"])}
    if b["use_input_stats"]:
        # The running statistics, if given, are only updated: the output uses the input's own.
        return Lowered("instance_norm2d", attrs, _constant_slots(b, c, "F.instance_norm"))
    if b["running_mean"] is None or b["running_var"] is None:
        raise Unsupported("F.instance_norm(use_input_stats=False) without running statistics")
    slots = ("running_mean", "running_var", "weight", "bias")
    return Lowered("batch_norm2d", attrs, _constant_slots(b, c, "F.instance_norm", slots))


@onnx_import(
    "InstanceNormalization",
    ops=("instance_norm2d",),
    form="a (C, H, W) input; constant scale and bias of shape `[C]`",
)
def _instance_norm_from_onnx(im: Importer, node: NodeProto) -> None:
    x = im.runtime(node.input[0])
    if len(x.shape) != 3:
        raise im.fail(
            f"its input {node.input[0]!r} has per-sample shape {list(x.shape)}; pd2java maps "
            "InstanceNormalization on a (C, H, W) input only (a GroupNorm exported through a "
            "reshape is read as group_norm only in the exact form docs/ONNX.md lists)"
        )
    c = x.shape[0]
    params = _affine_from_onnx(im, node, c, "InstanceNormalization")
    eps = float_attr(im.attrs(node).get("epsilon", 1e-5))
    im.emit(
        "instance_norm2d", [x], node.output[0], attrs={"num_features": c, "eps": eps}, params=params
    )


def _gn_affine_step(
    view: PatternView, node: NodeProto, inner: tuple[str, ...]
) -> tuple[NodeProto, str] | None:
    """``node`` (a Mul or an Add) of a constant and the output of an inner node of ``inner``:
    that node and the constant's name."""
    if len(node.input) != 2:
        return None
    for value, const in (node.input, node.input[::-1]):
        producer = view.inner(value, *inner)
        if producer is not None and view.const(const) is not None:
            return producer, const
    return None


def _allows_zero(node: NodeProto) -> bool:
    return any(a.name == "allowzero" and a.i != 0 for a in node.attribute)


@onnx_pattern(
    "group_norm",
    anchors=("Add", "Mul", "Reshape"),
    ops=("group_norm",),
    shown="`Reshape(x, [0, G, -1])` -> `InstanceNormalization` -> `Reshape` back -> `Mul(weight)`"
    " -> `Add(bias)`",
    form="the first Reshape's target a constant `[0, G, -1]`; the InstanceNormalization's scale "
    "all ones and bias all zeros, shape `[G]`; the Reshape back to `Shape(x)` or a constant "
    "`[0, C, ...]`; the Mul and the Add each optional, by a constant of shape (C, 1, ...) or a "
    "single value (`num_groups` G, `eps` the `epsilon`, weight and bias from those constants; "
    "a single 1 / 0, torch's `affine=False`, is no weight / bias)",
)
def _group_norm_pattern(view: PatternView, anchor: NodeProto) -> PatternMatch | None:
    node, nodes = anchor, []
    weight = bias = None
    if node.op_type == "Add":
        step = _gn_affine_step(view, node, ("Mul", "Reshape"))
        if step is None:
            return None
        node, bias = step
    if node.op_type == "Mul":
        step = _gn_affine_step(view, node, ("Reshape",))
        if step is None:
            return None
        if node is not anchor:
            nodes.append(node)  # the Mul, under the Add
        node, weight = step
    if node.op_type != "Reshape" or len(node.input) != 2 or _allows_zero(node):
        return None
    back = node
    norm = view.inner(back.input[0], "InstanceNormalization")
    grouped = view.inner(norm.input[0], "Reshape") if norm is not None else None
    if norm is None or grouped is None or len(norm.input) != 3 or _allows_zero(grouped):
        return None
    target = view.const(grouped.input[1]) if len(grouped.input) == 2 else None
    if (
        target is None
        or not np.issubdtype(target.dtype, np.integer)
        or target.shape != (3,)
        or target[0] != 0
        or target[1] < 1
        or target[2] != -1
    ):
        return None
    groups = int(target[1])
    scale, shift = view.const(norm.input[1]), view.const(norm.input[2])
    if (
        scale is None
        or shift is None
        or scale.shape != (groups,)
        or shift.shape != (groups,)
        or not np.all(scale == 1)
        or not np.all(shift == 0)
    ):
        return None
    eps_attrs = [a.f for a in norm.attribute if a.name == "epsilon"]
    eps = float_attr(eps_attrs[0] if eps_attrs else 1e-5)
    x, back_shape = grouped.input[0], back.input[1]

    def finish(im: Importer, last: NodeProto) -> None:
        xv = im.runtime(x)
        c = xv.shape[0]
        wanted = [c, *xv.shape[1:]]
        got = list(im.const(back_shape, "shape").array.reshape(-1))
        if len(got) != len(wanted) + 1 or got[0] not in (0, BATCH) or got[1:] != wanted:
            raise im.fail(f"the Reshape back is to {got}, not the input's shape")
        per_channel = (c, *(1,) * (len(xv.shape) - 1))
        params: dict[str, str | None] = {"weight": None, "bias": None}
        for slot, name in (("weight", weight), ("bias", bias)):
            if name is None:
                continue
            const = im.const(name, slot)
            array = const.array
            if array.size == 1 and array.ndim <= len(per_channel):  # one value for every channel
                if float(array.reshape(())) == (1.0 if slot == "weight" else 0.0):
                    continue  # torch's GroupNorm(affine=False): no weight or bias
                array = np.full(c, array.reshape(()))
            elif array.shape not in (per_channel, (1, *per_channel)):
                raise im.fail(f"the GroupNorm {slot} has shape {list(array.shape)}")
            params[slot] = im.param(const, array.reshape(c), "per_channel", slot)
        im.emit(
            "group_norm",
            [xv],
            last.output[0],
            attrs={"num_groups": groups, "num_channels": c, "eps": eps},
            params=params,
        )

    if back is not anchor:
        nodes.append(back)
    return PatternMatch((*nodes, norm, grouped), (x, back_shape), finish)


@onnx_export(
    "instance_norm2d",
    1,
    doc="`InstanceNormalization` (`epsilon`); without weight and bias, a ones scale and a zeros "
    "bias initializer (`<node>.ones`, `<node>.zeros`)",
)
def _instance_norm_to_onnx(e: Emitter, node: Node) -> None:
    scale, shift = _affine_to_onnx(e, node, int(node.attrs["num_features"]))
    e.add(
        "InstanceNormalization",
        [node.inputs[0], scale, shift],
        node.outputs,
        node.name,
        epsilon=float(node.attrs["eps"]),
    )


# --- layer_norm -----------------------------------------------------------------------------
# The parameter shapes of an op follow from its attributes alone (the readers check them before
# any input shape is known), so the weight and bias are stored flattened: (normalized_size), the
# normalised trailing dims in row-major order.


def _ln_attrs(attrs: Attrs) -> int:
    """The attribute rules (INVALID_ATTRIBUTE); returns normalized_size."""
    dims = int(attrs["normalized_dims"])  # type: ignore[arg-type]
    size = int(attrs["normalized_size"])  # type: ignore[arg-type]
    if dims < 1 or size < 1:
        raise ShapeError(
            f"normalized_dims ({dims}) and normalized_size ({size}) must be >= 1",
            ErrorCode.INVALID_ATTRIBUTE,
        )
    _check_eps(attrs)
    return size


def _ln_param_shapes(attrs: Attrs) -> dict[str, Shape]:
    size = _ln_attrs(attrs)
    return {"weight": (size,), "bias": (size,)}


def _ln_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    size = _ln_attrs(attrs)
    dims = int(attrs["normalized_dims"])  # type: ignore[arg-type]
    if dims > len(shape):
        raise ShapeError(
            f"normalized_dims={dims} exceeds the rank of the per-sample input {list(shape)}"
        )
    trailing = int(np.prod(shape[len(shape) - dims :]))
    if trailing != size:
        raise ShapeError(
            f"the last {dims} dim(s) of the input {list(shape)} hold {trailing} values but "
            f"normalized_size={size}"
        )
    return shape


@register("layer_norm", 1, infer=_ln_infer, param_shapes=_ln_param_shapes)
def layer_norm_kernel(
    attrs: Attrs, inputs: list[np.ndarray], params: Mapping[str, np.ndarray | None]
) -> np.ndarray:
    """Per sample: normalised over the last normalized_dims dims (biased variance), then
    weight * y + bias elementwise over those dims."""
    x = inputs[0]
    size = int(attrs["normalized_size"])  # type: ignore[arg-type]
    rows = x.astype(np.float64).reshape(x.shape[0], -1, size)
    mean = rows.mean(axis=2, keepdims=True)
    var = ((rows - mean) ** 2).mean(axis=2, keepdims=True)
    y = (rows - mean) / np.sqrt(var + float(attrs["eps"]))  # type: ignore[arg-type]
    if params["weight"] is not None:
        y = y * params["weight"].astype(np.float64)
    if params["bias"] is not None:
        y = y + params["bias"].astype(np.float64)
    return y.reshape(x.shape).astype(np.float32)


def _check_trailing(shape: tuple[int, ...], x: Value, who: str) -> None:
    """Refuses a normalized_shape that is not the trailing dims of the per-sample input."""
    if (
        not shape
        or len(shape) > len(x.shape)
        or tuple(x.shape[len(x.shape) - len(shape) :]) != shape
    ):
        raise Unsupported(
            f"{who} normalized_shape {list(shape)} is not the trailing dims of the per-sample "
            f"input {list(x.shape)}"
        )


def _layer_norm_lowered(
    shape: tuple[int, ...], eps: float, params: dict[str, str | None]
) -> Lowered:
    return Lowered(
        "layer_norm",
        {"normalized_dims": len(shape), "normalized_size": int(np.prod(shape)), "eps": eps},
        params,
    )


@torch_module(
    "torch.nn.LayerNorm",
    ops=("layer_norm",),
    note="normalized_shape the input's trailing dims; affine or not; weight and bias stored "
    "flattened",
)
def _layer_norm_module(mod: object, x: Value) -> Lowered:
    shape = tuple(int(d) for d in mod.normalized_shape)
    _check_trailing(shape, x, "LayerNorm")
    params: dict[str, str | None] = {}
    for slot in ("weight", "bias"):
        tensor = getattr(mod, slot, None)
        if tensor is None:
            params[slot] = None
        elif len(shape) == 1:
            params[slot] = slot
        else:
            # The op stores the affine tensors flattened; the capture reads them by attribute
            # name, so the flat view is set on the module (the exporter's private copy), once:
            # a module called twice must give the very same tensor both times.
            if getattr(mod, f"{slot}_flat", None) is None:
                setattr(mod, f"{slot}_flat", tensor.detach().reshape(-1))
            params[slot] = f"{slot}_flat"
    return _layer_norm_lowered(shape, float(mod.eps), params)


@torch_function(
    "torch.nn.functional.layer_norm",
    ops=("layer_norm",),
    shown={"torch.nn.functional.layer_norm": "F.layer_norm(x, shape, self.w, self.b, eps)"},
    note="F.layer_norm: " + _FUNCTIONAL_NOTE,
)
def _layer_norm_call(call: Call) -> Lowered:
    x = call.tensor(0)
    b = call.bind(
        ["normalized_shape", "weight", "bias", "eps"],
        {"weight": None, "bias": None, "eps": 1e-5},
        tensors=("weight", "bias"),
    )
    given = b["normalized_shape"]
    if isinstance(given, int) and not isinstance(given, bool):
        given = (given,)
    if not isinstance(given, (list, tuple)) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in given
    ):
        raise Unsupported(f"normalized_shape={given!r} is not a list of ints")
    shape = tuple(int(d) for d in given)
    _check_trailing(shape, x, "F.layer_norm")
    params: dict[str, str | None] = {}
    for slot in ("weight", "bias"):
        value = b[slot]
        if value is not None and value.shape != shape:
            raise Unsupported(
                f"F.layer_norm {slot} {value.name!r} has shape {list(value.shape)}, expected "
                f"the normalised shape {list(shape)}"
            )
        params[slot] = None if value is None else value.flattened().name
    return _layer_norm_lowered(shape, float(b["eps"]), params)


@onnx_import(
    "LayerNormalization",
    ops=("layer_norm",),
    form="`axis` on a per-sample dim (not the batch axis); constant scale and optional bias of "
    "the normalised shape; the Mean and InvStdDev outputs unused",
)
def _layer_norm_from_onnx(im: Importer, node: NodeProto) -> None:
    attrs = im.attrs(node)
    im.only_first_output(node, "pd2java's layer_norm gives the normalised value only")
    x = im.runtime(node.input[0])
    axis = int(attrs.get("axis", -1))
    full = len(x.shape) + 1
    dims = -axis if axis < 0 else full - axis
    if not 1 <= dims <= len(x.shape):
        raise im.fail(
            f"axis={axis} on an input of rank {full}; pd2java normalises over per-sample dims "
            "only (1 <= axis < rank, or the negative equivalent)"
        )
    normalized = tuple(x.shape[len(x.shape) - dims :])
    size = int(np.prod(normalized))
    params: dict[str, str | None] = {"weight": None, "bias": None}
    for slot, index in (("weight", 1), ("bias", 2)):
        if len(node.input) <= index or not node.input[index]:
            continue
        value = im.const(node.input[index], slot)
        array = value.array
        while array.ndim > len(normalized) and array.shape[0] == 1:
            array = array.reshape(array.shape[1:])
        if array.shape != normalized:
            raise im.fail(
                f"{slot} {node.input[index]!r} has shape {list(value.array.shape)}, expected "
                f"the normalised shape {list(normalized)}"
            )
        params[slot] = im.param(value, array.reshape(size), "flat" if dims > 1 else "", slot)
    eps = float_attr(attrs.get("epsilon", 1e-5))
    im.emit(
        "layer_norm",
        [x],
        node.output[0],
        attrs={"normalized_dims": dims, "normalized_size": size, "eps": eps},
        params=params,
    )


@onnx_export(
    "layer_norm",
    1,
    doc="`LayerNormalization` (`axis` = -normalized_dims, `epsilon`); scale and bias "
    "initializers in the normalised shape (`<node>.scale`, `<node>.bias`), a ones scale "
    "without weight",
)
def _layer_norm_to_onnx(e: Emitter, node: Node) -> None:
    dims = int(node.attrs["normalized_dims"])
    shape = tuple(node.output_shape[len(node.output_shape) - dims :])
    weight, bias = node.params.get("weight"), node.params.get("bias")
    scale = np.ones(shape, np.float32) if weight is None else e.graph.tensors[weight].reshape(shape)
    inputs = [node.inputs[0], e.constant(f"{node.name}.scale", scale)]
    if bias is not None:
        inputs.append(e.constant(f"{node.name}.bias", e.graph.tensors[bias].reshape(shape)))
    e.add(
        "LayerNormalization",
        inputs,
        node.outputs,
        node.name,
        axis=-dims,
        epsilon=float(node.attrs["eps"]),
    )


# --- batch_norm1d ---------------------------------------------------------------------------


@torch_module(
    "torch.nn.BatchNorm1d",
    ops=("batch_norm1d",),
    note="eval statistics, affine or not; (N, C) or (N, C, L) inputs",
)
def _batch_norm1d_module(mod: object, x: Value) -> Lowered:
    """nn.BatchNorm1d -> batch_norm1d using its running statistics (eval semantics)."""
    if not getattr(mod, "track_running_stats", True) or mod.running_mean is None:
        raise Unsupported("BatchNorm1d(track_running_stats=False) has no statistics to export")
    return Lowered(
        "batch_norm1d",
        {"num_features": int(mod.num_features), "eps": float(mod.eps)},
        {"running_mean": "running_mean", "running_var": "running_var", **_affine_slots(mod)},
    )


@torch_function(
    "torch.nn.functional.batch_norm",
    ops=("batch_norm1d", "batch_norm2d"),
    shown={
        "torch.nn.functional.batch_norm": "F.batch_norm(x, self.rm, self.rv, self.w, self.b, "
        "False, m, eps)"
    },
    note="F.batch_norm: " + _FUNCTIONAL_NOTE + ", training=False; a batch_norm2d on (N, C, H, W)",
)
def _batch_norm_call(call: Call) -> Lowered:
    x = call.tensor(0)
    b = call.bind(
        ["running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"],
        {"weight": None, "bias": None, "training": False, "momentum": 0.1, "eps": 1e-5},
        tensors=("running_mean", "running_var", "weight", "bias"),
    )
    if b["training"]:
        raise Unsupported(
            "F.batch_norm(training=True) normalises with the batch's own statistics; only the "
            "inference form (training=False, running statistics) exports"
        )
    if b["running_mean"] is None or b["running_var"] is None:
        raise Unsupported("F.batch_norm without running statistics")
    if x.rank not in (2, 3, 4):
        raise Unsupported(f"F.batch_norm of a rank-{x.rank} input (only rank 2, 3 or 4)")
    c = x.shape[0]
    slots = ("running_mean", "running_var", "weight", "bias")
    return Lowered(
        "batch_norm2d" if x.rank == 4 else "batch_norm1d",
        {"num_features": c, "eps": float(b["eps"])},
        _constant_slots(b, c, "F.batch_norm", slots),
    )


def _bn1d_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    if len(shape) not in (1, 2):
        raise ShapeError(
            f"batch_norm1d needs a (C) or (C, L) per-sample input, got shape {list(shape)}"
        )
    _check_channels(shape, attrs)
    _check_eps(attrs)
    return shape


@register("batch_norm1d", 1, infer=_bn1d_infer, param_shapes=_bn_param_shapes)
def batch_norm1d_kernel(
    attrs: Attrs, inputs: list[np.ndarray], params: Mapping[str, np.ndarray | None]
) -> np.ndarray:
    """(x - mean) / sqrt(var + eps) * weight + bias, per channel, on (N, C) or (N, C, L)."""
    return _batch_norm(attrs, inputs[0], params)
