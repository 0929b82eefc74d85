"""Generate Java sources for one export: a typed wrapper and a JUnit 5 parity test.

``generate_java(manifest, out_dir, package=..., class_name=...)`` reads the manifest (JSON only,
never the weights: generated code holds wiring, not weights, so no 64 KB method limit can bite),
builds small view-model objects whose names are already valid Java identifiers, and renders the
jinja2 templates in ``templates/``:

- ``out_dir/src/main/java/<package>/<Class>.java``: an enum of the classes, ``load(Path)`` and
  ``diagnose(float[])`` returning the top class with all probabilities;
- ``out_dir/src/test/java/<package>/<Class>Test.java``: loads the manifest with the runtime's
  golden-vector self-test, re-checks every golden vector element by element, and checks the
  wrapper's behaviour, so a Java developer has a parity test in their own build without Python.

The Maven/Gradle source layout means the two files drop straight into an existing build. Files are
written atomically (temporary name in the same folder, then rename) and are deterministic for a
given manifest and options, except for the manifest's absolute path used as the test's default
location (override with ``-Dpd2java.manifest=...``).
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    manifest_default_literal: str
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
    weights_bytes: int
    # Absolute byte offsets of the golden tensors in the weights file (metadata, not weights).
    golden_input_offset: int
    golden_output_offset: int


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


def _read_manifest(manifest_path: Path) -> dict[str, Any]:
    try:
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{manifest_path}: no such manifest file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{manifest_path}: not a readable JSON manifest ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != "pd2java.manifest":
        raise UserError(f"{manifest_path}: not a pd2java manifest (format is not pd2java.manifest)")
    if data.get("format_version") != 1:
        raise UserError(
            f"{manifest_path}: format_version {data.get('format_version')!r} is not supported by "
            "this pd2java's Java generator (it knows version 1)"
        )
    for key in ("name", "input", "output", "weights", "golden", "classes"):
        if key not in data:
            raise UserError(f"{manifest_path}: manifest key {key!r} is missing")
    return data


def _float_literal(value: Any, what: str, manifest: Path) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise UserError(f"{manifest}: {what} must be a non-negative number, got {value!r}")
    return repr(float(value))


def _safetensors_header(path: Path) -> tuple[dict[str, Any], int, int]:
    """The header of a safetensors file, where its data starts, and the file's size."""
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) != 8:
                raise UserError(f"{path}: weights file shorter than its 8-byte header length")
            n = int.from_bytes(head, "little")
            size = path.stat().st_size
            if n > 100_000_000 or 8 + n > size:
                raise UserError(f"{path}: header length {n} does not fit in a {size}-byte file")
            header = json.loads(fh.read(n).decode("utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: weights file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: unreadable safetensors header ({exc})") from None
    if not isinstance(header, dict):
        raise UserError(f"{path}: safetensors header is not a JSON object")
    return header, 8 + n, size


def _golden_offset(header: dict[str, Any], tensor: str, shape: tuple[int, ...], path: Path) -> int:
    """Offset (in the data buffer) of a golden tensor, after checking its dtype and shape."""
    entry = header.get(tensor)
    if not isinstance(entry, dict):
        raise UserError(f"{path}: golden tensor {tensor!r} is not in the weights file")
    if entry.get("dtype") != "F32" or tuple(entry.get("shape", ())) != shape:
        raise UserError(
            f"{path}: golden tensor {tensor!r} is {entry.get('dtype')} {entry.get('shape')}, "
            f"expected F32 {list(shape)}"
        )
    begin, end = entry["data_offsets"]
    count = 1
    for d in shape:
        count *= d
    if end - begin != 4 * count:
        raise UserError(f"{path}: golden tensor {tensor!r} has {end - begin} bytes for {shape}")
    return int(begin)


def build_view(
    manifest_path: str | os.PathLike[str],
    *,
    package: str = DEFAULT_PACKAGE,
    class_name: str | None = None,
) -> WrapperView:
    """The view model for one manifest (validated enough to render compilable Java)."""
    path = Path(manifest_path).resolve()
    data = _read_manifest(path)
    name = str(data["name"])
    class_name = check_class_name(class_name or camel_class_name(name))
    package = check_package(package)
    try:
        input_shape = tuple(int(v) for v in data["input"]["shape"])
        output_shape = tuple(int(v) for v in data["output"]["shape"])
        output_kind = str(data["output"]["kind"])
        weights_file = str(data["weights"]["file"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: malformed input/output/weights entry ({exc!r})") from None
    if len(output_shape) != 1:
        raise UserError(f"{path}: output shape {list(output_shape)} is not 1-D (K classes)")
    k = output_shape[0]
    raw_classes = data["classes"]
    if raw_classes is None:
        labels = [f"class_{i}" for i in range(k)]
    else:
        labels = [str(c) for c in raw_classes]
        if len(labels) != k:
            raise UserError(f"{path}: {len(labels)} classes for an output of {k} values")
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

    golden = data["golden"]
    if golden is not None:
        try:
            count = int(golden["count"])
            atol = _float_literal(golden["atol"], "golden.atol", path)
            rtol = _float_literal(golden["rtol"], "golden.rtol", path)
            g_in, g_out = str(golden["input"]), str(golden["output"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{path}: malformed golden entry ({exc!r})") from None
        weights_path = path.parent / Path(weights_file).name
        header, data_start, weights_bytes = _safetensors_header(weights_path)
        g_in_off = data_start + _golden_offset(header, g_in, (count, *input_shape), weights_path)
        g_out_off = data_start + _golden_offset(header, g_out, (count, k), weights_path)
    else:
        count, atol, rtol = 0, "0.0", "0.0"
        g_in_off = g_out_off = weights_bytes = 0

    length = 1
    for v in input_shape:
        length *= v
    return WrapperView(
        package=package,
        class_name=class_name,
        enum_name=enum_name,
        model_name_literal=java_string(name),
        model_name_doc=javadoc_text(name),
        manifest_file_literal=java_string(path.name),
        manifest_file_doc=javadoc_text(path.name),
        manifest_default_literal=java_string(str(path)),
        classes=tuple(constants),
        classes_from_manifest=raw_classes is not None,
        input_shape=input_shape,
        input_length=length,
        output_length=k,
        output_kind=output_kind,
        has_golden=golden is not None,
        golden_count=count,
        golden_atol=atol,
        golden_rtol=rtol,
        weights_file_literal=java_string(weights_file),
        weights_bytes=weights_bytes,
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
    CamelCase. Raises UserError for a bad manifest or a package/class name that is not Java.
    """
    view = build_view(manifest_path, package=package, class_name=class_name)
    sources = render(view)  # render both before writing either: a template error writes nothing
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: output folder for Java sources is a file")
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
