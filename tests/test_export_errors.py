"""Every bad export input gets one clear UserError naming what and where, and writes nothing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pd2java.backends import reference
from pd2java.cli import main
from pd2java.errors import UserError
from pd2java.exporter import export, export_checkpoint


def _snapshot(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _small() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten()).eval()


def _refused(model: nn.Module, out: Path, *, shape=(1, 6, 6), **kwargs) -> str:
    before = _snapshot(out)
    with pytest.raises(UserError) as info:
        export(model, out, input_shape=shape, name="m", onnx=False, **kwargs)
    assert _snapshot(out) == before, "a failed export changed the output folder"
    return str(info.value)


class _ShuffleNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.act = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.act(self.conv(x)), 1)


class _Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # data-dependent control flow
            x = self.conv(x)
        return torch.flatten(x, 1)


class _Cumsum(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(torch.cumsum(x, dim=1), 1)


def test_unsupported_module_names_node_line_and_ops(tmp_path: Path) -> None:
    msg = _refused(_ShuffleNet().eval(), tmp_path / "out")
    assert msg.startswith("cannot export _ShuffleNet: 1 unsupported node:\n  1. ")
    assert "module 'act'" in msg and "PixelShuffle(upscale_factor=2)" in msg
    assert "test_export_errors.py:" in msg and "self.act(self.conv(x))" in msg
    assert "conv2d@1" in msg and "softmax@1" in msg  # lists the supported ops
    assert not (tmp_path / "out").exists()


def test_unsupported_function(tmp_path: Path) -> None:
    msg = _refused(_Cumsum(), tmp_path / "out")
    assert "torch.cumsum is not supported" in msg and "torch.cumsum(x, dim=1)" in msg


def test_control_flow_names_line(tmp_path: Path) -> None:
    msg = _refused(_Branchy(), tmp_path / "out")
    assert "if x.sum() > 0" in msg and "control flow" in msg


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        (nn.LPPool2d(2, 2), "LPPool2d"),
        (nn.AvgPool2d(2, divisor_override=3), "divisor_override"),
    ],
)
def test_unsupported_settings(tmp_path: Path, layer: nn.Module, expected: str) -> None:
    model = nn.Sequential(layer, nn.Flatten()).eval()
    msg = _refused(model, tmp_path / "out")
    assert expected in msg and "module '0'" in msg


def test_nan_and_inf_weights_named(tmp_path: Path) -> None:
    model = _small()
    with torch.no_grad():
        model[0].weight[1, 0, 2, 1] = float("nan")
    msg = _refused(model, tmp_path / "out")
    assert "'0.weight'" in msg and "NaN/Inf" in msg and "[1, 0, 2, 1]" in msg
    model = _small()
    with torch.no_grad():
        model[0].bias[0] = float("inf")
    assert "'0.bias'" in _refused(model, tmp_path / "out")


def test_failed_export_leaves_existing_folder_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "out"
    export(_small(), out, input_shape=(1, 6, 6), name="m", onnx=False)
    before = _snapshot(out)
    assert sorted(before) == ["m.manifest.json", "m.safetensors"]
    bad = _small()
    with torch.no_grad():
        bad[0].weight.fill_(float("nan"))
    _refused(bad, out)  # same name, same folder: nothing replaced, no temp file left
    assert _snapshot(out) == before


def test_out_dir_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    with pytest.raises(UserError, match="not a folder"):
        export(_small(), target, input_shape=(1, 6, 6), name="m", onnx=False)
    assert target.read_text() == "keep me"
    with pytest.raises(UserError, match="not a folder"):
        export(_small(), target / "sub", input_shape=(1, 6, 6), name="m", onnx=False)


@pytest.mark.skipif(sys.platform != "linux", reason="uses /proc, where nothing can be created")
def test_out_dir_not_writable(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot (write|create)"):
        export(_small(), "/proc/pd2java-test/out", input_shape=(1, 6, 6), name="m", onnx=False)
    if os.geteuid() != 0:  # root ignores permission bits
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        try:
            with pytest.raises(UserError, match="not writable"):
                export(_small(), locked, input_shape=(1, 6, 6), name="m", onnx=False)
            assert list(locked.iterdir()) == []
        finally:
            locked.chmod(0o755)


def test_bad_shapes_and_names(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"input_shape must be one or more positive sizes"):
        export(_small(), tmp_path / "o", input_shape=(1, 0, 6), onnx=False)
    with pytest.raises(UserError, match=r"input of shape \(N, 6, 6\) failed.*channels"):
        export(_small(), tmp_path / "o", input_shape=(6, 6), onnx=False)
    with pytest.raises(UserError, match="failed"):  # conv expects 1 channel
        export(_small(), tmp_path / "o", input_shape=(3, 6, 6), onnx=False)
    with pytest.raises(UserError, match="model name"):
        export(_small(), tmp_path / "o", input_shape=(1, 6, 6), name="../evil", onnx=False)
    with pytest.raises(UserError, match="class names"):
        export(_small(), tmp_path / "o", input_shape=(1, 6, 6), classes=["a"], onnx=False)
    # A feature-map output exports (any rank), but class names need a 1-D primary output.
    spatial = nn.Sequential(nn.Conv2d(1, 2, 3)).eval()
    with pytest.raises(UserError, match=r"class names need a 1-D output"):
        export(spatial, tmp_path / "o", input_shape=(1, 6, 6), classes=["a", "b"], onnx=False)
    assert not (tmp_path / "o").exists()
    made = export(spatial, tmp_path / "o", input_shape=(1, 6, 6), onnx=False)
    assert reference.load(made).graph.output_shape == (2, 4, 4)


# --- checkpoints --------------------------------------------------------------------------------


def _checkpoint(tmp_path: Path) -> Path:
    from pd2java.training.checkpoint import Checkpoint, save_checkpoint
    from pd2java.training.models import PDModel

    torch.manual_seed(0)
    return save_checkpoint(Checkpoint.from_model(PDModel(["a", "b"])), tmp_path / "good.pt")


def _cli_refuses(src: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["export", str(src), "-o", str(out), "--no-onnx", "--no-java"]) == 1
    assert not out.exists()
    return capsys.readouterr().err


def test_checkpoint_with_pickled_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "module.pt"
    torch.save(_small(), path)  # a whole module: loading it would run pickled code
    err = _cli_refuses(path, tmp_path / "out", capsys)
    assert "module.pt" in err


def test_truncated_and_non_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _checkpoint(tmp_path)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert "cut.pt" in _cli_refuses(cut, tmp_path / "out", capsys)
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint at all")
    assert "junk.pt" in _cli_refuses(junk, tmp_path / "out", capsys)
    other = tmp_path / "weights.pt"
    torch.save({"conv.weight": torch.zeros(2, 1, 3, 3)}, other)  # a bare state dict
    assert "weights.pt" in _cli_refuses(other, tmp_path / "out", capsys)
    assert "does not exist" in _cli_refuses(tmp_path / "missing.pt", tmp_path / "out", capsys)
    assert "unknown source type" in _cli_refuses(tmp_path / "x.bin", tmp_path / "out", capsys)


def test_state_dict_not_fitting_arch(tmp_path: Path) -> None:
    from pd2java.training.checkpoint import Checkpoint
    from pd2java.training.models import PDModel

    raw = Checkpoint.from_model(PDModel(["a", "b"])).to_dict()
    raw["arch"] = "light"  # lenet weights under the light architecture
    path = tmp_path / "mismatch.pt"
    torch.save(raw, path)
    with pytest.raises(UserError) as info:
        export_checkpoint(path, tmp_path / "out", onnx=False)
    assert "mismatch.pt" in str(info.value) or "light" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_functional_misuse(tmp_path: Path) -> None:
    class Reshape(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.view(-1, 3)

    class Softmax2d(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.flatten(F.softmax(x, dim=1), 1)

    class AddAlpha(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.flatten(torch.add(x, 1.0, alpha=2), 1)

    assert "reshape to" in _refused(Reshape(), tmp_path / "o")
    assert "softmax of a rank-4" in _refused(Softmax2d(), tmp_path / "o")
    assert "alpha=2" in _refused(AddAlpha(), tmp_path / "o")


def test_unsupported_onnx_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("Round", ["x"], ["t"], name="squash"),
            helper.make_node("Flatten", ["t"], ["y"], axis=1),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 16])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "round.onnx"
    onnx.save(model, str(path))
    err = _cli_refuses(path, tmp_path / "out", capsys)
    assert "ONNX node 'squash' (Round): unsupported ONNX op 'Round'" in err


def test_onnx_export_never_overwrites_its_source(tmp_path: Path) -> None:
    from pd2java.exporter import export_onnx

    export(_small(), tmp_path, input_shape=(1, 6, 6), name="m")  # writes m.onnx
    source = (tmp_path / "m.onnx").read_bytes()
    with pytest.raises(UserError, match="overwrite"):
        export_onnx(tmp_path / "m.onnx", tmp_path)
    assert (tmp_path / "m.onnx").read_bytes() == source
    export_onnx(tmp_path / "m.onnx", tmp_path, onnx=False, name="again")
    assert (tmp_path / "again.manifest.json").is_file()
