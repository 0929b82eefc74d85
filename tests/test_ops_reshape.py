"""reshape@1 and the ``ints`` attribute kind: the NumPy reference, the Java runtime and the written
ONNX against torch on random per-sample shapes; the fx forms (view, reshape, torch.reshape,
flatten with an end_dim, nn.Unflatten, unflatten) and their refusals; ONNX import of
torch.onnx.export output and of hand-built Reshape nodes against onnxruntime (and Java); the
ONNX writer's round trip; the shape and kind rules. The readers' verdicts on bad ``ints`` and
reshape attributes are in tests/conformance/cases.py."""

from __future__ import annotations

import json
from itertools import product
from math import prod
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from helpers import (
    assert_close,
    assert_onnx_import_matches_ort,
    export_and_compare,
    seeded_input,
    torch_onnx_export,
)
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from pd2java.backends import reference
from pd2java.errors import ErrorCode, UserError
from pd2java.format_rules import MAX_INTS_LENGTH
from pd2java.frontends.fx import capture
from pd2java.frontends.onnx import onnx_to_graph
from pd2java.ir.passes import attr_problem, check_attr, validate
from pd2java.ops.registry import ShapeError, impl


def _ops(manifest: Path) -> list[str]:
    return [f"{n['op']}@{n['version']}" for n in json.loads(manifest.read_text())["nodes"]]


def _reshapes(graph) -> list[tuple[int, ...]]:
    return [tuple(n.attrs["shape"]) for n in graph.nodes if n.op == "reshape"]


# --- the op on random shapes: NumPy reference, Java, written ONNX vs torch --------------------


def _factor(n: int, rank: int, rng: np.random.Generator) -> tuple[int, ...]:
    """A random shape of ``rank`` dims whose product is ``n``."""
    dims = []
    for _ in range(rank - 1):
        d = int(rng.choice([d for d in range(1, n + 1) if n % d == 0]))
        dims.append(d)
        n //= d
    return (*dims, n)


def _random_cases() -> list[tuple[str, tuple[int, ...], tuple[int, ...]]]:
    rng = np.random.default_rng(7)
    cases = []
    for in_rank, out_rank in product((1, 2, 3), (1, 2, 3, 4)):
        shape = tuple(int(d) for d in rng.integers(1, 5, size=in_rank))
        target = _factor(prod(shape), out_rank, rng)
        cases.append((f"rand_{in_rank}to{out_rank}", shape, target))
    return cases


OP_CASES = [
    *_random_cases(),
    # edge sizes: all ones, a single element, splits that only add or drop size-1 axes
    ("ones_to_rank4", (1,), (1, 1, 1, 1)),
    ("rank3_ones_to_1", (1, 1, 1), (1,)),
    ("add_leading_one", (4,), (1, 4)),
    ("reverse_dims", (2, 3, 4), (4, 3, 2)),
    ("split_channels", (6, 2, 2), (2, 3, 4)),
    ("max_rank", (2, 3, 4), (1, 2, 1, 3, 1, 2, 1, 2)),
]


class _View(nn.Module):
    """Two outputs: ``x.view(N, *target)`` itself, and times a tensor of the model of the target
    shape (a later op on the reshaped value)."""

    def __init__(self, target: tuple[int, ...]) -> None:
        super().__init__()
        self.target = target
        self.w = nn.Parameter(torch.randn(*target, generator=torch.Generator().manual_seed(3)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = x.view(x.size(0), *self.target)
        return y, y * self.w


@pytest.mark.parametrize(("name", "shape", "target"), OP_CASES, ids=[c[0] for c in OP_CASES])
def test_reshape_matches_torch(tmp_path: Path, name: str, shape: tuple, target: tuple) -> None:
    x = seeded_input(name, shape)
    manifest = export_and_compare(_View(target).eval(), x, tmp_path, name, onnx=True)
    graph = reference.load(manifest).graph
    assert graph.value_shape(graph.outputs[0]) == target
    # a 1-D target is flatten@1 and a kept prefix flatten@2; any other is reshape@1
    first = _ops(manifest)[0]
    if len(target) == 1:
        assert first == "flatten@1"
    elif len(target) <= len(shape) and target[:-1] == shape[: len(target) - 1]:
        assert first == "flatten@2"
    else:
        assert first == "reshape@1"
        assert _reshapes(graph) == [target]
    # the written ONNX reads back as the same op and attributes
    back = onnx_to_graph(manifest.parent / f"{name}.onnx")
    assert [(n.op, n.version, dict(n.attrs)) for n in back.nodes][:1] == [
        (graph.nodes[0].op, graph.nodes[0].version, dict(graph.nodes[0].attrs))
    ]


def test_reshape_then_conv_and_linear(tmp_path: Path) -> None:
    """A flat feature vector viewed as an image (C, H, W) for a conv, whose (4, 1, 1) output is
    viewed as (2, 2) and flattened for a linear: each reshaped layout is what the next op
    expects."""

    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(4)
            self.fc = nn.Linear(5, 12)
            self.conv = nn.Conv2d(3, 4, 2)
            self.head = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            img = self.fc(x).view(x.size(0), 3, 2, 2)
            square = self.conv(img).reshape(x.shape[0], 2, 2)
            return self.head(square.view(x.size(0), -1))

    x = seeded_input("conv_after_view", (5,))
    manifest = export_and_compare(M().eval(), x, tmp_path, "conv_after_view", onnx=True)
    assert _ops(manifest) == [
        "linear@1",
        "reshape@1",
        "conv2d@1",
        "reshape@1",
        "flatten@1",
        "linear@1",
    ]


# --- fx forms -----------------------------------------------------------------------------------


class _Fn(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


FX_FORMS = {
    # name: (module, per-sample input shape, ops written in order)
    "view_size0": (_Fn(lambda x: x.view(x.size(0), 4, -1)), (2, 3, 4), ["reshape@1"]),
    "reshape_shape0": (
        _Fn(lambda x: x.reshape(x.shape[0], 2, 3, 2, 2)),
        (2, 3, 4),
        ["reshape@1"],
    ),
    "view_list": (_Fn(lambda x: x.view([x.size(0), 3, 4])), (12,), ["reshape@1"]),
    "torch_reshape_batch_minus1": (
        _Fn(lambda x: torch.reshape(x, (-1, 3, 8))),
        (6, 4),
        ["reshape@1"],
    ),
    "torch_reshape_kwarg": (
        _Fn(lambda x: torch.reshape(x, shape=(x.size(0), 3, -1))),
        (2, 6),
        ["reshape@1"],
    ),
    "view_to_rank1_minus1": (_Fn(lambda x: x.view(-1, 1, 6)), (6,), ["reshape@1"]),
    "flatten_middle": (_Fn(lambda x: x.flatten(1, 2)), (2, 3, 4), ["reshape@1"]),
    "torch_flatten_negative": (
        _Fn(lambda x: torch.flatten(x, -3, -2)),
        (2, 3, 4),
        ["reshape@1"],
    ),
    "nn_flatten_end": (nn.Flatten(1, 2), (3, 2, 2), ["reshape@1"]),
    "nn_unflatten": (nn.Unflatten(1, (2, -1)), (6,), ["reshape@1"]),
    "nn_unflatten_middle": (nn.Unflatten(2, (2, 2)), (3, 4, 2), ["reshape@1"]),
    "unflatten_method": (_Fn(lambda x: x.unflatten(-1, (2, 2))), (3, 4), ["reshape@1"]),
    "torch_unflatten": (_Fn(lambda x: torch.unflatten(x, 1, (1, -1))), (4,), ["reshape@1"]),
    # forms that exported before reshape@1 existed keep their ops
    "view_flat_stays_flatten1": (
        _Fn(lambda x: x.view(x.size(0), -1)),
        (2, 3, 4),
        ["flatten@1"],
    ),
    "reshape_flat_k_stays_flatten1": (
        _Fn(lambda x: x.reshape(-1, 24)),
        (2, 3, 4),
        ["flatten@1"],
    ),
    "flatten_to_end_stays_flatten2": (_Fn(lambda x: x.flatten(2)), (2, 3, 4), ["flatten@2"]),
    # new forms a flatten expresses are written as one
    "view_kept_prefix_is_flatten2": (
        _Fn(lambda x: x.view(x.size(0), 2, -1)),
        (2, 3, 4),
        ["flatten@2"],
    ),
}


@pytest.mark.parametrize("name", list(FX_FORMS))
def test_fx_forms(tmp_path: Path, name: str) -> None:
    from pd2java.backends.java.bridge import java_predict_all
    from pd2java.exporter import export_onnx

    model, shape, ops = FX_FORMS[name]
    model = model.eval()
    x = seeded_input(name, shape)
    manifest = export_and_compare(model, x, tmp_path / "fx", name, onnx=True)
    assert _ops(manifest) == ops
    # torch.onnx.export's Reshape (a constant or a folded Shape computation) imports as well,
    # and runs in Java
    path = torch_onnx_export(model, x, tmp_path / f"{name}.onnx")
    graph, want, _ = assert_onnx_import_matches_ort(path, x, name)
    assert [n.op for n in graph.nodes] == [o.split("@")[0] for o in ops]
    imported = export_onnx(path, tmp_path / "onnx", name=name)
    assert_close(java_predict_all(imported, x.numpy())[0], want, what=f"{name}: Java vs ort")


REFUSED = {
    # name: (forward, per-sample input shape, message pattern); each runs in torch (a target
    # torch itself refuses, such as two -1s, fails while the model runs, before lowering)
    "constant_batch": (lambda x: x.view(3, -1), (2, 3, 4), r"a constant batch size 3"),
    "across_batch": (lambda x: x.view(-1, 12), (2, 3, 4), r"move elements across the batch"),
    "across_batch_minus1_rest": (
        lambda x: x.reshape(-1, 2, 6),
        (2, 3, 4),
        r"multiply to 12, not the 24 elements",
    ),
    "no_sample_axis": (lambda x: x.view(-1), (2, 3, 4), r"no per-sample entry"),
    "too_many_dims": (
        lambda x: x.view(x.size(0), *([1] * (MAX_INTS_LENGTH + 1))),
        (1,),
        rf"9 per-sample dims; reshape@1 writes at most {MAX_INTS_LENGTH}",
    ),
    "flatten_batch": (lambda x: torch.flatten(x, 0, 1), (2, 3, 4), r"batch axis 0 is never"),
    "unflatten_batch": (lambda x: x.unflatten(0, (1, -1)), (2, 3), r"not the batch axis"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_fx_refusals_say_why(name: str) -> None:
    fn, shape, pattern = REFUSED[name]
    with pytest.raises(UserError, match=pattern) as exc:
        capture(_Fn(fn).eval(), shape, name="m")
    assert "reshape" in str(exc.value) or "flatten" in str(exc.value)


# --- ONNX import of hand-built Reshape nodes ----------------------------------------------------


def _reshape_model(
    target: list, in_shape: tuple = ("N", 3, 8, 8), allowzero: int | None = None
) -> onnx.ModelProto:
    extra = {} if allowzero is None else {"allowzero": allowzero}
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Reshape", ["r", "s"], ["y"], name="view", **extra),
    ]
    inits = [numpy_helper.from_array(np.array(target, np.int64), "s")]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    inferred = onnx.shape_inference.infer_shapes(model).graph.output[0]
    if inferred.type.tensor_type.HasField("shape"):
        model.graph.output[0].CopyFrom(inferred)
    else:  # a target ONNX itself cannot apply: declare a rank-2 output with a symbolic size
        model.graph.output[0].CopyFrom(
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "M"])
        )
    return model


ONNX_ACCEPTED = [
    # (name, target, input shape, op written, per-sample shape)
    ("zero_batch", [0, 4, -1], ("N", 3, 8, 8), "reshape", (4, 48)),
    ("minus1_batch", [-1, 4, 48], ("N", 3, 8, 8), "reshape", (4, 48)),
    ("zero_copies_dim", [0, 0, 16, -1], ("N", 3, 8, 8), "reshape", (3, 16, 4)),
    ("rank5", [0, 2, 2, 2, 2, 12], ("N", 3, 8, 8), "reshape", (2, 2, 2, 2, 12)),
    ("fixed_batch", [2, 6, 32], (2, 3, 8, 8), "reshape", (6, 32)),
    ("rank1_input", [0, 2, 3, 2], ("N", 12), "reshape", (2, 3, 2)),
    ("flatten_stays", [0, -1], ("N", 3, 8, 8), "flatten", (192,)),
    ("flatten2_stays", [0, 3, -1], ("N", 3, 8, 8), "flatten", (3, 64)),
]


@pytest.mark.parametrize(
    ("name", "target", "in_shape", "op", "out"), ONNX_ACCEPTED, ids=[c[0] for c in ONNX_ACCEPTED]
)
def test_onnx_reshape_import(tmp_path, name, target, in_shape, op, out) -> None:
    path = tmp_path / f"{name}.onnx"
    onnx.save(_reshape_model(target, in_shape), str(path))
    batch = in_shape[0] if isinstance(in_shape[0], int) else 3
    x = seeded_input(name, tuple(in_shape[1:]), batch=batch)
    graph, _, _ = assert_onnx_import_matches_ort(path, x, name)
    assert [n.op for n in graph.nodes] == ["relu", op]
    assert graph.nodes[-1].output_shape == out


def test_onnx_reshape_of_folded_shape_runs_in_java(tmp_path: Path) -> None:
    """Reshape to Concat(Shape(x)[0], [4, -1]), the batch a folded N, through to Java."""
    from pd2java.backends.java.bridge import java_predict_all
    from pd2java.exporter import export_onnx

    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "i0"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
        helper.make_node("Concat", ["n1", "rest"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"], name="view"),
    ]
    inits = [
        numpy_helper.from_array(np.array(0, np.int64), "i0"),
        numpy_helper.from_array(np.array([0], np.int64), "ax0"),
        numpy_helper.from_array(np.array([4, -1], np.int64), "rest"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 6])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "shape.onnx"
    onnx.save(model, str(path))
    x = seeded_input("folded_shape", (2, 3, 4))
    imported, want, _ = assert_onnx_import_matches_ort(path, x, "folded_shape", ops=("reshape",))
    assert _reshapes(imported) == [(4, 6)]
    manifest = export_onnx(path, tmp_path / "out")
    assert_close(java_predict_all(manifest, x.numpy())[0], want, what="Java vs onnxruntime")


ONNX_REFUSED = [
    # (name, target, input shape, allowzero, message pattern)
    ("constant_dynamic_batch", [2, -1], ("N", 3, 8, 8), None, r"batch size is fixed"),
    ("wrong_fixed_batch", [4, 6, -1], (2, 3, 8, 8), None, r"fixed at 2"),
    ("not_divisible", [0, 5, -1], ("N", 3, 8, 8), None, r"does not divide"),
    ("two_minus1", [0, -1, -1], ("N", 3, 8, 8), None, r"more than one per-sample -1"),
    ("batch_and_rest_minus1", [-1, 4, -1], ("N", 3, 8, 8), None, r"-1 as the batch entry"),
    ("across_batch", [-1, 100], ("N", 3, 8, 8), None, r"move elements across the batch"),
    ("copy_past_rank", [0, 0, 0, 0, 0], ("N", 3, 8, 8), None, r"has only 3 per-sample dims"),
    ("allowzero_batch", [0, 3, -1], ("N", 3, 8, 8), 1, r"first entry 0 is not the batch"),
    ("no_sample_entry", [-1], ("N", 3, 8, 8), None, r"no per-sample entry"),
    (
        "too_many_dims",
        [0, *([1] * MAX_INTS_LENGTH), -1],
        ("N", 3, 8, 8),
        None,
        rf"{MAX_INTS_LENGTH + 1} per-sample dims; reshape@1 writes at most {MAX_INTS_LENGTH}",
    ),
]


@pytest.mark.parametrize(
    ("name", "target", "in_shape", "allowzero", "pattern"),
    ONNX_REFUSED,
    ids=[c[0] for c in ONNX_REFUSED],
)
def test_onnx_reshape_refusals_say_why(tmp_path, name, target, in_shape, allowzero, pattern):
    path = tmp_path / f"{name}.onnx"
    model = _reshape_model(target, in_shape, allowzero)
    onnx.save(model, str(path))
    with pytest.raises(UserError, match=pattern) as exc:
        onnx_to_graph(path)
    assert f"Reshape to {target} is not supported" in str(exc.value)
    assert "'view'" in str(exc.value)


# --- the ONNX writer: reshape@1 as Reshape([0, *shape]) ----------------------------------------


def test_onnx_writer_writes_reshape_with_the_batch_copied(tmp_path: Path) -> None:
    from pd2java.backends.onnx import graph_to_onnx

    model = _Fn(lambda x: torch.relu(x.view(x.size(0), 4, 3, 2)))
    graph = capture(model.eval(), (2, 12), name="m")
    proto = graph_to_onnx(graph)
    onnx.checker.check_model(proto, full_check=True)
    (reshape,) = [n for n in proto.graph.node if n.op_type == "Reshape"]
    (target,) = [i for i in proto.graph.initializer if i.name == reshape.input[1]]
    assert numpy_helper.to_array(target).tolist() == [0, 4, 3, 2]
    for batch in (1, 3):  # the batch axis stays dynamic
        x = seeded_input(f"writer_{batch}", (2, 12), batch=batch).numpy()
        sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        assert_close(got, np.maximum(x.reshape(batch, 4, 3, 2), 0), what="written ONNX")
    path = tmp_path / "w.onnx"
    onnx.save(proto, str(path))
    back = onnx_to_graph(path)
    validate(back)
    assert _reshapes(back) == [(4, 3, 2)]


# --- the rules ----------------------------------------------------------------------------------


def test_shape_rule_and_kernel() -> None:
    rule = impl("reshape@1")
    assert rule.infer({"shape": (4, 6)}, [(2, 3, 4)]) == (4, 6)
    assert rule.infer({"shape": (1,)}, [(1, 1)]) == (1,)
    with pytest.raises(ShapeError) as exc:
        rule.infer({"shape": (5, 5)}, [(2, 3, 4)])
    assert exc.value.code is ErrorCode.SHAPE_MISMATCH
    assert "element counts differ" in str(exc.value)
    for bad in ((-2, -12), (0, 24), (24, 0)):
        with pytest.raises(ShapeError) as exc:
            rule.infer({"shape": bad}, [(2, 3, 4)])
        assert exc.value.code is ErrorCode.INVALID_ATTRIBUTE, bad
    x = np.arange(2 * 24, dtype=np.float32).reshape(2, 2, 3, 4)
    got = rule.kernel({"shape": (4, 3, 2)}, [x], {})
    assert got.shape == (2, 4, 3, 2)
    assert np.array_equal(got.reshape(-1), x.reshape(-1))


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ((4, 6), None),
        ([4, 6], None),
        ([1] * MAX_INTS_LENGTH, None),
        ([-3, 0], None),  # a kind question only: the op's rule refuses entries < 1
        (24, "not an array"),
        ([], "an empty array"),
        ([1] * (MAX_INTS_LENGTH + 1), f"{MAX_INTS_LENGTH + 1} entries"),
        ([4, 6.0], "entry 1 (6.0) is not an integer"),
        ([True, 24], "entry 0 (True) is not an integer"),
        (["4"], "entry 0 ('4') is not an integer"),
        ([2**31, 1], "outside the 32-bit integer range"),
        ([-(2**31) - 1], "outside the 32-bit integer range"),
    ],
)
def test_ints_kind(value: object, problem: str | None) -> None:
    assert check_attr("ints", value) is (problem is None)
    got = attr_problem("ints", value)
    assert got is None if problem is None else problem in got


def test_validate_names_node_attribute_and_reason() -> None:
    from pd2java.errors import FormatError

    graph = capture(_Fn(lambda x: x.view(x.size(0), 4, 6)).eval(), (2, 3, 4), name="m")
    (node,) = [n for n in graph.nodes if n.op == "reshape"]
    bad = graph.with_(nodes=tuple(n.with_(attrs={"shape": [4, 6.0]}) for n in graph.nodes))
    with pytest.raises(FormatError) as exc:
        validate(bad)
    assert exc.value.code is ErrorCode.INVALID_ATTRIBUTE
    msg = str(exc.value)
    assert repr(node.name) in msg and "'shape'" in msg and "kind ints" in msg
    assert "entry 1 (6.0) is not an integer" in msg


def test_format_doc_states_the_ints_length() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "FORMAT.md").read_text("utf-8")
    assert f"`MAX_INTS_LENGTH` = {MAX_INTS_LENGTH}" in text


def test_schema_describes_reshape_and_ints(tmp_path: Path) -> None:
    import jsonschema

    from pd2java.backends.manifest import schema
    from pd2java.exporter import export

    model = _Fn(lambda x: x.view(x.size(0), 4, 6)).eval()
    manifest = export(model, tmp_path, input_shape=(2, 3, 4), name="m", onnx=False)
    obj = json.loads(manifest.read_text())
    jsonschema.validate(obj, schema())
    (node,) = [n for n in obj["nodes"] if n["op"] == "reshape"]
    assert node["attrs"] == {"shape": [4, 6]}
    # JSON Schema counts 1.0 as an integer, so only the readers refuse [4, 6.0] (conformance)
    for bad in (24, [], [1] * (MAX_INTS_LENGTH + 1), [True, 24], ["4", 6], [2**31, 1]):
        node["attrs"]["shape"] = bad
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(obj, schema())
