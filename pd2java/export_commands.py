"""The ``pd2java export`` verb: a thin wrapper over pd2java.export.

    pd2java export SRC -o OUTDIR [--name NAME] [--fold-bn] [--no-onnx]
                   [--java-package PKG] [--java-class NAME] [--no-java]

SRC is a pd2java checkpoint (.pt) or an ONNX model (.onnx). Unless --no-java, the Java sources for
the export (a typed wrapper and its JUnit 5 golden-vector test, pd2java.backends.java.codegen) are written
under OUTDIR/src/. Prints every file written with its size.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pd2java.errors import UserError


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
