"""`pd2java export` / `check` / `evaluate` / `verify` with what users have: a plain state dict
plus the code that builds the model (`--module pkg.mod:factory`), the factory alone, an ONNX file
with `--classes` / `--head` and a whole pickled module (refused unless `--trust-pickle`).
TorchScript files have their own tests (test_torchscript.py). Real torch, onnxruntime and JVM; no
mocks."""

from __future__ import annotations

import json
import sys
import textwrap
from itertools import count
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import torch_onnx_export

from pd2java.backends import reference
from pd2java.cli import main
from pd2java.errors import ParityError

_MODEL_SOURCE = """
import torch
from torch import nn


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def build():
    return Small()


def build_probs():
    return nn.Sequential(Small(), nn.Softmax(dim=1))


class StatsNet(nn.Module):
    # A (F,) feature-vector input and two outputs: class scores and an embedding.

    def __init__(self):
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(6, 5), nn.Tanh())
        self.fc = nn.Linear(5, 3)

    def forward(self, x):
        e = self.embed(x)
        return {"scores": self.fc(e), "embedding": e}


def build_stats():
    return StatsNet()
"""

# The TorchScript-based ONNX exporter (torch_onnx_export) is deprecated upstream.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
_ids = count()
SHAPE = ["--input-shape", "1", "8", "8"]


@pytest.fixture()
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh user module in the current folder (imported by dotted path, as `python -m` does)."""
    name = f"user_models_{next(_ids)}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(_MODEL_SOURCE))
    monkeypatch.chdir(tmp_path)
    yield name
    sys.modules.pop(name, None)


def _build(module: str, factory: str = "build") -> torch.nn.Module:
    from pd2java.exporter import build_from_factory

    torch.manual_seed(0)
    model = build_from_factory(f"{module}:{factory}")  # imported from the current folder
    bn = getattr(model, "bn", None)
    if bn is not None:
        with torch.no_grad():  # non-trivial BN statistics, so the weights matter
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


def _manifest(out: Path) -> tuple[Path, dict]:
    (path,) = out.glob("*.manifest.json")
    return path, json.loads(path.read_text())


def _x(n: int = 4) -> np.ndarray:
    return np.random.default_rng(1).uniform(-1, 1, (n, 1, 8, 8)).astype(np.float32)


def test_state_dict_with_module_factory(
    tmp_path: Path, user_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _build(user_module)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    out = tmp_path / "out"
    argv = ["export", "w.pt", "--module", f"{user_module}:build", *SHAPE, "-o", str(out)]
    assert main([*argv, "--classes", "a,b,c", "--head", "softmax", "--no-java"]) == 0
    path, data = _manifest(out)
    assert data["classes"] == ["a", "b", "c"]
    assert data["outputs"][0]["kind"] == "probabilities"
    assert data["producer"]["weights_source"].startswith("state dict w.pt sha256 ")
    assert data["producer"]["source"] == f"module:{user_module}:build"
    x = _x()
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(x)), 1).numpy()
    np.testing.assert_allclose(reference.run(path, x), expected, atol=1e-5, rtol=1e-4)
    # check takes the same sources
    capsys.readouterr()
    assert main(["check", "w.pt", "--module", f"{user_module}:build", *SHAPE]) == 0
    assert "nodes supported" in capsys.readouterr().out


def test_state_dict_that_does_not_fit_lists_every_key(
    tmp_path: Path, user_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _build(user_module).state_dict()
    del state["fc.bias"]
    state["head.weight"] = torch.zeros(3)
    state["conv.weight"] = torch.zeros(4, 1, 5, 5)
    torch.save(state, tmp_path / "bad.pt")
    out = tmp_path / "out"
    argv = ["export", "bad.pt", "--module", f"{user_module}:build", *SHAPE, "-o", str(out)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "missing keys (1): fc.bias" in err
    assert "unexpected keys (1): head.weight" in err
    assert "mismatched shapes (1): conv.weight is [4, 1, 5, 5], the model's is [4, 1, 3, 3]" in err
    assert not out.exists()
    # a state dict without the code that builds the model
    assert main(["export", "bad.pt", "-o", str(out)]) == 1
    assert "--module pkg.mod:factory" in capsys.readouterr().err


def test_module_without_weights_records_untrained(
    tmp_path: Path, user_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["export", "--module", f"{user_module}:build", *SHAPE, "-o", str(out)]) == 0
    assert "initial, untrained weights" in capsys.readouterr().out
    path, data = _manifest(out)
    assert data["producer"]["weights_source"] == "factory initialisation (untrained)"
    assert data["outputs"][0]["kind"] == "logits" and data["classes"] is None
    assert (out / f"{data['name']}.onnx").is_file() and (out / "src").is_dir()
    reference.self_test(path)
    assert main(["export", "--module", f"{user_module}:build", "-o", str(out)]) == 1
    assert "--input-shape" in capsys.readouterr().err


def test_onnx_with_classes_and_head_checked_against_onnxruntime(
    tmp_path: Path, user_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import onnxruntime as ort

    from pd2java.backends.manifest import load

    src = torch_onnx_export(_build(user_module), torch.zeros(1, 1, 8, 8), tmp_path / "small.onnx")
    classes = tmp_path / "classes.txt"
    classes.write_text("corona\nsurface\nvoid\n")
    out = tmp_path / "out"
    argv = ["export", str(src), "-o", str(out), "--no-java", "--classes-file", str(classes)]
    assert main([*argv, "--head", "softmax"]) == 0
    path, data = _manifest(out)
    assert data["classes"] == ["corona", "surface", "void"]
    assert data["outputs"][0]["kind"] == "probabilities"
    assert data["producer"]["weights_source"].startswith("onnx small.onnx sha256 ")
    # The golden outputs are onnxruntime's own (plus the softmax head), not pd2java's.
    golden = load(path).golden
    session = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"x": golden.input})[0].astype(np.float64)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(golden.output, e / e.sum(axis=1, keepdims=True), atol=1e-6)
    x = _x()
    got = reference.run(path, x)
    logits = session.run(None, {"x": x})[0]
    np.testing.assert_allclose(got, torch.softmax(torch.from_numpy(logits), 1), atol=1e-5)

    # --head none leaves logits; a wrong class count, a flag that does not apply: refused
    out2 = tmp_path / "out2"
    assert main(["export", str(src), "-o", str(out2), "--no-java", "--head", "none"]) == 0
    assert _manifest(out2)[1]["outputs"][0]["kind"] == "logits"
    capsys.readouterr()
    bad = ["export", str(src), "-o", str(tmp_path / "o3"), "--no-java"]
    assert main([*bad, "--classes", "a,b"]) == 1
    assert (
        "2 class names given but the model's primary output has per-sample shape [3]"
        in capsys.readouterr().err
    )
    assert main([*bad, *SHAPE]) == 1
    assert "--input-shape does not apply" in capsys.readouterr().err
    # a model that already ends in softmax gets no second head
    with_softmax = torch.nn.Sequential(_build(user_module), torch.nn.Softmax(1))
    probs = torch_onnx_export(with_softmax, torch.zeros(1, 1, 8, 8), tmp_path / "p.onnx")
    bad[1] = str(probs)
    assert main([*bad, "--head", "softmax"]) == 1
    assert "already ends in softmax" in capsys.readouterr().err
    assert not (tmp_path / "o3").exists()


def test_check_agreement_names_the_worst_element() -> None:
    from pd2java.exporter import check_agreement

    oracle = np.array([[0.1, 0.2, 0.7], [0.3, 0.3, 0.4]], dtype=np.float32)
    assert check_agreement(oracle + 5e-6, oracle) <= 1e-5
    ours = oracle.copy()
    ours[1, 2] += 1e-3
    ours[0, 0] += 2e-5  # also out, but less so than [1, 2]
    with pytest.raises(ParityError, match=r"onnxruntime at sample 1 output 2: 0\.40\d+ vs 0\.4"):
        check_agreement(ours, oracle)
    with pytest.raises(ParityError, match="shape"):
        check_agreement(ours[:, :2], oracle)
    ours[0, 1] = np.nan
    with pytest.raises(ParityError, match="non-finite output at sample 0 index 1"):
        check_agreement(ours, oracle)


def test_checkpoint_flags_must_agree_with_the_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pd2java.training.checkpoint import Checkpoint, save_checkpoint
    from pd2java.training.models import PDModel

    torch.manual_seed(0)
    ckpt = save_checkpoint(Checkpoint.from_model(PDModel(["a", "b"])), tmp_path / "z.pt")
    base = ["export", str(ckpt), "-o", str(tmp_path / "out"), "--no-java", "--no-onnx"]
    assert main([*base, "--classes", "b,a"]) == 1
    assert "contradicts checkpoint" in capsys.readouterr().err
    assert main([*base, "--head", "sigmoid"]) == 1
    assert "its softmax head" in capsys.readouterr().err
    assert main([*base, "--module", "x:y"]) == 1
    assert "--module does not apply" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main([*base, "--classes", "a,b", "--head", "softmax"]) == 0
    data = _manifest(tmp_path / "out")[1]
    assert data["producer"]["weights_source"].startswith("checkpoint z.pt sha256 ")
    assert data["producer"]["checkpoint"] == "../z.pt"


def test_pickled_module_refused_then_trusted(
    tmp_path: Path, user_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _build(user_module)
    torch.save(model, tmp_path / "whole.pt")
    out = tmp_path / "out"
    argv = ["export", "whole.pt", *SHAPE, "-o", str(out), "--no-java", "--no-onnx"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "refusing to load" in err and "Small" in err
    assert "torch.save(model.state_dict()" in err and "--module pkg.mod:factory" in err
    assert "save_checkpoint" in err and "--trust-pickle" in err
    assert not out.exists()
    assert main(["check", "whole.pt", *SHAPE]) == 1
    capsys.readouterr()

    assert main([*argv, "--trust-pickle"]) == 0
    assert "warning: --trust-pickle" in capsys.readouterr().err
    path, data = _manifest(out)
    assert data["producer"]["weights_source"].startswith("pickled module whole.pt sha256 ")
    x = _x()
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(reference.run(path, x), expected, atol=1e-5, rtol=1e-4)


def test_evaluate_export_equals_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pd2java.exporter import export_checkpoint
    from pd2java.training.checkpoint import Checkpoint, save_checkpoint
    from pd2java.training.data import PRODUCTS
    from pd2java.training.evaluate import evaluate
    from pd2java.training.models import PDModel

    torch.manual_seed(3)
    ckpt = save_checkpoint(Checkpoint.from_model(PDModel(PRODUCTS["gis"])), tmp_path / "g.pt")
    manifest = export_checkpoint(ckpt, tmp_path / "out", onnx=False)
    data = "synth:gis?per_class=3&seed=5"
    by_torch = evaluate(ckpt, data)
    by_export = evaluate(tmp_path / "out", data)
    assert by_export.n == by_torch.n == 3 * len(PRODUCTS["gis"])
    assert by_export.accuracy == by_torch.accuracy
    assert by_export.confusion == by_torch.confusion
    assert by_export.checkpoint == str(manifest)
    assert evaluate(manifest, data).confusion == by_torch.confusion
    assert main(["evaluate", str(tmp_path / "out"), data]) == 0
    assert f"accuracy {100 * by_torch.accuracy:.2f}%" in capsys.readouterr().out

    # classes that do not match the dataset's, or none at all: a clear error
    other = tmp_path / "other.pt"
    save_checkpoint(Checkpoint.from_model(PDModel(["x", "y"])), other)
    export_checkpoint(other, tmp_path / "o2", onnx=False)
    assert main(["evaluate", str(tmp_path / "o2"), data]) == 1
    assert "the model does not know" in capsys.readouterr().err


def test_evaluate_export_without_classes(
    tmp_path: Path, user_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["export", "--module", f"{user_module}:build", *SHAPE, "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "synth:gis?per_class=1"]) == 1
    assert "no class names" in capsys.readouterr().err


def test_verify_names_the_weights_and_untrained_mismatch(
    tmp_path: Path, user_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _build(user_module)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    trained = tmp_path / "trained"
    argv = ["export", "w.pt", "--module", f"{user_module}:build", *SHAPE, "--no-java"]
    assert main([*argv, "--head", "softmax", "-o", str(trained)]) == 0
    capsys.readouterr()
    spec = f"{user_module}:build"
    assert main(["verify", str(trained), "-n", "2"]) == 0
    out = capsys.readouterr().out
    assert "weights: state dict w.pt sha256 " in out
    assert f"(to compare, pass --module {spec} --weights w.pt)" in out
    # the PyTorch side gets the head the export appended
    assert main(["verify", str(trained), "-n", "2", "--module", spec, "--weights", "w.pt"]) == 0
    out = capsys.readouterr().out
    assert "weights: state dict w.pt sha256 " in out and "PASS" in out
    assert "+ the softmax head the export appended" in out
    assert "pytorch      2" in out  # PyTorch compared

    # The factory's initial weights: verifying against a new factory() call cannot match, and
    # the report says why, next to the failure.
    untrained = tmp_path / "untrained"
    assert main(["export", "--module", spec, *SHAPE, "--no-java", "-o", str(untrained)]) == 0
    capsys.readouterr()
    assert main(["verify", str(untrained), "-n", "2"]) == 0  # Java vs reference and golden
    assert "weights: factory initialisation (untrained)" in capsys.readouterr().out
    assert main(["verify", str(untrained), "-n", "2", "--module", spec]) == 2
    captured = capsys.readouterr()
    assert "weights: factory initialisation (untrained)" in captured.out
    assert "FAIL" in captured.out and "this is not a Java bug" in captured.out
    assert "this is not a Java bug" in captured.err


def test_feature_vector_module_with_two_outputs_from_the_cli(
    tmp_path: Path, user_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--input-shape 6` (a rank-1 input) and a forward returning a dict of two tensors: both are
    outputs, in order; the primary one carries the classes; Java and the reference agree with
    torch on both."""
    from helpers import assert_backends_match, torch_forward

    model = _build(user_module, "build_stats")
    torch.save(model.state_dict(), "w.pt")
    out = tmp_path / "out"
    argv = ["export", "w.pt", "--module", f"{user_module}:build_stats", "--input-shape", "6"]
    assert main([*argv, "-o", str(out), "--classes", "a,b,c"]) == 0
    printed = capsys.readouterr().out
    assert "no typed classifier wrapper" not in printed  # the primary output is 1-D: a wrapper
    path, data = _manifest(out)
    assert data["input"]["shape"] == [6]
    assert [o["shape"] for o in data["outputs"]] == [[3], [5]]
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    assert_backends_match(path, x, torch_forward(model, x), "stats net")
