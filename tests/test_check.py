"""Every unsupported node of a model is found in one pass, with where it is, what it is and the way
around it: the torch.fx and ONNX front ends, the export that refuses with the full list and writes
nothing, and the ``pd2java check`` verb."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from pd2java.cli import main
from pd2java.errors import Finding, UnsupportedModelError, UserError
from pd2java.exporter import export, export_onnx
from pd2java.frontends.fx import capture
from pd2java.frontends.onnx import SUPPORTED_ONNX_OPS, onnx_to_graph
from pd2java.ops import frontend_registry
from pd2java.ops.frontend_registry import Hint, torch_hint

THIS = Path(__file__).name


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cumsum(self.shuffle(self.conv(x)), dim=1)  # gap: shuffle, cumsum


class _Gappy(nn.Module):
    """Four unsupported constructs in different places: a module and a function inside a nested
    block, and two tuple-returning functions (whose .values / unpacking must not be reported)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(_Block(), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(2, 6)
        self.out = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.pool(self.features(x)), 1)
        x = torch.sort(self.head(x), dim=1).values  # gap: sort
        x, _ = torch.topk(x, 3, dim=1)  # gap: topk
        return self.out(x)


def _line(marker: str) -> int:
    """The line of this file holding ``marker``."""
    lines = Path(__file__).read_text(encoding="utf-8").splitlines()
    return next(i for i, text in enumerate(lines, 1) if marker in text and "_line(" not in text)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


def _gappy_findings() -> tuple[UnsupportedModelError, list[Finding]]:
    torch.manual_seed(0)
    with pytest.raises(UnsupportedModelError) as info:
        capture(_Gappy(), (8, 4, 4), name="gappy")
    return info.value, info.value.findings


def test_fx_reports_every_unsupported_node_with_module_path_and_line() -> None:
    error, findings = _gappy_findings()
    assert [f.target for f in findings] == [
        "torch.nn.PixelShuffle",
        "torch.cumsum",
        "torch.sort",
        "torch.topk",
    ]
    shuffle, cumsum, sort, topk = findings
    assert shuffle.module_path == "features.0.shuffle"
    assert shuffle.what == "PixelShuffle(upscale_factor=2)"
    assert cumsum.module_path == "features.0"
    assert cumsum.what == "torch.cumsum(tensor[N, 2, 8, 8], dim=1)"
    assert sort.module_path == "" and sort.what == "torch.sort(tensor[N, 6], dim=1)"
    assert topk.what == "torch.topk(tensor[N, 6], 3, dim=1)"  # the placeholder kept the shape
    block = f"{THIS}:{_line('# gap: shuffle, cumsum')} in forward"
    assert shuffle.location.startswith(block) and cumsum.location.startswith(block)
    assert sort.location.startswith(f"{THIS}:{_line('# gap: sort')} in forward")
    assert topk.location.startswith(f"{THIS}:{_line('# gap: topk')} in forward")
    assert "torch.topk(x, 3, dim=1)" in topk.location  # the source line itself
    # One message: numbered findings, then the supported ops and forms once.
    text = str(error)
    assert text.startswith("cannot export _Gappy: 4 unsupported nodes:")
    for i, finding in enumerate(findings, 1):
        assert f"\n  {i}. {finding.format()}" in text
    assert text.count("Supported ops:") == 1 and text.count("Supported torch forms:") == 1
    assert "getattr" not in text and "getitem" not in text  # consequences are not findings


def test_export_refuses_with_the_full_list_and_writes_nothing(tmp_path: Path) -> None:
    _, findings = _gappy_findings()
    out = tmp_path / "out"
    with pytest.raises(UnsupportedModelError) as info:
        export(_Gappy(), out, input_shape=(8, 4, 4), name="gappy")
    assert info.value.findings == findings
    assert not out.exists()
    out.mkdir()
    (out / "keep.txt").write_text("keep")
    before = _snapshot(out)
    with pytest.raises(UnsupportedModelError):
        export(_Gappy(), out, input_shape=(8, 4, 4), name="gappy")
    assert _snapshot(out) == before


class _SettingsGap(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.gap(self.pool(x)[0]), 1))


def test_a_refused_setting_names_the_settings_and_the_substitute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(UnsupportedModelError) as info:
        capture(_SettingsGap(), (2, 4, 4), name="m")
    (finding,) = info.value.findings
    assert finding.module_path == "pool" and "return_indices=True" in finding.reason
    assert finding.hint == ""  # no way around it is known
    # A refused-setting hint works its sentence out from the module and the input shape.
    monkeypatch.setitem(
        frontend_registry.TORCH_HINTS,
        "torch.nn.MaxPool2d",
        Hint(lambda mod, shape: f"take the argmax of a {shape[1]}x{shape[2]} map", refused=True),
    )
    with pytest.raises(UnsupportedModelError) as info:
        capture(_SettingsGap(), (2, 5, 5), name="m")
    assert "take the argmax of a 5x5 map" in info.value.findings[0].hint


def test_hints_follow_the_live_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    # An entry for a construct someone has registered meanwhile falls silent by itself.
    for target, hint in frontend_registry.TORCH_HINTS.items():
        if not hint.refused and isinstance(hint.text, str):
            shown = torch_hint(
                target, registered=frontend_registry.torch_form_named(target) is not None
            )
            assert (hint.text in shown) == (frontend_registry.torch_form_named(target) is None)
    # A hint for an unregistered construct is shown; one for a construct with a lowering is not,
    # nor one recommending something unregistered.
    monkeypatch.setitem(frontend_registry.TORCH_HINTS, "torch.nn.Fancy", Hint("use Conv2d"))
    monkeypatch.setitem(
        frontend_registry.TORCH_HINTS, "torch.nn.Fancier", Hint("use X", needs=("torch.nn.NoSuch",))
    )
    assert torch_hint("torch.nn.Fancy", registered=False) == "use Conv2d"
    assert torch_hint("torch.nn.Fancy", registered=True) == ""
    assert torch_hint("torch.nn.Fancier", registered=False) == ""


# --- ONNX -------------------------------------------------------------------------------------


def _gappy_onnx(path: Path) -> Path:
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="act"),
        helper.make_node("CumSum", ["r", "axis"], ["c"], name="running"),
        helper.make_node("Flatten", ["c"], ["f"], name="flat"),
        helper.make_node("TopK", ["f", "k"], ["v", "i"], name="best", axis=1),
        helper.make_node("Einsum", ["v", "w"], ["y"], name="mix", equation="nk,km->nm"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        initializer=[
            numpy_helper.from_array(np.array(1, np.int64), "axis"),
            numpy_helper.from_array(np.array([8], np.int64), "k"),
            numpy_helper.from_array(np.ones((8, 3), np.float32), "w"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_onnx_reports_every_unsupported_node(tmp_path: Path) -> None:
    path = _gappy_onnx(tmp_path / "gappy.onnx")
    with pytest.raises(UnsupportedModelError) as info:
        onnx_to_graph(path)
    findings = info.value.findings
    assert [(f.node, f.target) for f in findings] == [
        ("ONNX node 'running' (CumSum)", "CumSum"),
        ("ONNX node 'best' (TopK)", "TopK"),
        ("ONNX node 'mix' (Einsum)", "Einsum"),
    ]
    assert findings[1].what == "TopK(axis=1)"
    assert findings[2].what == "Einsum(equation='nk,km->nm')"
    text = str(info.value)
    assert text.startswith(f"{path}: cannot import: 3 unsupported nodes:")
    assert "\n  1. ONNX node 'running' (CumSum): unsupported ONNX op 'CumSum'" in text
    assert "\n  3. ONNX node 'mix' (Einsum)" in text
    assert text.count("Supported ONNX ops:") == 1
    assert all(op in text for op in SUPPORTED_ONNX_OPS)
    out = tmp_path / "out"
    before = _snapshot(tmp_path)
    with pytest.raises(UnsupportedModelError):
        export_onnx(path, out)
    assert _snapshot(tmp_path) == before and not out.exists()


def test_onnx_node_after_an_unknown_shape_is_not_reported_twice(tmp_path: Path) -> None:
    """Without shape inference for a value, later nodes refused for that reason stay silent."""
    graph = helper.make_graph(
        [
            helper.make_node("Foo", ["x"], ["t"], name="odd", domain="com.example"),
            helper.make_node("Relu", ["t"], ["r"], name="after"),
            helper.make_node("Flatten", ["r"], ["y"], name="flat"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 32])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)],
    )
    model.ir_version = 8
    path = tmp_path / "odd.onnx"
    onnx.save(model, str(path))
    with pytest.raises(UnsupportedModelError) as info:
        onnx_to_graph(path)
    assert [f.node for f in info.value.findings] == ["ONNX node 'odd' (Foo)"]


# --- pd2java check ----------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["light", "lenet"])
def test_check_a_zoo_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arch: str
) -> None:
    from pd2java.training.checkpoint import Checkpoint, save_checkpoint
    from pd2java.training.models import build_model

    torch.manual_seed(0)
    path = save_checkpoint(
        Checkpoint.from_model(build_model(arch, ["a", "b"])), tmp_path / "zoo.pt"
    )
    before = _snapshot(tmp_path)
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: all " in out and " nodes supported: conv2d x" in out
    assert _snapshot(tmp_path) == before


def test_check_an_onnx_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _gappy_onnx(tmp_path / "gappy.onnx")
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    for name in ("'running' (CumSum)", "'best' (TopK)", "'mix' (Einsum)"):
        assert name in out


_FACTORY = """
import torch
from torch import nn


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))


class Gaps(Small):
    def __init__(self):
        super().__init__()
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        x = torch.cumsum(self.shuffle(self.conv(x)), dim=2)
        return self.head(torch.flatten(self.pool(x), 1).repeat(1, 4))


def build():
    return Small()


def broken():
    return Gaps()


def not_a_model():
    return 42
"""


def test_check_a_module_factory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "check_factory_models.py").write_text(textwrap.dedent(_FACTORY))
    monkeypatch.syspath_prepend(str(tmp_path))
    before = _snapshot(tmp_path)
    assert main(["check", "check_factory_models:build", "--input-shape", "1", "8", "8"]) == 0
    out = capsys.readouterr().out
    assert (
        "all 5 nodes supported: conv2d x1, relu x1, global_avg_pool x1, flatten x1, linear x1"
        in out
    )

    assert main(["check", "check_factory_models:broken", "--input-shape", "1", "8", "8"]) == 1
    out = capsys.readouterr().out
    assert "cannot export Gaps: 3 unsupported nodes:" in out
    assert "module 'shuffle'" in out and "check_factory_models.py:" in out
    assert "torch.cumsum(tensor[N, 1, 12, 12], dim=2)" in out and ".repeat(1, 4)" in out

    assert main(["check", "check_factory_models:build"]) == 1
    assert "--input-shape (e.g. C H W)" in capsys.readouterr().err
    assert main(["check", "check_factory_models:not_a_model", "--input-shape", "1", "8", "8"]) == 1
    assert "not an nn.Module" in capsys.readouterr().err
    assert main(["check", "no_such_module_here:build", "--input-shape", "1", "8", "8"]) == 1
    assert "cannot import 'no_such_module_here'" in capsys.readouterr().err
    assert _snapshot(tmp_path) == before


def test_check_refuses_unknown_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "model.bin")]) == 1
    assert "unknown source" in capsys.readouterr().err
    with pytest.raises(UserError, match="--input-shape does not apply"):
        from pd2java.export_commands import check_graph

        check_graph(str(_gappy_onnx(tmp_path / "g.onnx")), [1, 2, 3])
