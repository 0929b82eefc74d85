"""The synthetic PRPD generator: convention, determinism, and each defect class's signature.

Signatures are checked on the raw pulse counts (``synthesize_counts``, the histogram behind each
image) at difficulty 0, where the textbook pattern must hold for every image, and a few at the
default difficulty, where they must still hold for most images.
"""

from __future__ import annotations

import numpy as np
import pytest

from pd2java.errors import UserError
from pd2java.training.data import DEFAULT_DIFFICULTY, PRODUCTS, normalize_counts, synthesize
from pd2java.training.data.synth import histogram, synthesize_counts

PHASE_DEG = (np.arange(120) + 0.5) * 3.0  # centre of each phase bin
AMP = (np.arange(60) + 0.5) / 60.0  # centre of each amplitude bin
N_CLEAN = 12  # images per class checked at difficulty 0


def phase_share(counts: np.ndarray, *windows: tuple[float, float]) -> float:
    """Share of the pulses whose phase lies in any of the (lo, hi) degree windows (may wrap)."""
    per_phase = counts.sum(axis=0).astype(float)
    mask = np.zeros(120, dtype=bool)
    for lo, hi in windows:
        mask |= (PHASE_DEG - lo) % 360 <= (hi - lo) % 360
    return float(per_phase[mask].sum() / per_phase.sum())


def amplitudes(counts: np.ndarray, lo: float = 0.0, hi: float = 360.0) -> np.ndarray:
    """Amplitude of every pulse (bin centres) in the phase window [lo, hi)."""
    cols = (PHASE_DEG >= lo) & (PHASE_DEG < hi)
    return np.repeat(AMP, counts[:, cols].sum(axis=1))


def clean(product: str, cls: str, n: int = N_CLEAN, seed: int = 7) -> list[np.ndarray]:
    return [synthesize_counts(product, cls, i, seed=seed, difficulty=0.0) for i in range(n)]


# --- convention and determinism -----------------------------------------------------------------


@pytest.mark.parametrize("product", sorted(PRODUCTS))
def test_dataset_follows_the_image_convention(product: str) -> None:
    ds = synthesize(product, per_class=3, seed=1)
    k = len(PRODUCTS[product])
    assert ds.classes == PRODUCTS[product]
    assert ds.images.shape == (3 * k, 60, 120) and ds.images.dtype == np.float32
    assert ds.labels.dtype == np.int64
    assert ds.labels.tolist() == [c for c in range(k) for _ in range(3)]
    assert ds.images.min() >= 0.0 and ds.images.max() == pytest.approx(1.0)
    # every image is log-normalised: its own maximum is exactly 1
    assert np.allclose(ds.images.reshape(len(ds), -1).max(axis=1), 1.0)


def test_class_order_is_prpd_md_order() -> None:
    assert PRODUCTS["gis"] == (
        "protrusion_conductor",
        "protrusion_enclosure",
        "free_particle",
        "floating_electrode",
        "void",
        "surface",
        "noise",
    )
    assert PRODUCTS["transformer"] == ("corona", "surface", "void", "floating", "particle", "noise")


def test_same_seed_same_images_other_seed_other_images() -> None:
    a = synthesize("gis", per_class=2, seed=5)
    b = synthesize("gis", per_class=2, seed=5)
    c = synthesize("gis", per_class=2, seed=6)
    assert np.array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)
    for i in range(len(a)):
        assert not np.array_equal(a.images[i], c.images[i])


def test_per_class_count_does_not_change_other_images() -> None:
    small = synthesize("transformer", per_class=2, seed=3)
    large = synthesize("transformer", per_class=4, seed=3)
    for c in range(len(small.classes)):
        assert np.array_equal(small.images[small.labels == c], large.images[large.labels == c][:2])


def test_images_are_the_normalised_counts() -> None:
    ds = synthesize("gis", per_class=2, seed=9, difficulty=0.3)
    for slot, (label, index) in enumerate([(c, i) for c in range(7) for i in range(2)]):
        counts = synthesize_counts("gis", ds.classes[label], index, seed=9, difficulty=0.3)
        assert counts.dtype == np.int64 and counts.sum() > 0
        assert np.array_equal(ds.images[slot], normalize_counts(counts))


def test_difficulty_changes_the_images() -> None:
    a = synthesize("gis", per_class=2, seed=0, difficulty=0.0)
    b = synthesize("gis", per_class=2, seed=0, difficulty=1.0)
    assert not np.array_equal(a.images, b.images)
    assert 0.0 < DEFAULT_DIFFICULTY < 1.0


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"product": "cable"}, "unknown product 'cable'"),
        ({"per_class": 0}, "per_class"),
        ({"seed": -1}, "seed"),
        ({"difficulty": 1.5}, "difficulty"),
        ({"difficulty": float("nan")}, "difficulty"),
    ],
)
def test_bad_arguments_are_user_errors(kwargs: dict, fragment: str) -> None:
    with pytest.raises(UserError, match=fragment):
        synthesize(**{"per_class": 1, **kwargs})


# --- the histogram ------------------------------------------------------------------------------


def test_histogram_bins_wraps_and_saturates() -> None:
    phase = np.array([0.0, 2.99, 3.0, 359.9, -1.0, 725.0, 100.0, 100.0, 100.0])
    amp = np.array([0.0001, 0.5, 0.999, 0.2, 0.2, 0.2, 1.0, 3.7, 0.0])
    h = histogram(phase, amp)
    assert h.shape == (60, 120) and h.sum() == 8  # amplitude 0 was never detected
    assert h[0, 0] == 1 and h[30, 0] == 1 and h[59, 1] == 1
    assert h[12, 119] == 2  # 359.9 and -1 deg both land in the last phase bin
    assert h[12, 1] == 1  # 725 deg = 5 deg
    assert h[59, 33] == 2  # at and above full scale: clipped into the top bin


# --- class signatures (docs/PRPD.md section 3) -------------------------------------------------------


def test_conductor_protrusion_negative_cluster_in_220_310() -> None:
    for counts in clean("gis", "protrusion_conductor"):
        assert phase_share(counts, (220, 310)) > 0.6
        assert phase_share(counts, (220, 310), (55, 125)) > 0.99
        neg = amplitudes(counts, 220, 310)
        assert abs(np.median(neg) - 0.5) < 0.07  # narrow, ~N(0.5, 0.06)
        assert np.quantile(neg, 0.99) < 0.72
        pos = amplitudes(counts, 55, 125)
        if pos.size > 100:  # the positive cluster: fewer but larger pulses
            assert pos.size < neg.size and np.median(pos) > np.median(neg) + 0.1


def test_enclosure_protrusion_is_180_degrees_away() -> None:
    for counts in clean("gis", "protrusion_enclosure"):
        assert phase_share(counts, (40, 130)) > 0.6
        assert phase_share(counts, (40, 130), (235, 305)) > 0.99
    cond = sum(clean("gis", "protrusion_conductor")).sum(axis=0)
    encl = sum(clean("gis", "protrusion_enclosure")).sum(axis=0)
    shift = (int(np.argmax(encl)) - int(np.argmax(cond))) % 120 * 3
    assert 160 <= shift <= 200


def test_corona_in_oil_is_the_conductor_pattern() -> None:
    for counts in clean("transformer", "corona", n=6):
        assert phase_share(counts, (220, 310)) > 0.6


@pytest.mark.parametrize(
    ("product", "cls"), [("gis", "floating_electrode"), ("transformer", "floating")]
)
def test_floating_electrode_is_a_narrow_high_band_on_rising_flanks(product: str, cls: str) -> None:
    for counts in clean(product, cls):
        amp = amplitudes(counts)
        median = np.median(amp)
        assert 0.6 <= median <= 0.98
        assert np.mean(np.abs(amp - median) <= 0.12) > 0.95
        # rising flanks 0..90 and 180..270, widened by jitter and +-10 deg drift
        assert phase_share(counts, (340, 110), (160, 290)) > 0.97
        # equal in both halves
        pos, neg = amplitudes(counts, 0, 180), amplitudes(counts, 180, 360)
        assert abs(np.median(pos) - np.median(neg)) < 0.05


@pytest.mark.parametrize("product", sorted(PRODUCTS))
def test_void_lobes_sit_on_the_rising_flanks(product: str) -> None:
    shares = []
    for counts in clean(product, "void"):
        # "roughly 330..100 and 150..280": allow 10 deg for the rare very long time lags
        assert phase_share(counts, (320, 110), (140, 290)) > 0.85
        shares.append(phase_share(counts, (330, 100), (150, 280)))
        pos, neg = phase_share(counts, (330, 100)), phase_share(counts, (150, 280))
        assert 0.4 < pos / neg < 2.5  # two mirrored lobes
        # the lobes are empty around the voltage falling zero crossing
        assert phase_share(counts, (120, 140)) < phase_share(counts, (20, 40))
    assert np.median(shares) > 0.8


def test_surface_discharge_has_a_wing_and_one_dominant_polarity() -> None:
    for counts in clean("gis", "surface"):
        assert phase_share(counts, (345, 140), (165, 320)) > 0.99
        for lo in (0, 180):
            early, late = amplitudes(counts, lo, lo + 30), amplitudes(counts, lo + 60, lo + 95)
            # the wing: amplitudes grow toward the voltage peak
            assert np.quantile(late, 0.9) > np.quantile(early, 0.9) + 0.05
        pos, neg = amplitudes(counts, 0, 180), amplitudes(counts, 180, 360)
        big, small = (pos, neg) if pos.max() > neg.max() else (neg, pos)
        assert np.quantile(big, 0.95) > 1.3 * np.quantile(small, 0.95)
        assert big.size < small.size  # the larger polarity has fewer pulses


def test_transformer_surface_is_negative_dominant_and_opens_earlier() -> None:
    for counts in clean("transformer", "surface"):
        pos, neg = amplitudes(counts, 0, 180), amplitudes(counts, 180, 360)
        assert np.quantile(neg, 0.95) > np.quantile(pos, 0.95)
    total = sum(clean("transformer", "surface")).sum(axis=0)
    # pulses before the negative-going zero crossing (165..180) exist only in oil
    assert total[55:60].sum() > 0
    gis_total = sum(clean("gis", "surface")).sum(axis=0)
    assert gis_total[55:60].sum() == 0


@pytest.mark.parametrize(
    ("product", "cls"), [("gis", "free_particle"), ("transformer", "particle")]
)
def test_free_particle_covers_the_whole_cycle_with_scattered_amplitudes(
    product: str, cls: str
) -> None:
    for counts in clean(product, cls):
        for q in range(4):
            assert phase_share(counts, (q * 90, q * 90 + 90)) > 0.1
        amp = amplitudes(counts)
        assert np.quantile(amp, 0.9) > 2 * np.quantile(amp, 0.1)  # very scattered
    gis_peak = phase_share(sum(clean("gis", "free_particle")), (45, 135), (225, 315))
    oil_peak = phase_share(sum(clean("transformer", "particle")), (45, 135), (225, 315))
    assert oil_peak > gis_peak  # abs(sin)^2 is more peaked than abs(sin)^0.5


def test_noise_always_shows_the_031_band() -> None:
    profiles = []
    for counts in clean("gis", "noise", n=20):
        profile = counts.sum(axis=1).astype(float)
        profiles.append(profile / profile.sum())
        band_rows = counts[16:22]  # amplitude 0.27..0.37
        assert band_rows.sum() > 0.05 * counts.sum()
        # the band is phase independent: every quarter of the cycle holds some of it
        for q in range(4):
            assert band_rows[:, q * 30 : (q + 1) * 30].sum() > 0.1 * band_rows.sum()
    # over the class, the most common amplitude is the band's
    assert 16 <= int(np.argmax(np.median(profiles, axis=0))) <= 21


def test_default_difficulty_keeps_most_signatures() -> None:
    d = DEFAULT_DIFFICULTY
    cond = [synthesize_counts("gis", "protrusion_conductor", i, 11, d) for i in range(16)]
    share = [phase_share(c, (200, 330)) > 0.5 for c in cond]
    assert np.mean(share) >= 0.75
    encl = [synthesize_counts("gis", "protrusion_enclosure", i, 11, d) for i in range(16)]
    share = [phase_share(c, (20, 150)) > 0.5 for c in encl]
    assert np.mean(share) >= 0.75
    # nuisances are really there: the background band shows up in many non-noise records
    band = [synthesize_counts("gis", "void", i, 11, 1.0)[16:22].sum() for i in range(16)]
    clean_band = [synthesize_counts("gis", "void", i, 11, 0.0)[16:22].sum() for i in range(16)]
    assert np.median(band) != np.median(clean_band)
