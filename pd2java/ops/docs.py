"""Generate docs/OPS.md and pd2java/schema/manifest.schema.json from the op table.

Both files are generated, never hand-edited. Regenerate after changing the op table with
``python -m pd2java.generate`` (``--check``, run by the tests, fails when either is stale).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pd2java.format_rules import (
    CONFIDENCE_KEY,
    CONFIDENCE_KEYS,
    CONFIDENCE_SCORES,
    FORMAT,
    FORMAT_VERSION,
    FP32_FORMAT_VERSION,
    GOLDEN_KEYS,
    IMAGE_CONVENTION_KEYS,
    INPUT_KEYS,
    INT32_MAX,
    INT32_MIN,
    MAX_INTS_LENGTH,
    MIN_RUNTIME_KEY,
    NAME_PATTERN,
    OUTPUT_KEYS,
    OUTPUT_KINDS,
    QUANT_KEYS,
    TOP_KEYS,
    VERSION_PATTERN,
)
from pd2java.ops.table import OP_LIST, AttrSpec

_PACKAGE = Path(__file__).resolve().parent.parent
SCHEMA_PATH = _PACKAGE / "schema" / "manifest.schema.json"
OPS_MD_PATH = _PACKAGE.parent / "docs" / "OPS.md"

_KIND_SCHEMA: dict[str, dict[str, Any]] = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "int2": {"$ref": "#/$defs/int2"},
    "ints": {"$ref": "#/$defs/ints"},
}


def _attr_schema(attrs: tuple[AttrSpec, ...]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [a.name for a in attrs],
        "properties": {a.name: _KIND_SCHEMA[a.kind] for a in attrs},
    }


def generate_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a version-1 manifest.

    Unknown keys are allowed everywhere except in ``attrs`` and ``params``: FORMAT.md section 6 lets
    a later writer add an optional key without a version bump, and readers must then ignore it (the
    Java runtime does); attributes and parameter slots, by contrast, must match the op table exactly.
    """
    nullable_string = {"type": ["string", "null"]}
    per_op = []
    known = []
    for spec in OP_LIST:
        match = {
            "properties": {"op": {"const": spec.name}, "version": {"const": spec.version}},
            "required": ["op", "version"],
        }
        known.append(match)
        per_op.append(
            {
                "if": match,
                "then": {
                    "properties": {
                        "inputs": {"minItems": spec.num_inputs, "maxItems": spec.num_inputs},
                        "attrs": _attr_schema(spec.attrs),
                        "params": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": [p.name for p in spec.params],
                            "properties": {
                                p.name: nullable_string if p.optional else {"type": "string"}
                                for p in spec.params
                            },
                        },
                    }
                },
            }
        )
    shape = {"type": "array", "items": {"type": "integer", "minimum": 1}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://pd2java.invalid/schema/manifest-{FORMAT_VERSION}.json",
        "title": f"pd2java manifest, format_version {FORMAT_VERSION} (generated from "
        "pd2java/format_rules.py and pd2java/ops/table.py)",
        "type": "object",
        "required": [k for k in TOP_KEYS if k != "quantization"],
        # Version 3 (compressed weights) requires "quantization"; version 2 has no such key.
        "if": {"properties": {"format_version": {"const": FORMAT_VERSION}}},
        "then": {"required": ["quantization"]},
        "properties": {
            "format": {"const": FORMAT},
            "format_version": {"enum": [FP32_FORMAT_VERSION, FORMAT_VERSION]},
            "quantization": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": list(QUANT_KEYS),
                    "properties": {"scale": {"type": "string"}},
                },
            },
            MIN_RUNTIME_KEY: {"type": "string", "pattern": f"^{VERSION_PATTERN}$"},
            # The output-kind rule (a 1-D probabilities primary output) is the readers' alone.
            CONFIDENCE_KEY: {
                "type": "object",
                "required": list(CONFIDENCE_KEYS),
                "properties": {
                    "score": {"enum": list(CONFIDENCE_SCORES)},
                    "threshold": {"type": "number", "minimum": 0, "maximum": 1},
                    "target_false_reject": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
                },
            },
            "producer": {"type": "object"},
            "name": {"type": "string", "pattern": f"^{NAME_PATTERN}$"},
            "classes": {"type": ["array", "null"], "items": {"type": "string"}},
            "input": {
                "type": "object",
                "required": list(INPUT_KEYS),
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "shape": {**shape, "minItems": 1},
                    "dtype": {"const": "float32"},
                    "image_convention": {
                        "type": ["object", "null"],
                        "required": list(IMAGE_CONVENTION_KEYS),
                        "properties": {
                            k: {**shape, "minItems": 2, "maxItems": 2}
                            if k == "shape"
                            else {"type": "string"}
                            for k in IMAGE_CONVENTION_KEYS
                        },
                    },
                },
            },
            "outputs": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": list(OUTPUT_KEYS),
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "shape": {**shape, "minItems": 1},
                        "dtype": {"const": "float32"},
                        "kind": {"enum": list(OUTPUT_KINDS)},
                    },
                },
            },
            "transforms": {"type": "array", "items": {"type": "string"}},
            "weights": {
                "type": "object",
                "required": ["file", "bytes", "sha256"],
                "properties": {
                    "file": {"type": "string", "minLength": 1},
                    "bytes": {"type": "integer", "minimum": 8},
                    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                },
            },
            "nodes": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/node"}},
            "golden": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": list(GOLDEN_KEYS),
                        "properties": {
                            "input": {"type": "string"},
                            "outputs": {
                                "type": "array",
                                "minItems": 1,
                                "items": {"type": "string"},
                            },
                            "count": {"type": "integer", "minimum": 1},
                            "atol": {"type": "number", "minimum": 0},
                            "rtol": {"type": "number", "minimum": 0},
                        },
                    },
                ]
            },
        },
        "$defs": {
            "int2": {
                "type": "array",
                "items": {"type": "integer"},
                "minItems": 2,
                "maxItems": 2,
            },
            "ints": {
                "type": "array",
                "items": {"type": "integer", "minimum": INT32_MIN, "maximum": INT32_MAX},
                "minItems": 1,
                "maxItems": MAX_INTS_LENGTH,
            },
            "node": {
                "type": "object",
                "required": [
                    "name",
                    "op",
                    "version",
                    "inputs",
                    "outputs",
                    "attrs",
                    "params",
                    "output_shape",
                ],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "op": {"type": "string"},
                    "version": {"type": "integer", "minimum": 1},
                    "inputs": {"type": "array", "items": {"type": "string"}},
                    "outputs": {
                        "type": "array",
                        "items": {"type": "string"},
                        "minItems": 1,
                        "maxItems": 1,
                    },
                    "attrs": {"type": "object"},
                    "params": {"type": "object"},
                    "output_shape": shape,
                },
                "anyOf": known,
                "allOf": per_op,
            },
        },
    }


def generate_ops_md() -> str:
    """docs/OPS.md: every op, its inputs, parameter slots and attributes."""
    lines = [
        "# pd2java op set",
        "",
        "<!-- GENERATED by `python -m pd2java.generate` from pd2java/ops/table.py: do not edit. -->",
        "",
        "Every op a version-1 manifest may use (docs/FORMAT.md). A node names its op and version;",
        "`attrs` holds exactly the attributes listed (readers assume no default), `params` exactly",
        "the parameter slots (`null` for an absent optional slot). Shapes are per sample.",
        "",
        "| op | version | inputs | params | attrs |",
        "|---|---|---|---|---|",
    ]
    for spec in OP_LIST:
        params = ", ".join(f"`{p.name}`{'?' if p.optional else ''}" for p in spec.params) or "-"
        attrs = ", ".join(f"`{a.name}`: {a.kind}" for a in spec.attrs) or "-"
        lines.append(f"| `{spec.name}` | {spec.version} | {spec.num_inputs} | {params} | {attrs} |")
    lines.append("")
    for spec in OP_LIST:
        lines += [f"## `{spec.name}@{spec.version}`", "", spec.doc, ""]
        lines.append(f"- inputs: {spec.num_inputs}")
        for p in spec.params:
            stored = "" if p.dtypes == ("F32",) else f"; stored as {', '.join(p.dtypes)}"
            lines.append(
                f"- param `{p.name}`{' (optional)' if p.optional else ''}: {p.doc}{stored}"
            )
        for a in spec.attrs:
            lines.append(f"- attr `{a.name}` ({a.kind}): {a.doc}")
        lines.append("")
    return "\n".join(lines)


def schema_text() -> str:
    return json.dumps(generate_schema(), indent=2, sort_keys=False) + "\n"


# --- generated blocks of docs/EXPORT.md and docs/ONNX.md (see pd2java.generate.MD_BLOCKS) ------


def _code(items: list[str]) -> str:
    return ", ".join(f"`{item}`" for item in items) or "-"


def torch_forms_table() -> str:
    """docs/EXPORT.md: each op's torch modules and functional / method forms, from the
    families' registrations."""
    from pd2java.ops.frontend_registry import NO_TORCH_LOWERING, torch_forms

    forms = [f for f in torch_forms() if f.listed]
    rows = [
        "| op (OPS.md) | modules | functional / method forms | notes |",
        "|---|---|---|---|",
    ]

    def row(label: str, chosen: list[Any]) -> str:
        modules = [f.shown for f in chosen if f.kind == "module"]
        calls = [f.shown for f in chosen if f.kind != "module"]
        notes = "; ".join(dict.fromkeys(f.note for f in chosen if f.note))
        return f"| {label} | {_code(modules)} | {_code(calls)} | {notes} |"

    for name in dict.fromkeys(spec.name for spec in OP_LIST):  # one row for all versions
        if name in NO_TORCH_LOWERING:
            rows.append(f"| {name} | - | - | no torch form: {NO_TORCH_LOWERING[name]} |")
        else:
            rows.append(row(name, [f for f in forms if name in f.ops]))
    rows.append(row("(removed)", [f for f in forms if not f.ops]))
    return "\n".join(rows) + "\n"


def onnx_export_table() -> str:
    """docs/ONNX.md: the ONNX each op is written as, from the families' registrations."""
    from pd2java.ops.frontend_registry import NO_ONNX_EXPORT, onnx_exports

    exports = onnx_exports()
    rows = ["| IR op | ONNX |", "|---|---|"]
    for spec in OP_LIST:
        mapping = exports.get(spec.key)
        doc = mapping.doc if mapping else f"not written: {NO_ONNX_EXPORT.get(spec.name, '?')}"
        rows.append(f"| `{spec.name}` | {doc} |")
    return "\n".join(rows) + "\n"


def onnx_import_table() -> str:
    """docs/ONNX.md: each ONNX op type the reader accepts, what it becomes and in which forms."""
    import pd2java.frontends.onnx  # noqa: F401 - registers the structural ops (Constant, ...)
    from pd2java.ops.frontend_registry import onnx_imports

    rows = ["| ONNX | IR | accepted form |", "|---|---|---|"]
    for m in onnx_imports():
        onnx_ops = m.shown or _code(list(m.op_types))
        ir = f"`{m.ir}`" if m.ir and m.role == "op" else m.ir or _code(list(dict.fromkeys(m.ops)))
        rows.append(f"| {onnx_ops} | {ir} | {m.form} |")
    return "\n".join(rows) + "\n"
