"""Export: a torch model, pd2java checkpoint or ONNX file -> manifest + safetensors (+ ONNX).

Public API::

    export(model, out_dir, *, input_shape, classes=None, name=None, fold_bn=False, onnx=True)
    export_checkpoint(path, out_dir, *, name=None, fold_bn=False, onnx=True)
    export_onnx(path, out_dir, *, name=None, fold_bn=False, onnx=True)
    write_graph(graph, out_dir, *, onnx=True, inputs=None, outputs=None)

each returning the manifest's path. The pipeline: front end (torch.fx or ONNX) -> IR ->
``validate`` -> optional ``fold_bn`` -> golden vectors -> every file's bytes built in memory and
read back through the strict reader -> temporary files in OUTDIR -> renamed into place, weights
first, manifest last. Any failure before the renames leaves OUTDIR exactly as it was.

Hook for generated sources: ``EXPORT_HOOKS`` holds callables ``hook(manifest_path, graph)`` run
after the files are in place (the Java code generator registers itself there).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pd2java.backends.manifest import build_manifest, encode_manifest, load_bytes
from pd2java.backends.reference import run_graph, self_test
from pd2java.backends.safetensors_io import encode_safetensors
from pd2java.errors import ParityError, UserError
from pd2java.ir import Graph
from pd2java.ir.passes import fold_bn as fold_bn_pass
from pd2java.ir.passes import validate

if TYPE_CHECKING:  # torch is imported lazily: write_graph serves ONNX imports without it
    from torch import nn

GOLDEN_COUNT = 3
GOLDEN_INPUT = "golden.input"
GOLDEN_OUTPUT = "golden.output"
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Called as hook(manifest_path, graph) after a successful export (e.g. Java source generation).
EXPORT_HOOKS: list[Callable[[Path, Graph], Any]] = []


# --- names and folders --------------------------------------------------------------------------


def model_name(raw: str) -> str:
    """A default model name made into ``[A-Za-z_][A-Za-z0-9_]*``."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", raw) or "model"
    return "_" + name if name[0].isdigit() else name


def _check_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name):
        raise UserError(f"model name {name!r} must match [A-Za-z_][A-Za-z0-9_]* (it names files)")
    return name


def check_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    """OUTDIR must be a writable folder or a path where one can be created."""
    path = Path(out_dir)
    if path.exists():
        if not path.is_dir():
            raise UserError(f"output folder {path} exists and is not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise UserError(f"output folder {path} is not writable")
        return path
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserError(f"cannot create output folder {path}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserError(f"cannot create output folder {path}: {ancestor} is not writable")
    return path


def _write_all(out_dir: Path, files: Sequence[tuple[str, bytes]]) -> list[Path]:
    """Write every file to a temporary name in ``out_dir`` then rename them, in order.

    Nothing is renamed until every temporary file is complete, so an error (disk full,
    permissions) leaves ``out_dir`` as it was: temporary files and folders this call created are
    removed.
    """
    out_dir = check_out_dir(out_dir)
    for fname, _ in files:
        final = out_dir / fname
        if final.exists() and not final.is_file():
            raise UserError(f"cannot write {final}: it exists and is not a regular file")
    created: list[Path] = []
    probe = out_dir
    while not probe.exists():
        created.append(probe)
        probe = probe.parent
    temps: list[tuple[str, Path]] = []
    # mkstemp creates 0600 files; exports are ordinary files, so apply the usual umask instead.
    mask = os.umask(0)
    os.umask(mask)
    try:
        for d in reversed(created):
            d.mkdir()
        for fname, data in files:
            fd, tmp = tempfile.mkstemp(prefix=f".{fname}.", suffix=".tmp", dir=out_dir)
            temps.append((tmp, out_dir / fname))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o666 & ~mask)
        for tmp, final in temps:
            os.replace(tmp, final)
    except OSError as exc:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        for d in created:
            try:
                d.rmdir()
            except OSError:
                pass
        raise UserError(f"cannot write the export to {out_dir}: {exc.strerror or exc}") from None
    return [final for _, final in temps]


# --- golden vectors ---------------------------------------------------------------------------


def golden_inputs(input_shape: Sequence[int], count: int = GOLDEN_COUNT) -> np.ndarray:
    """Deterministic golden inputs in [0, 1]: synthetic PRPD images for (1, 60, 120) inputs
    (one per defect class, so the outputs differ), seeded uniform noise otherwise."""
    shape = tuple(int(d) for d in input_shape)
    if shape == (1, 60, 120):
        try:
            from pd2java.training.data import synthesize
        except ImportError:  # pragma: no cover - pd2java.training.data ships with the package
            synthesize = None
        if synthesize is not None:
            ds = synthesize("gis", per_class=1, seed=0)
            picks = np.linspace(0, len(ds.images) - 1, count).round().astype(int)
            return np.ascontiguousarray(ds.images[picks][:, None], dtype=np.float32)
    rng = np.random.default_rng(20240601)
    return rng.random((count, *shape), dtype=np.float32)


# --- the writer -------------------------------------------------------------------------------


def write_graph(
    graph: Graph,
    out_dir: str | os.PathLike[str],
    *,
    onnx: bool = True,
    inputs: np.ndarray | None = None,
    outputs: np.ndarray | None = None,
) -> Path:
    """Validate ``graph`` and write ``<name>.safetensors``, ``<name>.onnx`` (unless onnx=False)
    and ``<name>.manifest.json`` into ``out_dir`` atomically; returns the manifest path.

    Golden outputs default to the NumPy reference's outputs on the golden inputs (right for an
    ONNX import; torch exports pass PyTorch's own outputs).
    """
    out = check_out_dir(out_dir)
    validate(graph)
    inputs = golden_inputs(graph.input.shape) if inputs is None else inputs
    inputs = np.ascontiguousarray(inputs, dtype=np.float32)
    expected = run_graph(graph, inputs) if outputs is None else outputs
    expected = np.ascontiguousarray(expected, dtype=np.float32).reshape(inputs.shape[0], -1)
    if expected.shape[1:] != tuple(graph.output_shape):
        raise ValueError(f"golden outputs {expected.shape} do not match {graph.output_shape}")
    for reserved in (GOLDEN_INPUT, GOLDEN_OUTPUT):
        if reserved in graph.tensors:
            raise UserError(f"tensor name {reserved!r} is reserved for the golden vectors")
    tensors = {**graph.tensors, GOLDEN_INPUT: inputs, GOLDEN_OUTPUT: expected}
    weights = encode_safetensors(tensors)
    weights_file = f"{graph.name}.safetensors"
    manifest = build_manifest(
        graph,
        weights_file=weights_file,
        weights_bytes=len(weights),
        weights_sha256=hashlib.sha256(weights).hexdigest(),
        golden_count=int(inputs.shape[0]),
    )
    manifest_bytes = encode_manifest(manifest)
    manifest_file = f"{graph.name}.manifest.json"
    # Read the pair back through the strict reader and self-test it before anything touches disk.
    loaded = load_bytes(manifest_bytes, out / manifest_file, weights_data=weights)
    try:
        self_test(loaded)
    except ParityError as exc:
        raise ParityError(
            f"the NumPy reference does not reproduce the golden outputs ({exc}); this is a "
            "pd2java bug, please report it with the model. Nothing was written."
        ) from None
    files: list[tuple[str, bytes]] = [(weights_file, weights)]
    if onnx:
        files.append((f"{graph.name}.onnx", _onnx_bytes(graph)))
    files.append((manifest_file, manifest_bytes))
    _write_all(out, files)
    manifest_path = out / manifest_file
    for hook in EXPORT_HOOKS:
        hook(manifest_path, graph)
    return manifest_path


def _onnx_bytes(graph: Graph) -> bytes:
    try:
        from pd2java.backends.onnx import graph_to_onnx
    except ImportError as exc:  # pragma: no cover - guards a partial install
        raise UserError(
            f"the ONNX writer is not available ({exc}); export with onnx=False / --no-onnx"
        ) from None
    import onnx

    model = graph_to_onnx(graph)
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise RuntimeError(f"graph {graph.name!r} maps to an invalid ONNX model: {exc}") from exc
    return model.SerializeToString(deterministic=True)


# --- front doors ------------------------------------------------------------------------------


def export(
    model: nn.Module,
    out_dir: str | os.PathLike[str],
    *,
    input_shape: Sequence[int],
    classes: Sequence[str] | None = None,
    name: str | None = None,
    fold_bn: bool = False,
    onnx: bool = True,
    image_convention: dict[str, Any] | None = None,
    producer: dict[str, Any] | None = None,
) -> Path:
    """Export any ``nn.Module`` built from supported ops; returns the manifest path.

    The model is exported in eval mode from a private deep copy: the caller's model (its mode,
    weights and hooks) is left unchanged. Golden vectors hold PyTorch's own outputs on three
    deterministic inputs; the NumPy reference must reproduce them or nothing is written.
    """
    import torch

    from pd2java.frontends.fx import capture

    out = check_out_dir(out_dir)
    if classes is None:
        found = getattr(model, "classes", None)
        if isinstance(found, (list, tuple)) and all(isinstance(c, str) for c in found):
            classes = list(found)
    final_name = _check_name(name) if name is not None else model_name(type(model).__name__)
    meta: dict[str, Any] = {"image_convention": image_convention}
    graph = capture(model, input_shape, name=final_name, classes=classes, meta=meta)
    if producer:
        graph = graph.with_(meta={**graph.meta, "producer": {**graph.meta["producer"], **producer}})
    validate(graph)
    if fold_bn:
        graph = fold_bn_pass(graph)
        validate(graph)
    inputs = golden_inputs(graph.input.shape)
    import copy

    private = copy.deepcopy(model).float().eval()
    with torch.no_grad():
        expected = private(torch.from_numpy(inputs.copy())).detach().cpu().numpy()
    expected = np.ascontiguousarray(expected, dtype=np.float32).reshape(inputs.shape[0], -1)
    return write_graph(graph, out, onnx=onnx, inputs=inputs, outputs=expected)


def export_checkpoint(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    name: str | None = None,
    fold_bn: bool = False,
    onnx: bool = True,
) -> Path:
    """Export a pd2java checkpoint (.pt): its model, classes and input image convention."""
    from pd2java.training.checkpoint import load_checkpoint

    src = Path(path)
    if not src.is_file():
        raise UserError(f"checkpoint {src} does not exist or is not a file")
    check_out_dir(out_dir)
    ckpt = load_checkpoint(src)
    model = ckpt.build_model()
    spec = dict(ckpt.input_spec or {})
    shape = spec.get("shape")
    if not isinstance(shape, (list, tuple)) or len(shape) != 3:
        raise UserError(f"checkpoint {src}: input_spec.shape {shape!r} is not [C, H, W]")
    try:
        rel = os.path.relpath(src.resolve(), Path(out_dir).resolve())
    except ValueError:  # another drive on Windows
        rel = str(src.resolve())
    return export(
        model,
        out_dir,
        input_shape=shape,
        classes=list(ckpt.classes),
        name=_check_name(name) if name is not None else model_name(src.stem),
        fold_bn=fold_bn,
        onnx=onnx,
        image_convention=spec.get("image_convention"),
        producer={"source": f"checkpoint:{ckpt.arch}", "checkpoint": rel.replace(os.sep, "/")},
    )


def export_onnx(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    name: str | None = None,
    fold_bn: bool = False,
    onnx: bool = True,
) -> Path:
    """Map an ONNX model onto the IR and write it with the same passes and writer."""
    try:
        from pd2java.frontends.onnx import onnx_to_graph
    except ImportError as exc:  # pragma: no cover - guards a partial install
        raise UserError(f"the ONNX importer is not available ({exc})") from None
    src = Path(path)
    if not src.is_file():
        raise UserError(f"ONNX file {src} does not exist or is not a file")
    check_out_dir(out_dir)
    final_name = _check_name(name) if name is not None else model_name(src.stem)
    if onnx and (Path(out_dir) / f"{final_name}.onnx").resolve() == src.resolve():
        raise UserError(
            f"exporting {src} would overwrite it with the re-written ONNX model; choose another "
            "output folder or --name, or pass --no-onnx"
        )
    graph = onnx_to_graph(src)
    producer = {**dict(graph.meta.get("producer", {})), "source": f"onnx:{src.name}"}
    graph = graph.with_(name=final_name, meta={**graph.meta, "producer": producer})
    validate(graph)
    if fold_bn:
        graph = fold_bn_pass(graph)
        validate(graph)
    return write_graph(graph, out_dir, onnx=onnx)
