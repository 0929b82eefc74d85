"""The upsampling ops end to end (upsample_nearest2d, upsample_bilinear2d, conv_transpose2d):
torch -> export -> NumPy reference and Java, both against torch; the written ONNX file in
onnxruntime against torch; torch.onnx.export -> the ONNX importer -> the NumPy reference against
onnxruntime; hand-built Resize nodes; and the scale_factor and index-rule refusals."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from helpers import (
    assert_backends_match,
    assert_close,
    assert_onnx_import_matches_ort,
    export_and_compare,
    ort_run,
    seeded_input,
    torch_forward,
    torch_onnx_export,
)
from onnx import TensorProto, helper
from torch import nn

from pd2java.backends import reference
from pd2java.backends.java.bridge import java_predict
from pd2java.backends.onnx import graph_to_onnx
from pd2java.errors import UserError
from pd2java.exporter import export
from pd2java.frontends.onnx import onnx_to_graph
from pd2java.ir.passes import validate
from pd2java.ops.upsample import nearest_index, onnx_nearest_index


class Head(nn.Module):
    """conv -> layer -> flatten -> linear: every output pixel of the layer reaches the logits."""

    def __init__(self, c: int, layer: nn.Module | Callable, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.layer = layer
        with torch.no_grad():
            feat = self.layer(self.conv(torch.zeros(1, *shape))).numel()
        self.fc = nn.Linear(feat, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.layer(self.conv(x)).flatten(1))


def _f(**kw: object) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: F.interpolate(x, **kw)


# name -> (layer factory, input shape (C, H, W), op it lowers to)
CASES: dict[str, tuple[Callable[[], object], tuple[int, int, int], str]] = {
    "near_size": (lambda: nn.Upsample(size=(5, 7)), (2, 3, 4), "upsample_nearest2d"),
    "near_sf2": (lambda: nn.Upsample(scale_factor=2), (1, 3, 5), "upsample_nearest2d"),
    "near_module3": (
        lambda: nn.UpsamplingNearest2d(scale_factor=3),
        (2, 4, 3),
        "upsample_nearest2d",
    ),
    "near_f_down": (lambda: _f(size=(2, 9)), (1, 6, 5), "upsample_nearest2d"),
    "near_f_1x1": (lambda: _f(size=(3, 4), mode="nearest"), (1, 1, 1), "upsample_nearest2d"),
    "near_f_sf_pair": (lambda: _f(scale_factor=(2, 3)), (3, 2, 3), "upsample_nearest2d"),
    "near_f_recompute": (
        lambda: _f(scale_factor=1.7, recompute_scale_factor=True),
        (1, 5, 4),
        "upsample_nearest2d",
    ),
    "bil_sf2": (
        lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
        (2, 3, 4),
        "upsample_bilinear2d",
    ),
    "bil_size_ac": (
        lambda: nn.Upsample(size=(5, 7), mode="bilinear", align_corners=True),
        (1, 3, 4),
        "upsample_bilinear2d",
    ),
    "bil_module": (
        lambda: nn.UpsamplingBilinear2d(scale_factor=2),
        (1, 4, 3),
        "upsample_bilinear2d",
    ),
    "bil_f_extent1": (lambda: _f(size=(1, 6), mode="bilinear"), (1, 4, 3), "upsample_bilinear2d"),
    "bil_f_down_ac": (
        lambda: _f(size=(3, 2), mode="bilinear", align_corners=True),
        (2, 7, 5),
        "upsample_bilinear2d",
    ),
    "bil_f_1x1": (lambda: _f(size=(4, 3), mode="bilinear"), (1, 1, 1), "upsample_bilinear2d"),
    "bil_f_odd": (lambda: _f(size=(9, 5), mode="bilinear"), (3, 4, 3), "upsample_bilinear2d"),
    "convt_s2": (
        lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1),
        (3, 4, 5),
        "conv_transpose2d",
    ),
    "convt_groups_dil": (
        lambda: nn.ConvTranspose2d(
            4,
            6,
            (2, 3),
            stride=(1, 2),
            padding=(1, 1),
            output_padding=(1, 0),
            dilation=2,
            groups=2,
            bias=False,
        ),
        (4, 3, 4),
        "conv_transpose2d",
    ),
    "convt_1x1_map": (lambda: nn.ConvTranspose2d(1, 1, 2, stride=2), (1, 1, 1), "conv_transpose2d"),
    "convt_k1": (lambda: nn.ConvTranspose2d(2, 3, 1), (2, 3, 3), "conv_transpose2d"),
    "convt_depthwise": (
        lambda: nn.ConvTranspose2d(3, 3, 3, stride=3, padding=2, output_padding=2, groups=3),
        (3, 4, 5),
        "conv_transpose2d",
    ),
}


def _model(name: str) -> nn.Module:
    torch.manual_seed(zlib.crc32(name.encode()))
    factory, shape, _ = CASES[name]
    return Head(shape[0], factory(), shape).eval()


@pytest.mark.parametrize("name", sorted(CASES))
def test_export_reference_java_onnx_match_torch(name: str, tmp_path: Path) -> None:
    _, shape, op = CASES[name]
    model = _model(name)
    x = seeded_input(name, shape)
    expected = torch_forward(model, x)
    manifest = export(model, tmp_path, input_shape=shape, name=name, onnx=True)
    graph = reference.load(manifest).graph
    assert op in [n.op for n in graph.nodes], [n.op for n in graph.nodes]
    assert_backends_match(manifest, x, expected, name, tmp_path / f"{name}.onnx")


def test_nearest_matches_torch_exactly_on_many_sizes() -> None:
    """The NumPy nearest kernel picks PyTorch's pixels exactly, up and down, odd and even."""
    from pd2java.ops.upsample import upsample_bilinear2d_kernel, upsample_nearest2d_kernel

    x = seeded_input("sizes", (2, 7, 14), batch=1)
    for oh in (1, 2, 3, 5, 6, 7, 9, 13, 14, 20, 28):
        for ow in (1, 4, 14, 15, 28, 33):
            want = F.interpolate(x, size=(oh, ow)).numpy()
            got = upsample_nearest2d_kernel({"output_size": (oh, ow)}, [x.numpy()], {})
            np.testing.assert_array_equal(got, want)
            for ac in (False, True):
                want = F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=ac)
                got = upsample_bilinear2d_kernel(
                    {"output_size": (oh, ow), "align_corners": ac}, [x.numpy()], {}
                )
                assert_close(got, want.numpy(), what=f"bilinear {oh}x{ow} {ac}")


class UNet(nn.Module):
    """A small encoder-decoder without skip connections: conv, max pool, conv, upsample (or
    transposed conv), conv, global average pool, linear."""

    def __init__(self, up: str) -> None:
        super().__init__()
        self.enc1 = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.enc2 = nn.Conv2d(4, 8, 3, padding=1)
        self.up: nn.Module = {
            "nearest": nn.Upsample(scale_factor=2),
            "bilinear": nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            "transposed": nn.ConvTranspose2d(8, 8, 2, stride=2),
        }[up]
        self.dec = nn.Conv2d(8, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.enc1(x))
        x = F.relu(self.enc2(self.pool(x)))
        x = F.relu(self.dec(self.up(x)))
        return self.fc(x.mean((2, 3)))


@pytest.mark.parametrize("up", ["nearest", "bilinear", "transposed"])
def test_unet_encoder_decoder(up: str, tmp_path: Path) -> None:
    torch.manual_seed(7)
    model = UNet(up).eval()
    shape = (1, 16, 32)
    x = seeded_input(f"unet-{up}", shape, batch=4)
    export_and_compare(model, x, tmp_path, f"unet_{up}", onnx=True)


# --- refusals at lowering ---------------------------------------------------------------------


def test_scale_factor_that_samples_differently_is_refused(tmp_path: Path) -> None:
    # 5 rows * 1.7 = 8: PyTorch samples with 1/1.7, not 5/8, and picks other rows.
    assert not np.array_equal(nearest_index(5, 8, 1 / 1.7), nearest_index(5, 8))
    for layer in (nn.Upsample(scale_factor=1.7), nn.Upsample(scale_factor=1.7, mode="bilinear")):
        model = Head(1, layer, (1, 5, 5)).eval()
        with pytest.raises(UserError, match="scale_factor"):
            export(model, tmp_path, input_shape=(1, 5, 5), name="sf", onnx=False)


@pytest.mark.parametrize(
    "layer, match",
    [
        (lambda: nn.Upsample(scale_factor=2, mode="bicubic"), "mode 'bicubic'"),
        (lambda: _f(scale_factor=2, mode="nearest-exact"), "nearest-exact"),
        (lambda: _f(scale_factor=2, mode="bilinear", antialias=True), "antialias"),
        (lambda: nn.ConvTranspose2d(1, 1, 3, padding_mode="zeros", padding=1), None),
    ],
)
def test_unsupported_forms(layer: Callable, match: str | None, tmp_path: Path) -> None:
    model = Head(1, layer(), (1, 4, 4)).eval()
    if match is None:  # the control case exports
        export(model, tmp_path, input_shape=(1, 4, 4), name="ok", onnx=False)
        return
    with pytest.raises(UserError, match=match):
        export(model, tmp_path, input_shape=(1, 4, 4), name="bad", onnx=False)


# --- ONNX: torch.onnx.export -> importer ------------------------------------------------------


ONNX_IMPORT = [
    "near_size",
    "near_sf2",
    "near_f_down",
    "bil_sf2",
    "bil_size_ac",
    "bil_f_odd",
    "convt_s2",
    "convt_depthwise",
    "convt_1x1_map",
]


@pytest.mark.parametrize("name", ONNX_IMPORT)
@pytest.mark.parametrize("opset", [13, 17])
def test_torch_onnx_export_imports(name: str, opset: int, tmp_path: Path) -> None:
    _, shape, op = CASES[name]
    model = _model(name)
    x = seeded_input(name, shape)
    path = torch_onnx_export(model, x, tmp_path / f"{name}.onnx", opset)
    _, expected, _ = assert_onnx_import_matches_ort(path, x, name, ops={op})
    assert_close(expected, torch_forward(model, x), what=f"{name} onnxruntime vs torch")


# --- ONNX: hand-built Resize / ConvTranspose --------------------------------------------------


def _resize_model(
    shape: tuple[int, int, int],
    out_hw: tuple[int, int],
    path: Path,
    *,
    sizes: bool = True,
    scales: tuple[float, float] | None = None,
    **attrs: object,
) -> Path:
    inits = [helper.make_tensor("roi", TensorProto.FLOAT, [0], [])]
    inputs = ["x", "roi"]
    if sizes:
        inputs += ["", "sizes"]
        inits.append(helper.make_tensor("sizes", TensorProto.INT64, [4], [1, shape[0], *out_hw]))
    else:
        inputs.append("scales")
        inits.append(helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, *scales]))
    nodes = [
        helper.make_node("Resize", inputs, ["r"], name="resize", **attrs),
        helper.make_node("Flatten", ["r"], ["y"], name="flat", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        # A batch of 1: constant sizes fix it (a symbolic batch needs sizes from Shape(x)).
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, *shape])],
        [
            helper.make_tensor_value_info(
                "y", TensorProto.FLOAT, [1, shape[0] * out_hw[0] * out_hw[1]]
            )
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


NEAREST = {
    "mode": "nearest",
    "coordinate_transformation_mode": "asymmetric",
    "nearest_mode": "floor",
}


@pytest.mark.parametrize(
    "shape, out_hw, sizes, scales, attrs, op",
    [
        ((2, 3, 5), (7, 11), True, None, NEAREST, "upsample_nearest2d"),
        ((1, 4, 4), (8, 12), False, (2.0, 3.0), NEAREST, "upsample_nearest2d"),
        ((2, 3, 5), (7, 2), True, None, {"mode": "linear"}, "upsample_bilinear2d"),
        ((1, 4, 5), (1, 3), True, None, {"mode": "linear"}, "upsample_bilinear2d"),
        (
            (2, 3, 5),
            (6, 9),
            True,
            None,
            {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"},
            "upsample_bilinear2d",
        ),
        (
            (1, 3, 4),
            (6, 8),
            False,
            (2.0, 2.0),
            {"mode": "linear", "coordinate_transformation_mode": "align_corners"},
            "upsample_bilinear2d",
        ),
    ],
)
def test_hand_built_resize_imports_and_round_trips(
    shape: tuple[int, int, int],
    out_hw: tuple[int, int],
    sizes: bool,
    scales: tuple[float, float] | None,
    attrs: dict,
    op: str,
    tmp_path: Path,
) -> None:
    path = _resize_model(shape, out_hw, tmp_path / "r.onnx", sizes=sizes, scales=scales, **attrs)
    x = seeded_input("resize", shape, batch=1)
    graph = onnx_to_graph(path)
    validate(graph)
    assert graph.nodes[0].op == op
    assert tuple(graph.nodes[0].attrs["output_size"]) == out_hw
    expected = ort_run(path, x)
    assert_close(reference.run_graph(graph, x.numpy()), expected, what="imported")
    written = graph_to_onnx(graph)
    assert "Resize" in [n.op_type for n in written.graph.node]
    assert_close(ort_run(written.SerializeToString(), x), expected, what="written back")


@pytest.mark.parametrize(
    "shape, out_hw, attrs, match",
    [
        # ONNX's floor(dst / (2 / 14)) and PyTorch's floor(dst * 14 / 2) pick different columns.
        ((1, 1, 14), (1, 2), NEAREST, "picks other rows"),
        ((1, 2, 2), (4, 4), {"mode": "nearest"}, "asymmetric"),
        ((1, 2, 2), (4, 4), {"mode": "cubic"}, "mode 'cubic'"),
        (
            (1, 4, 4),
            (1, 8),
            {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"},
            "pytorch_half_pixel",
        ),
    ],
)
def test_resize_refusals(
    shape: tuple[int, int, int], out_hw: tuple[int, int], attrs: dict, match: str, tmp_path: Path
) -> None:
    path = _resize_model(shape, out_hw, tmp_path / "r.onnx", **attrs)
    with pytest.raises(UserError, match=match):
        onnx_to_graph(path)


def test_writer_refuses_nearest_rows_onnx_cannot_express(tmp_path: Path) -> None:
    assert not np.array_equal(onnx_nearest_index(14, 2), nearest_index(14, 2))
    model = Head(1, _f(size=(1, 2)), (1, 1, 14)).eval()
    manifest = export(model, tmp_path, input_shape=(1, 1, 14), name="n", onnx=False)
    with pytest.raises(UserError, match="no exact ONNX Resize equivalent"):
        graph_to_onnx(reference.load(manifest).graph)


def test_hand_built_conv_transpose_imports(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    w = rng.standard_normal((2, 3, 3, 2)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    nodes = [
        helper.make_node(
            "ConvTranspose",
            ["x", "w", "b"],
            ["t"],
            name="ct",
            strides=[2, 3],
            pads=[1, 0, 1, 0],
            output_padding=[1, 2],
            dilations=[1, 1],
        ),
        helper.make_node("Flatten", ["t"], ["y"], name="flat", axis=1),
    ]
    # (3 - 1) * 2 - 2 + 3 + 1 = 6 rows, (4 - 1) * 3 + 2 + 2 = 13 columns
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3 * 6 * 13])],
        [onnx.numpy_helper.from_array(w, "w"), onnx.numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "ct.onnx"
    onnx.save(model, str(path))
    x = seeded_input("ct", (2, 3, 4))
    g = onnx_to_graph(path)
    validate(g)
    assert g.nodes[0].op == "conv_transpose2d"
    expected = ort_run(path, x)
    want = F.conv_transpose2d(
        x,
        torch.from_numpy(w),
        torch.from_numpy(b),
        stride=(2, 3),
        padding=(1, 0),
        output_padding=(1, 2),
    ).flatten(1)
    assert_close(expected, want.numpy(), what="onnxruntime vs torch")
    assert_close(reference.run_graph(g, x.numpy()), expected, what="imported")
    written = graph_to_onnx(g)
    assert_close(ort_run(written.SerializeToString(), x), expected, what="written back")


def test_writer_refuses_output_padding_onnx_cannot_express(tmp_path: Path) -> None:
    # output_padding 1 is below the dilation 2 (PyTorch accepts it) but not below the stride 1,
    # and there is no padding to give back.
    layer = nn.ConvTranspose2d(1, 1, 2, stride=1, output_padding=1, dilation=2)
    model = Head(1, layer, (1, 3, 3)).eval()
    manifest = export(model, tmp_path, input_shape=(1, 3, 3), name="ct", onnx=False)
    x = seeded_input("ct-op", (1, 3, 3))
    with torch.no_grad():
        assert_close(java_predict(manifest, x.numpy()), model(x).numpy(), what="java")
    with pytest.raises(UserError, match="cannot express"):
        graph_to_onnx(reference.load(manifest).graph)


def test_resize_with_constant_batch_in_sizes_is_refused_for_a_symbolic_batch(
    tmp_path: Path,
) -> None:
    path = _resize_model((1, 2, 2), (4, 4), tmp_path / "r.onnx", **NEAREST)
    model = onnx.load(str(path))
    for value in (model.graph.input[0], model.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    onnx.save(model, str(path))
    with pytest.raises(UserError, match="fix the batch size"):
        onnx_to_graph(path)


@pytest.mark.parametrize(
    "shape, kw",
    [
        ((1, 14, 21), {"size": (2, 3)}),
        ((1, 20, 7), {"size": (12, 13)}),
        ((2, 5, 4), {"size": (8, 11)}),
        ((1, 4, 6), {"scale_factor": 1.5}),
        ((1, 4, 6), {"scale_factor": 1.5, "mode": "bilinear"}),
        ((1, 9, 5), {"size": (4, 12), "mode": "bilinear", "align_corners": True}),
    ],
)
def test_java_picks_torchs_pixels_on_awkward_ratios(
    shape: tuple[int, int, int], kw: dict, tmp_path: Path
) -> None:
    """Down- and non-integer ratios, where float32 rounding decides the nearest row; ONNX is not
    written (some of these have no exact ONNX Resize)."""
    torch.manual_seed(5)
    model = Head(shape[0], _f(**kw), shape).eval()
    x = seeded_input(f"awkward{shape}{kw}", shape)
    with torch.no_grad():
        expected = model(x).numpy()
    manifest = export(model, tmp_path, input_shape=shape, name="awkward", onnx=False)
    assert_close(reference.run(manifest, x.numpy()), expected, what="reference")
    assert_close(java_predict(manifest, x.numpy()), expected, what="java")
