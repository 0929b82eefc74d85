"""PRPS -> PRPD: turn per-cycle peak amplitudes into the pd2java PRPD image.

Many monitors store PRPS: one row per AC cycle, one column per phase window (window w covers
phases [w, w + 1) * 360 / W deg), holding the peak amplitude seen in that window, 0 when nothing
was detected. A common GIS format is 3600 x 128 uint8. The PRPD histogram counts, per phase
column, the non-zero entries in each of 60 amplitude bins; it is then log-normalised.

When the number of windows W is not 120, each window's counts are shared among the 3-degree
phase bins it overlaps, in proportion to the overlap. This keeps the total count and avoids the
empty or doubled stripes that nearest-bin mapping produces (128 windows onto 120 bins would double
every 16th bin).
"""

from __future__ import annotations

import numpy as np

from pd2java.errors import UserError
from pd2java.training.data.convention import AMPLITUDE_BINS, PHASE_BINS, normalize_counts


def phase_overlap(windows: int, bins: int = PHASE_BINS) -> np.ndarray:
    """(windows, bins) matrix: the share of window w that falls in phase bin b (rows sum to 1)."""
    edges_w = np.arange(windows + 1) / windows
    edges_b = np.arange(bins + 1) / bins
    lo = np.maximum(edges_w[:-1, None], edges_b[None, :-1])
    hi = np.minimum(edges_w[1:, None], edges_b[None, 1:])
    return np.clip(hi - lo, 0.0, None) * windows


def window_shares(windows: int) -> tuple[np.ndarray, np.ndarray]:
    """For each phase bin, the windows that overlap it and their shares: ``(sources, shares)``,
    both (120, k) with k the most windows any bin overlaps, windows in increasing order, unused
    slots window 0 with share 0.0 (adding 0.0 changes no count)."""
    overlap = phase_overlap(windows)
    k = int((overlap > 0).sum(axis=0).max())
    sources = np.zeros((PHASE_BINS, k), dtype=np.int64)
    shares = np.zeros((PHASE_BINS, k), dtype=np.float64)
    for b in range(PHASE_BINS):
        ws = np.flatnonzero(overlap[:, b] > 0)
        sources[b, : ws.size] = ws
        shares[b, : ws.size] = overlap[ws, b]
    return sources, shares


def share_windows(per_window: np.ndarray) -> np.ndarray:
    """(60, W) per-window counts -> (60, 120) per-bin counts, shared by ``phase_overlap``.

    The sum ``per_window @ phase_overlap(W)`` (equal up to the last bit) in a fixed order: bin
    b's count is ``((0 + c[w0] * s0) + c[w1] * s1) + ...`` over its windows in increasing order,
    one rounding per multiply and per add. A matrix product leaves the order (and fused
    multiply-adds) to the BLAS build, so its last bit varies between machines; this order is
    the one the Java runtime's ``Prpd.fromPrps`` repeats, bit for bit.
    """
    sources, shares = window_shares(per_window.shape[1])
    counts = np.zeros((per_window.shape[0], PHASE_BINS), dtype=np.float64)
    for j in range(sources.shape[1]):
        counts = counts + per_window[:, sources[:, j]] * shares[:, j]
    return counts


def default_amplitude_max(prps: np.ndarray) -> float:
    """Full scale when the caller gives none, chosen from the data type, never per file (so all
    files of one monitor share one scale): 255 for 8-bit and 65535 for 16-bit integer types;
    1.0 for values in [0, 1]; for other whole-number data (CSV, int32/int64) 255 if the maximum
    fits in 8 bits, else 65535 if it fits in 16 bits. Anything else needs ``amplitude_max``."""
    if prps.dtype.kind in "iu" and prps.dtype.itemsize <= 2:
        return float(np.iinfo(prps.dtype).max)
    peak = float(prps.max()) if prps.size else 0.0
    if peak <= 1.0:
        return 1.0
    whole = prps.dtype.kind in "iub" or bool(np.all(prps == np.round(prps)))
    if whole and peak <= 255:
        return 255.0
    if whole and peak <= 65535:
        return 65535.0
    raise UserError(
        f"PRPS values go up to {peak:g}, so the full scale cannot be inferred (8-bit: <= 255, "
        "16-bit: <= 65535, normalised: <= 1); give amplitude_max (--amplitude-max)"
    )


def prps_counts(prps: np.ndarray, *, amplitude_max: float | None = None) -> np.ndarray:
    """The (60, 120) PRPD count histogram (float64; fractional where windows straddle bins)."""
    a = np.asarray(prps)
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise UserError(f"PRPS must be a 2-D (cycles, phase windows) matrix, got shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise UserError(f"PRPS dtype {a.dtype} is not a real number type")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a))[0]
        raise UserError(f"PRPS has NaN or infinity at (cycle {bad[0]}, window {bad[1]})")
    if a.size and a.min() < 0:
        bad = np.unravel_index(int(np.argmin(a)), a.shape)
        raise UserError(
            f"PRPS has a negative amplitude {a.min():g} at (cycle {bad[0]}, window {bad[1]}); "
            "PRPS holds peak magnitudes >= 0"
        )
    if a.dtype.kind == "b":
        a = a.astype(np.uint8)
    full = default_amplitude_max(a) if amplitude_max is None else float(amplitude_max)
    if not np.isfinite(full) or full <= 0:
        raise UserError(f"amplitude_max must be a positive number, got {amplitude_max!r}")
    windows = a.shape[1]
    rows, cols = np.nonzero(a)
    values = a[rows, cols].astype(np.float64)
    # min(.., 1) first: a huge value times 60 would not fit an int64 (full scale saturates anyway).
    abin = np.minimum(
        (np.minimum(values / full, 1.0) * AMPLITUDE_BINS).astype(np.int64), AMPLITUDE_BINS - 1
    )
    per_window = np.bincount(abin * windows + cols, minlength=AMPLITUDE_BINS * windows)
    per_window = per_window.reshape(AMPLITUDE_BINS, windows).astype(np.float64)
    if windows == PHASE_BINS:
        return per_window
    return share_windows(per_window)


def prps_to_prpd(prps: np.ndarray, *, amplitude_max: float | None = None) -> np.ndarray:
    """Convert a (cycles, windows) PRPS matrix of peak amplitudes to a (60, 120) float32 PRPD
    image (log-normalised). ``amplitude_max`` is full scale (the top bin); by default it follows
    from the data type (255 for 8-bit data, see ``default_amplitude_max``). Values
    at or above full scale land in the top bin; zeros are "no pulse" and are not counted."""
    return normalize_counts(prps_counts(prps, amplitude_max=amplitude_max))
