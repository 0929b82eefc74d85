"""Parity over a real JVM: every module of the export corpus, Java vs PyTorch and vs NumPy.

Each corpus module is exported (pd2java.export), run in the Java runtime through the py4j bridge
on both kernel families (a JVM with the Vector API kernels, then one without: conftest's
java_kernels; one export per module, conftest's parity_cache), and compared with live PyTorch and
with the NumPy reference interpreter, element by element within 1e-5 abs + 1e-4 rel, then argmax
(tests/helpers.py).
The zoo models are covered, with and without BN folding, in test_parity_models.py.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
from conftest import KERNEL_FAMILIES
from corpus import CORPUS
from helpers import assert_close

from pd2java.backends import reference
from pd2java.backends.java.bridge import java_predict
from pd2java.exporter import export

SMALL = [(name, factory, shape) for name, factory, shape in CORPUS if not name.startswith("zoo_")]


@pytest.mark.parametrize("java_kernels", KERNEL_FAMILIES, indirect=True, scope="module")
@pytest.mark.parametrize(("name", "factory", "shape"), SMALL, ids=[c[0] for c in SMALL])
def test_corpus_module_java_matches_torch_and_reference(
    parity_cache, name, factory, shape, java_kernels
):
    def prepare(folder):
        model = factory()
        manifest = export(model, folder, input_shape=shape, name=name, onnx=False)
        # Normal inputs reach negative values (leaky_relu, relu6, padding edge cases), and one
        # all-zero sample exercises biases alone.
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        x = rng.standard_normal((4, *shape)).astype(np.float32) * 2.0
        x[0] = 0.0
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).numpy()
        return manifest, x, expected, reference.run(manifest, x)

    manifest, x, expected, ref = parity_cache(name, prepare)
    got = java_predict(manifest, x)
    java_kernels.check(manifest)
    assert got.dtype == np.float32
    what = f"{name} ({java_kernels} kernels)"
    assert_close(got, expected, what=f"{what}: Java vs PyTorch")
    assert_close(got, ref, what=f"{what}: Java vs NumPy reference")
