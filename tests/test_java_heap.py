"""An export too large for the Java heap fails at load with a typed error, not with an
OutOfMemoryError while serving: the runtime compares what the load will hold (the weights file
read whole, the tensors decoded from it, the self-test's workspace) with the heap still free and
refuses with LIMIT_EXCEEDED, saying how much it needs, how much is free and to raise -Xmx."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import torch

from pd2java.backends.java.build import RUNTIME_MAIN, _tool, build_runtime
from pd2java.exporter import export


@pytest.fixture(scope="module")
def big_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A linear layer of 4096 x 4096 float32 weights: a 64 MB weights file."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4096, 4096)).eval()
    out = tmp_path_factory.mktemp("big")
    manifest = export(model, out, input_shape=(4096,), name="big", onnx=False)
    assert (out / "big.safetensors").stat().st_size > 64 * 2**20
    return manifest


def _check(manifest: Path, heap: str, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [_tool("java"), f"-Xmx{heap}", "-cp", str(build_runtime()), RUNTIME_MAIN, "check"]
    return subprocess.run(
        [*cmd, str(manifest), *extra], capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize("self_test", [True, False], ids=["self-test", "no-self-test"])
def test_an_export_larger_than_the_heap_is_refused_at_load(big_export: Path, self_test) -> None:
    proc = _check(big_export, "32m", *([] if self_test else ["--no-self-test"]))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "OutOfMemoryError" not in output, output
    assert "\tat " not in output, output  # no stack trace
    assert output.startswith("[LIMIT_EXCEEDED] big.safetensors"), output
    need = re.search(r"needs about ([\d.]+) MB of Java heap", output)
    free = re.search(r"only ([\d.]+) MB is free \(max heap ([\d.]+) MB", output)
    assert need and free, output
    assert float(need.group(1)) >= 128  # the 64 MB file read whole, plus its tensors decoded
    assert float(free.group(1)) <= float(free.group(2)) <= 32
    suggested = re.search(r"-Xmx(\d+)m", output)
    assert suggested and int(suggested.group(1)) >= float(need.group(1)), output


def test_the_same_export_loads_with_a_heap_that_holds_it(big_export: Path) -> None:
    proc = _check(big_export, "384m")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "self-test: passed" in proc.stdout


def test_a_small_export_loads_in_a_small_heap(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten()).eval()
    manifest = export(model, tmp_path, input_shape=(1, 8, 8), name="small", onnx=False)
    proc = _check(manifest, "32m")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_near_the_estimate_a_load_succeeds_or_fails_typed(big_export: Path) -> None:
    """Heaps just above the estimate (128 MB): the check lets the load through, and where the
    heap still runs out despite the estimate, the OutOfMemoryError becomes the same typed
    error."""
    for heap in (130, 133, 136, 140):
        proc = _check(big_export, f"{heap}m", "--no-self-test")
        output = proc.stdout + proc.stderr
        assert "\tat " not in output and "Exception in thread" not in output, output
        if proc.returncode != 0:
            assert proc.returncode == 1, output
            assert output.startswith("[LIMIT_EXCEEDED] big."), output
            assert "-Xmx" in output, output
