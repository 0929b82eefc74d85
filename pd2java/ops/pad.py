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
from dataclasses import dataclass
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
from pd2java.ops.lowering import Call, Lowered, LoweredSeq, Unsupported, Value
from pd2java.ops.onnx_conventions import float_attr, int_list
from pd2java.ops.registry import Attrs, Shape, ShapeError, pair, register, want_rank

if TYPE_CHECKING:
    from onnx import NodeProto

    from pd2java.backends.onnx import Emitter
    from pd2java.frontends.onnx import Importer, PatternView
    from pd2java.ir import Node
    from pd2java.ops.onnx_conventions import Runtime

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


def pad1d_steps(
    op: str, left: int, right: int, value: float = 0.0
) -> tuple[Lowered, Lowered, Lowered]:
    """Pad op ``op`` applied along L of a (C, L) value (F.pad of a sequence, or before a
    conv1d): the pad ops take (C, H, W), so the value is viewed as (C, 1, L) by an unsqueeze at
    dim 2, padded along W only, and squeezed back."""
    return (
        Lowered("unsqueeze", {"dim": 2}),
        Lowered(op, pad_attrs(op, 0, 0, left, right, value)),
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


def _torch_pads(pad: object, what: str, rank: int = 4) -> tuple[int, int, int, int]:
    """PyTorch's (left, right, top, bottom) as (top, bottom, left, right), checked; for a
    rank-3 (N, C, L) tensor, (left, right) of L, given as (0, 0, left, right)."""
    count = 2 if rank == 3 else 4
    if isinstance(pad, int) and not isinstance(pad, bool):  # a padding module's single size
        pad = (pad,) * count
    if not (
        isinstance(pad, (tuple, list))
        and len(pad) == count
        and all(isinstance(p, int) and not isinstance(p, bool) for p in pad)
    ):
        raise Unsupported(
            f"{what}={pad!r}: pd2java pads H and W only, four ints (left, right, top, bottom)"
            if count == 4
            else f"{what}={pad!r}: pd2java pads L only of a (N, C, L) tensor, two ints (left, "
            "right)"
        )
    if count == 2:
        pad = (*pad, 0, 0)
    left, right, top, bottom = (int(p) for p in pad)
    if min(left, right, top, bottom) < 0:
        raise Unsupported(f"{what}={pad!r} has a negative pad (cropping is not supported)")
    return top, bottom, left, right


def _check_rank(x: Value, what: str) -> None:
    if x.rank not in (3, 4):
        raise Unsupported(
            f"{what} of a rank-{x.rank} tensor (only (N, C, H, W) and (N, C, L) are supported)"
        )


def _padded(
    op: str, x: Value, pads: tuple[int, int, int, int], *value: float
) -> Lowered | LoweredSeq:
    """Pad op ``op`` with (top, bottom, left, right) ``pads``: on an image directly, on a
    (N, C, L) sequence along L through the (C, 1, L) view (``pad1d_steps``)."""
    if x.rank == 3:
        return LoweredSeq(pad1d_steps(op, pads[2], pads[3], *value))
    return Lowered(op, pad_attrs(op, *pads, *value))


def _lower_pad_module(
    mod: object, x: Value, what: str, op: str, with_value: bool = False
) -> Lowered | LoweredSeq:
    """A padding module (``what``) on (N, C, H, W), or a 1-D one on (N, C, L), as ``op``;
    ``with_value``: its fill value."""
    _check_rank(x, what)
    pads = _torch_pads(mod.padding, "padding", x.rank)
    value = (float(mod.value),) if with_value else ()
    return _padded(op, x, pads, *value)


@torch_module("torch.nn.ZeroPad2d", ops=("constant_pad2d",))
@torch_module("torch.nn.ZeroPad1d", ops=("constant_pad2d", "unsqueeze", "squeeze"))
def _zero_pad_module(mod: object, x: Value) -> Lowered | LoweredSeq:
    return _lower_pad_module(mod, x, type(mod).__name__, "constant_pad2d")


@torch_module("torch.nn.ConstantPad2d", ops=("constant_pad2d",))
@torch_module("torch.nn.ConstantPad1d", ops=("constant_pad2d", "unsqueeze", "squeeze"))
def _constant_pad_module(mod: object, x: Value) -> Lowered | LoweredSeq:
    return _lower_pad_module(mod, x, type(mod).__name__, "constant_pad2d", with_value=True)


@torch_module("torch.nn.CircularPad2d", ops=("circular_pad2d",))
@torch_module("torch.nn.CircularPad1d", ops=("circular_pad2d", "unsqueeze", "squeeze"))
def _circular_pad_module(mod: object, x: Value) -> Lowered | LoweredSeq:
    return _lower_pad_module(mod, x, type(mod).__name__, "circular_pad2d")


@torch_module("torch.nn.ReflectionPad2d", ops=("reflection_pad2d",))
@torch_module("torch.nn.ReflectionPad1d", ops=("reflection_pad2d", "unsqueeze", "squeeze"))
def _reflection_pad_module(mod: object, x: Value) -> Lowered | LoweredSeq:
    return _lower_pad_module(mod, x, type(mod).__name__, "reflection_pad2d")


@torch_module("torch.nn.ReplicationPad2d", ops=("replication_pad2d",))
@torch_module("torch.nn.ReplicationPad1d", ops=("replication_pad2d", "unsqueeze", "squeeze"))
def _replication_pad_module(mod: object, x: Value) -> Lowered | LoweredSeq:
    return _lower_pad_module(mod, x, type(mod).__name__, "replication_pad2d")


@torch_function(
    "torch.nn.functional.pad",
    ops=(
        "circular_pad2d",
        "constant_pad2d",
        "reflection_pad2d",
        "replication_pad2d",
        "unsqueeze",
        "squeeze",
    ),
    shown={"torch.nn.functional.pad": "F.pad(x, (l, r, t, b), mode, value)"},
    note="4-D input and four non-negative pads, or a 3-D (N, C, L) input and two (the phase "
    "axis of a PRPS sequence wraps: mode circular); mode constant, reflect, replicate or "
    "circular",
    aliases=("torch._C._nn.pad",),
)
def _pad_call(call: Call) -> Lowered | LoweredSeq:
    x = call.tensor(0)
    _check_rank(x, "F.pad")
    b = call.bind(["pad", "mode", "value"], {"mode": "constant", "value": None})
    pads = _torch_pads(b["pad"], "pad", x.rank)
    mode = b["mode"]
    if mode == "constant":
        value = 0.0 if b["value"] is None else b["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Unsupported(f"pad value {value!r} is not a number")
        return _padded("constant_pad2d", x, pads, float(value))
    if mode not in TORCH_MODES:
        raise Unsupported(
            f"pad mode={mode!r} (supported: 'constant', {', '.join(map(repr, TORCH_MODES))})"
        )
    if b["value"] not in (None, 0, 0.0):
        raise Unsupported(f"pad mode={mode!r} takes no value (got value={b['value']!r})")
    return _padded(TORCH_MODES[mode], x, pads)


# --- ONNX -----------------------------------------------------------------------------------


@onnx_import(
    "Pad",
    ops=("constant_pad2d", "reflection_pad2d", "replication_pad2d", "circular_pad2d"),
    form="4-D input; constant `pads` (and `axes`; a folded computation counts, such as the "
    "TorchScript exporter's for `F.pad`), non-negative, on H and W only; `mode` "
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
    doc="`Concat(Slice(x, h - top, h), x, Slice(x, 0, bottom))` on H, then the same on W (only "
    "the padded axes; opset 17 has no `Pad` mode wrap), the last `Concat` named after the node; "
    "the reader maps it back (fused pattern `circular_pad2d`)",
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
        last = i == len(active) - 1
        out = node.outputs[0] if last else e.fresh(f"{node.name}_{tag}")
        parts = []
        if before:
            parts.append(_slice(e, node, current, axis, size - before, size, f"{tag}_before"))
        parts.append(current)
        if after:
            parts.append(_slice(e, node, current, axis, 0, after, f"{tag}_after"))
        name = node.name if last else e.fresh(f"{node.name}_{tag}_concat")
        e.add("Concat", parts, [out], name, axis=axis)
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


def emit_chain(
    im: Importer,
    steps: tuple[Lowered, ...],
    x: Runtime,
    *,
    prefix: str,
    node: str,
    output: str | None = None,
) -> Runtime:
    """Emit ``steps`` one after the other from ``x``. Each step writes ``<prefix>.<tag>`` (tag
    ``pad`` for a pad op, else the op name) from a node ``<node>_<tag>``, except that with
    ``output`` the last step writes that ONNX value under the ONNX node's own name. Returns the
    last value."""
    for i, step in enumerate(steps):
        tag = "pad" if str(step.op).endswith("_pad2d") else str(step.op)
        final = output is not None and i == len(steps) - 1
        value = output if final else f"{prefix}.{tag}"
        while not final and value in im.env:
            value += "_"
        im.emit(
            str(step.op),
            [x],
            value,
            attrs=dict(step.attrs),
            node_name=None if final else f"{node}_{tag}",
        )
        x = im.runtime(value)
    return x


# --- fused ONNX pattern: circular padding written as Slice + Concat --------------------------


@dataclass(frozen=True)
class _WrapStep:
    """One axis of a circular pad: ``Concat([Slice(y)?, y, Slice(y)?], axis)``; ``before`` and
    ``after`` are the (start, end) of the Slice before / after ``y`` (None: no Slice there).
    Axes are as written (negative or not); they are resolved against the value's rank when the
    pattern is read: H or W of an (N, C, H, W) value, L of an (N, C, L) one."""

    axis: int  # the Concat's axis
    source: str  # y
    before: tuple[int, int] | None
    after: tuple[int, int] | None
    slices: tuple[NodeProto, ...]
    slice_axes: tuple[int, ...]  # each Slice's axis


def _one_int(view: PatternView, name: str) -> int | None:
    array = view.const(name)
    if array is None or array.size != 1 or not np.issubdtype(array.dtype, np.integer):
        return None
    return int(array.reshape(-1)[0])


def _slice_bounds(view: PatternView, node: NodeProto, y: str) -> tuple[int, int, int] | None:
    """(start, end, axis) of ``node``, a Slice of ``y`` along one axis with step 1 and constant
    one-element starts, ends and axes; else None."""
    inputs = list(node.input) + [""] * (5 - len(node.input))
    if node.input[0] != y or not inputs[3]:
        return None
    start, end, axes = (_one_int(view, name) for name in inputs[1:4])
    step = _one_int(view, inputs[4]) if inputs[4] else 1
    if start is None or end is None or axes is None or step != 1 or not -4 <= axes < 4:
        return None
    return start, end, axes


def _slice_of(
    view: PatternView, value: str, y: str
) -> tuple[NodeProto, tuple[int, int], int] | None:
    """The Slice of ``y`` producing ``value`` (used only there), its bounds and axis."""
    node = view.inner(value, "Slice")
    found = _slice_bounds(view, node, y) if node is not None else None
    return None if node is None or found is None else (node, found[:2], found[2])


def _wrap_step(view: PatternView, concat: NodeProto) -> _WrapStep | None:
    """``concat`` as one axis of a circular pad (bounds checked later, against the shape)."""
    axes = [a.i for a in concat.attribute if a.name == "axis"]
    inputs = list(concat.input)
    if len(axes) != 1 or axes[0] not in (-2, -1, 2, 3) or not 1 <= len(inputs) <= 3:
        return None
    axis = axes[0]
    for mid, y in enumerate(inputs):
        before, after = inputs[:mid], inputs[mid + 1 :]
        if not y or len(before) > 1 or len(after) > 1:
            continue
        head = _slice_of(view, before[0], y) if before else None
        tail = _slice_of(view, after[0], y) if after else None
        if (before and head is None) or (after and tail is None):
            continue
        found = [f for f in (head, tail) if f]
        return _WrapStep(
            axis,
            y,
            head[1] if head else None,
            tail[1] if tail else None,
            tuple(f[0] for f in found),
            tuple(f[2] for f in found),
        )
    return None


def _clamped(bound: int, size: int) -> int:
    """An ONNX Slice bound (step 1) on an axis of ``size``: negative counts from the end, then
    clamped to [0, size]."""
    return min(max(bound + size if bound < 0 else bound, 0), size)


def _wrap_pads(im: Importer, step: _WrapStep, size: int) -> tuple[int, int]:
    """The (before, after) pad of ``step`` on an axis of ``size``: the Slice before ``y`` must be
    the last rows of the axis, the one after it the first rows."""
    pads = [0, 0]
    for i, (bounds, what) in enumerate(((step.before, "before"), (step.after, "after"))):
        if bounds is None:
            continue
        start, end = (_clamped(b, size) for b in bounds)
        exact = end == size and start < size if what == "before" else start == 0 and end > 0
        if not exact:
            raise im.fail(
                f"the Slice {what} the value on axis {step.axis} takes [{start}, {end}) of "
                f"{size}: not the wrap-around of a circular pad"
            )
        pads[i] = end - start
    return pads[0], pads[1]


@onnx_pattern(
    "circular_pad2d",
    anchors=("Concat",),
    ops=("circular_pad2d",),
    shown="`Concat(Slice(x, -top, end), x, Slice(x, 0, bottom))` on H and / or W (L)",
    form="per padded axis a Concat of `y`, the Slice of its last rows before it and the Slice of "
    "its first rows after it (either Slice absent for a zero pad), on axis H or W of an "
    "(N, C, H, W) value, or L of an (N, C, L) one (then unsqueeze, circular_pad2d on W, "
    "squeeze), negative axes too; starts, ends and axes constant, one axis, steps absent or 1; "
    "two such Concats on different axes, in either order, the inner one used only by the outer "
    "one and its Slices, are one op; a single-input Concat is a zero pad on its axis (torch's "
    "TorchScript exporter writes one), but at least one Slice is needed",
)
def _circular_pad_pattern(view: PatternView, anchor: NodeProto) -> PatternMatch | None:
    outer = _wrap_step(view, anchor)
    if outer is None:
        return None
    steps, nodes = [outer], list(outer.slices)
    inner_node = view.producer.get(outer.source)
    if (
        inner_node is not None
        and inner_node.op_type == "Concat"
        and inner_node.domain in ("", "ai.onnx")
        and view.consumers.get(outer.source, 0) == 1 + len(outer.slices)
    ):
        inner = _wrap_step(view, inner_node)
        if inner is not None and inner.axis % 4 != outer.axis % 4:
            steps.insert(0, inner)
            nodes += [inner_node, *inner.slices]
    if not any(step.slices for step in steps):
        return None
    x = steps[0].source

    def finish(im: Importer, last: NodeProto) -> None:
        xv = im.runtime(x)
        rank = len(xv.shape) + 1
        paddable = (2, 3) if rank == 4 else (2,) if rank == 3 else ()
        pads = {2: (0, 0), 3: (0, 0)}
        for step in steps:
            axis = step.axis % rank
            if axis not in paddable or any(a % rank != axis for a in step.slice_axes):
                raise im.fail(
                    f"Concat/Slice on axis {step.axis} of a rank-{rank} value: not a circular "
                    "pad of H or W (or of L of a sequence)"
                )
            pads[axis] = _wrap_pads(im, step, xv.shape[axis - 1])
        op = "circular_pad2d"
        if rank == 4:
            im.emit(op, [xv], last.output[0], attrs=pad_attrs(op, *pads[2], *pads[3]))
        else:
            if len(steps) != 1:
                raise im.fail("two circular pads on the one axis L of a sequence")
            out = last.output[0]
            name = last.name or "Concat"
            emit_chain(im, pad1d_steps(op, *pads[2]), xv, prefix=out, node=name, output=out)

    return PatternMatch(tuple(nodes), (x,), finish)
