"""Compressed weights (format version 3) end to end: real torch models captured by the fx front
end, written by ``write_graph(..., weights="fp16" | "int8")``, run by the NumPy reference and by
the Java runtime (real JVM), which keeps the weights compressed in memory (docs/JAVA.md,
"Compressed weights").

For each model and mode: the export is version 3 with F16 / I8 weights in the slots that take them,
Java loads it with its golden self-test on, its outputs on a fresh batch equal the reference's at
the format tolerance on both kernel families (the Vector API kernels and the scalar ones), the compressed values matter (the outputs differ from the float32 export's),
and the bytes Java holds for the weights (``Model.weightBytes()``, the gateway's ``info``) are
exactly the stored bytes of the referenced tensors, well under the float32 export's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conformance.verdicts import java_call
from conftest import KERNEL_FAMILIES
from helpers import assert_close
from torch import nn

from pd2java.backends import reference
from pd2java.backends.java.bridge import java_predict
from pd2java.exporter import write_graph
from pd2java.frontends.fx import capture


class _Dense(nn.Module):
    """Dense conv2d (stride 1 and 2), then linear."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 6, 3, stride=2, bias=False)
        self.fc = nn.Linear(6 * 4 * 6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.c1(x))
        return self.fc(torch.flatten(torch.relu(self.c2(x)), 1))


class _Depthwise(nn.Module):
    """Depthwise conv2d (stride 1 on a large plane, stride 2, a channel multiplier of 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.d1 = nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.d2 = nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=4)
        self.pw = nn.Conv2d(8, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw(torch.relu(self.d2(torch.relu(self.d1(x)))))


class _Grouped(nn.Module):
    """Grouped (not depthwise) conv2d: the reference kernel."""

    def __init__(self) -> None:
        super().__init__()
        self.g = nn.Conv2d(4, 6, 3, padding=1, groups=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.g(x)


class _Sequence(nn.Module):
    """conv1d, dense and depthwise, on a (C, L) sequence, then linear."""

    def __init__(self) -> None:
        super().__init__()
        self.c = nn.Conv1d(3, 5, 3, padding=1)
        self.dw = nn.Conv1d(5, 5, 5, stride=2, padding=2, groups=5)
        self.fc = nn.Linear(5 * 20, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dw(torch.relu(self.c(x)))
        return self.fc(torch.flatten(x, 1))


class _Mlp(nn.Module):
    """Linear layers on a feature vector."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(64, 96)
        self.b = nn.Linear(96, 7, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


# name -> (module, per-sample input shape)
MODELS = {
    "dense": (_Dense, (3, 10, 14)),
    "depthwise": (_Depthwise, (4, 12, 16)),
    "grouped": (_Grouped, (4, 7, 9)),
    "sequence": (_Sequence, (3, 40)),
    "mlp": (_Mlp, (64,)),
}
MODES = ("fp16", "int8")
DTYPE = {"fp16": "F16", "int8": "I8"}


def _export(tmp_path: Path, name: str, mode: str) -> Path:
    module, shape = MODELS[name]
    torch.manual_seed(sum(map(ord, name)))
    graph = capture(module().eval(), shape, name=name)
    return write_graph(graph, tmp_path / f"{name}_{mode}", onnx=False, weights=mode)


def _batch(name: str, n: int = 5) -> np.ndarray:
    shape = MODELS[name][1]
    return np.random.default_rng(7).uniform(-1, 1, (n, *shape)).astype(np.float32)


def _java_weight_bytes(manifest: Path) -> int:
    info = json.loads(str(java_call("info", str(manifest.absolute()), True)))
    return int(info["weight_bytes"])


def _stored_bytes(manifest: Path) -> int:
    """The bytes of every tensor the nodes reference, as stored (and each int8 one's scales)."""
    loaded = reference.load(manifest)
    size = {"F32": 4, "F16": 2, "I8": 1}
    total = 0
    for tname, dtype in loaded.weight_dtypes.items():
        arr = loaded.graph.tensors[tname]
        total += arr.size * size[dtype]
        if dtype == "I8":
            total += 4 * arr.shape[0]  # one float32 scale per output channel
    return total


@pytest.mark.parametrize("java_kernels", KERNEL_FAMILIES, indirect=True, scope="module")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_java_runs_compressed_exports_like_the_reference(
    parity_cache, name: str, mode: str, java_kernels
) -> None:
    def prepare(folder: Path):
        path = _export(folder, name, mode)
        loaded = reference.load(path)
        assert loaded.manifest["format_version"] == 3
        compressed = {t for t, d in loaded.weight_dtypes.items() if d == DTYPE[mode]}
        weights = {
            n.params["weight"] for n in loaded.graph.nodes if n.op in ("conv2d", "conv1d", "linear")
        }
        assert compressed == weights, "every conv/linear weight, and only those, is compressed"
        if mode == "int8":
            assert set(loaded.manifest["quantization"]) == weights
        x = _batch(name)
        return path, x, reference.run(path, x)

    path, x, expected = parity_cache(f"compressed_{name}_{mode}", prepare)
    got = java_predict(path, x)  # Java's load-time golden self-test runs first
    java_kernels.check(path)
    assert_close(got, expected, what=f"{name} {mode} ({java_kernels} kernels): Java vs reference")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_compressed_values_are_what_both_readers_compute(tmp_path: Path, name: str) -> None:
    """The outputs of an int8 export differ from the float32 export's beyond the tolerance, and
    Java follows the int8 values: it computes with the compressed weights, not with a float32
    copy it could not have."""
    x = _batch(name)
    fp32 = reference.run(_export(tmp_path, name, "fp32"), x)
    path = _export(tmp_path, name, "int8")
    int8 = reference.run(path, x)
    diff = np.abs(int8.astype(np.float64) - fp32)
    assert np.max(diff - (1e-5 + 1e-4 * np.abs(fp32))) > 0, "int8 rounding changed nothing"
    assert_close(java_predict(path, x), int8, what=f"{name} int8")


@pytest.mark.parametrize("name", ["dense", "mlp", "sequence"])
def test_java_holds_compressed_weights_compressed(tmp_path: Path, name: str) -> None:
    sizes = {}
    for mode in ("fp32", "fp16", "int8"):
        path = _export(tmp_path, name, mode)
        sizes[mode] = _java_weight_bytes(path)
        assert sizes[mode] == _stored_bytes(path), mode
    # conv and linear weights dominate these models; biases stay float32
    assert sizes["fp16"] <= 0.55 * sizes["fp32"], sizes
    assert sizes["int8"] <= 0.3 * sizes["fp32"], sizes
