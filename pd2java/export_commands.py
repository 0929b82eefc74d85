"""The ``pd2java export`` and ``pd2java check`` verbs: thin wrappers over pd2java.exporter and the
front ends.

    pd2java export [SRC] -o OUTDIR [--module PKG.MOD:FACTORY] [--input-shape D [D ...]]
                   [--classes A,B,C | --classes-file FILE] [--head softmax|sigmoid|none]
                   [--trust-pickle] [--name NAME] [--fold-bn] [--no-onnx]
                   [--java-package PKG] [--java-class NAME] [--no-java] [--bundle]
    pd2java check [SRC] [--module PKG.MOD:FACTORY] [--input-shape D [D ...]] [--trust-pickle]

SRC is a pd2java checkpoint (.pt), a plain state dict (``torch.save(model.state_dict(), path)``,
with ``--module``, whose ``factory()`` builds the model), a TorchScript file (``torch.jit.save`` of
a scripted or traced module: .ts, .torchscript, or .pt/.pth told by its contents; with
``--input-shape``) or an ONNX model (.onnx); without SRC, ``--module`` exports the factory's
initial weights. A whole pickled module is refused unless ``--trust-pickle``. Unless --no-java,
the Java sources for the export (a typed wrapper and its JUnit 5 golden-vector test,
pd2java.backends.java.codegen) are written under OUTDIR/src/. ``--bundle`` also writes the runtime
jar, its sources jar and pom.xml under OUTDIR/lib/ and a README-java.md for this model
(pd2java.backends.java.bundle), so the folder is a Java deliverable. Prints every file written with
its size.

``check`` captures SRC's graph as export would (the same sources, or ``module:factory`` as SRC:
a Python module imported by dotted path, from the current folder too, whose ``factory()`` returns
an ``nn.Module``; ``--input-shape`` is then required) and prints every unsupported node with the
way around it, exit 1; or ``all N nodes supported`` with the op counts, exit 0. Writes nothing.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from pd2java.errors import UnsupportedModelError, UserError

if TYPE_CHECKING:
    from pd2java.ir import Graph


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.2f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n} B"


_SUFFIXES = (".pt", ".pth", ".onnx", ".ts", ".torchscript")


def _classes(args: argparse.Namespace) -> list[str] | None:
    if args.classes is not None and args.classes_file is not None:
        raise UserError("give --classes or --classes-file, not both")
    if args.classes is not None:
        names = [c.strip() for c in args.classes.split(",")]
    elif args.classes_file is not None:
        path = Path(args.classes_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot read --classes-file {path}: {exc.strerror or exc}") from None
        names = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        return None
    if not names or any(not c for c in names):
        raise UserError(
            "class names must be non-empty (--classes a,b,c; a classes file: one a line)"
        )
    return names


def _source_path(src: str | None) -> Path | None:
    if src is None:
        return None
    path = Path(src)
    if path.suffix.lower() not in _SUFFIXES:
        raise UserError(
            f"{src}: unknown source type {path.suffix or '(no suffix)'!r}; give a pd2java "
            "checkpoint or a state dict (.pt/.pth), a TorchScript file (.ts/.torchscript/.pt) "
            "or an ONNX model (.onnx)"
        )
    return path


def run_export(args: argparse.Namespace) -> int:
    from pd2java.exporter import export_source

    src = _source_path(args.src)
    if src is None and args.module is None:
        raise UserError("give a source file (.pt, .pth, .ts, .onnx) or --module pkg.mod:factory")
    classes = _classes(args)
    java = not args.no_java
    if java:  # check the Java names before anything is written
        from pd2java.backends.java.codegen import DEFAULT_PACKAGE, check_class_name, check_package

        check_package(args.java_package or DEFAULT_PACKAGE)
        if args.java_class:
            check_class_name(args.java_class)
    manifest = export_source(
        src,
        args.output,
        module=args.module,
        input_shape=args.input_shape,
        classes=classes,
        head=args.head,
        trust_pickle=args.trust_pickle,
        name=args.name,
        fold_bn=args.fold_bn,
        onnx=not args.no_onnx,
        weights=args.weights,
        int8_clip=args.int8_clip,
    )
    stem = manifest.name[: -len(".manifest.json")]
    written = [manifest.parent / f"{stem}.safetensors"]
    if not args.no_onnx:
        written.append(manifest.parent / f"{stem}.onnx")
    written.append(manifest)
    note = ""
    if java:
        from pd2java.backends.java.codegen import (
            DEFAULT_PACKAGE,
            NotAClassifierError,
            generate_java,
        )

        try:
            written += generate_java(
                manifest,
                manifest.parent,
                package=args.java_package or DEFAULT_PACKAGE,
                class_name=args.java_class,
            )
        except NotAClassifierError as exc:
            note = f"note: {exc}"
    if args.bundle:
        from pd2java.backends.java.bundle import write_bundle

        sources = [p for p in written if p.suffix == ".java"]
        written += write_bundle(manifest, sources)
    what = src if src is not None else f"{args.module} (its initial, untrained weights)"
    print(f"exported {what} -> {manifest.parent}" + (" (BN folded)" if args.fold_bn else ""))
    for path in written:
        print(f"  {path}  {_size(path.stat().st_size)}")
    if args.weights != "fp32":
        print(_compression_summary(manifest))
    if note:
        print(note)
    return 0


def _compression_summary(manifest: Path) -> str:
    """One paragraph from the manifest's producer entry: what was compressed, the size, and the
    deviation of the compressed model from the float32 one on the golden inputs."""
    w = json.loads(manifest.read_text("utf-8"))["producer"]["weights"]
    kept = w["kept_fp32"]
    ratio = w["stored_bytes"] / max(w["fp32_bytes"], 1)
    head = (
        f"{w['mode']} weights: {_size(w['fp32_bytes'])} of float32 parameters stored in "
        f"{_size(w['stored_bytes'])} ({ratio:.0%})"
    )
    shown = ", ".join(kept[:8]) + (" ..." if len(kept) > 8 else "")
    kept_line = (
        f"  kept in float32 (a slot that takes float32 only: bias, norm, ...): {len(kept)} "
        f"tensor(s)" + (f": {shown}" if kept else "")
    )
    agree = w.get("golden_argmax_agreement")
    deviation = (
        f"  deviation from the float32 model on the golden inputs: max abs "
        f"{w['golden_max_abs_deviation']:.3g}"
        + (f", argmax agreement {agree}" if agree else "")
        + " (pd2java verify --data DATA measures the accuracy change)"
    )
    lines = [head, kept_line, deviation]
    return "\n".join(lines)


def check_graph(
    src: str | None,
    input_shape: list[int] | None = None,
    *,
    module: str | None = None,
    trust_pickle: bool = False,
) -> Graph:
    """The validated IR graph of SRC (a .pt checkpoint or state dict, a TorchScript file, an
    .onnx file or ``module:factory``; or None with ``module``), as ``pd2java export`` would
    capture it; ``UnsupportedModelError`` lists every unsupported node."""
    from pd2java.exporter import is_torchscript_source, resolve_torch_source
    from pd2java.ir.passes import validate

    path = None if src is None else Path(src)
    if path is not None and is_torchscript_source(path):
        for flag, given in (("--module", module), ("--trust-pickle", trust_pickle or None)):
            if given is not None:
                raise UserError(f"{src}: {flag} does not apply to a TorchScript file")
        from pd2java.frontends.torchscript import torchscript_to_graph

        graph, _ = torchscript_to_graph(path, input_shape)
        validate(graph)
        return graph
    if path is not None and path.suffix.lower() == ".onnx":
        for flag, given in (
            ("--input-shape", input_shape),
            ("--module", module),
            ("--trust-pickle", trust_pickle or None),
        ):
            if given is not None:
                raise UserError(f"{src}: {flag} does not apply: the ONNX file declares its input")
        from pd2java.frontends.onnx import onnx_to_graph

        graph = onnx_to_graph(path)
        validate(graph)
        return graph
    from pd2java.frontends.fx import capture

    if src is not None and module is None and ":" in src and not Path(src).exists():
        module, path = src, None  # `pd2java check pkg.mod:factory`
    elif path is not None and path.suffix.lower() not in (".pt", ".pth"):
        raise UserError(
            f"{src}: unknown source; give a pd2java checkpoint or a state dict (.pt), a "
            "TorchScript file (.ts, .pt), an ONNX model (.onnx) or a Python factory as "
            "module:factory"
        )
    if path is None and module is None:
        raise UserError("give a source file or --module pkg.mod:factory")
    source = resolve_torch_source(path, module=module, trust_pickle=trust_pickle)
    shape = input_shape or source.input_shape
    if shape is None:
        raise UserError(
            f"{src or module}: give the model's per-sample input shape with --input-shape "
            "(e.g. C H W)"
        )
    if not isinstance(shape, (list, tuple)) or not shape or min(shape) < 1:
        raise UserError(f"{src or module}: input shape {shape!r} must be one or more sizes >= 1")
    graph = capture(source.model, shape, name=source.name)
    validate(graph)
    return graph


def run_check(args: argparse.Namespace) -> int:
    try:
        graph = check_graph(
            args.src, args.input_shape, module=args.module, trust_pickle=args.trust_pickle
        )
    except UnsupportedModelError as exc:
        print(exc)
        return 1
    counts = Counter(node.op for node in graph.nodes)
    listed = ", ".join(f"{op} x{n}" for op, n in counts.items())
    print(f"{args.src or args.module}: all {len(graph.nodes)} nodes supported: {listed}")
    return 0


def _source_options(p: argparse.ArgumentParser, shape_help: str) -> None:
    p.add_argument(
        "--module",
        metavar="PKG.MOD:FACTORY",
        help="Python code that builds the model: the module is imported by dotted path (the "
        "current folder is importable) and factory() must return an nn.Module; SRC is then its "
        "state dict, or absent to use the factory's initial weights",
    )
    p.add_argument("--input-shape", type=int, nargs="+", metavar="D", help=shape_help)
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow SRC to be a whole pickled module (torch.save(model)), loaded with "
        "torch.load(weights_only=False): this runs code from the file, use only for files you "
        "trust (not needed for, and refused with, a TorchScript file)",
    )


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a checkpoint, state dict + module, TorchScript file or ONNX model to "
        "manifest + safetensors",
        description=(
            "Export a pd2java checkpoint (.pt), a state dict (.pt) with --module, --module alone "
            "(its initial weights), a TorchScript file (torch.jit.save of a scripted or traced "
            "module, .ts or .pt, with --input-shape) or an ONNX model (.onnx) to "
            "OUTDIR/NAME.manifest.json and OUTDIR/NAME.safetensors (and NAME.onnx unless "
            "--no-onnx), validated, with golden vectors, written atomically."
        ),
    )
    p.add_argument(
        "src",
        nargs="?",
        help="pd2java checkpoint (.pt), state dict (.pt/.pth, with --module), TorchScript file "
        "(.ts/.torchscript, or .pt/.pth by its contents; with --input-shape) or ONNX model "
        "(.onnx); leave out with --module to export the factory's initial weights",
    )
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument("--name", help="model name (default: the source file's stem)")
    _source_options(
        p,
        "per-sample input shape, any rank, e.g. C H W, C L or F (required for --module and "
        "TorchScript; a checkpoint or ONNX "
        "file has its own)",
    )
    p.add_argument("--classes", metavar="A,B,C", help="class names in output order")
    p.add_argument("--classes-file", metavar="FILE", help="class names, one a line")
    p.add_argument(
        "--head",
        choices=("softmax", "sigmoid", "none"),
        help="softmax or sigmoid: append that probability head to the model's output; none: "
        "leave the output as it is (logits). A checkpoint has its own head: only restate it",
    )
    p.add_argument(
        "--fold-bn", action="store_true", help="fold each conv + batch norm pair into one conv"
    )
    p.add_argument("--no-onnx", action="store_true", help="do not write NAME.onnx")
    p.add_argument(
        "--weights",
        choices=("fp32", "fp16", "int8"),
        default="fp32",
        help="how conv and linear weights are stored: float32 (default), half, or symmetric "
        "per-output-channel int8 with scales (format version 3; docs/COMPRESSION.md)",
    )
    p.add_argument(
        "--int8-clip",
        choices=("max", "mse"),
        default="max",
        help="int8 clipping per output channel: the largest magnitude, or the threshold with the "
        "least squared error over the channel's weights",
    )
    p.add_argument("--java-package", help="package of the generated Java sources")
    p.add_argument("--java-class", help="class name of the generated Java wrapper")
    p.add_argument(
        "--no-java", action="store_true", help="do not generate the Java wrapper and its test"
    )
    p.add_argument(
        "--bundle",
        action="store_true",
        help="also write the runtime jar (with its sources jar and pom.xml) under OUTDIR/lib "
        "and a README-java.md for this model: the folder becomes a Java deliverable",
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
        "src",
        nargs="?",
        help="pd2java checkpoint (.pt), state dict (.pt, with --module), TorchScript file (.ts or "
        ".pt, with --input-shape), ONNX model (.onnx) or module:factory (Python)",
    )
    _source_options(
        c,
        "per-sample input shape (required for module:factory and TorchScript; overrides a "
        "checkpoint's)",
    )
    c.set_defaults(func=run_check)
