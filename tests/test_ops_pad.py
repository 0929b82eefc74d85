"""The padding ops (circular_pad2d, constant_pad2d, reflection_pad2d, replication_pad2d) and the
conv2d padding modes lowered onto them: the NumPy reference and the Java runtime against torch
through the real export path, the written ONNX against torch, ONNX import (hand-built Pad and
Conv nodes, and torch.onnx.export) against onnxruntime, and the value rules."""

from __future__ import annotations

import warnings
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
    torch_forward,
    torch_onnx_export,
)
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from pd2java.backends import reference
from pd2java.errors import ErrorCode, UserError
from pd2java.format_rules import ATOL, RTOL
from pd2java.frontends.fx import capture
from pd2java.frontends.onnx import onnx_to_graph
from pd2java.ops.registry import ShapeError, impl


class _Head(nn.Module):
    """``body`` then flatten + linear, so every padded cell reaches the 1-D output."""

    def __init__(self, body: nn.Module, out_shape: tuple[int, int, int], k: int = 3) -> None:
        super().__init__()
        self.body = body
        self.fc = nn.Linear(int(np.prod(out_shape)), k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.body(x), 1))


class _FPad(nn.Module):
    """``F.pad`` as users write it."""

    def __init__(self, pad: tuple[int, ...], mode: str = "constant", value: float | None = None):
        super().__init__()
        self.pad, self.mode, self.value = pad, mode, value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "constant" and self.value is None:
            return F.pad(x, self.pad)
        if self.mode == "constant":
            return F.pad(x, self.pad, value=self.value)
        return F.pad(x, self.pad, mode=self.mode)


def _out(shape: tuple[int, int, int], lrtb: tuple[int, int, int, int]) -> tuple[int, int, int]:
    c, h, w = shape
    left, right, top, bottom = lrtb
    return (c, h + top + bottom, w + left + right)


def _check(model: nn.Module, shape: tuple[int, int, int], tmp: Path, name: str) -> Path:
    """Export (with ONNX); the NumPy reference, Java and the written ONNX all match torch."""
    x = torch.randn(3, *shape, generator=torch.Generator().manual_seed(len(name))) * 2 + 0.5
    return export_and_compare(model.eval(), x, tmp / name, name, onnx=True)


def _ops(manifest: Path) -> list[str]:
    return [n.op for n in reference.load(manifest).graph.nodes]


# --- each op, module and functional forms ----------------------------------------------------

PAD_CASES = [
    # (name, input shape, module, (l, r, t, b), op)
    ("circ_module", (2, 5, 6), nn.CircularPad2d((1, 2, 0, 3)), (1, 2, 0, 3), "circular_pad2d"),
    ("circ_f_1x1", (1, 1, 1), _FPad((1, 1, 1, 0), "circular"), (1, 1, 1, 0), "circular_pad2d"),
    ("circ_f_full", (3, 2, 3), _FPad((3, 3, 2, 2), "circular"), (3, 3, 2, 2), "circular_pad2d"),
    ("zero_module", (3, 4, 5), nn.ZeroPad2d(2), (2, 2, 2, 2), "constant_pad2d"),
    (
        "const_module",
        (2, 3, 3),
        nn.ConstantPad2d((0, 1, 2, 0), -1.5),
        (0, 1, 2, 0),
        "constant_pad2d",
    ),
    ("const_f_value", (1, 4, 7), _FPad((1, 0, 0, 2), value=0.25), (1, 0, 0, 2), "constant_pad2d"),
    ("const_f_1x1", (1, 1, 1), _FPad((1, 2, 0, 1)), (1, 2, 0, 1), "constant_pad2d"),
    ("refl_module", (2, 4, 5), nn.ReflectionPad2d((1, 2, 3, 1)), (1, 2, 3, 1), "reflection_pad2d"),
    ("refl_f", (1, 2, 2), _FPad((1, 1, 1, 0), "reflect"), (1, 1, 1, 0), "reflection_pad2d"),
    ("repl_module_1x1", (1, 1, 1), nn.ReplicationPad2d(3), (3, 3, 3, 3), "replication_pad2d"),
    ("repl_f", (2, 3, 5), _FPad((0, 2, 1, 0), "replicate"), (0, 2, 1, 0), "replication_pad2d"),
]


@pytest.mark.parametrize(
    ("name", "shape", "body", "lrtb", "op"), PAD_CASES, ids=[c[0] for c in PAD_CASES]
)
def test_pad_op_matches_torch(name, shape, body, lrtb, op, tmp_path):
    manifest = _check(_Head(body, _out(shape, lrtb)), shape, tmp_path, name)
    graph = reference.load(manifest).graph
    assert [n.op for n in graph.nodes] == [op, "flatten", "linear"]
    left, right, top, bottom = lrtb
    assert graph.nodes[0].attrs["pad_h"] == (top, bottom)
    assert graph.nodes[0].attrs["pad_w"] == (left, right)
    # our ONNX reads back as the same op (circular: written as Slice + Concat, a fused pattern)
    back = onnx_to_graph(manifest.parent / f"{name}.onnx")
    assert [n.op for n in back.nodes] == [op, "flatten", "linear"]
    assert back.nodes[0].attrs == graph.nodes[0].attrs


@pytest.mark.parametrize("opset", [17, 13])
@pytest.mark.parametrize(
    ("name", "shape", "body", "lrtb", "op"), PAD_CASES, ids=[c[0] for c in PAD_CASES]
)
def test_torchscript_onnx_export_of_pad_imports(name, shape, body, lrtb, op, opset, tmp_path):
    """torch's TorchScript exporter writes constant, reflect and replicate padding as a `Pad`
    whose pads are computed (ConstantOfShape, Concat, Reshape, reversing Slice, Transpose, Cast;
    at opset 13 without constant folding also Shape, Gather, Mul and Sub of constants), and
    circular padding as Slice + Concat: each is read as its one op with the right pads."""
    model = _Head(body, _out(shape, lrtb)).eval()
    x = torch.randn(3, *shape, generator=torch.Generator().manual_seed(len(name))) * 2 + 0.5
    path = torch_onnx_export(model, x, tmp_path / f"{name}.onnx", opset=opset, fold=opset > 13)
    graph, _, _ = assert_onnx_import_matches_ort(path, x, f"{name} (opset {opset})", ops=(op,))
    assert [n.op for n in graph.nodes] == [op, "flatten", "linear"]
    left, right, top, bottom = lrtb
    assert graph.nodes[0].attrs["pad_h"] == (top, bottom)
    assert graph.nodes[0].attrs["pad_w"] == (left, right)
    want = torch_forward(model, x)
    assert_close(reference.run_graph(graph, x.numpy()), want, ATOL, RTOL, what=f"{name} vs torch")


class _Prpd(nn.Module):
    """A PRPD classifier: (1, 60 amplitude bins, 120 phase bins); the phase axis wraps at 360
    degrees (circular pad_w), the amplitude axis does not (zero pad_h)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 3)
        self.conv2 = nn.Conv2d(6, 4, 3, stride=2, padding=(1, 1), padding_mode="circular")
        self.fc = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (1, 1, 0, 0), mode="circular")
        x = F.pad(x, (0, 0, 1, 1))
        x = torch.relu(self.conv(x))
        x = torch.relu(self.conv2(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def test_prpd_model_circular_phase_zero_amplitude(tmp_path):
    manifest = _check(_Prpd(), (1, 60, 120), tmp_path, "prpd")
    assert _ops(manifest)[:4] == ["circular_pad2d", "constant_pad2d", "conv2d", "relu"]
    assert _ops(manifest)[4:6] == ["circular_pad2d", "conv2d"]


# --- conv2d padding modes, lowered to a pad op + conv2d --------------------------------------

CONV_CASES = [
    # (name, input shape, conv, expected ops before flatten)
    (
        "conv_circular",
        (2, 5, 6),
        nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode="circular"),
        ["circular_pad2d", "conv2d"],
    ),
    (
        "conv_reflect_stride",
        (1, 6, 7),
        nn.Conv2d(1, 2, (3, 2), stride=2, padding=1, padding_mode="reflect"),
        ["reflection_pad2d", "conv2d"],
    ),
    (
        "conv_replicate_1x1",
        (3, 1, 1),
        nn.Conv2d(3, 3, 3, padding=2, groups=3, padding_mode="replicate"),
        ["replication_pad2d", "conv2d"],
    ),
    (
        "conv_same_even",
        (2, 5, 6),
        nn.Conv2d(2, 3, (4, 2), padding="same"),
        ["constant_pad2d", "conv2d"],
    ),
    ("conv_same_odd", (2, 5, 6), nn.Conv2d(2, 3, 3, padding="same", dilation=2), ["conv2d"]),
    (
        "conv_same_circular",
        (1, 4, 8),
        nn.Conv2d(1, 2, (2, 3), padding="same", padding_mode="circular"),
        ["circular_pad2d", "conv2d"],
    ),
    ("conv_circular_no_pad", (1, 4, 4), nn.Conv2d(1, 2, 3, padding_mode="circular"), ["conv2d"]),
]


@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")
@pytest.mark.parametrize(
    ("name", "shape", "conv", "ops"), CONV_CASES, ids=[c[0] for c in CONV_CASES]
)
def test_conv_padding_modes_match_torch(name, shape, conv, ops, tmp_path):
    with torch.no_grad():
        out = conv(torch.zeros(1, *shape)).shape[1:]
    manifest = _check(_Head(conv, tuple(out)), shape, tmp_path, name)
    assert _ops(manifest) == [*ops, "flatten", "linear"]
    conv_node = reference.load(manifest).graph.nodes[len(ops) - 1]
    if len(ops) == 2:
        assert conv_node.attrs["padding"] == (0, 0)


def test_conv_same_even_uses_pytorch_split(tmp_path):
    graph = capture(_Head(nn.Conv2d(1, 1, (4, 5), padding="same"), (1, 6, 6)), (1, 6, 6), name="m")
    pad = graph.nodes[0]
    # totals 3 and 4: PyTorch puts the odd extra row at the bottom
    assert (pad.op, pad.attrs) == (
        "constant_pad2d",
        {"pad_h": (1, 2), "pad_w": (2, 2), "value": 0.0},
    )


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (_FPad((1, 1, 1, 1, 1, 1)), "four ints"),
        (_FPad((1, 1)), "four ints"),
        (_FPad((-1, 0, 0, 0)), "negative pad"),
        (nn.ZeroPad2d((0, 0, -1, 0)), "negative pad"),
    ],
    ids=["six", "two", "negative", "zero_negative"],
)
def test_unsupported_pads_are_refused_clearly(body, needle, tmp_path):
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = body

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.flatten(self.body(x), 1).sum(1, keepdim=True)

    with pytest.raises(UserError) as err:
        capture(M(), (1, 2, 2), name="m")
    assert needle in str(err.value)


@pytest.mark.parametrize(
    ("op", "attrs", "shape", "code"),
    [
        ("circular_pad2d", {"pad_h": (0, -1), "pad_w": (0, 0)}, (1, 2, 2), "INVALID_ATTRIBUTE"),
        ("reflection_pad2d", {"pad_h": (0, 0), "pad_w": (-2, 0)}, (1, 4, 4), "INVALID_ATTRIBUTE"),
        ("replication_pad2d", {"pad_h": (-1, 0), "pad_w": (0, 0)}, (1, 2, 2), "INVALID_ATTRIBUTE"),
        (
            "constant_pad2d",
            {"pad_h": (1, 0), "pad_w": (0, 0), "value": 3.5e38},
            (1, 2, 2),
            "INVALID_ATTRIBUTE",
        ),
        ("circular_pad2d", {"pad_h": (3, 0), "pad_w": (0, 0)}, (1, 2, 2), "SHAPE_MISMATCH"),
        ("reflection_pad2d", {"pad_h": (0, 0), "pad_w": (0, 2)}, (1, 2, 2), "SHAPE_MISMATCH"),
        ("replication_pad2d", {"pad_h": (1, 1), "pad_w": (1, 1)}, (4,), "SHAPE_MISMATCH"),
    ],
)
def test_value_rules_and_their_codes(op, attrs, shape, code):
    with pytest.raises(ShapeError) as err:
        impl(f"{op}@1").infer(attrs, [shape])
    assert err.value.code == ErrorCode[code]


def test_edge_pads_accepted():
    assert impl("circular_pad2d@1").infer({"pad_h": (2, 2), "pad_w": (1, 0)}, [(1, 2, 1)]) == (
        1,
        6,
        2,
    )
    assert impl("reflection_pad2d@1").infer({"pad_h": (1, 1), "pad_w": (0, 0)}, [(1, 2, 1)]) == (
        1,
        4,
        1,
    )
    attrs = {"pad_h": (0, 0), "pad_w": (0, 0), "value": -3.4e38}
    assert impl("constant_pad2d@1").infer(attrs, [(2, 1, 1)]) == (2, 1, 1)


# --- ONNX import ---------------------------------------------------------------------------------

RNG = np.random.default_rng(7)


def _model(nodes, inits, in_shape, opset=17) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *in_shape])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    inferred = onnx.shape_inference.infer_shapes(model)
    model.graph.output[0].CopyFrom(inferred.graph.output[0])
    return model


def _flatten_head(nodes, inits, in_shape, opset=17) -> onnx.ModelProto:
    """``nodes`` writing ``p``, then Flatten to the 1-D output ``y``."""
    return _model(
        [*nodes, helper.make_node("Flatten", ["p"], ["y"], axis=1)], inits, in_shape, opset
    )


def _import_check(model: onnx.ModelProto, tmp: Path, in_shape) -> list:
    path = tmp / "m.onnx"
    onnx.save(model, str(path))
    x = RNG.standard_normal((2, *in_shape)).astype(np.float32)
    graph, _, _ = assert_onnx_import_matches_ort(path, x, "hand-built")
    return list(graph.nodes)


def _i64(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


@pytest.mark.parametrize(
    ("mode", "op", "opset", "value"),
    [
        ("constant", "constant_pad2d", 13, 2.5),
        ("constant", "constant_pad2d", 17, None),
        ("reflect", "reflection_pad2d", 17, None),
        ("edge", "replication_pad2d", 17, None),
        ("wrap", "circular_pad2d", 19, None),
    ],
)
def test_onnx_pad_import(mode, op, opset, value, tmp_path):
    inits = [_i64("pads", [0, 0, 1, 2, 0, 0, 2, 0])]
    inputs = ["x", "pads"]
    if value is not None:
        inits.append(numpy_helper.from_array(np.array(value, np.float32), "cv"))
        inputs.append("cv")
    node = helper.make_node("Pad", inputs, ["p"], mode=mode)
    nodes = _import_check(_flatten_head([node], inits, (2, 3, 4), opset), tmp_path, (2, 3, 4))
    assert nodes[0].op == op
    assert nodes[0].attrs["pad_h"] == (1, 2) and nodes[0].attrs["pad_w"] == (2, 0)
    if op == "constant_pad2d":
        assert nodes[0].attrs["value"] == (value or 0.0)


def test_onnx_pad_import_with_axes(tmp_path):
    inits = [_i64("pads", [1, 0, 2, 1]), _i64("axes", [3, -2])]  # W: (1, 2), H: (0, 1)
    node = helper.make_node("Pad", ["x", "pads", "", "axes"], ["p"], mode="edge")
    nodes = _import_check(_flatten_head([node], inits, (1, 3, 3), 18), tmp_path, (1, 3, 3))
    assert nodes[0].attrs == {"pad_h": (0, 1), "pad_w": (1, 2)}


@pytest.mark.parametrize(
    ("pads", "mode", "needle"),
    [
        ([0, 1, 0, 0, 0, 0, 0, 0], "constant", "batch or channel"),
        ([0, 0, -1, 0, 0, 0, 0, 0], "constant", "negative"),
        ([0, 0, 3, 0, 0, 0, 0, 0], "reflect", "not below the input height 3"),
    ],
)
def test_onnx_pad_refusals(pads, mode, needle, tmp_path):
    node = helper.make_node("Pad", ["x", "pads"], ["p"], mode=mode)
    model = _flatten_head([node], [_i64("pads", pads)], (1, 3, 3))
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    with pytest.raises(UserError) as err:
        onnx_to_graph(path)
    assert needle in str(err.value)


@pytest.mark.parametrize(
    ("auto_pad", "strides", "kernel", "pads", "ops"),
    [
        ("SAME_UPPER", [1, 1], [4, 3], None, ["constant_pad2d", "conv2d"]),
        ("SAME_LOWER", [2, 2], [3, 2], None, ["constant_pad2d", "conv2d"]),
        ("SAME_UPPER", [1, 1], [3, 3], None, ["conv2d"]),
        ("NOTSET", [1, 1], [3, 3], [0, 1, 2, 1], ["constant_pad2d", "conv2d"]),
    ],
)
def test_onnx_conv_same_and_asymmetric_pads(auto_pad, strides, kernel, pads, ops, tmp_path):
    w = RNG.standard_normal((2, 3, *kernel)).astype(np.float32)
    attrs = {"auto_pad": auto_pad, "strides": strides}
    if pads is not None:
        attrs["pads"] = pads
    node = helper.make_node("Conv", ["x", "w"], ["p"], **attrs)
    model = _flatten_head([node], [numpy_helper.from_array(w, "w")], (3, 5, 7))
    nodes = _import_check(model, tmp_path, (3, 5, 7))
    assert [n.op for n in nodes] == [*ops, "flatten"]


@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")
def test_torch_onnx_export_of_conv_same_imports(tmp_path):
    model = _Head(nn.Conv2d(2, 3, 4, padding="same"), (3, 5, 6)).eval()
    path = torch_onnx_export(model, torch.zeros(2, 2, 5, 6), tmp_path / "m.onnx")
    graph = onnx_to_graph(path)
    assert [n.op for n in graph.nodes][:2] == ["constant_pad2d", "conv2d"]
    x = torch.randn(3, 2, 5, 6)
    want = torch_forward(model, x)
    assert_close(reference.run_graph(graph, x.numpy()), want, ATOL, RTOL, what="vs torch")


def test_torch_dynamo_onnx_export_of_pads_imports(tmp_path):
    """torch.onnx.export's default (dynamo) exporter writes `Pad` with constant pads (opset 18,
    circular as mode wrap): each mode reads back as its op and matches torch."""
    body = nn.Sequential(
        nn.ReflectionPad2d((1, 0, 2, 1)),
        nn.ReplicationPad2d((0, 1, 1, 0)),
        nn.ZeroPad2d((1, 1, 0, 1)),
        nn.CircularPad2d((2, 0, 0, 1)),
    )
    model = _Head(body, (2, 10, 11)).eval()
    path = tmp_path / "m.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (torch.zeros(1, 2, 4, 5),), dynamo=True, verbose=False)
    program.save(str(path))
    graph = onnx_to_graph(path)
    assert [n.op for n in graph.nodes][:4] == [
        "reflection_pad2d",
        "replication_pad2d",
        "constant_pad2d",
        "circular_pad2d",
    ]
    x = torch.randn(2, 2, 4, 5)
    want = torch_forward(model, x)
    assert_close(reference.run_graph(graph, x.numpy()), want, ATOL, RTOL, what="vs torch")
