"""Synthetic PRPD images from partial-discharge physics (docs/PRPD.md section 3).

Each defect class is a pulse process: it emits pulses (phase in degrees, amplitude as a fraction
of full scale) over a number of AC cycles. The pulses of one record are then disturbed by the
nuisances of a real monitor (docs/PRPD.md, "Domain randomisation": record length, phase offset
and cross-phase coupling, gain and saturation, trigger threshold, a background band at a random
level, impulses, converter combs, phase-locked sinusoids, corona on nearby equipment, a second
weaker defect, dead time, lost pulses, ADC quantisation), binned into the 60 x 120 histogram and
log-normalised. ``difficulty`` in [0, 1] scales the nuisances: 0 gives clean textbook patterns,
1 the worst this generator produces.

``randomization="classic"`` (an internal benchmark switch, not a user knob) keeps the first
generator's narrower nuisances bit for bit, so a benchmark can compare models pretrained on
either; ``"wide"`` is the default. Both give the same records at difficulty 0.

Determinism: every image draws from its own ``np.random.Generator`` seeded with
(seed, product, class, index), so asking for more images per class never changes the earlier ones
and one class's images never depend on another's.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from pd2java.errors import UserError
from pd2java.training.data.convention import (
    AMPLITUDE_BINS,
    PHASE_BINS,
    PRODUCTS,
    Dataset,
    normalize_counts,
    pulses_to_counts,
)

# Chosen so that the task is real: a LeNet-style CNN (the PDModel layout, Adam 1e-3, 12 epochs)
# trained on 80 images per class (seed 10) scored 95.1% on 100 per class from another seed (100),
# its errors in the pairs that overlap by design: free particle vs noise, void vs surface, particle
# and noise, and a few protrusions moved by a cross-phase offset. benchmarks/bench_train.py has the
# full table for both zoo models.
DEFAULT_DIFFICULTY = 0.6

# A pulse record: phases in degrees (any real value, wrapped when binned) and amplitudes as a
# fraction of full scale (>= 1 saturates into the top bin, <= 0 is "not detected").
Pulses = tuple[np.ndarray, np.ndarray]
_EMPTY: Pulses = (np.zeros(0), np.zeros(0))

_DEG = np.pi / 180.0


def _cat(*records: Pulses) -> Pulses:
    return (
        np.concatenate([r[0] for r in records]),
        np.concatenate([r[1] for r in records]),
    )


def _truncnorm(
    rng: np.random.Generator, mean: float, sd: float, lo: float, hi: float, n: int
) -> np.ndarray:
    """``n`` draws of N(mean, sd) restricted to [lo, hi] (resampling, no scipy needed)."""
    out = rng.normal(mean, sd, n)
    bad = (out < lo) | (out > hi)
    for _ in range(8):  # the windows hold > 95% of the mass, so this converges at once
        k = int(bad.sum())
        if k == 0:
            break
        out[bad] = rng.normal(mean, sd, k)
        bad = (out < lo) | (out > hi)
    return np.clip(out, lo, hi)


def _phase_sampler(exponent: float, floor: float) -> np.ndarray:
    """Cumulative distribution over 1-degree steps of ``floor + |sin(phase)|**exponent``."""
    grid = (np.arange(360) + 0.5) * _DEG
    density = floor + np.abs(np.sin(grid)) ** exponent
    cdf = np.cumsum(density)
    return cdf / cdf[-1]


_PARTICLE_CDF_GIS = _phase_sampler(0.5, 0.3)
_PARTICLE_CDF_OIL = _phase_sampler(2.0, 0.3)


def _sample_phase(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    whole = np.searchsorted(cdf, rng.random(n), side="right")
    return np.minimum(whole, 359) + rng.random(n)


# ---------------------------------------------------------------------------------------------
# Defect pulse processes. Each takes (rng, n_cycles) and returns the pulses of one record.
# ---------------------------------------------------------------------------------------------


def protrusion(rng: np.random.Generator, n_cycles: int, *, shift: float = 0.0) -> Pulses:
    """Corona at a sharp point: a dense, narrow negative cluster near 267 deg, sometimes a sparse
    positive one near 90 deg with larger pulses. ``shift=180`` gives the enclosure protrusion
    (the point is on the grounded side, so the polarities swap)."""
    rate = rng.uniform(2.0, 30.0)
    n_neg = int(rng.poisson(rate * n_cycles))
    neg_phase = _truncnorm(rng, rng.uniform(262.0, 270.0), rng.uniform(12.0, 20.0), 220, 310, n_neg)
    neg_amp = rng.normal(rng.uniform(0.46, 0.54), rng.uniform(0.045, 0.065), n_neg)
    records = [(neg_phase, neg_amp)]
    if rng.random() < 0.4:  # measured: positive pulses in ~40% of records, 2-4x fewer
        n_pos = int(rng.poisson(rate * rng.uniform(0.25, 0.5) * n_cycles))
        pos_phase = _truncnorm(rng, 90.0, rng.uniform(12.0, 18.0), 55, 125, n_pos)
        pos_amp = np.exp(rng.normal(math.log(rng.uniform(0.65, 0.8)), 0.08, n_pos))
        records.append((pos_phase, pos_amp))
    phase, amp = _cat(*records)
    return phase + shift, amp


def free_particle(rng: np.random.Generator, n_cycles: int, *, oil: bool = False) -> Pulses:
    """A bouncing particle (or a bubble in oil): bursts of activity separated by quiet spells,
    pulses anywhere in the cycle but denser near the voltage peaks, amplitudes very scattered."""
    pairs = n_cycles // 10 + 2  # each on+off pair lasts >= 10 cycles, so this is enough
    on = rng.integers(5, 51, pairs)
    off = rng.integers(5, 101, pairs)
    starts = np.cumsum(on + off) - on - off + rng.integers(0, 100)  # random start in a quiet run
    ends = np.minimum(starts + on, n_cycles)
    active = np.clip(ends - np.clip(starts, 0, None), 0, None)
    runs = active > 0
    active = active[runs]
    per_cycle = rng.uniform(0.3, 3.0)
    counts = rng.poisson(per_cycle * active)
    run_gain = np.repeat(np.exp(rng.normal(0.0, 0.3, active.size)), counts)
    n = int(counts.sum())
    phase = _sample_phase(rng, _PARTICLE_CDF_OIL if oil else _PARTICLE_CDF_GIS, n)
    median = rng.uniform(0.25, 0.45)
    amp = np.exp(rng.normal(math.log(median), rng.uniform(0.45, 0.7), n))
    amp *= 0.5 + 0.5 * np.abs(np.sin(phase * _DEG))
    return phase, amp * run_gain


def floating_electrode(rng: np.random.Generator, n_cycles: int) -> Pulses:
    """A floating metal part: in most half cycles 1-4 discharges on the rising flank, equally
    spaced in voltage (sin(phase_j) = s0 + j*d), with a narrow, high, constant amplitude."""
    s0 = rng.uniform(0.0, 0.4)
    step = rng.uniform(0.2, 0.6)
    fit = int(min(4, math.floor((1.0 - s0) / step) + 1))  # discharges that fit below the peak
    halves = 2 * n_cycles
    k = np.minimum(rng.integers(1, 5, halves), fit)
    firing = rng.random(halves) < rng.uniform(0.7, 1.0)
    j = np.arange(4)
    valid = (j[None, :] < k[:, None]) & firing[:, None]
    half_idx, j_idx = np.nonzero(valid)
    s = np.clip(s0 + j_idx * step + rng.normal(0.0, 0.01, half_idx.size), -1.0, 1.0)
    phase = np.degrees(np.arcsin(s)) + 180.0 * (half_idx % 2)
    cycle = half_idx // 2
    drift = rng.uniform(-10, 10) * np.sin(
        2 * np.pi * rng.uniform(0.3, 1.5) * cycle / max(n_cycles, 1) + rng.uniform(0, 2 * np.pi)
    )
    phase = phase + drift + rng.normal(0.0, rng.uniform(2.0, 4.0), phase.size)
    amp = rng.normal(rng.uniform(0.65, 0.95), rng.uniform(0.02, 0.05), phase.size)
    return phase, amp


def _cavity_half_cycles(
    rng: np.random.Generator,
    halves: int,
    inception: float,
    residual: float,
    lag_mean_deg: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Capacitive cavity model on one rising flank, for many half cycles at once.

    Applied voltage sin(theta) (peak 1), theta from -90 to 270 deg; cavity voltage
    ``sin(theta) - q`` where q is the charge left by earlier discharges. A discharge becomes
    possible when the cavity voltage exceeds ``inception``; it fires after an exponential time
    lag (if the voltage is still above inception then) and resets the cavity to ``residual``.
    The amplitude is the charge moved, i.e. the cavity overvoltage at that moment. Returns
    (half-cycle index, theta in degrees, charge) for every discharge.
    """
    # After the previous half's discharges the cavity sits just below -residual at the trough.
    q = -1.0 + residual + rng.uniform(0.0, 0.15, halves)
    theta = np.full(halves, -90.0)
    alive = np.ones(halves, dtype=bool)
    out_h: list[np.ndarray] = []
    out_t: list[np.ndarray] = []
    out_c: list[np.ndarray] = []
    max_steps = math.ceil(2.2 / max(inception - residual, 0.05)) + 1
    for _ in range(max_steps):
        target = q + inception
        alive &= target <= 1.0  # inception no longer reachable in this half cycle
        alive &= theta <= 90.0  # voltage falling: no new inception
        if not alive.any():
            break
        t_inc = np.degrees(np.arcsin(np.clip(target, -1.0, 1.0)))
        t_fire = np.maximum(t_inc, theta) + rng.exponential(lag_mean_deg, halves)
        over = np.sin(t_fire * _DEG) - q
        fires = alive & (over >= inception)
        alive = fires
        idx = np.nonzero(fires)[0]
        out_h.append(idx)
        out_t.append(t_fire[idx])
        out_c.append(over[idx] - residual)
        q = np.where(fires, np.sin(t_fire * _DEG) - residual, q)
        theta = np.where(fires, t_fire, theta)
    if not out_h:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    return np.concatenate(out_h), np.concatenate(out_t), np.concatenate(out_c)


def void(rng: np.random.Generator, n_cycles: int) -> Pulses:
    """One or two cavities in solid insulation: two mirrored lobes on the rising flanks (about
    330..100 and 150..280 deg). A long statistical lag gives large first pulses ("rabbit ear"),
    a short one the rounded "turtle"."""
    records = []
    for _ in range(int(rng.integers(1, 3))):
        inception = rng.uniform(0.15, 0.45)
        residual = inception * rng.uniform(0.0, 0.4)
        lag = rng.uniform(6.0, 65.0)
        activity = rng.uniform(0.3, 1.0)  # share of half cycles in which the cavity is active
        halves = 2 * n_cycles
        h, theta, charge = _cavity_half_cycles(rng, halves, inception, residual, lag)
        keep = rng.random(halves)[h] < activity
        h, theta, charge = h[keep], theta[keep], charge[keep]
        negative = (h % 2) == 1
        polarity_gain = np.where(negative, rng.uniform(0.85, 1.15), 1.0)
        # The sensor's scale: the largest pulses (long-lag first discharges) reach 0.6-0.9 of
        # full scale, so a clean record rarely saturates.
        top = float(np.quantile(charge, 0.98)) if charge.size else 1.0
        scale = rng.uniform(0.6, 0.9) / max(top, 1e-3)
        amp = scale * charge * polarity_gain * np.exp(rng.normal(0.0, 0.08, h.size))
        records.append((theta + 180.0 * negative, amp))
    return _cat(*records)


def surface(rng: np.random.Generator, n_cycles: int, *, oil: bool = False) -> Pulses:
    """Surface discharge along an interface: many pulses from just after the zero crossing to
    past the peak (0..130 and 180..310 deg), amplitudes growing toward the voltage peak (the
    "wing"); one polarity has fewer but 1.5-3x larger pulses (in oil the negative one, whose
    window also opens 10-20 deg earlier)."""
    rate = rng.uniform(5.0, 50.0)
    ratio = rng.uniform(1.5, 3.0)
    dominant_negative = True if oil else bool(rng.random() < 0.5)
    base = rng.uniform(0.25, 0.4)
    records = []
    for negative in (False, True):
        dominant = negative == dominant_negative
        share = 1.0 / (1.0 + ratio) if dominant else ratio / (1.0 + ratio)
        n = int(rng.poisson(rate * share * n_cycles))
        start = rng.uniform(0.0, 25.0)
        if negative and oil:
            start -= rng.uniform(10.0, 20.0)
        end = rng.uniform(110.0, 135.0)
        phase = start + (end - start) * rng.beta(1.4, 1.6, n)
        s_start = math.sin(start * _DEG)
        envelope = np.clip((np.sin(phase * _DEG) - s_start) / (1.0 - s_start), 0.03, 1.0)
        top = base * (ratio if dominant else 1.0)
        amp = top * envelope ** rng.uniform(0.6, 1.2) * rng.random(n) ** rng.uniform(0.4, 0.9)
        records.append((phase + 180.0 * negative, amp))
    return _cat(*records)


def noise_band(
    rng: np.random.Generator,
    n_cycles: int,
    rate: float,
    band: tuple[float, float] | None = None,
) -> Pulses:
    """The phase-independent background band: near 0.31 of full scale (measured in every GIS
    record), or at ``band`` = (centre, width) when the sensor's band was drawn (wide
    randomisation)."""
    n = int(rng.poisson(rate * n_cycles))
    if band is None:
        return rng.uniform(0.0, 360.0, n), rng.normal(rng.uniform(0.29, 0.33), 0.04, n)
    return rng.uniform(0.0, 360.0, n), rng.normal(band[0], band[1], n)


def impulses(rng: np.random.Generator, n_cycles: int, rate: float) -> Pulses:
    """Random impulsive interference: any phase, exponentially distributed amplitude."""
    n = int(rng.poisson(rate * n_cycles))
    return rng.uniform(0.0, 360.0, n), rng.exponential(rng.uniform(0.1, 0.25), n)


def noise(
    rng: np.random.Generator, n_cycles: int, *, band: tuple[float, float] | None = None
) -> Pulses:
    """External noise without a defect: always the background band (0.31, or the sensor's
    ``band``), plus a random mix of impulses, a converter comb (6 or 12 phase-locked lines), air
    corona near 270 deg at low amplitude, and bursts."""
    records = [noise_band(rng, n_cycles, rng.uniform(0.5, 10.0), band)]
    if rng.random() < 0.6:
        records.append(impulses(rng, n_cycles, rng.uniform(0.5, 20.0)))
    if rng.random() < 0.35:
        lines = 6 if rng.random() < 0.5 else 12
        n = int(rng.poisson(rng.uniform(0.3, 2.0) * lines * n_cycles))
        line = rng.integers(0, lines, n)
        phase = rng.uniform(0, 360) + line * (360.0 / lines) + rng.normal(0, rng.uniform(1, 2), n)
        amp = rng.normal(rng.uniform(0.15, 0.5), rng.uniform(0.03, 0.06), n)
        records.append((phase, amp))
    if rng.random() < 0.3:
        n = int(rng.poisson(rng.uniform(1.0, 10.0) * n_cycles))
        records.append((rng.normal(270.0, 8.0, n), rng.normal(rng.uniform(0.08, 0.18), 0.03, n)))
    if rng.random() < 0.3:
        for _ in range(int(rng.integers(1, 6))):
            n = int(rng.poisson(rng.uniform(5.0, 40.0) * rng.integers(5, 101)))
            median = rng.uniform(0.2, 0.6)
            records.append((rng.uniform(0, 360, n), np.exp(rng.normal(math.log(median), 0.3, n))))
    return _cat(*records)


# class name -> pulse process, per product (order irrelevant here; PRODUCTS fixes it).
_Process = Callable[[np.random.Generator, int], Pulses]
_PROCESSES: dict[str, dict[str, _Process]] = {
    "gis": {
        "protrusion_conductor": protrusion,
        "protrusion_enclosure": lambda rng, n: protrusion(rng, n, shift=180.0),
        "free_particle": free_particle,
        "floating_electrode": floating_electrode,
        "void": void,
        "surface": surface,
        "noise": noise,
    },
    "transformer": {
        "corona": protrusion,
        "surface": lambda rng, n: surface(rng, n, oil=True),
        "void": void,
        "floating": floating_electrode,
        "particle": lambda rng, n: free_particle(rng, n, oil=True),
        "noise": noise,
    },
}


# ---------------------------------------------------------------------------------------------
# The nuisances of a real monitor, applied to a whole record (docs/PRPD.md, "Domain
# randomisation"). Two generations: "classic" (the first generator, kept bit for bit so
# benchmarks can compare against it) and "wide" (the default: many more factors, wider ranges).
# ---------------------------------------------------------------------------------------------

RANDOMIZATIONS = ("classic", "wide")
"""Values of the internal ``randomization`` switch: a benchmark and reproducibility switch,
not a user knob (``difficulty`` is the one knob users see)."""
DEFAULT_RANDOMIZATION = "wide"

# Ranges of the wide randomisation at difficulty 1 (each is scaled toward "no nuisance" as the
# difficulty goes to 0). docs/PRPD.md lists them with their physics; keep the two in step.
WIDE_CYCLES = (30.0, 10800.0)  # accumulated cycles (clean: 1200), log-uniform
WIDE_PHASE_OFFSET_DEG = 50.0  # sensor coupling offset, uniform in +-this
WIDE_CROSS_PHASE = 0.05  # probability of coupling to another phase (+-120 deg)
WIDE_GAIN = (0.4, 2.5)  # amplitude gain against full scale, log-uniform
WIDE_THRESHOLD = 0.08  # trigger level, uniform in [0, this] of full scale
WIDE_BAND_CENTRE = (0.02, 0.6)  # background band centre (clean: the measured 0.31)
WIDE_BAND_WIDTH = (0.01, 0.08)  # its standard deviation (clean: 0.04), log-uniform
WIDE_BAND_RATE = (0.05, 8.0)  # its pulses per cycle, log-uniform
WIDE_IMPULSE_RATE = (0.5, 20.0)  # random impulses per cycle
WIDE_COMB_LINES = (2, 3, 4, 6, 8, 12, 18, 24)  # phase-locked lines per cycle
WIDE_SINE_HARMONICS = (1, 6)  # harmonic order of a sinusoidal interferer
WIDE_CORONA_RATE = (0.2, 4.0)  # corona from nearby equipment, pulses per cycle
WIDE_SECOND_SHARE = (0.02, 0.15)  # second defect's pulses as a share of the first's
WIDE_DROP = 0.5  # share of pulses lost, uniform in [0, this]
WIDE_DEAD_TIME_DEG = 3.0  # paralysable dead time, uniform in [0, this] degrees
WIDE_ADC_BITS = (6, 12)  # ADC resolution; 12 - 6 * difficulty is the coarsest drawn
MIN_DEFECT_PULSES = 30  # a defect record is extended until its defect shows this many pulses


def _n_cycles(rng: np.random.Generator, difficulty: float) -> int:
    """Record length: 1200 cycles when clean, log-uniform over 60..3600 at difficulty 1."""
    lo = math.log(1200.0) + (math.log(60.0) - math.log(1200.0)) * difficulty
    hi = math.log(1200.0 + (3600.0 - 1200.0) * difficulty)
    return round(math.exp(rng.uniform(lo, hi)))


def _classic_record(
    product: str, class_name: str, rng: np.random.Generator, difficulty: float
) -> Pulses:
    """The first generator's record, unchanged (``randomization="classic"``)."""
    processes = _PROCESSES[product]
    d = difficulty
    n_cycles = _n_cycles(rng, d)
    records = [processes[class_name](rng, n_cycles)]
    # A second, much weaker defect on the same sensor. Not for "noise": that label means "no
    # defect", and a visible defect would make the label wrong rather than the task harder.
    if class_name != "noise" and rng.random() < 0.25 * d:
        others = [c for c in PRODUCTS[product] if c not in (class_name, "noise")]
        other = others[int(rng.integers(0, len(others)))]
        phase, amp = processes[other](rng, n_cycles)
        keep = rng.random(phase.size) < rng.uniform(0.02, 0.12)
        records.append((phase[keep], amp[keep]))
    if rng.random() < 1.2 * d:  # the background band, present in every measured GIS record
        records.append(noise_band(rng, n_cycles, rng.uniform(0.1, 4.0) * d))
    if rng.random() < 0.7 * d:
        records.append(impulses(rng, n_cycles, rng.uniform(0.5, 20.0) * d))
    phase, amp = _cat(*records)
    offset = rng.uniform(-20.0, 20.0) * d
    if rng.random() < 0.05 * d:  # cross-phase coupling: the sensor sees another phase's voltage
        offset = float(rng.choice([-120.0, 120.0])) + rng.uniform(-10.0, 10.0)
    gain = math.exp(rng.uniform(math.log(0.6), math.log(1.4)) * d)
    return phase + offset, amp * gain


@dataclass(frozen=True)
class Factors:
    """The nuisance factors drawn for one wide-randomised record (``wide_record``).

    Absent interference is ``None`` (or 0); at difficulty 0 every factor is "no nuisance":
    1200 cycles, no offset, gain 1, no threshold, nothing added, nothing lost, no quantisation.
    """

    n_cycles: int  # accumulated cycles (after any extension for a silent defect)
    offset_deg: float  # phase offset of the whole record, cross-phase coupling included
    cross_phase: bool
    gain: float
    threshold: float  # trigger level, fraction of full scale (quieter pulses are not recorded)
    band: tuple[float, float, float] | None  # background band (centre, width, pulses per cycle)
    impulse_rate: float  # random impulses per cycle (0: none)
    comb: tuple[int, float, float] | None  # (lines per cycle, pulses per line and cycle, amp)
    sine: tuple[int, float, float] | None  # (harmonic, peak amplitude, pulses per cycle)
    corona: tuple[float, float, float] | None  # (peak phase 90/270, pulses per cycle, amp)
    second: str | None  # a second defect class on the same sensor
    second_share: float  # its pulse count as a share of the first defect's
    drop: float  # share of the recorded pulses lost at random
    dead_time_deg: float  # paralysable dead time within a cycle (0: none)
    adc_bits: int | None  # amplitude resolution (None: not quantised)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _toward(clean: float, value: float, d: float) -> float:
    """``value`` pulled toward ``clean`` by 1 - d: the range shrinks to ``clean`` at d = 0."""
    return clean + (value - clean) * d


def _draw_factors(
    product: str, class_name: str, rng: np.random.Generator, d: float, n_cycles: int
) -> Factors:
    """Every factor of one record, in a fixed order of draws (all drawn whether used or not,
    so one factor's value never shifts another's stream)."""
    u = rng.random(12)  # presence draws
    offset = rng.uniform(-WIDE_PHASE_OFFSET_DEG, WIDE_PHASE_OFFSET_DEG) * d
    cross = bool(u[0] < WIDE_CROSS_PHASE * d)
    cross_offset = float(rng.choice([-120.0, 120.0])) + rng.uniform(-10.0, 10.0)
    gain = math.exp(rng.uniform(math.log(WIDE_GAIN[0]), math.log(WIDE_GAIN[1])) * d)
    threshold = rng.uniform(0.0, WIDE_THRESHOLD) * d
    centre = _toward(0.31, rng.uniform(*WIDE_BAND_CENTRE), d)
    width = _toward(0.04, _log_uniform(rng, *WIDE_BAND_WIDTH), d)
    band_rate = _log_uniform(rng, *WIDE_BAND_RATE) * d
    impulse_rate = rng.uniform(*WIDE_IMPULSE_RATE) * d
    lines = int(rng.choice(WIDE_COMB_LINES))
    comb_rate = rng.uniform(0.3, 2.0) * d
    comb_amp = rng.uniform(0.1, 0.5)
    harmonic = int(rng.integers(WIDE_SINE_HARMONICS[0], WIDE_SINE_HARMONICS[1] + 1))
    sine_amp = rng.uniform(0.05, 0.35)
    sine_rate = rng.uniform(2.0, 30.0) * d
    corona_peak = 270.0 if u[1] < 0.7 else 90.0
    corona_rate = rng.uniform(*WIDE_CORONA_RATE) * d
    corona_amp = rng.uniform(0.04, 0.18)
    others = [c for c in PRODUCTS[product] if c not in (class_name, "noise")]
    other = others[int(rng.integers(0, len(others)))]
    second_share = rng.uniform(*WIDE_SECOND_SHARE)
    drop = rng.uniform(0.0, WIDE_DROP) * d
    dead_time = rng.uniform(0.0, WIDE_DEAD_TIME_DEG) * d
    coarsest = round(WIDE_ADC_BITS[1] - (WIDE_ADC_BITS[1] - WIDE_ADC_BITS[0]) * d)
    bits = int(rng.integers(coarsest, WIDE_ADC_BITS[1] + 1))
    return Factors(
        n_cycles=n_cycles,
        offset_deg=cross_offset if cross else offset,
        cross_phase=cross,
        gain=gain,
        threshold=threshold,
        band=(centre, width, band_rate) if u[2] < min(1.0, 1.2 * d) else None,
        impulse_rate=impulse_rate if u[3] < 0.7 * d else 0.0,
        comb=(lines, comb_rate, comb_amp) if u[4] < 0.25 * d else None,
        sine=(harmonic, sine_amp, sine_rate) if u[5] < 0.15 * d else None,
        corona=(corona_peak, corona_rate, corona_amp) if u[6] < 0.3 * d else None,
        # Never on "noise" (the label means "no defect"): see docs/PRPD.md for the rules.
        second=other if class_name != "noise" and u[7] < 0.3 * d else None,
        second_share=second_share,
        drop=drop if u[8] < 0.5 * d else 0.0,
        dead_time_deg=dead_time if u[9] < 0.5 * d else 0.0,
        adc_bits=bits if d > 0 else None,
    )


def _wide_cycles(rng: np.random.Generator, d: float) -> int:
    """Record length: 1200 cycles when clean, log-uniform over WIDE_CYCLES at difficulty 1.
    One uniform draw, like the classic length, so difficulty 0 gives the same record."""
    lo = math.log(1200.0) + (math.log(WIDE_CYCLES[0]) - math.log(1200.0)) * d
    hi = math.log(1200.0) + (math.log(WIDE_CYCLES[1]) - math.log(1200.0)) * d
    return round(math.exp(rng.uniform(lo, hi)))


def _interference(rng: np.random.Generator, f: Factors) -> list[Pulses]:
    """The background the sensor sees besides the defect, independent of the class."""
    n_cycles = f.n_cycles
    out: list[Pulses] = []
    if f.band is not None:
        out.append(noise_band(rng, n_cycles, f.band[2], f.band[:2]))
    if f.impulse_rate > 0:
        out.append(impulses(rng, n_cycles, f.impulse_rate))
    if f.comb is not None:  # a converter comb: lines evenly spaced over the cycle
        lines, rate, level = f.comb
        n = int(rng.poisson(rate * lines * n_cycles))
        line = rng.integers(0, lines, n)
        phase = rng.uniform(0, 360) + line * (360.0 / lines) + rng.normal(0, rng.uniform(1, 2), n)
        out.append((phase, rng.normal(level, rng.uniform(0.02, 0.05), n)))
    if f.sine is not None:  # a phase-locked sinusoid: peak detector reads |A sin(h phase + p)|
        harmonic, level, rate = f.sine
        n = int(rng.poisson(rate * n_cycles))
        phase = rng.uniform(0.0, 360.0, n)
        env = np.abs(np.sin((harmonic * phase + rng.uniform(0, 360)) * _DEG))
        out.append((phase, level * env + rng.normal(0.0, 0.01, n)))
    if f.corona is not None:  # corona on nearby equipment, at a voltage peak, low amplitude
        peak, rate, level = f.corona
        n = int(rng.poisson(rate * n_cycles))
        out.append((rng.normal(peak, rng.uniform(6.0, 15.0), n), rng.normal(level, 0.025, n)))
    return out


def _dead_time_keep(
    rng: np.random.Generator, phase: np.ndarray, n_cycles: int, dead_deg: float
) -> np.ndarray:
    """Which pulses a paralysable detector records. A pulse is lost when another pulse came less
    than ``dead_deg`` before it in the same cycle (each pulse, recorded or not, restarts the dead
    time). With the record's pulses spread over its cycles at random, the pulses in that window
    are Poisson with mean rate(phase) * dead_deg, rate being the record's pulses per cycle and
    degree at that phase (1-degree bins), so a pulse survives with probability
    exp(-rate * dead_deg): the exact model's statistics without sorting every pulse."""
    whole = np.minimum(np.mod(phase, 360.0).astype(np.int64), 359)
    rate = np.bincount(whole, minlength=360) / max(n_cycles, 1)
    return rng.random(phase.size) < np.exp(-rate[whole] * dead_deg)


def _acquire(process: Callable[[int], Pulses], n_cycles: int) -> tuple[Pulses, int]:
    """A defect's pulses over ``n_cycles``, extended while it shows fewer than
    MIN_DEFECT_PULSES: a short acquisition can miss a bursty defect (a particle resting between
    bounces) altogether, and a monitor that triggers on activity keeps acquiring. Each extension
    doubles the record (at most 6 times). Returns the pulses and the cycles acquired."""
    records = [process(n_cycles)]
    total = n_cycles
    for _ in range(6):
        if sum(r[0].size for r in records) >= MIN_DEFECT_PULSES:
            break
        records.append(process(total))
        total *= 2
    return _cat(*records), total


def wide_record(
    product: str, class_name: str, rng: np.random.Generator, difficulty: float
) -> tuple[Pulses, Factors]:
    """One record's pulses with the wide randomisation, and the factors that were drawn.

    At difficulty 0 the pulses are the classic generator's, bit for bit (the clean textbook
    pattern: the same draws, no nuisance)."""
    d = difficulty
    n_cycles = _wide_cycles(rng, d)
    if d == 0:
        pulses = _PROCESSES[product][class_name](rng, n_cycles)
        return pulses, _draw_factors(product, class_name, rng, 0.0, n_cycles)
    f = _draw_factors(product, class_name, rng, d, n_cycles)
    band = None if f.band is None else f.band[:2]

    def defect(name: str, cycles: int) -> Pulses:
        if name == "noise":
            return noise(rng, cycles, band=band)
        return _PROCESSES[product][name](rng, cycles)

    if class_name == "noise":
        records, total = [defect(class_name, n_cycles)], n_cycles
    else:
        first, total = _acquire(lambda cycles: defect(class_name, cycles), n_cycles)
        records = [first]
    if total != n_cycles:
        f = replace(f, n_cycles=total)
    primary = records[0][0].size
    if f.second is not None:
        phase, amp = defect(f.second, total)
        # The second defect is the weaker one by construction: at most second_share of the
        # first's pulses, so the label stays the dominant pattern.
        keep = rng.random(phase.size) < min(1.0, f.second_share * primary / max(phase.size, 1))
        records.append((phase[keep], amp[keep]))
    records.extend(_interference(rng, f))
    phase, amp = _cat(*records)
    phase = phase + f.offset_deg
    amp = amp * f.gain
    recorded = amp > f.threshold
    phase, amp = phase[recorded], amp[recorded]
    if f.dead_time_deg > 0:
        keep = _dead_time_keep(rng, phase, total, f.dead_time_deg)
        phase, amp = phase[keep], amp[keep]
    if f.drop > 0:
        keep = rng.random(phase.size) >= f.drop
        phase, amp = phase[keep], amp[keep]
    if f.adc_bits is not None:  # ADC codes 0..2^bits - 1; code 0 is "nothing detected"
        levels = float(2**f.adc_bits)
        amp = np.minimum(np.floor(amp * levels), levels - 1.0) / levels
    return (phase, amp), f


def record_pulses(
    product: str,
    class_name: str,
    rng: np.random.Generator,
    difficulty: float,
    randomization: str = DEFAULT_RANDOMIZATION,
) -> Pulses:
    """One record's pulses for ``class_name``, with the nuisances for ``difficulty`` applied.

    ``randomization`` picks the generation of nuisances: ``"wide"`` (default) or ``"classic"``
    (the first generator, bit for bit), a benchmark switch (docs/PRPD.md)."""
    _check_randomization(randomization)
    if randomization == "classic":
        return _classic_record(product, class_name, rng, difficulty)
    return wide_record(product, class_name, rng, difficulty)[0]


def histogram(phase: np.ndarray, amp: np.ndarray) -> np.ndarray:
    """Pulse counts per (amplitude bin, phase bin): (60, 120) int64. Amplitudes at or above full
    scale saturate into the top bin (clipping); amplitudes <= 0 were never detected. This is
    ``pulses_to_counts`` with amplitudes already a fraction of full scale."""
    return pulses_to_counts(phase, amp, 1.0)


def image_rng(seed: int, product: str, class_index: int, index: int) -> np.random.Generator:
    """The generator of one image, independent of every other image's."""
    key = [int(seed), zlib.crc32(product.encode("utf-8")), int(class_index), int(index)]
    return np.random.default_rng(np.random.SeedSequence(key))


def synthesize_counts(
    product: str,
    class_name: str,
    index: int,
    seed: int = 0,
    difficulty: float = DEFAULT_DIFFICULTY,
    *,
    randomization: str = DEFAULT_RANDOMIZATION,
) -> np.ndarray:
    """The raw (60, 120) pulse-count histogram behind image ``index`` of ``class_name``; the
    image ``synthesize`` returns there is ``normalize_counts`` of it."""
    _check_args(product, 1, seed, difficulty)
    _check_randomization(randomization)
    classes = PRODUCTS[product]
    if class_name not in classes:
        raise UserError(f"class {class_name!r} is not in product {product!r}: {', '.join(classes)}")
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
        raise UserError(f"index must be a non-negative integer, got {index!r}")
    rng = image_rng(seed, product, classes.index(class_name), index)
    return histogram(*record_pulses(product, class_name, rng, float(difficulty), randomization))


def _check_randomization(randomization: str) -> None:
    if randomization not in RANDOMIZATIONS:
        raise UserError(
            f"randomization must be one of {', '.join(RANDOMIZATIONS)}, got {randomization!r}"
        )


def _check_args(product: str, per_class: int, seed: int, difficulty: float) -> None:
    if product not in PRODUCTS:
        raise UserError(f"unknown product {product!r}; known: {', '.join(sorted(PRODUCTS))}")
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < 1:
        raise UserError(f"per_class must be a positive integer, got {per_class!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserError(f"seed must be a non-negative integer, got {seed!r}")
    if not (isinstance(difficulty, (int, float)) and 0.0 <= float(difficulty) <= 1.0):
        raise UserError(f"difficulty must be a number in [0, 1], got {difficulty!r}")


def synthesize(
    product: str = "gis",
    per_class: int = 80,
    seed: int = 0,
    difficulty: float = DEFAULT_DIFFICULTY,
    *,
    progress: bool = False,
    randomization: str = DEFAULT_RANDOMIZATION,
) -> Dataset:
    """``per_class`` synthetic PRPD images for every class of ``product``, grouped by class in
    class order. Deterministic for (product, seed, difficulty, randomization, class, index).

    ``randomization`` is a benchmark and reproducibility switch, not a user knob: ``"wide"``
    (default) draws every nuisance of docs/PRPD.md's "Domain randomisation" list, ``"classic"``
    reproduces the first generator's images bit for bit."""
    _check_args(product, per_class, seed, difficulty)
    _check_randomization(randomization)
    classes = PRODUCTS[product]
    images = np.empty((len(classes) * per_class, AMPLITUDE_BINS, PHASE_BINS), dtype=np.float32)
    labels = np.repeat(np.arange(len(classes), dtype=np.int64), per_class)
    jobs = [(c, i) for c in range(len(classes)) for i in range(per_class)]
    if progress:
        from tqdm import tqdm

        jobs = tqdm(jobs, desc=f"synth {product}", unit="img", leave=False)
    for slot, (c, i) in enumerate(jobs):
        rng = image_rng(seed, product, c, i)
        pulses = record_pulses(product, classes[c], rng, float(difficulty), randomization)
        counts = histogram(*pulses)
        images[slot] = normalize_counts(counts)
    return Dataset(images=images, labels=labels, classes=classes)
