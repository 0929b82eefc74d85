"""The ``pd2java export`` and ``pd2java check`` verbs: thin wrappers over pd2java.export and the
front ends.

    pd2java export SRC -o OUTDIR [--name NAME] [--fold-bn] [--no-onnx]
                   [--java-package PKG] [--java-class NAME] [--no-java]
    pd2java check SRC [--input-shape C H W]

SRC is a pd2java checkpoint (.pt) or an ONNX model (.onnx). Unless --no-java, the Java sources for
the export (a typed wrapper and its JUnit 5 golden-vector test, pd2java.backends.java.codegen) are written
under OUTDIR/src/. Prints every file written with its size.

``check`` captures SRC's graph as export would (a checkpoint, an ONNX file, or ``module:factory``:
a Python module imported by dotted path, from the current folder too, whose ``factory()`` returns
an ``nn.Module``; ``--input-shape`` is then required) and prints every unsupported node with the
way around it, exit 1; or ``all N nodes supported`` with the op counts, exit 0. Writes nothing.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pd2java.errors import UnsupportedModelError, UserError

if TYPE_CHECKING:
    from pd2java.ir import Graph


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.2f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n} B"


def run_export(args: argparse.Namespace) -> int:
    from pd2java.exporter import export_checkpoint, export_onnx

    src = Path(args.src)
    suffix = src.suffix.lower()
    java = not args.no_java
    if java:  # check the Java names before anything is written
        from pd2java.backends.java.codegen import DEFAULT_PACKAGE, check_class_name, check_package

        check_package(args.java_package or DEFAULT_PACKAGE)
        if args.java_class:
            check_class_name(args.java_class)
    if suffix == ".onnx":
        manifest = export_onnx(
            src, args.output, name=args.name, fold_bn=args.fold_bn, onnx=not args.no_onnx
        )
    elif suffix in (".pt", ".pth"):
        manifest = export_checkpoint(
            src, args.output, name=args.name, fold_bn=args.fold_bn, onnx=not args.no_onnx
        )
    else:
        raise UserError(
            f"{src}: unknown source type {suffix or '(no suffix)'!r}; give a pd2java checkpoint "
            "(.pt) or an ONNX model (.onnx)"
        )
    stem = manifest.name[: -len(".manifest.json")]
    written = [manifest.parent / f"{stem}.safetensors"]
    if not args.no_onnx:
        written.append(manifest.parent / f"{stem}.onnx")
    written.append(manifest)
    if java:
        from pd2java.backends.java.codegen import DEFAULT_PACKAGE, generate_java

        written += generate_java(
            manifest,
            manifest.parent,
            package=args.java_package or DEFAULT_PACKAGE,
            class_name=args.java_class,
        )
    print(f"exported {src} -> {manifest.parent}" + (" (BN folded)" if args.fold_bn else ""))
    for path in written:
        print(f"  {path}  {_size(path.stat().st_size)}")
    return 0


def _factory_model(spec: str) -> Any:
    """``package.module:factory`` -> the ``nn.Module`` that ``factory()`` returns."""
    from torch import nn

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UserError(f"{spec!r}: give a model as module:factory (e.g. mypkg.models:build)")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())  # as `python -m` would: modules of the current folder
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any error of the user's module while importing
        raise UserError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
    factory: Any = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise UserError(f"module {module_name!r} has no attribute {attr!r}")
    if not callable(factory):
        raise UserError(f"{spec}: {attr!r} is not callable")
    try:
        model = factory()
    except Exception as exc:  # noqa: BLE001 - any error of the user's factory
        raise UserError(f"{spec}: calling {attr}() failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise UserError(f"{spec}: {attr}() returned a {type(model).__name__}, not an nn.Module")
    return model


def check_graph(src: str, input_shape: list[int] | None = None) -> Graph:
    """The validated IR graph of SRC (a .pt checkpoint, an .onnx file or ``module:factory``), as
    ``pd2java export`` would capture it; ``UnsupportedModelError`` lists every unsupported node."""
    from pd2java.exporter import model_name
    from pd2java.ir.passes import validate

    path = Path(src)
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        if input_shape is not None:
            raise UserError(
                f"{src}: --input-shape does not apply: the ONNX file declares its input"
            )
        from pd2java.frontends.onnx import onnx_to_graph

        graph = onnx_to_graph(path)
    else:
        from pd2java.frontends.fx import capture

        if suffix in (".pt", ".pth"):
            from pd2java.training.checkpoint import load_checkpoint

            if not path.is_file():
                raise UserError(f"checkpoint {path} does not exist or is not a file")
            ckpt = load_checkpoint(path)  # weights only: no pickled code runs
            model = ckpt.build_model()
            shape = input_shape or (ckpt.input_spec or {}).get("shape")
            name = path.stem
        elif ":" in src and not path.exists():
            if input_shape is None:
                raise UserError(f"{src}: give the model's input shape with --input-shape C H W")
            model = _factory_model(src)
            shape, name = input_shape, type(model).__name__
        else:
            raise UserError(
                f"{src}: unknown source; give a pd2java checkpoint (.pt), an ONNX model (.onnx) "
                "or a Python factory as module:factory"
            )
        if not isinstance(shape, (list, tuple)) or len(shape) != 3:
            raise UserError(f"{src}: input shape {shape!r} is not [C, H, W]")
        graph = capture(model, shape, name=model_name(name))
    validate(graph)
    return graph


def run_check(args: argparse.Namespace) -> int:
    try:
        graph = check_graph(args.src, args.input_shape)
    except UnsupportedModelError as exc:
        print(exc)
        return 1
    counts = Counter(node.op for node in graph.nodes)
    listed = ", ".join(f"{op} x{n}" for op, n in counts.items())
    print(f"{args.src}: all {len(graph.nodes)} nodes supported: {listed}")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a checkpoint or ONNX model to a manifest + safetensors weights",
        description=(
            "Export a pd2java checkpoint (.pt) or an ONNX model (.onnx) to OUTDIR/NAME.manifest.json"
            " and OUTDIR/NAME.safetensors (and NAME.onnx unless --no-onnx), validated, with golden "
            "vectors, written atomically."
        ),
    )
    p.add_argument("src", help="pd2java checkpoint (.pt) or ONNX model (.onnx)")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument("--name", help="model name (default: the source file's stem)")
    p.add_argument(
        "--fold-bn", action="store_true", help="fold each conv + batch norm pair into one conv"
    )
    p.add_argument("--no-onnx", action="store_true", help="do not write NAME.onnx")
    p.add_argument("--java-package", help="package of the generated Java sources")
    p.add_argument("--java-class", help="class name of the generated Java wrapper")
    p.add_argument(
        "--no-java", action="store_true", help="do not generate the Java wrapper and its test"
    )
    p.set_defaults(func=run_export)

    c = subparsers.add_parser(
        "check",
        help="list every unsupported layer of a model, with the way around it",
        description=(
            "Capture a model's graph as export would and report every unsupported node at once "
            "(module path and source line, or ONNX node; what it is; the way around it), exit 1; "
            "or 'all N nodes supported' with the op counts, exit 0. Writes nothing."
        ),
    )
    c.add_argument(
        "src", help="pd2java checkpoint (.pt), ONNX model (.onnx) or module:factory (Python)"
    )
    c.add_argument(
        "--input-shape",
        type=int,
        nargs=3,
        metavar=("C", "H", "W"),
        help="per-sample input shape (required for module:factory; overrides a checkpoint's)",
    )
    c.set_defaults(func=run_check)
