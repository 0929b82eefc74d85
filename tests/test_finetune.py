"""Fine-tuning from a pretrained checkpoint (``train(init=...)``, ``--freeze``, the finetune
preset, ``pd2java pretrain`` and the shipped pretrained models), on tiny data."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from pd2java.cli import main
from pd2java.errors import UserError
from pd2java.training import finetune as ft
from pd2java.training.checkpoint import load_checkpoint, save_checkpoint
from pd2java.training.data import PRODUCTS, Dataset, synthesize
from pd2java.training.train import INIT_LR_FACTOR, PRESETS, augment_batch, resolve_recipe, train

GIS = PRODUCTS["gis"]


@pytest.fixture(scope="module")
def tiny() -> Dataset:
    return synthesize("gis", per_class=3, seed=5)


@pytest.fixture(scope="module")
def parent(tiny: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("parent") / "parent.pt"
    train(tiny, arch="light", out=path, epochs=1, batch_size=8, seed=1, progress=False, threads=1)
    return path


def _relabel(ds: Dataset, names: dict[str, str]) -> Dataset:
    """The images of ``ds``'s classes named in ``names`` (old -> new name), in that order."""
    keep = [ds.classes.index(old) for old in names]
    idx = np.flatnonzero(np.isin(ds.labels, keep))
    labels = np.array([keep.index(int(c)) for c in ds.labels[idx]], dtype=np.int64)
    return Dataset(images=ds.images[idx], labels=labels, classes=tuple(names.values()))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_classes_are_matched_by_name(parent: Path) -> None:
    loaded = ft.load_parent(parent)
    p = loaded.checkpoint.state_dict
    classes = ["noise", "arcing", "void"]  # two known (reordered), one new; five dropped
    torch.manual_seed(0)
    model, record = ft.init_from_parent(loaded, classes, None)
    state = model.state_dict()
    assert state["classifier.weight"].shape == (3, 256) and state["classifier.bias"].shape == (3,)
    for row, name in ((0, "noise"), (2, "void")):
        old = GIS.index(name)
        assert torch.equal(state["classifier.weight"][row], p["classifier.weight"][old])
        assert torch.equal(state["classifier.bias"][row], p["classifier.bias"][old])
    new_row = state["classifier.weight"][1]
    assert not any(torch.equal(new_row, r) for r in p["classifier.weight"])
    # everything else is the parent's, BN statistics included
    for key, value in p.items():
        if not key.startswith("classifier."):
            assert torch.equal(state[key], value), key
    assert record["kept_classes"] == ["noise", "void"] and record["new_classes"] == ["arcing"]
    assert record["dropped_classes"] == [c for c in GIS if c not in ("noise", "void")]
    assert record["sha256"] == _sha(parent)


def test_recipe_records_parent_and_lower_lr(tiny: Dataset, parent: Path, tmp_path: Path) -> None:
    data = _relabel(tiny, {"void": "void", "noise": "noise", "surface": "tracking"})
    out = tmp_path / "child.pt"
    child = train(data, init=parent, out=out, epochs=1, progress=False, threads=1)
    saved = load_checkpoint(out)
    assert saved.classes == ("void", "noise", "tracking") and saved.arch == "light"
    init = saved.recipe["init"]
    assert init["sha256"] == _sha(parent) and Path(init["path"]) == parent.resolve()
    assert init["new_classes"] == ["tracking"] and "surface" in init["dropped_classes"]
    assert saved.recipe["lr"] == pytest.approx(PRESETS["default-light"].lr * INIT_LR_FACTOR)
    assert child.recipe["freeze"] is None
    # An explicit lr wins; the finetune preset keeps its own lr.
    assert resolve_recipe("light", init=True, lr=0.01).lr == 0.01
    assert resolve_recipe("light", "finetune", init=True).lr == PRESETS["finetune"].lr


@pytest.mark.parametrize("part", ["stem", "features"])
def test_freeze_keeps_weights_and_bn_statistics(tiny: Dataset, parent: Path, part: str) -> None:
    before = load_checkpoint(parent).state_dict
    child = train(tiny, init=parent, freeze=part, epochs=1, lr=0.05, progress=False, threads=1)
    after = child.state_dict
    frozen = ft.FREEZE["light"][part]
    for key, value in before.items():
        is_frozen = key.split(".")[0] in frozen
        if is_frozen:  # weights, running statistics and batch counters alike
            assert torch.equal(after[key], value), key
        elif key.endswith(".weight") and key.startswith(("blocks.8", "classifier")):
            assert not torch.equal(after[key], value), f"{key} should have trained"
    assert child.recipe["freeze"] == {"part": part, "modules": list(frozen)}
    assert child.metrics["trainable_parameters"] < child.metrics["parameters"]


def test_frozen_bn_layers_stay_in_eval_mode(parent: Path) -> None:
    model = ft.load_parent(parent).checkpoint.build_model()
    frozen = ft.freeze(model, "stem")
    ft.train_mode(model, frozen)
    assert not model.stem[1].training and model.blocks[0].conv[1].training
    assert not any(p.requires_grad for p in model.stem.parameters())


def test_lenet_freeze_stem_is_the_first_conv(tiny: Dataset, tmp_path: Path) -> None:
    lenet = tmp_path / "lenet.pt"
    train(tiny, arch="lenet", out=lenet, epochs=1, progress=False, threads=1)
    before = load_checkpoint(lenet).state_dict
    child = train(tiny, init=lenet, freeze="stem", epochs=1, lr=0.01, progress=False, threads=1)
    after = child.state_dict
    assert torch.equal(after["features.0.weight"], before["features.0.weight"])
    assert not torch.equal(after["features.3.weight"], before["features.3.weight"])


def test_refusals(tiny: Dataset, parent: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"'light' checkpoint but --arch 'lenet'"):
        train(tiny, init=parent, arch="lenet", epochs=1, progress=False)
    other_shape = load_checkpoint(parent)
    spec = {**other_shape.input_spec, "shape": [1, 30, 120]}
    odd = tmp_path / "odd.pt"
    save_checkpoint(replace(other_shape, input_spec=spec), odd)
    with pytest.raises(UserError, match=r"shape \[1, 30, 120\].*\[1, 60, 120\]"):
        train(tiny, init=odd, epochs=1, progress=False)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(UserError, match=r"--init .*junk.pt: (refusing to load|.*not a PyTorch)"):
        train(tiny, init=junk, epochs=1, progress=False)
    bare = tmp_path / "bare.pt"
    torch.save(load_checkpoint(parent).state_dict, bare)
    with pytest.raises(UserError, match=r"--init .*bare state dict"):
        train(tiny, init=bare, epochs=1, progress=False)
    with pytest.raises(UserError, match=r"--init nowhere.pt: no such .* \(gis, transformer\)"):
        train(tiny, init="nowhere.pt", epochs=1, progress=False)
    with pytest.raises(UserError, match="--freeze must be"):
        train(tiny, init=parent, freeze="head", epochs=1, progress=False)


def test_shipped_pretrained_models_load_and_record_their_recipe() -> None:
    for name, product in (("gis", "gis"), ("transformer", "transformer")):
        path = ft.pretrained_path(name)
        assert path.stat().st_size < 1_000_000
        ckpt = load_checkpoint(path)
        assert ckpt.arch == "light" and ckpt.classes == PRODUCTS[product]
        pre = ckpt.recipe["pretrain"]
        assert pre["product"] == product and pre["command"].startswith("pd2java pretrain")
        assert pre["synth"]["source_sha256"]


def test_init_gis_works_out_of_the_box(tiny: Dataset) -> None:
    child = train(tiny, init="gis", epochs=1, progress=False, threads=1)
    init = child.recipe["init"]
    assert init["shipped"] == "gis" and init["sha256"] == _sha(ft.pretrained_path("gis"))
    assert init["kept_classes"] == list(GIS)


def test_early_stopping_with_tiny_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    # Features frozen (BN statistics fixed) and an lr too small to move the head: validation
    # never improves after epoch 1, so training stops after 1 + patience epochs.
    still = replace(PRESETS["finetune"], name="still", epochs=6, patience=1, lr=1e-12)
    monkeypatch.setitem(PRESETS, "still", still)
    two = synthesize("gis", per_class=2, seed=9)  # 1 training + 1 validation image per class
    ckpt = train(two, preset="still", freeze="features", progress=False, threads=1)
    assert ckpt.metrics["n_val"] == 7 and ckpt.metrics["epochs_run"] == 2
    one = synthesize("gis", per_class=1, seed=9)  # no validation split: no early stopping
    ckpt = train(one, preset="still", epochs=3, progress=False, threads=1)
    assert ckpt.metrics["n_val"] == 0 and ckpt.metrics["epochs_run"] == 3


def test_finetune_augmentation_stays_an_image(tiny: Dataset) -> None:
    x = torch.from_numpy(tiny.images[:8]).unsqueeze(1)
    out = augment_batch(x, torch.Generator().manual_seed(0), PRESETS["finetune"])
    assert out.min() >= 0 and torch.allclose(out.amax(dim=(1, 2, 3)), torch.ones(8))
    assert not torch.equal(out, x)


def test_cli_pretrain_then_train_init(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pre = tmp_path / "pre.pt"
    argv = ["pretrain", "--product", "transformer", "--per-class", "2", "--epochs", "1"]
    assert main([*argv, "-o", str(pre), "-q"]) == 0
    text = capsys.readouterr().out
    assert "regenerate with: pd2java pretrain --product transformer --per-class 2" in text
    pretrained = load_checkpoint(pre)
    assert pretrained.recipe["pretrain"]["per_class"] == 2
    assert pretrained.recipe["data"] == "synth:transformer?per_class=2&seed=100&difficulty=0.6"

    child = tmp_path / "child.pt"
    data = "synth:transformer?per_class=2&seed=7"
    code = main(
        ["train", data, "--init", str(pre), "--preset", "finetune", "--freeze", "features"]
        + ["--epochs", "1", "-o", str(child), "-q"]
    )
    text = capsys.readouterr().out
    assert code == 0, text
    assert "fine-tuned from" in text and "frozen: stem, blocks, last" in text
    saved = load_checkpoint(child)
    assert saved.recipe["init"]["sha256"] == _sha(pre) and saved.recipe["name"] == "finetune"

    code = main(["train", data, "--init", str(pre), "--arch", "lenet", "-o", str(child), "-q"])
    assert code == 1
    assert "--arch 'lenet'" in capsys.readouterr().err
