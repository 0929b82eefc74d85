"""Test vectors for the Java ``Prpd`` class, computed by the Python PRPD preprocessing.

``python -m pd2java.generate`` writes them to
``java-harness/src/test/resources/org/pd2java/runtime/prpd_vectors.json``; ``PrpdTest`` (JUnit)
feeds each case's inputs to ``Prpd`` and compares its image with Python's, bit for bit (or within
the bound docs/PRPD.md states), and its pulse total. Every input is seeded, so the file only
changes when the Python computation does, and ``--check`` then reports it stale.

Arrays are stored as base64 of little-endian bytes (``u1`` uint8, ``i4`` int32, ``f4``
float32, ``f8`` float64), dense, or sparse (``index``: int32 positions of the non-zero values) when that is
smaller, which keeps the file under 300 kB. ``counts_sha256`` is the SHA-256 of the count
histogram before normalisation (little-endian float64), so the test also sees a difference in
the last bit of a shared count that the image would round away.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

RESOURCE = Path("src/test/resources/org/pd2java/runtime/prpd_vectors.json")


def encode(values: np.ndarray, dtype: str) -> dict[str, Any]:
    """``values`` (flattened) as ``{"dtype", "length", ["index",] "data"}``."""
    flat = np.ascontiguousarray(np.asarray(values).reshape(-1), dtype=f"<{dtype}")
    out: dict[str, Any] = {"dtype": dtype, "length": int(flat.size)}
    nonzero = np.flatnonzero(flat.view(f"<u{flat.itemsize}"))  # bits, so -0.0 stays
    if nonzero.size * (4 + flat.itemsize) < flat.nbytes:
        out["index"] = base64.b64encode(nonzero.astype("<i4").tobytes()).decode("ascii")
        flat = flat[nonzero]
    out["data"] = base64.b64encode(flat.tobytes()).decode("ascii")
    return out


def decode(entry: dict[str, Any]) -> np.ndarray:
    """The inverse of :func:`encode` (used by the tests)."""
    dtype = np.dtype(f"<{entry['dtype']}")
    data = np.frombuffer(base64.b64decode(entry["data"]), dtype=dtype)
    if "index" not in entry:
        return data.copy()
    out = np.zeros(entry["length"], dtype=dtype)
    out[np.frombuffer(base64.b64decode(entry["index"]), dtype="<i4")] = data
    return out


def _sha256(counts: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(counts, dtype="<f8").tobytes()).hexdigest()


def _result(counts: np.ndarray, pulses: float) -> dict[str, Any]:
    from pd2java.training.data.convention import MIN_PULSES, has_activity, normalize_counts

    image = normalize_counts(counts)
    active = has_activity(counts)
    if active != (pulses >= MIN_PULSES - 0.5):  # Java applies the floor to ``pulses``
        raise AssertionError(f"has_activity {active} disagrees with the pulse total {pulses}")
    return {
        "pulses": float(pulses),
        "has_activity": active,
        "counts_sha256": _sha256(counts),
        "image": encode(image, "f4"),
    }


def _counts_case(name: str, counts: np.ndarray) -> dict[str, Any]:
    kind = "counts_int" if counts.dtype.kind in "iu" else "counts_double"
    dtype = "i4" if kind == "counts_int" else "f8"
    case = {"name": name, "kind": kind, "counts": encode(counts, dtype)}
    return case | _result(counts, float(np.sum(counts)))


def _pulses_case(name: str, phase: np.ndarray, amp: np.ndarray, full: float) -> dict[str, Any]:
    from pd2java.training.data.convention import pulses_to_counts

    counts = pulses_to_counts(phase, amp, full)
    case = {
        "name": name,
        "kind": "pulses",
        "full_scale": full,
        "phase_deg": encode(phase, "f8"),
        "amplitude": encode(amp, "f8"),
    }
    return case | _result(counts, float(counts.sum()))


def _prps_case(name: str, prps: np.ndarray, full: float | None) -> dict[str, Any]:
    """Python converts ``prps`` in its own dtype (uint8, uint16, float32); Java gets it as float
    (uint8 is stored as such, the rest as float32, exact for uint16)."""
    from pd2java.training.data.prps import default_amplitude_max, prps_counts

    counts = prps_counts(prps, amplitude_max=full)
    case = {
        "name": name,
        "kind": "prps",
        "full_scale": default_amplitude_max(prps) if full is None else full,
        "cycles": int(prps.shape[0]),
        "windows": int(prps.shape[1]),
        "prps": encode(prps, "u1") if prps.dtype == np.uint8 else encode(prps, "f4"),
    }
    return case | _result(counts, float(np.count_nonzero(prps)))


def _sparse_ints(rng: np.random.Generator, density: float, high: int) -> np.ndarray:
    keep = rng.random((60, 120)) < density
    return (rng.integers(1, high, (60, 120), endpoint=True) * keep).astype(np.int64)


def _prps(rng: np.random.Generator, cycles: int, windows: int, density: float) -> np.ndarray:
    return rng.random((cycles, windows)) * (rng.random((cycles, windows)) < density)


def cases() -> list[dict[str, Any]]:
    """Every case, in a fixed order (each from its own seeded generator)."""
    from pd2java.training.data.synth import image_rng, record_pulses, synthesize_counts

    out = []
    rng = np.random.default_rng(101)
    out.append(_counts_case("counts_random", _sparse_ints(rng, 0.15, 200)))
    huge = _sparse_ints(np.random.default_rng(102), 0.08, 1_000_000_000)
    huge[0, 0], huge[59, 119], huge[30, 7] = 2**31 - 1, 1, 1_000_000_000
    out.append(_counts_case("counts_huge", huge))
    single = np.zeros((60, 120), dtype=np.int64)
    single[17, 33] = 1
    out.append(_counts_case("counts_single_pulse", single))
    out.append(_counts_case("counts_all_zero", np.zeros((60, 120), dtype=np.int64)))
    stray = np.zeros((60, 120), dtype=np.int64)
    stray[5, 10], stray[40, 90], stray[59, 0] = 1, 1, 1  # 3 stray pulses: below the floor
    out.append(_counts_case("counts_three_stray", stray))
    at_floor = np.zeros((60, 120), dtype=np.int64)
    at_floor[20, 60], at_floor[21, 61] = 6, 4  # exactly MIN_PULSES
    out.append(_counts_case("counts_at_floor", at_floor))
    out.append(_counts_case("counts_synth_void", synthesize_counts("gis", "void", 0, seed=7)))
    rng = np.random.default_rng(103)
    frac = rng.gamma(0.5, 40.0, (60, 120)) * (rng.random((60, 120)) < 0.12)
    frac[1, 1], frac[2, 2], frac[3, 3] = 3.5e9, 1e-300, 0.5
    out.append(_counts_case("counts_fractional", frac))

    rng = np.random.default_rng(104)
    n = 600
    phase = rng.uniform(-1000.0, 1000.0, n)
    amp = rng.uniform(-0.2, 1.5, n) * 250.0
    edges = [
        (-0.0, 10.0), (0.0, 0.0), (3.0, 250.0), (359.9999999999, 1e-9), (360.0, 249.99999),
        (720.0, 1e300), (-360.0, -5.0), (-1e-20, 100.0), (1e15, 4.17), (-1e15, 5e-324),
        (2.9999999999999996, 125.0), (-3.0, 250.00000000000003), (1e300, 60.0),
    ]  # fmt: skip
    phase = np.concatenate([phase, [p for p, _ in edges]])
    amp = np.concatenate([amp, [a for _, a in edges]])
    out.append(_pulses_case("pulses_edges", phase, amp, 250.0))
    rec_phase, rec_amp = record_pulses(
        "gis", "protrusion_conductor", image_rng(5, "gis", 0, 0), 0.6
    )
    out.append(_pulses_case("pulses_synth", rec_phase[:800], rec_amp[:800] * 3.3, 3.3))
    out.append(_pulses_case("pulses_none", np.zeros(0), np.zeros(0), 1.0))

    rng = np.random.default_rng(105)
    u8 = lambda c, w, d: (_prps(rng, c, w, d) * 256).astype(np.uint8)
    out.append(_prps_case("prps_w120_uint8", u8(40, 120, 0.2), None))
    w128 = u8(30, 128, 0.2)
    w128[3, :] = 255
    out.append(_prps_case("prps_w128_uint8", w128, None))
    u16 = (_prps(rng, 30, 100, 0.25) * 65536).astype(np.uint16)
    out.append(_prps_case("prps_w100_uint16", u16, None))
    f32 = (_prps(rng, 30, 128, 0.25) * 1.3).astype(np.float32)  # above full scale saturates
    out.append(_prps_case("prps_w128_float", f32, 1.0))
    f32_scaled = (_prps(rng, 30, 90, 0.3) * 900.0).astype(np.float32)
    out.append(_prps_case("prps_w90_float_mv", f32_scaled, 750.0))
    # Dense, in a few amplitude bins, 3 windows per phase bin: per-window counts of ~20 times
    # fractional shares, where the order of the shared sum shows in the last bit of ~400 counts.
    dense = rng.integers(100, 160, (60, 250)).astype(np.uint8) * (rng.random((60, 250)) < 0.9)
    out.append(_prps_case("prps_w250_dense_uint8", dense.astype(np.uint8), 255.0))
    ten = np.zeros((20, 128), dtype=np.uint8)
    ten[np.arange(10), np.arange(10) * 11 + 3] = 200  # 10 pulses, each shared between 2 bins
    out.append(_prps_case("prps_w128_ten_pulses", ten, None))
    few = np.zeros((20, 128), dtype=np.uint8)
    few[[1, 4, 9], [7, 64, 100]] = [30, 90, 255]
    out.append(_prps_case("prps_w128_three_pulses", few, None))
    return out


def render() -> str:
    """The vectors file's text."""
    from pd2java.training.data import convention

    doc = {
        "generated": "by python -m pd2java.generate (pd2java/backends/java/prpd_vectors.py); "
        "do not edit",
        "amplitude_bins": convention.AMPLITUDE_BINS,
        "phase_bins": convention.PHASE_BINS,
        "min_pulses": convention.MIN_PULSES,
        "cases": cases(),
    }
    return json.dumps(doc, indent=1) + "\n"
