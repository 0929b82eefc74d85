"""Generate Java sources for one export: a typed wrapper and a JUnit 5 parity test.

``generate_java(manifest, out_dir, package=..., class_name=...)`` reads the export through the
strict reader (:func:`pd2java.backends.manifest.load`), builds small view-model objects whose names
are already valid Java identifiers, and renders the jinja2 templates in ``templates/java``.
Generated code holds wiring, never weights, so no 64 KB method limit can bite:

- ``out_dir/src/main/java/<package>/<Class>.java``: an enum of the classes, ``load(Path)``,
  ``wrap(Model, Path)`` (refuses a model whose input shape, output size or classes differ from
  the ones generated for), and ``diagnose`` over ``Model.classify`` for a flat or a shaped sample
  (a wrongly shaped one is refused with the runtime's ``Pd2JavaException``, ``INVALID_INPUT``);
- ``out_dir/src/test/java/<package>/<Class>Test.java``: finds the export (a per-model system
  property ``pd2java.manifest.<package>.<Class>``, else the classpath resource
  ``/<name>.manifest.json``, else the manifest's path relative to ``out_dir`` taken from the
  working directory, which Maven and Gradle set to the project root), checks it is the model it was
  generated for (model name and weights SHA-256), re-checks every golden vector element by
  element, and checks the wrapper, so a Java developer has a parity test without Python.

With ``out_dir`` the export folder (what ``pd2java export`` does) the export folder is the Maven
project root and the test finds ``<name>.manifest.json`` beside ``src/``; the generated files hold
no absolute path, so the folder can be moved or checked out anywhere. Files are written
atomically and are deterministic for a given export, options and relative location.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pd2java.backends.manifest import golden_output_tensors, load
from pd2java.backends.safetensors_io import parse_header
from pd2java.errors import UserError
from pd2java.fsutil import write_text_atomic

DEFAULT_PACKAGE = "org.pd2java.generated"

# Java reserved words and literals (JLS 3.9), which cannot be identifiers.
_RESERVED_TEXT = """abstract assert boolean break byte case catch char class const continue default
do double else enum extends final finally float for goto if implements import instanceof int
interface long native new package private protected public return short static strictfp super
switch synchronized this throw throws transient try void volatile while true false null var yield
record sealed permits non-sealed _"""
JAVA_RESERVED = frozenset(_RESERVED_TEXT.split())

_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


class NotAClassifierError(UserError):
    """The export's primary output is not a 1-D class-score vector: no wrapper is generated."""


@dataclass(frozen=True)
class ClassConstant:
    """One enum constant of the generated class enum."""

    constant: str  # Java identifier, UPPER_SNAKE
    label: str  # the class name as in the manifest
    label_literal: str  # the label as a Java string literal, quotes included
    label_doc: str  # the label made safe for a Javadoc comment
    index: int


@dataclass(frozen=True)
class WrapperView:
    """Everything the templates need, already in Java terms."""

    package: str
    class_name: str
    enum_name: str
    model_name_literal: str
    model_name_doc: str
    manifest_file_literal: str
    manifest_file_doc: str
    # Where the test looks when neither its property nor the classpath names the export: the
    # manifest relative to the generated project's root (the working directory under Maven).
    manifest_relative_literal: str
    manifest_relative_doc: str
    weights_sha256_literal: str
    classes: tuple[ClassConstant, ...]
    classes_from_manifest: bool
    input_shape: tuple[int, ...]
    input_length: int
    output_length: int
    output_kind: str
    has_golden: bool
    golden_count: int
    golden_atol: str
    golden_rtol: str
    weights_file_literal: str
    # Absolute byte offsets of the golden tensors in the weights file (metadata, not weights).
    golden_input_offset: int
    golden_output_offset: int

    @property
    def input_rank(self) -> int:
        return len(self.input_shape)


def java_string(value: str) -> str:
    """A Java string literal for ``value`` (quotes included), escaping what javac would reject."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or 0x7F <= code:
            # Pure-ASCII source whatever javac's encoding. Control characters use octal escapes:
            # javac translates \uXXXX before lexing, so a \u000a would end the literal.
            if code < 0x20:
                out.append(f"\\{code:03o}")
            elif code > 0xFFFF:
                hi, lo = divmod(code - 0x10000, 0x400)
                out.append(f"\\u{0xD800 + hi:04x}\\u{0xDC00 + lo:04x}")
            else:
                out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def javadoc_text(value: str) -> str:
    """``value`` as plain text safe inside a Javadoc comment (no tags, no comment end, no \\u)."""
    out = []
    for ch in value:
        code = ord(ch)
        if ch in "&<>@{}*/\\" or code >= 0x7F:
            out.append(f"&#{code};")
        elif code < 0x20:
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def enum_constant(label: str) -> str:
    """``"protrusion conductor-2"`` -> ``PROTRUSION_CONDUCTOR_2``; always a valid identifier.

    Accented letters lose their accents (``"Ünï"`` -> ``UNI``); other non-ASCII is dropped.
    """
    text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").upper()
    if not text:
        text = "CLASS"
    if text[0].isdigit():
        text = "C_" + text
    # Upper-case identifiers never collide with Java's (all lower-case) reserved words.
    return text


def camel_class_name(name: str) -> str:
    """``"gis_light"`` -> ``GisLight``: the default class name for a manifest name."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", name) if p]
    text = "".join(p[:1].upper() + p[1:] for p in parts) or "Model"
    if text[0].isdigit():
        text = "M" + text
    return text


def check_package(package: str) -> str:
    parts = package.split(".")
    for part in parts:
        if not _IDENT.match(part) or part in JAVA_RESERVED or "$" in part:
            raise UserError(
                f"Java package {package!r}: {part!r} is not a valid package name component "
                "(letters, digits and '_', not starting with a digit, not a Java keyword)"
            )
    return package


def check_class_name(class_name: str) -> str:
    if not _IDENT.match(class_name) or class_name in JAVA_RESERVED or "$" in class_name:
        raise UserError(
            f"Java class name {class_name!r} is not a valid identifier (letters, digits and '_', "
            "not starting with a digit, not a Java keyword)"
        )
    return class_name


def _golden_offsets(loaded: Any, where: Path) -> tuple[int, int]:
    """Absolute byte offsets of the golden input and output tensors in the weights file."""
    weights = where.parent / str(loaded.manifest["weights"]["file"])
    try:
        data = weights.read_bytes()
    except OSError as exc:
        raise UserError(
            f"{weights}: cannot read the weights file ({exc.strerror or exc})"
        ) from None
    header, _, start = parse_header(data, weights)
    golden = loaded.manifest["golden"]
    return (
        start + int(header[str(golden["input"])]["data_offsets"][0]),
        start + int(header[golden_output_tensors(golden)[0]]["data_offsets"][0]),
    )


def _relative_manifest(manifest: Path, out_dir: Path) -> str:
    """The manifest's path relative to ``out_dir``, with ``/`` separators."""
    try:
        rel = os.path.relpath(manifest, out_dir.resolve())
    except ValueError:  # another drive on Windows: only the file name is portable
        return manifest.name
    return rel.replace(os.sep, "/")


def build_view(
    manifest_path: str | os.PathLike[str],
    *,
    package: str = DEFAULT_PACKAGE,
    class_name: str | None = None,
    out_dir: str | os.PathLike[str] | None = None,
) -> WrapperView:
    """The view model for one export, read and validated by the strict reader.

    ``out_dir`` is where the sources go (the generated project's root); it defaults to the
    manifest's folder.
    """
    path = Path(manifest_path).resolve()
    loaded = load(path)
    graph = loaded.graph
    name = graph.name
    class_name = check_class_name(class_name or camel_class_name(name))
    package = check_package(package)
    input_shape = tuple(int(v) for v in graph.input.shape)
    output_shape = tuple(int(v) for v in graph.output_shape)
    if len(output_shape) != 1:
        raise NotAClassifierError(
            f"{path}: the primary output has per-sample shape {list(output_shape)}, not a 1-D "
            "vector of class scores, so there is no typed classifier wrapper; call the runtime's "
            "Model.predict / Model.predictAll directly (docs/JAVA.md)"
        )
    k = output_shape[0]
    labels = [f"class_{i}" for i in range(k)] if graph.classes is None else list(graph.classes)
    constants: list[ClassConstant] = []
    used: set[str] = set()
    for i, label in enumerate(labels):
        base = enum_constant(label)
        const = base
        n = 2
        while const in used:  # two labels that map to the same identifier: keep both, numbered
            const = f"{base}_{n}"
            n += 1
        used.add(const)
        constants.append(ClassConstant(const, label, java_string(label), javadoc_text(label), i))
    enum_name = "DefectClass" if class_name != "DefectClass" else "Label"

    golden = loaded.golden
    if golden is not None:
        count = int(golden.input.shape[0])
        atol, rtol = repr(float(golden.atol)), repr(float(golden.rtol))
        g_in_off, g_out_off = _golden_offsets(loaded, path)
    else:
        count, atol, rtol = 0, "0.0", "0.0"
        g_in_off = g_out_off = 0

    length = 1
    for v in input_shape:
        length *= v
    relative = _relative_manifest(path, Path(out_dir) if out_dir is not None else path.parent)
    return WrapperView(
        package=package,
        class_name=class_name,
        enum_name=enum_name,
        model_name_literal=java_string(name),
        model_name_doc=javadoc_text(name),
        manifest_file_literal=java_string(path.name),
        manifest_file_doc=javadoc_text(path.name),
        manifest_relative_literal=java_string(relative),
        manifest_relative_doc=javadoc_text(relative),
        weights_sha256_literal=java_string(str(loaded.manifest["weights"]["sha256"])),
        classes=tuple(constants),
        classes_from_manifest=graph.classes is not None,
        input_shape=input_shape,
        input_length=length,
        output_length=k,
        output_kind=graph.output_kind,
        has_golden=golden is not None,
        golden_count=count,
        golden_atol=atol,
        golden_rtol=rtol,
        weights_file_literal=java_string(str(loaded.manifest["weights"]["file"])),
        golden_input_offset=g_in_off,
        golden_output_offset=g_out_off,
    )


def _environment() -> Any:
    import jinja2

    from pd2java.resources import templates_dir

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render(view: WrapperView) -> dict[str, str]:
    """Render both sources; keys are ``"main"`` and ``"test"``."""
    env = _environment()
    return {
        "main": env.get_template("java/Wrapper.java.j2").render(v=view),
        "test": env.get_template("java/WrapperTest.java.j2").render(v=view),
    }


def generate_java(
    manifest_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    package: str = DEFAULT_PACKAGE,
    class_name: str | None = None,
) -> list[Path]:
    """Write the wrapper and its JUnit 5 test for ``manifest_path`` under ``out_dir``.

    Returns the written paths: ``[<out>/src/main/java/.../<Class>.java,
    <out>/src/test/java/.../<Class>Test.java]``. ``class_name`` defaults to the manifest's name in
    CamelCase. ``out_dir`` is the root of the Maven/Gradle project the sources belong to; the
    export folder itself is the usual choice (the test then finds ``<name>.manifest.json`` in the
    working directory). Raises UserError for a bad export or a package/class name that is not
    Java.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: output folder for Java sources is a file")
    view = build_view(manifest_path, package=package, class_name=class_name, out_dir=out)
    sources = render(view)  # render both before writing either: a template error writes nothing
    rel = Path(*view.package.split("."))
    main = out / "src" / "main" / "java" / rel / f"{view.class_name}.java"
    test = out / "src" / "test" / "java" / rel / f"{view.class_name}Test.java"
    try:
        main.parent.mkdir(parents=True, exist_ok=True)
        test.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(main, sources["main"])
        write_text_atomic(test, sources["test"])
    except OSError as exc:
        raise UserError(f"{out}: cannot write the Java sources ({exc})") from None
    return [main, test]
