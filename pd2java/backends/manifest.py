"""Manifest writer and strict reader/validator (docs/FORMAT.md). NumPy only, no torch.

Writing: :func:`build_manifest` turns a validated IR graph plus the weights file's size and hash
into the manifest object (every key, in FORMAT.md order); :func:`encode_manifest` gives its
deterministic bytes.

Reading: :func:`load` checks, in this order (FORMAT.md, "Order of checks"): the manifest path
(a regular file within the size limit, stat before open), the JSON itself (strict, limits),
``format``, ``format_version``, the structure of every key and node (op, attrs, params) without
the weights, then the weights file (bare name, real path in the export folder, size, sha256, every
safetensors rule, referenced tensors' dtype and finiteness), then rebuilds the IR and validates it
(wiring, param shapes, recomputed output shapes, plan size), the output and the golden vectors.
Every refusal is a :class:`pd2java.errors.FormatError` whose ``code`` names the rule and whose
message names the file (and node) and the rule. One pass over the document: linear in its size.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from pd2java import __version__
from pd2java.backends.safetensors_io import (
    SafetensorsError,
    is_json_int,
    loads_strict,
    parse_header,
    read_regular_file,
    tensor_array,
)
from pd2java.errors import ErrorCode, FormatError
from pd2java.format_rules import (
    ATOL,
    CONFIDENCE_KEY,
    FORMAT,
    FORMAT_SINCE,
    FORMAT_VERSION,
    FP32_FORMAT_VERSION,
    FP32_WEIGHT_DTYPES,
    GOLDEN_KEYS,
    GOLDEN_KEYS_V1,
    IMAGE_CONVENTION_KEYS,
    INPUT_KEYS,
    INPUT_KEYS_V1,
    MAX_GOLDEN_COUNT,
    MAX_MANIFEST_BYTES,
    MAX_NODES,
    MAX_WEIGHTS_BYTES,
    MIN_RUNTIME_KEY,
    NAME_PATTERN,
    NODE_KEYS,
    OUTPUT_KEYS,
    OUTPUT_KINDS,
    QUANT_KEYS,
    READ_VERSIONS,
    RTOL,
    TOP_KEYS,
    TOP_KEYS_V1,
    TOP_KEYS_V2,
    VERSION_PATTERN,
    check_confidence,
)
from pd2java.ir import Graph, Node, ValueSpec
from pd2java.ir.passes import check_signature, validate
from pd2java.ops.table import OPS, supported_ops
from pd2java.quantize import dequantize_int8

__all__ = ["FormatError", "ManifestError", "SafetensorsError", "load", "load_bytes", "schema"]


class ManifestError(FormatError):
    """A manifest that breaks a rule of docs/FORMAT.md (code INVALID_MANIFEST unless given)."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.INVALID_MANIFEST) -> None:
        super().__init__(code, message)


@dataclass(frozen=True)
class Golden:
    """Golden vectors: inputs (G, *input shape), the expected value of every output
    (G, *output shape), primary output first, and the tolerance."""

    input: np.ndarray
    outputs: tuple[np.ndarray, ...]
    atol: float
    rtol: float

    @property
    def output(self) -> np.ndarray:
        """The primary output's golden vectors."""
        return self.outputs[0]


@dataclass(frozen=True)
class LoadedModel:
    """A manifest read and validated: the raw object, its IR and the golden vectors."""

    path: Path
    manifest: Mapping[str, Any]
    graph: Graph
    golden: Golden | None
    # Each param tensor's stored dtype (F32, F16 or I8); graph.tensors holds the float32 values.
    weight_dtypes: Mapping[str, str]


# --- writing --------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def node_to_json(node: Node) -> dict[str, Any]:
    spec = OPS[node.key]
    return {
        "name": node.name,
        "op": node.op,
        "version": node.version,
        "inputs": list(node.inputs),
        "outputs": list(node.outputs),
        # Table order, every attribute and every slot explicit (FORMAT.md: no defaults).
        "attrs": {a.name: _jsonable(node.attrs[a.name]) for a in spec.attrs},
        "params": {p.name: node.params[p.name] for p in spec.params},
        "output_shape": list(node.output_shape),
    }


def build_manifest(
    graph: Graph,
    *,
    weights_file: str,
    weights_bytes: int,
    weights_sha256: str,
    golden_count: int | None,
    quantization: Mapping[str, str] | None = None,
    compressed: bool = False,
) -> dict[str, Any]:
    """The manifest object for ``graph`` (which must already be validated). ``compressed``: some
    weight is stored as F16 or I8 (``quantization`` maps each I8 tensor to its scale tensor), so
    the file is format version 3; else version 2, which older runtimes read too."""
    producer = {"name": "pd2java", "version": __version__}
    producer.update(_jsonable(dict(graph.meta.get("producer", {}))))
    convention = graph.meta.get("image_convention")
    confidence = graph.meta.get("confidence")
    version = FORMAT_VERSION if compressed else FP32_FORMAT_VERSION
    return {
        "format": FORMAT,
        "format_version": version,
        MIN_RUNTIME_KEY: FORMAT_SINCE[version],
        "producer": producer,
        "name": graph.name,
        "classes": None if graph.classes is None else list(graph.classes),
        "input": {
            "name": graph.input.name,
            "shape": list(graph.input.shape),
            "dtype": "float32",
            "image_convention": None if convention is None else _jsonable(convention),
        },
        "outputs": [
            {"name": value, "shape": list(shape), "dtype": "float32", "kind": kind}
            for value, shape, kind in zip(graph.outputs, graph.output_shapes, graph.output_kinds)
        ],
        # Optional (FORMAT.md section 1): the confidence threshold, when the graph carries one.
        **({CONFIDENCE_KEY: _jsonable(confidence)} if confidence is not None else {}),
        "transforms": list(graph.transforms),
        "weights": {"file": weights_file, "bytes": weights_bytes, "sha256": weights_sha256},
        **(
            {"quantization": {t: {"scale": s} for t, s in sorted((quantization or {}).items())}}
            if compressed
            else {}
        ),
        "nodes": [node_to_json(n) for n in graph.nodes],
        "golden": None
        if golden_count is None
        else {
            "input": GOLDEN_INPUT,
            "outputs": [golden_output_name(i) for i in range(len(graph.outputs))],
            "count": golden_count,
            "atol": ATOL,
            "rtol": RTOL,
        },
    }


GOLDEN_INPUT = "golden.input"


def golden_output_name(index: int) -> str:
    """The weights-file tensor holding the golden vectors of output ``index``."""
    return "golden.output" if index == 0 else f"golden.output.{index}"


_SHORT_LIST = re.compile(r"\[\s*([^\[\]{}]*?)\s*\]", re.DOTALL)


def encode_manifest(manifest: Mapping[str, Any]) -> bytes:
    """Deterministic UTF-8 bytes: 2-space indented JSON in key order, short number lists on one
    line, a trailing newline."""
    text = json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False)
    text = _SHORT_LIST.sub(lambda m: "[" + re.sub(r"\s*\n\s*", " ", m.group(1)) + "]", text)
    return (text + "\n").encode("utf-8")


# --- reading --------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The manifest JSON Schema shipped in the package (generated by python -m pd2java.generate).

    For users' tools: the readers do not use it (the hand-written check below is stricter, e.g.
    1.0 is not an integer, and linear in the manifest's size)."""
    text = (resources.files("pd2java") / "schema" / "manifest.schema.json").read_text("utf-8")
    return json.loads(text)


def parse_manifest_bytes(data: bytes, where: str) -> dict[str, Any]:
    """Strict JSON parse plus the format/version check; no structure yet."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(
            f"{where}: {len(data)} bytes exceeds the {MAX_MANIFEST_BYTES}-byte manifest limit",
            ErrorCode.LIMIT_EXCEEDED,
        )
    obj = loads_strict(data, where)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        got = obj.get("format") if isinstance(obj, dict) else f"a JSON {type(obj).__name__}"
        raise ManifestError(
            f"{where}: 'format' is {got!r}, expected {FORMAT!r} (not a pd2java manifest)",
            ErrorCode.UNSUPPORTED_FORMAT,
        )
    version = obj.get("format_version")
    if not is_json_int(version):
        raise ManifestError(
            f"{where}: 'format_version' must be an integer, got {version!r}",
            ErrorCode.UNSUPPORTED_FORMAT_VERSION,
        )
    if version > FORMAT_VERSION:
        raise ManifestError(
            f"{where}: format_version {version} was written by a newer pd2java; this reader "
            f"reads versions {list(READ_VERSIONS)}: upgrade pd2java",
            ErrorCode.UNSUPPORTED_FORMAT_VERSION,
        )
    if version not in READ_VERSIONS:
        raise ManifestError(
            f"{where}: unknown format_version {version}", ErrorCode.UNSUPPORTED_FORMAT_VERSION
        )
    check_min_runtime(obj, where)
    return obj


_VERSION_RE = re.compile(VERSION_PATTERN)


def parse_version(text: str) -> tuple[int, int, int]:
    """``"MAJOR.MINOR.PATCH"`` as a tuple of ints, for ordering (VERSION_PATTERN must match)."""
    major, minor, patch = text.split(".")
    return int(major), int(minor), int(patch)


def check_min_runtime(obj: Mapping[str, Any], where: str, runtime: str = __version__) -> None:
    """The optional ``min_runtime_version`` (FORMAT.md section 1): a malformed value is
    INVALID_MANIFEST; a version above ``runtime`` (this package's) is UNSUPPORTED_FORMAT_VERSION."""
    if MIN_RUNTIME_KEY not in obj:
        return
    need = obj[MIN_RUNTIME_KEY]
    if not isinstance(need, str) or _VERSION_RE.fullmatch(need) is None:
        raise ManifestError(
            f"{where}: '{MIN_RUNTIME_KEY}' must be a \"MAJOR.MINOR.PATCH\" string, got {need!r}",
            ErrorCode.INVALID_MANIFEST,
        )
    if parse_version(need) > parse_version(runtime):
        raise ManifestError(
            f"{where}: the file needs pd2java runtime {need} or newer; this reader is {runtime}: "
            "upgrade pd2java",
            ErrorCode.UNSUPPORTED_FORMAT_VERSION,
        )


# --- structure (no weights) ------------------------------------------------------------------------

_NAME_RE = re.compile(NAME_PATTERN)
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


def _is_number(value: object) -> bool:
    """A finite JSON number (integer or not)."""
    return (type(value) is int or type(value) is float) and math.isfinite(value)


def _is_shape(value: object, rank: int | None = None) -> bool:
    return (
        isinstance(value, list)
        and (rank is None or len(value) == rank)
        and all(is_json_int(d) and d >= 1 for d in value)
    )


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


class _Checker:
    """Raises ManifestError(INVALID_MANIFEST) naming the JSON path of a wrong key."""

    def __init__(self, where: str) -> None:
        self.where = where

    def obj(self, parent: Mapping[str, Any], key: str, path: str) -> Any:
        if key not in parent:
            raise ManifestError(f"{self.where}: missing key {path}{key}")
        return parent[key]

    def want(self, ok: bool, path: str, what: str, value: object) -> None:
        if not ok:
            shown = repr(value)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            raise ManifestError(f"{self.where}: {path} must be {what}, got {shown}")


def check_structure(obj: Mapping[str, Any], where: str) -> None:
    """Every key the format requires, with its JSON type, and every node's op, attrs and params
    (FORMAT.md section 1); nothing that needs the weights or the recomputed shapes. A version-1
    document is checked by version 1's rules (FORMAT.md, "Version 1 files")."""
    v1 = obj["format_version"] == 1
    c = _Checker(where)
    keys = {1: TOP_KEYS_V1, 2: TOP_KEYS_V2}.get(obj["format_version"], TOP_KEYS)
    for key in keys:
        c.obj(obj, key, "")
    if "quantization" in keys:
        quant = obj["quantization"]
        c.want(isinstance(quant, dict), "quantization", "an object", quant)
        for tname, entry in quant.items():
            path = f"quantization/{tname}"
            c.want(isinstance(entry, dict), path, "an object", entry)
            for key in QUANT_KEYS:
                c.obj(entry, key, f"{path}/")
            c.want(isinstance(entry["scale"], str), f"{path}/scale", "a string", entry["scale"])
    c.want(isinstance(obj["producer"], dict), "producer", "an object", obj["producer"])
    name = obj["name"]
    c.want(
        isinstance(name, str) and _NAME_RE.fullmatch(name) is not None,
        "name",
        f"a string matching {NAME_PATTERN}",
        name,
    )
    classes = obj["classes"]
    c.want(classes is None or _is_str_list(classes), "classes", "null or strings", classes)
    inp = obj["input"]
    c.want(isinstance(inp, dict), "input", "an object", inp)
    for key in INPUT_KEYS_V1 if v1 else INPUT_KEYS:
        c.obj(inp, key, "input/")
    c.want(isinstance(inp["name"], str), "input/name", "a string", inp["name"])
    if v1:
        c.want(_is_shape(inp["shape"], 3), "input/shape", "[C, H, W] integers >= 1", inp["shape"])
        c.want(inp["layout"] == "CHW", "input/layout", '"CHW"', inp["layout"])
    else:
        c.want(
            _is_shape(inp["shape"]) and len(inp["shape"]) >= 1,
            "input/shape",
            "a non-empty array of integers >= 1",
            inp["shape"],
        )
    c.want(inp["dtype"] == "float32", "input/dtype", '"float32"', inp["dtype"])
    conv = inp["image_convention"]
    c.want(
        conv is None or isinstance(conv, dict), "input/image_convention", "null or an object", conv
    )
    if conv is not None:
        for key in IMAGE_CONVENTION_KEYS:
            c.obj(conv, key, "input/image_convention/")
            path = f"input/image_convention/{key}"
            if key == "shape":
                c.want(_is_shape(conv[key], 2), path, "two integers >= 1", conv[key])
            else:
                c.want(isinstance(conv[key], str), path, "a string", conv[key])
    if v1:
        _check_output(c, obj["output"], "output", rank1=True)
    else:
        outs = obj["outputs"]
        c.want(isinstance(outs, list) and len(outs) >= 1, "outputs", "a non-empty array", outs)
        for i, out in enumerate(outs):
            _check_output(c, out, f"outputs/{i}", rank1=False)
    if CONFIDENCE_KEY in obj:
        primary = obj["output"] if v1 else obj["outputs"][0]
        problem = check_confidence(obj[CONFIDENCE_KEY], primary)
        if problem is not None:
            raise ManifestError(f"{where}: '{CONFIDENCE_KEY}' {problem}")
    c.want(_is_str_list(obj["transforms"]), "transforms", "an array of strings", obj["transforms"])
    w = obj["weights"]
    c.want(isinstance(w, dict), "weights", "an object", w)
    for key in ("file", "bytes", "sha256"):
        c.obj(w, key, "weights/")
    c.want(isinstance(w["file"], str), "weights/file", "a string", w["file"])
    c.want(
        is_json_int(w["bytes"]) and w["bytes"] >= 0, "weights/bytes", "an integer >= 0", w["bytes"]
    )
    sha = w["sha256"]
    c.want(
        isinstance(sha, str) and _SHA256_RE.fullmatch(sha) is not None,
        "weights/sha256",
        "64 lowercase hex digits",
        sha,
    )
    g = obj["golden"]
    c.want(g is None or isinstance(g, dict), "golden", "null or an object", g)
    if g is not None:
        for key in GOLDEN_KEYS_V1 if v1 else GOLDEN_KEYS:
            c.obj(g, key, "golden/")
        c.want(isinstance(g["input"], str), "golden/input", "a string", g["input"])
        if v1:
            c.want(isinstance(g["output"], str), "golden/output", "a string", g["output"])
        else:
            n_out = len(obj["outputs"])
            c.want(
                _is_str_list(g["outputs"]) and len(g["outputs"]) == n_out,
                "golden/outputs",
                f"an array of {n_out} tensor name(s), one per output",
                g["outputs"],
            )
        c.want(
            is_json_int(g["count"]) and 1 <= g["count"] <= MAX_GOLDEN_COUNT,
            "golden/count",
            f"an integer in 1..{MAX_GOLDEN_COUNT}",
            g["count"],
        )
        for key in ("atol", "rtol"):
            c.want(_is_number(g[key]) and g[key] >= 0, f"golden/{key}", "a number >= 0", g[key])
    nodes = obj["nodes"]
    c.want(isinstance(nodes, list), "nodes", "an array", nodes)
    if not nodes:
        raise ManifestError(
            f"{where}: 'nodes' is empty (a model has at least one node)", ErrorCode.INVALID_GRAPH
        )
    if len(nodes) > MAX_NODES:
        raise ManifestError(
            f"{where}: {len(nodes)} nodes exceed the limit of {MAX_NODES}",
            ErrorCode.LIMIT_EXCEEDED,
        )
    for i, n in enumerate(nodes):
        _check_node(c, n, i)


def _check_output(c: _Checker, out: Any, path: str, *, rank1: bool) -> None:
    c.want(isinstance(out, dict), path, "an object", out)
    for key in OUTPUT_KEYS:
        c.obj(out, key, f"{path}/")
    c.want(isinstance(out["name"], str), f"{path}/name", "a string", out["name"])
    if rank1:
        c.want(_is_shape(out["shape"], 1), f"{path}/shape", "[K], an integer >= 1", out["shape"])
    else:
        c.want(
            _is_shape(out["shape"]) and len(out["shape"]) >= 1,
            f"{path}/shape",
            "a non-empty array of integers >= 1",
            out["shape"],
        )
    c.want(out["dtype"] == "float32", f"{path}/dtype", '"float32"', out["dtype"])
    c.want(
        out["kind"] in OUTPUT_KINDS,
        f"{path}/kind",
        " or ".join(f'"{k}"' for k in OUTPUT_KINDS),
        out["kind"],
    )


def _outputs(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The output objects of a checked document, whatever its version."""
    return [obj["output"]] if obj["format_version"] == 1 else list(obj["outputs"])


def golden_output_tensors(g: Mapping[str, Any]) -> list[str]:
    """The tensor names of a checked ``golden`` entry's outputs, whatever the version."""
    return [g["output"]] if "outputs" not in g else list(g["outputs"])


def _check_node(c: _Checker, n: Any, i: int) -> None:
    path = f"nodes/{i}"
    c.want(isinstance(n, dict), path, "an object", n)
    for key in NODE_KEYS:
        c.obj(n, key, f"{path}/")
    label = f"{path}/{n['name']!r}" if isinstance(n["name"], str) else path
    c.want(isinstance(n["name"], str), f"{path}/name", "a string", n["name"])
    c.want(isinstance(n["op"], str), f"{label}/op", "a string", n["op"])
    c.want(is_json_int(n["version"]), f"{label}/version", "an integer", n["version"])
    c.want(_is_str_list(n["inputs"]), f"{label}/inputs", "an array of strings", n["inputs"])
    c.want(_is_str_list(n["outputs"]), f"{label}/outputs", "an array of strings", n["outputs"])
    c.want(isinstance(n["attrs"], dict), f"{label}/attrs", "an object", n["attrs"])
    c.want(isinstance(n["params"], dict), f"{label}/params", "an object", n["params"])
    c.want(
        _is_shape(n["output_shape"]),
        f"{label}/output_shape",
        "an array of integers >= 1",
        n["output_shape"],
    )
    key = f"{n['op']}@{n['version']}"
    spec = OPS.get(key)
    if spec is None:
        raise ManifestError(
            f"{c.where}: node {n['name']!r}: unknown op {key}; known: {supported_ops()}",
            ErrorCode.UNKNOWN_OP,
        )
    check_signature(spec, n["attrs"], n["params"], f"{c.where}: node {n['name']!r} ({key})")


def _read_params(
    obj: Mapping[str, Any], wdata: bytes, start: int, header: Mapping[str, dict], where: str
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Every tensor the nodes reference, as the float32 values the model computes with (F16
    widened, I8 dequantised with its scale: FORMAT.md, "Compressed weights"), and each one's
    stored dtype. A slot's tensor may have the dtypes of its ParamSpec (format version 3; F32
    only before); each I8 tensor has exactly one quantization entry, whose scale is F32, one
    finite value > 0 per output channel (axis 0)."""
    v3 = obj["format_version"] >= 3
    raw: dict[str, np.ndarray] = {}
    stored: dict[str, str] = {}
    for n in obj["nodes"]:
        spec = OPS[f"{n['op']}@{n['version']}"]
        slots = {p.name: p for p in spec.params}
        for slot, tname in n["params"].items():
            if tname is None:
                continue
            allowed = slots[slot].dtypes if v3 else FP32_WEIGHT_DTYPES
            ref = f"{where}: node {n['name']!r} param {slot!r}"
            if tname in raw:  # shared: this slot must accept the stored dtype too
                if stored[tname] not in allowed:
                    raise ManifestError(
                        f"{ref}: tensor {tname!r} has dtype {stored[tname]}; this slot takes "
                        f"{' or '.join(allowed)}",
                        ErrorCode.UNSUPPORTED_DTYPE,
                    )
                continue
            raw[tname] = tensor_array(wdata, start, header, tname, ref, allowed)
            stored[tname] = header[tname]["dtype"]
    quant = obj.get("quantization", {}) if v3 else {}
    for tname, dtype in stored.items():
        if dtype == "I8" and tname not in quant:
            raise ManifestError(
                f"{where}: int8 tensor {tname!r} has no 'quantization' entry (its scale)",
                ErrorCode.INVALID_PARAMETER,
            )
    tensors: dict[str, np.ndarray] = {}
    for tname, arr in raw.items():
        if stored[tname] == "F16":
            tensors[tname] = arr.astype(np.float32)
        elif stored[tname] == "F32":
            tensors[tname] = arr
    for tname, entry in quant.items():
        if stored.get(tname) != "I8":
            raise ManifestError(
                f"{where}: quantization entry {tname!r} names no int8 tensor a node references",
                ErrorCode.INVALID_PARAMETER,
            )
        q = raw[tname]
        if q.ndim == 0:
            raise ManifestError(
                f"{where}: int8 tensor {tname!r} has no axis 0 (rank 0), so no output channels "
                "to scale",
                ErrorCode.INVALID_PARAMETER,
            )
        what = f"{where}: quantization entry {tname!r} scale"
        scale = tensor_array(wdata, start, header, entry["scale"], what)
        if scale.shape != (q.shape[0],):
            raise ManifestError(
                f"{what} {entry['scale']!r} has shape {list(scale.shape)}, expected "
                f"[{q.shape[0]}] (one per output channel)",
                ErrorCode.INVALID_PARAMETER,
            )
        if not np.all(scale > 0):
            bad = int(np.argmin(scale > 0))
            raise ManifestError(
                f"{what} {entry['scale']!r} holds {scale[bad]!r} at index {bad}; scales must be "
                "> 0",
                ErrorCode.INVALID_PARAMETER,
            )
        tensors[tname] = dequantize_int8(q, scale)
    return tensors, stored


def check_schema(obj: Mapping[str, Any], where: str) -> None:
    """Validate against the shipped JSON Schema (for tools; the readers use check_structure)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    err = jsonschema.exceptions.best_match(validator.iter_errors(obj))
    if err is not None:
        path = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ManifestError(f"{where}: schema violation at {path}: {err.message}")


# --- weights -----------------------------------------------------------------------------------------


def check_weights_name(name: str, where: str) -> None:
    """A bare file name in the manifest's folder (FORMAT.md section 1); '~' is an ordinary
    character."""
    bad = (
        not name
        or "/" in name
        or "\\" in name
        or name in (".", "..")
        or ":" in name
        or "\x00" in name
    )
    if bad:
        raise ManifestError(
            f"{where}: weights.file {name!r} must be a bare file name in the manifest's folder "
            "(non-empty, no '/', '\\', ':', NUL, not '.' or '..')",
            ErrorCode.UNSAFE_PATH,
        )


def read_weights(path: Path, weights: Mapping[str, Any], where: str) -> tuple[Path, bytes]:
    """The weights file's bytes after the path rules of FORMAT.md section 1: its real path
    (symlinks resolved) lies directly in the manifest's real folder, it is a regular file within
    the size limit and of exactly weights.bytes bytes, all checked before it is opened."""
    name = weights["file"]
    check_weights_name(name, where)
    folder = Path(os.path.realpath(path)).parent
    real = Path(os.path.realpath(folder / name))
    if real.parent != folder:
        raise ManifestError(
            f"{where}: weights file {name!r} resolves to {real}, outside the export folder "
            f"{folder}",
            ErrorCode.UNSAFE_PATH,
        )
    data = read_regular_file(real, MAX_WEIGHTS_BYTES, where, expect_size=weights["bytes"])
    return real, data


# --- the whole model -----------------------------------------------------------------------------


def _graph_from_manifest(obj: Mapping[str, Any], tensors: dict[str, np.ndarray]) -> Graph:
    nodes = []
    for n in obj["nodes"]:
        spec = OPS[f"{n['op']}@{n['version']}"]
        kinds = {a.name: a.kind for a in spec.attrs}
        attrs = {
            k: tuple(v) if kinds.get(k) in ("int2", "ints") and isinstance(v, list) else v
            for k, v in n["attrs"].items()
        }
        nodes.append(
            Node(
                name=n["name"],
                op=n["op"],
                version=n["version"],
                inputs=tuple(n["inputs"]),
                outputs=tuple(n["outputs"]),
                attrs=attrs,
                params=dict(n["params"]),
                output_shape=tuple(n["output_shape"]),
            )
        )
    inp = obj["input"]
    outs = _outputs(obj)
    return Graph(
        name=obj["name"],
        input=ValueSpec(inp["name"], tuple(inp["shape"])),
        outputs=tuple(o["name"] for o in outs),
        nodes=tuple(nodes),
        tensors=tensors,
        classes=None if obj["classes"] is None else tuple(obj["classes"]),
        output_kinds=tuple(o["kind"] for o in outs),
        meta={
            "image_convention": inp["image_convention"],
            "producer": obj["producer"],
            **({CONFIDENCE_KEY: obj[CONFIDENCE_KEY]} if CONFIDENCE_KEY in obj else {}),
        },
        transforms=tuple(obj["transforms"]),
    )


def load(path: str | Path) -> LoadedModel:
    """Read and fully validate a manifest and its weights file; FormatError otherwise."""
    path = Path(path)
    data = read_regular_file(path, MAX_MANIFEST_BYTES, "manifest")
    return load_bytes(data, path)


def load_bytes(data: bytes, path: str | Path, *, weights_data: bytes | None = None) -> LoadedModel:
    """Validate manifest bytes as if read from ``path``; the weights file is read from beside
    ``path`` unless ``weights_data`` gives its bytes (the exporter checks before writing)."""
    path = Path(path)
    where = str(path)
    obj = parse_manifest_bytes(data, where)
    check_structure(obj, where)
    weights = obj["weights"]
    if weights_data is None:
        wpath, wdata = read_weights(path, weights, where)
    else:
        check_weights_name(weights["file"], where)
        wpath, wdata = path.parent / weights["file"], weights_data
        if len(wdata) != weights["bytes"]:
            raise ManifestError(
                f"{wpath}: {len(wdata)} bytes but the manifest says {weights['bytes']}",
                ErrorCode.WEIGHTS_SIZE_MISMATCH,
            )
    digest = hashlib.sha256(wdata).hexdigest()
    if digest != weights["sha256"]:
        raise ManifestError(
            f"{wpath}: sha256 {digest} does not match {weights['sha256']} in {path.name} "
            "(the weights file does not belong to this manifest)",
            ErrorCode.WEIGHTS_CHECKSUM_MISMATCH,
        )
    header, _, start = parse_header(wdata, wpath)
    tensors, stored = _read_params(obj, wdata, start, header, where)
    g = obj["golden"]
    golden_in = None
    golden_out: list[np.ndarray] = []
    if g is not None:
        golden_in = tensor_array(wdata, start, header, g["input"], f"{where}: golden.input")
        golden_out = [
            tensor_array(wdata, start, header, tname, f"{where}: golden output {i}")
            for i, tname in enumerate(golden_output_tensors(g))
        ]
    graph = _graph_from_manifest(obj, tensors)
    validate(graph, allow_nonfinite=True, where=where)  # finiteness was checked on decoding
    for i, (out, shape) in enumerate(zip(_outputs(obj), graph.output_shapes)):
        if list(shape) != out["shape"]:
            raise ManifestError(
                f"{where}: the shape {out['shape']} declared for output {i} ({out['name']!r}) "
                f"differs from the shape {list(shape)} of that node output",
                ErrorCode.SHAPE_MISMATCH,
            )
    golden = None
    if g is not None:
        assert golden_in is not None
        count = g["count"]
        if golden_in.shape != (count, *graph.input.shape):
            raise ManifestError(
                f"{where}: golden input {g['input']!r} has shape {list(golden_in.shape)}, "
                f"expected {[count, *graph.input.shape]} (count, then the input shape)",
                ErrorCode.SHAPE_MISMATCH,
            )
        for i, (tname, arr, shape) in enumerate(
            zip(golden_output_tensors(g), golden_out, graph.output_shapes)
        ):
            if arr.shape != (count, *shape):
                raise ManifestError(
                    f"{where}: golden output {tname!r} has shape {list(arr.shape)}, expected "
                    f"{[count, *shape]} (count, then the shape of output {i})",
                    ErrorCode.SHAPE_MISMATCH,
                )
        golden = Golden(golden_in, tuple(golden_out), float(g["atol"]), float(g["rtol"]))
    return LoadedModel(path, obj, graph, golden, stored)
