"""PRPS -> PRPD conversion and the ``pd2java data`` command line (run in-process via cli.main)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pd2java.cli import main
from pd2java.errors import UserError
from pd2java.training.data import PRODUCTS, load_dataset, normalize_counts, prps_to_prpd, synthesize
from pd2java.training.data.prps import phase_overlap, prps_counts


def corona_prps(cycles: int = 3600, windows: int = 128, seed: int = 0) -> np.ndarray:
    """A uint8 PRPS record of negative corona: peaks near 267 deg at ~half of full scale."""
    rng = np.random.default_rng(seed)
    prps = np.zeros((cycles, windows), dtype=np.uint8)
    centre = int(267 / 360 * windows)
    for offset in range(-3, 4):
        hit = rng.random(cycles) < 0.6
        values = np.clip(rng.normal(128, 10, cycles), 1, 255).astype(np.uint8)
        prps[hit, centre + offset] = values[hit]
    return prps


def test_known_entries_land_in_the_right_bins() -> None:
    prps = np.zeros((10, 120), dtype=np.uint8)
    prps[0, 0] = 255  # full scale -> top bin
    prps[1, 0] = 255
    prps[2, 60] = 128  # 128/255*60 = 30.1 -> bin 30, phase 180 deg
    prps[3, 119] = 1  # smallest detectable -> bin 0
    counts = prps_counts(prps)
    assert counts.sum() == 4  # zeros are "no pulse" and not counted
    assert counts[59, 0] == 2 and counts[30, 60] == 1 and counts[0, 119] == 1
    image = prps_to_prpd(prps)
    assert image.dtype == np.float32 and image.shape == (60, 120)
    assert np.array_equal(image, normalize_counts(counts))


def test_amplitude_max_sets_full_scale() -> None:
    prps = np.array([[0.5, 0.0], [0.25, 1.0]])
    counts = prps_counts(prps, amplitude_max=2.0)
    assert counts.sum() == pytest.approx(3.0)
    # window 0 (0..180 deg) amplitudes 0.25 and 0.125 of full scale -> bins 15 and 7
    assert counts[15, :60].sum() == pytest.approx(1.0) and counts[7, :60].sum() == pytest.approx(1)
    assert counts[30, 60:].sum() == pytest.approx(1.0)
    with pytest.raises(UserError, match="amplitude_max"):
        prps_counts(prps, amplitude_max=0)


def test_128_windows_share_counts_without_stripes() -> None:
    overlap = phase_overlap(128)
    assert overlap.shape == (128, 120) and np.allclose(overlap.sum(axis=1), 1.0)
    uniform = np.full((100, 128), 200, dtype=np.uint8)
    counts = prps_counts(uniform)
    assert counts.sum() == pytest.approx(100 * 128)
    per_phase = counts.sum(axis=0)
    assert np.allclose(per_phase, per_phase.mean())  # every 3-degree bin gets the same share


def test_corona_record_converts_to_the_conductor_signature() -> None:
    image = prps_to_prpd(corona_prps())
    per_phase = image.sum(axis=0)
    peak_deg = (int(np.argmax(per_phase)) + 0.5) * 3
    assert 255 <= peak_deg <= 280
    per_amp = prps_counts(corona_prps()).sum(axis=1)
    mean_bin = float((per_amp * np.arange(60)).sum() / per_amp.sum())
    assert 29 <= mean_bin <= 31  # 128/255 of full scale


def test_full_scale_follows_the_data_type_not_the_file() -> None:
    rec = corona_prps(cycles=100)
    want = prps_to_prpd(rec)  # uint8: full scale 255
    assert np.array_equal(prps_to_prpd(rec.astype(np.float64)), want)  # e.g. read from CSV
    assert np.array_equal(prps_to_prpd(rec.astype(np.int64)), want)
    assert np.array_equal(prps_to_prpd(rec.astype(np.float32) / 255), want)
    sixteen = rec.astype(np.uint16) * 257  # same amplitudes in 16-bit
    assert np.array_equal(prps_to_prpd(sixteen), want)
    with pytest.raises(UserError, match="--amplitude-max"):
        prps_to_prpd(rec.astype(np.float64) * 1000)
    assert prps_to_prpd(rec.astype(np.float64) * 1000, amplitude_max=255000).any()


@pytest.mark.parametrize(
    ("prps", "rule"),
    [
        (np.zeros(10), "2-D"),
        (np.array([[1.0, np.nan]]), "NaN or infinity at \\(cycle 0, window 1\\)"),
        (np.array([[1, -3]]), "negative amplitude -3 at \\(cycle 0, window 1\\)"),
        (np.array([["a"]]), "not a real number type"),
    ],
)
def test_bad_prps_is_refused(prps: np.ndarray, rule: str) -> None:
    with pytest.raises(UserError, match=rule):
        prps_to_prpd(prps)


# --- command line -------------------------------------------------------------------------------


def test_cli_synth_writes_a_loadable_dataset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "gis"
    code = main(
        [
            "data",
            "synth",
            "--per-class",
            "3",
            "--seed",
            "4",
            "--difficulty",
            "0.2",
            "-q",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    assert "wrote 21 images" in capsys.readouterr().out
    ds = load_dataset(out)
    assert ds.classes == PRODUCTS["gis"]
    assert np.array_equal(ds.images, synthesize("gis", 3, 4, 0.2).images)
    info = json.loads((out / "classes.json").read_text())
    assert info["seed"] == 4 and info["difficulty"] == 0.2 and info["product"] == "gis"
    assert (out / "preview.png").stat().st_size > 1000
    assert np.load(out / "noise" / "2.npy").shape == (60, 120)


def test_cli_synth_errors_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["data", "synth", "--per-class", "1", "-q", "-o", str(blocker)]) == 1
    assert "output path is a file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["data", "synth", "--difficulty", "2", "-o", str(tmp_path / "x")])
    assert "must be in [0, 1]" in capsys.readouterr().err


def test_cli_from_prps_folder_becomes_a_dataset(tmp_path: Path) -> None:
    src = tmp_path / "prps"
    (src / "corona").mkdir(parents=True)
    (src / "noise").mkdir()
    np.save(src / "corona" / "r1.npy", corona_prps(cycles=600))
    np.savetxt(src / "corona" / "r2.csv", corona_prps(cycles=300, seed=1), delimiter=",", fmt="%d")
    rng = np.random.default_rng(3)
    noise = (rng.random((600, 128)) < 0.2) * rng.integers(70, 90, (600, 128))
    np.save(src / "noise" / "n1.npy", noise.astype(np.uint8))
    (src / "classes.json").write_text(json.dumps(["noise", "corona"]))
    out = tmp_path / "prpd"
    assert main(["data", "from-prps", str(src), "-q", "-o", str(out)]) == 0
    ds = load_dataset(out)
    assert ds.classes == ("noise", "corona")
    assert ds.labels.tolist() == [0, 1, 1]
    assert np.array_equal(ds.images[1], prps_to_prpd(corona_prps(cycles=600)))
    assert np.array_equal(ds.images[2], prps_to_prpd(corona_prps(cycles=300, seed=1)))


def test_cli_from_prps_single_file(tmp_path: Path) -> None:
    np.save(tmp_path / "rec.npy", corona_prps(cycles=200))
    assert (
        main(["data", "from-prps", str(tmp_path / "rec.npy"), "-o", str(tmp_path / "x.npy")]) == 0
    )
    assert np.array_equal(np.load(tmp_path / "x.npy"), prps_to_prpd(corona_prps(cycles=200)))
    assert main(["data", "from-prps", str(tmp_path / "rec.npy"), "-o", str(tmp_path / "d")]) == 0
    assert (tmp_path / "d" / "rec.npy").is_file()


def test_cli_from_prps_bad_file_writes_nothing(tmp_path: Path, capsys) -> None:
    src = tmp_path / "prps"
    src.mkdir()
    np.save(src / "a.npy", corona_prps(cycles=50))
    np.save(src / "b.npy", -np.ones((5, 128)))
    out = tmp_path / "out"
    assert main(["data", "from-prps", str(src), "-q", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert str(src / "b.npy") in err and "negative amplitude" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prps"]  # no output, no temp folder


def test_cli_preview(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    main(
        [
            "data",
            "synth",
            "--product",
            "transformer",
            "--per-class",
            "2",
            "-q",
            "--no-preview",
            "-o",
            str(tmp_path / "t"),
        ]
    )
    assert not (tmp_path / "t" / "preview.png").exists()
    assert main(["data", "preview", str(tmp_path / "t"), "-o", str(tmp_path / "p.png")]) == 0
    assert "12 images" in capsys.readouterr().out
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
