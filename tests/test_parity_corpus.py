"""Parity over a real JVM: every module of the export corpus, Java vs PyTorch and vs NumPy.

Each corpus module is exported (pd2java.export), run in the Java runtime through the py4j bridge
(one JVM for the whole session), and compared with live PyTorch and with the NumPy reference
interpreter, element by element within 1e-5 abs + 1e-4 rel, then argmax (tests/helpers.py).
The zoo models are covered, with and without BN folding, in test_parity_models.py.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
from corpus import CORPUS
from helpers import assert_close

from pd2java.backends import reference
from pd2java.backends.java.bridge import java_predict
from pd2java.exporter import export

SMALL = [(name, factory, shape) for name, factory, shape in CORPUS if not name.startswith("zoo_")]


@pytest.mark.parametrize(("name", "factory", "shape"), SMALL, ids=[c[0] for c in SMALL])
def test_corpus_module_java_matches_torch_and_reference(tmp_path, name, factory, shape):
    model = factory()
    manifest = export(model, tmp_path, input_shape=shape, name=name, onnx=False)
    # Normal inputs reach negative values (leaky_relu, relu6, padding edge cases), and one
    # all-zero sample exercises biases alone.
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x = rng.standard_normal((4, *shape)).astype(np.float32) * 2.0
    x[0] = 0.0
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    got = java_predict(manifest, x)
    assert got.dtype == np.float32
    assert_close(got, expected, what=f"{name}: Java vs PyTorch")
    assert_close(got, reference.run(manifest, x), what=f"{name}: Java vs NumPy reference")
