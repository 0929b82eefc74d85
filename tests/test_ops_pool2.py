"""max_pool2d@2 and avg_pool2d@2 (per-side padding, PyTorch's ceil_mode): the NumPy reference,
the Java runtime and the written ONNX against torch through the real export path; ONNX import
(torch.onnx.export, and hand-built MaxPool / AveragePool nodes with asymmetric pads, ceil_mode
and auto_pad) against onnxruntime; @1 still written where it suffices; the value rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from helpers import (
    assert_close,
    assert_onnx_import_matches_ort,
    export_and_compare,
    ort_run,
    seeded_input,
    torch_onnx_export,
)
from onnx import TensorProto, helper
from torch import nn

from pd2java.backends import reference
from pd2java.backends.java.bridge import java_predict
from pd2java.errors import ErrorCode, UserError
from pd2java.exporter import export_onnx
from pd2java.format_rules import ATOL, RTOL
from pd2java.ops.registry import ShapeError, impl


class _Head(nn.Module):
    """``body``, then flatten + linear, so every pooled cell reaches the 1-D output."""

    def __init__(self, body: nn.Module, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.body = body
        with torch.no_grad():
            size = body(torch.zeros(1, *shape)).numel()
        torch.manual_seed(size)
        self.fc = nn.Linear(size, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.body(x), 1))


class _Fn(nn.Module):
    """A functional pool as users write it."""

    def __init__(self, fn: str, **kwargs: object) -> None:
        super().__init__()
        self.fn, self.kwargs = fn, kwargs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(F, self.fn)(x, **self.kwargs)


# (name, per-sample input shape, pool): every one with ceil_mode=True
CASES = [
    ("max_k3s2p1_odd", (2, 7, 6), nn.MaxPool2d(3, 2, 1, ceil_mode=True)),
    ("max_stride_gt_kernel", (3, 5, 8), nn.MaxPool2d(2, 3, ceil_mode=True)),
    ("max_dilated", (2, 9, 7), nn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True)),
    ("max_rect", (1, 6, 11), nn.MaxPool2d((2, 3), (3, 2), (1, 1), ceil_mode=True)),
    ("max_1x1", (3, 1, 1), nn.MaxPool2d(2, 2, ceil_mode=True)),
    ("max_window_over_input", (2, 2, 7), nn.MaxPool2d((4, 3), (3, 2), ceil_mode=True)),
    ("avg_incl_odd", (2, 6, 7), nn.AvgPool2d(3, 2, 1, ceil_mode=True)),
    ("avg_excl_odd", (2, 6, 7), nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)),
    ("avg_incl_stride_gt_kernel", (3, 5, 8), nn.AvgPool2d(2, 3, ceil_mode=True)),
    (
        "avg_excl_rect",
        (1, 7, 10),
        nn.AvgPool2d((2, 4), (3, 3), (1, 2), ceil_mode=True, count_include_pad=False),
    ),
    ("avg_1x1", (2, 1, 1), nn.AvgPool2d(3, 2, 1, ceil_mode=True)),
    (
        "f_max",
        (2, 7, 5),
        _Fn("max_pool2d", kernel_size=3, stride=2, padding=1, ceil_mode=True),
    ),
    (
        "f_avg",
        (2, 7, 5),
        _Fn("avg_pool2d", kernel_size=2, stride=2, padding=1, ceil_mode=True),
    ),
    (
        "f_avg_excl",
        (1, 5, 5),
        _Fn(
            "avg_pool2d",
            kernel_size=3,
            stride=2,
            padding=1,
            ceil_mode=True,
            count_include_pad=False,
        ),
    ),
]


def _keys(manifest: Path) -> list[str]:
    return [n.key for n in reference.load(manifest).graph.nodes]


@pytest.mark.parametrize(("name", "shape", "pool"), CASES, ids=[c[0] for c in CASES])
def test_ceil_mode_pools_match_torch(
    tmp_path: Path, name: str, shape: tuple[int, int, int], pool: nn.Module
) -> None:
    model = _Head(pool, shape).eval()
    x = seeded_input(name, shape)
    manifest = export_and_compare(model, x, tmp_path / name, name, onnx=True)
    keys = _keys(manifest)
    assert any(k in ("max_pool2d@2", "avg_pool2d@2") for k in keys), keys
    # torch.onnx.export of the same model, read by pd2java, against onnxruntime
    path = torch_onnx_export(model, x, tmp_path / f"{name}.onnx")
    if _onnx_inference_keeps_a_dropped_window(pool, shape):
        # PyTorch and onnxruntime drop a last window starting in the end padding; ONNX opset 17
        # shape inference keeps it, and the importer's cross-check refuses rather than guess.
        with pytest.raises(UserError, match="refusing rather than misreading"):
            export_onnx(path, tmp_path / "onnx_out", name=name)
        return
    graph, _, _ = assert_onnx_import_matches_ort(path, x, name)
    assert any(n.key in ("max_pool2d@2", "avg_pool2d@2") for n in graph.nodes)


def _onnx_inference_keeps_a_dropped_window(pool: nn.Module, shape: tuple[int, int, int]) -> bool:
    """Whether ONNX's ceil output size (without PyTorch's last-window rule) differs from torch's
    on this input."""
    kw = pool.kwargs if isinstance(pool, _Fn) else vars(pool)
    pair = nn.modules.utils._pair
    k, p = pair(kw["kernel_size"]), pair(kw.get("padding", 0))
    s, d = pair(kw.get("stride") or kw["kernel_size"]), pair(kw.get("dilation", 1))
    for i in range(2):
        num = shape[1 + i] + 2 * p[i] - d[i] * (k[i] - 1) - 1
        ceil = -(-num // s[i]) + 1
        if (ceil - 1) * s[i] >= shape[1 + i] + p[i]:
            return True
    return False


def test_floor_mode_still_writes_v1(tmp_path: Path) -> None:
    """Without ceil_mode the pools are written as before: @1 with symmetric ``padding``."""
    body = nn.Sequential(nn.MaxPool2d(3, 2, 1), nn.AvgPool2d(2, count_include_pad=False))
    model = _Head(body, (2, 9, 9)).eval()
    manifest = export_and_compare(model, seeded_input("v1", (2, 9, 9)), tmp_path, "v1", True)
    nodes = reference.load(manifest).graph.nodes
    assert [n.key for n in nodes][:2] == ["max_pool2d@1", "avg_pool2d@1"]
    assert "padding" in nodes[0].attrs and "ceil_mode" not in nodes[0].attrs


# --- hand-built ONNX: asymmetric pads, ceil_mode, auto_pad ------------------------------------


def _pool_model(op: str, shape: tuple[int, int, int], **attrs: object) -> onnx.ModelProto:
    """x (N, C, H, W) -> pool -> Flatten -> y."""
    nodes = [
        helper.make_node(op, ["x"], ["p"], name="pool", **attrs),
        helper.make_node("Flatten", ["p"], ["y"], name="flat", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *shape])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", None])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


ONNX_CASES = [
    # (name, op, input shape, attributes, expected IR op key)
    ("max_asym", "MaxPool", (2, 7, 6), {"kernel_shape": [3, 2], "pads": [1, 0, 0, 1]}, 2),
    (
        "avg_asym_incl",
        "AveragePool",
        (2, 6, 7),
        {"kernel_shape": [3, 3], "strides": [2, 1], "pads": [0, 1, 1, 0], "count_include_pad": 1},
        2,
    ),
    (
        "avg_asym_excl",
        "AveragePool",
        (2, 6, 7),
        {"kernel_shape": [3, 3], "strides": [2, 1], "pads": [1, 1, 0, 0]},
        2,
    ),
    (
        "max_ceil",
        "MaxPool",
        (2, 7, 8),
        {"kernel_shape": [3, 3], "strides": [2, 3], "pads": [1, 0, 1, 1], "ceil_mode": 1},
        2,
    ),
    (
        "avg_ceil_incl",
        "AveragePool",
        (2, 8, 8),
        {
            "kernel_shape": [3, 3],
            "strides": [2, 2],
            "pads": [1, 1, 1, 1],
            "ceil_mode": 1,
            "count_include_pad": 1,
        },
        2,
    ),
    (
        "max_same_upper",
        "MaxPool",
        (2, 7, 6),
        {"kernel_shape": [2, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"},
        2,
    ),
    (
        "max_same_lower",
        "MaxPool",
        (2, 7, 6),
        {"kernel_shape": [2, 2], "strides": [1, 1], "auto_pad": "SAME_LOWER"},
        2,
    ),
    (
        "avg_same_upper",
        "AveragePool",
        (3, 5, 7),
        {"kernel_shape": [3, 2], "strides": [2, 3], "auto_pad": "SAME_UPPER"},
        2,
    ),
    (
        "avg_same_upper_incl",
        "AveragePool",
        (2, 4, 6),
        {"kernel_shape": [2, 3], "auto_pad": "SAME_UPPER", "count_include_pad": 1},
        2,
    ),
    (
        "avg_same_lower",
        "AveragePool",
        (3, 5, 8),
        {"kernel_shape": [2, 3], "strides": [1, 2], "auto_pad": "SAME_LOWER"},
        2,
    ),
    (
        "avg_same_symmetric",
        "AveragePool",
        (2, 5, 5),
        {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER"},
        1,
    ),
    (
        "max_valid",
        "MaxPool",
        (2, 5, 6),
        {"kernel_shape": [2, 2], "strides": [2, 2], "auto_pad": "VALID"},
        1,
    ),
]


@pytest.mark.parametrize(
    ("name", "op", "shape", "attrs", "version"), ONNX_CASES, ids=[c[0] for c in ONNX_CASES]
)
def test_onnx_pool_import_matches_onnxruntime(
    tmp_path: Path, name: str, op: str, shape: tuple[int, int, int], attrs: dict, version: int
) -> None:
    path = tmp_path / f"{name}.onnx"
    onnx.save(_pool_model(op, shape, **attrs), path)
    x = seeded_input(name, shape)
    graph, _, _ = assert_onnx_import_matches_ort(path, x, name)
    ir = {"MaxPool": "max_pool2d", "AveragePool": "avg_pool2d"}[op]
    assert f"{ir}@{version}" in [n.key for n in graph.nodes]
    # and through pd2java's own export: reference, Java and the re-written ONNX agree with ORT
    expected = ort_run(path, x)
    manifest = export_onnx(path, tmp_path / "out", name=name, onnx=True)
    xs = x.numpy()
    assert_close(reference.run(manifest, xs), expected, ATOL, RTOL, what=f"{name}: reference")
    assert_close(java_predict(manifest, xs), expected, ATOL, RTOL, what=f"{name}: Java")
    written = manifest.parent / f"{name}.onnx"
    assert_close(ort_run(written, xs), expected, ATOL, RTOL, what=f"{name}: written ONNX")


def test_same_auto_pad_with_ceil_mode_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(
        _pool_model("MaxPool", (1, 5, 5), kernel_shape=[2, 2], auto_pad="SAME_LOWER", ceil_mode=1),
        path,
    )
    with pytest.raises(UserError, match="auto_pad=SAME_LOWER with ceil_mode=1"):
        export_onnx(path, tmp_path / "out", name="m")


# --- value rules ------------------------------------------------------------------------------


def _max2(**changes: object) -> dict:
    attrs = {
        "kernel_size": (3, 3),
        "stride": (2, 2),
        "pad_h": (1, 1),
        "pad_w": (0, 1),
        "dilation": (1, 1),
        "ceil_mode": True,
    }
    return {**attrs, **changes}


def _avg2(**changes: object) -> dict:
    attrs = {k: v for k, v in _max2().items() if k != "dilation"}
    return {**attrs, "count_include_pad": True, **changes}


@pytest.mark.parametrize(
    ("key", "attrs", "pattern"),
    [
        ("max_pool2d@2", _max2(pad_h=(0, 2)), "half the kernel"),
        ("max_pool2d@2", _max2(pad_w=(-1, 0)), "must be >= 0"),
        ("avg_pool2d@2", _avg2(pad_w=(2, 1)), "half the kernel"),
        ("max_pool2d@2", _max2(ceil_mode=1), "ceil_mode must be a bool"),
        ("avg_pool2d@2", _avg2(count_include_pad=0), "count_include_pad must be a bool"),
        ("avg_pool2d@2", _avg2(stride=(0, 1)), ">= 1"),
    ],
)
def test_value_rules(key: str, attrs: dict, pattern: str) -> None:
    with pytest.raises(ShapeError, match=pattern) as info:
        impl(key).infer(attrs, [(2, 6, 6)])
    assert info.value.code == ErrorCode.INVALID_ATTRIBUTE


def test_output_size_rule_drops_a_window_starting_in_the_end_padding() -> None:
    # width 3, kernel 2, stride 2, pads [1, 1]: ceil gives 3 windows, the third would start at
    # padded column 4 >= 3 + 1 and is dropped (PyTorch's rule): (C, 1, 2), as torch computes.
    attrs = _max2(kernel_size=(1, 2), stride=(1, 2), pad_h=(0, 0), pad_w=(1, 1))
    got = impl("max_pool2d@2").infer(attrs, [(1, 1, 3)])
    want = F.max_pool2d(torch.zeros(1, 1, 1, 3), (1, 2), (1, 2), (0, 1), ceil_mode=True).shape
    assert got == tuple(want[1:]) == (1, 1, 2)
    x = np.arange(1, 4, dtype=np.float32).reshape(1, 1, 1, 3)
    out = impl("max_pool2d@2").kernel(attrs, [x], {})
    np.testing.assert_array_equal(out.reshape(-1), [1, 3])
