"""Datasets on disk: save/load round trips, the PNG row convention, raw counts, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pd2java.errors import UserError
from pd2java.training.data import Dataset, load_dataset, load_image, normalize_counts, save_dataset
from pd2java.training.data.io import write_png


def ramp_image() -> np.ndarray:
    """Distinct values everywhere, brightest at high amplitude and late phase."""
    a = np.linspace(0.0, 1.0, 60, dtype=np.float32)[:, None]
    p = np.linspace(0.2, 1.0, 120, dtype=np.float32)[None, :]
    return (a * p).astype(np.float32)


def tiny_dataset() -> Dataset:
    rng = np.random.default_rng(0)
    images = rng.random((5, 60, 120)).astype(np.float32)
    labels = np.array([1, 0, 1, 2, 0], dtype=np.int64)
    return Dataset(images, labels, ("zeta", "alpha", "mid"))


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_save_then_load_round_trips_in_class_order(tmp_path: Path) -> None:
    ds = tiny_dataset()
    out = save_dataset(ds, tmp_path / "ds")
    assert out == (tmp_path / "ds").absolute()
    assert sorted(p.name for p in out.iterdir()) == [
        "alpha",
        "classes.json",
        "mid",
        "preview.png",
        "zeta",
    ]
    assert sorted(p.name for p in (out / "zeta").iterdir()) == ["0.npy", "1.npy"]
    info = json.loads((out / "classes.json").read_text())
    assert info["classes"] == ["zeta", "alpha", "mid"]  # not alphabetical: the file fixes it
    assert Image.open(out / "preview.png").format == "PNG"
    back = load_dataset(out)
    assert back.classes == ds.classes
    order = np.argsort(ds.labels, kind="stable")  # saved grouped by class, index order kept
    assert np.array_equal(back.labels, ds.labels[order])
    assert np.array_equal(back.images, ds.images[order])
    assert back.sources[0].endswith("zeta/0.npy")
    assert leftovers(tmp_path) == []


def test_save_replaces_its_own_dataset_but_not_a_foreign_folder(tmp_path: Path) -> None:
    ds = tiny_dataset()
    save_dataset(ds, tmp_path / "ds", preview=False)
    smaller = ds.subset([0, 1, 3])
    save_dataset(smaller, tmp_path / "ds", preview=False)
    assert len(load_dataset(tmp_path / "ds")) == 3
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"x")
    with pytest.raises(UserError, match="not empty"):
        save_dataset(ds, foreign)
    assert [p.name for p in foreign.iterdir()] == ["cat.jpg"]
    assert leftovers(tmp_path) == []


def test_output_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.write_text("keep me")
    with pytest.raises(UserError, match=r"out: output path is a file"):
        save_dataset(tiny_dataset(), target)
    assert target.read_text() == "keep me"


def test_failed_save_leaves_nothing_behind(tmp_path: Path) -> None:
    bad = Dataset(np.full((2, 60, 120), 2.0, np.float32), np.array([0, 1]), ("a", "b"))
    with pytest.raises(UserError, match=r"\[0, 1\]"):
        save_dataset(bad, tmp_path / "ds")
    assert list(tmp_path.iterdir()) == []


def make_folder(root: Path, files: dict[str, object]) -> Path:
    """Write {relative path: array or bytes or str} under root."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, np.ndarray):
            np.save(path, content)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(str(content))
    return root


def test_folder_without_classes_json_sorts_classes_and_files_naturally(tmp_path: Path) -> None:
    img = ramp_image()
    make_folder(
        tmp_path,
        {
            "void/10.npy": img * 0.5,
            "void/2.npy": img,
            "corona/a.npy": img,
            "corona/notes.txt": "ignored",
        },
    )
    ds = load_dataset(tmp_path)
    assert ds.classes == ("corona", "void")
    assert ds.labels.tolist() == [0, 1, 1]
    assert ds.sources[1].endswith("2.npy") and ds.sources[2].endswith("10.npy")
    assert np.array_equal(ds.images[2], img * 0.5)


def test_csv_and_raw_counts_are_read_and_log_normalised(tmp_path: Path) -> None:
    counts = np.zeros((60, 120), dtype=np.int64)
    counts[30, 10] = 1000
    counts[5, 100] = 3
    np.savetxt(tmp_path / "counts.csv", counts, delimiter=",", fmt="%d")
    np.savetxt(tmp_path / "counts_ws.csv", counts, fmt="%d")
    np.save(tmp_path / "counts.npy", counts.astype(np.uint16))
    want = normalize_counts(counts)
    for name in ("counts.csv", "counts_ws.csv", "counts.npy"):
        got = load_image(tmp_path / name)
        assert got.dtype == np.float32 and np.array_equal(got, want), name
    assert got[30, 10] == 1.0 and got[5, 100] == pytest.approx(np.log(4) / np.log(1001))
    normalised = ramp_image()
    np.savetxt(tmp_path / "norm.csv", normalised, delimiter=",")
    assert np.allclose(load_image(tmp_path / "norm.csv"), normalised)  # kept, not re-scaled


def test_png_row_zero_is_the_highest_amplitude(tmp_path: Path) -> None:
    pixels = np.zeros((60, 120), dtype=np.uint8)
    pixels[0, 7] = 255  # top row of the picture
    pixels[59, 8] = 51  # bottom row
    Image.fromarray(pixels, mode="L").save(tmp_path / "p8.png")
    img = load_image(tmp_path / "p8.png")
    assert img[59, 7] == 1.0  # top of the PNG = full-scale amplitude bin
    assert img[0, 8] == pytest.approx(0.2)
    assert img.sum() == pytest.approx(1.2)


def test_png_16bit_round_trip_through_write_png(tmp_path: Path) -> None:
    img = ramp_image()
    write_png(img, tmp_path / "r.png")
    with Image.open(tmp_path / "r.png") as im:
        assert im.mode.startswith("I")
        top_row = np.asarray(im)[0]
    assert top_row.max() == 65535  # the brightest, highest-amplitude row is at the top
    assert np.abs(load_image(tmp_path / "r.png") - img).max() < 1e-4


@pytest.mark.parametrize(
    ("name", "content", "rule"),
    [
        ("wide.npy", np.zeros((60, 128), np.float32), r"shape \(60, 128\) is not \(60, 120\)"),
        ("t.npy", np.zeros((120, 60), np.float32), "looks transposed"),
        ("nan.npy", np.full((60, 120), np.nan, np.float32), "NaN"),
        ("neg.npy", -np.ones((60, 120), np.float32), "negative value -1"),
        ("frac.npy", np.full((60, 120), 2.5), "not whole numbers"),
        ("text.npy", np.array([["a"] * 120] * 60), "not a real number type"),
        ("junk.npy", b"\x00\x01garbage", "cannot read|not a plain numeric"),
        ("junk.png", b"\x89PNG\r\n\x1a\nnope", "cannot read PNG"),
        ("bad.csv", "1,2,x\n", "not a table of numbers"),
    ],
)
def test_bad_image_files_name_the_file_and_the_rule(
    tmp_path: Path, name: str, content: object, rule: str
) -> None:
    make_folder(tmp_path, {f"a/{name}": content, "b/ok.npy": ramp_image()})
    with pytest.raises(UserError, match=rule) as err:
        load_dataset(tmp_path)
    assert str(tmp_path / "a" / name) in str(err.value)


def test_colour_png_is_refused(tmp_path: Path) -> None:
    Image.new("RGB", (120, 60)).save(tmp_path / "c.png")
    with pytest.raises(UserError, match=r"c.png: PNG mode 'RGB' is not grayscale"):
        load_image(tmp_path / "c.png")


def test_pickled_npy_is_refused_not_loaded(tmp_path: Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UserError, match="obj.npy: not a plain numeric"):
        load_image(tmp_path / "obj.npy")


def test_folder_structure_errors(tmp_path: Path) -> None:
    img = ramp_image()
    with pytest.raises(UserError, match="does not exist"):
        load_dataset(tmp_path / "nope")
    make_folder(tmp_path / "one", {"void/0.npy": img})
    with pytest.raises(UserError, match="at least 2"):
        load_dataset(tmp_path / "one")
    make_folder(tmp_path / "empty", {"void/0.npy": img, "noise/readme.txt": "no images"})
    with pytest.raises(UserError, match=r"noise: class folder 'noise' holds no images"):
        load_dataset(tmp_path / "empty")
    make_folder(
        tmp_path / "listed",
        {"a/0.npy": img, "b/0.npy": img, "classes.json": json.dumps(["a", "c"])},
    )
    with pytest.raises(UserError, match=r"lists \['c'\] but there is no such folder"):
        load_dataset(tmp_path / "listed")
    make_folder(
        tmp_path / "extra",
        {"a/0.npy": img, "b/0.npy": img, "classes.json": json.dumps({"classes": ["a"]})},
    )
    with pytest.raises(UserError, match=r"folders \['b'\] are not in classes.json"):
        load_dataset(tmp_path / "extra")
    make_folder(tmp_path / "badjson", {"a/0.npy": img, "classes.json": "{"})
    with pytest.raises(UserError, match="classes.json: cannot read class list"):
        load_dataset(tmp_path / "badjson")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        load_dataset(tmp_path / "file")


def test_dataset_rejects_inconsistent_arrays() -> None:
    with pytest.raises(UserError, match=r"shape \(N, 60, 120\)"):
        Dataset(np.zeros((2, 60, 60), np.float32), np.zeros(2, np.int64), ("a", "b"))
    with pytest.raises(UserError, match="labels must lie in 0..1"):
        Dataset(np.zeros((2, 60, 120), np.float32), np.array([0, 2]), ("a", "b"))
    with pytest.raises(UserError, match="float32"):
        Dataset(np.zeros((2, 60, 120)), np.array([0, 1]), ("a", "b"))


def test_normalize_counts_edge_cases() -> None:
    assert not normalize_counts(np.zeros((60, 120))).any()
    ones = normalize_counts(np.eye(3))
    assert ones.dtype == np.float32 and np.array_equal(ones, np.eye(3, dtype=np.float32))
    with pytest.raises(UserError, match=">= 0"):
        normalize_counts(np.array([1.0, -1.0]))
