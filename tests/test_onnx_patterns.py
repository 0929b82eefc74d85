"""The ONNX reader's fused patterns: torch's own opset-17 decompositions of GELU (exact and tanh),
Mish, SiLU and GroupNorm are read as the single pd2java op (gelu, mish, silu, group_norm), not
refused node by node; a near-miss (a wrong constant, an intermediate value used elsewhere) is read
node by node as before, so it is refused naming the node pd2java has no mapping for.

Each model is exported with the TorchScript exporter (``dynamo=False``, opset 17) and, where the
default exporter writes the same decomposition, with that one too; the imported graph holds the
one op, its NumPy reference matches onnxruntime and torch, and ``export_onnx`` of the file runs
in Java within the format tolerance."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from pd2java.errors import UnsupportedModelError
from pd2java.exporter import export_onnx
from tests.helpers import (
    assert_backends_match,
    assert_close,
    assert_onnx_import_matches_ort,
    read_onnx,
    seeded_input,
    torch_forward,
    torch_onnx_export,
)

# The IR ops the decompositions would become node by node: none may remain after fusing.
_PIECES = {"mul", "add", "sigmoid", "tanh", "instance_norm2d", "div", "erf", "softplus"}


def _model(act: nn.Module, channels: int = 4) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, channels, 3, padding=1),
        act,
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, 5),
    )
    for p in act.parameters():  # non-trivial affine parameters
        with torch.no_grad():
            p.copy_(torch.randn_like(p))
    return model.eval()


CASES = {
    "gelu": (lambda: nn.GELU(), "gelu", {"tanh_approximation": False}),
    "gelu_tanh": (lambda: nn.GELU(approximate="tanh"), "gelu", {"tanh_approximation": True}),
    "mish": (lambda: nn.Mish(), "mish", {}),
    "silu": (lambda: nn.SiLU(), "silu", {}),
    "group_norm": (lambda: nn.GroupNorm(2, 4), "group_norm", {"num_groups": 2}),
    "group_norm_1": (lambda: nn.GroupNorm(1, 4), "group_norm", {"num_groups": 1}),
    "group_norm_per_channel": (lambda: nn.GroupNorm(4, 4), "group_norm", {"num_groups": 4}),
    "group_norm_plain": (lambda: nn.GroupNorm(2, 4, affine=False), "group_norm", {}),
}

# The default (dynamo) exporter writes these in the same decomposed form at opset 17.
DYNAMO_CASES = ("gelu", "gelu_tanh", "silu")


def _dynamo_export(model: nn.Module, x: torch.Tensor, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (x,),
            str(path),
            opset_version=17,
            input_names=["x"],
            output_names=["y"],
            dynamic_shapes=({0: torch.export.Dim("N", min=1, max=64)},),
            verbose=False,
        )
    return path


def _check(path: Path, model: nn.Module, x: torch.Tensor, case: str, tmp_path: Path) -> None:
    _, op, attrs = CASES[case]
    graph, from_ort, _ = assert_onnx_import_matches_ort(path, x, case, ops=(op,))
    ops = [n.op for n in graph.nodes]
    assert ops.count(op) == 1 and not _PIECES & set(ops), ops
    node = next(n for n in graph.nodes if n.op == op)
    for key, value in attrs.items():
        assert node.attrs[key] == value, (key, node.attrs)
    expected = torch_forward(model, x)
    assert_close(from_ort, expected, what=f"{case}: onnxruntime vs torch")
    manifest = export_onnx(path, tmp_path / "out", name=case)
    assert_backends_match(manifest, x, expected, case)


@pytest.mark.parametrize("case", sorted(CASES))
def test_torchscript_export_is_read_as_one_op(tmp_path: Path, case: str) -> None:
    model = _model(CASES[case][0]())
    x = seeded_input(case, (3, 5, 7))
    path = torch_onnx_export(model, x, tmp_path / f"{case}.onnx")
    _check(path, model, x, case, tmp_path)


@pytest.mark.parametrize("case", DYNAMO_CASES)
def test_default_export_is_read_as_one_op(tmp_path: Path, case: str) -> None:
    model = _model(CASES[case][0]())
    x = seeded_input(case, (3, 4, 4))
    path = _dynamo_export(model, x, tmp_path / f"{case}.onnx")
    _check(path, model, x, case, tmp_path)


def test_group_norm_on_a_rank_4_per_sample_map(tmp_path: Path) -> None:
    """1x1 maps and odd sizes: the Reshape back is to the input's own shape."""
    model = _model(nn.GroupNorm(3, 6), channels=6)
    x = seeded_input("gn_1x1", (3, 1, 1))
    path = torch_onnx_export(model, x, tmp_path / "gn.onnx")
    graph, _, _ = assert_onnx_import_matches_ort(path, x, "gn 1x1", ops=("group_norm",))
    assert [n.op for n in graph.nodes].count("group_norm") == 1


def _edit(path: Path, fn) -> Path:
    model = onnx.load(str(path))
    fn(model)
    out = path.with_name(path.stem + "_edited.onnx")
    onnx.save(model, str(out))
    return out


def _set_constant(model: onnx.ModelProto, old: float, new: float) -> None:
    for node in model.graph.node:
        if node.op_type == "Constant":
            value = onnx.numpy_helper.to_array(node.attribute[0].t)
            if value.size == 1 and abs(float(value) - old) < 1e-6:
                node.attribute[0].t.CopyFrom(
                    onnx.numpy_helper.from_array(np.array(new, value.dtype))
                )
                return
    raise AssertionError(f"no Constant {old}")


def _refused_at(path: Path) -> list[str]:
    with pytest.raises(UnsupportedModelError) as info:
        read_onnx(path)
    return [f.target for f in info.value.findings]


def test_gelu_with_a_wrong_constant_is_refused_at_the_erf(tmp_path: Path) -> None:
    model = _model(nn.GELU())
    x = seeded_input("gelu_wrong", (3, 4, 4))
    path = torch_onnx_export(model, x, tmp_path / "gelu.onnx")
    edited = _edit(path, lambda m: _set_constant(m, float(np.float32(np.sqrt(2.0))), 1.5))
    assert "Erf" in _refused_at(edited)


def test_gelu_tanh_with_a_wrong_coefficient_is_read_node_by_node(tmp_path: Path) -> None:
    model = _model(nn.GELU(approximate="tanh"))
    x = seeded_input("gelu_tanh_wrong", (3, 4, 4))
    path = torch_onnx_export(model, x, tmp_path / "gelu.onnx")
    edited = _edit(path, lambda m: _set_constant(m, float(np.float32(0.044715)), 0.05))
    # Every piece has a mapping, so the near-miss is read exactly as the nodes it has.
    graph = read_onnx(edited)
    assert "gelu" not in {n.op for n in graph.nodes}


def test_silu_whose_sigmoid_is_used_elsewhere_is_not_fused(tmp_path: Path) -> None:
    class Both(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)
            self.fc = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.conv(x)
            s = torch.sigmoid(h)
            return self.fc((h * s + s).mean((2, 3)))

    model = Both().eval()
    x = seeded_input("silu_shared", (3, 4, 4))
    path = torch_onnx_export(model, x, tmp_path / "both.onnx")
    graph = read_onnx(path)
    assert "silu" not in {n.op for n in graph.nodes}


def test_group_norm_with_a_non_unit_instance_scale_is_refused(tmp_path: Path) -> None:
    model = _model(nn.GroupNorm(2, 4))
    x = seeded_input("gn_wrong", (3, 4, 4))
    path = torch_onnx_export(model, x, tmp_path / "gn.onnx")

    def scale_two(m: onnx.ModelProto) -> None:
        norm = next(n for n in m.graph.node if n.op_type == "InstanceNormalization")
        scale = next(n for n in m.graph.node if n.output[0] == norm.input[1])
        scale.attribute[0].t.CopyFrom(onnx.numpy_helper.from_array(np.full(2, 2.0, np.float32)))

    assert "InstanceNormalization" in _refused_at(_edit(path, scale_two))


def test_every_registered_pattern_is_documented() -> None:
    from pd2java.ops.frontend_registry import onnx_patterns

    text = (Path(__file__).parents[1] / "docs" / "ONNX.md").read_text(encoding="utf-8")
    section = text.split("### Fused patterns", 1)[1].split("\nNames:", 1)[0]
    for pattern in onnx_patterns():
        assert f"| `{pattern.name}`" in section, pattern.name
