"""Real network families on the op set: every architecture of tests/architectures.py exported
through torch.fx and through ONNX, run by the NumPy reference and the Java runtime, and compared
with torch (1e-5 abs + 1e-4 rel, and the same argmax on every sample).

- fx: ``pd2java.exporter.export(model, ..., onnx=True, fold_bn=...)``; the ONNX file written
  beside the manifest is checked under onnxruntime too;
- ONNX: ``torch.onnx.export`` (the TorchScript exporter, opset 17; the torch.export-based one
  too for the models listed in ``DYNAMO``) then ``pd2java.exporter.export_onnx``.

Java runs each export on both kernel families (the Vector API kernels, then the scalar ones:
conftest's java_kernels); the export, torch, the reference and onnxruntime run once per case
(conftest's parity_cache).

Weights are random but realistic (tests/architectures.py:realistic): a first test holds every
network to non-trivial, non-saturated activations, so that parity means something.
"""

from __future__ import annotations

import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from architectures import ARCHITECTURES, NORMS, Arch
from conftest import KERNEL_FAMILIES
from helpers import assert_backends_match, assert_close, torch_forward, torch_onnx_export
from torch import nn

from pd2java.backends.java.bridge import java_predict_all
from pd2java.exporter import export, export_onnx

IDS = [a.name for a in ARCHITECTURES]

# Exported with both exporters: the TorchScript one writes Mish (opset < 18) as Softplus * Tanh,
# reflect/replicate padding as a ConstantOfShape/Slice/Transpose computation of the pads and
# circular padding as Slice + Concat (a fused pattern and folded constants for the importer); the
# torch.export-based one writes Mish and Pad nodes (mode wrap for circular).
DYNAMO = {"param_act_classifier", "prpd_phase_circular"}

# Architectures whose ONNX form the importer cannot read yet, with the reason. Strict xfail: a
# change that makes one of them import fails here until it is moved out of this list.
ONNX_GAPS: dict[str, str] = {}


def inputs(arch: Arch) -> np.ndarray:
    """Four samples: two uniform in [0, 1) (image-like), one sparse (most pixels 0, as a PRPD
    map), one standard normal (negative values)."""
    rng = np.random.default_rng(zlib.crc32(arch.name.encode()))
    x = rng.random((4, *arch.shape), dtype=np.float32)
    x[2] *= rng.random(arch.shape) < 0.1
    x[3] = rng.standard_normal(arch.shape)
    return x.astype(np.float32)


def check(got: np.ndarray, expected: np.ndarray, what: str) -> None:
    assert_close(got, expected, what=what)
    if expected.ndim == 2:  # class scores: the same class too
        np.testing.assert_array_equal(
            np.argmax(got, 1), np.argmax(expected, 1), err_msg=f"{what}: argmax"
        )


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=IDS)
def test_weights_give_realistic_activations(arch: Arch) -> None:
    """Normalised activations of unit order, logits that differ between samples: neither a dead
    nor a saturated network (a parity check on constant outputs would prove little)."""
    model = arch.build()
    scales: dict[str, float] = {}

    def hook(name: str):
        def record(_m: nn.Module, _i: object, out: torch.Tensor) -> None:
            scales[name] = float(out.std())

        return record

    handles = [
        m.register_forward_hook(hook(n)) for n, m in model.named_modules() if isinstance(m, NORMS)
    ]
    try:
        y = torch_forward(model, inputs(arch)[:3])  # the image-like samples
        y = y[0] if isinstance(y, list) else y  # the primary output of a multi-output net
    finally:
        for h in handles:
            h.remove()
    assert np.all(np.isfinite(y))
    for name, s in scales.items():
        assert 0.1 < s < 10.0, f"{arch.name}: {name} output std {s:.3g}"
    spread = float(np.std(y, axis=0).max())
    assert spread > 1e-2, f"{arch.name}: logits barely depend on the input ({spread:.2e})"
    assert float(np.abs(y).max()) < 1e3


def java_matches(manifest: Path, x: np.ndarray, expected, what: str, kernels) -> None:
    """The Java runtime, on the kernel family ``kernels`` asks for, matches torch on ``x``."""
    got = java_predict_all(manifest, x)
    kernels.check(manifest)
    want = list(expected) if isinstance(expected, (list, tuple)) else [expected]
    assert len(got) == len(want), f"{what}: Java gives {len(got)} outputs, torch {len(want)}"
    for i, (g, e) in enumerate(zip(got, want)):
        label = "" if len(want) == 1 else f" output {i}"
        check(g, e, f"{what}: Java ({kernels} kernels){label} vs torch")


@pytest.mark.parametrize("java_kernels", KERNEL_FAMILIES, indirect=True, scope="module")
@pytest.mark.parametrize("arch", ARCHITECTURES, ids=IDS)
def test_fx_export_java_and_reference_match_torch(parity_cache, arch: Arch, java_kernels) -> None:
    def prepare(folder: Path):
        model = arch.build()
        x = inputs(arch)
        expected = torch_forward(model, x)
        manifest = export(
            model, folder, input_shape=arch.shape, name=arch.name, onnx=True, fold_bn=arch.fold_bn
        )
        onnx_file = manifest.with_name(f"{arch.name}.onnx")
        # Once per export: the reference and onnxruntime do not depend on the JVM's kernels.
        assert_backends_match(manifest, x, expected, f"{arch.name} (fx)", onnx_file, check=check)
        return manifest, x, expected

    manifest, x, expected = parity_cache(f"fx_{arch.name}", prepare)
    java_matches(manifest, x, expected, f"{arch.name} (fx)", java_kernels)


def torch_onnx(model: nn.Module, x: np.ndarray, path: Path, dynamo: bool) -> Path:
    """The torch.export-based exporter if ``dynamo``, else the TorchScript one (opset 17)."""
    if not dynamo:
        return torch_onnx_export(model, x, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notices
        program = torch.onnx.export(
            model,
            (torch.from_numpy(x),),
            dynamo=True,
            verbose=False,
            dynamic_shapes=({0: torch.export.Dim("N")},),
        )
        program.save(str(path))
    return path


ONNX_CASES = [
    pytest.param(
        a,
        dynamo,
        id=a.name + ("-dynamo" if dynamo else ""),
        marks=[pytest.mark.xfail(reason=ONNX_GAPS[a.name], strict=True)]
        if a.name in ONNX_GAPS
        else [],
    )
    for a in ARCHITECTURES
    for dynamo in ((False, True) if a.name in DYNAMO else (False,))
]


@pytest.mark.parametrize("java_kernels", KERNEL_FAMILIES, indirect=True, scope="module")
@pytest.mark.parametrize(("arch", "dynamo"), ONNX_CASES)
def test_onnx_import_java_and_reference_match_torch(
    parity_cache, arch: Arch, dynamo: bool, java_kernels
) -> None:
    def prepare(folder: Path):
        model = arch.build()
        x = inputs(arch)
        expected = torch_forward(model, x)
        src = torch_onnx(model, x, folder / "src.onnx", dynamo=dynamo)
        manifest = export_onnx(src, folder / "out", name=arch.name, fold_bn=arch.fold_bn)
        assert_backends_match(manifest, x, expected, f"{arch.name} (ONNX)", check=check)
        return manifest, x, expected

    key = f"onnx_{arch.name}" + ("_dynamo" if dynamo else "")
    manifest, x, expected = parity_cache(key, prepare)
    java_matches(manifest, x, expected, f"{arch.name} (ONNX)", java_kernels)
