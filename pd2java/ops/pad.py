"""Explicit padding ops (constant, reflection, replication, circular): torch lowerings, shape
rules, NumPy kernels and ONNX mappings. Circular padding is the natural padding of the PRPD
phase axis, which wraps at 360 degrees.

Each op takes a (C, H, W) value and two int2 attributes, ``pad_h`` = [top, bottom] and
``pad_w`` = [left, right], every entry >= 0 (INVALID_ATTRIBUTE otherwise). What a pad may be
compared with the input extent follows PyTorch: circular needs pad <= extent, reflection
pad < extent; breaking that depends on the input, so it is SHAPE_MISMATCH. constant_pad2d's
``value`` must be finite as a float32 (INVALID_ATTRIBUTE otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from pd2java.errors import ErrorCode
from pd2java.ops.frontend_registry import onnx_export, onnx_import, torch_function, torch_module
from pd2java.ops.lowering import Call, Lowered, Unsupported, Value
from pd2java.ops.onnx_conventions import float_attr, int_list
from pd2java.ops.registry import Attrs, Shape, ShapeError, pair, register, want_rank

if TYPE_CHECKING:
    from onnx import NodeProto

    from pd2java.backends.onnx import Emitter
    from pd2java.frontends.onnx import Importer
    from pd2java.ir import Node

# torch's mode names (F.pad, nn.Conv2d(padding_mode=...)) -> the op; constant is apart (a value).
TORCH_MODES: dict[str, str] = {
    "circular": "circular_pad2d",
    "reflect": "reflection_pad2d",
    "replicate": "replication_pad2d",
}
# ONNX Pad's modes -> the op ("wrap" exists from opset 19).
ONNX_MODES: dict[str, str] = {
    "constant": "constant_pad2d",
    "reflect": "reflection_pad2d",
    "edge": "replication_pad2d",
    "wrap": "circular_pad2d",
}
_NUMPY_MODES = {
    "circular_pad2d": "wrap",
    "reflection_pad2d": "reflect",
    "replication_pad2d": "edge",
}


def pad_attrs(op: str, top: int, bottom: int, left: int, right: int, value: float = 0.0) -> dict:
    """The explicit attributes of pad op ``op``."""
    attrs: dict = {"pad_h": (int(top), int(bottom)), "pad_w": (int(left), int(right))}
    if op == "constant_pad2d":
        attrs["value"] = float(value)
    return attrs


def pad1d_steps(op: str, left: int, right: int) -> tuple[Lowered, Lowered, Lowered]:
    """Pad op ``op`` applied along L of a (C, L) value (before a conv1d): the pad ops take
    (C, H, W), so the value is viewed as (C, 1, L) by an unsqueeze at dim 2, padded along W
    only, and squeezed back."""
    return (
        Lowered("unsqueeze", {"dim": 2}),
        Lowered(op, pad_attrs(op, 0, 0, left, right)),
        Lowered("squeeze", {"dim": 2}),
    )


# --- shape rules and NumPy kernels ------------------------------------------------------------


def _pads(attrs: Attrs) -> tuple[int, int, int, int]:
    top, bottom = pair(attrs["pad_h"], "pad_h")
    left, right = pair(attrs["pad_w"], "pad_w")
    if min(top, bottom, left, right) < 0:
        raise ShapeError(
            f"pad_h {[top, bottom]} and pad_w {[left, right]} must be >= 0 "
            "(pd2java pads never crop)",
            ErrorCode.INVALID_ATTRIBUTE,
        )
    return top, bottom, left, right


def _infer(op: str, attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    top, bottom, left, right = _pads(attrs)
    if op == "constant_pad2d":
        value = attrs["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ShapeError(f"value {value!r} is not a number", ErrorCode.INVALID_ATTRIBUTE)
        with np.errstate(over="ignore"):
            if not np.isfinite(np.float32(value)):
                raise ShapeError(
                    f"value {value!r} is not finite as a float32", ErrorCode.INVALID_ATTRIBUTE
                )
    want_rank(shape, 3, op)
    c, h, w = shape
    for axis, size, pads in (("height", h, (top, bottom)), ("width", w, (left, right))):
        if op == "circular_pad2d" and max(pads) > size:
            raise ShapeError(
                f"circular padding {list(pads)} exceeds the input {axis} {size} "
                "(each pad must be <= the extent, as in PyTorch)"
            )
        if op == "reflection_pad2d" and max(pads) >= size:
            raise ShapeError(
                f"reflection padding {list(pads)} is not below the input {axis} {size} "
                "(each pad must be < the extent, as in PyTorch)"
            )
    return (c, h + top + bottom, w + left + right)


def _kernel(op: str, attrs: Attrs, inputs: list[np.ndarray]) -> np.ndarray:
    top, bottom, left, right = _pads(attrs)
    widths = ((0, 0), (0, 0), (top, bottom), (left, right))
    x = inputs[0].astype(np.float32)
    if op == "constant_pad2d":
        return np.pad(x, widths, mode="constant", constant_values=np.float32(attrs["value"]))
    return np.pad(x, widths, mode=_NUMPY_MODES[op])


@register("circular_pad2d", 1, infer=lambda a, s: _infer("circular_pad2d", a, s))
def circular_pad2d_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    return _kernel("circular_pad2d", attrs, inputs)


@register("constant_pad2d", 1, infer=lambda a, s: _infer("constant_pad2d", a, s))
def constant_pad2d_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    return _kernel("constant_pad2d", attrs, inputs)


@register("reflection_pad2d", 1, infer=lambda a, s: _infer("reflection_pad2d", a, s))
def reflection_pad2d_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    return _kernel("reflection_pad2d", attrs, inputs)


@register("replication_pad2d", 1, infer=lambda a, s: _infer("replication_pad2d", a, s))
def replication_pad2d_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    return _kernel("replication_pad2d", attrs, inputs)


# --- torch lowerings ----------------------------------------------------------------------


def _torch_pads(pad: object, what: str) -> tuple[int, int, int, int]:
    """PyTorch's (left, right, top, bottom) as (top, bottom, left, right), checked."""
    if not (
        isinstance(pad, (tuple, list))
        and len(pad) == 4
        and all(isinstance(p, int) and not isinstance(p, bool) for p in pad)
    ):
        raise Unsupported(
            f"{what}={pad!r}: pd2java pads H and W only, four ints (left, right, top, bottom)"
        )
    left, right, top, bottom = (int(p) for p in pad)
    if min(left, right, top, bottom) < 0:
        raise Unsupported(f"{what}={pad!r} has a negative pad (cropping is not supported)")
    return top, bottom, left, right


def _check_4d(x: Value, what: str) -> None:
    if x.rank != 4:
        raise Unsupported(f"{what} of a rank-{x.rank} tensor (only (N, C, H, W) is supported)")


def _lower_pad_module(
    mod: object, x: Value, what: str, op: str, with_value: bool = False
) -> Lowered:
    """A padding module (``what``) on (N, C, H, W) as ``op``; ``with_value``: its fill value."""
    _check_4d(x, what)
    pads = _torch_pads(mod.padding, "padding")
    value = (float(mod.value),) if with_value else ()
    return Lowered(op, pad_attrs(op, *pads, *value))


@torch_module("torch.nn.ZeroPad2d", ops=("constant_pad2d",))
def _zero_pad_module(mod: object, x: Value) -> Lowered:
    return _lower_pad_module(mod, x, "ZeroPad2d", "constant_pad2d")


@torch_module("torch.nn.ConstantPad2d", ops=("constant_pad2d",))
def _constant_pad_module(mod: object, x: Value) -> Lowered:
    return _lower_pad_module(mod, x, "ConstantPad2d", "constant_pad2d", with_value=True)


@torch_module("torch.nn.CircularPad2d", ops=("circular_pad2d",))
def _circular_pad_module(mod: object, x: Value) -> Lowered:
    return _lower_pad_module(mod, x, "CircularPad2d", "circular_pad2d")


@torch_module("torch.nn.ReflectionPad2d", ops=("reflection_pad2d",))
def _reflection_pad_module(mod: object, x: Value) -> Lowered:
    return _lower_pad_module(mod, x, "ReflectionPad2d", "reflection_pad2d")


@torch_module("torch.nn.ReplicationPad2d", ops=("replication_pad2d",))
def _replication_pad_module(mod: object, x: Value) -> Lowered:
    return _lower_pad_module(mod, x, "ReplicationPad2d", "replication_pad2d")


@torch_function(
    "torch.nn.functional.pad",
    ops=("circular_pad2d", "constant_pad2d", "reflection_pad2d", "replication_pad2d"),
    shown={"torch.nn.functional.pad": "F.pad(x, (l, r, t, b), mode, value)"},
    note="4-D input, four non-negative pads; mode constant, reflect, replicate or circular",
    aliases=("torch._C._nn.pad",),
)
def _pad_call(call: Call) -> Lowered:
    x = call.tensor(0)
    _check_4d(x, "F.pad")
    b = call.bind(["pad", "mode", "value"], {"mode": "constant", "value": None})
    pads = _torch_pads(b["pad"], "pad")
    mode = b["mode"]
    if mode == "constant":
        value = 0.0 if b["value"] is None else b["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Unsupported(f"pad value {value!r} is not a number")
        return Lowered("constant_pad2d", pad_attrs("constant_pad2d", *pads, float(value)))
    if mode not in TORCH_MODES:
        raise Unsupported(
            f"pad mode={mode!r} (supported: 'constant', {', '.join(map(repr, TORCH_MODES))})"
        )
    if b["value"] not in (None, 0, 0.0):
        raise Unsupported(f"pad mode={mode!r} takes no value (got value={b['value']!r})")
    return Lowered(TORCH_MODES[mode], pad_attrs(TORCH_MODES[mode], *pads))


# --- ONNX -----------------------------------------------------------------------------------


@onnx_import(
    "Pad",
    ops=("constant_pad2d", "reflection_pad2d", "replication_pad2d", "circular_pad2d"),
    form="4-D input; constant `pads` (and `axes`), non-negative, on H and W only; `mode` "
    "constant (constant scalar `constant_value`, 0 when absent), reflect, edge or wrap "
    "(opset 19)",
)
def _pad_from_onnx(im: Importer, node: NodeProto) -> None:
    x = im.image(node.input[0])
    raw_mode = im.attrs(node).get("mode", b"constant")
    mode = raw_mode.decode() if isinstance(raw_mode, bytes) else str(raw_mode)
    if mode not in ONNX_MODES:
        raise im.fail(f"mode={mode!r} is not supported (only {', '.join(ONNX_MODES)})")
    if len(node.input) < 2 or not node.input[1]:
        raise im.fail("Pad needs its `pads` input (opset 11 and newer)")
    given = im.const(node.input[1], "pads").array
    if given.dtype == object or not np.issubdtype(given.dtype, np.integer):
        raise im.fail(f"pads {node.input[1]!r} must be constant integers")
    given_list = int_list(given.reshape(-1))
    axes = [0, 1, 2, 3]
    if len(node.input) > 3 and node.input[3]:
        raw_axes = im.const(node.input[3], "axes").array
        axes = [int(a) % 4 for a in raw_axes.reshape(-1)]
        if len(set(axes)) != len(axes):
            raise im.fail(f"axes {axes} repeat an axis")
    if len(given_list) != 2 * len(axes):
        raise im.fail(f"pads {given_list} must hold two entries per padded axis ({len(axes)})")
    begin, end = [0] * 4, [0] * 4
    for i, axis in enumerate(axes):
        begin[axis], end[axis] = given_list[i], given_list[len(axes) + i]
    if begin[:2] != [0, 0] or end[:2] != [0, 0]:
        raise im.fail(f"pads {given_list} pad the batch or channel axis; pd2java pads H and W only")
    if min(begin + end) < 0:
        raise im.fail(f"pads {given_list} are negative (cropping is not supported)")
    op = ONNX_MODES[mode]
    value = 0.0
    if len(node.input) > 2 and node.input[2]:
        value = float_attr(im.scalar(node.input[2], "constant_value"))
        if mode != "constant" and value != 0.0:
            raise im.fail(
                f"constant_value {value} with mode={mode!r} (it only applies to constant)"
            )
    im.emit(op, [x], node.output[0], attrs=pad_attrs(op, begin[2], end[2], begin[3], end[3], value))


def _onnx_pads(e: Emitter, node: Node) -> str:
    top, bottom = e.pair(node, "pad_h")
    left, right = e.pair(node, "pad_w")
    return e.constant(
        f"{node.name}.pads", np.array([0, 0, top, left, 0, 0, bottom, right], np.int64)
    )


@onnx_export(
    "constant_pad2d",
    1,
    doc="`Pad` (mode constant, `pads` = `[0, 0, top, left, 0, 0, bottom, right]`, "
    "`constant_value` a float32 scalar initializer)",
)
def _constant_pad_to_onnx(e: Emitter, node: Node) -> None:
    value = e.constant(f"{node.name}.value", np.array(node.attrs["value"], np.float32))
    e.add(
        "Pad",
        [node.inputs[0], _onnx_pads(e, node), value],
        node.outputs,
        node.name,
        mode="constant",
    )


@onnx_export("reflection_pad2d", 1, doc="`Pad` (mode reflect, `pads` as for constant_pad2d)")
def _reflection_pad_to_onnx(e: Emitter, node: Node) -> None:
    e.add("Pad", [node.inputs[0], _onnx_pads(e, node)], node.outputs, node.name, mode="reflect")


@onnx_export("replication_pad2d", 1, doc="`Pad` (mode edge, `pads` as for constant_pad2d)")
def _replication_pad_to_onnx(e: Emitter, node: Node) -> None:
    e.add("Pad", [node.inputs[0], _onnx_pads(e, node)], node.outputs, node.name, mode="edge")


@onnx_export(
    "circular_pad2d",
    1,
    doc="`Slice` + `Concat` on H, then on W (opset 17 has no `Pad` mode wrap); the reader "
    "does not map this construction back, only `Pad` mode wrap",
)
def _circular_pad_to_onnx(e: Emitter, node: Node) -> None:
    shape = _input_shape(e, node)
    h, w = shape[1], shape[2]
    current = node.inputs[0]
    steps = [
        (2, h, *e.pair(node, "pad_h"), "rows"),
        (3, w, *e.pair(node, "pad_w"), "cols"),
    ]
    active = [s for s in steps if s[2] or s[3]]
    if not active:
        e.add("Identity", [current], node.outputs, node.name)
        return
    for i, (axis, size, before, after, tag) in enumerate(active):
        out = node.outputs[0] if i == len(active) - 1 else e.fresh(f"{node.name}_{tag}")
        parts = []
        if before:
            parts.append(_slice(e, node, current, axis, size - before, size, f"{tag}_before"))
        parts.append(current)
        if after:
            parts.append(_slice(e, node, current, axis, 0, after, f"{tag}_after"))
        e.add("Concat", parts, [out], e.fresh(f"{node.name}_{tag}_concat"), axis=axis)
        current = out


def _slice(e: Emitter, node: Node, x: str, axis: int, start: int, end: int, tag: str) -> str:
    out = e.fresh(f"{node.name}_{tag}")
    starts = e.constant(f"{node.name}.{tag}.starts", np.array([start], np.int64))
    ends = e.constant(f"{node.name}.{tag}.ends", np.array([end], np.int64))
    axes = e.constant(f"{node.name}.{tag}.axes", np.array([axis], np.int64))
    e.add("Slice", [x, starts, ends, axes], [out], e.fresh(f"{node.name}_{tag}_slice"))
    return out


def _input_shape(e: Emitter, node: Node) -> tuple[int, ...]:
    """The per-sample shape of ``node``'s input: the graph input's or its producer's output."""
    name = node.inputs[0]
    if name == e.graph.input.name:
        return tuple(e.graph.input.shape)
    producer = e.graph.producer_of(name)
    assert producer is not None
    return tuple(producer.output_shape)
