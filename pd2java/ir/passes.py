"""IR passes (``Graph -> Graph``) and the IR validator. NumPy only.

- :func:`validate`: every rule of docs/FORMAT.md that can be checked on the IR (unique names,
  topological order, exact attrs and param slots per the op table, attr kinds, tensors present and
  of the right shape, finite weights, a 1-D output), with shapes recomputed by each op's rule.
- :func:`infer_shapes`: recompute every node's ``output_shape`` from the input shape.
- :func:`fold_bn`: fold conv2d + batch_norm2d (or linear + batch_norm1d), the batch norm being
  the first node's only consumer, into one conv2d (linear).
- :func:`prune_tensors`: drop tensors no node references.

Dropout and Identity never reach the IR: the front ends drop them while capturing (the input value
passes straight through), so there is no separate pass for them.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping

import numpy as np

from pd2java.errors import ErrorCode, FormatError, UserError
from pd2java.format_rules import (
    INT32_MAX,
    INT32_MIN,
    MAX_INTS_LENGTH,
    MAX_NODES,
    MAX_PLAN_ELEMENTS,
    MAX_VALUE_ELEMENTS,
    OUTPUT_KINDS,
)
from pd2java.ir import Graph, Node
from pd2java.ops.conv import conv_param_shapes
from pd2java.ops.norm import bn_scale_shift
from pd2java.ops.registry import OpImpl, ShapeError, impl
from pd2java.ops.table import OPS, OpSpec, supported_ops

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def where(node: Node) -> str:
    """``node 'features_0' (conv2d@1, from model.py:12)`` for error messages."""
    origin = f", from {node.origin}" if node.origin else ""
    return f"node {node.name!r} ({node.op}@{node.version}{origin})"


def _ints_problem(value: object) -> str | None:
    """Why ``value`` is not of kind ``ints`` (a list of 1..MAX_INTS_LENGTH 32-bit integers), or
    None when it is."""
    if not isinstance(value, (tuple, list)):
        return "not an array"
    if not value:
        return "an empty array"
    if len(value) > MAX_INTS_LENGTH:
        return f"{len(value)} entries, more than {MAX_INTS_LENGTH}"
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, int):
            return f"entry {i} ({v!r}) is not an integer"
        if not INT32_MIN <= v <= INT32_MAX:
            return f"entry {i} ({v}) is outside the 32-bit integer range"
    return None


# What each kind is, for messages.
KIND_RULES = {
    "int": "a JSON integer",
    "float": "a finite JSON number",
    "bool": "true or false",
    "int2": "an array of exactly two integers [h, w]",
    "ints": f"an array of 1..{MAX_INTS_LENGTH} integers in the 32-bit range",
}


def attr_problem(spec_kind: str, value: object) -> str | None:
    """Why ``value`` is not of attribute kind ``spec_kind`` (empty when the kind's rule says it
    all), or None when it is."""
    if spec_kind == "ints":
        return _ints_problem(value)
    return None if check_attr(spec_kind, value) else ""


def check_attr(spec_kind: str, value: object) -> bool:
    """Whether ``value`` has the attribute kind ``spec_kind`` (int, float, bool, int2, ints)."""
    if spec_kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if spec_kind == "float":
        return (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(float(value))
        )
    if spec_kind == "bool":
        return isinstance(value, bool)
    if spec_kind == "int2":
        return (
            isinstance(value, (tuple, list))
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        )
    if spec_kind == "ints":
        return _ints_problem(value) is None
    raise ValueError(f"unknown attr kind {spec_kind}")


@functools.cache
def _impl(key: str) -> OpImpl:
    """``registry.impl`` memoised: the registry is fixed once loaded, and validate asks per node."""
    return impl(key)


def _fail(code: ErrorCode, message: str) -> FormatError:
    return FormatError(code, message)


def _spec(node: Node) -> OpSpec:
    spec = OPS.get(node.key)
    if spec is None:
        raise _fail(
            ErrorCode.UNKNOWN_OP,
            f"{where(node)}: unknown op {node.key}; supported: {supported_ops()}",
        )
    return spec


def check_signature(
    spec: OpSpec, attrs: Mapping[str, object], params: Mapping[str, object], at: str
) -> None:
    """``attrs`` and ``params`` hold exactly the op's attributes (of the right kinds) and slots
    (a non-empty tensor name, or None for an absent optional one). Shared by ``validate`` and the
    manifest reader, which checks a node's signature before it reads any weights."""
    want_attrs = {a.name: a for a in spec.attrs}
    if attrs.keys() != want_attrs.keys():
        raise _fail(
            ErrorCode.INVALID_ATTRIBUTE,
            f"{at}: attrs must be exactly {sorted(want_attrs)}; "
            f"missing {sorted(want_attrs.keys() - attrs.keys())}, "
            f"extra {sorted(attrs.keys() - want_attrs.keys())}",
        )
    for name, a in want_attrs.items():
        problem = attr_problem(a.kind, attrs[name])
        if problem is not None:
            raise _fail(
                ErrorCode.INVALID_ATTRIBUTE,
                f"{at}: attr {name!r} must be of kind {a.kind} ({KIND_RULES[a.kind]}), got "
                f"{attrs[name]!r}" + (f": {problem}" if problem else ""),
            )
    want_params = {p.name: p for p in spec.params}
    if params.keys() != want_params.keys():
        raise _fail(
            ErrorCode.INVALID_PARAMETER,
            f"{at}: params must be exactly {sorted(want_params)}; "
            f"missing {sorted(want_params.keys() - params.keys())}, "
            f"extra {sorted(params.keys() - want_params.keys())}",
        )
    for name, p in want_params.items():
        value = params[name]
        if value is None and p.optional:
            continue
        if not isinstance(value, str) or not value:
            raise _fail(
                ErrorCode.INVALID_PARAMETER,
                f"{at}: param {name!r} must be a tensor name"
                + (" or null" if p.optional else " (the slot is required)")
                + f", got {value!r}",
            )


def _check_node_form(node: Node, spec: OpSpec) -> None:
    if len(node.inputs) != spec.num_inputs:
        raise _fail(
            ErrorCode.INVALID_GRAPH,
            f"{where(node)}: takes {spec.num_inputs} input(s), got {len(node.inputs)}",
        )
    if len(node.outputs) != 1:
        raise _fail(
            ErrorCode.INVALID_GRAPH,
            f"{where(node)}: must have exactly one output, got {len(node.outputs)}",
        )
    for value in (*node.inputs, *node.outputs):
        if not value:
            raise _fail(ErrorCode.INVALID_GRAPH, f"{where(node)}: empty value name")
    check_signature(spec, node.attrs, node.params, where(node))


def _check_params(node: Node, spec: OpSpec, tensors: Mapping[str, np.ndarray]) -> None:
    try:
        shapes = _impl(node.key).param_shapes(node.attrs)
    except ShapeError as exc:
        raise _fail(exc.code, f"{where(node)}: {exc}") from None
    for p in spec.params:
        tname = node.params[p.name]
        if tname is None:
            continue
        if tname not in tensors:
            raise _fail(
                ErrorCode.MISSING_TENSOR,
                f"{where(node)}: param {p.name!r} names tensor {tname!r}, which is absent",
            )
        arr = tensors[tname]
        # A slot the op's param_shapes leaves out takes any shape (constant's value).
        if p.name in shapes and tuple(arr.shape) != shapes[p.name]:
            raise _fail(
                ErrorCode.INVALID_PARAMETER,
                f"{where(node)}: param {p.name!r} tensor {tname!r} has shape {list(arr.shape)}, "
                f"expected {list(shapes[p.name])} from the attrs",
            )
        if p.nonnegative:
            negative = np.asarray(arr) < 0
            if negative.any():
                idx = [int(i) for i in np.argwhere(negative)[0]]
                raise _fail(
                    ErrorCode.INVALID_PARAMETER,
                    f"{where(node)}: param {p.name!r} tensor {tname!r} must be >= 0 everywhere; "
                    f"{int(negative.sum())} negative value(s), first at index {idx}",
                )


def check_finite(tensors: Mapping[str, np.ndarray], what: str = "weights") -> None:
    """Refuse NaN/Inf in any tensor, naming the tensor and the first bad index."""
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        bad = ~np.isfinite(arr)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise _fail(
                ErrorCode.NON_FINITE_WEIGHT,
                f"{what}: tensor {name!r} holds {int(bad.sum())} NaN/Inf value(s), first at index "
                f"{list(idx)} ({arr[idx]}); fix the model (e.g. retrain or reset the layer) before "
                "exporting",
            )


def _recompute(graph: Graph, *, check_declared: bool) -> list[tuple[int, ...]]:
    """Every node's output shape from the graph input, in one pass; checks wiring (inputs known,
    outputs new), the declared shapes (``check_declared``) and the plan size (FORMAT.md limits)."""
    shapes: dict[str, tuple[int, ...]] = {graph.input.name: tuple(graph.input.shape)}
    plan = _plan_add(0, graph.input.name, shapes[graph.input.name], "the graph input")
    out: list[tuple[int, ...]] = []
    for node in graph.nodes:
        spec = _spec(node)
        _check_node_form(node, spec)
        for value in node.inputs:
            if value not in shapes:
                raise _fail(
                    ErrorCode.INVALID_GRAPH,
                    f"{where(node)}: input {value!r} is not the graph input or an earlier output",
                )
        # A node with no inputs (constant) gets its parameter tensors' shapes instead.
        ins = [shapes[v] for v in node.inputs] or [
            tuple(graph.tensors[t].shape) for t in node.params.values() if t is not None
        ]
        try:
            shape = _impl(node.key).infer(node.attrs, ins)
        except ShapeError as exc:
            raise _fail(exc.code, f"{where(node)}: {exc}") from None
        shape = tuple(int(d) for d in shape)
        if check_declared and tuple(node.output_shape) != shape:
            raise _fail(
                ErrorCode.SHAPE_MISMATCH,
                f"{where(node)}: output_shape {list(node.output_shape)} does not match "
                f"{list(shape)} computed from the inputs and attrs",
            )
        value = node.outputs[0]
        if value in shapes:
            raise _fail(
                ErrorCode.INVALID_GRAPH, f"{where(node)}: output value {value!r} is not unique"
            )
        shapes[value] = shape
        plan = _plan_add(plan, value, shape, where(node))
        out.append(shape)
    return out


def _plan_add(total: int, value: str, shape: tuple[int, ...], who: str) -> int:
    n = math.prod(shape)
    if n > MAX_VALUE_ELEMENTS:
        raise _fail(
            ErrorCode.LIMIT_EXCEEDED,
            f"{who}: value {value!r} of shape {list(shape)} has {n} elements per sample, over "
            f"the limit of {MAX_VALUE_ELEMENTS}",
        )
    total += n
    if total > MAX_PLAN_ELEMENTS:
        raise _fail(
            ErrorCode.LIMIT_EXCEEDED,
            f"{who}: the values up to {value!r} hold {total} elements per sample, over the plan "
            f"limit of {MAX_PLAN_ELEMENTS}",
        )
    return total


def infer_shapes(graph: Graph) -> Graph:
    """Recompute every node's output_shape from the graph input; errors name the node."""
    shapes = _recompute(graph, check_declared=False)
    return graph.with_(nodes=tuple(n.with_(output_shape=s) for n, s in zip(graph.nodes, shapes)))


def validate(graph: Graph, *, allow_nonfinite: bool = False, where: str = "") -> None:
    """Raise FormatError (code and message naming the node/tensor/rule) for anything FORMAT.md
    forbids. Linear in the number of nodes. ``where`` (a file name) prefixes messages."""
    try:
        _validate(graph, allow_nonfinite)
    except FormatError as exc:
        if not where:
            raise
        raise FormatError(exc.code, f"{where}: {exc}") from None


def _validate(graph: Graph, allow_nonfinite: bool) -> None:
    if not NAME_RE.fullmatch(graph.name):
        raise _fail(
            ErrorCode.INVALID_MANIFEST,
            f"model name {graph.name!r} must match [A-Za-z_][A-Za-z0-9_]*",
        )
    if not graph.input.shape or any(d < 1 for d in graph.input.shape):
        raise _fail(
            ErrorCode.INVALID_MANIFEST,
            f"input shape {list(graph.input.shape)} must be one or more sizes, all >= 1",
        )
    if not graph.input.name:
        raise _fail(ErrorCode.INVALID_GRAPH, "the graph input's name is empty")
    if not graph.nodes:
        raise _fail(ErrorCode.INVALID_GRAPH, "the graph has no nodes (is the model an identity?)")
    if len(graph.nodes) > MAX_NODES:
        raise _fail(
            ErrorCode.LIMIT_EXCEEDED, f"{len(graph.nodes)} nodes exceed the limit of {MAX_NODES}"
        )
    seen: set[str] = set()
    for node in graph.nodes:
        if not node.name:
            raise _fail(ErrorCode.INVALID_GRAPH, f"a {node.op} node has an empty name")
        if node.name in seen:
            raise _fail(
                ErrorCode.INVALID_GRAPH, f"node names must be unique; repeated: {node.name!r}"
            )
        seen.add(node.name)
    for node in graph.nodes:  # form and parameter shapes first: errors name the first bad node
        spec = _spec(node)
        _check_node_form(node, spec)
        _check_params(node, spec, graph.tensors)
    shapes = _recompute(graph, check_declared=True)
    produced = {node.outputs[0]: shape for node, shape in zip(graph.nodes, shapes)}
    if not graph.outputs:
        raise _fail(ErrorCode.INVALID_GRAPH, "the graph has no output")
    for value in graph.outputs:
        if not value:
            raise _fail(ErrorCode.INVALID_GRAPH, "a graph output's name is empty")
        if value not in produced:
            raise _fail(ErrorCode.INVALID_GRAPH, f"graph output {value!r} is produced by no node")
    if len(set(graph.outputs)) != len(graph.outputs):
        repeated = sorted({v for v in graph.outputs if graph.outputs.count(v) > 1})
        raise _fail(
            ErrorCode.INVALID_GRAPH, f"graph outputs must be distinct; repeated: {repeated}"
        )
    for kind in graph.output_kinds:
        if kind not in OUTPUT_KINDS:
            raise _fail(
                ErrorCode.INVALID_MANIFEST,
                f"output kind {kind!r} is not one of {list(OUTPUT_KINDS)}",
            )
    out_shape = produced[graph.output]
    if graph.classes is not None and (len(out_shape) != 1 or len(graph.classes) != out_shape[0]):
        raise _fail(
            ErrorCode.INVALID_MANIFEST,
            f"{len(graph.classes)} class names given but the primary output has per-sample shape "
            f"{list(out_shape)} (class names need a 1-D output of that many values)",
        )
    if not allow_nonfinite:
        used = {t for n in graph.nodes for t in n.params.values() if t is not None}
        check_finite({k: v for k, v in graph.tensors.items() if k in used})


def prune_tensors(graph: Graph) -> Graph:
    """Keep only tensors some node references."""
    used = {t for n in graph.nodes for t in n.params.values() if t is not None}
    return graph.with_(tensors={k: v for k, v in graph.tensors.items() if k in used})


def fold_bn(graph: Graph) -> Graph:
    """Fold every conv2d whose only consumer is a batch_norm2d into one conv2d, and every conv1d
    or linear whose only consumer is a batch_norm1d into it (new weight ``W * scale`` per output
    row, new bias ``(b - mean) * scale + beta`` with ``scale = gamma / sqrt(var + eps)``).

    Matched on structure only. The folded layer keeps its node's name and output value; the
    batch norm's consumers are rewired to it. Folded tensors get new names
    ``<node>.folded.weight`` / ``.bias`` (the originals may be shared with another node, e.g.
    a conv called twice), computed in float64 and rounded once to float32.
    """
    # What each foldable layer folds with, and the weight shape its attributes give.
    folds = {
        "conv2d": ("batch_norm2d", lambda attrs: conv_param_shapes(attrs)["weight"]),
        "conv1d": ("batch_norm1d", lambda attrs: impl("conv1d@1").param_shapes(attrs)["weight"]),
        "linear": ("batch_norm1d", lambda attrs: (attrs["out_features"], attrs["in_features"])),
    }
    tensors = dict(graph.tensors)
    nodes = list(graph.nodes)
    rename: dict[str, str] = {}
    out_nodes: list[Node] = []
    skip: set[str] = set()
    outputs = list(graph.outputs)
    for i, node in enumerate(nodes):
        if node.name in skip:
            continue
        node = node.with_(inputs=tuple(rename.get(v, v) for v in node.inputs))
        consumers = [n for n in nodes if node.outputs[0] in n.inputs]
        if (
            node.op in folds
            and len(consumers) == 1
            and consumers[0].op == folds[node.op][0]
            and node.outputs[0] not in graph.outputs
        ):
            bn = consumers[0]
            params = {k: (None if v is None else tensors[v]) for k, v in bn.params.items()}
            scale, shift = bn_scale_shift(bn.attrs, params)
            w = tensors[node.params["weight"]].astype(np.float64)  # type: ignore[index]
            b_name = node.params["bias"]
            b = tensors[b_name].astype(np.float64) if b_name is not None else 0.0
            expected = tuple(folds[node.op][1](node.attrs))
            if tuple(w.shape) != expected or scale.shape != (w.shape[0],):
                raise UserError(f"{where(node)}: cannot fold {where(bn)}: channel counts differ")
            wname = f"{node.name}.folded.weight"
            bname = f"{node.name}.folded.bias"
            for new in (wname, bname):
                if new in tensors:
                    raise UserError(f"fold_bn: tensor name {new!r} already exists")
            tensors[wname] = (w * scale.reshape(-1, *(1,) * (w.ndim - 1))).astype(np.float32)
            tensors[bname] = (b * scale + shift).astype(np.float32)
            out_nodes.append(node.with_(params={"weight": wname, "bias": bname}))
            rename[bn.outputs[0]] = node.outputs[0]
            outputs = [node.outputs[0] if v == bn.outputs[0] else v for v in outputs]
            skip.add(bn.name)
            continue
        out_nodes.append(node)
    folded = graph.with_(
        nodes=tuple(out_nodes),
        tensors=tensors,
        outputs=tuple(outputs),
        # Recorded only when a pair was folded: the manifest says what was done to it, not what
        # was asked (a LeNet without batch norm comes out unchanged).
        transforms=(*graph.transforms, "fold_bn") if skip else graph.transforms,
    )
    return infer_shapes(prune_tensors(folded))


def fold_affine(graph: Graph) -> Graph:
    """Fold input normalisation into the layer it feeds: a ``sub`` or ``div`` of a value by a
    per-channel ``constant`` (``(x - mean) / std``) whose only consumer is a conv2d or linear.

    ``div`` by ``s`` scales the layer's weight columns: ``W[:, c] / s[c]`` (exact, with padding
    too: a zero pad divided is still zero). ``sub`` of ``m`` moves into the bias:
    ``b - sum W[:, c] * m[c]``; for a conv only without padding (the padded zeros would otherwise
    stand for ``-m``), so a padded conv keeps its ``sub``. The constant is the second operand and
    holds one value per input channel (conv: ``[C, 1, 1]``; linear: ``[K]``) or one value for all
    (``[1]``, ...), so the op leaves the shape of its first input alone. Pairs are folded until
    none is left (``div`` then ``sub`` both reach the layer); computed in float64, rounded once to
    float32, stored as ``<layer>.affine.weight`` / ``.bias`` (``_1``, ... when folded again).
    Constants no longer used are dropped. Recorded as ``"fold_affine"`` when something folded.
    """
    tensors = dict(graph.tensors)
    nodes = list(graph.nodes)
    folded = False
    while True:
        done = _fold_one_affine(graph, nodes, tensors)
        if not done:
            break
        folded = True
    if not folded:
        return graph
    used = {v for n in nodes for v in n.inputs} | set(graph.outputs)
    nodes = [n for n in nodes if n.op != "constant" or n.outputs[0] in used]
    out = graph.with_(
        nodes=tuple(nodes), tensors=tensors, transforms=(*graph.transforms, "fold_affine")
    )
    return infer_shapes(prune_tensors(out))


def _fold_one_affine(graph: Graph, nodes: list[Node], tensors: dict[str, np.ndarray]) -> bool:
    """Fold the first foldable sub/div + layer pair of ``nodes`` in place; False if none."""
    producer = {n.outputs[0]: n for n in nodes}
    for i, op_node in enumerate(nodes):
        if op_node.op not in ("sub", "div") or op_node.outputs[0] in graph.outputs:
            continue
        consumers = [n for n in nodes if op_node.outputs[0] in n.inputs]
        if len(consumers) != 1 or consumers[0].op not in ("conv2d", "linear"):
            continue
        layer = consumers[0]
        const = producer.get(op_node.inputs[1])
        x = op_node.inputs[0]
        if const is None or const.op != "constant" or const.params["value"] is None:
            continue
        x_shape = graph.input.shape if x == graph.input.name else producer[x].output_shape
        if tuple(op_node.output_shape) != tuple(x_shape):
            continue  # the constant broadcasts the value to a larger shape
        value = np.asarray(tensors[str(const.params["value"])], dtype=np.float64)
        channels = int(x_shape[0])
        if layer.op == "conv2d":
            per_channel = value.shape in ((channels, 1, 1),) or value.size == 1
            if len(x_shape) != 3 or not per_channel:
                continue
            if op_node.op == "sub" and tuple(layer.attrs["padding"]) != (0, 0):
                continue
        else:
            if len(x_shape) != 1 or not (value.shape == (channels,) or value.size == 1):
                continue
        v = np.broadcast_to(value.reshape(-1), (channels,))
        if op_node.op == "div" and not np.all(v != 0):
            continue  # a division by zero stays as it is (inf or NaN at run time)
        w = np.asarray(tensors[str(layer.params["weight"])], dtype=np.float64)
        b_name = layer.params.get("bias")
        b = (
            np.asarray(tensors[b_name], dtype=np.float64)
            if b_name is not None
            else np.zeros(w.shape[0])
        )
        # Input channel of each weight column: conv groups see consecutive channel blocks.
        if layer.op == "conv2d":
            groups = int(layer.attrs["groups"])
            per_group, out_per_group = w.shape[1], w.shape[0] // groups
            cols = np.array(
                [
                    [(o // out_per_group) * per_group + j for j in range(per_group)]
                    for o in range(w.shape[0])
                ]
            )  # (out, in / groups)
            vv = v[cols][:, :, None, None]
        else:
            vv = v[None, :]
        if op_node.op == "div":
            new_w, new_b = w / vv, b
        else:
            new_w = w
            new_b = b - (w * np.broadcast_to(vv, w.shape)).reshape(w.shape[0], -1).sum(axis=1)
        names = []
        for slot in ("weight", "bias"):
            key, k = f"{layer.name}.affine.{slot}", 1
            while key in tensors:
                key, k = f"{layer.name}.affine_{k}.{slot}", k + 1
            names.append(key)
        tensors[names[0]] = new_w.astype(np.float32)
        tensors[names[1]] = new_b.astype(np.float32)
        j = nodes.index(layer)
        nodes[j] = layer.with_(
            inputs=tuple(x if v == op_node.outputs[0] else v for v in layer.inputs),
            params={**layer.params, "weight": names[0], "bias": names[1]},
        )
        del nodes[i]
        return True
    return False
