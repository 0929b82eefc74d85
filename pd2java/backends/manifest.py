"""Manifest writer and strict reader/validator (docs/FORMAT.md). NumPy + jsonschema, no torch.

Writing: :func:`build_manifest` turns a validated IR graph plus the weights file's size and hash
into the manifest object (every key, in FORMAT.md order); :func:`encode_manifest` gives its
deterministic bytes.

Reading: :func:`load` checks, in this order, the JSON itself (size cap, no duplicate keys, no
NaN/Infinity constants, nesting), ``format``, ``format_version`` (refusing newer ones with a hint),
the JSON Schema generated from the op table, the weights file (bare name, size, sha256, every
safetensors rule), then rebuilds the IR and validates it (attrs, param shapes, recomputed output
shapes, finite weights) and the golden vectors. Every error names the file and the rule.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from pd2java import __version__
from pd2java.backends.safetensors_io import SafetensorsError, read_safetensors
from pd2java.errors import UserError
from pd2java.format_rules import ATOL, FORMAT, FORMAT_VERSION, MAX_MANIFEST_BYTES, RTOL
from pd2java.ir import Graph, Node, ValueSpec
from pd2java.ir.passes import validate
from pd2java.ops.table import OPS


class ManifestError(UserError):
    """A manifest or weights file that breaks a rule of docs/FORMAT.md."""


@dataclass(frozen=True)
class Golden:
    """Golden vectors: inputs (G, C, H, W), expected outputs (G, K) and the tolerance."""

    input: np.ndarray
    output: np.ndarray
    atol: float
    rtol: float


@dataclass(frozen=True)
class LoadedModel:
    """A manifest read and validated: the raw object, its IR and the golden vectors."""

    path: Path
    manifest: Mapping[str, Any]
    graph: Graph
    golden: Golden | None


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
) -> dict[str, Any]:
    """The manifest object for ``graph`` (which must already be validated)."""
    producer = {"name": "pd2java", "version": __version__}
    producer.update(_jsonable(dict(graph.meta.get("producer", {}))))
    convention = graph.meta.get("image_convention")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "producer": producer,
        "name": graph.name,
        "classes": None if graph.classes is None else list(graph.classes),
        "input": {
            "name": graph.input.name,
            "shape": list(graph.input.shape),
            "dtype": "float32",
            "layout": "CHW",
            "image_convention": None if convention is None else _jsonable(convention),
        },
        "output": {
            "name": graph.output,
            "shape": list(graph.output_shape),
            "dtype": "float32",
            "kind": graph.output_kind,
        },
        "transforms": list(graph.transforms),
        "weights": {"file": weights_file, "bytes": weights_bytes, "sha256": weights_sha256},
        "nodes": [node_to_json(n) for n in graph.nodes],
        "golden": None
        if golden_count is None
        else {
            "input": "golden.input",
            "output": "golden.output",
            "count": golden_count,
            "atol": ATOL,
            "rtol": RTOL,
        },
    }


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
    """The manifest JSON Schema shipped in the package (generated by python -m pd2java.generate)."""
    text = (resources.files("pd2java") / "schema" / "manifest.schema.json").read_text("utf-8")
    return json.loads(text)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-standard JSON constant {name}")


def parse_manifest_bytes(data: bytes, where: str) -> dict[str, Any]:
    """Strict JSON parse plus the format/version check; no schema yet."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{where}: {len(data)} bytes exceeds the {MAX_MANIFEST_BYTES} cap")
    try:
        obj = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
        )
    except RecursionError:
        raise ManifestError(f"{where}: JSON nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ManifestError(f"{where}: not valid UTF-8 JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ManifestError(f"{where}: a manifest is a JSON object, got {type(obj).__name__}")
    if obj.get("format") != FORMAT:
        raise ManifestError(
            f"{where}: 'format' is {obj.get('format')!r}, expected {FORMAT!r} (not a pd2java "
            "manifest)"
        )
    version = obj.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ManifestError(f"{where}: 'format_version' must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ManifestError(
            f"{where}: format_version {version} was written by a newer pd2java; this reader "
            f"knows version {FORMAT_VERSION} only: upgrade pd2java"
        )
    if version != FORMAT_VERSION:
        raise ManifestError(f"{where}: unknown format_version {version}")
    return obj


def check_schema(obj: Mapping[str, Any], where: str) -> None:
    """Validate against the JSON Schema; the error names the JSON path of the first problem."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        path = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        node_hint = ""
        if len(err.absolute_path) >= 2 and err.absolute_path[0] == "nodes":
            idx = err.absolute_path[1]
            nodes = obj.get("nodes")
            if isinstance(nodes, list) and isinstance(idx, int) and isinstance(nodes[idx], dict):
                node_hint = f" (node {nodes[idx].get('name')!r}, op {nodes[idx].get('op')!r})"
        message = err.message
        if err.validator == "anyOf" and path.startswith("nodes/"):
            known = ", ".join(sorted(OPS))
            message = f"unknown op/version; known: {known}"
        raise ManifestError(f"{where}: schema violation at {path}{node_hint}: {message}")


def check_weights_name(name: str, where: str) -> None:
    """A bare file name in the manifest's folder (FORMAT.md section 1)."""
    bad = (
        not name
        or "/" in name
        or "\\" in name
        or name in (".", "..")
        or ":" in name
        or name.startswith("~")
        or "\x00" in name
    )
    if bad:
        raise ManifestError(
            f"{where}: weights.file {name!r} must be a bare file name in the manifest's folder "
            "(no '/', '\\', '..', drive or absolute path)"
        )


def _graph_from_manifest(obj: Mapping[str, Any], tensors: dict[str, np.ndarray]) -> Graph:
    nodes = []
    for n in obj["nodes"]:
        spec = OPS[f"{n['op']}@{n['version']}"]
        kinds = {a.name: a.kind for a in spec.attrs}
        attrs = {
            k: tuple(v) if kinds.get(k) == "int2" and isinstance(v, list) else v
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
    return Graph(
        name=obj["name"],
        input=ValueSpec(inp["name"], tuple(inp["shape"])),
        output=obj["output"]["name"],
        nodes=tuple(nodes),
        tensors=tensors,
        classes=None if obj["classes"] is None else tuple(obj["classes"]),
        output_kind=obj["output"]["kind"],
        meta={"image_convention": inp["image_convention"], "producer": obj["producer"]},
        transforms=tuple(obj["transforms"]),
    )


def load(path: str | Path) -> LoadedModel:
    """Read and fully validate a manifest and its weights file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc.strerror or exc}") from None
    return load_bytes(data, path)


def load_bytes(data: bytes, path: str | Path, *, weights_data: bytes | None = None) -> LoadedModel:
    """Validate manifest bytes as if read from ``path``; the weights file is read from beside
    ``path`` unless ``weights_data`` gives its bytes (the exporter checks before writing)."""
    path = Path(path)
    where = str(path)
    obj = parse_manifest_bytes(data, where)
    check_schema(obj, where)
    weights = obj["weights"]
    check_weights_name(weights["file"], where)
    wpath = path.parent / weights["file"]
    wdata = weights_data
    if wdata is None:
        try:
            wdata = wpath.read_bytes()
        except OSError as exc:
            raise ManifestError(
                f"{where}: cannot read weights file {wpath}: {exc.strerror or exc}"
            ) from None
    if len(wdata) != weights["bytes"]:
        raise ManifestError(
            f"{wpath}: file is {len(wdata)} bytes but the manifest {path.name} says "
            f"{weights['bytes']} "
            "(truncated or replaced weights file?)"
        )
    digest = hashlib.sha256(wdata).hexdigest()
    if digest != weights["sha256"]:
        raise ManifestError(
            f"{wpath}: sha256 {digest} does not match {weights['sha256']} in {path.name} "
            "(the weights file does not belong to this manifest)"
        )
    try:
        tensors, _ = read_safetensors(wpath, data=wdata)
    except SafetensorsError as exc:
        raise ManifestError(str(exc)) from None
    for n in obj["nodes"]:
        for slot, tname in n["params"].items():
            if tname is not None and tname not in tensors:
                raise ManifestError(
                    f"{where}: node {n['name']!r} param {slot!r} names tensor {tname!r}, "
                    f"which is not in {weights['file']}"
                )
    graph = _graph_from_manifest(obj, tensors)
    try:
        validate(graph)
    except UserError as exc:
        raise ManifestError(f"{where}: {exc}") from None
    names = {n.name for n in graph.nodes} | {v for n in graph.nodes for v in n.outputs}
    if graph.input.name in names:
        raise ManifestError(f"{where}: input name {graph.input.name!r} is also a node/output name")
    if list(graph.output_shape) != obj["output"]["shape"]:
        raise ManifestError(
            f"{where}: output.shape {obj['output']['shape']} differs from the shape "
            f"{list(graph.output_shape)} of node output {graph.output!r}"
        )
    golden = None
    g = obj["golden"]
    if g is not None:
        for key in ("input", "output"):
            if g[key] not in tensors:
                raise ManifestError(
                    f"{where}: golden.{key} names tensor {g[key]!r}, not in {weights['file']}"
                )
        gin, gout = tensors[g["input"]], tensors[g["output"]]
        count = g["count"]
        if gin.shape != (count, *graph.input.shape):
            raise ManifestError(
                f"{where}: golden input shape {list(gin.shape)} != "
                f"{[count, *graph.input.shape]} (count, C, H, W)"
            )
        if gout.shape != (count, *graph.output_shape):
            raise ManifestError(
                f"{where}: golden output shape {list(gout.shape)} != "
                f"{[count, *graph.output_shape]} (count, K)"
            )
        golden = Golden(gin, gout, float(g["atol"]), float(g["rtol"]))
    return LoadedModel(path, obj, graph, golden)
