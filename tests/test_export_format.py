"""The written format: golden files, schema, determinism, manifest content, generated docs.

Golden files: ``tests/golden/tiny.manifest.json`` and ``tiny.safetensors`` are the exact bytes
``write_graph`` produces for the hand-built IR graph below. After an intended format change,
regenerate them with::

    PD2JAVA_REGEN_GOLDEN=1 pytest tests/test_export_format.py -k golden

and review the diff (it is the format change).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch
from corpus import CORPUS_BY_NAME
from helpers import assert_close
from torch import nn

from pd2java import generate
from pd2java.backends import reference
from pd2java.backends.manifest import schema
from pd2java.backends.safetensors_io import read_safetensors
from pd2java.exporter import export, write_graph
from pd2java.format_rules import FORMAT_SINCE, FP32_FORMAT_VERSION, MIN_RUNTIME_KEY, TOP_KEYS_V2
from pd2java.ir import Graph, Node, ValueSpec
from pd2java.ops.registry import check_complete
from pd2java.ops.table import OPS

GOLDEN_DIR = Path(__file__).parent / "golden"


def tiny_graph() -> Graph:
    """conv -> bn -> leaky_relu -> max_pool -> flatten -> linear -> softmax on (1, 4, 4).

    Weights are multiples of 1/64 so every backend computes them without rounding surprises.
    """
    rng = np.random.default_rng(7)

    def t(*shape: int) -> np.ndarray:
        return (rng.integers(-64, 64, size=shape) / 64).astype(np.float32)

    tensors = {
        "conv.weight": t(2, 1, 3, 3),
        "conv.bias": t(2),
        "bn.running_mean": t(2),
        "bn.running_var": (np.abs(t(2)) + 0.5).astype(np.float32),
        "bn.weight": t(2),
        "bn.bias": t(2),
        "fc.weight": t(3, 8),
        "fc.bias": t(3),
    }
    nodes = [
        Node(
            "conv",
            "conv2d",
            1,
            ("input",),
            ("conv",),
            {
                "in_channels": 1,
                "out_channels": 2,
                "kernel_size": (3, 3),
                "stride": (1, 1),
                "padding": (1, 1),
                "dilation": (1, 1),
                "groups": 1,
            },
            {"weight": "conv.weight", "bias": "conv.bias"},
            (2, 4, 4),
        ),
        Node(
            "bn",
            "batch_norm2d",
            1,
            ("conv",),
            ("bn",),
            {"num_features": 2, "eps": 1e-5},
            {
                "running_mean": "bn.running_mean",
                "running_var": "bn.running_var",
                "weight": "bn.weight",
                "bias": "bn.bias",
            },
            (2, 4, 4),
        ),
        Node("act", "leaky_relu", 1, ("bn",), ("act",), {"negative_slope": 0.2}, {}, (2, 4, 4)),
        Node(
            "pool",
            "max_pool2d",
            1,
            ("act",),
            ("pool",),
            {"kernel_size": (2, 2), "stride": (2, 2), "padding": (0, 0), "dilation": (1, 1)},
            {},
            (2, 2, 2),
        ),
        Node("flat", "flatten", 1, ("pool",), ("flat",), {}, {}, (8,)),
        Node(
            "fc",
            "linear",
            1,
            ("flat",),
            ("fc",),
            {"in_features": 8, "out_features": 3},
            {"weight": "fc.weight", "bias": None},
            (3,),
        ),
        Node("prob", "softmax", 1, ("fc",), ("prob",), {"dim": 1}, {}, (3,)),
    ]
    return Graph(
        name="tiny",
        input=ValueSpec("input", (1, 4, 4)),
        outputs=("prob",),
        nodes=tuple(nodes),
        tensors=tensors,
        classes=("a", "b", "c"),
        output_kinds=("probabilities",),
    )


def test_golden_files_byte_for_byte(tmp_path: Path) -> None:
    manifest = write_graph(tiny_graph(), tmp_path, onnx=False)
    weights = tmp_path / "tiny.safetensors"
    if os.environ.get("PD2JAVA_REGEN_GOLDEN"):
        GOLDEN_DIR.mkdir(exist_ok=True)
        (GOLDEN_DIR / "tiny.manifest.json").write_bytes(manifest.read_bytes())
        (GOLDEN_DIR / "tiny.safetensors").write_bytes(weights.read_bytes())
    assert manifest.read_bytes() == (GOLDEN_DIR / "tiny.manifest.json").read_bytes()
    assert weights.read_bytes() == (GOLDEN_DIR / "tiny.safetensors").read_bytes()
    # the committed pair is itself a valid export whose golden vectors pass the self-test
    assert reference.self_test(GOLDEN_DIR / "tiny.manifest.json") <= 1e-5


def test_golden_manifest_matches_hand_computation() -> None:
    """The tiny model recomputed directly with torch agrees with the committed outputs."""
    g = tiny_graph()
    tensors, _ = read_safetensors(GOLDEN_DIR / "tiny.safetensors")
    x = torch.from_numpy(tensors["golden.input"])
    w = {k: torch.from_numpy(v) for k, v in g.tensors.items()}
    y = torch.nn.functional.conv2d(x, w["conv.weight"], w["conv.bias"], padding=1)
    y = torch.nn.functional.batch_norm(
        y, w["bn.running_mean"], w["bn.running_var"], w["bn.weight"], w["bn.bias"], eps=1e-5
    )
    y = torch.nn.functional.max_pool2d(torch.nn.functional.leaky_relu(y, 0.2), 2)
    y = torch.softmax(torch.flatten(y, 1) @ w["fc.weight"].T, dim=1)
    assert_close(tensors["golden.output"], y.numpy(), what="golden.output")


def test_manifest_validates_against_schema_and_has_every_key(tmp_path: Path) -> None:
    factory, shape = CORPUS_BY_NAME["residual_net"]
    manifest = export(factory(), tmp_path, input_shape=shape, name="res", onnx=False)
    obj = json.loads(manifest.read_text())
    jsonschema.Draft202012Validator.check_schema(schema())
    jsonschema.validate(obj, schema())
    # An fp32 export is version 2, with the optional min_runtime_version after format_version.
    assert [k for k in obj if k != MIN_RUNTIME_KEY] == list(TOP_KEYS_V2)
    assert list(obj).index(MIN_RUNTIME_KEY) == 2
    assert obj[MIN_RUNTIME_KEY] == FORMAT_SINCE[FP32_FORMAT_VERSION]
    assert obj["format"] == "pd2java.manifest" and obj["format_version"] == FP32_FORMAT_VERSION
    for node in obj["nodes"]:
        spec = OPS[f"{node['op']}@{node['version']}"]
        assert list(node["attrs"]) == [a.name for a in spec.attrs]
        assert list(node["params"]) == [p.name for p in spec.params]
        assert node["outputs"] == [node["name"]]
    assert [o["kind"] for o in obj["outputs"]] == ["probabilities"]
    assert obj["golden"] == {
        "input": "golden.input",
        "outputs": ["golden.output"],
        "count": 3,
        "atol": 1e-5,
        "rtol": 1e-4,
    }
    assert obj["weights"]["bytes"] == (tmp_path / "res.safetensors").stat().st_size
    # an invalid manifest is caught by the schema (an attr removed)
    broken = json.loads(manifest.read_text())
    del broken["nodes"][0]["attrs"]["groups"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema())


def test_deterministic_bytes(tmp_path: Path) -> None:
    factory, shape = CORPUS_BY_NAME["functional_forms"]
    a = export(factory(), tmp_path / "a", input_shape=shape, name="m")
    b = export(factory(), tmp_path / "b", input_shape=shape, name="m")
    for suffix in (".manifest.json", ".safetensors", ".onnx"):
        assert (tmp_path / "a" / f"m{suffix}").read_bytes() == (
            tmp_path / "b" / f"m{suffix}"
        ).read_bytes(), suffix
    # exporting again over the same folder gives the same bytes and leaves no temp files
    export(factory(), tmp_path / "a", input_shape=shape, name="m")
    assert a.read_bytes() == b.read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "m.manifest.json",
        "m.onnx",
        "m.safetensors",
    ]


def test_module_called_twice_dropout_identity(tmp_path: Path) -> None:
    factory, shape = CORPUS_BY_NAME["called_twice"]
    manifest = export(factory(), tmp_path, input_shape=shape, name="m", onnx=False)
    loaded = reference.load(manifest)
    ops = [n.op for n in loaded.graph.nodes]
    assert ops == ["conv2d", "relu6", "conv2d", "flatten"]  # dropout and identity removed
    convs = [n for n in loaded.graph.nodes if n.op == "conv2d"]
    assert convs[0].params == convs[1].params == {"weight": "conv.weight", "bias": "conv.bias"}
    tensors, _ = read_safetensors(tmp_path / "m.safetensors")
    assert sorted(tensors) == ["conv.bias", "conv.weight", "golden.input", "golden.output"]
    assert [o["kind"] for o in loaded.manifest["outputs"]] == ["logits"]


def test_functional_forms_lower_to_table_ops(tmp_path: Path) -> None:
    factory, shape = CORPUS_BY_NAME["functional_forms"]
    loaded = reference.load(export(factory(), tmp_path, input_shape=shape, name="m", onnx=False))
    ops = [n.op for n in loaded.graph.nodes]
    assert ops == [
        "conv2d",
        "relu",
        "relu6",
        "add",
        "leaky_relu",
        "conv2d",
        "relu6",
        "max_pool2d",
        "avg_pool2d",
        "sigmoid",
        "add",
        "flatten",
        "linear",
        "sigmoid",
    ]
    leaky = next(n for n in loaded.graph.nodes if n.op == "leaky_relu")
    assert leaky.attrs["negative_slope"] == 0.3
    avg = next(n for n in loaded.graph.nodes if n.op == "avg_pool2d")
    assert avg.attrs["count_include_pad"] is False
    mean = reference.load(
        export(
            CORPUS_BY_NAME["mean_forms"][0](),
            tmp_path / "mean",
            input_shape=CORPUS_BY_NAME["mean_forms"][1],
            name="m",
            onnx=False,
        )
    )
    gaps = [n for n in mean.graph.nodes if n.op == "global_avg_pool"]
    assert [n.attrs["keepdims"] for n in gaps] == [False, False, True]


def test_names_from_state_dict(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)), nn.Flatten())
    model.eval()
    loaded = reference.load(export(model, tmp_path, input_shape=(1, 5, 5), name="m", onnx=False))
    params = {p for n in loaded.graph.nodes for p in n.params.values() if p}
    assert params == {
        "0.0.weight",
        "0.0.bias",
        "0.1.running_mean",
        "0.1.running_var",
        "0.1.weight",
        "0.1.bias",
    }
    assert set(params) <= set(model.state_dict())


def test_onnx_written_and_matches_torch(tmp_path: Path) -> None:
    import onnx
    import onnxruntime as ort

    factory, shape = CORPUS_BY_NAME["residual_net"]
    model = factory()
    export(model, tmp_path, input_shape=shape, name="m")
    proto = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    x = np.random.default_rng(3).random((2, *shape), dtype=np.float32)
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {sess.get_inputs()[0].name: x})
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    assert_close(got, want, what="onnxruntime vs torch")


def test_cli_exports_checkpoint_and_onnx(tmp_path: Path) -> None:
    from pd2java.cli import main
    from pd2java.training.checkpoint import Checkpoint, save_checkpoint
    from pd2java.training.models import PDModel

    torch.manual_seed(0)
    ckpt = save_checkpoint(Checkpoint.from_model(PDModel(["x", "y", "z"])), tmp_path / "lenet.pt")
    assert (
        main(
            [
                "export",
                str(ckpt),
                "-o",
                str(tmp_path / "out"),
                "--fold-bn",
                "--java-package",
                "com.example.pd",
                "--java-class",
                "GisModel",
            ]
        )
        == 0
    )
    manifest = tmp_path / "out" / "lenet.manifest.json"
    java = tmp_path / "out" / "src" / "main" / "java" / "com" / "example" / "pd" / "GisModel.java"
    assert java.is_file() and "class GisModel" in java.read_text()
    obj = json.loads(manifest.read_text())
    assert obj["classes"] == ["x", "y", "z"]
    assert obj["input"]["image_convention"] is not None  # from the checkpoint's input spec
    assert obj["producer"]["checkpoint"] == "../lenet.pt"
    assert reference.self_test(manifest) <= 1e-5
    # the written ONNX file goes back through `pd2java export X.onnx` to an equivalent model
    assert (
        main(
            [
                "export",
                str(tmp_path / "out" / "lenet.onnx"),
                "-o",
                str(tmp_path / "back"),
                "--no-onnx",
                "--name",
                "again",
            ]
        )
        == 0
    )
    back = tmp_path / "back" / "again.manifest.json"
    assert not (tmp_path / "back" / "again.onnx").exists()
    assert (tmp_path / "back" / "src").is_dir()  # Java sources by default
    # a bad Java name is refused before anything is written
    assert main(["export", str(ckpt), "-o", str(tmp_path / "bad"), "--java-class", "1x"]) == 1
    assert not (tmp_path / "bad").exists()
    x = np.random.default_rng(0).random((2, 1, 60, 120), dtype=np.float32)
    assert_close(reference.run(back, x), reference.run(manifest, x), what="onnx round trip")


def test_generated_schema_and_ops_md_are_current() -> None:
    assert generate.main(["--check"]) == 0, "run: python -m pd2java.generate"


def test_op_table_and_kernels_agree() -> None:
    check_complete()


def test_reference_does_not_import_torch() -> None:
    code = (
        "import sys, pd2java.backends.reference, pd2java.backends.manifest, pd2java.backends.safetensors_io, "
        "pd2java.ir.passes, pd2java.ops.registry; from pd2java.ops.registry import implemented; "
        "implemented(); assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_top_level_export_stays_callable(tmp_path: Path) -> None:
    import pd2java
    import pd2java.exporter as module  # importing the implementation must not shadow the function

    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()).eval()
    first = pd2java.export(model, tmp_path / "a", input_shape=(1, 4, 4), onnx=False)
    second = pd2java.export(model, tmp_path / "b", input_shape=(1, 4, 4), onnx=False)
    assert first.name == second.name == "Sequential.manifest.json"
    assert module.export_checkpoint is not None


# torch warns about the even-kernel 'same' conv while it runs the model for shapes; expected here.
@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")
def test_same_and_valid_padding_become_explicit(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding="same"),
        nn.Conv2d(2, 2, 3, padding="same", dilation=2),
        nn.Conv2d(2, 2, 3, padding="valid"),
        nn.Flatten(),
    ).eval()
    manifest = export(model, tmp_path, input_shape=(1, 6, 7), name="m", onnx=False)
    loaded = reference.load(manifest)
    assert [n.attrs["padding"] for n in loaded.graph.nodes[:3]] == [(1, 1), (2, 2), (0, 0)]
    x = np.random.default_rng(0).random((2, 1, 6, 7), dtype=np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    assert_close(reference.run(manifest, x), want)
    # An odd total (even kernel) is split as PyTorch does, the extra row/column at the
    # bottom/right: an explicit constant_pad2d, then an unpadded conv2d.
    even = nn.Sequential(nn.Conv2d(1, 1, 2, padding="same"), nn.Flatten()).eval()
    manifest = export(even, tmp_path / "even", input_shape=(1, 4, 4), onnx=False)
    nodes = reference.load(manifest).graph.nodes
    assert [n.op for n in nodes[:2]] == ["constant_pad2d", "conv2d"]
    assert (nodes[0].attrs["pad_h"], nodes[0].attrs["pad_w"]) == ((0, 1), (0, 1))
    with torch.no_grad():
        want = even(torch.from_numpy(x[:, :, :4, :4].copy())).numpy()
    assert_close(reference.run(manifest, x[:, :, :4, :4].copy()), want)
