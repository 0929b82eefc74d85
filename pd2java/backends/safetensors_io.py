"""A strict safetensors reader and a deterministic writer (docs/FORMAT.md section 2).

Written here rather than taken from the ``safetensors`` package so that every rule the Java reader
enforces is enforced identically in Python, with errors that name the file, the tensor and the rule.
NumPy only.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from pd2java.errors import UserError

MAX_HEADER = 100_000_000
_U64 = 2**64 - 1

# Every dtype of the safetensors spec, with its byte size (so sizes of any file can be checked).
DTYPE_SIZES: dict[str, int] = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}
# The dtypes this reader can turn into arrays (version 1 weights are F32).
_NUMPY = {"F32": "<f4"}


class SafetensorsError(UserError):
    """A weights file that breaks a rule of FORMAT.md section 2."""


def _checked_product(shape: list[int], where: str) -> int:
    total = 1
    for dim in shape:
        total *= dim
        if total > _U64:
            raise SafetensorsError(f"{where}: element count of shape {shape} overflows 64 bits")
    return total


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-standard JSON constant {name}")


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def parse_header(data: bytes, path: str | Path) -> tuple[dict[str, dict], dict[str, str], int]:
    """Validate the layout of a whole safetensors file held in ``data``.

    Returns (tensor entries by name, metadata, buffer start). Raises SafetensorsError naming
    ``path`` and the rule broken.
    """
    where = str(path)
    if len(data) < 8:
        raise SafetensorsError(f"{where}: {len(data)} bytes is too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER:
        raise SafetensorsError(f"{where}: header length {n} exceeds the {MAX_HEADER} byte cap")
    if 8 + n > len(data):
        raise SafetensorsError(
            f"{where}: header length {n} runs past the end of the {len(data)}-byte file "
            "(truncated file?)"
        )
    raw = data[8 : 8 + n]
    try:
        text = raw.decode("utf-8")
        header = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise SafetensorsError(f"{where}: header is not valid UTF-8 JSON: {exc}") from None
    body = text.rstrip(" ")
    if not (body.startswith("{") and body.endswith("}")):
        raise SafetensorsError(
            f"{where}: header must be a JSON object starting with '{{', padded at the end with "
            "spaces (0x20) only"
        )
    if not isinstance(header, dict):
        raise SafetensorsError(f"{where}: header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise SafetensorsError(f"{where}: __metadata__ must map strings to strings")
    start = 8 + n
    buffer_len = len(data) - start
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        tw = f"{where}: tensor {name!r}"
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise SafetensorsError(f"{tw}: entry must have exactly dtype, shape, data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPE_SIZES:
            raise SafetensorsError(f"{tw}: unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise SafetensorsError(f"{tw}: shape {shape!r} must be a list of non-negative ints")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]
        ):
            raise SafetensorsError(
                f"{tw}: data_offsets {offsets!r} must be [begin, end], begin<=end"
            )
        nbytes = _checked_product(shape, tw) * DTYPE_SIZES[dtype]
        if nbytes > _U64:
            raise SafetensorsError(f"{tw}: byte size of shape {shape} overflows 64 bits")
        if nbytes != offsets[1] - offsets[0]:
            raise SafetensorsError(
                f"{tw}: shape {shape} x {dtype} is {nbytes} bytes but data_offsets span "
                f"{offsets[1] - offsets[0]}"
            )
        spans.append((offsets[0], offsets[1], name))
    spans.sort()
    pos = 0
    for begin, end, name in spans:
        if begin != pos:
            kind = "gap before" if begin > pos else "overlap at"
            raise SafetensorsError(
                f"{where}: {kind} tensor {name!r} (begins at {begin}, previous ended at {pos}); "
                "offsets must be contiguous"
            )
        pos = end
    if pos != buffer_len:
        if pos > buffer_len:
            raise SafetensorsError(
                f"{where}: tensors end at buffer offset {pos} but the buffer is only "
                f"{buffer_len} bytes (truncated file?)"
            )
        raise SafetensorsError(f"{where}: {buffer_len - pos} trailing bytes after the last tensor")
    return header, metadata, start


def read_safetensors(
    path: str | Path, *, data: bytes | None = None
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read and validate a safetensors file; returns (float32 arrays by name, metadata).

    A tensor whose dtype this reader does not support is refused, naming the tensor and dtype.
    """
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise SafetensorsError(f"cannot read weights file {path}: {exc.strerror}") from None
    header, metadata, start = parse_header(data, path)
    tensors: dict[str, np.ndarray] = {}
    for name in sorted(header):
        entry = header[name]
        np_dtype = _NUMPY.get(entry["dtype"])
        if np_dtype is None:
            raise SafetensorsError(
                f"{path}: tensor {name!r} has dtype {entry['dtype']}, which this reader does not "
                f"support (supported: {', '.join(sorted(_NUMPY))})"
            )
        begin, end = entry["data_offsets"]
        arr = np.frombuffer(data, dtype=np_dtype, count=(end - begin) // 4, offset=start + begin)
        tensors[name] = arr.astype(np.float32).reshape(entry["shape"])
    return tensors, metadata


def encode_safetensors(
    tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None
) -> bytes:
    """Deterministic bytes: tensors sorted by name, little-endian F32, compact sorted-key JSON
    header padded with spaces to a multiple of 8 bytes."""
    header: dict[str, object] = {}
    chunks: list[bytes] = []
    pos = 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        if arr.dtype != np.float32:
            raise ValueError(f"tensor {name!r} is {arr.dtype}; version 1 writes float32 only")
        raw = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": [int(d) for d in arr.shape],
            "data_offsets": [pos, pos + len(raw)],
        }
        chunks.append(raw)
        pos += len(raw)
    if metadata:
        header["__metadata__"] = dict(metadata)
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    hbytes = text.encode("utf-8")
    hbytes += b" " * (-len(hbytes) % 8)
    return struct.pack("<Q", len(hbytes)) + hbytes + b"".join(chunks)
