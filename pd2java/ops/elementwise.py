"""Elementwise binary ops and the constant operand they may take: shape rules, NumPy kernels,
torch lowerings (``a + b``, ``a - b``, ``a * b``, ``a / b``, their ``torch.*`` and method forms)
and ONNX mappings (Add, Sub, Mul, Div).

``add@1`` takes two values of the same shape; ``add@2``, ``sub@1``, ``mul@1`` and ``div@1``
broadcast their per-sample shapes NumPy-style (the batch axis is never broadcast). Lowerings
write ``add@1`` when the shapes are equal, so graphs that need no broadcasting keep the op
version they always had. A number or a tensor of the model as an operand (``x * 0.5``,
``x - self.mean``) becomes a ``constant@1`` node: a value with no inputs, the same for every
sample, held in its ``value`` parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from pd2java.errors import ErrorCode
from pd2java.ops.frontend_registry import onnx_export, onnx_import, torch_function
from pd2java.ops.linear import fold_matmul_bias
from pd2java.ops.lowering import (
    Call,
    ConstantOperand,
    Lowered,
    Unsupported,
    Value,
    as_operand,
    as_tensor,
    is_runtime,
)
from pd2java.ops.onnx_conventions import Const, Runtime
from pd2java.ops.registry import Attrs, Shape, ShapeError, register

if TYPE_CHECKING:
    from onnx import NodeProto

    from pd2java.backends.onnx import Emitter
    from pd2java.frontends.onnx import Importer
    from pd2java.ir import Node

# The broadcasting binary ops: name -> (version, NumPy ufunc, Python operator for messages).
BINARY: dict[str, tuple[int, Callable[..., np.ndarray], str]] = {
    "add": (2, np.add, "+"),
    "sub": (1, np.subtract, "-"),
    "mul": (1, np.multiply, "*"),
    "div": (1, np.divide, "/"),
}
ONNX_TYPES = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div"}


def broadcast_shape(a: Shape, b: Shape, op: str) -> Shape:
    """The per-sample output shape of ``op`` on shapes ``a`` and ``b``: right-aligned, the shorter
    left-padded with 1s, each dim pair equal or one of them 1 (SHAPE_MISMATCH otherwise)."""
    rank = max(len(a), len(b))
    pa = (1,) * (rank - len(a)) + tuple(a)
    pb = (1,) * (rank - len(b)) + tuple(b)
    out = []
    for da, db in zip(pa, pb):
        if da != db and da != 1 and db != 1:
            raise ShapeError(
                f"{op} cannot broadcast per-sample shapes {list(a)} and {list(b)}: each dim "
                "(right-aligned) must be equal or 1 in one of them"
            )
        out.append(max(da, db))
    return tuple(out)


def _aligned(x: np.ndarray, rank: int) -> np.ndarray:
    """A batched (N, *s) array viewed as (N, 1, ..., *s) with ``rank`` per-sample dims."""
    return x.reshape(x.shape[0], *(1,) * (rank - (x.ndim - 1)), *x.shape[1:])


def _binary_kernel(name: str, version: int, fn: Callable[..., np.ndarray]) -> None:
    def infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
        return broadcast_shape(shapes[0], shapes[1], f"{name}@{version}")

    def kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
        a, b = (np.asarray(v, dtype=np.float32) for v in inputs)
        rank = max(a.ndim, b.ndim) - 1
        return np.asarray(fn(_aligned(a, rank), _aligned(b, rank)), dtype=np.float32)

    register(name, version, infer=infer)(kernel)


for _name, (_version, _fn, _) in BINARY.items():
    _binary_kernel(_name, _version, _fn)


def _add_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    a, b = shapes
    if a != b:
        raise ShapeError(f"add needs equal shapes (no broadcasting), got {list(a)} and {list(b)}")
    return a


@register("add", 1, infer=_add_infer)
def add_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    return (inputs[0] + inputs[1]).astype(np.float32)


def _constant_infer(attrs: Attrs, shapes: list[Shape]) -> Shape:
    """A node with no inputs gets the shapes of its parameter tensors: here the one ``value``."""
    (shape,) = shapes
    if len(shape) < 1 or any(d < 1 for d in shape):
        raise ShapeError(
            f"constant: parameter 'value' has shape {list(shape)}; it must have rank >= 1 and "
            "no empty dim (store a number as shape [1])",
            ErrorCode.INVALID_PARAMETER,
        )
    return tuple(shape)


def _constant_param_shapes(attrs: Attrs) -> dict[str, Shape]:
    return {}  # any shape: the value's own shape is the node's output shape


@register("constant", 1, infer=_constant_infer, param_shapes=_constant_param_shapes)
def constant_kernel(attrs: Attrs, inputs: list[np.ndarray], params: Mapping) -> np.ndarray:
    # One sample's value; the reference repeats a no-input node's value over the batch.
    value = np.asarray(params["value"], dtype=np.float32)
    return value.reshape(1, *value.shape)


# --- torch --------------------------------------------------------------------------------------


def lower_binary(op: str, a: object, b: object) -> Lowered:
    """``a <op> b`` where each operand is a run-time value, a number or a tensor of the model:
    at least one must be a run-time value. Writes add@1 for two equal shapes."""
    sym = BINARY[op][2]
    for v in (a, b):
        if is_runtime(v) and not isinstance(v, Value):
            as_tensor(v)  # raises, saying what the operand is (x.size(0), a partial result)
    runtime = [v for v in (a, b) if isinstance(v, Value)]
    if not runtime:
        raise Unsupported(f"{op} of two constants ({a!r} {sym} {b!r}) computes nothing per sample")
    rank = len(runtime[0].shape)
    operands: list[Value | ConstantOperand] = []
    for v in (a, b):
        if isinstance(v, Value):
            operands.append(v)
            continue
        c = as_operand(v, rank)
        if c is None:
            raise Unsupported(f"operand {v!r} of {sym} is not a tensor value or a constant")
        operands.append(c)
    if len(runtime) == 2 and len(runtime[0].shape) != len(runtime[1].shape):
        raise Unsupported(
            f"{op} of tensors of shapes {['N', *runtime[0].shape]} and "
            f"{['N', *runtime[1].shape]}: torch would broadcast the batch axis against a "
            "per-sample one; give both the same rank (e.g. with unsqueeze/view)"
        )
    x, y = operands
    version = 1 if op == "add" and x.shape == y.shape else None
    return Lowered(op, inputs=(x, y), version=version)


def _binary_call(op: str, *, extra: tuple[str, ...] = ()) -> Callable[[Call], Lowered]:
    def lower(call: Call) -> Lowered:
        kwargs = dict(call.kwargs)
        args = list(call.args)
        for key in ("input", "other"):
            if key in kwargs:
                args.insert(0 if key == "input" else len(args), kwargs.pop(key))
        if op in ("add", "sub") and kwargs.get("alpha", 1) != 1:
            raise Unsupported(f"torch.{op} with alpha={kwargs['alpha']!r} (only alpha 1)")
        kwargs.pop("alpha", None)
        if op == "div" and kwargs.get("rounding_mode") is not None:
            raise Unsupported(
                f"torch.div with rounding_mode={kwargs['rounding_mode']!r} (only true division)"
            )
        kwargs.pop("rounding_mode", None)
        if kwargs or len(args) != 2:
            raise Unsupported(
                f"{op} with arguments {args!r} {kwargs!r} (two operands, nothing else)"
            )
        return lower_binary(op, args[0], args[1])

    return lower


_NOTE = "per-sample broadcasting; one operand may be a number or a tensor of the model"

torch_function(
    "operator.add",
    "torch.add",
    methods=("add",),
    ops=("add",),
    shown={"operator.add": "a + b", "torch.add": "torch.add(a, b)", "add": "a.add(b)"},
    note=_NOTE + "; alpha 1 only",
    aliases=("operator.iadd",),
)(_binary_call("add"))
torch_function(
    "operator.sub",
    "torch.sub",
    methods=("sub",),
    ops=("sub",),
    shown={"operator.sub": "a - b", "torch.sub": "torch.sub(a, b)", "sub": "a.sub(b)"},
    note=_NOTE + "; alpha 1 only",
    aliases=("operator.isub", "torch.subtract"),
)(_binary_call("sub"))
torch_function(
    "operator.mul",
    "torch.mul",
    methods=("mul",),
    ops=("mul",),
    shown={"operator.mul": "a * b", "torch.mul": "torch.mul(a, b)", "mul": "a.mul(b)"},
    note=_NOTE,
    aliases=("operator.imul", "torch.multiply"),
)(_binary_call("mul"))
torch_function(
    "operator.truediv",
    "torch.div",
    methods=("div",),
    ops=("div",),
    shown={"operator.truediv": "a / b", "torch.div": "torch.div(a, b)", "div": "a.div(b)"},
    note=_NOTE + "; rounding_mode None only",
    aliases=("operator.itruediv", "torch.true_divide", "torch.divide"),
)(_binary_call("div"))


# --- ONNX ---------------------------------------------------------------------------------------


def _const_operand(im: Importer, const: Const, rank: int, index: int) -> Runtime:
    """An ONNX constant operand (broadcast against a value with a batch axis) as a constant node:
    leading size-1 axes beyond the per-sample ``rank`` dropped, a scalar stored as (1,)."""
    arr = np.asarray(const.array)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.floating):
        raise im.fail(
            f"its constant input {index} {const.source!r} has dtype {arr.dtype}; pd2java "
            "computes in float32"
        )
    while arr.ndim > rank and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim > rank:
        raise im.fail(
            f"its constant input {index} {const.source!r} of shape {list(const.array.shape)} "
            "would broadcast over the batch axis"
        )
    arr = arr.reshape(arr.shape or (1,))
    key = im.param(const, arr, f"operand{list(arr.shape)}", f"constant input {index}")
    out = f"{const.source}__constant_{len(im.nodes)}"
    im.emit("constant", [], out, params={"value": key}, node_name=f"{im.node.name}_constant")
    value = im.env[out]
    assert isinstance(value, Runtime)
    return value


def _binary_from_onnx(im: Importer, node: NodeProto) -> None:
    op = {v: k for k, v in ONNX_TYPES.items()}[node.op_type]
    a, b = (im.get(name) for name in node.input[:2])
    consts = [isinstance(v, Const) for v in (a, b)]
    if all(consts):  # constant arithmetic (a shape computation, say): folded
        x, y = (np.asarray(v.array) for v in (a, b))  # type: ignore[union-attr]
        if x.dtype == object or y.dtype == object:
            raise im.fail("arithmetic on the batch size is not supported")
        if op == "div" and np.issubdtype(x.dtype, np.integer):
            result = np.trunc(x / y).astype(x.dtype)  # ONNX integer division truncates
        else:
            result = BINARY[op][1](x, y).astype(np.result_type(x, y))
        im.env[node.output[0]] = Const(np.asarray(result), node.output[0])
        return
    if op == "add" and any(consts):
        value = b if consts[0] else a
        source = node.input[1] if consts[0] else node.input[0]
        if (
            isinstance(value, Runtime)
            and value.name in im.linear_from_matmul
            and im.consumers.get(source, 0) == 1
        ):
            fold_matmul_bias(im, node)  # MatMul + Add(constant): the bias of a linear layer
            return
    rank = len(im.runtime(node.input[1] if consts[0] else node.input[0]).shape)
    operands = []
    for i, (name, v) in enumerate(zip(node.input[:2], (a, b))):
        if isinstance(v, Const):
            operands.append(_const_operand(im, v, rank, i))
        else:
            operands.append(im.runtime(name))
    if not any(consts) and len(operands[0].shape) != len(operands[1].shape):
        raise im.fail(
            f"its inputs have ranks {len(operands[0].shape) + 1} and "
            f"{len(operands[1].shape) + 1}: the batch axis would broadcast against a per-sample one"
        )
    version = 1 if op == "add" and operands[0].shape == operands[1].shape else None
    im.emit(op, operands, node.output[0], version=version)


onnx_import(
    "Add",
    "Sub",
    "Mul",
    "Div",
    ops=("add", "sub", "mul", "div", "constant"),
    form="NumPy broadcasting that leaves the batch axis alone; a constant operand (initializer or "
    "Constant) becomes a `constant` node (Add of a constant right after a MatMul: the linear "
    "layer's bias)",
)(_binary_from_onnx)


@onnx_import(
    "Reciprocal",
    ops=("div", "constant"),
    form="as a `constant` 1 divided by the value (torch.onnx.export writes `1 / x` so)",
)
def _reciprocal_from_onnx(im: Importer, node: NodeProto) -> None:
    x = im.runtime(node.input[0])
    one = Const(np.ones((1,), np.float32), f"{node.name or node.output[0]}_one")
    im.emit("div", [_const_operand(im, one, len(x.shape), 0), x], node.output[0])


def _onnx_operand(e: Emitter, node: Node, value: str, rank: int) -> str:
    """``value`` ready for an ONNX broadcast against ``rank`` per-sample dims: a computed value of
    lower rank is unsqueezed after its batch axis (a constant node's value has no batch axis)."""
    producer = e.graph.producer_of(value)
    if producer is None or producer.op == "constant":
        if producer is None and value == e.graph.input.name:
            have = len(e.graph.input.shape)
        else:
            return value
    else:
        have = len(producer.output_shape)
    if have == rank:
        return value
    axes = e.constant(f"axes_1_to_{rank - have}", np.arange(1, rank - have + 1, dtype=np.int64))
    out = e.fresh(f"{value}_unsqueezed")
    e.add("Unsqueeze", [value, axes], [out], e.fresh(f"{node.name}_unsqueeze"))
    return out


def _binary_to_onnx(op: str) -> Callable[[Emitter, Node], None]:
    def emit(e: Emitter, node: Node) -> None:
        rank = len(node.output_shape)
        inputs = [_onnx_operand(e, node, v, rank) for v in node.inputs]
        e.add(ONNX_TYPES[op], inputs, node.outputs, node.name)

    return emit


onnx_export("add", 1, doc="`Add` (add@1, equal shapes)")(_binary_to_onnx("add"))
for _name, (_version, _, _) in BINARY.items():
    onnx_export(
        _name,
        _version,
        doc=f"`{ONNX_TYPES[_name]}` ({_name}@{_version}: a computed input of lower rank "
        "`Unsqueeze`d after the batch axis)",
    )(_binary_to_onnx(_name))


@onnx_export("constant", 1, doc="an initializer of shape `[1, *value.shape]` and an `Identity`")
def _constant_to_onnx(e: Emitter, node: Node) -> None:
    key = str(node.params["value"])
    if key not in e.graph.tensors:
        e.tensor(key, node)  # refuses naming the missing tensor
    array = np.asarray(e.graph.tensors[key], dtype=np.float32)
    init = e.constant(f"{node.name}_value", array.reshape(1, *array.shape))
    e.add("Identity", [init], node.outputs, node.name)
