"""The ONNX front end: an ONNX model file as a pd2java IR ``Graph``.

Accepted: opset 13 or newer, one float32 image input (N, C, H, W) whose batch dimension is 1 or
symbolic and whose other dimensions are static, one output, and only the ops in
``SUPPORTED_ONNX_OPS`` in the forms the IR expresses exactly (docs/ONNX.md lists each form).
Everything else is a ``UserError`` naming the file, the ONNX node (name and op_type) and the rule;
nothing is written anywhere, since this module only reads.

How it works: nodes that cannot reach the graph output are dropped first; the fused patterns the
families register (``onnx_pattern``: torch's opset-17 decompositions of GELU, Mish, SiLU and
GroupNorm, and circular padding as Slice + Concat) are found among the rest; then they are
walked in file order, a pattern read as one op at its last node, with an environment mapping each
ONNX value to one of
- ``_Runtime``: an IR value computed per sample (its IR name and per-sample shape),
- ``_Const``: a constant array (an initializer, a ``Constant`` node, or a folded shape computation
  such as legacy exports' ``Shape -> Gather -> Unsqueeze -> Concat`` for ``x.view(x.size(0), -1)``;
  the symbolic batch size is the ``BATCH`` marker inside such arrays),
- ``_PartialMean``: a ``ReduceMean`` over H or W alone, valid only as the input of a second
  ``ReduceMean`` that completes the mean over H and W (``x.mean(3).mean(2)``).
An unsupported node does not stop the walk: it is recorded as a ``Finding`` (node name, op type
with its attributes, the rule, the way around it from the registrations' hints) and its outputs
get placeholder values shaped by ONNX shape inference or the declared value_info, so every later
node is still checked; nodes refused only because an input has no such shape are not reported
again. One ``UnsupportedModelError`` then lists every finding. Each op type is mapped by the
handler its op family registered (``onnx_import`` in
``pd2java.ops.<family>``); this module keeps the walk, the importer API those handlers use, the
structural ops (Identity, Dropout, Constant and constant folding) and the checks. Output shapes come
from the op shape rules and are checked against the model's declared output shape, its declared
value_info and ONNX's shape inference. External data is checked (inside the model's folder) before
a byte of it is read.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from pd2java.errors import Finding, UnsupportedModelError, UserError
from pd2java.ir import Graph, Node, ValueSpec
from pd2java.ops.frontend_registry import (
    ONNX_IMPORTS,
    PatternMatch,
    onnx_hint,
    onnx_import,
    onnx_imports,
    onnx_patterns,
    output_kind,
)
from pd2java.ops.onnx_conventions import (
    BATCH,
    META_CLASSES,
    MIN_OPSET,
    Const,
    OnnxValue,
    PartialMean,
    Runtime,
    int_list,
)
from pd2java.ops.registry import ShapeError, impl
from pd2java.ops.table import current_version

_Runtime, _Const, _PartialMean, _Value = Runtime, Const, PartialMean, OnnxValue

_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.]*")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_.]+")


def _clean(raw: str, fallback: str) -> str:
    """``raw`` unchanged when already plain ``[A-Za-z0-9_.]``; otherwise made so."""
    if _SAFE_NAME.fullmatch(raw):
        return raw
    cleaned = _UNSAFE_CHARS.sub("_", raw).strip("_.")
    return cleaned if cleaned and _SAFE_NAME.fullmatch(cleaned) else fallback


def _identifier(raw: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]+", "_", raw).strip("_")
    if not name:
        return "model"
    return name if not name[0].isdigit() else f"m_{name}"


class _Names:
    """Hands out unique names."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def claim(self, base: str) -> str:
        name, i = base, 1
        while name in self._used:
            name, i = f"{base}_{i}", i + 1
        self._used.add(name)
        return name


def _onnx_dims(value_info: onnx.ValueInfoProto) -> list[int | str | None] | None:
    """Dims of a tensor value: int, symbolic name, or None when unknown; None if no shape."""
    ttype = value_info.type.tensor_type
    if not ttype.HasField("shape"):
        return None
    dims: list[int | str | None] = []
    for d in ttype.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(str(d.dim_param))
        else:
            dims.append(None)
    return dims


def _tensors_of_graph(graph: onnx.GraphProto) -> list[onnx.TensorProto]:
    """Every TensorProto of a graph: initializers and node attributes, subgraphs included."""
    found = list(graph.initializer)
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == AttributeProto.TENSOR:
                found.append(attr.t)
            elif attr.type == AttributeProto.TENSORS:
                found.extend(attr.tensors)
            elif attr.type == AttributeProto.GRAPH:
                found.extend(_tensors_of_graph(attr.g))
            elif attr.type == AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    found.extend(_tensors_of_graph(sub))
    return found


def _check_external_data(model: onnx.ModelProto, path: Path) -> bool:
    """Refuse external data outside the model's folder; True if the model has any."""
    folder = path.parent.resolve()
    any_external = False
    for tensor in _tensors_of_graph(model.graph):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        any_external = True
        entries = {e.key: e.value for e in tensor.external_data}
        location = entries.get("location", "")
        where = f"{path}: initializer {tensor.name!r} stores its data externally at {location!r}"
        parts = re.split(r"[\\/]", location)
        if (
            not location
            or os.path.isabs(location)
            or location.startswith(("/", "\\"))
            or re.match(r"^[A-Za-z]:", location)
            or ".." in parts
        ):
            raise UserError(
                f"{where}: external data must be a relative path inside the model's folder "
                f"{folder} (no absolute path, drive or '..'); nothing was read"
            )
        resolved = (folder / location).resolve()
        if os.path.commonpath([folder, resolved]) != str(folder):
            raise UserError(
                f"{where}: it resolves to {resolved}, outside the model's folder {folder} "
                "(a symbolic link?); nothing was read"
            )
        if not resolved.is_file():
            raise UserError(f"{where}: that file does not exist in {folder}")
    return any_external


def _load(path: Path) -> tuple[onnx.ModelProto, int]:
    """Parse, check external data, load it, run the ONNX checker; return the model and opset."""
    if not path.is_file():
        raise UserError(f"{path}: no such ONNX file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, OSError) as exc:
        raise UserError(f"{path}: not a readable ONNX model ({exc})") from None
    opset = None
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            opset = int(entry.version)
    if opset is None:
        raise UserError(f"{path}: not an ONNX model: it imports no ai.onnx opset")
    if opset < MIN_OPSET:
        raise UserError(
            f"{path}: opset {opset} is older than {MIN_OPSET}, the oldest pd2java reads; re-export "
            f"with torch.onnx.export(..., opset_version=17) or convert it with "
            f"onnx.version_converter.convert_version(model, 17)"
        )
    if len(model.graph.sparse_initializer):
        raise UserError(f"{path}: sparse initializers are not supported")
    if _check_external_data(model, path):
        try:
            onnx.external_data_helper.load_external_data_for_model(model, str(path.parent))
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: cannot read its external data: {exc}") from None
    return model, opset


def _check(model: onnx.ModelProto, path: Path) -> None:
    """ONNX's own structural checks (types, attribute names, topological order)."""
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise UserError(f"{path}: invalid ONNX model: {exc}") from None


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


_int_list = int_list


def _disagree(dims: list[int | str | None], shape: tuple[int, ...]) -> bool:
    """True if ONNX dims (batch first) contradict a per-sample shape; unknown dims agree."""
    return len(dims) != len(shape) + 1 or any(
        isinstance(d, int) and d != s for d, s in zip(dims[1:], shape)
    )


class _NodeRefusal(UserError):
    """A refusal of the node being mapped; ``rule`` is the message without the location."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


def _show_attr(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if hasattr(value, "ListFields"):  # a tensor or graph attribute
        return "<" + type(value).__name__ + ">"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Importer:
    """The reader's state while walking one model; the API the families' ONNX handlers use."""

    def __init__(self, model: onnx.ModelProto, opset: int, path: Path) -> None:
        self.model = model
        self.opset = opset
        self.path = path
        self.env: dict[str, _Value] = {}
        self.nodes: list[Node] = []
        self.tensors: dict[str, np.ndarray] = {}
        self._tensor_keys: dict[tuple[str, str], str] = {}
        self.value_names = _Names()
        self.node_names = _Names()
        self.tensor_names = _Names()
        # The batch size when the graph input fixes it (an int), else None (symbolic): a fixed
        # batch B is read as the batch axis, so constant shapes may name it as B.
        self.fixed_batch: int | None = None
        self.consumers: dict[str, int] = {}
        self.node: onnx.NodeProto | None = None  # the node being mapped, for messages
        self.linear_from_matmul: dict[str, int] = {}  # IR value -> index in self.nodes

    # --- messages -----------------------------------------------------------------------------

    def where(self, node: onnx.NodeProto | None = None) -> str:
        node = node or self.node
        if node is None:
            return str(self.path)
        return f"{self.path}: ONNX node {node.name or '<unnamed>'!r} ({node.op_type})"

    def fail(self, rule: str) -> UserError:
        return _NodeRefusal(f"{self.where()}: {rule}", rule)

    # --- values -------------------------------------------------------------------------------

    def get(self, name: str) -> _Value:
        if name not in self.env:
            raise self.fail(
                f"input {name!r} is not defined before this node "
                "(nodes must be in topological order)"
            )
        return self.env[name]

    def runtime(self, name: str, what: str = "input") -> _Runtime:
        value = self.get(name)
        if isinstance(value, _PartialMean):
            raise UserError(
                f"{self.where()}: its {what} {name!r} is a ReduceMean over axes "
                f"{sorted(value.axes)} only; pd2java supports a mean over H and W together "
                "(axes [2, 3]) as global average pooling"
            )
        if isinstance(value, _Const):
            raise self.fail(
                f"its {what} {name!r} is a constant; pd2java needs it to be computed "
                "from the model input"
            )
        return value

    def const(self, name: str, what: str) -> _Const:
        value = self.get(name)
        if not isinstance(value, _Const):
            raise self.fail(
                f"its {what} {name!r} must be a constant (an initializer or a "
                "Constant node), not a value computed from the model input"
            )
        return value

    def param(self, const: _Const, array: np.ndarray, tag: str, what: str) -> str:
        """The IR tensor key for ``array`` derived from ``const`` (``tag`` names the change)."""
        if const.array.dtype == object or not np.issubdtype(array.dtype, np.floating):
            raise self.fail(
                f"{what} {const.source!r} has dtype {const.array.dtype}; "
                "pd2java weights are floating point"
            )
        key = (const.source, tag)
        if key not in self._tensor_keys:
            name = self.tensor_names.claim(_clean(const.source, "tensor"))
            self._tensor_keys[key] = name
            self.tensors[name] = np.ascontiguousarray(array, dtype=np.float32)
        return self._tensor_keys[key]

    def scalar(self, name: str, what: str) -> float:
        const = self.const(name, what)
        if const.array.size != 1 or const.array.dtype == object:
            raise self.fail(
                f"its {what} {name!r} must be a scalar, got shape {list(const.array.shape)}"
            )
        return float(const.array.reshape(()))

    def emit(
        self,
        op: str,
        inputs: list[_Runtime],
        output: str,
        attrs: dict[str, Any] | None = None,
        params: dict[str, str | None] | None = None,
        node_name: str | None = None,
        version: int | None = None,
    ) -> int:
        """Append an IR node writing ONNX value ``output``; return its index. Its output shape
        comes from the op's shape rule; a refusal of that rule is a refusal of this ONNX node.
        ``version`` None writes the op's newest version. A node with no inputs (``constant``)
        gets its parameter tensors' shapes as the shape rule's inputs."""
        assert self.node is not None
        attrs = attrs or {}
        version = current_version(op) if version is None else version
        shapes = [v.shape for v in inputs] or [
            tuple(self.tensors[t].shape) for t in (params or {}).values() if t is not None
        ]
        try:
            shape = impl(f"{op}@{version}").infer(attrs, shapes)
        except ShapeError as exc:
            raise self.fail(str(exc)) from None
        if any(d <= 0 for d in shape):
            raise self.fail(
                f"the output shape {list(shape)} per sample is empty; the input is "
                "too small for this kernel, stride and padding"
            )
        raw = node_name if node_name is not None else self.node.name
        fallback = f"{self.node.op_type}_{len(self.nodes)}"
        value = self.value_names.claim(_clean(output, fallback))
        self.nodes.append(
            Node(
                name=self.node_names.claim(_clean(raw, fallback) if raw else fallback),
                op=op,
                version=version,
                inputs=tuple(v.name for v in inputs),
                outputs=(value,),
                attrs=attrs,
                params=params or {},
                output_shape=tuple(int(d) for d in shape),
                origin=f"ONNX node {self.node.name!r} ({self.node.op_type})",
            )
        )
        self.env[output] = _Runtime(value, tuple(int(d) for d in shape))
        return len(self.nodes) - 1

    # --- helpers for the handlers -------------------------------------------------------------

    def attrs(self, node: onnx.NodeProto) -> dict[str, Any]:
        """The node's attributes, decoded."""
        return _attrs(node)

    def fold(self, node: onnx.NodeProto) -> None:
        """Fold ``node`` (Concat, Squeeze, Unsqueeze) whose data inputs are all constants: the
        result is a constant too (a shape computation, say)."""
        _FOLDERS[node.op_type](self, node)

    def image(self, name: str) -> _Runtime:
        """Input ``name`` as a computed (C, H, W) value."""
        value = self.runtime(name)
        if len(value.shape) != 3:
            raise self.fail(
                f"its input {name!r} has per-sample shape {list(value.shape)}; this op "
                "needs a (C, H, W) image"
            )
        return value

    def only_first_output(self, node: onnx.NodeProto, why: str) -> None:
        """Refuse a node whose second and later outputs are used."""
        for extra in node.output[1:]:
            if extra and self.consumers.get(extra, 0):
                raise self.fail(f"its output {extra!r} is used; {why}")

    def spatial(
        self, node: onnx.NodeProto, attrs: dict[str, Any], kernel: list[int]
    ) -> tuple[list[int], list[int], list[int]]:
        """strides, symmetric pads ([ph, pw], or [p] for a 1-D kernel) and dilations of a 2-D
        (or 1-D) Conv/pool node."""
        dims = len(kernel)
        if dims not in (1, 2):
            raise self.fail(f"kernel {kernel} is neither 2-D nor 1-D; pd2java supports those only")
        auto_pad = attrs.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
        if auto_pad not in ("NOTSET", "VALID"):
            raise self.fail(
                f"auto_pad={auto_pad!r} is not supported (only NOTSET with explicit pads, "
                "or VALID); re-export with explicit padding"
            )
        strides = int_list(attrs.get("strides", [1] * dims))
        dilations = int_list(attrs.get("dilations", [1] * dims))
        no_pads = [0] * 2 * dims
        pads = int_list(attrs.get("pads", no_pads)) if auto_pad == "NOTSET" else no_pads
        if len(strides) != dims or len(dilations) != dims or len(pads) != 2 * dims:
            raise self.fail(
                f"strides {strides}, dilations {dilations}, pads {pads} do not describe a "
                f"{dims}-D window"
            )
        if pads[:dims] != pads[dims:]:
            raise self.fail(
                f"pads {pads} are asymmetric; pd2java supports the same padding on both "
                "sides ([ph, pw, ph, pw])"
            )
        if min(strides) < 1 or min(dilations) < 1 or min(pads) < 0:
            raise self.fail(
                f"strides {strides}, dilations {dilations} and pads {pads} must be "
                "positive (pads non-negative)"
            )
        return strides, pads[:dims], dilations

    # --- the walk -----------------------------------------------------------------------------

    def run(self) -> Graph:
        g = self.model.graph
        initializer_names = {t.name for t in g.initializer}
        inputs = [i for i in g.input if i.name not in initializer_names]
        if len(inputs) != 1:
            raise UserError(
                f"{self.path}: the graph has {len(inputs)} inputs "
                f"({[i.name for i in inputs]}); pd2java models take exactly one"
            )
        graph_input = self._read_input(inputs[0])
        # After the interface checks, whose messages are clearer than the checker's.
        _check(self.model, self.path)
        for tensor in g.initializer:
            self.env[tensor.name] = _Const(self._to_array(tensor), tensor.name)
        live = self._live_nodes([o.name for o in g.output])
        findings: list[Finding] = []
        shapes: dict[str, list[int | str | None]] | None = None  # for placeholders, when needed
        unknown: set[str] = set()  # outputs of refused nodes with no known shape
        fused, skipped = self._match_patterns(live)
        for node in live:
            if id(node) in skipped:
                continue  # inside a fused pattern, read at the pattern's last node
            match = fused.get(id(node))
            if match is not None and not any(i in unknown for i in match.inputs):
                self.node = node
                try:
                    match.finish(self, node)
                    continue
                except UserError:
                    pass  # not the exact pattern after all: read its nodes one by one
            for one in [*(match.nodes if match is not None else ()), node]:
                self.node = one
                default_domain = one.domain in ("", "ai.onnx")
                mapping = ONNX_IMPORTS.get(one.op_type) if default_domain else None
                reason = ""
                if mapping is None:
                    reason = f"unsupported ONNX op {one.op_type!r}" + (
                        f" (domain {one.domain!r})" if one.domain else ""
                    )
                elif not any(i in unknown for i in one.input if i):
                    try:
                        mapping.handler(self, one)
                        continue
                    except UserError as exc:
                        reason = getattr(exc, "rule", "") or str(exc)
                        reason = reason.removeprefix(f"{self.where()}: ")
                if reason:  # else refused only because an input has no known shape: said already
                    findings.append(self._finding(one, reason, default_domain))
                if shapes is None:
                    shapes = self._known_shapes()
                self._placeholders(one, shapes, unknown)
        self.node = None
        if findings:
            raise UnsupportedModelError(
                f"{self.path}: cannot import",
                findings,
                f"Supported ONNX ops: {', '.join(SUPPORTED_ONNX_OPS)} (and, folded when their "
                f"inputs are constants: {', '.join(FOLDED_CONSTANT_OPS)}).",
            )
        return self._finish(graph_input, list(g.output))

    def _match_patterns(
        self, live: list[onnx.NodeProto]
    ) -> tuple[dict[int, PatternMatch], set[int]]:
        """The fused patterns (``onnx_pattern`` registrations) found among the live nodes: by
        the id of each pattern's last node, and the ids of the nodes inside them. Tried from the
        graph output backwards, so a pattern claims its nodes before a smaller one inside it."""
        view = PatternView(live, self.consumers, self.env)
        order = {id(node): i for i, node in enumerate(live)}
        fused: dict[int, PatternMatch] = {}
        claimed: set[int] = set()
        patterns = onnx_patterns()
        for node in reversed(live):
            if id(node) in claimed or node.domain not in ("", "ai.onnx"):
                continue
            for pattern in patterns:
                if node.op_type not in pattern.anchors:
                    continue
                match = pattern.match(view, node)
                if match is None or any(id(n) in claimed for n in match.nodes):
                    continue
                # In file order, so that reading them one by one (if finish refuses) works.
                nodes = tuple(sorted(match.nodes, key=lambda n: order.get(id(n), -1)))
                if len({id(n) for n in nodes}) != len(nodes) or any(
                    id(n) not in order for n in nodes
                ):
                    continue
                fused[id(node)] = PatternMatch(nodes, match.inputs, match.finish)
                claimed.add(id(node))
                claimed.update(id(n) for n in match.nodes)
                break
        return fused, {i for i in claimed if i not in fused}

    def _finding(self, node: onnx.NodeProto, reason: str, default_domain: bool) -> Finding:
        attrs = _attrs(node)
        shown = ", ".join(f"{k}={_show_attr(v)}" for k, v in attrs.items())
        first = self.env.get(node.input[0]) if node.input else None
        shape = first.shape if isinstance(first, _Runtime) else None
        return Finding(
            node=f"ONNX node {node.name or '<unnamed>'!r} ({node.op_type})",
            what=(f"{node.domain}." if node.domain else "")
            + (f"{node.op_type}({shown})" if shown else node.op_type),
            target=node.op_type,
            reason=reason,
            hint=onnx_hint(node.op_type, attrs=attrs, shape=shape) if default_domain else "",
        )

    def _known_shapes(self) -> dict[str, list[int | str | None]]:
        """Every value's dims by ONNX shape inference, else as declared (value_info, outputs)."""
        infos = [*self.model.graph.value_info, *self.model.graph.output]
        try:
            inferred = onnx.shape_inference.infer_shapes(self.model)
            infos = [*inferred.graph.value_info, *inferred.graph.output, *infos]
        except (onnx.shape_inference.InferenceError, ValueError):
            pass
        shapes: dict[str, list[int | str | None]] = {}
        for info in infos:
            dims = _onnx_dims(info)
            if dims is not None and info.name not in shapes:
                shapes[info.name] = dims
        return shapes

    def _placeholders(
        self, node: onnx.NodeProto, shapes: dict[str, list[int | str | None]], unknown: set[str]
    ) -> None:
        """Stand-in values for a refused node's outputs, so later nodes are still checked."""
        for output in node.output:
            if not output:
                continue
            dims = shapes.get(output)
            if dims and len(dims) >= 2 and all(isinstance(d, int) and d > 0 for d in dims[1:]):
                name = self.value_names.claim(_clean(output, f"{node.op_type}_out"))
                self.env[output] = _Runtime(name, tuple(int(d) for d in dims[1:]))  # type: ignore[arg-type]
            else:
                unknown.add(output)

    def _to_array(self, tensor: onnx.TensorProto) -> np.ndarray:
        try:
            return numpy_helper.to_array(tensor)
        except (ValueError, TypeError) as exc:
            raise UserError(f"{self.path}: tensor {tensor.name!r} cannot be read: {exc}") from None

    def _read_input(self, info: onnx.ValueInfoProto) -> ValueSpec:
        where = f"{self.path}: graph input {info.name!r}"
        if info.type.tensor_type.elem_type != TensorProto.FLOAT:
            raise UserError(
                f"{where} must be float32, got "
                f"{TensorProto.DataType.Name(info.type.tensor_type.elem_type)}"
            )
        dims = _onnx_dims(info)
        if dims is None:
            raise UserError(f"{where} has no shape; pd2java needs a static shape (N, ...)")
        if len(dims) < 2:
            raise UserError(
                f"{where} has shape {dims}; pd2java needs a batch axis followed by at least one "
                "per-sample axis, e.g. (N, F), (N, C, L) or (N, C, H, W)"
            )
        batch = dims[0]
        if isinstance(batch, int) and batch < 1:
            raise UserError(f"{where}: batch dimension {batch} must be positive or symbolic")
        self.fixed_batch = batch if isinstance(batch, int) else None
        if not all(isinstance(d, int) and d > 0 for d in dims[1:]):
            raise UserError(
                f"{where} has shape {dims}: only the batch dimension may be "
                "dynamic; every other dimension must be a fixed positive size"
            )
        shape = tuple(int(d) for d in dims[1:])  # type: ignore[arg-type]
        name = self.value_names.claim(_clean(info.name, "input"))
        self.env[info.name] = _Runtime(name, shape)
        return ValueSpec(name, shape)

    def _live_nodes(self, outputs: list[str]) -> list[onnx.NodeProto]:
        """Nodes the outputs depend on, in file order; counts consumers among them."""
        needed = set(outputs)
        live: list[onnx.NodeProto] = []
        for node in reversed(self.model.graph.node):
            if any(o in needed for o in node.output if o):
                live.append(node)
                needed.update(i for i in node.input if i)
        live.reverse()
        self.consumers = dict.fromkeys(outputs, 1)
        for node in live:
            for name in node.input:
                if name:
                    self.consumers[name] = self.consumers.get(name, 0) + 1
        return live

    def _finish(self, graph_input: ValueSpec, output_infos: list[onnx.ValueInfoProto]) -> Graph:
        if not output_infos:
            raise UserError(f"{self.path}: the graph has no output")
        nodes = list(self.nodes)
        names: list[str] = []
        for info in output_infos:
            value = self._output_value(graph_input, info)
            nodes, out_name = self._rename_output(nodes, value.name, info.name, graph_input.name)
            if out_name in names:
                raise UserError(
                    f"{self.path}: graph output {info.name!r} repeats the value of another "
                    "output; pd2java outputs are distinct values"
                )
            names.append(out_name)
        self._check_inferred_shapes()
        kinds = tuple(output_kind(next(n for n in nodes if v in n.outputs).op) for v in names)
        props = {p.key: p.value for p in self.model.metadata_props}
        classes = self._classes(props.get(META_CLASSES))
        used = {key for node in nodes for key in node.params.values() if key is not None}
        return Graph(
            name=_identifier(self.path.stem),
            input=graph_input,
            outputs=tuple(names),
            nodes=tuple(nodes),
            tensors={k: v for k, v in self.tensors.items() if k in used},
            classes=classes,
            output_kinds=kinds,
            meta={
                "source": "onnx",
                "onnx_opset": self.opset,
                "onnx_producer": " ".join(
                    p for p in (self.model.producer_name, self.model.producer_version) if p
                ),
                **({"onnx_fixed_batch": self.fixed_batch} if self.fixed_batch else {}),
            },
        )

    def _output_value(self, graph_input: ValueSpec, output_info: onnx.ValueInfoProto) -> _Runtime:
        value = self.env.get(output_info.name)
        if value is None:
            raise UserError(
                f"{self.path}: graph output {output_info.name!r} is produced by no node"
            )
        if isinstance(value, _Const):
            raise UserError(f"{self.path}: graph output {output_info.name!r} is a constant")
        if isinstance(value, _PartialMean):
            raise UserError(
                f"{self.path}: graph output {output_info.name!r} is a ReduceMean "
                f"over axes {sorted(value.axes)} only; pd2java supports a mean over "
                "H and W together"
            )
        if not self.nodes or value.name == graph_input.name:
            raise UserError(
                f"{self.path}: graph output {output_info.name!r} computes nothing (it is the "
                "graph input)"
            )
        declared = _onnx_dims(output_info)
        if declared is not None and _disagree(declared, value.shape):
            raise UserError(
                f"{self.path}: graph output {output_info.name!r} is declared with shape "
                f"{declared}, but its nodes compute (N, {', '.join(map(str, value.shape))})"
            )
        return value

    def _check_inferred_shapes(self) -> None:
        """Cross-check the shapes computed here with ONNX's own shape inference (and any declared
        value_info): a disagreement means pd2java would read an op differently from ONNX."""
        try:
            inferred = onnx.shape_inference.infer_shapes(self.model)
        except (onnx.shape_inference.InferenceError, ValueError):
            return  # ONNX cannot infer this model; the declared output was checked already
        for info in inferred.graph.value_info:
            value = self.env.get(info.name)
            dims = _onnx_dims(info)
            if isinstance(value, _Runtime) and dims is not None and _disagree(dims, value.shape):
                raise UserError(
                    f"{self.path}: value {info.name!r} has shape {dims} (declared, or by ONNX "
                    f"shape inference), but pd2java computes "
                    f"(N, {', '.join(map(str, value.shape))}); refusing rather than misreading"
                )

    def _rename_output(
        self, nodes: list[Node], current: str, onnx_name: str, input_name: str
    ) -> tuple[list[Node], str]:
        """Name an IR output after its ONNX output when a removed node (Identity, Dropout, the
        Add of a MatMul bias) left it under an inner value's name."""
        wanted = _clean(onnx_name, current)
        taken = {o for n in nodes for o in n.outputs} | {input_name}
        if wanted == current or wanted in taken:
            return nodes, current

        def swap(names: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(wanted if v == current else v for v in names)

        return [n.with_(inputs=swap(n.inputs), outputs=swap(n.outputs)) for n in nodes], wanted

    def _classes(self, raw: str | None) -> tuple[str, ...] | None:
        if raw is None:
            return None
        try:
            classes = json.loads(raw)
        except json.JSONDecodeError:
            classes = None
        if not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
            raise UserError(
                f"{self.path}: metadata {META_CLASSES!r} must be a JSON list of "
                f"strings, got {raw[:80]!r}"
            )
        return tuple(classes)


# --- fused patterns: the view their matchers read --------------------------------------------


class PatternView:
    """The live ONNX nodes as the fused-pattern matchers (``onnx_pattern``) see them, before the
    walk: which node produces a value, how many live nodes use it, and the constants known without
    reading any node (initializers and ``Constant`` nodes)."""

    def __init__(
        self, live: list[onnx.NodeProto], consumers: dict[str, int], env: dict[str, _Value]
    ) -> None:
        self.consumers = consumers
        self.producer = {o: n for n in live for o in n.output if o}
        self.constants = {k: v.array for k, v in env.items() if isinstance(v, _Const)}
        for node in live:
            if node.op_type == "Constant" and len(node.attribute) == 1 and node.output:
                attr = node.attribute[0]
                if attr.name == "value":
                    self.constants[node.output[0]] = numpy_helper.to_array(attr.t)
                elif attr.name in ("value_float", "value_floats", "value_int", "value_ints"):
                    self.constants[node.output[0]] = np.asarray(helper.get_attribute_value(attr))

    def inner(self, value: str, *op_types: str) -> onnx.NodeProto | None:
        """The node of one of ``op_types`` (default domain, one output) producing ``value`` when
        that value is used by exactly one node (so a pattern may absorb it), else None."""
        node = self.producer.get(value)
        if (
            node is None
            or node.op_type not in op_types
            or node.domain not in ("", "ai.onnx")
            or len([o for o in node.output if o]) != 1
            or self.consumers.get(value, 0) != 1
        ):
            return None
        return node

    def const(self, value: str) -> np.ndarray | None:
        """The numeric constant ``value`` (an initializer or a Constant node), else None."""
        array = self.constants.get(value)
        if array is None or array.dtype == object or not np.issubdtype(array.dtype, np.number):
            return None
        return array

    def scalar_is(self, value: str, target: float) -> bool:
        """``value`` is a one-element constant equal to ``target`` within float32 rounding."""
        array = self.const(value)
        if array is None or array.size != 1:
            return False
        v = float(array.reshape(-1)[0])
        return abs(v - target) <= float(np.spacing(np.float32(abs(target))))

    def product(self, value: str, root: onnx.NodeProto | None = None) -> tuple[list[str], list]:
        """The factors of the ``Mul`` tree computing ``value`` (``root``: its anchor, whose output
        may have any use) through inner ``Mul`` nodes, and those inner nodes."""
        node = root or self.inner(value, "Mul")
        if node is None or node.op_type != "Mul" or len(node.input) != 2:
            return [value], []
        factors: list[str] = []
        nodes: list[onnx.NodeProto] = [] if root is not None else [node]
        for operand in node.input:
            more, inner = self.product(operand)
            factors += more
            nodes += inner
        return factors, nodes


# --- structural ops: removed or folded, never an IR op of their own --------------------------


@onnx_import(
    "Dropout",
    "Identity",
    role="removed",
    ir="removed",
    form="Dropout's mask unused and `training_mode` absent or a constant false",
)
def _passthrough(im: Importer, node: onnx.NodeProto) -> None:
    if node.op_type == "Dropout":
        im.only_first_output(node, "the dropout mask is not available at inference")
        if len(node.input) > 2 and node.input[2]:
            mode = im.get(node.input[2])
            if not (isinstance(mode, _Const) and not bool(mode.array.reshape(-1)[0])):
                raise im.fail(
                    "Dropout in training mode is random; pd2java exports inference "
                    "models (training_mode must be a constant false)"
                )
    value = im.get(node.input[0])
    im.env[node.output[0]] = value


# --- constant folding -------------------------------------------------------------------------


# Constant arithmetic exporters emit: shape computations around Reshape, and Transpose of a weight
# (a bias-free Linear exported without constant folding). Folded when every input is constant or a
# Shape of a runtime value, never mapped onto an IR op.
_FOLDERS: dict[str, Any] = {}


def _folds(op_type: str) -> Any:
    def register(fn: Any) -> Any:
        _FOLDERS[op_type] = fn
        return fn

    return register


def _const_output(im: Importer, node: onnx.NodeProto, array: np.ndarray) -> None:
    im.env[node.output[0]] = _Const(np.asarray(array), node.output[0])


@onnx_import(
    "Constant",
    role="constant",
    ir="folded",
    form="`value`, `value_float(s)`, `value_int(s)`",
)
def _constant(im: Importer, node: onnx.NodeProto) -> None:
    attr = node.attribute[0] if len(node.attribute) == 1 else None
    if attr is None:
        raise im.fail("a Constant must have exactly one value attribute")
    if attr.name == "value":
        array = im._to_array(attr.t)
    elif attr.name in ("value_float", "value_floats"):
        array = np.asarray(helper.get_attribute_value(attr), dtype=np.float32)
    elif attr.name in ("value_int", "value_ints"):
        array = np.asarray(helper.get_attribute_value(attr), dtype=np.int64)
    else:
        raise im.fail(f"a Constant with {attr.name!r} is not supported")
    _const_output(im, node, array)


@_folds("Shape")
def _shape(im: Importer, node: onnx.NodeProto) -> None:
    value = im.get(node.input[0])
    constant = isinstance(value, _Const)
    dims: list[Any] = (
        list(value.array.shape) if constant else [BATCH, *im.runtime(node.input[0]).shape]
    )
    attrs = _attrs(node)
    start, end = int(attrs.get("start", 0)), attrs.get("end")
    dims = dims[start:] if end is None else dims[start : int(end)]
    _const_output(im, node, np.array(dims, dtype=np.int64 if constant else object))


def _folded_input(im: Importer, node: onnx.NodeProto, index: int) -> np.ndarray:
    return im.const(node.input[index], f"input {index}").array


@_folds("Gather")
def _gather(im: Importer, node: onnx.NodeProto) -> None:
    data = _folded_input(im, node, 0)
    indices = _folded_input(im, node, 1)
    axis = int(_attrs(node).get("axis", 0))
    _const_output(im, node, np.take(data, indices.astype(np.int64), axis=axis))


@_folds("Unsqueeze")
def _unsqueeze(im: Importer, node: onnx.NodeProto) -> None:
    data = _folded_input(im, node, 0)
    axes = sorted(
        int(a) % (data.ndim + len(_folded_input(im, node, 1).reshape(-1)))
        for a in _folded_input(im, node, 1).reshape(-1)
    )
    for axis in axes:
        data = np.expand_dims(data, axis)
    _const_output(im, node, data)


@_folds("Squeeze")
def _squeeze(im: Importer, node: onnx.NodeProto) -> None:
    data = _folded_input(im, node, 0)
    if len(node.input) > 1 and node.input[1]:
        axes = tuple(int(a) for a in _folded_input(im, node, 1).reshape(-1))
        _const_output(im, node, np.squeeze(data, axis=axes))
    else:
        _const_output(im, node, np.squeeze(data))


@_folds("Concat")
def _concat(im: Importer, node: onnx.NodeProto) -> None:
    parts = [_folded_input(im, node, i) for i in range(len(node.input))]
    if any(p.dtype == object for p in parts):
        parts = [p.astype(object) for p in parts]
    _const_output(im, node, np.concatenate(parts, axis=int(_attrs(node)["axis"])))


@_folds("Cast")
def _cast(im: Importer, node: onnx.NodeProto) -> None:
    data = _folded_input(im, node, 0)
    to = helper.tensor_dtype_to_np_dtype(int(_attrs(node)["to"]))
    # A shape vector holding the batch marker stays symbolic; its integers are already ints.
    _const_output(im, node, data if data.dtype == object else data.astype(to))


@_folds("Mod")
def _mod(im: Importer, node: onnx.NodeProto) -> None:
    a, b = _folded_input(im, node, 0), _folded_input(im, node, 1)
    if any(v.dtype == object or not np.issubdtype(v.dtype, np.integer) for v in (a, b)):
        raise im.fail("pd2java folds Mod only of integer constants (a shape computation)")
    if np.any(b == 0):
        raise im.fail("Mod by zero")
    # fmod=0 (the only form ONNX allows on integers besides fmod=1): the divisor's sign, as %
    fmod = int(_attrs(node).get("fmod", 0))
    _const_output(im, node, np.fmod(a, b) if fmod else np.mod(a, b))


@_folds("Transpose")
def _transpose(im: Importer, node: onnx.NodeProto) -> None:
    data = _folded_input(im, node, 0)
    perm = _attrs(node).get("perm")
    _const_output(im, node, np.transpose(data, None if perm is None else _int_list(perm)))


# A ConstantOfShape folded into an array larger than this is refused: constant folding is for
# shape computations (a few entries), not for materialising tensors.
MAX_FOLDED_ELEMENTS = 4096


@_folds("ConstantOfShape")
def _constant_of_shape(im: Importer, node: onnx.NodeProto) -> None:
    shape = _folded_input(im, node, 0)
    if shape.dtype == object or not np.issubdtype(shape.dtype, np.integer):
        raise im.fail(f"its shape {node.input[0]!r} must be constant integers")
    dims = _int_list(shape.reshape(-1))
    if min(dims, default=0) < 0 or math.prod(dims) > MAX_FOLDED_ELEMENTS:
        raise im.fail(
            f"shape {dims}: pd2java folds ConstantOfShape only for non-negative shapes of at most "
            f"{MAX_FOLDED_ELEMENTS} elements (a shape computation)"
        )
    value = _attrs(node).get("value")
    fill = np.zeros(1, np.float32) if value is None else im._to_array(value).reshape(-1)
    if fill.size != 1:
        raise im.fail(f"its value has {fill.size} elements; ONNX requires one")
    _const_output(im, node, np.full(dims, fill[0], dtype=fill.dtype))


@onnx_import(
    "Shape",
    "Gather",
    "Cast",
    "Transpose",
    "ConstantOfShape",
    "Mod",
    role="folded",
    ir="folded",
    form="only on constants (and `Shape` of a computed value, whose batch entry stays symbolic): "
    "the legacy exporter's `x.view(x.size(0), -1)`, the weight `Transpose` of a bias-free "
    "Linear exported without constant folding, the TorchScript exporter's computation of "
    "`F.pad`'s pads (`ConstantOfShape` up to "
    f"{MAX_FOLDED_ELEMENTS} elements) and its normalisation of `unflatten`'s dim (`Mod` of "
    "integers)",
)
def _fold(im: Importer, node: onnx.NodeProto) -> None:
    _FOLDERS[node.op_type](im, node)


# ONNX ops mapped onto the IR (Dropout/Identity are removed, Constant is folded), and the constant
# arithmetic folded only when its inputs are constant; both derived from the registrations.
SUPPORTED_ONNX_OPS: tuple[str, ...] = tuple(
    sorted(t for m in onnx_imports() if m.role != "folded" for t in m.op_types)
)
FOLDED_CONSTANT_OPS: tuple[str, ...] = tuple(
    sorted(t for m in onnx_imports() if m.role == "folded" for t in m.op_types)
)


def onnx_to_graph(path: str | os.PathLike[str]) -> Graph:
    """Read the ONNX model at ``path`` as a pd2java IR ``Graph``.

    Raises ``UserError`` naming the file, the ONNX node and the rule for anything pd2java cannot
    run exactly: older opsets, unsupported ops or op forms, dynamic non-batch shapes, several
    inputs or outputs, external data outside the model's folder. Reads only; writes nothing.
    """
    model_path = Path(path)
    model, opset = _load(model_path)
    return Importer(model, opset, model_path).run()
