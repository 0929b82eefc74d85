"""The activation ops tanh, silu, hardswish, hardsigmoid, elu, mish, gelu, log_softmax, clamp and
prelu, through every path: each torch form is exported (``pd2java.exporter.export``) and the
NumPy reference, the Java runtime (real JVM) and onnxruntime on the written ONNX file are
compared with PyTorch; the ops with an ONNX reader are also exported by ``torch.onnx.export`` or
built with ``onnx.helper``, read back and compared with onnxruntime.
"""

from __future__ import annotations

import math
import tempfile
import zlib
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
    torch_forward,
    torch_onnx_export,
)
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from pd2java.backends import reference
from pd2java.backends.java.bridge import java_predict
from pd2java.backends.onnx import graph_to_onnx
from pd2java.errors import UserError
from pd2java.exporter import export, export_onnx
from pd2java.frontends.fx import capture
from pd2java.frontends.onnx import onnx_to_graph
from pd2java.ir import Graph
from pd2java.ir.passes import validate
from pd2java.ops.activation import FLOAT32_MAX


class Fn(nn.Module):
    """A functional / method form as a module: ``fn(x)``."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def flat(op: nn.Module) -> nn.Module:
    """op, then flatten: the output is the op's own values."""
    return nn.Sequential(op, nn.Flatten())


def head(op: nn.Module, shape: tuple[int, int, int], k: int = 3) -> nn.Module:
    """op, flatten, linear: a classifier-like head after the op."""
    torch.manual_seed(0)
    return nn.Sequential(op, nn.Flatten(), nn.Linear(math.prod(shape), k))


def prelu(n: int) -> nn.Module:
    torch.manual_seed(n)
    p = nn.PReLU(n)
    with torch.no_grad():
        p.weight.copy_(torch.randn(n) * 0.5)
    return p


# name -> (model factory given the input shape, input shape, ops the graph must hold)
CASES = {
    "tanh_module": (lambda s: flat(nn.Tanh()), (3, 5, 7), {"tanh"}),
    "tanh_torch": (lambda s: head(Fn(torch.tanh), s), (1, 1, 1), {"tanh"}),
    "tanh_method": (lambda s: flat(Fn(lambda x: x.tanh())), (2, 3, 1), {"tanh"}),
    "tanh_F": (lambda s: flat(Fn(F.tanh)), (1, 4, 4), {"tanh"}),
    "silu_module": (lambda s: flat(nn.SiLU()), (3, 5, 7), {"silu"}),
    "silu_F": (lambda s: head(Fn(F.silu), s), (1, 1, 1), {"silu"}),
    "hardswish_module": (lambda s: flat(nn.Hardswish()), (3, 5, 7), {"hardswish"}),
    "hardswish_F": (lambda s: head(Fn(F.hardswish), s), (2, 1, 3), {"hardswish"}),
    "hardsigmoid_module": (lambda s: flat(nn.Hardsigmoid()), (3, 5, 7), {"hardsigmoid"}),
    "hardsigmoid_F": (lambda s: head(Fn(F.hardsigmoid), s), (1, 1, 1), {"hardsigmoid"}),
    "elu_module": (lambda s: flat(nn.ELU(0.5)), (3, 5, 7), {"elu"}),
    "elu_default": (lambda s: flat(nn.ELU()), (1, 1, 1), {"elu"}),
    "elu_F": (lambda s: head(Fn(lambda x: F.elu(x, 1.7)), s), (2, 3, 3), {"elu"}),
    "mish_module": (lambda s: flat(nn.Mish()), (3, 5, 7), {"mish"}),
    "mish_F": (lambda s: head(Fn(F.mish), s), (1, 1, 1), {"mish"}),
    "gelu_module": (lambda s: flat(nn.GELU()), (3, 5, 7), {"gelu"}),
    "gelu_tanh_module": (lambda s: flat(nn.GELU("tanh")), (1, 3, 3), {"gelu"}),
    "gelu_F": (lambda s: head(Fn(F.gelu), s), (1, 1, 1), {"gelu"}),
    "gelu_tanh_F": (
        lambda s: head(Fn(lambda x: F.gelu(x, approximate="tanh")), s),
        (2, 2, 5),
        {"gelu"},
    ),
    "log_softmax_channels": (lambda s: flat(nn.LogSoftmax(dim=1)), (3, 5, 7), {"log_softmax"}),
    "log_softmax_F_last": (
        lambda s: flat(Fn(lambda x: F.log_softmax(x, -1))),
        (2, 3, 4),
        {"log_softmax"},
    ),
    "log_softmax_method_h": (
        lambda s: head(Fn(lambda x: x.log_softmax(2)), s),
        (1, 1, 1),
        {"log_softmax"},
    ),
    "log_softmax_torch_head": (
        lambda s: nn.Sequential(head(nn.Identity(), s, k=4), Fn(lambda x: torch.log_softmax(x, 1))),
        (2, 3, 3),
        {"log_softmax"},
    ),
    "clamp_hardtanh": (lambda s: flat(nn.Hardtanh(-0.5, 1.5)), (3, 5, 7), {"clamp"}),
    "clamp_F_hardtanh": (lambda s: flat(Fn(F.hardtanh)), (1, 1, 1), {"clamp"}),
    "clamp_min_only": (
        lambda s: flat(Fn(lambda x: torch.clamp(x, min=-0.3))),
        (2, 2, 2),
        {"clamp"},
    ),
    "clamp_method_max": (lambda s: head(Fn(lambda x: x.clamp(max=0.7)), s), (1, 3, 1), {"clamp"}),
    "clamp_clip": (lambda s: flat(Fn(lambda x: torch.clip(x, -1, 2))), (2, 4, 3), {"clamp"}),
    "clamp_relu6_kept": (lambda s: flat(Fn(lambda x: torch.clamp(x, 0, 6))), (1, 2, 2), {"relu6"}),
    "clamp_relu_kept": (lambda s: flat(Fn(lambda x: x.clamp(min=0))), (1, 2, 2), {"relu"}),
    "hardtanh_relu6_kept": (lambda s: flat(nn.Hardtanh(0, 6)), (1, 2, 2), {"relu6"}),
    "prelu_shared": (lambda s: flat(prelu(1)), (3, 5, 7), {"prelu"}),
    "prelu_channels": (lambda s: flat(prelu(s[0])), (4, 3, 5), {"prelu"}),
    "prelu_one_channel": (lambda s: head(prelu(1), s), (1, 1, 1), {"prelu"}),
    "alpha_dropout": (lambda s: head(nn.AlphaDropout(0.3), s), (2, 2, 2), set()),
}


def _input(name: str, shape: tuple[int, ...], batch: int = 3) -> np.ndarray:
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x = (rng.standard_normal((batch, *shape)) * 3.0).astype(np.float32)
    x[0] = 0.0  # an all-zero sample: the ops' value at 0 (and the biases alone)
    return x


@pytest.mark.parametrize("name", list(CASES))
def test_export_reference_java_onnx_match_torch(tmp_path: Path, name: str) -> None:
    factory, shape, ops = CASES[name]
    model = factory(shape).eval()
    graph_ops = {n.op for n in capture(model, shape, name="m").nodes}
    assert ops <= graph_ops, graph_ops
    assert not ({"relu", "relu6"} & graph_ops) or "clamp" not in graph_ops
    x = _input(name, shape)
    export_and_compare(model, x, tmp_path, name, onnx=True)
    onnx.checker.check_model(onnx.load(str(tmp_path / f"{name}.onnx")), full_check=True)


def test_log_softmax_head_gives_logits() -> None:
    factory, shape, _ = CASES["log_softmax_torch_head"]
    graph = capture(factory(shape).eval(), shape, name="m")
    assert graph.nodes[-1].op == "log_softmax"
    assert graph.output_kind == "logits"


def test_one_sided_clamp_uses_float32_extremes() -> None:
    shape = (1, 2, 2)
    low = capture(flat(Fn(lambda x: torch.clamp(x, min=-0.3))).eval(), shape, name="m").nodes[0]
    high = capture(flat(Fn(lambda x: x.clamp(max=2.0))).eval(), shape, name="m").nodes[0]
    assert dict(low.attrs) == {"min": -0.3, "max": FLOAT32_MAX}
    assert dict(high.attrs) == {"min": -FLOAT32_MAX, "max": 2.0}
    assert np.float32(FLOAT32_MAX) == np.finfo(np.float32).max


def test_clamp_min_over_max_refused() -> None:
    with pytest.raises(UserError, match="min > max"):
        capture(flat(Fn(lambda x: torch.clamp(x, 2.0, 1.0))).eval(), (1, 2, 2), name="m")


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_wide_range_against_torch(tmp_path: Path, approximate: str) -> None:
    """erf (Java has no Math.erf) on a wide range: tails, the series / continued-fraction seam at
    |x| / sqrt(2) = 2, zero and tiny values."""
    grid = np.concatenate(
        [
            np.linspace(-12, 12, 1201),
            [-2 * math.sqrt(2), 2 * math.sqrt(2), 1e-6, -1e-6, 1e-30, -20.0, 20.0, -5.5, 5.5],
        ]
    ).astype(np.float32)
    shape = (1, 1, grid.size)
    model = flat(nn.GELU(approximate)).eval()
    manifest = export(model, tmp_path, input_shape=shape, name=f"gelu_{approximate}", onnx=False)
    x = grid.reshape(1, *shape)
    expected = torch_forward(model, x)
    assert_close(java_predict(manifest, x), expected, what="Java gelu vs torch")
    assert_close(reference.run(manifest, x), expected, what="NumPy gelu vs torch")
    # torch's float32 formula loses the tail (1 + erf(u) rounds to 0 below x ~ -5.5): there
    # the value is checked relative to itself against float64 math, everywhere on the grid.
    x64 = grid.astype(np.float64)
    if approximate == "none":
        exact = np.array([0.5 * v * math.erfc(-v / math.sqrt(2.0)) for v in x64])
    else:
        z = math.sqrt(2 / math.pi) * (x64 + 0.044715 * x64**3)
        exact = x64 / (1 + np.exp(-2 * z))  # x * (1 + tanh(z)) / 2 without cancellation
    for got, what in (
        (java_predict(manifest, x)[0], "Java"),
        (reference.run(manifest, x)[0], "NumPy"),
    ):
        np.testing.assert_allclose(got, exact, rtol=2e-7, atol=1e-37, err_msg=what)


# --- ONNX in: torch.onnx.export and hand-built models ---------------------------------------------

ONNX_IMPORT_CASES = [
    "tanh_module",
    "hardswish_module",
    "hardsigmoid_module",
    "elu_module",
    "log_softmax_channels",
    "log_softmax_torch_head",
    "clamp_hardtanh",
    "clamp_min_only",
    "clamp_method_max",
    "prelu_shared",
    "prelu_channels",
]


@pytest.mark.parametrize("name", ONNX_IMPORT_CASES)
def test_torch_onnx_export_imports(tmp_path: Path, name: str) -> None:
    factory, shape, ops = CASES[name]
    model = factory(shape).eval()
    x = _input(name, shape)
    path = torch_onnx_export(model, x, tmp_path / f"{name}.onnx")
    _, expected, _ = assert_onnx_import_matches_ort(path, x, name, ops=ops)
    manifest = export_onnx(path, tmp_path / "out", onnx=False)
    assert_close(java_predict(manifest, x), expected, what=f"{name}: Java vs ORT")


def onnx_to_graph_model(model: onnx.ModelProto) -> Graph:
    """Read an in-memory ONNX model through a real file, as users do."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.onnx"
        onnx.save(model, str(path))
        return onnx_to_graph(path)


def _make(nodes: list, inits: list, shape: tuple[int, int, int], opset: int) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *shape])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", math.prod(shape)])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def _flatten() -> onnx.NodeProto:
    return helper.make_node("Flatten", ["a"], ["y"], axis=1)


def _scalar(name: str, v: float) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(v, np.float32), name)


HAND = {
    "Mish": ([helper.make_node("Mish", ["x"], ["a"])], [], 18, "mish", {}),
    "Gelu": (
        [helper.make_node("Gelu", ["x"], ["a"])],
        [],
        20,
        "gelu",
        {"tanh_approximation": False},
    ),
    "Gelu_tanh": (
        [helper.make_node("Gelu", ["x"], ["a"], approximate="tanh")],
        [],
        20,
        "gelu",
        {"tanh_approximation": True},
    ),
    "Elu_default": ([helper.make_node("Elu", ["x"], ["a"])], [], 17, "elu", {"alpha": 1.0}),
    "Clip": (
        [helper.make_node("Clip", ["x", "lo", "hi"], ["a"])],
        [_scalar("lo", -0.25), _scalar("hi", 0.5)],
        13,
        "clamp",
        {"min": -0.25, "max": 0.5},
    ),
    "Clip_max_only": (
        [helper.make_node("Clip", ["x", "", "hi"], ["a"])],
        [_scalar("hi", 0.5)],
        17,
        "clamp",
        {"min": -FLOAT32_MAX, "max": 0.5},
    ),
    "LogSoftmax_default_axis": (
        [helper.make_node("LogSoftmax", ["x"], ["a"])],
        [],
        13,
        "log_softmax",
        {"dim": 3},
    ),
    "PRelu_scalar": (
        [helper.make_node("PRelu", ["x", "s"], ["a"])],
        [_scalar("s", 0.2)],
        17,
        "prelu",
        {"num_parameters": 1},
    ),
    "PRelu_batched_channels": (
        [helper.make_node("PRelu", ["x", "s"], ["a"])],
        [numpy_helper.from_array(np.array([0.1, -0.5, 2.0], np.float32).reshape(1, 3, 1, 1), "s")],
        17,
        "prelu",
        {"num_parameters": 3},
    ),
}


@pytest.mark.parametrize("case", list(HAND))
def test_hand_built_onnx_imports(tmp_path: Path, case: str) -> None:
    nodes, inits, opset, op, attrs = HAND[case]
    shape = (3, 4, 5)
    model = _make([*nodes, _flatten()], inits, shape, opset)
    path = tmp_path / f"{case}.onnx"
    onnx.save(model, str(path))
    graph = onnx_to_graph(path)
    validate(graph)
    node = graph.nodes[0]
    assert node.op == op and dict(node.attrs) == attrs
    x = _input(case, shape)
    expected = ort_run(model, x)
    assert_close(reference.run_graph(graph, x), expected, what=f"{case}: reference vs ORT")
    manifest = export_onnx(path, tmp_path / "out", onnx=True)
    assert_close(java_predict(manifest, x), expected, what=f"{case}: Java vs ORT")
    # And back out through the opset-17 writer (Mish / Gelu as their decompositions).
    assert_close(ort_run(tmp_path / "out" / f"{case}.onnx", x), expected, what=f"{case}: rewritten")


@pytest.mark.parametrize(
    ("node", "inits", "words"),
    [
        (helper.make_node("HardSigmoid", ["x"], ["a"]), [], "alpha = 1/6"),  # ONNX's alpha 0.2
        (
            helper.make_node("Clip", ["x", "lo", "hi"], ["a"]),
            [_scalar("lo", 1.0), _scalar("hi", -1.0)],
            "min > max",
        ),
        (
            helper.make_node("PRelu", ["x", "s"], ["a"]),
            [numpy_helper.from_array(np.ones((3,), np.float32), "s")],  # aligned with W, not C
            "one per channel",
        ),
    ],
)
def test_onnx_forms_refused(tmp_path: Path, node: onnx.NodeProto, inits: list, words: str) -> None:
    shape = (3, 4, 5)
    if node.op_type == "PRelu":
        shape = (3, 4, 3)
    path = tmp_path / "m.onnx"
    onnx.save(_make([node, _flatten()], inits, shape, 17), str(path))
    with pytest.raises(UserError, match=words):
        onnx_to_graph(path)


ROUND_TRIP = [
    "tanh_module",
    "hardswish_F",
    "hardsigmoid_module",
    "elu_F",
    "log_softmax_F_last",
    "clamp_min_only",
    "clamp_hardtanh",
    "prelu_shared",
    "prelu_channels",
]


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_written_onnx_reads_back_to_the_same_ops(name: str) -> None:
    """fx capture -> the opset-17 writer -> the reader: the same ops with the same attributes."""
    factory, shape, _ = CASES[name]
    graph = capture(factory(shape).eval(), shape, name="m")
    back = onnx_to_graph_model(graph_to_onnx(graph))
    assert [(n.op, dict(n.attrs)) for n in back.nodes] == [
        (n.op, dict(n.attrs)) for n in graph.nodes
    ]
    for a, b in zip(graph.nodes, back.nodes):
        for slot, key in a.params.items():
            np.testing.assert_array_equal(back.tensors[b.params[slot]], graph.tensors[key])
