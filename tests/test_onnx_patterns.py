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
import torch.nn.functional as F
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


# --- circular padding: Slice + Concat per axis ------------------------------------------------


class _Circular(nn.Module):
    """F.pad circular by ``pad`` (left, right, top, bottom), then a circular conv, then a head."""

    def __init__(self, pad: tuple[int, int, int, int], conv_pad: tuple[int, int]) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.pad = pad
        self.conv = nn.Conv2d(2, 3, 3, padding=conv_pad, padding_mode="circular")
        self.fc = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, self.pad, mode="circular")
        return self.fc(self.conv(x).mean((2, 3)))


# name: (F.pad's pads, the conv's (ph, pw), the circular_pad2d attrs expected in order)
CIRCULAR = {
    "both_axes": ((2, 1, 1, 3), (1, 2), [((1, 3), (2, 1)), ((1, 1), (2, 2))]),
    "w_only": ((1, 2, 0, 0), (0, 1), [((0, 0), (1, 2)), ((0, 0), (1, 1))]),
    "h_only": ((0, 0, 2, 1), (1, 0), [((2, 1), (0, 0)), ((1, 1), (0, 0))]),
    "whole_extent": ((5, 5, 4, 0), (1, 1), [((4, 0), (5, 5)), ((1, 1), (1, 1))]),
}


def _circular_check(path: Path, x: torch.Tensor, model: nn.Module, case: str) -> None:
    graph, from_ort, _ = assert_onnx_import_matches_ort(path, x, case, ops=("circular_pad2d",))
    pads = [(n.attrs["pad_h"], n.attrs["pad_w"]) for n in graph.nodes if n.op == "circular_pad2d"]
    assert pads == CIRCULAR[case][2], pads
    assert "concat" not in {n.op for n in graph.nodes}
    assert_close(from_ort, torch_forward(model, x), what=f"{case}: onnxruntime vs torch")


@pytest.mark.parametrize("opset", [17, 13])
@pytest.mark.parametrize("case", sorted(CIRCULAR))
def test_torchscript_circular_padding_is_read_as_circular_pad(
    tmp_path: Path, case: str, opset: int
) -> None:
    """torch's TorchScript exporter writes F.pad(mode='circular') and Conv2d(padding_mode=
    'circular') as Slice + Concat on H, then on W (a single-input Concat for an unpadded axis);
    opset 13 without constant folding too."""
    model = _Circular(*CIRCULAR[case][:2]).eval()
    x = seeded_input(f"circular_{case}", (2, 4, 5))
    path = torch_onnx_export(model, x, tmp_path / f"{case}.onnx", opset=opset, fold=opset > 13)
    assert "Slice" in {n.op_type for n in onnx.load(str(path)).graph.node}
    _circular_check(path, x, model, case)


def test_default_export_of_circular_padding_is_read(tmp_path: Path) -> None:
    """The default exporter writes Pad mode wrap; the same ops come back, and Java agrees."""
    model = _Circular(*CIRCULAR["both_axes"][:2]).eval()
    x = seeded_input("circular_dynamo", (2, 4, 5))
    path = _dynamo_export(model, x, tmp_path / "circular.onnx")
    _circular_check(path, x, model, "both_axes")
    manifest = export_onnx(path, tmp_path / "out", name="circular")
    assert_backends_match(manifest, x, torch_forward(model, x), "circular (default exporter)")


_INT64_MAX = 2**63 - 1


def _wrap_model(steps: list[tuple], concat_axes: list[int] | None = None) -> onnx.ModelProto:
    """x (N, 2, 3, 4) through one Concat per step, then Flatten. A step is (axis, before, after)
    with before / after the (start, end) of a Slice of the step's input along ``axis`` (None: no
    Slice), or (axis, before, after, slice_axis, step) to vary the Slice's own axis and step;
    ``concat_axes`` overrides each Concat's axis (negative axes)."""
    from onnx import helper, numpy_helper

    nodes, inits, value = [], [], "x"
    for i, spec in enumerate(steps):
        axis, before, after = spec[:3]
        slice_axis, step = (spec[3], spec[4]) if len(spec) > 3 else (axis, None)
        parts = [value]
        for side, bounds in (("before", before), ("after", after)):
            if bounds is None:
                continue
            names = [f"s{i}{side}.{k}" for k in ("starts", "ends", "axes", "steps")]
            values = [[bounds[0]], [bounds[1]], [slice_axis], [step]]
            count = 4 if step is not None else 3
            inits += [
                numpy_helper.from_array(np.array(v, np.int64), n)
                for n, v in zip(names[:count], values[:count])
            ]
            out = f"s{i}{side}"
            nodes.append(helper.make_node("Slice", [value, *names[:count]], [out]))
            parts = [out, *parts] if side == "before" else [*parts, out]
        out = f"c{i}"
        concat_axis = concat_axes[i] if concat_axes else axis
        nodes.append(helper.make_node("Concat", parts, [out], name=f"concat{i}", axis=concat_axis))
        value = out
    nodes.append(helper.make_node("Flatten", [value], ["y"], axis=1))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 2, 3, 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    inferred = onnx.shape_inference.infer_shapes(model)
    model.graph.output[0].CopyFrom(inferred.graph.output[0])
    return model


def _save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(
    ("steps", "concat_axes", "expected"),
    [
        # W first, then H: the other order
        ([(3, (-1, _INT64_MAX), (0, 2)), (2, (1, 3), None)], None, [((2, 0), (1, 2))]),
        # negative axes on the Concat and a Slice end past the extent
        ([(2, (-3, 99), (0, 1)), (3, None, (0, 4))], [-2, -1], [((3, 1), (0, 4))]),
        # a Slice's own axis negative, steps given as 1
        ([(3, (2, 4), None, -1, 1)], None, [((0, 0), (2, 0))]),
        # twice on the same axis: two pads, the second wrapping the first's output
        ([(3, (-1, 4), None), (3, None, (0, 2))], None, [((0, 0), (1, 0)), ((0, 0), (0, 2))]),
    ],
    ids=["w_then_h", "negative_axes", "slice_axis_negative", "same_axis_twice"],
)
def test_hand_built_circular_forms(tmp_path: Path, steps, concat_axes, expected) -> None:
    path = _save(_wrap_model(steps, concat_axes), tmp_path / "m.onnx")
    x = seeded_input("wrap_hand", (2, 3, 4))
    graph, _, _ = assert_onnx_import_matches_ort(path, x, "hand-built", ops=("circular_pad2d",))
    assert [(n.attrs["pad_h"], n.attrs["pad_w"]) for n in graph.nodes[:-1]] == expected
    assert [n.op for n in graph.nodes] == ["circular_pad2d"] * len(expected) + ["flatten"]


@pytest.mark.parametrize(
    "steps",
    [
        [(3, (-2, -1), None)],  # the Slice before x stops short of the end of W
        [(3, None, (1, 2))],  # the Slice after x does not start at 0
        [(3, (0, 1), (-1, _INT64_MAX))],  # head and tail swapped: a rotation, not a pad
        [(3, (-2, _INT64_MAX), None, 3, 2)],  # step 2
        [(3, (0, 3), None, 2, None)],  # a (whole) Slice of H inside a Concat on W
        [(3, (-1, _INT64_MAX), None), (2, (1, 3), (5, 6))],  # the outer step's tail is empty
    ],
    ids=["short_tail", "head_offset", "swapped", "step_2", "other_axis", "empty_slice"],
)
def test_near_miss_circular_is_refused_at_the_slice(tmp_path: Path, steps) -> None:
    """Slices that do not take exactly the wrap-around are never read as circular_pad2d: the
    nodes are read one by one, and a Slice of a computed value is refused as before."""
    path = _save(_wrap_model(steps), tmp_path / "m.onnx")
    assert "Slice" in _refused_at(path)
