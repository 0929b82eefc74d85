"""The normalisation ops (group_norm, instance_norm2d, layer_norm, batch_norm1d): the NumPy
reference and the Java runtime against torch through the real export path, ONNX both ways, the
value rules and the fold of batch_norm1d into a linear layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import (
    assert_backends_match,
    assert_close,
    assert_onnx_import_matches_ort,
    export_and_compare,
    torch_forward,
    torch_onnx_export,
)
from torch import nn

from pd2java.backends import reference
from pd2java.backends.java.bridge import java_predict
from pd2java.errors import ErrorCode, FormatError
from pd2java.exporter import export
from pd2java.format_rules import ATOL, RTOL
from pd2java.frontends.onnx import onnx_to_graph


def _randomise(model: nn.Module, seed: int) -> nn.Module:
    """Non-trivial affine weights and running statistics, so no parameter is a no-op."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5 + (1.0 if "weight" in name else 0.0))
        for name, b in model.named_buffers():
            if "running_var" in name:
                b.copy_(torch.rand(b.shape, generator=gen) + 0.2)
            elif "running_mean" in name:
                b.copy_(torch.randn(b.shape, generator=gen))
    return model.eval()


def _head(c: int, h: int, w: int, k: int = 3) -> list[nn.Module]:
    return [nn.Flatten(), nn.Linear(c * h * w, k)]


def _check(model: nn.Module, shape: tuple[int, int, int], tmp: Path, name: str, onnx_out: bool):
    """Export; the NumPy reference, Java (and the written ONNX file) all match torch."""
    x = torch.randn(4, *shape, generator=torch.Generator().manual_seed(len(name))) * 2 + 0.5
    return export_and_compare(model, x, tmp / name, name, onnx=onnx_out)


def _ops(manifest: Path) -> list[str]:
    return [n.op for n in reference.load(manifest).graph.nodes]


def _check_onnx_import(model: nn.Module, shape: tuple[int, int, int], tmp: Path, opset: int):
    """torch.onnx.export -> onnx_to_graph: the imported graph matches onnxruntime and torch."""
    path = torch_onnx_export(model, torch.zeros(2, *shape), tmp / f"m{opset}.onnx", opset)
    x = torch.randn(3, *shape, generator=torch.Generator().manual_seed(opset))
    graph, _, got = assert_onnx_import_matches_ort(path, x, f"opset {opset}")
    assert_close(got, torch_forward(model, x), ATOL, RTOL, what="imported ONNX vs torch")
    return graph


# --- group_norm -----------------------------------------------------------------------------


GROUP_CASES = [
    # (name, input shape, conv out channels or None, groups, affine)
    ("gn_conv", (3, 5, 7), 6, 3, True),
    ("gn_one_group", (4, 3, 3), None, 1, True),
    ("gn_per_channel", (5, 2, 3), None, 5, False),
    ("gn_one_channel_1x1", (1, 1, 1), None, 1, True),
    ("gn_map_1x1", (6, 1, 1), None, 2, True),
]


@pytest.mark.parametrize(("name", "shape", "conv", "groups", "affine"), GROUP_CASES)
def test_group_norm_matches_torch(tmp_path, name, shape, conv, groups, affine):
    c, h, w = shape
    layers: list[nn.Module] = []
    if conv:
        layers.append(nn.Conv2d(c, conv, 3, padding=1))
        c = conv
    layers += [nn.GroupNorm(groups, c, eps=1e-4, affine=affine), nn.ReLU(), *_head(c, h, w)]
    model = _randomise(nn.Sequential(*layers), len(name))
    manifest = _check(model, shape, tmp_path, name, onnx_out=True)
    assert "group_norm" in _ops(manifest)


def test_group_norm_on_vectors(tmp_path):
    # On a (K) vector: nn.GroupNorm over (N, K), after the linear layer.
    model = _randomise(nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.GroupNorm(3, 6)), 7)
    manifest = _check(model, (3, 2, 2), tmp_path, "gn_vec", onnx_out=True)
    assert _ops(manifest)[-1] == "group_norm"


# --- instance_norm2d ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shape", "affine"),
    [("in_affine", (3, 4, 5), True), ("in_plain", (2, 3, 1), False), ("in_one", (1, 1, 2), True)],
)
def test_instance_norm2d_matches_torch(tmp_path, name, shape, affine):
    c, h, w = shape
    model = _randomise(
        nn.Sequential(nn.InstanceNorm2d(c, eps=1e-4, affine=affine), *_head(c, h, w)), len(name)
    )
    manifest = _check(model, shape, tmp_path, name, onnx_out=True)
    assert _ops(manifest)[0] == "instance_norm2d"
    _check_onnx_import(model, shape, tmp_path, 17)


def test_instance_norm2d_onnx_opset13(tmp_path):
    model = _randomise(nn.Sequential(nn.InstanceNorm2d(3, affine=True), *_head(3, 2, 5)), 13)
    _check_onnx_import(model, (3, 2, 5), tmp_path, 13)


def test_instance_norm2d_tracked_stats_is_a_batch_norm(tmp_path):
    norm = nn.InstanceNorm2d(3, affine=True, track_running_stats=True)
    model = _randomise(nn.Sequential(norm, *_head(3, 2, 2)), 11)
    manifest = _check(model, (3, 2, 2), tmp_path, "in_tracked", onnx_out=True)
    assert _ops(manifest)[0] == "batch_norm2d"


# --- layer_norm -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shape", "normalized", "affine"),
    [
        ("ln_w", (3, 4, 5), (5,), True),
        ("ln_hw", (2, 3, 4), (3, 4), True),
        ("ln_chw", (3, 2, 2), (3, 2, 2), True),
        ("ln_plain", (2, 3, 3), (3, 3), False),
        ("ln_1x1", (4, 1, 1), (4, 1, 1), True),
    ],
)
def test_layer_norm_matches_torch(tmp_path, name, shape, normalized, affine):
    c, h, w = shape
    norm = nn.LayerNorm(normalized, eps=1e-4, elementwise_affine=affine)
    model = _randomise(nn.Sequential(norm, *_head(c, h, w)), len(name))
    manifest = _check(model, shape, tmp_path, name, onnx_out=True)
    node = reference.load(manifest).graph.nodes[0]
    assert node.op == "layer_norm" and node.attrs["normalized_dims"] == len(normalized)
    _check_onnx_import(model, shape, tmp_path, 17)


def test_layer_norm_on_features_without_bias(tmp_path):
    norm = nn.LayerNorm(6, bias=False)
    model = _randomise(nn.Sequential(nn.Flatten(), nn.Linear(12, 6), norm, nn.Linear(6, 2)), 5)
    manifest = _check(model, (3, 2, 2), tmp_path, "ln_vec", onnx_out=True)
    assert "layer_norm" in _ops(manifest)
    _check_onnx_import(model, (3, 2, 2), tmp_path, 17)


def test_layer_norm_module_called_twice(tmp_path):
    """One LayerNorm over (H, W) used twice: one pair of flattened tensors, shared."""

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln = nn.LayerNorm((2, 3))
            self.fc = nn.Linear(12, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.flatten(self.ln(torch.relu(self.ln(x))), 1))

    manifest = _check(_randomise(Twice(), 9), (2, 2, 3), tmp_path, "ln_twice", onnx_out=True)
    graph = reference.load(manifest).graph
    lns = [n for n in graph.nodes if n.op == "layer_norm"]
    assert len(lns) == 2 and lns[0].params == lns[1].params


def test_layer_norm_onnx_round_trip(tmp_path):
    """The written LayerNormalization reads back to the same op, attributes and weights."""
    model = _randomise(nn.Sequential(nn.LayerNorm((2, 3)), *_head(2, 2, 3)), 3)
    manifest = export(model, tmp_path / "rt", input_shape=(2, 2, 3), name="rt", onnx=True)
    back = onnx_to_graph(manifest.parent / "rt.onnx")
    orig = reference.load(manifest).graph
    ln, ln_back = orig.nodes[0], back.nodes[0]
    assert (ln_back.op, dict(ln_back.attrs)) == (ln.op, dict(ln.attrs))
    for slot in ("weight", "bias"):
        np.testing.assert_array_equal(
            back.tensors[ln_back.params[slot]], orig.tensors[ln.params[slot]]
        )


# --- batch_norm1d and its fold into a linear layer ------------------------------------------


def _mlp_bn(affine: bool, bias: bool, k: int = 5) -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(12, k, bias=bias),
        nn.BatchNorm1d(k, eps=1e-3, affine=affine),
        nn.ReLU(),
        nn.Linear(k, 3),
    )


@pytest.mark.parametrize(("affine", "bias"), [(True, True), (False, False), (True, False)])
def test_batch_norm1d_matches_torch(tmp_path, affine, bias):
    model = _randomise(_mlp_bn(affine, bias), 17 + affine + 2 * bias)
    name = f"bn1d_{int(affine)}{int(bias)}"
    manifest = _check(model, (3, 2, 2), tmp_path, name, onnx_out=True)
    assert "batch_norm1d" in _ops(manifest)
    graph = _check_onnx_import(model, (3, 2, 2), tmp_path, 17)
    assert any(n.op == "batch_norm1d" for n in graph.nodes) or not bias


def test_batch_norm1d_one_feature_and_last(tmp_path):
    model = _randomise(nn.Sequential(nn.Flatten(), nn.Linear(4, 1), nn.BatchNorm1d(1)), 23)
    manifest = _check(model, (1, 2, 2), tmp_path, "bn1d_one", onnx_out=True)
    assert _ops(manifest)[-1] == "batch_norm1d"


def test_batch_norm1d_kernel_on_sequences():
    """The (C, L) form no exported graph reaches yet: the kernel against F.batch_norm."""
    from pd2java.ops.norm import batch_norm1d_kernel

    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, 5, generator=gen)
    mean, var = torch.randn(4, generator=gen), torch.rand(4, generator=gen) + 0.1
    w, b = torch.randn(4, generator=gen), torch.randn(4, generator=gen)
    want = F.batch_norm(x, mean, var, w, b, training=False, eps=1e-4).numpy()
    params = {"running_mean": mean.numpy(), "running_var": var.numpy(), "weight": w.numpy()}
    got = batch_norm1d_kernel(
        {"num_features": 4, "eps": 1e-4}, [x.numpy()], {**params, "bias": b.numpy()}
    )
    assert_close(got, want, ATOL, RTOL)


@pytest.mark.parametrize(("affine", "bias"), [(True, True), (False, False)])
def test_fold_bn_folds_batch_norm1d_into_the_linear(tmp_path, affine, bias):
    model = _randomise(_mlp_bn(affine, bias), 29 + affine)
    x = torch.randn(4, 3, 2, 2, generator=torch.Generator().manual_seed(1))
    want = torch_forward(model, x)
    name = f"fold{int(affine)}"
    manifest = export(model, tmp_path / name, input_shape=(3, 2, 2), name=name, fold_bn=True)
    loaded = reference.load(manifest).graph
    assert "batch_norm1d" not in [n.op for n in loaded.nodes]
    assert "fold_bn" in loaded.transforms
    assert [n.op for n in loaded.nodes].count("linear") == 2
    assert_backends_match(manifest, x, want, name)


def test_fold_bn_leaves_a_shared_linear_alone(tmp_path):
    """A linear with a second consumer keeps its batch_norm1d: folding would change the other."""

    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(12, 4)
            self.bn = nn.BatchNorm1d(4)
            self.out = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.fc(torch.flatten(x, 1))
            return self.out(self.bn(h) + h)

    model = _randomise(Two(), 31)
    manifest = export(model, tmp_path / "two", input_shape=(3, 2, 2), name="two", fold_bn=True)
    assert "batch_norm1d" in _ops(manifest)


# --- value rules: both readers give the same code --------------------------------------------


def _edit_and_expect(manifest: Path, node_op: str, attr: str, value: object, code: ErrorCode):
    import json

    m = json.loads(manifest.read_text())
    node = next(n for n in m["nodes"] if n["op"] == node_op)
    node["attrs"][attr] = value
    manifest.write_text(json.dumps(m))
    with pytest.raises(FormatError) as exc:
        reference.load(manifest)
    assert exc.value.code == code
    with pytest.raises(Exception, match=code.name):
        java_predict(manifest, np.zeros((1, *m["input"]["shape"]), np.float32))


@pytest.mark.parametrize(
    ("op", "attr", "value"),
    [
        ("group_norm", "num_groups", 4),
        ("group_norm", "num_groups", 0),
        ("group_norm", "eps", 0.0),
        ("instance_norm2d", "eps", -1.0),
        ("layer_norm", "normalized_dims", 0),
        ("layer_norm", "eps", -0.5),
        ("batch_norm1d", "eps", 0.0),
    ],
)
def test_value_rules(tmp_path, op, attr, value):
    c = 6
    layer = {
        "group_norm": nn.GroupNorm(3, c),
        "instance_norm2d": nn.InstanceNorm2d(c),
        "layer_norm": nn.LayerNorm((2, 2)),
        "batch_norm1d": nn.BatchNorm1d(c),
    }[op]
    if op == "batch_norm1d":
        model = nn.Sequential(nn.Flatten(), nn.Linear(c * 4, c), layer, nn.Linear(c, 2)).eval()
    else:
        model = nn.Sequential(layer, *_head(c, 2, 2)).eval()
    manifest = export(model, tmp_path / "m", input_shape=(c, 2, 2), name="m", onnx=False)
    _edit_and_expect(manifest, op, attr, value, ErrorCode.INVALID_ATTRIBUTE)
