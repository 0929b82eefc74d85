"""Every ONNX input pd2java refuses: a UserError that names the file, the node (name and op_type)
where there is one, and the rule; the folder is left exactly as it was."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from pd2java.errors import UserError
from pd2java.frontends.onnx import SUPPORTED_ONNX_OPS, onnx_to_graph

W = np.full((2, 3, 3, 3), 0.1, np.float32)


def init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(array, order="C"), name)


def model_of(
    nodes: list[onnx.NodeProto],
    inits: list[onnx.TensorProto] = (),
    in_shape: list | None = None,
    opset: int = 17,
    out_shape: list | None = None,
    in_type: int = TensorProto.FLOAT,
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info(
                "x", in_type, ["N", 3, 8, 8] if in_shape is None else in_shape
            )
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape or ["N", "K"])],
        initializer=list(inits),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def one(
    op: str, inputs: list[str] | None = None, inits: list[onnx.TensorProto] = (), **attrs: object
) -> onnx.ModelProto:
    """x -> op -> Flatten -> y, the op named 'bad'."""
    return model_of(
        [
            helper.make_node(op, inputs or ["x"], ["t"], name="bad", **attrs),
            helper.make_node("Flatten", ["t"], ["y"], name="flat"),
        ],
        inits,
    )


def conv(**attrs: object) -> onnx.ModelProto:
    return one("Conv", ["x", "w"], [init("w", W)], **attrs)


def two_inputs() -> onnx.ModelProto:
    m = one("Add", ["x", "x2"])
    m.graph.input.append(helper.make_tensor_value_info("x2", TensorProto.FLOAT, ["N", 3, 8, 8]))
    return m


def two_outputs_one_value() -> onnx.ModelProto:
    m = model_of([helper.make_node("Relu", ["x"], ["y"])], out_shape=["N", 3, 8, 8])
    m.graph.output.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 8, 8]))
    return m


def partial_mean_output() -> onnx.ModelProto:
    return model_of(
        [helper.make_node("ReduceMean", ["x"], ["y"], axes=[3], keepdims=0, name="bad")]
    )


def mean_then_mean_mixed() -> onnx.ModelProto:
    return model_of(
        [
            helper.make_node("ReduceMean", ["x"], ["m"], axes=[3], keepdims=1, name="first"),
            helper.make_node("ReduceMean", ["m"], ["r"], axes=[2], keepdims=0, name="bad"),
            helper.make_node("Flatten", ["r"], ["y"]),
        ]
    )


def computed_weight() -> onnx.ModelProto:
    return model_of(
        [
            helper.make_node("Relu", ["x"], ["r"]),
            helper.make_node("Conv", ["x", "r"], ["t"], name="bad"),
            helper.make_node("Flatten", ["t"], ["y"]),
        ]
    )


def add_constant() -> onnx.ModelProto:
    # a constant with a real batch axis: it would broadcast over the batch
    return one("Add", ["x", "c"], [init("c", np.ones((2, 3, 1, 1), np.float32))])


def declared_output_mismatch() -> onnx.ModelProto:
    m = one("Relu")
    m.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 7]))
    return m


def value_info_mismatch() -> onnx.ModelProto:
    m = one("Relu")
    m.graph.value_info.append(helper.make_tensor_value_info("t", TensorProto.FLOAT, ["N", 3, 9, 9]))
    return m


def dropout_training() -> onnx.ModelProto:
    return one("Dropout", ["x", "", "on"], [init("on", np.array(True))])


CASES: dict[str, tuple[Callable[[], onnx.ModelProto], str]] = {
    # op set
    "unsupported-op": (
        lambda: one("Round"),
        (
            r"ONNX node 'bad' \(Round\): unsupported ONNX op "
            r"'Round'\nSupported ONNX ops: Add, AveragePool, .*Softmax"
        ),
    ),
    "foreign-domain": (
        lambda: _foreign_domain(),
        r"'bad' \(Relu\): unsupported ONNX op 'Relu' \(domain 'com.example'\)",
    ),
    "opset-12": (
        lambda: model_of([helper.make_node("Flatten", ["x"], ["y"])], opset=12),
        r"opset 12 is older than 13.*opset_version=17",
    ),
    # graph interface
    "two-inputs": (two_inputs, r"2 inputs \(\['x', 'x2'\]\); pd2java models take exactly one"),
    "two-outputs-one-value": (two_outputs_one_value, r"repeats the value of another output"),
    "dynamic-height": (
        lambda: model_of([helper.make_node("Flatten", ["x"], ["y"])], in_shape=["N", 3, "H", 8]),
        (
            r"graph input 'x' has shape \['N', 3, 'H', 8\]: only the batch dimension "
            r"may be dynamic"
        ),
    ),
    "unknown-shape": (lambda: _no_shape(), r"graph input 'x' has no shape"),
    "rank-1-input": (
        lambda: model_of([helper.make_node("Relu", ["x"], ["y"])], in_shape=["N"]),
        r"a batch axis followed by at least one per-sample axis",
    ),
    "int-input": (
        lambda: model_of([helper.make_node("Flatten", ["x"], ["y"])], in_type=TensorProto.INT64),
        r"must be float32, got INT64",
    ),
    "output-shape": (
        declared_output_mismatch,
        (
            r"declared with shape \['N', 7\], but its nodes "
            r"compute \(N, 192\)"
        ),
    ),
    "value-info-shape": (
        value_info_mismatch,
        (
            r"value 't' has shape \['N', 3, 9, 9\] \(declared, "
            r"or by ONNX shape inference\), but pd2java computes \(N, 3, 8, 8\)"
        ),
    ),
    "identity-only": (
        lambda: model_of([helper.make_node("Identity", ["x"], ["y"])]),
        r"computes nothing",
    ),
    # op forms
    "same-with-ceil-mode": (
        lambda: one("MaxPool", kernel_shape=[2, 2], auto_pad="SAME_UPPER", ceil_mode=1),
        r"'bad' \(MaxPool\): auto_pad=SAME_UPPER with ceil_mode=1 is not supported",
    ),
    "pool-pad-too-big": (
        lambda: one("AveragePool", kernel_shape=[2, 2], pads=[2, 2, 2, 2]),
        r"exceed half the kernel",
    ),
    "gemm-alpha": (
        lambda: model_of(
            [
                helper.make_node("Flatten", ["x"], ["f"]),
                helper.make_node("Gemm", ["f", "w"], ["y"], name="bad", alpha=2.0, transB=1),
            ],
            [init("w", np.ones((4, 192), np.float32))],
        ),
        r"'bad' \(Gemm\): Gemm\(alpha=2.0",
    ),
    "gemm-on-image": (
        lambda: one("Gemm", ["x", "w"], [init("w", np.ones((8, 4), np.float32))]),
        r"per-sample shape \[3, 8, 8\]; a linear layer needs a flat",
    ),
    "reshape-not-divisible": (
        lambda: one("Reshape", ["x", "s"], [init("s", np.array([0, 5, -1]))]),
        (
            r"'bad' \(Reshape\): Reshape to \[0, 5, -1\] is not supported: the known "
            r"per-sample entries multiply to 5, which does not divide"
        ),
    ),
    "reshape-across-batch": (
        lambda: one("Reshape", ["x", "s"], [init("s", np.array([-1, 5]))]),
        r"Reshape to \[-1, 5\] is not supported: .* move elements across the batch axis",
    ),
    "reshape-batch-1-dynamic": (
        lambda: one("Reshape", ["x", "s"], [init("s", np.array([1, -1]))]),
        r"a leading constant only when the input's batch size is fixed",
    ),
    "flatten-axis-2": (lambda: one("Flatten", axis=2), r"Flatten\(axis=2\) is not supported"),
    "reduce-channels": (
        lambda: one("ReduceMean", axes=[1, 2, 3]),
        r"ReduceMean over axes \[1, 2, 3\] of \(N, C, H, W\) is not supported",
    ),
    "reduce-all": (lambda: one("ReduceMean"), r"would average over the batch"),
    "reduce-w-only": (partial_mean_output, r"ReduceMean over axes \[3\] only"),
    "reduce-mixed-keepdims": (
        mean_then_mean_mixed,
        (
            r"'bad' \(ReduceMean\): chained ReduceMeans "
            r"mix keepdims"
        ),
    ),
    "softmax-batch": (lambda: one("Softmax", axis=0), r"Softmax over the batch axis"),
    "add-broadcast": (
        add_constant,
        r"'bad' \(Add\): its constant input 1 'c' of shape \[2, 3, 1, 1\] would broadcast",
    ),
    "computed-weight": (computed_weight, r"'bad' \(Conv\): its weight 'r' must be a constant"),
    "bn-training": (
        lambda: one(
            "BatchNormalization",
            ["x", "s", "s", "s", "s"],
            [init("s", np.ones(3, np.float32))],
            training_mode=1,
        ),
        r"'bad' \(BatchNormalization\): training_mode=1",
    ),
    "dropout-training": (dropout_training, r"'bad' \(Dropout\): Dropout in training mode"),
    "constant-of-shape-large": (
        lambda: model_of(
            [
                helper.make_node("ConstantOfShape", ["s"], ["c"], name="bad"),
                helper.make_node("Add", ["x", "c"], ["t"]),
                helper.make_node("Flatten", ["t"], ["y"]),
            ],
            [init("s", np.array([1, 3, 64, 64]))],
            in_shape=["N", 3, 64, 64],
        ),
        (
            r"'bad' \(ConstantOfShape\): shape \[1, 3, 64, 64\]: pd2java folds "
            r"ConstantOfShape only for non-negative shapes of at most 4096 elements"
        ),
    ),
}


def _foreign_domain() -> onnx.ModelProto:
    m = model_of(
        [
            helper.make_node("Relu", ["x"], ["t"], name="bad", domain="com.example"),
            helper.make_node("Flatten", ["t"], ["y"]),
        ]
    )
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    return m


def _no_shape() -> onnx.ModelProto:
    m = model_of([helper.make_node("Flatten", ["x"], ["y"])])
    m.graph.input[0].type.tensor_type.ClearField("shape")
    return m


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("case", sorted(CASES))
def test_refused_with_a_clear_error(tmp_path: Path, case: str) -> None:
    build, message = CASES[case]
    path = tmp_path / "model.onnx"
    onnx.save(build(), str(path))
    before = _snapshot(tmp_path)
    with pytest.raises(UserError, match=message) as info:
        onnx_to_graph(path)
    assert str(path) in str(info.value)  # every message names the file
    assert _snapshot(tmp_path) == before  # and nothing was written


def test_unsupported_op_message_lists_every_supported_op(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(one("Round"), str(path))
    with pytest.raises(UserError) as info:
        onnx_to_graph(path)
    for op in SUPPORTED_ONNX_OPS:
        assert op in str(info.value)


def test_missing_and_garbage_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such ONNX file"):
        onnx_to_graph(tmp_path / "absent.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\xff\x00not a protobuf" * 10)
    with pytest.raises(UserError, match="garbage.onnx: not"):
        onnx_to_graph(garbage)


def _external(tmp_path: Path, location: str) -> Path:
    """A valid model whose conv weight is stored externally at ``location`` (edited afterwards,
    as an attacker would)."""
    model = conv(pads=[1, 1, 1, 1])
    folder = tmp_path / "model"
    folder.mkdir()
    path = folder / "m.onnx"
    onnx.save_model(
        model, str(path), save_as_external_data=True, location="m.bin", size_threshold=0
    )
    saved = onnx.load(str(path), load_external_data=False)
    for entry in saved.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = location
    onnx.save(saved, str(path))
    return path


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("../secret.bin", r"must be a relative path inside the model's folder"),
        ("sub/../../secret.bin", r"must be a relative path inside the model's folder"),
        ("ABSOLUTE", r"must be a relative path inside the model's folder"),
        ("link.bin", r"resolves to .*secret.bin, outside the model's folder"),
        ("missing.bin", r"that file does not exist"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink", "missing"],
)
def test_external_data_outside_the_folder(tmp_path: Path, location: str, message: str) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(W.tobytes())  # valid data: refusing it proves the check comes first
    if location == "ABSOLUTE":
        location = str(secret)
    path = _external(tmp_path, location)
    if location == "link.bin":
        os.symlink(secret, path.parent / "link.bin")
    with pytest.raises(UserError, match=message) as info:
        onnx_to_graph(path)
    assert "initializer 'w'" in str(info.value) and str(path) in str(info.value)


def test_external_data_control_case_loads(tmp_path: Path) -> None:
    """The same construction with a location inside the folder is accepted."""
    path = _external(tmp_path, "m.bin")
    graph = onnx_to_graph(path)
    np.testing.assert_array_equal(graph.tensors["w"], W)


def test_cli_export_of_a_refused_model_exits_1_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pd2java.cli import main

    path = tmp_path / "round.onnx"
    onnx.save(one("Round"), str(path))
    out = tmp_path / "out"
    assert main(["export", str(path), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "ONNX node 'bad' (Round): unsupported ONNX op 'Round'" in err
    assert not out.exists() or not any(out.iterdir())


def test_node_refusals_are_findings_interface_refusals_are_not(tmp_path: Path) -> None:
    from pd2java.errors import UnsupportedModelError

    path = tmp_path / "m.onnx"
    model = one(
        "BatchNormalization",
        ["x", "s", "s", "s", "s"],
        [init("s", np.ones(3, np.float32))],
        training_mode=1,
    )
    onnx.save(model, str(path))
    with pytest.raises(UnsupportedModelError) as info:
        onnx_to_graph(path)
    (finding,) = info.value.findings
    assert finding.node == "ONNX node 'bad' (BatchNormalization)"
    assert finding.target == "BatchNormalization" and "training_mode=1" in finding.what
    assert finding.reason.startswith("training_mode=1")
    onnx.save(two_inputs(), str(path))  # the graph's interface: one plain error, no findings
    with pytest.raises(UserError) as plain:
        onnx_to_graph(path)
    assert not isinstance(plain.value, UnsupportedModelError)
