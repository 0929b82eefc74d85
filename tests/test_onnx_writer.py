"""The ONNX back end on hand-built IR graphs: every v1 op, checked by onnx.checker (full) and by
onnxruntime against torch's functional ops on the same weights; determinism; shared tensors;
refusals of malformed graphs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_close

from pd2java.backends.onnx import OPSET, graph_to_onnx, write_onnx
from pd2java.errors import UserError
from pd2java.ir import Graph, Node, ValueSpec
from pd2java.ops.frontend_registry import NO_ONNX_EXPORT
from pd2java.ops.table import OPS


class Chain:
    """Builds an IR graph step by step beside the torch computation it stands for.

    Each step runs its torch function on a sample batch, so the IR's output shapes come from torch
    (not from the code under test) and the torch result is the oracle.
    """

    def __init__(self, shape: tuple[int, int, int], seed: int = 0) -> None:
        self.gen = torch.Generator().manual_seed(seed)
        self.x = torch.randn(3, *shape, generator=self.gen)
        self.input = ValueSpec("input", shape)
        self.values: dict[str, torch.Tensor] = {"input": self.x}
        self.nodes: list[Node] = []
        self.tensors: dict[str, np.ndarray] = {}

    def rand(self, *shape: int, positive: bool = False) -> np.ndarray:
        t = (
            torch.rand(*shape, generator=self.gen) + 0.5
            if positive
            else torch.randn(*shape, generator=self.gen)
        )
        return t.numpy().astype(np.float32)

    def step(
        self,
        op: str,
        inputs: list[str],
        attrs: dict,
        params: dict[str, np.ndarray | str | None],
        fn: Callable[..., torch.Tensor],
    ) -> str:
        name = f"{op}_{len(self.nodes)}"
        keys: dict[str, str | None] = {}
        for slot, value in params.items():
            if value is None or isinstance(value, str):
                keys[slot] = value  # absent, or an existing tensor shared with another node
            else:
                keys[slot] = f"{name}.{slot}"
                self.tensors[f"{name}.{slot}"] = value
        tensors = {
            slot: (None if key is None else torch.from_numpy(self.tensors[key]))
            for slot, key in keys.items()
        }
        out = fn(*[self.values[v] for v in inputs], **tensors)
        self.values[name] = out
        self.nodes.append(
            Node(name, op, 1, tuple(inputs), (name,), attrs, keys, tuple(out.shape[1:]))
        )
        return name

    def graph(self, kind: str = "logits", classes: tuple[str, ...] | None = None) -> Graph:
        out = self.nodes[-1].outputs[0]
        return Graph(
            "chain",
            self.input,
            (out,),
            tuple(self.nodes),
            dict(self.tensors),
            classes=classes,
            output_kinds=(kind,),
        )

    @property
    def expected(self) -> torch.Tensor:
        return self.values[self.nodes[-1].outputs[0]]


def run_ort(model: onnx.ModelProto, x: torch.Tensor) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]


def conv(
    c: Chain,
    src: str,
    cin: int,
    cout: int,
    k: tuple[int, int],
    stride=(1, 1),
    padding=(0, 0),
    dilation=(1, 1),
    groups: int = 1,
    bias: bool = True,
) -> str:
    return c.step(
        "conv2d",
        [src],
        {
            "in_channels": cin,
            "out_channels": cout,
            "kernel_size": k,
            "stride": stride,
            "padding": padding,
            "dilation": dilation,
            "groups": groups,
        },
        {"weight": c.rand(cout, cin // groups, *k), "bias": c.rand(cout) if bias else None},
        lambda x, weight, bias: F.conv2d(x, weight, bias, stride, padding, dilation, groups),
    )


def bn(c: Chain, src: str, ch: int, affine: bool, eps: float = 1e-3) -> str:
    return c.step(
        "batch_norm2d",
        [src],
        {"num_features": ch, "eps": eps},
        {
            "running_mean": c.rand(ch),
            "running_var": c.rand(ch, positive=True),
            "weight": c.rand(ch) if affine else None,
            "bias": c.rand(ch) if affine else None,
        },
        lambda x, running_mean, running_var, weight, bias: F.batch_norm(
            x, running_mean, running_var, weight, bias, False, 0.0, eps
        ),
    )


def unary(c: Chain, op: str, src: str, attrs: dict | None = None) -> str:
    fns = {
        "relu": F.relu,
        "relu6": F.relu6,
        "sigmoid": torch.sigmoid,
        "leaky_relu": lambda x: F.leaky_relu(x, (attrs or {}).get("negative_slope", 0.0)),
        "flatten": lambda x: torch.flatten(x, 1),
    }
    return c.step(op, [src], attrs or {}, {}, fns[op])


def linear(c: Chain, src: str, fin: int, fout: int, bias: bool = True) -> str:
    return c.step(
        "linear",
        [src],
        {"in_features": fin, "out_features": fout},
        {"weight": c.rand(fout, fin), "bias": c.rand(fout) if bias else None},
        lambda x, weight, bias: F.linear(x, weight, bias),
    )


def graph_all_pools() -> tuple[Graph, torch.Tensor, torch.Tensor]:
    c = Chain((4, 13, 16), seed=1)
    v = conv(c, "input", 4, 6, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2)
    v = bn(c, v, 6, affine=True)
    v = unary(c, "relu", v)
    v = c.step(
        "max_pool2d",
        [v],
        {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 1), "dilation": (1, 2)},
        {},
        lambda x: F.max_pool2d(x, (3, 2), (2, 1), (1, 1), (1, 2)),
    )
    a = c.step(
        "avg_pool2d",
        [v],
        {"kernel_size": (3, 3), "stride": (1, 1), "padding": (1, 1), "count_include_pad": True},
        {},
        lambda x: F.avg_pool2d(x, 3, 1, 1, count_include_pad=True),
    )
    b = c.step(
        "avg_pool2d",
        [v],
        {"kernel_size": (3, 3), "stride": (1, 1), "padding": (1, 1), "count_include_pad": False},
        {},
        lambda x: F.avg_pool2d(x, 3, 1, 1, count_include_pad=False),
    )
    v = c.step("add", [a, b], {}, {}, torch.add)
    # Adaptive pools export where ONNX can say them: input extents multiples of the output's.
    v = c.step(
        "adaptive_avg_pool2d",
        [v],
        {"output_size": (3, 1)},
        {},
        lambda x: F.adaptive_avg_pool2d(x, (3, 1)),
    )
    v = c.step(
        "adaptive_max_pool2d",
        [v],
        {"output_size": (1, 1)},
        {},
        lambda x: F.adaptive_max_pool2d(x, (1, 1)),
    )
    m = c.step("global_max_pool", [v], {"keepdims": True}, {}, lambda x: x.amax((2, 3), True))
    v = c.step("add", [v, m], {}, {}, torch.add)
    v = c.step("global_avg_pool", [v], {"keepdims": False}, {}, lambda x: x.mean((2, 3)))
    v = linear(c, v, 6, 5)
    c.step("softmax", [v], {"dim": 1}, {}, lambda x: F.softmax(x, 1))
    return c.graph("probabilities", ("a", "b", "c", "d", "e")), c.x, c.expected


def graph_all_activations() -> tuple[Graph, torch.Tensor, torch.Tensor]:
    c = Chain((3, 7, 6), seed=2)
    v = conv(c, "input", 3, 4, (3, 3), padding=(1, 1), bias=False)
    v = bn(c, v, 4, affine=False)
    r = unary(c, "relu6", v)
    v = unary(c, "leaky_relu", r, {"negative_slope": 0.2})
    v = unary(c, "sigmoid", v)
    v = c.step("add", [v, r], {}, {}, torch.add)
    v = c.step(
        "global_avg_pool", [v], {"keepdims": True}, {}, lambda x: x.mean((2, 3), keepdim=True)
    )
    v = unary(c, "flatten", v)
    linear(c, v, 4, 3, bias=False)
    return c.graph("logits"), c.x, c.expected


def graph_shared_weights() -> tuple[Graph, torch.Tensor, torch.Tensor]:
    c = Chain((2, 5, 5), seed=3)
    first = conv(c, "input", 2, 2, (3, 3), padding=(1, 1))
    key_w, key_b = f"{first}.weight", f"{first}.bias"
    v = unary(c, "relu", first)
    v = c.step(
        "conv2d",
        [v],
        dict(c.nodes[0].attrs),
        {"weight": key_w, "bias": key_b},
        lambda x, weight, bias: F.conv2d(x, weight, bias, 1, 1),
    )
    unary(c, "flatten", v)
    return c.graph(), c.x, c.expected


def graph_all_pads() -> tuple[Graph, torch.Tensor, torch.Tensor]:
    c = Chain((2, 4, 5), seed=4)

    def pad(op: str, src: str, lrtb: tuple[int, int, int, int], mode: str, **extra) -> str:
        attrs = {"pad_h": (lrtb[2], lrtb[3]), "pad_w": (lrtb[0], lrtb[1]), **extra}
        value = extra.get("value", 0.0)
        if mode == "constant":
            return c.step(op, [src], attrs, {}, lambda x: F.pad(x, lrtb, value=value))
        return c.step(op, [src], attrs, {}, lambda x: F.pad(x, lrtb, mode=mode))

    v = pad("circular_pad2d", "input", (2, 1, 0, 4), "circular")  # (2, 8, 8)
    v = pad("constant_pad2d", v, (1, 0, 2, 1), "constant", value=-0.5)  # (2, 11, 9)
    v = pad("reflection_pad2d", v, (3, 2, 1, 0), "reflect")  # (2, 12, 14)
    v = pad("replication_pad2d", v, (0, 1, 2, 2), "replicate")  # (2, 16, 15)
    v = pad("circular_pad2d", v, (0, 0, 0, 0), "circular")  # no pad: written as Identity
    v = unary(c, "flatten", v)
    linear(c, v, 2 * 16 * 15, 3)
    return c.graph("logits"), c.x, c.expected


def graph_all_norms() -> tuple[Graph, torch.Tensor, torch.Tensor]:
    """group_norm (written as its opset-17 decomposition), instance_norm2d, layer_norm (its
    weights stored flattened) and batch_norm1d, with and without affine parameters."""
    c = Chain((4, 3, 5), seed=11)
    v = c.step(
        "group_norm",
        ["input"],
        {"num_groups": 2, "num_channels": 4, "eps": 1e-3},
        {"weight": c.rand(4), "bias": c.rand(4)},
        lambda x, weight, bias: F.group_norm(x, 2, weight, bias, 1e-3),
    )
    v = c.step(
        "group_norm",
        [v],
        {"num_groups": 4, "num_channels": 4, "eps": 1e-5},
        {"weight": None, "bias": c.rand(4)},
        lambda x, weight, bias: F.group_norm(x, 4, None, bias, 1e-5),
    )
    v = c.step(
        "instance_norm2d",
        ["input"],
        {"num_features": 4, "eps": 1e-3},
        {"weight": c.rand(4), "bias": c.rand(4)},
        lambda x, weight, bias: F.instance_norm(x, weight=weight, bias=bias, eps=1e-3),
    )
    v = c.step(
        "instance_norm2d",
        [v],
        {"num_features": 4, "eps": 1e-5},
        {"weight": None, "bias": None},
        lambda x, weight, bias: F.instance_norm(x, eps=1e-5),
    )
    v = c.step(
        "layer_norm",
        [v],
        {"normalized_dims": 2, "normalized_size": 15, "eps": 1e-4},
        {"weight": c.rand(15), "bias": c.rand(15)},
        lambda x, weight, bias: F.layer_norm(
            x, (3, 5), weight.reshape(3, 5), bias.reshape(3, 5), 1e-4
        ),
    )
    v = c.step(
        "layer_norm",
        [v],
        {"normalized_dims": 1, "normalized_size": 5, "eps": 1e-5},
        {"weight": None, "bias": None},
        lambda x, weight, bias: F.layer_norm(x, (5,), eps=1e-5),
    )
    v = unary(c, "flatten", v)
    v = linear(c, v, 60, 6)
    v = c.step(
        "group_norm",
        [v],
        {"num_groups": 3, "num_channels": 6, "eps": 1e-5},
        {"weight": c.rand(6), "bias": None},
        lambda x, weight, bias: F.group_norm(x, 3, weight, None, 1e-5),
    )
    for affine in (True, False):
        v = c.step(
            "batch_norm1d",
            [v],
            {"num_features": 6, "eps": 1e-3},
            {
                "running_mean": c.rand(6),
                "running_var": c.rand(6, positive=True),
                "weight": c.rand(6) if affine else None,
                "bias": c.rand(6) if affine else None,
            },
            lambda x, running_mean, running_var, weight, bias: F.batch_norm(
                x, running_mean, running_var, weight, bias, False, 0.0, 1e-3
            ),
        )
    linear(c, v, 6, 3)
    return c.graph("logits"), c.x, c.expected


def graph_more_activations() -> tuple[Graph, torch.Tensor, torch.Tensor]:
    c = Chain((3, 5, 4), seed=5)
    v = conv(c, "input", 3, 4, (3, 3), padding=(1, 1))
    v = c.step("tanh", [v], {}, {}, torch.tanh)
    v = c.step("silu", [v], {}, {}, F.silu)
    v = c.step("hardswish", [v], {}, {}, F.hardswish)
    v = c.step("hardsigmoid", [v], {}, {}, F.hardsigmoid)
    v = c.step("elu", [v], {"alpha": 0.7}, {}, lambda x: F.elu(x, 0.7))
    v = c.step("mish", [v], {}, {}, F.mish)
    for tanh in (False, True):
        v = c.step(
            "gelu",
            [v],
            {"tanh_approximation": tanh},
            {},
            lambda x, tanh=tanh: F.gelu(x, approximate="tanh" if tanh else "none"),
        )
    v = c.step("clamp", [v], {"min": -0.25, "max": 0.5}, {}, lambda x: x.clamp(-0.25, 0.5))
    for n in (1, 4):
        v = c.step("prelu", [v], {"num_parameters": n}, {"weight": c.rand(n)}, F.prelu)
    v = unary(c, "flatten", v)
    v = linear(c, v, 4 * 5 * 4, 3)
    c.step("log_softmax", [v], {"dim": 1}, {}, lambda x: F.log_softmax(x, 1))
    return c.graph("logits"), c.x, c.expected


def graph_upsampling() -> tuple[Graph, torch.Tensor, torch.Tensor]:
    c = Chain((2, 3, 5), seed=6)
    v = c.step(
        "upsample_nearest2d",
        ["input"],
        {"output_size": (6, 10)},
        {},
        lambda x: F.interpolate(x, size=(6, 10), mode="nearest"),
    )
    for align in (False, True):
        v = c.step(
            "upsample_bilinear2d",
            [v],
            {"output_size": (7, 9), "align_corners": align},
            {},
            lambda x, align=align: F.interpolate(
                x, size=(7, 9), mode="bilinear", align_corners=align
            ),
        )
    v = c.step(
        "conv_transpose2d",
        [v],
        {
            "in_channels": 2,
            "out_channels": 4,
            "kernel_size": (3, 2),
            "stride": (2, 1),
            "padding": (1, 0),
            "output_padding": (1, 0),
            "dilation": (1, 1),
            "groups": 2,
        },
        {"weight": c.rand(2, 2, 3, 2), "bias": c.rand(4)},
        lambda x, weight, bias: F.conv_transpose2d(x, weight, bias, (2, 1), (1, 0), (1, 0), 2),
    )
    v = c.step("global_avg_pool", [v], {"keepdims": False}, {}, lambda x: x.mean((2, 3)))
    linear(c, v, 4, 2)
    return c.graph("logits"), c.x, c.expected


def graph_binary_ops() -> tuple[Graph, torch.Tensor, torch.Tensor]:
    """Constants (no inputs) broadcast into mul, add@2, div; a computed (C) value broadcast along
    W into sub (the writer unsqueezes it after the batch axis); a same-shape add@1."""
    c = Chain((2, 3, 2), seed=7)

    def const(value: np.ndarray) -> str:
        return c.step("constant", [], {}, {"value": value}, lambda value: value.unsqueeze(0))

    scale = const(c.rand(2, 1, 1, positive=True))
    v = c.step("mul", ["input", scale], {}, {}, lambda a, b: a * b)
    v = c.step("add", [v, const(c.rand(2))], {}, {}, lambda a, b: a + b)
    c.nodes[-1] = c.nodes[-1].with_(version=2)
    g = c.step("global_avg_pool", ["input"], {"keepdims": False}, {}, lambda x: x.mean((2, 3)))
    v = c.step("sub", [v, g], {}, {}, lambda a, b: a - b[:, None, None, :])
    v = c.step("div", [v, scale], {}, {}, lambda a, b: a / b)
    v = c.step(
        "div",
        [const(c.rand(1)), c.step("sigmoid", [v], {}, {}, torch.sigmoid)],
        {},
        {},
        lambda a, b: a / b,
    )
    v = c.step("add", [v, v], {}, {}, lambda a, b: a + b)
    v = c.step("global_avg_pool", [v], {"keepdims": False}, {}, lambda x: x.mean((2, 3)))
    linear(c, v, 2, 3)
    return c.graph("logits"), c.x, c.expected


def graph_pools_v2() -> tuple[Graph, torch.Tensor, torch.Tensor]:
    """max_pool2d@2 and avg_pool2d@2: per-side pads (as an F.pad of -inf or zeros before the
    torch pool) and ceil_mode."""
    c = Chain((3, 9, 7), seed=4)

    def padded(x: torch.Tensor, lrtb: tuple[int, int, int, int], value: float) -> torch.Tensor:
        return F.pad(x, lrtb, value=value)

    v = c.step(
        "max_pool2d",
        ["input"],
        {
            "kernel_size": (3, 2),
            "stride": (2, 2),
            "pad_h": (1, 0),
            "pad_w": (0, 1),
            "dilation": (1, 1),
            "ceil_mode": True,
        },
        {},
        # F.pad then a pool without padding is the same here: no ceil_mode window starts in
        # the bottom/right padding; every window holds a real cell, so a very negative pad
        # value acts as -inf
        lambda x: F.max_pool2d(padded(x, (0, 1, 1, 0), -1e30), (3, 2), 2, ceil_mode=True),
    )
    c.nodes[-1] = c.nodes[-1].with_(version=2)
    for include in (True, False):
        c.step(
            "avg_pool2d",
            [v],
            {
                "kernel_size": (2, 2),
                "stride": (2, 2),
                "pad_h": (1, 1),
                "pad_w": (1, 1),
                "ceil_mode": True,
                "count_include_pad": include,
            },
            {},
            lambda x, include=include: F.avg_pool2d(
                x, 2, 2, 1, ceil_mode=True, count_include_pad=include
            ),
        )
        c.nodes[-1] = c.nodes[-1].with_(version=2)
    v = c.step("add", [c.nodes[-2].name, c.nodes[-1].name], {}, {}, torch.add)
    v = c.step("global_avg_pool", [v], {"keepdims": False}, {}, lambda x: x.mean((2, 3)))
    linear(c, v, 3, 2)
    return c.graph("logits"), c.x, c.expected


def graph_struct_ops() -> tuple[Graph, torch.Tensor, torch.Tensor]:
    """concat on C, H and W; unsqueeze, squeeze; flatten@2 (a Reshape to [0, C, -1]); reshape@1
    (a Reshape to [0, *shape])."""
    c = Chain((2, 3, 4), seed=11)
    v = c.step("concat", ["input", "input"], {"dim": 1}, {}, lambda a, b: torch.cat([a, b], 1))
    v = c.step("concat", [v, v], {"dim": 2}, {}, lambda a, b: torch.cat([a, b], 2))
    v = c.step("concat", [v, v], {"dim": 3}, {}, lambda a, b: torch.cat([a, b], 3))
    v = c.step("unsqueeze", [v], {"dim": 2}, {}, lambda x: x.unsqueeze(2))
    v = c.step("squeeze", [v], {"dim": 2}, {}, lambda x: x.squeeze(2))
    v = c.step("flatten", [v], {"start_dim": 2}, {}, lambda x: x.flatten(2))
    c.nodes[-1] = c.nodes[-1].with_(version=2)
    v = c.step("reshape", [v], {"shape": (8, 3, 8)}, {}, lambda x: x.reshape(-1, 8, 3, 8))
    v = c.step("flatten", [v], {}, {}, lambda x: x.flatten(1))
    linear(c, v, 4 * 6 * 8, 3)
    return c.graph("logits"), c.x, c.expected


def graph_seq_ops() -> tuple[Graph, torch.Tensor, torch.Tensor]:
    """conv1d (grouped, strided, dilated, with and without bias), max_pool1d with per-side
    padding, dilation and a ceil_mode window, avg_pool1d both ways, on a (C, L) value squeezed
    from the (C, 1, L) input."""
    c = Chain((4, 1, 17), seed=12)
    v = c.step("squeeze", ["input"], {"dim": 2}, {}, lambda x: x.squeeze(2))
    conv1d = {"kernel_size": 3, "stride": 2, "padding": 2, "dilation": 2, "groups": 2}
    v = c.step(
        "conv1d",
        [v],
        {"in_channels": 4, "out_channels": 6, **conv1d},
        {"weight": c.rand(6, 2, 3), "bias": c.rand(6)},
        lambda x, weight, bias: F.conv1d(x, weight, bias, 2, 2, 2, 2),
    )
    v = c.step(
        "max_pool1d",
        [v],
        {"kernel_size": 3, "stride": 2, "padding": (1, 0), "dilation": 2, "ceil_mode": True},
        {},
        # the left pad only, as an F.pad of a very negative value (every window holds a real
        # cell, so it acts as -inf); no ceil_mode window starts in the right padding
        lambda x: F.max_pool1d(F.pad(x, (1, 0), value=-1e30), 3, 2, dilation=2, ceil_mode=True),
    )
    for include in (True, False):
        v = c.step(
            "avg_pool1d",
            [v],
            {
                "kernel_size": 2,
                "stride": 1,
                "padding": (1, 1),
                "ceil_mode": False,
                "count_include_pad": include,
            },
            {},
            lambda x, include=include: F.avg_pool1d(x, 2, 1, 1, count_include_pad=include),
        )
    v = c.step(
        "conv1d",
        [v],
        {
            "in_channels": 6,
            "out_channels": 3,
            "kernel_size": 1,
            "stride": 1,
            "padding": 0,
            "dilation": 1,
            "groups": 1,
        },
        {"weight": c.rand(3, 6, 1), "bias": None},
        lambda x, weight, bias: F.conv1d(x, weight, bias),
    )
    v = c.step("flatten", [v], {}, {}, lambda x: x.flatten(1))
    linear(c, v, int(c.values[v].shape[1]), 2)
    return c.graph("logits"), c.x, c.expected


GRAPHS = {
    "norms": graph_all_norms,
    "pools": graph_all_pools,
    "activations": graph_all_activations,
    "shared": graph_shared_weights,
    "pads": graph_all_pads,
    "more_activations": graph_more_activations,
    "upsampling": graph_upsampling,
    "binary": graph_binary_ops,
    "pools_v2": graph_pools_v2,
    "struct": graph_struct_ops,
    "seq": graph_seq_ops,
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_graph_to_onnx_matches_torch(name: str) -> None:
    graph, x, expected = GRAPHS[name]()
    model = graph_to_onnx(graph)
    onnx.checker.check_model(model, full_check=True)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == list(graph.input.shape)
    assert model.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "N"
    assert_close(run_ort(model, x), expected.numpy(), what=f"onnxruntime vs torch ({name})")
    # batch 1 works too: the batch dimension is really dynamic
    assert_close(run_ort(model, x[:1]), expected[:1].numpy(), what="batch of 1")


def test_every_table_op_is_exercised() -> None:
    """The hand-built graphs above cover every op of the table, so a new op needs a new case."""
    used = {n.key for build in GRAPHS.values() for n in build()[0].nodes}
    # An op the writer lists as having no ONNX form cannot be in a written graph.
    unwritable = {key for key in OPS if key.split("@")[0] in NO_ONNX_EXPORT}
    assert used == set(OPS) - unwritable


def test_node_names_and_initializers() -> None:
    graph, _, _ = graph_shared_weights()
    model = graph_to_onnx(graph)
    names = [n.name for n in model.graph.node]
    assert names == [n.name for n in graph.nodes]
    inits = [t.name for t in model.graph.initializer]
    # The conv called twice: its weight and bias are stored once.
    assert inits == ["conv2d_0.weight", "conv2d_0.bias"]
    np.testing.assert_array_equal(
        onnx.numpy_helper.to_array(model.graph.initializer[0]), graph.tensors["conv2d_0.weight"]
    )


def test_affine_free_batch_norm_gets_ones_and_zeros() -> None:
    graph, _, _ = graph_all_activations()
    model = graph_to_onnx(graph)
    bn_node = next(n for n in model.graph.node if n.op_type == "BatchNormalization")
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    np.testing.assert_array_equal(inits[bn_node.input[1]], np.ones(4, np.float32))
    np.testing.assert_array_equal(inits[bn_node.input[2]], np.zeros(4, np.float32))
    clip = next(n for n in model.graph.node if n.op_type == "Clip")
    assert float(inits[clip.input[1]]) == 0.0 and float(inits[clip.input[2]]) == 6.0


def test_deterministic_bytes() -> None:
    a = graph_to_onnx(graph_all_pools()[0]).SerializeToString()
    b = graph_to_onnx(graph_all_pools()[0]).SerializeToString()
    assert a == b
    assert graph_to_onnx(graph_all_activations()[0]).SerializeToString() != a


def test_metadata_carries_classes_and_kind() -> None:
    model = graph_to_onnx(graph_all_pools()[0])
    props = {p.key: p.value for p in model.metadata_props}
    assert props == {
        "pd2java.classes": '["a", "b", "c", "d", "e"]',
        "pd2java.output_kind": "probabilities",
    }


def test_write_onnx_is_atomic_and_checked(tmp_path: Path) -> None:
    graph, x, expected = graph_all_activations()
    target = write_onnx(graph, tmp_path / "m.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    assert_close(run_ort(onnx.load(str(target)), x), expected.numpy(), what="written file")
    # An IR whose stated shape is wrong fails ONNX's strict shape inference and leaves no file.
    bad_node = graph.nodes[0].with_(output_shape=(4, 7, 5))
    bad = graph.with_(nodes=(bad_node, *graph.nodes[1:]))
    with pytest.raises(RuntimeError, match="invalid ONNX model"):
        write_onnx(bad, tmp_path / "bad.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def _mutate(graph: Graph, index: int, **changes: object) -> Graph:
    nodes = list(graph.nodes)
    nodes[index] = nodes[index].with_(**changes)
    return graph.with_(nodes=tuple(nodes))


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (lambda g: _mutate(g, 1, op="fake"), r"unsupported op fake@1 at node 'batch_norm2d_1'"),
        (lambda g: _mutate(g, 0, attrs={"in_channels": 3}), r"'conv2d_0'.*attributes"),
        (lambda g: _mutate(g, 0, params={"bias": None}), r"'conv2d_0'.*'weight' is required"),
        (
            lambda g: _mutate(g, 0, params={"weight": "nope", "bias": None}),
            r"'conv2d_0'.*tensor 'nope'",
        ),
        (lambda g: g.with_(outputs=("input",)), r"produced by no node"),
    ],
    ids=["unknown-op", "missing-attr", "missing-param", "missing-tensor", "no-output-node"],
)
def test_bad_graphs_are_refused(mutation: Callable[[Graph], Graph], message: str) -> None:
    graph, _, _ = graph_all_activations()
    with pytest.raises(UserError, match=message):
        graph_to_onnx(mutation(graph))
