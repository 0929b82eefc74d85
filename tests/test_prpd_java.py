"""PRPD preprocessing in Java (``org.pd2java.runtime.Prpd``) against the Python convention.

The JUnit test ``PrpdTest`` checks the committed vectors (``prpd_vectors.json``); here the Java
class is driven over py4j on fresh seeded inputs, so those vectors are not the only witness, and
the Python twins (``pulses_to_counts``, ``has_activity``, ``share_windows``) are checked on their
own. The image must equal Python's bit for bit or, where numpy's and Java's log1p differ in the
last double bit, by one float ulp (docs/PRPD.md, "Preprocessing in Java").
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from pd2java.backends.java import bridge, prpd_vectors
from pd2java.backends.java import generate as java_generate
from pd2java.errors import UserError
from pd2java.resources import java_harness_dir
from pd2java.training.data.convention import (
    MIN_PULSES,
    has_activity,
    normalize_counts,
    pulses_to_counts,
)
from pd2java.training.data.prps import phase_overlap, prps_counts, share_windows
from pd2java.training.data.synth import histogram

SEEDS = (0, 1, 2)


def ulps_apart(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Float32 ulps between two arrays of values >= 0 (adjacent floats, adjacent bit patterns)."""
    a = np.asarray(got, dtype="<f4").view("<i4").astype(np.int64)
    b = np.asarray(want, dtype="<f4").view("<i4").astype(np.int64)
    return np.abs(a - b)


def assert_same(java: bridge.JavaPrpd, counts: np.ndarray, pulses: float, what: str) -> int:
    """Java's image is Python's within 1 ulp, with the same pulses and activity; returns the number
    of values that differ."""
    want = normalize_counts(counts)
    assert java.image.shape == (60, 120) and java.image.dtype == np.float32
    apart = ulps_apart(java.image, want)
    assert apart.max() <= 1, f"{what}: {int((apart > 0).sum())} values differ, max {apart.max()}"
    assert java.pulses == pytest.approx(pulses, rel=1e-12, abs=0), what
    assert java.has_activity == has_activity(counts), what
    return int((apart > 0).sum())


# ---- the Python twins -----------------------------------------------------------------------


def test_pulses_to_counts_wraps_saturates_and_matches_the_generator() -> None:
    phase = np.array([-1.0, 361.0, 719.0, 5.0, 5.0, -1e-20, 1e15])
    amp = np.array([0.5, 2.0, 1e308, 0.0, -1.0, 1.0, 0.01])
    counts = pulses_to_counts(phase, amp, 2.0)
    assert counts.dtype == np.int64 and counts.shape == (60, 120) and counts.sum() == 5
    assert counts[15, 119] == 1  # -1 deg wraps to 359 deg; 0.25 of full scale -> bin 15
    assert counts[59, 0] == 1 and counts[59, 119] == 1  # at and far above full scale: top bin
    assert counts[30, 119] == 1  # -1e-20 deg wraps to 360.0 after rounding: the last phase bin
    rng = np.random.default_rng(3)
    p, a = rng.uniform(-400, 800, 5000), rng.uniform(-0.1, 1.2, 5000)
    assert np.array_equal(histogram(p, a), pulses_to_counts(p, a, 1.0))
    assert np.array_equal(pulses_to_counts(p, a * 7.5, 7.5).sum(), histogram(p, a).sum())


@pytest.mark.parametrize(
    ("phase", "amp", "full", "match"),
    [
        ([0.0, np.nan], [1.0, 1.0], 1.0, r"phase_deg\[1\] is nan"),
        ([0.0, 1.0], [np.inf, 1.0], 1.0, r"amplitude\[0\] is inf"),
        ([0.0], [1.0, 2.0], 1.0, "one length"),
        ([0.0], [1.0], 0.0, "full_scale"),
        ([0.0], [1.0], float("nan"), "full_scale"),
    ],
)
def test_pulses_to_counts_refuses_bad_input(phase, amp, full, match) -> None:
    with pytest.raises(UserError, match=match):
        pulses_to_counts(np.array(phase), np.array(amp), full)


def test_has_activity_floor_and_its_slack_for_shared_counts() -> None:
    counts = np.zeros((60, 120))
    counts[3, 4] = MIN_PULSES - 1
    assert not has_activity(counts)
    counts[3, 5] = 1
    assert has_activity(counts)
    ten = np.zeros((20, 128), dtype=np.uint8)
    ten[np.arange(10), np.arange(10) * 11 + 3] = 200  # 10 pulses shared between phase bins
    shared = prps_counts(ten)
    assert shared.sum() == pytest.approx(10.0) and has_activity(shared)
    with pytest.raises(UserError, match=">= 0"):
        has_activity(-counts)


@pytest.mark.parametrize("windows", [1, 37, 100, 128, 360, 1000])
def test_share_windows_is_the_overlap_product(windows: int) -> None:
    rng = np.random.default_rng(windows)
    per_window = rng.integers(0, 3600, (60, windows)).astype(np.float64)
    got = share_windows(per_window)
    np.testing.assert_allclose(got, per_window @ phase_overlap(windows), rtol=1e-15, atol=0)
    assert got.sum() == pytest.approx(per_window.sum(), rel=1e-12)


def test_vector_encoding_round_trips() -> None:
    rng = np.random.default_rng(0)
    for dtype in ("u1", "i4", "f4", "f8"):
        for density in (0.0, 0.05, 1.0):
            values = (rng.random(500) * (rng.random(500) < density) * 100).astype(f"<{dtype}")
            values[:1] = -0.0 if dtype[0] == "f" else 0
            back = prpd_vectors.decode(json.loads(json.dumps(prpd_vectors.encode(values, dtype))))
            assert back.dtype == values.dtype and back.tobytes() == values.tobytes()


def test_committed_vectors_are_what_python_computes() -> None:
    path = java_harness_dir() / prpd_vectors.RESOURCE
    assert path.read_text("utf-8") == prpd_vectors.render()
    assert path.stat().st_size < 300_000
    assert prpd_vectors.RESOURCE in {
        p.relative_to(java_harness_dir()) for p in java_generate.render(java_harness_dir())
    }


# ---- Java over py4j, fresh inputs -------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_java_counts_match_python(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    ints = rng.integers(0, 10 ** rng.integers(1, 10), (60, 120)) * (rng.random((60, 120)) < 0.4)
    differ = assert_same(bridge.java_prpd_from_counts(ints), ints, float(ints.sum()), "int")
    frac = rng.gamma(0.4, 30.0, (60, 120)) * (rng.random((60, 120)) < 0.5)
    differ += assert_same(bridge.java_prpd_from_counts(frac), frac, float(frac.sum()), "double")
    few = np.zeros((60, 120), dtype=np.int64)
    few[rng.integers(0, 60, 3), rng.integers(0, 120, 3)] += 1
    java = bridge.java_prpd_from_counts(few)
    assert_same(java, few, 3.0, "three stray pulses")
    assert not java.has_activity and java.image.max() == 1.0  # why the floor exists
    assert differ <= 2, differ


@pytest.mark.parametrize("seed", SEEDS)
def test_java_pulses_match_python(seed: int) -> None:
    rng = np.random.default_rng(2000 + seed)
    n = 20_000
    full = float(rng.uniform(0.5, 5000.0))
    phase = rng.uniform(-720.0, 1080.0, n)
    phase[:50] = np.round(phase[:50] / 3.0) * 3.0  # on bin edges, and negative multiples of 360
    amp = rng.uniform(-0.1, 1.3, n) * full
    amp[50:60] = full
    counts = pulses_to_counts(phase, amp, full)
    java = bridge.java_prpd_from_pulses(phase, amp, full)
    assert_same(java, counts, float(counts.sum()), f"pulses seed {seed}")
    assert java.pulses == counts.sum()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("windows", [120, 128, 100, 37])
def test_java_prps_matches_python(seed: int, windows: int) -> None:
    rng = np.random.default_rng(3000 + seed * 1000 + windows)
    cycles = int(rng.integers(1, 300))
    hit = rng.random((cycles, windows)) < rng.uniform(0.01, 0.5)
    u8 = (rng.random((cycles, windows)) * 256).astype(np.uint8) * hit
    counts = prps_counts(u8)  # full scale 255 from the dtype
    java = bridge.java_prpd_from_prps(u8, 255.0)
    assert_same(java, counts, float(np.count_nonzero(u8)), f"uint8 W={windows}")
    f32 = (rng.random((cycles, windows)) * 1.4 * hit).astype(np.float32)
    counts = prps_counts(f32, amplitude_max=1.0)
    java = bridge.java_prpd_from_prps(f32, 1.0)
    assert_same(java, counts, float(np.count_nonzero(f32)), f"float W={windows}")


def test_java_refusals_are_typed_and_say_where() -> None:
    ragged_free = np.zeros((4, 100), dtype=np.float32)
    ragged_free[2, 17] = np.nan
    with pytest.raises(bridge.JavaError, match=r"cycle 2, window 17") as err:
        bridge.java_prpd_from_prps(ragged_free, 255.0)
    assert err.value.code == "INVALID_INPUT"
    with pytest.raises(bridge.JavaError, match=r"amplitude\[1\]") as err:
        bridge.java_prpd_from_pulses([0.0, 1.0], [1.0, np.nan], 1.0)
    assert err.value.code == "INVALID_INPUT"
    with pytest.raises(bridge.JavaError, match="7200 counts") as err:
        bridge.java_prpd_from_counts(np.ones(100, dtype=np.int32))
    assert err.value.code == "INVALID_INPUT"
