"""ONNX both ways on real torch models (the shared corpus, both zoo models included).

- torch -> ``torch.onnx.export`` (the TorchScript exporter, opset 13 and 17, with and without BN
  folded; the torch.export-based exporter, opset 18+) -> ``onnx_to_graph`` -> the NumPy reference
  and ``graph_to_onnx`` + onnxruntime, both against torch;
- torch -> torch.fx capture -> ``graph_to_onnx`` -> onnxruntime against torch, and back through
  ``onnx_to_graph`` to the very same IR;
- ``pd2java.exporter.export_onnx`` of an ONNX file: the written manifest runs in the reference.
"""

from __future__ import annotations

import warnings
import zlib
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from corpus import CORPUS, CORPUS_BY_NAME
from helpers import assert_close, ort_run, torch_forward, torch_onnx_export

from pd2java.backends import reference
from pd2java.backends.onnx import graph_to_onnx, write_onnx
from pd2java.exporter import export, export_onnx
from pd2java.frontends.fx import capture
from pd2java.frontends.onnx import onnx_to_graph
from pd2java.ir import Graph
from pd2java.ir.passes import fold_bn, validate

NAMES = [name for name, _, _ in CORPUS]
# Models with batch norm: exported once more with constant folding off, so the ONNX file keeps
# BatchNormalization nodes (the exporter folds them into the convs otherwise).
WITH_BN = ["activations_bn", "residual_net", "zoo_light"]
# The torch.export-based exporter is slow (5-20 s a model on these machines), so two models:
# ReduceMean with axes as an input (opset 18), Clip from hardtanh, a weight used twice.
DYNAMO = ["mean_forms", "called_twice"]


def model_and_input(name: str, batch: int = 3) -> tuple[torch.nn.Module, torch.Tensor]:
    factory, shape = CORPUS_BY_NAME[name]
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))  # stable across processes
    return factory(), torch.rand(batch, *shape, generator=gen)


def check_graph(graph: Graph, x: torch.Tensor, expected: np.ndarray, what: str) -> None:
    """The imported IR is valid and both of its evaluations match torch."""
    validate(graph)
    assert_close(reference.run_graph(graph, x.numpy()), expected, what=f"{what}: reference")
    back = graph_to_onnx(graph)
    onnx.checker.check_model(back, full_check=True)
    assert_close(ort_run(back, x), expected, what=f"{what}: graph_to_onnx + onnxruntime")


@pytest.mark.parametrize("name", NAMES)
def test_torch_onnx_export_imports(tmp_path: Path, name: str) -> None:
    model, x = model_and_input(name)
    path = torch_onnx_export(model, x, tmp_path / f"{name}.onnx")
    graph = onnx_to_graph(path)
    check_graph(graph, x, torch_forward(model, x), name)
    expected_kind = "probabilities" if graph.nodes[-1].op in ("softmax", "sigmoid") else "logits"
    assert graph.output_kind == expected_kind
    assert graph.output == "y"


@pytest.mark.parametrize("name", WITH_BN)
def test_batch_norm_kept_opset_13(tmp_path: Path, name: str) -> None:
    model, x = model_and_input(name)
    path = torch_onnx_export(model, x, tmp_path / f"{name}.onnx", opset=13, fold=False)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "BatchNormalization" in ops  # the case this test exists for
    graph = onnx_to_graph(path)
    assert any(n.op == "batch_norm2d" for n in graph.nodes)
    check_graph(graph, x, torch_forward(model, x), f"{name} (opset 13, BN kept)")


@pytest.mark.parametrize("name", DYNAMO)
def test_torch_export_based_exporter_imports(tmp_path: Path, name: str) -> None:
    model, x = model_and_input(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model, (x,), dynamo=True, verbose=False, dynamic_shapes=({0: torch.export.Dim("N")},)
        )
    path = tmp_path / f"{name}.onnx"
    program.save(str(path))
    opset = next(o.version for o in onnx.load(str(path)).opset_import if o.domain == "")
    assert opset >= 18
    check_graph(
        onnx_to_graph(path), x, torch_forward(model, x), f"{name} (torch.export, opset {opset})"
    )


def _structure(graph: Graph, as_onnx_writes_it: bool = False) -> list[tuple]:
    """Nodes as comparable tuples. ``as_onnx_writes_it``: a global_avg_pool(keepdims=False) as
    the GlobalAveragePool + Flatten pair graph_to_onnx writes for it (docs/ONNX.md)."""
    rows = []
    for n in graph.nodes:
        if as_onnx_writes_it and n.op == "global_avg_pool" and not n.attrs["keepdims"]:
            pooled = f"{n.outputs[0]}.pooled"
            rows.append(
                (n.name, n.op, n.inputs, (pooled,), {"keepdims": True}, (*n.output_shape, 1, 1))
            )
            rows.append((f"{n.name}.flatten", "flatten", (pooled,), n.outputs, {}, n.output_shape))
        else:
            rows.append((n.name, n.op, n.inputs, n.outputs, dict(n.attrs), n.output_shape))
    return rows


@pytest.mark.parametrize("name", NAMES)
def test_fx_graph_to_onnx_and_back(tmp_path: Path, name: str) -> None:
    """torch -> fx IR -> ONNX runs like torch, and reads back as the same IR."""
    model, x = model_and_input(name)
    graph = capture(model, tuple(x.shape[1:]), name="m", classes=None)
    path = write_onnx(graph, tmp_path / "m.onnx")
    assert_close(ort_run(path, x), torch_forward(model, x), what=f"{name}: onnxruntime vs torch")
    back = onnx_to_graph(path)
    assert back.input == graph.input and back.output == graph.output
    assert back.output_kind == graph.output_kind
    assert _structure(back) == _structure(graph, as_onnx_writes_it=True)
    pairs = zip(
        (n for n in back.nodes if n.op != "flatten"), (n for n in graph.nodes if n.op != "flatten")
    )
    for mine, theirs in pairs:
        for slot, key in theirs.params.items():
            if key is None:
                if mine.params.get(slot) is not None:
                    # affine-free batch norm: ONNX needs explicit ones/zeros; they come back so
                    assert mine.op == "batch_norm2d"
                continue
            assert mine.params[slot] == key
            np.testing.assert_array_equal(back.tensors[key], graph.tensors[key])


@pytest.mark.parametrize("name", ["zoo_lenet", "zoo_light"])
def test_zoo_export_writes_onnx_that_matches_torch(tmp_path: Path, name: str) -> None:
    """pd2java.export writes <name>.onnx beside the manifest; onnxruntime on it matches torch, and
    `pd2java export model.onnx` on that file gives a manifest the reference runs like torch."""
    model, x = model_and_input(name, batch=4)
    expected = torch_forward(model, x)
    manifest = export(model, tmp_path / "a", input_shape=tuple(x.shape[1:]), name=name)
    onnx_path = manifest.with_name(f"{name}.onnx")
    assert_close(ort_run(onnx_path, x), expected, what=f"{name}: exported .onnx")
    again = export_onnx(onnx_path, tmp_path / "b", name=name)
    assert_close(reference.run(again, x.numpy()), expected, what=f"{name}: ONNX -> manifest")
    # classes travel in the ONNX metadata
    assert list(onnx_to_graph(onnx_path).classes or []) == list(getattr(model, "classes", []))


@pytest.mark.parametrize("name", ["residual_net", "zoo_light"])
def test_bn_folded_graph_to_onnx(tmp_path: Path, name: str) -> None:
    """After the fold_bn pass (new tensors, no batch_norm2d left) the ONNX file still runs like
    torch."""
    model, x = model_and_input(name)
    graph = fold_bn(capture(model, tuple(x.shape[1:]), name="m", classes=None))
    assert not any(n.op == "batch_norm2d" for n in graph.nodes)
    path = write_onnx(graph, tmp_path / "m.onnx")
    assert_close(ort_run(path, x), torch_forward(model, x), what=f"{name} folded: onnxruntime")


class _CircularPad(torch.nn.Module):
    def __init__(self, pad: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(x, self.pad, mode="circular")


# (left, right, top, bottom) on a (2, 3, 4) input: both axes, W or H alone, one side only, and
# pads equal to the extent (the whole axis copied).
CIRCULAR_PADS = [(2, 1, 1, 3), (1, 1, 0, 0), (0, 0, 2, 0), (0, 3, 0, 0), (4, 4, 3, 3)]


def _circular_models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    models: dict[str, torch.nn.Module] = {
        f"pad_{'_'.join(map(str, pad))}": torch.nn.Sequential(
            _CircularPad(pad), torch.nn.Conv2d(2, 2, 1)
        )
        for pad in CIRCULAR_PADS
    }
    models["conv"] = torch.nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode="circular")
    models["module_then_conv"] = torch.nn.Sequential(
        torch.nn.CircularPad2d((0, 1, 2, 0)),
        torch.nn.Conv2d(2, 4, (2, 3), stride=(1, 2), padding=1, padding_mode="circular"),
    )
    return {name: torch.nn.Sequential(m, torch.nn.Flatten()).eval() for name, m in models.items()}


@pytest.mark.parametrize("name", sorted(_circular_models()))
def test_circular_pad_graph_to_onnx_and_back(tmp_path: Path, name: str) -> None:
    """circular_pad2d is written as Slice + Concat (opset 17 has no Pad mode wrap) and reads
    back as the same one op: the same IR, node names included."""
    model = _circular_models()[name]
    x = torch.rand(3, 2, 3, 4, generator=torch.Generator().manual_seed(5))
    graph = capture(model, (2, 3, 4), name="m", classes=None)
    assert "circular_pad2d" in {n.op for n in graph.nodes}
    path = write_onnx(graph, tmp_path / "m.onnx")
    written = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"Slice", "Concat"} <= written and "Pad" not in written
    assert_close(ort_run(path, x), torch_forward(model, x), what=f"{name}: onnxruntime vs torch")
    back = onnx_to_graph(path)
    assert _structure(back) == _structure(graph)
    check_graph(back, x, torch_forward(model, x), name)
