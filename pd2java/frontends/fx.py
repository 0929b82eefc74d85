"""torch.fx front end: capture an ``nn.Module`` as a pd2java IR graph.

The module is deep-copied, put in eval mode and traced symbolically; standard ``torch.nn`` modules
are leaves (``call_module``), everything else (nested Sequentials, custom blocks) is traced through.
Each fx node is then matched on its kind and target, never on a layer name:

- ``call_module``: by exact module type;
- ``call_function`` / ``call_method``: by function object or method name;

each through the lowering an op family registered (``pd2java.ops.frontend_registry``; the
families name torch objects by qualified name, resolved here). This module keeps only the graph
walking and the shape plumbing around reshapes (``x.size(0)``, ``x.shape[0]``). Dropout and
Identity (module or functional) are dropped: their output is their input. Shapes come from the op
shape rules and are cross-checked against torch.fx ShapeProp.

An unsupported node does not stop the walk: it is recorded as a ``Finding`` (its module path,
source line, what it is with its settings, why, and the way around it from the registrations'
hints) and gets a placeholder value shaped as ShapeProp saw it, so every later node is still
checked. Nodes refused only because an input is such a placeholder are not reported again. At the
end one ``UnsupportedModelError`` lists every finding; nothing is written.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import linecache
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from pd2java.errors import Finding, UnsupportedModelError, UserError
from pd2java.ir import Graph, Node, ValueSpec
from pd2java.ir.passes import prune_tensors
from pd2java.ops.frontend_registry import (
    TorchForm,
    output_kind,
    supported_torch,
    torch_forms,
    torch_hint,
)
from pd2java.ops.lowering import (
    BATCH,
    FLAT_SUFFIX,
    PREVIOUS,
    Call,
    Constant,
    ConstantOperand,
    Lowered,
    LoweredSeq,
    Opaque,
    Pending,
    Unsupported,
    Value,
    as_tensor,
    steps_of,
)
from pd2java.ops.registry import ShapeError, impl
from pd2java.ops.table import current_version, supported_ops

INPUT_NAME = "input"


def _resolve(form: TorchForm) -> Any:
    """The torch object a registered qualified name denotes; None for a missing unlisted alias."""
    module, _, attr = form.target.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        if not form.listed:
            return None
        raise RuntimeError(f"registered torch {form.kind} {form.target} does not exist") from None
    return found


def _tables() -> tuple[dict[type, TorchForm], dict[Any, TorchForm], dict[str, TorchForm]]:
    modules: dict[type, TorchForm] = {}
    functions: dict[Any, TorchForm] = {}
    methods: dict[str, TorchForm] = {}
    for form in torch_forms():
        if form.kind == "method":
            methods[form.target] = form
            continue
        obj = _resolve(form)
        if obj is None:
            continue
        if form.kind == "module":
            modules[obj] = form
        elif obj not in functions:  # two names of one function (an alias): the first wins
            functions[obj] = form
    return modules, functions, methods


# Tensor methods that only rearrange a tensor attribute of the model: with constant arguments,
# their result is another constant (``F.linear(x, self.w.t().contiguous())``).
_CONSTANT_VIEWS = frozenset(
    {"view", "reshape", "flatten", "squeeze", "unsqueeze", "t", "transpose", "permute"}
    | {"contiguous", "detach", "float"}
)

# Exact module types, function objects and method names -> the family's registered lowering.
_MODULES, _FUNCTIONS, _METHODS = _tables()

SUPPORTED_TORCH = supported_torch()


# --- values tracked while walking the fx graph ------------------------------------------------


_Tensor = Value  # an IR value: its name and per-sample shape


@dataclass(frozen=True)
class _BatchSize:
    """``x.size(0)`` / ``x.shape[0]``: only usable as the first argument of view/reshape."""


@dataclass(frozen=True)
class _ShapeOf:
    """``x.shape`` / ``x.size()``: only indexable at 0."""

    tensor: _Tensor


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


def _qualname(fn: Any) -> str:
    """A function's public qualified name: ``torch.cumsum``, ``torch.nn.functional.relu``."""
    name = getattr(fn, "__name__", None)
    if name is None:
        return str(fn)
    for prefix, home in (
        ("torch.nn.functional", torch.nn.functional),
        ("torch", torch),
        ("operator", operator),
    ):
        if getattr(home, name, None) is fn:
            return f"{prefix}.{name}"
    module = (getattr(fn, "__module__", None) or "").replace("_operator", "operator")
    return f"{module}.{name}" if module else name


def _module_name(cls: type) -> str:
    """A module type's public qualified name: ``torch.nn.LSTM``, else module.Class."""
    if getattr(nn, cls.__name__, None) is cls:
        return f"torch.nn.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _short(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Refused(Exception):
    """Internal: unsupported construct at the current node (message without location)."""


@dataclass(frozen=True)
class _Failed:
    """The value of a refused node that is no single tensor (e.g. LSTM's (output, (h, c)))."""

    name: str


# --- the capture ------------------------------------------------------------------------------


class _Capture:
    def __init__(self, gm: fx.GraphModule, input_shape: tuple[int, ...]) -> None:
        self.gm = gm
        self.input_shape = input_shape
        self.values: dict[fx.Node, Any] = {}
        self.nodes: list[Node] = []
        self.tensors: dict[str, np.ndarray] = {}
        self.tensor_owner: dict[str, int] = {}  # name -> id(tensor) (a module called twice)
        self.used_names: set[str] = {INPUT_NAME}
        self.fx_shapes: dict[str, tuple[int, ...]] = {}
        # tensor attributes of the model reached by get_attr (and their flat views), by name
        self.constants: dict[str, torch.Tensor] = {}

    # helpers ----------------------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        """An fx argument as a lowering sees it: run-time values as ``Value``, ``Pending``,
        ``BATCH`` or ``Opaque``; constants unchanged."""
        if isinstance(value, fx.Node):
            got = self.values.get(value)
            if isinstance(got, (Value, Pending, Constant)):
                return got
            if isinstance(got, _BatchSize):
                return BATCH
            return Opaque(value.name)
        if isinstance(value, (list, tuple)):
            items = [self.resolve(v) for v in value]
            return items if isinstance(value, list) else tuple(items)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return value

    def call_of(self, node: fx.Node) -> Call:
        """The node's arguments as a ``Call``, run-time values resolved."""
        return Call(
            tuple(self.resolve(a) for a in node.args),
            {k: self.resolve(v) for k, v in node.kwargs.items()},
        )

    def tensor_arg(self, value: Any) -> _Tensor:
        try:
            return as_tensor(self.resolve(value))
        except Unsupported as exc:
            raise _Refused(str(exc)) from None

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
        *,
        last: bool = True,
    ) -> _Tensor:
        if lowered.op is None:
            return inputs[0]
        inputs = [self.operand(fx_node, t) if isinstance(t, ConstantOperand) else t for t in inputs]
        name = self.unique(fx_node.name)
        node = Node(
            name=name,
            op=lowered.op,
            version=current_version(lowered.op) if lowered.version is None else lowered.version,
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
        if last and meta is not None and hasattr(meta, "shape"):
            self.fx_shapes[name] = tuple(int(d) for d in meta.shape[1:])
        return _Tensor(name, tuple(out_shape))

    def operand(self, fx_node: fx.Node, c: ConstantOperand) -> _Tensor:
        """A constant operand (a number, a tensor of the model) as a ``constant`` node: a value
        with no inputs, held in its own IR tensor of the operand's per-sample shape."""
        if c.source is not None:
            tensor = self.constants[c.source.name]
            if tuple(tensor.shape) == c.shape:
                key = self.add_param(c.source.name, tensor)
            else:  # a (1, C, 1, 1) buffer stored as (C, 1, 1), say
                key = f"{c.source.name}_per_sample"
                if key not in self.tensors:
                    arr = tensor.detach().to(torch.float32).cpu().numpy().reshape(c.shape)
                    self.tensors[key] = np.ascontiguousarray(arr)
                    self.tensor_owner[key] = id(tensor)
        else:
            assert c.value is not None
            key, i = f"{fx_node.name}.constant", 1
            while key in self.tensors:
                key, i = f"{fx_node.name}.constant_{i}", i + 1
            self.tensors[key] = np.ascontiguousarray(c.value, dtype=np.float32)
            self.tensor_owner[key] = id(c)
        name = self.unique(f"{fx_node.name}_constant")
        shape = impl("constant@1").infer({}, [tuple(self.tensors[key].shape)])
        self.nodes.append(
            Node(
                name=name,
                op="constant",
                version=1,
                inputs=(),
                outputs=(name,),
                attrs={},
                params={"value": key},
                origin=origin_of(fx_node),
                output_shape=tuple(shape),
            )
        )
        return _Tensor(name, tuple(shape))

    def emit_steps(
        self,
        fx_node: fx.Node,
        lowered: Lowered | LoweredSeq,
        inputs: list[_Tensor],
        params_of: Any = None,
    ) -> _Tensor:
        """The IR nodes of a lowering: one per step of a ``LoweredSeq``, each fed the previous
        step's output (where a later step names its inputs, ``PREVIOUS`` among them).
        ``params_of(step)`` resolves a step's parameter slots."""
        steps = steps_of(lowered)
        value: _Tensor | None = None
        for i, step in enumerate(steps):
            params = params_of(step) if params_of is not None else None
            if value is None:
                ins = inputs
            elif step.inputs:
                ins = [value if t is PREVIOUS else t for t in step.inputs]
            else:
                ins = [value]
            value = self.emit(fx_node, step, ins, params, last=i == len(steps) - 1)
        assert value is not None
        return value

    def get_attr(self, node: fx.Node) -> Constant:
        """A get_attr node: the model's tensor attribute (parameter, buffer or plain tensor) as a
        ``Constant`` named by its qualified name; the tensor is kept for the slots it fills."""
        target = str(node.target)
        obj: Any = self.gm
        for atom in target.split("."):
            obj = getattr(obj, atom, None)
        if not isinstance(obj, torch.Tensor):
            raise _Refused(
                f"attribute {target!r} of the model is a {type(obj).__name__}, not a tensor"
            )
        self.constants[target] = obj
        return Constant(target, tuple(int(d) for d in obj.shape))

    def constant_view(self, node: fx.Node) -> Constant:
        """``self.w.view(...)`` and the like with constant arguments: the rearranged tensor as a
        new constant, named ``<attribute>.<method>`` (``_1``, ``_2`` ... for different views)."""
        base = self.values[node.args[0]]
        rest = (node.args[1:], node.kwargs)
        if any(a is not node.args[0] for a in _node_args(node)):
            raise _Refused(
                f"{base.name}.{node.target}() with arguments computed at run time; only a view "
                "of a tensor attribute with constant arguments is a constant"
            )
        try:
            with torch.no_grad():
                tensor = getattr(self.constants[base.name].detach(), str(node.target))(
                    *rest[0], **rest[1]
                )
        except Exception as exc:  # noqa: BLE001 - torch's own error for bad view arguments
            raise _Refused(f"{base.name}.{node.target}() fails: {str(exc).splitlines()[0]}")
        stem = f"{base.name}.{node.target}"
        name, i = stem, 1
        while name in self.constants and not (
            self.constants[name].shape == tensor.shape and torch.equal(self.constants[name], tensor)
        ):
            name = f"{stem}_{i}"
            i += 1
        self.constants.setdefault(name, tensor)
        return Constant(name, tuple(int(d) for d in tensor.shape))

    def constant_param(self, name: str) -> str:
        """Store the tensor a function lowering names in a parameter slot (a ``Constant`` of
        its call, possibly flattened) once, under that name."""
        tensor = self.constants.get(name)
        base = name[: -len(FLAT_SUFFIX)]
        if tensor is None and name.endswith(FLAT_SUFFIX) and base in self.constants:
            tensor = self.constants[base].detach().reshape(-1)
            self.constants[name] = tensor  # the same object for every later use
        if tensor is None:  # pragma: no cover - a family bug
            raise RuntimeError(f"a lowering names parameter {name!r}, no tensor attribute")
        return self.add_param(name, tensor)

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
        form = _MODULES.get(type(mod))
        if form is None:
            raise _Refused(f"module type {type(mod).__name__} is not supported")
        if len(node.args) != 1 or node.kwargs:
            raise _Refused("a supported module must be called with exactly one tensor")
        x = self.tensor_arg(node.args[0])
        lowered = _lower(form, mod, x)
        if not isinstance(lowered, (Lowered, LoweredSeq)):  # pragma: no cover - a family bug
            raise TypeError(f"the lowering of {form.target} returned {lowered!r}")

        def params_of(step: Lowered) -> dict[str, str | None]:
            params: dict[str, str | None] = {}
            for slot, attr in step.params.items():
                if attr is None:
                    params[slot] = None
                    continue
                tensor = getattr(mod, attr)
                params[slot] = self.add_param(f"{node.target}.{attr}", tensor)
            return params

        first = steps_of(lowered)[0]
        return self.emit_steps(node, lowered, list(first.inputs) or [x], params_of)

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
            b = self.call_of(node).bind(["dim"], {"dim": None})
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
        # --- a view of a tensor attribute (self.w.view(-1)): another constant ---
        if (
            kind == "call_method"
            and target in _CONSTANT_VIEWS
            and node.args
            and isinstance(self.values.get(node.args[0]), Constant)
        ):
            return self.constant_view(node)
        # --- everything else: the op families' registered lowerings ---
        try:
            form = _METHODS.get(target) if kind == "call_method" else _FUNCTIONS.get(target)
        except TypeError:  # an unhashable target
            form = None
        if form is None:
            what = f"method .{target}()" if kind == "call_method" else _qualname(target)
            raise _Refused(f"{what} is not supported")
        lowered = _lower(form, self.call_of(node))
        if isinstance(lowered, Pending):
            return lowered
        inputs = list(steps_of(lowered)[0].inputs)
        if not inputs:
            inputs = [self.tensor_arg(node.args[0])] if node.args else []

        def params_of(step: Lowered) -> dict[str, str | None]:
            return {
                slot: None if ref is None else self.constant_param(ref)
                for slot, ref in step.params.items()
            }

        return self.emit_steps(node, lowered, inputs, params_of)


def _lower(form: TorchForm, *args: Any) -> Lowered | LoweredSeq | Pending:
    """Run a registered lowering; Unsupported becomes a refusal at the current node."""
    try:
        result = form.lower(*args)
    except Unsupported as exc:
        raise _Refused(str(exc)) from None
    if isinstance(result, LoweredSeq):
        stray = [s.op for s in result.steps if s.op not in form.ops]
        if stray:
            raise RuntimeError(  # pragma: no cover - a family registration bug
                f"the lowering of torch {form.kind} {form.target} gave ops {stray}, "
                f"registered as giving only {form.ops}"
            )
        return result
    if isinstance(result, Lowered) and (result.op is not None) != bool(form.ops):
        raise RuntimeError(  # pragma: no cover - a family registration bug
            f"the lowering of torch {form.kind} {form.target} gave op {result.op!r}, "
            f"registered as giving {form.ops}"
        )
    if isinstance(result, Lowered) and result.op is not None and result.op not in form.ops:
        raise RuntimeError(  # pragma: no cover - a family registration bug
            f"the lowering of torch {form.kind} {form.target} gave op {result.op!r}, "
            f"registered as giving only {form.ops}"
        )
    return result


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


# --- every unsupported node in one pass -----------------------------------------------------


def _node_args(node: fx.Node) -> list[fx.Node]:
    found: list[fx.Node] = []
    fx.node.map_arg((node.args, node.kwargs), found.append)
    return found


def _render(cap: _Capture, value: Any) -> str:
    """An fx argument as a finding shows it: ``tensor[2, 4, 4]`` for a tensor, else its repr."""
    if isinstance(value, fx.Node):
        got = cap.values.get(value)
        if isinstance(got, Value):
            return f"tensor[N, {', '.join(map(str, got.shape))}]"
        if isinstance(got, _BatchSize):
            return "x.size(0)"
        if isinstance(got, Constant):
            return f"self.{got.name}"
        return value.name
    if isinstance(value, (list, tuple)):
        items = ", ".join(_render(cap, v) for v in value)
        return (
            f"[{items}]"
            if isinstance(value, list)
            else f"({items}{',' if len(value) == 1 else ''})"
        )
    return _short(repr(value), 40)


def _what(cap: _Capture, node: fx.Node) -> tuple[str, str, Any]:
    """What a node is, with its settings or arguments; its qualified name; the module, if any."""
    if node.op == "call_module":
        mod = cap.gm.get_submodule(node.target)
        return f"{type(mod).__name__}({_short(mod.extra_repr())})", _module_name(type(mod)), mod
    args = [_render(cap, a) for a in node.args]
    args += [f"{k}={_render(cap, v)}" for k, v in node.kwargs.items()]
    if node.op == "call_method":
        owner = args[0] if args else "x"
        return f"{owner}.{node.target}({', '.join(args[1:])})", f"Tensor.{node.target}", None
    if node.op == "call_function":
        qual = _qualname(node.target)
        return f"{qual}({', '.join(args)})", qual, None
    return f"{node.op} {node.target!r}", str(node.target), None


def _registered(node: fx.Node, mod: Any) -> bool:
    if node.op == "call_module":
        return type(mod) in _MODULES
    if node.op == "call_method":
        return node.target in _METHODS
    try:
        return node.target in _FUNCTIONS
    except TypeError:  # an unhashable target
        return False


def _finding(cap: _Capture, node: fx.Node, reason: str) -> Finding:
    what, target, mod = _what(cap, node)
    shape = None
    first = node.args[0] if node.args else None
    if isinstance(first, fx.Node) and isinstance(cap.values.get(first), Value):
        shape = cap.values[first].shape
    if node.op == "call_module":
        module_path = str(node.target)
    else:
        stack = node.meta.get("nn_module_stack") or {}
        module_path = str(list(stack)[-1]) if stack else ""
    origin = origin_of(node)
    return Finding(
        node=f"fx node {node.name!r}",
        what=what,
        target=target,
        reason=reason,
        hint=torch_hint(target, registered=_registered(node, mod), subject=mod, shape=shape),
        module_path=module_path,
        location=origin,
    )


def _consequence(cap: _Capture, node: fx.Node) -> bool:
    """True if ``node`` was refused only because an input is the value of a refused node that is
    no single tensor: indexing it, or a supported construct applied to it."""
    if not any(isinstance(cap.values.get(a), _Failed) for a in _node_args(node)):
        return False
    if node.op == "call_function" and node.target in (operator.getitem, getattr):
        return True
    return _registered(
        node, cap.gm.get_submodule(node.target) if node.op == "call_module" else None
    )


def _placeholder(cap: _Capture, node: fx.Node) -> Any:
    """A refused node's value: a tensor of the per-sample shape ShapeProp recorded, so later nodes
    are still checked; ``_Failed`` when the value is no single tensor, or a refused view of a
    tensor attribute (no per-sample value: its users are not refused again as input-computed)."""
    if (
        node.op == "call_method"
        and node.args
        and isinstance(cap.values.get(node.args[0]), Constant)
    ):
        return _Failed(node.name)
    meta = node.meta.get("tensor_meta")
    shape = getattr(meta, "shape", None)
    if shape is not None and hasattr(meta, "dtype") and len(shape) >= 2:
        return _Tensor(cap.unique(node.name), tuple(int(d) for d in shape[1:]))
    return _Failed(node.name)


def _returned(result: Any) -> list[Any]:
    """What ``forward`` returns, as the flat list of its output values, flattened as
    ``pd2java.exporter.torch_outputs`` flattens the tensors torch computes (so the two orders
    agree); every value must be a traced tensor."""
    from pd2java.exporter import torch_outputs

    values = torch_outputs(result)
    for value in values:
        if not isinstance(value, fx.Node):
            raise _Refused(
                f"forward() returns {type(value).__name__}; pd2java needs tensors (one, or a "
                "tuple, list or dict of them)"
            )
    return values


def capture(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    name: str,
    classes: Sequence[str] | None = None,
    meta: dict[str, Any] | None = None,
) -> Graph:
    """The IR graph of ``model`` for per-sample input ``input_shape`` (any rank: (C, H, W)
    images, (C, L) sequences, (F,) feature vectors). ``forward`` returns a tensor, or a tuple,
    list or dict of tensors: the graph's outputs in that order (flattened), the first primary.

    ``model`` itself is not touched: a deep copy is put in eval mode and traced.
    """
    if not isinstance(model, nn.Module):
        raise UserError(f"export needs a torch.nn.Module, got {type(model).__name__}")
    shape3 = tuple(int(d) for d in input_shape)
    if not shape3 or any(d < 1 for d in shape3):
        raise UserError(
            f"input_shape must be one or more positive sizes (e.g. C, H, W), got {input_shape!r}"
        )
    private = copy.deepcopy(model).float().eval()
    gm = trace(private)
    try:
        with torch.no_grad():
            ShapeProp(gm).propagate(torch.zeros((2, *shape3)))
    except Exception as exc:  # noqa: BLE001 - any failure of the user's forward on this shape
        root = exc
        while root.__cause__ is not None:  # ShapeProp wraps the user's error in its own
            root = root.__cause__
        where = _user_frame(root) or _user_frame(exc)
        raise UserError(
            f"running {type(model).__name__} on an input of shape (N, {', '.join(map(str, shape3))})"
            f" failed" + (f" at {where}" if where else "") + f": {str(root).splitlines()[0]}"
        ) from None

    cap = _Capture(gm, shape3)
    outputs: list[Any] = []
    findings: list[Finding] = []
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
                cap.values[node] = cap.get_attr(node)
            elif node.op == "call_module":
                cap.values[node] = cap.call_module(node)
            elif node.op in ("call_function", "call_method"):
                cap.values[node] = cap.call(node)
            elif node.op == "output":
                outputs = [cap.tensor_arg(v) for v in _returned(node.args[0])]
        except _Refused as exc:
            if node.op == "output":
                findings.append(
                    Finding(
                        node="fx node 'output'",
                        what="the value forward() returns",
                        target="output",
                        reason=str(exc),
                        location=origin_of(node),
                    )
                )
                continue
            if not _consequence(cap, node):
                findings.append(_finding(cap, node, str(exc)))
            cap.values[node] = _placeholder(cap, node)
    if findings:
        raise UnsupportedModelError(
            f"cannot export {type(model).__name__}",
            findings,
            f"Supported ops: {supported_ops()}.\nSupported torch forms: {SUPPORTED_TORCH}.",
        )
    if not outputs or any(o.name == INPUT_NAME for o in outputs):
        raise UserError(f"{type(model).__name__} has no supported op between input and output")
    names = [o.name for o in outputs]
    if len(set(names)) != len(names):
        raise UserError(
            f"{type(model).__name__} returns the same tensor twice; pd2java outputs are distinct "
            "values"
        )
    for node in cap.nodes:  # the op shape rules must agree with what torch computed
        want = cap.fx_shapes.get(node.name)
        if want is not None and want != node.output_shape:
            raise RuntimeError(  # a pd2java lowering bug, not a user error
                f"internal: node {node.name!r} ({node.key}) shape {list(node.output_shape)} but "
                f"torch computed {list(want)}"
            )
    kinds = tuple(output_kind(next(n for n in cap.nodes if n.outputs[0] == v).op) for v in names)
    # Drop nodes whose value never reaches an output (e.g. an unused branch).
    live = set(names)
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
            outputs=tuple(names),
            nodes=nodes,
            tensors=cap.tensors,
            classes=None if classes is None else tuple(str(c) for c in classes),
            output_kinds=kinds,
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
