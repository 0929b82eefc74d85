"""Shared comparison helper for every backend (torch, NumPy reference, Java).

Check shape and dtype, then values, then argmax; on failure report the worst
element so a reader sees at once where and by how much two backends disagree.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _as_numpy(value: Any) -> np.ndarray:
    # torch tensors are converted without importing torch here (helpers must stay cheap).
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def assert_close(
    got: Any,
    expected: Any,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    what: str = "",
) -> None:
    """Assert ``|got - expected| <= atol + rtol * |expected|`` element by element.

    Checks, in order: shape, dtype, finiteness, values, and (for 2-D (N, K) outputs with K > 1)
    the argmax of every row. The message names ``what``, the worst element's index, both values,
    its error and the allowed error.
    """
    label = f"{what}: " if what else ""
    g = _as_numpy(got)
    e = _as_numpy(expected)
    if g.shape != e.shape:
        raise AssertionError(f"{label}shape {g.shape} != expected {e.shape}")
    if g.dtype != e.dtype:
        raise AssertionError(f"{label}dtype {g.dtype} != expected {e.dtype}")
    if g.size == 0:
        return
    if not np.all(np.isfinite(g)):
        bad = np.argwhere(~np.isfinite(g))[0]
        raise AssertionError(f"{label}non-finite value {g[tuple(bad)]} at index {tuple(bad)}")
    g64 = g.astype(np.float64)
    e64 = e.astype(np.float64)
    err = np.abs(g64 - e64)
    allowed = atol + rtol * np.abs(e64)
    excess = err - allowed
    worst = np.unravel_index(int(np.argmax(excess)), excess.shape)
    if excess[worst] > 0:
        n_bad = int(np.count_nonzero(excess > 0))
        raise AssertionError(
            f"{label}{n_bad} of {g.size} elements differ beyond atol={atol} rtol={rtol}; worst at "
            f"index {tuple(int(i) for i in worst)}: got {g64[worst]!r}, expected {e64[worst]!r}, "
            f"error {err[worst]:.3e} > allowed {allowed[worst]:.3e} "
            f"(max abs error {err.max():.3e})"
        )
    if g.ndim == 2 and g.shape[1] > 1:
        ga = np.argmax(g64, axis=1)
        ea = np.argmax(e64, axis=1)
        # A near-tie may flip within tolerance; only a flip between clearly separated scores fails.
        for row in np.nonzero(ga != ea)[0]:
            top = e64[row, ea[row]]
            other = e64[row, ga[row]]
            if top - other > atol + rtol * abs(top):
                raise AssertionError(
                    f"{label}argmax differs at row {int(row)}: got class {int(ga[row])}, "
                    f"expected {int(ea[row])} (expected scores {top!r} vs {other!r})"
                )
