"""conv1d, max_pool1d and avg_pool1d, the sequence ops of PRPS (phase-resolved pulse sequence)
models, end to end.

Every case is a module on (N, C, L) sequences (``helpers.seq_model``: a (C, L) model input),
exported through the real path: the NumPy
reference, the Java runtime and the written ONNX file all against torch; then ``torch.onnx.export``
of the same model read by pd2java's ONNX importer, against onnxruntime. Hand-picked edge cases
(length 1, odd lengths, stride larger than the kernel, groups and depthwise, dilation, ceil_mode,
'same' and circular padding, the functional forms) and a seeded random sweep of shapes. Then
hand-built ONNX Conv / MaxPool / AveragePool nodes on 3-D tensors (asymmetric pads, auto_pad,
ceil_mode), the lowering choices and the value rules.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
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
    read_onnx,
    seq_input,
    seq_model,
    torch_forward,
    torch_onnx_export,
)
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from pd2java.backends import reference
from pd2java.backends.java.bridge import java_predict
from pd2java.errors import ErrorCode, UserError
from pd2java.exporter import export, export_onnx
from pd2java.frontends.fx import capture
from pd2java.ops.pool import ceil_window_out
from pd2java.ops.registry import ShapeError, impl


class _Call(nn.Module):
    """A functional form as users write it: ``fn(x)`` in forward."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


class _FConv(nn.Module):
    """F.conv1d with the model's own weight (and bias) tensors."""

    def __init__(self, cin: int, cout: int, k: int, bias: bool = True, **kwargs: object) -> None:
        super().__init__()
        groups = int(kwargs.get("groups", 1))  # type: ignore[call-overload]
        self.w = nn.Parameter(torch.randn(cout, cin // groups, k) * 0.5)
        self.b = nn.Parameter(torch.randn(cout)) if bias else None
        self.kwargs = kwargs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(x, self.w, self.b, **self.kwargs)


# How torch.onnx.export of a case reads back through pd2java's ONNX importer: matching
# onnxruntime; matching torch (onnxruntime cannot run the file: a dilated Conv with auto_pad
# SAME_UPPER, as torch writes padding='same'); refused by the shape cross-check; not at all (the
# padding modes are written as Pad on 3-D tensors or Slice + Concat, which the importer does not
# map).
OK, NOT_ORT, REFUSED, NO_IMPORT = "ok", "not onnxruntime", "refused", "no import"


@dataclass(frozen=True)
class Case:
    name: str
    channels: int
    length: int
    build: Callable[[], nn.Module]  # the (N, C, L) body, built after seeding torch
    op: str  # an op key the export must hold
    onnx_in: str = OK


def _prps_stack() -> nn.Module:
    """A small PRPS-like feature extractor: every op of the family and its neighbours."""
    return nn.Sequential(
        nn.Conv1d(2, 6, 5, padding=2, padding_mode="circular"),
        nn.BatchNorm1d(6).eval(),
        nn.ReLU(),
        nn.MaxPool1d(3, 2, 1, ceil_mode=True),
        nn.Conv1d(6, 6, 3, padding=1, groups=6, bias=False),
        nn.AvgPool1d(2, count_include_pad=False, ceil_mode=True),
        nn.Conv1d(6, 4, 3, dilation=2),
    )


C = Case
CASES: list[Case] = [
    # conv1d
    C("conv_plain", 3, 17, lambda: nn.Conv1d(3, 5, 3), "conv1d@1"),
    C("conv_len1", 2, 1, lambda: nn.Conv1d(2, 4, 1), "conv1d@1"),
    C("conv_len1_padded", 2, 1, lambda: nn.Conv1d(2, 3, 3, padding=1, bias=False), "conv1d@1"),
    C("conv_stride_gt_kernel", 2, 11, lambda: nn.Conv1d(2, 3, 2, stride=3), "conv1d@1"),
    C("conv_groups", 4, 9, lambda: nn.Conv1d(4, 6, 3, groups=2, bias=False), "conv1d@1"),
    C("conv_depthwise_mult2", 4, 13, lambda: nn.Conv1d(4, 8, 5, padding=2, groups=4), "conv1d@1"),
    # long enough for the Java depthwise kernel's tap-plane path (> 64 outputs, stride 1)
    C("conv_depthwise_long", 3, 120, lambda: nn.Conv1d(3, 3, 7, padding=3, groups=3), "conv1d@1"),
    C("conv_dilated", 3, 15, lambda: nn.Conv1d(3, 4, 3, dilation=3, padding=2), "conv1d@1"),
    C("conv_dilated_strided", 2, 20, lambda: nn.Conv1d(2, 2, 3, 2, 1, 2), "conv1d@1"),
    # the Java GEMM kernel's column tiles (256 outputs) straddled
    C("conv_dense_long", 5, 300, lambda: nn.Conv1d(5, 7, 5, padding=2), "conv1d@1"),
    C("conv_valid", 2, 8, lambda: nn.Conv1d(2, 2, 3, padding="valid"), "conv1d@1"),
    C("conv_same_odd_total", 2, 9, lambda: nn.Conv1d(2, 3, 4, padding="same"), "constant_pad2d@1"),
    C(
        "conv_same_dilated",
        2,
        9,
        lambda: nn.Conv1d(2, 3, 3, padding="same", dilation=2),
        "conv1d@1",
        NOT_ORT,
    ),
    C(
        "conv_circular",
        2,
        12,
        lambda: nn.Conv1d(2, 3, 5, padding=2, padding_mode="circular"),
        "circular_pad2d@1",
        NO_IMPORT,
    ),
    C(
        "conv_circular_same_depthwise",
        3,
        10,
        lambda: nn.Conv1d(3, 3, 4, padding="same", padding_mode="circular", groups=3),
        "circular_pad2d@1",
        NO_IMPORT,
    ),
    C(
        "conv_reflect",
        2,
        7,
        lambda: nn.Conv1d(2, 2, 3, padding=1, padding_mode="reflect"),
        "reflection_pad2d@1",
        NO_IMPORT,
    ),
    C(
        "conv_replicate_len1",
        1,
        1,
        lambda: nn.Conv1d(1, 2, 3, padding=1, padding_mode="replicate"),
        "replication_pad2d@1",
        NO_IMPORT,
    ),
    C(
        "f_conv1d",
        4,
        13,
        lambda: _FConv(4, 6, 3, stride=2, padding=1, dilation=2, groups=2),
        "conv1d@1",
    ),
    C("f_conv1d_same", 2, 6, lambda: _FConv(2, 3, 2, bias=False, padding="same"), "conv1d@1"),
    # max_pool1d
    C("max_plain", 2, 10, lambda: nn.MaxPool1d(2), "max_pool1d@1"),
    C("max_k3s2p1_odd", 3, 9, lambda: nn.MaxPool1d(3, 2, 1), "max_pool1d@1"),
    C("max_ceil", 2, 8, lambda: nn.MaxPool1d(3, 2, 1, ceil_mode=True), "max_pool1d@1"),
    # an unpadded ceil_mode window reaching past the input: the Java fast path must not take it
    C("max_ceil_unpadded_overhang", 2, 7, lambda: nn.MaxPool1d(2, ceil_mode=True), "max_pool1d@1"),
    C("max_dilated", 2, 12, lambda: nn.MaxPool1d(3, 2, 1, dilation=2), "max_pool1d@1"),
    C(
        "max_dilated_ceil",
        2,
        13,
        lambda: nn.MaxPool1d(3, 2, 1, dilation=2, ceil_mode=True),
        "max_pool1d@1",
    ),
    C("max_stride_gt_kernel", 3, 11, lambda: nn.MaxPool1d(2, 3, ceil_mode=True), "max_pool1d@1"),
    C("max_len1", 2, 1, lambda: nn.MaxPool1d(1), "max_pool1d@1"),
    C("max_len1_ceil", 2, 1, lambda: nn.MaxPool1d(2, ceil_mode=True), "max_pool1d@1"),
    # ceil_mode's last window would start in the end padding: PyTorch drops it, ONNX opset 17
    # shape inference keeps it, so the importer refuses the torch.onnx.export file
    C(
        "max_ceil_drops_window",
        1,
        3,
        lambda: nn.MaxPool1d(2, 2, 1, ceil_mode=True),
        "max_pool1d@1",
        REFUSED,
    ),
    C("f_max", 2, 9, lambda: _Call(lambda x: F.max_pool1d(x, 3, 1, 1)), "max_pool1d@1"),
    C(
        "f_max_ceil",
        2,
        9,
        lambda: _Call(lambda x: F.max_pool1d(x, 2, ceil_mode=True)),
        "max_pool1d@1",
    ),
    C("adaptive_max_1", 3, 11, lambda: nn.AdaptiveMaxPool1d(1), "max_pool1d@1"),
    C(
        "f_adaptive_max_3",
        2,
        12,
        lambda: _Call(lambda x: F.adaptive_max_pool1d(x, 3)),
        "max_pool1d@1",
    ),
    # avg_pool1d
    C("avg_plain", 2, 10, lambda: nn.AvgPool1d(3), "avg_pool1d@1"),
    C("avg_pad_incl", 2, 9, lambda: nn.AvgPool1d(3, 2, 1), "avg_pool1d@1"),
    C("avg_pad_excl", 2, 9, lambda: nn.AvgPool1d(3, 2, 1, count_include_pad=False), "avg_pool1d@1"),
    C("avg_ceil_incl", 2, 11, lambda: nn.AvgPool1d(4, 3, 2, ceil_mode=True), "avg_pool1d@1"),
    C(
        "avg_ceil_drops_window",
        2,
        10,
        lambda: nn.AvgPool1d(4, 3, 2, ceil_mode=True),
        "avg_pool1d@1",
        REFUSED,
    ),
    C(
        "avg_ceil_excl",
        2,
        11,
        lambda: nn.AvgPool1d(4, 3, 2, ceil_mode=True, count_include_pad=False),
        "avg_pool1d@1",
    ),
    C("avg_stride_gt_kernel", 3, 8, lambda: nn.AvgPool1d(2, 3, ceil_mode=True), "avg_pool1d@1"),
    C("avg_len1", 2, 1, lambda: nn.AvgPool1d(3, 2, 1), "avg_pool1d@1"),
    C(
        "f_avg",
        2,
        8,
        lambda: _Call(lambda x: F.avg_pool1d(x, 3, 2, 1, True, False)),
        "avg_pool1d@1",
    ),
    C("adaptive_avg_1", 3, 11, lambda: nn.AdaptiveAvgPool1d(1), "avg_pool1d@1"),
    C("adaptive_avg_4", 2, 12, lambda: nn.AdaptiveAvgPool1d(4), "avg_pool1d@1"),
    C(
        "f_adaptive_avg_1",
        2,
        5,
        lambda: _Call(lambda x: F.adaptive_avg_pool1d(x, 1)),
        "avg_pool1d@1",
    ),
    # all together, as a PRPS model would use them
    C("prps_stack", 2, 36, _prps_stack, "avg_pool1d@1", NO_IMPORT),
]


def _drops_window(length: int, k: int, s: int, p: int, d: int) -> bool:
    """Whether PyTorch's ceil_mode drops a last window starting in the end padding here (which
    ONNX opset 17 shape inference keeps)."""
    num = length + 2 * p - d * (k - 1) - 1
    return (-(-num // s)) * s >= length + p


def _random_cases(seed: int, per_op: int) -> list[Case]:
    """A seeded sweep of shapes: ``per_op`` cases of each op with kernel, stride, padding,
    dilation, groups, ceil_mode and count_include_pad drawn at random over small ranges, lengths
    from 1; only configurations torch itself accepts."""
    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    counts = {"conv1d": 0, "max_pool1d": 0, "avg_pool1d": 0}
    while min(counts.values()) < per_op:
        op = min(counts, key=counts.__getitem__)
        length, k, s = int(rng.integers(1, 25)), int(rng.integers(1, 6)), int(rng.integers(1, 5))
        d = int(rng.integers(1, 4))
        p = int(rng.integers(0, k // 2 + 1))  # a pool's padding is at most kernel // 2
        ceil = bool(rng.random() < 0.5)
        name = f"random_{op}_{counts[op]}"
        onnx_in = OK
        if op == "conv1d":
            cin = int(rng.choice([1, 2, 3, 4, 6]))
            groups = int(rng.choice([g for g in range(1, cin + 1) if cin % g == 0]))
            cout = groups * int(rng.integers(1, 3))
            p = int(rng.integers(0, 4))
            bias = bool(rng.random() < 0.7)

            def build(cin=cin, cout=cout, k=k, s=s, p=p, d=d, g=groups, b=bias) -> nn.Module:
                return nn.Conv1d(cin, cout, k, s, p, d, g, bias=b)

            channels = cin
        else:
            channels = int(rng.integers(1, 4))
            if op == "max_pool1d":

                def build(k=k, s=s, p=p, d=d, c=ceil) -> nn.Module:
                    return nn.MaxPool1d(k, s, p, d, ceil_mode=c)

            else:
                d, cip = 1, bool(rng.random() < 0.5)

                def build(k=k, s=s, p=p, c=ceil, i=cip) -> nn.Module:
                    return nn.AvgPool1d(k, s, p, ceil_mode=c, count_include_pad=i)

            if ceil and _drops_window(length, k, s, p, d):
                onnx_in = REFUSED
        try:  # only what torch computes
            with torch.no_grad():
                build()(torch.zeros(1, channels, length))
        except RuntimeError:
            continue
        cases.append(Case(name, channels, length, build, f"{op}@1", onnx_in))
        counts[op] += 1
    return cases


ALL = CASES + _random_cases(20240611, per_op=6)


def _model(case: Case) -> nn.Module:
    torch.manual_seed(zlib.crc32(case.name.encode()))
    return seq_model(case.build())


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("case", ALL, ids=[c.name for c in ALL])
def test_seq_op_matches_torch(tmp_path: Path, case: Case) -> None:
    model = _model(case)
    x = seq_input(case.name, case.channels, case.length)
    manifest = export_and_compare(model, x, tmp_path / "out", case.name, onnx=True)
    keys = [n.key for n in reference.load(manifest).graph.nodes]
    assert case.op in keys, keys
    if case.onnx_in == NO_IMPORT:
        return
    # torch.onnx.export of the same model, read by pd2java, against onnxruntime
    path = torch_onnx_export(model, x, tmp_path / f"{case.name}.onnx")
    if case.onnx_in == REFUSED:
        # by the declared output shape or the cross-check with ONNX's own shape inference
        with pytest.raises(UserError, match="declared with shape|refusing rather than misreading"):
            export_onnx(path, tmp_path / "onnx_out", name=case.name)
        return
    if case.onnx_in == NOT_ORT:
        graph = read_onnx(path)
        got = reference.run_graph(graph, x.numpy())
        assert_close(got, torch_forward(model, x), what=f"{case.name}: imported ONNX vs torch")
    else:
        graph, _, _ = assert_onnx_import_matches_ort(path, x, case.name)
    assert case.op in [n.key for n in graph.nodes]


# --- lowering choices -------------------------------------------------------------------------


def _nodes(body: nn.Module, channels: int, length: int) -> list[tuple[str, dict]]:
    torch.manual_seed(0)
    graph = capture(seq_model(body), (channels, length), name="m", classes=None)
    return [(n.op, dict(n.attrs)) for n in graph.nodes]


def test_conv1d_symmetric_zero_padding_is_the_conv_own() -> None:
    [(op, attrs)] = _nodes(nn.Conv1d(2, 4, 3, 2, 1, 2, groups=2), 2, 9)
    assert op == "conv1d"
    assert attrs == {
        "in_channels": 2,
        "out_channels": 4,
        "kernel_size": 3,
        "stride": 2,
        "padding": 1,
        "dilation": 2,
        "groups": 2,
    }


@pytest.mark.parametrize(
    ("mode", "op"),
    [("zeros", "constant_pad2d"), ("circular", "circular_pad2d"), ("reflect", "reflection_pad2d")],
)
def test_conv1d_other_padding_pads_the_c1l_view_first(mode: str, op: str) -> None:
    # 'same' with kernel 4: total 3, PyTorch puts 1 left and 2 right
    nodes = _nodes(nn.Conv1d(2, 2, 4, padding="same", padding_mode=mode), 2, 6)
    assert [n for n, _ in nodes] == ["unsqueeze", op, "squeeze", "conv1d"]
    assert nodes[0][1] == {"dim": 2} and nodes[2][1] == {"dim": 2}
    assert nodes[1][1]["pad_h"] == (0, 0) and nodes[1][1]["pad_w"] == (1, 2)
    assert nodes[3][1]["padding"] == 0


def test_adaptive_pools_are_plain_pools() -> None:
    [(op, attrs)] = _nodes(nn.AdaptiveAvgPool1d(3), 2, 12)
    assert op == "avg_pool1d"
    assert attrs == {
        "kernel_size": 4,
        "stride": 4,
        "padding": (0, 0),
        "ceil_mode": False,
        "count_include_pad": True,
    }
    [(op, attrs)] = _nodes(nn.AdaptiveMaxPool1d(1), 2, 7)
    assert (op, attrs["kernel_size"], attrs["stride"], attrs["dilation"]) == ("max_pool1d", 7, 7, 1)


@pytest.mark.parametrize(
    "body",
    [nn.AdaptiveAvgPool1d(5), _Call(lambda x: F.adaptive_max_pool1d(x, 5))],
    ids=["module", "functional"],
)
def test_adaptive_pool_to_unequal_bins_is_refused(tmp_path: Path, body: nn.Module) -> None:
    with pytest.raises(UserError, match="only an output size dividing the length"):
        export(seq_model(body), tmp_path / "out", input_shape=(2, 12))
    assert not (tmp_path / "out").exists()


# --- hand-built ONNX on 3-D tensors -----------------------------------------------------------


def _onnx_seq_model(
    node: onnx.NodeProto,
    channels: int,
    length: int,
    inits: list[onnx.TensorProto] = (),
    opset: int = 17,
) -> onnx.ModelProto:
    """s (N, C, L) -> ``node`` (on "s", writing "o"), the graph output."""
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("s", TensorProto.FLOAT, ["N", channels, length])],
        [helper.make_tensor_value_info("o", TensorProto.FLOAT, ["N", None, None])],
        initializer=list(inits),
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _conv(cin: int, cout: int, k: int, group: int = 1, bias: bool = True, **attrs: object):
    rng = np.random.default_rng(cin * 100 + cout * 10 + k)
    inits = [numpy_helper.from_array(rng.standard_normal((cout, cin // group, k), np.float32), "w")]
    inputs = ["s", "w"]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(cout).astype(np.float32), "b"))
        inputs.append("b")
    return helper.make_node("Conv", inputs, ["o"], name="conv", group=group, **attrs), inits


def _pool(op_type: str, **attrs: object):
    return helper.make_node(op_type, ["s"], ["o"], name="pool", **attrs), []


ONNX_CASES = [
    # (name, (node, initializers), channels, length, IR op keys the import must give)
    ("conv_plain", _conv(2, 3, 3, pads=[1, 1]), 2, 9, ["conv1d@1"]),
    ("conv_no_kernel_shape_no_bias", _conv(2, 2, 2, bias=False), 2, 5, ["conv1d@1"]),
    (
        "conv_grouped_dilated_strided",
        _conv(4, 6, 3, group=2, strides=[2], dilations=[2], pads=[2, 2]),
        4,
        11,
        ["conv1d@1"],
    ),
    ("conv_asym_pads", _conv(2, 3, 3, pads=[0, 2]), 2, 7, ["constant_pad2d@1", "conv1d@1"]),
    (
        "conv_same_upper",
        _conv(3, 3, 4, group=3, auto_pad="SAME_UPPER"),
        3,
        8,
        ["unsqueeze@1", "constant_pad2d@1", "squeeze@1", "conv1d@1"],
    ),
    (
        "conv_same_lower_strided",
        _conv(2, 2, 3, strides=[2], auto_pad="SAME_LOWER"),
        2,
        8,
        ["constant_pad2d@1", "conv1d@1"],
    ),
    ("conv_valid", _conv(2, 2, 3, kernel_shape=[3], auto_pad="VALID"), 2, 6, ["conv1d@1"]),
    ("max_asym", _pool("MaxPool", kernel_shape=[3], pads=[1, 0]), 2, 7, ["max_pool1d@1"]),
    (
        "max_ceil_dilated",
        _pool("MaxPool", kernel_shape=[3], strides=[2], pads=[1, 1], dilations=[2], ceil_mode=1),
        2,
        12,
        ["max_pool1d@1"],
    ),
    (
        "max_same_upper",
        _pool("MaxPool", kernel_shape=[2], strides=[2], auto_pad="SAME_UPPER"),
        2,
        7,
        ["max_pool1d@1"],
    ),
    (
        "max_same_lower",
        _pool("MaxPool", kernel_shape=[2], auto_pad="SAME_LOWER"),
        2,
        6,
        ["max_pool1d@1"],
    ),
    (
        "avg_asym_incl",
        _pool("AveragePool", kernel_shape=[3], pads=[0, 1], count_include_pad=1),
        2,
        6,
        ["avg_pool1d@1"],
    ),
    (
        "avg_asym_excl",
        _pool("AveragePool", kernel_shape=[3], strides=[2], pads=[1, 0]),
        2,
        7,
        ["avg_pool1d@1"],
    ),
    (
        "avg_ceil_incl",
        _pool(
            "AveragePool",
            kernel_shape=[3],
            strides=[2],
            pads=[1, 1],
            ceil_mode=1,
            count_include_pad=1,
        ),
        2,
        8,
        ["avg_pool1d@1"],
    ),
    (
        "avg_same_upper",
        _pool("AveragePool", kernel_shape=[2], strides=[3], auto_pad="SAME_UPPER"),
        3,
        7,
        ["avg_pool1d@1"],
    ),
    (
        "avg_valid_len1",
        _pool("AveragePool", kernel_shape=[1], auto_pad="VALID"),
        2,
        1,
        ["avg_pool1d@1"],
    ),
]


@pytest.mark.parametrize(
    ("name", "made", "channels", "length", "keys"), ONNX_CASES, ids=[c[0] for c in ONNX_CASES]
)
def test_onnx_seq_import_matches_onnxruntime(
    tmp_path: Path, name: str, made: tuple, channels: int, length: int, keys: list[str]
) -> None:
    node, inits = made
    model = _onnx_seq_model(node, channels, length, inits)
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    x = seq_input(name, channels, length)
    graph, expected, _ = assert_onnx_import_matches_ort(path, x, name)
    got = [n.key for n in graph.nodes]
    assert all(k in got for k in keys), got
    # and through pd2java's own export: reference, Java and the re-written ONNX agree with ORT
    manifest = export_onnx(path, tmp_path / "out", name=name, onnx=True)
    xs = x.numpy()
    assert_close(reference.run(manifest, xs), expected, what=f"{name}: reference")
    assert_close(java_predict(manifest, xs), expected, what=f"{name}: Java")
    written = manifest.parent / f"{name}.onnx"
    assert_close(ort_run(written, xs), expected, what=f"{name}: written ONNX")


@pytest.mark.parametrize(
    ("node", "pattern"),
    [
        (_pool("MaxPool", kernel_shape=[2, 2])[0], r"kernel \[2, 2\] is not 1-D"),
        (_pool("AveragePool", kernel_shape=[2], dilations=[2])[0], "not supported for average"),
        (_pool("MaxPool", kernel_shape=[3], pads=[2, 0])[0], "half the kernel"),
        (_pool("MaxPool", kernel_shape=[2], pads=[0, 0, 0, 0])[0], "must be 2 ints"),
    ],
)
def test_onnx_seq_refusals(tmp_path: Path, node: onnx.NodeProto, pattern: str) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(_onnx_seq_model(node, 2, 8, opset=19), path)  # AveragePool dilations: opset 19
    with pytest.raises(UserError, match=pattern):
        export_onnx(path, tmp_path / "out", name="m")


def test_onnx_conv_weight_must_fit_the_input_rank(tmp_path: Path) -> None:
    w = numpy_helper.from_array(np.ones((2, 2, 1, 3), np.float32), "w")
    node = helper.make_node("Conv", ["s", "w"], ["o"], name="conv")
    path = tmp_path / "m.onnx"
    onnx.save(_onnx_seq_model(node, 2, 8, [w]), path)
    with pytest.raises(UserError, match=r"supports 1-D convolution \(a 3-D weight\)"):
        export_onnx(path, tmp_path / "out", name="m")


# --- value rules --------------------------------------------------------------------------------


def _conv1d(**changes: object) -> dict:
    attrs = {
        "in_channels": 4,
        "out_channels": 6,
        "kernel_size": 3,
        "stride": 1,
        "padding": 1,
        "dilation": 1,
        "groups": 2,
    }
    return {**attrs, **changes}


def _max1(**changes: object) -> dict:
    attrs = {"kernel_size": 3, "stride": 2, "padding": (1, 1), "dilation": 1, "ceil_mode": True}
    return {**attrs, **changes}


def _avg1(**changes: object) -> dict:
    attrs = {k: v for k, v in _max1().items() if k != "dilation"}
    return {**attrs, "count_include_pad": True, **changes}


@pytest.mark.parametrize(
    ("key", "attrs", "pattern"),
    [
        ("conv1d@1", _conv1d(groups=3), "groups=3 must divide"),
        ("conv1d@1", _conv1d(kernel_size=0), ">= 1"),
        ("conv1d@1", _conv1d(stride=(1,)), "stride must be an int"),
        ("conv1d@1", _conv1d(padding=True), "padding must be an int"),
        ("max_pool1d@1", _max1(padding=(0, 2)), "half the kernel"),
        ("max_pool1d@1", _max1(padding=(-1, 0)), "must be >= 0"),
        ("max_pool1d@1", _max1(padding=1), "padding must be a pair"),
        ("max_pool1d@1", _max1(dilation=0), ">= 1"),
        ("max_pool1d@1", _max1(ceil_mode=1), "ceil_mode must be a bool"),
        ("avg_pool1d@1", _avg1(padding=(2, 1)), "half the kernel"),
        ("avg_pool1d@1", _avg1(stride=0), ">= 1"),
        ("avg_pool1d@1", _avg1(count_include_pad=0), "count_include_pad must be a bool"),
    ],
)
def test_value_rules(key: str, attrs: dict, pattern: str) -> None:
    """The 2-D ops' rules, with the same error code."""
    with pytest.raises(ShapeError, match=pattern) as info:
        impl(key).infer(attrs, [(4, 8)])
    assert info.value.code == ErrorCode.INVALID_ATTRIBUTE


@pytest.mark.parametrize(
    ("key", "attrs", "shape", "pattern"),
    [
        ("conv1d@1", _conv1d(), (4, 1, 8), "2-D per-sample input"),
        ("conv1d@1", _conv1d(), (2, 8), "input has 2 channels"),
        ("conv1d@1", _conv1d(kernel_size=5, padding=0), (4, 3), "length: window of span 5"),
        ("max_pool1d@1", _max1(ceil_mode=False, padding=(0, 0)), (4, 2), "length: window"),
        ("avg_pool1d@1", _avg1(), (4,), "2-D per-sample input"),
    ],
)
def test_shape_rules(key: str, attrs: dict, shape: tuple, pattern: str) -> None:
    with pytest.raises(ShapeError, match=pattern) as info:
        impl(key).infer(attrs, [shape])
    assert info.value.code == ErrorCode.SHAPE_MISMATCH


def test_output_length_rule_drops_a_window_starting_in_the_end_padding() -> None:
    # length 3, kernel 2, stride 2, pads [1, 1]: ceil gives 3 windows, the third would start at
    # padded cell 4 >= 3 + 1 and is dropped (PyTorch's rule): 2 outputs, as torch computes
    attrs = _max1(kernel_size=2, stride=2, padding=(1, 1))
    assert impl("max_pool1d@1").infer(attrs, [(1, 3)]) == (1, 2)
    assert ceil_window_out(3, 2, 2, 1, 1, 1, True, "length") == 2
    want = F.max_pool1d(torch.zeros(1, 1, 3), 2, 2, 1, ceil_mode=True).shape
    assert tuple(want[1:]) == (1, 2)
    x = np.arange(1, 4, dtype=np.float32).reshape(1, 1, 3)
    np.testing.assert_array_equal(impl("max_pool1d@1").kernel(attrs, [x], {}), [[[1, 3]]])


def test_conv1d_weight_shape_is_3d() -> None:
    assert impl("conv1d@1").param_shapes(_conv1d()) == {"weight": (6, 2, 3), "bias": (6,)}
