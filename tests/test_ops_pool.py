"""The global and adaptive pools end to end: torch -> export -> NumPy reference and Java, both
against torch; the written ONNX file in onnxruntime against torch; torch.onnx.export -> the ONNX
importer -> the NumPy reference against onnxruntime."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest
import torch
import torch.nn.functional as F
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
from onnx import TensorProto, helper
from torch import nn

from pd2java.backends import reference
from pd2java.backends.onnx import graph_to_onnx
from pd2java.errors import UserError
from pd2java.exporter import export
from pd2java.ir.passes import validate
from pd2java.ops.pool import adaptive_bins


class Head(nn.Module):
    """conv -> pool(x) -> flatten -> linear: a 1-D output whatever the pool keeps."""

    def __init__(self, c: int, pool: Callable[[torch.Tensor], torch.Tensor], feat: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, 3, 3, padding=1)
        self.pool = pool
        self.fc = nn.Linear(feat, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.conv(x)).flatten(1))


class ModHead(Head):
    """The same with the pool as a registered submodule (module lowering)."""

    def __init__(self, c: int, pool: nn.Module, feat: int) -> None:
        super().__init__(c, pool, feat)


def _gmp_f(x: torch.Tensor) -> torch.Tensor:
    return F.adaptive_max_pool2d(x, 1)


def _amax(x: torch.Tensor) -> torch.Tensor:
    return torch.amax(x, (2, 3))


def _amax_method(x: torch.Tensor) -> torch.Tensor:
    return x.amax((-1, -2), keepdim=True)


def _aap_none(x: torch.Tensor) -> torch.Tensor:
    return F.adaptive_avg_pool2d(x, (None, 2))


def _aap_int(x: torch.Tensor) -> torch.Tensor:
    return F.adaptive_avg_pool2d(x, 3)


def _amp_f(x: torch.Tensor) -> torch.Tensor:
    return F.adaptive_max_pool2d(x, 2)


def _amp_none(x: torch.Tensor) -> torch.Tensor:
    return F.adaptive_max_pool2d(x, [3, None], return_indices=False)


# name -> (model factory, input shape (C, H, W), op the pool must lower to, ONNX export works)
CASES: dict[str, tuple[Callable[[], nn.Module], tuple[int, int, int], str, bool]] = {
    "gmp_module": (
        lambda: ModHead(2, nn.AdaptiveMaxPool2d(1), 3),
        (2, 5, 7),
        "global_max_pool",
        True,
    ),
    "gmp_module_1x1": (
        lambda: ModHead(1, nn.AdaptiveMaxPool2d((1, 1)), 3),
        (1, 1, 1),
        "global_max_pool",
        True,
    ),
    "gmp_functional": (lambda: Head(3, _gmp_f, 3), (3, 4, 4), "global_max_pool", True),
    "gmp_amax": (lambda: Head(1, _amax, 3), (1, 6, 3), "global_max_pool", True),
    "gmp_amax_method": (lambda: Head(2, _amax_method, 3), (2, 3, 5), "global_max_pool", True),
    # adaptive average pool: overlapping bins, uniform bins, None entries, output > input
    "aap_module": (
        lambda: ModHead(2, nn.AdaptiveAvgPool2d(3), 27),
        (2, 7, 5),
        "adaptive_avg_pool2d",
        False,
    ),
    "aap_module_divisible": (
        lambda: ModHead(1, nn.AdaptiveAvgPool2d((2, 3)), 18),
        (1, 6, 6),
        "adaptive_avg_pool2d",
        True,
    ),
    "aap_functional_none": (lambda: Head(3, _aap_none, 24), (3, 4, 6), "adaptive_avg_pool2d", True),
    "aap_functional_int": (lambda: Head(1, _aap_int, 27), (1, 5, 4), "adaptive_avg_pool2d", False),
    "aap_larger": (
        lambda: ModHead(1, nn.AdaptiveAvgPool2d((4, 5)), 60),
        (1, 2, 3),
        "adaptive_avg_pool2d",
        False,
    ),
    "aap_from_1x1": (
        lambda: ModHead(1, nn.AdaptiveAvgPool2d(2), 12),
        (1, 1, 1),
        "adaptive_avg_pool2d",
        False,
    ),
    "aap_size_one_is_global": (
        lambda: ModHead(2, nn.AdaptiveAvgPool2d((1, None)), 3),
        (2, 3, 1),
        "global_avg_pool",
        True,
    ),
    # adaptive max pool, the same shapes
    "amp_module": (
        lambda: ModHead(2, nn.AdaptiveMaxPool2d((3, 2)), 18),
        (2, 7, 5),
        "adaptive_max_pool2d",
        False,
    ),
    "amp_functional": (lambda: Head(1, _amp_f, 12), (1, 4, 6), "adaptive_max_pool2d", True),
    "amp_functional_none": (
        lambda: Head(2, _amp_none, 27),
        (2, 5, 3),
        "adaptive_max_pool2d",
        False,
    ),
    "amp_larger": (
        lambda: ModHead(1, nn.AdaptiveMaxPool2d(4), 48),
        (1, 1, 3),
        "adaptive_max_pool2d",
        False,
    ),
}


def _model(name: str) -> nn.Module:
    torch.manual_seed(zlib.crc32(name.encode()))
    return CASES[name][0]().eval()


@pytest.mark.parametrize("name", sorted(CASES))
def test_export_reference_java_onnx_match_torch(name: str, tmp_path: Path) -> None:
    _, shape, op, onnx_ok = CASES[name]
    model = _model(name)
    x = seeded_input(name, shape)
    expected = torch_forward(model, x)
    manifest = export(model, tmp_path, input_shape=shape, name=name, onnx=onnx_ok)
    graph = reference.load(manifest).graph
    assert op in [n.op for n in graph.nodes], [n.op for n in graph.nodes]
    onnx_file = tmp_path / f"{name}.onnx" if onnx_ok else None
    assert_backends_match(manifest, x, expected, name, onnx_file)


# torch.onnx.export writes an adaptive pool with divisible sizes as MaxPool / AveragePool (the
# global max pool too, with the input's extent as the kernel) and amax as ReduceMax (axes an input
# from opset 18): the importer must read them.
ONNX_IMPORT = [
    "gmp_module",
    "gmp_functional",
    "gmp_amax",
    "gmp_amax_method",
    "aap_module_divisible",
    "amp_functional",
]


@pytest.mark.parametrize("name", ONNX_IMPORT)
@pytest.mark.parametrize("opset", [13, 17, 18])
def test_torch_onnx_export_imports(name: str, opset: int, tmp_path: Path) -> None:
    _, shape, _, _ = CASES[name]
    model = _model(name)
    x = seeded_input(name, shape)
    path = torch_onnx_export(model, x, tmp_path / f"{name}.onnx", opset)
    _, expected, _ = assert_onnx_import_matches_ort(path, x, name)
    assert_close(expected, torch_forward(model, x), what=f"{name} onnxruntime vs torch")


def _onnx_model(
    nodes: list[onnx.NodeProto], shape: tuple[int, int, int], out: tuple[int, ...], path: Path
) -> Path:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *shape])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", *out])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("shape", [(2, 5, 3), (1, 1, 1)])
def test_onnx_global_max_pool_imports_and_round_trips(
    shape: tuple[int, int, int], tmp_path: Path
) -> None:
    nodes = [
        helper.make_node("GlobalMaxPool", ["x"], ["p"], name="gmp"),
        helper.make_node("Flatten", ["p"], ["y"], name="flat", axis=1),
    ]
    path = _onnx_model(nodes, shape, shape[:1], tmp_path / "gmp.onnx")
    x = seeded_input("gmp_onnx", shape)
    graph = read_onnx(path)
    validate(graph)
    assert graph.nodes[0].op == "global_max_pool"
    expected = ort_run(path, x)
    assert_close(expected, x.amax((2, 3)).numpy(), what="onnxruntime vs torch")
    assert_close(reference.run_graph(graph, x.numpy()), expected, what="imported")
    written = graph_to_onnx(graph)
    assert "GlobalMaxPool" in [n.op_type for n in written.graph.node]
    assert_close(ort_run(written.SerializeToString(), x), expected, what="written back")


@pytest.mark.parametrize("name", ["aap_module", "amp_module"])
def test_onnx_export_of_non_uniform_bins_is_refused(name: str, tmp_path: Path) -> None:
    _, shape, op, _ = CASES[name]
    with pytest.raises(UserError, match=rf"node 'pool' \({op}@1\).*no ONNX form"):
        export(_model(name), tmp_path, input_shape=shape, name=name, onnx=True)


def test_adaptive_bins_are_pytorchs() -> None:
    # 5 -> 3: [0, 2), [1, 4), [3, 5); 2 -> 4: each cell twice
    assert adaptive_bins(5, 3) == [(0, 2), (1, 4), (3, 5)]
    assert adaptive_bins(2, 4) == [(0, 1), (0, 1), (1, 2), (1, 2)]


def test_onnx_reduce_max_over_other_axes_is_refused(tmp_path: Path) -> None:
    nodes = [helper.make_node("ReduceMax", ["x"], ["y"], name="rmax", axes=[1, 2], keepdims=0)]
    path = _onnx_model(nodes, (2, 3, 4), (4,), tmp_path / "rmax.onnx")
    with pytest.raises(UserError, match=r"ReduceMax over axes \[1, 2\]"):
        read_onnx(path)
