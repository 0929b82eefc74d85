"""The NumPy reference interpreter: the second oracle the Java runtime is held to.

``run(manifest_path, x)`` loads a manifest strictly (pd2java.backends.manifest.load: format, version,
schema, weights layout, size, sha256, shapes, finiteness) and runs a float32 batch (N, then the
model's input shape) through it with the op kernels in ``pd2java.ops``. It never imports torch: everything comes from
the two files on disk.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pd2java.backends.manifest import LoadedModel, load
from pd2java.errors import ErrorCode, FormatError, ParityError, UserError
from pd2java.ir import Graph, Node
from pd2java.ops.registry import impl

__all__ = [
    "SelfTestError",
    "check_input",
    "load",
    "run",
    "run_graph",
    "run_graph_all",
    "run_layers",
    "run_node",
    "self_test",
    "worst_element",
]


class SelfTestError(FormatError, ParityError):
    """The golden self-test failed (SELF_TEST_FAILED); also a ParityError, as it always was."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.SELF_TEST_FAILED, message)


def check_input(graph: Graph, x: object) -> np.ndarray:
    """``x`` as a C-contiguous float32 (N, *input shape) array matching the model, or
    FormatError(INVALID_INPUT): empty batch, wrong shape, non-numeric dtype, NaN or infinity."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise FormatError(ErrorCode.INVALID_INPUT, f"input is not an array: {exc}") from None
    if arr.dtype.kind not in "fiu":
        raise FormatError(
            ErrorCode.INVALID_INPUT, f"input must be a float32 array, got dtype {arr.dtype}"
        )
    want = tuple(graph.input.shape)
    if arr.ndim != len(want) + 1 or tuple(arr.shape[1:]) != want:
        raise FormatError(
            ErrorCode.INVALID_INPUT,
            f"input must have shape (N, {', '.join(map(str, want))}), got {tuple(arr.shape)}",
        )
    if arr.shape[0] == 0:
        raise FormatError(ErrorCode.INVALID_INPUT, "input batch is empty (N = 0)")
    with np.errstate(over="ignore", invalid="ignore"):  # too large for float32 -> inf, refused
        out = np.ascontiguousarray(arr, dtype=np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise FormatError(
            ErrorCode.INVALID_INPUT,
            f"input holds {int(bad.sum())} NaN/Inf value(s) (as float32), first at {idx}",
        )
    return out


def _finite_output(out: np.ndarray) -> np.ndarray:
    bad = ~np.isfinite(out)
    if bad.any():
        rows = sorted({int(i) for i in np.argwhere(bad)[:, 0]})
        raise FormatError(
            ErrorCode.NON_FINITE_OUTPUT,
            f"the model produced NaN/Inf for sample(s) {rows[:10]} (extreme input values?); "
            "no result is given",
        )
    return out


def _execute(graph: Graph, x: np.ndarray, keep_all: bool) -> dict[str, np.ndarray]:
    values: dict[str, np.ndarray] = {graph.input.name: x}
    out: dict[str, np.ndarray] = {}
    remaining_uses: dict[str, int] = {}
    for node in graph.nodes:
        for v in node.inputs:
            remaining_uses[v] = remaining_uses.get(v, 0) + 1
    for node in graph.nodes:
        params = {
            slot: (None if name is None else graph.tensors[name])
            for slot, name in node.params.items()
        }
        # Overflow to inf/NaN is reported by the callers (NON_FINITE_OUTPUT, SELF_TEST_FAILED).
        with np.errstate(over="ignore", invalid="ignore"):
            result = impl(node.key).kernel(node.attrs, [values[v] for v in node.inputs], params)
        want = (x.shape[0], *node.output_shape)
        if not node.inputs:  # a node with no inputs (constant) gives one sample's value
            result = np.ascontiguousarray(np.broadcast_to(result, want))
        if result.shape != want or result.dtype != np.float32:  # guards the kernels themselves
            raise RuntimeError(
                f"reference kernel {node.key} at node {node.name!r} returned "
                f"{result.dtype}{list(result.shape)}, expected float32{list(want)}"
            )
        values[node.outputs[0]] = result
        if keep_all:
            out[node.name] = result
        # Free intermediate values as soon as their last consumer ran (large batches).
        for v in node.inputs:
            remaining_uses[v] -= 1
            if remaining_uses[v] == 0 and v not in graph.outputs and not keep_all:
                values.pop(v, None)
    if not keep_all:
        out.update((v, values[v]) for v in graph.outputs)
    return out


def run_graph_all(graph: Graph, x: object) -> tuple[np.ndarray, ...]:
    """Run an in-memory (validated) IR graph on a batch; every output, (N, *output shape)
    float32 each, in the graph's output order."""
    arr = check_input(graph, x)
    values = _execute(graph, arr, keep_all=False)
    return tuple(_finite_output(values[v]) for v in graph.outputs)


def run_graph(graph: Graph, x: object) -> np.ndarray:
    """Run an in-memory (validated) IR graph on a batch; its primary output, (N, *shape)."""
    return run_graph_all(graph, x)[0]


def run_node(node: Node, x: np.ndarray) -> np.ndarray:
    """One parameter-free node (a probability head, say) on a batched array, through its op's
    NumPy kernel: what the exported graph computes at that node."""
    return impl(node.key).kernel(node.attrs, [np.asarray(x, dtype=np.float32)], {})


def run(manifest_path: str | Path, x: object) -> np.ndarray:
    """Run the exported model on a float32 batch ``x`` (N, *input shape); returns its primary
    output (N, *output shape) float32 (``run_graph_all(load(path).graph, x)`` gives all)."""
    model = load(manifest_path)
    return run_graph(model.graph, x)


def run_layers(manifest_path: str | Path, x: object) -> dict[str, np.ndarray]:
    """Every node's batched output, by node name, in topological order."""
    model = load(manifest_path)
    arr = check_input(model.graph, x)
    return _execute(model.graph, arr, keep_all=True)


def worst_element(
    got: np.ndarray, ref: np.ndarray, atol: float, rtol: float
) -> tuple[tuple[int, ...], float, float]:
    """The element of ``got`` furthest outside ``atol + rtol * |ref|`` relative to that
    allowance (finite float64 arrays of one shape): its index, its error and its allowance. It
    is within tolerance when error <= allowance."""
    err = np.abs(got - ref)
    allowed = atol + rtol * np.abs(ref)
    idx = np.unravel_index(int(np.argmax(err / allowed)), err.shape)
    return tuple(int(i) for i in idx), float(err[idx]), float(allowed[idx])


def self_test(model: LoadedModel | str | Path) -> float:
    """Check the golden vectors; returns the max abs error. SelfTestError (a FormatError with
    code SELF_TEST_FAILED, also a ParityError) when an output is NaN/Inf or out of tolerance:
    ``not (|got - expected| <= atol + rtol * |expected|)``, so NaN never passes."""
    loaded = model if isinstance(model, LoadedModel) else load(model)
    if loaded.golden is None:
        raise UserError(f"{loaded.path}: the manifest has no golden vectors")
    g = loaded.golden
    values = _execute(loaded.graph, np.ascontiguousarray(g.input, np.float32), keep_all=False)
    worst = 0.0
    for i, (value, want) in enumerate(zip(loaded.graph.outputs, g.outputs)):
        got = values[value]
        expected = want.astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            err = np.abs(got.astype(np.float64) - expected)
            allowed = g.atol + g.rtol * np.abs(expected)
            ok = err <= allowed  # False for NaN
        if not ok.all():
            idx = np.unravel_index(int(np.argmin(ok)), err.shape)
            raise SelfTestError(
                f"{loaded.path}: golden self-test failed at output {i} ({value!r}), index "
                f"{tuple(int(j) for j in idx)}: got {got[idx]!r}, expected {want[idx]!r} "
                f"(atol {g.atol}, rtol {g.rtol})"
            )
        worst = max(worst, float(err.max()))
    return worst
