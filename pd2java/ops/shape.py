"""Structure ops: flatten, concat, squeeze, unsqueeze. Torch lowerings (nn.Flatten,
torch.flatten(x, d), x.view(x.size(0), -1), torch.cat, x.squeeze(d), x.unsqueeze(d)), shape rules,
NumPy kernels and ONNX mappings (Flatten, Reshape, Concat, Squeeze, Unsqueeze).

Every ``dim`` here is counted with the batch axis, as in PyTorch, and must name a per-sample
axis (>= 1): torch's negative dims are normalised at capture. ``flatten@1`` merges every axis
but the batch one; ``flatten@2`` merges ``start_dim``..last, and lowerings write ``flatten@1``
when ``start_dim`` is 1, so existing exports stay byte-identical. ONNX's ``Flatten`` always makes
a 2-D tensor, so ``flatten@2`` is exported as a ``Reshape`` to a constant ``[0, d1, ..., -1]``
(the batch copied, the kept dims explicit, the merged ones -1)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from math import prod
from typing import TYPE_CHECKING

import numpy as np

from pd2java.errors import ErrorCode
from pd2java.ops import onnx_conventions
from pd2java.ops.frontend_registry import onnx_export, onnx_import, torch_function, torch_module
from pd2java.ops.lowering import (
    BATCH,
    PREVIOUS,
    Call,
    Lowered,
    LoweredSeq,
    Unsupported,
    Value,
    as_tensor,
    is_runtime,
)
from pd2java.ops.onnx_conventions import Const
from pd2java.ops.registry import Attrs, Shape, ShapeError, register

if TYPE_CHECKING:
    from onnx import NodeProto

    from pd2java.backends.onnx import Emitter
    from pd2java.frontends.onnx import Importer
    from pd2java.ir import Node


def lower_flatten_call(start_dim: int = 0, end_dim: int = -1, *, rank: int) -> Lowered:
    """flatten@1 for start_dim 1 (all but the batch axis), flatten@2 for a later start_dim;
    end_dim must be the last axis and the batch axis is never merged."""
    start = start_dim + rank if start_dim < 0 else start_dim
    end = end_dim + rank if end_dim < 0 else end_dim
    if start < 1 or start >= rank or end != rank - 1:
        raise Unsupported(
            f"flatten(start_dim={start_dim}, end_dim={end_dim}) of a rank-{rank} tensor "
            "(only flattening from a per-sample axis, start_dim >= 1, to the last one, "
            "end_dim=-1, is supported)"
        )
    if start == 1:
        return Lowered("flatten", version=1)
    return Lowered("flatten", {"start_dim": start}, version=2)


@torch_module("torch.nn.Flatten", ops=("flatten",), shown="Flatten()")
def _flatten_module(mod: object, x: Value) -> Lowered:
    return lower_flatten_call(mod.start_dim, mod.end_dim, rank=x.rank)


@torch_function(
    "torch.flatten",
    methods=("flatten",),
    ops=("flatten",),
    shown={"torch.flatten": "torch.flatten(x, d)", "flatten": "x.flatten(d)"},
    note="end_dim=-1; start_dim >= 1",
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
            return Lowered("flatten", version=1)
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
    im.emit("flatten", [x], node.output[0], version=1)


@onnx_import(
    "Reshape",
    ops=("flatten",),
    form="constant target `[0, -1]`, `[N, -1]` (N from a folded `Shape`), `[-1, K]`, "
    "`[N or 0, K]`, and `[1, -1]` when the batch is fixed at 1; `[N or 0, d1, ..., dk, -1]` "
    "keeping the leading dims (flatten@2); folded when the data is a constant too (the "
    "TorchScript exporter's computation of `F.pad`'s pads)",
)
def _reshape_from_onnx(im: Importer, node: NodeProto) -> None:
    if isinstance(im.get(node.input[0]), Const):
        _fold_reshape(im, node)
        return
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
            or first == im.fixed_batch
            or (first == -1 and second == size)
        )
        ok = batch_ok and second in (-1, size)
    elif 3 <= len(target) <= len(x.shape) + 1:
        first, kept, last = target[0], target[1:-1], target[-1]
        batch_ok = (
            first is onnx_conventions.BATCH
            or (first == 0 and not allowzero)
            or first == im.fixed_batch
        )
        merged = prod(x.shape[len(kept) :])
        if batch_ok and kept == list(x.shape[: len(kept)]) and last in (-1, merged):
            start = len(kept) + 1  # flatten from this axis, counted with the batch axis
            im.emit("flatten", [x], node.output[0], attrs={"start_dim": start}, version=2)
            return
    if not ok:
        raise im.fail(
            f"Reshape to {target} is not supported; pd2java supports flattening each sample: a "
            f"constant shape [N, -1], [0, -1] or [-1, {size}] (allowzero=0 for 0)"
            + (
                f"; [{im.fixed_batch}, ...] names the fixed batch"
                if im.fixed_batch is not None
                else "; a leading constant only when the input's batch size is fixed"
            )
        )
    im.emit("flatten", [x], node.output[0], version=1)


def _fold_reshape(im: Importer, node: NodeProto) -> None:
    """A Reshape of a constant to a constant target, by ONNX's rules: 0 copies the input's
    dimension (unless ``allowzero``), one -1 is inferred."""
    data = im.const(node.input[0], "data").array
    target = im.const(node.input[1], "shape").array.reshape(-1).tolist()
    allowzero = int(im.attrs(node).get("allowzero", 0))
    if not all(isinstance(d, int) for d in target):
        raise im.fail(f"Reshape of a constant to {target}, which holds the batch size")
    dims = [
        data.shape[i] if d == 0 and not allowzero and i < data.ndim else d
        for i, d in enumerate(target)
    ]
    if dims.count(-1) > 1 or min(dims, default=0) < -1:
        raise im.fail(f"Reshape of a constant to {target}: not a valid ONNX shape")
    try:
        folded = data.reshape(dims)
    except ValueError:
        raise im.fail(
            f"Reshape of a constant of shape {list(data.shape)} to {target}: sizes differ"
        ) from None
    im.env[node.output[0]] = Const(folded, node.output[0])


@onnx_export("flatten", 1, doc="`Flatten(axis=1)`")
def _flatten_to_onnx(e: Emitter, node: Node) -> None:
    e.add("Flatten", node.inputs, node.outputs, node.name, axis=1)


# --- flatten@2, concat, squeeze, unsqueeze: shape rules and NumPy kernels --------------------


def _axis(op: str, attrs: Attrs, name: str, rank: int) -> int:
    """Attribute ``name``, an axis counted with the batch axis, checked to be within 1..rank."""
    value = attrs[name]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= rank:
        raise ShapeError(
            f"{op}: {name}={value!r} is not a per-sample axis of a batched rank-{rank + 0} "
            f"value (allowed: 1..{rank}; the batch axis 0 and negative dims are refused)",
            ErrorCode.INVALID_ATTRIBUTE,
        )
    return value


def _flatten2_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    start = _axis("flatten@2", attrs, "start_dim", len(shape))
    return (*shape[: start - 1], prod(shape[start - 1 :]))


@register("flatten", 2, infer=_flatten2_infer)
def flatten2_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    x = np.ascontiguousarray(inputs[0])
    start = int(attrs["start_dim"])  # type: ignore[call-overload]
    return x.reshape(*x.shape[:start], -1)


def _concat_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    a, b = shapes
    dim = _axis("concat", attrs, "dim", len(a))
    if len(a) != len(b):
        raise ShapeError(
            f"concat needs inputs of the same rank, got per-sample shapes {list(a)} and {list(b)}"
        )
    rest_a = a[: dim - 1] + a[dim:]
    rest_b = b[: dim - 1] + b[dim:]
    if rest_a != rest_b:
        raise ShapeError(
            f"concat along dim {dim}: per-sample shapes {list(a)} and {list(b)} differ in "
            "another dim (every dim but dim must be equal)"
        )
    return (*a[: dim - 1], a[dim - 1] + b[dim - 1], *a[dim:])


@register("concat", 1, infer=_concat_infer)
def concat_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    dim = int(attrs["dim"])  # type: ignore[call-overload]
    return np.concatenate([np.asarray(v, dtype=np.float32) for v in inputs], axis=dim)


def _squeeze_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    dim = _axis("squeeze", attrs, "dim", len(shape))
    if shape[dim - 1] != 1:
        raise ShapeError(
            f"squeeze of dim {dim} of per-sample shape {list(shape)}: that dim has size "
            f"{shape[dim - 1]}, not 1"
        )
    if len(shape) == 1:
        raise ShapeError(
            f"squeeze of dim {dim} of per-sample shape {list(shape)} would leave no per-sample axis"
        )
    return (*shape[: dim - 1], *shape[dim:])


@register("squeeze", 1, infer=_squeeze_infer)
def squeeze_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    return np.squeeze(inputs[0], axis=int(attrs["dim"]))  # type: ignore[call-overload]


def _unsqueeze_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    dim = _axis("unsqueeze", attrs, "dim", len(shape) + 1)
    return (*shape[: dim - 1], 1, *shape[dim - 1 :])


@register("unsqueeze", 1, infer=_unsqueeze_infer)
def unsqueeze_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    return np.expand_dims(inputs[0], int(attrs["dim"]))  # type: ignore[call-overload]


# --- torch: cat, squeeze, unsqueeze ----------------------------------------------------------


def _dim(value: object, rank: int, what: str) -> int:
    """A torch dim (negative counts from the end) as an axis 1..rank - 1 of a rank-``rank``
    tensor, batch axis included."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unsupported(f"{what} dim={value!r} (one constant int dim is supported)")
    dim = value + rank if value < 0 else value
    if not 1 <= dim < rank:
        raise Unsupported(
            f"{what} dim={value} of a rank-{rank} tensor (only a per-sample axis, not the batch "
            "axis 0, is supported)"
        )
    return dim


@torch_function(
    "torch.cat",
    "torch.concat",
    ops=("concat",),
    shown={"torch.cat": "torch.cat([a, b, ...], d)", "torch.concat": "torch.concat([a, b], d)"},
    note="two or more tensors of equal rank; a chain of two-input concats, left to right",
    aliases=("torch.concatenate",),
)
def _cat_call(call: Call) -> Lowered | LoweredSeq:
    args = list(call.args)
    kwargs = dict(call.kwargs)
    if "tensors" in kwargs:
        args.insert(0, kwargs.pop("tensors"))
    if "axis" in kwargs:
        kwargs["dim"] = kwargs.pop("axis")
    b = Call(tuple(args), kwargs).bind(["dim"], {"dim": 0}, ignored=("out",))
    if kwargs.get("out") is not None or not args or not isinstance(args[0], (list, tuple)):
        raise Unsupported("torch.cat needs a list or tuple of tensors (and no out=)")
    parts = [as_tensor(v) for v in args[0]]
    if len(parts) < 2:
        raise Unsupported(f"torch.cat of {len(parts)} tensor(s) (two or more are supported)")
    dim = _dim(b["dim"], parts[0].rank, "torch.cat")
    attrs = {"dim": dim}
    steps = [Lowered("concat", attrs, inputs=(parts[0], parts[1]))]
    steps += [Lowered("concat", attrs, inputs=(PREVIOUS, p)) for p in parts[2:]]
    return steps[0] if len(steps) == 1 else LoweredSeq(tuple(steps))


@torch_function(
    "torch.squeeze",
    methods=("squeeze",),
    ops=("squeeze",),
    shown={"torch.squeeze": "torch.squeeze(x, d)", "squeeze": "x.squeeze(d)"},
    note="one explicit dim, of size 1",
)
def _squeeze_call(call: Call) -> Lowered:
    x = call.tensor(0)
    b = call.bind(["dim"], {"dim": None})
    if b["dim"] is None:
        raise Unsupported(
            "squeeze without a dim (it would also drop the batch axis when the batch is 1); "
            "name the dim, e.g. x.squeeze(1)"
        )
    return Lowered("squeeze", {"dim": _dim(b["dim"], x.rank, "squeeze")})


@torch_function(
    "torch.unsqueeze",
    methods=("unsqueeze",),
    ops=("unsqueeze",),
    shown={"torch.unsqueeze": "torch.unsqueeze(x, d)", "unsqueeze": "x.unsqueeze(d)"},
    note="d >= 1 (or negative)",
)
def _unsqueeze_call(call: Call) -> Lowered:
    x = call.tensor(0)
    b = call.bind(["dim"], {})
    return Lowered("unsqueeze", {"dim": _dim(b["dim"], x.rank + 1, "unsqueeze")})


# --- ONNX: Concat, Squeeze, Unsqueeze --------------------------------------------------------

_FOLDED = " (folded when every data input is a constant: a shape computation)"


@onnx_import(
    "Concat",
    ops=("concat",),
    form="two or more computed inputs on a non-batch `axis`: a chain of two-input concats"
    + _FOLDED,
)
def _concat_from_onnx(im: Importer, node: NodeProto) -> None:
    values = [im.get(name) for name in node.input]
    if all(isinstance(v, Const) for v in values):
        im.fold(node)
        return
    parts = [im.runtime(name) for name in node.input]
    if len(parts) < 2:
        raise im.fail("a Concat of one computed input is not supported")
    rank = len(parts[0].shape) + 1
    axis = int(im.attrs(node)["axis"])
    axis = axis + rank if axis < 0 else axis
    if not 1 <= axis < rank:
        raise im.fail(f"Concat(axis={axis}) joins along the batch axis; only per-sample axes")
    value = parts[0]
    for i, part in enumerate(parts[1:], start=1):
        last = i == len(parts) - 1
        out = node.output[0] if last else f"{node.output[0]}__concat_{i}"
        name = None if last else f"{node.name or node.output[0]}_{i}"
        im.emit("concat", [value, part], out, attrs={"dim": axis}, node_name=name)
        value = im.runtime(out)


def _onnx_axes(im: Importer, node: NodeProto) -> list[int]:
    if len(node.input) < 2 or not node.input[1]:
        raise im.fail(
            f"{node.op_type} without axes is not supported (it would also drop the batch axis "
            "when the batch is 1); give the axes as a constant input (opset 13+)"
        )
    return [int(a) for a in im.const(node.input[1], "axes").array.reshape(-1)]


def _chain(im: Importer, node: NodeProto, op: str, dims: list[int]) -> None:
    value = im.runtime(node.input[0])
    for i, dim in enumerate(dims):
        last = i == len(dims) - 1
        out = node.output[0] if last else f"{node.output[0]}__{op}_{i}"
        name = None if last else f"{node.name or node.output[0]}_{i}"
        im.emit(op, [value], out, attrs={"dim": dim}, node_name=name)
        value = im.runtime(out)


@onnx_import(
    "Squeeze",
    ops=("squeeze",),
    form="constant non-batch `axes` (one squeeze per axis)" + _FOLDED,
)
def _squeeze_from_onnx(im: Importer, node: NodeProto) -> None:
    if isinstance(im.get(node.input[0]), Const):
        im.fold(node)
        return
    rank = len(im.runtime(node.input[0]).shape) + 1
    axes = sorted({a + rank if a < 0 else a for a in _onnx_axes(im, node)}, reverse=True)
    if not axes or axes[-1] < 1:
        raise im.fail(f"Squeeze of axes {axes}: only per-sample axes (not the batch axis 0)")
    _chain(im, node, "squeeze", axes)


@onnx_import(
    "Unsqueeze",
    ops=("unsqueeze",),
    form="constant non-batch `axes` (one unsqueeze per axis)" + _FOLDED,
)
def _unsqueeze_from_onnx(im: Importer, node: NodeProto) -> None:
    if isinstance(im.get(node.input[0]), Const):
        im.fold(node)
        return
    axes_in = _onnx_axes(im, node)
    rank = len(im.runtime(node.input[0]).shape) + 1 + len(axes_in)
    axes = sorted({a + rank if a < 0 else a for a in axes_in})
    if not axes or axes[0] < 1:
        raise im.fail(f"Unsqueeze at axes {axes}: only per-sample axes (not the batch axis 0)")
    _chain(im, node, "unsqueeze", axes)


@onnx_export("concat", 1, doc="`Concat(axis=dim)`")
def _concat_to_onnx(e: Emitter, node: Node) -> None:
    e.add("Concat", node.inputs, node.outputs, node.name, axis=int(node.attrs["dim"]))


def _axes_to_onnx(onnx_op: str) -> Callable[[Emitter, Node], None]:
    def emit(e: Emitter, node: Node) -> None:
        dim = int(node.attrs["dim"])  # type: ignore[call-overload]
        axes = e.constant(f"axes_{dim}", np.array([dim], dtype=np.int64))
        e.add(onnx_op, [node.inputs[0], axes], node.outputs, node.name)

    return emit


onnx_export("squeeze", 1, doc="`Squeeze` with constant `axes` `[dim]`")(_axes_to_onnx("Squeeze"))
onnx_export("unsqueeze", 1, doc="`Unsqueeze` with constant `axes` `[dim]`")(
    _axes_to_onnx("Unsqueeze")
)


@onnx_export(
    "flatten",
    2,
    doc="`Reshape` to a constant `[0, d1, ..., d(start_dim - 1), -1]` (ONNX `Flatten` always "
    "makes 2-D)",
)
def _flatten2_to_onnx(e: Emitter, node: Node) -> None:
    target = np.array([0, *node.output_shape[:-1], -1], dtype=np.int64)
    shape = e.constant(f"{node.name}_shape", target)
    e.add("Reshape", [node.inputs[0], shape], node.outputs, node.name)
