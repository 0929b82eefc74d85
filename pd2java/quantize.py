"""Compressed weights: fp16 and symmetric per-output-channel int8 (docs/FORMAT.md, "Compressed
weights"; docs/COMPRESSION.md). NumPy only.

The IR stays float32 everywhere: compression is how the writer stores a weight, and both
readers turn it back into the same float32 values before (NumPy) or while (Java) computing.

- ``F16``: IEEE half; widened to float32 exactly.
- ``I8``: ``q = clip(round(w / scale[o]), -127, 127)`` per output channel ``o`` (axis 0), the
  value ``float32(q) * scale[o]`` (one float32 multiply, the same in both readers). ``scale[o]``
  is ``clip[o] / 127``, where ``clip[o]`` is the channel's largest magnitude (``"max"``) or the
  clipping threshold with the least squared error over the channel's weights (``"mse"``, a grid
  search of fractions of the largest magnitude). A channel of zeros gets scale 1 (every scale is
  > 0, a format rule).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pd2java.errors import UserError

MODES = ("fp32", "fp16", "int8")
CLIPS = ("max", "mse")
_MSE_GRID = np.linspace(0.5, 1.0, 51)  # clip / max|w| tried by "mse"


def dequantize_int8(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The float32 weight of int8 ``q`` with per-output-channel ``scale`` (axis 0)."""
    shape = (-1,) + (1,) * (q.ndim - 1)
    return q.astype(np.float32) * np.asarray(scale, np.float32).reshape(shape)


def quantize_int8(w: np.ndarray, clip: str = "max") -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel int8 of float weight ``w``: (q int8, scale float32 [out])."""
    if clip not in CLIPS:
        raise UserError(f"unknown int8 clipping {clip!r}; choose one of {', '.join(CLIPS)}")
    w = np.asarray(w, np.float32)
    rows = w.reshape(w.shape[0], -1).astype(np.float64)
    peak = np.abs(rows).max(axis=1)
    if clip == "max":
        limit = peak
    else:
        limit = np.empty_like(peak)
        for o, row in enumerate(rows):
            best, best_err = peak[o], np.inf
            for frac in _MSE_GRID:
                c = peak[o] * frac
                if c <= 0:
                    break
                s = c / 127.0
                err = float(np.sum((np.clip(np.round(row / s), -127, 127) * s - row) ** 2))
                if err < best_err:
                    best, best_err = c, err
            limit[o] = best
    scale = np.where(limit > 0, limit / 127.0, 1.0).astype(np.float32)
    shape = (-1,) + (1,) * (w.ndim - 1)
    q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale


@dataclass(frozen=True)
class Encoded:
    """How the writer stores a graph's tensors: each tensor's stored array (float32, float16 or
    int8), the scale tensor of each int8 one, the float32 values the readers will compute with,
    and the tensors left in float32 with the reason."""

    stored: dict[str, np.ndarray]
    scales: dict[str, str]  # int8 tensor -> its scale tensor's name
    values: dict[str, np.ndarray]  # what the readers dequantise to (float32)
    kept_fp32: dict[str, str]  # tensor -> why it stays float32


def scale_name(tensor: str) -> str:
    return f"{tensor}.scale"


def encode(
    tensors: Mapping[str, np.ndarray],
    allowed: Mapping[str, tuple[str, ...]],
    mode: str,
    clip: str = "max",
) -> Encoded:
    """Encode ``tensors`` for ``mode`` (fp32, fp16 or int8). ``allowed`` maps each tensor to the
    dtypes every slot referencing it accepts (the intersection over its uses); a tensor whose
    slots do not all accept the mode's dtype stays float32 (named in ``kept_fp32``)."""
    if mode not in MODES:
        raise UserError(f"unknown weights mode {mode!r}; choose one of {', '.join(MODES)}")
    want = {"fp32": "F32", "fp16": "F16", "int8": "I8"}[mode]
    stored: dict[str, np.ndarray] = {}
    scales: dict[str, str] = {}
    values: dict[str, np.ndarray] = {}
    kept: dict[str, str] = {}
    for name, arr in tensors.items():
        arr = np.asarray(arr, np.float32)
        if want == "F32" or want not in allowed.get(name, ("F32",)):
            if want != "F32":
                kept[name] = "its slot takes float32 only (op table: ParamSpec.dtypes)"
            stored[name] = values[name] = arr
            continue
        if want == "F16":
            half = arr.astype(np.float16)
            if not np.all(np.isfinite(half)):
                kept[name] = "a value overflows float16"
                stored[name] = values[name] = arr
                continue
            stored[name], values[name] = half, half.astype(np.float32)
            continue
        q, scale = quantize_int8(arr, clip)
        sname = scale_name(name)
        if sname in tensors:
            raise UserError(f"tensor name {sname!r} is taken; it is needed for {name!r}'s scale")
        stored[name], stored[sname], scales[name] = q, scale, sname
        values[name] = dequantize_int8(q, scale)
    return Encoded(stored, scales, values, kept)
