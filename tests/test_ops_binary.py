"""The elementwise binary ops (add@1/add@2, sub, mul, div) and constant operands end to end:
torch -> export -> the NumPy reference and Java, both against torch; the written ONNX file in
onnxruntime; torch.onnx.export -> the ONNX importer -> the NumPy reference against onnxruntime;
add of equal shapes still written as add@1."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import (
    assert_backends_match,
    assert_close,
    assert_onnx_import_matches_ort,
    ort_run,
    read_onnx,
    seeded_input,
    torch_forward,
    torch_onnx_export,
)
from torch import nn

from pd2java.backends import reference
from pd2java.errors import ErrorCode, FormatError, UserError
from pd2java.exporter import export
from pd2java.ir import Graph, Node, ValueSpec
from pd2java.ir.passes import validate


class Binary(nn.Module):
    """conv -> fn(features, self) -> global average pool -> linear (a 1-D output).

    ``fn`` sees the conv's (C, H, W) output and the module (for its buffers and a second conv
    ``side`` of ``side_out`` channels computed from the input)."""

    def __init__(
        self,
        c: int,
        fn: Callable[[torch.Tensor, Binary], torch.Tensor],
        *,
        side_out: int = 0,
        buffers: dict[str, tuple[int, ...]] | None = None,
        positive: tuple[str, ...] = (),
        out: int = 0,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.side = nn.Conv2d(c, side_out or c, 1)
        for name, shape in (buffers or {}).items():
            t = torch.randn(*shape)
            self.register_buffer(name, t.abs() + 0.5 if name in positive else t)
        self.fn = fn
        self.fc = nn.Linear(out or c, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fn(self.conv(x), self)
        return self.fc(y.mean((2, 3)))


class SE(nn.Module):
    """Squeeze-and-excitation: global avg pool (keepdims) -> conv1x1 -> relu -> conv1x1 ->
    sigmoid -> a gate multiplying the features."""

    def __init__(self, c: int, r: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.squeeze = nn.Conv2d(c, r, 1)
        self.excite = nn.Conv2d(r, c, 1)
        self.fc = nn.Linear(c, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv(x))
        s = torch.sigmoid(self.excite(torch.relu(self.squeeze(x.mean((2, 3), keepdim=True)))))
        x = x * s
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class Normalised(nn.Module):
    """Input normalisation by per-channel buffers, then conv -> pool -> linear."""

    def __init__(self, c: int, four_d: bool) -> None:
        super().__init__()
        shape = (1, c, 1, 1) if four_d else (c, 1, 1)
        self.register_buffer("mean", torch.randn(*shape))
        self.register_buffer("std", torch.rand(*shape) + 0.5)
        self.conv = nn.Conv2d(c, 3, 3)
        self.fc = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        return self.fc(self.conv(x).mean((2, 3)))


def _b(c: int, fn: Callable[..., torch.Tensor], **kw: object) -> Callable[[], nn.Module]:
    return lambda: Binary(c, fn, **kw)  # type: ignore[arg-type]


# name -> (model factory, input shape (C, H, W), the ops the graph must hold, ONNX round trip)
CASES: dict[str, tuple[Callable[[], nn.Module], tuple[int, int, int], set[str]]] = {
    # (C, H, W) x (C, 1, 1): a computed gate, and the SE block
    "mul_gate": (
        _b(3, lambda f, m: f * torch.sigmoid(f.mean((2, 3), keepdim=True))),
        (3, 5, 4),
        {"mul@1"},
    ),
    "se_block": (lambda: SE(4, 2), (4, 6, 5), {"mul@1", "conv2d@1"}),
    "se_block_1x1": (lambda: SE(1, 1), (1, 1, 1), {"mul@1"}),
    # (C, 1, 1) x (C, H, W): the broadcast operand on the left
    "mul_gate_left": (
        _b(2, lambda f, m: torch.mul(torch.sigmoid(f.mean((2, 3), keepdim=True)), f)),
        (2, 3, 7),
        {"mul@1"},
    ),
    # (C, H, W) x (1, H, W): a one-channel map
    "add_map": (_b(3, lambda f, m: f + m.side(f), side_out=1), (3, 4, 5), {"add@2"}),
    "sub_map_method": (_b(2, lambda f, m: m.side(f).sub(f), side_out=1), (2, 3, 3), {"sub@1"}),
    "div_map": (
        _b(3, lambda f, m: f / (torch.sigmoid(m.side(f)) + 0.5), side_out=1),
        (3, 5, 5),
        {"div@1", "add@2"},
    ),
    # (C, H, W) x (W) and x (H, W) buffers (right-aligned, the shorter padded with 1s)
    "mul_row_buffer": (_b(2, lambda f, m: f * m.row, buffers={"row": (6,)}), (2, 4, 6), {"mul@1"}),
    "add_plane_buffer": (
        _b(3, lambda f, m: torch.add(m.plane, f), buffers={"plane": (3, 3)}),
        (3, 3, 3),
        {"add@2"},
    ),
    # same shapes: x * y, x - y, x / y, x + y (add@1)
    "same_shape": (
        _b(
            2,
            lambda f, m: (f * m.side(f) - f).div(torch.sigmoid(m.side(f)) + 1.0) + m.side(f),
        ),
        (2, 5, 3),
        {"mul@1", "sub@1", "div@1", "add@1"},
    ),
    # numbers as operands, on either side
    "scalars": (
        _b(2, lambda f, m: (2.0 - f * 0.5) / 4 + torch.sub(f, 1.5).mul(3) - (1 / (f * f + 1))),
        (2, 4, 4),
        {"constant@1", "mul@1", "sub@1", "div@1", "add@1"},
    ),
    "scalar_add_int": (_b(1, lambda f, m: torch.add(f, 2)), (1, 1, 1), {"constant@1", "add@2"}),
    # per-channel constants: input normalisation with (C, 1, 1) and (1, C, 1, 1) buffers
    "normalise": (lambda: Normalised(3, False), (3, 5, 6), {"sub@1", "div@1", "constant@1"}),
    "normalise_4d_buffers": (lambda: Normalised(2, True), (2, 4, 4), {"sub@1", "div@1"}),
    "div_per_channel": (
        _b(
            2, lambda f, m: torch.div(f, m.scale), buffers={"scale": (2, 1, 1)}, positive=("scale",)
        ),
        (2, 3, 2),
        {"div@1"},
    ),
}


def _model(name: str) -> nn.Module:
    torch.manual_seed(zlib.crc32(name.encode()))
    return CASES[name][0]().eval()


@pytest.mark.parametrize("name", sorted(CASES))
def test_export_reference_java_onnx_match_torch(name: str, tmp_path: Path) -> None:
    _, shape, ops = CASES[name]
    model = _model(name)
    x = seeded_input(name, shape)
    expected = torch_forward(model, x)
    manifest = export(model, tmp_path, input_shape=shape, name=name, onnx=True)
    keys = {n.key for n in reference.load(manifest).graph.nodes}
    assert ops <= keys, sorted(keys)
    written = tmp_path / f"{name}.onnx"
    assert_backends_match(manifest, x, expected, name, written)
    # the written ONNX file reads back to the same function
    assert_close(
        reference.run_graph(read_onnx(written), x.numpy()), expected, what=f"{name} reread"
    )


@pytest.mark.parametrize(
    "name",
    ["se_block", "add_map", "same_shape", "scalars", "normalise_4d_buffers", "mul_row_buffer"],
)
def test_torch_onnx_export_imports(name: str, tmp_path: Path) -> None:
    _, shape, ops = CASES[name]
    model = _model(name)
    x = seeded_input(name, shape)
    path = torch_onnx_export(model, x, tmp_path / f"{name}.onnx")
    bare_ops = {op.split("@")[0] for op in ops}
    _, expected, _ = assert_onnx_import_matches_ort(path, x, name, ops=bare_ops)
    assert_close(expected, torch_forward(model, x), what=f"{name} onnxruntime vs torch")


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.fc = nn.Linear(2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc((x + self.conv(x)).mean((2, 3)))


def test_same_shape_add_is_still_written_as_add_version_1(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Residual().eval()
    a = export(model, tmp_path / "a", input_shape=(2, 4, 4), name="res")
    b = export(model, tmp_path / "b", input_shape=(2, 4, 4), name="res")
    nodes = json.loads(Path(a).read_text("utf-8"))["nodes"]
    assert [(n["op"], n["version"]) for n in nodes if n["op"] == "add"] == [("add", 1)]
    assert not [n for n in nodes if n["op"] == "constant"]
    # the export is byte-identical run to run (the golden-file tests hold the format itself)
    assert Path(a).read_bytes() == Path(b).read_bytes()
    assert (tmp_path / "a" / "res.safetensors").read_bytes() == (
        tmp_path / "b" / "res.safetensors"
    ).read_bytes()


def _refusal(
    fn: Callable[[torch.Tensor, Binary], torch.Tensor],
    shape: tuple[int, int, int] = (2, 3, 3),
    **kw: object,
) -> str:
    model = Binary(2, fn, **kw).eval()  # type: ignore[arg-type]
    with pytest.raises(UserError) as info:
        export(model, Path("/nonexistent-never-written"), input_shape=shape, name="bad")
    return str(info.value)


def test_refusals_name_the_problem() -> None:
    text = _refusal(lambda f, m: torch.div(f, m.side(f), rounding_mode="floor"))
    assert "rounding_mode='floor'" in text
    text = _refusal(lambda f, m: torch.add(f, m.side(f), alpha=2))
    assert "alpha=2" in text
    # a buffer with a real extra leading axis would broadcast over the batch
    text = _refusal(lambda f, m: f * m.big, buffers={"big": (2, 2, 3, 3)})
    assert "batch axis" in text
    # two computed values of different rank: torch aligns the batch axis with a per-sample one
    # (it runs here only because N = H = 2)
    text = _refusal(lambda f, m: f * f.mean((2, 3)), (2, 2, 2), out=2)
    assert "batch axis" in text


def test_constant_rule_in_the_python_reader() -> None:
    nodes = (
        Node("c", "constant", 1, (), ("c",), {}, {"value": "v"}, (1,)),
        Node("m", "mul", 1, ("input", "c"), ("m",), {}, {}, (2, 1, 1)),
        Node("g", "global_avg_pool", 1, ("m",), ("g",), {"keepdims": False}, {}, (2,)),
    )
    graph = Graph(
        name="g",
        input=ValueSpec("input", (2, 1, 1)),
        outputs=("g",),
        nodes=nodes,
        tensors={"v": np.array([2.0], np.float32)},
        classes=None,
        output_kinds=("logits",),
    )
    validate(graph)
    out = reference.run_graph(graph, np.ones((4, 2, 1, 1), np.float32))
    np.testing.assert_array_equal(out, np.full((4, 2), 2.0, np.float32))
    bad = graph.with_(tensors={"v": np.array(2.0, np.float32)})
    with pytest.raises(FormatError) as info:
        validate(bad)
    assert info.value.code == ErrorCode.INVALID_PARAMETER


class NormalisedConv(nn.Module):
    """(x - mean) / std by per-channel buffers into a (grouped, maybe padded) conv; a linear
    head fed by (features - centre) / 2."""

    def __init__(self, c: int, padding: int, groups: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.randn(1, c, 1, 1))
        self.register_buffer("std", torch.rand(c, 1, 1) + 0.5)
        self.conv = nn.Conv2d(c, 4, 3, padding=padding, groups=groups, bias=groups == 1)
        self.register_buffer("centre", torch.randn(4))
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv((x - self.mean) / self.std)
        return self.fc((x.mean((2, 3)) - self.centre) / 2.0)


@pytest.mark.parametrize(
    ("padding", "groups", "left"),
    [(0, 1, set()), (1, 1, {"sub@1"}), (0, 2, set())],
)
def test_fold_bn_also_folds_input_normalisation(
    padding: int, groups: int, left: set[str], tmp_path: Path
) -> None:
    torch.manual_seed(3)
    model = NormalisedConv(2, padding, groups).eval()
    x = seeded_input("fold", (2, 5, 6))
    expected = torch_forward(model, x)
    plain = export(model, tmp_path / "plain", input_shape=(2, 5, 6), name="n", onnx=False)
    folded = export(
        model, tmp_path / "folded", input_shape=(2, 5, 6), name="n", fold_bn=True, onnx=True
    )
    graph = reference.load(folded).graph
    keys = {n.key for n in graph.nodes}
    assert graph.transforms == ("fold_affine",)
    # the conv keeps a sub only when padded (its zeros would stand for -mean); the head's
    # sub and div always fold into the linear
    assert {k for k in keys if k.split("@")[0] in ("sub", "div")} == left
    assert ("constant@1" in keys) == bool(left)
    assert {n.op for n in reference.load(plain).graph.nodes} >= {"sub", "div", "constant"}
    assert_backends_match(folded, x, expected, "folded", tmp_path / "folded" / "n.onnx")


def test_hand_built_onnx_binary_ops_import(tmp_path: Path) -> None:
    """Constant arithmetic folded; constants on either side, of lower rank, with a batch axis of
    1; Reciprocal; two computed values of the same shape (Add -> add@1)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(5)

    def init(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.random(shape) + 0.5).astype(np.float32), name)

    nodes = [
        helper.make_node("Mul", ["c1", "two"], ["c2"], name="fold"),  # constant * constant
        helper.make_node("Add", ["x", "c2"], ["a"], name="add_chan"),
        helper.make_node("Sub", ["one", "a"], ["s"], name="sub_left"),
        helper.make_node("Div", ["s", "row"], ["d"], name="div_row"),
        helper.make_node("Mul", ["d", "batch1"], ["m"], name="mul_batch1"),
        helper.make_node("Reciprocal", ["m"], ["r"], name="recip"),
        helper.make_node("Add", ["r", "x"], ["t"], name="add_same"),
        helper.make_node("GlobalAveragePool", ["t"], ["p"], name="gap"),
        helper.make_node("Flatten", ["p"], ["y"], name="flat", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        initializer=[
            init("c1", 2, 1, 1),
            numpy_helper.from_array(np.array(2.0, np.float32), "two"),
            numpy_helper.from_array(np.array([5.0], np.float32), "one"),
            init("row", 4),
            init("batch1", 1, 2, 3, 1),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path / "binary.onnx"
    onnx.save(model, str(path))
    g = read_onnx(path)
    validate(g)
    keys = [n.key for n in g.nodes]
    assert keys.count("constant@1") == 5  # c2 (folded), one, row, batch1, Reciprocal's 1
    assert "add@1" in keys and "add@2" in keys
    x = seeded_input("hand", (2, 3, 4))
    assert_close(reference.run_graph(g, x.numpy()), ort_run(path, x), what="hand-built ONNX")
