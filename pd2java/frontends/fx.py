"""torch.fx front end: capture an ``nn.Module`` as a pd2java IR graph.

The module is deep-copied, put in eval mode and traced symbolically; standard ``torch.nn`` modules
are leaves (``call_module``), everything else (nested Sequentials, custom blocks) is traced through.
Each fx node is then matched on its kind and target, never on a layer name:

- ``call_module``: by module type, through the lowering functions of the op families;
- ``call_function`` / ``call_method``: the functional forms (F.relu, torch.add, ``a + b``,
  x.view(x.size(0), -1), x.mean((2, 3)), x.mean(3).mean(2), torch.clamp(x, 0, 6), ...).

Dropout and Identity (module or functional) are dropped: their output is their input. Anything
else raises one UserError naming the fx node, its source line and the supported ops; nothing is
written. Shapes come from the op shape rules and are cross-checked against torch.fx ShapeProp.
"""

from __future__ import annotations

import copy
import inspect
import linecache
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from pd2java.errors import UserError
from pd2java.ir import Graph, Node, ValueSpec
from pd2java.ir.passes import prune_tensors
from pd2java.ops import activation, conv, linear, norm, pool, shape
from pd2java.ops.lowering import IDENTITY, Lowered, Unsupported
from pd2java.ops.registry import ShapeError, impl
from pd2java.ops.table import supported_ops

INPUT_NAME = "input"

# Module type -> lowering. Exact types: a subclass may override forward, so it is traced through.
_MODULES: dict[type, Callable[..., Lowered]] = {
    nn.Conv2d: conv.lower_conv2d_module,
    nn.BatchNorm2d: norm.lower_batch_norm2d_module,
    nn.ReLU: activation.lower_relu_module,
    nn.ReLU6: activation.lower_relu6_module,
    nn.LeakyReLU: activation.lower_leaky_relu_module,
    nn.Sigmoid: activation.lower_sigmoid_module,
    nn.Hardtanh: activation.lower_hardtanh_module,
    nn.MaxPool2d: pool.lower_max_pool2d_module,
    nn.AvgPool2d: pool.lower_avg_pool2d_module,
    nn.AdaptiveAvgPool2d: pool.lower_adaptive_avg_pool2d_module,
    nn.Linear: linear.lower_linear_module,
    nn.Dropout: lambda mod: IDENTITY,
    nn.Dropout2d: lambda mod: IDENTITY,
    nn.Identity: lambda mod: IDENTITY,
}

SUPPORTED_TORCH = (
    "modules: Conv2d, BatchNorm2d, ReLU, ReLU6, LeakyReLU, Sigmoid, Hardtanh(0, 6), MaxPool2d, "
    "AvgPool2d, AdaptiveAvgPool2d(1), Flatten, Linear, Softmax, Dropout, Identity; functions: "
    "F.relu, F.relu6, F.leaky_relu, torch.sigmoid, F.max_pool2d, F.avg_pool2d, "
    "F.adaptive_avg_pool2d(x, 1), torch.flatten(x, 1), x.view(x.size(0), -1), x.mean((2, 3)), "
    "x.mean(3).mean(2), torch.add, a + b, torch.clamp(x, 0, 6), F.softmax(x, 1), F.dropout"
)


# --- values tracked while walking the fx graph ------------------------------------------------


@dataclass(frozen=True)
class _Tensor:
    """An IR value: its name and per-sample shape."""

    name: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class _BatchSize:
    """``x.size(0)`` / ``x.shape[0]``: only usable as the first argument of view/reshape."""


@dataclass(frozen=True)
class _ShapeOf:
    """``x.shape`` / ``x.size()``: only indexable at 0."""

    tensor: _Tensor


@dataclass(frozen=True)
class _HalfMean:
    """``x.mean(3)`` (over W) awaiting ``.mean(2)`` (over H) to become a global average pool."""

    tensor: _Tensor
    keepdim: bool


# --- where a node came from --------------------------------------------------------------------

_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


def origin_of(node: fx.Node) -> str:
    """``model.py:12 in forward: x = self.pool(x)`` from the fx stack trace, or ''."""
    trace = node.stack_trace or ""
    frames = [m for m in _FRAME.finditer(trace) if "/torch/" not in m.group(1).replace("\\", "/")]
    if not frames:
        return ""
    path, line, func = frames[-1].group(1), int(frames[-1].group(2)), frames[-1].group(3)
    code = linecache.getline(path, line).strip()
    short = path.replace("\\", "/").rsplit("/", 1)[-1]
    return f"{short}:{line} in {func}" + (f" ({code})" if code else "")


def _describe(node: fx.Node, gm: fx.GraphModule) -> str:
    if node.op == "call_module":
        what = f"module {node.target!r} ({type(gm.get_submodule(node.target)).__name__})"
    elif node.op == "call_function":
        fn = node.target
        what = f"function {getattr(fn, '__module__', '') or ''}.{getattr(fn, '__name__', fn)}"
        what = what.replace("_operator.", "operator.").lstrip(".")
    elif node.op == "call_method":
        what = f"method .{node.target}()"
    else:
        what = f"{node.op} {node.target!r}"
    origin = origin_of(node)
    return f"fx node {node.name!r}: {what}" + (f" at {origin}" if origin else "")


class _Refused(Exception):
    """Internal: unsupported construct at the current node (message without location)."""


def _unsupported(node: fx.Node, gm: fx.GraphModule, reason: str) -> UserError:
    return UserError(
        f"cannot export {_describe(node, gm)}: {reason}.\n"
        f"Supported ops: {supported_ops()}.\nSupported torch forms: {SUPPORTED_TORCH}."
    )


# --- argument binding ----------------------------------------------------------------------------


def _bind(node: fx.Node, names: Sequence[str], defaults: dict[str, Any]) -> dict[str, Any]:
    """Bind ``node.args[1:]`` / kwargs to ``names`` (the parameters after the tensor input)."""
    values: dict[str, Any] = dict(defaults)
    rest = node.args[1:]
    if len(rest) > len(names):
        raise _Refused(f"too many arguments {list(rest)}")
    for name, value in zip(names, rest):
        values[name] = value
    for key, value in node.kwargs.items():
        if key in ("input", "inplace", "_stacklevel"):
            continue
        if key not in names:
            raise _Refused(f"unsupported keyword argument {key}={value!r}")
        values[key] = value
    missing = [n for n in names if n not in values]
    if missing:
        raise _Refused(f"missing argument(s) {missing}")
    for key, value in values.items():
        if _contains_node(value):
            raise _Refused(f"argument {key} depends on the input at run time; it must be constant")
    return values


def _contains_node(value: Any) -> bool:
    if isinstance(value, fx.Node):
        return True
    if isinstance(value, (list, tuple)):
        return any(_contains_node(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_node(v) for v in value.values())
    return False


# --- the capture ------------------------------------------------------------------------------


class _Capture:
    def __init__(self, gm: fx.GraphModule, input_shape: tuple[int, int, int]) -> None:
        self.gm = gm
        self.input_shape = input_shape
        self.values: dict[fx.Node, Any] = {}
        self.nodes: list[Node] = []
        self.tensors: dict[str, np.ndarray] = {}
        self.tensor_owner: dict[str, int] = {}  # name -> id(tensor) (a module called twice)
        self.used_names: set[str] = {INPUT_NAME}
        self.fx_shapes: dict[str, tuple[int, ...]] = {}

    # helpers ----------------------------------------------------------------------------------
    def tensor_arg(self, value: Any) -> _Tensor:
        if isinstance(value, fx.Node):
            got = self.values.get(value)
            if isinstance(got, _Tensor):
                return got
            if isinstance(got, _HalfMean):
                raise _Refused(
                    "x.mean(3) is only supported when followed directly by .mean(2) (global "
                    "average pool)"
                )
            raise _Refused(f"argument {value.name!r} is not a tensor value")
        raise _Refused(f"constant {value!r} where a tensor value is needed")

    def unique(self, base: str) -> str:
        name = re.sub(r"[^A-Za-z0-9_]", "_", base) or "node"
        if name[0].isdigit():
            name = "n_" + name
        candidate, i = name, 1
        while candidate in self.used_names:
            candidate = f"{name}_{i}"
            i += 1
        self.used_names.add(candidate)
        return candidate

    def emit(
        self,
        fx_node: fx.Node,
        lowered: Lowered,
        inputs: list[_Tensor],
        params: dict[str, str | None] | None = None,
    ) -> _Tensor:
        if lowered.op is None:
            return inputs[0]
        name = self.unique(fx_node.name)
        node = Node(
            name=name,
            op=lowered.op,
            version=1,
            inputs=tuple(t.name for t in inputs),
            outputs=(name,),
            attrs=dict(lowered.attrs),
            params=dict(params or {}),
            origin=origin_of(fx_node),
        )
        try:
            out_shape = impl(node.key).infer(node.attrs, [t.shape for t in inputs])
        except ShapeError as exc:
            raise _Refused(str(exc)) from None
        node = node.with_(output_shape=tuple(out_shape))
        self.nodes.append(node)
        meta = fx_node.meta.get("tensor_meta")
        if meta is not None and hasattr(meta, "shape"):
            self.fx_shapes[name] = tuple(int(d) for d in meta.shape[1:])
        return _Tensor(name, tuple(out_shape))

    def add_param(self, qualified: str, tensor: torch.Tensor) -> str:
        if qualified in self.tensors:
            if self.tensor_owner[qualified] != id(tensor):  # pragma: no cover - names are unique
                raise _Refused(f"two different tensors named {qualified!r}")
            return qualified
        arr = tensor.detach().to(torch.float32).cpu().contiguous().numpy().copy()
        self.tensors[qualified] = arr
        self.tensor_owner[qualified] = id(tensor)
        return qualified

    # node kinds -------------------------------------------------------------------------------
    def call_module(self, node: fx.Node) -> Any:
        mod = self.gm.get_submodule(node.target)
        if type(mod) is nn.Flatten:
            x = self.tensor_arg(node.args[0])
            return self.emit(
                node, _lower(shape.lower_flatten_module, mod, rank=len(x.shape) + 1), [x]
            )
        if type(mod) is nn.Softmax:
            x = self.tensor_arg(node.args[0])
            return self.emit(node, _lower(activation.lower_softmax, mod.dim, len(x.shape) + 1), [x])
        lowering = _MODULES.get(type(mod))
        if lowering is None:
            raise _Refused(f"module type {type(mod).__name__} is not supported")
        if len(node.args) != 1 or node.kwargs:
            raise _Refused("a supported module must be called with exactly one tensor")
        x = self.tensor_arg(node.args[0])
        lowered = _lower(lowering, mod)
        params: dict[str, str | None] = {}
        for slot, attr in lowered.params.items():
            if attr is None:
                params[slot] = None
                continue
            tensor = getattr(mod, attr)
            params[slot] = self.add_param(f"{node.target}.{attr}", tensor)
        return self.emit(node, lowered, [x], params)

    def call(self, node: fx.Node) -> Any:
        target = node.target
        kind = node.op
        fn_name = target if kind == "call_method" else getattr(target, "__name__", str(target))

        def is_fn(*candidates: Any) -> bool:
            return kind == "call_function" and any(target is c for c in candidates)

        def is_method(*names: str) -> bool:
            return kind == "call_method" and target in names

        # --- guards fx adds for arguments fixed to their defaults (see _extra_args) ---
        def is_constant(v: Any) -> bool:
            got = self.values.get(v) if isinstance(v, fx.Node) else None
            return isinstance(got, tuple) and got[:1] == ("constant",)

        if is_fn(operator.eq) and is_constant(node.args[0]):
            return ("constant", node.name)
        if (
            kind == "call_function"
            and fn_name in ("_assert", "_assert_is_none")
            and all(is_constant(a) or not isinstance(a, fx.Node) for a in node.args)
        ):
            return None
        # --- shape plumbing: x.size(0), x.shape, x.shape[0] ---
        if is_method("size"):
            x = self.tensor_arg(node.args[0])
            b = _bind(node, ["dim"], {"dim": None})
            if b["dim"] is None:
                return _ShapeOf(x)
            if b["dim"] == 0:
                return _BatchSize()
            raise _Refused(f"x.size({b['dim']}) (only the batch size x.size(0) is supported)")
        if is_fn(getattr) and len(node.args) == 2 and node.args[1] == "shape":
            return _ShapeOf(self.tensor_arg(node.args[0]))
        if is_fn(operator.getitem) and isinstance(self.values.get(node.args[0]), _ShapeOf):
            if node.args[1] == 0:
                return _BatchSize()
            raise _Refused(f"x.shape[{node.args[1]!r}] (only x.shape[0] is supported)")
        # --- no-ops ---
        if is_fn(F.dropout, F.dropout2d, torch.dropout) or is_method("contiguous"):
            return self.tensor_arg(node.args[0])
        # --- activations ---
        if is_fn(F.relu, torch.relu) or is_method("relu"):
            return self.emit(node, Lowered("relu"), [self.tensor_arg(node.args[0])])
        if is_fn(F.relu6):
            return self.emit(node, Lowered("relu6"), [self.tensor_arg(node.args[0])])
        if is_fn(F.hardtanh):
            b = _bind(
                node,
                ["min_val", "max_val", "inplace"],
                {"min_val": -1.0, "max_val": 1.0, "inplace": False},
            )
            return self.emit(
                node,
                _lower(activation.lower_clamp, b["min_val"], b["max_val"]),
                [self.tensor_arg(node.args[0])],
            )
        if is_fn(torch.clamp, torch.clip) or is_method("clamp", "clip"):
            b = _bind(node, ["min", "max"], {"min": None, "max": None})
            return self.emit(
                node,
                _lower(activation.lower_clamp, b["min"], b["max"]),
                [self.tensor_arg(node.args[0])],
            )
        if is_fn(F.leaky_relu):
            b = _bind(
                node, ["negative_slope", "inplace"], {"negative_slope": 0.01, "inplace": False}
            )
            return self.emit(
                node,
                _lower(activation.lower_leaky_relu_call, b["negative_slope"]),
                [self.tensor_arg(node.args[0])],
            )
        if is_fn(torch.sigmoid, F.sigmoid) or is_method("sigmoid"):
            return self.emit(node, Lowered("sigmoid"), [self.tensor_arg(node.args[0])])
        if is_fn(F.softmax, torch.softmax) or is_method("softmax"):
            x = self.tensor_arg(node.args[0])
            b = _bind(node, ["dim", "dtype"], {"dim": None, "dtype": None})
            if b["dtype"] is not None:
                raise _Refused(f"softmax with dtype={b['dtype']}")
            return self.emit(
                node, _lower(activation.lower_softmax, b["dim"], len(x.shape) + 1), [x]
            )
        # --- pools ---
        # F.max_pool2d is a boolean_dispatch wrapper: match it by identity or by its name.
        if kind == "call_function" and (
            target is F.max_pool2d or fn_name in ("max_pool2d", "_max_pool2d")
        ):
            names = ["kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"]
            b = _bind(
                node,
                names,
                {
                    "stride": None,
                    "padding": 0,
                    "dilation": 1,
                    "ceil_mode": False,
                    "return_indices": False,
                },
            )
            return self.emit(
                node, _lower(pool.lower_max_pool2d_call, **b), [self.tensor_arg(node.args[0])]
            )
        if is_fn(F.avg_pool2d):
            names = [
                "kernel_size",
                "stride",
                "padding",
                "ceil_mode",
                "count_include_pad",
                "divisor_override",
            ]
            b = _bind(
                node,
                names,
                {
                    "stride": None,
                    "padding": 0,
                    "ceil_mode": False,
                    "count_include_pad": True,
                    "divisor_override": None,
                },
            )
            return self.emit(
                node, _lower(pool.lower_avg_pool2d_call, **b), [self.tensor_arg(node.args[0])]
            )
        if is_fn(F.adaptive_avg_pool2d):
            b = _bind(node, ["output_size"], {})
            return self.emit(
                node,
                _lower(pool.lower_adaptive_avg_pool2d_call, b["output_size"]),
                [self.tensor_arg(node.args[0])],
            )
        if is_fn(torch.mean) or is_method("mean"):
            return self.mean(node)
        # --- flatten / view ---
        if is_fn(torch.flatten) or is_method("flatten"):
            x = self.tensor_arg(node.args[0])
            b = _bind(node, ["start_dim", "end_dim"], {"start_dim": 0, "end_dim": -1})
            return self.emit(
                node,
                _lower(
                    shape.lower_flatten_call, b["start_dim"], b["end_dim"], rank=len(x.shape) + 1
                ),
                [x],
            )
        if is_method("view", "reshape") or is_fn(torch.reshape):
            return self.reshape(node)
        # --- add ---
        if is_fn(operator.add, operator.iadd, torch.add) or is_method("add"):
            if (
                not isinstance(node.args[0], fx.Node)
                or len(node.args) < 2
                or not isinstance(node.args[1], fx.Node)
            ):
                raise _Refused("add of a constant (only the sum of two tensor values is supported)")
            a = self.tensor_arg(node.args[0])
            b_val = self.tensor_arg(node.args[1])
            alpha = node.kwargs.get("alpha", 1)
            extra = set(node.kwargs) - {"alpha"}
            if alpha != 1 or extra or len(node.args) > 2:
                raise _Refused("torch.add with alpha or extra arguments")
            if a.shape != b_val.shape:
                raise _Refused(
                    f"add of shapes {list(a.shape)} and {list(b_val.shape)} (no broadcasting)"
                )
            return self.emit(node, Lowered("add"), [a, b_val])
        raise _Refused(f"{kind} {fn_name!r} is not supported")

    def mean(self, node: fx.Node) -> Any:
        src = self.values.get(node.args[0]) if isinstance(node.args[0], fx.Node) else None
        b = _bind(node, ["dim", "keepdim"], {"dim": None, "keepdim": False, "dtype": None})
        if b.get("dtype") is not None:
            raise _Refused("mean with dtype")
        dims = b["dim"]
        dims = tuple(dims) if isinstance(dims, (list, tuple)) else (dims,)
        keep = bool(b["keepdim"])
        if isinstance(src, _HalfMean):
            # second half of x.mean(3).mean(2): over H of a (N, C, H[, 1]) value
            rank = 4 if src.keepdim else 3
            norm_dims = {d + rank if isinstance(d, int) and d < 0 else d for d in dims}
            if norm_dims != {2} or keep != src.keepdim:
                raise _Refused("x.mean(3) must be followed by .mean(2) with the same keepdim")
            return self.emit(node, Lowered("global_avg_pool", {"keepdims": keep}), [src.tensor])
        x = self.tensor_arg(node.args[0])
        rank = len(x.shape) + 1
        if rank != 4 or None in dims:
            raise _Refused(
                f"mean over {b['dim']!r} of a rank-{rank} tensor "
                "(only over H and W of (N, C, H, W))"
            )
        norm_dims = {d + rank if d < 0 else d for d in dims}
        if norm_dims == {2, 3}:
            return self.emit(node, Lowered("global_avg_pool", {"keepdims": keep}), [x])
        if norm_dims == {3}:
            return _HalfMean(x, keep)
        raise _Refused(f"mean over dims {sorted(norm_dims)} (only (2, 3), or 3 then 2)")

    def reshape(self, node: fx.Node) -> Any:
        x = self.tensor_arg(node.args[0])
        dims = list(node.args[1:])
        if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
            dims = list(dims[0])
        if "shape" in node.kwargs or "size" in node.kwargs:
            dims = list(node.kwargs.get("shape", node.kwargs.get("size")))
        numel = int(np.prod(x.shape))
        if len(dims) == 2:
            first = self.values.get(dims[0]) if isinstance(dims[0], fx.Node) else dims[0]
            second = dims[1]
            batch_ok = isinstance(first, _BatchSize) or (first == -1 and second == numel)
            if batch_ok and second in (-1, numel):
                return self.emit(node, Lowered("flatten"), [x])
        shown = ["x.size(0)" if isinstance(d, fx.Node) else d for d in dims]
        raise _Refused(f"reshape to {shown} (only flattening to (N, -1) is supported)")


def _lower(fn: Callable[..., Lowered], *args: Any, **kwargs: Any) -> Lowered:
    try:
        return fn(*args, **kwargs)
    except Unsupported as exc:
        raise _Refused(str(exc)) from None


def _user_frame(exc: BaseException) -> str:
    """The innermost traceback frame outside torch: where tracing failed in the user's code."""
    tb = exc.__traceback__
    found = ""
    while tb is not None:
        path = tb.tb_frame.f_code.co_filename.replace("\\", "/")
        if "/torch/" not in path and "/pd2java/" not in path:
            code = linecache.getline(path, tb.tb_lineno).strip()
            found = f"{path.rsplit('/', 1)[-1]}:{tb.tb_lineno} in {tb.tb_frame.f_code.co_name}"
            if code:
                found += f" ({code})"
        tb = tb.tb_next
    return found


def _extra_args(model: nn.Module) -> dict[str, Any] | None:
    """forward(x, flag=default, ...): trace with every argument after x fixed to its default."""
    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return None
    if not params:
        raise UserError(f"{type(model).__name__}.forward() takes no input tensor")
    extra: dict[str, Any] = {}
    for p in params[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty:
            raise UserError(
                f"{type(model).__name__}.forward() needs argument {p.name!r} besides the input; "
                "pd2java exports models with exactly one input tensor"
            )
        extra[p.name] = p.default
    return extra or None


def trace(model: nn.Module) -> fx.GraphModule:
    """Symbolically trace ``model`` (already a private eval-mode copy)."""
    tracer = fx.Tracer()
    tracer.record_stack_traces = True
    try:
        graph = tracer.trace(model, concrete_args=_extra_args(model))
    except Exception as exc:  # noqa: BLE001 - fx raises TraceError, TypeError, ... on user code
        where = _user_frame(exc)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"torch.fx cannot trace {type(model).__name__}"
            + (f" at {where}" if where else "")
            + f": {first}. pd2java needs a forward() without data-dependent Python control flow "
            f"(if/for on tensor values).\nSupported ops: {supported_ops()}."
        ) from None
    return fx.GraphModule(model, graph)


def capture(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    name: str,
    classes: Sequence[str] | None = None,
    meta: dict[str, Any] | None = None,
) -> Graph:
    """The IR graph of ``model`` for per-sample input ``input_shape`` (C, H, W).

    ``model`` itself is not touched: a deep copy is put in eval mode and traced.
    """
    if not isinstance(model, nn.Module):
        raise UserError(f"export needs a torch.nn.Module, got {type(model).__name__}")
    shape3 = tuple(int(d) for d in input_shape)
    if len(shape3) != 3 or any(d < 1 for d in shape3):
        raise UserError(f"input_shape must be (C, H, W) with positive sizes, got {input_shape!r}")
    private = copy.deepcopy(model).float().eval()
    gm = trace(private)
    try:
        with torch.no_grad():
            ShapeProp(gm).propagate(torch.zeros((2, *shape3)))
    except Exception as exc:  # noqa: BLE001 - any failure of the user's forward on this shape
        where = _user_frame(exc)
        raise UserError(
            f"running {type(model).__name__} on an input of shape (N, {', '.join(map(str, shape3))})"
            f" failed" + (f" at {where}" if where else "") + f": {str(exc).splitlines()[0]}"
        ) from None

    cap = _Capture(gm, shape3)  # type: ignore[arg-type]
    output: Any = None
    for node in gm.graph.nodes:
        try:
            if node.op == "placeholder":
                if any(
                    isinstance(v, _Tensor) and v.name == INPUT_NAME for v in cap.values.values()
                ):
                    # an argument fixed to its default by _extra_args: a constant, not an input
                    cap.values[node] = ("constant", node.target)
                else:
                    cap.values[node] = _Tensor(INPUT_NAME, shape3)
            elif node.op == "get_attr":
                cap.values[node] = ("get_attr", node.target)
            elif node.op == "call_module":
                cap.values[node] = cap.call_module(node)
            elif node.op in ("call_function", "call_method"):
                cap.values[node] = cap.call(node)
            elif node.op == "output":
                result = node.args[0]
                if not isinstance(result, fx.Node):
                    raise _Refused("forward() must return a single tensor")
                output = cap.tensor_arg(result)
        except _Refused as exc:
            raise _unsupported(node, gm, str(exc)) from None
    if output is None or output.name == INPUT_NAME:
        raise UserError(f"{type(model).__name__} has no supported op between input and output")
    for node in cap.nodes:  # the op shape rules must agree with what torch computed
        want = cap.fx_shapes.get(node.name)
        if want is not None and want != node.output_shape:
            raise RuntimeError(  # a pd2java lowering bug, not a user error
                f"internal: node {node.name!r} ({node.key}) shape {list(node.output_shape)} but "
                f"torch computed {list(want)}"
            )
    last = next(n for n in cap.nodes if n.outputs[0] == output.name)
    kind = "probabilities" if last.op in ("softmax", "sigmoid") else "logits"
    # Drop nodes whose value never reaches the output (e.g. an unused branch).
    live = {output.name}
    kept: list[Node] = []
    for n in reversed(cap.nodes):
        if n.outputs[0] in live:
            kept.append(n)
            live.update(n.inputs)
    nodes = tuple(reversed(kept))
    return prune_tensors(
        Graph(
            name=name,
            input=ValueSpec(INPUT_NAME, shape3),
            output=output.name,
            nodes=nodes,
            tensors=cap.tensors,
            classes=None if classes is None else tuple(str(c) for c in classes),
            output_kind=kind,
            meta={
                "producer": {
                    "torch": torch.__version__.split("+")[0],
                    "numpy": np.__version__,
                    "source": f"torch.fx:{type(model).__name__}",
                },
                **(meta or {}),
            },
        )
    )
