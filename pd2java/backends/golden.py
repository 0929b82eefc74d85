"""The golden inputs every export embeds: fixed, seeded, independent of the training package.

``golden_inputs(shape, count=3)`` returns ``(count, *shape)`` float32 values in [0, 1]:

- for the PRPD image shape (1, 60, 120) (docs/PRPD.md section 1): PRPD-like images built here from
  a few pulse clusters, in turn a protrusion pattern (a dense narrow negative-half cluster near
  267 deg plus a sparser, larger positive one near 90 deg), a void pattern (two mirrored broad
  lobes near 35 and 215 deg) and a floating-electrode pattern (equally spaced discharges on the
  rising flanks at nearly constant large amplitude), each over the measured background band
  (amplitude about 0.31 at every phase). Sample ``i`` draws its pulses from
  ``numpy.random.default_rng(SEED + i)``; the counts are histogrammed into 60 amplitude x 120
  phase bins and scaled ``log1p(count) / max(log1p(count))``, the image convention of PRPD.md;
- for any other shape: ``numpy.random.default_rng(SEED).random((count, *shape), float32)``.

Nothing here depends on ``pd2java.training``: changing the synthetic data generator never changes
an export's bytes. Changing this module does, on purpose (the golden files in tests/golden and any
byte comparison of exports must then be regenerated).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

GOLDEN_COUNT = 3
SEED = 20240601
PRPD_SHAPE = (1, 60, 120)
_AMP_BINS, _PHASE_BINS = PRPD_SHAPE[1], PRPD_SHAPE[2]


def _pulses(kind: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(phase in degrees, amplitude as a fraction of full scale) of one pattern's pulses."""
    phases: list[np.ndarray] = [rng.uniform(0.0, 360.0, 600)]  # background band, every class
    amps: list[np.ndarray] = [rng.normal(0.31, 0.04, 600)]
    if kind == 0:  # protrusion: negative half dense and narrow, positive half sparse and larger
        phases += [rng.normal(267.0, 15.0, 3000), rng.normal(90.0, 15.0, 800)]
        amps += [rng.normal(0.50, 0.06, 3000), rng.normal(0.70, 0.08, 800)]
    elif kind == 1:  # void: two mirrored broad lobes
        for centre in (35.0, 215.0):
            phases.append(rng.normal(centre, 25.0, 1500))
            amps.append(np.abs(rng.normal(0.45, 0.15, 1500)))
    else:  # floating electrode: equally spaced in voltage on the rising flanks, constant amplitude
        steps = np.degrees(np.arcsin(np.array([0.2, 0.6, 1.0])))
        for half in (0.0, 180.0):
            centre = np.repeat(steps + half, 200)
            phases.append(centre + rng.normal(0.0, 3.0, centre.size))
            amps.append(rng.normal(0.80, 0.03, centre.size))
    phase = np.mod(np.concatenate(phases), 360.0)
    amp = np.clip(np.concatenate(amps), 0.0, np.nextafter(1.0, 0.0))  # clip at the top bin
    return phase, amp


def prpd_image(kind: int, seed: int) -> np.ndarray:
    """One (60, 120) PRPD-like image of pattern ``kind`` (0, 1 or 2), values in [0, 1]."""
    phase, amp = _pulses(kind % 3, np.random.default_rng(seed))
    counts, _, _ = np.histogram2d(
        amp, phase, bins=(_AMP_BINS, _PHASE_BINS), range=((0.0, 1.0), (0.0, 360.0))
    )
    scaled = np.log1p(counts)
    return (scaled / scaled.max()).astype(np.float32)


def golden_inputs(input_shape: Sequence[int], count: int = GOLDEN_COUNT) -> np.ndarray:
    """``count`` deterministic golden inputs for a per-sample ``input_shape`` (module docstring)."""
    shape = tuple(int(d) for d in input_shape)
    if shape == PRPD_SHAPE:
        images = [prpd_image(i % 3, SEED + i) for i in range(count)]
        return np.ascontiguousarray(np.stack(images)[:, None], dtype=np.float32)
    rng = np.random.default_rng(SEED)
    return rng.random((count, *shape), dtype=np.float32)
