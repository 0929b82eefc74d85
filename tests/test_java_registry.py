"""The Python op table and the Java kernel registry agree; real exports load in Java."""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pd2java.backends.java.build import build_runtime
from pd2java.errors import UserError
from pd2java.ops.table import OPS

if TYPE_CHECKING:
    import torch
    from torch import nn


@functools.lru_cache(maxsize=1)  # one JVM start for every test of this module
def _java_registry() -> dict[str, dict]:
    out = subprocess.run(
        ["java", "-cp", str(build_runtime()), "org.pd2java.runtime.OpRegistry", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return {f"{op['name']}@{op['version']}": op for op in json.loads(out)}


def test_same_ops_in_both_directions() -> None:
    java = _java_registry()
    missing_in_java = sorted(set(OPS) - set(java))
    missing_in_python = sorted(set(java) - set(OPS))
    assert not missing_in_java, f"ops in the Python table without a Java kernel: {missing_in_java}"
    assert not missing_in_python, f"Java kernels not in the Python table: {missing_in_python}"


@pytest.mark.parametrize("key", sorted(OPS))
def test_same_signature(key: str) -> None:
    spec = OPS[key]
    java = _java_registry()[key]
    assert java["num_inputs"] == spec.num_inputs
    assert [(a["name"], a["kind"]) for a in java["attrs"]] == [(a.name, a.kind) for a in spec.attrs]
    assert [(p["name"], p["optional"]) for p in java["params"]] == [
        (p.name, p.optional) for p in spec.params
    ]


def _every_op_module() -> nn.Module:  # torch is imported lazily
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.dw = nn.Conv2d(4, 4, 3, stride=2, padding=2, dilation=2, groups=4, bias=False)
            self.pw = nn.Conv2d(4, 4, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(4, affine=False)
            self.fc = nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.leaky_relu(self.bn(self.conv(x)), 0.2)
            x = F.max_pool2d(x, 2)
            y = F.relu6(self.bn2(self.pw(self.dw(x))))
            x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            x = torch.sigmoid(x + y)  # both (4, 3, 4)
            x = F.relu(x).mean((2, 3))
            return torch.softmax(self.fc(x), dim=1)

    torch.manual_seed(0)
    model = Block()
    for bn in (model.bn, model.bn2):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_exported_model_loads_and_self_tests_in_java(tmp_path: Path) -> None:
    """A real export (every attribute written by pd2java.export) passes the Java loader and its
    golden self-test, i.e. Java reproduces PyTorch's outputs within the golden tolerance."""
    pytest.importorskip("pd2java.exporter")
    from pd2java.backends.java.commands import check_manifest
    from pd2java.exporter import export

    manifest = export(
        _every_op_module(),
        tmp_path / "out",
        input_shape=(1, 12, 16),
        classes=["x", "y", "z"],
        name="every_op",
        onnx=False,
    )
    summary = check_manifest(str(manifest))
    assert "self-test: passed" in summary
    assert "classes: [x, y, z]" in summary
    ops = {n["op"] for n in json.loads(manifest.read_text())["nodes"]}
    assert {
        "conv2d",
        "batch_norm2d",
        "leaky_relu",
        "max_pool2d",
        "avg_pool2d",
        "add",
        "sigmoid",
        "relu6",
        "relu",
        "global_avg_pool",
        "linear",
        "softmax",
    } <= ops

    # Tampering with the export is caught by the Java loader with its typed message.
    weights = manifest.with_name("every_op.safetensors")
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(UserError, match="WEIGHTS_CHECKSUM_MISMATCH"):
        check_manifest(str(manifest))
