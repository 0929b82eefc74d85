"""The NumPy reference interpreter: the second oracle the Java runtime is held to.

``run(manifest_path, x)`` loads a manifest strictly (pd2java.backends.manifest.load: format, version,
schema, weights layout, size, sha256, shapes, finiteness) and runs a float32 (N, C, H, W) batch
through it with the op kernels in ``pd2java.ops``. It never imports torch: everything comes from
the two files on disk.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pd2java.backends.manifest import LoadedModel, load
from pd2java.errors import ParityError, UserError
from pd2java.ir import Graph
from pd2java.ops.registry import impl

__all__ = ["check_input", "load", "run", "run_graph", "run_layers", "self_test"]


def check_input(graph: Graph, x: object) -> np.ndarray:
    """``x`` as a C-contiguous float32 (N, C, H, W) array matching the model, or UserError."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise UserError(f"input must be a float32 array, got dtype {arr.dtype}")
    want = tuple(graph.input.shape)
    if arr.ndim != 4 or tuple(arr.shape[1:]) != want:
        raise UserError(
            f"input must have shape (N, {', '.join(map(str, want))}), got {tuple(arr.shape)}"
        )
    return np.ascontiguousarray(arr, dtype=np.float32)


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
        result = impl(node.key).kernel(node.attrs, [values[v] for v in node.inputs], params)
        want = (x.shape[0], *node.output_shape)
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
            if remaining_uses[v] == 0 and v != graph.output and not keep_all:
                values.pop(v, None)
    if not keep_all:
        out[graph.output] = values[graph.output]
    return out


def run_graph(graph: Graph, x: object) -> np.ndarray:
    """Run an in-memory (validated) IR graph on a batch; (N, K) float32."""
    arr = check_input(graph, x)
    return _execute(graph, arr, keep_all=False)[graph.output]


def run(manifest_path: str | Path, x: object) -> np.ndarray:
    """Run the exported model on ``x`` (N, C, H, W) float32; returns (N, K) float32."""
    model = load(manifest_path)
    return run_graph(model.graph, x)


def run_layers(manifest_path: str | Path, x: object) -> dict[str, np.ndarray]:
    """Every node's batched output, by node name, in topological order."""
    model = load(manifest_path)
    arr = check_input(model.graph, x)
    return _execute(model.graph, arr, keep_all=True)


def self_test(model: LoadedModel | str | Path) -> float:
    """Check the golden vectors; returns the max abs error, ParityError when out of tolerance."""
    loaded = model if isinstance(model, LoadedModel) else load(model)
    if loaded.golden is None:
        raise UserError(f"{loaded.path}: the manifest has no golden vectors")
    g = loaded.golden
    got = run_graph(loaded.graph, g.input)
    err = np.abs(got.astype(np.float64) - g.output.astype(np.float64))
    allowed = g.atol + g.rtol * np.abs(g.output.astype(np.float64))
    if np.any(err > allowed):
        idx = np.unravel_index(int(np.argmax(err - allowed)), err.shape)
        raise ParityError(
            f"{loaded.path}: golden self-test failed at {tuple(int(i) for i in idx)}: got "
            f"{got[idx]!r}, expected {g.output[idx]!r} (atol {g.atol}, rtol {g.rtol})"
        )
    return float(err.max())
