"""The ONNX front end on hand-built onnx.helper graphs: every supported op form.

Each model is written to a real file, read with ``onnx_to_graph``, and the IR is run two ways,
both compared with onnxruntime running the original file: the NumPy reference interpreter
(``pd2java.backends.reference.run_graph``) and ``graph_to_onnx`` + onnxruntime. The IR's nodes, attributes
and tensors are checked where the mapping makes a choice (transposed weights, fused biases,
removed nodes, explicit defaults).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from helpers import assert_close
from onnx import TensorProto, helper, numpy_helper

from pd2java.backends import reference
from pd2java.backends.onnx import graph_to_onnx
from pd2java.frontends.onnx import onnx_to_graph
from pd2java.ir import Graph
from pd2java.ir.passes import validate

RNG = np.random.default_rng(0)


def rand(*shape: int, positive: bool = False) -> np.ndarray:
    a = RNG.standard_normal(shape).astype(np.float32)
    return (np.abs(a) + 0.5).astype(np.float32) if positive else a


def init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(array, order="C"), name)


def make(
    nodes: list[onnx.NodeProto],
    inits: list[onnx.TensorProto],
    in_shape: tuple = ("N", 3, 8, 8),
    out_shape: tuple | None = None,
    opset: int = 17,
    out_name: str = "y",
    in_name: str = "x",
    meta: dict[str, str] | None = None,
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, list(in_shape))],
        [
            helper.make_tensor_value_info(
                out_name, TensorProto.FLOAT, None if out_shape is None else list(out_shape)
            )
        ],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    if meta:
        helper.set_model_props(model, meta)
    if out_shape is None:  # let ONNX's shape inference declare the output shape
        inferred = onnx.shape_inference.infer_shapes(model)
        model.graph.output[0].CopyFrom(inferred.graph.output[0])
    return model


def ort_run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def check(model: onnx.ModelProto, tmp_path: Path, batch: int = 2, name: str = "m") -> Graph:
    """Import ``model`` from a file; both IR evaluations must match onnxruntime on the original."""
    onnx.checker.check_model(model, full_check=True)  # the test model itself is valid ONNX
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    graph = onnx_to_graph(path)
    validate(graph)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    shape = [d.dim_value for d in dims[1:]]
    x = RNG.standard_normal((batch, *shape)).astype(np.float32)
    expected = ort_run(model, x)
    if expected.ndim > 2:  # the IR's output is what the model's last op makes, before a squeeze
        expected = expected.reshape(batch, -1)
    assert_close(reference.run_graph(graph, x), expected, what="NumPy reference vs onnxruntime")
    back = graph_to_onnx(graph)
    onnx.checker.check_model(back, full_check=True)
    assert_close(ort_run(back, x), expected, what="graph_to_onnx vs original")
    return graph


def ops(graph: Graph) -> list[str]:
    return [n.op for n in graph.nodes]


def conv_node(
    inp: str = "x", out: str = "c", w: str = "w", b: str | None = "b", **attrs: object
) -> onnx.NodeProto:
    return helper.make_node(
        "Conv", [inp, w] + ([b] if b else []), [out], name=f"conv_{out}", **attrs
    )


def test_conv_bn_activations_pool_gemm_softmax(tmp_path: Path) -> None:
    nodes = [
        conv_node(
            kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 1], dilations=[1, 1], group=1
        ),
        helper.make_node(
            "BatchNormalization", ["c", "g", "be", "mu", "var"], ["bn"], name="bn", epsilon=1e-3
        ),
        helper.make_node("LeakyRelu", ["bn"], ["lr"], name="lr"),  # ONNX default alpha 0.01
        helper.make_node("Clip", ["lr", "zero", "six"], ["r6"], name="clip"),
        helper.make_node(
            "MaxPool",
            ["r6"],
            ["mp"],
            name="mp",
            kernel_shape=[2, 3],
            strides=[1, 2],
            pads=[1, 1, 1, 1],
            dilations=[2, 1],
        ),
        helper.make_node(
            "AveragePool",
            ["mp"],
            ["ap"],
            name="ap",
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
            count_include_pad=1,
        ),
        helper.make_node("Relu", ["ap"], ["re"], name="re"),
        helper.make_node("Sigmoid", ["re"], ["sg"], name="sg"),
        helper.make_node("GlobalAveragePool", ["sg"], ["gp"], name="gp"),
        helper.make_node("Flatten", ["gp"], ["fl"], name="fl"),
        helper.make_node("Gemm", ["fl", "fw", "fb"], ["lin"], name="fc", transB=1),
        helper.make_node("Softmax", ["lin"], ["y"], name="sm"),
    ]
    inits = [
        init("w", rand(4, 3, 3, 3)),
        init("b", rand(4)),
        init("g", rand(4)),
        init("be", rand(4)),
        init("mu", rand(4)),
        init("var", rand(4, positive=True)),
        init("zero", np.array(0, np.float32)),
        init("six", np.array(6, np.float32)),
        init("fw", rand(5, 4)),
        init("fb", rand(5)),
    ]
    graph = check(make(nodes, inits, out_shape=("N", 5)), tmp_path)
    assert ops(graph) == [
        "conv2d",
        "batch_norm2d",
        "leaky_relu",
        "relu6",
        "max_pool2d",
        "avg_pool2d",
        "relu",
        "sigmoid",
        "global_avg_pool",
        "flatten",
        "linear",
        "softmax",
    ]
    conv = graph.nodes[0]
    assert dict(conv.attrs) == {
        "in_channels": 3,
        "out_channels": 4,
        "kernel_size": (3, 3),
        "stride": (2, 1),
        "padding": (1, 1),
        "dilation": (1, 1),
        "groups": 1,
    }
    assert dict(conv.params) == {"weight": "w", "bias": "b"}
    assert conv.output_shape == (4, 4, 8)
    assert dict(graph.nodes[1].params) == {
        "weight": "g",
        "bias": "be",
        "running_mean": "mu",
        "running_var": "var",
    }
    assert graph.nodes[1].attrs["eps"] == pytest.approx(1e-3)
    assert graph.nodes[2].attrs["negative_slope"] == pytest.approx(0.01)
    assert dict(graph.nodes[4].attrs) == {
        "kernel_size": (2, 3),
        "stride": (1, 2),
        "padding": (1, 1),
        "dilation": (2, 1),
    }
    assert graph.nodes[5].attrs["count_include_pad"] is True
    assert graph.nodes[8].attrs["keepdims"] is True
    assert graph.nodes[-1].attrs["dim"] == 1
    assert graph.output_kind == "probabilities"
    assert graph.output == "y" and graph.output_shape == (5,)
    assert sorted(graph.tensors) == ["b", "be", "fb", "fw", "g", "mu", "var", "w"]


def test_conv_valid_autopad_grouped_no_kernel_shape(tmp_path: Path) -> None:
    nodes = [
        conv_node(b=None, auto_pad="VALID", group=3),
        helper.make_node("Flatten", ["c"], ["y"], axis=-3),
    ]  # -3 of rank 4 is axis 1
    graph = check(
        make(nodes, [init("w", rand(6, 1, 2, 3))], in_shape=(1, 3, 6, 7)), tmp_path, batch=1
    )
    assert graph.nodes[0].attrs["groups"] == 3 and graph.nodes[0].params["bias"] is None
    assert graph.nodes[0].output_shape == (6, 5, 5)
    assert graph.output_kind == "logits"


def test_leaky_relu_alpha_and_clip_forms(tmp_path: Path) -> None:
    nodes = [
        helper.make_node(
            "Constant", [], ["lo"], value=numpy_helper.from_array(np.array(0.0, np.float32))
        ),
        helper.make_node("Constant", [], ["hi"], value_float=6.0),
        helper.make_node("Clip", ["x", "lo", "hi"], ["a"], name="relu6_const"),
        helper.make_node("Clip", ["a", "lo"], ["b"], name="relu_clip"),  # no max: relu
        helper.make_node("Identity", ["b"], ["b2"]),
        helper.make_node("LeakyRelu", ["b2"], ["c"], alpha=0.2),
        helper.make_node("Flatten", ["c"], ["y"]),
    ]
    graph = check(make(nodes, []), tmp_path)
    assert ops(graph) == ["relu6", "relu", "leaky_relu", "flatten"]
    assert graph.nodes[2].attrs["negative_slope"] == pytest.approx(0.2)


@pytest.mark.parametrize("opset", [13, 17, 18])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_mean_over_h_and_w(tmp_path: Path, opset: int, keepdims: int) -> None:
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    if opset >= 18:
        inits.append(init("axes", np.array([-2, -1], np.int64)))
        nodes.append(helper.make_node("ReduceMean", ["x", "axes"], ["m"], keepdims=keepdims))
    else:
        nodes.append(helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=keepdims))
    nodes.append(
        helper.make_node("Flatten", ["m"], ["y"])
        if keepdims
        else helper.make_node("Identity", ["m"], ["y"])
    )
    graph = check(make(nodes, inits, opset=opset), tmp_path)
    assert ops(graph) == ["global_avg_pool"] + (["flatten"] if keepdims else [])
    assert graph.nodes[0].attrs["keepdims"] is bool(keepdims)
    assert graph.output == "y"  # named after the ONNX output even behind an Identity


@pytest.mark.parametrize(
    ("first", "second", "keepdims"), [(3, 2, 0), (2, 2, 0), (-1, -1, 0), (3, 2, 1), (2, 3, 1)]
)
def test_reduce_mean_chains(tmp_path: Path, first: int, second: int, keepdims: int) -> None:
    """x.mean(3).mean(2) and its variants become one global_avg_pool."""
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m1"], axes=[first], keepdims=keepdims, name="r1"),
        helper.make_node("ReduceMean", ["m1"], ["m2"], axes=[second], keepdims=keepdims, name="r2"),
        helper.make_node("Flatten", ["m2"], ["y"]),
    ]
    graph = check(make(nodes, [], opset=17), tmp_path)
    assert ops(graph) == ["global_avg_pool", "flatten"]
    assert graph.nodes[0].name == "r1"


def test_reshape_forms_and_folded_shape_arithmetic(tmp_path: Path) -> None:
    """[0, -1], [-1, K] and the legacy Shape -> Gather -> Unsqueeze -> Concat of x.view(N, -1)."""
    nodes = [
        helper.make_node("Reshape", ["x", "s0"], ["a"], name="zero_minus1"),
        helper.make_node("Relu", ["a"], ["a2"]),
        helper.make_node("Reshape", ["a2", "s1"], ["b"], name="minus1_k", allowzero=0),
        helper.make_node("Shape", ["b"], ["shape"]),
        helper.make_node(
            "Constant", [], ["i0"], value=numpy_helper.from_array(np.array(0, np.int64))
        ),
        helper.make_node("Gather", ["shape", "i0"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
        helper.make_node("Concat", ["n1", "m1"], ["target"], axis=0),
        helper.make_node("Cast", ["target"], ["target64"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["b", "target64"], ["y"], name="n_minus1"),
    ]
    inits = [
        init("s0", np.array([0, -1], np.int64)),
        init("s1", np.array([-1, 192], np.int64)),
        init("ax0", np.array([0], np.int64)),
        init("m1", np.array([-1], np.int64)),
    ]
    graph = check(make(nodes, inits), tmp_path)
    assert ops(graph) == ["flatten", "relu", "flatten", "flatten"]
    assert graph.output_shape == (192,)


def test_reshape_to_batch_one_when_batch_is_fixed(tmp_path: Path) -> None:
    nodes = [helper.make_node("Reshape", ["x", "s"], ["y"])]
    graph = check(
        make(nodes, [init("s", np.array([1, -1], np.int64))], in_shape=(1, 2, 3, 4)),
        tmp_path,
        batch=1,
    )
    assert ops(graph) == ["flatten"]


@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("bias_shape", [None, (3,), (1, 3)])
def test_gemm_forms(tmp_path: Path, trans_b: int, bias_shape: tuple | None) -> None:
    w = rand(3, 8 * 8 * 3)
    inits = [init("w", w if trans_b else w.T.copy())]
    inputs = ["f", "w"]
    if bias_shape is not None:
        inits.append(init("b", rand(*bias_shape)))
        inputs.append("b")
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"]),
        helper.make_node("Gemm", inputs, ["y"], transB=trans_b, alpha=1.0, beta=1.0),
    ]
    graph = check(make(nodes, inits), tmp_path)
    linear = graph.nodes[1]
    np.testing.assert_array_equal(graph.tensors[linear.params["weight"]], w)
    assert dict(linear.attrs) == {"in_features": 192, "out_features": 3}
    assert (linear.params["bias"] is None) == (bias_shape is None)
    if bias_shape is not None:
        assert graph.tensors[linear.params["bias"]].shape == (3,)


@pytest.mark.parametrize("bias_first", [False, True])
def test_matmul_add_becomes_one_linear(tmp_path: Path, bias_first: bool) -> None:
    w, b = rand(192, 4), rand(4)
    add_inputs = ["b", "mm"] if bias_first else ["mm", "b"]
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"]),
        helper.make_node("MatMul", ["f", "w"], ["mm"], name="matmul"),
        helper.make_node("Add", add_inputs, ["y"], name="bias_add"),
    ]
    graph = check(make(nodes, [init("w", w), init("b", b)]), tmp_path)
    assert ops(graph) == ["flatten", "linear"]
    linear = graph.nodes[1]
    assert linear.name == "matmul" and graph.output == "y"
    np.testing.assert_array_equal(graph.tensors[linear.params["weight"]], w.T)
    np.testing.assert_array_equal(graph.tensors[linear.params["bias"]], b)


def test_matmul_without_bias_and_residual_add(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"]),
        helper.make_node("MatMul", ["f", "w"], ["mm"]),
        helper.make_node("Sigmoid", ["mm"], ["s"]),
        helper.make_node("Add", ["s", "mm"], ["y"]),
    ]
    graph = check(make(nodes, [init("w", rand(192, 6))]), tmp_path)
    assert ops(graph) == ["flatten", "linear", "sigmoid", "add"]
    assert graph.nodes[1].params["bias"] is None


def test_dropout_identity_and_shared_initializer(tmp_path: Path) -> None:
    """Dropout (with its ratio input) and Identity vanish; a weight used twice is stored once."""
    nodes = [
        helper.make_node("Identity", ["w"], ["w_alias"]),  # legacy exports copy initializers
        conv_node(w="w", b="b", out="c1", pads=[1, 1, 1, 1]),
        helper.make_node("Dropout", ["c1", "ratio"], ["d", "mask"], name="drop"),
        conv_node(inp="d", w="w_alias", b="b", out="c2", pads=[1, 1, 1, 1]),
        helper.make_node("Identity", ["c2"], ["i"]),
        helper.make_node("Flatten", ["i"], ["y"]),
    ]
    inits = [
        init("w", rand(3, 3, 3, 3)),
        init("b", rand(3)),
        init("ratio", np.array(0.5, np.float32)),
    ]
    graph = check(make(nodes, inits), tmp_path)
    assert ops(graph) == ["conv2d", "conv2d", "flatten"]
    assert graph.nodes[1].inputs == graph.nodes[0].outputs
    assert graph.nodes[0].params == graph.nodes[1].params
    assert sorted(graph.tensors) == ["b", "w"]


def test_names_are_sanitised_and_unique(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Relu", ["input.1"], ["/features/Relu_output_0"], name="/features/Relu"),
        helper.make_node(
            "Conv", ["/features/Relu_output_0", "onnx::Conv_7"], ["/c/Conv"], name="features_Relu"
        ),  # the same name once sanitised
        helper.make_node("Flatten", ["/c/Conv"], ["output"], name=""),
    ]
    model = make(
        nodes, [init("onnx::Conv_7", rand(2, 3, 1, 1))], in_name="input.1", out_name="output"
    )
    graph = check(model, tmp_path, name="3-odd name")
    assert graph.name == "m_3_odd_name"
    assert graph.input.name == "input.1"
    assert [n.name for n in graph.nodes] == ["features_Relu", "features_Relu_1", "Flatten_2"]
    assert graph.nodes[0].outputs == ("features_Relu_output_0",)
    assert graph.nodes[1].params["weight"] == "onnx_Conv_7"
    assert graph.nodes[1].origin == "ONNX node 'features_Relu' (Conv)"


def test_classes_metadata_and_initializers_listed_as_inputs(tmp_path: Path) -> None:
    """Old exporters list initializers among the graph inputs too; only the real one counts."""
    model = make(
        [
            conv_node(b=None),
            helper.make_node("Flatten", ["c"], ["f"]),
            helper.make_node("Softmax", ["f"], ["y"], axis=1),
        ],
        [init("w", rand(2, 3, 8, 8))],
        meta={"pd2java.classes": '["void", "noise"]'},
    )
    model.graph.input.append(helper.make_tensor_value_info("w", TensorProto.FLOAT, [2, 3, 8, 8]))
    graph = check(model, tmp_path)
    assert graph.classes == ("void", "noise")
    assert graph.meta["source"] == "onnx" and graph.meta["onnx_opset"] == 17


def test_external_data_inside_the_folder_loads(tmp_path: Path) -> None:
    w = rand(8, 3, 3, 3)
    model = make(
        [conv_node(), helper.make_node("Flatten", ["c"], ["y"])], [init("w", w), init("b", rand(8))]
    )
    path = tmp_path / "ext.onnx"
    (tmp_path / "weights").mkdir()
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights/ext.bin",
        size_threshold=0,
    )
    assert (tmp_path / "weights" / "ext.bin").is_file()
    graph = onnx_to_graph(path)
    np.testing.assert_array_equal(graph.tensors["w"], w)


def test_same_file_same_graph_same_bytes(tmp_path: Path) -> None:
    model = make(
        [
            conv_node(pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c"], ["r"]),
            helper.make_node("GlobalAveragePool", ["r"], ["g"]),
            helper.make_node("Flatten", ["g"], ["y"]),
        ],
        [init("w", rand(4, 3, 3, 3)), init("b", rand(4))],
    )
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    a, b = onnx_to_graph(path), onnx_to_graph(path)
    assert a.nodes == b.nodes
    assert graph_to_onnx(a).SerializeToString() == graph_to_onnx(b).SerializeToString()


# --- any input rank, fixed batch, several outputs --------------------------------------------


def test_fixed_batch_is_read_as_the_batch(tmp_path: Path) -> None:
    """A graph whose batch axis is fixed at 4 (e.g. exported with a batch of 4) imports; its
    Reshape may name the batch as 4, and onnxruntime, fed 4 samples at a time, is the oracle."""
    from pd2java.exporter import export_onnx

    w = RNG.standard_normal((5, 3 * 4 * 4)).astype(np.float32)
    model = make(
        [
            helper.make_node("Relu", ["x"], ["r"]),
            helper.make_node("Reshape", ["r", "s"], ["f"]),
            helper.make_node("Gemm", ["f", "w"], ["y"], transB=1),
        ],
        [init("s", np.array([4, -1], np.int64)), init("w", w)],
        in_shape=(4, 3, 4, 4),
        out_shape=(4, 5),
    )
    path = tmp_path / "fixed.onnx"
    onnx.save(model, str(path))
    graph = onnx_to_graph(path)
    assert graph.input.shape == (3, 4, 4) and graph.meta["onnx_fixed_batch"] == 4
    assert ops(graph) == ["relu", "flatten", "linear"]
    manifest = export_onnx(path, tmp_path / "out", onnx=False)  # 3 golden samples: a padded chunk
    x = RNG.standard_normal((4, 3, 4, 4)).astype(np.float32)
    assert_close(reference.run(manifest, x), ort_run(model, x), what="fixed batch")


def test_sequence_input_and_two_outputs(tmp_path: Path) -> None:
    """A (N, C, L) input and two graph outputs, one of rank 2 per sample, import in order and
    run in the reference and in Java."""
    from pd2java.backends.java.bridge import java_predict_all
    from pd2java.exporter import export_onnx

    model = make(
        [
            helper.make_node("Relu", ["x"], ["feat"]),
            helper.make_node("Flatten", ["feat"], ["flat"]),
            helper.make_node("Sigmoid", ["flat"], ["prob"]),
        ],
        [],
        in_shape=("N", 3, 10),
        out_shape=("N", 30),
        out_name="prob",
    )
    model.graph.output.append(
        helper.make_tensor_value_info("feat", TensorProto.FLOAT, ["N", 3, 10])
    )
    path = tmp_path / "two.onnx"
    onnx.save(model, str(path))
    graph = onnx_to_graph(path)
    assert graph.input.shape == (3, 10)
    assert graph.outputs == ("prob", "feat") and graph.output_kinds == ("probabilities", "logits")
    manifest = export_onnx(path, tmp_path / "out")
    x = RNG.standard_normal((2, 3, 10)).astype(np.float32)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"x": x})
    for who, got in (
        ("reference", reference.run_graph_all(reference.load(manifest).graph, x)),
        ("Java", java_predict_all(manifest, x)),
    ):
        for i, (g, e) in enumerate(zip(got, want)):
            assert_close(g, e, what=f"{who} output {i}")
