"""Structure ops: flatten, reshape, concat, squeeze, unsqueeze. Torch lowerings (nn.Flatten,
torch.flatten(x, d), x.view / x.reshape / torch.reshape, nn.Unflatten / x.unflatten, torch.cat,
x.squeeze(d), x.unsqueeze(d)), shape rules, NumPy kernels and ONNX mappings (Flatten, Reshape,
Concat, Squeeze, Unsqueeze).

Every ``dim`` here is counted with the batch axis, as in PyTorch, and must name a per-sample
axis (>= 1): torch's negative dims are normalised at capture. ``flatten@1`` merges every axis
but the batch one; ``flatten@2`` merges ``start_dim``..last, and lowerings write ``flatten@1``
when ``start_dim`` is 1, so existing exports stay byte-identical. ONNX's ``Flatten`` always makes
a 2-D tensor, so ``flatten@2`` is exported as a ``Reshape`` to a constant ``[0, d1, ..., -1]``
(the batch copied, the kept dims explicit, the merged ones -1).

``reshape@1`` gives each sample any shape of the same element count (values unchanged,
row-major). Every writer goes through :func:`lower_reshape`, which keeps flatten@1 and flatten@2
where they express the reshape, so models that exported before reshape@1 existed export the same
ops; a torch or ONNX target is first resolved to an explicit per-sample shape by
:func:`resolve_per_sample` (one -1 inferred), its batch entry checked by the front end's rules."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from math import prod
from typing import TYPE_CHECKING

import numpy as np

from pd2java.errors import ErrorCode
from pd2java.format_rules import MAX_INTS_LENGTH
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


class TargetRefused(ValueError):
    """A reshape target pd2java cannot write; the message says why (no front-end prefix)."""


def resolve_per_sample(
    shape: Shape, entries: Sequence[object], *, zero_copies: bool = False
) -> Shape:
    """The per-sample target ``entries`` (no batch entry) as an explicit shape for a per-sample
    value of ``shape``: at most one -1, inferred from the element count; with ``zero_copies``
    (ONNX's ``allowzero=0``) a 0 copies the input's dim at that position. TargetRefused when an
    entry is not a constant int, is 0 or < -1, or the element counts cannot agree."""
    numel = prod(shape)
    dims: list[int] = []
    for i, d in enumerate(entries):
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise TargetRefused(
                f"per-sample entry {i} is {d!r}, not a constant int (only the first, batch, "
                "entry may be known at run time only)"
            )
        d = int(d)
        if d == 0 and zero_copies:
            if i >= len(shape):
                raise TargetRefused(
                    f"per-sample entry {i} is 0 (copy the input's dim) but the input has only "
                    f"{len(shape)} per-sample dims"
                )
            d = shape[i]
        if d == 0 or d < -1:
            raise TargetRefused(f"per-sample entry {i} is {d}; each must be >= 1 or one -1")
        dims.append(d)
    if not dims:
        raise TargetRefused("no per-sample entry: the result would have no per-sample axis")
    if dims.count(-1) > 1:
        raise TargetRefused("more than one per-sample -1")
    known = prod(d for d in dims if d != -1)
    if -1 in dims:
        if numel % known:
            raise TargetRefused(
                f"the known per-sample entries multiply to {known}, which does not divide the "
                f"{numel} elements of a sample of shape {list(shape)}"
            )
        dims[dims.index(-1)] = numel // known
    elif known != numel:
        raise TargetRefused(
            f"the per-sample entries multiply to {known}, not the {numel} elements of a sample "
            f"of shape {list(shape)}: the reshape would move elements across the batch axis"
        )
    return tuple(dims)


def lower_reshape(shape: Shape, target: Shape) -> Lowered:
    """The op that reshapes a per-sample value of ``shape`` to ``target`` (explicit, same element
    count): flatten@1 to 1-D, flatten@2 when ``target`` keeps the input's leading dims and merges
    the rest into its last one, reshape@1 otherwise. TargetRefused when reshape@1 would need more
    than MAX_INTS_LENGTH dims."""
    target = tuple(int(d) for d in target)
    if len(target) == 1:
        return Lowered("flatten", version=1)
    if len(target) <= len(shape) and target[:-1] == tuple(shape[: len(target) - 1]):
        return Lowered("flatten", {"start_dim": len(target)}, version=2)
    if len(target) > MAX_INTS_LENGTH:
        raise TargetRefused(
            f"{len(target)} per-sample dims; reshape@1 writes at most {MAX_INTS_LENGTH}"
        )
    return Lowered("reshape", {"shape": target}, version=1)


def lower_flatten_call(start_dim: int = 0, end_dim: int = -1, *, shape: Shape) -> Lowered:
    """Merge axes start_dim..end_dim (counted with the batch axis, which is never merged):
    flatten@1 for start_dim 1 to the last axis, flatten@2 for a later start_dim, reshape@1 when
    end_dim is not the last axis."""
    rank = len(shape) + 1
    start = start_dim + rank if start_dim < 0 else start_dim
    end = end_dim + rank if end_dim < 0 else end_dim
    if not 1 <= start <= end < rank:
        raise Unsupported(
            f"flatten(start_dim={start_dim}, end_dim={end_dim}) of a rank-{rank} tensor "
            "(only flattening per-sample axes, 1 <= start_dim <= end_dim, is supported; the "
            "batch axis 0 is never merged)"
        )
    merged = prod(shape[start - 1 : end])
    try:
        return lower_reshape(shape, (*shape[: start - 1], merged, *shape[end:]))
    except TargetRefused as exc:
        raise Unsupported(f"flatten(start_dim={start_dim}, end_dim={end_dim}): {exc}") from None


@torch_module("torch.nn.Flatten", ops=("flatten", "reshape"), shown="Flatten()")
def _flatten_module(mod: object, x: Value) -> Lowered:
    return lower_flatten_call(mod.start_dim, mod.end_dim, shape=x.shape)


@torch_function(
    "torch.flatten",
    methods=("flatten",),
    ops=("flatten", "reshape"),
    shown={"torch.flatten": "torch.flatten(x, d)", "flatten": "x.flatten(d)"},
    note="start_dim >= 1; end_dim other than -1 writes reshape@1",
)
def _flatten_call(call: Call) -> Lowered:
    x = call.tensor(0)
    b = call.bind(["start_dim", "end_dim"], {"start_dim": 0, "end_dim": -1})
    return lower_flatten_call(b["start_dim"], b["end_dim"], shape=x.shape)


def _shown_dims(dims: Sequence[object]) -> list[object]:
    return ["x.size(0)" if d is BATCH else "<run-time>" if is_runtime(d) else d for d in dims]


@torch_function(
    "torch.reshape",
    methods=("view", "reshape"),
    ops=("flatten", "reshape"),
    shown={
        "torch.reshape": "torch.reshape(x, (x.size(0), ...))",
        "view": "x.view(x.size(0), ...)",
        "reshape": "x.reshape(x.shape[0], ...)",
    },
    note="batch entry x.size(0), x.shape[0], or -1 with every other entry given; at most one "
    "per-sample -1; a target a flatten expresses writes flatten@1 or @2",
)
def _reshape_call(call: Call) -> Lowered:
    x = call.tensor(0)
    dims = list(call.args[1:])
    if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
        dims = list(dims[0])
    if "shape" in call.kwargs or "size" in call.kwargs:
        dims = list(call.kwargs.get("shape", call.kwargs.get("size")))
    shown = _shown_dims(dims)
    try:
        if not dims:
            raise TargetRefused("no entries")
        first, rest = dims[0], dims[1:]
        if first is not BATCH:
            if isinstance(first, bool) or not isinstance(first, int) or is_runtime(first):
                raise TargetRefused(
                    f"the batch entry is {shown[0]!r}; write x.size(0), x.shape[0] or -1"
                )
            if first != -1:
                raise TargetRefused(
                    f"a constant batch size {first}: the batch size is known only at run time; "
                    "write x.size(0), x.shape[0] or -1"
                )
            if -1 in rest:
                raise TargetRefused(
                    "-1 as the batch entry needs every per-sample entry given, but another entry "
                    "is -1 too; write the batch as x.size(0)"
                )
        return lower_reshape(x.shape, resolve_per_sample(x.shape, rest))
    except TargetRefused as exc:
        raise Unsupported(
            f"reshape to {shown} of a tensor with per-sample shape {list(x.shape)}: {exc}"
        ) from None


def _unflatten(shape: Shape, dim: object, sizes: object) -> Lowered:
    rank = len(shape) + 1
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise Unsupported(f"unflatten dim={dim!r} (one constant int dim is supported)")
    d = dim + rank if dim < 0 else dim
    if not 1 <= d < rank:
        raise Unsupported(
            f"unflatten dim={dim} of a rank-{rank} tensor (only a per-sample axis, not the batch "
            "axis 0, is supported)"
        )
    if not isinstance(sizes, (list, tuple)) or is_runtime(sizes):
        raise Unsupported(f"unflatten sizes {sizes!r} (a constant list of ints is supported)")
    try:
        split = resolve_per_sample((shape[d - 1],), list(sizes))
    except TargetRefused as exc:
        raise Unsupported(
            f"unflatten of dim {d} (size {shape[d - 1]}) to {list(sizes)}: {exc}"
        ) from None
    target = (*shape[: d - 1], *split, *shape[d:])
    if len(target) > MAX_INTS_LENGTH:
        raise Unsupported(
            f"unflatten to {len(target)} per-sample dims; reshape@1 writes at most "
            f"{MAX_INTS_LENGTH}"
        )
    # Always reshape@1 (never a flatten, even for a no-op split): unflatten adds axes.
    return Lowered("reshape", {"shape": target}, version=1)


@torch_module("torch.nn.Unflatten", ops=("reshape",), shown="Unflatten(d, sizes)")
def _unflatten_module(mod: object, x: Value) -> Lowered:
    return _unflatten(x.shape, mod.dim, tuple(mod.unflattened_size))


@torch_function(
    "torch.unflatten",
    methods=("unflatten",),
    ops=("reshape",),
    shown={"torch.unflatten": "torch.unflatten(x, d, sizes)", "unflatten": "x.unflatten(d, sizes)"},
    note="d >= 1 (or negative); at most one -1 among the sizes",
)
def _unflatten_call(call: Call) -> Lowered:
    x = call.tensor(0)
    b = call.bind(["dim", "sizes"], {})
    return _unflatten(x.shape, b["dim"], b["sizes"])


def _flatten_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    return (prod(shape),)


@register("flatten", 1, infer=_flatten_infer)
def flatten_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    x = inputs[0]
    return np.ascontiguousarray(x).reshape(x.shape[0], -1)


def _reshape_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    (shape,) = shapes
    target = attrs["shape"]
    if not isinstance(target, (list, tuple)) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in target
    ):
        raise ShapeError(
            f"reshape: shape={target!r} is not a list of ints", ErrorCode.INVALID_ATTRIBUTE
        )
    if not target or min(target) < 1:
        raise ShapeError(
            f"reshape: shape={list(target)} has an entry < 1; every per-sample dim must be >= 1 "
            "(writers resolve -1 and write no batch entry)",
            ErrorCode.INVALID_ATTRIBUTE,
        )
    if prod(target) != prod(shape):
        raise ShapeError(
            f"reshape of per-sample shape {list(shape)} ({prod(shape)} elements) to "
            f"{list(target)} ({prod(target)} elements): the element counts differ"
        )
    return tuple(int(d) for d in target)


@register("reshape", 1, infer=_reshape_infer)
def reshape_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    x = np.ascontiguousarray(inputs[0])
    return x.reshape(x.shape[0], *attrs["shape"])  # type: ignore[misc]


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
    ops=("flatten", "reshape"),
    form="a constant target (folded from `Shape` arithmetic too) whose first entry is the batch: "
    "0 (allowzero=0), N from a folded `Shape`, the fixed batch size when the input fixes it, or "
    "-1 when every other entry is given; the rest any per-sample shape of the same element "
    "count, with at most one -1 and 0 copying the input's dim. Written as flatten@1 (to 1-D), "
    "flatten@2 (keeping the leading dims) or reshape@1. Folded when the data is a constant too "
    "(the TorchScript exporter's computation of `F.pad`'s pads)",
)
def _reshape_from_onnx(im: Importer, node: NodeProto) -> None:
    if isinstance(im.get(node.input[0]), Const):
        _fold_reshape(im, node)
        return
    x = im.runtime(node.input[0])
    target = im.const(node.input[1], "shape").array.reshape(-1).tolist()
    allowzero = int(im.attrs(node).get("allowzero", 0))
    try:
        if not target:
            raise TargetRefused("an empty target has no batch entry")
        first, rest = target[0], target[1:]
        batch = (
            first is onnx_conventions.BATCH
            or (first == 0 and not allowzero)
            or (im.fixed_batch is not None and first == im.fixed_batch)
        )
        if not batch:
            if first != -1:
                fixed = (
                    f"; the input's batch size is fixed at {im.fixed_batch}"
                    if im.fixed_batch is not None
                    else "; a leading constant only when the input's batch size is fixed"
                )
                raise TargetRefused(
                    f"the first entry {first!r} is not the batch (0 with allowzero=0, N from a "
                    f"folded Shape, or -1 with every other entry given){fixed}"
                )
            if -1 in rest:
                raise TargetRefused(
                    "-1 as the batch entry needs every other entry given, but another is -1 too"
                )
        lowered = lower_reshape(
            x.shape, resolve_per_sample(x.shape, rest, zero_copies=not allowzero)
        )
    except TargetRefused as exc:
        raise im.fail(
            f"Reshape to {target} is not supported: {exc}. pd2java reshapes each sample: a "
            "constant target whose first entry is the batch and whose rest is a per-sample shape "
            "of the same element count"
        ) from None
    im.emit(
        lowered.op,  # type: ignore[arg-type]
        [x],
        node.output[0],
        attrs=dict(lowered.attrs),
        version=lowered.version,
    )


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


@onnx_export(
    "reshape",
    1,
    doc="`Reshape` to a constant `[0, *shape]` (the batch copied, the per-sample shape explicit)",
)
def _reshape_to_onnx(e: Emitter, node: Node) -> None:
    target = np.array([0, *node.attrs["shape"]], dtype=np.int64)  # type: ignore[misc]
    shape = e.constant(f"{node.name}_shape", target)
    e.add("Reshape", [node.inputs[0], shape], node.outputs, node.name)


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
