"""Functional calls whose weights are tensors of the model (``F.conv2d(x, self.weight, ...)``):
the fx front end resolves the ``get_attr`` argument to the parameter or buffer and stores it under
its qualified name. The NumPy reference and the Java runtime against torch through the real export
path; a parameter used twice is stored once; a weight computed from the input is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import export_and_compare
from torch import nn

from pd2java.backends import reference
from pd2java.errors import UnsupportedModelError
from pd2java.exporter import export


def _p(gen: torch.Generator, *shape: int, scale: float = 0.5, shift: float = 0.0) -> nn.Parameter:
    return nn.Parameter(torch.randn(shape, generator=gen) * scale + shift)


def _var(gen: torch.Generator, c: int) -> torch.Tensor:
    return torch.rand(c, generator=gen) + 0.2


class Head(nn.Module):
    """The per-sample output must be 1-D: flatten and a functional linear on parameters."""

    def __init__(self, features: int, gen: torch.Generator, k: int = 3) -> None:
        super().__init__()
        self.w = _p(gen, k, features, scale=0.2)
        self.b = _p(gen, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(torch.flatten(x, 1), self.w, self.b)


class Conv(nn.Module):
    def __init__(self, cin, cout, k, groups=1, bias=True, padding=1, stride=1, dilation=1, out=4):
        super().__init__()
        gen = torch.Generator().manual_seed(cin * 7 + cout)
        self.weight = _p(gen, cout, cin // groups, *k)
        self.bias = _p(gen, cout) if bias else None
        self.args = (stride, padding, dilation, groups)
        self.head = Head(cout * out, gen)

    def forward(self, x):
        y = F.conv2d(x, self.weight, self.bias, *self.args)
        return self.head(F.adaptive_avg_pool2d(y, (2, 2)))


class ConvTranspose(nn.Module):
    def __init__(self, cin, cout, k, groups=1, stride=2, padding=1, output_padding=1):
        super().__init__()
        gen = torch.Generator().manual_seed(cin + 11 * cout)
        self.weight = _p(gen, cin, cout // groups, *k)
        self.register_buffer("bias", torch.randn(cout, generator=gen))
        self.args = (stride, padding, output_padding, groups)
        self.head = Head(cout * 4, gen)

    def forward(self, x):
        y = F.conv_transpose2d(x, self.weight, self.bias, *self.args)
        return self.head(F.adaptive_avg_pool2d(y, (2, 2)))


class PRelu(nn.Module):
    def __init__(self, c: int, n: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(c + n)
        self.a = _p(gen, n, scale=0.3, shift=0.2)
        self.head = Head(c * 9, gen)

    def forward(self, x):
        return self.head(F.prelu(F.adaptive_avg_pool2d(x, (3, 3)), self.a))


class LayerNorm(nn.Module):
    def __init__(self, shape: tuple[int, ...], features: int, affine: bool = True) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(len(shape))
        self.shape = shape
        self.w = _p(gen, *shape, shift=1.0) if affine else None
        self.b = _p(gen, *shape) if affine else None
        self.head = Head(features, gen)

    def forward(self, x):
        return self.head(F.layer_norm(x, self.shape, self.w, self.b, 1e-3))


class GroupNorm(nn.Module):
    def __init__(self, c: int, groups: int, features: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(c * groups)
        self.groups = groups
        self.w = _p(gen, c, shift=1.0)
        self.b = _p(gen, c)
        self.head = Head(features, gen)

    def forward(self, x):
        return self.head(F.group_norm(x, self.groups, self.w, self.b, 1e-4))


class BatchNorm(nn.Module):
    """F.batch_norm in its inference form on a 4-D (conv map) or 2-D input (the (N, C, L) form
    lowers to batch_norm1d too, but no exportable graph reaches a (C, L) value yet)."""

    def __init__(self, c: int, rank: int, features: int, affine: bool = True) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(c + rank)
        self.rank = rank
        self.register_buffer("rm", torch.randn(c, generator=gen))
        self.register_buffer("rv", _var(gen, c))
        self.w = _p(gen, c, shift=1.0) if affine else None
        self.b = _p(gen, c) if affine else None
        self.head = Head(features, gen)

    def forward(self, x):
        if self.rank == 2:
            x = x.mean((2, 3))
        y = F.batch_norm(x, self.rm, self.rv, self.w, self.b, self.training, 0.1, 1e-3)
        return self.head(y)


class InstanceNorm(nn.Module):
    def __init__(self, c: int, features: int, running: bool = False) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(c + 5)
        self.running = running
        self.register_buffer("rm", torch.randn(c, generator=gen))
        self.register_buffer("rv", _var(gen, c))
        self.w = _p(gen, c, shift=1.0)
        self.b = _p(gen, c)
        self.head = Head(features, gen)

    def forward(self, x):
        if self.running:
            y = F.instance_norm(x, self.rm, self.rv, self.w, self.b, False, 0.1, 1e-4)
        else:
            y = F.instance_norm(x, weight=self.w, bias=self.b, eps=1e-4)
        return self.head(y)


class Shared(nn.Module):
    """One weight used by two functional convs and one LayerNorm module's weight reused."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(3)
        self.w = _p(gen, 2, 2, 3, 3)
        self.b = _p(gen, 2)
        self.ln = nn.LayerNorm(5)
        self.head = Head(2 * 5 * 5, gen)

    def forward(self, x):
        y = F.relu(F.conv2d(x, self.w, self.b, padding=1))
        y = F.conv2d(y, self.w, self.b, padding="same")
        y = F.layer_norm(y, (5,), self.ln.weight, self.ln.bias)
        return self.head(self.ln(y))


class Viewed(nn.Module):
    """A weight reached through a view of a parameter: the view is itself a constant."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(8)
        self.w = _p(gen, 3 * 2 * 2 * 2)
        self.head = Head(3 * 4 * 4, gen)

    def forward(self, x):
        return self.head(F.conv2d(x, self.w.view(3, 2, 2, 2)))


CASES = {
    "conv": (lambda: Conv(3, 4, (3, 3)), (3, 7, 6)),
    "conv_groups_stride": (
        lambda: Conv(4, 6, (3, 2), groups=2, padding=(1, 0), stride=2, dilation=(1, 2)),
        (4, 9, 8),
    ),
    "conv_depthwise_nobias": (
        lambda: Conv(3, 3, (1, 1), groups=3, bias=False, padding=0),
        (3, 1, 1),
    ),
    "conv_same_even": (lambda: Conv(2, 3, (4, 2), padding="same"), (2, 5, 5)),
    "conv_valid": (lambda: Conv(2, 3, (2, 2), padding="valid"), (2, 4, 3)),
    "conv_transpose": (lambda: ConvTranspose(3, 4, (3, 3)), (3, 4, 5)),
    "conv_transpose_groups": (
        lambda: ConvTranspose(4, 2, (2, 3), groups=2, stride=1, padding=0, output_padding=0),
        (4, 1, 1),
    ),
    "prelu_channels": (lambda: PRelu(3, 3), (3, 5, 4)),
    "prelu_one": (lambda: PRelu(2, 1), (2, 3, 3)),
    "layer_norm_last": (lambda: LayerNorm((6,), 2 * 3 * 6), (2, 3, 6)),
    "layer_norm_chw": (lambda: LayerNorm((2, 3, 4), 24), (2, 3, 4)),
    "layer_norm_plain": (lambda: LayerNorm((1, 5), 15, affine=False), (3, 1, 5)),
    "group_norm": (lambda: GroupNorm(4, 2, 4 * 9), (4, 3, 3)),
    "group_norm_one": (lambda: GroupNorm(3, 1, 3), (3, 1, 1)),
    "batch_norm_2d_map": (lambda: BatchNorm(3, 4, 3 * 12), (3, 4, 3)),
    "batch_norm_1d_plain": (lambda: BatchNorm(2, 2, 2, affine=False), (2, 3, 5)),
    "batch_norm_1d_vec": (lambda: BatchNorm(5, 2, 5), (5, 2, 2)),
    "instance_norm": (lambda: InstanceNorm(3, 3 * 20), (3, 4, 5)),
    "instance_norm_running": (lambda: InstanceNorm(2, 2 * 9, running=True), (2, 3, 3)),
    "shared": (Shared, (2, 5, 5)),
    "viewed": (Viewed, (2, 5, 5)),
}


def _export_and_check(model: nn.Module, shape: tuple[int, int, int], tmp: Path, name: str) -> Path:
    x = torch.randn(3, *shape, generator=torch.Generator().manual_seed(len(name))) * 1.5 + 0.3
    return export_and_compare(model.eval(), x, tmp / name, name, onnx=False)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("case", list(CASES))
def test_functional_form_matches_torch(case: str, tmp_path: Path) -> None:
    make, shape = CASES[case]
    _export_and_check(make(), shape, tmp_path, case)


def test_functional_forms_give_the_expected_ops(tmp_path: Path) -> None:
    expected = {
        "conv_same_even": ["constant_pad2d", "conv2d"],
        "batch_norm_2d_map": ["batch_norm2d"],
        "batch_norm_1d_plain": ["batch_norm1d"],
        "batch_norm_1d_vec": ["batch_norm1d"],
        "instance_norm": ["instance_norm2d"],
        "instance_norm_running": ["batch_norm2d"],
        "conv_transpose": ["conv_transpose2d"],
    }
    for case, ops in expected.items():
        make, shape = CASES[case]
        manifest = export(make(), tmp_path / case, input_shape=shape, name=case, onnx=False)
        got = [n.op for n in reference.load(manifest).graph.nodes]
        for op in ops:
            assert op in got, (case, got)


def test_a_parameter_used_twice_is_stored_once_under_its_qualified_name(tmp_path: Path) -> None:
    make, shape = CASES["shared"]
    manifest = export(make(), tmp_path / "shared", input_shape=shape, name="shared", onnx=False)
    graph = reference.load(manifest).graph
    convs = [n for n in graph.nodes if n.op == "conv2d"]
    assert len(convs) == 2
    assert {n.params["weight"] for n in convs} == {"w"}
    assert {n.params["bias"] for n in convs} == {"b"}
    norms = [n for n in graph.nodes if n.op == "layer_norm"]
    # the functional call and the module share the LayerNorm's tensors
    assert {n.params["weight"] for n in norms} == {"ln.weight"}
    assert {n.params["bias"] for n in norms} == {"ln.bias"}
    assert sorted(graph.tensors) == ["b", "head.b", "head.w", "ln.bias", "ln.weight", "w"]
    np.testing.assert_array_equal(graph.tensors["w"], make().w.detach().numpy())


def test_nested_parameters_keep_their_module_path(tmp_path: Path) -> None:
    model = nn.Sequential(Conv(2, 3, (3, 3)))
    manifest = export(model, tmp_path / "nested", input_shape=(2, 4, 4), name="nested", onnx=False)
    tensors = reference.load(manifest).graph.tensors
    assert {"0.weight", "0.bias", "0.head.w", "0.head.b"} <= set(tensors)


class LinearFromInput(nn.Module):
    def forward(self, x):
        f = torch.flatten(x, 1)
        return F.linear(f, f * 2.0)


def test_a_weight_computed_from_the_input_is_refused_naming_the_node(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedModelError) as info:
        export(LinearFromInput(), tmp_path / "bad", input_shape=(1, 2, 2), name="bad")
    text = str(info.value)
    assert "fx node 'linear'" in text
    assert "argument weight is the tensor 'mul', computed from the input" in text
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())


def test_a_view_of_a_parameter_with_run_time_arguments_is_refused_once(tmp_path: Path) -> None:
    class BatchView(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(2, 3))

        def forward(self, x):
            return F.linear(torch.flatten(x, 1), self.w.view(x.size(0), -1))

    with pytest.raises(UnsupportedModelError) as info:
        export(BatchView(), tmp_path / "v", input_shape=(1, 1, 3), name="v")
    text = str(info.value).split("Supported ops")[0]
    assert "w.view() with arguments computed at run time" in text
    assert "1 unsupported node" in text, text


def test_training_mode_batch_norm_and_other_refusals(tmp_path: Path) -> None:
    class Training(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("rm", torch.zeros(2))
            self.register_buffer("rv", torch.ones(2))
            self.head = Head(2 * 4, torch.Generator().manual_seed(1))

        def forward(self, x):
            return self.head(F.batch_norm(x, self.rm, self.rv, None, None, True))

    class AttrArithmetic(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(3, 5))
            self.k = nn.Parameter(torch.ones(5))

        def forward(self, x):
            return F.linear(torch.flatten(x, 1) * torch.sigmoid(self.k), self.w)

    with pytest.raises(UnsupportedModelError) as info:
        export(Training(), tmp_path / "t", input_shape=(2, 2, 2), name="t")
    assert "training=True" in str(info.value)
    with pytest.raises(UnsupportedModelError) as info:
        export(AttrArithmetic(), tmp_path / "w", input_shape=(1, 1, 5), name="w")
    # self.k.sum() is not an op weight: refused as a model attribute used as an input tensor
    assert "tensor attribute 'k'" in str(info.value)
