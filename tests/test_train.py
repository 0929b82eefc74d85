"""Training, evaluation and their CLI verbs, on tiny data (a few images, 1-2 epochs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pd2java.cli import main
from pd2java.errors import UserError
from pd2java.training.checkpoint import load_checkpoint
from pd2java.training.data import Dataset, synthesize
from pd2java.training.evaluate import Report, evaluate, scores
from pd2java.training.train import (
    PRESETS,
    augment_batch,
    resolve_data,
    resolve_recipe,
    stratified_split,
    train,
)


@pytest.fixture(scope="module")
def tiny() -> Dataset:
    return synthesize("gis", per_class=4, seed=5)


@pytest.fixture(scope="module")
def trained(tiny: Dataset, tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("train") / "light.pt"
    ckpt = train(tiny, arch="light", out=path, epochs=2, batch_size=8, seed=11, progress=False)
    return path, ckpt


def test_same_seed_gives_identical_weights(tiny: Dataset, trained) -> None:
    _path, first = trained
    again = train(tiny, arch="light", epochs=2, batch_size=8, seed=11, progress=False)
    assert first.state_dict.keys() == again.state_dict.keys()
    for key, value in first.state_dict.items():
        assert torch.equal(value, again.state_dict[key]), key
    for a, b in zip(first.history, again.history):
        assert a["train_loss"] == b["train_loss"] and a["val_accuracy"] == b["val_accuracy"]
    other = train(tiny, arch="light", epochs=2, batch_size=8, seed=12, progress=False)
    assert not torch.equal(
        other.state_dict["classifier.weight"], first.state_dict["classifier.weight"]
    )
    # Training must not leave the process in deterministic mode.
    assert not torch.are_deterministic_algorithms_enabled()


def test_checkpoint_records_the_run(tiny: Dataset, trained) -> None:
    path, _ckpt = trained
    loaded = load_checkpoint(path)
    assert loaded.arch == "light" and loaded.classes == tiny.classes
    assert loaded.recipe["name"] == "default-light" and loaded.recipe["epochs"] == 2
    assert loaded.recipe["seed"] == 11 and loaded.recipe["batch_size"] == 8
    assert len(loaded.history) == 2 and [r["epoch"] for r in loaded.history] == [1, 2]
    m = loaded.metrics
    assert m["n_train"] + m["n_val"] == len(tiny) and m["n_val"] == 7  # one per class
    assert m["parameters"] == 202_950 + 257  # 7 classes
    best = max(loaded.history, key=lambda r: (r["val_accuracy"], -r["val_loss"]))
    assert m["best_epoch"] == best["epoch"] and m["val_accuracy"] == best["val_accuracy"]
    # The kept weights are the best epoch's: re-scoring the validation split reproduces them.
    _train_idx, val_idx = stratified_split(tiny.labels, 0.2, 11)
    model = loaded.build_model()
    with torch.no_grad():
        pred = model(torch.from_numpy(tiny.images[val_idx]).unsqueeze(1)).argmax(1).numpy()
    assert (pred == tiny.labels[val_idx]).mean() == pytest.approx(m["val_accuracy"])


def test_lenet_trains_and_uses_the_sigmoid_head(tiny: Dataset) -> None:
    ckpt = train(
        tiny,
        arch="PDModel",
        epochs=1,
        batch_size=16,
        val_fraction=0.0,
        head="sigmoid",
        seed=0,
        progress=False,
    )
    assert ckpt.arch == "lenet" and ckpt.config["head"] == "sigmoid"
    assert ckpt.metrics["val_accuracy"] is None and ckpt.metrics["n_train"] == len(tiny)
    out = ckpt.build_model()(torch.rand(2, 1, 60, 120))
    assert out.shape == (2, 7) and bool(((out > 0) & (out < 1)).all())


def test_stratified_split_keeps_class_proportions() -> None:
    labels = np.repeat(np.arange(3), [10, 20, 5])
    train_idx, val_idx = stratified_split(labels, 0.2, seed=0)
    assert np.bincount(labels[val_idx]).tolist() == [2, 4, 1]
    assert sorted(np.concatenate([train_idx, val_idx]).tolist()) == list(range(35))
    again, _ = stratified_split(labels, 0.2, seed=0)
    assert np.array_equal(again, train_idx)
    assert not np.array_equal(stratified_split(labels, 0.2, seed=1)[1], val_idx)
    with pytest.raises(UserError, match="val-fraction"):
        stratified_split(labels, 1.0, seed=0)


def test_augmentation_is_small_phase_jitter_and_amplitude_gain() -> None:
    torch.manual_seed(0)
    x = torch.rand(16, 1, 60, 120)
    x[3] = 0.0  # an empty image stays empty
    recipe = PRESETS["default-light"]
    out = augment_batch(x, torch.Generator().manual_seed(1), recipe)
    assert out.shape == x.shape
    assert torch.all(out[3] == 0)
    assert torch.allclose(out.flatten(1)[[i for i in range(16) if i != 3]].amax(1), torch.ones(15))
    # Without gain, each image is its original rolled in phase by at most 6 bins (18 degrees).
    no_gain = type(recipe)(**{**recipe.__dict__, "gain_range": (1.0, 1.0)})
    rolled = augment_batch(x, torch.Generator().manual_seed(2), no_gain)
    for i in range(16):
        if i == 3:
            continue
        matches = [
            s
            for s in range(-6, 7)
            if torch.allclose(rolled[i], torch.roll(x[i], s, dims=2) / x[i].max(), atol=1e-5)
        ]
        assert len(matches) == 1, i
    # A gain above 1 moves a pulse to a higher amplitude bin; phase is untouched.
    dot = torch.zeros(1, 1, 60, 120)
    dot[0, 0, 20, 50] = 1.0
    up = type(recipe)(**{**recipe.__dict__, "gain_range": (1.5, 1.5), "phase_shift_bins": 0})
    moved = augment_batch(dot, torch.Generator().manual_seed(0), up)[0, 0]
    row, col = divmod(int(moved.argmax()), 120)
    assert col == 50 and 29 <= row <= 31  # (20 + 0.5) * 1.5 - 0.5 = 30.25


def test_recipes_and_overrides() -> None:
    assert resolve_recipe("light").name == "default-light"
    seed_light = resolve_recipe("light", "seed-light")
    assert (seed_light.epochs, seed_light.batch_size, seed_light.lr) == (53, 4, 1e-4)
    assert seed_light.lr_steps == ((36, 0.1),)
    seed_lenet = resolve_recipe("lenet", "seed-lenet", epochs=3, lr=2e-3)
    assert (seed_lenet.epochs, seed_lenet.batch_size, seed_lenet.lr) == (3, 64, 2e-3)
    with pytest.raises(UserError, match="unknown preset 'fast'"):
        resolve_recipe("light", "fast")
    with pytest.raises(UserError, match="--epochs must be at least 1"):
        resolve_recipe("light", epochs=0)
    with pytest.raises(UserError, match="--lr must be a positive"):
        resolve_recipe("light", lr=float("nan"))


def test_seed_light_steps_the_learning_rate() -> None:
    from pd2java.training.train import _step_lr

    recipe = PRESETS["seed-light"]
    assert _step_lr(recipe, 35) == pytest.approx(1e-4)
    assert _step_lr(recipe, 36) == pytest.approx(1e-5)


def test_resolve_data_specs(tmp_path: Path) -> None:
    data, source = resolve_data("synth:transformer?per_class=2&seed=3")
    assert len(data) == 12 and data.classes[0] == "corona"
    assert source == "synth:transformer?per_class=2&seed=3"
    for spec, message in [
        ("synth:cable", "unknown product 'cable'"),
        ("synth:gis?per_klass=2", "unknown option 'per_klass'"),
        ("synth:gis?per_class=many", "not a number"),
        (str(tmp_path / "nowhere"), "not found"),
    ]:
        with pytest.raises(UserError, match=message):
            resolve_data(spec)


def test_scores_by_hand() -> None:
    true = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 1, 1])
    report = scores(true, pred, ("a", "b", "c"))
    assert report.confusion == ((2, 1, 0), (0, 2, 0), (0, 1, 0))
    assert report.accuracy == pytest.approx(4 / 6)
    assert report.precision[:2] == pytest.approx((1.0, 2 / 4))
    assert np.isnan(report.precision[2])  # never predicted
    assert report.recall == pytest.approx((2 / 3, 1.0, 0.0))
    table = report.table()
    assert "accuracy 66.67% on 6 images" in table
    assert table.splitlines()[3].split() == ["p0", "a", "2", "1", "0", "66.7%", "100.0%"]
    assert table.splitlines()[5].split()[-2:] == ["0.0%", "-"]
    assert report.to_dict()["precision"]["c"] is None


def test_evaluate_writes_report_and_png(tiny: Dataset, trained, tmp_path: Path) -> None:
    path, ckpt = trained
    report = evaluate(path, tiny, out_dir=tmp_path / "rep")
    assert isinstance(report, Report) and report.n == len(tiny)
    model = ckpt.build_model()
    with torch.no_grad():
        pred = model(torch.from_numpy(tiny.images).unsqueeze(1)).argmax(1).numpy()
    assert report.accuracy == pytest.approx((pred == tiny.labels).mean())
    assert sum(map(sum, report.confusion)) == len(tiny)
    files = sorted(p.name for p in (tmp_path / "rep").iterdir())
    assert files == ["confusion.png", "index.html", "report.json", "report.txt"]
    assert json.loads((tmp_path / "rep" / "report.json").read_text())["n"] == len(tiny)
    with Image.open(tmp_path / "rep" / "confusion.png") as png:
        assert png.format == "PNG" and png.size[0] > 200
    # Classes in another order are matched by name, not by index.
    order = np.array([6, 5, 4, 3, 2, 1, 0])
    shuffled = Dataset(
        tiny.images, order[tiny.labels].astype(np.int64), tuple(tiny.classes[i] for i in order)
    )
    assert evaluate(path, shuffled).confusion == report.confusion


def test_evaluate_refuses_unknown_classes(tiny: Dataset, trained) -> None:
    foreign = Dataset(tiny.images[:4], np.array([0, 1, 0, 1]), ("void", "arcing"))
    with pytest.raises(UserError, match="class\\(es\\) the model does not know: arcing"):
        evaluate(trained[0], foreign)


def test_cli_train_and_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "m.pt"
    data = "synth:gis?per_class=3&seed=1"
    code = main(
        [
            "train",
            data,
            "--arch",
            "light",
            "-o",
            str(model),
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--seed",
            "4",
            "--val-fraction",
            "0.34",
            "--threads",
            "2",
            "-q",
        ]
    )
    assert code == 0 and model.is_file()
    assert "wrote" in capsys.readouterr().out
    ckpt = load_checkpoint(model)
    assert ckpt.recipe["val_fraction"] == 0.34 and ckpt.metrics["torch_threads"] == 2
    assert torch.get_num_threads() == 1  # the module's setting is restored after the run
    code = main(["evaluate", str(model), data, "-o", str(tmp_path / "rep")])
    out = capsys.readouterr().out
    assert code == 0 and "accuracy" in out and "protrusion_conductor" in out
    assert (tmp_path / "rep" / "confusion.png").is_file()


def test_cli_bad_inputs_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00" * 100)
    assert main(["evaluate", str(junk), "synth:gis?per_class=1"]) == 1
    assert "junk.pt" in capsys.readouterr().err
    assert (
        main(["train", "synth:gis?per_class=2", "--arch", "vgg", "-o", str(tmp_path / "x.pt")]) == 1
    )
    assert "unknown architecture 'vgg'" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_train_from_a_dataset_folder(tiny: Dataset, tmp_path: Path) -> None:
    from pd2java.training.data import save_dataset

    folder = save_dataset(tiny, tmp_path / "ds", preview=False)
    model = tmp_path / "lenet.pt"
    assert (
        main(
            [
                "train",
                str(folder),
                "--arch",
                "lenet",
                "-o",
                str(model),
                "--epochs",
                "1",
                "--preset",
                "seed-lenet",
                "-q",
            ]
        )
        == 0
    )
    ckpt = load_checkpoint(model)
    assert ckpt.classes == tiny.classes and ckpt.recipe["data"] == str(folder)
    assert ckpt.recipe["name"] == "seed-lenet" and ckpt.recipe["batch_size"] == 64
    report = evaluate(model, folder)
    assert report.n == len(tiny)


def test_unwritable_outputs_fail_before_any_work(tiny: Dataset, trained, tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match="is not a folder"):
        train(tiny, arch="light", out=blocker / "m.pt", epochs=1, progress=False)
    with pytest.raises(UserError, match="it is a directory"):
        train(tiny, arch="light", out=tmp_path, epochs=1, progress=False)
    with pytest.raises(UserError, match="exists and is not a folder"):
        evaluate(trained[0], tiny, out_dir=blocker)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]
