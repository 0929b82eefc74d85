"""The ONNX front end: an ONNX model file as a pd2java IR ``Graph``.

Accepted: opset 13 or newer, one float32 image input (N, C, H, W) whose batch dimension is 1 or
symbolic and whose other dimensions are static, one output, and only the ops in
``SUPPORTED_ONNX_OPS`` in the forms the IR expresses exactly (docs/ONNX.md lists each form).
Everything else is a ``UserError`` naming the file, the ONNX node (name and op_type) and the rule;
nothing is written anywhere, since this module only reads.

How it works: nodes that cannot reach the graph output are dropped first; the rest are walked in
file order with an environment mapping each ONNX value to one of
- ``_Runtime``: an IR value computed per sample (its IR name and per-sample shape),
- ``_Const``: a constant array (an initializer, a ``Constant`` node, or a folded shape computation
  such as legacy exports' ``Shape -> Gather -> Unsqueeze -> Concat`` for ``x.view(x.size(0), -1)``;
  the symbolic batch size is the ``BATCH`` marker inside such arrays),
- ``_PartialMean``: a ``ReduceMean`` over H or W alone, valid only as the input of a second
  ``ReduceMean`` that completes the mean over H and W (``x.mean(3).mean(2)``).
Output shapes are computed here from the op semantics and checked against the model's declared
output shape, its declared value_info and ONNX's shape inference. External data is checked
(inside the model's folder) before a byte of it is read.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from pd2java.backends.onnx import META_CLASSES
from pd2java.errors import UserError
from pd2java.ir import Graph, Node, ValueSpec

MIN_OPSET = 13

# ONNX ops mapped onto the IR (Dropout/Identity are removed, Constant is folded).
SUPPORTED_ONNX_OPS: tuple[str, ...] = (
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Clip",
    "Constant",
    "Conv",
    "Dropout",
    "Flatten",
    "Gemm",
    "GlobalAveragePool",
    "Identity",
    "LeakyRelu",
    "MatMul",
    "MaxPool",
    "ReduceMean",
    "Relu",
    "Reshape",
    "Sigmoid",
    "Softmax",
)
# Constant arithmetic exporters emit: shape computations around Reshape, and Transpose of a weight
# (a bias-free Linear exported without constant folding). Folded when every input is constant or a
# Shape of a runtime value, never mapped onto an IR op.
FOLDED_CONSTANT_OPS: tuple[str, ...] = (
    "Cast",
    "Concat",
    "Gather",
    "Shape",
    "Squeeze",
    "Transpose",
    "Unsqueeze",
)


class _BatchMarker:
    """The symbolic batch size inside a folded shape vector."""

    def __repr__(self) -> str:
        return "N"


BATCH = _BatchMarker()


@dataclass(frozen=True)
class _Runtime:
    name: str  # IR value name
    shape: tuple[int, ...]  # per sample


@dataclass(frozen=True)
class _Const:
    array: np.ndarray
    source: str  # ONNX value it came from: the dedup key for IR tensors


@dataclass(frozen=True)
class _PartialMean:
    source: _Runtime  # the (C, H, W) value being averaged
    axes: frozenset[int]  # axes of the full (N, C, H, W) tensor averaged so far
    keepdims: bool
    node_name: str  # the first ReduceMean's name, used for the IR node


_Value = _Runtime | _Const | _PartialMean

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


def _float_attr(value: Any) -> float:
    """An ONNX float attribute (stored as float32) as the shortest decimal that rounds to it:
    PyTorch's eps=1e-5 comes back as 1e-05, not 9.999999747378752e-06, and is the same float32."""
    return float(str(np.float32(value)))


def _int_list(value: Any) -> list[int]:
    return [int(v) for v in value]


def _disagree(dims: list[int | str | None], shape: tuple[int, ...]) -> bool:
    """True if ONNX dims (batch first) contradict a per-sample shape; unknown dims agree."""
    return len(dims) != len(shape) + 1 or any(
        isinstance(d, int) and d != s for d, s in zip(dims[1:], shape)
    )


class _Importer:
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
        self.batch_static = False
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
        return UserError(f"{self.where()}: {rule}")

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
        shape: tuple[int, ...],
        attrs: dict[str, Any] | None = None,
        params: dict[str, str | None] | None = None,
        node_name: str | None = None,
    ) -> int:
        """Append an IR node writing ONNX value ``output``; return its index."""
        assert self.node is not None
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
                version=1,
                inputs=tuple(v.name for v in inputs),
                outputs=(value,),
                attrs=attrs or {},
                params=params or {},
                output_shape=tuple(int(d) for d in shape),
                origin=f"ONNX node {self.node.name!r} ({self.node.op_type})",
            )
        )
        self.env[output] = _Runtime(value, tuple(int(d) for d in shape))
        return len(self.nodes) - 1

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
        if len(g.output) != 1:
            raise UserError(
                f"{self.path}: the graph has {len(g.output)} outputs "
                f"({[o.name for o in g.output]}); pd2java models give exactly one"
            )
        graph_input = self._read_input(inputs[0])
        # After the interface checks, whose messages are clearer than the checker's.
        _check(self.model, self.path)
        for tensor in g.initializer:
            self.env[tensor.name] = _Const(self._to_array(tensor), tensor.name)
        live = self._live_nodes(g.output[0].name)
        for node in live:
            self.node = node
            handler = _HANDLERS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
            if handler is None:
                raise self.fail(
                    f"unsupported ONNX op {node.op_type!r}"
                    + (f" (domain {node.domain!r})" if node.domain else "")
                    + f"; supported: {', '.join(SUPPORTED_ONNX_OPS)} (and, folded when their "
                    f"inputs are constants: {', '.join(FOLDED_CONSTANT_OPS)})"
                )
            handler(self, node)
        self.node = None
        return self._finish(graph_input, g.output[0])

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
            raise UserError(f"{where} has no shape; pd2java needs a static (N, C, H, W) shape")
        if len(dims) != 4:
            raise UserError(f"{where} has shape {dims}; pd2java models take (N, C, H, W) images")
        batch = dims[0]
        if isinstance(batch, int) and batch != 1:
            raise UserError(
                f"{where}: batch dimension is fixed at {batch}; it must be 1 or "
                "symbolic (e.g. 'N'), so the model runs on any batch"
            )
        self.batch_static = batch == 1
        if not all(isinstance(d, int) and d > 0 for d in dims[1:]):
            raise UserError(
                f"{where} has shape {dims}: only the batch dimension may be "
                "dynamic; C, H and W must be fixed positive sizes"
            )
        shape = tuple(int(d) for d in dims[1:])  # type: ignore[arg-type]
        name = self.value_names.claim(_clean(info.name, "input"))
        self.env[info.name] = _Runtime(name, shape)
        return ValueSpec(name, shape)

    def _live_nodes(self, output: str) -> list[onnx.NodeProto]:
        """Nodes the output depends on, in file order; counts consumers among them."""
        needed = {output}
        live: list[onnx.NodeProto] = []
        for node in reversed(self.model.graph.node):
            if any(o in needed for o in node.output if o):
                live.append(node)
                needed.update(i for i in node.input if i)
        live.reverse()
        self.consumers = {output: 1}
        for node in live:
            for name in node.input:
                if name:
                    self.consumers[name] = self.consumers.get(name, 0) + 1
        return live

    def _finish(self, graph_input: ValueSpec, output_info: onnx.ValueInfoProto) -> Graph:
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
            raise UserError(f"{self.path}: the graph computes nothing (its output is its input)")
        declared = _onnx_dims(output_info)
        if declared is not None and _disagree(declared, value.shape):
            raise UserError(
                f"{self.path}: graph output {output_info.name!r} is declared with shape "
                f"{declared}, but its nodes compute (N, {', '.join(map(str, value.shape))})"
            )
        self._check_inferred_shapes()
        nodes, out_name = self._rename_output(value.name, output_info.name, graph_input.name)
        last = next(n for n in nodes if out_name in n.outputs)
        kind = "probabilities" if last.op in ("softmax", "sigmoid") else "logits"
        props = {p.key: p.value for p in self.model.metadata_props}
        classes = self._classes(props.get(META_CLASSES))
        used = {key for node in nodes for key in node.params.values() if key is not None}
        return Graph(
            name=_identifier(self.path.stem),
            input=graph_input,
            output=out_name,
            nodes=tuple(nodes),
            tensors={k: v for k, v in self.tensors.items() if k in used},
            classes=classes,
            output_kind=kind,
            meta={
                "source": "onnx",
                "onnx_opset": self.opset,
                "onnx_producer": " ".join(
                    p for p in (self.model.producer_name, self.model.producer_version) if p
                ),
            },
        )

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
        self, current: str, onnx_name: str, input_name: str
    ) -> tuple[list[Node], str]:
        """Name the IR output after the ONNX output when a removed node (Identity, Dropout, the
        Add of a MatMul bias) left it under an inner value's name."""
        wanted = _clean(onnx_name, current)
        taken = {o for n in self.nodes for o in n.outputs} | {input_name}
        if wanted == current or wanted in taken:
            return list(self.nodes), current

        def swap(names: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(wanted if v == current else v for v in names)

        return [n.with_(inputs=swap(n.inputs), outputs=swap(n.outputs)) for n in self.nodes], wanted

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


# --- handlers: one per ONNX op ------------------------------------------------------------------

_Handler = Callable[[_Importer, onnx.NodeProto], None]
_HANDLERS: dict[str, _Handler] = {}


def _handles(*op_types: str) -> Callable[[_Handler], _Handler]:
    def register(fn: _Handler) -> _Handler:
        for op_type in op_types:
            if op_type in _HANDLERS:  # pragma: no cover - guards edits to this module
                raise RuntimeError(f"duplicate ONNX handler for {op_type}")
            _HANDLERS[op_type] = fn
        return fn

    return register


def _only_first_output(im: _Importer, node: onnx.NodeProto, why: str) -> None:
    for extra in node.output[1:]:
        if extra and im.consumers.get(extra, 0):
            raise im.fail(f"its output {extra!r} is used; {why}")


def _spatial(
    im: _Importer, node: onnx.NodeProto, attrs: dict[str, Any], kernel: list[int]
) -> tuple[list[int], list[int], list[int]]:
    """strides, symmetric pads [ph, pw] and dilations of a 2-D Conv/pool node."""
    if len(kernel) != 2:
        raise im.fail(f"kernel {kernel} is not 2-D; pd2java supports 2-D kernels only")
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
    if auto_pad not in ("NOTSET", "VALID"):
        raise im.fail(
            f"auto_pad={auto_pad!r} is not supported (only NOTSET with explicit pads, "
            "or VALID); re-export with explicit padding"
        )
    strides = _int_list(attrs.get("strides", [1, 1]))
    dilations = _int_list(attrs.get("dilations", [1, 1]))
    pads = _int_list(attrs.get("pads", [0, 0, 0, 0])) if auto_pad == "NOTSET" else [0, 0, 0, 0]
    if len(strides) != 2 or len(dilations) != 2 or len(pads) != 4:
        raise im.fail(
            f"strides {strides}, dilations {dilations}, pads {pads} do not describe a 2-D window"
        )
    if pads[0] != pads[2] or pads[1] != pads[3]:
        raise im.fail(
            f"pads {pads} are asymmetric; pd2java supports the same padding on both "
            "sides ([ph, pw, ph, pw])"
        )
    if min(strides) < 1 or min(dilations) < 1 or min(pads) < 0:
        raise im.fail(
            f"strides {strides}, dilations {dilations} and pads {pads} must be "
            "positive (pads non-negative)"
        )
    return strides, pads[:2], dilations


def _window_out(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _image(im: _Importer, name: str) -> _Runtime:
    value = im.runtime(name)
    if len(value.shape) != 3:
        raise im.fail(
            f"its input {name!r} has per-sample shape {list(value.shape)}; this op "
            "needs a (C, H, W) image"
        )
    return value


@_handles("Conv")
def _conv(im: _Importer, node: onnx.NodeProto) -> None:
    attrs = _attrs(node)
    x = _image(im, node.input[0])
    w = im.const(node.input[1], "weight")
    if w.array.ndim != 4:
        raise im.fail(
            f"weight {node.input[1]!r} has shape {list(w.array.shape)}; pd2java "
            "supports 2-D convolution (a 4-D weight)"
        )
    out_c, per_group, kh, kw = (int(v) for v in w.array.shape)
    kernel = _int_list(attrs.get("kernel_shape", [kh, kw]))
    if kernel != [kh, kw]:
        raise im.fail(f"kernel_shape {kernel} does not match the weight's {[kh, kw]}")
    strides, pads, dilations = _spatial(im, node, attrs, kernel)
    groups = int(attrs.get("group", 1))
    c, h, width = x.shape
    if groups < 1 or c % groups or out_c % groups or per_group * groups != c:
        raise im.fail(
            f"weight shape {list(w.array.shape)} with group={groups} does not fit "
            f"{c} input channels"
        )
    params: dict[str, str | None] = {"weight": im.param(w, w.array, "", "weight"), "bias": None}
    if len(node.input) > 2 and node.input[2]:
        b = im.const(node.input[2], "bias")
        if b.array.shape != (out_c,):
            raise im.fail(
                f"bias {node.input[2]!r} has shape {list(b.array.shape)}, expected [{out_c}]"
            )
        params["bias"] = im.param(b, b.array, "", "bias")
    shape = (
        out_c,
        _window_out(h, kh, strides[0], pads[0], dilations[0]),
        _window_out(width, kw, strides[1], pads[1], dilations[1]),
    )
    im.emit(
        "conv2d",
        [x],
        node.output[0],
        shape,
        attrs={
            "in_channels": c,
            "out_channels": out_c,
            "kernel_size": (kh, kw),
            "stride": tuple(strides),
            "padding": tuple(pads),
            "dilation": tuple(dilations),
            "groups": groups,
        },
        params=params,
    )


@_handles("BatchNormalization")
def _batch_norm(im: _Importer, node: onnx.NodeProto) -> None:
    attrs = _attrs(node)
    if int(attrs.get("training_mode", 0)):
        raise im.fail(
            "training_mode=1; pd2java exports inference batch norm (running statistics) only"
        )
    _only_first_output(im, node, "the running-statistics outputs exist only in training mode")
    x = _image(im, node.input[0])
    c = x.shape[0]
    params: dict[str, str | None] = {}
    for slot, index in (("weight", 1), ("bias", 2), ("running_mean", 3), ("running_var", 4)):
        value = im.const(node.input[index], slot)
        if value.array.shape != (c,):
            raise im.fail(
                f"{slot} {node.input[index]!r} has shape {list(value.array.shape)}, expected [{c}]"
            )
        params[slot] = im.param(value, value.array, "", slot)
    eps = _float_attr(attrs.get("epsilon", 1e-5))
    im.emit(
        "batch_norm2d",
        [x],
        node.output[0],
        x.shape,
        attrs={"num_features": c, "eps": eps},
        params=params,
    )


@_handles("Relu", "Sigmoid")
def _elementwise(im: _Importer, node: onnx.NodeProto) -> None:
    x = im.runtime(node.input[0])
    im.emit(node.op_type.lower(), [x], node.output[0], x.shape)


@_handles("LeakyRelu")
def _leaky_relu(im: _Importer, node: onnx.NodeProto) -> None:
    x = im.runtime(node.input[0])
    # 0.01 is ONNX's own documented default for alpha, so reading it is exact, not an assumption.
    slope = _float_attr(_attrs(node).get("alpha", 0.01))
    im.emit("leaky_relu", [x], node.output[0], x.shape, attrs={"negative_slope": slope})


@_handles("Clip")
def _clip(im: _Importer, node: onnx.NodeProto) -> None:
    x = im.runtime(node.input[0])
    low = im.scalar(node.input[1], "min") if len(node.input) > 1 and node.input[1] else None
    high = im.scalar(node.input[2], "max") if len(node.input) > 2 and node.input[2] else None
    if low == 0.0 and high == 6.0:
        im.emit("relu6", [x], node.output[0], x.shape)
    elif low == 0.0 and high is None:
        im.emit("relu", [x], node.output[0], x.shape)
    else:
        raise im.fail(
            f"Clip(min={low}, max={high}) is not supported; pd2java maps Clip(0, 6) "
            "to relu6 and Clip(0) to relu"
        )


def _pool_window(
    im: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]
) -> tuple[_Runtime, list[int], list[int], list[int], list[int]]:
    x = _image(im, node.input[0])
    if int(attrs.get("ceil_mode", 0)):
        raise im.fail(
            "ceil_mode=1 is not supported; pd2java pools use floor output sizes "
            "(re-export with ceil_mode=False)"
        )
    if "kernel_shape" not in attrs:
        raise im.fail("kernel_shape is missing")
    kernel = _int_list(attrs["kernel_shape"])
    strides, pads, dilations = _spatial(im, node, attrs, kernel)
    if any(p > k // 2 for p, k in zip(pads, kernel)):
        raise im.fail(
            f"pads {pads} exceed half the kernel {kernel}; pd2java's pools follow "
            "PyTorch, which allows at most kernel // 2"
        )
    return x, kernel, strides, pads, dilations


@_handles("MaxPool")
def _max_pool(im: _Importer, node: onnx.NodeProto) -> None:
    attrs = _attrs(node)
    _only_first_output(im, node, "pd2java's max_pool2d does not return indices")
    x, kernel, strides, pads, dilations = _pool_window(im, node, attrs)
    c, h, w = x.shape
    shape = (
        c,
        _window_out(h, kernel[0], strides[0], pads[0], dilations[0]),
        _window_out(w, kernel[1], strides[1], pads[1], dilations[1]),
    )
    im.emit(
        "max_pool2d",
        [x],
        node.output[0],
        shape,
        attrs={
            "kernel_size": tuple(kernel),
            "stride": tuple(strides),
            "padding": tuple(pads),
            "dilation": tuple(dilations),
        },
    )


@_handles("AveragePool")
def _avg_pool(im: _Importer, node: onnx.NodeProto) -> None:
    attrs = _attrs(node)
    x, kernel, strides, pads, dilations = _pool_window(im, node, attrs)
    if dilations != [1, 1]:
        raise im.fail(f"dilations {dilations} are not supported for average pooling")
    c, h, w = x.shape
    shape = (
        c,
        _window_out(h, kernel[0], strides[0], pads[0], 1),
        _window_out(w, kernel[1], strides[1], pads[1], 1),
    )
    im.emit(
        "avg_pool2d",
        [x],
        node.output[0],
        shape,
        attrs={
            "kernel_size": tuple(kernel),
            "stride": tuple(strides),
            "padding": tuple(pads),
            "count_include_pad": bool(int(attrs.get("count_include_pad", 0))),
        },
    )


@_handles("GlobalAveragePool")
def _global_avg_pool(im: _Importer, node: onnx.NodeProto) -> None:
    x = _image(im, node.input[0])
    im.emit("global_avg_pool", [x], node.output[0], (x.shape[0], 1, 1), attrs={"keepdims": True})


@_handles("ReduceMean")
def _reduce_mean(im: _Importer, node: onnx.NodeProto) -> None:
    attrs = _attrs(node)
    keepdims = bool(int(attrs.get("keepdims", 1)))
    if im.opset >= 18:
        axes_input = node.input[1] if len(node.input) > 1 and node.input[1] else None
        axes = (
            None
            if axes_input is None
            else _int_list(im.const(axes_input, "axes").array.reshape(-1))
        )
        if axes is None and int(attrs.get("noop_with_empty_axes", 0)):
            raise im.fail(
                "ReduceMean with no axes and noop_with_empty_axes=1 is an identity; remove it"
            )
    else:
        axes = _int_list(attrs["axes"]) if "axes" in attrs else None
    if not axes:
        raise im.fail(
            "ReduceMean over every axis (no axes given) would average over the batch; "
            "pd2java supports a mean over H and W (axes [2, 3])"
        )
    value = im.get(node.input[0])
    if isinstance(value, _PartialMean):
        if not im.consumers.get(node.input[0], 0) == 1:
            raise im.fail(
                "a ReduceMean over H or W alone is used twice; pd2java supports a "
                "mean over H and W together"
            )
        source, done, rank = value.source, value.axes, 4 if value.keepdims else 4 - len(value.axes)
        if value.keepdims != keepdims:
            raise im.fail(
                "chained ReduceMeans mix keepdims=0 and keepdims=1; pd2java supports "
                "a mean over H and W giving (C) or (C, 1, 1)"
            )
        first = value.node_name
    else:
        source = _image(im, node.input[0])
        done, rank, first = frozenset(), 4, node.name
    # Map this node's axes (of a rank-`rank` tensor) back to axes of the original (N, C, H, W).
    remaining = [a for a in range(4) if a not in done] if rank < 4 else list(range(4))
    original: set[int] = set()
    for axis in axes:
        if not -rank <= axis < rank:
            raise im.fail(f"axis {axis} is out of range for a rank-{rank} tensor")
        original.add(remaining[axis % rank])
    total = frozenset(done | original)
    if not total <= {2, 3} or original & done:
        raise im.fail(
            f"ReduceMean over axes {sorted(total)} of (N, C, H, W) is not supported; "
            "pd2java supports a mean over H and W (axes [2, 3]) only"
        )
    if total != {2, 3}:
        im.env[node.output[0]] = _PartialMean(source, total, keepdims, first)
        return
    c = source.shape[0]
    im.emit(
        "global_avg_pool",
        [source],
        node.output[0],
        (c, 1, 1) if keepdims else (c,),
        attrs={"keepdims": keepdims},
        node_name=first,
    )


@_handles("Flatten")
def _flatten(im: _Importer, node: onnx.NodeProto) -> None:
    x = im.runtime(node.input[0])
    rank = len(x.shape) + 1
    axis = int(_attrs(node).get("axis", 1))
    if axis < 0:
        axis += rank
    if axis != 1:
        raise im.fail(
            f"Flatten(axis={axis}) is not supported; pd2java flattens each sample (axis=1)"
        )
    im.emit("flatten", [x], node.output[0], (math.prod(x.shape),))


@_handles("Reshape")
def _reshape(im: _Importer, node: onnx.NodeProto) -> None:
    x = im.runtime(node.input[0])
    target = im.const(node.input[1], "shape").array.reshape(-1).tolist()
    allowzero = int(_attrs(node).get("allowzero", 0))
    size = math.prod(x.shape)
    ok = False
    if len(target) == 2:
        first, second = target
        batch_ok = (
            first is BATCH
            or (first == 0 and not allowzero)
            or (first == 1 and im.batch_static)
            or (first == -1 and second == size)
        )
        ok = batch_ok and second in (-1, size)
    if not ok:
        raise im.fail(
            f"Reshape to {target} is not supported; pd2java supports flattening each sample: a "
            f"constant shape [N, -1], [0, -1] or [-1, {size}] (allowzero=0 for 0)"
            + ("" if im.batch_static else "; [1, ...] only when the input batch is fixed at 1")
        )
    im.emit("flatten", [x], node.output[0], (size,))


def _linear(
    im: _Importer,
    node: onnx.NodeProto,
    x: _Runtime,
    weight: _Const,
    weight_array: np.ndarray,
    tag: str,
    bias: _Const | None,
) -> int:
    out_f, in_f = (int(v) for v in weight_array.shape)
    params: dict[str, str | None] = {
        "weight": im.param(weight, weight_array, tag, "weight"),
        "bias": None,
    }
    if bias is not None:
        vector = _bias_vector(im, bias, out_f)
        # Reuse the tensor as is when no reshaping was needed (the usual [out_features] bias).
        tag = "" if bias.array.shape == (out_f,) else "bias"
        params["bias"] = im.param(bias, vector, tag, "bias")
    return im.emit(
        "linear",
        [x],
        node.output[0],
        (out_f,),
        attrs={"in_features": in_f, "out_features": out_f},
        params=params,
    )


def _bias_vector(im: _Importer, bias: _Const, out_f: int) -> np.ndarray:
    array = bias.array
    if array.shape in ((out_f,), (1, out_f)):
        return array.reshape(out_f)
    if array.size == 1:  # a broadcast scalar
        return np.full(out_f, array.reshape(()), dtype=np.float32)
    raise im.fail(
        f"bias {bias.source!r} has shape {list(array.shape)}; expected [{out_f}] or [1, {out_f}]"
    )


def _vector_input(im: _Importer, name: str) -> _Runtime:
    x = im.runtime(name)
    if len(x.shape) != 1:
        raise im.fail(
            f"its input {name!r} has per-sample shape {list(x.shape)}; a linear layer "
            "needs a flat (N, K) input (Flatten first)"
        )
    return x


@_handles("Gemm")
def _gemm(im: _Importer, node: onnx.NodeProto) -> None:
    attrs = _attrs(node)
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    trans_a, trans_b = int(attrs.get("transA", 0)), int(attrs.get("transB", 0))
    if alpha != 1.0 or beta != 1.0 or trans_a:
        raise im.fail(
            f"Gemm(alpha={alpha}, beta={beta}, transA={trans_a}) is not a linear "
            "layer; pd2java supports alpha=1, beta=1, transA=0"
        )
    x = _vector_input(im, node.input[0])
    w = im.const(node.input[1], "weight")
    if w.array.ndim != 2:
        raise im.fail(f"weight {node.input[1]!r} has shape {list(w.array.shape)}; expected 2-D")
    weight = w.array if trans_b else w.array.T
    if weight.shape[1] != x.shape[0]:
        raise im.fail(
            f"weight {node.input[1]!r} (transB={trans_b}) has shape "
            f"{list(w.array.shape)}, which does not take {x.shape[0]} inputs"
        )
    bias = im.const(node.input[2], "bias") if len(node.input) > 2 and node.input[2] else None
    _linear(im, node, x, w, weight, "" if trans_b else "T", bias)


@_handles("MatMul")
def _matmul(im: _Importer, node: onnx.NodeProto) -> None:
    x = _vector_input(im, node.input[0])
    w = im.const(node.input[1], "weight (the second MatMul input)")
    if w.array.ndim != 2 or w.array.shape[0] != x.shape[0]:
        raise im.fail(
            f"weight {node.input[1]!r} has shape {list(w.array.shape)}; expected "
            f"[{x.shape[0]}, out_features]"
        )
    index = _linear(im, node, x, w, w.array.T, "T", None)
    im.linear_from_matmul[im.nodes[index].outputs[0]] = index


@_handles("Add")
def _add(im: _Importer, node: onnx.NodeProto) -> None:
    a, b = (im.get(name) for name in node.input[:2])
    if isinstance(a, _Const) and not isinstance(b, _Const):
        a, b = b, a
    if isinstance(b, _Const):
        # MatMul + Add(constant) is a linear layer with a bias: fold the bias into it.
        producer = im.linear_from_matmul.get(a.name) if isinstance(a, _Runtime) else None
        source = node.input[0] if isinstance(im.get(node.input[0]), _Runtime) else node.input[1]
        if producer is None or im.consumers.get(source, 0) != 1:
            raise im.fail(
                "Add with a constant operand is supported only as the bias after a "
                "MatMul (a linear layer)"
            )
        linear = im.nodes[producer]
        out_f = int(linear.attrs["out_features"])
        bias_key = im.param(b, _bias_vector(im, b, out_f), "bias", "bias")
        im.nodes[producer] = linear.with_(params={**linear.params, "bias": bias_key})
        del im.linear_from_matmul[a.name]  # type: ignore[union-attr]
        im.env[node.output[0]] = a
        return
    x, y = im.runtime(node.input[0]), im.runtime(node.input[1])
    if x.shape != y.shape:
        raise im.fail(
            f"adds per-sample shapes {list(x.shape)} and {list(y.shape)}; pd2java's add "
            "needs equal shapes (no broadcasting)"
        )
    im.emit("add", [x, y], node.output[0], x.shape)


@_handles("Softmax")
def _softmax(im: _Importer, node: onnx.NodeProto) -> None:
    x = im.runtime(node.input[0])
    rank = len(x.shape) + 1
    axis = int(_attrs(node).get("axis", -1))
    if not -rank <= axis < rank:
        raise im.fail(f"axis {axis} is out of range for a rank-{rank} tensor")
    axis %= rank
    if axis == 0:
        raise im.fail("Softmax over the batch axis (0) is not supported")
    im.emit("softmax", [x], node.output[0], x.shape, attrs={"dim": axis})


@_handles("Identity", "Dropout")
def _passthrough(im: _Importer, node: onnx.NodeProto) -> None:
    if node.op_type == "Dropout":
        _only_first_output(im, node, "the dropout mask is not available at inference")
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


def _const_output(im: _Importer, node: onnx.NodeProto, array: np.ndarray) -> None:
    im.env[node.output[0]] = _Const(np.asarray(array), node.output[0])


@_handles("Constant")
def _constant(im: _Importer, node: onnx.NodeProto) -> None:
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


@_handles("Shape")
def _shape(im: _Importer, node: onnx.NodeProto) -> None:
    x = im.runtime(node.input[0])
    dims: list[Any] = [BATCH, *x.shape]
    attrs = _attrs(node)
    start, end = int(attrs.get("start", 0)), attrs.get("end")
    dims = dims[start:] if end is None else dims[start : int(end)]
    _const_output(im, node, np.array(dims, dtype=object))


def _folded_input(im: _Importer, node: onnx.NodeProto, index: int) -> np.ndarray:
    return im.const(node.input[index], f"input {index}").array


@_handles("Gather")
def _gather(im: _Importer, node: onnx.NodeProto) -> None:
    data = _folded_input(im, node, 0)
    indices = _folded_input(im, node, 1)
    axis = int(_attrs(node).get("axis", 0))
    _const_output(im, node, np.take(data, indices.astype(np.int64), axis=axis))


@_handles("Unsqueeze")
def _unsqueeze(im: _Importer, node: onnx.NodeProto) -> None:
    data = _folded_input(im, node, 0)
    axes = sorted(
        int(a) % (data.ndim + len(_folded_input(im, node, 1).reshape(-1)))
        for a in _folded_input(im, node, 1).reshape(-1)
    )
    for axis in axes:
        data = np.expand_dims(data, axis)
    _const_output(im, node, data)


@_handles("Squeeze")
def _squeeze(im: _Importer, node: onnx.NodeProto) -> None:
    data = _folded_input(im, node, 0)
    if len(node.input) > 1 and node.input[1]:
        axes = tuple(int(a) for a in _folded_input(im, node, 1).reshape(-1))
        _const_output(im, node, np.squeeze(data, axis=axes))
    else:
        _const_output(im, node, np.squeeze(data))


@_handles("Concat")
def _concat(im: _Importer, node: onnx.NodeProto) -> None:
    parts = [_folded_input(im, node, i) for i in range(len(node.input))]
    if any(p.dtype == object for p in parts):
        parts = [p.astype(object) for p in parts]
    _const_output(im, node, np.concatenate(parts, axis=int(_attrs(node)["axis"])))


@_handles("Cast")
def _cast(im: _Importer, node: onnx.NodeProto) -> None:
    data = _folded_input(im, node, 0)
    to = helper.tensor_dtype_to_np_dtype(int(_attrs(node)["to"]))
    # A shape vector holding the batch marker stays symbolic; its integers are already ints.
    _const_output(im, node, data if data.dtype == object else data.astype(to))


@_handles("Transpose")
def _transpose(im: _Importer, node: onnx.NodeProto) -> None:
    data = _folded_input(im, node, 0)
    perm = _attrs(node).get("perm")
    _const_output(im, node, np.transpose(data, None if perm is None else _int_list(perm)))


def onnx_to_graph(path: str | os.PathLike[str]) -> Graph:
    """Read the ONNX model at ``path`` as a pd2java IR ``Graph``.

    Raises ``UserError`` naming the file, the ONNX node and the rule for anything pd2java cannot
    run exactly: older opsets, unsupported ops or op forms, dynamic non-batch shapes, several
    inputs or outputs, external data outside the model's folder. Reads only; writes nothing.
    """
    model_path = Path(path)
    model, opset = _load(model_path)
    return _Importer(model, opset, model_path).run()
