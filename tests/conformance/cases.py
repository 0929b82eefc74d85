"""The conformance corpus: edge-case exports and the verdict both readers must give (FORMAT.md).

``CASES`` is the one table: (name, build function, expected ``ErrorCode`` name or None for
accept). Each build function writes one export into an empty folder and returns its manifest
path. Every case starts from ``tests/golden/tiny.*`` (or a small hand-built graph) and carries
exactly one defect, so the expected code does not depend on the order in which a reader checks.

``INFERENCE_CASES`` lists inputs to run through an accepted model: (name, model builder, input
array, expected code).

The generator depends only on the standard library and NumPy (never on the readers under test).
Run ``python tests/conformance/cases.py OUTDIR`` to write the corpus to a folder and print the
table (``name<TAB>expected<TAB>manifest``), e.g. to check the Java runtime by hand.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pd2java import __version__
from pd2java.training.data.convention import IMAGE_CONVENTION

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
STEM = "m"
MIB = 1024 * 1024

# Byte sizes of the safetensors dtypes used here.
_SIZES = {"F32": 4, "F16": 2, "F64": 8, "I8": 1, "U8": 1, "BF16": 2, "I32": 4}


@dataclass
class T:
    """One safetensors entry: dtype, shape and raw little-endian bytes."""

    dtype: str
    shape: list[int]
    raw: bytes


def f32(arr: Any) -> T:
    a = np.ascontiguousarray(np.asarray(arr, dtype="<f4"))
    return T("F32", [int(d) for d in a.shape], a.tobytes())


def _read_tiny() -> tuple[dict[str, Any], dict[str, T]]:
    manifest = json.loads((GOLDEN / "tiny.manifest.json").read_text("utf-8"))
    data = (GOLDEN / "tiny.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    header.pop("__metadata__", None)
    tensors = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        tensors[name] = T(e["dtype"], list(e["shape"]), data[8 + n + b : 8 + n + end])
    return manifest, tensors


def tiny() -> tuple[dict[str, Any], dict[str, T]]:
    """A fresh, mutable copy of the tiny export: (manifest object, tensors by name)."""
    manifest, tensors = _read_tiny()
    return copy.deepcopy(manifest), {
        k: T(v.dtype, list(v.shape), v.raw) for k, v in tensors.items()
    }


def encode_st(
    tensors: dict[str, T],
    *,
    order: list[str] | None = None,
    header_hook: Callable[[dict[str, Any]], Any] | None = None,
    header_text: bytes | None = None,
    lead: bytes = b"",
    pad: bytes = b" ",
    pad_to: int = 8,
    trailing: bytes = b"",
    metadata: dict[str, Any] | None = None,
) -> bytes:
    """Safetensors bytes; ``order`` sets the buffer order (default sorted), ``header_hook`` may
    edit the header object, ``header_text`` replaces the JSON text, ``lead``/``pad`` are bytes
    before the JSON and the padding byte."""
    names = order if order is not None else sorted(tensors)
    header: dict[str, Any] = {}
    pos = 0
    chunks = []
    for name in names:
        t = tensors[name]
        header[name] = {"dtype": t.dtype, "shape": t.shape, "data_offsets": [pos, pos + len(t.raw)]}
        chunks.append(t.raw)
        pos += len(t.raw)
    if metadata is not None:
        header["__metadata__"] = metadata
    if header_hook is not None:
        header = header_hook(header) or header
    text = (
        header_text
        if header_text is not None
        else json.dumps(header, separators=(",", ":")).encode("utf-8")
    )
    text = lead + text
    text += pad * (-len(text) % pad_to if pad_to else 0)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks) + trailing


def write_export(
    d: Path,
    manifest: dict[str, Any] | None,
    weights: bytes | dict[str, T] | None,
    *,
    manifest_bytes: bytes | None = None,
    fix_weights: bool = True,
    weights_name: str | None = None,
) -> Path:
    """Write ``weights`` (bytes or tensors) and the manifest into ``d``; with ``fix_weights`` the
    manifest's weights.file/bytes/sha256 are set to describe the written file."""
    d.mkdir(parents=True, exist_ok=True)
    name = weights_name if weights_name is not None else f"{STEM}.safetensors"
    if weights is not None:
        data = weights if isinstance(weights, bytes) else encode_st(weights)
        (d / name).write_bytes(data)
        if manifest is not None and fix_weights:
            manifest["weights"] = {
                "file": name,
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
    path = d / f"{STEM}.manifest.json"
    if manifest_bytes is None:
        manifest_bytes = json.dumps(manifest, indent=1).encode("utf-8")
    path.write_bytes(manifest_bytes)
    return path


def mutate(*changes: Callable[[dict[str, Any]], Any]) -> Callable[[Path], Path]:
    """A case: the tiny export with the manifest object edited by ``changes``, in order."""

    def build(d: Path) -> Path:
        m, t = tiny()
        for change in changes:
            change(m)
        return write_export(d, m, t)

    return build


def mutate_tensors(change: Callable[[dict[str, Any], dict[str, T]], Any]) -> Callable[[Path], Path]:
    """A case: the tiny export with manifest and tensors edited by ``change``."""

    def build(d: Path) -> Path:
        m, t = tiny()
        change(m, t)
        return write_export(d, m, t)

    return build


def mutate_text(change: Callable[[str], str]) -> Callable[[Path], Path]:
    """A case: the tiny export's manifest text (weights fields fixed first) edited by ``change``."""

    def build(d: Path) -> Path:
        m, t = tiny()
        data = encode_st(t)
        (d / f"{STEM}.safetensors").parent.mkdir(parents=True, exist_ok=True)
        write_export(d, m, data)
        text = json.dumps(m, indent=1)
        return write_export(d, None, None, manifest_bytes=change(text).encode("utf-8"))

    return build


def mutate_st(**kwargs: Any) -> Callable[[Path], Path]:
    """A case: the tiny export with the safetensors file encoded with ``encode_st(**kwargs)``."""

    def build(d: Path) -> Path:
        m, t = tiny()
        return write_export(d, m, encode_st(t, **kwargs))

    return build


def node(m: dict[str, Any], name: str) -> dict[str, Any]:
    return next(n for n in m["nodes"] if n["name"] == name)


def _walk(m: dict[str, Any], path: str) -> tuple[Any, Any]:
    """The container of the last key of ``a/b/c`` and that key (node names select nodes under
    ``nodes``; digits index other lists)."""
    keys = path.split("/")
    obj: Any = m
    for k in keys[:-1]:
        if obj is m["nodes"]:
            obj = node(m, k)
        else:
            obj = obj[int(k)] if isinstance(obj, list) else obj[k]
    last = keys[-1]
    return obj, int(last) if isinstance(obj, list) else last


def setp(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set ``a/b/c`` (node names select nodes under ``nodes``) to ``value``."""

    def change(m: dict[str, Any]) -> None:
        obj, last = _walk(m, path)
        obj[last] = value

    return change


def delp(path: str) -> Callable[[dict[str, Any]], None]:
    def change(m: dict[str, Any]) -> None:
        obj, last = _walk(m, path)
        del obj[last]

    return change


# --- hand-built graphs -----------------------------------------------------------------------


def _n(name: str, op: str, inputs: list[str], attrs=None, params=None, out=None, shape=None):
    return {
        "name": name,
        "op": op,
        "version": 1,
        "inputs": inputs,
        "outputs": [out or name],
        "attrs": attrs or {},
        "params": params or {},
        "output_shape": shape,
    }


def graph_manifest(
    input_shape: list[int], nodes: list[dict[str, Any]], *, output: str, k: int
) -> dict[str, Any]:
    """A manifest around hand-written nodes, no classes, no golden vectors."""
    m, _ = tiny()
    m["name"] = "hand"
    m["classes"] = None
    m["input"]["shape"] = input_shape
    m["outputs"] = [{"name": output, "shape": [k], "dtype": "float32", "kind": "logits"}]
    m["nodes"] = nodes
    m["golden"] = None
    return m


def hand(
    input_shape: list[int],
    nodes: list[dict[str, Any]],
    *,
    output: str,
    k: int,
    tensors: dict[str, T] | None = None,
) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        m = graph_manifest(input_shape, copy.deepcopy(nodes), output=output, k=k)
        t = dict(tensors or {})
        t.setdefault("unused", f32([0.0]))  # a safetensors file needs no tensor, but keep one
        return write_export(d, m, t)

    return build


def relu_chain(c: int, h: int, w: int, n_relu: int) -> Callable[[Path], Path]:
    """input (c, h, w) -> n relus -> global_avg_pool(keepdims false) -> (c)."""
    nodes = []
    prev = "input"
    for i in range(n_relu):
        nodes.append(_n(f"r{i}", "relu", [prev], shape=[c, h, w]))
        prev = f"r{i}"
    nodes.append(_n("gap", "global_avg_pool", [prev], {"keepdims": False}, shape=[c]))
    return hand([c, h, w], nodes, output="gap", k=c)


def many_nodes(n: int) -> Callable[[Path], Path]:
    """A chain of ``n`` relu nodes on a (1, 1, 1) input, written compactly."""

    def build(d: Path) -> Path:
        nodes = [
            _n(f"n{i}", "relu", [f"n{i - 1}" if i else "input"], shape=[1, 1, 1]) for i in range(n)
        ]
        nodes.append(_n("flat", "flatten", [f"n{n - 1}"], shape=[1]))
        m = graph_manifest([1, 1, 1], nodes, output="flat", k=1)
        data = encode_st({"unused": f32([0.0])})
        write_export(d, m, data)
        return write_export(
            d, None, None, manifest_bytes=json.dumps(m, separators=(",", ":")).encode()
        )

    return build


def overflow_model() -> Callable[[Path], Path]:
    """input (1, 1, 2) -> flatten -> linear [[1, 1], [1, -1]] -> softmax: finite weights whose
    output overflows to inf/NaN for inputs near float32's maximum."""
    nodes = [
        _n("flat", "flatten", ["input"], shape=[2]),
        _n(
            "fc",
            "linear",
            ["flat"],
            {"in_features": 2, "out_features": 2},
            {"weight": "fc.weight", "bias": None},
            shape=[2],
        ),
        _n("prob", "softmax", ["fc"], {"dim": 1}, shape=[2]),
    ]
    return hand([1, 1, 2], nodes, output="prob", k=2, tensors={"fc.weight": f32([[1, 1], [1, -1]])})


# --- special files ---------------------------------------------------------------------------


def weights_replaced(make: Callable[[Path, bytes], None], *, name: str = f"{STEM}.safetensors"):
    """The tiny manifest (describing the real weights) with the weights path made by ``make``
    (given the path and the real bytes)."""

    def build(d: Path) -> Path:
        m, t = tiny()
        data = encode_st(t)
        d.mkdir(parents=True, exist_ok=True)
        m["weights"] = {
            "file": name,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        make(d / name, data)
        return write_export(d, m, None)

    return build


def weights_file_named(name: str) -> Callable[[Path], Path]:
    """The tiny export (weights written as m.safetensors) whose weights.file says ``name``."""

    def build(d: Path) -> Path:
        m, t = tiny()
        write_export(d, m, t)
        m["weights"]["file"] = name
        return write_export(d, m, None)

    return build


def _symlink_outside(p: Path, data: bytes) -> None:
    outside = p.parent.parent / f"outside-{p.parent.name}.safetensors"
    outside.write_bytes(data)
    p.symlink_to(outside)


def _symlink_inside(p: Path, data: bytes) -> None:
    real = p.parent / "real.safetensors"
    real.write_bytes(data)
    p.symlink_to(real.name)


def _fifo(p: Path, data: bytes) -> None:
    os.mkfifo(p)


def _dev_zero(p: Path, data: bytes) -> None:
    p.symlink_to("/dev/zero")


def _directory(p: Path, data: bytes) -> None:
    p.mkdir()


def _missing(p: Path, data: bytes) -> None:
    pass


def _sparse_over_limit(p: Path, data: bytes) -> None:
    with open(p, "wb") as f:
        f.write(data)
        f.truncate(1024 * MIB + 1)


def manifest_special(make: Callable[[Path], None]) -> Callable[[Path], Path]:
    """A valid weights file beside a manifest path made special by ``make``."""

    def build(d: Path) -> Path:
        m, t = tiny()
        write_export(d, m, t)
        path = d / f"{STEM}.manifest.json"
        path.unlink()
        make(path)
        return path

    return build


def sparse_weights_over_limit(d: Path) -> Path:
    m, t = tiny()
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"{STEM}.safetensors"
    _sparse_over_limit(p, encode_st(t))
    m["weights"] = {"file": p.name, "bytes": 1024 * MIB + 1, "sha256": "0" * 64}
    return write_export(d, m, None)


def manifest_over_limit(d: Path) -> Path:
    m, t = tiny()
    write_export(d, m, t)
    text = json.dumps(m, indent=1).encode()
    return write_export(d, None, None, manifest_bytes=text + b" " * (16 * MIB + 1 - len(text)))


def tiny_with(**over: Any) -> Callable[[Path], Path]:
    """Tiny with tensors replaced (name -> T or None to delete)."""

    def build(d: Path) -> Path:
        m, t = tiny()
        for k, v in over.items():
            k = k.replace("__", ".")
            if v is None:
                t.pop(k)
            else:
                t[k] = v(t[k]) if callable(v) else v
        return write_export(d, m, t)

    return build


def _arr(t: T) -> np.ndarray:
    return np.frombuffer(t.raw, dtype="<f4").reshape(t.shape).copy()


def poke(index: tuple[int, ...], value: float) -> Callable[[T], T]:
    def change(t: T) -> T:
        a = _arr(t)
        a[index] = value
        return f32(a)

    return change


def as_f16(t: T) -> T:
    a = _arr(t).astype("<f2")
    return T("F16", list(a.shape), a.tobytes())


def as_f64(t: T) -> T:
    a = _arr(t).astype("<f8")
    return T("F64", list(a.shape), a.tobytes())


def hdr(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], Path]:
    return mutate_st(header_hook=change)


def _entry(name: str, **kv: Any) -> Callable[[dict[str, Any]], None]:
    def change(h: dict[str, Any]) -> None:
        h[name].update(kv)

    return change


def _shift_last(delta: int) -> Callable[[dict[str, Any]], None]:
    def change(h: dict[str, Any]) -> None:
        e = h["golden.output"]
        e["data_offsets"] = [e["data_offsets"][0] + delta, e["data_offsets"][1] + delta]

    return change


def _many_tensors(d: Path) -> Path:
    m, t = tiny()
    data = encode_st(
        t,
        header_hook=lambda h: h.update(
            {
                f"z{i}": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}
                for i in range(100_001)
            }
        ),
    )
    return write_export(d, m, data)


def deep_json(depth: int) -> Callable[[Path], Path]:
    return mutate_text(
        lambda s: s.replace('"format": ', f'"x_deep": {"[" * depth}{"]" * depth}, "format": ', 1)
    )


def bn_var_negative(m: dict[str, Any], t: dict[str, T]) -> None:
    t["bn.running_var"] = poke((0,), -1.0)(t["bn.running_var"])


def _add_unreferenced(name: str, tensor: T) -> Callable[[dict[str, Any], dict[str, T]], None]:
    def change(m: dict[str, Any], t: dict[str, T]) -> None:
        t[name] = tensor

    return change


def _golden_wrong(m: dict[str, Any], t: dict[str, T]) -> None:
    a = _arr(t["golden.output"])
    a[0, 0] += 0.25
    t["golden.output"] = f32(a)


def _bn_overflow(m: dict[str, Any], t: dict[str, T]) -> None:
    t["bn.weight"] = f32([3e38, 3e38])


def _swap_param(m: dict[str, Any], t: dict[str, T]) -> None:
    node(m, "fc")["params"]["weight"] = "conv.bias"


def _dup_nodes(m: dict[str, Any]) -> None:
    node(m, "act")["name"] = "bn"


def _dup_values(m: dict[str, Any]) -> None:
    node(m, "act")["outputs"] = ["bn"]
    node(m, "pool")["inputs"] = ["bn"]


def _unreferenced_i8(m: dict[str, Any], t: dict[str, T]) -> None:
    t["extra.int8"] = T("I8", [3], bytes([1, 2, 255]))


def _next_patch(version: str) -> str:
    major, minor, patch = version.split(".")
    return f"{major}.{minor}.{int(patch) + 1}"


def _prpd_convention(m: dict[str, Any]) -> None:
    m["input"]["image_convention"] = dict(IMAGE_CONVENTION)


def _convention_without(key: str) -> Callable[[dict[str, Any]], None]:
    def change(m: dict[str, Any]) -> None:
        _prpd_convention(m)
        del m["input"]["image_convention"][key]

    return change


def _convention_with(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(m: dict[str, Any]) -> None:
        _prpd_convention(m)
        m["input"]["image_convention"][key] = value

    return change


def _confidence(**changes: Any) -> Callable[[dict[str, Any]], None]:
    """Add the optional confidence threshold, with ``changes`` applied (None deletes a key)."""

    def change(m: dict[str, Any]) -> None:
        c: dict[str, Any] = {
            "score": "max_probability",
            "threshold": 0.71,
            "target_false_reject": 0.02,
        }
        for key, value in changes.items():
            if value is None:
                del c[key]
            else:
                c[key] = value
        m["confidence"] = c

    return change


def _unknown_keys(m: dict[str, Any]) -> None:
    m["x_top"] = {"anything": [1, 2.5, None]}
    m["input"]["x_in"] = 1
    m["outputs"][0]["x_out"] = "y"
    m["weights"]["x_w"] = True
    m["golden"]["x_g"] = []
    m["nodes"][0]["x_node"] = {"k": 1}
    m["producer"]["x_prod"] = "z"
    _prpd_convention(m)
    m["input"]["image_convention"]["x_conv"] = [1]


def _str(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def text_sub(old: str, new: str) -> Callable[[Path], Path]:
    return mutate_text(lambda s: _str(s, old, new))


def _order_reversed(d: Path) -> Path:
    m, t = tiny()
    return write_export(d, m, encode_st(t, order=sorted(t, reverse=True)))


def _header_lead_space(d: Path) -> Path:
    return mutate_st(lead=b" ")(d)


def _bad_header_len(n: int) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        m, t = tiny()
        data = bytearray(encode_st(t))
        data[:8] = struct.pack("<Q", n)
        return write_export(d, m, bytes(data))

    return build


def _header_over_limit(d: Path) -> Path:
    m, t = tiny()
    data = encode_st(t, pad=b" ", pad_to=0)
    (n,) = struct.unpack("<Q", data[:8])
    extra = 16 * MIB + 8 - n
    header = data[8 : 8 + n] + b" " * extra
    return write_export(d, m, struct.pack("<Q", len(header)) + header + data[8 + n :])


def _flip_data_byte(d: Path) -> Path:
    m, t = tiny()
    data = bytearray(encode_st(t))
    write_export(d, m, bytes(data))
    data[-1] ^= 0x01  # last byte of golden.output: same size, other hash
    (d / f"{STEM}.safetensors").write_bytes(bytes(data))
    return d / f"{STEM}.manifest.json"


def _append_byte(d: Path) -> Path:
    m, t = tiny()
    data = encode_st(t)
    write_export(d, m, data)
    (d / f"{STEM}.safetensors").write_bytes(data + b"\0")
    return d / f"{STEM}.manifest.json"


def _short_file(d: Path) -> Path:
    m, _ = tiny()
    return write_export(d, m, b"\x10\0\0")


def maxpool(
    attrs: dict[str, Any], out_hw: list[int], hw: list[int] | None = None
) -> Callable[[Path], Path]:
    h, w = hw or [4, 4]
    nodes = [
        _n("pool", "max_pool2d", ["input"], attrs, shape=[1, *out_hw]),
        _n("flat", "flatten", ["pool"], shape=[out_hw[0] * out_hw[1]]),
    ]
    return hand([1, h, w], nodes, output="flat", k=out_hw[0] * out_hw[1])


def _mp(k=(2, 2), s=(2, 2), p=(0, 0), d=(1, 1)) -> dict[str, Any]:
    return {"kernel_size": list(k), "stride": list(s), "padding": list(p), "dilation": list(d)}


def avgpool(attrs: dict[str, Any], out_hw: list[int]) -> Callable[[Path], Path]:
    nodes = [
        _n("pool", "avg_pool2d", ["input"], attrs, shape=[1, *out_hw]),
        _n("flat", "flatten", ["pool"], shape=[out_hw[0] * out_hw[1]]),
    ]
    return hand([1, 4, 4], nodes, output="flat", k=out_hw[0] * out_hw[1])


def _pool_v2(
    op: str,
    hw: list[int],
    out_hw: list[int],
    *,
    kernel: list[int],
    stride: list[int],
    pad_h: list[int],
    pad_w: list[int],
    ceil: bool = True,
) -> Callable[[Path], Path]:
    """input (1, h, w) -> max_pool2d@2 (dilation 1) or avg_pool2d@2 (count_include_pad) ->
    flatten."""
    attrs: dict[str, Any] = {
        "kernel_size": kernel,
        "stride": stride,
        "pad_h": pad_h,
        "pad_w": pad_w,
        "ceil_mode": ceil,
    }
    attrs.update({"dilation": [1, 1]} if op == "max_pool2d" else {"count_include_pad": True})
    nodes = [
        {**_n("pool", op, ["input"], attrs, shape=[1, *out_hw]), "version": 2},
        _n("flat", "flatten", ["pool"], shape=[out_hw[0] * out_hw[1]]),
    ]
    return hand([1, *hw], nodes, output="flat", k=out_hw[0] * out_hw[1])


def _seq(
    *,
    conv: dict[str, Any] | None = None,
    weight: Any = None,
    max_pool: dict[str, Any] | None = None,
    avg_pool: dict[str, Any] | None = None,
) -> Callable[[Path], Path]:
    """input (2, 1, 6) -> squeeze to (2, 6) -> conv1d (depthwise, kernel 3, padding 1) ->
    max_pool1d (kernel 2, stride 2, padding [0, 1], ceil_mode: the third window would start in
    the end padding and is dropped) -> avg_pool1d (kernel 2, padding [1, 0]) -> flatten; each
    node's attributes updated by ``conv``, ``max_pool``, ``avg_pool``, the weight replaced by
    ``weight``."""
    conv_attrs = {
        "in_channels": 2,
        "out_channels": 2,
        "kernel_size": 3,
        "stride": 1,
        "padding": 1,
        "dilation": 1,
        "groups": 2,
        **(conv or {}),
    }
    max_attrs = {
        "kernel_size": 2,
        "stride": 2,
        "padding": [0, 1],
        "dilation": 1,
        "ceil_mode": True,
        **(max_pool or {}),
    }
    avg_attrs = {
        "kernel_size": 2,
        "stride": 1,
        "padding": [1, 0],
        "ceil_mode": False,
        "count_include_pad": False,
        **(avg_pool or {}),
    }
    nodes = [
        _n("sq", "squeeze", ["input"], {"dim": 2}, shape=[2, 6]),
        _n("conv", "conv1d", ["sq"], conv_attrs, {"weight": "w", "bias": None}, shape=[2, 6]),
        _n("mp", "max_pool1d", ["conv"], max_attrs, shape=[2, 3]),
        _n("ap", "avg_pool1d", ["mp"], avg_attrs, shape=[2, 3]),
        _n("flat", "flatten", ["ap"], shape=[6]),
    ]
    w = f32([[[1.0, -2.0, 0.5]], [[0.25, 1.0, -1.0]]]) if weight is None else weight
    return hand([2, 1, 6], nodes, output="flat", k=6, tensors={"w": w})


def _add_graph() -> Callable[[Path], Path]:
    nodes = [
        _n("a", "relu", ["input"], shape=[1, 2, 2]),
        _n("b", "global_avg_pool", ["input"], {"keepdims": True}, shape=[1, 1, 1]),
        _n("s", "add", ["a", "b"], shape=[1, 2, 2]),
        _n("flat", "flatten", ["s"], shape=[4]),
    ]
    return hand([1, 2, 2], nodes, output="flat", k=4)


def _leaky_int_slope() -> Callable[[Path], Path]:
    nodes = [
        _n("act", "leaky_relu", ["input"], {"negative_slope": 1}, shape=[1, 2, 2]),
        _n("flat", "flatten", ["act"], shape=[4]),
    ]
    return hand([1, 2, 2], nodes, output="flat", k=4)


def _avg_bool_as_int() -> Callable[[Path], Path]:
    attrs = {"kernel_size": [2, 2], "stride": [2, 2], "padding": [0, 0], "count_include_pad": 1}
    return avgpool(attrs, [2, 2])


def _relu_two_inputs(m: dict[str, Any]) -> None:
    node(m, "act")["inputs"] = ["bn", "bn"]


def _golden_count(n: int) -> Callable[[dict[str, Any]], None]:
    return setp("golden/count", n)


def _input_channels(m: dict[str, Any]) -> None:
    m["input"]["shape"] = [2, 4, 4]
    m["golden"] = None


def as_v1(m: dict[str, Any]) -> None:
    """The tiny export rewritten as a version-1 file (same nodes and tensors)."""
    m["format_version"] = 1
    outs = m.pop("outputs")
    m["input"]["layout"] = "CHW"
    items = list(m.items())
    m.clear()
    for k, v in items:
        m[k] = v
        if k == "input":
            m["output"] = outs[0]
    if m["golden"] is not None:
        m["golden"]["output"] = m["golden"].pop("outputs")[0]


def _v1_with_outputs(m: dict[str, Any]) -> None:
    outs = m["outputs"]
    as_v1(m)
    del m["output"]
    m["outputs"] = outs


def _golden_outputs_in_v1(m: dict[str, Any]) -> None:
    m["golden"]["outputs"] = [m["golden"].pop("output")]


def _outputs_as_object(m: dict[str, Any]) -> None:
    m["outputs"] = m["outputs"][0]


def _second_output(
    value: str = "pool", *, shape: list[int] | None = None, kind: str = "logits", golden: Any = 2
) -> Callable[[dict[str, Any], dict[str, T]], None]:
    """Tiny with a second output: the value of node ``pool`` (its golden vectors computed from
    the tiny model's weights with NumPy), or a defect in one of its parts."""

    def change(m: dict[str, Any], t: dict[str, T]) -> None:
        pool = node(m, "pool")["output_shape"]
        m["outputs"].append(
            {"name": value, "shape": shape or pool, "dtype": "float32", "kind": kind}
        )
        if golden == 1:
            return  # golden.outputs still names one tensor
        count = m["golden"]["count"]
        m["golden"]["outputs"].append("golden.output.1")
        if golden == "bad":
            t["golden.output.1"] = f32(np.zeros((count, 1), np.float32))
        else:
            t["golden.output.1"] = f32(_tiny_pool(t, count))

    return change


def _values(t: dict[str, T], quant: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """Every tensor as the float64 values a reader computes with: F32 as is, F16 widened, I8
    times its scale per output channel (``quant``: int8 tensor -> scale tensor)."""
    out = {}
    for name, e in t.items():
        if e.dtype == "I8":
            q = np.frombuffer(e.raw, "i1").reshape(e.shape).astype(np.float32)
            scale = _arr(t[(quant or {})[name]]).reshape((-1,) + (1,) * (len(e.shape) - 1))
            out[name] = (q * scale).astype(np.float64)  # one float32 multiply, as the readers
        elif e.dtype in ("F32", "F16"):
            out[name] = (
                np.frombuffer(e.raw, "<f4" if e.dtype == "F32" else "<f2")
                .reshape(e.shape)
                .astype(np.float64)
            )
    return out


def _tiny_pool(t: dict[str, T], count: int, quant: dict[str, str] | None = None) -> np.ndarray:
    """The tiny model's ``pool`` value on its golden inputs: conv(3x3, pad 1) + bias, batch
    norm, leaky relu 0.2, 2x2 max pool, in float64 NumPy."""
    v = _values(t, quant)
    x, w, b = v["golden.input"], v["conv.weight"], v["conv.bias"]
    n, _, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = np.zeros((n, w.shape[0], h, wd))
    for i in range(3):
        for j in range(3):
            y += np.einsum("nchw,oc->nohw", xp[:, :, i : i + h, j : j + wd], w[:, :, i, j])
    y += b[None, :, None, None]
    mean, var = v["bn.running_mean"], v["bn.running_var"]
    gamma, beta = v["bn.weight"], v["bn.bias"]
    y = (y - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    y = y * gamma[None, :, None, None] + beta[None, :, None, None]
    y = np.where(y > 0, y, 0.2 * y)
    y = y.reshape(n, y.shape[1], h // 2, 2, wd // 2, 2).max(axis=(3, 5))
    assert count == n
    return y.astype(np.float32)


def _tiny_prob(t: dict[str, T], quant: dict[str, str] | None = None) -> np.ndarray:
    """The tiny model's output (flatten, fc without bias, softmax) on its golden inputs."""
    pool = _tiny_pool(t, int(t["golden.input"].shape[0]), quant).astype(np.float64)
    logits = pool.reshape(len(pool), -1) @ _values(t, quant)["fc.weight"].T
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


# --- format version 3: compressed weights -------------------------------------------------------


def _int8(a: np.ndarray) -> tuple[T, T]:
    """Symmetric per-output-channel int8 of ``a`` (written here, not by pd2java): (q, scale)."""
    rows = a.reshape(a.shape[0], -1)
    scale = (np.abs(rows).max(axis=1) / 127.0).astype(np.float32)
    scale[scale == 0] = 1.0
    q = np.clip(np.round(a / scale.reshape((-1,) + (1,) * (a.ndim - 1))), -127, 127)
    return T("I8", list(a.shape), q.astype("i1").tobytes()), f32(scale)


def compressed(
    conv: str = "I8",
    fc: str = "F16",
    edit: Callable[[dict[str, Any], dict[str, T]], Any] | None = None,
) -> Callable[[Path], Path]:
    """The tiny export as format version 3: conv.weight and fc.weight stored as ``conv`` and
    ``fc`` (F32, F16 or I8), the golden outputs recomputed for the compressed weights; then
    ``edit`` (one defect)."""

    def build(d: Path) -> Path:
        m, t = tiny()
        m["format_version"] = 3
        quant: dict[str, dict[str, str]] = {}
        for name, dtype in (("conv.weight", conv), ("fc.weight", fc)):
            if dtype == "F16":
                t[name] = as_f16(t[name])
            elif dtype == "I8":
                t[name], t[f"{name}.scale"] = _int8(_arr(t[name]))
                quant[name] = {"scale": f"{name}.scale"}
        items = list(m.items())
        m.clear()
        for k, v in items:
            m[k] = v
            if k == "weights":
                m["quantization"] = quant
        t["golden.output"] = f32(_tiny_prob(t, {k: v["scale"] for k, v in quant.items()}))
        if edit is not None:
            edit(m, t)
        return write_export(d, m, t)

    return build


def _drop_quant(name: str) -> Callable[[dict[str, Any], dict[str, T]], None]:
    return lambda m, t: m["quantization"].pop(name)


def _quant_entry(name: str, entry: Any) -> Callable[[dict[str, Any], dict[str, T]], None]:
    def change(m: dict[str, Any], t: dict[str, T]) -> None:
        m["quantization"][name] = entry

    return change


def _scale(values: list[float]) -> Callable[[dict[str, Any], dict[str, T]], None]:
    def change(m: dict[str, Any], t: dict[str, T]) -> None:
        t["conv.weight.scale"] = f32(values)

    return change


def _i8_bias(m: dict[str, Any], t: dict[str, T]) -> None:
    """conv.bias stored as I8 with a scale entry: its slot takes float32 only."""
    t["conv.bias"], t["conv.bias.scale"] = _int8(_arr(t["conv.bias"]).reshape(-1, 1))
    t["conv.bias"] = T("I8", [2], t["conv.bias"].raw)
    m["quantization"]["conv.bias"] = {"scale": "conv.bias.scale"}


def _i8_rank0(m: dict[str, Any], t: dict[str, T]) -> None:
    """conv.weight as one int8 number (rank 0): no output channel for its scale."""
    t["conv.weight"] = T("I8", [], bytes([3]))


def _i8_tagged_f32(m: dict[str, Any], t: dict[str, T]) -> None:
    """The int8 bytes of conv.weight under an F32 tag (a quarter of the bytes the shape needs)."""
    t["conv.weight"] = T("F32", t["conv.weight"].shape, t["conv.weight"].raw)


def _classes_on_map_output(m: dict[str, Any]) -> None:
    """Classes given, but the primary output is the (C, H, W) pool value."""
    m["outputs"][0] = {
        "name": "pool",
        "shape": node(m, "pool")["output_shape"],
        "dtype": "float32",
        "kind": "logits",
    }
    m["golden"] = None


def _mlp(f: int) -> Callable[[Path], Path]:
    """A (F,) feature-vector input: linear -> relu -> linear."""
    rng = np.random.default_rng(1)
    nodes = [
        _n(
            "fc1",
            "linear",
            ["input"],
            {"in_features": f, "out_features": 4},
            {"weight": "w1", "bias": "b1"},
            shape=[4],
        ),
        _n("act", "relu", ["fc1"], shape=[4]),
        _n(
            "fc2",
            "linear",
            ["act"],
            {"in_features": 4, "out_features": 3},
            {"weight": "w2", "bias": None},
            shape=[3],
        ),
    ]
    tensors = {
        "w1": f32(rng.standard_normal((4, f))),
        "b1": f32(rng.standard_normal(4)),
        "w2": f32(rng.standard_normal((3, 4))),
    }
    return hand([f], nodes, output="fc2", k=3, tensors=tensors)


def _sequence(c: int, length: int) -> Callable[[Path], Path]:
    """A (C, L) sequence input and a (C, L) output: relu, then unsqueeze/squeeze of an axis."""
    nodes = [
        _n("act", "relu", ["input"], shape=[c, length]),
        _n("u", "unsqueeze", ["act"], {"dim": 2}, shape=[c, 1, length]),
        _n("s", "squeeze", ["u"], {"dim": 2}, shape=[c, length]),
    ]

    def build(d: Path) -> Path:
        m = graph_manifest([c, length], copy.deepcopy(nodes), output="s", k=1)
        m["outputs"][0]["shape"] = [c, length]
        return write_export(d, m, {"unused": f32([0.0])})

    return build


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], Path]
    expected: str | None  # an ErrorCode name, or None: the reader must accept the export
    note: str = ""


def _reshape(
    shape_attr: Any, out: list[int], *, text: tuple[str, str] | None = None
) -> Callable[[Path], Path]:
    """input (2, 3, 4) -> reshape@1 with attribute ``shape_attr`` (declared output ``out``) ->
    flatten; ``text`` replaces a string in the written manifest (a number JSON cannot be made to
    print, such as ``6e0``)."""
    size = 1
    for d in out:
        size *= d
    nodes = [
        _n("view", "reshape", ["input"], {"shape": shape_attr}, shape=out),
        _n("flat", "flatten", ["view"], shape=[size]),
    ]
    build = hand([2, 3, 4], nodes, output="flat", k=size)
    if text is None:
        return build

    def edit(d: Path) -> Path:
        path = build(d)
        path.write_text(_str(path.read_text("utf-8"), *text), "utf-8")
        return path

    return edit


C = Case
N = "nodes/"

CASES: tuple[Case, ...] = (
    # --- accepted --------------------------------------------------------------------------------
    C("accept_tiny", mutate(lambda m: None), None),
    C("accept_unknown_keys_everywhere", mutate(_unknown_keys), None),
    C("accept_weights_name_tilde", mutate_tensors(lambda m, t: None), None, "see build"),
    C("accept_symlink_weights_inside_folder", weights_replaced(_symlink_inside), None),
    C("accept_unreferenced_i8_tensor", mutate_tensors(_unreferenced_i8), None),
    C(
        "accept_unreferenced_f64_tensor",
        mutate_tensors(_add_unreferenced("x64", T("F64", [1], b"\0" * 8))),
        None,
    ),
    C("accept_nan_in_unreferenced_tensor", tiny_with(fc__bias=f32([np.nan, 1, 2])), None),
    C("accept_unsorted_contiguous_offsets", _order_reversed, None),
    C("accept_metadata_strings", mutate_st(metadata={"format": "pt", "k": "v"}), None),
    C("accept_header_extra_space_padding", mutate_st(pad_to=256), None),
    C("accept_golden_null", mutate(setp("golden", None)), None),
    C("accept_classes_null", mutate(setp("classes", None)), None),
    C("accept_atol_huge_finite", mutate(setp("golden/atol", 1e308)), None),
    C("accept_float_attr_written_as_integer", _leaky_int_slope(), None),
    C(
        "accept_float_written_with_exponent",
        text_sub('"negative_slope": 0.2', '"negative_slope": 2E-1'),
        None,
    ),
    C("accept_manifest_leading_whitespace", mutate_text(lambda s: " \n\t" + s), None),
    C("accept_shared_param_tensor", mutate_tensors(lambda m, t: None), None),
    # --- JSON ------------------------------------------------------------------------------------
    C("json_truncated", mutate_text(lambda s: s[: len(s) // 2]), "INVALID_JSON"),
    C("json_trailing_garbage", mutate_text(lambda s: s + "x"), "INVALID_JSON"),
    C(
        "json_duplicate_top_key",
        text_sub('"name": "tiny"', '"name": "tiny", "name": "tiny"'),
        "INVALID_JSON",
    ),
    C(
        "json_duplicate_node_key",
        text_sub('"op": "flatten"', '"op": "flatten", "op": "flatten"'),
        "INVALID_JSON",
    ),
    C("json_nan_literal", text_sub('"atol": 1e-05', '"atol": NaN'), "INVALID_JSON"),
    C("json_infinity_literal", text_sub('"rtol": 0.0001', '"rtol": Infinity'), "INVALID_JSON"),
    C("json_number_overflows_double", text_sub('"atol": 1e-05', '"atol": 1e400'), "INVALID_JSON"),
    C("json_invalid_utf8", mutate_text(lambda s: s), "INVALID_JSON", "see build"),
    C("json_single_quotes", text_sub('"name": "tiny"', "'name': \"tiny\""), "INVALID_JSON"),
    C("json_depth_200", deep_json(200), "LIMIT_EXCEEDED"),
    C("json_depth_100000", deep_json(100_000), "LIMIT_EXCEEDED"),
    C(
        "json_number_150_chars",
        text_sub('"format": ', '"x_num": 1' + "0" * 149 + ', "format": '),
        "LIMIT_EXCEEDED",
    ),
    C(
        "json_string_over_1mi_chars",
        text_sub('"format": ', '"x_str": "' + "a" * (MIB + 1) + '", "format": '),
        "LIMIT_EXCEEDED",
    ),
    # 2^22 + 1 values in an unknown key: 8 MiB of "0," (well within the size limit), one over
    C(
        "json_over_max_values",
        text_sub('"format": ', '"x_many": [' + "0," * (1 << 22) + '0], "format": '),
        "LIMIT_EXCEEDED",
    ),
    # and an unknown key of 2^22 - 1000 values: the whole document stays within the limit
    C(
        "accept_json_many_values",
        text_sub('"format": ', '"x_many": [' + "0," * ((1 << 22) - 1000) + '0], "format": '),
        None,
    ),
    C("manifest_over_16mib", manifest_over_limit, "LIMIT_EXCEEDED"),
    # --- manifest path -----------------------------------------------------------------------------
    C("manifest_fifo", manifest_special(lambda p: os.mkfifo(p)), "UNSAFE_PATH"),
    C(
        "manifest_dev_zero_symlink",
        manifest_special(lambda p: p.symlink_to("/dev/zero")),
        "UNSAFE_PATH",
    ),
    C("manifest_is_directory", manifest_special(lambda p: p.mkdir()), "UNSAFE_PATH"),
    # --- format, version ---------------------------------------------------------------------------
    C("format_missing", mutate(delp("format")), "UNSUPPORTED_FORMAT"),
    C("format_wrong", mutate(setp("format", "onnx")), "UNSUPPORTED_FORMAT"),
    C("format_version_4", mutate(setp("format_version", 4)), "UNSUPPORTED_FORMAT_VERSION"),
    C("format_version_float", mutate(setp("format_version", 1.0)), "UNSUPPORTED_FORMAT_VERSION"),
    C("format_version_string", mutate(setp("format_version", "1")), "UNSUPPORTED_FORMAT_VERSION"),
    C("format_version_bool", mutate(setp("format_version", True)), "UNSUPPORTED_FORMAT_VERSION"),
    C("format_version_missing", mutate(delp("format_version")), "UNSUPPORTED_FORMAT_VERSION"),
    # min_runtime_version: optional; above the reader's own version refuses the file.
    C("min_runtime_absent", mutate(delp("min_runtime_version")), None),
    C("min_runtime_oldest", mutate(setp("min_runtime_version", "0.0.0")), None),
    C("min_runtime_current", mutate(setp("min_runtime_version", __version__)), None),
    C(
        "min_runtime_newer",
        mutate(setp("min_runtime_version", "99.0.0")),
        "UNSUPPORTED_FORMAT_VERSION",
    ),
    C(
        "min_runtime_newer_patch",
        mutate(setp("min_runtime_version", _next_patch(__version__))),
        "UNSUPPORTED_FORMAT_VERSION",
    ),
    C("min_runtime_two_parts", mutate(setp("min_runtime_version", "0.2")), "INVALID_MANIFEST"),
    C("min_runtime_suffix", mutate(setp("min_runtime_version", "0.2.0-rc1")), "INVALID_MANIFEST"),
    C(
        "min_runtime_leading_zero",
        mutate(setp("min_runtime_version", "0.02.0")),
        "INVALID_MANIFEST",
    ),
    C("min_runtime_number", mutate(setp("min_runtime_version", 2)), "INVALID_MANIFEST"),
    C("min_runtime_null", mutate(setp("min_runtime_version", None)), "INVALID_MANIFEST"),
    # --- top-level structure -------------------------------------------------------------------------
    C("top_classes_missing", mutate(delp("classes")), "INVALID_MANIFEST"),
    C("top_nodes_missing", mutate(delp("nodes")), "INVALID_MANIFEST"),
    C("top_golden_missing", mutate(delp("golden")), "INVALID_MANIFEST"),
    C("top_producer_not_object", mutate(setp("producer", "pd2java")), "INVALID_MANIFEST"),
    C("top_name_bad_pattern", mutate(setp("name", "1 tiny")), "INVALID_MANIFEST"),
    C("top_classes_not_strings", mutate(setp("classes", ["a", 2, "c"])), "INVALID_MANIFEST"),
    C("top_classes_wrong_length", mutate(setp("classes", ["a", "b"])), "INVALID_MANIFEST"),
    C("top_transforms_not_array", mutate(setp("transforms", "fold_bn")), "INVALID_MANIFEST"),
    C("top_weights_not_object", mutate_text(lambda s: s), "INVALID_MANIFEST", "see build"),
    C("input_shape_float", mutate(setp("input/shape", [1.0, 4, 4])), "INVALID_MANIFEST"),
    # input.image_convention: null or the PRPD convention record, every key present and typed.
    C("image_convention_prpd", mutate(_prpd_convention), None),
    C(
        "image_convention_not_object",
        mutate(setp("input/image_convention", "prpd")),
        "INVALID_MANIFEST",
    ),
    C("image_convention_empty", mutate(setp("input/image_convention", {})), "INVALID_MANIFEST"),
    C("image_convention_no_axis1", mutate(_convention_without("axis1")), "INVALID_MANIFEST"),
    C("image_convention_no_png_rows", mutate(_convention_without("png_rows")), "INVALID_MANIFEST"),
    C(
        "image_convention_shape_rank3",
        mutate(_convention_with("shape", [1, 60, 120])),
        "INVALID_MANIFEST",
    ),
    C(
        "image_convention_shape_zero",
        mutate(_convention_with("shape", [0, 120])),
        "INVALID_MANIFEST",
    ),
    C("image_convention_value_number", mutate(_convention_with("value", 1)), "INVALID_MANIFEST"),
    # confidence: optional; every key, a known score, a threshold in [0, 1], a target in [0, 1),
    # and only on a 1-D probabilities primary output.
    C("confidence_present", mutate(_confidence()), None),
    C("confidence_extra_key", mutate(_confidence(val_false_reject=0.01)), None),
    C("confidence_threshold_int_0", mutate(_confidence(threshold=0)), None),
    C("confidence_threshold_int_1", mutate(_confidence(threshold=1)), None),
    C("confidence_target_0", mutate(_confidence(target_false_reject=0)), None),
    C("confidence_not_object", mutate(setp("confidence", 0.71)), "INVALID_MANIFEST"),
    C("confidence_null", mutate(setp("confidence", None)), "INVALID_MANIFEST"),
    C("confidence_array", mutate(setp("confidence", [0.71])), "INVALID_MANIFEST"),
    C("confidence_no_score", mutate(_confidence(score=None)), "INVALID_MANIFEST"),
    C("confidence_no_threshold", mutate(_confidence(threshold=None)), "INVALID_MANIFEST"),
    C(
        "confidence_no_target",
        mutate(_confidence(target_false_reject=None)),
        "INVALID_MANIFEST",
    ),
    C("confidence_score_energy", mutate(_confidence(score="energy")), "INVALID_MANIFEST"),
    C("confidence_score_number", mutate(_confidence(score=1)), "INVALID_MANIFEST"),
    C("confidence_threshold_above_1", mutate(_confidence(threshold=1.5)), "INVALID_MANIFEST"),
    C("confidence_threshold_negative", mutate(_confidence(threshold=-0.01)), "INVALID_MANIFEST"),
    C("confidence_threshold_string", mutate(_confidence(threshold="0.7")), "INVALID_MANIFEST"),
    C("confidence_threshold_bool", mutate(_confidence(threshold=True)), "INVALID_MANIFEST"),
    C(
        "confidence_target_1",
        mutate(_confidence(target_false_reject=1.0)),
        "INVALID_MANIFEST",
    ),
    C(
        "confidence_target_negative",
        mutate(_confidence(target_false_reject=-0.5)),
        "INVALID_MANIFEST",
    ),
    C(
        "confidence_on_logits",
        mutate(setp("outputs/0/kind", "logits"), _confidence()),
        "INVALID_MANIFEST",
    ),
    # A rank-2 input is valid in itself; the conv2d it feeds cannot take it.
    C("input_shape_two_dims", mutate(setp("input/shape", [4, 4])), "SHAPE_MISMATCH"),
    C("input_shape_zero", mutate(setp("input/shape", [0, 4, 4])), "INVALID_MANIFEST"),
    C("input_dtype_float64", mutate(setp("input/dtype", "float64")), "INVALID_MANIFEST"),
    # --- version 1 files: still read, by version 1's rules ----------------------------------------
    C("accept_v1_tiny", mutate(as_v1), None),
    C("v1_input_layout_missing", mutate(as_v1, delp("input/layout")), "INVALID_MANIFEST"),
    C("v1_input_layout_hwc", mutate(as_v1, setp("input/layout", "HWC")), "INVALID_MANIFEST"),
    C("v1_input_rank_2", mutate(as_v1, setp("input/shape", [6, 8])), "INVALID_MANIFEST"),
    C("v1_output_rank_2", mutate(as_v1, setp("output/shape", [1, 3])), "INVALID_MANIFEST"),
    C("v1_outputs_instead_of_output", mutate(_v1_with_outputs), "INVALID_MANIFEST"),
    C("v1_golden_outputs_list", mutate(as_v1, _golden_outputs_in_v1), "INVALID_MANIFEST"),
    # --- version 2: any-rank input, several outputs ---------------------------------------------
    C("outputs_missing", mutate(delp("outputs")), "INVALID_MANIFEST"),
    C("outputs_empty", mutate(setp("outputs", [])), "INVALID_MANIFEST"),
    C("outputs_not_array", mutate(_outputs_as_object), "INVALID_MANIFEST"),
    C("outputs_item_not_object", mutate(setp("outputs/0", "prob")), "INVALID_MANIFEST"),
    C("outputs_shape_empty", mutate(setp("outputs/0/shape", [])), "INVALID_MANIFEST"),
    C("input_shape_empty", mutate(setp("input/shape", [])), "INVALID_MANIFEST"),
    C("accept_two_outputs", mutate_tensors(_second_output()), None),
    C("accept_input_layout_key_ignored", mutate(setp("input/layout", "anything")), None),
    C("outputs_repeated", mutate_tensors(_second_output("prob")), "INVALID_GRAPH"),
    C("outputs_second_is_input", mutate_tensors(_second_output("input")), "INVALID_GRAPH"),
    C("outputs_second_not_produced", mutate_tensors(_second_output("nope")), "INVALID_GRAPH"),
    C("outputs_second_shape_wrong", mutate_tensors(_second_output(shape=[4])), "SHAPE_MISMATCH"),
    C("outputs_second_kind_unknown", mutate_tensors(_second_output(kind="x")), "INVALID_MANIFEST"),
    C("golden_outputs_too_few", mutate_tensors(_second_output(golden=1)), "INVALID_MANIFEST"),
    C(
        "golden_outputs_too_many",
        mutate(setp("golden/outputs", ["golden.output"] * 2)),
        "INVALID_MANIFEST",
    ),
    C(
        "golden_outputs_not_list",
        mutate(setp("golden/outputs", "golden.output")),
        "INVALID_MANIFEST",
    ),
    C("golden_second_output_shape", mutate_tensors(_second_output(golden="bad")), "SHAPE_MISMATCH"),
    C("classes_on_a_map_output", mutate(_classes_on_map_output), "INVALID_MANIFEST"),
    C("accept_feature_vector_input", _mlp(6), None),
    # --- version 3: compressed weights (F16; I8 with per-output-channel scales) ------------------
    C("accept_v3_int8_conv_f16_fc", compressed("I8", "F16"), None),
    C("accept_v3_f16_conv_int8_fc", compressed("F16", "I8"), None),
    C("accept_v3_all_f32", compressed("F32", "F32"), None),
    C(
        "v3_quantization_missing",
        compressed(edit=lambda m, t: m.pop("quantization")),
        "INVALID_MANIFEST",
    ),
    C(
        "v3_quantization_not_object",
        compressed(edit=lambda m, t: m.update(quantization=[])),
        "INVALID_MANIFEST",
    ),
    C(
        "v3_quant_entry_without_scale",
        compressed(edit=_quant_entry("conv.weight", {})),
        "INVALID_MANIFEST",
    ),
    C(
        "v3_quant_scale_not_string",
        compressed(edit=_quant_entry("conv.weight", {"scale": 1})),
        "INVALID_MANIFEST",
    ),
    C("v3_int8_without_entry", compressed(edit=_drop_quant("conv.weight")), "INVALID_PARAMETER"),
    C(
        "v3_entry_for_a_float_tensor",
        compressed(edit=_quant_entry("fc.weight", {"scale": "conv.weight.scale"})),
        "INVALID_PARAMETER",
    ),
    C(
        "v3_entry_for_an_absent_tensor",
        compressed(edit=_quant_entry("nope", {"scale": "conv.weight.scale"})),
        "INVALID_PARAMETER",
    ),
    C("v3_scale_wrong_length", compressed(edit=_scale([0.01, 0.02, 0.03])), "INVALID_PARAMETER"),
    C("v3_scale_zero", compressed(edit=_scale([0.01, 0.0])), "INVALID_PARAMETER"),
    C("v3_scale_negative", compressed(edit=_scale([0.01, -0.02])), "INVALID_PARAMETER"),
    C("v3_scale_nan", compressed(edit=_scale([0.01, float("nan")])), "NON_FINITE_WEIGHT"),
    C(
        "v3_scale_missing_tensor",
        compressed(edit=lambda m, t: t.pop("conv.weight.scale")),
        "MISSING_TENSOR",
    ),
    C(
        "v3_scale_f16",
        compressed(
            edit=lambda m, t: t.update({"conv.weight.scale": as_f16(t["conv.weight.scale"])})
        ),
        "UNSUPPORTED_DTYPE",
    ),
    C("v3_int8_bias_not_allowed", compressed(edit=_i8_bias), "UNSUPPORTED_DTYPE"),
    C(
        "v3_f16_batch_norm_not_allowed",
        compressed(edit=lambda m, t: t.update({"bn.weight": as_f16(t["bn.weight"])})),
        "UNSUPPORTED_DTYPE",
    ),
    C(
        "v3_f16_weight_nan",
        compressed(
            "F32",
            "F16",
            edit=lambda m, t: t.update(
                {"fc.weight": as_f16(poke((0, 0), np.nan)(f32(_values(t)["fc.weight"])))}
            ),
        ),
        "NON_FINITE_WEIGHT",
    ),
    C("v3_int8_bytes_tagged_f32", compressed(edit=_i8_tagged_f32), "INVALID_SAFETENSORS"),
    C("v3_int8_rank0", compressed(edit=_i8_rank0), "INVALID_PARAMETER"),
    C(
        "v3_golden_f16",
        compressed(edit=lambda m, t: t.update({"golden.output": as_f16(t["golden.output"])})),
        "UNSUPPORTED_DTYPE",
    ),
    C(
        "v2_with_int8_weight",
        compressed(edit=lambda m, t: m.update(format_version=2)),
        "UNSUPPORTED_DTYPE",
        "v2 files hold F32 weights only; the quantization key is ignored",
    ),
    C(
        "v2_with_f16_weight",
        compressed(
            "F32", "F16", edit=lambda m, t: (m.update(format_version=2), m.pop("quantization"))
        ),
        "UNSUPPORTED_DTYPE",
    ),
    C("accept_sequence_input_and_map_output", _sequence(3, 10), None),
    C("output_kind_unknown", mutate(setp("outputs/0/kind", "scores")), "INVALID_MANIFEST"),
    C(
        "output_shape_exponent",
        text_sub('"shape": [\n    3\n   ]', '"shape": [\n    3e0\n   ]'),
        "INVALID_MANIFEST",
    ),
    C("weights_bytes_float", mutate_tensors(lambda m, t: None), "INVALID_MANIFEST", "see build"),
    C("weights_bytes_string", mutate_tensors(lambda m, t: None), "INVALID_MANIFEST", "see build"),
    C("weights_sha256_missing", mutate_tensors(lambda m, t: None), "INVALID_MANIFEST", "see build"),
    # --- golden -------------------------------------------------------------------------------------------
    C("golden_count_float", mutate(_golden_count(3.0)), "INVALID_MANIFEST"),
    C("golden_count_zero", mutate(_golden_count(0)), "INVALID_MANIFEST"),
    C("golden_count_over_limit", mutate(_golden_count(4097)), "INVALID_MANIFEST"),
    C("golden_atol_negative", mutate(setp("golden/atol", -1e-5)), "INVALID_MANIFEST"),
    C("golden_rtol_string", mutate(setp("golden/rtol", "0.0001")), "INVALID_MANIFEST"),
    C("golden_rtol_missing", mutate(delp("golden/rtol")), "INVALID_MANIFEST"),
    C("golden_input_not_string", mutate(setp("golden/input", 3)), "INVALID_MANIFEST"),
    C("golden_count_disagrees_with_tensors", mutate(_golden_count(2)), "SHAPE_MISMATCH"),
    C("golden_output_wrong_values", mutate_tensors(_golden_wrong), "SELF_TEST_FAILED"),
    C("golden_output_nan", tiny_with(golden__output=poke((1, 2), np.nan)), "NON_FINITE_WEIGHT"),
    C("golden_input_inf", tiny_with(golden__input=poke((0, 0, 1, 1), np.inf)), "NON_FINITE_WEIGHT"),
    C("golden_output_missing_tensor", tiny_with(golden__output=None), "MISSING_TENSOR"),
    C("golden_input_f64", tiny_with(golden__input=as_f64), "UNSUPPORTED_DTYPE"),
    C("selftest_output_overflows_to_nan", mutate_tensors(_bn_overflow), "SELF_TEST_FAILED"),
    # --- nodes: structure --------------------------------------------------------------------------------
    C("nodes_empty", mutate(setp("nodes", [])), "INVALID_GRAPH"),
    C("nodes_over_limit", many_nodes(100_001), "LIMIT_EXCEEDED"),
    C("node_output_shape_missing", mutate(delp(N + "act/output_shape")), "INVALID_MANIFEST"),
    C("node_version_float", mutate(setp(N + "act/version", 1.0)), "INVALID_MANIFEST"),
    C("node_version_string", mutate(setp(N + "act/version", "1")), "INVALID_MANIFEST"),
    C("node_version_bool", mutate(setp(N + "act/version", True)), "INVALID_MANIFEST"),
    C("node_inputs_not_array", mutate(setp(N + "act/inputs", "bn")), "INVALID_MANIFEST"),
    C("node_attrs_not_object", mutate(setp(N + "flat/attrs", [])), "INVALID_MANIFEST"),
    C("node_output_shape_float", mutate(setp(N + "flat/output_shape", [8.0])), "INVALID_MANIFEST"),
    C("node_op_unknown", mutate(setp(N + "act/op", "fake")), "UNKNOWN_OP"),
    C("node_op_version_2", mutate(setp(N + "act/version", 2)), "UNKNOWN_OP"),
    # --- attrs ----------------------------------------------------------------------------------------
    C("attr_missing", mutate(delp(N + "conv/attrs/groups")), "INVALID_ATTRIBUTE"),
    C("attr_extra", mutate(setp(N + "conv/attrs/bias", True)), "INVALID_ATTRIBUTE"),
    C("attr_int_as_float", mutate(setp(N + "conv/attrs/in_channels", 1.0)), "INVALID_ATTRIBUTE"),
    C("attr_int_as_exponent", text_sub('"groups": 1', '"groups": 1e0'), "INVALID_ATTRIBUTE"),
    C("attr_int_as_bool", mutate(setp(N + "conv/attrs/groups", True)), "INVALID_ATTRIBUTE"),
    C(
        "attr_int2_three_items",
        mutate(setp(N + "conv/attrs/stride", [1, 1, 1])),
        "INVALID_ATTRIBUTE",
    ),
    C("attr_int2_float_item", mutate(setp(N + "conv/attrs/stride", [1, 1.5])), "INVALID_ATTRIBUTE"),
    C(
        "attr_float_as_string",
        mutate(setp(N + "act/attrs/negative_slope", "0.2")),
        "INVALID_ATTRIBUTE",
    ),
    C(
        "attr_float_as_bool",
        mutate(setp(N + "act/attrs/negative_slope", False)),
        "INVALID_ATTRIBUTE",
    ),
    C("attr_bool_as_int", _avg_bool_as_int(), "INVALID_ATTRIBUTE"),
    C("bn_eps_zero", mutate(setp(N + "bn/attrs/eps", 0.0)), "INVALID_ATTRIBUTE"),
    C("bn_eps_negative", mutate(setp(N + "bn/attrs/eps", -1e-5)), "INVALID_ATTRIBUTE"),
    C("softmax_dim_minus_1", mutate(setp(N + "prob/attrs/dim", -1)), "INVALID_ATTRIBUTE"),
    C("softmax_dim_past_rank", mutate(setp(N + "prob/attrs/dim", 2)), "INVALID_ATTRIBUTE"),
    C("softmax_dim_zero", mutate(setp(N + "prob/attrs/dim", 0)), "INVALID_ATTRIBUTE"),
    C(
        "maxpool_dilation2_padding_over_half_kernel",
        maxpool(_mp(k=(2, 2), s=(1, 1), p=(2, 2), d=(2, 2)), [6, 6]),
        "INVALID_ATTRIBUTE",
    ),
    C("maxpool_kernel_zero", maxpool(_mp(k=(0, 2)), [2, 2]), "INVALID_ATTRIBUTE"),
    C("maxpool_stride_zero", maxpool(_mp(s=(0, 2)), [2, 2]), "INVALID_ATTRIBUTE"),
    C("maxpool_dilation_zero", maxpool(_mp(d=(1, 0)), [2, 2]), "INVALID_ATTRIBUTE"),
    C("maxpool_padding_negative", maxpool(_mp(p=(-1, 0)), [1, 2]), "INVALID_ATTRIBUTE"),
    C(
        "avgpool_padding_over_half_kernel",
        avgpool(
            {"kernel_size": [2, 2], "stride": [2, 2], "padding": [2, 0], "count_include_pad": True},
            [4, 2],
        ),
        "INVALID_ATTRIBUTE",
    ),
    C(
        "accept_maxpool_padding_half_kernel",
        maxpool(_mp(k=(3, 3), s=(1, 1), p=(1, 1), d=(2, 2)), [2, 2]),
        None,
    ),
    # --- params -----------------------------------------------------------------------------------------
    C("param_slot_missing", mutate(delp(N + "conv/params/bias")), "INVALID_PARAMETER"),
    C("param_slot_extra", mutate(setp(N + "fc/params/scale", "fc.bias")), "INVALID_PARAMETER"),
    C("param_required_null", mutate(setp(N + "conv/params/weight", None)), "INVALID_PARAMETER"),
    C("param_not_string", mutate(setp(N + "conv/params/bias", 7)), "INVALID_PARAMETER"),
    C("param_tensor_missing", mutate(setp(N + "conv/params/bias", "no.such")), "MISSING_TENSOR"),
    C("param_tensor_wrong_shape", mutate_tensors(_swap_param), "INVALID_PARAMETER"),
    C("param_running_var_negative", mutate_tensors(bn_var_negative), "INVALID_PARAMETER"),
    C("param_f16_referenced", tiny_with(conv__bias=as_f16), "UNSUPPORTED_DTYPE"),
    C(
        "param_i8_referenced",
        tiny_with(bn__bias=lambda t: T("I8", [2], b"\1\2")),
        "UNSUPPORTED_DTYPE",
    ),
    C("param_nan_weight", tiny_with(conv__weight=poke((1, 0, 2, 2), np.nan)), "NON_FINITE_WEIGHT"),
    C("param_inf_weight", tiny_with(fc__weight=poke((0, 0), -np.inf)), "NON_FINITE_WEIGHT"),
    # --- graph ---------------------------------------------------------------------------------------
    C("graph_empty_node_name", mutate(setp(N + "act/name", "")), "INVALID_GRAPH"),
    C("graph_empty_output_value", mutate_text(lambda s: s), "INVALID_GRAPH", "see build"),
    C("graph_empty_input_name", mutate_text(lambda s: s), "INVALID_GRAPH", "see build"),
    C("graph_empty_output_name", mutate(setp("outputs/0/name", "")), "INVALID_GRAPH"),
    C("graph_duplicate_node_names", mutate(_dup_nodes), "INVALID_GRAPH"),
    C("graph_duplicate_value_names", mutate(_dup_values), "INVALID_GRAPH"),
    C("graph_wrong_input_count", mutate(_relu_two_inputs), "INVALID_GRAPH"),
    C("graph_unknown_input_value", mutate(setp(N + "act/inputs", ["nope"])), "INVALID_GRAPH"),
    C("graph_forward_reference", mutate(setp(N + "act/inputs", ["pool"])), "INVALID_GRAPH"),
    C("graph_output_not_produced", mutate(setp("outputs/0/name", "nope")), "INVALID_GRAPH"),
    # --- shapes -------------------------------------------------------------------------------------
    C(
        "shape_declared_output_shape_wrong",
        mutate(setp(N + "pool/output_shape", [2, 3, 3])),
        "SHAPE_MISMATCH",
    ),
    C("shape_output_shape_wrong", mutate(setp("outputs/0/shape", [4])), "SHAPE_MISMATCH"),
    C("shape_input_channels_disagree", mutate(_input_channels), "SHAPE_MISMATCH"),
    C(
        "shape_window_does_not_fit",
        maxpool(_mp(k=(3, 3), s=(1, 1)), [1, 1], hw=[2, 2]),
        "SHAPE_MISMATCH",
    ),
    C("shape_add_unequal", _add_graph(), "SHAPE_MISMATCH"),
    C("plan_value_over_limit", relu_chain(1, 4100, 4100, 1), "LIMIT_EXCEEDED"),
    C("plan_sum_over_limit", relu_chain(1, 4000, 4000, 4), "LIMIT_EXCEEDED"),
    C("accept_plan_just_fits", relu_chain(1, 2000, 2000, 2), None),
    C(
        "plan_conv_padding_huge",  # the window fits, the output does not: a limit, not a shape
        mutate(
            lambda m: (
                setp(N + "conv/attrs/padding", [1_000_000_000, 1])(m),
                setp(N + "conv/output_shape", [2, 2_000_000_002, 4])(m),
            )
        ),
        "LIMIT_EXCEEDED",
    ),
    # --- weights path ---------------------------------------------------------------------------------
    C("weights_name_slash", weights_file_named("sub/m.safetensors"), "UNSAFE_PATH"),
    C("weights_name_absolute", weights_file_named("/etc/passwd"), "UNSAFE_PATH"),
    C("weights_name_dotdot", weights_file_named(".."), "UNSAFE_PATH"),
    C("weights_name_dot", weights_file_named("."), "UNSAFE_PATH"),
    C("weights_name_backslash", weights_file_named("..\\m.safetensors"), "UNSAFE_PATH"),
    C("weights_name_colon", weights_file_named("C:m.safetensors"), "UNSAFE_PATH"),
    C("weights_name_nul", weights_file_named("m.safetensors\0"), "UNSAFE_PATH"),
    C("weights_name_empty", weights_file_named(""), "UNSAFE_PATH"),
    C("weights_symlink_outside_folder", weights_replaced(_symlink_outside), "UNSAFE_PATH"),
    C("weights_symlink_dev_zero", weights_replaced(_dev_zero), "UNSAFE_PATH"),
    C("weights_fifo", weights_replaced(_fifo), "UNSAFE_PATH"),
    C("weights_is_directory", weights_replaced(_directory), "UNSAFE_PATH"),
    C("weights_missing", weights_replaced(_missing), "IO_ERROR"),
    C("weights_over_1gib_sparse", sparse_weights_over_limit, "LIMIT_EXCEEDED"),
    C("weights_size_mismatch", _append_byte, "WEIGHTS_SIZE_MISMATCH"),
    C("weights_checksum_mismatch", _flip_data_byte, "WEIGHTS_CHECKSUM_MISMATCH"),
    # --- safetensors ------------------------------------------------------------------------------------
    C("st_file_shorter_than_8_bytes", _short_file, "INVALID_SAFETENSORS"),
    C("st_header_length_past_eof", _bad_header_len(5000), "INVALID_SAFETENSORS"),
    C("st_header_length_huge", _bad_header_len(2**63), "LIMIT_EXCEEDED"),
    C("st_header_padded_over_16mib", _header_over_limit, "LIMIT_EXCEEDED"),
    C("st_header_leading_space", _header_lead_space, "INVALID_SAFETENSORS"),
    C("st_header_tab_padding", mutate_st(pad=b"\t", pad_to=16), "INVALID_SAFETENSORS"),
    C("st_header_newline_padding", mutate_st(pad=b"\n", pad_to=16), "INVALID_SAFETENSORS"),
    C("st_header_nul_padding", mutate_st(pad=b"\0", pad_to=16), "INVALID_SAFETENSORS"),
    C("st_header_not_object", mutate_st(header_text=b"[]"), "INVALID_SAFETENSORS"),
    C("st_header_invalid_json", mutate_st(header_text=b'{"a":}'), "INVALID_JSON"),
    C(
        "st_header_duplicate_key",
        mutate_st(header_hook=lambda h: None),
        "INVALID_JSON",
        "see build",
    ),
    C("st_too_many_tensors", _many_tensors, "LIMIT_EXCEEDED"),
    C("st_entry_extra_key", hdr(_entry("fc.bias", extra=1)), "INVALID_SAFETENSORS"),
    C(
        "st_entry_missing_offsets",
        hdr(lambda h: h["fc.bias"].pop("data_offsets")),
        "INVALID_SAFETENSORS",
    ),
    C("st_dtype_object", hdr(_entry("fc.weight", dtype={"F32": 1})), "INVALID_SAFETENSORS"),
    C("st_dtype_list", hdr(_entry("fc.weight", dtype=["F32"])), "INVALID_SAFETENSORS"),
    C("st_dtype_unknown", hdr(_entry("fc.bias", dtype="F33")), "INVALID_SAFETENSORS"),
    C("st_shape_negative", hdr(_entry("fc.bias", shape=[-3])), "INVALID_SAFETENSORS"),
    C("st_shape_float", hdr(_entry("fc.bias", shape=[3.0])), "INVALID_SAFETENSORS"),
    C(
        "st_shape_overflow",
        hdr(_entry("fc.bias", shape=[2**62, 2**62, 0, 4])),
        "INVALID_SAFETENSORS",
        "product is 0 only after the overflow",
    ),
    C("st_shape_span_disagree", hdr(_entry("fc.bias", shape=[4])), "INVALID_SAFETENSORS"),
    C("st_offsets_float", hdr(_entry("bn.bias", data_offsets=[0, 8.0])), "INVALID_SAFETENSORS"),
    C("st_offsets_gap", hdr(_shift_last(4)), "INVALID_SAFETENSORS"),
    C("st_offsets_overlap", hdr(_shift_last(-4)), "INVALID_SAFETENSORS"),
    C("st_trailing_bytes", mutate_st(trailing=b"\0\0\0\0"), "INVALID_SAFETENSORS"),
    C("st_metadata_not_string", mutate_st(metadata={"k": 1}), "INVALID_SAFETENSORS"),
    C(
        "adaptive_avg_pool_output_size_zero",
        hand(
            [1, 3, 3],
            [
                _n(
                    "pool",
                    "adaptive_avg_pool2d",
                    ["input"],
                    {"output_size": [0, 2]},
                    shape=[1, 1, 2],
                ),
                _n("flat", "flatten", ["pool"], shape=[2]),
            ],
            output="flat",
            k=2,
        ),
        "INVALID_ATTRIBUTE",
        "adaptive pool output_size entries must be >= 1",
    ),
    C(
        "adaptive_max_pool_output_size_zero",
        hand(
            [1, 3, 3],
            [
                _n(
                    "pool",
                    "adaptive_max_pool2d",
                    ["input"],
                    {"output_size": [2, 0]},
                    shape=[1, 2, 1],
                ),
                _n("flat", "flatten", ["pool"], shape=[2]),
            ],
            output="flat",
            k=2,
        ),
        "INVALID_ATTRIBUTE",
        "adaptive pool output_size entries must be >= 1",
    ),
    C(
        "adaptive_pools_output_larger_than_input",
        hand(
            [1, 2, 3],
            [
                _n("a", "adaptive_avg_pool2d", ["input"], {"output_size": [3, 2]}, shape=[1, 3, 2]),
                _n("m", "adaptive_max_pool2d", ["a"], {"output_size": [4, 5]}, shape=[1, 4, 5]),
                _n("flat", "flatten", ["m"], shape=[20]),
            ],
            output="flat",
            k=20,
        ),
        None,
        "an adaptive pool may grow an extent (bins repeat input cells)",
    ),
    C(
        "pad_negative",
        hand(
            [1, 2, 3],
            [
                _n(
                    "pad",
                    "replication_pad2d",
                    ["input"],
                    {"pad_h": [0, 0], "pad_w": [-1, 0]},
                    shape=[1, 2, 2],
                ),
                _n("flat", "flatten", ["pad"], shape=[4]),
            ],
            output="flat",
            k=4,
        ),
        "INVALID_ATTRIBUTE",
        "pad_h and pad_w entries must be >= 0 (pads never crop)",
    ),
    C(
        "constant_pad_value_overflows_float32",
        hand(
            [1, 2, 3],
            [
                _n(
                    "pad",
                    "constant_pad2d",
                    ["input"],
                    {"pad_h": [1, 0], "pad_w": [0, 0], "value": 1e39},
                    shape=[1, 3, 3],
                ),
                _n("flat", "flatten", ["pad"], shape=[9]),
            ],
            output="flat",
            k=9,
        ),
        "INVALID_ATTRIBUTE",
        "constant_pad2d value must be finite as a float32",
    ),
    C(
        "circular_pad_over_extent",
        hand(
            [1, 2, 3],
            [
                _n(
                    "pad",
                    "circular_pad2d",
                    ["input"],
                    {"pad_h": [0, 3], "pad_w": [0, 0]},
                    shape=[1, 5, 3],
                ),
                _n("flat", "flatten", ["pad"], shape=[15]),
            ],
            output="flat",
            k=15,
        ),
        "SHAPE_MISMATCH",
        "circular padding must be <= the input extent (PyTorch's rule)",
    ),
    C(
        "reflection_pad_at_extent",
        hand(
            [1, 2, 3],
            [
                _n(
                    "pad",
                    "reflection_pad2d",
                    ["input"],
                    {"pad_h": [0, 0], "pad_w": [3, 0]},
                    shape=[1, 2, 6],
                ),
                _n("flat", "flatten", ["pad"], shape=[12]),
            ],
            output="flat",
            k=12,
        ),
        "SHAPE_MISMATCH",
        "reflection padding must be < the input extent (PyTorch's rule)",
    ),
    C(
        "accept_circular_pad_equal_to_extent",
        hand(
            [1, 2, 3],
            [
                _n(
                    "pad",
                    "circular_pad2d",
                    ["input"],
                    {"pad_h": [2, 2], "pad_w": [3, 0]},
                    shape=[1, 6, 6],
                ),
                _n("flat", "flatten", ["pad"], shape=[36]),
            ],
            output="flat",
            k=36,
        ),
        None,
        "a circular pad may equal the extent (one full wrap)",
    ),
    # --- activation attributes: clamp bounds, log_softmax dim, prelu slopes, elu alpha ---------
    C(
        "clamp_min_over_max",
        hand(
            [1, 1, 2],
            [
                _n("a", "clamp", ["input"], {"min": 2.0, "max": 1.0}, shape=[1, 1, 2]),
                _n("flat", "flatten", ["a"], shape=[2]),
            ],
            output="flat",
            k=2,
        ),
        "INVALID_ATTRIBUTE",
    ),
    C(
        "clamp_max_beyond_float32",
        hand(
            [1, 1, 2],
            [
                _n("a", "clamp", ["input"], {"min": 0.5, "max": 1e39}, shape=[1, 1, 2]),
                _n("flat", "flatten", ["a"], shape=[2]),
            ],
            output="flat",
            k=2,
        ),
        "INVALID_ATTRIBUTE",
    ),
    C(
        "accept_clamp_float32_extremes",
        hand(
            [1, 1, 2],
            [
                _n(
                    "a",
                    "clamp",
                    ["input"],
                    {"min": -3.4028234663852886e38, "max": 3.4028234663852886e38},
                    shape=[1, 1, 2],
                ),
                _n("flat", "flatten", ["a"], shape=[2]),
            ],
            output="flat",
            k=2,
        ),
        None,
    ),
    C(
        "elu_alpha_beyond_float32",
        hand(
            [1, 1, 2],
            [
                _n("a", "elu", ["input"], {"alpha": -1e39}, shape=[1, 1, 2]),
                _n("flat", "flatten", ["a"], shape=[2]),
            ],
            output="flat",
            k=2,
        ),
        "INVALID_ATTRIBUTE",
    ),
    C(
        "log_softmax_dim_zero",
        hand(
            [1, 1, 2],
            [
                _n("a", "log_softmax", ["input"], {"dim": 0}, shape=[1, 1, 2]),
                _n("flat", "flatten", ["a"], shape=[2]),
            ],
            output="flat",
            k=2,
        ),
        "INVALID_ATTRIBUTE",
    ),
    C(
        "log_softmax_dim_past_rank",
        hand(
            [1, 1, 2],
            [
                _n("a", "log_softmax", ["input"], {"dim": 4}, shape=[1, 1, 2]),
                _n("flat", "flatten", ["a"], shape=[2]),
            ],
            output="flat",
            k=2,
        ),
        "INVALID_ATTRIBUTE",
    ),
    C(
        "prelu_num_parameters_zero",
        hand(
            [2, 1, 2],
            [
                _n(
                    "a",
                    "prelu",
                    ["input"],
                    {"num_parameters": 0},
                    {"weight": "w"},
                    shape=[2, 1, 2],
                ),
                _n("flat", "flatten", ["a"], shape=[4]),
            ],
            output="flat",
            k=4,
            tensors={"w": f32([0.25])},
        ),
        "INVALID_ATTRIBUTE",
    ),
    C(
        "prelu_num_parameters_not_channels",
        hand(
            [2, 1, 2],
            [
                _n(
                    "a",
                    "prelu",
                    ["input"],
                    {"num_parameters": 3},
                    {"weight": "w"},
                    shape=[2, 1, 2],
                ),
                _n("flat", "flatten", ["a"], shape=[4]),
            ],
            output="flat",
            k=4,
            tensors={"w": f32([0.25, 0.5, 1.0])},
        ),
        "SHAPE_MISMATCH",
    ),
    C(
        "accept_prelu_per_channel",
        hand(
            [2, 1, 2],
            [
                _n(
                    "a",
                    "prelu",
                    ["input"],
                    {"num_parameters": 2},
                    {"weight": "w"},
                    shape=[2, 1, 2],
                ),
                _n("flat", "flatten", ["a"], shape=[4]),
            ],
            output="flat",
            k=4,
            tensors={"w": f32([0.25, 0.5])},
        ),
        None,
    ),
    C(
        "upsample_output_size_zero",
        hand(
            [1, 2, 2],
            [
                _n("up", "upsample_nearest2d", ["input"], {"output_size": [0, 2]}, shape=[1, 1, 2]),
                _n("flat", "flatten", ["up"], shape=[2]),
            ],
            output="flat",
            k=2,
        ),
        "INVALID_ATTRIBUTE",
        "a resize's output_size entries must be >= 1",
    ),
    C(
        "upsample_output_over_limit",
        hand(
            [1, 2, 2],
            [
                _n(
                    "up",
                    "upsample_nearest2d",
                    ["input"],
                    {"output_size": [5000, 5000]},
                    shape=[1, 5000, 5000],
                ),
                _n("gap", "global_avg_pool", ["up"], {"keepdims": False}, shape=[1]),
            ],
            output="gap",
            k=1,
        ),
        "LIMIT_EXCEEDED",
        "a resize's output counts against MAX_VALUE_ELEMENTS like any node output",
    ),
    C(
        "accept_upsample_bilinear",
        hand(
            [1, 2, 2],
            [
                _n(
                    "up",
                    "upsample_bilinear2d",
                    ["input"],
                    {"output_size": [3, 1], "align_corners": False},
                    shape=[1, 3, 1],
                ),
                _n("flat", "flatten", ["up"], shape=[3]),
            ],
            output="flat",
            k=3,
        ),
        None,
        "a resize may shrink one axis and grow the other",
    ),
    C(
        "conv_transpose_output_padding_too_large",
        hand(
            [1, 2, 2],
            [
                _n(
                    "up",
                    "conv_transpose2d",
                    ["input"],
                    {
                        "in_channels": 1,
                        "out_channels": 1,
                        "kernel_size": [1, 1],
                        "stride": [2, 2],
                        "padding": [0, 0],
                        "output_padding": [0, 2],
                        "dilation": [1, 1],
                        "groups": 1,
                    },
                    {"weight": "w", "bias": None},
                    shape=[1, 3, 5],
                ),
                _n("flat", "flatten", ["up"], shape=[15]),
            ],
            output="flat",
            k=15,
            tensors={"w": f32([[[[1.0]]]])},
        ),
        "INVALID_ATTRIBUTE",
        "conv_transpose2d output_padding must be smaller than the stride or the dilation",
    ),
    C(
        "accept_conv_transpose_output_padding_below_dilation",
        hand(
            [1, 2, 2],
            [
                _n(
                    "up",
                    "conv_transpose2d",
                    ["input"],
                    {
                        "in_channels": 1,
                        "out_channels": 2,
                        "kernel_size": [2, 1],
                        "stride": [1, 1],
                        "padding": [0, 0],
                        "output_padding": [1, 0],
                        "dilation": [2, 1],
                        "groups": 1,
                    },
                    {"weight": "w", "bias": None},
                    shape=[2, 5, 2],
                ),
                _n("flat", "flatten", ["up"], shape=[20]),
            ],
            output="flat",
            k=20,
            tensors={"w": f32([[[[1.0], [2.0]], [[3.0], [4.0]]]])},
        ),
        None,
        "PyTorch's rule: output_padding below the stride OR the dilation",
    ),
    C(
        "pad_output_extent_over_limit",
        hand(
            [1, 2, 3],
            [
                _n(
                    "pad",
                    "constant_pad2d",
                    ["input"],
                    {"pad_h": [10000000, 10000000], "pad_w": [0, 0], "value": 0.0},
                    shape=[1, 20000002, 3],
                ),
                _n("flat", "flatten", ["pad"], shape=[60000006]),
            ],
            output="flat",
            k=60000006,
        ),
        "LIMIT_EXCEEDED",
        "a padded extent over MAX_VALUE_ELEMENTS",
    ),
    # --- normalisation ops: attribute value rules (both readers, same code) ---------------------
    *(
        C(
            f"{op}_{tag}",
            hand(
                [2, 1, 2],
                [
                    _n("norm", op, ["input"], attrs, params, shape=[2, 1, 2]),
                    _n("flat", "flatten", ["norm"], shape=[4]),
                ],
                output="flat",
                k=4,
            ),
            code,
        )
        for op, tag, attrs, params, code in (
            (
                "group_norm",
                "accept",
                {"num_groups": 2, "num_channels": 2, "eps": 1e-5},
                {"weight": None, "bias": None},
                None,
            ),
            (
                "group_norm",
                "groups_not_dividing",
                {"num_groups": 3, "num_channels": 2, "eps": 1e-5},
                {"weight": None, "bias": None},
                "INVALID_ATTRIBUTE",
            ),
            (
                "group_norm",
                "eps_zero",
                {"num_groups": 1, "num_channels": 2, "eps": 0.0},
                {"weight": None, "bias": None},
                "INVALID_ATTRIBUTE",
            ),
            (
                "instance_norm2d",
                "accept",
                {"num_features": 2, "eps": 1e-5},
                {"weight": None, "bias": None},
                None,
            ),
            (
                "instance_norm2d",
                "eps_negative",
                {"num_features": 2, "eps": -1e-5},
                {"weight": None, "bias": None},
                "INVALID_ATTRIBUTE",
            ),
            (
                "layer_norm",
                "accept",
                {"normalized_dims": 2, "normalized_size": 2, "eps": 1e-5},
                {"weight": None, "bias": None},
                None,
            ),
            (
                "layer_norm",
                "dims_zero",
                {"normalized_dims": 0, "normalized_size": 2, "eps": 1e-5},
                {"weight": None, "bias": None},
                "INVALID_ATTRIBUTE",
            ),
            (
                "layer_norm",
                "dims_over_rank",
                {"normalized_dims": 4, "normalized_size": 4, "eps": 1e-5},
                {"weight": None, "bias": None},
                "SHAPE_MISMATCH",
            ),
            (
                "layer_norm",
                "size_disagrees",
                {"normalized_dims": 1, "normalized_size": 3, "eps": 1e-5},
                {"weight": None, "bias": None},
                "SHAPE_MISMATCH",
            ),
        )
    ),
    *(
        C(
            f"batch_norm1d_{tag}",
            hand(
                [2, 1, 1],
                [
                    _n("flat", "flatten", ["input"], shape=[2]),
                    _n(
                        "bn",
                        "batch_norm1d",
                        ["flat"],
                        {"num_features": 2, "eps": eps},
                        {
                            "running_mean": "bn.mean",
                            "running_var": "bn.var",
                            "weight": None,
                            "bias": None,
                        },
                        shape=[2],
                    ),
                ],
                output="bn",
                k=2,
                tensors={"bn.mean": f32([0.5, -1.0]), "bn.var": f32(var)},
            ),
            code,
        )
        for tag, eps, var, code in (
            ("accept", 1e-5, [1.0, 0.0], None),
            ("eps_zero", 0.0, [1.0, 2.0], "INVALID_ATTRIBUTE"),
            ("var_negative", 1e-5, [1.0, -0.5], "INVALID_PARAMETER"),
        )
    ),
    # --- end normalisation ops
    # --- elementwise binary ops and constant: broadcasting rule, zero-input node
    C(
        "accept_binary_broadcast_and_constants",
        hand(
            [2, 3, 4],
            [
                _n("c_chan", "constant", [], params={"value": "c.chan"}, shape=[2, 1, 1]),
                _n("mul", "mul", ["input", "c_chan"], shape=[2, 3, 4]),
                _n("c_row", "constant", [], params={"value": "c.row"}, shape=[4]),
                {**_n("add", "add", ["mul", "c_row"], shape=[2, 3, 4]), "version": 2},
                _n("c_one", "constant", [], params={"value": "c.one"}, shape=[1]),
                _n("div", "div", ["c_one", "add"], shape=[2, 3, 4]),
                _n("sub", "sub", ["div", "mul"], shape=[2, 3, 4]),
                _n("gap", "global_avg_pool", ["sub"], {"keepdims": False}, shape=[2]),
            ],
            output="gap",
            k=2,
            tensors={
                "c.chan": f32([[[0.5]], [[-2.0]]]),
                "c.row": f32([1.0, 2.0, 3.0, 4.0]),
                "c.one": f32([1.0]),
            },
        ),
        None,
        "a constant node has no inputs and its value's shape; binary ops broadcast per sample",
    ),
    *(
        C(
            f"binary_{op}_shapes_incompatible",
            hand(
                [2, 3, 4],
                [
                    _n("c", "constant", [], params={"value": "c"}, shape=[3, 1, 1]),
                    {**_n("bin", op, ["input", "c"], shape=[2, 3, 4]), "version": version},
                    _n("gap", "global_avg_pool", ["bin"], {"keepdims": False}, shape=[2]),
                ],
                output="gap",
                k=2,
                tensors={"c": f32([[[1.0]], [[2.0]], [[3.0]]])},
            ),
            "SHAPE_MISMATCH",
            "per-sample dims must be equal or 1 (right-aligned): 3 against 2 channels",
        )
        for op, version in (("add", 2), ("sub", 1), ("mul", 1), ("div", 1))
    ),
    C(
        "constant_value_rank_zero",
        hand(
            [2, 1, 1],
            [
                _n("c", "constant", [], params={"value": "c"}, shape=[1]),
                _n("mul", "mul", ["input", "c"], shape=[2, 1, 1]),
                _n("gap", "global_avg_pool", ["mul"], {"keepdims": False}, shape=[2]),
            ],
            output="gap",
            k=2,
            tensors={"c": T("F32", [], np.float32(2.0).tobytes())},
        ),
        "INVALID_PARAMETER",
        "a constant's value has rank >= 1 (a number is stored as [1])",
    ),
    C(
        "concat_shape_mismatch",
        hand(
            [2, 3, 4],
            [
                _n("u", "unsqueeze", ["input"], {"dim": 1}, shape=[1, 2, 3, 4]),
                _n("cat", "concat", ["u", "u"], {"dim": 2}, shape=[1, 4, 3, 4]),
                _n("bad", "concat", ["cat", "u"], {"dim": 3}, shape=[1, 4, 6, 4]),
                _n("flat", "flatten", ["bad"], shape=[96]),
            ],
            output="flat",
            k=96,
        ),
        "SHAPE_MISMATCH",
        "concat's inputs must be equal in every dim but dim: 4 against 2 on dim 2",
    ),
    C(
        "squeeze_dim_not_one",
        hand(
            [2, 1, 3],
            [
                _n("q", "squeeze", ["input"], {"dim": 1}, shape=[1, 3]),
                _n("flat", "flatten", ["q"], shape=[3]),
            ],
            output="flat",
            k=3,
        ),
        "SHAPE_MISMATCH",
        "squeeze removes only a size-1 dim: dim 1 has size 2",
    ),
    C(
        "concat_dim_batch_axis",
        hand(
            [1, 2, 2],
            [
                _n("cat", "concat", ["input", "input"], {"dim": 0}, shape=[2, 2, 2]),
                _n("flat", "flatten", ["cat"], shape=[8]),
            ],
            output="flat",
            k=8,
        ),
        "INVALID_ATTRIBUTE",
        "concat's dim names a per-sample axis (>= 1), never the batch axis",
    ),
    # --- pools with per-side padding and ceil_mode (max_pool2d@2, avg_pool2d@2)
    C(
        "accept_pool_v2_ceil_mode_drops_window_in_end_padding",
        _pool_v2(
            "max_pool2d", [1, 3], [1, 2], kernel=[1, 2], stride=[1, 2], pad_h=[0, 0], pad_w=[1, 1]
        ),
        None,
        "ceil_mode keeps a partial last window but drops one starting in the end padding: "
        "width 3, kernel 2, stride 2, pads [1, 1] give 2 outputs (PyTorch's rule)",
    ),
    C(
        "pool_v2_ceil_mode_window_in_end_padding_kept",
        _pool_v2(
            "max_pool2d", [1, 3], [1, 3], kernel=[1, 2], stride=[1, 2], pad_h=[0, 0], pad_w=[1, 1]
        ),
        "SHAPE_MISMATCH",
        "a declared output that keeps the window starting in the end padding is refused",
    ),
    C(
        "accept_avg_pool_v2_asymmetric_pads",
        _pool_v2(
            "avg_pool2d",
            [4, 4],
            [3, 3],
            kernel=[3, 3],
            stride=[1, 1],
            pad_h=[1, 0],
            pad_w=[0, 1],
            ceil=False,
        ),
        None,
        "per-side pads: [top, bottom] and [left, right], each at most kernel // 2",
    ),
    C(
        "max_pool_v2_end_pad_over_half_kernel",
        _pool_v2(
            "max_pool2d", [4, 4], [4, 2], kernel=[3, 2], stride=[1, 2], pad_h=[0, 2], pad_w=[0, 0]
        ),
        "INVALID_ATTRIBUTE",
        "each side's padding is at most kernel // 2 (bottom 2 with kernel 3)",
    ),
    C(
        "avg_pool_v2_begin_pad_over_half_kernel",
        _pool_v2(
            "avg_pool2d",
            [4, 4],
            [4, 4],
            kernel=[3, 3],
            stride=[1, 1],
            pad_h=[1, 1],
            pad_w=[2, 0],
            ceil=False,
        ),
        "INVALID_ATTRIBUTE",
        "each side's padding is at most kernel // 2 (left 2 with kernel 3)",
    ),
    # --- sequence ops on (C, L): conv1d, max_pool1d, avg_pool1d
    C(
        "accept_seq_ops",
        _seq(),
        None,
        "conv1d, max_pool1d (per-side padding, ceil_mode dropping a window that would start in "
        "the end padding) and avg_pool1d on a (C, L) value",
    ),
    C(
        "seq_max_pool1d_end_pad_over_half_kernel",
        _seq(max_pool={"kernel_size": 3, "padding": [0, 2]}),
        "INVALID_ATTRIBUTE",
        "each side's padding is at most kernel // 2, as for max_pool2d@2",
    ),
    C(
        "seq_avg_pool1d_begin_pad_over_half_kernel",
        _seq(avg_pool={"padding": [2, 0]}),
        "INVALID_ATTRIBUTE",
        "each side's padding is at most kernel // 2, as for avg_pool2d@2",
    ),
    C(
        "seq_pool1d_padding_single_int",
        _seq(max_pool={"padding": 1}),
        "INVALID_ATTRIBUTE",
        "a 1-D pool's padding is [left, right] (int2)",
    ),
    C(
        "seq_conv1d_kernel_size_pair",
        _seq(conv={"kernel_size": [1, 3]}),
        "INVALID_ATTRIBUTE",
        "conv1d's window attributes are single ints",
    ),
    C(
        "seq_conv1d_weight_4d",
        _seq(weight=f32([[[[1.0, -2.0, 0.5]]], [[[0.25, 1.0, -1.0]]]])),
        "INVALID_PARAMETER",
        "conv1d's weight is (out_channels, in_channels / groups, k)",
    ),
    C(
        "seq_conv1d_groups_not_dividing",
        _seq(conv={"groups": 3}),
        "INVALID_ATTRIBUTE",
        "groups divides both channel counts, as for conv2d",
    ),
    # --- the ints attribute kind and reshape@1 ------------------------------------------------------
    C(
        "accept_reshape_to_another_rank",
        _reshape([4, 6], [4, 6]),
        None,
        "any per-sample shape of the same element count: (2, 3, 4) as (4, 6)",
    ),
    C(
        "accept_ints_of_max_length",
        _reshape([1, 1, 2, 1, 3, 1, 4, 1], [1, 1, 2, 1, 3, 1, 4, 1]),
        None,
        "an ints attribute holds up to MAX_INTS_LENGTH (8) integers",
    ),
    C("attr_ints_not_array", _reshape(24, [24]), "INVALID_ATTRIBUTE", "ints is an array"),
    C("attr_ints_empty", _reshape([], [24]), "INVALID_ATTRIBUTE", "ints holds at least one"),
    C(
        "attr_ints_too_long",
        _reshape([1, 1, 1, 1, 1, 1, 1, 4, 6], [1, 1, 1, 1, 1, 1, 1, 4, 6]),
        "INVALID_ATTRIBUTE",
        "9 integers, one more than MAX_INTS_LENGTH (a wrong kind, not LIMIT_EXCEEDED)",
    ),
    C(
        "attr_ints_float_item",
        _reshape([4, 6.0], [4, 6]),
        "INVALID_ATTRIBUTE",
        "6.0 is not an integer",
    ),
    C(
        "attr_ints_exponent_item",
        _reshape([4, 6], [4, 6], text=('"shape": [\n     4,\n     6\n', '"shape": [4, 6e0\n')),
        "INVALID_ATTRIBUTE",
        "6e0 is not an integer",
    ),
    C(
        "attr_ints_bool_item",
        _reshape([True, 24], [1, 24]),
        "INVALID_ATTRIBUTE",
        "true is not an integer",
    ),
    C(
        "attr_ints_string_item",
        _reshape(["4", 6], [4, 6]),
        "INVALID_ATTRIBUTE",
        '"4" is not an integer',
    ),
    C(
        "attr_ints_over_32_bits",
        _reshape([2**32, 24], [24]),
        "INVALID_ATTRIBUTE",
        "an entry outside the 32-bit range is a wrong kind, found before any shape rule",
    ),
    C(
        "reshape_entry_below_one",
        _reshape([-2, -12], [2, 12]),
        "INVALID_ATTRIBUTE",
        "every entry >= 1, even when the product is the element count (-2 * -12 = 24)",
    ),
    C(
        "reshape_zero_entry",
        _reshape([0, 24], [1, 24]),
        "INVALID_ATTRIBUTE",
        "an entry < 1 is INVALID_ATTRIBUTE; both readers check the entries before the product",
    ),
    C(
        "reshape_element_count_differs",
        _reshape([5, 5], [5, 5]),
        "SHAPE_MISMATCH",
        "the product of the entries (25) is not the input's element count (24)",
    ),
)

# Builders whose edit is more than one line (marked "see build" above).


def _tilde(d: Path) -> Path:
    m, t = tiny()
    return write_export(d, m, t, weights_name="~m.safetensors")


def _invalid_utf8(d: Path) -> Path:
    m, t = tiny()
    write_export(d, m, t)
    text = json.dumps(m, indent=1).encode()
    return write_export(d, None, None, manifest_bytes=text.replace(b'"tiny"', b'"ti\xffny"', 1))


def _weights_not_object(d: Path) -> Path:
    m, t = tiny()
    write_export(d, m, t)
    m["weights"] = m["weights"]["file"]
    return write_export(d, None, None, manifest_bytes=json.dumps(m).encode())


def _weights_field(key: str, value: Callable[[Any], Any] | None) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        m, t = tiny()
        write_export(d, m, t)
        if value is None:
            del m["weights"][key]
        else:
            m["weights"][key] = value(m["weights"][key])
        return write_export(d, None, None, manifest_bytes=json.dumps(m).encode())

    return build


def _shared_tensor(d: Path) -> Path:
    m, t = tiny()
    # conv.bias and bn.bias both have shape [2]: let the batch norm reuse the conv's bias tensor,
    # and recompute nothing: the golden outputs then no longer match, so drop them.
    node(m, "bn")["params"]["bias"] = "conv.bias"
    m["golden"] = None
    return write_export(d, m, t)


def _empty_output_value(d: Path) -> Path:
    m, t = tiny()
    node(m, "act")["outputs"] = [""]
    node(m, "pool")["inputs"] = [""]
    return write_export(d, m, t)


def _empty_input_name(d: Path) -> Path:
    m, t = tiny()
    m["input"]["name"] = ""
    node(m, "conv")["inputs"] = [""]
    return write_export(d, m, t)


def _st_duplicate_key(d: Path) -> Path:
    m, t = tiny()
    data = encode_st(t)
    (n,) = struct.unpack("<Q", data[:8])
    header = data[8 : 8 + n].rstrip(b" ")
    dup = header[:-1] + b',"fc.bias":{"dtype":"F32","shape":[3],"data_offsets":[112,124]}}'
    dup += b" " * (-len(dup) % 8)
    return write_export(d, m, struct.pack("<Q", len(dup)) + dup + data[8 + n :])


_SPECIAL: dict[str, Callable[[Path], Path]] = {
    "accept_weights_name_tilde": _tilde,
    "json_invalid_utf8": _invalid_utf8,
    "top_weights_not_object": _weights_not_object,
    "weights_bytes_float": _weights_field("bytes", lambda v: float(v)),
    "weights_bytes_string": _weights_field("bytes", lambda v: str(v)),
    "weights_sha256_missing": _weights_field("sha256", None),
    "accept_shared_param_tensor": _shared_tensor,
    "graph_empty_output_value": _empty_output_value,
    "graph_empty_input_name": _empty_input_name,
    "st_header_duplicate_key": _st_duplicate_key,
}
CASES = tuple(Case(c.name, _SPECIAL.get(c.name, c.build), c.expected, c.note) for c in CASES)
assert len({c.name for c in CASES}) == len(CASES), "case names must be unique"


@dataclass(frozen=True)
class InferenceCase:
    name: str
    model: str  # "tiny" or "overflow"
    x: Callable[[], np.ndarray]
    expected: str | None


def _tiny_x(value: float = 0.5, n: int = 2) -> np.ndarray:
    return np.full((n, 1, 4, 4), value, dtype=np.float32)


def _with(arr: np.ndarray, index: tuple[int, ...], value: float) -> np.ndarray:
    arr = arr.copy()
    arr[index] = value
    return arr


INFERENCE_MODELS: dict[str, Callable[[Path], Path]] = {
    "tiny": mutate(lambda m: None),
    "overflow": overflow_model(),
}

INFERENCE_CASES: tuple[InferenceCase, ...] = (
    InferenceCase("tiny_ok", "tiny", lambda: _tiny_x(), None),
    InferenceCase(
        "tiny_nan_input", "tiny", lambda: _with(_tiny_x(), (1, 0, 2, 3), np.nan), "INVALID_INPUT"
    ),
    InferenceCase(
        "tiny_inf_input", "tiny", lambda: _with(_tiny_x(), (0, 0, 0, 0), np.inf), "INVALID_INPUT"
    ),
    InferenceCase("tiny_empty_batch", "tiny", lambda: _tiny_x(n=0), "INVALID_INPUT"),
    InferenceCase(
        "tiny_wrong_length", "tiny", lambda: np.zeros((1, 1, 4, 3), np.float32), "INVALID_INPUT"
    ),
    InferenceCase("overflow_ok", "overflow", lambda: np.ones((1, 1, 1, 2), np.float32), None),
    InferenceCase(
        "overflow_extreme_input",
        "overflow",
        lambda: np.full((1, 1, 1, 2), 3e38, np.float32),
        "NON_FINITE_OUTPUT",
    ),
)


def generate(root: Path) -> dict[str, tuple[Path, str | None]]:
    """Write every case into ``root/<name>/``; returns name -> (manifest path, expected code)."""
    root.mkdir(parents=True, exist_ok=True)
    out: dict[str, tuple[Path, str | None]] = {}
    for case in CASES:
        folder = root / case.name
        folder.mkdir()
        out[case.name] = (case.build(folder), case.expected)
    return out


def generate_models(root: Path) -> dict[str, Path]:
    """Write the models of the inference cases; returns model name -> manifest path."""
    return {name: build(root / f"model_{name}") for name, build in INFERENCE_MODELS.items()}


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "conformance-corpus")
    for name, (path, expected) in generate(target).items():
        print(f"{name}\t{expected or 'ACCEPT'}\t{path}")
