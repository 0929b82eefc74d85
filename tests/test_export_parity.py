"""Parity corpus: the NumPy reference, reading only the exported files, matches PyTorch within
1e-5 abs + 1e-4 rel on every corpus module, with and without BN folding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from corpus import CORPUS, CORPUS_BY_NAME
from helpers import assert_close

from pd2java.backends import reference
from pd2java.backends.golden import golden_inputs
from pd2java.exporter import export

NAMES = [name for name, _, _ in CORPUS]
BN_MODELS = ["activations_bn", "residual_net", "zoo_light"]


def _inputs(shape: tuple[int, int, int], n: int = 4, seed: int = 0) -> np.ndarray:
    if shape == (1, 60, 120):
        # PRPD-like images plus one uniform-noise image
        prpd = golden_inputs(shape, 3)
        noise = np.random.default_rng(seed).random((1, *shape), dtype=np.float32)
        return np.concatenate([prpd, noise])
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


def _torch(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x.copy())).numpy()


@pytest.mark.parametrize("name", NAMES)
def test_reference_matches_torch(name: str, tmp_path: Path) -> None:
    factory, shape = CORPUS_BY_NAME[name]
    model = factory()
    manifest = export(model, tmp_path, input_shape=shape, name="m", onnx=False)
    x = _inputs(shape)
    assert_close(reference.run(manifest, x), _torch(model, x), what=name)
    # the golden vectors in the export pass the reader's own self-test
    assert reference.self_test(manifest) <= 1e-5


@pytest.mark.parametrize("name", BN_MODELS)
def test_fold_bn_matches_unfolded(name: str, tmp_path: Path) -> None:
    factory, shape = CORPUS_BY_NAME[name]
    model = factory()
    plain = export(model, tmp_path / "plain", input_shape=shape, name="m", onnx=False)
    folded = export(
        model, tmp_path / "folded", input_shape=shape, name="m", fold_bn=True, onnx=False
    )
    x = _inputs(shape, seed=1)
    got_plain = reference.run(plain, x)
    got_folded = reference.run(folded, x)
    assert_close(got_folded, got_plain, atol=1e-5, rtol=0, what=f"{name} folded vs unfolded")
    assert_close(got_folded, _torch(model, x), what=f"{name} folded vs torch")
    ops_plain = [n.op for n in reference.load(plain).graph.nodes]
    loaded = reference.load(folded)
    ops_folded = [n.op for n in loaded.graph.nodes]
    assert "batch_norm2d" in ops_plain
    assert loaded.manifest["transforms"] == ["fold_bn"]
    # every conv -> bn pair is gone; only BNs not fed by a conv remain
    assert ops_folded.count("batch_norm2d") < ops_plain.count("batch_norm2d")
    assert len(ops_folded) == len(ops_plain) - (
        ops_plain.count("batch_norm2d") - ops_folded.count("batch_norm2d")
    )


def test_run_layers_gives_every_node_in_order(tmp_path: Path) -> None:
    factory, shape = CORPUS_BY_NAME["residual_net"]
    model = factory()
    manifest = export(model, tmp_path, input_shape=shape, name="m", onnx=False)
    x = _inputs(shape, n=2)
    layers = reference.run_layers(manifest, x)
    graph = reference.load(manifest).graph
    assert list(layers) == [n.name for n in graph.nodes]
    for node in graph.nodes:
        assert layers[node.name].shape == (2, *node.output_shape)
    assert_close(layers[graph.output], reference.run(manifest, x))
    # the first node's output equals torch's stem conv on the same input
    with torch.no_grad():
        stem = model.stem[0](torch.from_numpy(x.copy())).numpy()
    assert_close(layers[graph.nodes[0].name], stem, what="first node")


def test_caller_model_is_left_unchanged(tmp_path: Path) -> None:
    factory, shape = CORPUS_BY_NAME["activations_bn"]
    model = factory().train()  # in training mode: export must still use eval semantics
    before = {k: v.clone() for k, v in model.state_dict().items()}
    manifest = export(model, tmp_path, input_shape=shape, name="m", fold_bn=True, onnx=False)
    assert model.training
    after = model.state_dict()
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert torch.equal(value, after[key]), key
    x = _inputs(shape, n=3)
    assert_close(reference.run(manifest, x), _torch(model.eval(), x))
