"""The TorchScript front end: a ``torch.jit.save`` archive (of a ``torch.jit.script`` or
``torch.jit.trace`` module) as a pd2java IR ``Graph``.

The route, each step refusing with a ``UserError`` that names the file:

1. **The archive, before loading** (``check_archive``): a readable zip holding TorchScript code
   (``code/``), no entry name twice, and no ``__setstate__`` anywhere in it: ``torch.jit.load``
   runs a class's TorchScript ``__setstate__`` while loading, before anything could check it.
2. **Load** with ``torch.jit.load`` on the CPU. This compiles TorchScript, not Python:
   the archive's code cannot import a module or call a Python function (``os``, ``open``,
   ``eval`` are undefined names to the TorchScript compiler) and its pickles resolve only
   TorchScript classes and tensor types. But TorchScript can call registered torch operators,
   some of which touch files (``torch.save`` is ``aten::save``; ``torch.from_file`` reads or maps
   one), so:
3. **Screen** (``screen``): every op of ``forward`` (inlined, into loops and branches) is checked
   before anything runs it, the ONNX export below included (its freezing pass evaluates constant
   expressions). Refused, as unsupported nodes listed at once: ops outside the ``aten``/``prim``
   namespaces (custom and backend ops), the ops in ``UNSAFE_OPS`` (file access, threads, remote
   calls, Python calls), calls the inliner could not resolve, and forward hooks (the export
   converts ``forward`` alone).
4. **Convert** with ``torch.onnx.export(module, (x,), dynamo=False)``, the TorchScript-based ONNX
   exporter, for one sample of ``input_shape`` (batch fixed at 1: a traced module may have baked
   its batch size in), opset ``OPSET``, into memory. Ops the exporter has no ONNX form for are
   kept as ``org.pytorch.aten`` nodes (``ONNX_FALLTHROUGH``) so that they are listed with the
   rest instead of stopping the export at the first one. Eval mode: the exporter folds each
   batch norm that follows a conv into the conv.
5. **Import** the in-memory ONNX model with the ONNX front end's ``Importer``
   (``pd2java.frontends.onnx``): every unsupported node is listed at once, with the module path
   the exporter's node names carry.

The module itself is the oracle of an export: ``torchscript_outputs`` runs its ``forward`` on the
golden inputs, one sample at a time, and the exporter checks the NumPy reference against it.
"""

from __future__ import annotations

import io
import os
import re
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pd2java.errors import Finding, UnsupportedModelError, UserError

if TYPE_CHECKING:  # torch and onnx are imported when a TorchScript file is read
    import onnx
    import torch

    from pd2java.ir import Graph

OPSET = 17
TORCHSCRIPT_SUFFIXES = (".ts", ".torchscript")  # other names (.pt, .pth) are told by content
INPUT_NAME = "input"
OUTPUT_NAME = "output"
ONNX_ATEN_DOMAIN = "org.pytorch.aten"
SAFE_NAMESPACES = ("aten", "prim")
# Ops of the aten/prim namespaces that reach outside the computation: files, threads, the network,
# Python, or a call the screen cannot follow. A TorchScript forward holding one is refused.
UNSAFE_OPS = {
    "aten::save": "writes a file (torch.save)",
    "aten::from_file": "reads or maps a file (torch.from_file)",
    "prim::CallMethod": "calls a method the inliner could not resolve (an interface or object)",
    "prim::CallFunction": "calls a function value the inliner could not resolve",
    "prim::fork": "starts a thread (torch.jit.fork)",
    "aten::wait": "waits on a thread (torch.jit.wait)",
    "prim::awaitable": "defers a call (torch.jit._awaitable)",
    "prim::awaitable_nowait": "defers a call (torch.jit._awaitable_nowait)",
    "prim::awaitable_wait": "waits on a deferred call",
    "prim::rpc_async": "makes a remote call (torch.distributed.rpc)",
    "prim::rpc_sync": "makes a remote call (torch.distributed.rpc)",
    "prim::rpc_remote": "makes a remote call (torch.distributed.rpc)",
    "prim::PythonOp": "calls Python",
    "prim::IgnoredPythonOp": "calls a Python function left out of the script",
    "prim::Enter": "enters a with-statement (calls an object's __enter__)",
    "prim::Exit": "leaves a with-statement (calls an object's __exit__)",
}
_SETSTATE = b"__setstate__"
_SCAN_CHUNK = 1 << 20
_SCRIPTED_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
_TRACED_FRAME = re.compile(r"^(.+?)\((\d+)\): (\S+)$", re.MULTILINE)


# --- the archive ------------------------------------------------------------------------------


def _entries(path: str | os.PathLike[str]) -> list[str] | None:
    """The entry names of a zip archive, or None if ``path`` is not a readable zip."""
    try:
        if not zipfile.is_zipfile(path):
            return None
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except (OSError, zipfile.BadZipFile, ValueError):
        return None


def _is_code(name: str) -> bool:
    return (
        name == "constants.pkl"
        or name.endswith("/constants.pkl")
        or (name.startswith("code/") or "/code/" in name)
    )


def is_torchscript(path: str | os.PathLike[str]) -> bool:
    """True for a TorchScript archive: a zip holding ``constants.pkl`` or a ``code/`` folder."""
    names = _entries(path)
    return names is not None and any(_is_code(n) for n in names)


def _holds(archive: zipfile.ZipFile, info: zipfile.ZipInfo, needle: bytes) -> bool:
    """Whether the entry's bytes contain ``needle``, read in chunks (never the whole entry)."""
    tail = b""
    with archive.open(info) as handle:
        while True:
            block = handle.read(_SCAN_CHUNK)
            if not block:
                return False
            if needle in tail + block:
                return True
            tail = block[-(len(needle) - 1) :]


def check_archive(path: Path) -> None:
    """Refuse what ``torch.jit.load`` should not be given: not a file, not a zip, no TorchScript
    code, an entry name given twice (two readers could see two different files), or a
    ``__setstate__`` in any entry (it would run while loading)."""
    if not path.is_file():
        raise UserError(f"TorchScript file {path} does not exist or is not a file")
    names = _entries(path)
    if names is None:
        raise UserError(
            f"{path} is not a TorchScript file: it is not a zip archive (torch.jit.save writes "
            "one); the file is damaged, truncated or of another kind"
        )
    if not any(_is_code(n) for n in names):
        raise UserError(
            f"{path} is not a TorchScript file: the zip holds no TorchScript code (code/, "
            "constants.pkl); a state dict or checkpoint is exported as .pt"
        )
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise UserError(f"{path}: the archive holds entry {name!r} twice; refusing to load it")
        seen.add(name)
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if _holds(archive, info, _SETSTATE):
                    raise UserError(
                        f"{path}: entry {info.filename!r} holds a __setstate__ method, which "
                        "torch.jit.load would run while loading, before pd2java can check what "
                        "it does; pd2java does not load such files. Script the model without a "
                        "custom __setstate__, or export the Python model (a state dict with "
                        "--module, or ONNX)"
                    )
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as exc:
        raise UserError(
            f"{path}: the archive cannot be read ({type(exc).__name__}: {exc})"
        ) from None


def load_torchscript(path: str | os.PathLike[str]) -> torch.jit.ScriptModule:
    """``check_archive``, then ``torch.jit.load`` on the CPU, then ``screen``; the module in eval
    mode, with one tensor input."""
    import torch

    src = Path(path)
    check_archive(src)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = torch.jit.load(str(src), map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - the TorchScript loader raises RuntimeError and more
        first = " ".join(str(exc).split())[:300]
        raise UserError(
            f"{src}: torch.jit.load cannot load it ({type(exc).__name__}: {first}); the file is "
            "damaged, or was saved by a PyTorch with ops this one does not have"
        ) from None
    if not isinstance(module, torch.jit.ScriptModule) or not module._c._has_method("forward"):
        raise UserError(f"{src}: the TorchScript archive holds no module with a forward method")
    screen(module, src)
    _check_signature(module, src)
    return module.eval()  # sets the training flags from Python; runs no TorchScript


def _check_signature(module: torch.jit.ScriptModule, path: Path) -> None:
    args = list(module.forward.schema.arguments)[1:]  # after self
    required = [a for a in args if not a.has_default_value()]
    if not args or len(required) > 1 or str(args[0].type) != "Tensor":
        shown = ", ".join(f"{a.name}: {a.type}" for a in args)
        raise UserError(
            f"{path}: forward({shown}) must take one image tensor (N, C, H, W); pd2java models "
            "have exactly one input"
        )


# --- the screen -------------------------------------------------------------------------------


def _walk(block: Any) -> Iterator[Any]:
    for node in block.nodes():
        yield node
        for inner in node.blocks():
            yield from _walk(inner)


def location_of(source: str) -> str:
    """``model.py:12`` (or ``model.py:12 in forward``, traced) from a TorchScript source range
    or a traceback, skipping torch's own files; '' if it names none."""
    frames = [(m.group(1), m.group(2), "") for m in _SCRIPTED_FRAME.finditer(source)]
    frames += [(m.group(1), m.group(2), m.group(3)) for m in _TRACED_FRAME.finditer(source)]
    for file, line, func in frames:
        unix = file.replace("\\", "/")
        if "/torch/" in unix or unix.startswith("code/"):
            continue
        return f"{unix.rsplit('/', 1)[-1]}:{line}" + (f" in {func}" if func else "")
    return ""


def screen(module: torch.jit.ScriptModule, path: Path) -> None:
    """Refuse, all at once, what pd2java does not run: forward hooks, and in ``forward``
    (inlined) any op outside ``SAFE_NAMESPACES`` or in ``UNSAFE_OPS``."""
    findings: list[Finding] = []
    for qualified, sub in module.named_modules():
        hooks = [*sub._c._get_forward_pre_hooks(), *sub._c._get_forward_hooks()]
        for hook in hooks:
            findings.append(
                Finding(
                    node=f"forward hook {hook.name!r}",
                    what=f"hook {hook.name}",
                    target="forward hook",
                    reason="the export converts forward alone; a hook would run in PyTorch only",
                    hint="remove the hook before scripting, or fold what it does into forward",
                    module_path=qualified,
                )
            )
    for node in _walk(module.forward.inlined_graph):
        kind = node.kind()
        namespace = kind.split("::", 1)[0]
        if kind in UNSAFE_OPS:
            reason = f"{kind} {UNSAFE_OPS[kind]}: pd2java does not run it"
        elif namespace not in SAFE_NAMESPACES:
            reason = (
                f"{kind} is not a core torch op (namespace {namespace!r}: a custom, quantized or "
                "backend op); pd2java neither runs nor converts it"
            )
        else:
            continue
        findings.append(
            Finding(
                node=f"TorchScript op {kind}",
                what=kind,
                target=kind,
                reason=reason,
                location=location_of(str(node.sourceRange())),
            )
        )
    if findings:
        raise UnsupportedModelError(
            f"{path}: cannot export this TorchScript module (nothing of it was run)",
            findings,
            "pd2java runs a TorchScript forward made of core torch ops (aten, prim) only.",
        )


# --- conversion -------------------------------------------------------------------------------


def to_onnx(
    module: torch.jit.ScriptModule, input_shape: Sequence[int], path: Path
) -> onnx.ModelProto:
    """``module`` (screened) as an ONNX model in memory: ``torch.onnx.export(dynamo=False)`` at
    batch 1, opset ``OPSET``, ops without an ONNX form kept as ``org.pytorch.aten`` nodes."""
    import onnx
    import torch

    x = torch.zeros(1, *(int(d) for d in input_shape))
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated upstream
            torch.onnx.export(
                module,
                (x,),
                buffer,
                dynamo=False,
                opset_version=OPSET,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                do_constant_folding=True,
                operator_export_type=torch.onnx.OperatorExportTypes.ONNX_FALLTHROUGH,
            )
    except TypeError as exc:
        if "dynamo" in str(exc):  # a PyTorch without the TorchScript-based exporter
            raise UserError(
                f"{path}: this PyTorch ({torch.__version__}) has no TorchScript-based ONNX "
                "exporter (torch.onnx.export(..., dynamo=False)), which pd2java reads TorchScript "
                "with; use a PyTorch that has it, or export the Python model instead"
            ) from None
        raise UserError(_conversion_failed(path, input_shape, exc)) from None
    except Exception as exc:  # noqa: BLE001 - the exporter raises many types for a model it refuses
        raise UserError(_conversion_failed(path, input_shape, exc)) from None
    return onnx.load_from_string(buffer.getvalue())


def _conversion_failed(path: Path, shape: Sequence[int], exc: BaseException) -> str:
    first = " ".join(str(exc).split())[:400]
    return (
        f"{path}: torch.onnx.export cannot convert the TorchScript module for input shape "
        f"{list(shape)} ({type(exc).__name__}: {first}); check --input-shape C H W"
    )


def _module_path(onnx_name: str) -> str:
    """``/layer1/0/conv1/Conv`` -> ``layer1.0.conv1``: the module scope in the exporter's names."""
    parts = [p for p in onnx_name.split("/") if p]
    return ".".join(parts[:-1])


def _retell(exc: UnsupportedModelError, model: onnx.ModelProto, path: Path) -> None:
    """The ONNX importer's findings told in TorchScript terms: the module path the exporter's
    node names carry, and aten ops the exporter has no ONNX form for named as such."""
    from pd2java.ops.frontend_registry import torch_hint

    nodes = {f"ONNX node {n.name or '<unnamed>'!r} ({n.op_type})": n for n in model.graph.node}
    findings = []
    for finding in exc.findings:
        node = nodes.get(finding.node)
        if node is None:
            findings.append(finding)
            continue
        module_path = _module_path(node.name)
        if node.domain == ONNX_ATEN_DOMAIN:
            try:
                hint = torch_hint(f"torch.{node.op_type}", registered=False)
            except Exception:  # noqa: BLE001 - a hint written for another subject
                hint = ""
            finding = Finding(
                node=f"TorchScript op aten::{node.op_type}",
                what=f"aten::{node.op_type}",
                target=f"aten::{node.op_type}",
                reason=(
                    f"torch.onnx.export has no ONNX form for aten::{node.op_type} (opset {OPSET}), "
                    "and pd2java has no op for it"
                ),
                hint=hint,
                module_path=module_path,
            )
        else:
            hint = finding.hint
            if node.op_type in ("BatchNormalization", "Dropout") and "training" in finding.reason:
                hint = (
                    "the module was traced in training mode: call model.eval() before "
                    "torch.jit.trace"
                )
            finding = Finding(
                node=finding.node,
                what=finding.what,
                target=finding.target,
                reason=finding.reason,
                hint=hint,
                module_path=module_path,
                location=finding.location,
            )
        findings.append(finding)
    raise UnsupportedModelError(
        f"{path}: cannot export this TorchScript module (read as ONNX through "
        f"torch.onnx.export, opset {OPSET})",
        findings,
        exc.supported,
    ) from None


def torchscript_to_graph(
    path: str | os.PathLike[str], input_shape: Sequence[int] | None
) -> tuple[Graph, torch.jit.ScriptModule]:
    """The IR graph of the TorchScript file at ``path`` for per-sample ``input_shape`` (any rank),
    and the loaded module (the oracle). ``UnsupportedModelError`` lists every unsupported node."""
    from pd2java.frontends.onnx import Importer

    src = Path(path)
    if input_shape is None:
        raise UserError(
            f"{src}: a TorchScript file does not record its input shape; give the per-sample "
            "input shape with --input-shape (e.g. C H W)"
        )
    shape = tuple(int(d) for d in input_shape)
    if not shape or min(shape) <= 0:
        raise UserError(f"{src}: input shape {list(shape)} must be one or more positive sizes")
    module = load_torchscript(src)
    model = to_onnx(module, shape, src)
    try:
        graph = Importer(model, OPSET, src).run()
    except UnsupportedModelError as exc:
        _retell(exc, model, src)
        raise  # pragma: no cover - _retell always raises
    return graph, module


def torchscript_outputs(
    module: torch.jit.ScriptModule, inputs: np.ndarray, path: Path
) -> list[np.ndarray]:
    """``module.forward`` on the batch ``inputs`` (N, *input shape), one sample at a time (a
    traced module may have fixed its batch size at 1): every output (a tensor, or a tuple, list
    or dict of them, flattened in order), each (N, *its shape) float32."""
    import torch

    from pd2java.exporter import torch_outputs

    rows: list[list[np.ndarray]] = []
    try:
        with torch.no_grad():
            for i in range(inputs.shape[0]):
                outs = torch_outputs(module.forward(torch.from_numpy(np.array(inputs[i : i + 1]))))
                for out in outs:
                    if not isinstance(out, torch.Tensor):
                        raise UserError(
                            f"{path}: forward returns a {type(out).__name__}; pd2java needs "
                            "tensors (one, or a tuple, list or dict of them)"
                        )
                rows.append([o.detach().to(torch.float32).numpy() for o in outs])
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - the module's own errors
        first = " ".join(str(exc).split())[:300]
        raise UserError(
            f"{path}: the TorchScript module fails on the golden inputs ({type(exc).__name__}: "
            f"{first}); nothing was written"
        ) from None
    return [np.concatenate([r[k] for r in rows], axis=0) for k in range(len(rows[0]))]
