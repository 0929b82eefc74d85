"""A strict safetensors reader and a deterministic writer (docs/FORMAT.md section 2).

Written here rather than taken from the ``safetensors`` package so that every rule the Java reader
enforces is enforced identically in Python, with errors that name the file, the tensor and the rule.
NumPy only.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pd2java.errors import ErrorCode, FormatError
from pd2java.format_rules import (
    FP32_WEIGHT_DTYPES,
    MAX_HEADER_BYTES,
    MAX_JSON_DEPTH,
    MAX_JSON_NUMBER_CHARS,
    MAX_JSON_STRING_CHARS,
    MAX_JSON_VALUES,
    MAX_TENSORS,
    WEIGHT_DTYPES,
)

MAX_HEADER = MAX_HEADER_BYTES  # kept for callers of the old name
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
# The dtypes a referenced tensor may have (format_rules.WEIGHT_DTYPES), as NumPy dtypes.
_NUMPY = {"F32": "<f4", "F16": "<f2", "I8": "i1"}
assert set(_NUMPY) == set(WEIGHT_DTYPES)
_DTYPE_OF = {np.dtype(v): k for k, v in _NUMPY.items()}


class SafetensorsError(FormatError):
    """A weights file that breaks a rule of FORMAT.md section 2 (code INVALID_SAFETENSORS unless
    given)."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.INVALID_SAFETENSORS) -> None:
        super().__init__(code, message)


# --- files -------------------------------------------------------------------------------------


def read_regular_file(
    path: str | Path, limit: int, where: str, *, expect_size: int | None = None
) -> bytes:
    """The bytes of ``path``, checked with ``os.stat`` before it is opened (FORMAT.md section 1).

    Not a regular file (FIFO, device, directory) -> UNSAFE_PATH; larger than ``limit`` ->
    LIMIT_EXCEEDED; ``expect_size`` given and different -> WEIGHTS_SIZE_MISMATCH; missing or
    unreadable -> IO_ERROR. At most ``limit + 1`` bytes are ever read.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise FormatError(
            ErrorCode.IO_ERROR, f"{where}: cannot read {path}: {exc.strerror or exc}"
        ) from None
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a directory"
            if stat.S_ISDIR(st.st_mode)
            else "a FIFO"
            if stat.S_ISFIFO(st.st_mode)
            else "a device or special file"
        )
        raise FormatError(ErrorCode.UNSAFE_PATH, f"{where}: {path} is {kind}, not a regular file")
    if st.st_size > limit:
        raise FormatError(
            ErrorCode.LIMIT_EXCEEDED,
            f"{where}: {path} is {st.st_size} bytes, over the {limit}-byte limit",
        )
    if expect_size is not None and st.st_size != expect_size:
        raise FormatError(
            ErrorCode.WEIGHTS_SIZE_MISMATCH,
            f"{where}: {path} is {st.st_size} bytes but the manifest says {expect_size} "
            "(truncated or replaced weights file?)",
        )
    try:
        # O_NONBLOCK: should the path have become a FIFO since the stat, open does not hang.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise FormatError(ErrorCode.UNSAFE_PATH, f"{where}: {path} is not a regular file")
            # One byte more than stat reported, to notice a file that grew (never over limit + 1).
            data = f.read(st.st_size + 1)
    except OSError as exc:
        raise FormatError(
            ErrorCode.IO_ERROR, f"{where}: cannot read {path}: {exc.strerror or exc}"
        ) from None
    if len(data) != st.st_size:
        raise FormatError(ErrorCode.IO_ERROR, f"{where}: {path} changed while it was read")
    return data


# --- strict JSON --------------------------------------------------------------------------------

# A JSON string token (escapes included); everything outside them is structure, numbers, literals.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NON_EMPTY = re.compile(r"[\[{][ \t\n\r]*[^ \t\n\r\]}]")  # a non-empty array or object
_LONG_NUMBER = re.compile(rf"[-+0-9.eE]{{{MAX_JSON_NUMBER_CHARS + 1},}}")
_OPEN = np.zeros(256, dtype=np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-standard JSON constant {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} overflows a double")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def loads_strict(data: bytes, where: str) -> Any:
    """Parse one strict JSON document (FORMAT.md: JSON rules) from UTF-8 bytes.

    Invalid UTF-8 or JSON, a duplicate key, NaN/Infinity literals or a number overflowing a
    double -> INVALID_JSON. Nesting deeper than MAX_JSON_DEPTH, a number longer than
    MAX_JSON_NUMBER_CHARS, a string longer than MAX_JSON_STRING_CHARS, more than MAX_JSON_VALUES
    values -> LIMIT_EXCEEDED, found by a linear scan before the parser runs (so the parser never
    recurses deeper than the limit nor builds more than that many values).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(
            ErrorCode.INVALID_JSON,
            f"{where}: not valid UTF-8 ({exc.reason} at byte {exc.start})",
        ) from None
    long_strings: list[int] = []

    def blank(m: re.Match[str]) -> str:
        if m.end() - m.start() - 2 > MAX_JSON_STRING_CHARS:
            try:
                n = len(json.loads(m.group()))
            except ValueError:
                n = m.end() - m.start() - 2
            if n > MAX_JSON_STRING_CHARS:
                long_strings.append(n)
        return '""'

    skeleton = _STRING.sub(blank, text)
    if long_strings:
        raise FormatError(
            ErrorCode.LIMIT_EXCEEDED,
            f"{where}: a JSON string of {long_strings[0]} characters exceeds the "
            f"{MAX_JSON_STRING_CHARS}-character limit",
        )
    raw = np.frombuffer(skeleton.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    if raw.size:
        depth = int(np.cumsum(_OPEN[raw], dtype=np.int64).max())
        if depth > MAX_JSON_DEPTH:
            raise FormatError(
                ErrorCode.LIMIT_EXCEEDED,
                f"{where}: JSON nested {depth} deep exceeds the depth limit {MAX_JSON_DEPTH}",
            )
    # Values: the root, plus per non-empty array or object one more than its commas (strings are
    # blanked, so every comma left is structural). Counted before anything is built.
    values = 1 + skeleton.count(",") + len(_NON_EMPTY.findall(skeleton))
    if values > MAX_JSON_VALUES:
        raise FormatError(
            ErrorCode.LIMIT_EXCEEDED,
            f"{where}: the JSON document holds {values} values, over the limit of "
            f"{MAX_JSON_VALUES} (MAX_JSON_VALUES)",
        )
    long_number = _LONG_NUMBER.search(skeleton)
    if long_number:
        raise FormatError(
            ErrorCode.LIMIT_EXCEEDED,
            f"{where}: a JSON number of {len(long_number.group())} characters exceeds the "
            f"{MAX_JSON_NUMBER_CHARS}-character limit",
        )
    try:
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
    except (ValueError, RecursionError) as exc:
        raise FormatError(ErrorCode.INVALID_JSON, f"{where}: not valid JSON: {exc}") from None
    except MemoryError:
        raise FormatError(ErrorCode.LIMIT_EXCEEDED, f"{where}: JSON too large to parse") from None


# --- safetensors ----------------------------------------------------------------------------------


def is_json_int(value: object) -> bool:
    """A JSON integer: not a bool, not a number with a fraction or exponent (1.0, 1e2)."""
    return type(value) is int


def parse_header(data: bytes, path: str | Path) -> tuple[dict[str, dict], dict[str, str], int]:
    """Validate the layout of a whole safetensors file held in ``data``.

    Returns (tensor entries by name, metadata, buffer start). Raises FormatError naming ``path``
    and the rule broken (INVALID_SAFETENSORS unless a limit, JSON or dtype rule says otherwise).
    """
    where = str(path)
    if len(data) < 8:
        raise SafetensorsError(f"{where}: {len(data)} bytes is too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES:
        raise SafetensorsError(
            f"{where}: header length {n} exceeds the {MAX_HEADER_BYTES}-byte limit",
            ErrorCode.LIMIT_EXCEEDED,
        )
    if 8 + n > len(data):
        raise SafetensorsError(
            f"{where}: header length {n} runs past the end of the {len(data)}-byte file "
            "(truncated file?)"
        )
    raw = data[8 : 8 + n]
    body = raw.rstrip(b" ")
    if not (body.startswith(b"{") and body.endswith(b"}")):
        raise SafetensorsError(
            f"{where}: the header must be a JSON object starting with '{{' at its first byte, "
            "padded at the end with spaces (0x20) only"
        )
    header = loads_strict(body, f"{where} (safetensors header)")
    if not isinstance(header, dict):
        raise SafetensorsError(f"{where}: header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SafetensorsError(f"{where}: __metadata__ must map strings to strings")
    if len(header) > MAX_TENSORS:
        raise SafetensorsError(
            f"{where}: {len(header)} tensors exceed the limit of {MAX_TENSORS}",
            ErrorCode.LIMIT_EXCEEDED,
        )
    start = 8 + n
    buffer_len = len(data) - start
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        tw = f"{where}: tensor {name!r}"
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise SafetensorsError(f"{tw}: entry must have exactly dtype, shape, data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in DTYPE_SIZES:
            raise SafetensorsError(f"{tw}: dtype {dtype!r} is not a safetensors dtype")
        if not isinstance(shape, list) or not all(is_json_int(d) and d >= 0 for d in shape):
            raise SafetensorsError(f"{tw}: shape {shape!r} must be a list of non-negative integers")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(is_json_int(o) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]
        ):
            raise SafetensorsError(
                f"{tw}: data_offsets {offsets!r} must be two integers [begin, end], "
                "0 <= begin <= end"
            )
        nbytes = DTYPE_SIZES[dtype]
        for dim in shape:
            nbytes *= dim
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


def tensor_array(
    data: bytes,
    start: int,
    header: Mapping[str, dict],
    name: str,
    where: str,
    allowed: tuple[str, ...] = FP32_WEIGHT_DTYPES,
) -> np.ndarray:
    """Tensor ``name`` of a file checked by :func:`parse_header`, in its stored dtype (float32,
    float16 or int8) as a read-only array.

    Absent -> MISSING_TENSOR; a dtype outside ``allowed`` (the referencing slot's, F32 for a
    golden vector or a scale) -> UNSUPPORTED_DTYPE; a float NaN or infinity ->
    NON_FINITE_WEIGHT. ``where`` says who references it (node and slot, or golden).
    """
    entry = header.get(name)
    if entry is None:
        raise FormatError(
            ErrorCode.MISSING_TENSOR, f"{where} names tensor {name!r}, not in the weights file"
        )
    dtype = entry["dtype"]
    if dtype not in allowed:
        raise FormatError(
            ErrorCode.UNSUPPORTED_DTYPE,
            f"{where}: tensor {name!r} has dtype {dtype}; this reference takes "
            f"{' or '.join(allowed)}",
        )
    np_dtype = np.dtype(_NUMPY[dtype])
    begin, end = entry["data_offsets"]
    arr = np.frombuffer(
        data, dtype=np_dtype, count=(end - begin) // np_dtype.itemsize, offset=start + begin
    ).reshape(entry["shape"])
    if np_dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            idx = [int(i) for i in np.argwhere(bad)[0]]
            raise FormatError(
                ErrorCode.NON_FINITE_WEIGHT,
                f"{where}: tensor {name!r} holds {int(bad.sum())} NaN/Inf value(s), first at "
                f"index {idx} ({arr[tuple(idx)]})",
            )
    return arr.astype(np.float32) if dtype == "F32" else arr


def read_safetensors(
    path: str | Path, *, data: bytes | None = None
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read and validate a safetensors file; returns (arrays by name in their stored dtype:
    float32, float16 or int8; metadata).

    Every tensor is decoded, so every tensor must have a dtype of WEIGHT_DTYPES
    (UNSUPPORTED_DTYPE otherwise); NaN and infinity are returned as they are.
    """
    if data is None:
        data = read_regular_file(path, 2**62, str(path))
    header, metadata, start = parse_header(data, path)
    tensors: dict[str, np.ndarray] = {}
    for name in sorted(header):
        entry = header[name]
        np_dtype = _NUMPY.get(entry["dtype"])
        if np_dtype is None:
            raise SafetensorsError(
                f"{path}: tensor {name!r} has dtype {entry['dtype']}, which this reader does not "
                f"support (supported: {', '.join(sorted(_NUMPY))})",
                ErrorCode.UNSUPPORTED_DTYPE,
            )
        begin, end = entry["data_offsets"]
        width = np.dtype(np_dtype).itemsize
        arr = np.frombuffer(
            data, dtype=np_dtype, count=(end - begin) // width, offset=start + begin
        )
        tensors[name] = arr.reshape(entry["shape"]).copy()
    return tensors, metadata


def encode_safetensors(
    tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None
) -> bytes:
    """Deterministic bytes: tensors sorted by name, little-endian F32 (float16 arrays as F16,
    int8 as I8), compact sorted-key JSON header padded with spaces to a multiple of 8 bytes."""
    header: dict[str, object] = {}
    chunks: list[bytes] = []
    pos = 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        dtype = _DTYPE_OF.get(
            arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        )
        if dtype is None:
            raise ValueError(
                f"tensor {name!r} is {arr.dtype}; writers store float32, float16, int8"
            )
        raw = np.ascontiguousarray(arr, dtype=_NUMPY[dtype]).tobytes()
        header[name] = {
            "dtype": dtype,
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
