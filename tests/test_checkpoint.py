"""Checkpoints: weights-only round trip, atomic writes, and every bad input refused clearly."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from pd2java.errors import UserError
from pd2java.training.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    Checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from pd2java.training.models import PDLightModel, PDModel

CLASSES = ["corona", "surface", "void", "floating", "particle", "noise"]


def _light_with_statistics() -> PDLightModel:
    torch.manual_seed(3)
    model = PDLightModel(CLASSES, head="sigmoid")
    # Non-trivial BN statistics, so a round trip that dropped buffers would show.
    for name, buf in model.named_buffers():
        if name.endswith("running_mean"):
            buf.uniform_(-0.5, 0.5)
        elif name.endswith("running_var"):
            buf.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PDLightModel]:
    model = _light_with_statistics()
    path = tmp_path_factory.mktemp("ckpt") / "light.pt"
    ckpt = Checkpoint.from_model(
        model,
        metrics={"val_accuracy": 0.75, "n_val": np.int64(12)},
        history=[{"epoch": 1, "train_loss": 1.5}],
        recipe={"name": "test", "lr_steps": ((36, 0.1),)},
    )
    save_checkpoint(ckpt, path)
    return path, model


def test_round_trip_loads_with_weights_only(saved: tuple[Path, PDLightModel]) -> None:
    path, model = saved
    raw = torch.load(path, weights_only=True)  # the rule: plain types only, no pickled code
    assert raw["format"] == FORMAT and raw["format_version"] == FORMAT_VERSION
    assert raw["arch"] == "light" and raw["config"] == {"head": "sigmoid"}
    assert raw["classes"] == CLASSES
    assert raw["input_spec"]["shape"] == [1, 60, 120]
    assert raw["input_spec"]["layout"] == "CHW" and raw["input_spec"]["dtype"] == "float32"
    assert raw["input_spec"]["image_convention"]["shape"] == [60, 120]
    assert set(raw["versions"]) >= {"pd2java", "torch", "numpy", "python"}
    assert type(raw["versions"]["torch"]) is str

    ckpt = load_checkpoint(path)
    assert ckpt.arch == "light" and ckpt.classes == tuple(CLASSES)
    assert ckpt.metrics == {"val_accuracy": 0.75, "n_val": 12}
    assert ckpt.history == [{"epoch": 1, "train_loss": 1.5}]
    assert ckpt.recipe["lr_steps"] == [[36, 0.1]]
    rebuilt = ckpt.build_model()
    assert isinstance(rebuilt, PDLightModel) and not rebuilt.training
    assert rebuilt.head_name == "sigmoid"
    for key, value in model.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[key], value), key
    x = torch.rand(4, 1, 60, 120)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), model(x), rtol=0, atol=0)


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    good = Checkpoint.from_model(PDModel(["a", "b"]))
    save_checkpoint(good, path)
    before = path.read_bytes()
    # Something a weights-only file cannot hold: refused before the disk is touched.
    bad = Checkpoint(
        arch="lenet",
        config={},
        classes=("a", "b"),
        state_dict=good.state_dict,
        metrics={"when": object()},
    )
    with pytest.raises(UserError, match=r"metrics\.when holds a object"):
        save_checkpoint(bad, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]
    with pytest.raises(UserError, match="is a directory"):
        save_checkpoint(good, tmp_path)


def test_whole_pickled_module_is_refused_without_fallback(tmp_path: Path) -> None:
    path = tmp_path / "whole.pt"
    torch.save(PDModel(["a", "b"]), path)
    with pytest.raises(UserError) as err:
        load_checkpoint(path)
    text = str(err.value)
    assert "refusing to load" in text and "pd2java.training.models.PDModel" in text
    assert "weights_only=True" in text and "never falls back" in text


def test_numpy_array_inside_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "np.pt"
    torch.save({"format": FORMAT, "weights": np.zeros(3)}, path)
    with pytest.raises(UserError, match="needs unpickling code.*numpy"):
        load_checkpoint(path)


def test_plain_pickle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"format": FORMAT}))
    with pytest.raises(UserError, match="refusing to load|not a PyTorch checkpoint"):
        load_checkpoint(path)


def test_truncated_checkpoint(saved: tuple[Path, PDLightModel], tmp_path: Path) -> None:
    data = saved[0].read_bytes()
    # 5000 bytes: only the zip header and part of the first entry (a different torch error path)
    for cut in (len(data) // 2, len(data) - 10, 5000, 0):
        path = tmp_path / f"cut{cut}.pt"
        path.write_bytes(data[:cut])
        with pytest.raises(UserError, match="truncated or corrupt"):
            load_checkpoint(path)


def test_non_checkpoint_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.pt"
    text.write_text("these are not weights\n")
    with pytest.raises(UserError, match="not a PyTorch checkpoint"):
        load_checkpoint(text)
    with pytest.raises(UserError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(UserError, match="is a directory"):
        load_checkpoint(tmp_path)
    bare = tmp_path / "bare.pt"
    torch.save(PDModel(["a", "b"]).state_dict(), bare)
    with pytest.raises(UserError, match="bare state dict"):
        load_checkpoint(bare)
    other = tmp_path / "other.pt"
    torch.save({"format": "somebody-else", "weights": torch.zeros(2)}, other)
    with pytest.raises(UserError, match="not a pd2java checkpoint.*somebody-else"):
        load_checkpoint(other)
    listed = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], listed)
    with pytest.raises(UserError, match="holds a list"):
        load_checkpoint(listed)


def _rewrite(saved: Path, target: Path, **changes: object) -> Path:
    raw = torch.load(saved, weights_only=True)
    raw.update(changes)
    torch.save(raw, target)
    return target


def test_state_dict_for_another_architecture(saved: tuple[Path, PDLightModel], tmp_path) -> None:
    path = _rewrite(saved[0], tmp_path / "x.pt", arch="lenet", config={})
    with pytest.raises(UserError) as err:
        load_checkpoint(path)
    text = str(err.value)
    assert "does not fit architecture 'lenet'" in text
    assert "missing keys: classifier.0.bias" in text
    assert "unexpected keys: blocks.0.conv" in text


def test_state_dict_with_wrong_shapes(saved: tuple[Path, PDLightModel], tmp_path) -> None:
    # Same architecture, one class fewer: only the classifier's shapes differ, and are named.
    path = _rewrite(saved[0], tmp_path / "x.pt", classes=CLASSES[:5])
    with pytest.raises(UserError, match=r"wrong shapes: classifier\.bias is \[6\], expected \[5\]"):
        load_checkpoint(path)


def test_unknown_arch_newer_version_and_bad_fields(saved: tuple[Path, PDLightModel], tmp_path):
    cases = {
        "arch": ({"arch": "resnet"}, "unknown architecture 'resnet'"),
        "version": ({"format_version": FORMAT_VERSION + 1}, "newer than this pd2java reads"),
        "classes": ({"classes": "abc"}, "'classes' must be a list"),
        "config": ({"config": {"width": 3}}, "unknown config key"),
    }
    for name, (changes, message) in cases.items():
        path = _rewrite(saved[0], tmp_path / f"{name}.pt", **changes)
        with pytest.raises(UserError, match=message):
            load_checkpoint(path)
    raw = torch.load(saved[0], weights_only=True)
    del raw["state_dict"]
    torch.save(raw, tmp_path / "nostate.pt")
    with pytest.raises(UserError, match="no 'state_dict' entry"):
        load_checkpoint(tmp_path / "nostate.pt")


def test_non_finite_weights_are_refused(saved: tuple[Path, PDLightModel], tmp_path) -> None:
    raw = torch.load(saved[0], weights_only=True)
    raw["state_dict"]["classifier.weight"][0, 0] = float("nan")
    torch.save(raw, tmp_path / "nan.pt")
    with pytest.raises(UserError, match=r"NaN or Inf in weights classifier\.weight"):
        load_checkpoint(tmp_path / "nan.pt")


def test_from_model_refuses_non_zoo_modules() -> None:
    with pytest.raises(UserError, match="not a pd2java zoo model"):
        Checkpoint.from_model(torch.nn.Linear(2, 2))
