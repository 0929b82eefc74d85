"""The structure ops (concat, squeeze, unsqueeze, flatten@2): the NumPy reference, the Java
runtime and the written ONNX against torch through the real export path, ONNX import
(torch.onnx.export) against onnxruntime, and the shape and value rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import (
    assert_onnx_import_matches_ort,
    export_and_compare,
    seeded_input,
    torch_onnx_export,
)
from torch import nn

from pd2java.errors import ErrorCode, UserError
from pd2java.ops.registry import ShapeError, impl


class _Net(nn.Module):
    """``body(x)`` then flatten + linear, so every value reaches the 1-D output."""

    def __init__(self, body, shape: tuple[int, ...], out_numel: int) -> None:
        super().__init__()
        self.body = body
        self.fc = nn.Linear(out_numel, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.body(x), 1))


class _Fn(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn
        self.conv = nn.Conv2d(2, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self, x)


def _ops(manifest: Path) -> list[str]:
    return [f"{n['op']}@{n['version']}" for n in json.loads(manifest.read_text())["nodes"]]


def _model(fn, shape: tuple[int, int, int]) -> nn.Module:
    torch.manual_seed(0)
    body = _Fn(fn)
    with torch.no_grad():
        out = body(torch.zeros(1, *shape))
    return _Net(body, shape, out[0].numel()).eval()


CASES = {
    # name: (body, input shape, op keys the export must hold)
    "cat_channels": (lambda m, x: torch.cat([x, m.conv(x)], 1), (2, 3, 5), ["concat@1"]),
    "cat_three_way": (
        lambda m, x: torch.cat([x, m.conv(x), x * 2], dim=-3),
        (2, 4, 3),
        ["concat@1", "concat@1"],
    ),
    "cat_tuple_h": (lambda m, x: torch.cat((x, m.conv(x)), 2), (2, 1, 4), ["concat@1"]),
    "concat_w": (lambda m, x: torch.concat([m.conv(x), x], dim=3), (2, 5, 1), ["concat@1"]),
    "cat_1x1": (lambda m, x: torch.cat([x, m.conv(x)], 1), (2, 1, 1), ["concat@1"]),
    "squeeze_unsqueeze": (
        lambda m, x: m.conv(x).unsqueeze(2).squeeze(2).unsqueeze(-1),
        (2, 3, 4),
        ["unsqueeze@1", "squeeze@1", "unsqueeze@1"],
    ),
    "torch_squeeze": (
        lambda m, x: torch.squeeze(torch.unsqueeze(x, 1), 1)[:, :1].squeeze(1),
        (2, 3, 3),
        [],
    ),
    "flatten_from_2": (lambda m, x: m.conv(x).flatten(2), (2, 3, 5), ["flatten@2"]),
    "flatten_from_3": (lambda m, x: torch.flatten(m.conv(x), -2), (2, 1, 3), ["flatten@2"]),
}


@pytest.mark.parametrize("name", [n for n in CASES if n != "torch_squeeze"])
def test_struct_ops_match_torch(tmp_path: Path, name: str) -> None:
    body, shape, ops = CASES[name]
    model = _model(body, shape)
    x = seeded_input(name, shape)
    manifest = export_and_compare(model, x, tmp_path / "fx", name, onnx=True)
    got = _ops(manifest)
    for op in set(ops):
        assert got.count(op) >= ops.count(op), got
    assert "flatten@1" in got  # the head's flatten(x, 1) stays flatten@1
    path = torch_onnx_export(model, x, tmp_path / f"{name}.onnx")
    graph, _, _ = assert_onnx_import_matches_ort(path, x, name)
    assert {o.split("@")[0] for o in ops} <= {n.op for n in graph.nodes}


def test_nn_flatten_start_dim_and_version_one(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(2, 3, 1), nn.Flatten(2), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 12, 2)
    ).eval()
    x = seeded_input("nn_flatten", (2, 3, 4))
    manifest = export_and_compare(model, x, tmp_path, "nn_flatten", onnx=True)
    assert _ops(manifest) == ["conv2d@1", "flatten@2", "relu@1", "flatten@1", "linear@1"]


def test_squeeze_without_dim_is_refused() -> None:
    from pd2java.frontends.fx import capture

    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 1, 1)
            self.fc = nn.Linear(9, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.conv(x).squeeze().flatten(1))

    with pytest.raises(UserError, match="squeeze without a dim"):
        capture(M().eval(), (2, 3, 3), name="m")


def test_cat_on_the_batch_axis_is_refused() -> None:
    from pd2java.frontends.fx import capture

    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(12, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.cat([x, x], 0).flatten(1))

    with pytest.raises(UserError, match="batch axis"):
        capture(M().eval(), (3, 2, 2), name="m")


def test_shape_rules() -> None:
    concat = impl("concat@1").infer
    assert concat({"dim": 1}, [(2, 3, 4), (5, 3, 4)]) == (7, 3, 4)
    assert concat({"dim": 3}, [(2, 3, 4), (2, 3, 1)]) == (2, 3, 5)
    with pytest.raises(ShapeError) as exc:
        concat({"dim": 1}, [(2, 3, 4), (2, 4, 4)])
    assert exc.value.code is ErrorCode.SHAPE_MISMATCH
    for bad in (0, 4):
        with pytest.raises(ShapeError) as exc:
            concat({"dim": bad}, [(2, 3, 4), (2, 3, 4)])
        assert exc.value.code is ErrorCode.INVALID_ATTRIBUTE
    with pytest.raises(ShapeError) as exc:
        impl("squeeze@1").infer({"dim": 1}, [(2, 3, 4)])
    assert exc.value.code is ErrorCode.SHAPE_MISMATCH
    assert impl("squeeze@1").infer({"dim": 2}, [(2, 1, 4)]) == (2, 4)
    assert impl("unsqueeze@1").infer({"dim": 4}, [(2, 3, 4)]) == (2, 3, 4, 1)
    assert impl("flatten@2").infer({"start_dim": 2}, [(2, 3, 4)]) == (2, 12)
    with pytest.raises(ShapeError) as exc:
        impl("flatten@2").infer({"start_dim": 0}, [(2, 3, 4)])
    assert exc.value.code is ErrorCode.INVALID_ATTRIBUTE
