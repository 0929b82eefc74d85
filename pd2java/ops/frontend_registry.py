"""Where each op family registers how it is read and written outside pd2java's own format.

Next to its shape rule and NumPy kernel (``pd2java.ops.registry.register``), an op family module
registers here:

- ``torch_module("torch.nn.ReLU", ops=("relu",))``: the lowering of a module type,
  ``fn(mod, x: Value) -> Lowered``;
- ``torch_function("torch.nn.functional.relu", "torch.relu", methods=("relu",), ops=("relu",))``:
  the lowering of functional and method forms, ``fn(call: Call) -> Lowered | Pending``;
- ``onnx_import("Relu", ops=("relu",), form="...")``: the mapping of an ONNX op type onto the IR,
  ``fn(im, node)`` with the reader's importer (``pd2java.frontends.onnx``);
- ``onnx_export("relu", 1, doc="`Relu`")``: how the ONNX writer emits the op,
  ``fn(e, node)`` with the writer's emitter (``pd2java.backends.onnx``).

Torch targets are qualified-name strings, resolved to objects only by the fx front end, so this
module and the families import neither torch nor onnx (the NumPy reference loads the families).
The front ends and the ONNX writer are generic walkers dispatching through these tables; the
supported-forms lists in their error messages, docs/EXPORT.md and docs/ONNX.md are derived from
them (``python -m pd2java.generate``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pd2java.ops.registry import FAMILIES, implemented
from pd2java.ops.table import OP_LIST, current_version, lookup

TorchKind = Literal["module", "function", "method"]

# Ops that have no mapping on one side, with the reason (shown in docs; checked by the tests).
# Every op of the table must either be listed here or be registered on that side.
NO_TORCH_LOWERING: dict[str, str] = {
    "constant": "not a torch construct of its own: the front end writes it for a number or a "
    "tensor of the model used as an operand of add, sub, mul or div (see those rows)",
}
NO_ONNX_IMPORT: dict[str, str] = {
    "adaptive_avg_pool2d": "ONNX has no adaptive pool to arbitrary sizes; torch.onnx.export writes "
    "one whose input extents are multiples of the output extents as AveragePool, read as "
    "avg_pool2d",
    "adaptive_max_pool2d": "ONNX has no adaptive pool to arbitrary sizes; torch.onnx.export writes "
    "one whose input extents are multiples of the output extents as MaxPool, read as max_pool2d",
}
NO_ONNX_EXPORT: dict[str, str] = {}

# A graph whose last op is one of these gives probabilities; any other ends in logits.
PROBABILITY_OPS: tuple[str, ...] = ("softmax", "sigmoid")


def output_kind(last_op: str) -> str:
    """``"probabilities"`` for a graph ending in softmax or sigmoid, else ``"logits"``."""
    return "probabilities" if last_op in PROBABILITY_OPS else "logits"


def _load() -> None:
    """Import every module that registers here: the op families and the pass-through forms."""
    implemented()
    importlib.import_module("pd2java.ops.passthrough")


def _table_order(
    ops: tuple[str, ...], role: str = "op", handler: Callable[..., Any] | None = None
) -> tuple[int, int, int]:
    """Sort key: registrations in op-table order whatever order the modules were imported in;
    pass-through and folding entries after every op. Ties (entries of no op, or of the same op
    from two modules) go by the registering module's place in the family list, so the order
    never depends on which module happened to be imported first; within one module, the
    registration order stands (the sorts are stable)."""
    roles = ("op", "removed", "constant", "folded")
    names = [spec.name for spec in OP_LIST]
    first = min((names.index(op) for op in ops), default=len(names))
    modules = [f"pd2java.ops.{family}" for family in FAMILIES] + ["pd2java.ops.passthrough"]
    module = getattr(handler, "__module__", "")
    rank = modules.index(module) if module in modules else len(modules)
    return (roles.index(role), first, rank)


def _check_ops(ops: tuple[str, ...], where: str) -> None:
    for op in ops:
        lookup(op, current_version(op), where=where)


# --- torch ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TorchForm:
    """One torch construct a family lowers.

    ``target``: a qualified name (``"torch.nn.Conv2d"``, ``"torch.nn.functional.relu"``,
    ``"operator.add"``) or, for ``kind == "method"``, the method name (``"relu"``). ``shown`` is
    how docs and error messages write it; ``listed`` False keeps an alias out of those lists.
    ``ops`` are the table ops the lowering may produce (empty: the input passes through).
    """

    kind: TorchKind
    target: str
    shown: str
    ops: tuple[str, ...]
    lower: Callable[..., Any]
    note: str = ""
    listed: bool = True


TORCH_FORMS: list[TorchForm] = []


def _shown(kind: TorchKind, target: str) -> str:
    if kind == "method":
        return f"x.{target}()"
    if kind == "module":
        return target.rsplit(".", 1)[-1]
    if target.startswith("torch.nn.functional."):
        return "F." + target.rsplit(".", 1)[-1]
    return target


def _add_torch(form: TorchForm) -> None:
    for old in TORCH_FORMS:
        if (old.kind, old.target) == (form.kind, form.target):
            raise RuntimeError(f"torch {form.kind} {form.target} registered twice")
    _check_ops(form.ops, f"torch {form.kind} {form.target}")
    TORCH_FORMS.append(form)


def torch_module(
    target: str, *, ops: tuple[str, ...], shown: str | None = None, note: str = ""
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn(mod, x: Value) -> Lowered`` for modules of exactly the type ``target``
    (a subclass may override forward, so it is traced through instead)."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        _add_torch(TorchForm("module", target, shown or _shown("module", target), ops, fn, note))
        return fn

    return deco


def torch_function(
    *targets: str,
    methods: tuple[str, ...] = (),
    ops: tuple[str, ...],
    shown: dict[str, str] | None = None,
    note: str = "",
    aliases: tuple[str, ...] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn(call: Call) -> Lowered | Pending`` for the functions ``targets``
    (qualified names), the tensor methods ``methods`` and unlisted ``aliases`` (functions
    matched but not shown). ``shown`` overrides how a target or method is written in docs."""
    shown = shown or {}

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        for t in targets:
            _add_torch(
                TorchForm("function", t, shown.get(t) or _shown("function", t), ops, fn, note)
            )
        for m in methods:
            _add_torch(TorchForm("method", m, shown.get(m) or _shown("method", m), ops, fn, note))
        for a in aliases:
            _add_torch(TorchForm("function", a, a, ops, fn, note, listed=False))
        return fn

    return deco


def torch_forms() -> list[TorchForm]:
    """Every registered torch form, in op-table order (pass-through forms last)."""
    _load()
    return sorted(
        TORCH_FORMS,
        key=lambda f: _table_order(f.ops, "op" if f.ops else "removed", f.lower),
    )


def supported_torch() -> str:
    """The one-line list of supported torch forms used in error messages."""
    forms = [f for f in torch_forms() if f.listed]
    modules = ", ".join(f.shown for f in forms if f.kind == "module")
    calls = ", ".join(f.shown for f in forms if f.kind != "module")
    return f"modules: {modules}; functions and methods: {calls}"


# --- ONNX -----------------------------------------------------------------------------------

OnnxRole = Literal["op", "removed", "folded", "constant"]


@dataclass(frozen=True)
class OnnxImport:
    """The mapping of ONNX op types onto the IR.

    ``role``: ``"op"`` maps onto table ``ops``; ``"removed"`` passes its input through;
    ``"constant"`` is folded into a constant; ``"folded"`` is constant arithmetic accepted only
    when every input is constant (listed apart in error messages). ``form`` documents what is
    accepted; ``shown`` overrides how the op types are written in docs.
    """

    op_types: tuple[str, ...]
    role: OnnxRole
    ops: tuple[str, ...]
    form: str
    handler: Callable[..., None]
    ir: str = ""
    shown: str = ""


ONNX_IMPORTS: dict[str, OnnxImport] = {}
_ONNX_IMPORT_ORDER: list[OnnxImport] = []


def onnx_import(
    *op_types: str,
    ops: tuple[str, ...] = (),
    form: str = "",
    role: OnnxRole = "op",
    ir: str = "",
    shown: str = "",
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register ``fn(im, node)`` as the reader of ONNX ``op_types``."""
    if role == "op" and not ops:
        raise RuntimeError(f"ONNX {op_types} maps onto no op")
    _check_ops(ops, f"ONNX {'/'.join(op_types)}")

    def deco(fn: Callable[..., None]) -> Callable[..., None]:
        entry = OnnxImport(tuple(op_types), role, tuple(ops), form, fn, ir, shown)
        for op_type in op_types:
            if op_type in ONNX_IMPORTS:
                raise RuntimeError(f"ONNX op {op_type} registered twice")
            ONNX_IMPORTS[op_type] = entry
        _ONNX_IMPORT_ORDER.append(entry)
        return fn

    return deco


def onnx_imports() -> list[OnnxImport]:
    """Every ONNX import mapping, in op-table order (removed and folded op types last)."""
    _load()
    return sorted(_ONNX_IMPORT_ORDER, key=lambda m: _table_order(m.ops, m.role, m.handler))


@dataclass(frozen=True)
class PatternMatch:
    """One instance of a fused pattern found in a model.

    ``nodes``: the pattern's ONNX nodes other than its anchor (its last node), each output of
    which is used only inside the pattern: the reader skips them. ``inputs``: the values the
    pattern reads from outside (the computed input first). ``finish(im, anchor)`` emits the single
    IR op when the reader reaches the anchor; if it raises ``UserError`` (a check that needs the
    computed shapes failed), the pattern's nodes are read one by one instead.
    """

    nodes: tuple[Any, ...]
    inputs: tuple[str, ...]
    finish: Callable[..., None]


@dataclass(frozen=True)
class OnnxPattern:
    """A multi-node ONNX subgraph read as one IR op: ``match(view, anchor) -> PatternMatch |
    None`` tried on every node whose op type is in ``anchors`` (``view``: the reader's
    ``PatternView`` of the model); ``shown`` the decomposition as documented, ``form`` the
    conditions."""

    name: str
    anchors: tuple[str, ...]
    ops: tuple[str, ...]
    shown: str
    form: str
    match: Callable[..., Any]


ONNX_PATTERNS: list[OnnxPattern] = []


def onnx_pattern(
    name: str, *, anchors: tuple[str, ...], ops: tuple[str, ...], shown: str, form: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn(view, anchor) -> PatternMatch | None`` as the matcher of pattern ``name``;
    the reader tries the patterns before mapping the nodes one by one."""
    _check_ops(ops, f"ONNX pattern {name}")

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        if any(p.name == name for p in ONNX_PATTERNS):
            raise RuntimeError(f"ONNX pattern {name} registered twice")
        ONNX_PATTERNS.append(OnnxPattern(name, anchors, ops, shown, form, fn))
        return fn

    return deco


def onnx_patterns() -> list[OnnxPattern]:
    """Every fused ONNX pattern, in op-table order."""
    _load()
    return sorted(ONNX_PATTERNS, key=lambda p: _table_order(p.ops, "op", p.match))


@dataclass(frozen=True)
class OnnxExport:
    """How the ONNX writer emits one ``name@version``; ``doc`` describes the ONNX it writes."""

    key: str
    doc: str
    emit: Callable[..., None]


ONNX_EXPORTS: dict[str, OnnxExport] = {}


def onnx_export(
    name: str, version: int, *, doc: str
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register ``fn(e, node)`` as the ONNX writer of ``name@version``."""
    spec = lookup(name, version)

    def deco(fn: Callable[..., None]) -> Callable[..., None]:
        if spec.key in ONNX_EXPORTS:
            raise RuntimeError(f"ONNX export of {spec.key} registered twice")
        ONNX_EXPORTS[spec.key] = OnnxExport(spec.key, doc, fn)
        return fn

    return deco


def onnx_exports() -> dict[str, OnnxExport]:
    """Every ONNX export mapping, by op key."""
    _load()
    return dict(ONNX_EXPORTS)


# --- completeness ---------------------------------------------------------------------------


def coverage_gaps() -> list[str]:
    """Each op of the table lacking a torch lowering, an ONNX import or an ONNX export without
    being listed as such (with a reason) above; and each such listing that is stale."""
    lowered = {op for f in torch_forms() for op in f.ops}
    imported = {op for m in onnx_imports() for op in m.ops} | {
        op for p in onnx_patterns() for op in p.ops
    }
    exported = {key.split("@")[0] for key in onnx_exports()}
    gaps = []
    for side, have, exempt in (
        ("torch lowering", lowered, NO_TORCH_LOWERING),
        ("ONNX import", imported, NO_ONNX_IMPORT),
        ("ONNX export", exported, NO_ONNX_EXPORT),
    ):
        for spec in OP_LIST:
            if spec.name in have and spec.name in exempt:
                gaps.append(f"{spec.name}: has a {side} but is listed as lacking one")
            elif spec.name not in have and spec.name not in exempt:
                gaps.append(f"{spec.name}: no {side} (register one, or list it with a reason)")
    return gaps


# --- ways around unsupported constructs -----------------------------------------------------


HintText = Callable[[Any, "tuple[int, ...] | None"], "str | None"]


@dataclass(frozen=True)
class Hint:
    """The way around an unsupported construct, shown with its finding.

    ``text``: one sentence, or ``fn(subject, shape) -> str | None`` working it out from the
    subject (the torch module, or the ONNX node's decoded attributes) and the per-sample input
    shape (None: nothing exact to say for this instance). ``refused``: False for a construct
    nothing is registered for, shown only while that is so (a registration makes it supported);
    True for a registered construct whose lowering refuses a setting. ``needs``: the torch
    qualified names or ONNX op types the sentence recommends; the hint is shown only while each of
    them is registered, so a hint never recommends something unsupported.
    """

    text: str | HintText
    refused: bool = False
    needs: tuple[str, ...] = ()


def _size_pair(value: Any, shape: tuple[int, ...] | None) -> tuple[int, int] | None:
    """An adaptive pool's output size as (h, w); None (keep the input's) resolved from shape."""
    if shape is None or len(shape) != 3:
        return None
    pair = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
    if len(pair) != 2:
        return None
    return (
        shape[1] if pair[0] is None else int(pair[0]),
        shape[2] if pair[1] is None else int(pair[1]),
    )


def _adaptive(pool: str) -> HintText:
    def text(mod: Any, shape: tuple[int, ...] | None) -> str | None:
        size = _size_pair(getattr(mod, "output_size", None), shape)
        if size is None or shape is None or min(size) < 1:
            return None
        (h, w), (oh, ow) = shape[1:], size
        if h % oh or w % ow:
            return (
                f"adaptive pooling of {h}x{w} to {oh}x{ow} has unequal windows, which no "
                "supported op computes"
            )
        kernel = (h // oh, w // ow)
        return (
            f"on this {h}x{w} input, nn.{pool}(kernel_size={kernel}) gives the same {oh}x{ow} "
            "output"
        )

    return text


def _zero_pad(mod: Any, shape: tuple[int, ...] | None) -> str | None:
    pad = getattr(mod, "padding", None)
    if not isinstance(pad, (list, tuple)) or len(pad) != 4:
        return None
    left, right, top, bottom = (int(p) for p in pad)
    if left != right or top != bottom or min(pad) < 0:
        return None
    return (
        f"directly before a Conv2d with zero padding (ph, pw), drop it and give the conv "
        f"padding=(ph + {top}, pw + {left}) instead: the same output"
    )


# Unsupported torch constructs with a known way around them, by qualified name (a module type,
# "torch.nn.functional.x" / "torch.x" for functions, "Tensor.x" for methods). Few and exact:
# each sentence must hold for the op set as it is; `needs` keeps it honest when that changes.
TORCH_HINTS: dict[str, Hint] = {
    "torch.nn.AdaptiveAvgPool2d": Hint(
        _adaptive("AvgPool2d"), refused=True, needs=("torch.nn.AvgPool2d",)
    ),
    "torch.nn.AdaptiveMaxPool2d": Hint(
        _adaptive("MaxPool2d"), refused=True, needs=("torch.nn.MaxPool2d",)
    ),
    "torch.nn.ZeroPad2d": Hint(_zero_pad, needs=("torch.nn.Conv2d",)),
    "torch.nn.Upsample": Hint("not supported yet: no lowering is registered for it"),
    "torch.nn.functional.interpolate": Hint("not supported yet: no lowering is registered for it"),
}

# The same for ONNX op types.
ONNX_HINTS: dict[str, Hint] = {
    "Resize": Hint("not supported yet: no import mapping is registered for it"),
    "Upsample": Hint("not supported yet: no import mapping is registered for it"),
    "Pad": Hint(
        "a constant-zero Pad directly before a Conv, symmetric in H and W, can be folded into "
        "that Conv's own pads",
        needs=("Conv",),
    ),
    "Einsum": Hint(
        "an einsum that is a matrix product with a constant weight, written as nn.Linear (Gemm) "
        "in the source model, is supported",
        needs=("Gemm",),
    ),
}


def torch_form_named(target: str) -> TorchForm | None:
    """The registered torch form of a qualified name (``Tensor.x`` for a method), or None."""
    for form in torch_forms():
        name = f"Tensor.{form.target}" if form.kind == "method" else form.target
        if name == target:
            return form
    return None


def _hint_text(
    hint: Hint | None, registered: bool, is_registered: Callable[[str], bool], *args: Any
) -> str:
    if hint is None or hint.refused != registered or not all(map(is_registered, hint.needs)):
        return ""
    text = hint.text(*args) if callable(hint.text) else hint.text
    return text or ""


def torch_hint(
    target: str, *, registered: bool, subject: Any = None, shape: tuple[int, ...] | None = None
) -> str:
    """The way around a refused torch construct: its hint (if one applies) and, for a registered
    construct refused for a setting, the forms of it that are supported; "" if nothing is known.

    ``registered`` says whether the front end found a lowering for the construct (it matches
    objects, not names); ``subject`` is the module (or None); ``shape`` its per-sample input shape.
    """
    parts = [
        _hint_text(
            TORCH_HINTS.get(target),
            registered,
            lambda name: torch_form_named(name) is not None,
            subject,
            shape,
        )
    ]
    form = torch_form_named(target) if registered else None
    if form is not None and form.ops and form.shown != _shown(form.kind, form.target):
        # the shown form names the supported setting: "AdaptiveAvgPool2d(1)", "Hardtanh(0, 6)"
        parts.append(f"{form.shown} is {'/'.join(form.ops)}: supported")
    return "; ".join(p for p in parts if p)


def onnx_hint(
    op_type: str, *, attrs: dict[str, Any] | None = None, shape: tuple[int, ...] | None = None
) -> str:
    """The way around a refused ONNX node of ``op_type``: its hint (if one applies) and, for a
    mapped op type refused for a form, the form that is supported; "" if nothing is known."""
    _load()
    mapping = ONNX_IMPORTS.get(op_type)
    parts = [
        _hint_text(
            ONNX_HINTS.get(op_type), mapping is not None, ONNX_IMPORTS.__contains__, attrs, shape
        )
    ]
    if mapping is not None and mapping.form:
        parts.append(f"supported form: {mapping.form}")
    return "; ".join(p for p in parts if p)
