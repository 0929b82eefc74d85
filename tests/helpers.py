"""Shared test helpers for every backend (torch, NumPy reference, Java, onnxruntime).

``assert_close`` checks shape and dtype, then values, then argmax; on failure it reports the worst
element so a reader sees at once where and by how much two backends disagree. The others are the
steps the per-op and architecture tests share: seeded inputs, running torch and onnxruntime,
``torch.onnx.export``, and comparing the exported backends (or an imported ONNX graph) against a
reference output. torch, onnxruntime and the pd2java backends are imported inside the functions:
importing this module stays cheap and does not change the order in which pd2java's op families
register (the ONNX front end must not load before the op registry has).
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pd2java.format_rules import ATOL, RTOL

if TYPE_CHECKING:
    import onnx
    import torch

    from pd2java.ir import Graph


def _as_numpy(value: Any) -> np.ndarray:
    # torch tensors are converted without importing torch here (helpers must stay cheap).
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def assert_close(
    got: Any,
    expected: Any,
    atol: float = ATOL,
    rtol: float = RTOL,
    what: str = "",
) -> None:
    """Assert ``|got - expected| <= atol + rtol * |expected|`` element by element.

    Checks, in order: shape, dtype, finiteness, values, and (for 2-D (N, K) outputs with K > 1)
    the argmax of every row. The message names ``what``, the worst element's index, both values,
    its error and the allowed error.
    """
    label = f"{what}: " if what else ""
    g = _as_numpy(got)
    e = _as_numpy(expected)
    if g.shape != e.shape:
        raise AssertionError(f"{label}shape {g.shape} != expected {e.shape}")
    if g.dtype != e.dtype:
        raise AssertionError(f"{label}dtype {g.dtype} != expected {e.dtype}")
    if g.size == 0:
        return
    if not np.all(np.isfinite(g)):
        bad = np.argwhere(~np.isfinite(g))[0]
        raise AssertionError(f"{label}non-finite value {g[tuple(bad)]} at index {tuple(bad)}")
    g64 = g.astype(np.float64)
    e64 = e.astype(np.float64)
    err = np.abs(g64 - e64)
    allowed = atol + rtol * np.abs(e64)
    excess = err - allowed
    worst = np.unravel_index(int(np.argmax(excess)), excess.shape)
    if excess[worst] > 0:
        n_bad = int(np.count_nonzero(excess > 0))
        raise AssertionError(
            f"{label}{n_bad} of {g.size} elements differ beyond atol={atol} rtol={rtol}; worst at "
            f"index {tuple(int(i) for i in worst)}: got {g64[worst]!r}, expected {e64[worst]!r}, "
            f"error {err[worst]:.3e} > allowed {allowed[worst]:.3e} "
            f"(max abs error {err.max():.3e})"
        )
    if g.ndim == 2 and g.shape[1] > 1:
        ga = np.argmax(g64, axis=1)
        ea = np.argmax(e64, axis=1)
        # A near-tie may flip within tolerance; only a flip between clearly separated scores fails.
        for row in np.nonzero(ga != ea)[0]:
            top = e64[row, ea[row]]
            other = e64[row, ga[row]]
            if top - other > atol + rtol * abs(top):
                raise AssertionError(
                    f"{label}argmax differs at row {int(row)}: got class {int(ga[row])}, "
                    f"expected {int(ea[row])} (expected scores {top!r} vs {other!r})"
                )


def seeded_input(name: str, shape: tuple[int, ...], batch: int = 3) -> torch.Tensor:
    """A standard normal ``(batch, *shape)`` tensor seeded by the CRC-32 of ``name`` (stable
    across processes, unlike ``hash``)."""
    import torch

    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    return torch.randn(batch, *shape, generator=gen)


# --- sequence (C, L) models ------------------------------------------------------------------


def seq_model(body: torch.nn.Module) -> torch.nn.Module:
    """``body``, a module on (N, C, L) sequences, ready to export (a (C, L) input, its own
    output); wrapped so that ``body`` is a module call to lower, not a forward to trace."""
    from torch import nn

    return nn.Sequential(body).eval()


def seq_input(name: str, channels: int, length: int, batch: int = 3) -> torch.Tensor:
    """The seeded (N, C, L) input (``seeded_input``) of a sequence model."""
    return seeded_input(name, (channels, length), batch)


def torch_forward(model: torch.nn.Module, x: torch.Tensor | np.ndarray) -> Any:
    """``model(x)`` without autograd, as a NumPy array (``x`` a tensor or a float32 array); a
    model with several outputs gives the list of them, in pd2java's output order (tuples and
    lists flattened, dicts in insertion order)."""
    import torch

    from pd2java.exporter import torch_outputs

    with torch.no_grad():
        outs = [t.numpy() for t in torch_outputs(model(torch.as_tensor(x)))]
    return outs[0] if len(outs) == 1 else outs


def ort_run(
    model: Path | str | bytes | onnx.ModelProto,
    x: torch.Tensor | np.ndarray,
    all_outputs: bool = False,
) -> Any:
    """Run an ONNX model (a file, serialized bytes or a ModelProto) on onnxruntime's CPU provider,
    ``x`` fed to its first input; return the first output (``all_outputs``: the list of all)."""
    import onnxruntime as ort

    if hasattr(model, "SerializeToString"):
        model = model.SerializeToString()
    data = model if isinstance(model, bytes) else str(model)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    outs = sess.run(None, {sess.get_inputs()[0].name: _as_numpy(x)})
    return outs if all_outputs else outs[0]


def torch_onnx_export(
    model: torch.nn.Module,
    x: torch.Tensor | np.ndarray,
    path: Path,
    opset: int = 17,
    fold: bool = True,
) -> Path:
    """``torch.onnx.export`` with the TorchScript exporter (``dynamo=False``): input ``x``, output
    ``y``, both with a dynamic batch axis ``N``; ``fold`` is ``do_constant_folding``. The
    exporter's deprecation warnings are silenced. Returns ``path``."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.as_tensor(x),),
            str(path),
            dynamo=False,
            opset_version=opset,
            do_constant_folding=fold,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "N"}, "y": {0: "N"}},
        )
    return path


def read_onnx(path: Path) -> Graph:
    """``pd2java.frontends.onnx.onnx_to_graph``, imported at call time: importing the ONNX front
    end before the op registry has loaded its families changes the order of the registrations
    the generated docs list."""
    from pd2java.frontends.onnx import onnx_to_graph

    return onnx_to_graph(path)


def assert_backends_match(
    manifest: Path,
    x: torch.Tensor | np.ndarray,
    expected: np.ndarray,
    name: str,
    onnx_file: Path | None = None,
    check: Callable[[Any, Any, str], None] | None = None,
) -> None:
    """An exported model's NumPy reference and Java runtime (and, given ``onnx_file``, the ONNX
    file written beside it under onnxruntime) all match ``expected`` on ``x``: one array, or
    a list of them for a model with several outputs (each output is compared).

    ``check(got, expected, what)`` compares; by default ``assert_close`` at ATOL/RTOL of
    ``pd2java.format_rules``.
    """
    from pd2java.backends import reference
    from pd2java.backends.java.bridge import java_predict_all

    if check is None:
        check = _check_close
    xs = _as_numpy(x)
    want = list(expected) if isinstance(expected, (list, tuple)) else [expected]
    graph = reference.load(manifest).graph
    got = {
        "NumPy reference": reference.run_graph_all(graph, xs),
        "Java": java_predict_all(manifest, xs),
    }
    if onnx_file is not None:
        got["written ONNX on onnxruntime"] = ort_run(onnx_file, xs, all_outputs=True)
    for who, outs in got.items():
        assert len(outs) == len(want), f"{name}: {who} gives {len(outs)} outputs, torch {len(want)}"
        for i, (g, e) in enumerate(zip(outs, want)):
            label = "" if len(want) == 1 else f" output {i}"
            check(g, e, f"{name}: {who}{label} vs torch")


def export_and_compare(
    model: torch.nn.Module, x: torch.Tensor | np.ndarray, out_dir: Path, name: str, onnx: bool
) -> Path:
    """Export ``model`` (fx) to ``out_dir`` for ``x``'s sample shape; its NumPy reference, Java
    runtime (and, with ``onnx``, the written ONNX file) match torch on ``x``. Returns the
    manifest."""
    from pd2java.exporter import export

    expected = torch_forward(model, x)
    shape = tuple(x.shape[1:])
    manifest = export(model, out_dir, input_shape=shape, name=name, onnx=onnx)
    onnx_file = manifest.parent / f"{name}.onnx" if onnx else None
    assert_backends_match(manifest, x, expected, name, onnx_file)
    return manifest


def assert_onnx_import_matches_ort(
    path: Path, x: torch.Tensor | np.ndarray, what: str, ops: Iterable[str] = ()
) -> tuple[Graph, np.ndarray, np.ndarray]:
    """Read the ONNX file ``path`` with pd2java's importer and validate the graph; it holds every
    op of ``ops``; the NumPy reference on it matches onnxruntime on the file for ``x``.

    Returns (graph, onnxruntime's output, the reference's output) for further checks.
    """
    from pd2java.backends import reference
    from pd2java.ir.passes import validate

    graph = read_onnx(path)
    validate(graph)
    graph_ops = {n.op for n in graph.nodes}
    assert set(ops) <= graph_ops, sorted(graph_ops)
    expected = ort_run(path, x)
    got = reference.run_graph(graph, _as_numpy(x))
    assert_close(got, expected, what=f"{what}: imported ONNX reference vs onnxruntime")
    return graph, expected, got


def _check_close(got: Any, expected: Any, what: str) -> None:
    assert_close(got, expected, ATOL, RTOL, what=what)


def load_benchmark(name: str) -> Any:
    """The benchmark script ``benchmarks/<name>.py`` imported as module ``name`` (registered in
    ``sys.modules`` first: dataclasses look their module up while the class is created)."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parent.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
