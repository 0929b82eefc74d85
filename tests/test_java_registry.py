"""The Python op table and the Java kernel registry agree; real exports load in Java.

Java's op table (``OpTable.java``) is generated from the Python one; these tests check what the
built JVM actually uses (``Cli ops --json`` on the real runtime jar) against the Python table,
and that the runtime refuses to start when a table op and its kernel factory do not pair up.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pd2java.backends.java import generate as java_generate
from pd2java.backends.java.build import build_runtime
from pd2java.errors import UserError
from pd2java.ops.table import OPS, AttrSpec, OpSpec
from pd2java.resources import java_harness_dir

if TYPE_CHECKING:
    import torch
    from torch import nn


def _registry_dump(jar: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["java", "-cp", str(jar), "org.pd2java.runtime.Cli", "ops", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@functools.lru_cache(maxsize=1)  # one JVM start for every test of this module
def _java_registry() -> dict[str, dict]:
    proc = _registry_dump(build_runtime())
    assert proc.returncode == 0, proc.stderr
    return {f"{op['name']}@{op['version']}": op for op in json.loads(proc.stdout)}


def _python_view(spec: OpSpec) -> dict:
    """An op of the Python table in the shape of the Java dump (every field, docs aside)."""
    return {
        "name": spec.name,
        "version": spec.version,
        "num_inputs": spec.num_inputs,
        "params": [
            {
                "name": p.name,
                "optional": p.optional,
                "nonnegative": p.nonnegative,
                "dtypes": list(p.dtypes),
            }
            for p in spec.params
        ],
        "attrs": [{"name": a.name, "kind": a.kind} for a in spec.attrs],
    }


def test_same_ops_in_both_directions() -> None:
    java = _java_registry()
    missing_in_java = sorted(set(OPS) - set(java))
    missing_in_python = sorted(set(java) - set(OPS))
    assert not missing_in_java, f"ops in the Python table without a Java kernel: {missing_in_java}"
    assert not missing_in_python, f"Java kernels not in the Python table: {missing_in_python}"
    assert list(java) == list(OPS), "Java lists the ops in another order than the Python table"


@pytest.mark.parametrize("key", sorted(OPS))
def test_same_signature(key: str) -> None:
    """Inputs, parameter slots (optional, nonnegative, the dtypes they take) and attributes with
    their kinds."""
    assert _java_registry()[key] == _python_view(OPS[key])


def test_registry_holds_no_hand_typed_op_specs() -> None:
    """OpRegistry.java maps ops to kernel factories only; every slot and attribute comes from the
    generated OpTable.java."""
    src = (java_harness_dir() / java_generate.PACKAGE_DIR / "OpRegistry.java").read_text("utf-8")
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", src, flags=re.DOTALL)
    for typed in ("new ParamSpec(", "new AttrSpec(", "AttrKind.", "new OpTable.Op("):
        assert typed not in code, f"OpRegistry.java types an op spec by hand ({typed!r})"


def _runtime_with_table(tmp_path: Path, ops: list[OpSpec]) -> Path:
    """The runtime jar built from a copy of java-harness whose generated OpTable.java lists
    ``ops`` instead of the Python table, with the hand-written kernel factories unchanged."""
    harness = tmp_path / "java-harness"
    shutil.copytree(java_harness_dir() / "src" / "main", harness / "src" / "main")
    table = harness / java_generate.PACKAGE_DIR / "OpTable.java"
    table.write_text(java_generate.render_op_table(ops), encoding="utf-8")
    return build_runtime(harness)


def test_table_op_without_kernel_factory_fails_at_class_init(tmp_path: Path) -> None:
    """An op added to the Python table and regenerated, but with no Java kernel yet."""
    # A name no real op will take, so the test keeps meaning something once new ops land.
    unknown = OpSpec("kernel_less_test_op", 1, 1, (), (AttrSpec("alpha", "float", "a"),), "X.")
    proc = _registry_dump(_runtime_with_table(tmp_path, [*OPS.values(), unknown]))
    assert proc.returncode != 0
    assert "IllegalStateException" in proc.stderr
    assert "op kernel_less_test_op@1 is in the op table" in proc.stderr
    assert "OpRegistry.factories()" in proc.stderr


def test_kernel_factory_without_table_op_fails_at_class_init(tmp_path: Path) -> None:
    """A kernel factory whose op was removed from (or never added to) the Python table."""
    proc = _registry_dump(
        _runtime_with_table(tmp_path, [s for k, s in OPS.items() if k != "add@1"])
    )
    assert proc.returncode != 0
    assert "IllegalStateException" in proc.stderr
    assert "not in the op table" in proc.stderr
    assert "[add@1]" in proc.stderr


def test_renamed_table_attribute_reaches_the_jvm(tmp_path: Path) -> None:
    """The JVM reads its op specs from the generated file, not from a copy typed elsewhere."""
    relu6 = OPS["relu6@1"]
    changed = dataclasses.replace(relu6, attrs=(AttrSpec("cap", "float", "upper bound"),))
    ops = [changed if s is relu6 else s for s in OPS.values()]
    proc = _registry_dump(_runtime_with_table(tmp_path, ops))
    assert proc.returncode == 0, proc.stderr
    java = {f"{op['name']}@{op['version']}": op for op in json.loads(proc.stdout)}
    assert java["relu6@1"] == _python_view(changed)


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
