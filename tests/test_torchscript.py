"""`pd2java export` / `check` of TorchScript files (torch.jit.save of a scripted or traced module):
parity with torch in the NumPy reference and in Java, the TorchScript module as the oracle of the
golden vectors, every unsupported node listed at once, the missing input shape, damaged files,
and the ops pd2java refuses to run. Real torch, real files, real JVM; no mocks."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_backends_match, seeded_input, torch_forward
from torch import nn

from pd2java.cli import main
from pd2java.errors import UnsupportedModelError, UserError

# The TorchScript-based ONNX exporter pd2java converts with is deprecated upstream.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SHAPE = (1, 12, 12)
SHAPE_ARGS = ["--input-shape", *map(str, SHAPE)]


class SmallCNN(nn.Module):
    """conv + BN + ReLU, max pool, conv + ReLU, global average pool, flatten, linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1)
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(torch.relu(self.bn(self.conv1(x))), 2)
        x = torch.relu(self.conv2(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def _small() -> SmallCNN:
    torch.manual_seed(0)
    model = SmallCNN()
    with torch.no_grad():  # non-trivial BN statistics, so the running statistics matter
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


def _save(model: nn.Module, how: str, path: Path) -> Path:
    if how == "script":
        torch.jit.script(model).save(str(path))
    else:
        torch.jit.trace(model, torch.zeros(1, *SHAPE)).save(str(path))
    return path


def _per_sample(module: torch.jit.ScriptModule, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        rows = [module(torch.from_numpy(x[i : i + 1])).numpy() for i in range(len(x))]
    return np.concatenate(rows, axis=0)


class PaddedTwoHeads(nn.Module):
    """Replicate padding, a circular and a reflect conv (the forms the TorchScript-based ONNX
    exporter writes as computed pads and as Slice + Concat), and two outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.circ = nn.Conv2d(1, 4, 3, padding=1, padding_mode="circular")
        self.refl = nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect")
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feat = torch.relu(self.refl(self.circ(F.pad(x, (1, 1, 1, 1), mode="replicate"))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(feat, 1), 1)), feat


@pytest.mark.parametrize("how", ["script", "trace"])
def test_padding_modes_and_two_outputs(tmp_path: Path, how: str) -> None:
    from pd2java.exporter import export_torchscript

    torch.manual_seed(1)
    model = PaddedTwoHeads().eval()
    src = _save(model, how, tmp_path / "padded.ts")
    manifest = export_torchscript(src, tmp_path / "out", input_shape=SHAPE)
    x = seeded_input(f"torchscript-padded-{how}", SHAPE, batch=3).numpy()
    assert_backends_match(manifest, x, torch_forward(model, x), f"{how} padded TorchScript")


@pytest.mark.parametrize(
    ("how", "suffix", "extra"),
    [("script", ".ts", []), ("trace", ".pt", ["--head", "softmax", "--classes", "a,b,c"])],
    ids=["scripted", "traced"],
)
def test_scripted_and_traced_export_match_torch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str, suffix: str, extra: list[str]
) -> None:
    from pd2java.backends.manifest import load

    model = _small()
    src = _save(model, how, tmp_path / f"small{suffix}")
    out = tmp_path / "out"
    assert main(["export", str(src), "-o", str(out), *SHAPE_ARGS, "--no-java", *extra]) == 0
    manifest = out / "small.manifest.json"
    data = json.loads(manifest.read_text())
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    assert data["producer"]["source"] == f"torchscript:{src.name}"
    assert data["producer"]["weights_source"] == f"torchscript {src.name} sha256 {digest}"
    assert data["input"]["shape"] == list(SHAPE)

    # The golden outputs are the TorchScript module's own outputs (the oracle), not the NumPy
    # reference's: bit for bit, as the module gives them one sample at a time (the appended
    # head is pd2java's softmax, equal to torch's to rounding).
    golden = load(manifest).golden
    oracle = _per_sample(torch.jit.load(str(src)), golden.input)
    if extra:
        oracle = torch.softmax(torch.from_numpy(oracle), 1).numpy()
        np.testing.assert_allclose(golden.output, oracle, rtol=0, atol=1e-7)
        assert data["classes"] == ["a", "b", "c"]
        assert data["outputs"][0]["kind"] == "probabilities"
    else:
        np.testing.assert_array_equal(golden.output, oracle)

    # The NumPy reference, Java and the written ONNX file all match the Python model.
    x = seeded_input(f"torchscript-{how}", SHAPE, batch=4).numpy()
    expected = torch_forward(model, x)
    if extra:
        expected = torch.softmax(torch.from_numpy(expected), 1).numpy()
    assert_backends_match(manifest, x, expected, f"{how} TorchScript", out / "small.onnx")

    capsys.readouterr()
    assert main(["check", str(src), *SHAPE_ARGS]) == 0
    assert f"{src}: all " in capsys.readouterr().out


class Cumulative(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cumsum(x, 1)


class Unsupported(nn.Module):
    """Three nodes pd2java cannot export: cumsum (an ONNX op the importer lacks) in a submodule,
    erfinv (no ONNX form at all) and pixel shuffle (DepthToSpace)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.blk = Cumulative()
        self.shuf = nn.PixelShuffle(2)
        self.fc = nn.Linear(1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blk(torch.relu(self.conv(x)))
        x = torch.erfinv(torch.tanh(x) * 0.5)
        x = self.shuf(x)
        return self.fc(x.mean((2, 3)))


@pytest.mark.parametrize("how", ["script", "trace"])
def test_unsupported_nodes_are_listed_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    src = _save(Unsupported().eval(), how, tmp_path / "bad.pt")
    out = tmp_path / "out"
    assert main(["export", str(src), "-o", str(out), *SHAPE_ARGS]) == 1
    err = capsys.readouterr().err
    assert not out.exists()
    assert main(["check", str(src), *SHAPE_ARGS]) == 1
    listed = capsys.readouterr().out
    for report in (err, listed):
        assert "3 unsupported nodes" in report
        assert "ONNX node '/blk/CumSum' (CumSum) in module 'blk'" in report
        assert "TorchScript op aten::erfinv: torch.onnx.export has no ONNX form" in report
        assert "(DepthToSpace) in module 'shuf'" in report
        assert "Supported ONNX ops:" in report


def test_input_shape_is_required_and_other_flags_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pd2java.exporter import export_checkpoint

    src = _save(_small(), "script", tmp_path / "small.ts")
    out = tmp_path / "out"
    assert main(["export", str(src), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "does not record its input shape" in err and "--input-shape (e.g. C H W)" in err
    assert main(["check", str(src)]) == 1
    assert "--input-shape (e.g. C H W)" in capsys.readouterr().err
    # A shape the model cannot take is refused by the conversion, naming the flag.
    assert main(["export", str(src), "-o", str(out), "--input-shape", "3", "12", "12"]) == 1
    assert "check --input-shape C H W" in capsys.readouterr().err
    for flag in (["--module", "x:y"], ["--trust-pickle"]):
        assert main(["export", str(src), "-o", str(out), *SHAPE_ARGS, *flag]) == 1
        assert f"{flag[0]} does not apply to a TorchScript file" in capsys.readouterr().err
    assert not out.exists()
    # Where weights are expected, a TorchScript file is pointed to the route that reads it.
    pt = _save(_small(), "trace", tmp_path / "small.pt")
    with pytest.raises(UserError, match="export it with `pd2java export FILE --input-shape"):
        export_checkpoint(pt, out)


def _rewrite(src: Path, dst: Path, edit: Callable[[str, bytes], bytes]) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            zout.writestr(info, edit(info.filename, zin.read(info.filename)))
    return dst


def test_damaged_files_give_typed_errors(tmp_path: Path) -> None:
    from pd2java.exporter import export_torchscript

    good = _save(_small(), "script", tmp_path / "good.ts")
    data = good.read_bytes()
    garbage = tmp_path / "garbage.ts"
    garbage.write_bytes(b"\x00\x01not a model" * 50)
    truncated = tmp_path / "truncated.ts"
    truncated.write_bytes(data[: len(data) // 2])
    weights = tmp_path / "weights.ts"
    torch.save(_small().state_dict(), weights)
    code = _rewrite(
        good,
        tmp_path / "code.ts",
        lambda name, b: b.replace(b"def forward", b"def forwrd") if name.endswith(".py") else b,
    )
    twice = tmp_path / "twice.ts"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(twice, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info.filename))
        first = zin.infolist()[0]
        with pytest.warns(UserWarning, match="Duplicate name"):
            zout.writestr(first, zin.read(first.filename))
    cases = {
        twice: "holds entry .* twice",
        garbage: "is not a TorchScript file: it is not a zip archive",
        truncated: "is not a TorchScript file: it is not a zip archive",
        weights: "holds no TorchScript code",
        code: "torch.jit.load cannot load it",
        tmp_path / "missing.ts": "does not exist",
    }
    for path, message in cases.items():
        out = tmp_path / f"out_{path.stem}"
        with pytest.raises(UserError, match=message) as info:
            export_torchscript(path, out, input_shape=SHAPE)
        assert type(info.value) is UserError, path
        assert not out.exists()


def test_ops_that_touch_files_are_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """TorchScript cannot run Python, but torch.save / torch.from_file reach the file system, and
    torch.jit.load runs a __setstate__: such files are refused and nothing of them runs."""
    from pd2java.frontends.torchscript import load_torchscript

    written = tmp_path / "written.pt"

    class Saver(nn.Module):
        def __init__(self, where: str) -> None:
            super().__init__()
            self.where = where

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            torch.save(x, self.where)
            return torch.relu(x)

    src = _save(Saver(str(written)), "script", tmp_path / "saver.ts")
    assert main(["check", str(src), *SHAPE_ARGS]) == 1
    report = capsys.readouterr().out
    assert "TorchScript op aten::save at test_torchscript.py:" in report
    assert "writes a file (torch.save)" in report and "nothing of it was run" in report
    assert not written.exists()

    class OnLoad(nn.Module):
        def __init__(self, where: str) -> None:
            super().__init__()
            self.where = where
            self.w = torch.ones(1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.w

        @torch.jit.export
        def __getstate__(self) -> tuple[torch.Tensor, str, bool]:
            return (self.w, self.where, self.training)

        @torch.jit.export
        def __setstate__(self, state: tuple[torch.Tensor, str, bool]) -> None:
            self.w, self.where, self.training = state
            torch.save(self.w, self.where)

    on_load = _save(OnLoad(str(written)), "script", tmp_path / "on_load.ts")
    assert not written.exists()
    with pytest.raises(UserError, match="holds a __setstate__ method, which torch.jit.load would"):
        load_torchscript(on_load)
    assert not written.exists()

    class Hooked(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(x)

    hooked = Hooked()
    hooked.register_forward_hook(_hook)
    with pytest.raises(UnsupportedModelError, match="forward hook '_hook'"):
        load_torchscript(_save(hooked, "script", tmp_path / "hooked.ts"))


def _hook(module: nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
    return None
